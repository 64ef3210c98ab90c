/*
 * queue: store and forward (RFC 7030 §4.2.3).
 *
 * Every entry lives twice: in memory, where the event loop looks it up
 * without I/O, and in the store, where it survives a crash. Changes are
 * made in memory, then written by the store's one writer thread in the
 * order they were made; the client's 202 waits for its entry's insert.
 * An entry is not touched again (forwarded, expired, delivered) before
 * its insert is on disk, so an update never precedes its row.
 *
 * The forwarder is a one-second tick. It sends due entries while fewer
 * than queue.max_forwarding are in flight and the upstream has a URL
 * worth trying (its circuit breakers decide: see backoff.h); the CA's
 * answer moves the entry on:
 *
 *   pending/polling --200/201--> issued    --client retry--> delivered
 *                   --4xx------> refused   --client retry--> delivered
 *                   --202------> polling   (asked again after Retry-After)
 *                   --no answer, 5xx--> stays, tried again later
 *   any active state --expires--> expired; estrad queue purge --> purged
 *
 * Every change of state is an audit line. A CA that issued while estrad
 * died before writing "issued" sees the request again after the restart
 * and may issue a second certificate for the same key (docs/offline.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

#include "estrad/audit.h"
#include "estrad/backoff.h"
#include "estrad/log.h"
#include "estrad/queue.h"
#include "estrad/upstream.h"

/* glibc's sys/queue.h lacks the BSD _SAFE walk. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define QUEUE_TICK_MS		1000
#define QUEUE_SYNC_EVERY	2	/* ticks between purge checks */
#define QUEUE_SWEEP_EVERY	60	/* ticks between deletes of old rows */

struct queue_entry {
	struct store_entry		 qe_e;
	struct queue			*qe_q;
	struct upstream_xfer		*qe_xfer;	/* the forwarder's */
	int				 qe_durable;	/* inserted */
	int				 qe_writes;	/* in the writer */
	int				 qe_gone;	/* free once writes end */
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
	long			 q_forwarding;
	struct event		*q_tick;
	unsigned		 q_ticks;
	int			 q_syncing;
};

/* A write in the writer thread: a copy of the entry, and the outcome. */
struct queue_write {
	struct queue_entry	*qw_entry;
	struct store_entry	 qw_copy;
	int			 qw_insert;
	int			 qw_rc;		/* 0, 1 purged, -1 error */
	char			 qw_err[256];
	struct queue_job	*qw_job;	/* a client waits (insert) */
};

struct queue_job {
	struct queue_entry	*qj_entry;
	queue_put_cb		 qj_done;
	void			*qj_arg;
};

static void queue_write(struct queue_entry *qe, struct queue_job *job);

static int64_t
queue_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- audit ------------------------------------------------------------ */

static void
queue_audit_done(void *arg, int ok)
{
}

/* One audit line per change of state; written, never waited for. */
static void
queue_audit(struct queue *q, const struct store_entry *e, const char *reason)
{
	struct audit_job	*job = NULL;
	char			*line;

	if (q->q_audit == NULL || !audit_enabled(q->q_audit))
		return;
	if ((line = audit_format_queue(e, reason)) == NULL) {
		log_err("queue: entry %lld: cannot format its audit record",
		    (long long)e->id);
		return;
	}
	if (audit_submit(q->q_audit, line, queue_audit_done, NULL, &job) == 0)
		audit_cancel(job);	/* still written; nobody waits */
}

static void
queue_set_state(struct queue_entry *qe, enum queue_state s, const char *why)
{
	struct queue *q = qe->qe_q;

	if (queue_state_active(qe->qe_e.state) && !queue_state_active(s))
		q->q_active--;
	qe->qe_e.state = s;
	qe->qe_e.updated = queue_now();
	snprintf(qe->qe_e.note, sizeof(qe->qe_e.note), "%s", why);
	log_info("queue: entry %lld (%s %s, %s) is %s: %s",
	    (long long)qe->qe_e.id, qe->qe_e.label[0] ? qe->qe_e.label : "-",
	    qe->qe_e.op, qe->qe_e.identity, queue_state_name(s), why);
	queue_audit(q, &qe->qe_e, why);
}

/* ---- memory ------------------------------------------------------------- */

static void
queue_entry_free(struct queue_entry *qe)
{
	store_entry_clear(&qe->qe_e);
	free(qe);
}

/* Forget qe (purged, deleted): now, or when its last write returns. */
static void
queue_drop(struct queue_entry *qe)
{
	struct queue *q = qe->qe_q;

	if (qe->qe_gone)
		return;
	if (queue_state_active(qe->qe_e.state))
		q->q_active--;
	if (qe->qe_xfer != NULL) {
		upstream_cancel(qe->qe_xfer);
		qe->qe_xfer = NULL;
		q->q_forwarding--;
	}
	TAILQ_REMOVE(&q->q_entries, qe, qe_link);
	qe->qe_gone = 1;
	if (qe->qe_writes == 0)
		queue_entry_free(qe);
}

static struct queue_entry *
queue_find_id(struct queue *q, int64_t id)
{
	struct queue_entry *qe;

	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		if (qe->qe_e.id == id)
			return qe;
	return NULL;
}

/* ---- the writer --------------------------------------------------------- */

static void
queue_write_work(struct store *st, void *arg)
{
	struct queue_write *w = arg;

	if (w->qw_insert)
		w->qw_rc = store_insert(st, &w->qw_copy, w->qw_err,
		    sizeof(w->qw_err));
	else
		w->qw_rc = store_update(st, &w->qw_copy, w->qw_err,
		    sizeof(w->qw_err));
}

static long
queue_retry_after(const struct queue *q, const struct store_entry *e)
{
	long secs;

	/* A CA's own Retry-After is what its approval takes: pass it on. */
	if (e->state == QS_POLLING && e->retry_after[0] != '\0' &&
	    (secs = strtol(e->retry_after, NULL, 10)) >= 1 && secs <= 86400)
		return secs;
	return q->q_qcfg->retry_after;
}

/* The 202 for an entry that waits (RFC 7030 §4.2.3). */
static void
queue_reply_pending(const struct queue *q, const struct store_entry *e,
    struct est_reply *reply)
{
	long secs = queue_retry_after(q, e);

	est_reply_error(reply, 202, "queued as %lld (%s): %s; retry after "
	    "%ld s", (long long)e->id, queue_state_name(e->state),
	    e->state == QS_POLLING ? "the CA has not decided yet" :
	    "the CA is unreachable", secs);
	snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld", secs);
}

static void
queue_insert_done(struct queue_write *w)
{
	struct queue_entry	*qe = w->qw_entry;
	struct queue_job	*job = w->qw_job;
	struct est_reply	 reply;

	memset(&reply, 0, sizeof(reply));
	if (w->qw_rc != 0) {
		log_err("queue: cannot keep a request: %s", w->qw_err);
		est_reply_error(&reply, 500, "the request could not be queued");
		if (!qe->qe_gone)
			queue_drop(qe);
	} else {
		qe->qe_e.id = w->qw_copy.id;
		qe->qe_durable = 1;
		if (!qe->qe_gone) {
			char why[sizeof(qe->qe_e.note)];
			memcpy(why, qe->qe_e.note, sizeof(why));
			queue_set_state(qe, qe->qe_e.state, why);
			queue_reply_pending(qe->qe_q, &qe->qe_e, &reply);
		}
	}
	if (job != NULL) {
		if (job->qj_done != NULL)
			job->qj_done(job->qj_arg, &reply);
		free(job);
	}
	est_reply_clear(&reply);
}

static void
queue_write_done(void *arg)
{
	struct queue_write	*w = arg;
	struct queue_entry	*qe = w->qw_entry;

	/* qe_writes still counts this write: a drop below keeps qe. */
	if (w->qw_insert)
		queue_insert_done(w);
	else if (w->qw_rc == 1 && !qe->qe_gone) {
		log_info("queue: entry %lld was purged by the operator",
		    (long long)qe->qe_e.id);
		queue_drop(qe);
	} else if (w->qw_rc == -1)
		/* Memory goes on; the next write of this entry, or the
		 * forwarder after a restart, repeats the lost one. */
		log_err("queue: entry %lld: %s", (long long)qe->qe_e.id,
		    w->qw_err);
	store_entry_clear(&w->qw_copy);
	free(w);
	if (--qe->qe_writes == 0 && qe->qe_gone)
		queue_entry_free(qe);
}

/* Write qe as it is now (insert when job is set). */
static void
queue_write(struct queue_entry *qe, struct queue_job *job)
{
	struct queue_write	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    store_entry_copy(&w->qw_copy, &qe->qe_e) == -1)
		goto fail;
	w->qw_entry = qe;
	w->qw_insert = job != NULL;
	w->qw_job = job;
	if (store_submit(qe->qe_q->q_store, queue_write_work,
	    queue_write_done, w) == -1)
		goto fail;
	qe->qe_writes++;
	return;
fail:
	if (w != NULL) {
		store_entry_clear(&w->qw_copy);
		free(w);
	}
	/* An insert's caller sees qe_writes unchanged and answers 503. */
	log_err("queue: entry %lld: cannot hand its write to the writer",
	    (long long)qe->qe_e.id);
}

/* ---- the client's side ------------------------------------------------ */

int
queue_enabled(const struct queue *q)
{
	return q != NULL && q->q_qcfg->enabled;
}

size_t
queue_depth(const struct queue *q)
{
	return q != NULL ? q->q_active : 0;
}

int
queue_lookup(struct queue *q, const struct queue_key *k,
    struct est_reply *reply)
{
	struct queue_entry	*qe;
	struct queue_key	 ek;
	struct store_entry	*e;

	if (!queue_enabled(q))
		return 0;
	TAILQ_FOREACH(qe, &q->q_entries, qe_link) {
		e = &qe->qe_e;
		if (!qe->qe_durable || !queue_state_active(e->state))
			continue;
		queue_key_of_entry(&ek, e);
		if (queue_key_equal(&ek, k))
			break;
	}
	if (qe == NULL)
		return 0;
	if (e->state == QS_PENDING || e->state == QS_POLLING) {
		queue_reply_pending(q, e, reply);
		return 1;
	}
	/* The CA's final answer, as it gave it. */
	memset(reply, 0, sizeof(*reply));
	reply->status = e->ca_status;
	snprintf(reply->content_type, sizeof(reply->content_type), "%s",
	    e->result_type);
	if (e->result_len > 0) {
		if ((reply->body = malloc(e->result_len)) == NULL) {
			est_reply_error(reply, 500, "internal error");
			return 1;
		}
		memcpy(reply->body, e->result, e->result_len);
		reply->body_len = e->result_len;
	}
	snprintf(reply->reason, sizeof(reply->reason), "queued entry %lld: "
	    "the CA's answer %d", (long long)e->id, e->ca_status);
	queue_set_state(qe, QS_DELIVERED, "the client came back for it");
	queue_write(qe, NULL);
	return 1;
}

static long
queue_poll_delay(const struct queue *q, const char *ca_retry_after)
{
	long secs;

	if (ca_retry_after != NULL && ca_retry_after[0] != '\0' &&
	    (secs = strtol(ca_retry_after, NULL, 10)) >= 1 && secs <= 86400)
		return secs;
	return q->q_qcfg->poll_interval;
}

static int
queue_entry_fill(struct queue *q, struct store_entry *e,
    const struct queue_put *p)
{
	const struct queue_key *k = p->key;

	snprintf(e->label, sizeof(e->label), "%s", k->label);
	snprintf(e->op, sizeof(e->op), "%s", k->op);
	snprintf(e->identity, sizeof(e->identity), "%s", k->identity);
	snprintf(e->pubkey, sizeof(e->pubkey), "%s", k->pubkey);
	snprintf(e->subject, sizeof(e->subject), "%s", k->subject);
	snprintf(e->request_id, sizeof(e->request_id), "%s",
	    p->request_id ? p->request_id : "-");
	snprintf(e->content_type, sizeof(e->content_type), "%s",
	    p->content_type ? p->content_type : "application/pkcs10");
	snprintf(e->note, sizeof(e->note), "%s", p->note ? p->note :
	    "queued");
	if ((e->csr = malloc(p->csr_len ? p->csr_len : 1)) == NULL)
		return -1;
	memcpy(e->csr, p->csr, p->csr_len);
	e->csr_len = p->csr_len;
	e->state = p->state;
	e->created = e->updated = queue_now();
	e->expires = e->created + q->q_qcfg->expire;
	e->next_attempt = e->created;
	if (p->state == QS_POLLING) {
		snprintf(e->retry_after, sizeof(e->retry_after), "%s",
		    p->ca_retry_after ? p->ca_retry_after : "");
		e->next_attempt += queue_poll_delay(q, p->ca_retry_after);
		e->attempts = 1;
		e->ca_status = 202;
	}
	return 0;
}

int
queue_put(struct queue *q, const struct queue_put *p, queue_put_cb done,
    void *arg, struct queue_job **job, struct est_reply *reply)
{
	struct queue_entry	*qe;
	struct queue_job	*j;

	*job = NULL;
	if (!queue_enabled(q)) {
		est_reply_error(reply, 500, "internal error");
		return -1;
	}
	if (q->q_active >= (size_t)q->q_qcfg->max_entries) {
		log_warn("queue: full (%zu entries); refusing a request",
		    q->q_active);
		est_reply_error(reply, 503, "the CA is unreachable and the "
		    "queue is full (%ld entries); retry later",
		    q->q_qcfg->max_entries);
		snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld",
		    q->q_qcfg->retry_after);
		return -1;
	}
	if ((qe = calloc(1, sizeof(*qe))) == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL) {
		free(qe);
		est_reply_error(reply, 500, "internal error");
		return -1;
	}
	qe->qe_q = q;
	if (queue_entry_fill(q, &qe->qe_e, p) == -1)
		goto fail;
	j->qj_entry = qe;
	j->qj_done = done;
	j->qj_arg = arg;
	TAILQ_INSERT_TAIL(&q->q_entries, qe, qe_link);
	q->q_active++;
	queue_write(qe, j);
	if (qe->qe_writes == 0) {
		/* The writer would not take it. */
		queue_drop(qe);
		free(j);
		est_reply_error(reply, 503, "the queue's writer is busy; "
		    "retry later");
		snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld",
		    q->q_qcfg->retry_after);
		return -1;
	}
	*job = j;
	return 0;
fail:
	queue_entry_free(qe);
	free(j);
	est_reply_error(reply, 500, "internal error");
	return -1;
}

void
queue_put_cancel(struct queue_job *job)
{
	if (job != NULL)
		job->qj_done = NULL;
}

/* ---- the forwarder ------------------------------------------------------ */

static const struct cfg_route *
queue_route(const struct queue *q, const struct store_entry *e)
{
	const struct cfg_route *r = config_route(q->q_cfg,
	    e->label[0] ? e->label : NULL);

	return r != NULL && r->backend == ROUTE_BACKEND_UPSTREAM ? r : NULL;
}

/* Try a failed send again after the upstream's own backoff. */
static void
queue_retry_later(struct queue_entry *qe, const char *why)
{
	const struct cfg_route	*r = queue_route(qe->qe_q, &qe->qe_e);
	const struct cfg_upstream *u;
	struct backoff_policy	 p;
	int64_t			 wait;

	if (r == NULL)
		return;
	u = &qe->qe_q->q_cfg->upstreams[r->upstream];
	p.initial_ms = u->backoff_initial_ms;
	p.max_ms = u->backoff_max_ms;
	p.threshold = 1;
	wait = backoff_delay(&p, qe->qe_e.attempts, arc4random());
	qe->qe_e.next_attempt = queue_now() + (wait + 999) / 1000;
	snprintf(qe->qe_e.note, sizeof(qe->qe_e.note), "%s", why);
}

static void
queue_on_answer(struct queue_entry *qe, struct est_reply *reply,
    long status)
{
	struct store_entry *e = &qe->qe_e;

	e->ca_status = (int)status;
	if (status == 200 || status == 201 ||
	    (status >= 400 && status <= 499)) {
		snprintf(e->result_type, sizeof(e->result_type), "%s",
		    reply->content_type);
		free(e->result);
		e->result = reply->body;
		e->result_len = reply->body_len;
		reply->body = NULL;
		reply->body_len = 0;
		queue_set_state(qe, status < 300 ? QS_ISSUED : QS_REFUSED,
		    status < 300 ? "the CA issued" : "the CA refused");
		return;
	}
	if (status == 202) {
		snprintf(e->retry_after, sizeof(e->retry_after), "%s",
		    reply->retry_after);
		e->next_attempt = queue_now() + queue_poll_delay(qe->qe_q,
		    reply->retry_after);
		if (e->state != QS_POLLING)
			queue_set_state(qe, QS_POLLING, "the CA answered 202; "
			    "polling it");
		return;
	}
	queue_retry_later(qe, reply->reason);
}

static void
queue_on_forwarded(void *arg, struct est_reply *reply, long status,
    enum upstream_outcome outcome)
{
	struct queue_entry	*qe = arg;
	struct queue		*q = qe->qe_q;

	qe->qe_xfer = NULL;
	q->q_forwarding--;
	if (outcome == UPSTREAM_ANSWERED && status > 0)
		queue_on_answer(qe, reply, status);
	else
		queue_retry_later(qe, reply->reason[0] ? reply->reason :
		    "upstream CA unreachable");
	est_reply_clear(reply);
	queue_write(qe, NULL);
}

static void
queue_send(struct queue *q, struct queue_entry *qe,
    const struct cfg_route *r)
{
	struct upstream_request	 ureq;
	struct est_reply	 refusal;
	enum upstream_outcome	 outcome;
	long			 wait;

	memset(&ureq, 0, sizeof(ureq));
	memset(&refusal, 0, sizeof(refusal));
	ureq.upstream = r->upstream;
	ureq.label = r->upstream_label;
	ureq.op = est_op_from_name(qe->qe_e.op, strlen(qe->qe_e.op));
	ureq.content_type = qe->qe_e.content_type;
	ureq.body = qe->qe_e.csr;
	ureq.body_len = qe->qe_e.csr_len;
	ureq.done = queue_on_forwarded;
	ureq.arg = qe;
	qe->qe_xfer = upstream_submit(q->q_up, &ureq, &refusal, &outcome);
	if (qe->qe_xfer == NULL) {
		/* Not sent: no attempt counted, nothing to write. */
		wait = outcome == UPSTREAM_UNAVAILABLE ?
		    upstream_wait_ms(q->q_up, r->upstream) : 1000;
		qe->qe_e.next_attempt = queue_now() + (wait + 999) / 1000;
		est_reply_clear(&refusal);
		return;
	}
	q->q_forwarding++;
	qe->qe_e.attempts++;
	log_debug("queue: entry %lld sent to the CA (attempt %d)",
	    (long long)qe->qe_e.id, qe->qe_e.attempts);
}

/* One pass: expire what is too old, send what is due. */
static void
queue_forward(struct queue *q, int64_t now)
{
	struct queue_entry	*qe, *next;
	const struct cfg_route	*r;

	TAILQ_FOREACH_SAFE(qe, &q->q_entries, qe_link, next) {
		struct store_entry *e = &qe->qe_e;
		if (!qe->qe_durable || qe->qe_xfer != NULL ||
		    !queue_state_active(e->state))
			continue;
		if (e->expires <= now) {
			queue_set_state(qe, QS_EXPIRED, e->state == QS_ISSUED ||
			    e->state == QS_REFUSED ? "the client never came "
			    "back for the CA's answer" : "the CA did not "
			    "answer in time");
			queue_write(qe, NULL);
			continue;
		}
		if ((e->state != QS_PENDING && e->state != QS_POLLING) ||
		    e->next_attempt > now ||
		    q->q_forwarding >= q->q_qcfg->max_forwarding)
			continue;
		if ((r = queue_route(q, e)) == NULL) {
			queue_set_state(qe, QS_EXPIRED, "its label no longer "
			    "routes to an upstream CA");
			queue_write(qe, NULL);
			continue;
		}
		queue_send(q, qe, r);
	}
}

/* ---- housekeeping ------------------------------------------------------- */

struct queue_sync {
	struct queue	*qs_q;
	int64_t		*qs_ids;
	size_t		 qs_n;
	int		 qs_rc;
	char		 qs_err[256];
};

static void
queue_sync_work(struct store *st, void *arg)
{
	struct queue_sync *s = arg;

	s->qs_rc = store_purged_ids(st, &s->qs_ids, &s->qs_n, s->qs_err,
	    sizeof(s->qs_err));
	if (s->qs_rc == 0 && store_delete_done(st, queue_now(), s->qs_err,
	    sizeof(s->qs_err)) == -1)
		s->qs_rc = -1;
}

/* Entries an operator purged while we ran; old finished rows. */
static void
queue_sync_done(void *arg)
{
	struct queue_sync	*s = arg;
	struct queue		*q = s->qs_q;
	struct queue_entry	*qe, *next;
	int64_t			 now = queue_now();

	q->q_syncing = 0;
	if (s->qs_rc == -1)
		log_err("queue: %s", s->qs_err);
	for (size_t i = 0; i < s->qs_n; i++)
		if ((qe = queue_find_id(q, s->qs_ids[i])) != NULL) {
			log_info("queue: entry %lld was purged by the operator",
			    (long long)qe->qe_e.id);
			queue_drop(qe);
		}
	/* What the store deleted as done and old, memory forgets too. */
	TAILQ_FOREACH_SAFE(qe, &q->q_entries, qe_link, next)
		if (!queue_state_active(qe->qe_e.state) &&
		    qe->qe_e.expires <= now && qe->qe_writes == 0)
			queue_drop(qe);
	free(s->qs_ids);
	free(s);
}

static void
queue_sync(struct queue *q)
{
	struct queue_sync *s;

	if (q->q_syncing || (s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->qs_q = q;
	if (store_submit(q->q_store, queue_sync_work, queue_sync_done, s) ==
	    -1) {
		free(s);
		return;
	}
	q->q_syncing = 1;
}

static void
queue_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	q->q_ticks++;
	queue_forward(q, queue_now());
	if (q->q_ticks % QUEUE_SYNC_EVERY == 0)
		queue_sync(q);
}

/* ---- start and stop ----------------------------------------------------- */

static void
queue_load_one(void *arg, struct store_entry *e)
{
	struct queue		*q = arg;
	struct queue_entry	*qe;

	if ((qe = calloc(1, sizeof(*qe))) == NULL) {
		store_entry_clear(e);
		return;
	}
	qe->qe_q = q;
	qe->qe_e = *e;		/* takes the buffers */
	memset(e, 0, sizeof(*e));
	qe->qe_durable = 1;
	if (queue_state_active(qe->qe_e.state))
		q->q_active++;
	TAILQ_INSERT_TAIL(&q->q_entries, qe, qe_link);
}

struct queue *
queue_new(struct event_base *base, const struct config *cfg,
    struct store *st, struct upstream_ctx *up, struct audit *audit,
    char *err, size_t errlen)
{
	struct queue	*q;
	struct timeval	 tick = { QUEUE_TICK_MS / 1000,
	    (QUEUE_TICK_MS % 1000) * 1000 };

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	TAILQ_INIT(&q->q_entries);
	q->q_base = base;
	q->q_cfg = cfg;
	q->q_qcfg = &cfg->queue;
	q->q_store = st;
	q->q_up = up;
	q->q_audit = audit;
	if (!cfg->queue.enabled)
		return q;
	if (store_load_entries(st, queue_load_one, q, err, errlen) == -1)
		goto fail;
	if ((q->q_tick = event_new(base, -1, EV_PERSIST, queue_on_tick, q)) ==
	    NULL || event_add(q->q_tick, &tick) == -1) {
		snprintf(err, errlen, "cannot start the forwarder");
		goto fail;
	}
	log_info("queue: %zu waiting entr%s in %s/estrad.db", q->q_active,
	    q->q_active == 1 ? "y" : "ies", cfg->state_dir);
	return q;
fail:
	queue_free(q);
	return NULL;
}

void
queue_free(struct queue *q)
{
	struct queue_entry *qe;

	if (q == NULL)
		return;
	if (q->q_tick != NULL)
		event_free(q->q_tick);
	/* The store was closed first: no write is in hand any more. An
	 * interrupted transfer is sent again after the next start. */
	while ((qe = TAILQ_FIRST(&q->q_entries)) != NULL) {
		if (qe->qe_xfer != NULL)
			upstream_cancel(qe->qe_xfer);
		TAILQ_REMOVE(&q->q_entries, qe, qe_link);
		queue_entry_free(qe);
	}
	free(q);
}
