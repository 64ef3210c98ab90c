/*
 * Backoff and breaker tables: the delay of each failure count with its
 * cap and jitter bounds (no overflow however many failures), and walks
 * through the breaker's states: closed under the threshold, open until
 * retry_at, one trial while half-open, a failed trial waits longer, a
 * released trial frees the slot, success closes.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "estrad/backoff.h"

#include "testpki.h"


struct delay_case {
	int64_t		 initial, max;
	int		 failures;
	uint32_t	 rnd;
	int64_t		 want;
};

static void
test_delay_table(void **state)
{
	static const struct delay_case cases[] = {
		/* d = 1000: [500, 1000], rnd mod 501 */
		{ 1000, 60000, 1, 0, 500 },
		{ 1000, 60000, 1, 500, 1000 },
		{ 1000, 60000, 1, 501, 500 },
		{ 1000, 60000, 1, UINT32_MAX, 500 + UINT32_MAX % 501 },
		/* failures <= 0 count as the first */
		{ 1000, 60000, 0, 0, 500 },
		{ 1000, 60000, -7, 500, 1000 },
		/* doubling */
		{ 1000, 60000, 2, 0, 1000 },
		{ 1000, 60000, 3, 1000, 3000 },
		{ 1000, 60000, 6, 16000, 32000 },
		/* 64000 capped at 60000 */
		{ 1000, 60000, 7, 0, 30000 },
		{ 1000, 60000, 7, 30000, 60000 },
		{ 1000, 60000, 7, 30001, 30000 },
		{ 1000, 60000, INT_MAX, 30000, 60000 },
		/* odd d = 3: [1, 2] (equal jitter floors the half) */
		{ 3, 100, 1, 0, 1 },
		{ 3, 100, 1, UINT32_MAX, 2 },
		/* max below initial, nothing to wait */
		{ 5000, 1000, 1, 0, 500 },
		{ 0, 1000, 9, UINT32_MAX, 0 },
		{ 1000, 0, 9, UINT32_MAX, 0 },
		/* the edge of int64: 2^62 fits, 2^63 is capped */
		{ 1, INT64_MAX, 63, 0, INT64_C(1) << 61 },
		{ 1, INT64_MAX, 64, 7, INT64_MAX / 2 + 7 },
		{ 3, INT64_MAX, 62, 0, 3 * (INT64_C(1) << 60) },
		{ 3, INT64_MAX, 63, 0, INT64_MAX / 2 },
		{ 1, INT64_MAX, INT_MAX, UINT32_MAX,
		    INT64_MAX / 2 + UINT32_MAX },
	};

	for (size_t i = 0; i < NITEMS(cases); i++) {
		const struct delay_case	*c = &cases[i];
		struct backoff_policy	 p = { c->initial, c->max, 3 };

		print_message("case %zu: %lld/%lld failures %d rnd %u\n", i,
		    (long long)c->initial, (long long)c->max, c->failures,
		    c->rnd);
		assert_true(backoff_delay(&p, c->failures, c->rnd) == c->want);
	}
}

/* min(initial * 2^(failures-1), max), by doubling: no shifts to trust. */
static int64_t
expected_cap(int64_t initial, int64_t max, int failures)
{
	int64_t d = initial;

	for (int i = 1; i < failures && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	return d < max ? d : max;
}

static void
test_delay_bounds(void **state)
{
	static const struct backoff_policy policies[] = {
		{ 1, INT64_MAX, 1 }, { 250, 30000, 1 }, { 1000, 3600000, 1 },
		{ 7, 7, 1 }, { 999, 1000, 1 },
	};
	static const uint32_t rnds[] = {
		0, 1, 2, 12345, 0x7fffffff, 0x80000000, UINT32_MAX - 1,
		UINT32_MAX,
	};

	for (size_t i = 0; i < NITEMS(policies); i++)
		for (int f = 1; f <= 200; f++) {
			int64_t d = expected_cap(policies[i].initial_ms,
			    policies[i].max_ms, f);

			/* rnd 0 gives exactly the half */
			assert_true(backoff_delay(&policies[i], f, 0) ==
			    d / 2);
			for (size_t r = 0; r < NITEMS(rnds); r++) {
				int64_t v = backoff_delay(&policies[i], f,
				    rnds[r]);

				assert_true(v >= d / 2 && v <= d);
			}
		}
}

/* One step of a breaker walk. */
struct bstep {
	char			 op;	/* a allow, r ready, s success,
					 * f failure, x release */
	int64_t			 t;
	uint32_t		 rnd;
	int			 ret;	/* what the call returns */
	enum breaker_state	 state;	/* afterwards */
	int			 failures;
	int64_t			 retry_at;	/* checked unless closed */
	int			 trial;
};

static void
run_breaker(const struct backoff_policy *p, const struct bstep *steps,
    size_t n)
{
	struct breaker b = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct bstep	*s = &steps[i];
		int			 ret = 0;

		print_message("step %zu: %c at %lld\n", i, s->op,
		    (long long)s->t);
		switch (s->op) {
		case 'a':
			ret = breaker_allow(&b, s->t);
			break;
		case 'r':
			ret = breaker_ready(&b, s->t);
			break;
		case 's':
			ret = breaker_success(&b);
			break;
		case 'f':
			ret = breaker_failure(&b, p, s->t, s->rnd);
			break;
		case 'x':
			breaker_release(&b);
			ret = s->ret;
			break;
		default:
			fail_msg("bad op %c", s->op);
		}
		assert_int_equal(ret, s->ret);
		assert_string_equal(breaker_state_name(b.state),
		    breaker_state_name(s->state));
		assert_int_equal(b.failures, s->failures);
		assert_int_equal(b.trial, s->trial);
		if (s->state != BREAKER_CLOSED)
			assert_true(b.retry_at == s->retry_at);
	}
}

#define C	BREAKER_CLOSED
#define O	BREAKER_OPEN
#define H	BREAKER_HALF_OPEN

static void
test_breaker_walk(void **state)
{
	/* 3 failures open it for backoff_initial (rnd 0: d/2 = 500), a
	 * failed trial for twice that (rnd 0: 1000) */
	static const struct backoff_policy p = { 1000, 60000, 3 };
	static const struct bstep steps[] = {
		{ 'a', 0, 0, 1, C, 0, 0, 0 },
		{ 'f', 10, 0, 0, C, 1, 0, 0 },
		{ 'r', 10, 0, 1, C, 1, 0, 0 },
		{ 'f', 20, 0, 0, C, 2, 0, 0 },
		/* "consecutive": a success in between starts over */
		{ 's', 25, 0, 0, C, 0, 0, 0 },
		{ 'f', 30, 0, 0, C, 1, 0, 0 },
		{ 'f', 40, 0, 0, C, 2, 0, 0 },
		{ 'a', 45, 0, 1, C, 2, 0, 0 },
		{ 'f', 50, 0, 1, O, 3, 550, 0 },
		{ 'a', 100, 0, 0, O, 3, 550, 0 },
		{ 'r', 549, 0, 0, O, 3, 550, 0 },
		{ 'a', 549, 0, 0, O, 3, 550, 0 },
		/* in flight before it opened: no news, no longer wait */
		{ 'f', 549, 0, 0, O, 3, 550, 0 },
		{ 'r', 550, 0, 1, O, 3, 550, 0 },
		{ 'a', 550, 0, 1, H, 3, 550, 1 },
		{ 'a', 551, 0, 0, H, 3, 550, 1 },
		{ 'r', 551, 0, 0, H, 3, 550, 1 },
		/* the trial failed: open again, 1000 instead of 500 */
		{ 'f', 3000, 0, 1, O, 4, 4000, 0 },
		{ 'a', 3999, 0, 0, O, 4, 4000, 0 },
		{ 'a', 4000, 0, 1, H, 4, 4000, 1 },
		/* cancelled: the slot is free, the count unchanged */
		{ 'x', 4000, 0, 0, H, 4, 4000, 0 },
		{ 'r', 4001, 0, 1, H, 4, 4000, 0 },
		{ 'a', 4001, 0, 1, H, 4, 4000, 1 },
		{ 's', 4100, 0, 1, C, 0, 0, 0 },
		{ 'a', 4101, 0, 1, C, 0, 0, 0 },
		{ 'r', 4101, 0, 1, C, 0, 0, 0 },
		{ 's', 4102, 0, 0, C, 0, 0, 0 },
	};

	run_breaker(&p, steps, NITEMS(steps));
}

/* Each failed trial doubles the wait, up to the cap; rnd spreads it. */
static void
test_breaker_escalates(void **state)
{
	static const struct backoff_policy p = { 100, 1000, 1 };
	static const struct bstep steps[] = {
		/* threshold 1: the first failure opens; d = 100, rnd 50 */
		{ 'f', 0, 50, 1, O, 1, 100, 0 },
		{ 'a', 100, 0, 1, H, 1, 100, 1 },
		{ 'f', 100, 100, 1, O, 2, 300, 0 },	/* d 200 */
		{ 'a', 300, 0, 1, H, 2, 300, 1 },
		{ 'f', 300, 0, 1, O, 3, 500, 0 },	/* d 400 */
		{ 'a', 500, 0, 1, H, 3, 500, 1 },
		{ 'f', 500, 400, 1, O, 4, 1300, 0 },	/* d 800 */
		{ 'a', 1300, 0, 1, H, 4, 1300, 1 },
		{ 'f', 1300, 500, 1, O, 5, 2300, 0 },	/* d 1600 -> 1000 */
		{ 'a', 2300, 0, 1, H, 5, 2300, 1 },
		{ 'f', 2300, 0, 1, O, 6, 2800, 0 },	/* capped, rnd 0: 500 */
		/* a late success (admitted while closed) closes it too */
		{ 's', 2400, 0, 1, C, 0, 0, 0 },
	};

	run_breaker(&p, steps, NITEMS(steps));
}

/* A threshold of 0 or less behaves as 1; waits saturate, not wrap. */
static void
test_breaker_edges(void **state)
{
	struct backoff_policy	 p = { 1000, INT64_MAX, 0 };
	struct breaker		 b = { 0 };

	assert_int_equal(breaker_failure(&b, &p, 0, 0), 1);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_true(b.retry_at == 500);

	breaker_success(&b);
	p.threshold = 1;
	p.initial_ms = INT64_MAX / 2;
	assert_int_equal(breaker_failure(&b, &p, INT64_MAX - 10, UINT32_MAX),
	    1);
	assert_true(b.retry_at == INT64_MAX);
	assert_int_equal(breaker_allow(&b, INT64_MAX - 1), 0);

	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN),
	    "half-open");
	assert_string_equal(breaker_state_name((enum breaker_state)42), "-");
}

/*
 * ready() orders upstreams without taking a trial: a caller walks the
 * list, skips those not ready and takes the first that allows.
 */
static int
pick(struct breaker *bs, size_t n, int64_t now)
{
	for (size_t i = 0; i < n; i++)
		if (breaker_ready(&bs[i], now) && breaker_allow(&bs[i], now))
			return (int)i;
	return -1;
}

static void
test_breaker_ready_order(void **state)
{
	static const struct backoff_policy p = { 1000, 60000, 1 };
	struct breaker	bs[2] = { { 0 }, { 0 } };
	int		before;

	assert_int_equal(pick(bs, 2, 0), 0);
	breaker_failure(&bs[0], &p, 0, 0);	/* open until 500 */
	assert_int_equal(breaker_ready(&bs[0], 499), 0);
	assert_int_equal(pick(bs, 2, 499), 1);
	/* ready() is a question, not a claim: asking twice changes nothing */
	before = bs[0].trial;
	assert_int_equal(breaker_ready(&bs[0], 500), 1);
	assert_int_equal(breaker_ready(&bs[0], 500), 1);
	assert_int_equal(bs[0].trial, before);
	assert_int_equal(bs[0].state, BREAKER_OPEN);
	/* the first takes the trial, then the second is chosen */
	assert_int_equal(pick(bs, 2, 500), 0);
	assert_int_equal(pick(bs, 2, 500), 1);
	breaker_failure(&bs[1], &p, 500, 0);
	assert_int_equal(pick(bs, 2, 600), -1);
	breaker_release(&bs[0]);
	assert_int_equal(pick(bs, 2, 600), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_table),
		cmocka_unit_test(test_delay_bounds),
		cmocka_unit_test(test_breaker_walk),
		cmocka_unit_test(test_breaker_escalates),
		cmocka_unit_test(test_breaker_edges),
		cmocka_unit_test(test_breaker_ready_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
