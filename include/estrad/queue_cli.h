/*
 * queue_cli: the operator's view of the store-and-forward queue,
 *
 *	estrad -c FILE queue list [--all] [--json]
 *	estrad -c FILE queue show ID [--json]
 *	estrad -c FILE queue retry ID
 *	estrad -c FILE queue purge ID | --all
 *
 * It opens the daemon's store (the SQLite file in state_dir, without the
 * daemon's lock; or the shared PostgreSQL database of store.backend
 * "postgresql"), so it works while the daemon or the replicas run: a purge only marks rows, which the daemon then
 * forgets, and a retry flags one, which the daemon then sends, both
 * within two seconds (store_purged_ids, store_retry_ids: the daemon polls
 * the store; no signal, no network endpoint).
 */
#ifndef ESTRAD_QUEUE_CLI_H
#define ESTRAD_QUEUE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config;
struct store_cli;

/*
 * argv[0] is "queue". Prints to stdout, errors to stderr. Returns the exit
 * status: 0 done, 1 failed, 2 bad usage.
 */
int queue_cli_main(const struct config *cfg, int argc, char **argv);

/*
 * One line per entry on out, under a header: id, state, label, op,
 * identity, subject, SANs, age, next attempt, attempts, how many the CA
 * received, the CA's status, the request id, the replica holding it (a
 * LEASE column, for a store with leases), the note with the last error;
 * with all == 0 only active entries. json: one JSON array instead,
 * an entry a line, with the fields of `queue show --json`. Returns the
 * number listed, or -1 with err.
 */
int queue_cli_list(const struct store_cli *sc, FILE *out, int all,
    int json, char *err, size_t errlen);
/* Every field of entry id on out ("name value" lines, or one JSON
 * object). 0, or -1 with err ("no queue entry ID"). */
int queue_cli_show(const struct store_cli *sc, FILE *out, int64_t id,
    int json, char *err, size_t errlen);
/* Ask the daemon to send waiting entry id now. 0, or -1 with err: "no
 * queue entry ID", "queue entry ID is issued: ...". */
int queue_cli_retry(const struct store_cli *sc, int64_t id, char *err,
    size_t errlen);
/*
 * Mark entries purged: the one with id (id > 0), or every active one
 * (id == 0). Each purged entry is also appended as a JSON line to
 * audit_file when it is not NULL. Returns how many, or -1 with err.
 */
int queue_cli_purge(const struct store_cli *sc, int64_t id,
    const char *audit_file, char *err, size_t errlen);

#endif
