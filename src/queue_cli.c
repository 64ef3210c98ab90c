/*
 * queue_cli: `estrad queue list|purge`, the whole command: its arguments,
 * its listing and its purge with the audit lines (the store's reads and
 * marks are store_list.c). A short-lived process that may block on the
 * disk: it is not the event loop. It never creates the database: listing
 * a queue that was never used says so and stops, so an operator's typo in
 * state_dir does not leave a stray database behind. Run as root for a
 * configured "user", it works as that user (after handing over the state
 * files that exist, as the daemon does at start). What it promises: a
 * listing is one consistent snapshot and puts no control character of a
 * client's text on the terminal; a purge writes one audit line per entry
 * purged, none for a purge that did not happen.
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

#include "estrad/audit.h"
#include "estrad/config.h"
#include "estrad/log.h"
#include "estrad/privdrop.h"
#include "estrad/queue_cli.h"
#include "estrad/store.h"

enum { LC_ID, LC_STATE, LC_LABEL, LC_OP, LC_IDENTITY, LC_SUBJECT, LC_AGE,
    LC_ATTEMPTS, LC_CA, LC_NOTE, LC_MAX };

static const char *const queue_cli_head[LC_MAX] = {
	"ID", "STATE", "LABEL", "OP", "IDENTITY", "SUBJECT", "AGE",
	"ATTEMPTS", "CA", "NOTE"
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

static void
queue_cli_row(struct queue_cli_row *r, const struct store_entry *e,
    int64_t now)
{
	snprintf(r->col[LC_ID], sizeof(r->col[0]), "%lld", (long long)e->id);
	snprintf(r->col[LC_STATE], sizeof(r->col[0]), "%s",
	    queue_state_name(e->state));
	queue_cli_text(r->col[LC_LABEL], sizeof(r->col[0]), e->label);
	queue_cli_text(r->col[LC_OP], sizeof(r->col[0]), e->op);
	queue_cli_text(r->col[LC_IDENTITY], sizeof(r->col[0]), e->identity);
	queue_cli_text(r->col[LC_SUBJECT], sizeof(r->col[0]), e->subject);
	queue_cli_age(r->col[LC_AGE], sizeof(r->col[0]), now - e->created);
	snprintf(r->col[LC_ATTEMPTS], sizeof(r->col[0]), "%d", e->attempts);
	if (e->ca_status > 0)
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "%d", e->ca_status);
	else
		snprintf(r->col[LC_CA], sizeof(r->col[0]), "-");
	queue_cli_text(r->col[LC_NOTE], sizeof(r->col[0]), e->note);
}

static void
queue_cli_print(FILE *out, const char *const *col, const int *w)
{
	for (int i = 0; i < LC_MAX - 1; i++)
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
		queue_cli_print(l->ql_out, queue_cli_head, l->ql_w);
	l->ql_head_done = 1;
	queue_cli_print(l->ql_out, col, l->ql_w);
}

int
queue_cli_list(struct store *st, FILE *out, int all, char *err,
    size_t errlen)
{
	struct queue_cli_listing l = { .ql_out = out,
	    .ql_now = (int64_t)time(NULL) };

	for (int i = 0; i < LC_MAX; i++)
		l.ql_w[i] = (int)strlen(queue_cli_head[i]);
	return store_list(st, all, 2, queue_cli_list_visit, &l, err, errlen);
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
queue_cli_purge(struct store *st, int64_t id, const char *audit_file,
    char *err, size_t errlen)
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
	if ((n = store_purge(st, id, queue_cli_purge_line, lines, err,
	    errlen)) == -1)
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

static void
queue_cli_usage(FILE *out)
{
	fprintf(out,
	    "usage: estrad -c FILE queue list [--all]\n"
	    "       estrad -c FILE queue purge ID | --all\n"
	    "\n"
	    "  list         entries waiting for the CA or for their client\n"
	    "  list --all   finished entries too (delivered, expired)\n"
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
queue_cli_cmd_list(struct store *st, int all)
{
	char	err[512];
	int	n;

	if ((n = queue_cli_list(st, stdout, all, err, sizeof(err))) == -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (n == 0 && all)
		printf("queue is empty\n");
	else if (n == 0)
		printf("no active queue entries (queue list --all shows "
		    "finished ones)\n");
	return 0;
}

static int
queue_cli_cmd_purge(struct store *st, int64_t id, const char *audit_file)
{
	char	err[512];
	int	n;

	if ((n = queue_cli_purge(st, id, audit_file, err, sizeof(err))) ==
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

/* "--all" is 0; a positive decimal number is itself; else -1. */
static int64_t
queue_cli_id(const char *arg)
{
	char		*end;
	long long	 v;

	if (strcmp(arg, "--all") == 0)
		return 0;
	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return -1;
	return (int64_t)v;
}

/* Without a database there is nothing to list or purge. */
static int
queue_cli_no_db(const char *path, int purge, int64_t id)
{
	if (purge && id > 0) {
		fprintf(stderr, "estrad: no active queue entry %lld (no "
		    "database yet at %s)\n", (long long)id, path);
		return 1;
	}
	printf("queue is empty (no database yet at %s)\n", path);
	return 0;
}

/* all: list --all; id: purge's (0 for --all). */
static int
queue_cli_run(const struct config *cfg, int purge, int all, int64_t id)
{
	struct store	*st;
	char		*path = NULL, err[512];
	int		 rc, exists;

	/* Run by root for a daemon with a "user": as that user, so that no
	 * file of root's is left where the daemon must write. */
	if (privdrop_command(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (asprintf(&path, "%s/estrad.db", cfg->state_dir) == -1) {
		fprintf(stderr, "estrad: out of memory\n");
		return 1;
	}
	if ((exists = queue_cli_exists(path)) != 1) {
		rc = exists == 0 ? queue_cli_no_db(path, purge, id) : 1;
		free(path);
		return rc;
	}
	free(path);
	/* Not locked: the daemon holds the lock while it runs. */
	if ((st = store_open(cfg->state_dir, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "estrad: %s\n", err);
		return 1;
	}
	if (purge)
		rc = queue_cli_cmd_purge(st, id, cfg->audit.file);
	else
		rc = queue_cli_cmd_list(st, all);
	store_close(st);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "estrad: stdout: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}

int
queue_cli_main(const struct config *cfg, int argc, char **argv)
{
	const char	*cmd = argc >= 2 ? argv[1] : "";
	int		 purge = strcmp(cmd, "purge") == 0, all = 0;
	int64_t		 id = 0;

	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		queue_cli_usage(stdout);
		return 0;
	}
	if (purge && argc == 3) {
		if ((id = queue_cli_id(argv[2])) == -1) {
			fprintf(stderr, "estrad: queue purge: \"%s\" is not an "
			    "entry ID (a number from queue list) or --all\n",
			    argv[2]);
			return 2;
		}
	} else if (strcmp(cmd, "list") == 0 && argc == 3 &&
	    strcmp(argv[2], "--all") == 0)
		all = 1;
	else if (!purge && *cmd != '\0' && strcmp(cmd, "list") != 0) {
		char q[256];
		/* The operator's own word, but kept to one line. */
		log_quote(q, sizeof(q), cmd, strlen(cmd), LOG_QUOTE_PROSE);
		fprintf(stderr, "estrad: unknown queue command \"%s\" (list, "
		    "purge)\n", q);
		return 2;
	} else if (strcmp(cmd, "list") != 0 || argc != 2) {
		queue_cli_usage(stderr);
		return 2;
	}
	if (cfg->state_dir == NULL) {
		fprintf(stderr, "estrad: state_dir is not set in %s\n",
		    cfg->path != NULL ? cfg->path : "the configuration");
		return 1;
	}
	return queue_cli_run(cfg, purge, all, id);
}
