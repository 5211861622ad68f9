/* parallel.h: a parallel for-loop over an index range on POSIX threads. */
#ifndef CNNF_PARALLEL_H
#define CNNF_PARALLEL_H

#include <stddef.h>

/*
 * A worker gets one contiguous range [begin, end) of the items, and may be
 * called several times in one thread; it returns 0, or -1 when it ran out of
 * memory (the only failure a worker may have).
 */
typedef int (*cnnf_parallel_fn)(void *ctx, size_t begin, size_t end);

/* Chunks per thread that cnnf_parallel_for() splits the items into (fewer when n is smaller). */
#define CNNF_PARALLEL_CHUNKS 4

/* Online cores when n is 0 (at least 1), else n. */
int cnnf_parallel_threads(int n);

/*
 * Run fn over items 0..n-1 on `threads` threads (0: all cores), the calling
 * thread among them. The items are split into contiguous chunks, a few per
 * thread, which the threads take in turn as they finish; each item is done by
 * exactly one call, so results that are computed per item do not depend on
 * the thread count or on which thread took which chunk. If a thread cannot be
 * started the others do its share. Returns 0, or -1 with "out of memory" when
 * a worker failed (the chunks not yet started are then left undone).
 */
int cnnf_parallel_for(size_t n, int threads, cnnf_parallel_fn fn, void *ctx);

/*
 * The same, fn also told which worker it runs as: 0 .. the thread count - 1,
 * each index used by one thread at a time (the calling thread is 0), so that
 * a worker can use a scratch of its own (a graph prepared once) without
 * locking.
 */
typedef int (*cnnf_parallel_worker_fn)(void *ctx, int worker, size_t begin, size_t end);
int cnnf_parallel_for_workers(size_t n, int threads, cnnf_parallel_worker_fn fn, void *ctx);

#endif
