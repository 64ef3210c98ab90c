/*
 * fuzz_httpframe: the request framing scanner (src/httpframe.c), which
 * every byte a client sends goes through before evhttp.
 *
 * Input: byte 0 says how the rest (the stream) arrives: bits 0-2 give
 * pieces of 1..8 bytes (a TLS record can end anywhere). The stream is
 * scanned twice, in one piece and in those pieces, with small limits
 * (64 header bytes, 16 body bytes) so that every limit is reached.
 *
 * Invariants: both ways give evhttp the same bytes and the same verdict;
 * a verdict is 0, 400, 413, 431 or 501; with a verdict, evhttp's last
 * bytes are the verdict field (one line, "STATUS reason") and the empty
 * line, from which httpframe_verdict() reads the same status (a 413 may
 * still be dropping its body: nothing yet).
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "estrad/httpframe.h"
#include "fuzz.h"

#define MAX_HEAD	64
#define MAX_BODY	16

/* What evhttp gets from the stream fed in pieces of step bytes. */
static struct evbuffer *
scan(const uint8_t *data, size_t size, size_t step, int *status)
{
	struct httpframe	*hf = httpframe_new(MAX_HEAD, MAX_BODY);
	struct evbuffer		*in = evbuffer_new(), *out = evbuffer_new();

	if (hf == NULL || in == NULL || out == NULL)
		abort();
	for (size_t i = 0; i < size; i += step) {
		evbuffer_add(in, data + i, size - i < step ? size - i : step);
		httpframe_scan(hf, in, out);
	}
	*status = httpframe_status(hf);
	evbuffer_free(in);
	httpframe_free(hf);
	return out;
}

/*
 * With a verdict, evhttp's last bytes are the verdict field and the empty
 * line; only a 413 may lack them, while the body it drops is still coming.
 * (Before that, bodies passed on may hold any bytes, the field's name
 * too: they are no header section.)
 */
static void
check_verdict(const char *p, size_t n, int status)
{
	static const char	 field[] = "\n" HTTPFRAME_FIELD ": ";
	const char		*end, *at, *why;
	struct evkeyvalq	 hdrs;
	char			 value[160];
	int			 got;

	if (status == 0)
		return;
	if (n < sizeof(field) + 4 || memcmp(p + n - 4, "\r\n\r\n", 4) != 0) {
		FUZZ_CHECK(status == 413);
		return;
	}
	end = p + n - 4;
	for (at = end; at > p && at[-1] != '\n'; at--)
		;
	/* at: the last line, after its '\n' (field[0]). */
	FUZZ_CHECK(at > p && end - (at - 1) >= (long)sizeof(field) - 1);
	FUZZ_CHECK(memcmp(at - 1, field, sizeof(field) - 1) == 0);
	at += sizeof(field) - 2;
	FUZZ_CHECK((size_t)(end - at) < sizeof(value));
	memcpy(value, at, (size_t)(end - at));
	value[end - at] = '\0';
	FUZZ_CHECK(strlen(value) == (size_t)(end - at));
	FUZZ_CHECK(strpbrk(value, "\r\n") == NULL);
	TAILQ_INIT(&hdrs);
	FUZZ_CHECK(evhttp_add_header(&hdrs, HTTPFRAME_FIELD, value) == 0);
	FUZZ_CHECK(httpframe_verdict(&hdrs, &got, &why) == 1);
	FUZZ_CHECK(got == status && why != NULL && *why != '\0');
	evhttp_clear_headers(&hdrs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*whole, *pieces;
	size_t		 step, n;
	int		 s1, s2;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] & 7) + 1;
	whole = scan(data + 1, size - 1, size, &s1);
	pieces = scan(data + 1, size - 1, step, &s2);
	FUZZ_CHECK(s1 == s2);
	FUZZ_CHECK(s1 == 0 || s1 == 400 || s1 == 413 || s1 == 431 ||
	    s1 == 501);
	n = evbuffer_get_length(whole);
	FUZZ_CHECK(n == evbuffer_get_length(pieces));
	FUZZ_CHECK(n == 0 || memcmp(evbuffer_pullup(whole, -1),
	    evbuffer_pullup(pieces, -1), n) == 0);
	check_verdict((const char *)evbuffer_pullup(whole, -1), n, s1);
	evbuffer_free(whole);
	evbuffer_free(pieces);
	return 0;
}
