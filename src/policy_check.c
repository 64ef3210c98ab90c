/*
 * policy_check: one CSR against one compiled policy. The extensionRequest
 * is decoded once (a CSR whose extensions do not decode is malformed, 400,
 * before any rule looks at it); then every group of rules runs, in a fixed
 * order, and each goes on past a broken rule: a refusal names every rule
 * broken and every value that breaks it (pol_refuse adds them up; a 400
 * found on the way stops everything), so a device's CSR template is fixed
 * in one round trip, and a verdict is a pure function of its inputs. Every
 * reason is one line that names the rule and quotes the offending value
 * with non-printable bytes escaped; the challengePassword and the session's
 * binding never appear in one (they are secrets of the TLS session).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "estrad/chanbind.h"
#include "estrad/csr.h"
#include "estrad/pki.h"
#include "policy_int.h"

/* More requested extensions than any real certificate carries. */
#define POL_MAX_EXTS	64

typedef int (*pol_check_fn)(const struct policy *,
    const struct policy_input *, struct pol_req *, struct policy_verdict *);

/* --- decoding the extensionRequest --- */

/*
 * extensionRequest attributes, counting each value of their SETs: OpenSSL
 * (and so this module) reads only the first value, while a CA might merge
 * them all, so a second one would go unchecked. More than one is refused.
 */
static int
pol_ext_attr_count(X509_REQ *csr)
{
	static const int nids[] = { NID_ext_req, NID_ms_ext_req };
	int n = 0, i;

	for (size_t k = 0; k < sizeof(nids) / sizeof(nids[0]); k++)
		for (i = -1; (i = X509_REQ_get_attr_by_NID(csr, nids[k], i)) >=
		    0;)
			n += X509_ATTRIBUTE_count(X509_REQ_get_attr(csr, i));
	return n;
}

/* Where a decoded extension goes; NULL for those no rule reads. */
static void **
pol_ext_slot(struct pol_req *r, int nid)
{
	switch (nid) {
	case NID_subject_alt_name:
		return (void **)&r->san;
	case NID_key_usage:
		return (void **)&r->ku;
	case NID_ext_key_usage:
		return (void **)&r->eku;
	case NID_basic_constraints:
		return (void **)&r->bc;
	default:
		return NULL;
	}
}

/* Two of one extension would let the second slip past the rules. */
static int
pol_ext_twice(const struct pol_req *r, int i)
{
	const ASN1_OBJECT *o = X509_EXTENSION_get_object(
	    sk_X509_EXTENSION_value(r->exts, i));

	for (int j = 0; j < i; j++)
		if (OBJ_cmp(o, X509_EXTENSION_get_object(
		    sk_X509_EXTENSION_value(r->exts, j))) == 0)
			return 1;
	return 0;
}

static int
pol_ext_decode(struct pol_req *r, struct policy_verdict *v)
{
	X509_EXTENSION	*ext;
	void		**slot;
	char		 name[64];

	if (sk_X509_EXTENSION_num(r->exts) > POL_MAX_EXTS)
		return pol_refuse(v, 400, "csr.malformed", "more than %d "
		    "requested extensions", POL_MAX_EXTS);
	for (int i = 0; i < sk_X509_EXTENSION_num(r->exts); i++) {
		ext = sk_X509_EXTENSION_value(r->exts, i);
		pol_obj_name(name, sizeof(name),
		    X509_EXTENSION_get_object(ext));
		if (pol_ext_twice(r, i))
			return pol_refuse(v, 400, "csr.malformed", "the "
			    "extensionRequest has %s twice", name);
		slot = pol_ext_slot(r, OBJ_obj2nid(
		    X509_EXTENSION_get_object(ext)));
		if (slot != NULL && (*slot = X509V3_EXT_d2i(ext)) == NULL)
			return pol_refuse(v, 400, "csr.malformed", "the %s "
			    "extension does not decode", name);
	}
	return 0;
}

/* iPAddress SANs are 4 or 16 bytes (RFC 5280 §4.2.1.6), or malformed. */
static int
pol_san_decode(struct pol_req *r, struct policy_verdict *v)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(r->san); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(r->san, i);
		int len;
		if (gn->type != GEN_IPADD)
			continue;
		len = ASN1_STRING_length(gn->d.iPAddress);
		if (len != 4 && len != 16)
			return pol_refuse(v, 400, "csr.malformed", "an "
			    "iPAddress SAN of %d bytes", len);
	}
	return 0;
}

static int
pol_req_parse(const struct policy *p, struct pol_req *r, X509_REQ *csr,
    struct policy_verdict *v)
{
	int nattr = pol_ext_attr_count(csr);

	if (nattr > 1)
		return pol_refuse(v, 400, "csr.malformed", "several "
		    "extensionRequest attributes or values");
	if (nattr == 1 && (r->exts = X509_REQ_get_extensions(csr)) == NULL)
		return pol_refuse(v, 400, "csr.malformed", "the "
		    "extensionRequest attribute does not decode");
	if (pol_ext_decode(r, v) == -1 || pol_san_decode(r, v) == -1)
		return -1;
	/* "off": the challengePassword is the CA's (an enrollment code),
	 * whatever its form; it is not read here at all. */
	if (p->p_binding != POL_BINDING_OFF)
		r->pw_state = chanbind_csr_password(csr, r->pw, sizeof(r->pw));
	if (r->pw_state == -1)
		return pol_refuse(v, 400, "binding.malformed", "the "
		    "challengePassword attribute is not one short string");
	if (X509_REQ_get0_pubkey(csr) == NULL)
		return pol_refuse(v, 400, "csr.malformed", "the public key "
		    "does not decode");
	return 0;
}

static void
pol_req_clear(struct pol_req *r)
{
	sk_X509_EXTENSION_pop_free(r->exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(r->san);
	ASN1_BIT_STRING_free(r->ku);
	EXTENDED_KEY_USAGE_free(r->eku);
	BASIC_CONSTRAINTS_free(r->bc);
	OPENSSL_cleanse(r->pw, sizeof(r->pw));
}

/* --- keys and signature --- */

static const char *
pol_curve_name(int nid)
{
	const char *s = EC_curve_nid2nist(nid);

	return s != NULL ? s : OBJ_nid2sn(nid);
}

/*
 * Whatever the policy: OpenSSL names the group of explicit parameters
 * that match a known curve, but the CSR still carries them, and the CA
 * would copy them into a certificate RFC 5480 §2.1.1 forbids.
 */
static int
pol_check_curve(const struct policy *p, X509_REQ *csr, EVP_PKEY *pk,
    struct policy_verdict *v)
{
	char	 group[80], list[160], *names[16];
	size_t	 glen, i;
	int	 nid;

	if (p->p_ncurves == 0)
		return pol_refuse(v, 403, "key.type", "EC keys are not "
		    "allowed");
	if (csr_key_explicit_ec(csr) ||
	    EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen) != 1 ||
	    (nid = OBJ_txt2nid(group)) == NID_undef)
		return pol_refuse(v, 403, "key.ec_curve", "the EC key does "
		    "not name its curve: explicit or implicit parameters are "
		    "not allowed (RFC 5480, section 2.1.1)");
	for (i = 0; i < p->p_ncurves; i++)
		if (p->p_curves[i] == nid)
			return 0;
	for (i = 0; i < p->p_ncurves && i < 16; i++)
		names[i] = (char *)pol_curve_name(p->p_curves[i]);
	return pol_refuse(v, 403, "key.ec_curve", "curve %s is not allowed "
	    "(%s)", pol_curve_name(nid), pol_list(list, sizeof(list), names,
	    i));
}

static int
pol_check_key(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	EVP_PKEY	*pk = X509_REQ_get0_pubkey(in->csr);
	const char	*type;
	int		 bits;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		if (!p->p_rsa)
			return pol_refuse(v, 403, "key.type", "RSA keys are "
			    "not allowed");
		if ((bits = EVP_PKEY_get_bits(pk)) < p->p_rsa_min_bits)
			return pol_refuse(v, 403, "key.rsa_min_bits", "RSA %d "
			    "bits, the minimum is %ld", bits,
			    p->p_rsa_min_bits);
		return 0;
	case EVP_PKEY_EC:
		return pol_check_curve(p, in->csr, pk, v);
	case EVP_PKEY_ED25519:
		return p->p_ed25519 ? 0 : pol_refuse(v, 403, "key.type",
		    "Ed25519 keys are not allowed");
	case EVP_PKEY_ED448:
		return p->p_ed448 ? 0 : pol_refuse(v, 403, "key.type",
		    "Ed448 keys are not allowed");
	default:
		type = EVP_PKEY_get0_type_name(pk);
		return pol_refuse(v, 403, "key.type", "%s keys are not allowed",
		    type != NULL ? type : "these");
	}
}

/* RSASSA-PSS names its hash in parameters; absent means SHA-1 (RFC 4055). */
static int
pol_pss_md(const X509_ALGOR *alg)
{
	const ASN1_STRING	*param;
	RSA_PSS_PARAMS		*pss;
	int			 type, md = NID_sha1;

	X509_ALGOR_get0(NULL, &type, (const void **)&param, alg);
	if (type == V_ASN1_UNDEF || type == V_ASN1_NULL)
		return NID_sha1;
	if (type != V_ASN1_SEQUENCE || (pss = ASN1_item_unpack(param,
	    ASN1_ITEM_rptr(RSA_PSS_PARAMS))) == NULL)
		return NID_undef;
	if (pss->hashAlgorithm != NULL)
		md = OBJ_obj2nid(pss->hashAlgorithm->algorithm);
	RSA_PSS_PARAMS_free(pss);
	return md;
}

static int
pol_check_sig(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	const X509_ALGOR	*alg;
	const ASN1_OBJECT	*oid;
	char			 name[64];
	int			 sig, md, pk;

	X509_REQ_get0_signature(in->csr, NULL, &alg);
	X509_ALGOR_get0(&oid, NULL, NULL, alg);
	sig = OBJ_obj2nid(oid);
	if (sig == NID_rsassaPss)
		md = pol_pss_md(alg);
	else if (!OBJ_find_sigid_algs(sig, &md, &pk))
		return pol_refuse(v, 403, "signature.hash", "signature "
		    "algorithm %s is not allowed", pol_obj_name(name,
		    sizeof(name), oid));
	/* EdDSA has no separate hash: allowed with its key type. */
	else if (md == NID_undef && (pk == NID_ED25519 || pk == NID_ED448))
		return 0;
	for (size_t i = 0; i < p->p_nhashes; i++)
		if (p->p_hashes[i] == md)
			return 0;
	return pol_refuse(v, 403, "signature.hash", "%s is not allowed",
	    pol_hash_name(md));
}

/* --- subject --- */

/* The value as UTF-8 (caller OPENSSL_free's it), or NULL. */
static unsigned char *
pol_utf8(const ASN1_STRING *s, int *len)
{
	unsigned char *u = NULL;

	if ((*len = ASN1_STRING_to_UTF8(&u, s)) < 0)
		return NULL;
	return u;
}

static long
pol_utf8_chars(const unsigned char *s, int len)
{
	long n = 0;

	for (int i = 0; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static const struct pol_pattern *
pol_pattern_for(const struct policy *p, const ASN1_OBJECT *obj)
{
	for (size_t i = 0; i < p->p_npatterns; i++)
		if (OBJ_cmp(p->p_patterns[i].obj, obj) == 0)
			return &p->p_patterns[i];
	return NULL;
}

/* Length and pattern of one subject value, already UTF-8. */
static int
pol_check_value(const struct policy *p, const char *attr,
    const ASN1_OBJECT *obj, const unsigned char *u, int len,
    struct policy_verdict *v)
{
	const struct pol_pattern	*pp = pol_pattern_for(p, obj);
	char				 q[POL_QUOTE], qp[POL_QUOTE];
	long				 chars = pol_utf8_chars(u, len);
	int				 rc = 0;

	if (p->p_subj_max_len > 0 && chars > p->p_subj_max_len)
		rc = pol_refuse(v, 403, "subject.max_length", "%s %s is %ld "
		    "characters long, the maximum is %ld", attr,
		    pol_quote(q, sizeof(q), u, (size_t)len), chars,
		    p->p_subj_max_len);
	/* A NUL inside the value would hide the rest of it from regexec. */
	if (pp != NULL && (memchr(u, '\0', (size_t)len) != NULL ||
	    regexec(&pp->re, (const char *)u, 0, NULL, 0) != 0))
		rc = pol_refuse(v, 403, "subject.pattern", "%s %s does not "
		    "match %s", attr, pol_quote(q, sizeof(q), u, (size_t)len),
		    pol_quote(qp, sizeof(qp), pp->src, strlen(pp->src)));
	return rc;
}

static int
pol_check_entry(const struct policy *p, const X509_NAME_ENTRY *e,
    struct policy_verdict *v)
{
	const ASN1_OBJECT	*obj = X509_NAME_ENTRY_get_object(e);
	char			 attr[64], list[160];
	unsigned char		*u;
	int			 len, rc;

	pol_obj_name(attr, sizeof(attr), obj);
	if (p->p_subj_allowed.name.set &&
	    !pol_objs_has(&p->p_subj_allowed, obj))
		return pol_refuse(v, 403, "subject.allowed", "%s is not "
		    "allowed (%s)", attr, pol_list(list, sizeof(list),
		    p->p_subj_allowed.name.v, p->p_subj_allowed.name.n));
	if ((u = pol_utf8(X509_NAME_ENTRY_get_data(e), &len)) == NULL)
		return pol_refuse(v, 400, "csr.malformed", "the subject's %s "
		    "is not a valid string", attr);
	rc = pol_check_value(p, attr, obj, u, len, v);
	OPENSSL_free(u);
	return rc;
}

/* The text of the first CN of name as UTF-8 (OPENSSL_free), or NULL. */
static unsigned char *
pol_cn_of(const X509_NAME *name, int *len)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

	if (i < 0)
		return NULL;
	return pol_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name,
	    i)), len);
}

/* Every CN of the CSR must be want; what names where want comes from. */
static int
pol_cn_equal(const X509_NAME *subj, const char *want, size_t wlen,
    const char *what, struct policy_verdict *v)
{
	char		 q[POL_QUOTE], qw[POL_QUOTE];
	unsigned char	*u;
	int		 len, i = -1, n = 0, rc = 0;

	while (rc == 0 &&
	    (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
		n++;
		if ((u = pol_utf8(X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i)), &len)) == NULL)
			return pol_refuse(v, 400, "csr.malformed", "the "
			    "subject's CN is not a valid string");
		if ((size_t)len != wlen || memcmp(u, want, wlen) != 0)
			rc = pol_refuse(v, 403, "subject.cn_must_equal", "CN "
			    "%s is not %s %s", pol_quote(q, sizeof(q), u,
			    (size_t)len), what, pol_quote(qw, sizeof(qw),
			    want, wlen));
		OPENSSL_free(u);
	}
	if (n == 0)
		return pol_refuse(v, 403, "subject.cn_must_equal", "the "
		    "subject has no CN, it must be %s %s", what,
		    pol_quote(q, sizeof(q), want, wlen));
	return rc;
}

static int
pol_check_cn_bind(const struct policy *p, const struct policy_input *in,
    struct policy_verdict *v)
{
	const X509_NAME	*subj = X509_REQ_get_subject_name(in->csr);
	unsigned char	*cn;
	int		 len, rc;

	if (p->p_cn_bind == POL_CN_USER) {
		if (in->user == NULL)
			return pol_refuse(v, 403, "subject.cn_must_equal",
			    "the client has no user name to compare the CN "
			    "with");
		return pol_cn_equal(subj, in->user, strlen(in->user),
		    "the user name", v);
	}
	if (in->client_cert == NULL)
		return pol_refuse(v, 403, "subject.cn_must_equal", "the client "
		    "has no certificate to compare the CN with");
	if ((cn = pol_cn_of(X509_get_subject_name(in->client_cert),
	    &len)) == NULL)
		return pol_refuse(v, 403, "subject.cn_must_equal", "the client "
		    "certificate has no CN to compare the CN with");
	rc = pol_cn_equal(subj, (const char *)cn, (size_t)len,
	    "the client certificate's CN", v);
	OPENSSL_free(cn);
	return rc;
}

static int
pol_check_subject(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	const X509_NAME	*subj = X509_REQ_get_subject_name(in->csr);
	const struct pol_objs *req = &p->p_subj_required;
	int		 rc = 0, no_cn = 0;

	for (size_t i = 0; i < req->name.n; i++)
		if (X509_NAME_get_index_by_OBJ(subj, req->obj[i], -1) < 0) {
			rc = pol_refuse(v, 403, "subject.required", "the "
			    "subject has no %s", req->name.v[i]);
			no_cn |= OBJ_obj2nid(req->obj[i]) == NID_commonName;
		}
	for (int i = 0; i < X509_NAME_entry_count(subj) && !pol_fatal(v); i++)
		if (pol_check_entry(p, X509_NAME_get_entry(subj, i), v) == -1)
			rc = -1;
	/* A CN already named missing is not named again by cn_must_equal. */
	if (p->p_cn_bind != POL_CN_NONE && !no_cn && !pol_fatal(v) &&
	    pol_check_cn_bind(p, in, v) == -1)
		rc = -1;
	return rc;
}

/* --- SANs, extensions --- */

static int
pol_check_sans(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	return pol_check_san(p, r, v);
}

static int
pol_check_ku(const struct policy *p, const ASN1_BIT_STRING *ku,
    struct policy_verdict *v)
{
	char		 list[200], *names[POL_NKU];
	size_t		 n = 0;
	int		 bit, nbits = ASN1_STRING_length(ku) * 8, rc = 0;

	for (bit = 0; bit < POL_NKU; bit++)
		if (p->p_ku_mask & (1u << bit))
			names[n++] = (char *)pol_ku_name(bit);
	for (bit = 0; bit < nbits; bit++) {
		if (!ASN1_BIT_STRING_get_bit(ku, bit) ||
		    (bit < POL_NKU && (p->p_ku_mask & (1u << bit))))
			continue;
		if (bit >= POL_NKU)
			rc = pol_refuse(v, 403, "extensions.key_usage",
			    "key usage bit %d is not allowed (%s)", bit,
			    pol_list(list, sizeof(list), names, n));
		else
			rc = pol_refuse(v, 403, "extensions.key_usage", "%s is "
			    "not allowed (%s)", pol_ku_name(bit),
			    pol_list(list, sizeof(list), names, n));
	}
	return rc;
}

static int
pol_check_ekus(const struct policy *p, const EXTENDED_KEY_USAGE *eku,
    struct policy_verdict *v)
{
	const ASN1_OBJECT	*o;
	char			 name[64], list[160];
	int			 rc = 0;

	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		o = sk_ASN1_OBJECT_value(eku, i);
		if (!pol_objs_has(&p->p_ekus, o))
			rc = pol_refuse(v, 403, "extensions.eku", "%s is not "
			    "allowed (%s)", pol_obj_name(name, sizeof(name),
			    o), pol_list(list, sizeof(list), p->p_ekus.name.v,
			    p->p_ekus.name.n));
	}
	return rc;
}

static int
pol_check_exts(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	const ASN1_OBJECT	*o;
	char			 name[64], list[200];
	int			 rc = 0;

	if (r->bc != NULL && r->bc->ca && !p->p_allow_ca)
		rc = pol_refuse(v, 403, "extensions.ca", "basicConstraints "
		    "CA:TRUE is not allowed");
	if (r->ku != NULL && p->p_ku_set && pol_check_ku(p, r->ku, v) == -1)
		rc = -1;
	if (r->eku != NULL && p->p_ekus.name.set &&
	    pol_check_ekus(p, r->eku, v) == -1)
		rc = -1;
	/* An id-kp-cmcRA certificate is trusted as an RA by estrad (and by
	 * CAs): a device must not obtain one through us unless the policy
	 * lists that EKU by name. */
	if (r->eku != NULL && !p->p_ekus.name.set && pki_eku_has_cmc_ra(r->eku))
		rc = pol_refuse(v, 403, "extensions.eku", "cmcRA (the RA "
		    "purpose) is not allowed unless extensions.ekus lists it");
	if (!p->p_ext_allowed.name.set)
		return rc;
	for (int i = 0; i < sk_X509_EXTENSION_num(r->exts); i++) {
		o = X509_EXTENSION_get_object(sk_X509_EXTENSION_value(r->exts,
		    i));
		if (!pol_objs_has(&p->p_ext_allowed, o))
			rc = pol_refuse(v, 403, "extensions.allowed", "%s is "
			    "not allowed (%s)", pol_obj_name(name,
			    sizeof(name), o), pol_list(list, sizeof(list),
			    p->p_ext_allowed.name.v, p->p_ext_allowed.name.n));
	}
	return rc;
}

/* --- re-enrollment (RFC 7030 §4.2.2) --- */

static int
pol_check_reenroll_cert(const struct policy *p,
    const struct policy_input *in, struct pol_req *r,
    struct policy_verdict *v)
{
	if (in->op == POLICY_REENROLL && in->client_cert == NULL)
		return pol_refuse(v, 403, "reenroll.certificate", "re-enrollment "
		    "needs the client certificate being renewed");
	return 0;
}

/* RFC 2253 text of name, quoted; "?" if it cannot be printed. */
static const char *
pol_name_text(char *buf, size_t size, const X509_NAME *name)
{
	char text[512];

	if (pki_name_text(name, text, sizeof(text)) == -1)
		return "?";
	pol_quote(buf, size, text, strlen(text));
	return buf;
}

static int
pol_check_same_subject(const struct policy_input *in, struct pol_req *r,
    struct policy_verdict *v)
{
	const X509_NAME	*a = X509_REQ_get_subject_name(in->csr);
	const X509_NAME	*b = X509_get_subject_name(in->client_cert);
	char		 qa[POL_QUOTE], qb[POL_QUOTE];
	int		 rc = 0;

	if (X509_NAME_cmp(a, b) != 0)
		rc = pol_refuse(v, 403, "reenroll.same_subject", "the subject "
		    "%s is not the certificate's %s", pol_name_text(qa,
		    sizeof(qa), a), pol_name_text(qb, sizeof(qb), b));
	if (pol_check_reenroll_san(r, in->client_cert, v) == -1)
		rc = -1;
	return rc;
}

static int
pol_check_reenroll(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	EVP_PKEY	*old = X509_get0_pubkey(in->client_cert);
	int		 rc = 0;

	/* Without a certificate, reenroll.certificate has refused. */
	if (in->op != POLICY_REENROLL || in->client_cert == NULL)
		return 0;
	if (p->p_same_subject && pol_check_same_subject(in, r, v) == -1)
		rc = -1;
	if (old != NULL && EVP_PKEY_eq(X509_REQ_get0_pubkey(in->csr),
	    old) == 1) {
		if (!p->p_renew)
			rc = pol_refuse(v, 403, "reenroll.renew", "renewing "
			    "with the same key is not allowed: use a new key");
	} else if (!p->p_rekey)
		rc = pol_refuse(v, 403, "reenroll.rekey", "re-enrolling "
		    "with a new key is not allowed: keep the certificate's key");
	return rc;
}

/* --- channel binding (RFC 7030 §3.5) --- */

/* Fixed-size buffers, so the comparison time depends on neither value. */
static int
pol_binding_equal(const char *pw, const char *binding)
{
	unsigned char	 a[POL_PW_MAX] = { 0 }, b[POL_PW_MAX] = { 0 };
	size_t		 la = strlen(pw), lb = strlen(binding);
	int		 eq;

	if (la >= sizeof(a) || lb >= sizeof(b))
		return 0;
	memcpy(a, pw, la);
	memcpy(b, binding, lb);
	eq = CRYPTO_memcmp(a, b, sizeof(a)) == 0 && la == lb;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return eq;
}

static int
pol_check_binding(const struct policy *p, const struct policy_input *in,
    struct pol_req *r, struct policy_verdict *v)
{
	if (p->p_binding == POL_BINDING_OFF)
		return 0;
	if (r->pw_state == 0 && p->p_binding == POL_BINDING_REQUIRED)
		return pol_refuse(v, 403, "binding.required", "the CSR has no "
		    "challengePassword; it must hold this TLS session's "
		    "channel binding (RFC 7030, section 3.5)");
	if (r->pw_state == 0)
		return 0;
	if (in->binding == NULL)
		return pol_refuse(v, 403, "binding.mismatch", "the CSR has a "
		    "challengePassword but this TLS session has no channel "
		    "binding to check it against");
	if (!pol_binding_equal(r->pw, in->binding))
		return pol_refuse(v, 403, "binding.mismatch", "the "
		    "challengePassword is not this TLS session's channel "
		    "binding");
	return 0;
}

/* The groups of rules, in the order a refusal names them. */
static const pol_check_fn pol_checks[] = {
	pol_check_reenroll_cert, pol_check_key, pol_check_sig,
	pol_check_subject, pol_check_sans, pol_check_exts, pol_check_reenroll,
	pol_check_binding,
};

int
policy_check(const struct policy *p, const struct policy_input *in,
    struct policy_verdict *v)
{
	struct pol_req		 r;
	int			 rc, ra;

	memset(&r, 0, sizeof(r));
	memset(v, 0, sizeof(*v));
	if (in->csr == NULL)
		rc = pol_refuse(v, 400, "csr.malformed", "no CSR");
	else
		rc = pol_req_parse(p, &r, in->csr, v);
	/* A registration authority's certificate (RFC 6402 §2.10). */
	ra = in->client_cert != NULL && pki_cert_has_cmc_ra(in->client_cert);
	/* A CSR that cannot be read is refused for that alone: the other
	 * rules' verdicts on it mean nothing. */
	for (size_t i = 0; rc == 0 && !pol_fatal(v) &&
	    i < sizeof(pol_checks) / sizeof(pol_checks[0]); i++) {
		if (ra && (pol_checks[i] == pol_check_reenroll_cert ||
		    pol_checks[i] == pol_check_reenroll ||
		    pol_checks[i] == pol_check_binding))
			continue;
		pol_checks[i](p, in, &r, v);
	}
	pol_refuse_end(v);
	pol_req_clear(&r);
	ERR_clear_error();
	return v->status == 0 ? 0 : -1;
}
