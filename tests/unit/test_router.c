/*
 * Routing table tests: RFC 7030 §3.2.2 paths with and without a CA label,
 * operation names that cannot be labels, bad paths, methods, media types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "estrad/router.h"

#include "testpki.h"

struct path_case {
	const char	*path;
	int		 ok;
	enum est_op	 op;
	const char	*label;		/* NULL: no label */
	const char	*reason;	/* when !ok */
};

static const struct path_case path_cases[] = {
	{ "/.well-known/est/cacerts", 1, EST_OP_CACERTS, NULL, NULL },
	{ "/.well-known/est/csrattrs", 1, EST_OP_CSRATTRS, NULL, NULL },
	{ "/.well-known/est/simpleenroll", 1, EST_OP_SIMPLEENROLL, NULL, NULL },
	{ "/.well-known/est/simplereenroll", 1, EST_OP_SIMPLEREENROLL, NULL,
	  NULL },
	{ "/.well-known/est/serverkeygen", 1, EST_OP_SERVERKEYGEN, NULL, NULL },
	{ "/.well-known/est/fullcmc", 1, EST_OP_FULLCMC, NULL, NULL },
	{ "/.well-known/est/east/cacerts", 1, EST_OP_CACERTS, "east", NULL },
	{ "/.well-known/est/a.b_c~d-1/simpleenroll", 1, EST_OP_SIMPLEENROLL,
	  "a.b_c~d-1", NULL },
	{ "/.well-known/est/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/cacerts",
	  1, EST_OP_CACERTS,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL },
	/* 65 characters: one too many */
	{ "/.well-known/est/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/cacerts",
	  0, 0, NULL, "bad CA label in path" },
	/* an operation name is never a label (RFC 7030 §3.2.2) */
	{ "/.well-known/est/cacerts/simpleenroll", 0, 0, NULL,
	  "bad CA label in path" },
	{ "/.well-known/est/simpleenroll/cacerts", 0, 0, NULL,
	  "bad CA label in path" },
	{ "/.well-known/est/../cacerts", 0, 0, NULL, "bad CA label in path" },
	{ "/.well-known/est/./cacerts", 0, 0, NULL, "bad CA label in path" },
	{ "/.well-known/est/%41/cacerts", 0, 0, NULL, "bad CA label in path" },
	{ "/.well-known/est//cacerts", 0, 0, NULL, "bad CA label in path" },
	{ "/.well-known/est/a/b/cacerts", 0, 0, NULL, "too many path segments" },
	{ "/.well-known/est/east/", 0, 0, NULL, "unknown EST operation" },
	{ "/.well-known/est/", 0, 0, NULL, "unknown EST operation" },
	{ "/.well-known/est/cacerts/", 0, 0, NULL, "bad CA label in path" },
	{ "/.well-known/est/CACERTS", 0, 0, NULL, "unknown EST operation" },
	{ "/.well-known/est/cacertsx", 0, 0, NULL, "unknown EST operation" },
	{ "/.well-known/est", 0, 0, NULL,
	  "not an EST path (expected /.well-known/est/...)" },
	{ "/foo", 0, 0, NULL, "not an EST path (expected /.well-known/est/...)" },
	{ "", 0, 0, NULL, "not an EST path (expected /.well-known/est/...)" },
	{ NULL, 0, 0, NULL, "not an EST path (expected /.well-known/est/...)" },
};

static void
test_paths(void **state)
{
	for (size_t i = 0; i < NITEMS(path_cases); i++) {
		const struct path_case	*c = &path_cases[i];
		struct est_route	 r;
		const char		*reason = NULL;
		int			 rc = router_parse_path(c->path, &r, &reason);

		print_message("path %s\n", c->path ? c->path : "(null)");
		if (!c->ok) {
			assert_int_equal(rc, -1);
			assert_string_equal(reason, c->reason);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(r.op, c->op);
		assert_int_equal(r.has_label, c->label != NULL);
		if (c->label != NULL)
			assert_string_equal(r.label, c->label);
	}
}

static void
test_labels(void **state)
{
	assert_true(router_label_valid("east"));
	assert_true(router_label_valid("A-9._~"));
	assert_false(router_label_valid(""));
	assert_false(router_label_valid(NULL));
	assert_false(router_label_valid("a/b"));
	assert_false(router_label_valid("a b"));
	assert_false(router_label_valid(".."));
	for (int op = 0; op < EST_OP_MAX; op++)
		assert_false(router_label_valid(est_op_name(op)));
}

static void
test_methods(void **state)
{
	static const struct {
		enum est_op	op;
		const char	*allow;
	} rows[] = {
		{ EST_OP_CACERTS, "GET" }, { EST_OP_CSRATTRS, "GET" },
		{ EST_OP_SIMPLEENROLL, "POST" }, { EST_OP_SIMPLEREENROLL, "POST" },
		{ EST_OP_SERVERKEYGEN, "POST" }, { EST_OP_FULLCMC, "POST" },
	};

	for (size_t i = 0; i < NITEMS(rows); i++) {
		int get = strcmp(rows[i].allow, "GET") == 0;
		assert_string_equal(router_allowed_method(rows[i].op),
		    rows[i].allow);
		assert_int_equal(router_method_ok(rows[i].op, EST_METHOD_GET), get);
		assert_int_equal(router_method_ok(rows[i].op, EST_METHOD_POST),
		    !get);
		assert_false(router_method_ok(rows[i].op, EST_METHOD_OTHER));
	}
}

static void
test_content_types(void **state)
{
	static const struct {
		enum est_op	 op;
		const char	*ctype;
		int		 ok;
	} rows[] = {
		{ EST_OP_SIMPLEENROLL, "application/pkcs10", 1 },
		{ EST_OP_SIMPLEENROLL, "Application/PKCS10", 1 },
		{ EST_OP_SIMPLEENROLL, "application/pkcs10; charset=x", 1 },
		{ EST_OP_SIMPLEENROLL, " application/pkcs10", 1 },
		{ EST_OP_SIMPLEREENROLL, "application/pkcs10", 1 },
		{ EST_OP_SERVERKEYGEN, "application/pkcs10", 1 },
		{ EST_OP_SIMPLEENROLL, "application/pkcs10x", 0 },
		{ EST_OP_SIMPLEENROLL, "application/pkcs1", 0 },
		{ EST_OP_SIMPLEENROLL, "text/plain", 0 },
		{ EST_OP_SIMPLEENROLL, "", 0 },
		{ EST_OP_SIMPLEENROLL, NULL, 0 },
		{ EST_OP_FULLCMC, "application/pkcs7-mime; smime-type=CMC-request",
		  1 },
		{ EST_OP_FULLCMC, "application/pkcs10", 0 },
		{ EST_OP_CACERTS, NULL, 1 },	/* GETs carry no body type */
	};

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("%s %s\n", est_op_name(rows[i].op),
		    rows[i].ctype ? rows[i].ctype : "(none)");
		assert_int_equal(router_content_type_ok(rows[i].op,
		    rows[i].ctype), rows[i].ok);
	}
	assert_string_equal(router_expected_type(EST_OP_SIMPLEENROLL),
	    "application/pkcs10");
}

static void
test_op_names(void **state)
{
	for (int op = 0; op < EST_OP_MAX; op++) {
		const char *name = est_op_name(op);
		assert_int_equal(est_op_from_name(name, strlen(name)), op);
	}
	assert_int_equal(est_op_from_name("cacert", 6), EST_OP_MAX);
	assert_string_equal(est_op_name(EST_OP_MAX), "-");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
