/*
 * store_pg: the store's side of `estrad queue list|show|purge|retry` on
 * the shared store (estrad_queue, pg_schema.c), behind store_cli's calls
 * so that queue_cli.c prints, audits and answers exactly as it does on
 * SQLite (store_list.c). One blocking connection (PQexecParams): this is
 * a command, not the event loop; each statement is bounded by the store's
 * timeout, so a lock held elsewhere cannot hang it.
 * What it promises, as store_list.c does: a listing's passes are over one
 * statement's snapshot; a purge marks active rows "purged" in one
 * transaction after its caller has accepted every one (rows locked FOR
 * UPDATE, so a replica's claim skips them meanwhile; the replicas never
 * forward a purged row and delete it later); a retry flags a waiting row
 * in the transaction that read (and locked) it. Times are the database's
 * clock (estrad_now()), as the replicas write them.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "estrad/config.h"
#include "estrad/pg.h"
#include "estrad/store.h"
#include "estrad/store_pg.h"

#include "pg_int.h"

struct store_pg {
	PGconn	*sp_conn;
	char	 sp_where[256];		/* "postgresql HOST:PORT/DB" */
};

/* "WHERE: what: reason" into err, res cleared; always -1. */
static int
store_pg_fail(struct store_pg *sp, PGresult *res, const char *what,
    char *err, size_t errlen)
{
	char why[384];

	pg_errline(why, sizeof(why), res != NULL &&
	    PQresultErrorMessage(res)[0] != '\0' ?
	    PQresultErrorMessage(res) : PQerrorMessage(sp->sp_conn));
	snprintf(err, errlen, "%s: %s: %s", sp->sp_where, what, why);
	PQclear(res);
	return -1;
}

/* One statement with text params; its result when its status is want,
 * else NULL with err. */
static PGresult *
store_pg_exec(struct store_pg *sp, const char *sql, int nparams,
    const char *const *params, ExecStatusType want, const char *what,
    char *err, size_t errlen)
{
	PGresult *res = PQexecParams(sp->sp_conn, sql, nparams, NULL, params,
	    NULL, NULL, 0);

	if (res != NULL && PQresultStatus(res) == want)
		return res;
	store_pg_fail(sp, res, what, err, errlen);
	return NULL;
}

/* A statement that returns no rows. 0, or -1 with err. */
static int
store_pg_cmd(struct store_pg *sp, const char *sql, int nparams,
    const char *const *params, const char *what, char *err, size_t errlen)
{
	PGresult *res = store_pg_exec(sp, sql, nparams, params,
	    PGRES_COMMAND_OK, what, err, errlen);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

static void
store_pg_rollback(struct store_pg *sp)
{
	PQclear(PQexec(sp->sp_conn, "ROLLBACK"));
}

/* ---- rows ---------------------------------------------------------------- */

/* Text longer than its field (an edited database) is cut, not overrun. */
static void
store_pg_copy(const PGresult *res, int row, const char *name, char *buf,
    size_t size)
{
	snprintf(buf, size, "%s", pg_text(res, row, name));
}

int
store_pg_read_entry(const PGresult *res, int row, struct store_entry *e,
    char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	e->id = pg_int(res, row, "id");
	store_pg_copy(res, row, "label", e->label, sizeof(e->label));
	store_pg_copy(res, row, "op", e->op, sizeof(e->op));
	store_pg_copy(res, row, "identity", e->identity, sizeof(e->identity));
	store_pg_copy(res, row, "pubkey", e->pubkey, sizeof(e->pubkey));
	store_pg_copy(res, row, "subject", e->subject, sizeof(e->subject));
	store_pg_copy(res, row, "request_id", e->request_id,
	    sizeof(e->request_id));
	store_pg_copy(res, row, "content_type", e->content_type,
	    sizeof(e->content_type));
	e->state = queue_state_from_name(pg_text(res, row, "state"));
	e->created = pg_int(res, row, "created");
	e->updated = pg_int(res, row, "updated");
	e->expires = pg_int(res, row, "expires");
	e->next_attempt = pg_int(res, row, "next_attempt");
	e->attempts = (int)pg_int(res, row, "attempts");
	e->ca_status = (int)pg_int(res, row, "ca_status");
	store_pg_copy(res, row, "result_type", e->result_type,
	    sizeof(e->result_type));
	store_pg_copy(res, row, "retry_after", e->retry_after,
	    sizeof(e->retry_after));
	store_pg_copy(res, row, "note", e->note, sizeof(e->note));
	store_pg_copy(res, row, "sans", e->sans, sizeof(e->sans));
	e->ca_received = (int)pg_int(res, row, "ca_received");
	store_pg_copy(res, row, "last_error", e->last_error,
	    sizeof(e->last_error));
	store_pg_copy(res, row, "lease_owner", e->lease_owner,
	    sizeof(e->lease_owner));
	e->lease_until = pg_int(res, row, "lease_until");
	if (e->state == QS_MAX) {
		snprintf(err, errlen, "queue entry %" PRId64 ": unknown state "
		    "\"%.32s\"", e->id, pg_text(res, row, "state"));
		return -1;
	}
	if (pg_bytea(res, row, "csr", &e->csr, &e->csr_len) == -1 ||
	    pg_bytea(res, row, "result", &e->result, &e->result_len) == -1) {
		store_entry_clear(e);
		snprintf(err, errlen, "queue entry %" PRId64 ": out of memory, "
		    "or a bytea not in hex", e->id);
		return -1;
	}
	return 0;
}

/* store_pg_read_entry, its reason after the database's name. */
static int
store_pg_entry(struct store_pg *sp, const PGresult *res, int row,
    struct store_entry *e, char *err, size_t errlen)
{
	char why[256];

	if (store_pg_read_entry(res, row, e, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", sp->sp_where, why);
	return -1;
}

/* ---- the four calls -------------------------------------------------------- */

static int
store_pg_list(void *h, int all, int passes, store_list_fn visit, void *arg,
    char *err, size_t errlen)
{
	struct store_pg		*sp = h;
	const char		*params[1] = { all ? "true" : "false" };
	struct store_entry	 e;
	PGresult		*res;
	int			 n;

	/* One statement, one snapshot: every pass sees the same rows. */
	if ((res = store_pg_exec(sp, "SELECT " STORE_PG_QUEUE_COLS
	    " FROM estrad_queue WHERE $1::boolean OR " PG_ACTIVE
	    " ORDER BY id", 1, params, PGRES_TUPLES_OK, "list", err,
	    errlen)) == NULL)
		return -1;
	n = PQntuples(res);
	for (int pass = 0; pass < passes && n > 0; pass++)
		for (int row = 0; row < n; row++) {
			if (store_pg_entry(sp, res, row, &e, err, errlen) ==
			    -1) {
				PQclear(res);
				return -1;
			}
			visit(&e, pass, arg);
			store_entry_clear(&e);
		}
	PQclear(res);
	return n;
}

/*
 * Inside the transaction: the rows to purge, locked, each to accept, its
 * id into the array literal ids ("{1,2}"; room for n of them). Returns
 * how many, or -1 with err.
 */
static int
store_pg_accept(struct store_pg *sp, const PGresult *res,
    store_purge_fn accept, void *arg, char *ids, size_t idslen, char *err,
    size_t errlen)
{
	struct store_entry	e;
	size_t			len = 1;
	int			n = PQntuples(res), ok;

	ids[0] = '{';
	for (int row = 0; row < n; row++) {
		if (store_pg_entry(sp, res, row, &e, err, errlen) == -1)
			return -1;
		e.state = QS_PURGED;
		ok = accept(&e, arg) == 0;
		len += (size_t)snprintf(ids + len, idslen - len, "%s%" PRId64,
		    row > 0 ? "," : "", e.id);
		store_entry_clear(&e);
		if (!ok) {
			snprintf(err, errlen, "%s: out of memory", sp->sp_where);
			return -1;
		}
	}
	snprintf(ids + len, idslen - len, "}");
	return n;
}

static int
store_pg_purge(void *h, int64_t id, store_purge_fn accept, void *arg,
    char *err, size_t errlen)
{
	struct store_pg	*sp = h;
	PGresult	*res = NULL;
	char		 idtext[24], *ids = NULL;
	const char	*params[2] = { idtext, NULL };
	int		 n = -1;

	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	if (store_pg_cmd(sp, "BEGIN", 0, NULL, "purge", err, errlen) == -1)
		return -1;
	/* FOR UPDATE: a replica's claim (SKIP LOCKED) passes these rows by
	 * until the commit. */
	if ((res = store_pg_exec(sp, "SELECT " STORE_PG_QUEUE_COLS
	    " FROM estrad_queue WHERE " PG_ACTIVE " AND ($1::bigint = 0 OR "
	    "id = $1::bigint) ORDER BY id FOR UPDATE", 1, params,
	    PGRES_TUPLES_OK, "purge", err, errlen)) == NULL)
		goto fail;
	/* An id is at most 20 digits and a comma. */
	if ((ids = malloc((size_t)PQntuples(res) * 21 + 3)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", sp->sp_where);
		goto fail;
	}
	if ((n = store_pg_accept(sp, res, accept, arg, ids,
	    (size_t)PQntuples(res) * 21 + 3, err, errlen)) == -1)
		goto fail;
	/* The ids accepted, not the WHERE again: a row queued since the
	 * SELECT was never shown to accept (no audit line for it). */
	params[0] = ids;
	params[1] = STORE_PURGE_NOTE;
	if ((n > 0 && store_pg_cmd(sp, "UPDATE estrad_queue SET state = "
	    "'purged', updated = estrad_now(), note = $2 WHERE id = "
	    "ANY($1::bigint[])", 2, params, "purge", err, errlen) == -1) ||
	    store_pg_cmd(sp, "COMMIT", 0, NULL, "purge", err, errlen) == -1)
		goto fail;
	PQclear(res);
	free(ids);
	return n;
fail:
	store_pg_rollback(sp);
	PQclear(res);
	free(ids);
	return -1;
}

/* Entry id into *e, FOR UPDATE when lock. 1, 0 none, -1 with err. */
static int
store_pg_select(struct store_pg *sp, int64_t id, int lock,
    struct store_entry *e, char *err, size_t errlen)
{
	char		 idtext[24];
	const char	*params[1] = { idtext };
	PGresult	*res;
	int		 rc = 0;

	memset(e, 0, sizeof(*e));
	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	if ((res = store_pg_exec(sp, lock ? "SELECT " STORE_PG_QUEUE_COLS
	    " FROM estrad_queue WHERE id = $1::bigint FOR UPDATE" :
	    "SELECT " STORE_PG_QUEUE_COLS " FROM estrad_queue WHERE id = "
	    "$1::bigint", 1, params, PGRES_TUPLES_OK, "get", err,
	    errlen)) == NULL)
		return -1;
	if (PQntuples(res) == 1)
		rc = store_pg_entry(sp, res, 0, e, err, errlen) == -1 ? -1 : 1;
	PQclear(res);
	return rc;
}

static int
store_pg_get(void *h, int64_t id, struct store_entry *e, char *err,
    size_t errlen)
{
	return store_pg_select(h, id, 0, e, err, errlen);
}

static int
store_pg_retry(void *h, int64_t id, struct store_entry *e, char *err,
    size_t errlen)
{
	struct store_pg	*sp = h;
	char		 idtext[24];
	const char	*params[1] = { idtext };
	int		 rc;

	memset(e, 0, sizeof(*e));
	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	if (store_pg_cmd(sp, "BEGIN", 0, NULL, "retry", err, errlen) == -1)
		return -1;
	if ((rc = store_pg_select(sp, id, 1, e, err, errlen)) == 1 &&
	    (e->state == QS_PENDING || e->state == QS_POLLING)) {
		/* As store.c's: now, unless it was due sooner anyway. */
		if (store_pg_cmd(sp, "UPDATE estrad_queue SET "
		    "retry_requested = true, next_attempt = "
		    "LEAST(next_attempt, estrad_now()) WHERE id = $1::bigint",
		    1, params, "retry", err, errlen) == -1)
			rc = -1;
	} else if (rc == 1)
		rc = 0;
	if (rc == -1 || store_pg_cmd(sp, "COMMIT", 0, NULL, "retry", err,
	    errlen) == -1) {
		store_pg_rollback(sp);
		store_entry_clear(e);
		return -1;
	}
	return rc;
}

static int64_t
store_pg_now(void *h, char *err, size_t errlen)
{
	struct store_pg	*sp = h;
	PGresult	*res;
	int64_t		 now;

	if ((res = store_pg_exec(sp, "SELECT estrad_now() AS now", 0, NULL,
	    PGRES_TUPLES_OK, "reading the clock", err, errlen)) == NULL)
		return -1;
	now = pg_int(res, 0, "now");
	PQclear(res);
	return now;
}

static void
store_pg_close(void *h)
{
	struct store_pg *sp = h;

	if (sp == NULL)
		return;
	PQfinish(sp->sp_conn);
	free(sp);
}

static const struct store_cli_ops store_pg_ops = {
	.sco_list = store_pg_list,
	.sco_purge = store_pg_purge,
	.sco_get = store_pg_get,
	.sco_retry = store_pg_retry,
	.sco_now = store_pg_now,
	.sco_close = store_pg_close,
	.sco_leases = 1,
};

/* ---- opening ------------------------------------------------------------- */

/*
 * A schema this estrad reads (not a newer one), with its queue: 1; none
 * yet: 0; and every statement bounded by the store's timeout. -1 with
 * err.
 */
static int
store_pg_ready(struct store_pg *sp, long timeout, char *err, size_t errlen)
{
	char		 why[384], ms[24];
	const char	*params[1] = { ms };
	PGresult	*res;
	int		 there;

	if (pg_schema_check(sp->sp_conn, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", sp->sp_where, why);
		return -1;
	}
	snprintf(ms, sizeof(ms), "%ld", (timeout > 0 ? timeout : 5) * 1000);
	if ((res = store_pg_exec(sp, "SELECT set_config('statement_timeout', "
	    "$1, false), to_regclass('estrad_queue') IS NOT NULL AS there",
	    1, params, PGRES_TUPLES_OK, "opening the queue", err,
	    errlen)) == NULL)
		return -1;
	there = strcmp(pg_text(res, 0, "there"), "t") == 0;
	PQclear(res);
	return there;
}

int
store_pg_open(const struct cfg_store *cfg, struct store_cli *sc,
    char *where, size_t wherelen, char *err, size_t errlen)
{
	struct store_pg	*sp;
	int		 rc = -1;

	pg_where(cfg, where, wherelen);
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", where);
		return -1;
	}
	snprintf(sp->sp_where, sizeof(sp->sp_where), "%s", where);
	if ((sp->sp_conn = pg_connect_blocking(cfg, err, errlen)) == NULL ||
	    (rc = store_pg_ready(sp, cfg->timeout, err, errlen)) != 1) {
		store_pg_close(sp);
		return rc;
	}
	sc->sc_ops = &store_pg_ops;
	sc->sc_h = sp;
	return 1;
}
