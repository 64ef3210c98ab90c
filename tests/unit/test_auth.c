/*
 * auth decision tables: for each combination of allowed methods and what
 * the request offers (nothing, a certificate, Digest, Basic, garbage), the
 * verdict, the status and the challenges; failure counting up to 429.
 * Digest credentials are computed here from the challenge's nonce.
 * What the metrics count: a challenge is not a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "estrad/auth.h"
#include "estrad/b64.h"
#include "estrad/digest.h"
#include "estrad/metrics.h"
#include "estrad/users.h"
#include "testpki.h"

#define D	AUTH_BIT(AUTH_METHOD_DIGEST)
#define B	AUTH_BIT(AUTH_METHOD_BASIC)
#define C	AUTH_BIT(AUTH_METHOD_CERT)
#define URI	"/.well-known/est/simpleenroll"

static char		 dir[] = "/tmp/estrad-test-auth-XXXXXX";
static struct config	 cfg;
static struct event_base *base;
static struct auth_ctx	*ctx;
static X509		*cert;

static void
write_file(const char *name, const char *text, char **path)
{
	FILE *fp;

	assert_true(asprintf(path, "%s/%s", dir, name) > 0);
	assert_non_null(fp = fopen(*path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static int
setup(void **state)
{
	char line[200], ha1[DIGEST_HEX_MAX];

	if (mkdtemp(dir) == NULL)
		return -1;
	digest_ha1_hex(DIGEST_ALG_MD5, "alice", "estrealm", "Circle of Life",
	    ha1, sizeof(ha1));
	snprintf(line, sizeof(line), "alice:estrealm:%s\n", ha1);
	write_file("users.htdigest", line, &cfg.auth.digest_users);
	cfg.auth.realm = "estrealm";
	cfg.auth.nonce_lifetime = 300;
	cfg.auth.replay_slots = 64;
	cfg.auth.max_failures = 3;
	cfg.auth.failure_window = 60;
	cfg.auth.failure_slots = 64;
	cfg.auth.basic_workers = 1;
	base = event_base_new();
	cert = testpki_cert(&(struct cert_spec){ .key = "p256",
	    .subject = "O=Example/CN=device-17" });
	return base != NULL ? 0 : -1;
}

/* A fresh context per test, so failure counts do not carry over. */
static int
ctx_new(long max_failures)
{
	char err[256];

	cfg.auth.max_failures = max_failures;
	ctx = auth_new(base, &cfg, err, sizeof(err));
	return ctx != NULL ? 0 : -1;
}

static int
ctx_lenient(void **state)
{
	return ctx_new(1000);
}

static int
ctx_strict(void **state)
{
	return ctx_new(3);
}

static int
ctx_free(void **state)
{
	auth_free(ctx);
	ctx = NULL;
	return 0;
}

static int
teardown(void **state)
{
	event_base_free(base);
	X509_free(cert);
	testpki_keys_free();
	free(cfg.auth.digest_users);
	return testpki_rmtree(dir);
}

/* The nonce of the challenge with algorithm alg in r. */
static void
challenge_nonce(const struct est_reply *r, const char *alg, char *out,
    size_t outlen)
{
	for (int i = 0; i < r->nchallenges; i++) {
		const char *c = r->challenges[i], *p;
		char want[40];
		snprintf(want, sizeof(want), "algorithm=\"%s\",", alg);
		if (strstr(c, want) == NULL || (p = strstr(c, "nonce=\"")) == NULL)
			continue;
		p += 7;
		snprintf(out, outlen, "%.*s", (int)strcspn(p, "\""), p);
		return;
	}
	fail_msg("no %s challenge", alg);
}

/* An Authorization header for user answering nonce with algorithm alg. */
static void
digest_header_alg(enum digest_alg alg, const char *user,
    const char *password, const char *realm, const char *uri,
    const char *nonce, const char *nc, char *out, size_t outlen)
{
	struct digest_auth	a;
	char			ha1[DIGEST_HEX_MAX], resp[DIGEST_HEX_MAX];

	memset(&a, 0, sizeof(a));
	snprintf(a.username, sizeof(a.username), "%s", user);
	snprintf(a.realm, sizeof(a.realm), "%s", realm);
	snprintf(a.nonce, sizeof(a.nonce), "%s", nonce);
	snprintf(a.uri, sizeof(a.uri), "%s", uri);
	snprintf(a.cnonce, sizeof(a.cnonce), "0a4f113b");
	snprintf(a.nc, sizeof(a.nc), "%s", nc);
	snprintf(a.qop, sizeof(a.qop), "auth");
	a.alg = alg;
	assert_int_equal(digest_ha1_hex(alg, user, realm, password,
	    ha1, sizeof(ha1)), 0);
	assert_int_equal(digest_response_hex(&a, ha1, "POST", resp,
	    sizeof(resp)), 0);
	snprintf(out, outlen, "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"%s\", algorithm=%s, qop=auth, nc=%s, "
	    "cnonce=\"0a4f113b\", response=\"%s\"", user, realm, nonce, uri,
	    digest_alg_name(alg), nc, resp);
}

/* The same, MD5. */
static void
digest_header(const char *user, const char *password, const char *realm,
    const char *uri, const char *nonce, const char *nc, char *out,
    size_t outlen)
{
	digest_header_alg(DIGEST_ALG_MD5, user, password, realm, uri, nonce,
	    nc, out, outlen);
}

static enum auth_verdict
check(const char *addr, unsigned allowed, const char *authz, X509 *peer,
    struct auth_identity *id, struct est_reply *r)
{
	struct auth_subject	s = { "POST", URI, authz, addr, peer, allowed };
	struct auth_job		*job;

	memset(r, 0, sizeof(*r));
	return auth_check(ctx, &s, id, r, NULL, NULL, &job);
}

/* A fresh Digest nonce (the MD5 challenge to addr) into nonce. */
static void
fresh_nonce(const char *addr, char *nonce, size_t len)
{
	struct auth_identity	id;
	struct est_reply	r;

	check(addr, D, NULL, NULL, &id, &r);
	challenge_nonce(&r, "MD5", nonce, len);
	est_reply_clear(&r);
}

static void
test_without_credentials(void **state)
{
	static const struct {
		unsigned	 allowed;
		int		 with_cert;
		enum auth_verdict verdict;
		int		 status;
		int		 nchallenges;
		enum auth_method method;
	} rows[] = {
		{ 0, 0, AUTH_ALLOW, 0, 0, AUTH_METHOD_MAX },	/* open */
		{ 0, 1, AUTH_ALLOW, 0, 0, AUTH_METHOD_MAX },
		{ D | C, 0, AUTH_DENY, 401, 2, AUTH_METHOD_MAX },
		{ D | C, 1, AUTH_ALLOW, 0, 0, AUTH_METHOD_CERT },
		{ C, 0, AUTH_DENY, 403, 0, AUTH_METHOD_MAX },
		{ C, 1, AUTH_ALLOW, 0, 0, AUTH_METHOD_CERT },
		{ D, 1, AUTH_DENY, 401, 2, AUTH_METHOD_MAX },	/* cert not listed */
		{ B, 0, AUTH_DENY, 401, 1, AUTH_METHOD_MAX },
		{ D | B, 0, AUTH_DENY, 401, 3, AUTH_METHOD_MAX },
	};
	struct auth_identity	id;
	struct est_reply	r;

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		assert_int_equal(check("192.0.2.1", rows[i].allowed, NULL,
		    rows[i].with_cert ? cert : NULL, &id, &r), rows[i].verdict);
		assert_int_equal(id.method, rows[i].method);
		if (rows[i].verdict == AUTH_DENY) {
			assert_int_equal(r.status, rows[i].status);
			assert_int_equal(r.nchallenges, rows[i].nchallenges);
		}
		est_reply_clear(&r);
	}
	/* Challenge order: MD5 first by default, since clients answer the
	 * first (test_digest_order); then Basic. */
	check("192.0.2.1", D | B, NULL, NULL, &id, &r);
	assert_non_null(strstr(r.challenges[0], "algorithm=\"MD5\","));
	assert_non_null(strstr(r.challenges[1], "algorithm=\"SHA-256\","));
	assert_string_equal(r.challenges[2],
	    "Basic realm=\"estrealm\", charset=\"UTF-8\"");
	est_reply_clear(&r);
	/* The certificate's subject is the identity. */
	check("192.0.2.1", C, NULL, cert, &id, &r);
	assert_string_equal(id.name, "CN=device-17,O=Example");
}

static void
test_digest(void **state)
{
	static const struct {
		const char	*user, *password, *realm, *uri, *nc;
		enum auth_verdict verdict;
		const char	*reason;
	} rows[] = {
		{ "alice", "Circle of Life", "estrealm", URI, "00000001",
		  AUTH_ALLOW, NULL },
		{ "alice", "Circle of Life", "estrealm", URI, "00000001",
		  AUTH_DENY, "Digest nonce count replayed" },
		{ "alice", "Circle of Life", "estrealm", URI, "00000002",
		  AUTH_ALLOW, NULL },
		{ "alice", "wrong", "estrealm", URI, "00000003", AUTH_DENY,
		  "wrong user name or password" },
		{ "mallory", "Circle of Life", "estrealm", URI, "00000004",
		  AUTH_DENY, "wrong user name or password" },
		{ "alice", "Circle of Life", "other", URI, "00000005",
		  AUTH_DENY, "wrong realm" },
		{ "alice", "Circle of Life", "estrealm",
		  "/.well-known/est/east/simpleenroll", "00000006", AUTH_DENY,
		  "Digest uri is not the request target" },
	};
	struct auth_identity	id;
	struct est_reply	r;
	char			nonce[128], hdr[1024];

	fresh_nonce("192.0.2.2", nonce, sizeof(nonce));
	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		digest_header(rows[i].user, rows[i].password, rows[i].realm,
		    rows[i].uri, nonce, rows[i].nc, hdr, sizeof(hdr));
		/* A fresh address per row: this test is not about 429. */
		char addr[32];
		snprintf(addr, sizeof(addr), "198.51.100.%zu", i);
		assert_int_equal(check(addr, D, hdr, NULL, &id, &r),
		    rows[i].verdict);
		if (rows[i].verdict == AUTH_ALLOW) {
			assert_int_equal(id.method, AUTH_METHOD_DIGEST);
			assert_string_equal(id.name, rows[i].user);
		} else {
			assert_int_equal(r.status, 401);
			assert_string_equal(r.reason, rows[i].reason);
			assert_int_equal(r.nchallenges, 2);
		}
		est_reply_clear(&r);
	}
	/* A forged nonce and a malformed header. */
	digest_header("alice", "Circle of Life", "estrealm", URI,
	    "AAAAAGsJCUtdK6ToYwDFOfDLn4temVM1LZWdnhVnLag", "00000001", hdr,
	    sizeof(hdr));
	assert_int_equal(check("203.0.113.1", D, hdr, NULL, &id, &r), AUTH_DENY);
	assert_string_equal(r.reason, "unknown nonce");
	est_reply_clear(&r);
	assert_int_equal(check("203.0.113.2", D, "Digest username=", NULL, &id,
	    &r), AUTH_DENY);
	assert_int_equal(r.status, 401);
	est_reply_clear(&r);
	/* Basic is not accepted where only Digest is. */
	assert_int_equal(check("203.0.113.3", D, "Basic YWxpY2U6eA==", NULL,
	    &id, &r), AUTH_DENY);
	assert_string_equal(r.reason, "authentication scheme not accepted here");
	est_reply_clear(&r);
}

static void
test_failures_block(void **state)
{
	struct auth_identity	id;
	struct est_reply	r;
	char			nonce[128], hdr[1024];

	fresh_nonce("192.0.2.9", nonce, sizeof(nonce));
	for (int i = 1; i <= 3; i++) {
		char nc[9];
		snprintf(nc, sizeof(nc), "%08x", i);
		digest_header("bob", "nope", "estrealm", URI, nonce, nc, hdr,
		    sizeof(hdr));
		assert_int_equal(check("192.0.2.9", D, hdr, NULL, &id, &r),
		    AUTH_DENY);
		assert_int_equal(r.status, 401);
		est_reply_clear(&r);
	}
	/* The address is blocked now, whoever asks and whatever it sends. */
	assert_int_equal(check("192.0.2.9", D, NULL, NULL, &id, &r), AUTH_DENY);
	assert_int_equal(r.status, 429);
	assert_true(atoi(r.retry_after) > 0 && atoi(r.retry_after) <= 60);
	est_reply_clear(&r);
	/* So is the user name, from another address. */
	digest_header("bob", "nope", "estrealm", URI, nonce, "00000004", hdr,
	    sizeof(hdr));
	assert_int_equal(check("192.0.2.10", D, hdr, NULL, &id, &r), AUTH_DENY);
	assert_int_equal(r.status, 429);
	est_reply_clear(&r);
	/* Others are not. */
	assert_int_equal(check("192.0.2.11", D, NULL, NULL, &id, &r), AUTH_DENY);
	assert_int_equal(r.status, 401);
	est_reply_clear(&r);
}

/* The status of alice's POST with hdr from addr; reason must match. */
static int
status_of(const char *addr, const char *hdr, const char *reason)
{
	struct auth_identity	id;
	struct est_reply	r;
	int			status;

	if (check(addr, D, hdr, NULL, &id, &r) == AUTH_ALLOW)
		return 200;
	status = r.status;
	if (status == 401 && reason != NULL)
		assert_string_equal(r.reason, reason);
	est_reply_clear(&r);
	return status;
}

/*
 * RFC 7616 §3.4: the algorithm must be one the challenges offered
 * (SHA-256, MD5); the -sess variants are refused though the response is
 * right, and refused before any password lookup.
 */
static void
test_digest_not_offered(void **state)
{
	static const struct {
		enum digest_alg	 alg;
		int		 status;
	} rows[] = {
		{ DIGEST_ALG_MD5_SESS, 401 },
		{ DIGEST_ALG_SHA256_SESS, 401 },
		{ DIGEST_ALG_MD5, 200 },
	};
	char nonce[128], hdr[1024];

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("%s\n", digest_alg_name(rows[i].alg));
		fresh_nonce("192.0.2.250", nonce, sizeof(nonce));
		digest_header_alg(rows[i].alg, "alice", "Circle of Life",
		    "estrealm", URI, nonce, "00000001", hdr, sizeof(hdr));
		assert_int_equal(status_of("192.0.2.30", hdr,
		    "Digest algorithm was not offered"), rows[i].status);
	}
}

/*
 * Failures that checked no password count against the address only: a
 * stranger who knows alice's name sends twice max_failures of each kind
 * (from two addresses, each blocked in turn) and alice still logs in from
 * a third. Wrong passwords for alice, from three addresses, do block her;
 * so do wrong passwords for a name that does not exist (the same answer).
 */
static void
test_strangers_cannot_lock_out(void **state)
{
	static const struct {
		const char	*what, *realm, *uri;
		int		 forged, replay;
		enum digest_alg	 alg;
		const char	*reason;
	} rows[] = {
		{ "wrong realm", "other", URI, 0, 0, DIGEST_ALG_MD5,
		  "wrong realm" },
		{ "other uri", "estrealm", "/.well-known/est/east/simpleenroll",
		  0, 0, DIGEST_ALG_MD5, "Digest uri is not the request target" },
		{ "unknown nonce", "estrealm", URI, 1, 0, DIGEST_ALG_MD5,
		  "unknown nonce" },
		{ "MD5-sess", "estrealm", URI, 0, 0, DIGEST_ALG_MD5_SESS,
		  "Digest algorithm was not offered" },
		{ "replay", "estrealm", URI, 0, 1, DIGEST_ALG_MD5,
		  "Digest nonce count replayed" },
	};
	char nonce[128], hdr[1024], addr[32];

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("%s\n", rows[i].what);
		fresh_nonce("192.0.2.250", nonce, sizeof(nonce));
		if (rows[i].forged)
			snprintf(nonce, sizeof(nonce), "%s",
			    "AAAAAGsJCUtdK6ToYwDFOfDLn4temVM1LZWdnhVnLag");
		digest_header_alg(rows[i].alg, "alice", "Circle of Life",
		    rows[i].realm, rows[i].uri, nonce, "00000001", hdr,
		    sizeof(hdr));
		if (rows[i].replay)
			assert_int_equal(status_of("192.0.2.40", hdr, NULL),
			    200);
		for (int n = 0; n < 6; n++) {
			snprintf(addr, sizeof(addr), "198.51.100.%zu",
			    2 * i + (size_t)n / 3);
			assert_int_equal(status_of(addr, hdr, rows[i].reason),
			    401);
		}
		/* That address is blocked now; alice is not. */
		assert_int_equal(status_of(addr, hdr, NULL), 429);
		fresh_nonce("192.0.2.250", nonce, sizeof(nonce));
		digest_header("alice", "Circle of Life", "estrealm", URI,
		    nonce, "00000001", hdr, sizeof(hdr));
		assert_int_equal(status_of("192.0.2.41", hdr, NULL), 200);
	}
	/* Wrong passwords, for alice and for a name no one has. */
	for (int who = 0; who < 2; who++) {
		const char *user = who == 0 ? "alice" : "mallory";

		for (int n = 0; n < 4; n++) {
			fresh_nonce("192.0.2.250", nonce, sizeof(nonce));
			digest_header(user, n < 3 ? "guess" : "Circle of Life",
			    "estrealm", URI, nonce, "00000001", hdr,
			    sizeof(hdr));
			snprintf(addr, sizeof(addr), "203.0.113.%d",
			    10 * who + n);
			assert_int_equal(status_of(addr, hdr,
			    "wrong user name or password"), n < 3 ? 401 : 429);
		}
	}
}

/* An htdigest file for alice: "m" an MD5 line, "s" a SHA-256 one. */
static char *
users_file(const char *name, const char *lines)
{
	char	 md5[DIGEST_HEX_MAX], sha[DIGEST_HEX_MAX], text[300] = "";
	char	*path;

	digest_ha1_hex(DIGEST_ALG_MD5, "alice", "estrealm", "x", md5,
	    sizeof(md5));
	digest_ha1_hex(DIGEST_ALG_SHA256, "alice", "estrealm", "x", sha,
	    sizeof(sha));
	for (const char *l = lines; *l != '\0'; l++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "alice:estrealm:%s\n", *l == 'm' ? md5 : sha);
	write_file(name, text, &path);
	return path;
}

/*
 * The challenge order: configured, or by default MD5 first (libest reads
 * only the first challenge, curl answers the first), SHA-256 first only
 * when some user lacks an MD5 HA1 and all have a SHA-256 one.
 */
static void
test_digest_order(void **state)
{
	static const struct {
		const char	*lines;		/* users_file; NULL: no file */
		int		 conf[2];	/* -1: none */
		size_t		 n;
		enum digest_alg	 want[2];
	} rows[] = {
		{ NULL, { -1, -1 }, 2, { DIGEST_ALG_MD5, DIGEST_ALG_SHA256 } },
		{ "m", { -1, -1 }, 2, { DIGEST_ALG_MD5, DIGEST_ALG_SHA256 } },
		{ "ms", { -1, -1 }, 2, { DIGEST_ALG_MD5, DIGEST_ALG_SHA256 } },
		{ "s", { -1, -1 }, 2, { DIGEST_ALG_SHA256, DIGEST_ALG_MD5 } },
		{ "ms", { DIGEST_ALG_SHA256, DIGEST_ALG_MD5 }, 2,
		  { DIGEST_ALG_SHA256, DIGEST_ALG_MD5 } },
		{ "s", { DIGEST_ALG_MD5, DIGEST_ALG_SHA256 }, 2,
		  { DIGEST_ALG_MD5, DIGEST_ALG_SHA256 } },
		{ "ms", { DIGEST_ALG_SHA256, -1 }, 1, { DIGEST_ALG_SHA256 } },
		{ "m", { DIGEST_ALG_MD5, -1 }, 1, { DIGEST_ALG_MD5 } },
	};
	struct cfg_auth	 a;
	enum digest_alg	 got[2];
	size_t		 n;
	char		*path, err[256];
	struct users	*u;

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		memset(&a, 0, sizeof(a));
		for (size_t k = 0; k < 2 && rows[i].conf[k] != -1; k++)
			a.digest_algs[a.ndigest_algs++] = rows[i].conf[k];
		u = NULL;
		if (rows[i].lines != NULL) {
			path = users_file("order.htdigest", rows[i].lines);
			assert_non_null(u = users_load_htdigest(path, err,
			    sizeof(err)));
			free(path);
		}
		auth_digest_order(&a, u, got, &n);
		assert_int_equal(n, rows[i].n);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k], rows[i].want[k]);
		users_free(u);
	}
}

/* A context on a users file and an order; alice's password is "x". */
static struct auth_ctx *
ctx_with(const char *lines, int first, int second)
{
	struct auth_ctx	*c;
	char		 err[256], *saved = cfg.auth.digest_users, *path;

	path = users_file("ctx.htdigest", lines);
	cfg.auth.digest_users = path;
	cfg.auth.ndigest_algs = 0;
	if (first != -1)
		cfg.auth.digest_algs[cfg.auth.ndigest_algs++] = first;
	if (second != -1)
		cfg.auth.digest_algs[cfg.auth.ndigest_algs++] = second;
	c = auth_new(base, &cfg, err, sizeof(err));
	cfg.auth.digest_users = saved;
	cfg.auth.ndigest_algs = 0;
	free(path);
	assert_non_null(c);
	return c;
}

/* The challenges follow the order; an algorithm left out is refused. */
static void
test_digest_order_live(void **state)
{
	struct auth_subject	 s = { "POST", URI, NULL, "192.0.2.77", NULL, D };
	struct auth_identity	 id;
	struct auth_job		*job;
	struct est_reply	 r;
	struct auth_ctx		*c;
	char			 nonce[128], hdr[1024];

	/* Both HA1s, nothing configured: MD5 first (it used to be SHA-256). */
	c = ctx_with("ms", -1, -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(auth_check(c, &s, &id, &r, NULL, NULL, &job),
	    AUTH_DENY);
	assert_int_equal(r.nchallenges, 2);
	assert_non_null(strstr(r.challenges[0], "algorithm=\"MD5\","));
	assert_non_null(strstr(r.challenges[1], "algorithm=\"SHA-256\","));
	est_reply_clear(&r);
	auth_free(c);
	/* ["SHA-256"]: one challenge; an MD5 answer was not offered. */
	c = ctx_with("ms", DIGEST_ALG_SHA256, -1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(auth_check(c, &s, &id, &r, NULL, NULL, &job),
	    AUTH_DENY);
	assert_int_equal(r.nchallenges, 1);
	challenge_nonce(&r, "SHA-256", nonce, sizeof(nonce));
	est_reply_clear(&r);
	digest_header("alice", "x", "estrealm", URI, nonce, "00000001", hdr,
	    sizeof(hdr));
	s.authorization = hdr;
	assert_int_equal(auth_check(c, &s, &id, &r, NULL, NULL, &job),
	    AUTH_DENY);
	assert_string_equal(r.reason, "Digest algorithm was not offered");
	est_reply_clear(&r);
	digest_header_alg(DIGEST_ALG_SHA256, "alice", "x", "estrealm", URI,
	    nonce, "00000002", hdr, sizeof(hdr));
	assert_int_equal(auth_check(c, &s, &id, &r, NULL, NULL, &job),
	    AUTH_ALLOW);
	auth_free(c);
}

/* auth_uri_without_label: the request target without its CA label. */
static void
test_uri_without_label(void **state)
{
	static const struct {
		const char	*uri, *want;	/* NULL: -1 */
	} rows[] = {
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/simpleenroll" },
		{ "/.well-known/est/a/simplereenroll",
		  "/.well-known/est/simplereenroll" },
		{ "/.well-known/est/simpleenroll", NULL },	/* no label */
		{ "/.well-known/est//simpleenroll", NULL },
		{ "/.well-known/est/east/", NULL },
		{ "/.well-known/est/a/b/simpleenroll", NULL },
		{ "/.well-known/est/east/simpleenroll?x=1", NULL },
		{ "/other/east/simpleenroll", NULL },
	};
	char out[64];

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("%s\n", rows[i].uri);
		if (rows[i].want == NULL) {
			assert_int_equal(auth_uri_without_label(rows[i].uri,
			    out, sizeof(out)), -1);
			continue;
		}
		assert_int_equal(auth_uri_without_label(rows[i].uri, out,
		    sizeof(out)), 0);
		assert_string_equal(out, rows[i].want);
	}
	assert_int_equal(auth_uri_without_label(
	    "/.well-known/est/east/simpleenroll", out, 20), -1);
}

/*
 * libest answers with the label-less uri on every label: accepted for the
 * same operation when auth.digest_uri_without_label is on, never for
 * another operation or a label the target does not carry.
 */
static void
test_digest_uri_label(void **state)
{
	static const struct {
		const char	*target, *uri;
		int		 without_label;
		enum auth_verdict verdict;
	} rows[] = {
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/east/simpleenroll", 0, AUTH_ALLOW },
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/simpleenroll", 0, AUTH_DENY },
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/simpleenroll", 1, AUTH_ALLOW },
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/simplereenroll", 1, AUTH_DENY },
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/west/simpleenroll", 1, AUTH_DENY },
		{ "/.well-known/est/simpleenroll",
		  "/.well-known/est/east/simpleenroll", 1, AUTH_DENY },
		{ "/.well-known/est/east/simpleenroll",
		  "/.well-known/est/east/simpleenroll", 1, AUTH_ALLOW },
	};
	struct auth_subject	 s = { "POST", NULL, NULL, "192.0.2.78", NULL,
	    D };
	struct auth_identity	 id;
	struct auth_job		*job;
	struct est_reply	 r;
	char			 nonce[128], hdr[1024];

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		cfg.auth.digest_uri_without_label = rows[i].without_label;
		fresh_nonce("192.0.2.250", nonce, sizeof(nonce));
		digest_header("alice", "Circle of Life", "estrealm",
		    rows[i].uri, nonce, "00000001", hdr, sizeof(hdr));
		s.uri = rows[i].target;
		s.authorization = hdr;
		memset(&r, 0, sizeof(r));
		assert_int_equal(auth_check(ctx, &s, &id, &r, NULL, NULL,
		    &job), rows[i].verdict);
		if (rows[i].verdict == AUTH_DENY)
			assert_string_equal(r.reason,
			    "Digest uri is not the request target");
		est_reply_clear(&r);
	}
	cfg.auth.digest_uri_without_label = 0;
}

/* auth_basic_decode: the Basic credentials (RFC 7617), pure. */
static void
test_basic_decode(void **state)
{
	static const struct {
		const char	*value;
		const char	*user;		/* NULL: refused */
		const char	*password;
	} rows[] = {
		{ "Basic YWxpY2U6c2VjcmV0", "alice", "secret" },
		/* the password may hold colons; the scheme's case is free */
		{ "basic  YWxpY2U6YTpiOmM=", "alice", "a:b:c" },
		/* an empty user or password is the verifier's business */
		{ "Basic OnB3", "", "pw" },
		{ "Basic YWxpY2U6", "alice", "" },
		/* base64 as RFC 8951 reads it: breaks and no padding */
		{ "Basic YWxp\r\n Y2U6c2VjcmV0", "alice", "secret" },
		{ "Basic YWxpY2U", NULL, NULL },		/* no colon */
		{ "Basic YQBiOmM=", NULL, NULL },		/* a\0b:c */
		{ "Basic !!!!", NULL, NULL },
		{ "Basic ", NULL, NULL },
		{ "Basic", NULL, NULL },
		{ "Digest YWxpY2U6c2VjcmV0", NULL, NULL },
		{ "Bas", NULL, NULL },
	};
	char		 user[256], *pw, *long_value, *enc;
	unsigned char	 raw[300];
	size_t		 pwsize, elen;
	const char	*reason;

	for (size_t i = 0; i < NITEMS(rows); i++) {
		int rc = auth_basic_decode(rows[i].value, user, sizeof(user),
		    &pw, &pwsize, &reason);

		if (rows[i].user == NULL) {
			if (rc != -1 || pw != NULL || reason == NULL)
				fail_msg("%s: accepted", rows[i].value);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused: %s", rows[i].value, reason);
		assert_string_equal(user, rows[i].user);
		assert_string_equal(pw, rows[i].password);
		assert_int_equal(pwsize, strlen(rows[i].user) +
		    strlen(rows[i].password) + 2);
		OPENSSL_clear_free(pw, pwsize);
	}
	/* A user name that does not fit is refused, not cut. */
	memset(raw, 'u', sizeof(raw));
	raw[sizeof(user)] = ':';
	assert_non_null(enc = b64_encode_lines(raw, sizeof(user) + 2, &elen));
	assert_non_null(long_value = malloc(elen + 8));
	snprintf(long_value, elen + 8, "Basic %s", enc);
	assert_int_equal(auth_basic_decode(long_value, user, sizeof(user),
	    &pw, &pwsize, &reason), -1);
	raw[sizeof(user)] = 'u';
	raw[sizeof(user) - 1] = ':';
	free(enc);
	assert_non_null(enc = b64_encode_lines(raw, sizeof(user) + 2, &elen));
	snprintf(long_value, elen + 8, "Basic %s", enc);
	assert_int_equal(auth_basic_decode(long_value, user, sizeof(user),
	    &pw, &pwsize, &reason), 0);
	assert_int_equal(strlen(user), sizeof(user) - 1);
	assert_string_equal(pw, "uu");
	OPENSSL_clear_free(pw, pwsize);
	free(enc);
	free(long_value);
}

/* The value of the sample line "SAMPLE VALUE" in /metrics; -1 if none. */
static double
metric(const char *sample)
{
	struct evbuffer	*b = evbuffer_new();
	char		*line;
	double		 v = -1;
	size_t		 n = strlen(sample);

	assert_non_null(b);
	metrics_write(b, NULL);
	while ((line = evbuffer_readln(b, NULL, EVBUFFER_EOL_LF)) != NULL) {
		if (strncmp(line, sample, n) == 0 && line[n] == ' ')
			v = strtod(line + n + 1, NULL);
		free(line);
	}
	evbuffer_free(b);
	return v;
}

/*
 * A request without credentials is the first leg of every Digest
 * exchange (RFC 7616 section 3.3): a challenge, counted apart, so that
 * estrad_auth_failures_total only grows with credentials that failed.
 */
static void
test_challenge_not_failure(void **state)
{
	static const struct {
		unsigned	 allowed;
		const char	*authz;
		double		 challenges;
		const char	*failed;	/* the method counted, or NULL */
	} rows[] = {
		{ D, NULL, 1, NULL },
		{ D | B, NULL, 1, NULL },
		{ B, NULL, 1, NULL },
		{ D, "Digest username=", 0, "digest" },
		{ D, "Basic YWxpY2U6eA==", 0, "none" },
		{ C, NULL, 0, "cert" },
	};
	static const char *const methods[] = { "digest", "basic", "cert",
	    "none" };
	struct auth_identity	id;
	struct est_reply	r;
	char			addr[32], name[80];
	double			before[NITEMS(methods)], ch;

	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		for (size_t m = 0; m < NITEMS(methods); m++) {
			snprintf(name, sizeof(name), "estrad_auth_failures_"
			    "total{method=\"%s\"}", methods[m]);
			before[m] = metric(name);
		}
		ch = metric("estrad_auth_challenges_total");
		snprintf(addr, sizeof(addr), "192.0.2.%zu", 100 + i);
		assert_int_equal(check(addr, rows[i].allowed, rows[i].authz,
		    NULL, &id, &r), AUTH_DENY);
		est_reply_clear(&r);
		assert_true(metric("estrad_auth_challenges_total") ==
		    ch + rows[i].challenges);
		for (size_t m = 0; m < NITEMS(methods); m++) {
			int counted = rows[i].failed != NULL &&
			    strcmp(rows[i].failed, methods[m]) == 0;

			snprintf(name, sizeof(name), "estrad_auth_failures_"
			    "total{method=\"%s\"}", methods[m]);
			assert_true(metric(name) == before[m] + counted);
		}
	}
	metrics_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_without_credentials,
		    ctx_lenient, ctx_free),
		cmocka_unit_test_setup_teardown(test_digest, ctx_lenient,
		    ctx_free),
		cmocka_unit_test_setup_teardown(test_failures_block, ctx_strict,
		    ctx_free),
		cmocka_unit_test_setup_teardown(test_digest_not_offered,
		    ctx_lenient, ctx_free),
		cmocka_unit_test_setup_teardown(test_strangers_cannot_lock_out,
		    ctx_strict, ctx_free),
		cmocka_unit_test(test_digest_order),
		cmocka_unit_test(test_digest_order_live),
		cmocka_unit_test(test_uri_without_label),
		cmocka_unit_test_setup_teardown(test_digest_uri_label,
		    ctx_lenient, ctx_free),
		cmocka_unit_test(test_basic_decode),
		cmocka_unit_test_setup_teardown(test_challenge_not_failure,
		    ctx_lenient, ctx_free),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
