/*
 * test_pg: src/pg.c's pool against a real PostgreSQL (the pg fixture,
 * tests/integration/pg_pool.sh passes where it is in the environment):
 * pipelined results come back in order and to the right caller, a failing
 * statement takes no other with it, a cancelled query's callback never
 * runs, bytea goes in binary and comes back whole, a connection the server
 * kills fails the queries it carried and is made again, and a query past
 * store.timeout drops its connection instead of hanging.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "estrad/config.h"
#include "estrad/pg.h"
#include "pg_int.h"

struct fixture {
	struct event_base	*base;
	struct cfg_store	 cfg;
	struct pg		*pg;
	char			 conninfo[512];
	char			 password[256];
};

/* What one callback saw. */
struct seen {
	int	 called;
	int	 ok;
	int64_t	 value;
	char	 err[512];
};

static void wait_up_or_why(struct fixture *f, struct pg *pg,
    const char *want);

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

static void
on_result(void *arg, const PGresult *res, const char *err)
{
	struct seen *s = arg;

	s->called++;
	s->ok = res != NULL;
	if (res != NULL && PQntuples(res) > 0)
		s->value = pg_int(res, 0, "v");
	snprintf(s->err, sizeof(s->err), "%s", err != NULL ? err : "");
}

/* Run the loop until every one of seen[0..n) was called, or 15 s. */
static void
run_until(struct fixture *f, struct seen *seen, size_t n)
{
	for (int round = 0; round < 1500; round++) {
		struct timeval	tv = { 0, 10000 };
		size_t		done = 0;

		for (size_t i = 0; i < n; i++)
			done += seen[i].called > 0;
		if (done == n)
			return;
		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	fail_msg("callbacks did not all come within 15 s");
}

/* Run the loop until pg has a connection up, or 15 s. */
static void
wait_available(struct fixture *f)
{
	for (int round = 0; round < 1500 && !pg_available(f->pg); round++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_true(pg_available(f->pg));
}

static int
setup(void **state)
{
	struct fixture	*f;
	const char	*pwfile = getenv("PG_PASSWORD_FILE");
	char		 err[512];
	FILE		*fp;

	*state = NULL;
	if (getenv("PG_PORT") == NULL) {
		fprintf(stderr, "test_pg: PG_PORT is not set: run it through "
		    "tests/integration/pg_pool.sh (the pg fixture)\n");
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	*state = f;	/* teardown frees it, also after a failed setup */
	f->base = event_base_new();
	snprintf(f->conninfo, sizeof(f->conninfo), "host=%s port=%s "
	    "dbname=%s user=%s", env_or("PG_HOST", "127.0.0.1"),
	    getenv("PG_PORT"), env_or("PG_DB", "estrad"),
	    env_or("PG_USER", "estrad"));
	f->cfg.backend = STORE_POSTGRESQL;
	f->cfg.conninfo = f->conninfo;
	if (pwfile != NULL && (fp = fopen(pwfile, "r")) != NULL) {
		if (fgets(f->password, sizeof(f->password), fp) != NULL)
			f->password[strcspn(f->password, "\r\n")] = '\0';
		fclose(fp);
		f->cfg.password = f->password;
	}
	f->cfg.ssl_root_cert = getenv("PG_CA");
	f->cfg.sslmode = f->cfg.ssl_root_cert != NULL ? "verify-full" :
	    "disable";
	f->cfg.connections = 2;
	f->cfg.timeout = 2;
	f->cfg.lease = 60;
	if ((f->pg = pg_new(f->base, &f->cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "test_pg: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	pg_free(f->pg);
	event_base_free(f->base);
	free(f);
	return 0;
}

static int
send_int(struct fixture *f, const char *sql, long v, struct seen *s)
{
	char		 text[32];
	struct pg_param	 p = { text, 0, 0 };
	struct pg_query	*q;

	snprintf(text, sizeof(text), "%ld", v);
	return pg_query(f->pg, sql, &p, 1, on_result, s, &q);
}

/* 200 queries in flight at once over 2 connections: each caller gets its
 * own answer, exactly once (a result handed to the wrong query would
 * carry another multiple of 3). */
static void
test_pipelined_in_order(void **state)
{
	struct fixture	*f = *state;
	struct seen	 seen[200];

	wait_available(f);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 200; i++) {
		assert_int_equal(send_int(f, "SELECT $1::bigint * 3 AS v", i,
		    &seen[i]), 0);
	}
	run_until(f, seen, 200);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(seen[i].called, 1);
		assert_true(seen[i].ok);
		assert_int_equal(seen[i].value, (int64_t)i * 3);
	}
}

/* Division by zero fails that query alone: its neighbours succeed. */
static void
test_error_isolated(void **state)
{
	struct fixture	*f = *state;
	struct seen	 seen[3];

	wait_available(f);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(send_int(f, "SELECT $1::int AS v", 1, &seen[0]), 0);
	assert_int_equal(send_int(f, "SELECT 1 / ($1::int - 2) AS v", 2,
	    &seen[1]), 0);
	assert_int_equal(send_int(f, "SELECT $1::int AS v", 3, &seen[2]), 0);
	run_until(f, seen, 3);
	assert_true(seen[0].ok);
	assert_int_equal(seen[0].value, 1);
	assert_false(seen[1].ok);
	assert_non_null(strstr(seen[1].err, "division by zero"));
	assert_true(seen[2].ok);
	assert_int_equal(seen[2].value, 3);
}

static void
test_cancel(void **state)
{
	struct fixture	*f = *state;
	struct seen	 seen[2];
	struct pg_query	*q;
	char		 one[] = "1";
	struct pg_param	 p = { one, 0, 0 };

	wait_available(f);
	memset(seen, 0, sizeof(seen));
	assert_int_equal(pg_query(f->pg, "SELECT $1::int AS v", &p, 1,
	    on_result, &seen[0], &q), 0);
	pg_cancel(q);
	assert_int_equal(send_int(f, "SELECT $1::int AS v", 2, &seen[1]), 0);
	run_until(f, &seen[1], 1);
	assert_int_equal(seen[0].called, 0);
	assert_true(seen[1].ok);
}

struct bytes_seen {
	int		 called;
	unsigned char	*p;
	size_t		 len;
};

static void
on_bytes(void *arg, const PGresult *res, const char *err)
{
	struct bytes_seen *b = arg;

	b->called = 1;
	assert_non_null(res);
	assert_int_equal(pg_bytea(res, 0, "b", &b->p, &b->len), 0);
}

/* Every byte value, NULs included, in and out unchanged. */
static void
test_bytea_roundtrip(void **state)
{
	struct fixture		*f = *state;
	unsigned char		 in[512];
	struct bytes_seen	 b = { 0, NULL, 0 };
	struct pg_param		 p;
	struct pg_query		*q;

	wait_available(f);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7);
	p.value = (const char *)in;
	p.len = (int)sizeof(in);
	p.binary = 1;
	assert_int_equal(pg_query(f->pg, "SELECT $1::bytea AS b", &p, 1,
	    on_bytes, &b, &q), 0);
	for (int i = 0; i < 1500 && !b.called; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_true(b.called);
	assert_int_equal(b.len, sizeof(in));
	assert_memory_equal(b.p, in, sizeof(in));
	free(b.p);
}

/* The server ends our sessions while a query runs: that query fails
 * with a reason, and the pool connects again by itself. */
static void
test_killed_reconnects(void **state)
{
	struct fixture	*f = *state;
	struct seen	 slow[2], after;
	PGconn		*admin;
	PGresult	*res;
	char		 err[512];

	wait_available(f);
	memset(slow, 0, sizeof(slow));
	memset(&after, 0, sizeof(after));
	/* One on each connection (the pool picks the least loaded). */
	assert_int_equal(send_int(f, "SELECT pg_sleep($1) IS NULL AS v", 1,
	    &slow[0]), 0);
	assert_int_equal(send_int(f, "SELECT pg_sleep($1) IS NULL AS v", 1,
	    &slow[1]), 0);
	{
		struct timeval tv = { 0, 200000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_non_null(admin = pg_connect_blocking(&f->cfg, err,
	    sizeof(err)));
	res = PQexec(admin, "SELECT count(pg_terminate_backend(pid)) FROM "
	    "pg_stat_activity WHERE application_name = 'estrad' AND "
	    "pid <> pg_backend_pid()");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 2);
	PQclear(res);
	PQfinish(admin);
	run_until(f, slow, 2);
	assert_false(slow[0].ok);
	assert_false(slow[1].ok);
	assert_true(slow[0].err[0] != '\0');
	/* Back within the backoff, and usable. */
	wait_available(f);
	assert_int_equal(send_int(f, "SELECT $1::int AS v", 7, &after), 0);
	run_until(f, &after, 1);
	assert_true(after.ok);
	assert_int_equal(after.value, 7);
}

/* store.timeout 2 s: a 4 s query fails at about 2 s, naming the
 * timeout, and the pool reconnects. */
static void
test_timeout_drops(void **state)
{
	struct fixture		*f = *state;
	struct cfg_store	 cfg = f->cfg;
	struct seen		 slow, pid, hung, after;
	struct pg		*pg;
	char			 err[512];

	/* A statement past store.timeout is ended by the server itself
	 * (statement_timeout): it cannot commit later, given up. */
	wait_available(f);
	memset(&slow, 0, sizeof(slow));
	memset(&after, 0, sizeof(after));
	assert_int_equal(send_int(f, "SELECT pg_sleep($1) IS NULL AS v", 4,
	    &slow), 0);
	run_until(f, &slow, 1);
	assert_false(slow.ok);
	assert_non_null(strstr(slow.err, "statement timeout"));
	assert_int_equal(send_int(f, "SELECT $1::int AS v", 8, &after), 0);
	run_until(f, &after, 1);
	assert_true(after.ok);

	/* A backend that answers nothing at all (stopped, as a host lost
	 * without a reset): the pool drops the connection at the timeout. */
	cfg.connections = 1;
	assert_non_null(pg = pg_new(f->base, &cfg, err, sizeof(err)));
	wait_up_or_why(f, pg, NULL);
	assert_true(pg_available(pg));
	memset(&pid, 0, sizeof(pid));
	memset(&hung, 0, sizeof(hung));
	{
		struct pg_query	*q;

		assert_int_equal(pg_query(pg, "SELECT pg_backend_pid() AS v",
		    NULL, 0, on_result, &pid, &q), 0);
		run_until(f, &pid, 1);
		assert_true(pid.ok);
		if (kill((pid_t)pid.value, SIGSTOP) == -1) {
			pg_free(pg);
			skip();	/* the cluster runs as another user */
		}
		assert_int_equal(pg_query(pg, "SELECT 1 AS v", NULL, 0,
		    on_result, &hung, &q), 0);
		run_until(f, &hung, 1);
		kill((pid_t)pid.value, SIGCONT);
	}
	assert_false(hung.ok);
	assert_non_null(strstr(hung.err, "no answer within 2 s"));
	pg_free(pg);
}

/* Nothing listens: pg_query refuses at once, pg_why says why. */
static void
test_unreachable(void **state)
{
	struct fixture		*f = *state;
	struct cfg_store	 cfg = f->cfg;
	struct pg		*pg;
	struct pg_query		*q;
	char			 err[512];

	cfg.conninfo = "host=127.0.0.1 port=1 dbname=estrad user=estrad";
	assert_non_null(pg = pg_new(f->base, &cfg, err, sizeof(err)));
	{
		struct timeval tv = { 0, 300000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_false(pg_available(pg));
	assert_int_equal(pg_query(pg, "SELECT 1", NULL, 0, on_result, NULL,
	    &q), -1);
	assert_non_null(strstr(pg_why(pg), "127.0.0.1:1"));
	assert_null(strstr(pg_why(pg), f->password[0] ? f->password :
	    "\x01"));
	assert_true(pg_retry_after(pg) >= 1);
	pg_free(pg);
}

/*
 * A first host that refuses, then one that answers ("host=a,b", the usual
 * failover list): libpq closes the refused socket and opens the next, most
 * often under the same descriptor number; the pool must watch the new
 * socket, not take it for the one it already watches (epoll forgot the
 * closed one), or it never connects.
 */
static void
test_second_host(void **state)
{
	struct fixture		*f = *state;
	struct cfg_store	 cfg = f->cfg;
	struct pg		*pg;
	char			 conninfo[512], err[512];
	int			 round;

	snprintf(conninfo, sizeof(conninfo), "host=%s,%s port=1,%s "
	    "dbname=%s user=%s", env_or("PG_HOST", "127.0.0.1"),
	    env_or("PG_HOST", "127.0.0.1"), getenv("PG_PORT"),
	    env_or("PG_DB", "estrad"), env_or("PG_USER", "estrad"));
	cfg.conninfo = conninfo;
	cfg.connections = 1;
	cfg.timeout = 5;
	assert_non_null(pg = pg_new(f->base, &cfg, err, sizeof(err)));
	/* Well within store.timeout: a stalled connect takes all of it. */
	for (round = 0; round < 300 && !pg_available(pg); round++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_true(pg_available(pg));
	pg_free(pg);
}

/* Run the loop until pg is up, or why names want, or 10 s. */
static void
wait_up_or_why(struct fixture *f, struct pg *pg, const char *want)
{
	for (int round = 0; round < 1000 && !pg_available(pg) &&
	    (want == NULL || strstr(pg_why(pg), want) == NULL); round++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
}

/*
 * A host given by name ("localhost": the cluster's certificate names it)
 * is resolved off the loop and handed to libpq as hostaddr, host= kept
 * for verify-full's name check: it connects and answers.
 */
static void
test_host_name(void **state)
{
	struct fixture		*f = *state;
	struct cfg_store	 cfg = f->cfg;
	struct pg		*pg;
	struct seen		 s;
	struct pg_query		*q;
	char			 conninfo[512], err[512], seven[] = "7";
	struct pg_param		 p = { seven, 0, 0 };

	snprintf(conninfo, sizeof(conninfo), "host=localhost port=%s "
	    "dbname=%s user=%s", getenv("PG_PORT"), env_or("PG_DB", "estrad"),
	    env_or("PG_USER", "estrad"));
	cfg.conninfo = conninfo;
	cfg.connections = 1;
	memset(&s, 0, sizeof(s));
	assert_non_null(pg = pg_new(f->base, &cfg, err, sizeof(err)));
	wait_up_or_why(f, pg, NULL);
	assert_true(pg_available(pg));
	assert_int_equal(pg_query(pg, "SELECT $1::int AS v", &p, 1, on_result,
	    &s, &q), 0);
	for (int i = 0; i < 1000 && !s.called; i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_true(s.ok);
	assert_int_equal(s.value, 7);
	pg_free(pg);
}

/* A name that does not resolve: not connected, and pg_why says which. */
static void
test_host_unresolved(void **state)
{
	struct fixture		*f = *state;
	struct cfg_store	 cfg = f->cfg;
	struct pg		*pg;
	char			 err[512];

	cfg.conninfo = "host=estrad-no-such-host.invalid port=5432 "
	    "dbname=estrad user=estrad";
	cfg.connections = 1;
	assert_non_null(pg = pg_new(f->base, &cfg, err, sizeof(err)));
	wait_up_or_why(f, pg, "cannot resolve estrad-no-such-host.invalid");
	assert_false(pg_available(pg));
	assert_non_null(strstr(pg_why(pg),
	    "cannot resolve estrad-no-such-host.invalid"));
	pg_free(pg);
}

/* Which conninfos libpq would resolve itself (blocking), table by table. */
static void
test_dns_needed(void **state)
{
	static const struct {
		const char	*conninfo;
		int		 needed;
	} rows[] = {
		{ "host=localhost dbname=estrad", 1 },
		{ "host=db.example.net port=5432", 1 },
		{ "host=127.0.0.1,db.example.net port=1,2", 1 },
		{ "host=127.0.0.1 port=5432", 0 },
		{ "host=::1", 0 },
		{ "host=/var/run/postgresql", 0 },
		{ "host=@abstract", 0 },
		{ "host=db.example.net hostaddr=10.0.0.5", 0 },
		{ "dbname=estrad", 0 },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pg_dns *d = pg_dns_new(f->base, rows[i].conninfo);

		assert_non_null(d);
		if (pg_dns_needed(d) != rows[i].needed)
			fail_msg("%s: needed %d, want %d", rows[i].conninfo,
			    pg_dns_needed(d), rows[i].needed);
		pg_dns_free(d);
	}
}

/* Exec sql on c: 1 when it did. */
static int
exec_ok(PGconn *c, const char *sql)
{
	PGresult	*res = PQexec(c, sql);
	int		 ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
			     PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok;
}

/*
 * A database user without CREATE, on a schema made already (a DBA made
 * it, or estrad ran once as its owner; the least privilege
 * docs/scaling.md asks for): the start's migration finds the schema
 * there and writes nothing. CREATE TABLE IF NOT EXISTS is refused
 * without CREATE even when the table exists, so every start failed.
 */
static void
test_migrate_without_create(void **state)
{
	struct fixture	*f = *state;
	PGconn		*c;
	char		 err[512];
	int		 revoked, rc;

	assert_non_null(c = pg_connect_blocking(&f->cfg, err, sizeof(err)));
	assert_int_equal(pg_schema_migrate(c, err, sizeof(err)), 0);
	/* estrad owns the database, so public's CREATE is its own to
	 * give up for a while. */
	revoked = exec_ok(c, "REVOKE CREATE ON SCHEMA public FROM "
	    "pg_database_owner") && exec_ok(c, "SELECT 1 WHERE NOT "
	    "has_schema_privilege('public', 'CREATE')");
	err[0] = '\0';
	rc = pg_schema_migrate(c, err, sizeof(err));
	assert_true(exec_ok(c, "GRANT CREATE ON SCHEMA public TO "
	    "pg_database_owner"));
	PQfinish(c);
	assert_true(revoked);
	if (rc != 0)
		fail_msg("migrate without CREATE: %s", err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_error_isolated),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bytea_roundtrip),
		cmocka_unit_test(test_killed_reconnects),
		cmocka_unit_test(test_timeout_drops),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_second_host),
		cmocka_unit_test(test_migrate_without_create),
		cmocka_unit_test(test_host_name),
		cmocka_unit_test(test_host_unresolved),
		cmocka_unit_test(test_dns_needed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
