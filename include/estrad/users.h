/*
 * users: the user files. Digest users in Apache htdigest format
 * (user:realm:HA1), Basic users in htpasswd format with bcrypt or
 * SHA-512-crypt hashes. Loading reads files (start-up and SIGHUP only);
 * lookups are pure. Basic verification is deliberately slow (that is what
 * bcrypt is for): run it on a worker, never on the event loop.
 */
#ifndef ESTRAD_USERS_H
#define ESTRAD_USERS_H

#include <stddef.h>

#include "estrad/digest.h"

struct users;

/*
 * Load an htdigest file. A line's HA1 of 32 hex digits is MD5, of 64 is
 * SHA-256 (`printf '%s' user:realm:password | sha256sum`); one user may
 * have one of each. Blank lines and lines starting with '#' are skipped.
 * NULL with "FILE:LINE: problem" in err on any bad line.
 */
struct users *users_load_htdigest(const char *path, char *err, size_t errlen);
/* The stored HA1 hex for (user, realm) and alg's hash, or NULL. */
const char *users_digest_ha1(const struct users *u, const char *user,
    const char *realm, enum digest_alg alg);

/* 1 if every Digest user has an HA1 for alg's hash (and there are some). */
int users_digest_covers(const struct users *u, enum digest_alg alg);

/*
 * Load an htpasswd file (user:hash). Only bcrypt ($2a$, $2b$, $2y$) and
 * SHA-512-crypt ($6$) hashes are accepted; anything else (MD5-crypt,
 * SHA-1, crypt(3) DES, plain text) is an error naming the line.
 */
struct users *users_load_htpasswd(const char *path, char *err, size_t errlen);
/* The stored hash for user, or NULL. */
const char *users_basic_hash(const struct users *u, const char *user);
/* Some user's hash (or NULL if none): checking an unknown user's password
 * against it costs what a real check costs, so timing reveals nothing. */
const char *users_basic_decoy(const struct users *u);
/* 1 if password matches hash (libcrypt, constant-time compare), else 0.
 * Slow and thread-safe: for a worker thread. */
int users_basic_verify(const char *hash, const char *password);

/* Entries: the lines of the file (htdigest: one per user, realm and
 * algorithm). */
size_t users_count(const struct users *u);
/* Distinct user names: what an operator calls the users. An htdigest
 * user usually has two lines, MD5 and SHA-256 (RFC 7616 section 3.4). */
size_t users_names(const struct users *u);
/*
 * -1 with err ("FILE has no user in realm ...") when the htdigest file u
 * (from path) has users but none in realm: no Digest login could succeed.
 * The config check and the users' reload (auth.c) say it the same way.
 */
int users_realm_check(const struct users *u, const char *path,
    const char *realm, char *err, size_t errlen);
void users_free(struct users *u);

#endif
