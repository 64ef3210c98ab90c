/*
 * httpframe_bev: the framing scanner (httpframe.c) as a bufferevent filter
 * between the TLS (or socket) bufferevent and evhttp. The filter owns the
 * scanner; freeing the filter frees both and the bufferevent below.
 */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "estrad/httpframe.h"

/*
 * The filter's context. Two things in libevent 2.1's filter do not fit
 * evhttp, and are mended here:
 *  - it moves output down only while EV_WRITE is enabled on it, and evhttp
 *    writes a whole answer into the output buffer first and enables
 *    EV_WRITE after: nothing would move. An addition to the output made
 *    while writing is off is kicked down from the event loop, once the
 *    caller has finished and enabled writing (the kick holds a reference,
 *    in case the connection is freed meanwhile);
 *  - it reports the output written once it is in the TLS bufferevent's
 *    buffer, not on the socket, and evhttp then closes a Connection: close
 *    answer at once (shutdown(SHUT_WR)), cutting it off. So the output
 *    filter never reports; the TLS output running empty does.
 */
struct httpframe_bev {
	struct httpframe	*fb_scan;
	struct bufferevent	*fb_bev;
	struct bufferevent	*fb_under;	/* TLS (or the socket) */
	struct event		*fb_kick;
	struct evbuffer_cb_entry *fb_drained;	/* on the TLS output */
	size_t			 fb_waiting;	/* bytes held below */
	int			 fb_kicked;
};

static void
httpframe_bev_free(void *ctx)
{
	struct httpframe_bev *fb = ctx;

	httpframe_free(fb->fb_scan);
	/* The filter's destructor: under lives on until after it (libevent
	 * holds a reference to it for the filter). */
	if (fb->fb_drained != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(fb->fb_under),
		    fb->fb_drained);
	if (fb->fb_kick != NULL)
		event_free(fb->fb_kick);
	free(fb);
}

static enum bufferevent_filter_result
httpframe_on_input(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t limit, enum bufferevent_flush_mode mode, void *ctx)
{
	struct httpframe_bev	*fb = ctx;
	int			 arrived = evbuffer_get_length(src) >
	    fb->fb_waiting, moved;

	(void)limit;
	(void)mode;
	moved = httpframe_scan(fb->fb_scan, src, dst);
	fb->fb_waiting = evbuffer_get_length(src);
	/* BEV_OK asks for another round while src holds bytes: only when
	 * something moved or came. Bytes that came count even if they stay
	 * below (half a header section): evhttp's read timeout measures
	 * silence, as it did without the filter. */
	return moved || arrived ? BEV_OK : BEV_NEED_MORE;
}

/* Everything goes down; the write callback waits for the socket. */
static enum bufferevent_filter_result
httpframe_on_output_move(struct evbuffer *src, struct evbuffer *dst,
    ev_ssize_t limit, enum bufferevent_flush_mode mode, void *ctx)
{
	(void)limit;
	(void)mode;
	(void)ctx;
	evbuffer_add_buffer(dst, src);
	return BEV_NEED_MORE;
}

static void
httpframe_on_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct httpframe_bev *fb = arg;

	/* At once, not deferred: libevent 2.1 runs deferred callbacks only
	 * after another pass through epoll, a delay on every answer. The
	 * trigger holds a reference to the filter, and the TLS bufferevent
	 * holds one to itself while it writes, should evhttp free the
	 * connection now. */
	if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(fb->fb_bev)) == 0)
		bufferevent_trigger(fb->fb_bev, EV_WRITE, 0);
}

static void
httpframe_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct httpframe_bev	*fb = arg;
	struct bufferevent	*bev = fb->fb_bev;

	(void)fd;
	(void)what;
	fb->fb_kicked = 0;
	bufferevent_flush(bev, EV_WRITE, BEV_NORMAL);
	/* May free the filter, and fb with it. */
	bufferevent_decref(bev);
}

static void
httpframe_on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct httpframe_bev *fb = arg;

	(void)buf;
	if (info->n_added == 0 || fb->fb_kicked ||
	    (bufferevent_get_enabled(fb->fb_bev) & EV_WRITE))
		return;
	fb->fb_kicked = 1;
	bufferevent_incref(fb->fb_bev);
	event_active(fb->fb_kick, EV_TIMEOUT, 1);
}

struct bufferevent *
httpframe_bev_new(struct bufferevent *under, size_t max_head,
    uint64_t max_body)
{
	struct httpframe_bev	*fb;

	if (under == NULL)
		return NULL;
	if ((fb = calloc(1, sizeof(*fb))) == NULL ||
	    (fb->fb_under = under) == NULL ||
	    (fb->fb_scan = httpframe_new(max_head, max_body)) == NULL ||
	    (fb->fb_kick = event_new(bufferevent_get_base(under), -1, 0,
	    httpframe_on_kick, fb)) == NULL)
		goto fail;
	fb->fb_bev = bufferevent_filter_new(under, httpframe_on_input,
	    httpframe_on_output_move, BEV_OPT_CLOSE_ON_FREE,
	    httpframe_bev_free, fb);
	if (fb->fb_bev == NULL)
		goto fail;
	if (evbuffer_add_cb(bufferevent_get_output(fb->fb_bev),
	    httpframe_on_output, fb) == NULL ||
	    (fb->fb_drained = evbuffer_add_cb(bufferevent_get_output(under),
	    httpframe_on_drained, fb)) == NULL) {
		bufferevent_free(fb->fb_bev);	/* frees fb and under */
		return NULL;
	}
	return fb->fb_bev;
fail:
	if (fb != NULL)
		httpframe_bev_free(fb);
	bufferevent_free(under);
	return NULL;
}

struct bufferevent *
httpframe_bev_under(struct bufferevent *bev)
{
	struct bufferevent *under;

	if (bev == NULL)
		return NULL;
	under = bufferevent_get_underlying(bev);
	return under != NULL ? under : bev;
}
