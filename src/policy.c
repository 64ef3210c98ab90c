/*
 * policy: compiles a policy's JSON object into the immutable struct the
 * checks read (policy_check.c, policy_san.c; names and reason text in
 * policy_names.c) and csrattrs is derived from (policy_csrattrs.c). Compiling walks the object once against tables of
 * known keys and reports every problem, each with its key path below the
 * policy object, so an operator fixes a whole file in one pass. Anything
 * that could fail at request time (a regex, a curve or OID name, a CIDR)
 * is resolved here instead. No I/O, no globals.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/objects.h>

#include "policy_int.h"

#define POL_PATH	256

struct pol_ctx {
	policy_err_fn	 err;
	void		*arg;
	int		 nerr;
};

typedef void (*pol_field_fn)(struct pol_ctx *, const char *,
    const json_t *, struct policy *);

struct pol_field {
	const char	*name;
	pol_field_fn	 fn;
};

static void pol_err(struct pol_ctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pol_err(struct pol_ctx *c, const char *key, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->nerr++;
	if (c->err != NULL)
		c->err(c->arg, key, msg);
}

static void
pol_path(char *out, const char *base, const char *key)
{
	snprintf(out, POL_PATH, "%s%s%s", base, *base ? "." : "", key);
}

static void
pol_path_idx(char *out, const char *base, size_t i)
{
	snprintf(out, POL_PATH, "%s[%zu]", base, i);
}

/* Walk obj's keys against fields; every unknown key is a problem. */
static void
pol_section(struct pol_ctx *c, const char *path, const json_t *obj,
    const struct pol_field *fields, struct policy *p)
{
	const char	*key;
	json_t		*v;
	char		 kp[POL_PATH];
	size_t		 i;

	if (!json_is_object(obj)) {
		pol_err(c, path, "must be an object");
		return;
	}
	json_object_foreach((json_t *)obj, key, v) {
		pol_path(kp, path, key);
		for (i = 0; fields[i].name != NULL; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (fields[i].name == NULL)
			pol_err(c, kp, "unknown key");
		else
			fields[i].fn(c, kp, v, p);
	}
}

static void
pol_bool(struct pol_ctx *c, const char *path, const json_t *v, int *out)
{
	if (!json_is_boolean(v))
		pol_err(c, path, "must be true or false");
	else
		*out = json_is_true(v);
}

static void
pol_int(struct pol_ctx *c, const char *path, const json_t *v, long lo,
    long hi, long *out)
{
	json_int_t n;

	if (!json_is_integer(v) || (n = json_integer_value(v)) < lo ||
	    n > hi)
		pol_err(c, path, "must be an integer from %ld to %ld", lo, hi);
	else
		*out = (long)n;
}

/* 0 if v is an array of strings, else reported. */
static int
pol_strarray(struct pol_ctx *c, const char *path, const json_t *v)
{
	size_t	 i;
	json_t	*e;

	if (!json_is_array(v))
		goto bad;
	json_array_foreach((json_t *)v, i, e)
		if (!json_is_string(e))
			goto bad;
	return 0;
bad:
	pol_err(c, path, "must be an array of strings");
	return -1;
}

/* Copy an array of strings; check(s) says why an element is wrong. */
static void
pol_strs(struct pol_ctx *c, const char *path, const json_t *v,
    struct pol_strs *out, const char *(*check)(const char *))
{
	char		 ep[POL_PATH];
	const char	*why;
	size_t		 i;

	if (pol_strarray(c, path, v) == -1)
		return;
	out->set = 1;
	if ((out->v = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
		goto oom;
	for (i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));
		pol_path_idx(ep, path, i);
		if (check != NULL && (why = check(s)) != NULL) {
			pol_err(c, ep, "%s", why);
			continue;
		}
		if ((out->v[out->n++] = strdup(s)) == NULL)
			goto oom;
	}
	return;
oom:
	pol_err(c, path, "out of memory");
}

/* Names or dotted OIDs; what says what kind of name was expected. */
static void
pol_objs(struct pol_ctx *c, const char *path, const json_t *v,
    struct pol_objs *out, const char *what)
{
	char	 ep[POL_PATH];
	size_t	 i, n;

	if (pol_strarray(c, path, v) == -1)
		return;
	out->set = 1;
	n = json_array_size(v);
	if ((out->obj = calloc(n + 1, sizeof(*out->obj))) == NULL ||
	    (out->name = calloc(n + 1, sizeof(*out->name))) == NULL) {
		pol_err(c, path, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(v, i));
		ASN1_OBJECT *o = OBJ_txt2obj(s, 0);
		pol_path_idx(ep, path, i);
		if (o == NULL) {
			pol_err(c, ep, "%s", what);
			continue;
		}
		out->obj[out->n] = o;
		if ((out->name[out->n++] = strdup(s)) == NULL)
			pol_err(c, ep, "out of memory");
	}
}

/* --- "keys" --- */

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

static void
pol_keys_curves(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	char	 ep[POL_PATH];
	size_t	 i;
	int	 nid;

	if (pol_strarray(c, path, v) == -1)
		return;
	free(p->p_curves);
	p->p_ncurves = 0;
	if ((p->p_curves = calloc(json_array_size(v) + 1,
	    sizeof(int))) == NULL) {
		pol_err(c, path, "out of memory");
		return;
	}
	for (i = 0; i < json_array_size(v); i++) {
		nid = pol_curve_nid(json_string_value(json_array_get(v, i)));
		pol_path_idx(ep, path, i);
		if (nid == NID_undef)
			pol_err(c, ep, "unknown curve (P-256, P-384, P-521, "
			    "or an OpenSSL curve name)");
		else
			p->p_curves[p->p_ncurves++] = nid;
	}
}

static void
pol_keys_rsa_min(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_int(c, path, v, 512, 16384, &p->p_rsa_min_bits);
}

static void
pol_keys_rsa(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_rsa);
}

static void
pol_keys_ed25519(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_ed25519);
}

static void
pol_keys_ed448(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_ed448);
}

static const struct pol_field pol_keys_fields[] = {
	{ "rsa", pol_keys_rsa }, { "rsa_min_bits", pol_keys_rsa_min },
	{ "ec_curves", pol_keys_curves }, { "ed25519", pol_keys_ed25519 },
	{ "ed448", pol_keys_ed448 }, { NULL, NULL },
};

static void
pol_keys(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_section(c, path, v, pol_keys_fields, p);
}

static void
pol_hashes(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	char	 ep[POL_PATH];
	size_t	 i, j;
	int	 nid;

	if (pol_strarray(c, path, v) == -1)
		return;
	p->p_nhashes = 0;
	for (i = 0; i < json_array_size(v); i++) {
		nid = pol_hash_nid(json_string_value(json_array_get(v, i)));
		pol_path_idx(ep, path, i);
		if (nid == NID_undef) {
			pol_err(c, ep, "unknown hash (SHA1, SHA224, SHA256, "
			    "SHA384, SHA512)");
			continue;
		}
		for (j = 0; j < p->p_nhashes && p->p_hashes[j] != nid; j++)
			;
		if (j == p->p_nhashes)
			p->p_hashes[p->p_nhashes++] = nid;
	}
}

/* --- "subject" --- */

#define POL_ATTR_WHAT	"unknown attribute (CN, O, OU, C, L, ST, " \
	"serialNumber, emailAddress, DC, UID, or a dotted OID)"

static void
pol_subj_required(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_objs(c, path, v, &p->p_subj_required, POL_ATTR_WHAT);
}

static void
pol_subj_allowed(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_objs(c, path, v, &p->p_subj_allowed, POL_ATTR_WHAT);
}

static void
pol_pattern_one(struct pol_ctx *c, const char *path, const char *attr,
    const json_t *v, struct policy *p)
{
	struct pol_pattern	*pp = &p->p_patterns[p->p_npatterns];
	char			 msg[200];
	int			 rc;

	if (!json_is_string(v)) {
		pol_err(c, path, "must be a string");
		return;
	}
	if ((pp->obj = OBJ_txt2obj(attr, 0)) == NULL) {
		pol_err(c, path, POL_ATTR_WHAT);
		return;
	}
	if ((rc = regcomp(&pp->re, json_string_value(v),
	    REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &pp->re, msg, sizeof(msg));
		pol_err(c, path, "bad regex: %s", msg);
		ASN1_OBJECT_free(pp->obj);
		pp->obj = NULL;
		return;
	}
	pp->name = strdup(attr);
	pp->src = strdup(json_string_value(v));
	p->p_npatterns++;	/* owns re from here on */
	if (pp->name == NULL || pp->src == NULL)
		pol_err(c, path, "out of memory");
}

static void
pol_subj_patterns(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	const char	*attr;
	json_t		*re;
	char		 kp[POL_PATH];

	if (!json_is_object(v)) {
		pol_err(c, path, "must be an object");
		return;
	}
	if ((p->p_patterns = calloc(json_object_size(v) + 1,
	    sizeof(*p->p_patterns))) == NULL) {
		pol_err(c, path, "out of memory");
		return;
	}
	json_object_foreach((json_t *)v, attr, re) {
		pol_path(kp, path, attr);
		pol_pattern_one(c, kp, attr, re, p);
	}
}

static void
pol_subj_max_len(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_int(c, path, v, 1, 65535, &p->p_subj_max_len);
}

static void
pol_subj_cn(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	const char *s = json_string_value(v);

	if (s != NULL && strcmp(s, "user") == 0)
		p->p_cn_bind = POL_CN_USER;
	else if (s != NULL && strcmp(s, "client_cert_cn") == 0)
		p->p_cn_bind = POL_CN_CLIENT_CERT;
	else
		pol_err(c, path, "must be user or client_cert_cn");
}

static const struct pol_field pol_subject_fields[] = {
	{ "required", pol_subj_required }, { "allowed", pol_subj_allowed },
	{ "patterns", pol_subj_patterns }, { "max_length", pol_subj_max_len },
	{ "cn_must_equal", pol_subj_cn }, { NULL, NULL },
};

static void
pol_subject(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_section(c, path, v, pol_subject_fields, p);
}

/* --- "san" --- */

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

static void
pol_san_ip(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	char	 ep[POL_PATH];
	size_t	 i, n;

	pol_strs(c, path, v, &p->p_ip_text, NULL);
	if (!p->p_ip_text.set)
		return;
	n = p->p_ip_text.n;
	if ((p->p_ip = calloc(n + 1, sizeof(*p->p_ip))) == NULL) {
		pol_err(c, path, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		if (pol_cidr_parse(p->p_ip_text.v[i], &p->p_ip[i]) == -1) {
			pol_path_idx(ep, path, i);
			pol_err(c, ep, "not a CIDR (a.b.c.d/n or x::/n)");
		}
}

static void
pol_san_dns(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_strs(c, path, v, &p->p_dns, pol_dns_check);
}

static void
pol_san_email(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_strs(c, path, v, &p->p_email, pol_domain_check);
}

static void
pol_san_uri(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_strs(c, path, v, &p->p_uri, pol_prefix_check);
}

static void
pol_san_max(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_int(c, path, v, 0, 1000, &p->p_san_max);
}

static void
pol_san_required(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_san_required);
}

static void
pol_san_forbidden(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_san_forbidden);
}

static const struct pol_field pol_san_fields[] = {
	{ "dns", pol_san_dns }, { "ip", pol_san_ip },
	{ "email_domains", pol_san_email }, { "uri_prefixes", pol_san_uri },
	{ "max", pol_san_max }, { "required", pol_san_required },
	{ "forbidden", pol_san_forbidden }, { NULL, NULL },
};

static void
pol_san(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_section(c, path, v, pol_san_fields, p);
}

/* --- "extensions" --- */

static void
pol_ext_ca(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_allow_ca);
}

static void
pol_ext_ku(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	char	 ep[POL_PATH];
	size_t	 i;
	int	 bit;

	if (pol_strarray(c, path, v) == -1)
		return;
	p->p_ku_set = 1;
	for (i = 0; i < json_array_size(v); i++) {
		bit = pol_ku_bit(json_string_value(json_array_get(v, i)));
		pol_path_idx(ep, path, i);
		if (bit < 0)
			pol_err(c, ep, "unknown key usage");
		else
			p->p_ku_mask |= 1u << bit;
	}
}

static void
pol_ext_ekus(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_objs(c, path, v, &p->p_ekus, "unknown EKU (a short name such "
	    "as clientAuth, or a dotted OID)");
}

static void
pol_ext_allowed(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_objs(c, path, v, &p->p_ext_allowed, "unknown extension (a short "
	    "name such as subjectAltName, or a dotted OID)");
}

static const struct pol_field pol_ext_fields[] = {
	{ "allow_ca", pol_ext_ca }, { "key_usages", pol_ext_ku },
	{ "ekus", pol_ext_ekus }, { "allowed", pol_ext_allowed },
	{ NULL, NULL },
};

static void
pol_extensions(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_section(c, path, v, pol_ext_fields, p);
}

/* --- "reenroll", "channel_binding", "rate" --- */

static void
pol_re_same(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_same_subject);
}

static void
pol_re_renew(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_renew);
}

static void
pol_re_rekey(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_bool(c, path, v, &p->p_rekey);
}

static const struct pol_field pol_reenroll_fields[] = {
	{ "same_subject", pol_re_same }, { "renew", pol_re_renew },
	{ "rekey", pol_re_rekey }, { NULL, NULL },
};

static void
pol_reenroll(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_section(c, path, v, pol_reenroll_fields, p);
}

static void
pol_binding(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	static const char *const names[POL_BINDING_MAX] = {
		[POL_BINDING_OPTIONAL] = "optional",
		[POL_BINDING_REQUIRED] = "required",
		[POL_BINDING_OFF] = "off",
	};
	const char *s = json_string_value(v);

	for (int i = 0; s != NULL && i < POL_BINDING_MAX; i++)
		if (strcmp(s, names[i]) == 0) {
			p->p_binding = (enum pol_binding)i;
			return;
		}
	pol_err(c, path, "must be optional, required or off");
}

static void
pol_rate_max(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_int(c, path, v, 1, 1000000, &p->p_rate_max);
}

static void
pol_rate_window(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	pol_int(c, path, v, 1, 31536000, &p->p_rate_window);
}

static const struct pol_field pol_rate_fields[] = {
	{ "max", pol_rate_max }, { "window", pol_rate_window },
	{ NULL, NULL },
};

static void
pol_rate(struct pol_ctx *c, const char *path, const json_t *v,
    struct policy *p)
{
	int nerr = c->nerr;

	pol_section(c, path, v, pol_rate_fields, p);
	/* A count without a window (or the reverse) limits nothing. */
	if (c->nerr == nerr && (json_object_get(v, "max") == NULL ||
	    json_object_get(v, "window") == NULL))
		pol_err(c, path, "needs both max and window");
}

static const struct pol_field pol_top_fields[] = {
	{ "keys", pol_keys }, { "signature_hashes", pol_hashes },
	{ "subject", pol_subject }, { "san", pol_san },
	{ "extensions", pol_extensions }, { "reenroll", pol_reenroll },
	{ "channel_binding", pol_binding }, { "rate", pol_rate },
	{ NULL, NULL },
};

/* The built-in policy: what an unconfigured label gets. */
static int
pol_defaults(struct policy *p)
{
	static const int curves[] = { NID_X9_62_prime256v1, NID_secp384r1,
	    NID_secp521r1 };

	p->p_rsa = p->p_ed25519 = p->p_ed448 = 1;
	p->p_rsa_min_bits = 2048;
	if ((p->p_curves = malloc(sizeof(curves))) == NULL)
		return -1;
	memcpy(p->p_curves, curves, sizeof(curves));
	p->p_ncurves = 3;
	p->p_hashes[0] = NID_sha256;
	p->p_hashes[1] = NID_sha384;
	p->p_hashes[2] = NID_sha512;
	p->p_nhashes = 3;
	p->p_san_max = 20;
	p->p_same_subject = p->p_renew = p->p_rekey = 1;
	return 0;
}

/* Contradictions only visible once the whole object is read. */
static void
pol_cross_check(struct pol_ctx *c, const struct policy *p)
{
	char path[POL_PATH];

	if (!p->p_rsa && !p->p_ed25519 && !p->p_ed448 && p->p_ncurves == 0)
		pol_err(c, "keys", "no key type is allowed");
	if (p->p_san_required && p->p_san_forbidden)
		pol_err(c, "san", "required and forbidden are both true");
	if (!p->p_subj_allowed.set)
		return;
	for (size_t i = 0; i < p->p_subj_required.n; i++)
		if (!pol_objs_has(&p->p_subj_allowed,
		    p->p_subj_required.obj[i])) {
			pol_path_idx(path, "subject.required", i);
			pol_err(c, path, "not in subject.allowed");
		}
}

struct policy *
policy_compile(const json_t *obj, policy_err_fn err, void *arg)
{
	struct pol_ctx	 c = { err, arg, 0 };
	struct policy	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL || pol_defaults(p) == -1) {
		pol_err(&c, "", "out of memory");
		goto fail;
	}
	if (obj != NULL) {
		if (!json_is_object(obj))
			pol_err(&c, "", "must be an object");
		else
			pol_section(&c, "", obj, pol_top_fields, p);
	}
	pol_cross_check(&c, p);
	if (c.nerr == 0)
		return p;
fail:
	policy_free(p);
	return NULL;
}

static void
pol_strs_free(struct pol_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void
pol_objs_free(struct pol_objs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		ASN1_OBJECT_free(l->obj[i]);
		free(l->name[i]);
	}
	free(l->obj);
	free(l->name);
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->p_curves);
	pol_objs_free(&p->p_subj_required);
	pol_objs_free(&p->p_subj_allowed);
	for (size_t i = 0; i < p->p_npatterns; i++) {
		ASN1_OBJECT_free(p->p_patterns[i].obj);
		free(p->p_patterns[i].name);
		free(p->p_patterns[i].src);
		regfree(&p->p_patterns[i].re);
	}
	free(p->p_patterns);
	pol_strs_free(&p->p_dns);
	pol_strs_free(&p->p_email);
	pol_strs_free(&p->p_uri);
	pol_strs_free(&p->p_ip_text);
	free(p->p_ip);
	pol_objs_free(&p->p_ekus);
	pol_objs_free(&p->p_ext_allowed);
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
