/*
 * weak_ca: an EST CA that collapses under a storm, for the tests and the
 * benchmark of issue 16 ("Shield the CA").
 *
 * It models the most common architecture of a weak CA: an I/O front end
 * that terminates TLS and reads HTTP (a thread per connection, up to
 * --max-connections) in front of an application with K workers and a
 * request timeout (nginx with proxy_read_timeout in front of a K-worker
 * uwsgi or EJBCA). The front waits for the application at most
 * --timeout-ms from the moment a request is fully read, then answers 504
 * and goes on; the application still does the work when the request's
 * turn comes (weak_ca_app.c). Once the offered load passes K/S per second
 * the queue grows, every request waits past T and the CA spends all its
 * time on requests nobody waits for: goodput falls to about zero, as
 * libest's example server (5 workers) does with 64 direct clients.
 *
 *   weak_ca --listen 127.0.0.1:0 --cert SERVER.pem --key SERVER.key
 *           --ca-cert CA.pem --ca-key CA.key [--client-ca ROOTS.pem]
 *           [--workers K] [--service-ms S] [--timeout-ms T]
 *           [--control 127.0.0.1:0] [--max-connections N] [--idle-ms I]
 *
 * EST routes (RFC 7030 §3.2.2), with or without a label: GET cacerts
 * (answered by the front, no worker slot), POST simpleenroll and
 * simplereenroll (through a slot). No HTTP auth; with --client-ca a client
 * certificate is requested and, when sent, must verify. The control
 * listener (plain HTTP, loopback only) answers GET /stats, /set?k=&
 * service_ms=&timeout_ms= and /reset; tests/integration/README.md lists
 * the fields.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "weak_ca.h"

#define WCA_HDR_MAX	8192	/* request line and headers */
#define WCA_BODY_MAX	65536	/* a CSR body */
#define WCA_CTL_MAX	4096	/* a control request */
#define WCA_STACK	(512 * 1024)

/* One TLS connection, owned by its thread. */
struct wca_conn {
	struct wca	*cn_wa;
	int		 cn_fd;
	SSL		*cn_ssl;
	size_t		 cn_len;	/* bytes in cn_buf */
	char		 cn_buf[WCA_HDR_MAX + 4 + WCA_BODY_MAX];	/* + CRLFCRLF */
};

/* One parsed request (pointers into cn_buf). */
struct wca_http {
	const char	*hp_method;
	char		*hp_target;
	size_t		 hp_hdr_len;	/* through the blank line */
	long		 hp_clen;	/* -1: no Content-Length */
	int		 hp_te;		/* Transfer-Encoding present */
	int		 hp_close;
	int		 hp_expect;	/* Expect: 100-continue */
};

/* The front's settings, from the command line. */
struct wca_opts {
	const char	*op_listen, *op_control, *op_cert, *op_key;
	const char	*op_ca_cert, *op_ca_key, *op_client_ca;
};

static SSL_CTX	*wca_tls;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "weak_ca: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* ------------------------------------------------------------ answers */

static const char *
wca_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 504: return "Gateway Timeout";
	default: return "Internal Server Error";
	}
}

/* Writes one whole answer: the status line, the headers, the body (one
 * buffer, one write). A text/plain body unless pkcs7. 0 if it failed. */
static int
wca_respond(struct wca_conn *cn, int status, int pkcs7, const char *body,
    size_t len, int close)
{
	char hdr[512], *msg;
	int h, ok;

	h = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n%s"
	    "Content-Length: %zu\r\n%s\r\n", status, wca_reason(status),
	    pkcs7 ? "application/pkcs7-mime; smime-type=certs-only" :
	    "text/plain", pkcs7 ? "Content-Transfer-Encoding: base64\r\n" : "",
	    len, close ? "Connection: close\r\n" : "");
	if ((msg = malloc((size_t)h + len)) == NULL)
		return 0;
	memcpy(msg, hdr, (size_t)h);
	memcpy(msg + h, body, len);
	ok = SSL_write(cn->cn_ssl, msg, h + (int)len) == h + (int)len;
	free(msg);
	return ok;
}

/* A one-line text/plain answer; returns 0 (close) when close is set. */
static int
wca_fail(struct wca_conn *cn, int status, const char *reason, int close)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s\n", reason);

	return wca_respond(cn, status, 0, line, (size_t)n, close) && !close;
}

/* ------------------------------------------------------------ EST */

/* POST simpleenroll/simplereenroll: through a worker slot, at most
 * timeout_ms; at the deadline 504, and the application goes on. */
static int
wca_enroll(struct wca_conn *cn, const char *body, size_t len, int close)
{
	struct wca *wa = cn->cn_wa;
	struct wca_job *jb;
	char line[128];
	int ok, timeout_ms;

	if ((jb = wca_job_new(body, len)) == NULL)
		return wca_fail(cn, 500, "out of memory", 1);
	wca_submit(wa, jb);
	if (wca_wait(wa, jb, &timeout_ms) == 0) {
		ok = wca_respond(cn, jb->jb_status, jb->jb_status == 200,
		    jb->jb_body, jb->jb_body_len, close) && !close;
	} else {
		snprintf(line, sizeof(line), "the CA did not answer within "
		    "%d ms", timeout_ms);
		ok = wca_fail(cn, 504, line, close);
	}
	wca_job_put(wa, jb);
	return ok;
}

/* /.well-known/est[/label]/op (RFC 7030 §3.2.2): the operation, or NULL. */
static const char *
wca_route(char *target)
{
	static const char prefix[] = "/.well-known/est/";
	char *op, *slash;

	target[strcspn(target, "?")] = '\0';
	if (strncmp(target, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	op = target + sizeof(prefix) - 1;
	if ((slash = strchr(op, '/')) != NULL) {
		if (slash == op)
			return NULL;	/* an empty label */
		op = slash + 1;
	}
	return strchr(op, '/') == NULL ? op : NULL;
}

static int
wca_dispatch(struct wca_conn *cn, struct wca_http *hp)
{
	const char *op = wca_route(hp->hp_target);
	const char *body = cn->cn_buf + hp->hp_hdr_len;
	int get = strcmp(hp->hp_method, "GET") == 0;
	int post = strcmp(hp->hp_method, "POST") == 0;

	if (op == NULL)
		return wca_fail(cn, 404, "no such EST resource", hp->hp_close);
	if (strcmp(op, "cacerts") == 0) {
		if (!get)
			return wca_fail(cn, 405, "cacerts takes GET",
			    hp->hp_close);
		wca_count(cn->cn_wa, &cn->cn_wa->wa_c.cacerts);
		return wca_respond(cn, 200, 1, cn->cn_wa->wa_cacerts,
		    cn->cn_wa->wa_cacerts_len, hp->hp_close) && !hp->hp_close;
	}
	if (strcmp(op, "simpleenroll") == 0 ||
	    strcmp(op, "simplereenroll") == 0) {
		if (!post)
			return wca_fail(cn, 405, "enrollment takes POST",
			    hp->hp_close);
		return wca_enroll(cn, body, (size_t)hp->hp_clen, hp->hp_close);
	}
	return wca_fail(cn, 404, "no such EST operation", hp->hp_close);
}

/* ------------------------------------------------------------ HTTP */

/* Reads more bytes into cn_buf; 0 at EOF, error or the idle timeout. */
static int
wca_fill(struct wca_conn *cn)
{
	int n;

	if (cn->cn_len >= sizeof(cn->cn_buf))
		return 0;
	n = SSL_read(cn->cn_ssl, cn->cn_buf + cn->cn_len,
	    (int)(sizeof(cn->cn_buf) - cn->cn_len));
	if (n <= 0)
		return 0;
	cn->cn_len += (size_t)n;
	return 1;
}

/* Parses the request line and headers (NUL-terminated in place). 0 if
 * malformed. */
static int
wca_parse(char *hdr, struct wca_http *hp)
{
	char *line, *next, *val, *version;
	char *end;

	memset(hp, 0, sizeof(*hp));
	hp->hp_clen = -1;
	line = strtok_r(hdr, "\r\n", &next);
	if (line == NULL || (hp->hp_method = strtok_r(line, " ", &val)) ==
	    NULL || (hp->hp_target = strtok_r(NULL, " ", &val)) == NULL ||
	    (version = strtok_r(NULL, " ", &val)) == NULL ||
	    strtok_r(NULL, " ", &val) != NULL)
		return 0;
	if (strcmp(version, "HTTP/1.0") == 0)
		hp->hp_close = 1;
	else if (strcmp(version, "HTTP/1.1") != 0)
		return 0;
	while ((line = strtok_r(NULL, "\r\n", &next)) != NULL) {
		if ((val = strchr(line, ':')) == NULL)
			return 0;
		*val++ = '\0';
		val += strspn(val, " \t");
		if (strcasecmp(line, "Content-Length") == 0) {
			errno = 0;
			if (hp->hp_clen >= 0 || *val < '0' || *val > '9' ||
			    (hp->hp_clen = strtol(val, &end, 10)) < 0 ||
			    errno != 0 || *(end + strspn(end, " \t")) != '\0')
				return 0;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			hp->hp_te = 1;
		} else if (strcasecmp(line, "Connection") == 0) {
			if (strcasestr(val, "close") != NULL)
				hp->hp_close = 1;
			else if (strcasestr(val, "keep-alive") != NULL)
				hp->hp_close = 0;
		} else if (strcasecmp(line, "Expect") == 0) {
			hp->hp_expect = strcasecmp(val, "100-continue") == 0;
		}
	}
	return 1;
}

/* Reads and answers one request. 1: the connection goes on; 0: close. */
static int
wca_serve_one(struct wca_conn *cn)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct wca_http hp;
	char *end;
	size_t total;
	int ok;

	while ((end = memmem(cn->cn_buf, cn->cn_len, "\r\n\r\n", 4)) ==
	    NULL) {
		if (cn->cn_len >= WCA_HDR_MAX)
			return wca_fail(cn, 431, "request head too large", 1);
		if (!wca_fill(cn))
			return 0;
	}
	*end = '\0';
	if (end - cn->cn_buf >= WCA_HDR_MAX)
		return wca_fail(cn, 431, "request head too large", 1);
	if (!wca_parse(cn->cn_buf, &hp))
		return wca_fail(cn, 400, "malformed request head", 1);
	hp.hp_hdr_len = (size_t)(end - cn->cn_buf) + 4;
	if (hp.hp_te)
		return wca_fail(cn, 411, "chunked bodies are not supported: "
		    "send Content-Length", 1);
	if (hp.hp_clen < 0) {
		if (strcmp(hp.hp_method, "POST") == 0)
			return wca_fail(cn, 411, "POST needs Content-Length",
			    1);
		hp.hp_clen = 0;
	}
	if (hp.hp_clen > WCA_BODY_MAX)
		return wca_fail(cn, 413, "body larger than 65536 bytes", 1);
	total = hp.hp_hdr_len + (size_t)hp.hp_clen;
	if (hp.hp_expect && cn->cn_len < total &&
	    SSL_write(cn->cn_ssl, cont, sizeof(cont) - 1) <= 0)
		return 0;
	while (cn->cn_len < total)
		if (!wca_fill(cn))
			return 0;
	ok = wca_dispatch(cn, &hp);
	memmove(cn->cn_buf, cn->cn_buf + total, cn->cn_len - total);
	cn->cn_len -= total;
	return ok;
}

/* One connection's thread: handshake, then requests until close, the idle
 * timeout (SO_RCVTIMEO) or an error. */
static void *
wca_conn_main(void *arg)
{
	struct wca_conn *cn = arg;
	struct wca *wa = cn->cn_wa;
	struct timeval tv;
	int one = 1;

	tv.tv_sec = wa->wa_idle_ms / 1000;
	tv.tv_usec = (wa->wa_idle_ms % 1000) * 1000;
	(void)setsockopt(cn->cn_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(cn->cn_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(cn->cn_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	if ((cn->cn_ssl = SSL_new(wca_tls)) != NULL &&
	    SSL_set_fd(cn->cn_ssl, cn->cn_fd) == 1 &&
	    SSL_accept(cn->cn_ssl) == 1) {
		wca_count(wa, &wa->wa_c.connections);
		while (wca_serve_one(cn))
			;
		(void)SSL_shutdown(cn->cn_ssl);
	}
	ERR_clear_error();
	SSL_free(cn->cn_ssl);
	close(cn->cn_fd);
	free(cn);
	pthread_mutex_lock(&wa->wa_mtx);
	wa->wa_open_conns--;
	pthread_mutex_unlock(&wa->wa_mtx);
	return NULL;
}

/* The EST listener: a detached thread per connection, up to the cap;
 * beyond it a connection is closed at once and counted. */
static void *
wca_accept_main(void *arg)
{
	struct wca *wa = arg;
	struct wca_conn *cn;
	pthread_attr_t at;
	pthread_t t;
	int lfd = wa->wa_listen_fd, fd, full;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, WCA_STACK);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(10000);
			continue;
		}
		pthread_mutex_lock(&wa->wa_mtx);
		if (!(full = wa->wa_open_conns >= wa->wa_max_conns))
			wa->wa_open_conns++;
		else
			wa->wa_c.refused_connections++;
		pthread_mutex_unlock(&wa->wa_mtx);
		if (full) {
			close(fd);
			continue;
		}
		if ((cn = malloc(sizeof(*cn))) != NULL) {
			cn->cn_wa = wa;
			cn->cn_fd = fd;
			cn->cn_ssl = NULL;
			cn->cn_len = 0;
			if (pthread_create(&t, &at, wca_conn_main, cn) == 0)
				continue;
			free(cn);
		}
		close(fd);
		pthread_mutex_lock(&wa->wa_mtx);
		wa->wa_open_conns--;
		wa->wa_c.refused_connections++;
		pthread_mutex_unlock(&wa->wa_mtx);
	}
	return NULL;
}

/* ------------------------------------------------------------ control */

/* name=value in a query string, an int within [lo, hi]. -1: absent; -2:
 * present but bad. */
static int
wca_query_int(const char *query, const char *name, int lo, int hi)
{
	const char *p = query;
	size_t nl = strlen(name);
	char *end;
	long v;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			errno = 0;
			v = strtol(p + nl + 1, &end, 10);
			if (end == p + nl + 1 || (*end != '\0' && *end != '&') ||
			    errno != 0 || v < lo || v > hi)
				return -2;
			return (int)v;
		}
		if ((p = strchr(p, '&')) != NULL)
			p++;
	}
	return -1;
}

/* GET /set?k=&service_ms=&timeout_ms=: all valid, then all applied at
 * once; else nothing changes. 200, 400 or 500. */
static int
wca_control_set(struct wca *wa, const char *query, const char **why)
{
	static const char *const known[] = { "k=", "service_ms=",
	    "timeout_ms=" };
	const char *p;
	int k, s, t, rc = 200;
	size_t i;

	for (p = query; p != NULL && *p != '\0'; p = strchr(p, '&') ?
	    strchr(p, '&') + 1 : NULL) {
		for (i = 0; i < 3; i++)
			if (strncmp(p, known[i], strlen(known[i])) == 0)
				break;
		if (i == 3) {
			*why = "unknown parameter: k, service_ms, timeout_ms";
			return 400;
		}
	}
	k = wca_query_int(query, "k", 1, WCA_K_MAX);
	s = wca_query_int(query, "service_ms", 0, WCA_MS_MAX);
	t = wca_query_int(query, "timeout_ms", 1, WCA_MS_MAX);
	if (k == -2 || s == -2 || t == -2 || (k < 0 && s < 0 && t < 0)) {
		*why = "want k in 1..256, service_ms in 0..600000, timeout_ms "
		    "in 1..600000";
		return 400;
	}
	pthread_mutex_lock(&wa->wa_mtx);
	if (s >= 0)
		wa->wa_service_ms = s;
	if (t >= 0)
		wa->wa_timeout_ms = t;
	if (k > 0 && wca_set_k(wa, k) == -1) {
		*why = "cannot start worker threads";
		rc = 500;
	}
	pthread_mutex_unlock(&wa->wa_mtx);
	return rc;
}

/* One control request, one connection, plain HTTP on loopback. */
static void
wca_control_one(struct wca *wa, int fd)
{
	char req[WCA_CTL_MAX + 1], out[1024], *path, *query, *sp;
	const char *why = "no such control resource: /stats, /set, /reset";
	struct timeval tv = { 2, 0 };
	size_t len = 0;
	ssize_t n;
	int status = 404, h;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	do {
		if ((n = recv(fd, req + len, WCA_CTL_MAX - len, 0)) <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
	} while (strstr(req, "\r\n\r\n") == NULL && len < WCA_CTL_MAX);
	if (strncmp(req, "GET /", 5) != 0 ||
	    (sp = strchr(req + 4, ' ')) == NULL) {
		status = 400;
		why = "want GET /stats, /set?..., /reset";
	} else {
		*sp = '\0';
		path = req + 4;
		if ((query = strchr(path, '?')) != NULL)
			*query++ = '\0';
		if (strcmp(path, "/stats") == 0) {
			status = 200;
		} else if (strcmp(path, "/reset") == 0) {
			wca_stats_reset(wa);
			status = 200;
		} else if (strcmp(path, "/set") == 0) {
			status = wca_control_set(wa, query, &why);
		}
	}
	if (status == 200)
		wca_stats_json(wa, out, sizeof(out));
	else
		snprintf(out, sizeof(out), "%s\n", why);
	h = snprintf(req, sizeof(req), "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
	    wca_reason(status), status == 200 ? "application/json" :
	    "text/plain", strlen(out), out);
	(void)send(fd, req, (size_t)h, MSG_NOSIGNAL);
}

static void *
wca_control_main(void *arg)
{
	struct wca *wa = arg;
	int fd;

	for (;;) {
		if ((fd = accept4(wa->wa_control_fd, NULL, NULL,
		    SOCK_CLOEXEC)) == -1) {
			usleep(1000);
			continue;
		}
		wca_control_one(wa, fd);
		close(fd);
	}
	return NULL;
}

/* ------------------------------------------------------------ setup */

/* Binds HOST:PORT ([v6]:PORT too), prints "WHAT on HOST:PORT" with the
 * real port. loopback_only: refuse any other address. */
static int
wca_listen(const char *spec, const char *what, int loopback_only)
{
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], *colon;
	int fd, one = 1, rc;
	unsigned short port;

	if (strlen(spec) >= sizeof(host) || (colon = strrchr(strcpy(host,
	    spec), ':')) == NULL)
		die("%s: want HOST:PORT, got '%s'", what, spec);
	*colon = '\0';
	if (host[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		die("%s: '%s': %s", what, spec, gai_strerror(rc));
	if (loopback_only && !(ai->ai_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >>
	    24) == 127) && !(ai->ai_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr)))
		die("%s: '%s' is not a loopback address", what, spec);
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 1024) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		die("%s: '%s': %s", what, spec, strerror(errno));
	freeaddrinfo(ai);
	port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (strchr(host, ':') != NULL)
		printf("%s on [%s]:%u\n", what, host, port);
	else
		printf("%s on %s:%u\n", what, host, port);
	return fd;
}

/* The TLS server context (1.2+), with --client-ca a requested, not
 * required, client certificate that must verify when sent. */
static SSL_CTX *
wca_tls_new(const struct wca_opts *op)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		die("cannot make a TLS context");
	if (SSL_CTX_use_certificate_chain_file(ctx, op->op_cert) != 1)
		die("--cert %s: cannot load", op->op_cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, op->op_key, SSL_FILETYPE_PEM) !=
	    1 || SSL_CTX_check_private_key(ctx) != 1)
		die("--key %s: cannot load, or not --cert's key", op->op_key);
	(void)SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)"weak_ca", 7);
	if (op->op_client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, op->op_client_ca,
		    NULL) != 1 || (names = SSL_load_client_CA_file(
		    op->op_client_ca)) == NULL)
			die("--client-ca %s: cannot load", op->op_client_ca);
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

/* The CA's certificate and key, and its cacerts answer. */
static void
wca_ca_load(struct wca *wa, const struct wca_opts *op)
{
	FILE *f;

	if ((f = fopen(op->op_ca_cert, "r")) == NULL ||
	    (wa->wa_ca_cert = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		die("--ca-cert %s: cannot read a certificate", op->op_ca_cert);
	fclose(f);
	if ((f = fopen(op->op_ca_key, "r")) == NULL ||
	    (wa->wa_ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		die("--ca-key %s: cannot read a private key", op->op_ca_key);
	fclose(f);
	if (X509_check_private_key(wa->wa_ca_cert, wa->wa_ca_key) != 1)
		die("--ca-key %s is not the key of --ca-cert", op->op_ca_key);
	if ((wa->wa_cacerts = wca_pkcs7_b64(wa->wa_ca_cert,
	    &wa->wa_cacerts_len)) == NULL)
		die("cannot encode the CA certificate");
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: weak_ca --listen HOST:PORT --cert SERVER.pem "
	    "--key SERVER.key\n"
	    "         --ca-cert CA.pem --ca-key CA.key [--client-ca ROOTS.pem]"
	    "\n         [--workers K (5)] [--service-ms S (100)] "
	    "[--timeout-ms T (1000)]\n"
	    "         [--control 127.0.0.1:PORT] [--max-connections N (4096)]"
	    " [--idle-ms I (30000)]\n");
	exit(2);
}

static int
wca_int_arg(const char *name, const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
		die("--%s: '%s' is not in %d..%d", name, s, lo, hi);
	return (int)v;
}

static void
wca_args(int argc, char **argv, struct wca *wa, struct wca_opts *op)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca-cert", required_argument, NULL, 'C' },
		{ "ca-key", required_argument, NULL, 'K' },
		{ "client-ca", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "service-ms", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'o' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'l': op->op_listen = optarg; break;
		case 'c': op->op_cert = optarg; break;
		case 'k': op->op_key = optarg; break;
		case 'C': op->op_ca_cert = optarg; break;
		case 'K': op->op_ca_key = optarg; break;
		case 'r': op->op_client_ca = optarg; break;
		case 'o': op->op_control = optarg; break;
		case 'w': wa->wa_k = wca_int_arg("workers", optarg, 1,
		    WCA_K_MAX); break;
		case 's': wa->wa_service_ms = wca_int_arg("service-ms", optarg,
		    0, WCA_MS_MAX); break;
		case 't': wa->wa_timeout_ms = wca_int_arg("timeout-ms", optarg,
		    1, WCA_MS_MAX); break;
		case 'm': wa->wa_max_conns = wca_int_arg("max-connections",
		    optarg, 1, 1000000); break;
		case 'i': wa->wa_idle_ms = wca_int_arg("idle-ms", optarg, 1,
		    WCA_MS_MAX); break;
		default: usage();
		}
	}
	if (optind != argc || op->op_listen == NULL || op->op_cert == NULL ||
	    op->op_key == NULL || op->op_ca_cert == NULL ||
	    op->op_ca_key == NULL)
		usage();
}

static void
wca_thread(void *(*fn)(void *), struct wca *wa)
{
	pthread_attr_t at;
	pthread_t t;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, fn, wa) != 0)
		die("cannot start a thread");
	pthread_attr_destroy(&at);
}

int
main(int argc, char **argv)
{
	static struct wca wa = { .wa_k = 5, .wa_service_ms = 100,
	    .wa_timeout_ms = 1000, .wa_max_conns = 4096, .wa_idle_ms = 30000,
	    .wa_control_fd = -1 };
	struct wca_opts op = { 0 };
	sigset_t sigs;
	int sig;

	setvbuf(stdout, NULL, _IOLBF, 0);
	wca_args(argc, argv, &wa, &op);
	signal(SIGPIPE, SIG_IGN);
	/* Only the main thread takes the stop signals (sigwait below). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	wca_tls = wca_tls_new(&op);
	wca_ca_load(&wa, &op);
	if (wca_app_init(&wa) == -1)
		die("cannot start %d worker threads", wa.wa_k);
	wa.wa_listen_fd = wca_listen(op.op_listen, "listening", 0);
	if (op.op_control != NULL)
		wa.wa_control_fd = wca_listen(op.op_control, "control", 1);
	wca_thread(wca_accept_main, &wa);
	if (wa.wa_control_fd != -1)
		wca_thread(wca_control_main, &wa);

	while (sigwait(&sigs, &sig) != 0)
		;
	fprintf(stderr, "weak_ca: stopping on signal %d\n", sig);
	/*
	 * _exit, not exit: detached connection and worker threads may be
	 * inside OpenSSL, and exit's handlers (OPENSSL_cleanup) would free
	 * its state under them. The kernel closes every socket.
	 */
	_exit(0);
}
