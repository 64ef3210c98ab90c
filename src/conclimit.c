/*
 * conclimit: the adaptive concurrency limit of one upstream URL
 * (conclimit.h has the method). Everything here is arithmetic on the
 * samples the caller gives; upstream_admit.c feeds it and obeys it.
 */
#include <math.h>
#include <string.h>

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

static void
conclimit_round_reset(struct conclimit *cl)
{
	cl->round_n = 0;
	memset(cl->round_kind_n, 0, sizeof(cl->round_kind_n));
	memset(cl->round_rtt, 0, sizeof(cl->round_rtt));
	memset(cl->round_in_flight, 0, sizeof(cl->round_in_flight));
	cl->round_used = 0;
	cl->round_overload = 0;
}

void
conclimit_init(struct conclimit *cl, long initial, long max, int64_t now_us)
{
	memset(cl, 0, sizeof(*cl));
	cl->max = max < 1 ? 1 : (double)max;
	cl->limit = conclimit_clamp((double)initial, cl->max);
	cl->window_start = now_us;
	cl->step = 1;
	cl->cut_at = INT64_MIN;
	cl->changed_at = INT64_MIN;
}

void
conclimit_set_max(struct conclimit *cl, long max)
{
	cl->max = max < 1 ? 1 : (double)max;
	cl->limit = conclimit_clamp(cl->limit, cl->max);
	conclimit_round_reset(cl);
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

/* The round time of kind k (0: no answer of it in the round). */
static double
conclimit_round_rtt(const struct conclimit *cl, unsigned k)
{
	return cl->round_kind_n[k] == 0 ? 0 :
	    cl->round_rtt[k] / cl->round_kind_n[k];
}

/* How much round times vary, from rounds at the same limit. */
static void
conclimit_learn_dev(struct conclimit *cl)
{
	for (unsigned k = 0; k < CONCLIMIT_KINDS; k++) {
		double t = conclimit_round_rtt(cl, k), d;

		if (t == 0)
			continue;
		if (cl->last_rtt[k] != 0 && cl->last_limit == cl->limit) {
			d = fabs(t - cl->last_rtt[k]);
			cl->dev[k] = cl->dev[k] == 0 ? d :
			    cl->dev[k] + (d - cl->dev[k]) / 8;
		}
		cl->last_rtt[k] = t;
	}
	cl->last_limit = cl->limit;
}

/* Keep the shortest round time per kind, in windows that age out. */
static void
conclimit_learn(struct conclimit *cl, int64_t now_us)
{
	if (now_us - cl->window_start >= CONCLIMIT_WINDOW_US) {
		memcpy(cl->base_prev, cl->base_cur, sizeof(cl->base_prev));
		memset(cl->base_cur, 0, sizeof(cl->base_cur));
		cl->window_start = now_us;
	}
	for (unsigned k = 0; k < CONCLIMIT_KINDS; k++) {
		int64_t t;

		if (cl->round_kind_n[k] == 0)
			continue;
		t = (int64_t)(cl->round_rtt[k] / cl->round_kind_n[k]);
		if (t < 1)
			t = 1;
		if (cl->base_cur[k] == 0 || t < cl->base_cur[k])
			cl->base_cur[k] = t;
	}
}

/*
 * The round's queue and capacity, summed over its kinds that have a
 * baseline (a kind seen for the first time teaches, and says nothing);
 * *quiet: every kind within half the tolerance, no sign of a queue at
 * all. Returns the answers that counted.
 */
static unsigned
conclimit_judge(const struct conclimit *cl, double *queue, double *capacity,
    int *quiet)
{
	unsigned counted = 0;

	*queue = *capacity = 0;
	*quiet = 1;
	for (unsigned k = 0; k < CONCLIMIT_KINDS; k++) {
		unsigned	 n = cl->round_kind_n[k];
		double		 base = (double)conclimit_baseline(cl, k);
		double		 rtt, in_flight, tol, ref;

		if (n == 0 || base == 0)
			continue;
		rtt = cl->round_rtt[k] / n;
		in_flight = cl->round_in_flight[k] / n;
		tol = base * CONCLIMIT_TOLERANCE;
		if (tol < 2 * cl->dev[k])
			tol = 2 * cl->dev[k];
		if (tol < CONCLIMIT_TOLERANCE_US)
			tol = CONCLIMIT_TOLERANCE_US;
		/* Waiting rather than working; within the tolerance it is
		 * noise, or a queue worth keeping (conclimit.h). */
		if (base + tol < rtt)
			*queue += n * in_flight * (1 - (base + tol) / rtt);
		if (base + tol / 2 < rtt)
			*quiet = 0;
		/* The baseline is a minimum: a typical round at the
		 * capacity takes its usual variation more. */
		ref = base + 2 * cl->dev[k];
		*capacity += n * in_flight * (ref < rtt ? ref / rtt : 1);
		counted += n;
	}
	if (counted > 0) {
		*queue /= counted;
		*capacity /= counted;
	}
	return counted;
}

/* The round is over: the new limit. */
static void
conclimit_round_end(struct conclimit *cl, int64_t now_us)
{
	double	queue, capacity;
	int	quiet;

	conclimit_learn_dev(cl);
	if (cl->round_overload) {
		cl->limit = conclimit_clamp(floor(cl->limit * CONCLIMIT_CUT),
		    cl->max);
		cl->hold = CONCLIMIT_HOLD_ROUNDS;
		cl->step = 1;
		return;
	}
	if (conclimit_judge(cl, &queue, &capacity, &quiet) == 0) {
		conclimit_learn(cl, now_us);
		return;
	}
	conclimit_learn(cl, now_us);
	if (queue >= CONCLIMIT_QUEUE_MIN) {
		/* Rounded: a CA serving K at once reads as K, give or take
		 * its jitter. */
		capacity = floor(capacity + 0.5);
		if (capacity < cl->limit) {
			cl->limit = conclimit_clamp(capacity, cl->max);
			cl->hold = CONCLIMIT_HOLD_ROUNDS;
		}
		cl->step = 1;
		return;
	}
	if (!quiet)
		cl->step = 1;
	if (cl->hold > 0) {
		cl->hold--;
		return;
	}
	/* A limit nobody reached says nothing about the CA: keep it. */
	if (cl->round_used < (long)cl->limit)
		return;
	cl->limit = conclimit_clamp(cl->limit + cl->step, cl->max);
	/* While the times show no sign of a queue at all, each step
	 * doubles the next: a CA that grew (or a first storm) is found in
	 * a few rounds. Near the capacity the steps are of one. */
	cl->step = quiet ? cl->step * 2 : 1;	/* for the next step */
	/* A queue the step made shows in full only in the round after
	 * it: look before stepping again. */
	cl->hold = 1;
}

int
conclimit_sample(struct conclimit *cl, int64_t now_us, unsigned kind,
    int64_t rtt_us, long in_flight, enum conclimit_outcome outcome)
{
	double		 before = floor(cl->limit);
	unsigned	 round = (unsigned)cl->limit;

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
		if (now_us - rtt_us < cl->changed_at)
			return 0;	/* sent under another limit */
		cl->round_n++;
		cl->round_kind_n[kind]++;
		cl->round_rtt[kind] += (double)rtt_us;
		cl->round_in_flight[kind] += (double)in_flight;
		if (in_flight > cl->round_used)
			cl->round_used = in_flight;
		break;
	}
	if (round < CONCLIMIT_ROUND)
		round = CONCLIMIT_ROUND;
	if (!cl->round_overload && cl->round_n < round)
		return 0;
	conclimit_round_end(cl, now_us);
	conclimit_round_reset(cl);
	if (floor(cl->limit) == before)
		return 0;
	cl->changed_at = now_us;
	return 1;
}
