/* op_pad.c: Pad in constant, reflect, edge and wrap modes (negative pads crop), for every element type. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opdata.h"
#include "nn/ops.h"

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_param {
	int mode;
	float value;         /* opset < 11: the attribute */
	const int64_t *pads; /* opset < 11: the attribute */
	size_t npads;
} pad_param;

static int pad_parse(cnnf_graph *g, cnnf_node *n)
{
	pad_param *p = n->param;
	const char *mode;
	if (cnnf_node_attr_string(g, n, "mode", "constant", &mode))
		return -1;
	if (strcmp(mode, "constant") == 0)
		p->mode = PAD_CONSTANT;
	else if (strcmp(mode, "reflect") == 0)
		p->mode = PAD_REFLECT;
	else if (strcmp(mode, "edge") == 0)
		p->mode = PAD_EDGE;
	else if (strcmp(mode, "wrap") == 0)
		p->mode = PAD_WRAP;
	else
		return cnnf_graph_node_error(g, n, "attribute 'mode' value '%s' not supported",
					     mode);
	if (g->opset >= 11) {
		if (cnnf_node_attr(n, "pads") || cnnf_node_attr(n, "value"))
			return cnnf_graph_node_error(g, n,
						     "attributes 'pads' and 'value' are inputs from "
						     "opset 11 (the model's is %d)",
						     g->opset);
		return 0;
	}
	const char *name = g->opset < 2 ? "paddings" : "pads";
	if (!cnnf_node_attr(n, name))
		return cnnf_graph_node_error(g, n, "attribute '%s' is missing", name);
	return cnnf_node_attr_ints(g, n, name, &p->pads, &p->npads) ||
	       cnnf_node_attr_float(g, n, "value", 0.0f, &p->value);
}

/* Each axis's pads at its beginning (pb) and end (pe); negative ones crop. */
static int pad_plan(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *x, int64_t *pb,
		    int64_t *pe)
{
	const pad_param *p = n->param;
	int64_t *pads = NULL, *axes = NULL;
	size_t np, na = 0;
	int rc = -1;
	if (g->opset < 11) {
		np = p->npads;
		if (!(pads = malloc((np ? np : 1) * sizeof *pads)))
			return cnnf_graph_node_error(g, n, "out of memory");
		memcpy(pads, p->pads, np * sizeof *pads);
	} else if (cnnf_opdata_const_ints(g, n, 1, "pads", &pads, &np)) {
		return -1;
	}
	if (cnnf_node_in(g, n, 3)) {
		if (g->opset < 18) {
			cnnf_graph_node_error(g, n, "input 3 (axes) is from opset 18 (the model's is %d)",
					      g->opset);
			goto out;
		}
		if (cnnf_opdata_const_ints(g, n, 3, "axes", &axes, &na))
			goto out;
	} else {
		na = (size_t)x->ndim;
	}
	if (np != 2 * na) {
		cnnf_graph_node_error(g, n, "%zu pads for %zu axes", np, na);
		goto out;
	}
	for (int k = 0; k < x->ndim; k++)
		pb[k] = pe[k] = 0;
	int seen[CNNF_GRAPH_MAX_DIMS] = {0};
	for (size_t i = 0; i < na; i++) {
		int a = (int)i;
		if (axes && cnnf_opdata_axis(g, n, "axis", axes[i], x->ndim, &a))
			goto out;
		if (seen[a]) {
			cnnf_graph_node_error(g, n, "axis %d is given twice", a);
			goto out;
		}
		seen[a] = 1;
		pb[a] = pads[i];
		pe[a] = pads[i + na];
		int64_t dim = x->dim[a];
		/* Bounded so that the sums below cannot overflow. */
		if (pb[a] < -dim || pe[a] < -dim || pb[a] > (INT64_C(1) << 40) ||
		    pe[a] > (INT64_C(1) << 40) || dim + pb[a] + pe[a] < 0) {
			cnnf_graph_node_error(g, n,
					      "pads %" PRId64 " and %" PRId64
					      " do not fit axis %d of %" PRId64,
					      pb[a], pe[a], a, dim);
			goto out;
		}
		if (dim == 0 && p->mode != PAD_CONSTANT && pb[a] + pe[a] > 0) {
			cnnf_graph_node_error(g, n, "cannot pad an empty axis %d but with constants",
					      a);
			goto out;
		}
	}
	rc = 0;
out:
	free(pads);
	free(axes);
	return rc;
}

static int pad_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0), *c = cnnf_node_in(g, n, 2);
	int64_t pb[CNNF_GRAPH_MAX_DIMS], pe[CNNF_GRAPH_MAX_DIMS], d[CNNF_GRAPH_MAX_DIMS];
	if (c && (c->type != x->type || cnnf_value_count(c) != 1))
		return cnnf_graph_node_error(g, n,
					     "input 2 (constant_value) must be one element of the "
					     "input's type");
	if (pad_plan(g, n, x, pb, pe))
		return -1;
	for (int k = 0; k < x->ndim; k++)
		d[k] = x->dim[k] + pb[k] + pe[k];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, d);
}

/* The input index output index o reads on an axis (-1: the constant). */
static int64_t pad_map(int mode, int64_t o, int64_t pb, int64_t dim)
{
	int64_t i = o - pb;
	if (i >= 0 && i < dim)
		return i;
	switch (mode) {
	case PAD_EDGE:
		return i < 0 ? 0 : dim - 1;
	case PAD_REFLECT: {
		int64_t period = 2 * (dim - 1);
		if (period == 0)
			return 0;
		int64_t m = i % period;
		if (m < 0)
			m += period;
		return m >= dim ? period - m : m;
	}
	case PAD_WRAP: {
		int64_t m = i % dim;
		return m < 0 ? m + dim : m;
	}
	default:
		return -1;
	}
}

typedef struct pad_job {
	const char *src;
	char *dst;
	size_t es;
	int nd;
	const int64_t *od;
	int64_t st[CNNF_GRAPH_MAX_DIMS]; /* input strides */
	int64_t *map[CNNF_GRAPH_MAX_DIMS];
	int64_t lo, hi;                   /* the last axis's outputs lo..hi-1 read lo-pb.. in a row */
	int64_t pb_last;
	uint64_t fill;
} pad_job;

static int pad_work(void *ctx, size_t begin, size_t end)
{
	const pad_job *j = ctx;
	int last = j->nd - 1;
	int64_t w = j->od[last];
	for (size_t row = begin; row < end; row++) {
		int64_t r = (int64_t)row, off = 0;
		int inside = 1;
		for (int k = last - 1; k >= 0; k--) {
			int64_t m = j->map[k][r % j->od[k]];
			r /= j->od[k];
			if (m < 0)
				inside = 0;
			off += m * j->st[k];
		}
		char *d = j->dst + row * (size_t)w * j->es;
		const char *s = j->src + (size_t)off * j->es;
		for (int64_t o = 0; o < w; o++) {
			if (inside && o == j->lo && j->hi > j->lo) {
				memcpy(d + (size_t)o * j->es, s + (size_t)(o - j->pb_last) * j->es,
				       (size_t)(j->hi - j->lo) * j->es);
				o = j->hi - 1;
				continue;
			}
			int64_t m = inside ? j->map[last][o] : -1;
			if (m >= 0)
				memcpy(d + (size_t)o * j->es, s + (size_t)m * j->es, j->es);
			else if (j->es == 4) {
				uint32_t f = (uint32_t)j->fill;
				memcpy(d + (size_t)o * 4, &f, 4);
			} else {
				memcpy(d + (size_t)o * 8, &j->fill, 8);
			}
		}
	}
	return 0;
}

static int pad_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		       int threads)
{
	const pad_param *p = n->param;
	const cnnf_value *x = in[0], *y = out[0];
	int64_t pb[CNNF_GRAPH_MAX_DIMS], pe[CNNF_GRAPH_MAX_DIMS];
	if (pad_plan(g, n, x, pb, pe))
		return -1;
	pad_job j = {.src = x->data, .dst = y->data, .es = cnnf_graph_type_size(x->type),
		     .nd = x->ndim, .od = y->dim};
	/* The fill value as the bits of an element. */
	const cnnf_value *c = n->nin > 2 ? in[2] : NULL;
	if (x->type == CNNF_DT_F32) {
		float f = c ? *(const float *)c->data : g->opset < 11 ? p->value : 0.0f;
		uint32_t b;
		memcpy(&b, &f, 4);
		j.fill = b;
	} else {
		int64_t v = c ? *(const int64_t *)c->data : g->opset < 11 ? (int64_t)p->value : 0;
		memcpy(&j.fill, &v, 8);
	}
	if (x->ndim == 0) {
		memcpy(y->data, x->data, j.es);
		return 0;
	}
	uint64_t total = 0, rows = 1;
	for (int k = 0; k < x->ndim; k++) {
		total += (uint64_t)y->dim[k];
		if (k < x->ndim - 1)
			rows *= (uint64_t)y->dim[k];
	}
	if (cnnf_value_count(y) == 0)
		return 0;
	int64_t *maps = malloc(total * sizeof *maps);
	if (!maps)
		return cnnf_graph_node_error(g, n, "out of memory");
	cnnf_opdata_strides(x->ndim, x->dim, j.st);
	int64_t *m = maps;
	for (int k = 0; k < x->ndim; k++) {
		j.map[k] = m;
		for (int64_t o = 0; o < y->dim[k]; o++)
			m[o] = pad_map(p->mode, o, pb[k], x->dim[k]);
		m += y->dim[k];
	}
	int last = x->ndim - 1;
	j.pb_last = pb[last];
	j.lo = pb[last] > 0 ? pb[last] : 0;
	j.hi = pb[last] + x->dim[last];
	if (j.hi > y->dim[last])
		j.hi = y->dim[last];
	if (cnnf_value_count(y) < 65536)
		threads = 1;
	int rc = cnnf_parallel_for(rows, threads, pad_work, &j);
	free(maps);
	return rc ? cnnf_graph_node_error(g, n, "out of memory") : 0;
}

static double pad_work_count(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

const cnnf_op cnnf_op_pad = {
	.name = "Pad",
	.min_in = 1,
	.max_in = 4,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(pad_param),
	.parse = pad_parse,
	.infer = pad_infer,
	.forward = pad_forward,
	.work = pad_work_count,
};
