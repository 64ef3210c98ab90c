/*
 * Worker pool tests on a real event base: every job's work runs once on
 * a worker thread and its done once on the loop thread; a full queue
 * refuses; worker_free() finishes what is pending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <cmocka.h>

#include <event2/event.h>

#include "estrad/worker.h"

struct job {
	unsigned	 in;
	uint64_t	 out;
	int		 work_runs;
	int		 done_runs;
	int		 work_on_main;	/* work ran on the loop thread */
	int		 done_off_main;	/* done ran elsewhere */
	int		*done_total;
	int		 want_total;
	struct event_base *base;
	struct worker	*resubmit;	/* done submits here, expects -1 */
	int		 resubmit_rc;
};

static pthread_t main_thread;

/* Something that takes a while and can be checked: a hash chain. */
static uint64_t
compute(unsigned n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;

	for (unsigned i = 0; i < 20000 + n; i++)
		h = (h ^ i) * 0x100000001b3ULL;
	return h;
}

static void
job_work(void *arg)
{
	struct job	*j = arg;

	j->work_runs++;
	j->work_on_main = pthread_equal(pthread_self(), main_thread);
	j->out = compute(j->in);
}

static void
job_noop(void *arg)
{
}

static void
job_done(void *arg)
{
	struct job	*j = arg;

	j->done_runs++;
	j->done_off_main = !pthread_equal(pthread_self(), main_thread);
	if (j->resubmit != NULL)
		j->resubmit_rc = worker_submit(j->resubmit, job_work, job_done,
		    j);
	if (++*j->done_total == j->want_total && j->base != NULL)
		event_base_loopbreak(j->base);
}

static void
check_jobs(struct job *jobs, int n, int want_work)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(jobs[i].work_runs, want_work);
		assert_int_equal(jobs[i].done_runs, 1);
		assert_false(jobs[i].work_on_main);
		assert_false(jobs[i].done_off_main);
		if (want_work)
			assert_true(jobs[i].out == compute(jobs[i].in));
	}
}

/* n fresh jobs: job i hashes i * step, and the done that brings *total
 * to want_total breaks the loop (once a job's base is set). */
static void
jobs_init(struct job *jobs, int n, unsigned step, int *total, int want_total)
{
	memset(jobs, 0, (size_t)n * sizeof(*jobs));
	for (int i = 0; i < n; i++) {
		jobs[i].in = (unsigned)i * step;
		jobs[i].done_total = total;
		jobs[i].want_total = want_total;
	}
}

/* Dispatch until the jobs are done, or fail after 10 s. */
static void
dispatch(struct event_base *base)
{
	struct timeval	 tv = { 10, 0 };

	assert_int_equal(event_base_loopexit(base, &tv), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_true(event_base_got_break(base));
}

static void
test_many_jobs(void **state)
{
	enum { N = 200 };
	struct event_base	*base;
	struct worker		*w;
	struct job		*jobs;
	int			 total = 0;

	assert_non_null(jobs = calloc(N, sizeof(*jobs)));
	jobs_init(jobs, N, 1, &total, N);
	assert_non_null(base = event_base_new());
	assert_non_null(w = worker_new(base, 2, N));
	for (int i = 0; i < N; i++) {
		jobs[i].base = base;
		assert_int_equal(worker_submit(w, job_work, job_done,
		    &jobs[i]), 0);
	}
	dispatch(base);
	assert_int_equal(total, N);
	check_jobs(jobs, N, 1);
	worker_free(w);
	assert_int_equal(total, N);	/* nothing ran twice */
	check_jobs(jobs, N, 1);
	event_base_free(base);
	free(jobs);
}

/* A job that holds its thread until the test lets it go. */
struct gate {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	int		 started;
	int		 open;
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, 0, 0 };

static void
gate_work(void *arg)
{
	pthread_mutex_lock(&gate.mtx);
	gate.started = 1;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.mtx);
	pthread_mutex_unlock(&gate.mtx);
	job_work(arg);
}

static void
test_queue_full(void **state)
{
	struct event_base	*base;
	struct worker		*w;
	struct job		 jobs[4];
	int			 total = 0;

	jobs_init(jobs, 4, 1, &total, 3);
	assert_non_null(base = event_base_new());
	jobs[2].base = base;
	assert_non_null(w = worker_new(base, 1, 2));
	/* The one thread is busy with job 0; two more may wait. */
	assert_int_equal(worker_submit(w, gate_work, job_done, &jobs[0]), 0);
	pthread_mutex_lock(&gate.mtx);
	while (!gate.started)
		pthread_cond_wait(&gate.cond, &gate.mtx);
	pthread_mutex_unlock(&gate.mtx);
	assert_int_equal(worker_submit(w, job_work, job_done, &jobs[1]), 0);
	assert_int_equal(worker_submit(w, job_work, job_done, &jobs[2]), 0);
	assert_int_equal(worker_submit(w, job_work, job_done, &jobs[3]), -1);
	assert_int_equal(worker_submit(w, job_work, job_done, &jobs[3]), -1);
	pthread_mutex_lock(&gate.mtx);
	gate.open = 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.mtx);
	for (int i = 0; i < 3; i++)
		jobs[i].base = base;
	dispatch(base);
	assert_int_equal(total, 3);
	check_jobs(jobs, 3, 1);
	assert_int_equal(jobs[3].work_runs + jobs[3].done_runs, 0);
	/* Room again once the queue drained. */
	jobs[3].base = base;
	jobs[3].want_total = 4;
	assert_int_equal(worker_submit(w, job_work, job_done, &jobs[3]), 0);
	dispatch(base);
	check_jobs(jobs, 4, 1);
	worker_free(w);
	event_base_free(base);
}

/* worker_free() without ever running the loop: all done callbacks run
 * inside it, on this thread; a done that submits again is refused. */
static void
test_free_pending(void **state)
{
	enum { N = 50 };
	struct event_base	*base;
	struct worker		*w;
	struct job		 jobs[N];
	int			 total = 0;

	jobs_init(jobs, N, 1000, &total, N);
	assert_non_null(base = event_base_new());
	assert_non_null(w = worker_new(base, 2, N));
	for (int i = 0; i < N; i++) {
		jobs[i].resubmit = w;
		jobs[i].resubmit_rc = 99;
		assert_int_equal(worker_submit(w, job_work, job_done,
		    &jobs[i]), 0);
	}
	worker_free(w);
	assert_int_equal(total, N);
	check_jobs(jobs, N, 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(jobs[i].resubmit_rc, -1);
	/* The pipe's event is gone from the base. */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	event_base_free(base);
}

/* Some jobs done through the loop, the rest by worker_free(). */
static void
test_free_after_some(void **state)
{
	enum { N = 40 };
	struct event_base	*base;
	struct worker		*w;
	struct job		 jobs[N];
	int			 total = 0;

	jobs_init(jobs, N, 1, &total, N);
	assert_non_null(base = event_base_new());
	assert_non_null(w = worker_new(base, 3, N));
	for (int i = 0; i < N; i++)
		assert_int_equal(worker_submit(w, i < 10 ? job_work : job_noop,
		    job_done, &jobs[i]), 0);
	assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
	worker_free(w);
	assert_int_equal(total, N);
	check_jobs(jobs, 10, 1);
	check_jobs(jobs + 10, N - 10, 0);
	event_base_free(base);
}

static void
test_new_and_free_edges(void **state)
{
	struct event_base	*base;

	worker_free(NULL);
	assert_non_null(base = event_base_new());
	assert_null(worker_new(base, 0, 10));
	assert_null(worker_new(base, 2, 0));
	assert_null(worker_new(NULL, 2, 10));
	assert_int_equal(worker_submit(NULL, job_work, job_done, NULL), -1);
	worker_free(worker_new(base, 4, 1));	/* idle threads join */
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_jobs),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_free_pending),
		cmocka_unit_test(test_free_after_some),
		cmocka_unit_test(test_new_and_free_edges),
	};

	main_thread = pthread_self();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
