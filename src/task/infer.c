/* infer.c: graph models on images: input tensors, fully convolutional and patch segmentation, image-to-image. */
#include <inttypes.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "nn/geometry.h"
#include "nn/onnx.h"
#include "nn/pass.h"
#include "engine/tensor.h"
#include "task/infer.h"
#include "task/segment.h"

void cnnf_infer_opts_init(cnnf_infer_opts *o)
{
	memset(o, 0, sizeof *o);
	o->border = CNNF_BORDER_REFLECT;
	o->dense = 1;
}

/* Patches run together when the model's batch size is free. */
#define PATCH_BATCH 64

/* The model's image input: channels (0: any), rows, columns (0: any), batch free. */
typedef struct input_shape {
	int c, h, w;
	int batch_free;
} input_shape;

static int model_input(const cnnf_graph *g, const cnnf_image *img, const char *name,
		       input_shape *s)
{
	if (g->nin != 1) {
		cnnf_error("%s: the model has %d inputs; cnnf feeds it one image", g->file, g->nin);
		return -1;
	}
	const char *in = g->val[g->in[0]].name;
	if (g->in_type[0] != CNNF_DT_F32) {
		cnnf_error("%s: input '%s' is not of floats", g->file, in);
		return -1;
	}
	int nd = g->in_ndim[0];
	const int64_t *d = g->in_dim[0];
	if (nd >= 0 && nd != 4) {
		cnnf_error("%s: input '%s' has %d dimensions; an image feeds N x C x H x W", g->file,
			   in, nd);
		return -1;
	}
	s->batch_free = nd < 0 || d[0] < 0;
	if (nd == 4 && d[0] > 1) {
		cnnf_error("%s: input '%s' wants a batch of %" PRId64 " images; cnnf feeds one",
			   g->file, in, d[0]);
		return -1;
	}
	s->c = nd == 4 && d[1] > 0 ? (int)(d[1] < 1 << 20 ? d[1] : 1 << 20) : 0;
	s->h = nd == 4 && d[2] > 0 ? (int)(d[2] < 1 << 30 ? d[2] : 1 << 30) : 0;
	s->w = nd == 4 && d[3] > 0 ? (int)(d[3] < 1 << 30 ? d[3] : 1 << 30) : 0;
	if (s->c && s->c != img->channels) {
		cnnf_error("%s: the image has %d channel%s; %s takes %d%s", name, img->channels,
			   img->channels == 1 ? "" : "s", g->file, s->c,
			   s->c == 1 ? " (--channels gray converts it)"
			   : s->c == 3 ? " (--channels rgb converts it)" : "");
		return -1;
	}
	s->c = img->channels;
	if (s->c > CNNF_INFER_MAX_CHANNELS) {
		cnnf_error("%s: %d channels; at most %d are fed to a model", name, s->c,
			   CNNF_INFER_MAX_CHANNELS);
		return -1;
	}
	return 0;
}

/* mean[] and std[] for c channels from the options. */
static int norm_values(const cnnf_infer_opts *o, int c, float *mean, float *std)
{
	if ((o->nmean > 1 && o->nmean != c) || (o->nstd > 1 && o->nstd != c)) {
		cnnf_error("--mean and --std give %d and %d values; the image has %d channel%s",
			   o->nmean, o->nstd, c, c == 1 ? "" : "s");
		return -1;
	}
	for (int i = 0; i < c; i++) {
		mean[i] = o->nmean == 0 ? 0.0f : o->mean[o->nmean == 1 ? 0 : i];
		std[i] = o->nstd == 0 ? 1.0f : o->std[o->nstd == 1 ? 0 : i];
	}
	return 0;
}

/* A prepared run within --max-work, or -1 with the estimate. */
static int check_work(const cnnf_graph *g, const cnnf_infer_opts *o, const char *name)
{
	if (o->max_work > 0 && g->work > o->max_work) {
		cnnf_error("%s: running %s on it would take about %.3g multiply-adds, more than "
			   "--max-work %.6g allows (0: no limit)",
			   name, g->file, g->work, o->max_work);
		return -1;
	}
	return 0;
}

static int prepare(cnnf_graph *g, const cnnf_infer_opts *o, const char *name, int n, int c, int h,
		   int w)
{
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{n, c, h, w}};
	g->threads = o->threads;
	if (cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL))
		return -1;
	return check_work(g, o, name);
}

/* Does the graph's output 0 come from op_type (a Softmax over the axis of classes, axis1)? */
static const cnnf_node *last_node(const cnnf_graph *g)
{
	int p = g->val[g->out[0]].producer;
	return p >= 0 ? &g->node[p] : NULL;
}

static int ends_in(const cnnf_graph *g, const char *op_type)
{
	const cnnf_node *n = last_node(g);
	return n && strcmp(n->op_type, op_type) == 0;
}

/* A softmax over axis 1 of an output of ndim dimensions (the classes)? */
static int ends_in_class_softmax(const cnnf_graph *g, int ndim)
{
	const cnnf_node *n = last_node(g);
	if (!n || strcmp(n->op_type, "Softmax") != 0)
		return 0;
	const cnnf_attr *a = cnnf_node_attr(n, "axis");
	int64_t axis = a && a->type == CNNF_ATTR_INT ? a->i : g->opset < 13 ? 1 : -1;
	if (axis < 0)
		axis += ndim;
	/* Before opset 13 Softmax flattens from axis on: per class only when nothing follows it. */
	return axis == 1 && (g->opset >= 13 || ndim == 2);
}

/*
 * Labels (and probabilities) of one pixel from its k scores (s[i * step]).
 * mode: 0 plain scores, 1 already probabilities (a softmax), 2 K = 1 logit,
 * 3 K = 1 probability (a sigmoid).
 */
static void classify(const float *s, size_t step, int k, int mode, uint8_t *label, float *prob)
{
	if (k == 1) {
		double p = mode == 3 ? s[0] : 1.0 / (1.0 + exp(-(double)s[0]));
		*label = p > 0.5;
		if (prob)
			prob[0] = (float)p;
		return;
	}
	int best = 0;
	for (int i = 1; i < k; i++)
		if (s[i * step] > s[best * step])
			best = i;
	*label = (uint8_t)best;
	if (!prob)
		return;
	if (mode == 1) {
		for (int i = 0; i < k; i++)
			prob[i] = s[i * step];
		return;
	}
	double mx = s[best * step], sum = 0;
	for (int i = 0; i < k; i++)
		sum += exp((double)s[i * step] - mx);
	for (int i = 0; i < k; i++)
		prob[i] = (float)(exp((double)s[i * step] - mx) / sum);
}

/* How output scores are read: see classify(). */
static int score_mode(const cnnf_graph *g, int k, int ndim)
{
	if (k == 1)
		return ends_in(g, "Sigmoid") ? 3 : 2;
	return ends_in_class_softmax(g, ndim) ? 1 : 0;
}

static int check_classes(const cnnf_graph *g, const char *name, int64_t k)
{
	if (k < 1 || k > 256) {
		cnnf_error("%s: %s gives %" PRId64 " classes; a label map holds 1 to 256", name,
			   g->file, k);
		return -1;
	}
	return 0;
}

/* ---- Tiles: an image too large for the limits, in pieces that give the same result ---- */

/*
 * The limits a whole-image preparation is tried under again, to tell the
 * limits from other reasons; nothing of that size is allocated, the graph
 * is only prepared so (shapes) and then tiled.
 */
#define RELAXED_ELEMENTS ((uint64_t)1 << 40)
#define RELAXED_BYTES ((uint64_t)1 << 46)

int cnnf_infer_prepare_over(cnnf_graph *g, const int *ndim,
			    const int64_t (*shape)[CNNF_GRAPH_MAX_DIMS], int *over)
{
	*over = 0;
	if (cnnf_graph_prepare(g, ndim, shape, NULL) == 0)
		return 0;
	cnnf_graph_limits keep = g->limits;
	if (g->limits.max_elements < RELAXED_ELEMENTS)
		g->limits.max_elements = RELAXED_ELEMENTS;
	if (g->limits.max_activation < RELAXED_BYTES)
		g->limits.max_activation = RELAXED_BYTES;
	int rc = cnnf_graph_prepare(g, ndim, shape, NULL);
	g->limits = keep;
	if (rc)
		return -1;
	*over = 1;
	return 0;
}

/*
 * Prepare g for the whole image. When only the activation limits stand in
 * the way, *geo receives the graph's geometry (tileable; else the error
 * names the node) and g is left prepared without them: it must then run
 * in tiles, never as it is. 0 or -1.
 */
static int prepare_whole(cnnf_graph *g, const cnnf_infer_opts *o, const char *name, int c, int h,
			 int w, cnnf_geometry **geo)
{
	*geo = NULL;
	int nd = 4, over;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, c, h, w}};
	g->threads = o->threads;
	if (cnnf_infer_prepare_over(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, &over))
		return -1;
	/* The whole image's work bounds the tiles' (their margins apart). */
	if (check_work(g, o, name))
		return -1;
	if (!over)
		return 0;
	cnnf_graph_limits keep = g->limits;
	cnnf_geometry *ge = cnnf_geometry_new(g);
	const char *why;
	if (!ge)
		return -1;
	if (!cnnf_geometry_tileable(ge, &why)) {
		cnnf_error("%s: too large for --max-activations %" PRIu64 ", and %s cannot run in "
			   "tiles: %s",
			   name, keep.max_elements, g->file, why);
		cnnf_geometry_free(ge);
		return -1;
	}
	*geo = ge;
	return 0;
}

/* One tile along an axis: output rows [oc0, oc1) kept, made from input rows [x0, x1). */
typedef struct span {
	int64_t oc0, oc1, x0, x1;
} span;

/*
 * The tiles along axis for cores of `core` input rows: output rows split at
 * the cores' edges, each tile's input what its rows need, its origin a
 * multiple of the total stride (and its end too, but at the image's).
 */
static int plan_axis(const cnnf_graph *g, cnnf_geometry *geo, int axis, int64_t n_in,
		     int64_t n_out, int64_t core, span *sp, int *count, int64_t *ext)
{
	int64_t num, den, al = cnnf_geometry_align(geo, axis);
	cnnf_geometry_scale(geo, g->out[0], axis, &num, &den);
	int k = 0;
	*ext = 0;
	for (int64_t at = 0; at < n_in; at += core) {
		int64_t oc0 = at * num / den;
		int64_t oc1 = at + core >= n_in ? n_out : (at + core) * num / den;
		if (oc1 > n_out)
			oc1 = n_out;
		if (oc0 >= oc1)
			continue;
		int64_t lo, hi;
		if (cnnf_geometry_need(geo, axis, oc0, oc1 - 1, &lo, &hi))
			return -1;
		int64_t x0 = lo < 0 ? 0 : lo / al * al;
		int64_t x1 = hi + 1 >= n_in ? n_in : (hi + al) / al * al;
		if (x1 > n_in)
			x1 = n_in;
		if (x1 <= x0)
			x1 = x0 + 1;
		sp[k++] = (span){oc0, oc1, x0, x1};
		if (x1 - x0 > *ext)
			*ext = x1 - x0;
	}
	*count = k;
	return 0;
}

/* What one tile's output gives: a core of rows x cols at (y, x) of the whole output. */
typedef struct tile_out {
	const float *data; /* the tile's output, c x th x tw */
	int64_t c, th, tw;
	int64_t oy, ox;    /* the core's corner in the tile's output */
	int64_t y, x;      /* and in the whole output */
	int64_t rows, cols;
} tile_out;

typedef void (*tile_sink)(void *ctx, const tile_out *t);

/* A copy of w x h pixels of img from (x0, y0). */
static cnnf_image *crop(const cnnf_image *img, int x0, int y0, int w, int h)
{
	cnnf_image *t = cnnf_image_new(w, h, img->channels, img->type);
	if (!t)
		return NULL;
	t->maxval = img->maxval;
	t->alpha = img->alpha;
	size_t px = (size_t)img->channels * (size_t)img->type;
	for (int y = 0; y < h; y++)
		memcpy(cnnf_image_row(t, y), (const char *)cnnf_image_row(img, y0 + y) + (size_t)x0 * px,
		       (size_t)w * px);
	return t;
}

/* Prepare g for a tile of h x w and check that it maps every node as the whole image does. */
static int prepare_tile(cnnf_graph *g, const cnnf_geometry *geo, const cnnf_infer_opts *o,
			const char *name, int c, int64_t h, int64_t w)
{
	if (prepare(g, o, name, 1, c, (int)h, (int)w))
		return -1;
	cnnf_geometry *t = cnnf_geometry_new(g);
	int rc = t ? cnnf_geometry_same(geo, t) : -1;
	cnnf_geometry_free(t);
	return rc;
}

/*
 * Run g (prepared for the whole image without limits, geometry geo) on
 * tiles of img, as large as the limits allow, handing each tile's core to
 * sink. The tiles are chosen square in input pixels, a multiple of both
 * axes' total strides, the largest whose tile (with its margins) prepares
 * within the limits.
 */
static int run_tiles(cnnf_graph *g, cnnf_geometry *geo, const cnnf_image *img, const char *name,
		     const cnnf_infer_opts *o, const float *mean, const float *std, tile_sink sink,
		     void *ctx)
{
	int rc = -1, c = img->channels, ny = 0, nx = 0;
	int64_t H = img->height, W = img->width;
	int64_t OH = g->val[g->out[0]].dim[2], OW = g->val[g->out[0]].dim[3];
	int64_t al = cnnf_geometry_align(geo, 0), a1 = cnnf_geometry_align(geo, 1);
	int64_t g1 = al, g2 = a1;
	while (g2) {
		int64_t t = g1 % g2;
		g1 = g2;
		g2 = t;
	}
	int64_t unit = al / g1 * a1; /* a multiple of both axes' strides */
	int64_t most = ((H > W ? H : W) + unit - 1) / unit, ey = 0, ex = 0;
	span *sy = malloc((size_t)H * sizeof *sy), *sx = malloc((size_t)W * sizeof *sx);
	float zero[CNNF_INFER_MAX_CHANNELS];
	if (!sy || !sx) {
		cnnf_error("%s: out of memory", name);
		goto out;
	}
	/* The largest core side (in units) whose biggest tile prepares within the limits. */
	int64_t good = 0, bad = most + 1;
	char first[CNNF_ERROR_MAX] = "";
	while (bad - good > 1) {
		int64_t m = good == 0 && bad == most + 1 ? 1 : (good + bad) / 2;
		if (plan_axis(g, geo, 0, H, OH, m * unit, sy, &ny, &ey) ||
		    plan_axis(g, geo, 1, W, OW, m * unit, sx, &nx, &ex))
			goto out;
		if (prepare_tile(g, geo, o, name, c, ey, ex) == 0) {
			good = m;
		} else {
			if (m == 1)
				snprintf(first, sizeof first, "%s", cnnf_error_get());
			bad = m;
		}
	}
	if (good == 0) {
		cnnf_error("%s: too large for --max-activations %" PRIu64 " even in tiles of "
			   "%" PRId64 "x%" PRId64 ": %s",
			   name, g->limits.max_elements, ey, ex, first);
		goto out;
	}
	if (plan_axis(g, geo, 0, H, OH, good * unit, sy, &ny, &ey) ||
	    plan_axis(g, geo, 1, W, OW, good * unit, sx, &nx, &ex))
		goto out;
	if (o->notice) {
		char msg[256];
		snprintf(msg, sizeof msg,
			 "image too large for --max-activations %" PRIu64 ": running in %d tiles of "
			 "%" PRId64 "x%" PRId64,
			 g->limits.max_elements, ny * nx, ey, ex);
		o->notice(o->notice_ctx, msg);
	}
	int64_t ph = -1, pw = -1;
	for (int i = 0; i < ny; i++) {
		for (int j = 0; j < nx; j++) {
			const span *a = &sy[i], *b = &sx[j];
			int64_t th = a->x1 - a->x0, tw = b->x1 - b->x0, lo, hi;
			if ((th != ph || tw != pw) && prepare_tile(g, geo, o, name, c, th, tw))
				goto out;
			ph = th;
			pw = tw;
			if (cnnf_geometry_need(geo, 0, a->oc0, a->oc1 - 1, &lo, &hi) ||
			    cnnf_geometry_covers(geo, g, 0, a->x0) ||
			    cnnf_geometry_need(geo, 1, b->oc0, b->oc1 - 1, &lo, &hi) ||
			    cnnf_geometry_covers(geo, g, 1, b->x0))
				goto out;
			cnnf_image *part = crop(img, (int)b->x0, (int)a->x0, (int)tw, (int)th);
			cnnf_tensor *norm = part ? cnnf_segment_normalise_by(part, mean, std, zero) : NULL;
			cnnf_image_free(part);
			if (!norm)
				goto out;
			void *res = NULL;
			const void *in[1] = {norm->data};
			int run = cnnf_graph_run(g, in, &res);
			cnnf_tensor_free(norm);
			if (run)
				goto out;
			const cnnf_value *ov = &g->val[g->out[0]];
			int64_t num0, den0, num1, den1;
			cnnf_geometry_scale(geo, g->out[0], 0, &num0, &den0);
			cnnf_geometry_scale(geo, g->out[0], 1, &num1, &den1);
			tile_out t = {.data = res, .c = ov->dim[1], .th = ov->dim[2], .tw = ov->dim[3],
				      .oy = a->oc0 - a->x0 * num0 / den0,
				      .ox = b->oc0 - b->x0 * num1 / den1, .y = a->oc0, .x = b->oc0,
				      .rows = a->oc1 - a->oc0, .cols = b->oc1 - b->oc0};
			sink(ctx, &t);
			free(res);
		}
		if (o->progress)
			o->progress(o->progress_ctx, (size_t)sy[i].oc1, (size_t)OH);
	}
	rc = 0;
out:
	free(sy);
	free(sx);
	return rc;
}

static int segment_fcn(cnnf_graph *g, const cnnf_image *img, const char *name, float *input,
		       cnnf_image *lab, cnnf_image **probs, int *classes)
{
	const cnnf_value *ov = &g->val[g->out[0]];
	int64_t k = ov->dim[1];
	if (check_classes(g, name, k))
		return -1;
	void *out = NULL;
	const void *in[1] = {input};
	if (cnnf_graph_run(g, in, &out))
		return -1;
	int mode = score_mode(g, (int)k, 4);
	cnnf_image *pr = NULL;
	if (probs && !(pr = cnnf_image_new(img->width, img->height, (int)k, CNNF_F32))) {
		free(out);
		return -1;
	}
	size_t plane = (size_t)img->width * img->height;
	const float *s = out;
	uint8_t *l = lab->data;
	float *p = pr ? pr->data : NULL;
	for (size_t i = 0; i < plane; i++)
		classify(s + i, plane, (int)k, mode, l + i, p ? p + i * (size_t)k : NULL);
	free(out);
	if (probs)
		*probs = pr;
	*classes = k == 1 ? 2 : (int)k;
	return 0;
}

/* Labels (and probabilities) of each tile's core. */
typedef struct label_sink {
	int k, mode;
	int64_t width; /* of the image */
	uint8_t *labels;
	float *probs;
} label_sink;

static void label_core(void *ctx, const tile_out *t)
{
	const label_sink *ls = ctx;
	size_t plane = (size_t)(t->th * t->tw);
	for (int64_t r = 0; r < t->rows; r++)
		for (int64_t q = 0; q < t->cols; q++) {
			size_t at = (size_t)((t->oy + r) * t->tw + t->ox + q);
			size_t px = (size_t)((t->y + r) * ls->width + t->x + q);
			classify(t->data + at, plane, ls->k, ls->mode, ls->labels + px,
				 ls->probs ? ls->probs + px * (size_t)ls->k : NULL);
		}
}

/* segment_fcn on tiles: g prepared for the whole image without limits, geometry geo. */
static int segment_tiles(cnnf_graph *g, cnnf_geometry *geo, const cnnf_image *img,
			 const char *name, const cnnf_infer_opts *o, const float *mean,
			 const float *std, cnnf_image *lab, cnnf_image **probs, int *classes)
{
	int64_t k = g->val[g->out[0]].dim[1];
	if (check_classes(g, name, k))
		return -1;
	cnnf_image *pr = NULL;
	if (probs && !(pr = cnnf_image_new(img->width, img->height, (int)k, CNNF_F32)))
		return -1;
	label_sink ls = {.k = (int)k, .mode = score_mode(g, (int)k, 4), .width = img->width,
			 .labels = lab->data, .probs = pr ? pr->data : NULL};
	if (run_tiles(g, geo, img, name, o, mean, std, label_core, &ls)) {
		cnnf_image_free(pr);
		return -1;
	}
	if (probs)
		*probs = pr;
	*classes = k == 1 ? 2 : (int)k;
	return 0;
}

/*
 * Patch classification: batches of patches run in parallel, each worker on a
 * graph of its own (the model loaded once more for each), each graph on one
 * thread; every patch's scores depend only on the patch, so the labels do
 * not depend on the thread count.
 */
typedef struct patch_job {
	cnnf_graph **graphs;   /* [nslot] prepared for a batch */
	atomic_int *busy;      /* [nslot] taken by a worker */
	int nslot;
	const cnnf_tensor *norm;
	const float *zero;
	cnnf_border border;
	int ph, pw, batch, mode;
	int64_t k;
	size_t psize, total, first; /* this block's patches: first .. first + count */
	int width;
	uint8_t *labels;
	float *probs;
} patch_job;

static int patch_batches(void *ctx, size_t begin, size_t end)
{
	patch_job *j = ctx;
	int slot = -1;
	for (int i = 0; slot < 0; i = (i + 1) % j->nslot) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&j->busy[i], &expect, 1))
			slot = i;
	}
	cnnf_graph *g = j->graphs[slot];
	int rc = -1;
	float *buf = malloc(j->psize * (size_t)j->batch * sizeof *buf);
	if (!buf)
		goto out;
	for (size_t bi = begin; bi < end; bi++) {
		size_t at = j->first + bi * (size_t)j->batch;
		size_t n = j->total - at < (size_t)j->batch ? j->total - at : (size_t)j->batch;
		for (size_t b = 0; b < (size_t)j->batch; b++) {
			/* A short last batch repeats its last patch; those scores are not used. */
			size_t q = at + (b < n ? b : n - 1);
			cnnf_segment_patch(j->norm, j->zero, j->border, j->ph, j->pw,
					   (int)(q / (size_t)j->width), (int)(q % (size_t)j->width),
					   buf + b * j->psize, 1);
		}
		const void *in[1] = {buf};
		void *out = NULL;
		if (cnnf_graph_run(g, in, &out))
			goto out;
		const float *sc = out;
		for (size_t b = 0; b < n; b++)
			classify(sc + b * (size_t)j->k, 1, (int)j->k, j->mode, j->labels + at + b,
				 j->probs ? j->probs + (at + b) * (size_t)j->k : NULL);
		free(out);
	}
	rc = 0;
out:
	free(buf);
	atomic_store(&j->busy[slot], 0);
	return rc;
}

/* The scores of a dense tile, labelled as the patch graph's would be. */
typedef struct dense_job {
	int k, mode, width;
	uint8_t *labels;
	float *probs;
} dense_job;

static void dense_rows(void *ctx, const cnnf_tensor *scores, int y0, int rows, int x0, int cols)
{
	const dense_job *j = ctx;
	size_t plane = (size_t)scores->h * scores->w;
	for (int y = 0; y < rows; y++)
		for (int x = 0; x < cols; x++) {
			size_t pixel = (size_t)(y0 + y) * j->width + x0 + x;
			classify(scores->data + (size_t)y * scores->w + x, plane, j->k, j->mode,
				 j->labels + pixel, j->probs ? j->probs + pixel * (size_t)j->k : NULL);
		}
}

/*
 * A patch classifier in its dense form, when it has one: 0 done, 1 not
 * possible (patch mode then runs), -1 on error. The same bits as patch
 * mode: the dense form makes each patch's products and sums in its order.
 */
static int segment_dense(const cnnf_graph *g, const cnnf_image *img, const cnnf_infer_opts *o,
			 const input_shape *s, const float *mean, const float *std, float *zero,
			 int mode, int k, cnnf_image *lab, cnnf_image **probs)
{
	cnnf_graph *d = NULL;
	if (cnnf_onnx_load(g->file, &g->limits, &d))
		return -1;
	char why[200];
	int rc = cnnf_pass_fuse(d) < 0 ? -1 : cnnf_pass_dense(d, why, sizeof why);
	if (rc == 0 && cnnf_pass_fuse_pool(d) < 0)
		rc = -1;
	cnnf_tensor *norm = NULL;
	if (rc)
		goto out;
	rc = -1;
	if (probs && !(*probs = cnnf_image_new(img->width, img->height, k, CNNF_F32)))
		goto out;
	if (!(norm = cnnf_segment_normalise_by(img, mean, std, zero)))
		goto out;
	cnnf_segment_opts so;
	cnnf_segment_opts_init(&so);
	so.threads = o->threads;
	so.progress = o->progress;
	so.progress_ctx = o->progress_ctx;
	dense_job j = {k, mode, img->width, lab->data, probs ? (*probs)->data : NULL};
	rc = cnnf_segment_dense(d, norm, zero, o->border, s->h, s->w, &so, dense_rows, &j);
out:
	if (rc && probs) {
		cnnf_image_free(*probs);
		*probs = NULL;
	}
	cnnf_tensor_free(norm);
	cnnf_graph_free(d);
	return rc;
}

static int segment_patches(cnnf_graph *g, const cnnf_image *img, const char *name,
			   const cnnf_infer_opts *o, const input_shape *s, const float *mean,
			   const float *std, cnnf_image *lab, cnnf_image **probs, int *classes)
{
	int rc = -1, ph = s->h, pw = s->w, c = s->c;
	int batch = s->batch_free ? PATCH_BATCH : 1;
	int nslot = cnnf_parallel_threads(o->threads);
	float *zero = malloc((size_t)c * sizeof *zero);
	cnnf_graph **graphs = calloc((size_t)nslot, sizeof *graphs);
	atomic_int *busy = calloc((size_t)nslot, sizeof *busy);
	cnnf_image *pr = NULL;
	cnnf_tensor *norm = NULL;
	if (!zero || !graphs || !busy) {
		cnnf_error("%s: out of memory", name);
		goto done;
	}
	cnnf_infer_opts one = *o;
	one.threads = 1;
	if (prepare(g, &one, name, batch, c, ph, pw))
		goto done;
	const cnnf_value *ov = &g->val[g->out[0]];
	uint64_t count = cnnf_value_count(ov);
	int64_t k = (int64_t)(count / (uint64_t)batch);
	int ok = ov->ndim >= 1 && ov->dim[0] == (ov->ndim == 1 ? k : batch) &&
		 (ov->ndim <= 2 || (ov->ndim == 4 && ov->dim[2] == 1 && ov->dim[3] == 1));
	if (ov->ndim == 1 && batch != 1)
		ok = 0;
	if (!ok || k * batch != (int64_t)count) {
		char b[160];
		cnnf_graph_shape_str(b, sizeof b, ov->ndim, ov->dim);
		cnnf_error("%s: a patch classifier's output is K, 1 x K or 1 x K x 1 x 1, not %s "
			   "(output '%s')",
			   g->file, b, ov->name);
		goto done;
	}
	if (check_classes(g, name, k))
		goto done;
	double work = g->work / batch * img->width * (double)img->height;
	if (o->max_work > 0 && work > o->max_work) {
		cnnf_error("%s: segmenting it with %s would take about %.3g multiply-adds, more "
			   "than --max-work %.6g allows (0: no limit)",
			   name, g->file, work, o->max_work);
		goto done;
	}
	int mode = score_mode(g, (int)k, ov->ndim == 4 ? 4 : 2);
	if (o->dense) {
		int r = segment_dense(g, img, o, s, mean, std, zero, mode, (int)k, lab, probs ? &pr : NULL);
		if (r < 0)
			goto done;
		if (r == 0) {
			if (probs) {
				*probs = pr;
				pr = NULL;
			}
			*classes = k == 1 ? 2 : (int)k;
			rc = 0;
			goto done;
		}
	}
	size_t total = (size_t)img->width * img->height;
	size_t nbatch = (total + (size_t)batch - 1) / (size_t)batch;
	if ((size_t)nslot > nbatch)
		nslot = (int)nbatch;
	graphs[0] = g;
	for (int i = 1; i < nslot; i++)
		if (cnnf_onnx_load(g->file, &g->limits, &graphs[i]) ||
		    prepare(graphs[i], &one, name, batch, c, ph, pw))
			goto done;
	if (probs && !(pr = cnnf_image_new(img->width, img->height, (int)k, CNNF_F32)))
		goto done;
	if (!(norm = cnnf_segment_normalise_by(img, mean, std, zero)))
		goto done;
	patch_job j = {.graphs = graphs, .busy = busy, .nslot = nslot, .norm = norm,
		       .zero = zero, .border = o->border, .ph = ph, .pw = pw, .batch = batch,
		       .mode = mode, .k = k, .psize = (size_t)c * ph * pw, .total = total,
		       .width = img->width, .labels = lab->data, .probs = pr ? pr->data : NULL};
	/* Blocks of rows, so that progress is reported from this thread between them. */
	size_t per_block = (size_t)img->width * ((size_t)img->height / 50 + 1);
	per_block = (per_block + (size_t)batch - 1) / (size_t)batch * (size_t)batch;
	for (size_t at = 0; at < total; at += per_block) {
		size_t n = total - at < per_block ? total - at : per_block;
		j.first = at;
		if (cnnf_parallel_for((n + (size_t)batch - 1) / (size_t)batch, nslot, patch_batches,
				      &j) < 0) {
			cnnf_error("%s: out of memory", name);
			goto done;
		}
		if (o->progress)
			o->progress(o->progress_ctx, (at + n) / (size_t)img->width, (size_t)img->height);
	}
	if (probs) {
		*probs = pr;
		pr = NULL;
	}
	*classes = k == 1 ? 2 : (int)k;
	rc = 0;
done:
	for (int i = 1; graphs && i < nslot; i++)
		cnnf_graph_free(graphs[i]);
	free(graphs);
	free(busy);
	free(zero);
	cnnf_image_free(pr);
	cnnf_tensor_free(norm);
	return rc;
}

int cnnf_infer_segment(cnnf_graph *g, const cnnf_image *img, const char *name,
		       const cnnf_infer_opts *o, cnnf_image **labels, cnnf_image **probs,
		       int *classes)
{
	input_shape s;
	float mean[CNNF_INFER_MAX_CHANNELS], std[CNNF_INFER_MAX_CHANNELS];
	if (model_input(g, img, name, &s) || norm_values(o, s.c, mean, std))
		return -1;
	int rc = -1;
	cnnf_image *lab = cnnf_image_new(img->width, img->height, 1, CNNF_U8);
	cnnf_tensor *norm = NULL;
	cnnf_geometry *geo = NULL;
	if (!lab)
		return -1;
	/* A fixed input of another size than the image's: a patch classifier. */
	int fixed = s.h && s.w && (s.h != img->height || s.w != img->width);
	if (!fixed) {
		float zero[CNNF_INFER_MAX_CHANNELS];
		if (prepare_whole(g, o, name, s.c, img->height, img->width, &geo))
			goto out;
		const cnnf_value *ov = &g->val[g->out[0]];
		int fcn = ov->ndim == 4 && ov->dim[0] == 1 && ov->dim[2] == img->height &&
			  ov->dim[3] == img->width;
		if (!fcn && !(s.h && s.w)) {
			char b[160];
			cnnf_graph_shape_str(b, sizeof b, ov->ndim, ov->dim);
			cnnf_error("%s: output '%s' is %s for a %dx%d image; segment wants 1 x K x %d x "
				   "%d (or a patch classifier of fixed input size)",
				   g->file, ov->name, b, img->width,
				   img->height, img->height, img->width);
			goto out;
		}
		if (fcn && geo) {
			if (segment_tiles(g, geo, img, name, o, mean, std, lab, probs, classes))
				goto out;
			goto done;
		}
		if (fcn) {
			if (!(norm = cnnf_segment_normalise_by(img, mean, std, zero)))
				goto out;
			if (segment_fcn(g, img, name, norm->data, lab, probs, classes))
				goto out;
			goto done;
		}
	}
	if (segment_patches(g, img, name, o, &s, mean, std, lab, probs, classes))
		goto out;
done:
	*labels = lab;
	lab = NULL;
	rc = 0;
out:
	cnnf_image_free(lab);
	cnnf_tensor_free(norm);
	cnnf_geometry_free(geo);
	return rc;
}

/* Each tile's core into the output image (an interleaved float image, as cnnf_tensor_to_image makes). */
static void image_core(void *ctx, const tile_out *t)
{
	cnnf_image *im = ctx;
	size_t plane = (size_t)(t->th * t->tw), nc = (size_t)im->channels;
	float *d = im->data;
	for (int64_t r = 0; r < t->rows; r++)
		for (int64_t q = 0; q < t->cols; q++) {
			const float *src = t->data + (size_t)((t->oy + r) * t->tw + t->ox + q);
			float *dst = d + ((size_t)((t->y + r) * im->width + t->x + q)) * nc;
			for (size_t ch = 0; ch < nc; ch++)
				dst[ch] = src[ch * plane];
		}
}

int cnnf_infer_apply(cnnf_graph *g, const cnnf_image *img, const char *name,
		     const cnnf_infer_opts *o, cnnf_image **out)
{
	input_shape s;
	float mean[CNNF_INFER_MAX_CHANNELS], std[CNNF_INFER_MAX_CHANNELS],
		zero[CNNF_INFER_MAX_CHANNELS];
	if (model_input(g, img, name, &s) || norm_values(o, s.c, mean, std))
		return -1;
	cnnf_geometry *geo = NULL;
	if (prepare_whole(g, o, name, s.c, img->height, img->width, &geo))
		return -1;
	const cnnf_value *ov = &g->val[g->out[0]];
	if (ov->ndim != 4 || ov->dim[0] != 1 || ov->dim[1] < 1 || ov->dim[2] < 1 || ov->dim[3] < 1 ||
	    ov->dim[1] > CNNF_MAX_CHANNELS || ov->dim[2] > INT32_MAX || ov->dim[3] > INT32_MAX) {
		cnnf_error("%s: output '%s' is not an image (1 x C x H x W)", g->file, ov->name);
		cnnf_geometry_free(geo);
		return -1;
	}
	int c = (int)ov->dim[1], h = (int)ov->dim[2], w = (int)ov->dim[3];
	if (geo) {
		cnnf_image *im = cnnf_image_new(w, h, c, CNNF_F32);
		int rc = im ? 0 : -1;
		if (im) {
			/* As cnnf_tensor_to_image makes it. */
			im->maxval = 1;
			im->alpha = c == 4;
			rc = run_tiles(g, geo, img, name, o, mean, std, image_core, im);
		}
		cnnf_geometry_free(geo);
		if (rc) {
			cnnf_image_free(im);
			return -1;
		}
		*out = im;
		return 0;
	}
	cnnf_tensor *norm = cnnf_segment_normalise_by(img, mean, std, zero);
	if (!norm)
		return -1;
	void *res = NULL;
	const void *in[1] = {norm->data};
	int rc = cnnf_graph_run(g, in, &res);
	cnnf_tensor_free(norm);
	if (rc)
		return -1;
	cnnf_tensor t = {.c = c, .h = h, .w = w, .data = res};
	cnnf_image *im = cnnf_tensor_to_image(&t, CNNF_F32, 1, c == 4);
	free(res);
	if (!im)
		return -1;
	*out = im;
	return 0;
}
