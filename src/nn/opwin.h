/* opwin.h: the window attributes shared by Conv, ConvTranspose and the pools (kernel, strides, dilations, pads, auto_pad). */
#ifndef CNNF_OPWIN_H
#define CNNF_OPWIN_H

#include <stdint.h>
#include <string.h>

#include "nn/graph.h"

/* Spatial axes supported: 1-D, 2-D and 3-D. */
#define CNNF_OPWIN_MAX 3

enum { CNNF_OPWIN_NOTSET, CNNF_OPWIN_SAME_UPPER, CNNF_OPWIN_SAME_LOWER, CNNF_OPWIN_VALID };

/* A window's attributes as parsed; nk 0 when kernel_shape is absent (Conv takes it from W). */
typedef struct cnnf_opwin {
	int nk;                               /* spatial axes kernel_shape names, 0 if absent */
	int64_t k[CNNF_OPWIN_MAX];
	int ns, nd, np;                       /* counts given for strides, dilations, pads */
	int64_t s[CNNF_OPWIN_MAX], d[CNNF_OPWIN_MAX];
	int64_t pads[2 * CNNF_OPWIN_MAX];     /* begins then ends, as ONNX orders them */
	int auto_pad;
} cnnf_opwin;

/* The largest kernel, stride, dilation or pad accepted: sizes stay far from overflow. */
#define CNNF_OPWIN_LIMIT (1 << 24)

static inline int cnnf_opwin_list(cnnf_graph *g, cnnf_node *n, const char *name, int max,
				  int64_t lo, int *count, int64_t *dst)
{
	const int64_t *v;
	size_t c;
	if (cnnf_node_attr_ints(g, n, name, &v, &c))
		return -1;
	if (!v) {
		*count = 0;
		return 0;
	}
	if (c == 0 || c > (size_t)max)
		return cnnf_graph_node_error(g, n, "attribute '%s' has %zu values; 1 to %d spatial axes are supported",
					     name, c, max / (strcmp(name, "pads") ? 1 : 2));
	for (size_t i = 0; i < c; i++)
		if (v[i] < lo || v[i] > CNNF_OPWIN_LIMIT)
			return cnnf_graph_node_error(g, n, "attribute '%s' value %lld not supported (%lld to %d)",
						     name, (long long)v[i], (long long)lo, CNNF_OPWIN_LIMIT);
	memcpy(dst, v, c * sizeof *v);
	*count = (int)c;
	return 0;
}

/* Parse kernel_shape, strides, dilations (when has_dil), pads and auto_pad. */
static inline int cnnf_opwin_parse(cnnf_graph *g, cnnf_node *n, cnnf_opwin *w, int has_dil)
{
	memset(w, 0, sizeof *w);
	const char *ap;
	if (cnnf_opwin_list(g, n, "kernel_shape", CNNF_OPWIN_MAX, 1, &w->nk, w->k) ||
	    cnnf_opwin_list(g, n, "strides", CNNF_OPWIN_MAX, 1, &w->ns, w->s) ||
	    cnnf_opwin_list(g, n, "pads", 2 * CNNF_OPWIN_MAX, 0, &w->np, w->pads) ||
	    cnnf_node_attr_string(g, n, "auto_pad", "NOTSET", &ap))
		return -1;
	if (has_dil && cnnf_opwin_list(g, n, "dilations", CNNF_OPWIN_MAX, 1, &w->nd, w->d))
		return -1;
	if (!has_dil && cnnf_node_attr(n, "dilations"))
		return cnnf_graph_node_error(g, n, "attribute 'dilations' not supported by this operator at opset %d",
					     g->opset);
	if (w->np % 2)
		return cnnf_graph_node_error(g, n, "attribute 'pads' has an odd count (%d)", w->np);
	if (!strcmp(ap, "NOTSET"))
		w->auto_pad = CNNF_OPWIN_NOTSET;
	else if (!strcmp(ap, "SAME_UPPER"))
		w->auto_pad = CNNF_OPWIN_SAME_UPPER;
	else if (!strcmp(ap, "SAME_LOWER"))
		w->auto_pad = CNNF_OPWIN_SAME_LOWER;
	else if (!strcmp(ap, "VALID"))
		w->auto_pad = CNNF_OPWIN_VALID;
	else
		return cnnf_graph_node_error(g, n, "attribute 'auto_pad' value '%s' not supported", ap);
	return 0;
}

/*
 * Check the counts against ns spatial axes (kernel k[] known) and fill
 * defaults: strides and dilations 1, pads 0. -1 with a message otherwise.
 */
static inline int cnnf_opwin_fit(const cnnf_graph *g, const cnnf_node *n, cnnf_opwin *w, int ns)
{
	if (w->ns && w->ns != ns)
		return cnnf_graph_node_error(g, n, "attribute 'strides' has %d values for %d spatial axes", w->ns, ns);
	if (w->nd && w->nd != ns)
		return cnnf_graph_node_error(g, n, "attribute 'dilations' has %d values for %d spatial axes", w->nd, ns);
	if (w->np && w->np != 2 * ns)
		return cnnf_graph_node_error(g, n, "attribute 'pads' has %d values for %d spatial axes", w->np, ns);
	for (int i = 0; i < ns; i++) {
		if (!w->ns)
			w->s[i] = 1;
		if (!w->nd)
			w->d[i] = 1;
	}
	if (!w->np)
		for (int i = 0; i < 2 * ns; i++)
			w->pads[i] = 0;
	return 0;
}

/*
 * Output size and pads (*pb, *pe) along axis i of input size in, for a
 * forward window (Conv, pools). ceil_mode for pools: the last window must
 * start inside the input or the left padding. Returns the output size,
 * which may be <= 0 (the caller refuses it).
 */
static inline int64_t cnnf_opwin_out(const cnnf_opwin *w, int i, int64_t in, int ceil_mode,
				     int64_t *pb, int64_t *pe)
{
	int64_t s = w->s[i], ek = w->d[i] * (w->k[i] - 1) + 1;
	if (w->auto_pad == CNNF_OPWIN_SAME_UPPER || w->auto_pad == CNNF_OPWIN_SAME_LOWER) {
		int64_t out = (in + s - 1) / s, total = (out - 1) * s + ek - in;
		if (total < 0)
			total = 0;
		*pb = w->auto_pad == CNNF_OPWIN_SAME_UPPER ? total / 2 : total - total / 2;
		*pe = total - *pb;
		return out;
	}
	if (w->auto_pad == CNNF_OPWIN_VALID) {
		*pb = *pe = 0;
		return in >= ek ? (in - ek) / s + 1 : 0;
	}
	*pb = w->pads[i];
	*pe = w->pads[i + (w->np ? w->np / 2 : 0)];
	int64_t span = in + *pb + *pe - ek;
	if (span < 0)
		return 0;
	int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
	if (ceil_mode && (out - 1) * s >= in + *pb)
		out--;
	return out;
}

#endif
