/*
 * The shared counters' names (shared.c): one row per login key and per
 * route and identity, never the same row for two of them, text the
 * database takes whatever bytes a client sent, and a name that does not
 * fit is refused rather than cut (a cut name could be another's).
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
	/* Not UTF-8, spaces, controls, '%': escaped, so the database takes
	 * any name, and a user named "a%20b" is not "a b". */
	assert_int_equal(shared_login_name(out, sizeof(out), 'u',
	    "gu\xffst a\t%"), 0);
	assert_string_equal(out, "u:gu%FFst%20a%09%25");
	assert_int_equal(shared_login_name(out, sizeof(out), 'u', "a%20b"), 0);
	assert_string_equal(out, "u:a%2520b");
	/* An escape that does not fit is refused whole, never cut. */
	assert_int_equal(shared_login_name(out, 5, 'u', "\xff"), -1);
	assert_int_equal(shared_login_name(out, 6, 'u', "\xff"), 0);
	assert_string_equal(out, "u:%FF");
}

/* The longest user name, every byte escaped, fits SHARED_NAME_MAX. */
static void
test_name_max(void **state)
{
	char	user[256], out[SHARED_NAME_MAX];

	(void)state;
	memset(user, 0xfe, sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	assert_int_equal(shared_login_name(out, sizeof(out), 'u', user), 0);
	assert_int_equal(strlen(out), 2 + 3 * 255);
	assert_int_equal(shared_rate_name(out, sizeof(out),
	    "a-label-of-sixty-four-characters-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    user), 0);
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
	{ "east", "cert:CN=a b,O=x", "rate:east:cert:CN=a%20b,O=x" },
};

static void
test_rate_names(void **state)
{
	char	names[5][128];

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
		cmocka_unit_test(test_name_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
