/*
 * pg_schema: the shared store's tables on PostgreSQL, created and migrated
 * by estrad itself (pg.h), and the blocking connect used before the loop
 * runs, by `estrad -n` and by `estrad queue`.
 *
 * Version 1:
 *   estrad_meta      key/value: schema_version, nonce_secret (hex)
 *   estrad_queue     the store-and-forward queue of every replica; the
 *                    columns of SQLite's queue table (store.c), plus the
 *                    claim: lease_owner and lease_until. A unique index on
 *                    the match key (RFC 7030 §4.2.3's "same request":
 *                    label, operation, identity, public key, subject) over
 *                    the active states makes a second queueing of one
 *                    request impossible whichever replica tries.
 *   estrad_nonce     Digest (nonce, nc) pairs used: RFC 7616 §3.3's replay
 *                    check across the group (each pair inserted once)
 *   estrad_counter   a counter with its window: failed logins (a:ADDR,
 *                    u:USER) and policy rate windows (rate:LABEL:KEY)
 *   estrad_cache     cacerts/csrattrs per label (SQLite's cache table)
 *   estrad_now()     the database's clock in Unix seconds: leases and
 *                    windows use one clock for the whole group
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "estrad/b64.h"
#include "estrad/config.h"
#include "estrad/pg.h"
#include "pg_int.h"

#define PG_STR2(x)	#x
#define PG_STR(x)	PG_STR2(x)

/* Serialises replicas that start together: one creates, the others then
 * find the tables made. The key is arbitrary but fixed ("estrad" in hex). */
#define PG_SCHEMA_LOCK	"SELECT pg_advisory_xact_lock(6573747261640001)"

static const char pg_schema_v1[] =
    "CREATE TABLE IF NOT EXISTS estrad_meta ("
    " key text PRIMARY KEY, value text NOT NULL);"
    "CREATE OR REPLACE FUNCTION estrad_now() RETURNS bigint LANGUAGE sql "
    " STABLE AS 'SELECT floor(extract(epoch FROM statement_timestamp()))"
    "::bigint';"
    "CREATE TABLE IF NOT EXISTS estrad_queue ("
    " id bigserial PRIMARY KEY,"
    " label text NOT NULL, op text NOT NULL, identity text NOT NULL,"
    " pubkey text NOT NULL, subject text NOT NULL,"
    " request_id text NOT NULL, content_type text NOT NULL, csr bytea,"
    " state text NOT NULL, created bigint NOT NULL,"
    " updated bigint NOT NULL, expires bigint NOT NULL,"
    " next_attempt bigint NOT NULL, attempts integer NOT NULL DEFAULT 0,"
    " ca_status integer NOT NULL DEFAULT 0,"
    " result_type text NOT NULL DEFAULT '', result bytea,"
    " retry_after text NOT NULL DEFAULT '', note text NOT NULL DEFAULT '',"
    " sans text NOT NULL DEFAULT '',"
    " ca_received integer NOT NULL DEFAULT 0,"
    " last_error text NOT NULL DEFAULT '',"
    " retry_requested boolean NOT NULL DEFAULT false,"
    " lease_owner text NOT NULL DEFAULT '',"
    " lease_until bigint NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS estrad_queue_match ON estrad_queue"
    " (label, op, identity, pubkey, subject) WHERE " PG_ACTIVE ";"
    "CREATE INDEX IF NOT EXISTS estrad_queue_due ON estrad_queue"
    " (next_attempt) WHERE state IN ('pending', 'polling');"
    "CREATE INDEX IF NOT EXISTS estrad_queue_state ON estrad_queue (state);"
    "CREATE TABLE IF NOT EXISTS estrad_nonce ("
    " nonce text NOT NULL, nc bigint NOT NULL, expires bigint NOT NULL,"
    " PRIMARY KEY (nonce, nc));"
    "CREATE INDEX IF NOT EXISTS estrad_nonce_expires ON estrad_nonce"
    " (expires);"
    "CREATE TABLE IF NOT EXISTS estrad_counter ("
    " name text PRIMARY KEY, window_start bigint NOT NULL,"
    " window_end bigint NOT NULL, count bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS estrad_counter_end ON estrad_counter"
    " (window_end);"
    "CREATE TABLE IF NOT EXISTS estrad_cache ("
    " label text NOT NULL, op text NOT NULL, source text NOT NULL,"
    " status integer NOT NULL, content_type text NOT NULL, body bytea,"
    " fetched bigint NOT NULL, PRIMARY KEY (label, op));";

/* ---- blocking connect ---------------------------------------------------- */

int
pg_unhex(const char *hex, unsigned char **out, size_t *len)
{
	size_t	n = strlen(hex), i;
	int	hi, lo;

	*out = NULL;
	*len = 0;
	if (n % 2 != 0 || (*out = malloc(n / 2 + 1)) == NULL)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hex_digit(hex[2 * i])) < 0 ||
		    (lo = hex_digit(hex[2 * i + 1])) < 0) {
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* libpq's message without its trailing newline, on one line. */
void
pg_errline(char *out, size_t outlen, const char *msg)
{
	size_t	i, o = 0;

	if (msg == NULL)
		msg = "unknown error";
	/* libpq's lines and tabs become single spaces. */
	for (i = 0; msg[i] != '\0' && o + 1 < outlen; i++) {
		int space = msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t' ||
		    msg[i] == ' ';

		if (space && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = space ? ' ' : msg[i];
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	if (outlen > 0)
		out[o] = '\0';
}

static void
pg_no_notice(void *arg, const char *message)
{
}

/* libpq prints the server's notices (CREATE ... IF NOT EXISTS says it
 * skipped) on stderr by default: they are not ours to show. */
void
pg_quiet(PGconn *c)
{
	PQsetNoticeProcessor(c, pg_no_notice, NULL);
}

/* Where cfg points, for messages: "host H port P" (no password ever). */
void
pg_where(const struct cfg_store *cfg, char *out, size_t outlen)
{
	PQconninfoOption	*opts, *o;
	const char		*host = "(default)", *port = "5432",
				*db = "(default)";
	char			*perr = NULL;

	if ((opts = PQconninfoParse(cfg->conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		snprintf(out, outlen, "postgresql");
		return;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0 ||
		    (strcmp(o->keyword, "hostaddr") == 0 &&
		    strcmp(host, "(default)") == 0))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(out, outlen, "postgresql %s:%s/%s", host, port, db);
	PQconninfoFree(opts);
}

/*
 * The parameters PQconnectStartParams/PQconnectdbParams take: the
 * operator's conninfo, then what the store's own keys say (a later
 * keyword wins). keys/vals hold up to PG_CONN_PARAMS + 1 entries.
 */
void
pg_conn_params(const struct cfg_store *cfg, const struct pg_dns_target *to,
    const char **keys, const char **vals, char *timeout, size_t timeoutlen)
{
	size_t n = 0;

	snprintf(timeout, timeoutlen, "%ld", cfg->timeout > 0 ?
	    cfg->timeout : 5);
	keys[n] = "dbname"; vals[n++] = cfg->conninfo;
	keys[n] = "sslmode"; vals[n++] = cfg->sslmode;
	if (cfg->ssl_root_cert != NULL) {
		keys[n] = "sslrootcert"; vals[n++] = cfg->ssl_root_cert;
	}
	if (cfg->password != NULL) {
		keys[n] = "password"; vals[n++] = cfg->password;
	}
	if (to != NULL && to->host != NULL) {
		keys[n] = "host"; vals[n++] = to->host;
		keys[n] = "hostaddr"; vals[n++] = to->hostaddr;
		if (to->port != NULL) {
			keys[n] = "port"; vals[n++] = to->port;
		}
	}
	if (to != NULL && to->options != NULL) {
		keys[n] = "options"; vals[n++] = to->options;
	}
	keys[n] = "connect_timeout"; vals[n++] = timeout;
	keys[n] = "application_name"; vals[n++] = "estrad";
	/* A database host lost without a reset is noticed within a minute,
	 * not only when a query times out. */
	keys[n] = "keepalives"; vals[n++] = "1";
	keys[n] = "keepalives_idle"; vals[n++] = "30";
	keys[n] = "keepalives_interval"; vals[n++] = "10";
	keys[n] = "keepalives_count"; vals[n++] = "3";
	keys[n] = NULL; vals[n] = NULL;
}

PGconn *
pg_connect_blocking(const struct cfg_store *cfg, char *err, size_t errlen)
{
	const char	*keys[PG_CONN_PARAMS + 1], *vals[PG_CONN_PARAMS + 1];
	char		 timeout[24], where[256], why[384];
	PGconn		*c;

	pg_conn_params(cfg, NULL, keys, vals, timeout, sizeof(timeout));
	c = PQconnectdbParams(keys, vals, 1);
	if (c != NULL && PQstatus(c) == CONNECTION_OK) {
		pg_quiet(c);
		return c;
	}
	pg_where(cfg, where, sizeof(where));
	pg_errline(why, sizeof(why), c != NULL ? PQerrorMessage(c) :
	    "out of memory");
	snprintf(err, errlen, "%s: cannot connect: %s", where, why);
	PQfinish(c);
	return NULL;
}

/* ---- schema -------------------------------------------------------------- */

static int
pg_exec_ok(PGconn *c, const char *sql, const char *what, char *err,
    size_t errlen)
{
	PGresult	*res = PQexec(c, sql);
	char		 why[384];
	int		 st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	pg_errline(why, sizeof(why), res != NULL ?
	    PQresultErrorMessage(res) : PQerrorMessage(c));
	snprintf(err, errlen, "%s: %s", what, why);
	PQclear(res);
	return -1;
}

/* The schema version in the database: 0 none yet, -1 error. */
static int
pg_schema_version(PGconn *c, char *err, size_t errlen)
{
	PGresult	*res;
	char		 why[384];
	int		 v = 0;

	res = PQexec(c, "SELECT value FROM estrad_meta "
	    "WHERE key = 'schema_version'");
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* 42P01: undefined_table, a database we have not used. */
		const char *state = res != NULL ?
		    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		if (state != NULL && strcmp(state, "42P01") == 0) {
			PQclear(res);
			return 0;
		}
		pg_errline(why, sizeof(why), res != NULL ?
		    PQresultErrorMessage(res) : PQerrorMessage(c));
		snprintf(err, errlen, "reading the schema version: %s", why);
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 1) {
		const char	*text = PQgetvalue(res, 0, 0);
		char		*end;
		long		 l = strtol(text, &end, 10);

		/* Not a number: not ours to create over, or to migrate. */
		if (end == text || *end != '\0' || l < 1 || l > 100000) {
			snprintf(err, errlen, "estrad_meta's schema_version "
			    "is not a version number: not estrad's, or edited");
			PQclear(res);
			return -1;
		}
		v = (int)l;
	}
	PQclear(res);
	return v;
}

/* 1 when estrad_meta exists (in the search path), 0 not, -1 error. */
static int
pg_meta_exists(PGconn *c, char *err, size_t errlen)
{
	PGresult	*res = PQexec(c, "SELECT to_regclass('estrad_meta') "
	    "IS NOT NULL");
	char		 why[384];
	int		 rc;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		pg_errline(why, sizeof(why), res != NULL ?
		    PQresultErrorMessage(res) : PQerrorMessage(c));
		snprintf(err, errlen, "looking for estrad_meta: %s", why);
		PQclear(res);
		return -1;
	}
	rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

static int
pg_schema_newer(int v, char *err, size_t errlen)
{
	if (v <= PG_SCHEMA_VERSION)
		return 0;
	snprintf(err, errlen, "the database's schema is version %d, newer "
	    "than this estrad's (%d): upgrade estrad, or use another database",
	    v, PG_SCHEMA_VERSION);
	return -1;
}

int
pg_schema_migrate(PGconn *c, char *err, size_t errlen)
{
	int v;

	if (pg_exec_ok(c, "BEGIN", "starting the schema transaction", err,
	    errlen) == -1)
		return -1;
	if (pg_exec_ok(c, PG_SCHEMA_LOCK, "locking the schema", err,
	    errlen) == -1)
		goto fail;
	/* Inside the transaction: a missing table aborts it, so look first
	 * whether estrad_meta exists at all (without CREATE TABLE IF NOT
	 * EXISTS, which a user without CREATE may not run even when the
	 * table is there: a schema made, nothing to write). */
	if ((v = pg_meta_exists(c, err, errlen)) == 1)
		v = pg_schema_version(c, err, errlen);
	if (v == -1 || pg_schema_newer(v, err, errlen) == -1)
		goto fail;
	if (v < 1 && pg_exec_ok(c, pg_schema_v1, "creating the schema", err,
	    errlen) == -1)
		goto fail;
	/* Later versions: if (v < 2) ... here, each in this transaction. */
	if (v < PG_SCHEMA_VERSION && pg_exec_ok(c, "INSERT INTO estrad_meta "
	    "(key, value) VALUES ('schema_version', '"
	    PG_STR(PG_SCHEMA_VERSION) "') ON CONFLICT (key) DO UPDATE SET "
	    "value = EXCLUDED.value", "recording the schema version", err,
	    errlen) == -1)
		goto fail;
	if (pg_exec_ok(c, "COMMIT", "committing the schema", err,
	    errlen) == -1)
		goto fail;
	return 0;
fail:
	PQclear(PQexec(c, "ROLLBACK"));
	return -1;
}

int
pg_schema_check(PGconn *c, char *err, size_t errlen)
{
	PGresult	*res;
	char		 schema[128] = "?";
	int		 v, ok;

	if ((v = pg_schema_version(c, err, errlen)) == -1 ||
	    pg_schema_newer(v, err, errlen) == -1)
		return -1;
	if (v == PG_SCHEMA_VERSION)
		return 0;
	/* Nothing there yet: estrad makes it at start if it may. */
	res = PQexec(c, "SELECT coalesce(current_schema(), '(none)'), "
	    "coalesce(has_schema_privilege(current_schema(), 'CREATE'), "
	    "false)");
	ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1)
		snprintf(schema, sizeof(schema), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!ok) {
		snprintf(err, errlen, "the database has no estrad schema and "
		    "its user may not create one in schema %s (GRANT CREATE, "
		    "or run estrad once as a user who may)", schema);
		return -1;
	}
	return 0;
}

int
pg_check(const struct cfg_store *cfg, char *err, size_t errlen)
{
	PGconn	*c;
	char	 why[384], where[256];
	int	 rc;

	if ((c = pg_connect_blocking(cfg, err, errlen)) == NULL)
		return -1;
	if ((rc = pg_schema_check(c, why, sizeof(why))) == -1) {
		pg_where(cfg, where, sizeof(where));
		snprintf(err, errlen, "%s: %s", where, why);
	}
	PQfinish(c);
	return rc;
}

int
pg_nonce_secret(PGconn *c, unsigned char **secret, size_t *len, char *err,
    size_t errlen)
{
	unsigned char	 fresh[32];
	char		 hex[65], why[384];
	const char	*params[1] = { hex };
	PGresult	*res;
	int		 rc = -1;

	*secret = NULL;
	*len = 0;
	if (RAND_bytes(fresh, sizeof(fresh)) != 1) {
		snprintf(err, errlen, "no random bytes for the nonce secret");
		return -1;
	}
	hex_encode(fresh, sizeof(fresh), hex);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	/* The first replica's value stays; every other one reads it. */
	res = PQexecParams(c, "INSERT INTO estrad_meta (key, value) VALUES "
	    "('nonce_secret', $1) ON CONFLICT (key) DO UPDATE SET value = "
	    "estrad_meta.value RETURNING value", 1, NULL, params, NULL, NULL, 0);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQntuples(res) != 1) {
		pg_errline(why, sizeof(why), res != NULL ?
		    PQresultErrorMessage(res) : PQerrorMessage(c));
		snprintf(err, errlen, "reading the nonce secret: %s", why);
		goto out;
	}
	if (pg_unhex(PQgetvalue(res, 0, 0), secret, len) == -1 || *len < 32) {
		free(*secret);
		*secret = NULL;
		*len = 0;
		snprintf(err, errlen, "estrad_meta's nonce_secret is not 32 "
		    "bytes of hex");
		goto out;
	}
	rc = 0;
out:
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
	    PQntuples(res) == 1)
		OPENSSL_cleanse(PQgetvalue(res, 0, 0),
		    strlen(PQgetvalue(res, 0, 0)));
	PQclear(res);
	return rc;
}
