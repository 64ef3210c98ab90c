/*
 * test_policy: the CSR policy as a pure function. Each row of the check
 * table names a policy (JSON), a CSR built here with OpenSSL calls (key,
 * subject, SANs, extensions, signature hash, challengePassword), who the
 * client is and its TLS binding, and the exact verdict: status, rule and
 * reason. Every rule has a row it accepts and a row it refuses. Further
 * tables check compile errors (key paths and messages, all of them) and
 * the DER csrattrs. The seed CSR (RFC 7030's example: RSA-2048, SHA-1,
 * challengePassword) comes from $ESTRAD_TEST_DATA/seed-csr.b64. Keys are
 * generated at run time and shared between rows (no committed keys).
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "estrad/b64.h"
#include "estrad/policy.h"

#include "testdata.h"
#include "testpki.h"

#define SEED_BINDING	"+rrCir/7+EYu50T4"

/* The client certificates of the rows: issued by "CN=test CA", serial 7. */
static X509 *
cert_build(const struct cert_spec *s)
{
	struct cert_spec c = *s;

	c.issuer_name = "CN=test CA";
	c.serial = 7;
	return testpki_cert(&c);
}

/* --- compiling --- */

struct errbuf {
	char	text[2048];
};

static void
on_error(void *arg, const char *key, const char *msg)
{
	struct errbuf *e = arg;
	size_t n = strlen(e->text);

	snprintf(e->text + n, sizeof(e->text) - n, "%s: %s\n", key, msg);
}

static struct policy *
compile_text(const char *text, struct errbuf *e)
{
	json_error_t	 jerr;
	json_t		*obj = NULL;
	struct policy	*p;

	memset(e, 0, sizeof(*e));
	if (text != NULL) {
		obj = json_loads(text, 0, &jerr);
		if (obj == NULL)
			fail_msg("bad JSON in test: %s: %s", text, jerr.text);
	}
	p = policy_compile(obj, on_error, e);
	json_decref(obj);
	return p;
}

static struct policy *
compile_ok(const char *text)
{
	struct errbuf	 e;
	struct policy	*p = compile_text(text, &e);

	if (p == NULL)
		fail_msg("policy %s: %s", text ? text : "(defaults)", e.text);
	return p;
}

/* --- the check table --- */

struct check_case {
	const char		*name;
	const char		*policy;	/* JSON; NULL: the defaults */
	struct csr_spec		 csr;
	enum policy_op		 op;
	const char		*user;
	struct cert_spec	 cert;
	const char		*binding;
	int			 status;
	const char		*rule;		/* NULL when accepted */
	const char		*rules;		/* all, by spaces; NULL: rule */
	const char		*reason;
};

/* A value long enough that two reasons quoting it fill the reason. */
#define LONG_CN	"A-very-long-device-name-0123456789-0123456789-0123456789"

#define P256	.key = "p256", .md = "SHA256"
#define ACCEPT	.status = 0

static const struct check_case check_cases[] = {
	/* key.type */
	{ "key.type: RSA allowed by default", NULL,
	  { .key = "rsa2048", .md = "SHA256" }, ACCEPT },
	{ "key.type: RSA refused", "{\"keys\":{\"rsa\":false}}",
	  { .key = "rsa2048", .md = "SHA256" }, .status = 403,
	  .rule = "key.type", .reason = "policy key.type: RSA keys are not "
	  "allowed" },
	{ "key.type: Ed25519 allowed by default", NULL, { .key = "ed25519" },
	  ACCEPT },
	{ "key.type: Ed25519 refused", "{\"keys\":{\"ed25519\":false}}",
	  { .key = "ed25519" }, .status = 403, .rule = "key.type",
	  .reason = "policy key.type: Ed25519 keys are not allowed" },
	{ "key.type: Ed448 allowed by default", NULL, { .key = "ed448" },
	  ACCEPT },
	{ "key.type: Ed448 refused", "{\"keys\":{\"ed448\":false}}",
	  { .key = "ed448" }, .status = 403, .rule = "key.type",
	  .reason = "policy key.type: Ed448 keys are not allowed" },
	{ "key.type: EC refused by an empty curve list",
	  "{\"keys\":{\"ec_curves\":[]}}", { P256 }, .status = 403,
	  .rule = "key.type", .reason = "policy key.type: EC keys are not "
	  "allowed" },
	{ "key.type: RSA-PSS counts as RSA", NULL,
	  { .key = "pss2048", .md = "SHA256" }, ACCEPT },
	/* key.rsa_min_bits */
	{ "key.rsa_min_bits: 1024 refused by default", NULL,
	  { .key = "rsa1024", .md = "SHA256" }, .status = 403,
	  .rule = "key.rsa_min_bits", .reason = "policy key.rsa_min_bits: "
	  "RSA 1024 bits, the minimum is 2048" },
	{ "key.rsa_min_bits: 1024 allowed when configured",
	  "{\"keys\":{\"rsa_min_bits\":1024}}",
	  { .key = "rsa1024", .md = "SHA256" }, ACCEPT },
	{ "key.rsa_min_bits: 2048 under a 3072 minimum",
	  "{\"keys\":{\"rsa_min_bits\":3072}}",
	  { .key = "rsa2048", .md = "SHA256" }, .status = 403,
	  .rule = "key.rsa_min_bits", .reason = "policy key.rsa_min_bits: "
	  "RSA 2048 bits, the minimum is 3072" },
	/* key.ec_curve */
	{ "key.ec_curve: P-384 allowed by default", NULL,
	  { .key = "p384", .md = "SHA384" }, ACCEPT },
	{ "key.ec_curve: P-384 by its OpenSSL name",
	  "{\"keys\":{\"ec_curves\":[\"secp384r1\"]}}",
	  { .key = "p384", .md = "SHA384" }, ACCEPT },
	{ "key.ec_curve: P-384 not listed",
	  "{\"keys\":{\"ec_curves\":[\"P-256\"]}}",
	  { .key = "p384", .md = "SHA384" }, .status = 403,
	  .rule = "key.ec_curve", .reason = "policy key.ec_curve: curve "
	  "P-384 is not allowed (allowed: P-256)" },
	{ "key.ec_curve: P-192 refused by default", NULL,
	  { .key = "p192", .md = "SHA256" }, .status = 403,
	  .rule = "key.ec_curve", .reason = "policy key.ec_curve: curve "
	  "P-192 is not allowed (allowed: P-256, P-384, P-521)" },
	/* RFC 5480 §2.1.1: namedCurve only, on every policy. OpenSSL names
	 * the group of explicit P-256 parameters: the DER decides. */
	{ "key.ec_curve: explicit P-256 parameters refused by default", NULL,
	  { .key = "p256x", .md = "SHA256" }, .status = 403,
	  .rule = "key.ec_curve", .reason = "policy key.ec_curve: the EC key "
	  "does not name its curve: explicit or implicit parameters are not "
	  "allowed (RFC 5480, section 2.1.1)" },
	{ "key.ec_curve: explicit parameters, curve listed",
	  "{\"keys\":{\"ec_curves\":[\"P-256\"]}}",
	  { .key = "p256x", .md = "SHA256" }, .status = 403,
	  .rule = "key.ec_curve", .reason = "policy key.ec_curve: the EC key "
	  "does not name its curve: explicit or implicit parameters are not "
	  "allowed (RFC 5480, section 2.1.1)" },
	{ "key.ec_curve: implicitCA refused by default", NULL,
	  { P256, .mal = MAL_EC_IMPLICIT }, .status = 403,
	  .rule = "key.ec_curve", .reason = "policy key.ec_curve: the EC key "
	  "does not name its curve: explicit or implicit parameters are not "
	  "allowed (RFC 5480, section 2.1.1)" },
	/* signature.hash */
	{ "signature.hash: SHA384 allowed by default", NULL,
	  { .key = "p256", .md = "SHA384" }, ACCEPT },
	{ "signature.hash: SHA1 refused by default", NULL,
	  { .key = "rsa2048", .md = "SHA1" }, .status = 403,
	  .rule = "signature.hash", .reason = "policy signature.hash: SHA1 "
	  "is not allowed" },
	{ "signature.hash: SHA224 refused by default", NULL,
	  { .key = "p256", .md = "SHA224" }, .status = 403,
	  .rule = "signature.hash", .reason = "policy signature.hash: "
	  "SHA224 is not allowed" },
	{ "signature.hash: SHA1 allowed when listed",
	  "{\"signature_hashes\":[\"SHA1\"]}",
	  { .key = "rsa2048", .md = "SHA1" }, ACCEPT },
	{ "signature.hash: SHA256 not listed",
	  "{\"signature_hashes\":[\"SHA384\"]}", { P256 }, .status = 403,
	  .rule = "signature.hash", .reason = "policy signature.hash: "
	  "SHA256 is not allowed" },
	{ "signature.hash: Ed25519 has no separate hash",
	  "{\"signature_hashes\":[\"SHA512\"]}", { .key = "ed25519" },
	  ACCEPT },
	{ "signature.hash: RSA-PSS hash read from its parameters",
	  "{\"signature_hashes\":[\"SHA384\"]}",
	  { .key = "pss2048", .md = "SHA256" }, .status = 403,
	  .rule = "signature.hash", .reason = "policy signature.hash: "
	  "SHA256 is not allowed" },
	/* subject.required */
	{ "subject.required: CN and O present",
	  "{\"subject\":{\"required\":[\"CN\",\"O\"]}}",
	  { P256, .subject = "CN=a/O=b" }, ACCEPT },
	{ "subject.required: O missing",
	  "{\"subject\":{\"required\":[\"CN\",\"O\"]}}",
	  { P256, .subject = "CN=a" }, .status = 403,
	  .rule = "subject.required", .reason = "policy subject.required: "
	  "the subject has no O" },
	/* subject.allowed */
	{ "subject.allowed: CN and O",
	  "{\"subject\":{\"allowed\":[\"CN\",\"O\"]}}",
	  { P256, .subject = "CN=a/O=b" }, ACCEPT },
	{ "subject.allowed: L not listed",
	  "{\"subject\":{\"allowed\":[\"CN\",\"O\"]}}",
	  { P256, .subject = "CN=a/L=x" }, .status = 403,
	  .rule = "subject.allowed", .reason = "policy subject.allowed: L "
	  "is not allowed (allowed: CN, O)" },
	{ "subject.allowed: by dotted OID",
	  "{\"subject\":{\"allowed\":[\"2.5.4.3\"]}}",
	  { P256, .subject = "CN=a" }, ACCEPT },
	/* subject.pattern */
	{ "subject.pattern: CN matches",
	  "{\"subject\":{\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"}}}",
	  { P256, .subject = "CN=dev-01" }, ACCEPT },
	{ "subject.pattern: CN does not match",
	  "{\"subject\":{\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"}}}",
	  { P256, .subject = "CN=Bad Name" }, .status = 403,
	  .rule = "subject.pattern", .reason = "policy subject.pattern: CN "
	  "\"Bad\\x20Name\" does not match \"^[a-z0-9-]+$\"" },
	{ "subject.pattern: every value, control bytes escaped",
	  "{\"subject\":{\"patterns\":{\"OU\":\"^[a-z]+$\"}}}",
	  { P256, .subject = "CN=x/OU=ok/OU=a\nb\"" }, .status = 403,
	  .rule = "subject.pattern", .reason = "policy subject.pattern: OU "
	  "\"a\\x0ab\\x22\" does not match \"^[a-z]+$\"" },
	/* subject.max_length */
	{ "subject.max_length: 5 characters of 2 bytes each",
	  "{\"subject\":{\"max_length\":5}}",
	  { P256, .subject = "CN=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" },
	  ACCEPT },
	{ "subject.max_length: 6 characters",
	  "{\"subject\":{\"max_length\":5}}",
	  { P256, .subject = "CN=abcdef" }, .status = 403,
	  .rule = "subject.max_length", .reason = "policy subject.max_length: "
	  "CN \"abcdef\" is 6 characters long, the maximum is 5" },
	/* subject.cn_must_equal */
	{ "subject.cn_must_equal: the user name",
	  "{\"subject\":{\"cn_must_equal\":\"user\"}}",
	  { P256, .subject = "CN=alice" }, .user = "alice", ACCEPT },
	{ "subject.cn_must_equal: another user's name",
	  "{\"subject\":{\"cn_must_equal\":\"user\"}}",
	  { P256, .subject = "CN=bob" }, .user = "alice", .status = 403,
	  .rule = "subject.cn_must_equal", .reason = "policy "
	  "subject.cn_must_equal: CN \"bob\" is not the user name \"alice\"" },
	{ "subject.cn_must_equal: no CN",
	  "{\"subject\":{\"cn_must_equal\":\"user\"}}",
	  { P256, .subject = "O=x" }, .user = "alice", .status = 403,
	  .rule = "subject.cn_must_equal", .reason = "policy "
	  "subject.cn_must_equal: the subject has no CN, it must be the user "
	  "name \"alice\"" },
	{ "subject.cn_must_equal: no user name",
	  "{\"subject\":{\"cn_must_equal\":\"user\"}}",
	  { P256, .subject = "CN=alice" }, .status = 403,
	  .rule = "subject.cn_must_equal", .reason = "policy "
	  "subject.cn_must_equal: the client has no user name to compare the "
	  "CN with" },
	{ "subject.cn_must_equal: the client certificate's CN",
	  "{\"subject\":{\"cn_must_equal\":\"client_cert_cn\"}}",
	  { P256, .subject = "CN=dev1" },
	  .cert = { "p256b", "CN=dev1", NULL }, ACCEPT },
	{ "subject.cn_must_equal: not the client certificate's CN",
	  "{\"subject\":{\"cn_must_equal\":\"client_cert_cn\"}}",
	  { P256, .subject = "CN=dev2" },
	  .cert = { "p256b", "CN=dev1", NULL }, .status = 403,
	  .rule = "subject.cn_must_equal", .reason = "policy "
	  "subject.cn_must_equal: CN \"dev2\" is not the client "
	  "certificate's CN \"dev1\"" },
	/* san.dns */
	{ "san.dns: under the wildcard, any case",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { P256, .san = "DNS:a.b.Branch.Example.COM" }, ACCEPT },
	{ "san.dns: not under the wildcard",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { P256, .san = "DNS:evil.com" }, .status = 403, .rule = "san.dns",
	  .reason = "policy san.dns: \"evil.com\" is not under "
	  "\"*.branch.example.com\"" },
	{ "san.dns: the wildcard's own name is not under it",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { P256, .san = "DNS:branch.example.com" }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: "
	  "\"branch.example.com\" is not under \"*.branch.example.com\"" },
	{ "san.dns: a suffix without the dot",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { P256, .san = "DNS:evilbranch.example.com" }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: "
	  "\"evilbranch.example.com\" is not under \"*.branch.example.com\"" },
	{ "san.dns: exact name",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\",\"gw.example.com\"]}}",
	  { P256, .san = "DNS:GW.example.com" }, ACCEPT },
	{ "san.dns: several patterns listed",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\",\"gw.example.com\"]}}",
	  { P256, .san = "DNS:x.gw.example.com" }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: \"x.gw.example.com\" "
	  "is not allowed (allowed: *.branch.example.com, gw.example.com)" },
	{ "san.dns: empty list", "{\"san\":{\"dns\":[]}}",
	  { P256, .san = "DNS:a.com" }, .status = 403, .rule = "san.dns",
	  .reason = "policy san.dns: \"a.com\" is not allowed (none "
	  "allowed)" },
	/* san.ip */
	{ "san.ip: v4 and v6 inside",
	  "{\"san\":{\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}}",
	  { P256, .san = "IP:10.1.2.3,IP:2001:db8::1" }, ACCEPT },
	{ "san.ip: v4 outside",
	  "{\"san\":{\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}}",
	  { P256, .san = "IP:192.168.1.1" }, .status = 403, .rule = "san.ip",
	  .reason = "policy san.ip: \"192.168.1.1\" is not allowed (allowed: "
	  "10.0.0.0/8, 2001:db8::/32)" },
	{ "san.ip: v6 outside",
	  "{\"san\":{\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}}",
	  { P256, .san = "IP:2001:db9::1" }, .status = 403, .rule = "san.ip",
	  .reason = "policy san.ip: \"2001:db9::1\" is not allowed (allowed: "
	  "10.0.0.0/8, 2001:db8::/32)" },
	{ "san.ip: a /22 boundary inside", "{\"san\":{\"ip\":[\"192.168.4.0/22\"]}}",
	  { P256, .san = "IP:192.168.7.255" }, ACCEPT },
	{ "san.ip: a /22 boundary outside",
	  "{\"san\":{\"ip\":[\"192.168.4.0/22\"]}}",
	  { P256, .san = "IP:192.168.8.0" }, .status = 403, .rule = "san.ip",
	  .reason = "policy san.ip: \"192.168.8.0\" is not in 192.168.4.0/22" },
	/* san.email */
	{ "san.email: in the domain, any case",
	  "{\"san\":{\"email_domains\":[\"example.com\"]}}",
	  { P256, .san = "email:a@EXAMPLE.com" }, ACCEPT },
	{ "san.email: another domain",
	  "{\"san\":{\"email_domains\":[\"example.com\"]}}",
	  { P256, .san = "email:a@evil.com" }, .status = 403,
	  .rule = "san.email", .reason = "policy san.email: \"a@evil.com\" "
	  "is not in domain \"example.com\"" },
	{ "san.email: a subdomain is another domain",
	  "{\"san\":{\"email_domains\":[\"example.com\",\"example.org\"]}}",
	  { P256, .san = "email:a@sub.example.com" }, .status = 403,
	  .rule = "san.email", .reason = "policy san.email: "
	  "\"a@sub.example.com\" is not in an allowed domain (allowed: "
	  "example.com, example.org)" },
	/* san.uri */
	{ "san.uri: with the prefix",
	  "{\"san\":{\"uri_prefixes\":[\"urn:dev:\"]}}",
	  { P256, .san = "URI:urn:dev:42" }, ACCEPT },
	{ "san.uri: without the prefix",
	  "{\"san\":{\"uri_prefixes\":[\"urn:dev:\"]}}",
	  { P256, .san = "URI:https://x" }, .status = 403, .rule = "san.uri",
	  .reason = "policy san.uri: \"https://x\" does not start with "
	  "\"urn:dev:\"" },
	/* Whatever the lists: what an IA5String name may hold (RFC 5280
	 * §4.2.1.6); DNS names in the preferred name syntax (RFC 1034 §3.5,
	 * RFC 1123 §2.1). */
	{ "san.dns: a host name by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "dev-1.example.com") }, ACCEPT },
	{ "san.dns: a NUL refused by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "a.example.com\0.evil.com") },
	  .status = 403, .rule = "san.dns", .reason = "policy san.dns: "
	  "\"a.example.com\\x00.evil.com\" is not a host name" },
	{ "san.dns: a control byte refused by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "a\nb.example.com") }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: "
	  "\"a\\x0ab.example.com\" is not a host name" },
	{ "san.dns: a non-ASCII byte refused by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "caf\xc3\xa9.example.com") },
	  .status = 403, .rule = "san.dns", .reason = "policy san.dns: "
	  "\"caf\\xc3\\xa9.example.com\" is not a host name" },
	{ "san.dns: a wildcard refused by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "*.example.com") }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: \"*.example.com\" "
	  "is not a host name" },
	{ "san.dns: a space refused by default", NULL,
	  { P256, .raw = RAW(GEN_DNS, "a b.example.com") }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: \"a\\x20b.example.com\" "
	  "is not a host name" },
	{ "san.email: an address by default", NULL,
	  { P256, .raw = RAW(GEN_EMAIL, "alice@example.com") }, ACCEPT },
	{ "san.email: a NUL refused by default", NULL,
	  { P256, .raw = RAW(GEN_EMAIL, "alice@example.com\0@evil.com") },
	  .status = 403, .rule = "san.email", .reason = "policy san.email: "
	  "\"alice@example.com\\x00@evil.com\" has byte 0x00 at offset 17: "
	  "not allowed in this name (RFC 5280, section 4.2.1.6)" },
	{ "san.email: a non-ASCII byte refused by default", NULL,
	  { P256, .raw = RAW(GEN_EMAIL, "j\xc3\xb6rg@example.com") },
	  .status = 403, .rule = "san.email", .reason = "policy san.email: "
	  "\"j\\xc3\\xb6rg@example.com\" has byte 0xc3 at offset 1: not "
	  "allowed in this name (RFC 5280, section 4.2.1.6)" },
	{ "san.email: refused before the domain list",
	  "{\"san\":{\"email_domains\":[\"example.com\"]}}",
	  { P256, .raw = RAW(GEN_EMAIL, "a\rb@example.com") }, .status = 403,
	  .rule = "san.email", .reason = "policy san.email: "
	  "\"a\\x0db@example.com\" has byte 0x0d at offset 1: not allowed in this "
	  "name (RFC 5280, section 4.2.1.6)" },
	{ "san.uri: a URI by default", NULL,
	  { P256, .raw = RAW(GEN_URI, "urn:dev:42") }, ACCEPT },
	{ "san.uri: a DEL refused by default", NULL,
	  { P256, .raw = RAW(GEN_URI, "urn:dev:42\x7f") }, .status = 403,
	  .rule = "san.uri", .reason = "policy san.uri: \"urn:dev:42\\x7f\" "
	  "has byte 0x7f at offset 10: not allowed in this name "
	  "(RFC 5280, section 4.2.1.6)" },
	{ "san.uri: a space refused by default", NULL,
	  { P256, .raw = RAW(GEN_URI, "urn:dev:4 2") }, .status = 403,
	  .rule = "san.uri", .reason = "policy san.uri: \"urn:dev:4\\x202\" has "
	  "byte 0x20 at offset 9: not allowed in this name (RFC 5280, "
	  "section 4.2.1.6)" },
	/* san.other */
	{ "san.other: allowed when no SAN list is configured", NULL,
	  { P256, .san = "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:u@x" },
	  ACCEPT },
	{ "san.other: refused when a SAN list is configured",
	  "{\"san\":{\"dns\":[\"*.example.com\"]}}",
	  { P256, .san = "DNS:a.example.com,"
	  "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:u@x" }, .status = 403,
	  .rule = "san.other", .reason = "policy san.other: otherName SANs "
	  "are not allowed when SANs are restricted" },
	{ "san.other: registeredID", "{\"san\":{\"ip\":[]}}",
	  { P256, .san = "RID:1.2.3.4" }, .status = 403, .rule = "san.other",
	  .reason = "policy san.other: registeredID SANs are not allowed "
	  "when SANs are restricted" },
	/* san.max */
	{ "san.max: at the maximum", "{\"san\":{\"max\":2}}",
	  { P256, .san = "DNS:a,DNS:b" }, ACCEPT },
	{ "san.max: over the maximum", "{\"san\":{\"max\":2}}",
	  { P256, .san = "DNS:a,DNS:b,DNS:c" }, .status = 403,
	  .rule = "san.max", .reason = "policy san.max: the CSR asks for 3 "
	  "SANs, the maximum is 2" },
	/* san.required, san.forbidden */
	{ "san.required: one SAN", "{\"san\":{\"required\":true}}",
	  { P256, .san = "DNS:a" }, ACCEPT },
	{ "san.required: none", "{\"san\":{\"required\":true}}", { P256 },
	  .status = 403, .rule = "san.required", .reason = "policy "
	  "san.required: the CSR has no subjectAltName" },
	{ "san.forbidden: none", "{\"san\":{\"forbidden\":true}}", { P256 },
	  ACCEPT },
	{ "san.forbidden: one SAN", "{\"san\":{\"forbidden\":true}}",
	  { P256, .san = "DNS:a" }, .status = 403, .rule = "san.forbidden",
	  .reason = "policy san.forbidden: the CSR asks for 1 SAN, none are "
	  "allowed" },
	/* extensions.ca */
	{ "extensions.ca: CA:FALSE", NULL, { P256, .bc = "CA:FALSE" }, ACCEPT },
	{ "extensions.ca: CA:TRUE refused by default", NULL,
	  { P256, .bc = "critical,CA:TRUE" }, .status = 403,
	  .rule = "extensions.ca", .reason = "policy extensions.ca: "
	  "basicConstraints CA:TRUE is not allowed" },
	{ "extensions.ca: CA:TRUE allowed", "{\"extensions\":{\"allow_ca\":true}}",
	  { P256, .bc = "critical,CA:TRUE" }, ACCEPT },
	/* extensions.key_usage */
	{ "extensions.key_usage: listed",
	  "{\"extensions\":{\"key_usages\":[\"digitalSignature\","
	  "\"keyEncipherment\"]}}",
	  { P256, .ku = "digitalSignature,keyEncipherment" }, ACCEPT },
	{ "extensions.key_usage: keyCertSign not listed",
	  "{\"extensions\":{\"key_usages\":[\"digitalSignature\","
	  "\"keyEncipherment\"]}}",
	  { P256, .ku = "digitalSignature,keyCertSign" }, .status = 403,
	  .rule = "extensions.key_usage", .reason = "policy "
	  "extensions.key_usage: keyCertSign is not allowed (allowed: "
	  "digitalSignature, keyEncipherment)" },
	/* extensions.eku */
	{ "extensions.eku: by name and by OID",
	  "{\"extensions\":{\"ekus\":[\"clientAuth\",\"1.3.6.1.5.5.7.3.1\"]}}",
	  { P256, .eku = "serverAuth,clientAuth" }, ACCEPT },
	{ "extensions.eku: codeSigning not listed",
	  "{\"extensions\":{\"ekus\":[\"clientAuth\",\"1.3.6.1.5.5.7.3.1\"]}}",
	  { P256, .eku = "clientAuth,codeSigning" }, .status = 403,
	  .rule = "extensions.eku", .reason = "policy extensions.eku: "
	  "codeSigning is not allowed (allowed: clientAuth, "
	  "1.3.6.1.5.5.7.3.1)" },
	/* extensions.allowed */
	{ "extensions.allowed: listed ones",
	  "{\"extensions\":{\"allowed\":[\"subjectAltName\",\"keyUsage\"]}}",
	  { P256, .san = "DNS:a", .ku = "digitalSignature" }, ACCEPT },
	{ "extensions.allowed: nsComment not listed",
	  "{\"extensions\":{\"allowed\":[\"subjectAltName\",\"keyUsage\"]}}",
	  { P256, .san = "DNS:a", .comment = "hi" }, .status = 403,
	  .rule = "extensions.allowed", .reason = "policy extensions.allowed: "
	  "nsComment is not allowed (allowed: subjectAltName, keyUsage)" },
	/* reenroll.certificate */
	{ "reenroll.certificate: present", NULL,
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, ACCEPT },
	{ "reenroll.certificate: absent", NULL,
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL, .status = 403,
	  .rule = "reenroll.certificate", .reason = "policy "
	  "reenroll.certificate: re-enrollment needs the client certificate "
	  "being renewed" },
	/* A pattern admits host names only: no wildcard certificates. */
	{ "san.dns: a wildcard under the pattern",
	  "{\"san\":{\"dns\":[\"*.lab.example.com\"]}}",
	  { P256, .san = "DNS:*.lab.example.com" }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: \"*.lab.example.com\" "
	  "is not a host name" },
	{ "san.dns: an empty label",
	  "{\"san\":{\"dns\":[\"*.lab.example.com\"]}}",
	  { P256, .san = "DNS:.x.lab.example.com" }, .status = 403,
	  .rule = "san.dns", .reason = "policy san.dns: \".x.lab.example.com\" "
	  "is not a host name" },
	{ "san.dns: a host name under the pattern",
	  "{\"san\":{\"dns\":[\"*.lab.example.com\"]}}",
	  { P256, .san = "DNS:dev-1.a.lab.example.com" }, ACCEPT },
	/* A device may not ask for the RA purpose unless the policy says. */
	{ "extensions.eku: cmcRA refused by default", NULL,
	  { P256, .eku = "clientAuth,1.3.6.1.5.5.7.3.28" }, .status = 403,
	  .rule = "extensions.eku", .reason = "policy extensions.eku: cmcRA "
	  "(the RA purpose) is not allowed unless extensions.ekus lists it" },
	{ "extensions.eku: cmcRA when listed",
	  "{\"extensions\":{\"ekus\":[\"clientAuth\",\"1.3.6.1.5.5.7.3.28\"]}}",
	  { P256, .eku = "clientAuth,1.3.6.1.5.5.7.3.28" }, ACCEPT },
	/* An RA peer (id-kp-cmcRA) re-enrolls for its client: it checked the
	 * identity and binding itself; the other rules still apply. */
	{ "ra peer: re-enroll for another subject", NULL,
	  { P256, .subject = "CN=device9" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=ra", NULL, "clientAuth,cmcRA" }, ACCEPT },
	{ "ra peer: a client's binding is not this session's", NULL,
	  { P256, .password = "AAAAAAAAAAAAAAAAAAAAAA==" },
	  .cert = { "p256", "CN=ra", NULL, "cmcRA" },
	  .binding = "BBBBBBBBBBBBBBBBBBBBBB==", ACCEPT },
	{ "ra peer: key rules still apply", NULL,
	  { .key = "rsa1024", .md = "SHA256" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=ra", NULL, "cmcRA" }, .status = 403,
	  .rule = "key.rsa_min_bits", .reason = "policy key.rsa_min_bits: "
	  "RSA 1024 bits, the minimum is 2048" },
	/* reenroll.same_subject */
	{ "reenroll.same_subject: same subject, SANs in another order", NULL,
	  { P256, .subject = "CN=dev1/O=x", .san = "DNS:b.example,IP:10.0.0.1" },
	  POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1/O=x", "IP:10.0.0.1,DNS:b.example" },
	  ACCEPT },
	{ "reenroll.same_subject: another subject", NULL,
	  { P256, .subject = "CN=dev2" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, .status = 403,
	  .rule = "reenroll.same_subject", .reason = "policy "
	  "reenroll.same_subject: the subject \"CN=dev2\" is not the "
	  "certificate's \"CN=dev1\"" },
	{ "reenroll.same_subject: a SAN the certificate lacks", NULL,
	  { P256, .subject = "CN=dev1", .san = "DNS:a.example.com,"
	  "DNS:b.example.com" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", "DNS:a.example.com" },
	  .status = 403, .rule = "reenroll.same_subject", .reason = "policy "
	  "reenroll.same_subject: SAN DNS:\"b.example.com\" is not in the "
	  "certificate" },
	{ "reenroll.same_subject: a SAN swapped for another: both named", NULL,
	  { P256, .subject = "CN=dev1", .san = "DNS:b.example.com" },
	  POLICY_REENROLL, .cert = { "p256", "CN=dev1", "DNS:a.example.com" },
	  .status = 403, .rule = "reenroll.same_subject", .reason = "policy "
	  "reenroll.same_subject: SAN DNS:\"b.example.com\" is not in the "
	  "certificate; reenroll.same_subject: the certificate's SAN "
	  "DNS:\"a.example.com\" is missing from the CSR" },
	{ "reenroll.same_subject: a SAN of the certificate missing", NULL,
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", "IP:10.0.0.1" }, .status = 403,
	  .rule = "reenroll.same_subject", .reason = "policy "
	  "reenroll.same_subject: the certificate's SAN IP:10.0.0.1 is "
	  "missing from the CSR" },
	{ "reenroll.same_subject: off", "{\"reenroll\":{\"same_subject\":false}}",
	  { P256, .subject = "CN=dev2" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, ACCEPT },
	{ "reenroll.same_subject: plain enroll is not compared", NULL,
	  { P256, .subject = "CN=dev2" }, POLICY_ENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, ACCEPT },
	/* reenroll.renew, reenroll.rekey */
	{ "reenroll.renew: same key refused", "{\"reenroll\":{\"renew\":false}}",
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, .status = 403,
	  .rule = "reenroll.renew", .reason = "policy reenroll.renew: "
	  "renewing with the same key is not allowed: use a new key" },
	{ "reenroll.renew: new key accepted", "{\"reenroll\":{\"renew\":false}}",
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256b", "CN=dev1", NULL }, ACCEPT },
	{ "reenroll.rekey: new key refused", "{\"reenroll\":{\"rekey\":false}}",
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256b", "CN=dev1", NULL }, .status = 403,
	  .rule = "reenroll.rekey", .reason = "policy reenroll.rekey: "
	  "re-enrolling with a new key is not allowed: keep the "
	  "certificate's key" },
	{ "reenroll.rekey: same key accepted", "{\"reenroll\":{\"rekey\":false}}",
	  { P256, .subject = "CN=dev1" }, POLICY_REENROLL,
	  .cert = { "p256", "CN=dev1", NULL }, ACCEPT },
	/* binding.required */
	{ "binding.required: bound", "{\"channel_binding\":\"required\"}",
	  { P256, .password = "AbCd+/12" }, .binding = "AbCd+/12", ACCEPT },
	{ "binding.required: no challengePassword",
	  "{\"channel_binding\":\"required\"}", { P256 },
	  .binding = "AbCd+/12", .status = 403, .rule = "binding.required",
	  .reason = "policy binding.required: the CSR has no "
	  "challengePassword; it must hold this TLS session's channel "
	  "binding (RFC 7030, section 3.5)" },
	{ "binding.required: optional without one", NULL, { P256 },
	  .binding = "AbCd+/12", ACCEPT },
	/* binding.mismatch */
	{ "binding.mismatch: another value", NULL,
	  { P256, .password = "AbCd+/12" }, .binding = "AbCd+/13",
	  .status = 403, .rule = "binding.mismatch", .reason = "policy "
	  "binding.mismatch: the challengePassword is not this TLS session's "
	  "channel binding" },
	{ "binding.mismatch: a prefix of the binding", NULL,
	  { P256, .password = "AbCd" }, .binding = "AbCd+/12",
	  .status = 403, .rule = "binding.mismatch", .reason = "policy "
	  "binding.mismatch: the challengePassword is not this TLS session's "
	  "channel binding" },
	{ "binding.mismatch: no binding to compare with", NULL,
	  { P256, .password = "AbCd+/12" }, .status = 403,
	  .rule = "binding.mismatch", .reason = "policy binding.mismatch: "
	  "the CSR has a challengePassword but this TLS session has no "
	  "channel binding to check it against" },
	/* binding.malformed */
	{ "binding.malformed: a challengePassword with two values", NULL,
	  { P256, .mal = MAL_PW_TWO_VALUES }, .binding = "one",
	  .status = 400, .rule = "binding.malformed",
	  .reason = "policy binding.malformed: the challengePassword "
	  "attribute is not one short string" },
	{ "binding.malformed: an INTEGER challengePassword", NULL,
	  { P256, .mal = MAL_PW_INTEGER }, .binding = "AbCd+/12",
	  .status = 400, .rule = "binding.malformed",
	  .reason = "policy binding.malformed: the challengePassword "
	  "attribute is not one short string" },
	{ "binding.malformed: a well-formed one", NULL,
	  { P256, .password = "AbCd+/12" }, .binding = "AbCd+/12", ACCEPT },
	/* "off": the challengePassword is the CA's (an enrollment code) */
	{ "binding off: an enrollment code on a bound session",
	  "{\"channel_binding\":\"off\"}",
	  { P256, .password = "ENROLL-1234" }, .binding = "AbCd+/12", ACCEPT },
	{ "binding off: an enrollment code, no binding on the session",
	  "{\"channel_binding\":\"off\"}",
	  { P256, .password = "ENROLL-1234" }, ACCEPT },
	{ "binding off: no challengePassword", "{\"channel_binding\":\"off\"}",
	  { P256 }, .binding = "AbCd+/12", ACCEPT },
	{ "binding off: a challengePassword of two values is the CA's to judge",
	  "{\"channel_binding\":\"off\"}",
	  { P256, .mal = MAL_PW_TWO_VALUES }, .binding = "one", ACCEPT },
	{ "binding off: an INTEGER challengePassword too",
	  "{\"channel_binding\":\"off\"}",
	  { P256, .mal = MAL_PW_INTEGER }, ACCEPT },
	{ "binding off: the other rules still apply",
	  "{\"channel_binding\":\"off\",\"keys\":{\"rsa\":false}}",
	  { .key = "rsa2048", .md = "SHA256", .password = "ENROLL-1234" },
	  .status = 403, .rule = "key.type", .reason = "policy key.type: RSA "
	  "keys are not allowed" },
	{ "binding optional (default): an enrollment code is a mismatch", NULL,
	  { P256, .password = "ENROLL-1234" }, .binding = "AbCd+/12",
	  .status = 403, .rule = "binding.mismatch", .reason = "policy "
	  "binding.mismatch: the challengePassword is not this TLS session's "
	  "channel binding" },
	{ "binding optional, spelled out: the same",
	  "{\"channel_binding\":\"optional\"}",
	  { P256, .password = "ENROLL-1234" }, .binding = "AbCd+/12",
	  .status = 403, .rule = "binding.mismatch", .reason = "policy "
	  "binding.mismatch: the challengePassword is not this TLS session's "
	  "channel binding" },
	{ "binding required: an enrollment code is a mismatch",
	  "{\"channel_binding\":\"required\"}",
	  { P256, .password = "ENROLL-1234" }, .binding = "AbCd+/12",
	  .status = 403, .rule = "binding.mismatch", .reason = "policy "
	  "binding.mismatch: the challengePassword is not this TLS session's "
	  "channel binding" },
	/* csr.malformed */
	{ "csr.malformed: a second extensionRequest value", NULL,
	  { P256, .san = "DNS:a.example", .mal = MAL_EXTREQ_TWO_VALUES },
	  .status = 400, .rule = "csr.malformed", .reason = "policy "
	  "csr.malformed: several extensionRequest attributes or values" },
	{ "csr.malformed: extensionRequest not a SEQUENCE", NULL,
	  { P256, .mal = MAL_EXTREQ_STRING }, .status = 400,
	  .rule = "csr.malformed", .reason = "policy csr.malformed: the "
	  "extensionRequest attribute does not decode" },
	{ "csr.malformed: subjectAltName twice", NULL,
	  { P256, .san = "DNS:a", .mal = MAL_SAN_TWICE }, .status = 400,
	  .rule = "csr.malformed", .reason = "policy csr.malformed: the "
	  "extensionRequest has subjectAltName twice" },
	{ "csr.malformed: subjectAltName garbage", NULL,
	  { P256, .mal = MAL_SAN_GARBAGE }, .status = 400,
	  .rule = "csr.malformed", .reason = "policy csr.malformed: the "
	  "subjectAltName extension does not decode" },
	{ "csr.malformed: a 5-byte iPAddress", NULL,
	  { P256, .mal = MAL_IP5 }, .status = 400, .rule = "csr.malformed",
	  .reason = "policy csr.malformed: an iPAddress SAN of 5 bytes" },
	/* everything at once, accepted */
	{ "strict policy: a conforming CSR",
	  "{\"keys\":{\"rsa\":false,\"ec_curves\":[\"P-256\"]},"
	  "\"subject\":{\"required\":[\"CN\"],\"allowed\":[\"CN\",\"O\"],"
	  "\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"},\"max_length\":64,"
	  "\"cn_must_equal\":\"user\"},"
	  "\"san\":{\"dns\":[\"*.branch.example.com\"],\"ip\":[\"10.0.0.0/8\"],"
	  "\"max\":4,\"required\":true},"
	  "\"extensions\":{\"key_usages\":[\"digitalSignature\"],"
	  "\"ekus\":[\"clientAuth\"],\"allowed\":[\"subjectAltName\","
	  "\"keyUsage\",\"extendedKeyUsage\",\"basicConstraints\"]},"
	  "\"channel_binding\":\"required\"}",
	  { P256, .subject = "CN=gw-7/O=Example", .san = "DNS:gw-7.branch."
	  "example.com,IP:10.7.0.1", .ku = "critical,digitalSignature",
	  .eku = "clientAuth", .bc = "CA:FALSE", .password = "Zm9vYmFy" },
	  .user = "gw-7", .binding = "Zm9vYmFy", ACCEPT },
	/* several rules broken: one refusal names them all, in the order of
	 * the groups (keys, signature, subject, SAN, extensions, ...) */
	{ "two rules: subject.pattern and san.dns",
	  "{\"subject\":{\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"}},"
	  "\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { P256, .subject = "CN=Bad Name", .san = "DNS:evil.com" },
	  .status = 403, .rule = "subject.pattern", .rules = "subject.pattern "
	  "san.dns", .reason = "policy subject.pattern: CN \"Bad\\x20Name\" "
	  "does not match \"^[a-z0-9-]+$\"; san.dns: \"evil.com\" is not "
	  "under \"*.branch.example.com\"" },
	{ "three rules: key.type, subject.pattern and san.dns",
	  "{\"keys\":{\"rsa\":false},"
	  "\"subject\":{\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"}},"
	  "\"san\":{\"dns\":[\"*.branch.example.com\"]}}",
	  { .key = "rsa2048", .md = "SHA256", .subject = "CN=Bad Name",
	  .san = "DNS:evil.com" }, .status = 403, .rule = "key.type",
	  .rules = "key.type subject.pattern san.dns", .reason = "policy "
	  "key.type: RSA keys are not allowed; subject.pattern: CN "
	  "\"Bad\\x20Name\" does not match \"^[a-z0-9-]+$\"; san.dns: "
	  "\"evil.com\" is not under \"*.branch.example.com\"" },
	{ "six rules: what does not fit the reason is counted",
	  "{\"keys\":{\"rsa\":false},\"channel_binding\":\"required\","
	  "\"subject\":{\"patterns\":{\"CN\":\"^[a-z0-9-]+$\"}},"
	  "\"san\":{\"dns\":[\"*.branch.example.com\"]},"
	  "\"extensions\":{\"ekus\":[\"clientAuth\"]}}",
	  { .key = "rsa2048", .md = "SHA1", .subject = "CN=" LONG_CN,
	  .san = "DNS:" LONG_CN ".example.org", .eku = "serverAuth" },
	  .status = 403, .rule = "key.type", .rules = "key.type "
	  "signature.hash subject.pattern san.dns extensions.eku "
	  "binding.required", .reason = "policy key.type: RSA keys are not "
	  "allowed; signature.hash: SHA1 is not allowed; subject.pattern: "
	  "CN \"" LONG_CN "\" does not match \"^[a-z0-9-]+$\"; san.dns: \""
	  LONG_CN ".example.org\" is not under \"*.branch.example.com\"; "
	  "and 2 more" },
	/* every broken rule of a group, and every value that breaks one */
	{ "subject: a pattern, two attributes not allowed, a missing one",
	  "{\"subject\":{\"required\":[\"CN\",\"O\"],"
	  "\"allowed\":[\"CN\",\"O\"],\"patterns\":{\"CN\":\"^[a-z]+$\"}}}",
	  { P256, .subject = "CN=Dev 1/OU=lab/L=here" }, .status = 403,
	  .rule = "subject.required", .rules = "subject.required "
	  "subject.pattern subject.allowed", .reason = "policy "
	  "subject.required: the subject has no O; subject.pattern: CN "
	  "\"Dev\\x201\" does not match \"^[a-z]+$\"; subject.allowed: OU is "
	  "not allowed (allowed: CN, O); subject.allowed: L is not allowed "
	  "(allowed: CN, O)" },
	{ "subject: too long and off the pattern, both named",
	  "{\"subject\":{\"max_length\":4,\"patterns\":{\"CN\":\"^[a-z]+$\"}}}",
	  { P256, .subject = "CN=Device" }, .status = 403,
	  .rule = "subject.max_length", .rules = "subject.max_length "
	  "subject.pattern", .reason = "policy subject.max_length: CN "
	  "\"Device\" is 6 characters long, the maximum is 4; "
	  "subject.pattern: CN \"Device\" does not match \"^[a-z]+$\"" },
	{ "san: too many, and each name out of bounds",
	  "{\"san\":{\"dns\":[\"*.branch.example.com\"],"
	  "\"ip\":[\"10.0.0.0/8\"],\"max\":2}}",
	  { P256, .san = "DNS:gw.branch.example.com,DNS:evil.com,"
	  "IP:192.0.2.1" }, .status = 403, .rule = "san.max",
	  .rules = "san.max san.dns san.ip", .reason = "policy san.max: the "
	  "CSR asks for 3 SANs, the maximum is 2; san.dns: \"evil.com\" is "
	  "not under \"*.branch.example.com\"; san.ip: \"192.0.2.1\" is not in "
	  "10.0.0.0/8" },
	{ "extensions: CA, key usage, EKU and an extension, all named",
	  "{\"extensions\":{\"key_usages\":[\"digitalSignature\"],"
	  "\"ekus\":[\"clientAuth\"],\"allowed\":[\"keyUsage\","
	  "\"extendedKeyUsage\",\"basicConstraints\"]}}",
	  { P256, .bc = "critical,CA:TRUE", .ku = "digitalSignature,"
	  "keyCertSign", .eku = "clientAuth,serverAuth",
	  .comment = "x" }, .status = 403, .rule = "extensions.ca",
	  .rules = "extensions.ca extensions.key_usage extensions.eku "
	  "extensions.allowed", .reason = "policy extensions.ca: "
	  "basicConstraints CA:TRUE is not allowed; extensions.key_usage: "
	  "keyCertSign is not allowed (allowed: digitalSignature); "
	  "extensions.eku: serverAuth is not allowed "
	  "(allowed: clientAuth); extensions.allowed: nsComment is not "
	  "allowed (allowed: keyUsage, extendedKeyUsage, basicConstraints)" },
	{ "reenroll: another subject and a new key, both named",
	  "{\"reenroll\":{\"rekey\":false}}",
	  { P256, .subject = "CN=dev2" }, POLICY_REENROLL,
	  .cert = { "p256b", "CN=dev1", NULL }, .status = 403,
	  .rule = "reenroll.same_subject", .rules = "reenroll.same_subject "
	  "reenroll.rekey", .reason = "policy reenroll.same_subject: the "
	  "subject \"CN=dev2\" is not the certificate's \"CN=dev1\"; "
	  "reenroll.rekey: re-enrolling with a new key is not allowed: keep "
	  "the certificate's key" },
};

/* v's rules, separated by spaces. */
static const char *
verdict_rules(const struct policy_verdict *v, char *buf, size_t size)
{
	size_t	len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < v->nrules; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    i ? " " : "", v->rules[i]);
	return buf;
}

static void
test_check_case(void **state)
{
	const struct check_case	*c = *state;
	struct policy		*p = compile_ok(c->policy);
	X509_REQ		*csr = testpki_csr(&c->csr);
	X509			*cert = cert_build(&c->cert);
	struct policy_input	 in = { csr, c->op, c->user, cert, c->binding };
	struct policy_verdict	 v;
	char			 rules[POLICY_RULES_MAX * POLICY_RULE_LEN];
	int			 rc = policy_check(p, &in, &v);

	assert_string_equal(v.reason, c->reason ? c->reason : "");
	assert_string_equal(v.rule, c->rule ? c->rule : "");
	assert_string_equal(verdict_rules(&v, rules, sizeof(rules)),
	    c->rules ? c->rules : c->rule ? c->rule : "");
	assert_int_equal(v.status, c->status);
	assert_int_equal(rc, c->status == 0 ? 0 : -1);
	if (c->csr.password != NULL)
		assert_null(strstr(v.reason, c->csr.password));
	X509_free(cert);
	X509_REQ_free(csr);
	policy_free(p);
}

/*
 * 60 names out of bounds: the reason stays within its buffer, lists whole
 * refusals only, and counts the rest, so that the listed ones plus the
 * counted ones are all 60; the rule is named once.
 */
static void
test_check_many_sans(void **state)
{
	struct policy		*p = compile_ok("{\"san\":{\"dns\":"
	    "[\"*.branch.example.com\"],\"max\":100}}");
	char			 san[60 * 24], *end;
	struct csr_spec		 spec = { P256, .san = san };
	X509_REQ		*csr;
	struct policy_input	 in = { 0 };
	struct policy_verdict	 v;
	size_t			 len = 0, listed = 0;
	const char		*at;
	unsigned long		 more;

	(void)state;
	for (int i = 0; i < 60; i++)
		len += (size_t)snprintf(san + len, sizeof(san) - len,
		    "%sDNS:host%02d.example.org", i ? "," : "", i);
	csr = testpki_csr(&spec);
	in.csr = csr;
	assert_int_equal(policy_check(p, &in, &v), -1);
	assert_int_equal(v.status, 403);
	assert_int_equal(v.nrules, 1);
	assert_string_equal(v.rules[0], "san.dns");
	assert_true(strlen(v.reason) < sizeof(v.reason) - 1);
	for (at = v.reason; (at = strstr(at, "is not under")) != NULL; at++)
		listed++;
	assert_non_null(at = strstr(v.reason, "; and "));
	more = strtoul(at + 6, &end, 10);
	assert_string_equal(end, " more");
	assert_int_equal(listed + more, 60);
	assert_true(listed >= 3);
	/* The last listed refusal is whole: it ends with its pattern. */
	assert_memory_equal(at - sizeof("\"*.branch.example.com\"") + 1,
	    "\"*.branch.example.com\"", sizeof("\"*.branch.example.com\"") - 1);
	X509_REQ_free(csr);
	policy_free(p);
}

/* --- the seed CSR (RFC 7030's example) --- */

static X509_REQ *
seed_csr(void)
{
	size_t			 b64len, derlen;
	char			*b64 = testdata_read("seed-csr.b64", &b64len);
	unsigned char		*der = NULL;
	const unsigned char	*p;
	const char		*reason;
	X509_REQ		*req;

	assert_int_equal(b64_decode_lenient(b64, b64len, &der, &derlen,
	    &reason), 0);
	p = der;
	assert_non_null(req = d2i_X509_REQ(NULL, &p, (long)derlen));
	free(der);
	free(b64);
	return req;
}

struct seed_case {
	const char	*name;
	const char	*policy;
	const char	*binding;
	int		 status;
	const char	*reason;
};

static const struct seed_case seed_cases[] = {
	{ "seed: refused by default (SHA-1)", NULL, SEED_BINDING, 403,
	  "policy signature.hash: SHA1 is not allowed" },
	{ "seed: accepted with SHA-1 and its binding",
	  "{\"signature_hashes\":[\"SHA1\",\"SHA256\"],"
	  "\"channel_binding\":\"optional\"}", SEED_BINDING, 0, "" },
	{ "seed: accepted with binding required",
	  "{\"signature_hashes\":[\"SHA1\"],"
	  "\"channel_binding\":\"required\"}", SEED_BINDING, 0, "" },
	{ "seed: another session's binding",
	  "{\"signature_hashes\":[\"SHA1\"]}", "+rrCir/7+EYu50T5", 403,
	  "policy binding.mismatch: the challengePassword is not this TLS "
	  "session's channel binding" },
	{ "seed: no binding computable",
	  "{\"signature_hashes\":[\"SHA1\"]}", NULL, 403,
	  "policy binding.mismatch: the CSR has a challengePassword but this "
	  "TLS session has no channel binding to check it against" },
};

static void
test_seed_case(void **state)
{
	const struct seed_case	*c = *state;
	struct policy		*p = compile_ok(c->policy);
	X509_REQ		*csr = seed_csr();
	struct policy_input	 in = { csr, POLICY_ENROLL, "estuser", NULL,
	    c->binding };
	struct policy_verdict	 v;

	assert_int_equal(policy_check(p, &in, &v), c->status ? -1 : 0);
	assert_int_equal(v.status, c->status);
	assert_string_equal(v.reason, c->reason);
	assert_null(strstr(v.reason, SEED_BINDING));
	X509_REQ_free(csr);
	policy_free(p);
}

/* --- compile errors --- */

struct compile_case {
	const char	*name;
	const char	*policy;
	const char	*errors;	/* "key: msg\n"...; "" = compiles */
};

#define CURVE_MSG	"unknown curve (P-256, P-384, P-521, or an OpenSSL " \
	"curve name)"
#define ATTR_MSG	"unknown attribute (CN, O, OU, C, L, ST, " \
	"serialNumber, emailAddress, DC, UID, or a dotted OID)"

static const struct compile_case compile_cases[] = {
	{ "empty object", "{}", "" },
	{ "every key, valid",
	  "{\"keys\":{\"rsa_min_bits\":3072,\"ec_curves\":[\"P-384\","
	  "\"brainpoolP256r1\"],\"ed25519\":false,\"ed448\":true,\"rsa\":true},"
	  "\"signature_hashes\":[\"sha-256\",\"SHA384\"],"
	  "\"subject\":{\"required\":[\"CN\"],\"allowed\":[\"CN\",\"O\","
	  "\"serialNumber\",\"emailAddress\",\"DC\",\"UID\",\"2.5.4.97\"],"
	  "\"patterns\":{\"CN\":\"^[a-z]+$\",\"serialNumber\":\"^[0-9]+$\"},"
	  "\"max_length\":64,\"cn_must_equal\":\"client_cert_cn\"},"
	  "\"san\":{\"dns\":[\"*.a.example\",\"b.example\"],"
	  "\"ip\":[\"10.0.0.0/8\",\"2001:db8::/32\",\"192.0.2.1/32\"],"
	  "\"email_domains\":[\"example.com\"],\"uri_prefixes\":[\"urn:\"],"
	  "\"max\":10,\"required\":true,\"forbidden\":false},"
	  "\"extensions\":{\"allow_ca\":false,\"key_usages\":["
	  "\"digitalSignature\",\"decipherOnly\"],\"ekus\":[\"clientAuth\","
	  "\"1.3.6.1.5.5.7.3.28\"],\"allowed\":[\"subjectAltName\","
	  "\"2.5.29.15\"]},"
	  "\"reenroll\":{\"same_subject\":true,\"renew\":false,\"rekey\":true},"
	  "\"channel_binding\":\"required\",\"rate\":{\"max\":10,"
	  "\"window\":3600}}", "" },
	{ "not an object", "[1]", ": must be an object, not an array\n" },
	{ "unknown keys at every level",
	  "{\"bogus\":1,\"san\":{\"ipp\":[]},\"keys\":{\"dsa\":true}}",
	  "bogus: unknown key\nsan.ipp: unknown key (did you mean ip?)\n"
	  "keys.dsa: unknown key (did you mean rsa?)\n" },
	{ "bad CIDR", "{\"san\":{\"ip\":[\"10.0.0.0/8\",\"10.0.0.1\","
	  "\"10.0.0.0/33\",\"2001:db8::/129\",\"x::/8\",\"1.2.3.4/\"]}}",
	  "san.ip[1]: not a CIDR (a.b.c.d/n or x::/n)\n"
	  "san.ip[2]: not a CIDR (a.b.c.d/n or x::/n)\n"
	  "san.ip[3]: not a CIDR (a.b.c.d/n or x::/n)\n"
	  "san.ip[4]: not a CIDR (a.b.c.d/n or x::/n)\n"
	  "san.ip[5]: not a CIDR (a.b.c.d/n or x::/n)\n" },
	{ "unknown curve", "{\"keys\":{\"ec_curves\":[\"P-999\",\"P-256\","
	  "\"sha256\"]}}", "keys.ec_curves[0]: " CURVE_MSG "\n"
	  "keys.ec_curves[2]: " CURVE_MSG "\n" },
	{ "unknown hash", "{\"signature_hashes\":[\"SHA256\",\"MD5\"]}",
	  "signature_hashes[1]: unknown hash (SHA1, SHA224, SHA256, SHA384, "
	  "SHA512)\n" },
	{ "unknown key usage",
	  "{\"extensions\":{\"key_usages\":[\"signEverything\"]}}",
	  "extensions.key_usages[0]: unknown key usage\n" },
	{ "unknown EKU and extension",
	  "{\"extensions\":{\"ekus\":[\"notAnEku\"],\"allowed\":[\"nope\"]}}",
	  "extensions.ekus[0]: unknown EKU (a short name such as clientAuth, "
	  "or a dotted OID)\nextensions.allowed[0]: unknown extension (a "
	  "short name such as subjectAltName, or a dotted OID)\n" },
	{ "binding mode", "{\"channel_binding\":\"always\"}",
	  "channel_binding: must be one of optional, required, off, not "
	  "\"always\"\n" },
	{ "arrays of strings",
	  "{\"san\":{\"dns\":\"a.com\",\"email_domains\":[1]},"
	  "\"subject\":{\"allowed\":{}}}",
	  "san.dns: must be an array of strings, not a string\n"
	  "san.email_domains[0]: must be a string, not an integer\n"
	  "subject.allowed: must be an array of strings, not an object\n" },
	{ "subject problems",
	  "{\"subject\":{\"required\":[\"CN\",\"XYZ\"],\"cn_must_equal\":"
	  "\"admin\",\"max_length\":0,\"patterns\":{\"QQ\":\"a\",\"CN\":1}}}",
	  "subject.required[1]: " ATTR_MSG "\n"
	  "subject.cn_must_equal: must be one of user, client_cert_cn, not "
	  "\"admin\"\n"
	  "subject.max_length: 0 is out of range [1, 65535]\n"
	  "subject.patterns.QQ: " ATTR_MSG "\n"
	  "subject.patterns.CN: must be a string, not an integer\n" },
	{ "bad DNS patterns and domains",
	  "{\"san\":{\"dns\":[\"a.*.com\",\"*.\",\"ok.com\"],"
	  "\"email_domains\":[\"@x.com\"],\"uri_prefixes\":[\"\"]}}",
	  "san.dns[0]: bad DNS name (a name, or *.name for the names under "
	  "it)\nsan.dns[1]: bad DNS name (a name, or *.name for the names "
	  "under it)\nsan.email_domains[0]: bad domain (example.com, without "
	  "@)\nsan.uri_prefixes[0]: must not be empty\n" },
	{ "many problems in one object",
	  "{\"keys\":{\"rsa_min_bits\":100,\"ec_curves\":[\"P-256\",\"nope\"],"
	  "\"rsa\":\"yes\"},\"san\":{\"ip\":[\"1.2.3.4/33\"],\"max\":-1},"
	  "\"channel_binding\":true,\"reenroll\":[]}",
	  "keys.rsa_min_bits: 100 is out of range [512, 16384]\n"
	  "keys.ec_curves[1]: " CURVE_MSG "\n"
	  "keys.rsa: must be true or false, not a string\n"
	  "san.ip[0]: not a CIDR (a.b.c.d/n or x::/n)\n"
	  "san.max: -1 is out of range [0, 1000]\n"
	  "channel_binding: must be one of optional, required, off, not a "
	  "boolean\n"
	  "reenroll: must be an object, not an array\n" },
	{ "no key type left",
	  "{\"keys\":{\"rsa\":false,\"ed25519\":false,\"ed448\":false,"
	  "\"ec_curves\":[]}}", "keys: no key type is allowed\n" },
	{ "SANs required and forbidden",
	  "{\"san\":{\"required\":true,\"forbidden\":true}}",
	  "san: required and forbidden are both true\n" },
	{ "required attribute not allowed",
	  "{\"subject\":{\"allowed\":[\"CN\"],\"required\":[\"CN\",\"O\"]}}",
	  "subject.required[1]: not in subject.allowed\n" },
	{ "rate needs both", "{\"rate\":{\"max\":10}}",
	  "rate: needs both max and window\n" },
	{ "rate bounds", "{\"rate\":{\"max\":0,\"window\":3600,\"per\":1}}",
	  "rate.max: 0 is out of range [1, 1000000]\n"
	  "rate.per: unknown key\n" },
};

static void
test_compile_case(void **state)
{
	const struct compile_case	*c = *state;
	struct errbuf			 e;
	struct policy			*p = compile_text(c->policy, &e);

	assert_string_equal(e.text, c->errors);
	if (*c->errors == '\0')
		assert_non_null(p);
	else
		assert_null(p);
	policy_free(p);
}

/* regerror's text is the C library's: compare with what it says. */
static void
test_compile_bad_regex(void **state)
{
	struct errbuf	 e;
	regex_t		 re;
	char		 msg[200], want[512];
	int		 rc = regcomp(&re, "([", REG_EXTENDED | REG_NOSUB);

	assert_int_not_equal(rc, 0);
	regerror(rc, &re, msg, sizeof(msg));
	snprintf(want, sizeof(want), "subject.patterns.CN: bad regex: %s\n"
	    "subject.patterns.O: bad regex: %s\n", msg, msg);
	assert_null(compile_text("{\"subject\":{\"patterns\":{\"CN\":\"([\","
	    "\"O\":\"([\",\"OU\":\"ok\"}}}", &e));
	assert_string_equal(e.text, want);
}

static void
test_compile_defaults_and_rate(void **state)
{
	struct errbuf	 e;
	struct policy	*p = compile_text(NULL, &e);

	assert_non_null(p);
	assert_string_equal(e.text, "");
	assert_int_equal(policy_rate_max(p), 0);
	assert_int_equal(policy_rate_window(p), 0);
	policy_free(p);
	p = compile_ok("{\"rate\":{\"max\":10,\"window\":3600}}");
	assert_int_equal(policy_rate_max(p), 10);
	assert_int_equal(policy_rate_window(p), 3600);
	policy_free(p);
	policy_free(NULL);
	/* Without a callback a bad policy is still refused. */
	json_t *bad = json_pack("{s:i}", "bogus", 1);
	assert_non_null(bad);
	assert_null(policy_compile(bad, NULL, NULL));
	json_decref(bad);
}

/* --- csrattrs --- */

struct csrattrs_case {
	const char	*name;
	const char	*policy;
	int		 want[6];	/* bare OIDs, 0-terminated */
	int		 attr[2];	/* an Attribute type and its value */
	int		 extreq;	/* a NID the extensionRequest lists */
	int		 challenge;	/* challengePassword expected */
};

static const struct csrattrs_case csrattrs_cases[] = {
	{ "csrattrs: defaults", NULL, { NID_ecdsa_with_SHA256 },
	  { NID_X9_62_id_ecPublicKey, NID_X9_62_prime256v1 }, 0, 0 },
	{ "csrattrs: binding required, P-384 first",
	  "{\"channel_binding\":\"required\",\"keys\":{\"ec_curves\":"
	  "[\"P-384\",\"P-256\"]},\"signature_hashes\":[\"SHA384\"]}",
	  { NID_pkcs9_challengePassword, NID_ecdsa_with_SHA384 },
	  { NID_X9_62_id_ecPublicKey, NID_secp384r1 }, 0, 1 },
	{ "csrattrs: RSA, SAN required",
	  "{\"keys\":{\"ec_curves\":[]},\"san\":{\"required\":true},"
	  "\"signature_hashes\":[\"SHA512\"]}",
	  { NID_rsaEncryption, NID_sha512WithRSAEncryption }, { 0, 0 },
	  NID_subject_alt_name, 0 },
	{ "csrattrs: Ed25519 only",
	  "{\"keys\":{\"ec_curves\":[],\"rsa\":false,\"ed448\":false},"
	  "\"channel_binding\":\"required\"}",
	  { NID_pkcs9_challengePassword, NID_ED25519 }, { 0, 0 }, 0, 1 },
};

/* What one decoded CsrAttrs holds, flattened for the assertions. */
struct attrs_seen {
	int	oids[16];
	size_t	noids;
	int	attr_type[8];
	int	attr_value[8];
	size_t	nattrs;
};

static void
attrs_note_attr(struct attrs_seen *s, const ASN1_STRING *seq)
{
	const unsigned char	*p = ASN1_STRING_get0_data(seq);
	X509_ATTRIBUTE		*a;

	assert_non_null(a = d2i_X509_ATTRIBUTE(NULL, &p,
	    ASN1_STRING_length(seq)));
	assert_ptr_equal(p, ASN1_STRING_get0_data(seq) +
	    ASN1_STRING_length(seq));
	for (int i = 0; i < X509_ATTRIBUTE_count(a); i++) {
		ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(a, i);
		assert_int_equal(t->type, V_ASN1_OBJECT);
		assert_true(s->nattrs < 8);
		s->attr_type[s->nattrs] = OBJ_obj2nid(
		    X509_ATTRIBUTE_get0_object(a));
		s->attr_value[s->nattrs++] = OBJ_obj2nid(t->value.object);
	}
	X509_ATTRIBUTE_free(a);
}

static void
attrs_decode(const unsigned char *der, size_t len, struct attrs_seen *s)
{
	const unsigned char	*p = der;
	ASN1_SEQUENCE_ANY	*seq;

	memset(s, 0, sizeof(*s));
	assert_non_null(seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len));
	assert_ptr_equal(p, der + len);
	for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
		ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, i);
		if (t->type == V_ASN1_OBJECT) {
			assert_true(s->noids < 16);
			s->oids[s->noids++] = OBJ_obj2nid(t->value.object);
		} else {
			assert_int_equal(t->type, V_ASN1_SEQUENCE);
			attrs_note_attr(s, t->value.sequence);
		}
	}
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

static int
attrs_has_oid(const struct attrs_seen *s, int nid)
{
	for (size_t i = 0; i < s->noids; i++)
		if (s->oids[i] == nid)
			return 1;
	return 0;
}

static int
attrs_has_attr(const struct attrs_seen *s, int type, int value)
{
	for (size_t i = 0; i < s->nattrs; i++)
		if (s->attr_type[i] == type && s->attr_value[i] == value)
			return 1;
	return 0;
}

static void
test_csrattrs_case(void **state)
{
	const struct csrattrs_case	*c = *state;
	struct policy			*p = compile_ok(c->policy);
	struct attrs_seen		 s;
	unsigned char			*der = NULL;
	size_t				 len = 0, want = 0;

	assert_int_equal(policy_csrattrs(p, &der, &len), 0);
	assert_non_null(der);
	attrs_decode(der, len, &s);
	for (; c->want[want] != 0; want++)
		assert_true(attrs_has_oid(&s, c->want[want]));
	assert_int_equal(s.noids, want);
	assert_int_equal(attrs_has_oid(&s, NID_pkcs9_challengePassword),
	    c->challenge);
	if (c->attr[0] != 0)
		assert_true(attrs_has_attr(&s, c->attr[0], c->attr[1]));
	if (c->extreq != 0)
		assert_true(attrs_has_attr(&s, NID_ext_req, c->extreq));
	assert_int_equal(s.nattrs, (c->attr[0] != 0) + (c->extreq != 0));
	free(der);
	policy_free(p);
}

/* --- main --- */

static int
group_teardown(void **state)
{
	testpki_keys_free();
	return 0;
}

int
main(void)
{
	size_t			 n = NITEMS(check_cases) + NITEMS(seed_cases) +
	    NITEMS(compile_cases) + NITEMS(csrattrs_cases) + 3, i, k = 0;
	struct CMUnitTest	*t = calloc(n, sizeof(*t));
	int			 rc;

	if (t == NULL)
		return 1;
	for (i = 0; i < NITEMS(check_cases); i++)
		t[k++] = (struct CMUnitTest){ check_cases[i].name,
		    test_check_case, NULL, NULL, (void *)&check_cases[i] };
	for (i = 0; i < NITEMS(seed_cases); i++)
		t[k++] = (struct CMUnitTest){ seed_cases[i].name,
		    test_seed_case, NULL, NULL, (void *)&seed_cases[i] };
	for (i = 0; i < NITEMS(compile_cases); i++)
		t[k++] = (struct CMUnitTest){ compile_cases[i].name,
		    test_compile_case, NULL, NULL, (void *)&compile_cases[i] };
	for (i = 0; i < NITEMS(csrattrs_cases); i++)
		t[k++] = (struct CMUnitTest){ csrattrs_cases[i].name,
		    test_csrattrs_case, NULL, NULL,
		    (void *)&csrattrs_cases[i] };
	t[k++] = (struct CMUnitTest){ "60 SANs out of bounds: some named, "
	    "the rest counted", test_check_many_sans, NULL, NULL, NULL };
	t[k++] = (struct CMUnitTest){ "compile: bad regex",
	    test_compile_bad_regex, NULL, NULL, NULL };
	t[k++] = (struct CMUnitTest){ "compile: defaults and rate",
	    test_compile_defaults_and_rate, NULL, NULL, NULL };
	rc = _cmocka_run_group_tests("policy", t, k, NULL, group_teardown);
	free(t);
	return rc;
}
