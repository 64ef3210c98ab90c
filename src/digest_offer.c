/*
 * digest_offer: the client side of HTTP Digest (RFC 7616), for estrad
 * toward a CA that asks for it. It reads a server's WWW-Authenticate
 * challenges, keeps the best one it can answer, and computes the
 * Authorization value with the math the server side checks (digest.c),
 * so both sides of estrad agree on every byte of it.
 *
 * It promises: only a complete challenge is kept (realm, nonce, qop
 * "auth" offered, a known algorithm, no duplicate or malformed
 * parameter), other schemes and broken challenges are skipped without
 * losing the ones after them, and nothing it writes can end a header line
 * (values with control characters are refused). Pure: no I/O; the caller
 * supplies the client nonce.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "estrad/digest.h"

#include "digest_int.h"

#define DIGEST_NC_MAX	0xffffffffUL	/* nc is 8 hex digits */

enum offer_param { OP_REALM, OP_NONCE, OP_OPAQUE, OP_ALGORITHM, OP_QOP,
	OP_STALE, OP_MAX };

static const char *const offer_param_names[OP_MAX] = {
	[OP_REALM] = "realm", [OP_NONCE] = "nonce", [OP_OPAQUE] = "opaque",
	[OP_ALGORITHM] = "algorithm", [OP_QOP] = "qop", [OP_STALE] = "stale",
};

/* One challenge as it is read. */
struct offer_parse {
	struct digest_offer	 o;
	unsigned		 seen;		/* bit per enum offer_param */
	int			 bad;		/* cannot be answered */
	int			 qop_auth;	/* "auth" was among the qops */
};

/* RFC 7616 §3.3: qop is a quoted list of tokens; "auth" must be one. */
static int
offer_qop_has_auth(const char *v)
{
	const char *p = v, *t;

	while (*p != '\0') {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		for (t = p; digest_is_tchar((unsigned char)*p); p++)
			;
		if (p - t == 4 && strncasecmp(t, "auth", 4) == 0)
			return 1;
		if (p == t && *p != '\0')
			p++;	/* not a token character: step over it */
	}
	return 0;
}

static void
offer_store(struct offer_parse *op, const char *name, size_t nlen,
    const char *val, size_t vlen)
{
	int id;

	for (id = 0; id < OP_MAX; id++)
		if (strlen(offer_param_names[id]) == nlen &&
		    strncasecmp(offer_param_names[id], name, nlen) == 0)
			break;
	if (id == OP_MAX)
		return;		/* charset, userhash, domain: not needed */
	if (op->seen & (1u << id) || vlen >= DIGEST_VALUE_MAX) {
		op->bad = 1;
		return;
	}
	op->seen |= 1u << id;
	switch (id) {
	case OP_REALM:
		memcpy(op->o.realm, val, vlen + 1);
		break;
	case OP_NONCE:
		memcpy(op->o.nonce, val, vlen + 1);
		break;
	case OP_OPAQUE:
		memcpy(op->o.opaque, val, vlen + 1);
		op->o.has_opaque = 1;
		break;
	case OP_ALGORITHM:
		if (digest_alg_lookup(val, &op->o.alg) == -1)
			op->bad = 1;	/* SHA-512-256, say */
		break;
	case OP_QOP:
		op->qop_auth = offer_qop_has_auth(val);
		break;
	case OP_STALE:
		op->o.stale = strcasecmp(val, "true") == 0;
		break;
	}
}

/* Past the list element at p: to its ',' (outside quotes) or the end. */
static const char *
offer_skip_element(const char *p)
{
	while (*p != '\0' && *p != ',') {
		if (*p++ != '"')
			continue;
		while (*p != '\0' && *p != '"')
			p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
		if (*p == '"')
			p++;
	}
	return p;
}

/* Is p at "token OWS =", an auth-param rather than the next scheme? */
static int
offer_at_param(const char *p)
{
	const char *q = p;

	while (digest_is_tchar((unsigned char)*q))
		q++;
	return q != p && *digest_skip_ows(q) == '=';
}

/*
 * The auth-params after a scheme, into op (NULL: another scheme, read and
 * dropped). Returns the position of the next challenge or the end.
 */
static const char *
offer_params(const char *p, struct offer_parse *op)
{
	char		 val[DIGEST_VALUE_MAX];
	const char	*name, *q, *reason;
	size_t		 nlen, vlen;

	for (;;) {
		p = digest_skip_ows(p);
		while (*p == ',')
			p = digest_skip_ows(p + 1);
		if (!offer_at_param(p))
			return p;
		for (name = p; digest_is_tchar((unsigned char)*p); p++)
			;
		nlen = (size_t)(p - name);
		p = digest_skip_ows(digest_skip_ows(p) + 1);	/* past '=' */
		q = digest_lex_value(p, val, sizeof(val), &vlen, &reason);
		if (q != NULL && (*(q = digest_skip_ows(q)) == ',' ||
		    *q == '\0')) {
			if (op != NULL)
				offer_store(op, name, nlen, val, vlen);
			p = q;
			continue;
		}
		if (op != NULL)
			op->bad = 1;
		p = offer_skip_element(p);
	}
}

static int
offer_usable(const struct offer_parse *op)
{
	return !op->bad && op->qop_auth && (op->seen & (1u << OP_REALM)) &&
	    (op->seen & (1u << OP_NONCE)) && op->o.nonce[0] != '\0';
}

int
digest_offer_pick(const char *value, struct digest_offer *best)
{
	struct offer_parse	 op;
	const char		*p = value, *scheme;
	int			 digest, changed = 0;

	if (value == NULL || best == NULL)
		return 0;
	for (;;) {
		p = digest_skip_ows(p);
		while (*p == ',')
			p = digest_skip_ows(p + 1);
		for (scheme = p; digest_is_tchar((unsigned char)*p); p++)
			;
		if (p == scheme)
			return changed;	/* the end, or nothing readable */
		digest = p - scheme == 6 && strncasecmp(scheme, "Digest", 6)
		    == 0;
		memset(&op, 0, sizeof(op));
		op.o.alg = DIGEST_ALG_MD5;	/* RFC 7616 §3.3: absent */
		p = offer_params(p, digest ? &op : NULL);
		/* RFC 7616 §3.7: the server lists the algorithm it prefers
		 * first, and the client takes the first it supports. An
		 * estrad CA puts MD5 first while some user has no SHA-256
		 * HA1: "the strongest" would fail such an RA user. */
		if (digest && offer_usable(&op) && best->nonce[0] == '\0') {
			*best = op.o;
			changed = 1;
		}
	}
}

/*
 * s as the inside of a quoted-string (RFC 9110 §5.6.4): '"' and '\'
 * escaped. -1 for a control character (it would end the header line) or
 * when out is too small.
 */
static int
offer_quote(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			return -1;
		if ((c == '"' || c == '\\') && n + 1 < outlen)
			out[n++] = '\\';
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* The quoted forms of the answer's strings. */
struct offer_quoted {
	char	user[2 * DIGEST_VALUE_MAX];
	char	realm[2 * DIGEST_VALUE_MAX];
	char	nonce[2 * DIGEST_VALUE_MAX];
	char	opaque[2 * DIGEST_VALUE_MAX];
	char	uri[2 * DIGEST_URI_MAX];
	char	cnonce[2 * DIGEST_VALUE_MAX];
};

static int
offer_write(const struct digest_offer *o, const struct digest_auth *a,
    const char *user, const char *response, char *out, size_t outlen)
{
	struct offer_quoted	 q;
	int			 n;

	if (offer_quote(user, q.user, sizeof(q.user)) == -1 ||
	    offer_quote(o->realm, q.realm, sizeof(q.realm)) == -1 ||
	    offer_quote(o->nonce, q.nonce, sizeof(q.nonce)) == -1 ||
	    offer_quote(o->opaque, q.opaque, sizeof(q.opaque)) == -1 ||
	    offer_quote(a->uri, q.uri, sizeof(q.uri)) == -1 ||
	    offer_quote(a->cnonce, q.cnonce, sizeof(q.cnonce)) == -1)
		return -1;
	/* RFC 7616 §3.4: opaque goes back unchanged when it was given. */
	n = snprintf(out, outlen, "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"%s\", algorithm=%s, qop=auth, nc=%s, "
	    "cnonce=\"%s\", response=\"%s\"%s%s%s", q.user, q.realm, q.nonce,
	    q.uri, digest_alg_name(o->alg), a->nc, q.cnonce, response,
	    o->has_opaque ? ", opaque=\"" : "", o->has_opaque ? q.opaque : "",
	    o->has_opaque ? "\"" : "");
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
digest_offer_answer(struct digest_offer *o, const char *user,
    const char *password, const char *method, const char *uri,
    const char *cnonce, char *out, size_t outlen)
{
	struct digest_auth	 a;
	char			 ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];
	int			 rc = -1;

	if (o == NULL || o->nonce[0] == '\0' || o->nc >= DIGEST_NC_MAX ||
	    user == NULL || password == NULL || method == NULL ||
	    uri == NULL || cnonce == NULL || cnonce[0] == '\0' || out == NULL)
		return -1;
	memset(&a, 0, sizeof(a));
	if (strlen(uri) >= sizeof(a.uri) || strlen(cnonce) >= sizeof(a.cnonce))
		return -1;
	memcpy(a.realm, o->realm, sizeof(a.realm));
	memcpy(a.nonce, o->nonce, sizeof(a.nonce));
	memcpy(a.uri, uri, strlen(uri) + 1);
	memcpy(a.cnonce, cnonce, strlen(cnonce) + 1);
	memcpy(a.qop, "auth", 5);
	a.alg = o->alg;
	a.nc_value = ++o->nc;
	snprintf(a.nc, sizeof(a.nc), "%08lx", a.nc_value);
	if (digest_ha1_hex(o->alg, user, o->realm, password, ha1,
	    sizeof(ha1)) == 0 &&
	    digest_response_hex(&a, ha1, method, resp, sizeof(resp)) == 0 &&
	    offer_write(o, &a, user, resp, out, outlen) == 0)
		rc = 0;
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return rc;
}
