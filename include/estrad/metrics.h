/*
 * metrics: counters, gauges and histograms for the admin listener's
 * /metrics (Prometheus text exposition format 0.0.4). The registry is
 * process-global, like the log level: every hook below is called on the
 * event loop only, so no locking; a series is created on first use, up to
 * a fixed number (beyond it, label values become "other"), so a client
 * cannot grow memory by inventing labels.
 *
 * Names follow Prometheus conventions: estrad_<what>_total for counters,
 * _seconds for durations, base units only.
 */
#ifndef ESTRAD_METRICS_H
#define ESTRAD_METRICS_H

#include <stddef.h>

#include "estrad/store.h"

struct evbuffer;

/* Forget every series and free the registry (exit; tests). Nothing needs
 * calling first: the registry starts on first use, with the series that
 * exist from the start (build info, start time, zeroed counters). */
void metrics_reset(void);

/* One answered request: estrad_requests_total{op,label,status} and
 * estrad_request_duration_seconds{op}. label NULL, "" or "-" for the bare
 * path, which is written "-" as in the access and audit logs. */
void metrics_request(const char *op, const char *label, int status,
    double seconds);
/* One upstream transfer: estrad_upstream_duration_seconds{upstream};
 * error NULL when the CA answered, else
 * estrad_upstream_errors_total{upstream,kind} with kind one of "timeout",
 * "unreachable", "tls", "broken", "too_large", "bad_status",
 * "bad_answer" (a 200 that is not what the operation returns),
 * "unavailable" (its own 502/503/504), "other". */
void metrics_upstream(const char *upstream, double seconds,
    const char *error);
/* The error kind of a curl result code (a CURLcode): NULL for CURLE_OK,
 * else one of the kinds above. */
const char *metrics_curl_error_kind(int code);
/* estrad_auth_failures_total{method}: "digest", "basic", "cert", "none";
 * credentials that failed, never a mere challenge (below). */
void metrics_auth_failure(const char *method);
/* estrad_auth_challenges_total: a request without credentials answered
 * 401 with a challenge (RFC 7235 section 2.1): normal, not a failure. */
void metrics_auth_challenge(void);
/* estrad_policy_refusals_total{rule}: "key.type", "rate", ... */
void metrics_policy_refusal(const char *rule);
/* estrad_store_refusals_total{stage}: "auth", "rate": answered 503
 * because the shared store (PostgreSQL) could not be asked. */
void metrics_store_refusal(const char *stage);
/* estrad_open_connections (gauge): +1 accepted, -1 closed. */
void metrics_connection(int delta);
/* A connection closed by a limit: "total", "per_address",
 * "handshake_timeout", "request_timeout"; the admin listener's
 * "admin_total", "admin_timeout". */
void metrics_connection_dropped(const char *reason);
/* estrad_event_loop_lag_seconds (histogram) and _max_seconds (gauge):
 * how late a periodic timer fired, i.e. how long the loop was busy. */
void metrics_loop_lag(double seconds);
/* The shared store (pg.c): estrad_store_up (gauge 0/1), and per query
 * estrad_store_queries_total{result} ("ok", "error", "unavailable") and
 * estrad_store_query_seconds (histogram; seconds < 0: not sent). */
void metrics_store_up(int up);
void metrics_store_query(const char *result, double seconds);
/* estrad_tls_handshakes_total, estrad_tls_handshake_failures_total. */
void metrics_tls_handshake(int ok);
/* EST over CoAP (coap.c): sessions open, handshakes by result, answers by
 * operation and CoAP code ("2.04"), unfinished Block1 bodies. */
void metrics_coap_session(int delta);
void metrics_coap_handshake(const char *result);
void metrics_coap_request(const char *op, const char *code);
void metrics_coap_blocks(size_t n);
/* estrad_config_reloads_total{result="ok"|"error"} and
 * estrad_config_last_reload_success (gauge 0/1). */
void metrics_reload(int ok);
/* estrad_upstream_up{upstream,url} (gauge 0/1): a breaker's state. */
void metrics_upstream_health(const char *upstream, const char *url, int up);

/* Admission toward an upstream (upstream_admit.c):
 * estrad_upstream_concurrency_limit{upstream,url} and _in_flight (gauges),
 * estrad_upstream_waiting{upstream} (gauge), estrad_upstream_wait_seconds
 * (histogram: the wait of each request sent),
 * estrad_upstream_busy_refusals_total{upstream,reason}, and
 * estrad_upstream_overloaded_total{upstream}: timeouts of a busy CA. */
void metrics_upstream_limit(const char *upstream, const char *url,
    long limit, long in_flight);
void metrics_upstream_waiting(const char *upstream, long waiting);
void metrics_upstream_waited(const char *upstream, double seconds);
void metrics_upstream_shed(const char *upstream, const char *reason);
void metrics_upstream_overload(const char *upstream);
/* estrad_upstream_connections_total{upstream}: n connections opened. */
void metrics_upstream_connects(const char *upstream, long n);

/* Values read when scraped (queue entries and age, cache age); the
 * process_* metrics are read by metrics_write itself. */
struct metrics_gauges {
	double	queue_entries[QS_MAX];	/* estrad_queue_entries{state} */
	double	queue_oldest_seconds;	/* estrad_queue_oldest_age_seconds */
	double	cache_max_age_seconds;	/* estrad_cache_age_seconds (max);
					 * negative: nothing cached, no
					 * sample */
};

/* Append the whole exposition to out. g NULL: the scrape-time gauges
 * have no sample. */
void metrics_write(struct evbuffer *out, const struct metrics_gauges *g);

#endif
