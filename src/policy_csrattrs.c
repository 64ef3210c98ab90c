/*
 * policy_csrattrs: what a policy asks clients to put in their CSRs, as the
 * DER CsrAttrs of RFC 7030 §4.5.2 (SEQUENCE OF AttrOrOID) with the key
 * described the RFC 8951 §3.4 way: challengePassword when the policy
 * requires channel binding, the preferred key (an EC curve as an
 * id-ecPublicKey Attribute, else rsaEncryption, else an EdDSA OID), the
 * extensionRequest OIDs the policy requires, and the signature algorithm
 * of its preferred hash. Each element is encoded by OpenSSL; only the
 * outer SEQUENCE is assembled here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "policy_int.h"

#define POL_ATTRS_MAX	8

/* The DER of each AttrOrOID, in order; freed with pol_attrs_clear. */
struct pol_attrs {
	unsigned char	*der[POL_ATTRS_MAX];
	int		 len[POL_ATTRS_MAX];
	size_t		 n;
};

static int
pol_attrs_oid(struct pol_attrs *a, int nid)
{
	unsigned char *der = NULL;
	int len;

	if (a->n == POL_ATTRS_MAX ||
	    (len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der)) <= 0)
		return -1;
	a->der[a->n] = der;
	a->len[a->n++] = len;
	return 0;
}

/* Attribute { type, SET { OID, ... } } */
static int
pol_attrs_attr(struct pol_attrs *a, int type, const int *nids, size_t n)
{
	X509_ATTRIBUTE	*attr;
	unsigned char	*der = NULL;
	int		 len = -1;

	if (a->n == POL_ATTRS_MAX || (attr = X509_ATTRIBUTE_new()) == NULL)
		return -1;
	if (!X509_ATTRIBUTE_set1_object(attr, OBJ_nid2obj(type)))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!X509_ATTRIBUTE_set1_data(attr, V_ASN1_OBJECT,
		    OBJ_nid2obj(nids[i]), -1))
			goto fail;
	if ((len = i2d_X509_ATTRIBUTE(attr, &der)) <= 0)
		goto fail;
	a->der[a->n] = der;
	a->len[a->n++] = len;
fail:
	X509_ATTRIBUTE_free(attr);
	return len > 0 ? 0 : -1;
}

static void
pol_attrs_clear(struct pol_attrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		OPENSSL_free(a->der[i]);
}

/* The signature OID of the preferred hash with the preferred key. */
static int
pol_attrs_sig(const struct policy *p, struct pol_attrs *a, int pkey)
{
	int sig;

	if (p->p_nhashes == 0 || (pkey != NID_X9_62_id_ecPublicKey &&
	    pkey != NID_rsaEncryption))
		return 0;	/* EdDSA names no hash */
	if (!OBJ_find_sigid_by_algs(&sig, p->p_hashes[0], pkey))
		return 0;
	return pol_attrs_oid(a, sig);
}

/* The preferred key type: an EC curve, else RSA, else EdDSA. */
static int
pol_attrs_key(const struct policy *p, struct pol_attrs *a, int *pkey)
{
	*pkey = NID_undef;
	if (p->p_ncurves > 0) {
		*pkey = NID_X9_62_id_ecPublicKey;
		return pol_attrs_attr(a, *pkey, p->p_curves, 1);
	}
	if (p->p_rsa)
		*pkey = NID_rsaEncryption;
	else if (p->p_ed25519)
		*pkey = NID_ED25519;
	else if (p->p_ed448)
		*pkey = NID_ED448;
	return *pkey == NID_undef ? 0 : pol_attrs_oid(a, *pkey);
}

static int
pol_attrs_build(const struct policy *p, struct pol_attrs *a)
{
	static const int san[] = { NID_subject_alt_name };
	int pkey;

	/* RFC 7030 §3.5: a client learns it must bind from here. */
	if (p->p_binding == POL_BINDING_REQUIRED &&
	    pol_attrs_oid(a, NID_pkcs9_challengePassword) == -1)
		return -1;
	if (pol_attrs_key(p, a, &pkey) == -1)
		return -1;
	if (p->p_san_required &&
	    pol_attrs_attr(a, NID_ext_req, san, 1) == -1)
		return -1;
	return pol_attrs_sig(p, a, pkey);
}

int
policy_csrattrs(const struct policy *p, unsigned char **der, size_t *len)
{
	struct pol_attrs	 a;
	unsigned char		*out, *o;
	int			 content = 0, total;
	size_t			 i;

	memset(&a, 0, sizeof(a));
	*der = NULL;
	*len = 0;
	if (pol_attrs_build(p, &a) == -1)
		goto fail;
	if (a.n == 0)
		return 0;
	for (i = 0; i < a.n; i++)
		content += a.len[i];
	total = ASN1_object_size(1, content, V_ASN1_SEQUENCE);
	if (total <= 0 || (out = malloc((size_t)total)) == NULL)
		goto fail;
	o = out;
	ASN1_put_object(&o, 1, content, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (i = 0; i < a.n; i++) {
		memcpy(o, a.der[i], (size_t)a.len[i]);
		o += a.len[i];
	}
	pol_attrs_clear(&a);
	*der = out;
	*len = (size_t)total;
	return 0;
fail:
	pol_attrs_clear(&a);
	return -1;
}
