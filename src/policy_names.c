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

int
pol_refuse(struct policy_verdict *v, int status, const char *rule,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 off;

	v->status = status;
	snprintf(v->rule, sizeof(v->rule), "%s", rule);
	off = snprintf(v->reason, sizeof(v->reason), "policy %s: ", v->rule);
	va_start(ap, fmt);
	vsnprintf(v->reason + off, sizeof(v->reason) - (size_t)off, fmt, ap);
	va_end(ap);
	return -1;
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
