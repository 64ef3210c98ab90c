/*
 * upstream_int: the upstream module's own types, shared by its files and
 * nobody else:
 *
 *   upstream.c        libevent <-> curl glue, one transfer, Digest toward
 *                     the CA, the context and reloads
 *   upstream_admit.c  admission: the adaptive limit per URL (conclimit.h),
 *                     the FIFO of requests waiting for a slot, and the 503
 *                     + Retry-After of a request that cannot wait
 *   upstream_refusal.c  a TLS refusal (the CA's alert, or our check of its
 *                     certificate): our configuration, not an outage
 */
#ifndef ESTRAD_UPSTREAM_INT_H
#define ESTRAD_UPSTREAM_INT_H

#include <sys/queue.h>

#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "estrad/backoff.h"
#include "estrad/conclimit.h"
#include "estrad/digest.h"
#include "estrad/reply.h"
#include "estrad/upstream.h"

/* A file's bytes, read once at start-up (curl would read it per
 * connection, on the event loop). */
struct upstream_blob {
	unsigned char	*ub_data;
	size_t		 ub_len;
};

/*
 * The Digest challenges a URL's CA gave, kept to answer later requests at
 * once. Each is lent to one transfer at a time, so its counts reach the
 * CA in the order they were made even over parallel connections (a CA
 * that tracks the highest count, as estrad does, takes a count overtaken
 * by another for a replay, and a failed login). The last one given back
 * is lent first, so few nonces stay in use; beyond UPSTREAM_OFFERS the
 * least recently used is dropped.
 */
#define UPSTREAM_OFFERS	16

struct upstream_url {
	const char		*uu_url;
	struct breaker		 uu_breaker;
	struct conclimit	 uu_limit;	/* how many at once */
	long			 uu_in_flight;	/* sent, not yet ended */
	int64_t			 uu_rtt_us;	/* recent answers' time, EWMA */
	int64_t			 uu_answered_us; /* the CA's last real answer
						  * (not a 502, 503, 504) */
	struct digest_offer	*uu_offers[UPSTREAM_OFFERS];
	size_t			 uu_noffers;
};

/*
 * The files curl is given as blobs (CURL_BLOB_NOCOPY: the key exists in
 * one place only). A SIGHUP reads them anew into a fresh set; transfers
 * set up with the old set hold a reference until they are freed.
 */
struct upstream_creds {
	int			 uc_refs;
	struct upstream_blob	 uc_ca_bundle;
	struct upstream_blob	 uc_cert;
	struct upstream_blob	 uc_key;	/* wiped on free */
};

/*
 * Requests over the limit wait in up_waiting, oldest first, for a slot at
 * the URL they will be sent to (upstream_admit.c).
 */
TAILQ_HEAD(upstream_fifo, upstream_xfer);

struct upstream {
	struct upstream_ctx		*up_ctx;
	const struct cfg_upstream	*up_cfg;
	struct upstream_url		*up_urls;
	size_t				 up_nurls;
	struct backoff_policy		 up_backoff;
	struct upstream_creds		*up_creds;
	struct upstream_fifo		 up_waiting;
	long				 up_nwaiting;
	struct event			*up_dispatch;	/* a slot came free */
	struct event			*up_deadline;	/* the oldest's wait */
	int64_t				 up_promised_us; /* the last Retry-After
							  * given, as a time */
	int64_t				 up_refused_us;	/* when last seen */
	char				 up_refused[512]; /* why the TLS with
							   * the CA fails for
							   * our configuration;
							   * "": it does not */
};

struct upstream_ctx {
	struct event_base	*uc_base;
	CURLM			*uc_multi;
	struct event		*uc_timer;
	struct upstream		*uc_upstreams;
	size_t			 uc_n;
};

struct upstream_tls;

struct upstream_xfer {
	struct upstream_ctx	*ux_ctx;
	struct upstream		*ux_up;
	TAILQ_ENTRY(upstream_xfer) ux_wait;
	int			 ux_waiting;	/* in up_waiting */
	int			 ux_slot;	/* holds one at ux_url */
	int64_t			 ux_queued_us;	/* submitted */
	int64_t			 ux_sent_us;	/* last sent to ux_url */
	int			 ux_alert;	/* the last fatal alert the CA
						 * sent on a connection this
						 * transfer opened */
	int64_t			 ux_alert_us;	/* when; 0: never */
	long			 ux_sent_in_flight; /* ux_url's, then */
	CURL			*ux_easy;
	struct upstream_creds	*ux_creds;	/* a reference */
	size_t			 ux_url;	/* in ux_up->up_urls */
	unsigned		 ux_tried;	/* bit per URL index */
	int			 ux_trial;	/* holds ux_url's trial */
	unsigned		 ux_trial_no;	/* which one (breaker.trials) */
	char			*ux_path;	/* "[label/]operation" */
	enum est_op		 ux_op;
	struct curl_slist	*ux_headers;
	char			 ux_ctype[256];	/* "Content-Type: ..." (POST) */
	struct digest_offer	*ux_offer;	/* lent by ux_url's CA, or NULL */
	struct digest_offer	*ux_fresh;	/* the challenge of a 401 */
	int			 ux_auth_retried; /* at this URL */
	int			 ux_conn_retried; /* on a fresh connection */
	unsigned char		*ux_request;	/* the client's bytes, copied */
	size_t			 ux_request_len;
	struct est_reply	 ux_reply;	/* built as the answer arrives */
	size_t			 ux_body_cap;
	int			 ux_too_large;
	int			 ux_refused;	/* upstream_refusal said so */
	struct upstream_tls	*ux_tls;	/* the connection it opened */
	upstream_done_cb	 ux_done;
	void			*ux_arg;
	char			 ux_error[CURL_ERROR_SIZE];
	char			 ux_status_line[128];	/* the CA's last */
	int			 ux_reached;	/* upstream_report */
	int			 ux_reached_before; /* before this attempt */
	char			 ux_detail[UPSTREAM_DETAIL_MAX];
};

/* upstream.c */
int64_t upstream_now_us(void);
/* Point x at the next URL worth trying, taking a slot there. 0; -1: none
 * is left; -2: curl could not be set up (x holds the slot). */
int upstream_next_url(struct upstream_xfer *x);
/* Send x as set up now. 0, or -1 with a 500 reply. */
int upstream_resend(struct upstream_xfer *x);
/* Hand x's reply to its owner, then free x. */
void upstream_deliver(struct upstream_xfer *x, long status,
    enum upstream_outcome outcome);
/* The URL the next request would be sent to, breakers permitting; -1:
 * every URL's breaker is open. */
int upstream_pick(struct upstream *up, unsigned tried, int64_t now_ms);

/* upstream_admit.c */
int upstream_admit_init(struct upstream_ctx *ctx, struct upstream *up);
void upstream_admit_free(struct upstream *up);
/* Reload: the ceiling (max_in_flight) may have changed. */
void upstream_admit_reload(struct upstream *up);
/*
 * A new transfer, set up but not sent: sent at once if its URL has a free
 * slot, else put in the FIFO. 0; or -1 with *refusal and *outcome filled
 * (503 + Retry-After, BUSY: it could not wait; 502, UNAVAILABLE: every
 * URL is down; 500, ERROR), and x to be freed by the caller (it may hold
 * a slot and a breaker's trial, which upstream_xfer_free gives back).
 */
int upstream_admit(struct upstream_xfer *x, struct est_reply *refusal,
    enum upstream_outcome *outcome);
/* x leaves the FIFO or gives its slot back (cancelled, ended). */
void upstream_admit_leave(struct upstream_xfer *x);
/* x moves to another URL (failover): its slot goes with it. */
void upstream_admit_move(struct upstream_xfer *x, size_t to);
/* An attempt at x's URL ended with the CA's status (0: none), the CA
 * having taken rtt_us over it: teach the URL's limit; busy: it timed out
 * (or got a 503/504) while the CA answered others. */
void upstream_admit_sample(struct upstream_xfer *x, long status,
    int64_t rtt_us, int busy);

/* upstream_refusal.c */
/* Hear the alerts of the connections x opens (CURLOPT_SSL_CTX_FUNCTION). */
int upstream_refusal_opts(CURL *e, struct upstream_xfer *x);
/* x is freed: its connection forgets it. */
void upstream_refusal_detach(struct upstream_xfer *x);
/* 1 when x's attempt failed (code) because the CA refused our TLS, or we
 * its certificate: logged, x's reply a 502, the upstream not ready. */
int upstream_refusal(struct upstream_xfer *x, CURLcode code);
/* A transfer got through (or a reload brought other files): ready. */
void upstream_refusal_clear(struct upstream *up);

#endif
