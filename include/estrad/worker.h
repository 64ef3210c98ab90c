/*
 * worker: a small thread pool for the few things that are slow and cannot
 * be made asynchronous (bcrypt verification). A job runs on a worker
 * thread; its completion runs later on the event loop, handed back
 * through a pipe watched by libevent. Worker threads never touch the event
 * loop or any request: a job carries copies of what it needs.
 */
#ifndef ESTRAD_WORKER_H
#define ESTRAD_WORKER_H

#include <event2/event.h>

struct worker;

typedef void (*worker_fn)(void *job);		/* on a worker thread */
typedef void (*worker_done_fn)(void *job);	/* on the event loop */

struct worker *worker_new(struct event_base *base, int nthreads,
    int max_queued);
/*
 * Hand-backs of w run at the loop's control priority (loop.h): for work
 * whose completion finishes a request (an audit line written, a queue row
 * stored). A worker whose completion starts client work (Basic auth goes
 * on to the CSR and the policy) stays at client priority.
 */
void worker_control(struct worker *w);
/*
 * Stop and join the threads. Jobs not yet completed are finished (work
 * runs if it had not) and their done callbacks run before this returns.
 */
void worker_free(struct worker *w);

/*
 * Queue job. work(job) runs on a thread, then done(job) on the event loop,
 * exactly once each. Returns 0, or -1 when max_queued jobs are waiting
 * (the caller answers 503).
 */
int worker_submit(struct worker *w, worker_fn work, worker_done_fn done,
    void *job);

#endif
