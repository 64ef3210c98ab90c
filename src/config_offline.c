/*
 * config_offline: the parts of the configuration that keep a branch office
 * working through an outage: "state_dir", "cache", "queue", and the list
 * of URLs (with their backoff) of each upstream. Private to the config
 * module; errors as FILE:LINE: key.path: problem, like the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"

#define UPSTREAM_MAX_URLS	8
#define UPSTREAM_MAX_URL_LEN	1024	/* the operation path is appended */

static const struct cfg_field cache_fields[] = {
	F_LONG(struct cfg_cache, "ttl", ttl, 1, 31536000, 3600),
	F_LONG(struct cfg_cache, "max_stale", max_stale, 0, 31536000,
	    604800),
	F_END
};

static const struct cfg_field queue_fields[] = {
	F_LONG(struct cfg_queue, "retry_after", retry_after, 1, 86400, 60),
	F_LONG(struct cfg_queue, "max_entries", max_entries, 1, 1000000,
	    10000),
	F_LONG(struct cfg_queue, "expire", expire, 60, 31536000, 604800),
	F_LONG(struct cfg_queue, "max_forwarding", max_forwarding, 1, 1024,
	    4),
	F_LONG(struct cfg_queue, "poll_interval", poll_interval, 1, 86400,
	    60),
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

static int
url_check(struct cfg_ctx *ctx, const char *path, const char *url)
{
	if (strncmp(url, "https://", 8) != 0) {
		/* RFC 7030 §3.3: EST runs over TLS only. */
		cfg_err(ctx, path, "must be an https:// URL");
		return 1;
	}
	if (url[strlen(url) - 1] == '/') {
		cfg_err(ctx, path, "must not end in '/' (the operation path "
		    "is appended)");
		return 1;
	}
	if (strlen(url) > UPSTREAM_MAX_URL_LEN) {
		cfg_err(ctx, path, "is longer than %d bytes",
		    UPSTREAM_MAX_URL_LEN);
		return 1;
	}
	/* URLs are logged: credentials belong in password_file. */
	if (strchr(url + 8, '@') != NULL &&
	    strchr(url + 8, '@') < url + 8 + strcspn(url + 8, "/")) {
		cfg_err(ctx, path, "must not hold user:password@ (use "
		    "username and password_file)");
		return 1;
	}
	return 0;
}

static int
url_add(struct cfg_ctx *ctx, const char *path, const json_t *v,
    struct cfg_upstream *u)
{
	const char *url;

	if (!json_is_string(v) || json_string_length(v) == 0) {
		cfg_err(ctx, path, "must be a non-empty string, not %s",
		    json_is_string(v) ? "empty" : json_type_name(v));
		return 1;
	}
	url = json_string_value(v);
	if (url_check(ctx, path, url) != 0)
		return 1;
	for (size_t i = 0; i < u->nurls; i++)
		if (strcmp(u->urls[i], url) == 0) {
			cfg_err(ctx, path, "%s is listed twice", url);
			return 1;
		}
	if ((u->urls[u->nurls] = strdup(url)) == NULL)
		return 1;
	u->nurls++;
	return 0;
}

/*
 * "url": one base URL, or an array of them (the same CA behind several
 * addresses, or replicas), tried in the listed order, skipping those whose breaker is open.
 */
int
upstream_urls_load(struct cfg_ctx *ctx, const char *path, const json_t *obj,
    struct cfg_upstream *u)
{
	const json_t	*v = json_object_get(obj, "url"), *e;
	char		 cp[1024], ep[1100];
	size_t		 i;
	int		 nerr = 0;

	child_path(cp, sizeof(cp), path, "url");
	if (v == NULL) {
		cfg_err(ctx, cp, "is required");
		return 1;
	}
	if (json_is_array(v) && (json_array_size(v) == 0 ||
	    json_array_size(v) > UPSTREAM_MAX_URLS)) {
		cfg_err(ctx, cp, "must list 1 to %d URLs", UPSTREAM_MAX_URLS);
		return 1;
	}
	if ((u->urls = calloc(UPSTREAM_MAX_URLS, sizeof(char *))) == NULL)
		return 1;
	if (!json_is_array(v))
		nerr += url_add(ctx, cp, v, u);
	else
		json_array_foreach(v, i, e) {
			snprintf(ep, sizeof(ep), "%s[%zu]", cp, i);
			nerr += url_add(ctx, ep, e, u);
		}
	if (nerr == 0 && (u->url = strdup(u->urls[0])) == NULL)
		nerr++;
	if (nerr == 0 && u->backoff_max_ms < u->backoff_initial_ms) {
		child_path(cp, sizeof(cp), path, "backoff_max");
		cfg_err(ctx, cp, "is less than backoff_initial");
		nerr++;
	}
	return nerr;
}

void
upstream_urls_free(struct cfg_upstream *u)
{
	for (size_t i = 0; u->urls != NULL && i < u->nurls; i++)
		free(u->urls[i]);
	free(u->urls);
	u->urls = NULL;
	u->nurls = 0;
}
