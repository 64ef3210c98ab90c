/*
 * reply: what a backend (upstream CA or local CA) answers, before it goes
 * to the client. The body is relayed byte for byte.
 */
#ifndef ESTRAD_REPLY_H
#define ESTRAD_REPLY_H

#include <stddef.h>

#define EST_CT_CERTS_ONLY	"application/pkcs7-mime; smime-type=certs-only"
#define EST_CT_PKCS7		"application/pkcs7-mime"
#define EST_CT_CSRATTRS		"application/csrattrs"
#define EST_CT_TEXT		"text/plain"

#define EST_REPLY_CHALLENGES	3

struct est_reply {
	int		 status;		/* HTTP status for the client */
	/* WWW-Authenticate values, one header each (RFC 7616 §3.7). */
	char		 challenges[EST_REPLY_CHALLENGES][400];
	int		 nchallenges;
	char		 content_type[128];	/* "" for none */
	char		 retry_after[32];	/* "" for none; seconds */
	char		 age[24];		/* "" for none; seconds in a
						 * cache (RFC 9111 §5.1) */
	unsigned char	*body;			/* malloc'd, owned */
	size_t		 body_len;
	char		 reason[192];		/* one line, for errors and logs */
};

/* Free the body and zero the reply. */
void est_reply_clear(struct est_reply *reply);
/* Set a text/plain error: status and reason; the body is reason + "\n". */
int est_reply_error(struct est_reply *reply, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
