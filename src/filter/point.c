/* point.c: point operations on every sample of an image. */
#include "filter/point.h"

#include <math.h>
#include <stdint.h>

#include "base/error.h"

static double apply(cnnf_point_op op, double x, double param, double max)
{
	switch (op) {
	case CNNF_POINT_INVERT:
		return max - x;
	case CNNF_POINT_DARKEN:
		return x - param;
	case CNNF_POINT_LIGHTEN:
		return x + param;
	case CNNF_POINT_CONTRAST:
		return x * param;
	case CNNF_POINT_GAMMA:
		/* pow of a negative base is NaN; a negative sample has no gamma. */
		return x > 0 ? max * pow(x / max, param) : 0.0;
	case CNNF_POINT_RELU:
		return x > 0 ? x : 0.0;
	}
	return x;
}

int cnnf_point_apply(const cnnf_image *img, cnnf_point_op op, double param, int float_out,
		     cnnf_image **out)
{
	int integer = img->type != CNNF_F32 && !float_out;
	cnnf_image *res =
		cnnf_image_new(img->width, img->height, img->channels, integer ? img->type : CNNF_F32);
	if (!res)
		return -1;
	res->maxval = img->maxval;
	res->alpha = img->alpha;
	double max = img->maxval ? img->maxval : 1.0;
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++) {
		double x = cnnf_image_getf(img, i);
		int is_alpha = img->alpha && (int)(i % (size_t)img->channels) == img->channels - 1;
		double v = is_alpha ? x : apply(op, x, param, max);
		if (res->type == CNNF_U8)
			((uint8_t *)res->data)[i] = (uint8_t)cnnf_image_round(v, img->maxval);
		else if (res->type == CNNF_U16)
			((uint16_t *)res->data)[i] = (uint16_t)cnnf_image_round(v, img->maxval);
		else
			((float *)res->data)[i] = (float)v;
	}
	*out = res;
	return 0;
}

/* Store v as sample i of res, rounded for integer types. */
static void put(cnnf_image *res, size_t i, double v)
{
	if (res->type == CNNF_U8)
		((uint8_t *)res->data)[i] = (uint8_t)cnnf_image_round(v, res->maxval);
	else if (res->type == CNNF_U16)
		((uint16_t *)res->data)[i] = (uint16_t)cnnf_image_round(v, res->maxval);
	else
		((float *)res->data)[i] = (float)v;
}

/* Rec. 601 luma of the RGB samples at i, i+1, i+2, in double (exact for integer samples). */
static double luma(const cnnf_image *img, size_t i)
{
	return (299.0 * cnnf_image_getf(img, i) + 587.0 * cnnf_image_getf(img, i + 1) +
		114.0 * cnnf_image_getf(img, i + 2)) /
	       1000.0;
}

int cnnf_point_gray(const cnnf_image *img, int float_out, const char *name, cnnf_image **out)
{
	int c = img->channels, alpha = img->alpha;
	int colour = c == 3 + alpha, gray = c == 1 + alpha;
	if (!colour && !gray) {
		cnnf_error("%s: gray takes gray, gray with alpha, RGB or RGBA, not %d channels%s",
		           name, c, alpha ? " with alpha" : "");
		return -1;
	}
	int oc = colour ? 1 + alpha : c;
	cnnf_type type = img->type != CNNF_F32 && !float_out ? img->type : CNNF_F32;
	cnnf_image *res = cnnf_image_new(img->width, img->height, oc, type);
	if (!res)
		return -1;
	res->maxval = img->maxval;
	res->alpha = alpha;
	size_t n = (size_t)img->width * img->height;
	for (size_t p = 0; p < n; p++) {
		const size_t i = p * (size_t)c, o = p * (size_t)oc;
		if (colour)
			put(res, o, luma(img, i));
		else
			put(res, o, cnnf_image_getf(img, i));
		if (alpha)
			put(res, o + (size_t)oc - 1, cnnf_image_getf(img, i + (size_t)c - 1));
	}
	*out = res;
	return 0;
}

int cnnf_point_channels(const cnnf_image *img, int want, const char *name, cnnf_image **out)
{
	int c = img->channels, alpha = img->alpha, colour = c == 3 + alpha, gray = c == 1 + alpha;
	if ((want != 1 && want != 3) || (!colour && !gray)) {
		cnnf_error("%s: --channels converts gray, RGB and their alpha forms, not %d channels",
		           name, c);
		return -1;
	}
	/* Gray from colour is the luma of `gray`; the other way, gray repeated. Alpha goes. */
	cnnf_image *res = cnnf_image_new(img->width, img->height, want, img->type);
	if (!res)
		return -1;
	res->maxval = img->maxval;
	size_t n = (size_t)img->width * img->height;
	for (size_t p = 0; p < n; p++) {
		const size_t i = p * (size_t)c, o = p * (size_t)want;
		if (want == 1)
			put(res, o, colour ? luma(img, i) : cnnf_image_getf(img, i));
		else
			for (int k = 0; k < 3; k++)
				put(res, o + (size_t)k, cnnf_image_getf(img, i + (size_t)(colour ? k : 0)));
	}
	*out = res;
	return 0;
}
