/* point.h: the lecture's point operations (one sample in, one sample out) and ReLU. */
#ifndef CNNF_POINT_H
#define CNNF_POINT_H

#include "image/image.h"

typedef enum cnnf_point_op {
	CNNF_POINT_INVERT,   /* max - x */
	CNNF_POINT_DARKEN,   /* x - amount */
	CNNF_POINT_LIGHTEN,  /* x + amount */
	CNNF_POINT_CONTRAST, /* x * factor */
	CNNF_POINT_GAMMA,    /* max * (x / max) ^ gamma */
	CNNF_POINT_RELU      /* max(x, 0) */
} cnnf_point_op;

/*
 * Apply op with parameter `param` to every colour sample of img (alpha is
 * left alone). max is img->maxval, or 1 for float images without a scale.
 * Integer images give the same type, rounded half up and clamped, unless
 * float_out is set; float images stay float. Returns 0 and *out, or -1.
 */
int cnnf_point_apply(const cnnf_image *img, cnnf_point_op op, double param, int float_out,
		     cnnf_image **out);

/*
 * Gray from colour: the Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B of the
 * samples as they are (gamma-encoded, not linearised), worked out as
 * (299 R + 587 G + 114 B) / 1000 in double, so that it is exact for integer
 * samples before the one rounding (half up, clamped). RGB gives 1 channel,
 * RGBA gray with the alpha as it was; gray and gray with alpha are kept as
 * they are. The type (8-bit, 16-bit, float) and maxval are kept unless
 * float_out is set. Any other channel count is an error naming `name`.
 * Returns 0 and *out, or -1.
 */
int cnnf_point_gray(const cnnf_image *img, int float_out, const char *name, cnnf_image **out);

/*
 * The image with `want` channels for a model's input: 1 (gray: the luma of
 * cnnf_point_gray from colour) or 3 (RGB: gray repeated), alpha dropped;
 * samples keep their type and scale. Gray, RGB and their alpha forms only.
 * Returns 0 and *out, or -1.
 */
int cnnf_point_channels(const cnnf_image *img, int want, const char *name, cnnf_image **out);

#endif
