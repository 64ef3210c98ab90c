/*
 * est_leave: a client that leaves before its answer. While a request
 * waits (for a worker, the queue's writer, the audit log or the CA),
 * est_req_wait() watches its client's socket; what the kernel's TCP state
 * then says (est_peer_state(), which est.c also asks just before it
 * answers) decides whether the request goes on to its answer, ends in
 * est_req_abandon() (cancelled, logged, freed, no answer), or waits as an
 * orphan for the CA's answer, which est_req_orphan_end() writes down. The
 * request itself, its answer and its freeing are est.c's.
 *
 * Leaving is told apart from a half-close where it matters. A client
 * that shuts down only its sending side after a decided enrollment (a
 * FIN; RFC 9112 §9.6 lets either side close, and TLS 1.3 §6.1 closes each
 * direction on its own) may still read: it gets its answer, with
 * Connection: close. A FIN on anything else (cacerts, csrattrs, a request
 * still being authenticated) cancels it, as before: cheap to ask again,
 * and a storm of clients giving up must not keep the CA busy. A reset is
 * gone for every request, and its transfer is cancelled, except an
 * enrollment the CA already has: the CA may issue, so its answer is
 * awaited and goes to the audit log with the serial (decision
 * "abandoned"), never lost from the record (est_req_orphan_end; at a stop
 * server_free writes what is known).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "estrad/log.h"
#include "estrad/netbind.h"
#include "estrad/reply.h"
#include "estrad/router.h"

#include "est_req_int.h"

/*
 * What the client's socket says, from the kernel's TCP state: nothing is
 * read from it (the bytes are evhttp's).
 */
enum est_peer
est_peer_state(evutil_socket_t fd)
{
	struct tcp_info	ti;
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
		return EST_PEER_GONE;
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return EST_PEER_OPEN;
	switch (ti.tcpi_state) {
	case TCP_ESTABLISHED:
		return EST_PEER_OPEN;
	case TCP_CLOSE_WAIT:
		return EST_PEER_HALF_CLOSED;
	default:		/* TCP_CLOSE after a reset, ... */
		return EST_PEER_GONE;
	}
}

/*
 * The client is gone before its answer: cancel, log, free; no reply. When
 * estrad itself is freeing the connection (the loop ended at
 * shutdown_timeout), the access line says so instead of blaming the
 * client.
 */
void
est_req_abandon(struct est_req *rq)
{
	struct est_reply reply;

	memset(&reply, 0, sizeof(reply));
	if (rq->rq_orphan) {
		reply.status = 499;
		snprintf(reply.reason, sizeof(reply.reason), "client closed "
		    "the connection before the answer; estrad stopped before "
		    "the CA answered");
	} else if (rq->rq_srv->srv_stopped) {
		reply.status = 503;
		snprintf(reply.reason, sizeof(reply.reason), "not answered: "
		    "estrad stopped (shutdown_timeout) and closed the "
		    "connection");
	} else {
		reply.status = 499;	/* nginx's "client closed request" */
		snprintf(reply.reason, sizeof(reply.reason),
		    "client closed the connection before the answer");
	}
	est_access_log(rq, &reply);
	est_audit_abandoned(rq, &reply);
	est_req_free(rq);
}

/*
 * The CA answered an enrollment whose client had gone: the answer is
 * written down (the serial, if the CA issued) and dropped.
 */
void
est_req_orphan_end(struct est_req *rq, struct est_reply *reply)
{
	struct est_reply record = *reply, line;

	memset(&line, 0, sizeof(line));
	line.status = record.status = 499;
	snprintf(record.reason, sizeof(record.reason), "client closed the "
	    "connection before the answer; %.120s", reply->reason);
	memcpy(line.reason, record.reason, sizeof(line.reason));
	est_audit_abandoned(rq, &record);
	est_access_log(rq, &line);
	est_reply_clear(reply);
	est_req_free(rq);
}

/* evhttp is freeing the connection under a pending request. */
static void
est_on_conn_close(struct evhttp_connection *conn, void *arg)
{
	struct est_req *rq = arg;

	netbind_close_notify(evhttp_connection_get_bufferevent(conn));
	rq->rq_conn = NULL;
	rq->rq_http = NULL;
	est_req_abandon(rq);
}

static void est_watch_client(struct est_req *rq, int poll);

/*
 * The client is gone: free its connection. Its request ends here, but
 * for an enrollment the CA already has: the CA may issue, so its answer
 * is awaited for the record (the upstream timeout bounds the wait; a
 * stop ends it, server_free).
 */
static void
est_req_gone(struct est_req *rq)
{
	struct evhttp_connection *conn = rq->rq_conn;

	rq->rq_conn = NULL;
	rq->rq_http = NULL;
	evhttp_connection_set_closecb(conn, netbind_on_close, NULL);
	est_req_left(rq);
	evhttp_connection_free(conn);
}

void
est_req_left(struct est_req *rq)
{
	if (rq->rq_xfer != NULL && rq->rq_decided) {
		rq->rq_orphan = 1;
		TAILQ_INSERT_TAIL(&rq->rq_srv->srv_orphans, rq, rq_orphans);
		log_info("request %s: the client left while the CA has its "
		    "%s; its answer goes to the audit log", rq->rq_id,
		    est_op_name(rq->rq_route.op));
	} else
		est_req_abandon(rq);
}

/*
 * The client's socket became readable, or saw its end, while we wait for
 * the CA or a worker (libevent 2.1 stops reading a connection once a
 * request is dispatched, so without this watch nobody would notice), or
 * the poll's second passed. A FIN is all a half-close and a full close
 * show alike (TLS 1.3's close_notify closes one direction too): a
 * decided enrollment is seen through and answered, since its client may
 * be reading and the CA may issue; anything else (cacerts, csrattrs, a
 * request not yet authenticated) is cancelled, as cheap to ask again.
 */
static void
est_on_client_event(evutil_socket_t fd, short what, void *arg)
{
	struct est_req *rq = arg;

	event_free(rq->rq_close_watch);
	rq->rq_close_watch = NULL;
	switch (est_peer_state(rq->rq_close_fd)) {
	case EST_PEER_GONE:
		est_req_gone(rq);
		break;
	case EST_PEER_HALF_CLOSED:
		/* Decided, or its decision's record being written. */
		if (!rq->rq_decided && rq->rq_audit_job == NULL) {
			est_req_gone(rq);
			break;
		}
		rq->rq_peer_eof = 1;
		log_debug("request %s: the client closed its sending side; "
		    "it gets its answer", rq->rq_id);
		break;
	case EST_PEER_OPEN:
		/* Bytes we must not take from evhttp: an fd watch would fire
		 * for them on every turn of the loop (and libevent's epoll
		 * reports a later reset as EV_READ, never EV_CLOSED): ask
		 * the kernel once a second instead. */
		rq->rq_close_polls++;
		est_watch_client(rq, 1);
		break;
	}
}

/* Watch the client's socket (or, with poll, its TCP state each second). */
static void
est_watch_client(struct est_req *rq, int poll)
{
	static const struct timeval	 second = { 1, 0 };
	struct bufferevent		*bev;
	evutil_socket_t			 fd;

	bev = evhttp_connection_get_bufferevent(rq->rq_conn);
	if (bev == NULL || (fd = bufferevent_getfd(bev)) < 0)
		return;
	rq->rq_close_fd = fd;
	/* EV_READ too: a reset alone is no EV_CLOSED to libevent's epoll
	 * (EPOLLHUP|EPOLLERR become EV_READ|EV_WRITE). */
	rq->rq_close_watch = poll ? evtimer_new(rq->rq_srv->srv_base,
	    est_on_client_event, rq) : event_new(rq->rq_srv->srv_base, fd,
	    EV_READ | EV_CLOSED, est_on_client_event, rq);
	if (rq->rq_close_watch != NULL)
		event_add(rq->rq_close_watch, poll ? &second : NULL);
}

/* The request now waits for something (a CA, a worker): notice if its
 * client leaves meanwhile. */
void
est_req_wait(struct est_req *rq)
{
	/* Another transport watches its own clients (coap_est.c). */
	if (rq->rq_close_watch != NULL || rq->rq_orphan || rq->rq_tp != NULL)
		return;
	evhttp_connection_set_closecb(rq->rq_conn, est_on_conn_close, rq);
	if (!rq->rq_peer_eof)
		est_watch_client(rq, rq->rq_close_polls > 0);
}
