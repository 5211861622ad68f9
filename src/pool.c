/* pool.c: max and average pooling. */
#include "pool.h"

#include "error.h"

int cnnf_pool_apply(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		    const char *name, cnnf_tensor **out)
{
	if (kh < 1 || kw < 1 || sy < 1 || sx < 1 || kh > in->h || kw > in->w) {
		cnnf_error("%s: a %dx%d pooling window does not fit a %dx%d input", name, kh, kw,
			   in->h, in->w);
		return -1;
	}
	int oh = (in->h - kh) / sy + 1, ow = (in->w - kw) / sx + 1;
	cnnf_tensor *t = cnnf_tensor_new(in->c, oh, ow);
	if (!t)
		return -1;
	for (int c = 0; c < in->c; c++) {
		const float *src = in->data + (size_t)c * in->h * in->w;
		float *dst = t->data + (size_t)c * oh * ow;
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				const float *win = src + (size_t)y * sy * in->w + (size_t)x * sx;
				/* Max: the first maximum wins and NaN propagates, as in PyTorch. */
				float m = win[0];
				double sum = 0;
				for (int i = 0; i < kh; i++)
					for (int j = 0; j < kw; j++) {
						float v = win[(size_t)i * in->w + j];
						if (m == m && (v != v || v > m))
							m = v;
						sum += v;
					}
				dst[(size_t)y * ow + x] =
					kind == CNNF_POOL_MAX ? m : (float)(sum / ((double)kh * kw));
			}
	}
	*out = t;
	return 0;
}
