/*
 * upstream: forwarding to upstream EST CAs over libcurl's multi interface,
 * driven by the daemon's libevent loop (one event per curl socket, one
 * timer), in the manner of curl's docs/examples/multi-event.c. No call
 * here blocks. One table maps curl outcomes to the client's HTTP status.
 */
#ifndef ESTRAD_UPSTREAM_H
#define ESTRAD_UPSTREAM_H

#include <stddef.h>
#include <event2/event.h>

#include "estrad/config.h"
#include "estrad/reply.h"
#include "estrad/router.h"

struct upstream_ctx;
struct upstream_xfer;

/*
 * Called once per transfer that was not cancelled. The callee takes the
 * reply (and must est_reply_clear it); upstream_status is the CA's HTTP
 * status, or 0 if none came. The transfer is freed after the callback
 * returns: do not cancel it from here.
 */
typedef void (*upstream_done_cb)(void *arg, struct est_reply *reply,
    long upstream_status);

struct upstream_request {
	size_t			 upstream;	/* index in cfg->upstreams */
	const char		*label;		/* at the CA, or NULL */
	enum est_op		 op;
	const char		*content_type;	/* POST only */
	const unsigned char	*body;		/* POST only; copied */
	size_t			 body_len;
	upstream_done_cb	 done;
	void			*arg;
};

struct upstream_ctx *upstream_ctx_new(struct event_base *base,
    const struct config *cfg);
void upstream_ctx_free(struct upstream_ctx *ctx);

/*
 * Start a transfer. Returns it, or NULL with *refusal filled (503 +
 * Retry-After when the upstream's max_in_flight is reached, 500 when curl
 * cannot be set up).
 */
struct upstream_xfer *upstream_submit(struct upstream_ctx *ctx,
    const struct upstream_request *ureq, struct est_reply *refusal);
/* Abort a transfer whose client went away; no callback follows. */
void upstream_cancel(struct upstream_xfer *xfer);

#endif
