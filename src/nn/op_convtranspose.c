/* op_convtranspose.c: ONNX ConvTranspose (1-D to 3-D, groups, dilations, pads, output_padding, output_shape) as a scatter per output row. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opwin.h"
#include "nn/ops.h"

typedef struct param {
	cnnf_opwin w;
	int64_t group;
	int nop, nos;            /* counts of output_padding and output_shape */
	int64_t op[CNNF_OPWIN_MAX];
	int64_t os[CNNF_OPWIN_MAX + 2];
} param;

typedef struct geom {
	int64_t nb, c, m, group;
	int64_t in[3], k[3], out[3], s[3], d[3], pb[3];
} geom;

static int parse(cnnf_graph *g, cnnf_node *n)
{
	param *p = n->param;
	const int64_t *v;
	size_t c;
	if (cnnf_opwin_parse(g, n, &p->w, 1) || cnnf_node_attr_int(g, n, "group", 1, &p->group) ||
	    cnnf_opwin_list(g, n, "output_padding", CNNF_OPWIN_MAX, 0, &p->nop, p->op))
		return -1;
	if (p->group < 1 || p->group > INT_MAX)
		return cnnf_graph_node_error(g, n, "attribute 'group' value %lld not supported",
					     (long long)p->group);
	if (cnnf_node_attr_ints(g, n, "output_shape", &v, &c))
		return -1;
	if (v) {
		if (c < 1 || c > CNNF_OPWIN_MAX + 2)
			return cnnf_graph_node_error(g, n, "attribute 'output_shape' has %zu values", c);
		for (size_t i = 0; i < c; i++)
			if (v[i] < 1 || v[i] > INT_MAX)
				return cnnf_graph_node_error(g, n, "attribute 'output_shape' value %lld not supported",
							     (long long)v[i]);
		memcpy(p->os, v, c * sizeof *v);
		p->nos = (int)c;
	}
	return 0;
}

static int geometry(const cnnf_graph *g, const cnnf_node *n, geom *ge)
{
	const param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0), *wv = cnnf_node_in(g, n, 1),
			 *b = cnnf_node_in(g, n, 2);
	cnnf_opwin w = p->w;
	if (x->type != CNNF_DT_F32 || wv->type != CNNF_DT_F32 || (b && b->type != CNNF_DT_F32))
		return cnnf_graph_node_error(g, n, "inputs must be float");
	int ns = x->ndim - 2;
	if (ns < 1 || ns > 3)
		return cnnf_graph_node_error(g, n, "input 0 has %d dimensions: 3 to 5 (N x C x spatial) are supported",
					     x->ndim);
	if (wv->ndim != x->ndim)
		return cnnf_graph_node_error(g, n, "input 1 (W) has %d dimensions, input 0 has %d",
					     wv->ndim, x->ndim);
	if (w.nk && w.nk != ns)
		return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' has %d values for %d spatial axes",
					     w.nk, ns);
	if (p->nop && p->nop != ns)
		return cnnf_graph_node_error(g, n, "attribute 'output_padding' has %d values for %d spatial axes",
					     p->nop, ns);
	if (p->nos && p->nos != ns && p->nos != ns + 2)
		return cnnf_graph_node_error(g, n, "attribute 'output_shape' has %d values for %d spatial axes",
					     p->nos, ns);
	for (int i = 0; i < ns; i++) {
		if (w.nk && w.k[i] != wv->dim[2 + i])
			return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' does not match input 1 (W) on axis %d (%lld, %lld)",
						     i, (long long)w.k[i], (long long)wv->dim[2 + i]);
		w.k[i] = wv->dim[2 + i];
		if (w.k[i] < 1 || w.k[i] > CNNF_OPWIN_LIMIT)
			return cnnf_graph_node_error(g, n, "input 1 (W) has a kernel size of %lld", (long long)w.k[i]);
	}
	if (cnnf_opwin_fit(g, n, &w, ns))
		return -1;
	memset(ge, 0, sizeof *ge);
	ge->nb = x->dim[0], ge->c = x->dim[1], ge->group = p->group;
	if (wv->dim[0] != ge->c)
		return cnnf_graph_node_error(g, n, "input 1 (W) has %lld input channels, input 0 has %lld",
					     (long long)wv->dim[0], (long long)ge->c);
	if (ge->c % p->group || wv->dim[1] < 1)
		return cnnf_graph_node_error(g, n, "attribute 'group' (%lld) does not divide the %lld input channels",
					     (long long)p->group, (long long)ge->c);
	ge->m = wv->dim[1] * p->group;
	if (b && (b->ndim != 1 || b->dim[0] != ge->m))
		return cnnf_graph_node_error(g, n, "input 2 (B) must have %lld elements", (long long)ge->m);
	int off = 3 - ns;
	for (int i = 0; i < 3; i++)
		ge->in[i] = ge->k[i] = ge->out[i] = ge->s[i] = ge->d[i] = 1;
	for (int i = 0; i < ns; i++) {
		int a = off + i;
		int64_t in = x->dim[2 + i], s = w.s[i], ek = w.d[i] * (w.k[i] - 1) + 1;
		int64_t opad = p->nop ? p->op[i] : 0, out, pb;
		if (opad >= s && opad >= w.d[i])
			return cnnf_graph_node_error(g, n, "attribute 'output_padding' value %lld is not below the stride or the dilation",
						     (long long)opad);
		if (in > INT_MAX / 4)
			return cnnf_graph_node_error(g, n, "input 0 is too large on axis %d", i);
		int64_t full = s * (in - 1) + opad + ek;
		if (p->nos || w.auto_pad == CNNF_OPWIN_SAME_UPPER || w.auto_pad == CNNF_OPWIN_SAME_LOWER) {
			out = p->nos ? p->os[p->nos - ns + i] : in * s;
			int64_t total = full - out;
			/*
			 * The spec's total/2 is Python's floor division: a negative
			 * total (an output larger than the input makes) grows the
			 * output at the end, except for SAME_UPPER.
			 */
			int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
			pb = w.auto_pad == CNNF_OPWIN_SAME_UPPER ? half : total - half;
		} else if (w.auto_pad == CNNF_OPWIN_VALID) {
			pb = 0, out = full;
		} else {
			pb = w.pads[i];
			out = full - w.pads[i] - w.pads[i + ns];
		}
		if (out <= 0 || out > INT_MAX)
			return cnnf_graph_node_error(g, n, "the output would have %lld samples on axis %d",
						     (long long)out, i);
		ge->in[a] = in, ge->k[a] = w.k[i], ge->s[a] = s, ge->d[a] = w.d[i];
		ge->out[a] = out, ge->pb[a] = pb;
	}
	return 0;
}

static int infer(cnnf_graph *g, cnnf_node *n)
{
	geom ge;
	if (geometry(g, n, &ge))
		return -1;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int ns = x->ndim - 2;
	int64_t dim[5] = {ge.nb, ge.m};
	for (int i = 0; i < ns; i++)
		dim[2 + i] = ge.out[3 - ns + i];
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, x->ndim, dim);
}

typedef struct job {
	geom ge;
	const float *x, *w, *b;
	float *y;
	size_t outplane;
} job;

/*
 * Output planes (batch item, output channel) begin..end-1, an output row at
 * a time. Each sample is summed in double by one call: for each input
 * channel in turn, its taps in order (depth, row, column), each adding the
 * one input sample it meets, if any; so the result does not depend on the
 * threads. The row's accumulator stays in cache, and taps whose rows miss
 * the output row (a stride above 1) are skipped whole.
 */
static int scatter(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const geom *ge = &j->ge;
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group;
	size_t inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	size_t taps = (size_t)ge->k[0] * ge->k[1] * ge->k[2];
	int64_t ow = ge->out[2], sx = ge->s[2];
	/*
	 * The row's accumulator split by column residue: output column o = q*sx + r
	 * lives at acc[r*qn + q], so that each tap adds to consecutive doubles
	 * (vectorised) instead of every sx-th. Only where a sum is kept changes,
	 * not the order of its additions.
	 */
	int64_t qn = (ow + sx - 1) / sx;
	double *acc = malloc(sizeof(double) * (size_t)(qn * sx));
	if (!acc)
		return -1;
	for (size_t pl = begin; pl < end; pl++) {
		int64_t b = (int64_t)pl / ge->m, m = (int64_t)pl % ge->m, gi = m / mg, mm = m % mg;
		float *y = j->y + pl * j->outplane;
		double bias = j->b ? j->b[m] : 0;
		for (int64_t oz = 0; oz < ge->out[0]; oz++)
			for (int64_t oy = 0; oy < ge->out[1]; oy++) {
				for (int64_t i = 0; i < qn * sx; i++)
					acc[i] = 0;
				for (int64_t ci = 0; ci < cg; ci++) {
					int64_t c = gi * cg + ci;
					const float *x = j->x + ((size_t)b * ge->c + c) * inplane;
					const float *w = j->w + ((size_t)c * mg + mm) * taps;
					for (int64_t kz = 0; kz < ge->k[0]; kz++) {
						/* The input depth iz with iz*s - pb + kz*d == oz, if any. */
						int64_t tz = oz + ge->pb[0] - kz * ge->d[0];
						if (tz < 0 || tz % ge->s[0] || tz / ge->s[0] >= ge->in[0])
							continue;
						int64_t iz = tz / ge->s[0];
						for (int64_t ky = 0; ky < ge->k[1]; ky++) {
							int64_t ty = oy + ge->pb[1] - ky * ge->d[1];
							if (ty < 0 || ty % ge->s[1] || ty / ge->s[1] >= ge->in[1])
								continue;
							int64_t iy = ty / ge->s[1];
							const float *xr = x + (iz * ge->in[1] + iy) * ge->in[2];
							const float *wr = w + (kz * ge->k[1] + ky) * ge->k[2];
							for (int64_t kx = 0; kx < ge->k[2]; kx++) {
								double wt = wr[kx];
								int64_t base = kx * ge->d[2] - ge->pb[2];
								/* Columns ix with 0 <= ix*sx + base < out. */
								int64_t lo = base >= 0 ? 0 : (-base + sx - 1) / sx;
								int64_t hi = ow - base <= 0 ? 0 : (ow - base + sx - 1) / sx;
								if (hi > ge->in[2])
									hi = ge->in[2];
								/* base = qb*sx + r, 0 <= r < sx. */
								int64_t qb = base >= 0 ? base / sx : -((-base + sx - 1) / sx);
								double *ar = acc + (base - qb * sx) * qn + qb;
								for (int64_t ix = lo; ix < hi; ix++)
									ar[ix] += wt * xr[ix];
							}
						}
					}
				}
				float *yr = y + (oz * ge->out[1] + oy) * ow;
				for (int64_t i = 0; i < ow; i++)
					yr[i] = (float)(acc[(i % sx) * qn + i / sx] + bias);
			}
	}
	free(acc);
	return 0;
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	job j = {.x = in[0]->data, .w = in[1]->data,
		 .b = n->nin > 2 && in[2] ? in[2]->data : NULL, .y = out[0]->data};
	if (geometry(g, n, &j.ge))
		return -1;
	j.outplane = (size_t)j.ge.out[0] * j.ge.out[1] * j.ge.out[2];
	if (cnnf_parallel_for((size_t)(j.ge.nb * j.ge.m), threads, scatter, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static double work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0), *w = cnnf_node_in(g, n, 1);
	if (x->ndim < 0 || w->ndim < 0)
		return 0;
	double taps = 1;
	for (int i = 1; i < w->ndim; i++)
		taps *= (double)w->dim[i];
	return (double)cnnf_value_count(x) * taps;
}

const cnnf_op cnnf_op_convtranspose = {
	.name = "ConvTranspose", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
	.param_size = sizeof(param), .parse = parse, .infer = infer,
	.forward = forward, .work = work,
};
