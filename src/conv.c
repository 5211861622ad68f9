/* conv.c: the direct-loop convolution engine shared by the filter commands and network layers. */
#include "conv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"

static const char *const border_names[] = {"zero", "replicate", "reflect", "symmetric", "wrap"};

int cnnf_conv_border_parse(const char *s, cnnf_border *out)
{
	for (int b = 0; b < (int)(sizeof border_names / sizeof *border_names); b++)
		if (strcmp(s, border_names[b]) == 0) {
			*out = (cnnf_border)b;
			return 0;
		}
	return -1;
}

const char *cnnf_conv_border_name(cnnf_border b)
{
	return border_names[b];
}

/* i mod m in 0..m-1 for any sign of i. */
static long wrapmod(long i, long m)
{
	long r = i % m;
	return r < 0 ? r + m : r;
}

long cnnf_conv_border_index(long i, long n, cnnf_border b)
{
	if (i >= 0 && i < n)
		return i;
	switch (b) {
	case CNNF_BORDER_ZERO:
		return -1;
	case CNNF_BORDER_REPLICATE:
		return i < 0 ? 0 : n - 1;
	case CNNF_BORDER_REFLECT: {
		if (n == 1)
			return 0;
		/* dcb|abcd|cba repeats with period 2n-2; fold the far half back. */
		long m = wrapmod(i, 2 * n - 2);
		return m < n ? m : 2 * n - 2 - m;
	}
	case CNNF_BORDER_SYMMETRIC: {
		long m = wrapmod(i, 2 * n);
		return m < n ? m : 2 * n - 1 - m;
	}
	case CNNF_BORDER_WRAP:
		return wrapmod(i, n);
	}
	return -1;
}

long cnnf_conv_out_size(long n, long before, long after, long k, long s, long d)
{
	long long span = (long long)d * (k - 1) + 1;
	long long num = (long long)n + before + after - span;
	if (num < 0 || s < 1)
		return 0;
	return (long)(num / s + 1);
}

void cnnf_conv_pad(cnnf_pad_mode mode, int pad, long n, long k, long s, long d, int *before,
		   int *after)
{
	switch (mode) {
	case CNNF_PAD_VALID:
		*before = *after = 0;
		return;
	case CNNF_PAD_EXPLICIT:
		*before = *after = pad;
		return;
	case CNNF_PAD_SAME: {
		long long out = (n + s - 1) / s;
		long long total = (out - 1) * s + (long long)d * (k - 1) + 1 - n;
		if (total < 0)
			total = 0;
		*before = (int)(total / 2);
		*after = (int)(total - total / 2);
		return;
	}
	}
}

/* Everything a worker needs; read-only once the work starts. */
typedef struct plan {
	const cnnf_tensor *in;
	const cnnf_kernel *k;
	const cnnf_conv_geom *g;
	cnnf_conv_out post;
	int depthwise; /* one 2-D filter applied to every channel on its own */
	int oh, ow;    /* output size */
	long wp;       /* length of one padded input row as the output row reads it */
	long *colmap;  /* wp entries: input column for each padded column, -1 for zero */
	cnnf_tensor *out;
} plan;

static float finish(const plan *p, int f, double acc)
{
	const cnnf_kernel *k = p->k;
	double v = k->bias[f] + acc * k->scale_num[f] / k->scale_den[f];
	if (p->post.relu && !(v > 0))
		v = 0;
	if (p->post.abs)
		v = fabs(v);
	v += p->post.offset;
	if (p->post.round) {
		if (!(v > 0))
			v = 0;
		else if (v >= p->post.round)
			v = p->post.round;
		else
			v = floor(v + 0.5);
	}
	return (float)v;
}

/* Output rows: item = output channel * oh + output row. */
static int work(void *ctx, size_t begin, size_t end)
{
	const plan *p = ctx;
	const cnnf_tensor *in = p->in;
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	double *acc = malloc(sizeof(double) * (size_t)p->ow);
	float *row = malloc(sizeof(float) * (size_t)p->wp);
	if (!acc || !row) {
		free(acc);
		free(row);
		return -1;
	}
	size_t plane = (size_t)in->h * in->w;
	size_t kslice = (size_t)k->height * k->width;
	for (size_t item = begin; item < end; item++) {
		int f = (int)(item / (size_t)p->oh);
		int y = (int)(item % (size_t)p->oh);
		int filter = p->depthwise ? 0 : f;
		int nslices = p->depthwise ? 1 : k->depth;
		memset(acc, 0, sizeof(double) * (size_t)p->ow);
		for (int c = 0; c < nslices; c++) {
			int ch = p->depthwise ? f : c;
			const double *w = k->weights + ((size_t)filter * k->depth + c) * kslice;
			for (int i = 0; i < k->height; i++) {
				long iy = (long)y * g->stride_y - g->pad_top + (long)i * g->dil_y;
				long r = cnnf_conv_border_index(iy, in->h, g->border);
				if (r < 0)
					continue;
				const float *src = in->data + ch * plane + (size_t)r * in->w;
				for (long q = 0; q < p->wp; q++)
					row[q] = p->colmap[q] < 0 ? 0.0f : src[p->colmap[q]];
				const double *wr = w + (size_t)i * k->width;
				for (int j = 0; j < k->width; j++) {
					double wv = wr[j];
					if (wv == 0)
						continue;
					const float *s = row + (long)j * g->dil_x;
					if (g->stride_x == 1)
						for (int x = 0; x < p->ow; x++)
							acc[x] += wv * s[x];
					else
						for (int x = 0; x < p->ow; x++)
							acc[x] += wv * s[(long)x * g->stride_x];
				}
			}
		}
		float *dst = p->out->data + ((size_t)f * p->oh + y) * p->ow;
		for (int x = 0; x < p->ow; x++)
			dst[x] = finish(p, filter, acc[x]);
	}
	free(acc);
	free(row);
	return 0;
}

int cnnf_conv_apply(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const cnnf_conv_out *post, int threads, const char *name, cnnf_tensor **out)
{
	plan p = {.in = in, .k = k, .g = g};
	if (post)
		p.post = *post;
	int nout;
	if (k->depth == in->c) {
		nout = k->count;
	} else if (k->count == 1 && k->depth == 1) {
		p.depthwise = 1;
		nout = in->c;
	} else {
		cnnf_error("%s: a kernel of depth %d needs an input of %d channels, not %d", name,
			   k->depth, k->depth, in->c);
		return -1;
	}
	long oh = cnnf_conv_out_size(in->h, g->pad_top, g->pad_bottom, k->height, g->stride_y,
				     g->dil_y);
	long ow = cnnf_conv_out_size(in->w, g->pad_left, g->pad_right, k->width, g->stride_x,
				     g->dil_x);
	if (oh <= 0 || ow <= 0) {
		cnnf_error("%s: a %dx%d kernel (dilation %dx%d) leaves no output samples from a "
			   "%dx%d input with this padding",
			   name, k->height, k->width, g->dil_y, g->dil_x, in->h, in->w);
		return -1;
	}
	/* The output is never larger than the padded input; both fit int. */
	p.oh = (int)oh;
	p.ow = (int)ow;
	p.wp = (ow - 1) * g->stride_x + (long)(k->width - 1) * g->dil_x + 1;
	p.colmap = malloc(sizeof(long) * (size_t)p.wp);
	if (!p.colmap) {
		cnnf_error("out of memory");
		return -1;
	}
	for (long q = 0; q < p.wp; q++)
		p.colmap[q] = cnnf_conv_border_index(q - g->pad_left, in->w, g->border);
	p.out = cnnf_tensor_new(nout, p.oh, p.ow);
	int status = p.out ? cnnf_parallel_for((size_t)nout * p.oh, threads, work, &p) : -1;
	free(p.colmap);
	if (status < 0) {
		cnnf_tensor_free(p.out);
		return -1;
	}
	*out = p.out;
	return 0;
}
