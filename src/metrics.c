/*
 * metrics: the process's counters, gauges and histograms, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * One table (metrics_families[]) gives every family its name, type,
 * label names and help; the hooks, the series store and the writer all
 * read it, so a family is added in one place. Series live in growable
 * arrays per family and are found by a hash of their label values: a
 * handful per family in practice, METRICS_MAX_SERIES at most. Past that,
 * every label value of a new series becomes "other" (one warning per
 * family), so no client can make memory grow by inventing labels.
 *
 * Label values are copied bounded (METRICS_LABEL_MAX bytes), control
 * characters and invalid UTF-8 become '?', and the writer escapes \, "
 * and newline as the format asks. Everything runs on the event loop.
 */
#include <sys/resource.h>
#include <sys/time.h>

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>

#include "estrad/keyhash.h"
#include "estrad/log.h"
#include "estrad/metrics.h"

#define METRICS_MAX_LABELS	3
#define METRICS_MAX_SERIES	512	/* per family; then "other" */
#define METRICS_LABEL_MAX	128	/* bytes of one label value */
#define METRICS_OTHER		"other"

enum metrics_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM, MT_MAX };

static const char *const metrics_type_names[MT_MAX] = {
	"counter", "gauge", "histogram"
};

/* Upper bounds of the latency buckets, seconds; +Inf follows. */
static const double metrics_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define METRICS_NBOUNDS	(sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

enum metrics_id {
	M_BUILD_INFO,
	M_START_TIME,
	M_REQUESTS,
	M_REQUEST_DURATION,
	M_UPSTREAM_DURATION,
	M_UPSTREAM_ERRORS,
	M_UPSTREAM_UP,
	M_UPSTREAM_LIMIT,
	M_UPSTREAM_IN_FLIGHT,
	M_UPSTREAM_WAITING,
	M_UPSTREAM_WAIT,
	M_UPSTREAM_SHED,
	M_UPSTREAM_OVERLOAD,
	M_UPSTREAM_CONNECTS,
	M_AUTH_FAILURES,
	M_AUTH_CHALLENGES,
	M_POLICY_REFUSALS,
	M_STORE_REFUSALS,
	M_COAP_SESSIONS,
	M_COAP_HANDSHAKES,
	M_COAP_REQUESTS,
	M_COAP_BLOCKS,
	M_OPEN_CONNECTIONS,
	M_TLS_HANDSHAKES,
	M_TLS_HANDSHAKE_FAILURES,
	M_CONNECTIONS_DROPPED,
	M_RELOADS,
	M_LAST_RELOAD_SUCCESSFUL,
	M_LAST_RELOAD_SUCCESS_TIME,
	M_LAST_RELOAD_SUCCESS,
	M_QUEUE_ENTRIES,
	M_QUEUE_OLDEST,
	M_CACHE_AGE,
	M_LOOP_LAG,
	M_LOOP_LAG_MAX,
	M_STORE_UP,
	M_STORE_QUERIES,
	M_STORE_QUERY_SECONDS,
	M_PROCESS_CPU,
	M_PROCESS_RSS,
	M_PROCESS_OPEN_FDS,
	M_PROCESS_MAX_FDS,
	M_PROCESS_START,
	M_MAX
};

struct metrics_family {
	const char		*mf_name;
	enum metrics_type	 mf_type;
	const char		*mf_labels[METRICS_MAX_LABELS];	/* NULL-ended */
	const char		*mf_help;
};

/* The order here is the order of the exposition. */
static const struct metrics_family metrics_families[M_MAX] = {
	[M_BUILD_INFO] = { "estrad_build_info", MT_GAUGE, { "version" },
	    "Always 1; the version label is the running estrad's." },
	[M_START_TIME] = { "estrad_start_time_seconds", MT_GAUGE, { NULL },
	    "When the process started, in seconds since the Unix epoch." },
	[M_REQUESTS] = { "estrad_requests_total", MT_COUNTER,
	    { "op", "label", "status" },
	    "EST requests answered, by operation, CA label (- for the bare "
	    "path) and HTTP status." },
	[M_REQUEST_DURATION] = { "estrad_request_duration_seconds",
	    MT_HISTOGRAM, { "op" },
	    "Time from a request's arrival to its answer, by operation." },
	[M_UPSTREAM_DURATION] = { "estrad_upstream_duration_seconds",
	    MT_HISTOGRAM, { "upstream" },
	    "Time of each attempt at an upstream CA URL, answered or not." },
	[M_UPSTREAM_ERRORS] = { "estrad_upstream_errors_total", MT_COUNTER,
	    { "upstream", "kind" },
	    "Upstream attempts without a usable answer, by kind: timeout, "
	    "unreachable, tls, broken, too_large, bad_status, bad_answer "
	    "(a 200 that is not what the operation returns), unavailable "
	    "(the CA's own 502/503/504), other." },
	[M_UPSTREAM_UP] = { "estrad_upstream_up", MT_GAUGE,
	    { "upstream", "url" },
	    "1 while the circuit breaker of an upstream URL is closed, 0 "
	    "while it is open or on trial." },
	[M_UPSTREAM_LIMIT] = { "estrad_upstream_concurrency_limit", MT_GAUGE,
	    { "upstream", "url" },
	    "Requests an upstream URL may have in flight at once: adaptive, "
	    "learnt from its answers, at most max_in_flight." },
	[M_UPSTREAM_IN_FLIGHT] = { "estrad_upstream_in_flight", MT_GAUGE,
	    { "upstream", "url" }, "Requests out to an upstream URL now." },
	[M_UPSTREAM_WAITING] = { "estrad_upstream_waiting", MT_GAUGE,
	    { "upstream" }, "Requests waiting for a free slot toward an "
	    "upstream (its FIFO)." },
	[M_UPSTREAM_WAIT] = { "estrad_upstream_wait_seconds", MT_HISTOGRAM,
	    { "upstream" }, "Time a request waited for a slot before it was "
	    "sent to the CA." },
	[M_UPSTREAM_SHED] = { "estrad_upstream_busy_refusals_total",
	    MT_COUNTER, { "upstream", "reason" }, "Requests answered 503 + "
	    "Retry-After because the CA was busy, by reason: full (max_waiting "
	    "were waiting), deadline (the wait would pass max_wait), waited "
	    "(it waited max_wait)." },
	[M_UPSTREAM_OVERLOAD] = { "estrad_upstream_overloaded_total",
	    MT_COUNTER, { "upstream" }, "Attempts that timed out or got the "
	    "CA's 503/504 while it answered others: counted against the "
	    "concurrency limit, not the circuit breaker." },
	[M_UPSTREAM_CONNECTS] = { "estrad_upstream_connections_total",
	    MT_COUNTER, { "upstream" }, "Connections opened to upstream CAs "
	    "(each a TLS handshake); kept connections make this grow far "
	    "slower than the requests." },
	[M_AUTH_FAILURES] = { "estrad_auth_failures_total", MT_COUNTER,
	    { "method" },
	    "Failed client authentications, by method (credentials that "
	    "proved nothing: wrong password, malformed header, unknown or "
	    "replayed nonce...; cert: a certificate required and none "
	    "given; none: an Authorization header of a scheme not accepted "
	    "here). A request without credentials is a challenge, not a "
	    "failure." },
	[M_AUTH_CHALLENGES] = { "estrad_auth_challenges_total", MT_COUNTER,
	    { NULL }, "Requests without credentials answered 401 with a "
	    "challenge: the first leg of every Digest exchange." },
	[M_POLICY_REFUSALS] = { "estrad_policy_refusals_total", MT_COUNTER,
	    { "rule" },
	    "Enrollments refused by the RA before reaching a CA, by policy "
	    "rule (rate: the per-identity enrollment rate)." },
	[M_COAP_SESSIONS] = { "estrad_coap_sessions", MT_GAUGE, { NULL },
	    "DTLS sessions of EST-over-CoAP clients open now." },
	[M_COAP_HANDSHAKES] = { "estrad_coap_handshakes_total", MT_COUNTER,
	    { "result" }, "DTLS handshakes with CoAP clients, by result: ok, "
	    "failed (an alert, a certificate that did not verify), refused "
	    "(the session limits) or timeout." },
	[M_COAP_REQUESTS] = { "estrad_coap_requests_total", MT_COUNTER,
	    { "op", "code" }, "EST-over-CoAP answers, by operation and CoAP "
	    "response code (2.04, 4.03 ...); 2.31 Continue blocks too." },
	[M_COAP_BLOCKS] = { "estrad_coap_block_sequences", MT_GAUGE, { NULL },
	    "Block1 request bodies being received now (unfinished)." },
	[M_STORE_REFUSALS] = { "estrad_store_refusals_total", MT_COUNTER,
	    { "stage" }, "Requests answered 503 because the shared store "
	    "(PostgreSQL) could not be asked, by stage (auth, rate)." },
	[M_OPEN_CONNECTIONS] = { "estrad_open_connections", MT_GAUGE,
	    { NULL }, "EST client connections open now." },
	[M_TLS_HANDSHAKES] = { "estrad_tls_handshakes_total", MT_COUNTER,
	    { NULL }, "TLS handshakes completed with EST clients." },
	[M_TLS_HANDSHAKE_FAILURES] = { "estrad_tls_handshake_failures_total",
	    MT_COUNTER, { NULL }, "TLS handshakes with EST clients that "
	    "failed." },
	[M_CONNECTIONS_DROPPED] = { "estrad_connections_dropped_total",
	    MT_COUNTER, { "reason" }, "Connections closed by the limits: "
	    "EST clients' total (limits.max_connections), per_address "
	    "(limits.max_connections_per_address), handshake_timeout, "
	    "request_timeout (a request not read in time); the admin "
	    "listener's admin_total (admin.max_connections), admin_timeout "
	    "(admin.timeout)." },
	[M_RELOADS] = { "estrad_config_reloads_total", MT_COUNTER,
	    { "result" }, "Configuration reloads (SIGHUP), by result: ok or "
	    "error (the old configuration stays)." },
	/* The two names Prometheus itself uses for its configuration. */
	[M_LAST_RELOAD_SUCCESSFUL] = {
	    "estrad_config_last_reload_successful", MT_GAUGE, { NULL },
	    "1 if the last configuration load succeeded, else 0." },
	[M_LAST_RELOAD_SUCCESS_TIME] = {
	    "estrad_config_last_reload_success_timestamp_seconds", MT_GAUGE,
	    { NULL }, "When the configuration was last loaded successfully "
	    "(the start, or a SIGHUP), in seconds since the Unix epoch." },
	[M_LAST_RELOAD_SUCCESS] = { "estrad_config_last_reload_success",
	    MT_GAUGE, { NULL }, "Deprecated: estrad_config_last_reload_"
	    "successful, under the name docs/operations.md gave it first." },
	[M_QUEUE_ENTRIES] = { "estrad_queue_entries", MT_GAUGE, { "state" },
	    "Store-and-forward entries by state: pending, polling (waiting "
	    "for the CA), issued, refused (waiting for the client), "
	    "delivered, expired (finished, kept until queue.expire)." },
	[M_QUEUE_OLDEST] = { "estrad_queue_oldest_age_seconds", MT_GAUGE,
	    { NULL }, "Age of the oldest waiting store-and-forward entry; 0 "
	    "when none waits." },
	[M_CACHE_AGE] = { "estrad_cache_age_seconds", MT_GAUGE, { NULL },
	    "Age of the oldest cacerts/csrattrs answer in the cache (fresh "
	    "or stale)." },
	[M_LOOP_LAG] = { "estrad_event_loop_lag_seconds", MT_HISTOGRAM,
	    { NULL }, "How late a 100 ms timer on the event loop fired: the "
	    "time the loop was busy with other work." },
	[M_LOOP_LAG_MAX] = { "estrad_event_loop_lag_max_seconds", MT_GAUGE,
	    { NULL }, "The longest event-loop lag seen since the start." },
	[M_STORE_UP] = { "estrad_store_up", MT_GAUGE, { NULL },
	    "With store.backend postgresql: 1 while a connection to the "
	    "shared store is up, else 0 (what needs it answers 503)." },
	[M_STORE_QUERIES] = { "estrad_store_queries_total", MT_COUNTER,
	    { "result" }, "Queries to the shared store, by result: ok, error "
	    "(refused, or the connection broke or timed out under it), "
	    "unavailable (no connection up: not sent)." },
	[M_STORE_QUERY_SECONDS] = { "estrad_store_query_seconds",
	    MT_HISTOGRAM, { NULL }, "Time from sending a query to the shared "
	    "store to its result: the database's round trip, pipelined." },
	/* Prometheus's standard process metrics, read when scraped. */
	[M_PROCESS_CPU] = { "process_cpu_seconds_total", MT_COUNTER,
	    { NULL }, "Total user and system CPU time spent in seconds." },
	[M_PROCESS_RSS] = { "process_resident_memory_bytes", MT_GAUGE,
	    { NULL }, "Resident memory size in bytes." },
	[M_PROCESS_OPEN_FDS] = { "process_open_fds", MT_GAUGE, { NULL },
	    "Number of open file descriptors." },
	[M_PROCESS_MAX_FDS] = { "process_max_fds", MT_GAUGE, { NULL },
	    "Maximum number of open file descriptors." },
	[M_PROCESS_START] = { "process_start_time_seconds", MT_GAUGE,
	    { NULL }, "Start time of the process since unix epoch in "
	    "seconds." },
};

struct metrics_series {
	uint64_t	 ms_hash;
	char		*ms_labels[METRICS_MAX_LABELS];	/* sanitised copies */
	double		 ms_value;	/* counter, gauge; histogram: sum */
	uint64_t	 ms_count;	/* histogram */
	uint64_t	 ms_buckets[METRICS_NBOUNDS + 1];	/* not cumulative */
};

struct metrics_set {
	struct metrics_series	**mset_series;
	size_t			  mset_n;
	size_t			  mset_cap;
	int			  mset_warned;	/* the cap was reached */
};

static struct {
	int			 mg_ready;
	double			 mg_start;
	struct metrics_set	 mg_sets[M_MAX];
} metrics_g;

static void metrics_init(void);

/* ---- label values ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t
metrics_utf8_len(const unsigned char *s, size_t n)
{
	size_t		len, i;
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A bounded copy of in that the exposition can carry (escaped later). */
static char *
metrics_label_copy(const char *in)
{
	const unsigned char	*s = (const unsigned char *)(in ? in : "");
	size_t			 n = strlen((const char *)s), i = 0, o = 0, k;
	char			*out;

	if ((out = malloc(METRICS_LABEL_MAX + 1)) == NULL)
		return NULL;
	while (i < n) {
		k = metrics_utf8_len(s + i, n - i);
		if (o + (k ? k : 1) > METRICS_LABEL_MAX)
			break;
		if (k == 1 && ((s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f))
			out[o++] = '?';
		else if (k == 0)
			out[o++] = '?';
		else
			memcpy(out + o, s + i, k), o += k;
		i += k ? k : 1;
	}
	out[o] = '\0';
	return out;
}

/*
 * keyhash over the label values, each ended by its NUL. Values such as a
 * CA label come from the request path, so a client's choice must not make
 * series collide (a collision would only cost a strcmp per series, but
 * one hash for every table keyed from outside is simpler to trust).
 */
static uint64_t
metrics_hash(const char *const *values, size_t n)
{
	struct keyhash_ctx c;

	keyhash_start(&c);
	for (size_t i = 0; i < n; i++) {
		const char *p = values[i] ? values[i] : "";

		keyhash_add(&c, p, strlen(p) + 1);
	}
	return keyhash_end(&c);
}

/* ---- the series store ------------------------------------------------- */

static size_t
metrics_nlabels(enum metrics_id id)
{
	size_t n = 0;

	while (n < METRICS_MAX_LABELS && metrics_families[id].mf_labels[n])
		n++;
	return n;
}

static void
metrics_series_free(struct metrics_series *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
		free(s->ms_labels[i]);
	free(s);
}

static struct metrics_series *
metrics_find(struct metrics_set *set, const char *const *values, size_t n,
    uint64_t h)
{
	for (size_t i = 0; i < set->mset_n; i++) {
		struct metrics_series *s = set->mset_series[i];
		size_t j;

		if (s->ms_hash != h)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(s->ms_labels[j], values[j]) != 0)
				break;
		if (j == n)
			return s;
	}
	return NULL;
}

/* A new series for values, which are clean already (metrics_label_copy). */
static struct metrics_series *
metrics_add(struct metrics_set *set, const char *const *values, size_t n)
{
	struct metrics_series	*s, **grown;
	size_t			 cap;

	if (set->mset_n == set->mset_cap) {
		cap = set->mset_cap ? 2 * set->mset_cap : 8;
		if ((grown = realloc(set->mset_series, cap * sizeof(*grown)))
		    == NULL)
			return NULL;
		set->mset_series = grown;
		set->mset_cap = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((s->ms_labels[i] = strdup(values[i])) == NULL) {
			metrics_series_free(s);
			return NULL;
		}
	s->ms_hash = metrics_hash(values, n);
	set->mset_series[set->mset_n++] = s;
	return s;
}

/* The family is full: the one series whose every label is "other". */
static struct metrics_series *
metrics_other(enum metrics_id id, struct metrics_set *set, size_t n)
{
	const char		*other[METRICS_MAX_LABELS];
	struct metrics_series	*s;
	uint64_t		 h;

	if (!set->mset_warned)
		log_warn("metrics: %s has %d series; new label values are "
		    "counted as \"%s\"", metrics_families[id].mf_name,
		    METRICS_MAX_SERIES, METRICS_OTHER);
	set->mset_warned = 1;
	for (size_t i = 0; i < n; i++)
		other[i] = METRICS_OTHER;
	h = metrics_hash(other, n);
	if ((s = metrics_find(set, other, n, h)) == NULL)
		s = metrics_add(set, other, n);
	return s;
}

/*
 * The series of family id with these label values (as many as the family
 * has), created on first use; past the cap, the "other" series. NULL only
 * when out of memory: the observation is then lost, nothing else.
 */
static struct metrics_series *
metrics_series(enum metrics_id id, const char *const *values)
{
	struct metrics_set	*set;
	struct metrics_series	*s = NULL;
	char			*clean[METRICS_MAX_LABELS] = { NULL };
	const char		*const *cv = (const char *const *)clean;
	size_t			 n = metrics_nlabels(id), i;

	metrics_init();
	set = &metrics_g.mg_sets[id];
	for (i = 0; i < n; i++)
		if ((clean[i] = metrics_label_copy(values[i])) == NULL)
			goto done;
	if ((s = metrics_find(set, cv, n, metrics_hash(cv, n))) != NULL)
		goto done;
	if (set->mset_n >= METRICS_MAX_SERIES)
		s = metrics_other(id, set, n);
	else
		s = metrics_add(set, cv, n);
done:
	for (i = 0; i < n; i++)
		free(clean[i]);
	return s;
}

static void
metrics_add_value(enum metrics_id id, const char *const *values, double v)
{
	struct metrics_series *s = metrics_series(id, values);

	if (s != NULL)
		s->ms_value += v;
}

static void
metrics_set_value(enum metrics_id id, const char *const *values, double v)
{
	struct metrics_series *s = metrics_series(id, values);

	if (s != NULL)
		s->ms_value = v;
}

/* One observation; le semantics: v counts in the first bound >= v. */
static void
metrics_observe(enum metrics_id id, const char *const *values, double v)
{
	struct metrics_series	*s = metrics_series(id, values);
	size_t			 i = 0;

	if (s == NULL)
		return;
	if (!(v >= 0))		/* negative (a clock step) or NaN */
		v = 0;
	while (i < METRICS_NBOUNDS && v > metrics_bounds[i])
		i++;
	s->ms_buckets[i]++;
	s->ms_count++;
	/* The sum in whole microseconds, as fine as estrad measures: binary
	 * fractions would print the noise of their sums (0.05 + 0.010062 is
	 * 0.060062000000000004), while k / 1e6 prints as its decimal. */
	s->ms_value = round((s->ms_value + v) * 1e6) / 1e6;
}

/* ---- life ---------------------------------------------------------------- */

/* The series that exist from the start, so rates have a zero to start at. */
static void
metrics_init(void)
{
	static const char *const methods[] = { "digest", "basic", "cert",
	    "none" };
	const char *v[METRICS_MAX_LABELS];

	if (metrics_g.mg_ready)
		return;
	metrics_g.mg_ready = 1;
	metrics_g.mg_start = (double)time(NULL);
	v[0] = ESTRAD_VERSION;
	metrics_set_value(M_BUILD_INFO, v, 1);
	metrics_set_value(M_START_TIME, NULL, metrics_g.mg_start);
	metrics_set_value(M_OPEN_CONNECTIONS, NULL, 0);
	metrics_set_value(M_LOOP_LAG_MAX, NULL, 0);
	metrics_add_value(M_TLS_HANDSHAKES, NULL, 0);
	metrics_add_value(M_TLS_HANDSHAKE_FAILURES, NULL, 0);
	metrics_add_value(M_AUTH_CHALLENGES, NULL, 0);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		v[0] = methods[i];
		metrics_add_value(M_AUTH_FAILURES, v, 0);
	}
	v[0] = "ok";
	metrics_add_value(M_RELOADS, v, 0);
	v[0] = "error";
	metrics_add_value(M_RELOADS, v, 0);
	/* The start-up configuration loaded, or we would not be here. */
	metrics_set_value(M_LAST_RELOAD_SUCCESSFUL, NULL, 1);
	metrics_set_value(M_LAST_RELOAD_SUCCESS_TIME, NULL, metrics_g.mg_start);
	metrics_set_value(M_LAST_RELOAD_SUCCESS, NULL, 1);
}

void
metrics_reset(void)
{
	for (size_t id = 0; id < M_MAX; id++) {
		struct metrics_set *set = &metrics_g.mg_sets[id];

		for (size_t i = 0; i < set->mset_n; i++)
			metrics_series_free(set->mset_series[i]);
		free(set->mset_series);
	}
	memset(&metrics_g, 0, sizeof(metrics_g));
}

/* ---- hooks --------------------------------------------------------------- */

void
metrics_request(const char *op, const char *label, int status,
    double seconds)
{
	char		 code[16];
	/* The bare path is "-", as in the access and audit logs. */
	const char	*v[3] = { op ? op : "none",
	    label != NULL && *label != '\0' ? label : "-", code };

	snprintf(code, sizeof(code), "%d", status);
	metrics_add_value(M_REQUESTS, v, 1);
	metrics_observe(M_REQUEST_DURATION, v, seconds);
}

void
metrics_upstream(const char *upstream, double seconds, const char *error)
{
	const char *v[2] = { upstream, error };

	metrics_observe(M_UPSTREAM_DURATION, v, seconds);
	if (error != NULL)
		metrics_add_value(M_UPSTREAM_ERRORS, v, 1);
}

const char *
metrics_curl_error_kind(int code)
{
	switch (code) {
	case CURLE_OK:
		return NULL;
	case CURLE_OPERATION_TIMEDOUT:
		return "timeout";
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return "unreachable";
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
		return "tls";
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return "broken";
	case CURLE_FILESIZE_EXCEEDED:
		return "too_large";
	default:
		return "other";
	}
}

void
metrics_auth_failure(const char *method)
{
	const char *v[1] = { method };

	metrics_add_value(M_AUTH_FAILURES, v, 1);
}

void
metrics_auth_challenge(void)
{
	metrics_add_value(M_AUTH_CHALLENGES, NULL, 1);
}

void
metrics_store_refusal(const char *stage)
{
	const char *v[1] = { stage };

	metrics_add_value(M_STORE_REFUSALS, v, 1);
}

void
metrics_policy_refusal(const char *rule)
{
	const char *v[1] = { rule };

	metrics_add_value(M_POLICY_REFUSALS, v, 1);
}

void
metrics_connection(int delta)
{
	metrics_add_value(M_OPEN_CONNECTIONS, NULL, delta);
}

void
metrics_connection_dropped(const char *reason)
{
	const char *v[] = { reason };

	metrics_add_value(M_CONNECTIONS_DROPPED, v, 1);
}

void
metrics_loop_lag(double seconds)
{
	struct metrics_series *max = metrics_series(M_LOOP_LAG_MAX, NULL);

	metrics_observe(M_LOOP_LAG, NULL, seconds);
	if (max != NULL && seconds > max->ms_value)
		max->ms_value = seconds;
}

void
metrics_store_up(int up)
{
	metrics_set_value(M_STORE_UP, NULL, up ? 1 : 0);
}

void
metrics_store_query(const char *result, double seconds)
{
	const char *v[1] = { result };

	metrics_add_value(M_STORE_QUERIES, v, 1);
	if (seconds >= 0)
		metrics_observe(M_STORE_QUERY_SECONDS, NULL, seconds);
}

void
metrics_tls_handshake(int ok)
{
	metrics_add_value(ok ? M_TLS_HANDSHAKES : M_TLS_HANDSHAKE_FAILURES,
	    NULL, 1);
}

void
metrics_reload(int ok)
{
	const char *v[1] = { ok ? "ok" : "error" };

	metrics_add_value(M_RELOADS, v, 1);
	metrics_set_value(M_LAST_RELOAD_SUCCESSFUL, NULL, ok ? 1 : 0);
	metrics_set_value(M_LAST_RELOAD_SUCCESS, NULL, ok ? 1 : 0);
	if (ok)
		metrics_set_value(M_LAST_RELOAD_SUCCESS_TIME, NULL,
		    (double)time(NULL));
}

/*
 * A URL's userinfo ("https://user:secret@host/...") must not reach a
 * label; estrad's config takes credentials elsewhere, but an operator may
 * still write them there.
 */
static void
metrics_url_public(const char *url, char *out, size_t outlen)
{
	const char *scheme = strstr(url, "://"), *host, *at, *end;

	if (scheme == NULL) {
		snprintf(out, outlen, "%s", url);
		return;
	}
	host = scheme + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(end - host));
	if (at == NULL)
		snprintf(out, outlen, "%s", url);
	else
		snprintf(out, outlen, "%.*s%s", (int)(host - url), url, at + 1);
}

void
metrics_upstream_health(const char *upstream, const char *url, int up)
{
	char		 pub[1024];
	const char	*v[2] = { upstream, pub };

	metrics_url_public(url ? url : "", pub, sizeof(pub));
	metrics_set_value(M_UPSTREAM_UP, v, up ? 1 : 0);
}

void
metrics_upstream_limit(const char *upstream, const char *url, long limit,
    long in_flight)
{
	char		 pub[1024];
	const char	*v[2] = { upstream, pub };

	metrics_url_public(url ? url : "", pub, sizeof(pub));
	metrics_set_value(M_UPSTREAM_LIMIT, v, (double)limit);
	metrics_set_value(M_UPSTREAM_IN_FLIGHT, v, (double)in_flight);
}

void
metrics_upstream_waiting(const char *upstream, long waiting)
{
	const char *v[1] = { upstream };

	metrics_set_value(M_UPSTREAM_WAITING, v, (double)waiting);
}

void
metrics_upstream_waited(const char *upstream, double seconds)
{
	const char *v[1] = { upstream };

	metrics_observe(M_UPSTREAM_WAIT, v, seconds);
}

void
metrics_upstream_shed(const char *upstream, const char *reason)
{
	const char *v[2] = { upstream, reason };

	metrics_add_value(M_UPSTREAM_SHED, v, 1);
}

void
metrics_upstream_overload(const char *upstream)
{
	const char *v[1] = { upstream };

	metrics_add_value(M_UPSTREAM_OVERLOAD, v, 1);
}

void
metrics_upstream_connects(const char *upstream, long n)
{
	const char *v[1] = { upstream };

	metrics_add_value(M_UPSTREAM_CONNECTS, v, (double)n);
}

/* ---- the exposition ------------------------------------------------------ */

/* Shortest text that reads back as v; Prometheus's spelling of the
 * specials. */
static void
metrics_number(double v, char *out, size_t outlen)
{
	if (v != v)
		snprintf(out, outlen, "NaN");
	else if (v > 1.7976931348623157e308)
		snprintf(out, outlen, "+Inf");
	else if (v < -1.7976931348623157e308)
		snprintf(out, outlen, "-Inf");
	else if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v)
		snprintf(out, outlen, "%lld", (long long)v);
	else {
		/* The fewest digits that read back as v (at most 17). */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(out, outlen, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
}

/* HELP text escapes \ and newline; label values also ". */
static void
metrics_escape(struct evbuffer *out, const char *s, int label)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else if (*s == '"' && label)
			evbuffer_add(out, "\\\"", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

/* NAME{l1="v1",...[,le="B"]} VALUE */
static void
metrics_sample(struct evbuffer *out, enum metrics_id id, const char *suffix,
    const struct metrics_series *s, const char *le, double value)
{
	const struct metrics_family	*f = &metrics_families[id];
	size_t				 n = metrics_nlabels(id);
	char				 num[64];

	evbuffer_add_printf(out, "%s%s", f->mf_name, suffix);
	if (n > 0 || le != NULL) {
		evbuffer_add(out, "{", 1);
		for (size_t i = 0; i < n; i++) {
			evbuffer_add_printf(out, "%s%s=\"", i ? "," : "",
			    f->mf_labels[i]);
			metrics_escape(out, s->ms_labels[i], 1);
			evbuffer_add(out, "\"", 1);
		}
		if (le != NULL)
			evbuffer_add_printf(out, "%sle=\"%s\"", n ? "," : "",
			    le);
		evbuffer_add(out, "}", 1);
	}
	metrics_number(value, num, sizeof(num));
	evbuffer_add_printf(out, " %s\n", num);
}

static void
metrics_histogram(struct evbuffer *out, enum metrics_id id,
    const struct metrics_series *s)
{
	uint64_t	cum = 0;
	char		le[32];

	for (size_t b = 0; b < METRICS_NBOUNDS; b++) {
		cum += s->ms_buckets[b];
		metrics_number(metrics_bounds[b], le, sizeof(le));
		metrics_sample(out, id, "_bucket", s, le, (double)cum);
	}
	cum += s->ms_buckets[METRICS_NBOUNDS];
	metrics_sample(out, id, "_bucket", s, "+Inf", (double)cum);
	metrics_sample(out, id, "_sum", s, NULL, s->ms_value);
	metrics_sample(out, id, "_count", s, NULL, (double)s->ms_count);
}

/* ---- the process, read when scraped ------------------------------------ */

/* Resident set size in bytes (/proc/self/statm's second field); -1. */
static double
metrics_process_rss(void)
{
	FILE		*fp = fopen("/proc/self/statm", "r");
	unsigned long	 size, resident;
	long		 page = sysconf(_SC_PAGESIZE);
	int		 n;

	if (fp == NULL)
		return -1;
	n = fscanf(fp, "%lu %lu", &size, &resident);
	fclose(fp);
	return n == 2 && page > 0 ? (double)resident * (double)page : -1;
}

/* Open descriptors: the entries of /proc/self/fd, less the one that
 * reads it; -1 where there is no /proc. */
static double
metrics_process_fds(void)
{
	DIR		*d = opendir("/proc/self/fd");
	struct dirent	*e;
	long		 n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (double)(n - 1);
}

/*
 * Prometheus's process_* family id, computed now (a few system calls and
 * two small /proc reads, on the admin listener's scrape only): 1 with *v
 * (negative: not known here, no sample), or 0 for another family.
 */
static int
metrics_process(enum metrics_id id, double *v)
{
	struct rusage	ru;
	struct rlimit	rl;

	switch (id) {
	case M_PROCESS_CPU:
		*v = getrusage(RUSAGE_SELF, &ru) == -1 ? -1 :
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
		return 1;
	case M_PROCESS_RSS:
		*v = metrics_process_rss();
		return 1;
	case M_PROCESS_OPEN_FDS:
		*v = metrics_process_fds();
		return 1;
	case M_PROCESS_MAX_FDS:
		*v = getrlimit(RLIMIT_NOFILE, &rl) == -1 ? -1 :
		    rl.rlim_cur == RLIM_INFINITY ? 1.8446744073709552e19 :
		    (double)rl.rlim_cur;
		return 1;
	case M_PROCESS_START:
		*v = metrics_g.mg_start;
		return 1;
	default:
		return 0;
	}
}

/* estrad_queue_entries{state}: one sample per state the queue counts
 * (negative: it does not), none without g. */
static void
metrics_queue_write(struct evbuffer *out, const struct metrics_gauges *g)
{
	struct metrics_series	s;

	if (g == NULL)
		return;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < QS_MAX; i++) {
		if (g->queue_entries[i] < 0)
			continue;
		/* The names are fixed and clean: no copy needed. */
		s.ms_labels[0] = (char *)(uintptr_t)queue_state_name(i);
		metrics_sample(out, M_QUEUE_ENTRIES, "", &s, NULL,
		    g->queue_entries[i]);
	}
}

/* Scrape-time gauges are read from g, kept nowhere. 1 for such a
 * family, with *v its value (negative: no sample). */
static int
metrics_scraped(enum metrics_id id, const struct metrics_gauges *g,
    double *v)
{
	if (metrics_process(id, v))
		return 1;
	switch (id) {
	case M_QUEUE_OLDEST:
		*v = g != NULL ? g->queue_oldest_seconds : -1;
		return 1;
	case M_CACHE_AGE:
		*v = g != NULL ? g->cache_max_age_seconds : -1;
		return 1;
	default:
		return 0;
	}
}

static void
metrics_family_write(struct evbuffer *out, enum metrics_id id,
    const struct metrics_gauges *g)
{
	const struct metrics_family	*f = &metrics_families[id];
	const struct metrics_set	*set = &metrics_g.mg_sets[id];
	double				 v;

	evbuffer_add_printf(out, "# HELP %s ", f->mf_name);
	metrics_escape(out, f->mf_help, 0);
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", f->mf_name,
	    metrics_type_names[f->mf_type]);
	if (id == M_QUEUE_ENTRIES) {
		metrics_queue_write(out, g);
		return;
	}
	if (metrics_scraped(id, g, &v)) {
		if (v >= 0)	/* no labels: the series is not read */
			metrics_sample(out, id, "", NULL, NULL, v);
		return;
	}
	for (size_t i = 0; i < set->mset_n; i++) {
		if (f->mf_type == MT_HISTOGRAM)
			metrics_histogram(out, id, set->mset_series[i]);
		else
			metrics_sample(out, id, "", set->mset_series[i], NULL,
			    set->mset_series[i]->ms_value);
	}
}

void
metrics_write(struct evbuffer *out, const struct metrics_gauges *g)
{
	metrics_init();
	for (size_t id = 0; id < M_MAX; id++)
		metrics_family_write(out, (enum metrics_id)id, g);
}

void
metrics_coap_session(int delta)
{
	metrics_add_value(M_COAP_SESSIONS, NULL, delta);
}

void
metrics_coap_handshake(const char *result)
{
	const char *v[1] = { result };

	metrics_add_value(M_COAP_HANDSHAKES, v, 1);
}

void
metrics_coap_request(const char *op, const char *code)
{
	const char *v[2] = { op, code };

	metrics_add_value(M_COAP_REQUESTS, v, 1);
}

void
metrics_coap_blocks(size_t n)
{
	metrics_set_value(M_COAP_BLOCKS, NULL, (double)n);
}
