/*
 * estbench_client: one simulated device. Each operation runs as a small
 * state machine over one bufferevent_openssl: connect and handshake, then
 * (enroll mode) POST simpleenroll, answer a 401 Digest challenge once
 * (RFC 7616 §3.3, §3.4; the response is computed by the daemon's own
 * digest.c), read the answer framed by Content-Length, and check that the
 * PKCS#7 certs-only reply holds exactly one certificate (RFC 7030 §4.2.3).
 * Every end of an attempt goes through bclient_done(). A 503 with a
 * Retry-After is a busy answer, not an error; with --retry-after the
 * client waits it out on its timer and sends the same CSR again, as a
 * device does (RFC 9110 §15.6.4: the Retry-After of a 503 says how long
 * to wait). The same timer makes a --ramp client arrive.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>

#include "estbench.h"
#include "estrad/b64.h"

#define HDR_MAX		16384	/* a longer header block is bad_response */

static void bclient_on_read(struct bufferevent *bev, void *arg);
static void bclient_on_event(struct bufferevent *bev, short what, void *arg);
static void bclient_send(struct bclient *c);
static void bclient_attempt(struct bclient *c);

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
reset_answer(struct bclient *c)
{
	int i;

	for (i = 0; i < c->nchallenges; i++)
		free(c->challenges[i]);
	c->nchallenges = 0;
	c->hdr_done = 0;
	c->status = 0;
	c->clen = -1;
	c->conn_close = 0;
	c->retry_after[0] = '\0';
	c->retry_wait = -1;
}

void
bclient_close(struct bclient *c)
{
	SSL *ssl;

	if (c->bev == NULL)
		return;
	/* A close_notify first, as a tidy device does: without it OpenSSL
	 * marks the session not resumable (ssl_clear_bad_session). */
	if (c->connected &&
	    (ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL) {
		SSL_shutdown(ssl);
		if (c->b->o.resume) {
			SSL_SESSION *s = SSL_get1_session(ssl);

			if (s != NULL) {
				SSL_SESSION_free(c->session);
				c->session = s;
			}
		}
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->connected = 0;
	c->have_chal = 0;	/* a device starts over on a new connection */
	reset_answer(c);
}

void
bench_check_end(struct bench *b)
{
	if (b->o.ramp >= 0 ? b->done >= b->ncl :
	    b->inflight == 0 && b->waiting == 0)
		event_base_loopbreak(b->base);
}

/* A busy answer under --retry-after: wait it out with no connection open
 * (unless --keepalive keeps one), then send the same CSR again. At the
 * end of -t the wait is abandoned instead: the client would have come
 * back later, so it is neither a success nor an error. */
static void
bclient_wait(struct bclient *c)
{
	struct bench *b = c->b;
	struct timeval tv;

	if (!b->o.keepalive || c->conn_close)
		bclient_close(c);
	else
		reset_answer(c);
	if (b->stopping) {
		b->st.abandoned++;
		bclient_next(c);
		return;
	}
	tv.tv_sec = (time_t)c->wait;
	tv.tv_usec = (suseconds_t)((c->wait - (double)tv.tv_sec) * 1e6);
	c->waiting = 1;
	b->waiting++;
	evtimer_add(c->timer, &tv);
}

/* The end of one attempt: a busy answer to wait out, or the end of the
 * enrollment: count it, and start the next. */
static void
bclient_done(struct bclient *c, int ok, enum bench_err err, int status)
{
	struct bench *b = c->b;
	double now = bench_now();

	c->ops++;
	c->busy = 0;
	b->inflight--;
	if (status == 503 && c->retry_wait >= 0) {
		stats_busy(&b->st, c->retry_wait);
		if (b->o.retry_after) {
			c->wait = c->retry_wait;
			bclient_wait(c);
			return;
		}
	} else if (ok) {
		stats_ok(&b->st, (now - c->t_first) * 1000.0,
		    (now - c->t0) * 1000.0, c->retries);
		b->st.t_last_ok = now;
	} else if (status > 0)
		stats_status(&b->st, status);
	else
		stats_err(&b->st, err);
	b->done++;
	c->finished = 1;
	if (!ok || !b->o.keepalive || c->conn_close)
		bclient_close(c);
	else
		reset_answer(c);
	bclient_next(c);
}

/* The timer: a --ramp client arrives, or a wait is over. */
static void
bclient_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bclient *c = arg;
	struct bench *b = c->b;
	double late;

	(void)fd;
	(void)what;
	if (!c->arrived) {
		c->arrived = 1;
		late = bench_now() - (b->t_start +
		    (double)c->id * b->o.ramp / (double)b->ncl);
		if (late > b->st.arrive_late_max)
			b->st.arrive_late_max = late;
		bclient_next(c);
		return;
	}
	c->waiting = 0;
	b->waiting--;
	c->retries++;
	b->st.retries++;
	bclient_attempt(c);
}

int
bclient_init(struct bclient *c, struct bench *b, int id)
{
	c->b = b;
	c->id = id;
	c->arrived = b->o.ramp < 0;
	if (b->o.retry_after &&
	    (c->timer = evtimer_new(b->base, bclient_on_timer, c)) == NULL)
		return -1;
	return 0;
}

int
bclient_arrive(struct bclient *c, double delay)
{
	struct timeval tv;

	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	return evtimer_add(c->timer, &tv);
}

void
bclient_abandon(struct bclient *c)
{
	if (!c->waiting)
		return;
	evtimer_del(c->timer);
	c->waiting = 0;
	c->b->waiting--;
	c->b->st.abandoned++;
	bclient_close(c);
}

void
bclient_give_up(struct bclient *c)
{
	struct bench *b = c->b;

	if (c->finished)
		return;
	evtimer_del(c->timer);
	if (c->waiting) {
		c->waiting = 0;
		b->waiting--;
	}
	if (c->busy) {
		c->busy = 0;
		b->inflight--;
	}
	bclient_close(c);
	stats_err(&b->st, BERR_UNFINISHED);
	c->finished = 1;
	b->done++;
}

int
bclient_connect(struct bclient *c)
{
	struct bench *b = c->b;
	SSL *ssl;

	if ((ssl = SSL_new(b->ctx)) == NULL)
		goto fail;
	if (!b->o.insecure) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		/* RFC 6125: an IP address is checked as one, a name as one. */
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, b->o.host) != 1 &&
		    SSL_set1_host(ssl, b->o.host) != 1)
			goto fail_ssl;
	}
	if (strspn(b->o.host, "0123456789.:") != strlen(b->o.host))
		SSL_set_tlsext_host_name(ssl, b->o.host);
	if (c->session != NULL)
		SSL_set_session(ssl, c->session);
	c->bev = bufferevent_openssl_socket_new(b->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail_ssl;	/* not consumed on failure */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, bclient_on_read, NULL, bclient_on_event, c);
	if (b->o.mode != MODE_IDLE) {
		struct timeval tv;

		tv.tv_sec = (time_t)b->o.timeout;
		tv.tv_usec = (suseconds_t)((b->o.timeout - (double)tv.tv_sec) * 1e6);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->connected = 0;
	reset_answer(c);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&b->addr,
	    (int)b->addrlen) == -1) {
		bufferevent_free(c->bev);	/* frees the SSL too */
		c->bev = NULL;
		return -1;
	}
	return 0;
fail_ssl:
	SSL_free(ssl);
fail:
	return -1;
}

/* MODE_IDLE: open the next connection not yet opened, if any. */
static void
idle_open_next(struct bench *b)
{
	struct bclient *c;

	if (b->idle_next >= b->o.idle)
		return;
	c = &b->cl[b->idle_next++];
	c->busy = 1;
	b->inflight++;
	c->t0 = bench_now();
	if (bclient_connect(c) == -1) {
		stats_err(&b->st, BERR_CONNECT);
		c->busy = 0;
		b->inflight--;
		b->done++;
		idle_open_next(b);
	}
}

void
bclient_next(struct bclient *c)
{
	struct bench *b = c->b;

	if (b->o.mode == MODE_IDLE) {
		idle_open_next(b);
		if (b->inflight == 0 && b->idle_next >= b->o.idle)
			event_base_loopbreak(b->base);
		return;
	}
	if (b->stopping || (b->o.total > 0 && b->started >= b->o.total) ||
	    (b->o.ramp >= 0 && c->finished)) {
		bclient_close(c);
		bench_check_end(b);
		return;
	}
	/* a ramp's clients each have a CSR (CN) of their own */
	c->csr = (b->o.ramp >= 0 ? c->id : b->started) % b->o.pool;
	b->started++;
	c->retries = 0;
	c->t_first = bench_now();
	bclient_attempt(c);
}

/* One attempt of c's enrollment, on its kept connection or a new one. */
static void
bclient_attempt(struct bclient *c)
{
	struct bench *b = c->b;

	b->inflight++;
	c->busy = 1;
	c->round = 0;
	c->t0 = bench_now();
	if (c->bev != NULL && c->connected) {
		bclient_send(c);
		return;
	}
	if (bclient_connect(c) == -1)
		bclient_done(c, 0, BERR_CONNECT, 0);
}

/* ---------------------------------------------------------------- HTTP */

/* Fill c->da from one WWW-Authenticate value; 0 if it is a usable Digest
 * challenge for alg (-1: any). */
static int
chal_parse(const char *v, int want, struct digest_auth *da)
{
	const char *p = v;
	char key[32], val[DIGEST_VALUE_MAX];
	int alg = DIGEST_ALG_MD5, qop_auth = 0;

	if (strncasecmp(p, "Digest", 6) != 0 || !isspace((unsigned char)p[6]))
		return -1;
	memset(da, 0, sizeof(*da));
	p += 7;
	while (*p != '\0') {
		size_t k = 0, n = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		while (*p != '\0' && *p != '=' && k < sizeof(key) - 1)
			key[k++] = *p++;
		key[k] = '\0';
		if (*p++ != '=')
			break;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n < sizeof(val) - 1)
					val[n++] = *p;
			}
			if (*p == '"')
				p++;
		} else
			while (*p != '\0' && *p != ',' && n < sizeof(val) - 1)
				val[n++] = *p++;
		val[n] = '\0';
		while (k > 0 && isspace((unsigned char)key[k - 1]))
			key[--k] = '\0';
		if (strcasecmp(key, "realm") == 0)
			snprintf(da->realm, sizeof(da->realm), "%s", val);
		else if (strcasecmp(key, "nonce") == 0)
			snprintf(da->nonce, sizeof(da->nonce), "%s", val);
		else if (strcasecmp(key, "opaque") == 0)
			snprintf(da->opaque, sizeof(da->opaque), "%s", val);
		else if (strcasecmp(key, "qop") == 0)
			qop_auth = strstr(val, "auth") != NULL;
		else if (strcasecmp(key, "algorithm") == 0) {
			for (alg = 0; alg < DIGEST_ALG_MAX; alg++)
				if (strcasecmp(val, digest_alg_name(alg)) == 0)
					break;
		}
	}
	if (alg == DIGEST_ALG_MAX || !qop_auth || da->nonce[0] == '\0' ||
	    (want >= 0 && alg != want))
		return -1;
	da->alg = alg;
	strcpy(da->qop, "auth");
	return 0;
}

/* Pick the challenge: --digest-alg, else SHA-256 if offered, else MD5. */
static int
chal_choose(struct bclient *c)
{
	static const int pref[] = { DIGEST_ALG_SHA256, DIGEST_ALG_MD5,
	    DIGEST_ALG_SHA256_SESS, DIGEST_ALG_MD5_SESS };
	int want = c->b->o.digest_alg;
	size_t p;
	int i;

	for (p = 0; p < sizeof(pref) / sizeof(pref[0]); p++) {
		if (want >= 0 && pref[p] != want)
			continue;
		for (i = 0; i < c->nchallenges; i++)
			if (chal_parse(c->challenges[i], pref[p], &c->da) == 0) {
				c->have_chal = 1;
				c->nc = 0;
				return 0;
			}
	}
	return -1;
}

/* "Authorization: Digest ...\r\n" for this request, or "" on failure. */
static void
digest_header(struct bclient *c, const char *uri, char *out, size_t outlen)
{
	struct bench *b = c->b;
	struct digest_auth *da = &c->da;
	char ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
	unsigned char rnd[8];
	int i;

	out[0] = '\0';
	snprintf(da->username, sizeof(da->username), "%s", b->o.user);
	snprintf(da->uri, sizeof(da->uri), "%.1020s", uri);
	snprintf(da->nc, sizeof(da->nc), "%08lx", ++c->nc);
	da->nc_value = c->nc;
	RAND_bytes(rnd, sizeof(rnd));
	for (i = 0; i < 8; i++)
		snprintf(da->cnonce + 2 * i, 3, "%02x", rnd[i]);
	if (digest_ha1_hex(da->alg, b->o.user, da->realm, b->o.pass, ha1,
	    sizeof(ha1)) == -1 ||
	    digest_response_hex(da, ha1, "POST", resp, sizeof(resp)) == -1)
		return;
	OPENSSL_cleanse(ha1, sizeof(ha1));
	snprintf(out, outlen, "Authorization: Digest username=\"%s\", "
	    "realm=\"%s\", nonce=\"%s\", uri=\"%s\", algorithm=%s, qop=auth, "
	    "nc=%s, cnonce=\"%s\", response=\"%s\"%s%s%s\r\n", da->username,
	    da->realm, da->nonce, da->uri, digest_alg_name(da->alg), da->nc,
	    da->cnonce, resp, da->opaque[0] ? ", opaque=\"" : "", da->opaque,
	    da->opaque[0] ? "\"" : "");
}

static void
bclient_send(struct bclient *c)
{
	struct bench *b = c->b;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char uri[DIGEST_URI_MAX], auth[4096];

	snprintf(uri, sizeof(uri), "%.1000s/simpleenroll", b->o.path);
	auth[0] = '\0';
	if (b->o.auth == AUTH_BASIC)
		snprintf(auth, sizeof(auth), "Authorization: %s\r\n",
		    b->basic_hdr);
	else if (b->o.auth == AUTH_DIGEST && c->have_chal)
		digest_header(c, uri, auth, sizeof(auth));
	reset_answer(c);
	/* RFC 7030 §4.2.1: a base64 PKCS#10 body, application/pkcs10. */
	evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
	    "User-Agent: estbench\r\nContent-Type: application/pkcs10\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Length: %zu\r\n"
	    "%s\r\n", uri, b->o.host, b->o.port, b->csr_len[c->csr], auth);
	evbuffer_add(out, b->csrs[c->csr], b->csr_len[c->csr]);
	/* One TLS record, one segment: two would meet Nagle and the
	 * server's delayed ACK (40 ms a request). */
	evbuffer_pullup(out, -1);
}

/* 1 if body is base64 of a PKCS#7 certs-only holding one certificate. */
static int
pkcs7_one_cert(const unsigned char *body, size_t len)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *reason;
	size_t dlen;
	PKCS7 *p7;
	int ok = 0;

	if (b64_decode_lenient((const char *)body, len, &der, &dlen,
	    &reason) == -1)
		return 0;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)dlen)) != NULL) {
		ok = PKCS7_type_is_signed(p7) && p7->d.sign != NULL &&
		    sk_X509_num(p7->d.sign->cert) == 1;
		PKCS7_free(p7);
	}
	free(der);
	return ok;
}

/* Parse the status line and headers; 1 when done, 0 need more, -1 bad. */
static int
parse_head(struct bclient *c, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *line;
	size_t n;

	if (end.pos < 0)
		return evbuffer_get_length(in) > HDR_MAX ? -1 : 0;
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (line == NULL || sscanf(line, "HTTP/1.%*d %d", &c->status) != 1) {
		free(line);
		return -1;
	}
	if (strncmp(line, "HTTP/1.0", 8) == 0)
		c->conn_close = 1;
	free(line);
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL &&
	    n > 0) {
		char *v = strchr(line, ':');

		if (v != NULL) {
			*v++ = '\0';
			v += strspn(v, " \t");
			if (strcasecmp(line, "Content-Length") == 0)
				c->clen = strtol(v, NULL, 10);
			else if (strcasecmp(line, "Connection") == 0 &&
			    strcasecmp(v, "close") == 0)
				c->conn_close = 1;
			else if (strcasecmp(line, "Transfer-Encoding") == 0) {
				free(line);
				return -1;	/* chunked: not for EST answers */
			} else if (strcasecmp(line, "Retry-After") == 0) {
				size_t vl = strlen(v);

				while (vl > 0 && (v[vl - 1] == ' ' ||
				    v[vl - 1] == '\t'))
					v[--vl] = '\0';
				snprintf(c->retry_after, sizeof(c->retry_after),
				    "%s", v);
			} else if (strcasecmp(line, "WWW-Authenticate") == 0 &&
			    c->nchallenges < 4)
				c->challenges[c->nchallenges++] = strdup(v);
		}
		free(line);
	}
	free(line);
	c->hdr_done = 1;
	return 1;
}

/* The whole answer is in: body is body[0..len). */
static void
on_answer(struct bclient *c, const unsigned char *body, size_t len)
{
	struct bench *b = c->b;

	if (c->status == 401 && b->o.auth == AUTH_DIGEST && c->round == 0) {
		if (chal_choose(c) == -1) {
			bclient_done(c, 0, BERR_AUTH, 0);
			return;
		}
		c->round = 1;
		if (c->conn_close) {	/* answer on a new connection */
			struct digest_auth keep = c->da;

			bclient_close(c);
			c->da = keep;
			c->have_chal = 1;
			c->nc = 0;
			if (bclient_connect(c) == -1)
				bclient_done(c, 0, BERR_CONNECT, 0);
			return;
		}
		bclient_send(c);
		return;
	}
	/* RFC 9110 §15.6.4: a 503's Retry-After says when to come back;
	 * one a device cannot read leaves the 503 an error. */
	if (c->status == 503 && c->retry_after[0] != '\0')
		retry_after_parse(c->retry_after, time(NULL), b->o.retry_cap,
		    &c->retry_wait);
	if (c->status != 200)
		bclient_done(c, 0, BERR_MAX, c->status);
	else if (!pkcs7_one_cert(body, len))
		bclient_done(c, 0, BERR_BAD_PKCS7, 0);
	else
		bclient_done(c, 1, BERR_MAX, 0);
}

static void
try_answer(struct bclient *c, int at_eof)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have;
	unsigned char *body;
	int r;

	if (!c->hdr_done) {
		if ((r = parse_head(c, in)) == -1) {
			bclient_done(c, 0, BERR_BAD_RESPONSE, 0);
			return;
		}
		if (r == 0) {
			if (at_eof)
				bclient_done(c, 0, BERR_CLOSED, 0);
			return;
		}
	}
	have = evbuffer_get_length(in);
	if (c->clen >= 0 && have < (size_t)c->clen) {
		if (at_eof)
			bclient_done(c, 0, BERR_CLOSED, 0);
		return;
	}
	if (c->clen < 0 && !at_eof)
		return;		/* framed by the close */
	if (c->clen >= 0)
		have = (size_t)c->clen;
	else
		c->conn_close = 1;
	body = evbuffer_pullup(in, (ev_ssize_t)have);
	if (body == NULL && have > 0) {
		bclient_done(c, 0, BERR_BAD_RESPONSE, 0);
		return;
	}
	/* on_answer may send again: take the body out of the buffer first */
	{
		unsigned char *copy = malloc(have + 1);

		if (copy == NULL) {
			bclient_done(c, 0, BERR_BAD_RESPONSE, 0);
			return;
		}
		/* An empty body (estrad's 401) has no pullup pointer. */
		if (have > 0)
			memcpy(copy, body, have);
		evbuffer_drain(in, have);
		on_answer(c, copy, have);
		free(copy);
	}
}

static void
bclient_on_read(struct bufferevent *bev, void *arg)
{
	struct bclient *c = arg;

	if (c->b->o.mode != MODE_ENROLL || !c->busy) {
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	try_answer(c, 0);
}

static void
on_connected(struct bclient *c)
{
	struct bench *b = c->b;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t fd;
	double ms;
	int one = 1;

	c->connected = 1;
	b->st.handshakes++;
	fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ssl != NULL && SSL_session_reused(ssl))
		b->st.resumed++;
	switch (b->o.mode) {
	case MODE_HANDSHAKE:
		bclient_done(c, 1, BERR_MAX, 0);
		return;
	case MODE_IDLE:
		ms = (bench_now() - c->t0) * 1000.0;
		stats_ok(&b->st, ms, ms, 0);
		b->idle_up++;
		b->done++;
		c->busy = 0;
		b->inflight--;
		bclient_next(c);
		return;
	default:
		bclient_send(c);
	}
}

static void
bclient_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct bclient *c = arg;
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED) {
		on_connected(c);
		return;
	}
	if (!c->busy) {		/* an idle connection went away */
		bclient_close(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		bclient_done(c, 0, BERR_TIMEOUT, 0);
		return;
	}
	if (!c->connected) {
		e = bufferevent_get_openssl_error(bev);
		while (bufferevent_get_openssl_error(bev) != 0)
			;
		if (c->b->o.mode == MODE_IDLE) {
			stats_err(&c->b->st, e != 0 ? BERR_TLS : BERR_CONNECT);
			c->busy = 0;
			c->b->inflight--;
			c->b->done++;
			bclient_close(c);
			bclient_next(c);
			return;
		}
		bclient_done(c, 0, e != 0 ? BERR_TLS : BERR_CONNECT, 0);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		unsigned long ops = c->ops;

		try_answer(c, 1);
		if (c->ops == ops)	/* still nothing to show */
			bclient_done(c, 0, BERR_CLOSED, 0);
		return;
	}
	bclient_done(c, 0, BERR_CLOSED, 0);
}
