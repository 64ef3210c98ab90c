/*
 * answer: the check of a CA's 2xx answer against what its operation
 * returns (include/estrad/answer.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/asn1.h>
#include <openssl/err.h>

#include "estrad/answer.h"
#include "estrad/b64.h"
#include "estrad/p7.h"
#include "estrad/reply.h"

/* csrattrs: one DER SEQUENCE and nothing after it (RFC 7030 §4.5.2). */
static int
answer_csrattrs(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	long			 clen;
	int			 tag, cls, r;

	if (len == 0 || len > 0x7fffffff)
		return -1;
	r = ASN1_get_object(&p, &clen, &tag, &cls, (long)len);
	if ((r & 0x80) || (r & 0x01) || !(r & V_ASN1_CONSTRUCTED) ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL ||
	    clen != (long)len - (long)(p - der)) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

int
answer_check(enum est_op op, long status, const char *content_type,
    const unsigned char *body, size_t len, char *why, size_t whylen)
{
	const char	*want, *reason;
	unsigned char	*der = NULL;
	size_t		 dlen = 0;
	int		 ncerts, rc = -1;

	if (status != 200)
		return 0;
	switch (op) {
	case EST_OP_CACERTS:
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
		want = EST_CT_PKCS7;
		break;
	case EST_OP_CSRATTRS:
		want = EST_CT_CSRATTRS;
		break;
	default:
		return 0;
	}
	if (!router_media_type_is(content_type, want)) {
		snprintf(why, whylen, "Content-Type %.60s, not %s",
		    content_type != NULL && *content_type ? content_type :
		    "missing", want);
		return -1;
	}
	if (b64_decode_lenient((const char *)body, len, &der, &dlen,
	    &reason) == -1) {
		snprintf(why, whylen, "%s", reason);
		return -1;
	}
	if (op == EST_OP_CSRATTRS) {
		if ((rc = answer_csrattrs(der, dlen)) == -1)
			snprintf(why, whylen, "the body is not a DER SEQUENCE");
	} else if ((rc = p7_certs_only(der, dlen, &ncerts, &reason)) == -1)
		snprintf(why, whylen, "the body is not a certs-only PKCS#7: %s",
		    reason);
	free(der);
	return rc;
}
