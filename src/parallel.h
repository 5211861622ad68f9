/* parallel.h: a parallel for-loop over an index range on POSIX threads. */
#ifndef CNNF_PARALLEL_H
#define CNNF_PARALLEL_H

#include <stddef.h>

/*
 * A worker gets one contiguous range [begin, end) of the items; it returns 0,
 * or -1 when it ran out of memory (the only failure a worker may have).
 */
typedef int (*cnnf_parallel_fn)(void *ctx, size_t begin, size_t end);

/* Online cores when n is 0 (at least 1), else n. */
int cnnf_parallel_threads(int n);

/*
 * Split items 0..n-1 into `threads` contiguous ranges (0: all cores) and run
 * fn on each in its own thread. The split depends only on n and the thread
 * count, and each item is done by exactly one call, so results that are
 * computed per item do not depend on the thread count. If a thread cannot be
 * started its range runs in the calling thread. Returns 0, or -1 with
 * "out of memory" when a worker failed.
 */
int cnnf_parallel_for(size_t n, int threads, cnnf_parallel_fn fn, void *ctx);

#endif
