/*
 * test_est_policy: the request path's judging stages (src/est_policy.c)
 * on a hand-built struct est_req, with no server, no connection and no
 * event loop: each stage's verdict (0 to go on, or -1 with the reply it
 * fills) is checked table by table. The policy table checks that each
 * operation reaches the route's policy as the right policy_op, that only
 * a Digest or Basic identity counts as a user name, and fullcmc's
 * refusal; the pop table, that a CSR signed by another key is refused;
 * the rate table, who is counted and how a refusal reads; the csrattrs
 * table, when the policy answers; the audit table, each decision's name.
 * Keys are generated at run time (no committed keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/limiter.h"
#include "estrad/metrics.h"
#include "estrad/policy.h"

#include "est_req_int.h"
#include "testpki.h"

/* --- keys and CSRs (tests/unit/testpki.c) --- */

enum test_key { K_P256, K_P256B, K_RSA1024, K_MAX };

static const char *const key_names[K_MAX] = {
	[K_P256] = "p256", [K_P256B] = "p256b", [K_RSA1024] = "rsa1024",
};

static int
group_teardown(void **state)
{
	(void)state;
	testpki_keys_free();
	metrics_reset();
	return 0;
}

/*
 * A CSR for key with subject CN=cn, as a client sends it (base64 DER
 * through csr_parse_body); signed by signer (its own key unless another
 * is given: no proof of possession).
 */
static struct csr *
csr_make(enum test_key key, const char *cn, enum test_key signer)
{
	char		 subject[128];
	X509_REQ	*req;
	struct csr	*csr;

	snprintf(subject, sizeof(subject), "CN=%s", cn);
	req = testpki_csr(&(struct csr_spec){ .key = key_names[key],
	    .md = "SHA256", .subject = subject,
	    .signer = signer != key ? key_names[signer] : NULL });
	csr = testpki_csr_parsed(req);
	X509_REQ_free(req);
	return csr;
}

static void
on_policy_error(void *arg, const char *key, const char *msg)
{
	(void)arg;
	fail_msg("policy %s: %s", key, msg);
}

static struct policy *
policy_make(const char *text)
{
	json_t		*obj = NULL;
	json_error_t	 jerr;
	struct policy	*p;

	if (text != NULL && (obj = json_loads(text, 0, &jerr)) == NULL)
		fail_msg("policy JSON: %s", jerr.text);
	p = policy_compile(obj, on_policy_error, NULL);
	json_decref(obj);
	assert_non_null(p);
	return p;
}

/* One request as est.c hands it to the stages, past route and auth. */
struct test_req {
	struct est_req		 rq;
	struct cfg_route	 route;
	struct policy		*policy;
};

static void
req_init(struct test_req *t, const char *policy, enum est_op op,
    struct csr *csr, enum auth_method method, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->policy = policy_make(policy);
	t->route.policy = t->policy;
	t->rq.rq_backend = &t->route;
	t->rq.rq_route.op = op;
	t->rq.rq_csr = csr;
	t->rq.rq_identity.method = method;
	snprintf(t->rq.rq_identity.name, sizeof(t->rq.rq_identity.name), "%s",
	    name != NULL ? name : "");
	snprintf(t->rq.rq_peer_addr, sizeof(t->rq.rq_peer_addr), "192.0.2.7");
	snprintf(t->rq.rq_id, sizeof(t->rq.rq_id), "test-1");
}

static void
req_clear(struct test_req *t)
{
	csr_free(t->rq.rq_csr);
	policy_free(t->policy);
}

/* A refusal: status, the one-line text/plain reason, its body. */
static void
assert_refusal(const struct est_reply *r, int status, const char *reason)
{
	char body[sizeof(r->reason) + 1];

	assert_int_equal(r->status, status);
	assert_string_equal(r->reason, reason);
	assert_string_equal(r->content_type, EST_CT_TEXT);
	snprintf(body, sizeof(body), "%s\n", reason);
	assert_int_equal(r->body_len, strlen(body));
	assert_memory_equal(r->body, body, r->body_len);
}

/* --- the policy stage --- */

#define CN_USER	"{\"subject\":{\"cn_must_equal\":\"user\"}}"
#define NO_CSR	((const char *)NULL)

struct policy_case {
	const char		*name;
	const char		*policy;	/* JSON; NULL: the defaults */
	enum est_op		 op;
	enum test_key		 key;
	const char		*cn;		/* NO_CSR: none decoded */
	enum auth_method	 method;
	const char		*identity;
	int			 passthrough;	/* fullcmc_passthrough */
	int			 rc;
	int			 status;
	const char		*rule;		/* "" when going on */
	const char		*reason;
};

static const struct policy_case policy_cases[] = {
	{ "enroll: accepted", NULL, EST_OP_SIMPLEENROLL, K_P256, "dev1",
	  AUTH_METHOD_MAX, NULL, 0, 0, 0, "", NULL },
	{ "enroll: refused by the route's policy", NULL,
	  EST_OP_SIMPLEENROLL, K_RSA1024, "dev1", AUTH_METHOD_MAX, NULL, 0,
	  -1, 403, "key.rsa_min_bits", "policy key.rsa_min_bits: RSA 1024 "
	  "bits, the minimum is 2048" },
	/* What enroll lets through, re-enroll refuses without the client
	 * certificate (none here): the policy sees a re-enrollment. */
	{ "reenroll: checked as a re-enrollment", NULL,
	  EST_OP_SIMPLEREENROLL, K_P256, "dev1", AUTH_METHOD_MAX, NULL, 0,
	  -1, 403, "reenroll.certificate", "policy reenroll.certificate: "
	  "re-enrollment needs the client certificate being renewed" },
	{ "serverkeygen: refused by the route's policy", NULL,
	  EST_OP_SERVERKEYGEN, K_RSA1024, "dev1", AUTH_METHOD_MAX, NULL, 0,
	  -1, 403, "key.rsa_min_bits", "policy key.rsa_min_bits: RSA 1024 "
	  "bits, the minimum is 2048" },
	{ "the route's own policy applies", "{\"keys\":{\"rsa_min_bits\":"
	  "1024}}", EST_OP_SIMPLEENROLL, K_RSA1024, "dev1", AUTH_METHOD_MAX,
	  NULL, 0, 0, 0, "", NULL },
	{ "digest user is the user name", CN_USER, EST_OP_SIMPLEENROLL,
	  K_P256, "alice", AUTH_METHOD_DIGEST, "alice", 0, 0, 0, "", NULL },
	{ "basic user is the user name", CN_USER, EST_OP_SIMPLEENROLL,
	  K_P256, "bob", AUTH_METHOD_BASIC, "alice", 0, -1, 403,
	  "subject.cn_must_equal", "policy subject.cn_must_equal: CN \"bob\" "
	  "is not the user name \"alice\"" },
	{ "a certificate subject is no user name", CN_USER,
	  EST_OP_SIMPLEENROLL, K_P256, "alice", AUTH_METHOD_CERT, "alice", 0,
	  -1, 403, "subject.cn_must_equal", "policy subject.cn_must_equal: "
	  "the client has no user name to compare the CN with" },
	{ "fullcmc refused", NULL, EST_OP_FULLCMC, K_P256, NO_CSR,
	  AUTH_METHOD_MAX, NULL, 0, -1, 501, "fullcmc", "fullcmc is not "
	  "offered here: its requests would bypass the CSR policy" },
	{ "fullcmc passed through", NULL, EST_OP_FULLCMC, K_P256, NO_CSR,
	  AUTH_METHOD_MAX, NULL, 1, 0, 0, "", NULL },
	{ "cacerts has no CSR", "{\"keys\":{\"rsa\":false}}", EST_OP_CACERTS,
	  K_P256, NO_CSR, AUTH_METHOD_MAX, NULL, 0, 0, 0, "", NULL },
};

static void
test_policy_case(void **state)
{
	const struct policy_case	*c = *state;
	struct test_req			 t;
	struct est_reply		 reply;

	memset(&reply, 0, sizeof(reply));
	req_init(&t, c->policy, c->op, c->cn == NO_CSR ? NULL :
	    csr_make(c->key, c->cn, c->key), c->method, c->identity);
	t.route.fullcmc_passthrough = c->passthrough;
	assert_int_equal(est_stage_policy(&t.rq, NULL, NULL, &reply), c->rc);
	assert_string_equal(t.rq.rq_rule, c->rule);
	if (c->rc == 0)
		assert_int_equal(reply.status, 0);
	else
		assert_refusal(&reply, c->status, c->reason);
	est_reply_clear(&reply);
	req_clear(&t);
}

/* --- proof of possession --- */

struct pop_case {
	const char	*name;
	enum est_op	 op;
	const char	*cn;		/* NO_CSR: none decoded */
	enum test_key	 signer;
	int		 rc;
};

static const struct pop_case pop_cases[] = {
	{ "signed by its own key", EST_OP_SIMPLEENROLL, "dev1", K_P256, 0 },
	{ "signed by another key", EST_OP_SIMPLEENROLL, "dev1", K_P256B, -1 },
	{ "reenroll signed by another key", EST_OP_SIMPLEREENROLL, "dev1",
	  K_P256B, -1 },
	{ "no CSR: nothing to prove", EST_OP_FULLCMC, NO_CSR, K_P256, 0 },
};

static void
test_pop_case(void **state)
{
	const struct pop_case	*c = *state;
	struct test_req		 t;
	struct est_reply	 reply;

	memset(&reply, 0, sizeof(reply));
	req_init(&t, NULL, c->op, c->cn == NO_CSR ? NULL :
	    csr_make(K_P256, c->cn, c->signer), AUTH_METHOD_MAX, NULL);
	assert_int_equal(est_stage_pop(&t.rq, &reply), c->rc);
	if (c->rc == 0)
		assert_int_equal(reply.status, 0);
	else
		assert_refusal(&reply, 400, "CSR signature does not verify");
	est_reply_clear(&reply);
	req_clear(&t);
}

/* --- the rate --- */

#define RATE_POLICY	"{\"rate\":{\"max\":1,\"window\":3600}}"

/* Requests in order on one counter (at most 1 per hour): who is counted
 * under which key, and what a refusal says. */
struct rate_step {
	enum est_op		 op;
	int			 csr;
	enum auth_method	 method;
	const char		*identity;
	const char		*peer;
	int			 rc;
};

static const struct rate_step rate_steps[] = {
	{ EST_OP_SIMPLEENROLL, 1, AUTH_METHOD_DIGEST, "alice", "192.0.2.1",
	  0 },
	/* The same identity from elsewhere: the identity counts. */
	{ EST_OP_SIMPLEREENROLL, 1, AUTH_METHOD_DIGEST, "alice", "192.0.2.2",
	  -1 },
	/* The same name under another method is someone else. */
	{ EST_OP_SIMPLEENROLL, 1, AUTH_METHOD_BASIC, "alice", "192.0.2.1",
	  0 },
	/* Anonymous: counted per address. */
	{ EST_OP_SIMPLEENROLL, 1, AUTH_METHOD_MAX, NULL, "192.0.2.3", 0 },
	{ EST_OP_SIMPLEENROLL, 1, AUTH_METHOD_MAX, NULL, "192.0.2.3", -1 },
	{ EST_OP_SIMPLEENROLL, 1, AUTH_METHOD_MAX, NULL, "192.0.2.4", 0 },
	/* cacerts and csrattrs are never counted. */
	{ EST_OP_CACERTS, 0, AUTH_METHOD_CERT, "CN=gw", "192.0.2.5", 0 },
	{ EST_OP_CSRATTRS, 0, AUTH_METHOD_CERT, "CN=gw", "192.0.2.5", 0 },
	/* fullcmc has no CSR here, and is counted all the same. */
	{ EST_OP_FULLCMC, 0, AUTH_METHOD_CERT, "CN=gw", "192.0.2.5", 0 },
	{ EST_OP_FULLCMC, 0, AUTH_METHOD_CERT, "CN=gw", "192.0.2.5", -1 },
};

static void
test_rate(void **state)
{
	struct limiter	*l = limiter_new(64, 1, 3600);

	(void)state;
	assert_non_null(l);
	for (size_t i = 0; i < NITEMS(rate_steps); i++) {
		const struct rate_step	*s = &rate_steps[i];
		struct test_req		 t;
		struct est_reply	 reply;
		long			 wait;

		memset(&reply, 0, sizeof(reply));
		req_init(&t, RATE_POLICY, s->op, s->csr ? csr_make(K_P256,
		    "dev1", K_P256) : NULL, s->method, s->identity);
		snprintf(t.rq.rq_peer_addr, sizeof(t.rq.rq_peer_addr), "%s",
		    s->peer);
		if (est_stage_rate(&t.rq, l, &reply) != s->rc)
			fail_msg("step %zu: not %d", i, s->rc);
		if (s->rc == 0) {
			assert_int_equal(reply.status, 0);
			assert_string_equal(t.rq.rq_rule, "");
		} else {
			assert_refusal(&reply, 429, "policy rate: at most 1 "
			    "enrollments per 3600 s for this identity; retry "
			    "later");
			assert_string_equal(t.rq.rq_rule, "rate");
			wait = strtol(reply.retry_after, NULL, 10);
			assert_true(wait > 3500 && wait <= 3600);
		}
		est_reply_clear(&reply);
		req_clear(&t);
	}
	limiter_free(l);
}

/* A route without a rate has no counter: nothing is refused. */
static void
test_rate_none(void **state)
{
	struct test_req		t;
	struct est_reply	reply;

	(void)state;
	memset(&reply, 0, sizeof(reply));
	req_init(&t, NULL, EST_OP_SIMPLEENROLL, csr_make(K_P256, "dev1",
	    K_P256), AUTH_METHOD_MAX, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(est_stage_rate(&t.rq, NULL, &reply), 0);
	assert_int_equal(reply.status, 0);
	req_clear(&t);
}

/* --- csrattrs from the policy --- */

struct csrattrs_case {
	const char	*name;
	const char	*policy;
	enum est_op	 op;
	int		 from_policy;
	int		 rc;
	int		 status;
};

static const struct csrattrs_case csrattrs_cases[] = {
	{ "relayed from the backend", NULL, EST_OP_CSRATTRS, 0, 0, 0 },
	{ "not csrattrs", NULL, EST_OP_SIMPLEENROLL, 1, 0, 0 },
	{ "the default policy asks for its key types", NULL, EST_OP_CSRATTRS,
	  1, -1, 200 },
	{ "binding required: challengePassword asked for",
	  "{\"channel_binding\":\"required\"}", EST_OP_CSRATTRS, 1, -1, 200 },
};

static void
test_csrattrs_case(void **state)
{
	const struct csrattrs_case	*c = *state;
	struct test_req			 t;
	struct est_reply		 reply;
	unsigned char			*der = NULL;
	char				*b64;
	size_t				 len = 0, b64len;

	memset(&reply, 0, sizeof(reply));
	req_init(&t, c->policy, c->op, NULL, AUTH_METHOD_MAX, NULL);
	t.route.csrattrs_from_policy = c->from_policy;
	assert_int_equal(est_stage_csrattrs(&t.rq, &reply), c->rc);
	assert_int_equal(reply.status, c->status);
	if (c->status == 200) {
		/* The policy's own DER, base64 as RFC 8951 §3.4 wants. */
		assert_int_equal(policy_csrattrs(t.policy, &der, &len), 0);
		assert_non_null(b64 = b64_encode_lines(der, len, &b64len));
		assert_string_equal(reply.content_type, EST_CT_CSRATTRS);
		assert_int_equal(reply.body_len, b64len);
		assert_memory_equal(reply.body, b64, b64len);
		free(b64);
		free(der);
	}
	est_reply_clear(&reply);
	req_clear(&t);
}

/* --- the audit record's decision --- */

struct audit_case {
	const char	*name;
	int		 status;
	const char	*rule;		/* rq_rule */
	const char	*decision;	/* given; NULL: judged */
	const char	*want;
};

static const struct audit_case audit_cases[] = {
	{ "issued", 200, "", NULL, "accepted" },
	{ "the CA's 201", 201, "", NULL, "accepted" },
	{ "queued or pending at the CA", 202, "", NULL, "pending" },
	{ "our refusal", 403, "key.type", NULL, "refused" },
	{ "our fullcmc refusal is a 501", 501, "fullcmc", NULL, "refused" },
	{ "the CA's refusal", 400, "", NULL, "refused" },
	{ "the CA failed", 502, "", NULL, "failed" },
	{ "the client left", 499, "", "abandoned", "abandoned" },
};

static void
test_audit_case(void **state)
{
	const struct audit_case	*c = *state;
	struct test_req		 t;
	struct est_reply	 reply;
	struct audit_record	 rec;

	memset(&reply, 0, sizeof(reply));
	req_init(&t, NULL, EST_OP_SIMPLEENROLL, csr_make(K_P256, "dev1",
	    K_P256), AUTH_METHOD_DIGEST, "alice");
	snprintf(t.rq.rq_rule, sizeof(t.rq.rq_rule), "%s", c->rule);
	reply.status = c->status;
	snprintf(reply.reason, sizeof(reply.reason), "why");
	est_audit_fill(&t.rq, &reply, c->decision, &rec);
	assert_string_equal(rec.decision, c->want);
	assert_int_equal(rec.status, c->status);
	assert_string_equal(rec.request_id, "test-1");
	assert_string_equal(rec.identity, "alice");
	assert_string_equal(rec.label, "-");
	assert_string_equal(rec.op, "simpleenroll");
	assert_ptr_equal(rec.csr, t.rq.rq_csr->csr_req);
	if (c->rule[0] != '\0')
		assert_string_equal(rec.rule, c->rule);
	else
		assert_null(rec.rule);
	req_clear(&t);
}

#define CASES(fn, table, out, n) do {					\
	for (size_t i_ = 0; i_ < NITEMS(table); i_++, (n)++) {		\
		(out)[n].name = (table)[i_].name;			\
		(out)[n].test_func = (fn);				\
		(out)[n].initial_state = (void *)&(table)[i_];		\
	}								\
} while (0)

int
main(void)
{
	struct CMUnitTest	tests[NITEMS(policy_cases) + NITEMS(pop_cases) +
	    NITEMS(csrattrs_cases) + NITEMS(audit_cases) + 2];
	size_t			n = 0;

	memset(tests, 0, sizeof(tests));
	CASES(test_policy_case, policy_cases, tests, n);
	CASES(test_pop_case, pop_cases, tests, n);
	CASES(test_csrattrs_case, csrattrs_cases, tests, n);
	CASES(test_audit_case, audit_cases, tests, n);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_rate);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_rate_none);
	return _cmocka_run_group_tests("est_policy", tests, n, NULL,
	    group_teardown);
}
