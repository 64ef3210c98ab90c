/*
 * connlimit: connection counts in all and per source address, and the TLS
 * handshake deadline (see the header for when each applies).
 *
 * Per-address counts live in a chained hash table keyed by the address as
 * 16 bytes (IPv4 as ::ffff:a.b.c.d, so a v4-mapped peer on an IPv6 socket
 * counts with its IPv4 self). The hash is keyhash (SipHash under the
 * process's random key), so which addresses share a chain cannot be
 * chosen from outside; the table grows
 * with its entries, and an entry goes when its count drops to 0, so its
 * size follows the admitted connections, which max_total bounds.
 *
 * Deadlines: a connection waits in one of three lists, by what it waits
 * for (its handshake, its first request, its next request); each list has
 * one duration, so it is in deadline order and only its head matters. One
 * timer, armed for the earliest head, shuts down the connections past
 * their deadline (after a reload changes a duration, a list may be out of
 * order until its older entries go: a later deadline is then late by at
 * most the old duration). A connection busy with a request waits in none:
 * the upstream's timeout bounds that. The socket is shut down, not closed:
 * evhttp owns it, sees the end of the stream and frees the connection the
 * ordinary way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <netinet/in.h>

#include "estrad/connlimit.h"
#include "estrad/keyhash.h"
#include "estrad/log.h"
#include "estrad/metrics.h"
#include "estrad/netbind.h"

#define CONNLIMIT_MIN_BUCKETS	256

struct connlimit_addr {
	struct connlimit_addr	*ca_next;	/* in its bucket */
	unsigned char		 ca_key[16];
	long			 ca_count;
};

enum connlimit_wait {
	CW_NONE,
	CW_HANDSHAKE,		/* accept + handshake_timeout */
	CW_FIRST_REQUEST,	/* handshake + read_timeout */
	CW_NEXT_REQUEST,	/* answer + idle_timeout + read_timeout */
	CW_MAX
};

struct connlimit_conn {
	struct connlimit		*cc_cl;
	SSL				*cc_ssl;
	TAILQ_ENTRY(connlimit_conn)	 cc_waiting;
	enum connlimit_wait		 cc_wait;
	int				 cc_dropped;
	int				 cc_handshaken;
	int64_t				 cc_deadline_ms;	/* monotonic */
	struct connlimit_addr		*cc_addr;	/* admitted under */
};

TAILQ_HEAD(connlimit_list, connlimit_conn);

struct connlimit {
	int			 cl_refs;
	struct event		*cl_timer;	/* NULL once released */
	long			 cl_max_total;
	long			 cl_max_per_address;
	long			 cl_wait_ms[CW_MAX];	/* 0: no deadline */
	int64_t			 cl_armed_ms;	/* the timer's deadline */
	size_t			 cl_open;
	unsigned long		 cl_timeouts;
	struct connlimit_list	 cl_waiting[CW_MAX];
	struct connlimit_addr	**cl_buckets;
	size_t			 cl_nbuckets;	/* a power of two */
	size_t			 cl_naddrs;
	/* Past max_total + cl_reserve open, accepting pauses. */
	void			(*cl_gate)(void *, int);
	void			*cl_gate_arg;
	int			 cl_paused;
	int64_t			 cl_paused_logged_ms;
	struct log_throttle	 cl_drops;	/* the drop lines */
	/* Stopping: no connection waits longer than this for a request. */
	long			 cl_drain_ms;	/* 0: not stopping */
};

/* Milliseconds, 64 bits: a 32-bit long would wrap after 24 days up. */
static int64_t
connlimit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
connlimit_verdict_name(enum connlimit_verdict v)
{
	switch (v) {
	case CONNLIMIT_OK:		return "ok";
	case CONNLIMIT_TOTAL:		return "total";
	case CONNLIMIT_PER_ADDRESS:	return "per_address";
	}
	return "?";
}

/* 0 and the 16-byte key of sa, or -1 for a family without addresses. */
static int
connlimit_key(const struct sockaddr *sa, unsigned char key[16])
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa == NULL)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(key, &sin6->sin6_addr, 16);
		return 0;
	default:
		return -1;
	}
}

static size_t
connlimit_hash(const struct connlimit *cl, const unsigned char key[16])
{
	return (size_t)keyhash(key, 16) & (cl->cl_nbuckets - 1);
}

static struct connlimit_addr **
connlimit_slot(struct connlimit *cl, const unsigned char key[16])
{
	struct connlimit_addr **p = &cl->cl_buckets[connlimit_hash(cl, key)];

	while (*p != NULL && memcmp((*p)->ca_key, key, 16) != 0)
		p = &(*p)->ca_next;
	return p;
}

/* Double the buckets when entries outnumber them; on ENOMEM, keep going
 * with longer chains. */
static void
connlimit_grow(struct connlimit *cl)
{
	struct connlimit_addr	**old = cl->cl_buckets, *a, *next;
	size_t			  n = cl->cl_nbuckets;

	if (cl->cl_naddrs <= n)
		return;
	if ((cl->cl_buckets = calloc(2 * n, sizeof(*old))) == NULL) {
		cl->cl_buckets = old;
		return;
	}
	cl->cl_nbuckets = 2 * n;
	for (size_t i = 0; i < n; i++)
		for (a = old[i]; a != NULL; a = next) {
			size_t b = connlimit_hash(cl, a->ca_key);

			next = a->ca_next;
			a->ca_next = cl->cl_buckets[b];
			cl->cl_buckets[b] = a;
		}
	free(old);
}

static void
connlimit_free(struct connlimit *cl)
{
	struct connlimit_addr *a, *next;

	for (size_t i = 0; i < cl->cl_nbuckets; i++)
		for (a = cl->cl_buckets[i]; a != NULL; a = next) {
			next = a->ca_next;
			free(a);
		}
	free(cl->cl_buckets);
	free(cl);
}

static void
connlimit_unref(struct connlimit *cl)
{
	if (--cl->cl_refs == 0)
		connlimit_free(cl);
}

static void connlimit_on_deadline(evutil_socket_t fd, short what, void *arg);
static void connlimit_gate(struct connlimit *cl);

struct connlimit *
connlimit_new(struct event_base *base)
{
	struct connlimit *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->cl_refs = 1;
	for (int w = 0; w < CW_MAX; w++)
		TAILQ_INIT(&cl->cl_waiting[w]);
	cl->cl_nbuckets = CONNLIMIT_MIN_BUCKETS;
	if ((cl->cl_buckets = calloc(cl->cl_nbuckets,
	    sizeof(*cl->cl_buckets))) == NULL ||
	    (cl->cl_timer = evtimer_new(base, connlimit_on_deadline,
	    cl)) == NULL) {
		free(cl->cl_buckets);
		free(cl);
		return NULL;
	}
	return cl;
}

void
connlimit_configure(struct connlimit *cl, long max_total,
    long max_per_address, long handshake_timeout_ms, long read_timeout_ms,
    long idle_timeout_ms)
{
	cl->cl_max_total = max_total;
	cl->cl_max_per_address = max_per_address;
	cl->cl_wait_ms[CW_HANDSHAKE] = handshake_timeout_ms;
	cl->cl_wait_ms[CW_FIRST_REQUEST] = read_timeout_ms;
	cl->cl_wait_ms[CW_NEXT_REQUEST] = read_timeout_ms > 0 ?
	    idle_timeout_ms + read_timeout_ms : 0;
	connlimit_gate(cl);
}

void
connlimit_set_gate(struct connlimit *cl, void (*gate)(void *, int accept),
    void *arg)
{
	cl->cl_gate = gate;
	cl->cl_gate_arg = arg;
}

long
connlimit_ceiling_for(long max_total)
{
	long reserve = max_total / 10;

	if (max_total <= 0)
		return 0;
	return max_total + (reserve < 16 ? 16 : reserve);
}

long
connlimit_ceiling(const struct connlimit *cl)
{
	return connlimit_ceiling_for(cl->cl_max_total);
}

/*
 * Refusing at the ClientHello needs a ClientHello; connections that send
 * nothing hold a descriptor each until their handshake deadline. Past the
 * ceiling, stop accepting: new connections wait in the kernel's backlog
 * rather than the process running out of descriptors (where libevent's
 * listener would spin on EMFILE).
 */
static void
connlimit_gate(struct connlimit *cl)
{
	long	ceiling = connlimit_ceiling(cl);
	int64_t	now;
	int	pause = ceiling > 0 && cl->cl_open >= (size_t)ceiling;

	if (cl->cl_gate == NULL)
		return;
	/* Paused already: say so again, since netbind's pause after EMFILE
	 * may have switched a listener back on meanwhile (disabling twice
	 * is harmless). */
	if (pause && cl->cl_paused) {
		cl->cl_gate(cl->cl_gate_arg, 0);
		return;
	}
	if (pause == cl->cl_paused)
		return;
	cl->cl_paused = pause;
	cl->cl_gate(cl->cl_gate_arg, !pause);
	now = connlimit_now_ms();
	if (pause && (cl->cl_paused_logged_ms == 0 ||
	    now - cl->cl_paused_logged_ms >= 60000)) {
		log_warn("%zu connections open: not accepting until some close "
		    "(limits.max_connections %ld, plus %ld for connections "
		    "not yet refused)", cl->cl_open, cl->cl_max_total,
		    ceiling - cl->cl_max_total);
		cl->cl_paused_logged_ms = now;
	}
}

int
connlimit_paused(const struct connlimit *cl)
{
	return cl->cl_paused;
}

void
connlimit_release(struct connlimit *cl)
{
	if (cl == NULL)
		return;
	cl->cl_gate = NULL;
	/* The base may be gone by the time the last connection is freed. */
	event_free(cl->cl_timer);
	cl->cl_timer = NULL;
	connlimit_unref(cl);
}

/* Arm the timer for the earliest deadline, unless it is armed for that
 * or an earlier one already. */
static void
connlimit_arm(struct connlimit *cl)
{
	struct connlimit_conn	*c;
	struct timeval		 tv;
	int64_t			 first = 0, ms;

	if (cl->cl_timer == NULL)
		return;
	for (int w = CW_NONE + 1; w < CW_MAX; w++)
		if ((c = TAILQ_FIRST(&cl->cl_waiting[w])) != NULL &&
		    (first == 0 || c->cc_deadline_ms < first))
			first = c->cc_deadline_ms;
	if (first == 0 || (evtimer_pending(cl->cl_timer, NULL) &&
	    cl->cl_armed_ms <= first))
		return;
	ms = first - connlimit_now_ms();
	if (ms < 0)
		ms = 0;
	/* A millisecond more: the deadline is past when the timer fires. */
	tv.tv_sec = (ms + 1) / 1000;
	tv.tv_usec = ((ms + 1) % 1000) * 1000;
	cl->cl_armed_ms = first;
	evtimer_add(cl->cl_timer, &tv);
}

static void
connlimit_unwait(struct connlimit_conn *c)
{
	if (c->cc_wait == CW_NONE)
		return;
	TAILQ_REMOVE(&c->cc_cl->cl_waiting[c->cc_wait], c, cc_waiting);
	c->cc_wait = CW_NONE;
}

/* Wait for w (or for nothing, when w has no duration). */
static void
connlimit_wait(struct connlimit_conn *c, enum connlimit_wait w)
{
	struct connlimit	*cl = c->cc_cl;
	long			 ms = cl->cl_wait_ms[w];

	connlimit_unwait(c);
	if (cl->cl_drain_ms > 0 && (ms <= 0 || ms > cl->cl_drain_ms))
		ms = cl->cl_drain_ms;
	if (c->cc_dropped || ms <= 0 || cl->cl_timer == NULL)
		return;
	c->cc_deadline_ms = connlimit_now_ms() + ms;
	TAILQ_INSERT_TAIL(&cl->cl_waiting[w], c, cc_waiting);
	c->cc_wait = w;
	connlimit_arm(cl);
}

static void
connlimit_peer_text(const struct connlimit_conn *c, const struct sockaddr *sa,
    char *out, size_t outlen)
{
	if (sa != NULL)
		netbind_addr_text(sa, out, outlen);
	else
		netbind_peer_text(c->cc_ssl != NULL ? SSL_get_fd(c->cc_ssl) :
		    -1, out, outlen);
}

/*
 * One line a second at most: a flood of refused connections must not
 * become a flood of log lines. The lines in between are counted.
 */
static void
connlimit_log_drop(struct connlimit_conn *c, const struct sockaddr *sa,
    const char *what)
{
	char peer[80], more[64];

	if (!log_throttle(&c->cc_cl->cl_drops, more, sizeof(more)))
		return;
	connlimit_peer_text(c, sa, peer, sizeof(peer));
	log_warn("connection from %s closed: %s%s", peer, what, more);
}

static void
connlimit_expire(struct connlimit_conn *c)
{
	struct connlimit	*cl = c->cc_cl;
	enum connlimit_wait	 w = c->cc_wait;
	char			 why[128];
	int			 fd;

	connlimit_unwait(c);
	c->cc_dropped = 1;
	if (cl->cl_drain_ms > 0) {
		/* Not a client's fault: no warning, no drop counted. */
		connlimit_peer_text(c, NULL, why, sizeof(why));
		log_debug("connection from %s closed: estrad is stopping and "
		    "no request came", why);
		goto shut;
	}
	cl->cl_timeouts++;
	if (w == CW_HANDSHAKE) {
		metrics_connection_dropped("handshake_timeout");
		snprintf(why, sizeof(why), "TLS handshake not finished in %ld "
		    "ms (limits.handshake_timeout)", cl->cl_wait_ms[w]);
	} else {
		metrics_connection_dropped("request_timeout");
		snprintf(why, sizeof(why), "%s not read in %ld ms "
		    "(limits.%s)", w == CW_FIRST_REQUEST ? "request" :
		    "next request", cl->cl_wait_ms[w], w == CW_FIRST_REQUEST ?
		    "read_timeout" : "idle_timeout + limits.read_timeout");
	}
	connlimit_log_drop(c, NULL, why);
shut:
	/* Cut, but with a close_notify once the handshake is done. */
	netbind_ssl_close_notify(c->cc_ssl);
	if (c->cc_ssl != NULL && (fd = SSL_get_fd(c->cc_ssl)) >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void
connlimit_on_deadline(evutil_socket_t unused, short what, void *arg)
{
	struct connlimit	*cl = arg;
	struct connlimit_conn	*c;
	int64_t			 now = connlimit_now_ms();

	for (int w = CW_NONE + 1; w < CW_MAX; w++)
		while ((c = TAILQ_FIRST(&cl->cl_waiting[w])) != NULL &&
		    c->cc_deadline_ms <= now)
			connlimit_expire(c);
	connlimit_arm(cl);
}

struct connlimit_conn *
connlimit_open(struct connlimit *cl, SSL *ssl)
{
	struct connlimit_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->cc_cl = cl;
	c->cc_ssl = ssl;
	cl->cl_refs++;
	cl->cl_open++;
	connlimit_wait(c, CW_HANDSHAKE);
	connlimit_gate(cl);
	return c;
}

static enum connlimit_verdict
connlimit_refuse(struct connlimit_conn *c, const struct sockaddr *sa,
    enum connlimit_verdict v)
{
	struct connlimit	*cl = c->cc_cl;
	char			 why[128];

	c->cc_dropped = 1;
	connlimit_unwait(c);
	metrics_connection_dropped(connlimit_verdict_name(v));
	if (v == CONNLIMIT_TOTAL)
		snprintf(why, sizeof(why), "%zu connections open "
		    "(limits.max_connections %ld)", cl->cl_open,
		    cl->cl_max_total);
	else
		snprintf(why, sizeof(why), "%ld connections from this address "
		    "(limits.max_connections_per_address)",
		    cl->cl_max_per_address);
	connlimit_log_drop(c, sa, why);
	return v;
}

enum connlimit_verdict
connlimit_admit(struct connlimit_conn *c, const struct sockaddr *sa)
{
	struct connlimit	*cl = c->cc_cl;
	struct connlimit_addr	**slot, *a;
	unsigned char		  key[16];

	if (c->cc_dropped)
		return CONNLIMIT_TOTAL;	/* not reached: the socket is shut */
	if (c->cc_addr != NULL)
		return CONNLIMIT_OK;	/* a second ClientHello (HRR) */
	if (cl->cl_max_total > 0 && cl->cl_open > (size_t)cl->cl_max_total)
		return connlimit_refuse(c, sa, CONNLIMIT_TOTAL);
	if (connlimit_key(sa, key) == -1)
		return CONNLIMIT_OK;
	slot = connlimit_slot(cl, key);
	if ((a = *slot) != NULL && cl->cl_max_per_address > 0 &&
	    a->ca_count >= cl->cl_max_per_address)
		return connlimit_refuse(c, sa, CONNLIMIT_PER_ADDRESS);
	if (a == NULL) {
		/* Out of memory: the address goes uncounted, the total
		 * still holds. */
		if ((a = calloc(1, sizeof(*a))) == NULL)
			return CONNLIMIT_OK;
		memcpy(a->ca_key, key, 16);
		*slot = a;
		cl->cl_naddrs++;
		connlimit_grow(cl);
	}
	a->ca_count++;
	c->cc_addr = a;
	return CONNLIMIT_OK;
}

void
connlimit_handshake_done(struct connlimit_conn *c)
{
	/* Once only: TLS 1.3 reports "done" again after its ticket. */
	if (c->cc_handshaken)
		return;
	c->cc_handshaken = 1;
	connlimit_wait(c, CW_FIRST_REQUEST);
}

void
connlimit_request_read(struct connlimit_conn *c)
{
	connlimit_unwait(c);
}

void
connlimit_answered(struct connlimit_conn *c)
{
	/* Stopping, the answer carries Connection: close and evhttp closes
	 * once it is written: a deadline now could cut a slow reader's
	 * answer (shutdown_timeout bounds the wait instead). */
	if (c->cc_cl->cl_drain_ms > 0) {
		connlimit_unwait(c);
		return;
	}
	connlimit_wait(c, CW_NEXT_REQUEST);
}

int
connlimit_dropped(const struct connlimit_conn *c)
{
	return c->cc_dropped;
}

static void
connlimit_addr_leave(struct connlimit *cl, struct connlimit_addr *a)
{
	struct connlimit_addr **slot;

	if (--a->ca_count > 0)
		return;
	slot = connlimit_slot(cl, a->ca_key);
	*slot = a->ca_next;
	free(a);
	cl->cl_naddrs--;
}

void
connlimit_close(struct connlimit_conn *c)
{
	struct connlimit *cl;

	if (c == NULL)
		return;
	cl = c->cc_cl;
	connlimit_unwait(c);
	if (c->cc_addr != NULL)
		connlimit_addr_leave(cl, c->cc_addr);
	cl->cl_open--;
	free(c);
	connlimit_gate(cl);
	connlimit_unref(cl);
}

void
connlimit_drain(struct connlimit *cl, long grace_ms)
{
	struct connlimit_conn	*c;
	int64_t			 until;

	if (grace_ms <= 0)
		grace_ms = 1;
	cl->cl_drain_ms = grace_ms;
	until = connlimit_now_ms() + grace_ms;
	/* min(deadline, until) keeps each list in deadline order. */
	for (int w = CW_NONE + 1; w < CW_MAX; w++)
		TAILQ_FOREACH(c, &cl->cl_waiting[w], cc_waiting)
			if (c->cc_deadline_ms > until)
				c->cc_deadline_ms = until;
	connlimit_arm(cl);
}

size_t
connlimit_open_count(const struct connlimit *cl)
{
	return cl->cl_open;
}

long
connlimit_address_count(const struct connlimit *cl, const struct sockaddr *sa)
{
	unsigned char		 key[16];
	struct connlimit_addr	*a;

	if (connlimit_key(sa, key) == -1)
		return 0;
	a = *connlimit_slot((struct connlimit *)cl, key);
	return a != NULL ? a->ca_count : 0;
}

unsigned long
connlimit_timeouts(const struct connlimit *cl)
{
	return cl->cl_timeouts;
}
