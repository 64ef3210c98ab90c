/*
 * est_req_int: the request path's private types, shared by est.c (one
 * request's path, est.c's opening comment), est_leave.c (a client that
 * leaves before its answer), est_offline.c (answers without the CA: cache
 * and queue), est_policy.c (the stages that judge a CSR, and the audit
 * record), server.c (what a request runs with) and coap_est.c (a request
 * that came over CoAP, RFC 9148: the same path with another transport).
 * Not for other modules.
 */
#ifndef ESTRAD_EST_REQ_INT_H
#define ESTRAD_EST_REQ_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "estrad/audit.h"
#include "estrad/auth.h"
#include "estrad/config.h"
#include "estrad/csr.h"
#include "estrad/queue.h"
#include "estrad/reply.h"
#include "estrad/router.h"

struct coaps;
struct limiter;

/*
 * Two configs: srv_boot_cfg is the one the server started with. It is
 * read for what only a restart changes (listen, state_dir, cache, queue,
 * admin, auth, audit, the config file's path), and for what a reload must
 * keep (the upstreams and local CAs by name: readiness counts them; the
 * queue and the cache were built from it). srv_cfg is the current one
 * (the last sound reload's): each new request takes a reference on it
 * (rq_cfg).
 */
struct server {
	struct event_base	*srv_base;
	struct config		*srv_boot_cfg;	/* as started: restart-only */
	struct config		*srv_cfg;	/* current: new requests' */
	struct listener		*srv_listener;
	struct coaps		*srv_coap;	/* NULL without "coap" */
	struct upstream_ctx	*srv_upstreams;
	struct store		*srv_store;	/* NULL without state_dir */
	struct pg		*srv_pg;	/* the shared store; NULL
						 * with SQLite (pg.h) */
	struct queue		*srv_queue;
	struct cache		*srv_cache;
	struct auth_ctx		*srv_auth;
	struct localca		**srv_localcas;
	struct audit		*srv_audit;
	struct limiter		**srv_rates;	/* per route of srv_cfg */
	size_t			 srv_nrates;
	uint32_t		 srv_id_prefix;	/* random per process */
	uint64_t		 srv_next_id;
	struct admin		*srv_admin;	/* NULL without "admin" */
	struct loop_lag		*srv_lag;	/* with the admin listener */
	long			 srv_in_flight;	/* requests not yet freed */
	int			 srv_draining;	/* SIGTERM: not accepting */
	int			 srv_stopped;	/* the loop is over: freeing */
	/* Enrollments whose clients left, waiting for the CA's answer. */
	TAILQ_HEAD(, est_req)	 srv_orphans;
};

/*
 * A transport other than evhttp's HTTPS (coap_est.c): how an answer leaves
 * and how the client's TLS session is found. NULL rq_tp: HTTPS.
 */
struct est_req;
struct est_transport {
	const char	*name;		/* "coaps", for the logs */
	/* The answer leaves (rq_tp_code set; est.c then writes the access
	 * line); reply is cleared by est.c after the call. */
	void		(*send)(struct est_req *rq, struct est_reply *reply);
	/* rq is being freed, answered or not. */
	void		(*detach)(struct est_req *rq);
	SSL		*(*ssl)(struct est_req *rq);
};

struct est_req {
	struct server		 *rq_srv;
	const struct est_transport *rq_tp;	/* NULL: HTTPS (evhttp) */
	void			 *rq_tp_arg;	/* the transport's exchange */
	char			  rq_tp_code[8];	/* its answer's code, for the
						 * access line: "4.03" */
	/* The body and its Content-Type as HTTPS carries them (a CoAP
	 * request's DER is made base64 first): the stages read these. */
	struct evbuffer		 *rq_body;
	const char		 *rq_ctype;
	struct evhttp_request	 *rq_http;
	struct evhttp_connection *rq_conn;
	struct event		 *rq_close_watch;
	evutil_socket_t		  rq_close_fd;	/* what the watch watches */
	int			  rq_close_polls;	/* watching by timer */
	int			  rq_peer_eof;	/* client sent FIN: may read */
	int			  rq_orphan;	/* in srv_orphans: client gone,
						 * the CA has the CSR */
	TAILQ_ENTRY(est_req)	  rq_orphans;
	struct upstream_xfer	 *rq_xfer;
	struct auth_job		 *rq_auth_job;
	struct auth_identity	  rq_identity;
	struct csr		 *rq_csr;
	struct audit_job	 *rq_audit_job;
	struct queue_job	 *rq_queue_job;
	struct pg_query		 *rq_pg_query;	/* a stage waiting for the
						 * shared store */
	/* The shared rate count, sent beside the queue's lookup (one round
	 * trip for both) and read by the rate stage (est_policy.c). */
	int			  rq_rate_state;	/* EST_RATE_* */
	int			  rq_rate_waiting;	/* the stage waits */
	int			  rq_rate_away;		/* the store failed */
	int64_t			  rq_rate_count;
	long			  rq_rate_wait;
	char			  rq_rate_name[1024];	/* SHARED_NAME_MAX */
	struct est_reply	  rq_rate_held;	/* a queue answer waiting for
						 * the count to be taken back */
	int			  rq_rate_holding;
	struct queue_key	  rq_qkey;
	int			  rq_queueable;	/* rq_qkey is set */
	int64_t			  rq_deliver;	/* queue entry answered */
	struct est_reply	  rq_reply;	/* held while the audit writes */
	int			  rq_decided;	/* an enrollment decision */
	char			  rq_rule[48];	/* the policy rule that refused */
	char			  rq_rules[AUDIT_RULES_MAX][48]; /* all, rq_rule
						 * the first */
	size_t			  rq_nrules;
	const struct cfg_route	 *rq_backend;
	struct config		 *rq_cfg;	/* a reference: the config the
						 * request started under */
	struct est_route	  rq_route;
	int			  rq_routed;
	int			  rq_close;	/* Connection: close */
	long			  rq_upstream_status;
	struct timespec		  rq_start;
	char			  rq_id[32];
	char			  rq_peer[64];
	char			  rq_peer_addr[48];	/* no port */
	char			  rq_method[12];
	char			  rq_path[128];	/* sanitized, for the log */
	const char		 *rq_tls_version; /* "TLSv1.3" (static) */
	size_t			  rq_body_len;	/* the request's, as read */
};

/* est.c */
/* A request of another transport: counted, timed, with an id and the
 * current config; the caller fills rq_tp, rq_tp_arg, rq_body, rq_ctype,
 * rq_route, rq_peer, rq_peer_addr, rq_method and rq_path. NULL: no memory. */
struct est_req *est_req_new(struct server *srv);
/* The route's checks once rq_route is set (the label's route, method,
 * turned off, body size, media type), then authentication and the rest:
 * every outcome leaves through est_req_answer. */
void est_req_start(struct est_req *rq, enum est_method method);
/*
 * The stages after the offline one (rate, then the backend), and after
 * the rate one (the backend): a stage that waited (for the queue's or
 * the shared store's answer) goes on with these.
 */
void est_req_after_offline(struct est_req *rq);
void est_req_after_rate(struct est_req *rq);
/* The one way out with an answer (audited first when rq_decided). Takes
 * and clears reply. */
void est_req_answer(struct est_req *rq, struct est_reply *reply);
/* rq's access line (and its request metrics) for reply. */
void est_access_log(struct est_req *rq, const struct est_reply *reply);
/* Cancels whatever rq still waits for and frees it; no answer. */
void est_req_free(struct est_req *rq);
/* The audit record (decision "abandoned") of a decided enrollment whose
 * client left; nothing for a request that is not decided. */
void est_audit_abandoned(struct est_req *rq, const struct est_reply *reply);

/* est_access.c */
/* The access line in the JSON format, ms after rq_start (est.c writes
 * the text one). */
void est_access_json(const struct est_req *rq, const struct est_reply *reply,
    double ms);

/* est_leave.c */
enum est_peer {
	EST_PEER_OPEN,		/* no end seen (maybe bytes: a TLS alert, a
				 * next request, which are evhttp's to read) */
	EST_PEER_HALF_CLOSED,	/* FIN: it sends no more, may still read */
	EST_PEER_GONE		/* reset or error: nobody to answer */
};
/* What the client's socket says, from the kernel's TCP state. */
enum est_peer est_peer_state(evutil_socket_t fd);
/* The request now waits for something (a CA, a worker): notice if its
 * client leaves meanwhile. */
void est_req_wait(struct est_req *rq);
/* The client left (its connection or session is gone): an enrollment the
 * CA already has waits for the record (an orphan), anything else is
 * abandoned. */
void est_req_left(struct est_req *rq);
/* A request whose client is gone ends here: cancelled, logged, freed
 * (server_free ends the enrollments still waiting for a CA). */
void est_req_abandon(struct est_req *rq);
/* The CA answered an enrollment whose client had gone (rq_orphan): the
 * answer is written down and dropped. Takes and clears reply. */
void est_req_orphan_end(struct est_req *rq, struct est_reply *reply);

/* est_offline.c */
/* What can be answered without the CA: a cached cacerts/csrattrs, or a
 * queued enrollment this client asks for again. 1 when answered (or
 * waiting for the queue's answer), 0 to go on to the CA. */
int est_answer_offline(struct est_req *rq);
/* Keep the enrollment for later (RFC 7030 §4.2.3): 202 once on disk, else
 * ca_reply (taken and cleared) or the queue's 503. sent: the report of
 * the transfer that failed or got the 202 (NULL: none was sent). */
void est_queue(struct est_req *rq, enum queue_state state,
    struct est_reply *ca_reply, const char *why,
    const struct upstream_report *sent);
/* A CA's cacerts: leaf-only clients of that CA re-enroll (listener.h). */
void est_learn_cacerts(struct est_req *rq, const struct est_reply *reply);

/*
 * est_policy.c: the stages that judge a request with no I/O and no
 * server, so that a unit test can drive them on a hand-built est_req.
 * Each returns 0 to go on, or -1 with reply filled (status and a one-line
 * reason, or csrattrs' answer): est_req_proceed answers it.
 */
/* csrattrs from the route's policy (RFC 7030 §4.5), when the route asks
 * for it: -1 with the answer; 0 for every other request. */
int est_stage_csrattrs(const struct est_req *rq, struct est_reply *reply);
/* The CSR policy, given the client's TLS session and verified
 * certificate (either NULL); fullcmc is refused here unless the route
 * passes it through. A refusal names its rule in rq_rule. */
int est_stage_policy(struct est_req *rq, SSL *ssl, X509 *client_cert,
    struct est_reply *reply);
/* Proof of possession (RFC 7030 §3.4): the CSR's self-signature. */
int est_stage_pop(struct est_req *rq, struct est_reply *reply);
/* USED: the rate stage took the count (this request is a new
 * enrollment: a later 202 of the queue's put keeps it). */
enum { EST_RATE_NONE, EST_RATE_PENDING, EST_RATE_DONE, EST_RATE_USED };
/*
 * On the shared store, send the rate count now, beside the queue's
 * lookup (est_offline.c): both in one round trip. The rate stage then
 * reads it; a lookup that finds the request queued takes it back
 * (est_rate_hold).
 */
void est_rate_prefetch(struct est_req *rq, struct limiter *rate);
/* A queue answer for rq: 1 when it must wait for the early count (kept in
 * rq, answered when the count is back and taken back), else 0 (taken back
 * already if it counted: answer now). Takes reply when 1. */
int est_rate_hold(struct est_req *rq, struct est_reply *reply);
/* The enrollment rate on counter rate (NULL: no rate), once the request
 * is known to be a new one (not a client collecting what the queue holds
 * for it). 0 go on, -1 refused (reply filled), 1 waiting for the shared
 * store (est_req_after_rate or est_req_answer follows). */
int est_stage_rate(struct est_req *rq, struct limiter *rate,
    struct est_reply *reply);
/* rq's audit record for reply; decision NULL: judged from the reply.
 * rec points into rq and reply. */
void est_audit_fill(const struct est_req *rq, const struct est_reply *reply,
    const char *decision, struct audit_record *rec);

/* server.c */
/* The enrollment counter of label's route in the current config, or
 * NULL. */
struct limiter *server_rate(const struct server *srv, const char *label);

#endif
