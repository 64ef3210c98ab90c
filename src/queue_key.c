/*
 * queue_key: what makes a client's retry "the same request" for the
 * store-and-forward queue (RFC 7030 §4.2.3): label, operation,
 * authenticated identity, public key and subject. Never the CSR's bytes:
 * with channel binding (RFC 7030 §3.5) each retry carries a fresh
 * challengePassword, so each retry's CSR differs.
 *
 * Every field is exact text or nothing. A cut field could make two
 * different clients match (two long subjects sharing a prefix), and the
 * second would be handed the first one's certificate; so text that does
 * not fit makes the key fail instead.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "estrad/auth.h"
#include "estrad/b64.h"
#include "estrad/pki.h"
#include "estrad/queue.h"
#include "estrad/router.h"
#include "estrad/store.h"

/* Copy src into dst whole, or -1. */
static int
queue_key_text(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int
queue_key_identity(char *dst, size_t dstlen, const struct auth_identity *id)
{
	int n;

	if (id == NULL || id->method >= AUTH_METHOD_MAX || id->name[0] == '\0')
		return queue_key_text(dst, dstlen, "anonymous");
	n = snprintf(dst, dstlen, "%s:%.*s", auth_method_name(id->method),
	    (int)sizeof(id->name), id->name);
	return n < 0 || (size_t)n >= dstlen ? -1 : 0;
}

/* Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
static int
queue_key_pubkey(char *dst, size_t dstlen, X509_REQ *req)
{
	EVP_PKEY		*pkey;
	unsigned char		*der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0;
	int			 len, rc = -1;

	if ((pkey = X509_REQ_get0_pubkey(req)) == NULL)
		return -1;
	if ((len = i2d_PUBKEY(pkey, &der)) <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    dstlen < (size_t)mdlen * 2 + 1)
		goto fail;
	hex_encode(md, mdlen, dst);
	rc = 0;
 fail:
	OPENSSL_free(der);
	return rc;
}

/*
 * pki_name_text() cuts to fit; give it one byte more than the field holds,
 * so that a name which fills that byte is known not to fit. An empty
 * subject (identity in the SAN only) is "": the printer has nothing to
 * say about it and would report an error.
 */
static int
queue_key_subject(char *dst, size_t dstlen, X509_REQ *req)
{
	const X509_NAME	*name = X509_REQ_get_subject_name(req);
	char		 buf[sizeof(((struct queue_key *)0)->subject) + 1];

	if (name == NULL)
		return -1;
	if (X509_NAME_entry_count(name) == 0)
		return queue_key_text(dst, dstlen, "");
	if (pki_name_text(name, buf, sizeof(buf)) == -1)
		return -1;
	return queue_key_text(dst, dstlen, buf);
}

int
queue_key_make(struct queue_key *k, const char *label, enum est_op op,
    const struct auth_identity *id, X509_REQ *req)
{
	memset(k, 0, sizeof(*k));
	if (req == NULL || op >= EST_OP_MAX)
		goto fail;
	if (queue_key_text(k->label, sizeof(k->label),
	    label != NULL ? label : "") == -1 ||
	    queue_key_text(k->op, sizeof(k->op), est_op_name(op)) == -1 ||
	    queue_key_identity(k->identity, sizeof(k->identity), id) == -1 ||
	    queue_key_pubkey(k->pubkey, sizeof(k->pubkey), req) == -1 ||
	    queue_key_subject(k->subject, sizeof(k->subject), req) == -1)
		goto fail;
	return 0;
 fail:
	/* A half-made key matches no entry: an entry's op is never "". */
	memset(k, 0, sizeof(*k));
	return -1;
}

int
queue_key_equal(const struct queue_key *a, const struct queue_key *b)
{
	return strcmp(a->label, b->label) == 0 &&
	    strcmp(a->op, b->op) == 0 &&
	    strcmp(a->identity, b->identity) == 0 &&
	    strcmp(a->pubkey, b->pubkey) == 0 &&
	    strcmp(a->subject, b->subject) == 0;
}

/* The entry's fields have the key's sizes; copying never cuts. */
#define QUEUE_KEY_COPY(k, e, f) do {					\
	_Static_assert(sizeof((k)->f) == sizeof((e)->f),		\
	    "queue_key." #f " and store_entry." #f " differ");		\
	memcpy((k)->f, (e)->f, sizeof((k)->f));				\
	(k)->f[sizeof((k)->f) - 1] = '\0';				\
} while (0)

void
queue_key_of_entry(struct queue_key *k, const struct store_entry *e)
{
	QUEUE_KEY_COPY(k, e, label);
	QUEUE_KEY_COPY(k, e, op);
	QUEUE_KEY_COPY(k, e, identity);
	QUEUE_KEY_COPY(k, e, pubkey);
	QUEUE_KEY_COPY(k, e, subject);
}
