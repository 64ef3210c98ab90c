/*
 * config_doc: the key tables of docs/configuration.md, made from the
 * config engine's rows (src/config_schema_int.h, cfg_doc_tables), so the
 * docs cannot drift from the code. Each table sits between
 *
 *	<!-- BEGIN keys NAME -->
 *	<!-- END keys NAME -->
 *
 * and the prose around it is the docs' own. The same for the lists of
 * the rows flagged CFG_F_SECRET ("<!-- BEGIN secrets -->" .. "<!-- END
 * secrets -->") and CFG_F_RESTART ("restart"), and the table of the
 * environment variables the rows name (.env: "env"). docs/policy.md's
 * tables come from the policy compiler's rows the same way.
 *
 *	config_doc --check SRCDIR	exit 1 if a table differs (ctest)
 *	config_doc --write SRCDIR	rewrite the tables in place
 *
 * A row without .doc, a CFG_CUSTOM row without .doc_type, a table the
 * top level reaches that no marker shows, or a marker without a table is
 * an error either way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema_int.h"
#include "policy_int.h"

#define DOC_MAX		(1024 * 1024)

struct buf {
	char	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL) {
			fprintf(stderr, "config_doc: out of memory\n");
			exit(2);
		}
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* "`a`, `b` or `c`" */
static void
enum_names(struct buf *b, const char *const *names)
{
	char one[128];

	for (size_t i = 0; names[i] != NULL; i++) {
		snprintf(one, sizeof(one), "%s`%s`", i == 0 ? "" :
		    names[i + 1] == NULL ? " or " : ", ", names[i]);
		buf_str(b, one);
	}
}

static void
row_type(struct buf *b, const struct cfg_field *f)
{
	static const char *const name[] = {
		[CFG_STRING] = "string", [CFG_FILE] = "path",
		[CFG_LONG] = "integer", [CFG_SECONDS] = "seconds",
		[CFG_BOOL] = "boolean", [CFG_SECTION] = "object",
		[CFG_STRINGS] = "array of strings",
	};
	char range[96];

	if (f->type == CFG_ENUM && f->doc_type == NULL) {
		enum_names(b, f->names);
		return;
	}
	buf_str(b, f->doc_type ? f->doc_type : name[f->type]);
	if (f->type == CFG_LONG || f->type == CFG_SECONDS) {
		snprintf(range, sizeof(range), " %.10g..%.10g", f->min, f->max);
		buf_str(b, range);
	}
}

static void
row_default(struct buf *b, const struct cfg_field *f)
{
	char num[64];

	if (f->doc_dflt != NULL) {
		buf_str(b, f->doc_dflt);
		return;
	}
	if (f->required) {
		buf_str(b, "required");
		return;
	}
	switch (f->type) {
	case CFG_STRING:
		if (f->dflt_str == NULL)
			break;
		buf_str(b, "`\"");
		buf_str(b, f->dflt_str);
		buf_str(b, "\"`");
		return;
	case CFG_LONG:
	case CFG_SECONDS:
		snprintf(num, sizeof(num), "%.10g", f->dflt);
		buf_str(b, num);
		return;
	case CFG_ENUM:
		if (f->names[(int)f->dflt] == NULL)	/* "none of them" */
			break;
		buf_str(b, "`\"");
		buf_str(b, f->names[(int)f->dflt]);
		buf_str(b, "\"`");
		return;
	case CFG_BOOL:
		buf_str(b, f->dflt != 0 ? "`true`" : "`false`");
		return;
	default:
		break;
	}
	buf_str(b, "none");
}

/* The markdown table of fields; -1 (said) if a row cannot be shown. */
static int
table_make(struct buf *b, const char *name, const struct cfg_field *fields)
{
	int bad = 0;

	buf_str(b, "| key | type | default | meaning |\n|---|---|---|---|\n");
	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		if (f->doc == NULL || (f->type == CFG_CUSTOM &&
		    f->doc_type == NULL)) {
			fprintf(stderr, "config_doc: table %s: row \"%s\" has no "
			    "%s\n", name, f->key, f->doc ? ".doc_type" : ".doc");
			bad = 1;
			continue;
		}
		if (strpbrk(f->doc, "|\n") != NULL) {
			fprintf(stderr, "config_doc: table %s: row \"%s\": its "
			    ".doc holds '|' or a newline\n", name, f->key);
			bad = 1;
		}
		buf_str(b, "| `");
		buf_str(b, f->key);
		buf_str(b, "` | ");
		row_type(b, f);
		buf_str(b, " | ");
		row_default(b, f);
		buf_str(b, " | ");
		buf_str(b, f->doc);
		buf_str(b, " |\n");
	}
	return bad ? -1 : 0;
}

static const struct cfg_doc_table *
table_find(const char *doc, const char *name, size_t namelen)
{
	for (const struct cfg_doc_table *t = cfg_doc_tables; t->name; t++)
		if (strcmp(t->doc, doc) == 0 && strlen(t->name) == namelen &&
		    strncmp(t->name, name, namelen) == 0)
			return t;
	return NULL;
}

/* Every table the top level reaches is shown somewhere. */
static int
tables_reached(const struct cfg_field *fields, const char *path)
{
	char	cp[256];
	int	bad = 0;

	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		const struct cfg_doc_table *t;
		if (f->fields == NULL)
			continue;
		snprintf(cp, sizeof(cp), "%s%s%s", path, *path ? "." : "",
		    f->key);
		for (t = cfg_doc_tables; t->name; t++)
			if (t->fields == f->fields)
				break;
		if (t->name == NULL) {
			fprintf(stderr, "config_doc: the rows of %s are in no "
			    "table of cfg_doc_tables\n", cp);
			bad = 1;
		}
		bad |= tables_reached(f->fields, cp) != 0;
	}
	return bad ? -1 : 0;
}

static char *
file_read(const char *path)
{
	FILE	*fp;
	char	*text;
	size_t	 n;

	if ((fp = fopen(path, "r")) == NULL || (text = malloc(DOC_MAX + 1)) ==
	    NULL) {
		perror(path);
		exit(2);
	}
	n = fread(text, 1, DOC_MAX, fp);
	fclose(fp);
	text[n] = '\0';
	return text;
}

/* The paths of the rows flagged flag: "`tls.key`, `upstreams.*.client_key`". */
static void
flagged(struct buf *b, const struct cfg_field *fields, const char *path,
    unsigned flag)
{
	char cp[256];

	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		snprintf(cp, sizeof(cp), "%s%s%s", path, *path ? "." : "",
		    f->key);
		if (f->flags & flag) {	/* a section's flag: all of it */
			buf_str(b, b->len ? ", `" : "`");
			buf_str(b, cp);
			buf_str(b, "`");
		} else if (f->fields != NULL) {
			if (f->entry_size != 0)
				strncat(cp, ".*", sizeof(cp) - strlen(cp) - 1);
			flagged(b, f->fields, cp, flag);
		}
	}
}

/*
 * The variables that replace keys (the rows' .env): a table. -1 (said)
 * for a key deeper than one section, which config_apply_env cannot set.
 */
static int
env_rows(struct buf *b, const struct cfg_field *fields, const char *path)
{
	char	cp[256];
	int	bad = 0;

	for (const struct cfg_field *f = fields; f->key != NULL; f++) {
		snprintf(cp, sizeof(cp), "%s%s%s", path, *path ? "." : "",
		    f->key);
		if (f->fields != NULL && f->entry_size == 0)
			bad |= env_rows(b, f->fields, cp) != 0;
		if (f->env == NULL)
			continue;
		if (strchr(cp, '.') != NULL && strchr(cp, '.') !=
		    strrchr(cp, '.')) {
			fprintf(stderr, "config_doc: %s: .env on a key more "
			    "than one section deep\n", cp);
			bad = 1;
		}
		buf_str(b, "| `");
		buf_str(b, f->env);
		buf_str(b, "` | `");
		buf_str(b, cp);
		buf_str(b, f->flags & CFG_F_ENV_LIST ? "` (comma-separated) |\n" :
		    "` |\n");
	}
	return bad ? -1 : 0;
}

/*
 * The text of doc with its tables (and its lists of secret files and of
 * keys a reload does not change) made anew into out.
 * -1 (said) on a marker that is unknown or unclosed, or a table that has
 * no marker.
 */
static int
doc_make(const char *doc, const char *text, struct buf *out)
{
	static const char begin[] = "<!-- BEGIN ";
	const char	*p = text, *m, *end, *close;
	char		 endmark[128];
	int		 bad = 0, shown[64] = { 0 };

	while ((m = strstr(p, begin)) != NULL) {
		const char *what = m + strlen(begin);
		size_t whatlen = strcspn(what, " \n");
		const char *name = what + whatlen + 1;
		size_t namelen = strcspn(name, " \n");
		const struct cfg_doc_table *t = NULL;
		if (strncmp(what, "keys ", 5) == 0)
			t = table_find(doc, name, namelen);
		else if (strncmp(what, "secrets ", 8) == 0 ||
		    strncmp(what, "restart ", 8) == 0 ||
		    strncmp(what, "env ", 4) == 0)
			namelen = 0;
		else
			what = NULL;
		if ((end = strchr(m, '\n')) == NULL || what == NULL ||
		    (namelen != 0 && t == NULL)) {
			fprintf(stderr, "config_doc: %s: unknown marker "
			    "\"%.*s\"\n", doc, (int)strcspn(m, "\n"), m);
			return -1;
		}
		snprintf(endmark, sizeof(endmark), "<!-- END %.*s%s%.*s -->",
		    (int)whatlen, what, namelen ? " " : "", (int)namelen, name);
		if ((close = strstr(end, endmark)) == NULL) {
			fprintf(stderr, "config_doc: %s: no \"%s\"\n", doc,
			    endmark);
			return -1;
		}
		buf_add(out, p, (size_t)(end + 1 - p));
		if (t != NULL) {
			bad |= table_make(out, t->name, t->fields) != 0;
			shown[t - cfg_doc_tables] = 1;
		} else if (what[0] == 'e') {
			buf_str(out, "| variable | key |\n|---|---|\n");
			bad |= env_rows(out, config_top_fields, "") != 0;
		} else {
			struct buf list = { NULL, 0, 0 };
			flagged(&list, config_top_fields, "", what[0] == 's' ?
			    CFG_F_SECRET : CFG_F_RESTART);
			buf_str(out, list.p);
			buf_str(out, "\n");
			free(list.p);
		}
		p = close;
	}
	buf_str(out, p);
	for (const struct cfg_doc_table *t = cfg_doc_tables; t->name; t++)
		if (strcmp(t->doc, doc) == 0 && !shown[t - cfg_doc_tables]) {
			fprintf(stderr, "config_doc: %s: no marker \"%skeys %s "
			    "-->\"\n", doc, begin, t->name);
			bad = 1;
		}
	return bad ? -1 : 0;
}

/* The first line where a and b differ, for the test's output. */
static void
diff_say(const char *doc, const char *a, const char *b)
{
	size_t	i, start = 0;
	int	line = 1;

	for (i = 0; a[i] != '\0' && a[i] == b[i]; i++)
		if (a[i] == '\n') {
			line++;
			start = i + 1;
		}
	fprintf(stderr, "config_doc: %s:%d differs from the config rows:\n"
	    "  docs: %.*s\n  rows: %.*s\n", doc, line,
	    (int)strcspn(a + start, "\n"), a + start,
	    (int)strcspn(b + start, "\n"), b + start);
}

static int
doc_process(const char *srcdir, const char *doc, int write)
{
	struct buf	 out = { NULL, 0, 0 };
	char		 path[4096], *text;
	int		 rc = 0;
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", srcdir, doc);
	text = file_read(path);
	if (doc_make(doc, text, &out) != 0)
		rc = 1;
	else if (strcmp(text, out.p) != 0 && !write) {
		diff_say(doc, text, out.p);
		fprintf(stderr, "config_doc: run \"config_doc --write %s\" and "
		    "review the change\n", srcdir);
		rc = 1;
	} else if (strcmp(text, out.p) != 0) {
		if ((fp = fopen(path, "w")) == NULL ||
		    fwrite(out.p, 1, out.len, fp) != out.len ||
		    fclose(fp) != 0) {
			perror(path);
			rc = 1;
		} else
			printf("config_doc: wrote %s\n", path);
	}
	free(text);
	free(out.p);
	return rc;
}

int
main(int argc, char **argv)
{
	int write, rc;

	if (argc != 3 || (strcmp(argv[1], "--check") != 0 &&
	    strcmp(argv[1], "--write") != 0)) {
		fprintf(stderr, "usage: config_doc --check|--write SRCDIR\n");
		return 2;
	}
	write = strcmp(argv[1], "--write") == 0;
	rc = tables_reached(config_top_fields, "") != 0 ||
	    tables_reached(policy_fields, "policies.*") != 0;
	for (const struct cfg_doc_table *t = cfg_doc_tables; t->name; t++) {
		const struct cfg_doc_table *first;
		for (first = cfg_doc_tables; strcmp(first->doc, t->doc) != 0;
		    first++)
			;
		if (first == t)	/* each file once */
			rc |= doc_process(argv[2], t->doc, write);
	}
	return rc;
}
