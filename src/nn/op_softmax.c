/* op_softmax.c: Softmax and LogSoftmax, the axis meaning as the model's opset says. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opmath.h"
#include "nn/ops.h"

typedef struct softmax_param {
	int64_t axis;
	int log;
} softmax_param;

static int softmax_parse(cnnf_graph *g, cnnf_node *n)
{
	softmax_param *p = n->param;
	p->log = strcmp(n->op_type, "LogSoftmax") == 0;
	return cnnf_node_attr_int(g, n, "axis", g->opset >= 13 ? -1 : 1, &p->axis);
}

static int softmax_infer(cnnf_graph *g, cnnf_node *n)
{
	const softmax_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int axis;
	if (x->type != CNNF_DT_F32)
		return cnnf_graph_node_error(
		    g, n, "input '%s' is int64; the operator takes float only", x->name);
	/* a scalar is a softmax over one element */
	if (x->ndim > 0 && cnnf_opmath_axis(g, n, "axis", p->axis, x->ndim, &axis))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, x->dim);
}

typedef struct softmax_job {
	const float *x;
	float *y;
	int64_t len, inner; /* the softmax runs over len elements inner apart */
	int log;
} softmax_job;

/* Item i: line (i / inner, i % inner). */
static int softmax_worker(void *ctx, size_t begin, size_t end)
{
	const softmax_job *j = ctx;
	for (size_t it = begin; it < end; it++) {
		int64_t o = (int64_t)it / j->inner, in = (int64_t)it % j->inner;
		const float *x = j->x + o * j->len * j->inner + in;
		float *y = j->y + o * j->len * j->inner + in;
		int64_t s = j->inner;
		float m = -INFINITY;
		for (int64_t k = 0; k < j->len; k++)
			if (x[k * s] > m || isnan(x[k * s]))
				m = x[k * s];
		/* the largest subtracted so that exp never overflows; the sum kept in double */
		double sum = 0;
		for (int64_t k = 0; k < j->len; k++)
			sum += expf(x[k * s] - m);
		if (j->log) {
			double ls = log(sum);
			for (int64_t k = 0; k < j->len; k++)
				y[k * s] = (float)((double)(x[k * s] - m) - ls);
		} else {
			for (int64_t k = 0; k < j->len; k++)
				y[k * s] = (float)(expf(x[k * s] - m) / sum);
		}
	}
	return 0;
}

static int softmax_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
                           cnnf_value *const *out, int threads)
{
	const softmax_param *p = n->param;
	const cnnf_value *x = in[0];
	int axis = 0;
	if (x->ndim > 0)
		axis = (int)(p->axis < 0 ? p->axis + x->ndim : p->axis);
	int64_t outer = 1, len = 1, inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= x->dim[i];
	if (g->opset < 13) {
		/* before 13: the input seen as outer x (all the rest), one softmax per row */
		for (int i = axis; i < x->ndim; i++)
			len *= x->dim[i];
	} else if (x->ndim > 0) {
		len = x->dim[axis];
		for (int i = axis + 1; i < x->ndim; i++)
			inner *= x->dim[i];
	}
	if (outer * len * inner == 0)
		return 0;
	softmax_job j = {x->data, out[0]->data, len, inner, p->log};
	if (cnnf_parallel_for((size_t)(outer * inner), threads, softmax_worker, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static double softmax_work(const cnnf_graph *g, const cnnf_node *n)
{
	return 3 * cnnf_opmath_work_out(g, n);
}

const cnnf_op cnnf_op_softmax = {
    .name = "Softmax",
    .min_in = 1,
    .max_in = 1,
    .min_out = 1,
    .max_out = 1,
    .param_size = sizeof(softmax_param),
    .parse = softmax_parse,
    .infer = softmax_infer,
    .forward = softmax_forward,
    .work = softmax_work,
};

const cnnf_op cnnf_op_logsoftmax = {
    .name = "LogSoftmax",
    .min_in = 1,
    .max_in = 1,
    .min_out = 1,
    .max_out = 1,
    .param_size = sizeof(softmax_param),
    .parse = softmax_parse,
    .infer = softmax_infer,
    .forward = softmax_forward,
    .work = softmax_work,
};
