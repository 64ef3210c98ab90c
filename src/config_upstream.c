/*
 * config_upstream: the backends routes name: "upstreams" (EST CAs reached
 * over HTTPS: their URLs, tried in order, trust, mutual TLS, HTTP
 * authentication and the password read from its file, timeouts, limits,
 * backoff) and "local_cas" (CAs inside estrad: certificate, key, chain).
 * Both are objects of named entries, each loaded against its table and
 * then checked as a whole. Private to the config module; errors as
 * FILE:LINE: key.path: problem, like the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/pki.h"

#define UPSTREAM_MAX_URLS	8
#define UPSTREAM_MAX_URL_LEN	1024	/* the operation path is appended */

static const char *const upstream_auth_names[] = {
	"none", "basic", "digest", NULL
};

static const char *const upstream_concurrency_names[] = {
	"adaptive", "fixed", NULL
};

static void upstream_own_free(void *base);

const struct cfg_field upstream_fields[] = {
	/* A string or an array: upstream_urls_load(), after the rows. */
	F_CUSTOM("url", .free = upstream_own_free,
	    .doc_type = "string or array", .doc_dflt = "required",
	    .doc = "base URL, `https://host:port/.well-known/est` (no "
	    "trailing `/`); estrad appends `/<upstream_label>/<op>` or "
	    "`/<op>`. An array of up to 8 URLs of the same CA is tried in the "
	    "listed order, skipping URLs whose circuit breaker is open "
	    "([offline.md](offline.md#failover))"),
	F_FILE(struct cfg_upstream, "ca_bundle", ca_bundle, 0,
	    .doc_dflt = "system trust store",
	    .doc = "PEM trust anchors for the CA's server certificate; the "
	    "host name is always checked"),
	F_FILE(struct cfg_upstream, "client_certificate", client_certificate,
	    0,
	    .doc = "the RA certificate (PEM, with its chain) for mutual TLS "
	    "(RFC 7030 §3.7). If it has an extendedKeyUsage, that must hold "
	    "clientAuth or id-kp-cmcRA, and a keyUsage must hold "
	    "digitalSignature: `-n` refuses others, which the CA would refuse "
	    "in the TLS handshake. An estrad CA takes id-kp-cmcRA alone; CAs "
	    "that check OpenSSL's TLS client purpose want clientAuth as well "
	    "([operations.md](operations.md#when-the-ca-refuses-the-ra))"),
	F_FILE(struct cfg_upstream, "client_key", client_key, 0,
	    .flags = CFG_F_SECRET,
	    .doc = "its private key; required with `client_certificate`"),
	F_ENUM(struct cfg_upstream, "auth", auth, upstream_auth_names, 0,
	    .doc = "HTTP authentication toward the CA. Every request goes with its body at once: `basic` "
	    "sends its credentials with it; `digest` answers the CA's first "
	    "401 (resending the body), then keeps the challenge and answers "
	    "it at once (one round trip per request). A CA that admits the RA "
	    "certificate alone never asks, so `digest` costs nothing there "
	    "([authentication.md](authentication.md#toward-the-ca))"),
	F_STR(struct cfg_upstream, "username", username, 0, NULL,
	    .doc = "for `basic` and `digest`"),
	F_FILE(struct cfg_upstream, "password_file", password_file, 0,
	    .flags = CFG_F_SECRET,
	    .doc = "file holding the password (first line); for `basic` and "
	    "`digest`. The password is kept in memory only, never logged."),
	F_SEC(struct cfg_upstream, "connect_timeout", connect_timeout_ms,
	    0.1, 300, 5,
	    .doc = "TCP and TLS connection set-up"),
	F_SEC(struct cfg_upstream, "timeout", timeout_ms, 0.1, 3600, 30,
	    .doc = "whole transfer; past it the client gets 504"),
	F_ENUM(struct cfg_upstream, "concurrency", concurrency,
	    upstream_concurrency_names, 0,
	    .doc = "how many requests each URL is given at once: `adaptive` "
	    "learns it from the CA's answer times and timeouts, at most "
	    "`max_in_flight` ([below](#shielding-the-ca)); `fixed` gives "
	    "every URL `max_in_flight`"),
	F_LONG(struct cfg_upstream, "max_in_flight", max_in_flight,
	    1, 100000, 64,
	    .doc = "requests to one URL of this CA at once: the ceiling of the "
	    "adaptive limit, or the limit itself when `fixed`"),
	F_LONG(struct cfg_upstream, "max_waiting", max_waiting, 0, 1000000,
	    1000,
	    .doc = "requests waiting for a free slot toward this upstream, "
	    "oldest first; past it the client gets 503 with `Retry-After` at "
	    "once (0: none wait)"),
	F_SEC(struct cfg_upstream, "max_wait", max_wait_ms, 0.1, 3600, 8,
	    .doc = "the longest a request waits for a slot; one whose wait "
	    "(and answer) is expected to take longer gets 503 with "
	    "`Retry-After` at once, and one still waiting after it gets it "
	    "then. Keep it below your clients' timeout (libest's is 10 s)"),
	F_LONG(struct cfg_upstream, "max_response_bytes", max_response_bytes,
	    1024, 67108864, 1048576,
	    .doc = "a larger answer from the CA is cut off and the client gets "
	    "502"),
	F_LONG(struct cfg_upstream, "retry_after", retry_after, 1, 86400, 5,
	    .doc_type = "integer seconds",
	    .doc = "the least `Retry-After` sent with those 503s; estrad names "
	    "a later time when the line ahead needs longer (up to an hour, "
	    "or `retry_after` if more)"),
	F_SEC(struct cfg_upstream, "backoff_initial", backoff_initial_ms,
	    0.05, 3600, 1,
	    .doc = "how long a failing URL is first left alone"),
	F_SEC(struct cfg_upstream, "backoff_max", backoff_max_ms,
	    0.05, 86400, 300,
	    .doc = "the longest it is left alone (the wait doubles per "
	    "failure, with jitter)"),
	F_LONG(struct cfg_upstream, "failure_threshold", failure_threshold,
	    1, 1000, 3,
	    .doc = "failures in a row before a URL is left alone"),
	F_END
};

const struct cfg_field localca_fields[] = {
	F_FILE(struct cfg_localca, "certificate", certificate, 1,
	    .doc = "the issuing CA certificate (PEM)"),
	F_FILE(struct cfg_localca, "key", key, 1, .flags = CFG_F_SECRET,
	    .doc = "its private key (PEM)"),
	F_FILE(struct cfg_localca, "chain", chain, 0,
	    .doc_dflt = "the certificate",
	    .doc = "PEM chain served by `cacerts`, root included; if it lacks "
	    "the CA certificate, that is put first"),
	F_LONG(struct cfg_localca, "validity_days", validity_days,
	    1, 3650, 365,
	    .doc = "lifetime of issued certificates"),
	F_END
};

/*
 * A certificate and key pair named by two keys of one section; tls_client:
 * the certificate is presented as a TLS client certificate, so a CA that
 * checks its purpose must not refuse it (the issue is otherwise found at
 * the first enrollment, as an alert from the CA).
 */
static int
pair_check(struct cfg_ctx *ctx, const char *path, const char *cert_key,
    const char *certfile, const char *key_key, const char *keyfile,
    int tls_client)
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
	if (certs != NULL && tls_client &&
	    pki_tls_client_check(sk_X509_value(certs, 0), err,
	    sizeof(err)) == -1) {
		child_path(cp, sizeof(cp), path, cert_key);
		cfg_err(ctx, cp, "%s %s", certfile, err);
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
url_check(struct cfg_ctx *ctx, const char *path, const char *url)
{
	if (strncmp(url, "https://", 8) != 0) {
		/* RFC 7030 §3.3: EST runs over TLS only. */
		cfg_err(ctx, path, "must be an https:// URL");
		return 1;
	}
	if (url[strlen(url) - 1] == '/') {
		cfg_err(ctx, path, "must not end in '/' (the operation path "
		    "is appended)");
		return 1;
	}
	if (strlen(url) > UPSTREAM_MAX_URL_LEN) {
		cfg_err(ctx, path, "is longer than %d bytes",
		    UPSTREAM_MAX_URL_LEN);
		return 1;
	}
	/* URLs are logged: credentials belong in password_file. */
	if (strchr(url + 8, '@') != NULL &&
	    strchr(url + 8, '@') < url + 8 + strcspn(url + 8, "/")) {
		cfg_err(ctx, path, "must not hold user:password@ (use "
		    "username and password_file)");
		return 1;
	}
	return 0;
}

static int
url_add(struct cfg_ctx *ctx, const char *path, const json_t *v,
    struct cfg_upstream *u)
{
	const char *url;

	if (!json_is_string(v) || json_string_length(v) == 0) {
		cfg_err(ctx, path, "must be a non-empty string, not %s",
		    json_is_string(v) ? "empty" : json_type_name(v));
		return 1;
	}
	url = json_string_value(v);
	if (url_check(ctx, path, url) != 0)
		return 1;
	for (size_t i = 0; i < u->nurls; i++)
		if (strcmp(u->urls[i], url) == 0) {
			cfg_err(ctx, path, "%s is listed twice", url);
			return 1;
		}
	if ((u->urls[u->nurls] = strdup(url)) == NULL)
		return 1;
	u->nurls++;
	return 0;
}

/*
 * "url": one base URL, or an array of them (the same CA behind several
 * addresses, or replicas), tried in the listed order, skipping those whose breaker is open.
 */
static int
upstream_urls_load(struct cfg_ctx *ctx, const char *path, const json_t *obj,
    struct cfg_upstream *u)
{
	const json_t	*v = json_object_get(obj, "url"), *e;
	char		 cp[1024], ep[1100];
	size_t		 i;
	int		 nerr = 0;

	child_path(cp, sizeof(cp), path, "url");
	if (v == NULL) {
		cfg_err(ctx, cp, "is required");
		return 1;
	}
	if (json_is_array(v) && (json_array_size(v) == 0 ||
	    json_array_size(v) > UPSTREAM_MAX_URLS)) {
		cfg_err(ctx, cp, "must list 1 to %d URLs", UPSTREAM_MAX_URLS);
		return 1;
	}
	if ((u->urls = calloc(UPSTREAM_MAX_URLS, sizeof(char *))) == NULL)
		return 1;
	if (!json_is_array(v))
		nerr += url_add(ctx, cp, v, u);
	else
		json_array_foreach(v, i, e) {
			snprintf(ep, sizeof(ep), "%s[%zu]", cp, i);
			nerr += url_add(ctx, ep, e, u);
		}
	if (nerr == 0 && (u->url = strdup(u->urls[0])) == NULL)
		nerr++;
	if (nerr == 0 && u->backoff_max_ms < u->backoff_initial_ms) {
		child_path(cp, sizeof(cp), path, "backoff_max");
		cfg_err(ctx, cp, "is less than backoff_initial");
		nerr++;
	}
	return nerr;
}

/* The "url" row's: the URLs, and the password read from password_file. */
static void
upstream_own_free(void *base)
{
	struct cfg_upstream *u = base;

	for (size_t i = 0; u->urls != NULL && i < u->nurls; i++)
		free(u->urls[i]);
	free(u->urls);
	free(u->url);
	u->urls = NULL;
	u->url = NULL;
	u->nurls = 0;
	if (u->password != NULL)
		OPENSSL_clear_free(u->password, strlen(u->password));
	u->password = NULL;
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
	    u->client_certificate, "client_key", u->client_key, 1);
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
	    ca->key, 0);
	child_path(cp, sizeof(cp), path, "chain");
	return nerr + certs_check(ctx, cp, ca->chain);
}

/*
 * Sections that are objects of named entries ("upstreams", "local_cas"):
 * each entry is loaded against its row's field table, then checked as a
 * whole once its own fields are sound.
 */
typedef int (*named_check_fn)(struct cfg_ctx *, const char *, const json_t *,
    void *);

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

static const struct cfg_field *
top_row(const char *key)
{
	const struct cfg_field *f;

	for (f = config_top_fields; f->key != NULL; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

/* Fill the entries (calloc'd, owned by the config) of row key from root. */
static int
named_section_load(struct cfg_ctx *ctx, const json_t *root, const char *key,
    named_check_fn check)
{
	const struct cfg_field	*row = top_row(key);
	char			**entries;
	size_t			*n;
	const json_t		*obj, *v;
	const char		*name;
	char			 cp[1024];
	int			 nerr = 0;

	if (row == NULL || row->entry_size == 0) {
		cfg_err(ctx, key, "no table of named entries (an estrad bug)");
		return 1;
	}
	entries = (char **)((char *)ctx->cfg + row->offset);
	n = (size_t *)((char *)ctx->cfg + row->count_offset);
	if ((obj = object_at(ctx, root, "", key, &nerr)) == NULL)
		return nerr;
	if ((*entries = calloc(json_object_size(obj) + 1, row->entry_size)) ==
	    NULL)
		return 1;
	json_object_foreach((json_t *)obj, name, v) {
		char *entry = *entries + (*n)++ * row->entry_size;
		child_path(cp, sizeof(cp), key, name);
		*(char **)(entry + row->name_offset) = strdup(name);
		if (!json_is_object(v)) {
			cfg_err(ctx, cp, "must be an object");
			nerr++;
			continue;
		}
		int nfield = section_load(ctx, v, cp, row->fields, entry);
		nerr += nfield ? nfield : check(ctx, cp, v, entry);
	}
	return nerr;
}

/* Both sections of named backends; routes refer to their entries. */
int
upstreams_load(struct cfg_ctx *ctx, const json_t *root)
{
	return named_section_load(ctx, root, "upstreams",
	    upstream_check_entry) +
	    named_section_load(ctx, root, "local_cas", localca_check_entry);
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
