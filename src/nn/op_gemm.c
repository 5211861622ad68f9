/* op_gemm.c: matrix products: Gemm (alpha, beta, transposes, C) and MatMul (batched). */
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opmath.h"
#include "nn/ops.h"

typedef struct gemm_param {
	float alpha, beta;
	int64_t ta, tb;
} gemm_param;

static int gemm_parse(cnnf_graph *g, cnnf_node *n)
{
	gemm_param *p = n->param;
	if (cnnf_node_attr(n, "broadcast"))
		return cnnf_graph_node_error(
		    g, n, "attribute 'broadcast' (before opset 7) not supported");
	return cnnf_node_attr_float(g, n, "alpha", 1.0f, &p->alpha) ||
	       cnnf_node_attr_float(g, n, "beta", 1.0f, &p->beta) ||
	       cnnf_node_attr_int(g, n, "transA", 0, &p->ta) ||
	       cnnf_node_attr_int(g, n, "transB", 0, &p->tb);
}

static int check_float(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *v)
{
	if (v && v->type != CNNF_DT_F32)
		return cnnf_graph_node_error(
		    g, n, "input '%s' is int64; the operator takes float only", v->name);
	return 0;
}

static int gemm_infer(cnnf_graph *g, cnnf_node *n)
{
	const gemm_param *p = n->param;
	const cnnf_value *a = cnnf_node_in(g, n, 0), *b = cnnf_node_in(g, n, 1),
	                 *c = cnnf_node_in(g, n, 2);
	char sa[160], sb[160];
	if (check_float(g, n, a) || check_float(g, n, b) || check_float(g, n, c))
		return -1;
	if (a->ndim != 2 || b->ndim != 2)
		return cnnf_graph_node_error(g, n, "inputs must be matrices, not %s and %s",
		                             cnnf_graph_shape_str(sa, sizeof sa, a->ndim, a->dim),
		                             cnnf_graph_shape_str(sb, sizeof sb, b->ndim, b->dim));
	int64_t m = p->ta ? a->dim[1] : a->dim[0], k = p->ta ? a->dim[0] : a->dim[1];
	int64_t kb = p->tb ? b->dim[1] : b->dim[0], nn = p->tb ? b->dim[0] : b->dim[1];
	if (k != kb)
		return cnnf_graph_node_error(g, n, "A %s%s and B %s%s do not multiply",
		                             cnnf_graph_shape_str(sa, sizeof sa, a->ndim, a->dim),
		                             p->ta ? " (transposed)" : "",
		                             cnnf_graph_shape_str(sb, sizeof sb, b->ndim, b->dim),
		                             p->tb ? " (transposed)" : "");
	int64_t d[2] = {m, nn};
	if (c) {
		int no;
		int64_t od[CNNF_GRAPH_MAX_DIMS];
		if (c->ndim > 2 || cnnf_opmath_broadcast(g, n, 2, d, c->ndim, c->dim, &no, od) ||
		    od[0] != m || od[1] != nn) {
			char sc[160];
			return cnnf_graph_node_error(
			    g, n, "C %s does not broadcast to the product %s",
			    cnnf_graph_shape_str(sc, sizeof sc, c->ndim, c->dim),
			    cnnf_graph_shape_str(sa, sizeof sa, 2, d));
		}
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, 2, d);
}

/*
 * One batch of products: row i of Y (n columns) = sum over k of
 * A[i, k] B[k, :], A and B addressed by strides (so that transposes and
 * broadcast batches are views), accumulated in double.
 */
typedef struct mm_job {
	const float *a, *b;
	float *y;
	int64_t m, k, n;
	int64_t ars, acs, brs, bcs; /* row and column strides of A (m x k) and B (k x n) */
	/* batches: item = batch * m + row; the batch's offsets into A and B */
	int nb;
	int64_t bd[CNNF_GRAPH_MAX_DIMS], bsa[CNNF_GRAPH_MAX_DIMS], bsb[CNNF_GRAPH_MAX_DIMS];
	/* Gemm's scaling and C (NULL for none), C addressed by strides */
	float alpha, beta;
	const float *c;
	int64_t crs, ccs;
} mm_job;

static int mm_worker(void *ctx, size_t begin, size_t end)
{
	const mm_job *j = ctx;
	double *acc = malloc((size_t)(j->n ? j->n : 1) * sizeof *acc);
	if (!acc)
		return -1;
	for (size_t it = begin; it < end; it++) {
		int64_t batch = (int64_t)it / j->m, i = (int64_t)it % j->m;
		int64_t oa = 0, ob = 0, r = batch;
		for (int q = j->nb - 1; q >= 0; q--) {
			int64_t x = r % j->bd[q];
			r /= j->bd[q];
			oa += x * j->bsa[q];
			ob += x * j->bsb[q];
		}
		const float *a = j->a + oa + i * j->ars, *b = j->b + ob;
		float *y = j->y + (int64_t)it * j->n;
		if (j->bcs == 1) {
			/* B's rows contiguous: axpy row by row */
			for (int64_t c = 0; c < j->n; c++)
				acc[c] = 0;
			for (int64_t q = 0; q < j->k; q++) {
				double av = a[q * j->acs];
				const float *br = b + q * j->brs;
				for (int64_t c = 0; c < j->n; c++)
					acc[c] += av * br[c];
			}
		} else {
			/* B's columns contiguous (transposed): dot products */
			for (int64_t c = 0; c < j->n; c++) {
				double s = 0;
				const float *bc = b + c * j->bcs;
				for (int64_t q = 0; q < j->k; q++)
					s += (double)a[q * j->acs] * bc[q * j->brs];
				acc[c] = s;
			}
		}
		for (int64_t c = 0; c < j->n; c++) {
			double v = j->alpha * acc[c];
			if (j->c)
				v += (double)j->beta * j->c[i * j->crs + c * j->ccs];
			y[c] = (float)v;
		}
	}
	free(acc);
	return 0;
}

static int run_mm(cnnf_graph *g, cnnf_node *n, mm_job *j, int64_t batches, int threads)
{
	if (batches * j->m * j->n == 0)
		return 0;
	if (cnnf_parallel_for((size_t)(batches * j->m), threads, mm_worker, j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static int gemm_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
                        int threads)
{
	const gemm_param *p = n->param;
	const cnnf_value *a = in[0], *b = in[1], *c = n->nin > 2 ? in[2] : NULL;
	mm_job j = {
	    .a = a->data, .b = b->data, .y = out[0]->data, .alpha = p->alpha, .beta = p->beta};
	j.m = out[0]->dim[0];
	j.n = out[0]->dim[1];
	j.k = p->ta ? a->dim[0] : a->dim[1];
	j.ars = p->ta ? 1 : a->dim[1];
	j.acs = p->ta ? a->dim[1] : 1;
	j.brs = p->tb ? 1 : b->dim[1];
	j.bcs = p->tb ? b->dim[1] : 1;
	if (c) {
		int64_t st[2];
		cnnf_opmath_bstrides(c->ndim, c->dim, 2, out[0]->dim, st);
		j.c = c->data;
		j.crs = st[0];
		j.ccs = st[1];
	}
	return run_mm(g, n, &j, 1, threads);
}

static double gemm_work(const cnnf_graph *g, const cnnf_node *n)
{
	const gemm_param *p = n->param;
	const cnnf_value *a = cnnf_node_in(g, n, 0), *y = cnnf_node_out(g, n, 0);
	if (!a || !y || a->ndim != 2)
		return 0;
	return (double)cnnf_value_count(y) * (double)(p->ta ? a->dim[0] : a->dim[1]);
}

const cnnf_op cnnf_op_gemm = {
    .name = "Gemm",
    .min_in = 2,
    .max_in = 3,
    .min_out = 1,
    .max_out = 1,
    .param_size = sizeof(gemm_param),
    .parse = gemm_parse,
    .infer = gemm_infer,
    .forward = gemm_forward,
    .work = gemm_work,
};

/* ---- MatMul ---- */

/*
 * The operands seen as batches of matrices: a 1-D A is a row (1 x K), a
 * 1-D B a column (K x 1), and those dims are dropped from the result.
 * Batch dims (all but the last two) broadcast like numpy's.
 */
typedef struct mm_shape {
	int an, bn; /* ranks after the 1-D promotion */
	int64_t ad[CNNF_GRAPH_MAX_DIMS + 1], bd[CNNF_GRAPH_MAX_DIMS + 1];
	int nb; /* batch rank */
	int64_t batch[CNNF_GRAPH_MAX_DIMS];
	int64_t m, k, n;
	int ndim; /* the result's */
	int64_t dim[CNNF_GRAPH_MAX_DIMS];
} mm_shape;

static int matmul_shape(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *a,
                        const cnnf_value *b, mm_shape *s)
{
	char sa[160], sb[160];
	if (a->ndim == 0 || b->ndim == 0)
		return cnnf_graph_node_error(g, n, "inputs may not be scalars (%s and %s)",
		                             cnnf_graph_shape_str(sa, sizeof sa, a->ndim, a->dim),
		                             cnnf_graph_shape_str(sb, sizeof sb, b->ndim, b->dim));
	s->an = a->ndim == 1 ? 2 : a->ndim;
	s->bn = b->ndim == 1 ? 2 : b->ndim;
	if (a->ndim == 1) {
		s->ad[0] = 1;
		s->ad[1] = a->dim[0];
	} else {
		memcpy(s->ad, a->dim, (size_t)a->ndim * sizeof *a->dim);
	}
	if (b->ndim == 1) {
		s->bd[0] = b->dim[0];
		s->bd[1] = 1;
	} else {
		memcpy(s->bd, b->dim, (size_t)b->ndim * sizeof *b->dim);
	}
	s->m = s->ad[s->an - 2];
	s->k = s->ad[s->an - 1];
	s->n = s->bd[s->bn - 1];
	if (s->bd[s->bn - 2] != s->k)
		return cnnf_graph_node_error(g, n, "shapes %s and %s do not multiply",
		                             cnnf_graph_shape_str(sa, sizeof sa, a->ndim, a->dim),
		                             cnnf_graph_shape_str(sb, sizeof sb, b->ndim, b->dim));
	int nb;
	if (s->an - 2 > CNNF_GRAPH_MAX_DIMS - 2 || s->bn - 2 > CNNF_GRAPH_MAX_DIMS - 2)
		return cnnf_graph_node_error(g, n, "too many batch dimensions");
	if (cnnf_opmath_broadcast(g, n, s->an - 2, s->ad, s->bn - 2, s->bd, &nb, s->batch))
		return -1;
	s->nb = nb;
	s->ndim = 0;
	for (int i = 0; i < nb; i++)
		s->dim[s->ndim++] = s->batch[i];
	if (a->ndim > 1)
		s->dim[s->ndim++] = s->m;
	if (b->ndim > 1)
		s->dim[s->ndim++] = s->n;
	return 0;
}

static int matmul_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *a = cnnf_node_in(g, n, 0), *b = cnnf_node_in(g, n, 1);
	mm_shape s;
	if (check_float(g, n, a) || check_float(g, n, b) || matmul_shape(g, n, a, b, &s))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, s.ndim, s.dim);
}

static int matmul_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
                          cnnf_value *const *out, int threads)
{
	const cnnf_value *a = in[0], *b = in[1];
	mm_shape s;
	if (matmul_shape(g, n, a, b, &s))
		return -1;
	mm_job j = {.a = a->data,
	            .b = b->data,
	            .y = out[0]->data,
	            .m = s.m,
	            .k = s.k,
	            .n = s.n,
	            .alpha = 1.0f,
	            .ars = s.k,
	            .acs = 1,
	            .brs = s.n,
	            .bcs = 1,
	            .nb = s.nb};
	int64_t batches = 1;
	for (int i = 0; i < s.nb; i++) {
		j.bd[i] = s.batch[i];
		batches *= s.batch[i];
	}
	/* batch strides: the matrices' sizes, 0 where broadcast */
	int64_t sta[CNNF_GRAPH_MAX_DIMS], stb[CNNF_GRAPH_MAX_DIMS];
	cnnf_opmath_bstrides(s.an - 2, s.ad, s.nb, s.batch, sta);
	cnnf_opmath_bstrides(s.bn - 2, s.bd, s.nb, s.batch, stb);
	for (int i = 0; i < s.nb; i++) {
		j.bsa[i] = sta[i] * s.m * s.k;
		j.bsb[i] = stb[i] * s.k * s.n;
	}
	return run_mm(g, n, &j, batches, threads);
}

static double matmul_work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *a = cnnf_node_in(g, n, 0), *y = cnnf_node_out(g, n, 0);
	if (!a || !y || a->ndim < 1)
		return 0;
	return (double)cnnf_value_count(y) * (double)a->dim[a->ndim - 1];
}

const cnnf_op cnnf_op_matmul = {
    .name = "MatMul",
    .min_in = 2,
    .max_in = 2,
    .min_out = 1,
    .max_out = 1,
    .infer = matmul_infer,
    .forward = matmul_forward,
    .work = matmul_work,
};
