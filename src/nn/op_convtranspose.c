/*
 * op_convtranspose.c: ONNX ConvTranspose (1-D to 3-D, groups, dilations,
 * pads, output_padding, output_shape).
 *
 * The layer is first a matrix product: a 1x1 convolution on the conv
 * engine with Cout * taps outputs, one plane per output channel and tap,
 * in float with fused multiply-adds over the input channels in order. Then:
 * - taps that never overlap (dilation * (kernel - 1) < stride on every
 *   axis, as the kernel == stride up-sampling of U-Nets): each output
 *   sample is reached by at most one tap, so each plane is scattered into
 *   the output with the bias added in float (the engine's); a sample no tap
 *   reaches is the bias;
 * - overlapping taps: each output sample is the double sum, in tap order
 *   (depth, row, column), of the tap values that reach it, plus the bias,
 *   rounded once.
 * Sizes beyond the engine's limits fall back to a scatter from the input
 * accumulated in double. None of it depends on the thread count.
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

/*
 * The input index that output index o reads through tap k on axis a (with
 * i*s - pb + k*d == o), or -1 when the tap reaches o from no input sample.
 */
static inline int64_t tap_source(const geom *ge, int a, int64_t o, int64_t k)
{
	int64_t t = o + ge->pb[a] - k * ge->d[a];
	if (t < 0 || t % ge->s[a] || t / ge->s[a] >= ge->in[a])
		return -1;
	return t / ge->s[a];
}

/* ---- Beyond the engine's limits: a scatter in double ---- */

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
						int64_t iz = tap_source(ge, 0, oz, kz);
						if (iz < 0)
							continue;
						for (int64_t ky = 0; ky < ge->k[1]; ky++) {
							int64_t iy = tap_source(ge, 1, oy, ky);
							if (iy < 0)
								continue;
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
								double *ar = acc + (base - qb * sx) * qn;
								for (int64_t ix = lo; ix < hi; ix++)
									ar[qb + ix] += wt * xr[ix];
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

/* ---- On the engine: a 1x1 convolution with Cout * taps outputs ---- */

/*
 * Engine outputs (tap planes) kept at once by the overlapping path: its
 * output channels go through the engine in blocks whose planes fit here.
 */
#define COLUMN_BYTES ((size_t)32 << 20)

enum { PATH_SCATTER, PATH_DISJOINT, PATH_COLUMNS };

/* What prepare found for the current shapes. */
typedef struct state {
	geom ge;
	int path;
	int full;            /* PATH_DISJOINT: every output sample is reached by a tap */
	int64_t mb, nblk;    /* output channels per engine run, runs per group */
	cnnf_kernel **kern;  /* [group * nblk] from constant W and B, or NULL (made at each run) */
} state;

static int64_t taps_of(const geom *ge)
{
	return ge->k[0] * ge->k[1] * ge->k[2];
}

/* The path for ge, and for the engine's paths how the output channels are blocked. */
static void choose(state *st)
{
	const geom *ge = &st->ge;
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group, taps = taps_of(ge);
	size_t inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	st->path = PATH_SCATTER;
	if (cg > CNNF_KERNEL_MAX_DIM || taps > CNNF_KERNEL_MAX_DIM ||
	    ge->in[0] * ge->in[1] > INT_MAX / 4 || ge->in[2] > INT_MAX / 4)
		return;
	int disjoint = 1;
	st->full = 1;
	for (int a = 0; a < 3; a++) {
		if (ge->d[a] * (ge->k[a] - 1) >= ge->s[a])
			disjoint = 0;
		/*
		 * Output o is reached when o + pb = i*s + t*d for an input i and
		 * tap t: every residue modulo s must be a tap's (k == s with
		 * unit dilation, or a single tap and stride), and the taps must
		 * reach both ends.
		 */
		int residues = ge->k[a] == ge->s[a] && (ge->d[a] == 1 || ge->k[a] == 1);
		if (!residues || ge->pb[a] < 0 || ge->out[a] + ge->pb[a] > ge->in[a] * ge->s[a])
			st->full = 0;
	}
	/* Filters of one run: within the engine's limits (and, overlapping, COLUMN_BYTES of planes). */
	int64_t mb = CNNF_KERNEL_MAX_DIM / taps;
	if ((uint64_t)mb * taps * cg > CNNF_KERNEL_MAX_WEIGHTS)
		mb = (int64_t)(CNNF_KERNEL_MAX_WEIGHTS / ((uint64_t)taps * cg));
	if (!disjoint) {
		size_t per = (size_t)taps * inplane * sizeof(float);
		int64_t fit = (int64_t)(COLUMN_BYTES / (per ? per : 1));
		mb = mb < fit ? mb : fit;
		if (mb < 1 && per <= COLUMN_BYTES * 4)
			mb = 1;
	}
	if (mb < 1)
		return;
	st->mb = mb < mg ? mb : mg;
	st->nblk = (mg + st->mb - 1) / st->mb;
	st->path = disjoint ? PATH_DISJOINT : PATH_COLUMNS;
}

static void free_kernels(cnnf_kernel **k, int64_t count)
{
	if (k)
		for (int64_t i = 0; i < count; i++)
			cnnf_kernel_free(k[i]);
	free(k);
}

static void release(cnnf_node *n)
{
	state *st = n->state;
	if (st) {
		free_kernels(st->kern, st->ge.group * st->nblk);
		free(st);
	}
	n->state = NULL;
}

/*
 * The engine's kernels, one per group and block of output channels: filter
 * f = mm * taps + t of block bl of group gi is output channel gi * mg + bl
 * * mb + mm's tap t, its weights W[gi*cg + c][bl*mb + mm][t] over the
 * group's input channels c; its bias B[gi*mg + bl*mb + mm] on the disjoint
 * path, 0 on the overlapping one (which adds the bias at the end). NULL
 * with a message when out of memory.
 */
static cnnf_kernel **make_kernels(const cnnf_graph *g, const cnnf_node *n, const state *st,
				  const float *w, const float *b)
{
	const geom *ge = &st->ge;
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group, taps = taps_of(ge);
	int64_t nk = ge->group * st->nblk;
	cnnf_kernel **k = calloc((size_t)nk, sizeof *k);
	if (!k)
		goto nomem;
	for (int64_t gi = 0; gi < ge->group; gi++)
		for (int64_t bl = 0; bl < st->nblk; bl++) {
			int64_t m0 = bl * st->mb, cnt = mg - m0 < st->mb ? mg - m0 : st->mb;
			cnnf_kernel *kk = k[gi * st->nblk + bl] = cnnf_kernel_new((int)(cnt * taps), (int)cg, 1, 1);
			if (!kk) {
				free_kernels(k, nk);
				goto nomem;
			}
			for (int64_t c = 0; c < cg; c++)
				for (int64_t mm = 0; mm < cnt; mm++)
					for (int64_t t = 0; t < taps; t++)
						kk->weights[(size_t)(mm * taps + t) * cg + c] =
							w[((size_t)(gi * cg + c) * mg + m0 + mm) * taps + t];
			for (int64_t mm = 0; mm < cnt; mm++)
				for (int64_t t = 0; t < taps; t++)
					kk->bias[mm * taps + t] =
						b && st->path == PATH_DISJOINT ? b[gi * mg + m0 + mm] : 0.0;
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
	choose(st);
	if (st->path != PATH_SCATTER && wv->is_const && wv->data && (!b || (b->is_const && b->data)) &&
	    !(st->kern = make_kernels(g, n, st, wv->data, b ? b->data : NULL))) {
		release(n);
		return -1;
	}
	return 0;
}

/*
 * One engine run: batch item, group, block of output channels. The
 * engine's input is the group's channels with the depth and row axes as
 * one (a 1x1 kernel does not mind); its output plane f is the tap t = f %
 * taps of the block's output channel f / taps. Disjoint: row r of it
 * (r = iz*H + iy) lands on output depth iz*sz + kz*dz - pbz and row
 * iy*sy + ky*dy - pby, every sx-th column from kx*dx - pbx. Overlapping:
 * the rows are kept in cols, plane f, for the gather.
 */
typedef struct rows_ctx {
	const geom *ge;
	const float *x; /* the group's first input channel of this item */
	float *y;       /* disjoint: the block's first output channel of this item */
	float *cols;    /* overlapping: [cnt * taps][D*H][W] */
	int64_t taps;
} rows_ctx;

static void read_row(void *ctx, int c, int r, float *dst)
{
	const rows_ctx *q = ctx;
	const geom *ge = q->ge;
	memcpy(dst, q->x + ((size_t)c * ge->in[0] * ge->in[1] + (size_t)r) * ge->in[2],
	       sizeof(float) * (size_t)ge->in[2]);
}

static float *cols_row(void *ctx, int f, int r)
{
	const rows_ctx *q = ctx;
	const geom *ge = q->ge;
	return q->cols + ((size_t)f * ge->in[0] * ge->in[1] + (size_t)r) * ge->in[2];
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
	float *y = q->y + ((size_t)(mm * ge->out[0] + oz) * ge->out[1] + oy) * ge->out[2];
	if (sx == 2)
		for (int64_t ix = lo; ix < hi; ix++)
			y[2 * ix + base] = row[ix];
	else
		for (int64_t ix = lo; ix < hi; ix++)
			y[ix * sx + base] = row[ix];
}

/*
 * The overlapping path's gather: output planes begin..end-1 of a block,
 * each sample the double sum, in tap order (depth, row, column), of the
 * float tap values that reach it, plus the bias, rounded once. The
 * accumulator is split by column residue as in scatter().
 */
typedef struct gather_job {
	const geom *ge;
	const float *cols;
	float *y;           /* the block's first output channel of this item */
	const float *b;     /* the block's first bias, or NULL */
} gather_job;

static int gather(void *ctx, size_t begin, size_t end)
{
	const gather_job *j = ctx;
	const geom *ge = j->ge;
	size_t taps = (size_t)taps_of(ge), inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	int64_t ow = ge->out[2], sx = ge->s[2], qn = (ow + sx - 1) / sx;
	double *acc = malloc(sizeof(double) * (size_t)(qn * sx));
	if (!acc)
		return -1;
	for (size_t mm = begin; mm < end; mm++) {
		float *y = j->y + mm * (size_t)ge->out[0] * ge->out[1] * ow;
		double bias = j->b ? j->b[mm] : 0;
		for (int64_t oz = 0; oz < ge->out[0]; oz++)
			for (int64_t oy = 0; oy < ge->out[1]; oy++) {
				for (int64_t i = 0; i < qn * sx; i++)
					acc[i] = 0;
				for (int64_t kz = 0; kz < ge->k[0]; kz++) {
					int64_t iz = tap_source(ge, 0, oz, kz);
					if (iz < 0)
						continue;
					for (int64_t ky = 0; ky < ge->k[1]; ky++) {
						int64_t iy = tap_source(ge, 1, oy, ky);
						if (iy < 0)
							continue;
						for (int64_t kx = 0; kx < ge->k[2]; kx++) {
							size_t t = (size_t)((kz * ge->k[1] + ky) * ge->k[2] + kx);
							const float *xr = j->cols + (mm * taps + t) * inplane +
									  (size_t)(iz * ge->in[1] + iy) * ge->in[2];
							int64_t base = kx * ge->d[2] - ge->pb[2];
							int64_t lo = base >= 0 ? 0 : (-base + sx - 1) / sx;
							int64_t hi = ow - base <= 0 ? 0 : (ow - base + sx - 1) / sx;
							if (hi > ge->in[2])
								hi = ge->in[2];
							int64_t qb = base >= 0 ? base / sx : -((-base + sx - 1) / sx);
							double *ar = acc + (base - qb * sx) * qn;
							for (int64_t ix = lo; ix < hi; ix++)
								ar[qb + ix] += xr[ix];
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

static int on_engine(cnnf_graph *g, cnnf_node *n, const state *st, const float *x, const float *w,
		     const float *b, float *y, int threads)
{
	const geom *ge = &st->ge;
	cnnf_kernel **k = st->kern;
	if (!k && !(k = make_kernels(g, n, st, w, b)))
		return -1;
	int64_t cg = ge->c / ge->group, mg = ge->m / ge->group, taps = taps_of(ge);
	size_t inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	size_t outplane = (size_t)ge->out[0] * ge->out[1] * ge->out[2];
	int disjoint = st->path == PATH_DISJOINT;
	float *cols = NULL;
	int rc = 0;
	if (!disjoint && !(cols = malloc(sizeof(float) * (size_t)(st->mb * taps) * inplane)))
		rc = cnnf_graph_node_error(g, n, "out of memory");
	if (disjoint && !st->full)
		for (int64_t p = 0; p < ge->nb * ge->m; p++) {
			float v = b ? b[p % ge->m] : 0.0f;
			float *yp = y + (size_t)p * outplane;
			for (size_t i = 0; i < outplane; i++)
				yp[i] = v;
		}
	cnnf_conv_geom geo = {.stride_y = 1, .stride_x = 1, .dil_y = 1, .dil_x = 1,
			      .border = CNNF_BORDER_ZERO};
	cnnf_conv_out post = {.fast = 1};
	for (int64_t bi = 0; bi < ge->nb && !rc; bi++)
		for (int64_t gi = 0; gi < ge->group && !rc; gi++)
			for (int64_t bl = 0; bl < st->nblk && !rc; bl++) {
				int64_t m0 = gi * mg + bl * st->mb;
				int64_t cnt = mg - bl * st->mb < st->mb ? mg - bl * st->mb : st->mb;
				float *yb = y + ((size_t)bi * ge->m + m0) * outplane;
				rows_ctx q = {ge, x + ((size_t)bi * ge->c + gi * cg) * inplane, yb, cols, taps};
				cnnf_conv_rows io = {(int)cg, (int)(ge->in[0] * ge->in[1]), (int)ge->in[2],
						     read_row, write_row, disjoint ? NULL : cols_row, &q, 0, 0};
				if (cnnf_conv_run(&io, k[gi * st->nblk + bl], &geo, &post, threads, n->op_type) < 0) {
					rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
					break;
				}
				if (disjoint)
					continue;
				gather_job gj = {ge, cols, yb, b ? b + m0 : NULL};
				if (cnnf_parallel_for((size_t)cnt, threads, gather, &gj))
					rc = cnnf_graph_node_error(g, n, "out of memory");
			}
	free(cols);
	if (k != st->kern)
		free_kernels(k, ge->group * st->nblk);
	return rc;
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	const float *b = n->nin > 2 && in[2] ? in[2]->data : NULL;
	const state *st = n->state;
	if (st && st->path != PATH_SCATTER)
		return on_engine(g, n, st, in[0]->data, in[1]->data, b, out[0]->data, threads);
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
