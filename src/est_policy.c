/*
 * est_policy: the request path's stages that judge a CSR, and the audit
 * record of every enrollment decision. For each authenticated enrollment:
 * the route's CSR policy (policy.c, pure) gets the CSR, who the client is
 * and the channel binding of its TLS session; then proof of possession;
 * then the per-identity enrollment rate. Each stage returns its verdict
 * (0 to go on, or -1 with the reply filled) and est.c answers, so none of
 * them needs a server or a connection. Every enrollment decision, these
 * stages' or the CA's, is written to the audit log before the answer goes
 * out (RFC 7030 leaves auditing to the RA; est.c submits the record built
 * here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "estrad/b64.h"
#include "estrad/chanbind.h"
#include "estrad/limiter.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/pg.h"
#include "estrad/policy.h"
#include "estrad/shared.h"

#include "est_req_int.h"

static int
policy_op_of(enum est_op op, enum policy_op *out)
{
	switch (op) {
	case EST_OP_SIMPLEENROLL:
		*out = POLICY_ENROLL;
		return 0;
	case EST_OP_SIMPLEREENROLL:
		*out = POLICY_REENROLL;
		return 0;
	case EST_OP_SERVERKEYGEN:
		*out = POLICY_SERVERKEYGEN;
		return 0;
	default:
		/* fullcmc carries a CMC message, not a bare CSR: the CA's. */
		return -1;
	}
}

_Static_assert(POLICY_RULES_MAX <= AUDIT_RULES_MAX,
    "the audit record holds every rule of a verdict");
_Static_assert(sizeof(((struct policy_verdict *)0)->reason) <=
    sizeof(((struct est_reply *)0)->reason),
    "a reply holds a policy verdict's whole reason");

/* A refusal by rule: named in the request (audit record; the reason on
 * the access line) and counted, once per rule. rq_rule is the first. */
static void
est_refused_by(struct est_req *rq, const char *rule)
{
	if (rq->rq_nrules == AUDIT_RULES_MAX)
		return;
	snprintf(rq->rq_rules[rq->rq_nrules], sizeof(rq->rq_rules[0]), "%s",
	    rule);
	if (rq->rq_nrules++ == 0)
		snprintf(rq->rq_rule, sizeof(rq->rq_rule), "%s", rule);
	metrics_policy_refusal(rule);
}

/*
 * fullcmc carries a CMC message, not a bare CSR: this RA cannot apply its
 * policy to it, and the CA trusts the RA's certificate. So it is refused
 * unless the route opts in to pass it through (then only the rate counts).
 */
static int
est_fullcmc(struct est_req *rq, struct est_reply *reply)
{
	if (rq->rq_backend->fullcmc_passthrough)
		return 0;
	est_refused_by(rq, "fullcmc");
	est_reply_error(reply, 501, "fullcmc is not offered here: its "
	    "requests would bypass the CSR policy");
	return -1;
}

int
est_stage_policy(struct est_req *rq, SSL *ssl, X509 *client_cert,
    struct est_reply *reply)
{
	struct policy_input	in;
	struct policy_verdict	v;
	char			binding[CHANBIND_MAX];
	enum auth_method	m = rq->rq_identity.method;

	memset(&in, 0, sizeof(in));
	if (rq->rq_route.op == EST_OP_FULLCMC)
		return est_fullcmc(rq, reply);
	if (rq->rq_csr == NULL || policy_op_of(rq->rq_route.op, &in.op) == -1)
		return 0;
	in.csr = rq->rq_csr->csr_req;
	in.user = m == AUTH_METHOD_DIGEST || m == AUTH_METHOD_BASIC ?
	    rq->rq_identity.name : NULL;
	in.client_cert = client_cert;
	/* tls-unique without Extended Master Secret is open to the triple
	 * handshake (RFC 7627): such a session has no binding worth checking. */
	if (ssl != NULL && (SSL_version(ssl) != TLS1_2_VERSION ||
	    SSL_get_extms_support(ssl) == 1) &&
	    chanbind_value(ssl, binding, sizeof(binding)) == 0)
		in.binding = binding;
	if (policy_check(rq->rq_backend->policy, &in, &v) == -1) {
		for (size_t i = 0; i < v.nrules; i++)
			est_refused_by(rq, v.rules[i]);
		est_reply_error(reply, v.status, "%s", v.reason);
		return -1;
	}
	return 0;
}

/*
 * Proof of possession (RFC 7030 §3.4), after the policy: the dearest check
 * on the event loop runs only for a CSR the policy would let through, and
 * csr.c bounds what it costs (docs/performance.md).
 */
int
est_stage_pop(struct est_req *rq, struct est_reply *reply)
{
	const char *reason;

	if (rq->rq_csr == NULL || csr_verify(rq->rq_csr, &reason) == 0)
		return 0;
	est_reply_error(reply, 400, "%s", reason);
	return -1;
}

/* The 429 of a rate reached, wait seconds before the window ends. */
static void
est_rate_refuse(struct est_req *rq, long wait, struct est_reply *reply)
{
	const struct policy *p = rq->rq_backend->policy;

	est_refused_by(rq, "rate");
	est_reply_error(reply, 429, "policy rate: at most %ld "
	    "enrollments per %ld s for this identity; retry later",
	    policy_rate_max(p), policy_rate_window(p));
	snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld", wait);
}

/* The shared store cannot count: 503, never an enrollment uncounted. */
static void
est_rate_away(struct est_req *rq, struct est_reply *reply)
{
	metrics_store_refusal("rate");
	est_reply_error(reply, SHARED_AWAY_STATUS, "%s", SHARED_AWAY_REASON);
	snprintf(reply->retry_after, sizeof(reply->retry_after), "%ld",
	    pg_retry_after(rq->rq_srv->srv_pg));
}

/* The stage's verdict on the shared count: 0 within the rate, -1 with
 * the 429 or the 503 in reply. */
static int
est_rate_verdict(struct est_req *rq, struct est_reply *reply)
{
	if (rq->rq_rate_away) {
		est_rate_away(rq, reply);
		return -1;
	}
	if (rq->rq_rate_count <= policy_rate_max(rq->rq_backend->policy))
		return 0;
	est_rate_refuse(rq, rq->rq_rate_wait, reply);
	return -1;
}

/* A count taken for a request that was no new enrollment: given back. */
static void
est_rate_give_back(struct est_req *rq)
{
	if (!rq->rq_rate_away)
		shared_forgive(rq->rq_srv->srv_pg, rq->rq_rate_name, NULL);
}

/* The shared count came back (or did not): on the loop. */
static void
est_rate_counted(void *arg, const PGresult *res, const char *err)
{
	struct est_req		*rq = arg;
	struct est_reply	 reply;

	rq->rq_pg_query = NULL;
	rq->rq_rate_state = EST_RATE_DONE;
	if (res == NULL) {
		log_debug("rate: shared store: %s", err);
		rq->rq_rate_away = 1;
	} else
		shared_rate_read(res, &rq->rq_rate_count, &rq->rq_rate_wait);
	if (rq->rq_rate_holding) {
		/* The lookup found the request queued: its answer waited. */
		est_rate_give_back(rq);
		rq->rq_rate_holding = 0;
		reply = rq->rq_rate_held;
		memset(&rq->rq_rate_held, 0, sizeof(rq->rq_rate_held));
		est_req_answer(rq, &reply);
		return;
	}
	if (!rq->rq_rate_waiting)
		return;		/* the lookup's answer comes first */
	memset(&reply, 0, sizeof(reply));
	rq->rq_rate_state = EST_RATE_USED;
	if (est_rate_verdict(rq, &reply) == 0)
		est_req_after_rate(rq);
	else
		est_req_answer(rq, &reply);
}

/* rq's shared counter's name for key; -1 (a 500) if it does not fit. */
static int
est_rate_name(struct est_req *rq, const char *key)
{
	return shared_rate_name(rq->rq_rate_name, sizeof(rq->rq_rate_name),
	    rq->rq_route.has_label ? rq->rq_route.label : NULL, key);
}

/* Send the shared count; a send refused at once is the store away. */
static void
est_rate_send(struct est_req *rq)
{
	rq->rq_rate_state = EST_RATE_PENDING;
	if (shared_rate(rq->rq_srv->srv_pg, rq->rq_rate_name,
	    policy_rate_window(rq->rq_backend->policy), est_rate_counted, rq,
	    &rq->rq_pg_query) == -1) {
		rq->rq_rate_state = EST_RATE_DONE;
		rq->rq_rate_away = 1;
	}
}

/*
 * With replicas on PostgreSQL the count is the group's: one upsert
 * (shared.c), answered on the loop; no connection up: -1, the 503. A
 * count sent already beside the queue's lookup is read, or waited for.
 */
static int
est_rate_shared(struct est_req *rq, const char *key, struct est_reply *reply)
{
	if (rq->rq_rate_state == EST_RATE_NONE) {
		if (est_rate_name(rq, key) == -1) {
			est_reply_error(reply, 500, "internal error");
			return -1;
		}
		est_rate_send(rq);
	}
	if (rq->rq_rate_state == EST_RATE_PENDING) {
		rq->rq_rate_waiting = 1;
		return 1;
	}
	rq->rq_rate_state = EST_RATE_USED;
	return est_rate_verdict(rq, reply);
}

/* The counter's key of rq: 0, or -1 when no rate applies to it. */
static int
est_rate_key(const struct est_req *rq, const struct limiter *rate,
    char *key, size_t keylen)
{
	if (rate == NULL || (rq->rq_csr == NULL &&
	    rq->rq_route.op != EST_OP_FULLCMC))
		return -1;
	/* Anonymous enrollment (an open route) is counted per address. */
	if (rq->rq_identity.method == AUTH_METHOD_MAX)
		snprintf(key, keylen, "addr:%s", rq->rq_peer_addr);
	else
		snprintf(key, keylen, "%s:%s",
		    auth_method_name(rq->rq_identity.method),
		    rq->rq_identity.name);
	return 0;
}

void
est_rate_prefetch(struct est_req *rq, struct limiter *rate)
{
	char key[320];

	if (rq->rq_srv->srv_pg == NULL || rq->rq_rate_state != EST_RATE_NONE ||
	    est_rate_key(rq, rate, key, sizeof(key)) == -1 ||
	    est_rate_name(rq, key) == -1)
		return;		/* the stage says what is wrong, if anything */
	est_rate_send(rq);
}

int
est_rate_hold(struct est_req *rq, struct est_reply *reply)
{
	if (rq->rq_rate_state == EST_RATE_PENDING) {
		rq->rq_rate_held = *reply;
		memset(reply, 0, sizeof(*reply));
		rq->rq_rate_holding = 1;
		return 1;
	}
	if (rq->rq_rate_state == EST_RATE_DONE) {
		est_rate_give_back(rq);
		rq->rq_rate_state = EST_RATE_USED;
	}
	return 0;
}

/*
 * At most N enrollments per identity per window (counted when they pass
 * the policy, whatever the CA then says); fullcmc, which has no CSR here,
 * is counted too; cacerts and csrattrs never.
 */
int
est_stage_rate(struct est_req *rq, struct limiter *rate,
    struct est_reply *reply)
{
	char			 key[320];
	time_t			 now = time(NULL);
	long			 wait;

	if (est_rate_key(rq, rate, key, sizeof(key)) == -1)
		return 0;
	if (rq->rq_srv != NULL && rq->rq_srv->srv_pg != NULL)
		return est_rate_shared(rq, key, reply);
	if ((wait = limiter_blocked(rate, key, now)) > 0) {
		est_rate_refuse(rq, wait, reply);
		return -1;
	}
	limiter_fail(rate, key, now);
	return 0;
}

int
est_stage_csrattrs(const struct est_req *rq, struct est_reply *reply)
{
	unsigned char	*der = NULL;
	size_t		 len = 0, b64len;

	if (rq->rq_route.op != EST_OP_CSRATTRS ||
	    !rq->rq_backend->csrattrs_from_policy)
		return 0;
	if (policy_csrattrs(rq->rq_backend->policy, &der, &len) == -1) {
		est_reply_error(reply, 500, "internal error");
		return -1;
	}
	if (len == 0) {
		/* RFC 7030 §4.5.2: nothing to ask for. */
		reply->status = 204;
		snprintf(reply->reason, sizeof(reply->reason),
		    "policy asks for nothing");
	} else if ((reply->body = (unsigned char *)b64_encode_lines(der, len,
	    &b64len)) == NULL) {
		est_reply_error(reply, 500, "internal error");
	} else {
		reply->status = 200;
		reply->body_len = b64len;
		snprintf(reply->content_type, sizeof(reply->content_type),
		    "%s", EST_CT_CSRATTRS);
		snprintf(reply->reason, sizeof(reply->reason),
		    "csrattrs from policy");
	}
	free(der);
	return -1;
}

/* ---- the audit record ------------------------------------------------- */

static const char *
est_decision(const struct est_req *rq, const struct est_reply *r)
{
	if (r->status == 200 || r->status == 201)
		return "accepted";
	if (r->status == 202)
		return "pending";
	/* Our refusals name a rule; the CA's are its 4xx. */
	if (rq->rq_rule[0] != '\0' || (r->status >= 400 && r->status < 500))
		return "refused";
	return "failed";
}

void
est_audit_fill(const struct est_req *rq, const struct est_reply *reply,
    const char *decision, struct audit_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->request_id = rq->rq_id;
	rec->peer = rq->rq_peer;
	rec->auth = auth_method_name(rq->rq_identity.method);
	rec->identity = rq->rq_identity.name[0] ? rq->rq_identity.name : "-";
	rec->label = rq->rq_route.has_label ? rq->rq_route.label : "-";
	rec->op = est_op_name(rq->rq_route.op);
	rec->csr = rq->rq_csr ? rq->rq_csr->csr_req : NULL;
	rec->decision = decision != NULL ? decision : est_decision(rq, reply);
	rec->rule = rq->rq_rule[0] ? rq->rq_rule : NULL;
	for (size_t i = 0; i < rq->rq_nrules; i++)
		rec->rules[i] = rq->rq_rules[i];
	rec->nrules = rq->rq_nrules;
	rec->reason = reply->reason;
	rec->status = reply->status;
	rec->upstream_status = rq->rq_upstream_status;
	rec->response = reply->body;
	rec->response_len = reply->body_len;
}
