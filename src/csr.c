/*
 * csr: turns an enroll body into a parsed PKCS#10 request, and checks its
 * signature with its own public key: the proof of possession of RFC 7030
 * §3.4. It promises that every struct csr it hands out holds exactly the
 * DER the client sent (base64 aside, so the RA can forward it unchanged)
 * and a key whose verification costs at most a known bound (below), so
 * that csr_verify, which runs on the event loop, cannot be made slow by
 * the client's choice of key. Parsing does not verify: the caller runs the
 * cheap policy rules in between, so a key the policy refuses costs no
 * verification at all. No I/O; failures are one of the reasons in csr.h
 * and leave the OpenSSL error queue empty.
 */
#include <limits.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/csr.h"

/*
 * The DER must be one PKCS#10 request and nothing else: trailing bytes
 * would be forwarded to the CA without anyone having looked at them.
 */
static X509_REQ *
csr_parse_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req;

	if (len > LONG_MAX)
		return NULL;
	if ((req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL)
		return NULL;
	if (p != der + len) {
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

int
csr_key_explicit_ec(X509_REQ *req)
{
	X509_PUBKEY		*spki = X509_REQ_get_X509_PUBKEY(req);
	const ASN1_OBJECT	*alg;
	X509_ALGOR		*algor;
	int			 ptype;

	if (spki == NULL || !X509_PUBKEY_get0_param(NULL, NULL, NULL, &algor,
	    spki))
		return 0;
	X509_ALGOR_get0(&alg, &ptype, NULL, algor);
	/* RFC 5480 §2.1.1: ECParameters is namedCurve, an OID; the SEQUENCE
	 * of specifiedCurve and the NULL of implicitCA MUST NOT be used. */
	return OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey &&
	    ptype != V_ASN1_OBJECT;
}

/*
 * The RSA bounds (csr.h). OpenSSL itself refuses moduli above 16384 bits
 * and, above 3072, exponents above 64 bits; below 3072 it takes any
 * exponent, and a 3072-bit one makes a public operation as slow as a
 * private one (7 ms here). Real keys use 3, 17 or 65537 (FIPS 186-4's
 * floor): a larger exponent buys nothing but verification time (a 32-bit
 * one costs 2.3 times 65537's at 16384 bits).
 */
static const char *
csr_rsa_bounded(const EVP_PKEY *pk)
{
	BIGNUM		*e = NULL;
	const char	*why = NULL;

	if (EVP_PKEY_get_bits(pk) > CSR_RSA_MAX_BITS)
		why = "CSR key: RSA keys longer than 16384 bits are not "
		    "accepted";
	else if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !BN_is_odd(e) || BN_is_one(e) || BN_get_word(e) > CSR_RSA_MAX_E)
		why = "CSR key: the RSA public exponent must be odd, from 3 "
		    "to 65537";
	BN_free(e);
	return why;
}

/*
 * The ceiling on what one verification may cost, whatever the policy:
 * the key types a policy can accept, RSA within bounds. DSA in particular
 * is refused here (no policy accepts it, and a 10,000-bit p, which OpenSSL
 * takes, costs 18 ms per verification); so are keys that cannot sign.
 */
static const char *
csr_key_bounded(X509_REQ *req)
{
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);

	if (pk == NULL)
		return "CSR key: the public key does not decode";
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return csr_rsa_bounded(pk);
	case EVP_PKEY_EC:
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	default:
		return "CSR key: only RSA, EC, Ed25519 and Ed448 keys are "
		    "accepted";
	}
}

struct csr *
csr_parse_body(const char *body, size_t len, const char **reason)
{
	struct csr *csr;

	if ((csr = calloc(1, sizeof(*csr))) == NULL) {
		*reason = "out of memory";
		return NULL;
	}
	if (b64_decode_lenient(body, len, &csr->csr_der, &csr->csr_der_len,
	    reason) == -1)
		goto fail;
	if ((csr->csr_req = csr_parse_der(csr->csr_der,
	    csr->csr_der_len)) == NULL) {
		*reason = "not a PKCS#10 request";
		goto fail;
	}
	if ((*reason = csr_key_bounded(csr->csr_req)) != NULL)
		goto fail;
	ERR_clear_error();
	return csr;
fail:
	ERR_clear_error();
	csr_free(csr);
	return NULL;
}

/* A key OpenSSL cannot use cannot prove possession either. */
int
csr_verify(const struct csr *csr, const char **reason)
{
	EVP_PKEY	*pub = X509_REQ_get0_pubkey(csr->csr_req);
	int		 ok;

	/* The policy refuses these first (key.ec_curve); checked here too
	 * so the bound holds for any caller. */
	if (csr_key_explicit_ec(csr->csr_req)) {
		*reason = "CSR key: EC keys must name their curve";
		return -1;
	}
	ok = pub != NULL && X509_REQ_verify(csr->csr_req, pub) == 1;
	ERR_clear_error();
	if (!ok) {
		*reason = "CSR signature does not verify";
		return -1;
	}
	return 0;
}

void
csr_free(struct csr *csr)
{
	if (csr == NULL)
		return;
	X509_REQ_free(csr->csr_req);
	free(csr->csr_der);
	free(csr);
}
