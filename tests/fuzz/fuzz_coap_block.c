/*
 * fuzz_coap_block: Block1 reassembly (src/coap_block.c) under any block
 * sequence a client could send, with small limits chosen by the input.
 *
 * Input: 4 bytes of limits (max_body 16..1039, max_sequences 0..7,
 * max_per_session 0..3, timeout_ms 0..4092 by 4), then records of 8
 * bytes:
 *   0  bits 0-1 the operation (0, 1 add, 2 expire, 3 forget), bits 2-4
 *      the session (8), bits 5-6 the key (4; key 3 is the empty key)
 *   1  num (0..255)
 *   2  bit 0 the M bit, bits 1-3 szx (7 included), bits 4-5 Size1 (none,
 *      max_body, max_body + 1, byte 5 * 8)
 *   3  bit 7: a full block (len = the block size); else bits 0-6 with
 *      byte 4 a length up to the block size + 1
 *   4  (length)
 *   5  the data: byte i of the block is byte 5 + i
 *   6  (unused, for the mutator)
 *   7  the time step: now += byte 7 * 4 ms
 *
 * A shadow of each (session, key) holds the bytes the harness saw taken
 * (a repeat is told by the bytes gauge not moving), its last block time,
 * and whether it is alive. Invariants after each operation: the count and
 * bytes gauges equal the shadow's, so never over max_sequences and
 * max_sequences * max_body; a session never holds more than
 * max_per_session; a COMPLETE body is at most max_body and is exactly the
 * bytes the shadow holds and the last block; a refusal leaves no sequence
 * for that key; a block past 0 is taken only on a live sequence; BUSY
 * exactly when a good block 0 would start a sequence and there is no room; expiry drops exactly those idle longer than timeout_ms;
 * forget drops exactly the session's; no NOMEM with such small sizes.
 */
#include "estrad/coap_block.h"
#include "fuzz.h"

#define NSESS	8
#define NKEY	4
#define REC	8

struct shadow {
	int		alive;
	uint64_t	touched;
	size_t		len;
	uint8_t		buf[1040];
};

static struct shadow	sh[NSESS][NKEY];
static char		sessions[NSESS];
static const char	keys[NKEY][2] = { "a", "b", "c", "" };

struct fz {
	struct coap_block_set		*set;
	struct coap_block_limits	 lim;
	uint64_t			 now;
};

static void
check_gauges(const struct fz *f)
{
	size_t count = 0, bytes = 0;

	for (int s = 0; s < NSESS; s++) {
		size_t per = 0;

		for (int k = 0; k < NKEY; k++) {
			if (!sh[s][k].alive)
				continue;
			per++;
			bytes += sh[s][k].len;
			FUZZ_CHECK(sh[s][k].len <= f->lim.max_body);
		}
		FUZZ_CHECK(per <= f->lim.max_per_session);
		count += per;
	}
	FUZZ_CHECK(count <= f->lim.max_sequences);
	FUZZ_CHECK(coap_block_count(f->set) == count);
	FUZZ_CHECK(coap_block_bytes(f->set) == bytes);
}

static size_t
alive_in(int sess)
{
	size_t n = 0;

	for (int k = 0; k < NKEY; k++)
		n += sh[sess][k].alive;
	return n;
}

static void
do_expire(struct fz *f)
{
	size_t want = 0;

	for (int s = 0; s < NSESS; s++)
		for (int k = 0; k < NKEY; k++)
			if (sh[s][k].alive &&
			    f->now - sh[s][k].touched > f->lim.timeout_ms) {
				sh[s][k].alive = 0;
				want++;
			}
	FUZZ_CHECK(coap_block_expire(f->set, f->now) == want);
}

/* What a taken block does to the shadow; the gauges tell a repeat. */
static void
took(struct fz *f, struct shadow *x, const struct coap_block_in *in,
    size_t before, enum coap_block_result r, unsigned char *body,
    size_t body_len)
{
	size_t after = coap_block_bytes(f->set);

	if (in->num == 0)
		x->len = 0;
	else
		FUZZ_CHECK(x->alive);
	if (r == COAP_BLOCK_CONTINUE && in->num > 0 && after == before) {
		/* a repeat: the same bytes as the last block held */
		FUZZ_CHECK(in->len > 0 && in->len <= x->len &&
		    memcmp(x->buf + x->len - in->len, in->data, in->len) == 0);
	} else {
		FUZZ_CHECK(x->len + in->len <= f->lim.max_body);
		memcpy(x->buf + x->len, in->data, in->len);
		x->len += in->len;
	}
	x->touched = f->now;
	x->alive = r == COAP_BLOCK_CONTINUE;
	if (r == COAP_BLOCK_COMPLETE) {
		FUZZ_CHECK(body != NULL && body_len <= f->lim.max_body);
		FUZZ_CHECK(body_len == x->len);
		FUZZ_CHECK(body_len == 0 || memcmp(body, x->buf, body_len) == 0);
		FUZZ_CHECK(!in->more);
		x->len = 0;
	}
}

static void
do_add(struct fz *f, const uint8_t *rec, int sess, int key)
{
	struct shadow		*x = &sh[sess][key];
	uint8_t			 data[1024 + 1];
	struct coap_block_in	 in;
	unsigned char		*body = NULL;
	size_t			 bs, body_len = 0, before;
	enum coap_block_result	 r;
	int			 room, was_alive;

	in.num = rec[1];
	in.more = rec[2] & 1;
	in.szx = (rec[2] >> 1) & 7;
	bs = (size_t)16 << (in.szx & 7);
	if (rec[3] & 0x80)
		in.len = in.szx == 7 ? 0 : bs;
	else
		in.len = ((size_t)(rec[3] & 0x7f) << 8 | rec[4]) %
		    ((in.szx == 7 ? 1024 : bs) + 2);
	for (size_t i = 0; i < in.len; i++)
		data[i] = (uint8_t)(rec[5] + i);
	in.data = data;
	switch ((rec[2] >> 4) & 3) {
	case 0: in.size1 = 0; break;
	case 1: in.size1 = f->lim.max_body; break;
	case 2: in.size1 = (uint64_t)f->lim.max_body + 1; break;
	default: in.size1 = (uint64_t)rec[5] * 8; break;
	}
	/* Expire first, as coap_block_add does, so the gauges before the
	 * add are what it starts from. */
	do_expire(f);
	before = coap_block_bytes(f->set);
	room = coap_block_count(f->set) < f->lim.max_sequences &&
	    alive_in(sess) < f->lim.max_per_session;
	was_alive = x->alive;
	r = coap_block_add(f->set, &sessions[sess], keys[key],
	    strlen(keys[key]), &in, f->now, &body, &body_len);
	FUZZ_CHECK(r != COAP_BLOCK_NOMEM);
	if (r == COAP_BLOCK_CONTINUE || r == COAP_BLOCK_COMPLETE) {
		FUZZ_CHECK(in.szx != 7 && in.len <= bs);
		FUZZ_CHECK(in.size1 <= f->lim.max_body);
		took(f, x, &in, before, r, body, body_len);
	} else {
		FUZZ_CHECK(body == NULL && body_len == 0);
		if (r == COAP_BLOCK_INCOMPLETE)
			FUZZ_CHECK(in.num > 0);
		x->alive = 0;
		x->len = 0;
	}
	/* BUSY exactly when a good block 0 would start a sequence and
	 * there is no room for one */
	if (in.num == 0 && in.more && !was_alive && in.szx != 7 &&
	    in.len == bs && in.size1 <= f->lim.max_body &&
	    in.len <= f->lim.max_body)
		FUZZ_CHECK((r == COAP_BLOCK_BUSY) == !room);
	else
		FUZZ_CHECK(r != COAP_BLOCK_BUSY);
	free(body);
}

static void
do_forget(struct fz *f, int sess)
{
	for (int k = 0; k < NKEY; k++)
		sh[sess][k].alive = 0;
	coap_block_forget(f->set, &sessions[sess]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f;

	if (size < 4)
		return 0;
	memset(sh, 0, sizeof(sh));
	memset(&f, 0, sizeof(f));
	f.lim.max_body = 16 + ((size_t)data[0] << 2 | (data[1] & 3));
	f.lim.max_sequences = (data[1] >> 2) & 7;
	f.lim.max_per_session = (data[1] >> 5) & 3;
	f.lim.timeout_ms = ((uint64_t)(data[3] & 3) << 8 | data[2]) * 4;
	if ((f.set = coap_block_new(&f.lim)) == NULL)
		abort();
	for (size_t off = 4; off + REC <= size; off += REC) {
		const uint8_t	*rec = data + off;
		int		 sess = (rec[0] >> 2) & 7;
		int		 key = (rec[0] >> 5) & 3;

		f.now += (uint64_t)rec[7] * 4;
		switch (rec[0] & 3) {
		case 2:
			do_expire(&f);
			break;
		case 3:
			do_forget(&f, sess);
			break;
		default:
			do_add(&f, rec, sess, key);
			break;
		}
		check_gauges(&f);
	}
	coap_block_free(f.set);
	return 0;
}
