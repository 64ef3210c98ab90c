/*
 * config_offline: the parts of the configuration that keep a branch office
 * working through an outage: "state_dir", "cache" and "queue" (each
 * upstream's list of URLs, with their backoff, is with the upstream's
 * rows in config_upstream.c). Private to the config module; errors as
 * FILE:LINE: key.path: problem, like the rest.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "estrad/config.h"
#include "config_schema_int.h"

const struct cfg_field cache_fields[] = {
	F_LONG(struct cfg_cache, "ttl", ttl, 1, 31536000, 3600,
	    .doc_type = "integer seconds",
	    .doc = "a cached cacerts/csrattrs is fresh this long; refreshed in "
	    "the background at 3/4 of it"),
	F_LONG(struct cfg_cache, "max_stale", max_stale, 0, 31536000,
	    604800, .doc_type = "integer seconds",
	    .doc = "served this long while refreshing fails (`Age` header); 0 "
	    "or at least `ttl`"),
	F_END
};

const struct cfg_field queue_fields[] = {
	F_LONG(struct cfg_queue, "retry_after", retry_after, 1, 86400, 60,
	    .doc_type = "integer seconds",
	    .doc = "`Retry-After` of the client's `202`"),
	F_LONG(struct cfg_queue, "max_entries", max_entries, 1, 1000000,
	    10000,
	    .doc = "entries waiting at once; beyond, `503`"),
	F_LONG(struct cfg_queue, "expire", expire, 60, 31536000, 604800,
	    .doc_type = "integer seconds",
	    .doc = "an entry's life, waiting or answered"),
	F_LONG(struct cfg_queue, "max_forwarding", max_forwarding, 1, 1024,
	    4,
	    .doc = "queued requests sent to the CA at once"),
	F_LONG(struct cfg_queue, "poll_interval", poll_interval, 1, 86400,
	    60, .doc_type = "integer seconds",
	    .doc = "polling a CA that answered `202` without `Retry-After`"),
	F_END
};

static const char *const store_backend_names[] = {
	"sqlite", "postgresql", NULL
};
/* libpq's own names (sslmode), strictest last. */
static const char *const store_sslmode_names[] = {
	"disable", "require", "verify-ca", "verify-full", NULL
};

const struct cfg_field store_fields[] = {
	F_ENUM(struct cfg_store, "backend", backend, store_backend_names, 0,
	    .env = "ESTRAD_STORE_BACKEND",
	    .doc = "`sqlite`: `estrad.db` in `state_dir`, one node. "
	    "`postgresql`: the queue, Digest nonce counts, failed-login "
	    "counters and policy rate windows shared by every replica "
	    "using the same database"),
	F_STR(struct cfg_store, "conninfo", conninfo, 0, NULL,
	    .env = "ESTRAD_STORE_CONNINFO",
	    .doc_type = "string", .doc_dflt = "required for `postgresql`",
	    .doc = "libpq's connection string without the password or TLS "
	    "settings: `\"host=db.example port=5432 dbname=estrad "
	    "user=estrad\"`"),
	F_FILE(struct cfg_store, "password_file", password_file, 0,
	    .flags = CFG_F_SECRET,
	    .doc_dflt = "none",
	    .doc = "the database user's password, its first line; mode "
	    "checked like every secret"),
	F_ENUM(struct cfg_store, "sslmode", sslmode_index,
	    store_sslmode_names, STORE_SSL_VERIFY_FULL,
	    .doc = "libpq's `sslmode`: `verify-full` checks the server's "
	    "certificate and name; `disable` is for a Unix socket or a "
	    "loopback address only"),
	F_FILE(struct cfg_store, "ssl_root_cert", ssl_root_cert, 0,
	    .doc_dflt = "required for `verify-ca`/`verify-full`",
	    .doc = "PEM file of the CA that issued the database's "
	    "certificate"),
	F_LONG(struct cfg_store, "connections", connections, 1, 64, 2,
	    .doc = "connections per process, each pipelining its queries"),
	F_LONG(struct cfg_store, "timeout", timeout, 1, 300, 5,
	    .doc_type = "integer seconds",
	    .doc = "connecting, and a query's answer; past it the connection "
	    "is dropped and made again"),
	F_LONG(struct cfg_store, "lease", lease, 5, 86400, 60,
	    .doc_type = "integer seconds",
	    .doc = "a replica's claim on a queued entry it forwards, renewed "
	    "every second while the send lasts; another replica takes it "
	    "over this long after the claimer died"),
	F_END
};

void
store_row_free(void *base)
{
	struct cfg_store *s = &((struct config *)base)->store;

	if (s->password != NULL)
		OPENSSL_clear_free(s->password, strlen(s->password) + 1);
	s->password = NULL;
}

/* The password file's first line, kept (wiped on free). */
static int
store_password_read(struct cfg_ctx *ctx, struct cfg_store *s)
{
	char	 buf[1024];
	FILE	*fp;
	size_t	 n;

	if ((fp = fopen(s->password_file, "r")) == NULL)
		return 1;	/* already reported by the field check */
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (n == sizeof(buf) - 1 && strcspn(buf, "\r\n") == n) {
		/* Cut, it would fail to log in and say nothing of why. */
		cfg_err(ctx, "store.password_file", "%s: its first line is "
		    "longer than %zu bytes", s->password_file, sizeof(buf) - 2);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 1;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		cfg_err(ctx, "store.password_file", "%s is empty",
		    s->password_file);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 1;
	}
	s->password = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return s->password == NULL;
}

/* 1 when word (len bytes) is one of libpq's connection keywords, or holds
 * no letter or digit ("="): safe to show. */
static int
store_conninfo_safe(const PQconninfoOption *defs, const char *word,
    size_t len)
{
	size_t i;

	for (i = 0; i < len && !isalnum((unsigned char)word[i]); i++)
		;
	if (i == len)
		return 1;
	for (; defs != NULL && defs->keyword != NULL; defs++)
		if (strlen(defs->keyword) == len &&
		    memcmp(defs->keyword, word, len) == 0)
			return 1;
	return 0;
}

/*
 * libpq's parse error, its first line, with each quoted word that is not
 * a keyword of its own replaced by "...": libpq quotes the stray word it
 * stopped at, and a stray word in a connection string may be a pasted
 * password.
 */
static void
store_conninfo_reason(char *out, size_t outlen, const char *msg)
{
	PQconninfoOption	*defs = PQconndefaults();
	const char		*p = msg, *q;
	size_t			 o = 0, n;

	while (*p != '\0' && *p != '\n' && o + 6 < outlen) {
		if (*p != '"' || (q = strpbrk(p + 1, "\"\n")) == NULL ||
		    *q != '"') {
			out[o++] = *p++;
			continue;
		}
		n = (size_t)(q - p - 1);
		if (!store_conninfo_safe(defs, p + 1, n))
			n = 0;
		n = n < outlen - o - 3 ? n : outlen - o - 3;
		o += (size_t)snprintf(out + o, outlen - o, "\"%.*s\"",
		    n > 0 ? (int)n : 3, n > 0 ? p + 1 : "...");
		p = q + 1;
	}
	out[o < outlen ? o : outlen - 1] = '\0';
	PQconninfoFree(defs);
}

/* A conninfo holding what the store's own keys say, or unparsable. */
static int
store_conninfo_check(struct cfg_ctx *ctx, const struct cfg_store *s)
{
	static const char *const owned[][2] = {
		{ "password", "store.password_file" },
		{ "passfile", "store.password_file" },
		{ "sslmode", "store.sslmode" },
		{ "sslrootcert", "store.ssl_root_cert" },
	};
	PQconninfoOption	*opts, *o;
	char			*perr = NULL, why[256];
	int			 nerr = 0;

	if ((opts = PQconninfoParse(s->conninfo, &perr)) == NULL) {
		store_conninfo_reason(why, sizeof(why), perr != NULL ? perr :
		    "out of memory");
		cfg_err(ctx, "store.conninfo", "libpq cannot parse it: %s", why);
		PQfreemem(perr);
		return 1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
			if (strcmp(o->keyword, owned[i][0]) == 0) {
				cfg_err(ctx, "store.conninfo", "holds %s=...: "
				    "use %s instead (kept out of the "
				    "connection string, which logs may show)",
				    owned[i][0], owned[i][1]);
				nerr++;
			}
	}
	PQconninfoFree(opts);
	return nerr;
}

/* h is a socket directory, "localhost" or a loopback address (an
 * address: a host name that merely starts "127." may be anywhere). */
static int
store_one_local(const char *h)
{
	struct in_addr	v4;
	struct in6_addr	v6;

	if (h[0] == '/' || h[0] == '@' || strcmp(h, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, h, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, h, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* Every host of the conninfo is a socket directory or loopback. */
static int
store_host_local(const struct cfg_store *s)
{
	PQconninfoOption	*opts, *o;
	char			*perr = NULL, *list, *h, *save = NULL;
	int			 local = 1;

	if ((opts = PQconninfoParse(s->conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		return 1;	/* reported by store_conninfo_check */
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || (strcmp(o->keyword, "host") != 0 &&
		    strcmp(o->keyword, "hostaddr") != 0))
			continue;
		if ((list = strdup(o->val)) == NULL)
			break;
		for (h = strtok_r(list, ",", &save); h != NULL;
		    h = strtok_r(NULL, ",", &save)) {
			if (!store_one_local(h))
				local = 0;
		}
		free(list);
	}
	PQconninfoFree(opts);
	return local;
}

static int
store_check(struct cfg_ctx *ctx, struct cfg_store *s)
{
	int nerr = 0;

	s->sslmode = store_sslmode_names[s->sslmode_index];
	if (s->backend != STORE_POSTGRESQL) {
		if (s->conninfo != NULL || s->password_file != NULL) {
			cfg_err(ctx, "store.backend", "is sqlite: conninfo and "
			    "password_file are for postgresql");
			nerr++;
		}
		return nerr;
	}
	if (s->conninfo == NULL) {
		cfg_err(ctx, "store.conninfo", "is required for the "
		    "postgresql backend");
		return nerr + 1;
	}
	nerr += store_conninfo_check(ctx, s);
	if (s->sslmode_index >= STORE_SSL_VERIFY_CA &&
	    s->ssl_root_cert == NULL) {
		cfg_err(ctx, "store.ssl_root_cert", "is required with sslmode "
		    "%s (the CA that issued the database's certificate)",
		    s->sslmode);
		nerr++;
	}
	if (s->sslmode_index == STORE_SSL_DISABLE && !store_host_local(s)) {
		cfg_err(ctx, "store.sslmode", "is disable but conninfo's host "
		    "is not a Unix socket or a loopback address: the password "
		    "and every queued CSR would cross the network in clear; "
		    "use verify-full");
		nerr++;
	}
	if (s->password_file != NULL)
		nerr += store_password_read(ctx, s);
	return nerr;
}

static int
offline_section(struct cfg_ctx *ctx, const json_t *root, const char *key,
    const struct cfg_field *fields, void *base, int *enabled)
{
	const json_t	*obj;
	int		 nerr = 0;

	if ((obj = object_at(ctx, root, "", key, &nerr)) == NULL)
		return nerr;
	*enabled = 1;
	/* On PostgreSQL the queue is in the database; the cache stays a
	 * replica's own (SQLite) and needs state_dir still. */
	if (ctx->cfg->state_dir == NULL && !(fields == queue_fields &&
	    ctx->cfg->store.backend == STORE_POSTGRESQL)) {
		cfg_err(ctx, key, "needs \"state_dir\" (where the %s is kept "
		    "across restarts)", key);
		nerr++;
	}
	return nerr + section_load(ctx, obj, key, fields, base);
}

int
offline_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct config	*cfg = ctx->cfg;
	const json_t	*obj;
	int		 nerr = 0;

	/* state_dir comes from the top-level table (a plain string). */
	if (cfg->state_dir != NULL && cfg->state_dir[0] != '/') {
		cfg_err(ctx, "state_dir", "must be an absolute path");
		nerr++;
	}
	if ((obj = object_at(ctx, root, "", "store", &nerr)) != NULL) {
		cfg->store.enabled = 1;
		nerr += section_load(ctx, obj, "store", store_fields,
		    &cfg->store);
	}
	cfg->store.sslmode = store_sslmode_names[cfg->store.sslmode_index];
	if (cfg->store.enabled)
		nerr += store_check(ctx, &cfg->store);
	nerr += offline_section(ctx, root, "cache", cache_fields, &cfg->cache,
	    &cfg->cache.enabled);
	nerr += offline_section(ctx, root, "queue", queue_fields, &cfg->queue,
	    &cfg->queue.enabled);
	if (cfg->cache.enabled && cfg->cache.max_stale > 0 &&
	    cfg->cache.max_stale < cfg->cache.ttl) {
		cfg_err(ctx, "cache.max_stale", "%ld is less than cache.ttl "
		    "(%ld): use 0 to serve nothing stale", cfg->cache.max_stale,
		    cfg->cache.ttl);
		nerr++;
	}
	return nerr;
}
