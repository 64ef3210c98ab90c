/*
 * limiter: failure counters for brute-force protection, in bounded memory.
 * After max_failures failures for one key (an address, a user name) within
 * a window, the key is blocked until that window ends. Pure: the caller
 * supplies the time.
 */
#ifndef ESTRAD_LIMITER_H
#define ESTRAD_LIMITER_H

#include <stddef.h>
#include <time.h>

struct limiter;

/* slots bounds the memory: keys beyond it push out the stalest ones. */
struct limiter *limiter_new(size_t slots, long max_failures, long window);
void limiter_free(struct limiter *l);

/* Seconds until key may try again, or 0 if it is not blocked. */
long limiter_blocked(struct limiter *l, const char *key, time_t now);
/* Count one failure for key. */
void limiter_fail(struct limiter *l, const char *key, time_t now);
/* Take back one count for key: an attempt counted ahead that succeeded. */
void limiter_forgive(struct limiter *l, const char *key);

#endif
