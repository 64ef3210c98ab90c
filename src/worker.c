/*
 * worker: a fixed pool of threads fed by one mutex-protected FIFO. A
 * finished job goes onto a done list under the same mutex, and the first
 * job to land on an empty list writes one byte into a pipe; the event
 * loop, woken by that byte, takes the whole list and runs the done
 * callbacks. Every job runs work() once and done() once, on the loop.
 *
 * The pipe carries a wake-up, not the job pointers: a pipe holds 64 KiB,
 * and a worker that found it full (the loop busy, thousands of jobs
 * finished) would have to either block, deadlocking worker_free(), or
 * drop the job. A list under the mutex cannot fill up.
 *
 * Worker threads never call libevent, so the base needs no
 * evthread_use_pthreads().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "estrad/log.h"
#include "estrad/loop.h"
#include "estrad/worker.h"

struct worker_job {
	worker_fn		 wj_work;
	worker_done_fn		 wj_done;
	void			*wj_arg;
	struct worker_job	*wj_next;
};

/* A singly linked FIFO. */
struct worker_list {
	struct worker_job	*wl_head;
	struct worker_job	*wl_tail;
};

struct worker {
	struct event_base	*w_base;
	struct event		*w_ev;		/* EV_READ|EV_PERSIST on w_pipe[0] */
	int			 w_pipe[2];
	pthread_t		*w_threads;
	int			 w_nthreads;	/* started */
	int			 w_max_queued;

	pthread_mutex_t		 w_mtx;		/* guards all below */
	pthread_cond_t		 w_cond;	/* work queued, or stopping */
	struct worker_list	 w_queue;
	int			 w_nqueued;
	struct worker_list	 w_done;
	int			 w_signalled;	/* a wake-up byte is pending */
	int			 w_stopping;
};

static void
worker_list_push(struct worker_list *l, struct worker_job *j)
{
	j->wj_next = NULL;
	if (l->wl_tail != NULL)
		l->wl_tail->wj_next = j;
	else
		l->wl_head = j;
	l->wl_tail = j;
}

static struct worker_job *
worker_list_pop(struct worker_list *l)
{
	struct worker_job	*j = l->wl_head;

	if (j != NULL && (l->wl_head = j->wj_next) == NULL)
		l->wl_tail = NULL;
	return j;
}

/* Run the done callbacks of a detached list, in completion order. */
static void
worker_run_done(struct worker_job *j)
{
	struct worker_job	*next;

	for (; j != NULL; j = next) {
		next = j->wj_next;
		j->wj_done(j->wj_arg);
		free(j);
	}
}

/* Detach the done list. The caller runs it outside the lock. */
static struct worker_job *
worker_take_done(struct worker *w)
{
	struct worker_job	*j;

	pthread_mutex_lock(&w->w_mtx);
	j = w->w_done.wl_head;
	w->w_done.wl_head = w->w_done.wl_tail = NULL;
	w->w_signalled = 0;
	pthread_mutex_unlock(&w->w_mtx);
	return j;
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct worker_job	*j;
	int			 wake;
	ssize_t			 r;

	pthread_mutex_lock(&w->w_mtx);
	for (;;) {
		while (w->w_queue.wl_head == NULL && !w->w_stopping)
			pthread_cond_wait(&w->w_cond, &w->w_mtx);
		/* Stopping still drains the queue: no job is lost. */
		if ((j = worker_list_pop(&w->w_queue)) == NULL)
			break;
		w->w_nqueued--;
		pthread_mutex_unlock(&w->w_mtx);

		j->wj_work(j->wj_arg);

		pthread_mutex_lock(&w->w_mtx);
		worker_list_push(&w->w_done, j);
		wake = !w->w_signalled;
		w->w_signalled = 1;
		if (wake) {
			/* EAGAIN: the pipe is full of wake-ups already. */
			do {
				r = write(w->w_pipe[1], "", 1);
			} while (r == -1 && errno == EINTR);
		}
	}
	pthread_mutex_unlock(&w->w_mtx);
	return NULL;
}

/*
 * The loop side. Drain the pipe before taking the list: a byte written
 * after the take then stays in the pipe and wakes us again, rather than
 * being swallowed with its job left behind.
 */
static void
worker_on_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	char		 buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	worker_run_done(worker_take_done(w));
}

/* Threads are started with every signal blocked, so signals reach the
 * event loop's thread only. */
static int
worker_start_threads(struct worker *w, int nthreads)
{
	sigset_t	 all, old;
	int		 i, rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		if ((rc = pthread_create(&w->w_threads[i], NULL, worker_main,
		    w)) != 0)
			break;
		w->w_nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_err("worker: cannot start thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

void
worker_control(struct worker *w)
{
	/* event_priority_set refuses an active event: take it out first. */
	if (w == NULL || w->w_ev == NULL)
		return;
	event_del(w->w_ev);
	loop_control(w->w_ev);
	event_add(w->w_ev, NULL);
}

struct worker *
worker_new(struct event_base *base, int nthreads, int max_queued)
{
	struct worker	*w;

	if (base == NULL || nthreads < 1 || max_queued < 1) {
		log_err("worker: need a base, threads >= 1, queue >= 1");
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->w_threads = calloc((size_t)nthreads,
	    sizeof(*w->w_threads))) == NULL) {
		log_err("worker: out of memory");
		free(w);
		return NULL;
	}
	w->w_base = base;
	w->w_max_queued = max_queued;
	w->w_pipe[0] = w->w_pipe[1] = -1;
	pthread_mutex_init(&w->w_mtx, NULL);
	pthread_cond_init(&w->w_cond, NULL);
	if (pipe2(w->w_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_err("worker: pipe: %s", strerror(errno));
		goto fail;
	}
	if ((w->w_ev = event_new(base, w->w_pipe[0], EV_READ | EV_PERSIST,
	    worker_on_wakeup, w)) == NULL || event_add(w->w_ev, NULL) == -1) {
		log_err("worker: cannot watch the pipe");
		goto fail;
	}
	if (worker_start_threads(w, nthreads) == -1)
		goto fail;
	return w;
fail:
	worker_free(w);
	return NULL;
}

/*
 * Called on the loop thread. After the threads are joined, done
 * callbacks run here; a done callback that submits again gets -1.
 */
void
worker_free(struct worker *w)
{
	int	 i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->w_mtx);
	w->w_stopping = 1;
	pthread_cond_broadcast(&w->w_cond);
	pthread_mutex_unlock(&w->w_mtx);
	for (i = 0; i < w->w_nthreads; i++)
		pthread_join(w->w_threads[i], NULL);
	if (w->w_ev != NULL)
		event_free(w->w_ev);
	worker_run_done(worker_take_done(w));
	if (w->w_pipe[0] != -1)
		close(w->w_pipe[0]);
	if (w->w_pipe[1] != -1)
		close(w->w_pipe[1]);
	pthread_cond_destroy(&w->w_cond);
	pthread_mutex_destroy(&w->w_mtx);
	free(w->w_threads);
	free(w);
}

int
worker_submit(struct worker *w, worker_fn work, worker_done_fn done,
    void *job)
{
	struct worker_job	*j;

	if (w == NULL || work == NULL || done == NULL)
		return -1;
	if ((j = malloc(sizeof(*j))) == NULL)
		return -1;
	j->wj_work = work;
	j->wj_done = done;
	j->wj_arg = job;
	pthread_mutex_lock(&w->w_mtx);
	if (w->w_stopping || w->w_nqueued >= w->w_max_queued) {
		pthread_mutex_unlock(&w->w_mtx);
		free(j);
		return -1;
	}
	worker_list_push(&w->w_queue, j);
	w->w_nqueued++;
	pthread_cond_signal(&w->w_cond);
	pthread_mutex_unlock(&w->w_mtx);
	return 0;
}
