/*
 * est_req: the request path's private types, shared by est.c (lifecycle,
 * routing, authentication, backends) and est_policy.c (the CSR policy,
 * csrattrs from policy, the audit record). Not for other modules.
 */
#ifndef ESTRAD_EST_REQ_H
#define ESTRAD_EST_REQ_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "estrad/audit.h"
#include "estrad/auth.h"
#include "estrad/config.h"
#include "estrad/csr.h"
#include "estrad/queue.h"
#include "estrad/reply.h"
#include "estrad/router.h"

struct limiter;

struct est_server {
	struct event_base	*srv_base;
	struct config		*srv_cfg;	/* what was started with */
	struct config		*srv_pcfg;	/* whose policies apply now */
	struct listener		*srv_listener;
	struct upstream_ctx	*srv_upstreams;
	struct store		*srv_store;	/* NULL without state_dir */
	struct queue		*srv_queue;
	struct cache		*srv_cache;
	struct auth_ctx		*srv_auth;
	struct localca		**srv_localcas;
	struct audit		*srv_audit;
	struct limiter		**srv_rates;	/* per route of srv_pcfg */
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

struct est_req {
	struct est_server	 *rq_srv;
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
	struct queue_key	  rq_qkey;
	int			  rq_queueable;	/* rq_qkey is set */
	int64_t			  rq_deliver;	/* queue entry answered */
	struct est_reply	  rq_reply;	/* held while the audit writes */
	int			  rq_decided;	/* an enrollment decision */
	char			  rq_rule[48];	/* the policy rule that refused */
	void			(*rq_send)(struct est_req *, struct est_reply *);
	const struct cfg_route	 *rq_backend;
	struct config		 *rq_pcfg;	/* a reference: its policies */
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
};

/* The one way out with an answer (audited first when rq_decided).
 * Takes and clears reply. */
void est_req_answer(struct est_req *rq, struct est_reply *reply);
void est_req_fail(struct est_req *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The request waits (a CA, a worker): notice its client leaving. */
void est_req_wait(struct est_req *rq);
/* The client's verified certificate and TLS session, or NULL. */
X509 *est_peer_cert(struct est_req *rq);
struct ssl_st *est_peer_ssl(struct est_req *rq);

/* est_policy.c */
/* The CSR policy (and fullcmc's rate): 0 to go on, -1 after answering. */
int est_stage_policy(struct est_req *rq);
/* The enrollment rate, once the request is known to be a new one (not a
 * client collecting what the queue holds for it): 0, or -1 answered. */
int est_stage_rate(struct est_req *rq);
/* csrattrs answered from the route's policy. */
void est_policy_csrattrs(struct est_req *rq);
/* Write the audit record of rq's decision, then send (est.c's sender). */
void est_audit_then_send(struct est_req *rq, struct est_reply *reply,
    void (*send)(struct est_req *, struct est_reply *));
/* The client left before its decided enrollment was answered. */
void est_audit_abandoned(struct est_req *rq, const struct est_reply *reply);
/* Per-route rate counters for cfg (a reload builds them before it
 * commits); drop frees such a set. */
int est_rates_make(const struct config *cfg, struct limiter ***rates,
    size_t *n);
void est_rates_drop(struct limiter **rates, size_t n);
/* Create and free the server's set (for srv_pcfg). */
int est_rates_new(struct est_server *srv);
void est_rates_free(struct est_server *srv);

#endif
