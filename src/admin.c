/*
 * admin: the operator's listener. Its own evhttp on the daemon's event
 * loop, bound to cfg->admin.listen (loopback by default), plain or TLS
 * (TLS 1.2 and 1.3, as the EST listener). Three read-only resources:
 *
 *   /healthz  200 "ok": the process runs its event loop
 *   /readyz   200 "ready" (or "ready; but NOTE"), or 503 "not ready:
 *             REASON" (probe->ready says)
 *   /metrics  the Prometheus text exposition (metrics.c)
 *
 * GET and HEAD only (405 with Allow otherwise), no body, 8 KiB of headers,
 * a short timeout: a scraper's or a health checker's needs, no more. It
 * never touches EST requests, and nothing it answers is a secret.
 *
 * Connections are capped (admin.max_connections): past the cap a new one
 * is closed as soon as it is accepted, before any TLS, so that idle admin
 * connections cannot take the descriptors the EST listener needs. Each
 * must finish its handshake and send a whole request within admin.timeout
 * of its accept, and each next request within admin.timeout of the last
 * answer, however steadily it trickles bytes (evhttp's own timeout only
 * measures silence).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/ssl.h>

#include "estrad/admin.h"
#include "estrad/httpframe.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/netbind.h"
#include "estrad/tlsconf.h"

#define ADMIN_MAX_HEADERS	8192
#define ADMIN_BACKLOG		64
#define ADMIN_CT_TEXT		"text/plain; charset=utf-8"
#define ADMIN_CT_METRICS	"text/plain; version=0.0.4; charset=utf-8"

/*
 * One accepted connection. Until it is admitted (ac_evcon NULL) it holds
 * a reference on its bufferevent, so the hand-off can look at it even if
 * evhttp has dropped it meanwhile; once admitted, evhttp owns everything
 * and the close callback frees this.
 */
struct admin_conn {
	struct admin		 *ac_ad;
	struct bufferevent	 *ac_bev;	/* referenced until admitted */
	struct evhttp_connection *ac_evcon;	/* NULL until admitted */
	struct event		 *ac_ev;	/* the hand-off, then deadline */
	TAILQ_ENTRY(admin_conn)	  ac_entry;
};

struct admin {
	struct event_base	*ad_base;
	SSL_CTX			*ad_ssl;	/* NULL: plain HTTP */
	struct evhttp		*ad_http;
	struct evhttp_bound_socket *ad_bound;
	struct admin_probe	 ad_probe;
	TAILQ_HEAD(, admin_conn) ad_conns;	/* pending and admitted */
	long			 ad_open;	/* admitted */
	long			 ad_max_conns;
	struct timeval		 ad_timeout;
	struct log_throttle	 ad_drops;	/* the drop lines */
};

static void admin_conn_answered(struct admin *ad,
    struct evhttp_connection *evcon);

/* ---- answers ------------------------------------------------------------ */

/*
 * Every answer: a Content-Type and a Content-Length; the body unless the
 * method was HEAD (the headers are GET's). body is taken (drained).
 */
static void
admin_send(struct evhttp_request *req, int status, const char *type,
    struct evbuffer *body)
{
	struct evkeyvalq	*hdrs = evhttp_request_get_output_headers(req);
	char			 len[32];

	evhttp_add_header(hdrs, "Content-Type", type);
	/* Health and metrics are read live, never from a cache. */
	evhttp_add_header(hdrs, "Cache-Control", "no-store");
	snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
	evhttp_add_header(hdrs, "Content-Length", len);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add_buffer(evhttp_request_get_output_buffer(req),
		    body);
	evhttp_send_reply(req, status, NULL, NULL);
}

static void
admin_text(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
admin_text(struct evhttp_request *req, int status, const char *fmt, ...)
{
	struct evbuffer	*body;
	va_list		 ap;

	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(body, fmt, ap);
	va_end(ap);
	admin_send(req, status, ADMIN_CT_TEXT, body);
	evbuffer_free(body);
}

static void
admin_readyz(struct admin *ad, struct evhttp_request *req)
{
	char why[256] = "";

	int  ready = ad->ad_probe.ready == NULL ||
	    ad->ad_probe.ready(ad->ad_probe.arg, why, sizeof(why));

	/* One line, whatever the probe wrote. */
	why[strcspn(why, "\r\n")] = '\0';
	if (ready) {
		/* Ready, with something for people to know (an upstream
		 * refused while others still serve). */
		admin_text(req, 200, "ready%s%s\n", why[0] ? "; but " : "",
		    why);
		return;
	}
	admin_text(req, 503, "not ready: %s\n", why[0] ? why : "unknown");
}

static void
admin_metrics(struct admin *ad, struct evhttp_request *req)
{
	struct metrics_gauges	 g = { .cache_max_age_seconds = -1 };
	struct evbuffer		*body;

	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (ad->ad_probe.gauges != NULL)
		ad->ad_probe.gauges(ad->ad_probe.arg, &g);
	metrics_write(body, ad->ad_probe.gauges != NULL ? &g : NULL);
	admin_send(req, 200, ADMIN_CT_METRICS, body);
	evbuffer_free(body);
}

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
	struct admin		*ad = arg;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char		*why;
	int			 status;

	/* Configured for TLS, but libevent fell back to cleartext (no
	 * memory for the TLS bufferevent): answer nothing useful. */
	if (ad->ad_ssl != NULL && bufferevent_openssl_get_ssl(
	    httpframe_bev_under(evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req)))) == NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		admin_text(req, 503, "no TLS on this connection (the server "
		    "is short of memory); try again\n");
		return;
	}
	/* Refused by the framing scanner: nothing more on this connection. */
	if (httpframe_verdict(evhttp_request_get_input_headers(req), &status,
	    &why)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
		admin_text(req, status, "%s\n", why);
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		admin_text(req, 405, "method not allowed: use GET or HEAD\n");
	} else if (path == NULL)
		admin_text(req, 400, "bad request target\n");
	else if (strcmp(path, "/healthz") == 0)
		admin_text(req, 200, "ok\n");
	else if (strcmp(path, "/readyz") == 0)
		admin_readyz(ad, req);
	else if (strcmp(path, "/metrics") == 0)
		admin_metrics(ad, req);
	else
		admin_text(req, 404, "not found: the admin listener serves "
		    "/healthz, /readyz and /metrics\n");
	admin_conn_answered(ad, evhttp_request_get_connection(req));
}

/* ---- TLS ------------------------------------------------------------------ */

/*
 * The EST listener's protocol defaults (tlsconf.h), not its "tls" keys:
 * those are tuned for the EST clients, this listener's clients are
 * scrapers and probes. Without them OpenSSL would offer CBC suites and
 * finite-field groups, whose key exchange a client can make cost 130 ms.
 */
static SSL_CTX *
admin_tls_new(const struct cfg_admin *a, char *err, size_t errlen)
{
	static const struct cfg_tls	 defaults;
	SSL_CTX				*ssl;
	const char			*key;
	char				 why[256];

	if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "admin: cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	/* An end without close_notify is a close (listener.c says why). */
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (tlsconf_apply(ssl, &defaults, &key, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "admin: TLS %s: %s", key, why);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ssl, a->certificate) != 1) {
		log_ssl_errors(LOG_LEVEL_ERR, a->certificate);
		snprintf(err, errlen, "admin.certificate %s: cannot be used",
		    a->certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl, a->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ssl) != 1) {
		log_ssl_errors(LOG_LEVEL_ERR, a->key);
		snprintf(err, errlen, "admin.key %s: cannot be used or does "
		    "not match admin.certificate", a->key);
		goto fail;
	}
	return ssl;
fail:
	SSL_CTX_free(ssl);
	return NULL;
}

/* ---- connections -------------------------------------------------------- */

/*
 * A connection closed by the cap or a deadline: counted, and logged at
 * most once a second (a flood of them must not flood the log).
 */
static void
admin_log_drop(struct admin *ad, evutil_socket_t fd, const char *reason,
    const char *why)
{
	char peer[80], more[64];

	metrics_connection_dropped(reason);
	if (!log_throttle(&ad->ad_drops, more, sizeof(more)))
		return;
	netbind_peer_text(fd, peer, sizeof(peer));
	log_warn("admin connection from %s closed: %s%s", peer, why, more);
}

static void
admin_conn_free(struct admin_conn *c)
{
	TAILQ_REMOVE(&c->ac_ad->ad_conns, c, ac_entry);
	event_free(c->ac_ev);
	if (c->ac_bev != NULL)
		bufferevent_decref(c->ac_bev);
	free(c);
}

/* evhttp frees an admitted connection (any cause, evhttp_free too). */
static void
admin_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct admin_conn *c = arg;

	netbind_close_notify(evhttp_connection_get_bufferevent(evcon));
	c->ac_ad->ad_open--;
	admin_conn_free(c);
}

/*
 * The hand-off, on the loop's next turn after the accept: evhttp has by
 * now given the bufferevent its socket and made the connection around
 * it (netbind_evcon_of: libevent 2.1 offers no hook at the accept). If
 * evhttp has freed the connection meanwhile, our reference keeps the
 * bufferevent itself and the lookup finds nothing: gone.
 */
static void
admin_conn_hand_off(struct admin_conn *c)
{
	struct admin			*ad = c->ac_ad;
	struct evhttp_connection	*evcon = netbind_evcon_of(c->ac_bev);
	evutil_socket_t			 fd = bufferevent_getfd(c->ac_bev);
	char				 why[96];

	if (fd < 0 || evcon == NULL ||
	    evhttp_connection_get_server(evcon) != ad->ad_http) {
		admin_conn_free(c);	/* gone already */
		return;
	}
	if (ad->ad_open >= ad->ad_max_conns) {
		snprintf(why, sizeof(why), "%ld admin connections open "
		    "(admin.max_connections)", ad->ad_open);
		admin_log_drop(ad, fd, "admin_total", why);
		evhttp_connection_free(evcon);
		admin_conn_free(c);
		return;
	}
	c->ac_evcon = evcon;
	bufferevent_decref(c->ac_bev);
	c->ac_bev = NULL;
	ad->ad_open++;
	evhttp_connection_set_closecb(evcon, admin_on_close, c);
	evtimer_add(c->ac_ev, &ad->ad_timeout);
}

/* Past its deadline: shut the socket; evhttp sees the end and frees. */
static void
admin_conn_expire(struct admin_conn *c)
{
	struct admin	*ad = c->ac_ad;
	evutil_socket_t	 fd = bufferevent_getfd(
	    evhttp_connection_get_bufferevent(c->ac_evcon));
	char		 why[96];

	snprintf(why, sizeof(why), "no whole request in %ld ms "
	    "(admin.timeout)", (long)(ad->ad_timeout.tv_sec * 1000 +
	    ad->ad_timeout.tv_usec / 1000));
	admin_log_drop(ad, fd, "admin_timeout", why);
	netbind_close_notify(evhttp_connection_get_bufferevent(c->ac_evcon));
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void
admin_conn_on_event(evutil_socket_t unused, short what, void *arg)
{
	struct admin_conn *c = arg;

	if (c->ac_evcon == NULL)
		admin_conn_hand_off(c);
	else
		admin_conn_expire(c);
}

/* A request was answered: the next one has admin.timeout from now. */
static void
admin_conn_answered(struct admin *ad, struct evhttp_connection *evcon)
{
	struct admin_conn *c;

	TAILQ_FOREACH(c, &ad->ad_conns, ac_entry)
		if (c->ac_evcon == evcon) {
			evtimer_add(c->ac_ev, &ad->ad_timeout);
			return;
		}
}

/* TLS when configured, with the framing scanner in front of evhttp
 * (httpframe.h). No resource here takes a body: any is too large. */
static struct bufferevent *
admin_bev_new(struct admin *ad, struct event_base *base)
{
	SSL *ssl;

	if (ad->ad_ssl == NULL)
		return httpframe_bev_new(bufferevent_socket_new(base, -1,
		    BEV_OPT_CLOSE_ON_FREE), ADMIN_MAX_HEADERS, 0);
	if ((ssl = SSL_new(ad->ad_ssl)) == NULL) {
		log_ssl_errors(LOG_LEVEL_WARN, "admin: SSL_new");
		return NULL;
	}
	return httpframe_bev_new(netbind_tls_bev(base, ssl), ADMIN_MAX_HEADERS,
	    0);
}

/*
 * evhttp asks for each new connection's bufferevent (TLS or not) before
 * it has given it the socket: make it, and take it in at the hand-off.
 * Out of memory here, a connection goes uncounted (or, for TLS, gets
 * evhttp's plain bufferevent, which admin_on_request refuses).
 */
static struct bufferevent *
admin_on_connection(struct event_base *base, void *arg)
{
	struct admin		*ad = arg;
	struct admin_conn	*c;
	struct bufferevent	*bev;

	if ((bev = admin_bev_new(ad, base)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return bev;
	if ((c->ac_ev = event_new(base, -1, 0, admin_conn_on_event, c)) ==
	    NULL) {
		free(c);
		return bev;
	}
	c->ac_ad = ad;
	c->ac_bev = bev;
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&ad->ad_conns, c, ac_entry);
	event_active(c->ac_ev, EV_TIMEOUT, 1);
	return bev;
}

/* ---- the listener ------------------------------------------------------- */

static int
admin_bind(struct admin *ad, const char *addr, char *err, size_t errlen)
{
	char	text[80], why[256];

	if ((ad->ad_bound = netbind_listen(ad->ad_base, ad->ad_http, addr,
	    ADMIN_BACKLOG, text, sizeof(text), why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "admin.listen %s: %s", addr, why);
		return -1;
	}
	log_info("admin listening on %s%s", text,
	    ad->ad_ssl != NULL ? " (TLS)" : "");
	return 0;
}

static void
admin_limits(struct admin *ad, const struct cfg_admin *a)
{
	struct evhttp	*http = ad->ad_http;
	struct timeval	 backstop;

	ad->ad_max_conns = a->max_connections;
	ad->ad_timeout.tv_sec = a->timeout_ms / 1000;
	ad->ad_timeout.tv_usec = (a->timeout_ms % 1000) * 1000;
	evhttp_set_max_headers_size(http, ADMIN_MAX_HEADERS);
	/* No resource here takes a body; lingering close lets a client
	 * that sends one read the 413 instead of a reset. */
	evhttp_set_max_body_size(http, 0);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* The connections' deadline (admin_conn_expire) covers silence
	 * too, and counts it: evhttp's timer is only a backstop behind it,
	 * for connections that went uncounted. */
	backstop.tv_sec = 2 * a->timeout_ms / 1000;
	backstop.tv_usec = (2 * a->timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(http, &backstop);
	evhttp_set_default_content_type(http, NULL);
	/* Let every ordinary method reach admin_on_request, which answers
	 * 405 with Allow; evhttp alone would say 501. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
}

/*
 * Every URL's breaker starts closed: say so, so estrad_upstream_up has a
 * series per URL from the first scrape (upstream.c reports changes).
 */
static void
admin_seed_upstreams(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->nupstreams; i++)
		for (size_t j = 0; j < cfg->upstreams[i].nurls; j++)
			metrics_upstream_health(cfg->upstreams[i].name,
			    cfg->upstreams[i].urls[j], 1);
}

struct admin *
admin_new(struct event_base *base, const struct config *cfg,
    const struct admin_probe *probe, char *err, size_t errlen)
{
	const struct cfg_admin	*a = &cfg->admin;
	struct admin		*ad;

	if (!a->enabled || a->listen == NULL) {
		snprintf(err, errlen, "admin: no admin section");
		return NULL;
	}
	if ((ad = calloc(1, sizeof(*ad))) == NULL) {
		snprintf(err, errlen, "admin: out of memory");
		return NULL;
	}
	ad->ad_base = base;
	TAILQ_INIT(&ad->ad_conns);
	if (probe != NULL)
		ad->ad_probe = *probe;
	if (a->certificate != NULL &&
	    (ad->ad_ssl = admin_tls_new(a, err, errlen)) == NULL)
		goto fail;
	if ((ad->ad_http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "admin: cannot make the HTTP server");
		goto fail;
	}
	evhttp_set_bevcb(ad->ad_http, admin_on_connection, ad);
	evhttp_set_gencb(ad->ad_http, admin_on_request, ad);
	admin_limits(ad, a);
	if (admin_bind(ad, a->listen, err, errlen) == -1)
		goto fail;
	admin_seed_upstreams(cfg);
	return ad;
fail:
	admin_free(ad);
	return NULL;
}

void
admin_free(struct admin *ad)
{
	if (ad == NULL)
		return;
	if (ad->ad_http != NULL) {
		if (ad->ad_bound != NULL)
			netbind_unbind(ad->ad_http, ad->ad_bound);
		evhttp_free(ad->ad_http);
	}
	/* evhttp_free closed the admitted ones; these were never handed
	 * off. */
	while (!TAILQ_EMPTY(&ad->ad_conns))
		admin_conn_free(TAILQ_FIRST(&ad->ad_conns));
	SSL_CTX_free(ad->ad_ssl);
	free(ad);
}
