/*
 * users: the Digest and Basic user files. A loaded set is immutable: a
 * reload builds a new set and the caller swaps pointers, so lookups need
 * no lock. Entries live in an open-addressing hash table keyed on (user,
 * realm, HA1 length) for htdigest and on user for htpasswd; 100k lines
 * load in about a tenth of a second.
 *
 * Every hash is treated as a secret: an HA1 is password-equivalent for
 * Digest, and a crypt hash invites offline guessing. No error message
 * quotes one, and every buffer that held one (line buffer, stdio buffer,
 * entries, crypt scratch space) is wiped before it is freed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crypt.h>
#include <openssl/crypto.h>

#include "estrad/digest.h"
#include "estrad/keyhash.h"
#include "estrad/users.h"

#define USERS_LINE_MAX		4096	/* user + realm + hash, with room */
#define USERS_PASSWORD_MAX	4096	/* SHA-512-crypt cost grows with it */

enum users_kind { USERS_HTDIGEST, USERS_HTPASSWD };

/* One line of a file; user, realm and hash point into buf. */
struct users_entry {
	const char	*ue_user;
	const char	*ue_realm;	/* "" for htpasswd */
	const char	*ue_hash;	/* lowercase HA1 hex, or crypt hash */
	size_t		 ue_hexlen;	/* 32 or 64 for htdigest, else 0 */
	uint64_t	 ue_hv;
	unsigned long	 ue_line;
	size_t		 ue_size;	/* of the whole allocation, to wipe */
	char		 ue_buf[];
};

struct users {
	enum users_kind		  u_kind;
	struct users_entry	**u_entries;
	size_t			  u_count;
	size_t			  u_cap;
	uint32_t		 *u_slots;	/* entry index + 1; 0 is empty */
	size_t			  u_nslots;	/* a power of two */
};

/* A line being parsed, for error messages. */
struct users_src {
	const char	*us_path;
	unsigned long	 us_line;
	char		*us_err;
	size_t		 us_errlen;
};

static void users_fail(struct users_src *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
users_fail(struct users_src *src, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (src->us_errlen > 0)
		snprintf(src->us_err, src->us_errlen, "%s:%lu: %s",
		    src->us_path, src->us_line, msg);
}

/*
 * keyhash over user NUL realm NUL hexlen. The table's keys come from the
 * operator's file, but every lookup is a client's user name: keyed, no
 * name a client picks lands on a known long probe run.
 */
static uint64_t
users_hash(const char *user, const char *realm, size_t hexlen)
{
	struct keyhash_ctx c;

	keyhash_start(&c);
	keyhash_add(&c, user, strlen(user) + 1);
	keyhash_add(&c, realm, strlen(realm) + 1);
	keyhash_add(&c, &hexlen, sizeof(hexlen));
	return keyhash_end(&c);
}

/* The entry matching the key, or NULL. */
static const struct users_entry *
users_find(const struct users *u, const char *user, const char *realm,
    size_t hexlen)
{
	uint64_t		 hv;
	size_t			 i, mask;
	const struct users_entry *e;

	if (u == NULL || u->u_nslots == 0 || user == NULL || realm == NULL)
		return NULL;
	hv = users_hash(user, realm, hexlen);
	mask = u->u_nslots - 1;
	for (i = hv & mask; u->u_slots[i] != 0; i = (i + 1) & mask) {
		e = u->u_entries[u->u_slots[i] - 1];
		if (e->ue_hv == hv && e->ue_hexlen == hexlen &&
		    strcmp(e->ue_user, user) == 0 &&
		    strcmp(e->ue_realm, realm) == 0)
			return e;
	}
	return NULL;
}

static void
users_slot_put(uint32_t *slots, size_t nslots, uint64_t hv, uint32_t idx)
{
	size_t	 i, mask = nslots - 1;

	for (i = hv & mask; slots[i] != 0; i = (i + 1) & mask)
		;
	slots[i] = idx + 1;
}

/* Keep the table at most half full; doubles the slots and entries. */
static int
users_grow(struct users *u)
{
	struct users_entry	**entries;
	uint32_t		 *slots;
	size_t			  cap, nslots, i;

	if (u->u_count < u->u_cap)
		return 0;
	if (u->u_cap >= UINT32_MAX / 4)
		return -1;
	cap = u->u_cap == 0 ? 64 : u->u_cap * 2;
	nslots = cap * 2;
	entries = reallocarray(u->u_entries, cap, sizeof(*entries));
	if (entries == NULL)
		return -1;
	u->u_entries = entries;
	if ((slots = calloc(nslots, sizeof(*slots))) == NULL)
		return -1;
	for (i = 0; i < u->u_count; i++)
		users_slot_put(slots, nslots, entries[i]->ue_hv, (uint32_t)i);
	free(u->u_slots);
	u->u_slots = slots;
	u->u_nslots = nslots;
	u->u_cap = cap;
	return 0;
}

static void
users_entry_free(struct users_entry *e)
{
	if (e != NULL) {
		OPENSSL_cleanse(e, e->ue_size);
		free(e);
	}
}

/*
 * Add (user, realm, hash) from the current line. Fails on a duplicate
 * key or on allocation failure, with the message in src.
 */
static int
users_add(struct users *u, struct users_src *src, const char *user,
    const char *realm, const char *hash, size_t hexlen)
{
	const struct users_entry *dup;
	struct users_entry	 *e;
	size_t			  ul = strlen(user), rl = strlen(realm);
	size_t			  hl = strlen(hash), size;

	if ((dup = users_find(u, user, realm, hexlen)) != NULL) {
		if (u->u_kind == USERS_HTPASSWD)
			users_fail(src, "duplicate user \"%s\" (first on "
			    "line %lu)", user, dup->ue_line);
		else
			users_fail(src, "duplicate user \"%s\" in realm "
			    "\"%s\" for %s (first on line %lu)", user, realm,
			    hexlen == 32 ? "MD5" : "SHA-256", dup->ue_line);
		return -1;
	}
	size = sizeof(*e) + ul + rl + hl + 3;
	if (users_grow(u) == -1 || (e = calloc(1, size)) == NULL) {
		users_fail(src, "out of memory");
		return -1;
	}
	e->ue_size = size;
	memcpy(e->ue_buf, user, ul + 1);
	memcpy(e->ue_buf + ul + 1, realm, rl + 1);
	memcpy(e->ue_buf + ul + rl + 2, hash, hl + 1);
	e->ue_user = e->ue_buf;
	e->ue_realm = e->ue_buf + ul + 1;
	e->ue_hash = e->ue_buf + ul + rl + 2;
	e->ue_hexlen = hexlen;
	e->ue_hv = users_hash(user, realm, hexlen);
	e->ue_line = src->us_line;
	u->u_entries[u->u_count] = e;
	users_slot_put(u->u_slots, u->u_nslots, e->ue_hv,
	    (uint32_t)u->u_count);
	u->u_count++;
	return 0;
}

static int
users_is_hex(const char *s)
{
	for (; *s != '\0'; s++)
		if (strchr("0123456789abcdefABCDEF", *s) == NULL)
			return 0;
	return 1;
}

/* One htdigest line, "user:realm:HA1", modified in place. The realm may
 * hold ':' (RFC 7616 allows it); the user name may not. */
static int
users_parse_htdigest(struct users *u, struct users_src *src, char *line)
{
	char	*realm, *ha1, *p;
	size_t	 len;

	if ((realm = strchr(line, ':')) == NULL ||
	    (ha1 = strrchr(line, ':')) == realm) {
		users_fail(src, "missing field (want user:realm:HA1)");
		return -1;
	}
	*realm++ = '\0';
	*ha1++ = '\0';
	if (*line == '\0') {
		users_fail(src, "empty user name");
		return -1;
	}
	if (*realm == '\0') {
		users_fail(src, "empty realm");
		return -1;
	}
	len = strlen(ha1);
	if (!users_is_hex(ha1)) {
		users_fail(src, "HA1 is not hexadecimal");
		return -1;
	}
	if (len != 32 && len != 64) {
		users_fail(src, "HA1 must be 32 (MD5) or 64 (SHA-256) hex "
		    "digits");
		return -1;
	}
	for (p = ha1; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return users_add(u, src, line, realm, ha1, len);
}

static size_t
users_crypt_chars(const char *s)
{
	return strspn(s, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz");
}

/* "$2a$NN$" + 22 salt + 31 hash characters. */
static int
users_bcrypt_ok(const char *h)
{
	if (strlen(h) != 60 || h[3] != '$' || h[6] != '$')
		return 0;
	if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' ||
	    (h[4] == '3' && h[5] > '1') || (h[4] == '0' && h[5] < '4'))
		return 0;
	return users_crypt_chars(h + 7) == 53;
}

/* "$6$" ["rounds=N$"] salt (1-16) "$" + 86 hash characters. */
static int
users_sha512crypt_ok(const char *h)
{
	size_t	 n;

	h += 3;
	if (strncmp(h, "rounds=", 7) == 0) {
		h += 7;
		if ((n = strspn(h, "0123456789")) == 0 || n > 9 ||
		    h[n] != '$')
			return 0;
		h += n + 1;
	}
	if ((n = users_crypt_chars(h)) == 0 || n > 16 || h[n] != '$')
		return 0;
	h += n + 1;
	return users_crypt_chars(h) == 86 && h[86] == '\0';
}

/*
 * 0 if hash is a well-formed bcrypt or SHA-512-crypt hash; else -1 with
 * a static reason that does not quote the hash.
 */
static int
users_hash_check(const char *hash, const char **reason)
{
	if (strncmp(hash, "$2a$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 ||
	    strncmp(hash, "$2y$", 4) == 0) {
		*reason = "malformed bcrypt hash";
		return users_bcrypt_ok(hash) ? 0 : -1;
	}
	if (strncmp(hash, "$6$", 3) == 0) {
		*reason = "malformed SHA-512-crypt hash";
		return users_sha512crypt_ok(hash) ? 0 : -1;
	}
	*reason = "unsupported hash (use htpasswd -B)";
	return -1;
}

/* One htpasswd line, "user:hash", modified in place. */
static int
users_parse_htpasswd(struct users *u, struct users_src *src, char *line)
{
	const char	*reason;
	char		*hash;

	if ((hash = strchr(line, ':')) == NULL) {
		users_fail(src, "missing field (want user:hash)");
		return -1;
	}
	*hash++ = '\0';
	if (*line == '\0') {
		users_fail(src, "empty user name");
		return -1;
	}
	if (*hash == '\0') {
		users_fail(src, "empty hash");
		return -1;
	}
	if (users_hash_check(hash, &reason) == -1) {
		users_fail(src, "%s", reason);
		return -1;
	}
	return users_add(u, src, line, "", hash, 0);
}

/*
 * Read one line into buf without its end of line (LF or CRLF) and
 * trailing blanks. Returns 1, 0 at end of file, -1 on error with the
 * message in src. Read a byte at a time (getc_unlocked is a macro) so a
 * NUL byte is seen rather than silently cutting the line short.
 */
static int
users_read_line(FILE *fp, struct users_src *src, char *buf, size_t size)
{
	size_t	 len = 0;
	int	 c;

	while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
		if (c == '\0') {
			src->us_line++;
			users_fail(src, "NUL byte in line");
			return -1;
		}
		if (len + 1 >= size) {
			src->us_line++;
			users_fail(src, "line too long");
			return -1;
		}
		buf[len++] = (char)c;
	}
	if (c == EOF && ferror(fp)) {
		snprintf(src->us_err, src->us_errlen, "%s: read error: %s",
		    src->us_path, strerror(errno));
		return -1;
	}
	if (c == EOF && len == 0)
		return 0;
	src->us_line++;
	while (len > 0 && strchr("\r \t", buf[len - 1]) != NULL)
		len--;
	buf[len] = '\0';
	return 1;
}

static struct users *
users_load(const char *path, enum users_kind kind, char *err,
    size_t errlen)
{
	struct users_src src = { path, 0, err, errlen };
	struct users	*u = NULL;
	FILE		*fp = NULL;
	char		 iobuf[BUFSIZ], line[USERS_LINE_MAX];
	int		 r, ok = 0;

	if (errlen > 0)
		err[0] = '\0';
	if ((fp = fopen(path, "re")) == NULL) {
		/* The words of the config's own check of the file
		 * (config_schema.c), so that a reload says it one way. */
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	/* Our own stdio buffer, so the file's bytes can be wiped. */
	setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto done;
	}
	u->u_kind = kind;
	while ((r = users_read_line(fp, &src, line, sizeof(line))) == 1) {
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
			continue;
		if (kind == USERS_HTDIGEST)
			r = users_parse_htdigest(u, &src, line);
		else
			r = users_parse_htpasswd(u, &src, line);
		if (r == -1)
			break;
	}
	ok = r == 0;
done:
	fclose(fp);
	OPENSSL_cleanse(iobuf, sizeof(iobuf));
	OPENSSL_cleanse(line, sizeof(line));
	if (!ok) {
		users_free(u);
		return NULL;
	}
	return u;
}

struct users *
users_load_htdigest(const char *path, char *err, size_t errlen)
{
	return users_load(path, USERS_HTDIGEST, err, errlen);
}

struct users *
users_load_htpasswd(const char *path, char *err, size_t errlen)
{
	return users_load(path, USERS_HTPASSWD, err, errlen);
}

const char *
users_digest_ha1(const struct users *u, const char *user, const char *realm,
    enum digest_alg alg)
{
	const struct users_entry *e;

	if (u == NULL || u->u_kind != USERS_HTDIGEST ||
	    (unsigned)alg >= DIGEST_ALG_MAX)
		return NULL;
	e = users_find(u, user, realm, digest_hex_len(alg));
	return e == NULL ? NULL : e->ue_hash;
}

int
users_digest_covers(const struct users *u, enum digest_alg alg)
{
	size_t hexlen = digest_hex_len(alg);

	if (u == NULL || u->u_kind != USERS_HTDIGEST || hexlen == 0)
		return 0;
	for (size_t i = 0; i < u->u_count; i++) {
		const struct users_entry *e = u->u_entries[i];
		if (e->ue_hexlen != hexlen &&
		    users_find(u, e->ue_user, e->ue_realm, hexlen) == NULL)
			return 0;
	}
	return 1;
}

const char *
users_basic_decoy(const struct users *u)
{
	if (u == NULL || u->u_kind != USERS_HTPASSWD || u->u_count == 0)
		return NULL;
	return u->u_entries[0]->ue_hash;
}

const char *
users_basic_hash(const struct users *u, const char *user)
{
	const struct users_entry *e;

	if (u == NULL || u->u_kind != USERS_HTPASSWD)
		return NULL;
	e = users_find(u, user, "", 0);
	return e == NULL ? NULL : e->ue_hash;
}

/*
 * Only the hashes the loader accepts are verified, so a hash from
 * elsewhere cannot select DES crypt. Passwords are capped because
 * SHA-512-crypt's cost grows with their length (htpasswd itself stops at
 * 255 bytes).
 */
int
users_basic_verify(const char *hash, const char *password)
{
	struct crypt_data	*cd;
	const char		*reason, *out;
	size_t			 hl;
	int			 ok = 0;

	if (hash == NULL || password == NULL ||
	    users_hash_check(hash, &reason) == -1 ||
	    strnlen(password, USERS_PASSWORD_MAX + 1) > USERS_PASSWORD_MAX)
		return 0;
	/* ~32 KiB: too big for a worker thread's stack. */
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
	out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	hl = strlen(hash);
	if (out != NULL && out[0] != '*' && strnlen(out, hl + 1) == hl &&
	    CRYPTO_memcmp(out, hash, hl) == 0)
		ok = 1;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ok;
}

size_t
users_count(const struct users *u)
{
	return u == NULL ? 0 : u->u_count;
}

/* Up to USERS_REALMS_SHOWN other realms are named, then "...". */
#define USERS_REALMS_SHOWN	4

/*
 * The htdigest entries in realm; others gets the other realms found, each
 * quoted, the first four of them ("\"a\", \"b\", ..."): an operator whose
 * auth.realm matches no line learns which realms the file was written for.
 */
static size_t
users_realm_entries(const struct users *u, const char *realm, char *others,
    size_t otherslen)
{
	const char	*seen[USERS_REALMS_SHOWN + 1];
	size_t		 n = 0, nseen = 0, j, len;

	if (otherslen > 0)
		others[0] = '\0';
	if (u == NULL)
		return 0;
	for (size_t i = 0; i < u->u_count; i++) {
		const char *r = u->u_entries[i]->ue_realm;

		if (strcmp(r, realm) == 0) {
			n++;
			continue;
		}
		/* Compared with the few named so far: n * 5, not n * n. */
		for (j = 0; j < nseen && strcmp(seen[j], r) != 0; j++)
			;
		if (j < nseen || nseen > USERS_REALMS_SHOWN || otherslen == 0)
			continue;
		seen[nseen++] = r;
		len = strlen(others);
		if (nseen <= USERS_REALMS_SHOWN)
			snprintf(others + len, otherslen - len, "%s\"%s\"",
			    len ? ", " : "", r);
		else
			snprintf(others + len, otherslen - len, ", ...");
	}
	return n;
}

/*
 * A Digest response is checked against the HA1 of (user, auth.realm)
 * (RFC 7616 §3.4.2): a file written for another realm loads, yet every
 * login fails as a wrong password. An empty file is left alone (users
 * come later, with a reload).
 */
int
users_realm_check(const struct users *u, const char *path,
    const char *realm, char *err, size_t errlen)
{
	char others[256];

	if (users_count(u) == 0 ||
	    users_realm_entries(u, realm, others, sizeof(others)) > 0)
		return 0;
	snprintf(err, errlen, "%s has no user in realm \"%s\" (auth.realm), "
	    "only in %s: every Digest login would fail; set auth.realm to the "
	    "file's realm, or write the file for \"%s\" (htdigest FILE \"%s\" "
	    "USER)", path, realm, others, realm, realm);
	return -1;
}

static int
users_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, so a file of many users costs n log n, not n squared. */
size_t
users_names(const struct users *u)
{
	const char	**names;
	size_t		  n = 0;

	if (u == NULL || u->u_count == 0)
		return 0;
	/* htpasswd has one line per user (users_add refuses a second). */
	if (u->u_kind == USERS_HTPASSWD)
		return u->u_count;
	if ((names = calloc(u->u_count, sizeof(*names))) == NULL)
		return u->u_count;	/* out of memory: the lines, an upper bound */
	for (size_t i = 0; i < u->u_count; i++)
		names[i] = u->u_entries[i]->ue_user;
	qsort(names, u->u_count, sizeof(*names), users_name_cmp);
	for (size_t i = 0; i < u->u_count; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			n++;
	free(names);
	return n;
}

void
users_free(struct users *u)
{
	size_t	 i;

	if (u == NULL)
		return;
	for (i = 0; i < u->u_count; i++)
		users_entry_free(u->u_entries[i]);
	free(u->u_entries);
	free(u->u_slots);
	free(u);
}
