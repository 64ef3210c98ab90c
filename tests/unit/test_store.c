/*
 * Store tests, each in its own directory under /tmp: the database is
 * WAL and 0600; rows come back byte for byte (CSRs with NUL bytes); an
 * update never revives a purged row; purge marks, store_purged_ids()
 * deletes, and each purge is an audit line; the lock keeps a second
 * daemon out but not `estrad queue`; a newer schema is refused; the
 * writer keeps submission order on a real event loop; and the command
 * line says what it does, with the exit codes it promises.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "estrad/audit.h"
#include "estrad/config.h"
#include "estrad/queue_cli.h"
#include "estrad/store.h"

#include "testpki.h"

struct fixture {
	char	 dir[64];	/* the test's own, removed after */
	char	 state[96];	/* dir/state: the store's */
	char	 db[128];	/* state/estrad.db */
	char	 audit[128];	/* dir/audit.log */
	char	 err[512];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/estrad.db", f->state);
	snprintf(f->audit, sizeof(f->audit), "%s/audit.log", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testpki_rmtree(f->dir);
	free(f);
	return 0;
}

/* st as `estrad queue` sees it (store_cli over SQLite). */
static const struct store_cli *
as_cli(struct store *st)
{
	static struct store_cli sc;

	store_cli_sqlite(st, &sc);
	return &sc;
}

static struct store *
open_ok(struct fixture *f, int lock)
{
	struct store *st = store_open(f->state, lock, f->err, sizeof(f->err));

	if (st == NULL)
		fail_msg("store_open: %s", f->err);
	return st;
}

/* A second connection, as another process would have. */
static sqlite3 *
peek_open(struct fixture *f)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of sql, as text. */
static void
peek_text(struct fixture *f, const char *sql, char *buf, size_t size)
{
	sqlite3		*db = peek_open(f);
	sqlite3_stmt	*s = NULL;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(buf, size, "%s", sqlite3_column_text(s, 0) ?
		    (const char *)sqlite3_column_text(s, 0) : "(null)");
	else
		snprintf(buf, size, "(no row)");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* The daemon's poll for retry marks (SS_SELECT_RETRY, as store.c writes
 * it) reads the queue_retry index, not the whole table: the index exists
 * (or the statement would not prepare) and EXPLAIN QUERY PLAN names it. */
static int
retry_uses_index(struct fixture *f)
{
	sqlite3		*db = peek_open(f);
	sqlite3_stmt	*s = NULL;
	int		 found = 0;

	assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id "
	    "FROM queue INDEXED BY queue_retry WHERE retry_requested != 0 "
	    "ORDER BY id", -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		found |= sqlite3_column_text(s, 3) != NULL &&
		    strstr((const char *)sqlite3_column_text(s, 3),
		    "queue_retry") != NULL;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return found;
}

static void
peek_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db = peek_open(f);

	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Binary on purpose: NUL bytes and high bytes inside. */
static const unsigned char csr_bytes[] = { 0x30, 0x82, 0x00, 0x00, 0xff,
    0x00, 'a', 0x00 };
static const unsigned char result_bytes[] = { 'M', 'I', 0x00, 'I', 0x0a,
    0x00 };

static void
make_entry(struct store_entry *e, int i, enum queue_state s)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->label, sizeof(e->label), "%s", i % 2 ? "branch" : "");
	snprintf(e->op, sizeof(e->op), "%s", i % 3 ? "simpleenroll" :
	    "simplereenroll");
	snprintf(e->identity, sizeof(e->identity), "digest:user%d", i);
	memset(e->pubkey, 'a' + i % 6, sizeof(e->pubkey) - 1);
	snprintf(e->subject, sizeof(e->subject), "CN=dev%d,O=Example\\, Inc",
	    i);
	snprintf(e->request_id, sizeof(e->request_id), "req-%d", i);
	snprintf(e->content_type, sizeof(e->content_type),
	    "application/pkcs10");
	e->csr_len = sizeof(csr_bytes) - (size_t)(i % 2);
	e->csr = malloc(e->csr_len);
	memcpy(e->csr, csr_bytes, e->csr_len);
	e->state = s;
	e->created = 1700000000 + i;
	e->updated = 1700000100 + i;
	e->expires = 1700086400 + i;
	e->next_attempt = 1700000200 + i;
	e->attempts = i;
	e->ca_status = s == QS_ISSUED ? 200 : s == QS_POLLING ? 202 : 0;
	if (s == QS_ISSUED || s == QS_DELIVERED) {
		snprintf(e->result_type, sizeof(e->result_type),
		    "application/pkcs7-mime; smime-type=certs-only");
		e->result_len = sizeof(result_bytes);
		e->result = malloc(e->result_len);
		memcpy(e->result, result_bytes, e->result_len);
	}
	if (s == QS_POLLING)
		snprintf(e->retry_after, sizeof(e->retry_after), "120");
	snprintf(e->note, sizeof(e->note), "note %d", i);
	snprintf(e->sans, sizeof(e->sans), "DNS:dev%d.example\nIP:10.0.0.%d",
	    i, i);
	e->ca_received = i / 2;
	if (s == QS_PENDING)
		snprintf(e->last_error, sizeof(e->last_error), "https://ca:1/"
		    ".well-known/est: Failed to connect to ca port 1: "
		    "Connection refused");
}

static void
assert_blob(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	assert_int_equal(alen, blen);
	if (alen > 0)
		assert_memory_equal(a, b, alen);
	else
		assert_null(a);
}

static void
assert_entry_equal(const struct store_entry *a, const struct store_entry *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->label, b->label);
	assert_string_equal(a->op, b->op);
	assert_string_equal(a->identity, b->identity);
	assert_string_equal(a->pubkey, b->pubkey);
	assert_string_equal(a->subject, b->subject);
	assert_string_equal(a->request_id, b->request_id);
	assert_string_equal(a->content_type, b->content_type);
	assert_blob(a->csr, a->csr_len, b->csr, b->csr_len);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->updated, b->updated);
	assert_int_equal(a->expires, b->expires);
	assert_int_equal(a->next_attempt, b->next_attempt);
	assert_int_equal(a->attempts, b->attempts);
	assert_int_equal(a->ca_status, b->ca_status);
	assert_string_equal(a->result_type, b->result_type);
	assert_blob(a->result, a->result_len, b->result, b->result_len);
	assert_string_equal(a->retry_after, b->retry_after);
	assert_string_equal(a->note, b->note);
	assert_string_equal(a->sans, b->sans);
	assert_int_equal(a->ca_received, b->ca_received);
	assert_string_equal(a->last_error, b->last_error);
}

/* What store_load_entries() handed over, in order. */
struct loaded {
	struct store_entry	 e[16];
	size_t			 n;
};

static void
load_each(void *arg, struct store_entry *e)
{
	struct loaded *l = arg;

	assert_true(l->n < 16);
	l->e[l->n++] = *e;	/* takes the buffers */
	memset(e, 0, sizeof(*e));
}

static void
load_all(struct fixture *f, struct store *st, struct loaded *l)
{
	memset(l, 0, sizeof(*l));
	if (store_load_entries(st, load_each, l, f->err, sizeof(f->err)) == -1)
		fail_msg("store_load_entries: %s", f->err);
}

static void
loaded_clear(struct loaded *l)
{
	for (size_t i = 0; i < l->n; i++)
		store_entry_clear(&l->e[i]);
	l->n = 0;
}

static int64_t
insert_ok(struct fixture *f, struct store *st, int i, enum queue_state s)
{
	struct store_entry	e;
	int64_t			id;

	make_entry(&e, i, s);
	if (store_insert(st, &e, f->err, sizeof(f->err)) == -1)
		fail_msg("store_insert: %s", f->err);
	id = e.id;
	store_entry_clear(&e);
	return id;
}

/* ---- open --------------------------------------------------------------- */

static void
test_open_wal(void **state)
{
	struct fixture	*f = *state;
	struct store	*st;
	struct stat	 sb;
	char		 buf[64], file[160];

	st = open_ok(f, 1);
	assert_int_equal(stat(f->state, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0077, 0);
	peek_text(f, "PRAGMA journal_mode", buf, sizeof(buf));
	assert_string_equal(buf, "wal");
	peek_text(f, "PRAGMA user_version", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	store_close(st);
	/* Opening again finds the tables there. */
	store_close(open_ok(f, 1));

	/* A state_dir that is a file. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	fclose(fopen(file, "w"));
	assert_null(store_open(file, 1, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "not a directory"));
}

static void
test_schema_newer(void **state)
{
	struct fixture	*f = *state;

	store_close(open_ok(f, 1));
	peek_exec(f, "PRAGMA user_version = 3");
	assert_null(store_open(f->state, 1, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, f->db));
	assert_non_null(strstr(f->err, "schema version 3 is newer"));
}

static void
test_lock(void **state)
{
	struct fixture	*f = *state;
	struct store	*daemon, *cli;
	FILE		*out = tmpfile();

	daemon = open_ok(f, 1);
	insert_ok(f, daemon, 1, QS_PENDING);
	assert_null(store_open(f->state, 1, f->err, sizeof(f->err)));
	assert_non_null(strstr(f->err, "/state/estrad.lock: another estrad "
	    "uses this state_dir"));
	/* `estrad queue` does not lock, and sees the daemon's rows. */
	cli = open_ok(f, 0);
	assert_int_equal(queue_cli_list(as_cli(cli), out, 0, 0, f->err, sizeof(f->err)),
	    1);
	store_close(cli);
	store_close(daemon);
	/* The lock goes with the daemon. */
	store_close(open_ok(f, 1));
	fclose(out);
}

/* ---- the queue ---------------------------------------------------------- */

static void
test_round_trip(void **state)
{
	static const enum queue_state states[] = { QS_PENDING, QS_POLLING,
	    QS_ISSUED, QS_REFUSED, QS_DELIVERED, QS_EXPIRED };
	enum { N = sizeof(states) / sizeof(states[0]) };
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 in[N];
	struct loaded		 l;

	for (size_t i = 0; i < N; i++) {
		make_entry(&in[i], (int)i, states[i]);
		assert_int_equal(store_insert(st, &in[i], f->err,
		    sizeof(f->err)), 0);
		assert_true(in[i].id > 0);
		assert_true(i == 0 || in[i].id > in[i - 1].id);
	}
	store_close(st);
	/* From the file, as after a restart. */
	st = open_ok(f, 1);
	load_all(f, st, &l);
	assert_int_equal(l.n, N);
	for (size_t i = 0; i < N; i++) {
		assert_entry_equal(&l.e[i], &in[i]);
		store_entry_clear(&in[i]);
	}
	loaded_clear(&l);
	store_close(st);
}

static void
test_update(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 e, want;
	struct loaded		 l;

	make_entry(&e, 3, QS_PENDING);
	assert_int_equal(store_insert(st, &e, f->err, sizeof(f->err)), 0);
	/* The CA said 202: the CSR is kept, to be sent again. */
	e.state = QS_POLLING;
	assert_int_equal(store_update(st, &e, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_entry_copy(&want, &e), 0);
	load_all(f, st, &l);
	assert_int_equal(l.n, 1);
	assert_entry_equal(&l.e[0], &want);
	loaded_clear(&l);
	/* The CA issued. */
	e.state = want.state = QS_ISSUED;
	e.updated = want.updated = 1800000000;
	e.attempts = want.attempts = 4;
	e.ca_status = want.ca_status = 200;
	e.next_attempt = want.next_attempt = 0;
	snprintf(e.result_type, sizeof(e.result_type), "application/x");
	snprintf(want.result_type, sizeof(want.result_type), "application/x");
	e.result = malloc(sizeof(result_bytes));
	memcpy(e.result, result_bytes, sizeof(result_bytes));
	e.result_len = sizeof(result_bytes);
	want.result = malloc(sizeof(result_bytes));
	memcpy(want.result, result_bytes, sizeof(result_bytes));
	want.result_len = sizeof(result_bytes);
	snprintf(e.note, sizeof(e.note), "issued");
	snprintf(want.note, sizeof(want.note), "issued");
	/* The key is not rewritten; the CSR, no longer needed (it may
	 * carry a challengePassword), is dropped. */
	snprintf(e.identity, sizeof(e.identity), "digest:mallory");
	free(want.csr);
	want.csr = NULL;
	want.csr_len = 0;
	assert_int_equal(store_update(st, &e, f->err, sizeof(f->err)), 0);
	load_all(f, st, &l);
	assert_int_equal(l.n, 1);
	assert_entry_equal(&l.e[0], &want);
	loaded_clear(&l);
	/* No such row. */
	e.id += 100;
	assert_int_equal(store_update(st, &e, f->err, sizeof(f->err)), 1);
	/* A state that has no name is an error, not a row of garbage. */
	e.id -= 100;
	e.state = QS_MAX;
	assert_int_equal(store_update(st, &e, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "bad state"));
	store_entry_clear(&e);
	store_entry_clear(&want);
	store_close(st);
}

/* The operator purged the row while the daemon held it: the daemon's
 * next update must not bring it back. */
static void
test_update_purged(void **state)
{
	struct fixture		*f = *state;
	struct store		*daemon = open_ok(f, 1), *cli;
	struct store_entry	 e;
	char			 buf[256];

	make_entry(&e, 1, QS_PENDING);
	assert_int_equal(store_insert(daemon, &e, f->err, sizeof(f->err)), 0);
	cli = open_ok(f, 0);
	assert_int_equal(queue_cli_purge(as_cli(cli), e.id, NULL, f->err,
	    sizeof(f->err)), 1);
	store_close(cli);
	e.state = QS_ISSUED;
	e.attempts = 9;
	assert_int_equal(store_update(daemon, &e, f->err, sizeof(f->err)), 1);
	peek_text(f, "SELECT state || ' ' || attempts || ' ' || note "
	    "FROM queue", buf, sizeof(buf));
	assert_string_equal(buf, "purged 1 purged by the operator");
	store_entry_clear(&e);
	store_close(daemon);
}

static int
count_lines(const char *path)
{
	FILE	*fp = fopen(path, "r");
	int	 c, n = 0;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

/* Every line of the audit file: one JSON object, a purge record. */
static void
check_audit_purged(const char *path, const int64_t *ids, int n)
{
	FILE		*fp = fopen(path, "r");
	char		 line[4096];
	json_t		*o;
	json_error_t	 jerr;
	int		 i = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		assert_true(i < n);
		assert_non_null(strchr(line, '\n'));
		assert_non_null(strstr(line, "\"state\":\"purged\""));
		assert_non_null(o = json_loads(line, 0, &jerr));
		assert_string_equal(json_string_value(json_object_get(o,
		    "event")), "queue");
		assert_int_equal(json_integer_value(json_object_get(o,
		    "queue_id")), ids[i]);
		assert_string_equal(json_string_value(json_object_get(o,
		    "reason")), "purged by the operator");
		/* Never the CSR nor the CA's answer. */
		assert_null(json_object_get(o, "csr"));
		assert_null(json_object_get(o, "result"));
		json_decref(o);
		i++;
	}
	assert_int_equal(i, n);
	fclose(fp);
}

static void
test_purge(void **state)
{
	struct fixture	*f = *state;
	struct store	*st = open_ok(f, 1);
	int64_t		 a, b, c, done, *ids = NULL;
	size_t		 n = 99;

	a = insert_ok(f, st, 1, QS_PENDING);
	b = insert_ok(f, st, 2, QS_POLLING);
	c = insert_ok(f, st, 3, QS_ISSUED);
	done = insert_ok(f, st, 4, QS_DELIVERED);

	/* Unknown, and finished: neither can be purged. */
	assert_int_equal(queue_cli_purge(as_cli(st), 999, f->audit, f->err,
	    sizeof(f->err)), -1);
	assert_string_equal(f->err, "no active queue entry 999");
	assert_int_equal(queue_cli_purge(as_cli(st), done, f->audit, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "no active queue entry"));
	assert_int_equal(count_lines(f->audit), 0);
	/* An audit file that cannot be opened stops the purge. */
	assert_int_equal(queue_cli_purge(as_cli(st), a, f->dir, f->err,
	    sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "audit file"));

	/* One, then all the others that are active. */
	assert_int_equal(queue_cli_purge(as_cli(st), b, f->audit, f->err,
	    sizeof(f->err)), 1);
	assert_int_equal(queue_cli_purge(as_cli(st), b, f->audit, f->err,
	    sizeof(f->err)), -1);
	assert_int_equal(queue_cli_purge(as_cli(st), 0, f->audit, f->err,
	    sizeof(f->err)), 2);
	assert_int_equal(queue_cli_purge(as_cli(st), 0, f->audit, f->err,
	    sizeof(f->err)), 0);
	check_audit_purged(f->audit, (int64_t[]){ b, a, c }, 3);

	/* The daemon learns of them, once. */
	assert_int_equal(store_purged_ids(st, &ids, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], b);
	assert_int_equal(ids[2], c);
	free(ids);
	assert_int_equal(store_purged_ids(st, &ids, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_null(ids);
	store_close(st);
}

/* Purged rows never come back through a restart either. */
static void
test_load_skips_purged(void **state)
{
	struct fixture	*f = *state;
	struct store	*st = open_ok(f, 1);
	struct loaded	 l;
	char		 buf[64];
	int64_t		 a;

	a = insert_ok(f, st, 1, QS_PENDING);
	insert_ok(f, st, 2, QS_PENDING);
	assert_int_equal(queue_cli_purge(as_cli(st), a, NULL, f->err,
	    sizeof(f->err)), 1);
	load_all(f, st, &l);
	assert_int_equal(l.n, 1);
	assert_int_not_equal(l.e[0].id, a);
	loaded_clear(&l);
	peek_text(f, "SELECT count(*) FROM queue", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	store_close(st);
}

static void
test_delete_done(void **state)
{
	static const struct {
		enum queue_state	 s;
		int64_t			 expires;
		int			 deleted;
	} rows[] = {
		{ QS_PENDING,	100, 0 },	/* active: queue.c expires it */
		{ QS_ISSUED,	100, 0 },
		{ QS_DELIVERED,	100, 1 },
		{ QS_DELIVERED,	101, 1 },	/* expires == now */
		{ QS_DELIVERED,	102, 0 },
		{ QS_EXPIRED,	 50, 1 },
		{ QS_PURGED,	 50, 1 },
	};
	enum { N = sizeof(rows) / sizeof(rows[0]) };
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 e;
	struct loaded		 l;
	int			 kept = 0;

	for (int i = 0; i < N; i++) {
		make_entry(&e, i, rows[i].s);
		e.expires = rows[i].expires;
		assert_int_equal(store_insert(st, &e, f->err, sizeof(f->err)),
		    0);
		store_entry_clear(&e);
		kept += !rows[i].deleted;
	}
	assert_int_equal(store_delete_done(st, 101, f->err, sizeof(f->err)),
	    N - kept);
	assert_int_equal(store_delete_done(st, 101, f->err, sizeof(f->err)),
	    0);
	load_all(f, st, &l);
	assert_int_equal(l.n, kept);
	for (size_t i = 0; i < l.n; i++)
		assert_true(queue_state_active(l.e[i].state) ||
		    l.e[i].expires > 101);
	loaded_clear(&l);
	store_close(st);
}

static void
test_entry_copy(void **state)
{
	struct store_entry	a, b;

	make_entry(&a, 2, QS_ISSUED);
	assert_int_equal(store_entry_copy(&b, &a), 0);
	assert_ptr_not_equal(a.csr, b.csr);
	assert_ptr_not_equal(a.result, b.result);
	assert_entry_equal(&a, &b);
	store_entry_clear(&a);
	assert_null(a.csr);
	assert_int_equal(a.csr_len, 0);
	assert_int_equal(a.id, 0);
	assert_memory_equal(b.csr, csr_bytes, b.csr_len);
	store_entry_clear(&b);
}

/* ---- the cache ---------------------------------------------------------- */

struct cached_rows {
	struct store_cached	 c[8];
	size_t			 n;
};

static void
cached_each(void *arg, struct store_cached *c)
{
	struct cached_rows *r = arg;

	assert_true(r->n < 8);
	r->c[r->n++] = *c;
	memset(c, 0, sizeof(*c));
}

static void
put_cached(struct fixture *f, struct store *st, const char *label,
    const char *op, int status, const char *body, size_t len, int64_t when)
{
	struct store_cached c;

	memset(&c, 0, sizeof(c));
	snprintf(c.label, sizeof(c.label), "%s", label);
	snprintf(c.op, sizeof(c.op), "%s", op);
	snprintf(c.source, sizeof(c.source), "ca1/%s", label);
	snprintf(c.content_type, sizeof(c.content_type), "application/x");
	c.status = status;
	c.body = (unsigned char *)body;
	c.body_len = len;
	c.fetched = when;
	if (store_put_cached(st, &c, f->err, sizeof(f->err)) == -1)
		fail_msg("store_put_cached: %s", f->err);
}

static void
test_cache(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct cached_rows	 r = { .n = 0 };

	put_cached(f, st, "", "cacerts", 200, "old", 3, 10);
	put_cached(f, st, "", "cacerts", 200, "n\0ew", 4, 20);	/* replaces */
	put_cached(f, st, "branch", "csrattrs", 204, NULL, 0, 30);
	store_close(st);
	st = open_ok(f, 1);
	assert_int_equal(store_load_cached(st, cached_each, &r, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.c[0].label, "");
	assert_string_equal(r.c[0].op, "cacerts");
	assert_string_equal(r.c[0].source, "ca1/");
	assert_string_equal(r.c[0].content_type, "application/x");
	assert_int_equal(r.c[0].status, 200);
	assert_int_equal(r.c[0].body_len, 4);
	assert_memory_equal(r.c[0].body, "n\0ew", 4);
	assert_int_equal(r.c[0].fetched, 20);
	assert_string_equal(r.c[1].label, "branch");
	assert_int_equal(r.c[1].status, 204);
	assert_null(r.c[1].body);
	assert_int_equal(r.c[1].body_len, 0);
	for (size_t i = 0; i < r.n; i++)
		store_cached_clear(&r.c[i]);
	store_close(st);
}

/* ---- the writer --------------------------------------------------------- */

struct wjob {
	struct store_entry	 e;
	int			 rc;
	int			*work_order;	/* shared counters */
	int			*done_order;
	int			 worked_as;	/* its place in each order */
	int			 done_as;
	int			 want;		/* done callbacks in all */
	struct event_base	*base;
	char			 err[256];
};

static void
wjob_work(struct store *st, void *arg)
{
	struct wjob *j = arg;

	j->worked_as = (*j->work_order)++;
	j->rc = store_insert(st, &j->e, j->err, sizeof(j->err));
}

static void
wjob_done(void *arg)
{
	struct wjob *j = arg;

	j->done_as = (*j->done_order)++;
	if (*j->done_order == j->want && j->base != NULL)
		event_base_loopbreak(j->base);
}

static void
test_writer(void **state)
{
	enum { N = 50 };
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct event_base	*base = event_base_new();
	struct wjob		 jobs[N + 1];
	struct timeval		 limit = { 10, 0 };
	char			 buf[32];
	int			 worked = 0, done = 0;

	assert_non_null(base);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i <= N; i++) {
		make_entry(&jobs[i].e, i, QS_PENDING);
		jobs[i].work_order = &worked;
		jobs[i].done_order = &done;
		jobs[i].want = N;
		jobs[i].base = base;
	}
	/* Not started: refused, nothing runs. */
	assert_int_equal(store_submit(st, wjob_work, wjob_done, &jobs[0]), -1);
	assert_int_equal(store_writer_start(st, base), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(store_submit(st, wjob_work, wjob_done,
		    &jobs[i]), 0);
	assert_int_equal(event_base_loopexit(base, &limit), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_true(event_base_got_break(base));
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].rc, 0);
		assert_int_equal(jobs[i].worked_as, i);
		assert_int_equal(jobs[i].done_as, i);
		assert_true(i == 0 || jobs[i].e.id > jobs[i - 1].e.id);
	}
	/* store_close() finishes a job still in hand, done included. */
	jobs[N].want = N + 1;
	jobs[N].base = NULL;
	assert_int_equal(store_submit(st, wjob_work, wjob_done, &jobs[N]), 0);
	store_close(st);
	assert_int_equal(done, N + 1);
	assert_int_equal(jobs[N].rc, 0);

	peek_text(f, "SELECT count(*) FROM queue", buf, sizeof(buf));
	assert_int_equal(atoi(buf), N + 1);
	for (int i = 0; i <= N; i++)
		store_entry_clear(&jobs[i].e);
	event_base_free(base);
}

/* ---- names -------------------------------------------------------------- */

static void
test_state_names(void **state)
{
	static const struct {
		enum queue_state	 s;
		const char		*name;
		int			 active;
	} t[] = {
		{ QS_PENDING,	"pending",	1 },
		{ QS_POLLING,	"polling",	1 },
		{ QS_ISSUED,	"issued",	1 },
		{ QS_REFUSED,	"refused",	1 },
		{ QS_DELIVERED,	"delivered",	0 },
		{ QS_EXPIRED,	"expired",	0 },
		{ QS_PURGED,	"purged",	0 },
	};

	assert_int_equal(sizeof(t) / sizeof(t[0]), QS_MAX);
	for (size_t i = 0; i < QS_MAX; i++) {
		assert_string_equal(queue_state_name(t[i].s), t[i].name);
		assert_int_equal(queue_state_from_name(t[i].name), t[i].s);
		assert_int_equal(queue_state_active(t[i].s), t[i].active);
	}
	assert_null(queue_state_name(QS_MAX));
	assert_int_equal(queue_state_from_name("Pending"), QS_MAX);
	assert_int_equal(queue_state_from_name(""), QS_MAX);
	assert_int_equal(queue_state_from_name(NULL), QS_MAX);
	assert_false(queue_state_active(QS_MAX));
}

/* ---- audit -------------------------------------------------------------- */

static void
test_audit_format(void **state)
{
	struct store_entry	 e;
	json_t			*o;
	json_error_t		 jerr;
	char			*line;

	make_entry(&e, 2, QS_POLLING);
	e.id = 42;
	/* Not UTF-8: kept, with '?' for the bad bytes. */
	snprintf(e.identity, sizeof(e.identity), "cert:CN=caf\xe9");
	assert_non_null(line = audit_format_queue(&e, "the CA said 202"));
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
	assert_non_null(o = json_loads(line, 0, &jerr));
	assert_string_equal(json_string_value(json_object_get(o, "event")),
	    "queue");
	assert_int_equal(json_integer_value(json_object_get(o, "queue_id")),
	    42);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	    "polling");
	assert_string_equal(json_string_value(json_object_get(o, "label")),
	    "-");
	assert_string_equal(json_string_value(json_object_get(o, "identity")),
	    "cert:CN=caf\\xe9");
	assert_string_equal(json_string_value(json_object_get(o,
	    "pubkey_sha256")), e.pubkey);
	assert_string_equal(json_string_value(json_object_get(o,
	    "request_id")), "req-2");
	assert_int_equal(json_integer_value(json_object_get(o, "attempts")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(o,
	    "ca_received")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "ca_status")),
	    202);
	assert_string_equal(json_string_value(json_object_get(o, "reason")),
	    "the CA said 202");
	assert_non_null(json_object_get(o, "time"));
	json_decref(o);
	free(line);

	e.ca_status = 0;
	assert_non_null(line = audit_format_queue(&e, NULL));
	assert_non_null(strstr(line, "\"ca_status\":null"));
	assert_non_null(strstr(line, "\"reason\":null"));
	free(line);
	store_entry_clear(&e);
}

/* ---- the command line --------------------------------------------------- */

static char *
read_file(FILE *fp)
{
	long	 len;
	char	*buf;

	fflush(fp);
	len = ftell(fp);
	rewind(fp);
	assert_non_null(buf = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
	return buf;
}

static void
test_cli_list(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 e;
	FILE			*out;
	char			*text;

	make_entry(&e, 2, QS_PENDING);
	e.created = (int64_t)time(NULL) - 192;
	/* Client text with a terminal escape in it. */
	snprintf(e.identity, sizeof(e.identity), "digest:ev\x1b[31mil");
	assert_int_equal(store_insert(st, &e, f->err, sizeof(f->err)), 0);
	store_entry_clear(&e);
	insert_ok(f, st, 3, QS_POLLING);
	insert_ok(f, st, 5, QS_DELIVERED);

	assert_non_null(out = tmpfile());
	assert_int_equal(queue_cli_list(as_cli(st), out, 0, 0, f->err, sizeof(f->err)),
	    2);
	text = read_file(out);
	assert_true(strncmp(text, "ID  ", 4) == 0);
	assert_non_null(strstr(text, "STATE"));
	assert_non_null(strstr(text, "SUBJECT"));
	assert_non_null(strstr(text, "ATTEMPTS"));
	assert_non_null(strstr(text, "NOTE\n"));
	assert_non_null(strstr(text, "digest:ev\\x1b[31mil"));
	assert_null(strchr(text, '\x1b'));
	assert_non_null(strstr(text, "3m12s"));
	assert_non_null(strstr(text, "CN=dev2,O=Example\\, Inc"));
	assert_non_null(strstr(text, "pending"));
	assert_non_null(strstr(text, "polling"));
	assert_non_null(strstr(text, "202"));
	assert_null(strstr(text, "delivered"));
	free(text);
	fclose(out);

	assert_non_null(out = tmpfile());
	assert_int_equal(queue_cli_list(as_cli(st), out, 1, 0, f->err, sizeof(f->err)),
	    3);
	text = read_file(out);
	assert_non_null(strstr(text, "delivered"));
	assert_non_null(strstr(text, "branch"));	/* odd ids: a label */
	free(text);
	fclose(out);
	store_close(st);
}

/* Run queue_cli_main with stdout and stderr captured. */
static int
run_cli(const struct config *cfg, char **out, char **errout, ...)
{
	char		*argv[8];
	int		 argc = 0, rc, save_out, save_err;
	FILE		*o = tmpfile(), *e = tmpfile();
	va_list		 ap;

	va_start(ap, errout);
	while (argc < 7 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	save_out = dup(STDOUT_FILENO);
	save_err = dup(STDERR_FILENO);
	dup2(fileno(o), STDOUT_FILENO);
	dup2(fileno(e), STDERR_FILENO);
	rc = queue_cli_main(cfg, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(save_out, STDOUT_FILENO);
	dup2(save_err, STDERR_FILENO);
	close(save_out);
	close(save_err);
	fseek(o, 0, SEEK_END);
	fseek(e, 0, SEEK_END);
	*out = read_file(o);
	*errout = read_file(e);
	fclose(o);
	fclose(e);
	return rc;
}

static void
test_cli_main(void **state)
{
	struct fixture	*f = *state;
	struct config	 cfg;
	struct store	*st;
	struct stat	 sb;
	char		*out, *err, path[] = "/etc/estrad.json", want[256];
	int64_t		 id;

	memset(&cfg, 0, sizeof(cfg));
	cfg.path = path;
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", NULL), 1);
	assert_non_null(strstr(err, "state_dir is not set in "
	    "/etc/estrad.json"));
	free(out);
	free(err);

	cfg.state_dir = f->state;
	cfg.audit.file = f->audit;
	/* Nothing created by looking. */
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", NULL), 0);
	snprintf(want, sizeof(want), "queue is empty (no database yet at "
	    "%s)\n", f->db);
	assert_string_equal(out, want);
	assert_int_not_equal(stat(f->state, &sb), 0);
	free(out);
	free(err);

	/* Usage. */
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", NULL), 2);
	assert_non_null(strstr(err, "usage:"));
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", "-x",
	    NULL), 2);
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "purge", "12x",
	    NULL), 2);
	assert_non_null(strstr(err, "\"12x\" is not an entry ID"));
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "purge", "-1",
	    NULL), 2);
	free(out);
	free(err);

	/* With the daemon's store open and locked. */
	st = open_ok(f, 1);
	id = insert_ok(f, st, 1, QS_PENDING);
	insert_ok(f, st, 2, QS_PENDING);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", NULL), 0);
	assert_non_null(strstr(out, "digest:user1"));
	assert_non_null(strstr(out, "digest:user2"));
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "purge", "777",
	    NULL), 1);
	assert_string_equal(err, "estrad: no active queue entry 777\n");
	free(out);
	free(err);
	snprintf(want, sizeof(want), "%lld", (long long)id);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "purge", want,
	    NULL), 0);
	assert_non_null(strstr(out, "purged queue entry"));
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "purge", "--all",
	    NULL), 0);
	assert_non_null(strstr(out, "purged 1 queue entry\n"));
	free(out);
	free(err);
	assert_int_equal(count_lines(f->audit), 2);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", NULL), 0);
	assert_non_null(strstr(out, "no active queue entries"));
	free(out);
	free(err);
	assert_int_equal(run_cli(&cfg, &out, &err, "queue", "list", "--all",
	    NULL), 0);
	assert_non_null(strstr(out, "purged"));
	free(out);
	free(err);
	store_close(st);
}

/* ---- schema 1 to 2 ------------------------------------------------------ */

/* The queue table as estrad wrote it before ca_received (schema 1). */
static const char schema_v1[] =
    "CREATE TABLE queue ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " label TEXT NOT NULL, op TEXT NOT NULL, identity TEXT NOT NULL,"
    " pubkey TEXT NOT NULL, subject TEXT NOT NULL,"
    " request_id TEXT NOT NULL, content_type TEXT NOT NULL, csr BLOB,"
    " state TEXT NOT NULL, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " next_attempt INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " ca_status INTEGER NOT NULL, result_type TEXT NOT NULL, result BLOB,"
    " retry_after TEXT NOT NULL, note TEXT NOT NULL);"
    "CREATE INDEX queue_state ON queue (state);"
    "CREATE TABLE cache ("
    " label TEXT NOT NULL, op TEXT NOT NULL, source TEXT NOT NULL,"
    " status INTEGER NOT NULL, content_type TEXT NOT NULL, body BLOB,"
    " fetched INTEGER NOT NULL, PRIMARY KEY (label, op));"
    "INSERT INTO queue (label, op, identity, pubkey, subject, request_id,"
    " content_type, csr, state, created, updated, expires, next_attempt,"
    " attempts, ca_status, result_type, result, retry_after, note) VALUES"
    " ('', 'simpleenroll', 'digest:old', 'ab', 'CN=old', 'req-old',"
    " 'application/pkcs10', x'3082', 'pending', 1700000000, 1700000000,"
    " 1700086400, 1700000300, 3, 0, '', NULL, '', 'upstream CA "
    "unreachable');"
    "PRAGMA user_version = 1;";

/* A database of schema 1 opens, migrated: its entry is kept, its
 * attempts are all taken as received (the safe side), and new rows and
 * updates use the new columns. */
static void
test_migrate_v1(void **state)
{
	struct fixture		*f = *state;
	struct store		*st;
	struct store_entry	 e;
	sqlite3			*db = NULL;
	char			 buf[64];
	int64_t			 id;

	assert_int_equal(mkdir(f->state, 0700), 0);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	st = open_ok(f, 1);
	peek_text(f, "PRAGMA user_version", buf, sizeof(buf));
	assert_string_equal(buf, "2");
	/* The retry marks' index came with the migration, and the daemon's
	 * poll reads it rather than the whole table. */
	assert_true(retry_uses_index(f));
	assert_int_equal(store_get(st, 1, &e, f->err, sizeof(f->err)), 1);
	assert_string_equal(e.identity, "digest:old");
	assert_int_equal(e.state, QS_PENDING);
	assert_int_equal(e.attempts, 3);
	assert_int_equal(e.ca_received, 3);
	assert_string_equal(e.sans, "");
	assert_string_equal(e.last_error, "");
	assert_int_equal(e.csr_len, 2);
	/* The daemon writes it back with the new fields. */
	e.attempts = 4;
	snprintf(e.last_error, sizeof(e.last_error), "refused");
	assert_int_equal(store_update(st, &e, f->err, sizeof(f->err)), 0);
	store_entry_clear(&e);
	assert_int_equal(store_get(st, 1, &e, f->err, sizeof(f->err)), 1);
	assert_int_equal(e.attempts, 4);
	assert_int_equal(e.ca_received, 3);
	assert_string_equal(e.last_error, "refused");
	store_entry_clear(&e);
	id = insert_ok(f, st, 4, QS_PENDING);
	assert_int_equal(store_get(st, id, &e, f->err, sizeof(f->err)), 1);
	assert_string_equal(e.sans, "DNS:dev4.example\nIP:10.0.0.4");
	assert_int_equal(e.ca_received, 2);
	store_entry_clear(&e);
	store_close(st);
	/* Opened again: nothing to migrate. */
	store_close(open_ok(f, 1));
	peek_text(f, "SELECT count(*) FROM queue", buf, sizeof(buf));
	assert_string_equal(buf, "2");
}

/* ---- show, --json, retry ------------------------------------------------ */

static char *
cli_output(struct fixture *f, struct store *st, int64_t id, int what,
    int *rc)
{
	FILE *out = tmpfile();
	char *text;

	assert_non_null(out);
	if (what == 0)
		*rc = queue_cli_list(as_cli(st), out, 1, 1, f->err, sizeof(f->err));
	else
		*rc = queue_cli_show(as_cli(st), out, id, what == 2, f->err,
		    sizeof(f->err));
	text = read_file(out);
	fclose(out);
	return text;
}

static void
test_cli_json_show(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 e;
	json_t			*arr, *o;
	json_error_t		 jerr;
	char			*text;
	int			 rc;
	int64_t			 id, now = (int64_t)time(NULL);

	make_entry(&e, 2, QS_PENDING);
	e.next_attempt = now + 600;
	assert_int_equal(store_insert(st, &e, f->err, sizeof(f->err)), 0);
	id = e.id;
	store_entry_clear(&e);
	insert_ok(f, st, 5, QS_DELIVERED);

	/* list --json: one array, every entry with the same fields. */
	text = cli_output(f, st, 0, 0, &rc);
	assert_int_equal(rc, 2);
	if ((arr = json_loads(text, 0, &jerr)) == NULL)
		fail_msg("list --json is not JSON (%s): %s", jerr.text, text);
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 2);
	o = json_array_get(arr, 0);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
	assert_string_equal(json_string_value(json_object_get(o, "state")),
	    "pending");
	assert_string_equal(json_string_value(json_object_get(o,
	    "request_id")), "req-2");
	assert_int_equal(json_array_size(json_object_get(o, "sans")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o,
	    "sans"), 1)), "IP:10.0.0.2");
	assert_int_equal(json_integer_value(json_object_get(o, "attempts")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(o,
	    "ca_received")), 1);
	assert_true(json_integer_value(json_object_get(o, "next_attempt_in"))
	    > 590);
	assert_non_null(strstr(json_string_value(json_object_get(o,
	    "last_error")), "Connection refused"));
	assert_int_equal(strlen(json_string_value(json_object_get(o,
	    "next_attempt"))), strlen("2026-12-07T18:10:00Z"));
	assert_true(json_is_null(json_object_get(o, "ca_status")));
	/* A finished entry does not wait: no next attempt. */
	o = json_array_get(arr, 1);
	assert_true(json_is_null(json_object_get(o, "next_attempt")));
	assert_true(json_is_null(json_object_get(o, "last_error")));
	json_decref(arr);
	free(text);

	/* show: every field, human and JSON. */
	text = cli_output(f, st, id, 1, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "\nsans             DNS:dev2.example, "
	    "IP:10.0.0.2\n"));
	assert_non_null(strstr(text, "\nca_received      1\n"));
	assert_non_null(strstr(text, "\nnext_attempt_in  "));
	assert_true(strstr(text, " (in 9m5") != NULL ||
	    strstr(text, " (in 10m00s)") != NULL);
	assert_non_null(strstr(text, "\nlast_error       https://ca:1/"));
	free(text);
	text = cli_output(f, st, id, 2, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(o = json_loads(text, 0, &jerr));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
	json_decref(o);
	free(text);
	text = cli_output(f, st, 99, 1, &rc);
	assert_int_equal(rc, -1);
	assert_string_equal(f->err, "no queue entry 99");
	free(text);
	/* SANs that are not UTF-8 grow fourfold as \xNN: show cuts them to
	 * its line ("..."), every byte printable, and does not overrun. */
	make_entry(&e, 7, QS_PENDING);
	memset(e.sans, 0xff, sizeof(e.sans) - 1);
	e.sans[sizeof(e.sans) / 2] = '\n';
	e.sans[sizeof(e.sans) - 1] = '\0';
	assert_int_equal(store_insert(st, &e, f->err, sizeof(f->err)), 0);
	id = e.id;
	store_entry_clear(&e);
	text = cli_output(f, st, id, 1, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(text, "\nsans             \\xff\\xff"));
	assert_non_null(strstr(text, "\\xff...\n"));
	for (const char *c = text; *c != '\0'; c++)
		assert_true(*c == '\n' || (*c >= 0x20 && *c < 0x7f));
	free(text);
	store_close(st);
}

static void
test_cli_retry(void **state)
{
	struct fixture	*f = *state;
	struct store	*daemon = open_ok(f, 1), *cli;
	int64_t		 pending, issued, *ids;
	size_t		 n;
	char		 buf[64];

	pending = insert_ok(f, daemon, 1, QS_PENDING);
	issued = insert_ok(f, daemon, 2, QS_ISSUED);
	cli = open_ok(f, 0);
	assert_int_equal(queue_cli_retry(as_cli(cli), pending, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(queue_cli_retry(as_cli(cli), issued, f->err,
	    sizeof(f->err)), -1);
	snprintf(buf, sizeof(buf), "queue entry %lld is issued: the CA has "
	    "answered", (long long)issued);
	assert_non_null(strstr(f->err, buf));
	assert_int_equal(queue_cli_retry(as_cli(cli), 99, f->err, sizeof(f->err)),
	    -1);
	assert_string_equal(f->err, "no queue entry 99");
	store_close(cli);
	/* Due now, for a listing while no daemon runs. */
	snprintf(buf, sizeof(buf), "SELECT next_attempt <= %lld FROM queue "
	    "WHERE id = %lld", (long long)time(NULL), (long long)pending);
	peek_text(f, buf, buf, sizeof(buf));
	assert_string_equal(buf, "1");

	/* The daemon takes the request once. */
	assert_int_equal(store_retry_ids(daemon, &ids, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], pending);
	free(ids);
	assert_int_equal(store_retry_ids(daemon, &ids, &n, f->err,
	    sizeof(f->err)), 0);
	assert_int_equal(n, 0);
	assert_null(ids);
	store_close(daemon);
}

/*
 * The next attempts of entries a breaker holds back, in one transaction:
 * waiting rows take theirs, a row that no longer waits (issued) keeps its
 * own, an unknown id changes nothing.
 */
static void
test_set_next_attempts(void **state)
{
	struct fixture		*f = *state;
	struct store		*st = open_ok(f, 1);
	struct store_entry	 e;
	int64_t			 a = insert_ok(f, st, 1, QS_PENDING);
	int64_t			 b = insert_ok(f, st, 2, QS_POLLING);
	int64_t			 c = insert_ok(f, st, 3, QS_ISSUED);
	struct store_next	 next[] = { { a, 1111 }, { b, 2222 },
	    { c, 3333 }, { 999, 4444 } };

	assert_true(retry_uses_index(f));	/* a fresh database's too */

	assert_int_equal(store_set_next_attempts(st, next, NITEMS(next),
	    f->err, sizeof(f->err)), 0);
	assert_int_equal(store_get(st, a, &e, f->err, sizeof(f->err)), 1);
	assert_int_equal(e.next_attempt, 1111);
	store_entry_clear(&e);
	assert_int_equal(store_get(st, b, &e, f->err, sizeof(f->err)), 1);
	assert_int_equal(e.next_attempt, 2222);
	store_entry_clear(&e);
	assert_int_equal(store_get(st, c, &e, f->err, sizeof(f->err)), 1);
	assert_int_not_equal(e.next_attempt, 3333);
	assert_int_equal(e.state, QS_ISSUED);
	store_entry_clear(&e);
	assert_int_equal(store_set_next_attempts(st, next, 0, f->err,
	    sizeof(f->err)), 0);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_open_wal),
		FX_TEST(test_schema_newer),
		FX_TEST(test_lock),
		FX_TEST(test_round_trip),
		FX_TEST(test_update),
		FX_TEST(test_update_purged),
		FX_TEST(test_purge),
		FX_TEST(test_load_skips_purged),
		FX_TEST(test_delete_done),
		cmocka_unit_test(test_entry_copy),
		FX_TEST(test_cache),
		FX_TEST(test_writer),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_audit_format),
		FX_TEST(test_cli_list),
		FX_TEST(test_cli_main),
		FX_TEST(test_migrate_v1),
		FX_TEST(test_cli_json_show),
		FX_TEST(test_cli_retry),
		FX_TEST(test_set_next_attempts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
