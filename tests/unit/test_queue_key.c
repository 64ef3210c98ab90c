/*
 * Queue keys (RFC 7030 §4.2.3): a client's retry matches its queued
 * request on label, operation, identity, public key and subject, even
 * though its CSR's bytes differ (a fresh challengePassword for channel
 * binding); any one of the five differing makes another request. CSRs
 * are built here with throwaway EC keys; the seed CSR of RFC 7030 is read
 * from $ESTRAD_TEST_DATA/seed-csr.b64. Expected public key hashes are
 * computed from the CSR's own DER (walked here, not re-encoded), so the
 * module's i2d_PUBKEY is checked against the bytes the client signed.
 */
#include <ctype.h>
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
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "estrad/csr.h"
#include "estrad/queue.h"

#include "testdata.h"
#include "testpki.h"

/*
 * The seed CSR's SPKI hash as the openssl CLI computes it:
 *   openssl req -in seed.pem -noout -pubkey |
 *       openssl pkey -pubin -outform DER | sha256sum
 * (seed.pem: seed-csr.b64 between CERTIFICATE REQUEST armour lines).
 */
#define SEED_SPKI_SHA256 \
	"0afb682f64e10f09ffbdc6e16be0fd6226059ea1f7f285e60bc51d773c6bd892"
#define SEED_SUBJECT	"CN=demostep4 1368141352"

struct fixture {
	EVP_PKEY	*keys[2];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	for (size_t i = 0; i < NITEMS(f->keys); i++)
		f->keys[i] = testpki_key_new("p256");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < NITEMS(f->keys); i++)
		EVP_PKEY_free(f->keys[i]);
	free(f);
	return 0;
}

/* A signed CSR for O=Example, CN=cn; challenge NULL: no attribute. */
static X509_REQ *
make_req(EVP_PKEY *key, const char *cn, const char *challenge)
{
	char subject[128];

	snprintf(subject, sizeof(subject), "O=Example/CN=%s", cn);
	return testpki_csr(&(struct csr_spec){ .pkey = key, .md = "SHA256",
	    .subject = subject, .password = challenge });
}

static void
set_id(struct auth_identity *id, enum auth_method m, const char *name)
{
	memset(id, 0, sizeof(*id));
	id->method = m;
	snprintf(id->name, sizeof(id->name), "%s", name);
}

/* ---- an independent SPKI hash -------------------------------------------- */

/* One DER element at p: header and content lengths. 0, or -1. */
static int
der_elem(const unsigned char *p, size_t avail, int tag, size_t *hdr,
    size_t *len)
{
	size_t n;

	if (avail < 2 || p[0] != tag)
		return -1;
	if (p[1] < 0x80) {
		*hdr = 2;
		*len = p[1];
	} else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 4 || avail < 2 + n)
			return -1;
		*len = 0;
		for (size_t i = 0; i < n; i++)
			*len = *len << 8 | p[2 + i];
		*hdr = 2 + n;
	}
	return *hdr + *len <= avail ? 0 : -1;
}

/*
 * The SubjectPublicKeyInfo as it stands in a CSR's DER (RFC 2986 §4.1:
 * CertificationRequest { CertificationRequestInfo { version, subject,
 * subjectPKInfo, ... }, ... }), and the hex SHA-256 of those bytes.
 */
static void
spki_hash_of_der(const unsigned char *der, size_t derlen, char hex[65])
{
	const unsigned char	*p = der, *end = der + derlen;
	size_t			 hdr, len;
	unsigned char		 md[32];
	unsigned int		 mdlen = 0;

	assert_int_equal(der_elem(p, end - p, 0x30, &hdr, &len), 0);
	p += hdr;			/* into CertificationRequest */
	assert_int_equal(der_elem(p, end - p, 0x30, &hdr, &len), 0);
	p += hdr;			/* into CertificationRequestInfo */
	assert_int_equal(der_elem(p, end - p, 0x02, &hdr, &len), 0);
	p += hdr + len;			/* over version */
	assert_int_equal(der_elem(p, end - p, 0x30, &hdr, &len), 0);
	p += hdr + len;			/* over subject */
	assert_int_equal(der_elem(p, end - p, 0x30, &hdr, &len), 0);
	assert_int_equal(EVP_Digest(p, hdr + len, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(mdlen, 32);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
spki_hash_of_req(X509_REQ *req, char hex[65])
{
	unsigned char	*der = NULL;
	int		 len = i2d_X509_REQ(req, &der);

	assert_true(len > 0);
	spki_hash_of_der(der, (size_t)len, hex);
	OPENSSL_free(der);
}

/* ---- matching ------------------------------------------------------------ */

struct side {
	const char	*label;
	enum est_op	 op;
	enum auth_method method;
	const char	*name;		/* NULL: no identity at all */
	int		 key;		/* index in the fixture */
	const char	*cn;
	const char	*challenge;
};

struct pair_case {
	const char	*what;
	struct side	 a, b;
	int		 equal;
};

#define ENROLL		EST_OP_SIMPLEENROLL
#define REENROLL	EST_OP_SIMPLEREENROLL
#define DIGEST		AUTH_METHOD_DIGEST
#define BASIC		AUTH_METHOD_BASIC
#define CERT		AUTH_METHOD_CERT
#define ANON		AUTH_METHOD_MAX
/* alice's simpleenroll of dev1 with key 0 on label ra: each row below
 * changes one thing of it. */
#define ALICE_DEV1	{ "ra", ENROLL, DIGEST, "alice", 0, "dev1", "x" }

static const struct pair_case pair_cases[] = {
	{ "a retry with a new challengePassword matches",
	  { "ra", ENROLL, DIGEST, "alice", 0, "dev1", "tls-unique-1" },
	  { "ra", ENROLL, DIGEST, "alice", 0, "dev1", "tls-unique-2" }, 1 },
	{ "a retry without a challengePassword matches",
	  { "ra", ENROLL, DIGEST, "alice", 0, "dev1", "tls-unique-1" },
	  { "ra", ENROLL, DIGEST, "alice", 0, "dev1", NULL }, 1 },
	{ "another key", ALICE_DEV1,
	  { "ra", ENROLL, DIGEST, "alice", 1, "dev1", "x" }, 0 },
	{ "another subject", ALICE_DEV1,
	  { "ra", ENROLL, DIGEST, "alice", 0, "dev2", "x" }, 0 },
	{ "another user", ALICE_DEV1,
	  { "ra", ENROLL, DIGEST, "bob", 0, "dev1", "x" }, 0 },
	{ "the same name by another method (digest, cert)", ALICE_DEV1,
	  { "ra", ENROLL, CERT, "alice", 0, "dev1", "x" }, 0 },
	{ "the same name by another method (digest, basic)", ALICE_DEV1,
	  { "ra", ENROLL, BASIC, "alice", 0, "dev1", "x" }, 0 },
	{ "another label", ALICE_DEV1,
	  { "rb", ENROLL, DIGEST, "alice", 0, "dev1", "x" }, 0 },
	{ "a label against the bare path", ALICE_DEV1,
	  { "", ENROLL, DIGEST, "alice", 0, "dev1", "x" }, 0 },
	{ "no label is the bare path",
	  { NULL, ENROLL, DIGEST, "alice", 0, "dev1", "x" },
	  { "", ENROLL, DIGEST, "alice", 0, "dev1", "y" }, 1 },
	{ "another operation", ALICE_DEV1,
	  { "ra", REENROLL, DIGEST, "alice", 0, "dev1", "x" }, 0 },
	{ "anonymous: no identity, or one without a method or name",
	  { "ra", ENROLL, ANON, NULL, 0, "dev1", "x" },
	  { "ra", ENROLL, ANON, "ignored", 0, "dev1", "y" }, 1 },
	{ "anonymous: a method without a name",
	  { "ra", ENROLL, DIGEST, "", 0, "dev1", "x" },
	  { "ra", ENROLL, ANON, NULL, 0, "dev1", "y" }, 1 },
	{ "anonymous against a user",
	  { "ra", ENROLL, ANON, NULL, 0, "dev1", "x" },
	  { "ra", ENROLL, DIGEST, "anonymous", 0, "dev1", "x" }, 0 },
};

static void
side_key(struct fixture *f, const struct side *s, struct queue_key *k,
    unsigned char **der, int *derlen)
{
	struct auth_identity	 id;
	X509_REQ		*req = make_req(f->keys[s->key], s->cn,
				    s->challenge);

	set_id(&id, s->method, s->name != NULL ? s->name : "");
	assert_int_equal(queue_key_make(k, s->label, s->op,
	    s->name != NULL ? &id : NULL, req), 0);
	*der = NULL;
	*derlen = i2d_X509_REQ(req, der);
	assert_true(*derlen > 0);
	X509_REQ_free(req);
}

static void
test_match_table(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < NITEMS(pair_cases); i++) {
		const struct pair_case	*c = &pair_cases[i];
		struct queue_key	 ka, kb;
		unsigned char		*da, *db;
		int			 la, lb;

		print_message("case %zu: %s\n", i, c->what);
		side_key(f, &c->a, &ka, &da, &la);
		side_key(f, &c->b, &kb, &db, &lb);
		/* the point: the CSRs' bytes never match */
		assert_true(la != lb || memcmp(da, db, (size_t)la) != 0);
		assert_int_equal(queue_key_equal(&ka, &kb), c->equal);
		assert_int_equal(queue_key_equal(&kb, &ka), c->equal);
		assert_int_equal(queue_key_equal(&ka, &ka), 1);
		OPENSSL_free(da);
		OPENSSL_free(db);
	}
}

/* The fields as text, as the store and `estrad queue list` show them. */
static void
test_fields(void **state)
{
	struct fixture		*f = *state;
	struct queue_key	 k;
	struct auth_identity	 id;
	X509_REQ		*req = make_req(f->keys[0], "dev1", "pw");
	char			 want[65], other[65];
	unsigned char		*spki = NULL, md[32];
	unsigned int		 mdlen = 0;
	int			 len;

	set_id(&id, CERT, "CN=dev1,O=Example");
	assert_int_equal(queue_key_make(&k, "ra", REENROLL, &id, req), 0);
	assert_string_equal(k.label, "ra");
	assert_string_equal(k.op, "simplereenroll");
	assert_string_equal(k.identity, "cert:CN=dev1,O=Example");
	/* RFC 2253 lists the most significant RDN last */
	assert_string_equal(k.subject, "CN=dev1,O=Example");
	assert_int_equal(strlen(k.pubkey), 64);
	for (size_t i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)k.pubkey[i]) &&
		    !isupper((unsigned char)k.pubkey[i]));
	/* the bytes the client signed */
	spki_hash_of_req(req, want);
	assert_string_equal(k.pubkey, want);
	/* and the encoder, independently of the module */
	len = i2d_PUBKEY(X509_REQ_get0_pubkey(req), &spki);
	assert_true(len > 0);
	assert_int_equal(EVP_Digest(spki, (size_t)len, md, &mdlen,
	    EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(other + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(k.pubkey, other);
	OPENSSL_free(spki);

	set_id(&id, DIGEST, "alice");
	assert_int_equal(queue_key_make(&k, NULL, ENROLL, &id, req), 0);
	assert_string_equal(k.label, "");
	assert_string_equal(k.op, "simpleenroll");
	assert_string_equal(k.identity, "digest:alice");
	assert_int_equal(queue_key_make(&k, NULL, ENROLL, NULL, req), 0);
	assert_string_equal(k.identity, "anonymous");
	X509_REQ_free(req);
}

/* ---- refusals ------------------------------------------------------------ */

/* A failed key is all empty: it can match no stored entry. */
static void
assert_refused(struct queue_key *k)
{
	static const struct queue_key zero;

	assert_memory_equal(k, &zero, sizeof(zero));
}

/* Seven 64-character OUs and a CN of cnlen: RFC 2253 text of 479+cnlen. */
static X509_REQ *
make_long_req(EVP_PKEY *key, size_t ous, size_t cnlen, size_t *textlen)
{
	BIO		*bio = BIO_new(BIO_s_mem());
	char		 ou[65], cn[65], subject[2048], *p = subject;
	X509_REQ	*req;

	assert_non_null(bio);
	assert_true(cnlen < sizeof(cn));
	assert_true(ous * (3 + 64 + 1) + 3 + cnlen < sizeof(subject));
	memset(ou, 'a', 64);
	ou[64] = '\0';
	memset(cn, 'b', cnlen);
	cn[cnlen] = '\0';
	for (size_t i = 0; i < ous; i++)
		p += sprintf(p, "OU=%s/", ou);
	sprintf(p, "CN=%s", cn);
	req = testpki_csr(&(struct csr_spec){ .pkey = key, .md = "SHA256",
	    .subject = subject });
	/* the length the printer gives, measured here */
	assert_true(X509_NAME_print_ex(bio, X509_REQ_get_subject_name(req), 0,
	    XN_FLAG_RFC2253) > 0);
	*textlen = (size_t)BIO_pending(bio);
	BIO_free(bio);
	return req;
}

static void
test_subject_must_fit(void **state)
{
	static const struct {
		size_t	ous, cnlen, textlen;
		int	rc;
	} cases[] = {
		{ 7, 32, 511, 0 },	/* 511 + NUL: exactly fits */
		{ 7, 33, 512, -1 },	/* one more would be cut */
		{ 7, 64, 543, -1 },
		{ 20, 8, 1371, -1 },
	};
	struct fixture		*f = *state;
	struct auth_identity	 id;
	struct queue_key	 k;

	set_id(&id, DIGEST, "alice");
	for (size_t i = 0; i < NITEMS(cases); i++) {
		size_t		 textlen;
		X509_REQ	*req = make_long_req(f->keys[0], cases[i].ous,
				    cases[i].cnlen, &textlen);

		print_message("case %zu: subject of %zu\n", i, textlen);
		assert_int_equal(textlen, cases[i].textlen);
		assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, req),
		    cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(strlen(k.subject), textlen);
		else
			assert_refused(&k);
		X509_REQ_free(req);
	}
}

static void
test_refusals(void **state)
{
	struct fixture		*f = *state;
	struct auth_identity	 id;
	struct queue_key	 k;
	X509_REQ		*req = make_req(f->keys[0], "dev1", NULL);
	X509_REQ		*nokey = X509_REQ_new();
	X509_REQ		*empty = X509_REQ_new();
	char			 label[sizeof(k.label) + 1];

	set_id(&id, DIGEST, "alice");
	/* no public key, no CSR, no operation */
	assert_non_null(nokey);
	assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, nokey), -1);
	assert_refused(&k);
	assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, NULL), -1);
	assert_refused(&k);
	assert_int_equal(queue_key_make(&k, "ra", EST_OP_MAX, &id, req), -1);
	assert_refused(&k);

	/* the longest label that fits, and one more */
	memset(label, 'x', sizeof(label) - 1);
	label[sizeof(label) - 1] = '\0';
	assert_int_equal(queue_key_make(&k, label, ENROLL, &id, req), -1);
	assert_refused(&k);
	label[sizeof(label) - 2] = '\0';
	assert_int_equal(queue_key_make(&k, label, ENROLL, &id, req), 0);
	assert_string_equal(k.label, label);

	/* the longest identity always fits: 255 characters of name */
	memset(id.name, 'n', sizeof(id.name) - 1);
	id.name[sizeof(id.name) - 1] = '\0';
	assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, req), 0);
	assert_int_equal(strlen(k.identity), strlen("digest:") + 255);

	/* an empty subject (names in the SAN only) is "" */
	assert_non_null(empty);
	assert_int_equal(X509_REQ_set_pubkey(empty, f->keys[1]), 1);
	assert_true(X509_REQ_sign(empty, f->keys[1], EVP_sha256()) > 0);
	assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, empty), 0);
	assert_string_equal(k.subject, "");
	assert_int_equal(strlen(k.pubkey), 64);

	X509_REQ_free(empty);
	X509_REQ_free(nokey);
	X509_REQ_free(req);
}

/* ---- stored entries ------------------------------------------------------ */

static void
test_of_entry(void **state)
{
	struct fixture		*f = *state;
	struct auth_identity	 id;
	struct queue_key	 k, back;
	struct store_entry	 e;
	X509_REQ		*req = make_req(f->keys[1], "dev9", "pw");

	set_id(&id, BASIC, "carol");
	assert_int_equal(queue_key_make(&k, "ra", ENROLL, &id, req), 0);
	memset(&e, 0, sizeof(e));
	snprintf(e.label, sizeof(e.label), "%s", k.label);
	snprintf(e.op, sizeof(e.op), "%s", k.op);
	snprintf(e.identity, sizeof(e.identity), "%s", k.identity);
	snprintf(e.pubkey, sizeof(e.pubkey), "%s", k.pubkey);
	snprintf(e.subject, sizeof(e.subject), "%s", k.subject);
	snprintf(e.note, sizeof(e.note), "not part of the key");
	e.id = 42;
	e.state = QS_POLLING;
	queue_key_of_entry(&back, &e);
	assert_int_equal(queue_key_equal(&k, &back), 1);
	assert_string_equal(back.identity, "basic:carol");

	e.pubkey[63] = e.pubkey[63] == '0' ? '1' : '0';
	queue_key_of_entry(&back, &e);
	assert_int_equal(queue_key_equal(&k, &back), 0);

	/* a damaged row without its NUL still gives a terminated key */
	memset(e.subject, 'S', sizeof(e.subject));
	queue_key_of_entry(&back, &e);
	assert_int_equal(strlen(back.subject), sizeof(back.subject) - 1);
	X509_REQ_free(req);
}

/* ---- the seed CSR of RFC 7030 -------------------------------------------- */

/* The DER, decoded by OpenSSL's own base64 rather than estrad's. */
static unsigned char *
seed_der(const char *b64, size_t len, size_t *derlen)
{
	char		*clean = malloc(len + 1);
	unsigned char	*der;
	size_t		 n = 0, pad = 0;
	int		 got;

	assert_non_null(clean);
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)b64[i]))
			clean[n++] = b64[i];
	clean[n] = '\0';
	for (size_t i = n; i > 0 && clean[i - 1] == '='; i--)
		pad++;
	der = malloc(n / 4 * 3 + 1);
	assert_non_null(der);
	got = EVP_DecodeBlock(der, (const unsigned char *)clean, (int)n);
	assert_true(got > 0);
	*derlen = (size_t)got - pad;
	free(clean);
	return der;
}

static void
test_seed(void **state)
{
	size_t			 b64len, derlen;
	char			*b64 = testdata_read("seed-csr.b64", &b64len);
	unsigned char		*der = seed_der(b64, b64len, &derlen);
	const char		*reason = NULL;
	struct csr		*a, *b;
	struct auth_identity	 id;
	struct queue_key	 ka, kb;
	char			 want[65];

	spki_hash_of_der(der, derlen, want);
	assert_string_equal(want, SEED_SPKI_SHA256);

	a = csr_parse_body(b64, b64len, &reason);
	assert_non_null(a);
	b = csr_parse_body(b64, b64len, &reason);
	assert_non_null(b);
	set_id(&id, DIGEST, "estuser");
	assert_int_equal(queue_key_make(&ka, "", ENROLL, &id, a->csr_req), 0);
	assert_string_equal(ka.pubkey, want);
	assert_string_equal(ka.subject, SEED_SUBJECT);
	assert_string_equal(ka.identity, "digest:estuser");
	/* parsed again: the same key */
	assert_int_equal(queue_key_make(&kb, NULL, ENROLL, &id, b->csr_req),
	    0);
	assert_int_equal(queue_key_equal(&ka, &kb), 1);
	csr_free(a);
	csr_free(b);
	free(der);
	free(b64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_subject_must_fit),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_of_entry),
		cmocka_unit_test(test_seed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
