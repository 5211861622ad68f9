/* check_infer.c: PyTorch-made ONNX models (tests/data/onnx) through the reader, the graph and task/infer. */
#include <math.h>
#include <stdint.h>

#include "nn/graph.h"
#include "nn/onnx.h"
#include "task/infer.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A float32 little-endian C-order .npy file: its shape and data (malloc'd). */
typedef struct npy {
	int ndim;
	int64_t dim[8];
	size_t n;
	float *v;
} npy;

static npy npy_read(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/onnx/%s", TEST_DATA_DIR, name);
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "%s: cannot open", path);
	unsigned char pre[10];
	ck_assert_int_eq(fread(pre, 1, 10, fp), 10);
	size_t hl = pre[8] | (size_t)pre[9] << 8;
	char *h = calloc(hl + 1, 1);
	ck_assert_int_eq(fread(h, 1, hl, fp), hl);
	ck_assert_msg(strstr(h, "'<f4'") && strstr(h, "'fortran_order': False"), "%s: %s", path, h);
	npy a = {0};
	a.n = 1;
	for (const char *s = strchr(strstr(h, "'shape'"), '(') + 1; *s && *s != ')';) {
		char *end;
		long d = strtol(s, &end, 10);
		if (end == s) {
			s++;
			continue;
		}
		a.dim[a.ndim++] = d;
		a.n *= (size_t)d;
		s = end;
	}
	free(h);
	a.v = malloc(a.n * sizeof *a.v);
	ck_assert_int_eq(fread(a.v, sizeof *a.v, a.n, fp), a.n);
	fclose(fp);
	return a;
}

static cnnf_graph *load(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/onnx/%s", TEST_DATA_DIR, name);
	cnnf_graph *g = NULL;
	ck_assert_msg(cnnf_onnx_load(path, NULL, &g) == 0, "%s", cnnf_error_get());
	return g;
}

/* Run g on in (1 x C x H x W) with threads; the output (malloc'd) and its shape in g. */
static float *run(cnnf_graph *g, const npy *in, int threads)
{
	int nd = in->ndim;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{0}};
	memcpy(shape[0], in->dim, (size_t)nd * sizeof *in->dim);
	g->threads = threads;
	ck_assert_msg(cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) ==
			      0,
		      "%s", cnnf_error_get());
	const void *data[1] = {in->v};
	void *out[1] = {NULL};
	ck_assert_msg(cnnf_graph_run(g, data, out) == 0, "%s", cnnf_error_get());
	return out[0];
}

static const char *const models[] = {"unet",   "resfcn",   "mobilenet", "inception",
				     "senet",  "superres", "patch",     "misc"};
static const int opsets[] = {11, 13, 17};

/* ---- core ------------------------------------------------------------------------------- */

/* Every fixture at every opset within 1e-5 of PyTorch's float64 output (relative to its largest). */
START_TEST(test_fixtures)
{
	const char *m = models[_i / 3];
	int opset = opsets[_i % 3];
	char name[64];
	snprintf(name, sizeof name, "%s.in.npy", m);
	npy in = npy_read(name);
	snprintf(name, sizeof name, "%s.out.npy", m);
	npy want = npy_read(name);
	snprintf(name, sizeof name, "%s-op%d.onnx", m, opset);
	cnnf_graph *g = load(name);
	float *got = run(g, &in, 2);
	const cnnf_value *ov = &g->val[g->out[0]];
	ck_assert_int_eq(ov->ndim, want.ndim);
	for (int i = 0; i < want.ndim; i++)
		ck_assert_int_eq(ov->dim[i], want.dim[i]);
	double top = 0, err = 0;
	for (size_t i = 0; i < want.n; i++)
		top = fmax(top, fabs(want.v[i]));
	for (size_t i = 0; i < want.n; i++)
		err = fmax(err, fabs((double)got[i] - want.v[i]));
	ck_assert_msg(err <= 1e-5 * top, "%s: largest difference %g (largest output %g)", name, err,
		      top);
	/* The same bits on one thread. */
	float *one = run(g, &in, 1);
	ck_assert_msg(memcmp(one, got, want.n * sizeof *got) == 0, "%s: threads change the result",
		      name);
	free(one);
	free(got);
	cnnf_graph_free(g);
	free(in.v);
	free(want.v);
}
END_TEST

/* The same fully convolutional model runs at another size, and again at the first. */
START_TEST(test_other_size)
{
	cnnf_graph *g = load("unet-op11.onnx");
	npy in = npy_read("unet.in.npy");
	npy big = in;
	big.dim[2] = 40, big.dim[3] = 52;
	big.n = 3 * 40 * 52;
	big.v = calloc(big.n, sizeof *big.v);
	for (size_t i = 0; i < big.n; i++)
		big.v[i] = (float)((i * 7919) % 1000) / 1000.0f;
	float *a = run(g, &big, 2);
	ck_assert_int_eq(g->val[g->out[0]].dim[3], 52);
	free(a);
	npy want = npy_read("unet.out.npy");
	float *b = run(g, &in, 2);
	double err = 0;
	for (size_t i = 0; i < want.n; i++)
		err = fmax(err, fabs((double)b[i] - want.v[i]));
	ck_assert(err < 1e-4);
	free(b);
	free(big.v);
	free(in.v);
	free(want.v);
	cnnf_graph_free(g);
}
END_TEST

/* An image of the fixture's input (H, W, C) as segment feeds it: float samples as they are. */
static cnnf_image *image_of(const npy *in)
{
	int c = (int)in->dim[1], h = (int)in->dim[2], w = (int)in->dim[3];
	cnnf_image *img = cnnf_image_new(w, h, c, CNNF_F32);
	float *d = img->data;
	for (int ch = 0; ch < c; ch++)
		for (int p = 0; p < h * w; p++)
			d[(size_t)p * c + ch] = in->v[(size_t)ch * h * w + p];
	return img;
}

/* Labels of a fully convolutional model: the argmax of PyTorch's output wherever it is clear. */
START_TEST(test_segment_fcn)
{
	cnnf_graph *g = load("unet-op17.onnx");
	npy in = npy_read("unet.in.npy");
	npy want = npy_read("unet.out.npy");
	cnnf_image *img = image_of(&in), *labels = NULL, *probs = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	int k = 0;
	ck_assert_msg(cnnf_infer_segment(g, img, "in", &o, &labels, &probs, &k) == 0, "%s",
		      cnnf_error_get());
	ck_assert_int_eq(k, 3);
	size_t plane = (size_t)img->width * img->height;
	const uint8_t *l = labels->data;
	const float *p = probs->data;
	for (size_t i = 0; i < plane; i++) {
		float a = want.v[i], b = want.v[plane + i], c = want.v[2 * plane + i];
		int best = a >= b && a >= c ? 0 : b >= c ? 1 : 2;
		float second = best == 0 ? fmaxf(b, c) : best == 1 ? fmaxf(a, c) : fmaxf(a, b);
		float top = fmaxf(a, fmaxf(b, c));
		if (top - second > 1e-4f)
			ck_assert_int_eq(l[i], best);
		double s = exp(a - top) + exp(b - top) + exp(c - top);
		ck_assert(fabs(p[3 * i] - exp(a - top) / s) < 1e-5);
	}
	cnnf_image_free(img);
	cnnf_image_free(labels);
	cnnf_image_free(probs);
	free(in.v);
	free(want.v);
	cnnf_graph_free(g);
}
END_TEST

/* A patch classifier on a 15x15 image: the centre pixel's label is the fixture's argmax. */
START_TEST(test_segment_patch)
{
	cnnf_graph *g = load("patch-op13.onnx");
	npy in = npy_read("patch.in.npy");
	npy want = npy_read("patch.out.npy");
	cnnf_image *img = image_of(&in), *labels = NULL, *probs = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	int k = 0;
	ck_assert_msg(cnnf_infer_segment(g, img, "in", &o, &labels, &probs, &k) == 0, "%s",
		      cnnf_error_get());
	ck_assert_int_eq(k, 4);
	int best = 0;
	for (int i = 1; i < 4; i++)
		if (want.v[i] > want.v[best])
			best = i;
	ck_assert_int_eq(((uint8_t *)labels->data)[7 * 15 + 7], best);
	cnnf_image_free(img);
	cnnf_image_free(labels);
	cnnf_image_free(probs);
	free(in.v);
	free(want.v);
	cnnf_graph_free(g);
}
END_TEST

/* Image-to-image: the super-resolution output, twice the size, as a float image on 0..1. */
START_TEST(test_apply)
{
	cnnf_graph *g = load("superres-op13.onnx");
	npy in = npy_read("superres.in.npy");
	npy want = npy_read("superres.out.npy");
	cnnf_image *img = image_of(&in), *out = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	ck_assert_msg(cnnf_infer_apply(g, img, "in", &o, &out) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(out->width, 90);
	ck_assert_int_eq(out->height, 74);
	ck_assert_int_eq(out->channels, 3);
	ck_assert_uint_eq(out->maxval, 1);
	const float *d = out->data;
	size_t plane = 74 * 90;
	for (size_t i = 0; i < plane; i++)
		for (int c = 0; c < 3; c++)
			ck_assert(fabs(d[i * 3 + c] - want.v[c * plane + i]) < 1e-5);
	cnnf_image_free(img);
	cnnf_image_free(out);
	free(in.v);
	free(want.v);
	cnnf_graph_free(g);
}
END_TEST

/* Notes from a run: how many, and the last. */
typedef struct notes {
	int count;
	char last[256];
} notes;

static void note(void *ctx, const char *msg)
{
	notes *n = ctx;
	n->count++;
	snprintf(n->last, sizeof n->last, "%s", msg);
}

/*
 * An activation limit a third of the whole image's peak: the model runs in
 * tiles, says so once, and gives the whole image's labels, probabilities
 * and outputs bit for bit (so PyTorch's float64 output as closely).
 */
START_TEST(test_tiles)
{
	static const char *const files[] = {"inception-op17.onnx", "superres-op13.onnx",
					    "mobilenet-op11.onnx"};
	static const char *const ins[] = {"inception.in.npy", "superres.in.npy", "mobilenet.in.npy"};
	static const char *const outs[] = {"inception.out.npy", "superres.out.npy",
					   "mobilenet.out.npy"};
	int i = _i;
	cnnf_graph *g = load(files[i]);
	npy in = npy_read(ins[i]);
	npy want = npy_read(outs[i]);
	cnnf_image *img = image_of(&in), *whole = NULL, *tiled = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	notes n = {0};
	o.notice = note;
	o.notice_ctx = &n;
	ck_assert_msg(cnnf_infer_apply(g, img, "in", &o, &whole) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(n.count, 0);
	g->limits.max_activation = g->peak_bytes / 3;
	ck_assert_msg(cnnf_infer_apply(g, img, "in", &o, &tiled) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(n.count, 1);
	ck_assert_msg(strstr(n.last, "image too large for --max-activations") &&
			      strstr(n.last, " tiles of "),
		      "%s", n.last);
	ck_assert_int_eq(tiled->width, whole->width);
	ck_assert_int_eq(tiled->height, whole->height);
	ck_assert_int_eq(tiled->channels, whole->channels);
	size_t plane = (size_t)whole->width * whole->height, c = (size_t)whole->channels;
	ck_assert(memcmp(tiled->data, whole->data, plane * c * sizeof(float)) == 0);
	const float *d = tiled->data;
	float top = 0;
	for (size_t k = 0; k < plane * c; k++)
		top = fmaxf(top, fabsf(want.v[k]));
	for (size_t p = 0; p < plane; p++)
		for (size_t ch = 0; ch < c; ch++)
			ck_assert(fabsf(d[p * c + ch] - want.v[ch * plane + p]) < 1e-5f * top + 1e-6f);
	if (i == 0) {
		/* Segment on the same tiles: labels and probabilities as the whole image's. */
		cnnf_image *lw = NULL, *pw = NULL, *lt = NULL, *pt = NULL;
		int kw = 0, kt = 0;
		g->limits.max_activation = (uint64_t)1 << 32;
		ck_assert(cnnf_infer_segment(g, img, "in", &o, &lw, &pw, &kw) == 0);
		g->limits.max_activation = g->peak_bytes / 3;
		ck_assert_msg(cnnf_infer_segment(g, img, "in", &o, &lt, &pt, &kt) == 0, "%s",
			      cnnf_error_get());
		ck_assert_int_eq(n.count, 2);
		ck_assert_int_eq(kw, kt);
		ck_assert(memcmp(lw->data, lt->data, plane) == 0);
		ck_assert(memcmp(pw->data, pt->data, plane * (size_t)kw * sizeof(float)) == 0);
		cnnf_image_free(lw);
		cnnf_image_free(pw);
		cnnf_image_free(lt);
		cnnf_image_free(pt);
	}
	cnnf_image_free(img);
	cnnf_image_free(whole);
	cnnf_image_free(tiled);
	free(in.v);
	free(want.v);
	cnnf_graph_free(g);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(test_channel_mismatch)
{
	cnnf_graph *g = load("unet-op13.onnx");
	cnnf_image *img = cnnf_image_new(44, 36, 1, CNNF_U8), *labels = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	int k;
	ck_assert_int_eq(cnnf_infer_segment(g, img, "gray.png", &o, &labels, NULL, &k), -1);
	ck_assert_error_has("gray.png: the image has 1 channel;");
	ck_assert_error_has("unet-op13.onnx takes 3");
	cnnf_image_free(img);
	cnnf_graph_free(g);
}
END_TEST

START_TEST(test_not_an_image_output)
{
	cnnf_graph *g = load("patch-op17.onnx");
	npy in = npy_read("patch.in.npy");
	cnnf_image *img = image_of(&in), *out = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	ck_assert_int_eq(cnnf_infer_apply(g, img, "in", &o, &out), -1);
	ck_assert_error_has("is not an image (1 x C x H x W)");
	/* Limits: a tiny work bound refuses the run before it. */
	o.max_work = 10;
	cnnf_image *labels = NULL;
	int k;
	ck_assert_int_eq(cnnf_infer_segment(g, img, "in", &o, &labels, NULL, &k), -1);
	ck_assert_error_has("--max-work");
	cnnf_image_free(img);
	free(in.v);
	cnnf_graph_free(g);
}
END_TEST

START_TEST(test_bad_mean)
{
	cnnf_graph *g = load("unet-op13.onnx");
	npy in = npy_read("unet.in.npy");
	cnnf_image *img = image_of(&in), *labels = NULL;
	cnnf_infer_opts o;
	cnnf_infer_opts_init(&o);
	o.nmean = 2;
	int k;
	ck_assert_int_eq(cnnf_infer_segment(g, img, "in", &o, &labels, NULL, &k), -1);
	ck_assert_error_has("--mean and --std give 2 and 0 values; the image has 3 channels");
	cnnf_image_free(img);
	free(in.v);
	cnnf_graph_free(g);
}
END_TEST

static Suite *infer_suite(void)
{
	Suite *s = suite_create("infer");

	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 60);
	tcase_add_loop_test(core, test_fixtures, 0, 24);
	tcase_add_test(core, test_other_size);
	tcase_add_test(core, test_segment_fcn);
	tcase_add_test(core, test_segment_patch);
	tcase_add_test(core, test_apply);
	tcase_add_loop_test(core, test_tiles, 0, 3);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_channel_mismatch);
	tcase_add_test(errors, test_not_an_image_output);
	tcase_add_test(errors, test_bad_mean);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(infer_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
