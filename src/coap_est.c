/*
 * coap_est: the RFC 9148 resources. A CoAP request becomes an est_req
 * of transport "coaps" and runs est.c's path (auth by the DTLS client
 * certificate, policy, audit, rate, cache, queue, upstream); est.c's
 * answer comes back through coaps_tp_send and is translated by coap_map.c.
 *
 *   request     Block2 past block 0: served from the session's last
 *               answer (coap_add_data_blocked_response slices it, with
 *               its ETag); Block1: reassembled, bounded (coap_block.c),
 *               2.31 Continue until the last block
 *   checks      Content-Format (4.15), Accept (4.06), the DER body made
 *               base64 as RFC 8951 sends it to a CA (4.00)
 *   est.c       est_req_start: every outcome comes back as one answer
 *   answer      at once, in the handler, when est.c answered at once;
 *               else the request is registered async (libcoap sends an
 *               empty ACK: a separate response, RFC 7252 §5.2.2) and
 *               triggered when the answer comes
 *
 * An exchange (struct coaps_xchg) ties the CoAP request to its est_req
 * and to its session; a session that ends leaves its requests (est.c:
 * an enrollment the CA already has is seen through for the record).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "estrad/coap_block.h"
#include "estrad/coap_map.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/reply.h"

#include "coap_int.h"
#include "est_req_int.h"

/* RFC 9175 §3.2: Request-Tag tells apart bodies sent at once. */
#define COAPS_OPTION_RTAG	292
/* Room for the header, token and options of an answer (Content-Format,
 * Block1, Size1): what a payload may not use of the session's PDU size. */
#define COAPS_HEADROOM		64
/* Requests of one session waiting for est.c at once: a client should send
 * one at a time (NSTART 1, RFC 7252 §4.7); beyond a few, 5.03 (as an
 * HTTPS connection, which carries one request at a time, is bounded). */
#define COAPS_MAX_WAITING	4

struct coaps_xchg {
	struct coaps_sess	*x_sess;
	const struct coaps_res	*x_res;
	struct est_req		*x_rq;		/* NULL once answered or left */
	coap_async_t		*x_async;	/* NULL: answered in the handler */
	int			 x_cf;		/* the format to answer in */
	int			 x_answered;
	struct coap_map_answer	 x_answer;
	struct evbuffer		*x_body;	/* base64, as est.c reads it */
	int			 x_has_block1;	/* echo the last Block1 */
	coap_block_t		 x_block1;
	long			 x_size1;	/* 4.13: the largest body */
	int			 x_code;	/* a code with no HTTP status
						 * (4.08): it wins */
	TAILQ_ENTRY(coaps_xchg)	 x_link;
};

static void coaps_tp_send(struct est_req *rq, struct est_reply *reply);
static void coaps_tp_detach(struct est_req *rq);
static SSL *coaps_tp_ssl(struct est_req *rq);

static const struct est_transport coaps_tp = {
	.name = "coaps",
	.send = coaps_tp_send,
	.detach = coaps_tp_detach,
	.ssl = coaps_tp_ssl,
};

static void
coaps_xchg_free(struct coaps_xchg *x)
{
	if (x == NULL)
		return;
	if (x->x_rq != NULL) {
		x->x_rq->rq_tp_arg = NULL;
		x->x_rq = NULL;
	}
	if (x->x_async != NULL)
		coap_async_set_app_data(x->x_async, NULL);
	TAILQ_REMOVE(&x->x_sess->s_xchgs, x, x_link);
	coap_map_answer_clear(&x->x_answer);
	if (x->x_body != NULL)
		evbuffer_free(x->x_body);
	free(x);
}

/* The session is gone (or its DTLS ended): its waiting requests are left
 * as an HTTPS client's are when it hangs up (est_leave.c). alive: the
 * session (and its asyncs) still exist in libcoap. */
void
coaps_sess_end(struct coaps_sess *sess, int alive)
{
	struct coaps_xchg	*x;
	struct est_req		*rq;

	while ((x = TAILQ_FIRST(&sess->s_xchgs)) != NULL) {
		rq = x->x_rq;
		/*
		 * An async holds a reference to its session, and one with no
		 * delay fires only when triggered: left alone it would keep
		 * the ended session (and its place in the limits) for ever.
		 * A freed one is libcoap's business.
		 */
		if (alive && x->x_async != NULL)
			coap_free_async(sess->s_session, x->x_async);
		x->x_async = NULL;
		coaps_xchg_free(x);
		if (rq != NULL) {
			log_info("request %s: the CoAP client's DTLS session "
			    "ended before the answer", rq->rq_id);
			est_req_left(rq);
		}
	}
}

/* ---- est.c's side --------------------------------------------------- */

static void
coaps_tp_send(struct est_req *rq, struct est_reply *reply)
{
	struct coaps_xchg	*x = rq->rq_tp_arg;
	char			 code[8];

	if (x == NULL)
		return;
	if (coap_map_answer(x->x_res->r_op, x->x_res->r_method, x->x_cf,
	    reply, &x->x_answer) == -1) {
		coap_map_answer_clear(&x->x_answer);
		x->x_answer.code = 500;
		x->x_answer.content_format = COAP_CF_NONE;
		x->x_answer.max_age = -1;
	}
	if (x->x_code != 0)
		x->x_answer.code = x->x_code;
	metrics_coap_request(est_op_name(x->x_res->r_op),
	    coap_map_code_text(x->x_answer.code, code, sizeof(code)));
	snprintf(rq->rq_tp_code, sizeof(rq->rq_tp_code), "%s", code);
	x->x_answered = 1;
	x->x_rq = NULL;
	rq->rq_tp_arg = NULL;
	if (x->x_async != NULL) {
		coap_async_trigger(x->x_async);
		coaps_kick(x->x_sess->s_cs);
	}
}

static void
coaps_tp_detach(struct est_req *rq)
{
	struct coaps_xchg *x = rq->rq_tp_arg;

	if (x != NULL)
		x->x_rq = NULL;
	rq->rq_tp_arg = NULL;
}

static SSL *
coaps_tp_ssl(struct est_req *rq)
{
	struct coaps_xchg *x = rq->rq_tp_arg;

	return x != NULL ? coaps_ssl(x->x_sess->s_session) : NULL;
}

/* ---- the answer --------------------------------------------------------- */

static void
coaps_add_uint(coap_pdu_t *pdu, coap_option_num_t num, unsigned value)
{
	unsigned char buf[4];

	coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof(buf),
	    value), buf);
}

static void
coaps_add_block(coap_pdu_t *pdu, coap_option_num_t num,
    const coap_block_t *b, int more)
{
	coaps_add_uint(pdu, num, (b->num << 4) | ((unsigned)more << 3) |
	    b->szx);
}

/* A success with a body is kept for its later Block2 blocks. */
static void
coaps_keep(struct coaps_sess *sess, const char *path,
    struct coap_map_answer *a)
{
	free(sess->s_last);
	snprintf(sess->s_last_path, sizeof(sess->s_last_path), "%s", path);
	sess->s_last = a->payload;
	sess->s_last_len = a->payload_len;
	sess->s_last_cf = a->content_format;
	sess->s_last_code = a->code;
	a->payload = NULL;
	a->payload_len = 0;
}

static void
coaps_respond(struct coaps_xchg *x, const coap_pdu_t *req, coap_pdu_t *resp)
{
	struct coap_map_answer	*a = &x->x_answer;
	struct coaps_sess	*sess = x->x_sess;

	if (x->x_has_block1)
		coaps_add_block(resp, COAP_OPTION_BLOCK1, &x->x_block1, 0);
	if (x->x_size1 > 0)
		coaps_add_uint(resp, COAP_OPTION_SIZE1, (unsigned)x->x_size1);
	/*
	 * A separate response that fits one message goes whole, whatever
	 * block size the request hinted (RFC 7959 §2.4 early negotiation):
	 * libcoap 4.3.1's client asks for no further Block2 block of a
	 * separate response, and would wait until it gave up.
	 */
	if (a->code / 100 == 2 && !a->diagnostic && a->payload != NULL &&
	    x->x_async != NULL && a->payload_len + COAPS_HEADROOM <=
	    coap_session_max_pdu_size(sess->s_session)) {
		coap_pdu_set_code(resp, COAP_MAP_WIRE(a->code));
		coaps_add_uint(resp, COAP_OPTION_CONTENT_FORMAT,
		    (unsigned)a->content_format);
		coap_add_data(resp, a->payload_len, a->payload);
		return;
	}
	if (a->code / 100 == 2 && !a->diagnostic && a->payload != NULL) {
		coaps_keep(sess, x->x_res->r_path, a);
		coap_add_data_blocked_response(req, resp,
		    (uint16_t)sess->s_last_cf, -1, sess->s_last_len,
		    sess->s_last);
		coap_pdu_set_code(resp, COAP_MAP_WIRE(a->code));
		return;
	}
	coap_pdu_set_code(resp, COAP_MAP_WIRE(a->code));
	if (a->content_format != COAP_CF_NONE)
		coaps_add_uint(resp, COAP_OPTION_CONTENT_FORMAT,
		    (unsigned)a->content_format);
	if (a->max_age >= 0)
		coaps_add_uint(resp, COAP_OPTION_MAXAGE, (unsigned)a->max_age);
	if (a->payload_len > 0)
		coap_add_data(resp, a->payload_len, a->payload);
}

/* A later block of the session's last answer (RFC 7959 §2.4). */
static void
coaps_next_block(struct coaps_sess *sess, const struct coaps_res *r,
    const coap_pdu_t *req, coap_pdu_t *resp)
{
	static const char why[] = "no answer to continue: ask again from "
	    "block 0";
	char code[8];

	if (sess->s_last == NULL || strcmp(sess->s_last_path, r->r_path) != 0) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(408));
		coap_add_data(resp, sizeof(why) - 1, (const uint8_t *)why);
		metrics_coap_request(est_op_name(r->r_op), "4.08");
		return;
	}
	coap_add_data_blocked_response(req, resp, (uint16_t)sess->s_last_cf,
	    -1, sess->s_last_len, sess->s_last);
	if (coap_pdu_get_code(resp) != COAP_RESPONSE_CODE(400))
		coap_pdu_set_code(resp, COAP_MAP_WIRE(sess->s_last_code));
	metrics_coap_request(est_op_name(r->r_op), coap_map_code_text(
	    sess->s_last_code, code, sizeof(code)));
}

/* ---- the request -------------------------------------------------------- */

static int
coaps_uint_option(const coap_pdu_t *pdu, coap_option_num_t num)
{
	coap_opt_iterator_t	 it;
	coap_opt_t		*opt = coap_check_option(pdu, num, &it);

	if (opt == NULL)
		return COAP_CF_NONE;
	return (int)coap_decode_var_bytes(coap_opt_value(opt),
	    coap_opt_length(opt));
}

/*
 * Block1: 1 with the whole body in *body (owned) or no Block1 at all
 * (*body NULL: the payload is the body); 0 when answered here (2.31, or
 * a refusal that x carries: its status for est.c, *status).
 */
static int
coaps_block1(struct coaps_xchg *x, const coap_pdu_t *req, coap_pdu_t *resp,
    unsigned char **body, size_t *body_len, int *status, const char **why)
{
	struct coaps		*cs = x->x_sess->s_cs;
	struct coap_block_in	 in;
	coap_opt_iterator_t	 it;
	coap_opt_t		*rtag;
	char			 key[256];
	size_t			 keylen, len;
	const uint8_t		*data;
	enum coap_block_result	 res;

	*body = NULL;
	*status = 0;
	if (!coap_get_block(req, COAP_OPTION_BLOCK1, &x->x_block1))
		return 1;
	x->x_has_block1 = 1;
	if (!coap_get_data(req, &len, &data)) {
		len = 0;
		data = NULL;
	}
	memset(&in, 0, sizeof(in));
	in.num = x->x_block1.num;
	in.more = x->x_block1.m;
	in.szx = x->x_block1.szx;
	in.data = data;
	in.len = len;
	if (coaps_uint_option(req, COAP_OPTION_SIZE1) > 0)
		in.size1 = (uint64_t)coaps_uint_option(req, COAP_OPTION_SIZE1);
	keylen = (size_t)snprintf(key, sizeof(key), "%s#", x->x_res->r_path);
	if ((rtag = coap_check_option(req, COAPS_OPTION_RTAG, &it)) != NULL &&
	    keylen + coap_opt_length(rtag) < sizeof(key)) {
		memcpy(key + keylen, coap_opt_value(rtag), coap_opt_length(rtag));
		keylen += coap_opt_length(rtag);
	}
	res = coap_block_add(cs->cs_blocks, x->x_sess, key, keylen, &in,
	    coaps_now_ms(), body, body_len);
	metrics_coap_blocks(coap_block_count(cs->cs_blocks));
	switch (res) {
	case COAP_BLOCK_CONTINUE:
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(231));
		coaps_add_block(resp, COAP_OPTION_BLOCK1, &x->x_block1, 1);
		metrics_coap_request(est_op_name(x->x_res->r_op), "2.31");
		return 0;
	case COAP_BLOCK_COMPLETE:
		return 1;
	case COAP_BLOCK_TOO_LARGE:
		x->x_size1 = cs->cs_cfg.max_body_bytes;
		*status = 413;
		*why = "the request body is larger than coap.max_body_bytes "
		    "(Size1 says how large it may be)";
		break;
	case COAP_BLOCK_INCOMPLETE:
		*status = 400;
		x->x_code = 408;	/* RFC 7959 §2.9.2 */
		*why = "a block out of order, or of a body not begun "
		    "(RFC 7959 §2.5): send it again from block 0";
		break;
	case COAP_BLOCK_BUSY:
		*status = 503;
		*why = "too many request bodies being received; retry later";
		break;
	case COAP_BLOCK_BAD:
		*status = 400;
		*why = "bad Block1 option (RFC 7959 §2.2): block size or "
		    "length";
		break;
	case COAP_BLOCK_NOMEM:
		*status = 500;
		*why = "out of memory";
		break;
	}
	x->x_has_block1 = 0;
	return 1;
}

static struct coaps_xchg *
coaps_xchg_new(struct coaps_sess *sess, const struct coaps_res *r)
{
	struct coaps_xchg *x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	if ((x->x_body = evbuffer_new()) == NULL) {
		free(x);
		return NULL;
	}
	x->x_sess = sess;
	x->x_res = r;
	x->x_cf = COAP_CF_NONE;
	TAILQ_INSERT_TAIL(&sess->s_xchgs, x, x_link);
	return x;
}

/* The est_req of x, with what the access line shows. */
static struct est_req *
coaps_req_new(struct coaps_xchg *x)
{
	struct coaps_sess	*sess = x->x_sess;
	const struct coaps_res	*r = x->x_res;
	struct est_req		*rq;
	SSL			*ssl;

	if ((rq = est_req_new(sess->s_cs->cs_srv)) == NULL)
		return NULL;
	rq->rq_tp = &coaps_tp;
	rq->rq_tp_arg = x;
	rq->rq_body = x->x_body;
	rq->rq_ctype = r->r_method == EST_METHOD_POST ? "application/pkcs10" :
	    NULL;
	rq->rq_route.op = r->r_op;
	rq->rq_route.has_label = r->r_has_label;
	memcpy(rq->rq_route.label, r->r_label, sizeof(rq->rq_route.label));
	snprintf(rq->rq_peer, sizeof(rq->rq_peer), "%s", sess->s_peer);
	snprintf(rq->rq_peer_addr, sizeof(rq->rq_peer_addr), "%s",
	    sess->s_addr);
	snprintf(rq->rq_method, sizeof(rq->rq_method), "%s",
	    r->r_method == EST_METHOD_POST ? "POST" : "GET");
	snprintf(rq->rq_path, sizeof(rq->rq_path), "%s", r->r_path);
	if ((ssl = coaps_ssl(sess->s_session)) != NULL)
		rq->rq_tls_version = SSL_get_version(ssl);
	x->x_rq = rq;
	return rq;
}

/* Refuse before est.c's stages, through est.c's answer (logged). */
static void
coaps_refuse(struct est_req *rq, int status, const char *why)
{
	struct est_reply reply;

	memset(&reply, 0, sizeof(reply));
	est_reply_error(&reply, status, "%s", why);
	if (status == 503)	/* Max-Age: when to ask again */
		snprintf(reply.retry_after, sizeof(reply.retry_after), "5");
	rq->rq_routed = 1;	/* the resource is known: op and label */
	rq->rq_backend = config_route(rq->rq_cfg, rq->rq_route.has_label ?
	    rq->rq_route.label : NULL);
	est_req_answer(rq, &reply);
}

static size_t
coaps_waiting(const struct coaps_sess *sess)
{
	const struct coaps_xchg	*x;
	size_t			 n = 0;

	TAILQ_FOREACH(x, &sess->s_xchgs, x_link)
		if (x->x_async != NULL)
			n++;
	return n;
}

/* The checks of a whole request, then est.c. */
static void
coaps_start(struct coaps_xchg *x, struct est_req *rq, const coap_pdu_t *req,
    const unsigned char *body, size_t len)
{
	const struct coaps_res	*r = x->x_res;
	const char		*why;
	char			*b64;
	size_t			 b64len;

	if (x->x_sess->s_cs->cs_draining) {
		coaps_refuse(rq, 503, "shutting down; retry in a moment");
		return;
	}
	if (coaps_waiting(x->x_sess) >= COAPS_MAX_WAITING) {
		coaps_refuse(rq, 503, "too many requests of this DTLS session "
		    "waiting; send one at a time");
		return;
	}
	if (r->r_method == EST_METHOD_POST && coap_map_request_format(r->r_op,
	    coaps_uint_option(req, COAP_OPTION_CONTENT_FORMAT), &why) == -1) {
		coaps_refuse(rq, 415, why);
		return;
	}
	if (coap_map_accept(r->r_op, coaps_uint_option(req,
	    COAP_OPTION_ACCEPT), &x->x_cf, &why) == -1) {
		coaps_refuse(rq, 406, why);
		return;
	}
	if (r->r_method == EST_METHOD_POST) {
		if (coap_map_request_body(body, len, &b64, &b64len,
		    &why) == -1) {
			coaps_refuse(rq, 400, why);
			return;
		}
		if (evbuffer_add(x->x_body, b64, b64len) == -1) {
			free(b64);
			coaps_refuse(rq, 500, "out of memory");
			return;
		}
		free(b64);
	}
	est_req_start(rq, r->r_method);
}

static void
coaps_on_request(coap_resource_t *resource, coap_session_t *session,
    const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp)
{
	const struct coaps_res	*r = coap_resource_get_userdata(resource);
	struct coaps		*cs = coap_get_app_data(
	    coap_session_get_context(session));
	struct coaps_sess	*sess;
	struct coaps_xchg	*x;
	struct est_req		*rq;
	coap_async_t		*async;
	coap_block_t		 b2;
	unsigned char		*body = NULL;
	const uint8_t		*data;
	size_t			 len = 0;
	int			 status;
	const char		*why = NULL;

	/* The answer of a request registered async, now triggered; or a
	 * retransmission of one still waiting (libcoap ACKs it again). */
	if ((async = coap_find_async(session, coap_pdu_get_token(req))) !=
	    NULL) {
		if ((x = coap_async_get_app_data(async)) != NULL &&
		    x->x_answered) {
			x->x_sess->s_last_ms = coaps_now_ms();
			coaps_respond(x, req, resp);
			x->x_async = NULL;	/* libcoap frees it on return */
			coaps_xchg_free(x);
		}
		return;
	}
	if ((sess = coaps_sess_of(cs, session)) == NULL) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return;
	}
	sess->s_last_ms = coaps_now_ms();
	if (coap_get_block(req, COAP_OPTION_BLOCK2, &b2) && b2.num > 0) {
		coaps_next_block(sess, r, req, resp);
		return;
	}
	if ((x = coaps_xchg_new(sess, r)) == NULL) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return;
	}
	if (!coaps_block1(x, req, resp, &body, &len, &status, &why)) {
		coaps_xchg_free(x);	/* 2.31 Continue */
		return;
	}
	if ((rq = coaps_req_new(x)) == NULL) {
		free(body);
		coaps_xchg_free(x);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return;
	}
	if (status != 0)
		coaps_refuse(rq, status, why);
	else if (body != NULL)
		coaps_start(x, rq, req, body, len);
	else {
		if (!coap_get_data(req, &len, &data)) {
			len = 0;
			data = NULL;
		}
		coaps_start(x, rq, req, data, len);
	}
	free(body);
	if (x->x_answered) {
		coaps_respond(x, req, resp);
		coaps_xchg_free(x);
		return;
	}
	/* est.c waits (a CA, a worker, the store): a separate response. */
	if ((x->x_async = coap_register_async(session, req, 0)) == NULL) {
		log_warn("coap peer=%s: cannot wait for an answer (a request "
		    "with the same token waits already)", sess->s_peer);
		rq = x->x_rq;
		coaps_xchg_free(x);
		if (rq != NULL)
			est_req_left(rq);
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(503));
		return;
	}
	coap_async_set_app_data(x->x_async, x);
}

/* ---- resources ---------------------------------------------------------- */

static int
coaps_resource(struct coaps *cs, struct coaps_res *r,
    const struct coap_map_resource *m, const char *label)
{
	coap_resource_t	*res;
	char		 rt[64], ct[32];

	r->r_op = m->op;
	r->r_method = m->method;
	r->r_has_label = label != NULL;
	snprintf(r->r_label, sizeof(r->r_label), "%s", label ? label : "");
	snprintf(r->r_path, sizeof(r->r_path), "/.well-known/est/%s%s%s",
	    label ? label : "", label ? "/" : "", m->name);
	/* RFC 6690 §5: a value with a space is quoted; rt always is. */
	snprintf(rt, sizeof(rt), "\"%s\"", m->rt);
	snprintf(ct, sizeof(ct), strchr(m->ct, ' ') ? "\"%s\"" : "%s", m->ct);
	if ((res = coap_resource_init(coap_new_str_const(
	    (const uint8_t *)r->r_path + 1, strlen(r->r_path + 1)),
	    COAP_RESOURCE_FLAGS_RELEASE_URI)) == NULL)
		return -1;
	coap_register_handler(res, m->method == EST_METHOD_POST ?
	    COAP_REQUEST_POST : COAP_REQUEST_GET, coaps_on_request);
	coap_add_attr(res, coap_new_str_const((const uint8_t *)"rt", 2),
	    coap_new_str_const((const uint8_t *)rt, strlen(rt)),
	    COAP_ATTR_FLAGS_RELEASE_NAME | COAP_ATTR_FLAGS_RELEASE_VALUE);
	coap_add_attr(res, coap_new_str_const((const uint8_t *)"ct", 2),
	    coap_new_str_const((const uint8_t *)ct, strlen(ct)),
	    COAP_ATTR_FLAGS_RELEASE_NAME | COAP_ATTR_FLAGS_RELEASE_VALUE);
	coap_resource_set_userdata(res, r);
	coap_add_resource(cs->cs_ctx, res);
	return 0;
}

/*
 * Each route's resources: the bare path's and each label's, from the
 * config estrad started with (a label added by a reload is served over
 * HTTPS at once, over CoAP after a restart: docs/coap.md).
 */
int
coaps_resources(struct coaps *cs, const struct config *cfg)
{
	const struct coap_map_resource	*map;
	size_t				 nmap, n = 0;

	map = coap_map_resources(&nmap);
	if ((cs->cs_res = calloc(cfg->nroutes * nmap + 1,
	    sizeof(*cs->cs_res))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nroutes; i++)
		for (size_t j = 0; j < nmap; j++)
			if (coaps_resource(cs, &cs->cs_res[n++], &map[j],
			    cfg->routes[i].label) == -1)
				return -1;
	cs->cs_nres = n;
	return 0;
}
