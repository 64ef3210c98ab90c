/*
 * limiter: a fixed table of failure counters. A key is hashed with keyhash
 * (SipHash under the process's random key: nobody outside can choose user
 * names or addresses that collide, and so share, or crowd out, a counter)
 * and lives in one of LIMITER_PROBE consecutive slots. When all of them
 * are taken, one is reused: memory stays at slots * sizeof(struct
 * limiter_slot) whatever the traffic. The one reused is a counter whose
 * window has ended if there is one, else the one with the fewest failures
 * (the oldest of those): an attacker who floods the table with fresh keys
 * (user names, addresses) pushes out his own one-failure counters before a
 * counter that blocks, so he cannot unblock an address or a user that way,
 * and each of his own keys still counts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/keyhash.h"
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
};

/* The slot's identity: the key's whole 64-bit hash, never 0 (free). */
static uint64_t
limiter_hash(const char *key)
{
	uint64_t h = keyhash(key, strlen(key));

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

/* Is s a better slot to reuse than v (see the top of the file)? */
static int
limiter_rather(const struct limiter *l, const struct limiter_slot *s,
    const struct limiter_slot *v, time_t now)
{
	int	s_live = s->ls_hash != 0 && now - s->ls_start < l->lm_window;
	int	v_live = v->ls_hash != 0 && now - v->ls_start < l->lm_window;

	if (s_live != v_live)
		return !s_live;
	if (!s_live)
		return s->ls_hash == 0 && v->ls_hash != 0;
	if (s->ls_count != v->ls_count)
		return s->ls_count < v->ls_count;
	return s->ls_start < v->ls_start;
}

/* The slot holding key, or NULL; with create, a slot for it. */
static struct limiter_slot *
limiter_find(struct limiter *l, const char *key, int create, time_t now)
{
	uint64_t		 h = limiter_hash(key);
	struct limiter_slot	*s, *victim = NULL;

	for (size_t i = 0; i < LIMITER_PROBE; i++) {
		s = &l->lm_slots[(h + i) % l->lm_n];
		if (s->ls_hash == h)
			return s;
		if (victim == NULL || limiter_rather(l, s, victim, now))
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
	struct limiter_slot *s = limiter_find(l, key, 0, now);

	if (s == NULL || now - s->ls_start >= l->lm_window ||
	    s->ls_count < l->lm_max)
		return 0;
	return (long)(s->ls_start + l->lm_window - now);
}

void
limiter_fail(struct limiter *l, const char *key, time_t now)
{
	struct limiter_slot *s = limiter_find(l, key, 1, now);

	if (s->ls_count == 0 || now - s->ls_start >= l->lm_window) {
		s->ls_start = now;
		s->ls_count = 0;
	}
	s->ls_count++;
}

void
limiter_forgive(struct limiter *l, const char *key)
{
	struct limiter_slot *s = limiter_find(l, key, 0, 0);

	if (s != NULL && s->ls_count > 0)
		s->ls_count--;
}
