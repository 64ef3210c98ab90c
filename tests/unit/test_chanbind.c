/*
 * test_chanbind: both ends of a real TLS connection compute the same
 * channel binding, and different connections different ones. The
 * connection runs in-process over an OpenSSL BIO pair (no sockets): a
 * server with a throwaway EC certificate made here, a client that trusts
 * it, the handshake driven non-blocking to the end. Covered:
 *   - TLS 1.2 tls-unique (RFC 5929 §3.1): 12 bytes, 16 base64 characters;
 *     the client's Finished on a full handshake, the server's on a
 *     resumed one, checked against SSL_get_finished/_peer_finished;
 *   - TLS 1.3 tls-exporter (RFC 9266): 32 bytes, 44 characters; the
 *     "empty context" question: with use_context 0 and with a
 *     zero-length context the TLS 1.3 exporter gives the same bytes (on
 *     TLS 1.2, RFC 5705 tells them apart, which is why it is asked);
 *   - chanbind_csr_password over a table of CSRs built here, and the seed
 *     CSR of RFC 7030 (challengePassword "+rrCir/7+EYu50T4").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/chanbind.h"

#include "testdata.h"
#include "testpki.h"

#define EXPORTER_LABEL	"EXPORTER-Channel-Binding"
#define SEED_PASSWORD	"+rrCir/7+EYu50T4"

struct fixture {
	EVP_PKEY	*key;	/* server key, also signs the test CSRs */
	X509		*cert;	/* self-signed server certificate */
	SSL_CTX		*server;
};

struct conn {
	SSL	*client;
	SSL	*server;
};

/* ------------------------------------------------------------ PKI */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->key = testpki_key_new("p256");
	f->cert = testpki_cert(&(struct cert_spec){ .pkey = f->key,
	    .subject = "CN=chanbind-test", .not_before = -60 });
	f->server = SSL_CTX_new(TLS_server_method());
	assert_non_null(f->server);
	assert_int_equal(SSL_CTX_use_certificate(f->server, f->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(f->server, f->key), 1);
	assert_int_equal(SSL_CTX_set_min_proto_version(f->server,
	    TLS1_2_VERSION), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	SSL_CTX_free(f->server);
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

/* A client context for exactly one TLS version, trusting the test cert. */
static SSL_CTX *
client_ctx(struct fixture *f, int version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
	    f->cert), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* ------------------------------------------------------------ TLS */

/* One step of one side: 1 done, 0 wants I/O, fails the test otherwise. */
static int
handshake_step(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl), err;

	if (rc == 1)
		return 1;
	err = SSL_get_error(ssl, rc);
	if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
		fail_msg("handshake failed (%s side): SSL error %d",
		    SSL_is_server(ssl) ? "server" : "client", err);
	return 0;
}

/*
 * Connect a client of cctx to the server over a BIO pair, resuming sess
 * when not NULL. Both ends finish the handshake before this returns.
 */
static void
conn_open(struct fixture *f, SSL_CTX *cctx, SSL_SESSION *sess,
    struct conn *c)
{
	BIO *cb = NULL, *sb = NULL;
	int cdone = 0, sdone = 0;

	c->client = SSL_new(cctx);
	c->server = SSL_new(f->server);
	assert_non_null(c->client);
	assert_non_null(c->server);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c->client, cb, cb);
	SSL_set_bio(c->server, sb, sb);
	SSL_set_connect_state(c->client);
	SSL_set_accept_state(c->server);
	if (sess != NULL)
		assert_int_equal(SSL_set_session(c->client, sess), 1);
	for (int i = 0; i < 50 && !(cdone && sdone); i++) {
		if (!cdone)
			cdone = handshake_step(c->client);
		if (!sdone)
			sdone = handshake_step(c->server);
	}
	assert_true(cdone && sdone);
}

/*
 * The client's resumable session. TLS 1.3 tickets arrive after the
 * handshake, so let the client read them first.
 */
static SSL_SESSION *
conn_session(struct conn *c)
{
	char buf[1];

	if (SSL_version(c->client) == TLS1_3_VERSION) {
		assert_true(SSL_read(c->client, buf, sizeof(buf)) <= 0);
		assert_int_equal(SSL_get_error(c->client, -1),
		    SSL_ERROR_WANT_READ);
	}
	SSL_SESSION *s = SSL_get1_session(c->client);
	assert_non_null(s);
	assert_int_equal(SSL_SESSION_is_resumable(s), 1);
	return s;
}

static void
conn_close(struct conn *c)
{
	SSL_free(c->client);
	SSL_free(c->server);
	c->client = c->server = NULL;
}

/* Both ends' bindings; they must agree, be as long as expected. */
static void
both_values(struct conn *c, size_t len, char *out)
{
	char cv[CHANBIND_MAX], sv[CHANBIND_MAX];

	assert_int_equal(chanbind_value(c->client, cv, sizeof(cv)), 0);
	assert_int_equal(chanbind_value(c->server, sv, sizeof(sv)), 0);
	assert_string_equal(cv, sv);
	assert_int_equal(strlen(sv), len);
	strcpy(out, sv);
}

/* Base64 of raw bytes, the way chanbind says it encodes them. */
static void
b64_raw(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* ------------------------------------------------------------ tests */

static void
test_tls12_full(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(f, TLS1_2_VERSION);
	struct conn c;
	unsigned char fin[64], *raw = NULL;
	char v[CHANBIND_MAX], want[CHANBIND_MAX];
	size_t n, rawlen;
	const char *reason;

	conn_open(f, cctx, NULL, &c);
	assert_int_equal(SSL_version(c.server), TLS1_2_VERSION);
	assert_false(SSL_session_reused(c.server));
	both_values(&c, 16, v);
	/* tls-unique of a full handshake is the client's Finished. */
	n = SSL_get_peer_finished(c.server, fin, sizeof(fin));
	assert_int_equal(n, 12);
	b64_raw(fin, n, want);
	assert_string_equal(v, want);
	assert_int_equal(b64_decode_lenient(v, strlen(v), &raw, &rawlen,
	    &reason), 0);
	assert_int_equal(rawlen, 12);
	assert_memory_equal(raw, fin, 12);
	free(raw);
	conn_close(&c);
	SSL_CTX_free(cctx);
}

static void
test_tls13_full(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(f, TLS1_3_VERSION);
	struct conn c;
	unsigned char ekm[32], *raw = NULL;
	char v[CHANBIND_MAX];
	size_t rawlen;
	const char *reason;

	conn_open(f, cctx, NULL, &c);
	assert_int_equal(SSL_version(c.server), TLS1_3_VERSION);
	both_values(&c, 44, v);
	assert_int_equal(b64_decode_lenient(v, strlen(v), &raw, &rawlen,
	    &reason), 0);
	assert_int_equal(rawlen, 32);
	assert_int_equal(SSL_export_keying_material(c.client, ekm,
	    sizeof(ekm), EXPORTER_LABEL, strlen(EXPORTER_LABEL), NULL, 0, 0),
	    1);
	assert_memory_equal(raw, ekm, sizeof(ekm));
	free(raw);
	conn_close(&c);
	SSL_CTX_free(cctx);
}

/* The exporter with no context and with a zero-length one. */
static void
export_both(SSL *ssl, unsigned char none[32], unsigned char empty[32])
{
	assert_int_equal(SSL_export_keying_material(ssl, none, 32,
	    EXPORTER_LABEL, strlen(EXPORTER_LABEL), NULL, 0, 0), 1);
	assert_int_equal(SSL_export_keying_material(ssl, empty, 32,
	    EXPORTER_LABEL, strlen(EXPORTER_LABEL),
	    (const unsigned char *)"", 0, 1), 1);
}

/*
 * RFC 9266 asks for an "empty context". RFC 8446 §7.5: in TLS 1.3 no
 * context and a zero-length context are the same value; RFC 5705 (TLS
 * 1.2) tells them apart. Pin both facts about the OpenSSL we run on.
 */
static void
test_exporter_context(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *c13 = client_ctx(f, TLS1_3_VERSION);
	SSL_CTX *c12 = client_ctx(f, TLS1_2_VERSION);
	unsigned char none[32], empty[32];
	struct conn c;

	conn_open(f, c13, NULL, &c);
	export_both(c.server, none, empty);
	assert_memory_equal(none, empty, 32);
	export_both(c.client, none, empty);
	assert_memory_equal(none, empty, 32);
	conn_close(&c);

	conn_open(f, c12, NULL, &c);
	export_both(c.server, none, empty);
	assert_memory_not_equal(none, empty, 32);
	conn_close(&c);
	SSL_CTX_free(c13);
	SSL_CTX_free(c12);
}

static void
distinct_for(struct fixture *f, int version, size_t len)
{
	SSL_CTX *cctx = client_ctx(f, version);
	struct conn a, b;
	char va[CHANBIND_MAX], vb[CHANBIND_MAX];

	conn_open(f, cctx, NULL, &a);
	conn_open(f, cctx, NULL, &b);
	both_values(&a, len, va);
	both_values(&b, len, vb);
	assert_string_not_equal(va, vb);
	conn_close(&a);
	conn_close(&b);
	SSL_CTX_free(cctx);
}

static void
test_distinct_connections(void **state)
{
	distinct_for(*state, TLS1_2_VERSION, 16);
	distinct_for(*state, TLS1_3_VERSION, 44);
}

/* A resumed TLS 1.2 handshake binds to the server's Finished. */
static void
test_tls12_resumed(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(f, TLS1_2_VERSION);
	struct conn a, b;
	SSL_SESSION *sess;
	unsigned char fin[64];
	char va[CHANBIND_MAX], vb[CHANBIND_MAX], want[CHANBIND_MAX];
	size_t n;

	conn_open(f, cctx, NULL, &a);
	both_values(&a, 16, va);
	sess = conn_session(&a);
	conn_open(f, cctx, sess, &b);
	assert_true(SSL_session_reused(b.client));
	assert_true(SSL_session_reused(b.server));
	both_values(&b, 16, vb);
	assert_string_not_equal(va, vb);
	n = SSL_get_finished(b.server, fin, sizeof(fin));
	assert_int_equal(n, 12);
	b64_raw(fin, n, want);
	assert_string_equal(vb, want);
	n = SSL_get_peer_finished(b.client, fin, sizeof(fin));
	b64_raw(fin, n, want);
	assert_string_equal(vb, want);
	SSL_SESSION_free(sess);
	conn_close(&a);
	conn_close(&b);
	SSL_CTX_free(cctx);
}

static void
test_tls13_resumed(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *cctx = client_ctx(f, TLS1_3_VERSION);
	struct conn a, b;
	SSL_SESSION *sess;
	char va[CHANBIND_MAX], vb[CHANBIND_MAX];

	conn_open(f, cctx, NULL, &a);
	both_values(&a, 44, va);
	sess = conn_session(&a);
	conn_open(f, cctx, sess, &b);
	assert_true(SSL_session_reused(b.server));
	both_values(&b, 44, vb);
	assert_string_not_equal(va, vb);
	SSL_SESSION_free(sess);
	conn_close(&a);
	conn_close(&b);
	SSL_CTX_free(cctx);
}

/* No finished handshake, NULLs, a buffer one byte short: -1. */
static void
test_value_refusals(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *c13 = client_ctx(f, TLS1_3_VERSION);
	SSL_CTX *c12 = client_ctx(f, TLS1_2_VERSION);
	SSL *fresh = SSL_new(c13);
	struct conn c;
	char v[CHANBIND_MAX];

	assert_non_null(fresh);
	assert_int_equal(chanbind_value(fresh, v, sizeof(v)), -1);
	assert_int_equal(chanbind_value(NULL, v, sizeof(v)), -1);
	SSL_free(fresh);

	conn_open(f, c13, NULL, &c);
	assert_int_equal(chanbind_value(c.server, NULL, 45), -1);
	assert_int_equal(chanbind_value(c.server, v, 44), -1);
	assert_int_equal(chanbind_value(c.server, v, 45), 0);
	conn_close(&c);
	conn_open(f, c12, NULL, &c);
	assert_int_equal(chanbind_value(c.server, v, 16), -1);
	assert_int_equal(chanbind_value(c.server, v, 17), 0);
	conn_close(&c);
	SSL_CTX_free(c13);
	SSL_CTX_free(c12);
}

/* ------------------------------------------------------------ CSRs */

enum attr_form {
	ATTR_NONE,	/* no challengePassword */
	ATTR_ONE,	/* one attribute, one value */
	ATTR_TWO_VALUES,/* one attribute, the value twice */
	ATTR_TWICE,	/* the attribute twice, one value each */
};

struct pw_case {
	const char	*name;
	enum attr_form	 form;
	int		 type;		/* V_ASN1_* of the value */
	const char	*value;
	size_t		 len;		/* bytes of value */
	size_t		 outlen;	/* buffer given to the function */
	int		 want;		/* return value */
	const char	*want_text;	/* out, when want is 1 */
};

static const struct pw_case pw_cases[] = {
	{ "absent", ATTR_NONE, 0, NULL, 0, 64, 0, "" },
	{ "printable", ATTR_ONE, V_ASN1_PRINTABLESTRING, "AbC+/=", 6, 64, 1,
	    "AbC+/=" },
	{ "utf8", ATTR_ONE, V_ASN1_UTF8STRING, "p\xc3\xa4ss", 5, 64, 1,
	    "p\xc3\xa4ss" },
	{ "ia5", ATTR_ONE, V_ASN1_IA5STRING, "ia5", 3, 64, 1, "ia5" },
	{ "empty", ATTR_ONE, V_ASN1_PRINTABLESTRING, "", 0, 64, 1, "" },
	{ "44 chars in 45", ATTR_ONE, V_ASN1_PRINTABLESTRING,
	    "0123456789012345678901234567890123456789012=", 44, 45, 1,
	    "0123456789012345678901234567890123456789012=" },
	{ "too long by one", ATTR_ONE, V_ASN1_PRINTABLESTRING,
	    "0123456789012345678901234567890123456789012=", 44, 44, -1, "" },
	{ "two values", ATTR_TWO_VALUES, V_ASN1_PRINTABLESTRING, "abc", 3, 64,
	    -1, "" },
	{ "two attributes", ATTR_TWICE, V_ASN1_PRINTABLESTRING, "abc", 3, 64,
	    -1, "" },
	{ "integer", ATTR_ONE, V_ASN1_INTEGER, "\x01", 1, 64, -1, "" },
	{ "octet string", ATTR_ONE, V_ASN1_OCTET_STRING, "abc", 3, 64, -1,
	    "" },
	{ "bmp", ATTR_ONE, V_ASN1_BMPSTRING, "\0a\0b", 4, 64, -1, "" },
	{ "embedded NUL", ATTR_ONE, V_ASN1_UTF8STRING, "ab\0cd", 5, 64, -1,
	    "" },
};

static X509_ATTRIBUTE *
pw_attr(const struct pw_case *pc, int values)
{
	X509_ATTRIBUTE *a = X509_ATTRIBUTE_new();

	assert_non_null(a);
	assert_int_equal(X509_ATTRIBUTE_set1_object(a,
	    OBJ_nid2obj(NID_pkcs9_challengePassword)), 1);
	for (int i = 0; i < values; i++)
		assert_int_equal(X509_ATTRIBUTE_set1_data(a, pc->type,
		    pc->value, (int)pc->len), 1);
	return a;
}

static void
pw_add(X509_REQ *req, const struct pw_case *pc, int values)
{
	X509_ATTRIBUTE *a = pw_attr(pc, values);

	assert_int_equal(X509_REQ_add1_attr(req, a), 1);
	X509_ATTRIBUTE_free(a);
}

/*
 * OpenSSL 3 will not add an attribute twice, but a client's DER may hold
 * it twice. Add an unstructuredName (1.2.840.113549.1.9.2) as well, then
 * turn its OID into challengePassword's (...1.9.7) in the DER. The
 * signature no longer verifies, which chanbind does not look at.
 */
static void
pw_patch_twice(unsigned char *der, int n)
{
	static const unsigned char oid[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
	    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x02 };

	for (int i = 0; i + (int)sizeof(oid) <= n; i++)
		if (memcmp(der + i, oid, sizeof(oid)) == 0) {
			der[i + sizeof(oid) - 1] = 0x07;
			return;
		}
	fail_msg("no unstructuredName OID in the DER");
}

/* A signed CSR for the case, sent through DER and back like a body. */
static X509_REQ *
pw_csr(EVP_PKEY *key, const struct pw_case *pc)
{
	X509_REQ *req = X509_REQ_new(), *back;
	unsigned char *der = NULL;
	const unsigned char *p;
	int n;

	assert_non_null(req);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (pc->form == ATTR_ONE || pc->form == ATTR_TWICE)
		pw_add(req, pc, 1);
	if (pc->form == ATTR_TWICE)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req,
		    NID_pkcs9_unstructuredName, pc->type,
		    (const unsigned char *)pc->value, (int)pc->len), 1);
	if (pc->form == ATTR_TWO_VALUES)
		pw_add(req, pc, 2);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	if (pc->form == ATTR_TWICE)
		pw_patch_twice(der, n);
	p = der;
	back = d2i_X509_REQ(NULL, &p, n);
	assert_non_null(back);
	if (pc->form == ATTR_TWICE)
		assert_true(X509_REQ_get_attr_by_NID(back,
		    NID_pkcs9_challengePassword, X509_REQ_get_attr_by_NID(back,
		    NID_pkcs9_challengePassword, -1)) >= 0);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return back;
}

static void
test_csr_password_table(void **state)
{
	struct fixture *f = *state;
	char out[64];

	for (size_t i = 0; i < NITEMS(pw_cases); i++) {
		const struct pw_case *pc = &pw_cases[i];
		X509_REQ *req = pw_csr(f->key, pc);
		int rc;

		memset(out, 'x', sizeof(out));
		rc = chanbind_csr_password(req, out, pc->outlen);
		if (rc != pc->want)
			fail_msg("%s: returned %d, expected %d", pc->name, rc,
			    pc->want);
		if (strcmp(out, pc->want_text) != 0)
			fail_msg("%s: out is '%s', expected '%s'", pc->name,
			    out, pc->want_text);
		X509_REQ_free(req);
	}
	assert_int_equal(chanbind_csr_password(NULL, out, sizeof(out)), -1);
}

/* RFC 7030's example CSR carries a TLS 1.2 binding of its own session. */
static void
test_seed_csr(void **state)
{
	size_t b64len, derlen;
	char *b64 = testdata_read("seed-csr.b64", &b64len);
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *reason = NULL;
	X509_REQ *req;
	char out[CHANBIND_MAX];

	assert_int_equal(b64_decode_lenient(b64, b64len, &der, &derlen,
	    &reason), 0);
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)derlen);
	assert_non_null(req);
	assert_int_equal(chanbind_csr_password(req, out, sizeof(out)), 1);
	assert_string_equal(out, SEED_PASSWORD);
	/* As long as a tls-unique value: 12 bytes of Finished. */
	assert_int_equal(strlen(out), 16);
	X509_REQ_free(req);
	free(der);
	free(b64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls12_full),
		cmocka_unit_test(test_tls13_full),
		cmocka_unit_test(test_exporter_context),
		cmocka_unit_test(test_distinct_connections),
		cmocka_unit_test(test_tls12_resumed),
		cmocka_unit_test(test_tls13_resumed),
		cmocka_unit_test(test_value_refusals),
		cmocka_unit_test(test_csr_password_table),
		cmocka_unit_test(test_seed_csr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
