/*
 * netbind: binding and TLS plumbing shared by listener.c (EST) and
 * admin.c (health, metrics).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "estrad/config.h"
#include "estrad/httpframe.h"
#include "estrad/log.h"
#include "estrad/netbind.h"

/* How long to stop accepting when out of file descriptors. */
#define NETBIND_PAUSE_MS	1000

/*
 * "a.b.c.d:port" or "[v6]:port"; port 0 asks the kernel for a free one.
 * (evutil_parse_sockaddr_port refuses port 0, which tests and labs use.)
 */
int
config_parse_address(const char *text, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	char		 host[64];
	const char	*colon = strrchr(text, ':');
	char		*end;
	long		 port;
	size_t		 hlen;
	int		 bracketed = 0;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return -1;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		text++;
		hlen -= 2;
		bracketed = 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (!bracketed && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
		return 0;
	}
	if (bracketed && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
		return 0;
	}
	return -1;
}

void
netbind_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(s4->sin_port));
	} else	/* no address to show (a Unix socket, in tests) */
		snprintf(out, outlen, "?");
}

void
netbind_peer_text(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage	ss;
	socklen_t		sslen = sizeof(ss);

	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0)
		netbind_addr_text((struct sockaddr *)&ss, out, outlen);
	else
		snprintf(out, outlen, "?");
}

/*
 * The pause timers. libevent hands the accept-error callback evhttp's
 * argument, not ours, so a paused listener is found here by its pointer;
 * the timer is owned (not event_base_once) so that netbind_unbind() can
 * cancel it before the listener is freed.
 */
#define NETBIND_MAX_PAUSES	32

static struct {
	struct evconnlistener	*np_ecl;
	struct event		*np_ev;
} netbind_pauses[NETBIND_MAX_PAUSES];

static void
netbind_on_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/* The pause timer of ecl, made on first use; NULL if none can be. */
static struct event *
netbind_pause_of(struct evconnlistener *ecl)
{
	size_t free_slot = NETBIND_MAX_PAUSES;

	for (size_t i = 0; i < NETBIND_MAX_PAUSES; i++) {
		if (netbind_pauses[i].np_ecl == ecl)
			return netbind_pauses[i].np_ev;
		if (netbind_pauses[i].np_ecl == NULL &&
		    free_slot == NETBIND_MAX_PAUSES)
			free_slot = i;
	}
	if (free_slot == NETBIND_MAX_PAUSES)
		return NULL;
	netbind_pauses[free_slot].np_ev = evtimer_new(
	    evconnlistener_get_base(ecl), netbind_on_resume, ecl);
	if (netbind_pauses[free_slot].np_ev != NULL)
		netbind_pauses[free_slot].np_ecl = ecl;
	return netbind_pauses[free_slot].np_ev;
}

/*
 * accept() failed. Out of descriptors (EMFILE, ENFILE), retrying at once
 * would spin the loop and flood the log: the listener pauses for a while
 * so connections can finish and free some.
 */
static void
netbind_on_accept_error(struct evconnlistener *ecl, void *arg)
{
	int		err = EVUTIL_SOCKET_ERROR();
	struct timeval	pause = { NETBIND_PAUSE_MS / 1000,
	    (NETBIND_PAUSE_MS % 1000) * 1000 };
	char		text[80] = "?";
	struct sockaddr_storage ss;
	socklen_t	sslen = sizeof(ss);
	struct event	*ev;

	if (getsockname(evconnlistener_get_fd(ecl), (struct sockaddr *)&ss,
	    &sslen) == 0)
		netbind_addr_text((struct sockaddr *)&ss, text, sizeof(text));
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warn("accept on %s: %s", text,
		    evutil_socket_error_to_string(err));
		return;
	}
	if ((ev = netbind_pause_of(ecl)) == NULL) {
		log_warn("accept on %s: %s", text,
		    evutil_socket_error_to_string(err));
		return;
	}
	log_warn("accept on %s: %s; not accepting for %d ms", text,
	    evutil_socket_error_to_string(err), NETBIND_PAUSE_MS);
	evconnlistener_disable(ecl);
	if (evtimer_add(ev, &pause) == -1)
		evconnlistener_enable(ecl);
}

void
netbind_unbind(struct evhttp *http, struct evhttp_bound_socket *bound)
{
	struct evconnlistener *ecl = evhttp_bound_socket_get_listener(bound);

	for (size_t i = 0; i < NETBIND_MAX_PAUSES; i++)
		if (netbind_pauses[i].np_ecl == ecl) {
			event_free(netbind_pauses[i].np_ev);
			netbind_pauses[i].np_ecl = NULL;
			netbind_pauses[i].np_ev = NULL;
		}
	evhttp_del_accept_socket(http, bound);
}

struct evhttp_bound_socket *
netbind_listen(struct event_base *base, struct evhttp *http, const char *addr,
    int backlog, char *text, size_t textlen, char *err, size_t errlen)
{
	struct sockaddr_storage		 ss;
	socklen_t			 sslen, boundlen = sizeof(ss);
	struct evconnlistener		*ecl;
	struct evhttp_bound_socket	*bound;
	unsigned			 flags;
	int				 one = 1;

	if (config_parse_address(addr, &ss, &sslen) != 0) {
		snprintf(err, errlen, "not an address:port");
		return NULL;
	}
	flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC;
	/* "[::]:p" must not also claim IPv4, or "0.0.0.0:p" cannot bind. */
	if (ss.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	ecl = evconnlistener_new_bind(base, NULL, NULL, flags, backlog,
	    (struct sockaddr *)&ss, (int)sslen);
	if (ecl == NULL) {
		snprintf(err, errlen, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return NULL;
	}
	if ((bound = evhttp_bind_listener(http, ecl)) == NULL) {
		evconnlistener_free(ecl);
		snprintf(err, errlen, "cannot attach to the HTTP server");
		return NULL;
	}
	evconnlistener_set_error_cb(ecl, netbind_on_accept_error);
	/* Answers are written in pieces (headers, body, TLS records): with
	 * Nagle each small write after the first waits for the client's
	 * delayed ACK, ~40 ms per answer. Linux copies TCP_NODELAY from the
	 * listening socket to the sockets it accepts. */
	if (setsockopt(evconnlistener_get_fd(ecl), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) != 0)
		log_warn("TCP_NODELAY: %s", strerror(errno));
	/* Port 0 asks the kernel for one: say which, for tests and labs. */
	getsockname(evconnlistener_get_fd(ecl), (struct sockaddr *)&ss,
	    &boundlen);
	netbind_addr_text((struct sockaddr *)&ss, text, textlen);
	return bound;
}

struct bufferevent *
netbind_tls_bev(struct event_base *base, SSL *ssl)
{
	struct bufferevent *bev;

	/* On failure libevent (2.1.9 and later) has freed ssl already, as
	 * BEV_OPT_CLOSE_ON_FREE asks: freeing it here too would free it
	 * twice (and count its connection closed twice). */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	/* Many clients close without close_notify; that is not an error
	 * once the response is out. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * The end of a TLS connection is a close_notify (RFC 8446 §6.1, RFC 5246
 * §7.2.1), also in reply to the client's own. libevent 2.1 frees an SSL
 * without SSL_shutdown, and evhttp shuts the socket (SHUT_WR) as soon as
 * it has freed the bufferevent, so the alert must leave before: from
 * evhttp's close callback, the one hook it runs first. Not while part of
 * an answer is still unwritten (the alert would cut it), nor after a fatal
 * alert or an unfinished handshake (SSL_is_init_finished is false then).
 * One try: on a full socket buffer the alert is lost, as the connection
 * is anyway. Sending it also keeps the session resumable.
 */
void
netbind_ssl_close_notify(SSL *ssl)
{
	if (ssl == NULL || !SSL_is_init_finished(ssl) ||
	    (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
		return;
	if (SSL_shutdown(ssl) < 0)
		ERR_clear_error();
}

void
netbind_close_notify(struct bufferevent *bev)
{
	struct bufferevent *tls = httpframe_bev_under(bev);

	if (tls == NULL ||
	    evbuffer_get_length(bufferevent_get_output(tls)) > 0 ||
	    (tls != bev && evbuffer_get_length(bufferevent_get_output(bev)) > 0))
		return;
	netbind_ssl_close_notify(bufferevent_openssl_get_ssl(tls));
}

struct evhttp_connection *
netbind_evcon_of(struct bufferevent *bev)
{
	struct evhttp_connection	*evcon;
	void				*cbarg = NULL;

	if (bev == NULL)
		return NULL;
	bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
	evcon = cbarg;
	return evcon != NULL && evhttp_connection_get_bufferevent(evcon) == bev ?
	    evcon : NULL;
}

void
netbind_on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)arg;
	netbind_close_notify(evhttp_connection_get_bufferevent(evcon));
}
