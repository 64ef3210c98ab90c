/*
 * est: one EST request from arrival to answer. The listener hands each
 * request to est_on_request() (server.c registers it); the stages run in
 * this order, each returning 0 to go on or -1 with a refusal that the
 * core answers:
 *
 *   framing   the framing scanner's verdict (httpframe.h); Connection: close
 *   route     header count, userinfo, path -> (label, operation), the
 *             label's route in the request's config, method, body size,
 *             media type                               (RFC 7030 §3.2)
 *   auth      who the client is, before any CSR is read (RFC 7030 §3.2.3);
 *             may wait for a worker
 *   csrattrs  answered from the route's policy, if it says so (RFC 7030
 *             §4.5; est_policy.c); after it, an enrollment's outcome
 *             (simpleenroll, simplereenroll, serverkeygen, fullcmc) is a
 *             decision on record
 *   decode    body -> PKCS#10, key size within csr.c's ceiling
 *   policy    whether the CA should see this CSR; fullcmc refused unless
 *             passed through                           (est_policy.c)
 *   pop       the CSR's self-signature (RFC 7030 §3.4), after the policy
 *             so that only a CSR it lets through costs a verify
 *   offline   answered without the CA, for an upstream route: a cached
 *             cacerts/csrattrs; an enrollment already queued for this
 *             client and CSR: 202 while pending, or the CA's answer the
 *             queue holds, marked delivered once sent (est_offline.c,
 *             docs/offline.md)
 *   rate      the route's enrollments per identity per window: 429
 *             (est_policy.c; the counter is the server's current one)
 *   backend   the local CA, or the upstream CA over libcurl; an upstream
 *             that is down, or answers 202, puts a queueable enrollment
 *             in the queue (202, RFC 7030 §4.2.3)
 *   relay     the backend's status, type, Retry-After and bytes,
 *             unchanged; a CA's answer to cacerts/csrattrs is cached
 *   audit     an enrollment decision (a stage's refusal from decode on,
 *             the queue's or the CA's answer) is written to the audit
 *             log before the answer leaves
 *
 * A struct est_req owns everything of one request. Every exit goes through
 * est_req_answer(), which audits a decision, sends, writes the access
 * line and frees; a client that leaves first ends in est_req_abandon(),
 * which cancels the upstream transfer and frees without answering.
 *
 * Leaving, and how it is told apart from a half-close: est_leave.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "estrad/auth.h"
#include "estrad/cache.h"
#include "estrad/csr.h"
#include "estrad/est.h"
#include "estrad/httpframe.h"
#include "estrad/listener.h"
#include "estrad/localca.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/netbind.h"
#include "estrad/pg.h"
#include "estrad/reply.h"
#include "estrad/queue.h"
#include "estrad/router.h"
#include "estrad/upstream.h"

#include "est_req_int.h"

static SSL *est_peer_ssl(struct est_req *rq);
static int est_stage_routed(struct est_req *rq, enum est_method method,
    struct est_reply *reply);
static void est_stage_auth(struct est_req *rq);

static double
ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1000.0 +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

/* Client-controlled text goes to the log only through this filter:
 * log_quote's token rule keeps user= and path= one bare field. */
static void
est_safe_copy(char *out, size_t outlen, const char *in)
{
	size_t len = in != NULL ? strlen(in) : 0;

	if (outlen < 4) {	/* no room for a value and its mark */
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	/* Escapes take four bytes: a value cut short says so with "...". */
	if (log_quote(out, outlen - 3, in != NULL ? in : "", len,
	    LOG_QUOTE_TOKEN) < len)
		strcat(out, "...");
}

void
est_access_log(struct est_req *rq, const struct est_reply *reply)
{
	char upstream[24] = "-", reason[sizeof(reply->reason)];
	char user[sizeof(rq->rq_identity.name)];
	double ms = ms_since(&rq->rq_start);
	size_t i;

	/* Keep reason="..." one quoted field whatever the reason quotes. */
	for (i = 0; reply->reason[i] != '\0' && i + 1 < sizeof(reason); i++)
		reason[i] = reply->reason[i] == '"' ? '\'' : reply->reason[i];
	reason[i] = '\0';

	if (rq->rq_upstream_status > 0)
		snprintf(upstream, sizeof(upstream), "%ld",
		    rq->rq_upstream_status);
	/* A user name or certificate subject is the client's text too. */
	est_safe_copy(user, sizeof(user), rq->rq_identity.name[0] ?
	    rq->rq_identity.name : "-");
	/* Only configured labels become series: a client inventing labels
	 * must not crowd out the real ones. */
	metrics_request(rq->rq_routed ? est_op_name(rq->rq_route.op) : "-",
	    rq->rq_backend == NULL ? (rq->rq_routed ? "unknown" : "-") :
	    rq->rq_route.has_label ? rq->rq_route.label : "-",
	    reply->status, ms / 1000.0);
	if (log_json_on() && log_wants(LOG_LEVEL_INFO))
		est_access_json(rq, reply, ms);
	log_text(LOG_LEVEL_INFO,
	    "access id=%s peer=%s transport=%s method=%s path=%s label=%s "
	    "op=%s auth=%s user=%s status=%d%s%s upstream=%s bytes=%zu "
	    "ms=%.1f reason=\"%s\"",
	    rq->rq_id, rq->rq_peer, rq->rq_tp != NULL ? rq->rq_tp->name :
	    "https", rq->rq_method, rq->rq_path,
	    rq->rq_routed && rq->rq_route.has_label ? rq->rq_route.label : "-",
	    rq->rq_routed ? est_op_name(rq->rq_route.op) : "-",
	    auth_method_name(rq->rq_identity.method), user,
	    reply->status, rq->rq_tp_code[0] ? " coap=" : "", rq->rq_tp_code,
	    upstream, reply->body_len, ms, reason);
}

void
est_req_free(struct est_req *rq)
{
	if (rq->rq_close_watch != NULL)
		event_free(rq->rq_close_watch);
	if (rq->rq_orphan)
		TAILQ_REMOVE(&rq->rq_srv->srv_orphans, rq, rq_orphans);
	if (rq->rq_conn != NULL)
		evhttp_connection_set_closecb(rq->rq_conn, netbind_on_close,
		    NULL);
	upstream_cancel(rq->rq_xfer);
	auth_cancel(rq->rq_auth_job);
	audit_cancel(rq->rq_audit_job);
	queue_put_cancel(rq->rq_queue_job);
	pg_cancel(rq->rq_pg_query);
	est_reply_clear(&rq->rq_reply);
	est_reply_clear(&rq->rq_rate_held);
	if (rq->rq_tp != NULL)
		rq->rq_tp->detach(rq);
	config_unref(rq->rq_cfg);
	csr_free(rq->rq_csr);
	rq->rq_srv->srv_in_flight--;
	free(rq);
}

/* Another transport's answer: its send (which names the code it sent),
 * the access line, the delivery mark. */
static void
est_req_send_tp(struct est_req *rq, struct est_reply *reply)
{
	rq->rq_tp->send(rq, reply);
	est_access_log(rq, reply);
	if (rq->rq_deliver != 0)
		queue_delivered(rq->rq_srv->srv_queue, rq->rq_deliver);
	est_reply_clear(reply);
	est_req_free(rq);
}

/* Send reply, write the access line, free the request. */
static void
est_req_send_http(struct est_req *rq, struct est_reply *reply)
{
	struct evkeyvalq	*hdrs = evhttp_request_get_output_headers(
	    rq->rq_http);
	struct evbuffer		*out = evhttp_request_get_output_buffer(
	    rq->rq_http);
	const struct cfg_limits	*lim = &rq->rq_cfg->limits;
	struct bufferevent	*bev;
	struct timeval		 idle;
	char			 len[32];
	char			 phrase[sizeof(reply->reason)];
	const char		*why = NULL, *cte;

	/* A FIN already in: whether the watch saw it or not (the answer may
	 * come first), a half-closed client is answered the same way. */
	bev = evhttp_connection_get_bufferevent(rq->rq_conn);
	if (!rq->rq_peer_eof && bev != NULL && bufferevent_getfd(bev) >= 0 &&
	    est_peer_state(bufferevent_getfd(bev)) == EST_PEER_HALF_CLOSED)
		rq->rq_peer_eof = 1;
	/* libevent 2.1 knows no phrase for 429 or 431 (RFC 6585). */
	if (reply->status == 429)
		why = "Too Many Requests";
	else if (reply->status == 431)
		why = "Request Header Fields Too Large";
	else if (est_reply_challenge_only(reply, phrase, sizeof(phrase)))
		why = phrase;
	if (reply->content_type[0] != '\0')
		evhttp_add_header(hdrs, "Content-Type", reply->content_type);
	if ((cte = est_reply_cte(reply)) != NULL)
		evhttp_add_header(hdrs, "Content-Transfer-Encoding", cte);
	if (reply->retry_after[0] != '\0')
		evhttp_add_header(hdrs, "Retry-After", reply->retry_after);
	if (reply->age[0] != '\0')
		evhttp_add_header(hdrs, "Age", reply->age);
	for (int i = 0; i < reply->nchallenges; i++)
		evhttp_add_header(hdrs, "WWW-Authenticate",
		    reply->challenges[i]);
	if (reply->status == 405 && rq->rq_routed)
		evhttp_add_header(hdrs, "Allow",
		    router_allowed_method(rq->rq_route.op));
	/* Always a length, never chunked (RFC 8951 interop); but 204 and
	 * 304 carry neither (RFC 9110 §8.6). */
	if (reply->status != 204 && reply->status != 304) {
		snprintf(len, sizeof(len), "%zu", reply->body_len);
		evhttp_add_header(hdrs, "Content-Length", len);
	}
	evhttp_add_header(hdrs, "X-Request-Id", rq->rq_id);
	/* Shutting down: no next request on this connection; after a 431,
	 * none from a client that sends such headers; after a framing
	 * refusal, nothing (the scanner drops the rest); a half-closed
	 * client sends nothing more. */
	if (rq->rq_srv->srv_draining || reply->status == 431 ||
	    rq->rq_peer_eof || rq->rq_close)
		evhttp_add_header(hdrs, "Connection", "close");
	/* An answer to HEAD has the headers of GET's, and no body. */
	if (reply->body_len > 0 && reply->status != 204 &&
	    reply->status != 304 &&
	    evhttp_request_get_command(rq->rq_http) != EVHTTP_REQ_HEAD)
		evbuffer_add(out, reply->body, reply->body_len);
	est_access_log(rq, reply);
	/* Before the reply: sending may close the socket under the watch. */
	if (rq->rq_close_watch != NULL) {
		event_free(rq->rq_close_watch);
		rq->rq_close_watch = NULL;
	}
	/* From now on the connection is idle between requests. */
	idle.tv_sec = lim->idle_timeout_ms / 1000;
	idle.tv_usec = (lim->idle_timeout_ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(rq->rq_conn, &idle);
	evhttp_connection_set_closecb(rq->rq_conn, netbind_on_close, NULL);
	listener_answered(est_peer_ssl(rq));
	evhttp_send_reply(rq->rq_http, reply->status, why, NULL);
	/* evhttp reads while it writes, to notice a close; a half-closed
	 * client's FIN would fail the connection before the answer is out.
	 * The write goes on; evhttp closes after it (Connection: close). */
	if (rq->rq_peer_eof && bev != NULL)
		bufferevent_disable(bev, EV_READ);
	/* The CA's answer held in the queue has left: delivered. */
	if (rq->rq_deliver != 0)
		queue_delivered(rq->rq_srv->srv_queue, rq->rq_deliver);
	est_reply_clear(reply);
	rq->rq_conn = NULL;
	est_req_free(rq);
}

static void
est_req_send(struct est_req *rq, struct est_reply *reply)
{
	if (rq->rq_tp != NULL)
		est_req_send_tp(rq, reply);
	else
		est_req_send_http(rq, reply);
}

static void
est_on_audited(void *arg, int ok)
{
	struct est_req *rq = arg;

	rq->rq_audit_job = NULL;
	est_req_send(rq, &rq->rq_reply);
}

/* Write the audit record of rq's decision, then send. */
static void
est_audit_then_send(struct est_req *rq, struct est_reply *reply)
{
	struct audit_record rec;

	/* The reply waits in the request while the record is written. */
	rq->rq_reply = *reply;
	memset(reply, 0, sizeof(*reply));
	rq->rq_decided = 0;
	est_audit_fill(rq, &rq->rq_reply, NULL, &rec);
	if (audit_submit_record(rq->rq_srv->srv_audit, &rec, est_on_audited,
	    rq, &rq->rq_audit_job) == 0) {
		est_req_wait(rq);
		return;
	}
	est_req_send(rq, &rq->rq_reply);
}

/*
 * The client left after its enrollment was decided (the CA may have issued
 * already): the record still goes to the audit log, without an answer.
 */
void
est_audit_abandoned(struct est_req *rq, const struct est_reply *reply)
{
	struct audit_record	rec;
	struct audit_job	*job;

	if (!rq->rq_decided)
		return;
	rq->rq_decided = 0;
	est_audit_fill(rq, reply, "abandoned", &rec);
	if (audit_submit_record(rq->rq_srv->srv_audit, &rec, est_on_audited,
	    rq, &job) == 0)
		audit_cancel(job);
}

/* The one way out with an answer (audited first when rq_decided). Takes
 * and clears reply. */
void
est_req_answer(struct est_req *rq, struct est_reply *reply)
{
	if (rq->rq_orphan) {
		est_req_orphan_end(rq, reply);
		return;
	}
	/* An enrollment decision is on record before its answer leaves. */
	if (rq->rq_decided)
		est_audit_then_send(rq, reply);
	else
		est_req_send(rq, reply);
}

/* ---- backends ---------------------------------------------------------- */

static void
est_on_upstream_done(void *arg, struct est_reply *reply, long upstream_status,
    enum upstream_outcome outcome)
{
	struct est_req		*rq = arg;
	struct upstream_report	 sent;

	/* For a queued entry's record: did the CA get this one? */
	upstream_report(rq->rq_xfer, &sent);
	rq->rq_xfer = NULL;	/* upstream frees it after we return */
	rq->rq_upstream_status = upstream_status;
	if (rq->rq_orphan) {
		est_req_answer(rq, reply);	/* to the record only */
		return;
	}
	if (rq->rq_queueable && outcome == UPSTREAM_UNAVAILABLE) {
		est_queue(rq, QS_PENDING, NULL, reply->reason, &sent);
		est_reply_clear(reply);
		return;
	}
	if (rq->rq_queueable && outcome == UPSTREAM_ANSWERED &&
	    reply->status == 202) {
		est_queue(rq, QS_POLLING, reply, "the CA answered 202; "
		    "polling it", &sent);
		return;
	}
	if (outcome == UPSTREAM_ANSWERED)
		cache_offer(rq->rq_srv->srv_cache, rq->rq_cfg, rq->rq_backend,
		    rq->rq_route.op, reply);
	est_learn_cacerts(rq, reply);
	est_req_answer(rq, reply);
}

static void
est_forward(struct est_req *rq, const unsigned char *body, size_t len)
{
	struct upstream_request	 ureq;
	struct est_reply	 refusal;
	enum upstream_outcome	 outcome;

	memset(&ureq, 0, sizeof(ureq));
	memset(&refusal, 0, sizeof(refusal));
	ureq.upstream = rq->rq_backend->upstream;
	ureq.label = rq->rq_backend->upstream_label;
	ureq.op = rq->rq_route.op;
	if (body != NULL) {
		ureq.content_type = rq->rq_ctype;
		ureq.body = body;
		ureq.body_len = len;
	}
	ureq.done = est_on_upstream_done;
	ureq.arg = rq;
	rq->rq_xfer = upstream_submit(rq->rq_srv->srv_upstreams, &ureq,
	    &refusal, &outcome);
	if (rq->rq_xfer == NULL) {
		if (rq->rq_queueable && outcome == UPSTREAM_UNAVAILABLE) {
			est_queue(rq, QS_PENDING, NULL, "every URL of the "
			    "upstream is down", NULL);
			est_reply_clear(&refusal);
			return;
		}
		est_req_answer(rq, &refusal);
		return;
	}
	est_req_wait(rq);
}

static void
est_local(struct est_req *rq)
{
	struct localca		*ca = rq->rq_srv->srv_localcas[
	    rq->rq_backend->local_ca];
	struct est_reply	 reply;

	memset(&reply, 0, sizeof(reply));
	switch (rq->rq_route.op) {
	case EST_OP_CACERTS:
		localca_cacerts(ca, &reply);
		break;
	case EST_OP_CSRATTRS:
		localca_csrattrs(ca, &reply);
		break;
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
		localca_enroll(ca, rq->rq_csr, &reply);
		break;
	default:
		est_reply_error(&reply, 501, "%s is not offered by this CA",
		    est_op_name(rq->rq_route.op));
	}
	if (reply.reason[0] == '\0')
		snprintf(reply.reason, sizeof(reply.reason), "local CA %s",
		    rq->rq_cfg->local_cas[rq->rq_backend->local_ca].name);
	est_req_answer(rq, &reply);
}

/* ---- stages ------------------------------------------------------------- */

static enum est_method
est_method_of(struct evhttp_request *http, char *name, size_t namelen)
{
	static const struct {
		enum evhttp_cmd_type	 cmd;
		const char		*name;
	} names[] = {
		{ EVHTTP_REQ_GET, "GET" }, { EVHTTP_REQ_POST, "POST" },
		{ EVHTTP_REQ_HEAD, "HEAD" }, { EVHTTP_REQ_PUT, "PUT" },
		{ EVHTTP_REQ_DELETE, "DELETE" }, { EVHTTP_REQ_OPTIONS, "OPTIONS" },
		{ EVHTTP_REQ_PATCH, "PATCH" },
	};
	enum evhttp_cmd_type cmd = evhttp_request_get_command(http);

	snprintf(name, namelen, "OTHER");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].cmd == cmd)
			snprintf(name, namelen, "%s", names[i].name);
	return cmd == EVHTTP_REQ_GET ? EST_METHOD_GET :
	    cmd == EVHTTP_REQ_POST ? EST_METHOD_POST : EST_METHOD_OTHER;
}

/*
 * evhttp bounds the header bytes (limits.max_header_bytes) but not how
 * many fields they hold; each is a separate allocation and every lookup
 * walks them all.
 */
static int
est_stage_headers(struct est_req *rq, struct est_reply *reply)
{
	struct evkeyvalq	*hdrs = evhttp_request_get_input_headers(
	    rq->rq_http);
	struct evkeyval		*kv;
	long			 n = 0;

	TAILQ_FOREACH(kv, hdrs, next)
		n++;
	if (n <= rq->rq_cfg->limits.max_headers)
		return 0;
	return est_reply_error(reply, 431, "%ld header fields; the limit is "
	    "%ld", n, rq->rq_cfg->limits.max_headers);
}

/* A request the framing scanner refused (httpframe.h): its verdict. */
static int
est_stage_framing(struct est_req *rq, struct est_reply *reply)
{
	const char	*reason;
	int		 status;

	if (!httpframe_verdict(evhttp_request_get_input_headers(rq->rq_http),
	    &status, &reason))
		return 0;
	rq->rq_close = 1;
	return est_reply_error(reply, status, "%s", reason);
}

/* Route: 0, or -1 with the refusal in reply. */
static int
est_stage_route(struct est_req *rq, enum est_method method,
    struct est_reply *reply)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(
	    rq->rq_http);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char		*reason;
	struct est_route	*r = &rq->rq_route;

	if (est_stage_headers(rq, reply) == -1)
		return -1;
	/* RFC 9110 §4.2.4: userinfo in a target URI is to be treated as an
	 * error (it is never sent by a client that means well). */
	if (uri != NULL && evhttp_uri_get_userinfo(uri) != NULL)
		return est_reply_error(reply, 400,
		    "userinfo in the request target");
	if (router_parse_path(path, r, &reason) == -1)
		return est_reply_error(reply, 404, "%s", reason);
	return est_stage_routed(rq, method, reply);
}

/* The checks of a routed request (rq_route set), whatever its transport. */
static int
est_stage_routed(struct est_req *rq, enum est_method method,
    struct est_reply *reply)
{
	struct est_route	*r = &rq->rq_route;

	rq->rq_routed = 1;
	/* The routes of the config this request started under. */
	rq->rq_backend = config_route(rq->rq_cfg,
	    r->has_label ? r->label : NULL);
	if (rq->rq_backend == NULL && r->has_label)
		return est_reply_error(reply, 404, "unknown CA label \"%s\"",
		    r->label);
	if (rq->rq_backend == NULL)
		return est_reply_error(reply, 404, "no default CA here; use a "
		    "CA label in the path");
	if (!router_method_ok(r->op, method))
		return est_reply_error(reply, 405, "%s needs %s",
		    est_op_name(r->op), router_allowed_method(r->op));
	/*
	 * Turned off for this route ("refuse"): before authentication, as
	 * no credential could change the answer. 501, as for fullcmc here
	 * and for what a local CA does not do: the server does not offer
	 * the operation (RFC 9110 §15.6.2; RFC 7030 §4 makes serverkeygen,
	 * fullcmc and csrattrs optional). 403 would tell the client that
	 * other credentials might do, 404 that the path is wrong.
	 */
	if (rq->rq_backend->refused & (1u << r->op))
		return est_reply_error(reply, 501, "%s is not offered here "
		    "(turned off by the configuration)", est_op_name(r->op));
	if (evbuffer_get_length(rq->rq_body) >
	    (size_t)rq->rq_cfg->limits.max_body_bytes)
		return est_reply_error(reply, 413, "body larger than %ld bytes",
		    rq->rq_cfg->limits.max_body_bytes);
	if (method == EST_METHOD_POST &&
	    !router_content_type_ok(r->op, rq->rq_ctype))
		return est_reply_error(reply, 415, "%s needs Content-Type %s",
		    est_op_name(r->op), router_expected_type(r->op));
	return 0;
}

/* Decode: enroll bodies must be a PKCS#10 with a key within csr.c's
 * ceiling; its signature is verified after the policy (est_stage_pop). */
static int
est_stage_decode(struct est_req *rq, const unsigned char *body,
    size_t len, struct est_reply *reply)
{
	const char *reason;

	switch (rq->rq_route.op) {
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
	case EST_OP_SERVERKEYGEN:
		break;
	default:
		return 0;
	}
	rq->rq_csr = csr_parse_body((const char *)body, len, &reason);
	if (rq->rq_csr == NULL)
		return est_reply_error(reply, 400, "%s", reason);
	return 0;
}

/*
 * The request target for the log: an absolute-form target
 * (https://user:pw@host/path, RFC 9112 §3.2.2) loses its userinfo, which
 * holds a password as often as not.
 */
static void
est_log_target(char *out, size_t outlen, const char *target)
{
	const char	*auth, *end, *at = NULL;
	char		 buf[256];

	if (target == NULL || (auth = strstr(target, "://")) == NULL ||
	    strchr(target, '/') < auth) {
		est_safe_copy(out, outlen, target);
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL) {
		est_safe_copy(out, outlen, target);
		return;
	}
	snprintf(buf, sizeof(buf), "%.*s%s", (int)(auth - target), target,
	    at + 1);
	est_safe_copy(out, outlen, buf);
}

static void
est_req_identify(struct est_req *rq)
{
	const char		*host = NULL;
	ev_uint16_t		 port = 0;

	evhttp_connection_get_peer(rq->rq_conn, (char **)&host, &port);
	snprintf(rq->rq_peer, sizeof(rq->rq_peer), "%s%s%s:%u",
	    host && strchr(host, ':') ? "[" : "", host ? host : "?",
	    host && strchr(host, ':') ? "]" : "", port);
	snprintf(rq->rq_peer_addr, sizeof(rq->rq_peer_addr), "%s",
	    host ? host : "?");
	est_log_target(rq->rq_path, sizeof(rq->rq_path),
	    evhttp_request_get_uri(rq->rq_http));
	/* For the JSON access line: the connection may be gone by then. */
	if (est_peer_ssl(rq) != NULL)
		rq->rq_tls_version = SSL_get_version(est_peer_ssl(rq));
	rq->rq_body = evhttp_request_get_input_buffer(rq->rq_http);
	rq->rq_ctype = evhttp_find_header(evhttp_request_get_input_headers(
	    rq->rq_http), "Content-Type");
	rq->rq_body_len = evbuffer_get_length(rq->rq_body);
}

/* The client's TLS session, or NULL. */
static SSL *
est_peer_ssl(struct est_req *rq)
{
	struct bufferevent *bev;

	if (rq->rq_tp != NULL)
		return rq->rq_tp->ssl(rq);
	bev = evhttp_connection_get_bufferevent(rq->rq_conn);

	return bev ? bufferevent_openssl_get_ssl(httpframe_bev_under(bev)) :
	    NULL;
}

/* X509 of a client certificate that verified, or NULL. */
static X509 *
est_peer_cert(struct est_req *rq)
{
	SSL *ssl = est_peer_ssl(rq);

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return SSL_get0_peer_certificate(ssl);
}

/*
 * The stages after auth, in order (est.c's opening comment): the client
 * is known by now. A stage that refuses fills reply; it is answered here.
 */
static void
est_req_proceed(struct est_req *rq)
{
	struct evbuffer		*in = rq->rq_body;
	size_t			 len = evbuffer_get_length(in);
	const unsigned char	*body = NULL;
	struct est_reply	 reply;
	SSL			*ssl = est_peer_ssl(rq);

	memset(&reply, 0, sizeof(reply));
	if (router_method_ok(rq->rq_route.op, EST_METHOD_POST) &&
	    (body = evbuffer_pullup(in, -1)) == NULL)
		body = (const unsigned char *)"";
	if (est_stage_csrattrs(rq, &reply) == -1)
		goto answer;
	/* From here on an enrollment's outcome is a decision on record. */
	rq->rq_decided = rq->rq_route.op != EST_OP_CACERTS &&
	    rq->rq_route.op != EST_OP_CSRATTRS;
	if (est_stage_decode(rq, body, len, &reply) == -1 ||
	    est_stage_policy(rq, ssl, est_peer_cert(rq), &reply) == -1 ||
	    est_stage_pop(rq, &reply) == -1)
		goto answer;
	if (est_answer_offline(rq))
		return;		/* answered, or est_req_after_offline follows */
	est_req_after_offline(rq);
	return;
answer:
	est_req_answer(rq, &reply);
}

void
est_req_after_offline(struct est_req *rq)
{
	struct est_reply reply;

	memset(&reply, 0, sizeof(reply));
	switch (est_stage_rate(rq, server_rate(rq->rq_srv,
	    rq->rq_route.has_label ? rq->rq_route.label : NULL), &reply)) {
	case 0:
		est_req_after_rate(rq);
		return;
	case 1:		/* the shared store counts: it calls back */
		est_req_wait(rq);
		return;
	default:
		est_req_answer(rq, &reply);
		return;
	}
}

void
est_req_after_rate(struct est_req *rq)
{
	struct evbuffer		*in = rq->rq_body;
	size_t			 len = evbuffer_get_length(in);
	const unsigned char	*body = NULL;

	if (router_method_ok(rq->rq_route.op, EST_METHOD_POST) &&
	    (body = evbuffer_pullup(in, -1)) == NULL)
		body = (const unsigned char *)"";
	if (rq->rq_backend->backend == ROUTE_BACKEND_LOCAL_CA)
		est_local(rq);
	else
		est_forward(rq, body, len);
}

static void
est_on_auth_done(void *arg, enum auth_verdict verdict,
    struct est_reply *denial, const struct auth_identity *id)
{
	struct est_req *rq = arg;

	rq->rq_auth_job = NULL;
	if (verdict != AUTH_ALLOW) {
		est_req_answer(rq, denial);
		return;
	}
	rq->rq_identity = *id;
	est_req_proceed(rq);
}

/* Authenticate (RFC 7030 §3.2.3): before the CSR is even decoded. */
static void
est_stage_auth(struct est_req *rq)
{
	struct auth_subject	s;
	struct est_reply	denial;

	memset(&s, 0, sizeof(s));
	memset(&denial, 0, sizeof(denial));
	s.method = rq->rq_method;
	/* CoAP carries no Authorization (RFC 9148 §3: DTLS authenticates
	 * the client); Digest's uri is HTTP's alone. */
	if (rq->rq_tp == NULL) {
		s.uri = evhttp_request_get_uri(rq->rq_http);
		s.authorization = evhttp_find_header(
		    evhttp_request_get_input_headers(rq->rq_http),
		    "Authorization");
	}
	s.peer_addr = rq->rq_peer_addr;
	s.peer_cert = est_peer_cert(rq);
	s.allowed = rq->rq_backend->auth[rq->rq_route.op];
	switch (auth_check(rq->rq_srv->srv_auth, &s, &rq->rq_identity,
	    &denial, est_on_auth_done, rq, &rq->rq_auth_job)) {
	case AUTH_ALLOW:
		est_req_proceed(rq);
		break;
	case AUTH_DENY:
		est_req_answer(rq, &denial);
		break;
	case AUTH_PENDING:
		est_req_wait(rq);
		break;
	}
}

/*
 * libevent serves a connection whose TLS bufferevent could not be made
 * (SSL_new failed: out of memory) in cleartext. Nothing is served there:
 * a 503 to say why, and the connection closes.
 */
static void
est_refuse_cleartext(struct evhttp_request *http)
{
	static const char	 why[] = "no TLS on this connection (the server "
	    "is short of memory); try again\n";
	struct evkeyvalq	*hdrs = evhttp_request_get_output_headers(http);
	char			 len[32];

	log_warn("a connection without TLS (out of memory?): refused");
	snprintf(len, sizeof(len), "%zu", sizeof(why) - 1);
	evhttp_add_header(hdrs, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(hdrs, "Content-Length", len);
	evhttp_add_header(hdrs, "Retry-After", "5");
	evhttp_add_header(hdrs, "Connection", "close");
	evbuffer_add(evhttp_request_get_output_buffer(http), why,
	    sizeof(why) - 1);
	evhttp_send_reply(http, 503, NULL, NULL);
}

void
est_on_request(struct evhttp_request *http, void *arg)
{
	struct server		*srv = arg;
	struct est_req		*rq;
	struct est_reply	 reply;
	enum est_method		 method;

	if (bufferevent_openssl_get_ssl(httpframe_bev_under(
	    evhttp_connection_get_bufferevent(evhttp_request_get_connection(
	    http)))) == NULL) {
		est_refuse_cleartext(http);
		return;
	}
	if ((rq = est_req_new(srv)) == NULL) {
		evhttp_send_error(http, 500, NULL);
		return;
	}
	rq->rq_http = http;
	rq->rq_conn = evhttp_request_get_connection(http);
	listener_request_read(est_peer_ssl(rq));
	est_req_identify(rq);
	method = est_method_of(http, rq->rq_method, sizeof(rq->rq_method));
	memset(&reply, 0, sizeof(reply));
	if (est_stage_framing(rq, &reply) == -1 ||
	    est_stage_route(rq, method, &reply) == -1) {
		est_req_answer(rq, &reply);
		return;
	}
	est_stage_auth(rq);
}

struct est_req *
est_req_new(struct server *srv)
{
	struct est_req *rq;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &rq->rq_start);
	rq->rq_srv = srv;
	srv->srv_in_flight++;
	rq->rq_cfg = config_ref(srv->srv_cfg);
	rq->rq_identity.method = AUTH_METHOD_MAX;
	snprintf(rq->rq_id, sizeof(rq->rq_id), "%08x-%06llx",
	    srv->srv_id_prefix, (unsigned long long)++srv->srv_next_id);
	return rq;
}

void
est_req_start(struct est_req *rq, enum est_method method)
{
	struct est_reply reply;

	memset(&reply, 0, sizeof(reply));
	rq->rq_body_len = evbuffer_get_length(rq->rq_body);
	if (est_stage_routed(rq, method, &reply) == -1) {
		est_req_answer(rq, &reply);
		return;
	}
	est_stage_auth(rq);
}
