/*
 * upstream: the RA's side toward the CA (RFC 7030 §3.7). Each transfer is
 * a curl easy handle on one shared multi handle, so connections to a CA
 * are reused across requests. The multi handle is driven by libevent: one
 * event per curl socket (kept with curl_multi_assign) and one timer, as in
 * curl's docs/examples/multi-event.c. Never call curl from its own timer
 * callback: a zero timeout arms a zero-delay event instead.
 *
 * What comes back is relayed unchanged: status, Content-Type, Retry-After
 * and the body bytes. Only failures to get an answer at all are ours to
 * name, through upstream_outcomes[].
 *
 * An upstream may have several URLs. Each has a circuit breaker
 * (backoff.c); a transfer starts on the first one its breaker admits and,
 * when that one gives no answer, moves on to the next it has not tried,
 * on the same easy handle. Breakers change state only here, and every change is
 * logged: that is the upstream's health, as the operator sees it.
 *
 * Digest toward the CA is estrad's own, not curl's CURLAUTH_DIGEST: curl
 * sends its first POST with an empty body and waits for a 401, which a CA
 * that admits the RA by its certificate refuses (400), and it learns the
 * challenge anew for every transfer (two round trips each). Here the
 * request goes with its body; a 401's challenge is answered once, then
 * kept per URL and answered at once by later requests (RFC 7616 §3.4, nc
 * counting up), so an enrollment is one round trip on a kept connection.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include <openssl/crypto.h>

#include "estrad/answer.h"
#include "estrad/b64.h"
#include "estrad/backoff.h"
#include "estrad/digest.h"
#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/metrics.h"
#include "estrad/pki.h"
#include "estrad/upstream.h"
#include "upstream_int.h"

/* The one table from "no answer" outcomes to the client's status. */
static const struct {
	CURLcode	 code;
	int		 status;
	const char	*what;
} upstream_outcomes[] = {
	{ CURLE_OPERATION_TIMEDOUT,	504, "upstream CA timed out" },
	{ CURLE_COULDNT_CONNECT,	502, "upstream CA unreachable" },
	{ CURLE_COULDNT_RESOLVE_HOST,	502, "upstream CA name not found" },
	{ CURLE_PEER_FAILED_VERIFICATION, 502,
	  "upstream CA certificate does not verify" },
	{ CURLE_SSL_CONNECT_ERROR,	502, "TLS with upstream CA failed" },
	{ CURLE_SSL_CERTPROBLEM,	502, "RA client certificate problem" },
	{ CURLE_GOT_NOTHING,		502, "upstream CA closed without answer" },
	{ CURLE_RECV_ERROR,		502, "upstream CA connection broke" },
	{ CURLE_SEND_ERROR,		502, "upstream CA connection broke" },
	{ CURLE_PARTIAL_FILE,		502, "upstream CA answer truncated" },
};

static void upstream_check_done(struct upstream_ctx *);
static void upstream_creds_unref(struct upstream_creds *);

/* ---- libevent <-> curl glue ------------------------------------------ */

static void
upstream_on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_ctx	*ctx = arg;
	int			 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(ctx->uc_multi, fd, flags, &running);
	upstream_check_done(ctx);
}

static void
upstream_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_ctx	*ctx = arg;
	int			 running;

	curl_multi_socket_action(ctx->uc_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	upstream_check_done(ctx);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which socket wants which events. */
static int
upstream_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct upstream_ctx	*ctx = userp;
	struct event		*ev = socketp;
	short			 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(ctx->uc_multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL) {
		event_del(ev);
		event_assign(ev, ctx->uc_base, s, kind, upstream_on_socket, ctx);
	} else {
		ev = event_new(ctx->uc_base, s, kind, upstream_on_socket, ctx);
		if (ev == NULL)
			return -1;
		curl_multi_assign(ctx->uc_multi, s, ev);
	}
	/* A transfer under way finishes before new clients are taken on
	 * (event_assign resets the priority). */
	loop_control(ev);
	event_add(ev, NULL);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int
upstream_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream_ctx	*ctx = userp;
	struct timeval		 tv;

	if (timeout_ms < 0) {
		evtimer_del(ctx->uc_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(ctx->uc_timer, &tv);
	return 0;
}

/* ---- one transfer ------------------------------------------------------ */

static size_t
upstream_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct upstream_xfer	*x = arg;
	struct est_reply	*r = &x->ux_reply;
	size_t			 n = size * nmemb;
	size_t			 max = (size_t)x->ux_up->up_cfg->max_response_bytes;

	if (r->body_len + n > max) {
		x->ux_too_large = 1;
		return 0;		/* curl fails with CURLE_WRITE_ERROR */
	}
	if (r->body_len + n > x->ux_body_cap) {
		size_t cap = x->ux_body_cap ? x->ux_body_cap : 4096;
		while (cap < r->body_len + n)
			cap *= 2;
		unsigned char *b = realloc(r->body, cap);
		if (b == NULL)
			return 0;
		r->body = b;
		x->ux_body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	return n;
}

/* A WWW-Authenticate field: keep its best Digest challenge, which
 * upstream_auth_retry answers if the status is 401. */
static void
upstream_on_challenge(struct upstream_xfer *x, const char *data, size_t n)
{
	char v[4096];

	/* Longer is no challenge worth answering (and would be cut). */
	if (n >= sizeof(v) || !answer_header_value(data, n,
	    "WWW-Authenticate", v, sizeof(v)))
		return;
	if (x->ux_fresh == NULL &&
	    (x->ux_fresh = calloc(1, sizeof(*x->ux_fresh))) == NULL)
		return;
	digest_offer_pick(v, x->ux_fresh);
}

/* The CA's status line, for the queue's record (upstream_report): the
 * CA's bytes, without the CRLF, quoted; data is not NUL-terminated. */
static void
upstream_keep_status_line(struct upstream_xfer *x, const char *data,
    size_t n)
{
	size_t len = 0;

	while (len < n && data[len] != '\r' && data[len] != '\n')
		len++;
	log_quote(x->ux_status_line, sizeof(x->ux_status_line), data, len,
	    LOG_QUOTE_PROSE);
}

static size_t
upstream_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct upstream_xfer	*x = arg;
	struct est_reply	*r = &x->ux_reply;
	size_t			 n = size * nmemb;

	/* A new status line (after a 100): start over. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		upstream_keep_status_line(x, data, n);
		r->content_type[0] = '\0';
		r->retry_after[0] = '\0';
		r->cte[0] = '\0';
		r->body_len = 0;
		if (x->ux_fresh != NULL)
			memset(x->ux_fresh, 0, sizeof(*x->ux_fresh));
		return n;
	}
	if (x->ux_up->up_cfg->auth == UPSTREAM_AUTH_DIGEST)
		upstream_on_challenge(x, data, n);
	/* Content-Transfer-Encoding: relayed, clients depend on it
	 * (docs/interop.md). */
	if (!answer_header_value(data, n, "Content-Type", r->content_type,
	    sizeof(r->content_type)) &&
	    !answer_header_value(data, n, "Content-Transfer-Encoding", r->cte,
	    sizeof(r->cte)))
		answer_header_value(data, n, "Retry-After", r->retry_after,
		    sizeof(r->retry_after));
	return n;
}

int64_t
upstream_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
upstream_now_ms(void)
{
	return upstream_now_us() / 1000;
}

/*
 * The URL to try next: the first in the configured order (the operator's
 * preference) that this transfer has not tried and whose breaker lets it
 * be tried now. An open breaker is skipped until its wait is over; then
 * one request tries it (half-open), and fails over if it still fails, so
 * a recovered first URL wins its traffic back. -1: none.
 */
int
upstream_pick(struct upstream *up, unsigned tried, int64_t now)
{
	for (size_t i = 0; i < up->up_nurls; i++)
		if (!(tried & (1u << i)) &&
		    breaker_ready(&up->up_urls[i].uu_breaker, now))
			return (int)i;
	return -1;
}

/* ---- Digest toward the CA ------------------------------------------------ */

static struct digest_offer *
upstream_offer_lend(struct upstream_url *u)
{
	return u->uu_noffers > 0 ? u->uu_offers[--u->uu_noffers] : NULL;
}

static void
upstream_offer_return(struct upstream_url *u, struct digest_offer *o)
{
	if (o == NULL)
		return;
	if (u->uu_noffers == UPSTREAM_OFFERS) {
		free(u->uu_offers[0]);
		memmove(&u->uu_offers[0], &u->uu_offers[1],
		    (UPSTREAM_OFFERS - 1) * sizeof(u->uu_offers[0]));
		u->uu_noffers--;
	}
	u->uu_offers[u->uu_noffers++] = o;
}

static void
upstream_offers_clear(struct upstream_url *u)
{
	while (u->uu_noffers > 0)
		free(u->uu_offers[--u->uu_noffers]);
}

/*
 * The request target at the transfer's URL (RFC 9112 §3.2.1), which the
 * Digest answer names (RFC 7616 §3.4): the URL from the first '/' after
 * the authority, as curl sends it.
 */
static int
upstream_target(const struct upstream_xfer *x, char *out, size_t outlen)
{
	const char	*p = strstr(x->ux_up->up_urls[x->ux_url].uu_url, "://");
	int		 n;

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	n = snprintf(out, outlen, "%s/%s", p != NULL ? p : "", x->ux_path);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * "Authorization: Digest ..." into out when the upstream uses Digest and
 * the transfer holds a challenge (or its URL lends one). 1: written; 0:
 * the request goes without, and if the CA wants credentials its 401
 * brings the challenge (upstream_auth_retry).
 */
static int
upstream_authz(struct upstream_xfer *x, char *out, size_t outlen)
{
	const struct cfg_upstream	*u = x->ux_up->up_cfg;
	static const char		 name[] = "Authorization: ";
	char				 target[DIGEST_URI_MAX], cnonce[33];
	unsigned char			 rnd[16];

	if (u->auth != UPSTREAM_AUTH_DIGEST)
		return 0;
	if (x->ux_offer == NULL &&
	    (x->ux_offer = upstream_offer_lend(&x->ux_up->up_urls[x->ux_url]))
	    == NULL)
		return 0;
	arc4random_buf(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), cnonce);
	memcpy(out, name, sizeof(name) - 1);
	if (upstream_target(x, target, sizeof(target)) == 0 &&
	    digest_offer_answer(x->ux_offer, u->username, u->password,
	    x->ux_request != NULL ? "POST" : "GET", target, cnonce,
	    out + sizeof(name) - 1, outlen - sizeof(name) + 1) == 0)
		return 1;
	/* A user name too long or unsendable, or the count used up: go
	 * without; the CA's 401 says what it thinks of that. */
	log_warn("upstream %s: cannot answer the CA's Digest challenge",
	    u->name);
	free(x->ux_offer);
	x->ux_offer = NULL;
	return 0;
}

static int
upstream_header_add(struct curl_slist **list, const char *field)
{
	struct curl_slist *l = curl_slist_append(*list, field);

	if (l == NULL)
		return -1;
	*list = l;
	return 0;
}

/* The header fields of the next attempt at the transfer's URL. 0 or -1. */
static int
upstream_headers(struct upstream_xfer *x)
{
	struct curl_slist	*h = NULL;
	char			 authz[4096];
	int			 rc = 0;

	if (x->ux_ctype[0] != '\0') {
		rc |= upstream_header_add(&h, x->ux_ctype);
		/* No "Expect: 100-continue" round trip for a few hundred
		 * bytes. */
		rc |= upstream_header_add(&h, "Expect:");
	}
	if (upstream_authz(x, authz, sizeof(authz)) == 1)
		rc |= upstream_header_add(&h, authz);
	if (rc != 0 || curl_easy_setopt(x->ux_easy, CURLOPT_HTTPHEADER, h) !=
	    CURLE_OK) {
		curl_slist_free_all(h);
		return -1;
	}
	/* curl no longer points at the old list. */
	curl_slist_free_all(x->ux_headers);
	x->ux_headers = h;
	return 0;
}

int
upstream_next_url(struct upstream_xfer *x)
{
	struct upstream	*up = x->ux_up;
	char		 url[2048];
	int64_t		 now = upstream_now_ms();
	int		 i, n;

	/* A challenge belongs to the CA that gave it. */
	upstream_offer_return(&up->up_urls[x->ux_url], x->ux_offer);
	x->ux_offer = NULL;
	x->ux_auth_retried = 0;
	while ((i = upstream_pick(up, x->ux_tried, now)) != -1) {
		x->ux_tried |= 1u << i;
		if (!breaker_allow(&up->up_urls[i].uu_breaker, now))
			continue;
		upstream_admit_move(x, (size_t)i);
		x->ux_url = (size_t)i;
		x->ux_trial = up->up_urls[i].uu_breaker.state ==
		    BREAKER_HALF_OPEN;
		x->ux_trial_no = up->up_urls[i].uu_breaker.trials;
		n = snprintf(url, sizeof(url), "%s/%s", up->up_urls[i].uu_url,
		    x->ux_path);
		if (n < 0 || (size_t)n >= sizeof(url) ||
		    curl_easy_setopt(x->ux_easy, CURLOPT_URL, url) != CURLE_OK ||
		    upstream_headers(x) == -1)
			return -2;
		return 0;
	}
	return -1;
}

/* CURL_BLOB_NOCOPY: the upstream outlives its transfers, and the key
 * then exists in one place only. */
static struct curl_blob
upstream_curl_blob(const struct upstream_blob *b)
{
	struct curl_blob cb = { b->ub_data, b->ub_len, CURL_BLOB_NOCOPY };

	return cb;
}

static int
upstream_tls_opts(CURL *e, const struct upstream *up,
    const struct upstream_creds *c)
{
	const struct cfg_upstream	*u = up->up_cfg;
	struct curl_blob		 blob;
	CURLcode			 rc = CURLE_OK;

	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	rc |= curl_easy_setopt(e, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2);
	if (c->uc_ca_bundle.ub_data != NULL) {
		blob = upstream_curl_blob(&c->uc_ca_bundle);
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->uc_cert.ub_data != NULL) {
		blob = upstream_curl_blob(&c->uc_cert);
		rc |= curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
		rc |= curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		blob = upstream_curl_blob(&c->uc_key);
		rc |= curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
		rc |= curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	/* Basic goes with the first request (RFC 7617 §2); Digest is
	 * upstream_authz's. */
	if (u->auth == UPSTREAM_AUTH_BASIC) {
		rc |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		rc |= curl_easy_setopt(e, CURLOPT_USERNAME, u->username);
		rc |= curl_easy_setopt(e, CURLOPT_PASSWORD, u->password);
	}
	return rc == CURLE_OK ? 0 : -1;
}

/* The body; its header fields come with the URL (upstream_headers). */
static int
upstream_body_opts(struct upstream_xfer *x, const struct upstream_request *ureq)
{
	CURL		*e = x->ux_easy;
	CURLcode	 rc = CURLE_OK;

	if (ureq->body == NULL)
		return 0;
	/* The exact bytes the client sent, no re-encoding (RFC 7030 §4.2). */
	if ((x->ux_request = malloc(ureq->body_len ? ureq->body_len : 1))
	    == NULL)
		return -1;
	memcpy(x->ux_request, ureq->body, ureq->body_len);
	x->ux_request_len = ureq->body_len;
	snprintf(x->ux_ctype, sizeof(x->ux_ctype), "Content-Type: %s",
	    ureq->content_type);
	rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->ux_request);
	rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)x->ux_request_len);
	return rc == CURLE_OK ? 0 : -1;
}

static int
upstream_easy_setup(struct upstream_xfer *x,
    const struct upstream_request *ureq)
{
	const struct cfg_upstream	*u = x->ux_up->up_cfg;
	CURL				*e = x->ux_easy;
	CURLcode			 rc = CURLE_OK;

	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->ux_error);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    u->connect_timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, u->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, upstream_on_body);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, upstream_on_header);
	rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "estrad/" ESTRAD_VERSION);
	/* A transfer removed mid-lookup must not wait for the resolver
	 * thread on the event loop: let it finish detached. */
	rc |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
	x->ux_creds = x->ux_up->up_creds;
	x->ux_creds->uc_refs++;
	if (rc != CURLE_OK ||
	    upstream_tls_opts(e, x->ux_up, x->ux_creds) == -1 ||
	    upstream_refusal_opts(e, x) == -1 ||
	    upstream_body_opts(x, ureq) == -1)
		return -1;
	return 0;
}

static void
upstream_xfer_free(struct upstream_xfer *x)
{
	if (x == NULL)
		return;
	/* curl may use the blobs until the easy handle is cleaned up. */
	if (x->ux_easy != NULL)
		curl_easy_cleanup(x->ux_easy);
	upstream_refusal_detach(x);
	upstream_creds_unref(x->ux_creds);
	curl_slist_free_all(x->ux_headers);
	upstream_offer_return(&x->ux_up->up_urls[x->ux_url], x->ux_offer);
	free(x->ux_fresh);
	free(x->ux_path);
	/* A CSR may carry a challengePassword. */
	if (x->ux_request != NULL)
		OPENSSL_clear_free(x->ux_request, x->ux_request_len);
	est_reply_clear(&x->ux_reply);
	if (x->ux_trial && x->ux_up->up_urls[x->ux_url].uu_breaker.trials ==
	    x->ux_trial_no)
		breaker_release(&x->ux_up->up_urls[x->ux_url].uu_breaker);
	upstream_admit_leave(x);
	free(x);
}

/* The wait until some URL of up may be tried, for a refusal's text. */
static long
upstream_wait(const struct upstream *up, int64_t now)
{
	int64_t	wait = -1;

	for (size_t i = 0; i < up->up_nurls; i++) {
		const struct breaker *b = &up->up_urls[i].uu_breaker;
		int64_t w = breaker_ready(b, now) ? 0 :
		    b->retry_at > now ? b->retry_at - now : 0;
		if (b->trial)	/* a trial is out: ask again shortly */
			w = 1000;
		if (wait == -1 || w < wait)
			wait = w;
	}
	return wait < 0 ? 0 : (long)wait;
}

long
upstream_wait_ms(struct upstream_ctx *ctx, size_t upstream)
{
	return upstream_wait(&ctx->uc_upstreams[upstream], upstream_now_ms());
}

/* A trial already out is left alone: its outcome comes soon. */
void
upstream_try_now(struct upstream_ctx *ctx, size_t upstream)
{
	struct upstream	*up = &ctx->uc_upstreams[upstream];
	int64_t		 now = upstream_now_ms();

	for (size_t i = 0; i < up->up_nurls; i++) {
		struct breaker *b = &up->up_urls[i].uu_breaker;
		if (b->state == BREAKER_CLOSED || b->trial ||
		    b->retry_at <= now)
			continue;
		b->retry_at = now;
		log_info("upstream %s: %s may be tried now (the operator's "
		    "queue retry)", up->up_cfg->name, up->up_urls[i].uu_url);
	}
}

static int
upstream_path(struct upstream_xfer *x, const struct upstream_request *ureq)
{
	x->ux_op = ureq->op;
	if (asprintf(&x->ux_path, "%s%s%s", ureq->label ? ureq->label : "",
	    ureq->label ? "/" : "", est_op_name(ureq->op)) == -1) {
		x->ux_path = NULL;
		return -1;
	}
	return 0;
}

struct upstream_xfer *
upstream_submit(struct upstream_ctx *ctx, const struct upstream_request *ureq,
    struct est_reply *refusal, enum upstream_outcome *outcome)
{
	struct upstream		*up = &ctx->uc_upstreams[ureq->upstream];
	struct upstream_xfer	*x;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto fail;
	x->ux_ctx = ctx;
	x->ux_up = up;
	x->ux_done = ureq->done;
	x->ux_arg = ureq->arg;
	if ((x->ux_easy = curl_easy_init()) == NULL ||
	    upstream_path(x, ureq) == -1 ||
	    upstream_easy_setup(x, ureq) == -1)
		goto fail;
	/* Sent now, or waiting for a slot, or refused (busy, down). */
	if (upstream_admit(x, refusal, outcome) == -1) {
		upstream_xfer_free(x);
		return NULL;
	}
	return x;
fail:
	log_err("upstream %s: cannot set up a transfer", up->up_cfg->name);
	upstream_xfer_free(x);
	est_reply_error(refusal, 500, "internal error");
	*outcome = UPSTREAM_ERROR;
	return NULL;
}

void
upstream_cancel(struct upstream_xfer *x)
{
	if (x == NULL)
		return;
	/* Not an error for a transfer still waiting for a slot. */
	curl_multi_remove_handle(x->ux_ctx->uc_multi, x->ux_easy);
	upstream_xfer_free(x);
}

/* "URL: what" of the attempt that just ended, or "" (what NULL: it
 * succeeded). curl's error buffer is its own text, not the CA's. */
static void
upstream_set_detail(struct upstream_xfer *x, const char *what)
{
	/* Cut to its size: the head says most. */
	if (what == NULL || snprintf(x->ux_detail, sizeof(x->ux_detail),
	    "%s: %s", x->ux_up->up_urls[x->ux_url].uu_url, what) < 0)
		x->ux_detail[0] = '\0';
}

void
upstream_report(const struct upstream_xfer *x, struct upstream_report *r)
{
	memset(r, 0, sizeof(*r));
	if (x == NULL)
		return;
	r->reached = x->ux_reached;
	snprintf(r->detail, sizeof(r->detail), "%s", x->ux_detail);
}

/*
 * Did this attempt reach the CA (upstream_report)? An answer's status
 * says so; so does a byte of the body on its way, which curl counts only
 * once the TLS handshake is done and the request is being written.
 */
static int
upstream_attempt_reached(struct upstream_xfer *x)
{
	long		status = 0;
	curl_off_t	sent = 0;

	curl_easy_getinfo(x->ux_easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->ux_easy, CURLINFO_SIZE_UPLOAD_T, &sent);
	return status > 0 || sent > 0;
}

/*
 * Turn a finished transfer into the client's reply. When the CA gave no
 * answer, the client learns what kind of failure it was; the CA's address
 * and curl's details go to the log only. *unavailable: this URL gave no
 * answer worth relaying (another URL may).
 */
static long
upstream_result(struct upstream_xfer *x, CURLcode code, int *unavailable)
{
	struct est_reply	*r = &x->ux_reply;
	const struct cfg_upstream *u = x->ux_up->up_cfg;
	const char		*url = x->ux_up->up_urls[x->ux_url].uu_url;
	const char		*what = "upstream CA failed";
	long			 status = 0;
	int			 client_status = 502;
	double			 secs = 0;
	char			 why[160];

	*unavailable = 0;
	x->ux_refused = 0;
	curl_easy_getinfo(x->ux_easy, CURLINFO_RESPONSE_CODE, &status);
	if (code == CURLE_OK)
		upstream_refusal_clear(x->ux_up);	/* TLS got through */
	curl_easy_getinfo(x->ux_easy, CURLINFO_TOTAL_TIME, &secs);
	if (code == CURLE_OK && answer_check(x->ux_op, status,
	    r->content_type, r->body, r->body_len, why, sizeof(why)) == -1) {
		/* Not what the operation returns (an error page, a cut
		 * body). The CA did answer: its breaker is not charged (one
		 * bad operation must not take the URL down for the others)
		 * and no other URL is asked (it may have issued already); a
		 * queued request retries later with backoff. */
		log_warn("upstream %s: %s: answered %s with %ld but %s",
		    u->name, url, est_op_name(x->ux_op), status, why);
		if (snprintf(x->ux_detail, sizeof(x->ux_detail), "%s: %s, but "
		    "%s", url, x->ux_status_line, why) < 0)
			x->ux_detail[0] = '\0';
		est_reply_error(r, 502, "upstream CA answered %ld with an "
		    "unusable body", status);
		metrics_upstream(u->name, secs, "bad_answer");
		return status;
	}
	if (code == CURLE_OK && ((status >= 200 && status <= 299) ||
	    (status >= 400 && status <= 599))) {
		r->status = (int)status;
		snprintf(r->reason, sizeof(r->reason), "upstream %s answered "
		    "%ld", u->name, status);
		upstream_set_detail(x, status >= 300 ? x->ux_status_line :
		    NULL);
		/* A gateway's "the CA behind me is down": try elsewhere. */
		*unavailable = status == 502 || status == 503 || status == 504;
		metrics_upstream(u->name, secs, *unavailable ? "unavailable" :
		    NULL);
		return status;
	}
	if (code == CURLE_OK) {
		/* A redirect (estrad does not follow: the CA is configured,
		 * not discovered) or a status EST does not use. */
		log_warn("upstream %s: %s: unexpected status %ld", u->name, url,
		    status);
		upstream_set_detail(x, x->ux_status_line);
		est_reply_error(r, 502, "upstream CA answered %ld", status);
		metrics_upstream(u->name, secs, "bad_status");
		return status;
	}
	if (upstream_refusal(x, code)) {
		/* The request may have been written, behind a handshake the
		 * CA then refused: no HTTP server read it. */
		x->ux_reached = x->ux_reached_before;
		x->ux_refused = 1;
		upstream_set_detail(x, x->ux_up->up_refused);
		metrics_upstream(u->name, secs, "tls");
		return status;
	}
	if (code == CURLE_WRITE_ERROR && x->ux_too_large)
		what = "upstream CA answer too large";
	else {
		*unavailable = 1;
		for (size_t i = 0; i < sizeof(upstream_outcomes) /
		    sizeof(upstream_outcomes[0]); i++)
			if (upstream_outcomes[i].code == code) {
				what = upstream_outcomes[i].what;
				client_status = upstream_outcomes[i].status;
				break;
			}
	}
	log_warn("upstream %s: %s: %s: %s", u->name, url, what,
	    x->ux_too_large ? "over max_response_bytes" :
	    x->ux_error[0] ? x->ux_error : curl_easy_strerror(code));
	upstream_set_detail(x, x->ux_too_large ? "answer over "
	    "max_response_bytes" : x->ux_error[0] ? x->ux_error :
	    curl_easy_strerror(code));
	est_reply_error(r, client_status, "%s", what);
	metrics_upstream(u->name, secs, x->ux_too_large ? "too_large" :
	    metrics_curl_error_kind(code));
	return status;
}

/*
 * Tell the URL's breaker how it went; log when its health changes. A
 * failure while the CA answered others (busy) is not charged: the breaker
 * is for a CA that is down, and a busy one is the limit's to handle
 * (upstream_admit_sample), or estrad would fail every device for a
 * backoff because it had overloaded the CA itself.
 */
static void
upstream_health(struct upstream_xfer *x, int failed, int busy)
{
	struct upstream		*up = x->ux_up;
	struct upstream_url	*u = &up->up_urls[x->ux_url];
	int64_t			 now = upstream_now_ms();
	int			 trial = x->ux_trial;

	x->ux_trial = 0;	/* the outcome below settles any trial */
	if (failed && busy && !trial) {
		metrics_upstream_overload(up->up_cfg->name);
		log_debug("upstream %s: %s is busy (it answers others): not "
		    "counted as down", up->up_cfg->name, u->uu_url);
		return;
	}
	if (!failed) {
		if (breaker_success(&u->uu_breaker)) {
			log_info("upstream %s: %s is up again",
			    up->up_cfg->name, u->uu_url);
			metrics_upstream_health(up->up_cfg->name, u->uu_url, 1);
		}
		return;
	}
	if (breaker_failure(&u->uu_breaker, &up->up_backoff, now,
	    arc4random())) {
		metrics_upstream_health(up->up_cfg->name, u->uu_url, 0);
		log_warn("upstream %s: %s is down after %d failure%s in a "
		    "row; next try in %.1f s", up->up_cfg->name, u->uu_url,
		    u->uu_breaker.failures,
		    u->uu_breaker.failures == 1 ? "" : "s",
		    (double)(u->uu_breaker.retry_at - now) / 1000.0);
	}
}

/* Send the transfer (again), as set up now: what came back is dropped. */
int
upstream_resend(struct upstream_xfer *x)
{
	est_reply_clear(&x->ux_reply);
	x->ux_body_cap = 0;
	x->ux_too_large = 0;
	x->ux_error[0] = '\0';
	x->ux_status_line[0] = '\0';
	x->ux_sent_us = upstream_now_us();
	x->ux_sent_in_flight = x->ux_up->up_urls[x->ux_url].uu_in_flight;
	if (curl_multi_add_handle(x->ux_ctx->uc_multi, x->ux_easy) !=
	    CURLM_OK) {
		est_reply_error(&x->ux_reply, 500, "internal error");
		return -1;
	}
	return 0;
}

/* Try the transfer again on the next URL. 0, or -1: none is left. */
static int
upstream_failover(struct upstream_xfer *x)
{
	const char *from = x->ux_up->up_urls[x->ux_url].uu_url;

	if (upstream_next_url(x) != 0)
		return -1;
	log_info("upstream %s: trying %s after %s failed",
	    x->ux_up->up_cfg->name, x->ux_up->up_urls[x->ux_url].uu_url,
	    from);
	return upstream_resend(x);
}

/*
 * The CA answered 401 with a Digest challenge: send the request once more
 * at the same URL, answering it (RFC 7616 §3.4). That happens on the
 * first request to the URL, when the kept nonce is no longer taken
 * (stale=true after its lifetime, unknown after the CA restarted), and
 * with a wrong password, whose second 401 is then the answer. The body
 * goes again: the CA read and dropped the first. Returns 1: sent again;
 * 0: the 401 stands; -1: could not resend (a 500 reply).
 */
static int
upstream_auth_retry(struct upstream_xfer *x, CURLcode code)
{
	long status = 0;

	if (code != CURLE_OK || x->ux_auth_retried || x->ux_fresh == NULL ||
	    x->ux_fresh->nonce[0] == '\0')
		return 0;
	curl_easy_getinfo(x->ux_easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 401)
		return 0;
	x->ux_auth_retried = 1;
	free(x->ux_offer);		/* the CA refused it, if it was sent */
	x->ux_offer = x->ux_fresh;
	x->ux_fresh = NULL;
	log_debug("upstream %s: %s asks for Digest%s; answering",
	    x->ux_up->up_cfg->name, x->ux_up->up_urls[x->ux_url].uu_url,
	    x->ux_offer->stale ? " (stale nonce)" : "");
	if (upstream_headers(x) == -1) {
		est_reply_clear(&x->ux_reply);
		est_reply_error(&x->ux_reply, 500, "internal error");
		return -1;
	}
	return upstream_resend(x) == 0 ? 1 : -1;
}

/*
 * A kept connection the CA had closed: libcurl 7.88 judges a connection
 * alive when a byte waits on it, and the byte can be the CA's close_notify
 * (sent, as it should be, when the CA closed it idle or stopped). The
 * request then fails on the way out; libcurl retries that itself in some
 * states, not all. Sent again, once, on a new connection, if no byte of an
 * answer came and the request cannot have reached the CA whole (a send
 * error), or it is a GET (cacerts, csrattrs: safe to repeat). Returns 1:
 * sent again; 0: the failure stands; -1: could not resend (a 500 reply).
 */
static int
upstream_conn_retry(struct upstream_xfer *x, CURLcode code)
{
	long	connects = -1, status = 0;

	if (x->ux_conn_retried || (code != CURLE_SEND_ERROR &&
	    (x->ux_request != NULL || (code != CURLE_RECV_ERROR &&
	    code != CURLE_GOT_NOTHING))))
		return 0;
	if (curl_easy_getinfo(x->ux_easy, CURLINFO_NUM_CONNECTS, &connects) !=
	    CURLE_OK || connects != 0)
		return 0;	/* a new connection failed: that stands */
	curl_easy_getinfo(x->ux_easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 0 || x->ux_reply.body_len > 0)
		return 0;	/* the CA began to answer */
	x->ux_conn_retried = 1;
	log_debug("upstream %s: %s: the kept connection was gone (%s); "
	    "sending again on a new one", x->ux_up->up_cfg->name,
	    x->ux_up->up_urls[x->ux_url].uu_url, curl_easy_strerror(code));
	if (curl_easy_setopt(x->ux_easy, CURLOPT_FRESH_CONNECT, 1L) !=
	    CURLE_OK || upstream_resend(x) == -1) {
		est_reply_clear(&x->ux_reply);
		est_reply_error(&x->ux_reply, 500, "internal error");
		return -1;
	}
	return 1;
}

void
upstream_deliver(struct upstream_xfer *x, long status,
    enum upstream_outcome outcome)
{
	struct est_reply reply = x->ux_reply;

	/* A challenge whose answer the CA refused is not worth keeping. */
	if (status == 401) {
		free(x->ux_offer);
		x->ux_offer = NULL;
	}
	memset(&x->ux_reply, 0, sizeof(x->ux_reply));
	x->ux_done(x->ux_arg, &reply, status, outcome);
	upstream_xfer_free(x);
}

/*
 * One attempt at the transfer's URL ended: what it says of the CA's load
 * goes to the URL's limit, the connections it opened to the metrics.
 * Returns 1 when it timed out, or the CA (its front end) said 503 or 504,
 * although the CA really answered (not a 502, 503, 504) another request
 * sent after this one: the CA is up, and busy. A CA that answers nothing
 * but those is down, and its breaker hears of it.
 */
static int
upstream_attempt_ended(struct upstream_xfer *x, CURLcode code)
{
	const struct upstream_url *u = &x->ux_up->up_urls[x->ux_url];
	long		 status = 0, connects = 0;
	int		 busy;
	int64_t		 rtt = upstream_now_us() - x->ux_sent_us;
	curl_off_t	 pre, first;

	curl_easy_getinfo(x->ux_easy, CURLINFO_RESPONSE_CODE, &status);
	x->ux_reached_before = x->ux_reached;
	x->ux_reached |= upstream_attempt_reached(x);
	/* The CA's time, as curl saw it: from the request about to go (a
	 * new connection's TLS handshake done) to the answer's first byte.
	 * Not the time before curl sent it, which is estrad's loop's. */
	if (code == CURLE_OK && curl_easy_getinfo(x->ux_easy,
	    CURLINFO_PRETRANSFER_TIME_T, &pre) == CURLE_OK &&
	    curl_easy_getinfo(x->ux_easy, CURLINFO_STARTTRANSFER_TIME_T,
	    &first) == CURLE_OK && first > pre && first - pre < rtt)
		rtt = (int64_t)(first - pre);
	if (curl_easy_getinfo(x->ux_easy, CURLINFO_NUM_CONNECTS, &connects) ==
	    CURLE_OK && connects > 0)
		metrics_upstream_connects(x->ux_up->up_cfg->name, connects);
	busy = (code == CURLE_OPERATION_TIMEDOUT || (code == CURLE_OK &&
	    (status == 503 || status == 504))) &&
	    u->uu_answered_us > x->ux_sent_us;
	upstream_admit_sample(x, code == CURLE_OK ? status : 0, rtt, busy);
	return busy;
}

static void
upstream_check_done(struct upstream_ctx *ctx)
{
	CURLMsg			*msg;
	int			 left, unavailable, busy;
	struct upstream_xfer	*x;
	CURLcode		 code;
	long			 status;

	while ((msg = curl_multi_info_read(ctx->uc_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* Copy out of msg before remove_handle invalidates it. */
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		curl_multi_remove_handle(ctx->uc_multi, x->ux_easy);
		busy = upstream_attempt_ended(x, code);
		switch (code == CURLE_OK ? upstream_auth_retry(x, code) :
		    upstream_conn_retry(x, code)) {
		case 1:
			continue;
		case -1:
			upstream_deliver(x, 0, UPSTREAM_ERROR);
			continue;
		}
		status = upstream_result(x, code, &unavailable);
		upstream_health(x, unavailable, busy);
		if (unavailable && upstream_failover(x) == 0)
			continue;
		/* A refusal is no outage: the CA answered, with an alert. */
		upstream_deliver(x, status, unavailable ?
		    UPSTREAM_UNAVAILABLE : x->ux_refused ? UPSTREAM_REFUSED :
		    UPSTREAM_ANSWERED);
	}
}

/* ---- context ------------------------------------------------------------ */

static int
upstream_blob_read(struct upstream_blob *b, const char *path)
{
	char err[512];

	if (path == NULL)
		return 0;
	if (pki_read_file(path, &b->ub_data, &b->ub_len, err, sizeof(err))
	    == -1) {
		log_err("upstream: %s", err);
		return -1;
	}
	return 0;
}

static void
upstream_blob_clear(struct upstream_blob *b)
{
	if (b->ub_data != NULL)
		OPENSSL_clear_free(b->ub_data, b->ub_len);
	b->ub_data = NULL;
}

static void
upstream_creds_unref(struct upstream_creds *c)
{
	if (c == NULL || --c->uc_refs > 0)
		return;
	upstream_blob_clear(&c->uc_ca_bundle);
	upstream_blob_clear(&c->uc_cert);
	upstream_blob_clear(&c->uc_key);
	free(c);
}

/* Read u's CA bundle, RA certificate and key. NULL (logged) on error. */
static struct upstream_creds *
upstream_creds_load(const struct cfg_upstream *u)
{
	struct upstream_creds *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->uc_refs = 1;
	if (upstream_blob_read(&c->uc_ca_bundle, u->ca_bundle) == -1 ||
	    upstream_blob_read(&c->uc_cert, u->client_certificate) == -1 ||
	    upstream_blob_read(&c->uc_key, u->client_key) == -1) {
		upstream_creds_unref(c);
		return NULL;
	}
	return c;
}

static int
upstream_load_files(struct upstream *up, const struct cfg_upstream *u)
{
	up->up_cfg = u;
	if ((up->up_urls = calloc(u->nurls, sizeof(*up->up_urls))) == NULL)
		return -1;
	up->up_nurls = u->nurls;
	for (size_t i = 0; i < u->nurls; i++)
		up->up_urls[i].uu_url = u->urls[i];
	up->up_backoff.initial_ms = u->backoff_initial_ms;
	up->up_backoff.max_ms = u->backoff_max_ms;
	up->up_backoff.threshold = (int)u->failure_threshold;
	if ((up->up_creds = upstream_creds_load(u)) == NULL)
		return -1;
	return 0;
}

/*
 * Connections kept open for the next transfer: as many as may run at
 * once (config_upstream_slots). libcurl's default keeps four per
 * transfer running when one ends, so bursts closed and reopened
 * connections to the CA, each a full TLS handshake with the RA key and
 * CA bundle decoded again (a fifth of the proxy's CPU at 64 clients,
 * docs/performance.md). The CA's idle timeout closes what is not used.
 */
static void
upstream_keep_connections(struct upstream_ctx *ctx, const struct config *cfg)
{
	curl_multi_setopt(ctx->uc_multi, CURLMOPT_MAXCONNECTS,
	    config_upstream_slots(cfg));
}

struct upstream_ctx *
upstream_ctx_new(struct event_base *base, const struct config *cfg)
{
	struct upstream_ctx *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->uc_base = base;
	ctx->uc_n = cfg->nupstreams;
	ctx->uc_upstreams = calloc(cfg->nupstreams + 1,
	    sizeof(*ctx->uc_upstreams));
	if (ctx->uc_upstreams == NULL)
		goto fail;
	for (size_t i = 0; i < cfg->nupstreams; i++)
		if (upstream_load_files(&ctx->uc_upstreams[i],
		    &cfg->upstreams[i]) == -1 ||
		    upstream_admit_init(ctx, &ctx->uc_upstreams[i]) == -1)
			goto fail;
	if ((ctx->uc_multi = curl_multi_init()) == NULL ||
	    (ctx->uc_timer = evtimer_new(base, upstream_on_timer, ctx)) ==
	    NULL)
		goto fail;
	loop_control(ctx->uc_timer);
	curl_multi_setopt(ctx->uc_multi, CURLMOPT_SOCKETFUNCTION,
	    upstream_socket_cb);
	curl_multi_setopt(ctx->uc_multi, CURLMOPT_SOCKETDATA, ctx);
	curl_multi_setopt(ctx->uc_multi, CURLMOPT_TIMERFUNCTION,
	    upstream_timer_cb);
	curl_multi_setopt(ctx->uc_multi, CURLMOPT_TIMERDATA, ctx);
	upstream_keep_connections(ctx, cfg);
	return ctx;
fail:
	upstream_ctx_free(ctx);
	return NULL;
}

void
upstream_ctx_free(struct upstream_ctx *ctx)
{
	if (ctx == NULL)
		return;
	/* Transfers still running belong to requests being torn down,
	 * which cancel them first; the multi handle closes the rest. */
	if (ctx->uc_multi != NULL)
		curl_multi_cleanup(ctx->uc_multi);
	if (ctx->uc_timer != NULL)
		event_free(ctx->uc_timer);
	for (size_t i = 0; ctx->uc_upstreams != NULL && i < ctx->uc_n; i++) {
		struct upstream *up = &ctx->uc_upstreams[i];

		upstream_creds_unref(up->up_creds);
		upstream_admit_free(up);
		for (size_t j = 0; up->up_urls != NULL && j < up->up_nurls; j++)
			upstream_offers_clear(&up->up_urls[j]);
		free(up->up_urls);
	}
	free(ctx->uc_upstreams);
	free(ctx);
}

/* Same upstream, same URLs in the same order: what a reload keeps. */
static int
upstream_same(const struct upstream *up, const struct cfg_upstream *u)
{
	if (strcmp(up->up_cfg->name, u->name) != 0 || up->up_nurls != u->nurls)
		return 0;
	for (size_t i = 0; i < u->nurls; i++)
		if (strcmp(up->up_urls[i].uu_url, u->urls[i]) != 0)
			return 0;
	return 1;
}

/*
 * SIGHUP, step one: every upstream's CA bundle, RA certificate and key
 * read again, after checking that the set of upstreams and their URLs is
 * the same (breakers and transfers refer to them). NULL (logged) on any
 * problem, with nothing changed.
 */
struct upstream_reload *
upstream_reload_prepare(struct upstream_ctx *ctx, const struct config *cfg)
{
	struct upstream_creds	**fresh;
	int			  rc = 0;

	if (cfg->nupstreams != ctx->uc_n) {
		log_err("reload: the upstreams changed; that needs a restart");
		return NULL;
	}
	if ((fresh = calloc(ctx->uc_n + 1, sizeof(*fresh))) == NULL)
		return NULL;
	for (size_t i = 0; i < ctx->uc_n && rc == 0; i++)
		if (!upstream_same(&ctx->uc_upstreams[i], &cfg->upstreams[i])) {
			log_err("reload: upstreams.%s: its name or URLs "
			    "changed; that needs a restart",
			    cfg->upstreams[i].name);
			rc = -1;
		} else if ((fresh[i] = upstream_creds_load(&cfg->upstreams[i]))
		    == NULL)
			rc = -1;
	if (rc == -1) {
		upstream_reload_abort(ctx, (struct upstream_reload *)fresh);
		return NULL;
	}
	return (struct upstream_reload *)fresh;
}

void
upstream_reload_abort(struct upstream_ctx *ctx, struct upstream_reload *r)
{
	struct upstream_creds **fresh = (struct upstream_creds **)r;

	for (size_t i = 0; fresh != NULL && i < ctx->uc_n; i++)
		upstream_creds_unref(fresh[i]);
	free(fresh);
}

/*
 * Step two: the new credentials, and every upstream's settings (timeouts,
 * caps, backoff, HTTP credentials) from cfg, which must stay alive until
 * the next reload (est.c holds it).
 */
void
upstream_reload_commit(struct upstream_ctx *ctx, const struct config *cfg,
    struct upstream_reload *r)
{
	struct upstream_creds **fresh = (struct upstream_creds **)r;

	for (size_t i = 0; i < ctx->uc_n; i++) {
		struct upstream		*up = &ctx->uc_upstreams[i];
		const struct cfg_upstream *u = &cfg->upstreams[i];

		/* The operator says it is mended (here, or at the CA): seen
		 * anew by the next request. */
		upstream_refusal_clear(up);
		upstream_creds_unref(up->up_creds);
		up->up_creds = fresh[i];
		up->up_cfg = u;
		for (size_t j = 0; j < up->up_nurls; j++)
			up->up_urls[j].uu_url = u->urls[j];
		up->up_backoff.initial_ms = u->backoff_initial_ms;
		up->up_backoff.max_ms = u->backoff_max_ms;
		up->up_backoff.threshold = (int)u->failure_threshold;
		upstream_admit_reload(up);
	}
	free(fresh);
	upstream_keep_connections(ctx, cfg);
}

void
upstream_source(const struct config *cfg, size_t upstream, const char *label,
    char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", cfg->upstreams[upstream].name,
	    label ? label : "");
}
