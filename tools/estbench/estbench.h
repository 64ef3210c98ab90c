/*
 * estbench: a load generator for EST servers (RFC 7030). Shared types of
 * its modules: the run's options, the per-run context (struct bench) and
 * one client (struct bclient), a small state machine over a
 * bufferevent_openssl on the run's single event base.
 *
 *   estbench.c         options, CSR pool, run modes, main
 *   estbench_client.c  one client: connect, TLS, HTTP, Digest, PKCS#7 check
 *   estbench_stats.c   latencies, error counters, /proc readings, report
 */
#ifndef ESTBENCH_H
#define ESTBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

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
};

struct bench_stats {
	double		*lat_ms;
	size_t		 lat_n, lat_cap;
	long		 ok;
	long		 errs;
	long		 err_kind[BERR_MAX];
	long		 err_status[600];
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
	/* the answer being read */
	int		 hdr_done;
	int		 status;
	long		 clen;		/* -1: until close */
	int		 conn_close;
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
	long		 started;	/* operations started */
	long		 done;		/* operations finished */
	int		 stopping;	/* no new operations */
	int		 inflight;	/* clients busy */
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

/* estbench_stats.c */
const char *bench_err_name(enum bench_err e);
void stats_ok(struct bench_stats *st, double ms);
void stats_err(struct bench_stats *st, enum bench_err e);
void stats_status(struct bench_stats *st, int status);
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

#endif
