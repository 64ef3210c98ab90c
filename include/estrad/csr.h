/*
 * csr: PKCS#10 requests as they arrive in simpleenroll, simplereenroll and
 * serverkeygen bodies. Decodes the body and parses the DER, refusing keys
 * beyond a fixed cost ceiling; verifies the self-signature (the proof of
 * possession, RFC 7030 §3.4) as a separate step, so the caller can run
 * cheaper refusals first. No I/O.
 *
 * The ceiling: RSA (and RSASSA-PSS) keys of at most CSR_RSA_MAX_BITS with
 * an odd public exponent 3 <= e <= CSR_RSA_MAX_E; EC keys; Ed25519; Ed448.
 * Nothing else (DSA, DH, X25519, ...). With EC keys limited to named
 * curves (which csr_verify enforces and the policy refuses first), the
 * dearest CSR to verify is a 16384-bit RSA one with e = 0xffff, about
 * 1 ms here (docs/performance.md); a 10,000-bit DSA one took 18 ms.
 */
#ifndef ESTRAD_CSR_H
#define ESTRAD_CSR_H

#include <stddef.h>
#include <openssl/x509.h>

struct csr {
	X509_REQ	*csr_req;	/* parsed request, owned */
	unsigned char	*csr_der;	/* decoded DER, owned */
	size_t		 csr_der_len;
};

#define CSR_RSA_MAX_BITS	16384
#define CSR_RSA_MAX_E		65537

/*
 * Parse an EST request body (base64 of DER, RFC 8951-lenient); does not
 * verify the signature. On success returns a new struct csr (free with
 * csr_free). On failure returns NULL and sets *reason to one of "body is
 * empty", "body is not base64", "not a PKCS#10 request", or a "CSR key:
 * ..." reason for a key beyond the ceiling.
 */
struct csr *csr_parse_body(const char *body, size_t len, const char **reason);

/*
 * The proof of possession: 0 when csr's signature verifies with its own
 * key; -1 with *reason "CSR signature does not verify" (or a "CSR key:"
 * reason for explicit EC parameters, which it does not try).
 */
int csr_verify(const struct csr *csr, const char **reason);

/*
 * 1 when req's key is id-ecPublicKey whose parameters are not a
 * namedCurve OID (explicit parameters or implicitCA: RFC 5480 §2.1.1
 * forbids both in certificates); 0 otherwise. Reads the DER of the
 * SubjectPublicKeyInfo, not OpenSSL's guess of a group name.
 */
int csr_key_explicit_ec(X509_REQ *req);
void csr_free(struct csr *csr);

#endif
