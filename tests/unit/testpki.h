/*
 * testpki: the unit tests' shared fixtures. Keys, certificates and CSRs
 * are built from a spec struct written with designated initializers (one
 * builder each, fields left out take the defaults below), PEM files are
 * written with an exact mode, and a test's temporary directory is made
 * with mkdtemp and removed with nftw. Every builder fails the running
 * cmocka test when OpenSSL refuses; no keys are committed.
 */
#ifndef ESTRAD_TESTPKI_H
#define ESTRAD_TESTPKI_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* A test run between the file's own setup() and teardown(). */
#define FX_TEST(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

/* --- keys --- */

/*
 * Key names: rsa2048, rsa1024, pss2048 (RSA-PSS), p256, p256b (a second
 * P-256 key), p384, p192, p256x (P-256 with explicit curve parameters),
 * ed25519, ed448.
 */

/* A new key of that name's type; the caller frees it. */
EVP_PKEY *testpki_key_new(const char *name);

/* The key of that name, generated on first use and shared until
 * testpki_keys_free() (a group teardown); never free it. */
EVP_PKEY *testpki_key(const char *name);
void testpki_keys_free(void);

/* --- CSRs and certificates --- */

/* Malformations no OpenSSL call makes on its own (test_policy's rows). */
enum mal {
	MAL_NONE, MAL_EXTREQ_STRING, MAL_SAN_TWICE, MAL_SAN_GARBAGE, MAL_IP5,
	MAL_PW_TWO_VALUES, MAL_PW_INTEGER, MAL_EXTREQ_TWO_VALUES,
	MAL_EC_IMPLICIT,
};

/* One IA5String SAN with any bytes (a v3 config string cannot hold a
 * NUL or a control byte). */
struct raw_san {
	int		 type;	/* GEN_DNS, GEN_EMAIL, GEN_URI; 0: none */
	const char	*v;
	size_t		 len;
};
#define RAW(t, s)	{ t, s, sizeof(s) - 1 }

struct csr_spec {
	const char	*key;		/* a testpki_key() name, or pkey */
	const char	*md;		/* "SHA256"...; NULL: none (EdDSA) */
	const char	*subject;	/* "CN=a/O=b"; NULL: "CN=dev-01";
					 * "": an empty subject */
	const char	*san;		/* OpenSSL v3 syntax: "DNS:a,IP:1.2.3.4" */
	const char	*ku;
	const char	*eku;
	const char	*bc;
	const char	*comment;	/* an nsComment extension */
	const char	*password;	/* challengePassword */
	enum mal	 mal;
	struct raw_san	 raw;
	EVP_PKEY	*pkey;		/* this key (key NULL) */
	const char	*signer;	/* signed by this testpki_key()
					 * instead: no proof of possession */
};

/*
 * The first four fields stay in this order: test_policy's rows give them
 * by position. Signed with SHA-256 (none for EdDSA) by issuer_key, or by
 * the certificate's own key when self-signed.
 */
struct cert_spec {
	const char	*key;		/* a testpki_key() name, or: */
	const char	*subject;	/* "CN=a/O=b"; NULL: "CN=test" */
	const char	*san;		/* v3 syntax, as csr_spec's */
	const char	*eku;		/* e.g. "cmcRA": an RA's certificate */
	EVP_PKEY	*pkey;		/* this key (key NULL); neither: no
					 * certificate (NULL) */
	X509		*issuer;	/* NULL: self-issued */
	EVP_PKEY	*issuer_key;	/* with issuer */
	const char	*issuer_name;	/* self-issued, another name */
	long		 serial;	/* 0: 1 */
	long		 not_before;	/* seconds from now */
	long		 not_after;	/* seconds from now; 0: 3600 */
	const char	*not_before_at;	/* "20261127000000Z": instead */
	const char	*not_after_at;
	int		 v1;		/* version 1: no extensions allowed */
	const char	*bc;		/* the rest in v3 syntax, added in */
	const char	*ku;		/* this order before san and eku; */
	const char	*skid;		/* skid/akid see the issuer */
	const char	*akid;
	int		 unsigned_;	/* leave the signature out */
};

/* The CSR or certificate the spec describes; the caller frees it. */
X509_REQ *testpki_csr(const struct csr_spec *s);
X509 *testpki_cert(const struct cert_spec *s);

/* A certs-only PKCS#7 (RFC 7030 §4.1.3, RFC 5652 §5: signed-data, no
 * signers, no content) holding the n certs, as DER (OPENSSL_free it, its
 * length in *len) or in 64-column base64 (malloc'd). */
unsigned char *testpki_certs_only(X509 *const *certs, int n, int *len);
char *testpki_certs_only_b64(X509 *const *certs, int n, size_t *len);

/* The DER of req in 64-column base64, as a client's body; malloc'd, its
 * length in *len. */
char *testpki_csr_b64(X509_REQ *req, size_t *len);

/* req as a client's body, through csr_parse_body (a refusal fails the
 * test with its reason); the caller frees with csr_free. */
struct csr *testpki_csr_parsed(X509_REQ *req);

/* --- files --- */

/* key (encrypted with AES-256-CBC under pass unless NULL), or the certs
 * a then b (b may be NULL), as PEM at path with exactly mode. */
void testpki_write_key(const char *path, mode_t mode, EVP_PKEY *key,
    const char *pass);
void testpki_write_certs(const char *path, mode_t mode, X509 *a, X509 *b);

/* dir/key.pem (0600: config_load refuses others' keys) and dir/cert.pem,
 * self-signed for "CN=test": a listener's TLS pair. The key, if keyp. */
void testpki_write_tls(const char *dir, EVP_PKEY **keyp);

/* A new directory $TMPDIR/estrad-<tag>-XXXXXX (TMPDIR unset: /tmp) in
 * buf; 0, or -1 (for a cmocka setup's return). */
int testpki_tmpdir(char *buf, size_t size, const char *tag);

/* dir and all below it, links not followed; 0, or -1. */
int testpki_rmtree(const char *dir);

/* The whole of a file, NUL-terminated (free it). */
char *testpki_file_text(const char *path);

/* From testpki_stderr_begin() until testpki_stderr_end(), fd 2 is a
 * temporary file; end restores it and returns what was written,
 * NUL-terminated (free it). One capture at a time. */
void testpki_stderr_begin(void);
char *testpki_stderr_end(void);

#endif
