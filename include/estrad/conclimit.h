/*
 * conclimit: how many requests one upstream CA URL is given at once,
 * found from what the CA does rather than from a fixed number. TCP Vegas
 * applied to request concurrency, as Netflix's concurrency-limits
 * (VegasLimit) and Envoy's adaptive concurrency filter do, on the average
 * of a round of answers rather than on each (an answer's own time varies
 * with the CA's work and with estrad's loop; a round's average much less):
 *
 *   - A round is as many answers as the limit, at least CONCLIMIT_ROUND,
 *     of requests sent since the limit last changed (older ones describe
 *     another limit). Its time per kind of request is the mean of its
 *     answers of that kind (an enrollment and a cacerts cost the CA
 *     different amounts).
 *   - The baseline of a kind is the shortest round time of it seen lately
 *     (this window and the last). A round slower than that, beyond a
 *     tolerance, says the CA held in_flight * (1 - baseline / time) of
 *     them waiting rather than working: its queue. in_flight * baseline /
 *     time is what it serves at once: its capacity.
 *   - At the end of a round the limit becomes that capacity when a queue
 *     formed, or grows when none did and the limit was used, then watches
 *     one round before the next step; after a cut it holds
 *     CONCLIMIT_HOLD_ROUNDS. The step doubles while the round's times
 *     stay within half the tolerance (slow start, from 1), and is 1 once
 *     they do not, or after a queue or a cut.
 *     A CA with K workers of S ms and a FIFO behind them settles at K and
 *     probes up to K * (S + tolerance) / S + 1/4 (rounded up): K + 1 when
 *     S/K is over 10 ms and its times are steady.
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
	/* Baselines: the shortest round time per kind in this window and
	 * the one before, so a CA that got slower for good is believed
	 * within two windows. 0: none yet. */
	int64_t	 base_cur[CONCLIMIT_KINDS];
	int64_t	 base_prev[CONCLIMIT_KINDS];
	int64_t	 window_start;
	/* How much a kind's round time varies at a steady limit: the mean
	 * difference of one round's time from the last (EWMA), and that last
	 * time; part of the tolerance. */
	double	 dev[CONCLIMIT_KINDS];
	double	 last_rtt[CONCLIMIT_KINDS];
	double	 last_limit;
	/* The round under way: per kind, answers, their time and in_flight. */
	unsigned round_n;
	unsigned round_kind_n[CONCLIMIT_KINDS];
	double	 round_rtt[CONCLIMIT_KINDS];
	double	 round_in_flight[CONCLIMIT_KINDS];
	long	 round_used;		/* most in flight seen */
	int	 round_overload;
	int	 hold;			/* rounds before the next probe */
	double	 step;			/* the next increase: doubles while
					 * no queue forms, 1 after one */
	int64_t	 cut_at;		/* the last cut for overload */
	int64_t	 changed_at;		/* the limit's last change */
};

/* Windows of the baseline, microseconds. */
#define CONCLIMIT_WINDOW_US	(2500 * 1000LL)
/*
 * Time over the baseline that is not counted as queueing: 2% of it (a
 * slow CA's jitter), twice the round time's usual variation (a CA whose
 * work varies, estrad's loop under load: the baseline, a minimum, sits
 * that much under a typical round), and at least 10 ms. A queue that costs a request
 * less than 10 ms is worth keeping: it covers estrad's own turnaround
 * between an answer and the next request, during which a CA that answers
 * in a millisecond or two would otherwise sit idle (a single-threaded CA
 * held at 1 lost a tenth of its throughput), and no device notices it.
 */
#define CONCLIMIT_TOLERANCE	0.02
#define CONCLIMIT_TOLERANCE_US	10000
/* Queue (requests waiting at the CA, in a round) that counts. */
#define CONCLIMIT_QUEUE_MIN	0.25
/* Answers in a round, at least: fewer average too little noise away. */
#define CONCLIMIT_ROUND		8
/* Rounds spent at the capacity after a cut before probing again. */
#define CONCLIMIT_HOLD_ROUNDS	3

/* initial: the first limit (clamped to [1, max]). */
void conclimit_init(struct conclimit *cl, long initial, long max,
    int64_t now_us);
/* The ceiling changed (a reload): the limit is clamped to it, and the
 * round starts again. */
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
/* The baseline of kind now (0: not known), microseconds: learnt from
 * whole rounds. */
int64_t conclimit_baseline(const struct conclimit *cl, unsigned kind);

#endif
