/* optest.h: run one operator node of the graph engine on given inputs, for the operator suites. */
#ifndef CNNF_OPTEST_H
#define CNNF_OPTEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "nn/graph.h"

/*
 * One input of the node. kind: OPTEST_INPUT (a graph input given at run
 * time), OPTEST_INIT (an initializer), OPTEST_CONST (a graph input given to
 * prepare as a constant), OPTEST_OMIT (an optional input left out).
 * data: the elements (float or int64_t as type says), borrowed.
 */
enum { OPTEST_INPUT, OPTEST_INIT, OPTEST_CONST, OPTEST_OMIT };

typedef struct optest_in {
	int kind;
	int type; /* CNNF_DT_F32 or CNNF_DT_I64 */
	int ndim;
	int64_t dim[CNNF_GRAPH_MAX_DIMS];
	const void *data;
} optest_in;

/* One output: what the run gave (data malloc'd, free it with free()). */
typedef struct optest_out {
	int type, ndim;
	int64_t dim[CNNF_GRAPH_MAX_DIMS];
	void *data;
} optest_out;

static inline uint64_t optest_count(int ndim, const int64_t *dim)
{
	uint64_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (uint64_t)dim[i];
	return n;
}

/* A deep copy of attrs (the graph takes what it is given). */
static inline cnnf_attr *optest_attrs(int nattr, const cnnf_attr *attrs)
{
	cnnf_attr *a = calloc((size_t)(nattr ? nattr : 1), sizeof *a);
	for (int i = 0; i < nattr; i++) {
		a[i] = attrs[i];
		a[i].name = strdup(attrs[i].name);
		a[i].s = attrs[i].s ? strdup(attrs[i].s) : NULL;
		if (a[i].s)
			a[i].slen = strlen(a[i].s);
		a[i].ints = NULL;
		a[i].floats = NULL;
		a[i].t = NULL;
		if (attrs[i].ints) {
			a[i].ints = malloc((attrs[i].n + 1) * sizeof *a[i].ints);
			memcpy(a[i].ints, attrs[i].ints, attrs[i].n * sizeof *a[i].ints);
		}
		if (attrs[i].floats) {
			a[i].floats = malloc((attrs[i].n + 1) * sizeof *a[i].floats);
			memcpy(a[i].floats, attrs[i].floats, attrs[i].n * sizeof *a[i].floats);
		}
		if (attrs[i].t) {
			const cnnf_value *t = attrs[i].t;
			cnnf_value *c = calloc(1, sizeof *c);
			*c = *t;
			c->name = NULL;
			size_t b = optest_count(t->ndim, t->dim) * cnnf_graph_type_size(t->type);
			c->data = malloc(b ? b : 1);
			memcpy(c->data, t->data, b);
			a[i].t = c;
		}
	}
	return a;
}

/*
 * Build a graph of one node op_type (at `opset`) with these inputs and
 * attributes and nout outputs; prepare it and run it. 0 with out[] filled,
 * or -1 with the graph's message in cnnf_error_get(). threads: for the run.
 */
static inline int optest_run_threads(const char *op_type, int opset, int nin, const optest_in *in, int nattr,
				     const cnnf_attr *attrs, int nout, optest_out *out, int threads)
{
	int rc = -1;
	cnnf_graph *g = cnnf_graph_new("test.onnx");
	if (!g)
		return -1;
	g->opset = opset;
	g->threads = threads;
	int vin[16], vout[16], ngin = 0;
	int gin_ndim[16];
	int64_t gin_dim[16][CNNF_GRAPH_MAX_DIMS];
	const void *gin_const[16], *gin_data[16];
	void *res[16] = {0};
	for (int i = 0; i < nin; i++) {
		char name[32];
		snprintf(name, sizeof name, "in%d", i);
		if (in[i].kind == OPTEST_OMIT) {
			vin[i] = -1;
			continue;
		}
		vin[i] = cnnf_graph_value(g, name);
		if (vin[i] < 0)
			goto out;
		if (in[i].kind == OPTEST_INIT) {
			size_t b = optest_count(in[i].ndim, in[i].dim) * cnnf_graph_type_size(in[i].type);
			void *d = malloc(b ? b : 1);
			memcpy(d, in[i].data, b);
			if (cnnf_graph_set_init(g, vin[i], in[i].type, in[i].ndim, in[i].dim, d))
				goto out;
			continue;
		}
		if (cnnf_graph_add_input(g, vin[i], in[i].type, in[i].ndim, in[i].dim))
			goto out;
		gin_ndim[ngin] = in[i].ndim;
		memcpy(gin_dim[ngin], in[i].dim, sizeof gin_dim[ngin]);
		gin_const[ngin] = in[i].kind == OPTEST_CONST ? in[i].data : NULL;
		gin_data[ngin] = in[i].data;
		ngin++;
	}
	for (int i = 0; i < nout; i++) {
		char name[32];
		snprintf(name, sizeof name, "out%d", i);
		if ((vout[i] = cnnf_graph_value(g, name)) < 0)
			goto out;
	}
	if (cnnf_graph_add_node(g, "n", op_type, nin, vin, nout, vout, nattr,
				optest_attrs(nattr, attrs)))
		goto out;
	for (int i = 0; i < nout; i++)
		if (cnnf_graph_add_output(g, vout[i]))
			goto out;
	if (cnnf_graph_finish(g) ||
	    cnnf_graph_prepare(g, gin_ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])gin_dim, gin_const) ||
	    cnnf_graph_run(g, gin_data, res))
		goto out;
	for (int i = 0; i < nout; i++) {
		const cnnf_value *v = &g->val[vout[i]];
		out[i].type = v->type;
		out[i].ndim = v->ndim;
		memcpy(out[i].dim, v->dim, sizeof out[i].dim);
		out[i].data = res[i];
	}
	rc = 0;
out:
	cnnf_graph_free(g);
	return rc;
}

static inline int optest_run(const char *op_type, int opset, int nin, const optest_in *in, int nattr,
		      const cnnf_attr *attrs, int nout, optest_out *out)
{
	return optest_run_threads(op_type, opset, nin, in, nattr, attrs, nout, out, 1);
}

#endif
