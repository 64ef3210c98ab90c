/*
 * test_localca: the local CA loads only a usable CA, serves the complete
 * chain in cacerts, announces its signature algorithm in csrattrs, and
 * issues certificates that verify up to the root and carry what an EST
 * client needs. The test PKI (root + issuing CA, for EC, RSA and Ed25519)
 * is generated at test time into a mkdtemp directory; no committed keys.
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "estrad/b64.h"
#include "estrad/csr.h"
#include "estrad/localca.h"
#include "estrad/reply.h"

#include "testpki.h"

#define DAYS		30
#define SAN_DNS		"device.example.com"

enum pki_kind { PKI_EC, PKI_RSA, PKI_ED25519, PKI_MAX };
static const char *const pki_names[PKI_MAX] = { "ec", "rsa", "ed25519" };

/* One generated PKI: a root, an issuing CA under it, their keys. */
struct pki {
	X509		*root;
	X509		*ca;
	EVP_PKEY	*root_key;
	EVP_PKEY	*ca_key;
};

/* Shared by all rows: set up once, since RSA key generation is slow. */
static struct {
	char		 dir[256];
	struct pki	 pki[PKI_MAX];
} fx;

static EVP_PKEY *
gen_key(enum pki_kind kind)
{
	static const char *const key_names[PKI_MAX] = { "p256", "rsa2048",
	    "ed25519" };

	return testpki_key_new(key_names[kind]);
}

/* A CA (or, with ca 0, end-entity) certificate; issuer NULL: self-signed. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    int ca)
{
	static long serial = 1;
	char subject[128];

	snprintf(subject, sizeof(subject), "CN=%s", cn);
	return testpki_cert(&(struct cert_spec){ .pkey = key,
	    .subject = subject, .issuer = issuer, .issuer_key = ikey,
	    .serial = serial++, .not_before = -3600,
	    .not_after = 365L * 24 * 3600,
	    .bc = ca ? "critical,CA:TRUE" : "critical,CA:FALSE",
	    .ku = ca ? "critical,keyCertSign,cRLSign" :
	    "critical,digitalSignature",
	    .skid = "hash", .akid = "keyid:always" });
}

/* dir/<kind>-<name>. */
static const char *
path_of(enum pki_kind kind, const char *name)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s-%s", fx.dir, pki_names[kind], name);
	return p;
}

/* Write a, then b unless NULL, to path as PEM. */
static void
write_certs(const char *path, X509 *a, X509 *b)
{
	testpki_write_certs(path, 0644, a, b);
}

static void
write_key(const char *path, EVP_PKEY *key)
{
	testpki_write_key(path, 0600, key, NULL);
}

/* Every file a row may point at, for one kind of PKI. */
static void
make_pki(enum pki_kind kind)
{
	struct pki *p = &fx.pki[kind];
	EVP_PKEY *other = gen_key(PKI_EC);
	X509 *ee;

	p->root_key = gen_key(kind);
	p->ca_key = gen_key(kind);
	p->root = make_cert("Test Root", p->root_key, NULL, NULL, 1);
	p->ca = make_cert("Test Issuing CA", p->ca_key, p->root, p->root_key,
	    1);
	ee = make_cert("Not A CA", other, p->ca, p->ca_key, 0);
	write_certs(path_of(kind, "ca.pem"), p->ca, NULL);
	write_key(path_of(kind, "ca.key"), p->ca_key);
	write_certs(path_of(kind, "chain.pem"), p->ca, p->root);
	write_certs(path_of(kind, "root-only.pem"), p->root, NULL);
	write_certs(path_of(kind, "root-then-ca.pem"), p->root, p->ca);
	write_certs(path_of(kind, "ca-and-root.pem"), p->ca, p->root);
	write_key(path_of(kind, "other.key"), other);
	write_certs(path_of(kind, "ee.pem"), ee, NULL);
	write_key(path_of(kind, "ee.key"), other);
	testpki_write_key(path_of(kind, "ca-encrypted.key"), 0600, p->ca_key,
	    "secret");
	X509_free(ee);
	EVP_PKEY_free(other);
}

static int
group_setup(void **state)
{
	int k;

	if (testpki_tmpdir(fx.dir, sizeof(fx.dir), "localca") == -1)
		return -1;
	for (k = 0; k < PKI_MAX; k++)
		make_pki((enum pki_kind)k);
	return 0;
}

static int
group_teardown(void **state)
{
	int k;

	testpki_rmtree(fx.dir);
	for (k = 0; k < PKI_MAX; k++) {
		X509_free(fx.pki[k].root);
		X509_free(fx.pki[k].ca);
		EVP_PKEY_free(fx.pki[k].root_key);
		EVP_PKEY_free(fx.pki[k].ca_key);
	}
	return 0;
}

/* A loaded CA from the kind's files; chain NULL: no chain configured. */
static struct localca *
load_ca(enum pki_kind kind, const char *chain)
{
	char cert[PATH_MAX], key[PATH_MAX], ch[PATH_MAX], err[256] = "";
	struct cfg_localca cfg = { "test", cert, key, NULL, DAYS };
	struct localca *ca;

	snprintf(cert, sizeof(cert), "%s", path_of(kind, "ca.pem"));
	snprintf(key, sizeof(key), "%s", path_of(kind, "ca.key"));
	if (chain != NULL) {
		snprintf(ch, sizeof(ch), "%s", path_of(kind, chain));
		cfg.chain = ch;
	}
	ca = localca_new(&cfg, err, sizeof(err));
	if (ca == NULL)
		fail_msg("localca_new: %s", err);
	return ca;
}

/* The reply body: base64 -> exactly one DER certs-only PKCS#7. */
static PKCS7 *
decode_p7(const struct est_reply *r)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	const char *reason = NULL;
	size_t len;
	PKCS7 *p7;

	assert_int_equal(b64_decode_lenient((const char *)r->body,
	    r->body_len, &der, &len, &reason), 0);
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_ptr_equal(p, der + len);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info),
	    0);
	assert_true(PKCS7_type_is_data(p7->d.sign->contents));
	assert_null(p7->d.sign->contents->d.data);	/* no content */
	free(der);
	return p7;
}

/* --- enroll ------------------------------------------------------------ */

struct enroll_case {
	const char	*name;
	enum pki_kind	 pki;
	enum pki_kind	 csr_key;
	int		 sig_nid;	/* expected on the issued cert */
	int		 key_encipherment;
	int		 with_san;
	int		 empty_subject;
	int		 ask_ca;	/* request CA:TRUE: must be ignored */
};

static const struct enroll_case enroll_cases[] = {
	{ "EC CA, EC CSR with DNS SAN", PKI_EC, PKI_EC,
	    NID_ecdsa_with_SHA256, 0, 1, 0, 0 },
	{ "RSA CA, RSA CSR with DNS SAN", PKI_RSA, PKI_RSA,
	    NID_sha256WithRSAEncryption, 1, 1, 0, 0 },
	{ "Ed25519 CA, EC CSR with DNS SAN", PKI_ED25519, PKI_EC,
	    NID_ED25519, 0, 1, 0, 0 },
	{ "EC CA, CSR without SAN", PKI_EC, PKI_EC, NID_ecdsa_with_SHA256, 0,
	    0, 0, 0 },
	{ "EC CA, empty subject: SAN critical", PKI_EC, PKI_EC,
	    NID_ecdsa_with_SHA256, 0, 1, 1, 0 },
	{ "EC CA, CSR asks for CA:TRUE", PKI_EC, PKI_EC,
	    NID_ecdsa_with_SHA256, 0, 1, 0, 1 },
};

/* A CSR as a client sends it, parsed by csr.c like a real request. */
static struct csr *
make_csr(const struct enroll_case *c, EVP_PKEY *key)
{
	X509_REQ *req = testpki_csr(&(struct csr_spec){ .pkey = key,
	    .md = c->csr_key == PKI_ED25519 ? NULL : "SHA256",
	    .subject = c->empty_subject ? "" : "CN=device 7",
	    .san = c->with_san ? "DNS:" SAN_DNS : NULL,
	    .bc = c->ask_ca ? "critical,CA:TRUE" : NULL });
	struct csr *csr = testpki_csr_parsed(req);

	X509_REQ_free(req);
	return csr;
}

static void
check_san(X509 *cert, int want, int want_critical)
{
	int crit = -1;
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
	    &crit, NULL);
	GENERAL_NAME *gn;
	int type;
	ASN1_IA5STRING *dns;

	if (!want) {
		assert_null(gens);
		return;
	}
	assert_non_null(gens);
	assert_int_equal(crit, want_critical);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	gn = sk_GENERAL_NAME_value(gens, 0);
	dns = GENERAL_NAME_get0_value(gn, &type);
	assert_int_equal(type, GEN_DNS);
	assert_int_equal(ASN1_STRING_length(dns), strlen(SAN_DNS));
	assert_memory_equal(ASN1_STRING_get0_data(dns), SAN_DNS,
	    strlen(SAN_DNS));
	GENERAL_NAMES_free(gens);
}

static void
check_serial(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);

	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	assert_false(BN_is_zero(bn));
	assert_true(BN_num_bits(bn) <= 159);
	assert_true(BN_num_bits(bn) > 64);	/* random, not a counter */
	BN_free(bn);
}

static void
check_profile(X509 *cert, const struct enroll_case *c, struct pki *p)
{
	uint32_t ku = X509_get_key_usage(cert);
	uint32_t want_ku = KU_DIGITAL_SIGNATURE |
	    (c->key_encipherment ? KU_KEY_ENCIPHERMENT : 0);
	int days, secs;

	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(ku, want_ku);
	assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
	assert_non_null(X509_get0_subject_key_id(cert));
	assert_non_null(X509_get0_authority_key_id(cert));
	assert_int_equal(ASN1_OCTET_STRING_cmp(
	    X509_get0_authority_key_id(cert),
	    X509_get0_subject_key_id(p->ca)), 0);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(cert),
	    X509_get_subject_name(p->ca)), 0);
	assert_int_equal(X509_get_signature_nid(cert), c->sig_nid);
	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
	    X509_get0_notAfter(cert)));
	assert_int_equal(days, DAYS);
}

/* The chain check a relying party does: up to our root, as a TLS client. */
static void
check_verifies(X509 *cert, struct pki *p)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	assert_non_null(store);
	assert_non_null(ctx);
	assert_non_null(untrusted);
	assert_true(X509_STORE_add_cert(store, p->root));
	assert_true(sk_X509_push(untrusted, p->ca));
	assert_true(X509_STORE_CTX_init(ctx, store, cert, untrusted));
	assert_true(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT));
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static void
test_enroll(void **state)
{
	const struct enroll_case *c = *state;
	struct pki *p = &fx.pki[c->pki];
	struct localca *ca = load_ca(c->pki, "chain.pem");
	EVP_PKEY *key = gen_key(c->csr_key);
	struct csr *csr = make_csr(c, key);
	struct est_reply reply;
	PKCS7 *p7;
	X509 *cert;

	memset(&reply, 0, sizeof(reply));
	assert_int_equal(localca_enroll(ca, csr, &reply), 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, EST_CT_CERTS_ONLY);
	p7 = decode_p7(&reply);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 1);
	cert = sk_X509_value(p7->d.sign->cert, 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert),
	    X509_REQ_get_subject_name(csr->csr_req)), 0);
	check_san(cert, c->with_san, c->empty_subject);
	check_serial(cert);
	check_profile(cert, c, p);
	check_verifies(cert, p);
	PKCS7_free(p7);
	est_reply_clear(&reply);
	csr_free(csr);
	EVP_PKEY_free(key);
	localca_free(ca);
}

/* Two enrollments of the same CSR: two different serials. */
static void
test_serials_differ(void **state)
{
	const struct enroll_case *c = &enroll_cases[0];
	struct localca *ca = load_ca(PKI_EC, "chain.pem");
	EVP_PKEY *key = gen_key(PKI_EC);
	struct csr *csr = make_csr(c, key);
	struct est_reply r1, r2;
	PKCS7 *a, *b;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	assert_int_equal(localca_enroll(ca, csr, &r1), 0);
	assert_int_equal(localca_enroll(ca, csr, &r2), 0);
	a = decode_p7(&r1);
	b = decode_p7(&r2);
	assert_int_not_equal(ASN1_INTEGER_cmp(
	    X509_get0_serialNumber(sk_X509_value(a->d.sign->cert, 0)),
	    X509_get0_serialNumber(sk_X509_value(b->d.sign->cert, 0))), 0);
	PKCS7_free(a);
	PKCS7_free(b);
	est_reply_clear(&r1);
	est_reply_clear(&r2);
	csr_free(csr);
	EVP_PKEY_free(key);
	localca_free(ca);
}

/* A SAN that does not decode is the client's fault: 400, nothing signed. */
static void
test_bad_san(void **state)
{
	struct localca *ca = load_ca(PKI_EC, "chain.pem");
	EVP_PKEY *key = gen_key(PKI_EC);
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	ASN1_OCTET_STRING *junk = ASN1_OCTET_STRING_new();
	X509_REQ *req = X509_REQ_new();
	struct est_reply reply;
	struct csr *csr;

	assert_true(ASN1_OCTET_STRING_set(junk, (const unsigned char *)
	    "\x05\x00", 2));	/* a NULL, not GeneralNames */
	assert_true(sk_X509_EXTENSION_push(exts,
	    X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, junk)));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_add_extensions(req, exts));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	csr = testpki_csr_parsed(req);
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(localca_enroll(ca, csr, &reply), -1);
	assert_int_equal(reply.status, 400);
	assert_string_equal(reply.content_type, EST_CT_TEXT);
	assert_string_equal(reply.reason, "CSR subjectAltName does not decode");
	est_reply_clear(&reply);
	csr_free(csr);
	X509_REQ_free(req);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_OCTET_STRING_free(junk);
	EVP_PKEY_free(key);
	localca_free(ca);
}

/* --- cacerts and csrattrs ---------------------------------------------- */

struct cacerts_case {
	const char	*name;
	enum pki_kind	 pki;
	const char	*chain;		/* file under dir, NULL: none */
	const char	*want;		/* "c" CA, "r" root, in order */
};

static const struct cacerts_case cacerts_cases[] = {
	{ "chain file CA + root", PKI_EC, "chain.pem", "cr" },
	{ "chain file root only: CA put first", PKI_EC, "root-only.pem",
	    "cr" },
	{ "chain file root then CA: kept as is", PKI_RSA, "root-then-ca.pem",
	    "rc" },
	{ "Ed25519 chain", PKI_ED25519, "chain.pem", "cr" },
};

static void
test_cacerts(void **state)
{
	const struct cacerts_case *c = *state;
	struct pki *p = &fx.pki[c->pki];
	struct localca *ca = load_ca(c->pki, c->chain);
	struct est_reply reply;
	PKCS7 *p7;
	size_t i;
	int round;

	memset(&reply, 0, sizeof(reply));
	/* Twice on the same reply: the first body must be freed, not leak. */
	for (round = 0; round < 2; round++) {
		assert_int_equal(localca_cacerts(ca, &reply), 0);
		assert_int_equal(reply.status, 200);
		assert_string_equal(reply.content_type, EST_CT_PKCS7);
	}
	p7 = decode_p7(&reply);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), strlen(c->want));
	for (i = 0; i < strlen(c->want); i++)
		assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert,
		    (int)i), c->want[i] == 'c' ? p->ca : p->root), 0);
	PKCS7_free(p7);
	est_reply_clear(&reply);
	localca_free(ca);
}

/* No chain configured, certificate file holds CA + root: served as is. */
static void
test_cacerts_from_certificate_file(void **state)
{
	char err[256] = "";
	char cert[PATH_MAX], key[PATH_MAX];
	struct cfg_localca cfg = { "test", cert, key, NULL, DAYS };
	struct est_reply reply;
	struct localca *ca;
	PKCS7 *p7;

	snprintf(cert, sizeof(cert), "%s", path_of(PKI_EC,
	    "ca-and-root.pem"));
	snprintf(key, sizeof(key), "%s", path_of(PKI_EC, "ca.key"));
	ca = localca_new(&cfg, err, sizeof(err));
	if (ca == NULL)
		fail_msg("localca_new: %s", err);
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(localca_cacerts(ca, &reply), 0);
	p7 = decode_p7(&reply);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 2);
	assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert, 1),
	    fx.pki[PKI_EC].root), 0);
	PKCS7_free(p7);
	est_reply_clear(&reply);
	localca_free(ca);
}

struct csrattrs_case {
	const char	*name;
	enum pki_kind	 pki;
	int		 nid;
};

static const struct csrattrs_case csrattrs_cases[] = {
	{ "csrattrs EC: ecdsa-with-SHA256", PKI_EC, NID_ecdsa_with_SHA256 },
	{ "csrattrs RSA: sha256WithRSAEncryption", PKI_RSA,
	    NID_sha256WithRSAEncryption },
	{ "csrattrs Ed25519: id-Ed25519", PKI_ED25519, NID_ED25519 },
};

/* RFC 7030 §4.5.2: SEQUENCE OF AttrOrOID; here exactly one OID. */
static void
test_csrattrs(void **state)
{
	const struct csrattrs_case *c = *state;
	struct localca *ca = load_ca(c->pki, "chain.pem");
	STACK_OF(ASN1_TYPE) *seq;
	struct est_reply reply;
	const unsigned char *p;
	unsigned char *der = NULL;
	const char *reason = NULL;
	ASN1_TYPE *t;
	size_t len;

	memset(&reply, 0, sizeof(reply));
	assert_int_equal(localca_csrattrs(ca, &reply), 0);
	assert_int_equal(reply.status, 200);
	assert_string_equal(reply.content_type, EST_CT_CSRATTRS);
	assert_int_equal(b64_decode_lenient((const char *)reply.body,
	    reply.body_len, &der, &len, &reason), 0);
	p = der;
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	assert_non_null(seq);
	assert_ptr_equal(p, der + len);
	assert_int_equal(sk_ASN1_TYPE_num(seq), 1);
	t = sk_ASN1_TYPE_value(seq, 0);
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(t->value.object), c->nid);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	free(der);
	est_reply_clear(&reply);
	localca_free(ca);
}

/* --- load failures ----------------------------------------------------- */

struct load_case {
	const char	*name;
	const char	*cert;		/* file names under dir (EC PKI) */
	const char	*key;
	const char	*chain;
	long		 days;
	const char	*want1;		/* substrings of the reason */
	const char	*want2;		/* "@cert", "@key", "@chain": path */
};

static const struct load_case load_cases[] = {
	{ "key does not match certificate", "ca.pem", "other.key",
	    "chain.pem", DAYS, "does not match", "@key" },
	{ "missing certificate file", "missing.pem", "ca.key", "chain.pem",
	    DAYS, "No such file or directory", "@cert" },
	{ "missing key file", "ca.pem", "missing.key", "chain.pem", DAYS,
	    "No such file or directory", "@key" },
	{ "missing chain file", "ca.pem", "ca.key", "missing-chain.pem",
	    DAYS, "No such file or directory", "@chain" },
	{ "key file holds a certificate", "ca.pem", "ca.pem", "chain.pem",
	    DAYS, "not a PEM private key: no private key", "@key" },
	{ "encrypted key: refused, no prompt", "ca.pem", "ca-encrypted.key",
	    "chain.pem", DAYS, "only unencrypted keys", "@key" },
	{ "certificate file holds only a key", "ca.key", "ca.key",
	    "chain.pem", DAYS, "no certificate found", "@cert" },
	{ "not a CA certificate", "ee.pem", "ee.key", "chain.pem", DAYS,
	    "not a CA certificate", "@cert" },
	{ "chain without a root", "ca.pem", "ca.key", "ca.pem", DAYS,
	    "does not chain to a root", "@chain" },
	{ "validity_days 0", "ca.pem", "ca.key", "chain.pem", 0,
	    "validity_days", "out of range" },
};

static void
test_load_fails(void **state)
{
	const struct load_case *c = *state;
	char cert[PATH_MAX], key[PATH_MAX], chain[PATH_MAX], err[512] = "";
	struct cfg_localca cfg = { "test", cert, key, chain, c->days };
	const char *want2 = c->want2;

	snprintf(cert, sizeof(cert), "%s", path_of(PKI_EC, c->cert));
	snprintf(key, sizeof(key), "%s", path_of(PKI_EC, c->key));
	snprintf(chain, sizeof(chain), "%s", path_of(PKI_EC, c->chain));
	if (strcmp(want2, "@cert") == 0)
		want2 = cert;
	else if (strcmp(want2, "@key") == 0)
		want2 = key;
	else if (strcmp(want2, "@chain") == 0)
		want2 = chain;
	assert_null(localca_new(&cfg, err, sizeof(err)));
	if (strstr(err, c->want1) == NULL || strstr(err, want2) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\" or \"%s\"", err, c->want1,
		    want2);
	assert_null(strchr(err, '\n'));
}

/* --- reply ------------------------------------------------------------- */

/* The error body is the reason plus "\n", one line, cut to fit. */
static void
test_reply_error(void **state)
{
	struct est_reply reply;
	char longer[400];

	memset(&reply, 0, sizeof(reply));
	assert_int_equal(est_reply_error(&reply, 400, "bad %s\r\nX: y",
	    "thing"), -1);
	assert_int_equal(reply.status, 400);
	assert_string_equal(reply.content_type, EST_CT_TEXT);
	assert_string_equal(reply.reason, "bad thing  X: y");
	assert_int_equal(reply.body_len, strlen("bad thing  X: y\n"));
	assert_memory_equal(reply.body, "bad thing  X: y\n", reply.body_len);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	est_reply_error(&reply, 502, "%s", longer);	/* replaces the body */
	assert_int_equal(strlen(reply.reason), sizeof(reply.reason) - 1);
	assert_int_equal(reply.body_len, sizeof(reply.reason));
	assert_int_equal(reply.body[reply.body_len - 1], '\n');
	est_reply_clear(&reply);
	assert_null(reply.body);
	assert_int_equal(reply.status, 0);
	est_reply_clear(NULL);
	localca_free(NULL);
}


int
main(void)
{
	size_t n = 0, i, max = NITEMS(enroll_cases) + NITEMS(cacerts_cases) +
	    NITEMS(csrattrs_cases) + NITEMS(load_cases) + 4;
	struct CMUnitTest *t = calloc(max, sizeof(*t));
	int rc;

	if (t == NULL)
		return 1;
	for (i = 0; i < NITEMS(enroll_cases); i++)
		t[n++] = (struct CMUnitTest){ enroll_cases[i].name,
		    test_enroll, NULL, NULL, (void *)&enroll_cases[i] };
	t[n++] = (struct CMUnitTest){ "serials differ", test_serials_differ,
	    NULL, NULL, NULL };
	t[n++] = (struct CMUnitTest){ "undecodable SAN: 400", test_bad_san,
	    NULL, NULL, NULL };
	for (i = 0; i < NITEMS(cacerts_cases); i++)
		t[n++] = (struct CMUnitTest){ cacerts_cases[i].name,
		    test_cacerts, NULL, NULL, (void *)&cacerts_cases[i] };
	t[n++] = (struct CMUnitTest){ "no chain: certificate file served",
	    test_cacerts_from_certificate_file, NULL, NULL, NULL };
	for (i = 0; i < NITEMS(csrattrs_cases); i++)
		t[n++] = (struct CMUnitTest){ csrattrs_cases[i].name,
		    test_csrattrs, NULL, NULL, (void *)&csrattrs_cases[i] };
	for (i = 0; i < NITEMS(load_cases); i++)
		t[n++] = (struct CMUnitTest){ load_cases[i].name,
		    test_load_fails, NULL, NULL, (void *)&load_cases[i] };
	t[n++] = (struct CMUnitTest){ "est_reply_error", test_reply_error,
	    NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("localca", t, n, group_setup,
	    group_teardown);
	free(t);
	return rc;
}
