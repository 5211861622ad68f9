/* segment.c: runs a patch classifier around every pixel and turns the scores into label maps. */
#include "task/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "engine/tensor.h"

void cnnf_segment_opts_init(cnnf_segment_opts *o)
{
	*o = (cnnf_segment_opts){.border = CNNF_BORDER_REFLECT, .mode = CNNF_SEGMENT_DENSE};
}

typedef struct job {
	cnnf_net *net;
	const cnnf_tensor *norm; /* the image, normalised, C x H x W */
	const float *zero;       /* [C]: what a raw 0 becomes, for the zero border */
	cnnf_border border;
	size_t row0;             /* first image row of this block */
	uint8_t *labels;         /* H x W */
	float *probs;            /* H x W x K, or NULL */
	int threads;             /* dense mode: threads labelling a tile (0: all cores) */
} job;

void cnnf_segment_patch(const cnnf_tensor *norm, const float *zero, cnnf_border border, int ph,
			int pw, int y, int x, float *dst, size_t stride)
{
	int top = y - ph / 2, left = x - pw / 2;
	size_t plane = (size_t)norm->h * norm->w, at = 0;
	for (int c = 0; c < norm->c; c++) {
		const float *src = norm->data + c * plane;
		for (int i = 0; i < ph; i++) {
			long r = cnnf_conv_border_index(top + i, norm->h, border);
			for (int k = 0; k < pw; k++, at += stride) {
				long q = r < 0 ? -1 : cnnf_conv_border_index(left + k, norm->w, border);
				dst[at] = q < 0 ? zero[c] : src[(size_t)r * norm->w + q];
			}
		}
	}
}

/*
 * The label of one pixel's scores v (the lowest class on a tie) and, when
 * asked, its probabilities. A model ending in softmax is labelled by its
 * output, the probabilities, where rounding can make ties the scores do not
 * have; others by their scores.
 */
static void label_pixel(const job *j, size_t pixel, float *v)
{
	const cnnf_model *m = j->net->model;
	int k = m->classes, softmaxed = cnnf_net_softmaxed(m);
	if (softmaxed)
		cnnf_net_softmax(v, k);
	int best = 0;
	for (int c = 1; c < k; c++)
		if (v[c] > v[best])
			best = c;
	j->labels[pixel] = (uint8_t)best;
	if (j->probs) {
		if (!softmaxed)
			cnnf_net_softmax(v, k);
		memcpy(j->probs + pixel * k, v, sizeof(float) * (size_t)k);
	}
}

/*
 * Image rows begin..end of the block on worker w's graph: the patches of a
 * row in batches of the net's batch size, each patch's scores its own.
 */
static int classify_rows(void *ctx, int w, size_t begin, size_t end)
{
	const job *j = ctx;
	const cnnf_model *m = j->net->model;
	int k = m->classes, width = j->norm->w;
	float *batch = malloc(j->net->psize * (size_t)j->net->batch * sizeof *batch);
	if (!batch)
		return -1;
	for (size_t row = j->row0 + begin; row < j->row0 + end; row++)
		for (int x0 = 0; x0 < width; x0 += j->net->batch) {
			int n = x0 + j->net->batch > width ? width - x0 : j->net->batch;
			for (int b = 0; b < n; b++)
				cnnf_segment_patch(j->norm, j->zero, j->border, m->height, m->width,
						   (int)row, x0 + b, batch + (size_t)b * j->net->psize, 1);
			float *sc;
			if (cnnf_net_scores(j->net, w, batch, n, &sc) < 0) {
				free(batch);
				return -1;
			}
			for (int b = 0; b < n; b++)
				label_pixel(j, row * (size_t)width + x0 + b, sc + (size_t)b * k);
			free(sc);
		}
	free(batch);
	return 0;
}

int cnnf_segment_float_scale(cnnf_image *img, unsigned scale, char *warn, size_t len)
{
	if (img->type != CNNF_F32 || img->maxval)
		return 0;
	if (scale) {
		img->maxval = scale;
		return 0;
	}
	size_t n = (size_t)img->width * img->height * img->channels;
	const float *v = img->data;
	float lo = 0, hi = 0;
	for (size_t i = 0; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	/* Far outside 0..1: 8- or 16-bit values in floats, most likely. */
	if (hi <= 2 && lo >= -1)
		return 0;
	double top = hi > -lo ? hi : -lo;
	unsigned guess = top <= 255 ? 255 : top <= 65535 ? 65535 : 0;
	if (guess)
		snprintf(warn, len, "warning: samples up to %g used as they are; --scale %u divides them",
			 (double)(hi > -lo ? hi : lo), guess);
	else
		snprintf(warn, len, "warning: samples up to %g used as they are; --scale MAX divides them",
			 (double)(hi > -lo ? hi : lo));
	return 1;
}

cnnf_tensor *cnnf_segment_normalise(const cnnf_image *img, const cnnf_model *m, float *zero)
{
	return cnnf_segment_normalise_by(img, m->mean, m->std, zero);
}

/* An image's rows normalised into a tensor: item = channel * height + row. */
typedef struct norm_job {
	const cnnf_image *img;
	cnnf_tensor *t;
	const float *mean, *std;
	double scale;
	const float *lut; /* 8-bit samples: [channel][256], the same floats looked up */
} norm_job;

static void normalise_rows(const norm_job *j, size_t begin, size_t end)
{
	const cnnf_image *img = j->img;
	int nc = img->channels, w = img->width;
	for (size_t item = begin; item < end; item++) {
		int c = (int)(item / (size_t)img->height), y = (int)(item % (size_t)img->height);
		float *dst = j->t->data + item * (size_t)w;
		size_t at = (size_t)y * w * nc + c;
		if (j->lut) {
			const uint8_t *src = img->data;
			const float *lut = j->lut + 256 * c;
			for (int x = 0; x < w; x++, at += nc)
				dst[x] = lut[src[at]];
		} else {
			for (int x = 0; x < w; x++, at += nc)
				dst[x] = (float)(((double)cnnf_image_getf(img, at) / j->scale - j->mean[c]) /
						 j->std[c]);
		}
	}
}

cnnf_tensor *cnnf_segment_normalise_by(const cnnf_image *img, const float *mean,
				       const float *std, float *zero)
{
	cnnf_tensor *t = cnnf_tensor_new_uninit(img->channels, img->height, img->width);
	if (!t)
		return NULL;
	norm_job j = {img, t, mean, std, img->maxval ? img->maxval : 1.0, NULL};
	float *lut = NULL;
	/* (float)(((double)v / scale - mean) / std) of every sample, as one float: v, read as float. */
	if (img->type == CNNF_U8 && (lut = malloc(sizeof(float) * 256 * (size_t)img->channels)))
		for (int c = 0; c < img->channels; c++)
			for (int v = 0; v < 256; v++)
				lut[256 * c + v] =
					(float)(((double)(float)v / j.scale - mean[c]) / std[c]);
	j.lut = lut;
	for (int c = 0; c < t->c; c++)
		zero[c] = (float)((0.0 - mean[c]) / std[c]);
	/* One thread (callers have no thread count to pass); a lookup a sample is cheap. */
	normalise_rows(&j, 0, (size_t)img->channels * img->height);
	free(lut);
	return t;
}

/* ---- Dense evaluation ---- */

/* Prepare the dense form for a C x th x tw tile. */
static int prepare_tile(cnnf_graph *g, int c, int th, int tw)
{
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, c, th, tw}};
	return cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL);
}

/* Fill x (C x th x tw) with the normalised image around rows y0.., columns x0.., as patches see it. */
static void fill_tile(const cnnf_tensor *img, const float *zero, cnnf_border border, int ph,
		      int pw, int y0, int x0, cnnf_tensor *x)
{
	int top = y0 - ph / 2, left = x0 - pw / 2;
	size_t plane = (size_t)img->h * img->w;
	/* Tile columns q0..q1-1 are image columns left + q: copied; the border only beyond. */
	int q0 = left < 0 ? -left : 0, q1 = img->w - left < x->w ? img->w - left : x->w;
	if (q0 > x->w)
		q0 = x->w;
	if (q1 < q0)
		q1 = q0;
	for (int c = 0; c < x->c; c++)
		for (int r = 0; r < x->h; r++) {
			float *dst = x->data + ((size_t)c * x->h + r) * x->w;
			long ry = cnnf_conv_border_index(top + r, img->h, border);
			if (ry < 0) {
				for (int q = 0; q < x->w; q++)
					dst[q] = zero[c];
				continue;
			}
			const float *src = img->data + c * plane + (size_t)ry * img->w;
			if (q1 > q0)
				memcpy(dst + q0, src + left + q0, sizeof(float) * (size_t)(q1 - q0));
			for (int q = 0; q < x->w; q++) {
				if (q == q0)
					q = q1;
				if (q >= x->w)
					break;
				long qx = cnnf_conv_border_index(left + q, img->w, border);
				dst[q] = qx < 0 ? zero[c] : src[qx];
			}
		}
}

int cnnf_segment_dense(cnnf_graph *dense, const cnnf_tensor *norm, const float *zero,
		       cnnf_border border, int ph, int pw, const cnnf_segment_opts *o,
		       cnnf_segment_scores_fn fn, void *ctx)
{
	int height = norm->h, width = norm->w, c = norm->c;
	int cols = o->tile_cols > 0 ? o->tile_cols : CNNF_SEGMENT_DENSE_COLS;
	if (cols > width)
		cols = width;
	/* Strips of equal width, so that the last one overlaps the one before by less than a strip count. */
	int strips = (width + cols - 1) / cols;
	cols = (width + strips - 1) / strips;
	int tw = cols + pw - 1;
	dense->threads = o->threads;
	/*
	 * Rows per tile from what a trial tile of 16 rows holds at its peak:
	 * activations grow with the rows, so as many as the budget (or a
	 * lower --max-activations) allows.
	 */
	uint64_t budget = CNNF_SEGMENT_DENSE_BUDGET;
	if (dense->limits.max_activation && dense->limits.max_activation < budget)
		budget = dense->limits.max_activation;
	int trial = height < 16 ? height : 16;
	if (prepare_tile(dense, c, trial + ph - 1, tw))
		return -1;
	double per_row = (double)dense->peak_bytes / (trial + ph - 1);
	double fit = per_row > 0 ? (double)budget / per_row - (ph - 1) : height;
	int tile = fit < 1 ? 1 : fit > height ? height : (int)fit;
	if (o->tile_rows > 0 && o->tile_rows < tile)
		tile = o->tile_rows;
	/* The same for the rows: a 512-row image and a budget of 460 made 460 rows twice. */
	int bands = (height + tile - 1) / tile;
	tile = (height + bands - 1) / bands;
	if (tile != trial && prepare_tile(dense, c, tile + ph - 1, tw))
		return -1;
	cnnf_tensor *x = cnnf_tensor_new_uninit(c, tile + ph - 1, tw);
	if (!x)
		return -1;
	for (int y0 = 0; y0 < height; y0 += tile) {
		/* The last row of tiles ends at the last image row, over rows already done. */
		int rows = y0 + tile > height ? height - y0 : tile, yt = y0 + tile > height ? height - tile : y0;
		for (int x0 = 0; x0 < width; x0 += cols) {
			int n = x0 + cols > width ? width - x0 : cols, xt = x0 + cols > width ? width - cols : x0;
			fill_tile(norm, zero, border, ph, pw, yt, xt, x);
			const void *in[1] = {x->data};
			void *res[1] = {NULL};
			if (cnnf_graph_run(dense, in, res)) {
				cnnf_tensor_free(x);
				return -1;
			}
			const cnnf_value *v = &dense->val[dense->out[0]];
			/* A view from pixel (y0, x0) on: the same strides, the data moved. */
			cnnf_tensor scores = {(int)v->dim[1], (int)v->dim[2], (int)v->dim[3],
					      (float *)res[0] + (size_t)(y0 - yt) * v->dim[3] + (x0 - xt)};
			fn(ctx, &scores, y0, rows, x0, n);
			free(res[0]);
		}
		if (o->progress)
			o->progress(o->progress_ctx, (size_t)(y0 + rows), (size_t)height);
	}
	cnnf_tensor_free(x);
	return 0;
}

/* A dense tile's scores and the image pixels they label. */
typedef struct tile_job {
	const job *j;
	const cnnf_tensor *scores;
	int y0, x0, cols;
} tile_job;

/* Tile rows begin..end-1: every pixel on its own, so any split gives the same bytes. */
static int label_rows(void *ctx, size_t begin, size_t end)
{
	const tile_job *t = ctx;
	const job *j = t->j;
	const cnnf_tensor *scores = t->scores;
	int k = j->net->model->classes, w = j->norm->w;
	size_t plane = (size_t)scores->h * scores->w;
	float v[CNNF_SEGMENT_MAX_CLASSES];
	for (size_t y = begin; y < end; y++)
		for (int x = 0; x < t->cols; x++) {
			for (int c = 0; c < k; c++)
				v[c] = scores->data[c * plane + y * scores->w + x];
			label_pixel(j, (t->y0 + y) * w + t->x0 + x, v);
		}
	return 0;
}

/* Labels (and probabilities) of a dense tile's pixels from its scores, on the job's threads. */
static void dense_labels(void *ctx, const cnnf_tensor *scores, int y0, int rows, int x0, int cols)
{
	const job *j = ctx;
	tile_job t = {j, scores, y0, x0, cols};
	/* label_rows allocates nothing, so it cannot fail; a thread that does not start is covered. */
	(void)cnnf_parallel_for((size_t)rows, j->threads, label_rows, &t);
}

int cnnf_segment_run(cnnf_net *net, const cnnf_image *img, const char *name,
		     const cnnf_segment_opts *o, cnnf_image **labels, cnnf_image **probs)
{
	const cnnf_model *m = net->model;
	if (img->channels != m->channels) {
		cnnf_error("%s: the image has %d channel%s; the model takes %d%s", name, img->channels,
			   img->channels == 1 ? "" : "s", m->channels,
			   m->channels == 1 ? " (--channels gray converts it)"
			   : m->channels == 3 ? " (--channels rgb converts it)" : "");
		return -1;
	}
	if (m->classes > CNNF_SEGMENT_MAX_CLASSES) {
		cnnf_error("%s: the model has %d classes; a label map holds at most %d", name,
			   m->classes, CNNF_SEGMENT_MAX_CLASSES);
		return -1;
	}
	int status = -1;
	float *zero = malloc(sizeof(float) * (size_t)m->channels);
	cnnf_tensor *norm = NULL;
	cnnf_image *lab = cnnf_image_new(img->width, img->height, 1, CNNF_U8), *pr = NULL;
	if (!zero || !lab || (probs && !(pr = cnnf_image_new(img->width, img->height, m->classes,
								  CNNF_F32)))) {
		if (!zero)
			cnnf_error("out of memory");
		goto out;
	}
	if (!(norm = cnnf_segment_normalise(img, m, zero)))
		goto out;
	job j = {.net = net,
		 .norm = norm,
		 .zero = zero,
		 .border = o->border,
		 .labels = lab->data,
		 .probs = pr ? pr->data : NULL,
		 .threads = o->threads};
	if (o->mode == CNNF_SEGMENT_DENSE && net->dense) {
		if (cnnf_segment_dense(net->dense, norm, zero, o->border, m->height, m->width, o,
				       dense_labels, &j) < 0)
			goto out;
		goto done;
	}
	/* Blocks of rows, so that progress is reported from this thread between them. */
	size_t h = (size_t)img->height, block = h / 50 + 1;
	for (size_t r = 0; r < h; r += block) {
		size_t n = r + block > h ? h - r : block;
		j.row0 = r;
		int threads = o->threads ? o->threads : net->workers;
		if (threads > net->workers)
			threads = net->workers;
		if (cnnf_parallel_for_workers(n, threads, classify_rows, &j) < 0)
			goto out;
		if (o->progress)
			o->progress(o->progress_ctx, r + n, h);
	}
done:
	*labels = lab;
	lab = NULL;
	if (probs) {
		*probs = pr;
		pr = NULL;
	}
	status = 0;
out:
	free(zero);
	cnnf_tensor_free(norm);
	cnnf_image_free(lab);
	cnnf_image_free(pr);
	return status;
}

void cnnf_segment_palette(int k, unsigned char *rgb)
{
	/* Well-separated colours for the first classes, chosen by eye for dark and light images. */
	static const unsigned char base[][3] = {
		{0, 0, 0},       {255, 200, 0},   {30, 144, 255},  {220, 20, 60},
		{50, 205, 50},   {186, 85, 211},  {255, 127, 80},  {0, 206, 209},
		{255, 105, 180}, {154, 205, 50},  {139, 69, 19},   {112, 128, 144},
		{255, 255, 255}, {0, 0, 139},     {128, 128, 0},   {0, 100, 0},
	};
	int nbase = (int)(sizeof base / sizeof *base);
	for (int i = 0; i < k; i++) {
		if (i < nbase) {
			memcpy(rgb + 3 * i, base[i], 3);
			continue;
		}
		/* Beyond the table, hues a golden angle apart keep neighbours apart. */
		double hue = fmod(i * 0.618033988749895, 1.0) * 6.0;
		double v = (i % 3 == 0) ? 0.95 : (i % 3 == 1) ? 0.75 : 0.55;
		double f = hue - floor(hue), p = 0.25 * v, q = v * (1 - 0.75 * f),
		       t = v * (1 - 0.75 * (1 - f));
		double r, g, b;
		switch ((int)hue) {
		case 0: r = v, g = t, b = p; break;
		case 1: r = q, g = v, b = p; break;
		case 2: r = p, g = v, b = t; break;
		case 3: r = p, g = q, b = v; break;
		case 4: r = t, g = p, b = v; break;
		default: r = v, g = p, b = q; break;
		}
		rgb[3 * i] = (unsigned char)lround(r * 255);
		rgb[3 * i + 1] = (unsigned char)lround(g * 255);
		rgb[3 * i + 2] = (unsigned char)lround(b * 255);
	}
}

cnnf_image *cnnf_segment_overlay(const cnnf_image *img, const cnnf_image *labels, int k,
				 double opacity)
{
	unsigned char pal[3 * CNNF_SEGMENT_MAX_CLASSES];
	cnnf_segment_palette(k, pal);
	cnnf_image *out = cnnf_image_new(img->width, img->height, 3, CNNF_U8);
	if (!out)
		return NULL;
	double scale = img->maxval ? 255.0 / img->maxval : 255.0;
	int colour = img->channels >= 3;
	const uint8_t *lab = labels->data;
	uint8_t *d = out->data;
	size_t n = (size_t)img->width * img->height;
	for (size_t p = 0; p < n; p++) {
		const unsigned char *c = pal + 3 * lab[p];
		for (int ch = 0; ch < 3; ch++) {
			double v = cnnf_image_getf(img, p * img->channels + (colour ? ch : 0)) * scale;
			d[3 * p + ch] = (uint8_t)cnnf_image_round((1 - opacity) * v + opacity * c[ch], 255);
		}
	}
	return out;
}
