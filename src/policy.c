/*
 * policy: compiles a policy's JSON object into the immutable struct the
 * checks read (policy_check.c, policy_san.c; names and reason text in
 * policy_names.c) and csrattrs is derived from (policy_csrattrs.c). The
 * object is described by the config engine's rows (config_schema_int.h),
 * like every section of the config file: the same rows validate it, fill
 * its defaults, free it and document it, and every problem is reported,
 * each with its key path below the policy object, so an operator fixes a
 * whole file in one pass. Anything that could fail at request time (a
 * regex, a curve or OID name, a CIDR) is resolved here instead. No I/O,
 * no globals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/objects.h>

#include "policy_int.h"

#define POL_PATH	1024
#define POL_AT(m)	.offset = offsetof(struct policy, m)

/* The engine stores a CFG_ENUM as an int. */
_Static_assert(sizeof(enum pol_cn_bind) == sizeof(int), "enum size");
_Static_assert(sizeof(enum pol_binding) == sizeof(int), "enum size");

/* --- the checks of list elements: NULL, or why one is wrong --- */

/* A NIST name (P-256) or any curve OpenSSL has built in. */
static int
pol_curve_nid(const char *name)
{
	EC_builtin_curve	 curves[128];
	size_t			 n, i;
	int			 nid;

	if ((nid = EC_curve_nist2nid(name)) == NID_undef &&
	    (nid = OBJ_sn2nid(name)) == NID_undef)
		return NID_undef;
	n = EC_get_builtin_curves(curves, sizeof(curves) / sizeof(curves[0]));
	for (i = 0; i < n && i < sizeof(curves) / sizeof(curves[0]); i++)
		if (curves[i].nid == nid)
			return nid;
	return NID_undef;
}

static const char *
pol_curve_check(const char *s)
{
	return pol_curve_nid(s) == NID_undef ? "unknown curve (P-256, P-384, "
	    "P-521, or an OpenSSL curve name)" : NULL;
}

static const char *
pol_hash_check(const char *s)
{
	return pol_hash_nid(s) == NID_undef ? "unknown hash (SHA1, SHA224, "
	    "SHA256, SHA384, SHA512)" : NULL;
}

static const char *
pol_ku_check(const char *s)
{
	return pol_ku_bit(s) < 0 ? "unknown key usage" : NULL;
}

/* why, unless s is an object name OpenSSL knows or a dotted OID. */
static const char *
pol_oid_check(const char *s, const char *why)
{
	ASN1_OBJECT *o = OBJ_txt2obj(s, 0);

	ASN1_OBJECT_free(o);
	return o == NULL ? why : NULL;
}

#define POL_ATTR_WHAT	"unknown attribute (CN, O, OU, C, L, ST, " \
	"serialNumber, emailAddress, DC, UID, or a dotted OID)"

static const char *
pol_attr_check(const char *s)
{
	return pol_oid_check(s, POL_ATTR_WHAT);
}

static const char *
pol_eku_check(const char *s)
{
	return pol_oid_check(s, "unknown EKU (a short name such as "
	    "clientAuth, or a dotted OID)");
}

static const char *
pol_ext_check(const char *s)
{
	return pol_oid_check(s, "unknown extension (a short name such as "
	    "subjectAltName, or a dotted OID)");
}

/* "name" or "*.name": a wildcard only as the whole first label. */
static const char *
pol_dns_check(const char *s)
{
	const char *body = strncmp(s, "*.", 2) == 0 ? s + 2 : s;

	if (*body == '\0' || strchr(body, '*') != NULL || *body == '.' ||
	    strstr(body, "..") != NULL)
		return "bad DNS name (a name, or *.name for the names under it)";
	return NULL;
}

static const char *
pol_domain_check(const char *s)
{
	if (*s == '\0' || strchr(s, '@') != NULL)
		return "bad domain (example.com, without @)";
	return NULL;
}

static const char *
pol_prefix_check(const char *s)
{
	return *s == '\0' ? "must not be empty" : NULL;
}

static const char *
pol_cidr_check(const char *s)
{
	struct pol_cidr c;

	return pol_cidr_parse(s, &c) == -1 ?
	    "not a CIDR (a.b.c.d/n or x::/n)" : NULL;
}

/* --- the lists a row's loader maps further --- */

/*
 * v's strings, each passed by check(), turned into ints by map() and put
 * in out[0..*n) without repeats (room for cap). Not an array: out and *n
 * are left alone. Returns the number of problems.
 */
static int
pol_map(struct cfg_ctx *ctx, const char *path, const json_t *v,
    cfg_check_fn check, int (*map)(const char *), int *out, size_t cap,
    size_t *n)
{
	struct cfg_strs	 l = { 0 };
	int		 nerr = strings_load(ctx, path, v, check, &l);
	size_t		 j;

	if (l.set)
		*n = 0;
	for (size_t i = 0; i < l.n; i++) {
		int x = map(l.v[i]);
		for (j = 0; j < *n && out[j] != x; j++)
			;
		if (j == *n && *n < cap)
			out[(*n)++] = x;
	}
	strings_free(&l);
	return nerr;
}

/* A list given replaces the default one; a bad value leaves it. */
static int
pol_curves_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    void *base)
{
	struct policy	*p = base;
	size_t		 cap = json_is_array(v) ? json_array_size(v) : 0;
	int		*nids;

	if (json_is_array(v)) {
		if ((nids = calloc(cap + 1, sizeof(int))) == NULL) {
			cfg_err(ctx, path, "out of memory");
			return 1;
		}
		free(p->p_curves);
		p->p_curves = nids;
	}
	return pol_map(ctx, path, v, pol_curve_check, pol_curve_nid,
	    p->p_curves, cap, &p->p_ncurves);
}

static void
pol_curves_free(void *base)
{
	struct policy *p = base;

	free(p->p_curves);
	p->p_curves = NULL;
	p->p_ncurves = 0;
}

static int
pol_hashes_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    void *base)
{
	struct policy *p = base;

	return pol_map(ctx, path, v, pol_hash_check, pol_hash_nid,
	    p->p_hashes, POL_NHASH, &p->p_nhashes);
}

static int
pol_ku_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    void *base)
{
	struct policy	*p = base;
	int		 bits[POL_NKU];
	size_t		 n = 0;
	int		 nerr = pol_map(ctx, path, v, pol_ku_check, pol_ku_bit,
	    bits, POL_NKU, &n);

	p->p_ku_set = json_is_array(v);
	for (size_t i = 0; i < n; i++)
		p->p_ku_mask |= 1u << bits[i];
	return nerr;
}

/* --- "subject.patterns" --- */

static int
pol_pattern_one(struct cfg_ctx *ctx, const char *path, const char *attr,
    const json_t *v, struct policy *p)
{
	struct pol_pattern	*pp = &p->p_patterns[p->p_npatterns];
	char			 msg[200];
	int			 rc;

	if (!json_is_string(v)) {
		cfg_err(ctx, path, "must be a string, not %s",
		    json_type_name(v));
		return 1;
	}
	if ((pp->obj = OBJ_txt2obj(attr, 0)) == NULL) {
		cfg_err(ctx, path, POL_ATTR_WHAT);
		return 1;
	}
	if ((rc = regcomp(&pp->re, json_string_value(v),
	    REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &pp->re, msg, sizeof(msg));
		cfg_err(ctx, path, "bad regex: %s", msg);
		ASN1_OBJECT_free(pp->obj);
		pp->obj = NULL;
		return 1;
	}
	pp->name = strdup(attr);
	pp->src = strdup(json_string_value(v));
	p->p_npatterns++;	/* owns re from here on */
	if (pp->name == NULL || pp->src == NULL) {
		cfg_err(ctx, path, "out of memory");
		return 1;
	}
	return 0;
}

static int
pol_patterns_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    void *base)
{
	struct policy	*p = base;
	const char	*attr;
	json_t		*re;
	char		 kp[POL_PATH];
	int		 nerr = 0;

	if (!json_is_object(v)) {
		cfg_err(ctx, path, "must be an object, not %s",
		    json_type_name(v));
		return 1;
	}
	if ((p->p_patterns = calloc(json_object_size(v) + 1,
	    sizeof(*p->p_patterns))) == NULL) {
		cfg_err(ctx, path, "out of memory");
		return 1;
	}
	json_object_foreach((json_t *)v, attr, re) {
		child_path(kp, sizeof(kp), path, attr);
		nerr += pol_pattern_one(ctx, kp, attr, re, p);
	}
	return nerr;
}

static void
pol_patterns_free(void *base)
{
	struct policy *p = base;

	for (size_t i = 0; i < p->p_npatterns; i++) {
		ASN1_OBJECT_free(p->p_patterns[i].obj);
		free(p->p_patterns[i].name);
		free(p->p_patterns[i].src);
		regfree(&p->p_patterns[i].re);
	}
	free(p->p_patterns);
	p->p_patterns = NULL;
	p->p_npatterns = 0;
}

/* --- "rate" --- */

const struct cfg_field pol_rate_fields[] = {
	{ .key = "max", .type = CFG_LONG, POL_AT(p_rate_max),
	  .min = 1, .max = 1000000,
	  .doc_dflt = "required",
	  .doc = "at most this many enrollments per identity per window" },
	{ .key = "window", .type = CFG_LONG, POL_AT(p_rate_window),
	  .min = 1, .max = 31536000,
	  .doc_dflt = "required",
	  .doc = "the window, in seconds" },
	F_END
};

static int
pol_rate_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    void *base)
{
	int nerr;

	if (!json_is_object(v)) {
		cfg_err(ctx, path, "must be an object, not %s",
		    json_type_name(v));
		return 1;
	}
	if ((nerr = section_load(ctx, v, path, pol_rate_fields, base)) != 0)
		return nerr;
	/* A count without a window (or the reverse) limits nothing. */
	if (json_object_get(v, "max") == NULL ||
	    json_object_get(v, "window") == NULL) {
		cfg_err(ctx, path, "needs both max and window");
		return 1;
	}
	return 0;
}

/* --- the rows (doc text: docs/policy.md) --- */

const struct cfg_field pol_keys_fields[] = {
	{ .key = "rsa", .type = CFG_BOOL, POL_AT(p_rsa), .dflt = 1,
	  .doc = "allow RSA keys" },
	{ .key = "rsa_min_bits", .type = CFG_LONG, POL_AT(p_rsa_min_bits),
	  .min = 512, .max = 16384, .dflt = 2048,
	  .doc = "refuse RSA keys shorter than this" },
	{ .key = "ec_curves", .type = CFG_CUSTOM, .load = pol_curves_load,
	  .free = pol_curves_free,
	  .doc_type = "array of strings",
	  .doc_dflt = "`[\"P-256\",\"P-384\",\"P-521\"]`",
	  .doc = "the EC curves allowed (P-256, P-384, P-521 or an OpenSSL "
	  "curve name; [] allows no EC key)" },
	{ .key = "ed25519", .type = CFG_BOOL, POL_AT(p_ed25519), .dflt = 1,
	  .doc = "allow Ed25519 keys" },
	{ .key = "ed448", .type = CFG_BOOL, POL_AT(p_ed448), .dflt = 1,
	  .doc = "allow Ed448 keys" },
	F_END
};

static const char *const pol_cn_names[] = { "user", "client_cert_cn", NULL };

const struct cfg_field pol_subject_fields[] = {
	{ .key = "required", .type = CFG_STRINGS,
	  POL_AT(p_subj_required.name), .check = pol_attr_check,
	  .doc_dflt = "none",
	  .doc = "attribute types that must be present (CN, O, OU, C, "
	  "serialNumber, ...)" },
	{ .key = "allowed", .type = CFG_STRINGS,
	  POL_AT(p_subj_allowed.name), .check = pol_attr_check,
	  .doc_dflt = "any",
	  .doc = "the only attribute types allowed (absent: any)" },
	{ .key = "patterns", .type = CFG_CUSTOM, .load = pol_patterns_load,
	  .free = pol_patterns_free,
	  .doc_type = "object of strings", .doc_dflt = "none",
	  .doc = "per attribute type, a POSIX extended regex every value "
	  "must match; it matches anywhere unless anchored (^...$)" },
	{ .key = "max_length", .type = CFG_LONG, POL_AT(p_subj_max_len),
	  .min = 1, .max = 65535,
	  .doc_dflt = "any",
	  .doc = "longest attribute value, in characters (absent: any)" },
	{ .key = "cn_must_equal", .type = CFG_ENUM, POL_AT(p_cn_bind),
	  .names = pol_cn_names, .dflt = POL_CN_NONE,
	  .doc = "user: the CN must be the Digest/Basic user name; "
	  "client_cert_cn: the CN of the client's TLS certificate" },
	F_END
};

const struct cfg_field pol_san_fields[] = {
	{ .key = "dns", .type = CFG_STRINGS, POL_AT(p_dns),
	  .check = pol_dns_check,
	  .doc_dflt = "any",
	  .doc = "allowed DNS names: *.example.com matches any host name "
	  "under it, others exactly (absent: any; []: none)" },
	{ .key = "ip", .type = CFG_STRINGS, POL_AT(p_ip_text),
	  .check = pol_cidr_check,
	  .doc_dflt = "any",
	  .doc = "allowed addresses as CIDR blocks, IPv4 and IPv6" },
	{ .key = "email_domains", .type = CFG_STRINGS, POL_AT(p_email),
	  .check = pol_domain_check, .doc_dflt = "any",
	  .doc = "allowed e-mail domains" },
	{ .key = "uri_prefixes", .type = CFG_STRINGS, POL_AT(p_uri),
	  .check = pol_prefix_check,
	  .doc_dflt = "any",
	  .doc = "allowed URI prefixes, compared as plain prefixes" },
	{ .key = "max", .type = CFG_LONG, POL_AT(p_san_max),
	  .min = 0, .max = 1000, .dflt = 20,
	  .doc = "at most this many SANs" },
	{ .key = "required", .type = CFG_BOOL, POL_AT(p_san_required),
	  .doc = "at least one SAN" },
	{ .key = "forbidden", .type = CFG_BOOL, POL_AT(p_san_forbidden),
	  .doc = "no SAN at all" },
	F_END
};

const struct cfg_field pol_ext_fields[] = {
	{ .key = "allow_ca", .type = CFG_BOOL, POL_AT(p_allow_ca),
	  .doc = "allow a requested basicConstraints CA:TRUE" },
	{ .key = "key_usages", .type = CFG_CUSTOM, .load = pol_ku_load,
	  .doc_type = "array of strings", .doc_dflt = "any",
	  .doc = "the key usages allowed (absent: any)" },
	{ .key = "ekus", .type = CFG_STRINGS, POL_AT(p_ekus.name),
	  .check = pol_eku_check,
	  .doc_dflt = "any but `cmcRA`",
	  .doc = "the EKUs allowed, short names or dotted OIDs (absent: any "
	  "but cmcRA)" },
	{ .key = "allowed", .type = CFG_STRINGS, POL_AT(p_ext_allowed.name),
	  .check = pol_ext_check,
	  .doc_dflt = "any",
	  .doc = "the only extensions a CSR may request (absent: any)" },
	F_END
};

const struct cfg_field pol_reenroll_fields[] = {
	{ .key = "same_subject", .type = CFG_BOOL, POL_AT(p_same_subject),
	  .dflt = 1, .doc = "the CSR's subject and SAN set must equal the "
	  "certificate's" },
	{ .key = "renew", .type = CFG_BOOL, POL_AT(p_renew), .dflt = 1,
	  .doc = "the certificate's own public key (renewal) is allowed" },
	{ .key = "rekey", .type = CFG_BOOL, POL_AT(p_rekey), .dflt = 1,
	  .doc = "a new public key (rekey) is allowed" },
	F_END
};

static const char *const pol_binding_names[POL_BINDING_MAX + 1] = {
	[POL_BINDING_OPTIONAL] = "optional",
	[POL_BINDING_REQUIRED] = "required",
	[POL_BINDING_OFF] = "off",
};

/* The sections share struct policy: they sit at offset 0. */
const struct cfg_field policy_fields[] = {
	{ .key = "keys", .type = CFG_SECTION, .fields = pol_keys_fields,
	  .doc = "the key types and sizes a CSR may carry" },
	{ .key = "signature_hashes", .type = CFG_CUSTOM,
	  .load = pol_hashes_load,
	  .doc_type = "array of strings",
	  .doc_dflt = "`[\"SHA256\",\"SHA384\",\"SHA512\"]`",
	  .doc = "the hashes a CSR's signature may use (SHA1, SHA224, "
	  "SHA256, SHA384, SHA512)" },
	{ .key = "subject", .type = CFG_SECTION, .fields = pol_subject_fields,
	  .doc = "what the CSR's subject may hold" },
	{ .key = "san", .type = CFG_SECTION, .fields = pol_san_fields,
	  .doc = "the subject alternative names a CSR may request" },
	{ .key = "extensions", .type = CFG_SECTION, .fields = pol_ext_fields,
	  .doc = "the extensions a CSR may request" },
	{ .key = "reenroll", .type = CFG_SECTION,
	  .fields = pol_reenroll_fields,
	  .doc = "what simplereenroll allows (RFC 7030 section 4.2.2)" },
	{ .key = "channel_binding", .type = CFG_ENUM, POL_AT(p_binding),
	  .names = pol_binding_names, .dflt = POL_BINDING_OPTIONAL,
	  .doc = "a challengePassword must hold the TLS session's channel "
	  "binding when present (optional), always (required), or is the "
	  "CA's to check (off) (RFC 7030 section 3.5)" },
	/* .fields: the rows its loader walks, for the documentation. */
	{ .key = "rate", .type = CFG_CUSTOM, .load = pol_rate_load,
	  .fields = pol_rate_fields,
	  .doc_type = "object", .doc_dflt = "none",
	  .doc = "at most max enrollments per identity per window seconds" },
	F_END
};

/* The built-in policy: what an unconfigured label gets. */
static int
pol_defaults(struct policy *p)
{
	static const int curves[] = { NID_X9_62_prime256v1, NID_secp384r1,
	    NID_secp521r1 };

	if (section_defaults(policy_fields, p) != 0 ||
	    (p->p_curves = malloc(sizeof(curves))) == NULL)
		return -1;
	memcpy(p->p_curves, curves, sizeof(curves));
	p->p_ncurves = 3;
	p->p_hashes[0] = NID_sha256;
	p->p_hashes[1] = NID_sha384;
	p->p_hashes[2] = NID_sha512;
	p->p_nhashes = 3;
	return 0;
}

/* --- after the walk --- */

static struct pol_objs *
pol_objs_at(struct policy *p, size_t i)
{
	struct pol_objs *l[] = { &p->p_subj_required, &p->p_subj_allowed,
	    &p->p_ekus, &p->p_ext_allowed };

	return i < sizeof(l) / sizeof(l[0]) ? l[i] : NULL;
}

/*
 * The names the rows kept, resolved once: their checks passed, so only
 * memory can fail here. Returns -1 after reporting it.
 */
static int
pol_resolve(struct cfg_ctx *ctx, struct policy *p)
{
	struct pol_objs	*l;
	size_t		 i;

	for (size_t k = 0; (l = pol_objs_at(p, k)) != NULL; k++) {
		if ((l->obj = calloc(l->name.n + 1, sizeof(*l->obj))) == NULL)
			goto oom;
		for (i = 0; i < l->name.n; i++)
			if ((l->obj[i] = OBJ_txt2obj(l->name.v[i], 0)) == NULL)
				goto oom;
	}
	if ((p->p_ip = calloc(p->p_ip_text.n + 1, sizeof(*p->p_ip))) == NULL)
		goto oom;
	for (i = 0; i < p->p_ip_text.n; i++)
		(void)pol_cidr_parse(p->p_ip_text.v[i], &p->p_ip[i]);
	return 0;
oom:
	cfg_err(ctx, "", "out of memory");
	return -1;
}

/* Contradictions only visible once the whole object is read. */
static void
pol_cross_check(struct cfg_ctx *ctx, const struct policy *p)
{
	char path[POL_PATH];

	if (!p->p_rsa && !p->p_ed25519 && !p->p_ed448 && p->p_ncurves == 0)
		cfg_err(ctx, "keys", "no key type is allowed");
	if (p->p_san_required && p->p_san_forbidden)
		cfg_err(ctx, "san", "required and forbidden are both true");
	if (!p->p_subj_allowed.name.set)
		return;
	for (size_t i = 0; i < p->p_subj_required.name.n; i++)
		if (!pol_objs_has(&p->p_subj_allowed,
		    p->p_subj_required.obj[i])) {
			child_index(path, sizeof(path), "subject.required", i);
			cfg_err(ctx, path, "not in subject.allowed");
		}
}

/* Without a caller's callback a problem is only counted. */
static void
pol_err_count(void *arg, const char *key, const char *msg)
{
	(void)arg;
	(void)key;
	(void)msg;
}

struct policy *
policy_compile(const json_t *obj, policy_err_fn err, void *arg)
{
	struct cfg_ctx	 ctx = { .on_err = err != NULL ? err : pol_err_count,
	    .on_err_arg = arg };
	struct policy	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL || pol_defaults(p) == -1) {
		cfg_err(&ctx, "", "out of memory");
		goto fail;
	}
	if (obj != NULL && !json_is_object(obj))
		cfg_err(&ctx, "", "must be an object, not %s",
		    json_type_name(obj));
	else if (obj != NULL)
		section_load(&ctx, obj, "", policy_fields, p);
	if (pol_resolve(&ctx, p) == 0)
		pol_cross_check(&ctx, p);
	if (ctx.nerr == 0)
		return p;
fail:
	policy_free(p);
	return NULL;
}

void
policy_free(struct policy *p)
{
	struct pol_objs *l;

	if (p == NULL)
		return;
	for (size_t k = 0; (l = pol_objs_at(p, k)) != NULL; k++) {
		for (size_t i = 0; l->obj != NULL && i < l->name.n; i++)
			ASN1_OBJECT_free(l->obj[i]);
		free(l->obj);
	}
	free(p->p_ip);
	section_free(policy_fields, p);
	free(p);
}

long
policy_rate_max(const struct policy *p)
{
	return p->p_rate_max;
}

long
policy_rate_window(const struct policy *p)
{
	return p->p_rate_window;
}
