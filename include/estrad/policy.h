/*
 * policy: whether the CA should see a CSR (the RA's core duty). A policy
 * is compiled once from its JSON object in the config and is immutable
 * after; checking a CSR against it is a pure function of the CSR, who the
 * client is, and what its TLS session binds (no I/O, no clock, no state:
 * the enrollment rate is counted by the caller). Every refusal names the
 * rule and the offending value, e.g.
 *   policy san.dns: "evil.com" is not under "*.branch.example.com"
 */
#ifndef ESTRAD_POLICY_H
#define ESTRAD_POLICY_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/x509.h>

struct policy;

/*
 * Report one problem in the policy's JSON: key is the path below the
 * policy object ("san.ip[1]"), msg one line. The config module turns it
 * into "FILE:LINE: policies.NAME.san.ip[1]: msg".
 */
typedef void (*policy_err_fn)(void *arg, const char *key, const char *msg);

/*
 * Compile obj (NULL: the built-in defaults) into a policy. Returns NULL
 * after reporting every problem through err. Unknown keys are problems.
 */
struct policy *policy_compile(const json_t *obj, policy_err_fn err,
    void *arg);
void policy_free(struct policy *p);

enum policy_op { POLICY_ENROLL, POLICY_REENROLL, POLICY_SERVERKEYGEN };

/* What one request brings besides its CSR. */
struct policy_input {
	X509_REQ	*csr;
	enum policy_op	 op;
	const char	*user;		/* Digest/Basic user name, or NULL */
	/*
	 * The verified TLS client certificate, or NULL. One that carries
	 * id-kp-cmcRA is a registration authority's: it has checked the
	 * re-enroll identity and channel binding of its own client (RFC 7030
	 * §3.7), which this session cannot show, so those rules are skipped
	 * for it; all others still apply.
	 */
	X509		*client_cert;
	/*
	 * The channel binding of the client's TLS session, base64 (RFC 7030
	 * §3.5): tls-unique for TLS 1.2, tls-exporter (RFC 9266) for 1.3;
	 * NULL if none can be computed.
	 */
	const char	*binding;
};

/* Distinct rules a verdict names (a rule broken twice is named once): room
 * for every rule there is (30 names today), so rules[] is never
 * cut short. */
#define POLICY_RULES_MAX	32
#define POLICY_RULE_LEN		48

struct policy_verdict {
	int	status;		/* 0 accepted; 403 refused; 400 malformed */
	char	rule[POLICY_RULE_LEN];	/* the first: "san.dns", ... */
	char	rules[POLICY_RULES_MAX][POLICY_RULE_LEN]; /* every one */
	size_t	nrules;
	char	reason[384];	/* "policy san.dns: ...; key.type: ...",
				 * as long as a reply's (reply.h) */
	size_t	nmore;		/* refusals counted, not written, in reason */
};

/*
 * Fill *v; returns 0 when accepted, -1 when refused. A 403 names every
 * rule the CSR breaks, and every value that breaks it (two SANs out of
 * bounds: both), so a client fixes its CSR in one round trip; what does
 * not fit the reason is counted ("; and 3 more"). A CSR that cannot be
 * read (400) is refused for that alone.
 */
int policy_check(const struct policy *p, const struct policy_input *in,
    struct policy_verdict *v);

/*
 * The CsrAttrs (RFC 7030 §4.5.2 as clarified by RFC 8951 §3.4) this
 * policy asks clients for, DER: challengePassword when binding is
 * required, the key type (and EC curve) it prefers, the extensionRequest
 * OIDs it needs. Returns 0 with a malloc'd *der (caller frees; *len may
 * be 0: nothing to ask, answer 204), or -1.
 */
int policy_csrattrs(const struct policy *p, unsigned char **der,
    size_t *len);

/* Rate limit per identity: 0 if none configured. */
long policy_rate_max(const struct policy *p);
long policy_rate_window(const struct policy *p);

#endif
