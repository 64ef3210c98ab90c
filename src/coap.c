/*
 * coap: the EST-over-CoAP listener (RFC 9148) on libcoap 4.3 with its
 * OpenSSL DTLS back end, driven by the server's libevent loop.
 *
 * The loop: libcoap keeps its sockets in an epoll set of its own, whose
 * descriptor (coap_context_get_coap_fd) libevent watches; when it is
 * readable, or when libcoap's next timer is due (coap_io_prepare_epoll
 * says when), coap_io_process runs with COAP_IO_NO_WAIT. Nothing waits.
 *
 * DTLS: libcoap answers every ClientHello without a valid cookie with a
 * HelloVerifyRequest (OpenSSL's DTLSv1_listen) before it keeps any state,
 * so a spoofed source can neither amplify nor fill the session table. Each
 * handshake's SSL is then set up here (coaps_on_ssl): the session limits
 * (in all, per address), the "tls" section's client trust anchors and
 * CRLs, the server's intermediates. The certificate and key are read into
 * memory at start, before the privilege drop: libcoap would otherwise read
 * the files at every handshake, blocking, as a user who may not read them.
 *
 * Sessions: one struct coaps_sess per DTLS session (its app data), made
 * when its handshake starts past the cookie and freed when libcoap
 * deletes it; a session
 * that closes leaves its waiting requests (coap_est.c). A handshake not
 * done within handshake_timeout is ended by the one-second sweep, which
 * also drops Block1 bodies left unfinished (coap_block.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "estrad/clientchain.h"
#include "estrad/coap.h"
#include "estrad/coap_block.h"
#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/netbind.h"
#include "estrad/pki.h"

#include "coap_int.h"

/*
 * Exported by libcoap 4.3.1 but not in its public headers: how libcoap
 * itself ends a session whose DTLS failed. The sweep ends a handshake that
 * takes too long with it (no public call ends a server session).
 */
void coap_session_disconnected(coap_session_t *session,
    coap_nack_reason_t reason);

uint64_t
coaps_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* libcoap's lines go to our log: its errors as warnings, the rest debug. */
static void
coaps_on_log(coap_log_t level, const char *message)
{
	size_t len = strlen(message);

	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
		len--;
	if (level <= LOG_ERR)
		log_warn("coap: %.*s", (int)len, message);
	else
		log_debug("coap: %.*s", (int)len, message);
}

/* ---- the loop ----------------------------------------------------------- */

/* libcoap's next timer as our one-shot timer (at most a second away: the
 * sweep has its own, this keeps libcoap's retransmissions on time). */
static void
coaps_arm(struct coaps *cs)
{
	coap_tick_t	now;
	unsigned	ms;
	struct timeval	tv;

	coap_ticks(&now);
	ms = coap_io_prepare_epoll(cs->cs_ctx, now);
	if (ms == 0 || ms > 1000)
		ms = 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(cs->cs_timer, &tv);
}

/*
 * OpenSSL's error queue is per thread and shared with the HTTPS side and
 * libcurl: an error left there makes SSL_get_error report a failure where
 * a DTLS handshake merely waits for its peer (SSL_ERROR_WANT_READ), and
 * libcoap then drops the session without a word. Empty before libcoap runs.
 */
static void
coaps_run(struct coaps *cs)
{
	ERR_clear_error();
	coap_io_process(cs->cs_ctx, COAP_IO_NO_WAIT);
	coaps_arm(cs);
}

static void
coaps_on_io(evutil_socket_t fd, short what, void *arg)
{
	coaps_run(arg);
}

static void
coaps_on_timer(evutil_socket_t fd, short what, void *arg)
{
	coaps_run(arg);
}

void
coaps_kick(struct coaps *cs)
{
	static const struct timeval now = { 0, 0 };

	evtimer_add(cs->cs_timer, &now);
}

/* ---- sessions ----------------------------------------------------------- */

static void
coaps_peer_text(coap_session_t *session, char *peer, size_t peerlen,
    char *addr, size_t addrlen)
{
	const coap_address_t	*a = coap_session_get_addr_remote(session);
	char			 host[INET6_ADDRSTRLEN] = "?";
	unsigned		 port = 0;

	if (a != NULL && a->addr.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->addr.sin.sin_addr, host, sizeof(host));
		port = ntohs(a->addr.sin.sin_port);
	} else if (a != NULL && a->addr.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, host,
		    sizeof(host));
		port = ntohs(a->addr.sin6.sin6_port);
	}
	snprintf(addr, addrlen, "%s", host);
	snprintf(peer, peerlen, "%s%s%s:%u", strchr(host, ':') ? "[" : "",
	    host, strchr(host, ':') ? "]" : "", port);
}

struct coaps_sess *
coaps_sess_of(struct coaps *cs, coap_session_t *session)
{
	struct coaps_sess *sess = coap_session_get_app_data(session);

	if (sess != NULL)
		return sess;
	if ((sess = calloc(1, sizeof(*sess))) == NULL)
		return NULL;
	sess->s_cs = cs;
	sess->s_session = session;
	sess->s_start_ms = sess->s_last_ms = coaps_now_ms();
	TAILQ_INIT(&sess->s_xchgs);
	coaps_peer_text(session, sess->s_peer, sizeof(sess->s_peer),
	    sess->s_addr, sizeof(sess->s_addr));
	coap_address_copy(&sess->s_remote, coap_session_get_addr_remote(session));
	sess->s_ifindex = coap_session_get_ifindex(session);
	TAILQ_INSERT_TAIL(&cs->cs_sessions, sess, s_link);
	cs->cs_nsess++;
	metrics_coap_session(1);
	coap_session_set_app_data(session, sess);
	return sess;
}

static void
coaps_sess_free(struct coaps_sess *sess, int session_alive)
{
	struct coaps *cs = sess->s_cs;

	coaps_sess_end(sess, session_alive);
	coap_block_forget(cs->cs_blocks, sess);
	metrics_coap_blocks(coap_block_count(cs->cs_blocks));
	TAILQ_REMOVE(&cs->cs_sessions, sess, s_link);
	cs->cs_nsess--;
	metrics_coap_session(-1);
	if (session_alive)
		coap_session_set_app_data(sess->s_session, NULL);
	free(sess->s_last);
	free(sess);
}

/* Sessions from addr now (the table is bounded by max_sessions). */
static long
coaps_sessions_from(const struct coaps *cs, const char *addr)
{
	const struct coaps_sess	*s;
	long			 n = 0;

	TAILQ_FOREACH(s, &cs->cs_sessions, s_link)
		if (strcmp(s->s_addr, addr) == 0)
			n++;
	return n;
}

static int
coaps_on_event(coap_session_t *session, const coap_event_t event)
{
	struct coaps_sess *sess = coap_session_get_app_data(session);

	switch (event) {
	/*
	 * SERVER_SESSION_NEW comes with the first ClientHello, before its
	 * cookie is checked: a spoofed source gets no state of ours. It is
	 * made at the first handshake with a valid cookie (coaps_on_ssl).
	 */
	case COAP_EVENT_DTLS_CONNECTED:
		if (sess != NULL && !sess->s_established) {
			sess->s_established = 1;
			sess->s_last_ms = coaps_now_ms();
			metrics_coap_handshake("ok");
			log_debug("coap peer=%s: DTLS session up (%s)",
			    sess->s_peer, coaps_ssl(session) != NULL ?
			    SSL_get_version(coaps_ssl(session)) : "?");
		}
		break;
	case COAP_EVENT_DTLS_ERROR:
		if (sess != NULL && !sess->s_established) {
			metrics_coap_handshake("failed");
			log_info("coap peer=%s: the DTLS handshake failed",
			    sess->s_peer);
		}
		if (sess != NULL)
			coaps_sess_end(sess, 1);
		break;
	case COAP_EVENT_DTLS_CLOSED:
	case COAP_EVENT_SESSION_CLOSED:
	case COAP_EVENT_SESSION_FAILED:
		if (sess != NULL)
			coaps_sess_end(sess, 1);
		break;
	case COAP_EVENT_SERVER_SESSION_DEL:
		if (sess != NULL)
			coaps_sess_free(sess, 1);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- DTLS --------------------------------------------------------------- */

SSL *
coaps_ssl(coap_session_t *session)
{
	coap_tls_library_t lib;
	void *tls = coap_session_get_tls(session, &lib);

	return lib == COAP_TLS_LIBRARY_OPENSSL ? tls : NULL;
}

/*
 * Each handshake's SSL, after libcoap's own set-up: admission by the
 * session limits, then our trust in place of libcoap's (the "tls"
 * section's anchors and CRLs; a certificate asked for, not demanded: /crts
 * serves a device that has none yet), and the server's chain. 0 fails the
 * handshake.
 */
static int
coaps_on_ssl(void *tls_session, coap_dtls_pki_t *setup)
{
	SSL			*ssl = tls_session;
	coap_session_t		*session = SSL_get_app_data(ssl);
	struct coaps		*cs;
	struct coaps_sess	*sess;

	if (session == NULL)
		return 0;
	cs = coap_get_app_data(coap_session_get_context(session));
	if ((sess = coaps_sess_of(cs, session)) == NULL)
		return 0;
	if ((long)cs->cs_nsess > cs->cs_cfg.max_sessions ||
	    coaps_sessions_from(cs, sess->s_addr) >
	    cs->cs_cfg.max_sessions_per_address) {
		metrics_coap_handshake("refused");
		log_info("coap peer=%s: refused: %zu sessions open (%ld from "
		    "this address; limits %ld and %ld)", sess->s_peer,
		    cs->cs_nsess, coaps_sessions_from(cs, sess->s_addr),
		    cs->cs_cfg.max_sessions,
		    cs->cs_cfg.max_sessions_per_address);
		/* libcoap frees a session whose set-up fails without an
		 * event: forget it now. */
		coaps_sess_free(sess, 1);
		return 0;
	}
	if (cs->cs_trust != NULL) {
		if (cs->cs_client_extra != NULL) {
			cs->cs_sslctx = SSL_get_SSL_CTX(ssl);
			if (clientchain_attach_stack(cs->cs_sslctx,
			    cs->cs_client_extra) == -1) {
				cs->cs_client_extra = NULL;
				return 0;
			}
			cs->cs_client_extra = NULL;
		} else if (SSL_get_SSL_CTX(ssl) != cs->cs_sslctx)
			log_warn("coap: a second SSL_CTX: leaf-only client "
			    "certificates will not verify there");
		if (SSL_set1_verify_cert_store(ssl, cs->cs_trust) != 1)
			return 0;
		/* OpenSSL's verdict stands: a certificate that does not
		 * verify ends the handshake with an alert, as on HTTPS. */
		SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
		    NULL);
		SSL_set_verify_depth(ssl, (int)cs->cs_verify_depth);
	} else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	for (int i = 0; cs->cs_chain != NULL &&
	    i < sk_X509_num(cs->cs_chain); i++)
		if (SSL_add1_chain_cert(ssl, sk_X509_value(cs->cs_chain,
		    i)) != 1)
			return 0;
	/* SSL_add1_chain_cert leaves an error queued even when it works
	 * (see coaps_run): libcoap would take it for the handshake's. */
	ERR_clear_error();
	return 1;
}

static int
coaps_read(const char *path, unsigned char **out, size_t *len)
{
	char err[512];

	if (pki_read_file(path, out, len, err, sizeof(err)) == 0)
		return 0;
	log_err("coap: %s", err);
	return -1;
}

/* The client trust of the "tls" section: anchors, and CRLs checked on
 * the leaf (as listener.c's: an issuer without a CRL there fails). */
static int
coaps_trust(struct coaps *cs, const struct config *cfg)
{
	const struct cfg_tls	*tls = &cfg->tls;
	STACK_OF(X509_CRL)	*crls;
	char			 err[512];
	int			 rc = 0;

	if (tls->client_ca == NULL)
		return 0;
	if ((cs->cs_trust = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(cs->cs_trust, tls->client_ca) != 1) {
		log_ssl_errors(LOG_LEVEL_ERR, tls->client_ca);
		return -1;
	}
	cs->cs_verify_depth = tls->client_verify_depth;
	/* Leaf-only devices, as on the HTTPS side (clientchain.h). */
	if ((cs->cs_client_extra = clientchain_collect(cfg, err,
	    sizeof(err))) == NULL) {
		log_err("coap: client certificate intermediates: %s", err);
		return -1;
	}
	if (tls->client_crl == NULL)
		return 0;
	if ((crls = pki_load_crls(tls->client_crl, err, sizeof(err))) == NULL) {
		log_err("coap: %s", err);
		return -1;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		if (X509_STORE_add_crl(cs->cs_trust,
		    sk_X509_CRL_value(crls, i)) != 1)
			rc = -1;
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_STORE_set_flags(cs->cs_trust, X509_V_FLAG_CRL_CHECK);
	return rc;
}

static int
coaps_pki(struct coaps *cs, const struct config *cfg)
{
	const struct cfg_tls	*tls = &cfg->tls;
	coap_dtls_pki_t		 pki;
	STACK_OF(X509)		*certs;
	char			 err[512];

	if (coaps_read(tls->certificate, &cs->cs_cert_pem,
	    &cs->cs_cert_len) == -1 ||
	    coaps_read(tls->key, &cs->cs_key_pem, &cs->cs_key_len) == -1 ||
	    (tls->client_ca != NULL && coaps_read(tls->client_ca,
	    &cs->cs_ca_pem, &cs->cs_ca_len) == -1) ||
	    coaps_trust(cs, cfg) == -1)
		return -1;
	if ((certs = pki_load_certs(tls->certificate, err, sizeof(err))) ==
	    NULL) {
		log_err("coap: %s", err);
		return -1;
	}
	/* The leaf is libcoap's; the rest go with every handshake. */
	X509_free(sk_X509_shift(certs));
	cs->cs_chain = certs;
	memset(&pki, 0, sizeof(pki));
	pki.version = COAP_DTLS_PKI_SETUP_VERSION;
	pki.verify_peer_cert = cs->cs_trust != NULL;
	pki.cert_chain_validation = 1;
	pki.cert_chain_verify_depth = (uint8_t)tls->client_verify_depth;
	pki.additional_tls_setup_call_back = coaps_on_ssl;
	pki.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
	pki.pki_key.key.pem_buf.public_cert = cs->cs_cert_pem;
	pki.pki_key.key.pem_buf.public_cert_len = cs->cs_cert_len;
	pki.pki_key.key.pem_buf.private_key = cs->cs_key_pem;
	pki.pki_key.key.pem_buf.private_key_len = cs->cs_key_len;
	/* The names of the acceptable CAs in the CertificateRequest. */
	pki.pki_key.key.pem_buf.ca_cert = cs->cs_ca_pem;
	pki.pki_key.key.pem_buf.ca_cert_len = cs->cs_ca_len;
	if (coap_context_set_pki(cs->cs_ctx, &pki) != 1) {
		log_err("coap: libcoap refused the certificate or key of "
		    "\"tls\"");
		return -1;
	}
	return 0;
}

/* ---- limits ------------------------------------------------------------- */

/*
 * What the sweep ends: a handshake older than handshake_timeout; an
 * established session idle for idle_timeout with nothing waiting (libcoap's
 * own idle timer does that too, when nothing holds the session).
 */
static const char *
coaps_sweep_why(const struct coaps *cs, const struct coaps_sess *sess,
    uint64_t now)
{
	if (sess->s_dropped)
		return NULL;
	if (!sess->s_established && coap_session_get_state(sess->s_session) !=
	    COAP_SESSION_STATE_ESTABLISHED && now - sess->s_start_ms >=
	    (uint64_t)cs->cs_cfg.handshake_timeout_ms)
		return "handshake";
	if (sess->s_established && TAILQ_EMPTY(&sess->s_xchgs) &&
	    now - sess->s_last_ms >= (uint64_t)cs->cs_cfg.idle_timeout_ms)
		return "idle";
	return NULL;
}

static void
coaps_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval	 second = { 1, 0 };
	struct coaps			*cs = arg;
	struct coaps_sess		*sess, *next;
	uint64_t			 now = coaps_now_ms();
	const char			*why;

	for (sess = TAILQ_FIRST(&cs->cs_sessions); sess != NULL;
	    sess = next) {
		next = TAILQ_NEXT(sess, s_link);
		/* A handshake that failed in its first flight is freed by
		 * libcoap without an event: ask whether it still lives. */
		if (!sess->s_established && coap_session_get_by_peer(
		    cs->cs_ctx, &sess->s_remote, sess->s_ifindex) !=
		    sess->s_session) {
			coaps_sess_free(sess, 0);
			continue;
		}
		if ((why = coaps_sweep_why(cs, sess, now)) == NULL)
			continue;
		if (strcmp(why, "handshake") == 0) {
			metrics_coap_handshake("timeout");
			log_info("coap peer=%s: no DTLS session after %ld ms: "
			    "dropped", sess->s_peer,
			    cs->cs_cfg.handshake_timeout_ms);
		} else if (strcmp(why, "idle") == 0)
			log_debug("coap peer=%s: idle for %ld ms: closed",
			    sess->s_peer, cs->cs_cfg.idle_timeout_ms);
		sess->s_dropped = 1;	/* once; libcoap frees it later */
		coap_session_disconnected(sess->s_session,
		    COAP_NACK_TLS_FAILED);
	}
	if (coap_block_expire(cs->cs_blocks, now) > 0)
		metrics_coap_blocks(coap_block_count(cs->cs_blocks));
	evtimer_add(cs->cs_sweep, &second);
	coaps_arm(cs);
}

/* ---- the listener ------------------------------------------------------- */

static int
coaps_endpoint(struct coaps *cs, const char *listen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	coap_address_t		 addr;
	char			 text[80];
	int			 fd;

	if (config_parse_address(listen, &ss, &sslen) != 0)
		return -1;
	/*
	 * Port 0: the kernel's choice, taken here (libcoap's endpoint does not
	 * tell its port); another process could take it in between, which
	 * only tests ask for.
	 */
	if ((ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port) == 0) {
		if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)&ss, sslen) == -1 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
			log_err("coap: %s: %s", listen, strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
	}
	coap_address_init(&addr);
	addr.size = sslen;
	memcpy(&addr.addr, &ss, sslen);
	if (coap_new_endpoint(cs->cs_ctx, &addr, COAP_PROTO_DTLS) == NULL) {
		log_err("coap: cannot listen on %s (DTLS)", listen);
		return -1;
	}
	netbind_addr_text((struct sockaddr *)&ss, text, sizeof(text));
	log_info("coap listening on %s (DTLS)", text);
	return 0;
}

struct coaps *
coaps_new(struct server *srv, struct event_base *base,
    const struct config *cfg)
{
	static const struct timeval	 second = { 1, 0 };
	static int			 started;
	struct coaps			*cs;
	struct coap_block_limits	 lim;

	if (!started) {
		coap_startup();
		coap_set_log_handler(coaps_on_log);
		started = 1;
	}
	coap_set_log_level(log_wants(LOG_LEVEL_DEBUG) ? LOG_INFO :
	    LOG_WARNING);
	if (!coap_dtls_is_supported()) {
		log_err("coap: this libcoap has no DTLS");
		return NULL;
	}
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	cs->cs_srv = srv;
	cs->cs_base = base;
	cs->cs_cfg = cfg->coap;
	cs->cs_cfg.listen = NULL;
	TAILQ_INIT(&cs->cs_sessions);
	memset(&lim, 0, sizeof(lim));
	lim.max_body = (size_t)cfg->coap.max_body_bytes;
	lim.max_sequences = (size_t)cfg->coap.max_block_sequences;
	lim.max_per_session = (size_t)cfg->coap.max_block_sequences_per_session;
	lim.timeout_ms = (uint64_t)cfg->coap.block_timeout_ms;
	if ((cs->cs_blocks = coap_block_new(&lim)) == NULL ||
	    (cs->cs_ctx = coap_new_context(NULL)) == NULL)
		goto fail;
	coap_set_app_data(cs->cs_ctx, cs);
	coap_register_event_handler(cs->cs_ctx, coaps_on_event);
	/* Block1 is ours (coap_block.c: bounded); Block2 is answered from
	 * the session's last answer, per request. */
	coap_context_set_block_mode(cs->cs_ctx, 0);
	coap_context_set_session_timeout(cs->cs_ctx,
	    (unsigned)((cfg->coap.idle_timeout_ms + 999) / 1000));
	coap_context_set_max_handshake_sessions(cs->cs_ctx,
	    (unsigned)cfg->coap.max_sessions);
	coap_context_set_max_idle_sessions(cs->cs_ctx,
	    (unsigned)cfg->coap.max_sessions);
	if (coaps_pki(cs, cfg) == -1 ||
	    coaps_resources(cs, cfg) == -1 ||
	    coaps_endpoint(cs, cfg->coap.listen) == -1)
		goto fail;
	if ((cs->cs_io = event_new(base, coap_context_get_coap_fd(cs->cs_ctx),
	    EV_READ | EV_PERSIST, coaps_on_io, cs)) == NULL ||
	    (cs->cs_timer = evtimer_new(base, coaps_on_timer, cs)) == NULL ||
	    (cs->cs_sweep = evtimer_new(base, coaps_on_sweep, cs)) == NULL ||
	    event_add(cs->cs_io, NULL) == -1)
		goto fail;
	evtimer_add(cs->cs_sweep, &second);
	coaps_arm(cs);
	return cs;
fail:
	coaps_free(cs);
	return NULL;
}

void
coaps_drain(struct coaps *cs)
{
	if (cs != NULL)
		cs->cs_draining = 1;
}

size_t
coaps_sessions(const struct coaps *cs)
{
	return cs != NULL ? cs->cs_nsess : 0;
}

void
coaps_free(struct coaps *cs)
{
	struct coaps_sess *sess;

	if (cs == NULL)
		return;
	if (cs->cs_io != NULL)
		event_free(cs->cs_io);
	if (cs->cs_timer != NULL)
		event_free(cs->cs_timer);
	if (cs->cs_sweep != NULL)
		event_free(cs->cs_sweep);
	/*
	 * The waiting requests are left first, their asyncs freed while
	 * the context lives: coap_free_context frees every async before it
	 * deletes the sessions, whose events would otherwise reach them.
	 * libcoap then ends its sessions (close_notify); each is deleted
	 * with its event, and what we keep of it with it.
	 */
	TAILQ_FOREACH(sess, &cs->cs_sessions, s_link)
		coaps_sess_end(sess, 1);
	if (cs->cs_ctx != NULL)
		coap_free_context(cs->cs_ctx);
	while ((sess = TAILQ_FIRST(&cs->cs_sessions)) != NULL)
		coaps_sess_free(sess, 0);
	coap_block_free(cs->cs_blocks);
	X509_STORE_free(cs->cs_trust);
	sk_X509_pop_free(cs->cs_chain, X509_free);
	sk_X509_pop_free(cs->cs_client_extra, X509_free);
	if (cs->cs_key_pem != NULL)
		OPENSSL_cleanse(cs->cs_key_pem, cs->cs_key_len);
	free(cs->cs_key_pem);
	free(cs->cs_cert_pem);
	free(cs->cs_ca_pem);
	free(cs->cs_res);
	free(cs);
}
