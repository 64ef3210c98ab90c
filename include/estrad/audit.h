/*
 * audit: one JSON line per enrollment decision, appended to the audit file
 * (and/or stderr) before the client gets its answer. Formatting is pure;
 * the write happens on a worker thread and completes on the event loop, so
 * a slow disk never stalls other requests.
 */
#ifndef ESTRAD_AUDIT_H
#define ESTRAD_AUDIT_H

#include <stddef.h>
#include <event2/event.h>
#include <openssl/x509.h>

#include "estrad/config.h"

struct audit;
struct audit_job;

/* As many as a policy verdict names (POLICY_RULES_MAX). */
#define AUDIT_RULES_MAX	32

struct audit_record {
	const char		*request_id;
	const char		*peer;
	const char		*auth;		/* "digest", "cert", "-" */
	const char		*identity;	/* user or subject, "-" */
	const char		*label;		/* "-" for the bare path */
	const char		*op;
	X509_REQ		*csr;		/* NULL if none was decoded */
	const char		*decision;	/* "accepted", "refused", "failed" */
	const char		*rule;		/* refusing rule, or NULL */
	const char		*reason;
	int			 status;	/* the client's */
	long			 upstream_status;	/* 0: not asked */
	/* On success: the answer's body (base64 certs-only PKCS#7), from
	 * which the issued serial and notAfter are read. */
	const unsigned char	*response;
	size_t			 response_len;
	/* Every refusing rule, rule the first: a policy refusal names each
	 * group of rules the CSR breaks. */
	const char		*rules[AUDIT_RULES_MAX];
	size_t			 nrules;
};

/* NULL on failure with a reason in err; a config without an audit file
 * or stderr gives a disabled audit whose submits complete at once. */
struct audit *audit_new(struct event_base *base, const struct cfg_audit *cfg,
    char *err, size_t errlen);
void audit_free(struct audit *a);
int audit_enabled(const struct audit *a);

/* The JSON line for rec (with "time" now), newline included; malloc'd. */
char *audit_format(const struct audit_record *rec);

/*
 * Write line (taken over). Returns 0 when the write is queued: *job is
 * set and done(arg, ok) follows on the event loop. Returns 1 when the
 * line is already dealt with (audit disabled, or the queue was full and
 * the line was written at once on this thread: a short stall beats a lost
 * record): done is not called, the caller goes on.
 */
int audit_submit(struct audit *a, char *line, void (*done)(void *arg, int ok),
    void *arg, struct audit_job **job);
/*
 * The same for rec, with done and arg as above; the record is finished
 * on the worker (the issued certificate's serial and notAfter are read
 * there, off the event loop). rec and what it points to are copied: they
 * need not outlive the call.
 */
int audit_submit_record(struct audit *a, const struct audit_record *rec,
    void (*done)(void *arg, int ok), void *arg, struct audit_job **job);
/* The request is gone: the line is still written, done is not called. */
void audit_cancel(struct audit_job *job);

struct store_entry;

/*
 * The JSON line (with "time" now, "event":"queue"), newline included, for
 * a store-and-forward entry that changed state: its id, state, key,
 * attempts, how many of them the CA received (ca_received), the CA's last
 * status and reason. Never the CSR or the CA's
 * answer. malloc'd; NULL out of memory.
 */
char *audit_format_queue(const struct store_entry *e, const char *reason);
/* o[key] = value; text that is not UTF-8 goes through log_quote's prose
 * rule (jansson refuses it). For `estrad queue ... --json` too. */
struct json_t;
void audit_set_any_text(struct json_t *o, const char *key,
    const char *value);
/* The CSR's subjectAltNames as the record names them ("DNS:a.example"),
 * one per line, into out; "..." ends a list cut short. "" for none or a
 * NULL csr. */
void audit_sans_text(X509_REQ *csr, char *out, size_t size);

/* write(2) all of buf, through EINTR and short writes. 0 or -1. Blocks:
 * for worker threads and the command line. */
int audit_write_all(int fd, const char *buf, size_t len);

#endif
