/*
 * bench_url: the URL splitting estbench and coapbench share.
 */
#ifndef ESTRAD_BENCH_URL_H
#define ESTRAD_BENCH_URL_H

#include <stddef.h>

struct bench_url {
	char host[256];
	char port[8];
	char path[1024];	/* base path, no trailing '/' */
};

/* SCHEME://host[:port][/path] (host may be [v6]) into u: port defaults to
 * defport, path to /.well-known/est. 0, or -1 for another scheme or a
 * host or port too long or empty. */
int bench_url_parse(struct bench_url *u, const char *url, const char *scheme,
    const char *defport);

#endif
