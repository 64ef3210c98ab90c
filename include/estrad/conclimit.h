/*
 * conclimit: how many requests one upstream CA URL is given at once,
 * found from what the CA does rather than from a fixed number. TCP Vegas
 * applied to request concurrency, as Netflix's concurrency-limits
 * (VegasLimit) and Envoy's adaptive concurrency filter do:
 *
 *   - The no-load time of a request (the baseline) is the shortest one
 *     seen lately, per kind of request (an enrollment and a cacerts cost
 *     the CA different amounts).
 *   - A request that took rtt while `in_flight` were out says the CA held
 *     in_flight * (1 - baseline / rtt) of them waiting rather than working:
 *     its queue (counted beyond a tolerance, below). In flight times
 *     baseline / rtt is what the CA serves at once: its capacity.
 *   - Once per round (as many answers as the limit, of requests sent
 *     since the limit last changed: older ones describe another limit),
 *     the limit becomes that capacity when a queue formed, or grows by one
 *     when none did and the limit was used (doubles, until the first
 *     queue: slow start), then watches one round before the next step.
 *     After a cut it holds CONCLIMIT_HOLD_ROUNDS rounds before probing. A
 *     CA with K workers of S ms and a FIFO behind them settles at K and
 *     probes up to K * (S + 10 ms) / S + 1/4 (rounded up): K + 1 when S/K
 *     is over 10 ms.
 *   - A sign of overload (the request timed out while the CA answered
 *     others, or the CA said 503/504/429) cuts the limit by a quarter at
 *     once: the CA is past its capacity, and waiting for a round costs it
 *     more. Requests sent before that cut say nothing new, and a burst of
 *     their timeouts cuts once, not once each.
 *
 * The limit stays within [1, max] (max: the upstream's max_in_flight).
 * Pure arithmetic on times the caller gives (microseconds of
 * CLOCK_MONOTONIC), so it is tested table by table.
 */
#ifndef ESTRAD_CONCLIMIT_H
#define ESTRAD_CONCLIMIT_H

#include <stdint.h>

#define CONCLIMIT_KINDS		8	/* kinds of request, own baselines */

enum conclimit_outcome {
	CONCLIMIT_ANSWER,	/* the CA answered: a time sample */
	CONCLIMIT_OVERLOAD,	/* timed out or refused for being busy */
	CONCLIMIT_IGNORE	/* says nothing about the CA's load */
};

struct conclimit {
	double	 limit;
	double	 max;
	/* Baselines: the shortest time per kind in this window and the one
	 * before, so a CA that got slower for good is believed within two
	 * windows. 0: none yet. */
	int64_t	 base_cur[CONCLIMIT_KINDS];
	int64_t	 base_prev[CONCLIMIT_KINDS];
	int64_t	 window_start;
	/* The round under way. */
	unsigned round_n;		/* answers */
	double	 round_queue;		/* sum of the answers' queues */
	long	 round_used;		/* most in flight seen */
	double	 round_capacity;	/* sum of their capacities */
	int	 round_overload;
	int	 hold;			/* rounds before the next probe */
	int	 slow_start;		/* doubling until a first queue */
	int64_t	 cut_at;		/* the last cut for overload */
	int64_t	 changed_at;		/* the limit's last change */
};

/* Windows of the baseline, microseconds. */
#define CONCLIMIT_WINDOW_US	(2500 * 1000LL)
/*
 * Time over the baseline that is not counted as queueing: 2% of it (a
 * slow CA's jitter), and at least 10 ms. A queue that costs a request
 * less than 10 ms is worth keeping: it covers estrad's own turnaround
 * between an answer and the next request, during which a CA that answers
 * in a millisecond or two would otherwise sit idle (a single-threaded CA
 * held at 1 lost a tenth of its throughput), and no device notices it.
 */
#define CONCLIMIT_TOLERANCE	0.02
#define CONCLIMIT_TOLERANCE_US	10000
/* Queue (requests waiting at the CA, averaged over a round) that counts. */
#define CONCLIMIT_QUEUE_MIN	0.25
/* Rounds spent at the capacity after a cut before probing again. */
#define CONCLIMIT_HOLD_ROUNDS	4

/* initial: the first limit (clamped to [1, max]). */
void conclimit_init(struct conclimit *cl, long initial, long max,
    int64_t now_us);
/* The ceiling changed (a reload): the limit is clamped to it. */
void conclimit_set_max(struct conclimit *cl, long max);
/* Requests that may be in flight now: at least 1. */
long conclimit_value(const struct conclimit *cl);
/*
 * One request ended. kind: 0 .. CONCLIMIT_KINDS-1 (the EST operation);
 * rtt_us: from when it was sent to its end; in_flight: requests out to
 * this URL when it was sent, itself included. Returns 1 when the limit
 * changed.
 */
int conclimit_sample(struct conclimit *cl, int64_t now_us, unsigned kind,
    int64_t rtt_us, long in_flight, enum conclimit_outcome outcome);
/* The baseline of kind now (0: not known), microseconds. */
int64_t conclimit_baseline(const struct conclimit *cl, unsigned kind);

#endif
