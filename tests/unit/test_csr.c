/*
 * test_csr: csr_parse_body accepts a well-formed PKCS#10 body in every
 * encoding RFC 8951 allows and csr_verify its self-signature; each names
 * the one reason for each way a body can be wrong, keys beyond the cost
 * ceiling included (refused by the parse, before any verification). Each
 * row builds a body, then checks the result.
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
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/csr.h"

#include "testdata.h"
#include "testpki.h"

#define SEED_CN	"demostep4 1368141352"

static char *
encode(const unsigned char *der, size_t len, size_t *outlen)
{
	char *s = b64_encode_lines(der, len, outlen);

	assert_non_null(s);
	return s;
}

/* encode(), then free der: the body builders' last step. */
static char *
encode_free(unsigned char *der, size_t len, size_t *outlen)
{
	char *s = encode(der, len, outlen);

	free(der);
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
	char *b64 = encode_free(der, derlen, &b64len);
	char *s = malloc(b64len + 128);

	assert_non_null(s);
	*len = (size_t)sprintf(s, "-----BEGIN CERTIFICATE REQUEST-----\r\n"
	    "%s-----END CERTIFICATE REQUEST-----\r\n", b64);
	free(b64);
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

	assert_non_null(req);
	X509_REQ_get0_signature(req, &sig, NULL);
	assert_true((size_t)sig->length < derlen);
	assert_memory_equal(der + derlen - (size_t)sig->length, sig->data,
	    (size_t)sig->length);
	X509_REQ_free(req);
	der[derlen - 10] ^= 0x08;
	return encode_free(der, derlen, len);
}

static char *
body_trailing_junk(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen), *more;

	more = realloc(der, derlen + 3);
	assert_non_null(more);
	memcpy(more + derlen, "\x05\x00\x00", 3);	/* even a whole NULL */
	return encode_free(more, derlen + 3, len);
}

static char *
body_truncated_der(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("seed-csr.b64", &derlen);

	return encode_free(der, derlen - 1, len);
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
	*keyp = testpki_key_new("p256");
	return testpki_csr(&(struct csr_spec){ .pkey = *keyp, .md = "SHA256",
	    .subject = "CN=device-42" });
}

static char *
body_ec_fresh(size_t *len)
{
	EVP_PKEY *key;
	X509_REQ *req = make_ec_req(&key);
	char *s = testpki_csr_b64(req, len);

	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return s;
}

/* P-256 with explicit curve parameters (ec_param_enc:explicit). */
static char *
body_ec_explicit(size_t *len)
{
	EVP_PKEY *key = testpki_key_new("p256x");
	X509_REQ *req = testpki_csr(&(struct csr_spec){ .pkey = key,
	    .md = "SHA256", .subject = "CN=device-42" });
	char *s = testpki_csr_b64(req, len);

	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return s;
}

/* An RSA public key from n (bits, random, odd) and e, no private half. */
static EVP_PKEY *
rsa_public(int bits, const char *e_hex)
{
	BIGNUM *n = BN_new(), *e = NULL;
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *p;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *key = NULL;

	assert_true(n != NULL && b != NULL && ctx != NULL);
	assert_true(BN_rand(n, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD));
	assert_true(BN_hex2bn(&e, e_hex) > 0);
	assert_true(OSSL_PARAM_BLD_push_BN(b, "n", n));
	assert_true(OSSL_PARAM_BLD_push_BN(b, "e", e));
	assert_non_null(p = OSSL_PARAM_BLD_to_param(b));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, p),
	    1);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return key;
}

/*
 * A request carrying pub (consumed), with the signature of another key:
 * what the ceiling refuses it refuses before any verification, so the
 * signature does not matter (and no private key of these sizes has to be
 * made). With resign, the other key signs the request again as it is.
 */
static char *
body_with_key(EVP_PKEY *pub, int resign, size_t *len)
{
	EVP_PKEY *key;
	X509_REQ *req = make_ec_req(&key);
	char *s;

	assert_non_null(pub);
	assert_true(X509_REQ_set_pubkey(req, pub));
	if (resign)
		assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	s = testpki_csr_b64(req, len);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	return s;
}

/* Signed by one key, carrying another: no proof of possession. */
static char *
body_ec_wrong_key(size_t *len)
{
	return body_with_key(EVP_EC_gen("P-256"), 1, len);
}

/* X25519 cannot sign at all. */
static char *
body_x25519(size_t *len)
{
	return body_with_key(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), 0, len);
}

/* A real CSR with a 10,000-bit DSA key (tests/data/README.md). */
static char *
body_dsa10000(size_t *len)
{
	return testdata_read("dsa10000-csr.b64", len);
}

/* The same with a signature byte flipped: refused the same way, so the
 * ceiling answered before anything verified the signature. */
static char *
body_dsa10000_flipped(size_t *len)
{
	size_t derlen;
	unsigned char *der = testdata_b64("dsa10000-csr.b64", &derlen);

	der[derlen - 5] ^= 0x01;
	return encode_free(der, derlen, len);
}

struct csr_case {
	const char	*name;
	char		*(*body)(size_t *);
	const char	*reason;	/* NULL: must parse and verify */
	const char	*cn;		/* expected subject CN when it parses */
	int		 parses;	/* the reason is csr_verify's */
	int		 rsa_bits;	/* body NULL: body_with_key(RSA key */
	const char	*rsa_e;		/* of these bits and exponent, hex) */
};

#define CSR_NOT_VERIFIED	"CSR signature does not verify"
#define CSR_ONLY_TYPES		"CSR key: only RSA, EC, Ed25519 and Ed448 " \
	"keys are accepted"
#define CSR_RSA_E	"CSR key: the RSA public exponent must be odd, from 3 " \
	"to 65537"

static const struct csr_case csr_cases[] = {
	{ "seed CSR as sent", body_seed, NULL, SEED_CN, 0, 0, NULL },
	{ "seed CSR in PEM armour", body_seed_pem, NULL, SEED_CN, 0, 0,
	    NULL },
	{ "fresh EC P-256 CSR", body_ec_fresh, NULL, "device-42", 0, 0, NULL },
	{ "signature bit flipped", body_sig_flipped, CSR_NOT_VERIFIED, NULL,
	    1, 0, NULL },
	{ "signed by another key", body_ec_wrong_key, CSR_NOT_VERIFIED, NULL,
	    1, 0, NULL },
	/* The cost ceiling, checked at parse time (before any verify). */
	{ "DSA 10000 bits", body_dsa10000, CSR_ONLY_TYPES, NULL, 0, 0, NULL },
	{ "DSA 10000 bits, signature flipped", body_dsa10000_flipped,
	    CSR_ONLY_TYPES, NULL, 0, 0, NULL },
	{ "X25519 key", body_x25519, CSR_ONLY_TYPES, NULL, 0, 0, NULL },
	{ "RSA 16392 bits", NULL, "CSR key: RSA keys longer than 16384 bits "
	    "are not accepted", NULL, 0, 16392, "10001" },
	/* At the ceiling: parsed, then its (borrowed) signature fails. */
	{ "RSA 16384 bits: parsed, then verified", NULL, CSR_NOT_VERIFIED,
	    NULL, 1, 16384, "10001" },
	{ "RSA even exponent", NULL, CSR_RSA_E, NULL, 0, 2048, "10000" },
	{ "RSA exponent 1", NULL, CSR_RSA_E, NULL, 0, 2048, "1" },
	{ "RSA exponent 65539", NULL, CSR_RSA_E, NULL, 0, 2048, "10003" },
	{ "RSA exponent 2^32+1", NULL, CSR_RSA_E, NULL, 0, 2048,
	    "100000001" },
	/* The dearest exponent allowed, at the largest modulus. */
	{ "RSA 16384 bits, exponent 0xffff", NULL, CSR_NOT_VERIFIED, NULL, 1,
	    16384, "ffff" },
	{ "RSA exponent 3", NULL, CSR_NOT_VERIFIED, NULL, 1, 2048, "3" },
	/* RFC 5480 §2.1.1; the policy refuses it first, csr_verify too. */
	{ "EC explicit parameters", body_ec_explicit, "CSR key: EC keys must "
	    "name their curve", NULL, 1, 0, NULL },
	{ "garbage base64", body_garbage, "body is not base64", NULL, 0, 0,
	    NULL },
	{ "base64 of non-DER", body_not_der, "not a PKCS#10 request", NULL,
	    0, 0, NULL },
	{ "DER with trailing junk", body_trailing_junk,
	    "not a PKCS#10 request", NULL, 0, 0, NULL },
	{ "DER cut short", body_truncated_der, "not a PKCS#10 request",
	    NULL, 0, 0, NULL },
	{ "empty body", body_empty, "body is empty", NULL, 0, 0, NULL },
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
	char *body = c->body != NULL ? c->body(&len) :
	    body_with_key(rsa_public(c->rsa_bits, c->rsa_e), 0, &len);
	struct csr *csr = csr_parse_body(body, len, &reason);

	if (c->reason != NULL && !c->parses) {
		assert_null(csr);
		assert_non_null(reason);
		assert_string_equal(reason, c->reason);
	} else if (c->reason != NULL) {
		assert_non_null(csr);
		assert_int_equal(csr_verify(csr, &reason), -1);
		assert_string_equal(reason, c->reason);
	} else {
		assert_non_null(csr);
		assert_int_equal(csr_verify(csr, &reason), 0);
		assert_non_null(csr->csr_der);
		assert_true(csr->csr_der_len > 0);
		check_cn(csr, c->cn);
	}
	assert_int_equal(ERR_peek_error(), 0);
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
	size_t n = NITEMS(csr_cases), i;
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
