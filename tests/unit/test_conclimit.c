/*
 * The adaptive concurrency limit (conclimit.h), table by table: one round
 * at a time (slow start, a limit nobody used, a queue read as capacity,
 * an overload cut and a burst of them cutting once, the hold after a cut,
 * the clamps, samples that teach nothing, baselines per kind, jitter
 * within the tolerance, a CA that got slower for good), then whole runs
 * against a simulated CA with K workers and a FIFO behind them: the limit
 * settles at K, follows K when it changes within five seconds, the CA
 * never holds more than K plus the queue worth keeping (under 10 ms a
 * request) plus one probe (K + 1 for a CA of 100 ms and K <= 8), and its
 * throughput stays that of K.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "estrad/conclimit.h"

#include "testpki.h"

#define MS		1000LL		/* microseconds */

enum { ENROLL = 2, CACERTS = 0 };

/* A run of identical samples. */
struct burst {
	int		 n;
	unsigned	 kind;
	int64_t		 rtt_ms;
	long		 in_flight;
	enum conclimit_outcome outcome;
	int64_t		 gap_ms;	/* time before each sample */
	int64_t		 lead_ms;	/* and before the first */
};

struct round_case {
	const char	*what;
	long		 initial, max;
	struct burst	 steps[5];
	long		 want;
};

static long
run_case(const struct round_case *c)
{
	struct conclimit	 cl;
	int64_t			 now = 1000 * MS;

	conclimit_init(&cl, c->initial, c->max, now);
	for (size_t s = 0; s < NITEMS(c->steps) && c->steps[s].n > 0; s++) {
		const struct burst *b = &c->steps[s];

		now += b->lead_ms * MS;
		for (int i = 0; i < b->n; i++) {
			now += b->gap_ms * MS;
			conclimit_sample(&cl, now, b->kind, b->rtt_ms * MS,
			    b->in_flight, b->outcome);
		}
	}
	return conclimit_value(&cl);
}

#define A	CONCLIMIT_ANSWER
#define O	CONCLIMIT_OVERLOAD
#define I	CONCLIMIT_IGNORE
/* Learn the enrollment baseline (100 ms) with 8 out, then grow to 9. */
#define LEARN_100MS_AT_8	{ 16, ENROLL, 100, 8, A, 100, 0 }

static void
test_rounds(void **state)
{
	static const struct round_case cases[] = {
		/* The first round (8 answers) only learns the baseline. */
		{ "a used limit grows", 4, 64,
		  { { 16, ENROLL, 100, 4, A, 100, 0 } }, 5 },
		{ "not before a baseline is known", 4, 64,
		  { { 15, ENROLL, 100, 4, A, 100, 0 } }, 4 },
		/* learn, +1, watch, +2, watch, +4, watch, +8 */
		{ "the step doubles while no queue shows", 4, 64,
		  { { 8 + 8 + 8 + 8 + 8 + 8 + 11 + 11, ENROLL, 10, 32, A, 10,
		    0 } }, 19 },
		{ "a limit nobody reached stays", 4, 64,
		  { { 24, ENROLL, 100, 2, A, 100, 0 } }, 4 },
		{ "the ceiling holds", 63, 64,
		  { { 63 * 4, ENROLL, 10, 64, A, 10, 0 } }, 64 },
		{ "an initial over the ceiling is clamped", 100, 8,
		  { { 0 } }, 8 },
		{ "an initial under 1 is 1", 0, 8, { { 0 } }, 1 },
		/* Learn 100 ms with 8 out, grow to 9, then 8 out take 160
		 * ms: 2.5 wait beyond the 10 ms tolerance, 5 work
		 * (8 * 100 / 160). */
		{ "a queue reads as the capacity", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 9, ENROLL, 160, 8, A, 20, 160 } }, 5 },
		{ "a deeper queue, the same arithmetic", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 9, ENROLL, 400, 8, A, 50, 400 } }, 2 },
		{ "answers sent under the old limit are not judged", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 9, ENROLL, 400, 8, A, 20, 0 } }, 9 },
		/* 9 ms over 100 is within the tolerance (a step), but
		 * over half of it: 8 -> 9 -> 10, not 9 -> 11. */
		{ "a queue within the tolerance is kept", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 18, ENROLL, 109, 9, A, 13, 109 } }, 10 },
		{ "an overload cuts a quarter at once", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 1, ENROLL, 1000, 9, O, 10, 0 } }, 6 },
		{ "a burst of timeouts sent before the cut cuts once", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 6, ENROLL, 1000, 9, O, 1, 0 } }, 6 },
		{ "later timeouts cut again", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 2, ENROLL, 1000, 9, O, 1500, 0 } }, 4 },
		{ "an overload at 1 stays at 1", 1, 64,
		  { { 3, ENROLL, 1000, 1, O, 2000, 0 } }, 1 },
		{ "ignored samples teach nothing", 4, 64,
		  { { 40, ENROLL, 1, 4, I, 10, 0 } }, 4 },
		/* After the cut to 5: three rounds (of 8) without a queue
		 * hold it, the fourth probes 6. */
		{ "a cut holds three rounds", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 9, ENROLL, 160, 8, A, 20, 160 },
		    { 24, ENROLL, 100, 5, A, 20, 100 } }, 5 },
		{ "then probes one more", 8, 64,
		  { LEARN_100MS_AT_8,
		    { 9, ENROLL, 160, 8, A, 20, 160 },
		    { 32, ENROLL, 100, 5, A, 20, 100 } }, 6 },
		/* cacerts in 10 ms does not make a 100 ms enrollment look
		 * like nine tenths queue: learn, +1, watch, +2. */
		{ "baselines are per kind", 4, 64,
		  { { 4, CACERTS, 10, 4, A, 10, 0 },
		    { 4, ENROLL, 100, 4, A, 100, 0 },
		    { 4, CACERTS, 10, 4, A, 10, 0 },
		    { 4, ENROLL, 100, 4, A, 100, 0 },
		    { 16, ENROLL, 100, 8, A, 20, 100 } }, 7 },
	};

	for (size_t i = 0; i < NITEMS(cases); i++) {
		long got = run_case(&cases[i]);

		if (got != cases[i].want)
			fail_msg("%s: limit %ld, expected %ld", cases[i].what,
			    got, cases[i].want);
	}
}

static void
test_set_max(void **state)
{
	struct conclimit cl;

	conclimit_init(&cl, 4, 64, 0);
	/* learn, +1, watch, +2, watch, +4, watch, +8 */
	for (int i = 1; i <= 8 + 8 + 8 + 8 + 8 + 8 + 11 + 11; i++)
		conclimit_sample(&cl, i * 100 * MS, ENROLL, 100 * MS, 64, A);
	assert_int_equal(conclimit_value(&cl), 19);
	conclimit_set_max(&cl, 10);
	assert_int_equal(conclimit_value(&cl), 10);
	conclimit_set_max(&cl, 0);
	assert_int_equal(conclimit_value(&cl), 1);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 100 * MS);
	assert_int_equal(conclimit_baseline(&cl, CACERTS), 0);
	assert_int_equal(conclimit_baseline(&cl, CONCLIMIT_KINDS), 0);
}

/* A round of 8 answers of rtt_ms, one out at a time, ending at t. */
static void
feed_round(struct conclimit *cl, int64_t t, int64_t rtt_ms,
    enum conclimit_outcome o)
{
	for (int i = 7; i >= 0; i--)
		conclimit_sample(cl, t - i, ENROLL, rtt_ms * MS, 1, o);
}

/* The baseline is the shortest time of this window and the last: a CA
 * slower for good is believed after two windows, not before. */
static void
test_baseline_ages(void **state)
{
	struct conclimit	 cl;
	int64_t			 w = CONCLIMIT_WINDOW_US;

	conclimit_init(&cl, 4, 64, 0);
	feed_round(&cl, 10, 100, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 100 * MS);
	feed_round(&cl, w / 2, 200, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 100 * MS);
	feed_round(&cl, w + 10, 200, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 100 * MS);
	feed_round(&cl, 2 * w + 20, 200, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 200 * MS);
	/* A faster round is believed at once. */
	feed_round(&cl, 2 * w + 40, 50, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 50 * MS);
	/* Ignored samples are no times; nor is half a round. */
	feed_round(&cl, 2 * w + 60, 1, I);
	for (int i = 0; i < 7; i++)
		conclimit_sample(&cl, 2 * w + 80 + i, ENROLL, 1 * MS, 1, A);
	assert_int_equal(conclimit_baseline(&cl, ENROLL), 50 * MS);
}

/*
 * A simulated CA: k workers taking requests from a FIFO, each service_ms
 * long (plus a little deterministic jitter), in front of a closed loop of
 * clients that always have more to send: whatever the limit allows goes.
 */
#define SIM_MAX		512

struct sim {
	struct conclimit cl;
	int64_t		 now;
	int		 k;
	int64_t		 service;
	int64_t		 noise;		/* uniform, added to each service */
	/* requests at the CA, in arrival order: sent time and in_flight */
	int64_t		 sent[SIM_MAX];
	long		 at_send[SIM_MAX];
	int64_t		 done_at[SIM_MAX];	/* 0: waiting */
	int		 n;
	int		 serving;
	uint32_t	 rnd;
	long		 answered;
	int		 peak;		/* most at the CA, since reset */
	int64_t		 worst_rtt;
};

static int64_t
sim_jitter(struct sim *s)
{
	int64_t j;

	s->rnd = s->rnd * 1103515245u + 12345u;
	j = (int64_t)((s->rnd >> 16) % 5) * s->service / 100;	/* 0-4% */
	if (s->noise > 0) {
		s->rnd = s->rnd * 1103515245u + 12345u;
		j += (int64_t)((s->rnd >> 8) % (uint32_t)(s->noise + 1));
	}
	return j;
}

static void
sim_start(struct sim *s)
{
	for (int i = 0; i < s->n && s->serving < s->k; i++)
		if (s->done_at[i] == 0) {
			s->done_at[i] = s->now + s->service + sim_jitter(s);
			s->serving++;
		}
}

/* Run until `until` (microseconds); returns enrollments answered. */
static long
sim_run(struct sim *s, int64_t until)
{
	long before = s->answered;

	while (s->now < until) {
		int	 first = -1;

		while (s->n < conclimit_value(&s->cl) && s->n < SIM_MAX) {
			s->sent[s->n] = s->now;
			s->at_send[s->n] = s->n + 1;
			s->done_at[s->n] = 0;
			s->n++;
		}
		if (s->n > s->peak)
			s->peak = s->n;
		sim_start(s);
		for (int i = 0; i < s->n; i++)
			if (s->done_at[i] != 0 && (first == -1 ||
			    s->done_at[i] < s->done_at[first]))
				first = i;
		if (first == -1)
			fail_msg("the simulated CA has nothing to do");
		s->now = s->done_at[first];
		if (s->now - s->sent[first] > s->worst_rtt)
			s->worst_rtt = s->now - s->sent[first];
		conclimit_sample(&s->cl, s->now, ENROLL,
		    s->now - s->sent[first], s->at_send[first], A);
		s->serving--;
		s->answered++;
		memmove(&s->sent[first], &s->sent[first + 1],
		    (size_t)(s->n - first - 1) * sizeof(s->sent[0]));
		memmove(&s->at_send[first], &s->at_send[first + 1],
		    (size_t)(s->n - first - 1) * sizeof(s->at_send[0]));
		memmove(&s->done_at[first], &s->done_at[first + 1],
		    (size_t)(s->n - first - 1) * sizeof(s->done_at[0]));
		s->n--;
	}
	return s->answered - before;
}

/*
 * The most a CA with k workers of service_ms holds through the limit: k,
 * plus the waiting ones whose delay stays within the tolerance (a queue
 * worth keeping, conclimit.h), plus the one probe that shows a queue of
 * CONCLIMIT_QUEUE_MIN: the smallest L with L - k * (S + tol) / S >= it.
 */
static long
sim_most(int k, int64_t service_ms)
{
	double	s = (double)service_ms * 1000, tol = s * CONCLIMIT_TOLERANCE;

	if (tol < CONCLIMIT_TOLERANCE_US)
		tol = CONCLIMIT_TOLERANCE_US;
	return (long)ceil(k * (s + tol) / s + CONCLIMIT_QUEUE_MIN);
}

struct sim_case {
	int	 k;
	int64_t	 service_ms;
	long	 max;
	int64_t	 noise_ms;	/* 0 .. this added to each service */
	int	 min_pct;	/* of K / mean service, served at least */
};

/*
 * Noisy cases: each service takes up to noise_ms more, uniformly (a CA's
 * varying work, estrad's loop under a storm). The throughput must stay
 * that of K workers at the mean service time; the limit may wander by
 * one either side of what the arithmetic of a steady CA says, no further
 * (and by one more for a fast CA, whose edge a step of two may pass).
 */
static void
test_simulated_ca(void **state)
{
	static const struct sim_case cases[] = {
		{ 5, 100, 64, 0, 95 }, { 1, 50, 64, 0, 95 },
		{ 4, 50, 64, 0, 95 }, { 8, 20, 64, 0, 95 },
		{ 16, 200, 64, 0, 95 }, { 5, 100, 3, 0, 95 },
		{ 8, 50, 64, 20, 95 }, { 4, 100, 64, 40, 95 },
		{ 2, 5, 64, 10, 95 },
		/* A service time anywhere from S to 2S: the limit dips
		 * under K now and then. */
		{ 5, 100, 64, 100, 85 },
	};

	for (size_t i = 0; i < NITEMS(cases); i++) {
		static struct sim s;
		const struct sim_case *c = &cases[i];
		long	 served, ideal, most, want = c->k < c->max ? c->k :
		    c->max;
		double	 mean = c->service_ms * 1.02 + c->noise_ms / 2.0;

		memset(&s, 0, sizeof(s));
		s.k = c->k;
		s.service = c->service_ms * MS;
		s.noise = c->noise_ms * MS;
		conclimit_init(&s.cl, 1, c->max, 0);
		/* Slow start from 1 may pass K up to twice over, for a
		 * round, before it settles. */
		sim_run(&s, 10000 * MS);
		s.peak = 0;
		served = sim_run(&s, 40000 * MS);
		ideal = (long)(30000 * want / mean);
		/* A fast CA (S/K under the 10 ms tolerance) may see one
		 * step more: the step that found the edge was of two. */
		most = sim_most((int)want, c->service_ms) +
		    (c->noise_ms > 0 ? 1 : 0) +
		    (c->service_ms * 1000 / want < CONCLIMIT_TOLERANCE_US ?
		    1 : 0);
		if (served < ideal * c->min_pct / 100)
			fail_msg("K=%d S=%lld noise %lld: %ld served in 30 s, "
			    "%ld at K/S", c->k, (long long)c->service_ms,
			    (long long)c->noise_ms, served, ideal);
		if (s.peak > (want < c->max ? most : want))
			fail_msg("K=%d S=%lld noise %lld: the CA held %d at "
			    "once", c->k, (long long)c->service_ms,
			    (long long)c->noise_ms, s.peak);
		if (conclimit_value(&s.cl) < want - (c->noise_ms > 0) ||
		    conclimit_value(&s.cl) > most)
			fail_msg("K=%d S=%lld noise %lld: limit %ld", c->k,
			    (long long)c->service_ms, (long long)c->noise_ms,
			    conclimit_value(&s.cl));
	}
}

/* The CA's capacity changes mid-run: within 5 s the limit follows, and
 * no request takes as long as the CA's own 1 s timeout would allow. */
static void
test_capacity_changes(void **state)
{
	static const int ks[] = { 5, 10, 2, 16, 4 };
	static struct sim s;
	int64_t t = 0;

	memset(&s, 0, sizeof(s));
	s.k = ks[0];
	s.service = 100 * MS;
	conclimit_init(&s.cl, 1, 64, 0);
	for (size_t i = 0; i < NITEMS(ks); i++) {
		long served;

		s.k = ks[i];
		sim_run(&s, t += 5000 * MS);
		if (conclimit_value(&s.cl) < ks[i] ||
		    conclimit_value(&s.cl) > sim_most(ks[i], 100))
			fail_msg("5 s after K became %d the limit is %ld",
			    ks[i], conclimit_value(&s.cl));
		s.peak = 0;
		served = sim_run(&s, t += 10000 * MS);
		if (served < 10 * ks[i] * 10 * 95 / 100)
			fail_msg("K=%d: %ld served in 10 s", ks[i], served);
		if (s.peak > sim_most(ks[i], 100))
			fail_msg("K=%d: the CA held %d at once", ks[i],
			    s.peak);
	}
	if (s.worst_rtt >= 1000 * MS)
		fail_msg("a request took %lld ms", (long long)(s.worst_rtt /
		    MS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_set_max),
		cmocka_unit_test(test_baseline_ages),
		cmocka_unit_test(test_simulated_ca),
		cmocka_unit_test(test_capacity_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
