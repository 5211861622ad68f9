/* grad.c: every layer's backward pass; batchnorm and dropout in training mode. */
#include "nn/grad.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/simd.h"

/*
 * The vector loops. GCC and Clang lower these vector types to whatever the
 * CPU has (CNNF_CLONES builds AVX-512, AVX2 and baseline versions), and every
 * lane computes exactly what the scalar code does: a product, then a sum, in
 * the same order. Contraction into fused multiply-adds is off, so all
 * versions give the same bits.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef int vi16 __attribute__((vector_size(64)));

/* Unaligned loads and stores; macros, because passing vectors by value depends on the target. */
#define LOADV(v, p)  memcpy(&(v), (p), sizeof(v))
#define STOREV(p, v) memcpy((p), &(v), sizeof(v))

/*
 * C[i][j] += sum_k A[i*ai + k*ak] * B[k*ldb + j] for i < m, j < n, k < kk,
 * each sum over k in order, starting from C's value. Blocks of 4 rows by 16
 * columns stay in registers across the k loop.
 */
CNNF_CLONES static void gemm_acc(int m, int n, int kk, const float *a, size_t ai, size_t ak,
                                 const float *b, size_t ldb, float *c, size_t ldc)
{
	int j = 0;
	for (; j + 16 <= n; j += 16) {
		int i = 0;
		for (; i + 4 <= m; i += 4) {
			float *c0 = c + (size_t)i * ldc + j;
			vf16 s0, s1, s2, s3, bv;
			LOADV(s0, c0);
			LOADV(s1, c0 + ldc);
			LOADV(s2, c0 + 2 * ldc);
			LOADV(s3, c0 + 3 * ldc);
			const float *a0 = a + (size_t)i * ai;
			for (int k = 0; k < kk; k++) {
				LOADV(bv, b + (size_t)k * ldb + j);
				const float *ak0 = a0 + (size_t)k * ak;
				s0 += ak0[0] * bv;
				s1 += ak0[ai] * bv;
				s2 += ak0[2 * ai] * bv;
				s3 += ak0[3 * ai] * bv;
			}
			STOREV(c0, s0);
			STOREV(c0 + ldc, s1);
			STOREV(c0 + 2 * ldc, s2);
			STOREV(c0 + 3 * ldc, s3);
		}
		for (; i < m; i++) {
			float *c0 = c + (size_t)i * ldc + j;
			vf16 s0, bv;
			LOADV(s0, c0);
			const float *a0 = a + (size_t)i * ai;
			for (int k = 0; k < kk; k++) {
				LOADV(bv, b + (size_t)k * ldb + j);
				s0 += a0[(size_t)k * ak] * bv;
			}
			STOREV(c0, s0);
		}
	}
	for (; j + 8 <= n; j += 8)
		for (int i = 0; i < m; i++) {
			float *c0 = c + (size_t)i * ldc + j;
			vf8 s0, bv;
			LOADV(s0, c0);
			const float *a0 = a + (size_t)i * ai;
			for (int k = 0; k < kk; k++) {
				LOADV(bv, b + (size_t)k * ldb + j);
				s0 += a0[(size_t)k * ak] * bv;
			}
			STOREV(c0, s0);
		}
	for (; j + 4 <= n; j += 4)
		for (int i = 0; i < m; i++) {
			float *c0 = c + (size_t)i * ldc + j;
			vf4 s0, bv;
			LOADV(s0, c0);
			const float *a0 = a + (size_t)i * ai;
			for (int k = 0; k < kk; k++) {
				LOADV(bv, b + (size_t)k * ldb + j);
				s0 += a0[(size_t)k * ak] * bv;
			}
			STOREV(c0, s0);
		}
	for (; j < n; j++)
		for (int i = 0; i < m; i++) {
			const float *a0 = a + (size_t)i * ai;
			float s = c[(size_t)i * ldc + j];
			for (int k = 0; k < kk; k++)
				s += a0[(size_t)k * ak] * b[(size_t)k * ldb + j];
			c[(size_t)i * ldc + j] = s;
		}
}

/*
 * sums[i] += the sum of row i of v (m rows of len values): 16 partial sums
 * (value k into lane k % 16) added in lane order, then the values past the
 * last full 16, in order. The same bits whatever the vector width.
 */
CNNF_CLONES static void row_sums(int m, int len, const float *v, float *sums)
{
	int full = len / 16 * 16;
	for (int i = 0; i < m; i++) {
		const float *r = v + (size_t)i * len;
		vf16 acc = {0}, x;
		for (int k = 0; k < full; k += 16) {
			LOADV(x, r + k);
			acc += x;
		}
		float t = acc[0];
		for (int k = 1; k < 16; k++)
			t += acc[k];
		for (int k = full; k < len; k++)
			t += r[k];
		sums[i] += t;
	}
}

struct cnnf_grad_conv_plan {
	const cnnf_layer *l;
	int c, h, w;    /* input */
	int f, p, r;    /* filters, output positions, taps per filter */
	int direct;     /* the one output position reads the input as it is (fc) */
	int by_filter;  /* weight gradient with the filters along the vectors (few taps) */
	int32_t *index; /* [p][r]: input element each tap reads, -1 in the padding */
};

void cnnf_grad_conv_plan_free(cnnf_grad_conv_plan *p)
{
	if (!p)
		return;
	free(p->index);
	free(p);
}

cnnf_grad_conv_plan *cnnf_grad_conv_plan_new(const cnnf_layer *l)
{
	int fc = l->type == CNNF_LAYER_FC;
	int kh = fc ? l->in_h : l->kh, kw = fc ? l->in_w : l->kw;
	int s = fc ? 1 : l->stride, pad = fc ? 0 : l->pad, d = fc ? 1 : l->dilation;
	cnnf_grad_conv_plan *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	*p = (cnnf_grad_conv_plan){.l = l,
	                           .c = l->in_c,
	                           .h = l->in_h,
	                           .w = l->in_w,
	                           .f = l->out_c,
	                           .p = l->out_h * l->out_w,
	                           .r = l->in_c * kh * kw};
	p->direct = p->p == 1 && kh == l->in_h && kw == l->in_w && pad == 0;
	/* Vectors run along the longer of taps and filters. */
	p->by_filter = p->r < 16 && p->f > p->r;
	if (p->direct)
		return p;
	if (!(p->index = malloc((size_t)p->p * p->r * sizeof *p->index))) {
		free(p);
		return NULL;
	}
	int32_t *q = p->index;
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++)
			for (int c = 0; c < p->c; c++)
				for (int i = 0; i < kh; i++)
					for (int j = 0; j < kw; j++) {
						int iy = oy * s - pad + i * d,
						    ix = ox * s - pad + j * d;
						int in =
						    iy >= 0 && iy < p->h && ix >= 0 && ix < p->w;
						*q++ =
						    in ? (int32_t)(((size_t)c * p->h + iy) * p->w +
						                   ix)
						       : -1;
					}
	return p;
}

size_t cnnf_grad_conv_work(const cnnf_grad_conv_plan *p)
{
	size_t pr = (size_t)p->p * p->r;
	/* colT and dcolT; by filter also dy transposed and the weight gradient transposed. */
	return 2 * pr + (p->by_filter ? (size_t)p->p * p->f + (size_t)p->r * p->f : 0);
}

void cnnf_grad_conv(const cnnf_grad_conv_plan *p, const float *x, const float *dy, float *dx,
                    float *dw, float *db, float *work)
{
	size_t pr = (size_t)p->p * p->r;
	float *colT = work, *dcolT = work + pr;
	/* colT[q][r]: the input tap r of output position q reads (0 in the padding). */
	const float *cols = x;
	if (!p->direct) {
		for (size_t i = 0; i < pr; i++)
			colT[i] = p->index[i] >= 0 ? x[p->index[i]] : 0.0f;
		cols = colT;
	}
	if (!p->by_filter) {
		/* dw[f][r] += sum_q dy[f][q] * colT[q][r] */
		gemm_acc(p->f, p->r, p->p, dy, (size_t)p->p, 1, cols, (size_t)p->r, dw,
		         (size_t)p->r);
	} else {
		/* dwT[r][f] = sum_q colT[q][r] * dyT[q][f], then added to dw. */
		float *dyT = dcolT + pr, *dwT = dyT + (size_t)p->p * p->f;
		for (int f = 0; f < p->f; f++)
			for (int q = 0; q < p->p; q++)
				dyT[(size_t)q * p->f + f] = dy[(size_t)f * p->p + q];
		memset(dwT, 0, (size_t)p->r * p->f * sizeof *dwT);
		gemm_acc(p->r, p->f, p->p, cols, 1, (size_t)p->r, dyT, (size_t)p->f, dwT,
		         (size_t)p->f);
		for (int f = 0; f < p->f; f++)
			for (int r = 0; r < p->r; r++)
				dw[(size_t)f * p->r + r] += dwT[(size_t)r * p->f + f];
	}
	row_sums(p->f, p->p, dy, db);
	if (!dx)
		return;
	/* dcolT[q][r] = sum_f dy[f][q] * w[f][r], then each tap's gradient goes back to its input.
	 */
	if (p->direct) {
		memset(dx, 0, (size_t)p->r * sizeof *dx);
		gemm_acc(1, p->r, p->f, dy, 0, 1, p->l->weight, (size_t)p->r, dx, (size_t)p->r);
		return;
	}
	memset(dcolT, 0, pr * sizeof *dcolT);
	gemm_acc(p->p, p->r, p->f, dy, 1, (size_t)p->p, p->l->weight, (size_t)p->r, dcolT,
	         (size_t)p->r);
	memset(dx, 0, (size_t)p->c * p->h * p->w * sizeof *dx);
	for (size_t i = 0; i < pr; i++)
		if (p->index[i] >= 0)
			dx[p->index[i]] += dcolT[i];
}

double cnnf_grad_softmax_xent(const float *z, int k, int y, double scale, float *dz)
{
	double max = z[0], sum = 0;
	for (int i = 1; i < k; i++)
		if (z[i] > max)
			max = z[i];
	for (int i = 0; i < k; i++)
		sum += exp((double)z[i] - max);
	double lse = max + log(sum);
	for (int i = 0; i < k; i++)
		dz[i] = (float)(scale * (exp((double)z[i] - lse) - (i == y)));
	return lse - z[y];
}

/* CNNF_CLONES only on static functions: Clang's clones of external ones do not link. */
CNNF_CLONES static void relu_mask(const float *y, const float *dy, float *dx, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		vf16 yv, gv;
		LOADV(yv, y + i);
		LOADV(gv, dy + i);
		vi16 keep = yv > (vf16){0};
		vi16 r = (vi16)gv & keep;
		STOREV(dx + i, r);
	}
	for (; i < n; i++)
		dx[i] = y[i] > 0 ? dy[i] : 0.0f;
}

void cnnf_grad_relu(const float *y, const float *dy, float *dx, size_t n)
{
	relu_mask(y, dy, dx, n);
}

void cnnf_grad_maxpool(const cnnf_layer *l, const float *x, const float *dy, float *dx)
{
	int h = l->in_h, w = l->in_w, oh = l->out_h, ow = l->out_w, k = l->kh, s = l->stride;
	memset(dx, 0, sizeof(float) * (size_t)l->in_c * h * w);
	for (int c = 0; c < l->in_c; c++) {
		const float *src = x + (size_t)c * h * w;
		float *dst = dx + (size_t)c * h * w;
		const float *g = dy + (size_t)c * oh * ow;
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				size_t at = (size_t)oy * s * w + (size_t)ox * s, best = at;
				float m = src[at];
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++) {
						size_t q = at + (size_t)i * w + j;
						float v = src[q];
						/* pool.c's rule: the first maximum; a NaN wins. */
						if (m == m && (v != v || v > m)) {
							m = v;
							best = q;
						}
					}
				dst[best] += g[(size_t)oy * ow + ox];
			}
	}
}

void cnnf_grad_avgpool(const cnnf_layer *l, const float *dy, float *dx)
{
	int h = l->in_h, w = l->in_w, oh = l->out_h, ow = l->out_w, k = l->kh, s = l->stride;
	double inv = 1.0 / ((double)k * k);
	memset(dx, 0, sizeof(float) * (size_t)l->in_c * h * w);
	for (int c = 0; c < l->in_c; c++) {
		float *dst = dx + (size_t)c * h * w;
		const float *g = dy + (size_t)c * oh * ow;
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				float v = (float)(g[(size_t)oy * ow + ox] * inv);
				float *win = dst + (size_t)oy * s * w + (size_t)ox * s;
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++)
						win[(size_t)i * w + j] += v;
			}
	}
}

void cnnf_grad_dropout_mask(double p, cnnf_rng *r, float *mask, size_t n)
{
	float keep = (float)(1.0 / (1.0 - p));
	for (size_t i = 0; i < n; i++)
		mask[i] = cnnf_rng_uniform(r) < p ? 0.0f : keep;
}

CNNF_CLONES static void scale(const float *mask, float *v, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		vf16 m, x;
		LOADV(m, mask + i);
		LOADV(x, v + i);
		x *= m;
		STOREV(v + i, x);
	}
	for (; i < n; i++)
		v[i] *= mask[i];
}

void cnnf_grad_scale(const float *mask, float *v, size_t n)
{
	scale(mask, v, n);
}

void cnnf_grad_batchnorm_forward(cnnf_layer *l, int n, int c0, int c1, const float *x, float *y,
                                 float *xhat, double *istd, double momentum)
{
	size_t plane = (size_t)l->in_h * l->in_w, stride = (size_t)l->in_c * plane;
	double m = (double)n * plane;
	for (int c = c0; c < c1; c++) {
		double sum = 0, sq = 0;
		for (int s = 0; s < n; s++) {
			const float *p = x + s * stride + c * plane;
			for (size_t i = 0; i < plane; i++)
				sum += p[i];
		}
		double mean = sum / m;
		/* Two passes: the variance of values far from 0 keeps its digits. */
		for (int s = 0; s < n; s++) {
			const float *p = x + s * stride + c * plane;
			for (size_t i = 0; i < plane; i++)
				sq += ((double)p[i] - mean) * ((double)p[i] - mean);
		}
		double var = sq / m, is = 1.0 / sqrt(var + l->eps);
		double gamma = l->weight[c], beta = l->bias[c];
		istd[c] = is;
		for (int s = 0; s < n; s++) {
			const float *p = x + s * stride + c * plane;
			float *q = y + s * stride + c * plane;
			float *xh = xhat + s * stride + c * plane;
			for (size_t i = 0; i < plane; i++) {
				double t = ((double)p[i] - mean) * is;
				xh[i] = (float)t;
				q[i] = (float)(gamma * t + beta);
			}
		}
		if (momentum > 0) {
			double unbiased = m > 1 ? var * m / (m - 1) : var;
			l->mean[c] = (float)((1 - momentum) * l->mean[c] + momentum * mean);
			l->var[c] = (float)((1 - momentum) * l->var[c] + momentum * unbiased);
		}
	}
}

void cnnf_grad_batchnorm_backward(const cnnf_layer *l, int n, int c0, int c1, const float *dy,
                                  float *dx, const float *xhat, const double *istd, float *dgamma,
                                  float *dbeta)
{
	size_t plane = (size_t)l->in_h * l->in_w, stride = (size_t)l->in_c * plane;
	double m = (double)n * plane;
	for (int c = c0; c < c1; c++) {
		double sdy = 0, sdyx = 0;
		for (int s = 0; s < n; s++) {
			const float *g = dy + s * stride + c * plane;
			const float *xh = xhat + s * stride + c * plane;
			for (size_t i = 0; i < plane; i++) {
				sdy += g[i];
				sdyx += (double)g[i] * xh[i];
			}
		}
		dbeta[c] += (float)sdy;
		dgamma[c] += (float)sdyx;
		if (!dx)
			continue;
		double k = l->weight[c] * istd[c] / m;
		for (int s = 0; s < n; s++) {
			const float *g = dy + s * stride + c * plane;
			float *d = dx + s * stride + c * plane;
			const float *xh = xhat + s * stride + c * plane;
			for (size_t i = 0; i < plane; i++)
				d[i] = (float)(k * (m * g[i] - sdy - xh[i] * sdyx));
		}
	}
}
