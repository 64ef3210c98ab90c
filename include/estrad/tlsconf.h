/*
 * tlsconf: the server's TLS protocol settings (suites, groups) from the
 * "tls" section, checked once for the config and applied to each new
 * SSL_CTX (the admin listener's takes the defaults). Secure by default and
 * by construction: TLS 1.2 suites must be ECDHE with an AEAD cipher; TLS
 * 1.3 suites are all AEAD; key exchange is on elliptic curves only.
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
 * Key exchange groups when "tls.groups" is not set. OpenSSL's own default
 * adds X448, P-521 and the finite-field groups ffdhe2048 to ffdhe8192
 * (RFC 7919): a ClientHello that offers only ffdhe8192, with a random key
 * share, costs the server about 125 ms of CPU on the event loop, before
 * the client has proved anything, against 0.5 ms for X25519. Every TLS 1.3
 * client implements P-256 (RFC 8446 §9.1), most X25519: these three serve
 * all of them. Finite-field groups are refused in "tls.groups" too.
 */
#define TLSCONF_GROUPS	"X25519:P-256:P-384"

/*
 * Set tls's ciphers, ciphersuites and groups on ssl; for those not given,
 * the lists above (ciphers, groups) or OpenSSL's (ciphersuites). 0, or -1
 * with *key the offending key ("ciphers", "ciphersuites", "groups") and a
 * one-line reason in err. A zeroed cfg_tls gives the defaults.
 */
int tlsconf_apply(SSL_CTX *ssl, const struct cfg_tls *tls, const char **key,
    char *err, size_t errlen);

#endif
