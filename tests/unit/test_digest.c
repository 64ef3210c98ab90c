/*
 * Digest tests: the RFC 7616 §3.9.1 vectors, the seed exchange's
 * Authorization header (tests/data/seed-exchange.txt, a copy of the
 * project's RFC 7030 example exchange), the header parser's accept and refuse tables, -sess
 * responses computed here independently with EVP, nonce validity, expiry
 * and replay, the bounded replay table against a reference model, and the
 * challenge's format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "estrad/digest.h"

#include "testpki.h"


#define R32	"0123456789abcdef0123456789abcdef"
#define R64	R32 R32
#define NOW	((time_t)1700000000)

static const unsigned char secret_a[] = "estrad test secret A, 32 bytes!!";
static const unsigned char secret_b[] = "estrad test secret B, 32 bytes!!";

/* ---- helpers ---- */

/* "Digest " + params joined by ", ", params[skip] left out (-1: none). */
static void
join_params(char *buf, size_t len, const char *const *params, size_t n,
    long skip)
{
	size_t o = (size_t)snprintf(buf, len, "Digest ");

	for (size_t i = 0; i < n; i++) {
		if ((long)i == skip)
			continue;
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    o > strlen("Digest ") ? ", " : "", params[i]);
		assert_true(o < len);
	}
}

/* Lowercase hex of md(s), computed here, apart from digest.c. */
static void
evp_hex(const EVP_MD *md, const char *s, char *out)
{
	unsigned char	 buf[EVP_MAX_MD_SIZE];
	unsigned int	 len = 0;

	assert_int_equal(EVP_Digest(s, strlen(s), buf, &len, md, NULL), 1);
	for (unsigned int i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", buf[i]);
}

static struct digest_nonces *
nonces(const unsigned char *secret, long lifetime, size_t slots)
{
	struct digest_nonces *n = digest_nonces_new(secret, 32, lifetime,
	    slots);

	assert_non_null(n);
	return n;
}

/* The nonce tables most tests use: n and same share a secret (two
 * replicas), other has another; 300 s, 16 slots. */
struct nonce_fx {
	struct digest_nonces	*n, *same, *other;
};

static int
nonces_setup(void **state)
{
	static struct nonce_fx fx;

	fx.n = nonces(secret_a, 300, 16);
	fx.same = nonces(secret_a, 300, 16);
	fx.other = nonces(secret_b, 300, 16);
	*state = &fx;
	return 0;
}

static int
nonces_teardown(void **state)
{
	struct nonce_fx *fx = *state;

	digest_nonces_free(fx->n);
	digest_nonces_free(fx->same);
	digest_nonces_free(fx->other);
	return 0;
}

#define NONCE_TEST(t) \
	cmocka_unit_test_setup_teardown(t, nonces_setup, nonces_teardown)

static void
make_nonce(struct digest_nonces *n, time_t t, char *out)
{
	assert_int_equal(digest_nonce_make(n, t, out, 64), 0);
}

/* ---- names and lengths ---- */

static void
test_alg_names(void **state)
{
	assert_string_equal(digest_alg_name(DIGEST_ALG_MD5), "MD5");
	assert_string_equal(digest_alg_name(DIGEST_ALG_MD5_SESS), "MD5-sess");
	assert_string_equal(digest_alg_name(DIGEST_ALG_SHA256), "SHA-256");
	assert_string_equal(digest_alg_name(DIGEST_ALG_SHA256_SESS),
	    "SHA-256-sess");
	assert_string_equal(digest_alg_name(DIGEST_ALG_MAX), "unknown");
	assert_int_equal(digest_hex_len(DIGEST_ALG_MD5), 32);
	assert_int_equal(digest_hex_len(DIGEST_ALG_MD5_SESS), 32);
	assert_int_equal(digest_hex_len(DIGEST_ALG_SHA256), 64);
	assert_int_equal(digest_hex_len(DIGEST_ALG_SHA256_SESS), 64);
	assert_int_equal(digest_hex_len(DIGEST_ALG_MAX), 0);
}

/* ---- RFC 7616 §3.9.1 ---- */

struct rfc_case {
	const char	*alg_param;
	enum digest_alg	 alg;
	const char	*response;
};

static const struct rfc_case rfc_cases[] = {
	{ "MD5", DIGEST_ALG_MD5, "8ca523f5e9506fed4657c9700eebdbec" },
	{ "SHA-256", DIGEST_ALG_SHA256,
	  "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" },
};

static void
test_rfc7616_vectors(void **state)
{
	for (size_t i = 0; i < NITEMS(rfc_cases); i++) {
		const struct rfc_case	*c = &rfc_cases[i];
		struct digest_auth	 a;
		const char		*reason = "unset";
		char			 hdr[1024], ha1[DIGEST_HEX_MAX];
		char			 resp[DIGEST_HEX_MAX];
		char			 upper[DIGEST_HEX_MAX];

		print_message("RFC 7616 %s\n", c->alg_param);
		snprintf(hdr, sizeof(hdr), "Digest username=\"Mufasa\", "
		    "realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
		    "algorithm=%s, "
		    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
		    "nc=00000001, "
		    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
		    "qop=auth, response=\"%s\", "
		    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
		    c->alg_param, c->response);
		assert_int_equal(digest_parse(hdr, &a, &reason), 0);
		assert_null(reason);
		assert_int_equal(a.alg, c->alg);
		assert_string_equal(a.username, "Mufasa");
		assert_string_equal(a.realm, "http-auth@example.org");
		assert_string_equal(a.uri, "/dir/index.html");
		assert_string_equal(a.nc, "00000001");
		assert_int_equal(a.nc_value, 1);
		assert_string_equal(a.qop, "auth");
		assert_string_equal(a.opaque,
		    "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");

		assert_int_equal(digest_ha1_hex(c->alg, "Mufasa",
		    "http-auth@example.org", "Circle of Life", ha1,
		    sizeof(ha1)), 0);
		assert_int_equal(strlen(ha1), digest_hex_len(c->alg));
		assert_int_equal(digest_response_hex(&a, ha1, "GET", resp,
		    sizeof(resp)), 0);
		assert_string_equal(resp, c->response);
		assert_int_equal(digest_response_ok(&a, ha1, "GET"), 1);

		/* A stored HA1 in upper case is the same HA1. */
		for (size_t k = 0; k <= strlen(ha1); k++)
			upper[k] = (char)(ha1[k] >= 'a' && ha1[k] <= 'f' ?
			    ha1[k] - 'a' + 'A' : ha1[k]);
		assert_int_equal(digest_response_ok(&a, upper, "GET"), 1);

		/* Wrong method, wrong password, short buffers. */
		assert_int_equal(digest_response_ok(&a, ha1, "POST"), 0);
		assert_int_equal(digest_response_hex(&a, ha1, "GET", resp,
		    digest_hex_len(c->alg)), -1);
		assert_int_equal(digest_ha1_hex(c->alg, "Mufasa",
		    "http-auth@example.org", "Circle of Life", ha1,
		    digest_hex_len(c->alg)), -1);
		assert_int_equal(digest_ha1_hex(c->alg, "Mufasa",
		    "http-auth@example.org", "circle of life", ha1,
		    sizeof(ha1)), 0);
		assert_int_equal(digest_response_ok(&a, ha1, "GET"), 0);

		/* One changed digit of the response. */
		assert_int_equal(digest_ha1_hex(c->alg, "Mufasa",
		    "http-auth@example.org", "Circle of Life", ha1,
		    sizeof(ha1)), 0);
		a.response[5] = a.response[5] == '0' ? '1' : '0';
		assert_int_equal(digest_response_ok(&a, ha1, "GET"), 0);
	}
}

/* A stored HA1 of the other hash's length never verifies. */
static void
test_ha1_length_mismatch(void **state)
{
	struct digest_auth	 a;
	const char		*reason;
	char			 md5[DIGEST_HEX_MAX], sha[DIGEST_HEX_MAX];
	char			 hdr[512];

	assert_int_equal(digest_ha1_hex(DIGEST_ALG_MD5, "u", "r", "p", md5,
	    sizeof(md5)), 0);
	assert_int_equal(digest_ha1_hex(DIGEST_ALG_SHA256, "u", "r", "p", sha,
	    sizeof(sha)), 0);
	snprintf(hdr, sizeof(hdr), "Digest username=u, realm=r, nonce=n, "
	    "uri=\"/\", cnonce=c, nc=00000001, qop=auth, response=" R32);
	assert_int_equal(digest_parse(hdr, &a, &reason), 0);
	assert_int_equal(digest_response_ok(&a, sha, "GET"), 0);
	assert_int_equal(digest_response_hex(&a, sha, "GET", hdr,
	    sizeof(hdr)), -1);
	assert_int_equal(digest_response_hex(&a, md5, "GET", hdr,
	    sizeof(hdr)), 0);
	memcpy(a.response, hdr, sizeof(a.response));
	assert_int_equal(digest_response_ok(&a, md5, "GET"), 1);
	assert_int_equal(digest_response_ok(&a, "zz", "GET"), 0);
	md5[0] = 'g';		/* not hex */
	assert_int_equal(digest_response_ok(&a, md5, "GET"), 0);
	assert_int_equal(digest_response_ok(&a, NULL, "GET"), 0);
}

/* ---- the seed exchange ---- */

/* The Authorization header of the seed exchange, its wrapped lines joined. */
static void
read_seed_authorization(char *out, size_t outlen)
{
	const char	*dir = getenv("ESTRAD_TEST_DATA");
	char		 path[1024], line[512];
	FILE		*fp;
	int		 in = 0;

	snprintf(path, sizeof(path), "%s/seed-exchange.txt",
	    dir != NULL ? dir : "tests/data");
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s (set ESTRAD_TEST_DATA)", path);
	out[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL) {
		char	*p = line + strspn(line, " \t");
		size_t	 colon = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz-");

		p[strcspn(p, "\r\n")] = '\0';
		/* A continuation line never starts with "Name: ". */
		if (in && colon > 0 && p[colon] == ':' && p[colon + 1] == ' ')
			break;
		if (strncmp(p, "Authorization: ", 15) == 0) {
			in = 1;
			p += 15;
		}
		if (in)
			strncat(out, p, outlen - strlen(out) - 1);
	}
	fclose(fp);
	assert_true(in);
}

static void
test_seed_exchange(void **state)
{
	struct digest_auth	 a;
	const char		*reason = "unset";
	char			 hdr[1024];

	read_seed_authorization(hdr, sizeof(hdr));
	assert_string_equal(hdr, "Digest username=\"estuser\", "
	    "realm=\"estrealm\", nonce=\"1368141352\", "
	    "uri=\"/.well-known/est/simpleenroll\", cnonce=\"MTYwMzg3\", "
	    "nc=00000001, qop=\"auth\", "
	    "response=\"144cc27f96046f1d70eb16db20f75f22\"");
	assert_int_equal(digest_parse(hdr, &a, &reason), 0);
	assert_null(reason);
	assert_string_equal(a.username, "estuser");
	assert_string_equal(a.realm, "estrealm");
	assert_string_equal(a.nonce, "1368141352");
	assert_string_equal(a.uri, "/.well-known/est/simpleenroll");
	assert_string_equal(a.cnonce, "MTYwMzg3");
	assert_int_equal(a.nc_value, 1);
	assert_string_equal(a.qop, "auth");
	assert_string_equal(a.response, "144cc27f96046f1d70eb16db20f75f22");
	assert_string_equal(a.opaque, "");
	assert_int_equal(a.alg, DIGEST_ALG_MD5);
}

/* ---- the parser: accepted headers ---- */

struct parse_ok_case {
	const char	*what;
	const char	*hdr;
	const char	*username, *realm, *uri, *cnonce, *opaque, *qop;
	unsigned long	 nc;
	enum digest_alg	 alg;
	const char	*response;
};

#define STD_TAIL	"nonce=\"n1\", uri=\"/x\", cnonce=\"c1\", nc=00000001, " \
			"qop=auth, response=\"" R32 "\""

static const struct parse_ok_case parse_ok_cases[] = {
	{ "all quoted", "Digest username=\"alice\", realm=\"est\", " STD_TAIL,
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "unquoted tokens", "Digest username=alice, realm=est, nonce=n1, "
	  "uri=\"/x\", cnonce=c1, nc=0000000a, qop=auth, response=" R32
	  ", algorithm=MD5, opaque=o.p~q",
	  "alice", "est", "/x", "c1", "o.p~q", "auth", 10, DIGEST_ALG_MD5,
	  R32 },
	{ "escaped quotes", "Digest username=\"al\\\"ice\\\\\", "
	  "realm=\"e\\st\", " STD_TAIL,
	  "al\"ice\\", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "commas and = in quotes", "Digest username=\"a, b=c\", "
	  "realm=\"x,y\", nonce=\"n=1\", uri=\"/p?x=1,2\", cnonce=\",\", "
	  "nc=00000001, qop=auth, response=\"" R32 "\"",
	  "a, b=c", "x,y", "/p?x=1,2", ",", "", "auth", 1, DIGEST_ALG_MD5,
	  R32 },
	{ "spaces and tabs", "  Digest \t username = \"alice\" ,\trealm\t=\t"
	  "\"est\",nonce=\"n1\" ,  uri=\"/x\",cnonce=\"c1\",nc=00000001,"
	  "qop=auth,response=\"" R32 "\"  \t",
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "names and scheme in any case", "dIGEST USERNAME=\"alice\", "
	  "Realm=\"est\", NONCE=\"n1\", Uri=\"/x\", CNonce=\"c1\", "
	  "NC=000000FF, QoP=auth, ALGORITHM=sha-256, "
	  "Response=\"" "0123456789ABCDEF0123456789ABCDEF" R32 "\"",
	  "alice", "est", "/x", "c1", "", "auth", 255, DIGEST_ALG_SHA256,
	  R64 },
	{ "qop quoted (seed style)", "Digest username=\"alice\", "
	  "realm=\"est\", nonce=\"n1\", uri=\"/x\", cnonce=\"c1\", "
	  "nc=00000001, qop=\"auth\", response=\"" R32 "\"",
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "unknown parameters ignored", "Digest foo=bar, username=\"alice\", "
	  "baz=\"x, \\\"y\\\"\", realm=\"est\", userhash=false, "
	  STD_TAIL ", zz=1",
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "trailing comma and empty elements", "Digest , username=\"alice\","
	  " , realm=\"est\", " STD_TAIL ",",
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5, R32 },
	{ "MD5-sess", "Digest username=\"alice\", realm=\"est\", "
	  "algorithm=md5-SESS, " STD_TAIL,
	  "alice", "est", "/x", "c1", "", "auth", 1, DIGEST_ALG_MD5_SESS,
	  R32 },
	{ "SHA-256-sess quoted", "Digest username=\"alice\", realm=\"est\", "
	  "algorithm=\"SHA-256-sess\", nonce=\"n1\", uri=\"/x\", "
	  "cnonce=\"c1\", nc=ffffffff, qop=auth, response=\"" R64 "\"",
	  "alice", "est", "/x", "c1", "", "auth", 0xffffffffUL,
	  DIGEST_ALG_SHA256_SESS, R64 },
	{ "opaque and empty realm", "Digest username=\"alice\", realm=\"\", "
	  "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", " STD_TAIL,
	  "alice", "", "/x", "c1",
	  "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", "auth", 1,
	  DIGEST_ALG_MD5, R32 },
	{ "UTF-8 user name", "Digest username=\"J\xc3\xa4s\xc3\xb8n\", "
	  "realm=\"est\", " STD_TAIL,
	  "J\xc3\xa4s\xc3\xb8n", "est", "/x", "c1", "", "auth", 1,
	  DIGEST_ALG_MD5, R32 },
};

static void
test_parse_ok(void **state)
{
	for (size_t i = 0; i < NITEMS(parse_ok_cases); i++) {
		const struct parse_ok_case	*c = &parse_ok_cases[i];
		struct digest_auth		 a;
		const char			*reason = "unset";
		int				 rc;

		print_message("accept: %s\n", c->what);
		rc = digest_parse(c->hdr, &a, &reason);
		if (rc != 0)
			fail_msg("%s: refused: %s", c->what, reason);
		assert_null(reason);
		assert_string_equal(a.username, c->username);
		assert_string_equal(a.realm, c->realm);
		assert_string_equal(a.uri, c->uri);
		assert_string_equal(a.cnonce, c->cnonce);
		assert_string_equal(a.opaque, c->opaque);
		assert_int_equal(strcasecmp(a.qop, c->qop), 0);
		assert_int_equal(a.nc_value, c->nc);
		assert_int_equal(strlen(a.nc), 8);
		assert_int_equal(a.alg, c->alg);
		assert_string_equal(a.response, c->response);
	}
}

/* ---- the parser: refused headers ---- */

struct parse_bad_case {
	const char	*what;
	const char	*hdr;
	const char	*reason;
};

#define NOT_DIGEST	"not a Digest Authorization header"
#define MALFORMED	"malformed Digest header"
#define UNTERMINATED	"unterminated quoted string in Digest header"
#define BAD_NC		"Digest nc must be 8 hex digits"
#define BAD_RESP	"Digest response is not hex of the algorithm's length"
#define BAD_QOP		"unsupported Digest qop (only auth)"
#define BAD_ALG		"unsupported Digest algorithm"
#define HEAD		"Digest username=\"alice\", realm=\"est\", nonce=\"n1\", " \
			"uri=\"/x\", cnonce=\"c1\", "

static const struct parse_bad_case parse_bad_cases[] = {
	{ "empty string", "", NOT_DIGEST },
	{ "NULL", NULL, NOT_DIGEST },
	{ "Basic scheme", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", NOT_DIGEST },
	{ "Bearer scheme", "Bearer abc", NOT_DIGEST },
	{ "scheme glued to a parameter",
	  "Digestusername=\"alice\"", NOT_DIGEST },
	{ "Digest alone", "Digest", "missing Digest parameter: username" },
	{ "Digest and spaces", "Digest   ",
	  "missing Digest parameter: username" },
	{ "comma after scheme", "Digest, " HEAD "nc=00000001, qop=auth, "
	  "response=" R32, MALFORMED },
	{ "duplicate", HEAD "username=bob, nc=00000001, qop=auth, "
	  "response=" R32, "duplicate Digest parameter" },
	{ "duplicate, other case", HEAD "CNONCE=c2, nc=00000001, qop=auth, "
	  "response=" R32, "duplicate Digest parameter" },
	{ "unterminated quote", "Digest username=\"alice, realm=\"est\"",
	  MALFORMED },
	{ "unterminated quote at end", HEAD "nc=00000001, qop=auth, "
	  "response=\"" R32, UNTERMINATED },
	{ "backslash at end", HEAD "nc=00000001, qop=auth, "
	  "response=\"" R32 "\\", UNTERMINATED },
	{ "unknown algorithm", HEAD "nc=00000001, qop=auth, algorithm=SHA1, "
	  "response=" R32, BAD_ALG },
	{ "SHA-512-256 not offered", HEAD "nc=00000001, qop=auth, "
	  "algorithm=SHA-512-256, response=" R64, BAD_ALG },
	{ "empty algorithm", HEAD "nc=00000001, qop=auth, algorithm=\"\", "
	  "response=" R32, BAD_ALG },
	{ "overlong algorithm", HEAD "nc=00000001, qop=auth, "
	  "algorithm=MD5-sessMD5-sessMD5-sess, response=" R32, BAD_ALG },
	{ "qop auth-int", HEAD "nc=00000001, qop=auth-int, response=" R32,
	  BAD_QOP },
	{ "qop list", HEAD "nc=00000001, qop=\"auth,auth-int\", "
	  "response=" R32, BAD_QOP },
	{ "missing qop (RFC 2069)", HEAD "nc=00000001, response=" R32,
	  "qop=auth is required" },
	{ "nc of 7 digits", HEAD "nc=0000001, qop=auth, response=" R32,
	  BAD_NC },
	{ "nc of 9 digits", HEAD "nc=000000001, qop=auth, response=" R32,
	  BAD_NC },
	{ "nc not hex", HEAD "nc=0000000g, qop=auth, response=" R32, BAD_NC },
	{ "nc with sign", HEAD "nc=+0000001, qop=auth, response=" R32,
	  BAD_NC },
	{ "nc empty", HEAD "nc=\"\", qop=auth, response=" R32, BAD_NC },
	/* RFC 7616 §3.4: nc counts requests from 00000001; cnonce is
	 * required with qop; qop is "auth", the one value offered. */
	{ "nc 00000000", HEAD "nc=00000000, qop=auth, response=" R32,
	  "Digest nc must start at 00000001" },
	{ "empty cnonce", "Digest username=\"alice\", realm=\"est\", "
	  "nonce=\"n1\", uri=\"/x\", cnonce=\"\", nc=00000001, qop=auth, "
	  "response=" R32, "Digest cnonce must not be empty" },
	{ "qop in capitals", HEAD "nc=00000001, qop=AUTH, response=" R32,
	  BAD_QOP },
	{ "MD5 response of 64 digits", HEAD "nc=00000001, qop=auth, "
	  "response=" R64, BAD_RESP },
	{ "SHA-256 response of 32 digits", HEAD "nc=00000001, qop=auth, "
	  "algorithm=SHA-256, response=" R32, BAD_RESP },
	{ "response of 31 digits", HEAD "nc=00000001, qop=auth, "
	  "response=0123456789abcdef0123456789abcde", BAD_RESP },
	{ "response of 65 digits", HEAD "nc=00000001, qop=auth, "
	  "response=0" R64, BAD_RESP },
	{ "response not hex", HEAD "nc=00000001, qop=auth, "
	  "response=0123456789abcdef0123456789abcdeg", BAD_RESP },
	{ "userhash=true", HEAD "nc=00000001, qop=auth, userhash=true, "
	  "response=" R32, "Digest userhash is not supported" },
	{ "userhash=maybe", HEAD "nc=00000001, qop=auth, userhash=maybe, "
	  "response=" R32, MALFORMED },
	{ "username*", "Digest username*=UTF-8''J%C3%A4s%C3%B8n, "
	  "realm=\"est\", " STD_TAIL, "Digest username* is not supported" },
	{ "missing =", "Digest username \"alice\"", MALFORMED },
	{ "missing comma", "Digest username=\"alice\" realm=\"est\"",
	  MALFORMED },
	{ "empty token value", HEAD "nc=, qop=auth, response=" R32,
	  MALFORMED },
	{ "unquoted value with /", "Digest uri=/x", MALFORMED },
	{ "control character in quotes", "Digest username=\"a\x01z\"",
	  MALFORMED },
	{ "CR LF in quotes", "Digest username=\"a\r\nX-Evil: 1\"", MALFORMED },
	{ "no parameter name", "Digest =alice", MALFORMED },
};

static void
test_parse_refused(void **state)
{
	for (size_t i = 0; i < NITEMS(parse_bad_cases); i++) {
		const struct parse_bad_case	*c = &parse_bad_cases[i];
		struct digest_auth		 a;
		const char			*reason = NULL;

		print_message("refuse: %s\n", c->what);
		memset(&a, 'x', sizeof(a));
		assert_int_equal(digest_parse(c->hdr, &a, &reason), -1);
		assert_non_null(reason);
		assert_string_equal(reason, c->reason);
		/* Nothing half-parsed is left behind. */
		assert_string_equal(a.username, "");
		assert_string_equal(a.response, "");
	}
}

/* The required parameters, in the order their absence is reported. */
static const char *const req_params[] = {
	"username=\"alice\"", "realm=\"est\"", "nonce=\"n1\"", "uri=\"/x\"",
	"response=\"" R32 "\"", "qop=auth", "cnonce=\"c1\"", "nc=00000001",
};
static const char *const req_missing[] = {
	"missing Digest parameter: username", "missing Digest parameter: realm",
	"missing Digest parameter: nonce", "missing Digest parameter: uri",
	"missing Digest parameter: response", "qop=auth is required",
	"missing Digest parameter: cnonce", "missing Digest parameter: nc",
};

static void
test_parse_missing(void **state)
{
	struct digest_auth	 a;
	const char		*reason;
	char			 hdr[512];

	join_params(hdr, sizeof(hdr), req_params, NITEMS(req_params), -1);
	assert_int_equal(digest_parse(hdr, &a, &reason), 0);
	for (size_t i = 0; i < NITEMS(req_params); i++) {
		print_message("without %s\n", req_params[i]);
		join_params(hdr, sizeof(hdr), req_params, NITEMS(req_params),
		    (long)i);
		assert_int_equal(digest_parse(hdr, &a, &reason), -1);
		assert_string_equal(reason, req_missing[i]);
	}
}

static void
test_parse_duplicate(void **state)
{
	static const char *const extra[] = { "algorithm=MD5", "opaque=o",
	    "userhash=false" };
	const char		*params[NITEMS(req_params) + 2];
	struct digest_auth	 a;
	const char		*reason;
	char			 hdr[512];
	size_t			 n = NITEMS(req_params);

	memcpy(params, req_params, sizeof(req_params));
	for (size_t i = 0; i < n + NITEMS(extra); i++) {
		const char *dup = i < n ? req_params[i] : extra[i - n];

		print_message("twice: %s\n", dup);
		params[n] = dup;
		params[n + 1] = dup;
		/* Once for the optional ones (accepted), then twice. */
		join_params(hdr, sizeof(hdr), params, i < n ? n : n + 1, -1);
		assert_int_equal(digest_parse(hdr, &a, &reason), 0);
		join_params(hdr, sizeof(hdr), params, i < n ? n + 1 : n + 2,
		    -1);
		assert_int_equal(digest_parse(hdr, &a, &reason), -1);
		assert_string_equal(reason, "duplicate Digest parameter");
	}
}

struct long_case {
	const char	*name;
	size_t		 field;		/* sizeof the struct's field */
	const char	*reason;
};

static const struct long_case long_cases[] = {
	{ "username", DIGEST_VALUE_MAX, "Digest parameter too long: username" },
	{ "realm", DIGEST_VALUE_MAX, "Digest parameter too long: realm" },
	{ "nonce", DIGEST_VALUE_MAX, "Digest parameter too long: nonce" },
	{ "uri", DIGEST_URI_MAX, "Digest parameter too long: uri" },
	{ "cnonce", DIGEST_VALUE_MAX, "Digest parameter too long: cnonce" },
	{ "opaque", DIGEST_VALUE_MAX, "Digest parameter too long: opaque" },
};

/* A header whose parameter name has a quoted value of len 'a's. */
static void
header_with_long(char *hdr, size_t hdrlen, const char *name, size_t len,
    int quoted)
{
	const char	*params[NITEMS(req_params) + 1];
	char		*param = malloc(len + 64);
	size_t		 n = 0, o;

	assert_non_null(param);
	o = (size_t)sprintf(param, "%s=%s", name, quoted ? "\"" : "");
	memset(param + o, 'a', len);
	sprintf(param + o + len, "%s", quoted ? "\"" : "");
	for (size_t i = 0; i < NITEMS(req_params); i++)
		if (strncmp(req_params[i], name, strlen(name)) != 0 ||
		    req_params[i][strlen(name)] != '=')
			params[n++] = req_params[i];
	params[n++] = param;
	join_params(hdr, hdrlen, params, n, -1);
	free(param);
}

static void
test_parse_overlong(void **state)
{
	size_t			 hdrlen = 16384;
	char			*hdr = malloc(hdrlen);
	struct digest_auth	 a;
	const char		*reason;

	assert_non_null(hdr);
	for (size_t i = 0; i < NITEMS(long_cases); i++) {
		const struct long_case *c = &long_cases[i];

		print_message("long %s\n", c->name);
		for (int q = 0; q <= 1; q++) {
			/* The longest that fits, then one more, then more
			 * than the parser's own buffer. */
			header_with_long(hdr, hdrlen, c->name, c->field - 1, q);
			assert_int_equal(digest_parse(hdr, &a, &reason), 0);
			header_with_long(hdr, hdrlen, c->name, c->field, q);
			assert_int_equal(digest_parse(hdr, &a, &reason), -1);
			assert_string_equal(reason, c->reason);
			header_with_long(hdr, hdrlen, c->name, 5000, q);
			assert_int_equal(digest_parse(hdr, &a, &reason), -1);
			assert_string_equal(reason, c->reason);
		}
	}
	/* A long unknown parameter is read and ignored. */
	header_with_long(hdr, hdrlen, "x-long", 5000, 1);
	assert_int_equal(digest_parse(hdr, &a, &reason), 0);
	free(hdr);
}

/* ---- -sess, computed here with EVP ---- */

struct sess_case {
	enum digest_alg	 alg;
	const char	*name;
	const EVP_MD	*(*md)(void);
};

static const struct sess_case sess_cases[] = {
	{ DIGEST_ALG_MD5_SESS, "MD5-sess", EVP_md5 },
	{ DIGEST_ALG_SHA256_SESS, "SHA-256-sess", EVP_sha256 },
};

static void
test_sess(void **state)
{
	static const char user[] = "estuser", realm[] = "estrealm",
	    pass[] = "s3cret pass", nonce[] = "abc/def+ghi",
	    cnonce[] = "MTYwMzg3", nc[] = "0000002a",
	    uri[] = "/.well-known/est/east/simpleenroll";

	for (size_t i = 0; i < NITEMS(sess_cases); i++) {
		const struct sess_case	*c = &sess_cases[i];
		const EVP_MD		*md = c->md();
		struct digest_auth	 a;
		const char		*reason;
		char			 buf[1024], ha1[DIGEST_HEX_MAX];
		char			 ha1s[DIGEST_HEX_MAX], ha2[DIGEST_HEX_MAX];
		char			 want[DIGEST_HEX_MAX], got[DIGEST_HEX_MAX];

		print_message("%s\n", c->name);
		snprintf(buf, sizeof(buf), "%s:%s:%s", user, realm, pass);
		evp_hex(md, buf, ha1);
		snprintf(buf, sizeof(buf), "%s:%s:%s", ha1, nonce, cnonce);
		evp_hex(md, buf, ha1s);
		snprintf(buf, sizeof(buf), "POST:%s", uri);
		evp_hex(md, buf, ha2);
		snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1s, nonce,
		    nc, cnonce, ha2);
		evp_hex(md, buf, want);

		assert_int_equal(digest_ha1_hex(c->alg, user, realm, pass, got,
		    sizeof(got)), 0);
		assert_string_equal(got, ha1);	/* -sess shares the base HA1 */
		snprintf(buf, sizeof(buf), "Digest username=\"%s\", "
		    "realm=\"%s\", nonce=\"%s\", uri=\"%s\", algorithm=%s, "
		    "cnonce=\"%s\", nc=%s, qop=auth, response=\"%s\"", user,
		    realm, nonce, uri, c->name, cnonce, nc, want);
		assert_int_equal(digest_parse(buf, &a, &reason), 0);
		assert_int_equal(a.alg, c->alg);
		assert_int_equal(a.nc_value, 42);
		assert_int_equal(digest_response_hex(&a, ha1, "POST", got,
		    sizeof(got)), 0);
		assert_string_equal(got, want);
		assert_int_equal(digest_response_ok(&a, ha1, "POST"), 1);
		/* The same response under the plain algorithm is wrong. */
		a.alg = c->alg == DIGEST_ALG_MD5_SESS ? DIGEST_ALG_MD5 :
		    DIGEST_ALG_SHA256;
		assert_int_equal(digest_response_ok(&a, ha1, "POST"), 0);
		/* -sess binds the cnonce into HA1. */
		a.alg = c->alg;
		strcpy(a.cnonce, "other");
		assert_int_equal(digest_response_ok(&a, ha1, "POST"), 0);
	}
}

/* ---- nonces ---- */

static void
test_nonces_new_args(void **state)
{
	struct digest_nonces *n;

	digest_nonces_free(NULL);
	assert_null(digest_nonces_new(NULL, 32, 300, 16));
	assert_null(digest_nonces_new(secret_a, 0, 300, 16));
	assert_null(digest_nonces_new(secret_a, 32, 0, 16));
	assert_null(digest_nonces_new(secret_a, 32, 300, 0));
	assert_null(digest_nonces_new(secret_a, 32, 300, SIZE_MAX));
	n = digest_nonces_new(secret_a, 1, 300, 1);
	assert_non_null(n);
	digest_nonces_free(n);
}

static void
test_nonce_make_verify(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n, *same = f->same;
	char			 a[64], b[64], small[43];

	make_nonce(n, NOW, a);
	make_nonce(n, NOW, b);
	assert_int_equal(strlen(a), 43);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	assert_string_not_equal(a, b);		/* random part */
	assert_int_equal(digest_nonce_verify(n, a, NOW), NONCE_OK);
	assert_int_equal(digest_nonce_verify(n, b, NOW + 10), NONCE_OK);
	/* A replica with the same secret accepts it. */
	assert_int_equal(digest_nonce_verify(same, a, NOW), NONCE_OK);
	assert_int_equal(digest_nonce_make(n, NOW, small, sizeof(small)), -1);
	assert_int_equal(digest_nonce_make(n, NOW, a, 0), -1);
}

static void
test_nonce_tampered(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n, *other = f->other;
	char			 good[64], bad[64];

	make_nonce(n, NOW, good);
	/* Every position, every change: the HMAC or the encoding breaks. */
	for (size_t i = 0; i < strlen(good); i++) {
		strcpy(bad, good);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_equal(digest_nonce_verify(n, bad, NOW), NONCE_BAD);
		bad[i] = good[i] == '_' ? '-' : '_';
		assert_int_equal(digest_nonce_verify(n, bad, NOW), NONCE_BAD);
	}
	assert_int_equal(digest_nonce_verify(other, good, NOW), NONCE_BAD);
	assert_int_equal(digest_nonce_use(other, good, 1, NOW), NONCE_BAD);
}

static void
test_nonce_time(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n;
	char			 v[64];

	make_nonce(n, NOW, v);
	assert_int_equal(digest_nonce_verify(n, v, NOW + 300), NONCE_OK);
	assert_int_equal(digest_nonce_verify(n, v, NOW + 301), NONCE_STALE);
	assert_int_equal(digest_nonce_verify(n, v, NOW + 100000), NONCE_STALE);
	assert_int_equal(digest_nonce_use(n, v, 1, NOW + 301), NONCE_STALE);
	/* Made by a replica whose clock runs ahead: 60 s are tolerated. */
	assert_int_equal(digest_nonce_verify(n, v, NOW - 60), NONCE_OK);
	assert_int_equal(digest_nonce_verify(n, v, NOW - 61), NONCE_BAD);
	assert_int_equal(digest_nonce_use(n, v, 1, NOW - 61), NONCE_BAD);
	/* Extreme clocks do not overflow. */
	make_nonce(n, (time_t)INT64_MIN, v);
	assert_int_equal(digest_nonce_verify(n, v, (time_t)INT64_MAX),
	    NONCE_STALE);
	make_nonce(n, (time_t)INT64_MAX, v);
	assert_int_equal(digest_nonce_verify(n, v, (time_t)INT64_MIN),
	    NONCE_BAD);
}

static const char *const garbage[] = {
	"",
	"abc",
	"1368141352",
	/* 42 and 44 characters */
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	/* 43 characters, well formed, not ours */
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	/* standard base64 alphabet and padding */
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/",
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA A",
	NULL,
};

static void
test_nonce_garbage(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n;
	char			 v[64], longer[128];

	for (size_t i = 0; i < NITEMS(garbage); i++) {
		print_message("garbage %s\n", garbage[i] ? garbage[i] : "NULL");
		assert_int_equal(digest_nonce_verify(n, garbage[i], NOW),
		    NONCE_BAD);
		assert_int_equal(digest_nonce_use(n, garbage[i], 1, NOW),
		    NONCE_BAD);
	}
	make_nonce(n, NOW, v);
	snprintf(longer, sizeof(longer), "%sA", v);
	assert_int_equal(digest_nonce_verify(n, longer, NOW), NONCE_BAD);
	snprintf(longer, sizeof(longer), "%s%s", v, v);
	assert_int_equal(digest_nonce_verify(n, longer, NOW), NONCE_BAD);
	v[42] = '\0';
	assert_int_equal(digest_nonce_verify(n, v, NOW), NONCE_BAD);
	assert_int_equal(digest_nonce_verify(NULL, v, NOW), NONCE_BAD);
}

static void
test_nonce_replay(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n;
	char			 v[64], w[64];

	make_nonce(n, NOW, v);
	make_nonce(n, NOW, w);
	assert_int_equal(digest_nonce_use(n, v, 1, NOW), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v, 2, NOW + 1), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v, 2, NOW + 1), NONCE_REPLAY);
	assert_int_equal(digest_nonce_use(n, v, 1, NOW + 1), NONCE_REPLAY);
	/* Counts may skip; each nonce has its own. */
	assert_int_equal(digest_nonce_use(n, v, 7, NOW + 2), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v, 6, NOW + 2), NONCE_REPLAY);
	assert_int_equal(digest_nonce_use(n, w, 1, NOW + 2), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, w, 1, NOW + 2), NONCE_REPLAY);
	/* Verifying records nothing. */
	assert_int_equal(digest_nonce_verify(n, v, NOW + 3), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v, 8, NOW + 3), NONCE_OK);
	/* Expiry wins over replay tracking. */
	assert_int_equal(digest_nonce_use(n, v, 9, NOW + 301), NONCE_STALE);
}

static void
test_nonce_bounded(void **state)
{
	struct digest_nonces	*n = nonces(secret_a, 300, 4);
	char			 v[6][64];

	for (int i = 0; i < 5; i++) {
		make_nonce(n, NOW + i, v[i]);
		assert_int_equal(digest_nonce_use(n, v[i], 1, NOW + 10),
		    NONCE_OK);
	}
	/* The fifth evicted the oldest: it can no longer be vouched for. */
	assert_int_equal(digest_nonce_verify(n, v[0], NOW + 10), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v[0], 2, NOW + 10), NONCE_STALE);
	/* The others still track replay. */
	for (int i = 1; i < 5; i++) {
		assert_int_equal(digest_nonce_use(n, v[i], 1, NOW + 10),
		    NONCE_REPLAY);
		assert_int_equal(digest_nonce_use(n, v[i], 2, NOW + 10),
		    NONCE_OK);
	}
	/* A never-used nonce as old as the evicted one: stale too. */
	make_nonce(n, NOW, v[5]);
	assert_int_equal(digest_nonce_use(n, v[5], 1, NOW + 10), NONCE_STALE);
	/* A newer one evicts v[1]; v[1] turns stale, v[4] still tracks. */
	make_nonce(n, NOW + 5, v[5]);
	assert_int_equal(digest_nonce_use(n, v[5], 1, NOW + 10), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, v[1], 3, NOW + 10), NONCE_STALE);
	assert_int_equal(digest_nonce_use(n, v[4], 2, NOW + 10), NONCE_REPLAY);
	assert_int_equal(digest_nonce_use(n, v[5], 1, NOW + 10), NONCE_REPLAY);
	digest_nonces_free(n);
}

/* A full table and a first use of a nonce older than all it holds. */
static void
test_nonce_older_than_table(void **state)
{
	struct digest_nonces	*n = nonces(secret_a, 300, 2);
	char			 old[64], a[64], b[64];

	make_nonce(n, NOW, old);
	make_nonce(n, NOW + 5, a);
	make_nonce(n, NOW + 6, b);
	assert_int_equal(digest_nonce_use(n, a, 1, NOW + 10), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, b, 1, NOW + 10), NONCE_OK);
	/* Genuinely unused, so good once; it cannot be recorded. */
	assert_int_equal(digest_nonce_use(n, old, 1, NOW + 10), NONCE_OK);
	assert_int_equal(digest_nonce_use(n, old, 2, NOW + 10), NONCE_STALE);
	/* The table kept the newer ones. */
	assert_int_equal(digest_nonce_use(n, a, 1, NOW + 10), NONCE_REPLAY);
	assert_int_equal(digest_nonce_use(n, b, 1, NOW + 10), NONCE_REPLAY);
	digest_nonces_free(n);
}

/*
 * The table against a plain reference model: random uses of a pool of
 * nonces with distinct timestamps, so probe runs, wrap-around and
 * backward-shift deletion all get exercised.
 */
#define POOL	150
#define MODEL_MAX 16

struct model {
	struct {
		int		 idx;
		long		 ts;
		unsigned long	 nc;
	}		 e[MODEL_MAX];
	size_t		 count, max;
	long		 low;
	int		 has_low;
};

static enum nonce_verdict
model_use(struct model *m, int idx, long ts, unsigned long nc)
{
	size_t old = 0;

	for (size_t i = 0; i < m->count; i++)
		if (m->e[i].idx == idx) {
			if (nc <= m->e[i].nc)
				return NONCE_REPLAY;
			m->e[i].nc = nc;
			return NONCE_OK;
		}
	if (m->has_low && ts <= m->low)
		return NONCE_STALE;
	if (m->count == m->max) {
		for (size_t i = 1; i < m->count; i++)
			if (m->e[i].ts < m->e[old].ts)
				old = i;
		if (ts < m->e[old].ts) {
			m->low = ts;
			m->has_low = 1;
			return NONCE_OK;
		}
		if (!m->has_low || m->e[old].ts > m->low)
			m->low = m->e[old].ts;
		m->has_low = 1;
		m->e[old] = m->e[--m->count];
	}
	m->e[m->count].idx = idx;
	m->e[m->count].ts = ts;
	m->e[m->count].nc = nc;
	m->count++;
	return NONCE_OK;
}

static void
test_nonce_table_model(void **state)
{
	static const size_t	 sizes[] = { 1, 3, 8, 16 };
	static char		 pool[POOL][64];
	uint32_t		 rng = 12345;

	for (size_t s = 0; s < NITEMS(sizes); s++) {
		struct digest_nonces	*n = nonces(secret_a, 100000, sizes[s]);
		struct model		 m = { .max = sizes[s] };
		unsigned long		 nc[POOL] = { 0 };

		print_message("replay_slots %zu\n", sizes[s]);
		for (int i = 0; i < POOL; i++)
			make_nonce(n, NOW + i, pool[i]);
		for (int step = 0; step < 4000; step++) {
			int		 i;
			unsigned long	 count;

			rng = rng * 1103515245u + 12345u;
			/* Mostly recent nonces, some old ones. */
			i = (int)((rng >> 8) % POOL);
			if (step % 3 != 0)
				i = step / 27 + (int)((rng >> 20) % 8);
			i %= POOL;
			/* Mostly a higher count, sometimes a repeat. */
			count = (rng >> 4) % 5 == 0 ? nc[i] : ++nc[i];
			assert_int_equal(digest_nonce_use(n, pool[i], count,
			    NOW + POOL), model_use(&m, i, NOW + i, count));
		}
		digest_nonces_free(n);
	}
}

/* ---- challenge ---- */

static void
check_challenge(struct digest_nonces *n, enum digest_alg alg, int stale,
    const char *opaque)
{
	char	 out[512], want[128], nonce[64];
	size_t	 plen;

	assert_int_equal(digest_challenge(n, "estrealm", alg, stale, NOW, out,
	    sizeof(out)), 0);
	snprintf(want, sizeof(want), "Digest realm=\"estrealm\", "
	    "qop=\"auth\", algorithm=\"%s\", nonce=\"", digest_alg_name(alg));
	plen = strlen(want);
	assert_int_equal(strncmp(out, want, plen), 0);
	memcpy(nonce, out + plen, 43);
	nonce[43] = '\0';
	assert_int_equal(digest_nonce_verify(n, nonce, NOW), NONCE_OK);
	snprintf(want, sizeof(want), "\", opaque=\"%s\"%s", opaque,
	    stale ? ", stale=true" : "");
	assert_string_equal(out + plen + 43, want);
}

static void
test_challenge(void **state)
{
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n, *same = f->same, *other = f->other;
	char			 out[512], opaque[64], o2[64], o3[64];
	const char		*q;

	assert_int_equal(digest_challenge(n, "r", DIGEST_ALG_MD5, 0, NOW, out,
	    sizeof(out)), 0);
	q = strstr(out, "opaque=\"");
	assert_non_null(q);
	snprintf(opaque, sizeof(opaque), "%.32s", q + 8);
	assert_int_equal(strspn(opaque, "0123456789abcdef"), 32);
	for (int alg = 0; alg < DIGEST_ALG_MAX; alg++)
		for (int stale = 0; stale <= 1; stale++)
			check_challenge(n, (enum digest_alg)alg, stale, opaque);

	/* opaque depends on the secret only. */
	assert_int_equal(digest_challenge(same, "r", DIGEST_ALG_MD5, 0, NOW,
	    out, sizeof(out)), 0);
	snprintf(o2, sizeof(o2), "%.32s", strstr(out, "opaque=\"") + 8);
	assert_string_equal(o2, opaque);
	assert_int_equal(digest_challenge(other, "r", DIGEST_ALG_MD5, 0, NOW,
	    out, sizeof(out)), 0);
	snprintf(o3, sizeof(o3), "%.32s", strstr(out, "opaque=\"") + 8);
	assert_string_not_equal(o3, opaque);
}

static void
test_challenge_refused(void **state)
{
	static const char *const realms[] = { "a\"b", "a\\b", "a\r\nb",
	    "a\tb", NULL };
	struct nonce_fx		*f = *state;
	struct digest_nonces	*n = f->n;
	char			 out[512];
	size_t			 need;

	for (size_t i = 0; i < NITEMS(realms); i++)
		assert_int_equal(digest_challenge(n, realms[i],
		    DIGEST_ALG_MD5, 0, NOW, out, sizeof(out)), -1);
	assert_int_equal(digest_challenge(n, "est", DIGEST_ALG_MAX, 0, NOW,
	    out, sizeof(out)), -1);
	assert_int_equal(digest_challenge(NULL, "est", DIGEST_ALG_MD5, 0, NOW,
	    out, sizeof(out)), -1);
	assert_int_equal(digest_challenge(n, "est", DIGEST_ALG_MD5, 1, NOW,
	    out, sizeof(out)), 0);
	need = strlen(out) + 1;
	assert_int_equal(digest_challenge(n, "est", DIGEST_ALG_MD5, 1, NOW,
	    out, need), 0);
	assert_int_equal(digest_challenge(n, "est", DIGEST_ALG_MD5, 1, NOW,
	    out, need - 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_rfc7616_vectors),
		cmocka_unit_test(test_ha1_length_mismatch),
		cmocka_unit_test(test_seed_exchange),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_parse_missing),
		cmocka_unit_test(test_parse_duplicate),
		cmocka_unit_test(test_parse_overlong),
		cmocka_unit_test(test_sess),
		cmocka_unit_test(test_nonces_new_args),
		NONCE_TEST(test_nonce_make_verify),
		NONCE_TEST(test_nonce_tampered),
		NONCE_TEST(test_nonce_time),
		NONCE_TEST(test_nonce_garbage),
		NONCE_TEST(test_nonce_replay),
		cmocka_unit_test(test_nonce_bounded),
		cmocka_unit_test(test_nonce_older_than_table),
		cmocka_unit_test(test_nonce_table_model),
		NONCE_TEST(test_challenge),
		NONCE_TEST(test_challenge_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
