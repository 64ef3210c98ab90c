/*
 * config_ops: the operator's keys (logs, the admin listener, privileges,
 * shutdown) and the environment variables that override the main keys in
 * a container. Private to the config module; errors as FILE:LINE:
 * key.path: problem like the rest.
 */
#include <netinet/in.h>

#include <grp.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/log.h"
#include "estrad/netbind.h"
#include "estrad/privdrop.h"

const struct cfg_field admin_fields[] = {
	F_STR(struct cfg_admin, "listen", listen, 0, "127.0.0.1:9090",
	    .env = "ESTRAD_ADMIN_LISTEN",
	    .doc = "the address of the admin listener, as in `listen`; not one "
	    "`listen` binds (the same port on its address or its wildcard)"),
	F_FILE(struct cfg_admin, "certificate", certificate, 0,
	    .doc = "PEM: the admin listener's certificate, for TLS; with "
	    "`key`"),
	F_FILE(struct cfg_admin, "key", key, 0, .flags = CFG_F_SECRET,
	    .doc = "its private key; required with `certificate`"),
	F_LONG(struct cfg_admin, "max_connections", max_connections, 1, 1024,
	    32,
	    .doc = "connections open at once; more are closed as soon as they "
	    "are accepted"),
	F_SEC(struct cfg_admin, "timeout", timeout_ms, 0.1, 300, 10,
	    .doc = "from the accept, or from the last answer, until a whole "
	    "request is read, TLS handshake included; past it the connection "
	    "is closed"),
	F_END
};

const struct cfg_field coap_fields[] = {
	F_STR(struct cfg_coap, "listen", listen, 0, "127.0.0.1:5684",
	    .env = "ESTRAD_COAP_LISTEN",
	    .doc = "the UDP address of the DTLS listener, as in `listen` (5684 "
	    "is coaps' port, RFC 7252 §12.7); port 0 asks the kernel, and the "
	    "log line `coap listening on ADDR:PORT` says which"),
	F_LONG(struct cfg_coap, "max_sessions", max_sessions, 1, 100000, 1024,
	    .doc = "DTLS sessions at once: at the limit the session idle "
	    "longest (no request waiting) is closed to make room; a "
	    "handshake is refused with an alert only when none is idle"),
	F_LONG(struct cfg_coap, "max_sessions_per_address",
	    max_sessions_per_address, 1, 100000, 16,
	    .doc = "DTLS sessions at once from one IP address"),
	F_SEC(struct cfg_coap, "handshake_timeout", handshake_timeout_ms, 1,
	    300, 10,
	    .doc = "a DTLS handshake not finished in this long is dropped"),
	F_SEC(struct cfg_coap, "idle_timeout", idle_timeout_ms, 1, 86400, 120,
	    .doc = "a session with no request for this long is closed (a "
	    "device on a sleepy link keeps its session across requests)"),
	F_LONG(struct cfg_coap, "max_body_bytes", max_body_bytes, 256,
	    1048576, 16384,
	    .doc = "a request body sent in Block1 blocks, whole (a CSR is "
	    "well under it); more is answered 4.13 with Size1"),
	F_LONG(struct cfg_coap, "max_block_sequences", max_block_sequences, 1,
	    100000, 256,
	    .doc = "unfinished Block1 bodies held at once; one more is "
	    "answered 5.03"),
	F_LONG(struct cfg_coap, "max_block_sequences_per_session",
	    max_block_sequences_per_session, 1, 64, 2,
	    .doc = "unfinished Block1 bodies of one session"),
	F_SEC(struct cfg_coap, "block_timeout", block_timeout_ms, 1, 3600, 30,
	    .doc = "an unfinished Block1 body is dropped this long after its "
	    "last block (RFC 7959 §2.5 leaves it to the server)"),
	F_END
};

static int
coap_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct cfg_coap		*c = &ctx->cfg->coap;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const json_t		*obj;
	int			 nerr = 0;

	if ((obj = object_at(ctx, root, "", "coap", &nerr)) == NULL)
		return nerr;
	c->enabled = 1;
	if ((nerr = section_load(ctx, obj, "coap", coap_fields, c)) != 0)
		return nerr;
	if (config_parse_address(c->listen, &ss, &sslen) != 0) {
		cfg_err(ctx, "coap.listen", "must be \"address:port\" "
		    "(\"[v6address]:port\" for IPv6)");
		nerr++;
	}
	if (c->max_sessions_per_address > c->max_sessions) {
		cfg_err(ctx, "coap.max_sessions_per_address", "is %ld, over "
		    "coap.max_sessions (%ld)", c->max_sessions_per_address,
		    c->max_sessions);
		nerr++;
	}
	return nerr;
}

/*
 * 1 if a socket bound to a stops one on b: the same family and port (not
 * 0: the kernel picks a fresh one for each) and the same address, or a
 * wildcard on either side (IPv6 sockets are IPv6-only: no cross-family
 * clash).
 */
static int
admin_addr_clash(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a;
	const struct sockaddr_in	*b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a;
	const struct sockaddr_in6	*b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_port != 0 && a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY));
	return a6->sin6_port != 0 && a6->sin6_port == b6->sin6_port &&
	    (IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

/*
 * The admin listener on an address of "listen" would fail to bind at
 * start-up, after the EST listeners are up: -n says so at once.
 */
static int
admin_listen_clash(struct cfg_ctx *ctx, const struct sockaddr_storage *ss)
{
	const struct config	*cfg = ctx->cfg;
	struct sockaddr_storage	 other;
	socklen_t		 len;

	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (config_parse_address(cfg->listen[i], &other, &len) != 0 ||
		    !admin_addr_clash(ss, &other))
			continue;
		if (strcmp(cfg->admin.listen, cfg->listen[i]) == 0)
			cfg_err(ctx, "admin.listen", "%s is also in listen",
			    cfg->admin.listen);
		else
			cfg_err(ctx, "admin.listen", "%s overlaps %s in listen",
			    cfg->admin.listen, cfg->listen[i]);
		return 1;
	}
	return 0;
}

static int
admin_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct cfg_admin	*a = &ctx->cfg->admin;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const json_t		*obj;
	int			 nerr = 0;

	if ((obj = object_at(ctx, root, "", "admin", &nerr)) == NULL)
		return nerr;
	a->enabled = 1;
	if ((nerr = section_load(ctx, obj, "admin", admin_fields, a)) != 0)
		return nerr;
	if (config_parse_address(a->listen, &ss, &sslen) != 0) {
		cfg_err(ctx, "admin.listen", "must be \"address:port\" "
		    "(\"[v6address]:port\" for IPv6)");
		nerr++;
	} else
		nerr += admin_listen_clash(ctx, &ss);
	if ((a->certificate == NULL) != (a->key == NULL)) {
		cfg_err(ctx, a->certificate ? "admin.key" : "admin.certificate",
		    "is required with admin.%s", a->certificate ? "certificate" :
		    "key");
		nerr++;
	}
	return nerr;
}

/*
 * "user" and "group" must exist here, so that -n catches a typo rather
 * than the start-up after the ports are bound.
 */
static int
identity_check(struct cfg_ctx *ctx, const struct config *cfg)
{
	int nerr = 0;

	if (cfg->user != NULL && getpwnam(cfg->user) == NULL) {
		cfg_err(ctx, "user", "no such user \"%s\"", cfg->user);
		nerr++;
	}
	if (cfg->group != NULL && getgrnam(cfg->group) == NULL) {
		cfg_err(ctx, "group", "no such group \"%s\"", cfg->group);
		nerr++;
	}
	return nerr;
}

/* One secret file, reported at its key's path. */
static int
secret_check(struct cfg_ctx *ctx, const char *path, const char *file)
{
	char err[512];

	/* A file that cannot be read was reported when its key was loaded. */
	if (file == NULL || access(file, R_OK) != 0)
		return 0;
	if (privdrop_check_secret(file, err, sizeof(err)) == 0)
		return 0;
	cfg_err(ctx, path, "%s", err);
	return 1;
}

static void
secret_visit(void *arg, const struct cfg_field *f, const char *path,
    unsigned flags, const void *base, const void *other)
{
	struct cfg_ctx *ctx = arg;

	if ((flags & CFG_F_SECRET) && (f->type == CFG_FILE ||
	    f->type == CFG_STRING))
		secret_check(ctx, path,
		    *(char *const *)((const char *)base + f->offset));
}

/*
 * Every private key and every file holding a secret or a password
 * equivalent (the users files keep hashes): the rows flagged
 * CFG_F_SECRET. Each must be readable by its owner only: estrad refuses
 * to start rather than run with a key others can read. The sections are
 * loaded by now (config.c runs this after them).
 */
static int
secrets_check(struct cfg_ctx *ctx, const struct config *cfg)
{
	int nerr = ctx->nerr;

	section_walk(config_top_fields, cfg, NULL, "", secret_visit, ctx);
	return ctx->nerr - nerr;
}

/*
 * ---- as the user -----------------------------------------------------
 * Started as root with "user", estrad reads its files as root, then drops;
 * a reload reads every one of them again (config_load) as the user. A
 * root-owned 0600 key passes at start and fails at the first SIGHUP, so
 * the files are tried now as the user (privdrop_probe), and each one it
 * cannot read is noted in cfg->as_user: -n reports them as errors, the
 * daemon warns at start (main.c).
 */
struct as_user {
	struct privdrop_probe	*probes;
	char			(*keys)[128];	/* each probe's key path */
	size_t			 n, cap;
};

static void
as_user_add(struct as_user *au, const char *key, const char *path,
    int search)
{
	if (path == NULL)
		return;
	if (au->n == au->cap) {
		size_t			 cap = au->cap ? au->cap * 2 : 16;
		struct privdrop_probe	*p;
		char			(*k)[128];

		if ((p = realloc(au->probes, cap * sizeof(*p))) == NULL)
			return;
		au->probes = p;
		if ((k = realloc(au->keys, cap * sizeof(*k))) == NULL)
			return;
		au->keys = k;
		au->cap = cap;
	}
	au->probes[au->n] = (struct privdrop_probe){ path, search, 0 };
	snprintf(au->keys[au->n++], sizeof(au->keys[0]), "%s", key);
}

/* Every file-valued row (the walk goes into sections and entries). */
static void
as_user_visit(void *arg, const struct cfg_field *f, const char *path,
    unsigned flags, const void *base, const void *other)
{
	if (f->type == CFG_FILE)
		as_user_add(arg, path, *(char *const *)((const char *)base +
		    f->offset), 0);
}

/* A problem for cfg->as_user, in the errors' form but not one of them. */
static void
as_user_note(struct cfg_ctx *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
as_user_note(struct cfg_ctx *ctx, const char *key, const char *fmt, ...)
{
	struct config_errors	*errs = ctx->errs;
	int			 nerr = ctx->nerr;
	char			 msg[768];
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->errs = &ctx->cfg->as_user;
	if (*key == '\0')
		cfg_err_line(ctx, 0, "", "%s", msg);
	else
		cfg_err(ctx, key, "%s", msg);
	ctx->errs = errs;
	ctx->nerr = nerr;
}

static void
as_user_check(struct cfg_ctx *ctx, const struct config *cfg)
{
	struct as_user			 au = { NULL, NULL, 0, 0 };
	const struct privdrop_probe	*p;
	char				 err[512];

	as_user_add(&au, "", ctx->file, 0);
	section_walk(config_top_fields, cfg, NULL, "", as_user_visit, &au);
	/* Handed over to the user at start (privdrop_hand_over), so only
	 * the way to them is the user's to have. */
	as_user_add(&au, "state_dir", cfg->state_dir, 1);
	as_user_add(&au, "audit.file", cfg->audit.file, 1);
	switch (privdrop_probe(cfg, au.probes, au.n, err, sizeof(err))) {
	case -1:
		as_user_note(ctx, "user", "%s", err);
		break;
	case 1:
		for (size_t i = 0; i < au.n; i++) {
			p = &au.probes[i];
			if (p->err == 0)
				continue;
			if (p->search)
				as_user_note(ctx, au.keys[i], "user %s cannot "
				    "reach %s (%s on a directory above it); "
				    "estrad would fail there after the "
				    "privilege drop", cfg->user, p->path,
				    strerror(p->err));
			else
				as_user_note(ctx, au.keys[i], "%s%s is not "
				    "readable by user %s (%s); a reload after "
				    "the privilege drop would fail",
				    *au.keys[i] ? "" : "the config file ",
				    p->path, cfg->user, strerror(p->err));
		}
	}
	free(au.probes);
	free(au.keys);
}

int
ops_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct config	*cfg = ctx->cfg;
	int		 nerr;

	/* The plain keys came with the top-level table (config.c). */
	nerr = 0;
	if (cfg->group != NULL && cfg->user == NULL) {
		cfg_err(ctx, "group", "needs \"user\"");
		nerr++;
	}
	if (cfg->run_as_root && cfg->user != NULL) {
		cfg_err(ctx, "run_as_root", "contradicts \"user\"");
		nerr++;
	}
	nerr += identity_check(ctx, cfg);
	nerr += admin_load(ctx, root);
	nerr += coap_load(ctx, root);
	nerr += secrets_check(ctx, cfg);
	/* A fork: only as root (who is to drop to the user; a reload after
	 * the drop, and `estrad queue`, skip the walk too), and only for a
	 * config sound so far (the routes come after). */
	if (ctx->nerr == 0 && cfg->user != NULL &&
	    (getuid() == 0 || geteuid() == 0))
		as_user_check(ctx, cfg);
	return nerr;
}

/* ---- the reload ---------------------------------------------------------- */

struct restart_notes {
	char	auth[512];	/* "auth.realm, auth.max_failures" */
	char	other[512];
	int	nother;
};

static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL &&
	    strcmp(a, b) == 0);
}

/* 1 if row f holds the same value in base and other. */
static int
row_same(const struct cfg_field *f, const void *base, const void *other)
{
	const char *a = (const char *)base + f->offset;
	const char *b = (const char *)other + f->offset;

	switch (f->type) {
	case CFG_STRING:
	case CFG_FILE:
		return same_text(*(char *const *)a, *(char *const *)b);
	case CFG_LONG:
	case CFG_SECONDS:
		return *(const long *)a == *(const long *)b;
	case CFG_ENUM:
	case CFG_BOOL:
		return *(const int *)a == *(const int *)b;
	case CFG_CUSTOM:
		return f->same == NULL || f->same(base, other);
	default:
		return 1;
	}
}

static void
note_add(char *list, size_t len, const char *path)
{
	size_t used = strlen(list);

	snprintf(list + used, len - used, "%s%s", used ? ", " : "", path);
}

static void
restart_visit(void *arg, const struct cfg_field *f, const char *path,
    unsigned flags, const void *base, const void *other)
{
	struct restart_notes *rn = arg;

	if (!(flags & CFG_F_RESTART) || other == NULL ||
	    row_same(f, base, other))
		return;
	if (strncmp(path, "auth.", 5) == 0)
		note_add(rn->auth, sizeof(rn->auth), path);
	else {
		note_add(rn->other, sizeof(rn->other), path);
		rn->nother++;
	}
}

/*
 * What changed that only a restart applies (the rows flagged
 * CFG_F_RESTART): said, not done. The auth section gets a line of its
 * own, as the user files themselves do reload.
 */
void
config_restart_notes(const struct config *old, const struct config *cfg)
{
	struct restart_notes rn = { "", "", 0 };

	section_walk(config_top_fields, cfg, old, "", restart_visit, &rn);
	if (rn.nother != 0)
		log_warn("reload: %s changed: %s at the next restart", rn.other,
		    rn.nother == 1 ? "it takes effect" : "they take effect");
	if (rn.auth[0] != '\0')
		log_warn("reload: the auth section changed: it takes effect at "
		    "the next restart (%s; the user files themselves reload)",
		    rn.auth);
}

/* ---- the environment ---------------------------------------------------- */

/*
 * A container is configured by a file and the environment. Each variable
 * replaces one key of the file before it is checked, so a bad value gets
 * the same error as in the file (reported at the key's line, or line 0).
 */

static json_t *
env_list(const char *value)
{
	json_t	*arr = json_array();
	char	*copy, *p, *tok, *save = NULL;

	if (arr == NULL || (copy = strdup(value)) == NULL) {
		json_decref(arr);
		return NULL;
	}
	for (p = copy; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		while (*tok == ' ')
			tok++;
		if (*tok != '\0')
			json_array_append_new(arr, json_string(tok));
	}
	free(copy);
	return arr;
}

/* Note that env replaced key: its problems name env (cfg_err). */
static void
env_note(struct cfg_ctx *ctx, const char *key, const char *env)
{
	if (ctx->nenv == CFG_ENV_MAX)
		return;
	snprintf(ctx->env[ctx->nenv].key, sizeof(ctx->env[0].key), "%s", key);
	ctx->env[ctx->nenv++].env = env;
}

/* Set root[key] (key may be "section.key") to v (taken). */
static int
env_set(json_t *root, const char *key, json_t *v)
{
	const char	*dot = strchr(key, '.');
	json_t		*obj = root;
	char		 section[32];

	if (v == NULL)
		return -1;
	if (dot != NULL) {
		snprintf(section, sizeof(section), "%.*s", (int)(dot - key),
		    key);
		if ((obj = json_object_get(root, section)) == NULL) {
			obj = json_object();
			json_object_set_new(root, section, obj);
		}
		if (!json_is_object(obj)) {
			json_decref(v);
			return 0;	/* the file's own error stands */
		}
		key = dot + 1;
	}
	return json_object_set_new(obj, key, v);
}

/*
 * ESTRAD_UPSTREAM_URL: the URL (or comma-separated URLs) of the upstream
 * the bare path routes to, the one a container usually has.
 */
static void
env_upstream_url(struct cfg_ctx *ctx, json_t *root, const char *value)
{
	char		 key[128];
	json_t		*def = json_object_get(root, "default");
	json_t		*ups = json_object_get(root, "upstreams"), *u;
	const char	*name;

	if (!json_is_object(def) || !json_is_object(ups) ||
	    !json_is_string(json_object_get(def, "upstream")))
		return;
	name = json_string_value(json_object_get(def, "upstream"));
	if (!json_is_object(u = json_object_get(ups, name)))
		return;
	json_object_set_new(u, "url", strchr(value, ',') ? env_list(value) :
	    json_string(value));
	log_info("config: ESTRAD_UPSTREAM_URL overrides upstreams.%s.url",
	    name);
	snprintf(key, sizeof(key), "upstreams.%s.url", name);
	env_note(ctx, key, "ESTRAD_UPSTREAM_URL");
}

/*
 * The rows that name a variable (.env), below fields at path: each set
 * and non-empty one replaces its key in root.
 */
static void
env_apply_rows(struct cfg_ctx *ctx, json_t *root,
    const struct cfg_field *fields, const char *path)
{
	const char	*value;
	char		 key[128];

	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		child_path(key, sizeof(key), path, f->key);
		if (f->fields != NULL && f->entry_size == 0)
			env_apply_rows(ctx, root, f->fields, key);
		if (f->env == NULL || (value = getenv(f->env)) == NULL ||
		    value[0] == '\0')
			continue;
		if (env_set(root, key, f->flags & CFG_F_ENV_LIST ?
		    env_list(value) : json_string(value)) == 0) {
			log_info("config: %s overrides %s", f->env, key);
			env_note(ctx, key, f->env);
		}
	}
}

void
config_apply_env(struct cfg_ctx *ctx, json_t *root)
{
	const char *value;

	if (!json_is_object(root))
		return;
	env_apply_rows(ctx, root, config_top_fields, "");
	if ((value = getenv("ESTRAD_UPSTREAM_URL")) != NULL &&
	    value[0] != '\0')
		env_upstream_url(ctx, root, value);
}
