/*
 * conclimit: the adaptive concurrency limit of one upstream URL
 * (conclimit.h has the method). Everything here is arithmetic on the
 * samples the caller gives; upstream.c feeds it and obeys it.
 */
#include <math.h>

#include "estrad/conclimit.h"

/* Overload: keep this much of the limit. */
#define CONCLIMIT_CUT	0.75

static double
conclimit_clamp(double v, double max)
{
	if (v > max)
		v = max;
	return v < 1 ? 1 : v;
}

void
conclimit_init(struct conclimit *cl, long initial, long max, int64_t now_us)
{
	*cl = (struct conclimit){ 0 };
	cl->max = max < 1 ? 1 : (double)max;
	cl->limit = conclimit_clamp((double)initial, cl->max);
	cl->window_start = now_us;
	cl->slow_start = 1;
	cl->cut_at = INT64_MIN;
	cl->changed_at = INT64_MIN;
}

void
conclimit_set_max(struct conclimit *cl, long max)
{
	cl->max = max < 1 ? 1 : (double)max;
	cl->limit = conclimit_clamp(cl->limit, cl->max);
}

long
conclimit_value(const struct conclimit *cl)
{
	return (long)cl->limit;
}

int64_t
conclimit_baseline(const struct conclimit *cl, unsigned kind)
{
	int64_t cur, prev;

	if (kind >= CONCLIMIT_KINDS)
		return 0;
	cur = cl->base_cur[kind];
	prev = cl->base_prev[kind];
	if (cur == 0 || (prev != 0 && prev < cur))
		return prev;
	return cur;
}

/* Keep the shortest time per kind, in windows that age out. */
static void
conclimit_learn(struct conclimit *cl, int64_t now_us, unsigned kind,
    int64_t rtt_us)
{
	if (now_us - cl->window_start >= CONCLIMIT_WINDOW_US) {
		for (unsigned k = 0; k < CONCLIMIT_KINDS; k++) {
			cl->base_prev[k] = cl->base_cur[k];
			cl->base_cur[k] = 0;
		}
		cl->window_start = now_us;
	}
	if (cl->base_cur[kind] == 0 || rtt_us < cl->base_cur[kind])
		cl->base_cur[kind] = rtt_us;
}

static void
conclimit_round_reset(struct conclimit *cl)
{
	cl->round_n = 0;
	cl->round_queue = 0;
	cl->round_capacity = 0;
	cl->round_used = 0;
	cl->round_overload = 0;
}

/* The round is over: the new limit. */
static void
conclimit_round_end(struct conclimit *cl)
{
	double queue, capacity;

	if (cl->round_overload) {
		cl->limit = conclimit_clamp(floor(cl->limit * CONCLIMIT_CUT),
		    cl->max);
		cl->hold = CONCLIMIT_HOLD_ROUNDS;
		cl->slow_start = 0;
		return;
	}
	queue = cl->round_queue / cl->round_n;
	if (queue >= CONCLIMIT_QUEUE_MIN) {
		/* Rounded: a CA serving K at once reads as K, give or take
		 * its jitter. */
		capacity = floor(cl->round_capacity / cl->round_n + 0.5);
		if (capacity < cl->limit) {
			cl->limit = conclimit_clamp(capacity, cl->max);
			cl->hold = CONCLIMIT_HOLD_ROUNDS;
		}
		cl->slow_start = 0;
		return;
	}
	if (cl->hold > 0) {
		cl->hold--;
		return;
	}
	/* A limit nobody reached says nothing about the CA: keep it. */
	if (cl->round_used < (long)cl->limit)
		return;
	cl->limit = conclimit_clamp(cl->slow_start ? cl->limit * 2 :
	    cl->limit + 1, cl->max);
	/* A queue the step made shows in full only in the round after
	 * it: look before stepping again. */
	cl->hold = 1;
}

int
conclimit_sample(struct conclimit *cl, int64_t now_us, unsigned kind,
    int64_t rtt_us, long in_flight, enum conclimit_outcome outcome)
{
	double	 before = floor(cl->limit), base, tol;

	if (kind >= CONCLIMIT_KINDS)
		kind = CONCLIMIT_KINDS - 1;
	if (rtt_us < 1)
		rtt_us = 1;
	if (in_flight < 1)
		in_flight = 1;
	switch (outcome) {
	case CONCLIMIT_IGNORE:
		return 0;
	case CONCLIMIT_OVERLOAD:
		if (now_us - rtt_us < cl->cut_at)
			return 0;	/* sent before the last cut */
		cl->round_overload = 1;
		cl->cut_at = now_us;
		break;
	case CONCLIMIT_ANSWER:
		conclimit_learn(cl, now_us, kind, rtt_us);
		if (now_us - rtt_us < cl->changed_at)
			return 0;	/* sent under another limit */
		base = (double)conclimit_baseline(cl, kind);
		tol = base * CONCLIMIT_TOLERANCE;
		if (tol < CONCLIMIT_TOLERANCE_US)
			tol = CONCLIMIT_TOLERANCE_US;
		cl->round_n++;
		/* Waiting rather than working; jitter within the tolerance
		 * is not a queue. */
		if (base + tol < (double)rtt_us)
			cl->round_queue += (double)in_flight *
			    (1 - (base + tol) / (double)rtt_us);
		cl->round_capacity += (double)in_flight * base /
		    (double)rtt_us;
		if (in_flight > cl->round_used)
			cl->round_used = in_flight;
		break;
	}
	if (!cl->round_overload && cl->round_n < (unsigned)cl->limit)
		return 0;
	conclimit_round_end(cl);
	conclimit_round_reset(cl);
	if (floor(cl->limit) == before)
		return 0;
	cl->changed_at = now_us;
	return 1;
}
