/*
 * netbind: what the EST listener and the admin listener share: binding an
 * address for evhttp (IPv6 sockets IPv6-only, close-on-exec, accept()
 * paused for a second when descriptors run out instead of spinning), the
 * text of an address, and a server-side TLS bufferevent for evhttp.
 */
#ifndef ESTRAD_NETBIND_H
#define ESTRAD_NETBIND_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

/*
 * Parse "ipv4:port" or "[ipv6]:port" (port 0 allowed) for the listeners
 * and their config keys. 0 or -1.
 */
int config_parse_address(const char *text, struct sockaddr_storage *ss,
    socklen_t *sslen);
/* "1.2.3.4:443" or "[::1]:443". */
void netbind_addr_text(const struct sockaddr *sa, char *out, size_t outlen);
/* The peer of socket fd as netbind_addr_text writes it; "?" if unknown. */
void netbind_peer_text(int fd, char *out, size_t outlen);

/*
 * Bind addr ("host:port", port 0 allowed) and serve it with http. Returns
 * the bound socket with its real address in text, or NULL with a reason
 * in err (that does not repeat addr).
 */
struct evhttp_bound_socket *netbind_listen(struct event_base *base,
    struct evhttp *http, const char *addr, int backlog, char *text,
    size_t textlen, char *err, size_t errlen);

/* Stop serving bound (closing its socket) and forget its pause timer;
 * every bound socket goes this way, before evhttp_free too. */
void netbind_unbind(struct evhttp *http, struct evhttp_bound_socket *bound);

/* A bufferevent accepting TLS on ssl (taken: freed on failure), for an
 * evhttp bevcb. NULL on failure. */
struct bufferevent *netbind_tls_bev(struct event_base *base, SSL *ssl);

/* Send TLS close_notify on bev (evhttp's bufferevent of a connection, TLS
 * or not) if the handshake is done and every byte written has left; else
 * nothing. Call it before evhttp frees the connection. */
void netbind_close_notify(struct bufferevent *bev);
/* The same on ssl alone, whatever is still unwritten: for a connection
 * being cut (a deadline). NULL is a no-op. */
void netbind_ssl_close_notify(SSL *ssl);

/*
 * The evhttp connection that owns bev, or NULL (not yet made, or freed).
 * libevent 2.1 has no such lookup and no hook at the accept: evhttp is
 * found as the bufferevent's callback argument (what it has always set),
 * and trusted only if it owns this very bufferevent. After
 * bufferevent_free the callbacks are cleared: NULL.
 */
struct evhttp_connection *netbind_evcon_of(struct bufferevent *bev);

/* evhttp's close callback for a connection that needs nothing else on
 * close: netbind_close_notify. A module that sets a close callback of its
 * own calls netbind_close_notify in it, and puts this one back when done. */
void netbind_on_close(struct evhttp_connection *evcon, void *arg);

#endif
