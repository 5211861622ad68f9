/* check_model_graph.c: cnnf-model chains on the graph engine against net.c, bit for bit. */
#include <math.h>
#include <stdint.h>

#include "base/rng.h"
#include "nn/model.h"
#include "nn/model_graph.h"
#include "nn/net.h"
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

/* Whether layers 0..k-1 are all computed with the same arithmetic on both sides. */
static int same_arithmetic(const cnnf_model *m, int k)
{
	for (int i = 0; i < k; i++)
		if (m->layers[i].type == CNNF_LAYER_BATCHNORM ||
		    m->layers[i].type == CNNF_LAYER_SOFTMAX)
			return 0;
	return 1;
}

/* Distance in units in the last place between two finite floats. */
static int64_t ulps(float a, float b)
{
	int32_t ia, ib;
	memcpy(&ia, &a, 4);
	memcpy(&ib, &b, 4);
	int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia,
	        lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
	return la > lb ? la - lb : lb - la;
}

/*
 * The graph of m's first k layers on nb random patches at `threads` threads
 * against net.c on each patch alone (a model cut after k layers): the same
 * bits where the arithmetic is the same, else within a few ulps.
 */
static void compare_prefix(const char *rel, cnnf_model *m, int k, int nb, int threads,
                           uint64_t seed)
{
	cnnf_graph *g = NULL;
	ck_assert_msg(cnnf_model_graph_layers(m, rel, k, &g) == 0, "%s", cnnf_error_get());
	g->threads = threads;
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{nb, m->channels, m->height, m->width}};
	ck_assert_msg(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) == 0,
	    "%s: %s", rel, cnnf_error_get());
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

	/* net.c on the same layers: the model with its later layers cut off. */
	cnnf_model cut = *m;
	cut.nlayers = k;
	cnnf_net *net = cnnf_net_new(&cut);
	ck_assert_ptr_nonnull(net);
	int exact = same_arithmetic(m, k);
	for (int b = 0; b < nb; b++) {
		cnnf_tensor x = {m->channels, m->height, m->width, in + b * psize};
		cnnf_tensor *want = NULL;
		ck_assert_int_eq(cnnf_net_forward(net, &x, &want), 0);
		size_t osize = cnnf_tensor_size(want);
		ck_assert_int_eq(ov->dim[1], want->c);
		ck_assert_int_eq(ov->dim[2], want->h);
		ck_assert_int_eq(ov->dim[3], want->w);
		const float *got = y + b * osize;
		if (exact) {
			ck_assert_msg(
			    memcmp(got, want->data, osize * sizeof(float)) == 0,
			    "%s, %d layers, patch %d of %d, %d threads: not the same bits", rel, k,
			    b, nb, threads);
		} else {
			/*
			 * batchnorm and softmax: net.c works in double, the operators
			 * in float (see model_graph.h); a few ulps, spread by the
			 * layers after them, relative to the layer's magnitude.
			 */
			double top = 0;
			for (size_t i = 0; i < osize; i++)
				top = fmax(top, fabs(want->data[i]));
			for (size_t i = 0; i < osize; i++)
				ck_assert_msg(
				    fabs(got[i] - want->data[i]) <= 1e-6 * top + 1e-30 ||
				        ulps(got[i], want->data[i]) <= 4,
				    "%s, %d layers, output %zu of patch %d: graph %.9g, net %.9g",
				    rel, k, i, b, got[i], want->data[i]);
		}
		cnnf_tensor_free(want);
	}
	cnnf_net_free(net);
	free(outs[0]);
	free(in);
	cnnf_graph_free(g);
}

START_TEST(test_models_match_net)
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
			compare_prefix(rel, m, k, 3, threads, 1000 + (uint64_t)k);
		}
	cnnf_model_free(m);
}
END_TEST

/* The graph's batch of patches against net.c's interleaved groups, which patch segmentation ran. */
START_TEST(test_group_matches)
{
	cnnf_model *m = load("../../samples/models/coins.cnnf");
	ck_assert(cnnf_net_groupable(m));
	int k = m->nlayers - 1; /* the logits: segment applies its own softmax */
	ck_assert_int_eq(m->layers[k].type, CNNF_LAYER_SOFTMAX);
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph_layers(m, "coins", k, &g), 0);
	const int nb = 5;
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{nb, m->channels, m->height, m->width}};
	ck_assert_int_eq(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL), 0);
	size_t psize = (size_t)m->channels * m->height * m->width;
	float *in = malloc(sizeof(float) * psize * nb);
	cnnf_tensor *group = cnnf_tensor_new(m->channels, m->height, m->width * nb);
	ck_assert(in && group);
	cnnf_rng r;
	cnnf_rng_seed(&r, 5);
	for (size_t i = 0; i < psize * nb; i++)
		in[i] = (float)(4 * cnnf_rng_uniform(&r) - 2);
	/* Patch b's column x at x * nb + b. */
	for (int b = 0; b < nb; b++)
		for (size_t i = 0; i < psize; i++)
			group->data[i * nb + b] = in[b * psize + i];
	cnnf_model cut = *m;
	cut.nlayers = k;
	cnnf_net *net = cnnf_net_new(&cut);
	cnnf_tensor *want = NULL;
	ck_assert_int_eq(cnnf_net_forward_group(net, group, nb, &want), 0);
	const void *ins[1] = {in};
	void *outs[1] = {NULL};
	ck_assert_int_eq(cnnf_graph_run(g, ins, outs), 0);
	const float *y = outs[0];
	for (int b = 0; b < nb; b++)
		for (int c = 0; c < m->classes; c++) {
			float a = y[b * m->classes + c], e = want->data[c * nb + b];
			ck_assert_msg(memcmp(&a, &e, sizeof a) == 0,
			              "patch %d class %d: %.9g, %.9g", b, c, a, e);
		}
	cnnf_tensor_free(want);
	cnnf_net_free(net);
	cnnf_tensor_free(group);
	free(outs[0]);
	free(in);
	cnnf_graph_free(g);
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
	tcase_add_loop_test(c, test_models_match_net, 0, NMODELS);
	tcase_add_test(c, test_group_matches);
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
