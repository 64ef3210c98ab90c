/*
 * listener: TLS termination for EST clients. Secure defaults are not
 * configurable away: TLS 1.2 and 1.3 only (RFC 7030 §3.3.1 asks for 1.1
 * or newer; 1.2 is today's floor), AEAD suites with forward secrecy, no
 * compression, no renegotiation. The server asks for a client certificate
 * when trust anchors are configured but does not demand one, so clients
 * that authenticate with Digest or Basic can still connect; a certificate
 * that is sent must verify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "estrad/listener.h"
#include "estrad/log.h"
#include "estrad/pki.h"

/* TLS 1.2 suites: ECDHE and AEAD only. TLS 1.3 suites are all AEAD. */
#define LISTENER_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define LISTENER_BACKLOG	1024

struct listener {
	struct event_base	 *lst_base;
	SSL_CTX			 *lst_ssl;
	struct evhttp		 *lst_http;
};

/* How long to stop accepting when out of file descriptors. */
#define LISTENER_PAUSE_MS	1000

/*
 * Revocation: the client certificate (not its issuers) is checked against
 * the CRLs in the file; a certificate whose issuer has no CRL there fails,
 * since "no CRL" must not read as "not revoked".
 */
static int
tls_client_crls(SSL_CTX *ssl, const struct cfg_tls *tls)
{
	X509_STORE		*store = SSL_CTX_get_cert_store(ssl);
	STACK_OF(X509_CRL)	*crls;
	char			 err[512];
	int			 rc = 0;

	if ((crls = pki_load_crls(tls->client_crl, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return -1;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		if (X509_STORE_add_crl(store, sk_X509_CRL_value(crls, i)) != 1)
			rc = -1;
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	if (rc == -1)
		log_ssl_errors(LOG_LEVEL_ERR, tls->client_crl);
	return rc;
}

static int
tls_client_verify(SSL_CTX *ssl, const struct cfg_tls *tls)
{
	STACK_OF(X509_NAME) *names;

	if (tls->client_ca == NULL)
		return 0;
	if (SSL_CTX_load_verify_locations(ssl, tls->client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(tls->client_ca)) == NULL) {
		log_ssl_errors(LOG_LEVEL_ERR, tls->client_ca);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ssl, names);
	if (tls->client_crl != NULL && tls_client_crls(ssl, tls) == -1)
		return -1;
	/* Ask, do not demand: no SSL_VERIFY_FAIL_IF_NO_PEER_CERT. */
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ssl, (int)tls->client_verify_depth);
	return 0;
}

static void sockaddr_text(const struct sockaddr *, char *, size_t);

/*
 * A handshake we end with a fatal alert (a client certificate that does not
 * verify or is revoked, no common protocol or suite) never becomes a
 * request, so it gets no access line: say here who failed and why.
 */
static void
listener_on_tls_info(const SSL *ssl, int where, int ret)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 peer[80] = "?";
	long			 verify;

	if (!(where & SSL_CB_WRITE_ALERT) || (ret >> 8) != SSL3_AL_FATAL)
		return;
	if (getpeername(SSL_get_fd(ssl), (struct sockaddr *)&ss, &sslen) == 0)
		sockaddr_text((struct sockaddr *)&ss, peer, sizeof(peer));
	verify = SSL_get_verify_result(ssl);
	log_info("tls peer=%s handshake failed: alert %s%s%s", peer,
	    SSL_alert_desc_string_long(ret),
	    verify != X509_V_OK ? "; client certificate: " : "",
	    verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "");
}

static SSL_CTX *
tls_context_new(const struct cfg_tls *tls)
{
	SSL_CTX *ssl;

	if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION);
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle connections should not each hold 34 KiB of buffers. */
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ssl, LISTENER_CIPHERS) != 1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ssl, tls->certificate) != 1) {
		log_ssl_errors(LOG_LEVEL_ERR, tls->certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ssl, tls->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ssl) != 1) {
		log_ssl_errors(LOG_LEVEL_ERR, tls->key);
		goto fail;
	}
	/* Without a session id context, OpenSSL fails every resumption
	 * attempt when peer verification is on, instead of a full handshake. */
	if (SSL_CTX_set_session_id_context(ssl,
	    (const unsigned char *)"estrad", 6) != 1)
		goto fail;
	if (tls_client_verify(ssl, tls) == -1)
		goto fail;
	SSL_CTX_set_info_callback(ssl, listener_on_tls_info);
	return ssl;
fail:
	log_ssl_errors(LOG_LEVEL_ERR, "server TLS context");
	SSL_CTX_free(ssl);
	return NULL;
}

/* evhttp asks for each new connection's bufferevent: make it TLS. */
static struct bufferevent *
listener_on_connection(struct event_base *base, void *arg)
{
	struct listener		*lst = arg;
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(lst->lst_ssl)) == NULL) {
		log_ssl_errors(LOG_LEVEL_WARN, "SSL_new");
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Many clients close without close_notify; that is not an error
	 * once the response is out. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
sockaddr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(s4->sin_port));
	}
}

static void
listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/*
 * accept() failed. Out of descriptors (EMFILE, ENFILE), retrying at once
 * would spin the loop and flood the log: this listener pauses for a while
 * so connections can finish and free some. (libevent hands us evhttp's
 * callback argument, not ours, so the pause needs no state of ours: a
 * one-shot timer carries the listener.)
 */
static void
listener_on_accept_error(struct evconnlistener *ecl, void *arg)
{
	int		err = EVUTIL_SOCKET_ERROR();
	struct timeval	pause = { LISTENER_PAUSE_MS / 1000,
	    (LISTENER_PAUSE_MS % 1000) * 1000 };

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warn("accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	log_warn("accept: %s; not accepting for %d ms",
	    evutil_socket_error_to_string(err), LISTENER_PAUSE_MS);
	evconnlistener_disable(ecl);
	if (event_base_once(evconnlistener_get_base(ecl), -1, EV_TIMEOUT,
	    listener_on_resume, ecl, &pause) == -1)
		evconnlistener_enable(ecl);
}

static int
listener_bind(struct listener *lst, const char *addr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen, boundlen = sizeof(ss);
	struct evconnlistener	*ecl;
	char			 text[80];
	unsigned		 flags;

	if (config_parse_address(addr, &ss, &sslen) != 0) {
		log_err("listen %s: not an address:port", addr);
		return -1;
	}
	flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
	/* "[::]:p" must not also claim IPv4, or "0.0.0.0:p" cannot bind. */
	if (ss.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	ecl = evconnlistener_new_bind(lst->lst_base, NULL, NULL, flags,
	    LISTENER_BACKLOG, (struct sockaddr *)&ss, (int)sslen);
	if (ecl == NULL) {
		log_err("listen %s: %s", addr,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	if (evhttp_bind_listener(lst->lst_http, ecl) == NULL) {
		evconnlistener_free(ecl);
		log_err("listen %s: cannot attach to the HTTP server", addr);
		return -1;
	}
	evconnlistener_set_error_cb(ecl, listener_on_accept_error);
	/* Port 0 asks the kernel for one: say which, for tests and labs. */
	getsockname(evconnlistener_get_fd(ecl), (struct sockaddr *)&ss,
	    &boundlen);
	sockaddr_text((struct sockaddr *)&ss, text, sizeof(text));
	log_info("listening on %s", text);
	return 0;
}

static void
listener_limits(struct evhttp *http, const struct cfg_limits *limits)
{
	struct timeval tv;

	evhttp_set_max_headers_size(http, limits->max_header_bytes);
	/*
	 * est.c answers bodies over max_body_bytes with a text/plain 413 and
	 * an access line. evhttp's own limit, at twice that, bounds the
	 * memory a connection can hold; past it libevent 2.1 answers 413
	 * itself, with its fixed HTML page, and est.c never sees the request.
	 * Lingering close reads and drops the rest of such a body first, so
	 * the client gets that answer instead of a reset mid-upload.
	 */
	evhttp_set_max_body_size(http, 2 * limits->max_body_bytes);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* libevent 2.1 has one inactivity timer per connection; it covers
	 * the TLS handshake and reading the first request. est.c switches a
	 * connection to idle_timeout once it has been answered. */
	tv.tv_sec = limits->read_timeout_ms / 1000;
	tv.tv_usec = (limits->read_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(http, &tv);
	/* Every answer sets its own Content-Type; no text/html default. */
	evhttp_set_default_content_type(http, NULL);
	/* Let every ordinary method reach the router, which answers 405
	 * with Allow; evhttp alone would say 501. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
}

struct listener *
listener_new(struct event_base *base, const struct config *cfg,
    void (*on_request)(struct evhttp_request *, void *), void *arg)
{
	struct listener *lst;

	if ((lst = calloc(1, sizeof(*lst))) == NULL)
		return NULL;
	lst->lst_base = base;
	if ((lst->lst_ssl = tls_context_new(&cfg->tls)) == NULL)
		goto fail;
	if ((lst->lst_http = evhttp_new(base)) == NULL)
		goto fail;
	evhttp_set_bevcb(lst->lst_http, listener_on_connection, lst);
	evhttp_set_gencb(lst->lst_http, on_request, arg);
	listener_limits(lst->lst_http, &cfg->limits);
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (listener_bind(lst, cfg->listen[i]) == -1)
			goto fail;
	return lst;
fail:
	listener_free(lst);
	return NULL;
}

void
listener_free(struct listener *lst)
{
	if (lst == NULL)
		return;
	if (lst->lst_http != NULL)
		evhttp_free(lst->lst_http);
	SSL_CTX_free(lst->lst_ssl);
	free(lst);
}
