/*
 * auth_shared: Digest and Basic authentication when the replicas share
 * their state on PostgreSQL (store.backend "postgresql", docs/scaling.md).
 * The checks that need no state are auth.c's and run first; then one
 * statement (shared.c) does what the memory of one process did:
 *
 *   - Digest, right response: record the (nonce, nc) use (a pair used on
 *     any replica is a replay on every other, RFC 7616 §3.3) and read
 *     whether the address or the user is blocked;
 *   - Digest or Basic, a failure: count it (address, and user when a
 *     password was checked for the name) and read the block;
 *   - Basic, before the bcrypt check: read the block and count the
 *     attempt ahead (forgiven once it passes), as auth.c does.
 *
 * So every attempt with credentials costs one round trip and waits for
 * it: a blocked client is told 429 whether its password is right or not,
 * as in auth.c (a 401 for a wrong password and a 429 for the right one
 * would tell a guesser when he had found it). A request without
 * credentials gets its challenge without asking the store.
 *
 * The store away (no connection, or the query fails): 503 with
 * Retry-After, never the request let through unchecked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/pg.h"
#include "estrad/shared.h"

#include "auth_int.h"

#define AUTH_SWEEP_SECONDS	60
/*
 * A use is kept this long past the nonce's lifetime. The nonce's age is
 * judged by the replica's clock, the row's end by the database's: ten
 * minutes cover a replica whose clock runs that far behind (more than
 * digest_nonce.c's 60 s of NONCE_SKEW ahead), so a swept use is never one
 * a replica would still accept.
 */
#define AUTH_NONCE_KEEP_SLACK	600

/* ---- answers -------------------------------------------------------------- */

static void
auth_shared_away(struct auth_ctx *ctx, struct est_reply *r)
{
	metrics_store_refusal("auth");
	auth_deny(r, SHARED_AWAY_STATUS, SHARED_AWAY_REASON);
	snprintf(r->retry_after, sizeof(r->retry_after), "%ld",
	    pg_retry_after(ctx->ac_pg));
}

static enum auth_verdict
auth_shared_blocked(struct est_reply *r, long wait)
{
	auth_deny(r, 429, "too many failed attempts; retry later");
	snprintf(r->retry_after, sizeof(r->retry_after), "%ld", wait);
	return AUTH_DENY;
}

static enum auth_verdict
auth_shared_401(struct auth_job *job, struct est_reply *r,
    const char *reason, int stale)
{
	if (!stale)
		metrics_auth_failure(job->aj_scheme);
	auth_deny(r, 401, reason);
	auth_challenges(job->aj_ctx, job->aj_allowed, stale, r);
	return AUTH_DENY;
}

/*
 * What the store's answer means for job (not for AUTH_WAIT_BASIC): the
 * verdict, with *r or job->aj_id filled.
 */
static enum auth_verdict
auth_shared_verdict(struct auth_job *job, const PGresult *res,
    struct est_reply *r)
{
	struct auth_ctx		*ctx = job->aj_ctx;
	struct shared_login	 got;
	char			 a[SHARED_NAME_MAX];

	if (res == NULL) {
		auth_shared_away(ctx, r);
		return AUTH_DENY;
	}
	shared_login_read(res, &got);
	if (got.wait > 0)
		return auth_shared_blocked(r, got.wait);
	switch (job->aj_wait) {
	case AUTH_WAIT_FAIL:
		return auth_shared_401(job, r, job->aj_reason, 0);
	case AUTH_WAIT_STALE:
		/* Right password, old nonce: retry with a fresh one. */
		return auth_shared_401(job, r, "nonce expired", 1);
	default:
		break;
	}
	if (!got.fresh) {
		/* The response was right: whoever replays it knows no
		 * password. Counted against the address, not waited for. */
		if (shared_login_name(a, sizeof(a), 'a',
		    job->aj_peer_addr) == 0)
			shared_count(ctx->ac_pg, a, NULL,
			    ctx->ac_cfg->auth.failure_window);
		return auth_shared_401(job, r, "Digest nonce count replayed",
		    0);
	}
	return AUTH_ALLOW;
}

/* The store answered (or failed) a job: on the loop. */
static void
auth_shared_done(void *arg, const PGresult *res, const char *err)
{
	struct auth_job		*job = arg;
	struct est_reply	 r;
	enum auth_verdict	 v;
	const char		*hash;

	job->aj_query = NULL;
	if (res == NULL)
		log_debug("auth: shared store: %s", err);
	memset(&r, 0, sizeof(r));
	if (job->aj_wait == AUTH_WAIT_BASIC && res != NULL) {
		struct shared_login got;

		shared_login_read(res, &got);
		if (got.wait > 0) {
			v = auth_shared_blocked(&r, got.wait);
		} else if ((hash = auth_basic_hash(job->aj_ctx, job)) == NULL) {
			v = auth_shared_401(job, &r,
			    "wrong user name or password", 0);
		} else {
			/* The check goes on on a worker (auth.c). */
			job->aj_wait = AUTH_WAIT_NONE;
			if (auth_basic_submit(job->aj_ctx, job, hash, &r) == 0)
				return;
			/* Busy (r the 503): the count ahead is taken back. */
			auth_shared_forgive(job->aj_ctx, job->aj_peer_addr,
			    job->aj_user);
			v = AUTH_DENY;
		}
	} else {
		v = auth_shared_verdict(job, res, &r);
	}
	job->aj_done(job->aj_arg, v, &r, v == AUTH_ALLOW ? &job->aj_id : NULL);
	est_reply_clear(&r);
	auth_job_free(job);
}

/*
 * Send job's statement. AUTH_PENDING with *out set, or AUTH_DENY with r
 * the 503 (no connection up) and job freed.
 */
static enum auth_verdict
auth_shared_send(struct auth_job *job, const struct shared_login_args *a,
    struct est_reply *r, struct auth_job **out)
{
	struct auth_ctx *ctx = job->aj_ctx;

	if (shared_login(ctx->ac_pg, a, auth_shared_done, job,
	    &job->aj_query) == -1) {
		auth_job_free(job);
		auth_shared_away(ctx, r);
		return AUTH_DENY;
	}
	*out = job;
	return AUTH_PENDING;
}

/* A job for subject s, answering done(arg). NULL: out of memory. */
static struct auth_job *
auth_shared_job(struct auth_ctx *ctx, const struct auth_subject *s,
    auth_done_cb done, void *arg, const char *scheme)
{
	struct auth_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	job->aj_ctx = ctx;
	job->aj_allowed = s->allowed;
	job->aj_done = done;
	job->aj_arg = arg;
	job->aj_scheme = scheme;
	snprintf(job->aj_peer_addr, sizeof(job->aj_peer_addr), "%s",
	    s->peer_addr);
	return job;
}

/* Names a (the address) and u (user, "" for none) for the statement. */
struct auth_names {
	char	a[SHARED_NAME_MAX];
	char	u[SHARED_NAME_MAX];
};

static int
auth_shared_names(struct auth_names *n, const char *addr, const char *user)
{
	n->u[0] = '\0';
	if (shared_login_name(n->a, sizeof(n->a), 'a', addr) == -1)
		return -1;
	if (user != NULL && *user != '\0' &&
	    shared_login_name(n->u, sizeof(n->u), 'u', user) == -1)
		return -1;
	return 0;
}

static void
auth_shared_args(const struct auth_ctx *ctx, const struct auth_names *n,
    struct shared_login_args *a)
{
	memset(a, 0, sizeof(*a));
	a->check_a = n->a;
	a->check_u = n->u[0] != '\0' ? n->u : NULL;
	a->max = ctx->ac_cfg->auth.max_failures;
	a->window = ctx->ac_cfg->auth.failure_window;
}

static enum auth_verdict
auth_shared_oom(struct auth_job *job, struct est_reply *r)
{
	free(job);
	est_reply_error(r, 500, "internal error");
	return AUTH_DENY;
}

/* ---- methods -------------------------------------------------------------- */

enum auth_verdict
auth_shared_digest(struct auth_ctx *ctx, const struct auth_subject *s,
    struct est_reply *r, auth_done_cb done, void *arg, struct auth_job **out)
{
	struct digest_auth		 d;
	struct shared_login_args	 a;
	struct auth_names		 n;
	struct auth_job			*job;
	enum nonce_verdict		 nv = NONCE_OK;
	int				 counted = 0, parsed;

	if ((job = auth_shared_job(ctx, s, done, arg, "digest")) == NULL)
		return auth_shared_oom(job, r);
	parsed = digest_parse(s->authorization, &d, &job->aj_reason) == 0;
	if (parsed)
		job->aj_reason = auth_digest_judge(ctx, s, &d, &nv, &counted);
	if (auth_shared_names(&n, s->peer_addr, parsed ? d.username : NULL)
	    == -1)
		return auth_shared_oom(job, r);
	auth_shared_args(ctx, &n, &a);
	if (job->aj_reason != NULL) {
		job->aj_wait = AUTH_WAIT_FAIL;
		a.count_a = a.check_a;
		a.count_u = counted ? a.check_u : NULL;
	} else if (nv == NONCE_STALE) {
		job->aj_wait = AUTH_WAIT_STALE;
	} else {
		job->aj_wait = AUTH_WAIT_DIGEST;
		job->aj_id.method = AUTH_METHOD_DIGEST;
		snprintf(job->aj_id.name, sizeof(job->aj_id.name), "%s",
		    d.username);
		a.nonce = d.nonce;
		a.nc = d.nc_value;
		a.keep = ctx->ac_cfg->auth.nonce_lifetime +
		    AUTH_NONCE_KEEP_SLACK;
	}
	return auth_shared_send(job, &a, r, out);
}

enum auth_verdict
auth_shared_basic(struct auth_ctx *ctx, const struct auth_subject *s,
    struct est_reply *r, auth_done_cb done, void *arg, struct auth_job **out)
{
	struct shared_login_args	 a;
	struct auth_names		 n;
	struct auth_job			*job;
	const char			*reason;

	if ((job = auth_basic_job(s->authorization, &reason)) == NULL) {
		/* Malformed: counted against the address, once it is read. */
		if ((job = auth_shared_job(ctx, s, done, arg, "basic")) ==
		    NULL)
			return auth_shared_oom(job, r);
		job->aj_wait = AUTH_WAIT_FAIL;
		job->aj_reason = reason;
	} else {
		job->aj_ctx = ctx;
		job->aj_allowed = s->allowed;
		job->aj_done = done;
		job->aj_arg = arg;
		job->aj_scheme = "basic";
		job->aj_wait = AUTH_WAIT_BASIC;
		snprintf(job->aj_peer_addr, sizeof(job->aj_peer_addr), "%s",
		    s->peer_addr);
	}
	if (auth_shared_names(&n, s->peer_addr, job->aj_user) == -1) {
		auth_job_free(job);
		est_reply_error(r, 500, "internal error");
		return AUTH_DENY;
	}
	auth_shared_args(ctx, &n, &a);
	/* Counted now, forgiven on success (auth_basic_done): parallel
	 * guesses on any replica cannot all pass before one fails. */
	a.count_a = a.check_a;
	a.count_u = job->aj_wait == AUTH_WAIT_BASIC ? a.check_u : NULL;
	return auth_shared_send(job, &a, r, out);
}

void
auth_shared_forgive(struct auth_ctx *ctx, const char *addr,
    const char *user)
{
	struct auth_names n;

	if (auth_shared_names(&n, addr, user) == 0)
		shared_forgive(ctx->ac_pg, n.a, n.u[0] != '\0' ? n.u : NULL);
}

void
auth_shared_cancel(struct auth_job *job)
{
	pg_cancel(job->aj_query);
	auth_job_free(job);
}

/* ---- the sweep --------------------------------------------------------------- */

static void
auth_shared_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct auth_ctx *ctx = arg;

	(void)fd;
	(void)what;
	if (pg_available(ctx->ac_pg))
		shared_sweep(ctx->ac_pg);
}

void
auth_use_store(struct auth_ctx *ctx, struct pg *pg)
{
	struct timeval every = { AUTH_SWEEP_SECONDS, 0 };

	if (pg == NULL)
		return;
	ctx->ac_pg = pg;
	/* Every replica sweeps: any one suffices, and two that meet
	 * delete nothing twice. */
	if ((ctx->ac_sweep = event_new(ctx->ac_base, -1, EV_PERSIST,
	    auth_shared_sweep, ctx)) != NULL)
		event_add(ctx->ac_sweep, &every);
	else
		log_warn("auth: no timer for the shared store's sweep");
}

void
auth_shared_stop(struct auth_ctx *ctx)
{
	if (ctx->ac_sweep != NULL)
		event_free(ctx->ac_sweep);
	ctx->ac_sweep = NULL;
}
