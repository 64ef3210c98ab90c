/*
 * p7: reading a certs-only PKCS#7 (RFC 7030 §4.1.3, §4.2.3) by walking its
 * DER, without decoding the certificates' public keys: with OpenSSL 3.0
 * every key decoded goes through its provider decoders, the costliest
 * step of writing an enrollment's audit record (docs/performance.md).
 * Pure functions; the input is untrusted (it comes from the CA).
 */
#ifndef ESTRAD_P7_H
#define ESTRAD_P7_H

#include <stddef.h>
#include <openssl/asn1.h>

/*
 * The serial number and notAfter of the first certificate of a DER
 * SignedData ContentInfo. 0 with *serial (ASN1_INTEGER_free) and
 * *not_after (ASN1_TIME_free) set; -1 if der is not such a structure
 * (BER's indefinite lengths included), holds no certificate, or the
 * first one's notAfter is not a valid time.
 */
int p7_first_cert(const unsigned char *der, size_t len, ASN1_INTEGER **serial,
    ASN1_TIME **not_after);

/*
 * 0 if der is exactly one certs-only SignedData ContentInfo (RFC 5652 §5,
 * RFC 7030 §4.1.3): id-signedData, a certificates field holding at least
 * one element shaped as a Certificate, no signerInfos, nothing after it;
 * *ncerts is their number. -1 with *why, a static phrase naming the first
 * thing wrong ("no certificates", "bytes after the ContentInfo", ...).
 * The certificates' contents are not decoded: the client does that.
 */
int p7_certs_only(const unsigned char *der, size_t len, int *ncerts,
    const char **why);

/*
 * The one certificate of a certs-only SignedData that holds exactly one
 * (p7_certs_only() accepts it with *ncerts 1): *cert points at its DER
 * inside der, *certlen bytes, as the CA encoded it (RFC 9148 §4.3:
 * application/pkix-cert). -1 with *why otherwise, and for a BER PKCS#7,
 * whose certificates the DER walk cannot locate.
 */
int p7_only_cert(const unsigned char *der, size_t len,
    const unsigned char **cert, size_t *certlen, const char **why);

#endif
