/*
 * config_routes: the routes: "default" for the bare path and
 * "labels.<label>" for each CA label, each naming its backend (an upstream
 * or a local CA, resolved to an index), its policy and which
 * authentication methods suffice per operation (RFC 7030 defaults unless
 * listed). Loaded last: a route refers to the sections before it.
 * Private to the config module; errors as FILE:LINE: key.path: problem,
 * like the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "estrad/config.h"
#include "config_schema_int.h"
#include "estrad/router.h"

/* Routes name their backend by string; resolved to indexes afterwards. */
struct route_raw {
	char	*upstream;
	char	*local_ca;
	char	*upstream_label;
	char	*policy;
	int	 csrattrs;
	int	 fullcmc_passthrough;
};

static const char *const csrattrs_names[] = { "backend", "policy", NULL };

const struct cfg_field route_fields[] = {
	F_STR(struct route_raw, "upstream", upstream, 0, NULL,
	    .doc_dflt = "-",
	    .doc = "name of an entry in `upstreams`"),
	F_STR(struct route_raw, "local_ca", local_ca, 0, NULL,
	    .doc_dflt = "-",
	    .doc = "name of an entry in `local_cas`"),
	F_STR(struct route_raw, "upstream_label", upstream_label, 0, NULL,
	    .doc = "the CA label to use at the upstream (so "
	    "`/east/simpleenroll` here can be `/branch/simpleenroll` there)"),
	F_STR(struct route_raw, "policy", policy, 0, NULL,
	    .doc_dflt = "the built-in default policy",
	    .doc = "name of an entry in `policies` ([policy.md](policy.md))"),
	F_ENUM(struct route_raw, "csrattrs", csrattrs, csrattrs_names, 0,
	    .doc = "`\"backend\"`: relay the CA's csrattrs; `\"policy\"`: "
	    "answer from the route's policy (see "
	    "[policy.md](policy.md#csrattrs))"),
	F_BOOL(struct route_raw, "fullcmc_passthrough", fullcmc_passthrough, 0,
	    .doc = "forward `fullcmc` to the CA unchecked. A CMC message is "
	    "not a bare CSR, so the CSR policy cannot apply to it, and the CA "
	    "trusts the RA: without this, an authenticated `fullcmc` gets "
	    "501"),
	F_CUSTOM("auth", .doc_type = "object", .doc_dflt = "RFC 7030 defaults",
	    .doc = "per operation, the methods that suffice: "
	    "`{\"simpleenroll\": [\"digest\", \"cert\"], \"simplereenroll\": "
	    "[\"cert\"]}`; `\"open\"` lets anyone in, `\"refuse\"` turns "
	    "the operation off (501); `[]` is an error. Defaults: `cacerts` "
	    "and `csrattrs` open; `simpleenroll`, `serverkeygen`, `fullcmc` "
	    "digest or cert; `simplereenroll` cert. See "
	    "[authentication.md](authentication.md)."),
	F_END
};

static int
route_resolve(struct cfg_ctx *ctx, const char *path, struct route_raw *raw,
    struct cfg_route *r)
{
	struct config	*cfg = ctx->cfg;
	char		 cp[1024];

	if ((raw->upstream == NULL) == (raw->local_ca == NULL)) {
		cfg_err(ctx, path, "needs exactly one of \"upstream\" or "
		    "\"local_ca\"");
		return 1;
	}
	if (raw->local_ca != NULL) {
		child_path(cp, sizeof(cp), path, "local_ca");
		r->backend = ROUTE_BACKEND_LOCAL_CA;
		for (r->local_ca = 0; r->local_ca < cfg->nlocal_cas;
		    r->local_ca++)
			if (strcmp(cfg->local_cas[r->local_ca].name,
			    raw->local_ca) == 0)
				break;
		if (r->local_ca == cfg->nlocal_cas) {
			cfg_err(ctx, cp, "no local CA named \"%s\" in "
			    "local_cas", raw->local_ca);
			return 1;
		}
		if (raw->upstream_label != NULL) {
			child_path(cp, sizeof(cp), path, "upstream_label");
			cfg_err(ctx, cp, "applies only to upstream routes");
			return 1;
		}
		return 0;
	}
	child_path(cp, sizeof(cp), path, "upstream");
	r->backend = ROUTE_BACKEND_UPSTREAM;
	for (r->upstream = 0; r->upstream < cfg->nupstreams; r->upstream++)
		if (strcmp(cfg->upstreams[r->upstream].name, raw->upstream) == 0)
			break;
	if (r->upstream == cfg->nupstreams) {
		cfg_err(ctx, cp, "no upstream named \"%s\" in upstreams",
		    raw->upstream);
		return 1;
	}
	if (raw->upstream_label != NULL &&
	    !router_label_valid(raw->upstream_label)) {
		child_path(cp, sizeof(cp), path, "upstream_label");
		cfg_err(ctx, cp, "\"%s\" is not a valid CA label",
		    raw->upstream_label);
		return 1;
	}
	r->upstream_label = raw->upstream_label;
	raw->upstream_label = NULL;
	return 0;
}

static const char *const auth_method_names[AUTH_METHOD_MAX + 1] = {
	"digest", "basic", "cert", NULL
};

/*
 * Who may do what, by default: cacerts and csrattrs are open (RFC 7030
 * §4.1.1, §4.5.1); enrollment by Digest or a client certificate;
 * re-enrollment only with the certificate being renewed (§3.3.2). Basic
 * is never on unless a route lists it.
 */
static const unsigned auth_defaults[EST_OP_MAX] = {
	[EST_OP_CACERTS] = 0,
	[EST_OP_CSRATTRS] = 0,
	[EST_OP_SIMPLEENROLL] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_SIMPLEREENROLL] = AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_SERVERKEYGEN] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
	[EST_OP_FULLCMC] = AUTH_BIT(AUTH_METHOD_DIGEST) |
	    AUTH_BIT(AUTH_METHOD_CERT),
};

static const char *const auth_method_needs[AUTH_METHOD_MAX] = {
	"auth.digest_users", "auth.basic_users", "tls.client_ca"
};

/* The methods this configuration can verify at all. */
static unsigned
auth_usable(const struct config *cfg)
{
	return (cfg->auth.digest_users ? AUTH_BIT(AUTH_METHOD_DIGEST) : 0) |
	    (cfg->auth.basic_users ? AUTH_BIT(AUTH_METHOD_BASIC) : 0) |
	    (cfg->tls.client_ca ? AUTH_BIT(AUTH_METHOD_CERT) : 0);
}

/* An "op" entry's value besides a list of methods. */
#define AUTH_LIST_REFUSE	(-2)

/*
 * One "op" entry: ["digest", "cert"], "open" or "refuse"; returns the
 * list's bits (0 for "open"), AUTH_LIST_REFUSE, or -1 (reported). [] is
 * refused: it read as "no method needed" to some and as "no one" to
 * others, so each meaning has its word.
 */
static long
auth_list_load(struct cfg_ctx *ctx, const char *path, const json_t *list)
{
	const json_t	*m;
	size_t		 i;
	unsigned	 bits = 0, usable = auth_usable(ctx->cfg);
	int		 k;

	if (json_is_string(list) && strcmp(json_string_value(list), "open") ==
	    0)
		return 0;
	if (json_is_string(list) && strcmp(json_string_value(list),
	    "refuse") == 0)
		return AUTH_LIST_REFUSE;
	if (json_is_array(list) && json_array_size(list) == 0) {
		cfg_err(ctx, path, "[] is ambiguous: write \"open\" to let "
		    "anyone in, or \"refuse\" to turn the operation off");
		return -1;
	}
	if (json_is_string(list)) {
		cfg_err(ctx, path, "must be a list of methods (digest, basic, "
		    "cert), \"open\" or \"refuse\", not \"%s\"",
		    json_string_value(list));
		return -1;
	}
	if (!json_is_array(list)) {
		cfg_err(ctx, path, "must be a list of methods (digest, basic, "
		    "cert), \"open\" or \"refuse\", not %s",
		    json_type_name(list));
		return -1;
	}
	json_array_foreach(list, i, m) {
		for (k = 0; k < AUTH_METHOD_MAX; k++)
			if (json_is_string(m) && strcmp(json_string_value(m),
			    auth_method_names[k]) == 0)
				break;
		if (k == AUTH_METHOD_MAX && json_is_string(m)) {
			cfg_err(ctx, path, "unknown method \"%s\" (digest, "
			    "basic, cert)", json_string_value(m));
			return -1;
		}
		if (k == AUTH_METHOD_MAX) {
			cfg_err(ctx, path, "a method must be a string (digest, "
			    "basic, cert), not %s", json_type_name(m));
			return -1;
		}
		if (!(usable & AUTH_BIT(k))) {
			cfg_err(ctx, path, "%s needs %s", auth_method_names[k],
			    auth_method_needs[k]);
			return -1;
		}
		bits |= AUTH_BIT(k);
	}
	return bits;
}

/* names of the methods in bits, joined by " or " (RFC 7030 defaults). */
static void
auth_bits_text(unsigned bits, const char *const *names, char *out,
    size_t outlen)
{
	out[0] = '\0';
	for (int k = 0; k < AUTH_METHOD_MAX; k++)
		if (bits & AUTH_BIT(k))
			snprintf(out + strlen(out), outlen - strlen(out), "%s%s",
			    *out ? " or " : "", names[k]);
}

/*
 * Operations whose defaults this configuration cannot verify (ops, lost
 * their methods' bits): say which setting each default needs, and the
 * two ways out in the route itself, a method it can verify or "refuse".
 * Digest alone leaves simplereenroll so (its default is the certificate
 * being renewed, RFC 7030 §3.3.2).
 */
static void
no_client_err(struct cfg_ctx *ctx, const char *path, const char *ops,
    int nops, unsigned lost, enum est_op first)
{
	unsigned	 usable = auth_usable(ctx->cfg);
	char		 methods[64], needs[128], fix[128] = "";
	int		 plural;

	auth_bits_text(lost, auth_method_names, methods, sizeof(methods));
	auth_bits_text(lost, auth_method_needs, needs, sizeof(needs));
	plural = nops > 1 || strchr(methods, ' ') != NULL;
	for (int k = 0; k < AUTH_METHOD_MAX && !*fix; k++)
		if (usable & AUTH_BIT(k))
			snprintf(fix, sizeof(fix), " list a method in \"auth\" "
			    "(e.g. \"%s\": [\"%s\"]),", est_op_name(first),
			    auth_method_names[k]);
	cfg_err(ctx, path, "%s would admit no client: %s default%s, %s, "
	    "need%s %s; set %s,%s or refuse %s in \"auth\" (\"%s\": "
	    "\"refuse\")", ops, nops > 1 ? "their" : "its",
	    plural ? "s" : "", methods, plural ? "" : "s", needs,
	    strchr(needs, ' ') ? "one" : needs, fix, nops > 1 ? "them" : "it",
	    est_op_name(first));
}

static int
route_auth_load(struct cfg_ctx *ctx, const char *path, const json_t *route,
    struct cfg_route *r)
{
	const json_t	*obj, *list;
	const char	*key;
	char		 cp[1024], ops[128] = "";
	int		 nerr = 0, nops = 0, explicit[EST_OP_MAX] = { 0 };
	unsigned	 usable = auth_usable(ctx->cfg), lost = 0;
	enum est_op	 first = EST_OP_MAX;

	const char	*op_names[EST_OP_MAX + 1] = { NULL };

	for (int op = 0; op < EST_OP_MAX; op++) {
		r->auth[op] = auth_defaults[op] & usable;
		op_names[op] = est_op_name(op);
	}
	if ((obj = object_at(ctx, route, path, "auth", &nerr)) != NULL)
		json_object_foreach((json_t *)obj, key, list) {
			enum est_op op = est_op_from_name(key, strlen(key));
			char ap[1024];
			child_path(ap, sizeof(ap), path, "auth");
			child_path(cp, sizeof(cp), ap, key);
			if (op == EST_OP_MAX) {
				cfg_err_unknown(ctx, cp, "not an EST operation",
				    key, op_names, sizeof(*op_names));
				nerr++;
				continue;
			}
			long bits = auth_list_load(ctx, cp, list);
			if (bits == -1) {
				nerr++;
				continue;
			}
			if (bits == AUTH_LIST_REFUSE)
				r->refused |= 1u << op;
			r->auth[op] = bits < 0 ? 0 : (unsigned)bits;
			explicit[op] = 1;
		}
	for (int op = 0; op < EST_OP_MAX; op++)
		if (!explicit[op] && auth_defaults[op] && !r->auth[op]) {
			snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops),
			    "%s%s", *ops ? ", " : "", est_op_name(op));
			lost |= auth_defaults[op];
			nops++;
			if (first == EST_OP_MAX)
				first = op;
		}
	/* Derived from other keys: only worth saying once those are sound. */
	if (nerr == 0 && *ops && ctx->errs->n == 0) {
		no_client_err(ctx, path, ops, nops, lost, first);
		nerr++;
	}
	return nerr;
}

static int
route_load(struct cfg_ctx *ctx, const char *path, const char *label,
    const json_t *v)
{
	struct config		*cfg = ctx->cfg;
	struct cfg_route	*r = &cfg->routes[cfg->nroutes];
	struct route_raw	 raw = { NULL, NULL, NULL, NULL, 0, 0 };
	int			 nerr;

	if (!json_is_object(v)) {
		cfg_err(ctx, path, "must be an object");
		return 1;
	}
	nerr = section_load(ctx, v, path, route_fields, &raw);
	if (nerr == 0)
		nerr = route_resolve(ctx, path, &raw, r);
	if (nerr == 0)
		nerr = route_auth_load(ctx, path, v, r);
	if (nerr == 0)
		nerr = route_policy_resolve(ctx, path, raw.policy, raw.csrattrs,
		    r);
	r->fullcmc_passthrough = raw.fullcmc_passthrough;
	if (nerr == 0 && label != NULL && (r->label = strdup(label)) == NULL)
		nerr = 1;
	if (nerr == 0)
		r->index = cfg->nroutes++;
	else {
		/* The slot is reused by the next route: leave it clean. */
		free(r->upstream_label);
		free(r->label);
		memset(r, 0, sizeof(*r));
	}
	section_free(route_fields, &raw);
	return nerr;
}

int
routes_load(struct cfg_ctx *ctx, const json_t *root)
{
	const json_t	*labels, *v;
	const char	*name;
	char		 cp[1024];
	int		 nerr = 0;
	size_t		 max;

	labels = object_at(ctx, root, "", "labels", &nerr);
	max = 1 + (labels ? json_object_size(labels) : 0);
	if ((ctx->cfg->routes = calloc(max, sizeof(struct cfg_route))) == NULL)
		return 1;
	if ((v = json_object_get(root, "default")) != NULL)
		nerr += route_load(ctx, "default", NULL, v);
	if (labels != NULL)
		json_object_foreach((json_t *)labels, name, v) {
			child_path(cp, sizeof(cp), "labels", name);
			if (!router_label_valid(name)) {
				cfg_err(ctx, cp, "not a valid CA label (1-64 "
				    "of A-Z a-z 0-9 - . _ ~, not an EST "
				    "operation name)");
				nerr++;
				continue;
			}
			nerr += route_load(ctx, cp, name, v);
		}
	if (nerr == 0 && ctx->cfg->nroutes == 0) {
		cfg_err(ctx, "labels", "no route: set \"default\" or at least "
		    "one label");
		nerr++;
	}
	return nerr;
}

void
routes_free(void *base)
{
	struct config *cfg = base;

	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].label);
		free(cfg->routes[i].upstream_label);
	}
	free(cfg->routes);
	cfg->routes = NULL;
	cfg->nroutes = 0;
}

const struct cfg_route *
config_route(const struct config *cfg, const char *label)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const char *l = cfg->routes[i].label;
		if ((label == NULL && l == NULL) ||
		    (label != NULL && l != NULL && strcmp(label, l) == 0))
			return &cfg->routes[i];
	}
	return NULL;
}
