/* augment.h: cnnf train --augment: flips, 90-degree turns and brightness/contrast jitter of patches. */
#ifndef CNNF_AUGMENT_H
#define CNNF_AUGMENT_H

#include "base/rng.h"
#include "engine/conv.h"
#include "engine/tensor.h"

/* What --augment may do to a training patch: a set of these bits. */
enum {
	CNNF_AUG_FLIP = 1,  /* mirror left-right and/or top-bottom, each with probability 1/2 */
	CNNF_AUG_ROT90 = 2, /* turn by 0, 90, 180 or 270 degrees, each with probability 1/4 */
	CNNF_AUG_JITTER = 4 /* brightness and contrast of the image (never the label) */
};

/* The jitter's ranges, on the 0..1 scale the model's mean and std are on. */
#define CNNF_AUG_CONTRAST 0.2   /* gain uniform in [1 - this, 1 + this) */
#define CNNF_AUG_BRIGHTNESS 0.1 /* shift uniform in [-this, this) */

/*
 * What is done to one patch. The geometry maps the output's offset (dy, dx)
 * from the labelled pixel to the source's: (dx, dy) if transpose, else
 * (dy, dx), then negated in y if flip_y and in x if flip_x. The 8
 * combinations are the symmetries of the square; each keeps the labelled
 * pixel where it was, so the label goes with the patch unchanged. Jitter
 * turns a sample v on the 0..1 scale into 0.5 + gain (v - 0.5) + shift (no
 * clipping), the same for every channel and every sample of the patch.
 */
typedef struct cnnf_augment {
	int transpose, flip_y, flip_x;
	double gain, shift; /* 1 and 0: no jitter */
} cnnf_augment;

/* "flip,rot90,jitter" (any non-empty comma list of them) into bits. 0, or -1 with a message. */
int cnnf_augment_parse(const char *list, unsigned *bits);

/* The bits as the list the parser takes, e.g. "flip,rot90": into buf (cap >= 20). */
void cnnf_augment_name(unsigned bits, char *buf, size_t cap);

/*
 * Draw what to do to one patch from r for the bits: flip and rot90 together
 * draw one of the 8 symmetries uniformly (rng_below(8): its bits transpose,
 * flip_y, flip_x from the top), flip alone one of 4 (rng_below(4): flip_y,
 * flip_x), rot90 alone one of the 4 turns (rng_below(4): that many quarter
 * turns counter-clockwise, as numpy.rot90); then jitter draws the gain and
 * the shift, two uniforms in that order. Without a bit nothing of it is drawn.
 */
void cnnf_augment_draw(unsigned bits, cnnf_rng *r, cnnf_augment *a);

/*
 * The ph x pw patch of pixel (y, x) of a normalised image (as
 * cnnf_segment_patch: element (c, i, k) at dst[(c * ph + i) * pw + k], the
 * labelled pixel at (ph/2, pw/2)) with a applied: element (c, i, k) is the
 * image at (y, x) plus the source offset of (i - ph/2, k - pw/2), samples
 * outside from `border`. For an even side the patch is then not the usual
 * one mirrored but that of the image mirrored about the labelled pixel: it
 * spans one more pixel on the other side, and the labelled pixel stays at
 * the centre. The image was normalised as (v - mean[c]) / std[c]; jitter
 * is applied through them. Identity and no jitter give cnnf_segment_patch's
 * patch exactly.
 */
void cnnf_augment_patch(const cnnf_tensor *norm, const float *zero, cnnf_border border, int ph,
                        int pw, int y, int x, const cnnf_augment *a, const float *mean,
                        const float *std, float *dst);

#endif
