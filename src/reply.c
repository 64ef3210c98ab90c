/*
 * reply: the answer a backend hands back before it goes to the client.
 * This file owns the two ways a reply is reset: cleared, or turned into a
 * text/plain error (RFC 8951: errors carry a human-readable body). A
 * reply passed here must be zeroed or previously filled, never
 * uninitialised, because its old body is freed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/reply.h"

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
