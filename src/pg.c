/*
 * pg: the shared store's connections on the event loop (pg.h).
 *
 * Each connection is a small state machine:
 *
 *   down --timer--> [resolving] --> connecting --PQconnectPoll OK--> ready
 *     ^                 |              |                             |
 *     +---- backoff ----+--------------+---- error, EOF, timeout ----+
 *
 * A ready connection is in pipeline mode: a query is a prepared statement
 * (prepared in the same pipeline at its first use on the connection) then
 * PQpipelineSync, so its results end with PGRES_PIPELINE_SYNC and an
 * error in one never aborts the next (each has its own sync). Results come
 * in the order sent: the in-flight list's head is always the query whose
 * results arrive next. A query with no answer within store.timeout drops
 * its connection (a database that hangs looks like one that is gone) and
 * every query it carried fails, so no request waits on it for long.
 *
 * PQconnectStartParams would resolve a host name with getaddrinfo, which
 * blocks: host names are resolved first on a worker thread (pg_dns.c),
 * and libpq gets their addresses as hostaddr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "estrad/b64.h"
#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/pg.h"
#include "pg_int.h"

#define PG_BACKOFF_MIN_MS	250
#define PG_BACKOFF_MAX_MS	5000
#define PG_INFLIGHT_MAX		1024	/* per connection: beyond, 503 */
#define PG_TICK_MS		500
#define PG_PREPARED_MAX		64	/* statements prepared per connection */

/* PC_BROKEN: failed inside pg_query; pg_conn_fail runs from the loop
 * (pc_fail), so no caller sees another query's callback run inside its
 * own pg_query call. */
enum pg_conn_state { PC_DOWN, PC_RESOLVING, PC_CONNECTING, PC_READY,
	PC_BROKEN };

struct pg_query {
	TAILQ_ENTRY(pg_query)	 pq_link;
	pg_done_fn		 pq_done;	/* NULL: cancelled */
	void			*pq_arg;
	PGresult		*pq_res;	/* its result, until the sync */
	char			 pq_err[320];
	struct timespec		 pq_sent;
};

TAILQ_HEAD(pg_queries, pg_query);

struct pg_conn {
	struct pg		*pc_pg;
	PGconn			*pc_conn;
	enum pg_conn_state	 pc_state;
	struct event		*pc_ev;		/* the socket */
	int			 pc_fd;		/* pc_ev's */
	short			 pc_what;	/* pc_ev's interest */
	struct event		*pc_retry;	/* reconnect timer */
	struct event		*pc_fail;	/* PC_BROKEN: fail from the loop */
	struct pg_dns_job	*pc_dns_job;	/* PC_RESOLVING */
	char			 pc_fail_why[700];
	long			 pc_backoff_ms;
	struct timespec		 pc_started;	/* of the connect */
	struct pg_queries	 pc_inflight;
	size_t			 pc_ninflight;
	/* The SQL texts prepared on this connection (by address: pg_query
	 * takes string literals), statement i named "e<i>". */
	const char		*pc_prepared[PG_PREPARED_MAX];
	size_t			 pc_nprepared;
	int			 pc_stale;	/* the cache is wrong: reconnect */
};

struct pg {
	struct event_base	*pg_base;
	struct cfg_store	 pg_cfg;	/* copies: a reload frees the
						 * config it came from */
	struct pg_dns		*pg_dns;	/* the hosts' names */
	struct pg_conn		*pg_conns;
	size_t			 pg_nconns;
	size_t			 pg_next;	/* round robin */
	struct event		*pg_tick;
	char			 pg_owner[128];
	char			 pg_where[256];	/* "postgresql HOST:PORT/DB",
						 * for every message */
	char			 pg_options[1024];	/* the conninfo's, and
						 * statement_timeout */
	char			 pg_why[704];
};

static void pg_conn_connect(struct pg_conn *pc);
static void pg_conn_on_io(evutil_socket_t fd, short what, void *arg);

static double
pg_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000.0 +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* ---- failing and reconnecting -------------------------------------------- */

static void
pg_query_free(struct pg_query *q)
{
	PQclear(q->pq_res);
	free(q);
}

static void
pg_conn_schedule(struct pg_conn *pc)
{
	struct timeval tv;

	tv.tv_sec = pc->pc_backoff_ms / 1000;
	tv.tv_usec = (pc->pc_backoff_ms % 1000) * 1000;
	evtimer_add(pc->pc_retry, &tv);
	pc->pc_backoff_ms = pc->pc_backoff_ms * 2 > PG_BACKOFF_MAX_MS ?
	    PG_BACKOFF_MAX_MS : pc->pc_backoff_ms * 2;
}

/*
 * The connection is lost: why (one line) goes to the log once per loss
 * and to every query it carried; a reconnect follows after the backoff.
 * The queries are taken off first, so a callback that sends again finds
 * this connection down.
 */
static void
pg_conn_fail(struct pg_conn *pc, const char *why)
{
	struct pg		*pg = pc->pc_pg;
	struct pg_queries	 failed;
	struct pg_query		*q;
	int			 was_ready = pc->pc_state == PC_READY ||
				     pc->pc_state == PC_BROKEN;

	event_del(pc->pc_fail);
	pg_dns_cancel(pc->pc_dns_job);
	pc->pc_dns_job = NULL;
	if (pc->pc_ev != NULL) {
		event_free(pc->pc_ev);
		pc->pc_ev = NULL;
	}
	PQfinish(pc->pc_conn);
	pc->pc_conn = NULL;
	pc->pc_state = PC_DOWN;
	pc->pc_nprepared = 0;	/* a new session has none */
	pc->pc_stale = 0;
	TAILQ_INIT(&failed);
	TAILQ_CONCAT(&failed, &pc->pc_inflight, pq_link);
	pc->pc_ninflight = 0;
	if (was_ready || strcmp(pg->pg_why, why) != 0)
		log_err("store: %s", why);
	snprintf(pg->pg_why, sizeof(pg->pg_why), "%s", why);
	metrics_store_up(pg_available(pg));
	pg_conn_schedule(pc);
	while ((q = TAILQ_FIRST(&failed)) != NULL) {
		TAILQ_REMOVE(&failed, q, pq_link);
		metrics_store_query("error", pg_ms_since(&q->pq_sent) / 1000.0);
		if (q->pq_done != NULL)
			q->pq_done(q->pq_arg, NULL, why);
		pg_query_free(q);
	}
}

/* "WHERE: libpq's reason" for the connection's current error. */
static void
pg_conn_fail_libpq(struct pg_conn *pc, const char *doing)
{
	char why[384], line[700];

	pg_errline(why, sizeof(why), pc->pc_conn != NULL ?
	    PQerrorMessage(pc->pc_conn) : "out of memory");
	snprintf(line, sizeof(line), "%s: %s: %s",
	    pc->pc_pg->pg_where, doing, why);
	pg_conn_fail(pc, line);
}

static void
pg_conn_on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *pc = arg;

	if (pc->pc_state == PC_BROKEN)
		pg_conn_fail(pc, pc->pc_fail_why);
}

/* pg_conn_fail_libpq, but from the loop, at once: for pg_query. */
static void
pg_conn_fail_later(struct pg_conn *pc, const char *doing)
{
	char why[384];

	pg_errline(why, sizeof(why), PQerrorMessage(pc->pc_conn));
	snprintf(pc->pc_fail_why, sizeof(pc->pc_fail_why), "%s: %s: %s",
	    pc->pc_pg->pg_where, doing, why);
	pc->pc_state = PC_BROKEN;
	event_active(pc->pc_fail, 0, 0);
}

/* Watch the socket for what (EV_READ and/or EV_WRITE). */
static int
pg_conn_watch(struct pg_conn *pc, short what)
{
	int fd = PQsocket(pc->pc_conn);

	if (fd < 0)
		return -1;
	if (pc->pc_ev != NULL && fd == pc->pc_fd && what == pc->pc_what)
		return 0;
	if (pc->pc_ev != NULL)
		event_free(pc->pc_ev);
	pc->pc_fd = fd;
	pc->pc_what = what;
	pc->pc_ev = event_new(pc->pc_pg->pg_base, fd, what | EV_PERSIST,
	    pg_conn_on_io, pc);
	if (pc->pc_ev == NULL || event_add(pc->pc_ev, NULL) == -1)
		return -1;
	return 0;
}

/* ---- connecting -------------------------------------------------------- */

static void
pg_conn_ready(struct pg_conn *pc)
{
	struct pg	*pg = pc->pc_pg;
	int		 was_down = pg_available(pg) == 0;

	if (PQsetnonblocking(pc->pc_conn, 1) == -1 ||
	    PQenterPipelineMode(pc->pc_conn) != 1) {
		pg_conn_fail_libpq(pc, "entering pipeline mode");
		return;
	}
	pc->pc_state = PC_READY;
	pc->pc_backoff_ms = PG_BACKOFF_MIN_MS;
	metrics_store_up(1);
	if (pg_conn_watch(pc, EV_READ) == -1) {
		pg_conn_fail(pc, "store: cannot watch the database's socket");
		return;
	}
	if (was_down) {
		log_info("store: connected to %s", pg->pg_where);
		pg->pg_why[0] = '\0';
	}
}

/*
 * One step of PQconnectPoll, then wait for what it asks. The socket is
 * watched afresh each step: a step may close it and open the next
 * address's (host=a,b; a refused connect), most often under the same
 * number, which epoll dropped with the old one while libevent still
 * counts it as watched.
 */
static void
pg_conn_poll(struct pg_conn *pc)
{
	if (pc->pc_ev != NULL) {
		event_free(pc->pc_ev);
		pc->pc_ev = NULL;
	}
	switch (PQconnectPoll(pc->pc_conn)) {
	case PGRES_POLLING_OK:
		pg_conn_ready(pc);
		return;
	case PGRES_POLLING_READING:
		if (pg_conn_watch(pc, EV_READ) == 0)
			return;
		break;
	case PGRES_POLLING_WRITING:
		if (pg_conn_watch(pc, EV_WRITE) == 0)
			return;
		break;
	default:
		break;
	}
	pg_conn_fail_libpq(pc, "cannot connect");
}

/* Connect to to (NULL: the conninfo's hosts as they are). */
static void
pg_conn_start(struct pg_conn *pc, const struct pg_dns_target *to)
{
	const char		*keys[PG_CONN_PARAMS + 1];
	const char		*vals[PG_CONN_PARAMS + 1];
	char			 timeout[24];
	struct pg_dns_target	 t = { NULL, NULL, NULL, NULL };

	if (to != NULL)
		t = *to;
	t.options = pc->pc_pg->pg_options;
	pg_conn_params(&pc->pc_pg->pg_cfg, &t, keys, vals, timeout,
	    sizeof(timeout));
	pc->pc_conn = PQconnectStartParams(keys, vals, 1);
	if (pc->pc_conn == NULL || PQstatus(pc->pc_conn) == CONNECTION_BAD) {
		pg_conn_fail_libpq(pc, "cannot connect");
		return;
	}
	pc->pc_state = PC_CONNECTING;
	pg_quiet(pc->pc_conn);
	/* libpq: after PQconnectStart, wait until the socket is writable. */
	if (pg_conn_watch(pc, EV_WRITE) == -1)
		pg_conn_fail_libpq(pc, "cannot connect");
}

static void
pg_conn_on_resolved(void *arg, const struct pg_dns_target *to,
    const char *err)
{
	struct pg_conn	*pc = arg;
	char		 line[700];

	pc->pc_dns_job = NULL;
	if (to != NULL) {
		pg_conn_start(pc, to);
		return;
	}
	snprintf(line, sizeof(line), "%s: cannot connect: %s",
	    pc->pc_pg->pg_where, err);
	pg_conn_fail(pc, line);
}

static void
pg_conn_connect(struct pg_conn *pc)
{
	clock_gettime(CLOCK_MONOTONIC, &pc->pc_started);
	if (!pg_dns_needed(pc->pc_pg->pg_dns)) {
		pg_conn_start(pc, NULL);
		return;
	}
	pc->pc_state = PC_RESOLVING;
	if ((pc->pc_dns_job = pg_dns_resolve(pc->pc_pg->pg_dns,
	    pg_conn_on_resolved, pc)) == NULL)
		pg_conn_on_resolved(pc, NULL, "cannot start resolving its "
		    "host names");
}

static void
pg_conn_on_retry(evutil_socket_t fd, short what, void *arg)
{
	pg_conn_connect(arg);
}

/* ---- results ------------------------------------------------------------ */

/* The head query's result or error, kept until its sync arrives. */
static void
pg_conn_keep(struct pg_conn *pc, PGresult *res)
{
	struct pg_query	*q = TAILQ_FIRST(&pc->pc_inflight);
	ExecStatusType	 st = PQresultStatus(res);

	if (q == NULL) {
		PQclear(res);
		return;
	}
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		PQclear(q->pq_res);
		q->pq_res = res;
		return;
	}
	/* 26000: a statement we took as prepared is not (its prepare
	 * failed): a new session starts the cache afresh. */
	if (st == PGRES_FATAL_ERROR && PQresultErrorField(res,
	    PG_DIAG_SQLSTATE) != NULL && strcmp(PQresultErrorField(res,
	    PG_DIAG_SQLSTATE), "26000") == 0)
		pc->pc_stale = 1;
	if (q->pq_err[0] == '\0') {
		char why[256];

		pg_errline(why, sizeof(why), st == PGRES_PIPELINE_ABORTED ?
		    "aborted with the pipeline" : PQresultErrorMessage(res));
		snprintf(q->pq_err, sizeof(q->pq_err), "the database refused "
		    "a statement: %s", why);
	}
	PQclear(res);
}

/* The head query is complete (its sync came): hand it over. */
static void
pg_conn_finish_head(struct pg_conn *pc)
{
	struct pg_query *q = TAILQ_FIRST(&pc->pc_inflight);

	if (q == NULL)
		return;
	TAILQ_REMOVE(&pc->pc_inflight, q, pq_link);
	pc->pc_ninflight--;
	metrics_store_query(q->pq_err[0] == '\0' && q->pq_res != NULL ? "ok" :
	    "error", pg_ms_since(&q->pq_sent) / 1000.0);
	if (q->pq_done != NULL) {
		if (q->pq_err[0] == '\0' && q->pq_res != NULL)
			q->pq_done(q->pq_arg, q->pq_res, NULL);
		else
			q->pq_done(q->pq_arg, NULL, q->pq_err[0] != '\0' ?
			    q->pq_err : "the database sent no result");
	}
	pg_query_free(q);
}

/* Everything that has arrived, in order. -1: the connection failed. */
static int
pg_conn_read(struct pg_conn *pc)
{
	PGresult *res;

	if (PQconsumeInput(pc->pc_conn) == 0) {
		pg_conn_fail_libpq(pc, "connection lost");
		return -1;
	}
	while (pc->pc_state == PC_READY && !TAILQ_EMPTY(&pc->pc_inflight) &&
	    !PQisBusy(pc->pc_conn)) {
		if ((res = PQgetResult(pc->pc_conn)) == NULL)
			continue;	/* between a result and its sync */
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			pg_conn_finish_head(pc);
		} else
			pg_conn_keep(pc, res);
	}
	if (pc->pc_state == PC_READY && PQstatus(pc->pc_conn) == CONNECTION_BAD) {
		pg_conn_fail_libpq(pc, "connection lost");
		return -1;
	}
	if (pc->pc_state == PC_READY && pc->pc_stale) {
		char line[512];

		snprintf(line, sizeof(line), "%s: a prepared statement was "
		    "missing; connecting again", pc->pc_pg->pg_where);
		pg_conn_fail(pc, line);
		return -1;
	}
	return 0;
}

/* Send what libpq holds; watch for writable while some is left. */
static int
pg_conn_flush(struct pg_conn *pc)
{
	int rc = PQflush(pc->pc_conn);

	if (rc == -1) {
		pg_conn_fail_libpq(pc, "sending");
		return -1;
	}
	if (pg_conn_watch(pc, rc == 1 ? EV_READ | EV_WRITE : EV_READ) == -1) {
		pg_conn_fail(pc, "store: cannot watch the database's socket");
		return -1;
	}
	return 0;
}

static void
pg_conn_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct pg_conn *pc = arg;

	if (pc->pc_state == PC_BROKEN)
		return;		/* pc_fail runs next */
	if (pc->pc_state == PC_CONNECTING) {
		pg_conn_poll(pc);
		return;
	}
	if ((what & EV_WRITE) && pg_conn_flush(pc) == -1)
		return;
	if (what & EV_READ)
		pg_conn_read(pc);
}

/* ---- timeouts -------------------------------------------------------- */

static void
pg_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pg	*pg = arg;
	double		 limit = (double)pg->pg_cfg.timeout * 1000.0;
	char		 line[512];

	for (size_t i = 0; i < pg->pg_nconns; i++) {
		struct pg_conn	*pc = &pg->pg_conns[i];
		struct pg_query	*q = TAILQ_FIRST(&pc->pc_inflight);

		if ((pc->pc_state == PC_CONNECTING ||
		    pc->pc_state == PC_RESOLVING) &&
		    pg_ms_since(&pc->pc_started) > limit) {
			snprintf(line, sizeof(line), "%s: cannot connect: no "
			    "answer within %ld s", pg->pg_where,
			    pg->pg_cfg.timeout);
			pg_conn_fail(pc, line);
		} else if (pc->pc_state == PC_READY && q != NULL &&
		    pg_ms_since(&q->pq_sent) > limit) {
			snprintf(line, sizeof(line), "%s: no answer within "
			    "%ld s; connection dropped", pg->pg_where,
			    pg->pg_cfg.timeout);
			pg_conn_fail(pc, line);
		}
	}
}

/* ---- the interface --------------------------------------------------- */

static int
pg_cfg_copy(struct cfg_store *dst, const struct cfg_store *src)
{
	*dst = *src;
	dst->conninfo = dst->password_file = dst->password = NULL;
	dst->ssl_root_cert = NULL;
	if ((src->conninfo != NULL &&
	    (dst->conninfo = strdup(src->conninfo)) == NULL) ||
	    (src->password != NULL &&
	    (dst->password = strdup(src->password)) == NULL) ||
	    (src->ssl_root_cert != NULL &&
	    (dst->ssl_root_cert = strdup(src->ssl_root_cert)) == NULL))
		return -1;
	return 0;
}

static void
pg_cfg_free(struct cfg_store *c)
{
	free(c->conninfo);
	if (c->password != NULL)
		OPENSSL_clear_free(c->password, strlen(c->password) + 1);
	free(c->ssl_root_cert);
	memset(c, 0, sizeof(*c));
}

/*
 * The conninfo's options, and a statement_timeout of store.timeout: a
 * query dropped by the pool's timeout must not go on in its backend and
 * commit later (a claim leasing rows to nobody, a result written after
 * it was given up).
 */
static void
pg_make_options(struct pg *pg)
{
	PQconninfoOption	*opts, *o;
	const char		*mine = "";
	char			*perr = NULL;

	if ((opts = PQconninfoParse(pg->pg_cfg.conninfo, &perr)) != NULL) {
		for (o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "options") == 0 &&
			    o->val != NULL)
				mine = o->val;
	}
	PQfreemem(perr);
	snprintf(pg->pg_options, sizeof(pg->pg_options), "%s%s-c "
	    "statement_timeout=%ld", mine, mine[0] != '\0' ? " " : "",
	    pg->pg_cfg.timeout * 1000);
	PQconninfoFree(opts);
}

static void
pg_make_owner(struct pg *pg)
{
	unsigned char	rnd[4];
	char		host[64], hex[9];

	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(pg->pg_owner, sizeof(pg->pg_owner), "%s:%ld:%s", host,
	    (long)getpid(), hex);
}

struct pg *
pg_new(struct event_base *base, const struct cfg_store *cfg, char *err,
    size_t errlen)
{
	struct pg	*pg;
	struct timeval	 tick = { 0, PG_TICK_MS * 1000 };

	if ((pg = calloc(1, sizeof(*pg))) == NULL)
		goto nomem;
	pg->pg_base = base;
	if (pg_cfg_copy(&pg->pg_cfg, cfg) == -1)
		goto nomem;
	pg_make_owner(pg);
	pg_make_options(pg);
	/* Parsed once: the tick and every failure name it. */
	pg_where(&pg->pg_cfg, pg->pg_where, sizeof(pg->pg_where));
	metrics_store_up(0);
	if ((pg->pg_dns = pg_dns_new(base, pg->pg_cfg.conninfo)) == NULL)
		goto nomem;
	snprintf(pg->pg_why, sizeof(pg->pg_why), "not connected yet");
	pg->pg_nconns = (size_t)(cfg->connections > 0 ? cfg->connections : 1);
	if ((pg->pg_conns = calloc(pg->pg_nconns, sizeof(*pg->pg_conns))) ==
	    NULL || (pg->pg_tick = event_new(base, -1, EV_PERSIST, pg_on_tick,
	    pg)) == NULL || event_add(pg->pg_tick, &tick) == -1)
		goto nomem;
	for (size_t i = 0; i < pg->pg_nconns; i++) {
		struct pg_conn *pc = &pg->pg_conns[i];

		pc->pc_pg = pg;
		pc->pc_fd = -1;
		pc->pc_backoff_ms = PG_BACKOFF_MIN_MS;
		TAILQ_INIT(&pc->pc_inflight);
		if ((pc->pc_retry = evtimer_new(base, pg_conn_on_retry,
		    pc)) == NULL || (pc->pc_fail = evtimer_new(base,
		    pg_conn_on_fail, pc)) == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < pg->pg_nconns; i++)
		pg_conn_connect(&pg->pg_conns[i]);
	return pg;
nomem:
	snprintf(err, errlen, "store: out of memory");
	pg_free(pg);
	return NULL;
}

void
pg_free(struct pg *pg)
{
	struct pg_query *q;

	if (pg == NULL)
		return;
	/* Lookups first: their ends find their connections cancelled. */
	for (size_t i = 0; pg->pg_conns != NULL && i < pg->pg_nconns; i++)
		pg_dns_cancel(pg->pg_conns[i].pc_dns_job);
	pg_dns_free(pg->pg_dns);
	for (size_t i = 0; pg->pg_conns != NULL && i < pg->pg_nconns; i++) {
		struct pg_conn *pc = &pg->pg_conns[i];

		while ((q = TAILQ_FIRST(&pc->pc_inflight)) != NULL) {
			TAILQ_REMOVE(&pc->pc_inflight, q, pq_link);
			pg_query_free(q);
		}
		if (pc->pc_ev != NULL)
			event_free(pc->pc_ev);
		if (pc->pc_retry != NULL)
			event_free(pc->pc_retry);
		if (pc->pc_fail != NULL)
			event_free(pc->pc_fail);
		PQfinish(pc->pc_conn);
	}
	free(pg->pg_conns);
	if (pg->pg_tick != NULL)
		event_free(pg->pg_tick);
	pg_cfg_free(&pg->pg_cfg);
	free(pg);
}

/* The ready connection with the fewest queries in flight, from pg_next. */
static struct pg_conn *
pg_pick(struct pg *pg)
{
	struct pg_conn *best = NULL;

	for (size_t k = 0; k < pg->pg_nconns; k++) {
		struct pg_conn *pc = &pg->pg_conns[(pg->pg_next + k) %
		    pg->pg_nconns];

		if (pc->pc_state == PC_READY && pc->pc_ninflight <
		    PG_INFLIGHT_MAX && (best == NULL ||
		    pc->pc_ninflight < best->pc_ninflight))
			best = pc;
	}
	pg->pg_next++;
	return best;
}

/*
 * Send sql as a prepared statement: planned once per connection, not at
 * every call (the login statement's plan costs more than running it).
 * The first use prepares it in the same pipeline, before the sync: its
 * result comes first and the query's replaces it (pg_conn_keep). Past
 * PG_PREPARED_MAX texts, sent unprepared. 1, or 0 as libpq's send.
 */
static int
pg_conn_send(struct pg_conn *pc, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats)
{
	char	name[16];
	size_t	i;

	for (i = 0; i < pc->pc_nprepared && pc->pc_prepared[i] != sql; i++)
		;
	if (i == pc->pc_nprepared && i == PG_PREPARED_MAX)
		return PQsendQueryParams(pc->pc_conn, sql, nparams, NULL,
		    values, lengths, formats, 0);
	snprintf(name, sizeof(name), "e%zu", i);
	if (i == pc->pc_nprepared) {
		if (PQsendPrepare(pc->pc_conn, name, sql, nparams, NULL) != 1)
			return 0;
		pc->pc_prepared[pc->pc_nprepared++] = sql;
	}
	return PQsendQueryPrepared(pc->pc_conn, name, nparams, values,
	    lengths, formats, 0);
}

int
pg_query(struct pg *pg, const char *sql, const struct pg_param *params,
    int nparams, pg_done_fn done, void *arg, struct pg_query **out)
{
	const char	*values[16];
	int		 lengths[16], formats[16];
	struct pg_conn	*pc;
	struct pg_query	*q;
	int		 rc;

	*out = NULL;
	if (nparams > 16 || (pc = pg_pick(pg)) == NULL ||
	    (q = calloc(1, sizeof(*q))) == NULL) {
		metrics_store_query("unavailable", -1);
		return -1;
	}
	for (int i = 0; i < nparams; i++) {
		values[i] = params[i].value;
		lengths[i] = params[i].binary ? params[i].len : 0;
		formats[i] = params[i].binary ? 1 : 0;
	}
	q->pq_done = done;
	q->pq_arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &q->pq_sent);
	if (pg_conn_send(pc, sql, nparams, values, lengths, formats) != 1 ||
	    PQpipelineSync(pc->pc_conn) != 1 ||
	    (rc = PQflush(pc->pc_conn)) == -1) {
		/* The connection is unusable: this query was never ours to
		 * answer (-1), the others it carries fail from the loop. */
		free(q);
		pg_conn_fail_later(pc, "sending");
		metrics_store_query("unavailable", -1);
		return -1;
	}
	TAILQ_INSERT_TAIL(&pc->pc_inflight, q, pq_link);
	pc->pc_ninflight++;
	/* PQpipelineSync flushed what it could; watch for the rest. */
	if (pg_conn_watch(pc, rc == 1 ? EV_READ | EV_WRITE : EV_READ) == -1)
		pg_conn_fail_later(pc, "watching the socket");
	*out = q;
	return 0;
}

void
pg_cancel(struct pg_query *q)
{
	if (q != NULL)
		q->pq_done = NULL;
}

int
pg_available(const struct pg *pg)
{
	if (pg == NULL)
		return 0;
	for (size_t i = 0; i < pg->pg_nconns; i++)
		if (pg->pg_conns[i].pc_state == PC_READY)
			return 1;
	return 0;
}

const char *
pg_why(const struct pg *pg)
{
	return pg_available(pg) ? "" : pg->pg_why;
}

const char *
pg_owner(const struct pg *pg)
{
	return pg->pg_owner;
}

long
pg_retry_after(const struct pg *pg)
{
	long ms = PG_BACKOFF_MAX_MS;

	for (size_t i = 0; i < pg->pg_nconns; i++)
		if (pg->pg_conns[i].pc_backoff_ms < ms)
			ms = pg->pg_conns[i].pc_backoff_ms;
	return ms / 1000 + 1;
}

/* ---- results for callers ------------------------------------------------ */

const char *
pg_text(const PGresult *res, int row, const char *name)
{
	int col = PQfnumber(res, name);

	if (col < 0 || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return "";
	return PQgetvalue(res, row, col);
}

int64_t
pg_int(const PGresult *res, int row, const char *name)
{
	return strtoll(pg_text(res, row, name), NULL, 10);
}

int
pg_bytea(const PGresult *res, int row, const char *name, unsigned char **p,
    size_t *len)
{
	const char *v = pg_text(res, row, name);

	*p = NULL;
	*len = 0;
	if (v[0] == '\0')
		return 0;
	if (v[0] != '\\' || v[1] != 'x')
		return -1;
	return pg_unhex(v + 2, p, len);
}
