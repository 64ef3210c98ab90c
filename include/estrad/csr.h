/*
 * csr: PKCS#10 requests as they arrive in simpleenroll, simplereenroll and
 * serverkeygen bodies. Decodes the body, parses the DER and verifies the
 * self-signature (the proof of possession, RFC 7030 §3.4). No I/O.
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

/*
 * Parse an EST request body (base64 of DER, RFC 8951-lenient). On success
 * returns a new struct csr (free with csr_free). On failure returns NULL
 * and sets *reason to one of "body is empty", "body is not base64",
 * "not a PKCS#10 request", "CSR signature does not verify".
 */
struct csr *csr_parse_body(const char *body, size_t len, const char **reason);
void csr_free(struct csr *csr);

#endif
