/*
 * reply: the framing decisions field clients depend on (docs/interop.md).
 * est_reply_cte: the Content-Transfer-Encoding an answer carries: the
 * CA's own, as it came, when it is one printable token; else "base64" for
 * 2xx EST bodies of the base64 media types (parameters and case ignored);
 * none for errors, empty bodies, text or multipart. Then
 * est_reply_challenge_only: estrad's 401 with challenges loses its body
 * and Content-Type and gives its reason (printable ASCII, cut to the
 * buffer) for the status line; a 401 without challenges (a CA's,
 * relayed) and other statuses are left as they are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "estrad/reply.h"

#include "testpki.h"

static const struct {
	int		 status;
	const char	*content_type;
	size_t		 body_len;
	const char	*ca_cte;	/* the CA's header, "" for none */
	const char	*want;		/* NULL: no header */
} cte_cases[] = {
	{ 200, "application/pkcs7-mime; smime-type=certs-only", 10, "", "base64" },
	{ 200, "application/pkcs7-mime", 10, "", "base64" },
	{ 200, "Application/PKCS7-MIME;smime-type=CMC-response", 10, "", "base64" },
	{ 200, "application/csrattrs", 10, "", "base64" },
	{ 200, "application/pkcs8", 10, "", "base64" },
	{ 202, "application/pkcs7-mime", 10, "", "base64" },
	{ 200, "application/csrattrs", 0, "", NULL },	/* nothing to encode */
	{ 204, "", 0, "", NULL },
	{ 200, "multipart/mixed; boundary=x", 10, "", NULL },	/* parts say it */
	{ 200, "text/plain", 10, "", NULL },
	{ 200, "", 10, "", NULL },
	{ 404, "application/pkcs7-mime", 10, "", NULL },	/* a CA's odd error */
	{ 502, "text/plain", 10, "", NULL },
	{ 200, "application/pkcs7-mimex", 10, "", NULL },
	/* The CA's own header is relayed as it came. */
	{ 200, "application/pkcs7-mime", 10, "base64", "base64" },
	{ 200, "application/pkcs7-mime", 10, "BASE64", "BASE64" },
	{ 200, "application/pkcs7-mime", 10, "binary", "binary" },
	{ 200, "multipart/mixed; boundary=x", 10, "8bit", "8bit" },
	{ 404, "text/plain", 10, "7bit", "7bit" },
	/* ... unless it is not one printable token: then as if absent. */
	{ 200, "application/pkcs7-mime", 10, "base 64", "base64" },
	{ 200, "application/pkcs7-mime", 10, "b\x01se64", "base64" },
	{ 200, "text/plain", 10, "\xff", NULL },
};

static void
test_cte(void **state)
{
	(void)state;
	for (size_t i = 0; i < NITEMS(cte_cases); i++) {
		struct est_reply r;
		const char *got;

		memset(&r, 0, sizeof(r));
		r.status = cte_cases[i].status;
		snprintf(r.content_type, sizeof(r.content_type), "%s",
		    cte_cases[i].content_type);
		snprintf(r.cte, sizeof(r.cte), "%s", cte_cases[i].ca_cte);
		r.body_len = cte_cases[i].body_len;
		got = est_reply_cte(&r);
		if (cte_cases[i].want == NULL ? got != NULL : got == NULL ||
		    strcmp(got, cte_cases[i].want) != 0)
			fail_msg("case %zu (%d %s, %zu bytes, CA '%s'): got %s, "
			    "want %s", i, r.status, r.content_type, r.body_len,
			    r.cte, got ? got : "none",
			    cte_cases[i].want ? cte_cases[i].want : "none");
	}
}

/* estrad's own 401: body and Content-Type go, the reason is the phrase. */
static void
test_challenge(void **state)
{
	struct est_reply r;
	char phrase[64];

	(void)state;
	memset(&r, 0, sizeof(r));
	est_reply_error(&r, 401, "Digest uri is not the request target");
	r.nchallenges = 1;
	assert_int_equal(est_reply_challenge_only(&r, phrase, sizeof(phrase)), 1);
	assert_string_equal(phrase, "Digest uri is not the request target");
	assert_null(r.body);
	assert_int_equal(r.body_len, 0);
	assert_string_equal(r.content_type, "");
	assert_int_equal(r.status, 401);
	/* The access line still has it. */
	assert_string_equal(r.reason, "Digest uri is not the request target");
	est_reply_clear(&r);

	/* Bytes outside printable ASCII never reach the status line; a long
	 * reason is cut to the buffer. */
	est_reply_error(&r, 401, "user \xc3\xa9t\xe9 refused");
	r.nchallenges = 2;
	assert_int_equal(est_reply_challenge_only(&r, phrase, 12), 1);
	assert_string_equal(phrase, "user ??t? r");
	est_reply_clear(&r);
}

/* Not estrad's challenge: nothing changes. */
static void
test_not_challenge(void **state)
{
	static const struct {
		int status;
		int nchallenges;
	} cases[] = {
		{ 401, 0 },	/* a CA's 401, relayed */
		{ 403, 0 },
		{ 429, 0 },
		{ 200, 0 },
	};
	char phrase[64] = "untouched";

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		struct est_reply r;

		memset(&r, 0, sizeof(r));
		est_reply_error(&r, cases[i].status, "why");
		r.nchallenges = cases[i].nchallenges;
		assert_int_equal(est_reply_challenge_only(&r, phrase,
		    sizeof(phrase)), 0);
		assert_int_equal(r.body_len, 4);
		assert_memory_equal(r.body, "why\n", 4);
		assert_string_equal(r.content_type, "text/plain");
		assert_string_equal(phrase, "untouched");
		est_reply_clear(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cte),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_not_challenge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
