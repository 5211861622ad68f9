/* onnx_save.c: writing a cnnf model as ONNX, with a small protobuf writer of its own. */
#include "nn/onnx_save.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

/*
 * A message being built: its bytes so far. Nested messages are built in a
 * buffer of their own and appended as a length-delimited field, which is
 * all protobuf's wire format asks of a writer. An allocation failure is
 * remembered (oom) and reported once at the end.
 */
typedef struct pbw {
	unsigned char *buf;
	size_t len, cap;
	int oom;
} pbw;

static void put(pbw *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		unsigned char *b = realloc(w->buf, cap);
		if (!b) {
			w->oom = 1;
			return;
		}
		w->buf = b, w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void varint(pbw *w, uint64_t v)
{
	unsigned char b[10];
	int n = 0;
	do {
		b[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(w, b, (size_t)n);
}

/* Field `field` of wire type t (0 varint, 2 length-delimited, 5 fixed 32). */
static void key(pbw *w, unsigned field, unsigned t)
{
	varint(w, (uint64_t)field << 3 | t);
}

static void f_int(pbw *w, unsigned field, int64_t v)
{
	key(w, field, 0);
	varint(w, (uint64_t)v);
}

static void f_bytes(pbw *w, unsigned field, const void *p, size_t n)
{
	key(w, field, 2);
	varint(w, n);
	put(w, p, n);
}

static void f_str(pbw *w, unsigned field, const char *s)
{
	f_bytes(w, field, s, strlen(s));
}

static void f_float(pbw *w, unsigned field, float v)
{
	unsigned char b[4];
	uint32_t u;
	memcpy(&u, &v, 4);
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(u >> (8 * i));
	key(w, field, 5);
	put(w, b, 4);
}

/* sub appended to w as field `field`, then emptied. */
static void f_msg(pbw *w, unsigned field, pbw *sub)
{
	w->oom |= sub->oom;
	f_bytes(w, field, sub->buf, sub->len);
	free(sub->buf);
	*sub = (pbw){0};
}

/* ONNX's field numbers (onnx.proto), the few this writer uses. */
enum {
	MODEL_IR_VERSION = 1, MODEL_PRODUCER = 2, MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7,
	MODEL_OPSET = 8, MODEL_METADATA = 14,
	OPSET_DOMAIN = 1, OPSET_VERSION = 2,
	ENTRY_KEY = 1, ENTRY_VALUE = 2,
	GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
	NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTRIBUTE = 5,
	ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20,
	ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTLIST = 7,
	TENSOR_DIMS = 1, TENSOR_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9, TENSOR_FLOAT = 1,
	VALUE_NAME = 1, VALUE_TYPE = 2, TYPE_TENSOR = 1, TT_ELEM = 1, TT_SHAPE = 2,
	SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};

/* An initializer: n floats of shape dims[0..nd-1], little-endian raw data. */
static void initializer(pbw *g, const char *name, const int64_t *dims, int nd, const float *v,
                        size_t n)
{
	pbw t = {0};
	for (int i = 0; i < nd; i++)
		f_int(&t, TENSOR_DIMS, dims[i]);
	f_int(&t, TENSOR_TYPE, TENSOR_FLOAT);
	f_str(&t, TENSOR_NAME, name);
	key(&t, TENSOR_RAW, 2);
	varint(&t, n * 4);
	for (size_t i = 0; i < n; i++) {
		unsigned char b[4];
		uint32_t u;
		memcpy(&u, &v[i], 4);
		for (int k = 0; k < 4; k++)
			b[k] = (unsigned char)(u >> (8 * k));
		put(&t, b, 4);
	}
	f_msg(g, GRAPH_INITIALIZER, &t);
}

static void attr_ints(pbw *node, const char *name, const int64_t *v, int n)
{
	pbw a = {0};
	f_str(&a, ATTR_NAME, name);
	for (int i = 0; i < n; i++)
		f_int(&a, ATTR_INTS, v[i]);
	f_int(&a, ATTR_TYPE, ATTR_INTLIST);
	f_msg(node, NODE_ATTRIBUTE, &a);
}

static void attr_int(pbw *node, const char *name, int64_t v)
{
	pbw a = {0};
	f_str(&a, ATTR_NAME, name);
	f_int(&a, ATTR_I, v);
	f_int(&a, ATTR_TYPE, ATTR_INT);
	f_msg(node, NODE_ATTRIBUTE, &a);
}

static void attr_float(pbw *node, const char *name, float v)
{
	pbw a = {0};
	f_str(&a, ATTR_NAME, name);
	f_float(&a, ATTR_F, v);
	f_int(&a, ATTR_TYPE, ATTR_FLOAT);
	f_msg(node, NODE_ATTRIBUTE, &a);
}

/* A node: op with inputs ins (NULL-terminated) and one output; attributes added to *node after. */
static void node_begin(pbw *node, const char *op, const char *name, const char *const *ins,
                       const char *out)
{
	*node = (pbw){0};
	for (const char *const *i = ins; *i; i++)
		f_str(node, NODE_INPUT, *i);
	f_str(node, NODE_OUTPUT, out);
	f_str(node, NODE_NAME, name);
	f_str(node, NODE_OP, op);
}

/* A float tensor value of the given dims (0: the free batch dimension "N"). */
static void value_info(pbw *g, unsigned field, const char *name, const int64_t *dims, int nd)
{
	pbw shape = {0}, tt = {0}, type = {0}, v = {0};
	for (int i = 0; i < nd; i++) {
		pbw d = {0};
		if (dims[i] > 0)
			f_int(&d, DIM_VALUE, dims[i]);
		else
			f_str(&d, DIM_PARAM, "N");
		f_msg(&shape, SHAPE_DIM, &d);
	}
	f_int(&tt, TT_ELEM, TENSOR_FLOAT);
	f_msg(&tt, TT_SHAPE, &shape);
	f_msg(&type, TYPE_TENSOR, &tt);
	f_str(&v, VALUE_NAME, name);
	f_msg(&v, VALUE_TYPE, &type);
	f_msg(g, field, &v);
}

/* The normalisation as Sub and Div nodes when the header asks for one; cur names the tensor. */
static void normalise(pbw *g, const cnnf_model *m, char *cur, size_t len)
{
	int sub = 0, div = 0;
	for (int c = 0; c < m->channels; c++)
		sub |= m->mean[c] != 0, div |= m->std[c] != 1;
	int64_t dims[4] = {1, m->channels, 1, 1};
	static const char *const names[2] = {"mean", "std"};
	for (int k = 0; k < 2; k++) {
		if (!(k ? div : sub))
			continue;
		initializer(g, names[k], dims, 4, k ? m->std : m->mean, (size_t)m->channels);
		char out[32];
		snprintf(out, sizeof out, k ? "normalised" : "centred");
		pbw n;
		const char *ins[] = {cur, names[k], NULL};
		node_begin(&n, k ? "Div" : "Sub", k ? "divide_by_std" : "subtract_mean", ins, out);
		f_msg(g, GRAPH_NODE, &n);
		snprintf(cur, len, "%s", out);
	}
}

/* The graph of m's layers. */
static void graph(pbw *g, const cnnf_model *m)
{
	f_str(g, GRAPH_NAME, "cnnf");
	char cur[64] = "input";
	normalise(g, m, cur, sizeof cur);
	for (int i = 0; i < m->nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		char out[64], w[64], b[64], nm[64];
		int last = i == m->nlayers - 1;
		snprintf(out, sizeof out, last ? "output" : "t%d", i);
		snprintf(w, sizeof w, "layer%d.weight", i);
		snprintf(b, sizeof b, "layer%d.bias", i);
		pbw n;
		if (l->type == CNNF_LAYER_DROPOUT) {
			/* Nothing at inference; the last layer still has to make "output". */
			if (!last)
				continue;
			const char *ins[] = {cur, NULL};
			node_begin(&n, "Identity", "dropout", ins, out);
			f_msg(g, GRAPH_NODE, &n);
			snprintf(cur, sizeof cur, "%s", out);
			continue;
		}
		if (l->type == CNNF_LAYER_CONV || l->type == CNNF_LAYER_FC) {
			int fc = l->type == CNNF_LAYER_FC;
			int64_t kh = fc ? l->in_h : l->kh, kw = fc ? l->in_w : l->kw;
			int64_t wd[4] = {l->out, l->in_c, kh, kw}, bd[1] = {l->out};
			size_t nw = (size_t)l->out * (size_t)l->in_c * (size_t)(kh * kw);
			initializer(g, w, wd, 4, l->weight, nw);
			initializer(g, b, bd, 1, l->bias, (size_t)l->out);
			snprintf(nm, sizeof nm, "%s%d", fc ? "fc" : "conv", i);
			const char *ins[] = {cur, w, b, NULL};
			node_begin(&n, "Conv", nm, ins, out);
			int64_t ks[2] = {kh, kw}, st[2] = {fc ? 1 : l->stride, fc ? 1 : l->stride};
			int64_t pads[4] = {fc ? 0 : l->pad, fc ? 0 : l->pad, fc ? 0 : l->pad, fc ? 0 : l->pad};
			int64_t dil[2] = {fc ? 1 : l->dilation, fc ? 1 : l->dilation};
			attr_ints(&n, "kernel_shape", ks, 2);
			attr_ints(&n, "strides", st, 2);
			attr_ints(&n, "pads", pads, 4);
			attr_ints(&n, "dilations", dil, 2);
		} else if (l->type == CNNF_LAYER_MAXPOOL || l->type == CNNF_LAYER_AVGPOOL) {
			int max = l->type == CNNF_LAYER_MAXPOOL;
			snprintf(nm, sizeof nm, "%s%d", max ? "maxpool" : "avgpool", i);
			const char *ins[] = {cur, NULL};
			node_begin(&n, max ? "MaxPool" : "AveragePool", nm, ins, out);
			int64_t ks[2] = {l->kh, l->kw}, st[2] = {l->stride, l->stride};
			attr_ints(&n, "kernel_shape", ks, 2);
			attr_ints(&n, "strides", st, 2);
		} else if (l->type == CNNF_LAYER_BATCHNORM) {
			char mean[64], var[64];
			snprintf(mean, sizeof mean, "layer%d.running_mean", i);
			snprintf(var, sizeof var, "layer%d.running_var", i);
			int64_t d[1] = {l->in_c};
			initializer(g, w, d, 1, l->weight, (size_t)l->in_c);
			initializer(g, b, d, 1, l->bias, (size_t)l->in_c);
			initializer(g, mean, d, 1, l->mean, (size_t)l->in_c);
			initializer(g, var, d, 1, l->var, (size_t)l->in_c);
			snprintf(nm, sizeof nm, "batchnorm%d", i);
			const char *ins[] = {cur, w, b, mean, var, NULL};
			node_begin(&n, "BatchNormalization", nm, ins, out);
			attr_float(&n, "epsilon", (float)l->eps);
		} else {
			int relu = l->type == CNNF_LAYER_RELU;
			snprintf(nm, sizeof nm, "%s%d", relu ? "relu" : "softmax", i);
			const char *ins[] = {cur, NULL};
			node_begin(&n, relu ? "Relu" : "Softmax", nm, ins, out);
			if (!relu)
				attr_int(&n, "axis", 1);
		}
		f_msg(g, GRAPH_NODE, &n);
		snprintf(cur, sizeof cur, "%s", out);
	}
	/* A model of no layers but a normalisation, or of none at all: still one output. */
	if (strcmp(cur, "output") != 0) {
		pbw n;
		const char *ins[] = {cur, NULL};
		node_begin(&n, "Identity", "output", ins, "output");
		f_msg(g, GRAPH_NODE, &n);
	}
	int64_t in[4] = {0, m->channels, m->height, m->width};
	value_info(g, GRAPH_INPUT, "input", in, 4);
	const cnnf_layer *tail = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
	int64_t outd[4] = {0, tail ? tail->out_c : m->channels, tail ? tail->out_h : m->height,
	                   tail ? tail->out_w : m->width};
	value_info(g, GRAPH_OUTPUT, "output", outd, 4);
}

int cnnf_onnx_write_model(const cnnf_model *m, FILE *fp, const char *name)
{
	pbw model = {0}, sub = {0};
	f_int(&model, MODEL_IR_VERSION, 7);
	f_str(&model, MODEL_PRODUCER, "cnnf");
	f_str(&model, MODEL_PRODUCER_VERSION, CNNF_VERSION);
	graph(&sub, m);
	f_msg(&model, MODEL_GRAPH, &sub);
	f_str(&sub, OPSET_DOMAIN, "");
	f_int(&sub, OPSET_VERSION, 13);
	f_msg(&model, MODEL_OPSET, &sub);
	if (m->nlabels) {
		f_str(&sub, ENTRY_KEY, "labels");
		size_t len = 1;
		for (int i = 0; i < m->nlabels; i++)
			len += strlen(m->labels[i]) + 1;
		char *s = malloc(len);
		if (!s) {
			sub.oom = 1;
		} else {
			s[0] = 0;
			for (int i = 0; i < m->nlabels; i++) {
				strcat(s, i ? " " : "");
				strcat(s, m->labels[i]);
			}
			f_str(&sub, ENTRY_VALUE, s);
			free(s);
		}
		f_msg(&model, MODEL_METADATA, &sub);
	}
	int status = 0;
	if (model.oom) {
		cnnf_error("%s: out of memory for the ONNX model", name);
		status = -1;
	} else if (fwrite(model.buf, 1, model.len, fp) != model.len) {
		cnnf_error("%s: write error: %s", name, strerror(errno));
		status = -1;
	}
	free(model.buf);
	return status;
}

int cnnf_onnx_is_name(const char *path)
{
	size_t n = strlen(path);
	return n >= 5 && strcasecmp(path + n - 5, ".onnx") == 0;
}
