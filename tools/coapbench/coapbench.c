/*
 * coapbench: load generator for EST over CoAP (RFC 9148), estbench's twin
 * for coaps://. One process on libcoap's client API: CLIENTS DTLS sessions
 * at once, each POSTing a DER CSR (Content-Format 286, RFC 9148 §4.1) to
 * /sen again and again, on its one kept session (default) or on a fresh
 * session per enrollment (--fresh: a DTLS handshake each). Reports rate,
 * latency percentiles and errors by code; its last line is estbench's
 * machine line (rate= p50_ms= p90_ms= p99_ms= errors=), so that the bench
 * scripts read both alike.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <coap3/coap.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bench_url.h"

#define MAX_CODES 32	/* distinct error kinds counted */
#define BIND_TRIES 8	/* new sessions tried for a source port of its own */

struct opts {
	int clients;
	long n;			/* 0: no limit */
	double seconds;		/* 0: no limit */
	double timeout;
	long pool;
	int fresh;
	const char *cafile, *cert, *key;
	struct bench_url url;	/* path: the EST base, e.g. /.well-known/est/label */
};

struct client;

struct bench {
	struct opts o;
	coap_context_t *ctx;
	coap_address_t server;
	int loopback4;		/* the server is 127.x: a source address each */
	struct client *cl;
	unsigned char **csr;
	size_t *csr_len;
	long started, done, ok, errs, abandoned, sessions;
	double t_start, t_end;
	double *lat;		/* the ms of each success */
	struct { char kind[16]; long n; } code[MAX_CODES];
	int ncodes;
};

struct client {
	struct bench *b;
	int idx;
	coap_session_t *session;
	uint8_t token[8];
	size_t token_len;
	int busy;		/* a request is out */
	int again;		/* its answer came: start the next */
	int broken;		/* its session failed: make a new one */
	double t0;
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: coapbench [options] coaps://host:port/.well-known/est[/label]\n"
	    "  -c N            concurrent clients, a DTLS session each (default 1)\n"
	    "  -n M            M enrollments in total (with -t: whichever first)\n"
	    "  -t T            run for T seconds (default 10 without -n)\n"
	    "  --cafile FILE   trust anchors for the server (required)\n"
	    "  --cert FILE --key FILE  the DTLS client certificate (PEM; required)\n"
	    "  --fresh         a new DTLS session (handshake) per enrollment;\n"
	    "                  default: each client keeps its session\n"
	    "  --timeout S     per-enrollment timeout (default 30)\n"
	    "  --csrs K        CSR pool size (default -n, else 1000)\n"
	    "Against a 127.x server, client i sends from 127.0.0.(2 + i %% 250).\n"
	    "Exit status: 0 if nothing failed and something succeeded; 1\n"
	    "otherwise; 2 usage.\n");
	exit(2);
}

static void
parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cafile", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "fresh", no_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "csrs", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	o->clients = 1;
	o->timeout = 30;
	while ((c = getopt_long(argc, argv, "c:n:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->clients = atoi(optarg); break;
		case 'n': o->n = atol(optarg); break;
		case 't': o->seconds = atof(optarg); break;
		case 'A': o->cafile = optarg; break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'F': o->fresh = 1; break;
		case 'T': o->timeout = atof(optarg); break;
		case 'P': o->pool = atol(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || bench_url_parse(&o->url, argv[optind], "coaps",
	    "5684" /* RFC 7252 §6.2 */) != 0 ||
	    o->clients < 1 || o->clients > 10000 || o->n < 0 ||
	    o->seconds < 0 || o->timeout <= 0 || o->pool < 0 ||
	    o->cafile == NULL || o->cert == NULL || o->key == NULL)
		usage();
	if (o->n == 0 && o->seconds == 0)
		o->seconds = 10;
	if (o->pool == 0)
		o->pool = o->n > 0 && o->n < 1000 ? o->n : 1000;
}

/* ------------------------------------------------------------ CSRs */

/* One CSR, CN=estbench-<n> (the name the bench policies allow), DER,
 * signed with a P-256 key of its own: estrad sees as many distinct
 * requests as estbench sends. */
static unsigned char *
csr_make(long n, size_t *len)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL, *out = NULL;
	char cn[64];
	int dlen = 0;

	snprintf(cn, sizeof(cn), "estbench-%ld", n);
	if (pkey != NULL && req != NULL && name != NULL &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (unsigned char *)cn, -1, -1, 0) == 1 &&
	    X509_REQ_set_subject_name(req, name) == 1 &&
	    X509_REQ_set_pubkey(req, pkey) == 1 &&
	    X509_REQ_sign(req, pkey, EVP_sha256()) > 0 &&
	    (dlen = i2d_X509_REQ(req, &der)) > 0 &&
	    (out = malloc((size_t)dlen)) != NULL) {
		memcpy(out, der, (size_t)dlen);
		*len = (size_t)dlen;
	}
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pkey);
	return out;
}

static int
csr_pool(struct bench *b)
{
	long i;

	b->csr = calloc((size_t)b->o.pool, sizeof(*b->csr));
	b->csr_len = calloc((size_t)b->o.pool, sizeof(*b->csr_len));
	if (b->csr == NULL || b->csr_len == NULL)
		return -1;
	for (i = 0; i < b->o.pool; i++)
		if ((b->csr[i] = csr_make(i, &b->csr_len[i])) == NULL)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ counting */

static void
count_error(struct bench *b, const char *kind)
{
	int i;

	b->errs++;
	for (i = 0; i < b->ncodes; i++)
		if (strcmp(b->code[i].kind, kind) == 0)
			break;
	if (i == b->ncodes) {
		if (b->ncodes == MAX_CODES)
			i = MAX_CODES - 1;	/* the last bucket takes the rest */
		else
			snprintf(b->code[b->ncodes++].kind,
			    sizeof(b->code[0].kind), "%s", kind);
	}
	b->code[i].n++;
}

/* The request of client c is over (answer, error or timeout). */
static void
finish(struct client *c, const char *err)
{
	struct bench *b = c->b;

	if (!c->busy)
		return;
	c->busy = 0;
	c->again = 1;
	b->done++;
	if (err == NULL)
		b->lat[b->ok++] = (now() - c->t0) * 1000;
	else
		count_error(b, err);
}

static struct client *
client_of(coap_session_t *s)
{
	return coap_session_get_app_data(s);
}

static coap_response_t
on_response(coap_session_t *s, const coap_pdu_t *sent,
    const coap_pdu_t *recv, const coap_mid_t mid)
{
	struct client *c = client_of(s);
	coap_pdu_code_t code = coap_pdu_get_code(recv);
	coap_bin_const_t tok = coap_pdu_get_token(recv);
	char kind[16];

	(void)sent;
	(void)mid;
	if (c == NULL || !c->busy || tok.length != c->token_len ||
	    memcmp(tok.s, c->token, tok.length) != 0)
		return COAP_RESPONSE_OK;	/* not the one it waits for */
	if (code == COAP_RESPONSE_CODE_CHANGED) {
		finish(c, NULL);
		return COAP_RESPONSE_OK;
	}
	snprintf(kind, sizeof(kind), "%d.%02d", (int)code >> 5,
	    (int)code & 0x1f);
	finish(c, kind);
	return COAP_RESPONSE_OK;
}

static void
on_nack(coap_session_t *s, const coap_pdu_t *sent,
    const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct client *c = client_of(s);
	static const char *const why[] = {
		"too_many_retries", "not_deliverable", "rst", "tls_failed",
		"icmp", "bad_response", "tls_layer", "ws_layer", "ws_failed"
	};

	(void)sent;
	(void)mid;
	if (c == NULL)
		return;
	c->broken = 1;
	finish(c, (size_t)reason < sizeof(why) / sizeof(why[0]) ?
	    why[reason] : "nack");
}

static int
on_event(coap_session_t *s, const coap_event_t ev)
{
	struct client *c = client_of(s);

	if (c == NULL)
		return 0;
	if (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED ||
	    ev == COAP_EVENT_SESSION_FAILED) {
		c->broken = 1;
		finish(c, ev == COAP_EVENT_DTLS_ERROR ? "dtls_error" :
		    "session_closed");
	}
	return 0;
}

/* ------------------------------------------------------------ sessions */

/* Another live session already has s's source address and port. libcoap
 * sets SO_REUSEADDR before it binds port 0, so the kernel may hand one
 * port out twice, and then the answers for one reach the other. */
static int
port_taken(const struct bench *b, const coap_session_t *s)
{
	const coap_address_t *a = coap_session_get_addr_local(s);
	int i;

	for (i = 0; i < b->o.clients; i++) {
		const coap_session_t *o = b->cl[i].session;

		if (o != NULL && o != s &&
		    coap_address_equals(a, coap_session_get_addr_local(o)))
			return 1;
	}
	return 0;
}

static coap_session_t *
session_new(struct client *c)
{
	struct bench *b = c->b;
	coap_dtls_pki_t pki;
	coap_address_t local, *lp = NULL;
	coap_session_t *s;
	int t;

	memset(&pki, 0, sizeof(pki));
	pki.version = COAP_DTLS_PKI_SETUP_VERSION;
	pki.verify_peer_cert = 1;
	pki.check_common_ca = 1;
	pki.cert_chain_validation = 1;
	pki.cert_chain_verify_depth = 4;
	pki.pki_key.key_type = COAP_PKI_KEY_PEM;
	pki.pki_key.key.pem.ca_file = b->o.cafile;
	pki.pki_key.key.pem.public_cert = b->o.cert;
	pki.pki_key.key.pem.private_key = b->o.key;
	if (b->loopback4) {
		/* A source address per client, as devices have. */
		coap_address_init(&local);
		local.size = sizeof(struct sockaddr_in);
		local.addr.sin.sin_family = AF_INET;
		local.addr.sin.sin_addr.s_addr =
		    htonl(0x7f000002u + (uint32_t)(c->idx % 250));
		lp = &local;
	}
	for (t = 0; t < BIND_TRIES; t++) {
		s = coap_new_client_session_pki(b->ctx, lp, &b->server,
		    COAP_PROTO_DTLS, &pki);
		if (s == NULL)
			return NULL;
		if (!port_taken(b, s))
			break;
		coap_session_release(s);
		s = NULL;
	}
	if (s != NULL) {
		coap_session_set_app_data(s, c);
		b->sessions++;
	}
	return s;
}

/* Uri-Path options (RFC 7252 §6.4) from b->o.url.path, then /sen. */
static int
add_path(coap_pdu_t *pdu, const char *path)
{
	const char *p = path, *e;

	while (*p == '/')
		p++;
	while (*p) {
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		if (e > p && coap_add_option(pdu, COAP_OPTION_URI_PATH,
		    (size_t)(e - p), (const uint8_t *)p) == 0)
			return -1;
		p = *e ? e + 1 : e;
	}
	return coap_add_option(pdu, COAP_OPTION_URI_PATH, 3,
	    (const uint8_t *)"sen") == 0 ? -1 : 0;
}

/* Send client c's next enrollment: POST /sen, a DER CSR, Content-Format
 * 286 (RFC 9148 §4.1). */
static int
send_enroll(struct client *c)
{
	struct bench *b = c->b;
	long i = b->started % b->o.pool;
	uint8_t cf[4];
	coap_pdu_t *pdu;

	pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
	    coap_new_message_id(c->session),
	    coap_session_max_pdu_size(c->session));
	if (pdu == NULL)
		return -1;
	coap_session_new_token(c->session, &c->token_len, c->token);
	if (coap_add_token(pdu, c->token_len, c->token) == 0 ||
	    add_path(pdu, b->o.url.path) != 0 ||
	    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
	    coap_encode_var_safe(cf, sizeof(cf), 286), cf) == 0 ||
	    coap_add_data_large_request(c->session, pdu, b->csr_len[i],
	    b->csr[i], NULL, NULL) == 0) {
		coap_delete_pdu(pdu);
		return -1;
	}
	c->busy = 1;
	c->again = 0;
	c->t0 = now();
	b->started++;
	if (coap_send(c->session, pdu) == COAP_INVALID_MID) {
		finish(c, "send");
		return -1;
	}
	return 0;
}

static void
session_drop(struct client *c)
{
	if (c->session != NULL) {
		coap_session_set_app_data(c->session, NULL);
		coap_session_release(c->session);
		c->session = NULL;
	}
}

/* Start client c's next enrollment if the run is not over; a new session
 * with --fresh or when the last one failed. */
static void
client_next(struct client *c)
{
	struct bench *b = c->b;

	c->again = 0;
	if ((b->o.n > 0 && b->started >= b->o.n) || stop)
		return;
	if (b->o.fresh || c->broken)
		session_drop(c);
	c->broken = 0;
	if (c->session == NULL && (c->session = session_new(c)) == NULL) {
		b->started++;
		b->done++;
		count_error(b, "session_new");
		return;
	}
	if (send_enroll(c) != 0)
		session_drop(c);
}

/* ------------------------------------------------------------ run */

static int
resolve(struct bench *b)
{
	struct addrinfo hints, *ai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(b->o.url.host, b->o.url.port, &hints, &ai) != 0)
		return -1;
	coap_address_init(&b->server);
	b->server.size = ai->ai_addrlen;
	memcpy(&b->server.addr.sa, ai->ai_addr, ai->ai_addrlen);
	b->loopback4 = ai->ai_family == AF_INET &&
	    (ntohl(b->server.addr.sin.sin_addr.s_addr) >> 24) == 127;
	freeaddrinfo(ai);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
pct(const double *v, long n, int p)
{
	long i;

	if (n == 0)
		return 0;
	i = (n * p + 99) / 100 - 1;	/* nearest rank */
	return v[i < 0 ? 0 : i];
}

static void
report(struct bench *b)
{
	double el = b->t_end - b->t_start;
	double rate = el > 0 ? (double)b->ok / el : 0;
	double p50, p90, p99, max;
	int i;

	qsort(b->lat, (size_t)b->ok, sizeof(double), cmp_double);
	p50 = pct(b->lat, b->ok, 50);
	p90 = pct(b->lat, b->ok, 90);
	p99 = pct(b->lat, b->ok, 99);
	max = b->ok ? b->lat[b->ok - 1] : 0;
	printf("done: ok=%ld errors=%ld abandoned=%ld elapsed_s=%.3f "
	    "clients=%d\n", b->ok, b->errs, b->abandoned, el, b->o.clients);
	printf("latency_ms: p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
	    p50, p90, p99, max);
	printf("dtls: sessions=%ld (%s)\n", b->sessions,
	    b->o.fresh ? "a new one per enrollment" : "kept");
	if (b->ncodes > 0) {
		printf("errors:");
		for (i = 0; i < b->ncodes; i++)
			printf(" %s=%ld", b->code[i].kind, b->code[i].n);
		printf("\n");
	}
	printf("rate=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f errors=%ld "
	    "abandoned=%ld\n", rate, p50, p90, p99, b->errs, b->abandoned);
	fflush(stdout);
}

/* One pass over the clients: answers in, timeouts out, next requests. */
static void
clients_step(struct bench *b, double t)
{
	int i;

	for (i = 0; i < b->o.clients; i++) {
		struct client *c = &b->cl[i];

		if (c->busy && t - c->t0 > b->o.timeout) {
			finish(c, "timeout");
			c->broken = 1;
		}
		if (c->again)
			client_next(c);
	}
}

static int
run(struct bench *b)
{
	long cap = b->o.n > 0 ? b->o.n : 1L << 20;
	double t;
	int i;

	if ((b->lat = calloc((size_t)cap, sizeof(double))) == NULL ||
	    (b->cl = calloc((size_t)b->o.clients, sizeof(*b->cl))) == NULL)
		return -1;
	b->t_start = now();
	for (i = 0; i < b->o.clients; i++) {
		b->cl[i].b = b;
		b->cl[i].idx = i;
		client_next(&b->cl[i]);
	}
	for (;;) {
		t = now();
		if (stop || (b->o.seconds > 0 && t - b->t_start >= b->o.seconds))
			break;
		if (b->o.n > 0 && b->done >= b->o.n)
			break;
		if (b->ok >= cap)
			break;
		coap_io_process(b->ctx, 50);
		clients_step(b, now());
	}
	b->t_end = now();
	for (i = 0; i < b->o.clients; i++) {
		if (b->cl[i].busy)
			b->abandoned++;
		b->cl[i].busy = 0;
		session_drop(&b->cl[i]);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench b;
	long i;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	parse_opts(&b.o, argc, argv);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	coap_startup();
	coap_set_log_level(LOG_CRIT);
	coap_dtls_set_log_level(LOG_CRIT);
	if (resolve(&b) != 0) {
		fprintf(stderr, "coapbench: cannot resolve %s\n", b.o.url.host);
		goto out;
	}
	if (csr_pool(&b) != 0) {
		fprintf(stderr, "coapbench: cannot make the CSRs\n");
		goto out;
	}
	if ((b.ctx = coap_new_context(NULL)) == NULL) {
		fprintf(stderr, "coapbench: no libcoap context\n");
		goto out;
	}
	/* libcoap does Block1/Block2 and separate responses (the empty ACK,
	 * then the CON answer, RFC 7252 §5.2.2) and hands over one body. */
	coap_context_set_block_mode(b.ctx,
	    COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
	coap_register_response_handler(b.ctx, on_response);
	coap_register_nack_handler(b.ctx, on_nack);
	coap_register_event_handler(b.ctx, on_event);
	if (run(&b) != 0) {
		fprintf(stderr, "coapbench: out of memory\n");
		goto out;
	}
	report(&b);
	rc = b.errs == 0 && b.ok > 0 ? 0 : 1;
out:
	if (b.ctx != NULL)
		coap_free_context(b.ctx);
	coap_cleanup();
	for (i = 0; b.csr != NULL && i < b.o.pool; i++)
		free(b.csr[i]);
	free(b.csr);
	free(b.csr_len);
	free(b.lat);
	free(b.cl);
	return rc;
}
