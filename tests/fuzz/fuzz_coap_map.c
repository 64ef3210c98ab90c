/*
 * fuzz_coap_map: what estrad reads on the CoAP path besides libcoap's own
 * parsing (src/coap_map.c, src/coap_map_answer.c): a request's Uri-Path
 * segments (coap_map_route), its Content-Format and Accept, its payload
 * (coap_map_request_body: the DER CSR made the CA's base64), and the CA's
 * answer made a CoAP one (coap_map_answer: base64 or binary bodies, the
 * one certificate of a PKCS#7 for 287, serverkeygen's multipart/mixed
 * made multipart-core, errors, Retry-After made Max-Age).
 *
 * Input: four control bytes, then lines (LF ends each): the Uri-Path
 * ('/' between segments), the reply's Content-Type, its
 * Content-Transfer-Encoding, its Retry-After, its reason; the rest is
 * the body (also the request payload).
 *   byte 0: the Content-Format (formats[] below, or the byte itself)
 *   byte 1: the Accept, the same way
 *   byte 2: the reply's status (statuses[])
 *   byte 3: bit 0 GET (else POST); bit 1 the body is DER, base64-encoded
 *           by the harness as a CA would send it, so that mutations reach
 *           the PKCS#7 walk; bit 2 the reply has a challenge; bits 4-7
 *           the operation when the path is no resource
 *
 * Invariants: a route found is a resource's, with the label as sent and
 * valid; a refusal has a one-line reason and no label. A format accepted
 * is the one coap_map_accept names for the operation. A request body
 * accepted is one DER SEQUENCE and its base64 is one line that decodes
 * back to it. An answer has a code coap_map_code_text can write; a
 * diagnostic is printable ASCII of at most COAP_MAP_DIAG_MAX bytes with
 * no Content-Format; a Max-Age is absent or 1..86400; a 2.xx payload is
 * in the format asked: 287 one DER SEQUENCE, 62 a CBOR array of two
 * (format, byte string) pairs filling the payload exactly.
 */
#include <openssl/asn1.h>
#include <openssl/err.h>

#include "estrad/b64.h"
#include "estrad/coap_map.h"
#include "fuzz.h"

static const int formats[] = {
	COAP_CF_NONE, COAP_CF_TEXT, COAP_CF_MULTIPART_CORE, COAP_CF_PKCS7_SKG,
	COAP_CF_PKCS7_CERTS, COAP_CF_PKCS8, COAP_CF_CSRATTRS, COAP_CF_PKCS10,
	COAP_CF_PKIX_CERT, 60, 65535,
};
#define NFORMATS	(sizeof(formats) / sizeof(formats[0]))

static const int statuses[] = {
	200, 200, 200, 200, 201, 202, 204, 400, 401, 403, 404, 405, 406, 413,
	415, 418, 429, 431, 500, 501, 502, 503, 504, 505, 301, 100, 0, 999,
};
#define NSTATUSES	(sizeof(statuses) / sizeof(statuses[0]))

#define MAX_SEGS	8

static int
format_of(uint8_t b)
{
	return b < 2 * NFORMATS ? formats[b % NFORMATS] : b;
}

/* 1 if der[0..len) is exactly one definite-length DER SEQUENCE. */
static int
one_sequence(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	long			 clen;
	int			 tag, cls, r;

	if (len == 0 || len > 0x7fffffff)
		return 0;
	r = ASN1_get_object(&p, &clen, &tag, &cls, (long)len);
	ERR_clear_error();
	return r == V_ASN1_CONSTRUCTED && tag == V_ASN1_SEQUENCE &&
	    cls == V_ASN1_UNIVERSAL && (size_t)(p - der) + (size_t)clen == len;
}

/* A CBOR head of major type mt at *p: its argument, or -1. */
static long
cbor_head(const unsigned char **p, const unsigned char *end, int mt)
{
	int	 ai, n, i;
	long	 v = 0;

	if (*p >= end || (**p >> 5) != mt)
		return -1;
	ai = **p & 31;
	(*p)++;
	if (ai < 24)
		return ai;
	n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : 0;
	if (n == 0 || end - *p < n)
		return -1;
	for (i = 0; i < n; i++)
		v = v << 8 | *(*p)++;
	return v;
}

/* multipart-core: [cf, bstr, cf, bstr], nothing after it. */
static void
check_multipart_core(const unsigned char *b, size_t len)
{
	const unsigned char	*p = b, *end = b + len;
	long			 v;
	int			 i;

	FUZZ_CHECK(cbor_head(&p, end, 4) == 4);
	for (i = 0; i < 2; i++) {
		v = cbor_head(&p, end, 0);
		FUZZ_CHECK(i == 0 ? (v == COAP_CF_PKCS8 ||
		    v == COAP_CF_PKCS7_SKG) : v == COAP_CF_PKCS7_CERTS);
		v = cbor_head(&p, end, 2);
		FUZZ_CHECK(v > 0 && v <= COAP_MAP_PAYLOAD_MAX &&
		    end - p >= v);
		p += v;
	}
	FUZZ_CHECK(p == end);
}

static void
check_route(const uint8_t *path, size_t plen, enum est_op *op)
{
	const char		*segs[MAX_SEGS], *reason = NULL;
	size_t			 lens[MAX_SEGS], n = 0, i = 0, start = 0;
	struct est_route	 route;
	const struct coap_map_resource *res;

	for (i = 0; i <= plen && n < MAX_SEGS; i++)
		if (i == plen || path[i] == '/') {
			segs[n] = (const char *)path + start;
			lens[n++] = i - start;
			start = i + 1;
		}
	if (coap_map_route(segs, lens, n, &route, &reason) == -1) {
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		FUZZ_CHECK(route.has_label == 0 && route.label[0] == '\0');
		return;
	}
	FUZZ_CHECK((n == 3 || n == 4) && reason == NULL);
	FUZZ_CHECK((res = coap_map_by_op(route.op)) != NULL);
	FUZZ_CHECK(strlen(res->name) == lens[n - 1] &&
	    memcmp(res->name, segs[n - 1], lens[n - 1]) == 0);
	FUZZ_CHECK(route.has_label == (n == 4));
	if (n == 4) {
		FUZZ_CHECK(strlen(route.label) == lens[2] &&
		    memcmp(route.label, segs[2], lens[2]) == 0);
		FUZZ_CHECK(router_label_valid(route.label));
	}
	*op = route.op;
}

static void
check_request(enum est_op op, int format, int accept, int *cf,
    const uint8_t *body, size_t len)
{
	const char	*reason = NULL;
	char		*out = NULL;
	size_t		 outlen = 0, dlen;
	unsigned char	*back;

	if (coap_map_request_format(op, format, &reason) == -1)
		FUZZ_CHECK(reason != NULL);
	if (coap_map_accept(op, accept, cf, &reason) == 0) {
		FUZZ_CHECK(*cf == COAP_CF_PKCS7_CERTS ||
		    *cf == COAP_CF_PKIX_CERT || *cf == COAP_CF_CSRATTRS ||
		    *cf == COAP_CF_MULTIPART_CORE);
		FUZZ_CHECK(accept == COAP_CF_NONE || accept == *cf);
	} else {
		FUZZ_CHECK(*cf == COAP_CF_NONE && reason != NULL);
		/* Answered anyway, in the format the operation defaults to
		 * (none for one without a resource). */
		if (coap_map_accept(op, COAP_CF_NONE, cf, &reason) == -1)
			FUZZ_CHECK(coap_map_by_op(op) == NULL);
	}
	if (coap_map_request_body(body, len, &out, &outlen, &reason) == -1) {
		FUZZ_CHECK(out == NULL && outlen == 0 && reason != NULL);
		return;
	}
	FUZZ_CHECK(one_sequence(body, len));
	FUZZ_CHECK(outlen == (len + 2) / 3 * 4 && strlen(out) == outlen);
	FUZZ_CHECK(b64_decode_lenient(out, outlen, &back, &dlen, &reason) ==
	    0);
	FUZZ_CHECK(dlen == len && memcmp(back, body, len) == 0);
	free(back);
	free(out);
}

static void
check_answer(enum est_op op, enum est_method method, int cf,
    const struct est_reply *r)
{
	struct coap_map_answer	 a;
	char			 text[8];
	size_t			 i;

	FUZZ_CHECK(coap_map_answer(op, method, cf, r, &a) == 0);
	FUZZ_CHECK(strcmp(coap_map_code_text(a.code, text, sizeof(text)),
	    "?.??") != 0);
	FUZZ_CHECK(a.max_age == -1 || (a.max_age >= 1 &&
	    a.max_age <= 86400));
	FUZZ_CHECK((a.payload == NULL) == (a.payload_len == 0));
	if (a.diagnostic) {
		FUZZ_CHECK(a.payload_len > 0 &&
		    a.payload_len <= COAP_MAP_DIAG_MAX);
		FUZZ_CHECK(a.content_format == COAP_CF_NONE);
		for (i = 0; i < a.payload_len; i++)
			FUZZ_CHECK(a.payload[i] >= 0x20 && a.payload[i] < 0x7f);
		FUZZ_CHECK(a.code >= 400);
	} else if (a.code < 300 && a.payload != NULL) {
		FUZZ_CHECK(a.content_format == cf);
		FUZZ_CHECK(a.code == (method == EST_METHOD_GET ? 205 : 204));
		if (cf == COAP_CF_PKIX_CERT)
			FUZZ_CHECK(one_sequence(a.payload, a.payload_len));
		if (op == EST_OP_SERVERKEYGEN)
			check_multipart_core(a.payload, a.payload_len);
		else
			FUZZ_CHECK(a.payload_len <= COAP_MAP_PAYLOAD_MAX);
	} else
		FUZZ_CHECK(a.content_format == COAP_CF_NONE);
	coap_map_answer_clear(&a);
	FUZZ_CHECK(a.payload == NULL);
}

/* The next line into a NUL-terminated field of size bytes (cut). */
static void
take_line(const uint8_t **p, size_t *left, char *field, size_t size)
{
	const uint8_t	*line;
	long		 len = fuzz_next_line(p, left, &line);

	field[0] = '\0';
	if (len <= 0)
		return;
	if ((size_t)len >= size)
		len = (long)size - 1;
	memcpy(field, line, (size_t)len);
	field[len] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_reply	 r;
	const uint8_t		*p, *path;
	size_t			 left;
	long			 plen;
	enum est_op		 op;
	enum est_method		 method;
	int			 cf;

	if (size < 4)
		return 0;
	memset(&r, 0, sizeof(r));
	r.status = statuses[data[2] % NSTATUSES];
	method = (data[3] & 1) ? EST_METHOD_GET : EST_METHOD_POST;
	r.nchallenges = (data[3] & 4) ? 1 : 0;
	op = (enum est_op)((data[3] >> 4) % (EST_OP_MAX + 1));
	p = data + 4;
	left = size - 4;
	if ((plen = fuzz_next_line(&p, &left, &path)) < 0)
		plen = 0;
	check_route(path, (size_t)plen, &op);
	take_line(&p, &left, r.content_type, sizeof(r.content_type));
	take_line(&p, &left, r.cte, sizeof(r.cte));
	take_line(&p, &left, r.retry_after, sizeof(r.retry_after));
	take_line(&p, &left, r.reason, sizeof(r.reason));
	if (p == NULL)
		left = 0;
	/* The body in a buffer of exactly its size. */
	if ((r.body = malloc(left ? left : 1)) == NULL)
		abort();
	if (left > 0)
		memcpy(r.body, p, left);
	r.body_len = left;
	check_request(op, format_of(data[0]), format_of(data[1]), &cf, r.body,
	    r.body_len);
	if (data[3] & 2) {
		size_t	 elen;
		char	*enc = b64_encode_lines(r.body, r.body_len, &elen);

		FUZZ_CHECK(enc != NULL);
		free(r.body);
		r.body = (unsigned char *)enc;
		r.body_len = elen;
	}
	check_answer(op, method, cf, &r);
	est_reply_clear(&r);
	return 0;
}
