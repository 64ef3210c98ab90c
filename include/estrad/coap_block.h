/*
 * coap_block: Block1 reassembly (RFC 7959 §2.5) for EST over CoAP, with
 * bounds. A CSR larger than one datagram comes as numbered blocks; each is
 * added here under a key that names its sequence (the session and the
 * request's path and Request-Tag, RFC 9175 §3), and the body comes out
 * whole once the last block is in. Pure logic, no libcoap, no clock of
 * its own (the caller passes now_ms): a unit test drives it table by
 * table, and a fuzzer with any block sequence.
 *
 * Bounds (coap.* in the config): bytes per body, sequences in flight in
 * all and per session, and how long an unfinished sequence is kept.
 */
#ifndef ESTRAD_COAP_BLOCK_H
#define ESTRAD_COAP_BLOCK_H

#include <stddef.h>
#include <stdint.h>

struct coap_block_limits {
	size_t		max_body;	/* bytes of one reassembled body */
	size_t		max_sequences;	/* unfinished sequences in all */
	size_t		max_per_session;	/* unfinished, per session */
	uint64_t	timeout_ms;	/* an unfinished sequence's life
					 * after its last block */
};

enum coap_block_result {
	COAP_BLOCK_CONTINUE,	/* 2.31 Continue: send the next block */
	COAP_BLOCK_COMPLETE,	/* *body holds the whole body */
	COAP_BLOCK_TOO_LARGE,	/* 4.13: over max_body (or Size1 says so) */
	COAP_BLOCK_INCOMPLETE,	/* 4.08: a block out of order, or no
				 * sequence for a block past 0 */
	COAP_BLOCK_BUSY,	/* 5.03: too many sequences in flight */
	COAP_BLOCK_BAD,		/* 4.00: szx 7, a block size that changed
				 * to a larger one, a short middle block */
	COAP_BLOCK_NOMEM	/* 5.00 */
};

/* One Block1 option's fields (RFC 7959 §2.2) with its payload. */
struct coap_block_in {
	uint32_t	 num;
	int		 more;		/* the M bit */
	unsigned	 szx;		/* block size 2^(szx + 4); 7 is bad */
	const uint8_t	*data;
	size_t		 len;
	uint64_t	 size1;		/* the Size1 option; 0 if absent */
};

struct coap_block_set;

/* NULL when out of memory. limits is copied. */
struct coap_block_set *coap_block_new(const struct coap_block_limits *limits);
void coap_block_free(struct coap_block_set *set);

/*
 * Add one block of the sequence (session, key): key is the caller's text
 * for path and Request-Tag (at most 255 bytes, not NUL-terminated, keylen
 * bytes). Block 0 starts a sequence (replacing one with the same key);
 * a block equal to the last one taken is taken again (a retransmission
 * whose answer was lost: CONTINUE). COMPLETE: *body (malloc'd, owned by
 * the caller; *body_len bytes, may be 0) and the sequence is gone. Any
 * refusal drops the sequence. Expired sequences are dropped first.
 */
enum coap_block_result coap_block_add(struct coap_block_set *set,
    const void *session, const char *key, size_t keylen,
    const struct coap_block_in *in, uint64_t now_ms,
    unsigned char **body, size_t *body_len);

/* Drop sequences unfinished for longer than timeout_ms; how many. */
size_t coap_block_expire(struct coap_block_set *set, uint64_t now_ms);
/* Drop the sequences of a session that ended. */
void coap_block_forget(struct coap_block_set *set, const void *session);
/* Unfinished sequences now (for a gauge), and bytes they hold. */
size_t coap_block_count(const struct coap_block_set *set);
size_t coap_block_bytes(const struct coap_block_set *set);

#endif
