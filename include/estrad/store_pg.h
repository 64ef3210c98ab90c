/*
 * store_pg: `estrad queue list|show|purge|retry` on the shared store
 * (store.backend "postgresql"): the four calls of store_list.c over
 * estrad_queue (pg_schema.c), on one blocking libpq connection of the
 * command's own (the command is not the event loop). The running replicas
 * notice a purge or a retry as they do on SQLite: a purged row is never
 * forwarded and deleted later, a flagged one is sent at once.
 */
#ifndef ESTRAD_STORE_PG_H
#define ESTRAD_STORE_PG_H

#include <stddef.h>

#include <libpq-fe.h>

struct cfg_store;
struct store_cli;
struct store_entry;

/*
 * Connect with cfg and check the schema is one this estrad reads. 1: sc
 * is open (sco_close closes it); 0: the database has no estrad schema yet
 * (nothing to list; nothing opened); -1 with err (one line naming the
 * database, never the password). where gets "postgresql HOST:PORT/DB" in
 * every case.
 */
int store_pg_open(const struct cfg_store *cfg, struct store_cli *sc,
    char *where, size_t wherelen, char *err, size_t errlen);

/*
 * Row row of a select of STORE_PG_QUEUE_COLS into e (its buffers the
 * caller's: store_entry_clear). 0, or -1 (out of memory, a bytea that is
 * not hex, an unknown state) with e cleared and err set.
 */
#define STORE_PG_QUEUE_COLS \
	"id, label, op, identity, pubkey, subject, request_id, " \
	"content_type, csr, state, created, updated, expires, next_attempt, " \
	"attempts, ca_status, result_type, result, retry_after, note, " \
	"sans, ca_received, last_error, lease_owner, lease_until"
int store_pg_read_entry(const PGresult *res, int row, struct store_entry *e,
    char *err, size_t errlen);

#endif
