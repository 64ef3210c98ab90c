/*
 * config_listen: what clients meet: the "listen" addresses, the "tls"
 * server (certificate, key, client CA, CRLs, intermediates, suites), client
 * "auth" (realm, nonces, user files, Digest algorithms) and request
 * "limits". The files are read here to report their problems under
 * their keys, with -n too; listener.c and auth.c read them again for use,
 * but for the nonce secret, which is kept. Private to the config module;
 * errors as FILE:LINE: key.path: problem, like the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/digest.h"
#include "estrad/netbind.h"
#include "estrad/tlsconf.h"
#include "estrad/pki.h"
#include "estrad/users.h"

static int digest_algs_same(const void *a, const void *b);

const struct cfg_field tls_fields[] = {
	F_FILE(struct cfg_tls, "certificate", certificate, 1,
	    .doc = "PEM: the server certificate first, then its "
	    "intermediates"),
	F_FILE(struct cfg_tls, "key", key, 1, .flags = CFG_F_SECRET,
	    .doc = "PEM private key of the certificate (unencrypted)"),
	F_FILE(struct cfg_tls, "client_ca", client_ca, 0,
	    .doc = "PEM trust anchors for client certificates. When set, the "
	    "server asks for a client certificate during the handshake but "
	    "does not demand one (clients may authenticate with HTTP auth "
	    "instead); a certificate that is sent must verify, or the "
	    "handshake fails."),
	F_FILE(struct cfg_tls, "client_crl", client_crl, 0,
	    .doc = "PEM CRLs; the client certificate is checked against them, "
	    "and its issuer's CRL must be present. Needs `client_ca`."),
	F_FILE(struct cfg_tls, "client_intermediates", client_intermediates,
	    0,
	    .doc = "PEM CA certificates that complete the chains of clients "
	    "sending their leaf alone (libest devices, Java key stores). "
	    "Never trust anchors: a chain must still end at `client_ca`. "
	    "Added without configuration: the intermediates in "
	    "`certificate`, in each upstream's `client_certificate`, each "
	    "local CA's `certificate` and `chain`, and those of the CAs' "
	    "cacerts answers as they pass "
	    "([authentication.md](authentication.md#client-certificates)). "
	    "Their names join `client_ca`'s in the handshake's list of "
	    "acceptable CAs. Needs `client_ca`."),
	F_LONG(struct cfg_tls, "client_verify_depth", client_verify_depth,
	    1, 16, 4,
	    .doc = "longest client certificate chain accepted"),
	F_LONG(struct cfg_tls, "session_cache", session_cache, 0, 1000000,
	    1024,
	    .doc = "TLS sessions kept for resumption (TLS 1.2 session ids, "
	    "TLS 1.3 single-use tickets, one per handshake); the oldest goes "
	    "when full; 0 turns resumption off. Each cached session holds the "
	    "client's certificates: up to about 12 KiB with a client "
	    "certificate, 1-2 KiB without. Sessions live in this process only "
	    "and are dropped by a reload."),
	F_STR(struct cfg_tls, "ciphers", ciphers, 0, NULL,
	    .doc_dflt = "ECDHE-ECDSA/RSA with AES-GCM and ChaCha20-Poly1305",
	    .doc = "TLS 1.2 suites, OpenSSL's list syntax "
	    "(`ECDHE-ECDSA-AES256-GCM-SHA384:...`); every suite it yields "
	    "must be ECDHE with an AEAD cipher, or the config is refused "
	    "naming the first that is not"),
	F_STR(struct cfg_tls, "ciphersuites", ciphersuites, 0, NULL,
	    .doc_dflt = "OpenSSL's (AES-GCM, ChaCha20-Poly1305)",
	    .doc = "TLS 1.3 suites, `TLS_AES_256_GCM_SHA384:...` (all are "
	    "AEAD)"),
	F_STR(struct cfg_tls, "groups", groups, 0, NULL,
	    .doc_dflt = "`X25519:P-256:P-384`",
	    .doc = "key-exchange groups in order of preference, OpenSSL's list "
	    "syntax (`X25519:P-256`); elliptic curves only (X25519, X448, "
	    "P-256, P-384, P-521): a finite-field group (`ffdhe2048` ...) is "
	    "refused naming it"),
	F_END
};

const struct cfg_field auth_fields[] = {
	F_STR(struct cfg_auth, "realm", realm, 0, "estrealm",
	    .flags = CFG_F_RESTART,
	    .doc = "the realm of every challenge; the htdigest file's realm. "
	    "No `\"` or `\\`."),
	F_FILE(struct cfg_auth, "nonce_secret_file", nonce_secret_file, 0,
	    .flags = CFG_F_SECRET | CFG_F_RESTART,
	    .doc_dflt = "random per process",
	    .doc = "at least 32 bytes; replicas sharing it accept each other's "
	    "Digest nonces"),
	F_LONG(struct cfg_auth, "nonce_lifetime", nonce_lifetime, 10, 86400,
	    300, .flags = CFG_F_RESTART, .doc_type = "integer seconds",
	    .doc = "after it, a correct response gets 401 `stale=true`"),
	F_LONG(struct cfg_auth, "replay_slots", replay_slots, 16, 1048576,
	    16384, .flags = CFG_F_RESTART,
	    .doc = "nonces whose counts are tracked (bounded memory)"),
	F_FILE(struct cfg_auth, "digest_users", digest_users, 0,
	    .flags = CFG_F_SECRET | CFG_F_RESTART,
	    .doc = "htdigest file (`user:realm:HA1`, MD5 or SHA-256 HA1)"),
	F_FILE(struct cfg_auth, "basic_users", basic_users, 0,
	    .flags = CFG_F_SECRET | CFG_F_RESTART,
	    .doc = "htpasswd file (bcrypt or SHA-512-crypt only)"),
	F_LONG(struct cfg_auth, "basic_workers", basic_workers, 1, 64, 2,
	    .flags = CFG_F_RESTART, .doc = "threads that verify Basic passwords"),
	F_LONG(struct cfg_auth, "max_failures", max_failures, 1, 1000000, 10,
	    .flags = CFG_F_RESTART,
	    .doc = "failed attempts per address, and wrong passwords per user "
	    "name, before 429 "
	    "([authentication.md](authentication.md#failed-attempts))"),
	F_LONG(struct cfg_auth, "failure_window", failure_window, 1, 86400,
	    60, .flags = CFG_F_RESTART, .doc_type = "integer seconds",
	    .doc = "the window those failures are counted in, and the longest "
	    "429 lasts"),
	F_LONG(struct cfg_auth, "failure_slots", failure_slots, 16, 1048576,
	    16384, .flags = CFG_F_RESTART,
	    .doc = "addresses and users tracked (bounded memory)"),
	F_CUSTOM("digest_algorithms", .flags = CFG_F_RESTART,
	    .same = digest_algs_same,
	    .doc_type = "array of `\"MD5\"`, `\"SHA-256\"`",
	    .doc_dflt = "automatic: both, MD5 first (SHA-256 first only if "
	    "some user has no MD5 HA1 and all have a SHA-256 one)",
	    .doc = "the Digest challenges in the order sent, preferred first "
	    "(RFC 7616 §3.7); an answer with an algorithm not listed gets "
	    "401. `[\"SHA-256\"]` turns MD5 off, and with it libest-based "
	    "clients. "
	    "([authentication.md](authentication.md#which-challenge-comes-first))"),
	F_BOOL(struct cfg_auth, "digest_uri_without_label",
	    digest_uri_without_label, 1, .flags = CFG_F_RESTART,
	    .doc = "on a CA label, also accept a Digest `uri` without the "
	    "label (`/.well-known/est/simpleenroll` for "
	    "`/.well-known/est/LABEL/simpleenroll`), as libest sends it; "
	    "same method and operation only. `false` makes libest-based "
	    "clients fail on every label. "
	    "([authentication.md](authentication.md#nonces))"),
	F_END
};

const struct cfg_field limits_fields[] = {
	F_LONG(struct cfg_limits, "max_header_bytes", max_header_bytes,
	    1024, 1048576, 8192,
	    .doc = "request line and headers; larger requests are refused by "
	    "the HTTP layer (400)"),
	F_LONG(struct cfg_limits, "max_body_bytes", max_body_bytes,
	    1024, 16777216, 65536,
	    .doc = "request body (Content-Length or chunked); larger bodies "
	    "get 413. A `Content-Length` over twice this is refused from the "
	    "headers (the connection closes; a body up to 8 times this is "
	    "read and dropped first, so that the client reads the answer); a "
	    "chunked body is cut off at twice this"),
	F_SEC(struct cfg_limits, "read_timeout", read_timeout_ms,
	    0.1, 3600, 30,
	    .doc = "the longest silence while the TLS handshake and the first "
	    "request are read; also the longest the first request may take "
	    "in all, from the end of the handshake"),
	F_SEC(struct cfg_limits, "idle_timeout", idle_timeout_ms,
	    0.1, 86400, 60,
	    .doc = "once a connection has been answered: the longest silence "
	    "before the next request (keep-alive) or within it; the next "
	    "request must be read in full within `idle_timeout` + "
	    "`read_timeout` of the answer before it"),
	F_LONG(struct cfg_limits, "max_headers", max_headers, 1, 10000, 100,
	    .doc = "header fields in a request; more get 431 with the count, "
	    "and the connection is closed"),
	F_SEC(struct cfg_limits, "handshake_timeout", handshake_timeout_ms,
	    0.1, 300, 10,
	    .doc = "the longest a TLS handshake may take in all, from the "
	    "accept"),
	F_LONG(struct cfg_limits, "max_connections", max_connections,
	    1, 1000000, 4096,
	    .doc = "client connections open at once; past it a new connection "
	    "is refused at its ClientHello (a TLS `internal_error` alert, "
	    "before any key exchange). At this number plus a reserve (a "
	    "tenth, at least 16) for connections that have not sent a "
	    "ClientHello yet, estrad stops accepting until some close: new "
	    "clients wait in the kernel's backlog"),
	F_LONG(struct cfg_limits, "max_connections_per_address",
	    max_connections_per_address, 0, 1000000, 128,
	    .doc = "client connections from one source address (IPv4, or an "
	    "IPv6 address in full; a v4-mapped address counts as its IPv4 "
	    "self); past it, refused at the ClientHello like the above. 0: no "
	    "per-address limit. Behind a load balancer or a NAT every client "
	    "has the balancer's address: raise it or set 0 there"),
	F_END
};

int
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

void
listen_free(void *base)
{
	struct config *cfg = base;

	for (size_t i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	free(cfg->listen);
	cfg->listen = NULL;
	cfg->nlisten = 0;
}

int
listen_same(const void *a, const void *b)
{
	const struct config *ca = a, *cb = b;

	if (ca->nlisten != cb->nlisten)
		return 0;
	for (size_t i = 0; i < ca->nlisten; i++)
		if (strcmp(ca->listen[i], cb->listen[i]) != 0)
			return 0;
	return 1;
}

/* A CRL file's CRLs, loaded to check and freed: 0, or -1 with err. */
static int
crl_file_check(const char *file, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls = pki_load_crls(file, err, errlen);

	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return crls != NULL ? 0 : -1;
}

/* Certificates that complete client chains (clientchain.c). */
static int
certs_file_check(const char *file, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = pki_load_certs(file, err, errlen);

	sk_X509_pop_free(certs, X509_free);
	return certs != NULL ? 0 : -1;
}

/* The files that go with tls.client_ca: each needs it, and must parse. */
static int
client_files_check(struct cfg_ctx *ctx)
{
	const struct cfg_tls *tls = &ctx->cfg->tls;
	const struct {
		const char	*path;
		const char	*file;
		int		(*check)(const char *, char *, size_t);
	} files[] = {
		{ "tls.client_crl", tls->client_crl, crl_file_check },
		{ "tls.client_intermediates", tls->client_intermediates,
		  certs_file_check },
	};
	char	err[512];
	int	nerr = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].file == NULL)
			continue;
		if (tls->client_ca == NULL) {
			cfg_err(ctx, files[i].path, "needs tls.client_ca");
			nerr++;
		} else if (files[i].check(files[i].file, err, sizeof(err)) ==
		    -1) {
			cfg_err(ctx, files[i].path, "%s", err);
			nerr++;
		}
	}
	return nerr;
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
	return nerr + client_files_check(ctx) +
	    suites_check(ctx);
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
 * loads them again for use (and on SIGHUP). A file that cannot be read
 * was reported when its key was loaded (field_file): once is enough.
 */
static int
users_check(struct cfg_ctx *ctx, const struct cfg_auth *a)
{
	struct users	*u;
	char		 err[512];
	int		 nerr = 0;

	if (a->digest_users != NULL && access(a->digest_users, R_OK) == 0) {
		if ((u = users_load_htdigest(a->digest_users, err,
		    sizeof(err))) == NULL) {
			cfg_err(ctx, "auth.digest_users", "%s", err);
			nerr++;
		} else if (users_realm_check(u, a->digest_users, a->realm, err,
		    sizeof(err)) != 0) {
			/* An error, not a warning: no client could ever
			 * log in by Digest, like a route that admits no one. */
			cfg_err(ctx, "auth.digest_users", "%s", err);
			nerr++;
		}
		users_free(u);
	}
	if (a->basic_users != NULL && access(a->basic_users, R_OK) == 0) {
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

int
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

int
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

int
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

/* The wiped copy of the nonce secret, kept beside its file's row. */
void
auth_row_free(void *base)
{
	struct cfg_auth *a = &((struct config *)base)->auth;

	if (a->nonce_secret != NULL)
		OPENSSL_clear_free(a->nonce_secret, a->nonce_secret_len);
	a->nonce_secret = NULL;
}

static int
digest_algs_same(const void *a, const void *b)
{
	const struct cfg_auth *aa = a, *ab = b;

	return aa->ndigest_algs == ab->ndigest_algs &&
	    memcmp(aa->digest_algs, ab->digest_algs,
	    aa->ndigest_algs * sizeof(aa->digest_algs[0])) == 0;
}
