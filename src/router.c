/*
 * router: the EST URL space of RFC 7030 §3.2.2,
 *   /.well-known/est/[<label>/]<operation>
 * A label is one path segment and never an operation name, so the parse is
 * unambiguous. Which labels exist is the config's business, not ours.
 */
#include <string.h>
#include <strings.h>

#include "estrad/router.h"

static const struct {
	const char	*name;
	enum est_method	 method;
	const char	*media_type;	/* for POST bodies, NULL for GET */
} est_ops[EST_OP_MAX] = {
	[EST_OP_CACERTS]	= { "cacerts", EST_METHOD_GET, NULL },
	[EST_OP_CSRATTRS]	= { "csrattrs", EST_METHOD_GET, NULL },
	[EST_OP_SIMPLEENROLL]	= { "simpleenroll", EST_METHOD_POST,
				    "application/pkcs10" },
	[EST_OP_SIMPLEREENROLL]	= { "simplereenroll", EST_METHOD_POST,
				    "application/pkcs10" },
	[EST_OP_SERVERKEYGEN]	= { "serverkeygen", EST_METHOD_POST,
				    "application/pkcs10" },
	/* RFC 7030 §3.2.4: application/pkcs7-mime; smime-type=CMC-request */
	[EST_OP_FULLCMC]	= { "fullcmc", EST_METHOD_POST,
				    "application/pkcs7-mime" },
};

const char *
est_op_name(enum est_op op)
{
	return op < EST_OP_MAX ? est_ops[op].name : "-";
}

enum est_op
est_op_from_name(const char *name, size_t len)
{
	for (int op = 0; op < EST_OP_MAX; op++)
		if (strlen(est_ops[op].name) == len &&
		    memcmp(est_ops[op].name, name, len) == 0)
			return op;
	return EST_OP_MAX;
}

static int
label_char_ok(char c)
{
	/* RFC 3986 unreserved: safe in a URL without percent-encoding. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static int
label_valid(const char *name, size_t len)
{
	if (len == 0 || len > EST_LABEL_MAX)
		return 0;
	/* "." and ".." would be path traversal once forwarded upstream. */
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!label_char_ok(name[i]))
			return 0;
	return est_op_from_name(name, len) == EST_OP_MAX;
}

int
router_label_valid(const char *name)
{
	return name != NULL && label_valid(name, strlen(name));
}

int
router_parse_path(const char *path, struct est_route *route,
    const char **reason)
{
	const char	*rest, *slash;
	size_t		 len;

	memset(route, 0, sizeof(*route));
	if (path == NULL || strncmp(path, EST_PATH_PREFIX,
	    strlen(EST_PATH_PREFIX)) != 0) {
		*reason = "not an EST path (expected /.well-known/est/...)";
		return -1;
	}
	rest = path + strlen(EST_PATH_PREFIX);
	if ((slash = strchr(rest, '/')) != NULL) {
		len = (size_t)(slash - rest);
		if (!label_valid(rest, len)) {
			*reason = "bad CA label in path";
			return -1;
		}
		memcpy(route->label, rest, len);
		route->label[len] = '\0';
		route->has_label = 1;
		rest = slash + 1;
		if (strchr(rest, '/') != NULL) {
			*reason = "too many path segments";
			return -1;
		}
	}
	route->op = est_op_from_name(rest, strlen(rest));
	if (route->op == EST_OP_MAX) {
		*reason = "unknown EST operation";
		return -1;
	}
	return 0;
}

const char *
router_allowed_method(enum est_op op)
{
	return est_ops[op].method == EST_METHOD_GET ? "GET" : "POST";
}

int
router_method_ok(enum est_op op, enum est_method method)
{
	return op < EST_OP_MAX && est_ops[op].method == method;
}

const char *
router_expected_type(enum est_op op)
{
	return op < EST_OP_MAX && est_ops[op].media_type != NULL ?
	    est_ops[op].media_type : "-";
}

int
router_content_type_ok(enum est_op op, const char *content_type)
{
	const char	*want;

	if (op >= EST_OP_MAX || (want = est_ops[op].media_type) == NULL)
		return 1;
	return router_media_type_is(content_type, want);
}

int
router_media_type_is(const char *content_type, const char *want)
{
	size_t n;

	if (content_type == NULL)
		return 0;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	n = strlen(want);
	if (strncasecmp(content_type, want, n) != 0)
		return 0;
	/* The media type must end here: parameters or whitespace may follow. */
	content_type += n;
	return *content_type == '\0' || *content_type == ';' ||
	    *content_type == ' ' || *content_type == '\t';
}
