/*
 * policy_san: the subjectAltName rules. Each configured list (DNS names,
 * CIDRs, e-mail domains, URI prefixes) is an allow-list when present and
 * "anything" when absent; a SAN type no list covers (otherName, dirName,
 * ...) is refused as soon as any list is configured, so that an operator
 * who restricts names cannot be bypassed through a type they did not
 * think of. Whatever the lists, the string types must be what their
 * IA5String can carry (RFC 5280 §4.2.1.6): a dNSName a host name, an
 * rfc822Name or URI no control or non-ASCII byte; a CA would otherwise
 * sign names that no relying party reads the same way. Also the SAN half
 * of RFC 7030 §4.2.2's re-enrollment rule.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

/* The value of an IA5String SAN; a NUL in it never matches anything. */
static const char *
pol_ia5(const ASN1_IA5STRING *s, size_t *len)
{
	*len = (size_t)ASN1_STRING_length(s);
	if (memchr(ASN1_STRING_get0_data(s), '\0', *len) != NULL)
		return NULL;
	return (const char *)ASN1_STRING_get0_data(s);
}

/*
 * An rfc822Name or URI as IA5String text: no control byte, no DEL, nothing
 * above 0x7f (which IA5 cannot hold); a space only where space_ok (a
 * quoted local part of a mail address may hold one, a URI never, RFC 3986
 * §2). Returns the offending byte's index, or -1 when there is none.
 */
static long
pol_ia5_bad(const ASN1_IA5STRING *s, int space_ok)
{
	const unsigned char	*b = ASN1_STRING_get0_data(s);
	int			 len = ASN1_STRING_length(s);

	for (int i = 0; i < len; i++)
		if (b[i] < 0x20 || b[i] >= 0x7f || (b[i] == ' ' && !space_ok))
			return i;
	return -1;
}

/* The rule's refusal of an IA5 SAN with a byte it cannot carry. */
static int
pol_ia5_refuse(const char *rule, const ASN1_IA5STRING *s, long at,
    struct policy_verdict *v)
{
	const unsigned char	*b = ASN1_STRING_get0_data(s);
	char			 q[POL_QUOTE];

	pol_quote(q, sizeof(q), b, (size_t)ASN1_STRING_length(s));
	return pol_refuse(v, 403, rule, "%s has byte 0x%02x at offset %ld: "
	    "not allowed in this name (RFC 5280, section 4.2.1.6)",
	    q, b[at], at);
}

/* "a.b.c.d/n" or "x::/n"; bits past the prefix are ignored. */
int
pol_cidr_parse(const char *s, struct pol_cidr *out)
{
	char		 addr[64], *slash, *end;
	long		 prefix;

	if (strlen(s) >= sizeof(addr))
		return -1;
	strcpy(addr, s);
	if ((slash = strchr(addr, '/')) == NULL || slash[1] == '\0')
		return -1;
	*slash = '\0';
	prefix = strtol(slash + 1, &end, 10);
	if (*end != '\0' || slash[1] < '0' || slash[1] > '9')
		return -1;
	if (inet_pton(AF_INET, addr, out->net) == 1)
		out->alen = 4;
	else if (inet_pton(AF_INET6, addr, out->net) == 1)
		out->alen = 16;
	else
		return -1;
	if (prefix < 0 || prefix > out->alen * 8)
		return -1;
	out->prefix = (int)prefix;
	return 0;
}

/* No SAN extension is an empty set (sk_num says -1). */
static int
pol_gn_count(const GENERAL_NAMES *g)
{
	int n = sk_GENERAL_NAME_num(g);

	return n < 0 ? 0 : n;
}

/* "*.x" matches names under x (one or more labels), never x itself. */
static int
pol_dns_match(const char *pat, const char *name, size_t len)
{
	size_t plen;

	if (strncmp(pat, "*.", 2) != 0)
		return strlen(pat) == len && strncasecmp(pat, name, len) == 0;
	plen = strlen(pat + 1);		/* ".x" */
	return len > plen && name[len - plen - 1] != '.' &&
	    strncasecmp(name + len - plen, pat + 1, plen) == 0;
}

/*
 * A host name: dot-separated labels of letters, digits and hyphens, 1 to
 * 63 each, 253 in all (RFC 1123 §2.1). Without this, "*.x" would admit a
 * wildcard certificate for every name under x.
 */
static int
pol_dns_name_ok(const char *name, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || (c == '-' && label > 0)) || ++label > 63)
			return 0;
	}
	return label > 0 && name[len - 1] != '-';
}

/*
 * A dNSName in the preferred name syntax (RFC 5280 §4.2.1.6, RFC 1034
 * §3.5, RFC 1123 §2.1), whatever the policy; with a list, also in it.
 */
static int
pol_san_dns(const struct policy *p, const ASN1_IA5STRING *s,
    struct policy_verdict *v)
{
	const struct cfg_strs	*l = &p->p_dns;
	const char		*name;
	char			 q[POL_QUOTE], list[200];
	size_t			 len, i;

	name = pol_ia5(s, &len);
	pol_quote(q, sizeof(q), ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s));
	if (name == NULL || !pol_dns_name_ok(name, len))
		return pol_refuse(v, 403, "san.dns", "%s is not a host name",
		    q);
	if (!l->set)
		return 0;
	for (i = 0; i < l->n; i++)
		if (pol_dns_match(l->v[i], name, len))
			return 0;
	if (l->n == 1 && strncmp(l->v[0], "*.", 2) == 0)
		return pol_refuse(v, 403, "san.dns", "%s is not under %s", q,
		    pol_quote(list, sizeof(list), l->v[0], strlen(l->v[0])));
	return pol_refuse(v, 403, "san.dns", "%s is not allowed (%s)", q,
	    pol_list(list, sizeof(list), l->v, l->n));
}

static int
pol_cidr_match(const struct pol_cidr *c, const unsigned char *a, int alen)
{
	int whole = c->prefix / 8, rest = c->prefix % 8;

	if (alen != c->alen || memcmp(a, c->net, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ c->net[whole]) & (0xff << (8 - rest))) == 0;
}

static int
pol_san_ip(const struct policy *p, const ASN1_OCTET_STRING *s,
    struct policy_verdict *v)
{
	const unsigned char	*a = ASN1_STRING_get0_data(s);
	int			 alen = ASN1_STRING_length(s);
	char			 text[INET6_ADDRSTRLEN], q[POL_QUOTE];
	char			 list[200];

	for (size_t i = 0; i < p->p_ip_text.n; i++)
		if (pol_cidr_match(&p->p_ip[i], a, alen))
			return 0;
	/* Lengths other than 4 and 16 were refused as malformed already. */
	inet_ntop(alen == 4 ? AF_INET : AF_INET6, a, text, sizeof(text));
	pol_quote(q, sizeof(q), text, strlen(text));
	if (p->p_ip_text.n == 1)
		return pol_refuse(v, 403, "san.ip", "%s is not in %s", q,
		    p->p_ip_text.v[0]);
	return pol_refuse(v, 403, "san.ip", "%s is not allowed (%s)", q,
	    pol_list(list, sizeof(list), p->p_ip_text.v, p->p_ip_text.n));
}

static int
pol_san_email(const struct policy *p, const ASN1_IA5STRING *s,
    struct policy_verdict *v)
{
	const struct cfg_strs	*l = &p->p_email;
	const char		*mail, *at;
	char			 q[POL_QUOTE], list[200];
	size_t			 len, i;

	mail = pol_ia5(s, &len);
	at = mail != NULL ? memrchr(mail, '@', len) : NULL;
	for (i = 0; at != NULL && at > mail && i < l->n; i++)
		if (strlen(l->v[i]) == len - (size_t)(at + 1 - mail) &&
		    strncasecmp(at + 1, l->v[i], strlen(l->v[i])) == 0)
			return 0;
	pol_quote(q, sizeof(q), ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s));
	if (l->n == 1)
		return pol_refuse(v, 403, "san.email", "%s is not in domain %s",
		    q, pol_quote(list, sizeof(list), l->v[0], strlen(l->v[0])));
	return pol_refuse(v, 403, "san.email", "%s is not in an allowed domain "
	    "(%s)", q, pol_list(list, sizeof(list), l->v, l->n));
}

static int
pol_san_uri(const struct policy *p, const ASN1_IA5STRING *s,
    struct policy_verdict *v)
{
	const struct cfg_strs	*l = &p->p_uri;
	const char		*uri;
	char			 q[POL_QUOTE], list[200];
	size_t			 len, i;

	uri = pol_ia5(s, &len);
	for (i = 0; uri != NULL && i < l->n; i++)
		if (len >= strlen(l->v[i]) &&
		    strncmp(uri, l->v[i], strlen(l->v[i])) == 0)
			return 0;
	pol_quote(q, sizeof(q), ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s));
	if (l->n == 1)
		return pol_refuse(v, 403, "san.uri", "%s does not start with %s",
		    q, pol_quote(list, sizeof(list), l->v[0], strlen(l->v[0])));
	return pol_refuse(v, 403, "san.uri", "%s does not start with an "
	    "allowed prefix (%s)", q, pol_list(list, sizeof(list), l->v,
	    l->n));
}

static const char *
pol_gn_type(int type)
{
	switch (type) {
	case GEN_OTHERNAME:	return "otherName";
	case GEN_EMAIL:		return "email";
	case GEN_DNS:		return "DNS";
	case GEN_X400:		return "x400Address";
	case GEN_DIRNAME:	return "dirName";
	case GEN_EDIPARTY:	return "ediPartyName";
	case GEN_URI:		return "URI";
	case GEN_IPADD:		return "IP";
	case GEN_RID:		return "registeredID";
	default:		return "unknown";
	}
}

static int
pol_san_one(const struct policy *p, const GENERAL_NAME *gn,
    struct policy_verdict *v)
{
	long at;

	switch (gn->type) {
	case GEN_DNS:
		return pol_san_dns(p, gn->d.dNSName, v);
	case GEN_IPADD:
		return p->p_ip_text.set ? pol_san_ip(p, gn->d.iPAddress, v) : 0;
	case GEN_EMAIL:
		if ((at = pol_ia5_bad(gn->d.rfc822Name, 1)) >= 0)
			return pol_ia5_refuse("san.email", gn->d.rfc822Name,
			    at, v);
		return p->p_email.set ? pol_san_email(p, gn->d.rfc822Name,
		    v) : 0;
	case GEN_URI:
		if ((at = pol_ia5_bad(gn->d.uniformResourceIdentifier, 0)) >= 0)
			return pol_ia5_refuse("san.uri",
			    gn->d.uniformResourceIdentifier, at, v);
		return p->p_uri.set ? pol_san_uri(p,
		    gn->d.uniformResourceIdentifier, v) : 0;
	default:
		if (p->p_dns.set || p->p_ip_text.set || p->p_email.set ||
		    p->p_uri.set)
			return pol_refuse(v, 403, "san.other", "%s SANs are not "
			    "allowed when SANs are restricted",
			    pol_gn_type(gn->type));
		return 0;
	}
}

int
pol_check_san(const struct policy *p, const struct pol_req *r,
    struct policy_verdict *v)
{
	int n = pol_gn_count(r->san), rc = 0;

	/* None allowed: the names themselves need no other verdict. */
	if (p->p_san_forbidden && n > 0)
		return pol_refuse(v, 403, "san.forbidden", "the CSR asks for "
		    "%d SAN%s, none are allowed", n, n == 1 ? "" : "s");
	if (p->p_san_required && n == 0)
		return pol_refuse(v, 403, "san.required", "the CSR has no "
		    "subjectAltName");
	if (n > p->p_san_max)
		rc = pol_refuse(v, 403, "san.max", "the CSR asks for %d SANs, "
		    "the maximum is %ld", n, p->p_san_max);
	/* Every name out of bounds, so that one answer lists them all. */
	for (int i = 0; i < n; i++)
		if (pol_san_one(p, sk_GENERAL_NAME_value(r->san, i), v) == -1)
			rc = -1;
	return rc;
}

/* "DNS:\"a.example\"": the type and, for the string types, the value. */
static const char *
pol_gn_text(char *buf, size_t size, const GENERAL_NAME *gn)
{
	char			 q[POL_QUOTE], ip[INET6_ADDRSTRLEN];
	const ASN1_STRING	*s = NULL;

	if (gn->type == GEN_DNS || gn->type == GEN_EMAIL ||
	    gn->type == GEN_URI)
		s = gn->d.ia5;
	if (gn->type == GEN_IPADD && inet_ntop(ASN1_STRING_length(
	    gn->d.iPAddress) == 4 ? AF_INET : AF_INET6,
	    ASN1_STRING_get0_data(gn->d.iPAddress), ip, sizeof(ip)) != NULL)
		snprintf(buf, size, "IP:%s", ip);
	else if (s != NULL)
		snprintf(buf, size, "%s:%s", pol_gn_type(gn->type),
		    pol_quote(q, sizeof(q), ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s)));
	else
		snprintf(buf, size, "%s", pol_gn_type(gn->type));
	return buf;
}

/* The first name of a that b lacks, or NULL. */
static const GENERAL_NAME *
pol_gn_missing(const GENERAL_NAMES *a, const GENERAL_NAMES *b)
{
	int i, j, nb = pol_gn_count(b);

	for (i = 0; i < pol_gn_count(a); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(a, i);
		for (j = 0; j < nb; j++)
			if (GENERAL_NAME_cmp(gn, sk_GENERAL_NAME_value(b,
			    j)) == 0)
				break;
		if (j == nb)
			return gn;
	}
	return NULL;
}

/* RFC 7030 §4.2.2: the SAN set of the CSR is the certificate's. */
int
pol_check_reenroll_san(const struct pol_req *r, X509 *cert,
    struct policy_verdict *v)
{
	GENERAL_NAMES		*old;
	const GENERAL_NAME	*gn;
	char			 t[POL_QUOTE + 16];
	int			 rc = 0;

	old = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if ((gn = pol_gn_missing(r->san, old)) != NULL)
		rc = pol_refuse(v, 403, "reenroll.same_subject", "SAN %s is not "
		    "in the certificate", pol_gn_text(t, sizeof(t), gn));
	if ((gn = pol_gn_missing(old, r->san)) != NULL)
		rc = pol_refuse(v, 403, "reenroll.same_subject", "the "
		    "certificate's SAN %s is missing from the CSR",
		    pol_gn_text(t, sizeof(t), gn));
	GENERAL_NAMES_free(old);
	return rc;
}
