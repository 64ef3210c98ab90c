/*
 * connlimit: how many client connections the listener holds, in all and
 * per source address, and how long one may take over its TLS handshake.
 *
 * A connection is counted in the total from its accept until it is
 * freed. Its source address is known from its ClientHello on (evhttp
 * makes the TLS bufferevent before it hands over the socket), and that
 * is where it is admitted or refused: before any key exchange, so a
 * refused connection costs no signature.
 *
 * Deadlines, however steadily a client trickles bytes (evhttp's own
 * timeouts only measure silence): the handshake must finish within
 * handshake_timeout of the accept; the first request must be read within
 * read_timeout of the handshake; each next request on the connection
 * within idle_timeout + read_timeout of the previous answer. Past its
 * deadline a connection is shut down.
 *
 * The context is reference-counted: the listener holds one reference and
 * each connection one, since evhttp may free connections after the
 * listener is gone (deferred bufferevent finalizers). Everything runs on
 * the event loop.
 */
#ifndef ESTRAD_CONNLIMIT_H
#define ESTRAD_CONNLIMIT_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

struct connlimit;
struct connlimit_conn;

enum connlimit_verdict {
	CONNLIMIT_OK,
	CONNLIMIT_TOTAL,	/* more than max_total connections open */
	CONNLIMIT_PER_ADDRESS	/* max_per_address admitted already */
};

struct connlimit *connlimit_new(struct event_base *base);
/* 0 for a limit or a time: none. Applies from now on (the counts carry
 * over, deadlines already running keep theirs). */
void connlimit_configure(struct connlimit *cl, long max_total,
    long max_per_address, long handshake_timeout_ms, long read_timeout_ms,
    long idle_timeout_ms);
/*
 * gate(arg, 0) when accepting should pause, gate(arg, 1) when it may go
 * on: at connlimit_ceiling() connections open, max_total plus a reserve
 * (a tenth, at least 16) for connections that have not yet sent the
 * ClientHello at which they would be refused.
 */
void connlimit_set_gate(struct connlimit *cl, void (*gate)(void *, int),
    void *arg);
long connlimit_ceiling(const struct connlimit *cl);	/* 0: none */
long connlimit_ceiling_for(long max_total);
int connlimit_paused(const struct connlimit *cl);
/* Drop the owner's reference (and the gate); connections still open keep
 * theirs. */
void connlimit_release(struct connlimit *cl);

/* Accepted: counted, the handshake deadline runs. ssl (may be NULL in
 * tests) is where the socket is found when the deadline passes. NULL if
 * out of memory. */
struct connlimit_conn *connlimit_open(struct connlimit *cl, SSL *ssl);
/* The ClientHello arrived from sa: admit, or say which limit refuses. A
 * refused connection stays counted in the total until it is closed. */
enum connlimit_verdict connlimit_admit(struct connlimit_conn *c,
    const struct sockaddr *sa);
/* The handshake finished: the first request's deadline runs. */
void connlimit_handshake_done(struct connlimit_conn *c);
/* A whole request was read: no deadline while it is being answered. */
void connlimit_request_read(struct connlimit_conn *c);
/* Its answer went out: the next request's deadline runs. */
void connlimit_answered(struct connlimit_conn *c);
/* 1 if this connection was refused or timed out (already logged). */
int connlimit_dropped(const struct connlimit_conn *c);
/* Gone: uncount and free. */
void connlimit_close(struct connlimit_conn *c);

/*
 * Stopping (SIGTERM): a connection waiting for a request (its first, or
 * the next on a kept-alive connection) or for its handshake waits at most
 * grace_ms more, from now on, and is then shut down quietly (debug line,
 * not counted as a drop). A request that arrives within the grace is
 * read and answered (with Connection: close): a request in transit when
 * the signal came is not cut off, and no idle connection outlives the
 * drain. An answer given during the drain starts no deadline: it carries
 * Connection: close, and evhttp closes once it is written.
 */
void connlimit_drain(struct connlimit *cl, long grace_ms);
size_t connlimit_open_count(const struct connlimit *cl);
/* Admitted connections from sa's address now. */
long connlimit_address_count(const struct connlimit *cl,
    const struct sockaddr *sa);
/* Connections shut down by a deadline since the start. */
unsigned long connlimit_timeouts(const struct connlimit *cl);

const char *connlimit_verdict_name(enum connlimit_verdict v);

#endif
