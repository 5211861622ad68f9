/* tensor.c: planar float tensors and their conversion from and to images. */
/* madvise(MADV_HUGEPAGE): not in POSIX. */
#define _DEFAULT_SOURCE
#include "engine/tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"

/* Tensors this large are put on huge pages where the system allows. */
#define HUGE_TENSOR ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

/*
 * The data of a tensor of `bytes`: a large one 2 MiB aligned and advised as
 * huge pages, so that its first touch faults once every 2 MiB rather than
 * every 4 KiB (a 12-megapixel image normalised for segmentation spent more
 * in page faults than in the normalising). Freed with free() either way.
 */
static float *data_alloc(size_t bytes, int zero)
{
	if (bytes < HUGE_TENSOR || bytes > SIZE_MAX - HUGE_ALIGN)
		return zero ? calloc(1, bytes) : malloc(bytes);
	size_t cap = (bytes + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
	void *p = NULL;
	if (posix_memalign(&p, HUGE_ALIGN, cap) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, cap, MADV_HUGEPAGE); /* advice only: it may be refused */
#endif
	if (zero)
		memset(p, 0, bytes);
	return p;
}

static cnnf_tensor *alloc(int c, int h, int w, int zero)
{
	size_t bytes;
	if (cnnf_image_bytes("tensor", w, h, c, sizeof(float), &bytes) < 0)
		return NULL;
	cnnf_tensor *t = malloc(sizeof *t);
	float *data = data_alloc(bytes, zero);
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
