/*
 * store_cli: the operator's command line over the store, `estrad queue
 * list` and `estrad queue purge`, on a connection of its own that does
 * not take the daemon's lock (see store.c). What it promises: a listing
 * is one consistent snapshot and puts no control character of a
 * client's text on the terminal; a purge only marks active rows
 * "purged", in one transaction, and writes one audit line per entry
 * purged, none for a purge that did not happen. The running daemon
 * picks the marks up through store_purged_ids().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "estrad/audit.h"
#include "estrad/store.h"

#include "store_int.h"

#define STORE_PURGE_NOTE	"purged by the operator"

enum { LC_ID, LC_STATE, LC_LABEL, LC_OP, LC_IDENTITY, LC_SUBJECT, LC_AGE,
    LC_ATTEMPTS, LC_CA, LC_NOTE, LC_MAX };

static const char *const store_list_head[LC_MAX] = {
	"ID", "STATE", "LABEL", "OP", "IDENTITY", "SUBJECT", "AGE",
	"ATTEMPTS", "CA", "NOTE"
};

/* A value longer than this still prints whole, but does not widen its
 * column for every other row. */
#define STORE_LIST_MAXW		40

struct store_list_row {
	char	 col[LC_MAX][512];
};

/* "45s", "3m12s", "2h05m", "3d04h" */
static void
store_age(char *buf, size_t size, int64_t secs)
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
store_list_text(char *buf, size_t size, const char *v)
{
	snprintf(buf, size, "%s", v[0] != '\0' ? v : "-");
	for (unsigned char *p = (unsigned char *)buf; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static void
store_list_row(struct store_list_row *r, const struct store_entry *e,
    int64_t now)
{
	snprintf(r->col[LC_ID], sizeof(r->col[0]), "%lld", (long long)e->id);
	snprintf(r->col[LC_STATE], sizeof(r->col[0]), "%s",
	    queue_state_name(e->state));
	store_list_text(r->col[LC_LABEL], sizeof(r->col[0]), e->label);
	store_list_text(r->col[LC_OP], sizeof(r->col[0]), e->op);
	store_list_text(r->col[LC_IDENTITY], sizeof(r->col[0]), e->identity);
	store_list_text(r->col[LC_SUBJECT], sizeof(r->col[0]), e->subject);
	store_age(r->col[LC_AGE], sizeof(r->col[0]), now - e->created);
	snprintf(r->col[LC_ATTEMPTS], sizeof(r->col[0]), "%d", e->attempts);
	if (e->ca_status > 0)
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "%d", e->ca_status);
	else
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "-");
	store_list_text(r->col[LC_NOTE], sizeof(r->col[0]), e->note);
}

static void
store_list_print(FILE *out, const char *const *col, const int *w)
{
	for (int i = 0; i < LC_MAX - 1; i++)
		fprintf(out, "%-*s  ", w[i], col[i]);
	fprintf(out, "%s\n", col[LC_MAX - 1]);
}

/*
 * One pass over the rows: measure (out == NULL) or print. Returns the
 * number of rows, or -1 with err.
 */
static int
store_list_pass(struct store *st, FILE *out, int all, int *w, char *err,
    size_t errlen)
{
	struct store_list_row	 r;
	struct store_entry	 e;
	const char		*col[LC_MAX];
	sqlite3_stmt		*s = store_stmt(st, SS_LIST);
	int64_t			 now = (int64_t)time(NULL);
	int			 n = 0, rc;

	if (store_bind_int(s, ":all", all) != SQLITE_OK)
		return store_fail(st, "list", err, errlen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_read_entry(st, s, &e, err, errlen) == -1) {
			sqlite3_reset(s);
			return -1;
		}
		store_list_row(&r, &e, now);
		store_entry_clear(&e);
		for (int i = 0; i < LC_MAX; i++) {
			int len = (int)strlen(r.col[i]);
			col[i] = r.col[i];
			if (out == NULL && len > w[i] &&
			    len <= STORE_LIST_MAXW)
				w[i] = len;
		}
		if (out != NULL)
			store_list_print(out, col, w);
		n++;
	}
	if (rc != SQLITE_DONE)
		store_fail(st, "list", err, errlen);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : -1;
}

/* Two passes in one read transaction: both see the same rows. */
int
store_cli_list(struct store *st, FILE *out, int all, char *err,
    size_t errlen)
{
	int	w[LC_MAX], n;

	for (int i = 0; i < LC_MAX; i++)
		w[i] = (int)strlen(store_list_head[i]);
	if (store_begin(st, SS_READ, err, errlen) == -1)
		return -1;
	if ((n = store_list_pass(st, NULL, all, w, err, errlen)) > 0) {
		store_list_print(out, store_list_head, w);
		n = store_list_pass(st, out, all, w, err, errlen);
	}
	if (n == -1 || store_commit(st, err, errlen) == -1) {
		store_rollback(st);
		return -1;
	}
	return n;
}

/*
 * Inside the transaction: the audit lines of the entries to purge go to
 * lines, their ids to *ids. Then every one is marked.
 */
static int
store_mark_purged(struct store *st, int64_t id, FILE *lines, int64_t **ids,
    size_t *n, char *err, size_t errlen)
{
	struct store_entry	 e;
	sqlite3_stmt		*s = store_stmt(st, SS_ACTIVE);
	int64_t			 now = (int64_t)time(NULL);
	size_t			 cap = 0;
	char			*line;
	int			 rc;

	if (store_bind_int(s, ":id", id) != SQLITE_OK)
		return store_fail(st, "purge", err, errlen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (store_read_entry(st, s, &e, err, errlen) == -1)
			goto fail;
		e.state = QS_PURGED;
		line = audit_format_queue(&e, STORE_PURGE_NOTE);
		if (line == NULL || fputs(line, lines) == EOF ||
		    store_push_id(ids, n, &cap, e.id) == -1) {
			store_entry_clear(&e);
			free(line);
			snprintf(err, errlen, "%s: out of memory", st->st_path);
			goto fail;
		}
		store_entry_clear(&e);
		free(line);
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, "purge", err, errlen);
		goto fail;
	}
	sqlite3_reset(s);
	for (size_t i = 0; i < *n; i++) {
		s = store_stmt(st, SS_MARK_PURGED);
		if (store_bind_int(s, ":id", (*ids)[i]) ||
		    store_bind_int(s, ":updated", now) ||
		    store_bind_text(s, ":note", STORE_PURGE_NOTE, SIZE_MAX))
			return store_fail(st, "purge", err, errlen);
		if (store_run(st, s, "purge", err, errlen) == -1)
			return -1;
	}
	return 0;
fail:
	sqlite3_reset(s);
	return -1;
}

/*
 * The audit file is opened first, so that a purge that cannot be
 * recorded does not happen; the lines are written after the commit, so
 * that none records a purge that did not happen.
 */
int
store_cli_purge(struct store *st, int64_t id, const char *audit_file,
    char *err, size_t errlen)
{
	FILE	*lines = NULL;
	char	*buf = NULL;
	size_t	 buflen = 0, n = 0;
	int64_t	*ids = NULL;
	int	 fd = -1, rc = -1;

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
	if (store_begin(st, SS_BEGIN, err, errlen) == -1)
		goto done;
	if (store_mark_purged(st, id, lines, &ids, &n, err, errlen) == -1)
		goto rollback;
	if (fflush(lines) == EOF) {
		snprintf(err, errlen, "out of memory");
		goto rollback;
	}
	if (store_commit(st, err, errlen) == -1)
		goto rollback;
	rc = (int)n;
	if (id > 0 && n == 0) {
		snprintf(err, errlen, "no active queue entry %lld",
		    (long long)id);
		rc = -1;
	} else if (fd != -1 && buflen > 0 &&
	    audit_write_all(fd, buf, buflen) == -1) {
		snprintf(err, errlen, "purged %zu entr%s, but the audit file "
		    "%s: %s", n, n == 1 ? "y" : "ies", audit_file,
		    strerror(errno));
		rc = -1;
	}
	goto done;
rollback:
	store_rollback(st);
done:
	if (lines != NULL)
		fclose(lines);
	free(buf);
	free(ids);
	if (fd != -1)
		close(fd);
	return rc;
}
