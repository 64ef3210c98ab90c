/*
 * digest_nonce: the stateful half of Digest authentication. Nonces are
 * stateless (an HMAC under a server secret, so replicas sharing the secret
 * accept each other's nonces); the replay table that tracks each nonce's
 * count is fixed in size when it is created. No I/O, no globals; the caller
 * supplies the time. A struct digest_nonces is not locked: one event loop
 * (or one lock) per table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "estrad/b64.h"
#include "estrad/digest.h"
#include "estrad/keyhash.h"

#define NONCE_TS_LEN	8	/* big-endian seconds */
#define NONCE_RAND_LEN	8
#define NONCE_TAG_LEN	16	/* HMAC-SHA256, truncated */
#define NONCE_MSG_LEN	(NONCE_TS_LEN + NONCE_RAND_LEN)
#define NONCE_RAW_LEN	(NONCE_MSG_LEN + NONCE_TAG_LEN)
#define NONCE_B64_LEN	43	/* base64url of 32 bytes, no padding */
#define NONCE_SKEW	60	/* seconds a replica's clock may run ahead */
#define OPAQUE_HEX_LEN	32

/* ---- nonces and replay tracking ---- */

/*
 * One tracked nonce. The tag (the nonce's HMAC bytes) identifies it: it
 * is unique per nonce and, being an HMAC output, uniformly distributed,
 * so its first bytes serve directly as the hash.
 */
struct digest_slot {
	unsigned char	 tag[NONCE_TAG_LEN];
	int64_t		 ts;
	unsigned long	 nc;		/* highest count seen */
	int		 used;
};

/*
 * Memory bound: the replay table is allocated once, in _new(), and never
 * grows. It holds at most replay_slots nonces in an open-addressing table
 * of cap slots, cap the smallest power of two >= 2 * replay_slots (load
 * factor <= 1/2), so less than 4 * replay_slots * sizeof(struct
 * digest_slot) (40 bytes on LP64) in all: < 160 bytes per configured slot.
 * When the table is full, the entry with the oldest nonce timestamp is
 * evicted and low_water rises to that timestamp: an untracked nonce no
 * newer than low_water may have been used already, so it is STALE and the
 * client retries with a fresh nonce. To never refuse a good client this
 * way, size replay_slots above the number of distinct nonces used within
 * one nonce lifetime.
 */
struct digest_nonces {
	unsigned char		*secret;
	size_t			 secret_len;
	long			 lifetime;
	char			 opaque[OPAQUE_HEX_LEN + 1];
	struct digest_slot	*slots;
	size_t			 cap;		/* power of two */
	size_t			 max;		/* replay_slots */
	size_t			 count;
	int64_t			 low_water;
};

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
digest_hmac(const struct digest_nonces *n, const unsigned char *msg,
    size_t len, unsigned char *tag, size_t taglen)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (HMAC(EVP_sha256(), n->secret, (int)n->secret_len, msg, len, md,
	    &mdlen) == NULL || mdlen < taglen)
		return -1;
	memcpy(tag, md, taglen);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

struct digest_nonces *
digest_nonces_new(const unsigned char *secret, size_t secret_len,
    long lifetime, size_t replay_slots)
{
	static const char	 label[] = "opaque";
	struct digest_nonces	*n;
	unsigned char		 tag[OPAQUE_HEX_LEN / 2];
	size_t			 cap = 1;

	if (secret == NULL || secret_len == 0 || secret_len > INT32_MAX ||
	    lifetime <= 0 || replay_slots == 0 ||
	    replay_slots > SIZE_MAX / 4 / sizeof(struct digest_slot))
		return NULL;
	while (cap < 2 * replay_slots)
		cap <<= 1;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->secret = OPENSSL_memdup(secret, secret_len);
	n->secret_len = secret_len;
	n->slots = calloc(cap, sizeof(*n->slots));
	if (n->secret == NULL || n->slots == NULL)
		goto fail;
	n->lifetime = lifetime;
	n->cap = cap;
	n->max = replay_slots;
	n->low_water = INT64_MIN;
	/* Clients echo opaque; it carries no state, only the secret's mark. */
	if (digest_hmac(n, (const unsigned char *)label, strlen(label), tag,
	    sizeof(tag)) == -1)
		goto fail;
	hex_encode(tag, sizeof(tag), n->opaque);
	return n;
fail:
	digest_nonces_free(n);
	return NULL;
}

void
digest_nonces_free(struct digest_nonces *n)
{
	if (n == NULL)
		return;
	if (n->secret != NULL)
		OPENSSL_clear_free(n->secret, n->secret_len);
	free(n->slots);
	free(n);
}

int
digest_nonce_make(struct digest_nonces *n, time_t now, char *out,
    size_t outlen)
{
	unsigned char	 raw[NONCE_RAW_LEN];
	uint64_t	 ts = (uint64_t)(int64_t)now;
	size_t		 o = 0;

	if (n == NULL || out == NULL || outlen < NONCE_B64_LEN + 1)
		return -1;
	for (int i = 0; i < NONCE_TS_LEN; i++)
		raw[i] = (unsigned char)(ts >> (8 * (NONCE_TS_LEN - 1 - i)));
	if (RAND_bytes(raw + NONCE_TS_LEN, NONCE_RAND_LEN) != 1 ||
	    digest_hmac(n, raw, NONCE_MSG_LEN, raw + NONCE_MSG_LEN,
	    NONCE_TAG_LEN) == -1)
		return -1;
	/* base64url without padding (RFC 4648 §5): 32 bytes, 43 chars */
	for (size_t i = 0; i < NONCE_RAW_LEN; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 |
		    (uint32_t)raw[i + 1] << 8 |
		    (i + 2 < NONCE_RAW_LEN ? raw[i + 2] : 0);

		for (int k = 0; k < 4 && o < NONCE_B64_LEN; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 0x3f];
	}
	out[o] = '\0';
	return 0;
}

/*
 * Decode and authenticate a nonce. Returns 0 with its timestamp and tag,
 * or -1 if it is not exactly one of ours (length, alphabet, non-canonical
 * trailing bits, HMAC).
 */
static int
digest_nonce_decode(const struct digest_nonces *n, const char *nonce,
    int64_t *ts, unsigned char *tag)
{
	unsigned char	 raw[NONCE_RAW_LEN + 2], want[NONCE_TAG_LEN];
	uint64_t	 t = 0;
	uint32_t	 acc = 0;
	int		 bits = 0, rc;
	size_t		 o = 0;

	if (nonce == NULL || strnlen(nonce, NONCE_B64_LEN + 1) != NONCE_B64_LEN)
		return -1;
	for (size_t i = 0; i < NONCE_B64_LEN; i++) {
		const char *c = nonce[i] ? strchr(b64url, nonce[i]) : NULL;

		if (c == NULL)
			return -1;
		acc = (acc << 6 | (uint32_t)(c - b64url)) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			raw[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (o != NONCE_RAW_LEN || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	if (digest_hmac(n, raw, NONCE_MSG_LEN, want, sizeof(want)) == -1)
		return -1;
	rc = CRYPTO_memcmp(want, raw + NONCE_MSG_LEN, NONCE_TAG_LEN) == 0;
	if (!rc)
		return -1;
	for (int i = 0; i < NONCE_TS_LEN; i++)
		t = t << 8 | raw[i];
	*ts = (int64_t)t;
	memcpy(tag, raw + NONCE_MSG_LEN, NONCE_TAG_LEN);
	return 0;
}

static enum nonce_verdict
digest_nonce_check(struct digest_nonces *n, const char *nonce, time_t now,
    int64_t *ts, unsigned char *tag)
{
	int64_t t, cur = (int64_t)now;

	if (n == NULL || digest_nonce_decode(n, nonce, ts, tag) == -1)
		return NONCE_BAD;
	t = *ts;
	/* Differences as unsigned: exact for any pair of int64 values. */
	if (t > cur && (uint64_t)t - (uint64_t)cur > NONCE_SKEW)
		return NONCE_BAD;
	if (t < cur && (uint64_t)cur - (uint64_t)t > (uint64_t)n->lifetime)
		return NONCE_STALE;	/* RFC 7616 §3.3: stale=true */
	return NONCE_OK;
}

enum nonce_verdict
digest_nonce_verify(struct digest_nonces *n, const char *nonce, time_t now)
{
	unsigned char	 tag[NONCE_TAG_LEN];
	int64_t		 ts;

	return digest_nonce_check(n, nonce, now, &ts, tag);
}

/*
 * keyhash, like every table keyed from outside: the tag is the nonce's
 * HMAC, which no client can forge, but every 401 hands one out, and a
 * client that asks for many and keeps those whose bytes fall together
 * could fill one run of slots and make every probe walk it. Under the
 * process's secret key, where a tag lands cannot be known.
 */
static size_t
digest_slot_home(const struct digest_nonces *n, const unsigned char *tag)
{
	return (size_t)keyhash(tag, NONCE_TAG_LEN) & (n->cap - 1);
}

/* The slot holding tag, or the empty slot where it would go. */
static size_t
digest_slot_find(const struct digest_nonces *n, const unsigned char *tag)
{
	size_t i = digest_slot_home(n, tag);

	while (n->slots[i].used &&
	    memcmp(n->slots[i].tag, tag, NONCE_TAG_LEN) != 0)
		i = (i + 1) & (n->cap - 1);
	return i;
}

/*
 * Empty slot i by backward shift (Knuth 6.4 Algorithm R): later entries of
 * the probe run move up, so lookups need no tombstones.
 */
static void
digest_slot_delete(struct digest_nonces *n, size_t i)
{
	size_t mask = n->cap - 1, j = i, k = i;

	n->slots[j].used = 0;
	n->count--;
	for (;;) {
		size_t	home;
		int	stays;

		k = (k + 1) & mask;
		if (!n->slots[k].used)
			return;
		home = digest_slot_home(n, n->slots[k].tag);
		/* Entry k stays if its home lies cyclically in (j, k]. */
		stays = j <= k ? (home > j && home <= k) :
		    (home > j || home <= k);
		if (!stays) {
			n->slots[j] = n->slots[k];
			n->slots[k].used = 0;
			j = k;
		}
	}
}

/* The used slot with the oldest timestamp; the table is not empty. */
static size_t
digest_slot_oldest(const struct digest_nonces *n)
{
	size_t best = n->cap;

	for (size_t i = 0; i < n->cap; i++)
		if (n->slots[i].used &&
		    (best == n->cap || n->slots[i].ts < n->slots[best].ts))
			best = i;
	return best;
}

enum nonce_verdict
digest_nonce_use(struct digest_nonces *n, const char *nonce,
    unsigned long nc, time_t now)
{
	unsigned char		 tag[NONCE_TAG_LEN];
	int64_t			 ts;
	enum nonce_verdict	 v;
	size_t			 i;

	/* Check again: an unverified nonce must not take a slot. */
	if ((v = digest_nonce_check(n, nonce, now, &ts, tag)) != NONCE_OK)
		return v;
	i = digest_slot_find(n, tag);
	if (n->slots[i].used) {
		if (nc <= n->slots[i].nc)
			return NONCE_REPLAY;
		n->slots[i].nc = nc;
		return NONCE_OK;
	}
	if (ts <= n->low_water)
		return NONCE_STALE;	/* may have been evicted after use */
	if (n->count == n->max) {
		size_t old = digest_slot_oldest(n);

		/*
		 * Evict the oldest of the table and this nonce. If that is
		 * this nonce, this first use is still good, but it cannot be
		 * recorded: the low-water mark refuses any later one.
		 */
		if (ts < n->slots[old].ts) {
			n->low_water = ts;
			return NONCE_OK;
		}
		if (n->slots[old].ts > n->low_water)
			n->low_water = n->slots[old].ts;
		digest_slot_delete(n, old);
		i = digest_slot_find(n, tag);
	}
	memcpy(n->slots[i].tag, tag, NONCE_TAG_LEN);
	n->slots[i].ts = ts;
	n->slots[i].nc = nc;
	n->slots[i].used = 1;
	n->count++;
	return NONCE_OK;
}

int
digest_challenge(struct digest_nonces *n, const char *realm,
    enum digest_alg alg, int stale, time_t now, char *out, size_t outlen)
{
	char	 nonce[NONCE_B64_LEN + 1];
	int	 len;

	if (n == NULL || realm == NULL || out == NULL ||
	    (unsigned)alg >= DIGEST_ALG_MAX)
		return -1;
	/* realm goes out in a quoted-string: no quotes, escapes or CTLs. */
	for (const char *p = realm; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' ||
		    (unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	if (digest_nonce_make(n, now, nonce, sizeof(nonce)) == -1)
		return -1;
	/* algorithm quoted: RFC 9110 §11.2 allows a quoted-string for any
	 * auth-param and recipients take both forms, while Bouncy Castle's
	 * EST client (1.72) takes only quoted values. */
	len = snprintf(out, outlen, "Digest realm=\"%s\", qop=\"auth\", "
	    "algorithm=\"%s\", nonce=\"%s\", opaque=\"%s\"%s", realm,
	    digest_alg_name(alg), nonce, n->opaque,
	    stale ? ", stale=true" : "");
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return 0;
}
