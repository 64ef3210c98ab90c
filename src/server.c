/*
 * server: one running configuration's modules, from start to stop. It
 * builds and frees them (listener, upstreams, store, queue, cache, auth,
 * audit, local CAs, rate counters, admin listener), swaps in a reloaded
 * config all at once or not at all (SIGHUP), and drains (SIGTERM). One
 * request's path is est.c's: the listener hands each request to
 * est_on_request() with the server as its argument.
 *
 * Two configs are kept: srv_boot_cfg, the one the server started with,
 * which alone holds the restart-only settings (listen addresses,
 * state_dir, cache, queue, admin, auth, audit) and what a reload must
 * keep (the upstreams and local CAs by name), and srv_cfg, the current
 * one, which each new request takes a reference on (est_req's rq_cfg).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "estrad/coap.h"
#include "estrad/admin.h"
#include "estrad/audit.h"
#include "estrad/auth.h"
#include "estrad/cache.h"
#include "estrad/config.h"
#include "estrad/est.h"
#include "estrad/limiter.h"
#include "estrad/listener.h"
#include "estrad/localca.h"
#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/metrics.h"
#include "estrad/pg.h"
#include "estrad/policy.h"
#include "estrad/queue.h"
#include "estrad/server.h"
#include "estrad/store.h"
#include "estrad/upstream.h"

#include "est_req_int.h"

/* ---- rates -------------------------------------------------------------- */

static void
server_rates_drop(struct limiter **rates, size_t n)
{
	for (size_t i = 0; rates != NULL && i < n; i++)
		limiter_free(rates[i]);
	free(rates);
}

/* One counter per route of cfg whose policy has a rate: *rates and *n,
 * or -1 (nothing to free). A reload builds them before it commits. */
static int
server_rates_make(const struct config *cfg, struct limiter ***rates,
    size_t *n)
{
	struct limiter **r;

	if ((r = calloc(cfg->nroutes + 1, sizeof(*r))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct policy *p = cfg->routes[i].policy;
		if (policy_rate_max(p) <= 0)
			continue;
		if ((r[i] = limiter_new(16384, policy_rate_max(p),
		    policy_rate_window(p))) == NULL) {
			server_rates_drop(r, cfg->nroutes);
			return -1;
		}
	}
	*rates = r;
	*n = cfg->nroutes;
	return 0;
}

static void
server_rates_free(struct server *srv)
{
	server_rates_drop(srv->srv_rates, srv->srv_nrates);
	srv->srv_rates = NULL;
	srv->srv_nrates = 0;
}

/* The counter of label's route in the current config (a reload may have
 * changed the routes since the request started), or NULL. */
struct limiter *
server_rate(const struct server *srv, const char *label)
{
	const struct cfg_route *r = config_route(srv->srv_cfg, label);

	return r != NULL && r->index < srv->srv_nrates ?
	    srv->srv_rates[r->index] : NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void
server_localcas_free(struct localca **cas, size_t n)
{
	for (size_t i = 0; cas != NULL && i < n; i++)
		localca_free(cas[i]);
	free(cas);
}

/* The local CAs of cfg (same names, same order), or NULL (logged). */
static struct localca **
server_localcas_new(const struct config *cfg)
{
	struct localca	**cas;
	char		  err[512];

	if ((cas = calloc(cfg->nlocal_cas + 1, sizeof(*cas))) == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->nlocal_cas; i++)
		if ((cas[i] = localca_new(&cfg->local_cas[i], err,
		    sizeof(err))) == NULL) {
			log_err("local CA %s: %s", cfg->local_cas[i].name, err);
			server_localcas_free(cas, cfg->nlocal_cas);
			return NULL;
		}
	return cas;
}

/* /readyz: serving, and something to serve with. */
static int
server_ready(void *arg, char *why, size_t whylen)
{
	struct server		*srv = arg;
	const struct config	*cfg = srv->srv_boot_cfg;
	size_t			 nwhy = 0;

	if (srv->srv_draining) {
		snprintf(why, whylen, "shutting down");
		return 0;
	}
	/* Replicas without their shared state would each act alone. */
	if (srv->srv_pg != NULL && !pg_available(srv->srv_pg)) {
		snprintf(why, whylen, "shared store unreachable: %s",
		    pg_why(srv->srv_pg));
		return 0;
	}
	/* Our own mistake: nothing is served by waiting, not even the
	 * queue (issue 18 §1). Not ready when it leaves nothing to serve
	 * with; otherwise ready, the first refusal named all the same. */
	for (size_t i = 0; i < cfg->nupstreams; i++)
		if (upstream_refused(srv->srv_upstreams, i, nwhy == 0 ? why :
		    NULL, whylen))
			nwhy++;
	if (nwhy > 0 && nwhy == cfg->nupstreams && cfg->nlocal_cas == 0)
		return 0;
	if (queue_enabled(srv->srv_queue) || cfg->nlocal_cas > 0)
		return 1;
	for (size_t i = 0; i < cfg->nupstreams; i++)
		if (upstream_wait_ms(srv->srv_upstreams, i) == 0)
			return 1;
	snprintf(why, whylen, "no upstream CA reachable and no queue");
	return 0;
}

static void
server_gauges(void *arg, struct metrics_gauges *g)
{
	struct server *srv = arg;

	queue_stats(srv->srv_queue, g->queue_entries,
	    &g->queue_oldest_seconds);
	g->cache_max_age_seconds = cache_max_age(srv->srv_cache);
}

static int
server_admin_new(struct server *srv)
{
	struct admin_probe	probe = { server_ready, server_gauges, srv };
	char			err[512];

	if (!srv->srv_boot_cfg->admin.enabled)
		return 0;
	/* The lag is only ever read through /metrics. */
	srv->srv_lag = loop_lag_new(srv->srv_base);
	if ((srv->srv_admin = admin_new(srv->srv_base, srv->srv_boot_cfg,
	    &probe, err, sizeof(err))) == NULL) {
		log_err("admin: %s", err);
		return -1;
	}
	return 0;
}

/* The durable store, the queue and the cache (docs/offline.md). */
static int
server_offline_new(struct server *srv)
{
	const struct config	*cfg = srv->srv_boot_cfg;
	char			 err[512];

	if (cfg->state_dir != NULL &&
	    (srv->srv_store = store_open(cfg->state_dir, 1, err,
	    sizeof(err))) == NULL)
		goto fail;
	if ((srv->srv_queue = queue_new(srv->srv_base, cfg, srv->srv_store,
	    srv->srv_pg, srv->srv_upstreams, srv->srv_audit, err,
	    sizeof(err))) == NULL ||
	    (srv->srv_cache = cache_new(srv->srv_base, cfg, srv->srv_store,
	    srv->srv_upstreams, err, sizeof(err))) == NULL)
		goto fail;
	if (srv->srv_store != NULL &&
	    store_writer_start(srv->srv_store, srv->srv_base) == -1) {
		snprintf(err, sizeof(err), "cannot start the store's writer");
		goto fail;
	}
	return 0;
fail:
	log_err("%s", err);
	return -1;
}

/*
 * The shared store (store.backend "postgresql"): checked, its schema made
 * or upgraded, and the group's nonce secret read, all before the loop
 * runs (blocking is fine here); then the connections of the loop. A
 * database away at start is an error: estrad will not start on state it
 * cannot check (the service manager starts it again).
 */
static int
server_pg_new(struct server *srv, struct config *cfg)
{
	PGconn	*c;
	char	 err[512];

	if (cfg->store.backend != STORE_POSTGRESQL)
		return 0;
	if ((c = pg_connect_blocking(&cfg->store, err, sizeof(err))) == NULL)
		goto fail;
	if (pg_schema_migrate(c, err, sizeof(err)) == -1 ||
	    (cfg->auth.nonce_secret == NULL && pg_nonce_secret(c,
	    &cfg->auth.nonce_secret, &cfg->auth.nonce_secret_len, err,
	    sizeof(err)) == -1)) {
		PQfinish(c);
		goto fail;
	}
	PQfinish(c);
	if ((srv->srv_pg = pg_new(srv->srv_base, &cfg->store, err,
	    sizeof(err))) == NULL)
		goto fail;
	return 0;
fail:
	log_err("store: %s", err);
	return -1;
}

struct server *
server_new(struct event_base *base, struct config *cfg)
{
	struct server	*srv;
	char		 err[512];

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		config_free(cfg);
		return NULL;
	}
	srv->srv_base = base;
	TAILQ_INIT(&srv->srv_orphans);
	srv->srv_boot_cfg = cfg;
	srv->srv_cfg = config_ref(cfg);
	RAND_bytes((unsigned char *)&srv->srv_id_prefix,
	    sizeof(srv->srv_id_prefix));
	if ((srv->srv_localcas = server_localcas_new(cfg)) == NULL ||
	    server_pg_new(srv, cfg) == -1)
		goto fail;
	if ((srv->srv_auth = auth_new(base, cfg, err, sizeof(err))) == NULL ||
	    (srv->srv_audit = audit_new(base, &cfg->audit, err, sizeof(err)))
	    == NULL) {
		log_err("%s", err);
		goto fail;
	}
	auth_use_store(srv->srv_auth, srv->srv_pg);
	if (server_rates_make(cfg, &srv->srv_rates, &srv->srv_nrates) == -1)
		goto fail;
	if ((srv->srv_upstreams = upstream_ctx_new(base, cfg)) == NULL ||
	    server_offline_new(srv) == -1 ||
	    (srv->srv_listener = listener_new(base, cfg, est_on_request,
	    srv)) == NULL || server_admin_new(srv) == -1)
		goto fail;
	if (cfg->coap.enabled &&
	    (srv->srv_coap = coaps_new(srv, base, cfg)) == NULL)
		goto fail;
	return srv;
fail:
	server_free(srv);
	return NULL;
}

void
server_free(struct server *srv)
{
	struct est_req *rq;

	if (srv == NULL)
		return;
	/* The listener first: freeing evhttp abandons pending requests,
	 * which cancel their transfers while the multi handle exists; so
	 * are enrollments whose clients left (their record says so). */
	srv->srv_stopped = 1;
	/* CoAP's sessions end first: their requests are left, and join the
	 * orphans if the CA has them. */
	coaps_free(srv->srv_coap);
	while ((rq = TAILQ_FIRST(&srv->srv_orphans)) != NULL)
		est_req_abandon(rq);
	admin_free(srv->srv_admin);
	loop_lag_free(srv->srv_lag);
	listener_free(srv->srv_listener);
	/* The writer's last jobs complete while queue and cache exist;
	 * then their transfers are cancelled while the multi handle is. */
	store_close(srv->srv_store);
	cache_free(srv->srv_cache);
	queue_free(srv->srv_queue);
	upstream_ctx_free(srv->srv_upstreams);
	auth_free(srv->srv_auth);
	/* After every module that sends queries: they cancelled theirs. */
	pg_free(srv->srv_pg);
	/* After the requests: queued records are written, none is lost. */
	audit_free(srv->srv_audit);
	server_rates_free(srv);
	config_unref(srv->srv_cfg);
	server_localcas_free(srv->srv_localcas, srv->srv_boot_cfg->nlocal_cas);
	config_unref(srv->srv_boot_cfg);
	free(srv);
}

/* What a reload cannot change: said, and the reload refused. */
static int
server_reload_compatible(const struct config *old, const struct config *cfg)
{
	if (old->nlocal_cas != cfg->nlocal_cas) {
		log_err("reload: the local CAs changed; that needs a restart");
		return 0;
	}
	for (size_t i = 0; i < cfg->nlocal_cas; i++)
		if (strcmp(old->local_cas[i].name, cfg->local_cas[i].name)) {
			log_err("reload: the local CAs changed; that needs a "
			    "restart");
			return 0;
		}
	return 1;
}

/* Everything but the user files; 0, or -1 with the old config kept. */
static int
server_reload_config(struct server *srv)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*cfg, *old;
	struct localca		**cas = NULL;
	SSL_CTX			*ssl = NULL;
	struct upstream_reload	*ups = NULL;
	struct limiter		**rates = NULL;
	size_t			  nrates = 0;

	if ((cfg = config_load(srv->srv_boot_cfg->path, &errs)) == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("reload: %s", errs.lines[i]);
		log_err("reload: %s has errors; keeping the configuration "
		    "loaded before", srv->srv_boot_cfg->path);
		config_errors_clear(&errs);
		return -1;
	}
	/* Everything that reads files or can fail first; then all of it
	 * is put in place, or none. */
	if (!server_reload_compatible(srv->srv_boot_cfg, cfg) ||
	    (cas = server_localcas_new(cfg)) == NULL ||
	    server_rates_make(cfg, &rates, &nrates) == -1 ||
	    (ssl = listener_reload_prepare(cfg)) == NULL ||
	    (ups = upstream_reload_prepare(srv->srv_upstreams, cfg)) == NULL) {
		log_err("reload: keeping the configuration loaded before");
		SSL_CTX_free(ssl);
		server_rates_drop(rates, nrates);
		server_localcas_free(cas, cfg->nlocal_cas);
		config_unref(cfg);
		return -1;
	}
	listener_reload_commit(srv->srv_listener, cfg, ssl);
	upstream_reload_commit(srv->srv_upstreams, cfg, ups);
	/* The rates follow the new policies; their counts start over. */
	server_rates_free(srv);
	srv->srv_rates = rates;
	srv->srv_nrates = nrates;
	config_restart_notes(srv->srv_boot_cfg, cfg);
	server_localcas_free(srv->srv_localcas, cfg->nlocal_cas);
	srv->srv_localcas = cas;
	old = srv->srv_cfg;
	srv->srv_cfg = cfg;
	config_unref(old);
	log_configure(cfg->log_format, cfg->log_syslog,
	    cfg->syslog_facility, "estrad");
	log_init((enum log_level)cfg->log_level);
	log_info("reload: policies loaded from %s (with the routes, the TLS "
	    "certificate, key and trust anchors, RA credentials, upstream and "
	    "local CA settings, limits and log settings)", cfg->path);
	return 0;
}

int
server_reload(struct server *srv)
{
	int rc = server_reload_config(srv);

	metrics_reload(rc == 0);
	/* The user files reload whatever the config file's state: they
	 * have their own errors, each keeping its old set. */
	auth_reload_users(srv->srv_auth);
	return rc;
}

void
server_drain(struct server *srv)
{
	long grace = SERVER_DRAIN_GRACE_MS;

	srv->srv_draining = 1;
	if (grace > srv->srv_cfg->shutdown_timeout_ms)
		grace = srv->srv_cfg->shutdown_timeout_ms;
	listener_drain(srv->srv_listener, grace);
	coaps_drain(srv->srv_coap);
	queue_drain(srv->srv_queue);
}

size_t
server_connections(const struct server *srv)
{
	return listener_connections(srv->srv_listener);
}

/* Client requests not yet answered, and queued sends under way. */
long
server_in_flight(const struct server *srv)
{
	return srv->srv_in_flight + queue_sending(srv->srv_queue);
}

long
server_shutdown_ms(const struct server *srv)
{
	return srv->srv_cfg->shutdown_timeout_ms;
}
