/*
 * chanbind: channel binding for EST (RFC 7030 §3.5). The value a client
 * puts in its CSR's challengePassword to tie the CSR to its TLS session:
 * base64 of tls-unique (RFC 5929: the first Finished message of the
 * latest full handshake) on TLS 1.2, base64 of tls-exporter (RFC 9266:
 * 32 bytes exported with label "EXPORTER-Channel-Binding" and an empty
 * context) on TLS 1.3. Pure: reads only the SSL object it is given.
 */
#ifndef ESTRAD_CHANBIND_H
#define ESTRAD_CHANBIND_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define CHANBIND_MAX	64	/* base64 of 32 bytes is 44, plus NUL */

/*
 * The binding of ssl's session, as base64, from the server's side (works
 * for either side: the roles are read from ssl). Returns 0, or -1 when the
 * session has none (no handshake, a protocol without either binding).
 */
int chanbind_value(SSL *ssl, char *out, size_t outlen);

/*
 * The challengePassword attribute of csr as text (PrintableString or
 * UTF8String), into out. Returns 1 if present, 0 if absent, -1 if
 * present but malformed (not a string, several values, too long).
 */
int chanbind_csr_password(X509_REQ *csr, char *out, size_t outlen);

#endif
