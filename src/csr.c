/*
 * csr: turns an enroll body into a parsed, self-verified PKCS#10 request.
 * It promises that every struct csr it hands out holds exactly the DER the
 * client sent (base64 aside, so the RA can forward it unchanged) and that
 * its signature verifies with its own public key: the proof of possession
 * of RFC 7030 §3.4. No I/O; failures are one of the reasons in csr.h and
 * leave the OpenSSL error queue empty.
 */
#include <limits.h>
#include <stdlib.h>

#include <openssl/err.h>
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

/* A key OpenSSL cannot use cannot prove possession either. */
static int
csr_self_signed(X509_REQ *req)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);

	return pub != NULL && X509_REQ_verify(req, pub) == 1;
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
	if (!csr_self_signed(csr->csr_req)) {
		*reason = "CSR signature does not verify";
		goto fail;
	}
	return csr;
fail:
	ERR_clear_error();
	csr_free(csr);
	return NULL;
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
