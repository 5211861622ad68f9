/* parallel.c: cnnf_parallel_for on POSIX threads. */
#include "base/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/error.h"

#define MAX_THREADS 256

/*
 * The items are dealt out in chunks, several per thread, from a shared
 * counter: a thread that starts late or is descheduled (on a shared virtual
 * machine, a vCPU may be away for milliseconds) takes fewer chunks instead of
 * holding up the others. Which thread does a chunk never changes its result.
 */
typedef struct pool {
	cnnf_parallel_fn fn;
	cnnf_parallel_worker_fn wfn; /* instead of fn, for cnnf_parallel_for_workers() */
	void *ctx;
	size_t n, chunks;   /* chunk i is items [n * i / chunks, n * (i + 1) / chunks) */
	atomic_size_t next; /* the next chunk to take */
	atomic_int failed;
} pool;

/* One thread's share: its worker index and the pool. */
typedef struct share {
	pool *p;
	int worker;
} share;

static void *run(void *arg)
{
	const share *sh = arg;
	pool *p = sh->p;
	/* After a failure the call fails anyway: the chunks left are not started. */
	while (!atomic_load(&p->failed)) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->chunks)
			break;
		size_t b = p->n * i / p->chunks, e = p->n * (i + 1) / p->chunks;
		if ((p->wfn ? p->wfn(p->ctx, sh->worker, b, e) : p->fn(p->ctx, b, e)) < 0)
			atomic_store(&p->failed, 1);
	}
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

static int deal(size_t n, int threads, pool *p)
{
	if (n == 0)
		return 0;
	size_t t = (size_t)cnnf_parallel_threads(threads);
	if (t > n)
		t = n;
	p->n = n;
	p->chunks = t == 1 ? 1 : n < t * CNNF_PARALLEL_CHUNKS ? n : t * CNNF_PARALLEL_CHUNKS;
	atomic_init(&p->next, 0);
	atomic_init(&p->failed, 0);
	pthread_t tids[MAX_THREADS];
	int started[MAX_THREADS];
	share sh[MAX_THREADS];
	for (size_t i = 0; i < t; i++)
		sh[i] = (share){p, (int)i};
	for (size_t i = 1; i < t; i++)
		started[i] = pthread_create(&tids[i], NULL, run, &sh[i]) == 0;
	/* The calling thread works too; if no thread could be started it does everything. */
	run(&sh[0]);
	for (size_t i = 1; i < t; i++)
		if (started[i])
			pthread_join(tids[i], NULL);
	if (atomic_load(&p->failed)) {
		cnnf_error("out of memory");
		return -1;
	}
	return 0;
}

int cnnf_parallel_for(size_t n, int threads, cnnf_parallel_fn fn, void *ctx)
{
	pool p = {.fn = fn, .ctx = ctx};
	return deal(n, threads, &p);
}

int cnnf_parallel_for_workers(size_t n, int threads, cnnf_parallel_worker_fn fn, void *ctx)
{
	pool p = {.wfn = fn, .ctx = ctx};
	return deal(n, threads, &p);
}
