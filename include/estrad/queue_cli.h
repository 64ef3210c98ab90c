/*
 * queue_cli: the operator's view of the store-and-forward queue,
 *
 *	estrad -c FILE queue list [--all]
 *	estrad -c FILE queue purge ID | --all
 *
 * It opens the daemon's database without the daemon's lock, so it works
 * while the daemon runs: a purge only marks rows, which the daemon then
 * forgets within seconds (store_purged_ids).
 */
#ifndef ESTRAD_QUEUE_CLI_H
#define ESTRAD_QUEUE_CLI_H

struct config;

/*
 * argv[0] is "queue". Prints to stdout, errors to stderr. Returns the exit
 * status: 0 done, 1 failed, 2 bad usage.
 */
int queue_cli_main(const struct config *cfg, int argc, char **argv);

#endif
