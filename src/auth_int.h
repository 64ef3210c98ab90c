/*
 * auth_int: what auth.c (the checks, and the counters in this process's
 * memory) and auth_shared.c (the same checks against the counters and
 * nonce uses the replicas share on PostgreSQL) have in common. Not for
 * other modules.
 */
#ifndef ESTRAD_AUTH_INT_H
#define ESTRAD_AUTH_INT_H

#include <event2/event.h>

#include "estrad/auth.h"
#include "estrad/digest.h"

struct pg;
struct pg_query;

struct auth_ctx {
	const struct config	*ac_cfg;
	struct digest_nonces	*ac_nonces;
	struct users		*ac_digest_users;	/* NULL: none */
	enum digest_alg		 ac_algs[2];	/* challenge order */
	size_t			 ac_nalgs;
	struct users		*ac_basic_users;
	struct limiter		*ac_limiter;	/* unused with ac_pg */
	struct worker		*ac_worker;		/* for Basic only */
	struct event_base	*ac_base;
	struct pg		*ac_pg;		/* the shared store, or NULL */
	struct event		*ac_sweep;	/* with ac_pg: old rows out */
};

/* What a job waiting for the shared store learns from it (auth_shared.c). */
enum auth_wait {
	AUTH_WAIT_NONE,		/* a Basic check on a worker thread */
	AUTH_WAIT_FAIL,		/* 401 aj_reason, unless blocked */
	AUTH_WAIT_STALE,	/* 401 stale=true, unless blocked */
	AUTH_WAIT_DIGEST,	/* allow, unless blocked or replayed */
	AUTH_WAIT_BASIC		/* to the worker, unless blocked */
};

/* A check in flight: a Basic one on a worker thread, or any waiting for
 * the shared store (aj_query). */
struct auth_job {
	struct auth_ctx		*aj_ctx;
	char			*aj_hash;	/* copies: the worker never */
	char			*aj_password;	/* touches shared state */
	size_t			 aj_password_size;	/* to wipe it all */
	int			 aj_decoy;	/* unknown user: must fail */
	char			 aj_user[256];
	char			 aj_peer_addr[80];
	unsigned		 aj_allowed;
	int			 aj_ok;		/* written by the worker */
	int			 aj_cancelled;
	auth_done_cb		 aj_done;
	void			*aj_arg;
	enum auth_wait		 aj_wait;
	struct pg_query		*aj_query;	/* waiting for the store */
	const char		*aj_reason;	/* static; AUTH_WAIT_FAIL */
	const char		*aj_scheme;	/* "digest", "basic" */
	struct auth_identity	 aj_id;		/* AUTH_WAIT_DIGEST */
};

/* auth.c */
void auth_challenges(struct auth_ctx *ctx, unsigned allowed, int stale,
    struct est_reply *r);
enum auth_verdict auth_deny(struct est_reply *r, int status,
    const char *reason);
void auth_job_free(struct auth_job *job);
/* Split "Basic base64(user:password)"; returns a job or NULL (*reason). */
struct auth_job *auth_basic_job(const char *value, const char **reason);
/* The hash job's user is checked against, or NULL (no users at all);
 * sets aj_decoy for an unknown user. */
const char *auth_basic_hash(struct auth_ctx *ctx, struct auth_job *job);
/* Hand job to a worker thread (it owns a copy of hash). 0, or -1 with
 * r the 503 of a busy worker (job still the caller's). */
int auth_basic_submit(struct auth_ctx *ctx, struct auth_job *job,
    const char *hash, struct est_reply *r);
/*
 * The Digest checks after parsing, in order: the algorithm offered, the
 * realm, the uri, the nonce genuine (*nv: OK or STALE), the response.
 * NULL when all pass, else the 401's reason, *user_counted set when the
 * failure was a password checked for a's user (auth.c's opening comment).
 */
const char *auth_digest_judge(struct auth_ctx *ctx,
    const struct auth_subject *s, const struct digest_auth *a,
    enum nonce_verdict *nv, int *user_counted);

/* auth_shared.c: the same decisions on the shared store (auth_check
 * calls these when ac_pg is set). */
enum auth_verdict auth_shared_digest(struct auth_ctx *ctx,
    const struct auth_subject *s, struct est_reply *r, auth_done_cb done,
    void *arg, struct auth_job **out);
enum auth_verdict auth_shared_basic(struct auth_ctx *ctx,
    const struct auth_subject *s, struct est_reply *r, auth_done_cb done,
    void *arg, struct auth_job **out);
/* A Basic check that passed (its count ahead is taken back). */
void auth_shared_forgive(struct auth_ctx *ctx, const char *addr,
    const char *user);
/* A job waiting for the store is dropped: its query is cancelled. */
void auth_shared_cancel(struct auth_job *job);
void auth_shared_stop(struct auth_ctx *ctx);

#endif
