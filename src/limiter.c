/*
 * limiter: a fixed table of failure counters. A key is hashed (SipHash
 * would be better against chosen collisions; a keyed FNV-1a with a random
 * per-process key is enough here, since a collision only shares a counter)
 * and lives in one of LIMITER_PROBE consecutive slots. When all of them
 * are taken, the one whose window started longest ago is reused: memory
 * stays at slots * sizeof(struct limiter_slot) whatever the traffic. An
 * attacker who floods the table can evict counters, but only ones older
 * than everything he inserted, and each of his own keys still counts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "estrad/limiter.h"

#define LIMITER_PROBE	8

struct limiter_slot {
	uint64_t	ls_hash;	/* 0: free */
	time_t		ls_start;	/* window start */
	long		ls_count;
};

struct limiter {
	struct limiter_slot	*lm_slots;
	size_t			 lm_n;
	long			 lm_max;
	long			 lm_window;
	uint64_t		 lm_key;
};

static uint64_t
limiter_hash(const struct limiter *l, const char *key)
{
	uint64_t h = 1469598103934665603ULL ^ l->lm_key;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

struct limiter *
limiter_new(size_t slots, long max_failures, long window)
{
	struct limiter *l;

	if (slots < LIMITER_PROBE)
		slots = LIMITER_PROBE;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->lm_slots = calloc(slots, sizeof(*l->lm_slots))) == NULL) {
		free(l);
		return NULL;
	}
	l->lm_n = slots;
	l->lm_max = max_failures;
	l->lm_window = window;
	RAND_bytes((unsigned char *)&l->lm_key, sizeof(l->lm_key));
	return l;
}

void
limiter_free(struct limiter *l)
{
	if (l == NULL)
		return;
	free(l->lm_slots);
	free(l);
}

/* The slot holding key, or NULL; with create, a slot for it. */
static struct limiter_slot *
limiter_find(struct limiter *l, const char *key, int create)
{
	uint64_t		 h = limiter_hash(l, key);
	struct limiter_slot	*s, *victim = NULL;

	for (size_t i = 0; i < LIMITER_PROBE; i++) {
		s = &l->lm_slots[(h + i) % l->lm_n];
		if (s->ls_hash == h)
			return s;
		if (victim == NULL || s->ls_hash == 0 ||
		    (victim->ls_hash != 0 && s->ls_start < victim->ls_start))
			victim = s;
	}
	if (!create)
		return NULL;
	victim->ls_hash = h;
	victim->ls_start = 0;
	victim->ls_count = 0;
	return victim;
}

long
limiter_blocked(struct limiter *l, const char *key, time_t now)
{
	struct limiter_slot *s = limiter_find(l, key, 0);

	if (s == NULL || now - s->ls_start >= l->lm_window ||
	    s->ls_count < l->lm_max)
		return 0;
	return (long)(s->ls_start + l->lm_window - now);
}

void
limiter_fail(struct limiter *l, const char *key, time_t now)
{
	struct limiter_slot *s = limiter_find(l, key, 1);

	if (s->ls_count == 0 || now - s->ls_start >= l->lm_window) {
		s->ls_start = now;
		s->ls_count = 0;
	}
	s->ls_count++;
}

void
limiter_forgive(struct limiter *l, const char *key)
{
	struct limiter_slot *s = limiter_find(l, key, 0);

	if (s != NULL && s->ls_count > 0)
		s->ls_count--;
}
