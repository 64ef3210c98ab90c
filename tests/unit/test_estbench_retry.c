/*
 * estbench's Retry-After (tools/estbench/estbench_retry.c, RFC 9110
 * §10.2.3): delay-seconds, the three HTTP-date forms of §5.6.7 against a
 * fixed clock (a two-digit year by the 50-year rule), dates in the past,
 * huge values and the cap, and what is neither (junk, signs, fractions,
 * blanks, impossible dates), which leaves the wait untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "estbench.h"

#include "testpki.h"


/* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
#define T1994	((time_t)784111777)
/* Mon, 07 Dec 2026 12:00:00 GMT */
#define T2026	((time_t)1796644800)

struct retry_case {
	const char	*v;
	time_t		 now;
	double		 cap;
	int		 rc;
	double		 want;		/* when rc is 0 */
};

static void
test_retry_after_table(void **state)
{
	static const struct retry_case cases[] = {
		/* delay-seconds */
		{ "5", T1994, 120, 0, 5 },
		{ "0", T1994, 120, 0, 0 },
		{ "007", T1994, 120, 0, 7 },
		{ "120", T1994, 120, 0, 120 },
		{ "121", T1994, 120, 0, 120 },
		{ "86400", T1994, 1e9, 0, 86400 },
		{ "5", T1994, 0, 0, 0 },
		/* huge: no overflow, the cap */
		{ "99999999999999999999999999999999999999", T1994, 120, 0, 120 },
		{ "12345678901234", T1994, 1e30, 0, 12345678901234.0 },
		/* IMF-fixdate */
		{ "Sun, 06 Nov 1994 08:50:07 GMT", T1994, 120, 0, 30 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", T1994, 120, 0, 0 },
		{ "Sun, 06 Nov 1994 08:49:07 GMT", T1994, 120, 0, 0 },
		{ "Sun, 06 Nov 1994 09:49:37 GMT", T1994, 120, 0, 120 },
		{ "Sun, 06 Nov 1994 09:49:37 GMT", T1994, 1e9, 0, 3600 },
		{ "Fri, 31 Dec 9999 23:59:59 GMT", T1994, 120, 0, 120 },
		{ "Thu, 01 Jan 1970 00:00:00 GMT", T2026, 120, 0, 0 },
		{ "Fri, 01 Jan 2027 00:00:00 GMT", T2026, 1e9, 0, 2116800 },
		{ "Tue, 29 Feb 2000 00:00:00 GMT", T1994, 1e12, 0,
		    951782400.0 - 784111777.0 },
		/* rfc850-date, two-digit years (§5.6.7: more than 50 years
		 * ahead is the past century) */
		{ "Sunday, 06-Nov-94 08:50:07 GMT", T1994, 120, 0, 30 },
		{ "Friday, 01-Jan-27 00:00:00 GMT", T2026, 1e9, 0, 2116800 },
		{ "Tuesday, 01-Jan-80 00:00:00 GMT", T2026, 1e12, 0, 0 },
		/* asctime-date */
		{ "Sun Nov  6 08:50:07 1994", T1994, 120, 0, 30 },
		{ "Sun Nov 6 08:50:07 1994", T1994, 120, 0, 30 },
		/* neither */
		{ "", T1994, 120, -1, 0 },
		{ "-5", T1994, 120, -1, 0 },
		{ "+5", T1994, 120, -1, 0 },
		{ "5.5", T1994, 120, -1, 0 },
		{ "5s", T1994, 120, -1, 0 },
		{ " 5", T1994, 120, -1, 0 },
		{ "0x10", T1994, 120, -1, 0 },
		{ "soon", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1994 08:50:07 UTC", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1994 08:50:07 GMT junk", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1994 08:50:07", T1994, 120, -1, 0 },
		{ "sun, 06 Nov 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun, 06 nov 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Xyz, 06 Nov 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun, 31 Feb 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun, 00 Nov 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1994 24:00:00 GMT", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1994 08:60:00 GMT", T1994, 120, -1, 0 },
		{ "Sun, 06 Nov 1899 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun, 06-Nov-94 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sunday, 06 Nov 1994 08:50:07 GMT", T1994, 120, -1, 0 },
		{ "Sun Nov  6 08:50:07 1994 GMT", T1994, 120, -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		const struct retry_case *c = &cases[i];
		double secs = -42;
		int rc;

		print_message("case %zu: \"%s\" cap %g\n", i, c->v, c->cap);
		rc = retry_after_parse(c->v, c->now, c->cap, &secs);
		assert_int_equal(rc, c->rc);
		if (c->rc == 0)
			assert_true(secs == c->want);
		else
			assert_true(secs == -42);	/* untouched */
	}
}

static void
test_retry_after_null(void **state)
{
	double secs = -42;

	(void)state;
	assert_int_equal(retry_after_parse(NULL, T1994, 120, &secs), -1);
	assert_true(secs == -42);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_table),
		cmocka_unit_test(test_retry_after_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
