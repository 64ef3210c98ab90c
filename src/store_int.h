/*
 * store_int: what store.c and store_list.c share and nothing else includes.
 * The connection with its prepared statements (store.c opens, prepares
 * and closes it) and the helpers that keep every statement reset after
 * use and every failure one line naming the file, the step and SQLite's
 * reason.
 */
#ifndef ESTRAD_STORE_INT_H
#define ESTRAD_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "estrad/store.h"

struct worker;

/* One prepared statement each; the SQL is store_sql[] in store.c. */
enum store_stmt {
	SS_BEGIN, SS_COMMIT, SS_ROLLBACK, SS_READ, SS_INSERT, SS_UPDATE,
	SS_LOAD_ENTRIES, SS_DELETE_DONE, SS_SELECT_PURGED, SS_DELETE_PURGED,
	SS_PUT_CACHED, SS_LOAD_CACHED, SS_LIST, SS_ACTIVE, SS_MARK_PURGED,
	SS_GET, SS_MARK_RETRY, SS_SELECT_RETRY, SS_CLEAR_RETRY,
	SS_SET_NEXT,
	SS_MAX
};

struct store {
	char		*st_path;	/* DIR/estrad.db, for messages */
	sqlite3		*st_db;
	sqlite3_stmt	*st_stmt[SS_MAX];
	int		 st_lockfd;	/* -1: not locking */
	struct worker	*st_writer;
};

/* "DIR/estrad.db: what: reason" into err; always -1. */
int store_fail(struct store *st, const char *what, char *err, size_t errlen);
/* A prepared statement, reset and with no bindings; the store owns it. */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt which);
/* Run a statement that returns no rows and reset it; 0, or -1 with err. */
int store_run(struct store *st, sqlite3_stmt *s, const char *what,
    char *err, size_t errlen);
/* which: SS_BEGIN (BEGIN IMMEDIATE) or SS_READ (BEGIN). */
int store_begin(struct store *st, enum store_stmt which, char *err,
    size_t errlen);
int store_commit(struct store *st, char *err, size_t errlen);
/* After a failure, whose message is already in err; safe outside a
 * transaction. */
void store_rollback(struct store *st);

/* SQLITE_OK also when the statement has no parameter name. */
int store_bind_text(sqlite3_stmt *s, const char *name, const char *v,
    size_t size);
int store_bind_int(sqlite3_stmt *s, const char *name, int64_t v);

/* The current row of a whole-row queue select into e; the caller frees
 * with store_entry_clear(). 0, or -1 with err (e then holds nothing to
 * free). */
int store_read_entry(struct store *st, sqlite3_stmt *s,
    struct store_entry *e, char *err, size_t errlen);
/* Append id to *ids (*n used, *cap allocated); the caller frees *ids,
 * also after -1 (out of memory). */
int store_push_id(int64_t **ids, size_t *n, size_t *cap, int64_t id);

#endif
