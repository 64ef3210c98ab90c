/*
 * estbench: a load generator for EST servers (RFC 7030). Shared types of
 * its modules: the run's options, the per-run context (struct bench) and
 * one client (struct bclient), a small state machine over a
 * bufferevent_openssl on the run's single event base.
 *
 *   estbench.c         options, CSR pool, run modes (load, ramp, idle), main
 *   estbench_client.c  one client: connect, TLS, HTTP, Digest, PKCS#7 check,
 *                      waiting out a Retry-After
 *   estbench_retry.c   Retry-After (RFC 9110 §10.2.3) to a wait, no I/O
 *   estbench_stats.c   latencies, error counters, /proc readings, report
 */
#ifndef ESTBENCH_H
#define ESTBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "estrad/digest.h"

enum bench_mode { MODE_ENROLL, MODE_HANDSHAKE, MODE_IDLE, MODE_MAX };
enum bench_auth { AUTH_DIGEST, AUTH_BASIC, AUTH_CERT, AUTH_NONE, AUTH_MAX };

/* Failures that are not an HTTP status. */
enum bench_err {
	BERR_CONNECT,
	BERR_TLS,
	BERR_TIMEOUT,
	BERR_BAD_PKCS7,
	BERR_CLOSED,		/* server closed before a whole answer */
	BERR_BAD_RESPONSE,	/* unparsable or unsupported framing */
	BERR_AUTH,		/* no usable Digest challenge */
	BERR_UNFINISHED,	/* --ramp: not done by --ramp-deadline */
	BERR_MAX
};

struct bench_opts {
	const char	*url;
	char		 host[256];
	char		 port[8];
	char		 path[1024];	/* base path, no trailing '/' */
	int		 clients;
	long		 total;		/* -n; 0 = use duration */
	double		 duration;	/* -t seconds */
	int		 rsa;		/* --key rsa2048 */
	int		 keepalive;
	int		 resume;
	enum bench_auth	 auth;
	const char	*user;
	const char	*pass;
	int		 digest_alg;	/* -1 = choose from the challenge */
	const char	*cert_file;
	const char	*key_file;
	const char	*cafile;
	int		 insecure;
	int		 tls_version;	/* 0, TLS1_2_VERSION, TLS1_3_VERSION */
	pid_t		 pid;		/* 0 = no server readings */
	enum bench_mode	 mode;
	long		 idle;
	double		 timeout;	/* per-operation I/O timeout, seconds */
	long		 pool;		/* CSRs to generate */
	int		 retry_after;	/* --retry-after: wait out a busy answer */
	double		 retry_cap;	/* the longest wait honoured, seconds */
	double		 ramp;		/* --ramp seconds; < 0: no ramp */
	double		 ramp_deadline;	/* --ramp: the run's end, seconds */
};

/* Latencies in ms, grown as needed. */
struct bench_lat {
	double		*ms;
	size_t		 n, cap;
};

struct bench_stats {
	struct bench_lat lat;		/* from the first attempt */
	struct bench_lat last;		/* of the last attempt alone */
	long		 ok;
	long		 ok_retry;	/* of ok: after one or more busy answers */
	long		 errs;
	long		 err_kind[BERR_MAX];
	long		 err_status[600];	/* busy 503s too */
	long		 busy;		/* 503 + a usable Retry-After */
	long		 retries;	/* attempts after a busy answer */
	long		 max_retries;	/* most retries of one enrollment */
	long		 abandoned;	/* waiting at the end of -t */
	double		 wait_max_s;	/* the longest Retry-After waited */
	double		 t_last_ok;	/* bench_now() of the last success */
	double		 arrive_late_max;	/* --ramp: arrivals behind plan, s */
	long		 resumed;	/* handshakes that resumed a session */
	long		 handshakes;
};

struct bench;

struct bclient {
	struct bench	*b;
	int		 id;
	struct bufferevent *bev;
	int		 connected;	/* handshake done on bev */
	int		 busy;		/* an operation is in flight */
	unsigned long	 ops;		/* operations ended */
	double		 t0;		/* operation start, seconds */
	SSL_SESSION	*session;	/* --resume: last session */
	long		 csr;		/* index in the pool */
	int		 round;		/* 0: first request, 1: after 401 */
	double		 t_first;	/* the enrollment's first attempt */
	long		 retries;	/* of this enrollment */
	struct event	*timer;		/* ramp arrival, then Retry-After */
	int		 arrived;	/* --ramp: the arrival timer fired */
	int		 waiting;	/* the timer holds a retry */
	int		 finished;	/* --ramp: the one enrollment ended */
	/* the answer being read */
	int		 hdr_done;
	int		 status;
	long		 clen;		/* -1: until close */
	int		 conn_close;
	char		 retry_after[128];	/* the header's value, or "" */
	double		 retry_wait;	/* a 503's usable Retry-After, or -1 */
	double		 wait;		/* the wait in progress, seconds */
	char		*challenges[4];
	int		 nchallenges;
	/* the Digest challenge in use */
	int		 have_chal;
	struct digest_auth da;
	unsigned long	 nc;
};

struct bench {
	struct bench_opts o;
	struct event_base *base;
	SSL_CTX		*ctx;
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
	char		**csrs;		/* base64 PKCS#10, pool of o.pool */
	size_t		*csr_len;
	char		 ha1[DIGEST_ALG_MAX][DIGEST_HEX_MAX];	/* per realm: filled lazily */
	char		 ha1_realm[DIGEST_VALUE_MAX];
	char		*basic_hdr;	/* "Basic ...", or NULL */
	struct bclient	*cl;
	int		 ncl;
	long		 started;	/* operations started (first attempts) */
	long		 done;		/* operations finished */
	int		 stopping;	/* no new operations */
	int		 inflight;	/* clients busy */
	int		 waiting;	/* clients waiting out a Retry-After */
	long		 idle_next;	/* MODE_IDLE: next connection to open */
	long		 idle_up;
	double		 t_start, t_end;
	struct event	*deadline;
	struct bench_stats st;
};

/* estbench_client.c */
double bench_now(void);
/* Begin the next operation of c, or leave it idle if the run is over. */
void bclient_next(struct bclient *c);
/* Tear down c's connection (keeps the session for --resume). */
void bclient_close(struct bclient *c);
/* Open a TLS connection for c; returns 0 or -1 (recorded as an error). */
int bclient_connect(struct bclient *c);
/* Set c up as client id of b (its timer with --retry-after); 0 or -1. */
int bclient_init(struct bclient *c, struct bench *b, int id);
/* --ramp: c arrives after delay seconds; 0 or -1. */
int bclient_arrive(struct bclient *c, double delay);
/* The end of -t: drop c's wait, counted as abandoned. */
void bclient_abandon(struct bclient *c);
/* The end of --ramp-deadline: c, if not done, ends as unfinished. */
void bclient_give_up(struct bclient *c);
/* Break the loop if the run has nothing left to do. */
void bench_check_end(struct bench *b);

/* estbench_retry.c */
/*
 * A Retry-After value (RFC 9110 §10.2.3, blanks around it removed):
 * delay-seconds, or an HTTP-date in any form of §5.6.7 taken against now
 * (seconds since the epoch). 0 and the wait in *secs, at most cap (a
 * date in the past: 0); -1 if it is neither (junk, a sign, a fraction,
 * an impossible date), *secs untouched.
 */
int retry_after_parse(const char *v, time_t now, double cap, double *secs);

/* estbench_stats.c */
const char *bench_err_name(enum bench_err e);
/* A success: ms from the first attempt, last_ms of the last attempt. */
void stats_ok(struct bench_stats *st, double ms, double last_ms,
    long retries);
void stats_err(struct bench_stats *st, enum bench_err e);
void stats_status(struct bench_stats *st, int status);
/* A 503 + Retry-After: not an error, counted apart. */
void stats_busy(struct bench_stats *st, double wait_s);
void stats_free(struct bench_stats *st);

struct proc_sample {
	int	 ok;
	double	 cpu_s;		/* utime + stime */
	long	 rss_kib;	/* VmRSS */
	long	 hwm_kib;	/* VmHWM */
};
int proc_read(pid_t pid, struct proc_sample *out);
/* Print the report; the last line is the machine-readable one. */
void stats_report(const struct bench *b, const struct proc_sample *before,
    const struct proc_sample *after);
/* --ramp's report; its last line is the ramp's machine-readable one. */
void stats_report_ramp(const struct bench *b,
    const struct proc_sample *before, const struct proc_sample *after);

#endif
