/* op_slice.c: Slice (attributes before opset 10, inputs with steps from 10) and Gather, for every element type. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opdata.h"
#include "nn/ops.h"

/* ---- Slice ---- */

typedef struct slice_param {
	const int64_t *starts, *ends, *axes; /* opset < 10: the attributes */
	size_t nstarts, nends, naxes;
} slice_param;

static int slice_parse(cnnf_graph *g, cnnf_node *n)
{
	slice_param *p = n->param;
	if (g->opset >= 10) {
		static const char *const old[] = {"starts", "ends", "axes"};
		for (int i = 0; i < 3; i++)
			if (cnnf_node_attr(n, old[i]))
				return cnnf_graph_node_error(g, n,
							     "attribute '%s' is an input from opset "
							     "10 (the model's is %d)",
							     old[i], g->opset);
		return 0;
	}
	if (!cnnf_node_attr(n, "starts") || !cnnf_node_attr(n, "ends"))
		return cnnf_graph_node_error(g, n, "attributes 'starts' and 'ends' are needed");
	return cnnf_node_attr_ints(g, n, "starts", &p->starts, &p->nstarts) ||
	       cnnf_node_attr_ints(g, n, "ends", &p->ends, &p->nends) ||
	       cnnf_node_attr_ints(g, n, "axes", &p->axes, &p->naxes);
}

/* A copy of an attribute's integers (*out NULL for none). */
static int dup_ints(const cnnf_graph *g, const cnnf_node *n, const int64_t *v, size_t count,
		    int64_t **out)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!(*out = malloc((count ? count : 1) * sizeof **out)))
		return cnnf_graph_node_error(g, n, "out of memory");
	memcpy(*out, v, count * sizeof **out);
	return 0;
}

/*
 * Where each axis of x starts, its step and how many elements it keeps,
 * by the spec's rules: negative starts and ends count from the end, then
 * are clamped to [0, dim] for positive steps and [0, dim - 1] (starts) and
 * [-1, dim - 1] (ends) for negative ones.
 */
static int slice_plan(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *x,
		      int64_t *start, int64_t *step, int64_t *count)
{
	const slice_param *p = n->param;
	int64_t *st = NULL, *en = NULL, *ax = NULL, *sp = NULL;
	size_t nst = 0, nen = 0, nax = 0, nsp = 0;
	int rc = -1;
	if (g->opset < 10) {
		nst = p->nstarts;
		nen = p->nends;
		nax = p->naxes;
		if (dup_ints(g, n, p->starts, nst, &st) || dup_ints(g, n, p->ends, nen, &en) ||
		    dup_ints(g, n, p->axes, nax, &ax))
			goto out;
	} else {
		if (cnnf_opdata_const_ints(g, n, 1, "starts", &st, &nst) ||
		    cnnf_opdata_const_ints(g, n, 2, "ends", &en, &nen))
			goto out;
		if (cnnf_node_in(g, n, 3) && cnnf_opdata_const_ints(g, n, 3, "axes", &ax, &nax))
			goto out;
		if (cnnf_node_in(g, n, 4) && cnnf_opdata_const_ints(g, n, 4, "steps", &sp, &nsp))
			goto out;
	}
	if (nen != nst || (ax && nax != nst) || (sp && nsp != nst)) {
		cnnf_graph_node_error(g, n, "starts, ends, axes and steps differ in length");
		goto out;
	}
	int seen[CNNF_GRAPH_MAX_DIMS] = {0};
	for (int k = 0; k < x->ndim; k++) {
		start[k] = 0;
		step[k] = 1;
		count[k] = x->dim[k];
	}
	for (size_t i = 0; i < nst; i++) {
		int a;
		if (ax) {
			if (cnnf_opdata_axis(g, n, "axis", ax[i], x->ndim, &a))
				goto out;
		} else if (i < (size_t)x->ndim) {
			a = (int)i;
		} else {
			cnnf_graph_node_error(g, n, "%zu starts for rank %d", nst, x->ndim);
			goto out;
		}
		if (seen[a]) {
			cnnf_graph_node_error(g, n, "axis %d is sliced twice", a);
			goto out;
		}
		seen[a] = 1;
		int64_t dim = x->dim[a], s = st[i], e = en[i], t = sp ? sp[i] : 1;
		if (t == 0 || t == INT64_MIN) {
			cnnf_graph_node_error(g, n, "step %" PRId64 " not supported", t);
			goto out;
		}
		if (s < 0)
			s += dim;
		if (e < 0)
			e += dim;
		uint64_t c = 0;
		if (t > 0) {
			s = s < 0 ? 0 : s > dim ? dim : s;
			e = e < 0 ? 0 : e > dim ? dim : e;
			if (e > s)
				c = ((uint64_t)(e - s) + (uint64_t)t - 1) / (uint64_t)t;
		} else {
			s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
			e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
			uint64_t mt = (uint64_t)0 - (uint64_t)t;
			if (s > e)
				c = ((uint64_t)(s - e) + mt - 1) / mt;
		}
		start[a] = s;
		step[a] = t;
		count[a] = (int64_t)c;
	}
	rc = 0;
out:
	free(st);
	free(en);
	free(ax);
	free(sp);
	return rc;
}

static int slice_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t start[CNNF_GRAPH_MAX_DIMS], step[CNNF_GRAPH_MAX_DIMS], count[CNNF_GRAPH_MAX_DIMS];
	if (slice_plan(g, n, x, start, step, count))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, count);
}

static int slice_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	const cnnf_value *x = in[0];
	int64_t start[CNNF_GRAPH_MAX_DIMS], step[CNNF_GRAPH_MAX_DIMS], count[CNNF_GRAPH_MAX_DIMS];
	int64_t s[CNNF_GRAPH_MAX_DIMS], st[CNNF_GRAPH_MAX_DIMS], base = 0;
	if (slice_plan(g, n, x, start, step, count))
		return -1;
	cnnf_opdata_strides(x->ndim, x->dim, s);
	for (int k = 0; k < x->ndim; k++) {
		if (count[k] == 0)
			return 0;
		base += start[k] * s[k];
		st[k] = step[k] * s[k];
	}
	if (cnnf_opdata_view_copy(out[0]->data, x->data, cnnf_graph_type_size(x->type), x->ndim,
				  out[0]->dim, st, base, threads))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static double out_count(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

const cnnf_op cnnf_op_slice = {
	.name = "Slice",
	.min_in = 1,
	.max_in = 5,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(slice_param),
	.parse = slice_parse,
	.infer = slice_infer,
	.forward = slice_forward,
	.work = out_count,
};

/* ---- Gather ---- */

typedef struct gather_param {
	int64_t axis;
} gather_param;

static int gather_parse(cnnf_graph *g, cnnf_node *n)
{
	gather_param *p = n->param;
	return cnnf_node_attr_int(g, n, "axis", 0, &p->axis);
}

static int gather_infer(cnnf_graph *g, cnnf_node *n)
{
	const gather_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0), *ix = cnnf_node_in(g, n, 1);
	int axis;
	if (x->ndim == 0)
		return cnnf_graph_node_error(g, n, "cannot gather from a scalar");
	if (cnnf_opdata_axis(g, n, "attribute 'axis' value", p->axis, x->ndim, &axis))
		return -1;
	if (ix->type != CNNF_DT_I64)
		return cnnf_graph_node_error(g, n, "input 1 (indices) must be integers");
	int rank = x->ndim - 1 + ix->ndim;
	if (rank > CNNF_GRAPH_MAX_DIMS)
		return cnnf_graph_node_error(g, n, "the output would have more than %d dimensions",
					     CNNF_GRAPH_MAX_DIMS);
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	int m = 0;
	for (int k = 0; k < axis; k++)
		d[m++] = x->dim[k];
	for (int k = 0; k < ix->ndim; k++)
		d[m++] = ix->dim[k];
	for (int k = axis + 1; k < x->ndim; k++)
		d[m++] = x->dim[k];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, rank, d);
}

typedef struct gather_job {
	const char *src;
	char *dst;
	const int64_t *idx;
	size_t nidx, block, dim; /* block: bytes below the axis */
} gather_job;

static int gather_work(void *ctx, size_t begin, size_t end)
{
	const gather_job *j = ctx;
	for (size_t it = begin; it < end; it++) {
		size_t o = it / j->nidx, i = it % j->nidx;
		int64_t k = j->idx[i];
		if (k < 0)
			k += (int64_t)j->dim;
		memcpy(j->dst + it * j->block, j->src + (o * j->dim + (size_t)k) * j->block, j->block);
	}
	return 0;
}

static int gather_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			  cnnf_value *const *out, int threads)
{
	const gather_param *p = n->param;
	const cnnf_value *x = in[0], *ix = in[1];
	int axis = (int)(p->axis < 0 ? p->axis + x->ndim : p->axis);
	gather_job j = {.src = x->data,
			.dst = out[0]->data,
			.idx = ix->data,
			.nidx = (size_t)cnnf_value_count(ix),
			.block = cnnf_graph_type_size(x->type),
			.dim = (size_t)x->dim[axis]};
	size_t outer = 1;
	for (int k = 0; k < axis; k++)
		outer *= (size_t)x->dim[k];
	for (int k = axis + 1; k < x->ndim; k++)
		j.block *= (size_t)x->dim[k];
	/* Checked here, once, as a worker cannot say why it failed. */
	int64_t dim = x->dim[axis];
	for (size_t i = 0; i < j.nidx; i++)
		if (j.idx[i] < -dim || j.idx[i] >= dim)
			return cnnf_graph_node_error(g, n,
						     "index %" PRId64 " out of range for an axis of %" PRId64,
						     j.idx[i], dim);
	if (outer * j.nidx == 0 || j.block == 0)
		return 0;
	if (outer * j.nidx * j.block < 262144)
		threads = 1;
	if (cnnf_parallel_for(outer * j.nidx, threads, gather_work, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

const cnnf_op cnnf_op_gather = {
	.name = "Gather",
	.min_in = 2,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(gather_param),
	.parse = gather_parse,
	.infer = gather_infer,
	.forward = gather_forward,
	.work = out_count,
};
