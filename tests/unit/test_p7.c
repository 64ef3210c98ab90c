/*
 * p7_first_cert: the serial and notAfter of a certs-only PKCS#7's first
 * certificate, read by walking the DER. The seed exchange's answer
 * (tests/data/seed-pkcs7.b64, copied verbatim from seed-exchange.txt: RSA,
 * serial 21, notAfter 2014-05-09 23:15:53Z), generated answers (a v1
 * certificate without a version field, a chain of two), a table of
 * malformed structures, every truncation of the seed, and every one-byte
 * change of it cross-checked against OpenSSL's full decoder; and
 * p7_certs_only on the seed and every truncation (test_answer has its
 * table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "estrad/b64.h"
#include "estrad/p7.h"

#include "testdata.h"
#include "testpki.h"

/* serial as decimal, notAfter as OpenSSL prints it "YYYYMMDDHHMMSSZ". */
static int
first_cert(const unsigned char *der, size_t len, long *serial, char *when,
    size_t whenlen)
{
	ASN1_INTEGER	*sn = NULL;
	ASN1_TIME	*na = NULL;
	ASN1_GENERALIZEDTIME *g;

	if (p7_first_cert(der, len, &sn, &na) == -1) {
		assert_null(sn);
		assert_null(na);
		return -1;
	}
	assert_non_null(sn);
	assert_non_null(na);
	*serial = ASN1_INTEGER_get(sn);
	assert_non_null(g = ASN1_TIME_to_generalizedtime(na, NULL));
	snprintf(when, whenlen, "%.*s", ASN1_STRING_length(g),
	    (const char *)ASN1_STRING_get0_data(g));
	ASN1_GENERALIZEDTIME_free(g);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(na);
	return 0;
}

static void
test_seed(void **state)
{
	size_t		 len;
	unsigned char	*der = testdata_b64("seed-pkcs7.b64", &len);
	long		 serial;
	char		 when[32];

	(void)state;
	assert_int_equal(first_cert(der, len, &serial, when, sizeof(when)), 0);
	assert_int_equal(serial, 21);
	assert_string_equal(when, "20140509231553Z");
	/* Certs-only, one certificate (the empty crls [1] is allowed). */
	{
		const char	*why = NULL;
		int		 n = -1;

		assert_int_equal(p7_certs_only(der, len, &n, &why), 0);
		assert_int_equal(n, 1);
	}
	/* The same in BER (outer indefinite length): the decoder's path. */
	{
		unsigned char	*ber = malloc(len + 2);

		assert_non_null(ber);
		assert_true(der[0] == 0x30 && der[1] == 0x82);
		ber[0] = 0x30;
		ber[1] = 0x80;
		memcpy(ber + 2, der + 4, len - 4);
		ber[len - 2] = ber[len - 1] = 0x00;
		assert_int_equal(first_cert(ber, len, &serial, when,
		    sizeof(when)), 0);
		assert_int_equal(serial, 21);
		assert_string_equal(when, "20140509231553Z");
		free(ber);
	}
	free(der);
}

/* A self-signed P-256 certificate; version 1 (no extensions, no version
 * field in the DER) when v1. */
static X509 *
make_cert(long serial, const char *not_after, int v1)
{
	EVP_PKEY	*key = testpki_key_new("p256");
	X509		*x = testpki_cert(&(struct cert_spec){ .pkey = key,
	    .subject = "CN=p7 test", .serial = serial,
	    .not_before_at = "20261127000000Z", .not_after_at = not_after,
	    .v1 = v1 });

	EVP_PKEY_free(key);
	return x;
}

static void
test_generated(void **state)
{
	X509		*certs[2];
	unsigned char	*der;
	int		 len;
	long		 serial;
	char		 when[32];

	(void)state;
	/* Version 1: the serial is the tbsCertificate's first element. */
	certs[0] = make_cert(0x1234, "20271127120000Z", 1);
	der = testpki_certs_only(certs, 1, &len);
	assert_int_equal(first_cert(der, (size_t)len, &serial, when,
	    sizeof(when)), 0);
	assert_int_equal(serial, 0x1234);
	assert_string_equal(when, "20271127120000Z");
	OPENSSL_free(der);
	/* A chain: the first certificate is the one read. A notAfter past
	 * 2049 is a GeneralizedTime. */
	certs[1] = make_cert(77, "20300101000000Z", 0);
	X509_free(certs[0]);
	certs[0] = make_cert(0x7fffffffL, "20500101000000Z", 0);
	der = testpki_certs_only(certs, 2, &len);
	assert_int_equal(first_cert(der, (size_t)len, &serial, when,
	    sizeof(when)), 0);
	assert_int_equal(serial, 0x7fffffffL);
	assert_string_equal(when, "20500101000000Z");
	OPENSSL_free(der);
	/* No certificate at all. */
	der = testpki_certs_only(certs, 0, &len);
	assert_int_equal(first_cert(der, (size_t)len, &serial, when,
	    sizeof(when)), -1);
	OPENSSL_free(der);
	X509_free(certs[0]);
	X509_free(certs[1]);
}

/* Hand-made structures that are not a certs-only PKCS#7 with a
 * certificate in it. */
static void
test_malformed(void **state)
{
	const struct {
		const char		*name;
		const unsigned char	*der;
		size_t			 len;
	} rows[] = {
#define ROW(n, ...) { n, (const unsigned char []){ __VA_ARGS__ }, \
	sizeof((const unsigned char []){ __VA_ARGS__ }) }
		ROW("one zero byte", 0x00),
		ROW("an empty SEQUENCE", 0x30, 0x00),
		ROW("a length past the end", 0x30, 0x05, 0x06, 0x01),
		ROW("id-data instead of id-signedData", 0x30, 0x0d, 0x06, 0x09,
		    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
		    0xa0, 0x00),
		ROW("signedData without content", 0x30, 0x0b, 0x06, 0x09,
		    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02),
		ROW("SignedData without certificates", 0x30, 0x17, 0x06, 0x09,
		    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
		    0xa0, 0x0a, 0x30, 0x08, 0x02, 0x01, 0x01, 0x31, 0x00,
		    0x30, 0x00, 0x31, 0x00),
		ROW("an empty certificates field", 0x30, 0x19, 0x06, 0x09,
		    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
		    0xa0, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x01, 0x31, 0x00,
		    0x30, 0x00, 0xa0, 0x00, 0x31, 0x00),
		ROW("a certificate that is an INTEGER", 0x30, 0x1c, 0x06,
		    0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07,
		    0x02, 0xa0, 0x0f, 0x30, 0x0d, 0x02, 0x01, 0x01, 0x31,
		    0x00, 0x30, 0x00, 0xa0, 0x03, 0x02, 0x01, 0x05, 0x31,
		    0x00),
		ROW("BER: an indefinite length", 0x30, 0x80, 0x06, 0x09,
		    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
		    0x00, 0x00),
		ROW("a length in 9 bytes", 0x30, 0x89, 0x01, 0x00, 0x00, 0x00,
		    0x00, 0x00, 0x00, 0x00, 0x00),
#undef ROW
	};
	long	serial;
	char	when[32];

	(void)state;
	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row: %s\n", rows[i].name);
		assert_int_equal(first_cert(rows[i].der, rows[i].len, &serial,
		    when, sizeof(when)), -1);
	}
	assert_int_equal(first_cert((const unsigned char *)"", 0, &serial,
	    when, sizeof(when)), -1);
}

/* Every proper prefix of the seed: never read past the end (ASan). The
 * certificate's validity ends before its public key starts, so a prefix
 * that cuts the outer lengths short must still be refused. */
static void
test_truncated(void **state)
{
	size_t		 len;
	unsigned char	*der = testdata_b64("seed-pkcs7.b64", &len);
	long		 serial;
	char		 when[32];

	(void)state;
	for (size_t n = 0; n < len; n++) {
		unsigned char	*cut = malloc(n + 1);
		const char	*why = NULL;
		int		 ncerts;

		assert_non_null(cut);
		memcpy(cut, der, n);
		assert_int_equal(first_cert(cut, n, &serial, when,
		    sizeof(when)), -1);
		assert_int_equal(p7_certs_only(cut, n, &ncerts, &why), -1);
		assert_non_null(why);
		free(cut);
	}
	free(der);
}

/* Every single-byte change of the seed (three values per byte): when
 * OpenSSL's full decoder still finds a first certificate, the walk must
 * agree with it on the serial, or refuse the bytes. */
static void
test_mutations_agree(void **state)
{
	static const unsigned char deltas[] = { 0x01, 0x80, 0xff };
	size_t		 len;
	unsigned char	*der = testdata_b64("seed-pkcs7.b64", &len);
	int		 agreed = 0, refused = 0;

	(void)state;
	for (size_t i = 0; i < len; i++) {
		for (size_t d = 0; d < sizeof(deltas); d++) {
			const unsigned char	*p = der;
			PKCS7			*p7;
			long			 serial;
			char			 when[32];
			int			 rc, ncerts, co;
			const char		*why;

			der[i] ^= deltas[d];
			/* Never a crash or a read past the end (ASan). */
			co = p7_certs_only(der, len, &ncerts, &why);
			assert_true(co == 0 ? ncerts >= 1 : co == -1);
			rc = first_cert(der, len, &serial, when, sizeof(when));
			p = der;
			p7 = d2i_PKCS7(NULL, &p, (long)len);
			if (rc == 0 && p7 != NULL && PKCS7_type_is_signed(p7) &&
			    p7->d.sign != NULL && sk_X509_num(p7->d.sign->cert)
			    > 0) {
				X509 *x = sk_X509_value(p7->d.sign->cert, 0);

				assert_int_equal(serial, ASN1_INTEGER_get(
				    X509_get0_serialNumber(x)));
				agreed++;
			} else if (rc == -1)
				refused++;
			PKCS7_free(p7);
			der[i] ^= deltas[d];
		}
	}
	/* Both outcomes happen: the loop did test something. */
	assert_true(agreed > 0);
	assert_true(refused > 0);
	free(der);
}

/*
 * p7_only_cert: the one certificate of the seed as a slice of its DER,
 * the same bytes OpenSSL re-encodes; a chain of two, none, and the seed
 * in BER refused with their reasons.
 */
static void
test_only_cert(void **state)
{
	size_t			 len, clen;
	unsigned char		*der = testdata_b64("seed-pkcs7.b64", &len);
	unsigned char		*ber, *enc = NULL, *p7;
	const unsigned char	*cert, *p = der;
	const char		*why;
	PKCS7			*dec;
	X509			*certs[2];
	int			 elen, n;

	(void)state;
	assert_int_equal(p7_only_cert(der, len, &cert, &clen, &why), 0);
	assert_true(cert > der && cert + clen <= der + len);
	assert_non_null(dec = d2i_PKCS7(NULL, &p, (long)len));
	assert_true((elen = i2d_X509(sk_X509_value(dec->d.sign->cert, 0),
	    &enc)) > 0);
	assert_int_equal(clen, (size_t)elen);
	assert_memory_equal(cert, enc, clen);
	OPENSSL_free(enc);
	PKCS7_free(dec);
	/* BER: OpenSSL reads it, the walk cannot slice it. */
	assert_non_null(ber = malloc(len + 2));
	ber[0] = 0x30;
	ber[1] = 0x80;
	memcpy(ber + 2, der + 4, len - 4);
	ber[len - 2] = ber[len - 1] = 0x00;
	assert_int_equal(p7_only_cert(ber, len, &cert, &clen, &why), -1);
	assert_string_equal(why, "a BER PKCS#7");
	assert_null(cert);
	assert_int_equal(clen, 0);
	free(ber);
	free(der);

	certs[0] = make_cert(1, "20271127120000Z", 0);
	certs[1] = make_cert(2, "20271127120000Z", 0);
	for (n = 0; n <= 2; n += 2) {
		p7 = testpki_certs_only(certs, n, &elen);
		assert_int_equal(p7_only_cert(p7, (size_t)elen, &cert, &clen,
		    &why), -1);
		assert_string_equal(why, n == 0 ? "no certificates" :
		    "more than one certificate");
		OPENSSL_free(p7);
	}
	X509_free(certs[0]);
	X509_free(certs[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_only_cert),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_mutations_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
