/*
 * queue_int: what queue.c (the queue, memory and SQLite) shares with
 * queue_pg.c (the queue on PostgreSQL, where the database is the truth):
 * the context, an entry being forwarded, and the pieces both use: the
 * answers a client gets, an entry's changes of state (log and audit), the
 * forwarder's send and its reading of the CA's answer.
 */
#ifndef ESTRAD_QUEUE_INT_H
#define ESTRAD_QUEUE_INT_H

#include <sys/queue.h>

#include "estrad/queue.h"

struct pg;
struct pg_query;
struct queue_pg;

#define QUEUE_TICK_MS		1000
#define QUEUE_SYNC_EVERY	2	/* ticks between purge checks */
#define QUEUE_SWEEP_EVERY	60	/* ticks between deletes of old rows */
#define QUEUE_EXPIRE_PER_TICK	256	/* a mass expiry spreads out */

struct queue_job {
	struct queue_entry	*qj_entry;
	queue_put_cb		 qj_done;	/* NULL: cancelled */
	void			*qj_arg;
	struct queue_job	*qj_next;
	/* The shared store's: the query in flight, and for a put the key
	 * to look up when another replica queued it first. */
	struct queue		*qj_q;
	struct pg_query		*qj_pgq;
	int			 qj_put;	/* a put's lookup after a
						 * conflict */
	struct queue_key	 qj_key;
};

struct queue_entry {
	struct store_entry		 qe_e;
	struct queue			*qe_q;
	struct upstream_xfer		*qe_xfer;	/* the forwarder's */
	int				 qe_sending;	/* attempt write, xfer */
	int				 qe_durable;	/* inserted */
	int				 qe_writes;	/* in the writer */
	int				 qe_gone;	/* free once writes end */
	int				 qe_retry;	/* the operator's: now */
	int				 qe_unwritten;	/* the shared store's:
							 * a result to write */
	struct queue_job		*qe_waiters;	/* until inserted */
	TAILQ_ENTRY(queue_entry)	 qe_link;
};

TAILQ_HEAD(queue_entries, queue_entry);

struct queue {
	struct event_base	*q_base;
	const struct config	*q_cfg;
	const struct cfg_queue	*q_qcfg;
	struct store		*q_store;
	struct upstream_ctx	*q_up;
	struct audit		*q_audit;
	struct queue_entries	 q_entries;
	size_t			 q_active;
	long			 q_forwarding;	/* entries qe_sending */
	struct event		*q_tick;
	struct event		*q_kick;	/* a pass now, from the loop */
	unsigned		 q_ticks;
	int			 q_syncing;
	int			 q_load_failed;
	int			 q_draining;	/* SIGTERM: no new sends */
	/* The shared store (queue_pg.c): NULL with SQLite. Then q_entries
	 * holds only the entries this process claimed and is sending, and
	 * q_active is the count of active rows read at the last tick. */
	struct pg		*q_pg;
	struct queue_pg		*q_pgq;
};


int64_t queue_now(void);
void queue_audit(struct queue *q, const struct store_entry *e,
    const char *reason);
void queue_drop_csr(struct store_entry *e);
void queue_set_state(struct queue_entry *qe, enum queue_state s,
    const char *why);
void queue_drop(struct queue_entry *qe);
void queue_reply_pending(const struct queue *q, const struct store_entry *e,
    struct est_reply *reply);
void queue_reply_final(const struct store_entry *e, struct est_reply *reply);
int queue_entry_fill(struct queue *q, struct store_entry *e,
    const struct queue_put *p);
int queue_refuse(const struct queue *q, struct est_reply *reply, int status,
    const char *why);
const struct cfg_route *queue_route(const struct queue *q,
    const struct store_entry *e);
void queue_send(struct queue_entry *qe);
void queue_kick(struct queue *q);

/* ---- queue_pg.c: the same promises, on PostgreSQL ------------------------ */

/* Start on pg (the forwarder's tick is queue.c's). 0, or -1 with err. */
int queue_pg_new(struct queue *q, struct pg *pg, char *err, size_t errlen);
void queue_pg_free(struct queue *q);
/* Always QUEUE_WAIT (done follows: reply NULL for no match) or
 * QUEUE_ANSWER with a 503 when the database is away. */
enum queue_found queue_pg_lookup(struct queue *q, const struct queue_key *k,
    struct est_reply *reply, queue_put_cb done, void *arg,
    struct queue_job **job);
int queue_pg_put(struct queue *q, const struct queue_put *p, queue_put_cb done,
    void *arg, struct queue_job **job, struct est_reply *reply);
void queue_pg_cancel(struct queue_job *job);
void queue_pg_delivered(struct queue *q, int64_t id);
/* Write the forwarder's result for qe, under its lease; qe is dropped
 * once it is written (or the lease was lost), and written again at the
 * next tick if that failed. */
void queue_pg_write(struct queue_entry *qe);
/* One tick: claim and send what is due, renew leases, housekeeping. */
void queue_pg_tick(struct queue *q, int pass_only);
void queue_pg_stats(const struct queue *q, double entries[QS_MAX],
    double *oldest_age_seconds);
long queue_pg_writing(const struct queue *q);

#endif
