/* check_model_graph.c: cnnf-model chains on the graph engine against a plain reference, and batches against single patches. */
#include <math.h>
#include <stdint.h>

#include "base/rng.h"
#include "nn/model.h"
#include "nn/model_graph.h"
#include "testutil.h"

/* The models of the tree (weights-init ones must be refused). */
static const char *const models[] = {"net/bn_dropout_fc.cnnf",   "net/conv_rect_dilation.cnnf",
                                     "net/conv_stride_pad.cnnf", "net/fc_only.cnnf",
                                     "net/pool_stride.cnnf",     "net/seg_small.cnnf",
                                     "net/small_cnn.cnnf",       "model/tiny.cnnf",
                                     "model/rf18.cnnf",          "../../samples/models/coins.cnnf"};
#define NMODELS ((int)(sizeof models / sizeof *models))

static cnnf_model *load(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, rel);
	cnnf_model *m = cnnf_model_load(path, NULL);
	ck_assert_msg(m != NULL, "%s: %s", rel, cnnf_error_get());
	return m;
}

/*
 * A plain reference of the forward pass, in double, layer by layer as
 * cnnf-model(5) defines it, on one C x H x W patch: x has the input and
 * receives the output of layers 0..k-1 (its shape in *c, *h, *w). Sized for
 * the test models (at most 64 Ki values per layer).
 */
#define REF_MAX 65536
static void reference(const cnnf_model *m, int k, double *x, int *c, int *h, int *w)
{
	static double y[REF_MAX];
	for (int li = 0; li < k; li++) {
		const cnnf_layer *l = &m->layers[li];
		int oc = *c, oh = *h, ow = *w;
		switch (l->type) {
		case CNNF_LAYER_CONV:
		case CNNF_LAYER_FC: {
			int fc = l->type == CNNF_LAYER_FC;
			int kh = fc ? *h : l->kh, kw = fc ? *w : l->kw, pad = fc ? 0 : l->pad;
			int s = fc ? 1 : l->stride, d = fc ? 1 : l->dilation;
			oc = l->out;
			oh = (*h + 2 * pad - d * (kh - 1) - 1) / s + 1;
			ow = (*w + 2 * pad - d * (kw - 1) - 1) / s + 1;
			for (int f = 0; f < oc; f++)
				for (int yy = 0; yy < oh; yy++)
					for (int xx = 0; xx < ow; xx++) {
						double sum = l->bias[f];
						for (int ch = 0; ch < *c; ch++)
							for (int i = 0; i < kh; i++)
								for (int j = 0; j < kw; j++) {
									int iy = yy * s - pad + i * d,
									    ix = xx * s - pad + j * d;
									if (iy < 0 || iy >= *h || ix < 0 || ix >= *w)
										continue;
									sum += (double)l->weight[((f * *c + ch) * kh + i) * kw + j] *
									       x[(ch * *h + iy) * *w + ix];
								}
						y[(f * oh + yy) * ow + xx] = sum;
					}
			break;
		}
		case CNNF_LAYER_MAXPOOL:
		case CNNF_LAYER_AVGPOOL:
			oh = (*h - l->kh) / l->stride + 1;
			ow = (*w - l->kw) / l->stride + 1;
			for (int ch = 0; ch < oc; ch++)
				for (int yy = 0; yy < oh; yy++)
					for (int xx = 0; xx < ow; xx++) {
						double best = -INFINITY, sum = 0;
						for (int i = 0; i < l->kh; i++)
							for (int j = 0; j < l->kw; j++) {
								double v = x[(ch * *h + yy * l->stride + i) * *w +
									     xx * l->stride + j];
								best = v > best ? v : best;
								sum += v;
							}
						y[(ch * oh + yy) * ow + xx] =
						    l->type == CNNF_LAYER_MAXPOOL ? best : sum / (l->kh * l->kw);
					}
			break;
		case CNNF_LAYER_RELU:
		case CNNF_LAYER_DROPOUT:
		case CNNF_LAYER_BATCHNORM:
			for (int ch = 0; ch < oc; ch++)
				for (int i = 0; i < oh * ow; i++) {
					double v = x[ch * oh * ow + i];
					if (l->type == CNNF_LAYER_RELU)
						v = v > 0 ? v : 0;
					else if (l->type == CNNF_LAYER_BATCHNORM)
						v = (v - l->mean[ch]) / sqrt(l->var[ch] + l->eps) * l->weight[ch] +
						    l->bias[ch];
					y[ch * oh * ow + i] = v;
				}
			break;
		case CNNF_LAYER_SOFTMAX:
			for (int i = 0; i < oh * ow; i++) {
				double top = -INFINITY, sum = 0;
				for (int ch = 0; ch < oc; ch++)
					top = fmax(top, x[ch * oh * ow + i]);
				for (int ch = 0; ch < oc; ch++)
					sum += exp(x[ch * oh * ow + i] - top);
				for (int ch = 0; ch < oc; ch++)
					y[ch * oh * ow + i] = exp(x[ch * oh * ow + i] - top) / sum;
			}
			break;
		}
		ck_assert_int_le(oc * oh * ow, REF_MAX);
		memcpy(x, y, sizeof(double) * (size_t)(oc * oh * ow));
		*c = oc, *h = oh, *w = ow;
	}
}

/*
 * The graph of m's first k layers on nb random patches at `threads` threads:
 * within float rounding of the double reference on each patch, and, run
 * as a batch, the same bits as each patch run alone (a batch of small maps
 * runs side by side in one engine run: nn/op_conv.c).
 */
static void compare_prefix(const char *rel, cnnf_model *m, int k, int nb, int threads,
                           uint64_t seed)
{
	cnnf_graph *g = NULL, *one = NULL;
	ck_assert_msg(cnnf_model_graph_layers(m, rel, k, &g) == 0, "%s", cnnf_error_get());
	ck_assert_msg(cnnf_model_graph_layers(m, rel, k, &one) == 0, "%s", cnnf_error_get());
	g->threads = threads;
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{nb, m->channels, m->height, m->width}};
	ck_assert_msg(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) == 0,
	    "%s: %s", rel, cnnf_error_get());
	shape[0][0] = 1;
	ck_assert_int_eq(
	    cnnf_graph_prepare(one, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL), 0);
	size_t psize = (size_t)m->channels * m->height * m->width;
	float *in = malloc(sizeof(float) * psize * nb);
	ck_assert_ptr_nonnull(in);
	cnnf_rng r;
	cnnf_rng_seed(&r, seed);
	for (size_t i = 0; i < psize * nb; i++)
		in[i] = (float)(4 * cnnf_rng_uniform(&r) - 2);
	const void *ins[1] = {in};
	void *outs[1] = {NULL};
	ck_assert_msg(cnnf_graph_run(g, ins, outs) == 0, "%s: %s", rel, cnnf_error_get());
	const cnnf_value *ov = &g->val[g->out[0]];
	ck_assert_int_eq(ov->ndim, 4);
	ck_assert_int_eq(ov->dim[0], nb);
	const float *y = outs[0];
	size_t osize = (size_t)(ov->dim[1] * ov->dim[2] * ov->dim[3]);
	static double x[REF_MAX];
	for (int b = 0; b < nb; b++) {
		/* Alone. */
		const void *in1[1] = {in + b * psize};
		void *out1[1] = {NULL};
		ck_assert_int_eq(cnnf_graph_run(one, in1, out1), 0);
		ck_assert_msg(memcmp(out1[0], y + b * osize, osize * sizeof(float)) == 0,
		              "%s, %d layers, patch %d of %d, %d threads: not the bits it has alone",
		              rel, k, b, nb, threads);
		free(out1[0]);
		/* Against the reference. */
		int c = m->channels, h = m->height, w = m->width;
		for (size_t i = 0; i < psize; i++)
			x[i] = in[b * psize + i];
		reference(m, k, x, &c, &h, &w);
		ck_assert_int_eq((size_t)(c * h * w), osize);
		ck_assert_int_eq(ov->dim[1], c);
		double top = 0;
		for (size_t i = 0; i < osize; i++)
			top = fmax(top, fabs(x[i]));
		for (size_t i = 0; i < osize; i++)
			ck_assert_msg(fabs(y[b * osize + i] - x[i]) <= 1e-5 * top + 1e-30,
			              "%s, %d layers, output %zu of patch %d: graph %.9g, reference %.9g",
			              rel, k, i, b, y[b * osize + i], x[i]);
	}
	free(outs[0]);
	free(in);
	cnnf_graph_free(g);
	cnnf_graph_free(one);
}

START_TEST(test_models_match_reference)
{
	const char *rel = models[_i];
	cnnf_model *m = load(rel);
	if (m->weights_init) {
		cnnf_graph *g = NULL;
		ck_assert_int_eq(cnnf_model_graph(m, rel, &g), -1);
		ck_assert_error_has("no weights yet");
		cnnf_model_free(m);
		return;
	}
	/* Every prefix, so that a difference is pinned to the layer that makes it. */
	for (int k = 1; k <= m->nlayers; k++)
		for (int threads = 1; threads <= 2; threads++) {
			compare_prefix(rel, m, k, 1, threads, 17 + (uint64_t)k);
			compare_prefix(rel, m, k, 5, threads, 1000 + (uint64_t)k);
		}
	cnnf_model_free(m);
}
END_TEST

/* Names and shapes the graph promises: one input, the output called "output", no dropout node. */
START_TEST(test_structure)
{
	cnnf_model *m = load("net/bn_dropout_fc.cnnf");
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, "bn", &g), 0);
	ck_assert_int_eq(g->opset, 17);
	ck_assert_int_eq(g->nin, 1);
	ck_assert_str_eq(g->val[g->in[0]].name, "input");
	ck_assert_int_eq(g->in_dim[0][0], -1);
	ck_assert_int_eq(g->in_dim[0][1], m->channels);
	ck_assert_int_eq(g->nout, 1);
	ck_assert_str_eq(g->val[g->out[0]].name, "output");
	for (int i = 0; i < g->nnode; i++)
		ck_assert_str_ne(g->node[i].op_type, "Dropout");
	int conv = 0, bn = 0;
	for (int i = 0; i < g->nnode; i++) {
		conv += !strcmp(g->node[i].op_type, "Conv");
		bn += !strcmp(g->node[i].op_type, "BatchNormalization");
	}
	ck_assert_int_eq(conv, 3); /* conv, fc, fc */
	ck_assert_int_eq(bn, 1);
	ck_assert_int_ge(cnnf_graph_find(g, "conv1.weight"), 0);
	ck_assert_int_ge(cnnf_graph_find(g, "batchnorm2.var"), 0);
	cnnf_graph_free(g);
	/* The graph has its own copy of the weights. */
	ck_assert_int_eq(cnnf_model_graph(m, "bn", &g), 0);
	cnnf_model_free(m);
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{2, 1, 6, 6}};
	ck_assert_int_eq(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL), 0);
	ck_assert_int_eq(g->val[g->out[0]].dim[0], 2);
	ck_assert_int_eq(g->val[g->out[0]].dim[1], 4);
	cnnf_graph_free(g);
}
END_TEST

/* A model of dropout only still has an output value of its own. */
START_TEST(test_dropout_only)
{
	const char *text = "cnnf-model 1\ninput channels=2 height=1 width=1\ndropout\n"
	                   "weights text 0\n";
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "d.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, "d.cnnf", &g), 0);
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, 2, 1, 1}};
	ck_assert_int_eq(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL), 0);
	float in[2] = {0.25f, -3};
	const void *ins[1] = {in};
	void *outs[1] = {NULL};
	ck_assert_int_eq(cnnf_graph_run(g, ins, outs), 0);
	ck_assert(memcmp(outs[0], in, sizeof in) == 0);
	free(outs[0]);
	cnnf_graph_free(g);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_errors)
{
	cnnf_model *m = load("model/tiny.cnnf");
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph_layers(m, "tiny", 0, &g), -1);
	ck_assert_error_has("tiny: 0 layers asked of a model of");
	ck_assert_int_eq(cnnf_model_graph_layers(m, "tiny", m->nlayers + 1, &g), -1);
	ck_assert_error_has("layers asked of a model of");
	ck_assert_ptr_null(g);
	cnnf_model_free(m);
	const char *text = "cnnf-model 1\ninput channels=1 height=3 width=3\nfc out=2\n"
	                   "weights init\n";
	m = cnnf_model_parse(text, strlen(text), "i.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(cnnf_model_graph(m, "i.cnnf", &g), -1);
	ck_assert_error_has("i.cnnf: the model has no weights yet (weights init)");
	ck_assert_ptr_null(g);
	cnnf_model_free(m);
	/* A prepared shape must keep the model's patch size. */
	m = load("model/tiny.cnnf");
	ck_assert_int_eq(cnnf_model_graph(m, "tiny", &g), 0);
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, 1, 5, 4}};
	ck_assert_int_eq(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL), -1);
	ck_assert_error_has("input");
	cnnf_graph_free(g);
	cnnf_model_free(m);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("model_graph");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 60);
	tcase_add_loop_test(c, test_models_match_reference, 0, NMODELS);
	tcase_add_test(c, test_structure);
	tcase_add_test(c, test_dropout_only);
	suite_add_tcase(s, c);
	TCase *e = tcase_create("errors");
	tcase_add_test(e, test_errors);
	suite_add_tcase(s, e);
	return s;
}

int main(void)
{
	return cnnf_test_run(suite()) ? 1 : 0;
}
