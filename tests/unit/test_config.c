/*
 * Config loader tests: one row per mistake an operator can make, each
 * checked against the exact "FILE:LINE: key.path: problem" line.
 * Certificates and keys are made here, in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "estrad/config.h"
#include "estrad/config_locate.h"
#include "estrad/log.h"
#include "estrad/netbind.h"

#include "testpki.h"
/* The engine's own "did you mean" (cfg_nearest), tested on its tables. */
#include "../../src/config_schema_int.h"

static char dir[] = "/tmp/estrad-test-config-XXXXXX";

/* Write text to dir/name with mode (the check on secret files reads it). */
static void
write_file(const char *name, const char *text, mode_t mode)
{
	char	 path[256];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

/* key as PEM in dir/name with mode. */
static void
write_key_as(const char *name, EVP_PKEY *key, mode_t mode)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	testpki_write_key(path, mode, key, NULL);
}

/*
 * RA certificates for other.key, one per way a CA checking the TLS client
 * purpose refuses or takes it (rows below and test_ra_certificate_ok).
 */
static void
write_ra_certs(EVP_PKEY *key)
{
	static const struct {
		const char	*name;
		const char	*eku;
		const char	*ku;
	} ras[] = {
		{ "ra-server.pem", "serverAuth", NULL },
		{ "ra-two.pem", "serverAuth,1.2.3.4", NULL },
		{ "ra-nods.pem", "clientAuth", "keyEncipherment,keyAgreement" },
		{ "ra-cmc.pem", "cmcRA", "digitalSignature" },
		{ "ra-client.pem", "serverAuth,clientAuth", NULL },
		{ "ra-any.pem", NULL, NULL },
	};
	char	 path[256];
	X509	*x;

	for (size_t i = 0; i < NITEMS(ras); i++) {
		x = testpki_cert(&(struct cert_spec){ .pkey = key,
		    .subject = "CN=ra", .eku = ras[i].eku, .ku = ras[i].ku });
		snprintf(path, sizeof(path), "%s/%s", dir, ras[i].name);
		testpki_write_certs(path, 0644, x, NULL);
		X509_free(x);
	}
}

static int
setup(void **state)
{
	EVP_PKEY	*key, *other;

	if (mkdtemp(dir) == NULL)
		return -1;
	testpki_write_tls(dir, &key);	/* key.pem, cert.pem */
	other = testpki_key_new("p256");
	write_key_as("other.key", other, 0600);
	/* The server key again, as an operator might leave it: 0644. */
	write_key_as("open.key", key, 0644);
	write_ra_certs(other);
	write_file("junk.pem", "this is not PEM\n", 0644);
	write_file("password", "s3cret\n", 0600);
	write_file("group.password", "s3cret\n", 0640);
	/* htdigest files: HA1s need only look right to load. */
	write_file("users.digest", "alice:estrealm:"
	    "0123456789abcdef0123456789abcdef\n", 0600);
	write_file("realms.digest", "alice:lab:"
	    "0123456789abcdef0123456789abcdef\nbob:estrealm:"
	    "0123456789abcdef0123456789abcdef\ncarol:lab:"
	    "0123456789abcdef0123456789abcdef\n", 0600);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return 0;
}

static int
teardown(void **state)
{
	return testpki_rmtree(dir);
}

/* Write text with every "@D@" replaced by dir; returns the file's path. */
static const char *
write_config(const char *text)
{
	static char	 path[256];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/estrad.json", dir);
	assert_non_null(fp = fopen(path, "w"));
	for (const char *p = text; *p; p++) {
		if (strncmp(p, "@D@", 3) == 0) {
			fputs(dir, fp);
			p += 2;
		} else
			fputc(*p, fp);
	}
	fclose(fp);
	return path;
}

#define TLS_OK \
	"  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\", " \
	"\"client_ca\": \"@D@/cert.pem\"},\n"
#define LOCAL_OK \
	"  \"local_cas\": {\"lab\": {\"certificate\": \"@D@/cert.pem\", " \
	"\"key\": \"@D@/key.pem\"}},\n"
#define LISTEN_OK	"  \"listen\": [\"127.0.0.1:0\"],\n"
#define ROUTE_OK	"  \"default\": {\"local_ca\": \"lab\"}\n"

struct config_case {
	const char	*name;
	const char	*text;
	const char	*want;	/* the first error, after "FILE:"; @D@ = dir */
	size_t		 nerr;
};

static const struct config_case cases[] = {
	{ "unknown top-level key",
	  "{\n" LISTEN_OK "  \"bogus\": 1,\n" TLS_OK LOCAL_OK ROUTE_OK "}\n",
	  "3: bogus: unknown key", 1 },
	{ "unknown nested key",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\n    \"max_body\": 5\n  },\n" ROUTE_OK "}\n",
	  "6: limits.max_body: unknown key", 1 },
	{ "misspelt nested key",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\n    \"max_body_byte\": 5000\n  },\n" ROUTE_OK "}\n",
	  "6: limits.max_body_byte: unknown key (did you mean max_body_bytes?)",
	  1 },
	{ "misspelt key written with an escape",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_headers\": 50,\n"
	  "    \"max_body_b\\u0079te\": 5000\n  },\n" ROUTE_OK "}\n",
	  "6: limits.max_body_byte: unknown key (did you mean max_body_bytes?)",
	  1 },
	{ "misspelt top-level key",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK "  \"upstream\": {},\n" ROUTE_OK "}\n",
	  "5: upstream: unknown key (did you mean upstreams?)", 1 },
	{ "unknown key too far from any",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"admin\": {\"listen_address\": \"127.0.0.1:9\"},\n" ROUTE_OK "}\n",
	  "5: admin.listen_address: unknown key", 1 },
	{ "listen not an array",
	  "{\n  \"listen\": \"127.0.0.1:8443\",\n" TLS_OK LOCAL_OK ROUTE_OK "}\n",
	  "2: listen: must be a non-empty array of \"host:port\" strings", 1 },
	{ "listen bad address",
	  "{\n  \"listen\": [\"127.0.0.1:0\",\n   \"localhost:99999\"],\n"
	  TLS_OK LOCAL_OK ROUTE_OK "}\n",
	  "3: listen[1]: must be \"address:port\" (\"[v6address]:port\" for "
	  "IPv6)", 1 },
	{ "listen missing",
	  "{\n" TLS_OK LOCAL_OK ROUTE_OK "}\n",
	  "1: listen: is required (e.g. [\"127.0.0.1:8443\"])", 1 },
	{ "integer out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_body_bytes\": 10},\n" ROUTE_OK "}\n",
	  "5: limits.max_body_bytes: 10 is out of range [1024, 16777216]", 1 },
	{ "integer given as a string",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_header_bytes\": \"8192\"},\n" ROUTE_OK "}\n",
	  "5: limits.max_header_bytes: must be a whole number, not a string", 1 },
	{ "integer given with a fraction",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_headers\": 2.5},\n" ROUTE_OK "}\n",
	  "5: limits.max_headers: must be a whole number, not 2.5", 1 },
	{ "seconds given as a string",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"read_timeout\": \"30\"},\n" ROUTE_OK "}\n",
	  "5: limits.read_timeout: must be a number of seconds, not a string",
	  1 },
	{ "seconds out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"idle_timeout\": 0},\n" ROUTE_OK "}\n",
	  "5: limits.idle_timeout: 0 is out of range [0.1, 86400]", 1 },
	{ "header count out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_headers\": 0},\n" ROUTE_OK "}\n",
	  "5: limits.max_headers: 0 is out of range [1, 10000]", 1 },
	{ "handshake timeout out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"handshake_timeout\": 301},\n" ROUTE_OK "}\n",
	  "5: limits.handshake_timeout: 301 is out of range [0.1, 300]", 1 },
	{ "connection limit out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_connections\": 0},\n" ROUTE_OK "}\n",
	  "5: limits.max_connections: 0 is out of range [1, 1000000]", 1 },
	{ "per-address connection limit negative",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"limits\": {\"max_connections_per_address\": -1},\n"
	  ROUTE_OK "}\n",
	  "5: limits.max_connections_per_address: -1 is out of range "
	  "[0, 1000000]", 1 },
	{ "tls session cache out of range",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"session_cache\": -1},\n" ROUTE_OK "}\n",
	  "5: tls.session_cache: -1 is out of range [0, 1000000]", 1 },
	{ "tls ciphers not ECDHE+AEAD",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"ciphers\": \"ECDHE-ECDSA-AES128-GCM-SHA256:AES128-SHA\"},\n" ROUTE_OK "}\n",
	  "5: tls.ciphers: AES128-SHA is not ECDHE with an AEAD cipher", 1 },
	{ "tls ciphers unknown",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"ciphers\": \"NO-SUCH-SUITE\"},\n" ROUTE_OK "}\n",
	  "5: tls.ciphers: OpenSSL knows no TLS 1.2 suite in \"NO-SUCH-SUITE\"", 1 },
	{ "tls ciphersuites unknown",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"ciphersuites\": \"TLS_NO_SUCH\"},\n" ROUTE_OK "}\n",
	  "5: tls.ciphersuites: OpenSSL refuses the TLS 1.3 suites \"TLS_NO_SUCH\"", 1 },
	{ "tls groups unknown",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"groups\": \"X25519:P-999\"},\n" ROUTE_OK "}\n",
	  "5: tls.groups: OpenSSL refuses the groups \"X25519:P-999\"", 1 },
	{ "tls groups finite-field",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"groups\": \"X25519:P-256:ffdhe8192\"},\n" ROUTE_OK "}\n",
	  "5: tls.groups: ffdhe8192 is a finite-field group: each handshake "
	  "with it costs the server up to 130 ms of CPU; use elliptic curves "
	  "(X25519, P-256, P-384, X448, P-521)", 1 },
	{ "tls groups finite-field, OpenSSL 3.5 syntax",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"groups\": \"*X25519/?ffdhe3072:P-256\"},\n" ROUTE_OK "}\n",
	  "5: tls.groups: ffdhe3072 is a finite-field group: each handshake "
	  "with it costs the server up to 130 ms of CPU; use elliptic curves "
	  "(X25519, P-256, P-384, X448, P-521)", 1 },
	{ "tls groups finite-field, any case",
	  "{\n" LISTEN_OK LOCAL_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", "
	  "\"key\": \"@D@/key.pem\",\n"
	  "          \"groups\": \"FFDHE2048\"},\n" ROUTE_OK "}\n",
	  "5: tls.groups: FFDHE2048 is a finite-field group: each handshake "
	  "with it costs the server up to 130 ms of CPU; use elliptic curves "
	  "(X25519, P-256, P-384, X448, P-521)", 1 },
	{ "tls missing",
	  "{\n" LISTEN_OK LOCAL_OK ROUTE_OK "}\n",
	  "1: tls: is required (certificate and key)", 1 },
	{ "tls key missing",
	  "{\n" LISTEN_OK "  \"tls\": {\"certificate\": \"@D@/cert.pem\"},\n"
	  LOCAL_OK ROUTE_OK "}\n",
	  "3: tls.key: is required", 1 },
	{ "tls key file missing",
	  "{\n" LISTEN_OK "  \"tls\": {\"certificate\": \"@D@/cert.pem\",\n"
	  "          \"key\": \"@D@/nokey.pem\"},\n" LOCAL_OK ROUTE_OK "}\n",
	  "4: tls.key: cannot read @D@/nokey.pem: No such file or directory",
	  1 },
	{ "tls key does not match",
	  "{\n" LISTEN_OK "  \"tls\": {\"certificate\": \"@D@/cert.pem\",\n"
	  "          \"key\": \"@D@/other.key\"},\n" LOCAL_OK ROUTE_OK "}\n",
	  "4: tls.key: @D@/other.key does not match the certificate in "
	  "@D@/cert.pem", 1 },
	{ "tls key readable by others",
	  "{\n" LISTEN_OK "  \"tls\": {\"certificate\": \"@D@/cert.pem\",\n"
	  "          \"key\": \"@D@/open.key\"},\n" LOCAL_OK ROUTE_OK "}\n",
	  "4: tls.key: @D@/open.key is readable by group or others (mode "
	  "0644); chmod 600 it", 1 },
	{ "password_file readable by group",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"auth\": \"basic\", \"username\": \"ra\",\n"
	  "    \"password_file\": \"@D@/group.password\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "6: upstreams.ca.password_file: @D@/group.password is readable by "
	  "group or others (mode 0640); chmod 600 it", 1 },
	{ "local CA key readable by others",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"local_cas\": {\"lab\": {\"certificate\": \"@D@/cert.pem\",\n"
	  "    \"key\": \"@D@/open.key\"}},\n" ROUTE_OK "}\n",
	  "5: local_cas.lab.key: @D@/open.key is readable by group or others "
	  "(mode 0644); chmod 600 it", 1 },
	{ "user that does not exist",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"user\": \"no-such-estrad-user\",\n" ROUTE_OK "}\n",
	  "5: user: no such user \"no-such-estrad-user\"", 1 },
	{ "run_as_root with a user",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"user\": \"nobody\",\n  \"run_as_root\": true,\n" ROUTE_OK "}\n",
	  "6: run_as_root: contradicts \"user\"", 1 },
	{ "wrong type for a path",
	  "{\n" LISTEN_OK "  \"tls\": {\"certificate\": 7, \"key\": "
	  "\"@D@/key.pem\"},\n" LOCAL_OK ROUTE_OK "}\n",
	  "3: tls.certificate: must be a non-empty string, not an integer", 1 },
	{ "upstream not https",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"url\": \"http://ca/.well-known/est\"}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.url: must be an https:// URL", 1 },
	{ "upstream url required",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"timeout\": 3}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.url: is required", 1 },
	{ "upstream url list empty",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"url\": []}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.url: must list 1 to 8 URLs", 1 },
	{ "upstream url list with a plain http URL",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"url\": [\n"
	  "      \"https://a/.well-known/est\",\n"
	  "      \"http://b/.well-known/est\"]}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "7: upstreams.ca.url[1]: must be an https:// URL", 1 },
	{ "upstream url listed twice",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"url\": [\n"
	  "      \"https://a/.well-known/est\",\n"
	  "      \"https://a/.well-known/est\"]}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "7: upstreams.ca.url[1]: https://a/.well-known/est is listed twice",
	  1 },
	{ "upstream url with a password in it",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\n    \"ca\": {\"url\": "
	  "\"https://ra:pw@ca/.well-known/est\"}\n"
	  "  },\n  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.url: must not hold user:password@ (use username "
	  "and password_file)", 1 },
	{ "upstream backoff_max below backoff_initial",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://a/.well-known/est\",\n"
	  "    \"backoff_initial\": 10,\n    \"backoff_max\": 2}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "6: upstreams.ca.backoff_max: is less than backoff_initial", 1 },
	{ "cache without state_dir",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"cache\": {\"ttl\": 60},\n" ROUTE_OK "}\n",
	  "5: cache: needs \"state_dir\" (where the cache is kept across "
	  "restarts)", 1 },
	{ "queue without state_dir",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"queue\": {},\n" ROUTE_OK "}\n",
	  "5: queue: needs \"state_dir\" (where the queue is kept across "
	  "restarts)", 1 },
	{ "state_dir relative",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"state_dir\": \"var/estrad\",\n" ROUTE_OK "}\n",
	  "5: state_dir: must be an absolute path", 1 },
	{ "cache max_stale below ttl",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"state_dir\": \"@D@/state\",\n"
	  "  \"cache\": {\"ttl\": 600,\n    \"max_stale\": 60},\n"
	  ROUTE_OK "}\n",
	  "7: cache.max_stale: 60 is less than cache.ttl (600): use 0 to "
	  "serve nothing stale", 1 },
	{ "queue expire too short",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"state_dir\": \"@D@/state\",\n"
	  "  \"queue\": {\"expire\": 5},\n" ROUTE_OK "}\n",
	  "6: queue.expire: 5 is out of range [60, 31536000]", 1 },
	{ "client certificate without key",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"client_certificate\": \"@D@/cert.pem\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "4: upstreams.ca.client_key: is required with client_certificate",
	  1 },
	{ "RA certificate for TLS servers only",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"client_certificate\": \"@D@/ra-server.pem\",\n"
	  "    \"client_key\": \"@D@/other.key\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.client_certificate: @D@/ra-server.pem has "
	  "extendedKeyUsage serverAuth only; the CA will refuse it as a TLS "
	  "client certificate: it needs clientAuth or id-kp-cmcRA", 1 },
	{ "RA certificate with two EKUs, neither for a TLS client",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"client_key\": \"@D@/other.key\",\n"
	  "    \"client_certificate\": \"@D@/ra-two.pem\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "6: upstreams.ca.client_certificate: @D@/ra-two.pem has "
	  "extendedKeyUsage serverAuth, 1.2.3.4 only; the CA will refuse it "
	  "as a TLS client certificate: it needs clientAuth or id-kp-cmcRA",
	  1 },
	{ "RA certificate whose key may not sign",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"client_certificate\": \"@D@/ra-nods.pem\",\n"
	  "    \"client_key\": \"@D@/other.key\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.client_certificate: @D@/ra-nods.pem has keyUsage "
	  "keyEncipherment, keyAgreement without digitalSignature; the CA "
	  "will refuse it as a TLS client certificate: its key signs the "
	  "handshake", 1 },
	{ "upstream auth without credentials",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"auth\": \"basic\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.auth: basic needs username and password_file", 1 },
	{ "upstream auth unknown",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"upstreams\": {\"ca\": {\"url\": \"https://ca/.well-known/est\",\n"
	  "    \"auth\": \"ntlm\"}},\n"
	  "  \"default\": {\"upstream\": \"ca\"}\n}\n",
	  "5: upstreams.ca.auth: must be one of none, basic, digest, not \"ntlm\"",
	  1 },
	{ "route to an unknown upstream",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"default\": {\"upstream\": \"nope\"}\n}\n",
	  "5: default.upstream: no upstream named \"nope\" in upstreams", 1 },
	{ "control characters from the file are escaped (one line)",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"default\": {\"upstream\": \"ce\\nntral\\u001b[2J\"}\n}\n",
	  "5: default.upstream: no upstream named \"ce\\x0antral\\x1b[2J\" "
	  "in upstreams", 1 },
	{ "route with two backends",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\n    \"east\": {\"upstream\": \"x\", \"local_ca\": "
	  "\"lab\"}\n  }\n}\n",
	  "6: labels.east: needs exactly one of \"upstream\" or \"local_ca\"",
	  1 },
	{ "operation name as a label",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\n    \"cacerts\": {\"local_ca\": \"lab\"}\n  }\n}\n",
	  "6: labels.cacerts: not a valid CA label (1-64 of A-Z a-z 0-9 - . _ ~, "
	  "not an EST operation name)", 1 },
	{ "no route at all",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK "  \"log_level\": \"info\"\n}\n",
	  "1: labels: no route: set \"default\" or at least one label", 1 },
	{ "bad log level",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK "  \"log_level\": \"loud\",\n"
	  ROUTE_OK "}\n",
	  "5: log_level: must be one of error, warn, info, debug, not \"loud\"",
	  1 },
	{ "log level not a string",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK "  \"log_level\": 3,\n"
	  ROUTE_OK "}\n",
	  "5: log_level: must be one of error, warn, info, debug, not an "
	  "integer", 1 },
	{ "bad syslog facility",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK "  \"syslog_facility\": \"local9\",\n"
	  ROUTE_OK "}\n",
	  "5: syslog_facility: must be one of daemon, user, auth, authpriv, "
	  "local0, local1, local2, local3, local4, local5, local6, local7, not "
	  "\"local9\"", 1 },
	{ "JSON syntax error",
	  "{\n" LISTEN_OK TLS_OK "  \"x\": [1, 2,,]\n}\n",
	  "4: -: JSON syntax: unexpected token near ','", 1 },
	{ "duplicate key",
	  "{\n" LISTEN_OK LISTEN_OK TLS_OK LOCAL_OK ROUTE_OK "}\n",
	  "3: -: JSON syntax: duplicate object key near '\"listen\"'", 1 },
	{ "tls missing among other errors",
	  "{\n" LISTEN_OK "  \"zz\": 1,\n" LOCAL_OK ROUTE_OK "}\n",
	  "1: tls: is required (certificate and key)", 2 },
	{ "tls not an object",
	  "{\n" LISTEN_OK "  \"tls\": [],\n" LOCAL_OK ROUTE_OK "}\n",
	  "3: tls: must be an object, not an array", 1 },
	{ "enrollment open to no one",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\"},\n"
	  LOCAL_OK "  \"labels\": {\"lab\": {\"local_ca\": \"lab\"}}\n}\n",
	  "5: labels.lab: simpleenroll, simplereenroll, serverkeygen, fullcmc "
	  "would admit no client: their defaults, digest or cert, need "
	  "auth.digest_users or tls.client_ca; set one, or refuse them in "
	  "\"auth\" (\"simpleenroll\": \"refuse\")", 1 },
	{ "digest only: simplereenroll's default needs a certificate",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\"},\n"
	  "  \"auth\": {\"digest_users\": \"@D@/users.digest\"},\n"
	  LOCAL_OK ROUTE_OK "}\n",
	  "6: default: simplereenroll would admit no client: its default, "
	  "cert, needs tls.client_ca; set tls.client_ca, list a method in "
	  "\"auth\" (e.g. \"simplereenroll\": [\"digest\"]), or refuse it in "
	  "\"auth\" (\"simplereenroll\": \"refuse\")", 1 },
	{ "one operation, two methods, neither verifiable",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\"},\n"
	  LOCAL_OK "  \"default\": {\"local_ca\": \"lab\", \"auth\": {\n"
	  "    \"simplereenroll\": \"open\", \"serverkeygen\": \"refuse\",\n"
	  "    \"fullcmc\": \"refuse\"}}\n}\n",
	  "5: default: simpleenroll would admit no client: its defaults, digest "
	  "or cert, need auth.digest_users or tls.client_ca; set one, or "
	  "refuse it in \"auth\" (\"simpleenroll\": \"refuse\")", 1 },
	{ "digest users in another realm",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"auth\": {\"realm\": \"corp\",\n"
	  "    \"digest_users\": \"@D@/realms.digest\"},\n" LOCAL_OK ROUTE_OK
	  "}\n",
	  "5: auth.digest_users: @D@/realms.digest has no user in realm "
	  "\"corp\" (auth.realm), only in \"lab\", \"estrealm\": every Digest "
	  "login would fail; set auth.realm to the file's realm, or write the "
	  "file for \"corp\" (htdigest FILE \"corp\" USER)", 1 },
	{ "digest users file missing: said once",
	  "{\n" LISTEN_OK TLS_OK
	  "  \"auth\": {\"digest_users\": \"@D@/nonexistent\"},\n"
	  LOCAL_OK ROUTE_OK "}\n",
	  "4: auth.digest_users: cannot read @D@/nonexistent: No such file or "
	  "directory", 1 },
	{ "auth [] is ambiguous",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"serverkeygen\": []}}}\n}\n",
	  "6: labels.lab.auth.serverkeygen: [] is ambiguous: write \"open\" to "
	  "let anyone in, or \"refuse\" to turn the operation off", 1 },
	{ "auth word unknown",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"serverkeygen\": \"off\"}}}\n}\n",
	  "6: labels.lab.auth.serverkeygen: must be a list of methods (digest, "
	  "basic, cert), \"open\" or \"refuse\", not \"off\"", 1 },
	{ "auth neither list nor word",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"serverkeygen\": false}}}\n}\n",
	  "6: labels.lab.auth.serverkeygen: must be a list of methods (digest, "
	  "basic, cert), \"open\" or \"refuse\", not a boolean", 1 },
	{ "auth method that cannot work",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"simpleenroll\": [\"digest\"]}}}\n}\n",
	  "6: labels.lab.auth.simpleenroll: digest needs auth.digest_users", 1 },
	{ "auth method unknown",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"simpleenroll\": [\"password\"]}}}\n}\n",
	  "6: labels.lab.auth.simpleenroll: unknown method \"password\" (digest, "
	  "basic, cert)", 1 },
	{ "auth method not a string",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"simpleenroll\": [1]}}}\n}\n",
	  "6: labels.lab.auth.simpleenroll: a method must be a string (digest, "
	  "basic, cert), not an integer", 1 },
	{ "auth method echoed on one line",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"simpleenroll\": [\"cert\\nificate\"]}}}\n}\n",
	  "6: labels.lab.auth.simpleenroll: unknown method \"cert\\x0aificate\" "
	  "(digest, basic, cert)", 1 },
	{ "auth operation misspelt",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"default\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"simpleenrol\": []}}\n}\n",
	  "6: default.auth.simpleenrol: not an EST operation (did you mean "
	  "simpleenroll?)", 1 },
	{ "auth for an unknown operation",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"auth\": {\"enroll\": []}}}\n}\n",
	  "6: labels.lab.auth.enroll: not an EST operation", 1 },
	{ "nonce secret too short",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"nonce_secret_file\": \"@D@/password\"},\n" ROUTE_OK "}\n",
	  "5: auth.nonce_secret_file: @D@/password holds 7 bytes; at least 32 "
	  "are needed (head -c 32 /dev/urandom > FILE)", 1 },
	{ "realm with a quote",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"realm\": \"a\\\"b\"},\n" ROUTE_OK "}\n",
	  "5: auth.realm: must not contain '\"' or '\\'", 1 },
	{ "CRL without client CA",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\", "
	  "\"client_crl\": \"@D@/cert.pem\"},\n" LOCAL_OK
	  "  \"default\": {\"local_ca\": \"lab\", \"auth\": {\"simpleenroll\": "
	  "\"open\", \"simplereenroll\": \"open\", \"serverkeygen\": "
	  "\"refuse\", \"fullcmc\": \"refuse\"}}\n}\n",
	  "3: tls.client_crl: needs tls.client_ca", 1 },
	{ "digest algorithms not an array",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_algorithms\": \"MD5\"},\n" ROUTE_OK "}\n",
	  "5: auth.digest_algorithms: must be an array of \"MD5\" and/or "
	  "\"SHA-256\", preferred first", 1 },
	{ "digest algorithms empty",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_algorithms\": []},\n" ROUTE_OK "}\n",
	  "5: auth.digest_algorithms: must be an array of \"MD5\" and/or "
	  "\"SHA-256\", preferred first", 1 },
	{ "digest algorithm unknown",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_algorithms\": [\"SHA-256\",\n"
	  "    \"MD5-sess\"]},\n" ROUTE_OK "}\n",
	  "6: auth.digest_algorithms[1]: must be \"MD5\" or \"SHA-256\"", 1 },
	{ "digest algorithm twice",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_algorithms\": [\"MD5\", \"MD5\"]},\n"
	  ROUTE_OK "}\n",
	  "5: auth.digest_algorithms[1]: is listed twice", 1 },
	{ "digest uri without label not a boolean",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_uri_without_label\": 1},\n" ROUTE_OK "}\n",
	  "5: auth.digest_uri_without_label: must be true or false, not an "
	  "integer", 1 },
	{ "intermediates without client CA",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\", "
	  "\"client_intermediates\": \"@D@/cert.pem\"},\n" LOCAL_OK
	  "  \"default\": {\"local_ca\": \"lab\", \"auth\": {\"simpleenroll\": "
	  "\"open\", \"simplereenroll\": \"open\", \"serverkeygen\": "
	  "\"refuse\", \"fullcmc\": \"refuse\"}}\n}\n",
	  "3: tls.client_intermediates: needs tls.client_ca", 1 },
	{ "intermediates file without a certificate",
	  "{\n" LISTEN_OK
	  "  \"tls\": {\"certificate\": \"@D@/cert.pem\", \"key\": \"@D@/key.pem\", "
	  "\"client_ca\": \"@D@/cert.pem\",\n"
	  "    \"client_intermediates\": \"@D@/password\"},\n" LOCAL_OK
	  ROUTE_OK "}\n",
	  "4: tls.client_intermediates: @D@/password: no certificate found", 1 },
	/* Deeper than the locator walks: it must skip, not loop. */
	{ "deep nesting",
	  "{\n  \"listen\": " "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"a]b\""
	  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\n"
	  "  \"x\": 1\n}\n",
	  "1: tls: is required (certificate and key)", 4 },
	{ "digest users file with a bad line",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"auth\": {\"digest_users\": \"@D@/password\"},\n" ROUTE_OK "}\n",
	  "5: auth.digest_users: @D@/password:1: missing field (want "
	  "user:realm:HA1)", 1 },
	{ "policy with a bad CIDR",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"policies\": {\"p\": {\"san\": {\n"
	  "    \"ip\": [\"10.0.0.0/8\",\n           \"10.0.0.0/33\"]}}},\n"
	  ROUTE_OK "}\n",
	  "7: policies.p.san.ip[1]: not a CIDR (a.b.c.d/n or x::/n)", 1 },
	{ "policy with an unknown channel_binding",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"policies\": {\"codes\": {\"keys\": {\"rsa\": false},\n"
	  "    \"channel_binding\": \"none\"}},\n" ROUTE_OK "}\n",
	  "6: policies.codes.channel_binding: must be one of optional, required, "
	  "off, not \"none\"", 1 },
	{ "route naming an unknown policy",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"labels\": {\"lab\": {\"local_ca\": \"lab\",\n"
	  "    \"policy\": \"nope\"}}\n}\n",
	  "6: labels.lab.policy: no policy named \"nope\" in policies", 1 },
	{ "route naming a policy that did not compile: no cascade",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"policies\": {\"strict\": {\"keys\": {\"rsa_min_bitz\": 2048}}},\n"
	  "  \"default\": {\"local_ca\": \"lab\", \"policy\": \"strict\"}\n}\n",
	  "5: policies.strict.keys.rsa_min_bitz: unknown key (did you mean "
	  "rsa_min_bits?)", 1 },
	{ "policy that is not an object, named by a route",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"policies\": {\"strict\": []},\n"
	  "  \"default\": {\"local_ca\": \"lab\", \"policy\": \"strict\"}\n}\n",
	  "5: policies.strict: must be an object, not an array", 1 },
	{ "audit stderr not a boolean",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"audit\": {\"stderr\": \"yes\"},\n" ROUTE_OK "}\n",
	  "5: audit.stderr: must be true or false, not a string", 1 },
	{ "admin connection cap out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"admin\": {\"max_connections\": 0},\n" ROUTE_OK "}\n",
	  "5: admin.max_connections: 0 is out of range [1, 1024]", 1 },
	{ "admin listener on a listen address",
	  "{\n  \"listen\": [\"127.0.0.1:0\", \"127.0.0.1:8443\"],\n"
	  TLS_OK LOCAL_OK
	  "  \"admin\": {\"listen\": \"127.0.0.1:8443\"},\n" ROUTE_OK "}\n",
	  "5: admin.listen: 127.0.0.1:8443 is also in listen", 1 },
	{ "admin listener under a listen wildcard",
	  "{\n  \"listen\": [\"[::]:8443\", \"0.0.0.0:8443\"],\n"
	  TLS_OK LOCAL_OK
	  "  \"admin\": {\"listen\": \"127.0.0.1:8443\"},\n" ROUTE_OK "}\n",
	  "5: admin.listen: 127.0.0.1:8443 overlaps 0.0.0.0:8443 in listen", 1 },
	{ "admin listener on a listen address, IPv6",
	  "{\n  \"listen\": [\"[::1]:8443\"],\n" TLS_OK LOCAL_OK
	  "  \"admin\": {\"listen\": \"[::]:8443\"},\n" ROUTE_OK "}\n",
	  "5: admin.listen: [::]:8443 overlaps [::1]:8443 in listen", 1 },
	{ "admin timeout out of range",
	  "{\n" LISTEN_OK TLS_OK LOCAL_OK
	  "  \"admin\": {\"timeout\": 301},\n" ROUTE_OK "}\n",
	  "5: admin.timeout: 301 is out of range [0.1, 300]", 1 },
	{ "problems sorted by line, not by the order of the checks",
	  "{\n  \"default\": {\"upstream\": \"nope\"},\n" LISTEN_OK TLS_OK
	  LOCAL_OK "  \"limits\": {\"max_headers\": 0}\n}\n",
	  "2: default.upstream: no upstream named \"nope\" in upstreams", 2 },
	{ "several errors in one run",
	  "{\n" LISTEN_OK "  \"a\": 1,\n  \"b\": 2,\n" TLS_OK LOCAL_OK
	  ROUTE_OK "}\n",
	  "3: a: unknown key", 2 },
};

/* Expand "@D@" in want. */
static void
expand(char *out, size_t outlen, const char *want)
{
	size_t n = 0;

	for (const char *p = want; *p && n + 1 < outlen; p++) {
		if (strncmp(p, "@D@", 3) == 0) {
			n += (size_t)snprintf(out + n, outlen - n, "%s", dir);
			p += 2;
		} else
			out[n++] = *p;
	}
	out[n] = '\0';
}

static void
test_errors(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct config_case *c = &cases[i];
		struct config_errors	 errs = { NULL, 0 };
		const char		*path = write_config(c->text);
		char			 want[1024], full[1200];
		struct config		*cfg;

		print_message("case: %s\n", c->name);
		cfg = config_load(path, &errs);
		assert_null(cfg);
		expand(want, sizeof(want), c->want);
		snprintf(full, sizeof(full), "%s:%s", path, want);
		assert_true(errs.n >= 1);
		assert_string_equal(errs.lines[0], full);
		assert_int_equal(errs.n, c->nerr);
		config_errors_clear(&errs);
	}
}

/* path loaded with no problem at all (each one printed if not). */
static struct config *
load_clean(const char *path)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*cfg = config_load(path, &errs);

	for (size_t i = 0; i < errs.n; i++)
		print_message("unexpected: %s\n", errs.lines[i]);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	return cfg;
}

/*
 * RA certificates a CA takes as TLS client certificates: id-kp-cmcRA
 * without clientAuth (RFC 7030 §3.7's RA certificate), clientAuth beside
 * serverAuth, and no EKU at all (any purpose, RFC 5280 §4.2.1.12).
 */
static void
test_ra_certificate_ok(void **state)
{
	static const char *const files[] = {
		"ra-cmc.pem", "ra-client.pem", "ra-any.pem",
	};
	char text[1024];

	for (size_t i = 0; i < NITEMS(files); i++) {
		print_message("RA certificate %s\n", files[i]);
		snprintf(text, sizeof(text), "{\n" LISTEN_OK TLS_OK
		    "  \"upstreams\": {\"ca\": {\"url\": "
		    "\"https://ca/.well-known/est\",\n"
		    "    \"client_certificate\": \"@D@/%s\",\n"
		    "    \"client_key\": \"@D@/other.key\"}},\n"
		    "  \"default\": {\"upstream\": \"ca\"}\n}\n", files[i]);
		config_free(load_clean(write_config(text)));
	}
}

static void
test_valid_and_defaults(void **state)
{
	const char		*path = write_config("{\n"
	    "  \"listen\": [\"127.0.0.1:0\", \"[::1]:8443\"],\n" TLS_OK LOCAL_OK
	    "  \"upstreams\": {\"ca\": {\"url\": \"https://ca:8443/.well-known/est\",\n"
	    "    \"auth\": \"digest\", \"username\": \"ra\",\n"
	    "    \"password_file\": \"@D@/password\", \"timeout\": 2.5}},\n"
	    "  \"labels\": {\"east\": {\"upstream\": \"ca\", "
	    "\"upstream_label\": \"branch\"},\n"
	    "             \"lab\": {\"local_ca\": \"lab\"}},\n" ROUTE_OK "}\n");
	struct config		*cfg = load_clean(path);
	const struct cfg_route	*r;

	assert_int_equal(cfg->nlisten, 2);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->limits.max_body_bytes, 65536);
	assert_int_equal(cfg->limits.max_header_bytes, 8192);
	assert_int_equal(cfg->limits.read_timeout_ms, 30000);
	assert_int_equal(cfg->limits.idle_timeout_ms, 60000);
	assert_int_equal(cfg->limits.max_headers, 100);
	assert_int_equal(cfg->limits.handshake_timeout_ms, 10000);
	assert_int_equal(cfg->limits.max_connections, 4096);
	assert_int_equal(cfg->limits.max_connections_per_address, 128);
	assert_int_equal(cfg->tls.client_verify_depth, 4);
	assert_int_equal(cfg->tls.session_cache, 1024);
	assert_null(cfg->tls.client_intermediates);
	assert_int_equal(cfg->auth.ndigest_algs, 0);	/* automatic */
	assert_true(cfg->auth.digest_uri_without_label);
	assert_int_equal(cfg->upstreams[0].timeout_ms, 2500);
	assert_int_equal(cfg->upstreams[0].connect_timeout_ms, 5000);
	assert_int_equal(cfg->upstreams[0].max_in_flight, 64);
	assert_int_equal(cfg->upstreams[0].auth, UPSTREAM_AUTH_DIGEST);
	assert_string_equal(cfg->upstreams[0].password, "s3cret");
	assert_int_equal(cfg->local_cas[0].validity_days, 365);
	assert_non_null(r = config_route(cfg, "east"));
	assert_int_equal(r->backend, ROUTE_BACKEND_UPSTREAM);
	assert_string_equal(r->upstream_label, "branch");
	assert_non_null(r = config_route(cfg, NULL));
	assert_int_equal(r->backend, ROUTE_BACKEND_LOCAL_CA);
	assert_null(config_route(cfg, "west"));
	assert_int_equal(cfg->upstreams[0].nurls, 1);
	assert_string_equal(cfg->upstreams[0].url,
	    "https://ca:8443/.well-known/est");
	assert_int_equal(cfg->upstreams[0].backoff_initial_ms, 1000);
	assert_int_equal(cfg->upstreams[0].backoff_max_ms, 300000);
	assert_int_equal(cfg->upstreams[0].failure_threshold, 3);
	assert_null(cfg->state_dir);
	assert_false(cfg->cache.enabled);
	assert_false(cfg->queue.enabled);
	config_free(cfg);
}

/*
 * Per operation: a list of methods, "open" (no credentials) or "refuse"
 * (answered 501 by est.c); a htdigest file in auth.realm loads.
 */
static void
test_auth_open_refuse(void **state)
{
	const char		*path = write_config("{\n"
	    LISTEN_OK TLS_OK LOCAL_OK
	    "  \"auth\": {\"digest_users\": \"@D@/users.digest\"},\n"
	    "  \"labels\": {\"lab\": {\"local_ca\": \"lab\", \"auth\": {\n"
	    "    \"serverkeygen\": \"refuse\", \"csrattrs\": \"refuse\",\n"
	    "    \"simpleenroll\": \"open\", \"fullcmc\": [\"cert\"]}}},\n"
	    ROUTE_OK "}\n");
	struct config		*cfg = load_clean(path);
	const struct cfg_route	*r;

	assert_non_null(r = config_route(cfg, "lab"));
	assert_int_equal(r->refused, (1u << EST_OP_SERVERKEYGEN) |
	    (1u << EST_OP_CSRATTRS));
	assert_int_equal(r->auth[EST_OP_SIMPLEENROLL], 0);
	assert_int_equal(r->auth[EST_OP_FULLCMC], AUTH_BIT(AUTH_METHOD_CERT));
	assert_int_equal(r->auth[EST_OP_SIMPLEREENROLL],
	    AUTH_BIT(AUTH_METHOD_CERT));
	assert_non_null(r = config_route(cfg, NULL));
	assert_int_equal(r->refused, 0);
	config_free(cfg);
}

/*
 * Loaded as root with "user": the files that user cannot read are noted in
 * cfg->as_user (errors for -n, warnings at start), not load errors. The
 * test directory is root's 0700, so nobody reads nothing in it, the config
 * file first. Not root, or no nobody: nothing to check.
 */
static void
test_as_user(void **state)
{
	const char		*path;
	struct config		*cfg;
	char			 want[1024];

	if (getuid() != 0 || getpwnam("nobody") == NULL) {
		print_message("not root, or no user nobody: skipped\n");
		return;
	}
	path = write_config("{\n" LISTEN_OK "  \"user\": \"nobody\",\n"
	    TLS_OK LOCAL_OK ROUTE_OK "}\n");
	cfg = load_clean(path);
	assert_true(cfg->as_user.n >= 2);
	snprintf(want, sizeof(want), "%s:0: -: the config file %s is not "
	    "readable by user nobody (Permission denied); a reload after the "
	    "privilege drop would fail", path, path);
	assert_string_equal(cfg->as_user.lines[0], want);
	snprintf(want, sizeof(want), "%s:4: tls.certificate: %s/cert.pem is "
	    "not readable by user nobody (Permission denied); a reload after "
	    "the privilege drop would fail", path, dir);
	assert_string_equal(cfg->as_user.lines[1], want);
	config_free(cfg);
	/* As root without "user": nothing to try. */
	cfg = load_clean(write_config("{\n" LISTEN_OK TLS_OK LOCAL_OK
	    "  \"run_as_root\": true,\n" ROUTE_OK "}\n"));
	assert_int_equal(cfg->as_user.n, 0);
	config_free(cfg);
}

/* "channel_binding": "off" (enrollment codes for the CA) loads. */
static void
test_binding_off(void **state)
{
	const char		*path = write_config("{\n"
	    LISTEN_OK TLS_OK LOCAL_OK
	    "  \"policies\": {\"codes\": {\"channel_binding\": \"off\"}},\n"
	    "  \"labels\": {\"codes\": {\"local_ca\": \"lab\", "
	    "\"policy\": \"codes\"}},\n" ROUTE_OK "}\n");
	struct config		*cfg = load_clean(path);
	const struct cfg_route	*r;

	assert_non_null(r = config_route(cfg, "codes"));
	assert_ptr_equal(r->policy, cfg->policies[0].policy);
	assert_ptr_not_equal(r->policy, cfg->default_policy);
	config_free(cfg);
}

static void
test_offline(void **state)
{
	const char		*path = write_config("{\n"
	    LISTEN_OK TLS_OK
	    "  \"upstreams\": {\"ca\": {\"url\": [\"https://a/.well-known/est\",\n"
	    "    \"https://b:8443/.well-known/est\"], \"backoff_initial\": 0.5,\n"
	    "    \"backoff_max\": 30, \"failure_threshold\": 1}},\n"
	    "  \"state_dir\": \"@D@/state\",\n"
	    "  \"cache\": {\"ttl\": 120},\n"
	    "  \"queue\": {\"retry_after\": 30, \"max_entries\": 5},\n"
	    "  \"default\": {\"upstream\": \"ca\"}\n}\n");
	struct config		*cfg = load_clean(path);
	const struct cfg_upstream *u;

	u = &cfg->upstreams[0];
	assert_int_equal(u->nurls, 2);
	assert_string_equal(u->urls[0], "https://a/.well-known/est");
	assert_string_equal(u->urls[1], "https://b:8443/.well-known/est");
	assert_string_equal(u->url, u->urls[0]);
	assert_int_equal(u->backoff_initial_ms, 500);
	assert_int_equal(u->backoff_max_ms, 30000);
	assert_int_equal(u->failure_threshold, 1);
	assert_non_null(strstr(cfg->state_dir, "/state"));
	assert_true(cfg->cache.enabled);
	assert_int_equal(cfg->cache.ttl, 120);
	assert_int_equal(cfg->cache.max_stale, 604800);
	assert_true(cfg->queue.enabled);
	assert_int_equal(cfg->queue.retry_after, 30);
	assert_int_equal(cfg->queue.max_entries, 5);
	assert_int_equal(cfg->queue.expire, 604800);
	assert_int_equal(cfg->queue.max_forwarding, 4);
	assert_int_equal(cfg->queue.poll_interval, 60);
	config_free(cfg);
}

/* ESTRAD_* variables replace keys before the checks. */
static void
test_environment(void **state)
{
	struct config_errors	 errs = { NULL, 0 };
	const char		*path = write_config("{\n"
	    LISTEN_OK TLS_OK
	    "  \"upstreams\": {\"ca\": {\"url\": \"https://a/.well-known/est\"}},\n"
	    "  \"default\": {\"upstream\": \"ca\"}\n}\n");
	struct config		*cfg;

	setenv("ESTRAD_LISTEN", "127.0.0.1:8443, [::1]:8443", 1);
	setenv("ESTRAD_LOG_LEVEL", "debug", 1);
	setenv("ESTRAD_ADMIN_LISTEN", "127.0.0.1:9191", 1);
	setenv("ESTRAD_UPSTREAM_URL", "https://b/.well-known/est,"
	    "https://c/.well-known/est", 1);
	cfg = load_clean(path);
	assert_int_equal(cfg->nlisten, 2);
	assert_string_equal(cfg->listen[0], "127.0.0.1:8443");
	assert_string_equal(cfg->listen[1], "[::1]:8443");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_true(cfg->admin.enabled);
	assert_string_equal(cfg->admin.listen, "127.0.0.1:9191");
	/* The admin section made from the environment has the defaults. */
	assert_int_equal(cfg->admin.max_connections, 32);
	assert_int_equal(cfg->admin.timeout_ms, 10000);
	assert_int_equal(cfg->upstreams[0].nurls, 2);
	assert_string_equal(cfg->upstreams[0].urls[1],
	    "https://c/.well-known/est");
	config_free(cfg);
	/* A bad value gets the file's own error, naming the variable. */
	setenv("ESTRAD_LOG_FORMAT", "xml", 1);
	assert_null(config_load(path, &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.lines[0], "ESTRAD_LOG_FORMAT: log_format: "
	    "must be one of text, json, not \"xml\"");
	config_errors_clear(&errs);
	unsetenv("ESTRAD_LOG_FORMAT");
	/* An element of a list, a key of a section, an upstream's URL. */
	setenv("ESTRAD_LISTEN", "127.0.0.1:8443,nowhere", 1);
	setenv("ESTRAD_ADMIN_LISTEN", "127.0.0.1", 1);
	setenv("ESTRAD_UPSTREAM_URL", "ftp://b/", 1);
	assert_null(config_load(path, &errs));
	for (size_t i = 0; i < errs.n; i++)
		print_message("%s\n", errs.lines[i]);
	assert_int_equal(errs.n, 3);
	assert_string_equal(errs.lines[0], "ESTRAD_LISTEN: listen[1]: must be "
	    "\"address:port\" (\"[v6address]:port\" for IPv6)");
	assert_string_equal(errs.lines[1], "ESTRAD_UPSTREAM_URL: "
	    "upstreams.ca.url: must be an https:// URL");
	assert_string_equal(errs.lines[2], "ESTRAD_ADMIN_LISTEN: admin.listen: "
	    "must be \"address:port\" (\"[v6address]:port\" for IPv6)");
	config_errors_clear(&errs);
	unsetenv("ESTRAD_LISTEN");
	unsetenv("ESTRAD_LOG_LEVEL");
	unsetenv("ESTRAD_ADMIN_LISTEN");
	unsetenv("ESTRAD_UPSTREAM_URL");
	unsetenv("ESTRAD_LOG_FORMAT");
}

/* What config_restart_notes() writes on stderr (freed by the caller). */
static char *
restart_notes(const struct config *old, const struct config *cfg)
{
	testpki_stderr_begin();
	log_init(LOG_LEVEL_INFO);
	config_restart_notes(old, cfg);
	return testpki_stderr_end();
}

/* A reload names the CFG_F_RESTART keys that changed, and only those. */
static void
test_restart_notes(void **state)
{
	struct config	*a, *b, *c;
	char		*out;

	a = load_clean(write_config("{\n" LISTEN_OK TLS_OK LOCAL_OK ROUTE_OK
	    "}\n"));
	b = load_clean(write_config("{\n  \"listen\": [\"127.0.0.1:1\"],\n"
	    TLS_OK LOCAL_OK "  \"state_dir\": \"/var/lib/x\",\n"
	    "  \"log_level\": \"debug\", \"limits\": {\"max_headers\": 9},\n"
	    "  \"auth\": {\"realm\": \"r\", \"replay_slots\": 64, "
	    "\"digest_algorithms\": [\"SHA-256\"]},\n" ROUTE_OK "}\n"));
	c = load_clean(write_config("{\n" LISTEN_OK TLS_OK LOCAL_OK
	    "  \"admin\": {\"timeout\": 2},\n"
	    "  \"audit\": {\"stderr\": true},\n" ROUTE_OK "}\n"));
	out = restart_notes(a, b);
	assert_non_null(strstr(out, "reload: listen, state_dir changed: they "
	    "take effect at the next restart\n"));
	assert_non_null(strstr(out, "reload: the auth section changed: it "
	    "takes effect at the next restart (auth.realm, auth.replay_slots, "
	    "auth.digest_algorithms; the user files themselves reload)\n"));
	free(out);
	/* An admin section that appears: its keys, one line; the audit log
	 * is opened once, at start. */
	out = restart_notes(a, c);
	assert_non_null(strstr(out, "audit.stderr, admin.listen, "
	    "admin.max_connections, admin.timeout changed: they take effect "
	    "at the next restart\n"));
	assert_null(strstr(out, "auth"));
	free(out);
	out = restart_notes(b, b);
	assert_string_equal(out, "");
	free(out);
	config_free(a);
	config_free(b);
	config_free(c);
}

static void
test_missing_file(void **state)
{
	struct config_errors errs = { NULL, 0 };

	assert_null(config_load("/nonexistent/estrad.json", &errs));
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.lines[0], "/nonexistent/estrad.json:0: -: "
	    "cannot open: No such file or directory");
	config_errors_clear(&errs);
}

/*
 * Files with NUL bytes (found by fuzz_config: "[  2\0]" sent the line
 * locator round for ever): a clear error, at once, and the locator ends
 * on such text and still finds the lines of what it can read.
 */
static void
test_nul_bytes(void **state)
{
	static const char *const texts[] = {
		"[  2\0]", "{\"a\": 1\0}", "{\"a\": [1, \0, 2]}", "\0",
		"{\"a\":\n {\"b\": [\"x\", {\"c\": 1}]}}",
	};
	static const size_t lens[] = { 6, 9, 16, 1, 30 };
	struct config_errors	 errs = { NULL, 0 };
	struct locator		 loc;
	char			 path[256];
	FILE			*fp;

	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/nul.json", dir);
		assert_non_null(fp = fopen(path, "w"));
		assert_int_equal(fwrite(texts[i], 1, lens[i], fp), lens[i]);
		fclose(fp);
		assert_null(config_load(path, &errs));
		assert_true(errs.n >= 1);
		config_errors_clear(&errs);
		loc_scan(&loc, texts[i], lens[i]);
		loc_free(&loc);
	}
	loc_scan(&loc, texts[4], lens[4]);
	assert_int_equal(loc_line(&loc, "a"), 1);
	assert_int_equal(loc_line(&loc, "a.b"), 2);
	assert_int_equal(loc_line(&loc, "a.b[1].c"), 2);
	loc_free(&loc);
}

/*
 * Keys are found by their value, escapes decoded as jansson decodes them
 * (RFC 8259 §7): \uXXXX, a surrogate pair, the short escapes; a text cut
 * inside an escape ends the walk without reading past it.
 */
static void
test_locate_escapes(void **state)
{
	static const char text[] = "{\n"
	    "\"max_body_b\\u0079te\": 1,\n"
	    "\"caf\\u00e9\": 2,\n"
	    "\"\\ud83d\\ude00\": 3,\n"
	    "\"a\\/b\\\"c\": 4,\n"
	    "\"bad\\uzz\": 5}";
	static const char cut[] = "{\"a\\u00";
	struct locator loc;

	loc_scan(&loc, text, sizeof(text) - 1);
	assert_int_equal(loc_line(&loc, "max_body_byte"), 2);
	assert_int_equal(loc_line(&loc, "caf\xc3\xa9"), 3);
	assert_int_equal(loc_line(&loc, "\xf0\x9f\x98\x80"), 4);
	assert_int_equal(loc_line(&loc, "a/b\"c"), 5);
	assert_int_equal(loc_line(&loc, "baduzz"), 6);
	loc_free(&loc);
	loc_scan(&loc, cut, sizeof(cut) - 1);
	loc_free(&loc);
}

/* Port 0 is a fresh port for each listener: no clash. Nor across families. */
static void
test_admin_no_clash(void **state)
{
	static const char *const texts[] = {
	    "{\n" LISTEN_OK TLS_OK LOCAL_OK
	    "  \"admin\": {\"listen\": \"127.0.0.1:0\"},\n" ROUTE_OK "}\n",
	    "{\n  \"listen\": [\"[::]:8443\"],\n" TLS_OK LOCAL_OK
	    "  \"admin\": {\"listen\": \"0.0.0.0:8443\"},\n" ROUTE_OK "}\n",
	    "{\n  \"listen\": [\"127.0.0.1:8443\"],\n" TLS_OK LOCAL_OK
	    "  \"admin\": {\"listen\": \"127.0.0.2:8443\"},\n" ROUTE_OK "}\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		config_free(load_clean(write_config(texts[i])));
}

/* "Did you mean": the nearest key of the table, if near enough. */
static void
test_nearest(void **state)
{
	static const char *const ops[] = { "cacerts", "csrattrs",
	    "simpleenroll", "simplereenroll", "serverkeygen", "fullcmc", NULL };
	static const struct {
		const struct cfg_field	*table;	/* NULL: ops */
		const char		*key;
		const char		*want;	/* NULL: no suggestion */
	} rows[] = {
		{ limits_fields, "max_body_byte", "max_body_bytes" },
		{ limits_fields, "max_bdoy_bytes", "max_body_bytes" },
		{ limits_fields, "max_body", NULL },
		{ limits_fields, "idle_timeout", "idle_timeout" },
		{ admin_fields, "listen_address", NULL },
		{ admin_fields, "lsiten", "listen" },
		{ admin_fields, "x", NULL },
		{ config_top_fields, "upstream", "upstreams" },
		{ config_top_fields, "log_levle", "log_level" },
		{ config_top_fields, "bogus", NULL },
		{ config_top_fields, "", NULL },
		{ NULL, "simpleenrol", "simpleenroll" },
		{ NULL, "simplereenrol", "simplereenroll" },
		{ NULL, "cacert", "cacerts" },
		{ NULL, "enroll", NULL },
		{ NULL, "a-key-longer-than-the-sixty-four-bytes-the-table-holds-"
		  "xxxxxxxxxxxx", NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = rows[i].table ?
		    cfg_nearest(rows[i].key, rows[i].table,
		    sizeof(*rows[i].table)) :
		    cfg_nearest(rows[i].key, ops, sizeof(*ops));
		print_message("nearest %s\n", rows[i].key);
		if (rows[i].want == NULL)
			assert_null(got);
		else
			assert_string_equal(got, rows[i].want);
	}
}

static void
test_parse_address(void **state)
{
	static const struct {
		const char	*text;
		int		 ok;
	} rows[] = {
		{ "127.0.0.1:0", 1 }, { "0.0.0.0:8443", 1 }, { "[::1]:443", 1 },
		{ "[::]:65535", 1 }, { "::1:443", 0 }, { "127.0.0.1", 0 },
		{ "127.0.0.1:", 0 }, { "127.0.0.1:65536", 0 },
		{ "127.0.0.1:-1", 0 }, { "localhost:443", 0 },
		{ "[127.0.0.1]:443", 0 }, { ":443", 0 }, { "1.2.3.4:44x", 0 },
	};
	struct sockaddr_storage	ss;
	socklen_t		len;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("address %s\n", rows[i].text);
		assert_int_equal(config_parse_address(rows[i].text, &ss, &len),
		    rows[i].ok ? 0 : -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_valid_and_defaults),
		cmocka_unit_test(test_auth_open_refuse),
		cmocka_unit_test(test_as_user),
		cmocka_unit_test(test_ra_certificate_ok),
		cmocka_unit_test(test_binding_off),
		cmocka_unit_test(test_offline),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_parse_address),
		cmocka_unit_test(test_nearest),
		cmocka_unit_test(test_admin_no_clash),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_locate_escapes),
		cmocka_unit_test(test_restart_notes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
