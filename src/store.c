/*
 * store: the queue and the cache in one SQLite database, DIR/estrad.db.
 * What it promises: a call that returned 0 is on disk (WAL,
 * synchronous=FULL), so a kill -9 or a power cut right after a 202
 * loses nothing; writes from the daemon happen on one thread, in the
 * order submitted; only constant SQL with bound parameters reaches
 * SQLite, never client text; and every failure is one line naming the
 * file, the step and SQLite's reason.
 *
 * Two processes may have the file open: the daemon, which holds
 * DIR/estrad.lock for as long as it runs, and `estrad queue`, which does
 * not lock and only marks rows "purged" or sets their retry_requested
 * (and, migrating an old file, alters the table). WAL lets the command
 * read while the daemon writes; busy_timeout makes either wait for the
 * other's short write transactions instead of failing.
 *
 * This file owns the schema, the connection and the daemon's side;
 * store_list.c holds the reads and marks of the operator's command line
 * (`estrad queue list|show|retry|purge`, queue_cli.c) and reaches the
 * connection through the helpers in store_int.h.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "estrad/store.h"
#include "estrad/worker.h"

#include "store_int.h"

/* PRAGMA user_version. 2 added sans, ca_received, last_error and
 * retry_requested (store_migrate_sql: a version 1 file is migrated in
 * place when it is opened). */
#define STORE_VERSION		2
#define STORE_BUSY_MS		5000
#define STORE_MAX_QUEUED	4096

#define STORE_STR(x)		STORE_XSTR(x)
#define STORE_XSTR(x)		#x

/* Must agree with queue_state_active(). */
#define STORE_ACTIVE_SQL \
	"state IN ('pending', 'polling', 'issued', 'refused')"

/* Column order of every SELECT of whole queue rows (store_read_entry). */
#define STORE_QUEUE_COLS \
	"id, label, op, identity, pubkey, subject, request_id, " \
	"content_type, csr, state, created, updated, expires, next_attempt, " \
	"attempts, ca_status, result_type, result, retry_after, note, " \
	"sans, ca_received, last_error"

enum store_col {
	SC_ID, SC_LABEL, SC_OP, SC_IDENTITY, SC_PUBKEY, SC_SUBJECT,
	SC_REQUEST_ID, SC_CONTENT_TYPE, SC_CSR, SC_STATE, SC_CREATED,
	SC_UPDATED, SC_EXPIRES, SC_NEXT_ATTEMPT, SC_ATTEMPTS, SC_CA_STATUS,
	SC_RESULT_TYPE, SC_RESULT, SC_RETRY_AFTER, SC_NOTE, SC_SANS,
	SC_CA_RECEIVED, SC_LAST_ERROR
};

/* The daemon looks for `estrad queue retry` marks every two seconds: an
 * index of the marked rows alone, not a scan of the table. */
#define STORE_RETRY_INDEX_SQL \
    "CREATE INDEX IF NOT EXISTS queue_retry ON queue (retry_requested) " \
    "WHERE retry_requested != 0;"

static const char store_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS queue ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " label TEXT NOT NULL, op TEXT NOT NULL, identity TEXT NOT NULL,"
    " pubkey TEXT NOT NULL, subject TEXT NOT NULL,"
    " request_id TEXT NOT NULL, content_type TEXT NOT NULL, csr BLOB,"
    " state TEXT NOT NULL, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " next_attempt INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " ca_status INTEGER NOT NULL, result_type TEXT NOT NULL, result BLOB,"
    " retry_after TEXT NOT NULL, note TEXT NOT NULL,"
    " sans TEXT NOT NULL DEFAULT '', ca_received INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " retry_requested INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS queue_state ON queue (state);"
    STORE_RETRY_INDEX_SQL
    "CREATE TABLE IF NOT EXISTS cache ("
    " label TEXT NOT NULL, op TEXT NOT NULL, source TEXT NOT NULL,"
    " status INTEGER NOT NULL, content_type TEXT NOT NULL, body BLOB,"
    " fetched INTEGER NOT NULL, PRIMARY KEY (label, op));"
    "PRAGMA user_version = " STORE_STR(STORE_VERSION) ";";

/*
 * Version 1 to 2. An entry of version 1 counted every attempt, refused
 * connections too, and nothing else: each is taken as received by the CA,
 * the safe side of docs/offline.md's advice on duplicate certificates.
 */
static const char store_migrate_sql[] =
    "ALTER TABLE queue ADD COLUMN sans TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE queue ADD COLUMN ca_received INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE queue ADD COLUMN last_error TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE queue ADD COLUMN retry_requested INTEGER NOT NULL "
    "DEFAULT 0;"
    "UPDATE queue SET ca_received = attempts;"
    STORE_RETRY_INDEX_SQL
    "PRAGMA user_version = 2;";

/* Prepared once at open; parameters are named after their columns. */
static const char *const store_sql[SS_MAX] = {
	[SS_BEGIN] = "BEGIN IMMEDIATE",
	[SS_COMMIT] = "COMMIT",
	[SS_ROLLBACK] = "ROLLBACK",
	[SS_READ] = "BEGIN",
	[SS_INSERT] = "INSERT INTO queue (label, op, identity, pubkey, "
	    "subject, request_id, content_type, csr, state, created, updated, "
	    "expires, next_attempt, attempts, ca_status, result_type, result, "
	    "retry_after, note, sans, ca_received, last_error) VALUES (:label, "
	    ":op, :identity, :pubkey, :subject, :request_id, :content_type, "
	    ":csr, :state, :created, :updated, :expires, :next_attempt, "
	    ":attempts, :ca_status, :result_type, :result, :retry_after, "
	    ":note, :sans, :ca_received, :last_error)",
	/* The key and created never change after the insert; the CSR is
	 * dropped once the CA has answered for good (it may carry a
	 * challengePassword, and nobody will send it again). */
	[SS_UPDATE] = "UPDATE queue SET state = :state, updated = :updated, "
	    "expires = :expires, next_attempt = :next_attempt, "
	    "attempts = :attempts, ca_status = :ca_status, "
	    "result_type = :result_type, result = :result, "
	    "retry_after = :retry_after, note = :note, "
	    "ca_received = :ca_received, last_error = :last_error, "
	    "csr = CASE WHEN :state IN ('pending', 'polling') THEN csr "
	    "ELSE NULL END "
	    "WHERE id = :id AND state != 'purged'",
	[SS_LOAD_ENTRIES] = "SELECT " STORE_QUEUE_COLS " FROM queue "
	    "WHERE state != 'purged' ORDER BY id",
	[SS_DELETE_DONE] = "DELETE FROM queue WHERE state IN "
	    "('delivered', 'expired', 'purged') AND expires <= :now",
	[SS_SELECT_PURGED] = "SELECT id FROM queue WHERE state = 'purged' "
	    "ORDER BY id",
	[SS_DELETE_PURGED] = "DELETE FROM queue WHERE state = 'purged'",
	[SS_SET_NEXT] = "UPDATE queue SET next_attempt = :next_attempt "
	    "WHERE id = :id AND state IN ('pending', 'polling')",
	[SS_PUT_CACHED] = "INSERT OR REPLACE INTO cache (label, op, source, "
	    "status, content_type, body, fetched) VALUES (:label, :op, "
	    ":source, :status, :content_type, :body, :fetched)",
	[SS_LOAD_CACHED] = "SELECT label, op, source, status, content_type, "
	    "body, fetched FROM cache ORDER BY label, op",
	[SS_LIST] = "SELECT " STORE_QUEUE_COLS " FROM queue "
	    "WHERE :all OR " STORE_ACTIVE_SQL " ORDER BY id",
	[SS_ACTIVE] = "SELECT " STORE_QUEUE_COLS " FROM queue "
	    "WHERE " STORE_ACTIVE_SQL " AND (:id = 0 OR id = :id) ORDER BY id",
	[SS_MARK_PURGED] = "UPDATE queue SET state = 'purged', "
	    "updated = :updated, note = :note WHERE id = :id",
	[SS_GET] = "SELECT " STORE_QUEUE_COLS " FROM queue WHERE id = :id",
	/* The forwarder's own time is the daemon's (store_update writes
	 * it back); this one is for a listing while no daemon runs. */
	[SS_MARK_RETRY] = "UPDATE queue SET retry_requested = 1, "
	    "next_attempt = MIN(next_attempt, :now) WHERE id = :id AND "
	    "state IN ('pending', 'polling')",
	/* INDEXED BY: the planner would rather scan the table in id order;
	 * the marked rows are a handful. */
	[SS_SELECT_RETRY] = "SELECT id FROM queue INDEXED BY queue_retry "
	    "WHERE retry_requested != 0 ORDER BY id",
	[SS_CLEAR_RETRY] = "UPDATE queue INDEXED BY queue_retry "
	    "SET retry_requested = 0 WHERE retry_requested != 0",
};

struct store_job {
	struct store	*sj_store;
	void		(*sj_work)(struct store *, void *);
	void		(*sj_done)(void *);
	void		*sj_arg;
};

static const char *const queue_state_names[QS_MAX] = {
	[QS_PENDING] = "pending",
	[QS_POLLING] = "polling",
	[QS_ISSUED] = "issued",
	[QS_REFUSED] = "refused",
	[QS_DELIVERED] = "delivered",
	[QS_EXPIRED] = "expired",
	[QS_PURGED] = "purged",
};

/* ---- states and entries ------------------------------------------------- */

const char *
queue_state_name(enum queue_state s)
{
	return (unsigned)s < QS_MAX ? queue_state_names[s] : NULL;
}

enum queue_state
queue_state_from_name(const char *name)
{
	for (int s = 0; name != NULL && s < QS_MAX; s++)
		if (strcmp(name, queue_state_names[s]) == 0)
			return (enum queue_state)s;
	return QS_MAX;
}

int
queue_state_active(enum queue_state s)
{
	return s == QS_PENDING || s == QS_POLLING || s == QS_ISSUED ||
	    s == QS_REFUSED;
}

static unsigned char *
store_memdup(const unsigned char *p, size_t len)
{
	unsigned char *q;

	if (p == NULL || len == 0 || (q = malloc(len)) == NULL)
		return NULL;
	return memcpy(q, p, len);
}

int
store_entry_copy(struct store_entry *dst, const struct store_entry *src)
{
	*dst = *src;
	dst->csr = store_memdup(src->csr, src->csr_len);
	dst->result = store_memdup(src->result, src->result_len);
	if ((dst->csr == NULL && src->csr_len > 0) ||
	    (dst->result == NULL && src->result_len > 0)) {
		store_entry_clear(dst);
		return -1;
	}
	return 0;
}

/* A CSR may hold a challengePassword (RFC 7030 §3.5): wiped, not just
 * freed. */
void
store_entry_clear(struct store_entry *e)
{
	if (e->csr != NULL)
		explicit_bzero(e->csr, e->csr_len);
	free(e->csr);
	free(e->result);
	memset(e, 0, sizeof(*e));
}

void
store_cached_clear(struct store_cached *c)
{
	free(c->body);
	memset(c, 0, sizeof(*c));
}

/* ---- SQLite helpers ----------------------------------------------------- */

/* "DIR/estrad.db: what: reason"; always -1. Call before anything else
 * touches the connection, which would replace the message. */
int
store_fail(struct store *st, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", st->st_path, what,
	    sqlite3_errmsg(st->st_db));
	return -1;
}

/* A prepared statement, reset and with no bindings. */
sqlite3_stmt *
store_stmt(struct store *st, enum store_stmt which)
{
	sqlite3_stmt *s = st->st_stmt[which];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Run a statement that returns no rows; reset it (a statement left
 * mid-way would keep its read snapshot and stall checkpoints). */
int
store_run(struct store *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_step(s) != SQLITE_DONE) {
		store_fail(st, what, err, errlen);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

int
store_begin(struct store *st, enum store_stmt which, char *err,
    size_t errlen)
{
	return store_run(st, store_stmt(st, which), "begin", err, errlen);
}

int
store_commit(struct store *st, char *err, size_t errlen)
{
	return store_run(st, store_stmt(st, SS_COMMIT), "commit", err, errlen);
}

/* After a failure: its message is already in err. */
void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->st_db))
		sqlite3_step(store_stmt(st, SS_ROLLBACK));
	sqlite3_reset(st->st_stmt[SS_ROLLBACK]);
}

/* Binding a name the statement does not use is not an error: one binder
 * serves the INSERT and the UPDATE. */
int
store_bind_text(sqlite3_stmt *s, const char *name, const char *v,
    size_t size)
{
	int i = sqlite3_bind_parameter_index(s, name);

	return i == 0 ? SQLITE_OK :
	    sqlite3_bind_text(s, i, v, (int)strnlen(v, size), SQLITE_STATIC);
}

int
store_bind_int(sqlite3_stmt *s, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(s, name);

	return i == 0 ? SQLITE_OK : sqlite3_bind_int64(s, i, v);
}

/* An empty body is stored as NULL and read back as NULL, 0. */
static int
store_bind_blob(sqlite3_stmt *s, const char *name, const void *p,
    size_t len)
{
	int i = sqlite3_bind_parameter_index(s, name);

	if (i == 0)
		return SQLITE_OK;
	if (p == NULL || len == 0)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_blob64(s, i, p, len, SQLITE_STATIC);
}

#define BIND_TEXT(s, e, f) \
	store_bind_text(s, ":" #f, (e)->f, sizeof((e)->f))

static int
store_bind_entry(struct store *st, sqlite3_stmt *s,
    const struct store_entry *e, const char *what, char *err, size_t errlen)
{
	const char *state = queue_state_name(e->state);

	if (state == NULL) {
		snprintf(err, errlen, "%s: %s: queue entry %lld: bad state %d",
		    st->st_path, what, (long long)e->id, (int)e->state);
		return -1;
	}
	if (BIND_TEXT(s, e, label) || BIND_TEXT(s, e, op) ||
	    BIND_TEXT(s, e, identity) || BIND_TEXT(s, e, pubkey) ||
	    BIND_TEXT(s, e, subject) || BIND_TEXT(s, e, request_id) ||
	    BIND_TEXT(s, e, content_type) || BIND_TEXT(s, e, result_type) ||
	    BIND_TEXT(s, e, retry_after) || BIND_TEXT(s, e, note) ||
	    BIND_TEXT(s, e, sans) || BIND_TEXT(s, e, last_error) ||
	    store_bind_int(s, ":ca_received", e->ca_received) ||
	    store_bind_text(s, ":state", state, SIZE_MAX) ||
	    store_bind_blob(s, ":csr", e->csr, e->csr_len) ||
	    store_bind_blob(s, ":result", e->result, e->result_len) ||
	    store_bind_int(s, ":id", e->id) ||
	    store_bind_int(s, ":created", e->created) ||
	    store_bind_int(s, ":updated", e->updated) ||
	    store_bind_int(s, ":expires", e->expires) ||
	    store_bind_int(s, ":next_attempt", e->next_attempt) ||
	    store_bind_int(s, ":attempts", e->attempts) ||
	    store_bind_int(s, ":ca_status", e->ca_status))
		return store_fail(st, what, err, errlen);
	return 0;
}

/* Text longer than its field (an edited database) is cut, not overrun. */
static void
col_text(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
}

/* 0, or -1 out of memory. */
static int
col_blob(sqlite3_stmt *s, int col, unsigned char **p, size_t *len)
{
	const void	*b = sqlite3_column_blob(s, col);
	int		 n = sqlite3_column_bytes(s, col);

	*p = NULL;
	*len = 0;
	if (b == NULL || n <= 0)
		return 0;
	if ((*p = store_memdup(b, (size_t)n)) == NULL)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* The current row of a STORE_QUEUE_COLS select into e (its buffers are
 * the caller's). 0, or -1 with err. */
int
store_read_entry(struct store *st, sqlite3_stmt *s, struct store_entry *e,
    char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(s, SC_ID);
	col_text(s, SC_LABEL, e->label, sizeof(e->label));
	col_text(s, SC_OP, e->op, sizeof(e->op));
	col_text(s, SC_IDENTITY, e->identity, sizeof(e->identity));
	col_text(s, SC_PUBKEY, e->pubkey, sizeof(e->pubkey));
	col_text(s, SC_SUBJECT, e->subject, sizeof(e->subject));
	col_text(s, SC_REQUEST_ID, e->request_id, sizeof(e->request_id));
	col_text(s, SC_CONTENT_TYPE, e->content_type, sizeof(e->content_type));
	e->state = queue_state_from_name((const char *)sqlite3_column_text(s,
	    SC_STATE));
	e->created = sqlite3_column_int64(s, SC_CREATED);
	e->updated = sqlite3_column_int64(s, SC_UPDATED);
	e->expires = sqlite3_column_int64(s, SC_EXPIRES);
	e->next_attempt = sqlite3_column_int64(s, SC_NEXT_ATTEMPT);
	e->attempts = sqlite3_column_int(s, SC_ATTEMPTS);
	e->ca_status = sqlite3_column_int(s, SC_CA_STATUS);
	col_text(s, SC_RESULT_TYPE, e->result_type, sizeof(e->result_type));
	col_text(s, SC_RETRY_AFTER, e->retry_after, sizeof(e->retry_after));
	col_text(s, SC_NOTE, e->note, sizeof(e->note));
	col_text(s, SC_SANS, e->sans, sizeof(e->sans));
	e->ca_received = sqlite3_column_int(s, SC_CA_RECEIVED);
	col_text(s, SC_LAST_ERROR, e->last_error, sizeof(e->last_error));
	if (e->state == QS_MAX) {
		snprintf(err, errlen, "%s: queue entry %lld: unknown state "
		    "\"%s\"", st->st_path, (long long)e->id,
		    (const char *)sqlite3_column_text(s, SC_STATE));
		return -1;
	}
	if (col_blob(s, SC_CSR, &e->csr, &e->csr_len) == -1 ||
	    col_blob(s, SC_RESULT, &e->result, &e->result_len) == -1) {
		store_entry_clear(e);
		snprintf(err, errlen, "%s: out of memory", st->st_path);
		return -1;
	}
	return 0;
}

/* ---- opening and closing ------------------------------------------------ */

const struct store_file store_files[] = {
	{ "estrad.db", 1 },
	{ "estrad.db-wal", 0 },
	{ "estrad.db-shm", 0 },
	{ "estrad.lock", 1 },
	{ NULL, 0 }
};

static int
store_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat	sb;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	return 0;
}

/* Held until store_close(); the kernel drops it if we die. */
static int
store_lock(struct store *st, const char *dir, char *err, size_t errlen)
{
	char	path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/estrad.lock", dir) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	/* O_NOFOLLOW: the directory may belong to the daemon's user while
	 * this runs as root. */
	if ((st->st_lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(st->st_lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "%s: another estrad uses this "
			    "state_dir", path);
		else
			snprintf(err, errlen, "%s: flock: %s", path,
			    strerror(errno));
		return -1;
	}
	return 0;
}

/* journal_mode answers with the mode in effect: a file system without
 * shared memory leaves "delete", and then readers would block writers. */
static int
store_wal(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt	*s = NULL;
	const char	*mode;
	int		 rc = -1;

	if (sqlite3_prepare_v2(st->st_db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		store_fail(st, "journal_mode", err, errlen);
		goto done;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0)
		snprintf(err, errlen, "%s: cannot use WAL mode (got %s)",
		    st->st_path, mode != NULL ? mode : "nothing");
	else
		rc = 0;
done:
	sqlite3_finalize(s);
	return rc;
}

/*
 * The file is created here, 0600, before SQLite sees it: SQLite would
 * create it 0644, and gives its -wal and -shm files the database's
 * mode. The queue holds CSRs, which may carry a challengePassword.
 */
static int
store_open_db(struct store *st, const char *dir, char *err, size_t errlen)
{
	int	fd, rc;

	if (asprintf(&st->st_path, "%s/estrad.db", dir) == -1) {
		st->st_path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((fd = open(st->st_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		snprintf(err, errlen, "%s: %s", st->st_path, strerror(errno));
		return -1;
	}
	close(fd);
	rc = sqlite3_open_v2(st->st_path, &st->st_db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: open: %s", st->st_path,
		    st->st_db != NULL ? sqlite3_errmsg(st->st_db) :
		    sqlite3_errstr(rc));
		return -1;
	}
	/* Before anything that may wait on the other process. */
	sqlite3_busy_timeout(st->st_db, STORE_BUSY_MS);
	if (store_wal(st, err, errlen) == -1)
		return -1;
	if (sqlite3_exec(st->st_db, "PRAGMA synchronous = FULL", NULL, NULL,
	    NULL) != SQLITE_OK)
		return store_fail(st, "synchronous", err, errlen);
	/* A CSR may carry a challengePassword: deleted rows are zeroed,
	 * not left in free pages. */
	if (sqlite3_exec(st->st_db, "PRAGMA secure_delete = ON", NULL, NULL,
	    NULL) != SQLITE_OK)
		return store_fail(st, "secure_delete", err, errlen);
	return 0;
}

static int
store_user_version(struct store *st, int *version)
{
	sqlite3_stmt	*s = NULL;
	int		 rc = -1;

	if (sqlite3_prepare_v2(st->st_db, "PRAGMA user_version", -1, &s,
	    NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
		*version = sqlite3_column_int(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Under a write lock, so that the daemon and `estrad queue` starting
 * together do not both create. */
static int
store_schema(struct store *st, char *err, size_t errlen)
{
	int	version;

	if (sqlite3_exec(st->st_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return store_fail(st, "begin", err, errlen);
	if (store_user_version(st, &version) == -1) {
		store_fail(st, "user_version", err, errlen);
		goto fail;
	}
	if (version > STORE_VERSION) {
		snprintf(err, errlen, "%s: schema version %d is newer than "
		    "this estrad knows (%d); run a newer estrad", st->st_path,
		    version, STORE_VERSION);
		goto fail;
	}
	if (version == 0 && sqlite3_exec(st->st_db, store_schema_sql, NULL,
	    NULL, NULL) != SQLITE_OK) {
		store_fail(st, "create tables", err, errlen);
		goto fail;
	}
	if (version == 1 && sqlite3_exec(st->st_db, store_migrate_sql, NULL,
	    NULL, NULL) != SQLITE_OK) {
		store_fail(st, "migrate schema 1 to 2", err, errlen);
		goto fail;
	}
	if (sqlite3_exec(st->st_db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(st, "commit", err, errlen);
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(st->st_db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
store_prepare(struct store *st, char *err, size_t errlen)
{
	for (int i = 0; i < SS_MAX; i++)
		if (sqlite3_prepare_v3(st->st_db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->st_stmt[i], NULL) !=
		    SQLITE_OK)
			return store_fail(st, "prepare", err, errlen);
	return 0;
}

struct store *
store_open(const char *dir, int lock, char *err, size_t errlen)
{
	struct store	*st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->st_lockfd = -1;
	/* The lock comes first: a second daemon must not touch the file. */
	if (store_mkdir(dir, err, errlen) == -1 ||
	    (lock && store_lock(st, dir, err, errlen) == -1) ||
	    store_open_db(st, dir, err, errlen) == -1 ||
	    store_schema(st, err, errlen) == -1 ||
	    store_prepare(st, err, errlen) == -1) {
		store_close(st);
		return NULL;
	}
	return st;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	/* Jobs in hand run (and their done callbacks) while the
	 * connection is still open. */
	worker_free(st->st_writer);
	for (int i = 0; i < SS_MAX; i++)
		sqlite3_finalize(st->st_stmt[i]);
	sqlite3_close(st->st_db);
	if (st->st_lockfd != -1)
		close(st->st_lockfd);
	free(st->st_path);
	free(st);
}

/* ---- the writer --------------------------------------------------------- */

static void
store_job_work(void *arg)
{
	struct store_job *j = arg;

	j->sj_work(j->sj_store, j->sj_arg);
}

static void
store_job_done(void *arg)
{
	struct store_job *j = arg;

	if (j->sj_done != NULL)
		j->sj_done(j->sj_arg);
	free(j);
}

/* One thread: SQLite serialises writers anyway, and one thread keeps
 * the submission order that the queue relies on (insert before update). */
int
store_writer_start(struct store *st, struct event_base *base)
{
	if (st->st_writer != NULL)
		return -1;
	st->st_writer = worker_new(base, 1, STORE_MAX_QUEUED);
	worker_control(st->st_writer);
	return st->st_writer != NULL ? 0 : -1;
}

int
store_submit(struct store *st, void (*work)(struct store *, void *),
    void (*done)(void *), void *arg)
{
	struct store_job	*j;

	if (st == NULL || st->st_writer == NULL || work == NULL ||
	    (j = malloc(sizeof(*j))) == NULL)
		return -1;
	j->sj_store = st;
	j->sj_work = work;
	j->sj_done = done;
	j->sj_arg = arg;
	if (worker_submit(st->st_writer, store_job_work, store_job_done, j) ==
	    -1) {
		free(j);
		return -1;
	}
	return 0;
}

/* ---- the queue ---------------------------------------------------------- */

/* Purged rows are deleted, but not loaded: a row purged between the two
 * statements stays for store_purged_ids(). */
int
store_load_entries(struct store *st,
    void (*each)(void *, struct store_entry *), void *arg, char *err,
    size_t errlen)
{
	struct store_entry	 e;
	sqlite3_stmt		*s;
	int			 rc;

	if (store_run(st, store_stmt(st, SS_DELETE_PURGED), "delete purged",
	    err, errlen) == -1)
		return -1;
	s = store_stmt(st, SS_LOAD_ENTRIES);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_read_entry(st, s, &e, err, errlen) == -1) {
			sqlite3_reset(s);
			return -1;
		}
		each(arg, &e);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, "load queue", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_insert(struct store *st, struct store_entry *e, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SS_INSERT);

	if (store_bind_entry(st, s, e, "insert", err, errlen) == -1)
		return -1;
	if (store_run(st, s, "insert", err, errlen) == -1)
		return -1;
	e->id = sqlite3_last_insert_rowid(st->st_db);
	return 0;
}

int
store_update(struct store *st, const struct store_entry *e, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SS_UPDATE);

	if (store_bind_entry(st, s, e, "update", err, errlen) == -1)
		return -1;
	if (store_run(st, s, "update", err, errlen) == -1)
		return -1;
	return sqlite3_changes(st->st_db) == 0 ? 1 : 0;
}

int
store_delete_done(struct store *st, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SS_DELETE_DONE);

	if (store_bind_int(s, ":now", now) != SQLITE_OK) {
		store_fail(st, "delete done", err, errlen);
		return -1;
	}
	if (store_run(st, s, "delete done", err, errlen) == -1)
		return -1;
	return sqlite3_changes(st->st_db);
}

int
store_push_id(int64_t **ids, size_t *n, size_t *cap, int64_t id)
{
	int64_t	*p;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if ((p = reallocarray(*ids, *cap, sizeof(**ids))) == NULL)
			return -1;
		*ids = p;
	}
	(*ids)[(*n)++] = id;
	return 0;
}

/* The ids that select returns, then clear run, in one transaction. */
static int
store_take_ids(struct store *st, enum store_stmt select, enum store_stmt clear,
    const char *what, int64_t **ids, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt	*s;
	size_t		 cap = 0;
	int		 rc;

	*ids = NULL;
	*n = 0;
	if (store_begin(st, SS_BEGIN, err, errlen) == -1)
		return -1;
	s = store_stmt(st, select);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (store_push_id(ids, n, &cap, sqlite3_column_int64(s, 0)) ==
		    -1) {
			snprintf(err, errlen, "%s: out of memory", st->st_path);
			goto fail;
		}
	if (rc != SQLITE_DONE) {
		store_fail(st, what, err, errlen);
		goto fail;
	}
	sqlite3_reset(s);
	if ((*n > 0 && store_run(st, store_stmt(st, clear), what, err,
	    errlen) == -1) || store_commit(st, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	sqlite3_reset(s);
	store_rollback(st);
	free(*ids);
	*ids = NULL;
	*n = 0;
	return -1;
}

int
store_purged_ids(struct store *st, int64_t **ids, size_t *n, char *err,
    size_t errlen)
{
	return store_take_ids(st, SS_SELECT_PURGED, SS_DELETE_PURGED,
	    "select purged", ids, n, err, errlen);
}

int
store_retry_ids(struct store *st, int64_t **ids, size_t *n, char *err,
    size_t errlen)
{
	return store_take_ids(st, SS_SELECT_RETRY, SS_CLEAR_RETRY,
	    "select retries", ids, n, err, errlen);
}

int
store_set_next_attempts(struct store *st, const struct store_next *next,
    size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SS_SET_NEXT);

	if (store_begin(st, SS_BEGIN, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (store_bind_int(s, ":next_attempt", next[i].sn_when) !=
		    SQLITE_OK || store_bind_int(s, ":id", next[i].sn_id) !=
		    SQLITE_OK) {
			store_fail(st, "set next attempt", err, errlen);
			goto fail;
		}
		if (store_run(st, s, "set next attempt", err, errlen) == -1)
			goto fail;
	}
	if (store_commit(st, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/* ---- the cache ---------------------------------------------------------- */

int
store_put_cached(struct store *st, const struct store_cached *c, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SS_PUT_CACHED);

	if (BIND_TEXT(s, c, label) || BIND_TEXT(s, c, op) ||
	    BIND_TEXT(s, c, source) || BIND_TEXT(s, c, content_type) ||
	    store_bind_int(s, ":status", c->status) ||
	    store_bind_int(s, ":fetched", c->fetched) ||
	    store_bind_blob(s, ":body", c->body, c->body_len)) {
		store_fail(st, "put cached", err, errlen);
		return -1;
	}
	return store_run(st, s, "put cached", err, errlen);
}

int
store_load_cached(struct store *st,
    void (*each)(void *, struct store_cached *), void *arg, char *err,
    size_t errlen)
{
	struct store_cached	 c;
	sqlite3_stmt		*s = store_stmt(st, SS_LOAD_CACHED);
	int			 rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		col_text(s, 0, c.label, sizeof(c.label));
		col_text(s, 1, c.op, sizeof(c.op));
		col_text(s, 2, c.source, sizeof(c.source));
		c.status = sqlite3_column_int(s, 3);
		col_text(s, 4, c.content_type, sizeof(c.content_type));
		c.fetched = sqlite3_column_int64(s, 6);
		if (col_blob(s, 5, &c.body, &c.body_len) == -1) {
			snprintf(err, errlen, "%s: out of memory", st->st_path);
			sqlite3_reset(s);
			return -1;
		}
		each(arg, &c);
	}
	if (rc != SQLITE_DONE)
		store_fail(st, "load cache", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}
