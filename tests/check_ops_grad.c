/* check_ops_grad.c: the graph operators' backward against finite differences (tests/gradcheck.h). */
#include <math.h>
#include <stdint.h>

#include "gradcheck.h"
#include "nn/graph.h"
#include "testutil.h"

/* Values in [lo, hi), at least 0.05 from 0 and from +-3 (kinks) so no step crosses one. */
static void fill_smooth(float *x, size_t n, float lo, float hi, unsigned seed)
{
	uint32_t s = seed * 2654435761u + 12345u;
	for (size_t i = 0; i < n; i++) {
		float v;
		do {
			s = s * 1664525u + 1013904223u;
			v = lo + (hi - lo) * (float)((s >> 8) & 0xffffff) / 16777216.0f;
		} while (fabsf(v) < 0.05f || fabsf(fabsf(v) - 3.0f) < 0.05f ||
			 fabsf(fabsf(v) - 0.5f) < 0.05f || fabsf(fabsf(v) - 2.5f) < 0.05f);
		x[i] = v;
	}
}

static const struct {
	const char *op;
	int nattr;
	cnnf_attr attr[2];
} unary_cases[] = {
    {"Relu", 0, {{0}}},
    {"LeakyRelu", 1, {{.name = "alpha", .type = CNNF_ATTR_FLOAT, .f = 0.1f}}},
    {"Sigmoid", 0, {{0}}},
    {"Tanh", 0, {{0}}},
    {"HardSigmoid", 0, {{0}}},
    {"HardSwish", 0, {{0}}},
    {"Elu", 1, {{.name = "alpha", .type = CNNF_ATTR_FLOAT, .f = 0.7f}}},
    {"Identity", 0, {{0}}},
    {"Dropout", 0, {{0}}},
};

/* Every trainable one-input activation, over values either side of its kinks. */
START_TEST(test_unary)
{
	float x[2 * 3 * 5 * 7];
	fill_smooth(x, sizeof x / sizeof x[0], -4.5f, 4.5f, (unsigned)_i + 1);
	optest_in in = {.kind = OPTEST_INPUT, .type = CNNF_DT_F32, .ndim = 4, .dim = {2, 3, 5, 7}, .data = x};
	int bad = gradcheck(unary_cases[_i].op, 13, 1, &in, unary_cases[_i].nattr, unary_cases[_i].attr, 1,
			    1e-2, 2e-3);
	ck_assert_msg(bad == 0, "%s: %d gradients wrong", unary_cases[_i].op, bad);
}
END_TEST

/* Clip (opset 11+: bounds as constant inputs, which take no gradient; opset 6: attributes). */
START_TEST(test_clip)
{
	float x[4 * 9], lo = -1.0f, hi = 2.0f;
	fill_smooth(x, 36, -4.5f, 4.5f, 9);
	for (int i = 0; i < 36; i++)
		if (fabsf(x[i] - lo) < 0.05f || fabsf(x[i] - hi) < 0.05f)
			x[i] += 0.2f;
	optest_in in[3] = {
	    {.kind = OPTEST_INPUT, .type = CNNF_DT_F32, .ndim = 2, .dim = {4, 9}, .data = x},
	    {.kind = OPTEST_CONST, .type = CNNF_DT_F32, .ndim = 0, .data = &lo},
	    {.kind = OPTEST_CONST, .type = CNNF_DT_F32, .ndim = 0, .data = &hi},
	};
	ck_assert_int_eq(gradcheck("Clip", 13, 3, in, 0, NULL, 1, 1e-2, 2e-3), 0);
	cnnf_attr a[2] = {{.name = "min", .type = CNNF_ATTR_FLOAT, .f = lo},
			  {.name = "max", .type = CNNF_ATTR_FLOAT, .f = hi}};
	ck_assert_int_eq(gradcheck("Clip", 6, 1, in, 2, a, 1, 1e-2, 2e-3), 0);
}
END_TEST

/* The harness itself fails on a wrong gradient: Sigmoid's backward fed a shifted input. */
START_TEST(test_harness_catches)
{
	float x[12];
	fill_smooth(x, 12, -2, 2, 3);
	optest_in in = {.kind = OPTEST_INPUT, .type = CNNF_DT_F32, .ndim = 1, .dim = {12}, .data = x};
	/* Exp has no backward: reported, not passed. */
	ck_assert_int_lt(gradcheck("Exp", 13, 1, &in, 0, NULL, 1, 1e-2, 2e-3), 0);
	/* A tolerance no float computation meets makes the same check fail. */
	ck_assert_int_gt(gradcheck("Sigmoid", 13, 1, &in, 0, NULL, 1, 1e-1, 1e-12), 0);
}
END_TEST

static Suite *ops_grad_suite(void)
{
	Suite *s = suite_create("ops_grad");
	TCase *c = tcase_create("unary");
	tcase_set_timeout(c, 60);
	tcase_add_loop_test(c, test_unary, 0, (int)(sizeof unary_cases / sizeof unary_cases[0]));
	tcase_add_test(c, test_clip);
	tcase_add_test(c, test_harness_catches);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	return cnnf_test_run(ops_grad_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
