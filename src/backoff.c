/*
 * backoff: exponential waits with equal jitter, and the circuit breaker
 * of one upstream URL. No clocks and no randomness of its own: the caller
 * passes the time (ms of CLOCK_MONOTONIC) and a random number, so every
 * transition can be replayed from a table.
 *
 * A breaker holds at most one trial while half-open; the caller that took
 * it must report success, failure or release, or the URL stays unused.
 */
#include <limits.h>
#include <stdint.h>

#include "estrad/backoff.h"

static const char *const breaker_state_names[] = {
	[BREAKER_CLOSED]	= "closed",
	[BREAKER_OPEN]		= "open",
	[BREAKER_HALF_OPEN]	= "half-open",
};

const char *
breaker_state_name(enum breaker_state s)
{
	if ((unsigned)s >= sizeof(breaker_state_names) /
	    sizeof(breaker_state_names[0]))
		return "-";
	return breaker_state_names[s];
}

/* initial * 2^(failures-1), capped at max, without overflowing. */
static int64_t
backoff_base(const struct backoff_policy *p, int failures)
{
	int64_t	initial = p->initial_ms, max = p->max_ms;
	int	exp = (failures < 1 ? 1 : failures) - 1;

	if (initial <= 0 || max <= 0)
		return 0;
	if (initial >= max)
		return max;
	/* Past 2^62 any positive initial exceeds every int64 max. */
	if (exp > 62 || initial > (max >> exp))
		return max;
	return initial << exp;
}

int64_t
backoff_delay(const struct backoff_policy *p, int failures, uint32_t rnd)
{
	int64_t half = backoff_base(p, failures) / 2;

	/* Equal jitter: never less than half the wait, never in lockstep. */
	return half + (int64_t)((uint64_t)rnd % (uint64_t)(half + 1));
}

/* now + delay, saturating: a wait never wraps into the past. */
static int64_t
backoff_at(int64_t now_ms, int64_t delay)
{
	if (now_ms > 0 && delay > INT64_MAX - now_ms)
		return INT64_MAX;
	return now_ms + delay;
}

int
breaker_allow(struct breaker *b, int64_t now_ms)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		return 1;
	case BREAKER_OPEN:
	case BREAKER_HALF_OPEN:
		if (b->trial || now_ms < b->retry_at)
			return 0;
		b->state = BREAKER_HALF_OPEN;
		b->trial = 1;
		b->trials++;
		return 1;
	}
	return 0;
}

int
breaker_ready(const struct breaker *b, int64_t now_ms)
{
	if (b->state == BREAKER_CLOSED)
		return 1;
	return !b->trial && now_ms >= b->retry_at;
}

int
breaker_success(struct breaker *b)
{
	int changed = b->state != BREAKER_CLOSED;

	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->retry_at = 0;
	b->trial = 0;
	return changed;
}

/*
 * A failure reported while open comes from a request admitted before the
 * breaker opened: it says nothing new, and counting it would stretch the
 * wait once per request that happened to be in flight.
 */
int
breaker_failure(struct breaker *b, const struct backoff_policy *p,
    int64_t now_ms, uint32_t rnd)
{
	if (b->state == BREAKER_OPEN)
		return 0;
	if (b->failures < INT_MAX)
		b->failures++;
	if (b->state == BREAKER_CLOSED && b->failures < p->threshold)
		return 0;
	b->state = BREAKER_OPEN;
	b->trial = 0;
	/* The first opening waits backoff_initial, each further one twice
	 * as long: the failures before the threshold were not waits. */
	b->retry_at = backoff_at(now_ms, backoff_delay(p,
	    b->failures - (p->threshold > 1 ? p->threshold : 1) + 1, rnd));
	return 1;
}

void
breaker_release(struct breaker *b)
{
	b->trial = 0;
}
