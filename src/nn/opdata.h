/* opdata.h: helpers shared by the data-moving operators (nn/op_concat.c, op_slice.c, op_reshape.c...). */
#ifndef CNNF_OPDATA_H
#define CNNF_OPDATA_H

#include <stddef.h>
#include <stdint.h>

#include "nn/graph.h"

/*
 * Input i of n read as integers at infer time: it must be present and
 * constant ("input 1 (shape) must be a constant"; `what` names it). On
 * success *out is malloc'd (*count elements; NULL and 0 for none).
 */
int cnnf_opdata_const_ints(const cnnf_graph *g, const cnnf_node *n, int i, const char *what,
			   int64_t **out, size_t *count);

/*
 * Axis `axis` of a tensor of rank `rank` made non-negative: ONNX's
 * [-rank, rank) range (rank + 1 for the ops that insert a dimension is the
 * caller's rank). -1 with "attribute 'NAME' value V out of range for rank R".
 */
int cnnf_opdata_axis(const cnnf_graph *g, const cnnf_node *n, const char *name, int64_t axis,
		     int rank, int *out);

/* Row-major strides (in elements) of a shape. */
void cnnf_opdata_strides(int ndim, const int64_t *dim, int64_t *stride);

/*
 * Copy a strided view of src into dst (dense, row-major, od[0..nd-1]):
 * dst[i0, .., ik] = src[base + sum ik * st[k]]. Strides may be zero
 * (broadcast) or negative (reversed slices); elements are esize (4 or 8)
 * bytes and moved as bits, so any element type works. nd may be 0 (one
 * element). Runs on `threads` threads; -1 only for out of memory.
 */
int cnnf_opdata_view_copy(void *dst, const void *src, size_t esize, int nd, const int64_t *od,
			  const int64_t *st, int64_t base, int threads);

/* memcpy in parallel pieces; -1 only for out of memory. */
int cnnf_opdata_copy(void *dst, const void *src, size_t bytes, int threads);

#endif
