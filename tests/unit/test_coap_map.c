/*
 * coap_map: EST over CoAP (RFC 9148) to and from the HTTPS path. Tables
 * for the resources and their link attributes (§4.1), the routes, the
 * request's Content-Format and Accept, HTTP status -> CoAP code; the
 * request body and the answers checked against the seed exchange's
 * vectors (tests/data/seed-csr.b64, seed-pkcs7.b64) as the openssl CLI
 * decodes and encodes them, not as estrad's own base64 does; and
 * serverkeygen's multipart/mixed -> multipart-core checked byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/coap_map.h"

#include "testdata.h"
#include "testpki.h"

/* --- helpers --- */

/* The stdout of a shell command, malloc'd; fails the test on an error. */
static unsigned char *
run(const char *cmd, size_t *len)
{
	FILE		*fp;
	unsigned char	*buf = NULL;
	size_t		 n = 0, cap = 0, r;

	assert_non_null(fp = popen(cmd, "r"));
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			assert_non_null(buf = realloc(buf, cap));
		}
		r = fread(buf + n, 1, cap - n, fp);
		n += r;
	} while (r > 0);
	assert_int_equal(pclose(fp), 0);
	*len = n;
	return buf;
}

/* The vector's bytes as `openssl base64 -d` decodes them. */
static unsigned char *
openssl_decode(const char *name, size_t *len)
{
	const char	*dir = getenv("ESTRAD_TEST_DATA");
	char		 cmd[1200];

	snprintf(cmd, sizeof(cmd), "openssl base64 -d -in '%s/%s'",
	    dir != NULL ? dir : "tests/data", name);
	return run(cmd, len);
}

static const char *
data_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("ESTRAD_TEST_DATA");

	snprintf(buf, len, "%s/%s", dir != NULL ? dir : "tests/data", name);
	return buf;
}

/* A reply as the HTTPS path leaves it; body copied. */
static void
reply_set(struct est_reply *r, int status, const char *ct, const char *cte,
    const void *body, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->status = status;
	snprintf(r->content_type, sizeof(r->content_type), "%s",
	    ct != NULL ? ct : "");
	snprintf(r->cte, sizeof(r->cte), "%s", cte != NULL ? cte : "");
	if (len > 0) {
		assert_non_null(r->body = malloc(len));
		memcpy(r->body, body, len);
		r->body_len = len;
	}
}

static void
assert_diag(const struct coap_map_answer *a, int code, const char *text)
{
	assert_int_equal(a->code, code);
	assert_int_equal(a->content_format, COAP_CF_NONE);
	assert_true(a->diagnostic);
	assert_non_null(a->payload);
	if (strlen(text) != a->payload_len ||
	    memcmp(a->payload, text, a->payload_len) != 0)
		fail_msg("diagnostic '%.*s', want '%s'", (int)a->payload_len,
		    (const char *)a->payload, text);
}

/* --- tables --- */

static void
test_resources(void **state)
{
	static const struct {
		const char	*name;
		enum est_op	 op;
		enum est_method	 method;
		const char	*rt, *ct;
	} want[] = {
		{ "crts", EST_OP_CACERTS, EST_METHOD_GET, "ace.est.crts",
		  "281 287" },
		{ "sen", EST_OP_SIMPLEENROLL, EST_METHOD_POST, "ace.est.sen",
		  "281 287" },
		{ "sren", EST_OP_SIMPLEREENROLL, EST_METHOD_POST,
		  "ace.est.sren", "281 287" },
		{ "att", EST_OP_CSRATTRS, EST_METHOD_GET, "ace.est.att",
		  "285" },
		{ "skg", EST_OP_SERVERKEYGEN, EST_METHOD_POST, "ace.est.skg",
		  "62" },
	};
	const struct coap_map_resource *res;
	size_t n, i;

	(void)state;
	res = coap_map_resources(&n);
	assert_int_equal(n, NITEMS(want));
	for (i = 0; i < n; i++) {
		assert_string_equal(res[i].name, want[i].name);
		assert_int_equal(res[i].op, want[i].op);
		assert_int_equal(res[i].method, want[i].method);
		assert_string_equal(res[i].rt, want[i].rt);
		assert_string_equal(res[i].ct, want[i].ct);
		assert_ptr_equal(coap_map_by_name(want[i].name,
		    strlen(want[i].name)), &res[i]);
		assert_ptr_equal(coap_map_by_op(want[i].op), &res[i]);
	}
	/* Not NUL-terminated: the length decides. */
	assert_ptr_equal(coap_map_by_name("senX", 3), &res[1]);
	assert_null(coap_map_by_name("sen", 2));
	assert_null(coap_map_by_name("simpleenroll", 12));
	assert_null(coap_map_by_name("", 0));
	assert_null(coap_map_by_op(EST_OP_FULLCMC));
	assert_null(coap_map_by_op(EST_OP_MAX));
}

static void
test_route(void **state)
{
	static const struct {
		const char	*path;	/* segments split at '/' */
		int		 rc;
		enum est_op	 op;
		const char	*label;
	} rows[] = {
		{ ".well-known/est/crts", 0, EST_OP_CACERTS, NULL },
		{ ".well-known/est/sen", 0, EST_OP_SIMPLEENROLL, NULL },
		{ ".well-known/est/sren", 0, EST_OP_SIMPLEREENROLL, NULL },
		{ ".well-known/est/att", 0, EST_OP_CSRATTRS, NULL },
		{ ".well-known/est/skg", 0, EST_OP_SERVERKEYGEN, NULL },
		{ ".well-known/est/arbitraryLabel1/sen", 0,
		  EST_OP_SIMPLEENROLL, "arbitraryLabel1" },
		{ ".well-known/est/a.b_c~d-e/crts", 0, EST_OP_CACERTS,
		  "a.b_c~d-e" },
		{ ".well-known/est/fullcmc", -1, 0, NULL },
		{ ".well-known/est/simpleenroll", -1, 0, NULL },
		{ ".well-known/est/SEN", -1, 0, NULL },
		{ ".well-known/est/lab/nope", -1, 0, NULL },
		{ ".well-known/est", -1, 0, NULL },
		{ ".well-known", -1, 0, NULL },
		{ ".well-known/est/a/b/sen", -1, 0, NULL },
		{ ".well-known/EST/sen", -1, 0, NULL },
		{ "well-known/est/sen", -1, 0, NULL },
		{ ".well-known/core/sen", -1, 0, NULL },
		{ ".well-known/est//sen", -1, 0, NULL },
		{ ".well-known/est/bad label/sen", -1, 0, NULL },
		{ ".well-known/est/simpleenroll/sen", -1, 0, NULL },
		{ ".well-known/est/"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "/sen", -1, 0, NULL },	/* a label of 65 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		const char	*segs[8], *reason = NULL, *p = rows[i].path;
		size_t		 lens[8], n = 0;
		struct est_route route;
		int		 rc;

		for (;;) {
			const char *slash = strchr(p, '/');

			segs[n] = p;
			lens[n] = slash ? (size_t)(slash - p) : strlen(p);
			n++;
			if (slash == NULL)
				break;
			p = slash + 1;
		}
		rc = coap_map_route(segs, lens, n, &route, &reason);
		if (rc != rows[i].rc)
			fail_msg("%s: %d, want %d", rows[i].path, rc,
			    rows[i].rc);
		if (rc == -1) {
			assert_non_null(reason);
			assert_null(strpbrk(reason, "\r\n"));
			assert_int_equal(route.has_label, 0);
			continue;
		}
		assert_int_equal(route.op, rows[i].op);
		assert_int_equal(route.has_label, rows[i].label != NULL);
		assert_string_equal(route.label,
		    rows[i].label ? rows[i].label : "");
	}
	{
		/* A NUL inside a label and a 64-byte one. */
		static const char *segs[] = { ".well-known", "est", "a\0b",
		    "sen" };
		static const size_t lens[] = { 11, 3, 3, 3 };
		char		 label[EST_LABEL_MAX];
		const char	*s2[4] = { ".well-known", "est", label, "sen" };
		size_t		 l2[4] = { 11, 3, sizeof(label), 3 };
		struct est_route route;
		const char	*reason;

		assert_int_equal(coap_map_route(segs, lens, 4, &route,
		    &reason), -1);
		memset(label, 'x', sizeof(label));
		assert_int_equal(coap_map_route(s2, l2, 4, &route, &reason),
		    0);
		assert_int_equal(strlen(route.label), EST_LABEL_MAX);
	}
}

static void
test_request_format(void **state)
{
	static const struct {
		enum est_op	op;
		int		cf, rc;
	} rows[] = {
		{ EST_OP_SIMPLEENROLL, COAP_CF_PKCS10, 0 },
		{ EST_OP_SIMPLEREENROLL, COAP_CF_PKCS10, 0 },
		{ EST_OP_SERVERKEYGEN, COAP_CF_PKCS10, 0 },
		{ EST_OP_SIMPLEENROLL, COAP_CF_NONE, -1 },
		{ EST_OP_SIMPLEENROLL, COAP_CF_PKCS7_CERTS, -1 },
		{ EST_OP_SIMPLEREENROLL, COAP_CF_TEXT, -1 },
		{ EST_OP_SERVERKEYGEN, COAP_CF_NONE, -1 },
		{ EST_OP_SERVERKEYGEN, 60, -1 },
		{ EST_OP_CACERTS, COAP_CF_NONE, 0 },
		{ EST_OP_CACERTS, COAP_CF_PKCS10, 0 },
		{ EST_OP_CSRATTRS, COAP_CF_NONE, 0 },
		{ EST_OP_FULLCMC, COAP_CF_PKCS10, -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		const char *reason = "unset";

		if (coap_map_request_format(rows[i].op, rows[i].cf, &reason) !=
		    rows[i].rc)
			fail_msg("row %zu", i);
		if (rows[i].rc == 0)
			assert_null(reason);
		else
			assert_non_null(reason);
	}
}

static void
test_accept(void **state)
{
	static const struct {
		enum est_op	op;
		int		accept, rc, cf;
	} rows[] = {
		{ EST_OP_CACERTS, COAP_CF_NONE, 0, 281 },
		{ EST_OP_CACERTS, 281, 0, 281 },
		{ EST_OP_CACERTS, 287, 0, 287 },
		{ EST_OP_SIMPLEENROLL, COAP_CF_NONE, 0, 281 },
		{ EST_OP_SIMPLEENROLL, 287, 0, 287 },
		{ EST_OP_SIMPLEREENROLL, 281, 0, 281 },
		{ EST_OP_SIMPLEREENROLL, 287, 0, 287 },
		{ EST_OP_CSRATTRS, COAP_CF_NONE, 0, 285 },
		{ EST_OP_CSRATTRS, 285, 0, 285 },
		{ EST_OP_SERVERKEYGEN, COAP_CF_NONE, 0, 62 },
		{ EST_OP_SERVERKEYGEN, 62, 0, 62 },
		{ EST_OP_CACERTS, 285, -1, COAP_CF_NONE },
		{ EST_OP_CACERTS, COAP_CF_TEXT, -1, COAP_CF_NONE },
		{ EST_OP_SIMPLEENROLL, 286, -1, COAP_CF_NONE },
		{ EST_OP_CSRATTRS, 281, -1, COAP_CF_NONE },
		{ EST_OP_SERVERKEYGEN, 281, -1, COAP_CF_NONE },
		{ EST_OP_SERVERKEYGEN, 284, -1, COAP_CF_NONE },
		{ EST_OP_FULLCMC, COAP_CF_NONE, -1, COAP_CF_NONE },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		const char	*reason = "unset";
		int		 cf = 12345;

		if (coap_map_accept(rows[i].op, rows[i].accept, &cf,
		    &reason) != rows[i].rc || cf != rows[i].cf)
			fail_msg("row %zu: cf %d", i, cf);
		if (rows[i].rc == 0)
			assert_null(reason);
		else
			assert_non_null(reason);
	}
}

/* --- the request body --- */

static void
test_request_body(void **state)
{
	size_t		 dlen, wlen, outlen = 7;
	unsigned char	*der = openssl_decode("seed-csr.b64", &dlen);
	unsigned char	*want, *bad;
	char		 path[1024], cmd[1200], *out = (char *)"x";
	const char	*reason;

	(void)state;
	snprintf(cmd, sizeof(cmd), "openssl base64 -d -in '%s' | "
	    "openssl base64 -A", data_path("seed-csr.b64", path,
	    sizeof(path)));
	want = run(cmd, &wlen);
	assert_int_equal(coap_map_request_body(der, dlen, &out, &outlen,
	    &reason), 0);
	assert_int_equal(outlen, wlen);
	assert_memory_equal(out, want, wlen);
	assert_int_equal(out[outlen], '\0');
	assert_null(strpbrk(out, "\r\n"));
	free(out);

	assert_non_null(bad = malloc(dlen + 1));
	memcpy(bad, der, dlen);
	bad[dlen] = 0;
	{
		static const unsigned char ber[] = { 0x30, 0x80, 0x02, 0x01,
		    0x01, 0x00, 0x00 };
		static const unsigned char octets[] = { 0x04, 0x01, 0x00 };
		static const unsigned char longer[] = { 0x30, 0x05, 0x02,
		    0x01, 0x01 };
		const struct {
			const unsigned char	*p;
			size_t			 len;
			const char		*reason;
		} rows[] = {
			{ bad, dlen + 1, "bytes after the CSR" },
			{ der, dlen - 1, "payload is not one DER SEQUENCE "
			  "(a PKCS#10 CSR)" },
			{ der, 0, "payload is not one DER SEQUENCE "
			  "(a PKCS#10 CSR)" },
			{ ber, sizeof(ber), "payload is not one DER SEQUENCE "
			  "(a PKCS#10 CSR)" },
			{ octets, sizeof(octets), "payload is not one DER "
			  "SEQUENCE (a PKCS#10 CSR)" },
			{ longer, sizeof(longer), "payload is not one DER "
			  "SEQUENCE (a PKCS#10 CSR)" },
			{ (const unsigned char *)"MIIC", 4, "payload is not "
			  "one DER SEQUENCE (a PKCS#10 CSR)" },
		};
		size_t i;

		for (i = 0; i < NITEMS(rows); i++) {
			out = (char *)"x";
			outlen = 7;
			assert_int_equal(coap_map_request_body(rows[i].p,
			    rows[i].len, &out, &outlen, &reason), -1);
			assert_null(out);
			assert_int_equal(outlen, 0);
			assert_string_equal(reason, rows[i].reason);
		}
	}
	free(bad);
	free(want);
	free(der);
}

/* --- codes --- */

static void
test_code(void **state)
{
	static const int rows[][2] = {
		{ 400, 400 }, { 401, 401 }, { 403, 403 }, { 404, 404 },
		{ 405, 405 }, { 406, 406 }, { 413, 413 }, { 415, 415 },
		{ 429, 429 }, { 431, 400 }, { 500, 500 }, { 501, 501 },
		{ 502, 502 }, { 503, 503 }, { 504, 504 },
		/* fallbacks */
		{ 402, 400 }, { 408, 400 }, { 409, 400 }, { 410, 400 },
		{ 414, 400 }, { 499, 400 }, { 505, 500 }, { 507, 500 },
		{ 599, 500 }, { 0, 500 }, { 302, 500 }, { 600, 500 },
		{ -1, 500 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++)
		if (coap_map_code(rows[i][0]) != rows[i][1])
			fail_msg("%d -> %d, want %d", rows[i][0],
			    coap_map_code(rows[i][0]), rows[i][1]);
}

static void
test_code_text(void **state)
{
	static const struct {
		int		 code;
		const char	*text;
		unsigned	 wire;
	} rows[] = {
		{ 205, "2.05", 0x45 }, { 204, "2.04", 0x44 },
		{ 231, "2.31", 0x5f }, { 400, "4.00", 0x80 },
		{ 401, "4.01", 0x81 }, { 404, "4.04", 0x84 },
		{ 413, "4.13", 0x8d }, { 415, "4.15", 0x8f },
		{ 429, "4.29", 0x9d }, { 502, "5.02", 0xa2 },
		{ 503, "5.03", 0xa3 }, { 504, "5.04", 0xa4 },
		{ 0, "0.00", 0x00 },
	};
	char	buf[5], small[3];
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		assert_string_equal(coap_map_code_text(rows[i].code, buf,
		    sizeof(buf)), rows[i].text);
		assert_int_equal(COAP_MAP_WIRE(rows[i].code), rows[i].wire);
	}
	assert_string_equal(coap_map_code_text(-5, buf, sizeof(buf)), "?.??");
	assert_string_equal(coap_map_code_text(1000, buf, sizeof(buf)),
	    "?.??");
	assert_string_equal(coap_map_code_text(499, buf, sizeof(buf)), "?.??");
	/* Cut, NUL-terminated, in a short buffer. */
	assert_string_equal(coap_map_code_text(404, small, sizeof(small)),
	    "4.");
}

/* --- answers --- */

/* The seed exchange's certs-only answer: a 200 from the CA. */
static void
test_answer_seed(void **state)
{
	static const struct {
		enum est_op	 op;
		enum est_method	 method;
		int		 code;
	} rows[] = {
		{ EST_OP_SIMPLEENROLL, EST_METHOD_POST, 204 },
		{ EST_OP_SIMPLEREENROLL, EST_METHOD_POST, 204 },
		{ EST_OP_CACERTS, EST_METHOD_GET, 205 },
	};
	size_t			 slen, dlen, i;
	char			*seed = testdata_read("seed-pkcs7.b64", &slen);
	unsigned char		*der = openssl_decode("seed-pkcs7.b64", &dlen);
	struct est_reply	 r;
	struct coap_map_answer	 a;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		reply_set(&r, 200, EST_CT_CERTS_ONLY, "base64", seed, slen);
		assert_int_equal(coap_map_answer(rows[i].op, rows[i].method,
		    COAP_CF_PKCS7_CERTS, &r, &a), 0);
		assert_int_equal(a.code, rows[i].code);
		assert_int_equal(a.content_format, COAP_CF_PKCS7_CERTS);
		assert_int_equal(a.max_age, -1);
		assert_false(a.diagnostic);
		assert_int_equal(a.payload_len, dlen);
		assert_memory_equal(a.payload, der, dlen);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
	/* No Content-Transfer-Encoding (RFC 8951 §3.1: base64 anyway),
	 * and the same base64 with CRLF line ends. */
	{
		char	*crlf = malloc(2 * slen + 1), *o = crlf;
		size_t	 j;

		assert_non_null(crlf);
		for (j = 0; j < slen; j++) {
			if (seed[j] == '\n')
				*o++ = '\r';
			*o++ = seed[j];
		}
		reply_set(&r, 200, EST_CT_PKCS7, NULL, crlf, (size_t)(o -
		    crlf));
		free(crlf);
		assert_non_null(memchr(r.body, '\r', r.body_len));
		assert_int_equal(coap_map_answer(EST_OP_SIMPLEENROLL,
		    EST_METHOD_POST, COAP_CF_PKCS7_CERTS, &r, &a), 0);
		assert_int_equal(a.code, 204);
		assert_int_equal(a.payload_len, dlen);
		assert_memory_equal(a.payload, der, dlen);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
	/* Content-Transfer-Encoding: binary: the body is the DER. */
	reply_set(&r, 200, EST_CT_CERTS_ONLY, "Binary", der, dlen);
	assert_int_equal(coap_map_answer(EST_OP_SIMPLEENROLL, EST_METHOD_POST,
	    COAP_CF_PKCS7_CERTS, &r, &a), 0);
	assert_int_equal(a.code, 204);
	assert_int_equal(a.payload_len, dlen);
	assert_memory_equal(a.payload, der, dlen);
	coap_map_answer_clear(&a);
	est_reply_clear(&r);
	free(der);
	free(seed);
}

/* p7 with the seed's certificate n times (0, 1, 2), as DER. */
static unsigned char *
p7_with(int n, size_t *len)
{
	size_t			 dlen;
	unsigned char		*der = openssl_decode("seed-pkcs7.b64", &dlen);
	const unsigned char	*p = der;
	unsigned char		*out = NULL;
	PKCS7			*src, *p7;
	X509			*cert;
	int			 i, olen;

	assert_non_null(src = d2i_PKCS7(NULL, &p, (long)dlen));
	cert = sk_X509_value(src->d.sign->cert, 0);
	assert_non_null(p7 = PKCS7_new());
	assert_true(PKCS7_set_type(p7, NID_pkcs7_signed));
	assert_true(PKCS7_content_new(p7, NID_pkcs7_data));
	for (i = 0; i < n; i++)
		assert_true(PKCS7_add_certificate(p7, cert));
	assert_true((olen = i2d_PKCS7(p7, &out)) > 0);
	*len = (size_t)olen;
	PKCS7_free(p7);
	PKCS7_free(src);
	free(der);
	return out;
}

/* 287: the one certificate, as the CA encoded it (RFC 9148 §4.3). */
static void
test_answer_pkix_cert(void **state)
{
	size_t			 slen, dlen, clen, len, i;
	char			*seed = testdata_read("seed-pkcs7.b64", &slen);
	unsigned char		*der = openssl_decode("seed-pkcs7.b64", &dlen);
	unsigned char		*cert, *enc, *p7;
	char			 path[1024], cmd[1400];
	struct est_reply	 r;
	struct coap_map_answer	 a;

	(void)state;
	/* The certificate as the openssl CLI prints it from the PKCS#7. */
	snprintf(cmd, sizeof(cmd), "openssl base64 -d -in '%s' | openssl "
	    "pkcs7 -inform DER -print_certs | openssl x509 -outform DER",
	    data_path("seed-pkcs7.b64", path, sizeof(path)));
	cert = run(cmd, &clen);
	reply_set(&r, 200, EST_CT_CERTS_ONLY, "base64", seed, slen);
	assert_int_equal(coap_map_answer(EST_OP_SIMPLEENROLL, EST_METHOD_POST,
	    COAP_CF_PKIX_CERT, &r, &a), 0);
	assert_int_equal(a.code, 204);
	assert_int_equal(a.content_format, COAP_CF_PKIX_CERT);
	assert_false(a.diagnostic);
	assert_int_equal(a.payload_len, clen);
	assert_memory_equal(a.payload, cert, clen);
	/* The certificate is a slice of the PKCS#7, not re-encoded. */
	assert_non_null(memmem(der, dlen, a.payload, a.payload_len));
	coap_map_answer_clear(&a);
	est_reply_clear(&r);

	for (i = 0; i <= 2; i += 2) {
		static const char *const why[] = {
			"CA answer as 287: no certificates", NULL,
			"CA answer as 287: more than one certificate",
		};

		p7 = p7_with((int)i, &len);
		assert_non_null(enc = (unsigned char *)b64_encode_lines(p7,
		    len, &len));
		reply_set(&r, 200, EST_CT_CERTS_ONLY, NULL, enc, len);
		assert_int_equal(coap_map_answer(EST_OP_CACERTS,
		    EST_METHOD_GET, COAP_CF_PKIX_CERT, &r, &a), 0);
		assert_diag(&a, 502, why[i]);
		/* As 281 the same answer is relayed whole. */
		coap_map_answer_clear(&a);
		assert_int_equal(coap_map_answer(EST_OP_CACERTS,
		    EST_METHOD_GET, COAP_CF_PKCS7_CERTS, &r, &a), 0);
		assert_int_equal(a.code, 205);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
		free(enc);
		OPENSSL_free(p7);
	}
	free(cert);
	free(der);
	free(seed);
}

static void
test_answer_csrattrs(void **state)
{
	/* A csrattrs of one OID, ecPublicKey (RFC 7030 §4.5.2). */
	static const unsigned char want[] = { 0x30, 0x09, 0x06, 0x07, 0x2a,
	    0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
	/* The CA's base64 body, and the code CoAP answers it with. */
	static const struct {
		const char	*body;
		size_t		 len;
		int		 code;
	} rows[] = {
		{ "MAkGByqGSM49AgE=\r\n", 18, 205 },
		/* libest's example server: the base64 and the NUL of a C
		 * string, counted in Content-Length. answer_check() passes
		 * it and HTTPS relays it; CoAP gets the same DER. */
		{ "MAkGByqGSM49AgE=\0", 17, 205 },
		/* A NUL inside the base64 is still no base64. */
		{ "MAkGByqG\0SM49AgE=", 17, 502 },
	};
	struct est_reply	r;
	struct coap_map_answer	a;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		reply_set(&r, 200, EST_CT_CSRATTRS, "base64", rows[i].body,
		    rows[i].len);
		assert_int_equal(coap_map_answer(EST_OP_CSRATTRS,
		    EST_METHOD_GET, COAP_CF_CSRATTRS, &r, &a), 0);
		assert_int_equal(a.code, rows[i].code);
		if (rows[i].code == 205) {
			assert_int_equal(a.content_format, COAP_CF_CSRATTRS);
			assert_int_equal(a.payload_len, sizeof(want));
			assert_memory_equal(a.payload, want, sizeof(want));
		} else
			assert_true(a.diagnostic);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
	/* 204: no attributes; an empty 2.05. */
	reply_set(&r, 204, NULL, NULL, NULL, 0);
	assert_int_equal(coap_map_answer(EST_OP_CSRATTRS, EST_METHOD_GET,
	    COAP_CF_CSRATTRS, &r, &a), 0);
	assert_int_equal(a.code, 205);
	assert_int_equal(a.content_format, COAP_CF_NONE);
	assert_null(a.payload);
	assert_int_equal(a.payload_len, 0);
	coap_map_answer_clear(&a);
	est_reply_clear(&r);
}

#define SKG_CT	"multipart/mixed; boundary=est"

/* A small serverkeygen answer: every byte of the multipart-core known. */
static void
test_answer_skg_bytes(void **state)
{
	static const char body[] =
	    "--est\r\n"
	    "Content-Type: application/pkcs8\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AAEC\r\n"
	    "--est\r\n"
	    "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "qrs=\r\n"
	    "--est--\r\n";
	/* [284, h'000102', 281, h'aabb'] */
	static const unsigned char want[] = { 0x84, 0x19, 0x01, 0x1c, 0x43,
	    0x00, 0x01, 0x02, 0x19, 0x01, 0x19, 0x42, 0xaa, 0xbb };
	struct est_reply	r;
	struct coap_map_answer	a;

	(void)state;
	reply_set(&r, 200, SKG_CT, NULL, body, sizeof(body) - 1);
	assert_int_equal(coap_map_answer(EST_OP_SERVERKEYGEN, EST_METHOD_POST,
	    COAP_CF_MULTIPART_CORE, &r, &a), 0);
	assert_int_equal(a.code, 204);
	assert_int_equal(a.content_format, COAP_CF_MULTIPART_CORE);
	assert_false(a.diagnostic);
	assert_int_equal(a.payload_len, sizeof(want));
	assert_memory_equal(a.payload, want, sizeof(want));
	coap_map_answer_clear(&a);
	est_reply_clear(&r);

	/* Binary parts: the CRLF before a delimiter is the delimiter's, the
	 * bytes before it the part's, "\r\n" and "--" inside them too. */
	{
		static const char bin[] =
		    "--est\r\n"
		    "Content-Type: application/pkcs8\r\n"
		    "Content-Transfer-Encoding: binary\r\n"
		    "\r\n"
		    "\x00\r\n--es\r\n"
		    "--est\r\n"
		    "Content-Type: application/pkcs7-mime\r\n"
		    "Content-Transfer-Encoding: BINARY\r\n"
		    "\r\n"
		    "\xaa\xbb\n\r\n"
		    "--est--";
		static const unsigned char want2[] = { 0x84, 0x19, 0x01, 0x1c,
		    0x47, 0x00, '\r', '\n', '-', '-', 'e', 's', 0x19, 0x01,
		    0x19, 0x43, 0xaa, 0xbb, '\n' };

		reply_set(&r, 200, SKG_CT, NULL, bin, sizeof(bin) - 1);
		assert_int_equal(coap_map_answer(EST_OP_SERVERKEYGEN,
		    EST_METHOD_GET, COAP_CF_MULTIPART_CORE, &r, &a), 0);
		assert_int_equal(a.code, 205);
		assert_int_equal(a.payload_len, sizeof(want2));
		assert_memory_equal(a.payload, want2, sizeof(want2));
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
}

/*
 * A real one: an EC key as PKCS#8 and the seed's PKCS#7, as RFC 7030
 * §4.4.2 lays it out (LF line ends, a quoted boundary, a preamble, the
 * certificate part first, an encrypted-key part as 280).
 */
static void
test_answer_skg_real(void **state)
{
	size_t			 slen, dlen, klen, blen;
	char			*seed = testdata_read("seed-pkcs7.b64", &slen);
	unsigned char		*der = openssl_decode("seed-pkcs7.b64", &dlen);
	unsigned char		*key = NULL, *want, *w;
	char			*kb64, *body;
	EVP_PKEY		*pkey = testpki_key_new("p256");
	PKCS8_PRIV_KEY_INFO	*p8;
	struct est_reply	 r;
	struct coap_map_answer	 a;
	int			 n;

	(void)state;
	assert_non_null(p8 = EVP_PKEY2PKCS8(pkey));
	assert_true((n = i2d_PKCS8_PRIV_KEY_INFO(p8, &key)) > 0);
	klen = (size_t)n;
	assert_true(klen < 256 && dlen >= 256 && dlen < 65536);
	assert_non_null(kb64 = b64_encode_lines(key, klen, NULL));
	blen = strlen(kb64) + slen + 512;
	assert_non_null(body = malloc(blen));
	snprintf(body, blen, "This is the preamble.\n"
	    "--a'b(c)+_,-./:=?\n"
	    "Content-Type: application/pkcs7-mime; smime-type=certs-only\n"
	    "Content-Transfer-Encoding: base64\n\n%s\n"
	    "--a'b(c)+_,-./:=?\n"
	    "Content-Type: application/pkcs8\n"
	    "Content-Transfer-Encoding: base64\n\n%s\n"
	    "--a'b(c)+_,-./:=?--  \nepilogue\n", seed, kb64);
	reply_set(&r, 200, "multipart/mixed ; boundary=\"a'b(c)+_,-./:=?\"",
	    NULL, body, strlen(body));
	assert_int_equal(coap_map_answer(EST_OP_SERVERKEYGEN, EST_METHOD_POST,
	    COAP_CF_MULTIPART_CORE, &r, &a), 0);
	/* [284, h'key', 281, h'p7'] */
	assert_non_null(want = w = malloc(klen + dlen + 16));
	memcpy(w, "\x84\x19\x01\x1c\x58", 5);
	w[5] = (unsigned char)klen;
	memcpy(w + 6, key, klen);
	w += 6 + klen;
	memcpy(w, "\x19\x01\x19\x59", 4);
	w[4] = (unsigned char)(dlen >> 8);
	w[5] = (unsigned char)dlen;
	memcpy(w + 6, der, dlen);
	w += 6 + dlen;
	assert_int_equal(a.code, 204);
	assert_int_equal(a.content_format, COAP_CF_MULTIPART_CORE);
	assert_int_equal(a.payload_len, (size_t)(w - want));
	assert_memory_equal(a.payload, want, a.payload_len);
	coap_map_answer_clear(&a);
	est_reply_clear(&r);

	/* The key encrypted to the client: 280 (RFC 9148 §4.8). */
	snprintf(body, blen, "--b\r\nContent-Type: application/pkcs7-mime; "
	    "smime-type=server-generated-key\r\n\r\nAAEC\r\n--b\r\n"
	    "Content-Type: application/pkcs7-mime\r\n\r\nqrs=\r\n--b--");
	reply_set(&r, 200, "multipart/mixed;boundary=b", NULL, body,
	    strlen(body));
	assert_int_equal(coap_map_answer(EST_OP_SERVERKEYGEN, EST_METHOD_POST,
	    COAP_CF_MULTIPART_CORE, &r, &a), 0);
	assert_int_equal(a.payload_len, 14);
	assert_memory_equal(a.payload, "\x84\x19\x01\x18\x43\x00\x01\x02"
	    "\x19\x01\x19\x42\xaa\xbb", 14);
	coap_map_answer_clear(&a);
	est_reply_clear(&r);

	free(want);
	free(body);
	free(kb64);
	OPENSSL_free(key);
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pkey);
	free(der);
	free(seed);
}

/* Malformed serverkeygen answers: each a 5.02 with its reason. */
static void
test_answer_skg_bad(void **state)
{
#define K	"Content-Type: application/pkcs8\r\n\r\nAAEC\r\n"
#define C	"Content-Type: application/pkcs7-mime\r\n\r\nqrs=\r\n"
	static const struct {
		const char	*ct, *body, *diag;
	} rows[] = {
		{ "multipart/mixed", "--est\r\n" K "--est\r\n" C "--est--",
		  "CA answer: serverkeygen answer is not multipart/mixed with "
		  "a boundary" },
		{ "multipart/mixed; boundary=\"est", "--est\r\n" K "--est\r\n"
		  C "--est--", "CA answer: serverkeygen answer is not "
		  "multipart/mixed with a boundary" },
		{ "multipart/mixed; boundary=\"\"", "--\r\n" K "--\r\n" C
		  "----", "CA answer: serverkeygen answer is not "
		  "multipart/mixed with a boundary" },
		{ "multipart/mixed; boundary="
		  "a234567890123456789012345678901234567890123456789012345678901"
		  "2345678901", "--x\r\n", "CA answer: serverkeygen answer is "
		  "not multipart/mixed with a boundary" },
		{ SKG_CT, "--est\r\n" K "--est\r\n" C,
		  "CA answer: multipart body without its close delimiter" },
		{ SKG_CT, "--est\r\n" K "--est--", "CA answer: serverkeygen "
		  "answer has not two parts" },
		{ SKG_CT, "--est--", "CA answer: serverkeygen answer has not "
		  "two parts" },
		{ SKG_CT, "--est\r\n" K "--est\r\n" C "--est\r\n" C "--est--",
		  "CA answer: more parts than serverkeygen has" },
		{ SKG_CT, "--est\r\n" K "--est\r\n" K "--est--", "CA answer: "
		  "serverkeygen parts are not a key and a certificate" },
		{ SKG_CT, "--est\r\n" C "--est\r\n" C "--est--", "CA answer: "
		  "serverkeygen parts are not a key and a certificate" },
		{ SKG_CT, "--est\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
		  "--est\r\n" C "--est--", "CA answer: serverkeygen parts are "
		  "not a key and a certificate" },
		{ SKG_CT, "--est\r\n" K "--est\r\nContent-Type: "
		  "application/pkcs7-mime\r\n--est--", "CA answer: a "
		  "serverkeygen part without headers" },
		{ SKG_CT, "--est\r\n" K "--est\r\nContent-Type: "
		  "application/pkcs7-mime\r\n\r\nq!s=\r\n--est--",
		  "CA answer: body is not base64" },
		{ SKG_CT, "--est\r\n" K "--est\r\nContent-Type: "
		  "application/pkcs7-mime\r\n\r\n\r\n--est--",
		  "CA answer: body is empty" },
		/* A boundary inside a line is no delimiter. */
		{ SKG_CT, "x--est\r\n" K "--estX\r\n" C "--est--", "CA "
		  "answer: serverkeygen answer has not two parts" },
		{ "application/pkcs7-mime", "--est\r\n" K "--est\r\n" C
		  "--est--", "CA answered Content-Type application/pkcs7-mime" },
	};
#undef K
#undef C
	struct est_reply	r;
	struct coap_map_answer	a;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		reply_set(&r, 200, rows[i].ct, NULL, rows[i].body,
		    strlen(rows[i].body));
		assert_int_equal(coap_map_answer(EST_OP_SERVERKEYGEN,
		    EST_METHOD_POST, COAP_CF_MULTIPART_CORE, &r, &a), 0);
		assert_diag(&a, 502, rows[i].diag);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
}

/* Errors, 202 and an undecodable body: code, Max-Age, diagnostic. */
static void
test_answer_errors(void **state)
{
	static const struct {
		enum est_op	 op;
		int		 status, nchallenges;
		const char	*ct, *retry, *reason, *body;
		int		 code;
		long		 max_age;
		const char	*diag;
	} rows[] = {
		{ EST_OP_SIMPLEENROLL, 202, 0, EST_CT_TEXT, "120", "", "",
		  503, 120, "enrollment queued at the CA: retry after 120 s" },
		{ EST_OP_SIMPLEENROLL, 202, 0, NULL, "", "", "", 503, -1,
		  "enrollment queued at the CA: retry after 60 s" },
		{ EST_OP_SIMPLEENROLL, 202, 0, EST_CT_TEXT, "300", "queued as "
		  "7 (pending): the CA is unreachable; retry after 300 s", "",
		  503, 300, "queued as 7 (pending): the CA is unreachable; "
		  "retry after 300 s" },
		{ EST_OP_SIMPLEENROLL, 503, 0, EST_CT_TEXT, "30",
		  "CA unreachable", "", 503, 30, "CA unreachable" },
		{ EST_OP_CACERTS, 503, 0, EST_CT_TEXT, "Wed, 21 Oct 2015",
		  "busy", "", 503, -1, "busy" },
		{ EST_OP_SIMPLEENROLL, 429, 0, EST_CT_TEXT, "7",
		  "rate limit for this client", "", 429, 7,
		  "rate limit for this client" },
		{ EST_OP_SIMPLEENROLL, 401, 2, EST_CT_TEXT, "", "credentials "
		  "required", "", 401, -1, "authentication required: over "
		  "CoAP, present a DTLS client certificate" },
		{ EST_OP_SIMPLEENROLL, 401, 0, EST_CT_TEXT, "", "",
		  "CA says no\nsecond line", 401, -1, "CA says no" },
		{ EST_OP_SIMPLEENROLL, 403, 0, EST_CT_TEXT, "", "policy: "
		  "subject CN 'evil' is not allowed (rule cn-pattern)", "",
		  403, -1, "policy: subject CN 'evil' is not allowed (rule "
		  "cn-pattern)" },
		{ EST_OP_SIMPLEENROLL, 413, 0, EST_CT_TEXT, "60", "CSR too "
		  "large", "", 413, -1, "CSR too large" },
		{ EST_OP_SIMPLEENROLL, 500, 0, EST_CT_TEXT, "", "internal "
		  "error", "", 500, -1, "internal error" },
		{ EST_OP_SIMPLEENROLL, 504, 0, EST_CT_TEXT, "", "CA timed "
		  "out", "", 504, -1, "CA timed out" },
		{ EST_OP_SIMPLEENROLL, 418, 0, EST_CT_TEXT, "", "teapot \x01"
		  "\xc3\xa9", "", 400, -1, "teapot ???" },
		{ EST_OP_SIMPLEENROLL, 200, 0, EST_CT_CERTS_ONLY, "", "",
		  "MII!", 502, -1, "CA answer: body is not base64" },
		{ EST_OP_SIMPLEENROLL, 200, 0, EST_CT_CERTS_ONLY, "", "",
		  " \r\n", 502, -1, "CA answer: body is empty" },
		{ EST_OP_SIMPLEENROLL, 200, 0, "text/html", "", "",
		  "<html>", 502, -1, "CA answered Content-Type text/html" },
		{ EST_OP_CSRATTRS, 200, 0, EST_CT_PKCS7, "", "", "MAA=",
		  502, -1, "CA answered Content-Type application/pkcs7-mime" },
		{ EST_OP_CACERTS, 200, 0, NULL, "", "", "MAA=", 502, -1,
		  "CA answered Content-Type (none)" },
	};
	struct est_reply	r;
	struct coap_map_answer	a;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(rows); i++) {
		reply_set(&r, rows[i].status, rows[i].ct, NULL, rows[i].body,
		    strlen(rows[i].body));
		snprintf(r.retry_after, sizeof(r.retry_after), "%s",
		    rows[i].retry);
		snprintf(r.reason, sizeof(r.reason), "%s", rows[i].reason);
		r.nchallenges = rows[i].nchallenges;
		assert_int_equal(coap_map_answer(rows[i].op, EST_METHOD_POST,
		    COAP_CF_PKCS7_CERTS, &r, &a), 0);
		if (a.max_age != rows[i].max_age)
			fail_msg("row %zu: Max-Age %ld", i, a.max_age);
		assert_diag(&a, rows[i].code, rows[i].diag);
		coap_map_answer_clear(&a);
		est_reply_clear(&r);
	}
	/* A reason longer than a diagnostic is cut to COAP_MAP_DIAG_MAX. */
	memset(&r, 0, sizeof(r));
	r.status = 403;
	memset(r.reason, 'r', sizeof(r.reason) - 1);
	assert_int_equal(coap_map_answer(EST_OP_SIMPLEENROLL, EST_METHOD_POST,
	    COAP_CF_PKCS7_CERTS, &r, &a), 0);
	assert_int_equal(a.code, 403);
	assert_int_equal(a.payload_len, COAP_MAP_DIAG_MAX);
	coap_map_answer_clear(&a);
	/* A 404 with neither reason nor body: no payload. */
	r.status = 404;
	r.reason[0] = '\0';
	assert_int_equal(coap_map_answer(EST_OP_CACERTS, EST_METHOD_GET,
	    COAP_CF_PKCS7_CERTS, &r, &a), 0);
	assert_int_equal(a.code, 404);
	assert_null(a.payload);
	assert_false(a.diagnostic);
	coap_map_answer_clear(&a);
	coap_map_answer_clear(NULL);
}

/* A CA answer that decodes to more than a CoAP answer carries: 5.02. */
static void
test_answer_too_large(void **state)
{
	size_t			 n = COAP_MAP_PAYLOAD_MAX + 1, len;
	unsigned char		*big = calloc(1, n);
	char			*enc;
	struct est_reply	 r;
	struct coap_map_answer	 a;

	(void)state;
	assert_non_null(big);
	assert_non_null(enc = b64_encode_lines(big, n, &len));
	reply_set(&r, 200, EST_CT_CERTS_ONLY, NULL, enc, len);
	assert_int_equal(coap_map_answer(EST_OP_CACERTS, EST_METHOD_GET,
	    COAP_CF_PKCS7_CERTS, &r, &a), 0);
	assert_diag(&a, 502, "CA answer: answer too large for CoAP");
	coap_map_answer_clear(&a);
	est_reply_clear(&r);
	reply_set(&r, 200, EST_CT_CERTS_ONLY, "binary", big, n);
	assert_int_equal(coap_map_answer(EST_OP_CACERTS, EST_METHOD_GET,
	    COAP_CF_PKCS7_CERTS, &r, &a), 0);
	assert_diag(&a, 502, "CA answer: answer too large for CoAP");
	coap_map_answer_clear(&a);
	est_reply_clear(&r);
	free(enc);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_request_format),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_request_body),
		cmocka_unit_test(test_code),
		cmocka_unit_test(test_code_text),
		cmocka_unit_test(test_answer_seed),
		cmocka_unit_test(test_answer_pkix_cert),
		cmocka_unit_test(test_answer_csrattrs),
		cmocka_unit_test(test_answer_skg_bytes),
		cmocka_unit_test(test_answer_skg_real),
		cmocka_unit_test(test_answer_skg_bad),
		cmocka_unit_test(test_answer_errors),
		cmocka_unit_test(test_answer_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
