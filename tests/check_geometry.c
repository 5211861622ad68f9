/* check_geometry.c: scales, receptive fields, needs and tile checks of graphs, against figures worked out by hand. */
#include <stdarg.h>
#include <stdint.h>

#include "nn/geometry.h"
#include "nn/graph.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static int val(cnnf_graph *g, const char *name)
{
	int v = cnnf_graph_value(g, name);
	ck_assert_int_ge(v, 0);
	return v;
}

/* An ints attribute (malloc'd as the graph takes it). */
static cnnf_attr ints(const char *name, int n, ...)
{
	cnnf_attr a = {.name = strdup(name), .type = CNNF_ATTR_INTS, .n = (size_t)n};
	a.ints = malloc((size_t)n * sizeof *a.ints);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		a.ints[i] = va_arg(ap, int);
	va_end(ap);
	return a;
}

static cnnf_attr one_int(const char *name, int64_t v)
{
	return (cnnf_attr){.name = strdup(name), .type = CNNF_ATTR_INT, .i = v};
}

static cnnf_attr string(const char *name, const char *v)
{
	return (cnnf_attr){.name = strdup(name), .type = CNNF_ATTR_STRING, .s = strdup(v),
			   .slen = strlen(v)};
}

/* Node op(in0, in1, in2) -> out with nattr attributes given as cnnf_attr values. */
static void node(cnnf_graph *g, const char *name, const char *op, const char *in0,
		 const char *in1, const char *in2, const char *out, int nattr, ...)
{
	int in[3] = {val(g, in0), in1 ? val(g, in1) : -1, in2 ? val(g, in2) : -1};
	int nin = in2 ? 3 : in1 ? 2 : 1;
	int o = val(g, out);
	cnnf_attr *at = nattr ? malloc((size_t)nattr * sizeof *at) : NULL;
	va_list ap;
	va_start(ap, nattr);
	for (int i = 0; i < nattr; i++)
		at[i] = va_arg(ap, cnnf_attr);
	va_end(ap);
	ck_assert_msg(cnnf_graph_add_node(g, name, op, nin, in, 1, &o, nattr, at) == 0, "%s",
		      cnnf_error_get());
}

/* A float initializer of the given shape, every element v. */
static void init(cnnf_graph *g, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
		 int64_t d3, float v)
{
	int64_t dim[4] = {d0, d1, d2, d3};
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)dim[i];
	float *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = v;
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, name), CNNF_DT_F32, ndim, dim, x), 0);
}

/* A 1-channel image input 'x' of free size, output 'y'. */
static cnnf_graph *graph(void)
{
	cnnf_graph *g = cnnf_graph_new("g.onnx");
	ck_assert_ptr_nonnull(g);
	g->opset = 17;
	int64_t dim[4] = {1, 1, -1, -1};
	ck_assert_int_eq(cnnf_graph_add_input(g, val(g, "x"), CNNF_DT_F32, 4, dim), 0);
	return g;
}

static void finish(cnnf_graph *g, const char *out)
{
	ck_assert_int_eq(cnnf_graph_add_output(g, val(g, out)), 0);
	ck_assert_msg(cnnf_graph_finish(g) == 0, "%s", cnnf_error_get());
}

static void prepare(cnnf_graph *g, int64_t h, int64_t w)
{
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, 1, h, w}};
	ck_assert_msg(cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape,
					 NULL) == 0,
		      "%s", cnnf_error_get());
}

/*
 * conv 3x3 pad 1 -> maxpool 2 s2 -> conv 3x3 dilation 2 pad 2 -> convtranspose 2x2 s2 -> relu.
 * By hand: output row t reads row u = floor(t/2) of the transposed conv's
 * input; the dilated conv reads u-2 .. u+2; the pool 2(u-2) .. 2(u+2)+1;
 * the first conv one more on each side: 2u-5 .. 2u+6, 12 rows for every t.
 */
static cnnf_graph *unet_like(void)
{
	cnnf_graph *g = graph();
	init(g, "w1", 4, 2, 1, 3, 3, 0.1f);
	init(g, "w2", 4, 2, 2, 3, 3, 0.1f);
	init(g, "w3", 4, 2, 1, 2, 2, 0.1f);
	node(g, "c1", "Conv", "x", "w1", NULL, "a", 1, ints("pads", 4, 1, 1, 1, 1));
	node(g, "p", "MaxPool", "a", NULL, NULL, "b", 2, ints("kernel_shape", 2, 2, 2),
	     ints("strides", 2, 2, 2));
	node(g, "c2", "Conv", "b", "w2", NULL, "c", 2, ints("pads", 4, 2, 2, 2, 2),
	     ints("dilations", 2, 2, 2));
	node(g, "up", "ConvTranspose", "c", "w3", NULL, "d", 1, ints("strides", 2, 2, 2));
	node(g, "r", "Relu", "d", NULL, NULL, "y", 0);
	finish(g, "y");
	return g;
}

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_chain_scales_and_field)
{
	cnnf_graph *g = unet_like();
	prepare(g, 32, 40);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	ck_assert_ptr_nonnull(geo);
	const char *why;
	ck_assert_msg(cnnf_geometry_tileable(geo, &why), "%s", why);
	int64_t num, den;
	cnnf_geometry_scale(geo, cnnf_graph_find(g, "b"), 0, &num, &den);
	ck_assert(num == 1 && den == 2);
	cnnf_geometry_scale(geo, cnnf_graph_find(g, "y"), 1, &num, &den);
	ck_assert(num == 1 && den == 1);
	ck_assert_int_eq(cnnf_geometry_align(geo, 0), 2);
	ck_assert_int_eq(cnnf_geometry_align(geo, 1), 2);
	ck_assert_int_eq(cnnf_geometry_field(geo, 0), 12);
	ck_assert_int_eq(cnnf_geometry_field(geo, 1), 12);
	/* Rows 10..13: u 5..6, the dilated conv 3..8, the pool 6..17, the first conv 5..18. */
	int64_t lo, hi;
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 10, 13, &lo, &hi), 0);
	ck_assert(lo == 5 && hi == 18);
	/* At the top edge the need reaches beyond the image: padding, as in the whole image. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 1, 0, 3, &lo, &hi), 0);
	ck_assert(lo == -5 && hi == 8);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

/* A tile holds what the rows kept need, or is refused naming the value it lacks. */
START_TEST(test_covers)
{
	cnnf_graph *g = unet_like();
	prepare(g, 32, 40);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	int64_t lo, hi;
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 10, 13, &lo, &hi), 0);
	/* Rows 4..19 of the image (origin 4, a multiple of 2) hold 5..18. */
	prepare(g, 16, 40);
	ck_assert_msg(cnnf_geometry_covers(geo, g, 0, 4) == 0, "%s", cnnf_error_get());
	/* Rows 6..17 lack row 5 and row 18. */
	prepare(g, 12, 40);
	ck_assert_int_eq(cnnf_geometry_covers(geo, g, 0, 6), -1);
	ck_assert_error_has("would not hold rows");
	/* The tile at the top edge: rows -5..8 are the image's 0..8 and its padding. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 0, 3, &lo, &hi), 0);
	ck_assert_msg(cnnf_geometry_covers(geo, g, 0, 0) == 0, "%s", cnnf_error_get());
	/* An odd origin is off the pool's grid. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 10, 13, &lo, &hi), 0);
	prepare(g, 16, 40);
	ck_assert_int_eq(cnnf_geometry_covers(geo, g, 0, 3), -1);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

/*
 * Upsampling: DepthToSpace 2 after a 4-channel conv 3x3 pad 1, then
 * Resize nearest (floor, asymmetric) x3. Output row t reads floor(t/3) of
 * the shuffle, floor(t/6) of the conv, floor(t/6)-1 .. floor(t/6)+1 of the
 * image: 3 rows, at 6 output rows per input row.
 */
START_TEST(test_upsampling)
{
	cnnf_graph *g = graph();
	init(g, "w", 4, 4, 1, 3, 3, 0.5f);
	float *sc = malloc(4 * sizeof *sc);
	sc[0] = sc[1] = 1;
	sc[2] = sc[3] = 3;
	int64_t four = 4;
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, "scales"), CNNF_DT_F32, 1, &four, sc), 0);
	node(g, "c", "Conv", "x", "w", NULL, "a", 1, ints("pads", 4, 1, 1, 1, 1));
	node(g, "d2s", "DepthToSpace", "a", NULL, NULL, "b", 1, one_int("blocksize", 2));
	int in[3] = {val(g, "b"), -1, val(g, "scales")}, out = val(g, "y");
	cnnf_attr *at = malloc(3 * sizeof *at);
	at[0] = string("mode", "nearest");
	at[1] = string("coordinate_transformation_mode", "asymmetric");
	at[2] = string("nearest_mode", "floor");
	ck_assert_int_eq(cnnf_graph_add_node(g, "rs", "Resize", 3, in, 1, &out, 3, at), 0);
	finish(g, "y");
	prepare(g, 10, 12);
	ck_assert_int_eq(g->val[cnnf_graph_find(g, "y")].dim[2], 60);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	const char *why;
	ck_assert_msg(cnnf_geometry_tileable(geo, &why), "%s", why);
	int64_t num, den, lo, hi;
	cnnf_geometry_scale(geo, cnnf_graph_find(g, "y"), 0, &num, &den);
	ck_assert(num == 6 && den == 1);
	ck_assert_int_eq(cnnf_geometry_align(geo, 0), 1);
	ck_assert_int_eq(cnnf_geometry_field(geo, 0), 3);
	/* Output rows 11..25: the conv's rows 1..4, the image's 0..5. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 11, 25, &lo, &hi), 0);
	ck_assert(lo == 0 && hi == 5);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

/* Pad reflect 2 at the top: row t < 2 reads row 2 - t; the need reaches it. */
START_TEST(test_pad_reflect)
{
	cnnf_graph *g = graph();
	int64_t eight = 8;
	int64_t *p = calloc(8, sizeof *p);
	p[2] = 2; /* begin of H */
	p[6] = 1; /* end of H */
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, "pads"), CNNF_DT_I64, 1, &eight, p), 0);
	node(g, "pad", "Pad", "x", "pads", NULL, "y", 1, string("mode", "reflect"));
	finish(g, "y");
	prepare(g, 10, 5);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	int64_t lo, hi;
	ck_assert(cnnf_geometry_tileable(geo, NULL));
	/* Rows 0..1 of the output: -2..-1 as padding, read as rows 2 and 1. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 0, 1, &lo, &hi), 0);
	ck_assert(lo == -2 && hi == 2);
	/* Row 12 (past the end, input has 10 rows): row 2*9 - 10 = 8. */
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 12, 12, &lo, &hi), 0);
	ck_assert(lo == 8 && hi == 10);
	ck_assert_int_eq(cnnf_geometry_field(geo, 1), 1);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* A global pool reads every pixel: not tileable, naming the node. */
START_TEST(test_global_pool_refused)
{
	cnnf_graph *g = graph();
	init(g, "w", 4, 2, 1, 3, 3, 0.1f);
	node(g, "c", "Conv", "x", "w", NULL, "a", 0);
	node(g, "gap", "GlobalAveragePool", "a", NULL, NULL, "b", 0);
	node(g, "m", "Mul", "a", "b", NULL, "y", 0);
	finish(g, "y");
	prepare(g, 9, 9);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	const char *why;
	ck_assert(!cnnf_geometry_tileable(geo, &why));
	ck_assert_msg(strstr(why, "node 'gap' (GlobalAveragePool)") != NULL, "%s", why);
	ck_assert_int_eq(cnnf_geometry_field(geo, 0), -1);
	int64_t lo, hi;
	ck_assert_int_eq(cnnf_geometry_need(geo, 0, 0, 0, &lo, &hi), -1);
	ck_assert_error_has("GlobalAveragePool");
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

/*
 * Linear interpolation by scale: by 3 it runs in tiles (op_resize.c takes each
 * phase's weights exactly, the same in every tile; tests/cli/tile.sh checks the
 * bits), by 2.5 not, since the output is no whole factor of the input.
 */
static void resize_linear(float scale, int tileable)
{
	cnnf_graph *g = graph();
	float *sc = malloc(4 * sizeof *sc);
	sc[0] = sc[1] = 1;
	sc[2] = sc[3] = scale;
	int64_t four = 4;
	ck_assert_int_eq(cnnf_graph_set_init(g, val(g, "scales"), CNNF_DT_F32, 1, &four, sc), 0);
	int in[3] = {val(g, "x"), -1, val(g, "scales")}, out = val(g, "y");
	cnnf_attr *at = malloc(sizeof *at);
	at[0] = string("mode", "linear");
	ck_assert_int_eq(cnnf_graph_add_node(g, "rs", "Resize", 3, in, 1, &out, 1, at), 0);
	finish(g, "y");
	prepare(g, 8, 8);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	const char *why = "";
	ck_assert_int_eq(cnnf_geometry_tileable(geo, &why), tileable);
	if (!tileable)
		ck_assert_msg(strstr(why, "node 'rs' (Resize)") && strstr(why, "whole"), "%s", why);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}

START_TEST(test_resize_linear_by_three)
{
	resize_linear(3, 1);
	resize_linear(2.5f, 0);
}
END_TEST

/* SAME padding with stride 2 pads by the size: a tile of 17 rows differs from 16. */
START_TEST(test_same_padding_changes)
{
	cnnf_graph *g = graph();
	init(g, "w", 4, 1, 1, 3, 3, 0.1f);
	node(g, "c", "Conv", "x", "w", NULL, "y", 2, string("auto_pad", "SAME_UPPER"),
	     ints("strides", 2, 2, 2));
	finish(g, "y");
	prepare(g, 16, 16);
	cnnf_geometry *a = cnnf_geometry_new(g);
	/* 16: output 8, total pad 7*2 + 3 - 16 = 1, top 0; 18: 9, 1, 0; 17: 9, 2, 1. */
	prepare(g, 18, 16);
	cnnf_geometry *b = cnnf_geometry_new(g);
	ck_assert_int_eq(cnnf_geometry_same(a, b), 0);
	cnnf_geometry_free(b);
	prepare(g, 17, 16);
	b = cnnf_geometry_new(g);
	ck_assert_int_eq(cnnf_geometry_same(a, b), -1);
	ck_assert_error_has("node 'c' (Conv): works differently on a tile");
	cnnf_geometry_free(a);
	cnnf_geometry_free(b);
	cnnf_graph_free(g);
}
END_TEST

/* A constant that varies over the columns, added to the image: positions matter. */
START_TEST(test_position_constant_refused)
{
	cnnf_graph *g = graph();
	init(g, "pos", 4, 1, 1, 1, 6, 0.25f);
	node(g, "add", "Add", "x", "pos", NULL, "y", 0);
	finish(g, "y");
	prepare(g, 4, 6);
	cnnf_geometry *geo = cnnf_geometry_new(g);
	const char *why;
	ck_assert(!cnnf_geometry_tileable(geo, &why));
	ck_assert_msg(strstr(why, "node 'add' (Add)") && strstr(why, "varies"), "%s", why);
	cnnf_geometry_free(geo);
	cnnf_graph_free(g);
}
END_TEST

static Suite *geometry_suite(void)
{
	Suite *s = suite_create("geometry");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_chain_scales_and_field);
	tcase_add_test(core, test_covers);
	tcase_add_test(core, test_upsampling);
	tcase_add_test(core, test_pad_reflect);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_global_pool_refused);
	tcase_add_test(errors, test_resize_linear_by_three);
	tcase_add_test(errors, test_same_padding_changes);
	tcase_add_test(errors, test_position_constant_refused);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(geometry_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
