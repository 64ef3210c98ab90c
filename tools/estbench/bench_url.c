/*
 * bench_url: SCHEME://host[:port]/path for the load generators (estbench:
 * https, coapbench: coaps).
 */
#include <string.h>
#include <strings.h>
#include <stdio.h>

#include "bench_url.h"

int
bench_url_parse(struct bench_url *u, const char *url, const char *scheme,
    const char *defport)
{
	const char *h, *e, *p;
	size_t hl, sl = strlen(scheme);

	if (strncasecmp(url, scheme, sl) != 0 || strncmp(url + sl, "://", 3) != 0)
		return -1;
	h = url + sl + 3;
	p = strchr(h, '/');
	if (p == NULL)
		p = h + strlen(h);
	if (*h == '[') {
		if ((e = memchr(h, ']', (size_t)(p - h))) == NULL)
			return -1;
		hl = (size_t)(e - h - 1);
		h++;
		e++;
	} else {
		e = memchr(h, ':', (size_t)(p - h));
		if (e == NULL)
			e = p;
		hl = (size_t)(e - h);
	}
	if (hl == 0 || hl >= sizeof(u->host))
		return -1;
	memcpy(u->host, h, hl);
	u->host[hl] = '\0';
	if (*e == ':') {
		if ((size_t)(p - e - 1) >= sizeof(u->port) || p - e - 1 == 0)
			return -1;
		memcpy(u->port, e + 1, (size_t)(p - e - 1));
		u->port[p - e - 1] = '\0';
	} else
		snprintf(u->port, sizeof(u->port), "%s", defport);
	snprintf(u->path, sizeof(u->path), "%s", *p ? p : "/.well-known/est");
	hl = strlen(u->path);
	while (hl > 0 && u->path[hl - 1] == '/')
		u->path[--hl] = '\0';
	return 0;
}
