/*
 * keyhash: SipHash-2-4, written from the paper's description (§2: the
 * state v0..v3 initialised from the key and "somepseudorandomlygenerated
 * bytes", c = 2 SipRounds per 8-byte word, the last word carrying the
 * length mod 256 in its top byte, d = 4 rounds after xoring 0xff into v2)
 * and checked against the reference implementation's 64 vectors
 * (tests/unit/test_keyhash.c).
 *
 * The process key is drawn once, under pthread_once, so the first user may
 * be any thread. Should RAND_bytes fail (no entropy at all), getentropy
 * is tried; a key of zeros would still hash correctly, only predictably,
 * and that case is logged.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "estrad/keyhash.h"
#include "estrad/log.h"

static unsigned char	keyhash_key[16];
static pthread_once_t	keyhash_once = PTHREAD_ONCE_INIT;

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
keyhash_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

static uint64_t
keyhash_le64(const unsigned char *p)
{
	uint64_t w = 0;

	for (int i = 7; i >= 0; i--)
		w = w << 8 | p[i];
	return w;
}

/* One message word m: v3 ^= m, two rounds, v0 ^= m. */
static void
keyhash_word(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	keyhash_round(v);
	keyhash_round(v);
	v[0] ^= m;
}

static void
keyhash_start_key(struct keyhash_ctx *c, const unsigned char k[16])
{
	uint64_t k0 = keyhash_le64(k), k1 = keyhash_le64(k + 8);

	c->kh_v[0] = k0 ^ 0x736f6d6570736575ULL;	/* "somepseu" */
	c->kh_v[1] = k1 ^ 0x646f72616e646f6dULL;	/* "dorandom" */
	c->kh_v[2] = k0 ^ 0x6c7967656e657261ULL;	/* "lygenera" */
	c->kh_v[3] = k1 ^ 0x7465646279746573ULL;	/* "tedbytes" */
	c->kh_tail = 0;
	c->kh_len = 0;
}

void
keyhash_add(struct keyhash_ctx *c, const void *in, size_t len)
{
	const unsigned char *p = in;

	/* Fill the pending word byte by byte, then whole words. */
	for (; len > 0 && (c->kh_len & 7) != 0; len--, c->kh_len++) {
		c->kh_tail |= (uint64_t)*p++ << (8 * (c->kh_len & 7));
		if ((c->kh_len & 7) == 7) {
			keyhash_word(c->kh_v, c->kh_tail);
			c->kh_tail = 0;
		}
	}
	for (; len >= 8; len -= 8, p += 8, c->kh_len += 8)
		keyhash_word(c->kh_v, keyhash_le64(p));
	for (; len > 0; len--, c->kh_len++)
		c->kh_tail |= (uint64_t)*p++ << (8 * (c->kh_len & 7));
}

uint64_t
keyhash_end(struct keyhash_ctx *c)
{
	uint64_t *v = c->kh_v;

	keyhash_word(v, c->kh_tail | (uint64_t)(c->kh_len & 0xff) << 56);
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		keyhash_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t
keyhash_sip24(const unsigned char k[16], const void *in, size_t len)
{
	struct keyhash_ctx c;

	keyhash_start_key(&c, k);
	keyhash_add(&c, in, len);
	return keyhash_end(&c);
}

static void
keyhash_draw(void)
{
	if (RAND_bytes(keyhash_key, sizeof(keyhash_key)) != 1 &&
	    getentropy(keyhash_key, sizeof(keyhash_key)) != 0)
		log_err("keyhash: no random key: hash tables are predictable");
}

void
keyhash_start(struct keyhash_ctx *c)
{
	pthread_once(&keyhash_once, keyhash_draw);
	keyhash_start_key(c, keyhash_key);
}

uint64_t
keyhash(const void *in, size_t len)
{
	struct keyhash_ctx c;

	keyhash_start(&c);
	keyhash_add(&c, in, len);
	return keyhash_end(&c);
}
