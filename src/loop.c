/*
 * loop: the event base with its priorities and dispatch slice, and the
 * loop-lag timer (include/estrad/loop.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/metrics.h"

#define LOOP_LAG_TICK_MS	100
#define LOOP_LAG_NOTE_MS	5	/* debug: explain a tick this late */

struct event_base *
loop_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base = NULL;
	struct timeval		 slice = { 0, LOOP_CLIENT_SLICE_MS * 1000 };

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	/* Client events only are cut into slices; control events run to
	 * the end of their queue (they are few, and each finishes work). */
	if (event_config_set_max_dispatch_interval(cfg, &slice, -1,
	    LOOP_PRI_CLIENT) == 0 &&
	    (base = event_base_new_with_config(cfg)) != NULL &&
	    event_base_priority_init(base, LOOP_NPRIORITIES) == -1) {
		event_base_free(base);
		base = NULL;
	}
	event_config_free(cfg);
	return base;
}

void
loop_control(struct event *ev)
{
	if (ev != NULL && event_priority_set(ev, LOOP_PRI_CONTROL) == -1)
		log_debug("loop: an event kept the default priority");
}

struct loop_lag {
	struct event	*ll_timer;
	struct timespec	 ll_due;
	int		 ll_schedstat;	/* /proc/thread-self/schedstat */
	long long	 ll_waited_ns;	/* its run-queue wait, last tick */
};

/*
 * With debug logging, a late tick is explained: how long the loop's thread
 * waited for a CPU while runnable (the kernel's schedstat, a pread of an
 * in-memory procfs file) during the tick's interval. A tick late by about
 * that much was kept waiting by the scheduler, not by work on the loop.
 */
static void
loop_lag_explain(struct loop_lag *lag, double late)
{
	char		 buf[128];
	ssize_t		 n;
	long long	 run, waited, delta;

	if (lag->ll_schedstat == -1 || !log_wants(LOG_LEVEL_DEBUG)) {
		lag->ll_waited_ns = -1;
		return;
	}
	if ((n = pread(lag->ll_schedstat, buf, sizeof(buf) - 1, 0)) <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%lld %lld", &run, &waited) != 2)
		return;
	delta = lag->ll_waited_ns >= 0 ? waited - lag->ll_waited_ns : -1;
	lag->ll_waited_ns = waited;
	if (delta >= 0 && late * 1e3 >= LOOP_LAG_NOTE_MS)
		log_debug("loop: the lag timer fired %.1f ms late; the loop "
		    "waited %.1f ms for a CPU in its last %.0f ms", late * 1e3,
		    (double)delta / 1e6, LOOP_LAG_TICK_MS + late * 1e3);
}

static void
loop_lag_arm(struct loop_lag *lag)
{
	struct timeval tv = { 0, LOOP_LAG_TICK_MS * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &lag->ll_due);
	lag->ll_due.tv_nsec += LOOP_LAG_TICK_MS * 1000000L;
	if (lag->ll_due.tv_nsec >= 1000000000L) {
		lag->ll_due.tv_sec++;
		lag->ll_due.tv_nsec -= 1000000000L;
	}
	evtimer_add(lag->ll_timer, &tv);
}

/*
 * A control timer is run as soon as the loop polls after it is due, ahead
 * of every client event: its lateness is how long the loop was busy
 * without polling (one slice of client work, the control work ready
 * with it, or the process not being scheduled at all).
 */
static void
loop_on_lag_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loop_lag	*lag = arg;
	struct timespec	 now;
	double		 late;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	late = (double)(now.tv_sec - lag->ll_due.tv_sec) +
	    (double)(now.tv_nsec - lag->ll_due.tv_nsec) / 1e9;
	metrics_loop_lag(late > 0 ? late : 0);
	loop_lag_explain(lag, late);
	loop_lag_arm(lag);
}

struct loop_lag *
loop_lag_new(struct event_base *base)
{
	struct loop_lag *lag;

	if ((lag = calloc(1, sizeof(*lag))) == NULL)
		return NULL;
	if ((lag->ll_timer = evtimer_new(base, loop_on_lag_tick, lag)) ==
	    NULL) {
		free(lag);
		return NULL;
	}
	/* Opened by the loop's own thread: thread-self is this thread. */
	lag->ll_schedstat = open("/proc/thread-self/schedstat",
	    O_RDONLY | O_CLOEXEC);
	lag->ll_waited_ns = -1;
	loop_control(lag->ll_timer);
	loop_lag_arm(lag);
	return lag;
}

void
loop_lag_free(struct loop_lag *lag)
{
	if (lag == NULL)
		return;
	event_free(lag->ll_timer);
	if (lag->ll_schedstat != -1)
		close(lag->ll_schedstat);
	free(lag);
}
