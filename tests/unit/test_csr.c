/*
 * test_csr: csr_parse_body accepts a well-formed, self-signed PKCS#10 body
 * in every encoding RFC 8951 allows, and names the one reason for each
 * way a body can be wrong. Each row builds a body, then checks the result.
 * The seed CSR (RFC 7030's example, an RSA/SHA-1 request) is read from
 * $ESTRAD_TEST_DATA/seed-csr.b64, copied verbatim from the seed exchange.
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
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/csr.h"

#include "testdata.h"

#define SEED_CN	"demostep4 1368141352"

static char *
encode(const unsigned char *der, size_t len, size_t *outlen)
{
	char *s = b64_encode_lines(der, len, outlen);

	assert_non_null(s);
	return s;
}

/* Body builders: each returns a malloc'd body and its length. */

static char *
body_seed(size_t *len)
{
	return testdata_read("seed-csr.b64", len);
}

static char *
body_seed_pem(size_t *len)
{
	size_t derlen, b64len;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen);
	char *b64 = encode(der, derlen, &b64len);
	char *s = malloc(b64len + 128);

	assert_non_null(s);
	*len = (size_t)sprintf(s, "-----BEGIN CERTIFICATE REQUEST-----\r\n"
	    "%s-----END CERTIFICATE REQUEST-----\r\n", b64);
	free(b64);
	free(der);
	return s;
}

/*
 * Flip one bit of the signature. signatureValue is the last field of the
 * request, so its bytes end the DER; check that before flipping.
 */
static char *
body_sig_flipped(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen);
	const unsigned char *p = der;
	const ASN1_BIT_STRING *sig = NULL;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)derlen);
	char *s;

	assert_non_null(req);
	X509_REQ_get0_signature(req, &sig, NULL);
	assert_true((size_t)sig->length < derlen);
	assert_memory_equal(der + derlen - (size_t)sig->length, sig->data,
	    (size_t)sig->length);
	X509_REQ_free(req);
	der[derlen - 10] ^= 0x08;
	s = encode(der, derlen, len);
	free(der);
	return s;
}

static char *
body_trailing_junk(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen), *more;
	char *s;

	more = realloc(der, derlen + 3);
	assert_non_null(more);
	memcpy(more + derlen, "\x05\x00\x00", 3);	/* even a whole NULL */
	s = encode(more, derlen + 3, len);
	free(more);
	return s;
}

static char *
body_truncated_der(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen);
	char *s = encode(der, derlen - 1, len);

	free(der);
	return s;
}

static char *
body_garbage(size_t *len)
{
	*len = strlen("MIIC*garbage*");
	return strdup("MIIC*garbage*");
}

static char *
body_not_der(size_t *len)
{
	static const char text[] = "this is not DER at all";

	return encode((const unsigned char *)text, sizeof(text) - 1, len);
}

static char *
body_empty(size_t *len)
{
	*len = 2;
	return strdup("\r\n");
}

/* A fresh EC P-256 request, made with OpenSSL's API. */
static X509_REQ *
make_ec_req(EVP_PKEY **keyp)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_REQ_get_subject_name(req);

	assert_non_null(key);
	assert_non_null(req);
	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"device-42", -1, -1, 0));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	*keyp = key;
	return req;
}

static char *
body_ec_fresh(size_t *len)
{
	EVP_PKEY *key;
	X509_REQ *req = make_ec_req(&key);
	unsigned char *der = NULL;
	int derlen = i2d_X509_REQ(req, &der);
	char *s;

	assert_true(derlen > 0);
	s = encode(der, (size_t)derlen, len);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return s;
}

/* Signed by one key, carrying another: no proof of possession. */
static char *
body_ec_wrong_key(size_t *len)
{
	EVP_PKEY *key, *other = EVP_EC_gen("P-256");
	X509_REQ *req = make_ec_req(&key);
	unsigned char *der = NULL;
	int derlen;
	char *s;

	assert_non_null(other);
	assert_true(X509_REQ_set_pubkey(req, other));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	derlen = i2d_X509_REQ(req, &der);
	assert_true(derlen > 0);
	s = encode(der, (size_t)derlen, len);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return s;
}

struct csr_case {
	const char	*name;
	char		*(*body)(size_t *);
	const char	*reason;	/* NULL: must parse and verify */
	const char	*cn;		/* expected subject CN when it parses */
};

static const struct csr_case csr_cases[] = {
	{ "seed CSR as sent", body_seed, NULL, SEED_CN },
	{ "seed CSR in PEM armour", body_seed_pem, NULL, SEED_CN },
	{ "fresh EC P-256 CSR", body_ec_fresh, NULL, "device-42" },
	{ "signature bit flipped", body_sig_flipped,
	    "CSR signature does not verify", NULL },
	{ "signed by another key", body_ec_wrong_key,
	    "CSR signature does not verify", NULL },
	{ "garbage base64", body_garbage, "body is not base64", NULL },
	{ "base64 of non-DER", body_not_der, "not a PKCS#10 request", NULL },
	{ "DER with trailing junk", body_trailing_junk,
	    "not a PKCS#10 request", NULL },
	{ "DER cut short", body_truncated_der, "not a PKCS#10 request",
	    NULL },
	{ "empty body", body_empty, "body is empty", NULL },
};

static void
check_cn(const struct csr *csr, const char *cn)
{
	char buf[256];
	X509_NAME *name = X509_REQ_get_subject_name(csr->csr_req);

	assert_true(X509_NAME_get_text_by_NID(name, NID_commonName, buf,
	    sizeof(buf)) > 0);
	assert_string_equal(buf, cn);
}

static void
test_csr_case(void **state)
{
	const struct csr_case *c = *state;
	const char *reason = NULL;
	size_t len;
	char *body = c->body(&len);
	struct csr *csr = csr_parse_body(body, len, &reason);

	if (c->reason != NULL) {
		assert_null(csr);
		assert_non_null(reason);
		assert_string_equal(reason, c->reason);
	} else {
		assert_non_null(csr);
		assert_non_null(csr->csr_der);
		assert_true(csr->csr_der_len > 0);
		check_cn(csr, c->cn);
	}
	csr_free(csr);
	free(body);
}

/* The DER kept is exactly the bytes the client sent (to forward as is). */
static void
test_der_kept(void **state)
{
	size_t derlen, len;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen);
	char *body = body_seed(&len);
	const char *reason = NULL;
	struct csr *csr = csr_parse_body(body, len, &reason);

	assert_non_null(csr);
	assert_int_equal(csr->csr_der_len, derlen);
	assert_memory_equal(csr->csr_der, der, derlen);
	csr_free(csr);
	csr_free(NULL);
	free(body);
	free(der);
}

int
main(void)
{
	size_t n = sizeof(csr_cases) / sizeof(csr_cases[0]), i;
	struct CMUnitTest *t = calloc(n + 1, sizeof(*t));
	int rc;

	if (t == NULL)
		return 1;
	for (i = 0; i < n; i++)
		t[i] = (struct CMUnitTest){ csr_cases[i].name, test_csr_case,
		    NULL, NULL, (void *)&csr_cases[i] };
	t[n] = (struct CMUnitTest){ "DER kept byte for byte", test_der_kept,
	    NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("csr", t, n + 1, NULL, NULL);
	free(t);
	return rc;
}
