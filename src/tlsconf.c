/*
 * tlsconf: suites and groups for the server's SSL_CTX
 * (include/estrad/tlsconf.h).
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>

#include "estrad/tlsconf.h"

/* The first suite of ssl that is neither TLS 1.3 nor ECDHE with AEAD. */
static const SSL_CIPHER *
tlsconf_weak_suite(SSL_CTX *ssl)
{
	STACK_OF(SSL_CIPHER)	*all = SSL_CTX_get_ciphers(ssl);
	const SSL_CIPHER	*c;

	for (int i = 0; i < sk_SSL_CIPHER_num(all); i++) {
		c = sk_SSL_CIPHER_value(all, i);
		if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any)
			continue;	/* TLS 1.3: all AEAD, (EC)DHE */
		if (SSL_CIPHER_get_kx_nid(c) != NID_kx_ecdhe ||
		    !SSL_CIPHER_is_aead(c))
			return c;
	}
	return NULL;
}

int
tlsconf_apply(SSL_CTX *ssl, const struct cfg_tls *tls, const char **key,
    char *err, size_t errlen)
{
	const SSL_CIPHER *weak;

	*key = "ciphers";
	if (SSL_CTX_set_cipher_list(ssl, tls->ciphers != NULL ? tls->ciphers :
	    TLSCONF_CIPHERS) != 1) {
		snprintf(err, errlen, "OpenSSL knows no TLS 1.2 suite in "
		    "\"%.100s\"", tls->ciphers);
		goto fail;
	}
	*key = "ciphersuites";
	if (tls->ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ssl, tls->ciphersuites) != 1) {
		snprintf(err, errlen, "OpenSSL refuses the TLS 1.3 suites "
		    "\"%.100s\"", tls->ciphersuites);
		goto fail;
	}
	*key = "ciphers";
	if ((weak = tlsconf_weak_suite(ssl)) != NULL) {
		snprintf(err, errlen, "%s is not ECDHE with an AEAD cipher",
		    SSL_CIPHER_get_name(weak));
		goto fail;
	}
	*key = "groups";
	if (tls->groups != NULL && SSL_CTX_set1_groups_list(ssl, tls->groups)
	    != 1) {
		snprintf(err, errlen, "OpenSSL refuses the groups \"%.100s\"",
		    tls->groups);
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	return -1;
}
