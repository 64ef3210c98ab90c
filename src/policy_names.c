/*
 * policy_names: the names policies and reasons use (hashes, key usage
 * bits, OIDs) and the text helpers that keep every refusal one line: a
 * client controls most of what a reason quotes, so every quoted value goes
 * through log_quote's token rule and long values are shortened.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/objects.h>

#include "estrad/log.h"

#include "policy_int.h"

static const struct {
	const char	*name;
	int		 nid;
} pol_hash_table[POL_NHASH] = {
	{ "SHA1", NID_sha1 }, { "SHA224", NID_sha224 },
	{ "SHA256", NID_sha256 }, { "SHA384", NID_sha384 },
	{ "SHA512", NID_sha512 },
};

/* Bit n of the KeyUsage BIT STRING, named as OpenSSL's v3 config names it. */
static const char *const pol_ku_table[POL_NKU] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment",
	"dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign",
	"encipherOnly", "decipherOnly",
};

const char *
pol_hash_name(int md_nid)
{
	for (size_t i = 0; i < POL_NHASH; i++)
		if (pol_hash_table[i].nid == md_nid)
			return pol_hash_table[i].name;
	return md_nid == NID_undef ? "an unknown hash" : OBJ_nid2sn(md_nid);
}

/* "SHA256", "sha256" and "SHA-256" all name the same hash. */
int
pol_hash_nid(const char *name)
{
	char	 flat[16];
	size_t	 j = 0;

	for (const char *s = name; *s != '\0' && j < sizeof(flat) - 1; s++)
		if (*s != '-')
			flat[j++] = *s;
	flat[j] = '\0';
	for (size_t i = 0; i < POL_NHASH; i++)
		if (strcasecmp(flat, pol_hash_table[i].name) == 0)
			return pol_hash_table[i].nid;
	return NID_undef;
}

const char *
pol_ku_name(int bit)
{
	return bit >= 0 && bit < POL_NKU ? pol_ku_table[bit] : NULL;
}

int
pol_ku_bit(const char *name)
{
	for (int i = 0; i < POL_NKU; i++)
		if (strcmp(name, pol_ku_table[i]) == 0)
			return i;
	return -1;
}

/* Room kept at the end of a reason for "; and N more". */
#define POL_MORE_ROOM	sizeof("; and 99999 more")

/* rule into v->rules unless it is there already (or they are full). */
static void
pol_rule_add(struct policy_verdict *v, const char *rule)
{
	for (size_t i = 0; i < v->nrules; i++)
		if (strcmp(v->rules[i], rule) == 0)
			return;
	if (v->nrules < POLICY_RULES_MAX)
		snprintf(v->rules[v->nrules++], sizeof(v->rules[0]), "%s",
		    rule);
}

/*
 * Each refusal is written whole or not at all (counted in nmore), in the
 * order found; once one is left out, so are the rest, so that the reason
 * reads in check order. The first is always written, cut if it must be.
 */
int
pol_refuse(struct policy_verdict *v, int status, const char *rule,
    const char *fmt, ...)
{
	char	 text[sizeof(v->reason)];
	va_list	 ap;
	size_t	 len, tl, room = sizeof(v->reason) - POL_MORE_ROOM;

	if (pol_fatal(v))
		return -1;
	if (status == 400)
		memset(v, 0, sizeof(*v));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	v->status = status;
	pol_rule_add(v, rule);
	len = strlen(v->reason);
	if (len == 0) {
		snprintf(v->rule, sizeof(v->rule), "%s", rule);
		snprintf(v->reason, room, "policy %s: %s", rule, text);
		return -1;
	}
	tl = strlen(rule) + strlen(text) + sizeof("; : ") - 1;
	if (v->nmore > 0 || len + tl >= room)
		v->nmore++;
	else
		snprintf(v->reason + len, sizeof(v->reason) - len, "; %s: %s",
		    rule, text);
	return -1;
}

void
pol_refuse_end(struct policy_verdict *v)
{
	size_t len = strlen(v->reason);

	if (v->nmore > 0)
		snprintf(v->reason + len, sizeof(v->reason) - len,
		    "; and %zu more", v->nmore);
}

/* A client can send any bytes: quote them so a reason stays one line. */
const char *
pol_quote(char *buf, size_t size, const void *s, size_t len)
{
	size_t used;

	buf[0] = '"';
	used = log_quote(buf + 1, size - 5, s, len, LOG_QUOTE_TOKEN);
	strcat(buf, used < len ? "\"..." : "\"");
	return buf;
}

const char *
pol_list(char *buf, size_t size, char *const *v, size_t n)
{
	size_t	 o;

	if (n == 0) {
		snprintf(buf, size, "none allowed");
		return buf;
	}
	o = (size_t)snprintf(buf, size, "allowed: ");
	for (size_t i = 0; i < n && o + 8 < size; i++) {
		if (i > 0)
			o += (size_t)snprintf(buf + o, size - o, ", ");
		log_quote(buf + o, size - o - 4, v[i], strlen(v[i]),
		    LOG_QUOTE_TOKEN);
		o += strlen(buf + o);
		if (i + 1 < n && o + 8 >= size)
			snprintf(buf + o, size - o, ", ...");
	}
	return buf;
}

const char *
pol_obj_name(char *buf, size_t size, const ASN1_OBJECT *obj)
{
	int nid = OBJ_obj2nid(obj);

	if (nid != NID_undef)
		snprintf(buf, size, "%s", OBJ_nid2sn(nid));
	else if (OBJ_obj2txt(buf, (int)size, obj, 1) <= 0)
		snprintf(buf, size, "an unknown OID");
	return buf;
}

int
pol_objs_has(const struct pol_objs *l, const ASN1_OBJECT *obj)
{
	for (size_t i = 0; i < l->name.n; i++)
		if (OBJ_cmp(l->obj[i], obj) == 0)
			return 1;
	return 0;
}
