/*
 * config_locate: where each key of a JSON text stands. jansson gives no
 * positions for parsed values, so this walks the raw text once (after
 * jansson has accepted it) and records the line of every key path, as
 * "tls.key", "upstreams.ca.url", "listen[1]". Used only by config.c.
 */
#ifndef ESTRAD_CONFIG_LOCATE_H
#define ESTRAD_CONFIG_LOCATE_H

#include <stddef.h>

struct loc_entry {
	char	*path;
	int	 line;
};

struct locator {
	const char	*p, *end;
	int		 line;
	struct loc_entry *v;
	size_t		 n, cap;
};

/* Record the line of every key path in text[0..len). */
void loc_scan(struct locator *l, const char *text, size_t len);
/* The line of path, or of its nearest recorded ancestor, or 1. */
int loc_line(const struct locator *l, const char *path);
void loc_free(struct locator *l);

#endif
