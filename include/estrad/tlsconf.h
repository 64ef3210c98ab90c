/*
 * tlsconf: the server's TLS protocol settings (suites, groups) from the
 * "tls" section, checked once for the config and applied to each new
 * SSL_CTX. Secure by default and by construction: TLS 1.2 suites must be
 * ECDHE with an AEAD cipher; TLS 1.3 suites are all AEAD.
 */
#ifndef ESTRAD_TLSCONF_H
#define ESTRAD_TLSCONF_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "estrad/config.h"

/* TLS 1.2 suites when "tls.ciphers" is not set: ECDHE and AEAD only. */
#define TLSCONF_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/*
 * Set tls's ciphers, ciphersuites and groups (OpenSSL's defaults for
 * those not given, the list above for ciphers) on ssl. 0, or -1 with
 * *key the offending key ("ciphers", "ciphersuites", "groups") and a
 * one-line reason in err.
 */
int tlsconf_apply(SSL_CTX *ssl, const struct cfg_tls *tls, const char **key,
    char *err, size_t errlen);

#endif
