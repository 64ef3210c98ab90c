/*
 * netbind: binding and TLS plumbing shared by listener.c (EST) and
 * admin.c (health, metrics).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/netbind.h"

/* How long to stop accepting when out of file descriptors. */
#define NETBIND_PAUSE_MS	1000

void
netbind_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
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
netbind_on_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/*
 * accept() failed. Out of descriptors (EMFILE, ENFILE), retrying at once
 * would spin the loop and flood the log: the listener pauses for a while
 * so connections can finish and free some. (libevent hands us evhttp's
 * callback argument, not ours, so the pause needs no state of ours: a
 * one-shot timer carries the listener.)
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

	if (getsockname(evconnlistener_get_fd(ecl), (struct sockaddr *)&ss,
	    &sslen) == 0)
		netbind_addr_text((struct sockaddr *)&ss, text, sizeof(text));
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warn("accept on %s: %s", text,
		    evutil_socket_error_to_string(err));
		return;
	}
	log_warn("accept on %s: %s; not accepting for %d ms", text,
	    evutil_socket_error_to_string(err), NETBIND_PAUSE_MS);
	evconnlistener_disable(ecl);
	if (event_base_once(evconnlistener_get_base(ecl), -1, EV_TIMEOUT,
	    netbind_on_resume, ecl, &pause) == -1)
		evconnlistener_enable(ecl);
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
