/*
 * gradcheck.h: an operator's backward (cnnf_op.backward) against central
 * finite differences of its forward, on a graph of one node. The loss is
 * L = sum r[i] * y[i] over output 0 with fixed random r, so dL/dy = r.
 */
#ifndef CNNF_GRADCHECK_H
#define CNNF_GRADCHECK_H

#include <math.h>

#include "optest.h"

/* L for the inputs as they are now (forward through optest_run). */
static inline int gradcheck_loss(const char *op_type, int opset, int nin, const optest_in *in,
				 int nattr, const cnnf_attr *attrs, int nout, const float *r,
				 double *loss)
{
	optest_out out[8] = {{0}};
	if (optest_run(op_type, opset, nin, in, nattr, attrs, nout, out))
		return -1;
	double l = 0;
	uint64_t ny = optest_count(out[0].ndim, out[0].dim);
	for (uint64_t i = 0; i < ny; i++)
		l += (double)r[i] * ((const float *)out[0].data)[i];
	for (int i = 0; i < nout; i++)
		free(out[i].data);
	*loss = l;
	return 0;
}

/*
 * The analytic gradients: one node prepared for the inputs' shapes, its
 * forward and then its backward called directly with dout[0] = r.
 * din[i] (zeroed, of input i's size) is filled for the inputs of the op's
 * grad_in. threads: for both calls.
 */
static inline int gradcheck_analytic(const char *op_type, int opset, int nin, const optest_in *in,
				     int nattr, const cnnf_attr *attrs, int nout, const float *r,
				     float **din, int threads)
{
	int rc = -1;
	cnnf_graph *g = cnnf_graph_new("test.onnx");
	if (!g)
		return -1;
	g->opset = opset;
	int vin[8], vout[8], ngin = 0, gin_ndim[8];
	int64_t gin_dim[8][CNNF_GRAPH_MAX_DIMS];
	const void *gin_const[8];
	for (int i = 0; i < nin; i++) {
		char name[16];
		snprintf(name, sizeof name, "in%d", i);
		vin[i] = in[i].kind == OPTEST_OMIT ? -1 : cnnf_graph_value(g, name);
		if (in[i].kind == OPTEST_OMIT)
			continue;
		if (vin[i] < 0 || cnnf_graph_add_input(g, vin[i], in[i].type, in[i].ndim, in[i].dim))
			goto out;
		gin_ndim[ngin] = in[i].ndim;
		memcpy(gin_dim[ngin], in[i].dim, sizeof gin_dim[ngin]);
		/* Non-gradient inputs (shapes, bounds) as constants, as a model has them. */
		gin_const[ngin] = in[i].kind == OPTEST_CONST ? in[i].data : NULL;
		ngin++;
	}
	for (int i = 0; i < nout; i++) {
		char name[16];
		snprintf(name, sizeof name, "out%d", i);
		if ((vout[i] = cnnf_graph_value(g, name)) < 0)
			goto out;
	}
	if (cnnf_graph_add_node(g, "n", op_type, nin, vin, nout, vout, nattr, optest_attrs(nattr, attrs)))
		goto out;
	for (int i = 0; i < nout; i++)
		if (cnnf_graph_add_output(g, vout[i]))
			goto out;
	if (cnnf_graph_finish(g) ||
	    cnnf_graph_prepare(g, gin_ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])gin_dim, gin_const))
		goto out;
	cnnf_node *n = &g->node[0];
	if (!n->op->backward) {
		cnnf_error("%s has no backward", op_type);
		goto out;
	}
	cnnf_value *vi[8] = {0}, *vo[8] = {0};
	for (int i = 0; i < nin; i++)
		if (vin[i] >= 0) {
			vi[i] = &g->val[vin[i]];
			if (!vi[i]->is_const)
				vi[i]->data = (void *)in[i].data;
		}
	int ok = 1;
	for (int i = 0; i < nout; i++) {
		vo[i] = &g->val[vout[i]];
		uint64_t b = cnnf_value_bytes(vo[i]);
		if (!(vo[i]->data = calloc(1, b ? (size_t)b : 1)))
			ok = 0;
	}
	const float *dout[8] = {r};
	float *dptr[8] = {0};
	for (int i = 0; i < nin; i++)
		if (n->op->grad_in >> i & 1u)
			dptr[i] = din[i];
	if (ok && !n->op->forward(g, n, vi, vo, threads) &&
	    !n->op->backward(g, n, vi, vo, dout, dptr, threads))
		rc = 0;
	for (int i = 0; i < nin; i++)
		if (vi[i] && !vi[i]->is_const)
			vi[i]->data = NULL;
	for (int i = 0; i < nout; i++) {
		free(vo[i]->data);
		vo[i]->data = NULL;
	}
out:
	cnnf_graph_free(g);
	return rc;
}

/*
 * Check every grad_in input's gradient against central differences with
 * step h: |analytic - numeric| <= tol * max(1, |analytic|, |numeric|). The
 * inputs' data must be writable (they are perturbed and restored). The
 * analytic result is also required to be the same bits with 1 and 3 threads.
 * Returns the number of elements out of tolerance (0: pass); messages name them.
 */
static inline int gradcheck(const char *op_type, int opset, int nin, optest_in *in, int nattr,
			    const cnnf_attr *attrs, int nout, double h, double tol)
{
	optest_out o[8] = {{0}};
	if (optest_run(op_type, opset, nin, in, nattr, attrs, nout, o)) {
		fprintf(stderr, "%s: forward: %s\n", op_type, cnnf_error_get());
		return -1;
	}
	uint64_t ny = optest_count(o[0].ndim, o[0].dim);
	for (int i = 0; i < nout; i++)
		free(o[i].data);
	float *r = malloc((size_t)(ny ? ny : 1) * sizeof *r);
	uint32_t s = 777;
	for (uint64_t i = 0; i < ny; i++) {
		s = s * 1664525u + 1013904223u;
		r[i] = (float)((s >> 8) & 0xffffff) / 16777216.0f * 2 - 1;
	}
	float *d1[8] = {0}, *d3[8] = {0};
	for (int i = 0; i < nin; i++) {
		size_t c = in[i].kind == OPTEST_OMIT ? 1 : (size_t)optest_count(in[i].ndim, in[i].dim);
		d1[i] = calloc(c ? c : 1, sizeof(float));
		d3[i] = calloc(c ? c : 1, sizeof(float));
	}
	int bad = 0;
	if (gradcheck_analytic(op_type, opset, nin, in, nattr, attrs, nout, r, d1, 1) ||
	    gradcheck_analytic(op_type, opset, nin, in, nattr, attrs, nout, r, d3, 3)) {
		fprintf(stderr, "%s: backward: %s\n", op_type, cnnf_error_get());
		bad = -1;
		goto out;
	}
	for (int i = 0; i < nin && bad >= 0; i++) {
		if (in[i].kind == OPTEST_OMIT || in[i].kind == OPTEST_CONST || in[i].type != CNNF_DT_F32)
			continue;
		size_t c = (size_t)optest_count(in[i].ndim, in[i].dim);
		if (memcmp(d1[i], d3[i], c * sizeof(float))) {
			fprintf(stderr, "%s: input %d: 1 and 3 threads differ\n", op_type, i);
			bad++;
		}
		float *x = (float *)in[i].data;
		for (size_t k = 0; k < c; k++) {
			float keep = x[k], hi = (float)(keep + h), lo = (float)(keep - h);
			double lp, lm;
			x[k] = hi;
			int e = gradcheck_loss(op_type, opset, nin, in, nattr, attrs, nout, r, &lp);
			x[k] = lo;
			e |= gradcheck_loss(op_type, opset, nin, in, nattr, attrs, nout, r, &lm);
			x[k] = keep;
			if (e) {
				bad = -1;
				break;
			}
			double num = (lp - lm) / ((double)hi - (double)lo), a = d1[i][k];
			double scale = fmax(1.0, fmax(fabs(a), fabs(num)));
			if (fabs(a - num) > tol * scale) {
				fprintf(stderr, "%s: input %d [%zu]: analytic %.9g, finite differences %.9g\n",
					op_type, i, k, a, num);
				bad++;
			}
		}
	}
out:
	for (int i = 0; i < nin; i++) {
		free(d1[i]);
		free(d3[i]);
	}
	free(r);
	return bad;
}

#endif
