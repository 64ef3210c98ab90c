/*
 * pki: certificates and private keys from PEM files. It owns one promise:
 * every failure comes back as a single line an operator can act on, naming
 * the file and giving the system's or OpenSSL's reason ("cannot open
 * /x/y.pem: No such file or directory"). The OpenSSL error queue is left
 * empty on return, so a later log_ssl_errors() does not report stale
 * errors. Blocking reads: start-up and reload only.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "estrad/pki.h"

/* OpenSSL's reason for the most recent error, then an empty queue. */
static const char *
pki_ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	ERR_clear_error();
	return r != NULL ? r : "unknown error";
}

/*
 * Open path for reading as a BIO. A directory opens fine with fopen() and
 * only fails later with a confusing PEM error, so refuse anything but a
 * regular file here.
 */
static BIO *
pki_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp;
	BIO *bio;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(fp);
		return NULL;
	}
	if ((bio = BIO_new_fp(fp, BIO_CLOSE)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, pki_ssl_reason());
		fclose(fp);
	}
	return bio;
}

/* 1 if the queued error only says the PEM reader found no more blocks. */
static int
pki_pem_eof(void)
{
	unsigned long e = ERR_peek_last_error();

	return e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
}

STACK_OF(X509) *
pki_load_certs(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = NULL;
	BIO *bio;
	X509 *x;

	ERR_clear_error();
	if ((bio = pki_open(path, err, errlen)) == NULL)
		return NULL;
	if ((certs = sk_X509_new_null()) == NULL) {
		snprintf(err, errlen, "%s: %s", path, pki_ssl_reason());
		goto fail;
	}
	/* Other PEM blocks (a key next to the certificate) are skipped. */
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			snprintf(err, errlen, "%s: %s", path,
			    pki_ssl_reason());
			goto fail;
		}
	}
	if (!pki_pem_eof()) {
		snprintf(err, errlen, "%s: bad certificate #%d: %s", path,
		    sk_X509_num(certs) + 1, pki_ssl_reason());
		goto fail;
	}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		snprintf(err, errlen, "%s: no certificate found", path);
		goto fail;
	}
	BIO_free(bio);
	return certs;
fail:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return NULL;
}

/*
 * Refuse encrypted keys instead of letting OpenSSL's default callback
 * prompt on a terminal a daemon does not have.
 */
static int
pki_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

STACK_OF(X509_CRL) *
pki_load_crls(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_CRL)	*crls = NULL;
	BIO			*bio;
	X509_CRL		*crl;

	ERR_clear_error();
	if ((bio = pki_open(path, err, errlen)) == NULL)
		return NULL;
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		snprintf(err, errlen, "%s: %s", path, pki_ssl_reason());
		goto fail;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			snprintf(err, errlen, "%s: %s", path, pki_ssl_reason());
			goto fail;
		}
	}
	if (!pki_pem_eof()) {
		snprintf(err, errlen, "%s: bad CRL #%d: %s", path,
		    sk_X509_CRL_num(crls) + 1, pki_ssl_reason());
		goto fail;
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(crls) == 0) {
		snprintf(err, errlen, "%s: no CRL found", path);
		goto fail;
	}
	BIO_free(bio);
	return crls;
fail:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	BIO_free(bio);
	return NULL;
}

/*
 * OpenSSL 3's decoders say "unsupported" for a file with no key in it and
 * "bad password read" for an encrypted one; say what they mean.
 */
static const char *
pki_key_reason(void)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ) {
		ERR_clear_error();
		return "encrypted, and only unencrypted keys are supported";
	}
	if (ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER &&
	    ERR_GET_REASON(e) == ERR_R_UNSUPPORTED) {
		ERR_clear_error();
		return "no private key in the file";
	}
	return pki_ssl_reason();
}

EVP_PKEY *
pki_load_key(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	BIO *bio;

	ERR_clear_error();
	if ((bio = pki_open(path, err, errlen)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, pki_no_passphrase, NULL);
	if (key == NULL)
		snprintf(err, errlen, "%s: not a PEM private key: %s", path,
		    pki_key_reason());
	BIO_free(bio);
	return key;
}

int
pki_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
	EVP_PKEY *pub;
	int ok;

	if (key == NULL || cert == NULL ||
	    (pub = X509_get0_pubkey(cert)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	/* 0 differs, -1 other key type, -2 cannot compare: all "no". */
	ok = EVP_PKEY_eq(pub, key) == 1;
	ERR_clear_error();
	return ok;
}

int
pki_read_file(const char *path, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	BIO		*bio, *mem = NULL;
	BUF_MEM		*bm;
	unsigned char	 chunk[4096];
	int		 n;

	*out = NULL;
	if ((bio = pki_open(path, err, errlen)) == NULL)
		return -1;
	if ((mem = BIO_new(BIO_s_secmem())) == NULL)
		goto fail;
	while ((n = BIO_read(bio, chunk, sizeof(chunk))) > 0)
		if (BIO_write(mem, chunk, n) != n)
			goto fail;
	BIO_get_mem_ptr(mem, &bm);
	if ((*out = malloc(bm->length ? bm->length : 1)) == NULL)
		goto fail;
	memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	OPENSSL_cleanse(chunk, sizeof(chunk));
	BIO_free(mem);
	BIO_free(bio);
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot read into memory", path);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	BIO_free(mem);
	BIO_free(bio);
	return -1;
}

int
pki_name_text(const X509_NAME *name, char *out, size_t outlen)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	int	 n = -1;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (bio != NULL && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >=
	    0 && (n = BIO_read(bio, out, (int)outlen - 1)) >= 0)
		out[n] = '\0';
	BIO_free(bio);
	return n >= 0 ? 0 : -1;
}

/* OID's short name ("serverAuth"), or its dotted form, appended to buf. */
static void
pki_oid_append(char *buf, size_t len, const ASN1_OBJECT *obj)
{
	size_t	n = strlen(buf);
	int	nid = OBJ_obj2nid(obj);
	char	oid[80];

	if (nid != NID_undef)
		snprintf(oid, sizeof(oid), "%s", OBJ_nid2sn(nid));
	else if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0)
		snprintf(oid, sizeof(oid), "?");
	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", oid);
}

static int
pki_eku_check(X509 *cert, char *why, size_t whylen)
{
	EXTENDED_KEY_USAGE	*eku;
	char			 names[256] = "";
	int			 crit = -1, nid;

	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	if (eku == NULL && crit == -1)
		return 0;	/* none: any purpose */
	if (eku == NULL) {
		snprintf(why, whylen, "has an extendedKeyUsage that cannot "
		    "be read");
		return -1;
	}
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
		if (nid == NID_client_auth || nid == NID_cmcRA) {
			EXTENDED_KEY_USAGE_free(eku);
			return 0;
		}
		pki_oid_append(names, sizeof(names),
		    sk_ASN1_OBJECT_value(eku, i));
	}
	EXTENDED_KEY_USAGE_free(eku);
	snprintf(why, whylen, "has extendedKeyUsage %s only; the CA will "
	    "refuse it as a TLS client certificate: it needs clientAuth or "
	    "id-kp-cmcRA", names);
	return -1;
}

static int
pki_ku_check(X509 *cert, char *why, size_t whylen)
{
	static const struct {
		uint32_t	 bit;
		const char	*name;
	} bits[] = {
		{ KU_NON_REPUDIATION, "nonRepudiation" },
		{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
		{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
		{ KU_KEY_AGREEMENT, "keyAgreement" },
		{ KU_KEY_CERT_SIGN, "keyCertSign" },
		{ KU_CRL_SIGN, "cRLSign" },
		{ KU_ENCIPHER_ONLY, "encipherOnly" },
		{ KU_DECIPHER_ONLY, "decipherOnly" },
	};
	uint32_t	ku = X509_get_key_usage(cert);
	char		names[160] = "";
	size_t		n;

	if (ku == UINT32_MAX || (ku & KU_DIGITAL_SIGNATURE))
		return 0;	/* none, or what TLS needs */
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (ku & bits[i].bit) {
			n = strlen(names);
			snprintf(names + n, sizeof(names) - n, "%s%s",
			    n ? ", " : "", bits[i].name);
		}
	snprintf(why, whylen, "has keyUsage %s without digitalSignature; the "
	    "CA will refuse it as a TLS client certificate: its key signs the "
	    "handshake", names[0] ? names : "(none)");
	return -1;
}

int
pki_tls_client_check(X509 *cert, char *why, size_t whylen)
{
	int rc;

	why[0] = '\0';
	rc = pki_eku_check(cert, why, whylen) == 0 &&
	    pki_ku_check(cert, why, whylen) == 0 ? 0 : -1;
	ERR_clear_error();
	return rc;
}

int
pki_eku_has_cmc_ra(const EXTENDED_KEY_USAGE *eku)
{
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_cmcRA)
			return 1;
	return 0;
}

int
pki_cert_has_cmc_ra(X509 *cert)
{
	EXTENDED_KEY_USAGE	*eku;
	int			 ra;

	if ((eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL)) ==
	    NULL) {
		ERR_clear_error();
		return 0;
	}
	ra = pki_eku_has_cmc_ra(eku);
	EXTENDED_KEY_USAGE_free(eku);
	return ra;
}
