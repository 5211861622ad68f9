/* pass.c: graph rewrites before a run: Conv+Relu fusion and the dense form of patch classifiers. */
#include "nn/pass.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* How many nodes read value v (an input read twice by one node counts twice). */
static int readers(const cnnf_graph *g, int v)
{
	int c = 0;
	for (int i = 0; i < g->nnode; i++)
		for (int k = 0; k < g->node[i].nin; k++)
			c += g->node[i].in[k] == v;
	return c;
}

static int is_graph_output(const cnnf_graph *g, int v)
{
	for (int i = 0; i < g->nout; i++)
		if (g->out[i] == v)
			return 1;
	return 0;
}

/* A fusion's list of nodes to drop, all 0, once g is finished and not prepared; NULL with a message. */
static unsigned char *drop_list(cnnf_graph *g)
{
	if (!g->finished || g->prepared) {
		cnnf_error("%s: a graph is rewritten after it is finished and before it is prepared",
			   g->file);
		return NULL;
	}
	unsigned char *drop = calloc((size_t)g->nnode + 1, 1);
	if (!drop)
		cnnf_error("%s: out of memory", g->file);
	return drop;
}

int cnnf_pass_fuse(cnnf_graph *g)
{
	unsigned char *drop = drop_list(g);
	if (!drop)
		return -1;
	int fused = 0;
	for (int i = 0; i < g->nnode; i++) {
		cnnf_node *r = &g->node[i];
		if (strcmp(r->op_type, "Relu") || r->nin != 1 || r->in[0] < 0 || r->out[0] < 0)
			continue;
		int v = r->in[0], p = g->val[v].producer;
		if (p < 0 || drop[p])
			continue;
		cnnf_node *c = &g->node[p];
		if (!c->op->fuses_relu || c->relu || c->out[0] != v || is_graph_output(g, v) ||
		    readers(g, v) != 1)
			continue;
		c->relu = 1;
		/* The producer writes the Relu's output; its own becomes a value no node makes. */
		c->out[0] = r->out[0];
		drop[i] = 1;
		fused++;
	}
	int rc = fused ? cnnf_graph_drop_nodes(g, drop) : 0;
	free(drop);
	return rc < 0 ? -1 : fused;
}

/*
 * Whether MaxPool m is one a conv can take: 2-D, stride 1, no pads,
 * floor mode, no Indices; its window in k and d. 0 no, 1 yes, -1 error.
 */
static int poolable(const cnnf_graph *g, const cnnf_node *m, int k[2], int d[2])
{
	const char *ap;
	const int64_t *ks, *st, *dl, *pads;
	size_t nk, ns, nd, np;
	int64_t ceil_mode, so;
	if (m->nin != 1 || m->in[0] < 0 || m->out[0] < 0 || (m->nout > 1 && m->out[1] >= 0))
		return 0;
	if (cnnf_node_attr_string(g, m, "auto_pad", "NOTSET", &ap) ||
	    cnnf_node_attr_ints(g, m, "kernel_shape", &ks, &nk) ||
	    cnnf_node_attr_ints(g, m, "strides", &st, &ns) ||
	    cnnf_node_attr_ints(g, m, "dilations", &dl, &nd) ||
	    cnnf_node_attr_ints(g, m, "pads", &pads, &np) ||
	    cnnf_node_attr_int(g, m, "ceil_mode", 0, &ceil_mode) ||
	    cnnf_node_attr_int(g, m, "storage_order", 0, &so))
		return -1;
	if ((strcmp(ap, "NOTSET") && strcmp(ap, "VALID")) || ceil_mode || so || !ks || nk != 2 ||
	    (st && ns != 2) || (dl && nd != 2))
		return 0;
	for (size_t i = 0; i < np; i++)
		if (pads[i])
			return 0;
	for (int a = 0; a < 2; a++) {
		if ((st && st[a] != 1) || ks[a] < 1 || ks[a] > 64 || (dl && (dl[a] < 1 || dl[a] > (1 << 24))))
			return 0;
		k[a] = (int)ks[a], d[a] = dl ? (int)dl[a] : 1;
	}
	return 1;
}

int cnnf_pass_fuse_pool(cnnf_graph *g)
{
	unsigned char *drop = drop_list(g);
	if (!drop)
		return -1;
	int fused = 0, rc = 0;
	for (int i = 0; i < g->nnode && rc >= 0; i++) {
		cnnf_node *m = &g->node[i];
		int k[2], d[2];
		if (strcmp(m->op_type, "MaxPool") || (rc = poolable(g, m, k, d)) <= 0)
			continue;
		rc = 0;
		int v = m->in[0], p = g->val[v].producer;
		if (p < 0 || drop[p])
			continue;
		cnnf_node *c = &g->node[p];
		int64_t group = 1;
		const cnnf_value *w = c->nin > 1 && c->in[1] >= 0 ? &g->val[c->in[1]] : NULL;
		if (!c->op->fuses_pool || c->pool_k[0] || c->out[0] != v || is_graph_output(g, v) ||
		    readers(g, v) != 1 || !w || !w->is_init || w->ndim != 4)
			continue;
		if (cnnf_node_attr_int(g, c, "group", 1, &group)) {
			rc = -1;
			break;
		}
		if (group != 1)
			continue;
		c->pool_k[0] = k[0], c->pool_k[1] = k[1], c->pool_d[0] = d[0], c->pool_d[1] = d[1];
		/* The conv writes the pool's output; its own becomes a value no node makes. */
		c->out[0] = m->out[0];
		drop[i] = 1;
		fused++;
	}
	if (rc >= 0 && fused)
		rc = cnnf_graph_drop_nodes(g, drop);
	free(drop);
	return rc < 0 ? -1 : fused;
}

/* ---- The dense form ---- */

/*
 * The walk over the nodes: dil[v] is the dilation of value v's rows and
 * columns in the dense form (the product of the strides before it; 0 for
 * a constant). It runs twice: first only checking (apply 0), so that a
 * graph refused is left as it was, then rewriting the windows.
 */
typedef struct dense_ctx {
	cnnf_graph *g;
	char *why;
	size_t len;
	int apply;
	int64_t (*dil)[2];
} dense_ctx;

static int refuse(dense_ctx *d, const cnnf_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Why the dense form does not apply, in the caller's buffer; returns 1. */
static int refuse(dense_ctx *d, const cnnf_node *n, const char *fmt, ...)
{
	if (d->len) {
		int at = n ? snprintf(d->why, d->len, "node '%s' (%s): ", n->name, n->op_type) : 0;
		if (at < 0 || (size_t)at >= d->len)
			at = 0;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->why + at, d->len - (size_t)at, fmt, ap);
		va_end(ap);
	}
	return 1;
}

/*
 * An initializer that is the same at every position of the map it is
 * broadcast over: its last two axes (which align with H and W) are 1.
 */
static int uniform(const cnnf_value *v)
{
	if (!v->is_init)
		return 0;
	if (v->ndim >= 1 && v->dim[v->ndim - 1] != 1)
		return 0;
	return v->ndim < 2 || v->dim[v->ndim - 2] == 1;
}

/*
 * The dilation of n's inputs that depend on the image, which must agree, in
 * out; its constant inputs must be uniform (BatchNormalization's are per
 * channel by definition, a window's weights are its kernel). 0, or 1.
 */
static int map_input(dense_ctx *d, const cnnf_node *n, int window, int64_t out[2])
{
	int seen = 0;
	for (int k = 0; k < n->nin; k++) {
		int v = n->in[k];
		if (v < 0)
			continue;
		if (!d->dil[v][0]) {
			if (k == 0)
				return refuse(d, n, "input 0 is a constant");
			if (!window && strcmp(n->op_type, "BatchNormalization") &&
			    !uniform(&d->g->val[v]))
				return refuse(d, n, "input %d is not a constant the same over the map", k);
			continue;
		}
		if (window && k > 0)
			return refuse(d, n, "its weights depend on the image");
		if (seen && (d->dil[v][0] != out[0] || d->dil[v][1] != out[1]))
			return refuse(d, n, "its inputs come from different strides");
		out[0] = d->dil[v][0], out[1] = d->dil[v][1];
		seen = 1;
	}
	return 0;
}

/* An INTS attribute of 2 values, or the default when absent: 0; 1 for another count; -1. */
static int ints2(const cnnf_graph *g, const cnnf_node *n, const char *name, int64_t def,
		 int64_t v[2])
{
	const int64_t *a;
	size_t c;
	if (cnnf_node_attr_ints(g, n, name, &a, &c) < 0)
		return -1;
	if (!a) {
		v[0] = v[1] = def;
		return 0;
	}
	if (c != 2)
		return 1;
	v[0] = a[0], v[1] = a[1];
	return 0;
}

/* Conv, MaxPool, AveragePool: strides become 1, dilations are multiplied. */
static int dense_window(dense_ctx *d, cnnf_node *n, int64_t out[2])
{
	cnnf_graph *g = d->g;
	int64_t in[2] = {0, 0};
	int rc = map_input(d, n, 1, in);
	if (rc)
		return rc;
	const char *ap;
	const int64_t *pads, *ks;
	size_t np, nk;
	int64_t s[2], dl[2], ceil_mode = 0;
	if (cnnf_node_attr_string(g, n, "auto_pad", "NOTSET", &ap) ||
	    cnnf_node_attr_ints(g, n, "pads", &pads, &np) ||
	    cnnf_node_attr_int(g, n, "ceil_mode", 0, &ceil_mode) ||
	    cnnf_node_attr_ints(g, n, "kernel_shape", &ks, &nk))
		return -1;
	if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
		return refuse(d, n, "auto_pad %s pads inside the patch", ap);
	for (size_t i = 0; i < np; i++)
		if (pads[i])
			return refuse(d, n, "it pads inside the patch");
	if (ceil_mode)
		return refuse(d, n, "ceil_mode makes windows that overhang the patch");
	if (n->nout > 1 && n->out[1] >= 0)
		return refuse(d, n, "output 1 (Indices) is used");
	if (!ks) {
		/* Conv without kernel_shape: the weights' rank says. */
		const cnnf_value *w = n->nin > 1 && n->in[1] >= 0 ? &g->val[n->in[1]] : NULL;
		nk = w && w->is_init && w->ndim >= 2 ? (size_t)(w->ndim - 2) : 0;
	}
	if (nk != 2)
		return refuse(d, n, "only 2-D windows run densely");
	int r1 = ints2(g, n, "strides", 1, s), r2 = ints2(g, n, "dilations", 1, dl);
	if (r1 < 0 || r2 < 0)
		return -1;
	if (r1 || r2)
		return refuse(d, n, "strides or dilations do not have 2 values");
	int64_t one[2] = {1, 1}, nd[2] = {dl[0] * in[0], dl[1] * in[1]};
	out[0] = in[0] * s[0], out[1] = in[1] * s[1];
	/* Beyond this no patch fits in memory anyway; it keeps the products far from overflow. */
	if (out[0] > (1 << 24) || out[1] > (1 << 24) || nd[0] > (1 << 24) || nd[1] > (1 << 24))
		return refuse(d, n, "the strides multiply to more than 2^24");
	if (!d->apply)
		return 0;
	/*
	 * AveragePool takes dilations from opset 19; the dense form is that
	 * operator, whose other attributes mean what they meant since opset 11.
	 */
	int opset = g->opset;
	if (!strcmp(n->op_type, "AveragePool") && g->opset < 19)
		g->opset = 19;
	rc = cnnf_node_set_ints(g, n, "strides", one, 2) || cnnf_node_set_ints(g, n, "dilations", nd, 2);
	g->opset = opset;
	return rc ? -1 : 0;
}

/* Operators that act on each position on its own (with constants per channel at most). */
static const char *const pointwise[] = {
	"Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish",
	"Elu", "Selu", "Softplus", "Exp", "Log", "Abs", "Neg", "Sqrt", "Identity", "Dropout",
	"BatchNormalization", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", NULL};

static int dense_node(dense_ctx *d, cnnf_node *n, int64_t out[2])
{
	const char *op = n->op_type;
	if (!strcmp(op, "Conv") || !strcmp(op, "MaxPool") || !strcmp(op, "AveragePool"))
		return dense_window(d, n, out);
	for (int i = 0; pointwise[i]; i++)
		if (!strcmp(op, pointwise[i])) {
			if (n->nout > 1 && n->out[1] >= 0)
				return refuse(d, n, "output 1 is used");
			return map_input(d, n, 0, out);
		}
	if (!strcmp(op, "Concat") || !strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
		int concat = !strcmp(op, "Concat");
		int64_t axis;
		/* Before opset 13 Softmax flattens the axes from `axis` on: over the whole map. */
		if (!concat && d->g->opset < 13)
			return refuse(d, n, "before opset 13 it normalises over the whole map");
		if (cnnf_node_attr_int(d->g, n, "axis", concat ? 0 : -1, &axis))
			return -1;
		if (axis != 1 && axis != -3)
			return refuse(d, n, "only over channels (axis 1) does it run densely");
		return map_input(d, n, 0, out);
	}
	return refuse(d, n, "the operator does not run densely");
}

static int dense_walk(dense_ctx *d)
{
	cnnf_graph *g = d->g;
	memset(d->dil, 0, ((size_t)g->nval + 1) * sizeof *d->dil);
	d->dil[g->in[0]][0] = d->dil[g->in[0]][1] = 1;
	for (int i = 0; i < g->nnode; i++) {
		cnnf_node *n = &g->node[i];
		int reads_map = 0;
		for (int k = 0; k < n->nin; k++)
			reads_map |= n->in[k] >= 0 && d->dil[n->in[k]][0];
		if (!reads_map)
			continue; /* constants stay constants */
		int64_t out[2] = {0, 0};
		int rc = dense_node(d, n, out);
		if (rc)
			return rc;
		for (int k = 0; k < n->nout; k++)
			if (n->out[k] >= 0)
				d->dil[n->out[k]][0] = out[0], d->dil[n->out[k]][1] = out[1];
	}
	return 0;
}

int cnnf_pass_dense(cnnf_graph *g, char *why, size_t len)
{
	if (len)
		why[0] = 0;
	if (!g->finished || g->prepared) {
		cnnf_error("%s: a graph is rewritten after it is finished and before it is prepared",
			   g->file);
		return -1;
	}
	dense_ctx d = {g, why, len, 0, NULL};
	if (g->nin != 1)
		return refuse(&d, NULL, "the graph has %d inputs", g->nin);
	if (!(d.dil = malloc(((size_t)g->nval + 1) * sizeof *d.dil))) {
		cnnf_error("%s: out of memory", g->file);
		return -1;
	}
	int rc = dense_walk(&d);
	if (!rc) {
		d.apply = 1;
		rc = dense_walk(&d);
	}
	/* The declared input is the patch; the dense form takes maps of any size. */
	if (!rc && g->in_ndim[0] == 4)
		g->in_dim[0][2] = g->in_dim[0][3] = -1;
	free(d.dil);
	return rc;
}
