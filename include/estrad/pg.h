/*
 * pg: the shared store on PostgreSQL (store.backend "postgresql"), for
 * replicas that act as one RA (docs/scaling.md). One process keeps
 * store.connections connections, each in libpq's pipeline mode, each
 * socket watched by the event loop (PQsocket): a query is sent at once
 * and its result handed back on the loop; nothing waits for the
 * database. A connection that breaks fails the queries it carried (their
 * callers answer 503 + Retry-After) and is made again with backoff.
 *
 * Every query is one statement in its own implicit transaction (a pipeline
 * sync follows each), so one failing never takes another with it. Time in
 * shared rows is the database's clock (estrad_now(), Unix seconds): the
 * replicas' clocks never have to agree.
 *
 * The blocking half (pg_connect_blocking, pg_schema_*) is for start-up
 * before the loop runs, `estrad -n` and `estrad queue`.
 */
#ifndef ESTRAD_PG_H
#define ESTRAD_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct event_base;
struct cfg_store;
struct pg;
struct pg_query;

/* The schema this estrad reads and writes (estrad_meta 'schema_version'). */
#define PG_SCHEMA_VERSION	1

/* One parameter, text format unless binary (bytea: binary, len bytes).
 * value NULL: SQL NULL. len is ignored for text (NUL-terminated). */
struct pg_param {
	const char	*value;
	int		 len;
	int		 binary;
};

/*
 * A query's end, on the loop, exactly once unless cancelled: res its
 * result (PGRES_TUPLES_OK or PGRES_COMMAND_OK; pg frees it after the
 * call: copy what you keep), or res NULL and err one line saying why (the
 * database unreachable, the connection broken, the statement refused,
 * the query timed out). err never holds a password.
 */
typedef void (*pg_done_fn)(void *arg, const PGresult *res, const char *err);

/*
 * Start connecting (asynchronously) with cfg; owner names this process in
 * leases ("HOST:PID:RANDOM" when NULL). NULL with err only for what can
 * never work (out of memory, a conninfo libpq cannot parse).
 */
struct pg *pg_new(struct event_base *base, const struct cfg_store *cfg,
    char *err, size_t errlen);
/* Close every connection. Queries still in flight are dropped without
 * their callbacks: their owners cancel them first. */
void pg_free(struct pg *pg);

/*
 * Send sql with params. 0: done follows (unless pg_cancel(*q)); -1: no
 * connection is up now (pg_why() says why): answer 503 at once.
 * sql must stay valid until done (use string literals).
 */
int pg_query(struct pg *pg, const char *sql, const struct pg_param *params,
    int nparams, pg_done_fn done, void *arg, struct pg_query **q);
/* done will not be called; the result, when it comes, is dropped. */
void pg_cancel(struct pg_query *q);

/* 1 when at least one connection is up and ready. */
int pg_available(const struct pg *pg);
/* Why not (one line, for /readyz and logs), or "" when up. */
const char *pg_why(const struct pg *pg);
/* This process's name in leases. */
const char *pg_owner(const struct pg *pg);
/* Seconds a client should wait before retrying while the database is
 * away (the reconnect backoff's next step, at least 1): Retry-After. */
long pg_retry_after(const struct pg *pg);

/* ---- helpers for callbacks ------------------------------------------- */

/* Column name of row: its text ("" for NULL or a missing column). */
const char *pg_text(const PGresult *res, int row, const char *name);
/* As int64 (0 for NULL / missing / not a number). */
int64_t pg_int(const PGresult *res, int row, const char *name);
/* A bytea column in binary result format is not used: bytea comes back as
 * text ("\x..." hex); this decodes it into a malloc'd buffer (*p NULL and
 * *len 0 for NULL). 0, or -1 out of memory / not hex. */
int pg_bytea(const PGresult *res, int row, const char *name,
    unsigned char **p, size_t *len);

/* ---- the blocking half: start-up, -n, estrad queue ---------------------- */

/* Connect (connect_timeout: the store's timeout) with cfg; NULL with a
 * one-line reason naming host and port, never the password. */
PGconn *pg_connect_blocking(const struct cfg_store *cfg, char *err,
    size_t errlen);
/*
 * Create the schema, or upgrade it to PG_SCHEMA_VERSION, in one
 * transaction under an advisory lock (replicas starting together migrate
 * once). A database whose schema is newer than ours is refused. 0 or -1.
 */
int pg_schema_migrate(PGconn *c, char *err, size_t errlen);
/*
 * For -n: the schema is ours (or absent, and we may create it). 0, or -1
 * with the reason. Writes nothing.
 */
int pg_schema_check(PGconn *c, char *err, size_t errlen);
/* `estrad -n`: connect with cfg and pg_schema_check. 0, or -1 with err. */
int pg_check(const struct cfg_store *cfg, char *err, size_t errlen);
/*
 * The group's Digest nonce secret (estrad_meta 'nonce_secret'), made by
 * the first replica that asks: replicas accept each other's nonces
 * without a shared file. 0 with *secret malloc'd (*len bytes; the caller
 * wipes and frees), or -1.
 */
int pg_nonce_secret(PGconn *c, unsigned char **secret, size_t *len,
    char *err, size_t errlen);

#endif
