/* graph_mem.c: where a graph's run keeps its values: an arena planned at prepare time, and a pool of buffers. */
/* madvise(MADV_HUGEPAGE): not in POSIX. */
#define _DEFAULT_SOURCE
#include "nn/graph_mem.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "base/error.h"

/*
 * The buffers of runs. A value's buffer goes back to the graph's pool after
 * its last use, and the next value it fits takes it (the smallest that fits,
 * if not more than twice the size), in this run or the next: a run touches
 * fresh pages only for what no earlier value left, where page faults were
 * half of a U-Net's time. Buffers of 1 MiB and more are 2 MiB aligned and
 * advised as huge pages. The pool keeps at most twice the prepared peak;
 * beyond that, buffers are freed as before. It is the graph's own, so
 * graphs run by different threads share nothing.
 */
typedef struct cnnf_buf {
	void *p;
	size_t cap;
	int busy;
} cnnf_buf;

#define HUGE_BUF ((size_t)1 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

void *cnnf_graph_mem_get(cnnf_graph *g, size_t size)
{
	int best = -1;
	for (int i = 0; i < g->npool; i++) {
		cnnf_buf *b = &g->pool[i];
		if (!b->busy && b->cap >= size && b->cap / 2 <= size &&
		    (best < 0 || b->cap < g->pool[best].cap))
			best = i;
	}
	if (best >= 0) {
		g->pool[best].busy = 1;
		return g->pool[best].p;
	}
	size_t cap = size;
	void *p = NULL;
	if (size >= HUGE_BUF && size <= SIZE_MAX - HUGE_ALIGN) {
		cap = (size + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
		if (posix_memalign(&p, HUGE_ALIGN, cap) != 0)
			p = NULL;
#ifdef MADV_HUGEPAGE
		if (p)
			madvise(p, cap, MADV_HUGEPAGE); /* advice only: it may be refused */
#endif
	} else {
		p = malloc(size);
	}
	if (!p)
		return NULL;
	if (g->pool_bytes + cap <= 2 * g->peak_bytes + HUGE_ALIGN) {
		if (g->npool == g->cap_pool) {
			int nc = g->cap_pool ? 2 * g->cap_pool : 16;
			cnnf_buf *grown = realloc(g->pool, (size_t)nc * sizeof *grown);
			if (!grown)
				return p; /* not pooled: freed when done */
			g->pool = grown;
			g->cap_pool = nc;
		}
		g->pool[g->npool++] = (cnnf_buf){p, cap, 1};
		g->pool_bytes += cap;
	}
	return p;
}

/* A buffer a value is done with: back to the pool, or freed when not pooled. */
void cnnf_graph_mem_put(cnnf_graph *g, void *p)
{
	if (!p)
		return;
	for (int i = 0; i < g->npool; i++)
		if (g->pool[i].p == p) {
			g->pool[i].busy = 0;
			return;
		}
	free(p);
}

/* A value a run is done with: its bytes in the arena are simply left, a buffer goes back. */
void cnnf_graph_mem_release(cnnf_graph *g, cnnf_value *v)
{
	if (!v->in_arena)
		cnnf_graph_mem_put(g, v->data);
	v->data = NULL;
}

/* A buffer handed to the caller, who frees it: the pool lets it go. */
void cnnf_graph_mem_take(cnnf_graph *g, void *p)
{
	for (int i = 0; i < g->npool; i++)
		if (g->pool[i].p == p) {
			g->pool_bytes -= g->pool[i].cap;
			g->pool[i] = g->pool[--g->npool];
			return;
		}
}

void cnnf_graph_mem_free(cnnf_graph *g)
{
	free(g->arena);
	g->arena = NULL;
	for (int i = 0; i < g->npool; i++)
		free(g->pool[i].p);
	free(g->pool);
	g->pool = NULL;
	g->npool = g->cap_pool = 0;
	g->pool_bytes = 0;
}

void *cnnf_graph_mem_at(const cnnf_graph *g, const cnnf_value *v)
{
	return (char *)g->arena + v->arena_off;
}

int cnnf_graph_mem_arena(cnnf_graph *g)
{
	if (!g->arena_size || g->arena)
		return 0;
	void *a = NULL;
	if (posix_memalign(&a, HUGE_ALIGN, g->arena_size) != 0) {
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
#ifdef MADV_HUGEPAGE
	if (g->arena_size >= HUGE_BUF)
		madvise(a, g->arena_size, MADV_HUGEPAGE); /* advice only */
#endif
	g->arena = a;
	return 0;
}

/*
 * Place the values a run makes in one arena, planned now that every size
 * and last use is known: two values share bytes only when their lives
 * (from the node that makes one to the last that reads it, both included)
 * do not overlap; the largest are placed first, each at the lowest offset
 * that fits (greedy by size, as TFLite's planner). A run then touches about
 * the peak's bytes once instead of fresh pages for every value. Graph
 * outputs, handed to the caller, stay outside. 0, or -1 if out of memory.
 */
int cnnf_graph_mem_plan(cnnf_graph *g)
{
	int n = 0;
	int *vals = malloc(((size_t)g->nval + 1) * sizeof *vals);
	if (!vals) {
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	for (int i = 0; i < g->nval; i++) {
		cnnf_value *v = &g->val[i];
		v->in_arena = 0;
		if (!v->is_const && !v->is_output && v->producer >= 0 && !g->node[v->producer].folded &&
		    v->ndim >= 0)
			vals[n++] = i;
	}
	/* Largest first (insertion sort: graphs have hundreds of values, not millions). */
	for (int a = 1; a < n; a++)
		for (int b = a; b > 0 && cnnf_value_bytes(&g->val[vals[b]]) > cnnf_value_bytes(&g->val[vals[b - 1]]);
		     b--) {
			int t = vals[b];
			vals[b] = vals[b - 1], vals[b - 1] = t;
		}
	size_t top = 0;
	for (int a = 0; a < n; a++) {
		cnnf_value *v = &g->val[vals[a]];
		int s0 = v->producer, e0 = v->last_use > s0 ? v->last_use : s0;
		size_t size = ((size_t)cnnf_value_bytes(v) + 63) & ~(size_t)63, off = 0;
		/* Lowest offset clear of every placed value that lives at the same time. */
		for (int moved = 1; moved;) {
			moved = 0;
			for (int b = 0; b < a; b++) {
				const cnnf_value *u = &g->val[vals[b]];
				int s1 = u->producer, e1 = u->last_use > s1 ? u->last_use : s1;
				size_t usize = ((size_t)cnnf_value_bytes(u) + 63) & ~(size_t)63;
				if (s1 <= e0 && s0 <= e1 && u->arena_off < off + size &&
				    off < u->arena_off + usize) {
					off = u->arena_off + usize;
					moved = 1;
				}
			}
		}
		v->arena_off = off;
		v->in_arena = 1;
		if (off + size > top)
			top = off + size;
	}
	free(vals);
	g->arena_size = top;
	return 0;
}
