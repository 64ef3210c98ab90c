/*
 * estbench: load generator for EST servers (RFC 7030), estrad or any
 * other. Generates its CSRs up front, then drives N concurrent clients on
 * one libevent base for T seconds or M operations, and reports rate,
 * latency percentiles, errors and (--pid) the server's CPU and memory.
 * Modes: enroll (default), --handshake-only, --idle N; and --ramp S, a
 * storm: the clients arrive spread over S seconds, each enrolls once,
 * waiting out 503 + Retry-After as often as it is told to.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bench_url.h"
#include "estbench.h"
#include "estrad/b64.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: estbench [options] https://host:port/.well-known/est[/label]\n"
	    "  -c N               concurrent clients (default 1)\n"
	    "  -n M               M operations in total (with -t: whichever first)\n"
	    "  -t T               run for T seconds (default 10 without -n)\n"
	    "  -u user:pass       credentials (Digest unless --basic)\n"
	    "  --digest-alg ALG   MD5, SHA-256 (MD5-sess, SHA-256-sess: for servers\n"
	    "                     that offer them; estrad does not)\n"
	    "  --basic            HTTP Basic instead of Digest\n"
	    "  --cert FILE --key FILE  TLS client certificate (no HTTP auth)\n"
	    "  --key rsa2048|p256 CSR key type (default p256)\n"
	    "  --keepalive        reuse one connection per client\n"
	    "  --resume           TLS session resumption on reconnect\n"
	    "  --tls 1.2|1.3      pin the TLS version\n"
	    "  --cafile FILE      trust anchors for the server (name checked)\n"
	    "  --insecure         do not verify the server\n"
	    "  --pid PID          report the server's CPU and memory (/proc)\n"
	    "  --handshake-only   connect, handshake, close per operation\n"
	    "  --idle N           hold N handshaken connections, report RSS\n"
	    "  --timeout S        per-operation I/O timeout (default 30)\n"
	    "  --csrs K           CSR pool size (default -n, -c with --ramp, else 1000)\n"
	    "  A 503 with a Retry-After (seconds or an HTTP-date) is a busy answer:\n"
	    "  counted as busy=, not as an error.\n"
	    "  --retry-after      wait a busy answer out (no connection open unless\n"
	    "                     --keepalive keeps one) and send the same CSR again;\n"
	    "                     latency runs from the first attempt. The end of -n/-t\n"
	    "                     stops new enrollments only; clients still waiting\n"
	    "                     when -t ends are abandoned= (neither ok nor errors,\n"
	    "                     and missing from the latencies: their wait is the\n"
	    "                     run's end, not the server's answer)\n"
	    "  --retry-cap S      wait at most S seconds per Retry-After (default 120)\n"
	    "  --ramp S           a storm: the -c clients arrive spread over S seconds\n"
	    "                     (client i at i*S/c), each enrolls once, to a\n"
	    "                     certificate or a final failure (implies\n"
	    "                     --retry-after; no -n/-t)\n"
	    "  --ramp-deadline S  end a ramp after S seconds (default 600); clients\n"
	    "                     not done by then count as failed (unfinished)\n"
	    "Exit status: 0 if nothing failed (busy and abandoned are no failures)\n"
	    "and, except for a ramp, something succeeded; 1 otherwise; 2 usage.\n");
	exit(2);
}

/* https://host[:port]/path, host may be [v6]. */
static int
parse_url(struct bench_opts *o, const char *url)
{
	struct bench_url u;

	if (bench_url_parse(&u, url, "https", "443") != 0)
		return -1;
	snprintf(o->host, sizeof(o->host), "%s", u.host);
	snprintf(o->port, sizeof(o->port), "%s", u.port);
	snprintf(o->path, sizeof(o->path), "%s", u.path);
	return 0;
}

static int
parse_alg(const char *s)
{
	int a;

	for (a = 0; a < DIGEST_ALG_MAX; a++)
		if (strcasecmp(s, digest_alg_name(a)) == 0)
			return a;
	return -1;
}

enum {
	OPT_BASIC = 256, OPT_CERT, OPT_KEY, OPT_KEEPALIVE, OPT_RESUME, OPT_TLS,
	OPT_CAFILE, OPT_INSECURE, OPT_PID, OPT_HANDSHAKE, OPT_IDLE,
	OPT_TIMEOUT, OPT_CSRS, OPT_DIGEST_ALG, OPT_RETRY_AFTER, OPT_RETRY_CAP,
	OPT_RAMP, OPT_RAMP_DEADLINE
};

static const struct option long_opts[] = {
	{ "basic", no_argument, NULL, OPT_BASIC },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "keepalive", no_argument, NULL, OPT_KEEPALIVE },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "handshake-only", no_argument, NULL, OPT_HANDSHAKE },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "csrs", required_argument, NULL, OPT_CSRS },
	{ "digest-alg", required_argument, NULL, OPT_DIGEST_ALG },
	{ "retry-after", no_argument, NULL, OPT_RETRY_AFTER },
	{ "retry-cap", required_argument, NULL, OPT_RETRY_CAP },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "ramp-deadline", required_argument, NULL, OPT_RAMP_DEADLINE },
	{ NULL, 0, NULL, 0 }
};

/* --key is both the CSR key type and, with --cert, the client key file. */
static void
opt_key(struct bench_opts *o, const char *v)
{
	if (strcasecmp(v, "rsa2048") == 0)
		o->rsa = 1;
	else if (strcasecmp(v, "p256") == 0)
		o->rsa = 0;
	else
		o->key_file = v;
}

static void
parse_opts(struct bench_opts *o, int argc, char **argv)
{
	int ch;
	char *colon;

	memset(o, 0, sizeof(*o));
	o->clients = 1;
	o->digest_alg = -1;
	o->timeout = 30;
	o->auth = AUTH_NONE;
	o->retry_cap = 120;
	o->ramp = -1;
	o->ramp_deadline = 600;
	while ((ch = getopt_long(argc, argv, "c:n:t:u:h", long_opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c': o->clients = atoi(optarg); break;
		case 'n': o->total = atol(optarg); break;
		case 't': o->duration = atof(optarg); break;
		case 'u':
			if ((colon = strchr(optarg, ':')) == NULL)
				usage();
			*colon = '\0';
			o->user = optarg;
			o->pass = colon + 1;
			if (o->auth == AUTH_NONE)
				o->auth = AUTH_DIGEST;
			break;
		case OPT_BASIC: o->auth = AUTH_BASIC; break;
		case OPT_CERT: o->cert_file = optarg; break;
		case OPT_KEY: opt_key(o, optarg); break;
		case OPT_KEEPALIVE: o->keepalive = 1; break;
		case OPT_RESUME: o->resume = 1; break;
		case OPT_TLS:
			if (strcmp(optarg, "1.2") == 0)
				o->tls_version = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				o->tls_version = TLS1_3_VERSION;
			else
				usage();
			break;
		case OPT_CAFILE: o->cafile = optarg; break;
		case OPT_INSECURE: o->insecure = 1; break;
		case OPT_PID: o->pid = (pid_t)atol(optarg); break;
		case OPT_HANDSHAKE: o->mode = MODE_HANDSHAKE; break;
		case OPT_IDLE: o->mode = MODE_IDLE; o->idle = atol(optarg); break;
		case OPT_TIMEOUT: o->timeout = atof(optarg); break;
		case OPT_CSRS: o->pool = atol(optarg); break;
		case OPT_DIGEST_ALG:
			if ((o->digest_alg = parse_alg(optarg)) < 0)
				usage();
			break;
		case OPT_RETRY_AFTER: o->retry_after = 1; break;
		case OPT_RETRY_CAP: o->retry_cap = atof(optarg); break;
		case OPT_RAMP: o->ramp = atof(optarg); break;
		case OPT_RAMP_DEADLINE: o->ramp_deadline = atof(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || parse_url(o, argv[optind]) == -1 ||
	    o->clients < 1 || o->timeout <= 0 ||
	    (o->mode == MODE_IDLE && o->idle < 1) ||
	    (o->cert_file != NULL) != (o->key_file != NULL) ||
	    (o->auth == AUTH_BASIC && o->user == NULL) ||
	    !(o->retry_cap >= 0) || !(o->ramp_deadline > 0) ||
	    (o->ramp >= 0 && (o->mode != MODE_ENROLL || o->total > 0 ||
	    o->duration > 0)) || (o->ramp < 0 && o->ramp != -1))
		usage();
	if (o->ramp >= 0)
		o->retry_after = 1;
	o->url = argv[optind];
	if (o->cert_file != NULL && o->auth == AUTH_DIGEST)
		o->auth = AUTH_DIGEST;	/* both: the server chooses */
	else if (o->cert_file != NULL)
		o->auth = AUTH_CERT;
	if (o->ramp < 0 && o->total <= 0 && o->duration <= 0)
		o->duration = 10;
	if (o->pool <= 0)
		o->pool = o->ramp >= 0 ? o->clients : o->total > 0 ? o->total :
		    1000;
}

/* One CSR, CN=estbench-<n>, signed with pkey, as base64 lines. */
static char *
csr_make(EVP_PKEY *pkey, long n, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	char cn[64], *b64 = NULL;
	int dlen;

	snprintf(cn, sizeof(cn), "estbench-%ld", n);
	if (req == NULL || name == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pkey) != 1 ||
	    X509_REQ_sign(req, pkey, EVP_sha256()) <= 0 ||
	    (dlen = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	b64 = b64_encode_lines(der, (size_t)dlen, len);
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return b64;
}

/* The pool: one key per CSR for P-256; RSA keys are slow to make, so at
 * most 32 of them are shared round-robin by the RSA CSRs. */
static int
csr_pool(struct bench *b)
{
	long i, nkeys = b->o.rsa ? (b->o.pool < 32 ? b->o.pool : 32) : 1;
	EVP_PKEY **keys = calloc((size_t)nkeys, sizeof(*keys));
	int rc = -1;

	b->csrs = calloc((size_t)b->o.pool, sizeof(char *));
	b->csr_len = calloc((size_t)b->o.pool, sizeof(size_t));
	if (keys == NULL || b->csrs == NULL || b->csr_len == NULL)
		goto out;
	for (i = 0; i < b->o.pool; i++) {
		EVP_PKEY *k;

		if (b->o.rsa) {
			if (keys[i % nkeys] == NULL &&
			    (keys[i % nkeys] = EVP_RSA_gen(2048)) == NULL)
				goto out;
			k = keys[i % nkeys];
		} else {
			EVP_PKEY_free(keys[0]);
			if ((keys[0] = EVP_EC_gen("P-256")) == NULL)
				goto out;
			k = keys[0];
		}
		if ((b->csrs[i] = csr_make(k, i, &b->csr_len[i])) == NULL)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
	return rc;
}

static SSL_CTX *
tls_ctx(const struct bench_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (o->tls_version != 0 &&
	    (SSL_CTX_set_min_proto_version(ctx, o->tls_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, o->tls_version) != 1))
		goto fail;
	if (o->insecure)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if ((o->cafile != NULL ?
		    SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) :
		    SSL_CTX_set_default_verify_paths(ctx)) != 1) {
			fprintf(stderr, "estbench: %s: cannot load trust anchors\n",
			    o->cafile ? o->cafile : "default paths");
			goto fail;
		}
	}
	if (o->cert_file != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)) {
		fprintf(stderr, "estbench: %s, %s: cannot use the client certificate\n",
		    o->cert_file, o->key_file);
		goto fail;
	}
	return ctx;
fail:
	ERR_print_errors_fp(stderr);
	SSL_CTX_free(ctx);
	return NULL;
}

static int
resolve(struct bench *b)
{
	struct addrinfo hints, *res = NULL;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(b->o.host, b->o.port, &hints, &res)) != 0) {
		fprintf(stderr, "estbench: %s:%s: %s\n", b->o.host, b->o.port,
		    gai_strerror(e));
		return -1;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
basic_header(struct bench *b)
{
	size_t ul = strlen(b->o.user), pl = strlen(b->o.pass), n = ul + pl + 1;
	unsigned char *raw = malloc(n + 1);

	b->basic_hdr = malloc(6 + 4 * (n / 3 + 1) + 1);
	if (raw == NULL || b->basic_hdr == NULL) {
		free(raw);
		return -1;
	}
	snprintf((char *)raw, n + 1, "%s:%s", b->o.user, b->o.pass);
	memcpy(b->basic_hdr, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)b->basic_hdr + 6, raw, (int)n);
	OPENSSL_clear_free(raw, n + 1);
	return 0;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	int i;

	(void)fd;
	(void)what;
	b->stopping = 1;
	/* -t: waits are abandoned, attempts in flight end as they will;
	 * --ramp-deadline: whoever is not done has failed. */
	for (i = 0; i < b->ncl; i++)
		if (b->o.ramp >= 0)
			bclient_give_up(&b->cl[i]);
		else
			bclient_abandon(&b->cl[i]);
	bench_check_end(b);
}

/* RLIMIT_NOFILE >= want, raising the hard limit too if allowed, else
 * to the hard limit, and saying so: clients past it fail to connect. */
static void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		fprintf(stderr, "estbench: RLIMIT_NOFILE capped at %lu, %lu "
		    "wanted: connections past it fail (connect)\n",
		    (unsigned long)rl.rlim_cur, (unsigned long)want);
	}
}

static int
run_idle(struct bench *b)
{
	struct proc_sample before, after;
	long i, up;

	raise_nofile((rlim_t)b->o.idle + 100);
	proc_read(b->o.pid, &before);
	b->t_start = bench_now();
	for (i = 0; i < b->o.clients && i < b->o.idle; i++)
		bclient_next(&b->cl[0]);	/* opens cl[idle_next] */
	event_base_dispatch(b->base);
	b->t_end = bench_now();
	usleep(200000);		/* let the server settle its last accepts */
	proc_read(b->o.pid, &after);
	for (i = 0, up = 0; i < b->ncl; i++)
		up += b->cl[i].bev != NULL;
	printf("idle: requested=%ld up=%ld failed=%ld open_s=%.3f\n",
	    b->o.idle, up, b->st.errs, b->t_end - b->t_start);
	if (before.ok && after.ok)
		printf("server: pid=%ld vmrss_before_kib=%ld vmrss_after_kib=%ld "
		    "vmhwm_kib=%ld per_conn_kib=%.2f\n", (long)b->o.pid,
		    before.rss_kib, after.rss_kib, after.hwm_kib,
		    up ? (double)(after.rss_kib - before.rss_kib) / (double)up : 0);
	else if (b->o.pid > 0)
		printf("server: pid=%ld not readable\n", (long)b->o.pid);
	stats_report(b, NULL, NULL);
	return up == b->o.idle ? 0 : 1;
}

static int
run_load(struct bench *b)
{
	struct proc_sample before, after;
	struct timeval tv;
	int i;

	raise_nofile((rlim_t)b->o.clients + 100);
	if (b->o.duration > 0) {
		tv.tv_sec = (time_t)b->o.duration;
		tv.tv_usec = (suseconds_t)((b->o.duration - (double)tv.tv_sec) * 1e6);
		b->deadline = evtimer_new(b->base, on_deadline, b);
		if (b->deadline == NULL)
			return 1;
		evtimer_add(b->deadline, &tv);
	}
	proc_read(b->o.pid, &before);
	b->t_start = bench_now();
	for (i = 0; i < b->ncl; i++)
		bclient_next(&b->cl[i]);
	event_base_dispatch(b->base);
	b->t_end = bench_now();
	proc_read(b->o.pid, &after);
	stats_report(b, &before, &after);
	return b->st.errs == 0 && b->st.ok > 0 ? 0 : 1;
}

/* A storm: client i arrives at i * ramp / clients seconds, on its own
 * timer; the run ends when the last one is done, or at the deadline. */
static int
run_ramp(struct bench *b)
{
	struct proc_sample before, after;
	struct timeval tv;
	int i;

	raise_nofile((rlim_t)b->o.clients + 100);
	tv.tv_sec = (time_t)b->o.ramp_deadline;
	tv.tv_usec = (suseconds_t)((b->o.ramp_deadline - (double)tv.tv_sec) *
	    1e6);
	if ((b->deadline = evtimer_new(b->base, on_deadline, b)) == NULL ||
	    evtimer_add(b->deadline, &tv) == -1)
		return 1;
	proc_read(b->o.pid, &before);
	b->t_start = bench_now();
	for (i = 0; i < b->ncl; i++)
		if (bclient_arrive(&b->cl[i], (double)i * b->o.ramp /
		    (double)b->ncl) == -1)
			return 1;
	event_base_dispatch(b->base);
	b->t_end = bench_now();
	proc_read(b->o.pid, &after);
	stats_report_ramp(b, &before, &after);
	return b->st.errs == 0 ? 0 : 1;
}

static void
bench_free(struct bench *b)
{
	long i;

	for (i = 0; b->cl != NULL && i < b->ncl; i++) {
		bclient_close(&b->cl[i]);
		SSL_SESSION_free(b->cl[i].session);
		if (b->cl[i].timer != NULL)
			event_free(b->cl[i].timer);
	}
	free(b->cl);
	for (i = 0; b->csrs != NULL && i < b->o.pool; i++)
		free(b->csrs[i]);
	free(b->csrs);
	free(b->csr_len);
	if (b->basic_hdr != NULL)
		OPENSSL_clear_free(b->basic_hdr, strlen(b->basic_hdr));
	if (b->deadline != NULL)
		event_free(b->deadline);
	if (b->base != NULL)
		event_base_free(b->base);
	SSL_CTX_free(b->ctx);
	stats_free(&b->st);
}

int
main(int argc, char **argv)
{
	struct bench b;
	double t;
	int i, rc = 1;

	memset(&b, 0, sizeof(b));
	parse_opts(&b.o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	b.ncl = b.o.mode == MODE_IDLE ? (int)b.o.idle : b.o.clients;
	if ((b.cl = calloc((size_t)b.ncl, sizeof(*b.cl))) == NULL ||
	    (b.base = event_base_new()) == NULL ||
	    (b.ctx = tls_ctx(&b.o)) == NULL || resolve(&b) == -1 ||
	    (b.o.auth == AUTH_BASIC && basic_header(&b) == -1))
		goto out;
	for (i = 0; i < b.ncl; i++)
		if (bclient_init(&b.cl[i], &b, i) == -1)
			goto out;
	if (b.o.mode == MODE_ENROLL) {
		t = bench_now();
		if (csr_pool(&b) == -1) {
			fprintf(stderr, "estbench: cannot make the CSRs\n");
			ERR_print_errors_fp(stderr);
			goto out;
		}
		fprintf(stderr, "estbench: %ld %s CSRs in %.2f s\n", b.o.pool,
		    b.o.rsa ? "RSA-2048" : "P-256", bench_now() - t);
	}
	printf("estbench: mode=%s url=%s clients=%d", b.o.ramp >= 0 ? "ramp" :
	    b.o.mode == MODE_ENROLL ? "enroll" : b.o.mode == MODE_HANDSHAKE ?
	    "handshake" : "idle", b.o.url, b.o.clients);
	if (b.o.ramp >= 0)
		printf(" ramp_s=%g", b.o.ramp);
	if (b.o.total > 0)
		printf(" n=%ld", b.o.total);
	if (b.o.duration > 0)
		printf(" t=%g", b.o.duration);
	printf(" keepalive=%d resume=%d retry_after=%d\n", b.o.keepalive,
	    b.o.resume, b.o.retry_after);
	rc = b.o.mode == MODE_IDLE ? run_idle(&b) : b.o.ramp >= 0 ?
	    run_ramp(&b) : run_load(&b);
out:
	bench_free(&b);
	return rc;
}
