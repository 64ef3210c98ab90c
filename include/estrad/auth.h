/*
 * auth: who the client is, decided before its CSR is looked at. Each
 * route lists, per operation, the methods that suffice (digest, basic,
 * cert); none listed means open. A verified client certificate satisfies
 * "cert" without any HTTP authentication. Failures are counted per
 * address and per user; past the limit the answer is 429 until the
 * window ends.
 *
 * Digest and certificate checks finish at once; Basic (bcrypt) runs on a
 * worker thread and finishes later through the callback. With the shared
 * store (auth_use_store), Digest and Basic attempts with credentials
 * finish later too, once the database has answered.
 */
#ifndef ESTRAD_AUTH_H
#define ESTRAD_AUTH_H

#include <event2/event.h>
#include <openssl/x509.h>

#include "estrad/config.h"
#include "estrad/digest.h"
#include "estrad/reply.h"

struct auth_ctx;
struct auth_job;

struct auth_identity {
	enum auth_method	 method;	/* AUTH_METHOD_MAX: anonymous */
	char			 name[256];	/* user, or certificate subject */
};

/* What one request offers. */
struct auth_subject {
	const char	*method;	/* "GET", "POST" */
	const char	*uri;		/* the request target, as sent */
	const char	*authorization;	/* the header, or NULL */
	const char	*peer_addr;	/* address only, for the limiter */
	X509		*peer_cert;	/* a verified client certificate */
	unsigned	 allowed;	/* AUTH_BITs; 0: open */
};

enum auth_verdict { AUTH_ALLOW, AUTH_DENY, AUTH_PENDING };

/* For AUTH_PENDING: called once on the event loop, unless cancelled. */
typedef void (*auth_done_cb)(void *arg, enum auth_verdict verdict,
    struct est_reply *denial, const struct auth_identity *id);

/* NULL with a reason in err (a user file that does not load, ...). */
struct auth_ctx *auth_new(struct event_base *base, const struct config *cfg,
    char *err, size_t errlen);
void auth_free(struct auth_ctx *ctx);

struct pg;
/*
 * The replicas share their state on pg (store.backend "postgresql"):
 * failed-login counts and Digest nonce uses live there, each attempt
 * with credentials costing one query (auth_shared.c), and a timer
 * deletes the rows whose time is over. pg NULL: this process's memory,
 * as before. Call once, before the first auth_check.
 */
void auth_use_store(struct auth_ctx *ctx, struct pg *pg);

/* Reload the user files (SIGHUP). A file that fails keeps the old set. */
void auth_reload_users(struct auth_ctx *ctx);

/*
 * Decide. AUTH_ALLOW fills *id; AUTH_DENY fills *denial (401 with
 * challenges, 403, 429 with Retry-After, or 503); AUTH_PENDING sets *job,
 * and done(arg, ...) follows later.
 */
enum auth_verdict auth_check(struct auth_ctx *ctx,
    const struct auth_subject *subj, struct auth_identity *id,
    struct est_reply *denial, auth_done_cb done, void *arg,
    struct auth_job **job);
/* The request is gone: no callback will follow. */
void auth_cancel(struct auth_job *job);

const char *auth_method_name(enum auth_method m);	/* "-" for MAX */

struct users;
/*
 * The Digest challenges' order: a->digest_algs if set, else both, MD5
 * first unless users (NULL: none) all have a SHA-256 HA1 and some lack
 * an MD5 one. Pure; fills out[0..*n).
 */
void auth_digest_order(const struct cfg_auth *a, const struct users *users,
    enum digest_alg out[2], size_t *n);
/*
 * "/.well-known/est/LABEL/OP" -> "/.well-known/est/OP" in out (outlen
 * bytes). Pure. -1 for a target with no label (or a query), or too long.
 */
int auth_uri_without_label(const char *uri, char *out, size_t outlen);

/*
 * The credentials of a Basic Authorization value ("Basic" and base64 of
 * "user:password", RFC 7617; base64 read as b64_decode_lenient() does).
 * Pure. 0 with the user name in user (usersize bytes, NUL-terminated; no
 * colon, at most usersize - 1 bytes or it is refused) and a malloc'd
 * NUL-terminated *password of *password_size bytes (free it with
 * OPENSSL_clear_free); -1 with a static one-line *reason, *password NULL.
 * Credentials holding a NUL byte or no colon are refused.
 */
int auth_basic_decode(const char *value, char *user, size_t usersize,
    char **password, size_t *password_size, const char **reason);

#endif
