/*
 * test_coap_block: Block1 reassembly (RFC 7959 §2.5) table by table. Each
 * step adds a block (or expires, or forgets a session) and states the
 * result and the count and bytes gauges after it; a COMPLETE body is
 * checked byte by byte against the pattern its blocks were cut from. The
 * bounds are met exactly and passed by one: max_body, Size1, the
 * (max_sequences+1)th and (max_per_session+1)th sequence, the timeout.
 * Out of memory is reached by failing the nth allocation (malloc, calloc
 * and realloc are wrapped at link time, tests/CMakeLists.txt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "estrad/coap_block.h"

#include "testpki.h"

/* --- allocation failure on demand --- */

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

static long alloc_fail_in = -1;	/* the allocation that fails; -1 none */

static int
alloc_fails(void)
{
	if (alloc_fail_in < 0)
		return 0;
	return alloc_fail_in-- == 0;
}

void *
__wrap_malloc(size_t n)
{
	return alloc_fails() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return alloc_fails() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return alloc_fails() ? NULL : __real_realloc(p, n);
}

/* --- steps --- */

#define R_CONT	COAP_BLOCK_CONTINUE
#define R_DONE	COAP_BLOCK_COMPLETE
#define R_BIG	COAP_BLOCK_TOO_LARGE
#define R_INC	COAP_BLOCK_INCOMPLETE
#define R_BUSY	COAP_BLOCK_BUSY
#define R_BAD	COAP_BLOCK_BAD
#define R_MEM	COAP_BLOCK_NOMEM

struct step {
	char		 op;	/* 'a' add, 'x' add other bytes than the
				 * pattern, 'e' expire, 'f' forget */
	int		 sess;	/* index into sessions[] */
	const char	*key;
	uint32_t	 num;
	int		 more;
	unsigned	 szx;
	size_t		 len;
	uint64_t	 size1;
	uint64_t	 t;
	int		 want;	/* a result; for 'e' how many expired */
	size_t		 body;	/* COMPLETE: the body's length */
	size_t		 count;	/* gauges after the step */
	size_t		 bytes;
	long		 fail;	/* fail this allocation of the step (1 =
				 * the first); 0 none */
};

#define ADD(s, k, n, m, z, l, t_, w, b, c, by)				\
	{ 'a', (s), (k), (n), (m), (z), (l), 0, (t_), (w), (b), (c), (by), 0 }
#define EXPIRE(t_, w, c, by)						\
	{ 'e', 0, "", 0, 0, 0, 0, 0, (t_), (w), 0, (c), (by), 0 }

static char sessions[2048];

/* The byte at offset o of key's body: every block is cut from it. */
static uint8_t
pattern(const char *key, size_t o)
{
	return (uint8_t)(o * 31 + (unsigned char)key[0] + (o >> 8));
}

static void
fill(uint8_t *buf, const struct step *s)
{
	size_t off = (size_t)s->num << (s->szx + 4);

	for (size_t i = 0; i < s->len; i++)
		buf[i] = pattern(s->key, off + i) ^ (s->op == 'x' ? 0x5a : 0);
}

static void
check_body(const struct step *s, const unsigned char *body, size_t len)
{
	assert_non_null(body);
	assert_int_equal(len, s->body);
	for (size_t i = 0; i < len; i++)
		if (body[i] != pattern(s->key, i))
			fail_msg("body byte %zu: %02x, want %02x", i, body[i],
			    pattern(s->key, i));
}

static void
run_step(struct coap_block_set *set, const struct step *s)
{
	static uint8_t		 data[1024 + 16];
	struct coap_block_in	 in = { s->num, s->more, s->szx, data,
				     s->len, s->size1 };
	unsigned char		*body = (unsigned char *)"x";
	size_t			 body_len = 99;
	enum coap_block_result	 r;

	switch (s->op) {
	case 'e':
		assert_int_equal(coap_block_expire(set, s->t), s->want);
		return;
	case 'f':
		coap_block_forget(set, &sessions[s->sess]);
		return;
	}
	assert_true(s->len <= sizeof(data));
	fill(data, s);
	alloc_fail_in = s->fail - 1;
	r = coap_block_add(set, &sessions[s->sess], s->key, strlen(s->key),
	    &in, s->t, &body, &body_len);
	alloc_fail_in = -1;
	assert_int_equal(r, s->want);
	if (r == COAP_BLOCK_COMPLETE) {
		check_body(s, body, body_len);
		free(body);
	} else {
		assert_null(body);
		assert_int_equal(body_len, 0);
	}
}

static void
run_steps(const struct coap_block_limits *lim, const struct step *steps,
    size_t n)
{
	struct coap_block_set *set = coap_block_new(lim);

	assert_non_null(set);
	for (size_t i = 0; i < n; i++) {
		print_message("step %zu: %c sess %d key %s num %u\n", i,
		    steps[i].op, steps[i].sess, steps[i].key, steps[i].num);
		run_step(set, &steps[i]);
		assert_int_equal(coap_block_count(set), steps[i].count);
		assert_int_equal(coap_block_bytes(set), steps[i].bytes);
	}
	coap_block_free(set);
}

static const struct coap_block_limits lim_std = {
	.max_body = 8192, .max_sequences = 3, .max_per_session = 2,
	.timeout_ms = 1000,
};

/* --- tables --- */

static void
test_single_and_whole(void **state)
{
	static const struct step steps[] = {
		/* one block: COMPLETE at once, never kept */
		ADD(0, "k", 0, 0, 6, 10, 0, R_DONE, 10, 0, 0),
		ADD(0, "k", 0, 0, 0, 16, 0, R_DONE, 16, 0, 0),
		ADD(0, "k", 0, 0, 6, 0, 0, R_DONE, 0, 0, 0),
		/* three blocks of 1024 */
		ADD(0, "k", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "k", 1, 1, 6, 1024, 1, R_CONT, 0, 1, 2048),
		ADD(0, "k", 2, 0, 6, 100, 2, R_DONE, 2148, 0, 0),
		/* a final block of 0 bytes */
		ADD(0, "z", 0, 1, 2, 64, 3, R_CONT, 0, 1, 64),
		ADD(0, "z", 1, 0, 2, 0, 3, R_DONE, 64, 0, 0),
		/* 16-byte blocks, the smallest */
		ADD(0, "s", 0, 1, 0, 16, 4, R_CONT, 0, 1, 16),
		ADD(0, "s", 1, 1, 0, 16, 4, R_CONT, 0, 1, 32),
		ADD(0, "s", 2, 0, 0, 15, 4, R_DONE, 47, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_max_body(void **state)
{
	static const struct coap_block_limits lim = {
		.max_body = 2048, .max_sequences = 4, .max_per_session = 4,
		.timeout_ms = 1000,
	};
	static const struct step steps[] = {
		/* exactly max_body */
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "a", 1, 0, 6, 1024, 0, R_DONE, 2048, 0, 0),
		/* one byte over: the final block */
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "b", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		ADD(0, "b", 2, 0, 6, 1, 0, R_BIG, 0, 0, 0),
		/* ... the sequence is gone */
		ADD(0, "b", 3, 0, 6, 1, 0, R_INC, 0, 0, 0),
		/* over by a middle block */
		ADD(0, "c", 0, 1, 5, 512, 0, R_CONT, 0, 1, 512),
		ADD(0, "c", 1, 1, 5, 512, 0, R_CONT, 0, 1, 1024),
		ADD(0, "c", 2, 1, 5, 512, 0, R_CONT, 0, 1, 1536),
		ADD(0, "c", 3, 1, 5, 512, 0, R_CONT, 0, 1, 2048),
		ADD(0, "c", 4, 1, 5, 512, 0, R_BIG, 0, 0, 0),
	};

	(void)state;
	run_steps(&lim, steps, NITEMS(steps));
}

static void
test_max_body_small(void **state)
{
	/* max_body below one block: block 0 itself is too large, and a
	 * single block is bounded as well */
	static const struct coap_block_limits lim = {
		.max_body = 100, .max_sequences = 4, .max_per_session = 4,
		.timeout_ms = 1000,
	};
	static const struct step steps[] = {
		ADD(0, "a", 0, 1, 3, 128, 0, R_BIG, 0, 0, 0),
		ADD(0, "a", 0, 0, 3, 100, 0, R_DONE, 100, 0, 0),
		ADD(0, "a", 0, 0, 3, 101, 0, R_BIG, 0, 0, 0),
		ADD(0, "a", 0, 1, 2, 64, 0, R_CONT, 0, 1, 64),
		ADD(0, "a", 1, 0, 2, 36, 0, R_DONE, 100, 0, 0),
	};

	(void)state;
	run_steps(&lim, steps, NITEMS(steps));
}

static void
test_size1(void **state)
{
	static const struct coap_block_limits lim = {
		.max_body = 4096, .max_sequences = 4, .max_per_session = 4,
		.timeout_ms = 1000,
	};
	static const struct step steps[] = {
		/* Size1 = max_body: taken; one over: refused before a byte
		 * is kept */
		{ 'a', 0, "a", 0, 1, 6, 1024, 4096, 0, R_CONT, 0, 1, 1024, 0 },
		{ 'a', 0, "b", 0, 1, 6, 1024, 4097, 0, R_BIG, 0, 1, 1024, 0 },
		/* on a later block, it drops the sequence */
		{ 'a', 0, "a", 1, 1, 6, 1024, 4097, 0, R_BIG, 0, 0, 0, 0 },
		/* on a single block as well */
		{ 'a', 0, "c", 0, 0, 6, 10, 4097, 0, R_BIG, 0, 0, 0, 0 },
		{ 'a', 0, "c", 0, 0, 6, 10, 10, 0, R_DONE, 10, 0, 0, 0 },
	};

	(void)state;
	run_steps(&lim, steps, NITEMS(steps));
}

static void
test_busy(void **state)
{
	/* lim_std: 3 in all, 2 per session */
	static const struct step steps[] = {
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 2, 2048),
		/* the (max_per_session+1)th of session 0 */
		ADD(0, "c", 0, 1, 6, 1024, 0, R_BUSY, 0, 2, 2048),
		/* block 0 again of one it has: a restart, not a new one */
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 2, 2048),
		/* a single block needs no room */
		ADD(0, "c", 0, 0, 6, 5, 0, R_DONE, 5, 2, 2048),
		ADD(1, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 3, 3072),
		/* the (max_sequences+1)th */
		ADD(2, "a", 0, 1, 6, 1024, 0, R_BUSY, 0, 3, 3072),
		/* a session's end makes room */
		{ 'f', 0, "", 0, 0, 0, 0, 0, 0, 0, 0, 1, 1024, 0 },
		ADD(2, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 2, 2048),
		ADD(0, "c", 0, 1, 6, 1024, 0, R_CONT, 0, 3, 3072),
		ADD(3, "a", 500, 1, 6, 1024, 500, R_INC, 0, 3, 3072),
		ADD(3, "a", 0, 1, 6, 1024, 500, R_BUSY, 0, 3, 3072),
		/* so does expiry, checked before the bound */
		ADD(3, "a", 0, 1, 6, 1024, 1001, R_CONT, 0, 1, 1024),
		ADD(3, "b", 0, 1, 6, 1024, 1001, R_CONT, 0, 2, 2048),
		ADD(3, "c", 0, 1, 6, 1024, 1001, R_BUSY, 0, 2, 2048),
		/* a completed sequence makes room too */
		ADD(3, "b", 1, 0, 6, 1, 1001, R_DONE, 1025, 1, 1024),
		ADD(3, "c", 0, 1, 6, 1024, 1001, R_CONT, 0, 2, 2048),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_retransmission(void **state)
{
	static const struct step steps[] = {
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		/* block 0 again: a restart with the same bytes */
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "a", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		/* block 1 again, its 2.31 lost: taken, not appended */
		ADD(0, "a", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		ADD(0, "a", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		ADD(0, "a", 2, 0, 6, 7, 0, R_DONE, 2055, 0, 0),
		/* the same number with other bytes is no repeat */
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "b", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		{ 'x', 0, "b", 1, 1, 6, 1024, 0, 0, R_INC, 0, 0, 0, 0 },
		/* an older block than the last is out of order */
		ADD(0, "c", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "c", 1, 1, 6, 1024, 0, R_CONT, 0, 1, 2048),
		ADD(0, "c", 2, 1, 6, 1024, 0, R_CONT, 0, 1, 3072),
		ADD(0, "c", 1, 1, 6, 1024, 0, R_INC, 0, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_out_of_order(void **state)
{
	static const struct step steps[] = {
		/* past 0 with no sequence */
		ADD(0, "a", 1, 1, 6, 1024, 0, R_INC, 0, 0, 0),
		ADD(0, "a", 1, 0, 6, 10, 0, R_INC, 0, 0, 0),
		/* a gap: the sequence is dropped */
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "a", 2, 1, 6, 1024, 0, R_INC, 0, 0, 0),
		ADD(0, "a", 1, 0, 6, 10, 0, R_INC, 0, 0, 0),
		/* keys and sessions are apart */
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(1, "a", 1, 0, 6, 10, 0, R_INC, 0, 1, 1024),
		ADD(0, "ab", 1, 0, 6, 10, 0, R_INC, 0, 1, 1024),
		ADD(0, "a", 1, 0, 6, 10, 0, R_DONE, 1034, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_block_size(void **state)
{
	static const struct step steps[] = {
		/* 1024 -> 512, lined up: block 2 of 512 at offset 1024 */
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "a", 2, 1, 5, 512, 0, R_CONT, 0, 1, 1536),
		ADD(0, "a", 3, 1, 5, 512, 0, R_CONT, 0, 1, 2048),
		/* and again to 16: offset 2048 is block 128 */
		ADD(0, "a", 128, 1, 0, 16, 0, R_CONT, 0, 1, 2064),
		ADD(0, "a", 129, 0, 0, 3, 0, R_DONE, 2067, 0, 0),
		/* a shrink that does not line up: block 1 of 512 at 512 */
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "b", 1, 1, 5, 512, 0, R_INC, 0, 0, 0),
		/* larger mid-way, even lined up (1024 at offset 1024) */
		ADD(0, "c", 0, 1, 5, 512, 0, R_CONT, 0, 1, 512),
		ADD(0, "c", 1, 1, 5, 512, 0, R_CONT, 0, 1, 1024),
		ADD(0, "c", 1, 1, 6, 1024, 0, R_BAD, 0, 0, 0),
		/* back up after a shrink */
		ADD(0, "d", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "d", 2, 1, 5, 512, 0, R_CONT, 0, 1, 1536),
		ADD(0, "d", 3, 0, 6, 10, 0, R_BAD, 0, 0, 0),
		/* a repeat after a shrink is still a repeat */
		ADD(0, "e", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "e", 2, 1, 5, 512, 0, R_CONT, 0, 1, 1536),
		ADD(0, "e", 2, 1, 5, 512, 0, R_CONT, 0, 1, 1536),
		ADD(0, "e", 3, 0, 5, 1, 0, R_DONE, 1537, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_bad(void **state)
{
	static const struct step steps[] = {
		/* szx 7, alone and on a sequence (which it drops) */
		ADD(0, "a", 0, 0, 7, 10, 0, R_BAD, 0, 0, 0),
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "a", 1, 1, 7, 1024, 0, R_BAD, 0, 0, 0),
		/* a short middle block: block 0 and later */
		ADD(0, "b", 0, 1, 6, 1023, 0, R_BAD, 0, 0, 0),
		ADD(0, "b", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		ADD(0, "b", 1, 1, 6, 1000, 0, R_BAD, 0, 0, 0),
		ADD(0, "b", 1, 0, 6, 10, 0, R_INC, 0, 0, 0),
		/* a final block longer than its size */
		ADD(0, "c", 0, 0, 4, 257, 0, R_BAD, 0, 0, 0),
		ADD(0, "c", 0, 1, 4, 256, 0, R_CONT, 0, 1, 256),
		ADD(0, "c", 1, 0, 4, 257, 0, R_BAD, 0, 0, 0),
		/* a middle block of 0 bytes */
		ADD(0, "d", 0, 1, 0, 0, 0, R_BAD, 0, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_timeout(void **state)
{
	/* lim_std: 1000 ms after the last block */
	static const struct step steps[] = {
		ADD(0, "a", 0, 1, 6, 1024, 0, R_CONT, 0, 1, 1024),
		/* exactly timeout_ms idle: alive, and the timer restarts */
		ADD(0, "a", 1, 1, 6, 1024, 1000, R_CONT, 0, 1, 2048),
		EXPIRE(2000, 0, 1, 2048),
		/* a repeat refreshes it too */
		ADD(0, "a", 1, 1, 6, 1024, 2000, R_CONT, 0, 1, 2048),
		EXPIRE(3000, 0, 1, 2048),
		/* one more: gone */
		EXPIRE(3001, 1, 0, 0),
		ADD(0, "a", 2, 0, 6, 1, 3001, R_INC, 0, 0, 0),
		/* dropped by an add of another key as well */
		ADD(0, "b", 0, 1, 6, 1024, 4000, R_CONT, 0, 1, 1024),
		ADD(1, "c", 0, 1, 6, 1024, 4500, R_CONT, 0, 2, 2048),
		ADD(1, "d", 0, 0, 6, 1, 5001, R_DONE, 1, 1, 1024),
		EXPIRE(5500, 0, 1, 1024),
		EXPIRE(5501, 1, 0, 0),
		/* only the idle ones, oldest first */
		ADD(0, "e", 0, 1, 6, 1024, 6000, R_CONT, 0, 1, 1024),
		ADD(0, "f", 0, 1, 6, 1024, 6100, R_CONT, 0, 2, 2048),
		ADD(0, "e", 1, 1, 6, 1024, 6200, R_CONT, 0, 2, 3072),
		EXPIRE(7100, 0, 2, 3072),
		EXPIRE(7101, 1, 1, 2048),
		EXPIRE(7201, 1, 0, 0),
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
}

static void
test_nomem(void **state)
{
	static const struct step steps[] = {
		/* a single block's copy */
		{ 'a', 0, "a", 0, 0, 6, 10, 0, 0, R_MEM, 0, 0, 0, 1 },
		/* a new sequence: its session's counter, its struct, then
		 * its buffer (a counter left behind is a leak ASan sees) */
		{ 'a', 0, "a", 0, 1, 6, 1024, 0, 0, R_MEM, 0, 0, 0, 1 },
		{ 'a', 0, "a", 0, 1, 6, 1024, 0, 0, R_MEM, 0, 0, 0, 2 },
		{ 'a', 0, "a", 0, 1, 6, 1024, 0, 0, R_MEM, 0, 0, 0, 3 },
		/* the buffer's growth: the sequence is dropped */
		{ 'a', 0, "a", 0, 1, 6, 1024, 0, 0, R_CONT, 0, 1, 1024, 0 },
		{ 'a', 0, "a", 1, 1, 6, 1024, 0, 0, R_MEM, 0, 0, 0, 1 },
		/* and all is well after */
		{ 'a', 0, "a", 0, 1, 6, 1024, 0, 0, R_CONT, 0, 1, 1024, 0 },
		{ 'a', 0, "a", 1, 0, 6, 1024, 0, 0, R_DONE, 2048, 0, 0, 0 },
	};

	(void)state;
	run_steps(&lim_std, steps, NITEMS(steps));
	alloc_fail_in = 0;
	assert_null(coap_block_new(&lim_std));
	alloc_fail_in = 1;
	assert_null(coap_block_new(&lim_std));
	alloc_fail_in = 2;
	assert_null(coap_block_new(&lim_std));
	alloc_fail_in = -1;
}

/* A key of 255 bytes is taken, 256 is refused (the header's bound). */
static void
test_key_length(void **state)
{
	struct coap_block_set	*set = coap_block_new(&lim_std);
	static uint8_t		 data[1024];
	struct coap_block_in	 in = { 0, 1, 6, data, sizeof(data), 0 };
	char			 key[256];
	unsigned char		*body;
	size_t			 len;

	(void)state;
	assert_non_null(set);
	memset(key, 'k', sizeof(key));
	assert_int_equal(coap_block_add(set, sessions, key, 256, &in, 0,
	    &body, &len), COAP_BLOCK_BAD);
	assert_int_equal(coap_block_add(set, sessions, key, 255, &in, 0,
	    &body, &len), COAP_BLOCK_CONTINUE);
	/* the empty key is a key, NULL or not */
	assert_int_equal(coap_block_add(set, sessions, NULL, 0, &in, 0,
	    &body, &len), COAP_BLOCK_CONTINUE);
	in.num = 1;
	assert_int_equal(coap_block_add(set, sessions, key, 0, &in, 0,
	    &body, &len), COAP_BLOCK_CONTINUE);
	assert_int_equal(coap_block_count(set), 2);
	assert_int_equal(coap_block_bytes(set), 3 * 1024);
	coap_block_free(set);
	coap_block_free(NULL);
}

/*
 * Many sessions, interleaved: 2048 sequences of 5 blocks, one block of
 * each in turn, then forgetting half the sessions, then completing the
 * rest, each body intact.
 */
static void
test_many_sessions(void **state)
{
	static const struct coap_block_limits lim = {
		.max_body = 4096, .max_sequences = 2048, .max_per_session = 1,
		.timeout_ms = 60000,
	};
	struct coap_block_set	*set = coap_block_new(&lim);
	uint8_t			 data[512];
	const size_t		 n = NITEMS(sessions);

	(void)state;
	assert_non_null(set);
	for (uint32_t num = 0; num < 5; num++) {
		for (size_t i = 0; i < n; i++) {
			struct step s = { 'a', (int)i, "m", num, num < 4, 5,
			    num < 4 ? 512 : 100, 0, 0, 0, 0, 0, 0, 0 };
			struct coap_block_in in = { num, s.more, 5, data,
			    s.len, 0 };
			unsigned char *body;
			size_t len;

			if (num == 4 && i % 2 == 1)
				continue;
			fill(data, &s);
			assert_int_equal(coap_block_add(set, &sessions[i],
			    "m", 1, &in, num, &body, &len),
			    num < 4 ? R_CONT : R_DONE);
			if (num == 4) {
				s.body = 4 * 512 + 100;
				check_body(&s, body, len);
				free(body);
			}
		}
		if (num < 4) {
			assert_int_equal(coap_block_count(set), n);
			assert_int_equal(coap_block_bytes(set),
			    n * 512 * (num + 1));
		}
		if (num == 0) {
			/* the (max_sequences+1)th */
			struct coap_block_in in = { 0, 1, 5, data, 512, 0 };
			unsigned char *body;
			size_t len;

			assert_int_equal(coap_block_add(set, set, "m", 1,
			    &in, 0, &body, &len), R_BUSY);
		}
	}
	assert_int_equal(coap_block_count(set), n / 2);
	for (size_t i = 1; i < n; i += 2)
		coap_block_forget(set, &sessions[i]);
	assert_int_equal(coap_block_count(set), 0);
	assert_int_equal(coap_block_bytes(set), 0);
	coap_block_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_and_whole),
		cmocka_unit_test(test_max_body),
		cmocka_unit_test(test_max_body_small),
		cmocka_unit_test(test_size1),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_retransmission),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_block_size),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_nomem),
		cmocka_unit_test(test_key_length),
		cmocka_unit_test(test_many_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
