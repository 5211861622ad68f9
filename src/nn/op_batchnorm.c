/* op_batchnorm.c: ONNX BatchNormalization in inference mode: y = (x - mean) / sqrt(var + epsilon) * scale + B. */
#include <math.h>
#include <stdlib.h>

#include "nn/ops.h"

typedef struct param {
	double epsilon;
} param;

static int parse(cnnf_graph *g, cnnf_node *n)
{
	param *p = n->param;
	int64_t v;
	if (cnnf_node_attr_double(g, n, "epsilon", (double)1e-5f, &p->epsilon))
		return -1;
	if (!(p->epsilon >= 0))
		return cnnf_graph_node_error(g, n, "attribute 'epsilon' value %g not supported", p->epsilon);
	if (cnnf_node_attr_int(g, n, "training_mode", 0, &v))
		return -1;
	if (v != 0)
		return cnnf_graph_node_error(g, n, "attribute 'training_mode' value %lld not supported (inference only)",
					     (long long)v);
	/* Opsets before 9: per-channel statistics only (spatial = 1). */
	if (cnnf_node_attr_int(g, n, "spatial", 1, &v))
		return -1;
	if (v != 1)
		return cnnf_graph_node_error(g, n, "attribute 'spatial' value %lld not supported (only 1)",
					     (long long)v);
	for (int i = 1; i < n->nout; i++)
		if (n->out[i] >= 0)
			return cnnf_graph_node_error(g, n, "output %d (training statistics) not supported", i);
	return 0;
}

static int infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	if (x->type != CNNF_DT_F32)
		return cnnf_graph_node_error(g, n, "input 0 must be float");
	if (x->ndim < 2)
		return cnnf_graph_node_error(g, n, "input 0 has %d dimensions, at least 2 (N x C) needed", x->ndim);
	for (int i = 1; i < 5; i++) {
		const cnnf_value *v = cnnf_node_in(g, n, i);
		if (!v)
			return cnnf_graph_node_error(g, n, "input %d is required", i);
		if (v->type != CNNF_DT_F32 || v->ndim != 1 || v->dim[0] != x->dim[1])
			return cnnf_graph_node_error(g, n, "input %d must be %lld floats (one per channel)", i,
						     (long long)x->dim[1]);
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, x->ndim, x->dim);
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	(void)threads;
	const param *p = n->param;
	const cnnf_value *x = in[0];
	const float *sc = in[1]->data, *bi = in[2]->data, *mu = in[3]->data, *var = in[4]->data;
	int64_t nb = x->dim[0], c = x->dim[1];
	size_t plane = 1;
	for (int i = 2; i < x->ndim; i++)
		plane *= (size_t)x->dim[i];
	const float *src = x->data;
	float *dst = out[0]->data;
	for (int64_t ch = 0; ch < c; ch++) {
		/*
		 * In double, rounded once: scale and shift per channel, then
		 * x * scale + shift (as cnnf-model(5) batchnorm layers always
		 * ran; the double's error is far below the float's).
		 */
		double a = (double)sc[ch] * (1.0 / sqrt((double)var[ch] + p->epsilon));
		double sh = (double)bi[ch] - (double)mu[ch] * a;
		for (int64_t b = 0; b < nb; b++) {
			size_t off = ((size_t)b * (size_t)c + (size_t)ch) * plane;
			for (size_t i = 0; i < plane; i++)
				dst[off + i] = (float)((double)src[off + i] * a + sh);
		}
	}
	(void)g;
	return 0;
}

static double work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *y = cnnf_node_out(g, n, 0);
	return y && y->ndim >= 0 ? (double)cnnf_value_count(y) : 0;
}

const cnnf_op cnnf_op_batchnormalization = {
	.name = "BatchNormalization", .min_in = 5, .max_in = 5, .min_out = 1, .max_out = 5,
	.param_size = sizeof(param), .parse = parse, .infer = infer,
	.forward = forward, .work = work,
};
