/*
 * config_policy: the configuration's CSR policies and audit log. Each
 * entry of "policies" is compiled by the policy module; its problems come
 * back with key paths below the entry and are reported here with the
 * file's line, like every other config error. Routes name a policy (or
 * get the built-in default one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_schema_int.h"
#include "estrad/policy.h"

struct policy_err_ctx {
	struct cfg_ctx	*pe_ctx;
	const char	*pe_base;	/* "policies.NAME" */
	int		 pe_n;
};

static void
policy_on_error(void *arg, const char *key, const char *msg)
{
	struct policy_err_ctx	*pe = arg;
	char			 path[1024];

	child_path(path, sizeof(path), pe->pe_base, key);
	cfg_err(pe->pe_ctx, path, "%s", msg);
	pe->pe_n++;
}

int
policies_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct config		*cfg = ctx->cfg;
	const json_t		*obj, *v;
	const char		*name;
	char			 path[1024];
	struct policy_err_ctx	 pe = { ctx, NULL, 0 };
	int			 nerr = 0;

	if ((cfg->default_policy = policy_compile(NULL, policy_on_error,
	    &pe)) == NULL)
		return 1;
	if ((obj = object_at(ctx, root, "", "policies", &nerr)) == NULL)
		return nerr;
	if ((cfg->policies = calloc(json_object_size(obj) + 1,
	    sizeof(*cfg->policies))) == NULL)
		return 1;
	json_object_foreach((json_t *)obj, name, v) {
		struct cfg_policy *p = &cfg->policies[cfg->npolicies];
		child_path(path, sizeof(path), "policies", name);
		if (!json_is_object(v)) {
			cfg_err(ctx, path, "must be an object, not %s",
			    json_type_name(v));
			nerr++;
			continue;
		}
		pe.pe_base = path;
		pe.pe_n = 0;
		p->policy = policy_compile(v, policy_on_error, &pe);
		if (p->policy == NULL) {
			nerr += pe.pe_n ? pe.pe_n : 1;
			continue;
		}
		p->name = strdup(name);
		cfg->npolicies++;
	}
	return nerr;
}

const struct cfg_field audit_fields[] = {
	F_STR(struct cfg_audit, "file", file, 0, NULL, .doc_type = "path",
	    .flags = CFG_F_RESTART,
	    .doc = "JSON lines appended (created mode 0600 if missing; checked "
	    "at start)"),
	F_BOOL(struct cfg_audit, "stderr", to_stderr, 0, .flags = CFG_F_RESTART,
	    .doc = "the same lines on stderr too (containers)"),
	F_END
};

int
audit_load(struct cfg_ctx *ctx, const json_t *root)
{
	struct cfg_audit	*a = &ctx->cfg->audit;
	const json_t		*obj;
	int			 nerr = 0, fd;

	if ((obj = object_at(ctx, root, "", "audit", &nerr)) == NULL)
		return nerr;
	if ((nerr = section_load(ctx, obj, "audit", audit_fields, a)) != 0)
		return nerr;
	if (a->file == NULL)
		return 0;
	/* The daemon appends to it: it must be creatable and writable now. */
	fd = open(a->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1) {
		cfg_err(ctx, "audit.file", "cannot open %s for appending: %s",
		    a->file, strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

int
route_policy_resolve(struct cfg_ctx *ctx, const char *path,
    const char *policy, int csrattrs_from_policy, struct cfg_route *r)
{
	const struct config	*cfg = ctx->cfg;
	const json_t		*policies;
	char			 cp[1024];

	r->csrattrs_from_policy = csrattrs_from_policy;
	r->policy = cfg->default_policy;
	if (policy == NULL)
		return 0;
	for (size_t i = 0; i < cfg->npolicies; i++)
		if (strcmp(cfg->policies[i].name, policy) == 0) {
			r->policy = cfg->policies[i].policy;
			return 0;
		}
	/*
	 * Written but refused: its own problems are reported already, and
	 * "no policy named" would send the operator looking for a missing
	 * one. The route still fails, so the file does.
	 */
	policies = ctx->root ? json_object_get(ctx->root, "policies") : NULL;
	if (json_is_object(policies) && json_object_get(policies, policy))
		return 1;
	child_path(cp, sizeof(cp), path, "policy");
	cfg_err(ctx, cp, "no policy named \"%s\" in policies", policy);
	return 1;
}

void
policies_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->npolicies; i++) {
		free(cfg->policies[i].name);
		policy_free(cfg->policies[i].policy);
	}
	free(cfg->policies);
	policy_free(cfg->default_policy);
}
