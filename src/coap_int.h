/*
 * coap_int: the CoAP listener's private types, shared by coap.c (the
 * libcoap context on the loop, DTLS, sessions and their limits) and
 * coap_est.c (the RFC 9148 resources: a request in, est.c's path, the
 * answer out). Not for other modules.
 */
#ifndef ESTRAD_COAP_INT_H
#define ESTRAD_COAP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <coap3/coap.h>
#include <openssl/ssl.h>

#include "estrad/config.h"
#include "estrad/router.h"

struct coaps_xchg;

/* One DTLS session's state (its coap_session_t's app data). */
struct coaps_sess {
	struct coaps		*s_cs;
	coap_session_t		*s_session;
	char			 s_peer[64];	/* "ADDR:PORT" */
	char			 s_addr[48];	/* "ADDR" */
	coap_address_t		 s_remote;	/* to ask libcoap if it lives */
	int			 s_ifindex;
	uint64_t		 s_start_ms;	/* for the handshake timeout */
	uint64_t		 s_last_ms;	/* last request or answer: idle */
	int			 s_established;
	int			 s_dropped;	/* disconnected by the sweep */
	TAILQ_HEAD(, coaps_xchg) s_xchgs;	/* waiting for est.c */
	/* The last answer with a body, for its later Block2 blocks (a
	 * client asks for each with a request of its own). */
	char			 s_last_path[112];
	unsigned char		*s_last;
	size_t			 s_last_len;
	int			 s_last_cf;
	int			 s_last_code;
	TAILQ_ENTRY(coaps_sess)	 s_link;
};

/* A resource's user data: the operation, and the label if any. */
struct coaps_res {
	enum est_op		 r_op;
	enum est_method		 r_method;
	int			 r_has_label;
	char			 r_label[EST_LABEL_MAX + 1];
	char			 r_path[112];	/* for the log */
};

struct coaps {
	struct server		*cs_srv;
	struct event_base	*cs_base;
	coap_context_t		*cs_ctx;
	struct event		*cs_io;		/* libcoap's epoll fd */
	struct event		*cs_timer;	/* libcoap's next timeout */
	struct event		*cs_sweep;	/* each second: limits */
	struct coap_block_set	*cs_blocks;
	struct cfg_coap		 cs_cfg;	/* the numbers; listen unused */
	X509_STORE		*cs_trust;	/* client_ca + client_crl */
	STACK_OF(X509)		*cs_chain;	/* the server's intermediates */
	/* Client chains' intermediates (clientchain.h), given to libcoap's
	 * SSL_CTX at the first handshake; NULL once given. */
	STACK_OF(X509)		*cs_client_extra;
	SSL_CTX			*cs_sslctx;	/* the one they went to */
	long			 cs_verify_depth;
	unsigned char		*cs_cert_pem, *cs_key_pem, *cs_ca_pem;
	size_t			 cs_cert_len, cs_key_len, cs_ca_len;
	struct coaps_res	*cs_res;
	size_t			 cs_nres;
	size_t			 cs_nsess;
	TAILQ_HEAD(, coaps_sess) cs_sessions;
	int			 cs_draining;
};

/* coap.c */
uint64_t coaps_now_ms(void);
/* Run libcoap now (after an async was triggered outside its loop). */
void coaps_kick(struct coaps *cs);
/* The session's state, made at its first sight. NULL: no memory. */
struct coaps_sess *coaps_sess_of(struct coaps *cs, coap_session_t *session);
/* The client's (D)TLS session, for est.c's certificate and binding. */
SSL *coaps_ssl(coap_session_t *session);

/* coap_est.c */
/* Register the RFC 9148 resources of cfg's routes (bare and labels). */
int coaps_resources(struct coaps *cs, const struct config *cfg);
/* A session ends: its waiting requests are left (est_req_left). */
void coaps_sess_end(struct coaps_sess *sess, int alive);

#endif
