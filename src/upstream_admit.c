/*
 * upstream_admit: how many requests a CA is given at once, and what the
 * others do meanwhile. A storm in front, a steady stream behind:
 *
 *   - Each URL has an adaptive limit (conclimit.h) learnt from the times
 *     and timeouts of its answers, at most the upstream's max_in_flight
 *     ("concurrency": "fixed" keeps it at max_in_flight).
 *   - A request over the limit waits in the upstream's FIFO and is sent
 *     when a slot frees at the URL it will go to (the first its breakers
 *     allow: a backup URL is not used to absorb load, only failures).
 *   - It is refused with 503 + Retry-After only when it cannot wait: the
 *     FIFO holds max_waiting, or its wait would pass max_wait (predicted
 *     from the URL's limit and answer time, and enforced by a timer).
 *     Retry-After names when a slot is expected, and refusals are spread
 *     one service interval apart, so the clients come back at the rate the
 *     CA serves rather than all at once.
 *
 * Slots are given back in upstream_admit_leave; the FIFO moves on from a
 * zero-delay event, never from inside the caller (which may be ending a
 * transfer, or tearing down a request).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/metrics.h"
#include "upstream_int.h"

/* The first limit of a URL: 1, so the first round learns the CA's time
 * without a queue in it; it grows fast while no queue forms. */
#define ADMIT_INITIAL_LIMIT	1
/* Retry-After says no more than this, seconds (or retry_after, if more). */
#define ADMIT_RETRY_AFTER_MAX	3600
/* Answers given from one event at most: a line of max_waiting (up to a
 * million) must not hold the loop. */
#define ADMIT_BATCH		256

/* Each operation has a baseline of its own in the limit. */
_Static_assert(EST_OP_MAX <= CONCLIMIT_KINDS, "an operation without a kind");

static void admit_dispatch(struct upstream *up);

static long
admit_limit(const struct upstream_url *u)
{
	return conclimit_value(&u->uu_limit);
}

/* The time a request of kind op takes at u when it need not wait inside
 * the CA: its baseline (conclimit.h), else the recent answers' time; 0
 * when nothing is known yet. */
static int64_t
admit_service_us(const struct upstream_url *u, enum est_op op)
{
	int64_t base = conclimit_baseline(&u->uu_limit, (unsigned)op);

	return base != 0 ? base : u->uu_rtt_us;
}

/*
 * The expected wait of the n-th in line for a slot at u: a slot frees
 * every service time / limit. The service time, not the recent answers'
 * time, which holds the CA's own queueing while the limit comes down: it
 * would count that queue twice, and refuse requests that can be served.
 */
static int64_t
admit_wait_us(const struct upstream_url *u, enum est_op op, long n)
{
	return n * admit_service_us(u, op) / admit_limit(u);
}

static void
admit_gauges(struct upstream *up, const struct upstream_url *u)
{
	metrics_upstream_limit(up->up_cfg->name, u->uu_url, admit_limit(u),
	    u->uu_in_flight);
	metrics_upstream_waiting(up->up_cfg->name, up->up_nwaiting);
}

/*
 * 503 + Retry-After for a request that cannot wait. The time named is
 * after the line ahead is served and after every earlier refusal's time,
 * one service interval on: a storm refused now returns as a stream. No
 * further than a full line's drain beyond the line ahead, though: a
 * refusal counts a request, not a device, and a client that comes back
 * early (or an attacker) must not push everyone's time out for good.
 */
static void
admit_busy(struct upstream *up, enum est_op op, struct est_reply *r,
    const char *reason)
{
	const char *why = strcmp(reason, "full") == 0 ?
	    "max_waiting requests wait for it already" :
	    strcmp(reason, "deadline") == 0 ? "the wait would pass max_wait" :
	    "waited max_wait for it";
	int	 i = upstream_pick(up, 0, upstream_now_us() / 1000);
	int64_t	 now = upstream_now_us(), at, step = 0, horizon;
	long	 secs, most = up->up_cfg->retry_after > ADMIT_RETRY_AFTER_MAX ?
	    up->up_cfg->retry_after : ADMIT_RETRY_AFTER_MAX;

	at = now + (int64_t)up->up_cfg->retry_after * 1000000;
	horizon = at;
	if (i != -1) {
		const struct upstream_url *u = &up->up_urls[i];

		step = admit_wait_us(u, op, 1);
		if (now + admit_wait_us(u, op, up->up_nwaiting) > at)
			at = now + admit_wait_us(u, op, up->up_nwaiting);
		horizon = at + admit_wait_us(u, op, up->up_cfg->max_waiting);
	}
	if (up->up_promised_us > at)
		at = up->up_promised_us < horizon ? up->up_promised_us :
		    horizon;
	at += step;
	up->up_promised_us = at;
	secs = (long)((at - now + 999999) / 1000000);
	if (secs > most)
		secs = most;
	est_reply_error(r, 503, "upstream %s is busy: %s; retry in %ld s",
	    up->up_cfg->name, why, secs);
	snprintf(r->retry_after, sizeof(r->retry_after), "%ld", secs);
	metrics_upstream_shed(up->up_cfg->name, reason);
}

/* Send x now: a URL (and its slot), then curl. 0, or -1 with x's reply
 * filled and *outcome set. */
static int
admit_send(struct upstream_xfer *x, enum upstream_outcome *outcome)
{
	switch (upstream_next_url(x)) {
	case -1:
		est_reply_error(&x->ux_reply, 502, "upstream CA unreachable");
		*outcome = UPSTREAM_UNAVAILABLE;
		return -1;
	case -2:
		est_reply_error(&x->ux_reply, 500, "internal error");
		*outcome = UPSTREAM_ERROR;
		return -1;
	}
	if (upstream_resend(x) == -1) {
		*outcome = UPSTREAM_ERROR;
		return -1;
	}
	metrics_upstream_waited(x->ux_up->up_cfg->name,
	    (double)(upstream_now_us() - x->ux_queued_us) / 1e6);
	return 0;
}

/*
 * The timer: the oldest waiting one's max_wait, or sooner when an open
 * breaker's wait ends, so that a URL back from its pause (the preferred
 * one, usually) takes the line at once.
 */
static void
admit_deadline_arm(struct upstream *up)
{
	struct upstream_xfer	*head = TAILQ_FIRST(&up->up_waiting);
	int64_t			 now = upstream_now_us(), at;
	struct timeval		 tv;

	if (head == NULL) {
		evtimer_del(up->up_deadline);
		return;
	}
	at = head->ux_queued_us + (int64_t)up->up_cfg->max_wait_ms * 1000;
	for (size_t i = 0; i < up->up_nurls; i++) {
		const struct breaker *b = &up->up_urls[i].uu_breaker;

		/* A wait already over is the dispatch's (or a slot's). */
		if (b->state == BREAKER_OPEN && b->retry_at * 1000 > now &&
		    b->retry_at * 1000 < at)
			at = b->retry_at * 1000;
	}
	at = at > now ? at - now : 0;
	tv.tv_sec = (time_t)(at / 1000000);
	tv.tv_usec = (suseconds_t)(at % 1000000);
	evtimer_add(up->up_deadline, &tv);
}

static void
admit_unqueue(struct upstream_xfer *x)
{
	struct upstream *up = x->ux_up;

	TAILQ_REMOVE(&up->up_waiting, x, ux_wait);
	x->ux_waiting = 0;
	up->up_nwaiting--;
	metrics_upstream_waiting(up->up_cfg->name, up->up_nwaiting);
}

/* The oldest waited max_wait: it gets 503 + Retry-After, and so does
 * everyone behind it who has waited as long; then the line moves on. At
 * most ADMIT_BATCH answers per turn of the loop. */
static void
admit_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct upstream		*up = arg;
	struct upstream_xfer	*x;
	int64_t			 limit_us = (int64_t)up->up_cfg->max_wait_ms *
	    1000;
	int			 n = 0;

	while ((x = TAILQ_FIRST(&up->up_waiting)) != NULL &&
	    upstream_now_us() - x->ux_queued_us >= limit_us) {
		if (n++ == ADMIT_BATCH) {
			event_active(up->up_deadline, EV_TIMEOUT, 0);
			return;
		}
		admit_unqueue(x);
		admit_busy(up, x->ux_op, &x->ux_reply, "waited");
		upstream_deliver(x, 0, UPSTREAM_BUSY);
	}
	admit_dispatch(up);
}

static void
admit_on_dispatch(evutil_socket_t fd, short what, void *arg)
{
	admit_dispatch(arg);
}

/* A URL on trial (half-open): its outcome decides, so wait for it. */
static int
admit_trial_out(const struct upstream *up)
{
	for (size_t i = 0; i < up->up_nurls; i++)
		if (up->up_urls[i].uu_breaker.state == BREAKER_HALF_OPEN &&
		    up->up_urls[i].uu_breaker.trial)
			return 1;
	return 0;
}

/* Send the oldest waiting while their URL has a free slot; at most
 * ADMIT_BATCH per turn of the loop. */
static void
admit_dispatch(struct upstream *up)
{
	struct upstream_xfer	*x;
	enum upstream_outcome	 outcome;
	int			 i, n = 0;

	while ((x = TAILQ_FIRST(&up->up_waiting)) != NULL) {
		i = upstream_pick(up, 0, upstream_now_us() / 1000);
		if (i != -1 && up->up_urls[i].uu_in_flight >=
		    admit_limit(&up->up_urls[i]))
			break;
		if (i == -1 && admit_trial_out(up))
			break;
		if (n++ == ADMIT_BATCH) {
			event_active(up->up_dispatch, EV_TIMEOUT, 0);
			return;
		}
		admit_unqueue(x);
		/* Every URL went down while it waited: as if it had come
		 * now (the caller may queue it for later). */
		if (admit_send(x, &outcome) == -1)
			upstream_deliver(x, 0, outcome);
	}
	admit_deadline_arm(up);
}

int
upstream_admit(struct upstream_xfer *x, struct est_reply *refusal,
    enum upstream_outcome *outcome)
{
	struct upstream		*up = x->ux_up;
	const struct upstream_url *u;
	int64_t			 now = upstream_now_us();
	int			 i = upstream_pick(up, 0, now / 1000);

	x->ux_queued_us = now;
	if (i == -1) {
		log_debug("upstream %s: every URL is down; next try in "
		    "%ld ms", up->up_cfg->name, upstream_wait_ms(up->up_ctx,
		    (size_t)(up - up->up_ctx->uc_upstreams)));
		est_reply_error(refusal, 502, "upstream CA unreachable");
		*outcome = UPSTREAM_UNAVAILABLE;
		return -1;
	}
	u = &up->up_urls[i];
	if (up->up_nwaiting == 0 && u->uu_in_flight < admit_limit(u)) {
		if (admit_send(x, outcome) == 0)
			return 0;
		*refusal = x->ux_reply;
		memset(&x->ux_reply, 0, sizeof(x->ux_reply));
		return -1;
	}
	if (up->up_nwaiting >= up->up_cfg->max_waiting) {
		admit_busy(up, x->ux_op, refusal, "full");
		*outcome = UPSTREAM_BUSY;
		return -1;
	}
	/* Its wait would pass max_wait: say so now, not when the time is
	 * spent. */
	if (admit_wait_us(u, x->ux_op, up->up_nwaiting + 1) >
	    (int64_t)up->up_cfg->max_wait_ms * 1000) {
		admit_busy(up, x->ux_op, refusal, "deadline");
		*outcome = UPSTREAM_BUSY;
		return -1;
	}
	TAILQ_INSERT_TAIL(&up->up_waiting, x, ux_wait);
	x->ux_waiting = 1;
	if (++up->up_nwaiting == 1)
		admit_deadline_arm(up);
	metrics_upstream_waiting(up->up_cfg->name, up->up_nwaiting);
	return 0;
}

void
upstream_admit_leave(struct upstream_xfer *x)
{
	struct upstream *up = x->ux_up;

	if (x->ux_waiting) {
		admit_unqueue(x);
		if (TAILQ_EMPTY(&up->up_waiting))
			evtimer_del(up->up_deadline);
		return;
	}
	if (!x->ux_slot)
		return;
	x->ux_slot = 0;
	up->up_urls[x->ux_url].uu_in_flight--;
	admit_gauges(up, &up->up_urls[x->ux_url]);
	if (up->up_nwaiting > 0)
		event_active(up->up_dispatch, EV_TIMEOUT, 0);
}

void
upstream_admit_move(struct upstream_xfer *x, size_t to)
{
	struct upstream *up = x->ux_up;

	if (x->ux_slot) {
		up->up_urls[x->ux_url].uu_in_flight--;
		admit_gauges(up, &up->up_urls[x->ux_url]);
	}
	x->ux_slot = 1;
	up->up_urls[to].uu_in_flight++;
	admit_gauges(up, &up->up_urls[to]);
	if (to != x->ux_url && up->up_nwaiting > 0)
		event_active(up->up_dispatch, EV_TIMEOUT, 0);
}

/* What the attempt says of the CA's load. */
static enum conclimit_outcome
admit_outcome(long status, int busy)
{
	if (status == 503 || status == 504 || status == 429 || busy)
		return CONCLIMIT_OVERLOAD;
	/* Only an issued answer is a time sample: a refusal or a 401
	 * takes the CA less work, and would read as its no-load time. */
	return status >= 200 && status <= 299 ? CONCLIMIT_ANSWER :
	    CONCLIMIT_IGNORE;
}

void
upstream_admit_sample(struct upstream_xfer *x, long status, int64_t rtt,
    int busy)
{
	struct upstream		*up = x->ux_up;
	struct upstream_url	*u = &up->up_urls[x->ux_url];
	int64_t			 now = upstream_now_us();
	enum conclimit_outcome	 outcome = admit_outcome(status, busy);
	long			 before = admit_limit(u);

	if (status > 0 && status != 502 && status != 503 && status != 504)
		u->uu_answered_us = now;
	if (outcome == CONCLIMIT_ANSWER)
		u->uu_rtt_us = u->uu_rtt_us == 0 ? rtt :
		    (u->uu_rtt_us * 7 + rtt) / 8;
	if (up->up_cfg->concurrency != UPSTREAM_CONCURRENCY_ADAPTIVE ||
	    !conclimit_sample(&u->uu_limit, now, (unsigned)x->ux_op, rtt,
	    x->ux_sent_in_flight, outcome))
		return;
	log_debug("upstream %s: %s: limit %ld -> %ld (%s)", up->up_cfg->name,
	    u->uu_url, before, admit_limit(u),
	    outcome == CONCLIMIT_OVERLOAD ? "overloaded" : "answer times");
	admit_gauges(up, u);
	if (admit_limit(u) > before && up->up_nwaiting > 0)
		event_active(up->up_dispatch, EV_TIMEOUT, 0);
}

static void
admit_limits_init(struct upstream *up)
{
	const struct cfg_upstream *c = up->up_cfg;
	long initial = c->concurrency == UPSTREAM_CONCURRENCY_ADAPTIVE ?
	    ADMIT_INITIAL_LIMIT : c->max_in_flight;

	for (size_t i = 0; i < up->up_nurls; i++) {
		conclimit_init(&up->up_urls[i].uu_limit, initial,
		    c->max_in_flight, upstream_now_us());
		admit_gauges(up, &up->up_urls[i]);
	}
}

int
upstream_admit_init(struct upstream_ctx *ctx, struct upstream *up)
{
	up->up_ctx = ctx;
	TAILQ_INIT(&up->up_waiting);
	up->up_dispatch = event_new(ctx->uc_base, -1, 0, admit_on_dispatch,
	    up);
	up->up_deadline = evtimer_new(ctx->uc_base, admit_on_deadline, up);
	if (up->up_dispatch == NULL || up->up_deadline == NULL)
		return -1;
	/* Slots are the CA's: filling them goes before new clients. */
	loop_control(up->up_dispatch);
	admit_limits_init(up);
	return 0;
}

void
upstream_admit_free(struct upstream *up)
{
	if (up->up_dispatch != NULL)
		event_free(up->up_dispatch);
	if (up->up_deadline != NULL)
		event_free(up->up_deadline);
	up->up_dispatch = up->up_deadline = NULL;
}

void
upstream_admit_reload(struct upstream *up)
{
	const struct cfg_upstream *c = up->up_cfg;

	for (size_t i = 0; i < up->up_nurls; i++) {
		struct upstream_url *u = &up->up_urls[i];

		if (c->concurrency == UPSTREAM_CONCURRENCY_ADAPTIVE)
			conclimit_set_max(&u->uu_limit, c->max_in_flight);
		else
			conclimit_init(&u->uu_limit, c->max_in_flight,
			    c->max_in_flight, upstream_now_us());
		admit_gauges(up, u);
	}
	if (up->up_nwaiting > 0)
		event_active(up->up_dispatch, EV_TIMEOUT, 0);
}
