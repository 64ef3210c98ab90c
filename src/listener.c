/*
 * listener: TLS termination for EST clients. Secure defaults are not
 * configurable away: TLS 1.2 and 1.3 only (RFC 7030 §3.3.1 asks for 1.1
 * or newer; 1.2 is today's floor), AEAD suites with forward secrecy, no
 * compression, no renegotiation. The server asks for a client certificate
 * when trust anchors are configured but does not demand one, so clients
 * that authenticate with Digest or Basic can still connect; a certificate
 * that is sent must verify.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "estrad/clientchain.h"
#include "estrad/connlimit.h"
#include "estrad/httpframe.h"
#include "estrad/listener.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/tlsconf.h"
#include "estrad/netbind.h"
#include "estrad/pki.h"

#define LISTENER_BACKLOG	1024

#define LISTENER_MAX_BOUND	16
/* CA certificates learnt from cacerts answers, at most (clientchain). */
#define LISTENER_MAX_LEARNT	64
/* cacerts bodies remembered as read already (their SHA-256). */
#define LISTENER_SEEN		16

struct listener {
	struct event_base	 *lst_base;
	SSL_CTX			 *lst_ssl;	/* for new connections */
	struct evhttp		 *lst_http;
	struct evhttp_bound_socket *lst_bound[LISTENER_MAX_BOUND];
	size_t			  lst_nbound;
	struct connlimit	 *lst_limit;	/* counts and deadlines */
	size_t			  lst_max_head;	/* for new connections' */
	uint64_t		  lst_max_body;	/* framing scanners */
	STACK_OF(X509)		 *lst_learnt;	/* from CAs' cacerts */
	unsigned char		  lst_seen[LISTENER_SEEN][SHA256_DIGEST_LENGTH];
	size_t			  lst_nseen;	/* ring: next slot */
};

/* An SSL's ex_data slot: the connection's connlimit_conn; its free hook
 * counts the connection gone. */
static int listener_conn_index = -1;
/* Another: the connection's bufferevent, until its handshake is done. */
static int listener_bev_index = -1;
/* Another: the client certificate that failed verification (a reference),
 * for the line that says so; OpenSSL keeps no refused peer certificate. */
static int listener_refused_index = -1;

static void listener_stop_accepting(struct listener *lst);


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

static void
listener_on_refused_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	X509_free(ptr);
}

/*
 * An RA's certificate whose extendedKeyUsage names id-kp-cmcRA but not
 * clientAuth: RFC 7030 §3.7 gives the RA that EKU for its TLS client
 * certificate, and estrad's -n takes it for one; OpenSSL's purpose check
 * (clientAuth, or no EKU) would refuse it as "unsuitable certificate
 * purpose". Taken here, at the leaf only, and only when the purpose error
 * can come from that EKU alone: OpenSSL raises the same error for a
 * keyUsage without digitalSignature and for a Netscape certificate type
 * without SSL client, and those restrictions of the issuer stand (as they
 * do in -n, through pki_tls_client_check). Every other check stands.
 */
static int
listener_ra_purpose(X509_STORE_CTX *sctx)
{
	X509	*leaf = X509_STORE_CTX_get_current_cert(sctx);
	char	 why[160];

	if (X509_STORE_CTX_get_error(sctx) != X509_V_ERR_INVALID_PURPOSE ||
	    X509_STORE_CTX_get_error_depth(sctx) != 0 || leaf == NULL ||
	    !pki_cert_has_cmc_ra(leaf) ||
	    (X509_get_extension_flags(leaf) & EXFLAG_NSCERT) != 0 ||
	    pki_tls_client_check(leaf, why, sizeof(why)) != 0)
		return 0;
	X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
}

/* Keep the leaf of a chain that fails, the first time (OpenSSL's verdict
 * stands, but for an RA's purpose). */
static int
listener_on_verify(int ok, X509_STORE_CTX *sctx)
{
	SSL	*ssl;
	X509	*leaf;

	if (!ok && listener_ra_purpose(sctx))
		return 1;
	if (ok || listener_refused_index == -1 ||
	    (ssl = X509_STORE_CTX_get_ex_data(sctx,
	    SSL_get_ex_data_X509_STORE_CTX_idx())) == NULL ||
	    SSL_get_ex_data(ssl, listener_refused_index) != NULL ||
	    (leaf = X509_STORE_CTX_get0_cert(sctx)) == NULL)
		return ok;
	if (X509_up_ref(leaf) == 1 &&
	    SSL_set_ex_data(ssl, listener_refused_index, leaf) != 1)
		X509_free(leaf);
	return ok;
}

static int
tls_client_verify(SSL_CTX *ssl, const struct config *cfg)
{
	const struct cfg_tls	*tls = &cfg->tls;
	STACK_OF(X509_NAME)	*names;

	if (tls->client_ca == NULL)
		return 0;
	if (SSL_CTX_load_verify_locations(ssl, tls->client_ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(tls->client_ca)) == NULL) {
		log_ssl_errors(LOG_LEVEL_ERR, tls->client_ca);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ssl, names);
	/* Leaf-only clients: chains completed from known intermediates. */
	if (clientchain_attach(ssl, cfg) == -1)
		return -1;
	if (tls->client_crl != NULL && tls_client_crls(ssl, tls) == -1)
		return -1;
	/* Ask, do not demand: no SSL_VERIFY_FAIL_IF_NO_PEER_CERT. */
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, listener_on_verify);
	SSL_CTX_set_verify_depth(ssl, (int)tls->client_verify_depth);
	return 0;
}


/* NULL for a connection left uncounted (out of memory at its accept). */
static struct connlimit_conn *
listener_conn_of(const SSL *ssl)
{
	if (listener_conn_index == -1)
		return NULL;
	return SSL_get_ex_data(ssl, listener_conn_index);
}

/*
 * The ClientHello is the first moment the peer's address is known (the
 * bufferevent is made before evhttp gives it the socket), and it comes
 * before any key exchange: refuse here, with an alert, what the
 * connection limits do not admit.
 */
static int
listener_on_client_hello(SSL *ssl, int *alert, void *arg)
{
	struct connlimit_conn	*conn = listener_conn_of(ssl);
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	struct sockaddr		*sa = (struct sockaddr *)&ss;

	if (conn == NULL)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (getpeername(SSL_get_fd(ssl), sa, &sslen) == -1)
		sa = NULL;
	if (connlimit_admit(conn, sa) == CONNLIMIT_OK)
		return SSL_CLIENT_HELLO_SUCCESS;
	*alert = SSL_AD_INTERNAL_ERROR;
	return SSL_CLIENT_HELLO_ERROR;
}

/*
 * From its handshake on, evhttp's connection closes with a close_notify
 * (netbind_on_close), whoever closes it: an answer with Connection: close,
 * a timeout, the client's own close_notify, before any request too; est.c
 * puts it back after its own close callbacks. Once: the bufferevent's
 * slot is cleared (TLS 1.3 reports "done" again after its ticket).
 * The info callback has a const SSL; its ex_data is ours to change.
 */
static void
listener_on_handshake(SSL *ssl)
{
	struct bufferevent		*bev;
	struct evhttp_connection	*evcon;

	if (listener_bev_index == -1 ||
	    (bev = SSL_get_ex_data(ssl, listener_bev_index)) == NULL)
		return;
	SSL_set_ex_data(ssl, listener_bev_index, NULL);
	if ((evcon = netbind_evcon_of(bev)) != NULL)
		evhttp_connection_set_closecb(evcon, netbind_on_close, NULL);
}

/*
 * A handshake we end with a fatal alert (a client certificate that does not
 * verify or is revoked, no common protocol or suite) never becomes a
 * request, so it gets no access line: say here who failed and why.
 */
static void
listener_on_tls_info(const SSL *ssl, int where, int ret)
{
	char			 peer[80], name[256], subject[1024];
	long			 verify;
	struct connlimit_conn	*conn = listener_conn_of(ssl);
	X509			*refused;

	if (where & SSL_CB_HANDSHAKE_DONE) {
		listener_on_handshake((SSL *)ssl);
		metrics_tls_handshake(1);
		if (conn != NULL)
			connlimit_handshake_done(conn);
	}
	/* A client that closed in the middle (a TCP health check, or one
	 * that dislikes our certificate and says nothing): no alert is owed
	 * (SSL_OP_IGNORE_UNEXPECTED_EOF), nothing refused, not counted. */
	if ((where & SSL_CB_ACCEPT_EXIT) && !SSL_is_init_finished(ssl) &&
	    (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)) {
		netbind_peer_text(SSL_get_fd(ssl), peer, sizeof(peer));
		log_debug("tls peer=%s closed during the handshake", peer);
		return;
	}
	if (!(where & SSL_CB_WRITE_ALERT) || (ret >> 8) != SSL3_AL_FATAL)
		return;
	/* Refused by a limit: counted and logged (sparingly) there. */
	if (conn != NULL && connlimit_dropped(conn))
		return;
	netbind_peer_text(SSL_get_fd(ssl), peer, sizeof(peer));
	/* The client's Finished came: the handshake was done, whatever
	 * ended the connection since (SSL_is_init_finished is false again
	 * after any fatal alert) is no handshake failure. */
	if (SSL_get_peer_finished(ssl, NULL, 0) > 0) {
		log_info("tls peer=%s connection failed: alert %s", peer,
		    SSL_alert_desc_string_long(ret));
		return;
	}
	metrics_tls_handshake(0);
	verify = SSL_get_verify_result(ssl);
	refused = listener_refused_index == -1 ? NULL :
	    SSL_get_ex_data(ssl, listener_refused_index);
	subject[0] = '\0';
	/* The subject says whose it is: an RA's certificate refused here
	 * is its operator's mistake, to be found among many clients. The
	 * client wrote it: escaped, as the access line's user= is. */
	if (verify != X509_V_OK && refused != NULL &&
	    pki_name_text(X509_get_subject_name(refused), name,
	    sizeof(name)) == 0)
		log_quote(subject, sizeof(subject), name, strlen(name),
		    LOG_QUOTE_TOKEN);
	log_info("tls peer=%s handshake failed: alert %s%s%s%s%s", peer,
	    SSL_alert_desc_string_long(ret),
	    verify != X509_V_OK ? "; client certificate: " : "",
	    verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "",
	    subject[0] ? "; subject " : "", subject);
}

/*
 * Resumption from a bounded session cache in this process, one ticket per
 * handshake. OpenSSL's default, two stateless tickets, encodes each
 * session and decodes it again to seal it, the client certificate's
 * public key included: about a sixth of the proxy's CPU per enrollment
 * under load (docs/performance.md), for tickets most devices never use.
 * Stateful tickets cost no decoding, are single-use (no 0-RTT replay),
 * and the cache's size bounds their memory; when it is full the oldest
 * session goes. Sessions do not outlive this context (a reload).
 */
static void
tls_session_cache(SSL_CTX *ssl, long size)
{
	if (size == 0) {
		SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ssl, 0);
		SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
		return;
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ssl, size);
	SSL_CTX_set_num_tickets(ssl, 1);
}

static SSL_CTX *
tls_context_new(const struct config *cfg)
{
	const struct cfg_tls	*tls = &cfg->tls;
	SSL_CTX		*ssl;
	const char	*key;
	char		 err[256];

	if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ssl, TLS1_3_VERSION);
	/* A TCP end without close_notify is a close, not an error: HTTP
	 * frames its messages itself (the scanner refuses a cut one), and
	 * OpenSSL 3 would otherwise answer it with a fatal decode_error,
	 * which kills the answer a half-closed client still waits for (its
	 * FIN read before the answer is written), drops the session of a
	 * client that closes after reading (Python's http.client), and
	 * counts a TCP health check as a failed handshake. */
	SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Idle connections should not each hold 34 KiB of buffers. */
	SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (tlsconf_apply(ssl, tls, &key, err, sizeof(err)) == -1) {
		log_err("tls.%s: %s", key, err);
		goto fail;
	}
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
	tls_session_cache(ssl, tls->session_cache);
	if (tls_client_verify(ssl, cfg) == -1)
		goto fail;
	SSL_CTX_set_info_callback(ssl, listener_on_tls_info);
	SSL_CTX_set_client_hello_cb(ssl, listener_on_client_hello, NULL);
	return ssl;
fail:
	log_ssl_errors(LOG_LEVEL_ERR, "server TLS context");
	SSL_CTX_free(ssl);
	return NULL;
}

/*
 * SSL_free of a connection's SSL: the connection is gone. One that could
 * not send its close_notify (netbind_close_notify: a client that reset it,
 * an answer cut short) would have OpenSSL drop the session from the cache
 * as if the connection had failed. Since TLS 1.1 a connection closed
 * without close_notify may still be resumed (RFC 5246 §7.2.1), and one
 * that failed with a fatal alert has had its session removed already,
 * when the alert was sent or read: a connection that finished its
 * handshake leaves a good session, so say it was shut down properly.
 * This relies on SSL_free freeing ex_data before it checks the session
 * (OpenSSL 3.0 does); tls_resume fails if that ever changes.
 */
static void
listener_on_conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	SSL *ssl = parent;

	if (ptr == NULL)
		return;
	metrics_connection(-1);
	if (ssl != NULL && SSL_is_init_finished(ssl))
		SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_SENT_SHUTDOWN);
	connlimit_close(ptr);
}

/* evhttp asks for each new connection's bufferevent: make it TLS, with
 * the framing scanner between TLS and evhttp (httpframe.h). */
static struct bufferevent *
listener_on_connection(struct event_base *base, void *arg)
{
	struct listener		*lst = arg;
	struct connlimit_conn	*conn;
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(lst->lst_ssl)) == NULL) {
		log_ssl_errors(LOG_LEVEL_WARN, "SSL_new");
		return NULL;
	}
	if (listener_conn_index != -1 &&
	    (conn = connlimit_open(lst->lst_limit, ssl)) != NULL) {
		if (SSL_set_ex_data(ssl, listener_conn_index, conn) == 1)
			metrics_connection(1);
		else
			connlimit_close(conn);
	}
	bev = httpframe_bev_new(netbind_tls_bev(base, ssl), lst->lst_max_head,
	    lst->lst_max_body);
	if (bev != NULL && listener_bev_index != -1)
		SSL_set_ex_data(ssl, listener_bev_index, bev);
	return bev;
}

/* connlimit's gate: pause or resume accepting on every bound socket. */
static void
listener_gate(void *arg, int accept)
{
	struct listener		*lst = arg;
	struct evconnlistener	*ecl;

	for (size_t i = 0; i < lst->lst_nbound; i++) {
		ecl = evhttp_bound_socket_get_listener(lst->lst_bound[i]);
		if (accept)
			evconnlistener_enable(ecl);
		else
			evconnlistener_disable(ecl);
	}
}

static int
listener_bind(struct listener *lst, const char *addr)
{
	char	text[80], err[256];

	if (lst->lst_nbound == LISTENER_MAX_BOUND) {
		log_err("listen %s: more than %d addresses", addr,
		    LISTENER_MAX_BOUND);
		return -1;
	}
	if ((lst->lst_bound[lst->lst_nbound] = netbind_listen(lst->lst_base,
	    lst->lst_http, addr, LISTENER_BACKLOG, text, sizeof(text), err,
	    sizeof(err))) == NULL) {
		log_err("listen %s: %s", addr, err);
		return -1;
	}
	lst->lst_nbound++;
	log_info("listening on %s", text);
	return 0;
}

static void
listener_limits(struct listener *lst, const struct cfg_limits *limits)
{
	struct evhttp	*http = lst->lst_http;
	struct timeval	 tv;

	connlimit_configure(lst->lst_limit, limits->max_connections,
	    limits->max_connections_per_address, limits->handshake_timeout_ms,
	    limits->read_timeout_ms, limits->idle_timeout_ms);

	evhttp_set_max_headers_size(http, limits->max_header_bytes);
	lst->lst_max_head = (size_t)limits->max_header_bytes;
	lst->lst_max_body = (uint64_t)limits->max_body_bytes;
	/*
	 * est.c answers bodies over max_body_bytes with a text/plain 413 and
	 * an access line. evhttp's own limit, at twice that, bounds the
	 * memory a connection can hold. A Content-Length or a chunk past it
	 * never reaches evhttp: the framing scanner turns it into a 413
	 * verdict that est.c answers (httpframe.c). evhttp's lingering close
	 * stays for what the scanner does not see (none expected).
	 */
	evhttp_set_max_body_size(http, 2 * limits->max_body_bytes);
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	/* libevent 2.1 has one inactivity timer per connection; it covers
	 * the TLS handshake and reading the first request. est.c switches a
	 * connection to idle_timeout once it has been answered. Those only
	 * measure silence: connlimit bounds the whole handshake and the
	 * whole reading of each request, however steadily they trickle. */
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
	if (listener_conn_index == -1)
		listener_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    listener_on_conn_free);
	if (listener_bev_index == -1)
		listener_bev_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    NULL);
	if (listener_refused_index == -1)
		listener_refused_index = SSL_get_ex_new_index(0, NULL, NULL,
		    NULL, listener_on_refused_free);
	if ((lst->lst_limit = connlimit_new(base)) == NULL ||
	    (lst->lst_ssl = tls_context_new(cfg)) == NULL)
		goto fail;
	if ((lst->lst_http = evhttp_new(base)) == NULL)
		goto fail;
	evhttp_set_bevcb(lst->lst_http, listener_on_connection, lst);
	connlimit_set_gate(lst->lst_limit, listener_gate, lst);
	evhttp_set_gencb(lst->lst_http, on_request, arg);
	listener_limits(lst, &cfg->limits);
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
	if (lst->lst_http != NULL) {
		listener_stop_accepting(lst);
		evhttp_free(lst->lst_http);
	}
	SSL_CTX_free(lst->lst_ssl);
	sk_X509_pop_free(lst->lst_learnt, X509_free);
	connlimit_release(lst->lst_limit);
	free(lst);
}

/*
 * SIGHUP: a new TLS context (certificate, key, trust anchors, CRLs) for
 * the connections accepted from now on; those already open keep theirs
 * (each SSL holds a reference to its context). The limits apply to new
 * connections too. The bound addresses stay: a port below 1024 could not
 * be bound again once privileges are dropped.
 */
SSL_CTX *
listener_reload_prepare(const struct config *cfg)
{
	return tls_context_new(cfg);
}

void
listener_reload_commit(struct listener *lst, const struct config *cfg,
    SSL_CTX *ssl)
{
	SSL_CTX_free(lst->lst_ssl);
	lst->lst_ssl = ssl;
	for (int i = 0; i < sk_X509_num(lst->lst_learnt); i++)
		(void)clientchain_add(ssl, sk_X509_value(lst->lst_learnt, i));
	listener_limits(lst, &cfg->limits);
}

/*
 * 1 if this cacerts body was read before. Reading one decodes its
 * certificates (about 190 us for the lab's two, on the event loop), while
 * a digest costs a few: devices fetch the same cacerts at every start.
 */
static int
listener_cacerts_seen(struct listener *lst, const unsigned char *body,
    size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (SHA256(body, len, md) == NULL)
		return 1;
	for (size_t i = 0; i < LISTENER_SEEN; i++)
		if (memcmp(lst->lst_seen[i], md, sizeof(md)) == 0)
			return 1;
	memcpy(lst->lst_seen[lst->lst_nseen], md, sizeof(md));
	lst->lst_nseen = (lst->lst_nseen + 1) % LISTENER_SEEN;
	return 0;
}

/*
 * A CA's cacerts answer passed through: its intermediates complete client
 * chains from now on (clientchain.h), for the CA's own leaf-only devices.
 * They only help build chains, so whatever the CA sends cannot widen
 * trust; the set is bounded and kept across reloads.
 */
void
listener_learn_cacerts(struct listener *lst, const unsigned char *body,
    size_t len)
{
	STACK_OF(X509)	*certs;
	X509		*x;

	if (lst->lst_learnt == NULL &&
	    (lst->lst_learnt = sk_X509_new_null()) == NULL)
		return;
	if (body == NULL || listener_cacerts_seen(lst, body, len) ||
	    (certs = clientchain_cacerts(body, len)) == NULL)
		return;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (sk_X509_num(lst->lst_learnt) >= LISTENER_MAX_LEARNT ||
		    clientchain_add(lst->lst_ssl, x) != 1)
			continue;
		if (X509_up_ref(x) != 1)
			continue;
		if (sk_X509_push(lst->lst_learnt, x) == 0)
			X509_free(x);
		else
			log_info("client certificates: intermediate learnt "
			    "from a CA's cacerts");
	}
	sk_X509_pop_free(certs, X509_free);
}

void
listener_request_read(SSL *ssl)
{
	struct connlimit_conn *conn;

	if (ssl != NULL && (conn = listener_conn_of(ssl)) != NULL)
		connlimit_request_read(conn);
}

void
listener_answered(SSL *ssl)
{
	struct connlimit_conn *conn;

	if (ssl != NULL && (conn = listener_conn_of(ssl)) != NULL)
		connlimit_answered(conn);
}

/* Close the listening sockets; connections stay. */
static void
listener_stop_accepting(struct listener *lst)
{
	for (size_t i = 0; i < lst->lst_nbound; i++)
		netbind_unbind(lst->lst_http, lst->lst_bound[i]);
	lst->lst_nbound = 0;
}

void
listener_drain(struct listener *lst, long grace_ms)
{
	listener_stop_accepting(lst);
	connlimit_drain(lst->lst_limit, grace_ms);
}

size_t
listener_connections(const struct listener *lst)
{
	return connlimit_open_count(lst->lst_limit);
}
