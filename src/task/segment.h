/* segment.h: patch-based segmentation: a label for every pixel, palettes and overlays. */
#ifndef CNNF_SEGMENT_H
#define CNNF_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conv.h"
#include "image/image.h"
#include "nn/graph.h"
#include "nn/net.h"
#include "engine/tensor.h"

/* Label maps are 8-bit palette images: at most this many classes. */
#define CNNF_SEGMENT_MAX_CLASSES 256

typedef enum cnnf_segment_mode {
	CNNF_SEGMENT_PATCH, /* the network on each pixel's own patch: the reference */
	CNNF_SEGMENT_DENSE  /* whole tiles at once (same labels); models whose conv layers
			       pad are run patch by patch, as dense could not match them */
} cnnf_segment_mode;

typedef struct cnnf_segment_opts {
	cnnf_border border;     /* makes the samples outside the image (default reflect) */
	cnnf_segment_mode mode; /* default dense */
	int threads;            /* 0: all cores */
	int tile_rows;          /* dense: image rows per tile; 0: as many as the budget allows */
	int tile_cols;          /* dense: image columns per tile; 0: CNNF_SEGMENT_DENSE_COLS */
	/* Called now and then from the calling thread with rows done so far; may be NULL. */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
} cnnf_segment_opts;

void cnnf_segment_opts_init(cnnf_segment_opts *o);

/*
 * Classify every pixel of img with the network: the patch for pixel (y, x)
 * has its top-left corner at (y - floor(H/2), x - floor(W/2)) of the model's
 * H x W input; samples outside the image come from the border mode applied
 * to the raw image. Raw samples are divided by the image's maxval (1 for
 * float images without one), then become (v - mean) / std. The label is the
 * argmax of the output, the lowest index on a tie.
 * *labels receives a 1-channel CNNF_U8 image of class ids; when probs is not
 * NULL, *probs receives a K-channel float image of the softmax of the output.
 * name is the image's name for messages. Returns 0, or -1.
 */
int cnnf_segment_run(cnnf_net *net, const cnnf_image *img, const char *name,
		     const cnnf_segment_opts *o, cnnf_image **labels, cnnf_image **probs);

/*
 * Float samples without a scale (a float .npy) are fed as they are; with
 * scale (e.g. --scale 255) they are divided by it: img->maxval becomes
 * scale. Without a scale, samples far outside 0..1 (above 2 or below -1)
 * put a one-line warning in warn ("warning: samples up to 255 used as they
 * are; --scale 255 divides them") and return 1; else 0. Other images are
 * left alone.
 */
int cnnf_segment_float_scale(cnnf_image *img, unsigned scale, char *warn, size_t len);

/*
 * The image as the network sees it: a C x H x W tensor of
 * (v / scale - mean[c]) / std[c], scale the image's maxval (1 for float
 * images without one); zero[c] receives what a raw 0 becomes (the zero
 * border). segment and train build their patches from it. NULL on failure.
 */
cnnf_tensor *cnnf_segment_normalise(const cnnf_image *img, const cnnf_model *m, float *zero);

/* The same with mean[c] and std[c] given ([img->channels] each), for models of other files. */
cnnf_tensor *cnnf_segment_normalise_by(const cnnf_image *img, const float *mean,
				       const float *std, float *zero);

/*
 * The ph x pw patch of pixel (y, x) of a normalised image: top-left corner at
 * (y - ph/2, x - pw/2), samples outside from `border`. Element (c, i, k) goes
 * to dst[((c * ph + i) * pw + k) * stride]: stride 1 for one patch, n for
 * patches side by side with interleaved columns.
 */
void cnnf_segment_patch(const cnnf_tensor *norm, const float *zero, cnnf_border border, int ph,
			int pw, int y, int x, float *dst, size_t stride);

/*
 * Bytes of activations a dense tile may hold at its peak: 48 MiB. A tile
 * recomputes the patch's rows and columns beyond it (17 for an 18 x 18
 * patch), but more than this touched afresh costs more in page faults than
 * that, and the activations were most of a large image's memory.
 */
#define CNNF_SEGMENT_DENSE_BUDGET ((uint64_t)48 << 20)

/*
 * Image columns of a dense tile at most: wide images run in strips, so
 * that a tile's rows are short enough for the convolution's bands to hold
 * several of them in the cache, and a tile holds more rows.
 */
#define CNNF_SEGMENT_DENSE_COLS 512

/*
 * Takes the scores of image rows y0..y0+rows-1, columns x0..x0+cols-1 (see
 * cnnf_segment_dense): element (k, y, x) of scores, at data[k * h * w + y *
 * w + x], is that of pixel (y0 + y, x0 + x).
 */
typedef void (*cnnf_segment_scores_fn)(void *ctx, const cnnf_tensor *scores, int y0, int rows,
				       int x0, int cols);

/*
 * A patch classifier's dense form (nn/pass.h: cnnf_pass_dense, finished,
 * not yet prepared for this image) on every pixel of a normalised image, in
 * tiles: fn(ctx, scores, y0, rows, x0, cols) gets the scores of each pixel
 * once, rows of tiles in order, left to right, from the calling thread. The
 * patch of pixel (y, x) is
 * ph x pw with its top-left corner at (y - ph/2, x - pw/2), samples outside
 * the image from border (zero: zero[c]). A tile holds about
 * CNNF_SEGMENT_DENSE_BUDGET bytes of activations at its peak (less when the
 * graph's limits say so; at most o->tile_rows rows when set) and at most
 * CNNF_SEGMENT_DENSE_COLS columns (o->tile_cols when set). Every tile has
 * the same shape (the last row and column of tiles overlap the ones before
 * them, whose pixels they do not hand to fn again), so that the graph is
 * prepared once. o->threads and o->progress are used. 0, or -1 with a
 * message.
 */
int cnnf_segment_dense(cnnf_graph *dense, const cnnf_tensor *norm, const float *zero,
		       cnnf_border border, int ph, int pw, const cnnf_segment_opts *o,
		       cnnf_segment_scores_fn fn, void *ctx);

/* Fill rgb[3*k] with k distinct colours, class 0 first. k <= CNNF_SEGMENT_MAX_CLASSES. */
void cnnf_segment_palette(int k, unsigned char *rgb);

/*
 * The image blended with the label colours (opacity 0..1), as 8-bit RGB:
 * for a person to look at. Gray images are shown as RGB. Returns NULL on failure.
 */
cnnf_image *cnnf_segment_overlay(const cnnf_image *img, const cnnf_image *labels, int k,
				 double opacity);

#endif
