/*
 * tlsconf: suites and groups for the server's SSL_CTX
 * (include/estrad/tlsconf.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/*
 * The first finite-field group (RFC 7919 "ffdhe...") in an OpenSSL group
 * list, copied to out; 0 if there is none. Such a group is refused, not
 * honoured with a warning: no client needs one (RFC 8446 §9.1 makes P-256
 * mandatory), and the cost it adds (see TLSCONF_GROUPS) is the client's
 * to choose, unauthenticated.
 */
static int
tlsconf_ffdhe_group(const char *list, char *out, size_t outlen)
{
	size_t n;

	/* OpenSSL 3.5 adds "/" between tuples and "?", "*" before a name
	 * (optional, key share); 3.0 knows ":" alone. */
	for (const char *p = list; *p != '\0'; p += n + (p[n] != '\0')) {
		p += strspn(p, "?*");
		n = strcspn(p, ":/");
		if (n >= 5 && strncasecmp(p, "ffdhe", 5) == 0) {
			snprintf(out, outlen, "%.*s", (int)(n < 32 ? n : 32), p);
			return 1;
		}
	}
	return 0;
}

int
tlsconf_apply(SSL_CTX *ssl, const struct cfg_tls *tls, const char **key,
    char *err, size_t errlen)
{
	const SSL_CIPHER	*weak;
	const char		*ciphers = tls->ciphers != NULL ? tls->ciphers :
	    TLSCONF_CIPHERS;
	const char		*groups = tls->groups != NULL ? tls->groups :
	    TLSCONF_GROUPS;
	char			 name[40];

	*key = "ciphers";
	if (SSL_CTX_set_cipher_list(ssl, ciphers) != 1) {
		snprintf(err, errlen, "OpenSSL knows no TLS 1.2 suite in "
		    "\"%.100s\"", ciphers);
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
	if (tlsconf_ffdhe_group(groups, name, sizeof(name))) {
		snprintf(err, errlen, "%s is a finite-field group: each "
		    "handshake with it costs the server up to 130 ms of CPU; "
		    "use elliptic curves (X25519, P-256, P-384, X448, P-521)",
		    name);
		goto fail;
	}
	if (SSL_CTX_set1_groups_list(ssl, groups) != 1) {
		snprintf(err, errlen, "OpenSSL refuses the groups \"%.100s\"",
		    groups);
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	return -1;
}
