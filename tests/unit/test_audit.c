/*
 * Audit record tests: the JSON line carries every field the issue names,
 * parses as one JSON object on one line, escapes client text (SAN bytes
 * as \xNN, never altered or dropped), never holds
 * the CSR's challengePassword, and reads serial and notAfter from a real
 * certs-only PKCS#7 answer; a field that is not UTF-8 (a Basic user name)
 * is kept, its bad bytes as \xNN. Then the writer: lines land in the
 * file, in order, before their done callbacks run; on stderr with the
 * JSON log format, a record is the object estrad.audit of an ECS line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "estrad/audit.h"
#include "estrad/b64.h"
#include "estrad/log.h"
#include "testpki.h"

static EVP_PKEY *key;

static X509_REQ *
make_csr(void)
{
	return testpki_csr(&(struct csr_spec){ .pkey = key, .md = "SHA256",
	    .subject = "CN=dev \"one\"",
	    .san = "DNS:dev1.example.com,IP:10.1.2.3",
	    .password = "SECRET-BINDING-VALUE" });
}

/* base64 of a certs-only PKCS#7 holding one certificate, serial 0x1234. */
static char *
make_response(size_t *len)
{
	X509		*x = testpki_cert(&(struct cert_spec){ .pkey = key,
	    .serial = 0x1234, .not_before_at = "20261127000000Z",
	    .not_after_at = "20271127120000Z" });
	char		*b64 = testpki_certs_only_b64(&x, 1, len);

	X509_free(x);
	return b64;
}

static int
setup(void **state)
{
	key = EVP_EC_gen("P-256");
	return key != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	EVP_PKEY_free(key);
	return 0;
}

static void
test_format(void **state)
{
	X509_REQ		*csr = make_csr();
	size_t			 rlen;
	char			*resp = make_response(&rlen);
	struct audit_record	 rec = {
		"abc-000001", "10.1.2.3:5555", "digest", "alice", "east",
		"simpleenroll", csr, "accepted", NULL,
		"upstream ca answered 200", 200, 200,
		(const unsigned char *)resp, rlen, { NULL }, 0 };
	char			*line = audit_format(&rec);
	json_error_t		 jerr;
	json_t			*o;

	assert_non_null(line);
	assert_int_equal(line[strlen(line) - 1], '\n');
	/* One line: its only newline is the last byte. */
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_null(strstr(line, "SECRET-BINDING-VALUE"));
	assert_non_null(o = json_loads(line, 0, &jerr));
	assert_string_equal(json_string_value(json_object_get(o, "id")),
	    "abc-000001");
	assert_string_equal(json_string_value(json_object_get(o, "identity")),
	    "alice");
	assert_string_equal(json_string_value(json_object_get(o, "subject")),
	    "CN=dev \\\"one\\\"");	/* RFC 2253 escapes the quotes */
	assert_int_equal(json_array_size(json_object_get(o, "sans")), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "sans"), 0)), "DNS:dev1.example.com");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "sans"), 1)), "IP:10.1.2.3");
	assert_string_equal(json_string_value(json_object_get(o, "key")),
	    "EC prime256v1");
	assert_string_equal(json_string_value(json_object_get(o, "decision")),
	    "accepted");
	assert_true(json_is_null(json_object_get(o, "rule")));
	assert_int_equal(json_array_size(json_object_get(o, "rules")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
	assert_int_equal(json_integer_value(json_object_get(o,
	    "upstream_status")), 200);
	assert_string_equal(json_string_value(json_object_get(o, "serial")),
	    "1234");
	assert_string_equal(json_string_value(json_object_get(o, "not_after")),
	    "2027-11-27T12:00:00Z");
	assert_non_null(json_object_get(o, "time"));
	json_decref(o);
	free(line);
	/* A refusal by two rules: rule the first, rules both; no serial,
	 * upstream null. */
	rec.decision = "refused";
	rec.rule = "san.dns";
	rec.rules[0] = "san.dns";
	rec.rules[1] = "key.type";
	rec.nrules = 2;
	rec.status = 403;
	rec.upstream_status = 0;
	line = audit_format(&rec);
	assert_non_null(o = json_loads(line, 0, &jerr));
	assert_string_equal(json_string_value(json_object_get(o, "rule")),
	    "san.dns");
	assert_int_equal(json_array_size(json_object_get(o, "rules")), 2);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(o, "rules"), 1)), "key.type");
	assert_true(json_is_null(json_object_get(o, "upstream_status")));
	assert_null(json_object_get(o, "serial"));
	json_decref(o);
	free(line);
	free(resp);
	X509_REQ_free(csr);
}

/* jansson takes only UTF-8: an identity that is not (a Basic user name
 * is any bytes) is written \xNN, not dropped from the record. */
static void
test_not_utf8(void **state)
{
	struct audit_record	 rec = {
		"abc-000002", "10.1.2.3:5555", "basic", "al\"i\xff" "ce\x01",
		"-", "simpleenroll", NULL, "accepted", NULL, "ok", 200, 200,
		NULL, 0, { NULL }, 0 };
	char			*line = audit_format(&rec);
	json_t			*o;

	(void)state;
	assert_non_null(line);
	assert_non_null(o = json_loads(line, 0, NULL));
	assert_non_null(json_string_value(json_object_get(o, "identity")));
	assert_string_equal(json_string_value(json_object_get(o, "identity")),
	    "al\"i\\xffce\\x01");
	json_decref(o);
	free(line);
}

/* One IA5String SAN of type with the len bytes of v. */
static void
san_push(GENERAL_NAMES *gens, int type, const char *v, int len)
{
	GENERAL_NAME	*gn = GENERAL_NAME_new();
	ASN1_IA5STRING	*ia5 = ASN1_IA5STRING_new();

	assert_true(gn != NULL && ia5 != NULL);
	assert_int_equal(ASN1_STRING_set(ia5, v, len), 1);
	GENERAL_NAME_set0_value(gn, type, ia5);
	assert_true(sk_GENERAL_NAME_push(gens, gn) > 0);
}

/* One otherName SAN: a UPN (1.3.6.1.4.1.311.20.2.3) of the len bytes of
 * v, as a UTF8String whatever they are. */
static void
upn_push(GENERAL_NAMES *gens, const char *v, int len)
{
	GENERAL_NAME		*gn = GENERAL_NAME_new();
	ASN1_TYPE		*val = ASN1_TYPE_new();
	ASN1_UTF8STRING		*u = ASN1_UTF8STRING_new();

	assert_true(gn != NULL && val != NULL && u != NULL);
	assert_int_equal(ASN1_STRING_set(u, v, len), 1);
	ASN1_TYPE_set(val, V_ASN1_UTF8STRING, u);
	assert_int_equal(GENERAL_NAME_set0_othername(gn,
	    OBJ_nid2obj(NID_ms_upn), val), 1);
	assert_true(sk_GENERAL_NAME_push(gens, gn) > 0);
}

/* What the record says for each SAN of a hostile CSR. */
struct san_row {
	int		 type;
	const char	*v;
	int		 len;
	const char	*want;
};

static const struct san_row san_rows[] = {
	{ GEN_DNS, "a\0b.example", 11, "DNS:a\\x00b.example" },
	{ GEN_DNS, "caf\xc3\xa9.example", 13, "DNS:caf\\xc3\\xa9.example" },
	{ GEN_DNS, "x\xff", 2, "DNS:x\\xff" },
	{ GEN_DNS, "back\\slash\"q", 12, "DNS:back\\x5cslash\\x22q" },
	{ GEN_EMAIL, "a\nb@example.com", 15, "email:a\\x0ab@example.com" },
	{ GEN_URI, "urn:x\x1b[31m", 10, "URI:urn:x\\x1b[31m" },
	{ GEN_URI, "urn:dev:42", 10, "URI:urn:dev:42" },
};

/*
 * Client text in SANs is escaped, not altered: OpenSSL's printer turns a
 * NUL, control or byte above 0x7f into '.', and a name that is not UTF-8
 * would make jansson drop the entry. Each row's bytes come back from the
 * record's \xNN escapes.
 */
static void
test_sans_escaped(void **state)
{
	X509_REQ			*req = X509_REQ_new();
	GENERAL_NAMES			*gens = GENERAL_NAMES_new();
	STACK_OF(X509_EXTENSION)	*exts = sk_X509_EXTENSION_new_null();
	size_t				 n = sizeof(san_rows) /
	    sizeof(san_rows[0]);
	struct audit_record		 rec = { "abc-000002", "10.1.2.3:5555",
		"digest", "alice", "-", "simpleenroll", req, "refused",
		"san.dns", "policy san.dns: ...", 403, 0, NULL, 0,
		{ "san.dns" }, 1 };
	json_error_t			 jerr;
	json_t				*o, *sans;
	char				*line;

	char				 text[2048], *nl;
	size_t				 lines = 1;

	for (size_t i = 0; i < n; i++)
		san_push(gens, san_rows[i].type, san_rows[i].v,
		    san_rows[i].len);
	upn_push(gens, "a\nDNS:forged.example\x1b[31m\xff", 26);
	sk_X509_EXTENSION_push(exts, X509V3_EXT_i2d(NID_subject_alt_name, 0,
	    gens));
	X509_REQ_set_pubkey(req, key);
	assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	assert_non_null(line = audit_format(&rec));
	assert_non_null(o = json_loads(line, 0, &jerr));
	sans = json_object_get(o, "sans");
	assert_int_equal(json_array_size(sans), n + 1);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(sans, i)),
		    san_rows[i].want);
	/* An otherName's bytes, printed by OpenSSL as they came, are
	 * escaped too: its newline forges no second SAN, its ESC and 0xff
	 * reach no terminal. */
	assert_string_equal(json_string_value(json_array_get(sans, n)),
	    "othername:UPN:a\\x0aDNS:forged.example\\x1b[31m\\xff");
	/* The store's list, one SAN a line: exactly one line per SAN. */
	audit_sans_text(req, text, sizeof(text));
	for (nl = text; (nl = strchr(nl, '\n')) != NULL; nl++)
		lines++;
	assert_int_equal(lines, n + 1);
	json_decref(o);
	free(line);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
}

static int	done_count;

static void
on_done(void *arg, int ok)
{
	assert_true(ok);
	done_count++;
}

static void
test_writer(void **state)
{
	char			 path[] = "/tmp/estrad-test-audit-XXXXXX";
	char			 err[256], buf[256];
	struct event_base	*base = event_base_new();
	struct cfg_audit	 cfg = { path, 0 };
	struct audit		*a;
	struct audit_job	*job;
	FILE			*fp;
	int			 fd = mkstemp(path), n = 0;

	assert_true(fd >= 0);
	close(fd);
	assert_non_null(a = audit_new(base, &cfg, err, sizeof(err)));
	assert_true(audit_enabled(a));
	for (int i = 0; i < 50; i++) {
		char *line;
		assert_true(asprintf(&line, "{\"n\":%d}\n", i) > 0);
		assert_int_equal(audit_submit(a, line, on_done, NULL, &job), 0);
		assert_non_null(job);
	}
	while (done_count < 50)
		event_base_loop(base, EVLOOP_ONCE);
	audit_free(a);
	assert_non_null(fp = fopen(path, "r"));
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		char want[32];
		snprintf(want, sizeof(want), "{\"n\":%d}\n", n++);
		assert_string_equal(buf, want);
	}
	fclose(fp);
	assert_int_equal(n, 50);
	unlink(path);
	/* Disabled: nothing queued, done not called. */
	cfg.file = NULL;
	assert_non_null(a = audit_new(base, &cfg, err, sizeof(err)));
	assert_false(audit_enabled(a));
	assert_int_equal(audit_submit(a, strdup("x\n"), on_done, NULL, &job),
	    1);
	assert_null(job);
	audit_free(a);
	event_base_free(base);
}

/* What an audit on stderr writes for line in the log format fmt (the
 * line parsed: one JSON object). */
static json_t *
stderr_record(struct event_base *base, enum log_format fmt, const char *line)
{
	struct cfg_audit	 cfg = { NULL, 1 };
	struct audit		*a;
	struct audit_job	*job;
	char			 err[256], *out;
	json_t			*o;

	done_count = 0;
	log_configure(fmt, 0, 0, NULL);
	assert_non_null(a = audit_new(base, &cfg, err, sizeof(err)));
	testpki_stderr_begin();
	assert_int_equal(audit_submit(a, strdup(line), on_done, NULL, &job),
	    0);
	while (done_count < 1)
		event_base_loop(base, EVLOOP_ONCE);
	audit_free(a);
	out = testpki_stderr_end();
	log_configure(LOG_FORMAT_TEXT, 0, 0, NULL);
	assert_non_null(o = json_loads(out, 0, NULL));
	free(out);
	return o;
}

/*
 * "stderr": true with the JSON log format: the line is an ECS object
 * whose estrad.audit is the record itself (not a string), with the
 * record's id as http.request.id; the text format writes the record.
 */
static void
test_stderr_json(void **state)
{
	struct event_base	*base = event_base_new();
	const char		*rec = "{\"time\":\"t\",\"id\":\"abc-000003\","
	    "\"op\":\"simpleenroll\",\"decision\":\"refused\","
	    "\"rules\":[\"key.type\"],\"status\":403}";
	json_t			*o, *want;

	(void)state;
	assert_non_null(want = json_loads(rec, 0, NULL));
	o = stderr_record(base, LOG_FORMAT_JSON, rec);
	assert_true(json_equal(json_object_get(json_object_get(o, "estrad"),
	    "audit"), want));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    o, "event"), "dataset")), "estrad.audit");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(o, "http"), "request"), "id")), "abc-000003");
	assert_string_equal(json_string_value(json_object_get(o, "message")),
	    "audit: simpleenroll refused (403)");
	json_decref(o);
	/* The text format: the record as it is. */
	o = stderr_record(base, LOG_FORMAT_TEXT, rec);
	assert_true(json_equal(o, want));
	json_decref(o);
	json_decref(want);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_sans_escaped),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_stderr_json),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
