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
