/* graph.c: building, checking, preparing (shapes, folding, limits) and running operator graphs. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "nn/graph.h"
#include "nn/graph_mem.h"
#include "nn/ops.h"

void cnnf_graph_limits_init(cnnf_graph_limits *l)
{
	l->max_elements = (uint64_t)1 << 28;
	l->max_activation = (uint64_t)1 << 32;
	l->max_params = (uint64_t)1 << 28;
}

/* ---- Small helpers ---- */

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Grow *p (of *cap elements of size sz) to hold at least n; 0 or -1. */
static int grow(void **p, int *cap, int n, size_t sz)
{
	if (n <= *cap)
		return 0;
	int c = *cap ? *cap : 16;
	while (c < n) {
		if (c > (1 << 28))
			return -1;
		c *= 2;
	}
	void *q = realloc(*p, (size_t)c * sz);
	if (!q)
		return -1;
	memset((char *)q + (size_t)*cap * sz, 0, (size_t)(c - *cap) * sz);
	*p = q;
	*cap = c;
	return 0;
}

static int oom(const cnnf_graph *g)
{
	cnnf_error("%s: out of memory", g->file);
	return -1;
}

size_t cnnf_graph_type_size(int type)
{
	return type == CNNF_DT_I64 ? 8 : 4;
}

uint64_t cnnf_value_count(const cnnf_value *v)
{
	uint64_t n = 1;
	for (int i = 0; i < v->ndim; i++)
		n *= (uint64_t)v->dim[i];
	return n;
}

/* The elements of a shape, or UINT64_MAX when it overflows or a dim is negative. */
static uint64_t shape_count(int ndim, const int64_t *dim)
{
	uint64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (dim[i] < 0)
			return UINT64_MAX;
		if (dim[i] && n > UINT64_MAX / 2 / (uint64_t)dim[i])
			return UINT64_MAX;
		n *= (uint64_t)dim[i];
	}
	return n;
}

const char *cnnf_graph_shape_str(char *buf, size_t len, int ndim, const int64_t *dim)
{
	if (ndim == 0) {
		snprintf(buf, len, "a scalar");
		return buf;
	}
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < ndim && k < len; i++) {
		int r;
		if (dim[i] < 0)
			r = snprintf(buf + k, len - k, "%s?", i ? "x" : "");
		else
			r = snprintf(buf + k, len - k, "%s%" PRId64, i ? "x" : "", dim[i]);
		if (r < 0)
			break;
		k += (size_t)r;
	}
	return buf;
}

static void attr_clear(cnnf_attr *a)
{
	free(a->name);
	free(a->s);
	free(a->ints);
	free(a->floats);
	if (a->t) {
		free(a->t->name);
		free(a->t->data);
		free(a->t);
	}
}

static void attrs_free(cnnf_attr *a, int n)
{
	if (!a)
		return;
	for (int i = 0; i < n; i++)
		attr_clear(&a[i]);
	free(a);
}

/* Free what node n owns (its state apart). */
static void node_clear(cnnf_node *n)
{
	free(n->name);
	free(n->op_type);
	free(n->in);
	free(n->out);
	attrs_free(n->attr, n->nattr);
	free(n->param);
}

/* ---- Building ---- */

cnnf_graph *cnnf_graph_new(const char *file)
{
	cnnf_graph *g = calloc(1, sizeof *g);
	if (!g || !(g->file = dup_str(file ? file : "model"))) {
		free(g);
		cnnf_error("%s: out of memory", file ? file : "model");
		return NULL;
	}
	g->opset = 17;
	cnnf_graph_limits_init(&g->limits);
	return g;
}

static void release_states(cnnf_graph *g)
{
	for (int i = 0; i < g->nnode; i++) {
		cnnf_node *n = &g->node[i];
		if (n->state && n->op && n->op->release)
			n->op->release(n);
		n->state = NULL;
	}
}

void cnnf_graph_free(cnnf_graph *g)
{
	if (!g)
		return;
	release_states(g);
	cnnf_graph_mem_free(g);
	for (int i = 0; i < g->nnode; i++)
		node_clear(&g->node[i]);
	for (int i = 0; i < g->nval; i++) {
		free(g->val[i].name);
		free(g->val[i].data);
	}
	free(g->node);
	free(g->val);
	free(g->in);
	free(g->out);
	free(g->in_ndim);
	free(g->in_dim);
	free(g->in_type);
	free(g->hash);
	free(g->file);
	free(g);
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Put value v in the hash table, growing it to stay at most half full. */
static int hash_put(cnnf_graph *g, int v)
{
	if (2 * (g->nval + 1) > g->hash_cap) {
		int cap = g->hash_cap ? 2 * g->hash_cap : 64;
		int *h = malloc((size_t)cap * sizeof *h);
		if (!h)
			return -1;
		for (int i = 0; i < cap; i++)
			h[i] = -1;
		for (int i = 0; i < g->nval; i++) {
			if (i == v)
				continue;
			uint32_t k = hash_name(g->val[i].name) & (uint32_t)(cap - 1);
			while (h[k] >= 0)
				k = (k + 1) & (uint32_t)(cap - 1);
			h[k] = i;
		}
		free(g->hash);
		g->hash = h;
		g->hash_cap = cap;
	}
	uint32_t k = hash_name(g->val[v].name) & (uint32_t)(g->hash_cap - 1);
	while (g->hash[k] >= 0)
		k = (k + 1) & (uint32_t)(g->hash_cap - 1);
	g->hash[k] = v;
	return 0;
}

int cnnf_graph_find(const cnnf_graph *g, const char *name)
{
	if (!g->hash_cap)
		return -1;
	uint32_t k = hash_name(name) & (uint32_t)(g->hash_cap - 1);
	while (g->hash[k] >= 0) {
		if (strcmp(g->val[g->hash[k]].name, name) == 0)
			return g->hash[k];
		k = (k + 1) & (uint32_t)(g->hash_cap - 1);
	}
	return -1;
}

int cnnf_graph_value(cnnf_graph *g, const char *name)
{
	int v = cnnf_graph_find(g, name);
	if (v >= 0)
		return v;
	if (grow((void **)&g->val, &g->cap_val, g->nval + 1, sizeof *g->val))
		return oom(g);
	cnnf_value *x = &g->val[g->nval];
	memset(x, 0, sizeof *x);
	if (!(x->name = dup_str(name)))
		return oom(g);
	x->ndim = -1;
	x->producer = -1;
	x->last_use = -1;
	if (hash_put(g, g->nval)) {
		free(x->name);
		x->name = NULL;
		return oom(g);
	}
	return g->nval++;
}

/* Check a shape against the element limit; "what 'name'" names it in the message. */
static int check_shape(const cnnf_graph *g, const char *what, const char *name, int ndim,
		       const int64_t *dim)
{
	if (ndim < 0 || ndim > CNNF_GRAPH_MAX_DIMS) {
		cnnf_error("%s: %s '%s' has %d dimensions, more than the %d supported", g->file, what,
			   name, ndim, CNNF_GRAPH_MAX_DIMS);
		return -1;
	}
	for (int i = 0; i < ndim; i++)
		if (dim[i] < 0) {
			cnnf_error("%s: %s '%s' has a negative dimension (%" PRId64 ")", g->file, what,
				   name, dim[i]);
			return -1;
		}
	uint64_t n = shape_count(ndim, dim);
	if (n > g->limits.max_elements) {
		char b[160];
		cnnf_error("%s: %s '%s' (%s) has more elements than the limit of %" PRIu64, g->file,
			   what, name, cnnf_graph_shape_str(b, sizeof b, ndim, dim), g->limits.max_elements);
		return -1;
	}
	return 0;
}

int cnnf_graph_set_init(cnnf_graph *g, int v, int type, int ndim, const int64_t *dim, void *data)
{
	cnnf_value *x = &g->val[v];
	if (x->is_init) {
		cnnf_error("%s: initializer '%s' given twice", g->file, x->name);
		goto fail;
	}
	if (type != CNNF_DT_F32 && type != CNNF_DT_I64) {
		cnnf_error("%s: initializer '%s' has element type %d, not float or int64", g->file,
			   x->name, type);
		goto fail;
	}
	if (check_shape(g, "initializer", x->name, ndim, dim))
		goto fail;
	if (type == CNNF_DT_F32) {
		uint64_t n = shape_count(ndim, dim);
		if (n > g->limits.max_params || g->params > g->limits.max_params - n) {
			cnnf_error("%s: the initializers have more than %" PRIu64
				   " parameters (at '%s')",
				   g->file, g->limits.max_params, x->name);
			goto fail;
		}
		g->params += n;
	}
	x->type = type;
	x->ndim = ndim;
	if (ndim > 0)
		memcpy(x->dim, dim, (size_t)ndim * sizeof *dim);
	free(x->data);
	x->data = data;
	x->is_init = 1;
	x->is_const = 1;
	return 0;
fail:
	free(data);
	return -1;
}

int cnnf_graph_add_node(cnnf_graph *g, const char *name, const char *op_type, int nin,
			const int *in, int nout, const int *out, int nattr, cnnf_attr *attr)
{
	const cnnf_op *op = cnnf_ops_find(op_type);
	if (!op) {
		if (name && *name)
			cnnf_error("%s: node '%s' (%s): operator not supported", g->file, name, op_type);
		else
			cnnf_error("%s: node %d (%s): operator not supported", g->file, g->nnode + 1,
				   op_type);
		goto fail;
	}
	if (nin < 0 || nout < 1 || nin > 1 << 16 || nout > 1 << 16) {
		cnnf_error("%s: node '%s' (%s): %d inputs and %d outputs", g->file, name ? name : "",
			   op_type, nin, nout);
		goto fail;
	}
	if (grow((void **)&g->node, &g->cap_node, g->nnode + 1, sizeof *g->node)) {
		oom(g);
		goto fail;
	}
	cnnf_node *n = &g->node[g->nnode];
	memset(n, 0, sizeof *n);
	n->name = dup_str(name ? name : "");
	n->op_type = dup_str(op_type);
	n->in = malloc((size_t)(nin ? nin : 1) * sizeof *n->in);
	n->out = malloc((size_t)nout * sizeof *n->out);
	if (!n->name || !n->op_type || !n->in || !n->out) {
		free(n->name);
		free(n->op_type);
		free(n->in);
		free(n->out);
		oom(g);
		goto fail;
	}
	memcpy(n->in, in, (size_t)nin * sizeof *in);
	memcpy(n->out, out, (size_t)nout * sizeof *out);
	n->nin = nin;
	n->nout = nout;
	n->op = op;
	n->attr = attr;
	n->nattr = nattr;
	g->nnode++;
	return 0;
fail:
	attrs_free(attr, nattr);
	return -1;
}

int cnnf_graph_add_input(cnnf_graph *g, int v, int type, int ndim, const int64_t *dim)
{
	if (ndim > CNNF_GRAPH_MAX_DIMS) {
		cnnf_error("%s: input '%s' has %d dimensions, more than the %d supported", g->file,
			   g->val[v].name, ndim, CNNF_GRAPH_MAX_DIMS);
		return -1;
	}
	if (type != CNNF_DT_F32 && type != CNNF_DT_I64) {
		cnnf_error("%s: input '%s' has element type %d, not float or int64", g->file,
			   g->val[v].name, type);
		return -1;
	}
	for (int i = 0; i < g->nin; i++)
		if (g->in[i] == v) {
			cnnf_error("%s: input '%s' declared twice", g->file, g->val[v].name);
			return -1;
		}
	int *a = realloc(g->in, (size_t)(g->nin + 1) * sizeof *a);
	if (!a)
		return oom(g);
	g->in = a;
	int *b = realloc(g->in_ndim, (size_t)(g->nin + 1) * sizeof *b);
	if (!b)
		return oom(g);
	g->in_ndim = b;
	int *t = realloc(g->in_type, (size_t)(g->nin + 1) * sizeof *t);
	if (!t)
		return oom(g);
	g->in_type = t;
	int64_t(*d)[CNNF_GRAPH_MAX_DIMS] = realloc(g->in_dim, (size_t)(g->nin + 1) * sizeof *d);
	if (!d)
		return oom(g);
	g->in_dim = d;
	g->in[g->nin] = v;
	g->in_ndim[g->nin] = ndim;
	g->in_type[g->nin] = type;
	for (int i = 0; i < CNNF_GRAPH_MAX_DIMS; i++)
		g->in_dim[g->nin][i] = i < ndim ? dim[i] : -1;
	g->nin++;
	return 0;
}

int cnnf_graph_add_output(cnnf_graph *g, int v)
{
	int *a = realloc(g->out, (size_t)(g->nout + 1) * sizeof *a);
	if (!a)
		return oom(g);
	g->out = a;
	g->out[g->nout++] = v;
	g->val[v].is_output = 1;
	return 0;
}

int cnnf_graph_input_type(const cnnf_graph *g, int i)
{
	return g->in_type[i];
}

/* ---- Messages and attributes, for operators ---- */

int cnnf_graph_node_error(const cnnf_graph *g, const cnnf_node *n, const char *fmt, ...)
{
	char msg[CNNF_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n->name[0])
		cnnf_error("%s: node '%s' (%s): %s", g->file, n->name, n->op_type, msg);
	else
		cnnf_error("%s: node %d (%s): %s", g->file, (int)(n - g->node) + 1, n->op_type, msg);
	return -1;
}

const cnnf_attr *cnnf_node_attr(const cnnf_node *n, const char *name)
{
	for (int i = 0; i < n->nattr; i++)
		if (strcmp(n->attr[i].name, name) == 0)
			return &n->attr[i];
	return NULL;
}

static const char *attr_type_name(int t)
{
	static const char *const names[] = {"undefined", "a float", "an int",   "a string", "a tensor",
					    "a graph",   "floats",  "ints",     "strings"};
	return t >= 0 && t <= 8 ? names[t] : "of an unknown type";
}

/*
 * Node n's attribute called name in *out when it is there with the given
 * type: 1; 0 when it is absent; -1 with a message when it has another type.
 */
static int attr_get(const cnnf_graph *g, const cnnf_node *n, const char *name, int type,
		    const cnnf_attr **out)
{
	const cnnf_attr *a = cnnf_node_attr(n, name);
	if (!a)
		return 0;
	if (a->type != type)
		return cnnf_graph_node_error(g, n, "attribute '%s' is %s, not %s", a->name,
					     attr_type_name(a->type), attr_type_name(type));
	*out = a;
	return 1;
}

int cnnf_node_attr_int(const cnnf_graph *g, const cnnf_node *n, const char *name, int64_t def,
		       int64_t *out)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_INT, &a);
	*out = r > 0 ? a->i : def;
	return r < 0 ? -1 : 0;
}

int cnnf_node_attr_float(const cnnf_graph *g, const cnnf_node *n, const char *name, float def,
			 float *out)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_FLOAT, &a);
	*out = r > 0 ? a->f : def;
	return r < 0 ? -1 : 0;
}

int cnnf_node_attr_double(const cnnf_graph *g, const cnnf_node *n, const char *name, double def,
			  double *out)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_FLOAT, &a);
	*out = r <= 0 ? def : (float)a->d == a->f ? a->d : (double)a->f;
	return r < 0 ? -1 : 0;
}

int cnnf_node_attr_string(const cnnf_graph *g, const cnnf_node *n, const char *name,
			  const char *def, const char **out)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_STRING, &a);
	*out = r > 0 ? (a->s ? a->s : "") : def;
	return r < 0 ? -1 : 0;
}

int cnnf_node_attr_ints(const cnnf_graph *g, const cnnf_node *n, const char *name,
			const int64_t **out, size_t *count)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_INTS, &a);
	*out = r > 0 ? a->ints : NULL;
	*count = r > 0 ? a->n : 0;
	return r < 0 ? -1 : 0;
}

int cnnf_node_attr_floats(const cnnf_graph *g, const cnnf_node *n, const char *name,
			  const float **out, size_t *count)
{
	const cnnf_attr *a;
	int r = attr_get(g, n, name, CNNF_ATTR_FLOATS, &a);
	*out = r > 0 ? a->floats : NULL;
	*count = r > 0 ? a->n : 0;
	return r < 0 ? -1 : 0;
}

cnnf_value *cnnf_node_in(const cnnf_graph *g, const cnnf_node *n, int i)
{
	return i >= 0 && i < n->nin && n->in[i] >= 0 ? &g->val[n->in[i]] : NULL;
}

cnnf_value *cnnf_node_out(const cnnf_graph *g, const cnnf_node *n, int i)
{
	return i >= 0 && i < n->nout && n->out[i] >= 0 ? &g->val[n->out[i]] : NULL;
}

int cnnf_graph_set_shape(const cnnf_graph *g, const cnnf_node *n, cnnf_value *v, int type,
			 int ndim, const int64_t *dim)
{
	if (!v)
		return 0;
	if (ndim < 0 || ndim > CNNF_GRAPH_MAX_DIMS)
		return cnnf_graph_node_error(g, n, "output '%s' would have %d dimensions, more than the %d supported",
					     v->name, ndim, CNNF_GRAPH_MAX_DIMS);
	char b[160];
	for (int i = 0; i < ndim; i++)
		if (dim[i] < 0)
			return cnnf_graph_node_error(g, n, "output '%s' would have a negative dimension (%s)",
						     v->name, cnnf_graph_shape_str(b, sizeof b, ndim, dim));
	if (shape_count(ndim, dim) > g->limits.max_elements)
		return cnnf_graph_node_error(g, n, "output '%s' (%s) would have more elements than the limit of %" PRIu64,
					     v->name, cnnf_graph_shape_str(b, sizeof b, ndim, dim),
					     g->limits.max_elements);
	if (type != CNNF_DT_F32 && type != CNNF_DT_I64)
		return cnnf_graph_node_error(g, n, "output '%s' would have element type %d", v->name,
					     type);
	v->type = type;
	v->ndim = ndim;
	if (ndim > 0)
		memcpy(v->dim, dim, (size_t)ndim * sizeof *dim);
	return 0;
}

int cnnf_value_ints(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *v,
		    int64_t **out, size_t *count)
{
	if (!v->is_const || !v->data)
		return cnnf_graph_node_error(g, n, "input '%s' must be a constant", v->name);
	uint64_t c = cnnf_value_count(v);
	int64_t *r = malloc((size_t)(c ? c : 1) * sizeof *r);
	if (!r)
		return cnnf_graph_node_error(g, n, "out of memory");
	for (uint64_t i = 0; i < c; i++) {
		if (v->type == CNNF_DT_I64) {
			r[i] = ((const int64_t *)v->data)[i];
		} else {
			float f = ((const float *)v->data)[i];
			if (!(f == (float)(int64_t)f && f > -9.2e18f && f < 9.2e18f)) {
				free(r);
				return cnnf_graph_node_error(g, n, "input '%s' must hold whole numbers",
							     v->name);
			}
			r[i] = (int64_t)f;
		}
	}
	*out = r;
	*count = (size_t)c;
	return 0;
}

/* ---- Finishing: parse, sort, check ---- */

static int parse_node(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_op *op = n->op;
	if (n->nin < op->min_in || n->nin > op->max_in) {
		if (op->min_in == op->max_in)
			return cnnf_graph_node_error(g, n, "has %d inputs, the operator takes %d", n->nin,
						     op->min_in);
		return cnnf_graph_node_error(g, n, "has %d inputs, the operator takes %d to %d",
					     n->nin, op->min_in, op->max_in);
	}
	if (n->nout < op->min_out || n->nout > op->max_out) {
		if (op->min_out == op->max_out)
			return cnnf_graph_node_error(g, n, "has %d outputs, the operator makes %d",
						     n->nout, op->min_out);
		return cnnf_graph_node_error(g, n, "has %d outputs, the operator makes %d to %d",
					     n->nout, op->min_out, op->max_out);
	}
	/* ONNX puts the required inputs first: only those after op->min_in may be left out. */
	for (int i = 0; i < op->min_in && i < n->nin; i++)
		if (n->in[i] < 0)
			return cnnf_graph_node_error(g, n, "input %d is required but left out", i);
	for (int i = 0; i < n->nattr; i++)
		if (n->attr[i].type == CNNF_ATTR_GRAPH)
			return cnnf_graph_node_error(g, n, "attribute '%s' is a graph (subgraphs are not supported)",
						     n->attr[i].name);
	if (op->param_size && !(n->param = calloc(1, op->param_size)))
		return cnnf_graph_node_error(g, n, "out of memory");
	return op->parse ? op->parse(g, n) : 0;
}

/* Each value's producer: the index of the node that makes it, -1 for none. */
static void set_producers(cnnf_graph *g)
{
	for (int i = 0; i < g->nval; i++)
		g->val[i].producer = -1;
	for (int i = 0; i < g->nnode; i++)
		for (int k = 0; k < g->node[i].nout; k++)
			if (g->node[i].out[k] >= 0)
				g->val[g->node[i].out[k]].producer = i;
}

/* Is value v there before any node runs (a graph input or an initializer)? */
static int is_source(const cnnf_graph *g, int v)
{
	if (g->val[v].is_init)
		return 1;
	for (int i = 0; i < g->nin; i++)
		if (g->in[i] == v)
			return 1;
	return 0;
}

int cnnf_graph_finish(cnnf_graph *g)
{
	int rc = -1, nn = g->nnode;
	int *indeg = NULL, *order = NULL, *live = NULL, *head = NULL, *next = NULL;
	cnnf_node *sorted = NULL;

	if (g->finished)
		return 0;
	if (g->nout == 0) {
		cnnf_error("%s: the graph has no outputs", g->file);
		return -1;
	}
	for (int i = 0; i < nn; i++)
		if (parse_node(g, &g->node[i]))
			return -1;

	/* Producers: each value made once, never an input or initializer. */
	for (int i = 0; i < g->nval; i++)
		g->val[i].producer = -1;
	for (int i = 0; i < nn; i++) {
		cnnf_node *n = &g->node[i];
		for (int k = 0; k < n->nout; k++) {
			int v = n->out[k];
			if (v < 0)
				continue;
			if (is_source(g, v))
				return cnnf_graph_node_error(g, n, "output '%s' is also a graph input or initializer",
							     g->val[v].name);
			if (g->val[v].producer >= 0)
				return cnnf_graph_node_error(g, n, "output '%s' is made by another node too",
							     g->val[v].name);
			g->val[v].producer = i;
		}
	}
	for (int i = 0; i < nn; i++) {
		cnnf_node *n = &g->node[i];
		for (int k = 0; k < n->nin; k++) {
			int v = n->in[k];
			if (v >= 0 && g->val[v].producer < 0 && !is_source(g, v))
				return cnnf_graph_node_error(g, n, "input '%s' is made by no node and is no graph input or initializer",
							     g->val[v].name);
		}
	}
	for (int i = 0; i < g->nout; i++) {
		int v = g->out[i];
		if (g->val[v].producer < 0 && !is_source(g, v)) {
			cnnf_error("%s: output '%s' is made by no node", g->file, g->val[v].name);
			return -1;
		}
	}

	indeg = calloc((size_t)nn + 1, sizeof *indeg);
	order = malloc(((size_t)nn + 1) * sizeof *order);
	live = calloc((size_t)nn + 1, sizeof *live);
	head = malloc(((size_t)nn + 1) * sizeof *head);
	/* Edges as linked lists: for node j, the nodes reading its outputs. */
	size_t nedge = 0;
	for (int i = 0; i < nn; i++)
		nedge += (size_t)g->node[i].nin;
	next = malloc((nedge + 1) * sizeof *next);
	int *edst = malloc((nedge + 1) * sizeof *edst);
	if (!indeg || !order || !live || !head || !next || !edst) {
		free(edst);
		oom(g);
		goto out;
	}
	for (int i = 0; i < nn; i++)
		head[i] = -1;
	size_t e = 0;
	for (int i = 0; i < nn; i++) {
		cnnf_node *n = &g->node[i];
		for (int k = 0; k < n->nin; k++) {
			int v = n->in[k];
			if (v < 0 || g->val[v].producer < 0)
				continue;
			int p = g->val[v].producer;
			edst[e] = i;
			next[e] = head[p];
			head[p] = (int)e++;
			indeg[i]++;
		}
	}
	/* Kahn's algorithm, taking ready nodes in file order so that a sorted file stays as it is. */
	int nq = 0, qh = 0;
	for (int i = 0; i < nn; i++)
		if (indeg[i] == 0)
			order[nq++] = i;
	while (qh < nq) {
		int j = order[qh++];
		/* Successors in file order need not be; sorting the ready queue is not worth it. */
		for (int x = head[j]; x >= 0; x = next[x])
			if (--indeg[edst[x]] == 0)
				order[nq++] = edst[x];
	}
	free(edst);
	if (nq < nn) {
		for (int i = 0; i < nn; i++)
			if (indeg[i] > 0) {
				cnnf_graph_node_error(g, &g->node[i], "is part of a cycle");
				goto out;
			}
	}

	/* Live nodes: those some graph output depends on (others are dropped). */
	for (int i = 0; i < g->nout; i++)
		if (g->val[g->out[i]].producer >= 0)
			live[g->val[g->out[i]].producer] = 1;
	for (int q = nn - 1; q >= 0; q--) {
		int j = order[q];
		if (!live[j])
			continue;
		cnnf_node *n = &g->node[j];
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0 && g->val[n->in[k]].producer >= 0)
				live[g->val[n->in[k]].producer] = 1;
	}

	/* Rebuild the node array in execution order, without the dead. */
	sorted = calloc((size_t)nn + 1, sizeof *sorted);
	if (!sorted) {
		oom(g);
		goto out;
	}
	int m = 0;
	for (int q = 0; q < nn; q++) {
		int j = order[q];
		if (live[j]) {
			sorted[m++] = g->node[j];
		} else {
			node_clear(&g->node[j]);
		}
	}
	free(g->node);
	g->node = sorted;
	g->nnode = m;
	g->cap_node = nn + 1;
	sorted = NULL;
	set_producers(g);
	g->finished = 1;
	rc = 0;
out:
	free(indeg);
	free(order);
	free(live);
	free(head);
	free(next);
	free(sorted);
	return rc;
}

/* ---- Rewriting ---- */

int cnnf_graph_drop_nodes(cnnf_graph *g, const unsigned char *drop)
{
	if (!g->finished || g->prepared) {
		cnnf_error("%s: a graph is rewritten after it is finished and before it is prepared",
			   g->file);
		return -1;
	}
	int m = 0;
	for (int i = 0; i < g->nnode; i++) {
		if (drop[i])
			node_clear(&g->node[i]);
		else
			g->node[m++] = g->node[i];
	}
	g->nnode = m;
	set_producers(g);
	return 0;
}

int cnnf_node_set_ints(cnnf_graph *g, cnnf_node *n, const char *name, const int64_t *v,
		       size_t count)
{
	int64_t *ints = malloc((count ? count : 1) * sizeof *ints);
	if (!ints)
		return oom(g);
	memcpy(ints, v, count * sizeof *ints);
	int at = -1;
	for (int i = 0; i < n->nattr; i++)
		if (!strcmp(n->attr[i].name, name))
			at = i;
	cnnf_attr old = {0};
	if (at < 0) {
		char *nm = dup_str(name);
		cnnf_attr *a = realloc(n->attr, ((size_t)n->nattr + 1) * sizeof *a);
		if (!nm || !a) {
			free(nm);
			free(ints);
			if (a)
				n->attr = a;
			return oom(g);
		}
		n->attr = a;
		at = n->nattr++;
		memset(&a[at], 0, sizeof a[at]);
		a[at].name = nm;
		a[at].type = CNNF_ATTR_INTS;
	} else {
		old = n->attr[at];
		old.name = NULL;
	}
	cnnf_attr *a = &n->attr[at];
	a->type = CNNF_ATTR_INTS;
	a->ints = ints;
	a->n = count;
	/* The parameters may point into the attributes: parse them afresh. */
	void *param = n->param;
	n->param = NULL;
	if (parse_node(g, n)) {
		free(n->param);
		n->param = param;
		free(a->ints);
		if (old.type) {
			char *nm = a->name;
			*a = old;
			a->name = nm;
		} else {
			free(a->name);
			n->nattr--;
		}
		return -1;
	}
	free(param);
	old.name = NULL;
	if (old.type)
		attr_clear(&old);
	return 0;
}

/* ---- Preparing: shapes, folding, limits ---- */

/* Forget what an earlier prepare worked out. */
static void unprepare(cnnf_graph *g)
{
	release_states(g);
	cnnf_graph_mem_free(g);
	for (int i = 0; i < g->nval; i++) {
		cnnf_value *v = &g->val[i];
		if (v->is_init)
			continue;
		free(v->data);
		v->data = NULL;
		v->type = 0;
		v->ndim = -1;
		v->is_const = 0;
		v->last_use = -1;
	}
	for (int i = 0; i < g->nnode; i++)
		g->node[i].folded = 0;
	g->const_bytes = 0;
	g->peak_bytes = 0;
	g->work = 0;
	g->prepared = 0;
}

uint64_t cnnf_value_bytes(const cnnf_value *v)
{
	return cnnf_value_count(v) * cnnf_graph_type_size(v->type);
}

static int set_input(cnnf_graph *g, int i, int ndim, const int64_t *dim, const void *data)
{
	cnnf_value *v = &g->val[g->in[i]];
	char want[160], got[160];
	int dn = g->in_ndim[i];
	int fits = ndim >= 0 && ndim <= CNNF_GRAPH_MAX_DIMS && (dn < 0 || dn == ndim);
	for (int k = 0; fits && dn >= 0 && k < ndim; k++)
		if (g->in_dim[i][k] >= 0 && g->in_dim[i][k] != dim[k])
			fits = 0;
	if (!fits) {
		if (dn < 0)
			snprintf(want, sizeof want, "any shape");
		else
			cnnf_graph_shape_str(want, sizeof want, dn, g->in_dim[i]);
		cnnf_error("%s: input '%s' would be %s, the model takes %s", g->file, v->name,
			   ndim >= 0 && ndim <= CNNF_GRAPH_MAX_DIMS ? cnnf_graph_shape_str(got, sizeof got, ndim, dim)
								    : "of too many dimensions",
			   want);
		return -1;
	}
	if (check_shape(g, "input", v->name, ndim, dim))
		return -1;
	v->type = g->in_type[i];
	v->ndim = ndim;
	if (ndim > 0)
		memcpy(v->dim, dim, (size_t)ndim * sizeof *dim);
	if (data) {
		size_t b = (size_t)cnnf_value_bytes(v);
		if (!(v->data = malloc(b ? b : 1)))
			return oom(g);
		memcpy(v->data, data, b);
		v->is_const = 1;
		g->const_bytes += b;
	}
	return 0;
}

/* The input and output value pointers of node n, into in[] and out[]. */
static void node_values(cnnf_graph *g, const cnnf_node *n, cnnf_value **in, cnnf_value **out)
{
	for (int k = 0; k < n->nin; k++)
		in[k] = cnnf_node_in(g, n, k);
	for (int k = 0; k < n->nout; k++)
		out[k] = cnnf_node_out(g, n, k);
}

/*
 * Allocate n's outputs' data (at least one byte each): from the pool in a
 * run, with malloc at prepare time (folded constants live until the next
 * preparation).
 */
static int alloc_outputs(cnnf_graph *g, const cnnf_node *n, cnnf_value *const *out, int run)
{
	for (int k = 0; k < n->nout; k++) {
		if (!out[k] || out[k]->data)
			continue;
		uint64_t b = cnnf_value_bytes(out[k]);
		size_t sz = b ? (size_t)b : 1;
		if (run && out[k]->in_arena) {
			out[k]->data = cnnf_graph_mem_at(g, out[k]);
			continue;
		}
		if (b > SIZE_MAX || !(out[k]->data = run ? cnnf_graph_mem_get(g, sz) : malloc(sz)))
			return cnnf_graph_node_error(g, n, "out of memory");
	}
	return 0;
}

static int prepare_node(cnnf_graph *g, int i, cnnf_value **in, cnnf_value **out)
{
	cnnf_node *n = &g->node[i];
	node_values(g, n, in, out);
	int all_const = 1;
	for (int k = 0; k < n->nin; k++) {
		if (!in[k])
			continue;
		if (in[k]->ndim < 0) /* cannot happen in sorted order; a guard for operators */
			return cnnf_graph_node_error(g, n, "input '%s' has no shape", in[k]->name);
		if (!in[k]->is_const)
			all_const = 0;
	}
	if (n->op->infer(g, n))
		return -1;
	for (int k = 0; k < n->nout; k++)
		if (out[k] && (out[k]->ndim < 0 || !out[k]->type))
			return cnnf_graph_node_error(g, n, "output '%s' has no inferred shape",
						     out[k]->name);
	if (n->op->prepare && n->op->prepare(g, n))
		return -1;
	if (!all_const && !n->op->shape_only)
		return 0;
	/* Fold: compute it now; its outputs are constants of this preparation. */
	if (alloc_outputs(g, n, out, 0))
		return -1;
	if (n->op->forward(g, n, in, out, g->threads))
		return -1;
	for (int k = 0; k < n->nout; k++)
		if (out[k]) {
			out[k]->is_const = 1;
			g->const_bytes += cnnf_value_bytes(out[k]);
		}
	if (g->const_bytes > g->limits.max_activation)
		return cnnf_graph_node_error(g, n, "the constants computed at load would need more than %" PRIu64 " bytes",
					     g->limits.max_activation);
	n->folded = 1;
	if (n->state && n->op->release)
		n->op->release(n);
	n->state = NULL;
	return 0;
}

int cnnf_graph_prepare(cnnf_graph *g, const int *ndim, const int64_t (*shape)[CNNF_GRAPH_MAX_DIMS],
		       const void *const *data)
{
	if (!g->finished && cnnf_graph_finish(g))
		return -1;
	unprepare(g);
	int maxio = 1;
	for (int i = 0; i < g->nnode; i++) {
		if (g->node[i].nin > maxio)
			maxio = g->node[i].nin;
		if (g->node[i].nout > maxio)
			maxio = g->node[i].nout;
	}
	cnnf_value **in = malloc((size_t)maxio * sizeof *in);
	cnnf_value **out = malloc((size_t)maxio * sizeof *out);
	if (!in || !out) {
		free(in);
		free(out);
		return oom(g);
	}
	int rc = -1;
	for (int i = 0; i < g->nin; i++)
		if (set_input(g, i, ndim[i], shape[i], data ? data[i] : NULL))
			goto out;
	for (int i = 0; i < g->nnode; i++)
		if (prepare_node(g, i, in, out))
			goto out;

	/* Last uses among the nodes the run executes. */
	for (int i = 0; i < g->nnode; i++) {
		const cnnf_node *n = &g->node[i];
		if (n->folded)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0)
				g->val[n->in[k]].last_use = i;
	}
	/* Peak activation memory: a run's allocations replayed. Inputs count from the start. */
	uint64_t cur = 0, peak = 0;
	int peak_node = -1;
	for (int i = 0; i < g->nin; i++)
		if (!g->val[g->in[i]].is_const)
			cur += cnnf_value_bytes(&g->val[g->in[i]]);
	peak = cur;
	double work = 0;
	for (int i = 0; i < g->nnode; i++) {
		const cnnf_node *n = &g->node[i];
		if (n->folded)
			continue;
		node_values(g, n, in, out);
		for (int k = 0; k < n->nout; k++)
			if (out[k])
				cur += cnnf_value_bytes(out[k]);
		if (cur > peak) {
			peak = cur;
			peak_node = i;
		}
		for (int k = 0; k < n->nout; k++)
			if (out[k] && out[k]->last_use < 0 && !out[k]->is_output)
				cur -= cnnf_value_bytes(out[k]);
		for (int k = 0; k < n->nin; k++) {
			cnnf_value *v = in[k];
			/* A value read twice by one node is counted out once. */
			int seen = 0;
			for (int j = 0; j < k; j++)
				if (in[j] == v)
					seen = 1;
			if (v && !seen && !v->is_const && !v->is_init && !v->is_output && v->last_use == i)
				cur -= cnnf_value_bytes(v);
		}
		if (n->op->work)
			work += n->op->work(g, n);
	}
	g->peak_bytes = peak;
	g->work = work;
	if (peak > g->limits.max_activation) {
		cnnf_graph_node_error(g, &g->node[peak_node],
				      "the activations would need %" PRIu64 " bytes at their peak here, more than the limit of %" PRIu64,
				      peak, g->limits.max_activation);
		goto out;
	}
	if (cnnf_graph_mem_plan(g))
		goto out;
	g->prepared = 1;
	rc = 0;
out:
	free(in);
	free(out);
	if (rc)
		unprepare(g);
	return rc;
}

/* ---- Running ---- */

/* Free what a run allocated: every value neither constant nor borrowed. */
static void run_cleanup(cnnf_graph *g)
{
	for (int i = 0; i < g->nin; i++) {
		cnnf_value *v = &g->val[g->in[i]];
		if (!v->is_const)
			v->data = NULL; /* borrowed */
	}
	for (int i = 0; i < g->nval; i++) {
		cnnf_value *v = &g->val[i];
		/* Trainable initializers (graph training, to come) are not constant but belong to the graph. */
		if (!v->is_const && !v->is_init && v->data)
			cnnf_graph_mem_release(g, v);
	}
}

int cnnf_graph_run(cnnf_graph *g, const void *const *in, void **out)
{
	if (!g->prepared) {
		cnnf_error("%s: the graph was not prepared", g->file);
		return -1;
	}
	int maxio = 1;
	for (int i = 0; i < g->nnode; i++) {
		if (g->node[i].nin > maxio)
			maxio = g->node[i].nin;
		if (g->node[i].nout > maxio)
			maxio = g->node[i].nout;
	}
	cnnf_value **vi = malloc((size_t)maxio * sizeof *vi);
	cnnf_value **vo = malloc((size_t)maxio * sizeof *vo);
	int rc = -1, nout_done = 0;
	if (!vi || !vo) {
		oom(g);
		goto out;
	}
	if (cnnf_graph_mem_arena(g) < 0)
		goto out;
	for (int i = 0; i < g->nin; i++) {
		cnnf_value *v = &g->val[g->in[i]];
		if (!v->is_const)
			v->data = (void *)in[i];
	}
	for (int i = 0; i < g->nnode; i++) {
		cnnf_node *n = &g->node[i];
		if (n->folded)
			continue;
		node_values(g, n, vi, vo);
		if (alloc_outputs(g, n, vo, 1) || n->op->forward(g, n, vi, vo, g->threads))
			goto out;
		for (int k = 0; k < n->nout; k++)
			if (vo[k] && vo[k]->last_use < 0 && !vo[k]->is_output)
				cnnf_graph_mem_release(g, vo[k]);
		for (int k = 0; k < n->nin; k++) {
			cnnf_value *v = vi[k];
			if (v && !v->is_const && !v->is_output && v->last_use == i && v->producer >= 0)
				cnnf_graph_mem_release(g, v);
		}
	}
	for (int i = 0; i < g->nout; i++) {
		cnnf_value *v = &g->val[g->out[i]];
		int prev = -1;
		for (int j = 0; j < i; j++)
			if (g->out[j] == g->out[i])
				prev = j;
		if (prev < 0 && !v->is_const && v->producer >= 0) {
			/* Handed over rather than copied: outputs can be the largest values. */
			out[i] = v->data;
			cnnf_graph_mem_take(g, v->data);
			v->data = NULL;
		} else {
			uint64_t b = cnnf_value_bytes(v);
			if (!(out[i] = malloc(b ? (size_t)b : 1))) {
				oom(g);
				goto out;
			}
			memcpy(out[i], prev >= 0 ? out[prev] : v->data, (size_t)b);
		}
		nout_done = i + 1;
	}
	rc = 0;
out:
	if (rc)
		for (int i = 0; i < nout_done; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	run_cleanup(g);
	free(vi);
	free(vo);
	return rc;
}
