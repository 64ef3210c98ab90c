/*
 * config: loads the one JSON file against schema tables (one row per key:
 * type, bounds, default), in the manner of tmux's options-table.c. The
 * same rows validate, fill defaults and feed docs/configuration.md.
 *
 * Every problem is reported as "FILE:LINE: key.path: problem", all of them
 * in one run; config_locate.c finds the lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/digest.h"
#include "estrad/log.h"
#include "estrad/tlsconf.h"
#include "estrad/pki.h"
#include "estrad/router.h"
#include "estrad/users.h"

#define CFG_MAX_FILE	(1024 * 1024)

/* ---- the tables ------------------------------------------------------ */

static const char *const upstream_auth_names[] = {
	"none", "basic", "digest", NULL
};

static const char *const upstream_concurrency_names[] = {
	"adaptive", "fixed", NULL
};

static const char *const log_format_names[] = { "text", "json", NULL };

static const struct cfg_field top_fields[] = {
	F_STR(struct config, "log_level", log_level, 0, "info"),
	F_CUSTOM("listen"),
	F_CUSTOM("tls"),
	F_CUSTOM("auth"),
	F_CUSTOM("limits"),
	F_CUSTOM("upstreams"),
	F_CUSTOM("local_cas"),
	F_CUSTOM("default"),
	F_CUSTOM("labels"),
	F_CUSTOM("policies"),
	F_CUSTOM("audit"),
	F_STR(struct config, "state_dir", state_dir, 0, NULL),
	F_CUSTOM("cache"),
	F_CUSTOM("queue"),
	/* The operator's keys; checked further in config_ops.c. */
	F_ENUM(struct config, "log_format", log_format, log_format_names, 0),
	F_BOOL(struct config, "syslog", log_syslog, 0),
	F_STR(struct config, "syslog_facility", syslog_facility, 0, "daemon"),
	F_STR(struct config, "user", user, 0, NULL),
	F_STR(struct config, "group", group, 0, NULL),
	F_BOOL(struct config, "run_as_root", run_as_root, 0),
	F_SEC(struct config, "shutdown_timeout", shutdown_timeout_ms, 0, 3600,
	    10),
	F_CUSTOM("admin"),
	F_END
};

static const struct cfg_field tls_fields[] = {
	F_FILE(struct cfg_tls, "certificate", certificate, 1),
	F_FILE(struct cfg_tls, "key", key, 1),
	F_FILE(struct cfg_tls, "client_ca", client_ca, 0),
	F_FILE(struct cfg_tls, "client_crl", client_crl, 0),
	F_FILE(struct cfg_tls, "client_intermediates", client_intermediates,
	    0),
	F_LONG(struct cfg_tls, "client_verify_depth", client_verify_depth,
	    1, 16, 4),
	F_LONG(struct cfg_tls, "session_cache", session_cache, 0, 1000000,
	    1024),
	F_STR(struct cfg_tls, "ciphers", ciphers, 0, NULL),
	F_STR(struct cfg_tls, "ciphersuites", ciphersuites, 0, NULL),
	F_STR(struct cfg_tls, "groups", groups, 0, NULL),
	F_END
};

static const struct cfg_field auth_fields[] = {
	F_STR(struct cfg_auth, "realm", realm, 0, "estrealm"),
	F_FILE(struct cfg_auth, "nonce_secret_file", nonce_secret_file, 0),
	F_LONG(struct cfg_auth, "nonce_lifetime", nonce_lifetime, 10, 86400,
	    300),
	F_LONG(struct cfg_auth, "replay_slots", replay_slots, 16, 1048576,
	    16384),
	F_FILE(struct cfg_auth, "digest_users", digest_users, 0),
	F_FILE(struct cfg_auth, "basic_users", basic_users, 0),
	F_LONG(struct cfg_auth, "basic_workers", basic_workers, 1, 64, 2),
	F_LONG(struct cfg_auth, "max_failures", max_failures, 1, 1000000, 10),
	F_LONG(struct cfg_auth, "failure_window", failure_window, 1, 86400,
	    60),
	F_LONG(struct cfg_auth, "failure_slots", failure_slots, 16, 1048576,
	    16384),
	F_CUSTOM("digest_algorithms"),
	F_BOOL(struct cfg_auth, "digest_uri_without_label",
	    digest_uri_without_label, 1),
	F_END
};

static const struct cfg_field limits_fields[] = {
	F_LONG(struct cfg_limits, "max_header_bytes", max_header_bytes,
	    1024, 1048576, 8192),
	F_LONG(struct cfg_limits, "max_body_bytes", max_body_bytes,
	    1024, 16777216, 65536),
	F_SEC(struct cfg_limits, "read_timeout", read_timeout_ms,
	    0.1, 3600, 30),
	F_SEC(struct cfg_limits, "idle_timeout", idle_timeout_ms,
	    0.1, 86400, 60),
	F_LONG(struct cfg_limits, "max_headers", max_headers, 1, 10000, 100),
	F_SEC(struct cfg_limits, "handshake_timeout", handshake_timeout_ms,
	    0.1, 300, 10),
	F_LONG(struct cfg_limits, "max_connections", max_connections,
	    1, 1000000, 4096),
	F_LONG(struct cfg_limits, "max_connections_per_address",
	    max_connections_per_address, 0, 1000000, 128),
	F_END
};

static const struct cfg_field upstream_fields[] = {
	F_CUSTOM("url"),	/* a string or an array: config_offline.c */
	F_FILE(struct cfg_upstream, "ca_bundle", ca_bundle, 0),
	F_FILE(struct cfg_upstream, "client_certificate", client_certificate,
	    0),
	F_FILE(struct cfg_upstream, "client_key", client_key, 0),
	F_ENUM(struct cfg_upstream, "auth", auth, upstream_auth_names, 0),
	F_STR(struct cfg_upstream, "username", username, 0, NULL),
	F_FILE(struct cfg_upstream, "password_file", password_file, 0),
	F_SEC(struct cfg_upstream, "connect_timeout", connect_timeout_ms,
	    0.1, 300, 5),
	F_SEC(struct cfg_upstream, "timeout", timeout_ms, 0.1, 3600, 30),
	F_ENUM(struct cfg_upstream, "concurrency", concurrency,
	    upstream_concurrency_names, 0),
	F_LONG(struct cfg_upstream, "max_in_flight", max_in_flight,
	    1, 100000, 64),
	F_LONG(struct cfg_upstream, "max_waiting", max_waiting, 0, 1000000,
	    1000),
	F_SEC(struct cfg_upstream, "max_wait", max_wait_ms, 0.1, 3600, 8),
	F_LONG(struct cfg_upstream, "max_response_bytes", max_response_bytes,
	    1024, 67108864, 1048576),
	F_LONG(struct cfg_upstream, "retry_after", retry_after, 1, 86400, 5),
	F_SEC(struct cfg_upstream, "backoff_initial", backoff_initial_ms,
	    0.05, 3600, 1),
	F_SEC(struct cfg_upstream, "backoff_max", backoff_max_ms,
	    0.05, 86400, 300),
	F_LONG(struct cfg_upstream, "failure_threshold", failure_threshold,
	    1, 1000, 3),
	F_END
};

static const struct cfg_field localca_fields[] = {
	F_FILE(struct cfg_localca, "certificate", certificate, 1),
	F_FILE(struct cfg_localca, "key", key, 1),
	F_FILE(struct cfg_localca, "chain", chain, 0),
	F_LONG(struct cfg_localca, "validity_days", validity_days,
	    1, 3650, 365),
	F_END
};

/* Routes name their backend by string; resolved to indexes afterwards. */
struct route_raw {
	char	*upstream;
	char	*local_ca;
	char	*upstream_label;
	char	*policy;
	int	 csrattrs;
	int	 fullcmc_passthrough;
};

static const char *const csrattrs_names[] = { "backend", "policy", NULL };

static const struct cfg_field route_fields[] = {
	F_STR(struct route_raw, "upstream", upstream, 0, NULL),
	F_STR(struct route_raw, "local_ca", local_ca, 0, NULL),
	F_STR(struct route_raw, "upstream_label", upstream_label, 0, NULL),
	F_STR(struct route_raw, "policy", policy, 0, NULL),
	F_ENUM(struct route_raw, "csrattrs", csrattrs, csrattrs_names, 0),
	F_BOOL(struct route_raw, "fullcmc_passthrough", fullcmc_passthrough, 0),
	F_CUSTOM("auth"),
	F_END
};

/* ---- sections with their own shape ----------------------------------- */

/*
 * "a.b.c.d:port" or "[v6]:port"; port 0 asks the kernel for a free one.
 * (evutil_parse_sockaddr_port refuses port 0, which tests and labs use.)
 */
int
config_parse_address(const char *text, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	char		 host[64];
	const char	*colon = strrchr(text, ':');
	char		*end;
	long		 port;
	size_t		 hlen;
	int		 bracketed = 0;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return -1;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		text++;
		hlen -= 2;
		bracketed = 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (!bracketed && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
		return 0;
	}
	if (bracketed && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
		return 0;
	}
	return -1;
}

static int
listen_load(struct cfg_ctx *ctx, const json_t *root)
{
	const json_t		*arr = json_object_get(root, "listen");
	const json_t		*v;
	size_t			 i;
	char			 cp[64];
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 nerr = 0;

	if (arr == NULL) {
		cfg_err(ctx, "listen", "is required (e.g. [\"127.0.0.1:8443\"])");
		return 1;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		cfg_err(ctx, "listen", "must be a non-empty array of "
		    "\"host:port\" strings");
		return 1;
	}
	ctx->cfg->listen = calloc(json_array_size(arr), sizeof(char *));
	if (ctx->cfg->listen == NULL)
		return 1;
	json_array_foreach(arr, i, v) {
		snprintf(cp, sizeof(cp), "listen[%zu]", i);
		if (!json_is_string(v) || config_parse_address(
		    json_string_value(v), &ss, &sslen) != 0) {
			cfg_err(ctx, cp, "must be \"address:port\" "
			    "(\"[v6address]:port\" for IPv6)");
			nerr++;
			continue;
		}
		ctx->cfg->listen[ctx->cfg->nlisten++] =
		    strdup(json_string_value(v));
	}
	return nerr;
}

static int
crl_check(struct cfg_ctx *ctx)
{
	const struct cfg_tls	*tls = &ctx->cfg->tls;
	STACK_OF(X509_CRL)	*crls;
	char			 err[512];

	if (tls->client_crl == NULL)
		return 0;
	if (tls->client_ca == NULL) {
		cfg_err(ctx, "tls.client_crl", "needs tls.client_ca");
		return 1;
	}
	if ((crls = pki_load_crls(tls->client_crl, err, sizeof(err))) == NULL) {
		cfg_err(ctx, "tls.client_crl", "%s", err);
		return 1;
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return 0;
}

/* Certificates that complete client chains (clientchain.c). */
static int
intermediates_check(struct cfg_ctx *ctx)
{
	const struct cfg_tls	*tls = &ctx->cfg->tls;
	STACK_OF(X509)		*certs;
	char			 err[512];

	if (tls->client_intermediates == NULL)
		return 0;
	if (tls->client_ca == NULL) {
		cfg_err(ctx, "tls.client_intermediates", "needs tls.client_ca");
		return 1;
	}
	if ((certs = pki_load_certs(tls->client_intermediates, err,
	    sizeof(err))) == NULL) {
		cfg_err(ctx, "tls.client_intermediates", "%s", err);
		return 1;
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

/* Suites and groups, tried on a scratch context as the listener will. */
static int
suites_check(struct cfg_ctx *ctx)
{
	SSL_CTX		*ssl = SSL_CTX_new(TLS_server_method());
	const char	*key;
	char		 err[512], path[64];
	int		 nerr = 0;

	if (ssl == NULL)
		return 0;	/* out of memory: the listener will say */
	if (tlsconf_apply(ssl, &ctx->cfg->tls, &key, err, sizeof(err)) == -1) {
		snprintf(path, sizeof(path), "tls.%s", key);
		cfg_err(ctx, path, "%s", err);
		nerr = 1;
	}
	SSL_CTX_free(ssl);
	return nerr;
}

static int
tls_check(struct cfg_ctx *ctx)
{
	struct cfg_tls	*tls = &ctx->cfg->tls;
	STACK_OF(X509)	*certs = NULL;
	EVP_PKEY	*key = NULL;
	char		 err[512];
	int		 nerr = 0;

	if (tls->certificate != NULL &&
	    (certs = pki_load_certs(tls->certificate, err, sizeof(err))) ==
	    NULL) {
		cfg_err(ctx, "tls.certificate", "%s", err);
		nerr++;
	}
	if (tls->key != NULL &&
	    (key = pki_load_key(tls->key, err, sizeof(err))) == NULL) {
		cfg_err(ctx, "tls.key", "%s", err);
		nerr++;
	}
	if (certs != NULL && key != NULL &&
	    !pki_key_matches_cert(key, sk_X509_value(certs, 0))) {
		cfg_err(ctx, "tls.key", "%s does not match the certificate "
		    "in %s", tls->key, tls->certificate);
		nerr++;
	}
	sk_X509_pop_free(certs, X509_free);
	certs = NULL;
	EVP_PKEY_free(key);
	if (tls->client_ca != NULL &&
	    (certs = pki_load_certs(tls->client_ca, err, sizeof(err))) ==
	    NULL) {
		cfg_err(ctx, "tls.client_ca", "%s", err);
		nerr++;
	}
	sk_X509_pop_free(certs, X509_free);
	return nerr + crl_check(ctx) + intermediates_check(ctx) +
	    suites_check(ctx);
}

/* A certificate and key pair named by two keys of one section. */
static int
pair_check(struct cfg_ctx *ctx, const char *path, const char *cert_key,
    const char *certfile, const char *key_key, const char *keyfile)
{
	STACK_OF(X509)	*certs = NULL;
	EVP_PKEY	*key = NULL;
	char		 cp[1024], err[512];
	int		 nerr = 0;

	if ((certfile == NULL) != (keyfile == NULL)) {
		child_path(cp, sizeof(cp), path, certfile ? key_key : cert_key);
		cfg_err(ctx, cp, "is required with %s",
		    certfile ? cert_key : key_key);
		return 1;
	}
	if (certfile == NULL)
		return 0;
	child_path(cp, sizeof(cp), path, cert_key);
	if ((certs = pki_load_certs(certfile, err, sizeof(err))) == NULL) {
		cfg_err(ctx, cp, "%s", err);
		nerr++;
	}
	child_path(cp, sizeof(cp), path, key_key);
	if ((key = pki_load_key(keyfile, err, sizeof(err))) == NULL) {
		cfg_err(ctx, cp, "%s", err);
		nerr++;
	}
	if (certs != NULL && key != NULL &&
	    !pki_key_matches_cert(key, sk_X509_value(certs, 0))) {
		cfg_err(ctx, cp, "%s does not match the certificate in %s",
		    keyfile, certfile);
		nerr++;
	}
	sk_X509_pop_free(certs, X509_free);
	EVP_PKEY_free(key);
	return nerr;
}

static int
certs_check(struct cfg_ctx *ctx, const char *path, const char *file)
{
	STACK_OF(X509)	*certs;
	char		 err[512];

	if (file == NULL)
		return 0;
	if ((certs = pki_load_certs(file, err, sizeof(err))) == NULL) {
		cfg_err(ctx, path, "%s", err);
		return 1;
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

static int
password_read(struct cfg_ctx *ctx, const char *path, struct cfg_upstream *u)
{
	char	 buf[512];
	size_t	 n;
	FILE	*fp;

	if ((fp = fopen(u->password_file, "r")) == NULL)
		return 1;	/* already reported by the field check */
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The first line is the password; a cut one would fail obscurely. */
	if (strchr(buf, '\n') == NULL && n == sizeof(buf) - 1) {
		cfg_err(ctx, path, "%s: the password is longer than %zu bytes",
		    u->password_file, sizeof(buf) - 2);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 1;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		cfg_err(ctx, path, "%s is empty", u->password_file);
		return 1;
	}
	u->password = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return u->password == NULL;
}

static int
upstream_check(struct cfg_ctx *ctx, const char *path, const json_t *obj,
    struct cfg_upstream *u)
{
	char	cp[1024];
	int	nerr;

	nerr = upstream_urls_load(ctx, path, obj, u);
	child_path(cp, sizeof(cp), path, "ca_bundle");
	nerr += certs_check(ctx, cp, u->ca_bundle);
	nerr += pair_check(ctx, path, "client_certificate",
	    u->client_certificate, "client_key", u->client_key);
	child_path(cp, sizeof(cp), path, "auth");
	if (u->auth != UPSTREAM_AUTH_NONE &&
	    (u->username == NULL || u->password_file == NULL)) {
		cfg_err(ctx, cp, "%s needs username and password_file",
		    upstream_auth_names[u->auth]);
		nerr++;
	} else if (u->auth == UPSTREAM_AUTH_NONE &&
	    (u->username != NULL || u->password_file != NULL)) {
		cfg_err(ctx, cp, "is \"none\" but username or password_file "
		    "is set");
		nerr++;
	} else if (u->password_file != NULL) {
		child_path(cp, sizeof(cp), path, "password_file");
		nerr += password_read(ctx, cp, u);
	}
	return nerr;
}

static int
localca_check(struct cfg_ctx *ctx, const char *path, struct cfg_localca *ca)
{
	char	cp[1024];
	int	nerr;

	nerr = pair_check(ctx, path, "certificate", ca->certificate, "key",
	    ca->key);
	child_path(cp, sizeof(cp), path, "chain");
	return nerr + certs_check(ctx, cp, ca->chain);
}

/*
 * Sections that are objects of named entries ("upstreams", "local_cas"):
 * each entry is loaded against the same field table, then checked as a
 * whole once its own fields are sound.
 */
struct named_section {
	const char		*key;
	const struct cfg_field	*fields;
	size_t			 entry_size;
	size_t			 name_offset;
	int			(*check)(struct cfg_ctx *, const char *,
				    const json_t *, void *);
};

static int
upstream_check_entry(struct cfg_ctx *ctx, const char *path,
    const json_t *obj, void *entry)
{
	return upstream_check(ctx, path, obj, entry);
}

static int
localca_check_entry(struct cfg_ctx *ctx, const char *path,
    const json_t *obj, void *entry)
{
	return localca_check(ctx, path, entry);
}

static const struct named_section upstreams_section = {
	"upstreams", upstream_fields, sizeof(struct cfg_upstream),
	offsetof(struct cfg_upstream, name), upstream_check_entry
};
static const struct named_section local_cas_section = {
	"local_cas", localca_fields, sizeof(struct cfg_localca),
	offsetof(struct cfg_localca, name), localca_check_entry
};

/* Fill *entries (calloc'd, owned by the config) and *n from root[key]. */
static int
named_section_load(struct cfg_ctx *ctx, const json_t *root,
    const struct named_section *ns, void **entries, size_t *n)
{
	const json_t	*obj, *v;
	const char	*name;
	char		 cp[1024];
	int		 nerr = 0;

	if ((obj = object_at(ctx, root, "", ns->key, &nerr)) == NULL)
		return nerr;
	if ((*entries = calloc(json_object_size(obj) + 1, ns->entry_size)) ==
	    NULL)
		return 1;
	json_object_foreach((json_t *)obj, name, v) {
		char *entry = (char *)*entries + (*n)++ * ns->entry_size;
		child_path(cp, sizeof(cp), ns->key, name);
		*(char **)(entry + ns->name_offset) = strdup(name);
		if (!json_is_object(v)) {
			cfg_err(ctx, cp, "must be an object");
			nerr++;
			continue;
		}
		int nfield = section_load(ctx, v, cp, ns->fields, entry);
		nerr += nfield ? nfield : ns->check(ctx, cp, v, entry);
	}
	return nerr;
}

static int
route_resolve(struct cfg_ctx *ctx, const char *path, struct route_raw *raw,
    struct cfg_route *r)
{
	struct config	*cfg = ctx->cfg;
	char		 cp[1024];

	if ((raw->upstream == NULL) == (raw->local_ca == NULL)) {
		cfg_err(ctx, path, "needs exactly one of \"upstream\" or "
		    "\"local_ca\"");
		return 1;
	}
	if (raw->local_ca != NULL) {
		child_path(cp, sizeof(cp), path, "local_ca");
		r->backend = ROUTE_BACKEND_LOCAL_CA;
		for (r->local_ca = 0; r->local_ca < cfg->nlocal_cas;
		    r->local_ca++)
			if (strcmp(cfg->local_cas[r->local_ca].name,
			    raw->local_ca) == 0)
				break;
		if (r->local_ca == cfg->nlocal_cas) {
			cfg_err(ctx, cp, "no local CA named \"%s\" in "
			    "local_cas", raw->local_ca);
			return 1;
		}
		if (raw->upstream_label != NULL) {
			child_path(cp, sizeof(cp), path, "upstream_label");
			cfg_err(ctx, cp, "applies only to upstream routes");
			return 1;
		}
		return 0;
	}
	child_path(cp, sizeof(cp), path, "upstream");
	r->backend = ROUTE_BACKEND_UPSTREAM;
	for (r->upstream = 0; r->upstream < cfg->nupstreams; r->upstream++)
		if (strcmp(cfg->upstreams[r->upstream].name, raw->upstream) == 0)
			break;
	if (r->upstream == cfg->nupstreams) {
		cfg_err(ctx, cp, "no upstream named \"%s\" in upstreams",
		    raw->upstream);
		return 1;
	}
	if (raw->upstream_label != NULL &&
	    !router_label_valid(raw->upstream_label)) {
		child_path(cp, sizeof(cp), path, "upstream_label");
		cfg_err(ctx, cp, "\"%s\" is not a valid CA label",
		    raw->upstream_label);
		return 1;
	}
	r->upstream_label = raw->upstream_label;
	raw->upstream_label = NULL;
	return 0;
}

static const char *const auth_method_names[AUTH_METHOD_MAX + 1] = {
	"digest", "basic", "cert", NULL
};

/*
 * Who may do what, by default: cacerts and csrattrs are open (RFC 7030
 * §4.1.1, §4.5.1); enrollment by Digest or a client certificate;
 * re-enrollment only with the certificate being renewed (§3.3.2). Basic
 * is never on unless a route lists it.
 */
static const unsigned auth_defaults[EST_OP_MAX] = {
	[EST_OP_CACERTS] = 0,
	[EST_OP_CSRATTRS] = 0,
	[EST_OP_SIMPLEENROLL] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_SIMPLEREENROLL] = AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_SERVERKEYGEN] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_FULLCMC] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
};

static const char *const auth_method_needs[AUTH_METHOD_MAX] = {
	"auth.digest_users", "auth.basic_users", "tls.client_ca"
};

/* The methods this configuration can verify at all. */
static unsigned
auth_usable(const struct config *cfg)
{
	return (cfg->auth.digest_users ? AUTH_BIT(AUTH_METHOD_DIGEST) : 0) |
	    (cfg->auth.basic_users ? AUTH_BIT(AUTH_METHOD_BASIC) : 0) |
	    (cfg->tls.client_ca ? AUTH_BIT(AUTH_METHOD_CERT) : 0);
}

/* One "op": ["digest", "cert"] entry; returns its bits or -1. */
static long
auth_list_load(struct cfg_ctx *ctx, const char *path, const json_t *list)
{
	const json_t	*m;
	size_t		 i;
	unsigned	 bits = 0, usable = auth_usable(ctx->cfg);
	int		 k;

	if (!json_is_array(list)) {
		cfg_err(ctx, path, "must be an array of methods (digest, "
		    "basic, cert); [] leaves the operation open");
		return -1;
	}
	json_array_foreach(list, i, m) {
		for (k = 0; k < AUTH_METHOD_MAX; k++)
			if (json_is_string(m) && strcmp(json_string_value(m),
			    auth_method_names[k]) == 0)
				break;
		if (k == AUTH_METHOD_MAX) {
			cfg_err(ctx, path, "unknown method (digest, basic, "
			    "cert)");
			return -1;
		}
		if (!(usable & AUTH_BIT(k))) {
			cfg_err(ctx, path, "%s needs %s", auth_method_names[k],
			    auth_method_needs[k]);
			return -1;
		}
		bits |= AUTH_BIT(k);
	}
	return bits;
}

static int
route_auth_load(struct cfg_ctx *ctx, const char *path, const json_t *route,
    struct cfg_route *r)
{
	const json_t	*obj, *list;
	const char	*key;
	char		 cp[1024], ops[128] = "";
	int		 nerr = 0, explicit[EST_OP_MAX] = { 0 };
	unsigned	 usable = auth_usable(ctx->cfg);

	for (int op = 0; op < EST_OP_MAX; op++)
		r->auth[op] = auth_defaults[op] & usable;
	if ((obj = object_at(ctx, route, path, "auth", &nerr)) != NULL)
		json_object_foreach((json_t *)obj, key, list) {
			enum est_op op = est_op_from_name(key, strlen(key));
			char ap[1024];
			child_path(ap, sizeof(ap), path, "auth");
			child_path(cp, sizeof(cp), ap, key);
			if (op == EST_OP_MAX) {
				cfg_err(ctx, cp, "not an EST operation");
				nerr++;
				continue;
			}
			long bits = auth_list_load(ctx, cp, list);
			if (bits < 0) {
				nerr++;
				continue;
			}
			r->auth[op] = (unsigned)bits;
			explicit[op] = 1;
		}
	for (int op = 0; op < EST_OP_MAX; op++)
		if (!explicit[op] && auth_defaults[op] && !r->auth[op])
			snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops),
			    "%s%s", *ops ? ", " : "", est_op_name(op));
	/* Derived from other keys: only worth saying once those are sound. */
	if (nerr == 0 && *ops && ctx->errs->n == 0) {
		cfg_err(ctx, path, "%s would admit no client: set "
		    "auth.digest_users or tls.client_ca, or list the methods "
		    "in \"auth\"", ops);
		nerr++;
	}
	return nerr;
}

static int
route_load(struct cfg_ctx *ctx, const char *path, const char *label,
    const json_t *v)
{
	struct config		*cfg = ctx->cfg;
	struct cfg_route	*r = &cfg->routes[cfg->nroutes];
	struct route_raw	 raw = { NULL, NULL, NULL, NULL, 0, 0 };
	int			 nerr;

	if (!json_is_object(v)) {
		cfg_err(ctx, path, "must be an object");
		return 1;
	}
	nerr = section_load(ctx, v, path, route_fields, &raw);
	if (nerr == 0)
		nerr = route_resolve(ctx, path, &raw, r);
	if (nerr == 0)
		nerr = route_auth_load(ctx, path, v, r);
	if (nerr == 0)
		nerr = route_policy_resolve(ctx, path, raw.policy, raw.csrattrs,
		    r);
	r->fullcmc_passthrough = raw.fullcmc_passthrough;
	if (nerr == 0 && label != NULL && (r->label = strdup(label)) == NULL)
		nerr = 1;
	if (nerr == 0)
		r->index = cfg->nroutes++;
	else {
		/* The slot is reused by the next route: leave it clean. */
		free(r->upstream_label);
		free(r->label);
		memset(r, 0, sizeof(*r));
	}
	free(raw.upstream);
	free(raw.local_ca);
	free(raw.upstream_label);
	free(raw.policy);
	return nerr;
}

static int
routes_load(struct cfg_ctx *ctx, const json_t *root)
{
	const json_t	*labels, *v;
	const char	*name;
	char		 cp[1024];
	int		 nerr = 0;
	size_t		 max;

	labels = object_at(ctx, root, "", "labels", &nerr);
	max = 1 + (labels ? json_object_size(labels) : 0);
	if ((ctx->cfg->routes = calloc(max, sizeof(struct cfg_route))) == NULL)
		return 1;
	if ((v = json_object_get(root, "default")) != NULL)
		nerr += route_load(ctx, "default", NULL, v);
	if (labels != NULL)
		json_object_foreach((json_t *)labels, name, v) {
			child_path(cp, sizeof(cp), "labels", name);
			if (!router_label_valid(name)) {
				cfg_err(ctx, cp, "not a valid CA label (1-64 "
				    "of A-Z a-z 0-9 - . _ ~, not an EST "
				    "operation name)");
				nerr++;
				continue;
			}
			nerr += route_load(ctx, cp, name, v);
		}
	if (nerr == 0 && ctx->cfg->nroutes == 0) {
		cfg_err(ctx, "labels", "no route: set \"default\" or at least "
		    "one label");
		nerr++;
	}
	return nerr;
}

/* ---- the whole file -------------------------------------------------- */

static char *
file_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE	*fp;
	char	*buf;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CFG_MAX_FILE + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, CFG_MAX_FILE + 1, fp);
	if (ferror(fp) || *len > CFG_MAX_FILE) {
		snprintf(err, errlen, ferror(fp) ? "cannot read: %s" :
		    "larger than 1 MiB%s", ferror(fp) ? strerror(errno) : "");
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[*len] = '\0';
	return buf;
}

/* The nonce secret: at least 32 bytes of the file, kept, wiped on free. */
static int
nonce_secret_read(struct cfg_ctx *ctx, struct cfg_auth *a)
{
	unsigned char	 buf[256];
	size_t		 n;
	FILE		*fp;

	if ((fp = fopen(a->nonce_secret_file, "r")) == NULL)
		return 1;	/* already reported by the field check */
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if (n < 32) {
		cfg_err(ctx, "auth.nonce_secret_file", "%s holds %zu bytes; at "
		    "least 32 are needed (head -c 32 /dev/urandom > FILE)",
		    a->nonce_secret_file, n);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 1;
	}
	if ((a->nonce_secret = malloc(n)) != NULL) {
		memcpy(a->nonce_secret, buf, n);
		a->nonce_secret_len = n;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return a->nonce_secret == NULL;
}

/*
 * Load the user files once to find their errors now, with -n too; auth.c
 * loads them again for use (and on SIGHUP).
 */
static int
users_check(struct cfg_ctx *ctx, const struct cfg_auth *a)
{
	struct users	*u;
	char		 err[512];
	int		 nerr = 0;

	if (a->digest_users != NULL) {
		if ((u = users_load_htdigest(a->digest_users, err,
		    sizeof(err))) == NULL) {
			cfg_err(ctx, "auth.digest_users", "%s", err);
			nerr++;
		}
		users_free(u);
	}
	if (a->basic_users != NULL) {
		if ((u = users_load_htpasswd(a->basic_users, err,
		    sizeof(err))) == NULL) {
			cfg_err(ctx, "auth.basic_users", "%s", err);
			nerr++;
		}
		users_free(u);
	}
	return nerr;
}

/*
 * "digest_algorithms": the Digest challenges in the order sent (RFC 7616
 * §3.7: the server's preference first), each of "MD5" and "SHA-256" at
 * most once. Absent: automatic (auth.c). The -sess variants are never
 * offered.
 */
static int
digest_algs_load(struct cfg_ctx *ctx, const json_t *auth)
{
	static const enum digest_alg known[] = { DIGEST_ALG_MD5,
	    DIGEST_ALG_SHA256 };
	struct cfg_auth	*a = &ctx->cfg->auth;
	const json_t	*arr, *v;
	size_t		 i, k;
	char		 cp[64];

	if (auth == NULL ||
	    (arr = json_object_get(auth, "digest_algorithms")) == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > 2) {
		cfg_err(ctx, "auth.digest_algorithms", "must be an array of "
		    "\"MD5\" and/or \"SHA-256\", preferred first");
		return 1;
	}
	json_array_foreach(arr, i, v) {
		snprintf(cp, sizeof(cp), "auth.digest_algorithms[%zu]", i);
		for (k = 0; k < 2; k++)
			if (json_is_string(v) && strcmp(json_string_value(v),
			    digest_alg_name(known[k])) == 0)
				break;
		if (k == 2) {
			cfg_err(ctx, cp, "must be \"MD5\" or \"SHA-256\"");
			return 1;
		}
		if (a->ndigest_algs == 1 && a->digest_algs[0] == (int)known[k]) {
			cfg_err(ctx, cp, "is listed twice");
			return 1;
		}
		a->digest_algs[a->ndigest_algs++] = (int)known[k];
	}
	return 0;
}

static int
auth_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct cfg_auth	*a = &ctx->cfg->auth;
	const json_t	*v;
	json_t		*empty;
	int		 nerr = 0;

	if ((empty = json_object()) == NULL)
		return 1;
	if ((v = object_at(ctx, root, "", "auth", &nerr)) == NULL)
		v = empty;
	nerr += section_load(ctx, v, "auth", auth_fields, a);
	nerr += digest_algs_load(ctx, v);
	json_decref(empty);
	/* The realm is sent inside a quoted-string (RFC 7616 §3.3). */
	if (a->realm != NULL && strpbrk(a->realm, "\"\\") != NULL) {
		cfg_err(ctx, "auth.realm", "must not contain '\"' or '\\'");
		nerr++;
	}
	if (nerr == 0 && a->nonce_secret_file != NULL)
		nerr += nonce_secret_read(ctx, a);
	return nerr + users_check(ctx, a);
}

static int
tls_load(struct cfg_ctx *ctx, const json_t *root)
{
	const json_t	*v;
	int		 nerr = 0;

	if (json_object_get(root, "tls") == NULL) {
		cfg_err(ctx, "tls", "is required (certificate and key)");
		return 1;
	}
	if ((v = object_at(ctx, root, "", "tls", &nerr)) == NULL)
		return nerr;
	nerr = section_load(ctx, v, "tls", tls_fields, &ctx->cfg->tls);
	return nerr ? nerr : tls_check(ctx);
}

static int
limits_load(struct cfg_ctx *ctx, const json_t *root)
{
	const json_t	*v;
	json_t		*empty;
	int		 nerr = 0;

	/* An absent "limits" is an empty one: every default applies. */
	if ((empty = json_object()) == NULL)
		return 1;
	if ((v = object_at(ctx, root, "", "limits", &nerr)) == NULL)
		v = empty;
	nerr += section_load(ctx, v, "limits", limits_fields,
	    &ctx->cfg->limits);
	json_decref(empty);
	return nerr;
}

static int
config_build(struct cfg_ctx *ctx, const json_t *root)
{
	struct config	*cfg = ctx->cfg;
	void		*entries = NULL;
	int		 nerr;

	if (!json_is_object(root)) {
		cfg_err(ctx, "", "the top level must be an object");
		return 1;
	}
	nerr = section_load(ctx, root, "", top_fields, cfg);
	if (cfg->log_level != NULL && log_level_from_name(cfg->log_level) < 0) {
		cfg_err(ctx, "log_level", "must be one of error, warn, info, "
		    "debug");
		nerr++;
	}
	nerr += listen_load(ctx, root);
	nerr += tls_load(ctx, root);
	nerr += auth_load(ctx, root);
	nerr += limits_load(ctx, root);
	nerr += named_section_load(ctx, root, &upstreams_section, &entries,
	    &cfg->nupstreams);
	cfg->upstreams = entries;
	entries = NULL;
	nerr += named_section_load(ctx, root, &local_cas_section, &entries,
	    &cfg->nlocal_cas);
	cfg->local_cas = entries;
	nerr += policies_load(ctx, root);
	nerr += audit_load(ctx, root);
	nerr += offline_load(ctx, root);
	nerr += ops_load(ctx, root);
	return nerr + routes_load(ctx, root);
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct cfg_ctx	 ctx = { .file = path, .errs = errs };
	json_error_t	 jerr;
	json_t		*root = NULL;
	char		*text, err[256];
	size_t		 len;

	if ((text = file_slurp(path, &len, err, sizeof(err))) == NULL) {
		cfg_err_line(&ctx, 0, "", "%s", err);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		cfg_err_line(&ctx, jerr.line, "", "JSON syntax: %s", jerr.text);
		free(text);
		return NULL;
	}
	loc_scan(&ctx.loc, text, len);
	config_apply_env(root);
	if ((ctx.cfg = calloc(1, sizeof(*ctx.cfg))) != NULL)
		ctx.cfg->refs = 1;
	if (ctx.cfg == NULL ||
	    (ctx.cfg->path = strdup(path)) == NULL ||
	    config_build(&ctx, root) != 0) {
		config_free(ctx.cfg);
		ctx.cfg = NULL;
		if (errs->n == 0)
			cfg_err(&ctx, "", "out of memory");
	}
	json_decref(root);
	loc_free(&ctx.loc);
	free(text);
	return ctx.cfg;
}

static void
upstream_clear(struct cfg_upstream *u)
{
	free(u->name);
	free(u->url);
	upstream_urls_free(u);
	free(u->ca_bundle);
	free(u->client_certificate);
	free(u->client_key);
	free(u->username);
	free(u->password_file);
	if (u->password != NULL)
		OPENSSL_clear_free(u->password, strlen(u->password));
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->log_level);
	for (size_t i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	free(cfg->listen);
	free(cfg->tls.certificate);
	free(cfg->tls.key);
	free(cfg->tls.client_ca);
	free(cfg->tls.client_crl);
	free(cfg->tls.client_intermediates);
	free(cfg->tls.ciphers);
	free(cfg->tls.ciphersuites);
	free(cfg->tls.groups);
	free(cfg->auth.realm);
	free(cfg->auth.nonce_secret_file);
	if (cfg->auth.nonce_secret != NULL)
		OPENSSL_clear_free(cfg->auth.nonce_secret,
		    cfg->auth.nonce_secret_len);
	free(cfg->auth.digest_users);
	free(cfg->auth.basic_users);
	for (size_t i = 0; i < cfg->nupstreams; i++)
		upstream_clear(&cfg->upstreams[i]);
	free(cfg->upstreams);
	for (size_t i = 0; i < cfg->nlocal_cas; i++) {
		free(cfg->local_cas[i].name);
		free(cfg->local_cas[i].certificate);
		free(cfg->local_cas[i].key);
		free(cfg->local_cas[i].chain);
	}
	free(cfg->local_cas);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].label);
		free(cfg->routes[i].upstream_label);
	}
	free(cfg->routes);
	policies_free(cfg);
	ops_free(cfg);
	free(cfg->state_dir);
	free(cfg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct config *cfg)
{
	if (cfg != NULL && --cfg->refs == 0)
		config_free(cfg);
}

const struct cfg_route *
config_route(const struct config *cfg, const char *label)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const char *l = cfg->routes[i].label;
		if ((label == NULL && l == NULL) ||
		    (label != NULL && l != NULL && strcmp(label, l) == 0))
			return &cfg->routes[i];
	}
	return NULL;
}

long
config_upstream_slots(const struct config *cfg)
{
	long n = 0;

	for (size_t i = 0; i < cfg->nupstreams; i++)
		n += cfg->upstreams[i].max_in_flight *
		    (long)cfg->upstreams[i].nurls;
	return n;
}
