/*
 * store: estrad's durable state in one SQLite database, STATE_DIR/estrad.db,
 * in WAL mode with synchronous=FULL: the store-and-forward queue
 * (RFC 7030 §4.2.3) and the last good cacerts/csrattrs per label.
 *
 * Every data call here is synchronous and may block on the disk. The
 * daemon calls store_open() and the loaders at start-up only; then
 * store_writer_start() starts the store's one writer thread, and every
 * later call runs there (store_submit), never on the event loop, in the
 * order submitted. One connection, used by one thread at a time.
 *
 * `estrad queue list|show|purge|retry` opens the same file with its own
 * connection (WAL lets it read while the daemon writes). A purge marks
 * rows "purged", a retry sets their retry_requested; the running daemon
 * notices both within two seconds (store_purged_ids, store_retry_ids).
 */
#ifndef ESTRAD_STORE_H
#define ESTRAD_STORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The files of a state_dir, for privdrop's hand-over: create is 1 for
 * those store_open() makes itself (so they may be made, 0600, first),
 * 0 for SQLite's own (-wal, -shm). Ends with a NULL name.
 */
struct store_file {
	const char	*name;
	int		 create;
};
extern const struct store_file store_files[];

enum queue_state {
	QS_PENDING,	/* waiting for an upstream to be reachable */
	QS_POLLING,	/* the CA answered 202; asked again later */
	QS_ISSUED,	/* the CA issued: result waits for the client */
	QS_REFUSED,	/* the CA refused (4xx): result waits for the client */
	QS_DELIVERED,	/* the client got the result: kept for inspection */
	QS_EXPIRED,	/* nobody came, or the CA never answered in time */
	QS_PURGED,	/* removed by the operator (estrad queue purge) */
	QS_MAX
};

/* "pending", "polling", ...; NULL for an unknown value. */
const char *queue_state_name(enum queue_state s);
/* The state named name, or QS_MAX. */
enum queue_state queue_state_from_name(const char *name);
/* Waiting for the CA or for the client (pending .. refused). */
int queue_state_active(enum queue_state s);

/* One queued enrollment, as stored. Strings are NUL-terminated. */
struct store_entry {
	int64_t		 id;		/* rowid; 0 before the insert */
	char		 label[65];	/* estrad's label (EST_LABEL_MAX); "" = bare */
	char		 op[20];	/* "simpleenroll", "simplereenroll" */
	char		 identity[300];	/* "digest:alice", "cert:CN=dev1,O=x" */
	char		 pubkey[65];	/* hex SHA-256 of the SPKI DER */
	char		 subject[512];	/* RFC 2253 text of the CSR subject */
	char		 request_id[32];	/* the request that queued it */
	char		 content_type[128];	/* of the CSR as sent */
	unsigned char	*csr;		/* the request body, byte for byte */
	size_t		 csr_len;
	enum queue_state state;
	int64_t		 created;	/* Unix seconds */
	int64_t		 updated;
	int64_t		 expires;
	int64_t		 next_attempt;	/* when the forwarder may send it */
	int		 attempts;	/* upstream calls started */
	int		 ca_received;	/* of those, the ones that reached
					 * the CA (upstream_report) */
	int		 ca_status;	/* the CA's last status; 0: none */
	char		 result_type[128];	/* the CA's Content-Type */
	unsigned char	*result;	/* the CA's body, byte for byte */
	size_t		 result_len;
	char		 retry_after[32];	/* the CA's, on 202 */
	char		 note[192];	/* last thing that happened, one line */
	char		 sans[512];	/* the CSR's subjectAltNames, one per
					 * line ("DNS:a.example\nIP:10.0.0.1"),
					 * quoted as the audit record does */
	char		 last_error[256];	/* what the last attempt that
						 * failed showed (curl's or
						 * TLS's error, the CA's
						 * status line); "" none */
	/* PostgreSQL only (estrad_queue's claim; "" and 0 on SQLite): the
	 * replica forwarding the entry, holding it until lease_until
	 * (the database's clock). */
	char		 lease_owner[128];
	int64_t		 lease_until;
};

/* Deep copy (src's buffers duplicated). 0, or -1 out of memory. */
int store_entry_copy(struct store_entry *dst, const struct store_entry *src);
/* Free the buffers and zero e. */
void store_entry_clear(struct store_entry *e);

/* A cached answer: cacerts or csrattrs of one label. */
struct store_cached {
	char		 label[65];	/* "" = bare path */
	char		 op[20];	/* "cacerts", "csrattrs" */
	char		 source[256];	/* "UPSTREAM/upstream_label": where
					 * it came from; a changed config
					 * ignores rows of another source */
	int		 status;	/* 200, or 204/404 for csrattrs */
	char		 content_type[128];
	unsigned char	*body;
	size_t		 body_len;
	int64_t		 fetched;	/* Unix seconds */
};

void store_cached_clear(struct store_cached *c);

struct event_base;
struct store;

/*
 * Open (creating) DIR/estrad.db, set WAL and synchronous=FULL, create the
 * tables if missing. lock != 0: also take an exclusive lock on
 * DIR/estrad.lock (flock), so that two daemons never share a queue; a
 * second daemon gets an error naming the file. DIR is created (0700) if
 * missing. NULL with a one-line reason in err.
 */
struct store *store_open(const char *dir, int lock, char *err,
    size_t errlen);
/* Stop the writer (jobs in hand run and complete first), close. */
void store_close(struct store *st);

/* From now on, calls go through store_submit(). 0, or -1. */
int store_writer_start(struct store *st, struct event_base *base);
/*
 * Run work(st, arg) on the writer thread, then done(arg) on the event
 * loop: exactly once each, in submission order (done may be NULL). 0, or
 * -1 when 4096 jobs wait already, or the writer is not started (the
 * caller answers 503 or drops a cache write, and says so in the log).
 * store_close() runs the jobs still waiting, and their done callbacks.
 */
int store_submit(struct store *st, void (*work)(struct store *st, void *arg),
    void (*done)(void *arg), void *arg);

/*
 * Call each(arg, e) for every row in an active state (queue_state_active)
 * and for delivered/expired rows too (the queue keeps them until they
 * expire), oldest first; each takes the entry's buffers (the callee
 * clears it). Purged rows are deleted here. 0, or -1 with err.
 */
int store_load_entries(struct store *st,
    void (*each)(void *arg, struct store_entry *e), void *arg,
    char *err, size_t errlen);
/* Likewise every cached answer. */
int store_load_cached(struct store *st,
    void (*each)(void *arg, struct store_cached *c), void *arg,
    char *err, size_t errlen);

/* Insert e (e->id ignored); sets e->id. One transaction. 0 or -1. */
int store_insert(struct store *st, struct store_entry *e, char *err,
    size_t errlen);
/*
 * Write e's mutable fields (state .. note: not the key, request_id,
 * content_type, CSR or created, which never change) over row e->id,
 * unless that row was purged meanwhile (or deleted): then nothing is
 * written and 1 is returned, so the daemon drops the entry. 0 written,
 * -1 error.
 */
int store_update(struct store *st, const struct store_entry *e, char *err,
    size_t errlen);
/* Delete rows in a final state (delivered, expired, purged) whose
 * expires <= now. Returns the number deleted, or -1. */
int store_delete_done(struct store *st, int64_t now, char *err,
    size_t errlen);
/* Insert or replace the cached answer for (label, op). 0 or -1. */
int store_put_cached(struct store *st, const struct store_cached *c,
    char *err, size_t errlen);
/*
 * The ids of rows in state "purged" (an operator's `estrad queue purge`
 * while the daemon runs), deleting those rows in the same transaction;
 * *ids malloc'd (free it; NULL when *n is 0). 0 or -1.
 */
int store_purged_ids(struct store *st, int64_t **ids, size_t *n,
    char *err, size_t errlen);

/*
 * The ids of rows an operator asked to send now (`estrad queue retry`),
 * clearing the requests in the same transaction; as store_purged_ids.
 */
int store_retry_ids(struct store *st, int64_t **ids, size_t *n,
    char *err, size_t errlen);

/*
 * Entries held back by an open breaker: their next attempts, all in one
 * transaction (one job however many wait; rows no longer waiting are left
 * alone). 0 or -1.
 */
struct store_next {
	int64_t	sn_id;
	int64_t	sn_when;
};
int store_set_next_attempts(struct store *st, const struct store_next *next,
    size_t n, char *err, size_t errlen);

/* ---- for `estrad queue` (queue_cli.c), store_list.c ------------------- */

/* The note a purged entry carries. */
#define STORE_PURGE_NOTE	"purged by the operator"

/* An entry of a listing, on pass 0, 1, ...; it goes when visit returns. */
typedef void (*store_list_fn)(const struct store_entry *e, int pass,
    void *arg);
/*
 * The entries in id order (all == 0: only active ones), passes times over
 * one read transaction, so every pass sees the same rows (a listing
 * measures its columns, then prints); stops after a pass that finds
 * none. Returns the number of entries, or -1 with err.
 */
int store_list(struct store *st, int all, int passes, store_list_fn visit,
    void *arg, char *err, size_t errlen);

/* An entry about to be purged (state QS_PURGED already): 0, or -1 (out
 * of memory) to purge nothing. */
typedef int (*store_purge_fn)(const struct store_entry *e, void *arg);
/*
 * Mark entries purged: the one with id (id > 0), or every active one
 * (id == 0), in one transaction: accept sees every entry before any is
 * marked. Returns how many (0: none matched), or -1 with err.
 */
int store_purge(struct store *st, int64_t id, store_purge_fn accept,
    void *arg, char *err, size_t errlen);

/* Entry id into *e (the caller clears it): 1, 0 no such entry (purged
 * ones included: they wait for the daemon), or -1 with err. */
int store_get(struct store *st, int64_t id, struct store_entry *e,
    char *err, size_t errlen);
/*
 * Ask the daemon to send entry id now (store_retry_ids), in one
 * transaction with a read of it: *e is the entry as it was (cleared by
 * the caller). 1 asked (pending or polling), 0 not (no such entry: e->id
 * is 0; or its state says why), -1 with err.
 */
int store_retry(struct store *st, int64_t id, struct store_entry *e,
    char *err, size_t errlen);

/*
 * `estrad queue` on either store: the SQLite file (store_cli_sqlite,
 * store_list.c) or the shared PostgreSQL database (store_pg.c). Each call
 * promises what the function of the same name above does; h is the
 * store's handle. queue_cli.c is written once against this.
 */
struct store_cli_ops {
	int	(*sco_list)(void *h, int all, int passes, store_list_fn visit,
		    void *arg, char *err, size_t errlen);
	int	(*sco_purge)(void *h, int64_t id, store_purge_fn accept,
		    void *arg, char *err, size_t errlen);
	int	(*sco_get)(void *h, int64_t id, struct store_entry *e,
		    char *err, size_t errlen);
	int	(*sco_retry)(void *h, int64_t id, struct store_entry *e,
		    char *err, size_t errlen);
	/* The clock of the entries' times (Unix seconds): this host's for
	 * SQLite, the database's for PostgreSQL; -1 with err. */
	int64_t	(*sco_now)(void *h, char *err, size_t errlen);
	/* Closes the store and frees h. */
	void	(*sco_close)(void *h);
	/* 1: entries carry a claim (lease_owner, lease_until) worth a
	 * column; 0: never (SQLite: one daemon per state_dir). */
	int	  sco_leases;
};

struct store_cli {
	const struct store_cli_ops	*sc_ops;
	void				*sc_h;
};

/* sc over st (opened with store_open, lock 0): sco_close closes st. */
void store_cli_sqlite(struct store *st, struct store_cli *sc);

#endif
