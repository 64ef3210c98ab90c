/*
 * backoff: when to try a failed thing again, and a circuit breaker that
 * stops estrad hammering a CA that is down. Pure logic on times given by
 * the caller (milliseconds of CLOCK_MONOTONIC), so it is tested table by
 * table without clocks or sockets.
 *
 * The breaker of one upstream URL:
 *   closed     healthy: every request may use it
 *   open       failed `threshold` times in a row: nobody uses it until
 *              retry_at (exponential backoff with jitter)
 *   half-open  retry_at has passed: exactly one trial request may use it;
 *              success closes it, failure opens it again for longer
 */
#ifndef ESTRAD_BACKOFF_H
#define ESTRAD_BACKOFF_H

#include <stdint.h>

struct backoff_policy {
	int64_t	 initial_ms;	/* the first wait */
	int64_t	 max_ms;	/* no wait is longer */
	int	 threshold;	/* consecutive failures that open the breaker */
};

/*
 * The wait before retry number `failures` (1 = after the first failure):
 * initial * 2^(failures-1), capped at max, then "equal jitter": a value
 * drawn uniformly from [d/2, d] using rnd (any 32-bit random number), so
 * that replicas and queued requests do not retry in lockstep.
 */
int64_t backoff_delay(const struct backoff_policy *p, int failures,
    uint32_t rnd);

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker {
	enum breaker_state	 state;
	int			 failures;	/* consecutive */
	int64_t			 retry_at;	/* ms; when open */
	int			 trial;		/* half-open: a trial is out */
	unsigned		 trials;	/* trials taken, ever: lets a
						 * holder tell its trial from a
						 * later one */
};

/* May a request use it now? A half-open breaker admits one trial; the
 * caller must then report its outcome (success or failure). */
int breaker_allow(struct breaker *b, int64_t now_ms);
/* 1 when it can be tried now without taking the trial (for ordering). */
int breaker_ready(const struct breaker *b, int64_t now_ms);
/* Outcomes. Each returns 1 when the state changed (for a log line). */
int breaker_success(struct breaker *b);
int breaker_failure(struct breaker *b, const struct backoff_policy *p,
    int64_t now_ms, uint32_t rnd);
/* A trial that ended without an outcome (cancelled): free the slot.
 * Callers holding an older trial (trials changed) must not call it. */
void breaker_release(struct breaker *b);
const char *breaker_state_name(enum breaker_state s);

#endif
