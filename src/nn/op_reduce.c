/* op_reduce.c: reductions over axes (ReduceMean, Sum, Max, Min, Prod), ArgMax, ArgMin. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opmath.h"
#include "nn/ops.h"

enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD, R_ARGMAX, R_ARGMIN };

static const struct {
	const char *name;
	int kind;
	int axes_input_opset; /* the opset from which axes is input 1, not an attribute */
} kinds[] = {
    {"ReduceMean", R_MEAN, 18}, {"ReduceSum", R_SUM, 13},   {"ReduceMax", R_MAX, 18},
    {"ReduceMin", R_MIN, 18},   {"ReduceProd", R_PROD, 18}, {"ArgMax", R_ARGMAX, 0},
    {"ArgMin", R_ARGMIN, 0},
};

typedef struct reduce_param {
	int kind;
	int axes_input; /* axes is input 1 (opset >= axes_input_opset) */
	int64_t keepdims, noop_empty, select_last, axis;
	const int64_t *axes; /* the attribute (points into n->attr), naxes of them */
	size_t naxes;
} reduce_param;

/* The reduction an inferred node does, kept with the shapes (n->state). */
typedef struct reduce_state {
	int ndim;                     /* the input's */
	int red[CNNF_GRAPH_MAX_DIMS]; /* 1 for a reduced axis */
	int noop;                     /* empty axes with noop_with_empty_axes: a copy */
} reduce_state;

static int reduce_parse(cnnf_graph *g, cnnf_node *n)
{
	reduce_param *p = n->param;
	int from = 0;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].name, n->op_type) == 0) {
			p->kind = kinds[i].kind;
			from = kinds[i].axes_input_opset;
		}
	if (cnnf_node_attr_int(g, n, "keepdims", 1, &p->keepdims))
		return -1;
	if (p->kind == R_ARGMAX || p->kind == R_ARGMIN) {
		if (n->nin > 1)
			return cnnf_graph_node_error(g, n, "has %d inputs, the operator takes 1",
			                             n->nin);
		return cnnf_node_attr_int(g, n, "axis", 0, &p->axis) ||
		       cnnf_node_attr_int(g, n, "select_last_index", 0, &p->select_last);
	}
	p->axes_input = g->opset >= from;
	if (p->axes_input) {
		if (cnnf_node_attr(n, "axes"))
			return cnnf_graph_node_error(g, n,
			                             "attribute 'axes' is input 1 from opset %d "
			                             "(the model's is %d)",
			                             from, g->opset);
		if (cnnf_node_attr_int(g, n, "noop_with_empty_axes", 0, &p->noop_empty))
			return -1;
	} else {
		if (n->nin > 1)
			return cnnf_graph_node_error(
			    g, n,
			    "takes 1 input before opset %d (the model's is "
			    "%d), not %d",
			    from, g->opset, n->nin);
		if (cnnf_node_attr(n, "noop_with_empty_axes"))
			return cnnf_graph_node_error(g, n,
			                             "attribute 'noop_with_empty_axes' is from "
			                             "opset %d (the model's is %d)",
			                             from, g->opset);
		if (cnnf_node_attr_ints(g, n, "axes", &p->axes, &p->naxes))
			return -1;
	}
	return 0;
}

static void reduce_release(cnnf_node *n)
{
	free(n->state);
	n->state = NULL;
}

static int reduce_infer(cnnf_graph *g, cnnf_node *n)
{
	const reduce_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int arg = p->kind == R_ARGMAX || p->kind == R_ARGMIN;
	if (x->type == CNNF_DT_I64 && p->kind == R_MEAN)
		return cnnf_graph_node_error(
		    g, n, "input '%s' is int64; the operator takes float only", x->name);
	reduce_state s = {.ndim = x->ndim};
	if (arg) {
		int a;
		if (cnnf_opmath_axis(g, n, "axis", p->axis, x->ndim, &a))
			return -1;
		if (x->dim[a] == 0)
			return cnnf_graph_node_error(g, n, "axis %d of input '%s' is empty", a,
			                             x->name);
		s.red[a] = 1;
	} else {
		int64_t *own = NULL;
		const int64_t *axes = p->axes;
		size_t naxes = p->naxes;
		const cnnf_value *av = cnnf_node_in(g, n, 1);
		if (p->axes_input && av) {
			if (cnnf_value_ints(g, n, av, &own, &naxes))
				return -1;
			axes = own;
		}
		if (naxes == 0) {
			if (p->noop_empty)
				s.noop = 1;
			else
				for (int i = 0; i < x->ndim; i++)
					s.red[i] = 1;
		}
		for (size_t i = 0; i < naxes; i++) {
			int a;
			if (cnnf_opmath_axis(g, n, "axes", axes[i], x->ndim, &a)) {
				free(own);
				return -1;
			}
			if (s.red[a]) {
				free(own);
				return cnnf_graph_node_error(g, n, "axis %" PRId64 " given twice",
				                             axes[i]);
			}
			s.red[a] = 1;
		}
		free(own);
		if (p->kind == R_MAX || p->kind == R_MIN)
			for (int i = 0; i < x->ndim; i++)
				if (s.red[i] && x->dim[i] == 0)
					return cnnf_graph_node_error(
					    g, n,
					    "axis %d of input '%s' is empty "
					    "(no maximum or minimum)",
					    i, x->name);
	}
	int nd = 0;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	for (int i = 0; i < x->ndim; i++) {
		if (!s.red[i] || s.noop)
			d[nd++] = x->dim[i];
		else if (p->keepdims)
			d[nd++] = 1;
	}
	reduce_release(n);
	if (!(n->state = malloc(sizeof s)))
		return cnnf_graph_node_error(g, n, "out of memory");
	memcpy(n->state, &s, sizeof s);
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), arg ? CNNF_DT_I64 : x->type, nd,
	                            d);
}

typedef struct reduce_job {
	int kind, type, select_last;
	const void *x;
	void *y;
	/* kept (outer) axes: sizes and input strides; reduced axes likewise */
	int nk, nr;
	int64_t kd[CNNF_GRAPH_MAX_DIMS], ks[CNNF_GRAPH_MAX_DIMS];
	int64_t rd[CNNF_GRAPH_MAX_DIMS], rs[CNNF_GRAPH_MAX_DIMS];
	int64_t rcount;
	int64_t astride; /* Arg*: the stride of the one reduced axis */
} reduce_job;

/* Output element `it`: fold over the reduced elements in row-major order. */
static int reduce_worker(void *ctx, size_t begin, size_t end)
{
	const reduce_job *j = ctx;
	for (size_t it = begin; it < end; it++) {
		int64_t r = (int64_t)it, base = 0;
		for (int k = j->nk - 1; k >= 0; k--) {
			base += (r % j->kd[k]) * j->ks[k];
			r /= j->kd[k];
		}
		int64_t idx[CNNF_GRAPH_MAX_DIMS] = {0};
		double acc = j->kind == R_PROD  ? 1
		             : j->kind == R_MAX ? -INFINITY
		             : j->kind == R_MIN ? INFINITY
		                                : 0;
		int64_t iacc = j->kind == R_PROD  ? 1
		               : j->kind == R_MAX ? INT64_MIN
		               : j->kind == R_MIN ? INT64_MAX
		                                  : 0;
		int64_t best = 0;
		double bestv = 0;
		for (int64_t c = 0; c < j->rcount; c++) {
			int64_t off = base;
			for (int k = 0; k < j->nr; k++)
				off += idx[k] * j->rs[k];
			if (j->type == CNNF_DT_I64) {
				int64_t v = ((const int64_t *)j->x)[off];
				switch (j->kind) {
				case R_SUM:
					iacc = (int64_t)((uint64_t)iacc + (uint64_t)v);
					break;
				case R_PROD:
					iacc = (int64_t)((uint64_t)iacc * (uint64_t)v);
					break;
				case R_MAX:
					iacc = v > iacc ? v : iacc;
					break;
				case R_MIN:
					iacc = v < iacc ? v : iacc;
					break;
				default:
					/* Arg* on int64: exact in double only below 2^53, so
					 * compare as integers */
					if (c == 0 || (j->kind == R_ARGMAX ? v > iacc : v < iacc) ||
					    (j->select_last && v == iacc)) {
						iacc = v;
						best = c;
					}
				}
			} else {
				float v = ((const float *)j->x)[off];
				switch (j->kind) {
				case R_MEAN:
				case R_SUM:
					acc += v;
					break;
				case R_PROD:
					acc *= v;
					break;
				case R_MAX:
					acc = v > acc || isnan(v) ? v : acc;
					break;
				case R_MIN:
					acc = v < acc || isnan(v) ? v : acc;
					break;
				default:
					if (c == 0 ||
					    (j->kind == R_ARGMAX ? v > bestv : v < bestv) ||
					    (j->select_last && v == bestv)) {
						bestv = v;
						best = c;
					}
				}
			}
			for (int k = j->nr - 1; k >= 0; k--) {
				if (++idx[k] < j->rd[k])
					break;
				idx[k] = 0;
			}
		}
		if (j->kind == R_ARGMAX || j->kind == R_ARGMIN)
			((int64_t *)j->y)[it] = best;
		else if (j->type == CNNF_DT_I64)
			((int64_t *)j->y)[it] = iacc;
		else if (j->kind == R_MEAN)
			((float *)j->y)[it] = (float)(acc / (double)j->rcount);
		else
			((float *)j->y)[it] = (float)acc;
	}
	return 0;
}

static int reduce_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
                          cnnf_value *const *out, int threads)
{
	const reduce_param *p = n->param;
	const reduce_state *s = n->state;
	const cnnf_value *x = in[0];
	uint64_t count = cnnf_value_count(out[0]);
	if (s->noop) {
		memcpy(out[0]->data, x->data, (size_t)count * cnnf_graph_type_size(x->type));
		return 0;
	}
	reduce_job j = {.kind = p->kind,
	                .type = x->type,
	                .select_last = (int)p->select_last,
	                .x = x->data,
	                .y = out[0]->data,
	                .rcount = 1};
	int64_t st = 1;
	for (int i = x->ndim - 1; i >= 0; i--) {
		if (s->red[i]) {
			j.rd[j.nr] = x->dim[i];
			j.rs[j.nr++] = st;
			j.rcount *= x->dim[i];
		} else {
			j.kd[j.nk] = x->dim[i];
			j.ks[j.nk++] = st;
		}
		st *= x->dim[i];
	}
	/* gathered innermost first: turn both lists into row-major order */
	for (int a = 0, b = j.nk - 1; a < b; a++, b--) {
		int64_t t = j.kd[a];
		j.kd[a] = j.kd[b];
		j.kd[b] = t;
		t = j.ks[a];
		j.ks[a] = j.ks[b];
		j.ks[b] = t;
	}
	for (int a = 0, b = j.nr - 1; a < b; a++, b--) {
		int64_t t = j.rd[a];
		j.rd[a] = j.rd[b];
		j.rd[b] = t;
		t = j.rs[a];
		j.rs[a] = j.rs[b];
		j.rs[b] = t;
	}
	if (count == 0)
		return 0;
	if (cnnf_parallel_for((size_t)count, threads, reduce_worker, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static double reduce_work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	return x ? (double)cnnf_value_count(x) : 0;
}

#define REDUCE_OP(NAME, SYM, MAXIN)                                                                \
	const cnnf_op cnnf_op_##SYM = {                                                            \
	    .name = NAME,                                                                          \
	    .min_in = 1,                                                                           \
	    .max_in = MAXIN,                                                                       \
	    .min_out = 1,                                                                          \
	    .max_out = 1,                                                                          \
	    .param_size = sizeof(reduce_param),                                                    \
	    .parse = reduce_parse,                                                                 \
	    .infer = reduce_infer,                                                                 \
	    .release = reduce_release,                                                             \
	    .forward = reduce_forward,                                                             \
	    .work = reduce_work,                                                                   \
	};

REDUCE_OP("ReduceMean", reducemean, 2)
REDUCE_OP("ReduceSum", reducesum, 2)
REDUCE_OP("ReduceMax", reducemax, 2)
REDUCE_OP("ReduceMin", reducemin, 2)
REDUCE_OP("ReduceProd", reduceprod, 2)
REDUCE_OP("ArgMax", argmax, 1)
REDUCE_OP("ArgMin", argmin, 1)
