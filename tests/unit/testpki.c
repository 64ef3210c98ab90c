/*
 * testpki: the unit tests' shared keys, CSRs, certificates, PEM files and
 * temporary directories (testpki.h). The CSR builder and its
 * malformations came from test_policy.c, whose rows still drive it.
 */
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "estrad/b64.h"
#include "estrad/csr.h"
#include "testpki.h"

/* --- keys --- */

static struct {
	const char	*name;
	EVP_PKEY	*pkey;
} shared_keys[] = {
	{ "rsa2048", NULL }, { "rsa1024", NULL }, { "pss2048", NULL },
	{ "p256", NULL }, { "p256b", NULL }, { "p384", NULL },
	{ "p192", NULL }, { "ed25519", NULL }, { "ed448", NULL },
	{ "p256x", NULL },
};

/* P-256 with explicit curve parameters: OpenSSL still names its group. */
static EVP_PKEY *
key_make_explicit(void)
{
	EVP_PKEY_CTX	*ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY	*key = NULL;
	OSSL_PARAM	 params[] = {
		OSSL_PARAM_utf8_string("group", "P-256", 0),
		OSSL_PARAM_utf8_string("encoding", "explicit", 0),
		OSSL_PARAM_END
	};

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &key), 1);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static EVP_PKEY *
key_make_pss(void)
{
	EVP_PKEY_CTX	*ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS",
	    NULL);
	EVP_PKEY	*key = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &key), 1);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static EVP_PKEY *
key_make(const char *name)
{
	if (strcmp(name, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(name, "rsa1024") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (strcmp(name, "pss2048") == 0)
		return key_make_pss();
	if (strcmp(name, "p256x") == 0)
		return key_make_explicit();
	if (strncmp(name, "p256", 4) == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(name, "p384") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (strcmp(name, "p192") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-192");
	if (strcmp(name, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (strcmp(name, "ed448") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	return NULL;
}

EVP_PKEY *
testpki_key_new(const char *name)
{
	EVP_PKEY *key = key_make(name);

	if (key == NULL)
		fail_msg("cannot make a test key %s", name);
	return key;
}

EVP_PKEY *
testpki_key(const char *name)
{
	for (size_t i = 0; i < NITEMS(shared_keys); i++)
		if (strcmp(shared_keys[i].name, name) == 0) {
			if (shared_keys[i].pkey == NULL)
				shared_keys[i].pkey = testpki_key_new(name);
			return shared_keys[i].pkey;
		}
	fail_msg("no test key %s", name);
	return NULL;
}

void
testpki_keys_free(void)
{
	for (size_t i = 0; i < NITEMS(shared_keys); i++) {
		EVP_PKEY_free(shared_keys[i].pkey);
		shared_keys[i].pkey = NULL;
	}
}

/* --- the CSR and certificate builders --- */

static void
name_fill(X509_NAME *name, const char *spec)
{
	char *copy = strdup(spec), *save = NULL, *tok, *eq;

	assert_non_null(copy);
	for (tok = strtok_r(copy, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		eq = strchr(tok, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(name, tok,
		    MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1, 0), 1);
	}
	free(copy);
}

static void
ext_add(STACK_OF(X509_EXTENSION) *exts, int nid, const char *value)
{
	X509_EXTENSION *ext;

	if (value == NULL)
		return;
	ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
	assert_non_null(ext);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
}

static void
ext_add_raw(STACK_OF(X509_EXTENSION) *exts, int nid,
    const unsigned char *der, int len)
{
	ASN1_OCTET_STRING	*os = ASN1_OCTET_STRING_new();
	X509_EXTENSION		*ext;

	assert_non_null(os);
	assert_int_equal(ASN1_OCTET_STRING_set(os, der, len), 1);
	ext = X509_EXTENSION_create_by_NID(NULL, nid, 0, os);
	assert_non_null(ext);
	ASN1_OCTET_STRING_free(os);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
}

/* A SAN extension of one name, of type with value (consumed). */
static void
ext_add_san(STACK_OF(X509_EXTENSION) *exts, int type, ASN1_STRING *value)
{
	GENERAL_NAMES	*gens = GENERAL_NAMES_new();
	GENERAL_NAME	*gn = GENERAL_NAME_new();
	X509_EXTENSION	*ext;

	assert_non_null(gens);
	assert_non_null(gn);
	GENERAL_NAME_set0_value(gn, type, value);
	assert_true(sk_GENERAL_NAME_push(gens, gn) > 0);
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	assert_non_null(ext);
	GENERAL_NAMES_free(gens);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
}

/* A SAN with a 5-byte iPAddress, which no v3 config string can make. */
static void
ext_add_ip5(STACK_OF(X509_EXTENSION) *exts)
{
	ASN1_OCTET_STRING *ip = ASN1_OCTET_STRING_new();

	assert_non_null(ip);
	assert_int_equal(ASN1_OCTET_STRING_set(ip,
	    (const unsigned char *)"\x0a\x00\x00\x01\x02", 5), 1);
	ext_add_san(exts, GEN_IPADD, ip);
}

static void
ext_add_raw_san(STACK_OF(X509_EXTENSION) *exts, const struct raw_san *r)
{
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

	assert_non_null(ia5);
	assert_int_equal(ASN1_STRING_set(ia5, r->v, (int)r->len), 1);
	ext_add_san(exts, r->type, ia5);
}

/*
 * implicitCA (RFC 5480 §2.1.1): the key's parameters become a NULL in
 * the parsed request only; the decoded key, which policy_check might
 * have trusted, still says P-256.
 */
static void
csr_make_implicit(X509_REQ *req)
{
	X509_PUBKEY	*spki = X509_REQ_get_X509_PUBKEY(req);
	const unsigned char *pk;
	unsigned char	*copy;
	int		 len;

	assert_int_equal(X509_PUBKEY_get0_param(NULL, &pk, &len, NULL, spki),
	    1);
	assert_non_null(copy = OPENSSL_memdup(pk, (size_t)len));
	assert_int_equal(X509_PUBKEY_set0_param(spki, OBJ_nid2obj(
	    NID_X9_62_id_ecPublicKey), V_ASN1_NULL, NULL, copy, len), 1);
}

static void
csr_add_exts(X509_REQ *req, const struct csr_spec *s)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();

	assert_non_null(exts);
	ext_add(exts, NID_subject_alt_name, s->san);
	ext_add(exts, NID_key_usage, s->ku);
	ext_add(exts, NID_ext_key_usage, s->eku);
	ext_add(exts, NID_basic_constraints, s->bc);
	ext_add(exts, NID_netscape_comment, s->comment);
	if (s->mal == MAL_SAN_TWICE)
		ext_add(exts, NID_subject_alt_name, "DNS:twice.example.com");
	if (s->mal == MAL_SAN_GARBAGE)
		ext_add_raw(exts, NID_subject_alt_name,
		    (const unsigned char *)"\x01\x02", 2);
	if (s->mal == MAL_IP5)
		ext_add_ip5(exts);
	if (s->raw.type != 0)
		ext_add_raw_san(exts, &s->raw);
	if (sk_X509_EXTENSION_num(exts) > 0)
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void
csr_add_password(X509_REQ *req, const char *pw)
{
	assert_int_equal(X509_REQ_add1_attr_by_NID(req,
	    NID_pkcs9_challengePassword, MBSTRING_ASC,
	    (const unsigned char *)pw, -1), 1);
}

/* OpenSSL refuses a second challengePassword attribute: break the one. */
static void
csr_add_bad_password(X509_REQ *req, enum mal mal)
{
	X509_ATTRIBUTE *a = X509_ATTRIBUTE_new();

	assert_non_null(a);
	assert_int_equal(X509_ATTRIBUTE_set1_object(a,
	    OBJ_nid2obj(NID_pkcs9_challengePassword)), 1);
	if (mal == MAL_PW_INTEGER)
		assert_int_equal(X509_ATTRIBUTE_set1_data(a, V_ASN1_INTEGER,
		    "\x01", 1), 1);
	else {
		assert_int_equal(X509_ATTRIBUTE_set1_data(a,
		    V_ASN1_PRINTABLESTRING, "one", 3), 1);
		assert_int_equal(X509_ATTRIBUTE_set1_data(a,
		    V_ASN1_PRINTABLESTRING, "two", 3), 1);
	}
	assert_int_equal(X509_REQ_add1_attr(req, a), 1);
	X509_ATTRIBUTE_free(a);
}

/* A second value in the extensionRequest's SET, asking for evil.com. */
static void
csr_add_second_extreq_value(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION)	*exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION			*san = X509V3_EXT_conf_nid(NULL, NULL,
	    NID_subject_alt_name, "DNS:evil.com");
	unsigned char			*der = NULL;
	int				 len, i;

	assert_non_null(san);
	sk_X509_EXTENSION_push(exts, san);
	len = ASN1_item_i2d((ASN1_VALUE *)exts, &der,
	    ASN1_ITEM_rptr(X509_EXTENSIONS));
	assert_true(len > 2);
	i = X509_REQ_get_attr_by_NID(req, NID_ext_req, -1);
	assert_true(i >= 0);
	assert_int_equal(X509_ATTRIBUTE_set1_data(X509_REQ_get_attr(req, i),
	    V_ASN1_SEQUENCE, der, len), 1);
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static const EVP_MD *
md_get(const char *md)
{
	return md == NULL ? NULL : EVP_get_digestbyname(md);
}

X509_REQ *
testpki_csr(const struct csr_spec *s)
{
	X509_REQ	*req = X509_REQ_new();
	EVP_PKEY	*key = s->key != NULL ? testpki_key(s->key) : s->pkey;

	assert_non_null(req);
	assert_non_null(key);
	assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
	name_fill(X509_REQ_get_subject_name(req), s->subject ? s->subject :
	    "CN=dev-01");
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	csr_add_exts(req, s);
	if (s->mal == MAL_EXTREQ_STRING)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_ext_req,
		    MBSTRING_UTF8, (const unsigned char *)"x", -1), 1);
	if (s->mal == MAL_EXTREQ_TWO_VALUES)
		csr_add_second_extreq_value(req);
	if (s->password != NULL)
		csr_add_password(req, s->password);
	if (s->mal == MAL_PW_TWO_VALUES || s->mal == MAL_PW_INTEGER)
		csr_add_bad_password(req, s->mal);
	assert_true(X509_REQ_sign(req, s->signer != NULL ?
	    testpki_key(s->signer) : key, md_get(s->md)) > 0);
	if (s->mal == MAL_EC_IMPLICIT)
		csr_make_implicit(req);
	return req;
}


/* One extension in v3 syntax, its issuer and subject known (skid, akid). */
static void
cert_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;

	if (value == NULL)
		return;
	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* SHA-256, or no digest for the EdDSA keys that take none. */
static const EVP_MD *
md_for(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);

	return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL :
	    EVP_sha256();
}

static void
cert_set_validity(X509 *x, const struct cert_spec *s)
{
	if (s->not_before_at != NULL)
		assert_int_equal(ASN1_TIME_set_string(X509_getm_notBefore(x),
		    s->not_before_at), 1);
	else
		assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x),
		    s->not_before));
	if (s->not_after_at != NULL)
		assert_int_equal(ASN1_TIME_set_string(X509_getm_notAfter(x),
		    s->not_after_at), 1);
	else
		assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x),
		    s->not_after != 0 ? s->not_after : 3600));
}

X509 *
testpki_cert(const struct cert_spec *s)
{
	EVP_PKEY	*key = s->key != NULL ? testpki_key(s->key) : s->pkey;
	EVP_PKEY	*signer = s->issuer != NULL ? s->issuer_key : key;
	X509		*x;
	X509V3_CTX	 v3;

	if (key == NULL)
		return NULL;
	assert_non_null(x = X509_new());
	if (!s->v1)
		assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x),
	    s->serial != 0 ? s->serial : 1), 1);
	name_fill(X509_get_subject_name(x), s->subject ? s->subject :
	    "CN=test");
	if (s->issuer != NULL)
		assert_int_equal(X509_set_issuer_name(x,
		    X509_get_subject_name(s->issuer)), 1);
	else if (s->issuer_name != NULL)
		name_fill(X509_get_issuer_name(x), s->issuer_name);
	else
		assert_int_equal(X509_set_issuer_name(x,
		    X509_get_subject_name(x)), 1);
	cert_set_validity(x, s);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, s->issuer != NULL ? s->issuer : x, x, NULL, NULL,
	    0);
	cert_add_ext(x, &v3, NID_basic_constraints, s->bc);
	cert_add_ext(x, &v3, NID_key_usage, s->ku);
	cert_add_ext(x, &v3, NID_subject_key_identifier, s->skid);
	cert_add_ext(x, &v3, NID_authority_key_identifier, s->akid);
	cert_add_ext(x, &v3, NID_subject_alt_name, s->san);
	cert_add_ext(x, &v3, NID_ext_key_usage, s->eku);
	assert_non_null(signer);
	if (!s->unsigned_)
		assert_true(X509_sign(x, signer, md_for(signer)) > 0);
	return x;
}

char *
testpki_csr_b64(X509_REQ *req, size_t *len)
{
	unsigned char	*der = NULL;
	int		 derlen = i2d_X509_REQ(req, &der);
	char		*b64;

	assert_true(derlen > 0);
	b64 = b64_encode_lines(der, (size_t)derlen, len);
	assert_non_null(b64);
	OPENSSL_free(der);
	return b64;
}

unsigned char *
testpki_certs_only(X509 *const *certs, int n, int *len)
{
	PKCS7		*p7 = PKCS7_new();
	unsigned char	*der = NULL;

	assert_non_null(p7);
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(PKCS7_add_certificate(p7, certs[i]), 1);
	*len = i2d_PKCS7(p7, &der);
	assert_true(*len > 0);
	PKCS7_free(p7);
	return der;
}

char *
testpki_certs_only_b64(X509 *const *certs, int n, size_t *len)
{
	int		 derlen;
	unsigned char	*der = testpki_certs_only(certs, n, &derlen);
	char		*b64 = b64_encode_lines(der, (size_t)derlen, len);

	assert_non_null(b64);
	OPENSSL_free(der);
	return b64;
}

/* --- files --- */

/* path created or truncated, with exactly mode whatever the umask. */
static FILE *
create_mode(const char *path, mode_t mode)
{
	int	 fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE	*fp;

	if (fd == -1)
		fail_msg("cannot create %s", path);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_non_null(fp = fdopen(fd, "w"));
	return fp;
}

void
testpki_write_key(const char *path, mode_t mode, EVP_PKEY *key,
    const char *pass)
{
	FILE *fp = create_mode(path, mode);

	if (pass != NULL)
		assert_int_equal(PEM_write_PrivateKey(fp, key,
		    EVP_aes_256_cbc(), (const unsigned char *)pass,
		    (int)strlen(pass), NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0,
		    NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
}

void
testpki_write_certs(const char *path, mode_t mode, X509 *a, X509 *b)
{
	FILE *fp = create_mode(path, mode);

	assert_int_equal(PEM_write_X509(fp, a), 1);
	if (b != NULL)
		assert_int_equal(PEM_write_X509(fp, b), 1);
	assert_int_equal(fclose(fp), 0);
}

void
testpki_write_tls(const char *dir, EVP_PKEY **keyp)
{
	EVP_PKEY	*key = testpki_key_new("p256");
	X509		*x = testpki_cert(&(struct cert_spec){ .pkey = key });
	char		 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/key.pem", dir);
	testpki_write_key(path, 0600, key, NULL);
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	testpki_write_certs(path, 0644, x, NULL);
	X509_free(x);
	if (keyp != NULL)
		*keyp = key;
	else
		EVP_PKEY_free(key);
}

/* --- directories --- */

int
testpki_tmpdir(char *buf, size_t size, const char *tag)
{
	const char	*tmp = getenv("TMPDIR");
	int		 n;

	n = snprintf(buf, size, "%s/estrad-%s-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", tag);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(buf) != NULL ? 0 : -1;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
testpki_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct csr *
testpki_csr_parsed(X509_REQ *req)
{
	size_t		 len;
	char		*b64 = testpki_csr_b64(req, &len);
	const char	*reason = NULL;
	struct csr	*csr = csr_parse_body(b64, len, &reason);

	if (csr == NULL)
		fail_msg("csr_parse_body: %s", reason);
	free(b64);
	return csr;
}

/* The rest of fp from its start, NUL-terminated; fp is closed. */
static char *
stream_text(FILE *fp)
{
	long	 len;
	char	*buf;

	/* A capture is written to the fd behind the FILE's back: ask the
	 * fd, by seeking. */
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((len = ftell(fp)) >= 0);
	rewind(fp);
	assert_non_null(buf = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return buf;
}

char *
testpki_file_text(const char *path)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		fail_msg("%s: cannot open", path);
	return stream_text(fp);
}

static FILE	*stderr_capture;
static int	 stderr_saved = -1;

void
testpki_stderr_begin(void)
{
	fflush(stderr);
	assert_non_null(stderr_capture = tmpfile());
	assert_true((stderr_saved = dup(STDERR_FILENO)) >= 0);
	assert_int_equal(dup2(fileno(stderr_capture), STDERR_FILENO),
	    STDERR_FILENO);
}

char *
testpki_stderr_end(void)
{
	fflush(stderr);
	assert_int_equal(dup2(stderr_saved, STDERR_FILENO), STDERR_FILENO);
	close(stderr_saved);
	stderr_saved = -1;
	return stream_text(stderr_capture);
}
