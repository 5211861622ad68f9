/*
 * op_convtranspose.c: ONNX ConvTranspose (1-D to 3-D, groups, dilations,
 * pads, output_padding, output_shape).
 *
 * Two ways, chosen by the geometry:
 * - Taps that never overlap (dilation * (kernel - 1) < stride on every axis,
 *   as the kernel == stride up-sampling of U-Nets): each output sample is
 *   reached by at most one tap of each input channel, so the layer is one
 *   matrix product, a 1x1 convolution with Cout * taps outputs on the conv
 *   engine, whose planes are then scattered into the output. Arithmetic:
 *   the engine's, float with fused multiply-adds over the input channels in
 *   order, then the bias added in float; a sample no tap reaches is the bias.
 * - Otherwise a scatter per output row, accumulated in double.
 * Neither depends on the thread count.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "engine/conv.h"
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

/* ---- Overlapping taps: a scatter in double ---- */

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

/* ---- Taps that do not overlap: a 1x1 convolution on the engine, then a scatter ---- */

/* What prepare found for the current shapes. */
typedef struct state {
	geom ge;
	int direct;          /* taps do not overlap and the sizes fit the engine */
	int full;            /* every output sample is reached by a tap */
	cnnf_kernel **kern;  /* per group from constant W and B, or NULL (made at each run) */
} state;

static int64_t taps_of(const geom *ge)
{
	return ge->k[0] * ge->k[1] * ge->k[2];
}

/* Whether ge runs as a 1x1 convolution on the engine; *full whether every output is reached. */
static int direct_fits(const geom *ge, int *full)
{
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group;
	*full = 1;
	for (int a = 0; a < 3; a++) {
		if (ge->d[a] * (ge->k[a] - 1) >= ge->s[a])
			return 0;
		/*
		 * Output o is reached when o + pb = i*s + t*d for an input i and
		 * tap t: every residue modulo s must be a tap's (k == s with
		 * unit dilation, or a single tap and stride), and the taps must
		 * reach both ends.
		 */
		int residues = ge->k[a] == ge->s[a] && (ge->d[a] == 1 || ge->k[a] == 1);
		if (!residues || ge->pb[a] < 0 || ge->out[a] + ge->pb[a] > ge->in[a] * ge->s[a])
			*full = 0;
	}
	return mg * taps_of(ge) <= CNNF_KERNEL_MAX_DIM && cg <= CNNF_KERNEL_MAX_DIM &&
	       (uint64_t)mg * taps_of(ge) * cg <= CNNF_KERNEL_MAX_WEIGHTS &&
	       ge->in[0] * ge->in[1] <= INT_MAX / 4 && ge->in[2] <= INT_MAX / 4;
}

static void release(cnnf_node *n)
{
	state *st = n->state;
	if (st) {
		if (st->kern)
			for (int64_t i = 0; i < st->ge.group; i++)
				cnnf_kernel_free(st->kern[i]);
		free(st->kern);
		free(st);
	}
	n->state = NULL;
}

/*
 * The engine's kernels, one per group: filter f = mm * taps + t of group gi
 * is output channel gi * mg + mm's tap t, its weights W[gi*cg + c][mm][t]
 * over the group's input channels c, its bias B[gi*mg + mm]. NULL with a
 * message when out of memory.
 */
static cnnf_kernel **make_kernels(const cnnf_graph *g, const cnnf_node *n, const geom *ge,
				  const float *w, const float *b)
{
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group, taps = taps_of(ge);
	cnnf_kernel **k = calloc((size_t)ge->group, sizeof *k);
	if (!k)
		goto nomem;
	for (int64_t gi = 0; gi < ge->group; gi++) {
		if (!(k[gi] = cnnf_kernel_new((int)(mg * taps), (int)cg, 1, 1))) {
			for (int64_t j = 0; j < gi; j++)
				cnnf_kernel_free(k[j]);
			free(k);
			goto nomem;
		}
		for (int64_t c = 0; c < cg; c++)
			for (int64_t mm = 0; mm < mg; mm++)
				for (int64_t t = 0; t < taps; t++)
					k[gi]->weights[(size_t)(mm * taps + t) * cg + c] =
						w[((size_t)(gi * cg + c) * mg + mm) * taps + t];
		for (int64_t mm = 0; mm < mg; mm++)
			for (int64_t t = 0; t < taps; t++)
				k[gi]->bias[mm * taps + t] = b ? b[gi * mg + mm] : 0.0;
	}
	return k;
nomem:
	cnnf_graph_node_error(g, n, "out of memory");
	return NULL;
}

static int prepare(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *wv = cnnf_node_in(g, n, 1), *b = cnnf_node_in(g, n, 2);
	state *st = calloc(1, sizeof *st);
	if (!st)
		return cnnf_graph_node_error(g, n, "out of memory");
	if (geometry(g, n, &st->ge)) {
		free(st);
		return -1;
	}
	n->state = st;
	st->direct = direct_fits(&st->ge, &st->full);
	if (st->direct && wv->is_const && wv->data && (!b || (b->is_const && b->data)) &&
	    !(st->kern = make_kernels(g, n, &st->ge, wv->data, b ? b->data : NULL))) {
		release(n);
		return -1;
	}
	return 0;
}

/*
 * One engine run: batch item nb, group gi. The engine's input is the
 * group's channels with the depth and row axes as one (a 1x1 kernel does
 * not mind), its output plane f the tap t = f % taps of output channel
 * f / taps, row r of which lands on output depth iz*sz + kz*dz - pbz and row
 * iy*sy + ky*dy - pby (r = iz*H + iy), every sx-th column from kx*dx - pbx.
 */
typedef struct rows_ctx {
	const geom *ge;
	const float *x; /* the group's first input channel of this item */
	float *y;       /* the group's first output channel of this item */
	int64_t taps;
} rows_ctx;

static void read_row(void *ctx, int c, int r, float *dst)
{
	const rows_ctx *q = ctx;
	const geom *ge = q->ge;
	memcpy(dst, q->x + ((size_t)c * ge->in[0] * ge->in[1] + (size_t)r) * ge->in[2],
	       sizeof(float) * (size_t)ge->in[2]);
}

static void write_row(void *ctx, int f, int r, const float *row, int ow)
{
	const rows_ctx *q = ctx;
	const geom *ge = q->ge;
	int64_t mm = f / q->taps, t = f % q->taps;
	int64_t kz = t / (ge->k[1] * ge->k[2]), ky = t / ge->k[2] % ge->k[1], kx = t % ge->k[2];
	int64_t oz = r / ge->in[1] * ge->s[0] + kz * ge->d[0] - ge->pb[0];
	int64_t oy = r % ge->in[1] * ge->s[1] + ky * ge->d[1] - ge->pb[1];
	if (oz < 0 || oz >= ge->out[0] || oy < 0 || oy >= ge->out[1])
		return;
	int64_t sx = ge->s[2], base = kx * ge->d[2] - ge->pb[2];
	/* Columns ix with 0 <= ix*sx + base < out. */
	int64_t lo = base >= 0 ? 0 : (-base + sx - 1) / sx;
	int64_t hi = ge->out[2] - base <= 0 ? 0 : (ge->out[2] - base + sx - 1) / sx;
	if (hi > ow)
		hi = ow;
	float *y = q->y + ((size_t)(mm * ge->out[0] + oz) * ge->out[1] + oy) * ge->out[2] + base;
	if (sx == 2)
		for (int64_t ix = lo; ix < hi; ix++)
			y[2 * ix] = row[ix];
	else
		for (int64_t ix = lo; ix < hi; ix++)
			y[ix * sx] = row[ix];
}

static int direct(cnnf_graph *g, cnnf_node *n, const state *st, const float *x, const float *w,
		  const float *b, float *y, int threads)
{
	const geom *ge = &st->ge;
	cnnf_kernel **k = st->kern;
	if (!k && !(k = make_kernels(g, n, ge, w, b)))
		return -1;
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group;
	size_t inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	size_t outplane = (size_t)ge->out[0] * ge->out[1] * ge->out[2];
	if (!st->full)
		for (int64_t p = 0; p < ge->nb * ge->m; p++) {
			float v = b ? b[p % ge->m] : 0.0f;
			float *yp = y + (size_t)p * outplane;
			for (size_t i = 0; i < outplane; i++)
				yp[i] = v;
		}
	cnnf_conv_geom geo = {.stride_y = 1, .stride_x = 1, .dil_y = 1, .dil_x = 1,
			      .border = CNNF_BORDER_ZERO};
	cnnf_conv_out post = {.fast = 1};
	int rc = 0;
	for (int64_t bi = 0; bi < ge->nb && !rc; bi++)
		for (int64_t gi = 0; gi < ge->group && !rc; gi++) {
			rows_ctx q = {ge, x + ((size_t)bi * ge->c + gi * cg) * inplane,
				      y + ((size_t)bi * ge->m + gi * mg) * outplane, taps_of(ge)};
			cnnf_conv_rows io = {(int)cg, (int)(ge->in[0] * ge->in[1]), (int)ge->in[2],
					     read_row, write_row, NULL, &q, 0, 0};
			if (cnnf_conv_run(&io, k[gi], &geo, &post, threads, n->op_type) < 0)
				rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
		}
	if (k != st->kern) {
		for (int64_t i = 0; i < ge->group; i++)
			cnnf_kernel_free(k[i]);
		free(k);
	}
	return rc;
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	const float *b = n->nin > 2 && in[2] ? in[2]->data : NULL;
	const state *st = n->state;
	if (st && st->direct)
		return direct(g, n, st, in[0]->data, in[1]->data, b, out[0]->data, threads);
	job j = {.x = in[0]->data, .w = in[1]->data, .b = b, .y = out[0]->data};
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
	.prepare = prepare, .release = release, .forward = forward, .work = work,
};
