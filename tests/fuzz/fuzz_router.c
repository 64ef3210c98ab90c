/*
 * fuzz_router: request routing (src/router.c), what the request line and
 * the Content-Type header reach first.
 *
 * Input: line 1 is a request path (as est.c passes it: no query, not
 * percent-decoded), line 2 a Content-Type value, line 3 a CA label
 * candidate; the whole input is also tried as an operation name, by
 * length (no NUL), in a buffer of exactly its size.
 *
 * Invariants: a path that parses is exactly EST_PATH_PREFIX, the label
 * and "/" if any, and the operation's name; its label is one
 * router_label_valid() accepts; a refusal has a one-line reason; a name
 * est_op_from_name() knows round-trips through est_op_name(); a label
 * router_label_valid() accepts is 1..64 unreserved characters and not an
 * operation; the media type checks agree with each other.
 */
#include <strings.h>

#include "estrad/router.h"
#include "fuzz.h"

static const char *const media_types[] = {
	"application/pkcs10", "application/pkcs7-mime", "application/csrattrs",
	"multipart/mixed", "",
};

static int
unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

static void
check_path(const char *path)
{
	struct est_route	 route;
	const char		*reason = NULL;
	char			 want[EST_LABEL_MAX + 64];

	if (router_parse_path(path, &route, &reason) == -1) {
		FUZZ_CHECK(reason != NULL && strpbrk(reason, "\r\n") == NULL);
		return;
	}
	FUZZ_CHECK(route.op < EST_OP_MAX);
	FUZZ_CHECK(route.has_label == 0 || route.has_label == 1);
	FUZZ_CHECK(strnlen(route.label, sizeof(route.label)) <
	    sizeof(route.label));
	if (route.has_label) {
		FUZZ_CHECK(router_label_valid(route.label));
		snprintf(want, sizeof(want), "%s%s/%s", EST_PATH_PREFIX,
		    route.label, est_op_name(route.op));
	} else {
		FUZZ_CHECK(route.label[0] == '\0');
		snprintf(want, sizeof(want), "%s%s", EST_PATH_PREFIX,
		    est_op_name(route.op));
	}
	FUZZ_CHECK(strcmp(want, path) == 0);
	/* Every operation has one method, and the other is refused. */
	FUZZ_CHECK(router_method_ok(route.op, EST_METHOD_GET) !=
	    router_method_ok(route.op, EST_METHOD_POST));
	FUZZ_CHECK(!router_method_ok(route.op, EST_METHOD_OTHER));
	FUZZ_CHECK(strcmp(router_allowed_method(route.op),
	    router_method_ok(route.op, EST_METHOD_GET) ? "GET" : "POST") == 0);
}

static void
check_label(const char *label)
{
	size_t len = strlen(label);

	if (!router_label_valid(label))
		return;
	FUZZ_CHECK(len >= 1 && len <= EST_LABEL_MAX);
	FUZZ_CHECK(strcmp(label, ".") != 0 && strcmp(label, "..") != 0);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK(unreserved(label[i]));
	FUZZ_CHECK(est_op_from_name(label, len) == EST_OP_MAX);
}

static void
check_content_type(const char *ct)
{
	for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]);
	    i++) {
		const char	*want = media_types[i];
		const char	*p = ct;
		int		 is = router_media_type_is(ct, want);
		size_t		 n = strlen(want);

		/* What "is" means, spelled out independently. */
		while (*p == ' ' || *p == '\t')
			p++;
		FUZZ_CHECK(is == (strncasecmp(p, want, n) == 0 &&
		    strchr("; \t", p[n]) != NULL));
		FUZZ_CHECK(router_media_type_is(NULL, want) == 0);
	}
	for (int op = 0; op <= EST_OP_MAX; op++) {
		const char	*want = router_expected_type((enum est_op)op);
		int		 ok = router_content_type_ok((enum est_op)op, ct);

		FUZZ_CHECK(want != NULL);
		if (op == EST_OP_MAX || strcmp(want, "-") == 0)
			FUZZ_CHECK(ok == 1);
		else
			FUZZ_CHECK(ok == router_media_type_is(ct, want));
		FUZZ_CHECK(router_method_ok((enum est_op)op,
		    EST_METHOD_OTHER) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*p = data, *line;
	size_t		 left = size;
	long		 len;
	char		*s, *exact;
	enum est_op	 op;

	/* The whole input as an operation name, by length. */
	exact = malloc(size ? size : 1);
	if (exact == NULL)
		abort();
	if (size > 0)
		memcpy(exact, data, size);
	op = est_op_from_name(exact, size);
	FUZZ_CHECK(op <= EST_OP_MAX);
	if (op != EST_OP_MAX)
		FUZZ_CHECK(strlen(est_op_name(op)) == size &&
		    memcmp(est_op_name(op), exact, size) == 0);
	free(exact);

	for (int i = 0; (len = fuzz_next_line(&p, &left, &line)) >= 0; i++) {
		s = fuzz_strndup(line, (size_t)len);
		switch (i % 3) {
		case 0:
			check_path(s);
			break;
		case 1:
			check_content_type(s);
			break;
		default:
			check_label(s);
			break;
		}
		free(s);
	}
	return 0;
}
