/*
 * chanbind: the channel binding of RFC 7030 §3.5, which ties a CSR to the
 * TLS session it arrives on, so that a CSR captured or relayed from
 * another session does not verify. The client puts the base64 binding
 * value of its session into the CSR's challengePassword; the RA computes
 * the same value from its side of the session and compares.
 *
 *   TLS 1.2: tls-unique (RFC 5929 §3.1), the verify_data of the first
 *            Finished message of the latest handshake: 12 bytes, so 16
 *            base64 characters.
 *   TLS 1.3: tls-exporter (RFC 9266 §2), 32 bytes from the exporter with
 *            label "EXPORTER-Channel-Binding" and an empty context, so
 *            44 base64 characters. RFC 9266 updates RFC 5929 so that
 *            tls-unique is not defined for TLS 1.3 (it was found weak:
 *            triple handshake, SLOTH); the exporter of RFC 8446 §7.5
 *            takes its place.
 *
 * Both ends compute the same value; the code reads the roles from the SSL
 * object, so the test client (tests/tools/est_cb_client.c) uses it too.
 * Pure: no I/O, no state; reads only the objects it is given. The values
 * are not secrets (the client sends them in its CSR), but they are session
 * material, so buffers are wiped anyway.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "estrad/chanbind.h"
#include "estrad/log.h"

#define CHANBIND_EXPORTER_LABEL	"EXPORTER-Channel-Binding"
#define CHANBIND_EXPORTER_LEN	32	/* RFC 9266 §2 */
#define CHANBIND_FINISHED_MAX	64	/* TLS 1.2 verify_data is 12 bytes */

/* Standard base64 with padding, no line breaks, into out. */
static int
chanbind_encode(const unsigned char *in, size_t inlen, char *out,
    size_t outlen)
{
	size_t need = 4 * ((inlen + 2) / 3) + 1;

	if (inlen == 0 || need > outlen)
		return -1;
	/* EVP_EncodeBlock writes no newlines and NUL-terminates. */
	if (EVP_EncodeBlock((unsigned char *)out, in, (int)inlen) !=
	    (int)need - 1)
		return -1;
	return 0;
}

/*
 * tls-exporter (RFC 9266 §2). "Empty context": RFC 8446 §7.5 defines the
 * TLS 1.3 exporter over Hash(context_value) and says that no context and
 * a zero-length context give the same value; OpenSSL's TLS 1.3 exporter
 * does exactly that (test_chanbind checks it). We pass a zero-length
 * context with use_context = 1, the literal reading of "empty context"
 * (on TLS 1.2, RFC 5705 would tell the two apart, but we never export
 * there).
 */
static int
chanbind_exporter(SSL *ssl, char *out, size_t outlen)
{
	unsigned char	 ekm[CHANBIND_EXPORTER_LEN];
	int		 rc;

	if (SSL_export_keying_material(ssl, ekm, sizeof(ekm),
	    CHANBIND_EXPORTER_LABEL, strlen(CHANBIND_EXPORTER_LABEL),
	    (const unsigned char *)"", 0, 1) != 1) {
		log_ssl_errors(LOG_LEVEL_DEBUG, "chanbind: exporter");
		return -1;
	}
	rc = chanbind_encode(ekm, sizeof(ekm), out, outlen);
	OPENSSL_cleanse(ekm, sizeof(ekm));
	return rc;
}

/*
 * tls-unique (RFC 5929 §3.1): "the first TLS Finished message sent ... in
 * the most recent TLS handshake". In a full handshake the client sends
 * its Finished first; in an abbreviated (resumed) one the server does.
 * OpenSSL keeps our own latest Finished (SSL_get_finished) and the
 * peer's (SSL_get_peer_finished), so which one is "first" depends on
 * both our role and whether the session was resumed.
 *
 * tls-unique has the triple-handshake weakness (RFC 7627 §1): without
 * the extended master secret extension, a man in the middle can make two
 * sessions share a Finished. OpenSSL 3 negotiates EMS by default, so
 * peers that are OpenSSL or any maintained stack are safe; the policy
 * layer, not this function, decides whether to insist on it
 * (SSL_get_extms_support).
 */
static int
chanbind_unique(SSL *ssl, char *out, size_t outlen)
{
	unsigned char	 fin[CHANBIND_FINISHED_MAX];
	size_t		 len;
	int		 ours, rc;

	/* Full: the client's Finished; resumed: the server's. */
	ours = SSL_is_server(ssl) ? SSL_session_reused(ssl) :
	    !SSL_session_reused(ssl);
	len = ours ? SSL_get_finished(ssl, fin, sizeof(fin)) :
	    SSL_get_peer_finished(ssl, fin, sizeof(fin));
	if (len == 0 || len > sizeof(fin))
		return -1;
	rc = chanbind_encode(fin, len, out, outlen);
	OPENSSL_cleanse(fin, sizeof(fin));
	return rc;
}

int
chanbind_value(SSL *ssl, char *out, size_t outlen)
{
	if (ssl == NULL || out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	/* Mid-handshake (or renegotiating) there is no settled binding. */
	if (!SSL_is_init_finished(ssl))
		return -1;
	switch (SSL_version(ssl)) {
	case TLS1_3_VERSION:
		return chanbind_exporter(ssl, out, outlen);
	case TLS1_2_VERSION:
		return chanbind_unique(ssl, out, outlen);
	default:
		/* estrad refuses older TLS; DTLS and SSL 3 have no EST. */
		return -1;
	}
}

/*
 * The string types a challengePassword may use. PKCS#9 (RFC 2985 §5.4.1)
 * makes it a DirectoryString; in practice clients send PrintableString
 * (every base64 character is printable) or UTF8String, and a few send
 * IA5String, which costs nothing to accept. T61String, BMPString and
 * UniversalString would need a conversion for a value that is plain
 * base64: refused as malformed.
 */
static int
chanbind_string_type_ok(int type)
{
	return type == V_ASN1_PRINTABLESTRING || type == V_ASN1_UTF8STRING ||
	    type == V_ASN1_IA5STRING;
}

int
chanbind_csr_password(X509_REQ *csr, char *out, size_t outlen)
{
	X509_ATTRIBUTE	*attr;
	ASN1_TYPE	*val;
	int		 idx, len;

	if (csr == NULL || out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
	if (idx < 0)
		return 0;
	/* A second challengePassword attribute is as ambiguous as two values. */
	if (X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword,
	    idx) >= 0)
		return -1;
	attr = X509_REQ_get_attr(csr, idx);
	if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1)
		return -1;
	val = X509_ATTRIBUTE_get0_type(attr, 0);
	if (val == NULL || !chanbind_string_type_ok(val->type) ||
	    val->value.asn1_string == NULL)
		return -1;
	len = ASN1_STRING_length(val->value.asn1_string);
	if (len < 0 || (size_t)len >= outlen)
		return -1;
	memcpy(out, ASN1_STRING_get0_data(val->value.asn1_string),
	    (size_t)len);
	out[len] = '\0';
	/* An embedded NUL would make two different values compare equal. */
	if (strlen(out) != (size_t)len) {
		out[0] = '\0';
		return -1;
	}
	return 1;
}
