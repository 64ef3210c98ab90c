/*
 * config: loads the one JSON file against schema tables (one row per key:
 * type, bounds, default, flags, text), in the manner of tmux's
 * options-table.c. The same rows validate, fill defaults, free, find the
 * secret files (config_ops.c), name what a reload cannot change
 * (config_restart_notes) and make docs/configuration.md's key tables
 * (tools/config_doc.c, checked by ctest's docs_configuration).
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

#include "estrad/config.h"
#include "config_schema_int.h"
#include "policy_int.h"
#include "estrad/digest.h"
#include "estrad/log.h"
#include "estrad/netbind.h"
#include "estrad/tlsconf.h"
#include "estrad/pki.h"
#include "estrad/router.h"
#include "estrad/users.h"

#define CFG_MAX_FILE	(1024 * 1024)
#define UPSTREAM_MAX_URLS	8
#define UPSTREAM_MAX_URL_LEN	1024	/* the operation path is appended */

/* ---- the tables ------------------------------------------------------ */

/*
 * Each row is a key: its type, bounds and default, its flags, and the
 * text of its line in docs/configuration.md (tools/config_doc.c writes
 * those tables from these rows; the docs_configuration test fails when
 * they differ). Adding a key is adding its row, plus the code that uses
 * the value.
 */

static const char *const upstream_auth_names[] = {
	"none", "basic", "digest", NULL
};

static const char *const upstream_concurrency_names[] = {
	"adaptive", "fixed", NULL
};

static const char *const log_format_names[] = { "text", "json", NULL };

/* What the rows' own code allocates, and how it compares. */
static void listen_free(void *base);
static int listen_same(const void *a, const void *b);
static void auth_free(void *base);
static int digest_algs_same(const void *a, const void *b);
static void upstream_own_free(void *base);
static void routes_free(void *base);
static void policies_row_free(void *base);

static const struct cfg_field tls_fields[] = {
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

static const struct cfg_field auth_fields[] = {
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
	    16384,
	    .doc = "nonces whose counts are tracked (bounded memory)"),
	F_FILE(struct cfg_auth, "digest_users", digest_users, 0,
	    .flags = CFG_F_SECRET | CFG_F_RESTART,
	    .doc = "htdigest file (`user:realm:HA1`, MD5 or SHA-256 HA1)"),
	F_FILE(struct cfg_auth, "basic_users", basic_users, 0,
	    .flags = CFG_F_SECRET | CFG_F_RESTART,
	    .doc = "htpasswd file (bcrypt or SHA-512-crypt only)"),
	F_LONG(struct cfg_auth, "basic_workers", basic_workers, 1, 64, 2,
	    .doc = "threads that verify Basic passwords"),
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
	    16384,
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

static const struct cfg_field limits_fields[] = {
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

static const struct cfg_field upstream_fields[] = {
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
	    "(RFC 7030 §3.7); it should carry the id-kp-cmcRA EKU"),
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

static const struct cfg_field localca_fields[] = {
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
	F_STR(struct route_raw, "upstream", upstream, 0, NULL,
	    .doc_dflt = "-",
	    .doc = "name of an entry in `upstreams`"),
	F_STR(struct route_raw, "local_ca", local_ca, 0, NULL,
	    .doc_dflt = "-",
	    .doc = "name of an entry in `local_cas`"),
	F_STR(struct route_raw, "upstream_label", upstream_label, 0, NULL,
	    .doc = "the CA label to use at the upstream (so "
	    "`/east/simpleenroll` here can be `/branch/simpleenroll` there)"),
	F_STR(struct route_raw, "policy", policy, 0, NULL,
	    .doc_dflt = "the built-in default policy",
	    .doc = "name of an entry in `policies` ([policy.md](policy.md))"),
	F_ENUM(struct route_raw, "csrattrs", csrattrs, csrattrs_names, 0,
	    .doc = "`\"backend\"`: relay the CA's csrattrs; `\"policy\"`: "
	    "answer from the route's policy (see "
	    "[policy.md](policy.md#csrattrs))"),
	F_BOOL(struct route_raw, "fullcmc_passthrough", fullcmc_passthrough, 0,
	    .doc = "forward `fullcmc` to the CA unchecked. A CMC message is "
	    "not a bare CSR, so the CSR policy cannot apply to it, and the CA "
	    "trusts the RA: without this, an authenticated `fullcmc` gets "
	    "501"),
	F_CUSTOM("auth", .doc_type = "object", .doc_dflt = "RFC 7030 defaults",
	    .doc = "per operation, the methods that suffice: "
	    "`{\"simpleenroll\": [\"digest\", \"cert\"], \"simplereenroll\": "
	    "[\"cert\"]}`; `[]` leaves an operation open. Defaults: `cacerts` "
	    "and `csrattrs` open; `simpleenroll`, `serverkeygen`, `fullcmc` "
	    "digest or cert; `simplereenroll` cert. See "
	    "[authentication.md](authentication.md)."),
	F_END
};

/*
 * The top level. The sections' rows are loaded by their own code below
 * (in config_build()'s order); the walks go into them by .fields.
 */
const struct cfg_field config_top_fields[] = {
	F_ENUM(struct config, "log_level", log_level, log_level_names,
	    LOG_LEVEL_INFO, .env = "ESTRAD_LOG_LEVEL",
	    .doc = "the least severe lines written (`-d` forces `debug`)"),
	F_CUSTOM("listen", .flags = CFG_F_RESTART | CFG_F_ENV_LIST,
	    .env = "ESTRAD_LISTEN", .free = listen_free,
	    .same = listen_same,
	    .doc_type = "array of strings", .doc_dflt = "required",
	    .doc = "addresses to listen on: `\"127.0.0.1:8443\"`, "
	    "`\"[::1]:8443\"`, `\"0.0.0.0:443\"`, `\"[::]:443\"`. Port 0 asks "
	    "the kernel for a free port; the log line `listening on "
	    "ADDR:PORT` says which. An IPv6 wildcard listens on IPv6 only, so "
	    "it can be combined with the IPv4 wildcard on the same port."),
	F_CUSTOM("tls", .fields = tls_fields,
	    .offset = offsetof(struct config, tls),
	    .doc_type = "object", .doc_dflt = "required",
	    .doc = "the client-facing TLS server, below"),
	F_CUSTOM("auth", .fields = auth_fields,
	    .offset = offsetof(struct config, auth), .free = auth_free,
	    .doc_type = "object", .doc_dflt = "all defaults",
	    .doc = "client authentication, below and in "
	    "[authentication.md](authentication.md)"),
	F_CUSTOM("limits", .fields = limits_fields,
	    .offset = offsetof(struct config, limits),
	    .doc_type = "object", .doc_dflt = "all defaults",
	    .doc = "request limits, below"),
	F_CUSTOM("upstreams", .fields = upstream_fields,
	    .offset = offsetof(struct config, upstreams),
	    .entry_size = sizeof(struct cfg_upstream),
	    .count_offset = offsetof(struct config, nupstreams),
	    .name_offset = offsetof(struct cfg_upstream, name),
	    .doc_type = "object",
	    .doc = "upstream EST CAs by name, below"),
	F_CUSTOM("local_cas", .fields = localca_fields,
	    .offset = offsetof(struct config, local_cas),
	    .entry_size = sizeof(struct cfg_localca),
	    .count_offset = offsetof(struct config, nlocal_cas),
	    .name_offset = offsetof(struct cfg_localca, name),
	    .doc_type = "object",
	    .doc = "CAs inside estrad by name, below"),
	F_CUSTOM("default", .doc_type = "route",
	    .doc = "the backend for the bare path `/.well-known/est/<op>`, "
	    "below"),
	/* routes_free() frees the routes of "default" too. */
	F_CUSTOM("labels", .free = routes_free, .doc_type = "object of routes",
	    .doc = "the backend for each CA label, "
	    "`/.well-known/est/<label>/<op>`, below"),
	F_CUSTOM("policies", .free = policies_row_free, .doc_type = "object",
	    .doc = "named CSR policies; see [policy.md](policy.md)"),
	F_CUSTOM("audit", .fields = audit_fields,
	    .offset = offsetof(struct config, audit), .doc_type = "object",
	    .doc = "the audit log of enrollment decisions, below"),
	F_STR(struct config, "state_dir", state_dir, 0, NULL,
	    .env = "ESTRAD_STATE_DIR",
	    .flags = CFG_F_RESTART, .doc_type = "absolute path",
	    .doc = "where the queue and the cache are kept (`estrad.db`, "
	    "SQLite); created `0700`. Needed by `cache` and `queue`"),
	F_CUSTOM("cache", .fields = cache_fields,
	    .offset = offsetof(struct config, cache), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "cacerts/csrattrs kept per label and served while the CA "
	    "is away: [offline.md](offline.md)"),
	F_CUSTOM("queue", .fields = queue_fields,
	    .offset = offsetof(struct config, queue), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "store and forward of enrollments while the CA is away: "
	    "[offline.md](offline.md)"),
	/* The operator's keys; checked further in config_ops.c. */
	F_ENUM(struct config, "log_format", log_format, log_format_names, 0,
	    .env = "ESTRAD_LOG_FORMAT",
	    .doc = "`json`: one object per line"),
	F_BOOL(struct config, "syslog", log_syslog, 0,
	    .doc = "also log to syslog(3)"),
	F_ENUM(struct config, "syslog_facility", syslog_facility,
	    log_facility_names, 0,
	    .doc = "the facility of the syslog lines"),
	F_STR(struct config, "user", user, 0, NULL, .flags = CFG_F_RESTART,
	    .env = "ESTRAD_USER",
	    .doc = "drop to this user once the ports are bound and the keys "
	    "read; it must exist"),
	F_STR(struct config, "group", group, 0, NULL, .flags = CFG_F_RESTART,
	    .env = "ESTRAD_GROUP",
	    .doc_dflt = "the user's",
	    .doc = "and to this group; needs `user`; it must exist"),
	F_BOOL(struct config, "run_as_root", run_as_root, 0,
	    .doc = "started as root without `user`, estrad refuses to run "
	    "unless this is true"),
	F_SEC(struct config, "shutdown_timeout", shutdown_timeout_ms, 0, 3600,
	    10,
	    .doc = "SIGTERM: how long requests in flight may take before "
	    "estrad exits anyway"),
	F_CUSTOM("admin", .fields = admin_fields,
	    .offset = offsetof(struct config, admin), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "the admin listener (health, metrics), below; "
	    "[operations.md](operations.md)"),
	F_END
};

/* Every table the docs show, by the name of its markers. */
const struct cfg_doc_table cfg_doc_tables[] = {
	{ "docs/configuration.md", "top", config_top_fields },
	{ "docs/configuration.md", "tls", tls_fields },
	{ "docs/configuration.md", "auth", auth_fields },
	{ "docs/configuration.md", "limits", limits_fields },
	{ "docs/configuration.md", "audit", audit_fields },
	{ "docs/configuration.md", "upstreams", upstream_fields },
	{ "docs/configuration.md", "cache", cache_fields },
	{ "docs/configuration.md", "queue", queue_fields },
	{ "docs/configuration.md", "local_cas", localca_fields },
	{ "docs/configuration.md", "routes", route_fields },
	{ "docs/configuration.md", "admin", admin_fields },
	{ "docs/policy.md", "policy", policy_fields },
	{ "docs/policy.md", "keys", pol_keys_fields },
	{ "docs/policy.md", "subject", pol_subject_fields },
	{ "docs/policy.md", "san", pol_san_fields },
	{ "docs/policy.md", "extensions", pol_ext_fields },
	{ "docs/policy.md", "reenroll", pol_reenroll_fields },
	{ "docs/policy.md", "rate", pol_rate_fields },
	{ NULL, NULL, NULL }
};

/* ---- sections with their own shape ----------------------------------- */

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

static void
listen_free(void *base)
{
	struct config *cfg = base;

	for (size_t i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	free(cfg->listen);
	cfg->listen = NULL;
	cfg->nlisten = 0;
}

static int
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

	for (f = config_top_fields; strcmp(f->key, key) != 0; f++)
		;
	return f;
}

/* Fill the entries (calloc'd, owned by the config) of row key from root. */
static int
named_section_load(struct cfg_ctx *ctx, const json_t *root, const char *key,
    named_check_fn check)
{
	const struct cfg_field	*row = top_row(key);
	char			**entries = (char **)((char *)ctx->cfg +
				    row->offset);
	size_t			*n = (size_t *)((char *)ctx->cfg +
				    row->count_offset);
	const json_t		*obj, *v;
	const char		*name;
	char			 cp[1024];
	int			 nerr = 0;

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
	section_free(route_fields, &raw);
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
	int nerr;

	if (!json_is_object(root)) {
		cfg_err(ctx, "", "the top level must be an object");
		return 1;
	}
	nerr = section_load(ctx, root, "", config_top_fields, ctx->cfg);
	nerr += listen_load(ctx, root);
	nerr += tls_load(ctx, root);
	nerr += auth_load(ctx, root);
	nerr += limits_load(ctx, root);
	nerr += named_section_load(ctx, root, "upstreams",
	    upstream_check_entry);
	nerr += named_section_load(ctx, root, "local_cas",
	    localca_check_entry);
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

/* The wiped copy of the nonce secret, kept beside its file's row. */
static void
auth_free(void *base)
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

static void
routes_free(void *base)
{
	struct config *cfg = base;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].label);
		free(cfg->routes[i].upstream_label);
	}
	free(cfg->routes);
	cfg->routes = NULL;
	cfg->nroutes = 0;
}

static void
policies_row_free(void *base)
{
	policies_free(base);
}

/* Every row's value, through the tables; then what has no row. */
void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	section_free(config_top_fields, cfg);
	free(cfg->path);
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
