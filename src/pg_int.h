/*
 * pg_int: what pg.c and pg_schema.c share and nothing else includes.
 */
#ifndef ESTRAD_PG_INT_H
#define ESTRAD_PG_INT_H

#include <stddef.h>

#include <libpq-fe.h>

struct cfg_store;

/* estrad_queue's active states, as store.c's STORE_ACTIVE_SQL. */
#define PG_ACTIVE	"state IN ('pending', 'polling', 'issued', 'refused')"

/* Keywords pg_conn_params() may fill, without the terminating NULL. */
#define PG_CONN_PARAMS	14

struct event_base;

/* Where to connect, resolved off the loop (pg_dns.c): comma lists for
 * libpq's host, hostaddr and port (port NULL: the conninfo's). */
struct pg_dns_target {
	const char	*host;		/* NULL: the conninfo's */
	const char	*hostaddr;
	const char	*port;
	const char	*options;	/* libpq's options; NULL: the conninfo's */
};

/* libpq's message (msg) on one line, without its trailing newline. */
void pg_errline(char *out, size_t outlen, const char *msg);
/* "postgresql HOST:PORT/DB" of cfg's conninfo, for messages. */
void pg_where(const struct cfg_store *cfg, char *out, size_t outlen);
/* The keywords and values for PQconnect*Params (expand_dbname 1); to
 * (NULL: the conninfo's hosts, as they are) overrides where. */
void pg_conn_params(const struct cfg_store *cfg,
    const struct pg_dns_target *to, const char **keys, const char **vals,
    char *timeout, size_t timeoutlen);

/* pg_dns.c */
struct pg_dns;
struct pg_dns_job;
/* to NULL: nothing resolved, err says why. */
typedef void (*pg_dns_done_fn)(void *arg, const struct pg_dns_target *to,
    const char *err);
/* The conninfo's host names, for resolving; NULL only out of memory. */
struct pg_dns *pg_dns_new(struct event_base *base, const char *conninfo);
/* 1 when some host is a name libpq would resolve itself (blocking). */
int pg_dns_needed(const struct pg_dns *d);
/* Resolve on the worker; done follows on the loop unless cancelled.
 * NULL: could not start (out of memory, too many waiting). */
struct pg_dns_job *pg_dns_resolve(struct pg_dns *d, pg_dns_done_fn done,
    void *arg);
void pg_dns_cancel(struct pg_dns_job *j);
/* Jobs still waiting end first (cancelled ones call nothing). */
void pg_dns_free(struct pg_dns *d);
/* Drop the server's notices (they would go to stderr). */
void pg_quiet(PGconn *c);
/* Hex text into a malloc'd buffer. 0, or -1 (not hex, no memory). */
int pg_unhex(const char *hex, unsigned char **out, size_t *len);

#endif
