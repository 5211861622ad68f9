/* net.c: a cnnf-model run on the graph engine: worker graphs for patch batches, and the dense form. */
#include "nn/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "nn/model_graph.h"
#include "nn/pass.h"

int cnnf_net_softmaxed(const cnnf_model *m)
{
	return m->nlayers > 0 && m->layers[m->nlayers - 1].type == CNNF_LAYER_SOFTMAX;
}

void cnnf_net_softmax(float *v, int k)
{
	double max = v[0], sum = 0;
	for (int i = 1; i < k; i++)
		if (v[i] > max)
			max = v[i];
	/*
	 * Each exp once (kept for the quotients when k is small), and none for
	 * a score equal to the maximum: exp(0) is exactly 1. The same doubles
	 * as computing each exp twice, so the same floats.
	 */
	double e[64];
	int keep = k <= (int)(sizeof e / sizeof *e);
	for (int i = 0; i < k; i++) {
		double d = (double)v[i] - max, x = d == 0 ? 1.0 : exp(d);
		if (keep)
			e[i] = x;
		sum += x;
	}
	for (int i = 0; i < k; i++) {
		double d = (double)v[i] - max;
		v[i] = (float)((keep ? e[i] : d == 0 ? 1.0 : exp(d)) / sum);
	}
}

void cnnf_net_free(cnnf_net *n)
{
	if (!n)
		return;
	for (int i = 0; n->patch && i < n->workers; i++)
		cnnf_graph_free(n->patch[i]);
	free(n->patch);
	cnnf_graph_free(n->dense);
	free(n);
}

/*
 * The model's graph without its final softmax (a model of a softmax alone
 * keeps it: a graph needs a node), its Relus fused.
 */
static int scores_graph(const cnnf_model *m, const char *name, cnnf_graph **out)
{
	int layers = m->nlayers - (cnnf_net_softmaxed(m) && m->nlayers > 1);
	cnnf_graph *g;
	if (cnnf_model_graph_layers(m, name, layers, &g))
		return -1;
	if (cnnf_pass_fuse(g) < 0) {
		cnnf_graph_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

cnnf_net *cnnf_net_new(const cnnf_model *m, const char *name, int workers, int dense)
{
	cnnf_net *n = calloc(1, sizeof *n);
	int w = cnnf_parallel_threads(workers);
	if (!n || !(n->patch = calloc((size_t)w, sizeof *n->patch))) {
		free(n);
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	n->model = m;
	n->workers = w;
	n->psize = (size_t)m->channels * m->height * m->width;
	int ndim[1] = {4};
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, m->channels, m->height, m->width}};
	for (int i = 0; i < w; i++) {
		if (scores_graph(m, name, &n->patch[i]))
			goto fail;
		n->patch[i]->threads = 1;
		if (i == 0) {
			/* As many patches a run as the budget holds: a large model's batch is small. */
			if (cnnf_graph_prepare(n->patch[0], ndim, shape, NULL))
				goto fail;
			uint64_t one = n->patch[0]->peak_bytes ? n->patch[0]->peak_bytes : 1;
			uint64_t fit = CNNF_NET_BUDGET / one;
			n->batch = fit < 1 ? 1 : fit > CNNF_NET_BATCH ? CNNF_NET_BATCH : (int)fit;
			shape[0][0] = n->batch;
		}
		if (cnnf_graph_prepare(n->patch[i], ndim, shape, NULL))
			goto fail;
	}
	if (dense) {
		if (scores_graph(m, name, &n->dense))
			goto fail;
		int rc = cnnf_pass_dense(n->dense, n->why, sizeof n->why);
		/* Its pools, of stride 1 now, into the convs before them: pooled in the cache. */
		if (rc < 0 || (rc == 0 && cnnf_pass_fuse_pool(n->dense) < 0))
			goto fail;
		if (rc) {
			cnnf_graph_free(n->dense);
			n->dense = NULL;
		}
	}
	return n;
fail:
	cnnf_net_free(n);
	return NULL;
}

int cnnf_net_scores(cnnf_net *n, int w, float *patches, int count, float **scores)
{
	/* A short batch repeats its last patch: the graph is prepared for full ones. */
	for (int b = count; b < n->batch; b++)
		memcpy(patches + (size_t)b * n->psize, patches + (size_t)(count - 1) * n->psize,
		       n->psize * sizeof *patches);
	const void *in[1] = {patches};
	void *out[1] = {NULL};
	if (cnnf_graph_run(n->patch[w], in, out))
		return -1;
	*scores = out[0];
	return 0;
}

int cnnf_net_forward(cnnf_net *n, const cnnf_tensor *in, cnnf_tensor **out)
{
	const cnnf_model *m = n->model;
	const cnnf_value *v = &n->patch[0]->val[n->patch[0]->out[0]];
	int c = v->ndim == 4 ? (int)v->dim[1] : m->classes, h = v->ndim == 4 ? (int)v->dim[2] : 1,
	    w = v->ndim == 4 ? (int)v->dim[3] : 1;
	float *batch = malloc(n->psize * (size_t)n->batch * sizeof *batch), *sc = NULL;
	cnnf_tensor *t = cnnf_tensor_new_uninit(c, h, w);
	if (!batch || !t) {
		free(batch);
		cnnf_tensor_free(t);
		cnnf_error("out of memory");
		return -1;
	}
	memcpy(batch, in->data, n->psize * sizeof *batch);
	int rc = cnnf_net_scores(n, 0, batch, 1, &sc);
	free(batch);
	if (rc) {
		cnnf_tensor_free(t);
		return -1;
	}
	memcpy(t->data, sc, cnnf_tensor_size(t) * sizeof *sc);
	free(sc);
	if (cnnf_net_softmaxed(m) && m->nlayers > 1)
		cnnf_net_softmax(t->data, m->classes);
	*out = t;
	return 0;
}
