/* image.c: allocation, size checks and sample conversion of cnnf_image. */
#include "image/image.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "base/error.h"

static const char *prefix(const char *name)
{
	return name ? name : "image";
}

int cnnf_image_bytes(const char *name, long long w, long long h, long long c, size_t elem,
		     size_t *out)
{
	if (w <= 0 || h <= 0 || c <= 0) {
		cnnf_error("%s: image size %lldx%lld with %lld channels is not positive", prefix(name),
			   w, h, c);
		return -1;
	}
	size_t n = (size_t)w;
	if ((unsigned long long)w > SIZE_MAX || (unsigned long long)h > SIZE_MAX / n)
		goto overflow;
	n *= (size_t)h;
	if ((unsigned long long)c > SIZE_MAX / n)
		goto overflow;
	n *= (size_t)c;
	if (elem && n > SIZE_MAX / elem)
		goto overflow;
	*out = n * elem;
	return 0;
overflow:
	cnnf_error("%s: image size %lldx%lldx%lld is too large", prefix(name), w, h, c);
	return -1;
}

int cnnf_image_check(const char *name, long long w, long long h, long long c, cnnf_type type,
		     unsigned long long max_pixels)
{
	size_t bytes;
	if (cnnf_image_bytes(name, w, h, c, (size_t)type, &bytes) < 0)
		return -1;
	if (w > INT32_MAX || h > INT32_MAX) {
		cnnf_error("%s: image size %lldx%lld is too large", prefix(name), w, h);
		return -1;
	}
	if (c > CNNF_MAX_CHANNELS) {
		cnnf_error("%s: %lld channels is more than the %d cnnf supports", prefix(name), c,
			   CNNF_MAX_CHANNELS);
		return -1;
	}
	/* w * h cannot overflow here: both fit in 31 bits. */
	if (max_pixels && (unsigned long long)w * (unsigned long long)h > max_pixels) {
		cnnf_error("%s: image of %lldx%lld pixels is over the pixel limit of %llu "
			   "(see --max-pixels)",
			   prefix(name), w, h, max_pixels);
		return -1;
	}
	return 0;
}

cnnf_image *cnnf_image_new(int width, int height, int channels, cnnf_type type)
{
	size_t bytes;
	if (cnnf_image_check(NULL, width, height, channels, type, 0) < 0)
		return NULL;
	cnnf_image_bytes(NULL, width, height, channels, (size_t)type, &bytes);
	cnnf_image *img = calloc(1, sizeof *img);
	if (!img) {
		cnnf_error("out of memory");
		return NULL;
	}
	img->data = calloc(1, bytes);
	if (!img->data) {
		free(img);
		cnnf_error("out of memory for a %dx%dx%d image", width, height, channels);
		return NULL;
	}
	img->width = width;
	img->height = height;
	img->channels = channels;
	img->type = type;
	img->maxval = type == CNNF_U8 ? 255 : type == CNNF_U16 ? 65535 : 0;
	return img;
}

void cnnf_image_free(cnnf_image *img)
{
	if (!img)
		return;
	if (img->map)
		munmap(img->map, img->map_len);
	else
		free(img->data);
	free(img);
}

/* Sample i of samples of the given type at p, as a float. */
static float sample(cnnf_type type, const void *p, size_t i)
{
	switch (type) {
	case CNNF_U8:
		return ((const uint8_t *)p)[i];
	case CNNF_U16:
		return ((const uint16_t *)p)[i];
	default:
		return ((const float *)p)[i];
	}
}

float cnnf_image_getf(const cnnf_image *img, size_t i)
{
	return sample(img->type, img->data, i);
}

void *cnnf_image_row(const cnnf_image *img, int y)
{
	return (unsigned char *)img->data + (size_t)y * img->width * img->channels * (size_t)img->type;
}

static const void *image_row(void *ctx, int y)
{
	return cnnf_image_row(ctx, y);
}

void cnnf_image_to_rows(const cnnf_image *img, cnnf_rows *out)
{
	out->info = *img;
	out->info.data = NULL;
	out->row = image_row;
	out->ctx = (void *)img;
}

unsigned cnnf_image_round(double v, unsigned maxval)
{
	if (!(v > 0)) /* also catches NaN */
		return 0;
	if (v >= maxval)
		return maxval;
	return (unsigned)floor(v + 0.5);
}

void cnnf_image_convert_samples(const cnnf_image *from, const void *src, cnnf_type type,
                                unsigned maxval, void *dst, size_t n)
{
	if (type == CNNF_F32) {
		float *d = dst;
		for (size_t i = 0; i < n; i++)
			d[i] = sample(from->type, src, i);
		return;
	}
	/* A float image that remembers its scale is rescaled like an integer one. */
	int rescale = from->maxval != maxval && from->maxval != 0;
	for (size_t i = 0; i < n; i++) {
		double v = sample(from->type, src, i);
		if (rescale)
			v = v * maxval / from->maxval;
		unsigned s = cnnf_image_round(v, maxval);
		if (type == CNNF_U8)
			((uint8_t *)dst)[i] = (uint8_t)s;
		else
			((uint16_t *)dst)[i] = (uint16_t)s;
	}
}

cnnf_image *cnnf_image_convert(const cnnf_image *src, cnnf_type type, unsigned maxval)
{
	cnnf_image *dst = cnnf_image_new(src->width, src->height, src->channels, type);
	if (!dst)
		return NULL;
	dst->alpha = src->alpha;
	dst->maxval = type == CNNF_F32 ? src->maxval : maxval;
	cnnf_image_convert_samples(src, src->data, type, maxval, dst->data,
	                           (size_t)src->width * src->height * src->channels);
	return dst;
}

void cnnf_image_flatten_samples(const cnnf_image *from, const void *src, const unsigned char bg[3],
                                void *dst, size_t pixels)
{
	size_t c = (size_t)from->channels, colours = c - 1;
	double max = from->maxval ? from->maxval : 1.0;
	/*
	 * The background on the image's scale, times 1000 * 255 so that it is a
	 * whole number for 8- and 16-bit images: 255 * max / 255 * k is k * max,
	 * and the luma 299 R + 587 G + 114 B is exact before its one division.
	 */
	double b[3];
	if (colours == 1)
		b[0] = (299.0 * bg[0] + 587.0 * bg[1] + 114.0 * bg[2]) * max;
	else
		for (int i = 0; i < 3; i++)
			b[i] = 1000.0 * bg[i] * max;
	for (size_t p = 0; p < pixels; p++) {
		double a = sample(from->type, src, p * c + colours);
		a = a > 0 ? a : 0;
		a = a < max ? a : max;
		for (size_t k = 0; k < colours; k++) {
			double v = sample(from->type, src, p * c + k);
			/* One division of an exact numerator (integers): rounded once, half up. */
			double q = (255000.0 * v * a + b[k] * (max - a)) / (255000.0 * max);
			size_t i = p * colours + k;
			if (from->type == CNNF_U8)
				((uint8_t *)dst)[i] = (uint8_t)cnnf_image_round(q, from->maxval);
			else if (from->type == CNNF_U16)
				((uint16_t *)dst)[i] = (uint16_t)cnnf_image_round(q, from->maxval);
			else
				((float *)dst)[i] = (float)q;
		}
	}
}
