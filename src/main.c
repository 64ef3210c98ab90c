/*
 * main: arguments, start-up, signals, and the event loop. Everything that
 * can be wrong in the configuration is found before a socket is bound
 * (config_load); `-n` stops right there.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "estrad/config.h"
#include "estrad/connlimit.h"
#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/metrics.h"
#include "estrad/notify.h"
#include "estrad/pg.h"
#include "estrad/privdrop.h"
#include "estrad/queue_cli.h"
#include "estrad/server.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: estrad [-dn] -c FILE\n"
	    "       estrad -c FILE queue list [--all] [--json]\n"
	    "       estrad -c FILE queue show ID [--json]\n"
	    "       estrad -c FILE queue retry ID\n"
	    "       estrad -c FILE queue purge ID | --all\n"
	    "       estrad --version | --help\n"
	    "\n"
	    "EST (RFC 7030) registration-authority proxy.\n"
	    "\n"
	    "  -c, --config FILE  configuration file (JSON)\n"
	    "  -n, --check        check the configuration and exit: prints\n"
	    "                     \"configuration OK\", or every error as\n"
	    "                     FILE:LINE: key.path: problem (exit 1)\n"
	    "  -d, --debug        log at debug level\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "\n"
	    "  queue list [--all] the store-and-forward queue (state_dir's, or\n"
	    "                     the store's PostgreSQL database):\n"
	    "                     waiting entries (--all: finished ones too;\n"
	    "                     --json: one JSON array)\n"
	    "  queue show ID      every field of one entry (--json: an object)\n"
	    "  queue retry ID     send a waiting entry now, past its backoff\n"
	    "  queue purge ID     drop a waiting entry, or all with --all;\n"
	    "                     recorded in the audit file. All work while\n"
	    "                     the daemon runs.\n"
	    "\n"
	    "estrad runs in the foreground and logs to stderr.\n");
}

/* The loop's state for signals: the server, and a graceful stop. */
struct daemon_ctx {
	struct event_base	*base;
	struct server		*srv;
	struct event		*drain_check;	/* 100 ms: anything left? */
	struct timespec		 deadline;
	int			 debug;
	int			 stopping;
};

static int
past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec &&
	    now.tv_nsec >= t->tv_nsec);
}

static void
on_drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_ctx	*d = arg;
	long			 left = server_in_flight(d->srv);

	/* Done when nothing is being answered and no connection is left
	 * that a request could still arrive on (server_drain). */
	if (left == 0 && server_connections(d->srv) == 0) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	if (past(&d->deadline)) {
		if (left > 0)
			log_warn("shutdown_timeout: %ld request%s still in "
			    "flight; stopping anyway", left, left == 1 ? "" :
			    "s");
		event_base_loopexit(d->base, NULL);
	}
}

/*
 * SIGTERM/SIGINT: stop accepting, let the requests in flight finish (up
 * to shutdown_timeout), then leave the loop; server_free() flushes the
 * queue's writes. A second signal stops at once.
 */
static void
on_signal_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx	*d = arg;
	struct timeval		 tick = { 0, 100 * 1000 };
	long			 ms = server_shutdown_ms(d->srv);

	if (d->stopping) {
		log_info("signal %d again: stopping now", (int)sig);
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = 1;
	notify_stopping();
	log_info("signal %d: stopping; %ld request%s in flight, %zu "
	    "connection%s open, waiting up to %.1f s", (int)sig,
	    server_in_flight(d->srv), server_in_flight(d->srv) == 1 ?
	    "" : "s", server_connections(d->srv),
	    server_connections(d->srv) == 1 ? "" : "s", (double)ms / 1000);
	server_drain(d->srv);
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += ms / 1000;
	d->deadline.tv_nsec += (ms % 1000) * 1000000;
	if (d->deadline.tv_nsec >= 1000000000) {
		d->deadline.tv_sec++;
		d->deadline.tv_nsec -= 1000000000;
	}
	if ((d->drain_check = event_new(d->base, -1, EV_PERSIST,
	    on_drain_check, d)) != NULL)
		loop_control(d->drain_check);
	if (d->drain_check == NULL || event_add(d->drain_check,
	    &tick) == -1)
		event_base_loopexit(d->base, NULL);
	else
		on_drain_check(-1, 0, d);
}

static void
on_signal_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *d = arg;

	if (d->stopping) {
		log_info("SIGHUP while stopping: ignored");
		return;
	}
	log_info("SIGHUP: reloading");
	notify_reloading();
	server_reload(d->srv);
	if (d->debug)
		log_init(LOG_LEVEL_DEBUG);
	notify_ready();
}

static struct config *
load_or_report(const char *path)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*cfg;

	if ((cfg = config_load(path, &errs)) == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		config_errors_clear(&errs);
	}
	return cfg;
}

/*
 * The TLS key, the RA's key and the local CAs' keys live in this process:
 * a crash must not write them to a core file. With -d (debugging, in the
 * foreground) the limit is left as it was.
 */
static void
no_core_dumps(int debug)
{
	struct rlimit none = { 0, 0 };

	if (!debug && setrlimit(RLIMIT_CORE, &none) == -1)
		log_warn("cannot turn core dumps off: %s", strerror(errno));
}

/*
 * Enough descriptors for the connection limit: client connections up to
 * connlimit's ceiling, a connection per upstream transfer, the admin
 * listener's admin.max_connections, and a margin
 * for the listeners, logs, store and workers. Raise the soft limit (up to
 * the hard one) if it is short; if even that is short, say so: past it,
 * accept() fails and clients wait in the backlog.
 */
#define FD_MARGIN	64

static void
enough_descriptors(const struct config *cfg)
{
	struct rlimit	 rl;
	rlim_t		 need = (rlim_t)connlimit_ceiling_for(
	    cfg->limits.max_connections) + FD_MARGIN;

	need += (rlim_t)config_upstream_slots(cfg);
	if (cfg->admin.enabled)
		need += (rlim_t)cfg->admin.max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ?
	    need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need)
		log_warn("limits.max_connections %ld needs about %llu file "
		    "descriptors; the limit (RLIMIT_NOFILE) is %llu: lower "
		    "max_connections or raise the limit (LimitNOFILE= in the "
		    "unit)", cfg->limits.max_connections,
		    (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

static int
run(struct config *cfg, int debug)
{
	struct daemon_ctx	 d;
	struct event		*sigint, *sigterm, *sighup;
	char			 err[512];

	memset(&d, 0, sizeof(d));
	d.debug = debug;
	log_init(debug ? LOG_LEVEL_DEBUG : (enum log_level)cfg->log_level);
	log_configure(cfg->log_format, cfg->log_syslog,
	    cfg->syslog_facility, "estrad");
	/* Start now, as the old files can be read: the reload cannot. */
	for (size_t i = 0; i < cfg->as_user.n; i++)
		log_warn("%s", cfg->as_user.lines[i]);
	signal(SIGPIPE, SIG_IGN);
	no_core_dumps(debug);
	enough_descriptors(cfg);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	if ((d.base = loop_base_new()) == NULL)
		fatal("cannot make the event loop");
	/* Ports bound and files read with the privileges we started with;
	 * then, for good, those of the configured user. */
	if (privdrop_refuse_root(cfg, err, sizeof(err)) == -1 ||
	    privdrop_hand_over(cfg, 1, err, sizeof(err)) == -1) {
		log_err("%s", err);
		config_free(cfg);
		event_base_free(d.base);
		curl_global_cleanup();
		return 1;
	}
	if ((d.srv = server_new(d.base, cfg)) == NULL) {
		event_base_free(d.base);
		curl_global_cleanup();
		return 1;
	}
	if (privdrop_apply(cfg, err, sizeof(err)) == -1) {
		log_err("%s", err);
		server_free(d.srv);
		event_base_free(d.base);
		curl_global_cleanup();
		return 1;
	}
	sigint = evsignal_new(d.base, SIGINT, on_signal_stop, &d);
	sigterm = evsignal_new(d.base, SIGTERM, on_signal_stop, &d);
	sighup = evsignal_new(d.base, SIGHUP, on_signal_reload, &d);
	loop_control(sigint);
	loop_control(sigterm);
	loop_control(sighup);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sighup, NULL);
	log_info("estrad %s started", ESTRAD_VERSION);
	notify_ready();
	event_base_dispatch(d.base);
	server_free(d.srv);
	if (d.drain_check != NULL)
		event_free(d.drain_check);
	event_free(sigint);
	event_free(sigterm);
	event_free(sighup);
	event_base_free(d.base);
	metrics_reset();	/* frees the registry: valgrind stays quiet */
	curl_global_cleanup();
	log_info("stopped");
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "check",	no_argument,		NULL, 'n' },
		{ "debug",	no_argument,		NULL, 'd' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL;
	int		 ch, check = 0, debug = 0, rc;
	struct config	*cfg;

	while ((ch = getopt_long(argc, argv, "+c:ndVh", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'V':
			printf("estrad %s\n", ESTRAD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* "+" above: getopt stops at the subcommand, whose options are its
	 * own (queue list --all). */
	if (path != NULL && !check && optind < argc &&
	    strcmp(argv[optind], "queue") == 0) {
		if ((cfg = load_or_report(path)) == NULL)
			return 1;
		rc = queue_cli_main(cfg, argc - optind, argv + optind);
		config_free(cfg);
		return rc;
	}
	if (path == NULL && check) {
		fprintf(stderr, "estrad: -c FILE is required with -n\n");
		usage(stderr);
		return 2;
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((cfg = load_or_report(path)) == NULL)
		return 1;
	/* Loaded as root: files "user" could not read are errors here (a
	 * reload would fail on them), warnings at start (run()). */
	if (check && cfg->as_user.n > 0) {
		for (size_t i = 0; i < cfg->as_user.n; i++)
			fprintf(stderr, "%s\n", cfg->as_user.lines[i]);
		config_free(cfg);
		return 1;
	}
	/* The shared store: reachable with these credentials, and ours. */
	if (check && cfg->store.backend == STORE_POSTGRESQL) {
		char err[768];

		if (pg_check(&cfg->store, err, sizeof(err)) == -1) {
			fprintf(stderr, "%s: store: %s\n", path, err);
			config_free(cfg);
			return 1;
		}
	}
	if (check) {
		printf("configuration OK\n");
		config_free(cfg);
		return 0;
	}
	return run(cfg, debug);
}
