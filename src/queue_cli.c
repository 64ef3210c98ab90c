/*
 * queue_cli: `estrad queue list|show|purge|retry`, the whole command: its
 * arguments, its listing (a table, or JSON with stable field names:
 * queue_cli_json), one entry's every field, its purge with the audit
 * lines, and the retry that asks the daemon to send an entry now, on
 * either store through store_cli's calls (the reads and marks are
 * store_list.c on SQLite, store_pg.c on PostgreSQL, where a LEASE column
 * shows which replica holds an entry). A short-lived process that may
 * block on the disk or the database: it is not the event loop. It never
 * creates the database or the schema: listing a queue that was never used
 * says so and stops, so an operator's typo in state_dir does not leave a
 * stray database behind.
 * Run as root for a configured "user", it works as that user (after
 * handing over the state files that exist, as the daemon does at start).
 * What it promises: a listing is one consistent snapshot and puts no
 * control character of a client's text on the terminal (JSON escapes
 * them); a purge writes one audit line per entry purged, none for a purge
 * that did not happen; a retry only flags a pending or polling entry, and
 * says why it did not otherwise.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "estrad/audit.h"
#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/privdrop.h"
#include "estrad/queue_cli.h"
#include "estrad/store.h"
#include "estrad/store_pg.h"

enum { LC_ID, LC_STATE, LC_LABEL, LC_OP, LC_IDENTITY, LC_SUBJECT, LC_SANS,
    LC_AGE, LC_NEXT, LC_ATTEMPTS, LC_RECEIVED, LC_CA, LC_REQUEST, LC_LEASE,
    LC_NOTE, LC_MAX };

static const char *const queue_cli_head[LC_MAX] = {
	"ID", "STATE", "LABEL", "OP", "IDENTITY", "SUBJECT", "SANS", "AGE",
	"NEXT", "ATTEMPTS", "RECEIVED", "CA", "REQUEST", "LEASE", "NOTE"
};

/* A value longer than this still prints whole, but does not widen its
 * column for every other row. */
#define QUEUE_CLI_MAXW		40

struct queue_cli_row {
	char	 col[LC_MAX][512];
};

/* A listing in progress: measured on pass 0, printed on pass 1. */
struct queue_cli_listing {
	FILE	*ql_out;
	int64_t	 ql_now;
	int	 ql_w[LC_MAX];
	int	 ql_head_done;
	int	 ql_json;	/* --json: an array, one entry a line */
	int	 ql_leases;	/* the store has claims: a LEASE column */
	int	 ql_failed;	/* out of memory in a JSON entry */
};

/* "45s", "3m12s", "2h05m", "3d04h" */
static void
queue_cli_age(char *buf, size_t size, int64_t secs)
{
	long long	s = secs > 0 ? (long long)secs : 0;

	if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%lldd%02lldh", s / 86400,
		    s % 86400 / 3600);
}

/* Identity, subject and note are a client's text: no control character
 * reaches the operator's terminal. */
static void
queue_cli_text(char *buf, size_t size, const char *v)
{
	if (v[0] == '\0')
		v = "-";
	/* A client's bytes on the operator's terminal: the log's one rule,
	 * in prose (a subject's spaces stay). */
	log_quote(buf, size, v, strlen(v), LOG_QUOTE_PROSE);
}

/* When a waiting entry is sent next: "now", "42s" (from now: columns hold
 * no blank); "-" for an entry that does not wait for the CA. */
static void
queue_cli_next(char *buf, size_t size, const struct store_entry *e,
    int64_t now)
{
	if (e->state != QS_PENDING && e->state != QS_POLLING)
		snprintf(buf, size, "-");
	else if (e->next_attempt <= now)
		snprintf(buf, size, "now");
	else
		queue_cli_age(buf, size, e->next_attempt - now);
}

/* The SANs (one a line in the store), joined by commas, quoted. */
static void
queue_cli_sans(char *buf, size_t size, const char *sans)
{
	char	joined[sizeof(((struct store_entry *)0)->sans)];

	snprintf(joined, sizeof(joined), "%s", sans);
	for (char *p = joined; (p = strchr(p, '\n')) != NULL; p++)
		*p = ',';
	queue_cli_text(buf, size, joined);
}

/* The note, and the last error when there is one: the real reason. */
static void
queue_cli_note(char *buf, size_t size, const struct store_entry *e)
{
	char text[sizeof(e->note) + sizeof(e->last_error) + 16];

	snprintf(text, sizeof(text), "%s%s%s", e->note,
	    e->last_error[0] ? "; last error: " : "", e->last_error);
	queue_cli_text(buf, size, text);
}

/* The replica holding a claim on the entry now (PostgreSQL), or NULL. */
static const char *
queue_cli_lease(const struct store_entry *e, int64_t now)
{
	return e->lease_owner[0] != '\0' && e->lease_until > now ?
	    e->lease_owner : NULL;
}

static void
queue_cli_row(struct queue_cli_row *r, const struct store_entry *e,
    int64_t now)
{
	const char *lease = queue_cli_lease(e, now);

	snprintf(r->col[LC_ID], sizeof(r->col[0]), "%lld", (long long)e->id);
	snprintf(r->col[LC_STATE], sizeof(r->col[0]), "%s",
	    queue_state_name(e->state));
	queue_cli_text(r->col[LC_LABEL], sizeof(r->col[0]), e->label);
	queue_cli_text(r->col[LC_OP], sizeof(r->col[0]), e->op);
	queue_cli_text(r->col[LC_IDENTITY], sizeof(r->col[0]), e->identity);
	queue_cli_text(r->col[LC_SUBJECT], sizeof(r->col[0]), e->subject);
	queue_cli_sans(r->col[LC_SANS], sizeof(r->col[0]), e->sans);
	queue_cli_age(r->col[LC_AGE], sizeof(r->col[0]), now - e->created);
	queue_cli_next(r->col[LC_NEXT], sizeof(r->col[0]), e, now);
	snprintf(r->col[LC_ATTEMPTS], sizeof(r->col[0]), "%d", e->attempts);
	snprintf(r->col[LC_RECEIVED], sizeof(r->col[0]), "%d",
	    e->ca_received);
	if (e->ca_status > 0)
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "%d", e->ca_status);
	else
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "-");
	queue_cli_text(r->col[LC_REQUEST], sizeof(r->col[0]), e->request_id);
	queue_cli_text(r->col[LC_LEASE], sizeof(r->col[0]),
	    lease != NULL ? lease : "");
	queue_cli_note(r->col[LC_NOTE], sizeof(r->col[0]), e);
}

/* ---- JSON --------------------------------------------------------------- */

/* Unix seconds as RFC 3339 UTC: "2026-12-07T18:10:00Z". */
static json_t *
queue_cli_time(int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		buf[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

/* The SANs, one a line in the store, as an array of strings. */
static json_t *
queue_cli_sans_json(const char *sans)
{
	json_t		*arr = json_array(), *tmp = json_object();
	char		 buf[sizeof(((struct store_entry *)0)->sans)];
	const char	*p = sans;
	size_t		 len;

	while (arr != NULL && tmp != NULL && *p != '\0') {
		len = strcspn(p, "\n");
		snprintf(buf, sizeof(buf), "%.*s", (int)len, p);
		/* audit_set_any_text's rule for what is not UTF-8. */
		audit_set_any_text(tmp, "san", buf);
		json_array_append(arr, json_object_get(tmp, "san"));
		p += len + (p[len] == '\n');
	}
	json_decref(tmp);
	return arr;
}

/* The text, or null when empty. */
static void
queue_cli_json_opt(json_t *o, const char *key, const char *v)
{
	if (v[0] == '\0')
		json_object_set_new(o, key, json_null());
	else
		audit_set_any_text(o, key, v);
}

/*
 * Every field of an entry, under names that stay (docs/offline.md): the
 * scripts' interface. Times are RFC 3339 UTC; next_attempt and
 * next_attempt_in (seconds from now, 0 when due) are null for an entry
 * that does not wait for the CA. With leases (PostgreSQL), lease_owner
 * and lease_until say which replica holds the entry until when (null
 * when none does). NULL out of memory.
 */
static json_t *
queue_cli_json(const struct store_entry *e, int64_t now, int leases)
{
	json_t		*o = json_object();
	int		 waits = e->state == QS_PENDING || e->state == QS_POLLING;
	const char	*lease = queue_cli_lease(e, now);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_integer(e->id));
	json_object_set_new(o, "state", json_string(queue_state_name(e->state)));
	audit_set_any_text(o, "label", e->label[0] ? e->label : "-");
	audit_set_any_text(o, "op", e->op);
	audit_set_any_text(o, "identity", e->identity);
	audit_set_any_text(o, "subject", e->subject);
	json_object_set_new(o, "sans", queue_cli_sans_json(e->sans));
	audit_set_any_text(o, "request_id", e->request_id);
	audit_set_any_text(o, "pubkey_sha256", e->pubkey);
	audit_set_any_text(o, "content_type", e->content_type);
	json_object_set_new(o, "created", queue_cli_time(e->created));
	json_object_set_new(o, "updated", queue_cli_time(e->updated));
	json_object_set_new(o, "expires", queue_cli_time(e->expires));
	json_object_set_new(o, "next_attempt", waits ?
	    queue_cli_time(e->next_attempt) : json_null());
	json_object_set_new(o, "next_attempt_in", waits ? json_integer(
	    e->next_attempt > now ? e->next_attempt - now : 0) : json_null());
	json_object_set_new(o, "attempts", json_integer(e->attempts));
	json_object_set_new(o, "ca_received", json_integer(e->ca_received));
	json_object_set_new(o, "ca_status", e->ca_status > 0 ?
	    json_integer(e->ca_status) : json_null());
	queue_cli_json_opt(o, "retry_after", e->retry_after);
	if (leases) {
		queue_cli_json_opt(o, "lease_owner", lease != NULL ? lease : "");
		json_object_set_new(o, "lease_until", lease != NULL ?
		    queue_cli_time(e->lease_until) : json_null());
	}
	audit_set_any_text(o, "note", e->note);
	queue_cli_json_opt(o, "last_error", e->last_error);
	json_object_set_new(o, "csr_bytes", json_integer((json_int_t)e->csr_len));
	json_object_set_new(o, "result_bytes",
	    json_integer((json_int_t)e->result_len));
	return o;
}

/* One entry as a line of the array (pass 0 of a JSON listing). */
static void
queue_cli_json_line(struct queue_cli_listing *l, const struct store_entry *e)
{
	json_t	*o = queue_cli_json(e, l->ql_now, l->ql_leases);
	char	*text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	if (text == NULL)
		l->ql_failed = 1;
	else
		fprintf(l->ql_out, "%s%s", l->ql_head_done ? ",\n" : "[\n",
		    text);
	l->ql_head_done = 1;
	free(text);
	json_decref(o);
}

/* A row; the LEASE column only for a store that has leases. */
static void
queue_cli_print(FILE *out, const char *const *col, const int *w, int leases)
{
	for (int i = 0; i < LC_MAX - 1; i++)
		if (i != LC_LEASE || leases)
			fprintf(out, "%-*s  ", w[i], col[i]);
	fprintf(out, "%s\n", col[LC_MAX - 1]);
}

/* store_list's visitor: measure on pass 0, print on pass 1. */
static void
queue_cli_list_visit(const struct store_entry *e, int pass, void *arg)
{
	struct queue_cli_listing	*l = arg;
	struct queue_cli_row		 r;
	const char			*col[LC_MAX];

	if (l->ql_json) {
		queue_cli_json_line(l, e);
		return;
	}
	queue_cli_row(&r, e, l->ql_now);
	for (int i = 0; i < LC_MAX; i++) {
		int len = (int)strlen(r.col[i]);

		col[i] = r.col[i];
		if (pass == 0 && len > l->ql_w[i] && len <= QUEUE_CLI_MAXW)
			l->ql_w[i] = len;
	}
	if (pass == 0)
		return;
	if (!l->ql_head_done)
		queue_cli_print(l->ql_out, queue_cli_head, l->ql_w,
		    l->ql_leases);
	l->ql_head_done = 1;
	queue_cli_print(l->ql_out, col, l->ql_w, l->ql_leases);
}

int
queue_cli_list(const struct store_cli *sc, FILE *out, int all, int json,
    char *err, size_t errlen)
{
	struct queue_cli_listing l = { .ql_out = out, .ql_json = json,
	    .ql_leases = sc->sc_ops->sco_leases };
	int n;

	if ((l.ql_now = sc->sc_ops->sco_now(sc->sc_h, err, errlen)) == -1)
		return -1;
	for (int i = 0; i < LC_MAX; i++)
		l.ql_w[i] = (int)strlen(queue_cli_head[i]);
	n = sc->sc_ops->sco_list(sc->sc_h, all, json ? 1 : 2,
	    queue_cli_list_visit, &l, err, errlen);
	if (json && n >= 0)
		fprintf(out, "%s]\n", n > 0 ? "\n" : "[");
	if (n >= 0 && l.ql_failed) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return n;
}

/*
 * `queue show ID`: every field of queue_cli_json, a "name: value" line
 * each (times with how far off they are), or the JSON object.
 */
static void
queue_cli_show_one(FILE *out, const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);
	char		 buf[1024], ago[32];
	const char	*text;
	size_t		 i, len = 0, room = sizeof(buf) - 3;
	const json_t	*one;

	if (json_is_integer(v))
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
	else if (json_is_string(v))
		queue_cli_text(buf, sizeof(buf), json_string_value(v));
	else if (json_is_array(v) && json_array_size(v) > 0) {
		/* A client's SANs, each quoted as text is, as many as fit
		 * whole escapes into buf; "..." says some were cut. */
		buf[0] = '\0';
		json_array_foreach(v, i, one) {
			if (!json_is_string(one))
				continue;
			text = json_string_value(one);
			if (i > 0 && len + 2 < room)
				len += (size_t)snprintf(buf + len, room - len,
				    ", ");
			if (log_quote(buf + len, room - len, text, strlen(text),
			    LOG_QUOTE_PROSE) < strlen(text)) {
				strcat(buf, "...");
				break;
			}
			len += strlen(buf + len);
		}
	} else
		snprintf(buf, sizeof(buf), "-");
	fprintf(out, "%-16s %s", key, buf);
	if (strcmp(key, "next_attempt_in") == 0 && json_is_integer(v)) {
		queue_cli_age(ago, sizeof(ago), json_integer_value(v));
		fprintf(out, " (%s%s)", json_integer_value(v) > 0 ? "in " : "",
		    json_integer_value(v) > 0 ? ago : "now");
	}
	fprintf(out, "\n");
}

int
queue_cli_show(const struct store_cli *sc, FILE *out, int64_t id, int json,
    char *err, size_t errlen)
{
	struct store_entry	 e;
	json_t			*o;
	const char		*key;
	json_t			*v;
	char			*text;
	int			 rc;
	int64_t			 now;

	if ((now = sc->sc_ops->sco_now(sc->sc_h, err, errlen)) == -1)
		return -1;
	if ((rc = sc->sc_ops->sco_get(sc->sc_h, id, &e, err, errlen)) != 1) {
		if (rc == 0)
			snprintf(err, errlen, "no queue entry %lld",
			    (long long)id);
		return -1;
	}
	o = queue_cli_json(&e, now, sc->sc_ops->sco_leases);
	store_entry_clear(&e);
	if (o == NULL || (json && (text = json_dumps(o, JSON_INDENT(2))) ==
	    NULL)) {
		json_decref(o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (json) {
		fprintf(out, "%s\n", text);
		free(text);
	} else
		json_object_foreach(o, key, v)
			queue_cli_show_one(out, o, key);
	json_decref(o);
	return 0;
}

int
queue_cli_retry(const struct store_cli *sc, int64_t id, char *err,
    size_t errlen)
{
	struct store_entry	e;
	int			rc;

	if ((rc = sc->sc_ops->sco_retry(sc->sc_h, id, &e, err, errlen)) ==
	    0) {
		if (e.id == 0)
			snprintf(err, errlen, "no queue entry %lld",
			    (long long)id);
		else
			snprintf(err, errlen, "queue entry %lld is %s: %s",
			    (long long)id, queue_state_name(e.state),
			    e.state == QS_ISSUED || e.state == QS_REFUSED ?
			    "the CA has answered; nothing to send" :
			    "nothing to send");
		rc = -1;
	}
	store_entry_clear(&e);
	return rc == 1 ? 0 : -1;
}

/* store_purge's visitor: the entry's audit line, into the memory stream
 * lines; written to the file only once the purge is committed. */
static int
queue_cli_purge_line(const struct store_entry *e, void *arg)
{
	FILE	*lines = arg;
	char	*line = audit_format_queue(e, STORE_PURGE_NOTE);
	int	 rc = line != NULL && fputs(line, lines) != EOF &&
		    fflush(lines) != EOF ? 0 : -1;

	free(line);
	return rc;
}

/*
 * The audit file is opened first, so that a purge that cannot be
 * recorded does not happen; the lines are written after the commit, so
 * that none records a purge that did not happen.
 */
int
queue_cli_purge(const struct store_cli *sc, int64_t id,
    const char *audit_file, char *err, size_t errlen)
{
	FILE	*lines = NULL;
	char	*buf = NULL;
	size_t	 buflen = 0;
	int	 fd = -1, rc = -1, n;

	if (audit_file != NULL && (fd = open(audit_file, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "audit file %s: %s", audit_file,
		    strerror(errno));
		return -1;
	}
	if ((lines = open_memstream(&buf, &buflen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if ((n = sc->sc_ops->sco_purge(sc->sc_h, id, queue_cli_purge_line,
	    lines, err, errlen)) == -1)
		goto done;
	rc = n;
	if (id > 0 && n == 0) {
		snprintf(err, errlen, "no active queue entry %lld",
		    (long long)id);
		rc = -1;
	} else if (fd != -1 && buflen > 0 &&
	    audit_write_all(fd, buf, buflen) == -1) {
		snprintf(err, errlen, "purged %d entr%s, but the audit file "
		    "%s: %s", n, n == 1 ? "y" : "ies", audit_file,
		    strerror(errno));
		rc = -1;
	}
done:
	if (lines != NULL)
		fclose(lines);
	free(buf);
	if (fd != -1)
		close(fd);
	return rc;
}

/* What the operator asked for. */
enum queue_cli_cmd { QC_LIST, QC_SHOW, QC_PURGE, QC_RETRY };

struct queue_cli_args {
	enum queue_cli_cmd	 qa_cmd;
	int			 qa_all;	/* list --all */
	int			 qa_json;	/* list/show --json */
	int64_t			 qa_id;		/* show, purge, retry; purge
						 * --all: 0 */
};

static void
queue_cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: estrad -c FILE queue list [--all] [--json]\n"
	    "       estrad -c FILE queue show ID [--json]\n"
	    "       estrad -c FILE queue retry ID\n"
	    "       estrad -c FILE queue purge ID | --all\n"
	    "\n"
	    "  list         entries waiting for the CA or for their client\n"
	    "  list --all   finished entries too (delivered, expired)\n"
	    "  --json       one JSON array of entries (list), one object "
	    "(show)\n"
	    "  show ID      every field of one entry\n"
	    "  retry ID     send a waiting entry now, past its backoff; a "
	    "running\n"
	    "               estrad does so within 2 seconds\n"
	    "  purge ID     drop one waiting entry; the audit file records it\n"
	    "  purge --all  drop every waiting entry\n");
}

/* 1 the database exists, 0 not yet, -1 error (printed). */
static int
queue_cli_exists(const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	fprintf(stderr, "estrad: %s: %s\n", path, strerror(errno));
	return -1;
}

static int
queue_cli_cmd_list(const struct store_cli *sc, int all, int json)
{
	char	err[512];
	int	n;

	if ((n = queue_cli_list(sc, stdout, all, json, err, sizeof(err))) ==
	    -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (n == 0 && json)
		;
	else if (n == 0 && all)
		printf("queue is empty\n");
	else if (n == 0)
		printf("no active queue entries (queue list --all shows "
		    "finished ones)\n");
	return 0;
}

static int
queue_cli_cmd_purge(const struct store_cli *sc, int64_t id,
    const char *audit_file)
{
	char	err[512];
	int	n;

	if ((n = queue_cli_purge(sc, id, audit_file, err, sizeof(err))) ==
	    -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (id > 0)
		printf("purged queue entry %lld\n", (long long)id);
	else
		printf("purged %d queue entr%s\n", n, n == 1 ? "y" : "ies");
	if (n > 0)
		printf("a running estrad forgets %s within seconds\n",
		    n == 1 ? "it" : "them");
	return 0;
}

/* show and retry: one line on stderr for an unknown or finished ID. */
static int
queue_cli_cmd_one(const struct store_cli *sc, const struct queue_cli_args *a)
{
	char	err[512];
	int	rc;

	if (a->qa_cmd == QC_SHOW)
		rc = queue_cli_show(sc, stdout, a->qa_id, a->qa_json, err,
		    sizeof(err));
	else
		rc = queue_cli_retry(sc, a->qa_id, err, sizeof(err));
	if (rc == -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (a->qa_cmd == QC_RETRY)
		printf("queue entry %lld: retry requested; a running estrad "
		    "sends it within 2 seconds\n", (long long)a->qa_id);
	return 0;
}

/* "--all" is 0 when all_ok; a positive decimal number is itself; else -1. */
static int64_t
queue_cli_id(const char *arg, int all_ok)
{
	char		*end;
	long long	 v;

	if (all_ok && strcmp(arg, "--all") == 0)
		return 0;
	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	return (int64_t)v;
}

/*
 * Without a queue there is nothing to list, show, purge or retry. none
 * says where none is: "no database yet at PATH" (SQLite), "no estrad
 * schema yet in postgresql HOST:PORT/DB".
 */
static int
queue_cli_no_db(const char *none, const struct queue_cli_args *a)
{
	if (a->qa_cmd != QC_LIST && a->qa_id > 0) {
		fprintf(stderr, "estrad: no queue entry %lld (%s)\n",
		    (long long)a->qa_id, none);
		return 1;
	}
	if (a->qa_json)
		printf("[]\n");
	else
		printf("queue is empty (%s)\n", none);
	return 0;
}

/*
 * The daemon's store, as sc: 1 open, 0 no queue there yet (said, with
 * *rc the exit status), -1 failed (said).
 */
static int
queue_cli_open(const struct config *cfg, const struct queue_cli_args *a,
    struct store_cli *sc, int *rc)
{
	struct store	*st;
	char		*path = NULL, err[768], where[256], none[320];
	int		 exists;

	if (cfg->store.backend == STORE_POSTGRESQL) {
		if ((exists = store_pg_open(&cfg->store, sc, where,
		    sizeof(where), err, sizeof(err))) == -1)
			fprintf(stderr, "estrad: %s\n", err);
		snprintf(none, sizeof(none), "no estrad schema yet in %s", where);
		if (exists == 0)
			*rc = queue_cli_no_db(none, a);
		return exists;
	}
	if (asprintf(&path, "%s/estrad.db", cfg->state_dir) == -1) {
		fprintf(stderr, "estrad: out of memory\n");
		return -1;
	}
	if ((exists = queue_cli_exists(path)) == 0) {
		snprintf(none, sizeof(none), "no database yet at %s", path);
		*rc = queue_cli_no_db(none, a);
	}
	free(path);
	if (exists != 1)
		return exists;
	/* Not locked: the daemon holds the lock while it runs. */
	if ((st = store_open(cfg->state_dir, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "estrad: %s\n", err);
		return -1;
	}
	store_cli_sqlite(st, sc);
	return 1;
}

static int
queue_cli_run(const struct config *cfg, const struct queue_cli_args *a)
{
	struct store_cli	 sc;
	char			 err[512];
	int			 rc = 1, opened;

	/* Run by root for a daemon with a "user": as that user, so that no
	 * file of root's is left where the daemon must write. */
	if (privdrop_command(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if ((opened = queue_cli_open(cfg, a, &sc, &rc)) != 1)
		return opened == 0 ? rc : 1;
	switch (a->qa_cmd) {
	case QC_PURGE:
		rc = queue_cli_cmd_purge(&sc, a->qa_id, cfg->audit.file);
		break;
	case QC_LIST:
		rc = queue_cli_cmd_list(&sc, a->qa_all, a->qa_json);
		break;
	default:
		rc = queue_cli_cmd_one(&sc, a);
		break;
	}
	sc.sc_ops->sco_close(sc.sc_h);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "estrad: stdout: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}

/* The subcommands and what each takes. */
static const struct {
	const char		*name;
	enum queue_cli_cmd	 cmd;
	int			 needs_id;	/* 2: an ID or --all */
	int			 all, json;	/* flags it takes */
} queue_cli_cmds[] = {
	{ "list",	QC_LIST,	0, 1, 1 },
	{ "show",	QC_SHOW,	1, 0, 1 },
	{ "retry",	QC_RETRY,	1, 0, 0 },
	{ "purge",	QC_PURGE,	2, 0, 0 },
};

/* argv after the subcommand into a. 0, or 2 (bad usage, printed). */
static int
queue_cli_parse(int i, int argc, char **argv, struct queue_cli_args *a)
{
	const char	*name = queue_cli_cmds[i].name;
	int		 needs_id = queue_cli_cmds[i].needs_id, have_id = 0;

	a->qa_cmd = queue_cli_cmds[i].cmd;
	for (int k = 2; k < argc; k++) {
		if (queue_cli_cmds[i].all && strcmp(argv[k], "--all") == 0)
			a->qa_all = 1;
		else if (queue_cli_cmds[i].json &&
		    strcmp(argv[k], "--json") == 0)
			a->qa_json = 1;
		else if (needs_id && !have_id) {
			if ((a->qa_id = queue_cli_id(argv[k], needs_id == 2)) ==
			    -1) {
				char q[256];
				log_quote(q, sizeof(q), argv[k], strlen(argv[k]),
				    LOG_QUOTE_PROSE);
				fprintf(stderr, "estrad: queue %s: \"%s\" is not "
				    "an entry ID (a number from queue list)%s\n",
				    name, q, needs_id == 2 ? " or --all" : "");
				return 2;
			}
			have_id = 1;
		} else {
			queue_cli_usage(stderr);
			return 2;
		}
	}
	if (needs_id && !have_id) {
		queue_cli_usage(stderr);
		return 2;
	}
	return 0;
}

int
queue_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char		*cmd = argc >= 2 ? argv[1] : "";
	struct queue_cli_args	 a;
	size_t			 i, n = sizeof(queue_cli_cmds) /
				    sizeof(queue_cli_cmds[0]);
	int			 rc;

	memset(&a, 0, sizeof(a));
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		queue_cli_usage(stdout);
		return 0;
	}
	for (i = 0; i < n && strcmp(cmd, queue_cli_cmds[i].name) != 0; i++)
		;
	if (i == n && *cmd != '\0') {
		char q[256];
		/* The operator's own word, but kept to one line. */
		log_quote(q, sizeof(q), cmd, strlen(cmd), LOG_QUOTE_PROSE);
		fprintf(stderr, "estrad: unknown queue command \"%s\" (list, "
		    "show, retry, purge)\n", q);
		return 2;
	}
	if (i == n) {
		queue_cli_usage(stderr);
		return 2;
	}
	if ((rc = queue_cli_parse((int)i, argc, argv, &a)) != 0)
		return rc;
	/* On PostgreSQL the queue is in the database (docs/scaling.md). */
	if (cfg->state_dir == NULL && cfg->store.backend != STORE_POSTGRESQL) {
		fprintf(stderr, "estrad: state_dir is not set in %s\n",
		    cfg->path != NULL ? cfg->path : "the configuration");
		return 1;
	}
	return queue_cli_run(cfg, &a);
}
