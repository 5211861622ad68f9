/* filter.c: runs a kernel over an image through the engine, handling alpha and output scale. */
#include "filter.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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

/*
 * Samples in a strip of a streamed result: 4 Mi samples (16 MiB of floats)
 * keeps a strip in the cache hierarchy's reach and still gives each thread
 * many engine bands.
 */
#define STRIP_SAMPLES (4LL << 20)

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
 * copy of the whole image is made. The result may be a strip of the output:
 * its row 0 is output row y0.
 */
typedef struct stream {
	const cnnf_image *in;
	cnnf_image *out;
	int y0;
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
	const stream *st = ctx;
	cnnf_image *img = st->out;
	size_t nc = (size_t)img->channels;
	size_t base = (size_t)(y - st->y0) * (size_t)ow * nc + (size_t)f;
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

/* What one filtering does, worked out before any output is made. */
typedef struct job {
	const cnnf_image *img;
	const cnnf_kernel *k;
	const char *kname;
	int threads;
	cnnf_conv_geom g;
	cnnf_conv_out post;
	int oc, oh, ow;  /* the output's shape */
	cnnf_type type;  /* the output's samples */
	int has_alpha;   /* the output keeps the alpha channel */
	int alpha;       /* colour is premultiplied by alpha around the engine */
	int colour_post; /* --abs and --offset are applied to colour after the engine */
	double offset;
	int abs;
} job;

static int plan_job(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                    const char *kname, job *j)
{
	*j = (job){.img = img,
	           .k = k,
	           .kname = kname,
	           .threads = o->threads,
	           .offset = o->offset,
	           .abs = o->abs};
	int depthwise = !(k->depth == img->channels) && k->count == 1 && k->depth == 1;
	int integer = img->type != CNNF_F32 && !o->float_out;
	j->type = integer ? img->type : CNNF_F32;
	j->has_alpha = img->alpha && depthwise;
	j->alpha = j->has_alpha && mixes_pixels(k);
	j->g = (cnnf_conv_geom){.stride_y = o->stride,
	                        .stride_x = o->stride,
	                        .dil_y = o->dilation,
	                        .dil_x = o->dilation,
	                        .border = o->border};
	cnnf_conv_pad(o->pad_mode, o->pad, img->height, k->height, o->stride, o->dilation,
	              &j->g.pad_top, &j->g.pad_bottom);
	cnnf_conv_pad(o->pad_mode, o->pad, img->width, k->width, o->stride, o->dilation,
	              &j->g.pad_left, &j->g.pad_right);
	/* Integer samples let integer kernels run exactly in float. */
	j->post = (cnnf_conv_out){
	    .abs = o->abs, .offset = o->offset, .int_max = img->type != CNNF_F32 ? img->maxval : 0};
	if (integer)
		j->post.round = img->maxval;
	if (j->alpha && opaque(img))
		j->alpha = 0;
	/*
	 * --abs and --offset are for colour: with alpha they are applied here,
	 * after the division by alpha, and not to alpha itself. Otherwise the
	 * engine applies them and rounds straight from its double accumulator.
	 */
	j->colour_post = j->has_alpha && (o->abs || o->offset != 0);
	return cnnf_conv_shape(img->channels, img->height, img->width, k, &j->g, kname, &j->oc,
	                       &j->oh, &j->ow);
}

/* Whether the job streams: the engine reads the image and writes the result directly. */
static int streams(const job *j)
{
	return !j->alpha && !j->colour_post;
}

/* A result image of `rows` rows for j's output. */
static cnnf_image *result_new(const job *j, int rows)
{
	cnnf_image *r = cnnf_image_new(j->ow, rows, j->oc, j->type);
	if (r) {
		r->maxval = j->img->maxval;
		r->alpha = j->has_alpha;
	}
	return r;
}

/* Output rows y0..y1-1 of a streaming job into strip (whose row 0 is y0). */
static int run_rows(const job *j, cnnf_image *strip, int y0, int y1)
{
	const cnnf_image *img = j->img;
	stream st = {img, strip, y0};
	cnnf_conv_rows io = {img->channels, img->height, img->width, stream_read, stream_write,
	                     NULL,          &st,         y0,         y1};
	return cnnf_conv_run(&io, j->k, &j->g, &j->post, j->threads, j->kname);
}

/* The whole result of a job that does not stream: through a float tensor, with alpha. */
static cnnf_image *run_tensor(const job *j)
{
	cnnf_tensor *in = NULL, *res = NULL;
	cnnf_image *result = NULL;
	const cnnf_image *img = j->img;
	if (!(in = cnnf_tensor_from_image(img)))
		goto out;
	if (j->alpha)
		premultiply(in, img->maxval, 1);
	/* The engine keeps floats here: rounding comes after alpha is divided out. */
	cnnf_conv_out engine_post = j->post;
	engine_post.round = 0;
	if (j->colour_post)
		engine_post.abs = 0, engine_post.offset = 0;
	if (j->alpha)
		engine_post.int_max = 0; /* premultiplied colour is no longer integer */
	if (cnnf_conv_apply(in, j->k, &j->g, &engine_post, j->threads, j->kname, &res) < 0)
		goto out;
	if (j->alpha)
		premultiply(res, img->maxval, -1);
	if (j->colour_post) {
		size_t n = (size_t)(res->c - 1) * res->h * res->w;
		for (size_t i = 0; i < n; i++)
			res->data[i] =
			    (float)((j->abs ? fabs(res->data[i]) : res->data[i]) + j->offset);
	}
	result = cnnf_tensor_to_image(res, j->type, img->maxval, j->has_alpha);
out:
	cnnf_tensor_free(in);
	cnnf_tensor_free(res);
	return result;
}

int cnnf_filter_apply(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                      const char *kname, cnnf_image **out)
{
	job j;
	if (plan_job(img, k, o, kname, &j) < 0)
		return -1;
	cnnf_image *result;
	if (streams(&j)) {
		if (!(result = result_new(&j, j.oh)))
			return -1;
		if (run_rows(&j, result, 0, j.oh) < 0) {
			cnnf_image_free(result);
			return -1;
		}
	} else if (!(result = run_tensor(&j))) {
		return -1;
	}
	*out = result;
	return 0;
}

struct cnnf_filter_stream {
	cnnf_rows rows; /* what the writer reads */
	job j;
	cnnf_image *strip; /* streaming: rows y0..y1-1 of the output; else the whole output */
	int strip_rows;    /* rows the strip holds */
	int y0, y1;
};

/* rows.row(): output row y, making the next strip when y is past the current one. */
static const void *stream_row(void *ctx, int y)
{
	cnnf_filter_stream *s = ctx;
	/* The strip is allocated here, so a size check after cnnf_filter_open() comes first. */
	if (!s->strip && !(s->strip = result_new(&s->j, s->strip_rows)))
		return NULL;
	if (y < s->y0 || y >= s->y1) {
		int y1 = y + s->strip_rows < s->j.oh ? y + s->strip_rows : s->j.oh;
		if (run_rows(&s->j, s->strip, y, y1) < 0) {
			s->y0 = s->y1 = 0;
			return NULL;
		}
		s->y0 = y, s->y1 = y1;
	}
	return cnnf_image_row(s->strip, y - s->y0);
}

int cnnf_filter_open(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                     const char *kname, int strip_rows, cnnf_filter_stream **out)
{
	cnnf_filter_stream *s = calloc(1, sizeof *s);
	if (!s) {
		cnnf_error("out of memory");
		return -1;
	}
	if (plan_job(img, k, o, kname, &s->j) < 0)
		goto fail;
	if (!streams(&s->j)) {
		/* The whole result at once; the rows are served from it. */
		if (!(s->strip = run_tensor(&s->j)))
			goto fail;
		cnnf_image_to_rows(s->strip, &s->rows);
		*out = s;
		return 0;
	}
	if (strip_rows <= 0) {
		/* About STRIP_SAMPLES samples; at least 64 rows, enough bands for the threads. */
		long long per_row = (long long)s->j.ow * s->j.oc;
		long long r = STRIP_SAMPLES / per_row;
		strip_rows = r < 64 ? 64 : r > s->j.oh ? s->j.oh : (int)r;
	}
	s->strip_rows = strip_rows < s->j.oh ? strip_rows : s->j.oh;
	/* What the engine would refuse is refused here, before anything is written. */
	const cnnf_image *in = s->j.img;
	cnnf_conv_rows io = {in->channels, in->height, in->width, stream_read, stream_write, NULL,
	                     NULL,         0,          0};
	if (cnnf_conv_check(&io, k, &s->j.g, o->threads, kname) < 0)
		goto fail;
	s->rows.info = (cnnf_image){.width = s->j.ow,
	                            .height = s->j.oh,
	                            .channels = s->j.oc,
	                            .type = s->j.type,
	                            .maxval = img->maxval,
	                            .alpha = s->j.has_alpha};
	s->rows.row = stream_row;
	s->rows.ctx = s;
	*out = s;
	return 0;
fail:
	cnnf_filter_close(s);
	return -1;
}

const cnnf_rows *cnnf_filter_get_rows(const cnnf_filter_stream *s)
{
	return &s->rows;
}

void cnnf_filter_close(cnnf_filter_stream *s)
{
	if (!s)
		return;
	cnnf_image_free(s->strip);
	free(s);
}
