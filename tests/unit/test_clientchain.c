/*
 * clientchain: which certificates complete client chains (CA, not
 * self-signed, once each), reading a cacerts body, and a TLS handshake
 * in memory whose client sends its leaf alone, with and without the
 * intermediate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "estrad/b64.h"
#include "estrad/clientchain.h"
#include "testpki.h"

static EVP_PKEY	*root_key, *mid_key, *leaf_key;
static X509	*root, *mid, *leaf;

/* A CA (or, with ca 0, end-entity) certificate for CN=cn; issuer NULL:
 * self-signed. */
static X509 *
make(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int ca)
{
	char subject[64];

	snprintf(subject, sizeof(subject), "CN=%s", cn);
	return testpki_cert(&(struct cert_spec){ .pkey = key,
	    .subject = subject, .issuer = issuer, .issuer_key = ikey,
	    .serial = ca ? 2 : 3, .not_before = -60,
	    .bc = ca ? "critical,CA:TRUE" : "CA:FALSE" });
}

static int
setup(void **state)
{
	root_key = EVP_EC_gen("P-256");
	mid_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	root = make("root", root_key, NULL, root_key, 1);
	mid = make("mid", mid_key, root, root_key, 1);
	leaf = make("leaf", leaf_key, mid, mid_key, 0);
	return 0;
}

static int
teardown(void **state)
{
	X509_free(root);
	X509_free(mid);
	X509_free(leaf);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(mid_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

/* An SSL_CTX that trusts anchor (its certificate too, with key) and
 * verifies clients, as the listener. */
static SSL_CTX *
server_ctx_with(X509 *anchor, EVP_PKEY *key)
{
	SSL_CTX		*ssl = SSL_CTX_new(TLS_server_method());
	struct config	 cfg;

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(SSL_CTX_use_certificate(ssl, anchor), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ssl, key), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ssl),
	    anchor), 1);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	assert_int_equal(clientchain_attach(ssl, &cfg), 0);
	return ssl;
}

/* A TLS handshake in memory, the client sending its leaf alone: 1 if the
 * server accepted it. */
static int
handshake_leaf(SSL_CTX *sctx)
{
	SSL_CTX	*cctx = SSL_CTX_new(TLS_client_method());
	SSL	*c, *s;
	BIO	*cb, *sb;
	int	 cr = 0, sr = 0, ok;

	assert_int_equal(SSL_CTX_use_certificate(cctx, leaf), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(cctx, leaf_key), 1);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 20 && (cr != 1 || sr != 1); i++) {
		if (cr != 1)
			cr = SSL_do_handshake(c);
		if (sr != 1)
			sr = SSL_do_handshake(s);
		if (sr <= 0 && SSL_get_error(s, sr) == SSL_ERROR_SSL)
			break;
	}
	ok = sr == 1 && SSL_get_verify_result(s) == X509_V_OK;
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ok;
}

static SSL_CTX *
server_ctx(void)
{
	return server_ctx_with(root, root_key);
}

static void
test_add_and_verify(void **state)
{
	SSL_CTX *ssl = server_ctx();

	assert_int_equal(handshake_leaf(ssl), 0);	/* unknown issuer */
	assert_int_equal(clientchain_add(ssl, leaf), 0);	/* not a CA */
	assert_int_equal(clientchain_add(ssl, root), 0);	/* self-signed */
	assert_int_equal(clientchain_add(ssl, mid), 1);
	assert_int_equal(clientchain_add(ssl, mid), 0);		/* once */
	assert_int_equal(handshake_leaf(ssl), 1);
	/* The CertificateRequest names it. */
	assert_int_equal(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(ssl)), 1);
	SSL_CTX_free(ssl);
}

/*
 * A learnt intermediate is chain material, never an anchor: trusting
 * another root, a leaf under mid still fails although mid was added.
 */
static void
test_learnt_is_no_anchor(void **state)
{
	EVP_PKEY	*other_key = EVP_EC_gen("P-256");
	X509		*other = make("other root", other_key, NULL, other_key, 1);
	SSL_CTX		*ssl = server_ctx_with(other, other_key);

	assert_int_equal(clientchain_add(ssl, mid), 1);
	assert_int_equal(handshake_leaf(ssl), 0);
	SSL_CTX_free(ssl);
	X509_free(other);
	EVP_PKEY_free(other_key);
}

/* A context that verifies no client certificates takes nothing. */
static void
test_add_without_verification(void **state)
{
	SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());

	assert_int_equal(clientchain_add(ssl, mid), 0);
	SSL_CTX_free(ssl);
}

/* base64 of a certs-only PKCS#7 of certs. */
static char *
cacerts_body(X509 *a, X509 *b, size_t *len)
{
	X509 *certs[] = { a, b };

	return testpki_certs_only_b64(certs, 2, len);
}

static void
test_cacerts(void **state)
{
	static const char *bad[] = { "", "not base64 !", "AAAA",
	    "MIIB" };
	STACK_OF(X509)	*certs;
	size_t		 len;
	char		*body = cacerts_body(mid, root, &len);

	assert_non_null(certs = clientchain_cacerts((unsigned char *)body,
	    len));
	assert_int_equal(sk_X509_num(certs), 2);
	assert_int_equal(X509_cmp(sk_X509_value(certs, 0), mid), 0);
	sk_X509_pop_free(certs, X509_free);
	/* A CA that ends the body with a C string's NUL (libest's). */
	assert_non_null(body = realloc(body, len + 2));
	memcpy(body + len, "\n", 2);
	assert_non_null(certs = clientchain_cacerts((unsigned char *)body,
	    len + 2));
	assert_int_equal(sk_X509_num(certs), 2);
	sk_X509_pop_free(certs, X509_free);
	free(body);
	for (size_t i = 0; i < NITEMS(bad); i++)
		assert_null(clientchain_cacerts((const unsigned char *)bad[i],
		    strlen(bad[i])));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_verify),
		cmocka_unit_test(test_learnt_is_no_anchor),
		cmocka_unit_test(test_add_without_verification),
		cmocka_unit_test(test_cacerts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
