/*
 * digest: HTTP Digest authentication (RFC 7616, compatible with RFC 2617
 * clients) as pure computation: the Authorization header parser, the
 * response computation, stateless nonces and bounded replay tracking. No
 * I/O; the caller supplies the time.
 */
#ifndef ESTRAD_DIGEST_H
#define ESTRAD_DIGEST_H

#include <stddef.h>
#include <time.h>

enum digest_alg {
	DIGEST_ALG_MD5,
	DIGEST_ALG_MD5_SESS,
	DIGEST_ALG_SHA256,
	DIGEST_ALG_SHA256_SESS,
	DIGEST_ALG_MAX
};

#define DIGEST_VALUE_MAX	256	/* longest parameter value accepted */
#define DIGEST_URI_MAX		1024
#define DIGEST_HEX_MAX		65	/* SHA-256 in hex, NUL included */

/* A parsed "Authorization: Digest ..." header. */
struct digest_auth {
	char		 username[DIGEST_VALUE_MAX];
	char		 realm[DIGEST_VALUE_MAX];
	char		 nonce[DIGEST_VALUE_MAX];
	char		 uri[DIGEST_URI_MAX];
	char		 cnonce[DIGEST_VALUE_MAX];
	char		 nc[9];			/* 8 hex digits as sent */
	unsigned long	 nc_value;
	char		 qop[16];		/* "auth" */
	char		 response[DIGEST_HEX_MAX];
	char		 opaque[DIGEST_VALUE_MAX];	/* "" if absent */
	enum digest_alg	 alg;			/* MD5 when absent */
};

/*
 * Parse a whole Authorization header value ("Digest k=v, k="v", ...").
 * Quoted values may contain commas and backslash-escaped characters.
 * Returns 0, or -1 with a static one-line *reason: not Digest, a
 * duplicate/missing/overlong/malformed parameter, unknown algorithm, a
 * qop other than "auth" (exactly), an nc that is not 8 hex digits or is
 * 00000000, an empty cnonce. The -sess algorithms are parsed: refusing
 * those not offered is the caller's part.
 */
int digest_parse(const char *value, struct digest_auth *out,
    const char **reason);

const char *digest_alg_name(enum digest_alg alg);	/* "MD5", "SHA-256-sess" */
/* The HA1 stored for a user: 32 hex digits for MD5, 64 for SHA-256. */
size_t digest_hex_len(enum digest_alg alg);

/* H(user:realm:password) in lowercase hex, for alg's hash (the -sess
 * variants share the base hash). Returns 0 or -1. */
int digest_ha1_hex(enum digest_alg alg, const char *user, const char *realm,
    const char *password, char *out, size_t outlen);

/*
 * The response the client should have sent, in hex, given the stored
 * (non-sess) HA1 in hex and the request method. Handles -sess (HA1 =
 * H(HA1:nonce:cnonce)) and qop=auth. Returns 0 or -1.
 */
int digest_response_hex(const struct digest_auth *a, const char *ha1_hex,
    const char *method, char *out, size_t outlen);
/* 1 if a->response is right, compared in constant time; else 0. */
int digest_response_ok(const struct digest_auth *a, const char *ha1_hex,
    const char *method);

/* ---- nonces ---- */

struct digest_nonces;

enum nonce_verdict {
	NONCE_OK,
	NONCE_STALE,	/* genuine but expired, or too old to track: stale=true */
	NONCE_BAD,	/* not one of ours (or another secret's) */
	NONCE_REPLAY,	/* nc did not increase */
	NONCE_VERDICT_MAX
};

/*
 * secret: the server secret (replicas sharing it accept each other's
 * nonces); lifetime in seconds; replay_slots bounds the memory used to
 * track nonce counts. Returns NULL on allocation failure.
 */
struct digest_nonces *digest_nonces_new(const unsigned char *secret,
    size_t secret_len, long lifetime, size_t replay_slots);
void digest_nonces_free(struct digest_nonces *n);

/* A fresh nonce: base64url of timestamp || random || HMAC-SHA256. */
int digest_nonce_make(struct digest_nonces *n, time_t now, char *out,
    size_t outlen);
/* Is nonce genuine and unexpired? Does not record anything. */
enum nonce_verdict digest_nonce_verify(struct digest_nonces *n,
    const char *nonce, time_t now);
/*
 * Record a use of a verified nonce with count nc (after the response
 * itself verified). NONCE_OK if nc is higher than any seen for it,
 * NONCE_REPLAY if not, NONCE_STALE if the nonce is older than what the
 * bounded table can still vouch for.
 */
enum nonce_verdict digest_nonce_use(struct digest_nonces *n,
    const char *nonce, unsigned long nc, time_t now);

/*
 * One WWW-Authenticate value: Digest realm="..", qop="auth",
 * algorithm="..", nonce="..", opaque=".."[, stale=true]. Returns 0 or -1.
 */
int digest_challenge(struct digest_nonces *n, const char *realm,
    enum digest_alg alg, int stale, time_t now, char *out, size_t outlen);

/* ---- the client side: estrad answering a CA's challenge ---- */

/*
 * One Digest challenge of a server (RFC 7616 §3.3), as estrad answers it
 * toward a CA. A nonce may answer many requests, nc counting up (§3.4).
 */
struct digest_offer {
	char		 realm[DIGEST_VALUE_MAX];
	char		 nonce[DIGEST_VALUE_MAX];	/* "": no offer */
	char		 opaque[DIGEST_VALUE_MAX];
	int		 has_opaque;
	enum digest_alg	 alg;
	int		 stale;
	unsigned long	 nc;		/* the last count sent; 0: none yet */
};

/*
 * Read one WWW-Authenticate field value (one challenge or several, RFC
 * 9110 §11.6.1) and keep in *best the strongest Digest challenge estrad
 * can answer: qop "auth" offered, algorithm MD5, SHA-256 or their -sess
 * variants, realm and nonce present and of a sane length. SHA-256 beats
 * MD5; among equals the first wins (the server's order). Fill *best with
 * zeros before the first call. Returns 1 if *best changed, else 0.
 */
int digest_offer_pick(const char *value, struct digest_offer *best);

/*
 * The Authorization field value that answers o for method and uri (the
 * request target), as user with password and the client nonce cnonce
 * (RFC 7616 §3.4), into out. Counts o->nc up first. Returns 0, or -1
 * (a value too long, the count exhausted, out too small).
 */
int digest_offer_answer(struct digest_offer *o, const char *user,
    const char *password, const char *method, const char *uri,
    const char *cnonce, char *out, size_t outlen);

#endif
