/*
 * test_httpframe: the framing scanner (RFC 9112) byte for byte. Each row
 * is a stream a client sends, the stream evhttp must see and the verdict.
 * Every row runs twice: the stream in one piece, and one byte at a time
 * (a TLS record can end anywhere). A refused request reaches evhttp as its
 * request line and the verdict field, without body (a chunked request is
 * held until its last chunk); nothing after it passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "estrad/httpframe.h"

#include "testpki.h"

#define MAX_HEAD	256
#define MAX_BODY	16	/* refused past 32; dropped first up to 128 */

#define GET_OK		"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define POST_H		"POST /e HTTP/1.1\r\nHost: x\r\n"
#define CHUNKED_H	POST_H "Transfer-Encoding: chunked\r\n\r\n"
#define SMUGGLED	"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: x\r\n\r\n"
#define V(line, st, why) \
	line "\r\n" HTTPFRAME_FIELD ": " #st " " why "\r\n\r\n"
#define CHUNK_V(st, why) V("POST /e HTTP/1.1", st, why)

#define NUL_IN		"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"

struct frame_case {
	const char	*name;
	const char	*in;
	const char	*want;		/* what evhttp gets */
	int		 status;	/* the verdict, 0 for none */
	size_t		 in_len;	/* 0: strlen(in) */
};

static const struct frame_case frame_cases[] = {
	/* Passed unchanged. */
	{ "GET", GET_OK, GET_OK, 0, 0 },
	{ "two pipelined GETs", GET_OK GET_OK, GET_OK GET_OK, 0, 0 },
	{ "POST with a body, then a GET", POST_H "Content-Length: 3\r\n\r\nabc"
	    GET_OK, POST_H "Content-Length: 3\r\n\r\nabc" GET_OK, 0, 0 },
	{ "identical Content-Length twice", POST_H "Content-Length: 3\r\n"
	    "content-length: 3\r\n\r\nabc", POST_H "Content-Length: 3\r\n"
	    "content-length: 3\r\n\r\nabc", 0, 0 },
	{ "LF line ends", "GET / HTTP/1.1\nHost: x\n\n",
	    "GET / HTTP/1.1\nHost: x\n\n", 0, 0 },
	{ "empty lines before a request line", "\r\n\n" GET_OK, GET_OK, 0, 0 },
	{ "HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n",
	    "GET / HTTP/1.0\r\n\r\n", 0, 0 },
	{ "OWS around a value, obs-text", "GET / HTTP/1.1\r\nHost:\t x \r\n"
	    "X-A: caf\xc3\xa9\r\n\r\n", "GET / HTTP/1.1\r\nHost:\t x \r\n"
	    "X-A: caf\xc3\xa9\r\n\r\n", 0, 0 },
	{ "odd bytes in the target: the router's", "GET /a\tb\x01\xff HTTP/1.1"
	    "\r\nHost: x\r\n\r\n", "GET /a\tb\x01\xff HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 0, 0 },
	{ "Content-Length: 0 on GET", "GET / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0 },
	{ "a body at the limit", POST_H "Content-Length: 32\r\n\r\n"
	    "0123456789abcdef0123456789abcdef", POST_H "Content-Length: 32\r\n"
	    "\r\n0123456789abcdef0123456789abcdef", 0, 0 },

	/* Chunked bodies, rewritten canonically. */
	{ "chunked", CHUNKED_H "3\r\nabc\r\n0\r\n\r\n" GET_OK,
	    CHUNKED_H "3\r\nabc\r\n0\r\n\r\n" GET_OK, 0, 0 },
	{ "chunk extension dropped", CHUNKED_H "3;foo=bar\r\nabc\r\n0;x\r\n\r\n",
	    CHUNKED_H "3\r\nabc\r\n0\r\n\r\n", 0, 0 },
	{ "quoted chunk extension", CHUNKED_H
	    "3 ; a=\"b;c\\\"d\" ;e\r\nabc\r\n0\r\n\r\n",
	    CHUNKED_H "3\r\nabc\r\n0\r\n\r\n", 0, 0 },
	{ "leading zeros, upper-case hex", CHUNKED_H "000A\r\n0123456789\r\n"
	    "0\r\n\r\n", CHUNKED_H "a\r\n0123456789\r\n0\r\n\r\n", 0, 0 },
	{ "trailer fields dropped", CHUNKED_H "1\r\na\r\n0\r\nX-T: 1\r\n"
	    "Content-Type: evil\r\n\r\n" GET_OK, CHUNKED_H "1\r\na\r\n0\r\n\r\n"
	    GET_OK, 0, 0 },
	{ "Transfer-Encoding in any case", POST_H "Transfer-Encoding: Chunked"
	    "\r\n\r\n0\r\n\r\n", POST_H "Transfer-Encoding: Chunked\r\n\r\n"
	    "0\r\n\r\n", 0, 0 },

	/* Header sections refused: the request line and the verdict. */
	{ "two different Content-Length", POST_H "Content-Length: 3\r\n"
	    "Content-Length: 56\r\n\r\nabc" SMUGGLED,
	    V("POST /e HTTP/1.1", 400, "two different Content-Length values"),
	    400, 0 },
	{ "Content-Length +3", POST_H "Content-Length: +3\r\n\r\nabc" SMUGGLED,
	    V("POST /e HTTP/1.1", 400, "Content-Length is not a number"),
	    400, 0 },
	{ "Content-Length list", POST_H "Content-Length: 3, 3\r\n\r\nabc",
	    V("POST /e HTTP/1.1", 400, "Content-Length is not a number"),
	    400, 0 },
	{ "empty Content-Length", POST_H "Content-Length:\r\n\r\n",
	    V("POST /e HTTP/1.1", 400, "Content-Length is not a number"),
	    400, 0 },
	{ "space before the colon", POST_H "Content-Length : 3\r\n\r\nabc"
	    SMUGGLED, V("POST /e HTTP/1.1", 400, "whitespace between a header "
	    "field name and its colon (RFC 9112 §5.1)"), 400, 0 },
	{ "obs-fold", GET_OK "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"
	    SMUGGLED, GET_OK V("GET / HTTP/1.1", 400, "obsolete line folding "
	    "in the header section (RFC 9112 §5.2)"), 400, 0 },
	{ "field name not a token", "GET / HTTP/1.1\r\nHost: x\r\nX@A: 1\r\n\r\n",
	    V("GET / HTTP/1.1", 400, "malformed header field name"), 400, 0 },
	{ "field line without colon", "GET / HTTP/1.1\r\nHost: x\r\nXA\r\n\r\n",
	    V("GET / HTTP/1.1", 400, "malformed header field name"), 400, 0 },
	{ "NUL in a value", NUL_IN, V("GET / HTTP/1.1", 400, "control "
	    "character in a header field value"), 400, sizeof(NUL_IN) - 1 },
	{ "bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
	    V("GET / HTTP/1.1", 400, "control character in a header field "
	    "value"), 400, 0 },
	{ "HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n" SMUGGLED,
	    V("GET / HTTP/1.1", 400, "HTTP/1.1 request without a Host header "
	    "field (RFC 9112 §3.2)"), 400, 0 },
	{ "two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
	    V("GET / HTTP/1.1", 400, "more than one Host header field "
	    "(RFC 9112 §3.2)"), 400, 0 },
	{ "Transfer-Encoding and Content-Length", POST_H "Content-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", V("POST /e HTTP/1.1",
	    400, "both Transfer-Encoding and Content-Length (RFC 9112 §6.1)"),
	    400, 0 },
	{ "Transfer-Encoding gzip", POST_H "Transfer-Encoding: gzip\r\n\r\n",
	    V("POST /e HTTP/1.1", 400, "Transfer-Encoding does not end in "
	    "chunked"), 400, 0 },
	{ "Transfer-Encoding chunked, then x", POST_H "Transfer-Encoding: "
	    "chunked, x\r\n\r\n", V("POST /e HTTP/1.1", 400,
	    "Transfer-Encoding does not end in chunked"), 400, 0 },
	{ "Transfer-Encoding gzip, chunked", POST_H "Transfer-Encoding: gzip, "
	    "chunked\r\n\r\n", V("POST /e HTTP/1.1", 501, "only the chunked "
	    "transfer coding is supported"), 501, 0 },
	{ "Transfer-Encoding twice", POST_H "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", V("POST /e HTTP/1.1", 501,
	    "only the chunked transfer coding is supported"), 501, 0 },
	{ "a tab before chunked (evhttp keeps it)", POST_H "Transfer-Encoding:"
	    "\tchunked\r\n\r\n0\r\n\r\n", V("POST /e HTTP/1.1", 400, "a tab "
	    "before the Transfer-Encoding value"), 400, 0 },
	{ "a tab before a length", POST_H "Content-Length: \t3\r\n\r\nabc",
	    V("POST /e HTTP/1.1", 400, "Content-Length is not a number"), 400,
	    0 },
	{ "Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", V("POST / HTTP/1.0", 400,
	    "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)"), 400,
	    0 },
	{ "GET with a body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: "
	    "51\r\n\r\n" SMUGGLED, V("GET / HTTP/1.1", 400, "a body with a "
	    "method that takes none"), 400, 0 },
	{ "post in lower case: not POST", "post / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 51\r\n\r\n" SMUGGLED, V("post / HTTP/1.1", 400,
	    "a body with a method that takes none"), 400, 0 },
	{ "the verdict field from a client", "GET / HTTP/1.1\r\nHost: x\r\n"
	    HTTPFRAME_FIELD ": 200 fine\r\n\r\n", V("GET / HTTP/1.1", 400,
	    "header field " HTTPFRAME_FIELD " is reserved"), 400, 0 },
	{ "HTTP/2.0 request line", "GET / HTTP/2.0\r\n\r\n", V("GET / HTTP/2.0",
	    400, "malformed request line: not HTTP/1.x"), 400, 0 },
	{ "two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	    V("GET  / HTTP/1.1", 400, "malformed request line"), 400, 0 },
	{ "huge Content-Length", POST_H "Content-Length: 1000000000000000000"
	    "\r\n\r\nabc", V("POST /e HTTP/1.1", 413, "body larger than 16 "
	    "bytes"), 413, 0 },
	{ "Content-Length past uint64", POST_H "Content-Length: "
	    "99999999999999999999999\r\n\r\n", V("POST /e HTTP/1.1", 413,
	    "body larger than 16 bytes"), 413, 0 },
	{ "too large, dropped before the answer", POST_H "Content-Length: 40"
	    "\r\n\r\n0123456789012345678901234567890123456789" SMUGGLED,
	    V("POST /e HTTP/1.1", 413, "body larger than 16 bytes"), 413, 0 },
	{ "too large, 100-continue: at once", POST_H "Content-Length: 40\r\n"
	    "Expect: 100-continue\r\n\r\n", V("POST /e HTTP/1.1", 413,
	    "body larger than 16 bytes"), 413, 0 },

	/* Chunks refused: the held request becomes its line and the verdict. */
	{ "chunk size 0x3", CHUNKED_H "0x3\r\nabc\r\n0\r\n\r\n" SMUGGLED,
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "chunk size +3", CHUNKED_H "+3\r\nabc\r\n0\r\n\r\n",
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "chunk size with a leading space", CHUNKED_H " 3\r\nabc\r\n0\r\n\r\n",
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "chunk size -0", CHUNKED_H "-0\r\n\r\n" SMUGGLED,
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "empty chunk size line", CHUNKED_H "\r\n3\r\nabc\r\n0\r\n\r\n",
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "chunk extension without a name", CHUNKED_H "3;=x\r\nabc\r\n",
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "unterminated quoted extension", CHUNKED_H "3;a=\"x\r\nabc\r\n",
	    CHUNK_V(400, "malformed chunk size line (RFC 9112 §7.1)"),
	    400, 0 },
	{ "chunk data longer than its size", CHUNKED_H "3\r\nabcd\r\n0\r\n\r\n",
	    CHUNK_V(400, "chunk data longer than its "
	    "size (RFC 9112 §7.1)"), 400, 0 },
	{ "chunks past the body limit", CHUNKED_H "10\r\n0123456789abcdef\r\n"
	    "11\r\n", CHUNK_V(413,
	    "body larger than 16 bytes"), 413, 0 },
	{ "chunk size past uint64", CHUNKED_H "fffffffffffffffff\r\n",
	    CHUNK_V(413, "chunk too large"), 413, 0 },
	{ "obs-fold in a trailer", CHUNKED_H "0\r\nX-T: 1\r\n 2\r\n\r\n",
	    CHUNK_V(400, "obsolete line folding in the header section "
	    "(RFC 9112 §5.2)"), 400, 0 },
	{ "the verdict field as a trailer", CHUNKED_H "0\r\n" HTTPFRAME_FIELD
	    ": 200 x\r\n\r\n", CHUNK_V(400, "header field " HTTPFRAME_FIELD
	    " is reserved"), 400, 0 },
};

#define BIG_H	"GET / HTTP/1.1\r\nX-Big: "

/* A header section past three times the limit goes to evhttp as it is,
 * that much of it (evhttp refuses it), and nothing after it. */
static void
test_oversized_head(void **state)
{
	struct httpframe	*hf = httpframe_new(MAX_HEAD, MAX_BODY);
	struct evbuffer		*in = evbuffer_new(), *out = evbuffer_new();
	char			 big[4 * MAX_HEAD];
	size_t			 passed = 3 * MAX_HEAD + 9;

	(void)state;
	memset(big, 'a', sizeof(big));
	evbuffer_add(in, BIG_H, strlen(BIG_H));
	evbuffer_add(in, big, sizeof(big));
	assert_int_equal(httpframe_scan(hf, in, out), 1);
	assert_int_equal(evbuffer_get_length(out), passed);
	evbuffer_add_printf(in, "\r\n\r\n" SMUGGLED);
	assert_int_equal(httpframe_scan(hf, in, out), 0);
	assert_int_equal(evbuffer_get_length(out), passed);
	assert_int_equal(evbuffer_get_length(in), 0);
	assert_int_equal(httpframe_status(hf), 0);
	evbuffer_free(in);
	evbuffer_free(out);
	httpframe_free(hf);
}

static void
run_case(const struct frame_case *c, size_t len, int bytewise)
{
	struct httpframe	*hf = httpframe_new(MAX_HEAD, MAX_BODY);
	struct evbuffer		*in = evbuffer_new(), *out = evbuffer_new();
	size_t			 step = bytewise ? 1 : len, wlen;

	assert_non_null(hf);
	for (size_t i = 0; i < len; i += step) {
		evbuffer_add(in, c->in + i, step);
		httpframe_scan(hf, in, out);
	}
	wlen = strlen(c->want);
	if (evbuffer_get_length(out) != wlen ||
	    memcmp(evbuffer_pullup(out, -1), c->want, wlen) != 0)
		fail_msg("%s (%s): evhttp got\n%.*s\nwanted\n%s", c->name,
		    bytewise ? "byte by byte" : "whole",
		    (int)evbuffer_get_length(out),
		    (const char *)evbuffer_pullup(out, -1), c->want);
	assert_int_equal(httpframe_status(hf), c->status);
	evbuffer_free(in);
	evbuffer_free(out);
	httpframe_free(hf);
}

static size_t
case_len(const struct frame_case *c)
{
	return c->in_len != 0 ? c->in_len : strlen(c->in);
}

static void
test_frame_case(void **state)
{
	const struct frame_case *c = *state;

	run_case(c, case_len(c), 0);
	run_case(c, case_len(c), 1);
}

/* The request handler reads the verdict back from the fields. */
static void
test_verdict(void **state)
{
	struct evkeyvalq	 hdrs;
	const char		*why;
	int			 status;

	(void)state;
	TAILQ_INIT(&hdrs);
	assert_int_equal(httpframe_verdict(&hdrs, &status, &why), 0);
	evhttp_add_header(&hdrs, "Host", "x");
	evhttp_add_header(&hdrs, HTTPFRAME_FIELD, "413 body larger than 9 "
	    "bytes");
	assert_int_equal(httpframe_verdict(&hdrs, &status, &why), 1);
	assert_int_equal(status, 413);
	assert_string_equal(why, "body larger than 9 bytes");
	evhttp_clear_headers(&hdrs);
}

int
main(void)
{
	size_t			 n = NITEMS(frame_cases);
	struct CMUnitTest	*t = calloc(n + 2, sizeof(*t));
	int			 rc;

	if (t == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		t[i] = (struct CMUnitTest){ frame_cases[i].name,
		    test_frame_case, NULL, NULL, (void *)&frame_cases[i] };
	t[n] = (struct CMUnitTest){ "oversized header section",
	    test_oversized_head, NULL, NULL, NULL };
	t[n + 1] = (struct CMUnitTest){ "verdict read back", test_verdict,
	    NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("httpframe", t, n + 2, NULL, NULL);
	free(t);
	return rc;
}
