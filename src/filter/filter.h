/* filter.h: the filter pipeline: a kernel applied to an image, with alpha and rounding. */
#ifndef CNNF_FILTER_H
#define CNNF_FILTER_H

#include "engine/conv.h"
#include "image/image.h"
#include "engine/kernel.h"

typedef struct cnnf_filter_opts {
	cnnf_pad_mode pad_mode; /* default CNNF_PAD_SAME */
	int pad;                /* with CNNF_PAD_EXPLICIT: samples on every side */
	int stride;             /* >= 1 */
	int dilation;           /* >= 1 */
	cnnf_border border;     /* default CNNF_BORDER_REFLECT */
	int abs;                /* show |response| */
	double offset;          /* added to every response (after abs) */
	int float_out;          /* 1: keep float results (.npy); 0: round to the input's scale */
	int threads;            /* 0: all cores */
	int engine_only;        /* 1: no integer box path (boxsum.c); tests compare the two */
	/*
	 * When the image is still being decoded (cnnf_input_read_async()): called
	 * before a strip is made with the rows it reads (rows 0..rows-1 must be
	 * final; for the last strip, height + 1: the decode must have ended
	 * well); 0, or -1 with a message, which fails the strip. NULL: the image
	 * is whole.
	 */
	int (*wait)(void *ctx, int rows);
	void *wait_ctx;
} cnnf_filter_opts;

/* The defaults above. */
void cnnf_filter_opts_init(cnnf_filter_opts *o);

/*
 * Filter img with kernel k (named `kname` in messages) and return the result
 * in *out. A single 2-D kernel filters each channel; a 3-D kernel or bank
 * needs depth == channels and gives one channel per filter. With alpha and a
 * kernel that mixes pixels, colour is premultiplied by alpha first and
 * divided by the filtered alpha after, so transparent pixels do not bleed.
 * Integer images give an image of the same type and maxval, rounded half up
 * and clamped, unless float_out is set; float images stay float.
 */
int cnnf_filter_apply(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
		      const char *kname, cnnf_image **out);

/*
 * The same filtering, made a strip of rows at a time as a writer reads the
 * rows, so that the whole result is never in memory (with alpha too: colour
 * is premultiplied as the engine reads it and divided by the filtered alpha
 * a strip at a time). strip_rows is the rows of a strip, 0 for a default of
 * a few MiB. Everything about the kernel and the shape is checked here,
 * before any row is made; running out of memory while a strip is made fails
 * that row. img, k and kname must outlive the stream. Returns 0 and sets
 * *out, or -1.
 *
 * A kernel whose taps are all equal (a box, of any size, square or not) is
 * run as running sums: the cost of an output sample does not grow with the
 * kernel's size or the dilation, and the memory is a few rows per channel.
 * With 8- and 16-bit samples the sums are exact 64-bit integers, so the
 * result is the exact mean rounded half up, as for every other kernel.
 */
typedef struct cnnf_filter_stream cnnf_filter_stream;
int cnnf_filter_open(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                     const char *kname, int strip_rows, cnnf_filter_stream **out);

/* The result's rows, for cnnf_io_write_rows(); good until cnnf_filter_close(). */
const cnnf_rows *cnnf_filter_get_rows(const cnnf_filter_stream *s);

/*
 * The arithmetic the whole stream will do, worked out by cnnf_filter_open()
 * before any row is made: the engine's multiply-adds (output samples times
 * the taps each reads, per output channel; for a separable kernel the taps
 * of its two 1-D passes, the extra input rows of each band included), or,
 * for a box run as running sums, the additions: each input row added to or
 * taken from a column sum counts its width, and each output row counts 2
 * per input column (prefix sums) and 2 per output sample (a difference, and
 * whole cycles of a periodic border). The premultiplication by alpha, the
 * rounding and the conversion to the output's samples are not counted.
 * Saturates at ULLONG_MAX.
 */
unsigned long long cnnf_filter_work(const cnnf_filter_stream *s);

/* Free the stream and its strip; NULL is a no-op. */
void cnnf_filter_close(cnnf_filter_stream *s);

#endif
