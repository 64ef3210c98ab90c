/*
 * connlimit: admission by total and per-address counts (table-driven
 * scripts of opens, admits and closes), IPv4 and v4-mapped IPv6 counted as
 * one address, the handshake and request deadlines shutting real sockets
 * down, and the owner's reference released before the last connection
 * closes.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "estrad/connlimit.h"

#include "testpki.h"

#define MAX_CONNS	64

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

/*
 * A script: each step opens a connection and admits it from an address
 * ('+'), or closes the connection opened at step N ('-').
 */
struct step {
	char		 op;		/* '+' open and admit, '-' close */
	const char	*addr;		/* '+': the peer; NULL: no address */
	int		 close;		/* '-': the step whose conn goes */
	enum connlimit_verdict want;	/* '+' */
};

struct script {
	const char	*name;
	long		 max_total, max_per_address;
	struct step	 steps[16];
	size_t		 nsteps;
	const char	*count_addr;	/* at the end: admitted from here */
	long		 want_count;
	size_t		 want_open;
};

static const struct script scripts[] = {
	{ "per address: the fourth from one address is refused", 100, 3, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_PER_ADDRESS },
	    { '+', "10.0.0.2", 0, CONNLIMIT_OK } }, 5, "10.0.0.1", 3, 5 },
	{ "per address: a close makes room", 100, 2, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_PER_ADDRESS },
	    { '-', NULL, 0, 0 },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK } }, 5, "10.0.0.1", 2, 3 },
	{ "a refused connection's close frees nothing of the address", 100, 1, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_PER_ADDRESS },
	    { '-', NULL, 1, 0 },
	    { '+', "10.0.0.1", 0, CONNLIMIT_PER_ADDRESS } },
	    4, "10.0.0.1", 1, 2 },
	{ "IPv4 and its v4-mapped IPv6 form are one address", 100, 2, {
	    { '+', "192.0.2.7", 0, CONNLIMIT_OK },
	    { '+', "::ffff:192.0.2.7", 0, CONNLIMIT_OK },
	    { '+', "192.0.2.7", 0, CONNLIMIT_PER_ADDRESS } },
	    3, "::ffff:192.0.2.7", 2, 3 },
	{ "IPv6 addresses are counted apart", 100, 1, {
	    { '+', "2001:db8::1", 0, CONNLIMIT_OK },
	    { '+', "2001:db8::2", 0, CONNLIMIT_OK },
	    { '+', "2001:db8::1", 0, CONNLIMIT_PER_ADDRESS } },
	    3, "2001:db8::2", 1, 3 },
	{ "total: more than max_total open is refused", 3, 0, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.2", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.3", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.4", 0, CONNLIMIT_TOTAL },
	    { '-', NULL, 3, 0 },
	    { '-', NULL, 0, 0 },
	    { '+', "10.0.0.4", 0, CONNLIMIT_OK } }, 7, "10.0.0.4", 1, 3 },
	{ "total is checked before the address", 2, 1, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.2", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_TOTAL } }, 3, "10.0.0.1", 1, 3 },
	{ "per address 0: no per-address limit", 100, 0, {
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK },
	    { '+', "10.0.0.1", 0, CONNLIMIT_OK } }, 4, "10.0.0.1", 4, 4 },
	{ "no address (getpeername failed): only the total applies", 2, 1, {
	    { '+', NULL, 0, CONNLIMIT_OK },
	    { '+', NULL, 0, CONNLIMIT_OK },
	    { '+', NULL, 0, CONNLIMIT_TOTAL } }, 3, "10.0.0.1", 0, 3 },
};

static void
test_scripts(void **state)
{
	for (size_t i = 0; i < NITEMS(scripts); i++) {
		const struct script	*s = &scripts[i];
		struct event_base	*base = event_base_new();
		struct connlimit	*cl = connlimit_new(base);
		struct connlimit_conn	*conns[16] = { NULL };
		struct sockaddr_storage	 ss;

		print_message("%s\n", s->name);
		assert_non_null(cl);
		connlimit_configure(cl, s->max_total, s->max_per_address, 0, 0,
		    0);
		for (size_t j = 0; j < s->nsteps; j++) {
			const struct step *st = &s->steps[j];

			if (st->op == '-') {
				connlimit_close(conns[st->close]);
				conns[st->close] = NULL;
				continue;
			}
			conns[j] = connlimit_open(cl, NULL);
			assert_non_null(conns[j]);
			if (st->addr != NULL)
				ss = addr(st->addr);
			assert_int_equal(connlimit_admit(conns[j],
			    st->addr ? (struct sockaddr *)&ss : NULL),
			    st->want);
			assert_int_equal(connlimit_dropped(conns[j]),
			    st->want != CONNLIMIT_OK);
		}
		ss = addr(s->count_addr);
		assert_int_equal(connlimit_address_count(cl,
		    (struct sockaddr *)&ss), s->want_count);
		assert_int_equal(connlimit_open_count(cl), s->want_open);
		for (size_t j = 0; j < 16; j++)
			connlimit_close(conns[j]);
		assert_int_equal(connlimit_open_count(cl), 0);
		assert_int_equal(connlimit_address_count(cl,
		    (struct sockaddr *)&ss), 0);
		connlimit_release(cl);
		event_base_free(base);
	}
}

/* Many addresses: the table grows, every count stays right. */
static void
test_many_addresses(void **state)
{
	struct event_base	*base = event_base_new();
	struct connlimit	*cl = connlimit_new(base);
	static struct connlimit_conn *conns[2000];
	struct sockaddr_storage	 ss;
	char			 text[64];

	connlimit_configure(cl, 0, 2, 0, 0, 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(text, sizeof(text), "2001:db8::%x", i / 2);
		ss = addr(text);
		conns[i] = connlimit_open(cl, NULL);
		assert_int_equal(connlimit_admit(conns[i],
		    (struct sockaddr *)&ss), CONNLIMIT_OK);
	}
	for (int i = 0; i < 1000; i++) {
		struct connlimit_conn *extra = connlimit_open(cl, NULL);

		snprintf(text, sizeof(text), "2001:db8::%x", i);
		ss = addr(text);
		assert_int_equal(connlimit_address_count(cl,
		    (struct sockaddr *)&ss), 2);
		assert_int_equal(connlimit_admit(extra,
		    (struct sockaddr *)&ss), CONNLIMIT_PER_ADDRESS);
		connlimit_close(extra);
	}
	for (int i = 0; i < 2000; i += 2)
		connlimit_close(conns[i]);
	ss = addr("2001:db8::7");
	assert_int_equal(connlimit_address_count(cl, (struct sockaddr *)&ss),
	    1);
	for (int i = 1; i < 2000; i += 2)
		connlimit_close(conns[i]);
	assert_int_equal(connlimit_open_count(cl), 0);
	connlimit_release(cl);
	event_base_free(base);
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Run the loop for ms milliseconds. */
static void
run_for(struct event_base *base, long ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event	*stop = evtimer_new(base, stop_loop, base);

	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	event_free(stop);
}

/*
 * A connection as the listener holds it: the server end of a socket pair
 * owned by an SSL, whose socket the deadlines shut down.
 */
struct test_sock {
	int	 sv[2];		/* [0] the server's, [1] the peer's */
	SSL	*ssl;
};

static void
sock_open(struct test_sock *t, SSL_CTX *ctx)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, t->sv), 0);
	assert_non_null(t->ssl = SSL_new(ctx));
	SSL_set_fd(t->ssl, t->sv[0]);
}

static void
sock_close(struct test_sock *t)
{
	SSL_free(t->ssl);
	close(t->sv[0]);
	close(t->sv[1]);
}

/* 1 if the server end was shut (the peer's recv sees the end). */
static int
peer_shut(const struct test_sock *t)
{
	char c;

	return recv(t->sv[1], &c, 1, MSG_DONTWAIT) == 0;
}

/*
 * The deadline: a connection still in its handshake after 600 ms has its
 * socket shut down; one whose handshake finished keeps it, and so does
 * one opened later, until its own deadline.
 */
static void
test_handshake_deadline(void **state)
{
	struct event_base	*base = event_base_new();
	struct connlimit	*cl = connlimit_new(base);
	SSL_CTX			*ctx = SSL_CTX_new(TLS_server_method());
	struct test_sock	 t[3];
	struct connlimit_conn	*c[3];

	connlimit_configure(cl, 0, 0, 600, 0, 0);
	for (int i = 0; i < 3; i++)
		sock_open(&t[i], ctx);
	c[0] = connlimit_open(cl, t[0].ssl);
	c[1] = connlimit_open(cl, t[1].ssl);
	connlimit_handshake_done(c[1]);
	run_for(base, 300);
	c[2] = connlimit_open(cl, t[2].ssl);
	assert_false(peer_shut(&t[0]));
	run_for(base, 450);		/* 750 ms: c[0] is past, c[2] not */
	assert_true(peer_shut(&t[0]));
	assert_true(connlimit_dropped(c[0]));
	assert_false(peer_shut(&t[1]));
	assert_false(peer_shut(&t[2]));
	assert_int_equal(connlimit_timeouts(cl), 1);
	run_for(base, 450);		/* c[2]'s deadline was at 900 ms */
	assert_true(peer_shut(&t[2]));
	assert_false(peer_shut(&t[1]));
	assert_false(connlimit_dropped(c[1]));
	assert_int_equal(connlimit_timeouts(cl), 2);
	/* The owner goes first; the connections follow (evhttp's order at
	 * shutdown), and the last one frees the context. */
	connlimit_release(cl);
	for (int i = 0; i < 3; i++) {
		connlimit_close(c[i]);
		sock_close(&t[i]);
	}
	SSL_CTX_free(ctx);
	event_base_free(base);
}

/*
 * The request deadlines (read_timeout 600 ms, idle_timeout 300 ms): after
 * its handshake, a connection has 600 ms for its first request; none while
 * a request is being answered; after an answer, 900 ms for the next.
 */
static void
test_request_deadlines(void **state)
{
	struct event_base	*base = event_base_new();
	struct connlimit	*cl = connlimit_new(base);
	SSL_CTX			*ctx = SSL_CTX_new(TLS_server_method());
	struct test_sock	 t[3];
	struct connlimit_conn	*c[3];

	connlimit_configure(cl, 0, 0, 3000, 600, 300);
	for (int i = 0; i < 3; i++) {
		sock_open(&t[i], ctx);
		c[i] = connlimit_open(cl, t[i].ssl);
		connlimit_handshake_done(c[i]);
	}
	connlimit_request_read(c[1]);	/* busy: no deadline */
	connlimit_request_read(c[2]);
	connlimit_answered(c[2]);	/* the next request: 900 ms */
	run_for(base, 750);
	assert_true(peer_shut(&t[0]));	/* first request: 600 ms */
	assert_false(peer_shut(&t[1]));
	assert_false(peer_shut(&t[2]));
	run_for(base, 450);			/* 1200 ms */
	assert_true(peer_shut(&t[2]));
	assert_false(peer_shut(&t[1]));
	assert_int_equal(connlimit_timeouts(cl), 2);
	/* A second "handshake done" (TLS 1.3, after the ticket) must not
	 * start a deadline on a connection busy with a request. */
	connlimit_handshake_done(c[1]);
	run_for(base, 750);
	assert_false(peer_shut(&t[1]));
	for (int i = 0; i < 3; i++) {
		connlimit_close(c[i]);
		sock_close(&t[i]);
	}
	connlimit_release(cl);
	SSL_CTX_free(ctx);
	event_base_free(base);
}

static int gate_calls, gate_accepting = 1;

static void
gate(void *arg, int accept)
{
	assert_ptr_equal(arg, &gate_calls);
	gate_calls++;
	gate_accepting = accept;
}

/*
 * The accept gate: with max_total 4 the ceiling is 20 (a reserve of at
 * least 16); accepting pauses at 20 open and resumes below; a reload that
 * raises the limit resumes at once.
 */
static void
test_accept_gate(void **state)
{
	struct event_base	*base = event_base_new();
	struct connlimit	*cl = connlimit_new(base);
	struct connlimit_conn	*c[21];

	assert_int_equal(connlimit_ceiling_for(4), 20);
	assert_int_equal(connlimit_ceiling_for(1000), 1100);
	assert_int_equal(connlimit_ceiling_for(0), 0);
	connlimit_set_gate(cl, gate, &gate_calls);
	connlimit_configure(cl, 4, 0, 0, 0, 0);
	for (int i = 0; i < 19; i++)
		c[i] = connlimit_open(cl, NULL);
	assert_int_equal(gate_calls, 0);
	c[19] = connlimit_open(cl, NULL);
	assert_int_equal(gate_calls, 1);
	assert_int_equal(gate_accepting, 0);
	assert_true(connlimit_paused(cl));
	connlimit_close(c[0]);
	assert_int_equal(gate_calls, 2);
	assert_int_equal(gate_accepting, 1);
	c[0] = connlimit_open(cl, NULL);
	assert_int_equal(gate_accepting, 0);
	connlimit_configure(cl, 100, 0, 0, 0, 0);	/* a reload */
	assert_int_equal(gate_accepting, 1);
	assert_int_equal(gate_calls, 4);
	connlimit_configure(cl, 2, 0, 0, 0, 0);		/* ceiling 18 */
	assert_int_equal(gate_accepting, 0);
	assert_int_equal(gate_calls, 5);
	/* Paused, yet a connection came (netbind's EMFILE pause ended and
	 * switched a listener on): the pause is said again. */
	gate_accepting = 1;
	c[20] = connlimit_open(cl, NULL);
	assert_int_equal(gate_calls, 6);
	assert_int_equal(gate_accepting, 0);
	connlimit_release(cl);			/* no gate after this */
	for (int i = 0; i < 21; i++)
		connlimit_close(c[i]);
	assert_int_equal(gate_calls, 6);
	event_base_free(base);
}

/* No times: no deadline at all. handshake_timeout 0 alone: none for the
 * handshake, but the first request's still runs. */
static void
test_no_deadline(void **state)
{
	struct event_base	*base = event_base_new();
	struct connlimit	*cl = connlimit_new(base);
	SSL_CTX			*ctx = SSL_CTX_new(TLS_server_method());
	struct test_sock	 t;
	struct connlimit_conn	*c;

	connlimit_configure(cl, 0, 0, 0, 0, 0);
	sock_open(&t, ctx);
	c = connlimit_open(cl, t.ssl);
	run_for(base, 50);
	assert_false(peer_shut(&t));
	assert_int_equal(connlimit_timeouts(cl), 0);
	connlimit_close(c);
	connlimit_configure(cl, 0, 0, 0, 100, 0);
	c = connlimit_open(cl, t.ssl);
	run_for(base, 300);
	assert_false(peer_shut(&t));		/* no handshake deadline */
	connlimit_handshake_done(c);
	run_for(base, 300);
	assert_true(peer_shut(&t));		/* the request's: 100 ms */
	assert_int_equal(connlimit_timeouts(cl), 1);
	connlimit_close(c);
	connlimit_release(cl);
	sock_close(&t);
	SSL_CTX_free(ctx);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_many_addresses),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_request_deadlines),
		cmocka_unit_test(test_no_deadline),
		cmocka_unit_test(test_accept_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
