/* check_pool.c: max and average pooling against windows worked out by hand. */
#include <math.h>

#include "engine/pool.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_tensor *tensor_of(int c, int h, int w, const double *v)
{
	cnnf_tensor *t = cnnf_tensor_new(c, h, w);
	ck_assert_msg(t != NULL, "cnnf_tensor_new: %s", cnnf_error_get());
	for (size_t i = 0; i < cnnf_tensor_size(t); i++)
		t->data[i] = (float)v[i];
	return t;
}

/* Pool, which must succeed, and compare with want exactly (every value here is exact in float). */
static void pool_eq(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
                    int c, int oh, int ow, const double *want)
{
	cnnf_tensor *out = NULL;
	int rc = cnnf_pool_apply(in, kind, kh, kw, sy, sx, "pool", &out);
	ck_assert_msg(rc == 0, "cnnf_pool_apply failed: %s", cnnf_error_get());
	ck_assert_ptr_nonnull(out);
	const char *what = kind == CNNF_POOL_MAX ? "max" : "avg";
	ck_assert_msg(out->c == c && out->h == oh && out->w == ow,
	              "%s %dx%d/%d,%d: shape %dx%dx%d, expected %dx%dx%d", what, kh, kw, sy, sx,
	              out->c, out->h, out->w, c, oh, ow);
	for (size_t i = 0; i < cnnf_tensor_size(out); i++)
		ck_assert_msg(out->data[i] == (float)want[i],
		              "%s %dx%d/%d,%d: out[%zu] = %g, expected %g", what, kh, kw, sy, sx, i,
		              out->data[i], want[i]);
	cnnf_tensor_free(out);
}

/*
 * The 4x4 plane used throughout:
 *    1  2  3  4
 *    5  6  7  8
 *    9 10 11 12
 *   13 14 15 16
 */
static const double p4[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* ---- core ------------------------------------------------------------------------------- */

/* 2x2, stride 2: windows {1,2,5,6} {3,4,7,8} {9,10,13,14} {11,12,15,16}. */
START_TEST(test_4x4_size2)
{
	static const double max[4] = {6, 8, 14, 16};
	/* (1+2+5+6)/4 = 3.5, (3+4+7+8)/4 = 5.5, (9+10+13+14)/4 = 11.5, (11+12+15+16)/4 = 13.5. */
	static const double avg[4] = {3.5, 5.5, 11.5, 13.5};
	cnnf_tensor *in = tensor_of(1, 4, 4, p4);
	pool_eq(in, CNNF_POOL_MAX, 2, 2, 2, 2, 1, 2, 2, max);
	pool_eq(in, CNNF_POOL_AVG, 2, 2, 2, 2, 1, 2, 2, avg);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Stride other than the size. 2x2 stride 1: 3x3 overlapping windows; the max
 * is the window's bottom-right (y+1, x+1) = 4(y+1) + x + 2, the mean is the
 * centre of {a, a+1, a+4, a+5} = a + 2.5 with a = 4y + x + 1.
 * 3x3 stride 1: 2x2; max = bottom-right 4(y+2) + x + 3, mean = centre 4(y+1) + x + 2.
 */
START_TEST(test_4x4_strides)
{
	static const double max21[9] = {6, 7, 8, 10, 11, 12, 14, 15, 16};
	static const double avg21[9] = {3.5, 4.5, 5.5, 7.5, 8.5, 9.5, 11.5, 12.5, 13.5};
	static const double max31[4] = {11, 12, 15, 16};
	static const double avg31[4] = {6, 7, 10, 11};
	/* 1x1 stride 2: every other sample, 1 3 / 9 11 (a pure subsample). */
	static const double sub[4] = {1, 3, 9, 11};
	/* 3x3 stride 3: floor((4-3)/3) + 1 = 1 window, rows and columns 0..2: max 11, mean 6. */
	static const double max33[1] = {11};
	static const double avg33[1] = {6};
	cnnf_tensor *in = tensor_of(1, 4, 4, p4);
	pool_eq(in, CNNF_POOL_MAX, 2, 2, 1, 1, 1, 3, 3, max21);
	pool_eq(in, CNNF_POOL_AVG, 2, 2, 1, 1, 1, 3, 3, avg21);
	pool_eq(in, CNNF_POOL_MAX, 3, 3, 1, 1, 1, 2, 2, max31);
	pool_eq(in, CNNF_POOL_AVG, 3, 3, 1, 1, 1, 2, 2, avg31);
	pool_eq(in, CNNF_POOL_MAX, 1, 1, 2, 2, 1, 2, 2, sub);
	pool_eq(in, CNNF_POOL_AVG, 1, 1, 2, 2, 1, 2, 2, sub);
	pool_eq(in, CNNF_POOL_MAX, 3, 3, 3, 3, 1, 1, 1, max33);
	pool_eq(in, CNNF_POOL_AVG, 3, 3, 3, 3, 1, 1, 1, avg33);
	/* The whole plane as one window. */
	static const double all_max[1] = {16}, all_avg[1] = {8.5};
	pool_eq(in, CNNF_POOL_MAX, 4, 4, 1, 1, 1, 1, 1, all_max);
	pool_eq(in, CNNF_POOL_AVG, 4, 4, 1, 1, 1, 1, 1, all_avg);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Floor output size: 5x5 holding 5y + x + 1 (1..25), size 2, stride 2:
 * floor((5-2)/2) + 1 = 2 per axis; row 4 and column 4 are never read.
 * Windows: {1,2,6,7} {3,4,8,9} {11,12,16,17} {13,14,18,19}.
 * The last column and row are made huge, so reading them would show.
 */
START_TEST(test_floor_size)
{
	double v[25];
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 5; x++)
			v[y * 5 + x] = y == 4 || x == 4 ? 1000 : 5 * y + x + 1;
	static const double max[4] = {7, 9, 17, 19};
	static const double avg[4] = {4, 6, 14, 16};
	cnnf_tensor *in = tensor_of(1, 5, 5, v);
	pool_eq(in, CNNF_POOL_MAX, 2, 2, 2, 2, 1, 2, 2, max);
	pool_eq(in, CNNF_POOL_AVG, 2, 2, 2, 2, 1, 2, 2, avg);
	/* 3x3 stride 2 on 5x5: floor(2/2) + 1 = 2, windows start at 0 and 2 and do reach row 4. */
	static const double max3[4] = {13, 1000, 1000, 1000};
	/* Top-left window rows 0..2, cols 0..2: 1+2+3+6+7+8+11+12+13 = 63, /9 = 7. */
	static const double avg3_first = 7;
	cnnf_tensor *out = NULL;
	pool_eq(in, CNNF_POOL_MAX, 3, 3, 2, 2, 1, 2, 2, max3);
	ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_AVG, 3, 3, 2, 2, "p", &out), 0);
	ck_assert(out->data[0] == (float)avg3_first);
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Non-square windows on the 4x4 plane.
 * 2 high, 1 wide, stride 2 down, 1 across: 2x4, pairs (row 2y, row 2y+1):
 * max = lower one, mean = upper + 2.
 * 1 high, 3 wide, stride 1: 4x2, triples along rows: max = right end, mean = middle.
 * 2 high, 3 wide, strides 2 and 1: 2x2: {1,2,3,5,6,7} max 7 mean 4; {2,3,4,6,7,8} 8, 5;
 * {9,10,11,13,14,15} 15, 12; {10,11,12,14,15,16} 16, 13.
 */
START_TEST(test_non_square)
{
	static const double max21[8] = {5, 6, 7, 8, 13, 14, 15, 16};
	static const double avg21[8] = {3, 4, 5, 6, 11, 12, 13, 14};
	static const double max13[8] = {3, 4, 7, 8, 11, 12, 15, 16};
	static const double avg13[8] = {2, 3, 6, 7, 10, 11, 14, 15};
	static const double max23[4] = {7, 8, 15, 16};
	static const double avg23[4] = {4, 5, 12, 13};
	cnnf_tensor *in = tensor_of(1, 4, 4, p4);
	pool_eq(in, CNNF_POOL_MAX, 2, 1, 2, 1, 1, 2, 4, max21);
	pool_eq(in, CNNF_POOL_AVG, 2, 1, 2, 1, 1, 2, 4, avg21);
	pool_eq(in, CNNF_POOL_MAX, 1, 3, 1, 1, 1, 4, 2, max13);
	pool_eq(in, CNNF_POOL_AVG, 1, 3, 1, 1, 1, 4, 2, avg13);
	pool_eq(in, CNNF_POOL_MAX, 2, 3, 2, 1, 1, 2, 2, max23);
	pool_eq(in, CNNF_POOL_AVG, 2, 3, 2, 1, 1, 2, 2, avg23);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Channels are pooled apart. Channel 1 is the negated plane: its max is minus
 * the window's smallest (a max that started from 0 would give 0 here), and
 * channel 2 is constant 7 with one -1 that only its own mean sees.
 */
START_TEST(test_channels)
{
	double v[48];
	for (int i = 0; i < 16; i++) {
		v[i] = p4[i];
		v[16 + i] = -p4[i];
		v[32 + i] = 7;
	}
	v[32 + 5] = -1; /* row 1, column 1: in the first 2x2 window */
	static const double max[12] = {6, 8, 14, 16, -1, -3, -9, -11, 7, 7, 7, 7};
	/* (7+7+7-1)/4 = 5. */
	static const double avg[12] = {3.5, 5.5, 11.5, 13.5, -3.5, -5.5, -11.5, -13.5, 5, 7, 7, 7};
	cnnf_tensor *in = tensor_of(3, 4, 4, v);
	pool_eq(in, CNNF_POOL_MAX, 2, 2, 2, 2, 3, 2, 2, max);
	pool_eq(in, CNNF_POOL_AVG, 2, 2, 2, 2, 3, 2, 2, avg);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * NaN propagates through max as in PyTorch: any window holding a NaN gives
 * NaN, wherever the NaN sits (first sample read, or after larger values).
 * Window 0: NaN first. Window 1: NaN last, after 9. Window 2: no NaN: max 8.
 * The mean of a window with NaN is NaN too.
 */
START_TEST(test_nan)
{
	static const double v[12] = {NAN, 1, 2, 3,   4, 5, /* row 0 */
	                             4,   5, 9, NAN, 8, 6};
	cnnf_tensor *in = tensor_of(1, 2, 6, v);
	cnnf_tensor *out = NULL;
	ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_MAX, 2, 2, 2, 2, "nan", &out), 0);
	ck_assert_int_eq(out->h, 1);
	ck_assert_int_eq(out->w, 3);
	ck_assert_msg(isnan(out->data[0]), "NaN first in window: max is %g", out->data[0]);
	ck_assert_msg(isnan(out->data[1]), "NaN after 9 in window: max is %g", out->data[1]);
	ck_assert_msg(out->data[2] == 8.0f, "window without NaN: max is %g", out->data[2]);
	cnnf_tensor_free(out);

	ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_AVG, 2, 2, 2, 2, "nan", &out), 0);
	ck_assert(isnan(out->data[0]));
	ck_assert(isnan(out->data[1]));
	/* (4+5+8+6)/4 = 5.75. */
	ck_assert(out->data[2] == 5.75f);
	cnnf_tensor_free(out);

	/* Overlapping windows: 1x2 stride 1 along row 1 {4,5} {5,9} {9,NaN} {NaN,8} {8,6}. */
	ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_MAX, 1, 2, 1, 1, "nan", &out), 0);
	ck_assert_int_eq(out->w, 5);
	const float *r1 = out->data + 5;
	ck_assert(r1[0] == 5.0f && r1[1] == 9.0f && isnan(r1[2]) && isnan(r1[3]) && r1[4] == 8.0f);
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
}
END_TEST

/* Infinities are ordinary values for max: -inf loses, +inf wins. */
START_TEST(test_infinities)
{
	static const double v[4] = {-INFINITY, -INFINITY, -5, INFINITY};
	cnnf_tensor *in = tensor_of(1, 2, 2, v);
	cnnf_tensor *out = NULL;
	ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_MAX, 1, 2, 1, 1, "inf", &out), 0);
	ck_assert(isinf(out->data[0]) && out->data[0] < 0);
	ck_assert(isinf(out->data[1]) && out->data[1] > 0);
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* A window larger than the input along either axis is refused, naming the caller's name. */
START_TEST(test_window_too_large)
{
	static const int windows[][2] = {{3, 3}, {3, 1}, {1, 5}};
	cnnf_tensor *in = tensor_of(1, 2, 4, p4);
	for (size_t i = 0; i < sizeof windows / sizeof *windows; i++)
		for (int kind = 0; kind < 2; kind++) {
			cnnf_tensor sentinel, *out = &sentinel;
			cnnf_error_clear();
			ck_assert_int_eq(cnnf_pool_apply(in, (cnnf_pool_kind)kind, windows[i][0],
			                                 windows[i][1], 1, 1, "layer pool3", &out),
			                 -1);
			ck_assert_ptr_eq(out, &sentinel);
			ck_assert_error_has("layer pool3");
			char size[32];
			snprintf(size, sizeof size, "%dx%d", windows[i][0], windows[i][1]);
			ck_assert_error_has(size);
			ck_assert_error_has("2x4");
		}
	cnnf_tensor_free(in);
}
END_TEST

/* Sizes and strides below 1 are refused too, not divided by. */
START_TEST(test_bad_window)
{
	static const int args[][4] = {
	    {0, 2, 1, 1}, {2, 0, 1, 1}, {2, 2, 0, 1}, {2, 2, 1, 0}, {-1, 2, 1, 1}};
	cnnf_tensor *in = tensor_of(1, 4, 4, p4);
	for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
		cnnf_tensor sentinel, *out = &sentinel;
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_pool_apply(in, CNNF_POOL_MAX, args[i][0], args[i][1],
		                                 args[i][2], args[i][3], "pool1", &out),
		                 -1);
		ck_assert_ptr_eq(out, &sentinel);
		ck_assert_error_has("pool1");
	}
	cnnf_tensor_free(in);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_4x4_size2);
	tcase_add_test(core, test_4x4_strides);
	tcase_add_test(core, test_floor_size);
	tcase_add_test(core, test_non_square);
	tcase_add_test(core, test_channels);
	tcase_add_test(core, test_nan);
	tcase_add_test(core, test_infinities);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_window_too_large);
	tcase_add_test(errors, test_bad_window);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(pool_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
