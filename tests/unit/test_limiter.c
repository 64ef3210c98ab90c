/*
 * Limiter tables: blocking after N failures in a window, the window's
 * end, independent keys, and bounded memory under a flood of keys that
 * pushes out no counter that blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "estrad/limiter.h"

#include "testpki.h"

struct step {
	char		 op;	/* 'f' fail, 'b' expect blocked value */
	const char	*key;
	long		 t;
	long		 want;	/* for 'b': seconds left, 0 = not blocked */
};

static void
run_steps(const struct step *steps, size_t n, long max, long window)
{
	struct limiter *l = limiter_new(64, max, window);

	assert_non_null(l);
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		if (s->op == 'f') {
			limiter_fail(l, s->key, s->t);
			continue;
		}
		print_message("step %zu: %s at %ld\n", i, s->key, s->t);
		assert_int_equal(limiter_blocked(l, s->key, s->t), s->want);
	}
	limiter_free(l);
}

static void
test_blocks_after_max(void **state)
{
	static const struct step steps[] = {
		{ 'b', "a:1.2.3.4", 1000, 0 },
		{ 'f', "a:1.2.3.4", 1000, 0 }, { 'f', "a:1.2.3.4", 1001, 0 },
		{ 'b', "a:1.2.3.4", 1002, 0 },	/* 2 of 3: not yet */
		{ 'f', "a:1.2.3.4", 1002, 0 },
		{ 'b', "a:1.2.3.4", 1002, 58 },	/* window began at 1000 */
		{ 'b', "a:1.2.3.4", 1059, 1 },
		{ 'b', "a:1.2.3.4", 1060, 0 },	/* the window is over */
		{ 'b', "u:alice", 1002, 0 },	/* other keys unaffected */
	};

	run_steps(steps, NITEMS(steps), 3, 60);
}

static void
test_window_restarts(void **state)
{
	static const struct step steps[] = {
		{ 'f', "u:bob", 0, 0 }, { 'f', "u:bob", 10, 0 },
		/* the window expired: counting starts again at 100 */
		{ 'f', "u:bob", 100, 0 },
		{ 'b', "u:bob", 100, 0 },
		{ 'f', "u:bob", 101, 0 },
		{ 'b', "u:bob", 101, 59 },
	};

	run_steps(steps, NITEMS(steps), 2, 60);
}

static void
test_bounded_memory(void **state)
{
	struct limiter	*l = limiter_new(64, 1, 60);
	char		 key[32];

	assert_non_null(l);
	limiter_fail(l, "a:victim", 0);
	assert_int_equal(limiter_blocked(l, "a:victim", 1), 59);
	/* A flood of newer keys cannot grow the table; each still counts. */
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "a:10.0.%d.%d", i / 256, i % 256);
		limiter_fail(l, key, 10);
		assert_int_equal(limiter_blocked(l, key, 10), 60);
	}
	limiter_free(l);
	limiter_free(NULL);
}

/*
 * A flood of fresh keys (unknown user names from many addresses) within
 * the window of a counter that blocks, or nearly does, must not push that
 * counter out: it would unblock an address or a user under attack. For
 * each flood time: alice (3 of 3, blocked) stays blocked, bob (2 of 3)
 * keeps his two failures.
 */
static void
test_flood_keeps_counters(void **state)
{
	static const long flood_at[] = { 100, 130, 159 };
	char key[32];

	for (size_t r = 0; r < NITEMS(flood_at); r++) {
		struct limiter	*l = limiter_new(64, 3, 60);
		long		 t = flood_at[r];

		print_message("flood at %ld\n", t);
		assert_non_null(l);
		for (int i = 0; i < 3; i++)
			limiter_fail(l, "u:alice", 100);
		limiter_fail(l, "u:bob", 100);
		limiter_fail(l, "u:bob", 100);
		for (int i = 0; i < 10000; i++) {
			snprintf(key, sizeof(key), "u:guess%d", i);
			limiter_fail(l, key, t);
		}
		assert_int_equal(limiter_blocked(l, "u:alice", t), 160 - t);
		assert_int_equal(limiter_blocked(l, "u:bob", t), 0);
		limiter_fail(l, "u:bob", t);
		assert_int_equal(limiter_blocked(l, "u:bob", t), 160 - t);
		limiter_free(l);
	}
}

/* An attempt counted ahead and forgiven on success leaves no trace. */
static void
test_forgive(void **state)
{
	struct limiter *l = limiter_new(64, 2, 60);

	assert_non_null(l);
	limiter_fail(l, "u:carol", 100);
	limiter_fail(l, "u:carol", 100);
	assert_int_equal(limiter_blocked(l, "u:carol", 100), 60);
	limiter_forgive(l, "u:carol");
	assert_int_equal(limiter_blocked(l, "u:carol", 100), 0);
	limiter_forgive(l, "u:carol");
	limiter_forgive(l, "u:carol");	/* never below zero */
	limiter_forgive(l, "u:nobody");	/* unknown keys: nothing */
	limiter_fail(l, "u:carol", 101);
	assert_int_equal(limiter_blocked(l, "u:carol", 101), 0);
	limiter_fail(l, "u:carol", 101);
	/* Back at zero, the next failure opened a new window at 101. */
	assert_int_equal(limiter_blocked(l, "u:carol", 101), 60);
	limiter_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_after_max),
		cmocka_unit_test(test_window_restarts),
		cmocka_unit_test(test_bounded_memory),
		cmocka_unit_test(test_flood_keeps_counters),
		cmocka_unit_test(test_forgive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
