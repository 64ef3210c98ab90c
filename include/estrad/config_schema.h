/*
 * config_schema: the engine under config.c. A section of the file is
 * described by a table of fields (key, type, bounds, default); one walk
 * validates it, fills defaults and reports every problem with its line.
 * Private to the config module (config.c, config_auth.c).
 */
#ifndef ESTRAD_CONFIG_SCHEMA_H
#define ESTRAD_CONFIG_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

#include "estrad/config.h"
#include "estrad/config_locate.h"

struct cfg_ctx {
	const char		*file;
	struct locator		 loc;
	struct config_errors	*errs;
	struct config		*cfg;
};

enum cfg_type {
	CFG_STRING,
	CFG_FILE,	/* a string naming a file that must be readable */
	CFG_LONG,
	CFG_SECONDS,	/* a number of seconds, stored as milliseconds */
	CFG_ENUM,	/* a string from names[], stored as an int */
	CFG_BOOL,	/* true or false, stored as an int */
	CFG_CUSTOM	/* handled by its section's own code */
};

struct cfg_field {
	const char	*key;
	enum cfg_type	 type;
	size_t		 offset;
	int		 required;
	double		 min, max;	/* CFG_LONG, CFG_SECONDS */
	double		 dflt;		/* CFG_LONG, CFG_SECONDS, CFG_ENUM */
	const char	*dflt_str;	/* CFG_STRING */
	const char *const *names;	/* CFG_ENUM */
};

#define F_STR(s, k, m, req, d) \
	{ k, CFG_STRING, offsetof(s, m), req, 0, 0, 0, d, NULL }
#define F_FILE(s, k, m, req) \
	{ k, CFG_FILE, offsetof(s, m), req, 0, 0, 0, NULL, NULL }
#define F_LONG(s, k, m, lo, hi, d) \
	{ k, CFG_LONG, offsetof(s, m), 0, lo, hi, d, NULL, NULL }
#define F_SEC(s, k, m, lo, hi, d) \
	{ k, CFG_SECONDS, offsetof(s, m), 0, lo, hi, d, NULL, NULL }
#define F_BOOL(s, k, m, d) \
	{ k, CFG_BOOL, offsetof(s, m), 0, 0, 0, d, NULL, NULL }
#define F_ENUM(s, k, m, n, d) \
	{ k, CFG_ENUM, offsetof(s, m), 0, 0, 0, d, NULL, n }
#define F_CUSTOM(k) \
	{ k, CFG_CUSTOM, 0, 0, 0, 0, 0, NULL, NULL }
#define F_END	{ NULL, 0, 0, 0, 0, 0, 0, NULL, NULL }


void cfg_err(struct cfg_ctx *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For problems whose line is known without the locator. */
void cfg_err_line(struct cfg_ctx *ctx, int line, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *json_type_name(const json_t *v);
/* out = path + "." + key (just key at the top level). */
void child_path(char *out, size_t outlen, const char *path, const char *key);
/*
 * Fill base from obj per fields: unknown keys, missing required keys,
 * types and ranges are errors. Returns the number of errors.
 */
int section_load(struct cfg_ctx *ctx, const json_t *obj, const char *path,
    const struct cfg_field *fields, void *base);
/* The object at obj[key], or NULL (missing: NULL without an error). */
const json_t *object_at(struct cfg_ctx *ctx, const json_t *obj,
    const char *path, const char *key, int *nerr);

/* config_policy.c: the "policies" and "audit" sections, route policies. */
int policies_load(struct cfg_ctx *ctx, const json_t *root);
int audit_load(struct cfg_ctx *ctx, const json_t *root);
/* Resolve a route's "policy" name (NULL: the default) and "csrattrs". */
int route_policy_resolve(struct cfg_ctx *ctx, const char *path,
    const char *policy, int csrattrs_from_policy, struct cfg_route *r);
void policies_free(struct config *cfg);

/* config_offline.c: "state_dir", "cache", "queue", upstream URL lists. */
int offline_load(struct cfg_ctx *ctx, const json_t *root);
int upstream_urls_load(struct cfg_ctx *ctx, const char *path,
    const json_t *obj, struct cfg_upstream *u);
void upstream_urls_free(struct cfg_upstream *u);

/* config_ops.c: logs, admin listener, privileges; the environment. */
int ops_load(struct cfg_ctx *ctx, const json_t *root);
void ops_free(struct config *cfg);
/* ESTRAD_LISTEN, ESTRAD_LOG_LEVEL, ... replace keys of root. */
void config_apply_env(json_t *root);

#endif
