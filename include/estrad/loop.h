/*
 * loop: the daemon's event loop, with two priorities so that work already
 * under way (timers, signals, the CA's sockets, a worker's hand-back) is
 * never stuck behind a burst of new client connections, and its lag.
 *
 * Events are made at LOOP_PRI_CLIENT, libevent's default on this base
 * (nactivequeues / 2); loop_control() raises one to LOOP_PRI_CONTROL.
 * Ready control events all run before any client event; client events
 * run for at most LOOP_CLIENT_SLICE_MS before the loop polls again, so a
 * hundred TLS handshakes ready at once do not hold it for a hundred
 * handshakes' time (docs/performance.md).
 */
#ifndef ESTRAD_LOOP_H
#define ESTRAD_LOOP_H

#include <event2/event.h>

enum { LOOP_PRI_CONTROL = 0, LOOP_PRI_CLIENT = 1, LOOP_NPRIORITIES = 2 };

#define LOOP_CLIENT_SLICE_MS	1

/* The daemon's base, priorities and slice set; NULL on failure. */
struct event_base *loop_base_new(void);

/* Make ev (not yet added, or not active) a control event. On a base
 * without priorities (unit tests) this changes nothing. */
void loop_control(struct event *ev);

/*
 * Loop lag: a control timer due every 100 ms; how late it fires is the
 * longest stretch the loop went without polling (metrics_loop_lag). NULL
 * out of memory.
 */
struct loop_lag;
struct loop_lag *loop_lag_new(struct event_base *base);
void loop_lag_free(struct loop_lag *lag);

#endif
