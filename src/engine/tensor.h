/* tensor.h: planar float activations (C x H x W), the engine's data type. */
#ifndef CNNF_TENSOR_H
#define CNNF_TENSOR_H

#include "image/image.h"

/*
 * Channel planes one after another, rows top to bottom: element (c, y, x)
 * is data[((size_t)c * h + y) * w + x]. A tensor owns its data.
 */
typedef struct cnnf_tensor {
	int c, h, w; /* channels, rows, columns; all >= 1 */
	float *data; /* c*h*w floats */
} cnnf_tensor;

/* A zero-filled tensor; NULL (with a message) on a bad size or no memory. */
cnnf_tensor *cnnf_tensor_new(int c, int h, int w);
/* The same with undefined contents, for results that write every element. */
cnnf_tensor *cnnf_tensor_new_uninit(int c, int h, int w);

void cnnf_tensor_free(cnnf_tensor *t);

/* Number of elements, c*h*w (sizes were checked when it was made). */
size_t cnnf_tensor_size(const cnnf_tensor *t);

/* The raw sample values of img as a C x H x W tensor. */
cnnf_tensor *cnnf_tensor_from_image(const cnnf_image *img);

/*
 * An image of the given type from a tensor: CNNF_F32 keeps the values, the
 * integer types round half up and clamp to 0..maxval. The image's maxval is
 * maxval (for CNNF_F32 too: the scale the values are on, 0 for none); alpha
 * is set when the tensor has 2 or 4 channels and alpha is nonzero.
 */
cnnf_image *cnnf_tensor_to_image(const cnnf_tensor *t, cnnf_type type, unsigned maxval,
				 int alpha);

#endif
