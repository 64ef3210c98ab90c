/*
 * answer_check: a CA's 200 is relayed only if it is what the operation
 * returns. Table: the seed exchange's certs-only PKCS#7 (valid, with and
 * without the smime-type parameter, for cacerts and the enroll
 * operations; in BER with an indefinite length too), wrong and missing
 * Content-Types, bodies that are not
 * base64, empty or cut short, a PKCS#7 with signers, one without
 * certificates, bytes after the DER, csrattrs SEQUENCEs good and bad, and
 * what is not checked (other statuses, serverkeygen, fullcmc). A second
 * table: NUL bytes at the end of a body (passed) and elsewhere (refused).
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

#include "estrad/answer.h"
#include "estrad/b64.h"
#include "estrad/p7.h"

#include "testdata.h"
#include "testpki.h"

/* base64 (64-column lines) of der, or of der with extra bytes after it. */
static char *
b64_of(const unsigned char *der, size_t len, const char *extra)
{
	size_t		 xlen = extra ? strlen(extra) : 0, outlen;
	unsigned char	*buf = malloc(len + xlen + 1);
	char		*b64;

	assert_non_null(buf);
	memcpy(buf, der, len);
	if (xlen)
		memcpy(buf + len, extra, xlen);
	b64 = b64_encode_lines(buf, len + xlen, &outlen);
	assert_non_null(b64);
	free(buf);
	return b64;
}

/* A self-signed P-256 certificate and its key. */
static X509 *
make_cert(EVP_PKEY **keyp)
{
	*keyp = testpki_key_new("p256");
	return testpki_cert(&(struct cert_spec){ .pkey = *keyp,
	    .subject = "CN=answer test", .serial = 7 });
}

/* DER of a PKCS#7: certs-only with ncerts copies of x, or signed data. */
static unsigned char *
make_p7(X509 *x, EVP_PKEY *key, int ncerts, int signed_data, int *len)
{
	PKCS7		*p7;
	unsigned char	*der = NULL;

	if (signed_data) {
		BIO *data = BIO_new_mem_buf("hello", 5);

		p7 = PKCS7_sign(x, key, NULL, data, PKCS7_BINARY);
		BIO_free(data);
	} else {
		X509 *copies[] = { x, x, x };

		assert_true(ncerts <= (int)NITEMS(copies));
		return testpki_certs_only(copies, ncerts, len);
	}
	assert_non_null(p7);
	*len = i2d_PKCS7(p7, &der);
	assert_true(*len > 0);
	PKCS7_free(p7);
	return der;
}

struct row {
	const char	*name;
	enum est_op	 op;
	long		 status;
	const char	*ctype;
	const char	*body;
	int		 want;		/* 0 or -1 */
	const char	*why;		/* a part of the reason, or NULL */
};

static void
check_rows(const struct row *rows, size_t n)
{
	char why[256];

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		int rc;

		print_message("row: %s\n", r->name);
		why[0] = '\0';
		rc = answer_check(r->op, r->status, r->ctype,
		    (const unsigned char *)r->body, strlen(r->body), why,
		    sizeof(why));
		if (rc != r->want)
			fail_msg("%s: %d (%s), expected %d", r->name, rc, why,
			    r->want);
		if (r->why != NULL && strstr(why, r->why) == NULL)
			fail_msg("%s: reason '%s' lacks '%s'", r->name, why,
			    r->why);
	}
}

/*
 * The seed answer in BER: its outer SEQUENCE with an indefinite length
 * (CMS is BER, RFC 5652; some CAs send it so). base64, 64 columns.
 */
static char *
seed_ber_b64(const char *seed, size_t slen)
{
	unsigned char	*der = NULL, *ber;
	size_t		 dlen = 0;
	const char	*reason;
	char		*b64;

	assert_int_equal(b64_decode_lenient(seed, slen, &der, &dlen, &reason),
	    0);
	/* 30 82 hi lo: a definite length in two bytes. */
	assert_true(dlen > 4 && der[0] == 0x30 && der[1] == 0x82);
	assert_non_null(ber = malloc(dlen + 2));
	ber[0] = 0x30;
	ber[1] = 0x80;
	memcpy(ber + 2, der + 4, dlen - 4);
	ber[dlen - 2] = 0x00;
	ber[dlen - 1] = 0x00;
	b64 = b64_of(ber, dlen, NULL);
	free(ber);
	free(der);
	return b64;
}

static void
test_table(void **state)
{
	size_t		 slen;
	char		*seed = testdata_read("seed-pkcs7.b64", &slen);
	char		*half = strndup(seed, slen / 2);
	EVP_PKEY	*key;
	X509		*x = make_cert(&key);
	int		 len;
	unsigned char	*der;
	char		*signed_b64, *none_b64, *chain_b64, *trail_b64;
	char		*ber_b64 = seed_ber_b64(seed, slen);
	const char	*P7 = "application/pkcs7-mime";
	const char	*P7CO = "application/pkcs7-mime; smime-type=certs-only";

	(void)state;
	der = make_p7(x, key, 0, 1, &len);
	signed_b64 = b64_of(der, (size_t)len, NULL);
	OPENSSL_free(der);
	der = make_p7(x, key, 0, 0, &len);
	none_b64 = b64_of(der, (size_t)len, NULL);
	OPENSSL_free(der);
	der = make_p7(x, key, 2, 0, &len);
	chain_b64 = b64_of(der, (size_t)len, NULL);
	trail_b64 = b64_of(der, (size_t)len, "\x05\x00");
	OPENSSL_free(der);
	{
		const struct row rows[] = {
		{ "seed cacerts", EST_OP_CACERTS, 200, P7, seed, 0, NULL },
		{ "seed simpleenroll, smime-type", EST_OP_SIMPLEENROLL, 200,
		  P7CO, seed, 0, NULL },
		{ "type in capitals", EST_OP_SIMPLEREENROLL, 200,
		  "Application/PKCS7-MIME", seed, 0, NULL },
		{ "a chain of two", EST_OP_SIMPLEENROLL, 200, P7, chain_b64, 0,
		  NULL },
		{ "BER, an indefinite length", EST_OP_SIMPLEENROLL, 200, P7,
		  ber_b64, 0, NULL },
		{ "text/html", EST_OP_SIMPLEENROLL, 200, "text/html", seed, -1,
		  "Content-Type text/html, not application/pkcs7-mime" },
		{ "no Content-Type", EST_OP_CACERTS, 200, NULL, seed, -1,
		  "Content-Type missing" },
		{ "pkcs7-mimeX", EST_OP_CACERTS, 200,
		  "application/pkcs7-mimeX", seed, -1, "Content-Type" },
		/* fuzz_answer: a CR inside the CA's header line (curl splits
		 * lines at LF only) and binary bytes stay out of the reason,
		 * which is logged as one line. */
		{ "a CR and binary in the type", EST_OP_CACERTS, 200,
		  "application/pkcs7\r\x86H\\-mime", seed, -1,
		  "Content-Type application/pkcs7\\x0d\\x86H\\x5c-mime, "
		  "not application/pkcs7-mime" },
		{ "an HTML page", EST_OP_SIMPLEENROLL, 200, P7,
		  "<html><body>Login</body></html>", -1, "not base64" },
		{ "empty", EST_OP_SIMPLEENROLL, 200, P7, "", -1, "empty" },
		{ "cut in half", EST_OP_SIMPLEENROLL, 200, P7, half, -1, NULL },
		{ "signed data", EST_OP_SIMPLEENROLL, 200, P7, signed_b64, -1,
		  "not certs-only" },
		{ "no certificates", EST_OP_CACERTS, 200, P7, none_b64, -1,
		  "no certificates" },
		{ "bytes after the DER", EST_OP_CACERTS, 200, P7, trail_b64,
		  -1, "bytes after the ContentInfo" },
		{ "csrattrs SEQUENCE", EST_OP_CSRATTRS, 200,
		  "application/csrattrs", "MAA=", 0, NULL },
		{ "csrattrs SET", EST_OP_CSRATTRS, 200,
		  "application/csrattrs", "MQA=", -1, "not a DER SEQUENCE" },
		{ "csrattrs with a trailing byte", EST_OP_CSRATTRS, 200,
		  "application/csrattrs", "MAAF", -1, "not a DER SEQUENCE" },
		{ "csrattrs as pkcs7", EST_OP_CSRATTRS, 200, P7, seed, -1,
		  "not application/csrattrs" },
		{ "202 is not checked", EST_OP_SIMPLEENROLL, 202, "text/plain",
		  "later", 0, NULL },
		{ "a 400 is not checked", EST_OP_SIMPLEENROLL, 400,
		  "text/plain", "bad CSR", 0, NULL },
		{ "serverkeygen is not checked", EST_OP_SERVERKEYGEN, 200,
		  "multipart/mixed; boundary=x", "--x--", 0, NULL },
		{ "fullcmc is not checked", EST_OP_FULLCMC, 200,
		  "application/pkcs7-mime; smime-type=CMC-response", "AAAA",
		  0, NULL },
		};

		check_rows(rows, NITEMS(rows));
	}
	free(ber_b64);
	free(signed_b64);
	free(none_b64);
	free(chain_b64);
	free(trail_b64);
	free(half);
	free(seed);
	X509_free(x);
	EVP_PKEY_free(key);
}

/*
 * Bodies with NUL bytes, by length: what follows the base64 and carries
 * nothing (trailing NULs and whitespace; libest's example server sends 56
 * characters and a NUL, Content-Length 57) passes; a NUL anywhere else is
 * refused, and so is what is no csrattrs once trimmed.
 */
struct nul_row {
	const char	*name;
	enum est_op	 op;
	const char	*body;
	size_t		 len;
	int		 want;
	const char	*why;		/* a part of the reason, or NULL */
};

#define LIBEST_ATTRS \
	"MCYGBysGAQEBARYGCSqGSIb3DQEJAQYFK4EEACIGCWCGSAFlAwQCAg=="

static void
test_trailing_nul(void **state)
{
	size_t		 slen;
	char		*seed = testdata_read("seed-pkcs7.b64", &slen);
	char		*seed_nul = malloc(slen + 2);
	char		 why[256];

	(void)state;
	assert_non_null(seed_nul);
	memcpy(seed_nul, seed, slen);
	memcpy(seed_nul + slen, "\0\n", 2);
	{
		const struct nul_row rows[] = {
		{ "libest's csrattrs and its NUL", EST_OP_CSRATTRS,
		  LIBEST_ATTRS "\0", 57, 0, NULL },
		{ "CRLF and NULs at the end", EST_OP_CSRATTRS, "MAA=\r\n\0\0",
		  8, 0, NULL },
		{ "a NUL, then a newline", EST_OP_CSRATTRS, "MAA=\0\n", 6, 0,
		  NULL },
		{ "a NUL inside", EST_OP_CSRATTRS, "MA\0A=", 5, -1,
		  "not base64" },
		{ "base64 after a NUL", EST_OP_CSRATTRS, "MAA=\0MAA=", 9, -1,
		  "not base64" },
		{ "NULs only", EST_OP_CSRATTRS, "\0\0", 2, -1, "empty" },
		{ "a SET and a NUL", EST_OP_CSRATTRS, "MQA=\0", 5, -1,
		  "not a DER SEQUENCE" },
		{ "cacerts, a NUL and a newline", EST_OP_CACERTS, seed_nul,
		  slen + 2, 0, NULL },
		};

		for (size_t i = 0; i < NITEMS(rows); i++) {
			const struct nul_row *r = &rows[i];
			int rc;

			print_message("row: %s\n", r->name);
			why[0] = '\0';
			rc = answer_check(r->op, 200, r->op == EST_OP_CSRATTRS ?
			    "application/csrattrs" : "application/pkcs7-mime",
			    (const unsigned char *)r->body, r->len, why,
			    sizeof(why));
			if (rc != r->want)
				fail_msg("%s: %d (%s), expected %d", r->name,
				    rc, why, r->want);
			if (r->why != NULL && strstr(why, r->why) == NULL)
				fail_msg("%s: reason '%s' lacks '%s'", r->name,
				    why, r->why);
		}
	}
	free(seed_nul);
	free(seed);
}

/* p7_certs_only counts the certificates. */
static void
test_count(void **state)
{
	EVP_PKEY	*key;
	X509		*x = make_cert(&key);
	int		 len, n;
	unsigned char	*der = make_p7(x, key, 3, 0, &len);
	const char	*why = NULL;

	(void)state;
	assert_int_equal(p7_certs_only(der, (size_t)len, &n, &why), 0);
	assert_int_equal(n, 3);
	/* One byte short: refused, never read past the end (ASan). */
	assert_int_equal(p7_certs_only(der, (size_t)len - 1, &n, &why), -1);
	assert_non_null(why);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_trailing_nul),
		cmocka_unit_test(test_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
