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
 * How a transfer ended, for the store-and-forward queue and the cache:
 * ANSWERED is any answer worth relaying; UNAVAILABLE means no URL of the
 * upstream gave one (unreachable, TLS, timeout, or the CA's own 502, 503
 * or 504 from every URL tried); BUSY is a CA busy with every slot estrad
 * gives it, for longer than the request could wait (503 + Retry-After,
 * upstream_admit.c); REFUSED is a TLS handshake refused for our own
 * configuration (the CA's alert against our RA certificate, or its
 * certificate failing our check; a 502 that waiting will not mend, so
 * not queued, upstream_refusal.c); ERROR is estrad's own trouble.
 */
enum upstream_outcome { UPSTREAM_ANSWERED, UPSTREAM_UNAVAILABLE,
	UPSTREAM_BUSY, UPSTREAM_ERROR, UPSTREAM_REFUSED };

/*
 * Called once per transfer that was not cancelled. The callee takes the
 * reply (and must est_reply_clear it); upstream_status is the CA's HTTP
 * status, or 0 if none came. The transfer is freed after the callback
 * returns: do not cancel it from here.
 */
typedef void (*upstream_done_cb)(void *arg, struct est_reply *reply,
    long upstream_status, enum upstream_outcome outcome);

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
 * Start a transfer on the first URL of the upstream that its circuit
 * breaker lets be tried, or, when that URL has as many in flight as its
 * concurrency limit allows, put it in line for a slot (upstream_admit.c);
 * when that URL fails without an answer, the next one is tried (each at
 * most once), and the URL's breaker learns of it (backoff.h). Returns the
 * transfer (its callback comes later, also for a 503 after waiting
 * max_wait), or NULL with *refusal and *outcome filled: 503 + Retry-After
 * (BUSY) when it cannot wait, 502 (UNAVAILABLE) when every URL's breaker
 * is open, 500 (ERROR) when curl cannot be set up.
 */
struct upstream_xfer *upstream_submit(struct upstream_ctx *ctx,
    const struct upstream_request *ureq, struct est_reply *refusal,
    enum upstream_outcome *outcome);
/*
 * SIGHUP, all or nothing: prepare checks that cfg has the same upstreams
 * with the same URLs and reads their RA certificates, keys and CA bundles
 * (NULL, logged, on any problem); then either commit (the new credentials
 * and every upstream's settings from cfg, which must stay alive until the
 * next reload) or abort.
 */
struct upstream_reload;
struct upstream_reload *upstream_reload_prepare(struct upstream_ctx *ctx,
    const struct config *cfg);
void upstream_reload_commit(struct upstream_ctx *ctx,
    const struct config *cfg, struct upstream_reload *r);
void upstream_reload_abort(struct upstream_ctx *ctx,
    struct upstream_reload *r);
/*
 * 1 when the last TLS handshake with upstream's CA failed for our
 * configuration (a REFUSED outcome, not since mended), with "upstream
 * NAME: what" in why (for /readyz; why may be NULL); else 0.
 */
int upstream_refused(const struct upstream_ctx *ctx, size_t upstream,
    char *why, size_t whylen);
/* Milliseconds until some URL of upstream may be tried (0: now). */
long upstream_wait_ms(struct upstream_ctx *ctx, size_t upstream);
/* A stable name of the upstream and CA label, for the cache's rows. */
void upstream_source(const struct config *cfg, size_t upstream,
    const char *label, char *out, size_t outlen);
/*
 * What a transfer showed, for the queue's record (docs/offline.md).
 * reached: some attempt of it reached the CA, which then may have acted
 * on it: the CA answered with an HTTP status, or curl had written bytes
 * of the request's body to the connection (CURLINFO_SIZE_UPLOAD_T > 0;
 * a timeout or a broken connection after that counts). A refused
 * connection, a name not found, a TLS handshake that failed, a request
 * that never left the wait for a slot: not reached. detail: the last
 * attempt that did not succeed, as "URL: what", what being curl's error
 * (TLS's reason included) or the CA's status line; "" when the last
 * attempt got a 2xx. Never a header field or a credential; the CA's
 * text is quoted (log_quote).
 */
#define UPSTREAM_DETAIL_MAX	256
struct upstream_report {
	int	reached;
	char	detail[UPSTREAM_DETAIL_MAX];
};
/* Only from the transfer's done callback (it is freed afterwards). */
void upstream_report(const struct upstream_xfer *x,
    struct upstream_report *r);

/* An operator's retry (`estrad queue retry`): each URL of upstream whose
 * breaker is open may have its trial now, not after its backoff. */
void upstream_try_now(struct upstream_ctx *ctx, size_t upstream);

/* Abort a transfer whose client went away; no callback follows. */
void upstream_cancel(struct upstream_xfer *xfer);

#endif
