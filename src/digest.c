/*
 * digest: HTTP Digest authentication (RFC 7616, compatible with RFC 2617
 * clients) as pure computation. This module owns three things and
 * promises the following about them:
 *
 *  - the Authorization header parser: it accepts only a complete, well
 *    formed "Digest" credential with qop=auth (RFC 7616 §3.4), and on
 *    refusal names the reason in a short static string fit for a 401 body;
 *  - the response computation (RFC 7616 §3.4.1-3.4.3) for MD5, SHA-256
 *    and their -sess variants, compared in constant time;
 *  - stateless nonces (an HMAC under a server secret, so replicas sharing
 *    the secret accept each other's nonces) and replay tracking in a table
 *    whose size is fixed when it is created.
 *
 * No I/O, no globals; the caller supplies the time. A struct
 * digest_nonces is not locked: one event loop (or one lock) per table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "estrad/digest.h"

#define NONCE_TS_LEN	8	/* big-endian seconds */
#define NONCE_RAND_LEN	8
#define NONCE_TAG_LEN	16	/* HMAC-SHA256, truncated */
#define NONCE_MSG_LEN	(NONCE_TS_LEN + NONCE_RAND_LEN)
#define NONCE_RAW_LEN	(NONCE_MSG_LEN + NONCE_TAG_LEN)
#define NONCE_B64_LEN	43	/* base64url of 32 bytes, no padding */
#define NONCE_SKEW	60	/* seconds a replica's clock may run ahead */
#define OPAQUE_HEX_LEN	32

/* ---- the Authorization header parser ---- */

enum digest_param_id {
	DP_USERNAME,
	DP_REALM,
	DP_NONCE,
	DP_URI,
	DP_RESPONSE,
	DP_QOP,
	DP_CNONCE,
	DP_NC,
	DP_ALGORITHM,
	DP_OPAQUE,
	DP_USERHASH,
	DP_USERNAME_EXT,
	DP_MAX
};

/*
 * What the parser knows of each parameter: where its value goes (size 0:
 * checked, not stored), the reason when a required one is missing (NULL:
 * optional) and when its value is longer than its field.
 */
struct digest_param {
	const char	*name;
	size_t		 off;
	size_t		 size;
	const char	*missing;
	const char	*too_long;
};

#define DA_FIELD(f)	offsetof(struct digest_auth, f), \
			sizeof(((struct digest_auth *)0)->f)
#define DP_MISSING(p)	"missing Digest parameter: " p
#define DP_LONG(p)	"Digest parameter too long: " p

#define REASON_NC	"Digest nc must be 8 hex digits"
#define REASON_QOP	"unsupported Digest qop (only auth)"
#define REASON_ALG	"unsupported Digest algorithm"
#define REASON_RESP	"Digest response is not hex of the algorithm's length"
#define REASON_UHASH	"Digest userhash is not supported"
#define REASON_BAD	"malformed Digest header"

static const struct digest_param digest_params[DP_MAX] = {
	[DP_USERNAME] = { "username", DA_FIELD(username),
	    DP_MISSING("username"), DP_LONG("username") },
	[DP_REALM] = { "realm", DA_FIELD(realm),
	    DP_MISSING("realm"), DP_LONG("realm") },
	[DP_NONCE] = { "nonce", DA_FIELD(nonce),
	    DP_MISSING("nonce"), DP_LONG("nonce") },
	[DP_URI] = { "uri", DA_FIELD(uri), DP_MISSING("uri"), DP_LONG("uri") },
	[DP_RESPONSE] = { "response", DA_FIELD(response),
	    DP_MISSING("response"), REASON_RESP },
	/* RFC 7616 §3.4: qop is required; RFC 2069 responses are refused. */
	[DP_QOP] = { "qop", DA_FIELD(qop), "qop=auth is required", REASON_QOP },
	[DP_CNONCE] = { "cnonce", DA_FIELD(cnonce),
	    DP_MISSING("cnonce"), DP_LONG("cnonce") },
	[DP_NC] = { "nc", DA_FIELD(nc), DP_MISSING("nc"), REASON_NC },
	[DP_ALGORITHM] = { "algorithm", 0, 16, NULL, REASON_ALG },
	[DP_OPAQUE] = { "opaque", DA_FIELD(opaque), NULL, DP_LONG("opaque") },
	[DP_USERHASH] = { "userhash", 0, 8, NULL, REASON_BAD },
	/* RFC 7616 §3.4.4 username* (RFC 5987 encoding): not supported. */
	[DP_USERNAME_EXT] = { "username*", 0, 0, NULL, NULL },
};

static const char *const digest_alg_names[DIGEST_ALG_MAX] = {
	[DIGEST_ALG_MD5] = "MD5",
	[DIGEST_ALG_MD5_SESS] = "MD5-sess",
	[DIGEST_ALG_SHA256] = "SHA-256",
	[DIGEST_ALG_SHA256_SESS] = "SHA-256-sess",
};

/* RFC 9110 §5.6.2 tchar. */
static int
digest_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
digest_is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

static void
digest_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static const char *
digest_skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * One value, token or quoted-string (RFC 9110 §5.6.4), unescaped into buf
 * (cap bytes, NUL-terminated, truncated when cap is too small; cap 0
 * stores nothing). *len is the full unescaped length, so the caller can
 * tell an overlong value. Returns the position after the value, or NULL
 * with *reason.
 */
static const char *
digest_lex_value(const char *p, char *buf, size_t cap, size_t *len,
    const char **reason)
{
	size_t n = 0;

	if (*p != '"') {
		for (; digest_is_tchar((unsigned char)*p); p++, n++)
			if (n + 1 < cap)
				buf[n] = *p;
		if (n == 0) {
			*reason = REASON_BAD;
			return NULL;
		}
	} else {
		for (p++; *p != '"'; p++, n++) {
			if (*p == '\\')
				p++;
			if (*p == '\0') {
				*reason = "unterminated quoted string in "
				    "Digest header";
				return NULL;
			}
			/* CTLs but HTAB are never part of a quoted-string. */
			if (((unsigned char)*p < 0x20 && *p != '\t') ||
			    *p == 0x7f) {
				*reason = REASON_BAD;
				return NULL;
			}
			if (n + 1 < cap)
				buf[n] = *p;
		}
		p++;
	}
	if (cap > 0)
		buf[n < cap ? n : cap - 1] = '\0';
	*len = n;
	return p;
}

static enum digest_param_id
digest_param_lookup(const char *name, size_t len)
{
	for (int i = 0; i < DP_MAX; i++)
		if (strlen(digest_params[i].name) == len &&
		    strncasecmp(digest_params[i].name, name, len) == 0)
			return (enum digest_param_id)i;
	return DP_MAX;
}

static int
digest_alg_lookup(const char *name, enum digest_alg *alg)
{
	for (int i = 0; i < DIGEST_ALG_MAX; i++)
		if (strcasecmp(digest_alg_names[i], name) == 0) {
			*alg = (enum digest_alg)i;
			return 0;
		}
	return -1;
}

/* Check one parameter's value and store it. Returns 0 or -1 + *reason. */
static int
digest_param_set(struct digest_auth *out, enum digest_param_id id,
    const char *val, size_t len, const char **reason)
{
	const struct digest_param *dp = &digest_params[id];

	if (dp->size > 0 && len >= dp->size) {
		*reason = dp->too_long;
		return -1;
	}
	switch (id) {
	case DP_ALGORITHM:
		if (digest_alg_lookup(val, &out->alg) == -1)
			goto fail;
		return 0;
	case DP_QOP:
		if (strcasecmp(val, "auth") != 0)
			goto fail;
		break;
	case DP_NC:
		if (len != 8 || !digest_is_hex(val, len))
			goto fail;
		out->nc_value = strtoul(val, NULL, 16);
		break;
	case DP_USERHASH:
		if (strcasecmp(val, "true") == 0) {
			*reason = REASON_UHASH;
			return -1;
		}
		if (strcasecmp(val, "false") != 0)
			goto fail;
		return 0;
	case DP_USERNAME_EXT:
		*reason = "Digest username* is not supported";
		return -1;
	default:
		break;
	}
	memcpy((char *)out + dp->off, val, len + 1);
	return 0;
fail:
	*reason = dp->too_long;
	return -1;
}

/* What must hold once every parameter is read. */
static int
digest_parse_check(struct digest_auth *out, unsigned seen,
    const char **reason)
{
	size_t hexlen = digest_hex_len(out->alg);

	for (int i = 0; i < DP_MAX; i++)
		if (digest_params[i].missing != NULL && !(seen & (1u << i))) {
			*reason = digest_params[i].missing;
			return -1;
		}
	/* The algorithm may come after the response: check it last. */
	if (strlen(out->response) != hexlen ||
	    !digest_is_hex(out->response, hexlen)) {
		*reason = REASON_RESP;
		return -1;
	}
	digest_lower(out->response);
	return 0;
}

/*
 * One "name = value" list element at p, stored into out when the name is
 * known. Returns the position after it (at ',' or the end), or NULL with
 * *reason.
 */
static const char *
digest_parse_param(const char *p, struct digest_auth *out, unsigned *seen,
    const char **reason)
{
	char			 val[DIGEST_URI_MAX];
	const char		*name = p;
	size_t			 nlen, vlen, cap = 0;
	enum digest_param_id	 id;

	while (digest_is_tchar((unsigned char)*p))
		p++;
	nlen = (size_t)(p - name);
	p = digest_skip_ows(p);
	if (nlen == 0 || *p != '=') {
		*reason = REASON_BAD;
		return NULL;
	}
	p = digest_skip_ows(p + 1);
	/* Unknown parameters (RFC 7616 §3.4) are read and ignored. */
	if ((id = digest_param_lookup(name, nlen)) != DP_MAX) {
		if (*seen & (1u << id)) {
			*reason = "duplicate Digest parameter";
			return NULL;
		}
		*seen |= 1u << id;
		cap = sizeof(val);
	}
	if ((p = digest_lex_value(p, val, cap, &vlen, reason)) == NULL)
		return NULL;
	if (id != DP_MAX) {
		if (vlen >= cap) {
			*reason = digest_params[id].too_long;
			return NULL;
		}
		if (digest_param_set(out, id, val, vlen, reason) == -1)
			return NULL;
	}
	p = digest_skip_ows(p);
	if (*p != ',' && *p != '\0') {
		*reason = REASON_BAD;
		return NULL;
	}
	return p;
}

int
digest_parse(const char *value, struct digest_auth *out, const char **reason)
{
	const char	*p, *scheme;
	unsigned	 seen = 0;

	memset(out, 0, sizeof(*out));
	out->alg = DIGEST_ALG_MD5;	/* RFC 7616 §3.4: absent means MD5 */
	*reason = "not a Digest Authorization header";
	if (value == NULL)
		return -1;
	/* RFC 9110 §11.4: the scheme is a case-insensitive token. */
	p = scheme = digest_skip_ows(value);
	while (digest_is_tchar((unsigned char)*p))
		p++;
	if (p - scheme != 6 || strncasecmp(scheme, "Digest", 6) != 0)
		return -1;
	if (*p != '\0' && *p != ' ' && *p != '\t') {
		*reason = REASON_BAD;
		return -1;
	}
	for (;;) {
		/* RFC 9110 §5.6.1: empty list elements are ignored. */
		while (*(p = digest_skip_ows(p)) == ',')
			p++;
		if (*p == '\0')
			break;
		if ((p = digest_parse_param(p, out, &seen, reason)) == NULL)
			goto fail;
	}
	if (digest_parse_check(out, seen, reason) == -1)
		goto fail;
	*reason = NULL;
	return 0;
fail:
	memset(out, 0, sizeof(*out));	/* nothing half-parsed gets used */
	return -1;
}

/* ---- response computation ---- */

const char *
digest_alg_name(enum digest_alg alg)
{
	if ((unsigned)alg >= DIGEST_ALG_MAX)
		return "unknown";
	return digest_alg_names[alg];
}

size_t
digest_hex_len(enum digest_alg alg)
{
	switch (alg) {
	case DIGEST_ALG_MD5:
	case DIGEST_ALG_MD5_SESS:
		return 32;
	case DIGEST_ALG_SHA256:
	case DIGEST_ALG_SHA256_SESS:
		return 64;
	default:
		return 0;
	}
}

static int
digest_is_sess(enum digest_alg alg)
{
	return alg == DIGEST_ALG_MD5_SESS || alg == DIGEST_ALG_SHA256_SESS;
}

/*
 * H(parts[0]:parts[1]:...) in lowercase hex into out (outlen bytes).
 * Returns 0 or -1 (bad algorithm, short buffer, OpenSSL failure).
 */
static int
digest_hash_hex(enum digest_alg alg, const char *const *parts, size_t nparts,
    char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	const EVP_MD		*md;
	EVP_MD_CTX		*ctx = NULL;
	unsigned char		 buf[EVP_MAX_MD_SIZE];
	unsigned int		 len = 0;
	int			 rc = -1;

	md = digest_hex_len(alg) == 32 ? EVP_md5() : EVP_sha256();
	if (digest_hex_len(alg) == 0 || outlen < digest_hex_len(alg) + 1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto fail;
	for (size_t i = 0; i < nparts; i++)
		if ((i > 0 && EVP_DigestUpdate(ctx, ":", 1) != 1) ||
		    EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
			goto fail;
	if (EVP_DigestFinal_ex(ctx, buf, &len) != 1 ||
	    (size_t)len * 2 != digest_hex_len(alg))
		goto fail;
	for (unsigned int i = 0; i < len; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 0xf];
	}
	out[2 * len] = '\0';
	rc = 0;
fail:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
digest_ha1_hex(enum digest_alg alg, const char *user, const char *realm,
    const char *password, char *out, size_t outlen)
{
	const char *parts[3] = { user, realm, password };

	if (user == NULL || realm == NULL || password == NULL || out == NULL)
		return -1;
	return digest_hash_hex(alg, parts, 3, out, outlen);
}

int
digest_response_hex(const struct digest_auth *a, const char *ha1_hex,
    const char *method, char *out, size_t outlen)
{
	char	 ha1[DIGEST_HEX_MAX], sess[DIGEST_HEX_MAX], ha2[DIGEST_HEX_MAX];
	size_t	 hexlen;
	int	 rc = -1;

	if (a == NULL || ha1_hex == NULL || method == NULL || out == NULL ||
	    (hexlen = digest_hex_len(a->alg)) == 0 || a->qop[0] == '\0')
		return -1;
	/* The stored HA1 is a string in the hash input: normalise its case. */
	if (strlen(ha1_hex) != hexlen || !digest_is_hex(ha1_hex, hexlen))
		return -1;
	memcpy(ha1, ha1_hex, hexlen + 1);
	digest_lower(ha1);
	if (digest_is_sess(a->alg)) {
		/* RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass):nonce:cnonce) */
		const char *sp[3] = { ha1, a->nonce, a->cnonce };

		if (digest_hash_hex(a->alg, sp, 3, sess, sizeof(sess)) == -1)
			goto fail;
		memcpy(ha1, sess, hexlen + 1);
	}
	{
		/* RFC 7616 §3.4.3 (qop=auth) and §3.4.1 */
		const char *hp[2] = { method, a->uri };
		const char *rp[6] = { ha1, a->nonce, a->nc, a->cnonce,
		    a->qop, ha2 };

		if (digest_hash_hex(a->alg, hp, 2, ha2, sizeof(ha2)) == -1 ||
		    digest_hash_hex(a->alg, rp, 6, out, outlen) == -1)
			goto fail;
	}
	rc = 0;
fail:
	OPENSSL_cleanse(ha1, sizeof(ha1));
	OPENSSL_cleanse(sess, sizeof(sess));
	return rc;
}

int
digest_response_ok(const struct digest_auth *a, const char *ha1_hex,
    const char *method)
{
	char	 want[DIGEST_HEX_MAX], got[DIGEST_HEX_MAX];
	size_t	 hexlen;
	int	 ok = 0;

	if (a == NULL || (hexlen = digest_hex_len(a->alg)) == 0 ||
	    strnlen(a->response, sizeof(a->response)) != hexlen)
		return 0;
	memcpy(got, a->response, hexlen + 1);
	digest_lower(got);
	if (digest_response_hex(a, ha1_hex, method, want, sizeof(want)) == 0)
		ok = CRYPTO_memcmp(want, got, hexlen) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

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
	for (size_t i = 0; i < sizeof(tag); i++)
		snprintf(n->opaque + 2 * i, 3, "%02x", tag[i]);
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

static size_t
digest_slot_home(const struct digest_nonces *n, const unsigned char *tag)
{
	uint64_t h = 0;

	for (int i = 0; i < 8; i++)
		h = h << 8 | tag[i];
	return (size_t)h & (n->cap - 1);
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
	len = snprintf(out, outlen, "Digest realm=\"%s\", qop=\"auth\", "
	    "algorithm=%s, nonce=\"%s\", opaque=\"%s\"%s", realm,
	    digest_alg_name(alg), nonce, n->opaque,
	    stale ? ", stale=true" : "");
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	return 0;
}
