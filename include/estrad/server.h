/*
 * server: the modules of one running configuration, from start to stop
 * (src/server.c): build them, reload, drain, free. One request's path is
 * est.c's (est.h).
 */
#ifndef ESTRAD_SERVER_H
#define ESTRAD_SERVER_H

#include <stddef.h>
#include <event2/event.h>

#include "estrad/config.h"

struct server;

/* Build every module for cfg (takes ownership of cfg) and start
 * listening. NULL after logging why. */
struct server *server_new(struct event_base *base, struct config *cfg);
void server_free(struct server *srv);
/*
 * SIGHUP: load the config file again. A sound one applies to new
 * connections and requests: routes, policies and rates, the TLS
 * certificate, key, trust anchors and CRLs, limits, upstream settings and
 * RA credentials, local CAs, user files and log settings; requests in
 * flight keep the config they started with. A changed set of upstreams,
 * upstream URLs or local CAs refuses the reload (restart); listen
 * addresses, state_dir, cache, queue, admin, auth and audit settings stay as
 * started (a warning says so). A config with any error changes nothing.
 * 0 or -1.
 */
int server_reload(struct server *srv);
/*
 * SIGTERM: stop accepting; requests in flight go on, and their answers
 * carry Connection: close. A connection waiting for a request (kept alive
 * after an answer, or new) waits at most SERVER_DRAIN_GRACE_MS more (or
 * shutdown_timeout, if shorter): a request already on its way is
 * answered, and then the connection closes.
 */
#define SERVER_DRAIN_GRACE_MS	1000
void server_drain(struct server *srv);
/* Client connections still open. */
size_t server_connections(const struct server *srv);
/* Requests not yet answered (or abandoned), and the queue's sends to a
 * CA under way. */
long server_in_flight(const struct server *srv);
/* The configured shutdown_timeout, in milliseconds. */
long server_shutdown_ms(const struct server *srv);

#endif
