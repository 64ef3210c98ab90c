/*
 * coap_block: Block1 reassembly (RFC 7959 §2.5) with bounds; the contract
 * is include/estrad/coap_block.h.
 *
 * A sequence is found by (session pointer, key bytes) in a chained hash
 * table of 2^k buckets (k fixed at coap_block_new from max_sequences, so
 * chains stay short at the cap and nothing is ever rehashed); the hash is
 * keyhash (SipHash under the process key), since the key carries the
 * client's path and Request-Tag. All sequences are also on one list in
 * the order they were last touched, oldest first: expiry pops from its
 * head and stops at the first one still alive. Each session with a
 * sequence has a counter in a second table of the same size, keyed by the
 * session pointer alone, so the per-session bound costs one lookup, not a
 * walk of every sequence (a walk of 4095 took 10 us, which a client could
 * ask for with every block 0). coap_block_forget, once a session, walks
 * the list.
 *
 * Memory: each sequence holds one buffer that grows geometrically but is
 * never larger than max_body, and there are at most max_sequences of them;
 * a refusal frees the sequence, COMPLETE hands its buffer to the caller.
 * now_ms comes from the caller and is taken as monotonic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/coap_block.h"
#include "estrad/keyhash.h"

#define COAP_BLOCK_KEY_MAX	255
#define COAP_BLOCK_SZX_BAD	7	/* RFC 7959 §2.2: reserved */
#define COAP_BLOCK_BUCKETS_MIN	16
#define COAP_BLOCK_BUCKETS_MAX	65536
#define COAP_BLOCK_FIRST_CAP	1024	/* one block of the usual size */

/* How many sequences one session has; gone at 0. */
struct coap_block_sess {
	struct coap_block_sess	*ss_next;	/* hash chain */
	const void		*ss_session;
	uint64_t		 ss_hash;
	size_t			 ss_count;
};

struct coap_block_seq {
	struct coap_block_seq	*bs_hnext;	/* hash chain */
	struct coap_block_sess	*bs_sess;	/* its session's counter */
	struct coap_block_seq	*bs_prev;	/* touch order, oldest first */
	struct coap_block_seq	*bs_next;
	const void		*bs_session;
	uint64_t		 bs_hash;
	uint64_t		 bs_touched;	/* now_ms of the last block */
	unsigned char		*bs_buf;
	size_t			 bs_len;	/* bytes held */
	size_t			 bs_cap;
	uint32_t		 bs_last_num;	/* the last block taken */
	unsigned		 bs_szx;	/* its szx: no larger after */
	size_t			 bs_keylen;
	unsigned char		 bs_key[];
};

/* What names a sequence: the caller's session and key, and their hash. */
struct coap_block_id {
	const void	*session;
	const char	*key;
	size_t		 keylen;
	uint64_t	 hash;
};

struct coap_block_set {
	struct coap_block_limits	  cs_lim;
	struct coap_block_seq		**cs_buckets;
	struct coap_block_sess		**cs_sess;	/* as many */
	size_t				  cs_nbuckets;	/* a power of 2 */
	struct coap_block_seq		 *cs_oldest;
	struct coap_block_seq		 *cs_newest;
	size_t				  cs_count;
	size_t				  cs_bytes;	/* sum of bs_len */
};

struct coap_block_set *
coap_block_new(const struct coap_block_limits *limits)
{
	struct coap_block_set	*set;
	size_t			 n = COAP_BLOCK_BUCKETS_MIN;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->cs_lim = *limits;
	while (n < limits->max_sequences && n < COAP_BLOCK_BUCKETS_MAX)
		n *= 2;
	if ((set->cs_buckets = calloc(n, sizeof(*set->cs_buckets))) == NULL ||
	    (set->cs_sess = calloc(n, sizeof(*set->cs_sess))) == NULL) {
		free(set->cs_buckets);
		free(set);
		return NULL;
	}
	set->cs_nbuckets = n;
	return set;
}

static void
coap_block_id_hash(struct coap_block_id *id)
{
	struct keyhash_ctx	c;
	uintptr_t		p = (uintptr_t)id->session;

	keyhash_start(&c);
	keyhash_add(&c, &p, sizeof(p));
	keyhash_add(&c, id->key, id->keylen);
	id->hash = keyhash_end(&c);
}

static uint64_t
coap_block_sess_hash(const void *session)
{
	uintptr_t p = (uintptr_t)session;

	return keyhash(&p, sizeof(p));
}

static struct coap_block_sess **
coap_block_sess_slot(const struct coap_block_set *set, const void *session,
    uint64_t h)
{
	struct coap_block_sess **pp = &set->cs_sess[h & (set->cs_nbuckets - 1)];

	while (*pp != NULL && (*pp)->ss_session != session)
		pp = &(*pp)->ss_next;
	return pp;
}

static size_t
coap_block_session_count(const struct coap_block_set *set,
    const void *session)
{
	struct coap_block_sess *ss;

	ss = *coap_block_sess_slot(set, session, coap_block_sess_hash(session));
	return ss != NULL ? ss->ss_count : 0;
}

/* The session's counter, made if need be; NULL when out of memory. A new
 * one has ss_count 0 until its first sequence is in. */
static struct coap_block_sess *
coap_block_sess_get(struct coap_block_set *set, const void *session)
{
	uint64_t		  h = coap_block_sess_hash(session);
	struct coap_block_sess	**pp = coap_block_sess_slot(set, session, h);

	if (*pp == NULL) {
		if ((*pp = calloc(1, sizeof(**pp))) == NULL)
			return NULL;
		(*pp)->ss_session = session;
		(*pp)->ss_hash = h;
	}
	return *pp;
}

/* One sequence fewer; the counter goes at 0. */
static void
coap_block_sess_put(struct coap_block_set *set, struct coap_block_sess *ss)
{
	struct coap_block_sess **pp;

	if (ss->ss_count > 0 && --ss->ss_count > 0)
		return;
	pp = coap_block_sess_slot(set, ss->ss_session, ss->ss_hash);
	*pp = ss->ss_next;
	free(ss);
}

static struct coap_block_seq *
coap_block_find(const struct coap_block_set *set,
    const struct coap_block_id *id)
{
	struct coap_block_seq *s;

	s = set->cs_buckets[id->hash & (set->cs_nbuckets - 1)];
	for (; s != NULL; s = s->bs_hnext)
		if (s->bs_hash == id->hash && s->bs_session == id->session &&
		    s->bs_keylen == id->keylen && (id->keylen == 0 ||
		    memcmp(s->bs_key, id->key, id->keylen) == 0))
			return s;
	return NULL;
}

static void
coap_block_unlist(struct coap_block_set *set, struct coap_block_seq *s)
{
	if (s->bs_prev != NULL)
		s->bs_prev->bs_next = s->bs_next;
	else
		set->cs_oldest = s->bs_next;
	if (s->bs_next != NULL)
		s->bs_next->bs_prev = s->bs_prev;
	else
		set->cs_newest = s->bs_prev;
	s->bs_prev = s->bs_next = NULL;
}

static void
coap_block_list_newest(struct coap_block_set *set, struct coap_block_seq *s)
{
	s->bs_prev = set->cs_newest;
	s->bs_next = NULL;
	if (set->cs_newest != NULL)
		set->cs_newest->bs_next = s;
	else
		set->cs_oldest = s;
	set->cs_newest = s;
}

/* A block was taken: the sequence's timer starts again. */
static void
coap_block_touch(struct coap_block_set *set, struct coap_block_seq *s,
    uint64_t now_ms)
{
	s->bs_touched = now_ms;
	coap_block_unlist(set, s);
	coap_block_list_newest(set, s);
}

/* Take s out of the set; its buffer is returned, for the caller to free
 * or hand on. */
static unsigned char *
coap_block_remove(struct coap_block_set *set, struct coap_block_seq *s)
{
	struct coap_block_seq	**pp;
	unsigned char		 *buf = s->bs_buf;

	pp = &set->cs_buckets[s->bs_hash & (set->cs_nbuckets - 1)];
	while (*pp != s)
		pp = &(*pp)->bs_hnext;
	*pp = s->bs_hnext;
	coap_block_unlist(set, s);
	coap_block_sess_put(set, s->bs_sess);
	set->cs_count--;
	set->cs_bytes -= s->bs_len;
	free(s);
	return buf;
}

static void
coap_block_drop(struct coap_block_set *set, struct coap_block_seq *s)
{
	if (s != NULL)
		free(coap_block_remove(set, s));
}

void
coap_block_free(struct coap_block_set *set)
{
	if (set == NULL)
		return;
	while (set->cs_oldest != NULL)
		coap_block_drop(set, set->cs_oldest);
	free(set->cs_buckets);
	free(set->cs_sess);
	free(set);
}

/* Idle for longer than timeout_ms: exactly timeout_ms is still alive. */
static int
coap_block_expired(const struct coap_block_set *set,
    const struct coap_block_seq *s, uint64_t now_ms)
{
	return now_ms > s->bs_touched &&
	    now_ms - s->bs_touched > set->cs_lim.timeout_ms;
}

size_t
coap_block_expire(struct coap_block_set *set, uint64_t now_ms)
{
	size_t n = 0;

	while (set->cs_oldest != NULL &&
	    coap_block_expired(set, set->cs_oldest, now_ms)) {
		coap_block_drop(set, set->cs_oldest);
		n++;
	}
	return n;
}

void
coap_block_forget(struct coap_block_set *set, const void *session)
{
	struct coap_block_seq *s, *next;

	for (s = set->cs_oldest; s != NULL; s = next) {
		next = s->bs_next;
		if (s->bs_session == session)
			coap_block_drop(set, s);
	}
}

size_t
coap_block_count(const struct coap_block_set *set)
{
	return set->cs_count;
}

size_t
coap_block_bytes(const struct coap_block_set *set)
{
	return set->cs_bytes;
}

/* A new, empty sequence in the set; NULL when out of memory. */
static struct coap_block_seq *
coap_block_insert(struct coap_block_set *set, const struct coap_block_id *id)
{
	struct coap_block_sess	 *ss;
	struct coap_block_seq	 *s;
	struct coap_block_seq	**b;

	if ((ss = coap_block_sess_get(set, id->session)) == NULL)
		return NULL;
	if ((s = calloc(1, sizeof(*s) + id->keylen)) == NULL) {
		coap_block_sess_put(set, ss);
		return NULL;
	}
	ss->ss_count++;
	s->bs_sess = ss;
	s->bs_session = id->session;
	s->bs_hash = id->hash;
	s->bs_keylen = id->keylen;
	if (id->keylen > 0)
		memcpy(s->bs_key, id->key, id->keylen);
	b = &set->cs_buckets[id->hash & (set->cs_nbuckets - 1)];
	s->bs_hnext = *b;
	*b = s;
	coap_block_list_newest(set, s);
	set->cs_count++;
	return s;
}

/*
 * Append len bytes (the caller checked bs_len + len <= max_body): the
 * buffer doubles, from one usual block, but never past max_body. -1 when
 * out of memory.
 */
static int
coap_block_append(struct coap_block_set *set, struct coap_block_seq *s,
    const uint8_t *data, size_t len)
{
	size_t		 need = s->bs_len + len, cap = s->bs_cap;
	unsigned char	*nb;

	if (need > cap) {
		cap = cap ? cap : COAP_BLOCK_FIRST_CAP;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if (cap > set->cs_lim.max_body)
			cap = set->cs_lim.max_body;	/* >= need */
		if ((nb = realloc(s->bs_buf, cap)) == NULL)
			return -1;
		s->bs_buf = nb;
		s->bs_cap = cap;
	}
	if (len > 0)
		memcpy(s->bs_buf + s->bs_len, data, len);
	s->bs_len += len;
	set->cs_bytes += len;
	return 0;
}

/* A body of one block: a copy, never kept (malloc(0) may return NULL). */
static enum coap_block_result
coap_block_single(const struct coap_block_in *in, unsigned char **body,
    size_t *body_len)
{
	if ((*body = malloc(in->len ? in->len : 1)) == NULL)
		return COAP_BLOCK_NOMEM;
	if (in->len > 0)
		memcpy(*body, in->data, in->len);
	*body_len = in->len;
	return COAP_BLOCK_COMPLETE;
}

/* Block 0: a new sequence, or the same key's started again (a client
 * that began anew, or block 0 sent again after a lost 2.31). */
static enum coap_block_result
coap_block_start(struct coap_block_set *set, struct coap_block_seq *s,
    const struct coap_block_id *id, const struct coap_block_in *in,
    uint64_t now_ms, unsigned char **body, size_t *body_len)
{
	if (in->len > set->cs_lim.max_body) {
		coap_block_drop(set, s);
		return COAP_BLOCK_TOO_LARGE;
	}
	if (!in->more) {
		coap_block_drop(set, s);
		return coap_block_single(in, body, body_len);
	}
	if (s != NULL) {
		set->cs_bytes -= s->bs_len;
		s->bs_len = 0;
		coap_block_touch(set, s, now_ms);
	} else if (set->cs_count >= set->cs_lim.max_sequences ||
	    coap_block_session_count(set, id->session) >=
	    set->cs_lim.max_per_session)
		return COAP_BLOCK_BUSY;
	else if ((s = coap_block_insert(set, id)) == NULL)
		return COAP_BLOCK_NOMEM;
	s->bs_touched = now_ms;
	s->bs_szx = in->szx;
	s->bs_last_num = 0;
	if (coap_block_append(set, s, in->data, in->len) == -1) {
		coap_block_drop(set, s);
		return COAP_BLOCK_NOMEM;
	}
	return COAP_BLOCK_CONTINUE;
}

/*
 * The last block taken, again: a client whose 2.31 was lost sends its
 * confirmable request once more (RFC 7252 §4.2). Same number, size and
 * bytes; anything else is a block out of order.
 */
static int
coap_block_is_repeat(const struct coap_block_seq *s,
    const struct coap_block_in *in)
{
	return in->num == s->bs_last_num && in->szx == s->bs_szx &&
	    in->more && in->len <= s->bs_len &&
	    (in->len == 0 || memcmp(s->bs_buf + s->bs_len - in->len,
	    in->data, in->len) == 0);
}

/* Block num > 0 of a sequence s (may be NULL). */
static enum coap_block_result
coap_block_next(struct coap_block_set *set, struct coap_block_seq *s,
    const struct coap_block_in *in, uint64_t now_ms, unsigned char **body,
    size_t *body_len)
{
	uint64_t offset = (uint64_t)in->num << (in->szx + 4);

	if (s == NULL)
		return COAP_BLOCK_INCOMPLETE;
	if (coap_block_is_repeat(s, in)) {
		coap_block_touch(set, s, now_ms);
		return COAP_BLOCK_CONTINUE;
	}
	/* §2.5: the server may ask for smaller blocks, never the client for
	 * larger ones; a shrink keeps offsets aligned, as bigger sizes are
	 * multiples of smaller ones. */
	if (in->szx > s->bs_szx) {
		coap_block_drop(set, s);
		return COAP_BLOCK_BAD;
	}
	if (offset != s->bs_len) {
		coap_block_drop(set, s);
		return COAP_BLOCK_INCOMPLETE;
	}
	if (in->len > set->cs_lim.max_body - s->bs_len) {
		coap_block_drop(set, s);
		return COAP_BLOCK_TOO_LARGE;
	}
	if (coap_block_append(set, s, in->data, in->len) == -1) {
		coap_block_drop(set, s);
		return COAP_BLOCK_NOMEM;
	}
	if (in->more) {
		s->bs_last_num = in->num;
		s->bs_szx = in->szx;
		coap_block_touch(set, s, now_ms);
		return COAP_BLOCK_CONTINUE;
	}
	*body_len = s->bs_len;
	*body = coap_block_remove(set, s);
	return COAP_BLOCK_COMPLETE;
}

/* The checks that need no sequence: RFC 7959 §2.2's szx, the block's
 * length against its size (all but the last block are full, §2.2), and
 * Size1 (§4) against max_body before a byte is kept. CONTINUE: they
 * pass. */
static enum coap_block_result
coap_block_check(const struct coap_block_set *set,
    const struct coap_block_in *in)
{
	size_t bs;

	if (in->szx >= COAP_BLOCK_SZX_BAD)
		return COAP_BLOCK_BAD;
	bs = (size_t)16 << in->szx;
	if (in->len > bs || (in->more && in->len != bs))
		return COAP_BLOCK_BAD;
	if (in->size1 > set->cs_lim.max_body)
		return COAP_BLOCK_TOO_LARGE;
	return COAP_BLOCK_CONTINUE;
}

enum coap_block_result
coap_block_add(struct coap_block_set *set, const void *session,
    const char *key, size_t keylen, const struct coap_block_in *in,
    uint64_t now_ms, unsigned char **body, size_t *body_len)
{
	struct coap_block_id	 id = { session, key, keylen, 0 };
	struct coap_block_seq	*s;
	enum coap_block_result	 r;

	*body = NULL;
	*body_len = 0;
	coap_block_expire(set, now_ms);
	if (keylen > COAP_BLOCK_KEY_MAX)
		return COAP_BLOCK_BAD;
	coap_block_id_hash(&id);
	s = coap_block_find(set, &id);
	if ((r = coap_block_check(set, in)) != COAP_BLOCK_CONTINUE) {
		coap_block_drop(set, s);
		return r;
	}
	if (in->num == 0)
		return coap_block_start(set, s, &id, in, now_ms, body,
		    body_len);
	return coap_block_next(set, s, in, now_ms, body, body_len);
}
