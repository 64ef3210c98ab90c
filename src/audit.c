/*
 * audit: the record of every enrollment decision (issue: "Written before
 * the answer goes out"). Lines are JSON objects, one per line, built with
 * jansson so any client-controlled text is escaped. A line is appended
 * with one write(2) on an O_APPEND descriptor, on a worker thread; the
 * request waits for it. No secret is ever part of a record: the CSR's
 * challengePassword is not, nor any credential.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "estrad/answer.h"
#include "estrad/audit.h"
#include "estrad/log.h"
#include "estrad/p7.h"
#include "estrad/pki.h"
#include "estrad/store.h"
#include "estrad/worker.h"

#define AUDIT_MAX_QUEUED	4096

struct audit {
	int		 au_fd;		/* -1: no file */
	int		 au_stderr;
	struct worker	*au_worker;
};

struct audit_job {
	struct audit	*aj_audit;
	char		*aj_line;
	/* Or a record still to finish on the worker: decoding the issued
	 * certificate (its public key goes through OpenSSL 3's decoders)
	 * costs more than the rest of the record. */
	json_t		*aj_record;
	unsigned char	*aj_response;
	size_t		 aj_response_len;
	int		 aj_ok;
	int		 aj_errno;	/* the worker's, for the log */
	int		 aj_cancelled;
	void		(*aj_done)(void *, int);
	void		*aj_arg;
};

/* ---- formatting (pure) ----------------------------------------------- */

/*
 * jansson refuses text that is not UTF-8 (json_string() gives NULL and
 * the key would silently go missing): such text goes through log_quote's
 * prose rule, every byte above 0x7e (and any control) as \xNN.
 */
void
audit_set_any_text(json_t *o, const char *key, const char *value)
{
	json_t	*j;
	char	*copy;
	size_t	 len = strlen(value);

	if ((j = json_string(value)) == NULL &&
	    (copy = malloc(4 * len + 1)) != NULL) {
		log_quote(copy, 4 * len + 1, value, len, LOG_QUOTE_PROSE);
		j = json_string(copy);
		free(copy);
	}
	json_object_set_new(o, key, j != NULL ? j : json_null());
}

static void
json_set_text(json_t *o, const char *key, const char *value)
{
	if (value != NULL)
		audit_set_any_text(o, key, value);
	else
		json_object_set_new(o, key, json_null());
}

static void
audit_time(char *out, size_t outlen, const ASN1_TIME *t)
{
	struct tm	tm;

	if (t == NULL)
		log_stamp(out, outlen);
	else if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, outlen, "?");
}

static void
audit_subject(json_t *o, const char *key, X509_NAME *name)
{
	char buf[1024];

	pki_name_text(name, buf, sizeof(buf));
	json_set_text(o, key, buf);
}

/*
 * "DNS:", "email:" or "URI:" and the IA5String's bytes through log_quote
 * (printable ASCII but for space, '"' and '\\' kept, any other byte as
 * \xNN): the record
 * shows what the client sent, unambiguously, where OpenSSL's printer turns
 * a NUL, a control or a byte above 0x7f into '.' and jansson drops a
 * string that is not UTF-8. Cut (ending "...") to fit size.
 */
static void
audit_ia5_text(char *out, size_t size, const char *type,
    const ASN1_IA5STRING *s)
{
	size_t	 len = (size_t)ASN1_STRING_length(s);
	size_t	 o = (size_t)snprintf(out, size, "%s:", type);

	/* Room for "..." kept back, as before. */
	if (log_quote(out + o, size - o - 3, ASN1_STRING_get0_data(s), len,
	    LOG_QUOTE_TOKEN) < len)
		strcat(out, "...");
}

/* One SAN as the record names it: "DNS:a.example", "IP:10.1.2.3". */
static void
audit_san_text(char *buf, size_t size, const GENERAL_NAME *gn)
{
	BIO	*bio;
	char	 raw[512];
	size_t	 len;
	int	 n = -1;

	switch (gn->type) {
	case GEN_DNS:
		audit_ia5_text(buf, size, "DNS", gn->d.dNSName);
		return;
	case GEN_EMAIL:
		audit_ia5_text(buf, size, "email", gn->d.rfc822Name);
		return;
	case GEN_URI:
		audit_ia5_text(buf, size, "URI",
		    gn->d.uniformResourceIdentifier);
		return;
	}
	/* OpenSSL prints an otherName's bytes as the client sent them (a
	 * newline would forge a second SAN in the store's one-per-line list,
	 * an ESC reach the operator's terminal): through log_quote's prose
	 * rule like every other outside text. */
	bio = BIO_new(BIO_s_mem());
	if (bio != NULL && GENERAL_NAME_print(bio, (GENERAL_NAME *)gn) == 1)
		n = BIO_read(bio, raw, (int)sizeof(raw));
	BIO_free(bio);
	len = n > 0 ? (size_t)n : 0;
	/* OpenSSL prints "IP Address:"; say "IP:" like "DNS:" and like the
	 * policy's messages. */
	if (len >= 11 && memcmp(raw, "IP Address:", 11) == 0) {
		memmove(raw + 2, raw + 10, len - 10);
		len -= 8;
	}
	if (log_quote(buf, size - 3, raw, len, LOG_QUOTE_PROSE) < len ||
	    n == (int)sizeof(raw))
		strcat(buf, "...");
}

/* The CSR's subjectAltNames, or NULL (freed by the caller). */
static GENERAL_NAMES *
audit_csr_sans(X509_REQ *csr)
{
	STACK_OF(X509_EXTENSION)	*exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES			*sans;

	sans = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) :
	    NULL;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return sans;
}

void
audit_sans_text(X509_REQ *csr, char *out, size_t size)
{
	GENERAL_NAMES	*sans = csr != NULL ? audit_csr_sans(csr) : NULL;
	char		 buf[512];
	size_t		 len = 0;

	out[0] = '\0';
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		audit_san_text(buf, sizeof(buf), sk_GENERAL_NAME_value(sans,
		    i));
		/* A name that does not fit whole is left out, with "...". */
		if (len + strlen(buf) + 5 >= size) {
			snprintf(out + len, size - len, "%s...", len ? "\n" :
			    "");
			break;
		}
		len += (size_t)snprintf(out + len, size - len, "%s%s",
		    len ? "\n" : "", buf);
	}
	GENERAL_NAMES_free(sans);
}

static void
audit_sans(json_t *o, X509_REQ *csr)
{
	GENERAL_NAMES	*sans = audit_csr_sans(csr);
	json_t		*arr = json_array();
	char		 buf[512];

	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		audit_san_text(buf, sizeof(buf), sk_GENERAL_NAME_value(sans,
		    i));
		json_array_append_new(arr, json_string(buf));
	}
	GENERAL_NAMES_free(sans);
	json_object_set_new(o, "sans", arr);
}

static void
audit_key(json_t *o, X509_REQ *csr)
{
	EVP_PKEY	*key = X509_REQ_get0_pubkey(csr);
	char		 buf[80], group[40];
	size_t		 glen = 0;

	if (key == NULL) {
		json_set_text(o, "key", NULL);
		return;
	}
	if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_utf8_string_param(key,
	    "group", group, sizeof(group), &glen) == 1)
		snprintf(buf, sizeof(buf), "EC %s", group);
	else if (EVP_PKEY_is_a(key, "RSA"))
		snprintf(buf, sizeof(buf), "RSA %d", EVP_PKEY_get_bits(key));
	else
		snprintf(buf, sizeof(buf), "%s", EVP_PKEY_get0_type_name(key));
	json_set_text(o, "key", buf);
}

/* Serial and notAfter of the first certificate of a certs-only answer. */
static void
audit_issued(json_t *o, const unsigned char *resp, size_t len)
{
	unsigned char	*der = NULL;
	size_t		 dlen = 0;
	const char	*reason;
	ASN1_INTEGER	*serial = NULL;
	ASN1_TIME	*not_after = NULL;
	BIGNUM		*bn;
	char		 when[40], *hex = NULL;

	if (answer_decode(resp, len, &der, &dlen, &reason) == 0 &&
	    p7_first_cert(der, dlen, &serial, &not_after) == 0) {
		if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) != NULL)
			hex = BN_bn2hex(bn);
		BN_free(bn);
		audit_time(when, sizeof(when), not_after);
		json_set_text(o, "serial", hex);
		json_set_text(o, "not_after", when);
	}
	OPENSSL_free(hex);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(not_after);
	free(der);
}

/* A record with its "time", now. */
static json_t *
audit_record_new(void)
{
	json_t	*o = json_object();
	char	 when[40];

	if (o == NULL)
		return NULL;
	audit_time(when, sizeof(when), NULL);
	json_set_text(o, "time", when);
	return o;
}

/* The record as one line, newline included; o is consumed. */
static char *
audit_record_line(json_t *o)
{
	char *text, *line = NULL;

	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text != NULL && asprintf(&line, "%s\n", text) == -1)
		line = NULL;
	free(text);
	return line;
}

/*
 * "rules": every rule that refused ([] if none). "rule", the first, stays
 * for the readers written before a refusal could name several.
 */
static void
audit_rules(json_t *o, const struct audit_record *r)
{
	json_t	*a = json_array();

	for (size_t i = 0; a != NULL && i < r->nrules; i++)
		json_array_append_new(a, json_string(r->rules[i]));
	if (a != NULL)
		json_object_set_new(o, "rules", a);
}

/* The record without what is read from the CA's answer. */
static json_t *
audit_record_json(const struct audit_record *r)
{
	json_t	*o = audit_record_new();

	if (o == NULL)
		return NULL;
	json_set_text(o, "id", r->request_id);
	json_set_text(o, "peer", r->peer);
	json_set_text(o, "auth", r->auth);
	json_set_text(o, "identity", r->identity);
	json_set_text(o, "label", r->label);
	json_set_text(o, "op", r->op);
	if (r->csr != NULL) {
		audit_subject(o, "subject", X509_REQ_get_subject_name(r->csr));
		audit_sans(o, r->csr);
		audit_key(o, r->csr);
	}
	json_set_text(o, "decision", r->decision);
	json_set_text(o, "rule", r->rule);
	audit_rules(o, r);
	json_set_text(o, "reason", r->reason);
	json_object_set_new(o, "status", json_integer(r->status));
	json_object_set_new(o, "upstream_status", r->upstream_status > 0 ?
	    json_integer(r->upstream_status) : json_null());
	return o;
}

static int
audit_has_issued(const struct audit_record *r)
{
	/* 499: the client left, and response is what the CA answered. */
	return r->response != NULL && ((r->status >= 200 && r->status < 300) ||
	    (r->status == 499 && r->upstream_status >= 200 &&
	    r->upstream_status < 300));
}

char *
audit_format(const struct audit_record *r)
{
	json_t	*o = audit_record_json(r);

	if (o == NULL)
		return NULL;
	if (audit_has_issued(r))
		audit_issued(o, r->response, r->response_len);
	return audit_record_line(o);
}

/* ---- writing ---------------------------------------------------------- */

int
audit_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The log line's "message" for a record: "audit: simpleenroll
 * accepted (200)", "audit: queue entry 7 sent". */
static const char *
audit_get(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "-";
}

static void
audit_message(const json_t *o, char *out, size_t outlen)
{
	if (strcmp(audit_get(o, "event"), "queue") == 0)
		snprintf(out, outlen, "audit: queue entry %" JSON_INTEGER_FORMAT
		    " %s", json_integer_value(json_object_get(o, "queue_id")),
		    audit_get(o, "state"));
	else
		snprintf(out, outlen, "audit: %s %s (%" JSON_INTEGER_FORMAT
		    ")", audit_get(o, "op"), audit_get(o, "decision"),
		    json_integer_value(json_object_get(o, "status")));
}

/*
 * The record on stderr when the log is JSON: a log line like the others
 * (log.h's envelope, "event":{"dataset":"estrad.audit"}) holding the
 * record itself, unchanged, as the object "estrad":{"audit":{...}}, and
 * its request id as "http.request.id", as on the access line, so the two
 * join (room: the record plus 2048 for the rest, whose message is cut
 * to 160 bytes). Out of memory, the record's own line. 0 or -1.
 */
static int
audit_log_json(const char *line)
{
	size_t		 len = strlen(line), size;
	char		*rec, *buf = NULL, msg[160];
	json_t		*o;
	const char	*id;
	struct log_json	 j;
	int		 rc;

	if ((rec = strndup(line, len > 0 && line[len - 1] == '\n' ? len - 1 :
	    len)) == NULL || (buf = malloc(size = len + 2048)) == NULL) {
		free(rec);
		return audit_write_all(STDERR_FILENO, line, len);
	}
	o = json_loads(rec, 0, NULL);
	audit_message(o, msg, sizeof(msg));
	if ((id = json_string_value(json_object_get(o, "id"))) == NULL)
		id = json_string_value(json_object_get(o, "request_id"));
	log_json_start(&j, buf, size, LOG_LEVEL_INFO, msg);
	log_json_object(&j, "event");
	log_json_str(&j, "dataset", "estrad.audit");
	log_json_end(&j);
	if (id != NULL) {
		log_json_object(&j, "http");
		log_json_object(&j, "request");
		log_json_str(&j, "id", id);
		log_json_end(&j);
		log_json_end(&j);
	}
	log_json_object(&j, "estrad");
	log_json_raw(&j, "audit", rec);
	log_json_end(&j);
	rc = log_json_write(&j);
	json_decref(o);
	free(rec);
	free(buf);
	return rc;
}

/* On a worker thread, or on the loop as a fallback. */
static int
audit_write_line(const struct audit *a, const char *line)
{
	int ok = 1;

	if (a->au_fd != -1 && audit_write_all(a->au_fd, line, strlen(line)) == -1)
		ok = 0;
	if (a->au_stderr && (log_json_on() ? audit_log_json(line) :
	    audit_write_all(STDERR_FILENO, line, strlen(line))) == -1)
		ok = 0;
	return ok;
}

static void
audit_work(void *arg)
{
	struct audit_job *job = arg;

	if (job->aj_record != NULL) {
		if (job->aj_response != NULL)
			audit_issued(job->aj_record, job->aj_response,
			    job->aj_response_len);
		job->aj_line = audit_record_line(job->aj_record);
		job->aj_record = NULL;
		if (job->aj_line == NULL) {
			job->aj_ok = 0;
			job->aj_errno = ENOMEM;
			return;
		}
	}
	job->aj_ok = audit_write_line(job->aj_audit, job->aj_line);
	job->aj_errno = errno;
}

static void
audit_job_free(struct audit_job *job)
{
	json_decref(job->aj_record);
	free(job->aj_response);
	free(job->aj_line);
	free(job);
}

static void
audit_done(void *arg)
{
	struct audit_job *job = arg;

	if (!job->aj_ok)
		log_err("audit: cannot write a record: %s",
		    strerror(job->aj_errno));
	if (!job->aj_cancelled)
		job->aj_done(job->aj_arg, job->aj_ok);
	audit_job_free(job);
}

/* The fallback when the worker cannot take a record: a short stall on
 * this thread beats a lost record. line is taken over. */
static void
audit_write_now(const struct audit *a, char *line)
{
	if (line == NULL)
		log_err("audit: cannot format a record: out of memory");
	else if (!audit_write_line(a, line))
		log_err("audit: cannot write a record: %s", strerror(errno));
	free(line);
}

int
audit_submit(struct audit *a, char *line, void (*done)(void *, int),
    void *arg, struct audit_job **out)
{
	struct audit_job *job;

	*out = NULL;
	if (line == NULL || !audit_enabled(a)) {
		free(line);
		return 1;
	}
	if ((job = calloc(1, sizeof(*job))) != NULL) {
		job->aj_audit = a;
		job->aj_line = line;
		job->aj_done = done;
		job->aj_arg = arg;
		if (worker_submit(a->au_worker, audit_work, audit_done, job) ==
		    0) {
			*out = job;
			return 0;
		}
		free(job);
	}
	audit_write_now(a, line);
	return 1;
}

int
audit_submit_record(struct audit *a, const struct audit_record *r,
    void (*done)(void *, int), void *arg, struct audit_job **out)
{
	struct audit_job *job;

	*out = NULL;
	if (!audit_enabled(a))
		return 1;
	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (job->aj_record = audit_record_json(r)) == NULL)
		goto inline_write;
	if (audit_has_issued(r)) {
		if ((job->aj_response = malloc(r->response_len + 1)) == NULL)
			goto inline_write;
		memcpy(job->aj_response, r->response, r->response_len);
		job->aj_response_len = r->response_len;
	}
	job->aj_audit = a;
	job->aj_done = done;
	job->aj_arg = arg;
	if (worker_submit(a->au_worker, audit_work, audit_done, job) == 0) {
		*out = job;
		return 0;
	}
inline_write:
	if (job != NULL)
		audit_job_free(job);
	audit_write_now(a, audit_format(r));
	return 1;
}

void
audit_cancel(struct audit_job *job)
{
	if (job != NULL)
		job->aj_cancelled = 1;
}

int
audit_enabled(const struct audit *a)
{
	return a != NULL && (a->au_fd != -1 || a->au_stderr);
}

struct audit *
audit_new(struct event_base *base, const struct cfg_audit *cfg, char *err,
    size_t errlen)
{
	struct audit *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->au_fd = -1;
	a->au_stderr = cfg->to_stderr;
	/* O_NOFOLLOW: never append, as root, to where a link points. */
	if (cfg->file != NULL && (a->au_fd = open(cfg->file,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		snprintf(err, errlen, "audit file %s: %s", cfg->file,
		    strerror(errno));
		goto fail;
	}
	if (audit_enabled(a) && (a->au_worker = worker_new(base, 1,
	    AUDIT_MAX_QUEUED)) == NULL) {
		snprintf(err, errlen, "audit: cannot start its writer");
		goto fail;
	}
	worker_control(a->au_worker);
	return a;
fail:
	audit_free(a);
	return NULL;
}

void
audit_free(struct audit *a)
{
	if (a == NULL)
		return;
	/* Lines still queued are written before the file closes. */
	worker_free(a->au_worker);
	if (a->au_fd != -1)
		close(a->au_fd);
	free(a);
}

/* ---- store and forward -------------------------------------------------- */

char *
audit_format_queue(const struct store_entry *e, const char *reason)
{
	json_t	*o = audit_record_new();

	if (o == NULL)
		return NULL;
	json_set_text(o, "event", "queue");
	json_object_set_new(o, "queue_id", json_integer(e->id));
	json_set_text(o, "state", queue_state_name(e->state));
	audit_set_any_text(o, "label", e->label[0] != '\0' ? e->label : "-");
	audit_set_any_text(o, "op", e->op);
	audit_set_any_text(o, "identity", e->identity);
	audit_set_any_text(o, "subject", e->subject);
	audit_set_any_text(o, "pubkey_sha256", e->pubkey);
	audit_set_any_text(o, "request_id", e->request_id);
	json_object_set_new(o, "attempts", json_integer(e->attempts));
	json_object_set_new(o, "ca_received", json_integer(e->ca_received));
	json_object_set_new(o, "ca_status", e->ca_status > 0 ?
	    json_integer(e->ca_status) : json_null());
	if (reason != NULL)
		audit_set_any_text(o, "reason", reason);
	else
		json_set_text(o, "reason", NULL);
	return audit_record_line(o);
}
