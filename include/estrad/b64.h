/*
 * b64: base64 as EST needs it (RFC 8951 §3.3): decode leniently, encode
 * conservatively; and the lowercase hex of digests. Pure functions, no I/O.
 */
#ifndef ESTRAD_B64_H
#define ESTRAD_B64_H

#include <stddef.h>

/*
 * Decode base64 that may contain CR, LF, space and tab anywhere, lines of
 * any length, and PEM armour ("-----BEGIN ...-----" / "-----END ...-----"
 * lines) around the payload. Padding is optional only at the very end.
 * On success returns 0 and a malloc'd *out (caller frees) of *outlen bytes.
 * On failure returns -1 and points *reason at a static one-line text
 * ("body is empty", "body is not base64", ...).
 */
int b64_decode_lenient(const char *in, size_t inlen, unsigned char **out,
    size_t *outlen, const char **reason);

/*
 * Encode as base64 in lines of 64 characters, each ending in "\n", the
 * last line included (the PEM layout most EST clients decode). Returns a malloc'd,
 * NUL-terminated string (caller frees) and its length in *outlen, or NULL
 * on allocation failure.
 */
char *b64_encode_lines(const unsigned char *in, size_t inlen, size_t *outlen);
/* The same in one line, no line break at all (RFC 8951 §3.1 allows
 * either; a proxy's CoAP-to-HTTPS body is one line, as `base64 -A`). */
char *b64_encode_flat(const unsigned char *in, size_t inlen, size_t *outlen);

/* Lowercase hex of in into out, which holds 2 * inlen + 1 bytes (NUL). */
void hex_encode(const unsigned char *in, size_t inlen, char *out);
/* The value of one hex digit (either case), or -1. */
int hex_digit(int c);

#endif
