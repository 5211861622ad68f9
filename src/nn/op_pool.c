/* op_pool.c: ONNX MaxPool (with Indices), AveragePool, GlobalMaxPool and GlobalAveragePool, 1-D to 3-D. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "base/simd.h"
#include "engine/pool.h"
#include "nn/opwin.h"
#include "nn/ops.h"

enum { POOL_MAX, POOL_AVG };

typedef struct param {
	int kind;
	int global;
	cnnf_opwin w;
	int64_t ceil_mode, count_include_pad;
} param;

/* The geometry for the current shapes: three spatial axes D, H, W, missing ones 1. */
typedef struct geom {
	int64_t nb, c;
	int64_t in[3], k[3], out[3], s[3], d[3], pb[3], pe[3];
} geom;

static int parse_common(cnnf_graph *g, cnnf_node *n, int kind, int global)
{
	param *p = n->param;
	p->kind = kind;
	p->global = global;
	if (global)
		return 0;
	/* Dilations: MaxPool from opset 10, AveragePool from 19. */
	if (cnnf_opwin_parse(g, n, &p->w, kind == POOL_MAX || g->opset >= 19) ||
	    cnnf_node_attr_int(g, n, "ceil_mode", 0, &p->ceil_mode))
		return -1;
	if (!p->w.nk)
		return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' is required");
	if (p->ceil_mode != 0 && p->ceil_mode != 1)
		return cnnf_graph_node_error(g, n, "attribute 'ceil_mode' value %lld not supported",
					     (long long)p->ceil_mode);
	if (kind == POOL_AVG) {
		if (cnnf_node_attr_int(g, n, "count_include_pad", 0, &p->count_include_pad))
			return -1;
		if (p->count_include_pad != 0 && p->count_include_pad != 1)
			return cnnf_graph_node_error(g, n, "attribute 'count_include_pad' value %lld not supported",
						     (long long)p->count_include_pad);
	} else {
		int64_t so;
		if (cnnf_node_attr_int(g, n, "storage_order", 0, &so))
			return -1;
		if (so != 0)
			return cnnf_graph_node_error(g, n, "attribute 'storage_order' value %lld not supported (only 0, row major)",
						     (long long)so);
	}
	return 0;
}

static int parse_max(cnnf_graph *g, cnnf_node *n) { return parse_common(g, n, POOL_MAX, 0); }
static int parse_avg(cnnf_graph *g, cnnf_node *n) { return parse_common(g, n, POOL_AVG, 0); }
static int parse_gmax(cnnf_graph *g, cnnf_node *n) { return parse_common(g, n, POOL_MAX, 1); }
static int parse_gavg(cnnf_graph *g, cnnf_node *n) { return parse_common(g, n, POOL_AVG, 1); }

static int geometry(const cnnf_graph *g, const cnnf_node *n, geom *ge)
{
	const param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	if (x->type != CNNF_DT_F32)
		return cnnf_graph_node_error(g, n, "input 0 must be float");
	int ns = x->ndim - 2;
	if (ns < 1 || ns > 3)
		return cnnf_graph_node_error(g, n, "input 0 has %d dimensions: 3 to 5 (N x C x spatial) are supported",
					     x->ndim);
	cnnf_opwin w = p->w;
	if (p->global) {
		memset(&w, 0, sizeof w);
		w.auto_pad = CNNF_OPWIN_VALID;
		for (int i = 0; i < ns; i++)
			w.k[i] = x->dim[2 + i] > 0 ? x->dim[2 + i] : 1;
	} else if (w.nk != ns) {
		return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' has %d values for %d spatial axes",
					     w.nk, ns);
	}
	if (cnnf_opwin_fit(g, n, &w, ns))
		return -1;
	ge->nb = x->dim[0], ge->c = x->dim[1];
	int off = 3 - ns;
	for (int i = 0; i < 3; i++) {
		ge->in[i] = ge->k[i] = ge->out[i] = ge->s[i] = ge->d[i] = 1;
		ge->pb[i] = ge->pe[i] = 0;
	}
	for (int i = 0; i < ns; i++) {
		int a = off + i;
		ge->in[a] = x->dim[2 + i], ge->k[a] = w.k[i], ge->s[a] = w.s[i], ge->d[a] = w.d[i];
		ge->out[a] = cnnf_opwin_out(&w, i, ge->in[a], (int)p->ceil_mode, &ge->pb[a], &ge->pe[a]);
		if (ge->out[a] <= 0)
			return cnnf_graph_node_error(g, n, "a window of %lld (dilation %lld) leaves no output from %lld samples on axis %d with these pads",
						     (long long)w.k[i], (long long)w.d[i],
						     (long long)ge->in[a], i);
	}
	return 0;
}

static int infer(cnnf_graph *g, cnnf_node *n)
{
	const param *p = n->param;
	geom ge;
	if (geometry(g, n, &ge))
		return -1;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int ns = x->ndim - 2;
	int64_t dim[5] = {ge.nb, ge.c};
	for (int i = 0; i < ns; i++)
		dim[2 + i] = ge.out[3 - ns + i];
	cnnf_value *ind = cnnf_node_out(g, n, 1);
	if (ind && (p->kind != POOL_MAX || p->global))
		return cnnf_graph_node_error(g, n, "output 1 not supported");
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, x->ndim, dim) ||
	       cnnf_graph_set_shape(g, n, ind, CNNF_DT_I64, x->ndim, dim);
}

typedef struct job {
	const param *p;
	geom ge;
	const float *x;
	float *y;
	int64_t *ind;
} job;

/* Planes (batch item, channel) begin..end-1: each written by one call, whatever the threads. */
static int pool_planes(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const geom *ge = &j->ge;
	int max = j->p->kind == POOL_MAX, incl = (int)j->p->count_include_pad;
	size_t inplane = (size_t)ge->in[0] * ge->in[1] * ge->in[2];
	size_t outplane = (size_t)ge->out[0] * ge->out[1] * ge->out[2];
	for (size_t pl = begin; pl < end; pl++) {
		const float *x = j->x + pl * inplane;
		float *y = j->y + pl * outplane;
		int64_t *ind = j->ind ? j->ind + pl * outplane : NULL;
		size_t o = 0;
		for (int64_t oz = 0; oz < ge->out[0]; oz++)
			for (int64_t oy = 0; oy < ge->out[1]; oy++)
				for (int64_t ox = 0; ox < ge->out[2]; ox++, o++) {
					int64_t o3[3] = {oz, oy, ox}, lo[3], hi[3], padded = 1;
					/* Taps t along axis a read o*s - pb + t*d; those inside the input are lo..hi-1. */
					for (int a = 0; a < 3; a++) {
						int64_t st = o3[a] * ge->s[a] - ge->pb[a], d = ge->d[a];
						int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
						int64_t h = ge->in[a] - st <= 0 ? 0 : (ge->in[a] - st + d - 1) / d;
						if (h > ge->k[a])
							h = ge->k[a];
						lo[a] = l, hi[a] = h < l ? l : h;
						if (incl) {
							/* Taps within the padded input (not the ceil_mode overhang). */
							int64_t e = ge->in[a] + ge->pe[a] + ge->pb[a] - o3[a] * ge->s[a];
							int64_t ph = e <= 0 ? 0 : (e + d - 1) / d;
							padded *= ph < ge->k[a] ? ph : ge->k[a];
						}
					}
					double sum = 0;
					float best = -INFINITY;
					int64_t bi = -1, cnt = 0;
					for (int64_t tz = lo[0]; tz < hi[0]; tz++) {
						int64_t iz = o3[0] * ge->s[0] - ge->pb[0] + tz * ge->d[0];
						for (int64_t ty = lo[1]; ty < hi[1]; ty++) {
							int64_t iy = o3[1] * ge->s[1] - ge->pb[1] + ty * ge->d[1];
							const float *row = x + (iz * ge->in[1] + iy) * ge->in[2];
							for (int64_t tx = lo[2]; tx < hi[2]; tx++) {
								int64_t ix = o3[2] * ge->s[2] - ge->pb[2] + tx * ge->d[2];
								float v = row[ix];
								if (max) {
									/* The first maximum; a NaN wins and stays. */
									if (bi < 0 || (!isnan(best) && !(v <= best))) {
										best = v;
										bi = (iz * ge->in[1] + iy) * ge->in[2] + ix;
									}
								} else {
									sum += v;
									cnt++;
								}
							}
						}
					}
					if (max) {
						y[o] = best;
						if (ind)
							ind[o] = bi < 0 ? -1 : (int64_t)(pl * inplane) + bi;
					} else {
						int64_t div = incl ? padded : cnt;
						y[o] = div > 0 ? (float)(sum / (double)div) : NAN;
					}
				}
	}
	return 0;
}

/* Taps lo..hi-1 of a window of k (dilation 1) starting at st that fall in 0..in-1. */
static inline void taps1(int64_t st, int64_t k, int64_t in, int64_t *lo, int64_t *hi)
{
	int64_t l = st >= 0 ? 0 : -st, h = in - st;
	if (h > k)
		h = k;
	*lo = l, *hi = h < l ? l : h;
}

/* Taps of a window at output index o inside the padded input (count_include_pad), dilation 1. */
static inline int64_t padded1(const geom *ge, int a, int64_t o)
{
	int64_t e = ge->in[a] + ge->pe[a] + ge->pb[a] - o * ge->s[a];
	int64_t ph = e <= 0 ? 0 : e;
	return ph < ge->k[a] ? ph : ge->k[a];
}

/*
 * The 2-D case without dilation (D 1, dilations 1): pool_planes' arithmetic in
 * the same order (taps row by row, a double sum for the average, the first
 * maximum), with the window bounds worked out once per row and column and
 * no clipping for interior windows. Planes begin..end-1.
 */
static int pool_planes2(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const geom *ge = &j->ge;
	int max = j->p->kind == POOL_MAX, incl = (int)j->p->count_include_pad;
	int64_t ih = ge->in[1], iw = ge->in[2], oh = ge->out[1], ow = ge->out[2];
	int64_t ky = ge->k[1], kx = ge->k[2], sy = ge->s[1], sx = ge->s[2];
	int64_t py = ge->pb[1], px = ge->pb[2];
	size_t inplane = (size_t)ih * iw, outplane = (size_t)oh * ow;
	/* Columns x0..x1-1 have windows wholly inside the input. */
	int64_t x0 = (px + sx - 1) / sx, x1 = iw - kx + px >= 0 ? (iw - kx + px) / sx + 1 : 0;
	if (x1 > ow)
		x1 = ow;
	if (x1 < x0)
		x1 = x0;
	for (size_t pl = begin; pl < end; pl++) {
		const float *x = j->x + pl * inplane;
		float *y = j->y + pl * outplane;
		int64_t *ind = j->ind ? j->ind + pl * outplane : NULL;
		for (int64_t oy = 0; oy < oh; oy++) {
			int64_t sty = oy * sy - py, ly, hy;
			taps1(sty, ky, ih, &ly, &hy);
			int64_t pady = incl ? padded1(ge, 1, oy) : 0;
			float *yr = y + oy * ow;
			int64_t *ir = ind ? ind + oy * ow : NULL;
			int inner_y = ly == 0 && hy == ky;
			for (int64_t ox = 0; ox < ow; ox++) {
				int64_t stx = ox * sx - px, lx, hx;
				if (inner_y && ox >= x0 && ox < x1) {
					/* An interior window: no bounds to check. */
					const float *w0 = x + sty * iw + stx;
					if (max) {
						float best = w0[0];
						int64_t bi = 0;
						for (int64_t ty = 0; ty < ky; ty++) {
							const float *row = w0 + ty * iw;
							for (int64_t tx = 0; tx < kx; tx++) {
								float v = row[tx];
								if (!isnan(best) && !(v <= best))
									best = v, bi = ty * iw + tx;
							}
						}
						yr[ox] = best;
						if (ir)
							ir[ox] = (int64_t)(pl * inplane) + sty * iw + stx + bi;
					} else {
						double sum = 0;
						for (int64_t ty = 0; ty < ky; ty++) {
							const float *row = w0 + ty * iw;
							for (int64_t tx = 0; tx < kx; tx++)
								sum += row[tx];
						}
						int64_t div = incl ? pady * padded1(ge, 2, ox) : ky * kx;
						yr[ox] = div > 0 ? (float)(sum / (double)div) : NAN;
					}
					continue;
				}
				taps1(stx, kx, iw, &lx, &hx);
				double sum = 0;
				float best = -INFINITY;
				int64_t bi = -1, cnt = 0;
				for (int64_t ty = ly; ty < hy; ty++) {
					int64_t iy = sty + ty;
					const float *row = x + iy * iw;
					for (int64_t tx = lx; tx < hx; tx++) {
						int64_t ix = stx + tx;
						float v = row[ix];
						if (max) {
							if (bi < 0 || (!isnan(best) && !(v <= best))) {
								best = v;
								bi = iy * iw + ix;
							}
						} else {
							sum += v;
							cnt++;
						}
					}
				}
				if (max) {
					yr[ox] = best;
					if (ir)
						ir[ox] = bi < 0 ? -1 : (int64_t)(pl * inplane) + bi;
				} else {
					int64_t div = incl ? pady * padded1(ge, 2, ox) : cnt;
					yr[ox] = div > 0 ? (float)(sum / (double)div) : NAN;
				}
			}
		}
	}
	return 0;
}

/* Whether pool_planes2 handles ge: one depth, no dilation (pool_planes is the reference). */
static int is_plain2d(const geom *ge)
{
	return ge->in[0] == 1 && ge->k[0] == 1 && ge->s[0] == 1 && ge->pb[0] == 0 && ge->pe[0] == 0 &&
	       ge->d[1] == 1 && ge->d[2] == 1;
}

/* ---- Rows at a time: 2-D windows of any stride and dilation, without Indices ----
 *
 * An output row is made from its taps, a block of outputs at a time: for
 * tap (ty, tx), every output ox reads padded column ox*sx + tx*dx of input
 * row oy*sy - py + ty*dy. Each input row is copied once into a padded row
 * split by column phase modulo sx (phase r holds padded columns r, r + sx,
 * ...), so that a tap's reads are consecutive floats and the loops
 * vectorise; at stride 1 without left padding (dense segmentation's pools)
 * the input row is that already and is read in place.
 * The arithmetic is pool_planes' in its order:
 * - max: taps row by row, keeping the first maximum and the first NaN, as
 *   best = (isnan(best) || v <= best) ? best : v from best = -inf; padding
 *   is -inf, which never replaces anything, and a window with no tap in the
 *   input is -inf, as pool_planes gives;
 * - average: a double sum from 0 over the taps row by row; padding adds
 *   +0, which leaves every sum as it is (a sum from +0 is never -0); then
 *   divided by the taps counted as pool_planes counts them.
 * Rows of taps outside the input are skipped, as there.
 */

typedef struct rowpool {
	int64_t ow, kx, sx, dx;
	int64_t len;           /* floats of one phase: ow + the taps' reach in it */
	int64_t *div_x;        /* average: taps counted along x for each output column */
} rowpool;

/* Taps along axis a of the window at output o that fall inside the input (any dilation). */
static int64_t inside_taps(const geom *ge, int a, int64_t o)
{
	int64_t st = o * ge->s[a] - ge->pb[a], d = ge->d[a];
	int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
	int64_t h = ge->in[a] - st <= 0 ? 0 : (ge->in[a] - st + d - 1) / d;
	if (h > ge->k[a])
		h = ge->k[a];
	return h > l ? h - l : 0;
}

/* Taps along axis a of the window at output o inside the padded input (count_include_pad). */
static int64_t padded_taps(const geom *ge, int a, int64_t o)
{
	int64_t e = ge->in[a] + ge->pe[a] + ge->pb[a] - o * ge->s[a];
	int64_t ph = e <= 0 ? 0 : (e + ge->d[a] - 1) / ge->d[a];
	return ph < ge->k[a] ? ph : ge->k[a];
}

/* Input row `row` (iw floats) as sx phases of rp->len floats, padding `pad`. */
static void split_row(const rowpool *rp, const float *row, int64_t iw, int64_t px, float pad,
		      float *dst)
{
	int64_t sx = rp->sx, len = rp->len;
	for (int64_t r = 0; r < sx; r++) {
		float *d = dst + r * len;
		/* Phase r, element i: padded column i*sx + r, input column i*sx + r - px. */
		int64_t i0 = px - r > 0 ? (px - r + sx - 1) / sx : 0;
		int64_t i1 = iw + px - r > 0 ? (iw + px - r + sx - 1) / sx : 0;
		if (i0 > len)
			i0 = len;
		if (i1 > len)
			i1 = len;
		if (i1 < i0)
			i1 = i0;
		for (int64_t i = 0; i < i0; i++)
			d[i] = pad;
		int64_t off = r - px; /* i*sx + off >= 0 from i0 on */
		if (sx == 1)
			memcpy(d + i0, row + i0 + off, sizeof(float) * (size_t)(i1 - i0));
		else if (sx == 2)
			for (int64_t i = i0; i < i1; i++)
				d[i] = row[2 * i + off];
		else
			for (int64_t i = i0; i < i1; i++)
				d[i] = row[i * sx + off];
		for (int64_t i = i1; i < len; i++)
			d[i] = pad;
	}
}

typedef struct rowjob {
	const param *p;
	geom ge;
	rowpool rp;
	const float *x;
	float *y;
} rowjob;

static int pool_rows(void *ctx, size_t begin, size_t end)
{
	const rowjob *j = ctx;
	const geom *ge = &j->ge;
	const rowpool *rp = &j->rp;
	int max = j->p->kind == POOL_MAX, incl = (int)j->p->count_include_pad;
	int64_t ih = ge->in[1], iw = ge->in[2], oh = ge->out[1], ow = ge->out[2];
	int64_t ky = ge->k[1], sy = ge->s[1], dy = ge->d[1], py = ge->pb[1], px = ge->pb[2];
	int64_t kx = rp->kx, sx = rp->sx, dx = rp->dx, len = rp->len;
	/*
	 * Stride 1 without left padding and no tap beyond the row (the dense
	 * form's pools): phase 0 is the input row itself, read where it is.
	 */
	int in_place = sx == 1 && px == 0 && len <= iw;
	/* A ring of the split input rows one window reads: rows a window spans, at most ih. */
	int64_t ring = (ky - 1) * dy + 1;
	if (ring > ih)
		ring = ih;
	size_t rowf = (size_t)(sx * len);
	float *buf = in_place ? NULL : malloc(sizeof(float) * rowf * (size_t)ring);
	int64_t *held = in_place ? NULL : malloc(sizeof(int64_t) * (size_t)ring);
	const float **tap = malloc(sizeof(*tap) * (size_t)(ky * kx));
	int rc = -1;
	if ((!in_place && (!buf || !held)) || !tap)
		goto out;
	size_t inplane = (size_t)ih * iw, outplane = (size_t)oh * ow;
	for (size_t pl = begin; pl < end; pl++) {
		const float *x = j->x + pl * inplane;
		float *y = j->y + pl * outplane;
		for (int64_t r = 0; !in_place && r < ring; r++)
			held[r] = -1;
		for (int64_t oy = 0; oy < oh; oy++) {
			int64_t sty = oy * sy - py;
			int nt = 0;
			for (int64_t ty = 0; ty < ky; ty++) {
				int64_t iy = sty + ty * dy;
				if (iy < 0 || iy >= ih)
					continue;
				if (in_place) {
					for (int64_t tx = 0; tx < kx; tx++)
						tap[nt++] = x + iy * iw + tx * dx;
					continue;
				}
				float *sr = buf + (size_t)(iy % ring) * rowf;
				if (held[iy % ring] != iy) {
					split_row(rp, x + iy * iw, iw, px, max ? -INFINITY : 0.0f, sr);
					held[iy % ring] = iy;
				}
				for (int64_t tx = 0; tx < kx; tx++) {
					int64_t t = tx * dx;
					tap[nt++] = sr + (t % sx) * len + t / sx;
				}
			}
			float *yr = y + oy * ow;
			if (max)
				cnnf_pool_max_taps(yr, tap, nt, ow);
			else
				cnnf_pool_avg_taps(yr, tap, nt, rp->div_x,
					 incl ? padded_taps(ge, 1, oy) : inside_taps(ge, 1, oy), ow);
		}
	}
	rc = 0;
out:
	free(buf);
	free(held);
	free(tap);
	return rc;
}

/* Whether pool_rows handles ge: one depth (2-D or 1-D) and a row to share the taps. */
static int rows_fit(const geom *ge)
{
	return ge->in[0] == 1 && ge->k[0] == 1 && ge->s[0] == 1 && ge->pb[0] == 0 &&
	       ge->pe[0] == 0 && ge->out[2] >= 8;
}

static int run_rows(cnnf_graph *g, cnnf_node *n, const job *src, int threads)
{
	rowjob j = {.p = src->p, .ge = src->ge, .x = src->x, .y = src->y};
	const geom *ge = &j.ge;
	rowpool *rp = &j.rp;
	rp->ow = ge->out[2], rp->kx = ge->k[2], rp->sx = ge->s[2], rp->dx = ge->d[2];
	rp->len = rp->ow + (rp->kx - 1) * rp->dx / rp->sx;
	int rc = 0;
	if (j.p->kind == POOL_AVG) {
		if (!(rp->div_x = malloc(sizeof(int64_t) * (size_t)rp->ow)))
			return cnnf_graph_node_error(g, n, "out of memory");
		for (int64_t ox = 0; ox < rp->ow; ox++)
			rp->div_x[ox] = j.p->count_include_pad ? padded_taps(ge, 2, ox)
							       : inside_taps(ge, 2, ox);
	}
	if (cnnf_parallel_for((size_t)(ge->nb * ge->c), threads, pool_rows, &j))
		rc = cnnf_graph_node_error(g, n, "out of memory");
	free(rp->div_x);
	return rc;
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	const param *p = n->param;
	job j = {.p = p, .x = in[0]->data, .y = out[0]->data,
		 .ind = n->nout > 1 && out[1] ? out[1]->data : NULL};
	if (geometry(g, n, &j.ge))
		return -1;
	if (!j.ind && !p->global && rows_fit(&j.ge))
		return run_rows(g, n, &j, threads);
	cnnf_parallel_fn fn = is_plain2d(&j.ge) ? pool_planes2 : pool_planes;
	if (cnnf_parallel_for((size_t)(j.ge.nb * j.ge.c), threads, fn, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static double work(const cnnf_graph *g, const cnnf_node *n)
{
	const param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0), *y = cnnf_node_out(g, n, 0);
	if (!y || y->ndim < 0)
		return 0;
	if (p->global)
		return (double)cnnf_value_count(x);
	double taps = 1;
	for (int i = 0; i < p->w.nk; i++)
		taps *= (double)p->w.k[i];
	return (double)cnnf_value_count(y) * taps;
}

const cnnf_op cnnf_op_maxpool = {
	.name = "MaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
	.param_size = sizeof(param), .parse = parse_max, .infer = infer,
	.forward = forward, .work = work,
};

const cnnf_op cnnf_op_averagepool = {
	.name = "AveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.param_size = sizeof(param), .parse = parse_avg, .infer = infer,
	.forward = forward, .work = work,
};

const cnnf_op cnnf_op_globalmaxpool = {
	.name = "GlobalMaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.param_size = sizeof(param), .parse = parse_gmax, .infer = infer,
	.forward = forward, .work = work,
};

const cnnf_op cnnf_op_globalaveragepool = {
	.name = "GlobalAveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
	.param_size = sizeof(param), .parse = parse_gavg, .infer = infer,
	.forward = forward, .work = work,
};
