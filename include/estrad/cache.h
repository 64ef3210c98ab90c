/*
 * cache: the last good cacerts and csrattrs of each upstream label, kept
 * in memory and on disk (store.c), so a branch office keeps answering
 * them while its CA is unreachable, and after a restart during the
 * outage.
 *
 * An answer younger than cache.ttl is fresh; an older one is still served
 * (stale-if-error: it is only old because refreshing failed) until
 * cache.max_stale, with an Age header either way. Refreshing runs in the
 * background at 3/4 of the TTL, retried with backoff when it fails;
 * a client's request never waits for it. Only a label with nothing cached
 * (or nothing young enough) is forwarded on the client's request path,
 * and a good answer then fills the cache.
 */
#ifndef ESTRAD_CACHE_H
#define ESTRAD_CACHE_H

#include <event2/event.h>

#include "estrad/config.h"
#include "estrad/reply.h"
#include "estrad/router.h"

struct cache;
struct store;
struct upstream_ctx;

/*
 * A config without a "cache" section gives a disabled cache: lookups
 * miss, offers are ignored. st is read here, at start-up; writes go
 * through store_submit().
 */
struct cache *cache_new(struct event_base *base, const struct config *cfg,
    struct store *st, struct upstream_ctx *up, char *err, size_t errlen);
void cache_free(struct cache *c);

/* 1 with *reply filled (a copy, with Age) when route's op is cached and
 * not older than max_stale; 0 otherwise. route belongs to cfg. */
int cache_lookup(struct cache *c, const struct config *cfg,
    const struct cfg_route *route, enum est_op op, struct est_reply *reply);
/* A forwarded answer on the request path: kept if it is a good one. */
void cache_offer(struct cache *c, const struct config *cfg,
    const struct cfg_route *route, enum est_op op,
    const struct est_reply *reply);

/* The oldest cached copy's age in seconds (for /metrics), 0 if none. */
double cache_max_age(const struct cache *c);

#endif
