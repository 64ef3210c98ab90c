/*
 * estbench_stats: what a run measured. Latencies (ms, from connect start
 * to the whole answer), errors by HTTP status and by kind, the server's
 * CPU time and memory from /proc/PID, and the report whose last line is
 * machine-readable: rate=<> p50_ms=<> p90_ms=<> p99_ms=<> errors=<>.
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
};

const char *
bench_err_name(enum bench_err e)
{
	return e < BERR_MAX ? err_names[e] : "?";
}

void
stats_ok(struct bench_stats *st, double ms)
{
	if (st->lat_n == st->lat_cap) {
		size_t ncap = st->lat_cap ? st->lat_cap * 2 : 4096;
		double *n = realloc(st->lat_ms, ncap * sizeof(*n));

		if (n == NULL)
			return;	/* the count stays right, the sample is lost */
		st->lat_ms = n;
		st->lat_cap = ncap;
	}
	st->lat_ms[st->lat_n++] = ms;
	st->ok++;
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
stats_free(struct bench_stats *st)
{
	free(st->lat_ms);
	st->lat_ms = NULL;
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

static void
report_errors(const struct bench_stats *st)
{
	int i, any = 0;

	printf("errors:");
	for (i = 0; i < 600; i++)
		if (st->err_status[i]) {
			printf(" %d=%ld", i, st->err_status[i]);
			any = 1;
		}
	for (i = 0; i < BERR_MAX; i++)
		if (st->err_kind[i]) {
			printf(" %s=%ld", err_names[i], st->err_kind[i]);
			any = 1;
		}
	printf("%s\n", any ? "" : " none");
}

void
stats_report(const struct bench *b, const struct proc_sample *before,
    const struct proc_sample *after)
{
	const struct bench_stats *st = &b->st;
	double el = b->t_end - b->t_start, rate, p50, p90, p99, mx;

	qsort(st->lat_ms, st->lat_n, sizeof(double), cmp_double);
	rate = el > 0 ? (double)st->ok / el : 0;
	p50 = pct(st->lat_ms, st->lat_n, 50);
	p90 = pct(st->lat_ms, st->lat_n, 90);
	p99 = pct(st->lat_ms, st->lat_n, 99);
	mx = st->lat_n ? st->lat_ms[st->lat_n - 1] : 0;

	printf("done: ok=%ld errors=%ld elapsed_s=%.3f clients=%d\n",
	    st->ok, st->errs, el, b->o.clients);
	printf("latency_ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	    p50, p90, p99, mx);
	printf("tls: handshakes=%ld resumed=%ld\n", st->handshakes, st->resumed);
	report_errors(st);
	if (before != NULL && after != NULL && before->ok && after->ok)
		printf("server: pid=%ld cpu_s=%.2f cpu_per_op_ms=%.3f "
		    "vmhwm_kib=%ld vmrss_before_kib=%ld vmrss_after_kib=%ld\n",
		    (long)b->o.pid, after->cpu_s - before->cpu_s,
		    st->ok ? (after->cpu_s - before->cpu_s) * 1000.0 /
		    (double)st->ok : 0.0, after->hwm_kib, before->rss_kib,
		    after->rss_kib);
	else if (b->o.pid > 0 && before != NULL)
		printf("server: pid=%ld not readable\n", (long)b->o.pid);
	printf("rate=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%ld\n",
	    rate, p50, p90, p99, st->errs);
	fflush(stdout);
}
