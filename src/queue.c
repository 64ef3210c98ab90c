/*
 * queue: store and forward (RFC 7030 §4.2.3).
 *
 * Every entry lives twice: in memory, where the event loop looks it up
 * without I/O, and in the store, where it survives a crash. Changes are
 * made in memory, then written by the store's one writer thread in the
 * order they were made. Three writes are waited for:
 *
 *   - the insert: the client's 202 (and that of any retry that arrives
 *     meanwhile) leaves only once the entry is on disk;
 *   - the attempt: attempts+1 is on disk before the request goes to the
 *     CA, so the record shows every send, even across a crash (whether
 *     the CA received it, ca_received, is known and written only after:
 *     upstream_report);
 *   - nothing else: a lost update is repeated by the next one, or by the
 *     forwarder after a restart.
 *
 * The forwarder is a one-second tick (and a pass whenever a send ends,
 * so a backlog drains at the CA's pace). It sends due entries while fewer
 * than queue.max_forwarding are under way and the upstream has a URL
 * worth trying (its circuit breakers decide: backoff.h); the CA's answer
 * moves the entry on:
 *
 *   pending/polling --200/201--> issued    --answer sent--> delivered
 *                   --4xx------> refused   --answer sent--> delivered
 *                   --202------> polling   (asked again after Retry-After)
 *                   --no answer--> stays; the breakers say when to retry
 *                   --5xx, 401, 407, 408, 429--> stays; backoff per entry
 *   any active state --expires--> expired; estrad queue purge --> purged
 *   pending/polling --estrad queue retry--> sent at the next pass, past
 *                   its backoff and the upstream's open breakers
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
#include <openssl/crypto.h>

#include "estrad/answer.h"
#include "estrad/audit.h"
#include "estrad/backoff.h"
#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/queue.h"
#include "estrad/upstream.h"

#include "queue_int.h"

/* glibc's sys/queue.h lacks the BSD _SAFE walk. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

enum queue_write_kind { QW_INSERT, QW_UPDATE, QW_ATTEMPT };

/* A write in the writer thread: a copy of the entry, and the outcome. */
struct queue_write {
	struct queue_entry	*qw_entry;
	struct store_entry	 qw_copy;
	enum queue_write_kind	 qw_kind;
	int			 qw_rc;		/* 0, 1 purged, -1 error */
	char			 qw_err[256];
};

static int queue_write(struct queue_entry *qe, enum queue_write_kind kind);

int64_t
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
void
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

/* The CSR is not needed once the CA has answered for good. */
void
queue_drop_csr(struct store_entry *e)
{
	if (e->csr != NULL)
		OPENSSL_clear_free(e->csr, e->csr_len);
	e->csr = NULL;
	e->csr_len = 0;
}

void
queue_set_state(struct queue_entry *qe, enum queue_state s, const char *why)
{
	struct queue		*q = qe->qe_q;
	char			 reason[sizeof(qe->qe_e.note)];

	/* why may be the note itself. */
	snprintf(reason, sizeof(reason), "%s", why);
	if (queue_state_active(qe->qe_e.state) && !queue_state_active(s) &&
	    q->q_pg == NULL)
		q->q_active--;
	qe->qe_e.state = s;
	qe->qe_e.updated = queue_now();
	snprintf(qe->qe_e.note, sizeof(qe->qe_e.note), "%s", reason);
	if (s != QS_PENDING && s != QS_POLLING)
		queue_drop_csr(&qe->qe_e);
	/* A finished entry is kept for `queue list --all`, then deleted. */
	if (!queue_state_active(s))
		qe->qe_e.expires = qe->qe_e.updated + q->q_qcfg->expire;
	log_info("queue: entry %lld (%s %s, %s) is %s: %s",
	    (long long)qe->qe_e.id, qe->qe_e.label[0] ? qe->qe_e.label : "-",
	    qe->qe_e.op, qe->qe_e.identity, queue_state_name(s), reason);
	queue_audit(q, &qe->qe_e, reason);
}

/* ---- memory ------------------------------------------------------------- */

static void
queue_entry_free(struct queue_entry *qe)
{
	struct queue_job *j;

	while ((j = qe->qe_waiters) != NULL) {
		qe->qe_waiters = j->qj_next;
		free(j);
	}
	queue_drop_csr(&qe->qe_e);
	store_entry_clear(&qe->qe_e);
	free(qe);
}

/* Forget qe (purged, deleted): now, or when its last write returns. */
void
queue_drop(struct queue_entry *qe)
{
	struct queue *q = qe->qe_q;

	if (qe->qe_gone)
		return;
	if (queue_state_active(qe->qe_e.state) && q->q_pg == NULL)
		q->q_active--;
	if (qe->qe_xfer != NULL) {
		upstream_cancel(qe->qe_xfer);
		qe->qe_xfer = NULL;
	}
	if (qe->qe_sending) {
		qe->qe_sending = 0;
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

/* In place: this runs for every enrollment, over every entry. */
static int
queue_entry_matches(const struct store_entry *e, const struct queue_key *k)
{
	return strcmp(e->pubkey, k->pubkey) == 0 &&
	    strcmp(e->identity, k->identity) == 0 &&
	    strcmp(e->subject, k->subject) == 0 &&
	    strcmp(e->label, k->label) == 0 && strcmp(e->op, k->op) == 0;
}

/* ---- answers ------------------------------------------------------------ */

/* A Retry-After in seconds, dflt if none or not 1..86400 (answer.c). */
static long
queue_secs(const char *text, long dflt)
{
	return answer_retry_after(text, dflt);
}

/* The 202 for an entry that waits (RFC 7030 §4.2.3). */
void
queue_reply_pending(const struct queue *q, const struct store_entry *e,
    struct est_reply *reply)
{
	/* A CA's own Retry-After is what its approval takes: pass it on. */
	long secs = e->state == QS_POLLING ? queue_secs(e->retry_after,
	    q->q_qcfg->retry_after) : q->q_qcfg->retry_after;

	est_reply_error(reply, 202, "queued as %lld (%s): %s; retry after "
	    "%ld s", (long long)e->id, queue_state_name(e->state),
	    e->state == QS_POLLING ? "the CA has not decided yet" :
	    "the CA is unreachable", secs);
	snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld", secs);
}

/* The CA's final answer, as it gave it. */
void
queue_reply_final(const struct store_entry *e, struct est_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->status = e->ca_status;
	snprintf(reply->content_type, sizeof(reply->content_type), "%s",
	    e->result_type);
	if (e->result_len > 0) {
		if ((reply->body = malloc(e->result_len)) == NULL) {
			est_reply_error(reply, 500, "internal error");
			return;
		}
		memcpy(reply->body, e->result, e->result_len);
		reply->body_len = e->result_len;
	}
	snprintf(reply->reason, sizeof(reply->reason), "queued entry %lld: "
	    "the CA's answer %d", (long long)e->id, e->ca_status);
}

/* The insert is done (or failed): answer everyone who waits for it. */
static void
queue_answer_waiters(struct queue_entry *qe, int ok)
{
	struct queue_job	*j;
	struct est_reply	 reply;

	while ((j = qe->qe_waiters) != NULL) {
		qe->qe_waiters = j->qj_next;
		memset(&reply, 0, sizeof(reply));
		if (ok)
			queue_reply_pending(qe->qe_q, &qe->qe_e, &reply);
		else
			est_reply_error(&reply, 500, "the request could not "
			    "be queued");
		if (j->qj_done != NULL)
			j->qj_done(j->qj_arg, &reply, 0);
		est_reply_clear(&reply);
		free(j);
	}
}

static struct queue_job *
queue_add_waiter(struct queue_entry *qe, queue_put_cb done, void *arg)
{
	struct queue_job *j, **tail;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->qj_entry = qe;
	j->qj_done = done;
	j->qj_arg = arg;
	for (tail = &qe->qe_waiters; *tail != NULL; tail = &(*tail)->qj_next)
		;
	*tail = j;
	return j;
}

/* ---- the writer --------------------------------------------------------- */

static void
queue_write_work(struct store *st, void *arg)
{
	struct queue_write *w = arg;

	if (w->qw_kind == QW_INSERT)
		w->qw_rc = store_insert(st, &w->qw_copy, w->qw_err,
		    sizeof(w->qw_err));
	else
		w->qw_rc = store_update(st, &w->qw_copy, w->qw_err,
		    sizeof(w->qw_err));
}

static void
queue_insert_done(struct queue_write *w)
{
	struct queue_entry *qe = w->qw_entry;

	if (w->qw_rc != 0) {
		log_err("queue: cannot keep a request: %s", w->qw_err);
		queue_answer_waiters(qe, 0);
		queue_drop(qe);
		return;
	}
	qe->qe_e.id = w->qw_copy.id;
	qe->qe_durable = 1;
	if (!qe->qe_gone)
		queue_set_state(qe, qe->qe_e.state, qe->qe_e.note);
	queue_answer_waiters(qe, !qe->qe_gone);
}

/* The attempt is on record: now send it (unless that changed). */
static void
queue_attempt_done(struct queue_write *w)
{
	struct queue_entry *qe = w->qw_entry;

	if (qe->qe_gone)
		return;
	if (w->qw_rc != 0 || qe->qe_q->q_draining) {
		qe->qe_sending = 0;
		qe->qe_q->q_forwarding--;
		if (w->qw_rc == -1)
			log_err("queue: entry %lld: %s; not sent",
			    (long long)qe->qe_e.id, w->qw_err);
		return;
	}
	queue_send(qe);
}

static void
queue_write_done(void *arg)
{
	struct queue_write	*w = arg;
	struct queue_entry	*qe = w->qw_entry;

	/* qe_writes still counts this write: a drop below keeps qe. */
	if (w->qw_rc == 1 && !qe->qe_gone) {
		/* The operator purged it while we ran. */
		log_info("queue: entry %lld was purged by the operator",
		    (long long)qe->qe_e.id);
		queue_drop(qe);
	}
	switch (w->qw_kind) {
	case QW_INSERT:
		queue_insert_done(w);
		break;
	case QW_ATTEMPT:
		queue_attempt_done(w);
		break;
	case QW_UPDATE:
		/* Memory goes on; the next write of this entry, or the
		 * forwarder after a restart, repeats the lost one. */
		if (w->qw_rc == -1)
			log_err("queue: entry %lld: %s",
			    (long long)qe->qe_e.id, w->qw_err);
		break;
	}
	queue_drop_csr(&w->qw_copy);
	store_entry_clear(&w->qw_copy);
	free(w);
	if (--qe->qe_writes == 0 && qe->qe_gone)
		queue_entry_free(qe);
}

/* Write qe as it is now. 0, or -1 when the writer would not take it. */
static int
queue_write(struct queue_entry *qe, enum queue_write_kind kind)
{
	struct queue_write	*w;

	if (qe->qe_q->q_pg != NULL) {
		/* The forwarder's result, under its lease (no other kind of
		 * write is made from memory on the shared store). */
		queue_pg_write(qe);
		return 0;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto fail;
	if (store_entry_copy(&w->qw_copy, &qe->qe_e) == -1) {
		free(w);
		goto fail;
	}
	w->qw_entry = qe;
	w->qw_kind = kind;
	if (store_submit(qe->qe_q->q_store, queue_write_work,
	    queue_write_done, w) == -1) {
		queue_drop_csr(&w->qw_copy);
		store_entry_clear(&w->qw_copy);
		free(w);
		goto fail;
	}
	qe->qe_writes++;
	return 0;
fail:
	log_err("queue: entry %lld: cannot hand its write to the writer",
	    (long long)qe->qe_e.id);
	return -1;
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

enum queue_found
queue_lookup(struct queue *q, const struct queue_key *k,
    struct est_reply *reply, int64_t *deliver, queue_put_cb done, void *arg,
    struct queue_job **job)
{
	struct queue_entry	*qe;
	struct store_entry	*e;

	*deliver = 0;
	*job = NULL;
	if (!queue_enabled(q))
		return QUEUE_MISS;
	if (q->q_pg != NULL)
		return queue_pg_lookup(q, k, reply, done, arg, job);
	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		if (queue_state_active(qe->qe_e.state) &&
		    queue_entry_matches(&qe->qe_e, k))
			break;
	if (qe == NULL)
		return QUEUE_MISS;
	e = &qe->qe_e;
	if (!qe->qe_durable) {
		/* A retry while the first insert is still being written:
		 * it waits for the same insert, rather than queueing (and
		 * later issuing) a second time. */
		if ((*job = queue_add_waiter(qe, done, arg)) == NULL) {
			est_reply_error(reply, 500, "internal error");
			return QUEUE_ANSWER;
		}
		return QUEUE_WAIT;
	}
	if (e->state == QS_PENDING || e->state == QS_POLLING) {
		queue_reply_pending(q, e, reply);
		return QUEUE_ANSWER;
	}
	queue_reply_final(e, reply);
	*deliver = e->id;
	return QUEUE_ANSWER;
}

void
queue_delivered(struct queue *q, int64_t id)
{
	struct queue_entry *qe;

	if (queue_enabled(q) && q->q_pg != NULL) {
		queue_pg_delivered(q, id);
		return;
	}
	if (!queue_enabled(q) || (qe = queue_find_id(q, id)) == NULL ||
	    (qe->qe_e.state != QS_ISSUED && qe->qe_e.state != QS_REFUSED))
		return;
	queue_set_state(qe, QS_DELIVERED, "the client got the CA's answer");
	queue_write(qe, QW_UPDATE);
}

int
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
	snprintf(e->sans, sizeof(e->sans), "%s", p->sans ? p->sans : "");
	if ((e->csr = malloc(p->csr_len ? p->csr_len : 1)) == NULL)
		return -1;
	memcpy(e->csr, p->csr, p->csr_len);
	e->csr_len = p->csr_len;
	e->state = p->state;
	e->created = e->updated = queue_now();
	e->expires = e->created + q->q_qcfg->expire;
	e->next_attempt = e->created;
	/* A CA that just failed: when its breaker lets it be tried. */
	if (p->state == QS_PENDING && p->route != NULL &&
	    p->route->backend == ROUTE_BACKEND_UPSTREAM)
		e->next_attempt += (upstream_wait_ms(q->q_up,
		    p->route->upstream) + 999) / 1000;
	if (p->state == QS_POLLING) {
		snprintf(e->retry_after, sizeof(e->retry_after), "%s",
		    p->ca_retry_after ? p->ca_retry_after : "");
		e->next_attempt += queue_secs(p->ca_retry_after,
		    q->q_qcfg->poll_interval);
		e->ca_status = 202;
	}
	/* The client's transfer was the first attempt. */
	if (p->sent != NULL) {
		e->attempts = 1;
		e->ca_received = p->sent->reached || p->state == QS_POLLING;
		snprintf(e->last_error, sizeof(e->last_error), "%s",
		    p->sent->detail);
	} else if (p->state == QS_POLLING)
		e->attempts = e->ca_received = 1;
	return 0;
}

int
queue_refuse(const struct queue *q, struct est_reply *reply, int status,
    const char *why)
{
	est_reply_error(reply, status, "%s", why);
	if (status == 503)
		snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld",
		    q->q_qcfg->retry_after);
	return -1;
}

int
queue_put(struct queue *q, const struct queue_put *p, queue_put_cb done,
    void *arg, struct queue_job **job, struct est_reply *reply)
{
	struct queue_entry	*qe;
	char			 why[128];

	*job = NULL;
	if (!queue_enabled(q))
		return queue_refuse(q, reply, 500, "internal error");
	/* On the shared store q_active is the count of the last tick. */
	if (q->q_active >= (size_t)q->q_qcfg->max_entries) {
		log_warn("queue: full (%zu entries); refusing a request",
		    q->q_active);
		snprintf(why, sizeof(why), "the CA is unreachable and the "
		    "queue is full (%ld entries); retry later",
		    q->q_qcfg->max_entries);
		return queue_refuse(q, reply, 503, why);
	}
	if (q->q_pg != NULL)
		return queue_pg_put(q, p, done, arg, job, reply);
	if ((qe = calloc(1, sizeof(*qe))) == NULL)
		return queue_refuse(q, reply, 500, "internal error");
	qe->qe_q = q;
	if (queue_entry_fill(q, &qe->qe_e, p) == -1 ||
	    (*job = queue_add_waiter(qe, done, arg)) == NULL) {
		queue_entry_free(qe);
		return queue_refuse(q, reply, 500, "internal error");
	}
	TAILQ_INSERT_TAIL(&q->q_entries, qe, qe_link);
	q->q_active++;
	if (queue_write(qe, QW_INSERT) == -1) {
		*job = NULL;
		queue_drop(qe);		/* frees the waiter too */
		return queue_refuse(q, reply, 503, "the queue's writer is "
		    "busy; retry later");
	}
	return 0;
}

void
queue_put_cancel(struct queue_job *job)
{
	if (job != NULL && job->qj_q != NULL)
		queue_pg_cancel(job);
	else if (job != NULL)
		job->qj_done = NULL;
}

/* ---- the forwarder ------------------------------------------------------ */

const struct cfg_route *
queue_route(const struct queue *q, const struct store_entry *e)
{
	const struct cfg_route *r = config_route(q->q_cfg,
	    e->label[0] ? e->label : NULL);

	return r != NULL && r->backend == ROUTE_BACKEND_UPSTREAM ? r : NULL;
}

static void
queue_after(struct store_entry *e, int64_t ms, const char *why)
{
	e->next_attempt = queue_now() + (ms + 999) / 1000;
	/* A reply's reason is longer than a note: the note keeps its head. */
	snprintf(e->note, sizeof(e->note), "%.*s", (int)sizeof(e->note) - 1,
	    why);
}

/* The CA answered but not for good: try again after a backoff of this
 * entry's own (or the CA's Retry-After, if longer). */
static void
queue_retry_later(struct queue_entry *qe, const struct est_reply *reply)
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
	if (queue_secs(reply->retry_after, 0) * 1000 > wait)
		wait = queue_secs(reply->retry_after, 0) * 1000;
	queue_after(&qe->qe_e, wait, reply->reason);
}

/* Statuses that speak of the moment or of estrad, not of the request. */
static int
queue_status_transient(int status)
{
	return status == 401 || status == 407 || status == 408 ||
	    status == 429 || status >= 500;
}

static void
queue_on_answer(struct queue_entry *qe, struct est_reply *reply)
{
	struct store_entry	*e = &qe->qe_e;
	int			 status = reply->status;

	e->ca_status = status;
	if (status == 200 || status == 201 || (status >= 400 &&
	    status <= 499 && !queue_status_transient(status))) {
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
		e->next_attempt = queue_now() + queue_secs(reply->retry_after,
		    qe->qe_q->q_qcfg->poll_interval);
		if (e->state != QS_POLLING)
			queue_set_state(qe, QS_POLLING, "the CA answered 202; "
			    "polling it");
		return;
	}
	queue_retry_later(qe, reply);
}

/*
 * What the attempt showed (upstream_report): whether the CA received it,
 * and, unless it succeeded, the real reason, which the note (the client's
 * short reason) does not give. Called while qe_xfer is still the transfer.
 */
static void
queue_note_report(struct queue_entry *qe, const struct est_reply *reply,
    enum upstream_outcome outcome)
{
	struct store_entry	*e = &qe->qe_e;
	struct upstream_report	 rep;

	upstream_report(qe->qe_xfer, &rep);
	if (rep.reached)
		e->ca_received++;
	if (outcome == UPSTREAM_ANSWERED && reply->status >= 200 &&
	    reply->status <= 299)
		e->last_error[0] = '\0';
	else
		snprintf(e->last_error, sizeof(e->last_error), "%.*s",
		    (int)sizeof(e->last_error) - 1, rep.detail[0] ?
		    rep.detail : reply->reason);
}

/* The wait a busy upstream's 503 names (Retry-After), in ms. */
static long
queue_busy_wait_ms(const struct est_reply *r)
{
	long secs = strtol(r->retry_after, NULL, 10);

	return (secs > 0 ? secs : 1) * 1000;
}

static void
queue_on_forwarded(void *arg, struct est_reply *reply, long status,
    enum upstream_outcome outcome)
{
	struct queue_entry	*qe = arg;
	struct queue		*q = qe->qe_q;
	const struct cfg_route	*r = queue_route(q, &qe->qe_e);

	queue_note_report(qe, reply, outcome);
	qe->qe_xfer = NULL;
	qe->qe_sending = 0;
	q->q_forwarding--;
	/* reply->status, not status: an answer estrad would not relay
	 * (too large, a redirect) carries the CA's status but a 502. */
	if (outcome == UPSTREAM_ANSWERED && reply->status != 502)
		queue_on_answer(qe, reply);
	else if (outcome == UPSTREAM_ANSWERED || outcome == UPSTREAM_REFUSED)
		/* The CA answered, badly, or refused our TLS (ours to fix):
		 * its breaker is not charged, so the entry backs off on its
		 * own. */
		queue_retry_later(qe, reply);
	else if (outcome == UPSTREAM_BUSY)
		/* No slot in time: back when estrad said one would be free. */
		queue_after(&qe->qe_e, queue_busy_wait_ms(reply), reply->reason);
	else if (r != NULL)
		/* No answer: the upstream's breakers say when to retry. */
		queue_after(&qe->qe_e, upstream_wait_ms(q->q_up, r->upstream),
		    reply->reason[0] ? reply->reason : "no answer");
	est_reply_clear(reply);
	queue_write(qe, QW_UPDATE);
	/* A slot is free: the next due entry need not wait for the tick. */
	queue_kick(q);
}

/* The attempt is on disk: hand the stored request to the upstream. */
void
queue_send(struct queue_entry *qe)
{
	struct queue		*q = qe->qe_q;
	const struct cfg_route	*r = queue_route(q, &qe->qe_e);
	struct upstream_request	 ureq;
	struct est_reply	 refusal;
	enum upstream_outcome	 outcome;

	memset(&ureq, 0, sizeof(ureq));
	memset(&refusal, 0, sizeof(refusal));
	if (r != NULL) {
		ureq.upstream = r->upstream;
		ureq.label = r->upstream_label;
		ureq.op = est_op_from_name(qe->qe_e.op, strlen(qe->qe_e.op));
		ureq.content_type = qe->qe_e.content_type;
		ureq.body = qe->qe_e.csr;
		ureq.body_len = qe->qe_e.csr_len;
		ureq.done = queue_on_forwarded;
		ureq.arg = qe;
		qe->qe_xfer = upstream_submit(q->q_up, &ureq, &refusal,
		    &outcome);
	}
	if (qe->qe_xfer != NULL) {
		log_debug("queue: entry %lld sent to the CA (attempt %d)",
		    (long long)qe->qe_e.id, qe->qe_e.attempts);
		return;
	}
	/* Not sent after all (the breakers changed meanwhile, the cap):
	 * the recorded attempt stands; try again shortly. */
	snprintf(qe->qe_e.last_error, sizeof(qe->qe_e.last_error), "not sent: "
	    "%.*s", (int)sizeof(qe->qe_e.last_error) - 12, r != NULL ?
	    refusal.reason : "no upstream for its label");
	qe->qe_sending = 0;
	q->q_forwarding--;
	queue_after(&qe->qe_e, r != NULL && outcome == UPSTREAM_UNAVAILABLE ?
	    upstream_wait_ms(q->q_up, r->upstream) : outcome == UPSTREAM_BUSY ?
	    queue_busy_wait_ms(&refusal) : 1000, refusal.reason);
	est_reply_clear(&refusal);
	/* The attempt's write had the old note: `queue list` shows why. */
	queue_write(qe, QW_UPDATE);
}

/* Record the attempt, then send (queue_attempt_done). */
static void
queue_start(struct queue *q, struct queue_entry *qe)
{
	qe->qe_e.attempts++;
	snprintf(qe->qe_e.note, sizeof(qe->qe_e.note), "sending to the CA "
	    "(attempt %d)", qe->qe_e.attempts);
	if (queue_write(qe, QW_ATTEMPT) == -1) {
		qe->qe_e.attempts--;
		return;
	}
	qe->qe_sending = 1;
	q->q_forwarding++;
}

/*
 * The next attempts of entries an open breaker holds back, on disk for
 * `estrad queue list`: one store job for them all (they fall due together
 * on every breaker cycle; a job each would flood the writer's queue).
 */
struct queue_next_job {
	struct store_next	*nj_v;
	size_t			 nj_n, nj_cap;
	int			 nj_rc;
	char			 nj_err[256];
};

static void
queue_next_add(struct queue_next_job *j, int64_t id, int64_t when)
{
	struct store_next *v;

	if (j->nj_n == j->nj_cap) {
		/* Out of memory: only `queue list` shows an older time. */
		if ((v = reallocarray(j->nj_v, j->nj_cap ? j->nj_cap * 2 : 64,
		    sizeof(*v))) == NULL)
			return;
		j->nj_v = v;
		j->nj_cap = j->nj_cap ? j->nj_cap * 2 : 64;
	}
	j->nj_v[j->nj_n++] = (struct store_next){ id, when };
}

static void
queue_next_work(struct store *st, void *arg)
{
	struct queue_next_job *j = arg;

	j->nj_rc = store_set_next_attempts(st, j->nj_v, j->nj_n, j->nj_err,
	    sizeof(j->nj_err));
}

static void
queue_next_done(void *arg)
{
	struct queue_next_job *j = arg;

	if (j->nj_rc != 0)
		log_warn("queue: cannot note the next attempts: %s",
		    j->nj_err);
	free(j->nj_v);
	free(j);
}

static void
queue_next_submit(struct queue *q, struct queue_next_job *j)
{
	struct queue_next_job *own;

	if (j->nj_n == 0 || (own = malloc(sizeof(*own))) == NULL) {
		free(j->nj_v);
		return;
	}
	*own = *j;
	if (store_submit(q->q_store, queue_next_work, queue_next_done,
	    own) == -1) {
		free(own->nj_v);
		free(own);
	}
}

/* Expire what is too old (a bounded number per pass), send what is due. */
static void
queue_forward(struct queue *q, int64_t now)
{
	struct queue_entry	*qe, *next;
	const struct cfg_route	*r;
	struct queue_next_job	 held = { 0 };
	int			 expired = 0;
	long			 wait;

	if (q->q_draining)
		return;
	TAILQ_FOREACH_SAFE(qe, &q->q_entries, qe_link, next) {
		struct store_entry *e = &qe->qe_e;
		if (!qe->qe_durable || qe->qe_sending ||
		    !queue_state_active(e->state))
			continue;
		if (e->expires <= now) {
			if (expired++ >= QUEUE_EXPIRE_PER_TICK)
				continue;
			queue_set_state(qe, QS_EXPIRED, e->state == QS_ISSUED ||
			    e->state == QS_REFUSED ? "the client never came "
			    "back for the CA's answer" : "the CA did not "
			    "answer in time");
			queue_write(qe, QW_UPDATE);
			continue;
		}
		if ((e->state != QS_PENDING && e->state != QS_POLLING) ||
		    e->next_attempt > now ||
		    q->q_forwarding >= q->q_qcfg->max_forwarding)
			continue;
		if ((r = queue_route(q, e)) == NULL) {
			queue_set_state(qe, QS_EXPIRED, "its label no longer "
			    "routes to an upstream CA");
			queue_write(qe, QW_UPDATE);
			continue;
		}
		/* Every URL is being left alone: do not even try, unless
		 * the operator said to (queue_retry_now). */
		if (qe->qe_retry)
			upstream_try_now(q->q_up, r->upstream);
		else if ((wait = upstream_wait_ms(q->q_up, r->upstream)) > 0) {
			/* On disk too: `estrad queue list` shows when. */
			e->next_attempt = now + (wait + 999) / 1000;
			queue_next_add(&held, e->id, e->next_attempt);
			continue;
		}
		qe->qe_retry = 0;
		queue_start(q, qe);
	}
	queue_next_submit(q, &held);
}

/* ---- housekeeping ------------------------------------------------------- */

struct queue_sync {
	struct queue	*qs_q;
	int		 qs_sweep;	/* also delete old finished rows */
	int64_t		*qs_ids;
	size_t		 qs_n;
	int64_t		*qs_retry;	/* `estrad queue retry` */
	size_t		 qs_nretry;
	int		 qs_rc;
	char		 qs_err[256];
};

static void
queue_sync_work(struct store *st, void *arg)
{
	struct queue_sync *s = arg;

	s->qs_rc = store_purged_ids(st, &s->qs_ids, &s->qs_n, s->qs_err,
	    sizeof(s->qs_err));
	if (s->qs_rc == 0)
		s->qs_rc = store_retry_ids(st, &s->qs_retry, &s->qs_nretry,
		    s->qs_err, sizeof(s->qs_err));
	if (s->qs_rc == 0 && s->qs_sweep && store_delete_done(st, queue_now(),
	    s->qs_err, sizeof(s->qs_err)) == -1)
		s->qs_rc = -1;
}

/*
 * `estrad queue retry ID`: send entry id at the next pass, now, past its
 * backoff and past the upstream's open breakers (one trial each: an
 * operator who says "retry" believes the CA is back).
 */
static void
queue_retry_now(struct queue *q, int64_t id)
{
	struct queue_entry *qe = queue_find_id(q, id);

	if (qe == NULL || (qe->qe_e.state != QS_PENDING &&
	    qe->qe_e.state != QS_POLLING)) {
		log_info("queue: entry %lld: the operator's retry finds it %s",
		    (long long)id, qe != NULL ? queue_state_name(qe->qe_e.state)
		    : "gone");
		return;
	}
	if (qe->qe_sending) {
		log_info("queue: entry %lld: the operator's retry finds it "
		    "being sent already", (long long)id);
		return;
	}
	log_info("queue: entry %lld: sending now (the operator's retry)",
	    (long long)id);
	qe->qe_retry = 1;
	qe->qe_e.next_attempt = queue_now();
	queue_kick(q);
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
	for (size_t i = 0; i < s->qs_nretry; i++)
		queue_retry_now(q, s->qs_retry[i]);
	/* What the store deleted as finished and old, memory forgets. */
	if (s->qs_sweep && s->qs_rc == 0)
		TAILQ_FOREACH_SAFE(qe, &q->q_entries, qe_link, next)
			if (!queue_state_active(qe->qe_e.state) &&
			    qe->qe_e.expires <= now && qe->qe_writes == 0)
				queue_drop(qe);
	free(s->qs_ids);
	free(s->qs_retry);
	free(s);
}

static void
queue_sync(struct queue *q, int sweep)
{
	struct queue_sync *s;

	if (q->q_syncing || (s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->qs_q = q;
	s->qs_sweep = sweep;
	if (store_submit(q->q_store, queue_sync_work, queue_sync_done, s) ==
	    -1) {
		free(s);
		return;
	}
	q->q_syncing = 1;
}

static void
queue_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	if (q->q_pg != NULL)
		queue_pg_tick(q, 1);
	else
		queue_forward(q, queue_now());
}

/* Not from inside a pass or a transfer's callback: via the loop. */
void
queue_kick(struct queue *q)
{
	if (q->q_kick != NULL && !event_pending(q->q_kick, EV_TIMEOUT, NULL))
		event_active(q->q_kick, EV_TIMEOUT, 0);
}

static void
queue_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	q->q_ticks++;
	if (q->q_pg != NULL) {
		queue_pg_tick(q, 0);
		return;
	}
	queue_forward(q, queue_now());
	if (q->q_ticks % QUEUE_SYNC_EVERY == 0)
		queue_sync(q, q->q_ticks % QUEUE_SWEEP_EVERY == 0);
}

/* ---- start and stop ----------------------------------------------------- */

static void
queue_load_one(void *arg, struct store_entry *e)
{
	struct queue		*q = arg;
	struct queue_entry	*qe;

	if ((qe = calloc(1, sizeof(*qe))) == NULL) {
		/* Start-up fails rather than forget a request. */
		q->q_load_failed = 1;
		queue_drop_csr(e);
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
    struct store *st, struct pg *pg, struct upstream_ctx *up,
    struct audit *audit, char *err, size_t errlen)
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
	if (pg != NULL) {
		if (queue_pg_new(q, pg, err, errlen) == -1)
			goto fail;
	} else if (store_load_entries(st, queue_load_one, q, err, errlen) == -1)
		goto fail;
	if (q->q_load_failed) {
		snprintf(err, errlen, "queue: out of memory loading %s/estrad.db",
		    cfg->state_dir);
		goto fail;
	}
	if ((q->q_tick = event_new(base, -1, EV_PERSIST, queue_on_tick, q)) ==
	    NULL || (q->q_kick = evtimer_new(base, queue_on_kick, q)) == NULL) {
		snprintf(err, errlen, "cannot start the forwarder");
		goto fail;
	}
	loop_control(q->q_tick);
	loop_control(q->q_kick);
	if (event_add(q->q_tick, &tick) == -1) {
		snprintf(err, errlen, "cannot start the forwarder");
		goto fail;
	}
	if (pg == NULL)
		log_info("queue: %zu waiting entr%s in %s/estrad.db",
		    q->q_active, q->q_active == 1 ? "y" : "ies",
		    cfg->state_dir);
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
	if (q->q_kick != NULL)
		event_free(q->q_kick);
	/* The store was closed first: no write is in hand any more. An
	 * interrupted transfer is sent again after the next start. */
	while ((qe = TAILQ_FIRST(&q->q_entries)) != NULL) {
		if (qe->qe_xfer != NULL)
			upstream_cancel(qe->qe_xfer);
		TAILQ_REMOVE(&q->q_entries, qe, qe_link);
		queue_entry_free(qe);
	}
	queue_pg_free(q);
	free(q);
}

/*
 * For /metrics: entries by state, and how long the oldest waiting one has
 * waited. Memory keeps the finished ones until they expire, except the
 * purged, forgotten at once (queue_sync_done): -1, not known here.
 */
void
queue_stats(const struct queue *q, double entries[QS_MAX],
    double *oldest_age_seconds)
{
	const struct queue_entry	*qe;
	int64_t				 now = queue_now(), oldest = now;

	for (int i = 0; i < QS_MAX; i++)
		entries[i] = 0;
	entries[QS_PURGED] = -1;
	*oldest_age_seconds = 0;
	if (!queue_enabled(q))
		return;
	if (q->q_pg != NULL) {
		queue_pg_stats(q, entries, oldest_age_seconds);
		return;
	}
	TAILQ_FOREACH(qe, &q->q_entries, qe_link) {
		if ((unsigned)qe->qe_e.state < QS_MAX)
			entries[qe->qe_e.state]++;
		if (queue_state_active(qe->qe_e.state) &&
		    qe->qe_e.created < oldest)
			oldest = qe->qe_e.created;
	}
	*oldest_age_seconds = (double)(now - oldest);
}

/*
 * Shutting down: no new sends. Those under way finish (their answers are
 * written), so a CA that issued is not asked again after the restart.
 */
void
queue_drain(struct queue *q)
{
	if (q != NULL)
		q->q_draining = 1;
}

long
queue_sending(const struct queue *q)
{
	/* On the shared store, a result still being written counts: a
	 * replica that stopped before "issued" is on record would have the
	 * CA asked again by the next claimer. */
	return q != NULL ? q->q_forwarding + queue_pg_writing(q) : 0;
}

/* Would the forwarder find an upstream for this label? (The queue routes
 * by the config estrad started with; a reload may have added labels.) */
int
queue_routes_label(const struct queue *q, const char *label)
{
	const struct cfg_route *r;

	if (!queue_enabled(q))
		return 0;
	r = config_route(q->q_cfg, label != NULL && label[0] != '\0' ?
	    label : NULL);
	return r != NULL && r->backend == ROUTE_BACKEND_UPSTREAM;
}
