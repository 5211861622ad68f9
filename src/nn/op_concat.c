/* op_concat.c: Concat and Split along one axis, for every element type. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opdata.h"
#include "nn/ops.h"

/* ---- Concat ---- */

typedef struct concat_param {
	int64_t axis;
} concat_param;

static int concat_parse(cnnf_graph *g, cnnf_node *n)
{
	concat_param *p = n->param;
	if (g->opset >= 4 && !cnnf_node_attr(n, "axis"))
		return cnnf_graph_node_error(g, n, "attribute 'axis' is missing");
	return cnnf_node_attr_int(g, n, "axis", 1, &p->axis);
}

static int concat_infer(cnnf_graph *g, cnnf_node *n)
{
	const concat_param *p = n->param;
	const cnnf_value *x0 = NULL;
	int axis = 0;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	char sa[200], sb[200];
	for (int i = 0; i < n->nin; i++) {
		const cnnf_value *x = cnnf_node_in(g, n, i);
		if (!x)
			return cnnf_graph_node_error(g, n, "input %d is missing", i);
		if (!x0) {
			x0 = x;
			if (x->ndim == 0)
				return cnnf_graph_node_error(g, n, "cannot concatenate scalars");
			if (cnnf_opdata_axis(g, n, "attribute 'axis' value", p->axis, x->ndim, &axis))
				return -1;
			memcpy(d, x->dim, sizeof(int64_t) * (size_t)x->ndim);
			continue;
		}
		if (x->type != x0->type)
			return cnnf_graph_node_error(g, n, "inputs 0 and %d have different types", i);
		int same = x->ndim == x0->ndim;
		for (int k = 0; same && k < x->ndim; k++)
			same = k == axis || x->dim[k] == x0->dim[k];
		if (!same)
			return cnnf_graph_node_error(
				g, n, "input %d's shape %s does not fit input 0's %s on axis %d", i,
				cnnf_graph_shape_str(sa, sizeof sa, x->ndim, x->dim),
				cnnf_graph_shape_str(sb, sizeof sb, x0->ndim, x0->dim), axis);
		if (d[axis] > INT64_MAX - x->dim[axis])
			return cnnf_graph_node_error(g, n, "output too large");
		d[axis] += x->dim[axis];
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x0->type, x0->ndim, d);
}

/* Bytes of a piece of a block copied by one work item. */
#define CONCAT_PIECE (256 * 1024)

typedef struct concat_job {
	cnnf_value *const *in;
	int nin;
	char *dst;
	size_t out_row;      /* bytes of one output row (the axis and below) */
	size_t *row;         /* [nin] bytes of a row of input i */
	size_t *at;          /* [nin] where input i's row starts in the output row */
	size_t pieces;       /* per block */
} concat_job;

static int concat_work(void *ctx, size_t begin, size_t end)
{
	const concat_job *j = ctx;
	for (size_t it = begin; it < end; it++) {
		size_t piece = it % j->pieces, block = it / j->pieces;
		size_t i = block % (size_t)j->nin, o = block / (size_t)j->nin;
		size_t lo = j->row[i] * piece / j->pieces, hi = j->row[i] * (piece + 1) / j->pieces;
		if (hi > lo)
			memcpy(j->dst + o * j->out_row + j->at[i] + lo,
			       (const char *)j->in[i]->data + o * j->row[i] + lo, hi - lo);
	}
	return 0;
}

static int concat_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			  cnnf_value *const *out, int threads)
{
	const concat_param *p = n->param;
	const cnnf_value *y = out[0];
	int axis = (int)(p->axis < 0 ? p->axis + y->ndim : p->axis);
	size_t es = cnnf_graph_type_size(y->type), inner = es, outer = 1;
	for (int k = axis + 1; k < y->ndim; k++)
		inner *= (size_t)y->dim[k];
	for (int k = 0; k < axis; k++)
		outer *= (size_t)y->dim[k];
	size_t *buf = malloc(2 * sizeof(size_t) * (size_t)n->nin);
	if (!buf)
		return cnnf_graph_node_error(g, n, "out of memory");
	concat_job j = {.in = in, .nin = n->nin, .dst = y->data, .row = buf, .at = buf + n->nin};
	size_t at = 0, big = 0;
	for (int i = 0; i < n->nin; i++) {
		j.row[i] = (size_t)in[i]->dim[axis] * inner;
		j.at[i] = at;
		at += j.row[i];
		if (j.row[i] > big)
			big = j.row[i];
	}
	j.out_row = at;
	/* Channel concats of one image are a few big blocks: cut them so that threads share. */
	j.pieces = big > CONCAT_PIECE ? (big + CONCAT_PIECE - 1) / CONCAT_PIECE : 1;
	if (outer * at < 262144)
		threads = 1;
	int rc = cnnf_parallel_for(outer * (size_t)n->nin * j.pieces, threads, concat_work, &j);
	free(buf);
	return rc ? cnnf_graph_node_error(g, n, "out of memory") : 0;
}

static double concat_work_count(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

const cnnf_op cnnf_op_concat = {
	.name = "Concat",
	.min_in = 1,
	.max_in = 65536,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(concat_param),
	.parse = concat_parse,
	.infer = concat_infer,
	.forward = concat_forward,
	.work = concat_work_count,
};

/* ---- Split ---- */

typedef struct split_param {
	int64_t axis;
	const int64_t *split; /* opset < 13: the attribute */
	size_t nsplit;
	int64_t num_outputs;  /* opset 18; 0 when absent */
} split_param;

static int split_parse(cnnf_graph *g, cnnf_node *n)
{
	split_param *p = n->param;
	if (cnnf_node_attr_int(g, n, "axis", 0, &p->axis))
		return -1;
	if (g->opset < 13) {
		if (cnnf_node_attr_ints(g, n, "split", &p->split, &p->nsplit))
			return -1;
	} else if (cnnf_node_attr(n, "split")) {
		return cnnf_graph_node_error(g, n,
					     "attribute 'split' is input 1 from opset 13 (the model's "
					     "is %d)",
					     g->opset);
	}
	if (cnnf_node_attr(n, "num_outputs")) {
		if (g->opset < 18)
			return cnnf_graph_node_error(g, n,
						     "attribute 'num_outputs' is from opset 18 (the "
						     "model's is %d)",
						     g->opset);
		if (cnnf_node_attr_int(g, n, "num_outputs", 0, &p->num_outputs))
			return -1;
		if (p->num_outputs != n->nout)
			return cnnf_graph_node_error(g, n,
						     "attribute 'num_outputs' is %" PRId64
						     " but the node has %d outputs",
						     p->num_outputs, n->nout);
	}
	return 0;
}

/* The axis and each output's size along it (malloc'd *sizes, n->nout of them). */
static int split_sizes(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *x, int *axis,
		       int64_t **sizes)
{
	const split_param *p = n->param;
	if (x->ndim == 0)
		return cnnf_graph_node_error(g, n, "cannot split a scalar");
	if (cnnf_opdata_axis(g, n, "attribute 'axis' value", p->axis, x->ndim, axis))
		return -1;
	int64_t dim = x->dim[*axis];
	int64_t *s = NULL;
	size_t ns = 0;
	if (g->opset < 13 && p->split) {
		if (!(s = malloc((p->nsplit ? p->nsplit : 1) * sizeof *s)))
			return cnnf_graph_node_error(g, n, "out of memory");
		memcpy(s, p->split, p->nsplit * sizeof *s);
		ns = p->nsplit;
	} else if (g->opset >= 13 && cnnf_node_in(g, n, 1)) {
		if (cnnf_opdata_const_ints(g, n, 1, "split", &s, &ns))
			return -1;
	}
	if (s) {
		if (ns != (size_t)n->nout) {
			free(s);
			return cnnf_graph_node_error(g, n, "split has %zu sizes for %d outputs", ns,
						     n->nout);
		}
		int64_t sum = 0;
		for (size_t i = 0; i < ns; i++) {
			if (s[i] < 0 || s[i] > dim - sum) {
				free(s);
				return cnnf_graph_node_error(g, n,
							     "split sizes do not add up to %" PRId64,
							     dim);
			}
			sum += s[i];
		}
		if (sum != dim) {
			free(s);
			return cnnf_graph_node_error(g, n, "split sizes do not add up to %" PRId64,
						     dim);
		}
		*sizes = s;
		return 0;
	}
	if (!(s = malloc((size_t)n->nout * sizeof *s)))
		return cnnf_graph_node_error(g, n, "out of memory");
	int64_t parts = n->nout;
	if (p->num_outputs) {
		/* Opset 18: chunks of ceil(dim / parts), the last one smaller. */
		int64_t chunk = (dim + parts - 1) / parts;
		if (chunk * (parts - 1) > dim) {
			free(s);
			return cnnf_graph_node_error(g, n,
						     "axis of %" PRId64 " cannot be split in %" PRId64
						     " parts",
						     dim, parts);
		}
		for (int64_t i = 0; i < parts; i++)
			s[i] = i < parts - 1 ? chunk : dim - chunk * (parts - 1);
	} else {
		if (dim % parts) {
			free(s);
			return cnnf_graph_node_error(g, n,
						     "axis of %" PRId64 " cannot be split in %" PRId64
						     " equal parts",
						     dim, parts);
		}
		for (int64_t i = 0; i < parts; i++)
			s[i] = dim / parts;
	}
	*sizes = s;
	return 0;
}

static int split_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int axis;
	int64_t *s;
	if (split_sizes(g, n, x, &axis, &s))
		return -1;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	memcpy(d, x->dim, sizeof(int64_t) * (size_t)x->ndim);
	for (int i = 0; i < n->nout; i++) {
		d[axis] = s[i];
		if (cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, i), x->type, x->ndim, d)) {
			free(s);
			return -1;
		}
	}
	free(s);
	return 0;
}

static int split_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	const cnnf_value *x = in[0];
	int axis;
	int64_t *s, st[CNNF_GRAPH_MAX_DIMS];
	if (split_sizes(g, n, x, &axis, &s))
		return -1;
	cnnf_opdata_strides(x->ndim, x->dim, st);
	int64_t at = 0;
	int rc = 0;
	for (int i = 0; i < n->nout && rc == 0; i++) {
		if (out[i])
			rc = cnnf_opdata_view_copy(out[i]->data, x->data,
						   cnnf_graph_type_size(x->type), x->ndim,
						   out[i]->dim, st, at * st[axis], threads);
		at += s[i];
	}
	free(s);
	return rc ? cnnf_graph_node_error(g, n, "out of memory") : 0;
}

static double split_work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_in(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

const cnnf_op cnnf_op_split = {
	.name = "Split",
	.min_in = 1,
	.max_in = 2,
	.min_out = 1,
	.max_out = 65536,
	.param_size = sizeof(split_param),
	.parse = split_parse,
	.infer = split_infer,
	.forward = split_forward,
	.work = split_work,
};
