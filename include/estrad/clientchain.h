/*
 * clientchain: completes client certificate chains from CA certificates
 * estrad already holds. Many devices (libest-based ones, Java key stores
 * holding a leaf) send only their leaf certificate; with a root-only
 * tls.client_ca the handshake would fail "unknown CA". The intermediates
 * are offered to chain building as untrusted certificates: the trust
 * anchors stay tls.client_ca alone, so nothing verifies that would not
 * have verified had the client sent its chain.
 */
#ifndef ESTRAD_CLIENTCHAIN_H
#define ESTRAD_CLIENTCHAIN_H

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "estrad/config.h"

/*
 * The CA certificates (basicConstraints CA, not self-signed) found in
 * tls.client_intermediates, the chain of tls.certificate, each local CA's
 * certificate and chain, and each upstream's client_certificate chain,
 * each once. NULL with a reason in err when a file does not load; an
 * empty stack when there are none. The caller frees (sk_X509_pop_free).
 */
STACK_OF(X509) *clientchain_collect(const struct config *cfg, char *err,
    size_t errlen);

/*
 * Make ssl's client verification use cfg's intermediates (collected as
 * above) and name them in the CertificateRequest's CA list after the
 * trust anchors' names (RFC 5246 §7.4.4, RFC 8446 §4.2.4), so clients
 * that pick a certificate by issuer offer their leaf. ssl owns the
 * stack from here. 0, or -1 after logging why.
 */
int clientchain_attach(SSL_CTX *ssl, const struct config *cfg);
/* The same with intermediates collected earlier (the DTLS listener's
 * SSL_CTX is libcoap's, first seen in a handshake: no files read then).
 * ssl owns extra from here, also on failure. */
int clientchain_attach_stack(SSL_CTX *ssl, STACK_OF(X509) *extra);

/*
 * Add x to ssl's intermediates (and its name to the CA list) if it is a
 * CA certificate, not self-signed, not there yet, and ssl verifies client
 * certificates at all. 1 if added, 0 if not wanted, -1 out of memory.
 */
int clientchain_add(SSL_CTX *ssl, X509 *x);

/*
 * The certificates of a cacerts body (base64 of a certs-only PKCS#7, as
 * RFC 8951 reads base64), or NULL if it is not one. The caller frees
 * (sk_X509_pop_free). The input is untrusted: it comes from the CA.
 */
STACK_OF(X509) *clientchain_cacerts(const unsigned char *body, size_t len);

#endif
