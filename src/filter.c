/* filter.c: runs a kernel over an image through the engine, handling alpha and output scale. */
#include "filter.h"

#include <math.h>

#include "error.h"
#include "tensor.h"

void cnnf_filter_opts_init(cnnf_filter_opts *o)
{
	*o = (cnnf_filter_opts){.pad_mode = CNNF_PAD_SAME,
				.stride = 1,
				.dilation = 1,
				.border = CNNF_BORDER_REFLECT};
}

/* Whether some slice of k has more than one nonzero weight, i.e. mixes pixels. */
static int mixes_pixels(const cnnf_kernel *k)
{
	size_t slice = (size_t)k->height * k->width;
	for (size_t s = 0; s < (size_t)k->count * k->depth; s++) {
		int nonzero = 0;
		for (size_t i = 0; i < slice; i++)
			nonzero += k->weights[s * slice + i] != 0;
		if (nonzero > 1)
			return 1;
	}
	return 0;
}

/* Whether every alpha sample is at the top of the scale. */
static int opaque(const cnnf_tensor *t, unsigned maxval)
{
	size_t plane = (size_t)t->h * t->w;
	const float *a = t->data + (size_t)(t->c - 1) * plane;
	for (size_t i = 0; i < plane; i++)
		if (a[i] != (float)maxval)
			return 0;
	return 1;
}

/* Multiply (dir > 0) or divide (dir < 0) the colour planes by alpha / maxval. */
static void premultiply(cnnf_tensor *t, unsigned maxval, int dir)
{
	size_t plane = (size_t)t->h * t->w;
	const float *a = t->data + (size_t)(t->c - 1) * plane;
	for (int c = 0; c < t->c - 1; c++) {
		float *v = t->data + (size_t)c * plane;
		for (size_t i = 0; i < plane; i++) {
			double alpha = a[i];
			if (dir > 0)
				v[i] = (float)((double)v[i] * alpha / maxval);
			else
				v[i] = alpha > 0 ? (float)((double)v[i] * maxval / alpha) : 0.0f;
		}
	}
}

int cnnf_filter_apply(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
		      const char *kname, cnnf_image **out)
{
	int status = -1;
	cnnf_tensor *in = NULL, *res = NULL;
	cnnf_image *result = NULL;
	int depthwise = !(k->depth == img->channels) && k->count == 1 && k->depth == 1;
	int integer = img->type != CNNF_F32 && !o->float_out;
	int alpha = img->alpha && depthwise && mixes_pixels(k);

	cnnf_conv_geom g = {.stride_y = o->stride,
			    .stride_x = o->stride,
			    .dil_y = o->dilation,
			    .dil_x = o->dilation,
			    .border = o->border};
	cnnf_conv_pad(o->pad_mode, o->pad, img->height, k->height, o->stride, o->dilation,
		      &g.pad_top, &g.pad_bottom);
	cnnf_conv_pad(o->pad_mode, o->pad, img->width, k->width, o->stride, o->dilation,
		      &g.pad_left, &g.pad_right);
	cnnf_conv_out post = {.abs = o->abs, .offset = o->offset};

	if (!(in = cnnf_tensor_from_image(img)))
		goto out;
	if (alpha && opaque(in, img->maxval))
		alpha = 0;
	if (alpha)
		premultiply(in, img->maxval, 1);
	else if (integer)
		post.round = img->maxval; /* rounding straight from the double accumulator */
	if (cnnf_conv_apply(in, k, &g, &post, o->threads, kname, &res) < 0)
		goto out;
	if (alpha)
		premultiply(res, img->maxval, -1);
	result = cnnf_tensor_to_image(res, integer ? img->type : CNNF_F32, img->maxval,
				      depthwise && img->alpha);
	if (!result)
		goto out;
	*out = result;
	status = 0;
out:
	cnnf_tensor_free(in);
	cnnf_tensor_free(res);
	return status;
}
