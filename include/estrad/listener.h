/*
 * listener: the client-facing side. Owns the server TLS context (TLS 1.2
 * and 1.3 only, AEAD suites, the configured chain and key, optional client
 * certificate verification), the evhttp server with its limits, and the
 * bound sockets. Every complete request goes to one callback.
 */
#ifndef ESTRAD_LISTENER_H
#define ESTRAD_LISTENER_H

#include <event2/event.h>
#include <event2/http.h>

#include "estrad/config.h"

struct ssl_st;	/* OpenSSL's SSL: callers need not include <openssl/ssl.h> */

struct listener;

/*
 * Build the TLS context and bind every cfg->listen address; logs
 * "listening on HOST:PORT" for each. Returns NULL after logging why.
 */
struct listener *listener_new(struct event_base *base,
    const struct config *cfg,
    void (*on_request)(struct evhttp_request *, void *), void *arg);
void listener_free(struct listener *lst);
/*
 * SIGHUP, in two steps so that a reload is all or nothing: prepare builds
 * the new TLS context (NULL, logged, on error; nothing changed); commit
 * puts it and cfg's limits in place for new connections (open ones keep
 * their context).
 */
struct ssl_ctx_st *listener_reload_prepare(const struct config *cfg);
void listener_reload_commit(struct listener *lst, const struct config *cfg,
    struct ssl_ctx_st *ssl);
/*
 * SIGTERM: stop accepting; open connections are served on, but one that
 * waits for a request waits at most grace_ms more (connlimit_drain).
 */
void listener_drain(struct listener *lst, long grace_ms);
/* Client connections open (the drain waits for none to be left). */
size_t listener_connections(const struct listener *lst);

/*
 * The request deadlines (connlimit.h): a whole request on the connection
 * of ssl was read; its answer went out. NULL or a connection the listener
 * does not count: nothing.
 */
void listener_request_read(struct ssl_st *ssl);
void listener_answered(struct ssl_st *ssl);

/*
 * A 200 cacerts body from a CA (base64 certs-only PKCS#7): its CA
 * certificates complete leaf-only client chains from now on, reloads
 * included (at most 64; never trust anchors). Anything else: nothing.
 */
void listener_learn_cacerts(struct listener *lst, const unsigned char *body,
    size_t len);

#endif
