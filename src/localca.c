/*
 * localca: a CA inside estrad, for labs, tests and demos. It owns a CA
 * certificate and key loaded at start-up, and answers the EST operations
 * the way a real EST CA does (RFC 7030 §4): cacerts and simpleenroll as
 * base64 certs-only PKCS#7, csrattrs as base64 DER CsrAttrs.
 *
 * What it promises: a loaded CA is usable (the key matches the
 * certificate, the certificate is a CA, the chain leads from it to a root
 * in the chain, so cacerts is complete); cacerts and csrattrs are computed
 * once at load; an issued certificate carries what RFC 7030 clients need
 * to re-enroll (clientAuth EKU, AKI/SKI, the CSR's subject and SAN) and
 * never outlives the CA. Nothing is read from disk after localca_new().
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "estrad/b64.h"
#include "estrad/localca.h"
#include "estrad/log.h"
#include "estrad/pki.h"

#define LOCALCA_MAX_DAYS	36500	/* a lab CA has no business beyond */
#define LOCALCA_SERIAL_LEN	20	/* octets, RFC 5280 §4.1.2.2 */

struct localca {
	char		*lc_name;	/* for logs */
	X509		*lc_cert;
	EVP_PKEY	*lc_key;
	const EVP_MD	*lc_md;		/* NULL for Ed25519/Ed448 */
	int		 lc_sig_nid;	/* announced in csrattrs */
	int		 lc_days;
	AUTHORITY_KEYID	*lc_aki;	/* put into every issued cert */
	char		*lc_cacerts;	/* base64 body, computed at load */
	size_t		 lc_cacerts_len;
	char		*lc_csrattrs;	/* base64 body, computed at load */
	size_t		 lc_csrattrs_len;
};

/*
 * Answer a failure: 400 with its reason for a request we will not sign,
 * else log with OpenSSL's reason (if any) and answer a bare 500, since
 * 500 answers carry no internals (house style).
 */
static int
localca_fail(struct localca *ca, struct est_reply *reply, int status,
    const char *what)
{
	char buf[256] = "no OpenSSL error";
	unsigned long e;

	if ((e = ERR_peek_last_error()) != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (status == 400)
		return est_reply_error(reply, 400, "%s", what);
	log_err("local CA %s: %s: %s", ca->lc_name, what, buf);
	return est_reply_error(reply, 500, "local CA: %s", what);
}

/* Make reply a 200 of type ct with a copy of body. -1 if out of memory. */
static int
localca_set_body(struct est_reply *reply, const char *ct, const char *body,
    size_t len)
{
	est_reply_clear(reply);
	if ((reply->body = malloc(len)) == NULL)
		return -1;
	memcpy(reply->body, body, len);
	reply->body_len = len;
	reply->status = 200;
	snprintf(reply->content_type, sizeof(reply->content_type), "%s", ct);
	return 0;
}

/*
 * Base64 of a DER certs-only PKCS#7 (RFC 7030 §4.1.3): signedData with
 * the certificates, no signers and no encapsulated content. Detaching the
 * content drops the empty OCTET STRING PKCS7_content_new() puts there.
 */
static char *
localca_certs_only(STACK_OF(X509) *certs, size_t *len)
{
	unsigned char *der = NULL;
	char *b64 = NULL;
	PKCS7 *p7;
	int i, derlen;

	if ((p7 = PKCS7_new()) == NULL ||
	    !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) ||
	    !PKCS7_set_detached(p7, 1))
		goto fail;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i)))
			goto fail;
	if ((derlen = i2d_PKCS7(p7, &der)) <= 0)
		goto fail;
	b64 = b64_encode_lines(der, (size_t)derlen, len);
fail:
	OPENSSL_free(der);
	PKCS7_free(p7);
	return b64;
}

/*
 * Base64 of a DER CsrAttrs (RFC 7030 §4.5.2): SEQUENCE OF AttrOrOID,
 * here only bare OIDs.
 */
static char *
localca_csrattrs_der(const int *nids, size_t n, size_t *len)
{
	unsigned char *der = NULL, *p;
	char *b64 = NULL;
	int content = 0, total, olen;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((olen = i2d_ASN1_OBJECT(OBJ_nid2obj(nids[i]), NULL)) <= 0)
			return NULL;
		content += olen;
	}
	total = ASN1_object_size(1, content, V_ASN1_SEQUENCE);
	if (total <= 0 || (der = malloc((size_t)total)) == NULL)
		return NULL;
	p = der;
	ASN1_put_object(&p, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (i = 0; i < n; i++)
		i2d_ASN1_OBJECT(OBJ_nid2obj(nids[i]), &p);
	b64 = b64_encode_lines(der, (size_t)total, len);
	free(der);
	return b64;
}

/* The signature algorithm follows the CA key; other key types refused. */
static int
localca_pick_sig(struct localca *ca)
{
	switch (EVP_PKEY_get_base_id(ca->lc_key)) {
	case EVP_PKEY_EC:
		ca->lc_md = EVP_sha256();
		ca->lc_sig_nid = NID_ecdsa_with_SHA256;
		return 0;
	case EVP_PKEY_RSA:
		ca->lc_md = EVP_sha256();
		ca->lc_sig_nid = NID_sha256WithRSAEncryption;
		return 0;
	case EVP_PKEY_ED25519:	/* EdDSA hashes internally: no digest */
		ca->lc_md = NULL;
		ca->lc_sig_nid = NID_ED25519;
		return 0;
	case EVP_PKEY_ED448:
		ca->lc_md = NULL;
		ca->lc_sig_nid = NID_ED448;
		return 0;
	default:
		return -1;
	}
}

/*
 * The AKI of every issued certificate: the CA's own SKI, or, for a CA
 * certificate without one, the SHA-1 of its public key (RFC 5280
 * §4.2.1.2 method 1), which is what its SKI would most likely have been.
 */
static AUTHORITY_KEYID *
localca_make_aki(X509 *cert)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	AUTHORITY_KEYID *aki;

	if ((aki = AUTHORITY_KEYID_new()) == NULL)
		return NULL;
	if (ski != NULL) {
		aki->keyid = ASN1_OCTET_STRING_dup(ski);
	} else if (X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen) &&
	    (aki->keyid = ASN1_OCTET_STRING_new()) != NULL &&
	    !ASN1_OCTET_STRING_set(aki->keyid, md, (int)mdlen)) {
		ASN1_OCTET_STRING_free(aki->keyid);
		aki->keyid = NULL;
	}
	if (aki->keyid == NULL) {
		AUTHORITY_KEYID_free(aki);
		return NULL;
	}
	return aki;
}

/* Certificate and key: present, matching, a CA, a key type we sign with. */
static int
localca_load_pair(struct localca *ca, const struct cfg_localca *cfg,
    char *err, size_t errlen)
{
	STACK_OF(X509) *certs;

	if ((certs = pki_load_certs(cfg->certificate, err, errlen)) == NULL)
		return -1;
	/* The first certificate is the CA's; any others are its chain. */
	ca->lc_cert = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	if ((ca->lc_key = pki_load_key(cfg->key, err, errlen)) == NULL)
		return -1;
	if (!pki_key_matches_cert(ca->lc_key, ca->lc_cert)) {
		snprintf(err, errlen, "%s: private key does not match "
		    "certificate %s", cfg->key, cfg->certificate);
		return -1;
	}
	if (X509_check_ca(ca->lc_cert) == 0) {
		snprintf(err, errlen, "%s: not a CA certificate "
		    "(needs CA:TRUE and keyCertSign)", cfg->certificate);
		return -1;
	}
	if (localca_pick_sig(ca) == -1) {
		snprintf(err, errlen, "%s: unsupported CA key type %s "
		    "(use EC, RSA, Ed25519 or Ed448)", cfg->key,
		    OBJ_nid2sn(EVP_PKEY_get_base_id(ca->lc_key)));
		return -1;
	}
	return 0;
}

/*
 * The chain cacerts serves: the configured chain file, or the certificate
 * file itself when there is none, with the CA certificate first if the
 * file lacks it (a client must get every certificate up to the root).
 */
static STACK_OF(X509) *
localca_load_chain(struct localca *ca, const struct cfg_localca *cfg,
    char *err, size_t errlen)
{
	const char *path = cfg->chain != NULL ? cfg->chain : cfg->certificate;
	STACK_OF(X509) *chain;
	int i;

	if ((chain = pki_load_certs(path, err, errlen)) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), ca->lc_cert) == 0)
			return chain;
	if (!X509_up_ref(ca->lc_cert))
		goto fail;
	if (!sk_X509_unshift(chain, ca->lc_cert)) {
		X509_free(ca->lc_cert);
		goto fail;
	}
	return chain;
fail:
	snprintf(err, errlen, "%s: out of memory", path);
	sk_X509_pop_free(chain, X509_free);
	return NULL;
}

/*
 * Verify the CA certificate up to a self-signed certificate of the chain:
 * cacerts without the intermediates or the root leaves clients unable to
 * build a path (RFC 7030 §4.1.3), and an expired CA is caught at start-up
 * rather than by the first client.
 */
static int
localca_check_chain(struct localca *ca, STACK_OF(X509) *chain,
    const char *path, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store;
	int i, rc = -1;

	snprintf(err, errlen, "%s: cannot check the chain: out of memory",
	    path);
	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL)
		goto fail;
	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		if (X509_self_signed(c, 0) == 1 &&
		    !X509_STORE_add_cert(store, c))
			goto fail;
	}
	if (!X509_STORE_CTX_init(ctx, store, ca->lc_cert, chain))
		goto fail;
	if (X509_verify_cert(ctx) != 1) {
		snprintf(err, errlen, "%s: CA certificate does not chain to a "
		    "root in it: %s", path, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
		goto fail;
	}
	rc = 0;
fail:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* What never changes after load: cacerts, csrattrs and the AKI. */
static int
localca_precompute(struct localca *ca, const struct cfg_localca *cfg,
    char *err, size_t errlen)
{
	STACK_OF(X509) *chain;
	const char *path = cfg->chain != NULL ? cfg->chain : cfg->certificate;
	int rc = -1;

	if ((chain = localca_load_chain(ca, cfg, err, errlen)) == NULL)
		return -1;
	if (localca_check_chain(ca, chain, path, err, errlen) == -1)
		goto fail;
	if ((ca->lc_cacerts = localca_certs_only(chain,
	    &ca->lc_cacerts_len)) == NULL ||
	    (ca->lc_csrattrs = localca_csrattrs_der(&ca->lc_sig_nid, 1,
	    &ca->lc_csrattrs_len)) == NULL ||
	    (ca->lc_aki = localca_make_aki(ca->lc_cert)) == NULL) {
		snprintf(err, errlen, "local CA %s: cannot encode cacerts, "
		    "csrattrs or the AKI", ca->lc_name);
		goto fail;
	}
	rc = 0;
fail:
	ERR_clear_error();
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

struct localca *
localca_new(const struct cfg_localca *cfg, char *err, size_t errlen)
{
	struct localca *ca;

	if (errlen > 0)
		err[0] = '\0';
	if (cfg->validity_days < 1 || cfg->validity_days > LOCALCA_MAX_DAYS) {
		snprintf(err, errlen, "local CA %s: validity_days %ld out of "
		    "range 1..%d", cfg->name != NULL ? cfg->name : "",
		    cfg->validity_days, LOCALCA_MAX_DAYS);
		return NULL;
	}
	if ((ca = calloc(1, sizeof(*ca))) == NULL ||
	    (ca->lc_name = strdup(cfg->name != NULL ? cfg->name : "")) ==
	    NULL) {
		snprintf(err, errlen, "local CA: out of memory");
		goto fail;
	}
	ca->lc_days = (int)cfg->validity_days;
	if (localca_load_pair(ca, cfg, err, errlen) == -1 ||
	    localca_precompute(ca, cfg, err, errlen) == -1)
		goto fail;
	return ca;
fail:
	localca_free(ca);
	return NULL;
}

void
localca_free(struct localca *ca)
{
	if (ca == NULL)
		return;
	free(ca->lc_name);
	X509_free(ca->lc_cert);
	EVP_PKEY_free(ca->lc_key);
	AUTHORITY_KEYID_free(ca->lc_aki);
	free(ca->lc_cacerts);
	free(ca->lc_csrattrs);
	free(ca);
}

int
localca_cacerts(struct localca *ca, struct est_reply *reply)
{
	if (localca_set_body(reply, EST_CT_PKCS7, ca->lc_cacerts,
	    ca->lc_cacerts_len) == -1)
		return localca_fail(ca, reply, 500, "out of memory");
	return 0;
}

int
localca_csrattrs(struct localca *ca, struct est_reply *reply)
{
	if (localca_set_body(reply, EST_CT_CSRATTRS, ca->lc_csrattrs,
	    ca->lc_csrattrs_len) == -1)
		return localca_fail(ca, reply, 500, "out of memory");
	return 0;
}

/* 159 random bits: positive and at most 20 octets (RFC 5280 §4.1.2.2). */
static int
localca_set_serial(X509 *x)
{
	unsigned char buf[LOCALCA_SERIAL_LEN];
	BIGNUM *bn = NULL;
	int ok;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return -1;
	buf[0] &= 0x7f;
	ok = (bn = BN_bin2bn(buf, sizeof(buf), NULL)) != NULL &&
	    !BN_is_zero(bn) &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* Never past the CA's own notAfter: the chain must verify throughout. */
static int
localca_set_validity(struct localca *ca, X509 *x)
{
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca->lc_cert);
	time_t now = time(NULL);

	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), ca->lc_days, 0,
	    &now) == NULL)
		return -1;
	if (ASN1_TIME_compare(X509_get0_notAfter(x), ca_end) > 0 &&
	    !X509_set1_notAfter(x, ca_end))
		return -1;
	return 0;
}

static int
localca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	ok = ext != NULL && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/*
 * The fixed profile: an end entity that can sign (and, for RSA, decrypt a
 * key transport) and authenticate TLS clients, the latter so it can
 * re-enroll over mutual TLS (RFC 7030 §3.3.2).
 */
static int
localca_add_profile(struct localca *ca, X509 *x)
{
	X509V3_CTX ctx;
	const char *ku = EVP_PKEY_get_base_id(X509_get0_pubkey(x)) ==
	    EVP_PKEY_RSA ? "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature";

	X509V3_set_ctx(&ctx, ca->lc_cert, x, NULL, NULL, 0);
	if (localca_add_ext(x, &ctx, NID_basic_constraints,
	    "critical,CA:FALSE") == -1 ||
	    localca_add_ext(x, &ctx, NID_key_usage, ku) == -1 ||
	    localca_add_ext(x, &ctx, NID_ext_key_usage, "clientAuth") == -1 ||
	    localca_add_ext(x, &ctx, NID_subject_key_identifier,
	    "hash") == -1 ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, ca->lc_aki, 0,
	    X509V3_ADD_DEFAULT) != 1)
		return -1;
	return 0;
}

/*
 * Copy the subjectAltName of the CSR's extensionRequest, re-encoded from
 * its parsed form so nothing malformed reaches a signed certificate; the
 * other requested extensions are ignored. SAN is critical when the
 * subject is empty (RFC 5280 §4.2.1.6). Returns 0, or the HTTP status
 * with *what set.
 */
static int
localca_copy_san(X509 *x, X509_REQ *req, const char **what)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	int idx, crit, rc = 0;

	if ((exts = X509_REQ_get_extensions(req)) == NULL) {
		if (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) < 0)
			return 0;
		*what = "CSR extensionRequest does not decode";
		return 400;
	}
	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	if (idx < 0)
		goto done;
	if ((gens = X509V3_EXT_d2i(sk_X509_EXTENSION_value(exts, idx))) ==
	    NULL) {
		*what = "CSR subjectAltName does not decode";
		rc = 400;
		goto done;
	}
	crit = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, crit,
	    X509V3_ADD_DEFAULT) != 1) {
		*what = "cannot add subjectAltName";
		rc = 500;
	}
done:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* Fill in x from req and sign it. Returns 0, or an HTTP status + *what. */
static int
localca_issue(struct localca *ca, X509 *x, X509_REQ *req, const char **what)
{
	int rc;

	*what = "cannot build certificate";
	if (!X509_set_version(x, X509_VERSION_3) ||
	    localca_set_serial(x) == -1 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->lc_cert)) ||
	    !X509_set_subject_name(x, X509_REQ_get_subject_name(req)) ||
	    !X509_set_pubkey(x, X509_REQ_get0_pubkey(req)) ||
	    localca_set_validity(ca, x) == -1 ||
	    localca_add_profile(ca, x) == -1)
		return 500;
	if ((rc = localca_copy_san(x, req, what)) != 0)
		return rc;
	if (X509_sign(x, ca->lc_key, ca->lc_md) <= 0) {
		*what = "cannot sign certificate";
		return 500;
	}
	return 0;
}

int
localca_enroll(struct localca *ca, const struct csr *csr,
    struct est_reply *reply)
{
	STACK_OF(X509) *one = NULL;
	const char *what = "out of memory";
	char *body = NULL;
	size_t len;
	X509 *x;
	int rc = -1, status = 500;

	if ((x = X509_new()) == NULL)
		goto fail;
	if ((status = localca_issue(ca, x, csr->csr_req, &what)) != 0)
		goto fail;
	status = 500;
	what = "cannot encode the certificate";
	if ((one = sk_X509_new_null()) == NULL || !sk_X509_push(one, x) ||
	    (body = localca_certs_only(one, &len)) == NULL ||
	    localca_set_body(reply, EST_CT_CERTS_ONLY, body, len) == -1)
		goto fail;
	rc = 0;
fail:
	if (rc == -1)
		localca_fail(ca, reply, status, what);
	free(body);
	sk_X509_free(one);
	X509_free(x);
	return rc;
}
