/*
 * shared: the group's failed-login counters, policy rate windows and
 * Digest nonce uses, one statement per check (shared.h).
 *
 * A counter row is limiter.c's slot: window_start..window_end is the
 * window that the first failure (or enrollment) opened, count what fell
 * in it. The upsert starts a new window when the old one has ended, or
 * when forgiveness took the count back to 0, exactly as limiter_fail
 * does. Rows left behind are deleted by shared_sweep; one not yet swept
 * is harmless, its window having ended.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/log.h"
#include "estrad/shared.h"

/* The upsert of one failure or enrollment, the window in parameter W. */
#define SHARED_RESTART \
    "c.window_end <= estrad_now() OR c.count <= 0"
#define SHARED_UPSERT(W) \
    " ON CONFLICT (name) DO UPDATE SET" \
    " window_start = CASE WHEN " SHARED_RESTART \
    " THEN estrad_now() ELSE c.window_start END," \
    " window_end = CASE WHEN " SHARED_RESTART \
    " THEN estrad_now() + " W " ELSE c.window_end END," \
    " count = CASE WHEN " SHARED_RESTART " THEN 1 ELSE c.count + 1 END"

/*
 * The main SELECT reads the snapshot taken before the statement, so the
 * block it sees is the one before this statement's own failures (the
 * data-modifying CTEs run whether read or not). An (nonce, nc) pair
 * inserted by two replicas at once: one inserts, the other waits for it
 * and finds the conflict.
 */
static const char shared_login_sql[] =
    "WITH n AS (INSERT INTO estrad_nonce (nonce, nc, expires)"
    " SELECT $1::text, $2::bigint, estrad_now() + $3::bigint"
    " WHERE $1::text IS NOT NULL ON CONFLICT DO NOTHING RETURNING 1),"
    " up AS (INSERT INTO estrad_counter AS c"
    " (name, window_start, window_end, count)"
    " SELECT x, estrad_now(), estrad_now() + $8::bigint, 1"
    " FROM (VALUES ($4::text), ($5::text)) v(x) WHERE x IS NOT NULL"
    SHARED_UPSERT("$8::bigint") " RETURNING 1)"
    " SELECT (SELECT count(*) FROM n) AS fresh,"
    " (SELECT count(*) FROM up) AS counted,"
    " coalesce((SELECT max(window_end - estrad_now()) FROM estrad_counter"
    " WHERE name IN ($6::text, $7::text) AND count >= $9::bigint"
    " AND window_end > estrad_now()), 0) AS wait";

static const char shared_rate_sql[] =
    "INSERT INTO estrad_counter AS c (name, window_start, window_end, count)"
    " VALUES ($1::text, estrad_now(), estrad_now() + $2::bigint, 1)"
    SHARED_UPSERT("$2::bigint")
    " RETURNING count, window_end - estrad_now() AS wait";

static const char shared_forgive_sql[] =
    "UPDATE estrad_counter SET count = count - 1"
    " WHERE name IN ($1::text, $2::text) AND count > 0";

static const char shared_sweep_sql[] =
    "WITH n AS (DELETE FROM estrad_nonce WHERE expires < estrad_now()"
    " RETURNING 1), c AS (DELETE FROM estrad_counter"
    " WHERE window_end < estrad_now() RETURNING 1)"
    " SELECT (SELECT count(*) FROM n) AS nonces,"
    " (SELECT count(*) FROM c) AS counters";

/* prefix, then what with its bytes outside '!'..'~' and '%' as %XX. */
static int
shared_name(char *out, size_t outlen, const char *prefix, const char *what)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o;

	if ((o = strlen(prefix)) >= outlen)
		return -1;
	memcpy(out, prefix, o);
	for (const unsigned char *p = (const unsigned char *)what; *p != '\0';
	    p++) {
		if (*p > ' ' && *p < 0x7f && *p != '%') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)*p;
			continue;
		}
		if (o + 3 >= outlen)
			return -1;
		out[o++] = '%';
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 0xf];
	}
	out[o] = '\0';
	return 0;
}

int
shared_login_name(char *out, size_t outlen, char kind, const char *what)
{
	char prefix[3] = { kind, ':', '\0' };

	return shared_name(out, outlen, prefix, what);
}

int
shared_rate_name(char *out, size_t outlen, const char *label,
    const char *key)
{
	char	prefix[128];
	int	n = snprintf(prefix, sizeof(prefix), "rate:%s:",
	    label ? label : "");

	if (n < 0 || (size_t)n >= sizeof(prefix))
		return -1;
	return shared_name(out, outlen, prefix, key);
}

/*
 * A write nobody waits for: its failure is logged once until one
 * succeeds again (a database away is said by pg.c and /readyz already).
 * The flag is log state, like the log level: one per process.
 */
static int shared_unsaid = 1;

static void
shared_written(void *arg, const PGresult *res, const char *err)
{
	const char *what = arg;

	if (res != NULL) {
		shared_unsaid = 1;
		return;
	}
	if (shared_unsaid)
		log_warn("shared store: %s not written: %s", what, err);
	shared_unsaid = 0;
}

static void
shared_send(struct pg *pg, const char *sql, const struct pg_param *p,
    int np, const char *what)
{
	struct pg_query *q;

	if (pg_query(pg, sql, p, np, shared_written, (void *)what, &q) == -1)
		shared_written((void *)what, NULL, pg_why(pg));
}

int
shared_login(struct pg *pg, const struct shared_login_args *a,
    pg_done_fn done, void *arg, struct pg_query **q)
{
	char		nc[24], keep[24], window[24], max[24];
	struct pg_param	p[9];

	snprintf(nc, sizeof(nc), "%lu", a->nc);
	snprintf(keep, sizeof(keep), "%ld", a->keep);
	snprintf(window, sizeof(window), "%ld", a->window);
	snprintf(max, sizeof(max), "%ld", a->max);
	memset(p, 0, sizeof(p));
	p[0].value = a->nonce;
	p[1].value = nc;
	p[2].value = keep;
	p[3].value = a->count_a;
	p[4].value = a->count_u;
	p[5].value = a->check_a;
	p[6].value = a->check_u;
	p[7].value = window;
	p[8].value = max;
	return pg_query(pg, shared_login_sql, p, 9, done, arg, q);
}

void
shared_login_read(const PGresult *res, struct shared_login *out)
{
	out->fresh = pg_int(res, 0, "fresh") > 0;
	out->wait = (long)pg_int(res, 0, "wait");
}

void
shared_forgive(struct pg *pg, const char *a, const char *u)
{
	struct pg_param p[2];

	memset(p, 0, sizeof(p));
	p[0].value = a;
	p[1].value = u;
	shared_send(pg, shared_forgive_sql, p, 2, "a failed login forgiven");
}

void
shared_count(struct pg *pg, const char *a, const char *u, long window)
{
	struct shared_login_args	args;
	struct pg_query			*q;

	memset(&args, 0, sizeof(args));
	args.count_a = a;
	args.count_u = u;
	args.window = window;
	args.max = 1;
	if (shared_login(pg, &args, shared_written,
	    (void *)"a failed login count", &q) == -1)
		shared_written((void *)"a failed login count", NULL,
		    pg_why(pg));
}

int
shared_rate(struct pg *pg, const char *name, long window, pg_done_fn done,
    void *arg, struct pg_query **q)
{
	char		w[24];
	struct pg_param	p[2];

	snprintf(w, sizeof(w), "%ld", window);
	memset(p, 0, sizeof(p));
	p[0].value = name;
	p[1].value = w;
	return pg_query(pg, shared_rate_sql, p, 2, done, arg, q);
}

void
shared_rate_read(const PGresult *res, int64_t *count, long *wait)
{
	*count = pg_int(res, 0, "count");
	*wait = (long)pg_int(res, 0, "wait");
	if (*wait < 1)
		*wait = 1;	/* the window ends within this second */
}

void
shared_sweep(struct pg *pg)
{
	shared_send(pg, shared_sweep_sql, NULL, 0, "the sweep of old rows");
}
