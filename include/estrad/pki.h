/*
 * pki: loading certificates and keys from files, with errors an operator
 * can act on (the file, and OpenSSL's reason). Used by config validation
 * and by the modules that hold the loaded objects. Blocking file reads:
 * start-up and reload only, never on the request path.
 */
#ifndef ESTRAD_PKI_H
#define ESTRAD_PKI_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * Read every PEM certificate in path, in file order. Returns a new stack
 * (caller frees with sk_X509_pop_free(.., X509_free)) holding at least one
 * certificate, or NULL with a one-line reason in err.
 */
STACK_OF(X509) *pki_load_certs(const char *path, char *err, size_t errlen);

/* Read every PEM CRL in path (at least one), or NULL with a reason. */
STACK_OF(X509_CRL) *pki_load_crls(const char *path, char *err,
    size_t errlen);

/* Read a PEM private key (unencrypted). NULL with a reason in err. */
EVP_PKEY *pki_load_key(const char *path, char *err, size_t errlen);

/*
 * Read a whole file into a malloc'd buffer (caller frees; wipe it first
 * if it holds a key). Returns 0, or -1 with a reason in err.
 */
int pki_read_file(const char *path, unsigned char **out, size_t *outlen,
    char *err, size_t errlen);

/* name in RFC 2253 form into out (cut to fit). 0, or -1 and "". */
int pki_name_text(const X509_NAME *name, char *out, size_t outlen);

/* 1 if key is the private half of cert's public key, else 0. */
int pki_key_matches_cert(EVP_PKEY *key, X509 *cert);

/*
 * Whether cert can serve as a TLS client certificate, as a CA checking
 * its purpose sees it: an extendedKeyUsage, if present, must hold
 * clientAuth or id-kp-cmcRA (RFC 7030 §3.7, RFC 6402 §2.10); a keyUsage,
 * if present, digitalSignature (the client signs the handshake, RFC 8446
 * §4.4.3, RFC 5246 §7.4.8). No extension: any purpose (RFC 5280
 * §4.2.1.12). 0, or -1 with what is wrong in why ("has extendedKeyUsage
 * serverAuth only; ..."), to follow the file's name.
 */
int pki_tls_client_check(X509 *cert, char *why, size_t whylen);

/* 1 if cert's extendedKeyUsage (or the decoded eku) holds id-kp-cmcRA
 * (an RA's, RFC 6402 §2.10), else 0. */
int pki_cert_has_cmc_ra(X509 *cert);
int pki_eku_has_cmc_ra(const EXTENDED_KEY_USAGE *eku);

#endif
