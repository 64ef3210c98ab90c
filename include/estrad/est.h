/*
 * est: the request path. A request enters from the listener and passes
 * router -> (auth) -> (policy) -> backend (upstream CA or local CA) ->
 * relay; every exit goes through one place that answers, writes the
 * access line and frees the request. The server struct ties the modules
 * of one running configuration together.
 */
#ifndef ESTRAD_EST_H
#define ESTRAD_EST_H

#include <stdint.h>
#include <event2/event.h>

#include "estrad/config.h"

struct est_server;

/* Build every module for cfg (takes ownership of cfg) and start
 * listening. NULL after logging why. */
struct est_server *est_server_new(struct event_base *base,
    struct config *cfg);
void est_server_free(struct est_server *srv);
/*
 * SIGHUP: load the config file again. A sound one applies to new
 * connections and requests: routes, policies and rates, the TLS
 * certificate, key, trust anchors and CRLs, limits, upstream settings and
 * RA credentials, local CAs, user files and log settings; requests in
 * flight keep the config they started with. A changed set of upstreams,
 * upstream URLs or local CAs refuses the reload (restart); listen
 * addresses, state_dir, cache, queue, admin and auth settings stay as
 * started (a warning says so). A config with any error changes nothing.
 * 0 or -1.
 */
int est_server_reload(struct est_server *srv);
/*
 * SIGTERM: stop accepting; requests in flight go on, and their answers
 * carry Connection: close. A connection waiting for a request (kept alive
 * after an answer, or new) waits at most EST_DRAIN_GRACE_MS more (or
 * shutdown_timeout, if shorter): a request already on its way is
 * answered, and then the connection closes.
 */
#define EST_DRAIN_GRACE_MS	1000
void est_server_drain(struct est_server *srv);
/* Client connections still open. */
size_t est_server_connections(const struct est_server *srv);
/* Requests not yet answered (or abandoned), and the queue's sends to a
 * CA under way. */
long est_server_in_flight(const struct est_server *srv);
/* The configured shutdown_timeout, in milliseconds. */
long est_server_shutdown_ms(const struct est_server *srv);

#endif
