/*
 * digest: HTTP Digest authentication (RFC 7616, compatible with RFC 2617
 * clients) as pure computation. This file owns two things and promises
 * the following about them:
 *
 *  - the Authorization header parser: it accepts only a complete, well
 *    formed "Digest" credential with qop=auth, a non-empty cnonce and an
 *    nc of 1 or more (RFC 7616 §3.4), and on refusal names the reason in
 *    a short static string fit for a 401 body; which algorithms were
 *    offered is the caller's business (auth.c offers no -sess);
 *  - the response computation (RFC 7616 §3.4.1-3.4.3) for MD5, SHA-256
 *    and their -sess variants, compared in constant time;
 *
 * Nonces and replay tracking live in digest_nonce.c; the client side
 * (answering a CA's challenge) in digest_offer.c. No I/O, no globals.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "estrad/b64.h"
#include "estrad/digest.h"

#include "digest_int.h"

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
#define REASON_NC0	"Digest nc must start at 00000001"
#define REASON_CNONCE	"Digest cnonce must not be empty"
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
int
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

const char *
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
const char *
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

int
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
		/* RFC 7616 §3.4: one of the qop values offered, "auth". */
		if (strcmp(val, "auth") != 0)
			goto fail;
		break;
	case DP_CNONCE:
		/* RFC 7616 §3.4: required with qop, and it is the client's
		 * share of the response: empty, it adds nothing. */
		if (len == 0) {
			*reason = REASON_CNONCE;
			return -1;
		}
		break;
	case DP_NC:
		if (len != 8 || !digest_is_hex(val, len))
			goto fail;
		/* RFC 7616 §3.4: the count of requests sent with this nonce,
		 * this one included: never 0. */
		if ((out->nc_value = strtoul(val, NULL, 16)) == 0) {
			*reason = REASON_NC0;
			return -1;
		}
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
	hex_encode(buf, len, out);
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
