/*
 * httpframe: HTTP/1.1 message framing checked before evhttp parses it
 * (RFC 9112). libevent 2.1 frames requests loosely: of two Content-Length
 * fields it takes the first, it reads "+3" and chunk size "0x3" as 3, it
 * files "Content-Length : 3" under another name and so reads no body, it
 * folds obs-fold lines, it answers a chunk extension with 413. Behind any
 * intermediary that frames the same bytes differently, each of those is a
 * request-smuggling vector.
 *
 * A bufferevent filter between the TLS (or socket) bufferevent and evhttp
 * runs every byte through a scanner that knows where each request ends:
 *  - a header section is held until it is complete, then checked whole; a
 *    good one goes on unchanged;
 *  - a Content-Length body goes on as it comes;
 *  - a chunked body is rewritten canonically: chunk extensions dropped
 *    (RFC 9112 §7.1.1: a recipient MUST ignore the ones it does not know),
 *    trailer fields dropped (RFC 9110 §6.5.1); such a request is held
 *    whole until its last chunk (evhttp holds the body whole too, before
 *    it calls the handler), so that a bad chunk refuses all of it.
 * A request that fails a check never reaches evhttp as it was sent: evhttp
 * sees its request line and HTTPFRAME_FIELD, "STATUS reason", and no body.
 * No client can send that field (the scanner refuses it). The request
 * handler answers it with Connection: close, and the scanner drops every
 * byte after it: nothing behind a malformed request is served.
 *
 * The scanner is pure (evbuffers in, evbuffers out, no I/O): the unit tests
 * drive it byte by byte.
 */
#ifndef ESTRAD_HTTPFRAME_H
#define ESTRAD_HTTPFRAME_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

/* The field that carries a verdict to the request handler. */
#define HTTPFRAME_FIELD	"Estrad-Framing-Error"

struct httpframe;

/*
 * max_head: evhttp's limit on the header section (limits.max_header_bytes);
 * a section larger than three times that is handed to evhttp unchecked,
 * as it refuses it anyway. max_body: the body size past which evhttp would refuse
 * the request itself (2 * limits.max_body_bytes): a larger Content-Length
 * gets 413 from its header. NULL when out of memory.
 */
struct httpframe *httpframe_new(size_t max_head, uint64_t max_body);
void httpframe_free(struct httpframe *hf);

/*
 * Move what can be framed from in to out (bytes out are what evhttp may
 * parse). Returns 1 when out grew, else 0 (in holds an incomplete line or
 * header section, or nothing).
 */
int httpframe_scan(struct httpframe *hf, struct evbuffer *in,
    struct evbuffer *out);

/* The verdict so far: 0 while the stream is good, else 400, 413. */
int httpframe_status(const struct httpframe *hf);

/*
 * A request's verdict, read back from its fields: 1 and *status, *reason
 * (pointing into hdrs) when the scanner refused it, else 0.
 */
int httpframe_verdict(const struct evkeyvalq *hdrs, int *status,
    const char **reason);

/*
 * A filter bufferevent running the scanner over what under receives;
 * freeing it frees under. NULL (under freed) when out of memory.
 */
struct bufferevent *httpframe_bev_new(struct bufferevent *under,
    size_t max_head, uint64_t max_body);

/* The bufferevent below such a filter (else bev itself). */
struct bufferevent *httpframe_bev_under(struct bufferevent *bev);

#endif
