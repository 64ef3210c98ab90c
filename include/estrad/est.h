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
/* SIGHUP: reload what can change without a restart (today: users). */
void est_server_reload(struct est_server *srv);

#endif
