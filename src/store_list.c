/*
 * store_list: the store's side of `estrad queue list|show|purge|retry`
 * (the command itself, its output and its audit lines, is queue_cli.c),
 * on a connection that does not take the daemon's lock (see store.c).
 * What it promises: a listing's passes run in one read transaction, so
 * they see the same rows; a purge only marks active rows "purged", in one
 * transaction, after its caller has accepted every entry; a retry only
 * flags a waiting row, in the transaction that read its state. The
 * running daemon picks both up (store_purged_ids, store_retry_ids).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "estrad/store.h"

#include "store_int.h"

/* One pass over the rows. Returns the number of rows, or -1 with err. */
static int
store_list_pass(struct store *st, int all, int pass, store_list_fn visit,
    void *arg, char *err, size_t errlen)
{
	struct store_entry	 e;
	sqlite3_stmt		*s = store_stmt(st, SS_LIST);
	int			 n = 0, rc;

	if (store_bind_int(s, ":all", all) != SQLITE_OK)
		return store_fail(st, "list", err, errlen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_read_entry(st, s, &e, err, errlen) == -1) {
			sqlite3_reset(s);
			return -1;
		}
		visit(&e, pass, arg);
		store_entry_clear(&e);
		n++;
	}
	if (rc != SQLITE_DONE)
		store_fail(st, "list", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : -1;
}

int
store_list(struct store *st, int all, int passes, store_list_fn visit,
    void *arg, char *err, size_t errlen)
{
	int	n = 0;

	if (store_begin(st, SS_READ, err, errlen) == -1)
		return -1;
	for (int pass = 0; pass < passes; pass++)
		if ((n = store_list_pass(st, all, pass, visit, arg, err,
		    errlen)) <= 0)
			break;
	if (n == -1 || store_commit(st, err, errlen) == -1) {
		store_rollback(st);
		return -1;
	}
	return n;
}

/*
 * Inside the transaction: each entry to purge goes to accept, its id to
 * *ids. Then every one is marked.
 */
static int
store_mark_purged(struct store *st, int64_t id, store_purge_fn accept,
    void *arg, int64_t **ids, size_t *n, char *err, size_t errlen)
{
	struct store_entry	 e;
	sqlite3_stmt		*s = store_stmt(st, SS_ACTIVE);
	int64_t			 now = (int64_t)time(NULL);
	size_t			 cap = 0;
	int			 rc, ok;

	if (store_bind_int(s, ":id", id) != SQLITE_OK)
		return store_fail(st, "purge", err, errlen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_read_entry(st, s, &e, err, errlen) == -1)
			goto fail;
		e.state = QS_PURGED;
		ok = accept(&e, arg) == 0 &&
		    store_push_id(ids, n, &cap, e.id) == 0;
		store_entry_clear(&e);
		if (!ok) {
			snprintf(err, errlen, "%s: out of memory", st->st_path);
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, "purge", err, errlen);
		goto fail;
	}
	sqlite3_reset(s);
	for (size_t i = 0; i < *n; i++) {
		s = store_stmt(st, SS_MARK_PURGED);
		if (store_bind_int(s, ":id", (*ids)[i]) ||
		    store_bind_int(s, ":updated", now) ||
		    store_bind_text(s, ":note", STORE_PURGE_NOTE, SIZE_MAX))
			return store_fail(st, "purge", err, errlen);
		if (store_run(st, s, "purge", err, errlen) == -1)
			return -1;
	}
	return 0;
fail:
	sqlite3_reset(s);
	return -1;
}

int
store_purge(struct store *st, int64_t id, store_purge_fn accept, void *arg,
    char *err, size_t errlen)
{
	int64_t	*ids = NULL;
	size_t	 n = 0;
	int	 rc = -1;

	if (store_begin(st, SS_BEGIN, err, errlen) == -1)
		return -1;
	if (store_mark_purged(st, id, accept, arg, &ids, &n, err, errlen) ==
	    -1 || store_commit(st, err, errlen) == -1)
		store_rollback(st);
	else
		rc = (int)n;
	free(ids);
	return rc;
}

/* One SELECT: inside a caller's transaction, or on its own. */
int
store_get(struct store *st, int64_t id, struct store_entry *e,
    char *err, size_t errlen)
{
	sqlite3_stmt	*s = store_stmt(st, SS_GET);
	int		 rc;

	memset(e, 0, sizeof(*e));
	if (store_bind_int(s, ":id", id) != SQLITE_OK)
		return store_fail(st, "get", err, errlen);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		rc = store_read_entry(st, s, e, err, errlen) == -1 ? -1 : 1;
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_fail(st, "get", err, errlen);
	sqlite3_reset(s);
	return rc;
}

int
store_retry(struct store *st, int64_t id, struct store_entry *e, char *err,
    size_t errlen)
{
	sqlite3_stmt	*s;
	int		 rc;

	if (store_begin(st, SS_BEGIN, err, errlen) == -1)
		return -1;
	if ((rc = store_get(st, id, e, err, errlen)) == 1 &&
	    (e->state == QS_PENDING || e->state == QS_POLLING)) {
		s = store_stmt(st, SS_MARK_RETRY);
		if (store_bind_int(s, ":id", id) != SQLITE_OK ||
		    store_bind_int(s, ":now", (int64_t)time(NULL)) != SQLITE_OK)
			rc = store_fail(st, "retry", err, errlen);
		else if (store_run(st, s, "retry", err, errlen) == -1)
			rc = -1;
	} else if (rc == 1)
		rc = 0;
	if (rc == -1 || store_commit(st, err, errlen) == -1) {
		store_rollback(st);
		store_entry_clear(e);
		return -1;
	}
	return rc;
}

/* ---- store_cli over SQLite ---------------------------------------------- */

static int
store_cli_list(void *h, int all, int passes, store_list_fn visit, void *arg,
    char *err, size_t errlen)
{
	return store_list(h, all, passes, visit, arg, err, errlen);
}

static int
store_cli_purge(void *h, int64_t id, store_purge_fn accept, void *arg,
    char *err, size_t errlen)
{
	return store_purge(h, id, accept, arg, err, errlen);
}

static int
store_cli_get(void *h, int64_t id, struct store_entry *e, char *err,
    size_t errlen)
{
	return store_get(h, id, e, err, errlen);
}

static int
store_cli_retry(void *h, int64_t id, struct store_entry *e, char *err,
    size_t errlen)
{
	return store_retry(h, id, e, err, errlen);
}

/* The daemon writes this host's time into the file. */
static int64_t
store_cli_now(void *h, char *err, size_t errlen)
{
	return (int64_t)time(NULL);
}

static void
store_cli_close(void *h)
{
	store_close(h);
}

static const struct store_cli_ops store_cli_sqlite_ops = {
	.sco_list = store_cli_list,
	.sco_purge = store_cli_purge,
	.sco_get = store_cli_get,
	.sco_retry = store_cli_retry,
	.sco_now = store_cli_now,
	.sco_close = store_cli_close,
	.sco_leases = 0,
};

void
store_cli_sqlite(struct store *st, struct store_cli *sc)
{
	sc->sc_ops = &store_cli_sqlite_ops;
	sc->sc_h = st;
}
