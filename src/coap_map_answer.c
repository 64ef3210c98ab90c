/*
 * coap_map_answer: an est_reply (the CA's answer, or estrad's own) turned
 * into what goes back to a CoAP client (include/estrad/coap_map.h). A
 * success relays the CA's bytes: the DER its base64 carried, unchanged,
 * or the one certificate of it (287), or for serverkeygen the parts of
 * its multipart/mixed re-framed as multipart-core. Anything else becomes
 * a CoAP code with Max-Age where the client is to come back, and a short
 * diagnostic payload.
 *
 * The CA's body is untrusted: a multipart boundary is bounded and looked
 * for line by line, a part's length is where the next delimiter is, every
 * decoded length is checked against COAP_MAP_PAYLOAD_MAX, and what does
 * not parse is a 5.02 with the reason, never a crash or a guess.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "estrad/answer.h"
#include "estrad/coap_map.h"
#include "estrad/p7.h"

#define EST_CT_MULTIPART	"multipart/mixed"
/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
#define COAP_MAP_BOUNDARY_MAX	70

/* One part of a multipart/mixed body: where it is in the CA's body. */
struct coap_map_part {
	const unsigned char	*data;
	size_t			 len;
};

/*
 * A diagnostic payload (RFC 7252 §5.5.2): UTF-8 text for a person; here
 * one line of printable ASCII, at most COAP_MAP_DIAG_MAX bytes.
 */
static int
coap_map_diag(struct coap_map_answer *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
coap_map_diag(struct coap_map_answer *a, int code, const char *fmt, ...)
{
	char	 text[COAP_MAP_DIAG_MAX + 1];
	va_list	 ap;
	size_t	 i, n;

	free(a->payload);
	a->payload = NULL;
	a->payload_len = 0;
	a->code = code;
	a->content_format = COAP_CF_NONE;
	a->diagnostic = 0;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if ((n = strlen(text)) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f ||
		    (unsigned char)text[i] > 0x7e)
			text[i] = '?';
	if ((a->payload = malloc(n)) == NULL)
		return -1;
	memcpy(a->payload, text, n);
	a->payload_len = n;
	a->diagnostic = 1;
	return 0;
}

/* Take buf (malloc'd, len bytes) as the answer's payload in format cf. */
static void
coap_map_take(struct coap_map_answer *a, int code, int cf,
    unsigned char *buf, size_t len)
{
	free(a->payload);
	a->code = code;
	a->content_format = cf;
	a->payload = buf;
	a->payload_len = len;
	a->diagnostic = 0;
}

/*
 * One body of the CA's as the bytes it stands for: taken as it is if the
 * CA said Content-Transfer-Encoding: binary, else base64 decoded (RFC
 * 8951 §3.1 makes every EST body base64). 0 with *out (malloc'd), or -1
 * with *why.
 */
static int
coap_map_decode(const unsigned char *body, size_t len, const char *cte,
    unsigned char **out, size_t *outlen, const char **why)
{
	*out = NULL;
	*outlen = 0;
	if (cte != NULL && strcasecmp(cte, "binary") == 0) {
		*why = "empty body";
		if (len == 0)
			return -1;
		*why = "answer too large for CoAP";
		if (len > COAP_MAP_PAYLOAD_MAX)
			return -1;
		*why = "out of memory";
		if ((*out = malloc(len)) == NULL)
			return -1;
		memcpy(*out, body, len);
		*outlen = len;
		return 0;
	}
	/* base64 is 4 characters to 3 bytes, whitespace aside: a body this
	 * long cannot decode to less than the cap. */
	*why = "answer too large for CoAP";
	if (len / 4 * 3 > COAP_MAP_PAYLOAD_MAX * 2)
		return -1;
	/* As answer_check() read it (a NUL after the base64, libest's
	 * csrattrs, carries nothing; HTTPS relays that answer). */
	if (answer_decode(body, len, out, outlen, why) == -1)
		return -1;
	if (*outlen > COAP_MAP_PAYLOAD_MAX) {
		*why = "answer too large for CoAP";
		free(*out);
		*out = NULL;
		*outlen = 0;
		return -1;
	}
	return 0;
}

/*
 * The value of parameter name (case-insensitively) of a Content-Type
 * value, a token or a quoted string (RFC 9110 §5.6.6), into out. 0, or
 * -1 if it is absent, empty or longer than outlen - 1.
 */
static int
coap_map_param(const char *ct, const char *name, char *out, size_t outlen)
{
	const char	*p = ct;
	size_t		 nlen = strlen(name), n;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		p += nlen + 1;
		if (*p == '"') {
			p++;
			n = strcspn(p, "\"");
			if (p[n] != '"')
				return -1;
		} else
			n = strcspn(p, " \t;");
		if (n == 0 || n >= outlen)
			return -1;
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* The next line of [*pos, end): its start and length without CR/LF and
 * trailing blanks (RFC 2046 §5.1.1 allows padding after a boundary). */
static const unsigned char *
coap_map_line(const unsigned char **pos, const unsigned char *end,
    size_t *len)
{
	const unsigned char	*s = *pos, *nl;
	size_t			 n;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(end - s));
	n = (nl != NULL ? (size_t)(nl - s) : (size_t)(end - s));
	*pos = nl != NULL ? nl + 1 : end;
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' ||
	    s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

/* 1 for a delimiter line "--boundary", 2 for the close "--boundary--". */
static int
coap_map_delimiter(const unsigned char *line, size_t len, const char *b,
    size_t blen)
{
	if (len < blen + 2 || line[0] != '-' || line[1] != '-' ||
	    memcmp(line + 2, b, blen) != 0)
		return 0;
	if (len == blen + 2)
		return 1;
	if (len == blen + 4 && line[blen + 2] == '-' && line[blen + 3] == '-')
		return 2;
	return 0;
}

/*
 * The parts of a multipart/mixed body (RFC 2046 §5.1), up to max of them.
 * A part runs from after its delimiter line to the line break before the
 * next; the body must end with the close delimiter. *n the parts found;
 * -1 with *why for no close delimiter or more than max parts.
 */
static int
coap_map_parts(const unsigned char *body, size_t len, const char *b,
    struct coap_map_part *parts, size_t max, size_t *n, const char **why)
{
	const unsigned char	*pos = body, *end = body + len, *line, *start;
	size_t			 blen = strlen(b), llen;
	int			 d, in = 0;

	*n = 0;
	start = NULL;
	while ((line = coap_map_line(&pos, end, &llen)) != NULL) {
		if ((d = coap_map_delimiter(line, llen, b, blen)) == 0)
			continue;
		if (in) {
			/* The CRLF before the delimiter is the delimiter's. */
			const unsigned char *stop = line;

			if (stop > start && stop[-1] == '\n')
				stop--;
			if (stop > start && stop[-1] == '\r')
				stop--;
			parts[*n - 1].len = (size_t)(stop - start);
		}
		if (d == 2)
			return 0;
		*why = "more parts than serverkeygen has";
		if (*n == max)
			return -1;
		start = pos;
		parts[(*n)++].data = start;
		in = 1;
	}
	*why = "multipart body without its close delimiter";
	return -1;
}

/*
 * A part's headers and body: Content-Type (into ct) and
 * Content-Transfer-Encoding (into cte, "" if none), then the body after
 * the empty line. -1 if there is no empty line.
 */
static int
coap_map_part_head(const struct coap_map_part *part, char *ct, size_t ctlen,
    char *cte, size_t ctelen, struct coap_map_part *body)
{
	const unsigned char	*pos = part->data, *end = part->data + part->len;
	const unsigned char	*line;
	size_t			 llen;

	ct[0] = cte[0] = '\0';
	while ((line = coap_map_line(&pos, end, &llen)) != NULL) {
		if (llen == 0) {
			body->data = pos;
			body->len = (size_t)(end - pos);
			return 0;
		}
		if (!answer_header_value((const char *)line, llen,
		    "Content-Type", ct, ctlen))
			answer_header_value((const char *)line, llen,
			    "Content-Transfer-Encoding", cte, ctelen);
	}
	return -1;
}

/* A part's Content-Format inside multipart-core (RFC 9148 §4.8): the key
 * (284, or 280 when the CA encrypted it) or the certificate (281). */
static int
coap_map_part_cf(const char *ct)
{
	char smime[48];

	if (router_media_type_is(ct, EST_CT_PKCS8))
		return COAP_CF_PKCS8;
	if (!router_media_type_is(ct, EST_CT_PKCS7))
		return COAP_CF_NONE;
	if (coap_map_param(ct, "smime-type", smime, sizeof(smime)) == 0 &&
	    strcasecmp(smime, "server-generated-key") == 0)
		return COAP_CF_PKCS7_SKG;
	return COAP_CF_PKCS7_CERTS;
}

/* CBOR (RFC 8949 §3): a head of major type mt and argument v. */
static size_t
coap_map_cbor_head(unsigned char *o, int mt, size_t v)
{
	unsigned char m = (unsigned char)(mt << 5);

	if (v < 24) {
		o[0] = m | (unsigned char)v;
		return 1;
	}
	if (v <= 0xff) {
		o[0] = m | 24;
		o[1] = (unsigned char)v;
		return 2;
	}
	if (v <= 0xffff) {
		o[0] = m | 25;
		o[1] = (unsigned char)(v >> 8);
		o[2] = (unsigned char)v;
		return 3;
	}
	o[0] = m | 26;
	o[1] = (unsigned char)(v >> 24);
	o[2] = (unsigned char)(v >> 16);
	o[3] = (unsigned char)(v >> 8);
	o[4] = (unsigned char)v;
	return 5;
}

/*
 * multipart-core (RFC 8710 §2): [cf, h'...', cf, h'...'], the key first
 * (RFC 9148 §4.8). Each element is at most COAP_MAP_PAYLOAD_MAX bytes,
 * so the sum cannot overflow.
 */
static unsigned char *
coap_map_multipart_core(const int cf[2], unsigned char *const data[2],
    const size_t len[2], size_t *outlen)
{
	unsigned char	*out, *o;
	int		 i;

	if ((out = malloc(1 + 2 * (3 + 5) + len[0] + len[1])) == NULL)
		return NULL;
	o = out;
	o += coap_map_cbor_head(o, 4, 4);
	for (i = 0; i < 2; i++) {
		o += coap_map_cbor_head(o, 0, (size_t)cf[i]);
		o += coap_map_cbor_head(o, 2, len[i]);
		memcpy(o, data[i], len[i]);
		o += len[i];
	}
	*outlen = (size_t)(o - out);
	return out;
}

/*
 * The parts of serverkeygen's answer (RFC 7030 §4.4.2, RFC 8951 §3.1):
 * one key, one certs-only PKCS#7, in either order; each decoded into
 * data[0] (the key) and data[1]. -1 with *why.
 */
static int
coap_map_skg_parts(const struct est_reply *reply, int cf[2],
    unsigned char *data[2], size_t len[2], const char **why)
{
	struct coap_map_part	parts[2], body;
	char			b[COAP_MAP_BOUNDARY_MAX + 1], ct[128], cte[32];
	size_t			n, i;
	int			slot;

	*why = "serverkeygen answer is not multipart/mixed with a boundary";
	if (!router_media_type_is(reply->content_type, EST_CT_MULTIPART) ||
	    coap_map_param(reply->content_type, "boundary", b, sizeof(b)) ==
	    -1)
		return -1;
	if (coap_map_parts(reply->body, reply->body_len, b, parts, 2, &n,
	    why) == -1)
		return -1;
	*why = "serverkeygen answer has not two parts";
	if (n != 2)
		return -1;
	for (i = 0; i < n; i++) {
		*why = "a serverkeygen part without headers";
		if (coap_map_part_head(&parts[i], ct, sizeof(ct), cte,
		    sizeof(cte), &body) == -1)
			return -1;
		cf[i] = coap_map_part_cf(ct);
		slot = cf[i] == COAP_CF_PKCS7_CERTS ? 1 : 0;
		*why = "serverkeygen parts are not a key and a certificate";
		if (cf[i] == COAP_CF_NONE || data[slot] != NULL)
			return -1;
		if (coap_map_decode(body.data, body.len, cte, &data[slot],
		    &len[slot], why) == -1)
			return -1;
	}
	if (cf[0] == COAP_CF_PKCS7_CERTS) {
		cf[0] = cf[1];
		cf[1] = COAP_CF_PKCS7_CERTS;
	}
	return 0;
}

static int
coap_map_skg(const struct est_reply *reply, int code,
    struct coap_map_answer *a)
{
	unsigned char	*data[2] = { NULL, NULL }, *out;
	size_t		 len[2] = { 0, 0 }, olen;
	int		 cf[2], rc;
	const char	*why;

	if (coap_map_skg_parts(reply, cf, data, len, &why) == -1)
		rc = coap_map_diag(a, 502, "CA answer: %s", why);
	else if ((out = coap_map_multipart_core(cf, data, len, &olen)) ==
	    NULL)
		rc = -1;
	else {
		coap_map_take(a, code, COAP_CF_MULTIPART_CORE, out, olen);
		rc = 0;
	}
	/* The private key: wiped before it is freed. */
	if (data[0] != NULL)
		OPENSSL_clear_free(data[0], len[0]);
	free(data[1]);
	return rc;
}

/* The media type a 2xx of op must have to be relayed. */
static const char *
coap_map_media(enum est_op op)
{
	switch (op) {
	case EST_OP_CSRATTRS:
		return EST_CT_CSRATTRS;
	case EST_OP_SERVERKEYGEN:
		return EST_CT_MULTIPART;
	default:
		return EST_CT_PKCS7;
	}
}

/* A 2xx with a body: its bytes, decoded, in format cf. */
static int
coap_map_success(enum est_op op, int cf, int code,
    const struct est_reply *reply, struct coap_map_answer *a)
{
	unsigned char		*der, *copy;
	const unsigned char	*cert;
	size_t			 len, clen;
	const char		*why;

	if (!router_media_type_is(reply->content_type, coap_map_media(op)))
		return coap_map_diag(a, 502, "CA answered Content-Type %.64s",
		    reply->content_type[0] ? reply->content_type : "(none)");
	if (op == EST_OP_SERVERKEYGEN)
		return coap_map_skg(reply, code, a);
	if (coap_map_decode(reply->body, reply->body_len, est_reply_cte(reply),
	    &der, &len, &why) == -1)
		return coap_map_diag(a, 502, "CA answer: %s", why);
	if (cf != COAP_CF_PKIX_CERT) {
		coap_map_take(a, code, cf, der, len);
		return 0;
	}
	/* RFC 9148 §4.3: 287 is the one certificate, not a chain. */
	if (p7_only_cert(der, len, &cert, &clen, &why) == -1) {
		free(der);
		return coap_map_diag(a, 502, "CA answer as 287: %s", why);
	}
	if ((copy = malloc(clen)) == NULL) {
		free(der);
		return -1;
	}
	memcpy(copy, cert, clen);
	free(der);
	coap_map_take(a, code, cf, copy, clen);
	return 0;
}

/* The text of an error answer: the reply's reason, else the first line
 * of its text body; *len bytes (coap_map_diag cuts and cleans it). */
static const char *
coap_map_reason(const struct est_reply *reply, int *len)
{
	size_t n = 0;

	if (reply->reason[0] != '\0') {
		*len = (int)strnlen(reply->reason, sizeof(reply->reason));
		return reply->reason;
	}
	if (reply->body != NULL &&
	    router_media_type_is(reply->content_type, EST_CT_TEXT))
		while (n < reply->body_len && n < COAP_MAP_DIAG_MAX &&
		    reply->body[n] != '\n' && reply->body[n] != '\r' &&
		    reply->body[n] != '\0')
			n++;
	*len = (int)n;
	return n > 0 ? (const char *)reply->body : "";
}

static int
coap_map_error(const struct est_reply *reply, struct coap_map_answer *a)
{
	const char	*text;
	int		 code = coap_map_code(reply->status), len;

	if (reply->status == 202)
		code = 503;
	if (code == 503 || code == 429)
		a->max_age = answer_retry_after(reply->retry_after, -1);
	/* CoAP has no WWW-Authenticate: the credential it can carry is the
	 * DTLS client certificate (RFC 9148 §3). */
	if (reply->status == 401 && reply->nchallenges > 0)
		return coap_map_diag(a, code, "authentication required: over "
		    "CoAP, present a DTLS client certificate");
	text = coap_map_reason(reply, &len);
	return coap_map_diag(a, code, "%.*s", len, text);
}

int
coap_map_answer(enum est_op op, enum est_method method, int cf,
    const struct est_reply *reply, struct coap_map_answer *out)
{
	int ok = method == EST_METHOD_GET ? 205 : 204;

	memset(out, 0, sizeof(*out));
	out->content_format = COAP_CF_NONE;
	out->max_age = -1;
	/* RFC 9148 §4.7: a 202 (queued) is 5.03, come back after Max-Age;
	 * the queue's reason names its entry ("queued as ID ..."). */
	if (reply->status == 202 && reply->reason[0] == '\0') {
		out->max_age = answer_retry_after(reply->retry_after, -1);
		return coap_map_diag(out, 503, "enrollment queued at the CA: "
		    "retry after %ld s", out->max_age != -1 ? out->max_age :
		    60L);
	}
	if (reply->status < 200 || reply->status > 299 ||
	    reply->status == 202)
		return coap_map_error(reply, out);
	if (reply->body_len == 0 || reply->body == NULL) {
		out->code = ok;
		return 0;
	}
	return coap_map_success(op, cf, ok, reply, out);
}

void
coap_map_answer_clear(struct coap_map_answer *a)
{
	if (a == NULL)
		return;
	/* serverkeygen's payload holds a private key: wiped, as the key
	 * part was (house style: secrets are wiped when freed). */
	if (a->payload != NULL)
		OPENSSL_cleanse(a->payload, a->payload_len);
	free(a->payload);
	memset(a, 0, sizeof(*a));
	a->content_format = COAP_CF_NONE;
	a->max_age = -1;
}
