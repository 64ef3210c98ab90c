/*
 * digest_int: the lexer pieces of digest.c that digest_offer.c shares
 * (RFC 9110 §5.6 tokens and quoted strings), and nothing else includes.
 */
#ifndef ESTRAD_DIGEST_INT_H
#define ESTRAD_DIGEST_INT_H

#include <stddef.h>

#include "estrad/digest.h"

/* RFC 9110 §5.6.2 tchar. */
int digest_is_tchar(unsigned char c);
const char *digest_skip_ows(const char *p);
/*
 * One value, token or quoted-string (RFC 9110 §5.6.4), unescaped into buf
 * (cap bytes, NUL-terminated, truncated when cap is too small; cap 0
 * stores nothing). *len is the full unescaped length. Returns the
 * position after the value, or NULL with *reason.
 */
const char *digest_lex_value(const char *p, char *buf, size_t cap,
    size_t *len, const char **reason);
/* "MD5", "SHA-256-sess", ... in any case. 0, or -1: unknown. */
int digest_alg_lookup(const char *name, enum digest_alg *alg);

#endif
