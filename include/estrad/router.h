/*
 * router: maps a request target to an EST operation and optional CA label
 * (RFC 7030 §3.2.2), and checks method and media type. Pure logic.
 */
#ifndef ESTRAD_ROUTER_H
#define ESTRAD_ROUTER_H

#include <stddef.h>

enum est_op {
	EST_OP_CACERTS,
	EST_OP_CSRATTRS,
	EST_OP_SIMPLEENROLL,
	EST_OP_SIMPLEREENROLL,
	EST_OP_SERVERKEYGEN,
	EST_OP_FULLCMC,
	EST_OP_MAX
};

enum est_method { EST_METHOD_GET, EST_METHOD_POST, EST_METHOD_OTHER };

#define EST_PATH_PREFIX		"/.well-known/est/"
#define EST_LABEL_MAX		64

struct est_route {
	enum est_op	op;
	int		has_label;
	char		label[EST_LABEL_MAX + 1];
};

const char *est_op_name(enum est_op op);
/* EST_OP_MAX if name is not an operation. */
enum est_op est_op_from_name(const char *name, size_t len);
/* 1 if name may serve as a CA label: [A-Za-z0-9._~-]{1,64}, not an op. */
int router_label_valid(const char *name);

/*
 * Parse a request path (no query, not percent-decoded). Returns 0 and
 * fills *route, or -1 with a one-line *reason (the answer is 404).
 */
int router_parse_path(const char *path, struct est_route *route,
    const char **reason);

/* The one method op accepts, for the Allow header: "GET" or "POST". */
const char *router_allowed_method(enum est_op op);
int router_method_ok(enum est_op op, enum est_method method);

/*
 * 1 if a POST body of media type content_type (the header's value, may be
 * NULL) fits op: application/pkcs10 for the enroll operations,
 * application/pkcs7-mime for fullcmc; parameters and case ignored.
 */
int router_content_type_ok(enum est_op op, const char *content_type);
/* 1 if content_type (a Content-Type value, NULL for none) is the media
 * type want, case-insensitively, with or without parameters. */
int router_media_type_is(const char *content_type, const char *want);
/* The media type op expects in a POST, for the 415 reason. */
const char *router_expected_type(enum est_op op);

#endif
