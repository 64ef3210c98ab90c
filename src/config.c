/*
 * config: loads the one JSON file against schema tables (one row per key:
 * type, bounds, default, flags, text), in the manner of tmux's
 * options-table.c. The same rows validate, fill defaults, free, find the
 * secret files (config_ops.c), name what a reload cannot change
 * (config_restart_notes) and make docs/configuration.md's key tables
 * (tools/config_doc.c, checked by ctest's docs_configuration).
 *
 * This file holds the top-level table, the list of the docs' tables and
 * the load of the whole file; each section's rows and code live apart:
 *   config_listen.c    "listen", "tls", "auth", "limits" (what clients meet)
 *   config_upstream.c  "upstreams", "local_cas" (the backends)
 *   config_routes.c    "default", "labels" (the routes to them)
 *   config_policy.c    "policies", "audit"
 *   config_offline.c   "state_dir", "cache", "queue"
 *   config_ops.c       logs, "admin", privileges; the environment
 * The engine under them is config_schema.c (config_schema_int.h).
 *
 * Every problem is reported as "FILE:LINE: key.path: problem", all of them
 * in one run; config_locate.c finds the lines.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "policy_int.h"
#include "estrad/log.h"

#define CFG_MAX_FILE	(1024 * 1024)

/* ---- the tables ------------------------------------------------------ */

/*
 * Each row is a key: its type, bounds and default, its flags, and the
 * text of its line in docs/configuration.md (tools/config_doc.c writes
 * those tables from these rows; the docs_configuration test fails when
 * they differ). Adding a key is adding its row, plus the code that uses
 * the value.
 */

static const char *const log_format_names[] = { "text", "json", NULL };

/* What the rows' own code allocates. */
static void policies_row_free(void *base);

/*
 * The top level. The sections' rows are loaded by their own code (in
 * config_build()'s order); the walks go into them by .fields.
 */
const struct cfg_field config_top_fields[] = {
	F_ENUM(struct config, "log_level", log_level, log_level_names,
	    LOG_LEVEL_INFO, .env = "ESTRAD_LOG_LEVEL",
	    .doc = "the least severe lines written (`-d` forces `debug`)"),
	F_CUSTOM("listen", .flags = CFG_F_RESTART | CFG_F_ENV_LIST,
	    .env = "ESTRAD_LISTEN", .free = listen_free,
	    .same = listen_same,
	    .doc_type = "array of strings", .doc_dflt = "required",
	    .doc = "addresses to listen on: `\"127.0.0.1:8443\"`, "
	    "`\"[::1]:8443\"`, `\"0.0.0.0:443\"`, `\"[::]:443\"`. Port 0 asks "
	    "the kernel for a free port; the log line `listening on "
	    "ADDR:PORT` says which. An IPv6 wildcard listens on IPv6 only, so "
	    "it can be combined with the IPv4 wildcard on the same port."),
	F_CUSTOM("tls", .fields = tls_fields,
	    .offset = offsetof(struct config, tls),
	    .doc_type = "object", .doc_dflt = "required",
	    .doc = "the client-facing TLS server, below"),
	F_CUSTOM("auth", .fields = auth_fields,
	    .offset = offsetof(struct config, auth), .free = auth_row_free,
	    .doc_type = "object", .doc_dflt = "all defaults",
	    .doc = "client authentication, below and in "
	    "[authentication.md](authentication.md)"),
	F_CUSTOM("limits", .fields = limits_fields,
	    .offset = offsetof(struct config, limits),
	    .doc_type = "object", .doc_dflt = "all defaults",
	    .doc = "request limits, below"),
	F_CUSTOM("upstreams", .fields = upstream_fields,
	    .offset = offsetof(struct config, upstreams),
	    .entry_size = sizeof(struct cfg_upstream),
	    .count_offset = offsetof(struct config, nupstreams),
	    .name_offset = offsetof(struct cfg_upstream, name),
	    .doc_type = "object",
	    .doc = "upstream EST CAs by name, below"),
	F_CUSTOM("local_cas", .fields = localca_fields,
	    .offset = offsetof(struct config, local_cas),
	    .entry_size = sizeof(struct cfg_localca),
	    .count_offset = offsetof(struct config, nlocal_cas),
	    .name_offset = offsetof(struct cfg_localca, name),
	    .doc_type = "object",
	    .doc = "CAs inside estrad by name, below"),
	F_CUSTOM("default", .doc_type = "route",
	    .doc = "the backend for the bare path `/.well-known/est/<op>`, "
	    "below"),
	/* routes_free() frees the routes of "default" too. */
	F_CUSTOM("labels", .free = routes_free, .doc_type = "object of routes",
	    .doc = "the backend for each CA label, "
	    "`/.well-known/est/<label>/<op>`, below"),
	F_CUSTOM("policies", .free = policies_row_free, .doc_type = "object",
	    .doc = "named CSR policies; see [policy.md](policy.md)"),
	F_CUSTOM("audit", .fields = audit_fields,
	    .offset = offsetof(struct config, audit), .doc_type = "object",
	    .doc = "the audit log of enrollment decisions, below"),
	F_STR(struct config, "state_dir", state_dir, 0, NULL,
	    .env = "ESTRAD_STATE_DIR",
	    .flags = CFG_F_RESTART, .doc_type = "absolute path",
	    .doc = "where the queue and the cache are kept (`estrad.db`, "
	    "SQLite); created `0700`. Needed by `cache` and `queue`"),
	F_CUSTOM("cache", .fields = cache_fields,
	    .offset = offsetof(struct config, cache), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "cacerts/csrattrs kept per label and served while the CA "
	    "is away: [offline.md](offline.md)"),
	F_CUSTOM("queue", .fields = queue_fields,
	    .offset = offsetof(struct config, queue), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "store and forward of enrollments while the CA is away: "
	    "[offline.md](offline.md)"),
	F_CUSTOM("store", .fields = store_fields,
	    .offset = offsetof(struct config, store), .free = store_row_free,
	    .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "SQLite in `state_dir`",
	    .doc = "where the queue and the shared counters live: SQLite for "
	    "one node, PostgreSQL for replicas that act as one, below; "
	    "[scaling.md](scaling.md)"),
	F_CUSTOM("coap", .fields = coap_fields,
	    .offset = offsetof(struct config, coap), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "EST over CoAP (RFC 9148): a DTLS listener with the `tls` "
	    "section's certificate and client trust, below; "
	    "[coap.md](coap.md)"),
	/* The operator's keys; checked further in config_ops.c. */
	F_ENUM(struct config, "log_format", log_format, log_format_names, 0,
	    .env = "ESTRAD_LOG_FORMAT",
	    .doc = "`json`: one object per line, Elastic Common Schema "
	    "fields (operations.md)"),
	F_BOOL(struct config, "syslog", log_syslog, 0,
	    .doc = "also log to syslog(3)"),
	F_ENUM(struct config, "syslog_facility", syslog_facility,
	    log_facility_names, 0,
	    .doc = "the facility of the syslog lines"),
	F_STR(struct config, "user", user, 0, NULL, .flags = CFG_F_RESTART,
	    .env = "ESTRAD_USER",
	    .doc = "drop to this user once the ports are bound and the keys "
	    "read; it must exist. A reload reads every file again as this "
	    "user: `-n` (as root) checks it can"),
	F_STR(struct config, "group", group, 0, NULL, .flags = CFG_F_RESTART,
	    .env = "ESTRAD_GROUP",
	    .doc_dflt = "the user's",
	    .doc = "and to this group; needs `user`; it must exist"),
	F_BOOL(struct config, "run_as_root", run_as_root, 0,
	    .doc = "started as root without `user`, estrad refuses to run "
	    "unless this is true"),
	F_SEC(struct config, "shutdown_timeout", shutdown_timeout_ms, 0, 3600,
	    10,
	    .doc = "SIGTERM: how long requests in flight may take before "
	    "estrad exits anyway"),
	F_CUSTOM("admin", .fields = admin_fields,
	    .offset = offsetof(struct config, admin), .flags = CFG_F_RESTART,
	    .doc_type = "object", .doc_dflt = "off",
	    .doc = "the admin listener (health, metrics), below; "
	    "[operations.md](operations.md)"),
	F_END
};

/* Every table the docs show, by the name of its markers. */
const struct cfg_doc_table cfg_doc_tables[] = {
	{ "docs/configuration.md", "top", config_top_fields },
	{ "docs/configuration.md", "tls", tls_fields },
	{ "docs/configuration.md", "auth", auth_fields },
	{ "docs/configuration.md", "limits", limits_fields },
	{ "docs/configuration.md", "audit", audit_fields },
	{ "docs/configuration.md", "upstreams", upstream_fields },
	{ "docs/configuration.md", "cache", cache_fields },
	{ "docs/configuration.md", "queue", queue_fields },
	{ "docs/configuration.md", "store", store_fields },
	{ "docs/configuration.md", "local_cas", localca_fields },
	{ "docs/configuration.md", "routes", route_fields },
	{ "docs/configuration.md", "admin", admin_fields },
	{ "docs/configuration.md", "coap", coap_fields },
	{ "docs/policy.md", "policy", policy_fields },
	{ "docs/policy.md", "keys", pol_keys_fields },
	{ "docs/policy.md", "subject", pol_subject_fields },
	{ "docs/policy.md", "san", pol_san_fields },
	{ "docs/policy.md", "extensions", pol_ext_fields },
	{ "docs/policy.md", "reenroll", pol_reenroll_fields },
	{ "docs/policy.md", "rate", pol_rate_fields },
	{ NULL, NULL, NULL }
};

/* ---- the whole file -------------------------------------------------- */

static char *
file_slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE	*fp;
	char	*buf;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CFG_MAX_FILE + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*len = fread(buf, 1, CFG_MAX_FILE + 1, fp);
	if (ferror(fp) || *len > CFG_MAX_FILE) {
		snprintf(err, errlen, ferror(fp) ? "cannot read: %s" :
		    "larger than 1 MiB%s", ferror(fp) ? strerror(errno) : "");
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[*len] = '\0';
	return buf;
}

static int
config_build(struct cfg_ctx *ctx, const json_t *root)
{
	int nerr;

	if (!json_is_object(root)) {
		cfg_err(ctx, "", "the top level must be an object");
		return 1;
	}
	ctx->root = root;
	nerr = section_load(ctx, root, "", config_top_fields, ctx->cfg);
	nerr += listen_load(ctx, root);
	nerr += tls_load(ctx, root);
	nerr += auth_load(ctx, root);
	nerr += limits_load(ctx, root);
	nerr += upstreams_load(ctx, root);
	nerr += policies_load(ctx, root);
	nerr += audit_load(ctx, root);
	nerr += offline_load(ctx, root);
	nerr += ops_load(ctx, root);
	return nerr + routes_load(ctx, root);
}

/* The LINE of a "FILE:LINE: ..." problem about file. */
static long
problem_line(const char *line, const char *file)
{
	size_t n = strlen(file);

	if (strncmp(line, file, n) != 0 || line[n] != ':')
		return 0;
	return strtol(line + n + 1, NULL, 10);
}

/*
 * The sections are checked one after another, not in the order they are
 * written: sort the problems from index from on by line, so they read
 * down the file. Stable (a line's problems keep their order); line 0
 * (the whole file) comes first. An insertion sort: a handful of lines.
 */
static void
problems_sort(struct config_errors *errs, size_t from, const char *file)
{
	for (size_t i = from + 1; i < errs->n; i++) {
		char	*cur = errs->lines[i];
		long	 line = problem_line(cur, file);
		size_t	 j = i;

		for (; j > from && problem_line(errs->lines[j - 1], file) > line;
		    j--)
			errs->lines[j] = errs->lines[j - 1];
		errs->lines[j] = cur;
	}
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct cfg_ctx	 ctx = { .file = path, .errs = errs };
	size_t		 first = errs->n;
	json_error_t	 jerr;
	json_t		*root = NULL;
	char		*text, err[256];
	size_t		 len;

	if ((text = file_slurp(path, &len, err, sizeof(err))) == NULL) {
		cfg_err_line(&ctx, 0, "", "%s", err);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		cfg_err_line(&ctx, jerr.line, "", "JSON syntax: %s", jerr.text);
		free(text);
		return NULL;
	}
	loc_scan(&ctx.loc, text, len);
	config_apply_env(&ctx, root);
	if ((ctx.cfg = calloc(1, sizeof(*ctx.cfg))) != NULL)
		ctx.cfg->refs = 1;
	if (ctx.cfg == NULL ||
	    (ctx.cfg->path = strdup(path)) == NULL ||
	    config_build(&ctx, root) != 0) {
		config_free(ctx.cfg);
		ctx.cfg = NULL;
		if (errs->n == 0)
			cfg_err(&ctx, "", "out of memory");
	}
	problems_sort(errs, first, path);
	if (ctx.cfg != NULL)
		problems_sort(&ctx.cfg->as_user, 0, path);
	json_decref(root);
	loc_free(&ctx.loc);
	free(text);
	return ctx.cfg;
}

static void
policies_row_free(void *base)
{
	policies_free(base);
}

/* Every row's value, through the tables; then what has no row. */
void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	section_free(config_top_fields, cfg);
	config_errors_clear(&cfg->as_user);
	free(cfg->path);
	free(cfg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct config *cfg)
{
	if (cfg != NULL && --cfg->refs == 0)
		config_free(cfg);
}
