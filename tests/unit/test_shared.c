/*
 * The shared counters' names (shared.c): one row per login key and per
 * route and identity, never the same row for two of them, and a name that
 * does not fit is refused rather than cut (a cut name could be another's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "estrad/shared.h"

#include "testpki.h"

static void
test_login_names(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(shared_login_name(out, sizeof(out), 'a',
	    "192.0.2.7"), 0);
	assert_string_equal(out, "a:192.0.2.7");
	assert_int_equal(shared_login_name(out, sizeof(out), 'u', "est:user"),
	    0);
	assert_string_equal(out, "u:est:user");
	/* Exactly full, then one byte too long. */
	assert_int_equal(shared_login_name(out, 6, 'u', "abc"), 0);
	assert_int_equal(shared_login_name(out, 6, 'u', "abcd"), -1);
}

struct rate_case {
	const char	*label;		/* NULL: the route without one */
	const char	*key;
	const char	*want;
};

static const struct rate_case rate_cases[] = {
	{ NULL, "digest:estuser", "rate::digest:estuser" },
	{ "east", "digest:estuser", "rate:east:digest:estuser" },
	{ "east", "cert:CN=a:b", "rate:east:cert:CN=a:b" },
	{ "-", "addr:192.0.2.1", "rate:-:addr:192.0.2.1" },
};

static void
test_rate_names(void **state)
{
	char	names[4][128];

	(void)state;
	for (size_t i = 0; i < NITEMS(rate_cases); i++) {
		const struct rate_case *c = &rate_cases[i];

		assert_int_equal(shared_rate_name(names[i], sizeof(names[i]),
		    c->label, c->key), 0);
		assert_string_equal(names[i], c->want);
		/* Never a login counter's row. */
		assert_true(strncmp(names[i], "a:", 2) != 0 &&
		    strncmp(names[i], "u:", 2) != 0);
	}
	/* Labels hold no ':' (router.c): the label ends at the first one,
	 * so a user named "east:x" on the bare route is not east's "x". */
	assert_int_equal(shared_rate_name(names[0], sizeof(names[0]), NULL,
	    "digest:east:x"), 0);
	assert_int_equal(shared_rate_name(names[1], sizeof(names[1]), "east",
	    "digest:x"), 0);
	assert_string_not_equal(names[0], names[1]);
	assert_int_equal(shared_rate_name(names[0], 12, "east", "digest:x"),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_names),
		cmocka_unit_test(test_rate_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
