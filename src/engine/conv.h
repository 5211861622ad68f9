/* conv.h: the convolution engine: geometry (padding, stride, dilation, borders) and the loops. */
#ifndef CNNF_CONV_H
#define CNNF_CONV_H

#include "engine/kernel.h"
#include "engine/tensor.h"

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

/* How values are accumulated, and what happens to each before it is stored. */
typedef struct cnnf_conv_out {
	double offset;   /* added after the bias */
	int abs;         /* store |v| (before the offset is added) */
	unsigned round;  /* 0: store the float value; else round half up, clamp to 0..round */
	int relu;        /* store max(v, 0) (network layers) */
	/*
	 * 0: the result of accumulating in double (filters). Integer kernels on
	 * integer samples (int_max > 0) run in float where that is provably exact.
	 * 1: accumulate in float with fused multiply-adds, taps in a fixed order
	 * (network layers, like PyTorch; the same bits on every machine).
	 */
	int fast;
	/* Without fast: the input samples are integers of magnitude <= int_max (0: not known). */
	double int_max;
	/*
	 * Without fast, for a box (a single 2-D filter whose weights are all
	 * equal), which runs as running sums: the input samples are whole
	 * multiples of 2^-exact_bits of magnitude <= exact_max (0: not known),
	 * so that their sums are exact in 64-bit integers, as colour
	 * premultiplied by alpha is. Integer samples (int_max) need neither.
	 */
	double exact_max;
	int exact_bits;
	/* Without fast: every input sample is finite (lets a box sum float samples). */
	int finite;
} cnnf_conv_out;

/*
 * The engine reads its input and writes its output row by row, so a filter
 * can stream an image through it in bands without a float copy of the whole
 * image. Both callbacks are called from worker threads, for distinct rows.
 */
typedef struct cnnf_conv_rows {
	int c, h, w; /* input channels, rows, columns */
	/* Put row r (0 <= r < h) of channel c, w samples, in dst. */
	void (*read)(void *ctx, int c, int r, float *dst);
	/* Take output row y of channel f: ow finished values (post applied). */
	void (*write)(void *ctx, int f, int y, const float *row, int ow);
	/* Or, when not NULL, where to put those values directly (write is then not called). */
	float *(*dest)(void *ctx, int f, int y);
	void *ctx;
	/* With y1 > 0: make output rows y0..y1-1 only (0 <= y0 < y1 <= output rows). */
	int y0, y1;
} cnnf_conv_rows;

/*
 * The output shape of correlating a c x h x w input with k under g: *oc
 * channels of *oh x *ow. -1 with a message naming `name` when the kernel's
 * depth does not fit the channels or no output sample remains.
 */
int cnnf_conv_shape(int c, int h, int w, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const char *name, int *oc, int *oh, int *ow);

/*
 * The checks cnnf_conv_run() makes before it allocates anything (the shape,
 * io's row range, and buffer sizes that overflow or exceed
 * CNNF_CONV_BAND_MAX), without running: 0, or -1 with the message
 * cnnf_conv_run() would give. The callbacks are not called. post may be
 * NULL (plain double storage). When work is not NULL it receives what
 * cnnf_conv_job_work() would say for io's row range.
 */
int cnnf_conv_check(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                    const cnnf_conv_out *post, int threads, const char *name,
                    unsigned long long *work);

/* The largest buffer of input rows one worker may need: 4 GiB. */
#define CNNF_CONV_BAND_MAX (1ULL << 32)

/*
 * A run of the engine over io's rows that stays open while its caller asks
 * for the output a range of rows at a time (a filter making its result in
 * strips as a writer takes them). Between calls the engine keeps what it
 * can carry over: the running sums of a box continue from the last row made
 * instead of being summed afresh. io, k, g and post are copied where it
 * matters (*io, *g, *post) or must outlive the job (k and the callbacks'
 * ctx). Returns 0 and sets *out, or -1 with cnnf_conv_check()'s messages or
 * "out of memory".
 */
typedef struct cnnf_conv_job cnnf_conv_job;
int cnnf_conv_open(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
                   const cnnf_conv_out *post, int threads, const char *name,
                   cnnf_conv_job **out);

/*
 * Output rows y0..y1-1 (0 <= y0 < y1 <= output rows), each written once as
 * cnnf_conv_run() writes them; the same values whatever the ranges asked
 * for and their order (in order is cheapest). Returns 0, or -1 with
 * "out of memory".
 */
int cnnf_conv_make(cnnf_conv_job *j, int y0, int y1);

/*
 * The arithmetic the job does to make all the rows of io's range once, in
 * order, worked out when it was opened: multiply-adds (output samples times
 * taps; for a separable kernel the taps of the two 1-D passes, band rows
 * included), or for a box run as running sums the additions and
 * subtractions of whole sums (a row added to or taken from a running sum
 * counts its samples; the prefix sums and window differences of each output
 * row count 2 per input column and output sample).
 */
unsigned long long cnnf_conv_job_work(const cnnf_conv_job *j);

/*
 * For a box the engine runs as exact integer sums of samples (taps all
 * equal, integer samples, no unit scaling): out[s] for s = 0..max_sum, the
 * value the engine writes for an output whose window sums to s, made by the
 * engine's own finishing code, so that a caller summing the window itself
 * (filter.c's integer path) writes the same bits. Returns 0, or -1 when the
 * job is not such a box or memory runs out (no message: the caller uses
 * the engine).
 */
int cnnf_conv_box_table(const cnnf_conv_job *j, long long max_sum, float *out);

/* Free the job; NULL is a no-op. */
void cnnf_conv_close(cnnf_conv_job *j);

/*
 * cnnf_conv_apply() over rows from io->read to io->write. Every output row
 * (of io's range) is written exactly once; which thread computes it, and
 * which range it is computed in, does not change it.
 * Returns 0, or -1 (shape errors as cnnf_conv_shape(), or no memory).
 */
int cnnf_conv_run(const cnnf_conv_rows *io, const cnnf_kernel *k, const cnnf_conv_geom *g,
		  const cnnf_conv_out *post, int threads, const char *name);

/*
 * Correlate input `in` with the bank k:
 *   out[f][y][x] = post(bias[f] + scale(f) * sum_{c,i,j} w[f][c][i][j] *
 *                       in[c][y*sy - top + i*dy][x*sx - left + j*dx])
 * accumulated as post->fast says (post NULL: as in double, plain storage).
 * Without fast, a box (one 2-D filter whose weights are all equal) runs as
 * running sums, at a cost per output sample that does not grow with the
 * kernel or the dilation: in 64-bit integers, exactly, when the samples are
 * integers (int_max) or exact_max says so, else in double-double when they
 * are all finite (post->finite); the sum is then multiplied by the weight
 * once and finished as the double accumulator is. A kernel that carries its
 * factors (k->sep: the built-in Gaussian and unsharp mask) runs, at stride 1
 * across, as two 1-D passes in double, the row pass kept in double.
 * When k->depth == in->c, the bank gives k->count
 * output channels. When k is a single 2-D filter (count == depth == 1) and
 * the input has several channels, each channel is filtered on its own.
 * Anything else is an error naming the kernel `name`.
 * Output rows are split among `threads` threads (0: all cores);
 * the result does not depend on the thread count. Returns 0 and sets *out
 * (owned by the caller), or -1.
 */
int cnnf_conv_apply(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
		    const cnnf_conv_out *post, int threads, const char *name, cnnf_tensor **out);

#endif
