/*
 * httpframe: the request framing scanner (see the header for what it
 * promises); httpframe_bev.c runs it as a bufferevent filter. One struct
 * httpframe per connection, owned by the filter, freed with it.
 *
 * Where the scanner and evhttp would frame a request differently, the
 * scanner refuses it: what it lets through, evhttp reads as the client's
 * framing says, request by request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "estrad/b64.h"
#include "estrad/httpframe.h"

/* evhttp refuses bodies over twice limits.max_body_bytes (listener.c);
 * est.c answers those between once and twice. */
#define HF_BODY_SLACK		2
/* A body up to this many times the limit is read and dropped before the
 * 413, so that a client still sending reads the answer, not a reset. */
#define HF_LINGER_FACTOR	4
#define HF_CHUNK_LINE_MAX	4096

enum hf_state {
	HF_HEAD,	/* before or inside a header section */
	HF_BODY,	/* Content-Length body: hf_left to go */
	HF_CHUNK_SIZE,	/* a chunk-size line */
	HF_CHUNK_DATA,	/* chunk data: hf_left to go */
	HF_CHUNK_CRLF,	/* the CRLF after chunk data */
	HF_TRAILER,	/* trailer section, dropped */
	HF_DISCARD,	/* a refused body, hf_left to drop, then hf_held */
	HF_DONE		/* refused: every byte dropped */
};

struct httpframe {
	enum hf_state	 hf_state;
	size_t		 hf_max_head;
	uint64_t	 hf_max_body;	/* limits.max_body_bytes */
	uint64_t	 hf_left;
	uint64_t	 hf_total;	/* chunked body so far */
	size_t		 hf_trailer;	/* trailer bytes so far */
	int		 hf_status;
	/* A chunked request until its last chunk (HF_CHUNK_*, HF_TRAILER);
	 * the refusal to send after HF_DISCARD. */
	struct evbuffer	*hf_held;
};

/* What a header section says about its request. */
struct hf_head {
	const char	*h_line;	/* request line */
	size_t		 h_linelen;
	const char	*h_method;
	size_t		 h_methodlen;
	int		 h_minor;	/* HTTP/1.h_minor */
	int		 h_hosts;
	int		 h_lengths;
	uint64_t	 h_length;
	int		 h_codings;	/* Transfer-Encoding fields */
	int		 h_chunked;	/* ... and the one said chunked */
	int		 h_continue;	/* Expect: 100-continue */
	size_t		 h_size;	/* the section's bytes */
};

struct hf_verdict {
	int	 status;
	char	 reason[96];
};

struct httpframe *
httpframe_new(size_t max_head, uint64_t max_body)
{
	struct httpframe *hf;

	if ((hf = calloc(1, sizeof(*hf))) == NULL)
		return NULL;
	hf->hf_max_head = max_head;
	hf->hf_max_body = max_body;
	return hf;
}

void
httpframe_free(struct httpframe *hf)
{
	if (hf == NULL)
		return;
	if (hf->hf_held != NULL)
		evbuffer_free(hf->hf_held);
	free(hf);
}

int
httpframe_status(const struct httpframe *hf)
{
	return hf->hf_status;
}

/* ---- syntax (RFC 9110 §5.6.2, RFC 9112 §2-§7) -------------------------- */

static int
hf_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static size_t
hf_token(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && hf_tchar((unsigned char)p[i]))
		i++;
	return i;
}

static size_t
hf_ows(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

/* The same name, ignoring case (field names are case-insensitive). */
static int
hf_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* One line of [*p, end): its text without CRLF or LF; 0 when no LF. */
static int
hf_next_line(const char **p, const char *end, const char **line,
    size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return 0;
	*line = *p;
	*len = (size_t)(nl - *p);
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	*p = nl + 1;
	return 1;
}

static int
hf_fail(struct hf_verdict *v, int status, const char *reason)
{
	v->status = status;
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	return -1;
}

/* request-line = method SP request-target SP HTTP-version (§3), split as
 * evhttp splits it, on single spaces. */
static int
hf_request_line(struct hf_head *h, struct hf_verdict *v)
{
	const char	*p = h->h_line, *sp1, *sp2;
	size_t		 n = h->h_linelen;

	if ((sp1 = memchr(p, ' ', n)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p))) == NULL)
		return hf_fail(v, 400, "malformed request line");
	h->h_method = p;
	h->h_methodlen = (size_t)(sp1 - p);
	/* The target's bytes are the router's to judge (and the access
	 * log's to quote): framing needs only where it ends. */
	if (h->h_methodlen == 0 || hf_token(p, h->h_methodlen) !=
	    h->h_methodlen || sp2 == sp1 + 1)
		return hf_fail(v, 400, "malformed request line");
	p = sp2 + 1;
	n -= (size_t)(p - h->h_line);
	if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
		return hf_fail(v, 400, "malformed request line: not HTTP/1.x");
	h->h_minor = p[7] - '0';
	return 0;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6); a huge value saturates. */
static int
hf_content_length(struct hf_head *h, const char *p, size_t n,
    struct hf_verdict *v)
{
	uint64_t	len = 0;
	size_t		i;

	if (n == 0)
		return hf_fail(v, 400, "Content-Length is not a number");
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return hf_fail(v, 400, "Content-Length is not a "
			    "number");
		len = len > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
		    len * 10 + (uint64_t)(p[i] - '0');
	}
	/* Identical values are one length (RFC 9112 §6.3, item 5). */
	if (h->h_lengths++ > 0 && len != h->h_length)
		return hf_fail(v, 400, "two different Content-Length values");
	h->h_length = len;
	return 0;
}

/* The last coding must be chunked (RFC 9112 §6.3, item 4); chunked is
 * the only one this server knows (§6.1: 501 for the others). */
static int
hf_transfer_encoding(struct hf_head *h, const char *p, size_t n,
    struct hf_verdict *v)
{
	const char *last = p;

	/* evhttp skips spaces before a value but not tabs: it would not
	 * read "\tchunked" as chunked. */
	if (n > 0 && p[0] == '\t')
		return hf_fail(v, 400, "a tab before the Transfer-Encoding "
		    "value");
	for (const char *c = p; c < p + n; c++)
		if (*c == ',')
			last = c + 1;
	last += hf_ows(last, (size_t)(p + n - last));
	if (!hf_is(last, (size_t)(p + n - last), "chunked"))
		return hf_fail(v, 400, "Transfer-Encoding does not end in "
		    "chunked");
	if (h->h_codings++ > 0 || last != p)
		return hf_fail(v, 501, "only the chunked transfer coding is "
		    "supported");
	h->h_chunked = 1;
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
static int
hf_field(struct hf_head *h, const char *p, size_t n, struct hf_verdict *v)
{
	size_t	name = hf_token(p, n), i;

	/* A line that starts with whitespace continues the one before. */
	if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
		return hf_fail(v, 400, "obsolete line folding in the header "
		    "section (RFC 9112 §5.2)");
	if (name > 0 && name < n && (p[name] == ' ' || p[name] == '\t'))
		return hf_fail(v, 400, "whitespace between a header field "
		    "name and its colon (RFC 9112 §5.1)");
	if (name == 0 || name == n || p[name] != ':')
		return hf_fail(v, 400, "malformed header field name");
	i = name + 1;
	/* Leading spaces only, as evhttp skips them (see Transfer-Encoding);
	 * Content-Length then refuses a tab, evhttp would have taken it. */
	while (i < n && p[i] == ' ')
		i++;
	while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	for (size_t j = i; j < n; j++)
		if (((unsigned char)p[j] < ' ' && p[j] != '\t') ||
		    (unsigned char)p[j] == 0x7f)
			return hf_fail(v, 400, "control character in a header "
			    "field value");
	if (hf_is(p, name, "Content-Length"))
		return hf_content_length(h, p + i, n - i, v);
	if (hf_is(p, name, "Transfer-Encoding"))
		return hf_transfer_encoding(h, p + i, n - i, v);
	if (hf_is(p, name, "Host"))
		h->h_hosts++;
	i += hf_ows(p + i, n - i);
	if (hf_is(p, name, "Expect") && hf_is(p + i, n - i, "100-continue"))
		h->h_continue = 1;
	if (hf_is(p, name, HTTPFRAME_FIELD))
		return hf_fail(v, 400, "header field " HTTPFRAME_FIELD
		    " is reserved");
	return 0;
}

/* What libevent 2.1 reads a body for (methods are case-sensitive, RFC
 * 9110 §9.1: "post" is another method); any other method's body would be
 * taken for the next request. */
static int
hf_method_has_body(const struct hf_head *h)
{
	static const char *const with_body[] = { "POST", "PUT", "PATCH" };

	for (size_t i = 0; i < 3; i++)
		if (strlen(with_body[i]) == h->h_methodlen &&
		    memcmp(h->h_method, with_body[i], h->h_methodlen) == 0)
			return 1;
	return 0;
}

/* The framing as a whole: RFC 9112 §3.2 (Host), §6.1 and §6.3. */
static int
hf_framing(struct hf_head *h, uint64_t max_body, struct hf_verdict *v)
{
	if (h->h_hosts > 1)
		return hf_fail(v, 400, "more than one Host header field "
		    "(RFC 9112 §3.2)");
	if (h->h_hosts == 0 && h->h_minor >= 1)
		return hf_fail(v, 400, "HTTP/1.1 request without a Host "
		    "header field (RFC 9112 §3.2)");
	if (h->h_codings > 0 && h->h_minor == 0)
		return hf_fail(v, 400, "Transfer-Encoding in an HTTP/1.0 "
		    "request (RFC 9112 §6.1)");
	if (h->h_codings > 0 && h->h_lengths > 0)
		return hf_fail(v, 400, "both Transfer-Encoding and "
		    "Content-Length (RFC 9112 §6.1)");
	if ((h->h_chunked || h->h_length > 0) && !hf_method_has_body(h))
		return hf_fail(v, 400, "a body with a method that takes none");
	if (h->h_length > HF_BODY_SLACK * max_body) {
		v->status = 413;
		snprintf(v->reason, sizeof(v->reason), "body larger than "
		    "%llu bytes", (unsigned long long)max_body);
		return -1;
	}
	return 0;
}

/* Check a whole header section (its last line is empty). */
static int
hf_head_check(struct hf_head *h, const char *p, size_t n, uint64_t max_body,
    struct hf_verdict *v)
{
	const char	*end = p + n, *line;
	size_t		 len;

	memset(h, 0, sizeof(*h));
	h->h_size = n;
	hf_next_line(&p, end, &h->h_line, &h->h_linelen);
	if (hf_request_line(h, v) == -1)
		return -1;
	while (hf_next_line(&p, end, &line, &len) && len > 0)
		if (hf_field(h, line, len, v) == -1)
			return -1;
	return hf_framing(h, max_body, v);
}

/* ---- the stream ---------------------------------------------------------- */

/* The holding buffer, made when first needed (most connections never
 * need it); NULL when out of memory. */
static struct evbuffer *
hf_held(struct httpframe *hf)
{
	if (hf->hf_held == NULL)
		hf->hf_held = evbuffer_new();
	return hf->hf_held;
}

static void
hf_verdict_line(struct evbuffer *out, const struct hf_verdict *v)
{
	evbuffer_add_printf(out, HTTPFRAME_FIELD ": %d %s\r\n", v->status,
	    v->reason);
}

/*
 * The header section failed: evhttp gets its request line and the verdict,
 * no body. A 413 whose body is not too large is dropped first (unless the
 * client waits for 100-continue and so sends none yet).
 */
static void
hf_refuse_head(struct httpframe *hf, const struct hf_head *h,
    const struct hf_verdict *v, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer *to = out;

	hf->hf_status = v->status;
	hf->hf_state = HF_DONE;
	if (v->status == 413 && !h->h_continue && h->h_length <=
	    HF_LINGER_FACTOR * HF_BODY_SLACK * hf->hf_max_body &&
	    hf_held(hf) != NULL) {
		to = hf->hf_held;
		hf->hf_left = h->h_length;
		hf->hf_state = HF_DISCARD;
	}
	evbuffer_add(to, h->h_line, h->h_linelen);
	evbuffer_add(to, "\r\n", 2);
	hf_verdict_line(to, v);
	evbuffer_add(to, "\r\n", 2);
	evbuffer_drain(in, h->h_size);
}

/* A chunk failed: evhttp gets the held request's line and the verdict. */
static int
hf_refuse_chunk(struct httpframe *hf, int status, const char *reason,
    struct evbuffer *out)
{
	struct hf_verdict	v;
	struct evbuffer_ptr	eol;
	size_t			eol_len = 0;

	hf_fail(&v, status, reason);
	eol = evbuffer_search_eol(hf->hf_held, NULL, &eol_len,
	    EVBUFFER_EOL_CRLF);
	evbuffer_remove_buffer(hf->hf_held, out, (size_t)eol.pos);
	evbuffer_drain(hf->hf_held, evbuffer_get_length(hf->hf_held));
	evbuffer_add(out, "\r\n", 2);
	hf_verdict_line(out, &v);
	evbuffer_add(out, "\r\n", 2);
	hf->hf_status = status;
	hf->hf_state = HF_DONE;
	return 1;
}

/* Where the header section in in ends: its length, or 0 (not yet). */
static size_t
hf_head_end(const char *p, size_t n)
{
	const char	*s = p, *line;
	size_t		 len;

	while (hf_next_line(&s, p + n, &line, &len))
		if (len == 0 && line != p)
			return (size_t)(s - p);
	return 0;
}

static int
hf_head(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	size_t			 avail = evbuffer_get_length(in), n, end;
	size_t			 cap = 3 * hf->hf_max_head + 8;
	const char		*p;
	struct hf_head		 h;
	struct hf_verdict	 v;

	n = avail < cap ? avail : cap;
	if ((p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n)) == NULL)
		return 0;
	/* Empty lines before a request line are ignored (RFC 9112 §2.2). */
	if (p[0] == '\n' || (n >= 2 && p[0] == '\r' && p[1] == '\n')) {
		evbuffer_drain(in, p[0] == '\n' ? 1 : 2);
		return 1;
	}
	if ((end = hf_head_end(p, n)) == 0) {
		if (avail <= cap)
			return 0;
		/* Three times evhttp's limit (it counts lines without their
		 * ends, and a line here has 1 byte at least): whatever its
		 * lines, evhttp refuses this (400) and closes. Nothing after
		 * it is passed. */
		evbuffer_remove_buffer(in, out, cap + 1);
		hf->hf_state = HF_DONE;
		return 1;
	}
	if (hf_head_check(&h, p, end, hf->hf_max_body, &v) == -1) {
		hf_refuse_head(hf, &h, &v, in, out);
		return 1;
	}
	/*
	 * A chunked request is held until its last chunk: a chunk that fails
	 * then refuses the request as a whole (libevent 2.1 drops trailer
	 * fields, so no verdict could follow its header section).
	 */
	if (h.h_chunked) {
		if (hf_held(hf) == NULL)
			return 0;
		out = hf->hf_held;
	}
	evbuffer_remove_buffer(in, out, end);
	hf->hf_total = 0;
	hf->hf_trailer = 0;
	hf->hf_left = h.h_length;
	hf->hf_state = h.h_chunked ? HF_CHUNK_SIZE : h.h_length > 0 ?
	    HF_BODY : HF_HEAD;
	return 1;
}

/* Body bytes: passed (HF_BODY, HF_CHUNK_DATA) or dropped (HF_DISCARD). */
static int
hf_data(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	size_t n = evbuffer_get_length(in);

	if ((uint64_t)n > hf->hf_left)
		n = (size_t)hf->hf_left;
	if (hf->hf_state == HF_DISCARD)
		evbuffer_drain(in, n);
	else
		evbuffer_remove_buffer(in, hf->hf_state == HF_CHUNK_DATA ?
		    hf->hf_held : out, n);
	hf->hf_left -= n;
	if (hf->hf_left > 0)
		return 1;
	switch (hf->hf_state) {
	case HF_BODY:
		hf->hf_state = HF_HEAD;
		break;
	case HF_CHUNK_DATA:
		hf->hf_state = HF_CHUNK_CRLF;
		break;
	default:
		evbuffer_add_buffer(out, hf->hf_held);
		hf->hf_state = HF_DONE;
	}
	return 1;
}

/* One line (CRLF or LF) into buf, at most max bytes: its length; -1 not
 * yet, -2 too long. */
static ev_ssize_t
hf_read_line(struct evbuffer *in, char *buf, size_t max)
{
	struct evbuffer_ptr	 eol;
	size_t			 eol_len = 0;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (eol.pos < 0)
		return evbuffer_get_length(in) > max ? -2 : -1;
	if ((size_t)eol.pos > max)
		return -2;
	evbuffer_remove(in, buf, (size_t)eol.pos);
	evbuffer_drain(in, eol_len);
	return eol.pos;
}

/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ) (RFC 9112
 * §7.1.1); value = token / quoted-string. 0 when p[0..n) is one. */
static int
hf_chunk_ext(const char *p, size_t n)
{
	size_t i = 0, t;

	while (i < n) {
		i += hf_ows(p + i, n - i);
		if (i == n || p[i++] != ';')
			return -1;
		i += hf_ows(p + i, n - i);
		if ((t = hf_token(p + i, n - i)) == 0)
			return -1;
		i += t;
		t = hf_ows(p + i, n - i);
		if (i + t == n || p[i + t] != '=') {
			i += t;
			continue;
		}
		i += t + 1;
		i += hf_ows(p + i, n - i);
		if (i < n && p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++)
				if ((p[i] == '\\' && ++i == n) ||
				    ((unsigned char)p[i] < ' ' && p[i] != '\t') ||
				    p[i] == 0x7f)
					return -1;
			if (i++ == n)
				return -1;
		} else if ((t = hf_token(p + i, n - i)) == 0)
			return -1;
		else
			i += t;
	}
	return 0;
}

/* chunk-size [ chunk-ext ] CRLF: re-sent as the bare size in hex. */
static int
hf_chunk_size(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	char		line[HF_CHUNK_LINE_MAX];
	ev_ssize_t	n = hf_read_line(in, line, sizeof(line));
	uint64_t	size = 0;
	size_t		i;
	int		d;

	if (n == -1)
		return 0;
	if (n == -2)
		return hf_refuse_chunk(hf, 400, "chunk size line too long",
		    out);
	for (i = 0; i < (size_t)n && (d = hex_digit((unsigned char)line[i]))
	    >= 0; i++) {
		if (size > (UINT64_MAX >> 4))
			return hf_refuse_chunk(hf, 413, "chunk too large", out);
		size = size * 16 + (uint64_t)d;
	}
	if (i == 0 || hf_chunk_ext(line + i, (size_t)n - i) == -1)
		return hf_refuse_chunk(hf, 400, "malformed chunk size line "
		    "(RFC 9112 §7.1)", out);
	if (size > HF_BODY_SLACK * hf->hf_max_body - hf->hf_total) {
		char why[64];

		snprintf(why, sizeof(why), "body larger than %llu bytes",
		    (unsigned long long)hf->hf_max_body);
		return hf_refuse_chunk(hf, 413, why, out);
	}
	hf->hf_total += size;
	hf->hf_left = size;
	evbuffer_add_printf(hf->hf_held, "%llx\r\n", (unsigned long long)size);
	hf->hf_state = size > 0 ? HF_CHUNK_DATA : HF_TRAILER;
	return 1;
}

static int
hf_chunk_crlf(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	char		c[2];
	ev_ssize_t	n = evbuffer_copyout(in, c, 2);

	if (n >= 1 && c[0] == '\n') {
		evbuffer_drain(in, 1);
	} else if (n == 2 && c[0] == '\r' && c[1] == '\n') {
		evbuffer_drain(in, 2);
	} else if (n == 1 && c[0] == '\r') {
		return 0;
	} else
		return hf_refuse_chunk(hf, 400, "chunk data longer than its "
		    "size (RFC 9112 §7.1)", out);
	evbuffer_add(hf->hf_held, "\r\n", 2);
	hf->hf_state = HF_CHUNK_SIZE;
	return 1;
}

/* Trailer fields are checked and dropped; the empty line ends the body. */
static int
hf_trailer(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	char			 line[HF_CHUNK_LINE_MAX];
	ev_ssize_t		 n = hf_read_line(in, line, sizeof(line));
	struct hf_head		 h;
	struct hf_verdict	 v;

	if (n == -1)
		return 0;
	if (n == -2 || (hf->hf_trailer += (size_t)n) > hf->hf_max_head)
		return hf_refuse_chunk(hf, 431, "trailer section too large",
		    out);
	if (n == 0) {
		evbuffer_add(hf->hf_held, "\r\n", 2);
		evbuffer_add_buffer(out, hf->hf_held);
		hf->hf_state = HF_HEAD;
		return 1;
	}
	memset(&h, 0, sizeof(h));
	if (hf_field(&h, line, (size_t)n, &v) == -1)
		return hf_refuse_chunk(hf, v.status, v.reason, out);
	return 1;
}

int
httpframe_scan(struct httpframe *hf, struct evbuffer *in, struct evbuffer *out)
{
	size_t	before = evbuffer_get_length(out);
	int	go = 1;

	while (go && evbuffer_get_length(in) > 0)
		switch (hf->hf_state) {
		case HF_HEAD:
			go = hf_head(hf, in, out);
			break;
		case HF_BODY:
		case HF_CHUNK_DATA:
		case HF_DISCARD:
			go = hf_data(hf, in, out);
			break;
		case HF_CHUNK_SIZE:
			go = hf_chunk_size(hf, in, out);
			break;
		case HF_CHUNK_CRLF:
			go = hf_chunk_crlf(hf, in, out);
			break;
		case HF_TRAILER:
			go = hf_trailer(hf, in, out);
			break;
		case HF_DONE:
			evbuffer_drain(in, evbuffer_get_length(in));
			go = 0;
			break;
		}
	return evbuffer_get_length(out) > before;
}

int
httpframe_verdict(const struct evkeyvalq *hdrs, int *status,
    const char **reason)
{
	const char	*v = evhttp_find_header(hdrs, HTTPFRAME_FIELD);
	char		*end;
	long		 s;

	if (v == NULL)
		return 0;
	s = strtol(v, &end, 10);
	*status = s >= 400 && s <= 599 ? (int)s : 400;
	*reason = *end == ' ' ? end + 1 : "malformed request framing";
	return 1;
}
