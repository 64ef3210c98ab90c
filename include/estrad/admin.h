/*
 * admin: the operator's listener, separate from the EST one (loopback by
 * default, optional TLS): GET /healthz (alive), /readyz (serving: ready()
 * says why not) and /metrics (Prometheus text format). Plain evhttp on
 * the same event loop; it never touches EST requests.
 */
#ifndef ESTRAD_ADMIN_H
#define ESTRAD_ADMIN_H

#include <stddef.h>
#include <event2/event.h>

#include "estrad/config.h"
#include "estrad/metrics.h"

struct admin;

struct admin_probe {
	/* 1 ready; 0 not, with a one-line reason in why. */
	int	(*ready)(void *arg, char *why, size_t whylen);
	/* Fill the scrape-time gauges. */
	void	(*gauges)(void *arg, struct metrics_gauges *g);
	void	*arg;
};

/* NULL with a reason in err. cfg->admin.enabled must be set. Logs
 * "admin listening on ADDR:PORT" (port 0: the kernel's choice). */
struct admin *admin_new(struct event_base *base, const struct config *cfg,
    const struct admin_probe *probe, char *err, size_t errlen);
void admin_free(struct admin *a);

#endif
