/*
 * est_offline: what the request path answers without the CA, for an
 * upstream route (docs/offline.md): a cached cacerts/csrattrs; an
 * enrollment already queued for this client and CSR, 202 while pending or
 * the CA's answer the queue holds; and the hand-off to the queue of an
 * enrollment whose upstream is down or answers 202 (est_queue(), from
 * est.c's backend; RFC 7030 §4.2.3). Every answer still leaves through
 * est_req_answer().
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "estrad/audit.h"
#include "estrad/cache.h"
#include "estrad/csr.h"
#include "estrad/listener.h"
#include "estrad/log.h"
#include "estrad/queue.h"
#include "estrad/reply.h"
#include "estrad/router.h"
#include "estrad/upstream.h"

#include "est_req_int.h"

/* Store and forward applies to these; serverkeygen's answer holds a
 * private key that estrad will not keep on disk. */
static int
est_op_queueable(enum est_op op)
{
	return op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL;
}

/* The queue's answer: a put's 202 (or refusal), a lookup's match
 * (deliver: the entry whose CA answer this is), or, from the shared
 * store's lookup, no match (reply NULL): the request goes on. */
static void
est_on_queued(void *arg, struct est_reply *reply, int64_t deliver)
{
	struct est_req *rq = arg;

	rq->rq_queue_job = NULL;
	if (reply == NULL) {
		est_req_after_offline(rq);
		return;
	}
	rq->rq_deliver = deliver;
	/* A retry is no new enrollment: an early rate count is taken back. */
	if (est_rate_hold(rq, reply))
		return;
	est_req_answer(rq, reply);
}

/*
 * Keep the enrollment for later (RFC 7030 §4.2.3): 202 once on disk. If it
 * cannot be kept (queue full, writer busy), the client gets ca_reply when
 * there is one (the CA's own 202), else the queue's 503.
 */
void
est_queue(struct est_req *rq, enum queue_state state,
    struct est_reply *ca_reply, const char *why,
    const struct upstream_report *sent)
{
	struct evbuffer		*in = rq->rq_body;
	struct queue_put	 p;
	struct est_reply	 reply;
	char			 sans[sizeof(((struct store_entry *)0)->sans)];

	memset(&p, 0, sizeof(p));
	memset(&reply, 0, sizeof(reply));
	p.key = &rq->rq_qkey;
	p.route = rq->rq_backend;
	p.content_type = rq->rq_ctype;
	p.csr_len = evbuffer_get_length(in);
	if ((p.csr = evbuffer_pullup(in, -1)) == NULL)
		p.csr = (const unsigned char *)"";
	p.request_id = rq->rq_id;
	p.state = state;
	p.ca_retry_after = ca_reply != NULL ? ca_reply->retry_after : NULL;
	p.note = why;
	p.sent = sent;
	audit_sans_text(rq->rq_csr != NULL ? rq->rq_csr->csr_req : NULL, sans,
	    sizeof(sans));
	p.sans = sans;
	if (queue_put(rq->rq_srv->srv_queue, &p, est_on_queued, rq,
	    &rq->rq_queue_job, &reply) == -1) {
		if (ca_reply != NULL) {
			est_reply_clear(&reply);
			est_req_answer(rq, ca_reply);
			return;
		}
		est_req_answer(rq, &reply);
		return;
	}
	if (ca_reply != NULL)
		est_reply_clear(ca_reply);
	est_req_wait(rq);
}

/* A CA's cacerts: leaf-only clients of that CA re-enroll (listener.h). */
void
est_learn_cacerts(struct est_req *rq, const struct est_reply *reply)
{
	if (rq->rq_route.op == EST_OP_CACERTS && reply->status == 200)
		listener_learn_cacerts(rq->rq_srv->srv_listener, reply->body,
		    reply->body_len);
}

/*
 * What can be answered without the CA: a cached cacerts/csrattrs, or a
 * queued enrollment this client asks for again. 1 when answered (or
 * waiting for the queue's answer: on the shared store every lookup
 * waits, and a miss goes on in est_on_queued).
 */
int
est_answer_offline(struct est_req *rq)
{
	struct server		*srv = rq->rq_srv;
	struct est_reply	 reply;
	enum est_op		 op = rq->rq_route.op;

	memset(&reply, 0, sizeof(reply));
	if (rq->rq_backend->backend != ROUTE_BACKEND_UPSTREAM)
		return 0;
	if ((op == EST_OP_CACERTS || op == EST_OP_CSRATTRS) &&
	    cache_lookup(srv->srv_cache, rq->rq_cfg, rq->rq_backend, op,
	    &reply)) {
		est_learn_cacerts(rq, &reply);
		est_req_answer(rq, &reply);
		return 1;
	}
	if (!est_op_queueable(op) || !queue_enabled(srv->srv_queue) ||
	    rq->rq_csr == NULL || !queue_routes_label(srv->srv_queue,
	    rq->rq_route.has_label ? rq->rq_route.label : NULL))
		return 0;
	if (queue_key_make(&rq->rq_qkey, rq->rq_route.has_label ?
	    rq->rq_route.label : NULL, op, &rq->rq_identity,
	    rq->rq_csr->csr_req) == -1) {
		log_warn("request %s: no queue key for this CSR; it will not "
		    "be queued", rq->rq_id);
		return 0;
	}
	rq->rq_queueable = 1;
	if (srv->srv_pg != NULL)
		est_rate_prefetch(rq, server_rate(srv, rq->rq_route.has_label ?
		    rq->rq_route.label : NULL));
	switch (queue_lookup(srv->srv_queue, &rq->rq_qkey, &reply,
	    &rq->rq_deliver, est_on_queued, rq, &rq->rq_queue_job)) {
	case QUEUE_MISS:
		return 0;
	case QUEUE_WAIT:
		est_req_wait(rq);
		return 1;
	case QUEUE_ANSWER:
		break;
	}
	est_req_answer(rq, &reply);
	return 1;
}
