/* opdata.c: helpers shared by the data-moving operators: constant inputs, axes, strided copies (broadcasting is opmath.c's). */
#include "nn/opdata.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"

int cnnf_opdata_const_ints(const cnnf_graph *g, const cnnf_node *n, int i, const char *what,
			   int64_t **out, size_t *count)
{
	const cnnf_value *v = cnnf_node_in(g, n, i);
	if (!v)
		return cnnf_graph_node_error(g, n, "input %d (%s) is missing", i, what);
	if (!v->is_const || !v->data)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a constant", i, what);
	if (v->ndim > 1)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a 1-D tensor, not %d-D", i,
					     what, v->ndim);
	return cnnf_value_ints(g, n, v, out, count);
}

int cnnf_opdata_axis(const cnnf_graph *g, const cnnf_node *n, const char *name, int64_t axis,
		     int rank, int *out)
{
	if (axis < -(int64_t)rank || axis >= rank)
		return cnnf_graph_node_error(g, n, "%s %" PRId64 " out of range for rank %d", name,
					     axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return 0;
}

void cnnf_opdata_strides(int ndim, const int64_t *dim, int64_t *stride)
{
	int64_t s = 1;
	for (int k = ndim - 1; k >= 0; k--) {
		stride[k] = s;
		s *= dim[k];
	}
}


/* ---- strided copies ---- */

/* Elements per piece of a long row, so that one row can be shared by threads. */
#define PIECE 16384

typedef struct view_job {
	char *dst;
	const char *src;
	size_t esize;
	int nd;        /* dims of the rows (all but the last) */
	int64_t od[CNNF_GRAPH_MAX_DIMS];
	int64_t st[CNNF_GRAPH_MAX_DIMS];
	int64_t base;
	int64_t len;   /* elements per row */
	int64_t step;  /* source stride along the row */
	int64_t pieces;
} view_job;

static void copy_run(char *dst, const char *src, size_t esize, int64_t count, int64_t step)
{
	if (step == 1) {
		memcpy(dst, src, (size_t)count * esize);
	} else if (esize == 4) {
		uint32_t *d = (uint32_t *)dst;
		const uint32_t *s = (const uint32_t *)src;
		for (int64_t i = 0; i < count; i++)
			d[i] = s[i * step];
	} else {
		uint64_t *d = (uint64_t *)dst;
		const uint64_t *s = (const uint64_t *)src;
		for (int64_t i = 0; i < count; i++)
			d[i] = s[i * step];
	}
}

static int view_work(void *ctx, size_t begin, size_t end)
{
	const view_job *j = ctx;
	int64_t idx[CNNF_GRAPH_MAX_DIMS];
	int64_t row = (int64_t)begin / j->pieces;
	int64_t piece = (int64_t)begin % j->pieces;
	int64_t r = row, off = j->base;
	for (int k = j->nd - 1; k >= 0; k--) {
		idx[k] = r % j->od[k];
		r /= j->od[k];
		off += idx[k] * j->st[k];
	}
	for (size_t it = begin; it < end; it++) {
		int64_t lo = j->len * piece / j->pieces, hi = j->len * (piece + 1) / j->pieces;
		copy_run(j->dst + (size_t)(row * j->len + lo) * j->esize,
			 j->src + (ptrdiff_t)(off + lo * j->step) * (ptrdiff_t)j->esize, j->esize,
			 hi - lo, j->step);
		if (++piece == j->pieces) {
			piece = 0;
			row++;
			for (int k = j->nd - 1; k >= 0; k--) {
				off += j->st[k];
				if (++idx[k] < j->od[k])
					break;
				off -= idx[k] * j->st[k];
				idx[k] = 0;
			}
		}
	}
	return 0;
}

int cnnf_opdata_view_copy(void *dst, const void *src, size_t esize, int nd, const int64_t *od,
			  const int64_t *st, int64_t base, int threads)
{
	view_job j = {.dst = dst, .src = src, .esize = esize, .base = base};
	/* Drop dimensions of 1 and merge those that are contiguous in the source. */
	int m = 0;
	for (int k = 0; k < nd; k++) {
		if (od[k] == 0)
			return 0;
		if (od[k] == 1)
			continue;
		if (m > 0 && j.st[m - 1] == st[k] * od[k]) {
			j.od[m - 1] *= od[k];
			j.st[m - 1] = st[k];
			continue;
		}
		j.od[m] = od[k];
		j.st[m] = st[k];
		m++;
	}
	if (m == 0) {
		memcpy(dst, (const char *)src + (ptrdiff_t)base * (ptrdiff_t)esize, esize);
		return 0;
	}
	j.nd = m - 1;
	j.len = j.od[m - 1];
	j.step = j.st[m - 1];
	int64_t rows = 1;
	for (int k = 0; k < j.nd; k++)
		rows *= j.od[k];
	j.pieces = j.len > PIECE ? (j.len + PIECE - 1) / PIECE : 1;
	/* Small copies are not worth a thread. */
	if (rows * j.len < 65536)
		threads = 1;
	return cnnf_parallel_for((size_t)(rows * j.pieces), threads, view_work, &j);
}

int cnnf_opdata_copy(void *dst, const void *src, size_t bytes, int threads)
{
	if (bytes == 0 || dst == src)
		return 0;
	if (bytes % 8 == 0) {
		int64_t d = (int64_t)(bytes / 8), s = 1;
		return cnnf_opdata_view_copy(dst, src, 8, 1, &d, &s, 0, threads);
	}
	int64_t d = (int64_t)(bytes / 4), s = 1;
	return cnnf_opdata_view_copy(dst, src, 4, 1, &d, &s, 0, threads);
}
