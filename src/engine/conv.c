/* conv.c: the direct-loop convolution engine shared by the filter commands and network layers. */
#include "engine/conv.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conv_kern.h"
#include "base/simd.h"
#include "base/error.h"
#include "base/parallel.h"

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
	PATH_SEPARABLE, /* two 1-D passes of the single kernel */
	PATH_SEP_DOUBLE, /* two 1-D passes in double of a kernel that says it is separable (sep) */
	PATH_BOX        /* running sums of a box: see "Box" below */
} path;

/* How a box's sums are kept (PATH_BOX). */
typedef enum sums {
	SUMS_NONE,  /* not a box, or sums that could not be trusted: the band loops */
	SUMS_EXACT, /* 64-bit integers, modulo 2^64: every window sum is below 2^63 */
	SUMS_DD     /* double-double: finite float samples, within rounding */
} sums;

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
	long wp;         /* padded input row as the outputs read it (compacted: see gx) */
	long ws;         /* floats between band rows: wp rounded up to whole cache lines */
	long *colmap;    /* wp entries: input column of each padded column, -1 for zero */
	long in0, in1;   /* padded columns [in0, in1) are input columns 0..w-1 in order, when
			    the whole input row lies within the padded row; else in0 == in1 */
	/*
	 * Band columns between kernel columns, and band rows between kernel
	 * rows: the dilation, or less when the outputs of one tap span less
	 * than it (a huge dilation). Then the band holds only the columns
	 * (rows) the taps read, one group per kernel column (row), and not
	 * the padding between them that no output reads.
	 */
	long gx, gy;
	int band;        /* output rows per band */
	size_t band_bytes; /* a worker's band buffer, whole cache lines */
	path path;
	cnnf_kern_fn kern;
	cnnf_kern_dfn dkern; /* DOUBLE */
	float *packed;   /* float weights: BLOCK8 [blocks][cin][kh][kw][8]; SINGLE [count][cin][kh][kw] */
	float *sep_col, *sep_row; /* SEPARABLE factors: kh and kw */
	int nblocks;     /* BLOCK8 */
	int float_finish; /* exact integer sums may be scaled and rounded in float */
	unsigned long long work; /* what cnnf_conv_job_work() says */
	/* PATH_BOX */
	sums sums;
	double box_w;    /* the weight every tap has */
	double unit;     /* SUMS_EXACT: what 1 in the sums stands for, 2^-exact_bits */
	int classes;     /* running vertical sums kept per channel; 0: each row summed afresh */
	long long shift; /* taps a window moves between two rows of one class */
	int maxrows;     /* image rows a window reads at most: min(kh, h) */
	int period;      /* horizontal: the border's period, 0 for zero and replicate */
	int ncyc, cyclen; /* periodic: cycles of the dilated taps modulo the period */
	int *cyc;        /* periodic: period image columns, cycle by cycle */
	int *rec;        /* 4 per output column: how its window sum is made (box_prepare) */
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

/*
 * Whether k runs as PATH_SEP_DOUBLE: a kernel made separable (a Gaussian, an
 * unsharp mask) is summed in double either way, and by its factors the cost
 * of a sample grows with its size, not with its area.
 */
static int sep_double(const cnnf_kernel *k, const cnnf_conv_geom *g, const cnnf_conv_out *post)
{
	return k->sep && !post->fast && !exact_in_float(k, post->int_max) && k->count == 1 &&
	       k->depth == 1 && g->stride_x == 1 && k->height % 2 == 1 && k->width % 2 == 1;
}

/* Choose the path and prepare its weights. */
static int prepare(plan *p)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	int taps = k->height * k->width;
	int floats = p->post.fast || exact_in_float(k, p->post.int_max);
	if (!floats) {
		p->path = sep_double(k, g, &p->post) ? PATH_SEP_DOUBLE : PATH_DOUBLE;
		p->dkern = cnnf_kern_double();
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
	double *dtmp;  /* SEP_DOUBLE: brows rows of ow doubles */
	float *out;    /* ow finished values */
} scratch;

static void scratch_free(scratch *s)
{
	free(s->band);
	free(s->line);
	free(s->acc);
	free(s->dacc);
	free(s->tmp);
	free(s->dtmp);
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
	return (long)(rows - 1) * p->g->stride_y + (long)(p->k->height - 1) * p->gy + 1;
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
	    __builtin_mul_overflow(floats, sizeof(float), &bytes) || bytes > SIZE_MAX - 63 ||
	    bytes > CNNF_CONV_BAND_MAX) {
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
	if (p->path == PATH_SEP_DOUBLE)
		s->dtmp = malloc(sizeof(double) * (size_t)brows * p->ow);
	if (!s->band || !s->line || !s->acc || !s->dacc || !s->out ||
	    (p->path == PATH_SEPARABLE && !s->tmp) || (p->path == PATH_SEP_DOUBLE && !s->dtmp)) {
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
			long pr = first + r / p->gy * g->dil_y + r % p->gy;
			long src = cnnf_conv_border_index(pr, io->h, g->border);
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

/* Generic loops: any stride; double (the row kernel, conv_kern.h) or float (fmaf) accumulators. */
static void generic_row(const plan *p, scratch *s, int f, int yl, int dbl)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	int filter = p->depthwise ? 0 : f;
	int c0 = p->depthwise ? f : 0, nc = p->depthwise ? 1 : k->depth;
	size_t slice = (size_t)k->height * k->width;
	const float *in = s->band + c0 * s->plane + (long)yl * g->stride_y * p->ws;
	if (dbl) {
		cnnf_kern_dargs a = {.in = in, .plane = s->plane, .rstep = p->gy * p->ws,
				     .dx = p->gx, .sx = g->stride_x, .cin = nc, .kh = k->height,
				     .kw = k->width, .ow = p->ow,
				     .w = k->weights + (size_t)filter * k->depth * slice,
				     .acc = s->dacc};
		p->dkern(&a);
		return;
	}
	memset(s->acc, 0, sizeof(float) * (size_t)p->ow);
	for (int c = 0; c < nc; c++)
		for (int i = 0; i < k->height; i++) {
			const float *src = in + c * s->plane + (long)i * p->gy * p->ws;
			for (int j = 0; j < k->width; j++) {
				size_t t = ((size_t)filter * k->depth + c) * slice + (size_t)i * k->width + j;
				const float *q = src + (long)j * p->gx;
				float w = p->packed[t];
				for (int x = 0; x < p->ow; x++)
					s->acc[x] = fmaf(w, q[(long)x * g->stride_x], s->acc[x]);
			}
		}
}

/* acc[x] = sum_j w[j] * in[x + j * dx], x < n, in double, taps in order. */
CNNF_CLONES static void dot_taps_row(const float *in, long dx, const double *w, int taps,
                                     double *acc, int n)
{
	for (int x = 0; x < n; x++)
		acc[x] = 0;
	for (int j = 0; j < taps; j++) {
		const float *q = in + (long)j * dx;
		double wj = w[j];
		for (int x = 0; x < n; x++)
			acc[x] += wj * q[x];
	}
}

/* acc[x] = mul * sum_i w[i] * in[i * step + x] + centre * mid[x], x < n, in double. */
CNNF_CLONES static void dot_taps_col(const double *in, long step, const double *w, int taps,
                                     double mul, double centre, const float *mid, double *acc,
                                     int n)
{
	for (int x = 0; x < n; x++)
		acc[x] = 0;
	for (int i = 0; i < taps; i++) {
		const double *q = in + (long)i * step;
		double wi = w[i];
		for (int x = 0; x < n; x++)
			acc[x] += wi * q[x];
	}
	if (mul != 1)
		for (int x = 0; x < n; x++)
			acc[x] *= mul;
	if (centre != 0)
		for (int x = 0; x < n; x++)
			acc[x] += centre * mid[x];
}

/*
 * A band of a kernel that says it is separable (k->sep), in double: each band
 * row through the row factor, then each output row through the column factor,
 * times sep_mul, plus sep_centre times the sample under the middle tap. The
 * sums of a row do not depend on the band it falls in.
 */
static void sep_double_band(const plan *p, scratch *s, int y0, int rows)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	long brows = band_rows(p, rows);
	fill_rows(p, s, y0, 0, brows);
	const double *col = k->sep, *row = k->sep + k->height;
	int ch = k->height / 2, cw = k->width / 2;
	for (int f = 0; f < p->nout; f++) {
		const float *plane = s->band + f * s->plane;
		for (long r = 0; r < brows; r++)
			dot_taps_row(plane + r * p->ws, p->gx, row, k->width, s->dtmp + r * p->ow,
			             p->ow);
		for (int yl = 0; yl < rows; yl++) {
			long r0 = (long)yl * g->stride_y;
			/* The sample under the middle tap, for sep_centre. */
			const float *mid =
			    plane + (r0 + (long)ch * p->gy) * p->ws + (long)cw * p->gx;
			dot_taps_col(s->dtmp + r0 * p->ow, p->gy * p->ow, col, k->height,
			             k->sep_mul, k->sep_centre, mid, s->dacc, p->ow);
			emit(p, s, f, y0 + yl, NULL, s->dacc);
		}
	}
}

/* Output rows of one band, every output channel. */
static void run_band(const plan *p, scratch *s, int y0, int rows)
{
	const cnnf_kernel *k = p->k;
	const cnnf_conv_geom *g = p->g;
	if (p->path == PATH_SEP_DOUBLE) {
		sep_double_band(p, s, y0, rows);
		return;
	}
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
				                    .dx = p->gx,
				                    .ow = p->ow,
				                    .w = p->sep_row,
				                    .acc = s->tmp + r * p->ow};
				p->kern(&a);
			}
			for (int yl = 0; yl < rows; yl++) {
				cnnf_kern_args a = {.in = s->tmp + (long)yl * g->stride_y * p->ow,
						    .cin = 1, .kh = k->height, .kw = 1,
						    .rstep = p->gy * p->ow, .ow = p->ow,
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
		                    .rstep = p->gy * p->ws,
		                    .dx = p->gx,
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

/* ---- Box: running sums ----
 *
 * A kernel whose taps are all equal is w times the sum of the samples under
 * it, and that sum splits: a vertical sum per input column (the kernel's
 * rows), then a horizontal sum of those (its columns). Vertically, a window
 * moves down by a few taps from one output row to the next of its class
 * (the rows whose taps fall on the same rows modulo the dilation), so its
 * sums are kept and only the rows that leave and enter are read; taps that
 * fall on the same image row (borders fold many onto one) are counted and
 * read once. Horizontally, each output's taps are a run of positions
 * a, a + d, ... on the padded row, which the border maps back into the
 * image: periodic borders (reflect, symmetric, wrap) repeat every `period`
 * padded columns, and the taps modulo the period go round cycles, so a sum
 * is whole cycles times the cycle's sum plus a stretch of one cycle's prefix
 * sums; zero and replicate borders take the taps inside the image from
 * prefix sums along the dilation and count those beyond. Every output costs
 * the same whatever the kernel's size and the dilation, and no padded row is
 * ever made.
 *
 * With integer samples the sums are exact in 64-bit integers (modulo 2^64:
 * the prefix sums may wrap, the window sums taken from them do not), so the
 * result is the exact sum times w, finished as the double accumulator of the
 * band loops finishes it: the same values they give. Float samples are
 * summed in double-double, so that prefix sums of large values do not drown
 * the small sums taken from them.
 */

/* Bytes of running vertical sums kept for all channels together before every row is summed afresh. */
#define BOX_STATE_BYTES (64u << 20)

typedef struct dd {
	double hi, lo; /* the value is hi + lo; lo holds what hi's rounding lost */
} dd;

/* a + b, its rounding error in *e (Knuth's two-sum: exact in any rounding-to-nearest). */
static inline double two_sum(double a, double b, double *e)
{
	double s = a + b, bb = s - a;
	*e = (a - (s - bb)) + (b - bb);
	return s;
}

static inline dd dd_add(dd a, double b)
{
	double e, s = two_sum(a.hi, b, &e);
	return (dd){s, a.lo + e};
}

static inline dd dd_sum(dd a, dd b)
{
	double e, s = two_sum(a.hi, b.hi, &e);
	return (dd){s, a.lo + b.lo + e};
}

static inline dd dd_diff(dd a, dd b)
{
	return dd_sum(a, (dd){-b.hi, -b.lo});
}

/* a times a small whole number m (the product of hi is exact with its fma error). */
static inline dd dd_times(dd a, double m)
{
	double p = a.hi * m;
	return (dd){p, fma(a.hi, m, -p) + a.lo * m};
}

/* Whole cycles gcd-style: gcd(0, n) is n. */
static long long gcd_ll(long long a, long long b)
{
	while (b) {
		long long t = a % b;
		a = b, b = t;
	}
	return a;
}

/*
 * How a box's sums can be kept, or SUMS_NONE when k is not a box the
 * running sums do: a single 2-D filter of at least 2 equal, finite taps,
 * filtering (not a network layer, whose float order is fixed).
 */
static sums box_sums(const cnnf_kernel *k, const cnnf_conv_out *post, double *unit)
{
	size_t taps = (size_t)k->height * k->width;
	if (post->fast || k->count != 1 || k->depth != 1 || taps < 2 || !isfinite(k->weights[0]))
		return SUMS_NONE;
	for (size_t i = 1; i < taps; i++)
		if (k->weights[i] != k->weights[0])
			return SUMS_NONE;
	double max = post->int_max > 0 ? post->int_max : post->exact_max;
	int bits = post->int_max > 0 ? 0 : post->exact_bits;
	/* Every sum of up to `taps` samples, each below max * 2^bits units, stays below 2^63. */
	if (max > 0 && bits >= 0 && bits < 63 && ldexp(max, bits) * (double)taps < 0x1p63) {
		*unit = ldexp(1.0, -bits);
		return SUMS_EXACT;
	}
	return post->finite || max > 0 ? SUMS_DD : SUMS_NONE;
}

/* Bytes of one accumulator. */
static size_t box_acc(const plan *p)
{
	return p->sums == SUMS_EXACT ? sizeof(uint64_t) : sizeof(dd);
}

/* The box's geometry that needs no memory: its classes, the border's period, the work. */
static void box_plan(plan *p)
{
	const cnnf_conv_geom *g = p->g;
	long long kh = p->k->height, h = p->io->h, w = p->io->w;
	p->maxrows = (int)(kh < h ? kh : h);
	/*
	 * Rows y and y' read the same rows modulo the dilation when (y' - y) *
	 * stride is a multiple of it: classes of dil / gcd rows, whose windows
	 * move by stride / gcd taps. Sums are kept when moving beats summing
	 * afresh and they fit BOX_STATE_BYTES.
	 */
	long long d = gcd_ll(g->stride_y, g->dil_y);
	long long classes = g->dil_y / d;
	p->shift = g->stride_y / d;
	p->classes = 0;
	if (2 * p->shift < kh &&
	    (double)classes * w * p->nout * box_acc(p) <= (double)BOX_STATE_BYTES)
		p->classes = (int)classes;
	switch (g->border) {
	case CNNF_BORDER_REFLECT:
		p->period = w > 1 ? (int)(2 * w - 2) : 1;
		break;
	case CNNF_BORDER_SYMMETRIC:
		p->period = (int)(2 * w);
		break;
	case CNNF_BORDER_WRAP:
		p->period = (int)w;
		break;
	default:
		p->period = 0;
	}
	if (p->period) {
		long long e = g->dil_x % p->period;
		p->ncyc = (int)gcd_ll(e, p->period);
		p->cyclen = p->period / p->ncyc;
	}
	/* The work of making rows ylo..yhi-1 in order (cnnf_conv_job_work()). */
	double rows = p->yhi - p->ylo, fresh = p->classes ? fmin(rows, p->classes) : rows;
	double moved = fmin(2.0 * (double)p->shift, p->maxrows);
	double vert = (fresh * p->maxrows + (rows - fresh) * moved) * (double)w;
	double horiz = rows * (2.0 * (p->period ? p->period + p->ncyc : w) + 2.0 * p->ow);
	double total = (vert + horiz) * p->nout;
	p->work = total >= 0x1p64 ? ULLONG_MAX : (unsigned long long)total;
}

/*
 * The tables of the horizontal sums (box_plan() first): for each output
 * column x, rec[4x..4x+3] is, with zero and replicate borders, the prefix
 * index of its last tap inside the image (-1: none), the prefix index to
 * take from it (-1: none), and its taps left and right of the image; with
 * a periodic border, the start of its cycle's prefix sums, its first tap's
 * place in the cycle, the whole cycles and the taps left over.
 */
static int box_prepare(plan *p)
{
	const cnnf_conv_geom *g = p->g;
	long long w = p->io->w, kw = p->k->width, dx = g->dil_x;
	int *ord = NULL;
	p->rec = malloc(sizeof(int) * 4 * (size_t)p->ow);
	if (!p->rec)
		goto nomem;
	if (p->period) {
		int L = p->period, T = p->cyclen;
		long long e = dx % L;
		p->cyc = malloc(sizeof(int) * (size_t)L);
		ord = malloc(sizeof(int) * (size_t)L);
		if (!p->cyc || !ord)
			goto nomem;
		for (int r = 0; r < p->ncyc; r++)
			for (long long t = 0, q = r; t < T; t++, q = (q + e) % L) {
				p->cyc[(size_t)r * T + t] = (int)cnnf_conv_border_index((long)q, (long)w, g->border);
				ord[q] = (int)t;
			}
	}
	for (long long x = 0; x < p->ow; x++) {
		int *rec = p->rec + 4 * x;
		long long a = x * g->stride_x - g->pad_left; /* the first tap's padded column */
		if (p->period) {
			long long q = wrapmod((long)a, p->period);
			rec[0] = (int)(q % p->ncyc * (p->cyclen + 1));
			rec[1] = ord[q];
			rec[2] = (int)(kw / p->cyclen);
			rec[3] = (int)(kw % p->cyclen);
			continue;
		}
		/* Taps j < below are left of the image, j >= inside_end right of it. */
		long long below = a >= 0 ? 0 : (-a + dx - 1) / dx;
		long long inside_end = a > w - 1 ? 0 : (w - 1 - a) / dx + 1;
		below = below < kw ? below : kw;
		inside_end = inside_end < kw ? inside_end : kw;
		long long first = a + below * dx;
		rec[0] = inside_end > below ? (int)(a + (inside_end - 1) * dx) : -1;
		rec[1] = inside_end > below && first - dx >= 0 ? (int)(first - dx) : -1;
		rec[2] = (int)below;
		rec[3] = (int)(kw - inside_end);
	}
	free(ord);
	return 0;
nomem:
	free(ord);
	cnnf_error("out of memory");
	return -1;
}

/* One worker's buffers for the box. */
typedef struct box_scratch {
	float *line;  /* an input row as read */
	int *count;   /* h: how many taps of the window being moved fall on each image row */
	int *list;    /* kh: the rows with a count */
	int nlist;
	void *v;      /* w accumulators: the vertical sums when none are kept */
	void *pre;    /* prefix sums of one row of vertical sums */
	double *dacc; /* ow: the output row before finish_row() */
	float *out;   /* ow finished values */
} box_scratch;

static void box_scratch_free(box_scratch *s)
{
	free(s->line);
	free(s->count);
	free(s->list);
	free(s->v);
	free(s->pre);
	free(s->dacc);
	free(s->out);
}

static int box_scratch_new(const plan *p, box_scratch *s)
{
	size_t w = (size_t)p->io->w, acc = box_acc(p);
	size_t pre = p->period ? (size_t)p->period + (size_t)p->ncyc : w;
	*s = (box_scratch){0};
	s->line = malloc(sizeof(float) * w);
	s->count = calloc((size_t)p->io->h, sizeof(int));
	s->list = malloc(sizeof(int) * (size_t)p->k->height);
	s->v = p->classes ? NULL : malloc(acc * w);
	s->pre = malloc(acc * pre);
	s->dacc = malloc(sizeof(double) * (size_t)p->ow);
	s->out = malloc(sizeof(float) * (size_t)p->ow);
	if (!s->line || !s->count || !s->list || (!p->classes && !s->v) || !s->pre || !s->dacc ||
	    !s->out) {
		box_scratch_free(s);
		return -1;
	}
	return 0;
}

/* Count taps i0..i1-1 of output row y, each `sign` times, on the image rows they read. */
static void box_taps(const plan *p, box_scratch *s, int y, long long i0, long long i1, int sign)
{
	const cnnf_conv_geom *g = p->g;
	long long r0 = (long long)y * g->stride_y - g->pad_top;
	for (long long i = i0; i < i1; i++) {
		long src = cnnf_conv_border_index((long)(r0 + i * g->dil_y), p->io->h, g->border);
		if (src < 0)
			continue;
		if (!s->count[src])
			s->list[s->nlist++] = (int)src;
		s->count[src] += sign;
	}
}

/* Add the counted rows of input channel c, each times its count, to the vertical sums v. */
CNNF_CLONES static void box_add_rows(const plan *p, box_scratch *s, int c, void *v)
{
	const cnnf_conv_rows *io = p->io;
	int w = io->w;
	double units = 1 / p->unit;
	for (int n = 0; n < s->nlist; n++) {
		int r = s->list[n], m = s->count[r];
		s->count[r] = 0;
		/* A row whose taps left and entered in equal numbers, or listed twice. */
		if (!m)
			continue;
		io->read(io->ctx, c, r, s->line);
		if (p->sums == SUMS_EXACT && units == 1) {
			uint64_t *acc = v, um = (uint64_t)(int64_t)m;
			for (int x = 0; x < w; x++)
				acc[x] += um * (uint64_t)(int64_t)s->line[x];
		} else if (p->sums == SUMS_EXACT) {
			uint64_t *acc = v, um = (uint64_t)(int64_t)m;
			for (int x = 0; x < w; x++)
				acc[x] += um * (uint64_t)(int64_t)((double)s->line[x] * units);
		} else {
			dd *acc = v;
			/* m * sample is exact: a float times a count below 2^13. */
			for (int x = 0; x < w; x++)
				acc[x] = dd_add(acc[x], (double)m * s->line[x]);
		}
	}
	s->nlist = 0;
}

/* The window sums of one row of vertical sums v, times the weight, in s->dacc. */
CNNF_CLONES static void box_row_exact(const plan *p, box_scratch *s, const uint64_t *v)
{
	const int *rec = p->rec;
	uint64_t *pre = s->pre;
	long w = p->io->w, dx = p->g->dil_x;
	double scale = p->unit;
	if (p->period) {
		int T = p->cyclen;
		for (int r = 0; r < p->ncyc; r++) {
			uint64_t *c = pre + (size_t)r * (T + 1);
			const int *cols = p->cyc + (size_t)r * T;
			c[0] = 0;
			for (int t = 0; t < T; t++)
				c[t + 1] = c[t] + v[cols[t]];
		}
		for (int x = 0; x < p->ow; x++, rec += 4) {
			const uint64_t *c = pre + rec[0];
			int o = rec[1], rem = rec[3];
			uint64_t sum = (uint64_t)rec[2] * c[T];
			sum += o + rem <= T ? c[o + rem] - c[o] : c[T] - c[o] + c[o + rem - T];
			s->dacc[x] = (double)(int64_t)sum * scale * p->box_w;
		}
		return;
	}
	for (long q = 0; q < w; q++)
		pre[q] = v[q] + (q >= dx ? pre[q - dx] : 0);
	int replicate = p->g->border == CNNF_BORDER_REPLICATE;
	for (int x = 0; x < p->ow; x++, rec += 4) {
		uint64_t sum = rec[0] >= 0 ? pre[rec[0]] - (rec[1] >= 0 ? pre[rec[1]] : 0) : 0;
		if (replicate)
			sum += (uint64_t)rec[2] * v[0] + (uint64_t)rec[3] * v[w - 1];
		s->dacc[x] = (double)(int64_t)sum * scale * p->box_w;
	}
}

static void box_row_dd(const plan *p, box_scratch *s, const dd *v)
{
	const int *rec = p->rec;
	dd *pre = s->pre;
	long w = p->io->w, dx = p->g->dil_x;
	if (p->period) {
		int T = p->cyclen;
		for (int r = 0; r < p->ncyc; r++) {
			dd *c = pre + (size_t)r * (T + 1);
			const int *cols = p->cyc + (size_t)r * T;
			c[0] = (dd){0, 0};
			for (int t = 0; t < T; t++)
				c[t + 1] = dd_sum(c[t], v[cols[t]]);
		}
		for (int x = 0; x < p->ow; x++, rec += 4) {
			const dd *c = pre + rec[0];
			int o = rec[1], rem = rec[3];
			dd part = o + rem <= T ? dd_diff(c[o + rem], c[o])
			                       : dd_sum(dd_diff(c[T], c[o]), c[o + rem - T]);
			dd sum = dd_sum(dd_times(c[T], rec[2]), part);
			s->dacc[x] = (sum.hi + sum.lo) * p->box_w;
		}
		return;
	}
	for (long q = 0; q < w; q++)
		pre[q] = q >= dx ? dd_sum(pre[q - dx], v[q]) : v[q];
	int replicate = p->g->border == CNNF_BORDER_REPLICATE;
	for (int x = 0; x < p->ow; x++, rec += 4) {
		dd sum = {0, 0};
		if (rec[0] >= 0)
			sum = rec[1] >= 0 ? dd_diff(pre[rec[0]], pre[rec[1]]) : pre[rec[0]];
		if (replicate)
			sum = dd_sum(sum, dd_sum(dd_times(v[0], rec[2]), dd_times(v[w - 1], rec[3])));
		s->dacc[x] = (sum.hi + sum.lo) * p->box_w;
	}
}

struct cnnf_conv_job {
	cnnf_conv_rows io;
	cnnf_conv_geom g;
	plan p; /* its io and g point at the copies above */
	int threads;
	/* PATH_BOX with classes: per output channel and class, the vertical sums and their row */
	void *vsum;
	int *vrow; /* -1: none yet */
	/*
	 * One thread: the worker's buffers, kept from one cnnf_conv_make to the
	 * next (a caller making a few rows at a time paid a fresh band each time).
	 */
	scratch s;
	int have_s;
};

/* Output channels begin..end-1 of the box for rows p->ylo..p->yhi-1, moving the kept sums on. */
static int box_work(void *ctx, size_t begin, size_t end)
{
	cnnf_conv_job *j = ctx;
	const plan *p = &j->p;
	const cnnf_conv_rows *io = p->io;
	size_t acc = box_acc(p), w = (size_t)io->w;
	long long kh = p->k->height;
	box_scratch s;
	if (box_scratch_new(p, &s) < 0)
		return -1;
	for (size_t f = begin; f < end; f++) {
		int c = p->depthwise ? (int)f : 0;
		for (int y = p->ylo; y < p->yhi; y++) {
			void *v = s.v;
			int *last = NULL;
			long long moved = -1;
			if (p->classes) {
				size_t i = f * (size_t)p->classes + (size_t)(y % p->classes);
				v = (char *)j->vsum + i * w * acc;
				last = j->vrow + i;
				if (*last >= 0 && *last < y)
					moved = (long long)(y - *last) / p->classes * p->shift;
			}
			if (moved >= 0 && 2 * moved < kh) {
				box_taps(p, &s, *last, 0, moved, -1);
				box_taps(p, &s, y, kh - moved, kh, 1);
			} else {
				memset(v, 0, w * acc);
				box_taps(p, &s, y, 0, kh, 1);
			}
			box_add_rows(p, &s, c, v);
			if (last)
				*last = y;
			if (p->sums == SUMS_EXACT)
				box_row_exact(p, &s, v);
			else
				box_row_dd(p, &s, v);
			float *dst = io->dest ? io->dest(io->ctx, (int)f, y) : s.out;
			finish_row(p, (int)f, NULL, s.dacc, s.dacc, dst);
			if (!io->dest)
				io->write(io->ctx, (int)f, y, dst, p->ow);
		}
	}
	box_scratch_free(&s);
	return 0;
}

/* Saturating a * b. */
static unsigned long long mul_sat(unsigned long long a, unsigned long long b)
{
	unsigned long long r;
	return __builtin_mul_overflow(a, b, &r) ? ULLONG_MAX : r;
}

/* The band loops' multiply-adds for rows ylo..yhi-1 (prepare() has chosen the path). */
static unsigned long long band_work(const plan *p)
{
	const cnnf_kernel *k = p->k;
	unsigned long long rows = (unsigned long long)(p->yhi - p->ylo), ow = (unsigned long long)p->ow;
	if (p->path != PATH_SEPARABLE && p->path != PATH_SEP_DOUBLE)
		return mul_sat(mul_sat(mul_sat(rows * ow, (unsigned long long)p->nout),
		                       (unsigned long long)p->cin),
		               (unsigned long long)k->height * k->width);
	unsigned long long full = rows / (unsigned long long)p->band, left = rows % p->band;
	unsigned long long brows = mul_sat(full, (unsigned long long)band_rows(p, p->band)) +
	                           (left ? (unsigned long long)band_rows(p, (int)left) : 0);
	unsigned long long one = mul_sat(brows, ow * (unsigned long long)k->width) +
	                         mul_sat(rows * ow, (unsigned long long)k->height);
	return mul_sat(one, (unsigned long long)p->nout);
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
	if ((p->sums = box_sums(k, &p->post, &p->unit)) != SUMS_NONE) {
		/* No band: the running sums read the image's rows themselves. */
		p->path = PATH_BOX;
		p->box_w = k->weights[0];
		box_plan(p);
		return 0;
	}
	/* The columns one tap's outputs read; a dilation beyond them leaves a gap no output reads. */
	long long span_x = (long long)(p->ow - 1) * g->stride_x + 1;
	if (k->width > 1 && g->dil_x > span_x) {
		p->gx = (long)span_x;
		p->wp = (long)(span_x * k->width);
	} else {
		p->gx = g->dil_x;
		p->wp = (long)(span_x + (long long)(k->width - 1) * g->dil_x);
	}
	/* Rows start on cache lines, so the vector loads of the first tap are not split. */
	p->ws = (p->wp + 15) / 16 * 16;
	if ((unsigned long)p->ws > SIZE_MAX / sizeof(long)) {
		cnnf_error("%s: a padded row of %ld samples is too large for memory", name, p->wp);
		return -1;
	}
	int planes = p->depthwise ? p->nout : k->depth;
	/*
	 * Rows per band: the band's input fits BAND_FLOATS, at least one row;
	 * with the padded rows between the kernel's rows (a contiguous band) or
	 * without them (a huge dilation), whichever fits more.
	 */
	long long per_row = (long long)planes * p->ws, kh = k->height;
	long long rows_fit = BAND_FLOATS / (per_row > 0 ? per_row : 1);
	long long fit = (rows_fit - (kh - 1) * g->dil_y - 1) / g->stride_y + 1;
	long long fit_gap = (rows_fit / kh - 1) / g->stride_y + 1;
	if (kh > 1 && fit_gap > fit)
		fit = fit_gap;
	p->band = fit < 1 ? 1 : fit > nrows ? nrows : (int)fit;
	/* Enough bands for every thread to have work. */
	int nt = cnnf_parallel_threads(threads);
	if ((nrows + p->band - 1) / p->band < 8 * nt && nrows >= 8 * nt)
		p->band = (nrows + 8 * nt - 1) / (8 * nt);
	/*
	 * Two passes in double read kh - 1 more band rows than they make, each
	 * through the row pass: bands of 4 (kh - 1) rows at least keep that
	 * below a quarter, at the cost of a band beyond the L2 cache.
	 */
	if (sep_double(k, g, &p->post)) {
		long long least = 4 * (kh - 1) * g->dil_y / g->stride_y;
		if (p->band < least)
			p->band = least > nrows ? nrows : (int)least;
	}
	long long span_y = (long long)(p->band - 1) * g->stride_y + 1;
	p->gy = kh > 1 && g->dil_y > span_y ? (long)span_y : g->dil_y;
	return band_size(p, name);
}

/* The buffers of a planned run: the column map, the path's weights or the box's tables. */
static int plan_prepare(plan *p)
{
	const cnnf_conv_rows *io = p->io;
	const cnnf_conv_geom *g = p->g;
	if (p->path == PATH_BOX)
		return box_prepare(p);
	p->colmap = malloc(sizeof(long) * (size_t)p->wp);
	if (!p->colmap) {
		cnnf_error("out of memory");
		return -1;
	}
	for (long q = 0; q < p->wp; q++)
		p->colmap[q] = cnnf_conv_border_index(q / p->gx * g->dil_x + q % p->gx - g->pad_left,
		                                      io->w, g->border);
	/*
	 * The reader fills the middle of a padded row in place when the row
	 * holds all of it, in order (not when the columns are compacted).
	 */
	if (p->gx == g->dil_x && (long)g->pad_left + io->w <= p->wp)
		p->in0 = g->pad_left, p->in1 = (long)g->pad_left + io->w;
	if (prepare(p) < 0)
		return -1;
	p->work = band_work(p);
	return 0;
}

static void plan_free(plan *p)
{
	free(p->colmap);
	free(p->packed);
	free(p->sep_col);
	free(p->sep_row);
	free(p->cyc);
	free(p->rec);
}

void cnnf_conv_close(cnnf_conv_job *j)
{
	if (!j)
		return;
	plan_free(&j->p);
	free(j->vsum);
	free(j->vrow);
	if (j->have_s)
		scratch_free(&j->s);
	free(j);
}

int cnnf_conv_open(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                   const cnnf_conv_out *post, int threads, const char *name,
                   cnnf_conv_job **out)
{
	cnnf_conv_job *j = calloc(1, sizeof *j);
	if (!j) {
		cnnf_error("out of memory");
		return -1;
	}
	j->io = *io;
	j->g = *g;
	j->threads = threads;
	if (plan_init(&j->p, &j->io, k, &j->g, post, threads, name) < 0 || plan_prepare(&j->p) < 0)
		goto fail;
	if (j->p.path == PATH_BOX && j->p.classes) {
		size_t n = (size_t)j->p.nout * (size_t)j->p.classes;
		j->vsum = malloc(n * (size_t)io->w * box_acc(&j->p));
		j->vrow = malloc(sizeof(int) * n);
		if (!j->vsum || !j->vrow) {
			cnnf_error("out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			j->vrow[i] = -1;
	}
	*out = j;
	return 0;
fail:
	cnnf_conv_close(j);
	return -1;
}

int cnnf_conv_make(cnnf_conv_job *j, int y0, int y1)
{
	plan *p = &j->p;
	if (y0 < 0 || y0 >= y1 || y1 > p->oh) {
		cnnf_error("output rows %d..%d are not within 0..%d", y0, y1 - 1, p->oh - 1);
		return -1;
	}
	p->ylo = y0, p->yhi = y1;
	if (p->path == PATH_BOX)
		/* One channel's rows in order in one thread: its sums move from row to row. */
		return cnnf_parallel_for((size_t)p->nout, j->threads, box_work, j);
	/* Bands no larger than the buffers were sized for, enough of them for the threads. */
	int nrows = y1 - y0, band = p->band, nt = cnnf_parallel_threads(j->threads);
	/* (One thread: no need to split, and each band would copy its input rows' overlap again.) */
	if (nt > 1 && (nrows + band - 1) / band < 8 * nt && nrows >= 8 * nt)
		band = (nrows + 8 * nt - 1) / (8 * nt);
	int saved = p->band;
	p->band = band < nrows ? band : nrows;
	size_t nbands = (size_t)((nrows + p->band - 1) / p->band);
	int status = 0;
	if (nt == 1) {
		/* Buffers for the plan's bands, which hold every band made here (no larger). */
		p->band = saved;
		int ok = j->have_s || scratch_new(p, &j->s) == 0;
		p->band = band < nrows ? band : nrows;
		if (!ok) {
			cnnf_error("out of memory");
			status = -1;
		} else {
			j->have_s = 1;
			for (size_t b = 0; b < nbands; b++) {
				int by = y0 + (int)b * p->band;
				run_band(p, &j->s, by, by + p->band > y1 ? y1 - by : p->band);
			}
		}
	} else {
		status = cnnf_parallel_for(nbands, j->threads, work, p);
	}
	p->band = saved;
	return status;
}

int cnnf_conv_box_table(const cnnf_conv_job *j, long long max_sum, float *out)
{
	const plan *p = &j->p;
	if (p->path != PATH_BOX || p->sums != SUMS_EXACT || p->unit != 1 || p->ow < 1 ||
	    max_sum < 0)
		return -1;
	double *dacc = malloc(sizeof(double) * (size_t)p->ow);
	float *row = malloc(sizeof(float) * (size_t)p->ow);
	if (!dacc || !row) {
		free(dacc);
		free(row);
		return -1;
	}
	/* As box_row_exact() and box_work() finish a row, a row's worth of sums at a time. */
	for (long long s0 = 0; s0 <= max_sum; s0 += p->ow) {
		long long n = max_sum + 1 - s0 < p->ow ? max_sum + 1 - s0 : p->ow;
		for (int x = 0; x < p->ow; x++)
			dacc[x] = (double)(int64_t)(s0 + (x < n ? x : 0)) * p->unit * p->box_w;
		finish_row(p, 0, NULL, dacc, dacc, row);
		memcpy(out + s0, row, sizeof(float) * (size_t)n);
	}
	free(dacc);
	free(row);
	return 0;
}

unsigned long long cnnf_conv_job_work(const cnnf_conv_job *j)
{
	return j->p.work;
}

int cnnf_conv_check(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                    const cnnf_conv_out *post, int threads, const char *name,
                    unsigned long long *work)
{
	plan p;
	int status = plan_init(&p, io, k, g, post, threads, name);
	/* The path (and so the work) is known once the weights are looked at. */
	if (status == 0 && work) {
		status = plan_prepare(&p);
		*work = p.work;
	}
	plan_free(&p);
	return status;
}

int cnnf_conv_run(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                  const cnnf_conv_out *post, int threads, const char *name)
{
	cnnf_conv_job *j;
	if (cnnf_conv_open(io, k, g, post, threads, name, &j) < 0)
		return -1;
	int status = cnnf_conv_make(j, j->p.ylo, j->p.yhi);
	cnnf_conv_close(j);
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
