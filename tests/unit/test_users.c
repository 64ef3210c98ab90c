/*
 * User file tests: lookups and verification against files written by the
 * real htdigest and htpasswd (Debian's apache2-utils), and one table row
 * per mistake an operator can make, each checked against its exact
 * "FILE:LINE: problem" message. No message may quote a hash or password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "estrad/users.h"

#include "testpki.h"

#define PW_ALICE	"Planted-Alice-7"
#define PW_BOB		"Planted-Bob-8"
#define PW_CAROL	"Planted-Carol-9"

static char dir[] = "/tmp/estrad-test-users-XXXXXX";

static const char *
path_of(const char *name)
{
	static char	 path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void
write_file(const char *name, const char *text, size_t len)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path_of(name), "w"));
	assert_int_equal(fwrite(text, 1, len, fp), len);
	fclose(fp);
}

static void
run(const char *fmt, ...)
{
	char	 cmd[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

/* H(user:realm:password) in lowercase hex, with md = EVP_md5() etc. */
static void
ha1_hex(const EVP_MD *md, const char *user, const char *realm,
    const char *pw, char *out)
{
	unsigned char	 h[EVP_MAX_MD_SIZE];
	unsigned int	 hl;
	char		 in[256];

	snprintf(in, sizeof(in), "%s:%s:%s", user, realm, pw);
	assert_int_equal(EVP_Digest(in, strlen(in), h, &hl, md, NULL), 1);
	for (unsigned int i = 0; i < hl; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* Files from the real tools. Passwords come in through -b or a pipe. */
static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	run("printf '%%s\\n%%s\\n' %s %s | htdigest -c %s realm alice "
	    ">/dev/null 2>&1", PW_ALICE, PW_ALICE, path_of("htdigest"));
	run("htpasswd -cbB -C 5 %s alice %s 2>/dev/null", path_of("basic"),
	    PW_ALICE);
	run("htpasswd -b5 %s bob %s 2>/dev/null", path_of("basic"), PW_BOB);
	run("htpasswd -b5 -r 1000 %s carol %s 2>/dev/null", path_of("basic"),
	    PW_CAROL);
	/* Each legacy file: a good bcrypt line, then the refused one. */
	static const char *const legacy[] = { "m", "s", "p", "d" };
	for (size_t i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "legacy-%s", legacy[i]);
		run("htpasswd -cbB -C 4 %s alice %s 2>/dev/null",
		    path_of(name), PW_ALICE);
		run("htpasswd -b%s %s dave %s >/dev/null 2>&1", legacy[i],
		    path_of(name), PW_BOB);
	}
	return 0;
}

static int
teardown(void **state)
{
	return testpki_rmtree(dir);
}

#define HEX32	"0123456789abcdef0123456789abcdef"
#define HEX64	HEX32 HEX32
#define BCRYPT	"$2y$05$abcdefghijklmnopqrstuu" \
		"0123456789012345678901234567890"
#define SHA512C	"$6$saltsalt$" \
		"0123456789012345678901234567890123456789" \
		"0123456789012345678901234567890123456789012345"

#define NUL_TEXT "alice:realm:" HEX32 "\nbob\0:realm:" HEX32 "\n"

enum kind { HTDIGEST, HTPASSWD };

struct load_case {
	const char	*name;
	enum kind	 kind;
	const char	*text;
	size_t		 len;	/* 0: strlen(text) */
	const char	*want;	/* after "FILE:" */
};

static const struct load_case load_cases[] = {
	{ "bad hex", HTDIGEST, "# users\n\nalice:realm:" HEX32 "\n"
	  "bob:realm:0123456789abcdef0123456789abcdeg\n", 0,
	  "4: HA1 is not hexadecimal" },
	{ "plain text in htdigest", HTDIGEST, "alice:realm:secret\n", 0,
	  "1: HA1 is not hexadecimal" },
	{ "HA1 of 31 digits", HTDIGEST,
	  "alice:realm:0123456789abcdef0123456789abcde\n", 0,
	  "1: HA1 must be 32 (MD5) or 64 (SHA-256) hex digits" },
	{ "HA1 of 40 digits (SHA-1)", HTDIGEST,
	  "alice:realm:" HEX32 "01234567\n", 0,
	  "1: HA1 must be 32 (MD5) or 64 (SHA-256) hex digits" },
	{ "empty HA1", HTDIGEST, "alice:realm:\n", 0,
	  "1: HA1 must be 32 (MD5) or 64 (SHA-256) hex digits" },
	{ "missing HA1", HTDIGEST, "alice:" HEX32 "\n", 0,
	  "1: missing field (want user:realm:HA1)" },
	{ "no colon", HTDIGEST, "\n\nalice\n", 0,
	  "3: missing field (want user:realm:HA1)" },
	{ "empty user", HTDIGEST, ":realm:" HEX32 "\n", 0,
	  "1: empty user name" },
	{ "empty realm", HTDIGEST, "alice::" HEX32 "\n", 0,
	  "1: empty realm" },
	{ "duplicate MD5", HTDIGEST, "alice:realm:" HEX32 "\n"
	  "alice:realm:" HEX64 "\n# again\nalice:realm:" HEX32 "\n", 0,
	  "4: duplicate user \"alice\" in realm \"realm\" for MD5 "
	  "(first on line 1)" },
	{ "duplicate SHA-256, other case", HTDIGEST, "alice:realm:" HEX64
	  "\nalice:other:" HEX64 "\nalice:realm:" "0123456789ABCDEF"
	  "0123456789abcdef0123456789abcdef0123456789abcdef\n", 0,
	  "3: duplicate user \"alice\" in realm \"realm\" for SHA-256 "
	  "(first on line 1)" },
	{ "NUL byte", HTDIGEST, NUL_TEXT, sizeof(NUL_TEXT) - 1,
	  "2: NUL byte in line" },
	{ "missing field", HTPASSWD, "# users\nalice\n", 0,
	  "2: missing field (want user:hash)" },
	{ "empty user (basic)", HTPASSWD, ":" BCRYPT "\n", 0,
	  "1: empty user name" },
	{ "empty hash", HTPASSWD, "alice:\n", 0, "1: empty hash" },
	{ "plain text in htpasswd", HTPASSWD, "alice:secret\n", 0,
	  "1: unsupported hash (use htpasswd -B)" },
	{ "MD5-crypt $1$", HTPASSWD, "alice:$1$salt$abcdefghijklmnopqrstuv\n",
	  0, "1: unsupported hash (use htpasswd -B)" },
	{ "SHA-256-crypt $5$", HTPASSWD, "alice:$5$salt$abc\n", 0,
	  "1: unsupported hash (use htpasswd -B)" },
	{ "htdigest line as htpasswd", HTPASSWD, "alice:realm:" HEX32 "\n",
	  0, "1: unsupported hash (use htpasswd -B)" },
	{ "truncated bcrypt", HTPASSWD, "alice:$2y$05$abcdefghijklmnop\n", 0,
	  "1: malformed bcrypt hash" },
	{ "bcrypt cost 03", HTPASSWD, "alice:$2y$03$abcdefghijklmnopqrstuu"
	  "0123456789012345678901234567890\n", 0, "1: malformed bcrypt hash" },
	{ "truncated $6$", HTPASSWD, "alice:$6$saltsalt$abc\n", 0,
	  "1: malformed SHA-512-crypt hash" },
	{ "$6$ bad rounds", HTPASSWD, "alice:$6$rounds=x$saltsalt$"
	  "0123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789012345\n", 0,
	  "1: malformed SHA-512-crypt hash" },
	{ "duplicate user (basic)", HTPASSWD, "alice:" BCRYPT "\nbob:"
	  SHA512C "\r\nalice:" SHA512C "\n", 0,
	  "3: duplicate user \"alice\" (first on line 1)" },
};

static void
test_load_errors(void **state)
{
	char		 err[512], want[512];
	struct users	*u;

	for (size_t i = 0; i < sizeof(load_cases) / sizeof(*load_cases);
	    i++) {
		const struct load_case *c = &load_cases[i];

		print_message("load error: %s\n", c->name);
		write_file("bad", c->text, c->len ? c->len : strlen(c->text));
		u = c->kind == HTDIGEST ?
		    users_load_htdigest(path_of("bad"), err, sizeof(err)) :
		    users_load_htpasswd(path_of("bad"), err, sizeof(err));
		assert_null(u);
		snprintf(want, sizeof(want), "%s:%s", path_of("bad"), c->want);
		assert_string_equal(err, want);
		/* No secret in a message: no HA1, no crypt hash. */
		assert_null(strstr(err, "0123456789"));
		assert_null(strstr(err, "secret"));
		assert_null(strchr(err, '$'));
	}
}

/* Hashes written by htpasswd -m, -s, -p, -d are refused on line 2. */
static void
test_legacy_hashes(void **state)
{
	static const char *const names[] = { "legacy-m", "legacy-s",
	    "legacy-p", "legacy-d" };
	char		 err[512], want[512];

	for (size_t i = 0; i < 4; i++) {
		char *text = testpki_file_text(path_of(names[i]));

		print_message("legacy: %s\n", names[i]);
		assert_null(users_load_htpasswd(path_of(names[i]), err,
		    sizeof(err)));
		snprintf(want, sizeof(want), "%s:2: unsupported hash (use "
		    "htpasswd -B)", path_of(names[i]));
		assert_string_equal(err, want);
		assert_null(strstr(err, PW_BOB));
		assert_null(strstr(err, strrchr(text, ':') + 1));
		free(text);
	}
}

static void
test_cannot_open(void **state)
{
	char	 err[512], want[512];

	assert_null(users_load_htdigest(path_of("nonexistent"), err,
	    sizeof(err)));
	snprintf(want, sizeof(want), "cannot read %s: No such file or "
	    "directory", path_of("nonexistent"));
	assert_string_equal(err, want);
	assert_null(users_load_htpasswd(path_of("nonexistent"), err,
	    sizeof(err)));
	assert_string_equal(err, want);
}

static void
test_line_too_long(void **state)
{
	char		 err[512], want[512];
	char		*text = malloc(6000);

	assert_non_null(text);
	memset(text, 'a', 6000);
	memcpy(text, "alice:realm:" HEX32 "\n", 45);
	text[5999] = '\n';
	write_file("long", text, 6000);
	free(text);
	assert_null(users_load_htdigest(path_of("long"), err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: line too long", path_of("long"));
	assert_string_equal(err, want);
}

struct digest_lookup {
	const char	*user;
	const char	*realm;
	enum digest_alg	 alg;
	int		 which;	/* index into the expected HA1s, -1: NULL */
};

/* One file, LF or CRLF: comments, blank lines, upper-case hex. */
static void
check_digest_file(const char *eol)
{
	static const struct digest_lookup rows[] = {
		{ "alice", "realm", DIGEST_ALG_MD5, 0 },
		{ "alice", "realm", DIGEST_ALG_MD5_SESS, 0 },
		{ "alice", "realm", DIGEST_ALG_SHA256, 1 },
		{ "alice", "realm", DIGEST_ALG_SHA256_SESS, 1 },
		{ "alice", "other", DIGEST_ALG_MD5, 2 },
		{ "alice", "other", DIGEST_ALG_SHA256, -1 },
		{ "bob", "realm", DIGEST_ALG_SHA256, 3 },
		{ "bob", "realm", DIGEST_ALG_MD5, -1 },
		{ "alice", "Realm", DIGEST_ALG_MD5, -1 },
		{ "Alice", "realm", DIGEST_ALG_MD5, -1 },
		{ "carol", "realm", DIGEST_ALG_MD5, -1 },
		{ "", "realm", DIGEST_ALG_MD5, -1 },
		{ "alice", "realm", DIGEST_ALG_MAX, -1 },
	};
	char		 ha1[4][65], upper[65], text[1024], err[512];
	struct users	*u;

	ha1_hex(EVP_md5(), "alice", "realm", PW_ALICE, ha1[0]);
	ha1_hex(EVP_sha256(), "alice", "realm", PW_ALICE, ha1[1]);
	ha1_hex(EVP_md5(), "alice", "other", PW_ALICE, ha1[2]);
	ha1_hex(EVP_sha256(), "bob", "realm", PW_BOB, ha1[3]);
	for (size_t i = 0; i < 65; i++)
		upper[i] = (char)(ha1[1][i] >= 'a' && ha1[1][i] <= 'f' ?
		    ha1[1][i] - 'a' + 'A' : ha1[1][i]);
	snprintf(text, sizeof(text), "# estrad users%s%salice:realm:%s%s"
	    "alice:realm:%s%s  %s#alice:realm:%s%salice:other:%s%s"
	    "bob:realm:%s", eol, eol, ha1[0], eol, upper, eol, eol, HEX32,
	    eol, ha1[2], eol, ha1[3]);	/* no end of line at the end */
	write_file("digest", text, strlen(text));
	assert_non_null(u = users_load_htdigest(path_of("digest"), err,
	    sizeof(err)));
	/* Four lines, two users: alice (two realms, two algorithms), bob. */
	assert_int_equal(users_count(u), 4);
	assert_int_equal(users_names(u), 2);
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		const char *got = users_digest_ha1(u, rows[i].user,
		    rows[i].realm, rows[i].alg);

		print_message("lookup %s %s %d\n", rows[i].user,
		    rows[i].realm, (int)rows[i].alg);
		if (rows[i].which < 0)
			assert_null(got);
		else
			assert_string_equal(got, ha1[rows[i].which]);
	}
	assert_null(users_basic_hash(u, "alice"));
	assert_null(users_digest_ha1(u, NULL, "realm", DIGEST_ALG_MD5));
	users_free(u);
}

static void
test_digest_lookup(void **state)
{
	check_digest_file("\n");
}

static void
test_digest_crlf(void **state)
{
	check_digest_file("\r\n");
}

/* What htdigest itself wrote. */
static void
test_htdigest_tool(void **state)
{
	char		 ha1[65], err[512];
	struct users	*u;

	ha1_hex(EVP_md5(), "alice", "realm", PW_ALICE, ha1);
	assert_non_null(u = users_load_htdigest(path_of("htdigest"), err,
	    sizeof(err)));
	assert_int_equal(users_count(u), 1);
	assert_string_equal(users_digest_ha1(u, "alice", "realm",
	    DIGEST_ALG_MD5), ha1);
	assert_null(users_digest_ha1(u, "alice", "realm", DIGEST_ALG_SHA256));
	users_free(u);
}

struct verify_case {
	const char	*user;
	const char	*password;
	const char	*prefix;	/* the stored hash starts so */
	int		 ok;
};

static void
check_basic(struct users *u)
{
	static const struct verify_case rows[] = {
		{ "alice", PW_ALICE, "$2y$05$", 1 },
		{ "alice", PW_BOB, "$2y$05$", 0 },
		{ "alice", "", "$2y$05$", 0 },
		{ "alice", "Planted-Alice-", "$2y$05$", 0 },
		{ "alice", PW_ALICE "x", "$2y$05$", 0 },
		{ "bob", PW_BOB, "$6$", 1 },
		{ "bob", PW_ALICE, "$6$", 0 },
		{ "bob", "planted-bob-8", "$6$", 0 },
		{ "carol", PW_CAROL, "$6$rounds=1000$", 1 },
		{ "carol", PW_BOB, "$6$rounds=1000$", 0 },
	};

	assert_int_equal(users_count(u), 3);
	assert_int_equal(users_names(u), 3);
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		const char *h = users_basic_hash(u, rows[i].user);

		print_message("verify %s/%s\n", rows[i].user,
		    rows[i].ok ? "right" : "wrong");
		assert_non_null(h);
		assert_memory_equal(h, rows[i].prefix, strlen(rows[i].prefix));
		assert_int_equal(users_basic_verify(h, rows[i].password),
		    rows[i].ok);
	}
	assert_null(users_basic_hash(u, "dave"));
	assert_null(users_basic_hash(u, "Alice"));
	assert_null(users_basic_hash(u, NULL));
	assert_null(users_digest_ha1(u, "alice", "", DIGEST_ALG_MD5));
}

static void
test_basic_verify(void **state)
{
	char		 err[512];
	struct users	*u;

	assert_non_null(u = users_load_htpasswd(path_of("basic"), err,
	    sizeof(err)));
	check_basic(u);
	users_free(u);
}

/* The htpasswd file again, with CRLF, comments and blank lines. */
static void
test_basic_crlf(void **state)
{
	char		*text = testpki_file_text(path_of("basic")), *out, *p, err[512];
	size_t		 n = 0;
	struct users	*u;

	assert_non_null(out = calloc(1, 2 * strlen(text) + 64));
	strcpy(out, "# basic users\r\n\r\n");
	n = strlen(out);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			out[n++] = '\r';
		out[n++] = *p;
	}
	write_file("basic-crlf", out, n);
	free(text);
	free(out);
	assert_non_null(u = users_load_htpasswd(path_of("basic-crlf"), err,
	    sizeof(err)));
	check_basic(u);
	users_free(u);
}

/* $2a$, $2b$ and $2y$ name the same bcrypt in libxcrypt. */
static void
test_bcrypt_variants(void **state)
{
	char		 err[512], h[128];
	struct users	*u;

	assert_non_null(u = users_load_htpasswd(path_of("basic"), err,
	    sizeof(err)));
	snprintf(h, sizeof(h), "%s", users_basic_hash(u, "alice"));
	users_free(u);
	for (const char *v = "aby"; *v != '\0'; v++) {
		h[2] = *v;
		assert_int_equal(users_basic_verify(h, PW_ALICE), 1);
		assert_int_equal(users_basic_verify(h, PW_BOB), 0);
	}
}

/* Hashes the loader refuses are refused here too, right password or
 * not, so a stray DES or MD5-crypt hash can never authenticate. */
static void
test_verify_refuses(void **state)
{
	char	*text = testpki_file_text(path_of("legacy-d")), *des, *nl;
	char	 big[5000];

	des = strrchr(text, ':') + 1;
	if ((nl = strchr(des, '\n')) != NULL)
		*nl = '\0';
	assert_int_equal(users_basic_verify(des, PW_BOB), 0);
	free(text);
	assert_int_equal(users_basic_verify(NULL, PW_BOB), 0);
	assert_int_equal(users_basic_verify(BCRYPT, NULL), 0);
	assert_int_equal(users_basic_verify("", ""), 0);
	assert_int_equal(users_basic_verify(BCRYPT, PW_BOB), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(users_basic_verify(SHA512C, big), 0);
}

/* 10k users of each kind load fast and every one is found. */
static void
test_many_users(void **state)
{
	FILE		*dg, *bs;
	char		 err[512], user[32], hex[65];
	struct users	*ud, *ub;
	struct timespec	 t0, t1;
	const int	 n = 10000;

	assert_non_null(dg = fopen(path_of("many-digest"), "w"));
	assert_non_null(bs = fopen(path_of("many-basic"), "w"));
	for (int i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "user%05d", i);
		ha1_hex(EVP_md5(), user, "realm", "pw", hex);
		fprintf(dg, "%s:realm:%s\n", user, hex);
		fprintf(bs, "%s:%s\n", user, i % 2 ? BCRYPT : SHA512C);
	}
	fclose(dg);
	fclose(bs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_non_null(ud = users_load_htdigest(path_of("many-digest"), err,
	    sizeof(err)));
	assert_non_null(ub = users_load_htpasswd(path_of("many-basic"), err,
	    sizeof(err)));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_int_equal(users_count(ud), n);
	assert_int_equal(users_names(ud), n);
	assert_int_equal(users_count(ub), n);
	for (int i = 0; i < n; i += 7) {
		snprintf(user, sizeof(user), "user%05d", i);
		ha1_hex(EVP_md5(), user, "realm", "pw", hex);
		assert_string_equal(users_digest_ha1(ud, user, "realm",
		    DIGEST_ALG_MD5), hex);
		assert_string_equal(users_basic_hash(ub, user),
		    i % 2 ? BCRYPT : SHA512C);
	}
	assert_null(users_digest_ha1(ud, "user10000", "realm",
	    DIGEST_ALG_MD5));
	users_free(ud);
	users_free(ub);
}

static void
test_empty_and_null(void **state)
{
	char		 err[512];
	struct users	*u;

	write_file("empty", "# nobody yet\n\n", 14);
	assert_non_null(u = users_load_htdigest(path_of("empty"), err,
	    sizeof(err)));
	assert_int_equal(users_count(u), 0);
	assert_int_equal(users_names(u), 0);
	assert_null(users_digest_ha1(u, "alice", "realm", DIGEST_ALG_MD5));
	users_free(u);
	assert_int_equal(users_count(NULL), 0);
	assert_int_equal(users_names(NULL), 0);
	assert_null(users_basic_hash(NULL, "alice"));
	users_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_legacy_hashes),
		cmocka_unit_test(test_cannot_open),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_digest_lookup),
		cmocka_unit_test(test_digest_crlf),
		cmocka_unit_test(test_htdigest_tool),
		cmocka_unit_test(test_basic_verify),
		cmocka_unit_test(test_basic_crlf),
		cmocka_unit_test(test_bcrypt_variants),
		cmocka_unit_test(test_verify_refuses),
		cmocka_unit_test(test_many_users),
		cmocka_unit_test(test_empty_and_null),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
