/*
 * fuzz_csr_policy: an enrollment body on its way to the CA: the lenient
 * base64 decoder (src/b64.c), the PKCS#10 parse, key ceiling and proof of
 * possession (src/csr.c), and the policy rules (src/policy*.c) against
 * three fixed policies.
 *
 * The policies are fixed, compiled once: the built-in defaults, the
 * "enterprise" policy of config/policy-enterprise.json and the "lab"
 * policy of config/policy-lab.json (copies below). The CSR is the hostile
 * input here; what an operator writes in a policy is the config loader's
 * (fuzz_config compiles the policies of whatever config it is given).
 *
 * Input: two control bytes, then the body as a client POSTs it.
 *   byte 0: bits 0-1 policy (default, enterprise, lab, lab),
 *           bits 2-3 operation (enroll, reenroll, serverkeygen, enroll),
 *           bits 4-5 user (none, "device1", the CSR's CN, "x\n\"y"),
 *           bits 6-7 binding (none, a fixed one, the CSR's
 *           challengePassword, "not base64!")
 *   byte 1: bits 0-1 client certificate (none, a fixed one, one made
 *           from the CSR: its subject, key and requested extensions,
 *           the same with id-kp-cmcRA: an RA's);
 *           bit 2: the rest is DER, which the harness encodes in base64
 *           (b64_encode_lines) before parsing it as a body, so that
 *           mutations reach the DER directly;
 *           bit 3 (with bit 2): the DER is decoded as a request whatever
 *           its signature, given one of the harness's keys (bits 4-5:
 *           Ed25519, P-256, P-384, RSA-2048) and signed again (bits 6-7:
 *           SHA-256, SHA-1, SHA-384, SHA-512), so that a mutated subject,
 *           extension or attribute still proves possession and reaches
 *           the policy rules rather than stopping at the signature
 *
 * Invariants: base64 that decodes, encoded again and decoded gives the
 * same bytes; a refusal's reason is one line; a parsed CSR holds exactly
 * the decoded bytes; a verdict is 0 or 400/403 with a rule and a one-line
 * reason, the same when checked twice, and never quotes the binding or
 * the challengePassword.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <jansson.h>

#include "estrad/b64.h"
#include "estrad/chanbind.h"
#include "estrad/csr.h"
#include "estrad/policy.h"
#include "fuzz.h"

/* config/policy-enterprise.json, policies.enterprise */
static const char enterprise_json[] =
    "{\"keys\": {\"rsa\": true, \"rsa_min_bits\": 3072,"
    " \"ec_curves\": [\"P-256\", \"P-384\"], \"ed25519\": true,"
    " \"ed448\": false},"
    " \"signature_hashes\": [\"SHA256\", \"SHA384\", \"SHA512\"],"
    " \"subject\": {\"required\": [\"CN\"], \"allowed\": [\"CN\", \"O\","
    " \"OU\"], \"patterns\": {\"CN\": \"^[a-z0-9][a-z0-9.-]{0,62}$\","
    " \"O\": \"^Example Corp$\"}, \"max_length\": 64,"
    " \"cn_must_equal\": \"user\"},"
    " \"san\": {\"dns\": [\"*.corp.example.com\"], \"ip\": [\"10.0.0.0/8\","
    " \"2001:db8::/32\"], \"email_domains\": [\"example.com\"],"
    " \"uri_prefixes\": [], \"max\": 4, \"required\": true},"
    " \"extensions\": {\"allow_ca\": false, \"key_usages\":"
    " [\"digitalSignature\", \"keyAgreement\", \"keyEncipherment\"],"
    " \"ekus\": [\"clientAuth\"], \"allowed\": [\"subjectAltName\","
    " \"keyUsage\", \"extendedKeyUsage\", \"basicConstraints\"]},"
    " \"reenroll\": {\"same_subject\": true, \"renew\": true,"
    " \"rekey\": true},"
    " \"channel_binding\": \"required\","
    " \"rate\": {\"max\": 5, \"window\": 3600}}";

/* config/policy-lab.json, policies.lab */
static const char lab_json[] =
    "{\"keys\": {\"rsa_min_bits\": 2048, \"ec_curves\": [\"P-256\","
    " \"P-384\", \"P-521\"], \"ed25519\": true, \"ed448\": true},"
    " \"signature_hashes\": [\"SHA1\", \"SHA256\", \"SHA384\", \"SHA512\"],"
    " \"san\": {\"max\": 20}, \"extensions\": {\"allow_ca\": false},"
    " \"channel_binding\": \"optional\"}";

#define FIXED_BINDING	"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

static struct policy	*policies[3];
static EVP_PKEY		*issuer_key;
static EVP_PKEY		*resign_keys[4];
static X509		*fixed_cert;
static int		 verbose;	/* FUZZ_VERBOSE=1: print verdicts */

static void
compile_err(void *arg, const char *key, const char *msg)
{
	fprintf(stderr, "fuzz_csr_policy: policy %s: %s: %s\n",
	    (const char *)arg, key, msg);
}

static struct policy *
compile(const char *name, const char *text)
{
	json_error_t	 jerr;
	json_t		*obj = NULL;
	struct policy	*p;

	if (text != NULL && (obj = json_loads(text, 0, &jerr)) == NULL) {
		fprintf(stderr, "fuzz_csr_policy: %s: %s\n", name, jerr.text);
		abort();
	}
	p = policy_compile(obj, compile_err, (void *)name);
	json_decref(obj);
	FUZZ_CHECK(p != NULL);
	return p;
}

/* A certificate for key with subject name, extensions from exts. */
static X509 *
make_cert(const X509_NAME *name, EVP_PKEY *key,
    const STACK_OF(X509_EXTENSION) *exts, int ra)
{
	X509 *x = X509_new();

	FUZZ_CHECK(x != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++)
		X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
	if (ra) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_ext_key_usage, "clientAuth,cmcRA");

		if (e != NULL) {
			X509_add_ext(x, e, -1);
			X509_EXTENSION_free(e);
		}
	}
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		/* A key OpenSSL cannot sign with here: left unsigned. */
		ERR_clear_error();
	}
	return x;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	X509_NAME *n;

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	policies[0] = compile("default", NULL);
	policies[1] = compile("enterprise", enterprise_json);
	policies[2] = compile("lab", lab_json);
	FUZZ_CHECK((issuer_key = EVP_EC_gen("P-256")) != NULL);
	resign_keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	resign_keys[1] = EVP_EC_gen("P-256");
	resign_keys[2] = EVP_EC_gen("P-384");
	resign_keys[3] = EVP_RSA_gen(2048);
	for (int i = 0; i < 4; i++)
		FUZZ_CHECK(resign_keys[i] != NULL);
	FUZZ_CHECK((n = X509_NAME_new()) != NULL);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"device1", -1, -1, 0);
	fixed_cert = make_cert(n, issuer_key, NULL, 0);
	X509_NAME_free(n);
	return 0;
}

/*
 * der as a request, whatever its signature, with one of our keys and
 * signed again: the DER a client holding that key could send. NULL if
 * OpenSSL cannot decode, or re-encode, it.
 */
static unsigned char *
resign(const unsigned char *der, size_t len, unsigned c1, size_t *outlen)
{
	static const char *const mds[4] = { "SHA256", "SHA1", "SHA384",
	    "SHA512" };
	const unsigned char	*p = der;
	unsigned char		*out = NULL;
	X509_REQ		*req;
	EVP_PKEY		*key = resign_keys[(c1 >> 4) & 3];
	const EVP_MD		*md = NULL;
	int			 n;

	if (len > 1 << 20 || (req = d2i_X509_REQ(NULL, &p, (long)len)) ==
	    NULL) {
		ERR_clear_error();
		return NULL;
	}
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		md = EVP_get_digestbyname(mds[(c1 >> 6) & 3]);
	if (X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, md) <= 0 ||
	    (n = i2d_X509_REQ(req, &out)) <= 0) {
		ERR_clear_error();
		X509_REQ_free(req);
		return NULL;
	}
	X509_REQ_free(req);
	*outlen = (size_t)n;
	return out;
}

/* The round trip through the encoder. */
static void
check_b64(const char *body, size_t len)
{
	unsigned char	*der = NULL, *der2 = NULL;
	size_t		 dlen = 0, dlen2 = 0, elen = 0;
	const char	*reason = NULL;
	char		*enc;

	if (b64_decode_lenient(body, len, &der, &dlen, &reason) != 0) {
		FUZZ_CHECK(der == NULL || dlen == 0);
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		free(der);
		return;
	}
	FUZZ_CHECK(der != NULL && dlen > 0);
	FUZZ_CHECK(dlen <= len / 4 * 3 + 3);
	enc = b64_encode_lines(der, dlen, &elen);
	FUZZ_CHECK(enc != NULL && strlen(enc) == elen);
	FUZZ_CHECK(b64_decode_lenient(enc, elen, &der2, &dlen2, &reason) == 0);
	FUZZ_CHECK(dlen2 == dlen && memcmp(der, der2, dlen) == 0);
	free(enc);
	free(der);
	free(der2);
}

static size_t
count_in(const unsigned char *hay, size_t hlen, const char *needle)
{
	size_t		 n = 0, nlen = strlen(needle);
	const unsigned char *p = hay;

	while (nlen > 0 && (p = memmem(p, hlen - (size_t)(p - hay), needle,
	    nlen)) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void
check_verdict(const struct policy_verdict *v, int rc)
{
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == (v->status == 0));
	FUZZ_CHECK(strnlen(v->rule, sizeof(v->rule)) < sizeof(v->rule));
	FUZZ_CHECK(strnlen(v->reason, sizeof(v->reason)) < sizeof(v->reason));
	if (rc == 0)
		return;
	FUZZ_CHECK(v->status == 400 || v->status == 403);
	FUZZ_CHECK(v->rule[0] != '\0');
	FUZZ_CHECK(v->reason[0] != '\0');
	FUZZ_CHECK(fuzz_one_line(v->reason, sizeof(v->reason)));
}

static void
check_policy(const struct csr *csr, unsigned c0, unsigned c1)
{
	static const enum policy_op ops[4] = { POLICY_ENROLL,
	    POLICY_REENROLL, POLICY_SERVERKEYGEN, POLICY_ENROLL };
	struct policy_input	 in;
	struct policy_verdict	 v, v2;
	char			 cn[256] = "", pw[256] = "";
	X509			*made = NULL;
	X509_NAME		*subj = X509_REQ_get_subject_name(csr->csr_req);
	int			 rc, haspw;

	memset(&in, 0, sizeof(in));
	in.csr = csr->csr_req;
	in.op = ops[(c0 >> 2) & 3];
	X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
	haspw = chanbind_csr_password(csr->csr_req, pw, sizeof(pw)) == 1;
	switch ((c0 >> 4) & 3) {
	case 1:
		in.user = "device1";
		break;
	case 2:
		in.user = cn;
		break;
	case 3:
		in.user = "x\n\"y";
		break;
	}
	switch ((c0 >> 6) & 3) {
	case 1:
		in.binding = FIXED_BINDING;
		break;
	case 2:
		in.binding = haspw ? pw : NULL;
		break;
	case 3:
		in.binding = "not base64!";
		break;
	}
	switch (c1 & 3) {
	case 1:
		in.client_cert = fixed_cert;
		break;
	case 2:
	case 3: {
		EVP_PKEY			*key;
		STACK_OF(X509_EXTENSION)	*exts;

		key = X509_REQ_get0_pubkey(csr->csr_req);
		exts = X509_REQ_get_extensions(csr->csr_req);
		if (key != NULL)
			made = make_cert(subj, key, exts, (c1 & 3) == 3);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		ERR_clear_error();
		in.client_cert = made;
		break;
	}
	}
	rc = policy_check(policies[(c0 & 3) == 3 ? 2 : c0 & 3], &in, &v);
	check_verdict(&v, rc);
	if (verbose)
		fprintf(stderr, "verdict %d %s: %s\n", v.status, v.rule,
		    v.reason);
	/* A pure function: the same verdict again. */
	FUZZ_CHECK(policy_check(policies[(c0 & 3) == 3 ? 2 : c0 & 3], &in,
	    &v2) == rc);
	FUZZ_CHECK(memcmp(&v, &v2, sizeof(v)) == 0);
	/* The secrets of the session stay out of the reason. */
	if (((c0 >> 6) & 3) == 1)
		FUZZ_CHECK(strstr(v.reason, FIXED_BINDING) == NULL ||
		    count_in(csr->csr_der, csr->csr_der_len, FIXED_BINDING) >
		    0);
	if (haspw && strlen(pw) >= 8)
		FUZZ_CHECK(strstr(v.reason, pw) == NULL ||
		    count_in(csr->csr_der, csr->csr_der_len, pw) > 1 ||
		    (in.user != NULL && strstr(in.user, pw) != NULL));
	X509_free(made);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*der = NULL;
	size_t		 dlen = 0;
	const char	*reason = NULL, *body;
	char		*encoded = NULL;
	struct csr	*csr;
	unsigned	 c0, c1;

	if (size < 2)
		return 0;
	c0 = data[0];
	c1 = data[1];
	body = (const char *)data + 2;
	size -= 2;
	check_b64(body, size);
	if ((c1 & 12) == 12) {
		unsigned char	*der2;
		size_t		 len2;

		if ((der2 = resign(data + 2, size, c1, &len2)) == NULL)
			return 0;
		encoded = b64_encode_lines(der2, len2, &size);
		OPENSSL_free(der2);
		if (encoded == NULL)
			abort();
		body = encoded;
	} else if (c1 & 4) {
		/* DER: encoded as a client would (an empty one stays empty). */
		if ((encoded = b64_encode_lines(data + 2, size, &size)) == NULL)
			abort();
		body = encoded;
	}
	csr = csr_parse_body(body, size, &reason);
	if (csr == NULL) {
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		FUZZ_CHECK(ERR_peek_error() == 0);
		if (verbose)
			fprintf(stderr, "csr refused: %s\n", reason);
		free(encoded);
		return 0;
	}
	FUZZ_CHECK(csr->csr_req != NULL && csr->csr_der != NULL);
	FUZZ_CHECK(b64_decode_lenient(body, size, &der, &dlen, &reason) == 0);
	FUZZ_CHECK(dlen == csr->csr_der_len &&
	    memcmp(der, csr->csr_der, dlen) == 0);
	free(der);
	/* Signed by us, the signature verifies: at most a DER that OpenSSL
	 * re-encoded but does not read back the same way. */
	if (csr_verify(csr, &reason) == -1)
		FUZZ_CHECK((c1 & 12) != 12 || strcmp(reason,
		    "CSR signature does not verify") != 0);
	FUZZ_CHECK(ERR_peek_error() == 0);
	check_policy(csr, c0, c1);
	csr_free(csr);
	free(encoded);
	ERR_clear_error();
	return 0;
}
