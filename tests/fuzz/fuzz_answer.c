/*
 * fuzz_answer: what comes back from the CA: its header lines as
 * upstream.c reads them (answer_header_value for Content-Type and
 * Retry-After, answer_retry_after as queue.c turns the latter into
 * seconds), and the check of its answer (answer_check: status,
 * Content-Type, body; base64 and the certs-only PKCS#7 walk of src/p7.c
 * for cacerts, simpleenroll and simplereenroll, the csrattrs SEQUENCE).
 * p7_certs_only and p7_first_cert also get the decoded body (and, in DER
 * mode, the raw bytes) directly, as the audit record reads the issued
 * certificate. estrad answers serverkeygen itself (501) and parses no
 * multipart anywhere: its and fullcmc's answers are relayed unchecked,
 * which answer_check() is asked here too. A WWW-Authenticate line goes
 * to digest_offer_pick() as upstream.c gives it (src/digest_offer.c), and
 * a challenge it keeps is answered with digest_offer_answer().
 *
 * Input: two control bytes, header lines up to an empty line (LF or CRLF
 * ends each, as on the wire), then the body.
 *   byte 0: the operation (modulo EST_OP_MAX + 1: the last is none)
 *   byte 1: bits 0-2 status (200 x4, 202, 204, 500, 503);
 *           bit 3: the body is DER, base64-encoded by the harness as a CA
 *           would send it, so that mutations reach the PKCS#7 directly
 *
 * Invariants: a header value fits its array, has no leading blank, and
 * (unless cut to fit, or at a NUL) no trailing blank or line end; a Retry-After is 1..86400 or the default; an
 * answer refused has a one-line, NUL-terminated reason (also in a
 * short buffer), one accepted is a 200 of a checked operation with the
 * right media type whose body's DER p7_certs_only() accepts (or a
 * csrattrs SEQUENCE), or anything else; p7_certs_only() gives at least
 * one certificate or a reason; p7_first_cert() gives both values or none.
 * A kept challenge has a nonce and values that fit; its answer is refused
 * only for a tab in a value, never holds a line end, and the server side
 * (digest_parse, digest_response_ok) reads it back as right.
 */
#include <openssl/asn1.h>
#include <openssl/err.h>

#include "estrad/answer.h"
#include "estrad/b64.h"
#include "estrad/digest.h"
#include "estrad/p7.h"
#include "estrad/reply.h"
#include "estrad/router.h"
#include "fuzz.h"

static const long statuses[8] = { 200, 200, 200, 200, 202, 204, 500, 503 };

/* The same as est_reply's arrays. */
#define CT_SIZE	128
#define RA_SIZE	32

static void
check_value(const char *v, size_t size, int has_nul)
{
	size_t n = strnlen(v, size);

	FUZZ_CHECK(n < size);
	if (n == 0)
		return;
	FUZZ_CHECK(v[0] != ' ' && v[0] != '\t');
	/* Trimmed, then cut to fit (or at a NUL the CA sent, as C strings
	 * are): a cut value may end anyhow. */
	if (n < size - 1 && !has_nul)
		FUZZ_CHECK(strchr(" \t\r\n", v[n - 1]) == NULL);
}

/* A kept challenge, answered and read back by the server side. */
static void
check_offer(struct digest_offer *o)
{
	struct digest_auth	 a;
	const char		*reason;
	char			 out[4096], ha1[DIGEST_HEX_MAX];

	FUZZ_CHECK(o->nonce[0] != '\0');
	FUZZ_CHECK(strnlen(o->nonce, sizeof(o->nonce)) < sizeof(o->nonce));
	FUZZ_CHECK(strnlen(o->realm, sizeof(o->realm)) < sizeof(o->realm));
	FUZZ_CHECK(strnlen(o->opaque, sizeof(o->opaque)) < sizeof(o->opaque));
	FUZZ_CHECK((unsigned)o->alg < DIGEST_ALG_MAX && o->nc == 0);
	if (digest_offer_answer(o, "ra-user", "pw", "POST",
	    "/.well-known/est/simpleenroll", "c0ffee", out, sizeof(out)) == -1) {
		FUZZ_CHECK(strchr(o->realm, '\t') != NULL ||
		    strchr(o->nonce, '\t') != NULL ||
		    strchr(o->opaque, '\t') != NULL);
		return;
	}
	FUZZ_CHECK(strpbrk(out, "\r\n") == NULL);
	FUZZ_CHECK(digest_parse(out, &a, &reason) == 0);
	FUZZ_CHECK(strcmp(a.realm, o->realm) == 0);
	FUZZ_CHECK(strcmp(a.nonce, o->nonce) == 0 && a.nc_value == 1);
	FUZZ_CHECK(digest_ha1_hex(o->alg, "ra-user", o->realm, "pw", ha1,
	    sizeof(ha1)) == 0);
	FUZZ_CHECK(digest_response_ok(&a, ha1, "POST") == 1);
}

/* A WWW-Authenticate line, as upstream_on_challenge() reads it. */
static void
challenge_line(const char *exact, size_t len)
{
	struct digest_offer	 o;
	char			 v[4096];

	if (len >= sizeof(v) || !answer_header_value(exact, len,
	    "WWW-Authenticate", v, sizeof(v)))
		return;
	memset(&o, 0, sizeof(o));
	if (digest_offer_pick(v, &o) == 1)
		check_offer(&o);
	else
		FUZZ_CHECK(o.nonce[0] == '\0');
}

/*
 * One header line, as upstream_on_header() takes it: a status line starts
 * over; else Content-Type, else Retry-After. In a buffer of exactly its
 * length: curl's lines are not NUL-terminated.
 */
static void
header_line(const uint8_t *line, size_t len, char *ct, char *ra,
    int *seen_ct)
{
	char	*exact = malloc(len ? len : 1);
	char	 before[CT_SIZE];
	int	 r;

	if (exact == NULL)
		abort();
	if (len > 0)
		memcpy(exact, line, len);
	if (len >= 5 && strncmp(exact, "HTTP/", 5) == 0) {
		ct[0] = ra[0] = '\0';
		*seen_ct = 0;
		free(exact);
		return;
	}
	challenge_line(exact, len);
	memcpy(before, ct, CT_SIZE);
	r = answer_header_value(exact, len, "Content-Type", ct, CT_SIZE);
	if (r) {
		check_value(ct, CT_SIZE, memchr(exact, '\0', len) != NULL);
		*seen_ct = 1;
	} else {
		FUZZ_CHECK(memcmp(before, ct, CT_SIZE) == 0);
		if (answer_header_value(exact, len, "Retry-After", ra,
		    RA_SIZE))
			check_value(ra, RA_SIZE,
			    memchr(exact, '\0', len) != NULL);
	}
	/* A name that does not match, or no room: nothing is written. */
	FUZZ_CHECK(answer_header_value(exact, len, "Content-Type", before,
	    0) == 0);
	free(exact);
}

static void
check_p7(const unsigned char *der, size_t len)
{
	ASN1_INTEGER	*serial = NULL;
	ASN1_TIME	*not_after = NULL;
	const char	*why = NULL;
	int		 ncerts = -1, rc;

	rc = p7_certs_only(der, len, &ncerts, &why);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		FUZZ_CHECK(ncerts >= 1);
	else
		FUZZ_CHECK(why != NULL && strpbrk(why, "\r\n") == NULL);
	rc = p7_first_cert(der, len, &serial, &not_after);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(serial != NULL && not_after != NULL);
		FUZZ_CHECK(ASN1_TIME_check(not_after) == 1);
	}
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(not_after);
	ERR_clear_error();
}

static void
check_answer(enum est_op op, long status, const char *ct,
    const unsigned char *body, size_t len)
{
	char	 why[256], shortwhy[8];
	int	 rc;

	memset(why, 'x', sizeof(why));
	rc = answer_check(op, status, ct, body, len, why, sizeof(why));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(status == 200);
		FUZZ_CHECK(op == EST_OP_CACERTS || op == EST_OP_CSRATTRS ||
		    op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL);
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(fuzz_one_line(why, sizeof(why)));
		/* The reason is cut, not overrun, in a short buffer. */
		memset(shortwhy, 'x', sizeof(shortwhy));
		FUZZ_CHECK(answer_check(op, status, ct, body, len, shortwhy,
		    sizeof(shortwhy)) == -1);
		FUZZ_CHECK(strnlen(shortwhy, sizeof(shortwhy)) <
		    sizeof(shortwhy));
	} else if (status == 200 && (op == EST_OP_CACERTS ||
	    op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL)) {
		unsigned char	*der = NULL;
		size_t		 dlen = 0;
		const char	*reason, *pwhy;
		int		 n;

		FUZZ_CHECK(router_media_type_is(ct, EST_CT_PKCS7));
		/* As every reader of a CA's body reads it: without what
		 * follows the base64 and carries nothing (a NUL, as libest's
		 * server sends). */
		FUZZ_CHECK(answer_decode(body, len, &der, &dlen, &reason) ==
		    0);
		FUZZ_CHECK(p7_certs_only(der, dlen, &n, &pwhy) == 0 && n >= 1);
		free(der);
	} else if (status == 200 && op == EST_OP_CSRATTRS)
		FUZZ_CHECK(router_media_type_is(ct, EST_CT_CSRATTRS));
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 ct[CT_SIZE] = "", ra[RA_SIZE] = "";
	const uint8_t	*p, *line;
	unsigned char	*body, *der = NULL;
	size_t		 left, blen;
	long		 len, secs;
	int		 seen_ct = 0, der_mode;
	enum est_op	 op;
	long		 status;
	const char	*reason;

	if (size < 2)
		return 0;
	op = (enum est_op)(data[0] % (EST_OP_MAX + 1));
	status = statuses[data[1] & 7];
	der_mode = (data[1] & 8) != 0;
	p = data + 2;
	left = size - 2;
	/* Header lines up to an empty one; what follows is the body. */
	while (p != NULL) {
		const uint8_t *start = p;

		if ((len = fuzz_next_line(&p, &left, &line)) < 0)
			break;
		if (len == 0 || (len == 1 && line[0] == '\r'))
			break;
		/* With its line end, as curl passes it. */
		header_line(start, (size_t)len + (p != NULL ? 1 : 0), ct, ra,
		    &seen_ct);
	}
	secs = answer_retry_after(ra, -7);
	FUZZ_CHECK(secs == -7 || (secs >= 1 && secs <= 86400));
	FUZZ_CHECK(answer_retry_after(NULL, 5) == 5);

	if (p == NULL) {
		body = (unsigned char *)"";
		blen = 0;
	} else {
		body = (unsigned char *)p;
		blen = left;
	}
	if (der_mode) {
		char *enc = b64_encode_lines(body, blen, &blen);

		FUZZ_CHECK(enc != NULL);
		check_p7(body, p == NULL ? 0 : left);
		body = (unsigned char *)enc;
	}
	{
		/* The body in a buffer of exactly its size. */
		unsigned char *exact = malloc(blen ? blen : 1);

		if (exact == NULL)
			abort();
		if (blen > 0)
			memcpy(exact, body, blen);
		if (der_mode)
			free(body);
		body = exact;
	}
	/* As upstream.c calls it (no Content-Type: ""), and with NULL. */
	check_answer(op, status, ct, body, blen);
	if (!seen_ct)
		check_answer(op, status, NULL, body, blen);
	if (b64_decode_lenient((const char *)body, blen, &der, &left,
	    &reason) == 0) {
		check_p7(der, left);
		free(der);
	}
	free(body);
	return 0;
}
