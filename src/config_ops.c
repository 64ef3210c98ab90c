/*
 * config_ops: the operator's keys (logs, the admin listener, privileges,
 * shutdown) and the environment variables that override the main keys in
 * a container. Private to the config module; errors as FILE:LINE:
 * key.path: problem like the rest.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/log.h"
#include "estrad/privdrop.h"

static const struct cfg_field admin_fields[] = {
	F_STR(struct cfg_admin, "listen", listen, 0, "127.0.0.1:9090"),
	F_FILE(struct cfg_admin, "certificate", certificate, 0),
	F_FILE(struct cfg_admin, "key", key, 0),
	F_LONG(struct cfg_admin, "max_connections", max_connections, 1, 1024,
	    32),
	F_SEC(struct cfg_admin, "timeout", timeout_ms, 0.1, 300, 10),
	F_END
};

static const char *const facility_names[] = {
	"daemon", "user", "auth", "authpriv", "local0", "local1", "local2",
	"local3", "local4", "local5", "local6", "local7", NULL
};

static int
facility_check(struct cfg_ctx *ctx, const char *name)
{
	for (size_t i = 0; facility_names[i] != NULL; i++)
		if (strcmp(facility_names[i], name) == 0)
			return 0;
	cfg_err(ctx, "syslog_facility", "must be daemon, user, auth, authpriv "
	    "or local0 to local7");
	return 1;
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
	}
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

/*
 * Every private key and every file holding a secret or a password
 * equivalent (the users files keep hashes) must be readable by its owner
 * only: estrad refuses to start rather than run with a key others can
 * read. The sections are loaded by now (config.c runs this after them).
 */
static int
secrets_check(struct cfg_ctx *ctx, const struct config *cfg)
{
	char	 path[1024];
	int	 nerr = 0;

	nerr += secret_check(ctx, "tls.key", cfg->tls.key);
	nerr += secret_check(ctx, "auth.nonce_secret_file",
	    cfg->auth.nonce_secret_file);
	nerr += secret_check(ctx, "auth.digest_users", cfg->auth.digest_users);
	nerr += secret_check(ctx, "auth.basic_users", cfg->auth.basic_users);
	for (size_t i = 0; i < cfg->nupstreams; i++) {
		const struct cfg_upstream *u = &cfg->upstreams[i];

		if (u->name == NULL)
			continue;
		snprintf(path, sizeof(path), "upstreams.%s.client_key",
		    u->name);
		nerr += secret_check(ctx, path, u->client_key);
		snprintf(path, sizeof(path), "upstreams.%s.password_file",
		    u->name);
		nerr += secret_check(ctx, path, u->password_file);
	}
	for (size_t i = 0; i < cfg->nlocal_cas; i++) {
		if (cfg->local_cas[i].name == NULL)
			continue;
		snprintf(path, sizeof(path), "local_cas.%s.key",
		    cfg->local_cas[i].name);
		nerr += secret_check(ctx, path, cfg->local_cas[i].key);
	}
	return nerr + secret_check(ctx, "admin.key", cfg->admin.key);
}

int
ops_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct config	*cfg = ctx->cfg;
	int		 nerr;

	/* The plain keys came with the top-level table (config.c). */
	nerr = cfg->syslog_facility != NULL &&
	    facility_check(ctx, cfg->syslog_facility) != 0;
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
	return nerr + secrets_check(ctx, cfg);
}

void
ops_free(struct config *cfg)
{
	free(cfg->syslog_facility);
	free(cfg->user);
	free(cfg->group);
	free(cfg->admin.listen);
	free(cfg->admin.certificate);
	free(cfg->admin.key);
}

/* ---- the environment ---------------------------------------------------- */

/*
 * A container is configured by a file and the environment. Each variable
 * replaces one key of the file before it is checked, so a bad value gets
 * the same error as in the file (reported at the key's line, or line 0).
 */
static const struct {
	const char	*var;
	const char	*key;		/* top-level, or "admin.listen" */
	int		 list;		/* comma-separated -> JSON array */
} env_keys[] = {
	{ "ESTRAD_LISTEN",		"listen",		1 },
	{ "ESTRAD_LOG_LEVEL",		"log_level",		0 },
	{ "ESTRAD_LOG_FORMAT",		"log_format",		0 },
	{ "ESTRAD_STATE_DIR",		"state_dir",		0 },
	{ "ESTRAD_USER",		"user",			0 },
	{ "ESTRAD_GROUP",		"group",		0 },
	{ "ESTRAD_ADMIN_LISTEN",	"admin.listen",		0 },
};

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
env_upstream_url(json_t *root, const char *value)
{
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
}

void
config_apply_env(json_t *root)
{
	const char *value;

	if (!json_is_object(root))
		return;
	for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
		if ((value = getenv(env_keys[i].var)) == NULL ||
		    value[0] == '\0')
			continue;
		if (env_set(root, env_keys[i].key, env_keys[i].list ?
		    env_list(value) : json_string(value)) == 0)
			log_info("config: %s overrides %s", env_keys[i].var,
			    env_keys[i].key);
	}
	if ((value = getenv("ESTRAD_UPSTREAM_URL")) != NULL &&
	    value[0] != '\0')
		env_upstream_url(root, value);
}

/* ---- reload ------------------------------------------------------------ */

static int
config_same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL &&
	    strcmp(a, b) == 0);
}

/* What changed that only a restart applies: said, not done. */
void
config_restart_notes(const struct config *old, const struct config *cfg)
{
	const struct cfg_auth *oa = &old->auth, *na = &cfg->auth;
	int same = old->nlisten == cfg->nlisten &&
	    config_same_text(old->state_dir, cfg->state_dir) &&
	    /* Both configs are calloc'd: padding compares equal. */
	    memcmp(&old->cache, &cfg->cache, sizeof(cfg->cache)) == 0 &&
	    memcmp(&old->queue, &cfg->queue, sizeof(cfg->queue)) == 0 &&
	    old->admin.enabled == cfg->admin.enabled &&
	    config_same_text(old->admin.listen, cfg->admin.listen) &&
	    config_same_text(old->admin.certificate, cfg->admin.certificate) &&
	    old->admin.max_connections == cfg->admin.max_connections &&
	    old->admin.timeout_ms == cfg->admin.timeout_ms &&
	    config_same_text(old->user, cfg->user) &&
	    config_same_text(old->group, cfg->group);
	int same_auth = config_same_text(oa->realm, na->realm) &&
	    config_same_text(oa->nonce_secret_file, na->nonce_secret_file) &&
	    config_same_text(oa->digest_users, na->digest_users) &&
	    config_same_text(oa->basic_users, na->basic_users) &&
	    oa->max_failures == na->max_failures &&
	    oa->failure_window == na->failure_window &&
	    oa->nonce_lifetime == na->nonce_lifetime &&
	    oa->digest_uri_without_label == na->digest_uri_without_label &&
	    oa->ndigest_algs == na->ndigest_algs &&
	    memcmp(oa->digest_algs, na->digest_algs, sizeof(oa->digest_algs))
	    == 0;

	for (size_t i = 0; same && i < cfg->nlisten; i++)
		same = strcmp(old->listen[i], cfg->listen[i]) == 0;
	if (!same)
		log_warn("reload: listen addresses, state_dir, cache, queue, "
		    "admin, user or group changed: those take effect at the "
		    "next restart");
	if (!same_auth)
		log_warn("reload: the auth section changed: it takes effect "
		    "at the next restart (the user files themselves reload)");
}
