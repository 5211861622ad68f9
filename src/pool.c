/* pool.c: max and average pooling, with the dilation that dense segmentation needs. */
#include "pool.h"

#include "error.h"
#include "parallel.h"
#include "simd.h"

int cnnf_pool_apply(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		    const char *name, cnnf_tensor **out)
{
	return cnnf_pool_run(in, kind, kh, kw, sy, sx, 1, 1, 1, name, out);
}

typedef struct job {
	const cnnf_tensor *in;
	cnnf_tensor *out;
	cnnf_pool_kind kind;
	int kh, kw, sy, sx, dy, dx;
} job;

/* Rows of output: item = channel * oh + row. */
CNNF_CLONES static int rows(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const cnnf_tensor *in = j->in;
	cnnf_tensor *t = j->out;
	int ow = t->w;
	double norm = 1.0 / ((double)j->kh * j->kw);
	for (size_t item = begin; item < end; item++) {
		int c = (int)(item / (size_t)t->h), y = (int)(item % (size_t)t->h);
		const float *src = in->data + ((size_t)c * in->h + (size_t)y * j->sy) * in->w;
		float *dst = t->data + ((size_t)c * t->h + y) * ow;
		if (j->kind == CNNF_POOL_MAX) {
			/* The first maximum wins and NaN propagates, as in PyTorch. */
			for (int x = 0; x < ow; x++)
				dst[x] = src[(size_t)x * j->sx];
			for (int i = 0; i < j->kh; i++)
				for (int k = 0; k < j->kw; k++) {
					if (i == 0 && k == 0)
						continue;
					const float *s = src + (size_t)i * j->dy * in->w + (size_t)k * j->dx;
					for (int x = 0; x < ow; x++) {
						float m = dst[x], v = s[(size_t)x * j->sx];
						dst[x] = (m == m && (v != v || v > m)) ? v : m;
					}
				}
		} else {
			for (int x = 0; x < ow; x++) {
				double sum = 0;
				for (int i = 0; i < j->kh; i++)
					for (int k = 0; k < j->kw; k++)
						sum += src[(size_t)i * j->dy * in->w +
							   ((size_t)x * j->sx + (size_t)k * j->dx)];
				dst[x] = (float)(sum * norm);
			}
		}
	}
	return 0;
}

int cnnf_pool_run(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		  int dy, int dx, int threads, const char *name, cnnf_tensor **out)
{
	long span_y = (long)dy * (kh - 1) + 1, span_x = (long)dx * (kw - 1) + 1;
	if (kh < 1 || kw < 1 || sy < 1 || sx < 1 || dy < 1 || dx < 1 || span_y > in->h ||
	    span_x > in->w) {
		cnnf_error("%s: a %dx%d pooling window does not fit a %dx%d input", name, kh, kw,
			   in->h, in->w);
		return -1;
	}
	int oh = (int)((in->h - span_y) / sy + 1), ow = (int)((in->w - span_x) / sx + 1);
	cnnf_tensor *t = cnnf_tensor_new(in->c, oh, ow);
	if (!t)
		return -1;
	job j = {in, t, kind, kh, kw, sy, sx, dy, dx};
	if (cnnf_parallel_for((size_t)in->c * oh, threads, rows, &j) < 0) {
		cnnf_tensor_free(t);
		return -1;
	}
	*out = t;
	return 0;
}
