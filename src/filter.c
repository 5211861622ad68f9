/* filter.c: runs a kernel over an image through the engine, handling alpha and output scale. */
#include "filter.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "simd.h"
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

/* Whether every alpha sample of img is at the top of its scale. */
static int opaque(const cnnf_image *img)
{
	size_t n = (size_t)img->width * img->height, c = (size_t)img->channels;
	float top = img->maxval ? (float)img->maxval : 1.0f;
	for (size_t i = 0; i < n; i++)
		if (cnnf_image_getf(img, i * c + c - 1) != top)
			return 0;
	return 1;
}

/*
 * The streaming path: the engine reads rows of one channel straight from
 * the interleaved image and writes finished rows into the result, so no float
 * copy of the whole image is made.
 */
typedef struct stream {
	const cnnf_image *in;
	cnnf_image *out;
} stream;

CNNF_CLONES static void stream_read(void *ctx, int c, int r, float *dst)
{
	const cnnf_image *img = ((const stream *)ctx)->in;
	size_t nc = (size_t)img->channels, w = (size_t)img->width;
	size_t base = (size_t)r * w * nc + (size_t)c;
	switch (img->type) {
	case CNNF_U8: {
		/* Gray and RGB with a constant stride, so that the loops vectorise. */
		const uint8_t *src = (const uint8_t *)img->data + base;
		if (nc == 1)
			for (size_t x = 0; x < w; x++)
				dst[x] = src[x];
		else if (nc == 3)
			for (size_t x = 0; x < w; x++)
				dst[x] = src[3 * x];
		else
			for (size_t x = 0; x < w; x++)
				dst[x] = src[x * nc];
		break;
	}
	case CNNF_U16: {
		const uint16_t *src = (const uint16_t *)img->data + base;
		for (size_t x = 0; x < w; x++)
			dst[x] = src[x * nc];
		break;
	}
	default: {
		const float *src = (const float *)img->data + base;
		for (size_t x = 0; x < w; x++)
			dst[x] = src[x * nc];
		break;
	}
	}
}

/* Rows arrive rounded and clamped for integer results: the casts are exact. */
CNNF_CLONES static void stream_write(void *ctx, int f, int y, const float *row, int ow)
{
	cnnf_image *img = ((stream *)ctx)->out;
	size_t nc = (size_t)img->channels;
	size_t base = (size_t)y * (size_t)ow * nc + (size_t)f;
	switch (img->type) {
	case CNNF_U8: {
		uint8_t *dst = (uint8_t *)img->data + base;
		if (nc == 1)
			for (int x = 0; x < ow; x++)
				dst[x] = (uint8_t)row[x];
		else if (nc == 3)
			for (int x = 0; x < ow; x++)
				dst[3 * x] = (uint8_t)row[x];
		else
			for (int x = 0; x < ow; x++)
				dst[x * nc] = (uint8_t)row[x];
		break;
	}
	case CNNF_U16: {
		uint16_t *dst = (uint16_t *)img->data + base;
		for (int x = 0; x < ow; x++)
			dst[x * nc] = (uint16_t)row[x];
		break;
	}
	default: {
		float *dst = (float *)img->data + base;
		if (nc == 1)
			memcpy(dst, row, sizeof(float) * (size_t)ow);
		else if (nc == 3)
			for (int x = 0; x < ow; x++)
				dst[3 * x] = row[x];
		else
			for (int x = 0; x < ow; x++)
				dst[x * nc] = row[x];
		break;
	}
	}
}

/*
 * Multiply (dir > 0) or divide (dir < 0) the colour planes by alpha / maxval
 * (alpha on 0..1 for float images without a scale).
 */
static void premultiply(cnnf_tensor *t, unsigned maxval_in, int dir)
{
	double maxval = maxval_in ? maxval_in : 1.0;
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
	int has_alpha = img->alpha && depthwise; /* the output keeps the alpha channel */
	int alpha = has_alpha && mixes_pixels(k);  /* premultiply */

	cnnf_conv_geom g = {.stride_y = o->stride,
			    .stride_x = o->stride,
			    .dil_y = o->dilation,
			    .dil_x = o->dilation,
			    .border = o->border};
	cnnf_conv_pad(o->pad_mode, o->pad, img->height, k->height, o->stride, o->dilation,
		      &g.pad_top, &g.pad_bottom);
	cnnf_conv_pad(o->pad_mode, o->pad, img->width, k->width, o->stride, o->dilation,
		      &g.pad_left, &g.pad_right);
	/* Integer samples let integer kernels run exactly in float. */
	cnnf_conv_out post = {.abs = o->abs,
			      .offset = o->offset,
			      .int_max = img->type != CNNF_F32 ? img->maxval : 0};

	if (alpha && opaque(img))
		alpha = 0;
	/*
	 * --abs and --offset are for colour: with alpha they are applied here,
	 * after the division by alpha, and not to alpha itself. Otherwise the
	 * engine applies them and rounds straight from its double accumulator.
	 */
	int colour_post = has_alpha && (o->abs || o->offset != 0);
	if (!alpha && !colour_post) {
		int oc, oh, ow;
		if (cnnf_conv_shape(img->channels, img->height, img->width, k, &g, kname, &oc, &oh,
				    &ow) < 0 ||
		    !(result = cnnf_image_new(ow, oh, oc, integer ? img->type : CNNF_F32)))
			goto out;
		result->maxval = img->maxval;
		result->alpha = has_alpha;
		if (integer)
			post.round = img->maxval;
		stream st = {img, result};
		cnnf_conv_rows io = {img->channels, img->height, img->width, stream_read,
				     stream_write, NULL, &st};
		if (cnnf_conv_run(&io, k, &g, &post, o->threads, kname) < 0) {
			cnnf_image_free(result);
			goto out;
		}
		*out = result;
		status = 0;
		goto out;
	}
	if (!(in = cnnf_tensor_from_image(img)))
		goto out;
	if (alpha)
		premultiply(in, img->maxval, 1);
	cnnf_conv_out engine_post = post;
	if (colour_post)
		engine_post.abs = 0, engine_post.offset = 0;
	if (alpha)
		engine_post.int_max = 0; /* premultiplied colour is no longer integer */
	if (cnnf_conv_apply(in, k, &g, &engine_post, o->threads, kname, &res) < 0)
		goto out;
	if (alpha)
		premultiply(res, img->maxval, -1);
	if (colour_post) {
		size_t n = (size_t)(res->c - 1) * res->h * res->w;
		for (size_t i = 0; i < n; i++)
			res->data[i] = (float)((o->abs ? fabs(res->data[i]) : res->data[i]) + o->offset);
	}
	result = cnnf_tensor_to_image(res, integer ? img->type : CNNF_F32, img->maxval,
				      has_alpha);
	if (!result)
		goto out;
	*out = result;
	status = 0;
out:
	cnnf_tensor_free(in);
	cnnf_tensor_free(res);
	return status;
}
