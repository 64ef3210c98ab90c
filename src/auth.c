/*
 * auth: client authentication, decided before a CSR is looked at
 * (RFC 7030 §3.2.3, §3.3). A verified TLS client certificate satisfies
 * "cert" on its own (§3.3.2); otherwise Digest (RFC 7616) or, where a
 * route enables it, Basic. Every answer that asks for credentials carries
 * one challenge per scheme the operation accepts: Digest in the order of
 * auth.digest_algorithms (by default MD5 first, see auth_digest_order),
 * then Basic.
 *
 * Failed attempts are counted per address and per user name in bounded
 * memory (limiter.c); past the limit the answer is 429 with Retry-After.
 * A failure counts against a user name only when a password was checked
 * for it (a wrong Digest response on a good nonce, a wrong Basic
 * password): anything else a stranger can send in the user's name, so
 * counting it would let anyone lock the user out. Those failures count
 * against the address alone, which still stops a scanner. Unknown users
 * and wrong passwords get the same answer, 429 included.
 *
 * Replicas on PostgreSQL share the counters and the nonce counts instead
 * (auth_shared.c): the checks here that need no state are the same, and
 * auth_check hands the rest to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "estrad/auth.h"
#include "estrad/b64.h"
#include "estrad/digest.h"
#include "estrad/limiter.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/pki.h"
#include "estrad/users.h"
#include "estrad/worker.h"

#include "auth_int.h"

#define AUTH_SECRET_LEN		32
#define AUTH_MAX_QUEUED		1024	/* Basic checks waiting for a thread */
#define AUTH_BUSY_RETRY		"1"

static const char *const auth_method_names[AUTH_METHOD_MAX] = {
	"digest", "basic", "cert"
};

const char *
auth_method_name(enum auth_method m)
{
	return m < AUTH_METHOD_MAX ? auth_method_names[m] : "-";
}

/* ---- answers -------------------------------------------------------------- */

/*
 * The Digest challenges in the order of auth.digest_algorithms, or by
 * default both, MD5 first. Clients answer the first challenge they can
 * (curl does); libest-based devices read only the first and know only
 * MD5. Over TLS the hash adds little (both are fast hashes; TLS protects
 * the exchange), so the default puts first what every client and every
 * htdigest line (htdigest writes MD5 only) can answer. SHA-256 leads by
 * default only when some user has no MD5 HA1 but all have a SHA-256 one.
 */
void
auth_digest_order(const struct cfg_auth *a, const struct users *users,
    enum digest_alg out[2], size_t *n)
{
	if (a->ndigest_algs > 0) {
		for (*n = 0; *n < a->ndigest_algs && *n < 2; (*n)++)
			out[*n] = (enum digest_alg)a->digest_algs[*n];
		return;
	}
	*n = 2;
	if (users_digest_covers(users, DIGEST_ALG_SHA256) &&
	    !users_digest_covers(users, DIGEST_ALG_MD5)) {
		out[0] = DIGEST_ALG_SHA256;
		out[1] = DIGEST_ALG_MD5;
	} else {
		out[0] = DIGEST_ALG_MD5;
		out[1] = DIGEST_ALG_SHA256;
	}
}

void
auth_challenges(struct auth_ctx *ctx, unsigned allowed, int stale,
    struct est_reply *r)
{
	const char	*realm = ctx->ac_cfg->auth.realm;
	time_t		 now = time(NULL);

	r->nchallenges = 0;
	if (allowed & AUTH_BIT(AUTH_METHOD_DIGEST))
		for (size_t i = 0; i < ctx->ac_nalgs; i++)
			if (digest_challenge(ctx->ac_nonces, realm,
			    ctx->ac_algs[i], stale, now,
			    r->challenges[r->nchallenges],
			    sizeof(r->challenges[0])) == 0)
				r->nchallenges++;
	if (allowed & AUTH_BIT(AUTH_METHOD_BASIC))
		snprintf(r->challenges[r->nchallenges++],
		    sizeof(r->challenges[0]),
		    "Basic realm=\"%s\", charset=\"UTF-8\"", realm);
}

enum auth_verdict
auth_deny(struct est_reply *r, int status, const char *reason)
{
	est_reply_error(r, status, "%s", reason);
	return AUTH_DENY;
}

/*
 * One failed attempt against the address and, if user is not NULL, the
 * user: only for a password checked for that name (see the top).
 */
static void
auth_count(struct auth_ctx *ctx, const char *addr, const char *user)
{
	char	key[300];
	time_t	now = time(NULL);

	snprintf(key, sizeof(key), "a:%s", addr);
	limiter_fail(ctx->ac_limiter, key, now);
	if (user != NULL && *user != '\0') {
		snprintf(key, sizeof(key), "u:%s", user);
		limiter_fail(ctx->ac_limiter, key, now);
	}
}

static void
auth_forgive(struct auth_ctx *ctx, const char *addr, const char *user)
{
	char key[300];

	snprintf(key, sizeof(key), "a:%s", addr);
	limiter_forgive(ctx->ac_limiter, key);
	snprintf(key, sizeof(key), "u:%s", user);
	limiter_forgive(ctx->ac_limiter, key);
}

/* 401 for credentials that did not prove anything; counted as above. */
static enum auth_verdict
auth_fail(struct auth_ctx *ctx, const struct auth_subject *s,
    const char *user, struct est_reply *r, const char *reason)
{
	auth_count(ctx, s->peer_addr, user);
	/* Only Digest and Basic credentials reach here. */
	metrics_auth_failure(strncasecmp(s->authorization, "Basic", 5) == 0 ?
	    "basic" : "digest");
	auth_deny(r, 401, reason);
	auth_challenges(ctx, s->allowed, 0, r);
	return AUTH_DENY;
}

/* 429 if key has failed too often; AUTH_ALLOW to go on. */
static enum auth_verdict
auth_throttle(struct auth_ctx *ctx, const char *prefix, const char *what,
    struct est_reply *r)
{
	char	key[300];
	long	wait;

	snprintf(key, sizeof(key), "%s%s", prefix, what);
	if ((wait = limiter_blocked(ctx->ac_limiter, key, time(NULL))) <= 0)
		return AUTH_ALLOW;
	auth_deny(r, 429, "too many failed attempts; retry later");
	snprintf(r->retry_after, sizeof(r->retry_after), "%ld", wait);
	return AUTH_DENY;
}

/* ---- methods -------------------------------------------------------------- */

/* An answer must use an offered algorithm (RFC 7616 §3.4): the -sess
 * variants, which the parser knows, are never offered. */
static int
auth_digest_offered(const struct auth_ctx *ctx, enum digest_alg alg)
{
	for (size_t i = 0; i < ctx->ac_nalgs; i++)
		if (ctx->ac_algs[i] == alg)
			return 1;
	return 0;
}

int
auth_uri_without_label(const char *uri, char *out, size_t outlen)
{
	static const char	 prefix[] = "/.well-known/est/";
	const size_t		 plen = sizeof(prefix) - 1;
	const char		*slash;

	if (strncmp(uri, prefix, plen) != 0 ||
	    (slash = strchr(uri + plen, '/')) == NULL || slash == uri + plen ||
	    strchr(slash + 1, '/') != NULL || slash[1] == '\0' ||
	    strpbrk(uri, "?#") != NULL)
		return -1;
	if ((size_t)snprintf(out, outlen, "%s%s", prefix, slash + 1) >= outlen)
		return -1;
	return 0;
}

/*
 * RFC 7616 §3.4.6: the uri must be this request's target, CA label
 * included, or a response for another operation could be replayed. With
 * auth.digest_uri_without_label, the target without its label passes too:
 * libest sends "/.well-known/est/simpleenroll" on every label. The method
 * and the operation still bind, and each nonce count passes once.
 */
static int
auth_digest_uri_ok(const struct auth_ctx *ctx, const char *got,
    const char *target)
{
	char bare[512];

	if (strcmp(got, target) == 0)
		return 1;
	return ctx->ac_cfg->auth.digest_uri_without_label &&
	    auth_uri_without_label(target, bare, sizeof(bare)) == 0 &&
	    strcmp(got, bare) == 0;
}

static enum auth_verdict
auth_cert(X509 *cert, struct auth_identity *id)
{
	id->method = AUTH_METHOD_CERT;
	if (pki_name_text(X509_get_subject_name(cert), id->name,
	    sizeof(id->name)) == -1)
		snprintf(id->name, sizeof(id->name), "?");
	return AUTH_ALLOW;
}

const char *
auth_digest_judge(struct auth_ctx *ctx, const struct auth_subject *s,
    const struct digest_auth *a, enum nonce_verdict *nv, int *user_counted)
{
	const char *ha1;

	*user_counted = 0;
	/* Until the response is checked, nothing is known about the user:
	 * these failures count against the address alone. */
	if (!auth_digest_offered(ctx, a->alg))
		return "Digest algorithm was not offered";
	if (strcmp(a->realm, ctx->ac_cfg->auth.realm) != 0)
		return "wrong realm";
	if (!auth_digest_uri_ok(ctx, a->uri, s->uri))
		return "Digest uri is not the request target";
	if ((*nv = digest_nonce_verify(ctx->ac_nonces, a->nonce,
	    time(NULL))) == NONCE_BAD)
		return "unknown nonce";
	/* A password guess: counted against the name, known or not, so that
	 * a 429 tells no one which names exist (the limiter's memory is
	 * fixed, and a flood of names cannot push out a counter that blocks). */
	ha1 = ctx->ac_digest_users == NULL ? NULL : users_digest_ha1(
	    ctx->ac_digest_users, a->username, a->realm, a->alg);
	if (ha1 == NULL || !digest_response_ok(a, ha1, s->method)) {
		*user_counted = 1;
		return "wrong user name or password";
	}
	return NULL;
}

static enum auth_verdict
auth_digest(struct auth_ctx *ctx, const struct auth_subject *s,
    struct auth_identity *id, struct est_reply *r)
{
	struct digest_auth	 a;
	const char		*reason;
	enum nonce_verdict	 nv = NONCE_OK;
	int			 counted;
	time_t			 now = time(NULL);

	if (digest_parse(s->authorization, &a, &reason) == -1)
		return auth_fail(ctx, s, NULL, r, reason);
	if (auth_throttle(ctx, "u:", a.username, r) == AUTH_DENY)
		return AUTH_DENY;
	if ((reason = auth_digest_judge(ctx, s, &a, &nv, &counted)) != NULL)
		return auth_fail(ctx, s, counted ? a.username : NULL, r,
		    reason);
	if (nv == NONCE_OK)
		nv = digest_nonce_use(ctx->ac_nonces, a.nonce, a.nc_value, now);
	/* The response was right: whoever replays it knows no password. */
	if (nv == NONCE_REPLAY)
		return auth_fail(ctx, s, NULL, r,
		    "Digest nonce count replayed");
	if (nv == NONCE_STALE) {
		/* Right password, old nonce: retry with a fresh one, uncounted. */
		auth_deny(r, 401, "nonce expired");
		auth_challenges(ctx, s->allowed, 1, r);
		return AUTH_DENY;
	}
	id->method = AUTH_METHOD_DIGEST;
	snprintf(id->name, sizeof(id->name), "%s", a.username);
	return AUTH_ALLOW;
}

void
auth_job_free(struct auth_job *job)
{
	if (job->aj_password != NULL)
		OPENSSL_clear_free(job->aj_password, job->aj_password_size);
	free(job->aj_hash);
	free(job);
}

/* On a worker thread: only the job's own copies are used. */
static void
auth_basic_work(void *arg)
{
	struct auth_job *job = arg;

	job->aj_ok = users_basic_verify(job->aj_hash, job->aj_password) &&
	    !job->aj_decoy;
}

/* Back on the event loop. */
static void
auth_basic_done(void *arg)
{
	struct auth_job		*job = arg;
	struct auth_identity	 id;
	struct est_reply	 denial;

	if (job->aj_cancelled) {
		auth_job_free(job);
		return;
	}
	memset(&denial, 0, sizeof(denial));
	if (job->aj_ok) {
		/* It was counted as a failure ahead: take that back. */
		if (job->aj_ctx->ac_pg != NULL)
			auth_shared_forgive(job->aj_ctx, job->aj_peer_addr,
			    job->aj_user);
		else
			auth_forgive(job->aj_ctx, job->aj_peer_addr,
			    job->aj_user);
		id.method = AUTH_METHOD_BASIC;
		snprintf(id.name, sizeof(id.name), "%s", job->aj_user);
		job->aj_done(job->aj_arg, AUTH_ALLOW, &denial, &id);
	} else {
		metrics_auth_failure("basic");
		auth_deny(&denial, 401, "wrong user name or password");
		auth_challenges(job->aj_ctx, job->aj_allowed, 0, &denial);
		job->aj_done(job->aj_arg, AUTH_DENY, &denial, NULL);
	}
	auth_job_free(job);
}

int
auth_basic_decode(const char *value, char *user, size_t usersize,
    char **password, size_t *password_size, const char **reason)
{
	unsigned char	*raw = NULL;
	size_t		 len = 0;
	char		*pw = NULL, *colon;

	*password = NULL;
	*password_size = 0;
	if (usersize > 0)
		user[0] = '\0';
	if (value == NULL || strncasecmp(value, "Basic", 5) != 0) {
		*reason = "not a Basic Authorization header";
		return -1;
	}
	value += strlen("Basic");
	if (b64_decode_lenient(value, strlen(value), &raw, &len, reason) == -1)
		goto fail;
	if ((pw = calloc(1, len + 1)) == NULL)
		goto fail;
	memcpy(pw, raw, len);
	if (memchr(raw, '\0', len) != NULL ||
	    (colon = strchr(pw, ':')) == NULL ||
	    (size_t)(colon - pw) >= usersize)
		goto fail;
	*colon = '\0';
	snprintf(user, usersize, "%s", pw);
	memmove(pw, colon + 1, strlen(colon + 1) + 1);
	OPENSSL_clear_free(raw, len);
	*password = pw;
	*password_size = len + 1;
	return 0;
fail:
	*reason = "malformed Basic credentials";
	OPENSSL_clear_free(raw, len);
	if (pw != NULL)
		OPENSSL_clear_free(pw, len + 1);
	if (usersize > 0)
		user[0] = '\0';
	return -1;
}

struct auth_job *
auth_basic_job(const char *value, const char **reason)
{
	struct auth_job	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		*reason = "malformed Basic credentials";
		return NULL;
	}
	if (auth_basic_decode(value, job->aj_user, sizeof(job->aj_user),
	    &job->aj_password, &job->aj_password_size, reason) == -1) {
		auth_job_free(job);
		return NULL;
	}
	return job;
}

const char *
auth_basic_hash(struct auth_ctx *ctx, struct auth_job *job)
{
	const char *hash = users_basic_hash(ctx->ac_basic_users, job->aj_user);

	if (hash == NULL) {
		/* An unknown user costs a real check too: no timing oracle. */
		job->aj_decoy = 1;
		hash = users_basic_decoy(ctx->ac_basic_users);
	}
	return hash;
}

int
auth_basic_submit(struct auth_ctx *ctx, struct auth_job *job,
    const char *hash, struct est_reply *r)
{
	if ((job->aj_hash = strdup(hash)) == NULL ||
	    worker_submit(ctx->ac_worker, auth_basic_work, auth_basic_done,
	    job) == -1) {
		auth_deny(r, 503, "too many password checks waiting; retry");
		snprintf(r->retry_after, sizeof(r->retry_after), "%s",
		    AUTH_BUSY_RETRY);
		return -1;
	}
	return 0;
}

static enum auth_verdict
auth_basic(struct auth_ctx *ctx, const struct auth_subject *s,
    struct est_reply *r, auth_done_cb done, void *arg, struct auth_job **out)
{
	struct auth_job	*job;
	const char	*reason, *hash;

	if ((job = auth_basic_job(s->authorization, &reason)) == NULL)
		return auth_fail(ctx, s, NULL, r, reason);
	if (auth_throttle(ctx, "u:", job->aj_user, r) == AUTH_DENY) {
		auth_job_free(job);
		return AUTH_DENY;
	}
	if ((hash = auth_basic_hash(ctx, job)) == NULL) {
		auth_fail(ctx, s, job->aj_user, r, "wrong user name or password");
		auth_job_free(job);
		return AUTH_DENY;
	}
	job->aj_ctx = ctx;
	job->aj_allowed = s->allowed;
	job->aj_done = done;
	job->aj_arg = arg;
	snprintf(job->aj_peer_addr, sizeof(job->aj_peer_addr), "%s",
	    s->peer_addr);
	if (auth_basic_submit(ctx, job, hash, r) == -1) {
		auth_job_free(job);
		return AUTH_DENY;
	}
	/* Count the attempt now, forgive it on success: parallel guesses
	 * cannot all pass the throttle before the first one fails. */
	auth_count(ctx, s->peer_addr, job->aj_user);
	*out = job;
	return AUTH_PENDING;
}

static int
auth_scheme_is(const char *value, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(value, scheme, n) == 0 &&
	    (value[n] == ' ' || value[n] == '\t');
}

enum auth_verdict
auth_check(struct auth_ctx *ctx, const struct auth_subject *s,
    struct auth_identity *id, struct est_reply *r, auth_done_cb done,
    void *arg, struct auth_job **job)
{
	const unsigned http = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_BASIC);

	*job = NULL;
	id->method = AUTH_METHOD_MAX;
	snprintf(id->name, sizeof(id->name), "-");
	if (s->allowed == 0)
		return AUTH_ALLOW;
	if ((s->allowed & AUTH_BIT(AUTH_METHOD_CERT)) && s->peer_cert != NULL)
		return auth_cert(s->peer_cert, id);
	if (!(s->allowed & http)) {
		metrics_auth_failure("cert");
		return auth_deny(r, 403, "a TLS client certificate is "
		    "required for this operation");
	}
	/* With the shared store, its one query per attempt reads the
	 * address's block along with the rest (auth_shared.c). */
	if (ctx->ac_pg == NULL &&
	    auth_throttle(ctx, "a:", s->peer_addr, r) == AUTH_DENY)
		return AUTH_DENY;
	if (s->authorization == NULL) {
		/* Every Digest exchange starts so: not a failure. */
		metrics_auth_challenge();
		auth_deny(r, 401, "authentication required");
		auth_challenges(ctx, s->allowed, 0, r);
		return AUTH_DENY;
	}
	if ((s->allowed & AUTH_BIT(AUTH_METHOD_DIGEST)) &&
	    auth_scheme_is(s->authorization, "Digest"))
		return ctx->ac_pg != NULL ? auth_shared_digest(ctx, s, r, done,
		    arg, job) : auth_digest(ctx, s, id, r);
	if ((s->allowed & AUTH_BIT(AUTH_METHOD_BASIC)) &&
	    auth_scheme_is(s->authorization, "Basic"))
		return ctx->ac_pg != NULL ? auth_shared_basic(ctx, s, r, done,
		    arg, job) : auth_basic(ctx, s, r, done, arg, job);
	metrics_auth_failure("none");	/* no credentials usable here */
	auth_deny(r, 401, "authentication scheme not accepted here");
	auth_challenges(ctx, s->allowed, 0, r);
	return AUTH_DENY;
}

void
auth_cancel(struct auth_job *job)
{
	if (job == NULL)
		return;
	if (job->aj_query != NULL) {
		auth_shared_cancel(job);
		return;
	}
	/* The worker may be running it: auth_basic_done frees it. */
	job->aj_cancelled = 1;
}

/* ---- context --------------------------------------------------------------- */

static int
auth_load_users(const struct cfg_auth *a, struct users **digest,
    struct users **basic, char *err, size_t errlen)
{
	*digest = *basic = NULL;
	if (a->digest_users != NULL &&
	    (*digest = users_load_htdigest(a->digest_users, err, errlen)) ==
	    NULL)
		return -1;
	/* The realm is the running config's (a restart key): a file
	 * rewritten for another one would fail every login. */
	if (users_realm_check(*digest, a->digest_users, a->realm, err,
	    errlen) != 0) {
		users_free(*digest);
		*digest = NULL;
		return -1;
	}
	if (a->basic_users != NULL &&
	    (*basic = users_load_htpasswd(a->basic_users, err, errlen)) ==
	    NULL) {
		users_free(*digest);
		*digest = NULL;
		return -1;
	}
	return 0;
}

struct auth_ctx *
auth_new(struct event_base *base, const struct config *cfg, char *err,
    size_t errlen)
{
	const struct cfg_auth	*a = &cfg->auth;
	struct auth_ctx		*ctx;
	unsigned char		 secret[AUTH_SECRET_LEN];

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->ac_cfg = cfg;
	ctx->ac_base = base;
	/* Without a configured secret, nonces are valid in this process
	 * only; replicas behind one name need the same secret file. */
	if (a->nonce_secret == NULL && RAND_bytes(secret, sizeof(secret)) != 1)
		goto fail;
	ctx->ac_nonces = digest_nonces_new(a->nonce_secret ? a->nonce_secret :
	    secret, a->nonce_secret ? a->nonce_secret_len : sizeof(secret),
	    a->nonce_lifetime, (size_t)a->replay_slots);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (ctx->ac_nonces == NULL || (ctx->ac_limiter = limiter_new(
	    (size_t)a->failure_slots, a->max_failures, a->failure_window)) ==
	    NULL)
		goto fail;
	if (auth_load_users(a, &ctx->ac_digest_users, &ctx->ac_basic_users,
	    err, errlen) == -1)
		goto fail_quiet;
	auth_digest_order(a, ctx->ac_digest_users, ctx->ac_algs,
	    &ctx->ac_nalgs);
	if (a->basic_users != NULL && (ctx->ac_worker = worker_new(base,
	    (int)a->basic_workers, AUTH_MAX_QUEUED)) == NULL)
		goto fail;
	return ctx;
fail:
	snprintf(err, errlen, "cannot set up authentication");
fail_quiet:
	auth_free(ctx);
	return NULL;
}

void
auth_reload_users(struct auth_ctx *ctx)
{
	struct users	*digest, *basic;
	char		 err[512];

	if (auth_load_users(&ctx->ac_cfg->auth, &digest, &basic, err,
	    sizeof(err)) == -1) {
		log_err("reload: %s; keeping the users loaded before", err);
		return;
	}
	users_free(ctx->ac_digest_users);
	users_free(ctx->ac_basic_users);
	ctx->ac_digest_users = digest;
	ctx->ac_basic_users = basic;
	auth_digest_order(&ctx->ac_cfg->auth, digest, ctx->ac_algs,
	    &ctx->ac_nalgs);
	/* Users, not lines: Digest users often have an MD5 and a SHA-256 one. */
	log_info("reload: users loaded (digest %zu, basic %zu)",
	    users_names(digest), users_names(basic));
}

void
auth_free(struct auth_ctx *ctx)
{
	if (ctx == NULL)
		return;
	/* First: pending Basic checks complete (their requests are gone
	 * and cancelled them) while everything they use still exists. */
	worker_free(ctx->ac_worker);
	auth_shared_stop(ctx);
	digest_nonces_free(ctx->ac_nonces);
	users_free(ctx->ac_digest_users);
	users_free(ctx->ac_basic_users);
	limiter_free(ctx->ac_limiter);
	free(ctx);
}
