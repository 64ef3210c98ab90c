/*
 * config_schema: validate a JSON object against a table of fields and
 * report every problem as "FILE:LINE: key.path: problem" (the line comes
 * from config_locate). In the manner of tmux's options-table.c: the same
 * rows validate, fill defaults and document.
 */
#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema_int.h"
#include "estrad/log.h"

/*
 * The problem quotes the file's own keys and strings, which JSON lets hold
 * any character: log_quote's prose rule writes control bytes and bytes
 * above 0x7e as \xNN, so each problem stays one line and carries no
 * terminal escapes (found by fuzz_config). Returns a new string, or NULL.
 */
static char *
cfg_escape_controls(const char *in)
{
	size_t	 n = strlen(in);
	char	*out;

	if ((out = malloc(4 * n + 1)) != NULL)
		log_quote(out, 4 * n + 1, in, n, LOG_QUOTE_PROSE);
	return out;
}

static void
cfg_verr(struct config_errors *errs, const char *file, int line,
    const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
cfg_verr(struct config_errors *errs, const char *file, int line,
    const char *path, const char *fmt, va_list ap)
{
	char	 msg[768], *raw, *out;
	char	**lines;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if ((line < 0 ? asprintf(&raw, "%s: %s: %s", file,
	    *path ? path : "-", msg) : asprintf(&raw, "%s:%d: %s: %s", file,
	    line, *path ? path : "-", msg)) == -1)
		return;
	out = cfg_escape_controls(raw);
	free(raw);
	if (out == NULL)
		return;
	if ((lines = realloc(errs->lines, (errs->n + 1) * sizeof(*lines)))
	    == NULL) {
		free(out);
		return;
	}
	errs->lines = lines;
	errs->lines[errs->n++] = out;
}

/* The ESTRAD_* variable that replaced path or a key above it, or NULL. */
static const char *
cfg_env_of(const struct cfg_ctx *ctx, const char *path)
{
	for (size_t i = 0; i < ctx->nenv; i++) {
		size_t n = strlen(ctx->env[i].key);
		if (strncmp(path, ctx->env[i].key, n) == 0 &&
		    (path[n] == '\0' || path[n] == '.' || path[n] == '['))
			return ctx->env[i].env;
	}
	return NULL;
}

void
cfg_err(struct cfg_ctx *ctx, const char *path, const char *fmt, ...)
{
	char		 msg[768];
	const char	*env;
	va_list		 ap;

	ctx->nerr++;
	va_start(ap, fmt);
	if (ctx->on_err != NULL) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		ctx->on_err(ctx->on_err_arg, path, msg);
	} else if ((env = cfg_env_of(ctx, path)) != NULL)
		/* The file's line holds the value the variable replaced. */
		cfg_verr(ctx->errs, env, -1, path, fmt, ap);
	else
		cfg_verr(ctx->errs, ctx->file, loc_line(&ctx->loc, path), path,
		    fmt, ap);
	va_end(ap);
}

/* For problems whose line is known without the locator. */
void
cfg_err_line(struct cfg_ctx *ctx, int line, const char *path,
    const char *fmt, ...)
{
	va_list ap;

	ctx->nerr++;
	va_start(ap, fmt);
	cfg_verr(ctx->errs, ctx->file, line, path, fmt, ap);
	va_end(ap);
}

void
config_errors_clear(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->lines[i]);
	free(errs->lines);
	errs->lines = NULL;
	errs->n = 0;
}

/* ---- did you mean ---------------------------------------------------- */

/*
 * The optimal-string-alignment distance (Levenshtein plus a swap of two
 * neighbours, as git's "did you mean" counts): keys are short, so a full
 * table on the stack; longer strings are simply "far".
 */
#define CFG_NEAR_MAX	64

static size_t
cfg_distance(const char *a, const char *b)
{
	unsigned	d[CFG_NEAR_MAX + 1][CFG_NEAR_MAX + 1];
	size_t		la = strlen(a), lb = strlen(b);

	if (la > CFG_NEAR_MAX || lb > CFG_NEAR_MAX)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

const char *
cfg_nearest(const char *key, const void *rows, size_t stride)
{
	const char	*best = NULL, *name;
	size_t		 bestd = SIZE_MAX, d, limit = strlen(key) / 3;

	if (limit < 1)
		limit = 1;
	for (const char *r = rows; (name = *(const char *const *)r) != NULL;
	    r += stride)
		if ((d = cfg_distance(key, name)) <= limit && d < bestd) {
			best = name;
			bestd = d;
		}
	return best;
}

void
cfg_err_unknown(struct cfg_ctx *ctx, const char *path, const char *what,
    const char *key, const void *rows, size_t stride)
{
	const char *near = cfg_nearest(key, rows, stride);

	if (near != NULL)
		cfg_err(ctx, path, "%s (did you mean %s?)", what, near);
	else
		cfg_err(ctx, path, "%s", what);
}

/* ---- schema tables --------------------------------------------------- */

const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return "an object";
	case JSON_ARRAY:	return "an array";
	case JSON_STRING:	return "a string";
	case JSON_INTEGER:	return "an integer";
	case JSON_REAL:		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:	return "a boolean";
	default:		return "null";
	}
}

void
child_path(char *out, size_t outlen, const char *path, const char *key)
{
	/* A path cut at 1 KiB still points the operator at the spot. */
	if (snprintf(out, outlen, "%s%s%s", path, *path ? "." : "", key) < 0)
		out[0] = '\0';
}

void
child_index(char *out, size_t outlen, const char *path, size_t i)
{
	if (snprintf(out, outlen, "%s[%zu]", path, i) < 0)
		out[0] = '\0';
}

static int
field_file(struct cfg_ctx *ctx, const char *path, const char *file)
{
	FILE *fp;

	if ((fp = fopen(file, "r")) == NULL) {
		cfg_err(ctx, path, "cannot read %s: %s", file, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

static int
field_enum(struct cfg_ctx *ctx, const char *path, const struct cfg_field *f,
    const json_t *v, int *out)
{
	char	allowed[256] = "";

	if (json_is_string(v))
		for (int i = 0; f->names[i] != NULL; i++)
			if (strcmp(json_string_value(v), f->names[i]) == 0) {
				*out = i;
				return 0;
			}
	for (int i = 0; f->names[i] != NULL; i++) {
		strncat(allowed, i ? ", " : "", sizeof(allowed) -
		    strlen(allowed) - 1);
		strncat(allowed, f->names[i], sizeof(allowed) -
		    strlen(allowed) - 1);
	}
	if (json_is_string(v))
		cfg_err(ctx, path, "must be one of %s, not \"%s\"", allowed,
		    json_string_value(v));
	else
		cfg_err(ctx, path, "must be one of %s, not %s", allowed,
		    json_type_name(v));
	return -1;
}

static int
field_number(struct cfg_ctx *ctx, const char *path, const struct cfg_field *f,
    const json_t *v, void *slot)
{
	double d;

	if (f->type == CFG_LONG && json_is_real(v)) {
		cfg_err(ctx, path, "must be a whole number, not %.10g",
		    json_real_value(v));
		return -1;
	}
	if (f->type == CFG_LONG && !json_is_integer(v)) {
		cfg_err(ctx, path, "must be a whole number, not %s",
		    json_type_name(v));
		return -1;
	}
	if (!json_is_number(v)) {
		cfg_err(ctx, path, "must be a number of seconds, not %s",
		    json_type_name(v));
		return -1;
	}
	d = json_number_value(v);
	if (d < f->min || d > f->max) {
		cfg_err(ctx, path, "%.10g is out of range [%.10g, %.10g]", d, f->min,
		    f->max);
		return -1;
	}
	*(long *)slot = f->type == CFG_LONG ? (long)d : (long)(d * 1000.0);
	return 0;
}

static int
field_default(const struct cfg_field *f, void *slot)
{
	switch (f->type) {
	case CFG_STRING:
		if (f->dflt_str != NULL &&
		    (*(char **)slot = strdup(f->dflt_str)) == NULL)
			return -1;
		return 0;
	case CFG_LONG:
		*(long *)slot = (long)f->dflt;
		return 0;
	case CFG_SECONDS:
		*(long *)slot = (long)(f->dflt * 1000.0);
		return 0;
	case CFG_ENUM:
	case CFG_BOOL:
		*(int *)slot = (int)f->dflt;
		return 0;
	case CFG_SECTION:
		return section_defaults(f->fields, slot) == 0 ? 0 : -1;
	default:
		return 0;
	}
}

static int
field_load(struct cfg_ctx *ctx, const char *path, const struct cfg_field *f,
    const json_t *v, void *slot)
{
	switch (f->type) {
	case CFG_STRING:
	case CFG_FILE:
		if (!json_is_string(v) || json_string_length(v) == 0) {
			cfg_err(ctx, path, "must be a non-empty string, not %s",
			    json_is_string(v) ? "empty" : json_type_name(v));
			return -1;
		}
		if ((*(char **)slot = strdup(json_string_value(v))) == NULL)
			return -1;
		return f->type == CFG_FILE ?
		    field_file(ctx, path, json_string_value(v)) : 0;
	case CFG_LONG:
	case CFG_SECONDS:
		return field_number(ctx, path, f, v, slot);
	case CFG_ENUM:
		return field_enum(ctx, path, f, v, (int *)slot);
	case CFG_BOOL:
		if (!json_is_boolean(v)) {
			cfg_err(ctx, path, "must be true or false, not %s",
			    json_type_name(v));
			return -1;
		}
		*(int *)slot = json_is_true(v);
		return 0;
	default:
		return 0;
	}
}

/*
 * An array of strings, each element passed by check(): the problems name
 * the element ("san.dns[1]"), and every one is reported. Returns the
 * number of problems; out holds the good elements.
 */
int
strings_load(struct cfg_ctx *ctx, const char *path, const json_t *v,
    cfg_check_fn check, struct cfg_strs *out)
{
	char		 ep[1024];
	const char	*why;
	json_t		*e;
	size_t		 i;
	int		 nerr = 0;

	if (!json_is_array(v)) {
		cfg_err(ctx, path, "must be an array of strings, not %s",
		    json_type_name(v));
		return 1;
	}
	out->set = 1;
	if ((out->v = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL) {
		cfg_err(ctx, path, "out of memory");
		return 1;
	}
	json_array_foreach((json_t *)v, i, e) {
		child_index(ep, sizeof(ep), path, i);
		if (!json_is_string(e)) {
			cfg_err(ctx, ep, "must be a string, not %s",
			    json_type_name(e));
			nerr++;
		} else if (check != NULL &&
		    (why = check(json_string_value(e))) != NULL) {
			cfg_err(ctx, ep, "%s", why);
			nerr++;
		} else if ((out->v[out->n++] = strdup(json_string_value(e)))
		    == NULL) {
			cfg_err(ctx, ep, "out of memory");
			return nerr + 1;
		}
	}
	return nerr;
}

static int
field_section(struct cfg_ctx *ctx, const char *path, const struct cfg_field *f,
    const json_t *v, void *slot)
{
	if (!json_is_object(v)) {
		cfg_err(ctx, path, "must be an object, not %s",
		    json_type_name(v));
		return 1;
	}
	return section_load(ctx, v, path, f->fields, slot);
}

/* One present key's value into its row. Returns the number of problems. */
static int
field_present(struct cfg_ctx *ctx, const char *path, const struct cfg_field *f,
    const json_t *v, void *base)
{
	void *slot = (char *)base + f->offset;

	switch (f->type) {
	case CFG_CUSTOM:
		return f->load != NULL ? f->load(ctx, path, v, base) : 0;
	case CFG_SECTION:
		return field_section(ctx, path, f, v, slot);
	case CFG_STRINGS:
		return strings_load(ctx, path, v, f->check, slot);
	default:
		return field_load(ctx, path, f, v, slot) == -1 ? 1 : 0;
	}
}

/*
 * Fill base from obj per fields: unknown keys, missing required keys,
 * types and ranges are errors. Returns 0 or the number of errors. The
 * keys are read in the order they are written, so the problems come in
 * the order of the file's lines; absent keys get their defaults after.
 */
int
section_load(struct cfg_ctx *ctx, const json_t *obj, const char *path,
    const struct cfg_field *fields, void *base)
{
	const char		*key;
	const json_t		*v;
	const struct cfg_field	*f;
	char			 cp[1024];
	int			 nerr = 0;

	json_object_foreach((json_t *)obj, key, v) {
		for (f = fields; f->key != NULL; f++)
			if (strcmp(f->key, key) == 0)
				break;
		child_path(cp, sizeof(cp), path, key);
		if (f->key == NULL) {
			cfg_err_unknown(ctx, cp, "unknown key", key, fields,
			    sizeof(*fields));
			nerr++;
		} else
			nerr += field_present(ctx, cp, f, v, base);
	}
	for (f = fields; f->key != NULL; f++) {
		if (f->type == CFG_CUSTOM ||
		    json_object_get(obj, f->key) != NULL)
			continue;
		if (f->required) {
			child_path(cp, sizeof(cp), path, f->key);
			cfg_err(ctx, cp, "is required");
			nerr++;
		} else if (field_default(f, (char *)base + f->offset) == -1)
			nerr++;
	}
	return nerr;
}

void
strings_free(struct cfg_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
section_defaults(const struct cfg_field *fields, void *base)
{
	int nerr = 0;

	for (const struct cfg_field *f = fields; f->key != NULL; f++)
		if (field_default(f, (char *)base + f->offset) == -1)
			nerr++;
	return nerr;
}

/* The named entries of row f in base: their array and number. */
static char *
named_entries(const struct cfg_field *f, const void *base, size_t *n)
{
	*n = *(const size_t *)((const char *)base + f->count_offset);
	return *(char *const *)((const char *)base + f->offset);
}

static void
named_free(const struct cfg_field *f, void *base)
{
	size_t	 n;
	char	*entries = named_entries(f, base, &n);

	for (size_t i = 0; entries != NULL && i < n; i++) {
		char *entry = entries + i * f->entry_size;
		section_free(f->fields, entry);
		free(*(char **)(entry + f->name_offset));
	}
	free(entries);
	*(char **)((char *)base + f->offset) = NULL;
	*(size_t *)((char *)base + f->count_offset) = 0;
}

void
section_free(const struct cfg_field *fields, void *base)
{
	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		void *slot = (char *)base + f->offset;
		switch (f->type) {
		case CFG_STRING:
		case CFG_FILE:
			free(*(char **)slot);
			*(char **)slot = NULL;
			break;
		case CFG_SECTION:
			section_free(f->fields, slot);
			break;
		case CFG_STRINGS:
			strings_free(slot);
			break;
		case CFG_CUSTOM:
			/* Its own first: it may need the rows' values. */
			if (f->free != NULL)
				f->free(base);
			if (f->fields != NULL && f->entry_size != 0)
				named_free(f, base);
			else if (f->fields != NULL)
				section_free(f->fields, slot);
			break;
		default:
			break;
		}
	}
}

/* The entry of f in base named name, or NULL. */
static const char *
named_find(const struct cfg_field *f, const void *base, const char *name)
{
	size_t		 n;
	const char	*entries = named_entries(f, base, &n);

	for (size_t i = 0; entries != NULL && i < n; i++) {
		const char *entry = entries + i * f->entry_size;
		const char *ename = *(char *const *)(entry + f->name_offset);
		if (ename != NULL && strcmp(ename, name) == 0)
			return entry;
	}
	return NULL;
}

static void
walk_rows(const struct cfg_field *fields, const void *base,
    const void *other, const char *path, unsigned flags, cfg_visit_fn fn,
    void *arg);

static void
walk_named(const struct cfg_field *f, const void *base, const void *other,
    const char *path, unsigned flags, cfg_visit_fn fn, void *arg)
{
	size_t		 n;
	const char	*entries = named_entries(f, base, &n);
	char		 cp[1024];

	for (size_t i = 0; entries != NULL && i < n; i++) {
		const char *entry = entries + i * f->entry_size;
		const char *name = *(char *const *)(entry + f->name_offset);
		if (name == NULL)
			continue;	/* a slot whose load failed */
		child_path(cp, sizeof(cp), path, name);
		walk_rows(f->fields, entry, other ? named_find(f, other, name) :
		    NULL, cp, flags, fn, arg);
	}
}

static void
walk_rows(const struct cfg_field *fields, const void *base,
    const void *other, const char *path, unsigned flags, cfg_visit_fn fn,
    void *arg)
{
	char cp[1024];

	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		unsigned fl = flags | f->flags;
		child_path(cp, sizeof(cp), path, f->key);
		if (f->fields != NULL && f->entry_size != 0)
			walk_named(f, base, other, cp, fl, fn, arg);
		else if (f->fields != NULL)
			walk_rows(f->fields, (const char *)base + f->offset,
			    other ? (const char *)other + f->offset : NULL, cp,
			    fl, fn, arg);
		else
			fn(arg, f, cp, fl, base, other);
	}
}

void
section_walk(const struct cfg_field *fields, const void *base,
    const void *other, const char *path, cfg_visit_fn fn, void *arg)
{
	walk_rows(fields, base, other, path, 0, fn, arg);
}

/* An object at obj[key], or NULL (missing: NULL without error). */
const json_t *
object_at(struct cfg_ctx *ctx, const json_t *obj, const char *path,
    const char *key, int *nerr)
{
	const json_t	*v = json_object_get(obj, key);
	char		 cp[1024];

	if (v == NULL || json_is_object(v))
		return v;
	child_path(cp, sizeof(cp), path, key);
	cfg_err(ctx, cp, "must be an object, not %s", json_type_name(v));
	(*nerr)++;
	return NULL;
}
