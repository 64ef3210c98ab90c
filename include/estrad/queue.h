/*
 * queue: store and forward (RFC 7030 §4.2.3). An enrollment that passed
 * authentication and policy while every upstream of its label was
 * unreachable, or that the CA itself answered 202, is kept in the durable
 * store and the client is told 202 + Retry-After. A forwarder sends the
 * kept requests when the link returns (bounded concurrency, backoff per
 * entry) and polls a CA that said 202. The client's retry is matched on
 * label + operation + authenticated identity + public key + subject (not
 * the CSR's bytes: with channel binding every retry's CSR differs) and
 * gets the CA's final answer, or 202 again.
 *
 * With SQLite, entries live in memory (every lookup is on the event loop,
 * without I/O) and on disk (store.c): every change is written by one
 * writer thread, in order; a 202 leaves only after its entry is on disk.
 * On PostgreSQL (store.backend "postgresql", queue_pg.c) the shared table
 * is the only truth: lookups and puts are queries, and every replica's
 * forwarder claims due entries with a lease, so that one sends each.
 */
#ifndef ESTRAD_QUEUE_H
#define ESTRAD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "estrad/auth.h"
#include "estrad/config.h"
#include "estrad/reply.h"
#include "estrad/router.h"
#include "estrad/store.h"

struct audit;
struct pg;
struct upstream_ctx;
struct upstream_report;
struct queue;
struct queue_job;

/* What identifies "the same request" (§4.2.3), all text. */
struct queue_key {
	char	label[65];	/* estrad's label (EST_LABEL_MAX), "" for none */
	char	op[20];
	char	identity[300];
	char	pubkey[65];	/* hex SHA-256 of the SubjectPublicKeyInfo */
	char	subject[512];	/* RFC 2253 */
};

/* Fill k. identity "METHOD:NAME" ("anonymous" when none). 0, or -1 when
 * the CSR has no usable public key or the text does not fit. */
int queue_key_make(struct queue_key *k, const char *label, enum est_op op,
    const struct auth_identity *id, X509_REQ *req);
int queue_key_equal(const struct queue_key *a, const struct queue_key *b);
/* The key of a stored entry. */
void queue_key_of_entry(struct queue_key *k, const struct store_entry *e);

/*
 * A config without a "queue" section gives no queue: queue_enabled() is
 * 0, lookups miss and puts are refused. st is read here (start-up) and
 * written through store_submit() afterwards. pg non-NULL: the queue is
 * the shared table estrad_queue instead (st is not used for it).
 */
struct queue *queue_new(struct event_base *base, const struct config *cfg,
    struct store *st, struct pg *pg, struct upstream_ctx *up,
    struct audit *audit, char *err, size_t errlen);
/* Cancel the forwarder's transfers and free. Call store_close() first:
 * its last write callbacks need the queue. */
void queue_free(struct queue *q);
int queue_enabled(const struct queue *q);

/* Called once, on the loop, unless cancelled: 202 when on disk, 503 when
 * the queue is full or the shared store away, 500 when it could not be
 * written. The callee takes the reply. From a lookup on the shared store:
 * reply NULL when nothing matches, and deliver as queue_lookup's. */
typedef void (*queue_put_cb)(void *arg, struct est_reply *reply,
    int64_t deliver);

enum queue_found {
	QUEUE_MISS,	/* nothing matches: a new request */
	QUEUE_ANSWER,	/* *reply filled */
	QUEUE_WAIT	/* the match is being written: done follows */
};

/*
 * Does the client's request match an entry? QUEUE_ANSWER fills *reply:
 * 202 + Retry-After while the entry waits, or the CA's final 200 / 4xx,
 * byte for byte as the CA gave it; then *deliver is the entry's id, and
 * the caller calls queue_delivered() once the answer has left. QUEUE_WAIT:
 * the matching entry's insert is still being written, or (on the shared
 * store) the lookup is a query; *job is set and done(arg, reply, deliver)
 * follows (reply NULL: a miss), as for queue_put().
 */
enum queue_found queue_lookup(struct queue *q, const struct queue_key *k,
    struct est_reply *reply, int64_t *deliver, queue_put_cb done, void *arg,
    struct queue_job **job);
/* The client got the CA's answer of entry id: it is "delivered". */
void queue_delivered(struct queue *q, int64_t id);

struct queue_put {
	const struct queue_key	*key;
	const struct cfg_route	*route;
	const char		*content_type;	/* of the CSR */
	const unsigned char	*csr;		/* copied */
	size_t			 csr_len;
	const char		*request_id;
	enum queue_state	 state;		/* QS_PENDING or QS_POLLING */
	const char		*ca_retry_after;	/* the CA's, or NULL */
	const char		*note;		/* why it was queued */
	const char		*sans;		/* the CSR's, store_entry.sans */
	/* The client's own transfer, which queued it: NULL when none was
	 * sent (every URL's breaker open), else its report. */
	const struct upstream_report *sent;
};

/*
 * Keep a request. Returns 0 with *job set (done follows), or -1 with
 * *reply filled at once (503 full or the writer busy, 500 no memory).
 */
int queue_put(struct queue *q, const struct queue_put *p, queue_put_cb done,
    void *arg, struct queue_job **job, struct est_reply *reply);
/* The client left: the entry is still kept; done will not be called. */
void queue_put_cancel(struct queue_job *job);

/* Counts for logs and metrics. */
size_t queue_depth(const struct queue *q);
/* SIGTERM: start no new sends; queue_sending() says how many are
 * still under way (the caller waits for them). */
void queue_drain(struct queue *q);
long queue_sending(const struct queue *q);
/* 1 if an entry for label would be forwarded (routes as at start). */
int queue_routes_label(const struct queue *q, const char *label);
/* Entries by state (index enum queue_state; QS_PURGED -1: memory does
 * not keep them), and the age of the oldest waiting one (seconds); zeros
 * if none or the queue is off. */
void queue_stats(const struct queue *q, double entries[QS_MAX],
    double *oldest_age_seconds);

#endif
