/* conv.c: the direct-loop convolution engine shared by the filter commands and network layers. */
#include "conv.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_kern.h"
#include "simd.h"
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

/* About this many floats of input per band: a band stays in the L2 cache. */
#define BAND_FLOATS (256 * 1024)
/* Float holds every integer below this exactly. */
#define FLOAT_EXACT 16777216.0

/* How the work is done; decided once, read-only while the workers run. */
typedef enum path {
	PATH_DOUBLE,    /* generic loops, double accumulators: any geometry */
	PATH_FLOAT_GEN, /* generic loops in float (fmaf): horizontal stride > 1 */
	PATH_BLOCK8,    /* vector kernel, 8 output channels at a time */
	PATH_SINGLE,    /* vector kernel, one output channel (a single filter, or per channel) */
	PATH_SEPARABLE  /* two 1-D passes of the single kernel */
} path;

typedef struct plan {
	const cnnf_conv_rows *io;
	const cnnf_kernel *k;
	const cnnf_conv_geom *g;
	cnnf_conv_out post;
	int depthwise;   /* one 2-D filter applied to every channel on its own */
	int nout;        /* output channels */
	int cin;         /* input channels one output reads (1 when depthwise) */
	int oh, ow;      /* output size */
	int ylo, yhi;    /* the output rows to make */
	long wp;         /* padded input row as the outputs read it */
	long ws;         /* floats between band rows: wp rounded up to whole cache lines */
	long *colmap;    /* wp entries: input column of each padded column, -1 for zero */
	long in0, in1;   /* padded columns [in0, in1) are input columns 0..w-1 in order, when
			    the whole input row lies within the padded row; else in0 == in1 */
	int band;        /* output rows per band */
	size_t band_bytes; /* a worker's band buffer, whole cache lines */
	path path;
	cnnf_kern_fn kern;
	float *packed;   /* float weights: BLOCK8 [blocks][cin][kh][kw][8]; SINGLE [count][cin][kh][kw] */
	float *sep_col, *sep_row; /* SEPARABLE factors: kh and kw */
	int nblocks;     /* BLOCK8 */
	int float_finish; /* exact integer sums may be scaled and rounded in float */
} plan;

int cnnf_conv_shape(int c, int h, int w, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const char *name, int *oc, int *oh, int *ow)
{
	if (k->depth == c) {
		*oc = k->count;
	} else if (k->count == 1 && k->depth == 1) {
		*oc = c;
	} else {
		cnnf_error("%s: a kernel of depth %d needs an input of %d channels, not %d", name,
			   k->depth, k->depth, c);
		return -1;
	}
	long y = cnnf_conv_out_size(h, g->pad_top, g->pad_bottom, k->height, g->stride_y, g->dil_y);
	long x = cnnf_conv_out_size(w, g->pad_left, g->pad_right, k->width, g->stride_x, g->dil_x);
	if (y <= 0 || x <= 0) {
		cnnf_error("%s: a %dx%d kernel (dilation %dx%d) leaves no output samples from a "
			   "%dx%d input with this padding",
			   name, k->height, k->width, g->dil_y, g->dil_x, h, w);
		return -1;
	}
	/* The output is never larger than the padded input, which fits int by the caller's limits. */
	*oh = (int)y;
	*ow = (int)x;
	return 0;
}

/*
 * The values stored for one output row of channel f from its accumulators
 * (float facc or double dacc): scale, bias, then post. Each step is a loop
 * without branches so that it compiles to vector code; v is a scratch row of
 * doubles (it may be dacc itself).
 */
CNNF_CLONES static void finish_row(const plan *p, int f, const float *facc, const double *dacc,
				   double *v, float *out)
{
	const cnnf_kernel *k = p->k;
	int filter = p->depthwise ? 0 : f, n = p->ow;
	double num = k->scale_num[filter], den = k->scale_den[filter], bias = k->bias[filter];
	int scaled = num != den, relu = p->post.relu, absv = p->post.abs, round = p->post.round != 0;
	double offset = p->post.offset, top = p->post.round;
	if (facc && p->float_finish) {
		/*
		 * Exact in float (see prepare()): the quotient of an exact integer
		 * sum, correctly rounded, is too close to its true value to round
		 * differently, and ties are representable.
		 */
		float d = (float)den, t = (float)top;
		/* ReLU changes nothing here: the clamp to 0..top follows. */
		if (absv)
			for (int x = 0; x < n; x++) {
				float q = fabsf(facc[x] / d);
				q = q < t ? q : t;
				out[x] = (float)(int)(q + 0.5f);
			}
		else
			for (int x = 0; x < n; x++) {
				float q = facc[x] / d;
				q = q > 0 ? q : 0;
				q = q < t ? q : t;
				out[x] = (float)(int)(q + 0.5f);
			}
		return;
	}
	if (facc && p->post.fast && !scaled && !absv && !round && offset == 0) {
		/* Network layers: bias and ReLU in float, as PyTorch adds its bias. */
		float b = (float)bias;
		if (relu)
			for (int x = 0; x < n; x++) {
				float q = facc[x] + b;
				out[x] = q > 0 ? q : 0;
			}
		else
			for (int x = 0; x < n; x++)
				out[x] = facc[x] + b;
		return;
	}
	if (facc)
		for (int x = 0; x < n; x++)
			v[x] = facc[x];
	else if (v != dacc)
		for (int x = 0; x < n; x++)
			v[x] = dacc[x];
	double mul = scaled ? num : 1, div = scaled ? den : 1;
	for (int x = 0; x < n; x++)
		v[x] = v[x] * mul / div + bias;
	if (relu)
		for (int x = 0; x < n; x++)
			v[x] = v[x] > 0 ? v[x] : 0;
	if (absv)
		for (int x = 0; x < n; x++)
			v[x] = fabs(v[x]);
	if (offset != 0)
		for (int x = 0; x < n; x++)
			v[x] += offset;
	if (round) {
		/* Half up: clamp to 0..top (NaN becomes 0), then truncate t + 0.5 > 0: its floor. */
		for (int x = 0; x < n; x++) {
			double t = v[x] > 0 ? v[x] : 0;
			t = t < top ? t : top;
			out[x] = (float)(int)(t + 0.5);
		}
	} else {
		for (int x = 0; x < n; x++)
			out[x] = (float)v[x];
	}
}

/*
 * Whether rounding sum / den in float gives what double would, for exact
 * integer sums: no numerator, bias or offset, a whole positive den, and
 * quotients so small that float's relative error (2^-24) stays far below the
 * 1/(2 den) that separates a quotient from a rounding boundary.
 */
static int float_finish_exact(const cnnf_kernel *k, const cnnf_conv_out *post)
{
	if (!post->round || post->offset != 0 || !(post->int_max > 0))
		return 0;
	size_t per = (size_t)k->depth * k->height * k->width;
	for (int f = 0; f < k->count; f++) {
		double den = k->scale_den[f], mag = 0;
		if (k->scale_num[f] != 1 || k->bias[f] != 0 || !(den >= 1) || den != floor(den) ||
		    den > 65536)
			return 0;
		for (size_t i = 0; i < per; i++)
			mag += fabs(k->weights[(size_t)f * per + i]);
		/* Largest quotient times den below 2^20: error < 2^-4 of the margin. */
		if (mag * post->int_max >= 1048576.0)
			return 0;
	}
	return 1;
}

/* Whether every weight of k is an integer and the sums stay exact in float. */
static int exact_in_float(const cnnf_kernel *k, double int_max)
{
	if (!(int_max > 0))
		return 0;
	size_t per = (size_t)k->depth * k->height * k->width;
	for (int f = 0; f < k->count; f++) {
		double mag = 0;
		for (size_t i = 0; i < per; i++) {
			double w = k->weights[(size_t)f * per + i];
			if (w != floor(w))
				return 0;
			mag += fabs(w);
		}
		if (mag * int_max >= FLOAT_EXACT)
			return 0;
	}
	return 1;
}

/*
 * Integer factors col x row of a rank-1 integer kernel, such that every
 * partial sum of either pass stays exact in float; 0 if there are none.
 */
static int integer_factors(const cnnf_kernel *k, double int_max, double *col, double *row)
{
	int h = k->height, w = k->width;
	if (!cnnf_kernel_separable(k, 0, 0, col, row))
		return 0;
	/* Take the column with the largest entry and divide it by the gcd of its entries. */
	const double *wt = k->weights;
	int c0 = 0;
	double best = -1;
	for (int i = 0; i < h; i++)
		for (int j = 0; j < w; j++)
			if (fabs(wt[i * w + j]) > best) {
				best = fabs(wt[i * w + j]);
				c0 = j;
			}
	if (best <= 0)
		return 0;
	long long g = 0;
	for (int i = 0; i < h; i++) {
		long long v = llabs((long long)wt[i * w + c0]);
		while (v) {
			long long t = g % v;
			g = v;
			v = t;
		}
	}
	if (g == 0)
		return 0;
	int r0 = 0;
	for (int i = 0; i < h; i++) {
		col[i] = wt[i * w + c0] / (double)g;
		if (fabs(col[i]) > fabs(col[r0]))
			r0 = i;
	}
	double rsum = 0, csum = 0;
	for (int j = 0; j < w; j++) {
		row[j] = wt[r0 * w + j] / col[r0];
		if (row[j] != floor(row[j]))
			return 0;
		rsum += fabs(row[j]);
	}
	for (int i = 0; i < h; i++) {
		csum += fabs(col[i]);
		for (int j = 0; j < w; j++)
			if (col[i] * row[j] != wt[i * w + j])
				return 0;
	}
	return rsum * int_max < FLOAT_EXACT && csum * rsum * int_max < FLOAT_EXACT;
}

/* Choose the path and prepare its weights. */
static int prepare(plan *p)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	int taps = k->height * k->width;
	int floats = p->post.fast || exact_in_float(k, p->post.int_max);
	if (!floats) {
		p->path = PATH_DOUBLE;
		return 0;
	}
	p->float_finish = !p->post.fast && float_finish_exact(k, &p->post);
	if (g->stride_x != 1) {
		p->path = PATH_FLOAT_GEN;
	} else if (k->count == 1 || p->depthwise) {
		p->path = PATH_SINGLE;
		p->kern = cnnf_kern_single();
	} else {
		p->path = PATH_BLOCK8;
		p->kern = cnnf_kern_block8();
	}
	/* One 2-D filter with enough taps to gain: two 1-D passes. */
	if (p->path == PATH_SINGLE && k->depth == 1 && taps >= 9 && k->height > 1 && k->width > 1) {
		double *col = malloc(sizeof(double) * (size_t)k->height);
		double *row = malloc(sizeof(double) * (size_t)k->width);
		int sep = col && row &&
			  (p->post.fast ? cnnf_kernel_separable(k, 0, 0, col, row)
					: integer_factors(k, p->post.int_max, col, row));
		if (sep) {
			p->sep_col = malloc(sizeof(float) * (size_t)k->height);
			p->sep_row = malloc(sizeof(float) * (size_t)k->width);
			if (p->sep_col && p->sep_row) {
				for (int i = 0; i < k->height; i++)
					p->sep_col[i] = (float)col[i];
				for (int j = 0; j < k->width; j++)
					p->sep_row[j] = (float)row[j];
				p->path = PATH_SEPARABLE;
			}
		}
		free(col);
		free(row);
		if (sep && p->path != PATH_SEPARABLE)
			goto nomem;
	}
	size_t per = (size_t)k->depth * taps;
	if (p->path == PATH_BLOCK8) {
		p->nblocks = (k->count + CNNF_KERN_OCB - 1) / CNNF_KERN_OCB;
		p->packed = calloc((size_t)p->nblocks * per * CNNF_KERN_OCB, sizeof(float));
		if (!p->packed)
			goto nomem;
		for (int f = 0; f < k->count; f++)
			for (size_t t = 0; t < per; t++)
				p->packed[((size_t)(f / CNNF_KERN_OCB) * per + t) * CNNF_KERN_OCB +
					  f % CNNF_KERN_OCB] = (float)k->weights[(size_t)f * per + t];
	} else if (p->path == PATH_SINGLE || p->path == PATH_FLOAT_GEN) {
		p->packed = malloc(sizeof(float) * per * (size_t)k->count);
		if (!p->packed)
			goto nomem;
		for (size_t t = 0; t < per * (size_t)k->count; t++)
			p->packed[t] = (float)k->weights[t];
	}
	return 0;
nomem:
	cnnf_error("out of memory");
	return -1;
}

/* One worker's buffers. */
typedef struct scratch {
	float *band;   /* cin planes of brows rows of ws floats, cache-line aligned */
	size_t plane;  /* brows * ws */
	float *line;   /* one input row as read (w floats) */
	float *acc;    /* 8 * ow floats */
	double *dacc;  /* ow doubles */
	float *tmp;    /* SEPARABLE: brows rows of ow floats */
	float *out;    /* ow finished values */
} scratch;

static void scratch_free(scratch *s)
{
	free(s->band);
	free(s->line);
	free(s->acc);
	free(s->dacc);
	free(s->tmp);
	free(s->out);
}

/* Finish output row y of channel f into its destination. */
static void emit(const plan *p, scratch *s, int f, int y, const float *facc, const double *dacc)
{
	const cnnf_conv_rows *io = p->io;
	float *dst = io->dest ? io->dest(io->ctx, f, y) : s->out;
	finish_row(p, f, facc, dacc, dacc ? (double *)dacc : s->dacc, dst);
	if (!io->dest)
		io->write(io->ctx, f, y, dst, p->ow);
}

/* Input rows a band of `rows` output rows reads. */
static long band_rows(const plan *p, int rows)
{
	return (long)(rows - 1) * p->g->stride_y + (long)(p->k->height - 1) * p->g->dil_y + 1;
}

/*
 * The bytes of a worker's band buffer in p->band_bytes, checked for overflow:
 * a huge dilation or padding can ask for more than size_t holds. -1 with a
 * message naming the kernel `name` when it does not fit.
 */
static int band_size(plan *p, const char *name)
{
	size_t brows = (size_t)band_rows(p, p->band),
	       planes = (size_t)(p->depthwise ? p->nout : p->k->depth);
	size_t plane, floats, bytes, acc;
	/* The row buffers hold at most 8 output rows of floats, or one of doubles. */
	if (__builtin_mul_overflow((size_t)p->ow, CNNF_KERN_OCB * sizeof(float), &acc) ||
	    __builtin_mul_overflow(brows, (size_t)p->ws, &plane) ||
	    __builtin_mul_overflow(plane, planes, &floats) ||
	    __builtin_mul_overflow(floats, sizeof(float), &bytes) || bytes > SIZE_MAX - 63) {
		cnnf_error("%s: a band of %zu input rows of %ld samples in %zu channels is too "
		           "large for memory",
		           name, brows, p->ws, planes);
		return -1;
	}
	p->band_bytes = (bytes + 63) / 64 * 64;
	return 0;
}

static int scratch_new(const plan *p, scratch *s)
{
	*s = (scratch){0};
	long brows = band_rows(p, p->band);
	/* The products were checked by band_size(); brows * ow <= brows * ws. */
	s->plane = (size_t)brows * p->ws;
	s->band = aligned_alloc(64, p->band_bytes);
	s->line = malloc(sizeof(float) * (size_t)p->io->w);
	s->acc = malloc(sizeof(float) * CNNF_KERN_OCB * (size_t)p->ow);
	s->dacc = malloc(sizeof(double) * (size_t)p->ow);
	s->out = malloc(sizeof(float) * (size_t)p->ow);
	if (p->path == PATH_SEPARABLE)
		s->tmp = malloc(sizeof(float) * (size_t)brows * p->ow);
	if (!s->band || !s->line || !s->acc || !s->dacc || !s->out ||
	    (p->path == PATH_SEPARABLE && !s->tmp)) {
		scratch_free(s);
		return -1;
	}
	return 0;
}

/*
 * Fill rows r0..r1-1 of the band whose output rows begin at y0 with padded
 * input rows, borders made.
 */
static void fill_rows(const plan *p, scratch *s, int y0, long r0, long r1)
{
	const cnnf_conv_rows *io = p->io;
	const cnnf_conv_geom *g = p->g;
	long first = (long)y0 * g->stride_y - g->pad_top;
	int planes = p->depthwise ? p->nout : p->k->depth;
	for (int c = 0; c < planes; c++)
		for (long r = r0; r < r1; r++) {
			float *dst = s->band + c * s->plane + r * p->ws;
			long src = cnnf_conv_border_index(first + r, io->h, g->border);
			if (src < 0) {
				memset(dst, 0, sizeof(float) * (size_t)p->wp);
				continue;
			}
			/* The inside of the row straight from the reader, the border from the map. */
			long in0 = p->in0, in1 = p->in1;
			if (in1 > in0)
				io->read(io->ctx, c, (int)src, dst + in0);
			else
				io->read(io->ctx, c, (int)src, s->line);
			const float *line = in1 > in0 ? dst + in0 : s->line;
			for (long q = 0; q < in0; q++)
				dst[q] = p->colmap[q] < 0 ? 0.0f : line[p->colmap[q]];
			for (long q = in1 > in0 ? in1 : in0; q < p->wp; q++)
				dst[q] = p->colmap[q] < 0 ? 0.0f : line[p->colmap[q]];
		}
}

/* Generic loops: any stride; double or float (fmaf) accumulators. */
static void generic_row(const plan *p, scratch *s, int f, int yl, int dbl)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	int filter = p->depthwise ? 0 : f;
	int c0 = p->depthwise ? f : 0, nc = p->depthwise ? 1 : k->depth;
	size_t slice = (size_t)k->height * k->width;
	if (dbl)
		memset(s->dacc, 0, sizeof(double) * (size_t)p->ow);
	else
		memset(s->acc, 0, sizeof(float) * (size_t)p->ow);
	for (int c = 0; c < nc; c++)
		for (int i = 0; i < k->height; i++) {
			const float *src = s->band + (c0 + c) * s->plane +
			                   ((long)yl * g->stride_y + (long)i * g->dil_y) * p->ws;
			for (int j = 0; j < k->width; j++) {
				size_t t = ((size_t)filter * k->depth + c) * slice + (size_t)i * k->width + j;
				const float *q = src + (long)j * g->dil_x;
				if (dbl) {
					double w = k->weights[t];
					for (int x = 0; x < p->ow; x++)
						s->dacc[x] += w * q[(long)x * g->stride_x];
				} else {
					float w = p->packed[t];
					for (int x = 0; x < p->ow; x++)
						s->acc[x] = fmaf(w, q[(long)x * g->stride_x], s->acc[x]);
				}
			}
		}
}

/* Output rows of one band, every output channel. */
static void run_band(const plan *p, scratch *s, int y0, int rows)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	if (p->path == PATH_SEPARABLE) {
		/* Horizontal pass over every band row of every channel, then vertical per output row. */
		long brows = band_rows(p, rows);
		fill_rows(p, s, y0, 0, brows);
		for (int f = 0; f < p->nout; f++) {
			for (long r = 0; r < brows; r++) {
				cnnf_kern_args a = {.in = s->band + f * s->plane + r * p->ws,
				                    .cin = 1,
				                    .kh = 1,
				                    .kw = k->width,
				                    .dx = g->dil_x,
				                    .ow = p->ow,
				                    .w = p->sep_row,
				                    .acc = s->tmp + r * p->ow};
				p->kern(&a);
			}
			for (int yl = 0; yl < rows; yl++) {
				cnnf_kern_args a = {.in = s->tmp + (long)yl * g->stride_y * p->ow,
						    .cin = 1, .kh = k->height, .kw = 1,
						    .rstep = (long)g->dil_y * p->ow, .ow = p->ow,
						    .w = p->sep_col, .acc = s->acc};
				p->kern(&a);
				emit(p, s, f, y0 + yl, s->acc, NULL);
			}
		}
		return;
	}
	/*
	 * Input rows are copied in just before the first output row that reads
	 * them, so they are still in the cache when the kernels read them.
	 */
	long filled = 0;
	for (int yl = 0; yl < rows; yl++) {
		long need = band_rows(p, yl + 1);
		fill_rows(p, s, y0, filled, need);
		filled = need;
		long r0 = (long)yl * g->stride_y * p->ws;
		cnnf_kern_args a = {.plane = s->plane,
		                    .rstep = (long)g->dil_y * p->ws,
		                    .dx = g->dil_x,
		                    .kh = k->height,
		                    .kw = k->width,
		                    .ow = p->ow,
		                    .acc = s->acc};
		switch (p->path) {
		case PATH_BLOCK8:
			a.in = s->band + r0;
			a.cin = k->depth;
			for (int b = 0; b < p->nblocks; b++) {
				a.w = p->packed + (size_t)b * k->depth * k->height * k->width *
							 CNNF_KERN_OCB;
				p->kern(&a);
				for (int o = 0; o < CNNF_KERN_OCB; o++) {
					int f = b * CNNF_KERN_OCB + o;
					if (f >= p->nout)
						break;
					emit(p, s, f, y0 + yl, s->acc + (size_t)o * p->ow, NULL);
				}
			}
			break;
		case PATH_SINGLE:
			for (int f = 0; f < p->nout; f++) {
				a.in = s->band + (p->depthwise ? f * s->plane : 0) + r0;
				a.cin = p->cin;
				a.w = p->packed + (p->depthwise ? 0 : (size_t)f * p->cin * k->height * k->width);
				p->kern(&a);
				emit(p, s, f, y0 + yl, s->acc, NULL);
			}
			break;
		default:
			for (int f = 0; f < p->nout; f++) {
				int dbl = p->path == PATH_DOUBLE;
				generic_row(p, s, f, yl, dbl);
				emit(p, s, f, y0 + yl, dbl ? NULL : s->acc, dbl ? s->dacc : NULL);
			}
			break;
		}
	}
}

/* Bands begin..end-1. */
static int work(void *ctx, size_t begin, size_t end)
{
	const plan *p = ctx;
	scratch s;
	if (scratch_new(p, &s) < 0)
		return -1;
	for (size_t b = begin; b < end; b++) {
		int y0 = p->ylo + (int)b * p->band;
		int rows = y0 + p->band > p->yhi ? p->yhi - y0 : p->band;
		run_band(p, &s, y0, rows);
	}
	scratch_free(&s);
	return 0;
}

/*
 * Everything about a run that can be worked out and checked before any
 * memory is allocated: the shape, the row range, the bands and their sizes.
 */
static int plan_init(plan *p, const cnnf_conv_rows *io, const cnnf_kernel *k,
                     const cnnf_conv_geom *g, const cnnf_conv_out *post, int threads,
                     const char *name)
{
	*p = (plan){.io = io, .k = k, .g = g};
	if (post)
		p->post = *post;
	if (cnnf_conv_shape(io->c, io->h, io->w, k, g, name, &p->nout, &p->oh, &p->ow) < 0)
		return -1;
	p->ylo = 0, p->yhi = p->oh;
	if (io->y1 > 0) {
		if (io->y0 < 0 || io->y0 >= io->y1 || io->y1 > p->oh) {
			cnnf_error("%s: output rows %d..%d are not within 0..%d", name, io->y0,
			           io->y1 - 1, p->oh - 1);
			return -1;
		}
		p->ylo = io->y0, p->yhi = io->y1;
	}
	int nrows = p->yhi - p->ylo;
	p->depthwise = k->depth != io->c;
	p->cin = p->depthwise ? 1 : k->depth;
	p->wp = (long)(p->ow - 1) * g->stride_x + (long)(k->width - 1) * g->dil_x + 1;
	/* Rows start on cache lines, so the vector loads of the first tap are not split. */
	p->ws = (p->wp + 15) / 16 * 16;
	if ((unsigned long)p->ws > SIZE_MAX / sizeof(long)) {
		cnnf_error("%s: a padded row of %ld samples is too large for memory", name, p->wp);
		return -1;
	}
	int planes = p->depthwise ? p->nout : k->depth;
	/* Rows per band: the band's input fits BAND_FLOATS, at least one row. */
	long per_row = (long)planes * p->ws;
	long fit = BAND_FLOATS / (per_row > 0 ? per_row : 1) - (long)(k->height - 1) * g->dil_y;
	fit = fit / g->stride_y;
	p->band = fit < 1 ? 1 : fit > nrows ? nrows : (int)fit;
	/* Enough bands for every thread to have work. */
	int nt = cnnf_parallel_threads(threads);
	if ((nrows + p->band - 1) / p->band < 8 * nt && nrows >= 8 * nt)
		p->band = (nrows + 8 * nt - 1) / (8 * nt);
	return band_size(p, name);
}

int cnnf_conv_check(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                    int threads, const char *name)
{
	plan p;
	return plan_init(&p, io, k, g, NULL, threads, name);
}

int cnnf_conv_run(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                  const cnnf_conv_out *post, int threads, const char *name)
{
	plan p;
	if (plan_init(&p, io, k, g, post, threads, name) < 0)
		return -1;
	int status = -1;
	p.colmap = malloc(sizeof(long) * (size_t)p.wp);
	if (!p.colmap) {
		cnnf_error("out of memory");
		return -1;
	}
	for (long q = 0; q < p.wp; q++)
		p.colmap[q] = cnnf_conv_border_index(q - g->pad_left, io->w, g->border);
	/* The reader fills the middle of a padded row in place when the row holds all of it. */
	if ((long)g->pad_left + io->w <= p.wp)
		p.in0 = g->pad_left, p.in1 = (long)g->pad_left + io->w;
	if (prepare(&p) < 0)
		goto out;
	size_t nbands = (size_t)((p.yhi - p.ylo + p.band - 1) / p.band);
	status = cnnf_parallel_for(nbands, threads, work, &p);
out:
	free(p.colmap);
	free(p.packed);
	free(p.sep_col);
	free(p.sep_row);
	return status;
}

/* Rows of a tensor. */
static void tensor_read(void *ctx, int c, int r, float *dst)
{
	const cnnf_tensor *t = ((const cnnf_tensor **)ctx)[0];
	memcpy(dst, t->data + ((size_t)c * t->h + r) * t->w, sizeof(float) * (size_t)t->w);
}

static float *tensor_dest(void *ctx, int f, int y)
{
	cnnf_tensor *t = ((cnnf_tensor **)ctx)[1];
	return t->data + ((size_t)f * t->h + y) * t->w;
}

int cnnf_conv_apply(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const cnnf_conv_out *post, int threads, const char *name, cnnf_tensor **out)
{
	int oc, oh, ow;
	if (cnnf_conv_shape(in->c, in->h, in->w, k, g, name, &oc, &oh, &ow) < 0)
		return -1;
	cnnf_tensor *t = cnnf_tensor_new_uninit(oc, oh, ow);
	if (!t)
		return -1;
	const void *pair[2] = {in, t};
	cnnf_conv_rows io = {in->c,        in->h, in->w, tensor_read, NULL, tensor_dest,
	                     (void *)pair, 0,     0};
	if (cnnf_conv_run(&io, k, g, post, threads, name) < 0) {
		cnnf_tensor_free(t);
		return -1;
	}
	*out = t;
	return 0;
}
