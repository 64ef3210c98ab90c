/*
 * config_offline: the parts of the configuration that keep a branch office
 * working through an outage: "state_dir", "cache" and "queue" (each
 * upstream's list of URLs, with their backoff, is with the upstream's
 * rows in config_upstream.c). Private to the config module; errors as
 * FILE:LINE: key.path: problem, like the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"

const struct cfg_field cache_fields[] = {
	F_LONG(struct cfg_cache, "ttl", ttl, 1, 31536000, 3600,
	    .doc_type = "integer seconds",
	    .doc = "a cached cacerts/csrattrs is fresh this long; refreshed in "
	    "the background at 3/4 of it"),
	F_LONG(struct cfg_cache, "max_stale", max_stale, 0, 31536000,
	    604800, .doc_type = "integer seconds",
	    .doc = "served this long while refreshing fails (`Age` header); 0 "
	    "or at least `ttl`"),
	F_END
};

const struct cfg_field queue_fields[] = {
	F_LONG(struct cfg_queue, "retry_after", retry_after, 1, 86400, 60,
	    .doc_type = "integer seconds",
	    .doc = "`Retry-After` of the client's `202`"),
	F_LONG(struct cfg_queue, "max_entries", max_entries, 1, 1000000,
	    10000,
	    .doc = "entries waiting at once; beyond, `503`"),
	F_LONG(struct cfg_queue, "expire", expire, 60, 31536000, 604800,
	    .doc_type = "integer seconds",
	    .doc = "an entry's life, waiting or answered"),
	F_LONG(struct cfg_queue, "max_forwarding", max_forwarding, 1, 1024,
	    4,
	    .doc = "queued requests sent to the CA at once"),
	F_LONG(struct cfg_queue, "poll_interval", poll_interval, 1, 86400,
	    60, .doc_type = "integer seconds",
	    .doc = "polling a CA that answered `202` without `Retry-After`"),
	F_END
};

static int
offline_section(struct cfg_ctx *ctx, const json_t *root, const char *key,
    const struct cfg_field *fields, void *base, int *enabled)
{
	const json_t	*obj;
	int		 nerr = 0;

	if ((obj = object_at(ctx, root, "", key, &nerr)) == NULL)
		return nerr;
	*enabled = 1;
	if (ctx->cfg->state_dir == NULL) {
		cfg_err(ctx, key, "needs \"state_dir\" (where the %s is kept "
		    "across restarts)", key);
		nerr++;
	}
	return nerr + section_load(ctx, obj, key, fields, base);
}

int
offline_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct config	*cfg = ctx->cfg;
	int		 nerr = 0;

	/* state_dir comes from the top-level table (a plain string). */
	if (cfg->state_dir != NULL && cfg->state_dir[0] != '/') {
		cfg_err(ctx, "state_dir", "must be an absolute path");
		nerr++;
	}
	nerr += offline_section(ctx, root, "cache", cache_fields, &cfg->cache,
	    &cfg->cache.enabled);
	nerr += offline_section(ctx, root, "queue", queue_fields, &cfg->queue,
	    &cfg->queue.enabled);
	if (cfg->cache.enabled && cfg->cache.max_stale > 0 &&
	    cfg->cache.max_stale < cfg->cache.ttl) {
		cfg_err(ctx, "cache.max_stale", "%ld is less than cache.ttl "
		    "(%ld): use 0 to serve nothing stale", cfg->cache.max_stale,
		    cfg->cache.ttl);
		nerr++;
	}
	return nerr;
}
