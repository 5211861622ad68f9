/* model_graph.c: a cnnf-model(5) chain of layers built as a graph of ONNX operators. */
#include "nn/model_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* The opset whose attribute meanings the nodes follow (Softmax over axis 1 only from 13). */
#define CHAIN_OPSET 17

/* Attributes of one node, built up before cnnf_graph_add_node takes them. */
typedef struct attrs {
	cnnf_attr a[4];
	int n;
	int failed;
} attrs;

static char *dup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* An INTS attribute of count values: v0, then v1 for the rest. */
static void attr_ints(attrs *at, const char *name, int count, int64_t v0, int64_t v1)
{
	cnnf_attr *a = &at->a[at->n++];
	memset(a, 0, sizeof *a);
	a->type = CNNF_ATTR_INTS;
	a->name = dup(name);
	a->ints = malloc((size_t)count * sizeof *a->ints);
	a->n = (size_t)count;
	if (!a->name || !a->ints) {
		at->failed = 1;
		return;
	}
	for (int i = 0; i < count; i++)
		a->ints[i] = i ? v1 : v0;
}

static void attr_int(attrs *at, const char *name, int64_t v)
{
	cnnf_attr *a = &at->a[at->n++];
	memset(a, 0, sizeof *a);
	a->type = CNNF_ATTR_INT;
	a->i = v;
	if (!(a->name = dup(name)))
		at->failed = 1;
}

/* A FLOAT attribute: the file format's float, and the double it came from. */
static void attr_float(attrs *at, const char *name, double v)
{
	cnnf_attr *a = &at->a[at->n++];
	memset(a, 0, sizeof *a);
	a->type = CNNF_ATTR_FLOAT;
	a->f = (float)v;
	a->d = v;
	if (!(a->name = dup(name)))
		at->failed = 1;
}

static void attrs_clear(attrs *at)
{
	for (int i = 0; i < at->n; i++) {
		free(at->a[i].name);
		free(at->a[i].ints);
	}
	at->n = 0;
}

/* An initializer "NODE.SUFFIX": floats copied from src, shaped as dim; its index or -1. */
static int add_init(cnnf_graph *g, const char *node, const char *suffix, const float *src, int ndim,
                    const int64_t *dim)
{
	char name[64];
	snprintf(name, sizeof name, "%s.%s", node, suffix);
	size_t count = 1;
	for (int i = 0; i < ndim; i++)
		count *= (size_t)dim[i]; /* the loader bounded every layer's parameters */
	float *data = malloc(count * sizeof *data);
	int v = cnnf_graph_value(g, name);
	if (!data || v < 0) {
		free(data);
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	memcpy(data, src, count * sizeof *data);
	if (cnnf_graph_set_init(g, v, CNNF_DT_F32, ndim, dim, data))
		return -1;
	return v;
}

/*
 * Add node `op` reading value x (and the nw initializers w[]) into a new
 * value called yname; *x becomes that value. Takes at.
 */
static int add_node(cnnf_graph *g, const char *node, const char *yname, const char *op, int *x,
                    const int *w, int nw, attrs *at)
{
	int in[6] = {*x};
	for (int i = 0; i < nw; i++)
		in[1 + i] = w[i];
	if (at->failed) {
		attrs_clear(at);
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	int y = cnnf_graph_value(g, yname);
	if (y < 0) {
		attrs_clear(at);
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	cnnf_attr *a = NULL;
	if (at->n) {
		if (!(a = malloc((size_t)at->n * sizeof *a))) {
			attrs_clear(at);
			cnnf_error("%s: out of memory", g->file);
			return -1;
		}
		memcpy(a, at->a, (size_t)at->n * sizeof *a);
	}
	int nattr = at->n;
	at->n = 0; /* the graph owns them now, whatever the outcome */
	if (cnnf_graph_add_node(g, node, op, 1 + nw, in, 1, &y, nattr, a))
		return -1;
	*x = y;
	return 0;
}

/* A conv layer, or an fc layer as a convolution whose kernel is its whole input. */
static int add_conv(cnnf_graph *g, const cnnf_layer *l, const char *node, const char *y, int *x)
{
	int fc = l->type == CNNF_LAYER_FC;
	int64_t wd[4] = {l->out, l->in_c, fc ? l->in_h : l->kh, fc ? l->in_w : l->kw};
	int64_t bd[1] = {l->out};
	int w[2];
	if ((w[0] = add_init(g, node, "weight", l->weight, 4, wd)) < 0 ||
	    (w[1] = add_init(g, node, "bias", l->bias, 1, bd)) < 0)
		return -1;
	attrs at = {.n = 0};
	int pad = fc ? 0 : l->pad, s = fc ? 1 : l->stride, d = fc ? 1 : l->dilation;
	attr_ints(&at, "kernel_shape", 2, wd[2], wd[3]);
	attr_ints(&at, "pads", 4, pad, pad);
	attr_ints(&at, "strides", 2, s, s);
	attr_ints(&at, "dilations", 2, d, d);
	return add_node(g, node, y, "Conv", x, w, 2, &at);
}

static int add_pool(cnnf_graph *g, const cnnf_layer *l, const char *node, const char *y, int *x)
{
	attrs at = {.n = 0};
	attr_ints(&at, "kernel_shape", 2, l->kh, l->kw);
	attr_ints(&at, "strides", 2, l->stride, l->stride);
	attr_ints(&at, "pads", 4, 0, 0);
	attr_int(&at, "ceil_mode", 0);
	return add_node(g, node, y, l->type == CNNF_LAYER_MAXPOOL ? "MaxPool" : "AveragePool", x,
	                NULL, 0, &at);
}

static int add_batchnorm(cnnf_graph *g, const cnnf_layer *l, const char *node, const char *y,
                         int *x)
{
	int64_t d[1] = {l->in_c};
	int w[4];
	if ((w[0] = add_init(g, node, "scale", l->weight, 1, d)) < 0 ||
	    (w[1] = add_init(g, node, "bias", l->bias, 1, d)) < 0 ||
	    (w[2] = add_init(g, node, "mean", l->mean, 1, d)) < 0 ||
	    (w[3] = add_init(g, node, "var", l->var, 1, d)) < 0)
		return -1;
	attrs at = {.n = 0};
	/*
	 * ONNX's epsilon is a float; the model's is a double, which the
	 * attribute keeps too (BatchNormalization uses it): the same bits as
	 * the model's layer always gave.
	 */
	attr_float(&at, "epsilon", l->eps);
	return add_node(g, node, y, "BatchNormalization", x, w, 4, &at);
}

static int build(cnnf_graph *g, const cnnf_model *m, int nlayers)
{
	int x = cnnf_graph_value(g, "input");
	if (x < 0) {
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	int64_t dim[4] = {-1, m->channels, m->height, m->width};
	if (cnnf_graph_add_input(g, x, CNNF_DT_F32, 4, dim))
		return -1;
	/* The last layer that makes a node writes "output", so that callers can find it by name. */
	int last = -1;
	for (int i = 0; i < nlayers; i++)
		if (m->layers[i].type != CNNF_LAYER_DROPOUT)
			last = i;
	for (int i = 0; i < nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		char node[32];
		snprintf(node, sizeof node, "%s%d", cnnf_model_layer_name(l->type), i + 1);
		const char *y = i == last ? "output" : node;
		attrs at = {.n = 0};
		int rc = 0;
		switch (l->type) {
		case CNNF_LAYER_CONV:
		case CNNF_LAYER_FC:
			rc = add_conv(g, l, node, y, &x);
			break;
		case CNNF_LAYER_RELU:
			rc = add_node(g, node, y, "Relu", &x, NULL, 0, &at);
			break;
		case CNNF_LAYER_MAXPOOL:
		case CNNF_LAYER_AVGPOOL:
			rc = add_pool(g, l, node, y, &x);
			break;
		case CNNF_LAYER_BATCHNORM:
			rc = add_batchnorm(g, l, node, y, &x);
			break;
		case CNNF_LAYER_DROPOUT:
			continue; /* the identity at inference: no node, no copy */
		case CNNF_LAYER_SOFTMAX:
			attr_int(&at, "axis", 1);
			rc = add_node(g, node, y, "Softmax", &x, NULL, 0, &at);
			break;
		}
		if (rc)
			return -1;
	}
	/* Only dropout layers: the output must still be a value of its own. */
	attrs at = {.n = 0};
	if (last < 0 && add_node(g, "identity", "output", "Identity", &x, NULL, 0, &at))
		return -1;
	return cnnf_graph_add_output(g, x);
}

int cnnf_model_graph_layers(const cnnf_model *m, const char *name, int nlayers, cnnf_graph **out)
{
	if (m->weights_init) {
		cnnf_error("%s: the model has no weights yet (weights init): train it first", name);
		return -1;
	}
	if (nlayers < 1 || nlayers > m->nlayers) {
		cnnf_error("%s: %d layers asked of a model of %d", name, nlayers, m->nlayers);
		return -1;
	}
	cnnf_graph *g = cnnf_graph_new(name);
	if (!g)
		return -1;
	g->opset = CHAIN_OPSET;
	if (build(g, m, nlayers) || cnnf_graph_finish(g)) {
		cnnf_graph_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

int cnnf_model_graph(const cnnf_model *m, const char *name, cnnf_graph **out)
{
	return cnnf_model_graph_layers(m, name, m->nlayers, out);
}
