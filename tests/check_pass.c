/* check_pass.c: graph rewrites: Relu fusion and the dense form give the bits of the graph as it was. */
#include <math.h>
#include <stdint.h>

#include "base/rng.h"
#include "nn/model.h"
#include "nn/model_graph.h"
#include "nn/onnx.h"
#include "nn/pass.h"
#include "testutil.h"

static cnnf_model *load(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, rel);
	cnnf_model *m = cnnf_model_load(path, NULL);
	ck_assert_msg(m != NULL, "%s: %s", rel, cnnf_error_get());
	return m;
}

static cnnf_graph *load_onnx(const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, rel);
	cnnf_graph *g = NULL;
	ck_assert_msg(cnnf_onnx_load(path, NULL, &g) == 0, "%s: %s", rel, cnnf_error_get());
	return g;
}

static void prepare4(cnnf_graph *g, int64_t n, int64_t c, int64_t h, int64_t w)
{
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{n, c, h, w}};
	ck_assert_msg(cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) == 0,
	              "%s", cnnf_error_get());
}

static float *run1(cnnf_graph *g, const float *in)
{
	const void *ins[1] = {in};
	void *outs[1] = {NULL};
	ck_assert_msg(cnnf_graph_run(g, ins, outs) == 0, "%s", cnnf_error_get());
	return outs[0];
}

static float *random_floats(size_t n, uint64_t seed)
{
	float *v = malloc(n * sizeof *v);
	ck_assert_ptr_nonnull(v);
	cnnf_rng r;
	cnnf_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(4 * cnnf_rng_uniform(&r) - 2);
	return v;
}

static int count_op(const cnnf_graph *g, const char *op)
{
	int c = 0;
	for (int i = 0; i < g->nnode; i++)
		c += !strcmp(g->node[i].op_type, op);
	return c;
}

/* The coins model fused: its two conv+relu pairs become two convs, with the same bits. */
START_TEST(test_fuse_same_bits)
{
	cnnf_model *m = load("../../samples/models/coins.cnnf");
	cnnf_graph *plain = NULL, *fused = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, "coins", &plain), 0);
	ck_assert_int_eq(cnnf_model_graph(m, "coins", &fused), 0);
	int relus = count_op(plain, "Relu"), nodes = plain->nnode;
	ck_assert_int_ge(relus, 1);
	int n = cnnf_pass_fuse(fused);
	ck_assert_int_eq(n, relus);
	ck_assert_int_eq(count_op(fused, "Relu"), 0);
	ck_assert_int_eq(fused->nnode, nodes - relus);
	/* Fused twice: nothing more to do. */
	ck_assert_int_eq(cnnf_pass_fuse(fused), 0);
	const int nb = 7;
	prepare4(plain, nb, m->channels, m->height, m->width);
	prepare4(fused, nb, m->channels, m->height, m->width);
	size_t size = (size_t)nb * m->channels * m->height * m->width;
	float *in = random_floats(size, 3);
	float *a = run1(plain, in), *b = run1(fused, in);
	ck_assert_mem_eq(a, b, (size_t)nb * m->classes * sizeof(float));
	free(a);
	free(b);
	free(in);
	/* Once prepared, a graph is not rewritten. */
	ck_assert_int_eq(cnnf_pass_fuse(fused), -1);
	ck_assert_error_has("before it is prepared");
	cnnf_graph_free(plain);
	cnnf_graph_free(fused);
	cnnf_model_free(m);
}
END_TEST

/* A Relu is not fused when the conv's output is read by another node too, or is a graph output. */
/* A graph of input x (1 x 1 x 4 x 4) and a 1 x 1 Conv of one weight into value *y, not finished. */
static cnnf_graph *conv1x1_graph(float weight, int *y)
{
	cnnf_graph *g = cnnf_graph_new("t");
	ck_assert_ptr_nonnull(g);
	int x = cnnf_graph_value(g, "x"), w = cnnf_graph_value(g, "w");
	*y = cnnf_graph_value(g, "y");
	int64_t xd[4] = {1, 1, 4, 4}, wd[4] = {1, 1, 1, 1};
	float *wv = malloc(sizeof *wv);
	ck_assert_ptr_nonnull(wv);
	*wv = weight;
	ck_assert_int_eq(cnnf_graph_set_init(g, w, CNNF_DT_F32, 4, wd, wv), 0);
	ck_assert_int_eq(cnnf_graph_add_input(g, x, CNNF_DT_F32, 4, xd), 0);
	int cin[2] = {x, w};
	ck_assert_int_eq(cnnf_graph_add_node(g, "c", "Conv", 2, cin, 1, y, 0, NULL), 0);
	return g;
}

START_TEST(test_fuse_only_sole_reader)
{
	/* conv -> y; relu(y) -> r; add(y, r) -> out: y is read twice. */
	int y;
	cnnf_graph *g = conv1x1_graph(-1, &y);
	int r = cnnf_graph_value(g, "r"), o = cnnf_graph_value(g, "o"), ain[2] = {y, r};
	ck_assert_int_eq(cnnf_graph_add_node(g, "r", "Relu", 1, &y, 1, &r, 0, NULL), 0);
	ck_assert_int_eq(cnnf_graph_add_node(g, "a", "Add", 2, ain, 1, &o, 0, NULL), 0);
	ck_assert_int_eq(cnnf_graph_add_output(g, o), 0);
	ck_assert_int_eq(cnnf_graph_finish(g), 0);
	ck_assert_int_eq(cnnf_pass_fuse(g), 0);
	ck_assert_int_eq(count_op(g, "Relu"), 1);
	prepare4(g, 1, 1, 4, 4);
	float in[16];
	for (int i = 0; i < 16; i++)
		in[i] = (float)(i - 8);
	float *out = run1(g, in);
	for (int i = 0; i < 16; i++) {
		float v = -in[i];
		ck_assert_float_eq(out[i], v + (v > 0 ? v : 0));
	}
	free(out);
	cnnf_graph_free(g);
}
END_TEST

/*
 * The dense form of a patch classifier on an H x W map against the patch
 * graph on every patch of it: the same bits at every position, on 1 and 2
 * threads.
 */
static void dense_matches(cnnf_graph *patch, cnnf_graph *dense, int c, int ph, int pw, int k,
                          uint64_t seed)
{
	const int H = ph + 6, W = pw + 9;
	float *map = random_floats((size_t)c * H * W, seed);
	float *p = malloc(sizeof(float) * (size_t)c * ph * pw);
	ck_assert_ptr_nonnull(p);
	prepare4(patch, 1, c, ph, pw);
	prepare4(dense, 1, c, H, W);
	const cnnf_value *ov = &dense->val[dense->out[0]];
	ck_assert_int_eq(ov->ndim, 4);
	ck_assert_int_eq(ov->dim[1], k);
	ck_assert_int_ge(ov->dim[2], H - ph + 1);
	ck_assert_int_ge(ov->dim[3], W - pw + 1);
	int64_t oh = ov->dim[2], ow = ov->dim[3];
	for (int threads = 1; threads <= 2; threads++) {
		dense->threads = threads;
		float *d = run1(dense, map);
		for (int y = 0; y <= H - ph; y++)
			for (int x = 0; x <= W - pw; x++) {
				for (int ch = 0; ch < c; ch++)
					for (int i = 0; i < ph; i++)
						memcpy(p + ((size_t)ch * ph + i) * pw,
						       map + ((size_t)ch * H + y + i) * W + x, sizeof(float) * pw);
				float *s = run1(patch, p);
				for (int q = 0; q < k; q++) {
					float got = d[((size_t)q * oh + y) * ow + x];
					ck_assert_msg(memcmp(&got, &s[q], sizeof got) == 0,
					              "%s: patch (%d, %d) class %d, %d threads: dense %.9g, patch %.9g",
					              patch->file, y, x, q, threads, got, s[q]);
				}
				free(s);
			}
		free(d);
	}
	free(p);
	free(map);
}

/* Models of tests/data/net without padding, and the coins model. */
static const char *const exact[] = {"net/bn_dropout_fc.cnnf", "net/fc_only.cnnf",
                                    "net/seg_small.cnnf",
                                    "net/small_cnn.cnnf",     "../../samples/models/coins.cnnf"};

START_TEST(test_dense_models)
{
	const char *rel = exact[_i];
	cnnf_model *m = load(rel);
	cnnf_graph *patch = NULL, *dense = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, rel, &patch), 0);
	ck_assert_int_eq(cnnf_model_graph(m, rel, &dense), 0);
	/* Fused as segmentation runs it, and fused after the rewrite too. */
	ck_assert_int_ge(cnnf_pass_fuse(patch), 0);
	char why[200];
	int rc = cnnf_pass_dense(dense, why, sizeof why);
	ck_assert_msg(rc == 0, "%s: %s", rel, why);
	ck_assert_int_ge(cnnf_pass_fuse(dense), 0);
	dense_matches(patch, dense, m->channels, m->height, m->width, m->classes, 11 + (uint64_t)_i);
	cnnf_graph_free(patch);
	cnnf_graph_free(dense);
	cnnf_model_free(m);
}
END_TEST

/* The ONNX export of the coins model (fc layers as convolutions) has a dense form too. */
START_TEST(test_dense_onnx)
{
	cnnf_graph *patch = load_onnx("../../samples/models/coins.onnx");
	cnnf_graph *dense = load_onnx("../../samples/models/coins.onnx");
	ck_assert_int_ge(cnnf_pass_fuse(dense), 1);
	char why[200];
	ck_assert_int_eq(cnnf_pass_dense(dense, why, sizeof why), 0);
	dense_matches(patch, dense, 1, 18, 18, 2, 5);
	cnnf_graph_free(patch);
	cnnf_graph_free(dense);
}
END_TEST

/* What has no exact dense form is left as it was, with the reason. */
START_TEST(test_dense_refused)
{
	char why[200];
	/* A conv layer that pads. */
	cnnf_model *m = load("net/conv_stride_pad.cnnf");
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, "csp", &g), 0);
	ck_assert_int_eq(cnnf_pass_dense(g, why, sizeof why), 1);
	ck_assert_msg(strstr(why, "node 'conv1' (Conv): it pads inside the patch") != NULL, "%s", why);
	/* Unchanged: the strided conv keeps its stride, the input its patch size. */
	const int64_t *s;
	size_t ns;
	ck_assert_int_eq(cnnf_node_attr_ints(g, &g->node[0], "strides", &s, &ns), 0);
	ck_assert_int_eq(ns, 2);
	ck_assert_int_eq(s[0], 2);
	ck_assert_int_eq(g->in_dim[0][2], m->height);
	cnnf_graph_free(g);
	cnnf_model_free(m);
	/* Reshape and Gemm (a Linear layer): no dense form. */
	g = load_onnx("onnx/patch-op13.onnx");
	ck_assert_int_eq(cnnf_pass_dense(g, why, sizeof why), 1);
	ck_assert_msg(strstr(why, "(Reshape): the operator does not run densely") != NULL, "%s", why);
	cnnf_graph_free(g);
	/* Softmax before opset 13 normalises over everything after its axis. */
	g = load_onnx("../../samples/models/coins.onnx");
	g->opset = 11;
	ck_assert_int_eq(cnnf_pass_dense(g, why, sizeof why), 1);
	ck_assert_msg(strstr(why, "(Softmax): before opset 13") != NULL, "%s", why);
	cnnf_graph_free(g);
}
END_TEST

/*
 * Stride-1 MaxPools fused into the convs before them (the dense form's
 * pools: windows of 2 and 3, taps 1 to 3 apart, after a Relu or not, 7 and
 * 16 filters) against the same dense graph unfused: the same bits on maps
 * of odd widths, on 1 and 2 threads.
 */
static const struct pool_case {
	const char *arch; /* the model's header between input and weights */
	int c, ph, pw, params;
} pool_cases[] = {
	{"conv out=4 kernel=3\nrelu\nmaxpool kernel=2\nconv out=5 kernel=3\nrelu\n"
	 "maxpool kernel=2\nfc out=3\n", 1, 18, 18, 363},
	{"conv out=3 kernel=2x3\nmaxpool kernel=3 stride=1\nconv out=9 kernel=3x1\nrelu\n"
	 "maxpool kernel=2\nfc out=2\n", 2, 13, 11, 347},
	{"conv out=8 kernel=1\nrelu\nmaxpool kernel=2\nconv out=7 kernel=2\nrelu\n"
	 "maxpool kernel=3\nfc out=4\n", 3, 20, 20, 519},
	{"conv out=16 kernel=4\nmaxpool kernel=3\nrelu\nconv out=2 kernel=2\n"
	 "maxpool kernel=3\nfc out=2\n", 1, 15, 15, 408},
};

START_TEST(test_fuse_pool_same_bits)
{
	const struct pool_case *pc = &pool_cases[_i];
	char path[] = "/tmp/check_pass_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "cnnf-model 1\ninput channels=%d height=%d width=%d\n%sweights text %d\n", pc->c,
		pc->ph, pc->pw, pc->arch, pc->params);
	cnnf_rng r;
	cnnf_rng_seed(&r, 100 + (uint64_t)_i);
	for (int i = 0; i < pc->params; i++)
		fprintf(f, "%.6f\n", cnnf_rng_uniform(&r) - 0.45);
	ck_assert_int_eq(fclose(f), 0);
	cnnf_model *m = cnnf_model_load(path, NULL);
	remove(path);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_graph *plain = NULL, *fused = NULL;
	char why[200];
	ck_assert_int_eq(cnnf_model_graph(m, "pools", &plain), 0);
	ck_assert_int_eq(cnnf_model_graph(m, "pools", &fused), 0);
	ck_assert_int_ge(cnnf_pass_fuse(plain), 0);
	ck_assert_int_ge(cnnf_pass_fuse(fused), 0);
	ck_assert_int_eq(cnnf_pass_dense(plain, why, sizeof why), 0);
	ck_assert_int_eq(cnnf_pass_dense(fused, why, sizeof why), 0);
	int pools = count_op(fused, "MaxPool");
	ck_assert_int_eq(pools, 2);
	ck_assert_int_eq(cnnf_pass_fuse_pool(fused), pools);
	ck_assert_int_eq(count_op(fused, "MaxPool"), 0);
	ck_assert_int_eq(cnnf_pass_fuse_pool(fused), 0);
	for (int t = 0; t < 3; t++) {
		int64_t H = pc->ph + 3 + 4 * t, W = pc->pw + 2 * t + (t == 2 ? 290 : 1);
		float *map = random_floats((size_t)pc->c * H * W, 7 + (uint64_t)t);
		prepare4(plain, 1, pc->c, H, W);
		prepare4(fused, 1, pc->c, H, W);
		const cnnf_value *a = &plain->val[plain->out[0]], *b = &fused->val[fused->out[0]];
		ck_assert_int_eq(cnnf_value_count(a), cnnf_value_count(b));
		plain->threads = 1;
		float *want = run1(plain, map);
		size_t bytes = sizeof(float) * (size_t)cnnf_value_count(a);
		for (int threads = 1; threads <= 2; threads++) {
			fused->threads = threads;
			float *got = run1(fused, map);
			ck_assert_msg(memcmp(got, want, bytes) == 0, "case %d, %lld x %lld, %d threads", _i,
				      (long long)H, (long long)W, threads);
			free(got);
		}
		free(want);
		free(map);
	}
	cnnf_graph_free(plain);
	cnnf_graph_free(fused);
	cnnf_model_free(m);
}
END_TEST

/* Pools that stay: one read twice, a stride of 2 (the patch graph's), padding. */
START_TEST(test_fuse_pool_refused)
{
	cnnf_model *m = load("../../samples/models/coins.cnnf");
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_model_graph(m, "coins", &g), 0);
	ck_assert_int_ge(cnnf_pass_fuse(g), 0);
	/* Stride 2: not a pool the conv makes row for row. */
	ck_assert_int_eq(cnnf_pass_fuse_pool(g), 0);
	ck_assert_int_eq(count_op(g, "MaxPool"), 2);
	cnnf_graph_free(g);
	cnnf_model_free(m);
	/* conv -> y; maxpool(y) -> p; add(y[..], p) would need y: read twice, kept. */
	int y;
	g = conv1x1_graph(2, &y);
	int p = cnnf_graph_value(g, "p"), q = cnnf_graph_value(g, "q"), ain[2] = {y, p};
	/* kernel_shape 1 x 1, strides 1: a pool the conv could take, were y read once. */
	cnnf_attr *pa = calloc(2, sizeof *pa);
	ck_assert_ptr_nonnull(pa);
	for (int i = 0; i < 2; i++) {
		pa[i].name = strdup(i ? "strides" : "kernel_shape");
		pa[i].type = CNNF_ATTR_INTS;
		pa[i].n = 2;
		pa[i].ints = malloc(2 * sizeof *pa[i].ints);
		ck_assert(pa[i].name && pa[i].ints);
		pa[i].ints[0] = pa[i].ints[1] = 1;
	}
	ck_assert_int_eq(cnnf_graph_add_node(g, "m", "MaxPool", 1, &y, 1, &p, 2, pa), 0);
	ck_assert_int_eq(cnnf_graph_add_node(g, "a", "Add", 2, ain, 1, &q, 0, NULL), 0);
	ck_assert_int_eq(cnnf_graph_add_output(g, q), 0);
	ck_assert_int_eq(cnnf_graph_finish(g), 0);
	ck_assert_int_eq(cnnf_pass_fuse_pool(g), 0);
	ck_assert_int_eq(count_op(g, "MaxPool"), 1);
	cnnf_graph_free(g);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pass");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 120);
	tcase_add_test(c, test_fuse_same_bits);
	tcase_add_test(c, test_fuse_only_sole_reader);
	tcase_add_loop_test(c, test_dense_models, 0, (int)(sizeof exact / sizeof *exact));
	tcase_add_test(c, test_dense_onnx);
	tcase_add_test(c, test_dense_refused);
	tcase_add_loop_test(c, test_fuse_pool_same_bits, 0,
			    (int)(sizeof pool_cases / sizeof *pool_cases));
	tcase_add_test(c, test_fuse_pool_refused);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	return cnnf_test_run(suite()) ? 1 : 0;
}
