/*
 * clientchain: intermediates for client certificate chains (see the
 * header). The stack hangs off the SSL_CTX (ex_data, freed with it), so
 * connections that outlive a reload keep the set they started with.
 */
#include <stdio.h>

#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "estrad/answer.h"
#include "estrad/clientchain.h"
#include "estrad/log.h"
#include "estrad/pki.h"

static int clientchain_index = -1;

static void
clientchain_on_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	sk_X509_pop_free(ptr, X509_free);
}

/* A CA certificate that is not a root: roots are anchors or useless. */
static int
clientchain_wanted(STACK_OF(X509) *have, X509 *x)
{
	if (X509_check_ca(x) == 0 ||
	    (X509_get_extension_flags(x) & EXFLAG_SS) != 0)
		return 0;
	for (int i = 0; i < sk_X509_num(have); i++)
		if (X509_cmp(sk_X509_value(have, i), x) == 0)
			return 0;
	return 1;
}

/* Add the wanted certificates of path (from the skip-th on) to out. */
static int
clientchain_add_file(STACK_OF(X509) *out, const char *path, int skip,
    char *err, size_t errlen)
{
	STACK_OF(X509)	*certs;
	X509		*x;

	if (path == NULL)
		return 0;
	if ((certs = pki_load_certs(path, err, errlen)) == NULL)
		return -1;
	for (int i = skip; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (clientchain_wanted(out, x) && (X509_up_ref(x) != 1 ||
		    sk_X509_push(out, x) == 0)) {
			sk_X509_pop_free(certs, X509_free);
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

STACK_OF(X509) *
clientchain_collect(const struct config *cfg, char *err, size_t errlen)
{
	STACK_OF(X509)	*out;
	int		 rc;

	if ((out = sk_X509_new_null()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rc = clientchain_add_file(out, cfg->tls.client_intermediates, 0, err,
	    errlen);
	if (rc == 0)
		rc = clientchain_add_file(out, cfg->tls.certificate, 1, err,
		    errlen);
	for (size_t i = 0; rc == 0 && i < cfg->nlocal_cas; i++)
		if ((rc = clientchain_add_file(out,
		    cfg->local_cas[i].certificate, 0, err, errlen)) == 0)
			rc = clientchain_add_file(out, cfg->local_cas[i].chain,
			    0, err, errlen);
	for (size_t i = 0; rc == 0 && i < cfg->nupstreams; i++)
		rc = clientchain_add_file(out,
		    cfg->upstreams[i].client_certificate, 1, err, errlen);
	if (rc == -1) {
		sk_X509_pop_free(out, X509_free);
		return NULL;
	}
	return out;
}

/*
 * OpenSSL's verification with the intermediates appended to the ones the
 * peer sent (which stay first, so they are preferred). The trusted store
 * is untouched. Called during the handshake, on the event loop.
 */
static int
clientchain_verify(X509_STORE_CTX *sctx, void *arg)
{
	STACK_OF(X509)	*extra = arg;
	STACK_OF(X509)	*sent = X509_STORE_CTX_get0_untrusted(sctx);
	STACK_OF(X509)	*all;
	int		 rc;

	if (sk_X509_num(extra) == 0)
		return X509_verify_cert(sctx);
	all = sent != NULL ? sk_X509_dup(sent) : sk_X509_new_null();
	for (int i = 0; all != NULL && i < sk_X509_num(extra); i++)
		if (sk_X509_push(all, sk_X509_value(extra, i)) == 0) {
			sk_X509_free(all);
			all = NULL;
		}
	if (all == NULL) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_OUT_OF_MEM);
		return 0;
	}
	X509_STORE_CTX_set0_untrusted(sctx, all);
	rc = X509_verify_cert(sctx);
	X509_STORE_CTX_set0_untrusted(sctx, sent);
	sk_X509_free(all);	/* the certificates belong to extra and sent */
	return rc;
}

int
clientchain_attach(SSL_CTX *ssl, const struct config *cfg)
{
	STACK_OF(X509)	*extra;
	char		 err[512];

	if ((extra = clientchain_collect(cfg, err, sizeof(err))) == NULL) {
		log_err("client certificate intermediates: %s", err);
		return -1;
	}
	return clientchain_attach_stack(ssl, extra);
}

int
clientchain_attach_stack(SSL_CTX *ssl, STACK_OF(X509) *extra)
{
	if (clientchain_index == -1 && (clientchain_index =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    clientchain_on_free)) == -1) {
		sk_X509_pop_free(extra, X509_free);
		return -1;
	}
	if (SSL_CTX_set_ex_data(ssl, clientchain_index, extra) != 1) {
		sk_X509_pop_free(extra, X509_free);
		return -1;
	}
	for (int i = 0; i < sk_X509_num(extra); i++)
		if (SSL_CTX_add_client_CA(ssl, sk_X509_value(extra, i)) != 1)
			return -1;
	SSL_CTX_set_cert_verify_callback(ssl, clientchain_verify, extra);
	return 0;
}

int
clientchain_add(SSL_CTX *ssl, X509 *x)
{
	STACK_OF(X509) *extra;

	if (clientchain_index == -1 ||
	    (extra = SSL_CTX_get_ex_data(ssl, clientchain_index)) == NULL ||
	    !clientchain_wanted(extra, x))
		return 0;
	if (X509_up_ref(x) != 1)
		return -1;
	if (sk_X509_push(extra, x) == 0) {
		X509_free(x);
		return -1;
	}
	return SSL_CTX_add_client_CA(ssl, x) == 1 ? 1 : -1;
}

STACK_OF(X509) *
clientchain_cacerts(const unsigned char *body, size_t len)
{
	unsigned char		*der = NULL;
	const unsigned char	*p;
	size_t			 dlen = 0;
	const char		*why;
	PKCS7			*p7 = NULL;
	STACK_OF(X509)		*certs = NULL, *out = NULL;

	if (answer_decode(body, len, &der, &dlen, &why) == -1)
		return NULL;
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)dlen)) != NULL &&
	    PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	if (certs != NULL && (out = sk_X509_new_null()) != NULL)
		for (int i = 0; i < sk_X509_num(certs); i++) {
			X509 *x = sk_X509_value(certs, i);
			if (X509_up_ref(x) != 1)
				break;
			if (sk_X509_push(out, x) == 0) {
				X509_free(x);
				break;
			}
		}
	PKCS7_free(p7);
	free(der);
	return out;
}
