/*
 * shared: the counters and Digest nonce uses that replicas on one
 * PostgreSQL database share (docs/scaling.md, "What the replicas
 * share"): failed logins per address and user (limiter.c's semantics),
 * the policy rate per identity, and each (nonce, nc) pair used. Each
 * check is one statement, so one round trip; times are the database's
 * (estrad_now()), so the replicas' clocks never have to agree.
 *
 * The statements are sent through pg.c; the callers own the queries and
 * read the results with the helpers below. The name builders are pure.
 */
#ifndef ESTRAD_SHARED_H
#define ESTRAD_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "estrad/pg.h"

/* The one-line reason and the status of an answer without the store. */
#define SHARED_AWAY_REASON	"the shared store is unreachable; retry later"
#define SHARED_AWAY_STATUS	503

/* Room for any name below: a user name (255 bytes) each byte escaped. */
#define SHARED_NAME_MAX		1024

/*
 * A failed-login counter's name: "a:ADDR" (addr) or "u:USER" (user), as
 * limiter.c's keys. Bytes outside printable ASCII, and '%', are written
 * %XX: a name is valid text for the database whatever a client sent (a
 * user name that is not UTF-8 would make the statement fail), and two
 * keys never share a name. -1 when it does not fit in outlen.
 */
int shared_login_name(char *out, size_t outlen, char kind, const char *what);
/*
 * A policy rate counter's name: "rate:LABEL:KEY", LABEL "" for the route
 * without a label, KEY escaped as above. Labels never hold ':'
 * (router.c), and failed-login names start "a:" or "u:", so no two
 * routes, and no login counter, share a row. -1 when it does not fit.
 */
int shared_rate_name(char *out, size_t outlen, const char *label,
    const char *key);

/* What one login check says (shared_login_read). */
struct shared_login {
	int	fresh;	/* the (nonce, nc) pair was used for the first time */
	long	wait;	/* > 0: a name checked is blocked this many seconds */
};

/*
 * One login check, in one statement:
 *   - record the use of (nonce, nc) when nonce is not NULL (kept for
 *     keep seconds: the nonce's lifetime and the clock skew allowed);
 *   - count one failure against each of count_a and count_u (either
 *     NULL: none), in windows of window seconds;
 *   - read whether check_a or check_u (either NULL) had failed max times
 *     within a window that has not ended, before this statement.
 * The failure counts are limiter.c's: a window starts at the first
 * failure, and a name is blocked from its max'th failure until the
 * window ends. Returns pg_query's value.
 */
struct shared_login_args {
	const char	*nonce;
	unsigned long	 nc;
	long		 keep;
	const char	*count_a, *count_u;
	const char	*check_a, *check_u;
	long		 max, window;
};
int shared_login(struct pg *pg, const struct shared_login_args *a,
    pg_done_fn done, void *arg, struct pg_query **q);
void shared_login_read(const PGresult *res, struct shared_login *out);

/*
 * Take back one failure of each name (a Basic attempt counted ahead that
 * succeeded). Sent and not waited for: a failure is logged, once.
 */
void shared_forgive(struct pg *pg, const char *a, const char *u);
/* Count one failure of each name (either NULL), not waited for. */
void shared_count(struct pg *pg, const char *a, const char *u,
    long window);

/*
 * One enrollment against rate counter name (at most max per window
 * seconds), one statement: the count with this one, and the seconds
 * until the window ends (shared_rate_read).
 */
int shared_rate(struct pg *pg, const char *name, long window,
    pg_done_fn done, void *arg, struct pg_query **q);
void shared_rate_read(const PGresult *res, int64_t *count, long *wait);

/* Delete the nonce uses expired and the counters whose windows ended
 * (any replica may; every minute one does). Not waited for. */
void shared_sweep(struct pg *pg);

#endif
