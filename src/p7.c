/*
 * p7: the first certificate of a certs-only PKCS#7, read from its DER
 * (include/estrad/p7.h). Each step takes one element with OpenSSL's
 * bounds-checked ASN1_get_object and checks its tag; only the serial and
 * the notAfter time are decoded, with their own d2i functions.
 *
 *   ContentInfo ::= SEQUENCE { contentType OID (signedData),
 *                              content [0] EXPLICIT SignedData }
 *   SignedData  ::= SEQUENCE { version INTEGER, digestAlgorithms SET,
 *                              encapContentInfo SEQUENCE,
 *                              certificates [0] IMPLICIT SET OF ..., ... }
 *   Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {
 *                      version [0] EXPLICIT OPTIONAL, serialNumber INTEGER,
 *                      signature SEQUENCE, issuer SEQUENCE,
 *                      validity SEQUENCE { notBefore, notAfter }, ... }, ... }
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "estrad/p7.h"

/* One DER element: its tag, class and form, where it starts and where
 * its contents are. */
struct der_elem {
	int			 tag;
	int			 cls;
	int			 constructed;
	const unsigned char	*start;
	const unsigned char	*content;
	long			 clen;
	long			 tlen;		/* tag, length and contents */
};

/* A cursor over the contents of one constructed element. */
struct der_cursor {
	const unsigned char	*p;
	long			 left;
};

/* Take the next element off c. 0, or -1 at the end, on an error or on
 * an indefinite length (BER, not DER). */
static int
der_take(struct der_cursor *c, struct der_elem *e)
{
	const unsigned char	*q = c->p;
	int			 r;

	if (c->left <= 0)
		return -1;
	r = ASN1_get_object(&q, &e->clen, &e->tag, &e->cls, c->left);
	if ((r & 0x80) || (r & 0x01) || e->clen < 0 ||
	    e->clen > c->left - (q - c->p))
		return -1;
	e->constructed = (r & V_ASN1_CONSTRUCTED) != 0;
	e->start = c->p;
	e->content = q;
	e->tlen = (long)(q - c->p) + e->clen;
	c->p += e->tlen;
	c->left -= e->tlen;
	return 0;
}

/* Take the next element and check it is (tag, class, form). */
static int
der_expect(struct der_cursor *c, struct der_elem *e, int tag, int cls,
    int constructed)
{
	if (der_take(c, e) == -1 || e->tag != tag || e->cls != cls ||
	    e->constructed != constructed)
		return -1;
	return 0;
}

/* A cursor over e's contents. */
static struct der_cursor
der_enter(const struct der_elem *e)
{
	struct der_cursor c = { e->content, e->clen };

	return c;
}

/* 1.2.840.113549.1.7.2, id-signedData, DER contents of the OID. */
static const unsigned char p7_signed_data_oid[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
};

/*
 * The contents of the certificates field of a SignedData ContentInfo;
 * with rest, a cursor over what follows it in the SignedData, and with
 * whole, the ContentInfo must span all of der.
 */
static int
p7_certificates_at(const unsigned char *der, size_t len, struct der_elem *certs,
    struct der_cursor *rest, int whole, const char **why)
{
	struct der_cursor	c = { der, (long)len };
	struct der_elem		e;

	*why = "not DER: a ContentInfo SEQUENCE";
	if (len == 0 || len > 0x7fffffff ||
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	*why = "bytes after the ContentInfo";
	if (whole && c.left != 0)
		return -1;
	c = der_enter(&e);
	*why = "not id-signedData";
	if (der_expect(&c, &e, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, 0) == -1 ||
	    e.clen != (long)sizeof(p7_signed_data_oid) ||
	    memcmp(e.content, p7_signed_data_oid, sizeof(p7_signed_data_oid))
	    != 0)
		return -1;
	*why = "no SignedData";
	if (der_expect(&c, &e, 0, V_ASN1_CONTEXT_SPECIFIC, 1) == -1)
		return -1;
	*why = "bytes after the SignedData";
	if (whole && c.left != 0)
		return -1;
	c = der_enter(&e);
	*why = "no SignedData";
	if (der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	*why = "bytes after the SignedData";
	if (whole && c.left != 0)
		return -1;
	c = der_enter(&e);
	*why = "a malformed SignedData";
	if (der_expect(&c, &e, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, 0) == -1 ||
	    der_expect(&c, &e, V_ASN1_SET, V_ASN1_UNIVERSAL, 1) == -1 ||
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	*why = "no certificates";
	if (der_expect(&c, certs, 0, V_ASN1_CONTEXT_SPECIFIC, 1) == -1)
		return -1;
	if (rest != NULL)
		*rest = c;
	return 0;
}

static int
p7_certificates(const unsigned char *der, size_t len, struct der_elem *certs)
{
	const char *why;

	return p7_certificates_at(der, len, certs, NULL, 0, &why);
}

/* A Certificate's outline: SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }. */
static int
p7_cert_shaped(const struct der_elem *cert)
{
	struct der_cursor	c = der_enter(cert);
	struct der_elem		e;

	return der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == 0 &&
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == 0 &&
	    der_expect(&c, &e, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, 0) == 0 &&
	    c.left == 0;
}

/*
 * The slow path, for what the walk refuses: CMS is BER (RFC 5652), and a
 * CA may send indefinite lengths, which OpenSSL's decoder reads. The
 * whole input must be one PKCS#7. NULL if it is not.
 */
static PKCS7 *
p7_decode_whole(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	PKCS7			*p7;

	if (len == 0 || len > 0x7fffffff)
		return NULL;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL && p != der + len) {
		PKCS7_free(p7);
		p7 = NULL;
	}
	return p7;
}

/* The certificates of a decoded certs-only SignedData, or NULL. */
static STACK_OF(X509) *
p7_decoded_certs(PKCS7 *p7)
{
	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    sk_X509_num(p7->d.sign->cert) <= 0 ||
	    sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) > 0)
		return NULL;
	return p7->d.sign->cert;
}

int
p7_certs_only(const unsigned char *der, size_t len, int *ncerts,
    const char **why)
{
	struct der_cursor	c, rest;
	struct der_elem		certs, e;

	*ncerts = 0;
	if (p7_certificates_at(der, len, &certs, &rest, 1, why) == -1)
		goto fail;
	c = der_enter(&certs);
	while (c.left > 0) {
		*why = "a certificate that is not one";
		if (der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) ==
		    -1 || !p7_cert_shaped(&e))
			goto fail;
		(*ncerts)++;
	}
	*why = "no certificates";
	if (*ncerts == 0)
		goto fail;
	/* Optional crls [1], then signerInfos: empty in certs-only. */
	*why = "a malformed SignedData";
	if (der_take(&rest, &e) == -1)
		goto fail;
	if (e.tag == 1 && e.cls == V_ASN1_CONTEXT_SPECIFIC && e.constructed &&
	    der_take(&rest, &e) == -1)
		goto fail;
	if (e.tag != V_ASN1_SET || e.cls != V_ASN1_UNIVERSAL ||
	    !e.constructed || rest.left != 0)
		goto fail;
	*why = "signed content, not certs-only";
	if (e.clen != 0)
		goto fail;
	return 0;
fail:
	{
		PKCS7		*p7 = p7_decode_whole(der, len);
		STACK_OF(X509)	*decoded = p7_decoded_certs(p7);
		int		 rc = decoded != NULL ? 0 : -1;

		*ncerts = decoded != NULL ? sk_X509_num(decoded) : 0;
		PKCS7_free(p7);
		ERR_clear_error();
		return rc;
	}
}

int
p7_only_cert(const unsigned char *der, size_t len,
    const unsigned char **cert, size_t *certlen, const char **why)
{
	struct der_cursor	c;
	struct der_elem		certs, e;
	int			n;

	*cert = NULL;
	*certlen = 0;
	if (p7_certs_only(der, len, &n, why) == -1)
		return -1;
	*why = n > 1 ? "more than one certificate" : "a BER PKCS#7";
	if (n != 1 || p7_certificates(der, len, &certs) == -1)
		return -1;
	c = der_enter(&certs);
	if (der_take(&c, &e) == -1 || c.left != 0)
		return -1;
	*cert = e.start;
	*certlen = (size_t)e.tlen;
	return 0;
}

static int
p7_first_cert_walk(const unsigned char *der, size_t len, ASN1_INTEGER **serial,
    ASN1_TIME **not_after)
{
	struct der_cursor	 c;
	struct der_elem		 e, sn, na;
	const unsigned char	*q;

	*serial = NULL;
	*not_after = NULL;
	if (p7_certificates(der, len, &e) == -1)
		return -1;
	c = der_enter(&e);
	if (der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	c = der_enter(&e);		/* the Certificate */
	if (der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	c = der_enter(&e);		/* its tbsCertificate */
	if (der_take(&c, &sn) == -1)
		return -1;
	if (sn.tag == 0 && sn.cls == V_ASN1_CONTEXT_SPECIFIC &&
	    sn.constructed && der_take(&c, &sn) == -1)	/* [0] version */
		return -1;
	if (sn.tag != V_ASN1_INTEGER || sn.cls != V_ASN1_UNIVERSAL ||
	    sn.constructed ||
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1 ||
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1 ||
	    der_expect(&c, &e, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1) == -1)
		return -1;
	c = der_enter(&e);		/* validity */
	if (der_take(&c, &e) == -1 || der_take(&c, &na) == -1 ||
	    (na.tag != V_ASN1_UTCTIME && na.tag != V_ASN1_GENERALIZEDTIME) ||
	    na.cls != V_ASN1_UNIVERSAL || na.constructed)
		return -1;
	q = sn.start;
	if ((*serial = d2i_ASN1_INTEGER(NULL, &q, sn.tlen)) == NULL)
		return -1;
	q = na.start;
	if ((*not_after = d2i_ASN1_TIME(NULL, &q, na.tlen)) == NULL ||
	    ASN1_TIME_check(*not_after) != 1) {
		ASN1_TIME_free(*not_after);
		*not_after = NULL;
		ASN1_INTEGER_free(*serial);
		*serial = NULL;
		return -1;
	}
	return 0;
}

int
p7_first_cert(const unsigned char *der, size_t len, ASN1_INTEGER **serial,
    ASN1_TIME **not_after)
{
	PKCS7		*p7;
	STACK_OF(X509)	*certs;
	X509		*x;
	int		 rc = -1;

	if (p7_first_cert_walk(der, len, serial, not_after) == 0)
		return 0;
	/* BER, say: OpenSSL's decoder, then copies of the two fields. */
	p7 = p7_decode_whole(der, len);
	if ((certs = p7_decoded_certs(p7)) != NULL &&
	    (x = sk_X509_value(certs, 0)) != NULL &&
	    ASN1_TIME_check(X509_get0_notAfter(x)) == 1 &&
	    (*serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x))) != NULL) {
		if ((*not_after = ASN1_TIME_dup(X509_get0_notAfter(x))) != NULL)
			rc = 0;
		else {
			ASN1_INTEGER_free(*serial);
			*serial = NULL;
		}
	}
	PKCS7_free(p7);
	/* What the decoders queued is no one else's business. */
	ERR_clear_error();
	return rc;
}
