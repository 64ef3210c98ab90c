/*
 * Digest, the client side (src/digest_offer.c): which challenge of a CA's
 * WWW-Authenticate fields estrad keeps, table by table (the one it picks,
 * or none, and why), and the Authorization value it answers with: the
 * RFC 7616 §3.9.1 vectors byte for byte, then read back by the server
 * side (digest_parse, digest_response_ok) for every algorithm, with nc
 * counting up, escaped values and the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "estrad/digest.h"

#include "testpki.h"


/* estrad's own challenge fields, as auth.c sends them (SHA-256 first). */
#define EST_SHA256	"Digest realm=\"estrealm\", qop=\"auth\", " \
			"algorithm=SHA-256, nonce=\"nS\", opaque=\"o1\""
#define EST_MD5		"Digest realm=\"estrealm\", qop=\"auth\", " \
			"algorithm=MD5, nonce=\"nM\", opaque=\"o1\""
/* A case whose fields yield no challenge estrad can answer. */
#define NONE		.nonce = NULL
#define PLAIN		"Digest realm=\"r\", nonce=\"n\", qop=\"auth\""

struct pick_case {
	const char	*name;
	const char	*fields[3];	/* WWW-Authenticate values, in order */
	const char	*nonce;		/* NULL: none is kept */
	enum digest_alg	 alg;
	const char	*realm;
	const char	*opaque;	/* NULL: none given */
	int		 stale;
};

static const struct pick_case pick_cases[] = {
	{ "estrad's two fields, SHA-256 first: SHA-256", { EST_SHA256, EST_MD5 },
	  "nS", DIGEST_ALG_SHA256, "estrealm", "o1", 0 },
	{ "MD5 first, SHA-256 second: MD5, as the server prefers",
	  { EST_MD5, EST_SHA256 }, "nM", DIGEST_ALG_MD5, "estrealm", "o1", 0 },
	{ "MD5 only (libest's server)", { EST_MD5 },
	  "nM", DIGEST_ALG_MD5, "estrealm", "o1", 0 },
	{ "two challenges in one field",
	  { "Digest realm=\"r\", qop=\"auth\", algorithm=MD5, nonce=\"a\", "
	    "Digest realm=\"r\", qop=\"auth\", algorithm=SHA-256, "
	    "nonce=\"b\"" }, "a", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "no algorithm: MD5", { PLAIN }, "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "Basic before Digest in one field",
	  { "Basic realm=\"b\", charset=\"UTF-8\", " PLAIN },
	  "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "token68 scheme before Digest",
	  { "Negotiate YIIabc==, " PLAIN }, "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "Basic field, then Digest field",
	  { "Basic realm=\"b\"", PLAIN }, "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "the first of equals",
	  { "Digest realm=\"r\", qop=\"auth\", nonce=\"first\"",
	    "Digest realm=\"r\", qop=\"auth\", nonce=\"second\"" },
	  "first", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "the first usable: SHA-256-sess before SHA-256",
	  { "Digest realm=\"r\", qop=\"auth\", algorithm=SHA-256-sess, "
	    "nonce=\"s\"", "Digest realm=\"r\", qop=\"auth\", "
	    "algorithm=SHA-256, nonce=\"p\"" },
	  "s", DIGEST_ALG_SHA256_SESS, "r", NULL, 0 },
	{ "MD5-sess alone",
	  { "Digest realm=\"r\", qop=\"auth\", algorithm=MD5-sess, "
	    "nonce=\"s\"" }, "s", DIGEST_ALG_MD5_SESS, "r", NULL, 0 },
	{ "qop list with auth-int first",
	  { "Digest realm=\"r\", qop=\"auth-int, auth\", nonce=\"n\"" },
	  "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "qop as a token", { "Digest realm=\"r\", qop=auth, nonce=\"n\"" },
	  "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "scheme and names in other cases",
	  { "digest REALM=\"r\", Nonce=\"n\", QOP=\"AUTH\", "
	    "Algorithm=sha-256" }, "n", DIGEST_ALG_SHA256, "r", NULL, 0 },
	{ "stale=true", { EST_SHA256 ", stale=true" },
	  "nS", DIGEST_ALG_SHA256, "estrealm", "o1", 1 },
	{ "stale=TRUE, quoted", { EST_MD5 ", stale=\"TRUE\"" },
	  "nM", DIGEST_ALG_MD5, "estrealm", "o1", 1 },
	{ "stale=false", { EST_MD5 ", stale=false" },
	  "nM", DIGEST_ALG_MD5, "estrealm", "o1", 0 },
	{ "escaped quote in the realm",
	  { "Digest realm=\"a\\\"b\", qop=\"auth\", nonce=\"n\"" },
	  "n", DIGEST_ALG_MD5, "a\"b", NULL, 0 },
	{ "unknown parameters ignored",
	  { "Digest realm=\"r\", domain=\"/ /x\", charset=UTF-8, "
	    "userhash=false, qop=\"auth\", nonce=\"n\"" },
	  "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "empty list elements", { ",, Digest realm=\"r\",, qop=\"auth\" ,"
	  "nonce=\"n\",," }, "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "a broken challenge, then a good one",
	  { "Digest realm=\"r\", nonce=@@@, qop=\"auth\", " PLAIN },
	  "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	{ "unknown algorithm, then MD5",
	  { "Digest realm=\"r\", qop=\"auth\", algorithm=SHA-512-256, "
	    "nonce=\"x\"", PLAIN }, "n", DIGEST_ALG_MD5, "r", NULL, 0 },
	/* None. */
	{ "no qop (RFC 2069)", { "Digest realm=\"r\", nonce=\"n\"" }, NONE },
	{ "qop auth-int only",
	  { "Digest realm=\"r\", qop=\"auth-int\", nonce=\"n\"" }, NONE },
	{ "qop authx", { "Digest realm=\"r\", qop=\"authx\", nonce=\"n\"" }, NONE },
	{ "no realm", { "Digest qop=\"auth\", nonce=\"n\"" }, NONE },
	{ "no nonce", { "Digest realm=\"r\", qop=\"auth\"" }, NONE },
	{ "empty nonce", { "Digest realm=\"r\", qop=\"auth\", nonce=\"\"" }, NONE },
	{ "two nonces",
	  { "Digest realm=\"r\", qop=\"auth\", nonce=\"a\", nonce=\"b\"" }, NONE },
	{ "unterminated quote",
	  { "Digest realm=\"r\", qop=\"auth\", nonce=\"n" }, NONE },
	{ "junk after a value",
	  { "Digest realm=\"r\" x, qop=\"auth\", nonce=\"n\"" }, NONE },
	{ "SHA-512-256 only", { "Digest realm=\"r\", qop=\"auth\", "
	  "algorithm=SHA-512-256, nonce=\"n\"" }, NONE },
	{ "Basic only", { "Basic realm=\"estrealm\", charset=\"UTF-8\"" }, NONE },
	{ "empty field", { "" }, NONE },
	{ "a lone quote", { "\"" }, NONE },
	{ "scheme only", { "Digest" }, NONE },
};

static void
test_pick(void **state)
{
	for (size_t i = 0; i < NITEMS(pick_cases); i++) {
		const struct pick_case	*c = &pick_cases[i];
		struct digest_offer	 o;
		int			 changed = 0;

		print_message("pick: %s\n", c->name);
		memset(&o, 0, sizeof(o));
		for (size_t f = 0; f < 3 && c->fields[f] != NULL; f++)
			changed |= digest_offer_pick(c->fields[f], &o);
		if (c->nonce == NULL) {
			assert_int_equal(changed, 0);
			assert_string_equal(o.nonce, "");
			continue;
		}
		assert_int_equal(changed, 1);
		assert_string_equal(o.nonce, c->nonce);
		assert_int_equal(o.alg, c->alg);
		assert_string_equal(o.realm, c->realm);
		assert_int_equal(o.has_opaque, c->opaque != NULL);
		assert_string_equal(o.opaque, c->opaque ? c->opaque : "");
		assert_int_equal(o.stale, c->stale);
		assert_int_equal(o.nc, 0);
	}
}

/* A nonce one byte too long for the server's own parser is not kept. */
static void
test_pick_overlong(void **state)
{
	char			 field[2 * DIGEST_VALUE_MAX];
	char			 nonce[DIGEST_VALUE_MAX + 1];
	struct digest_offer	 o;

	memset(nonce, 'n', sizeof(nonce) - 1);
	nonce[sizeof(nonce) - 1] = '\0';
	snprintf(field, sizeof(field), "Digest realm=\"r\", qop=\"auth\", "
	    "nonce=\"%s\"", nonce);
	memset(&o, 0, sizeof(o));
	assert_int_equal(digest_offer_pick(field, &o), 0);
	nonce[DIGEST_VALUE_MAX - 1] = '\0';	/* 255: fits */
	snprintf(field, sizeof(field), "Digest realm=\"r\", qop=\"auth\", "
	    "nonce=\"%s\"", nonce);
	assert_int_equal(digest_offer_pick(field, &o), 1);
	assert_string_equal(o.nonce, nonce);
	assert_int_equal(digest_offer_pick(NULL, &o), 0);
	assert_int_equal(digest_offer_pick(PLAIN, NULL), 0);
}

/* ---- the answer ---- */

#define RFC_REALM	"http-auth@example.org"
#define RFC_NONCE	"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define RFC_OPAQUE	"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
#define RFC_CNONCE	"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void
rfc_offer(struct digest_offer *o, enum digest_alg alg)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->realm, sizeof(o->realm), "%s", RFC_REALM);
	snprintf(o->nonce, sizeof(o->nonce), "%s", RFC_NONCE);
	snprintf(o->opaque, sizeof(o->opaque), "%s", RFC_OPAQUE);
	o->has_opaque = 1;
	o->alg = alg;
}

/* RFC 7616 §3.9.1: the example's responses, in the field estrad sends. */
static void
test_answer_rfc7616(void **state)
{
	static const struct {
		enum digest_alg	 alg;
		const char	*want;
	} cases[] = {
		{ DIGEST_ALG_MD5, "Digest username=\"Mufasa\", realm=\""
		  RFC_REALM "\", nonce=\"" RFC_NONCE "\", uri=\"/dir/index."
		  "html\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\""
		  RFC_CNONCE "\", response=\"8ca523f5e9506fed4657c9700eebdbec"
		  "\", opaque=\"" RFC_OPAQUE "\"" },
		{ DIGEST_ALG_SHA256, "Digest username=\"Mufasa\", realm=\""
		  RFC_REALM "\", nonce=\"" RFC_NONCE "\", uri=\"/dir/index."
		  "html\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\""
		  RFC_CNONCE "\", response=\"753927fa0e85d155564e2e272a28d1802"
		  "ca10daf4496794697cf8db5856cb6c1\", opaque=\"" RFC_OPAQUE
		  "\"" },
	};
	struct digest_offer	o;
	char			out[1024];

	for (size_t i = 0; i < NITEMS(cases); i++) {
		rfc_offer(&o, cases[i].alg);
		assert_int_equal(digest_offer_answer(&o, "Mufasa",
		    "Circle of Life", "GET", "/dir/index.html", RFC_CNONCE, out,
		    sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
		assert_int_equal(o.nc, 1);
		/* Exactly the room it needs, and one byte less. */
		o.nc = 0;
		assert_int_equal(digest_offer_answer(&o, "Mufasa",
		    "Circle of Life", "GET", "/dir/index.html", RFC_CNONCE, out,
		    strlen(cases[i].want) + 1), 0);
		o.nc = 0;
		assert_int_equal(digest_offer_answer(&o, "Mufasa",
		    "Circle of Life", "GET", "/dir/index.html", RFC_CNONCE, out,
		    strlen(cases[i].want)), -1);
	}
}

/* What the server side makes of the answer: every algorithm, nc up. */
static void
test_answer_verifies(void **state)
{
	static const enum digest_alg algs[] = { DIGEST_ALG_MD5,
	    DIGEST_ALG_MD5_SESS, DIGEST_ALG_SHA256, DIGEST_ALG_SHA256_SESS };
	struct digest_offer	 o;
	struct digest_auth	 a;
	const char		*reason;
	char			 out[2048], ha1[DIGEST_HEX_MAX];

	for (size_t i = 0; i < NITEMS(algs); i++) {
		print_message("answer: %s\n", digest_alg_name(algs[i]));
		rfc_offer(&o, algs[i]);
		/* A realm with a quote and a backslash goes back escaped. */
		snprintf(o.realm, sizeof(o.realm), "est \"lab\" \\ realm");
		assert_int_equal(digest_ha1_hex(algs[i], "ra-user",
		    o.realm, "pw", ha1, sizeof(ha1)), 0);
		for (unsigned long nc = 1; nc <= 3; nc++) {
			assert_int_equal(digest_offer_answer(&o, "ra-user", "pw",
			    "POST", "/.well-known/est/east/simpleenroll",
			    "c0ffee", out, sizeof(out)), 0);
			assert_int_equal(digest_parse(out, &a, &reason), 0);
			assert_int_equal(a.alg, algs[i]);
			assert_int_equal(a.nc_value, nc);
			assert_string_equal(a.realm, o.realm);
			assert_string_equal(a.uri,
			    "/.well-known/est/east/simpleenroll");
			assert_string_equal(a.opaque, RFC_OPAQUE);
			assert_int_equal(digest_response_ok(&a, ha1, "POST"), 1);
			assert_int_equal(digest_response_ok(&a, ha1, "GET"), 0);
		}
	}
	/* Without an opaque, none is sent. */
	rfc_offer(&o, DIGEST_ALG_MD5);
	o.has_opaque = 0;
	o.opaque[0] = '\0';
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", "/x", "c",
	    out, sizeof(out)), 0);
	assert_null(strstr(out, "opaque"));
}

static void
test_answer_refused(void **state)
{
	struct digest_offer	 o;
	char			 out[2048], uri[DIGEST_URI_MAX + 1];

	rfc_offer(&o, DIGEST_ALG_MD5);
	/* A user name that would end the header line. */
	assert_int_equal(digest_offer_answer(&o, "ra\r\nX-Evil: 1", "pw",
	    "GET", "/x", "c", out, sizeof(out)), -1);
	assert_int_equal(digest_offer_answer(&o, "ra\x7f", "pw", "GET", "/x",
	    "c", out, sizeof(out)), -1);
	/* No challenge; an empty cnonce; missing arguments. */
	o.nonce[0] = '\0';
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", "/x", "c",
	    out, sizeof(out)), -1);
	rfc_offer(&o, DIGEST_ALG_MD5);
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", "/x", "",
	    out, sizeof(out)), -1);
	assert_int_equal(digest_offer_answer(&o, NULL, "p", "GET", "/x", "c",
	    out, sizeof(out)), -1);
	assert_int_equal(digest_offer_answer(NULL, "u", "p", "GET", "/x", "c",
	    out, sizeof(out)), -1);
	/* A target longer than the server side reads. */
	memset(uri, 'a', sizeof(uri) - 1);
	uri[0] = '/';
	uri[sizeof(uri) - 1] = '\0';
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", uri, "c",
	    out, sizeof(out)), -1);
	/* nc is 8 hex digits: the last count is ffffffff. */
	o.nc = 0xfffffffeUL;
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", "/x", "c",
	    out, sizeof(out)), 0);
	assert_non_null(strstr(out, "nc=ffffffff"));
	assert_int_equal(digest_offer_answer(&o, "u", "p", "GET", "/x", "c",
	    out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_pick_overlong),
		cmocka_unit_test(test_answer_rfc7616),
		cmocka_unit_test(test_answer_verifies),
		cmocka_unit_test(test_answer_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
