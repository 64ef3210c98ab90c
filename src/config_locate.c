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

/* n bytes of UTF-8 for code point cp at out (room for 4 is checked). */
static size_t
loc_utf8(unsigned long cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The 4 hex digits of a \uXXXX at p (within end), or -1. */
static long
loc_hex4(const char *p, const char *end)
{
	char	 buf[5], *stop;
	long	 v;

	if (end - p < 4)
		return -1;
	memcpy(buf, p, 4);
	buf[4] = '\0';
	v = strtol(buf, &stop, 16);
	return *stop == '\0' && buf[0] != '-' && buf[0] != '+' ? v : -1;
}

/*
 * One escape after the backslash at l->p, decoded into out (up to 4
 * bytes): keys are matched by their value, as jansson reports them, so
 * "max_body_b\u0079te" is found at its own line (RFC 8259 §7).
 */
static size_t
loc_escape(struct locator *l, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char	*e;
	long		 cp, lo;

	l->p++;				/* the backslash */
	if (l->p >= l->end)
		return 0;
	if (*l->p != 'u') {
		e = *l->p != '\0' ? strchr(from, *l->p) : NULL;
		out[0] = e != NULL ? to[e - from] : *l->p;
		l->p++;
		return 1;
	}
	if ((cp = loc_hex4(l->p + 1, l->end)) < 0) {
		out[0] = *l->p++;
		return 1;
	}
	l->p += 5;
	/* A surrogate pair is one code point. */
	if (cp >= 0xd800 && cp < 0xdc00 && l->end - l->p >= 6 &&
	    l->p[0] == '\\' && l->p[1] == 'u' &&
	    (lo = loc_hex4(l->p + 2, l->end)) >= 0xdc00 && lo < 0xe000) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		l->p += 6;
	}
	return loc_utf8((unsigned long)cp, out);
}

/* Copy a JSON string, escapes decoded (the key jansson reports). */
static void
loc_string(struct locator *l, char *out, size_t outlen)
{
	size_t	n = 0, k;
	char	dec[4];

	l->p++;				/* opening quote */
	while (l->p < l->end && *l->p != '"') {
		if (*l->p == '\\')
			k = loc_escape(l, dec);
		else {
			dec[0] = *l->p++;
			k = 1;
		}
		if (n + k < outlen) {
			memcpy(out + n, dec, k);
			n += k;
		}
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
