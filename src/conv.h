/* conv.h: the convolution engine: geometry (padding, stride, dilation, borders) and the loops. */
#ifndef CNNF_CONV_H
#define CNNF_CONV_H

#include "kernel.h"
#include "tensor.h"

/* How the samples outside the input are made. */
typedef enum cnnf_border {
	CNNF_BORDER_ZERO,      /* 0 */
	CNNF_BORDER_REPLICATE, /* aaa|abcd|ddd */
	CNNF_BORDER_REFLECT,   /* dcb|abcd|cba: mirror without repeating the edge */
	CNNF_BORDER_SYMMETRIC, /* cba|abcd|dcb: mirror repeating the edge */
	CNNF_BORDER_WRAP       /* bcd|abcd|abc: periodic */
} cnnf_border;

/* "zero", "replicate", ... to a border mode; -1 for anything else. */
int cnnf_conv_border_parse(const char *s, cnnf_border *out);
const char *cnnf_conv_border_name(cnnf_border b);

/*
 * The input index that padded index i (which may be negative or >= n) reads
 * under border b, or -1 for a zero sample. n >= 1.
 */
long cnnf_conv_border_index(long i, long n, cnnf_border b);

/* How padding is chosen on the command line. */
typedef enum cnnf_pad_mode {
	CNNF_PAD_SAME,    /* ceil(n/s) outputs, total padding split with the smaller half before */
	CNNF_PAD_VALID,   /* no padding */
	CNNF_PAD_EXPLICIT /* the same given amount on every side */
} cnnf_pad_mode;

/* Geometry of one 2-D correlation. */
typedef struct cnnf_conv_geom {
	int pad_top, pad_bottom, pad_left, pad_right; /* >= 0 */
	int stride_y, stride_x;                       /* >= 1 */
	int dil_y, dil_x;                             /* >= 1 */
	cnnf_border border;                           /* makes the padding samples */
} cnnf_conv_geom;

/*
 * Output samples along one axis: floor((n + before + after - d*(k-1) - 1)/s) + 1,
 * or 0 when that is not positive. All arguments fit int; the result is
 * computed without overflow.
 */
long cnnf_conv_out_size(long n, long before, long after, long k, long s, long d);

/*
 * Padding along one axis for the given mode: for SAME, ceil(n/s) outputs with
 * the total split smaller half before; for EXPLICIT, pad on both sides.
 */
void cnnf_conv_pad(cnnf_pad_mode mode, int pad, long n, long k, long s, long d, int *before,
		   int *after);

/* What happens to each accumulated value before it is stored. */
typedef struct cnnf_conv_out {
	double offset;   /* added after the bias */
	int abs;         /* store |v| (before the offset is added) */
	unsigned round;  /* 0: store the float value; else round half up, clamp to 0..round */
	int relu;        /* store max(v, 0) (network layers) */
} cnnf_conv_out;

/*
 * Correlate input `in` with the bank k:
 *   out[f][y][x] = post(bias[f] + scale(f) * sum_{c,i,j} w[f][c][i][j] *
 *                       in[c][y*sy - top + i*dy][x*sx - left + j*dx])
 * accumulated in double. When k->depth == in->c, the bank gives k->count
 * output channels. When k is a single 2-D filter (count == depth == 1) and
 * the input has several channels, each channel is filtered on its own.
 * Anything else is an error naming the kernel `name`. post is NULL for plain
 * storage. Output rows are split among `threads` threads (0: all cores);
 * the result does not depend on the thread count. Returns 0 and sets *out
 * (owned by the caller), or -1.
 */
int cnnf_conv_apply(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const cnnf_conv_out *post, int threads, const char *name, cnnf_tensor **out);

#endif
