/*
 * keyhash: the one hash for tables whose keys come from outside (peer
 * addresses, user names, label values). SipHash-2-4 (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012) under a 128-bit key
 * drawn once per process from RAND_bytes: without the key, nobody can
 * choose keys that collide, so no input can turn a table's O(1) into a
 * chain walk. Pure but for the key; safe from any thread.
 */
#ifndef ESTRAD_KEYHASH_H
#define ESTRAD_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of len bytes at in under key k (little-endian, as in the
 * reference implementation): for the test vectors. */
uint64_t keyhash_sip24(const unsigned char k[16], const void *in,
    size_t len);

/*
 * The same under the process's key, drawn on first use. A hash is only meaningful within one process: never
 * store or send one.
 */
uint64_t keyhash(const void *in, size_t len);

/*
 * Keys in parts (a user and a realm, several label values): start, add
 * each part, end. Parts are concatenated, so a caller separates them (a
 * NUL after each string) when "ab","c" must differ from "a","bc".
 */
struct keyhash_ctx {
	uint64_t	kh_v[4];
	uint64_t	kh_tail;	/* pending bytes, little-endian */
	size_t		kh_len;		/* bytes added in all */
};
void keyhash_start(struct keyhash_ctx *c);
void keyhash_add(struct keyhash_ctx *c, const void *in, size_t len);
uint64_t keyhash_end(struct keyhash_ctx *c);

#endif
