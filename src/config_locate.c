/*
 * config_locate: the line of every key path in a JSON text, for config
 * errors of the form "FILE:LINE: key.path: problem". The text has already
 * been accepted by jansson, so this walk can be simple; it never fails,
 * it only knows less.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/config_locate.h"

#define LOC_MAX_DEPTH	32

static void
loc_record(struct locator *l, const char *path, int line)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct loc_entry *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n].path = strdup(path)) == NULL)
		return;
	l->v[l->n++].line = line;
}

/*
 * Where a scalar ends. Not strchr alone: it finds the string's own NUL,
 * and a NUL byte in the file then read as a delimiter that never advances
 * (an endless loop, found by fuzz_config).
 */
static int
loc_delim(char c)
{
	return c != '\0' && strchr(",]} \t\r\n", c) != NULL;
}

static void
loc_ws(struct locator *l)
{
	for (; l->p < l->end; l->p++) {
		if (*l->p == '\n')
			l->line++;
		else if (*l->p != ' ' && *l->p != '\t' && *l->p != '\r')
			break;
	}
}

/* Copy a JSON string (escapes kept as written, which suffices for keys). */
static void
loc_string(struct locator *l, char *out, size_t outlen)
{
	size_t n = 0;

	l->p++;				/* opening quote */
	while (l->p < l->end && *l->p != '"') {
		if (*l->p == '\\' && l->p + 1 < l->end)
			l->p++;
		if (n + 1 < outlen)
			out[n++] = *l->p;
		l->p++;
	}
	if (l->p < l->end)
		l->p++;			/* closing quote */
	out[n] = '\0';
}

static void loc_value(struct locator *, const char *, int);

static void
loc_object(struct locator *l, const char *path, int depth)
{
	char key[256], child[1024];

	l->p++;
	for (;;) {
		loc_ws(l);
		if (l->p >= l->end || *l->p == '}')
			break;
		if (*l->p == ',') {
			l->p++;
			continue;
		}
		if (*l->p != '"')
			break;		/* not JSON: jansson has said so */
		int line = l->line;
		loc_string(l, key, sizeof(key));
		snprintf(child, sizeof(child), "%s%s%s", path,
		    *path ? "." : "", key);
		loc_record(l, child, line);
		loc_ws(l);
		if (l->p < l->end && *l->p == ':')
			l->p++;
		loc_value(l, child, depth + 1);
	}
	if (l->p < l->end)
		l->p++;
}

static void
loc_array(struct locator *l, const char *path, int depth)
{
	char		 child[1024];
	const char	*before;
	int		 idx = 0;

	l->p++;
	for (;;) {
		loc_ws(l);
		if (l->p >= l->end || *l->p == ']')
			break;
		if (*l->p == ',') {
			l->p++;
			continue;
		}
		snprintf(child, sizeof(child), "%s[%d]", path, idx++);
		loc_record(l, child, l->line);
		before = l->p;
		loc_value(l, child, depth + 1);
		if (l->p == before)
			break;	/* not JSON: do not go round for ever */
	}
	if (l->p < l->end)
		l->p++;
}

/* Step over one value without recording: for nesting past the limit. */
static void
loc_skip(struct locator *l)
{
	int	nest = 0;
	char	scratch[2];

	do {
		if (*l->p == '"') {
			loc_string(l, scratch, sizeof(scratch));
			continue;
		}
		if (*l->p == '{' || *l->p == '[')
			nest++;
		else if (*l->p == '}' || *l->p == ']')
			nest--;
		else if (nest == 0 && loc_delim(*l->p))
			return;
		if (*l->p == '\n')
			l->line++;
		l->p++;
	} while (l->p < l->end && nest > 0);
	while (nest == 0 && l->p < l->end && !loc_delim(*l->p))
		l->p++;
}

static void
loc_value(struct locator *l, const char *path, int depth)
{
	char scratch[8];

	loc_ws(l);
	if (l->p >= l->end)
		return;
	if (depth > LOC_MAX_DEPTH) {
		loc_skip(l);
		return;
	}
	switch (*l->p) {
	case '{':
		loc_object(l, path, depth);
		break;
	case '[':
		loc_array(l, path, depth);
		break;
	case '"':
		loc_string(l, scratch, sizeof(scratch));
		break;
	default:	/* number, true, false, null */
		while (l->p < l->end && !loc_delim(*l->p))
			l->p++;
	}
}

void
loc_free(struct locator *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
}

int
loc_line(const struct locator *l, const char *path)
{
	char	buf[1024];
	char	*cut;

	snprintf(buf, sizeof(buf), "%s", path);
	for (;;) {
		for (size_t i = 0; i < l->n; i++)
			if (strcmp(l->v[i].path, buf) == 0)
				return l->v[i].line;
		cut = strrchr(buf, '.');
		char *br = strrchr(buf, '[');
		if (br != NULL && (cut == NULL || br > cut))
			cut = br;
		if (cut == NULL)
			return 1;
		*cut = '\0';
	}
}

void
loc_scan(struct locator *l, const char *text, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->p = text;
	l->end = text + len;
	l->line = 1;
	loc_value(l, "", 0);
}
