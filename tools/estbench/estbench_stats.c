/*
 * estbench_stats: what a run measured. Latencies (ms, from the connect
 * of an enrollment's first attempt to the whole answer of its last, and
 * of the last attempt alone), errors by HTTP status and by kind, busy
 * answers (503 + Retry-After) apart from errors, the server's CPU time and
 * memory from /proc/PID, and the report whose last line is
 * machine-readable: rate=<> p50_ms=<> p90_ms=<> p99_ms=<> errors=<>
 * busy=<> retries=<> abandoned=<> (tools/bench.sh reads the first five by
 * name), or for --ramp clients=<> ok_first=<> ... last_s=<>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "estbench.h"

static const char *const err_names[BERR_MAX] = {
	[BERR_CONNECT] = "connect",
	[BERR_TLS] = "tls",
	[BERR_TIMEOUT] = "timeout",
	[BERR_BAD_PKCS7] = "bad_pkcs7",
	[BERR_CLOSED] = "closed",
	[BERR_BAD_RESPONSE] = "bad_response",
	[BERR_AUTH] = "no_challenge",
	[BERR_UNFINISHED] = "unfinished",
};

const char *
bench_err_name(enum bench_err e)
{
	return e < BERR_MAX ? err_names[e] : "?";
}

static void
lat_add(struct bench_lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		double *n = realloc(l->ms, ncap * sizeof(*n));

		if (n == NULL)
			return;	/* the count stays right, the sample is lost */
		l->ms = n;
		l->cap = ncap;
	}
	l->ms[l->n++] = ms;
}

void
stats_ok(struct bench_stats *st, double ms, double last_ms, long retries)
{
	lat_add(&st->lat, ms);
	lat_add(&st->last, last_ms);
	st->ok++;
	if (retries > 0)
		st->ok_retry++;
	if (retries > st->max_retries)
		st->max_retries = retries;
}

void
stats_err(struct bench_stats *st, enum bench_err e)
{
	st->err_kind[e]++;
	st->errs++;
}

void
stats_status(struct bench_stats *st, int status)
{
	if (status < 0 || status >= 600)
		status = 0;
	st->err_status[status]++;
	st->errs++;
}

void
stats_busy(struct bench_stats *st, double wait_s)
{
	st->err_status[503]++;
	st->busy++;
	if (wait_s > st->wait_max_s)
		st->wait_max_s = wait_s;
}

void
stats_free(struct bench_stats *st)
{
	free(st->lat.ms);
	free(st->last.ms);
	st->lat.ms = st->last.ms = NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double
pct(const double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* "/proc/PID/stat": utime and stime are fields 14 and 15, counted after
 * the command name, which may hold spaces and parentheses. */
static int
proc_cpu(pid_t pid, double *cpu_s)
{
	char path[64], buf[2048], *p;
	unsigned long ut, stt;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime(14) stime(15) */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &stt) != 2)
		return -1;
	*cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int
proc_read(pid_t pid, struct proc_sample *out)
{
	char path[64], line[256];
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (pid <= 0 || proc_cpu(pid, &out->cpu_s) == -1)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "VmRSS: %ld", &out->rss_kib);
		sscanf(line, "VmHWM: %ld", &out->hwm_kib);
	}
	fclose(f);
	out->ok = 1;
	return 0;
}

/* The sorted latencies' nearest-rank percentiles. */
struct lat_sum {
	double	 p50, p90, p99, max;
};

static struct lat_sum
lat_sum(const struct bench_lat *l)
{
	struct lat_sum r;

	if (l->n > 0)	/* ms is NULL until the first sample */
		qsort(l->ms, l->n, sizeof(double), cmp_double);
	r.p50 = pct(l->ms, l->n, 50);
	r.p90 = pct(l->ms, l->n, 90);
	r.p99 = pct(l->ms, l->n, 99);
	r.max = l->n ? l->ms[l->n - 1] : 0;
	return r;
}

static void
print_lat(const char *name, const struct bench_lat *l)
{
	struct lat_sum r = lat_sum(l);

	printf("%s: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n", name, r.p50,
	    r.p90, r.p99, r.max);
}

/* Errors by status (the busy 503s left out: they are no errors) and by
 * kind, after label. */
static void
report_errors(const struct bench_stats *st, const char *label)
{
	long n;
	int i, any = 0;

	printf("%s:", label);
	for (i = 0; i < 600; i++)
		if ((n = st->err_status[i] - (i == 503 ? st->busy : 0)) > 0) {
			printf(" %d=%ld", i, n);
			any = 1;
		}
	for (i = 0; i < BERR_MAX; i++)
		if (st->err_kind[i]) {
			printf(" %s=%ld", err_names[i], st->err_kind[i]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
}

/* A 5xx other than 503 + Retry-After is what a storm must not cause: a
 * line of its own, in capitals, when there is one. */
static void
report_5xx(const struct bench_stats *st)
{
	long n;
	int i, any = 0;

	for (i = 500; i < 600; i++)
		if ((n = st->err_status[i] - (i == 503 ? st->busy : 0)) > 0) {
			printf("%s %d=%ld", any ? "" :
			    "FAILED WITH 5XX OTHER THAN 503 + RETRY-AFTER:", i, n);
			any = 1;
		}
	if (any)
		printf("\n");
}

static void
report_busy(const struct bench *b)
{
	const struct bench_stats *st = &b->st;

	printf("busy: answers=%ld retries=%ld max_retries=%ld abandoned=%ld "
	    "retry_after_max_s=%.0f (503 + Retry-After%s)\n", st->busy,
	    st->retries, st->max_retries, st->abandoned, st->wait_max_s,
	    b->o.retry_after ? ", waited out" : "; --retry-after waits them out");
}

/* --pid: the server's CPU and memory over the run. */
static void
report_server(const struct bench *b, const struct proc_sample *before,
    const struct proc_sample *after)
{
	const struct bench_stats *st = &b->st;

	if (before != NULL && after != NULL && before->ok && after->ok)
		printf("server: pid=%ld cpu_s=%.2f cpu_per_op_ms=%.3f "
		    "vmhwm_kib=%ld vmrss_before_kib=%ld vmrss_after_kib=%ld\n",
		    (long)b->o.pid, after->cpu_s - before->cpu_s,
		    st->ok ? (after->cpu_s - before->cpu_s) * 1000.0 /
		    (double)st->ok : 0.0, after->hwm_kib, before->rss_kib,
		    after->rss_kib);
	else if (b->o.pid > 0 && before != NULL)
		printf("server: pid=%ld not readable\n", (long)b->o.pid);
}

void
stats_report(const struct bench *b, const struct proc_sample *before,
    const struct proc_sample *after)
{
	const struct bench_stats *st = &b->st;
	double el = b->t_end - b->t_start, rate;
	struct lat_sum l;

	l = lat_sum(&st->lat);
	rate = el > 0 ? (double)st->ok / el : 0;
	printf("done: ok=%ld errors=%ld busy=%ld elapsed_s=%.3f clients=%d\n",
	    st->ok, st->errs, st->busy, el, b->o.clients);
	printf("latency_ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	    l.p50, l.p90, l.p99, l.max);
	if (b->o.retry_after) {
		printf("ok: first_attempt=%ld after_retry=%ld (latency_ms from "
		    "the first attempt)\n", st->ok - st->ok_retry, st->ok_retry);
		print_lat("last_attempt_ms", &st->last);
	}
	printf("tls: handshakes=%ld resumed=%ld\n", st->handshakes, st->resumed);
	report_errors(st, "errors");
	report_5xx(st);
	report_busy(b);
	report_server(b, before, after);
	printf("rate=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%ld "
	    "busy=%ld retries=%ld abandoned=%ld\n", rate, l.p50, l.p90, l.p99,
	    st->errs, st->busy, st->retries, st->abandoned);
	fflush(stdout);
}

void
stats_report_ramp(const struct bench *b, const struct proc_sample *before,
    const struct proc_sample *after)
{
	const struct bench_stats *st = &b->st;
	double last_s = st->ok ? st->t_last_ok - b->t_start : 0;
	struct lat_sum l;

	l = lat_sum(&st->lat);
	printf("ramp: clients=%d over_s=%g arrivals_late_max_ms=%.1f "
	    "elapsed_s=%.3f\n", b->o.clients, b->o.ramp,
	    st->arrive_late_max * 1000.0, b->t_end - b->t_start);
	printf("ok: first_attempt=%ld after_retry=%ld max_retries=%ld\n",
	    st->ok - st->ok_retry, st->ok_retry, st->max_retries);
	printf("failed: %ld\n", st->errs);
	report_errors(st, "failed_by");
	report_5xx(st);
	report_busy(b);
	printf("arrival_to_cert_ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	    l.p50, l.p90, l.p99, l.max);
	print_lat("last_attempt_ms", &st->last);
	printf("last_cert_s=%.3f (from the first arrival)\n", last_s);
	printf("tls: handshakes=%ld resumed=%ld\n", st->handshakes, st->resumed);
	report_server(b, before, after);
	printf("clients=%d ok_first=%ld ok_retry=%ld failed=%ld busy=%ld "
	    "retries=%ld max_retries=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	    "last_s=%.3f\n", b->o.clients, st->ok - st->ok_retry, st->ok_retry,
	    st->errs, st->busy, st->retries, st->max_retries, l.p50, l.p99,
	    l.max, last_s);
	fflush(stdout);
}
