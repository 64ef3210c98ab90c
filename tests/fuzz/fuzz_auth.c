/*
 * fuzz_auth: the Authorization header, the first thing an unauthenticated
 * client controls: the Digest parser (src/digest.c), the response check,
 * the nonces and their replay table (src/digest_nonce.c), and the Basic
 * credentials decoder (auth_basic_decode in src/auth.c, b64.c beneath).
 *
 * Input: lines, each one Authorization value, checked in order against
 * one nonce table (secret FUZZ_SECRET, lifetime 300 s, 2 replay slots so
 * that eviction happens) with the clock at FUZZ_T0 + 5 s per line. A line
 * starting with "Basic" goes to the Basic decoder, any other to
 * digest_parse(). Nonces made at FUZZ_T0 under FUZZ_SECRET verify, so the
 * seeds carry genuine ones and the fuzzer reaches the replay table.
 *
 * Invariants: a refused header leaves the struct zeroed and a one-line
 * reason; a parsed one has every field NUL-terminated in its array, a
 * lowercase hex response of the algorithm's length, qop "auth", nc 8 hex
 * digits equal to nc_value, and parses again to the same struct when
 * written back out; digest_response_ok() agrees with digest_response_hex()
 * (whatever the HA1's case); a nonce use that succeeded is refused when
 * repeated with the same count; a challenge's nonce verifies; Basic
 * credentials decoded, encoded again and decoded give the same user and
 * password.
 */
#include <strings.h>

#include <openssl/crypto.h>

#include "estrad/auth.h"
#include "estrad/b64.h"
#include "estrad/digest.h"
#include "fuzz.h"

#define FUZZ_SECRET	"estrad fuzz nonce secret, 32+ bytes long"
#define FUZZ_T0		1767225600L	/* 2026-01-01T00:00:00Z */
#define FUZZ_PASSWORD	"secret"

static int
is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
is_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

#define FIELD_OK(a, f)	FUZZ_CHECK(strnlen((a)->f, sizeof((a)->f)) < \
			    sizeof((a)->f))

/* Append name="value" with '"' and '\' escaped. */
static void
put_quoted(char **p, const char *name, const char *value)
{
	*p += sprintf(*p, ", %s=\"", name);
	for (; *value != '\0'; value++) {
		if (*value == '"' || *value == '\\')
			*(*p)++ = '\\';
		*(*p)++ = *value;
	}
	*(*p)++ = '"';
	**p = '\0';
}

/* a written back out as a header value, then parsed: the same struct. */
static void
check_reparse(const struct digest_auth *a)
{
	struct digest_auth	 b;
	const char		*reason;
	char			*buf, *p;

	/* Every value at most doubles when escaped. */
	if ((buf = malloc(2 * sizeof(*a) + 256)) == NULL)
		abort();
	p = buf + sprintf(buf, "Digest algorithm=%s",
	    digest_alg_name(a->alg));
	put_quoted(&p, "username", a->username);
	put_quoted(&p, "realm", a->realm);
	put_quoted(&p, "nonce", a->nonce);
	put_quoted(&p, "uri", a->uri);
	put_quoted(&p, "cnonce", a->cnonce);
	put_quoted(&p, "nc", a->nc);
	put_quoted(&p, "qop", a->qop);
	put_quoted(&p, "response", a->response);
	if (a->opaque[0] != '\0')
		put_quoted(&p, "opaque", a->opaque);
	if (digest_parse(buf, &b, &reason) != 0) {
		fprintf(stderr, "reparse of [%s] failed: %s\n", buf, reason);
		FUZZ_CHECK(0);
	}
	FUZZ_CHECK(memcmp(a, &b, sizeof(b)) == 0);
	free(buf);
}

static void
check_response(const struct digest_auth *a)
{
	struct digest_auth	 b = *a;
	char			 ha1[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
	size_t			 hexlen = digest_hex_len(a->alg);

	FUZZ_CHECK(digest_ha1_hex(a->alg, a->username, a->realm,
	    FUZZ_PASSWORD, ha1, sizeof(ha1)) == 0);
	FUZZ_CHECK(strlen(ha1) == hexlen && is_lower_hex(ha1, hexlen));
	FUZZ_CHECK(digest_response_hex(a, ha1, "POST", want,
	    sizeof(want)) == 0);
	FUZZ_CHECK(strlen(want) == hexlen && is_lower_hex(want, hexlen));
	FUZZ_CHECK(digest_response_ok(a, ha1, "POST") ==
	    (strcmp(want, a->response) == 0));
	/* The right response passes, however the stored HA1 is cased. */
	memcpy(b.response, want, hexlen + 1);
	for (size_t i = 0; i < hexlen; i++)
		if (ha1[i] >= 'a' && ha1[i] <= 'f')
			ha1[i] = (char)(ha1[i] - 'a' + 'A');
	FUZZ_CHECK(digest_response_ok(&b, ha1, "POST") == 1);
	/* Another method's response does not. */
	FUZZ_CHECK(digest_response_ok(&b, ha1, "GET") == 0);
	/* A short or non-hex HA1 is refused, not read past. */
	FUZZ_CHECK(digest_response_ok(&b, "abc", "POST") == 0);
}

static void
check_nonce(struct digest_nonces *n, const struct digest_auth *a, time_t now)
{
	enum nonce_verdict v, u;

	v = digest_nonce_verify(n, a->nonce, now);
	FUZZ_CHECK(v == NONCE_OK || v == NONCE_STALE || v == NONCE_BAD);
	if (v != NONCE_OK) {
		/* An unverified nonce never takes a slot. */
		FUZZ_CHECK(digest_nonce_use(n, a->nonce, a->nc_value, now) ==
		    v);
		return;
	}
	u = digest_nonce_use(n, a->nonce, a->nc_value, now);
	FUZZ_CHECK(u == NONCE_OK || u == NONCE_REPLAY || u == NONCE_STALE);
	if (u == NONCE_OK)
		FUZZ_CHECK(digest_nonce_use(n, a->nonce, a->nc_value, now) !=
		    NONCE_OK);
}

/* A challenge for this realm names a nonce that verifies now. */
static void
check_challenge(struct digest_nonces *n, const struct digest_auth *a,
    int stale, time_t now)
{
	struct digest_auth	 c;
	char			 buf[2048];
	const char		*reason, *p;
	int			 rc;

	rc = digest_challenge(n, a->realm, a->alg, stale, now, buf,
	    sizeof(buf));
	if (rc == -1)
		return;
	FUZZ_CHECK(fuzz_one_line(buf, sizeof(buf)));
	FUZZ_CHECK(strncmp(buf, "Digest realm=\"", 14) == 0);
	/* Completed into credentials, it parses, and its nonce is good. */
	p = buf + strlen(buf);
	snprintf((char *)p, sizeof(buf) - (size_t)(p - buf),
	    ", username=\"u\", uri=\"/\", cnonce=\"c\", nc=00000001, "
	    "response=\"%.*s\"", (int)digest_hex_len(a->alg),
	    "0000000000000000000000000000000000000000000000000000000000000000");
	if (digest_parse(buf, &c, &reason) != 0) {
		fprintf(stderr, "challenge [%s] does not parse: %s\n", buf,
		    reason);
		FUZZ_CHECK(0);
	}
	FUZZ_CHECK(strcmp(c.realm, a->realm) == 0 && c.alg == a->alg);
	FUZZ_CHECK(digest_nonce_verify(n, c.nonce, now) == NONCE_OK);
}

static void
check_digest(struct digest_nonces *n, const char *value, int i, time_t now)
{
	struct digest_auth	 a;
	const char		*reason = NULL;
	size_t			 hexlen;

	if (digest_parse(value, &a, &reason) != 0) {
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		FUZZ_CHECK(is_zero(&a, sizeof(a)));
		/* The line itself as a nonce: never verified by chance. */
		FUZZ_CHECK(digest_nonce_verify(n, value, now) != NONCE_OK ||
		    strlen(value) == 43);
		return;
	}
	FUZZ_CHECK(reason == NULL);
	FIELD_OK(&a, username);
	FIELD_OK(&a, realm);
	FIELD_OK(&a, nonce);
	FIELD_OK(&a, uri);
	FIELD_OK(&a, cnonce);
	FIELD_OK(&a, nc);
	FIELD_OK(&a, qop);
	FIELD_OK(&a, response);
	FIELD_OK(&a, opaque);
	FUZZ_CHECK((unsigned)a.alg < DIGEST_ALG_MAX);
	hexlen = digest_hex_len(a.alg);
	FUZZ_CHECK(hexlen == 32 || hexlen == 64);
	FUZZ_CHECK(strlen(a.response) == hexlen &&
	    is_lower_hex(a.response, hexlen));
	FUZZ_CHECK(strcasecmp(a.qop, "auth") == 0);
	FUZZ_CHECK(strlen(a.nc) == 8);
	FUZZ_CHECK(strtoul(a.nc, NULL, 16) == a.nc_value);
	check_reparse(&a);
	check_response(&a);
	check_nonce(n, &a, now);
	check_challenge(n, &a, i & 1, now);
}

static void
check_basic(const char *value)
{
	char		 user[256], user2[256], *pw = NULL, *pw2 = NULL;
	char		*plain, *enc, *hdr;
	const char	*reason = NULL;
	size_t		 pwsize = 0, pwsize2 = 0, elen, ulen, plen;

	if (auth_basic_decode(value, user, sizeof(user), &pw, &pwsize,
	    &reason) != 0) {
		FUZZ_CHECK(pw == NULL && pwsize == 0 && user[0] == '\0');
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		return;
	}
	FUZZ_CHECK(pw != NULL && pwsize > 0);
	ulen = strnlen(user, sizeof(user));
	FUZZ_CHECK(ulen < sizeof(user) && strchr(user, ':') == NULL);
	plen = strnlen(pw, pwsize);
	FUZZ_CHECK(plen < pwsize);
	/* user:password, encoded as a client would, decodes the same. */
	if ((plain = malloc(ulen + plen + 2)) == NULL)
		abort();
	memcpy(plain, user, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, pw, plen + 1);
	enc = b64_encode_lines((unsigned char *)plain, ulen + plen + 1, &elen);
	FUZZ_CHECK(enc != NULL && strlen(enc) == elen);
	if ((hdr = malloc(elen + 8)) == NULL)
		abort();
	snprintf(hdr, elen + 8, "Basic %s", enc);
	FUZZ_CHECK(auth_basic_decode(hdr, user2, sizeof(user2), &pw2,
	    &pwsize2, &reason) == 0);
	FUZZ_CHECK(strcmp(user, user2) == 0 && strcmp(pw, pw2) == 0);
	OPENSSL_clear_free(pw, pwsize);
	OPENSSL_clear_free(pw2, pwsize2);
	OPENSSL_clear_free(plain, ulen + plen + 2);
	free(enc);
	free(hdr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest_nonces	*n;
	const uint8_t		*p = data, *line;
	size_t			 left = size;
	long			 len;

	n = digest_nonces_new((const unsigned char *)FUZZ_SECRET,
	    strlen(FUZZ_SECRET), 300, 2);
	FUZZ_CHECK(n != NULL);
	for (int i = 0; (len = fuzz_next_line(&p, &left, &line)) >= 0; i++) {
		char *s = fuzz_strndup(line, (size_t)len);

		if (strncasecmp(s, "Basic", 5) == 0)
			check_basic(s);
		else
			check_digest(n, s, i, (time_t)(FUZZ_T0 + 5L * i));
		free(s);
	}
	digest_nonces_free(n);
	return 0;
}
