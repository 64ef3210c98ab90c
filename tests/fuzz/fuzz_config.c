/*
 * fuzz_config: the config loader (config_load in src/config*.c, with the
 * policy compiler of src/policy*.c, the user files, the PKI files it
 * checks). The config is the operator's, not a client's, but a loader
 * that crashes or leaks on a typo is a daemon that does not start, or a
 * reload (SIGHUP) that takes a running one down.
 *
 * Input: the config file's text. Every "@D@" in it is replaced by a
 * scratch directory made once per process (mkdtemp under /tmp, removed at
 * exit), which holds what a config points at: cert.pem and key.pem (an
 * EC pair, key 0600), other.key (not cert.pem's), ca.pem, crl.pem (a CRL
 * by ca.pem), chain.pem, open.key (0644: refused as a secret),
 * password, nonce.secret (40 bytes), users.htdigest (MD5 and SHA-256
 * HA1s), users.htpasswd (SHA-512-crypt and bcrypt), junk.pem, and the
 * state/ directory. The text is written to @D@/estrad.json and loaded;
 * relative paths are the working directory's: the loader creates an
 * audit file it is given, so tools/fuzz.sh and ctest run the harnesses in
 * a scratch directory of the build (build-fuzz/run/NAME, tests/fuzz/run),
 * and an input whose audit file lies elsewhere is skipped.
 *
 * Invariants: a config is returned exactly when no problem is reported;
 * every problem is one line "FILE:LINE: ..." of this file, with no
 * control byte in it;
 * a loaded config is consistent (listen addresses, routes pointing at
 * existing upstreams or local CAs, labels router_label_valid() accepts, a
 * policy on every route) and frees through config_ref/config_unref.
 */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <jansson.h>

#include "estrad/config.h"
#include "estrad/netbind.h"
#include "estrad/router.h"
#include "fuzz.h"

static char	 dir[] = "/tmp/estrad-fuzz-config-XXXXXX";
static char	 cfgpath[sizeof(dir) + 16];
static int	 verbose;	/* FUZZ_VERBOSE=1: print the problems */

static void
write_text(const char *name, const char *text, mode_t mode)
{
	char	 path[256];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FUZZ_CHECK((fp = fopen(path, "w")) != NULL);
	fputs(text, fp);
	fclose(fp);
	FUZZ_CHECK(chmod(path, mode) == 0);
}

static FILE *
open_out(const char *name, mode_t mode)
{
	char	 path[256];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FUZZ_CHECK((fp = fopen(path, "w")) != NULL);
	FUZZ_CHECK(chmod(path, mode) == 0);
	return fp;
}

static void
write_key(const char *name, mode_t mode, EVP_PKEY *key)
{
	FILE *fp = open_out(name, mode);

	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
}

static X509 *
make_cert(const char *cn, EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer)
{
	X509		*x = X509_new();
	X509_NAME	*n = X509_get_subject_name(x);

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	FUZZ_CHECK(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void
write_pki(void)
{
	EVP_PKEY	*key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	EVP_PKEY	*cakey = EVP_EC_gen("P-256");
	X509		*ca, *cert;
	X509_CRL	*crl = X509_CRL_new();
	ASN1_TIME	*t = ASN1_TIME_new();
	FILE		*fp;

	FUZZ_CHECK(key != NULL && other != NULL && cakey != NULL);
	ca = make_cert("fuzz CA", cakey, cakey, NULL);
	cert = make_cert("localhost", key, cakey, ca);

	write_key("key.pem", 0600, key);
	write_key("open.key", 0644, key);	/* readable by others */
	write_key("other.key", 0600, other);
	write_key("ca.key", 0600, cakey);
	fp = open_out("cert.pem", 0644);
	PEM_write_X509(fp, cert);
	fclose(fp);
	fp = open_out("ca.pem", 0644);
	PEM_write_X509(fp, ca);
	fclose(fp);
	fp = open_out("chain.pem", 0644);
	PEM_write_X509(fp, cert);
	PEM_write_X509(fp, ca);
	fclose(fp);

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_gmtime_adj(t, 0);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, 86400);
	X509_CRL_set1_nextUpdate(crl, t);
	FUZZ_CHECK(X509_CRL_sign(crl, cakey, EVP_sha256()) > 0);
	fp = open_out("crl.pem", 0644);
	PEM_write_X509_CRL(fp, crl);
	fclose(fp);

	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	EVP_PKEY_free(cakey);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
cleanup(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[256];

	verbose = getenv("FUZZ_VERBOSE") != NULL;
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	snprintf(cfgpath, sizeof(cfgpath), "%s/estrad.json", dir);
	write_pki();
	write_text("password", "s3cret\n", 0600);
	write_text("nonce.secret", "0123456789abcdef0123456789abcdef-fuzz!!\n",
	    0600);
	write_text("users.htdigest",
	    "device1:estrealm:4ace8ff73f2137461ec4d6c7f8385d0d\n"
	    "device1:estrealm:3c0e6a59f07d5ab1397ec187c30fdb23"
	    "1840547430ba024a590357c5c2dfda17\n", 0600);
	write_text("users.htpasswd",
	    "device1:$6$fuzzsalt$iDTMfLlIWXnU0u/ucN8Rvel1jyy/OslJpB.sv1b7aqQ"
	    "g/Na4Y9B47sFqgSiQ4wv/4SbFVVCnHAGIJVpklv8Rc.\n"
	    "device2:$2y$04$GmWsH26nKfkXw9V5/KjpM.BhkGSQB7QPxCXzZREUNGzdyIQ"
	    "AAql0u\n", 0600);
	write_text("junk.pem", "this is not PEM\n", 0644);
	snprintf(path, sizeof(path), "%s/state", dir);
	FUZZ_CHECK(mkdir(path, 0700) == 0);
	return 0;
}

/*
 * The loader creates the audit file it is given (O_CREAT, O_APPEND: it
 * never truncates), and the fuzzer runs as whoever started it: an input
 * whose audit.file is neither under the scratch directory nor a plain
 * name (in the working directory, a scratch one) is not loaded. Parsed
 * more leniently than the loader does (duplicates allowed, the last one
 * kept), so whatever the loader would accept is seen here.
 */
static int
audit_file_ok(const char *text, size_t len)
{
	json_t		*root, *audit, *file;
	const char	*f;
	size_t		 dlen = strlen(dir);
	int		 ok = 1;

	if ((root = json_loadb(text, len, 0, NULL)) == NULL)
		return 0;
	if ((audit = json_object_get(root, "audit")) != NULL &&
	    (file = json_object_get(audit, "file")) != NULL &&
	    json_is_string(file)) {
		f = json_string_value(file);
		ok = strstr(f, "..") == NULL && (strchr(f, '/') == NULL ||
		    (strncmp(f, dir, dlen) == 0 && f[dlen] == '/'));
	}
	json_decref(root);
	return ok ? 0 : -1;
}

/* The input with "@D@" replaced, written to cfgpath; 0, or -1 if the
 * config would make the loader create a file outside the scratch
 * directories. */
static int
write_config(const uint8_t *data, size_t size)
{
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0;
	int	 rc;

	FUZZ_CHECK((fp = open_memstream(&text, &len)) != NULL);
	for (size_t i = 0; i < size; i++) {
		if (i + 3 <= size && memcmp(data + i, "@D@", 3) == 0) {
			fputs(dir, fp);
			i += 2;
		} else
			fputc(data[i], fp);
	}
	FUZZ_CHECK(fclose(fp) == 0);
	if ((rc = audit_file_ok(text, len)) == 0) {
		FUZZ_CHECK((fp = fopen(cfgpath, "w")) != NULL);
		FUZZ_CHECK(fwrite(text, 1, len, fp) == len || len == 0);
		FUZZ_CHECK(fclose(fp) == 0);
	}
	free(text);
	return rc;
}

static void
check_config(struct config *cfg)
{
	FUZZ_CHECK(cfg->refs == 1);
	FUZZ_CHECK(cfg->path != NULL && strcmp(cfg->path, cfgpath) == 0);
	FUZZ_CHECK(cfg->nlisten >= 1 && cfg->listen != NULL);
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct sockaddr_storage	ss;
		socklen_t		len;

		FUZZ_CHECK(config_parse_address(cfg->listen[i], &ss, &len) ==
		    0);
	}
	FUZZ_CHECK(cfg->default_policy != NULL);
	for (size_t i = 0; i < cfg->nupstreams; i++) {
		const struct cfg_upstream *u = &cfg->upstreams[i];

		FUZZ_CHECK(u->name != NULL && u->nurls >= 1 &&
		    u->urls != NULL && u->url != NULL &&
		    strcmp(u->url, u->urls[0]) == 0);
		FUZZ_CHECK(u->auth < UPSTREAM_AUTH_MAX);
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];

		FUZZ_CHECK(r->index == i);
		FUZZ_CHECK(r->policy != NULL);
		FUZZ_CHECK(r->label == NULL || router_label_valid(r->label));
		if (r->backend == ROUTE_BACKEND_UPSTREAM)
			FUZZ_CHECK(r->upstream < cfg->nupstreams);
		else
			FUZZ_CHECK(r->backend == ROUTE_BACKEND_LOCAL_CA &&
			    r->local_ca < cfg->nlocal_cas);
		for (int op = 0; op < EST_OP_MAX; op++)
			FUZZ_CHECK((r->auth[op] & ~7u) == 0);
	}
	for (size_t i = 0; i < cfg->npolicies; i++)
		FUZZ_CHECK(cfg->policies[i].name != NULL &&
		    cfg->policies[i].policy != NULL);
	if (cfg->auth.nonce_secret_file != NULL)
		FUZZ_CHECK(cfg->auth.nonce_secret != NULL &&
		    cfg->auth.nonce_secret_len >= 32);
	FUZZ_CHECK(cfg->log_format < LOG_FORMAT_MAX);
	/* A request's reference outlives a reload's unref. */
	FUZZ_CHECK(config_ref(cfg) == cfg && cfg->refs == 2);
	config_unref(cfg);
	FUZZ_CHECK(cfg->refs == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*cfg;
	size_t			 plen = strlen(cfgpath);
	const char		*p;

	/* Beyond the loader's 1 MiB cap it only says so. */
	if (size > 64 * 1024)
		return 0;
	if (write_config(data, size) == -1)
		return 0;
	cfg = config_load(cfgpath, &errs);
	FUZZ_CHECK((cfg != NULL) == (errs.n == 0));
	for (size_t i = 0; i < errs.n; i++) {
		const char *e = errs.lines[i];

		FUZZ_CHECK(e != NULL);
		if (verbose)
			fprintf(stderr, "%s\n", e);
		FUZZ_CHECK(strncmp(e, cfgpath, plen) == 0 && e[plen] == ':');
		p = e + plen + 1;
		FUZZ_CHECK(*p >= '0' && *p <= '9');
		while (*p >= '0' && *p <= '9')
			p++;
		FUZZ_CHECK(p[0] == ':' && p[1] == ' ');
		/* The file's own strings are quoted with control bytes
		 * escaped (finding-newline-in-problem). */
		for (p = e; *p != '\0'; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	config_errors_clear(&errs);
	if (cfg != NULL) {
		if (verbose)
			fprintf(stderr, "loaded\n");
		check_config(cfg);
		config_unref(cfg);
	}
	return 0;
}
