/*
 * est_cb_client: an EST simpleenroll client that binds its CSR to its own
 * TLS session (RFC 7030 §3.5), for the channel binding integration cases.
 *
 *   est_cb_client --url https://127.0.0.1:PORT/.well-known/est[/label]/simpleenroll
 *       --cafile ROOT.pem [--cert C --key K] [--user U --pass P]
 *       [--tls 1.2|1.3] [--binding correct|wrong|none] [--subject /CN=x]
 *       --key-out FILE --out RESPONSE_FILE
 *
 * It connects, verifies the server against --cafile and the URL's IP
 * address, computes the binding of ITS OWN side of the session with
 * chanbind_value (src/chanbind.c, the code the RA runs on its side),
 * makes a fresh EC P-256 key (written to --key-out) and a SHA-256 CSR
 * whose challengePassword is that value ("wrong": the value with its first
 * character changed; "none": no challengePassword), and POSTs it, base64,
 * on that same connection. With --user, the first POST goes without
 * credentials and the 401's Digest challenge (MD5, qop=auth) is answered
 * on the same connection: the binding belongs to the connection, so a
 * server that closes after its 401 is a transport error here.
 *
 * Prints the final HTTP status code on stdout and writes the body to
 * --out. Exit 0 for any HTTP answer, 1 for a transport or TLS error, 2 for
 * a usage error. Blocking I/O: it is a test tool.
 */
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "estrad/chanbind.h"

#define CB_EXIT_OK	0
#define CB_EXIT_IO	1
#define CB_EXIT_USAGE	2
#define CB_HDR_MAX	16384
#define CB_BODY_MAX	(1024 * 1024)
#define CB_FIELD_MAX	512

enum cb_binding { CB_BIND_CORRECT, CB_BIND_WRONG, CB_BIND_NONE };

struct cb_opts {
	const char	*url;
	const char	*cafile;
	const char	*cert;
	const char	*key;
	const char	*user;
	const char	*pass;
	const char	*subject;
	const char	*key_out;
	const char	*out;
	int		 tls;		/* 0 (any), TLS1_2_VERSION, TLS1_3_VERSION */
	enum cb_binding	 binding;
	char		 host[256];	/* IP literal, no brackets */
	char		 port[8];
	char		 hostport[272];	/* for the Host header */
	const char	*path;		/* into url */
};

struct cb_resp {
	int		 status;
	char		 hdr[CB_HDR_MAX + 1];	/* status line and headers */
	unsigned char	*body;
	size_t		 bodylen;
	int		 closing;	/* "Connection: close" */
};

/* Bytes read past the end of a response (pipelining: never expected). */
struct cb_conn {
	SSL		*ssl;
	int		 fd;
	unsigned char	 buf[CB_HDR_MAX];
	size_t		 have;
};

static void
cb_err(const char *what)
{
	unsigned long e;
	char buf[256];

	fprintf(stderr, "est_cb_client: %s\n", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "  %s\n", buf);
	}
}

static void
cb_usage(void)
{
	fprintf(stderr, "usage: est_cb_client --url https://IP:PORT/.well-known/est[/label]/simpleenroll\n"
	    "    --cafile ROOT.pem [--cert C --key K] [--user U --pass P]\n"
	    "    [--tls 1.2|1.3] [--binding correct|wrong|none] [--subject /CN=x]\n"
	    "    --key-out FILE --out RESPONSE_FILE\n");
}

/* ------------------------------------------------------------ options */

/* https://HOST:PORT/path, HOST an IPv4 literal or [IPv6]. */
static int
cb_parse_url(struct cb_opts *o)
{
	const char *p = o->url, *end, *colon;
	size_t n;

	if (strncmp(p, "https://", 8) != 0)
		return -1;
	p += 8;
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - p - 1);
		p++;
		colon = end + 1;
	} else {
		if ((colon = strchr(p, ':')) == NULL)
			return -1;
		n = (size_t)(colon - p);
	}
	if (n == 0 || n >= sizeof(o->host))
		return -1;
	memcpy(o->host, p, n);
	o->host[n] = '\0';
	if ((o->path = strchr(colon, '/')) == NULL)
		return -1;
	n = (size_t)(o->path - colon - 1);
	if (n == 0 || n >= sizeof(o->port) ||
	    strspn(colon + 1, "0123456789") != n)
		return -1;
	memcpy(o->port, colon + 1, n);
	o->port[n] = '\0';
	snprintf(o->hostport, sizeof(o->hostport), "%.*s",
	    (int)(o->path - o->url - 8), o->url + 8);
	return 0;
}

static int
cb_parse_enum(struct cb_opts *o, int c, const char *arg)
{
	if (c == 't') {
		if (strcmp(arg, "1.2") == 0)
			o->tls = TLS1_2_VERSION;
		else if (strcmp(arg, "1.3") == 0)
			o->tls = TLS1_3_VERSION;
		else
			return -1;
		return 0;
	}
	if (strcmp(arg, "correct") == 0)
		o->binding = CB_BIND_CORRECT;
	else if (strcmp(arg, "wrong") == 0)
		o->binding = CB_BIND_WRONG;
	else if (strcmp(arg, "none") == 0)
		o->binding = CB_BIND_NONE;
	else
		return -1;
	return 0;
}

static int
cb_check_opts(struct cb_opts *o)
{
	if (o->url == NULL || o->cafile == NULL || o->key_out == NULL ||
	    o->out == NULL) {
		fprintf(stderr, "est_cb_client: --url, --cafile, --key-out and --out are required\n");
		return -1;
	}
	if ((o->cert == NULL) != (o->key == NULL) ||
	    (o->user == NULL) != (o->pass == NULL)) {
		fprintf(stderr, "est_cb_client: --cert needs --key, --user needs --pass\n");
		return -1;
	}
	if (cb_parse_url(o) == -1) {
		fprintf(stderr, "est_cb_client: bad --url (want https://IP:PORT/path)\n");
		return -1;
	}
	return 0;
}

static int
cb_parse_args(int argc, char **argv, struct cb_opts *o)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "cafile", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'U' },
		{ "pass", required_argument, NULL, 'P' },
		{ "tls", required_argument, NULL, 't' },
		{ "binding", required_argument, NULL, 'b' },
		{ "subject", required_argument, NULL, 's' },
		{ "key-out", required_argument, NULL, 'K' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->subject = "/CN=cb-client";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 'a': o->cafile = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'U': o->user = optarg; break;
		case 'P': o->pass = optarg; break;
		case 's': o->subject = optarg; break;
		case 'K': o->key_out = optarg; break;
		case 'o': o->out = optarg; break;
		case 't':
		case 'b':
			if (cb_parse_enum(o, c, optarg) == -1)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	return cb_check_opts(o);
}

/* ------------------------------------------------------------ TLS */

static int
cb_tcp_connect(const struct cb_opts *o)
{
	struct addrinfo hints, *res = NULL;
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(o->host, o->port, &hints, &res) != 0) {
		fprintf(stderr, "est_cb_client: %s is not an IP address\n",
		    o->host);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd != -1 && connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
		perror("est_cb_client: connect");
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static SSL_CTX *
cb_tls_ctx(const struct cb_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, o->tls ? o->tls :
	    TLS1_2_VERSION) || !SSL_CTX_set_max_proto_version(ctx, o->tls) ||
	    SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1)
		goto fail;
	if (o->cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1))
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
cb_tls_connect(const struct cb_opts *o, SSL_CTX *ctx, struct cb_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((c->fd = cb_tcp_connect(o)) == -1)
		return -1;
	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
	    o->host) != 1) {
		cb_err("cannot set up the TLS connection");
		return -1;
	}
	if (SSL_connect(c->ssl) != 1) {
		cb_err("TLS handshake failed");
		return -1;
	}
	return 0;
}

static void
cb_conn_close(struct cb_conn *c)
{
	if (c->ssl != NULL) {
		if (SSL_is_init_finished(c->ssl))
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd != -1)
		close(c->fd);
}

/* ------------------------------------------------------------ CSR */

/* "/CN=a/O=b": no escapes, enough for tests. */
static int
cb_subject(X509_REQ *req, const char *subject)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	char *copy = strdup(subject), *save = NULL, *rdn, *eq;
	int rc = -1;

	if (copy == NULL)
		return -1;
	for (rdn = strtok_r(copy, "/", &save); rdn != NULL;
	    rdn = strtok_r(NULL, "/", &save)) {
		if ((eq = strchr(rdn, '=')) == NULL)
			goto fail;
		*eq = '\0';
		if (X509_NAME_add_entry_by_txt(name, rdn, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, -1, -1, 0) != 1)
			goto fail;
	}
	rc = 0;
fail:
	free(copy);
	return rc;
}

/* The challengePassword for the chosen mode; 0 with *pw = "" for none. */
static int
cb_password(const struct cb_opts *o, SSL *ssl, char *pw, size_t len)
{
	pw[0] = '\0';
	if (o->binding == CB_BIND_NONE)
		return 0;
	if (chanbind_value(ssl, pw, len) == -1) {
		cb_err("no channel binding for this session");
		return -1;
	}
	fprintf(stderr, "est_cb_client: %s, binding %s\n",
	    SSL_get_version(ssl), pw);
	if (o->binding == CB_BIND_WRONG)
		pw[0] = pw[0] == 'A' ? 'B' : 'A';
	return 0;
}

static int
cb_write_key(const char *path, EVP_PKEY *key)
{
	FILE *fp;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		perror(path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	rc = PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	return fclose(fp) == 0 && rc == 1 ? 0 : -1;
}

/* A new key (to key_out) and the base64 of a signed CSR for it. */
static char *
cb_make_csr(const struct cb_opts *o, const char *pw, size_t *b64len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	char *b64 = NULL;
	int n;

	if (key == NULL || req == NULL || cb_write_key(o->key_out, key) ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    cb_subject(req, o->subject) == -1)
		goto done;
	if (o->binding != CB_BIND_NONE &&
	    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	    V_ASN1_PRINTABLESTRING, (const unsigned char *)pw,
	    (int)strlen(pw)) != 1)
		goto done;
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, &der)) <= 0)
		goto done;
	if ((b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) != NULL)
		*b64len = (size_t)EVP_EncodeBlock((unsigned char *)b64, der, n);
done:
	if (b64 == NULL)
		cb_err("cannot make the key or the CSR");
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return b64;
}

/* ------------------------------------------------------------ HTTP */

static int
cb_write_all(SSL *ssl, const void *buf, size_t len)
{
	size_t done;

	while (len > 0) {
		if (SSL_write_ex(ssl, buf, len, &done) != 1)
			return -1;
		buf = (const char *)buf + done;
		len -= done;
	}
	return 0;
}

static int
cb_send(struct cb_conn *c, const struct cb_opts *o, const char *auth,
    const char *body, size_t bodylen)
{
	char head[2048];
	int n;

	n = snprintf(head, sizeof(head),
	    "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/pkcs10\r\nContent-Length: %zu\r\n"
	    "Connection: keep-alive\r\n%s%s%s\r\n", o->path, o->hostport,
	    bodylen, auth ? "Authorization: " : "", auth ? auth : "",
	    auth ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (cb_write_all(c->ssl, head, (size_t)n) == -1 ||
	    cb_write_all(c->ssl, body, bodylen) == -1) {
		cb_err("cannot send the request (connection closed?)");
		return -1;
	}
	return 0;
}

/* More bytes into c->buf; -1 on EOF or error. */
static int
cb_fill(struct cb_conn *c)
{
	size_t got;

	if (c->have == sizeof(c->buf))
		return -1;
	if (SSL_read_ex(c->ssl, c->buf + c->have, sizeof(c->buf) - c->have,
	    &got) != 1)
		return -1;
	c->have += got;
	return 0;
}

static void
cb_consume(struct cb_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->have - n);
	c->have -= n;
}

/* Header NAME's value (case-insensitive name) of the response, or NULL. */
static const char *
cb_header(const struct cb_resp *r, const char *name, const char *from)
{
	size_t n = strlen(name);
	const char *p = from ? from : r->hdr;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			return p + strspn(p, " \t");
		}
	}
	return NULL;
}

static int
cb_read_head(struct cb_conn *c, struct cb_resp *r)
{
	unsigned char *end;
	size_t n;

	while ((end = memmem(c->buf, c->have, "\r\n\r\n", 4)) == NULL)
		if (cb_fill(c) == -1) {
			cb_err("no complete response head (connection closed?)");
			return -1;
		}
	n = (size_t)(end - c->buf) + 2;
	memcpy(r->hdr, c->buf, n);
	r->hdr[n] = '\0';
	cb_consume(c, n + 2);
	if (sscanf(r->hdr, "HTTP/1.%*[01] %3d", &r->status) != 1) {
		fprintf(stderr, "est_cb_client: not an HTTP status line\n");
		return -1;
	}
	return 0;
}

/* The body: Content-Length bytes, or up to EOF when there is none. */
static int
cb_read_body(struct cb_conn *c, struct cb_resp *r)
{
	const char *cl = cb_header(r, "Content-Length", NULL);
	const char *te = cb_header(r, "Transfer-Encoding", NULL);
	const char *conn;
	size_t want = cl ? strtoul(cl, NULL, 10) : CB_BODY_MAX;

	if (te != NULL || want > CB_BODY_MAX) {
		fprintf(stderr, "est_cb_client: chunked or huge body: unsupported\n");
		return -1;
	}
	if ((r->body = malloc(want + 1)) == NULL)
		return -1;
	while (r->bodylen < want) {
		size_t n;

		if (c->have == 0 && cb_fill(c) == -1) {
			if (cl == NULL)
				break;
			cb_err("body cut short");
			return -1;
		}
		n = c->have < want - r->bodylen ? c->have : want - r->bodylen;
		memcpy(r->body + r->bodylen, c->buf, n);
		r->bodylen += n;
		cb_consume(c, n);
	}
	conn = cb_header(r, "Connection", NULL);
	r->closing = cl == NULL ||
	    (conn != NULL && strncasecmp(conn, "close", 5) == 0);
	return 0;
}

static int
cb_read_resp(struct cb_conn *c, struct cb_resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	if (cb_read_head(c, r) == -1)
		return -1;
	return cb_read_body(c, r);
}

/* ------------------------------------------------------------ Digest */

/* Parameter NAME of a challenge ("k=v, k="v""), into out. */
static int
cb_param(const char *p, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name), i;

	while (*p != '\0' && *p != '\r') {
		const char *key;
		int match;

		p += strspn(p, " \t,");
		key = p;
		p += strcspn(p, "=,\r");
		match = (size_t)(p - key) == n && strncasecmp(key, name, n) == 0;
		if (*p != '=')
			continue;
		p++;
		int quoted = *p == '"';
		p += quoted;
		for (i = 0; *p != '\0' && *p != '\r' &&
		    (quoted ? *p != '"' : *p != ',' && *p != ' '); p++) {
			if (quoted && *p == '\\' && p[1] != '\0')
				p++;
			if (match && i + 1 < outlen)
				out[i++] = *p;
		}
		p += quoted && *p == '"';
		if (match) {
			out[i] = '\0';
			return 0;
		}
	}
	return -1;
}

/* The first Digest challenge with algorithm MD5 (or none named). */
static const char *
cb_md5_challenge(const struct cb_resp *r)
{
	const char *h = NULL;
	char alg[32];

	while ((h = cb_header(r, "WWW-Authenticate", h)) != NULL) {
		if (strncasecmp(h, "Digest ", 7) != 0)
			continue;
		if (cb_param(h + 7, "algorithm", alg, sizeof(alg)) == -1 ||
		    strcasecmp(alg, "MD5") == 0)
			return h + 7;
	}
	return NULL;
}

static void
cb_md5_hex(char out[33], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cb_md5_hex(char out[33], const char *fmt, ...)
{
	char buf[2048];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_md5(), NULL);
	OPENSSL_cleanse(buf, sizeof(buf));
	for (unsigned int i = 0; i < mdlen && i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* RFC 7616 §3.4.1 with qop=auth, MD5, nc 1. */
static char *
cb_digest_auth(const struct cb_opts *o, const char *chal)
{
	char realm[CB_FIELD_MAX], nonce[CB_FIELD_MAX], opaque[CB_FIELD_MAX];
	char ha1[33], ha2[33], resp[33], cnonce[17];
	unsigned char rnd[8];
	char *hdr = malloc(4096);

	if (hdr == NULL || cb_param(chal, "realm", realm, sizeof(realm)) ||
	    cb_param(chal, "nonce", nonce, sizeof(nonce)) ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(hdr);
		return NULL;
	}
	if (cb_param(chal, "opaque", opaque, sizeof(opaque)) == -1)
		opaque[0] = '\0';
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
	cb_md5_hex(ha1, "%s:%s:%s", o->user, realm, o->pass);
	cb_md5_hex(ha2, "POST:%s", o->path);
	cb_md5_hex(resp, "%s:%s:00000001:%s:auth:%s", ha1, nonce, cnonce, ha2);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	snprintf(hdr, 4096, "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"%s\", algorithm=MD5, qop=auth, nc=00000001, "
	    "cnonce=\"%s\", response=\"%s\"%s%s%s", o->user, realm, nonce,
	    o->path, cnonce, resp, opaque[0] ? ", opaque=\"" : "", opaque,
	    opaque[0] ? "\"" : "");
	return hdr;
}

/* ------------------------------------------------------------ main */

/* The 401 answered on the same connection, when we have credentials. */
static int
cb_retry_digest(const struct cb_opts *o, struct cb_conn *c,
    struct cb_resp *r, const char *csr, size_t csrlen)
{
	const char *chal;
	char *auth;
	int rc;

	if (r->status != 401 || o->user == NULL)
		return 0;
	if ((chal = cb_md5_challenge(r)) == NULL) {
		fprintf(stderr, "est_cb_client: 401 without an MD5 Digest challenge\n");
		return 0;
	}
	if (r->closing) {
		fprintf(stderr, "est_cb_client: the server closes the connection after its 401: the channel binding cannot survive\n");
		return -1;
	}
	if ((auth = cb_digest_auth(o, chal)) == NULL)
		return -1;
	rc = cb_send(c, o, auth, csr, csrlen);
	free(auth);
	if (rc == 0)
		rc = cb_read_resp(c, r);
	return rc;
}

static int
cb_save(const struct cb_opts *o, const struct cb_resp *r)
{
	FILE *fp = fopen(o->out, "wb");

	if (fp == NULL || fwrite(r->body, 1, r->bodylen, fp) != r->bodylen) {
		perror(o->out);
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	if (fclose(fp) != 0)
		return -1;
	printf("%d\n", r->status);
	return 0;
}

static int
cb_run(const struct cb_opts *o, SSL_CTX *ctx)
{
	struct cb_conn c;
	struct cb_resp r;
	char pw[CHANBIND_MAX], *csr = NULL;
	size_t csrlen = 0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (cb_tls_connect(o, ctx, &c) == -1 ||
	    cb_password(o, c.ssl, pw, sizeof(pw)) == -1 ||
	    (csr = cb_make_csr(o, pw, &csrlen)) == NULL)
		goto done;
	if (cb_send(&c, o, NULL, csr, csrlen) == -1 ||
	    cb_read_resp(&c, &r) == -1 ||
	    cb_retry_digest(o, &c, &r, csr, csrlen) == -1)
		goto done;
	rc = cb_save(o, &r);
done:
	free(r.body);
	free(csr);
	cb_conn_close(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct cb_opts o;
	SSL_CTX *ctx;
	int rc;

	if (cb_parse_args(argc, argv, &o) == -1) {
		cb_usage();
		return CB_EXIT_USAGE;
	}
	if ((ctx = cb_tls_ctx(&o)) == NULL) {
		cb_err("cannot load --cafile, --cert or --key");
		return CB_EXIT_USAGE;
	}
	rc = cb_run(&o, ctx);
	SSL_CTX_free(ctx);
	return rc == 0 ? CB_EXIT_OK : CB_EXIT_IO;
}
