/*
 * config: the one JSON configuration file. Loading validates everything an
 * operator can get wrong (unknown keys, types, ranges, files, key/cert
 * pairs, references between sections) and reports every problem as
 * "FILE:LINE: key.path: problem" before the daemon listens. The result is
 * an immutable struct config; nothing else parses the file.
 */
#ifndef ESTRAD_CONFIG_H
#define ESTRAD_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#include "estrad/router.h"

enum upstream_auth { UPSTREAM_AUTH_NONE, UPSTREAM_AUTH_BASIC,
	UPSTREAM_AUTH_DIGEST, UPSTREAM_AUTH_MAX };
/* How many requests an upstream URL gets at once (upstream_admit.c). */
enum upstream_concurrency { UPSTREAM_CONCURRENCY_ADAPTIVE,
	UPSTREAM_CONCURRENCY_FIXED };

struct cfg_tls {
	char	*certificate;		/* server chain, PEM, leaf first */
	char	*key;
	char	*client_ca;		/* trust anchors for client certs */
	char	*client_crl;		/* CRLs for client certs (PEM) */
	char	*client_intermediates;	/* CA certs that complete client
					 * chains; never trust anchors */
	long	 client_verify_depth;
	long	 session_cache;	/* sessions kept for resumption; 0: none */
	char	*ciphers;		/* TLS 1.2 suites; NULL: ours */
	char	*ciphersuites;		/* TLS 1.3 suites; NULL: OpenSSL's */
	char	*groups;		/* key exchange groups; NULL: OpenSSL's */
};

/* How a client may prove who it is (RFC 7030 §3.2.3, §3.3.2). */
enum auth_method { AUTH_METHOD_DIGEST, AUTH_METHOD_BASIC, AUTH_METHOD_CERT,
	AUTH_METHOD_MAX };
#define AUTH_BIT(m)	(1u << (m))

struct cfg_auth {
	char		*realm;
	char		*nonce_secret_file;
	unsigned char	*nonce_secret;	/* its bytes; wiped on free */
	size_t		 nonce_secret_len;
	long		 nonce_lifetime;	/* seconds */
	long		 replay_slots;
	char		*digest_users;		/* htdigest file */
	char		*basic_users;		/* htpasswd file */
	long		 basic_workers;		/* threads for bcrypt */
	long		 max_failures;		/* per address, per user */
	long		 failure_window;	/* seconds */
	long		 failure_slots;
	/* Digest challenge order: enum digest_alg values, MD5 or SHA-256;
	 * ndigest_algs 0: automatic (auth.c). Only these are accepted. */
	int		 digest_algs[2];
	size_t		 ndigest_algs;
	int		 digest_uri_without_label;	/* libest's uri */
};

struct cfg_limits {
	long	 max_header_bytes;
	long	 max_body_bytes;
	long	 read_timeout_ms;
	long	 idle_timeout_ms;
	long	 max_headers;		/* header fields in a request */
	long	 handshake_timeout_ms;	/* accept to TLS handshake done */
	long	 max_connections;	/* open at once, in all */
	long	 max_connections_per_address;	/* 0: no limit */
};

struct cfg_upstream {
	char	*name;
	char	*url;			/* urls[0] */
	char	**urls;			/* bases, ending in /.well-known/est,
					 * tried in order, breakers permitting */
	size_t	 nurls;
	char	*ca_bundle;		/* trust anchors for the CA's cert */
	char	*client_certificate;	/* the RA certificate (RFC 7030 §3.7) */
	char	*client_key;
	enum upstream_auth auth;
	char	*username;
	char	*password_file;
	char	*password;		/* read from password_file; wiped */
	long	 connect_timeout_ms;
	long	 timeout_ms;
	enum upstream_concurrency concurrency;
	long	 max_in_flight;		/* per URL; adaptive: the ceiling */
	long	 max_waiting;		/* requests waiting for a slot */
	long	 max_wait_ms;		/* longest wait for a slot */
	long	 max_response_bytes;
	long	 retry_after;		/* seconds, the least on a busy 503 */
	long	 backoff_initial_ms;	/* a failed URL's first wait */
	long	 backoff_max_ms;
	long	 failure_threshold;	/* failures in a row: URL skipped */
};

/* cacerts/csrattrs kept per label (cache.c); on when the section is. */
struct cfg_cache {
	int	 enabled;
	long	 ttl;			/* seconds fresh */
	long	 max_stale;		/* seconds served while the CA fails */
};

/* Store and forward (queue.c); on when the section is. */
struct cfg_queue {
	int	 enabled;
	long	 retry_after;		/* seconds, in the client's 202 */
	long	 max_entries;		/* waiting at once; beyond: 503 */
	long	 expire;		/* seconds an entry is kept */
	long	 max_forwarding;	/* forwarder transfers at once */
	long	 poll_interval;		/* seconds, a 202 CA without
					 * Retry-After */
};

/* Where shared state lives (config_offline.c; pg.h): SQLite in
 * state_dir, or PostgreSQL shared by replicas. */
enum store_backend { STORE_SQLITE, STORE_POSTGRESQL, STORE_BACKEND_MAX };
enum store_sslmode { STORE_SSL_DISABLE, STORE_SSL_REQUIRE,
	STORE_SSL_VERIFY_CA, STORE_SSL_VERIFY_FULL, STORE_SSLMODE_MAX };

struct cfg_store {
	int	 enabled;		/* a "store" section is present */
	int	 backend;		/* enum store_backend */
	char	*conninfo;		/* libpq's, without password/ssl */
	char	*password_file;
	char	*password;		/* its first line; wiped on free */
	int	 sslmode_index;		/* enum store_sslmode */
	const char *sslmode;		/* its libpq name */
	char	*ssl_root_cert;
	long	 connections;		/* per process */
	long	 timeout;		/* seconds: connect, and a query */
	long	 lease;			/* seconds a queue claim holds */
};

/* EST over CoAP (RFC 9148, docs/coap.md): a DTLS listener beside the
 * HTTPS one, with the "tls" section's certificate, key and client trust. */
struct cfg_coap {
	int	 enabled;		/* a "coap" section is present */
	char	*listen;		/* "127.0.0.1:5684" */
	long	 max_sessions;		/* DTLS sessions at once */
	long	 max_sessions_per_address;
	long	 handshake_timeout_ms;
	long	 idle_timeout_ms;
	long	 max_body_bytes;	/* a Block1 body, reassembled */
	long	 max_block_sequences;	/* unfinished Block1 bodies */
	long	 max_block_sequences_per_session;
	long	 block_timeout_ms;	/* an unfinished one's life */
};

/* The operator's side (config_ops.c): logs, admin listener, privileges. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_MAX };

struct cfg_admin {
	int	 enabled;		/* an "admin" section is present */
	char	*listen;		/* "127.0.0.1:9090" by default */
	char	*certificate;		/* optional TLS */
	char	*key;
	long	 max_connections;	/* open at once; more are closed */
	long	 timeout_ms;		/* accept or answer to next request */
};

struct policy;

struct cfg_policy {
	char		*name;
	struct policy	*policy;	/* compiled, owned */
};

struct cfg_audit {
	char	*file;			/* JSON lines appended; NULL: none */
	int	 to_stderr;		/* the same lines on stderr */
};

struct cfg_localca {
	char	*name;
	char	*certificate;		/* the issuing CA certificate */
	char	*key;
	char	*chain;			/* CA chain for cacerts, root included */
	long	 validity_days;
};

enum route_backend { ROUTE_BACKEND_UPSTREAM, ROUTE_BACKEND_LOCAL_CA };

struct cfg_route {
	char	*label;			/* NULL for the bare path */
	enum route_backend backend;
	size_t	 upstream;		/* index into config.upstreams */
	char	*upstream_label;	/* label at the CA, NULL for none */
	size_t	 local_ca;		/* index into config.local_cas */
	unsigned auth[EST_OP_MAX];	/* AUTH_BITs that suffice; 0: open */
	unsigned refused;		/* 1u << op: "refuse", answered 501 */
	const struct policy *policy;	/* never NULL (default policy) */
	size_t	 index;			/* in config.routes */
	int	 csrattrs_from_policy;	/* else relayed from the backend */
	int	 fullcmc_passthrough;	/* forward CMC unchecked (opt-in) */
};

/* One problem found while loading: "FILE:LINE: key.path: problem". */
struct config_errors {
	char	**lines;
	size_t	 n;
};

struct config {
	int	 refs;			/* config_ref/config_unref */
	char	*path;
	int	 log_level;		/* enum log_level */
	char	**listen;		/* "host:port", "[v6]:port" */
	size_t	 nlisten;
	struct cfg_tls tls;
	struct cfg_limits limits;
	struct cfg_auth auth;
	struct cfg_upstream *upstreams;
	size_t	 nupstreams;
	struct cfg_localca *local_cas;
	size_t	 nlocal_cas;
	struct cfg_route *routes;	/* the bare path's route, if any, too */
	size_t	 nroutes;
	struct cfg_policy *policies;
	size_t	 npolicies;
	struct policy	*default_policy;	/* for routes that name none */
	struct cfg_audit audit;
	char	*state_dir;		/* queue and cache database */
	struct cfg_cache cache;
	struct cfg_queue queue;
	struct cfg_store store;
	struct cfg_coap coap;
	enum log_format log_format;
	int	 log_syslog;		/* also to syslog(3) */
	int	 syslog_facility;	/* index: log_facility_names */
	char	*user;			/* drop privileges to, after start */
	char	*group;
	int	 run_as_root;		/* explicitly allowed to stay root */
	long	 shutdown_timeout_ms;	/* SIGTERM: requests in flight */
	struct cfg_admin admin;
	/*
	 * Loaded as root with "user": the files that user could not read
	 * (or reach), which a reload after the drop reads again; same form
	 * as errors. `-n` reports them as errors, start-up as warnings.
	 */
	struct config_errors as_user;
};

/*
 * Load and validate path. Returns a new config (free with config_free), or
 * NULL with every problem appended to errs (free with
 * config_errors_clear). Reads files: start-up and reload only.
 */
struct config *config_load(const char *path, struct config_errors *errs);
void config_free(struct config *cfg);
/*
 * A loaded config starts with one reference. Requests in flight hold one
 * on the config they started under, so a reload never changes a request's
 * rules halfway; the last unref frees.
 */
struct config *config_ref(struct config *cfg);
void config_unref(struct config *cfg);
void config_errors_clear(struct config_errors *errs);

/* Requests that may be out to upstream CAs at once: every URL's
 * max_in_flight, summed (connections kept, descriptors needed). */
long config_upstream_slots(const struct config *cfg);

/* The route for label (NULL: the bare path), or NULL if none. */
const struct cfg_route *config_route(const struct config *cfg,
    const char *label);

/*
 * After a reload from old to cfg: log (warn) the keys that changed and
 * take effect only at the next restart, by name.
 */
void config_restart_notes(const struct config *old, const struct config *cfg);

#endif
