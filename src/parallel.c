/* parallel.c: cnnf_parallel_for on POSIX threads. */
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"

#define MAX_THREADS 256

typedef struct job {
	cnnf_parallel_fn fn;
	void *ctx;
	size_t begin, end;
	int status;
} job;

static void *run(void *arg)
{
	job *j = arg;
	j->status = j->fn(j->ctx, j->begin, j->end);
	return NULL;
}

int cnnf_parallel_threads(int n)
{
	if (n > 0)
		return n > MAX_THREADS ? MAX_THREADS : n;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (cores < 1)
		return 1;
	return cores > MAX_THREADS ? MAX_THREADS : (int)cores;
}

int cnnf_parallel_for(size_t n, int threads, cnnf_parallel_fn fn, void *ctx)
{
	if (n == 0)
		return 0;
	size_t t = (size_t)cnnf_parallel_threads(threads);
	if (t > n)
		t = n;
	if (t == 1) {
		if (fn(ctx, 0, n) < 0) {
			cnnf_error("out of memory");
			return -1;
		}
		return 0;
	}
	job jobs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int started[MAX_THREADS];
	for (size_t i = 0; i < t; i++) {
		jobs[i] = (job){fn, ctx, n * i / t, n * (i + 1) / t, 0};
		/* Range 0 runs here, in the calling thread, once the others are started. */
		started[i] = i > 0 && pthread_create(&tids[i], NULL, run, &jobs[i]) == 0;
	}
	for (size_t i = 0; i < t; i++)
		if (!started[i])
			run(&jobs[i]);
	int status = 0;
	for (size_t i = 0; i < t; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		if (jobs[i].status < 0)
			status = -1;
	}
	if (status < 0)
		cnnf_error("out of memory");
	return status;
}
