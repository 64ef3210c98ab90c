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
#define EST_CT_PKCS8		"application/pkcs8"

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
	char		 cte[32];		/* the CA's Content-Transfer-
						 * Encoding; "" for none */
	unsigned char	*body;			/* malloc'd, owned */
	size_t		 body_len;
	char		 reason[384];		/* one line, for errors and logs:
						 * room for a policy verdict's */
};

/* Free the body and zero the reply. */
void est_reply_clear(struct est_reply *reply);
/* Set a text/plain error: status and reason; the body is reason + "\n". */
int est_reply_error(struct est_reply *reply, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The Content-Transfer-Encoding reply goes out with: the CA's own (relayed
 * as it came, if printable), else "base64" for EST's base64 bodies (RFC
 * 8951 §3.1: a 2xx application/pkcs7-mime, application/csrattrs or
 * application/pkcs8 answer with a body), else NULL for none.
 */
const char *est_reply_cte(const struct est_reply *reply);
/*
 * If reply is estrad's own 401 (a challenge: it carries WWW-Authenticate
 * values), drop its body and Content-Type and copy its reason, printable
 * ASCII only, into phrase (at most phraselen bytes with the NUL) for the
 * status line; returns 1. Any other reply is left alone: returns 0.
 */
int est_reply_challenge_only(struct est_reply *reply, char *phrase,
    size_t phraselen);

#endif
