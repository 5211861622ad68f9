/* check_graph.c: the graph executor: building, sorting, checks, folding, memory, limits. */
#include <stdint.h>

#include "nn/graph.h"
#include "nn/ops.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_graph *graph(void)
{
	cnnf_graph *g = cnnf_graph_new("g.onnx");
	ck_assert_ptr_nonnull(g);
	return g;
}

static int val(cnnf_graph *g, const char *name)
{
	int v = cnnf_graph_value(g, name);
	ck_assert_int_ge(v, 0);
	return v;
}

/* Add node op(in...) -> out, which must succeed. */
static void node(cnnf_graph *g, const char *name, const char *op, const char *in0, const char *in1,
		 const char *out)
{
	int in[2] = {val(g, in0), in1 ? val(g, in1) : -1};
	int o = val(g, out);
	ck_assert_msg(cnnf_graph_add_node(g, name, op, in1 ? 2 : 1, in, 1, &o, 0, NULL) == 0, "%s",
		      cnnf_error_get());
}

static void input(cnnf_graph *g, const char *name, int ndim, const int64_t *dim)
{
	ck_assert_msg(cnnf_graph_add_input(g, val(g, name), CNNF_DT_F32, ndim, dim) == 0, "%s",
		      cnnf_error_get());
}

static int prepare1(cnnf_graph *g, int ndim, const int64_t *dim)
{
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{0}};
	memcpy(shape[0], dim, (size_t)ndim * sizeof *dim);
	return cnnf_graph_prepare(g, &ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL);
}

/* ---- core ------------------------------------------------------------------------------- */

/* Nodes given out of order run in dependency order; values are freed after their last use. */
START_TEST(test_chain_unsorted)
{
	cnnf_graph *g = graph();
	static const int64_t d[4] = {1, 1, 2, 2};
	input(g, "x", 4, d);
	node(g, "second", "Add", "a", "x", "b"); /* b = relu(x) + x, made before a is */
	node(g, "first", "Relu", "x", NULL, "a");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "b")), 0);
	ck_assert_msg(cnnf_graph_finish(g) == 0, "%s", cnnf_error_get());
	ck_assert_str_eq(g->node[0].name, "first");
	ck_assert_msg(prepare1(g, 4, d) == 0, "%s", cnnf_error_get());
	/* x (16 bytes) lives through both nodes; a and b are alive together at the second. */
	ck_assert_uint_eq(g->peak_bytes, 48);
	const float x[4] = {-1, 2, -3, 4};
	const void *in[1] = {x};
	void *out[1] = {NULL};
	ck_assert_msg(cnnf_graph_run(g, in, out) == 0, "%s", cnnf_error_get());
	const float *b = out[0];
	ck_assert(b[0] == -1 && b[1] == 4 && b[2] == -3 && b[3] == 8);
	free(out[0]);
	/* A second run of the same preparation gives the same. */
	ck_assert_int_eq(cnnf_graph_run(g, in, out), 0);
	ck_assert(((float *)out[0])[3] == 8);
	free(out[0]);
	cnnf_graph_free(g);
}
END_TEST

/* A node no output depends on is dropped; Shape of a value is folded to a constant. */
START_TEST(test_dead_and_folding)
{
	cnnf_graph *g = graph();
	static const int64_t d[4] = {1, 3, 5, 7};
	input(g, "x", 4, d);
	node(g, "dead", "Relu", "x", NULL, "unused");
	node(g, "shape", "Shape", "x", NULL, "s");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "s")), 0);
	ck_assert_msg(cnnf_graph_finish(g) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(g->nnode, 1);
	ck_assert_msg(prepare1(g, 4, d) == 0, "%s", cnnf_error_get());
	ck_assert(g->node[0].folded);
	const cnnf_value *s = &g->val[cnnf_graph_find(g, "s")];
	ck_assert(s->is_const && s->type == CNNF_DT_I64 && s->ndim == 1 && s->dim[0] == 4);
	float x[105] = {0};
	const void *in[1] = {x};
	void *out[1] = {NULL};
	ck_assert_int_eq(cnnf_graph_run(g, in, out), 0);
	const int64_t *v = out[0];
	ck_assert(v[0] == 1 && v[1] == 3 && v[2] == 5 && v[3] == 7);
	free(out[0]);
	cnnf_graph_free(g);
}
END_TEST

/* The declared shape is checked; free dims take any size, and preparing again forgets. */
START_TEST(test_prepare_shapes)
{
	cnnf_graph *g = graph();
	static const int64_t decl[4] = {1, 3, -1, -1};
	input(g, "x", 4, decl);
	node(g, "r", "Relu", "x", NULL, "y");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "y")), 0);
	static const int64_t a[4] = {1, 3, 8, 9}, b[4] = {1, 3, 2, 2}, bad[4] = {1, 1, 2, 2};
	ck_assert_msg(prepare1(g, 4, a) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(g->val[cnnf_graph_find(g, "y")].dim[3], 9);
	ck_assert_msg(prepare1(g, 4, b) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(g->val[cnnf_graph_find(g, "y")].dim[3], 2);
	ck_assert_int_eq(prepare1(g, 4, bad), -1);
	ck_assert_error_has("g.onnx: input 'x' would be 1x1x2x2, the model takes 1x3x?x?");
	cnnf_graph_free(g);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(test_unsupported)
{
	cnnf_graph *g = graph();
	int in = val(g, "x"), out = val(g, "y");
	ck_assert_int_eq(cnnf_graph_add_node(g, "loop", "Loop", 1, &in, 1, &out, 0, NULL), -1);
	ck_assert_str_eq(cnnf_error_get(), "g.onnx: node 'loop' (Loop): operator not supported");
	cnnf_graph_free(g);
}
END_TEST

START_TEST(test_cycle)
{
	cnnf_graph *g = graph();
	static const int64_t d[1] = {4};
	input(g, "x", 1, d);
	node(g, "p", "Add", "x", "b", "a");
	node(g, "q", "Relu", "a", NULL, "b");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "b")), 0);
	ck_assert_int_eq(cnnf_graph_finish(g), -1);
	ck_assert_error_has("is part of a cycle");
	cnnf_graph_free(g);
}
END_TEST

START_TEST(test_orphan_and_twice)
{
	cnnf_graph *g = graph();
	static const int64_t d[1] = {4};
	input(g, "x", 1, d);
	node(g, "p", "Add", "x", "ghost", "a");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "a")), 0);
	ck_assert_int_eq(cnnf_graph_finish(g), -1);
	ck_assert_str_eq(cnnf_error_get(), "g.onnx: node 'p' (Add): input 'ghost' is made by no "
					   "node and is no graph input or initializer");
	cnnf_graph_free(g);

	g = graph();
	input(g, "x", 1, d);
	node(g, "p", "Relu", "x", NULL, "a");
	node(g, "q", "Relu", "x", NULL, "a");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "a")), 0);
	ck_assert_int_eq(cnnf_graph_finish(g), -1);
	ck_assert_error_has("node 'q' (Relu): output 'a' is made by another node too");
	cnnf_graph_free(g);
}
END_TEST

START_TEST(test_limits)
{
	cnnf_graph *g = graph();
	static const int64_t huge[2] = {1 << 20, 1 << 20};
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, "w"), CNNF_DT_F32, 2, huge, NULL), -1);
	ck_assert_error_has("initializer 'w' (1048576x1048576) has more elements than the limit");
	static const int64_t neg[1] = {-3};
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, "v"), CNNF_DT_F32, 1, neg, NULL), -1);
	ck_assert_error_has("negative dimension");
	cnnf_graph_free(g);

	/* Activations over the limit are refused at prepare, naming the node. */
	g = graph();
	g->limits.max_activation = 700;
	static const int64_t d[2] = {10, 10};
	input(g, "x", 2, d);
	node(g, "big", "Relu", "x", NULL, "y");
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, "y")), 0);
	ck_assert_int_eq(prepare1(g, 2, d), -1);
	ck_assert_error_has("node 'big' (Relu): the activations would need 800 bytes");
	cnnf_graph_free(g);
}
END_TEST

/* The operator table and cnnf-onnx(5) name the same operators. */
START_TEST(test_man_page_lists_every_operator)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/../../man/cnnf-onnx.5", TEST_DATA_DIR);
	FILE *fp = fopen(path, "r");
	ck_assert_msg(fp != NULL, "%s", path);
	static char page[1 << 16];
	size_t n = fread(page, 1, sizeof page - 1, fp);
	fclose(fp);
	page[n] = 0;
	for (int i = 0; i < cnnf_ops_count(); i++) {
		char want[64];
		snprintf(want, sizeof want, "B %s\n", cnnf_ops_at(i)->name);
		char alt[64], alt2[64];
		snprintf(alt, sizeof alt, "BR %s ", cnnf_ops_at(i)->name);
		snprintf(alt2, sizeof alt2, "BR %s\n", cnnf_ops_at(i)->name);
		ck_assert_msg(strstr(page, want) || strstr(page, alt) || strstr(page, alt2),
			      "cnnf-onnx(5) lacks %s",
			      cnnf_ops_at(i)->name);
	}
}
END_TEST

START_TEST(test_not_prepared)
{
	cnnf_graph *g = graph();
	void *out[1];
	ck_assert_int_eq(cnnf_graph_run(g, NULL, out), -1);
	ck_assert_error_has("not prepared");
	cnnf_graph_free(g);
}
END_TEST

static Suite *graph_suite(void)
{
	Suite *s = suite_create("graph");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_chain_unsorted);
	tcase_add_test(core, test_dead_and_folding);
	tcase_add_test(core, test_prepare_shapes);
	tcase_add_test(core, test_man_page_lists_every_operator);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_unsupported);
	tcase_add_test(errors, test_cycle);
	tcase_add_test(errors, test_orphan_and_twice);
	tcase_add_test(errors, test_limits);
	tcase_add_test(errors, test_not_prepared);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(graph_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
