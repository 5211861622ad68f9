/* pool.c: max and average pooling, with the dilation that dense segmentation needs. */
#include "engine/pool.h"

#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "base/simd.h"

int cnnf_pool_apply(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		    const char *name, cnnf_tensor **out)
{
	return cnnf_pool_run(in, kind, kh, kw, sy, sx, 1, 1, 1, 1, name, out);
}

typedef struct job {
	const cnnf_tensor *in;
	cnnf_tensor *out;
	cnnf_pool_kind kind;
	int kh, kw, sy, sx, dy, dx, group;
} job;

/* Rows of output: item = channel * oh + row. */
CNNF_CLONES static int rows(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const cnnf_tensor *in = j->in;
	cnnf_tensor *t = j->out;
	/* Column x of group member n is at x * group + n, on both sides. */
	const size_t g = (size_t)j->group;
	const int ow = t->w / j->group;
	double norm = 1.0 / ((double)j->kh * j->kw);
	for (size_t item = begin; item < end; item++) {
		int c = (int)(item / (size_t)t->h), y = (int)(item % (size_t)t->h);
		const float *src = in->data + ((size_t)c * in->h + (size_t)y * j->sy) * in->w;
		float *dst = t->data + ((size_t)c * t->h + y) * t->w;
		for (int x = 0; x < ow; x++) {
			float *d = dst + (size_t)x * g;
			const float *s0 = src + (size_t)x * j->sx * g;
			if (j->kind == CNNF_POOL_MAX) {
				/* The first maximum wins and NaN propagates, as in PyTorch. */
				for (size_t n = 0; n < g; n++)
					d[n] = s0[n];
				for (int i = 0; i < j->kh; i++)
					for (int k = 0; k < j->kw; k++) {
						if (i == 0 && k == 0)
							continue;
						const float *s = s0 + (size_t)i * j->dy * in->w +
								 (size_t)k * j->dx * g;
						for (size_t n = 0; n < g; n++) {
							float m = d[n], v = s[n];
							d[n] = (m == m && (v != v || v > m)) ? v : m;
						}
					}
			} else {
				for (size_t n = 0; n < g; n++) {
					double sum = 0;
					for (int i = 0; i < j->kh; i++)
						for (int k = 0; k < j->kw; k++)
							sum += s0[(size_t)i * j->dy * in->w +
								  (size_t)k * j->dx * g + n];
					d[n] = (float)(sum * norm);
				}
			}
		}
	}
	return 0;
}

int cnnf_pool_run(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		  int dy, int dx, int group, int threads, const char *name, cnnf_tensor **out)
{
	long span_y = (long)dy * (kh - 1) + 1, span_x = (long)dx * (kw - 1) + 1;
	int w = group > 0 && in->w % group == 0 ? in->w / group : 0;
	if (kh < 1 || kw < 1 || sy < 1 || sx < 1 || dy < 1 || dx < 1 || span_y > in->h ||
	    span_x > w) {
		cnnf_error("%s: a %dx%d pooling window does not fit a %dx%d input", name, kh, kw,
			   in->h, w);
		return -1;
	}
	int oh = (int)((in->h - span_y) / sy + 1), ow = (int)((w - span_x) / sx + 1);
	cnnf_tensor *t = cnnf_tensor_new_uninit(in->c, oh, ow * group);
	if (!t)
		return -1;
	job j = {in, t, kind, kh, kw, sy, sx, dy, dx, group};
	if (cnnf_parallel_for((size_t)in->c * oh, threads, rows, &j) < 0) {
		cnnf_tensor_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

/* Outputs a pass over the taps keeps in its accumulators: a few KB, in the L1 cache. */
#define POOL_BLOCK 256

/*
 * Every tap of a block of outputs before the next block, so that the
 * accumulators stay in registers and the cache, and out is written once.
 */
/*
 * The clones are static, behind plain exported functions below: Clang makes
 * an exported target_clones function callable only from files whose
 * declaration carries the attribute too (the fuzz build, Clang, failed to link).
 */
CNNF_CLONES static void max_taps(float *restrict out, const float *const *tap, int nt, int64_t n)
{
	float acc[POOL_BLOCK];
	int64_t i0 = 0;
	/* Blocks of 32: the accumulators in two or four vector registers over all the taps. */
	for (; i0 + 32 <= n; i0 += 32) {
		float a[32];
		for (int i = 0; i < 32; i++)
			a[i] = -INFINITY;
		for (int t = 0; t < nt; t++) {
			const float *restrict v = tap[t] + i0;
			for (int i = 0; i < 32; i++) {
				float b = a[i], x = v[i];
				a[i] = (b != b || x <= b) ? b : x;
			}
		}
		for (int i = 0; i < 32; i++)
			out[i0 + i] = a[i];
	}
	for (; i0 < n; i0 += POOL_BLOCK) {
		int64_t m = n - i0 < POOL_BLOCK ? n - i0 : POOL_BLOCK;
		for (int64_t i = 0; i < m; i++)
			acc[i] = -INFINITY;
		for (int t = 0; t < nt; t++) {
			const float *restrict v = tap[t] + i0;
			for (int64_t i = 0; i < m; i++) {
				float b = acc[i], x = v[i];
				acc[i] = (b != b || x <= b) ? b : x;
			}
		}
		memcpy(out + i0, acc, sizeof(float) * (size_t)m);
	}
}

CNNF_CLONES static void avg_taps(float *restrict out, const float *const *tap, int nt,
                                 const int64_t *restrict div_x, int64_t div_y, int64_t n)
{
	double acc[POOL_BLOCK];
	for (int64_t i0 = 0; i0 < n; i0 += POOL_BLOCK) {
		int64_t m = n - i0 < POOL_BLOCK ? n - i0 : POOL_BLOCK;
		for (int64_t i = 0; i < m; i++)
			acc[i] = 0;
		for (int t = 0; t < nt; t++) {
			const float *restrict v = tap[t] + i0;
			for (int64_t i = 0; i < m; i++)
				acc[i] += (double)v[i];
		}
		for (int64_t i = 0; i < m; i++) {
			int64_t d = div_x[i0 + i] * div_y;
			out[i0 + i] = d > 0 ? (float)(acc[i] / (double)d) : NAN;
		}
	}
}

void cnnf_pool_max_taps(float *out, const float *const *tap, int nt, int64_t n)
{
	max_taps(out, tap, nt, n);
}

void cnnf_pool_avg_taps(float *out, const float *const *tap, int nt, const int64_t *div_x,
                        int64_t div_y, int64_t n)
{
	avg_taps(out, tap, nt, div_x, div_y, n);
}
