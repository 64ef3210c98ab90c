/*
 * test_b64: the RFC 8951 decoder accepts every layout EST clients send and
 * nothing else; the encoder emits 64-character lines that decode back.
 * Each table row is one named cmocka test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "estrad/b64.h"

#include "testpki.h"

#define NOT_B64	"body is not base64"
#define EMPTY	"body is empty"

/* Literal inputs and what they decode to (want), or the failure reason. */
struct lit_case {
	const char	*name;
	const char	*in;
	size_t		 in_len;	/* 0: strlen(in) */
	const char	*want;		/* NULL when reason is set */
	const char	*reason;
};

static const struct lit_case lit_cases[] = {
	{ "one line", "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu", 0,
	    "Many hands make light work.", NULL },
	{ "padding ==", "TQ==", 0, "M", NULL },
	{ "padding =", "TWE=", 0, "Ma", NULL },
	{ "padding omitted, 2 left", "TQ", 0, "M", NULL },
	{ "padding omitted, 3 left", "TWE", 0, "Ma", NULL },
	{ "padding partly omitted", "TQ=", 0, "M", NULL },
	{ "CRLF lines", "TWFu\r\neSBo\r\nYW5k\r\ncw==\r\n", 0, "Many hands",
	    NULL },
	{ "CR only lines", "TWFu\reSBo\r", 0, "Many h", NULL },
	{ "spaces and tabs inside", " TW Fu\teSBo  YW5k\t\tcw = = ", 0,
	    "Many hands", NULL },
	{ "whitespace between padding", "TQ=\r\n=\n", 0, "M", NULL },
	{ "PEM armour",
	    "-----BEGIN CERTIFICATE REQUEST-----\nTWFu\n"
	    "-----END CERTIFICATE REQUEST-----\n", 0, "Man", NULL },
	{ "PEM armour, CRLF and indented",
	    "  -----BEGIN CERTIFICATE REQUEST-----  \r\n  TWFu\r\n"
	    "\t-----END CERTIFICATE REQUEST-----\r\n", 0, "Man", NULL },
	{ "PEM armour, no final newline",
	    "-----BEGIN X-----\nTWFu\n-----END X-----", 0, "Man", NULL },
	{ "bad character *", "TW*u", 0, NULL, NOT_B64 },
	{ "bad character - inside payload", "TW-u", 0, NULL, NOT_B64 },
	{ "url-safe alphabet", "TW_u", 0, NULL, NOT_B64 },
	{ "armour-like line that is not armour", "-----BEGIN X\nTWFu\n", 0,
	    NULL, NOT_B64 },
	{ "dashes not on their own line", "TWFu-----END X-----\n", 0, NULL,
	    NOT_B64 },
	{ "NUL byte", "TW\0u", 4, NULL, NOT_B64 },
	{ "non-ASCII byte", "TW\xc3\xa9u", 0, NULL, NOT_B64 },
	{ "form feed", "TWFu\f", 0, NULL, NOT_B64 },
	{ "truncated, len%4==1", "TWFuT", 0, NULL, NOT_B64 },
	{ "truncated single char", "T", 0, NULL, NOT_B64 },
	{ "padding in the middle", "TQ==TWFu", 0, NULL, NOT_B64 },
	{ "padding at the start", "=TWFu", 0, NULL, NOT_B64 },
	{ "padding after a full quantum", "TWFu=", 0, NULL, NOT_B64 },
	{ "too much padding", "TQ===", 0, NULL, NOT_B64 },
	{ "padding with len%4==1", "TWFuT===", 0, NULL, NOT_B64 },
	{ "only padding", "==", 0, NULL, NOT_B64 },
	{ "empty", "", 0, NULL, EMPTY },
	{ "only whitespace", " \r\n\t \n", 0, NULL, EMPTY },
	{ "only armour", "-----BEGIN X-----\n-----END X-----\n", 0, NULL,
	    EMPTY },
};

static void
test_literal(void **state)
{
	const struct lit_case *c = *state;
	size_t in_len = c->in_len != 0 ? c->in_len : strlen(c->in);
	const char *reason = NULL;
	unsigned char *out = (unsigned char *)"unset";
	size_t outlen = 99;
	int rc;

	rc = b64_decode_lenient(c->in, in_len, &out, &outlen, &reason);
	if (c->reason != NULL) {
		assert_int_equal(rc, -1);
		assert_string_equal(reason, c->reason);
		assert_null(out);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(outlen, strlen(c->want));
	assert_memory_equal(out, c->want, outlen);
	free(out);
}

/*
 * Layouts of a known payload: the input is built by encoding the payload
 * with OpenSSL (an independent encoder) and wrapping it as the row says.
 */
struct layout_case {
	const char	*name;
	size_t		 payload_len;
	size_t		 wrap;		/* characters per line, 0: one line */
	const char	*eol;
	const char	*indent;	/* before every line */
	const char	*armour;	/* PEM label, or NULL */
	int		 strip_pad;
};

static const struct layout_case layout_cases[] = {
	{ "wrapped at 64, LF", 1000, 64, "\n", "", NULL, 0 },
	{ "wrapped at 76, CRLF", 1000, 76, "\r\n", "", NULL, 0 },
	{ "wrapped at 76, no final EOL", 1001, 76, "", "", NULL, 0 },
	{ "wrapped at 1 char", 50, 1, "\n", "", NULL, 0 },
	{ "wrapped at odd width 13", 302, 13, "\n", "", NULL, 0 },
	{ "very long single line", 100000, 0, "", "", NULL, 0 },
	{ "long line, no padding", 100001, 0, "\n", "", NULL, 1 },
	{ "indented lines", 500, 64, "\n", "   ", NULL, 0 },
	{ "PEM armour around a CSR", 650, 64, "\n", "",
	    "CERTIFICATE REQUEST", 0 },
	{ "PEM armour, CRLF, 76", 651, 76, "\r\n", "",
	    "CERTIFICATE REQUEST", 0 },
};

static unsigned char *
make_payload(size_t len)
{
	unsigned char *p = malloc(len + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 131 + (i >> 8) * 7);
	return p;
}

/* Append s to the growing buffer buf (capacity is ample by design). */
static void
put(char *buf, size_t *pos, const char *s, size_t n)
{
	memcpy(buf + *pos, s, n);
	*pos += n;
}

static char *
make_layout(const struct layout_case *c, const unsigned char *payload,
    size_t *len)
{
	size_t enclen = 4 * ((c->payload_len + 2) / 3);
	size_t cap = enclen * 8 + 256, pos = 0, i, n;
	char *enc = malloc(enclen + 1), *buf = malloc(cap), hdr[128];

	assert_non_null(enc);
	assert_non_null(buf);
	EVP_EncodeBlock((unsigned char *)enc, payload, (int)c->payload_len);
	while (c->strip_pad && enclen > 0 && enc[enclen - 1] == '=')
		enclen--;
	if (c->armour != NULL) {
		n = (size_t)snprintf(hdr, sizeof(hdr), "-----BEGIN %s-----%s",
		    c->armour, c->eol);
		put(buf, &pos, hdr, n);
	}
	for (i = 0; i < enclen; i += n) {
		n = c->wrap == 0 || enclen - i < c->wrap ? enclen - i : c->wrap;
		put(buf, &pos, c->indent, strlen(c->indent));
		put(buf, &pos, enc + i, n);
		put(buf, &pos, c->eol, strlen(c->eol));
	}
	if (c->armour != NULL) {
		n = (size_t)snprintf(hdr, sizeof(hdr), "-----END %s-----%s",
		    c->armour, c->eol);
		put(buf, &pos, hdr, n);
	}
	free(enc);
	*len = pos;
	return buf;
}

static void
test_layout(void **state)
{
	const struct layout_case *c = *state;
	unsigned char *payload = make_payload(c->payload_len), *out = NULL;
	const char *reason = NULL;
	size_t inlen, outlen;
	char *in = make_layout(c, payload, &inlen);

	assert_int_equal(b64_decode_lenient(in, inlen, &out, &outlen,
	    &reason), 0);
	assert_int_equal(outlen, c->payload_len);
	assert_memory_equal(out, payload, outlen);
	free(out);
	free(in);
	free(payload);
}

/* The exact bytes of a short encoding: one line, padded, "\n" ended. */
static void
test_encode_vector(void **state)
{
	static const char want[] = "TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu\n";
	const char *in = "Many hands make light work.";
	size_t len = 0;
	char *s = b64_encode_lines((const unsigned char *)in, strlen(in),
	    &len);

	assert_non_null(s);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
}

/* Every line 64 characters and "\n"-ended, the last one at most 64. */
static void
check_lines(const char *s, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t linelen;

		assert_non_null(nl);
		linelen = (size_t)(nl - (s + pos));
		pos += linelen + 1;
		assert_true(linelen > 0 && linelen <= 64);
		if (pos < len)
			assert_int_equal(linelen, 64);
	}
}

/*
 * Encode then decode lengths 0..300, comparing the unwrapped text with
 * OpenSSL's one-block encoding as an independent reference.
 */
static void
test_round_trip(void **state)
{
	unsigned char *payload = make_payload(300), *out;
	char ref[512], flat[512];
	const char *reason;
	size_t n, len, outlen, i, j;

	for (n = 0; n <= 300; n++) {
		char *s = b64_encode_lines(payload, n, &len);
		char *one = b64_encode_flat(payload, n, &outlen);

		assert_non_null(s);
		assert_int_equal(len, strlen(s));
		check_lines(s, len);
		for (i = j = 0; i < len; i++)
			if (s[i] != '\n')
				flat[j++] = s[i];
		flat[j] = '\0';
		EVP_EncodeBlock((unsigned char *)ref, payload, (int)n);
		assert_string_equal(flat, ref);
		/* b64_encode_flat: the same in one line, no line break. */
		assert_non_null(one);
		assert_string_equal(one, ref);
		assert_int_equal(outlen, strlen(ref));
		free(one);
		out = NULL;
		reason = NULL;
		if (n == 0) {
			assert_int_equal(len, 0);
			assert_int_equal(b64_decode_lenient(s, len, &out,
			    &outlen, &reason), -1);
			assert_string_equal(reason, EMPTY);
		} else {
			assert_int_equal(b64_decode_lenient(s, len, &out,
			    &outlen, &reason), 0);
			assert_int_equal(outlen, n);
			assert_memory_equal(out, payload, n);
		}
		free(out);
		free(s);
	}
	free(payload);
}

int
main(void)
{
	size_t nlit = NITEMS(lit_cases);
	size_t nlay = NITEMS(layout_cases);
	size_t n = 0, i;
	struct CMUnitTest *t = calloc(nlit + nlay + 2, sizeof(*t));
	int rc;

	if (t == NULL)
		return 1;
	for (i = 0; i < nlit; i++)
		t[n++] = (struct CMUnitTest){ lit_cases[i].name, test_literal,
		    NULL, NULL, (void *)&lit_cases[i] };
	for (i = 0; i < nlay; i++)
		t[n++] = (struct CMUnitTest){ layout_cases[i].name,
		    test_layout, NULL, NULL, (void *)&layout_cases[i] };
	t[n++] = (struct CMUnitTest){ "encode vector", test_encode_vector,
	    NULL, NULL, NULL };
	t[n++] = (struct CMUnitTest){ "round trip 0..300", test_round_trip,
	    NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("b64", t, n, NULL, NULL);
	free(t);
	return rc;
}
