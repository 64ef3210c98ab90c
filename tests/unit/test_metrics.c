/*
 * metrics and the admin listener. The exposition, line by line: every
 * family opens with # HELP and # TYPE; label values escape \, " and
 * newline, lose control characters and invalid UTF-8, and are cut at a
 * bound; histogram buckets are cumulative and end in +Inf, with _sum and
 * _count; a family past its series cap counts new label values as
 * "other"; scrape-time gauges come from the probe; a URL's userinfo never
 * reaches a label. promtool (Debian's prometheus package) checks a full
 * exposition when it is installed. Then admin.c on port 0 of this
 * process's event loop, with libevent's own HTTP client: /healthz,
 * /readyz both ways, /metrics and HEAD, 404, 405 with Allow.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "estrad/admin.h"
#include "estrad/metrics.h"

#include "testpki.h"


/* ---- helpers ----------------------------------------------------------- */

/* The exposition as one string (free it). */
static char *
expo(const struct metrics_gauges *g)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 n;
	char		*s;

	assert_non_null(b);
	metrics_write(b, g);
	n = evbuffer_get_length(b);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

/* How many lines of text are exactly line. */
static int
lines_equal(const char *text, const char *line)
{
	size_t	len = strlen(line);
	int	n = 0;

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			n++;
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

static int
lines_starting(const char *text, const char *prefix)
{
	size_t	len = strlen(prefix);
	int	n = 0;

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');
		if (strncmp(p, prefix, len) == 0)
			n++;
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

static void
assert_line(const char *text, const char *line)
{
	if (lines_equal(text, line) != 1) {
		fprintf(stderr, "missing line: %s\n--- exposition:\n%s", line,
		    text);
		fail();
	}
}

/* The value of the one sample line that starts with prefix (name and
 * labels, up to the space). */
static double
sample_value(const char *text, const char *prefix)
{
	char		 want[256];
	const char	*p;

	snprintf(want, sizeof(want), "\n%s ", prefix);
	if ((p = strstr(text, want)) == NULL) {
		fprintf(stderr, "no sample %s in:\n%s", prefix, text);
		fail();
	}
	assert_null(strstr(p + 1, want));
	return strtod(p + strlen(want), NULL);
}

static void
assert_near(double got, double want)
{
	assert_true(got > want - 1e-9 && got < want + 1e-9);
}

static int
setup(void **state)
{
	metrics_reset();
	return 0;
}

static int
teardown(void **state)
{
	metrics_reset();
	return 0;
}

/* ---- format ------------------------------------------------------------- */

static const char *const families[][2] = {
	{ "estrad_build_info", "gauge" },
	{ "estrad_start_time_seconds", "gauge" },
	{ "estrad_requests_total", "counter" },
	{ "estrad_request_duration_seconds", "histogram" },
	{ "estrad_upstream_duration_seconds", "histogram" },
	{ "estrad_upstream_errors_total", "counter" },
	{ "estrad_upstream_up", "gauge" },
	{ "estrad_upstream_concurrency_limit", "gauge" },
	{ "estrad_upstream_in_flight", "gauge" },
	{ "estrad_upstream_waiting", "gauge" },
	{ "estrad_upstream_wait_seconds", "histogram" },
	{ "estrad_upstream_busy_refusals_total", "counter" },
	{ "estrad_upstream_overloaded_total", "counter" },
	{ "estrad_upstream_connections_total", "counter" },
	{ "estrad_auth_failures_total", "counter" },
	{ "estrad_auth_challenges_total", "counter" },
	{ "estrad_policy_refusals_total", "counter" },
	{ "estrad_store_refusals_total", "counter" },
	{ "estrad_coap_sessions", "gauge" },
	{ "estrad_coap_handshakes_total", "counter" },
	{ "estrad_coap_requests_total", "counter" },
	{ "estrad_coap_block_sequences", "gauge" },
	{ "estrad_open_connections", "gauge" },
	{ "estrad_tls_handshakes_total", "counter" },
	{ "estrad_tls_handshake_failures_total", "counter" },
	{ "estrad_connections_dropped_total", "counter" },
	{ "estrad_config_reloads_total", "counter" },
	{ "estrad_config_last_reload_successful", "gauge" },
	{ "estrad_config_last_reload_success_timestamp_seconds", "gauge" },
	{ "estrad_config_last_reload_success", "gauge" },
	{ "estrad_queue_entries", "gauge" },
	{ "estrad_queue_oldest_age_seconds", "gauge" },
	{ "estrad_cache_age_seconds", "gauge" },
	{ "estrad_event_loop_lag_seconds", "histogram" },
	{ "estrad_event_loop_lag_max_seconds", "gauge" },
	{ "estrad_store_up", "gauge" },
	{ "estrad_store_queries_total", "counter" },
	{ "estrad_store_query_seconds", "histogram" },
	{ "process_cpu_seconds_total", "counter" },
	{ "process_resident_memory_bytes", "gauge" },
	{ "process_open_fds", "gauge" },
	{ "process_max_fds", "gauge" },
	{ "process_start_time_seconds", "gauge" },
};

/* Is name (up to its '{' or ' ') a sample of family fam of type type? */
static int
sample_of(const char *line, const char *fam, const char *type)
{
	static const char *const hsuffix[] = { "_bucket", "_sum", "_count" };
	size_t	n = strcspn(line, "{ "), flen = strlen(fam);

	if (n == flen && strncmp(line, fam, flen) == 0)
		return strcmp(type, "histogram") != 0;
	if (strcmp(type, "histogram") != 0 || strncmp(line, fam, flen) != 0)
		return 0;
	for (size_t i = 0; i < NITEMS(hsuffix); i++)
		if (n == flen + strlen(hsuffix[i]) &&
		    strncmp(line + flen, hsuffix[i], strlen(hsuffix[i])) == 0)
			return 1;
	return 0;
}

/*
 * Walk the lines: each family's "# HELP" is followed by its "# TYPE";
 * every sample belongs to the family of the last TYPE line; each family
 * appears once; the text ends in a newline.
 */
static void
check_structure(const char *text)
{
	char	 fam[128] = "", type[32] = "", want[160];
	size_t	 seen = 0;

	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	for (const char *p = text; *p != '\0';) {
		const char *eol = strchr(p, '\n');
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(seen < NITEMS(families));
			snprintf(fam, sizeof(fam), "%s", families[seen][0]);
			snprintf(type, sizeof(type), "%s", families[seen][1]);
			snprintf(want, sizeof(want), "# HELP %s ", fam);
			assert_int_equal(strncmp(line, want, strlen(want)), 0);
			assert_true(strlen(line) > strlen(want));
			snprintf(want, sizeof(want), "# TYPE %s %s", fam, type);
			assert_int_equal(strncmp(eol + 1, want, strlen(want)),
			    0);
			assert_int_equal(eol[1 + strlen(want)], '\n');
			seen++;
			eol = strchr(eol + 1, '\n');
		} else {
			assert_true(line[0] != '#');
			if (!sample_of(line, fam, type)) {
				fprintf(stderr, "'%s' is not of %s\n", line,
				    fam);
				fail();
			}
		}
		p = eol + 1;
	}
	assert_int_equal(seen, NITEMS(families));
}

static void
test_fresh(void **state)
{
	char *t = expo(NULL), line[128];

	check_structure(t);
	snprintf(line, sizeof(line), "estrad_build_info{version=\"%s\"} 1",
	    ESTRAD_VERSION);
	assert_line(t, line);
	assert_int_equal(lines_starting(t, "estrad_start_time_seconds "), 1);
	assert_line(t, "estrad_open_connections 0");
	assert_line(t, "estrad_tls_handshakes_total 0");
	assert_line(t, "estrad_tls_handshake_failures_total 0");
	assert_line(t, "estrad_auth_failures_total{method=\"digest\"} 0");
	assert_line(t, "estrad_auth_failures_total{method=\"basic\"} 0");
	assert_line(t, "estrad_auth_failures_total{method=\"cert\"} 0");
	assert_line(t, "estrad_auth_failures_total{method=\"none\"} 0");
	assert_line(t, "estrad_auth_challenges_total 0");
	assert_line(t, "estrad_config_reloads_total{result=\"ok\"} 0");
	assert_line(t, "estrad_config_reloads_total{result=\"error\"} 0");
	assert_line(t, "estrad_config_last_reload_success 1");
	assert_line(t, "estrad_config_last_reload_successful 1");
	/* The start-up load is the last successful one. */
	assert_true(sample_value(t, "estrad_config_last_reload_success_"
	    "timestamp_seconds") == sample_value(t,
	    "estrad_start_time_seconds"));
	/* No probe: the scrape-time gauges have no sample. */
	assert_int_equal(lines_starting(t, "estrad_queue_entries"), 0);
	assert_int_equal(lines_starting(t, "estrad_cache_age_seconds "), 0);
	free(t);
}

static void
test_counters(void **state)
{
	char *t;

	metrics_request("simpleenroll", "", 200, 0.02);
	metrics_request("simpleenroll", NULL, 200, 0.03);
	metrics_request("simpleenroll", "east", 401, 0.001);
	metrics_request("cacerts", "-", 200, 0.001);
	metrics_auth_failure("digest");
	metrics_auth_failure("none");
	metrics_auth_failure("none");
	metrics_auth_challenge();
	metrics_policy_refusal("key.type");
	metrics_policy_refusal("rate");
	metrics_connection(1);
	metrics_connection(1);
	metrics_connection(-1);
	metrics_tls_handshake(1);
	metrics_tls_handshake(1);
	metrics_tls_handshake(0);
	metrics_connection_dropped("per_address");
	metrics_connection_dropped("per_address");
	metrics_connection_dropped("request_timeout");
	metrics_reload(1);
	metrics_reload(0);
	metrics_upstream("ca", 0.1, NULL);
	metrics_upstream("ca", 0.2, "timeout");
	metrics_upstream("ca", 0.3, "timeout");
	metrics_upstream("ca", 0.3, "unavailable");
	t = expo(NULL);
	check_structure(t);
	assert_line(t, "estrad_requests_total{op=\"simpleenroll\",label=\"-\","
	    "status=\"200\"} 2");
	assert_line(t, "estrad_requests_total{op=\"simpleenroll\","
	    "label=\"east\",status=\"401\"} 1");
	assert_line(t, "estrad_requests_total{op=\"cacerts\",label=\"-\","
	    "status=\"200\"} 1");
	assert_line(t, "estrad_request_duration_seconds_count"
	    "{op=\"simpleenroll\"} 3");
	assert_line(t, "estrad_auth_failures_total{method=\"digest\"} 1");
	assert_line(t, "estrad_auth_failures_total{method=\"none\"} 2");
	assert_line(t, "estrad_auth_challenges_total 1");
	assert_line(t, "estrad_policy_refusals_total{rule=\"key.type\"} 1");
	assert_line(t, "estrad_policy_refusals_total{rule=\"rate\"} 1");
	assert_line(t, "estrad_open_connections 1");
	assert_line(t, "estrad_tls_handshakes_total 2");
	assert_line(t, "estrad_tls_handshake_failures_total 1");
	assert_line(t, "estrad_connections_dropped_total{reason=\"per_address\"} "
	    "2");
	assert_line(t, "estrad_connections_dropped_total"
	    "{reason=\"request_timeout\"} 1");
	assert_line(t, "estrad_config_reloads_total{result=\"ok\"} 1");
	assert_line(t, "estrad_config_reloads_total{result=\"error\"} 1");
	assert_line(t, "estrad_config_last_reload_success 0");
	assert_line(t, "estrad_config_last_reload_successful 0");
	assert_line(t, "estrad_upstream_duration_seconds_count"
	    "{upstream=\"ca\"} 4");
	assert_near(sample_value(t, "estrad_upstream_duration_seconds_sum"
	    "{upstream=\"ca\"}"), 0.9);
	assert_line(t, "estrad_upstream_errors_total{upstream=\"ca\","
	    "kind=\"timeout\"} 2");
	assert_line(t, "estrad_upstream_errors_total{upstream=\"ca\","
	    "kind=\"unavailable\"} 1");
	assert_int_equal(lines_starting(t, "estrad_upstream_errors_total{"),
	    2);
	free(t);
	metrics_reload(1);
	t = expo(NULL);
	assert_line(t, "estrad_config_last_reload_success 1");
	assert_line(t, "estrad_config_last_reload_successful 1");
	assert_true(sample_value(t, "estrad_config_last_reload_success_"
	    "timestamp_seconds") >= (double)time(NULL) - 5);
	free(t);
}

/* ---- histograms ---------------------------------------------------------- */

/*
 * Numbers as Prometheus clients write them: the shortest text that reads
 * back as the double (17 digits only when needed), and histogram sums
 * kept in whole microseconds, so that adding decimal durations does not
 * print binary noise (0.05 + 0.010062 would be 0.060062000000000004).
 */
static void
test_float_text(void **state)
{
	static const struct {
		double		 a, b;
		const char	*sum;
	} rows[] = {
		{ 0.05, 0.010062, "0.060062" },
		{ 0.1, 0.2, "0.3" },
		{ 0.02, 0.03, "0.05" },
		{ 1.5, 2, "3.5" },
		{ 0.0000004, 0, "0" },		/* below a microsecond */
		{ 86400.000001, 0.000001, "86400.000002" },
	};
	char	*t, name[32], line[160];

	for (size_t i = 0; i < NITEMS(rows); i++) {
		snprintf(name, sizeof(name), "row%zu", i);
		metrics_upstream(name, rows[i].a, NULL);
		metrics_upstream(name, rows[i].b, NULL);
	}
	/* A gauge shows its double as it is: 17 digits when it needs them. */
	metrics_loop_lag(0.1 + 0.2);
	t = expo(NULL);
	check_structure(t);
	for (size_t i = 0; i < NITEMS(rows); i++) {
		print_message("row %zu\n", i);
		snprintf(line, sizeof(line), "estrad_upstream_duration_seconds"
		    "_sum{upstream=\"row%zu\"} %s", i, rows[i].sum);
		assert_line(t, line);
	}
	assert_line(t, "estrad_event_loop_lag_max_seconds 0.30000000000000004");
	assert_line(t, "estrad_event_loop_lag_seconds_sum 0.3");
	free(t);
}

static void
test_histogram(void **state)
{
	static const struct {
		const char	*le;
		int		 count;
	} want[] = {
		{ "0.001", 1 }, { "0.0025", 1 }, { "0.005", 3 }, { "0.01", 3 },
		{ "0.025", 3 }, { "0.05", 3 }, { "0.1", 3 }, { "0.25", 4 },
		{ "0.5", 4 }, { "1", 4 }, { "2.5", 4 }, { "5", 4 },
		{ "10", 5 }, { "+Inf", 7 },
	};
	char	*t, line[160];

	/* 0 and 0.001 in the first bucket (le: less or equal); 0.005 is
	 * the bound itself; a negative time counts as 0; 10 is the last
	 * finite bound; 11 and 3600 only in +Inf. */
	metrics_request("csrattrs", "", 200, 0.001);
	metrics_request("csrattrs", "", 200, 0.004);
	metrics_request("csrattrs", "", 200, 0.005);
	metrics_request("csrattrs", "", 200, 0.2);
	metrics_request("csrattrs", "", 200, 10);
	metrics_request("csrattrs", "", 200, 11);
	metrics_request("csrattrs", "", 200, 3600);
	t = expo(NULL);
	check_structure(t);
	for (size_t i = 0; i < NITEMS(want); i++) {
		snprintf(line, sizeof(line), "estrad_request_duration_seconds"
		    "_bucket{op=\"csrattrs\",le=\"%s\"} %d", want[i].le,
		    want[i].count);
		assert_line(t, line);
	}
	assert_int_equal(lines_starting(t,
	    "estrad_request_duration_seconds_bucket{op=\"csrattrs\","), 14);
	assert_near(sample_value(t, "estrad_request_duration_seconds_sum"
	    "{op=\"csrattrs\"}"), 3621.21);
	assert_line(t, "estrad_request_duration_seconds_count"
	    "{op=\"csrattrs\"} 7");
	/* The bucket lines come in order, +Inf last, then _sum, _count. */
	assert_true(strstr(t, "le=\"10\"} 5\n"
	    "estrad_request_duration_seconds_bucket{op=\"csrattrs\","
	    "le=\"+Inf\"} 7\n"
	    "estrad_request_duration_seconds_sum{op=\"csrattrs\"} ") != NULL);
	assert_non_null(strstr(t, "\nestrad_request_duration_seconds_count"
	    "{op=\"csrattrs\"} 7\n# HELP "));
	free(t);

	metrics_reset();
	metrics_request("cacerts", "", 200, -1);
	t = expo(NULL);
	assert_line(t, "estrad_request_duration_seconds_bucket"
	    "{op=\"cacerts\",le=\"0.001\"} 1");
	assert_line(t, "estrad_request_duration_seconds_sum{op=\"cacerts\"} 0");
	free(t);
}

/* ---- label values -------------------------------------------------------- */

static void
test_escaping(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* as written between the quotes */
	} cases[] = {
		{ "plain", "plain" },
		{ "a\\b", "a\\\\b" },
		{ "say \"hi\"", "say \\\"hi\\\"" },
		{ "two\nlines", "two\\nlines" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		{ "tab\there\r", "tab?here?" },
		{ "del\x7f", "del?" },
		{ "", "" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },		/* UTF-8 kept */
		{ "bad\xff\xfe", "bad??" },			/* not UTF-8 */
		{ "cut\xc3", "cut?" },				/* truncated */
		{ "over\xc0\xaf", "over??" },			/* overlong */
		{ "sur\xed\xa0\x80", "sur???" },		/* surrogate */
	};
	char	*t, line[256];

	for (size_t i = 0; i < NITEMS(cases); i++)
		metrics_policy_refusal(cases[i].in);
	t = expo(NULL);
	check_structure(t);
	for (size_t i = 0; i < NITEMS(cases); i++) {
		snprintf(line, sizeof(line), "estrad_policy_refusals_total"
		    "{rule=\"%s\"} 1", cases[i].out);
		assert_line(t, line);
	}
	/* HELP lines escape nothing of ours, but stay one line each. */
	assert_int_equal(lines_starting(t, "# HELP "), (int)NITEMS(families));
	free(t);
}

static void
test_label_bound(void **state)
{
	char	 big[600], want[300], *t, *p;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	metrics_policy_refusal(big);
	metrics_policy_refusal(big);
	/* A cut never splits a UTF-8 character: 127 x then "é". */
	memset(big, 'y', 127);
	memcpy(big + 127, "\xc3\xa9", 3);
	metrics_policy_refusal(big);
	t = expo(NULL);
	memset(want, 'x', 128);
	snprintf(want + 128, sizeof(want) - 128, "\"} 2");
	assert_non_null(p = strstr(t, "{rule=\"xxxx"));
	assert_int_equal(strncmp(p + 7, want, strlen(want)), 0);
	memset(want, 'y', 127);
	snprintf(want + 127, sizeof(want) - 127, "\"} 1");
	assert_non_null(p = strstr(t, "{rule=\"yyyy"));
	assert_int_equal(strncmp(p + 7, want, strlen(want)), 0);
	free(t);
}

/* Past 512 series of a family, new label values count as "other". */
static void
test_series_cap(void **state)
{
	char	 rule[32], *t;

	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 600; i++) {
			snprintf(rule, sizeof(rule), "rule%d", i);
			metrics_policy_refusal(rule);
		}
	t = expo(NULL);
	check_structure(t);
	assert_int_equal(lines_starting(t, "estrad_policy_refusals_total{"),
	    513);
	assert_line(t, "estrad_policy_refusals_total{rule=\"rule0\"} 2");
	assert_line(t, "estrad_policy_refusals_total{rule=\"rule511\"} 2");
	assert_int_equal(lines_equal(t,
	    "estrad_policy_refusals_total{rule=\"rule512\"} 2"), 0);
	assert_line(t, "estrad_policy_refusals_total{rule=\"other\"} 176");
	free(t);

	/* Every label of the series becomes "other"; other families are
	 * not affected. */
	for (int i = 0; i < 520; i++)
		metrics_request("simpleenroll", "", 100 + i, 0.001);
	metrics_request("cacerts", "", 200, 0.001);
	t = expo(NULL);
	assert_line(t, "estrad_requests_total{op=\"other\",label=\"other\","
	    "status=\"other\"} 9");
	assert_int_equal(lines_starting(t, "estrad_requests_total{"), 513);
	assert_line(t, "estrad_request_duration_seconds_count"
	    "{op=\"cacerts\"} 1");
	free(t);
}

/* ---- gauges -------------------------------------------------------------- */

static void
test_gauges(void **state)
{
	static const char *const states[QS_MAX] = { "pending", "polling",
	    "issued", "refused", "delivered", "expired", "purged" };
	struct metrics_gauges	 g = { .queue_entries = { 3, 1, 0, 2, 5,
	    0, -1 }, .queue_oldest_seconds = 42.5,
	    .cache_max_age_seconds = -1 };
	char			*t, line[96];

	t = expo(&g);
	check_structure(t);
	/* One sample per state, in the order of enum queue_state; none for
	 * a state not counted (purged). */
	for (int i = 0; i < QS_MAX - 1; i++) {
		snprintf(line, sizeof(line), "estrad_queue_entries{state=\"%s\"} "
		    "%g", states[i], g.queue_entries[i]);
		assert_line(t, line);
	}
	assert_int_equal(lines_starting(t, "estrad_queue_entries"),
	    QS_MAX - 1);
	assert_line(t, "estrad_queue_oldest_age_seconds 42.5");
	assert_int_equal(lines_starting(t, "estrad_cache_age_seconds "), 0);
	free(t);
	memset(g.queue_entries, 0, sizeof(g.queue_entries));
	g.queue_oldest_seconds = 0;
	g.cache_max_age_seconds = 7;
	t = expo(&g);
	assert_line(t, "estrad_queue_entries{state=\"pending\"} 0");
	assert_line(t, "estrad_queue_oldest_age_seconds 0");
	assert_line(t, "estrad_cache_age_seconds 7");
	free(t);
}

/*
 * Prometheus's process_* metrics, read at each scrape: descriptors
 * opened show at once, the limit is getrlimit's, the start time is
 * estrad_start_time_seconds, memory and CPU time are there and grow.
 */
static void
test_process(void **state)
{
	struct rlimit	 rl;
	char		*t;
	double		 fds, cpu;
	int		 fd[3];
	volatile double	 x = 0;

	t = expo(NULL);
	check_structure(t);
	fds = sample_value(t, "process_open_fds");
	cpu = sample_value(t, "process_cpu_seconds_total");
	assert_true(fds >= 3);
	assert_true(cpu > 0);
	assert_true(sample_value(t, "process_resident_memory_bytes") > 1e5);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_true(sample_value(t, "process_max_fds") ==
	    (double)rl.rlim_cur);
	assert_true(sample_value(t, "process_start_time_seconds") ==
	    sample_value(t, "estrad_start_time_seconds"));
	free(t);
	for (int i = 0; i < 3; i++)
		assert_true((fd[i] = open("/dev/null", O_RDONLY)) != -1);
	for (long i = 0; i < 30000000; i++)	/* some CPU time */
		x += (double)i;
	t = expo(NULL);
	assert_true(sample_value(t, "process_open_fds") == fds + 3);
	assert_true(sample_value(t, "process_cpu_seconds_total") > cpu);
	free(t);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
}

/* Loop lag: a histogram of every tick's lateness and the largest. */
static void
test_loop_lag(void **state)
{
	struct metrics_gauges	 g = { .cache_max_age_seconds = -1 };
	char			*t;

	t = expo(&g);
	assert_line(t, "estrad_event_loop_lag_max_seconds 0");
	free(t);
	metrics_loop_lag(0.0004);
	metrics_loop_lag(0.03);
	metrics_loop_lag(0.002);
	t = expo(&g);
	check_structure(t);
	assert_line(t, "estrad_event_loop_lag_max_seconds 0.03");
	assert_line(t, "estrad_event_loop_lag_seconds_count 3");
	assert_line(t, "estrad_event_loop_lag_seconds_bucket{le=\"0.001\"} 1");
	assert_line(t, "estrad_event_loop_lag_seconds_bucket{le=\"0.0025\"} 2");
	assert_line(t, "estrad_event_loop_lag_seconds_bucket{le=\"0.025\"} 2");
	assert_line(t, "estrad_event_loop_lag_seconds_bucket{le=\"0.05\"} 3");
	free(t);
}

/* The admission hooks: gauges set, not added; counters add; the URL
 * label loses its userinfo as estrad_upstream_up's does. */
static void
test_upstream_admission(void **state)
{
	char *t;

	metrics_upstream_limit("ca", "https://ra:pw@ca.example/.well-known/est",
	    8, 3);
	metrics_upstream_limit("ca", "https://ra:pw@ca.example/.well-known/est",
	    5, 2);
	metrics_upstream_waiting("ca", 40);
	metrics_upstream_waiting("ca", 7);
	metrics_upstream_waited("ca", 0.2);
	metrics_upstream_shed("ca", "full");
	metrics_upstream_shed("ca", "full");
	metrics_upstream_shed("ca", "waited");
	metrics_upstream_overload("ca");
	metrics_upstream_connects("ca", 3);
	metrics_upstream_connects("ca", 1);
	t = expo(NULL);
	check_structure(t);
	assert_line(t, "estrad_upstream_concurrency_limit{upstream=\"ca\","
	    "url=\"https://ca.example/.well-known/est\"} 5");
	assert_line(t, "estrad_upstream_in_flight{upstream=\"ca\","
	    "url=\"https://ca.example/.well-known/est\"} 2");
	assert_line(t, "estrad_upstream_waiting{upstream=\"ca\"} 7");
	assert_line(t, "estrad_upstream_wait_seconds_count{upstream=\"ca\"} 1");
	assert_line(t, "estrad_upstream_wait_seconds_bucket{upstream=\"ca\","
	    "le=\"0.25\"} 1");
	assert_line(t, "estrad_upstream_busy_refusals_total{upstream=\"ca\","
	    "reason=\"full\"} 2");
	assert_line(t, "estrad_upstream_busy_refusals_total{upstream=\"ca\","
	    "reason=\"waited\"} 1");
	assert_line(t, "estrad_upstream_overloaded_total{upstream=\"ca\"} 1");
	assert_line(t, "estrad_upstream_connections_total{upstream=\"ca\"} 4");
	assert_null(strstr(t, "pw@"));
	free(t);
}

static void
test_upstream_up(void **state)
{
	char *t;

	metrics_upstream_health("ca", "https://ca.example:8443/.well-known/est",
	    1);
	metrics_upstream_health("ca", "https://ra:s3cret@ca2.example/.well-"
	    "known/est", 1);
	metrics_upstream_health("ca", "https://ca.example:8443/.well-known/est",
	    0);
	t = expo(NULL);
	check_structure(t);
	assert_line(t, "estrad_upstream_up{upstream=\"ca\",url=\"https://"
	    "ca.example:8443/.well-known/est\"} 0");
	assert_line(t, "estrad_upstream_up{upstream=\"ca\",url=\"https://"
	    "ca2.example/.well-known/est\"} 1");
	assert_null(strstr(t, "s3cret"));
	free(t);
}

static void
test_curl_kinds(void **state)
{
	static const struct {
		int		 code;
		const char	*kind;
	} cases[] = {
		{ CURLE_OK, NULL },
		{ CURLE_OPERATION_TIMEDOUT, "timeout" },
		{ CURLE_COULDNT_CONNECT, "unreachable" },
		{ CURLE_COULDNT_RESOLVE_HOST, "unreachable" },
		{ CURLE_PEER_FAILED_VERIFICATION, "tls" },
		{ CURLE_SSL_CONNECT_ERROR, "tls" },
		{ CURLE_SSL_CERTPROBLEM, "tls" },
		{ CURLE_GOT_NOTHING, "broken" },
		{ CURLE_RECV_ERROR, "broken" },
		{ CURLE_SEND_ERROR, "broken" },
		{ CURLE_PARTIAL_FILE, "broken" },
		{ CURLE_OUT_OF_MEMORY, "other" },
	};

	for (size_t i = 0; i < NITEMS(cases); i++) {
		const char *k = metrics_curl_error_kind(cases[i].code);
		if (cases[i].kind == NULL)
			assert_null(k);
		else
			assert_string_equal(k, cases[i].kind);
	}
}

/* ---- promtool -------------------------------------------------------------- */

static void
test_promtool(void **state)
{
	struct metrics_gauges	 g = { .queue_entries = { 1, 0, 2 },
	    .queue_oldest_seconds = 12, .cache_max_age_seconds = 30 };
	char			 path[] = "/tmp/test_metrics.XXXXXX", cmd[256];
	char			 out[512], *t;
	FILE			*f, *p;
	size_t			 n;
	int			 fd, rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		skip();
	metrics_request("simpleenroll", "", 200, 0.3);
	metrics_request("simpleenroll", "east", 401, 0.001);
	metrics_request("-", "", 404, 0.0001);
	metrics_upstream("ca", 0.25, NULL);
	metrics_upstream("ca", 5, "timeout");
	metrics_upstream_health("ca", "https://127.0.0.1:1/.well-known/est", 0);
	metrics_auth_failure("basic");
	metrics_policy_refusal("subject.cn");
	metrics_policy_refusal("odd \"rule\"\\\n");
	metrics_connection(1);
	metrics_tls_handshake(1);
	metrics_reload(1);
	t = expo(&g);
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(fwrite(t, 1, strlen(t), f), strlen(t));
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	unlink(path);
	if (rc != 0 || n != 0)
		fprintf(stderr, "promtool (exit %d): %s\n--- exposition:\n%s",
		    rc, out, t);
	free(t);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 0);
}

/* ---- the admin listener ---------------------------------------------------- */

struct fetch {
	struct event_base	*f_base;
	int			 f_status;
	char			 f_body[65536];
	size_t			 f_len;
	char			 f_type[128];
	char			 f_length[32];
	char			 f_allow[64];
	int			 f_done;
};

static void
header_copy(struct evkeyvalq *h, const char *name, char *out, size_t len)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(out, len, "%s", v ? v : "");
}

static void
on_response(struct evhttp_request *req, void *arg)
{
	struct fetch	*f = arg;
	struct evbuffer	*b;

	f->f_done = 1;
	event_base_loopexit(f->f_base, NULL);
	if (req == NULL || evhttp_request_get_response_code(req) == 0)
		return;
	f->f_status = evhttp_request_get_response_code(req);
	b = evhttp_request_get_input_buffer(req);
	f->f_len = evbuffer_remove(b, f->f_body, sizeof(f->f_body) - 1);
	f->f_body[f->f_len] = '\0';
	header_copy(evhttp_request_get_input_headers(req), "Content-Type",
	    f->f_type, sizeof(f->f_type));
	header_copy(evhttp_request_get_input_headers(req), "Content-Length",
	    f->f_length, sizeof(f->f_length));
	header_copy(evhttp_request_get_input_headers(req), "Allow",
	    f->f_allow, sizeof(f->f_allow));
}

static void
on_fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* One request on a new connection; the loop runs until the answer. */
static void
fetch(struct event_base *base, int port, enum evhttp_cmd_type cmd,
    const char *path, struct fetch *f)
{
	struct evhttp_connection	*conn;
	struct evhttp_request		*req;
	struct event			*timer;
	struct timeval			 tv = { 10, 0 };

	memset(f, 0, sizeof(*f));
	f->f_base = base;
	assert_non_null(conn = evhttp_connection_base_new(base, NULL,
	    "127.0.0.1", (unsigned short)port));
	assert_non_null(req = evhttp_request_new(on_response, f));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    "127.0.0.1");
	assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
	assert_non_null(timer = evtimer_new(base, on_fetch_timeout, base));
	evtimer_add(timer, &tv);
	event_base_dispatch(base);
	event_free(timer);
	evhttp_connection_free(conn);
	assert_true(f->f_done);
}

/* A port nobody listens on now (the kernel's pick, released). */
static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			s, port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(s);
	return port;
}

struct probe_state {
	int	ready;
};

static int
probe_ready(void *arg, char *why, size_t whylen)
{
	struct probe_state *ps = arg;

	if (!ps->ready)
		snprintf(why, whylen, "no upstream reachable\nsecond line");
	return ps->ready;
}

static void
probe_gauges(void *arg, struct metrics_gauges *g)
{
	g->queue_entries[QS_POLLING] = 2;
	g->queue_oldest_seconds = 5;
	g->cache_max_age_seconds = 9;
}

static void
test_admin(void **state)
{
	struct probe_state	 ps = { 1 };
	struct admin_probe	 probe = { probe_ready, probe_gauges, &ps };
	char			*urls[] = { "https://127.0.0.1:1/.well-known/est" };
	struct cfg_upstream	 up = { .name = "ca", .url = urls[0],
	    .urls = urls, .nurls = 1 };
	struct config		 cfg;
	struct event_base	*base;
	struct admin		*ad;
	struct fetch		*f;
	char			 listen[64], err[256], len[32];
	int			 port = free_port();

	memset(&cfg, 0, sizeof(cfg));
	cfg.upstreams = &up;
	cfg.nupstreams = 1;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	cfg.admin.listen = listen;
	cfg.admin.max_connections = 32;		/* the schema's defaults */
	cfg.admin.timeout_ms = 10000;
	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_non_null(base = event_base_new());

	/* No admin section, or a listen that is no address: no listener. */
	assert_null(admin_new(base, &cfg, &probe, err, sizeof(err)));
	cfg.admin.enabled = 1;
	cfg.admin.listen = "nowhere";
	assert_null(admin_new(base, &cfg, &probe, err, sizeof(err)));
	assert_non_null(strstr(err, "nowhere"));
	cfg.admin.listen = listen;
	assert_non_null(ad = admin_new(base, &cfg, &probe, err, sizeof(err)));

	fetch(base, port, EVHTTP_REQ_GET, "/healthz", f);
	assert_int_equal(f->f_status, 200);
	assert_string_equal(f->f_body, "ok\n");
	assert_string_equal(f->f_type, "text/plain; charset=utf-8");

	fetch(base, port, EVHTTP_REQ_GET, "/readyz", f);
	assert_int_equal(f->f_status, 200);
	assert_string_equal(f->f_body, "ready\n");
	ps.ready = 0;
	fetch(base, port, EVHTTP_REQ_GET, "/readyz", f);
	assert_int_equal(f->f_status, 503);
	assert_string_equal(f->f_body, "not ready: no upstream reachable\n");

	fetch(base, port, EVHTTP_REQ_GET, "/metrics?x=1", f);
	assert_int_equal(f->f_status, 200);
	assert_string_equal(f->f_type,
	    "text/plain; version=0.0.4; charset=utf-8");
	check_structure(f->f_body);
	assert_line(f->f_body, "estrad_queue_entries{state=\"polling\"} 2");
	assert_line(f->f_body, "estrad_queue_oldest_age_seconds 5");
	assert_line(f->f_body, "estrad_cache_age_seconds 9");
	/* admin_new said every configured URL is up. */
	assert_line(f->f_body, "estrad_upstream_up{upstream=\"ca\",url=\"https:"
	    "//127.0.0.1:1/.well-known/est\"} 1");

	/*
	 * HEAD: GET's headers, no body. The process_* values (CPU seconds,
	 * RSS, descriptors) may change between two scrapes, and with them
	 * the length: HEAD's Content-Length must be that of a GET just
	 * before or just after it, in one of a few tries.
	 */
	for (int tries = 0;; tries++) {
		char before[32], after[32];

		fetch(base, port, EVHTTP_REQ_GET, "/metrics", f);
		snprintf(before, sizeof(before), "%zu", f->f_len);
		fetch(base, port, EVHTTP_REQ_HEAD, "/metrics", f);
		assert_int_equal(f->f_status, 200);
		assert_int_equal(f->f_len, 0);
		snprintf(len, sizeof(len), "%s", f->f_length);
		fetch(base, port, EVHTTP_REQ_GET, "/metrics", f);
		snprintf(after, sizeof(after), "%zu", f->f_len);
		if (strcmp(len, before) == 0 || strcmp(len, after) == 0)
			break;
		if (tries == 4)
			fail_msg("HEAD's Content-Length %s is neither GET's "
			    "before (%s) nor after (%s)", len, before, after);
	}

	fetch(base, port, EVHTTP_REQ_GET, "/metrics/", f);
	assert_int_equal(f->f_status, 404);
	assert_non_null(strstr(f->f_body, "/healthz, /readyz and /metrics"));
	fetch(base, port, EVHTTP_REQ_GET, "/", f);
	assert_int_equal(f->f_status, 404);

	fetch(base, port, EVHTTP_REQ_POST, "/metrics", f);
	assert_int_equal(f->f_status, 405);
	assert_string_equal(f->f_allow, "GET, HEAD");
	fetch(base, port, EVHTTP_REQ_DELETE, "/healthz", f);
	assert_int_equal(f->f_status, 405);

	admin_free(ad);
	admin_free(NULL);
	event_base_free(base);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_fresh),
		FX_TEST(test_counters),
		FX_TEST(test_float_text),
		FX_TEST(test_process),
		FX_TEST(test_histogram),
		FX_TEST(test_escaping),
		FX_TEST(test_label_bound),
		FX_TEST(test_series_cap),
		FX_TEST(test_gauges),
		FX_TEST(test_loop_lag),
		FX_TEST(test_upstream_admission),
		FX_TEST(test_upstream_up),
		cmocka_unit_test(test_curl_kinds),
		FX_TEST(test_promtool),
		FX_TEST(test_admin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
