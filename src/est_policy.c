/*
 * est_policy: the request path's policy stage and its record. For each
 * authenticated enrollment: the route's CSR policy (policy.c, pure) gets
 * the CSR, who the client is and the channel binding of its TLS session;
 * then the per-identity enrollment rate. Every enrollment decision, this
 * stage's or the CA's, is written to the audit log before the answer goes
 * out (RFC 7030 leaves auditing to the RA; the issue asks for it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "estrad/b64.h"
#include "estrad/chanbind.h"
#include "estrad/est_req.h"
#include "estrad/limiter.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/policy.h"

/*
 * The policy of rq's route in the config rq started under: after a
 * reload, the route's new policy; a label the reloaded file lacks keeps
 * the policy it started with.
 */
static const struct policy *
est_route_policy(const struct est_req *rq)
{
	const struct cfg_route *r = config_route(rq->rq_pcfg,
	    rq->rq_route.has_label ? rq->rq_route.label : NULL);

	return r != NULL ? r->policy : rq->rq_backend->policy;
}

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

/*
 * At most N enrollments per identity per window (counted when they pass
 * the policy, whatever the CA then says). 0, or -1 after answering 429.
 */
/* The counter of rq's route in the current config (a reload may have
 * changed the routes since the request started), or NULL. */
static struct limiter *
est_rate_of(const struct est_req *rq)
{
	const struct est_server	*srv = rq->rq_srv;
	const struct cfg_route	*r = config_route(srv->srv_pcfg,
	    rq->rq_route.has_label ? rq->rq_route.label : NULL);

	return r != NULL && r->index < srv->srv_nrates ?
	    srv->srv_rates[r->index] : NULL;
}

static int
est_rate(struct est_req *rq)
{
	struct limiter		*l = est_rate_of(rq);
	const struct policy	*p = est_route_policy(rq);
	char			 key[320];
	time_t			 now = time(NULL);
	long			 wait;

	if (l == NULL)
		return 0;
	/* Anonymous enrollment (an open route) is counted per address. */
	if (rq->rq_identity.method == AUTH_METHOD_MAX)
		snprintf(key, sizeof(key), "addr:%s", rq->rq_peer_addr);
	else
		snprintf(key, sizeof(key), "%s:%s",
		    auth_method_name(rq->rq_identity.method),
		    rq->rq_identity.name);
	if ((wait = limiter_blocked(l, key, now)) > 0) {
		struct est_reply r;
		memset(&r, 0, sizeof(r));
		snprintf(rq->rq_rule, sizeof(rq->rq_rule), "rate");
		metrics_policy_refusal(rq->rq_rule);
		est_reply_error(&r, 429, "policy rate: at most %ld enrollments "
		    "per %ld s for this identity; retry later",
		    policy_rate_max(p), policy_rate_window(p));
		snprintf(r.retry_after, sizeof(r.retry_after), "%ld", wait);
		est_req_answer(rq, &r);
		return -1;
	}
	limiter_fail(l, key, now);
	return 0;
}

/*
 * fullcmc carries a CMC message, not a bare CSR: this RA cannot apply its
 * policy to it, and the CA trusts the RA's certificate. So it is refused
 * unless the route opts in to pass it through (then only the rate counts).
 */
static int
est_fullcmc(struct est_req *rq)
{
	if (!rq->rq_backend->fullcmc_passthrough) {
		snprintf(rq->rq_rule, sizeof(rq->rq_rule), "fullcmc");
		metrics_policy_refusal(rq->rq_rule);
		est_req_fail(rq, 501, "fullcmc is not offered here: its "
		    "requests would bypass the CSR policy");
		return -1;
	}
	return est_rate(rq);
}

int
est_stage_policy(struct est_req *rq)
{
	struct policy_input	in;
	struct policy_verdict	v;
	char			binding[CHANBIND_MAX];
	SSL			*ssl = est_peer_ssl(rq);
	enum auth_method	m = rq->rq_identity.method;

	memset(&in, 0, sizeof(in));
	if (rq->rq_route.op == EST_OP_FULLCMC)
		return est_fullcmc(rq);
	if (rq->rq_csr == NULL || policy_op_of(rq->rq_route.op, &in.op) == -1)
		return 0;
	in.csr = rq->rq_csr->csr_req;
	in.user = m == AUTH_METHOD_DIGEST || m == AUTH_METHOD_BASIC ?
	    rq->rq_identity.name : NULL;
	in.client_cert = est_peer_cert(rq);
	/* tls-unique without Extended Master Secret is open to the triple
	 * handshake (RFC 7627): such a session has no binding worth checking. */
	if (ssl != NULL && (SSL_version(ssl) != TLS1_2_VERSION ||
	    SSL_get_extms_support(ssl) == 1) &&
	    chanbind_value(ssl, binding, sizeof(binding)) == 0)
		in.binding = binding;
	if (policy_check(est_route_policy(rq), &in, &v) == -1) {
		snprintf(rq->rq_rule, sizeof(rq->rq_rule), "%s", v.rule);
		metrics_policy_refusal(rq->rq_rule);
		est_req_fail(rq, v.status, "%s", v.reason);
		return -1;
	}
	return 0;
}

int
est_stage_rate(struct est_req *rq)
{
	/* fullcmc was counted by its own stage; cacerts/csrattrs never. */
	if (rq->rq_csr == NULL || rq->rq_route.op == EST_OP_FULLCMC)
		return 0;
	return est_rate(rq);
}

void
est_policy_csrattrs(struct est_req *rq)
{
	struct est_reply	 r;
	unsigned char		*der = NULL;
	size_t			 len = 0, b64len;

	memset(&r, 0, sizeof(r));
	if (policy_csrattrs(est_route_policy(rq), &der, &len) == -1) {
		est_req_fail(rq, 500, "internal error");
		return;
	}
	if (len == 0) {
		/* RFC 7030 §4.5.2: nothing to ask for. */
		r.status = 204;
		snprintf(r.reason, sizeof(r.reason), "policy asks for nothing");
	} else if ((r.body = (unsigned char *)b64_encode_lines(der, len,
	    &b64len)) == NULL) {
		est_reply_error(&r, 500, "internal error");
	} else {
		r.status = 200;
		r.body_len = b64len;
		snprintf(r.content_type, sizeof(r.content_type), "%s",
		    EST_CT_CSRATTRS);
		snprintf(r.reason, sizeof(r.reason), "csrattrs from policy");
	}
	free(der);
	est_req_answer(rq, &r);
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

static void
est_on_audited(void *arg, int ok)
{
	struct est_req *rq = arg;

	rq->rq_audit_job = NULL;
	rq->rq_send(rq, &rq->rq_reply);
}

/* Submit the request's audit record; audit_submit_record's answer. */
static int
est_audit_submit(struct est_req *rq, const struct est_reply *reply,
    const char *decision, struct audit_job **job)
{
	struct audit_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.request_id = rq->rq_id;
	rec.peer = rq->rq_peer;
	rec.auth = auth_method_name(rq->rq_identity.method);
	rec.identity = rq->rq_identity.name[0] ? rq->rq_identity.name : "-";
	rec.label = rq->rq_route.has_label ? rq->rq_route.label : "-";
	rec.op = est_op_name(rq->rq_route.op);
	rec.csr = rq->rq_csr ? rq->rq_csr->csr_req : NULL;
	rec.decision = decision;
	rec.rule = rq->rq_rule[0] ? rq->rq_rule : NULL;
	rec.reason = reply->reason;
	rec.status = reply->status;
	rec.upstream_status = rq->rq_upstream_status;
	rec.response = reply->body;
	rec.response_len = reply->body_len;
	return audit_submit_record(rq->rq_srv->srv_audit, &rec, est_on_audited,
	    rq, job);
}

void
est_audit_then_send(struct est_req *rq, struct est_reply *reply,
    void (*send)(struct est_req *, struct est_reply *))
{
	/* The reply waits in the request while the record is written. */
	rq->rq_reply = *reply;
	memset(reply, 0, sizeof(*reply));
	rq->rq_send = send;
	rq->rq_decided = 0;
	if (est_audit_submit(rq, &rq->rq_reply, est_decision(rq,
	    &rq->rq_reply), &rq->rq_audit_job) == 0) {
		est_req_wait(rq);
		return;
	}
	send(rq, &rq->rq_reply);
}

/* ---- rates -------------------------------------------------------------- */

/* One counter per route of cfg whose policy has a rate: *rates and *n,
 * or -1 (nothing to free). */
int
est_rates_make(const struct config *cfg, struct limiter ***rates, size_t *n)
{
	struct limiter **r;

	if ((r = calloc(cfg->nroutes + 1, sizeof(*r))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct policy *p = cfg->routes[i].policy;
		if (policy_rate_max(p) <= 0)
			continue;
		if ((r[i] = limiter_new(16384, policy_rate_max(p),
		    policy_rate_window(p))) == NULL) {
			est_rates_drop(r, cfg->nroutes);
			return -1;
		}
	}
	*rates = r;
	*n = cfg->nroutes;
	return 0;
}

void
est_rates_drop(struct limiter **rates, size_t n)
{
	for (size_t i = 0; rates != NULL && i < n; i++)
		limiter_free(rates[i]);
	free(rates);
}

int
est_rates_new(struct est_server *srv)
{
	return est_rates_make(srv->srv_pcfg, &srv->srv_rates, &srv->srv_nrates);
}

void
est_rates_free(struct est_server *srv)
{
	est_rates_drop(srv->srv_rates, srv->srv_nrates);
	srv->srv_rates = NULL;
	srv->srv_nrates = 0;
}

/*
 * The client left after its enrollment was decided (the CA may have issued
 * already): the record still goes to the audit log, without an answer.
 */
void
est_audit_abandoned(struct est_req *rq, const struct est_reply *reply)
{
	struct audit_job *job;

	if (!rq->rq_decided)
		return;
	rq->rq_decided = 0;
	if (est_audit_submit(rq, reply, "abandoned", &job) == 0)
		audit_cancel(job);
}
