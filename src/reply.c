/*
 * reply: the answer a backend hands back before it goes to the client.
 * This file owns the two ways a reply is reset: cleared, or turned into a
 * text/plain error (RFC 8951: errors carry a human-readable body). A
 * reply passed here must be zeroed or previously filled, never
 * uninitialised, because its old body is freed. It also decides the two
 * things about a reply's framing that field clients depend on (see
 * docs/interop.md): the Content-Transfer-Encoding of base64 bodies and
 * the empty body of a 401 challenge.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/reply.h"
#include "estrad/router.h"

void
est_reply_clear(struct est_reply *reply)
{
	if (reply == NULL)
		return;
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

/*
 * The reason ends up in a body, a log line and maybe a header: keep it to
 * one line of printable text whatever the caller formatted into it.
 */
static void
reply_one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/*
 * Always returns -1, so a failing function can end with
 * "return est_reply_error(...)". If the body cannot be allocated the
 * status and reason still stand and the body stays empty.
 */
int
est_reply_error(struct est_reply *reply, int status, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	est_reply_clear(reply);
	reply->status = status;
	/* vsnprintf truncates to the buffer: long reasons are cut, not lost. */
	va_start(ap, fmt);
	vsnprintf(reply->reason, sizeof(reply->reason), fmt, ap);
	va_end(ap);
	reply_one_line(reply->reason);
	snprintf(reply->content_type, sizeof(reply->content_type), "%s",
	    EST_CT_TEXT);
	len = strlen(reply->reason);
	if ((reply->body = malloc(len + 1)) == NULL)
		return -1;
	memcpy(reply->body, reply->reason, len);
	reply->body[len] = '\n';
	reply->body_len = len + 1;
	return -1;
}

/*
 * RFC 8951 §3.1 makes every EST body base64 whatever the
 * Content-Transfer-Encoding says, and tells receivers to ignore the
 * header; RFC 7030 §4 had required it. Clients written to RFC 7030 still
 * decode only when it is there (Bouncy Castle 1.72 reads the raw base64 as
 * DER without it), so estrad names the encoding on every such body it
 * sends: its own, a cached or queued one, a CA's. A CA's own header is
 * relayed as it came: its body is relayed byte for byte, so its word on
 * the encoding is the one that holds (answer.c has checked the bodies of
 * cacerts, csrattrs and the enrollments to be base64; fullcmc and
 * serverkeygen are the CA's alone).
 */
static int
reply_is_base64(const struct est_reply *reply)
{
	const char *ct = reply->content_type;

	return reply->status >= 200 && reply->status <= 299 &&
	    reply->body_len > 0 && (router_media_type_is(ct, EST_CT_PKCS7) ||
	    router_media_type_is(ct, EST_CT_CSRATTRS) ||
	    router_media_type_is(ct, EST_CT_PKCS8));
}

const char *
est_reply_cte(const struct est_reply *reply)
{
	const char *p;

	for (p = reply->cte; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			break;
	if (reply->cte[0] != '\0' && *p == '\0')
		return reply->cte;
	return reply_is_base64(reply) ? "base64" : NULL;
}

/*
 * A client answers a challenge without reading its body, and Bouncy
 * Castle's EST client (1.72) fails on any 401 body it leaves unread
 * ("Stream closed before limit fully read"), even a one-byte one. So a
 * challenge carries Content-Length: 0, and its one-line reason moves to
 * the status line's reason phrase (RFC 9112 §4), where a person running
 * curl -v still reads it, and to the access line as before. The CA's own
 * 401 (relayed, no challenges of estrad's) keeps its body.
 */
int
est_reply_challenge_only(struct est_reply *reply, char *phrase,
    size_t phraselen)
{
	size_t i;

	if (reply->status != 401 || reply->nchallenges == 0 || phraselen == 0)
		return 0;
	for (i = 0; i + 1 < phraselen && reply->reason[i] != '\0'; i++) {
		unsigned char c = (unsigned char)reply->reason[i];

		phrase[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	phrase[i] = '\0';
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
	reply->content_type[0] = '\0';
	return 1;
}
