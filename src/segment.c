/* segment.c: runs a patch classifier around every pixel and turns the scores into label maps. */
#include "segment.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"
#include "tensor.h"

void cnnf_segment_opts_init(cnnf_segment_opts *o)
{
	*o = (cnnf_segment_opts){.border = CNNF_BORDER_REFLECT, .mode = CNNF_SEGMENT_DENSE};
}

typedef struct job {
	const cnnf_net *net;
	const cnnf_tensor *norm; /* the image, normalised, C x H x W */
	const float *zero;       /* [C]: what a raw 0 becomes, for the zero border */
	cnnf_border border;
	size_t row0;             /* first image row of this block */
	uint8_t *labels;         /* H x W */
	float *probs;            /* H x W x K, or NULL */
} job;

/* Fill patch with the model's input around (y, x). */
static void gather(const job *j, cnnf_tensor *patch, int y, int x)
{
	const cnnf_tensor *img = j->norm;
	int top = y - patch->h / 2, left = x - patch->w / 2;
	size_t plane = (size_t)img->h * img->w;
	for (int c = 0; c < patch->c; c++) {
		float *dst = patch->data + (size_t)c * patch->h * patch->w;
		const float *src = img->data + c * plane;
		for (int i = 0; i < patch->h; i++) {
			long r = cnnf_conv_border_index(top + i, img->h, j->border);
			for (int k = 0; k < patch->w; k++) {
				long q = r < 0 ? -1 : cnnf_conv_border_index(left + k, img->w, j->border);
				*dst++ = q < 0 ? j->zero[c] : src[(size_t)r * img->w + q];
			}
		}
	}
}

static int classify_rows(void *ctx, size_t begin, size_t end)
{
	const job *j = ctx;
	const cnnf_model *m = j->net->model;
	int k = m->classes, w = j->norm->w;
	int softmaxed = m->layers[m->nlayers - 1].type == CNNF_LAYER_SOFTMAX;
	cnnf_tensor *patch = cnnf_tensor_new(m->channels, m->height, m->width);
	if (!patch)
		return -1;
	for (size_t row = j->row0 + begin; row < j->row0 + end; row++)
		for (int x = 0; x < w; x++) {
			cnnf_tensor *out;
			gather(j, patch, (int)row, x);
			if (cnnf_net_forward(j->net, patch, &out) < 0) {
				cnnf_tensor_free(patch);
				return -1;
			}
			int best = 0;
			for (int c = 1; c < k; c++)
				if (out->data[c] > out->data[best])
					best = c;
			size_t pixel = row * (size_t)w + x;
			j->labels[pixel] = (uint8_t)best;
			if (j->probs) {
				if (!softmaxed)
					cnnf_net_softmax(out->data, k);
				memcpy(j->probs + pixel * k, out->data, sizeof(float) * (size_t)k);
			}
			cnnf_tensor_free(out);
		}
	cnnf_tensor_free(patch);
	return 0;
}

/* The image as the network sees it: (v / scale - mean) / std per channel. */
static cnnf_tensor *normalise(const cnnf_image *img, const cnnf_model *m, float *zero)
{
	cnnf_tensor *t = cnnf_tensor_from_image(img);
	if (!t)
		return NULL;
	double scale = img->maxval ? img->maxval : 1.0;
	size_t plane = (size_t)t->h * t->w;
	for (int c = 0; c < t->c; c++) {
		float *v = t->data + c * plane;
		for (size_t i = 0; i < plane; i++)
			v[i] = (float)(((double)v[i] / scale - m->mean[c]) / m->std[c]);
		zero[c] = (float)((0.0 - m->mean[c]) / m->std[c]);
	}
	return t;
}

int cnnf_segment_run(const cnnf_net *net, const cnnf_image *img, const char *name,
		     const cnnf_segment_opts *o, cnnf_image **labels, cnnf_image **probs)
{
	const cnnf_model *m = net->model;
	if (img->channels != m->channels) {
		cnnf_error("%s: the image has %d channel%s; the model takes %d", name, img->channels,
			   img->channels == 1 ? "" : "s", m->channels);
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
	if (!(norm = normalise(img, m, zero)))
		goto out;
	job j = {.net = net,
		 .norm = norm,
		 .zero = zero,
		 .border = o->border,
		 .labels = lab->data,
		 .probs = pr ? pr->data : NULL};
	/* Blocks of rows, so that progress is reported from this thread between them. */
	size_t h = (size_t)img->height, block = h / 50 + 1;
	for (size_t r = 0; r < h; r += block) {
		size_t n = r + block > h ? h - r : block;
		j.row0 = r;
		if (cnnf_parallel_for(n, o->threads, classify_rows, &j) < 0)
			goto out;
		if (o->progress)
			o->progress(o->progress_ctx, r + n, h);
	}
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
