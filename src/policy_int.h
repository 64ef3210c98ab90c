/*
 * policy_int: what the policy_*.c files share and nothing else includes.
 * The compiled form of a policy (policy.c builds it from JSON, the others
 * only read it), the CSR's parsed extensions (policy_check.c parses them
 * once per request) and the helpers that keep every refusal one line.
 */
#ifndef ESTRAD_POLICY_INT_H
#define ESTRAD_POLICY_INT_H

#include <regex.h>
#include <stddef.h>

#include <openssl/x509v3.h>

#include "config_schema_int.h"
#include "estrad/policy.h"

#define POL_NHASH	5	/* SHA1, SHA224, SHA256, SHA384, SHA512 */
#define POL_NKU		9	/* the key usage bits of RFC 5280 §4.2.1.3 */
#define POL_PW_MAX	256	/* a challengePassword longer is not ours */
#define POL_QUOTE	96	/* room for one quoted, escaped value */

/*
 * Object identifiers given by name or dotted OID: name as configured (a
 * CFG_STRINGS slot: name.set = the key was present, absent = any), obj
 * the same, resolved once when the policy is compiled.
 */
struct pol_objs {
	struct cfg_strs	  name;
	ASN1_OBJECT	**obj;
};

struct pol_cidr {
	unsigned char	net[16];
	int		alen;		/* 4 or 16 */
	int		prefix;
};

struct pol_pattern {
	ASN1_OBJECT	*obj;
	char		*name;		/* as configured: "CN" */
	char		*src;
	regex_t		 re;
};

/* "cn_must_equal": a CFG_ENUM, in the order of its names; NONE: absent. */
enum pol_cn_bind { POL_CN_USER, POL_CN_CLIENT_CERT, POL_CN_NONE };

/*
 * "channel_binding" (RFC 7030 §3.5): a challengePassword must be the
 * session's binding when present (OPTIONAL) and must be present
 * (REQUIRED); OFF leaves it to the CA (an enrollment code), unread.
 */
enum pol_binding { POL_BINDING_OPTIONAL, POL_BINDING_REQUIRED,
	POL_BINDING_OFF, POL_BINDING_MAX };

struct policy {
	int			 p_rsa;
	long			 p_rsa_min_bits;
	int			 p_ed25519;
	int			 p_ed448;
	int			*p_curves;	/* NIDs, in preference order */
	size_t			 p_ncurves;
	int			 p_hashes[POL_NHASH];	/* digest NIDs, in order */
	size_t			 p_nhashes;

	struct pol_objs		 p_subj_required;
	struct pol_objs		 p_subj_allowed;
	struct pol_pattern	*p_patterns;
	size_t			 p_npatterns;
	long			 p_subj_max_len;	/* 0: none */
	enum pol_cn_bind	 p_cn_bind;

	struct cfg_strs		 p_dns;
	struct cfg_strs		 p_email;
	struct cfg_strs		 p_uri;
	struct cfg_strs		 p_ip_text;	/* as configured, for reasons */
	struct pol_cidr		*p_ip;
	long			 p_san_max;
	int			 p_san_required;
	int			 p_san_forbidden;

	int			 p_allow_ca;
	unsigned		 p_ku_mask;	/* bit n = key usage bit n */
	int			 p_ku_set;
	struct pol_objs		 p_ekus;
	struct pol_objs		 p_ext_allowed;

	int			 p_same_subject;
	int			 p_renew;
	int			 p_rekey;
	enum pol_binding	 p_binding;
	long			 p_rate_max;
	long			 p_rate_window;
};

/*
 * The policy object's keys, as the config engine's rows (policy.c): they
 * compile, default, free and document a policy.
 */
extern const struct cfg_field policy_fields[];
/* Its sections' rows, for tools/config_doc (docs/policy.md). */
extern const struct cfg_field pol_keys_fields[], pol_subject_fields[],
    pol_san_fields[], pol_ext_fields[], pol_reenroll_fields[],
    pol_rate_fields[];

/* A CSR's extensionRequest, decoded once; all members owned. */
struct pol_req {
	STACK_OF(X509_EXTENSION)	*exts;
	GENERAL_NAMES			*san;
	ASN1_BIT_STRING			*ku;
	EXTENDED_KEY_USAGE		*eku;
	BASIC_CONSTRAINTS		*bc;
	int				 pw_state;	/* 1 / 0 / -1 */
	char				 pw[POL_PW_MAX];
};

/* The hash names policies use, and the key usage names of OpenSSL. */
const char *pol_hash_name(int md_nid);
int pol_hash_nid(const char *name);
const char *pol_ku_name(int bit);
int pol_ku_bit(const char *name);

/*
 * One broken rule into v; always returns -1. A 403 is added to what v
 * holds ("policy a: x; b: y"); a 400 (the CSR cannot be read) replaces
 * it, and pol_fatal(v) then tells the checks to stop.
 */
int pol_refuse(struct policy_verdict *v, int status, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Close v's reason: "; and N more" for what did not fit. */
void pol_refuse_end(struct policy_verdict *v);
static inline int
pol_fatal(const struct policy_verdict *v)
{
	return v->status == 400;
}
/* s[0..len) as a double-quoted, escaped, possibly shortened string. */
const char *pol_quote(char *buf, size_t size, const void *s, size_t len);
/* "allowed: a, b" or "none allowed", escaped and bounded. */
const char *pol_list(char *buf, size_t size, char *const *v, size_t n);
/* An object's short name, or its dotted OID. */
const char *pol_obj_name(char *buf, size_t size, const ASN1_OBJECT *obj);
int pol_objs_has(const struct pol_objs *l, const ASN1_OBJECT *obj);

/* "a.b.c.d/n" or "x::/n" into out; -1 if it is neither. */
int pol_cidr_parse(const char *s, struct pol_cidr *out);
int pol_check_san(const struct policy *p, const struct pol_req *r,
    struct policy_verdict *v);
int pol_check_reenroll_san(const struct pol_req *r, X509 *cert,
    struct policy_verdict *v);

#endif
