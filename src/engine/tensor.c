/* tensor.c: planar float tensors and their conversion from and to images. */
#include "engine/tensor.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/error.h"

static cnnf_tensor *alloc(int c, int h, int w, int zero)
{
	size_t bytes;
	if (cnnf_image_bytes("tensor", w, h, c, sizeof(float), &bytes) < 0)
		return NULL;
	cnnf_tensor *t = malloc(sizeof *t);
	float *data = zero ? calloc(1, bytes) : malloc(bytes);
	if (!t || !data) {
		free(t);
		free(data);
		cnnf_error("out of memory for a %dx%dx%d tensor", c, h, w);
		return NULL;
	}
	t->c = c;
	t->h = h;
	t->w = w;
	t->data = data;
	return t;
}

void cnnf_tensor_free(cnnf_tensor *t)
{
	if (!t)
		return;
	free(t->data);
	free(t);
}

cnnf_tensor *cnnf_tensor_new(int c, int h, int w)
{
	return alloc(c, h, w, 1);
}

cnnf_tensor *cnnf_tensor_new_uninit(int c, int h, int w)
{
	return alloc(c, h, w, 0);
}

size_t cnnf_tensor_size(const cnnf_tensor *t)
{
	return (size_t)t->c * t->h * t->w;
}

cnnf_tensor *cnnf_tensor_from_image(const cnnf_image *img)
{
	cnnf_tensor *t = cnnf_tensor_new(img->channels, img->height, img->width);
	if (!t)
		return NULL;
	size_t plane = (size_t)img->width * img->height;
	int nc = img->channels;
	for (int c = 0; c < nc; c++) {
		float *dst = t->data + c * plane;
		for (size_t p = 0; p < plane; p++)
			dst[p] = cnnf_image_getf(img, p * nc + c);
	}
	return t;
}

cnnf_image *cnnf_tensor_to_image(const cnnf_tensor *t, cnnf_type type, unsigned maxval,
				 int alpha)
{
	cnnf_image *img = cnnf_image_new(t->w, t->h, t->c, type);
	if (!img)
		return NULL;
	img->maxval = maxval;
	img->alpha = alpha && (t->c == 2 || t->c == 4);
	size_t plane = (size_t)t->w * t->h;
	int nc = t->c;
	for (int c = 0; c < nc; c++) {
		const float *src = t->data + c * plane;
		switch (type) {
		case CNNF_U8: {
			uint8_t *d = (uint8_t *)img->data + c;
			for (size_t p = 0; p < plane; p++)
				d[p * nc] = (uint8_t)cnnf_image_round(src[p], maxval);
			break;
		}
		case CNNF_U16: {
			uint16_t *d = (uint16_t *)img->data + c;
			for (size_t p = 0; p < plane; p++)
				d[p * nc] = (uint16_t)cnnf_image_round(src[p], maxval);
			break;
		}
		default: {
			float *d = (float *)img->data + c;
			for (size_t p = 0; p < plane; p++)
				d[p * nc] = src[p];
			break;
		}
		}
	}
	return img;
}
