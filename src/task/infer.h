/* infer.h: graph models (ONNX) on images: segmentation (fully convolutional or per-pixel patch classifiers) and image-to-image. */
#ifndef CNNF_INFER_H
#define CNNF_INFER_H

#include "engine/conv.h"
#include "image/image.h"
#include "nn/graph.h"

/*
 * The contract. A model has one input, 1 x C x H x W (N and H, W may be
 * free); an image of C channels feeds it (gray C = 1, RGB C = 3; a .npy
 * image any C), each sample divided by the top of its scale (maxval; float
 * samples without one as they are), then (v - mean[c]) / std[c].
 *
 * Tiles. When the whole image would take more activation memory (or a
 * larger value) than the graph's limits allow, a fully convolutional
 * model (segment) or an image-to-image one (apply) runs on tiles instead:
 * their origins multiples of the total stride, their margins covering
 * the receptive field (nn/geometry.h), each as large as the limits let it
 * be; the result is the whole image's, bit for bit. A graph that cannot
 * be tiled is refused, naming the node that prevents it.
 */

/* Channels an image fed to a model may have, and so mean and std values. */
#define CNNF_INFER_MAX_CHANNELS 64

typedef struct cnnf_infer_opts {
	int nmean, nstd; /* values given: 0 (defaults 0 and 1), 1 (every channel) or C */
	float mean[CNNF_INFER_MAX_CHANNELS], std[CNNF_INFER_MAX_CHANNELS];
	cnnf_border border; /* patch classifiers: the samples outside the image (default reflect) */
	int dense;          /* patch classifiers: run the dense form where there is one (nn/pass.h) */
	int threads;        /* 0: all cores */
	double max_work;    /* refuse a run of more multiply-adds (0: no limit) */
	/* Patch classifiers: called from the calling thread with rows done so far; may be NULL. */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
	/*
	 * Called once, from the calling thread, with a message ("IMAGE: image
	 * too large for --max-activations N: running in T tiles of HxW") when
	 * the image runs in tiles; may be NULL.
	 */
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
} cnnf_infer_opts;

void cnnf_infer_opts_init(cnnf_infer_opts *o);

/*
 * Prepare g for these input shapes as cnnf_graph_prepare does. When only
 * the activation limits (elements of one value, bytes alive at once)
 * refuse them, g is prepared again without those and *over is set: it
 * must then not be run as it is (segment and apply run it in tiles), only
 * looked at. 0 or -1 (with the message of what else refused it).
 */
int cnnf_infer_prepare_over(cnnf_graph *g, const int *ndim,
			    const int64_t (*shape)[CNNF_GRAPH_MAX_DIMS], int *over);

/*
 * Label every pixel of img. A fully convolutional model (output 1 x K x H x W
 * for the image's H x W) gives label argmax over K (the lowest index on a
 * tie); for K = 1, label 1 where p > 0.5, p the output if the graph ends in
 * Sigmoid, else sigmoid(output). A patch classifier (fixed h x w input,
 * output K, 1 x K or 1 x K x 1 x 1) runs on the patch around every pixel,
 * top-left corner (y - h/2, x - w/2), the samples outside the image made by
 * o->border from the normalised image, as cnnf-model patch classifiers do.
 * *labels receives a 1-channel CNNF_U8 image of class ids, *classes K (2
 * for K = 1). When probs is not NULL, *probs receives float (H, W, K): the
 * softmax of the output (the output itself if the graph ends in a softmax
 * over classes; for K = 1, p). name is the image's for messages. 0 or -1.
 */
int cnnf_infer_segment(cnnf_graph *g, const cnnf_image *img, const char *name,
		       const cnnf_infer_opts *o, cnnf_image **labels, cnnf_image **probs,
		       int *classes);

/*
 * Image-to-image: the model's output 1 x C x H' x W' as a float image
 * (H', W', C) on the scale 0..1 (maxval 1; alpha when C = 4), for writers
 * to scale to their format's maximum. 0 with *out, or -1.
 */
int cnnf_infer_apply(cnnf_graph *g, const cnnf_image *img, const char *name,
		     const cnnf_infer_opts *o, cnnf_image **out);

#endif
