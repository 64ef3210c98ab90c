/*
 * b64: the one base64 codec of estrad. RFC 8951 §3.3 asks a receiver to
 * accept whatever EST clients actually send: base64 with or without line
 * breaks, lines of any length, CR/LF/space/tab anywhere, and some clients
 * wrap a CSR in PEM armour. The decoder accepts all of that and nothing
 * else: any other byte, '=' anywhere but at the very end, or a length that
 * cannot come from base64 is "body is not base64". The encoder emits the
 * most widely decodable layout: 64-character lines, each ending in "\n".
 * Pure functions, no I/O, no global state beyond a constant table.
 *
 * The decoder is written out rather than built on EVP_DecodeBlock, which
 * cannot tell padding from data bits and so returns wrong lengths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "estrad/b64.h"

#define B64_WS		0x40	/* skipped: CR, LF, space, tab */
#define B64_PAD		0x41	/* '=' */
#define B64_BAD		0x42	/* anything else */
#define B64_LINE	64

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Character classes: 0..63 for the alphabet, else one of the B64_ marks. */
static const unsigned char b64_table[256] = {
	['\t'] = B64_WS, ['\n'] = B64_WS, ['\r'] = B64_WS, [' '] = B64_WS,
	['='] = B64_PAD,
	['A'] = 0, ['B'] = 1, ['C'] = 2, ['D'] = 3, ['E'] = 4, ['F'] = 5,
	['G'] = 6, ['H'] = 7, ['I'] = 8, ['J'] = 9, ['K'] = 10, ['L'] = 11,
	['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15, ['Q'] = 16,
	['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21,
	['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25,
	['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30,
	['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35,
	['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40,
	['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45,
	['u'] = 46, ['v'] = 47, ['w'] = 48, ['x'] = 49, ['y'] = 50,
	['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
	['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60,
	['9'] = 61, ['+'] = 62, ['/'] = 63,
};

/*
 * The zero-initialised table maps unlisted bytes to 0 ('A'); this marks
 * them bad. 'A' itself is the only byte whose class is really 0.
 */
static unsigned char
b64_class(unsigned char c)
{
	unsigned char v = b64_table[c];

	if (v == 0 && c != 'A')
		return B64_BAD;
	return v;
}

/* Decoder state across lines. */
struct b64_dec {
	unsigned char	*out;
	size_t		 outlen;
	uint32_t	 acc;		/* bits not yet written */
	size_t		 nchars;	/* alphabet characters seen */
	size_t		 npad;		/* '=' seen; none may precede data */
};

static int
b64_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * A PEM armour line, surrounding whitespace already trimmed:
 * "-----BEGIN label-----" or "-----END label-----". Only whole lines
 * count, so a '-' inside the payload stays an error.
 */
static int
b64_is_armour(const char *s, size_t len)
{
	static const char *const prefixes[] = { "-----BEGIN ", "-----END " };
	size_t i, n;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		n = strlen(prefixes[i]);
		if (len >= n + 5 && memcmp(s, prefixes[i], n) == 0 &&
		    memcmp(s + len - 5, "-----", 5) == 0)
			return 1;
	}
	return 0;
}

/* Feed one line (no armour) to the decoder. -1 on a bad byte. */
static int
b64_feed(struct b64_dec *d, const unsigned char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char v = b64_class(s[i]);

		if (v == B64_WS)
			continue;
		if (v == B64_BAD)
			return -1;
		if (v == B64_PAD) {
			d->npad++;
			continue;
		}
		if (d->npad > 0)	/* data after padding */
			return -1;
		d->acc = (d->acc << 6) | v;
		if (++d->nchars % 4 == 0) {
			d->out[d->outlen++] = (d->acc >> 16) & 0xff;
			d->out[d->outlen++] = (d->acc >> 8) & 0xff;
			d->out[d->outlen++] = d->acc & 0xff;
			d->acc = 0;
		}
	}
	return 0;
}

/*
 * Flush the last, partial quantum. Two or three characters carry one or
 * two bytes; one character cannot come from base64 (a truncated body).
 * Padding is optional, but there may be no more of it than the quantum
 * leaves room for, and none after a complete quantum.
 */
static int
b64_finish(struct b64_dec *d)
{
	size_t rest = d->nchars % 4;

	if (rest == 1)
		return -1;
	if (d->npad > 0 && (rest == 0 || d->npad > 4 - rest))
		return -1;
	if (rest == 2) {
		d->out[d->outlen++] = (d->acc >> 4) & 0xff;
	} else if (rest == 3) {
		d->out[d->outlen++] = (d->acc >> 10) & 0xff;
		d->out[d->outlen++] = (d->acc >> 2) & 0xff;
	}
	return 0;
}

/* Walk the input line by line (CR or LF ends a line), skipping armour. */
static int
b64_decode_lines(struct b64_dec *d, const char *in, size_t inlen)
{
	size_t pos = 0;

	while (pos < inlen) {
		size_t start = pos, end, b, e;

		while (pos < inlen && in[pos] != '\n' && in[pos] != '\r')
			pos++;
		end = pos;
		if (pos < inlen)
			pos++;
		for (b = start; b < end && b64_is_space(in[b]); b++)
			;
		for (e = end; e > b && b64_is_space(in[e - 1]); e--)
			;
		if (b64_is_armour(in + b, e - b))
			continue;
		if (b64_feed(d, (const unsigned char *)in + b, e - b) == -1)
			return -1;
	}
	return 0;
}

int
b64_decode_lenient(const char *in, size_t inlen, unsigned char **out,
    size_t *outlen, const char **reason)
{
	struct b64_dec d;

	memset(&d, 0, sizeof(d));
	*out = NULL;
	*outlen = 0;
	/* Every 4 characters give at most 3 bytes; +3 for the last quantum. */
	if ((d.out = malloc(inlen / 4 * 3 + 3)) == NULL) {
		*reason = "out of memory";
		return -1;
	}
	if (b64_decode_lines(&d, in, inlen) == -1 || b64_finish(&d) == -1) {
		*reason = "body is not base64";
		goto fail;
	}
	if (d.nchars == 0) {	/* only whitespace and armour */
		*reason = "body is empty";
		goto fail;
	}
	*out = d.out;
	*outlen = d.outlen;
	return 0;
fail:
	/* What was decoded may be part of a password (Basic). */
	OPENSSL_cleanse(d.out, d.outlen);
	free(d.out);
	return -1;
}

/* Encode one group of 1..3 bytes as 4 characters, padding as needed. */
static void
b64_encode_group(const unsigned char *in, size_t n, char *o)
{
	uint32_t v = (uint32_t)in[0] << 16;

	if (n > 1)
		v |= (uint32_t)in[1] << 8;
	if (n > 2)
		v |= in[2];
	o[0] = b64_alphabet[(v >> 18) & 63];
	o[1] = b64_alphabet[(v >> 12) & 63];
	o[2] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
	o[3] = n > 2 ? b64_alphabet[v & 63] : '=';
}

/* Lines of linelen characters (a multiple of 4), or one line if 0. */
static char *
b64_encode(const unsigned char *in, size_t inlen, size_t linelen,
    size_t *outlen)
{
	size_t nchars, size, i, col = 0;
	char *out, *o;

	if (inlen > (SIZE_MAX - 3) / 4 * 3 / 2)
		return NULL;
	nchars = (inlen + 2) / 3 * 4;
	size = nchars + (linelen ? (nchars + linelen - 1) / linelen : 0) + 1;
	if ((out = malloc(size)) == NULL)
		return NULL;
	o = out;
	for (i = 0; i < inlen; i += 3) {
		b64_encode_group(in + i, inlen - i < 3 ? inlen - i : 3, o);
		o += 4;
		col += 4;
		if (linelen != 0 && (col == linelen || i + 3 >= inlen)) {
			*o++ = '\n';
			col = 0;
		}
	}
	*o = '\0';
	if (outlen != NULL)
		*outlen = (size_t)(o - out);
	return out;
}

char *
b64_encode_lines(const unsigned char *in, size_t inlen, size_t *outlen)
{
	return b64_encode(in, inlen, B64_LINE, outlen);
}

char *
b64_encode_flat(const unsigned char *in, size_t inlen, size_t *outlen)
{
	return b64_encode(in, inlen, 0, outlen);
}

void
hex_encode(const unsigned char *in, size_t inlen, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < inlen; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0x0f];
	}
	out[2 * inlen] = '\0';
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
