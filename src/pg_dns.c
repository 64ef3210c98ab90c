/*
 * pg_dns: the shared store's host names resolved off the event loop.
 *
 * PQconnectStartParams resolves a host name with getaddrinfo(3), which
 * blocks: a slow or dead DNS server would stop every request on the loop
 * at each reconnect. So when the conninfo names hosts (not addresses, not
 * socket directories, and no hostaddr of its own), each (re)connect first
 * resolves them on a worker thread, then hands libpq host= (for the TLS
 * name check) with hostaddr= (the address, so libpq resolves nothing).
 * A host that does not resolve is left out, with its port; none resolving
 * fails the connect like a refused one, and the backoff tries again.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include "estrad/worker.h"
#include "pg_int.h"

#define PG_DNS_HOSTS_MAX	16

struct pg_dns {
	struct worker	*pd_worker;	/* one thread; NULL: nothing to do */
	char		*pd_hosts;	/* the conninfo's host list */
	char		*pd_ports;	/* its port list, or NULL */
};

struct pg_dns_job {
	pg_dns_done_fn	 dj_done;	/* NULL: cancelled */
	void		*dj_arg;
	char		*dj_hosts;	/* copies: the thread's own */
	char		*dj_ports;
	int		 dj_ok;
	char		 dj_host[512];
	char		 dj_hostaddr[512];
	char		 dj_port[256];
	char		 dj_err[256];
};

/* An address or a socket directory: libpq resolves nothing for it. */
static int
pg_dns_literal(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return h[0] == '\0' || h[0] == '/' || h[0] == '@' ||
	    inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

struct pg_dns *
pg_dns_new(struct event_base *base, const char *conninfo)
{
	PQconninfoOption	*opts, *o;
	struct pg_dns		*d;
	const char		*hosts = NULL, *ports = NULL;
	char			*perr = NULL, *copy, *h, *save = NULL;
	int			 need = 0, hostaddr = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		return d;	/* config_offline.c refused it already */
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			hosts = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			ports = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = 1;
	}
	if (hosts != NULL && !hostaddr && (copy = strdup(hosts)) != NULL) {
		for (h = strtok_r(copy, ",", &save); h != NULL;
		    h = strtok_r(NULL, ",", &save))
			if (!pg_dns_literal(h))
				need = 1;
		free(copy);
	}
	if (need && ((d->pd_hosts = strdup(hosts)) == NULL ||
	    (ports != NULL && (d->pd_ports = strdup(ports)) == NULL) ||
	    (d->pd_worker = worker_new(base, 1, 64)) == NULL)) {
		PQconninfoFree(opts);
		pg_dns_free(d);
		return NULL;
	}
	PQconninfoFree(opts);
	return d;
}

int
pg_dns_needed(const struct pg_dns *d)
{
	return d != NULL && d->pd_worker != NULL;
}

void
pg_dns_free(struct pg_dns *d)
{
	if (d == NULL)
		return;
	/* Runs the done callbacks of jobs still there: cancelled ones. */
	worker_free(d->pd_worker);
	free(d->pd_hosts);
	free(d->pd_ports);
	free(d);
}

/* Append item to the comma list out. */
static void
pg_dns_append(char *out, size_t outlen, const char *item)
{
	size_t len = strlen(out);

	snprintf(out + len, outlen - len, "%s%s", len > 0 ? "," : "", item);
}

/* The first address of host into addr (text), or -1 with err. */
static int
pg_dns_lookup(const char *host, char *addr, size_t addrlen, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	const void	*p;
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		    gai_strerror(rc));
		return -1;
	}
	p = res->ai_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	if (inet_ntop(res->ai_family, p, addr, (socklen_t)addrlen) == NULL) {
		snprintf(err, errlen, "cannot resolve %s: no address", host);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return 0;
}

/* On the worker thread: only the job's copies are used. */
static void
pg_dns_work(void *arg)
{
	struct pg_dns_job	*j = arg;
	char			*hosts[PG_DNS_HOSTS_MAX], *ports[PG_DNS_HOSTS_MAX];
	char			*save = NULL, *h, addr[INET6_ADDRSTRLEN];
	size_t			 nh = 0, np = 0;

	for (h = strtok_r(j->dj_hosts, ",", &save); h != NULL &&
	    nh < PG_DNS_HOSTS_MAX; h = strtok_r(NULL, ",", &save))
		hosts[nh++] = h;
	save = NULL;
	for (h = j->dj_ports != NULL ? strtok_r(j->dj_ports, ",", &save) :
	    NULL; h != NULL && np < PG_DNS_HOSTS_MAX;
	    h = strtok_r(NULL, ",", &save))
		ports[np++] = h;
	for (size_t i = 0; i < nh; i++) {
		/* A socket directory takes an empty hostaddr entry. */
		if (hosts[i][0] == '/' || hosts[i][0] == '@')
			addr[0] = '\0';
		else if (pg_dns_literal(hosts[i]))
			snprintf(addr, sizeof(addr), "%s", hosts[i]);
		else if (pg_dns_lookup(hosts[i], addr, sizeof(addr),
		    j->dj_err, sizeof(j->dj_err)) == -1)
			continue;	/* left out, with its port */
		pg_dns_append(j->dj_host, sizeof(j->dj_host), hosts[i]);
		pg_dns_append(j->dj_hostaddr, sizeof(j->dj_hostaddr), addr);
		if (np > 1 && i < np)
			pg_dns_append(j->dj_port, sizeof(j->dj_port), ports[i]);
		j->dj_ok = 1;
	}
	if (np == 1)
		snprintf(j->dj_port, sizeof(j->dj_port), "%s", ports[0]);
}

static void
pg_dns_job_free(struct pg_dns_job *j)
{
	free(j->dj_hosts);
	free(j->dj_ports);
	free(j);
}

/* Back on the loop. */
static void
pg_dns_finish(void *arg)
{
	struct pg_dns_job	*j = arg;
	struct pg_dns_target	 t;

	if (j->dj_done != NULL) {
		t.host = j->dj_host;
		t.hostaddr = j->dj_hostaddr;
		t.port = j->dj_port[0] != '\0' ? j->dj_port : NULL;
		j->dj_done(j->dj_arg, j->dj_ok ? &t : NULL, j->dj_err);
	}
	pg_dns_job_free(j);
}

struct pg_dns_job *
pg_dns_resolve(struct pg_dns *d, pg_dns_done_fn done, void *arg)
{
	struct pg_dns_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->dj_done = done;
	j->dj_arg = arg;
	snprintf(j->dj_err, sizeof(j->dj_err), "no host resolved");
	if ((j->dj_hosts = strdup(d->pd_hosts)) == NULL ||
	    (d->pd_ports != NULL && (j->dj_ports = strdup(d->pd_ports)) ==
	    NULL) || worker_submit(d->pd_worker, pg_dns_work, pg_dns_finish,
	    j) == -1) {
		pg_dns_job_free(j);
		return NULL;
	}
	return j;
}

void
pg_dns_cancel(struct pg_dns_job *j)
{
	if (j != NULL)
		j->dj_done = NULL;
}
