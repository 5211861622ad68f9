/* train_set.h: what cnnf train learns from: the list, images, label maps, pixels, patches. */
#ifndef CNNF_TRAIN_SET_H
#define CNNF_TRAIN_SET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conv.h"
#include "nn/model.h"
#include "engine/tensor.h"

/* A labelled pixel: where it is and its class. */
typedef struct cnnf_train_pixel {
	uint32_t image; /* index into the set's images */
	uint32_t label; /* class id, < classes */
	uint32_t y, x;
} cnnf_train_pixel;

/* One image as the network sees it. */
typedef struct cnnf_train_image {
	char *path;        /* as resolved against the list file's directory */
	cnnf_tensor *norm; /* (v / maxval - mean) / std, C x H x W */
	float *zero;       /* [C]: what a raw 0 becomes, for the zero border */
} cnnf_train_image;

/*
 * Held-back pixels evaluated after each epoch: all of them up to this many;
 * beyond, this many spread evenly over them (pixel i * V / MAX of the V
 * held-back pixels, in list order, each image row by row).
 */
#define CNNF_TRAIN_MAX_VAL 65536

/* How the validation pixels are chosen. */
typedef enum cnnf_holdout {
	CNNF_HOLDOUT_BLOCKS, /* random square blocks of every image (the default) */
	CNNF_HOLDOUT_COLUMNS /* the right-hand columns of every image */
} cnnf_holdout;

/* The side of a held-back block, in pixels (smaller in small images: cnnf_train_block_side). */
#define CNNF_HOLDOUT_BLOCK 32

/* The block side for a w x h image: floor(sqrt(w * h / 16)) within 1..CNNF_HOLDOUT_BLOCK. */
int cnnf_train_block_side(int w, int h);

/* How the list's images are held back and read. */
typedef struct cnnf_train_split {
	double fraction;     /* of every image held back, 0 <= F < 1 */
	cnnf_holdout mode;
	uint64_t seed;       /* draws the blocks */
	unsigned scale;      /* float images without a scale are divided by it (0: as they are;
	                        task/segment.h: cnnf_segment_float_scale) */
	/* Called with "FILE: warning: ..." for a float image far outside 0..1; may be NULL. */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
} cnnf_train_split;

typedef struct cnnf_train_set {
	int nimages;
	cnnf_train_image *images; /* [nimages] */
	int classes;              /* the model's K */
	/* Training pixels grouped by class, in list order within a class:
	   class k holds train[class_start[k] .. class_start[k+1]-1]. */
	cnnf_train_pixel *train;
	size_t ntrain;
	size_t *class_start;   /* [classes + 1] */
	cnnf_train_pixel *val; /* validation pixels (subsampled as above), list order */
	size_t nval;
	size_t nval_all; /* held-back labelled pixels before subsampling */
	size_t *val_class; /* [classes]: of which each class has */
} cnnf_train_set;

/*
 * Read the list file at list_path: one "IMAGE LABELS" pair per line, paths
 * relative to the list file's directory (absolute paths as they are), no
 * blanks within a path; blank lines and lines starting with '#' are
 * skipped. Each image must have the model's channels and its label map
 * (labels.h) the image's size. Pixels whose label is `ignore` (-1: none) are
 * unlabelled; any other label >= the model's classes is an error naming the
 * pixel. A fraction of every image is held back for validation, the rest
 * is the training part: with CNNF_HOLDOUT_BLOCKS, the image is cut into
 * square blocks of cnnf_train_block_side() in rows (the last ones smaller)
 * and round(F * blocks) of them, drawn from the split's seed and
 * the image's index in the list, are held back; with CNNF_HOLDOUT_COLUMNS,
 * the columns x >= ceil((1 - F) * W). Images are normalised as cnnf segment
 * does. Errors name the list file and line. Images above max_pixels (0: no
 * limit) are refused. Returns an owned set or NULL.
 */
cnnf_train_set *cnnf_train_set_load(const char *list_path, const cnnf_model *m, int ignore,
                                    const cnnf_train_split *split,
                                    unsigned long long max_pixels);

/*
 * The mean and standard deviation per channel of every sample of the
 * list's images, on the scale segment feeds models (v / maxval; split's
 * scale for float images, which may be NULL), all
 * pixels counted (labelled or not), in double: mean[] and std[] have the
 * model's channels. A channel of one value everywhere has std 1. 0, or -1.
 */
int cnnf_train_set_stats(const char *list_path, const cnnf_model *m,
                         const cnnf_train_split *split, unsigned long long max_pixels,
                         double *mean, double *std);

void cnnf_train_set_free(cnnf_train_set *s);

/*
 * The model's C x H x W input for pixel px into dst, exactly as cnnf
 * segment makes it: top-left corner at (y - H/2, x - W/2), samples outside
 * the image from the border mode applied to the raw image.
 */
void cnnf_train_set_patch(const cnnf_train_set *s, const cnnf_model *m, cnnf_border border,
                          const cnnf_train_pixel *px, float *dst);

/*
 * What a model for the list needs: the channels of its first image (every
 * image must have them) and the classes, one more than the largest label
 * (ignore apart), at least 2. 0, or -1 with a message.
 */
int cnnf_train_set_scan(const char *list_path, int ignore, unsigned long long max_pixels,
                        int *channels, int *classes);

#endif
