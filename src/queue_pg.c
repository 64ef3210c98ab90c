/*
 * queue_pg: the store-and-forward queue on PostgreSQL (store.backend
 * "postgresql"), shared by every replica (docs/scaling.md). The table
 * estrad_queue is the only truth; no replica keeps a copy of the entries:
 *
 *   - a lookup is one SELECT on the match key (RFC 7030 §4.2.3): a retry
 *     finds the entry whichever replica queued it;
 *   - a put is one INSERT ... ON CONFLICT DO NOTHING on the unique index
 *     of the match key: a second queueing of one request is impossible,
 *     and the replica that lost the race answers as a lookup of the
 *     winner's entry does. The client's 202 leaves once the row is
 *     committed;
 *   - every replica's forwarder claims due entries in one statement
 *     (FOR UPDATE SKIP LOCKED): lease_owner is this process, lease_until
 *     the database's now + store.lease, attempts + 1. The attempt is on
 *     record before the send, and exactly one replica sends an entry.
 *     The lease is renewed every tick while the send lasts; a replica
 *     killed mid-send stops renewing it, and once it runs out another
 *     replica claims the entry and sends it again;
 *   - the result is written WHERE id AND lease_owner = this process: a
 *     replica that lost its lease (or an entry purged meanwhile) drops
 *     its result, and says so.
 *
 * What the answers, the states and the CA's answers mean is queue.c's
 * (queue_int.h): one reading for both stores. Times in rows are the
 * database's clock (estrad_now()); this process's clock gives only
 * durations. The database away: a lookup or a put answers 503 +
 * Retry-After (pg_retry_after), never 500 and never a 202 not written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/pg.h"
#include "estrad/shared.h"
#include "estrad/store_pg.h"
#include "estrad/upstream.h"

#include "pg_int.h"	/* PG_ACTIVE: the unique index's predicate, which
			 * ON CONFLICT must repeat exactly */
#include "queue_int.h"

#define QPG_SWEEP_EVERY		60	/* ticks between deletes of old rows */
#define QPG_EXPIRE_EVERY	2	/* ticks between expiry passes */

/* Every column but the CSR (which only the forwarder reads). */
#define QPG_COLS "id, label, op, identity, pubkey, subject, request_id, " \
	"content_type, state, created, updated, expires, next_attempt, " \
	"attempts, ca_status, result_type, result, retry_after, note, sans, " \
	"ca_received, last_error"
#define QPG_KEY		"label = $1 AND op = $2 AND identity = $3 AND " \
	"pubkey = $4 AND subject = $5"

/* A query this module runs on its own behalf: cancelled at free. */
struct qpg_op {
	struct queue_pg		*op_qp;
	struct pg_query		*op_pgq;
	int64_t			 op_id;
	struct queue_entry	*op_qe;		/* a result's: kept until
						 * written */
	int			 op_release;	/* claimed rows handed back */
	TAILQ_ENTRY(qpg_op)	 op_link;
};

TAILQ_HEAD(qpg_ops, qpg_op);

struct queue_pg {
	struct queue		*qp_q;
	struct pg		*qp_pg;
	struct qpg_ops		 qp_ops;	/* writes, delivered marks */
	struct pg_query		*qp_claim;	/* one of each at a time */
	struct pg_query		*qp_stats;
	struct pg_query		*qp_renew;
	struct pg_query		*qp_expire;
	struct pg_query		*qp_sweep;
	char			 qp_lease[24];
	char			 qp_expire_secs[24];
	double			 qp_entries[QS_MAX];
	double			 qp_oldest;
};

static const char qpg_lookup_sql[] =
    "SELECT " QPG_COLS " FROM estrad_queue WHERE " QPG_KEY " AND "
    PG_ACTIVE;

/* $10: {next_attempt - now, expires - now, attempts, ca_status,
 * ca_received}: the database's clock gives the times. */
static const char qpg_insert_sql[] =
    "INSERT INTO estrad_queue (label, op, identity, pubkey, subject, "
    "request_id, content_type, csr, state, created, updated, expires, "
    "next_attempt, attempts, ca_status, retry_after, note, sans, "
    "ca_received, last_error) "
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, t.n, t.n, t.n + t.v[2], "
    "t.n + t.v[1], t.v[3], t.v[4], $11, $12, $13, t.v[5], $14 "
    "FROM (SELECT estrad_now() AS n, $10::bigint[] AS v) t "
    "ON CONFLICT (label, op, identity, pubkey, subject) WHERE " PG_ACTIVE
    " DO NOTHING RETURNING " QPG_COLS;

static const char qpg_delivered_sql[] =
    "UPDATE estrad_queue SET state = 'delivered', updated = estrad_now(), "
    "expires = estrad_now() + $2::bigint, csr = NULL, "
    "note = 'the client got the CA''s answer' "
    "WHERE id = $1 AND state IN ('issued', 'refused') RETURNING " QPG_COLS;

/*
 * The claim: $1 owner, $2 lease seconds, $3 labels whose upstream admits
 * a send now, $4 every label this replica routes (an operator's retry
 * goes past the breakers), $5 how many, $6 the entries this process is
 * sending already (after a database gap longer than the lease, its own
 * rows look free: never take one twice).
 */
static const char qpg_claim_sql[] =
    "WITH c AS (SELECT id, retry_requested AS was_retry FROM estrad_queue "
    "WHERE state IN ('pending', 'polling') AND lease_until <= estrad_now() "
    "AND expires > estrad_now() AND ((next_attempt <= estrad_now() AND "
    "label = ANY($3::text[])) OR (retry_requested AND "
    "label = ANY($4::text[]))) AND id <> ALL($6::bigint[]) "
    "ORDER BY next_attempt, id LIMIT $5 FOR UPDATE SKIP LOCKED) "
    "UPDATE estrad_queue q SET lease_owner = $1, "
    "lease_until = estrad_now() + $2::bigint, attempts = q.attempts + 1, "
    "retry_requested = false, updated = estrad_now(), "
    "note = 'sending to the CA (attempt ' || (q.attempts + 1) || ')' "
    "FROM c WHERE q.id = c.id RETURNING q.id, q.label, q.op, q.identity, "
    "q.pubkey, q.subject, q.request_id, q.content_type, q.csr, q.state, "
    "q.created, q.updated, q.expires, q.next_attempt, q.attempts, "
    "q.ca_status, q.result_type, q.retry_after, q.note, q.sans, "
    "q.ca_received, q.last_error, c.was_retry";

/* The forwarder's result: $9 {next_attempt - now, ca_status,
 * ca_received}. The CSR goes once the CA has answered for good. */
static const char qpg_result_sql[] =
    "UPDATE estrad_queue SET state = $3, updated = estrad_now(), "
    "next_attempt = estrad_now() + ($9::bigint[])[1], "
    "ca_status = ($9::bigint[])[2], ca_received = ($9::bigint[])[3], "
    "csr = CASE WHEN $3 IN ('pending', 'polling') THEN csr END, "
    "result_type = $4, result = $5, retry_after = $6, note = $7, "
    "last_error = $8, lease_until = 0 "
    "WHERE id = $1 AND lease_owner = $2 AND state IN ('pending', 'polling') "
    "RETURNING id";

/* Rows claimed once SIGTERM came: not sent, so handed back as they were
 * (but for the operator's retry mark, which the claim cleared). */
static const char qpg_release_sql[] =
    "UPDATE estrad_queue SET lease_until = 0, attempts = attempts - 1, "
    "note = 'not sent: the replica that claimed it was stopping' "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 "
    "AND state IN ('pending', 'polling')";

static const char qpg_renew_sql[] =
    "UPDATE estrad_queue SET lease_until = estrad_now() + $3::bigint "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 "
    "AND state IN ('pending', 'polling')";

static const char qpg_expire_sql[] =
    "UPDATE estrad_queue SET state = 'expired', updated = estrad_now(), "
    "expires = estrad_now() + $1::bigint, csr = NULL, lease_until = 0, "
    "note = CASE WHEN state IN ('issued', 'refused') THEN 'the client "
    "never came back for the CA''s answer' ELSE 'the CA did not answer "
    "in time' END "
    "WHERE id IN (SELECT id FROM estrad_queue WHERE " PG_ACTIVE " AND "
    "expires <= estrad_now() AND lease_until <= estrad_now() "
    "ORDER BY expires LIMIT 256 FOR UPDATE SKIP LOCKED) RETURNING " QPG_COLS;

/* Purged rows (`estrad queue purge`) go at once, as with SQLite. */
static const char qpg_sweep_sql[] =
    "DELETE FROM estrad_queue WHERE state = 'purged' OR "
    "(state IN ('delivered', 'expired') AND expires <= estrad_now()) "
    "RETURNING id, state";

static const char qpg_stats_sql[] =
    "SELECT state, count(*) AS n, estrad_now() - min(created) AS age "
    "FROM estrad_queue GROUP BY state";

/* ---- rows ---------------------------------------------------------------- */

/* Row of res into e (store_pg.c's reading, as `estrad queue` reads it;
 * the CSR and the result only when the statement returned them). */
static int
qpg_row(const PGresult *res, int row, struct store_entry *e)
{
	char err[160];

	if (store_pg_read_entry(res, row, e, err, sizeof(err)) == -1) {
		log_err("queue: %s", err);
		return -1;
	}
	return 0;
}

/* Log and audit a change another statement made (as queue_set_state). */
static void
qpg_noted(struct queue *q, const PGresult *res)
{
	struct queue_entry qe;

	for (int i = 0; i < PQntuples(res); i++) {
		memset(&qe, 0, sizeof(qe));
		qe.qe_q = q;
		if (qpg_row(res, i, &qe.qe_e) == -1)
			continue;
		queue_set_state(&qe, qe.qe_e.state, qe.qe_e.note);
		queue_drop_csr(&qe.qe_e);
		store_entry_clear(&qe.qe_e);
	}
}

/*
 * PostgreSQL (UTF8) refuses a text parameter that is not UTF-8, where
 * SQLite keeps any bytes: a client's Content-Type parameter (router.c
 * checks only the media type) or a CA's Retry-After or Content-Type would
 * have the insert refused for good (503 "away" to every retry), or the
 * forwarder's result rewritten for ever. Such a byte is kept as '?'.
 */
static void
qpg_utf8(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n;

	while (*p != '\0')
		if (*p < 0x80)
			p++;
		else if ((n = log_utf8_len(p)) != 0)
			p += n;
		else
			*p++ = '?';
}

/* The database is away: come back later (never a 500), as the other
 * stages that need the shared store answer (shared.h). */
static void
qpg_unavailable(const struct queue *q, struct est_reply *reply,
    const char *err)
{
	/* The reason stays in the log: the client learns nothing of the
	 * database's address. */
	log_debug("queue: the shared store is away: %s", err);
	metrics_store_refusal("queue");
	est_reply_error(reply, SHARED_AWAY_STATUS, "%s", SHARED_AWAY_REASON);
	snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld",
	    pg_retry_after(q->q_pg));
}

/* ---- lookup and put ------------------------------------------------------- */

static void
qpg_job_done(struct queue_job *j, struct est_reply *reply, int64_t deliver)
{
	queue_put_cb	 done = j->qj_done;
	void		*arg = j->qj_arg;

	free(j);
	done(arg, reply, deliver);
	if (reply != NULL)
		est_reply_clear(reply);
}

static void
qpg_on_lookup(void *arg, const PGresult *res, const char *err)
{
	struct queue_job	*j = arg;
	struct queue		*q = j->qj_q;
	struct store_entry	 e;
	struct est_reply	 reply;
	int64_t			 deliver = 0;

	j->qj_pgq = NULL;
	memset(&reply, 0, sizeof(reply));
	if (res == NULL) {
		qpg_unavailable(q, &reply, err);
	} else if (PQntuples(res) == 0) {
		if (!j->qj_put) {
			qpg_job_done(j, NULL, 0);
			return;
		}
		/* Queued by another replica and final already: gone by
		 * the next retry's time, which will find it or queue. */
		est_reply_error(&reply, 503, "the request changed state while "
		    "it was queued; retry");
		snprintf(reply.retry_after, sizeof(reply.retry_after), "1");
	} else if (qpg_row(res, 0, &e) == -1) {
		est_reply_error(&reply, 500, "internal error");
	} else {
		if (e.state == QS_PENDING || e.state == QS_POLLING)
			queue_reply_pending(q, &e, &reply);
		else {
			queue_reply_final(&e, &reply);
			deliver = e.id;
		}
		store_entry_clear(&e);
	}
	qpg_job_done(j, &reply, deliver);
}

static int
qpg_send_lookup(struct queue_job *j)
{
	const struct queue_key	*k = &j->qj_key;
	struct pg_param		 p[5] = {
		{ k->label, 0, 0 }, { k->op, 0, 0 }, { k->identity, 0, 0 },
		{ k->pubkey, 0, 0 }, { k->subject, 0, 0 }
	};

	return pg_query(j->qj_q->q_pg, qpg_lookup_sql, p, 5, qpg_on_lookup, j,
	    &j->qj_pgq);
}

static struct queue_job *
qpg_job_new(struct queue *q, const struct queue_key *k, queue_put_cb done,
    void *arg)
{
	struct queue_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->qj_q = q;
	j->qj_key = *k;
	j->qj_done = done;
	j->qj_arg = arg;
	return j;
}

enum queue_found
queue_pg_lookup(struct queue *q, const struct queue_key *k,
    struct est_reply *reply, queue_put_cb done, void *arg,
    struct queue_job **job)
{
	struct queue_job *j;

	if ((j = qpg_job_new(q, k, done, arg)) == NULL) {
		est_reply_error(reply, 500, "internal error");
		return QUEUE_ANSWER;
	}
	if (qpg_send_lookup(j) == -1) {
		free(j);
		qpg_unavailable(q, reply, pg_why(q->q_pg));
		return QUEUE_ANSWER;
	}
	*job = j;
	return QUEUE_WAIT;
}

static void
qpg_on_insert(void *arg, const PGresult *res, const char *err)
{
	struct queue_job	*j = arg;
	struct queue		*q = j->qj_q;
	struct est_reply	 reply;
	struct store_entry	 e;

	j->qj_pgq = NULL;
	memset(&reply, 0, sizeof(reply));
	if (res == NULL) {
		log_err("queue: cannot keep a request: %s", err);
		qpg_unavailable(q, &reply, err);
	} else if (PQntuples(res) == 0) {
		/* Another replica queued this request meanwhile: its entry
		 * answers, as a retry's lookup would. */
		log_info("queue: another replica queued this request first "
		    "(%s %s, %s): answering with its entry",
		    j->qj_key.label[0] ? j->qj_key.label : "-", j->qj_key.op,
		    j->qj_key.identity);
		j->qj_put = 1;
		if (qpg_send_lookup(j) == 0)
			return;
		qpg_unavailable(q, &reply, pg_why(q->q_pg));
	} else if (qpg_row(res, 0, &e) == -1) {
		est_reply_error(&reply, 500, "internal error");
	} else {
		q->q_active++;		/* until the next tick counts */
		qpg_noted(q, res);
		queue_reply_pending(q, &e, &reply);
		store_entry_clear(&e);
	}
	qpg_job_done(j, &reply, 0);
}

int
queue_pg_put(struct queue *q, const struct queue_put *p, queue_put_cb done,
    void *arg, struct queue_job **job, struct est_reply *reply)
{
	struct store_entry	 e;
	struct queue_job	*j;
	char			 nums[128];
	int			 rc;

	memset(&e, 0, sizeof(e));
	if (queue_entry_fill(q, &e, p) == -1 ||
	    (j = qpg_job_new(q, p->key, done, arg)) == NULL) {
		queue_drop_csr(&e);
		return queue_refuse(q, reply, 500, "internal error");
	}
	qpg_utf8(e.request_id);
	qpg_utf8(e.content_type);
	qpg_utf8(e.retry_after);
	qpg_utf8(e.note);
	qpg_utf8(e.sans);
	qpg_utf8(e.last_error);
	snprintf(nums, sizeof(nums), "{%lld,%lld,%d,%d,%d}",
	    (long long)(e.next_attempt - e.created),
	    (long long)(e.expires - e.created), e.attempts, e.ca_status,
	    e.ca_received);
	{
		struct pg_param pp[14] = {
			{ e.label, 0, 0 }, { e.op, 0, 0 },
			{ e.identity, 0, 0 }, { e.pubkey, 0, 0 },
			{ e.subject, 0, 0 }, { e.request_id, 0, 0 },
			{ e.content_type, 0, 0 },
			{ (const char *)e.csr, (int)e.csr_len, 1 },
			{ queue_state_name(e.state), 0, 0 }, { nums, 0, 0 },
			{ e.retry_after, 0, 0 }, { e.note, 0, 0 },
			{ e.sans, 0, 0 }, { e.last_error, 0, 0 }
		};
		rc = pg_query(q->q_pg, qpg_insert_sql, pp, 14, qpg_on_insert,
		    j, &j->qj_pgq);
	}
	queue_drop_csr(&e);
	store_entry_clear(&e);
	if (rc == -1) {
		free(j);
		qpg_unavailable(q, reply, pg_why(q->q_pg));
		return -1;
	}
	*job = j;
	return 0;
}

void
queue_pg_cancel(struct queue_job *job)
{
	/* The row, if the insert commits, is kept: the retry finds it. */
	pg_cancel(job->qj_pgq);
	free(job);
}

/* ---- this module's own writes --------------------------------------------- */

static struct qpg_op *
qpg_op_new(struct queue_pg *qp, int64_t id)
{
	struct qpg_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->op_qp = qp;
	op->op_id = id;
	TAILQ_INSERT_TAIL(&qp->qp_ops, op, op_link);
	return op;
}

static void
qpg_op_free(struct qpg_op *op)
{
	TAILQ_REMOVE(&op->op_qp->qp_ops, op, op_link);
	free(op);
}

static void
qpg_on_delivered(void *arg, const PGresult *res, const char *err)
{
	struct qpg_op *op = arg;

	if (res == NULL)
		log_warn("queue: entry %lld: cannot mark it delivered: %s "
		    "(it expires as undelivered)", (long long)op->op_id, err);
	else
		qpg_noted(op->op_qp->qp_q, res);
	qpg_op_free(op);
}

void
queue_pg_delivered(struct queue *q, int64_t id)
{
	struct queue_pg	*qp = q->q_pgq;
	struct qpg_op	*op;
	char		 ids[24];
	struct pg_param	 p[2] = { { ids, 0, 0 }, { qp->qp_expire_secs, 0, 0 } };

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	if ((op = qpg_op_new(qp, id)) == NULL)
		return;
	if (pg_query(q->q_pg, qpg_delivered_sql, p, 2, qpg_on_delivered, op,
	    &op->op_pgq) == -1) {
		log_warn("queue: entry %lld: cannot mark it delivered: %s",
		    (long long)id, pg_why(q->q_pg));
		qpg_op_free(op);
	}
}

/*
 * The result is on record (or was not ours to write any more): the entry
 * goes. A write that failed is made again at the next tick while this
 * process holds the lease (the renewal goes on): a CA's answer dropped
 * would have the next claimer ask the CA again.
 */
static void
qpg_on_result(void *arg, const PGresult *res, const char *err)
{
	struct qpg_op		*op = arg;
	struct queue_entry	*qe = op->op_qe;
	struct queue		*q = qe->qe_q;

	qe->qe_writes = 0;
	if (res == NULL)
		log_err("queue: entry %lld: cannot write the result of its "
		    "send: %s; trying again", (long long)op->op_id, err);
	else if (PQntuples(res) == 0)
		log_warn("queue: entry %lld: the result of this send is "
		    "dropped: another replica claimed the entry after its "
		    "lease ran out, or the operator purged it",
		    (long long)op->op_id);
	qpg_op_free(op);
	if (res != NULL)
		queue_drop(qe);
	queue_kick(q);
}

void
queue_pg_write(struct queue_entry *qe)
{
	struct queue		*q = qe->qe_q;
	const struct store_entry *e = &qe->qe_e;
	struct qpg_op		*op;
	char			 ids[24], nums[96];
	struct pg_param		 p[9] = {
		{ ids, 0, 0 }, { pg_owner(q->q_pg), 0, 0 },
		{ queue_state_name(e->state), 0, 0 },
		{ e->result_type, 0, 0 },
		{ (const char *)e->result, (int)e->result_len, 1 },
		{ e->retry_after, 0, 0 }, { e->note, 0, 0 },
		{ e->last_error, 0, 0 }, { nums, 0, 0 }
	};
	int64_t			 next_in = e->next_attempt - queue_now();

	qe->qe_unwritten = 1;
	qpg_utf8(qe->qe_e.result_type);
	qpg_utf8(qe->qe_e.retry_after);
	qpg_utf8(qe->qe_e.note);
	qpg_utf8(qe->qe_e.last_error);
	if (e->result == NULL)
		p[4].value = NULL;
	snprintf(ids, sizeof(ids), "%lld", (long long)e->id);
	snprintf(nums, sizeof(nums), "{%lld,%d,%d}",
	    (long long)(next_in > 0 ? next_in : 0), e->ca_status,
	    e->ca_received);
	if ((op = qpg_op_new(q->q_pgq, e->id)) == NULL)
		return;		/* the next tick tries again */
	op->op_qe = qe;
	if (pg_query(q->q_pg, qpg_result_sql, p, 9, qpg_on_result, op,
	    &op->op_pgq) == -1) {
		qpg_op_free(op);
		return;
	}
	qe->qe_writes = 1;
}

/* Results not yet on record: the SIGTERM wait counts them too. */
long
queue_pg_writing(const struct queue *q)
{
	const struct queue_entry	*qe;
	const struct qpg_op		*op;
	long				 n = 0;

	if (q->q_pgq == NULL)
		return 0;
	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		n += qe->qe_unwritten;
	/* A claim out when SIGTERM came, and its rows' hand-back: waited
	 * for, or they would wait out their lease unsent. */
	TAILQ_FOREACH(op, &q->q_pgq->qp_ops, op_link)
		n += op->op_release;
	return n + (q->q_draining && q->q_pgq->qp_claim != NULL);
}

/* Results whose write failed: again, while the lease is ours. */
static void
qpg_rewrite(struct queue *q)
{
	struct queue_entry *qe;

	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		if (qe->qe_unwritten && qe->qe_writes == 0)
			queue_pg_write(qe);
}

/* ---- the forwarder ---------------------------------------------------------- */

/* Add label to a text[] literal ("" for the bare path). */
static void
qpg_array_add(char *buf, size_t len, const char *label)
{
	size_t	 n = strlen(buf);

	/* Labels are short and plain (router.c); one that is not, or a
	 * list that is full, only means fewer entries claimed here. */
	if (n + strlen(label) + 4 >= len || strpbrk(label, "\"\\{},") != NULL)
		return;
	snprintf(buf + n, len - n, "%s\"%s\"", n > 1 ? "," : "", label);
}

/*
 * The labels this replica routes to an upstream (every), and those whose
 * upstream's breakers admit a send now (admitted): the claim takes only
 * entries it can send.
 */
static void
qpg_labels(struct queue *q, char *every, char *admitted, size_t len)
{
	const struct config *cfg = q->q_cfg;

	snprintf(every, len, "{");
	snprintf(admitted, len, "{");
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		const char *l = r->label != NULL ? r->label : "";
		if (r->backend != ROUTE_BACKEND_UPSTREAM)
			continue;
		qpg_array_add(every, len - 1, l);
		if (upstream_wait_ms(q->q_up, r->upstream) <= 0)
			qpg_array_add(admitted, len - 1, l);
	}
	strcat(every, "}");
	strcat(admitted, "}");
}

/* A claimed row: the entry being sent, until its result is written. */
static void
qpg_start(struct queue *q, const PGresult *res, int row)
{
	struct queue_entry	*qe;
	const struct cfg_route	*r;

	if ((qe = calloc(1, sizeof(*qe))) == NULL ||
	    qpg_row(res, row, &qe->qe_e) == -1) {
		/* Its lease runs out, and a replica sends it then. */
		log_err("queue: entry %lld: out of memory; not sent",
		    (long long)pg_int(res, row, "id"));
		free(qe);
		return;
	}
	qe->qe_q = q;
	qe->qe_durable = 1;
	qe->qe_sending = 1;
	q->q_forwarding++;
	TAILQ_INSERT_TAIL(&q->q_entries, qe, qe_link);
	if (strcmp(pg_text(res, row, "was_retry"), "t") == 0 &&
	    (r = queue_route(q, &qe->qe_e)) != NULL) {
		log_info("queue: entry %lld: sending now (the operator's "
		    "retry)", (long long)qe->qe_e.id);
		upstream_try_now(q->q_up, r->upstream);
	}
	queue_send(qe);
}

static void
qpg_on_released(void *arg, const PGresult *res, const char *err)
{
	struct qpg_op *op = arg;

	if (res == NULL)
		log_warn("queue: cannot hand back the entries claimed while "
		    "stopping: %s (their lease runs out)", err);
	qpg_op_free(op);
}

/* Stopping: the rows this claim took are not sent; hand them back. */
static void
qpg_release(struct queue *q, const PGresult *res)
{
	struct qpg_op	*op;
	char		*ids;
	size_t		 len = (size_t)PQntuples(res) * 24 + 3, n = 1;
	struct pg_param	 p[2] = { { NULL, 0, 0 }, { pg_owner(q->q_pg), 0, 0 } };

	if (PQntuples(res) == 0 || (ids = malloc(len)) == NULL)
		return;
	snprintf(ids, len, "{");
	for (int i = 0; i < PQntuples(res); i++)
		n += snprintf(ids + n, len - n, "%s%lld", i > 0 ? "," : "",
		    (long long)pg_int(res, i, "id"));
	snprintf(ids + n, len - n, "}");
	p[0].value = ids;
	if ((op = qpg_op_new(q->q_pgq, 0)) != NULL) {
		op->op_release = 1;
		if (pg_query(q->q_pg, qpg_release_sql, p, 2, qpg_on_released,
		    op, &op->op_pgq) == -1)
			qpg_op_free(op);
	}
	free(ids);
}

static void
qpg_on_claim(void *arg, const PGresult *res, const char *err)
{
	struct queue *q = arg;

	q->q_pgq->qp_claim = NULL;
	if (res == NULL) {
		log_warn("queue: cannot claim due entries: %s", err);
		return;
	}
	if (q->q_draining) {
		qpg_release(q, res);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		qpg_start(q, res, i);
}

/* "{ID,ID,...}" of the entries this process holds (malloc'd), or NULL
 * out of memory. */
static char *
qpg_local_ids(struct queue *q)
{
	struct queue_entry	*qe;
	size_t			 count = 0, len, n = 1;
	char			*ids;

	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		count++;
	len = count * 24 + 3;
	if ((ids = malloc(len)) == NULL)
		return NULL;
	snprintf(ids, len, "{");
	TAILQ_FOREACH(qe, &q->q_entries, qe_link)
		n += snprintf(ids + n, len - n, "%s%lld", n > 1 ? "," : "",
		    (long long)qe->qe_e.id);
	snprintf(ids + n, len - n, "}");
	return ids;
}

static void
qpg_claim(struct queue *q)
{
	struct queue_pg	*qp = q->q_pgq;
	char		 every[2048], admitted[2048], n[24], *mine;
	long		 room = q->q_qcfg->max_forwarding - q->q_forwarding;
	struct pg_param	 p[6] = {
		{ pg_owner(q->q_pg), 0, 0 }, { qp->qp_lease, 0, 0 },
		{ admitted, 0, 0 }, { every, 0, 0 }, { n, 0, 0 },
		{ NULL, 0, 0 }
	};

	if (q->q_draining || qp->qp_claim != NULL || room <= 0 ||
	    !pg_available(q->q_pg))
		return;
	qpg_labels(q, every, admitted, sizeof(every));
	if (strcmp(every, "{}") == 0 || (mine = qpg_local_ids(q)) == NULL)
		return;
	snprintf(n, sizeof(n), "%ld", room);
	p[5].value = mine;
	if (pg_query(q->q_pg, qpg_claim_sql, p, 6, qpg_on_claim, q,
	    &qp->qp_claim) == -1)
		qp->qp_claim = NULL;
	free(mine);
}

/* ---- housekeeping ------------------------------------------------------------- */

static void
qpg_on_renew(void *arg, const PGresult *res, const char *err)
{
	struct queue *q = arg;

	q->q_pgq->qp_renew = NULL;
	if (res == NULL)
		log_warn("queue: cannot renew the leases of the entries being "
		    "sent: %s", err);
}

/* The entries being sent (or their results written) keep their leases. */
static void
qpg_renew(struct queue *q)
{
	struct queue_pg		*qp = q->q_pgq;
	char			*ids;
	struct pg_param		 p[3] = {
		{ NULL, 0, 0 }, { pg_owner(q->q_pg), 0, 0 },
		{ qp->qp_lease, 0, 0 }
	};

	if (qp->qp_renew != NULL || TAILQ_EMPTY(&q->q_entries) ||
	    (ids = qpg_local_ids(q)) == NULL)
		return;
	/* Every entry's id: a lease left out would lapse mid-send. */
	p[0].value = ids;
	if (pg_query(q->q_pg, qpg_renew_sql, p, 3, qpg_on_renew, q,
	    &qp->qp_renew) == -1)
		qp->qp_renew = NULL;
	free(ids);
}

static void
qpg_on_expire(void *arg, const PGresult *res, const char *err)
{
	struct queue *q = arg;

	q->q_pgq->qp_expire = NULL;
	if (res == NULL)
		log_warn("queue: cannot expire old entries: %s", err);
	else
		qpg_noted(q, res);
}

static void
qpg_on_sweep(void *arg, const PGresult *res, const char *err)
{
	struct queue *q = arg;

	q->q_pgq->qp_sweep = NULL;
	if (res == NULL) {
		log_warn("queue: cannot delete old entries: %s", err);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(pg_text(res, i, "state"), "purged") == 0)
			log_info("queue: entry %lld was purged by the operator",
			    (long long)pg_int(res, i, "id"));
}

static void
qpg_on_stats(void *arg, const PGresult *res, const char *err)
{
	struct queue	*q = arg;
	struct queue_pg	*qp = q->q_pgq;
	enum queue_state s;
	size_t		 active = 0;

	qp->qp_stats = NULL;
	if (res == NULL)
		return;		/* the last counts stand */
	for (int i = 0; i < QS_MAX; i++)
		qp->qp_entries[i] = 0;
	qp->qp_oldest = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		if ((s = queue_state_from_name(pg_text(res, i, "state"))) ==
		    QS_MAX)
			continue;
		qp->qp_entries[s] = (double)pg_int(res, i, "n");
		if (!queue_state_active(s))
			continue;
		active += (size_t)pg_int(res, i, "n");
		if (pg_int(res, i, "age") > qp->qp_oldest)
			qp->qp_oldest = (double)pg_int(res, i, "age");
	}
	q->q_active = active;
}

/* One statement, unless the last of its kind is still out. */
static void
qpg_run(struct queue *q, struct pg_query **slot, const char *sql,
    const struct pg_param *p, int np, pg_done_fn done)
{
	if (*slot == NULL && pg_query(q->q_pg, sql, p, np, done, q, slot) ==
	    -1)
		*slot = NULL;
}

void
queue_pg_tick(struct queue *q, int pass_only)
{
	struct queue_pg	*qp = q->q_pgq;
	struct pg_param	 exp = { qp->qp_expire_secs, 0, 0 };

	if (!pass_only && pg_available(q->q_pg)) {
		qpg_renew(q);
		qpg_rewrite(q);
		qpg_run(q, &qp->qp_stats, qpg_stats_sql, NULL, 0, qpg_on_stats);
		if (q->q_ticks % QPG_EXPIRE_EVERY == 0)
			qpg_run(q, &qp->qp_expire, qpg_expire_sql, &exp, 1,
			    qpg_on_expire);
		if (q->q_ticks % QPG_SWEEP_EVERY == 0)
			qpg_run(q, &qp->qp_sweep, qpg_sweep_sql, NULL, 0,
			    qpg_on_sweep);
	}
	qpg_claim(q);
}

void
queue_pg_stats(const struct queue *q, double entries[QS_MAX],
    double *oldest_age_seconds)
{
	for (int i = 0; i < QS_MAX; i++)
		entries[i] = q->q_pgq->qp_entries[i];
	*oldest_age_seconds = q->q_pgq->qp_oldest;
}

/* ---- start and stop --------------------------------------------------------- */

int
queue_pg_new(struct queue *q, struct pg *pg, char *err, size_t errlen)
{
	struct queue_pg *qp;

	if ((qp = calloc(1, sizeof(*qp))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	qp->qp_q = q;
	qp->qp_pg = pg;
	TAILQ_INIT(&qp->qp_ops);
	snprintf(qp->qp_lease, sizeof(qp->qp_lease), "%ld",
	    q->q_cfg->store.lease);
	snprintf(qp->qp_expire_secs, sizeof(qp->qp_expire_secs), "%ld",
	    q->q_qcfg->expire);
	q->q_pg = pg;
	q->q_pgq = qp;
	log_info("queue: on the shared store (PostgreSQL), leases of %ld s "
	    "as %s", q->q_cfg->store.lease, pg_owner(pg));
	return 0;
}

void
queue_pg_free(struct queue *q)
{
	struct queue_pg	*qp = q->q_pgq;
	struct qpg_op	*op;

	if (qp == NULL)
		return;
	pg_cancel(qp->qp_claim);
	pg_cancel(qp->qp_stats);
	pg_cancel(qp->qp_renew);
	pg_cancel(qp->qp_expire);
	pg_cancel(qp->qp_sweep);
	while ((op = TAILQ_FIRST(&qp->qp_ops)) != NULL) {
		pg_cancel(op->op_pgq);
		qpg_op_free(op);
	}
	free(qp);
	q->q_pgq = NULL;
}
