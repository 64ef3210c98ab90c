/*
 * main: arguments, start-up, signals, and the event loop. Everything that
 * can be wrong in the configuration is found before a socket is bound
 * (config_load); `-n` stops right there.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "estrad/config.h"
#include "estrad/est.h"
#include "estrad/log.h"
#include "estrad/queue_cli.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: estrad [-n] -c FILE\n"
	    "       estrad -c FILE queue list [--all]\n"
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
	    "  queue list [--all] the store-and-forward queue in state_dir:\n"
	    "                     waiting entries (--all: finished ones too)\n"
	    "  queue purge ID     drop a waiting entry, or all with --all;\n"
	    "                     recorded in the audit file. Both work while\n"
	    "                     the daemon runs.\n"
	    "\n"
	    "estrad runs in the foreground and logs to stderr.\n");
}

static void
on_signal_stop(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(base, NULL);
}

static void
on_signal_reload(evutil_socket_t sig, short what, void *arg)
{
	log_info("SIGHUP: reloading users");
	est_server_reload(arg);
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

static int
run(struct config *cfg, int debug)
{
	struct event_base	*base;
	struct est_server	*srv;
	struct event		*sigint, *sigterm, *sighup;
	int			 level = log_level_from_name(cfg->log_level);

	log_init(debug ? LOG_LEVEL_DEBUG : (enum log_level)level);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	if ((base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	if ((srv = est_server_new(base, cfg)) == NULL) {
		event_base_free(base);
		curl_global_cleanup();
		return 1;
	}
	sigint = evsignal_new(base, SIGINT, on_signal_stop, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal_stop, base);
	sighup = evsignal_new(base, SIGHUP, on_signal_reload, srv);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	evsignal_add(sighup, NULL);
	log_info("estrad %s started", ESTRAD_VERSION);
	event_base_dispatch(base);
	est_server_free(srv);
	event_free(sigint);
	event_free(sigterm);
	event_free(sighup);
	event_base_free(base);
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
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((cfg = load_or_report(path)) == NULL)
		return 1;
	if (check) {
		printf("configuration OK\n");
		config_free(cfg);
		return 0;
	}
	return run(cfg, debug);
}
