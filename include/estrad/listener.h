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

struct listener;

/*
 * Build the TLS context and bind every cfg->listen address; logs
 * "listening on HOST:PORT" for each. Returns NULL after logging why.
 */
struct listener *listener_new(struct event_base *base,
    const struct config *cfg,
    void (*on_request)(struct evhttp_request *, void *), void *arg);
void listener_free(struct listener *lst);
/* SIGHUP: a new TLS context and limits for new connections. 0, or -1
 * (logged) with the old ones kept. */
int listener_reload(struct listener *lst, const struct config *cfg);
/* Stop accepting (SIGTERM); open connections are served on. */
void listener_stop_accepting(struct listener *lst);

#endif
