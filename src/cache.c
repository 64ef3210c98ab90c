/*
 * cache: the last good cacerts and csrattrs of each upstream route.
 *
 * One slot per (route, operation). A slot is filled by its own background
 * refresh (a timer: at 3/4 of the TTL after the last success, sooner with
 * backoff after a failure) or by a client's forwarded request when the
 * slot was empty. Clients are answered from a filled slot whatever the
 * CA's state, with an Age header (RFC 9111 §5.1), until the copy is older
 * than max_stale: a copy past its TTL is only there because every refresh
 * since failed (stale-if-error, RFC 5861 §4).
 *
 * Good answers are written to the store through its writer thread; the
 * store is read once, at start-up, so a restart during an outage still
 * answers. A row whose source (upstream and CA label) differs from the
 * route's current one is ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "estrad/backoff.h"
#include "estrad/cache.h"
#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/store.h"
#include "estrad/upstream.h"

struct cache_slot {
	struct cache		*cs_cache;
	const struct cfg_route	*cs_route;
	enum est_op		 cs_op;
	char			 cs_label[65];	/* "" = bare path */
	char			 cs_source[256];
	int			 cs_have;
	int			 cs_status;
	char			 cs_type[128];
	unsigned char		*cs_body;
	size_t			 cs_len;
	int64_t			 cs_fetched;	/* Unix seconds */
	int			 cs_failures;	/* refreshes failed in a row */
	struct upstream_xfer	*cs_xfer;
	struct event		*cs_timer;
};

struct cache {
	struct event_base	*c_base;
	const struct config	*c_cfg;
	struct store		*c_store;
	struct upstream_ctx	*c_up;
	struct cache_slot	*c_slots;
	size_t			 c_nslots;
};

static void cache_refresh(struct cache_slot *cs);

static int64_t
cache_now(void)
{
	return (int64_t)time(NULL);
}

static const char *
cache_label_name(const struct cache_slot *cs)
{
	return cs->cs_label[0] ? cs->cs_label : "(default)";
}

/*
 * Answers worth keeping (RFC 7030 §4.1.3, §4.5.2). A 200 must have the
 * operation's media type: a captive portal's HTML page kept for a week
 * would be worse than no answer.
 */
static int
cache_cacheable(enum est_op op, int status, const char *type)
{
	const char *want = op == EST_OP_CACERTS ? EST_CT_PKCS7 :
	    EST_CT_CSRATTRS;

	if (status == 200)
		return strncasecmp(type, want, strlen(want)) == 0;
	return op == EST_OP_CSRATTRS && (status == 204 || status == 404);
}

static void
cache_schedule(struct cache_slot *cs, int64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(cs->cs_timer, &tv);
}

/* The next refresh after a success: at 3/4 of the TTL. */
static void
cache_schedule_fresh(struct cache_slot *cs)
{
	int64_t due = cs->cs_fetched * 1000 +
	    cs->cs_cache->c_cfg->cache.ttl * 750;

	cache_schedule(cs, due - cache_now() * 1000);
}

/* ---- writes ------------------------------------------------------------- */

struct cache_write {
	struct store_cached	cw_row;
	int			cw_rc;
	char			cw_err[256];
};

static void
cache_write_work(struct store *st, void *arg)
{
	struct cache_write *w = arg;

	w->cw_rc = store_put_cached(st, &w->cw_row, w->cw_err,
	    sizeof(w->cw_err));
}

static void
cache_write_done(void *arg)
{
	struct cache_write *w = arg;

	if (w->cw_rc == -1)
		log_err("cache: label %s %s: %s", w->cw_row.label[0] ?
		    w->cw_row.label : "(default)", w->cw_row.op, w->cw_err);
	store_cached_clear(&w->cw_row);
	free(w);
}

static void
cache_persist(struct cache_slot *cs)
{
	struct cache		*c = cs->cs_cache;
	struct cache_write	*w;

	if (c->c_store == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return;
	snprintf(w->cw_row.label, sizeof(w->cw_row.label), "%s", cs->cs_label);
	snprintf(w->cw_row.op, sizeof(w->cw_row.op), "%s",
	    est_op_name(cs->cs_op));
	snprintf(w->cw_row.source, sizeof(w->cw_row.source), "%s",
	    cs->cs_source);
	snprintf(w->cw_row.content_type, sizeof(w->cw_row.content_type), "%s",
	    cs->cs_type);
	w->cw_row.status = cs->cs_status;
	w->cw_row.fetched = cs->cs_fetched;
	if (cs->cs_len > 0) {
		if ((w->cw_row.body = malloc(cs->cs_len)) == NULL) {
			free(w);
			return;
		}
		memcpy(w->cw_row.body, cs->cs_body, cs->cs_len);
		w->cw_row.body_len = cs->cs_len;
	}
	if (store_submit(c->c_store, cache_write_work, cache_write_done, w) ==
	    -1) {
		log_warn("cache: the writer is busy; label %s %s is not "
		    "saved to disk this time", cache_label_name(cs),
		    est_op_name(cs->cs_op));
		store_cached_clear(&w->cw_row);
		free(w);
	}
}

/* Keep reply's answer in cs (copied), now, on disk too. */
static void
cache_fill(struct cache_slot *cs, const struct est_reply *reply,
    int64_t fetched)
{
	unsigned char *body = NULL;

	if (reply->body_len > 0) {
		if ((body = malloc(reply->body_len)) == NULL)
			return;
		memcpy(body, reply->body, reply->body_len);
	}
	free(cs->cs_body);
	cs->cs_body = body;
	cs->cs_len = reply->body_len;
	cs->cs_status = reply->status;
	snprintf(cs->cs_type, sizeof(cs->cs_type), "%s", reply->content_type);
	cs->cs_fetched = fetched;
	cs->cs_have = 1;
	if (cs->cs_failures > 0)
		log_info("cache: label %s %s refreshed again after %d "
		    "failure%s", cache_label_name(cs), est_op_name(cs->cs_op),
		    cs->cs_failures, cs->cs_failures == 1 ? "" : "s");
	cs->cs_failures = 0;
	cache_persist(cs);
}

/* ---- refresh ------------------------------------------------------------ */

static void
cache_refresh_failed(struct cache_slot *cs, const char *why, long wait_ms)
{
	const struct cfg_upstream *u =
	    &cs->cs_cache->c_cfg->upstreams[cs->cs_route->upstream];
	struct backoff_policy	 p = { u->backoff_initial_ms,
	    u->backoff_max_ms, 1 };
	int64_t			 delay;

	cs->cs_failures++;
	delay = backoff_delay(&p, cs->cs_failures, arc4random());
	if (wait_ms > delay)
		delay = wait_ms;
	if (cs->cs_have)
		log_warn("cache: label %s %s: refresh failed (%s); serving "
		    "the copy of %lld s ago; next try in %.1f s",
		    cache_label_name(cs), est_op_name(cs->cs_op), why,
		    (long long)(cache_now() - cs->cs_fetched),
		    (double)delay / 1000.0);
	else
		log_warn("cache: label %s %s: refresh failed (%s); nothing "
		    "cached yet; next try in %.1f s", cache_label_name(cs),
		    est_op_name(cs->cs_op), why, (double)delay / 1000.0);
	cache_schedule(cs, delay);
}

static void
cache_on_refreshed(void *arg, struct est_reply *reply, long status,
    enum upstream_outcome outcome)
{
	struct cache_slot *cs = arg;

	cs->cs_xfer = NULL;
	if (outcome == UPSTREAM_ANSWERED && cache_cacheable(cs->cs_op,
	    reply->status, reply->content_type)) {
		cache_fill(cs, reply, cache_now());
		log_debug("cache: label %s %s refreshed (%d, %zu bytes)",
		    cache_label_name(cs), est_op_name(cs->cs_op),
		    reply->status, reply->body_len);
		cache_schedule_fresh(cs);
	} else
		cache_refresh_failed(cs, reply->reason[0] ? reply->reason :
		    "no answer", 0);
	est_reply_clear(reply);
}

static void
cache_refresh(struct cache_slot *cs)
{
	struct cache		*c = cs->cs_cache;
	struct upstream_request	 ureq;
	struct est_reply	 refusal;
	enum upstream_outcome	 outcome;

	if (cs->cs_xfer != NULL)
		return;
	memset(&ureq, 0, sizeof(ureq));
	memset(&refusal, 0, sizeof(refusal));
	ureq.upstream = cs->cs_route->upstream;
	ureq.label = cs->cs_route->upstream_label;
	ureq.op = cs->cs_op;
	ureq.done = cache_on_refreshed;
	ureq.arg = cs;
	cs->cs_xfer = upstream_submit(c->c_up, &ureq, &refusal, &outcome);
	if (cs->cs_xfer == NULL)
		cache_refresh_failed(cs, refusal.reason, outcome ==
		    UPSTREAM_UNAVAILABLE ? upstream_wait_ms(c->c_up,
		    cs->cs_route->upstream) : 0);
	est_reply_clear(&refusal);
}

static void
cache_on_timer(evutil_socket_t fd, short what, void *arg)
{
	cache_refresh(arg);
}

/* ---- the request path ------------------------------------------------- */

static struct cache_slot *
cache_slot(struct cache *c, const struct config *cfg,
    const struct cfg_route *route, enum est_op op)
{
	const char	*label = route->label ? route->label : "";
	char		 source[256];

	if (c == NULL || route->backend != ROUTE_BACKEND_UPSTREAM)
		return NULL;
	/* By label and source: route may come from a config loaded since
	 * the cache's (a reload), whose indexes differ. A label added or
	 * pointed elsewhere since has no slot until the next start. */
	upstream_source(cfg, route->upstream, route->upstream_label, source,
	    sizeof(source));
	for (size_t i = 0; i < c->c_nslots; i++)
		if (c->c_slots[i].cs_op == op &&
		    strcmp(c->c_slots[i].cs_label, label) == 0 &&
		    strcmp(c->c_slots[i].cs_source, source) == 0)
			return &c->c_slots[i];
	return NULL;
}

int
cache_lookup(struct cache *c, const struct config *cfg,
    const struct cfg_route *route, enum est_op op, struct est_reply *reply)
{
	struct cache_slot	*cs = cache_slot(c, cfg, route, op);
	int64_t			 age;

	if (cs == NULL || !cs->cs_have)
		return 0;
	age = cache_now() - cs->cs_fetched;
	if (age < 0)
		age = 0;	/* the clock went back */
	if (age > c->c_cfg->cache.ttl && age > c->c_cfg->cache.max_stale)
		return 0;
	memset(reply, 0, sizeof(*reply));
	if (cs->cs_len > 0) {
		if ((reply->body = malloc(cs->cs_len)) == NULL)
			return 0;
		memcpy(reply->body, cs->cs_body, cs->cs_len);
		reply->body_len = cs->cs_len;
	}
	reply->status = cs->cs_status;
	snprintf(reply->content_type, sizeof(reply->content_type), "%s",
	    cs->cs_type);
	snprintf(reply->age, sizeof(reply->age), "%lld", (long long)age);
	snprintf(reply->reason, sizeof(reply->reason), "cached %s, %lld s "
	    "old%s", est_op_name(op), (long long)age,
	    age > c->c_cfg->cache.ttl ? ", stale: the CA is failing" : "");
	return 1;
}

void
cache_offer(struct cache *c, const struct config *cfg,
    const struct cfg_route *route, enum est_op op,
    const struct est_reply *reply)
{
	struct cache_slot *cs = cache_slot(c, cfg, route, op);

	if (cs == NULL || !cache_cacheable(op, reply->status,
	    reply->content_type))
		return;
	cache_fill(cs, reply, cache_now());
	if (cs->cs_xfer == NULL) {
		evtimer_del(cs->cs_timer);
		cache_schedule_fresh(cs);
	}
}

/* ---- start and stop ----------------------------------------------------- */

static void
cache_load_one(void *arg, struct store_cached *row)
{
	struct cache *c = arg;

	for (size_t i = 0; i < c->c_nslots; i++) {
		struct cache_slot *cs = &c->c_slots[i];
		if (strcmp(cs->cs_label, row->label) != 0 ||
		    strcmp(est_op_name(cs->cs_op), row->op) != 0)
			continue;
		if (strcmp(cs->cs_source, row->source) != 0 ||
		    !cache_cacheable(cs->cs_op, row->status,
		    row->content_type))
			break;	/* another CA's: refreshed afresh */
		cs->cs_body = row->body;
		cs->cs_len = row->body_len;
		row->body = NULL;
		cs->cs_status = row->status;
		snprintf(cs->cs_type, sizeof(cs->cs_type), "%s",
		    row->content_type);
		cs->cs_fetched = row->fetched;
		cs->cs_have = 1;
		break;
	}
	store_cached_clear(row);
}

static int
cache_add_slot(struct cache *c, const struct cfg_route *r, enum est_op op)
{
	struct cache_slot *cs = &c->c_slots[c->c_nslots];

	cs->cs_cache = c;
	cs->cs_route = r;
	cs->cs_op = op;
	snprintf(cs->cs_label, sizeof(cs->cs_label), "%s",
	    r->label ? r->label : "");
	upstream_source(c->c_cfg, r->upstream, r->upstream_label,
	    cs->cs_source, sizeof(cs->cs_source));
	if ((cs->cs_timer = evtimer_new(c->c_base, cache_on_timer, cs)) ==
	    NULL)
		return -1;
	loop_control(cs->cs_timer);
	c->c_nslots++;
	return 0;
}

struct cache *
cache_new(struct event_base *base, const struct config *cfg,
    struct store *st, struct upstream_ctx *up, char *err, size_t errlen)
{
	struct cache	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->c_base = base;
	c->c_cfg = cfg;
	c->c_store = st;
	c->c_up = up;
	if (!cfg->cache.enabled)
		return c;
	if ((c->c_slots = calloc(cfg->nroutes * 2 + 1,
	    sizeof(*c->c_slots))) == NULL)
		goto oom;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i];
		if (r->backend != ROUTE_BACKEND_UPSTREAM)
			continue;
		if (cache_add_slot(c, r, EST_OP_CACERTS) == -1 ||
		    (!r->csrattrs_from_policy &&
		    cache_add_slot(c, r, EST_OP_CSRATTRS) == -1))
			goto oom;
	}
	if (st != NULL && store_load_cached(st, cache_load_one, c, err,
	    errlen) == -1)
		goto fail;
	/* Fill or refresh each slot from the loop, not from here. */
	for (size_t i = 0; i < c->c_nslots; i++) {
		if (c->c_slots[i].cs_have)
			cache_schedule_fresh(&c->c_slots[i]);
		else
			cache_schedule(&c->c_slots[i], 0);
	}
	return c;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	cache_free(c);
	return NULL;
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->c_nslots; i++) {
		upstream_cancel(c->c_slots[i].cs_xfer);
		if (c->c_slots[i].cs_timer != NULL)
			event_free(c->c_slots[i].cs_timer);
		free(c->c_slots[i].cs_body);
	}
	free(c->c_slots);
	free(c);
}

/* For /metrics: the age of the oldest copy served (seconds), 0 if none. */
double
cache_max_age(const struct cache *c)
{
	int64_t	now = cache_now(), max = 0;

	for (size_t i = 0; c != NULL && i < c->c_nslots; i++)
		if (c->c_slots[i].cs_have && now - c->c_slots[i].cs_fetched >
		    max)
			max = now - c->c_slots[i].cs_fetched;
	return (double)max;
}
