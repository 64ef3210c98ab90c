/*
 * answer: the check of a CA's 2xx answer against what its operation
 * returns (include/estrad/answer.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>

#include "estrad/answer.h"
#include "estrad/b64.h"
#include "estrad/log.h"
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

/*
 * The length of a CA's body without what may follow its base64 and
 * carries nothing: whitespace (RFC 8951 §3.3: receivers ignore it) and NUL
 * bytes. libest's example server ends its csrattrs with the NUL of a C
 * string, counted in its Content-Length, and clients that talk to it
 * directly cope. A NUL anywhere else is no base64 and is refused. Only
 * the check reads the shorter body: the CA's bytes are relayed as sent.
 */
static size_t
answer_trimmed_len(const unsigned char *body, size_t len)
{
	while (len > 0 && (body[len - 1] == '\0' || body[len - 1] == ' ' ||
	    body[len - 1] == '\t' || body[len - 1] == '\r' ||
	    body[len - 1] == '\n'))
		len--;
	return len;
}

int
answer_decode(const unsigned char *body, size_t len, unsigned char **der,
    size_t *dlen, const char **why)
{
	return b64_decode_lenient((const char *)body, answer_trimmed_len(body,
	    len), der, dlen, why);
}

/*
 * The first 60 bytes of the CA's Content-Type for a reason, which goes to
 * the log (upstream.c; the text format writes it as it is) through
 * log_quote, so the reason stays one line of text (a CR, which curl leaves
 * inside a header line, or binary become \xNN) and a CA cannot forge log
 * lines.
 */
static const char *
answer_printable(char *out, size_t outlen, const char *s)
{
	log_quote(out, outlen, s, strnlen(s, 60), LOG_QUOTE_TOKEN);
	return out;
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
		char ct[60 * 4 + 1];

		snprintf(why, whylen, "Content-Type %s, not %s",
		    content_type != NULL && *content_type ?
		    answer_printable(ct, sizeof(ct), content_type) : "missing",
		    want);
		return -1;
	}
	if (answer_decode(body, len, &der, &dlen, &reason) == -1) {
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

int
answer_header_value(const char *line, size_t len, const char *name, char *out,
    size_t outlen)
{
	size_t nlen = strlen(name), vlen;

	if (outlen == 0 || len <= nlen || strncasecmp(line, name, nlen) != 0 ||
	    line[nlen] != ':')
		return 0;
	line += nlen + 1;
	len -= nlen + 1;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	    line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	vlen = len < outlen - 1 ? len : outlen - 1;
	memcpy(out, line, vlen);
	out[vlen] = '\0';
	return 1;
}

long
answer_retry_after(const char *text, long dflt)
{
	long secs;

	if (text != NULL && text[0] != '\0' &&
	    (secs = strtol(text, NULL, 10)) >= 1 && secs <= 86400)
		return secs;
	return dflt;
}
