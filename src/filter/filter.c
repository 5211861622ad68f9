/* filter.c: runs a kernel over an image through the engine, handling alpha and output scale. */
#include "filter/filter.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/simd.h"
#include "filter/boxsum.h"

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
 * The engine reads rows of one channel straight from the interleaved image
 * and writes finished rows into a strip of the result (its row 0 is output
 * row y0), so no float copy of the whole image is made. With alpha, colour is
 * premultiplied as it is read and the engine's float rows go to `raw`, to be
 * divided by the filtered alpha once the strip is whole.
 */
typedef struct stream {
	const cnnf_image *in;
	cnnf_image *out;   /* the strip */
	float *raw;        /* not streaming: the strip's rows, [row][channel][x] floats */
	int y0;            /* the strip's first output row */
	int oc;            /* output channels */
	int premultiply;   /* colour is multiplied by alpha / maxval as it is read */
	double maxval;     /* maxval, 1 for float images without a scale */
} stream;

CNNF_CLONES static void stream_read(void *ctx, int c, int r, float *dst)
{
	const stream *st = ctx;
	const cnnf_image *img = st->in;
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
	if (st->premultiply && (size_t)c + 1 < nc) {
		/* As the whole-image path did: in double, from the alpha sample as a float. */
		size_t a = (size_t)r * w * nc + nc - 1;
		for (size_t x = 0; x < w; x++) {
			double alpha = cnnf_image_getf(img, a + x * nc);
			dst[x] = (float)((double)dst[x] * alpha / st->maxval);
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

/* The engine's float rows of a strip that is finished after it (alpha). */
static float *raw_dest(void *ctx, int f, int y)
{
	const stream *st = ctx;
	return st->raw + ((size_t)(y - st->y0) * st->oc + (size_t)f) * st->out->width;
}

/* What one filtering does, worked out before any output is made. */
typedef struct job {
	const cnnf_image *img;
	const cnnf_kernel *k;
	const char *kname;
	int threads;
	cnnf_conv_geom g;
	cnnf_conv_out post;   /* what the result needs */
	cnnf_conv_out engine; /* what the engine does: post, or floats to be finished here */
	int oc, oh, ow;  /* the output's shape */
	cnnf_type type;  /* the output's samples */
	int has_alpha;   /* the output keeps the alpha channel */
	int alpha;       /* colour is premultiplied by alpha around the engine */
	int colour_post; /* --abs and --offset are applied to colour after the engine */
	double offset;
	int abs;
} job;

/* Whether k is one 2-D filter whose taps are all equal: a box, which the engine runs as sums. */
static int equal_taps(const cnnf_kernel *k)
{
	size_t n = (size_t)k->height * k->width;
	if (k->count != 1 || k->depth != 1)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (k->weights[i] != k->weights[0])
			return 0;
	return 1;
}

/* Whether every sample of a float image is finite (NaN and inf do not cancel out of a running sum). */
static int all_finite(const cnnf_image *img)
{
	const float *v = img->data;
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

/*
 * The bits below the point of colour premultiplied by alpha: v * a / maxval
 * for integers 1..maxval is at least 1 / maxval, so as a float it is a whole
 * multiple of the ulp of 1 / maxval's binade.
 */
static int premultiplied_bits(unsigned maxval)
{
	int e;
	frexp(1.0 / maxval, &e); /* 1 / maxval = m * 2^e, 0.5 <= m < 1 */
	return FLT_MANT_DIG - e;
}

static int plan_job(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                    const char *kname, job *j)
{
	*j = (job){.img = img,
	           .k = k,
	           .kname = kname,
	           .threads = o->threads,
	           .offset = o->offset,
	           .abs = o->abs};
	/* The padding of a dilated kernel is an int: refuse what it cannot hold, naming why. */
	int taps = k->height > k->width ? k->height : k->width;
	if ((long long)o->dilation * (taps - 1) + 1 > INT_MAX / 2) {
		cnnf_error("%s: %d taps at --dilation %d span more than %d samples", kname, taps,
		           o->dilation, INT_MAX / 2);
		return -1;
	}
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
	if (img->type == CNNF_F32 && equal_taps(k))
		j->post.finite = all_finite(img);
	if (j->alpha && opaque(img))
		j->alpha = 0;
	/*
	 * --abs and --offset are for colour: with alpha they are applied here,
	 * after the division by alpha, and not to alpha itself. Otherwise the
	 * engine applies them and rounds straight from its double accumulator.
	 */
	j->colour_post = j->has_alpha && (o->abs || o->offset != 0);
	j->engine = j->post;
	if (j->alpha || j->colour_post) {
		/* The engine keeps floats here: rounding comes after alpha is divided out. */
		j->engine.round = 0;
		if (j->colour_post)
			j->engine.abs = 0, j->engine.offset = 0;
		if (j->alpha && img->type != CNNF_F32) {
			/* Premultiplied colour is no longer integer, but still exact in fixed point. */
			j->engine.int_max = 0;
			j->engine.exact_max = img->maxval;
			j->engine.exact_bits = premultiplied_bits(img->maxval);
		}
	}
	return cnnf_conv_shape(img->channels, img->height, img->width, k, &j->g, kname, &j->oc,
	                       &j->oh, &j->ow);
}

/* Whether the job streams: the engine writes the result's samples directly. */
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

struct cnnf_filter_stream {
	cnnf_rows rows; /* what the writer reads */
	job j;
	stream st;          /* the engine's callbacks' context */
	cnnf_conv_job *cj;  /* the engine, open from one strip to the next */
	cnnf_image *strip;  /* rows y0..y1-1 of the output */
	float *raw;         /* not streaming: the engine's floats for the strip */
	int strip_rows;     /* rows the strip holds */
	int y0, y1;
	cnnf_boxsum *box;   /* an 8-bit box made in integer sums instead of by the engine */
	int pass;           /* the result is the input, row for row (identity): no work at all */
	int threads;
	int (*wait)(void *ctx, int rows); /* the options' wait and wait_ctx */
	void *wait_ctx;
};

/*
 * The input rows output rows y0..y1-1 read: one past the highest row any
 * of their windows maps to through the border (wrap reads the bottom for
 * the top rows, a wide explicit padding reflects far in).
 */
static int rows_needed(const job *j, int y0, int y1)
{
	const cnnf_conv_geom *g = &j->g;
	long h = j->img->height, need = 0;
	long first = (long)y0 * g->stride_y - g->pad_top;
	long last = (long)(y1 - 1) * g->stride_y - g->pad_top + (long)(j->k->height - 1) * g->dil_y;
	for (long r = first; r <= last && need < h; r++) {
		long src = cnnf_conv_border_index(r, h, g->border);
		if (src + 1 > need)
			need = src + 1;
	}
	return (int)need;
}

/*
 * Block until the input rows output rows y0..y1-1 read are decoded (a
 * no-op for a whole image); the last output row waits for the decode's end,
 * so that damage after the image's rows fails the output too. 0, or -1.
 */
static int wait_rows(const cnnf_filter_stream *s, int y0, int y1)
{
	if (!s->wait)
		return 0;
	return s->wait(s->wait_ctx, y1 == s->j.oh ? s->j.img->height + 1 : rows_needed(&s->j, y0, y1));
}

/*
 * Colour divided by the filtered alpha, --abs and --offset, and the output's
 * scale, for the strip's rows 0..rows-1, from the engine's floats: as the
 * whole-image path did it, value for value.
 */
static void finish_strip(cnnf_filter_stream *s, int rows)
{
	const job *j = &s->j;
	int oc = j->oc, ow = j->ow;
	double maxval = s->st.maxval;
	for (int yl = 0; yl < rows; yl++) {
		float *row = s->raw + (size_t)yl * oc * ow;
		const float *a = row + (size_t)(oc - 1) * ow;
		for (int c = 0; c < oc - 1; c++) {
			float *v = row + (size_t)c * ow;
			if (j->alpha)
				for (int x = 0; x < ow; x++) {
					double alpha = a[x];
					v[x] = alpha > 0 ? (float)((double)v[x] * maxval / alpha) : 0.0f;
				}
			if (j->colour_post)
				for (int x = 0; x < ow; x++)
					v[x] = (float)((j->abs ? fabs(v[x]) : v[x]) + j->offset);
		}
		void *dst = cnnf_image_row(s->strip, yl);
		for (int c = 0; c < oc; c++) {
			const float *v = row + (size_t)c * ow;
			switch (j->type) {
			case CNNF_U8:
				for (int x = 0; x < ow; x++)
					((uint8_t *)dst)[x * oc + c] =
					    (uint8_t)cnnf_image_round(v[x], j->img->maxval);
				break;
			case CNNF_U16:
				for (int x = 0; x < ow; x++)
					((uint16_t *)dst)[x * oc + c] =
					    (uint16_t)cnnf_image_round(v[x], j->img->maxval);
				break;
			default:
				for (int x = 0; x < ow; x++)
					((float *)dst)[x * oc + c] = v[x];
			}
		}
	}
}

/* Make output rows y0..y1-1 into the strip. */
static int make_strip(cnnf_filter_stream *s, int y0, int y1)
{
	/* The buffers are allocated here, so a size check after cnnf_filter_open() comes first. */
	if (!s->strip && !(s->strip = result_new(&s->j, s->strip_rows)))
		return -1;
	if (!streams(&s->j) && !s->raw) {
		size_t n = (size_t)s->strip_rows * s->j.oc * s->j.ow;
		if (!(s->raw = malloc(sizeof(float) * n))) {
			cnnf_error("out of memory for a strip of %d rows", s->strip_rows);
			return -1;
		}
	}
	if (wait_rows(s, y0, y1) < 0)
		return -1;
	if (s->box)
		return cnnf_boxsum_rows(s->box, y0, y1, s->strip, s->threads);
	s->st.out = s->strip;
	s->st.raw = s->raw;
	s->st.y0 = y0;
	if (cnnf_conv_make(s->cj, y0, y1) < 0)
		return -1;
	if (!streams(&s->j))
		finish_strip(s, y1 - y0);
	return 0;
}

/* rows.row(): output row y, making the next strip when y is past the current one. */
static const void *stream_row(void *ctx, int y)
{
	cnnf_filter_stream *s = ctx;
	if (s->pass) {
		/* The input's own rows. */
		if (wait_rows(s, y, y + 1) < 0)
			return NULL;
		return cnnf_image_row(s->j.img, y);
	}
	if (y < s->y0 || y >= s->y1) {
		int y1 = y + s->strip_rows < s->j.oh ? y + s->strip_rows : s->j.oh;
		if (make_strip(s, y, y1) < 0) {
			s->y0 = s->y1 = 0;
			return NULL;
		}
		s->y0 = y, s->y1 = y1;
	}
	return cnnf_image_row(s->strip, y - s->y0);
}

/*
 * Whether the result is the input sample for sample: one 1x1 tap of weight
 * 1 (identity, shift by 0), no padding, stride 1, integer samples kept as
 * they are. The engine would multiply each by 1 and round it back.
 */
static int passes_through(const job *j)
{
	const cnnf_kernel *k = j->k;
	const cnnf_conv_geom *g = &j->g;
	return k->count == 1 && k->depth == 1 && k->height == 1 && k->width == 1 &&
	       k->weights[0] == 1 && k->scale_num[0] == k->scale_den[0] && k->bias[0] == 0 &&
	       streams(j) && !j->engine.abs && j->engine.offset == 0 && !j->abs && j->offset == 0 &&
	       j->img->type != CNNF_F32 && j->type == j->img->type &&
	       j->oc == j->img->channels && j->ow == j->img->width && j->oh == j->img->height &&
	       g->stride_x == 1 && g->stride_y == 1 && g->pad_top == 0 && g->pad_left == 0;
}

/*
 * The integer box path (boxsum.c) for s when it gives the engine's bits:
 * a box of 8-bit samples to 8-bit samples at stride and dilation 1, with no
 * alpha or --abs/--offset around the engine, and a table the engine fills.
 * Otherwise (or out of memory) s stays on the engine.
 */
static void try_box(cnnf_filter_stream *s, const cnnf_filter_opts *o)
{
	const job *j = &s->j;
	const cnnf_kernel *k = j->k;
	const cnnf_conv_geom *g = &j->g;
	if (o->engine_only || j->img->type != CNNF_U8 || j->type != CNNF_U8 || !streams(j) ||
	    !equal_taps(k) || g->stride_x != 1 || g->stride_y != 1 || g->dil_x != 1 ||
	    g->dil_y != 1 || (long long)k->height * k->width > CNNF_BOXSUM_MAX_TAPS ||
	    j->oc != j->img->channels)
		return;
	long long max_sum = (long long)k->height * k->width * 255;
	float *values = malloc(sizeof(float) * (size_t)(max_sum + 1));
	uint8_t *table = malloc((size_t)max_sum + 1);
	if (values && table && cnnf_conv_box_table(s->cj, max_sum, values) == 0) {
		/* The engine's values are whole numbers in 0..maxval: stream_write()'s cast. */
		for (long long i = 0; i <= max_sum; i++)
			table[i] = (uint8_t)values[i];
		s->box = cnnf_boxsum_new(j->img, k->height, k->width, g, j->oh, j->ow, table);
	}
	free(values);
	free(table);
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
	const job *j = &s->j;
	if (strip_rows <= 0) {
		/* About STRIP_SAMPLES samples; at least 64 rows, enough bands for the threads. */
		long long per_row = (long long)j->ow * j->oc;
		long long r = STRIP_SAMPLES / per_row;
		strip_rows = r < 64 ? 64 : r > j->oh ? j->oh : (int)r;
	}
	s->strip_rows = strip_rows < j->oh ? strip_rows : j->oh;
	s->st = (stream){.in = img,
	                 .oc = j->oc,
	                 .premultiply = j->alpha,
	                 .maxval = img->maxval ? img->maxval : 1.0};
	cnnf_conv_rows io = {img->channels, img->height, img->width,
	                     stream_read,   stream_write, streams(j) ? NULL : raw_dest,
	                     &s->st,        0,            0};
	/* What the engine would refuse is refused here, before anything is written. */
	if (cnnf_conv_open(&io, k, &j->g, &j->engine, o->threads, kname, &s->cj) < 0)
		goto fail;
	s->threads = o->threads;
	s->wait = o->wait;
	s->wait_ctx = o->wait_ctx;
	s->pass = !o->engine_only && passes_through(j);
	if (!s->pass)
		try_box(s, o);
	s->rows.info = (cnnf_image){.width = j->ow,
	                            .height = j->oh,
	                            .channels = j->oc,
	                            .type = j->type,
	                            .maxval = img->maxval,
	                            .alpha = j->has_alpha};
	s->rows.row = stream_row;
	s->rows.ctx = s;
	*out = s;
	return 0;
fail:
	cnnf_filter_close(s);
	return -1;
}

int cnnf_filter_apply(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                      const char *kname, cnnf_image **out)
{
	cnnf_filter_stream *s;
	if (cnnf_filter_open(img, k, o, kname, INT_MAX, &s) < 0)
		return -1;
	if (s->pass) {
		/* The result is the input: a copy of it. */
		cnnf_image *r = result_new(&s->j, s->j.oh);
		if (!r || wait_rows(s, 0, s->j.oh) < 0) {
			cnnf_image_free(r);
			cnnf_filter_close(s);
			return -1;
		}
		memcpy(r->data, img->data, (size_t)img->width * img->height * img->channels * img->type);
		cnnf_filter_close(s);
		*out = r;
		return 0;
	}
	/* One strip: the whole result. */
	if (!stream_row(s, 0)) {
		cnnf_filter_close(s);
		return -1;
	}
	*out = s->strip;
	s->strip = NULL;
	cnnf_filter_close(s);
	return 0;
}

const cnnf_rows *cnnf_filter_get_rows(const cnnf_filter_stream *s)
{
	return &s->rows;
}

unsigned long long cnnf_filter_work(const cnnf_filter_stream *s)
{
	return cnnf_conv_job_work(s->cj);
}

void cnnf_filter_close(cnnf_filter_stream *s)
{
	if (!s)
		return;
	cnnf_conv_close(s->cj);
	cnnf_boxsum_free(s->box);
	cnnf_image_free(s->strip);
	free(s->raw);
	free(s);
}
