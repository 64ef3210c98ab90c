/*
 * queue_cli: `estrad queue list|purge`. A short-lived process that may
 * block on the disk: it is not the event loop. It never creates the
 * database: listing a queue that was never used says so and stops, so an
 * operator's typo in state_dir does not leave a stray database behind.
 * Run as root for a configured "user", it works as that user (after
 * handing over the state files that exist, as the daemon does at start).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estrad/config.h"
#include "estrad/privdrop.h"
#include "estrad/queue_cli.h"
#include "estrad/store.h"

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
queue_cli_list(struct store *st, int all)
{
	char	err[512];
	int	n;

	if ((n = store_cli_list(st, stdout, all, err, sizeof(err))) == -1) {
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
queue_cli_purge(struct store *st, int64_t id, const char *audit_file)
{
	char	err[512];
	int	n;

	if ((n = store_cli_purge(st, id, audit_file, err, sizeof(err))) ==
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
		rc = queue_cli_purge(st, id, cfg->audit.file);
	else
		rc = queue_cli_list(st, all);
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
	else if (strcmp(cmd, "list") != 0 || argc != 2) {
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
