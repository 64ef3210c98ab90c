/*
 * weak_ca_app.c: the application behind weak_ca's front: K worker slots
 * served strictly first in, first out, each request holding its slot for
 * service_ms (the HSM or database time that makes a real CA weak) and then
 * really issuing: CSR decode and self-signature check, a certificate signed
 * with the CA key, wrapped in a certs-only PKCS#7 (RFC 7030 §4.2.3, base64
 * per RFC 8951).
 *
 * The application does not know whether the front still waits: a request
 * the front gave up on (504) is still served when its turn comes. That
 * wasted work is what makes the CA collapse under a storm, and it is
 * counted ("wasted").
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L	/* clock_gettime, nanosleep, strdup */
#endif
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "weak_ca.h"

#define WCA_SERIAL_BYTES	16
#define WCA_VALIDITY_S		86400	/* one day */

static void *wca_worker(void *);

/* ------------------------------------------------------------ jobs */

/* A job holding a copy of the CSR; two references, the front's and the
 * worker's. NULL when out of memory. */
struct wca_job *
wca_job_new(const char *csr, size_t len)
{
	struct wca_job *jb;
	pthread_condattr_t ca;

	if ((jb = calloc(1, sizeof(*jb))) == NULL)
		return NULL;
	if ((jb->jb_csr = malloc(len + 1)) == NULL) {
		free(jb);
		return NULL;
	}
	memcpy(jb->jb_csr, csr, len);
	jb->jb_csr[len] = '\0';
	jb->jb_csr_len = len;
	jb->jb_refs = 2;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&jb->jb_cv, &ca);
	pthread_condattr_destroy(&ca);
	return jb;
}

/* Drops one reference, under wa_mtx; the last one frees the job. */
void
wca_job_put(struct wca *wa, struct wca_job *jb)
{
	int last;

	pthread_mutex_lock(&wa->wa_mtx);
	last = --jb->jb_refs == 0;
	pthread_mutex_unlock(&wa->wa_mtx);
	if (!last)
		return;
	pthread_cond_destroy(&jb->jb_cv);
	free(jb->jb_csr);
	free(jb->jb_body);
	free(jb);
}

/* The request enters the application: at the tail of the FIFO. */
void
wca_submit(struct wca *wa, struct wca_job *jb)
{
	struct wca_counters *c = &wa->wa_c;

	pthread_mutex_lock(&wa->wa_mtx);
	if (wa->wa_tail != NULL)
		wa->wa_tail->jb_next = jb;
	else
		wa->wa_head = jb;
	wa->wa_tail = jb;
	c->requests++;
	if (++c->in_system > c->in_system_max)
		c->in_system_max = c->in_system;
	pthread_cond_signal(&wa->wa_work_cv);
	pthread_mutex_unlock(&wa->wa_mtx);
}

/*
 * The front waits for the answer at most timeout_ms from now (the request
 * was just read). Returns 0 with the answer in jb_status/jb_body, or -1
 * when the time is up: the job is then marked abandoned, and the worker
 * will still do it. *timeout_ms is set to the timeout applied.
 */
int
wca_wait(struct wca *wa, struct wca_job *jb, int *timeout_ms_out)
{
	struct timespec dl;
	int rc = 0, timeout_ms;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	pthread_mutex_lock(&wa->wa_mtx);
	*timeout_ms_out = timeout_ms = wa->wa_timeout_ms;
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	while (!jb->jb_done && rc == 0)
		rc = pthread_cond_timedwait(&jb->jb_cv, &wa->wa_mtx, &dl);
	if (!jb->jb_done) {
		jb->jb_abandoned = 1;
		wa->wa_c.timeouts++;
		rc = -1;
	} else {
		if (jb->jb_status == 200)
			wa->wa_c.served++;
		rc = 0;
	}
	pthread_mutex_unlock(&wa->wa_mtx);
	return rc;
}

/* ------------------------------------------------------------ PKI */

/* Base64 of DER, 64-character lines. malloc'd, NULL on failure. */
static char *
wca_b64(const unsigned char *der, int len, size_t *out_len)
{
	EVP_ENCODE_CTX *ec;
	char *out;
	int n, total;

	if ((ec = EVP_ENCODE_CTX_new()) == NULL)
		return NULL;
	if ((out = malloc((size_t)(len + 2) / 3 * 4 + (size_t)len / 48 + 4)) ==
	    NULL) {
		EVP_ENCODE_CTX_free(ec);
		return NULL;
	}
	EVP_EncodeInit(ec);
	if (EVP_EncodeUpdate(ec, (unsigned char *)out, &n, der, len) != 1) {
		EVP_ENCODE_CTX_free(ec);
		free(out);
		return NULL;
	}
	total = n;
	EVP_EncodeFinal(ec, (unsigned char *)out + total, &n);
	total += n;
	EVP_ENCODE_CTX_free(ec);
	out[total] = '\0';
	*out_len = (size_t)total;
	return out;
}

/*
 * A certs-only PKCS#7 of one certificate, base64: a degenerate signedData
 * with no signer, as `openssl crl2pkcs7 -nocrl` makes (RFC 7030 §4.1.3).
 * malloc'd, NULL on failure.
 */
char *
wca_pkcs7_b64(X509 *cert, size_t *len)
{
	PKCS7 *p7;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int n;

	if ((p7 = PKCS7_new()) == NULL)
		return NULL;
	if (PKCS7_set_type(p7, NID_pkcs7_signed) == 1 &&
	    PKCS7_content_new(p7, NID_pkcs7_data) == 1 &&
	    PKCS7_add_certificate(p7, cert) == 1 &&
	    (n = i2d_PKCS7(p7, &der)) > 0)
		b64 = wca_b64(der, n, len);
	OPENSSL_free(der);
	PKCS7_free(p7);
	return b64;
}

/* The CSR's DER from base64 with any whitespace. NULL if not base64. */
static X509_REQ *
wca_csr_decode(const char *b64, size_t len)
{
	EVP_ENCODE_CTX *dc;
	unsigned char *clean, *der;
	const unsigned char *p;
	X509_REQ *req = NULL;
	size_t i, n = 0;
	int out, fin;

	if ((clean = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		if (!isspace((unsigned char)b64[i]))
			clean[n++] = (unsigned char)b64[i];
	der = malloc(n / 4 * 3 + 3);
	dc = EVP_ENCODE_CTX_new();
	if (der != NULL && dc != NULL && n > 0) {
		EVP_DecodeInit(dc);
		if (EVP_DecodeUpdate(dc, der, &out, clean, (int)n) >= 0 &&
		    EVP_DecodeFinal(dc, der + out, &fin) == 1) {
			p = der;
			req = d2i_X509_REQ(NULL, &p, out + fin);
		}
	}
	EVP_ENCODE_CTX_free(dc);
	free(der);
	free(clean);
	return req;
}

static int
wca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* The CSR's subject and key, a random serial, one day, signed by the CA
 * with SHA-256. NULL on failure. */
static X509 *
wca_make_cert(struct wca *wa, X509_REQ *req, EVP_PKEY *pub)
{
	unsigned char serial[WCA_SERIAL_BYTES];
	X509V3_CTX ctx;
	BIGNUM *bn = NULL;
	X509 *x;
	int ok;

	if ((x = X509_new()) == NULL)
		return NULL;
	serial[0] = 0;
	ok = RAND_bytes(serial, sizeof(serial)) == 1;
	serial[0] = (serial[0] & 0x7f) | 0x01;	/* positive, full length */
	ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	    X509_set_version(x, X509_VERSION_3) == 1 &&
	    X509_set_issuer_name(x, X509_get_subject_name(wa->wa_ca_cert)) &&
	    X509_set_subject_name(x, X509_REQ_get_subject_name(req)) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), WCA_VALIDITY_S) != NULL &&
	    X509_set_pubkey(x, pub) == 1;
	BN_free(bn);
	if (ok) {
		X509V3_set_ctx(&ctx, wa->wa_ca_cert, x, NULL, NULL, 0);
		ok = wca_add_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:FALSE") &&
		    wca_add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
		    wca_add_ext(x, &ctx, NID_authority_key_identifier,
		    "keyid:always") &&
		    X509_sign(x, wa->wa_ca_key, EVP_sha256()) > 0;
	}
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
wca_answer(struct wca_job *jb, int status, const char *reason)
{
	jb->jb_status = status;
	if ((jb->jb_body = strdup(reason)) != NULL)
		jb->jb_body_len = strlen(reason);
}

/* Issues for the job's CSR: 200 with the PKCS#7, or 400/500 and a line. */
static void
wca_issue(struct wca *wa, struct wca_job *jb)
{
	X509_REQ *req;
	EVP_PKEY *pub;
	X509 *cert;

	if ((req = wca_csr_decode(jb->jb_csr, jb->jb_csr_len)) == NULL) {
		wca_answer(jb, 400, "the body is not a base64 PKCS#10 CSR\n");
		return;
	}
	pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
		X509_REQ_free(req);
		wca_answer(jb, 400, "the CSR's self-signature does not verify\n");
		return;
	}
	cert = wca_make_cert(wa, req, pub);
	X509_REQ_free(req);
	if (cert != NULL)
		jb->jb_body = wca_pkcs7_b64(cert, &jb->jb_body_len);
	X509_free(cert);
	if (jb->jb_body != NULL)
		jb->jb_status = 200;
	else
		wca_answer(jb, 500, "issuing failed\n");
}

/* ------------------------------------------------------------ workers */

/*
 * One worker thread: take the head of the FIFO when a slot is free (fewer
 * than K in service), hold the slot service_ms, issue, hand the answer
 * back. There are as many threads as the largest K ever set; the surplus
 * after a lower K just waits.
 */
static void *
wca_worker(void *arg)
{
	struct wca *wa = arg;
	struct wca_counters *c = &wa->wa_c;
	struct wca_job *jb;
	struct timespec ts;
	int ms;

	for (;;) {
		pthread_mutex_lock(&wa->wa_mtx);
		while (wa->wa_head == NULL || (int)c->in_service >= wa->wa_k)
			pthread_cond_wait(&wa->wa_work_cv, &wa->wa_mtx);
		jb = wa->wa_head;
		if ((wa->wa_head = jb->jb_next) == NULL)
			wa->wa_tail = NULL;
		if (++c->in_service > c->in_service_max)
			c->in_service_max = c->in_service;
		ms = wa->wa_service_ms;
		pthread_mutex_unlock(&wa->wa_mtx);

		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) == -1)
			;
		wca_issue(wa, jb);

		pthread_mutex_lock(&wa->wa_mtx);
		c->in_service--;
		c->in_system--;
		jb->jb_done = 1;
		if (jb->jb_abandoned)
			c->wasted++;
		pthread_cond_signal(&jb->jb_cv);
		pthread_cond_signal(&wa->wa_work_cv);	/* a slot is free */
		pthread_mutex_unlock(&wa->wa_mtx);
		wca_job_put(wa, jb);
	}
	return NULL;
}

/*
 * K becomes k, under wa_mtx: a lower K lets the requests in service finish
 * and starts none until fewer than k are; a higher K starts the threads it
 * lacks and wakes the waiting ones. -1 if a thread cannot be started.
 */
int
wca_set_k(struct wca *wa, int k)
{
	pthread_attr_t at;
	pthread_t t;
	int rc = 0;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	while (wa->wa_threads < k && rc == 0)
		if ((rc = pthread_create(&t, &at, wca_worker, wa)) == 0)
			wa->wa_threads++;
	pthread_attr_destroy(&at);
	if (rc != 0)
		return -1;
	wa->wa_k = k;
	pthread_cond_broadcast(&wa->wa_work_cv);
	return 0;
}

int
wca_app_init(struct wca *wa)
{
	int k = wa->wa_k, rc;

	pthread_mutex_init(&wa->wa_mtx, NULL);
	pthread_cond_init(&wa->wa_work_cv, NULL);
	pthread_mutex_lock(&wa->wa_mtx);
	rc = wca_set_k(wa, k);
	pthread_mutex_unlock(&wa->wa_mtx);
	return rc;
}

/* ------------------------------------------------------------ stats */

void
wca_count(struct wca *wa, unsigned long *counter)
{
	pthread_mutex_lock(&wa->wa_mtx);
	(*counter)++;
	pthread_mutex_unlock(&wa->wa_mtx);
}

/* One JSON line, GET /stats. */
void
wca_stats_json(struct wca *wa, char *buf, size_t size)
{
	size_t n;

	pthread_mutex_lock(&wa->wa_mtx);
	n = (size_t)snprintf(buf, size, "{\"k\":%d,\"service_ms\":%d,"
	    "\"timeout_ms\":%d", wa->wa_k, wa->wa_service_ms,
	    wa->wa_timeout_ms);
#define WCA_JSON(name)							\
	if (n < size)							\
		n += (size_t)snprintf(buf + n, size - n, ",\"" #name "\":%lu", \
		    wa->wa_c.name);
	WCA_COUNTERS(WCA_JSON)
#undef WCA_JSON
	pthread_mutex_unlock(&wa->wa_mtx);
	if (n < size)
		snprintf(buf + n, size - n, "}\n");
}

/* GET /reset: every counter to zero, each maximum to its gauge's value
 * (the gauges themselves stay: those requests are still there). */
void
wca_stats_reset(struct wca *wa)
{
	struct wca_counters *c = &wa->wa_c;
	unsigned long in_service, in_system;

	pthread_mutex_lock(&wa->wa_mtx);
	in_service = c->in_service;
	in_system = c->in_system;
	memset(c, 0, sizeof(*c));
	c->in_service = c->in_service_max = in_service;
	c->in_system = c->in_system_max = in_system;
	pthread_mutex_unlock(&wa->wa_mtx);
}
