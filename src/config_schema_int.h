/*
 * config_schema: the engine under config.c. A section of the file is
 * described by a table of fields (key, type, bounds, default); one walk
 * validates it, fills defaults and reports every problem with its line.
 * Private to the config module (config*.c) and the policy compiler.
 */
#ifndef ESTRAD_CONFIG_SCHEMA_H
#define ESTRAD_CONFIG_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

#include "estrad/config.h"
#include "estrad/config_locate.h"

/*
 * Problems go to errs as "FILE:LINE: path: problem" (the config file), or,
 * when on_err is set, to on_err with the path alone: the policy module
 * compiles a JSON object that need not come from a file, and its caller
 * adds the file and line (config_policy.c).
 */
typedef void (*cfg_err_fn)(void *arg, const char *path, const char *msg);

/*
 * A key an ESTRAD_* variable replaced (config_apply_env): its problems are
 * "ESTRAD_X: key.path: problem", since the file's line holds another value.
 */
#define CFG_ENV_MAX	16
struct cfg_env_key {
	char		 key[128];	/* "admin.listen", "upstreams.ca.url" */
	const char	*env;		/* "ESTRAD_ADMIN_LISTEN" */
};

struct cfg_ctx {
	const char		*file;
	struct locator		 loc;
	struct config_errors	*errs;
	struct config		*cfg;
	cfg_err_fn		 on_err;
	void			*on_err_arg;
	int			 nerr;		/* problems reported so far */
	const json_t		*root;		/* the file's top level */
	struct cfg_env_key	 env[CFG_ENV_MAX];
	size_t			 nenv;
};

enum cfg_type {
	CFG_STRING,
	CFG_FILE,	/* a string naming a file that must be readable */
	CFG_LONG,
	CFG_SECONDS,	/* a number of seconds, stored as milliseconds */
	CFG_ENUM,	/* a string from names[], stored as an int */
	CFG_BOOL,	/* true or false, stored as an int */
	CFG_SECTION,	/* an object described by fields[], at offset */
	CFG_CUSTOM,	/* load() reads it; without load, its section's code */
	CFG_STRINGS	/* an array of strings, each passed to check() */
};

/* A CFG_STRINGS slot; set: the key was given ([] is set and empty). */
struct cfg_strs {
	char	**v;
	size_t	  n;
	int	  set;
};

/* Row flags. */
#define CFG_F_SECRET	0x01	/* a secret file: mode-checked (chmod 600) */
#define CFG_F_RESTART	0x02	/* a change takes effect at the next restart */
#define CFG_F_ENV_LIST	0x04	/* .env's value is comma-separated: an array */

struct cfg_field;

/*
 * A CFG_CUSTOM row's loader: v is the row's value (present), base the
 * section's struct. Returns the number of problems it reported.
 */
typedef int (*cfg_load_fn)(struct cfg_ctx *ctx, const char *path,
    const json_t *v, void *base);
/* A CFG_CUSTOM row's release of what its loader allocated in base. */
typedef void (*cfg_free_fn)(void *base);
/* A CFG_CUSTOM row's comparison of two bases: 1 if the row's value is
 * the same in both (the restart notes). */
typedef int (*cfg_same_fn)(const void *a, const void *b);
/* A CFG_STRINGS row's check of one element: NULL, or why it is wrong. */
typedef const char *(*cfg_check_fn)(const char *s);

/*
 * One key of a section. Written as designated initializers, in the manner
 * of tmux's options-table.c: a row carries the key's type, bounds, default
 * and text, and the same rows validate, fill defaults, free and document.
 */
struct cfg_field {
	const char		*key;
	enum cfg_type		 type;
	size_t			 offset;	/* of the slot in base */
	int			 required;
	unsigned		 flags;		/* CFG_F_* */
	const char		*env;	/* the ESTRAD_* variable that replaces
					 * the key (config_apply_env) */
	double			 min, max;	/* CFG_LONG, CFG_SECONDS */
	double			 dflt;	/* CFG_LONG, CFG_SECONDS, CFG_ENUM, CFG_BOOL */
	const char		*dflt_str;	/* CFG_STRING */
	const char *const	*names;		/* CFG_ENUM, NULL-terminated */
	const struct cfg_field	*fields;	/* CFG_SECTION; see below */
	cfg_load_fn		 load;		/* CFG_CUSTOM */
	cfg_free_fn		 free;		/* CFG_CUSTOM */
	cfg_check_fn		 check;		/* CFG_STRINGS, or NULL */
	const char		*doc;		/* one line: what it means */
	/*
	 * Added for the walks that need no JSON (free, secrets, restart
	 * notes, docs). A CFG_CUSTOM row whose section's code loads an
	 * object may name that object's fields (and offset): the walks go
	 * into it as into a CFG_SECTION. With entry_size too, the object
	 * holds named entries (upstreams.<name>): at offset a pointer to
	 * an array of entry_size bytes each, their number (size_t) at
	 * count_offset, each entry's name (char *) at name_offset in it.
	 */
	size_t			 entry_size;
	size_t			 count_offset;
	size_t			 name_offset;
	cfg_same_fn		 same;		/* CFG_CUSTOM, CFG_F_RESTART */
	const char		*doc_type;	/* docs: the type, if not the
						 * type's own name */
	const char		*doc_dflt;	/* docs: the default, if not
						 * the row's own */
};

/*
 * Shorthand for the usual rows; what follows the fixed arguments is more
 * designated initializers: .doc always, .flags and .doc_* where needed.
 */
#define F_STR(s, k, m, req, d, ...) { .key = k, .type = CFG_STRING, \
	.offset = offsetof(s, m), .required = req, .dflt_str = d, __VA_ARGS__ }
#define F_FILE(s, k, m, req, ...) { .key = k, .type = CFG_FILE, \
	.offset = offsetof(s, m), .required = req, __VA_ARGS__ }
#define F_LONG(s, k, m, lo, hi, d, ...) { .key = k, .type = CFG_LONG, \
	.offset = offsetof(s, m), .min = lo, .max = hi, .dflt = d, __VA_ARGS__ }
#define F_SEC(s, k, m, lo, hi, d, ...) { .key = k, .type = CFG_SECONDS, \
	.offset = offsetof(s, m), .min = lo, .max = hi, .dflt = d, __VA_ARGS__ }
#define F_BOOL(s, k, m, d, ...) { .key = k, .type = CFG_BOOL, \
	.offset = offsetof(s, m), .dflt = d, __VA_ARGS__ }
#define F_ENUM(s, k, m, n, d, ...) { .key = k, .type = CFG_ENUM, \
	.offset = offsetof(s, m), .names = n, .dflt = d, __VA_ARGS__ }
#define F_CUSTOM(k, ...) { .key = k, .type = CFG_CUSTOM, __VA_ARGS__ }
#define F_STRS(s, k, m, chk, ...) { .key = k, .type = CFG_STRINGS, \
	.offset = offsetof(s, m), .check = chk, __VA_ARGS__ }
#define F_END		{ .key = NULL }

void cfg_err(struct cfg_ctx *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For problems whose line is known without the locator. */
void cfg_err_line(struct cfg_ctx *ctx, int line, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * "Did you mean": of rows (each starting with its name, a const char *,
 * stride bytes apart, the last name NULL: a cfg_field table or a NULL-
 * terminated array of names), the one nearest to key by edit distance
 * (Levenshtein, a swap of neighbours counting one), if within
 * max(1, strlen(key) / 3) edits; the first of equals; else NULL.
 */
const char *cfg_nearest(const char *key, const void *rows, size_t stride);
/* what, plus " (did you mean NAME?)" when cfg_nearest finds one. */
void cfg_err_unknown(struct cfg_ctx *ctx, const char *path, const char *what,
    const char *key, const void *rows, size_t stride);
const char *json_type_name(const json_t *v);
/* out = path + "." + key (just key at the top level). */
void child_path(char *out, size_t outlen, const char *path, const char *key);
/* out = path + "[i]": an array's element. */
void child_index(char *out, size_t outlen, const char *path, size_t i);
/*
 * Fill base from obj per fields: unknown keys, missing required keys,
 * types and ranges are errors, reported in the order the keys are
 * written. Returns the number of errors.
 */
int section_load(struct cfg_ctx *ctx, const json_t *obj, const char *path,
    const struct cfg_field *fields, void *base);
/*
 * A CFG_STRINGS value on its own, for a loader that maps the strings
 * further (policy.c: curve names to NIDs): every problem reported, the
 * good elements in out. Returns the number of problems.
 */
int strings_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    cfg_check_fn check, struct cfg_strs *out);
void strings_free(struct cfg_strs *l);
/* Fill base with fields' defaults alone (a section that is absent). */
int section_defaults(const struct cfg_field *fields, void *base);
/* Free what section_load allocated in base (strings, sections, custom). */
void section_free(const struct cfg_field *fields, void *base);
/*
 * Call fn for every row under fields with its key path ("auth.realm",
 * "upstreams.ca.client_key") and flags (its own and its sections'),
 * going into sections (and named entries) rather than calling fn for
 * them. fn gets the bases the row's offset applies to: base, and the
 * same place in other (NULL if other is NULL, or lacks the named entry).
 */
typedef void (*cfg_visit_fn)(void *arg, const struct cfg_field *f,
    const char *path, unsigned flags, const void *base, const void *other);
void section_walk(const struct cfg_field *fields, const void *base,
    const void *other, const char *path, cfg_visit_fn fn, void *arg);

/*
 * The tables of the docs: the rows between "<!-- BEGIN keys NAME -->" and
 * "<!-- END keys NAME -->" of doc (relative to the source tree) are made
 * from fields by tools/config_doc.c, and its test fails when they differ.
 * Ends with a NULL name.
 */
struct cfg_doc_table {
	const char		*doc;
	const char		*name;
	const struct cfg_field	*fields;
};
extern const struct cfg_doc_table cfg_doc_tables[];

/* The tables of the file, from the top level down (config*.c). */
extern const struct cfg_field config_top_fields[];
extern const struct cfg_field admin_fields[];
extern const struct cfg_field cache_fields[];
extern const struct cfg_field queue_fields[];
extern const struct cfg_field store_fields[];
void store_row_free(void *base);
extern const struct cfg_field audit_fields[];
extern const struct cfg_field coap_fields[];
extern const struct cfg_field tls_fields[];
extern const struct cfg_field auth_fields[];
extern const struct cfg_field limits_fields[];
extern const struct cfg_field upstream_fields[];
extern const struct cfg_field localca_fields[];
extern const struct cfg_field route_fields[];

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

/* config_listen.c: "listen", "tls", "auth", "limits", in this order. */
int listen_load(struct cfg_ctx *ctx, const json_t *root);
int tls_load(struct cfg_ctx *ctx, const json_t *root);
int auth_load(struct cfg_ctx *ctx, const json_t *root);
int limits_load(struct cfg_ctx *ctx, const json_t *root);
/* The top-level rows' own: the listen strings, and whether they changed. */
void listen_free(void *base);
int listen_same(const void *a, const void *b);
/* The "auth" row's own: the nonce secret read from its file, wiped. */
void auth_row_free(void *base);

/* config_upstream.c: "upstreams" then "local_cas", entries by name. */
int upstreams_load(struct cfg_ctx *ctx, const json_t *root);

/* config_routes.c: "default" and "labels"; after every other section. */
int routes_load(struct cfg_ctx *ctx, const json_t *root);
/* The "labels" row's own: every route, "default"'s too. */
void routes_free(void *base);

/* config_offline.c: "state_dir", "cache", "queue". */
int offline_load(struct cfg_ctx *ctx, const json_t *root);

/* config_ops.c: logs, admin listener, privileges; the environment. */
int ops_load(struct cfg_ctx *ctx, const json_t *root);
/* ESTRAD_LISTEN, ESTRAD_LOG_LEVEL, ... replace keys of root; each key
 * replaced is noted in ctx->env. */
void config_apply_env(struct cfg_ctx *ctx, json_t *root);

#endif
