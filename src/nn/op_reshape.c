/* op_reshape.c: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, DepthToSpace, SpaceToDepth, Expand. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "nn/opdata.h"
#include "nn/opmath.h"
#include "nn/ops.h"

/* The forward of the ops that only give the same elements another shape. */
static int copy_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
			int threads)
{
	(void)g;
	(void)n;
	return cnnf_opdata_copy(out[0]->data, in[0]->data,
				cnnf_value_count(in[0]) * cnnf_graph_type_size(in[0]->type), threads);
}

static double copy_work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

/* ---- Reshape ---- */

typedef struct reshape_param {
	int64_t allowzero;
	const int64_t *shape; /* opset < 5: the attribute */
	size_t nshape;
	int shape_attr;
} reshape_param;

static int reshape_parse(cnnf_graph *g, cnnf_node *n)
{
	reshape_param *p = n->param;
	if (cnnf_node_attr_int(g, n, "allowzero", 0, &p->allowzero))
		return -1;
	if (g->opset < 5) {
		if (cnnf_node_attr_ints(g, n, "shape", &p->shape, &p->nshape))
			return -1;
		p->shape_attr = 1;
	}
	return 0;
}

static int reshape_infer(cnnf_graph *g, cnnf_node *n)
{
	reshape_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t *shape = NULL;
	size_t ns;
	if (p->shape_attr) {
		if (cnnf_node_in(g, n, 1))
			return cnnf_graph_node_error(g, n, "opset %d takes the shape as an attribute",
						     g->opset);
		ns = p->nshape;
		if (ns && !(shape = malloc(ns * sizeof *shape)))
			return cnnf_graph_node_error(g, n, "out of memory");
		if (ns)
			memcpy(shape, p->shape, ns * sizeof *shape);
	} else if (cnnf_opdata_const_ints(g, n, 1, "shape", &shape, &ns)) {
		return -1;
	}
	int rc = -1;
	int64_t dim[CNNF_GRAPH_MAX_DIMS];
	if (ns > CNNF_GRAPH_MAX_DIMS) {
		cnnf_graph_node_error(g, n, "shape has %zu dimensions, more than %d", ns,
				      CNNF_GRAPH_MAX_DIMS);
		goto out;
	}
	int minus = -1;
	uint64_t known = 1;
	int zero_dim = 0;
	for (size_t k = 0; k < ns; k++) {
		int64_t d = shape[k];
		if (d == 0 && !p->allowzero) {
			if ((int)k >= x->ndim) {
				cnnf_graph_node_error(g, n,
						      "shape[%zu] is 0 but the input has only %d "
						      "dimensions",
						      k, x->ndim);
				goto out;
			}
			d = x->dim[k];
		} else if (d == -1) {
			if (minus >= 0) {
				cnnf_graph_node_error(g, n, "shape has more than one -1");
				goto out;
			}
			minus = (int)k;
			dim[k] = 1;
			continue;
		} else if (d < 0) {
			cnnf_graph_node_error(g, n, "shape[%zu] is %" PRId64, k, d);
			goto out;
		}
		dim[k] = d;
		if (d == 0)
			zero_dim = 1;
		else if (known > UINT64_MAX / (uint64_t)d) {
			cnnf_graph_node_error(g, n, "shape has too many elements");
			goto out;
		} else
			known *= (uint64_t)d;
	}
	uint64_t count = cnnf_value_count(x);
	char sa[200], sb[200];
	if (minus >= 0) {
		if (zero_dim) {
			cnnf_graph_node_error(g, n, "shape has -1 and a dimension of 0");
			goto out;
		}
		if (count % known) {
			cnnf_graph_node_error(g, n, "cannot reshape %s into %s",
					      cnnf_graph_shape_str(sa, sizeof sa, x->ndim, x->dim),
					      cnnf_graph_shape_str(sb, sizeof sb, (int)ns, shape));
			goto out;
		}
		dim[minus] = (int64_t)(count / known);
		known = count;
	}
	if (zero_dim)
		known = 0;
	if (known != count) {
		cnnf_graph_node_error(g, n, "cannot reshape %s into %s",
				      cnnf_graph_shape_str(sa, sizeof sa, x->ndim, x->dim),
				      cnnf_graph_shape_str(sb, sizeof sb, (int)ns, shape));
		goto out;
	}
	rc = cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, (int)ns, dim);
out:
	free(shape);
	return rc;
}

const cnnf_op cnnf_op_reshape = {
	.name = "Reshape",
	.min_in = 1,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(reshape_param),
	.parse = reshape_parse,
	.infer = reshape_infer,
	.forward = copy_forward,
	.work = copy_work,
};

/* ---- Flatten ---- */

typedef struct axis_param {
	int64_t axis;
} axis_param;

static int flatten_parse(cnnf_graph *g, cnnf_node *n)
{
	axis_param *p = n->param;
	return cnnf_node_attr_int(g, n, "axis", 1, &p->axis);
}

static int flatten_infer(cnnf_graph *g, cnnf_node *n)
{
	const axis_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t lo = g->opset < 11 ? 0 : -(int64_t)x->ndim;
	if (p->axis < lo || p->axis > x->ndim)
		return cnnf_graph_node_error(g, n, "attribute 'axis' value %" PRId64
						   " out of range for rank %d",
					     p->axis, x->ndim);
	int axis = (int)(p->axis < 0 ? p->axis + x->ndim : p->axis);
	int64_t d[2] = {1, 1};
	for (int k = 0; k < x->ndim; k++)
		d[k >= axis] *= x->dim[k];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, 2, d);
}

const cnnf_op cnnf_op_flatten = {
	.name = "Flatten",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(axis_param),
	.parse = flatten_parse,
	.infer = flatten_infer,
	.forward = copy_forward,
	.work = copy_work,
};

/* ---- Squeeze and Unsqueeze ---- */

/* The axes of (Un)squeeze: the attribute before opset 13, input 1 from 13 on. */
typedef struct axes_param {
	const int64_t *axes;
	size_t naxes;
	int has_attr;
} axes_param;

static int axes_parse(cnnf_graph *g, cnnf_node *n)
{
	axes_param *p = n->param;
	if (g->opset < 13) {
		if (cnnf_node_attr_ints(g, n, "axes", &p->axes, &p->naxes))
			return -1;
		p->has_attr = cnnf_node_attr(n, "axes") != NULL;
	} else if (cnnf_node_attr(n, "axes")) {
		return cnnf_graph_node_error(g, n,
					     "attribute 'axes' is input 1 from opset 13 (the model's "
					     "is %d)",
					     g->opset);
	}
	return 0;
}

/* The axes as given (malloc'd into *axes, or NULL and 0 when there are none). */
static int axes_get(cnnf_graph *g, cnnf_node *n, int64_t **axes, size_t *count)
{
	const axes_param *p = n->param;
	*axes = NULL;
	*count = 0;
	if (g->opset < 13) {
		if (cnnf_node_in(g, n, 1))
			return cnnf_graph_node_error(g, n, "opset %d takes the axes as an attribute",
						     g->opset);
		if (!p->naxes)
			return 0;
		if (!(*axes = malloc(p->naxes * sizeof **axes)))
			return cnnf_graph_node_error(g, n, "out of memory");
		memcpy(*axes, p->axes, p->naxes * sizeof **axes);
		*count = p->naxes;
		return 0;
	}
	if (!cnnf_node_in(g, n, 1))
		return 0;
	return cnnf_opdata_const_ints(g, n, 1, "axes", axes, count);
}

/* Marks the axes (normalised against rank) in mark[]; refuses duplicates. */
static int axes_mark(cnnf_graph *g, cnnf_node *n, const int64_t *axes, size_t count, int rank,
		     int *mark)
{
	memset(mark, 0, sizeof(int) * CNNF_GRAPH_MAX_DIMS);
	for (size_t i = 0; i < count; i++) {
		int a;
		if (cnnf_opdata_axis(g, n, "axis", axes[i], rank, &a))
			return -1;
		if (mark[a])
			return cnnf_graph_node_error(g, n, "axis %" PRId64 " is given twice", axes[i]);
		mark[a] = 1;
	}
	return 0;
}

static int squeeze_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t *axes;
	size_t count;
	int mark[CNNF_GRAPH_MAX_DIMS];
	if (axes_get(g, n, &axes, &count))
		return -1;
	int rc = axes_mark(g, n, axes, count, x->ndim, mark);
	free(axes);
	if (rc)
		return -1;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	int m = 0;
	for (int k = 0; k < x->ndim; k++) {
		if (count ? mark[k] : x->dim[k] == 1) {
			if (x->dim[k] != 1)
				return cnnf_graph_node_error(g, n,
							     "cannot squeeze axis %d of size %" PRId64,
							     k, x->dim[k]);
			continue;
		}
		d[m++] = x->dim[k];
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, m, d);
}

const cnnf_op cnnf_op_squeeze = {
	.name = "Squeeze",
	.min_in = 1,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(axes_param),
	.parse = axes_parse,
	.infer = squeeze_infer,
	.forward = copy_forward,
	.work = copy_work,
};

static int unsqueeze_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t *axes;
	size_t count;
	int mark[CNNF_GRAPH_MAX_DIMS];
	if (axes_get(g, n, &axes, &count))
		return -1;
	if (count == 0)
		return cnnf_graph_node_error(g, n, "no axes given");
	if (count + (size_t)x->ndim > CNNF_GRAPH_MAX_DIMS) {
		free(axes);
		return cnnf_graph_node_error(g, n, "the output would have more than %d dimensions",
					     CNNF_GRAPH_MAX_DIMS);
	}
	int rank = x->ndim + (int)count;
	int rc = axes_mark(g, n, axes, count, rank, mark);
	free(axes);
	if (rc)
		return -1;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	for (int k = 0, j = 0; k < rank; k++)
		d[k] = mark[k] ? 1 : x->dim[j++];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, rank, d);
}

const cnnf_op cnnf_op_unsqueeze = {
	.name = "Unsqueeze",
	.min_in = 1,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(axes_param),
	.parse = axes_parse,
	.infer = unsqueeze_infer,
	.forward = copy_forward,
	.work = copy_work,
};

/* ---- Transpose ---- */

typedef struct transpose_param {
	const int64_t *perm;
	size_t nperm;
} transpose_param;

static int transpose_parse(cnnf_graph *g, cnnf_node *n)
{
	transpose_param *p = n->param;
	return cnnf_node_attr_ints(g, n, "perm", &p->perm, &p->nperm);
}

/* The permutation for input rank r: the attribute, checked, or the reversed axes. */
static int transpose_perm(const cnnf_graph *g, const cnnf_node *n, int r, int *perm)
{
	const transpose_param *p = n->param;
	if (!p->perm) {
		for (int k = 0; k < r; k++)
			perm[k] = r - 1 - k;
		return 0;
	}
	if (p->nperm != (size_t)r)
		return cnnf_graph_node_error(g, n, "attribute 'perm' has %zu axes for rank %d",
					     p->nperm, r);
	int seen[CNNF_GRAPH_MAX_DIMS] = {0};
	for (int k = 0; k < r; k++) {
		int64_t a = p->perm[k];
		if (a < 0 || a >= r || seen[a])
			return cnnf_graph_node_error(g, n,
						     "attribute 'perm' is not a permutation of 0..%d",
						     r - 1);
		seen[a] = 1;
		perm[k] = (int)a;
	}
	return 0;
}

static int transpose_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int perm[CNNF_GRAPH_MAX_DIMS];
	if (transpose_perm(g, n, x->ndim, perm))
		return -1;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	for (int k = 0; k < x->ndim; k++)
		d[k] = x->dim[perm[k]];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, d);
}

static int transpose_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			     cnnf_value *const *out, int threads)
{
	const cnnf_value *x = in[0];
	int perm[CNNF_GRAPH_MAX_DIMS];
	int64_t s[CNNF_GRAPH_MAX_DIMS], st[CNNF_GRAPH_MAX_DIMS];
	if (transpose_perm(g, n, x->ndim, perm))
		return -1;
	cnnf_opdata_strides(x->ndim, x->dim, s);
	for (int k = 0; k < x->ndim; k++)
		st[k] = s[perm[k]];
	if (cnnf_opdata_view_copy(out[0]->data, x->data, cnnf_graph_type_size(x->type), x->ndim,
				  out[0]->dim, st, 0, threads))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

const cnnf_op cnnf_op_transpose = {
	.name = "Transpose",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(transpose_param),
	.parse = transpose_parse,
	.infer = transpose_infer,
	.forward = transpose_forward,
	.work = copy_work,
};

/* ---- DepthToSpace and SpaceToDepth ---- */

typedef struct block_param {
	int64_t block;
	int crd; /* DepthToSpace mode CRD (else DCR) */
} block_param;

static int block_parse(cnnf_graph *g, cnnf_node *n)
{
	block_param *p = n->param;
	const char *mode;
	if (!cnnf_node_attr(n, "blocksize"))
		return cnnf_graph_node_error(g, n, "attribute 'blocksize' is missing");
	if (cnnf_node_attr_int(g, n, "blocksize", 0, &p->block))
		return -1;
	if (p->block < 1 || p->block > 65536)
		return cnnf_graph_node_error(g, n, "attribute 'blocksize' value %" PRId64
						   " not supported",
					     p->block);
	if (strcmp(n->op_type, "DepthToSpace") == 0) {
		if (cnnf_node_attr_string(g, n, "mode", "DCR", &mode))
			return -1;
		if (strcmp(mode, "CRD") == 0)
			p->crd = 1;
		else if (strcmp(mode, "DCR") != 0)
			return cnnf_graph_node_error(g, n, "attribute 'mode' value '%s' not supported",
						     mode);
	}
	return 0;
}

static int depth_to_space_infer(cnnf_graph *g, cnnf_node *n)
{
	const block_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t b = p->block;
	if (x->ndim != 4)
		return cnnf_graph_node_error(g, n, "input must be N x C x H x W, not %d-D", x->ndim);
	if (x->dim[1] % (b * b))
		return cnnf_graph_node_error(g, n,
					     "channels %" PRId64 " not a multiple of blocksize^2 %" PRId64,
					     x->dim[1], b * b);
	if (x->dim[2] > INT64_MAX / b || x->dim[3] > INT64_MAX / b)
		return cnnf_graph_node_error(g, n, "output too large");
	int64_t d[4] = {x->dim[0], x->dim[1] / (b * b), x->dim[2] * b, x->dim[3] * b};
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, 4, d);
}

static int depth_to_space_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
				  cnnf_value *const *out, int threads)
{
	const block_param *p = n->param;
	const cnnf_value *x = in[0];
	int64_t b = p->block, C = x->dim[1], c = C / (b * b), H = x->dim[2], W = x->dim[3];
	int64_t hw = H * W;
	/* The output as N, C/b^2, H, b, W, b read from the input's channels. */
	int64_t od[6] = {x->dim[0], c, H, b, W, b};
	int64_t st[6];
	st[0] = C * hw;
	if (p->crd) { /* channel = c * b*b + i * b + j */
		st[1] = b * b * hw;
		st[3] = b * hw;
		st[5] = hw;
	} else { /* channel = (i * b + j) * c' + c */
		st[1] = hw;
		st[3] = b * c * hw;
		st[5] = c * hw;
	}
	st[2] = W;
	st[4] = 1;
	if (cnnf_opdata_view_copy(out[0]->data, x->data, cnnf_graph_type_size(x->type), 6, od, st, 0,
				  threads))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

const cnnf_op cnnf_op_depth_to_space = {
	.name = "DepthToSpace",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(block_param),
	.parse = block_parse,
	.infer = depth_to_space_infer,
	.forward = depth_to_space_forward,
	.work = copy_work,
};

static int space_to_depth_infer(cnnf_graph *g, cnnf_node *n)
{
	const block_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t b = p->block;
	if (x->ndim != 4)
		return cnnf_graph_node_error(g, n, "input must be N x C x H x W, not %d-D", x->ndim);
	if (x->dim[2] % b || x->dim[3] % b)
		return cnnf_graph_node_error(g, n,
					     "height %" PRId64 " and width %" PRId64
					     " must be multiples of blocksize %" PRId64,
					     x->dim[2], x->dim[3], b);
	if (x->dim[1] > INT64_MAX / (b * b))
		return cnnf_graph_node_error(g, n, "output too large");
	int64_t d[4] = {x->dim[0], x->dim[1] * b * b, x->dim[2] / b, x->dim[3] / b};
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, 4, d);
}

static int space_to_depth_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
				  cnnf_value *const *out, int threads)
{
	const block_param *p = n->param;
	const cnnf_value *x = in[0];
	int64_t b = p->block, C = x->dim[1], H = x->dim[2], W = x->dim[3];
	/* Output N, b (row offset), b (column offset), C, H/b, W/b. */
	int64_t od[6] = {x->dim[0], b, b, C, H / b, W / b};
	int64_t st[6] = {C * H * W, W, 1, H * W, b * W, b};
	if (cnnf_opdata_view_copy(out[0]->data, x->data, cnnf_graph_type_size(x->type), 6, od, st, 0,
				  threads))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

const cnnf_op cnnf_op_space_to_depth = {
	.name = "SpaceToDepth",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(block_param),
	.parse = block_parse,
	.infer = space_to_depth_infer,
	.forward = space_to_depth_forward,
	.work = copy_work,
};

/* ---- Expand ---- */

static int expand_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t *shape;
	size_t ns;
	if (cnnf_opdata_const_ints(g, n, 1, "shape", &shape, &ns))
		return -1;
	int rc = -1, no;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	if (ns > CNNF_GRAPH_MAX_DIMS) {
		cnnf_graph_node_error(g, n, "shape has %zu dimensions, more than %d", ns,
				      CNNF_GRAPH_MAX_DIMS);
		goto out;
	}
	for (size_t k = 0; k < ns; k++)
		if (shape[k] < 0) {
			cnnf_graph_node_error(g, n, "shape[%zu] is %" PRId64, k, shape[k]);
			goto out;
		}
	if (cnnf_opmath_broadcast(g, n, x->ndim, x->dim, (int)ns, shape, &no, d))
		goto out;
	rc = cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, no, d);
out:
	free(shape);
	return rc;
}

static int expand_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			  cnnf_value *const *out, int threads)
{
	const cnnf_value *x = in[0], *y = out[0];
	int64_t st[CNNF_GRAPH_MAX_DIMS];
	cnnf_opmath_bstrides(x->ndim, x->dim, y->ndim, y->dim, st);
	if (cnnf_opdata_view_copy(y->data, x->data, cnnf_graph_type_size(x->type), y->ndim, y->dim,
				  st, 0, threads))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

const cnnf_op cnnf_op_expand = {
	.name = "Expand",
	.min_in = 2,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.infer = expand_infer,
	.forward = expand_forward,
	.work = copy_work,
};
