/* opmath.h: broadcasting and axes helpers shared by the arithmetic operators (op_*.c). */
#ifndef CNNF_OPMATH_H
#define CNNF_OPMATH_H

#include <stddef.h>
#include <stdint.h>

#include "nn/graph.h"

/*
 * Numpy (multidirectional) broadcasting of shapes a (na dims) and b into
 * out (max(na, nb) dims). -1 with "shapes 2x3 and 4 do not broadcast" as
 * n's error.
 */
int cnnf_opmath_broadcast(const cnnf_graph *g, const cnnf_node *n, int na, const int64_t *a, int nb,
                          const int64_t *b, int *nout, int64_t *out);

/*
 * The strides (in elements) with which a dense value of shape (nd, d) is
 * read when broadcast to (no, od): aligned on the right, 0 where it is
 * broadcast (nd <= no).
 */
void cnnf_opmath_bstrides(int nd, const int64_t *d, int no, const int64_t *od, int64_t *st);

/*
 * Merge adjacent dimensions of an output shape (nd, od) that every one of
 * the k stride sets st[j] walks contiguously, in place; returns the new
 * rank (at least 1: a scalar becomes one dimension of 1).
 */
int cnnf_opmath_collapse(int nd, int64_t *od, int k, int64_t (*st)[CNNF_GRAPH_MAX_DIMS]);

/*
 * Axis `axis` of a rank-`rank` tensor made non-negative; -1 with
 * "attribute 'NAME' value V out of range for rank R" (what names it).
 */
int cnnf_opmath_axis(const cnnf_graph *g, const cnnf_node *n, const char *what, int64_t axis,
                     int rank, int *out);

/* The output's element count, as the work callback of elementwise operators. */
double cnnf_opmath_work_out(const cnnf_graph *g, const cnnf_node *n);

#endif
