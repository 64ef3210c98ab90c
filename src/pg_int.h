/*
 * pg_int: what pg.c and pg_schema.c share and nothing else includes.
 */
#ifndef ESTRAD_PG_INT_H
#define ESTRAD_PG_INT_H

#include <stddef.h>

#include <libpq-fe.h>

struct cfg_store;

/* estrad_queue's active states, as store.c's STORE_ACTIVE_SQL. */
#define PG_ACTIVE	"state IN ('pending', 'polling', 'issued', 'refused')"

/* Keywords pg_conn_params() may fill, without the terminating NULL. */
#define PG_CONN_PARAMS	6

/* libpq's message (msg) on one line, without its trailing newline. */
void pg_errline(char *out, size_t outlen, const char *msg);
/* "postgresql HOST:PORT/DB" of cfg's conninfo, for messages. */
void pg_where(const struct cfg_store *cfg, char *out, size_t outlen);
/* The keywords and values for PQconnect*Params (expand_dbname 1). */
void pg_conn_params(const struct cfg_store *cfg, const char **keys,
    const char **vals, char *timeout, size_t timeoutlen);
/* Drop the server's notices (they would go to stderr). */
void pg_quiet(PGconn *c);
/* Hex text into a malloc'd buffer. 0, or -1 (not hex, no memory). */
int pg_unhex(const char *hex, unsigned char **out, size_t *len);

#endif
