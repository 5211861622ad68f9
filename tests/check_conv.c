/* check_conv.c: the convolution engine against hand-worked lecture examples and a plain loop. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/conv.h"
#include "testutil.h"

#define NBORDERS 5

static const cnnf_border all_borders[NBORDERS] = {CNNF_BORDER_ZERO, CNNF_BORDER_REPLICATE,
                                                  CNNF_BORDER_REFLECT, CNNF_BORDER_SYMMETRIC,
                                                  CNNF_BORDER_WRAP};

/* ---- helpers ---------------------------------------------------------------------------- */

/* A c x h x w tensor holding v (row-major per plane), or zeros when v is NULL. */
static cnnf_tensor *tensor_of(int c, int h, int w, const double *v)
{
	cnnf_tensor *t = cnnf_tensor_new(c, h, w);
	ck_assert_ptr_nonnull(t);
	if (v)
		for (size_t i = 0; i < cnnf_tensor_size(t); i++)
			t->data[i] = (float)v[i];
	return t;
}

/* A bank with the given weights (may be NULL: leave cnnf_kernel_new's) and one scale for all. */
static cnnf_kernel *kernel_of(int count, int depth, int h, int w, const double *weights, double num,
                              double den)
{
	cnnf_kernel *k = cnnf_kernel_new(count, depth, h, w);
	ck_assert_ptr_nonnull(k);
	if (weights)
		memcpy(k->weights, weights, sizeof(double) * (size_t)count * depth * h * w);
	for (int f = 0; f < count; f++) {
		k->scale_num[f] = num;
		k->scale_den[f] = den;
	}
	return k;
}

/* Geometry with explicit padding on each side, stride 1, dilation 1. */
static cnnf_conv_geom geom_pad(int top, int bottom, int left, int right, cnnf_border b)
{
	cnnf_conv_geom g = {.pad_top = top,
	                    .pad_bottom = bottom,
	                    .pad_left = left,
	                    .pad_right = right,
	                    .stride_y = 1,
	                    .stride_x = 1,
	                    .dil_y = 1,
	                    .dil_x = 1,
	                    .border = b};
	return g;
}

/* Run the engine, which must succeed. */
static cnnf_tensor *apply(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
                          const cnnf_conv_out *post, int threads)
{
	cnnf_tensor *out = NULL;
	int rc = cnnf_conv_apply(in, k, g, post, threads, "test", &out);
	ck_assert_msg(rc == 0, "cnnf_conv_apply failed: %s", cnnf_error_get());
	ck_assert_ptr_nonnull(out);
	return out;
}

static float at(const cnnf_tensor *t, int c, int y, int x)
{
	return t->data[((size_t)c * t->h + y) * t->w + x];
}

static void assert_shape(const cnnf_tensor *t, int c, int h, int w)
{
	ck_assert_msg(t->c == c && t->h == h && t->w == w, "shape %dx%dx%d, expected %dx%dx%d",
	              t->c, t->h, t->w, c, h, w);
}

/* Whether the error message contains s as a whole token (so "2" does not match "32"). */
static int error_has_word(const char *s)
{
	const char *msg = cnnf_error_get();
	size_t n = strlen(s);
	for (const char *p = strstr(msg, s); p; p = strstr(p + 1, s)) {
		int before = p == msg || !(p[-1] >= '0' && p[-1] <= '9');
		int after = !(p[n] >= '0' && p[n] <= '9');
		if (before && after)
			return 1;
	}
	return 0;
}

/*
 * The test's own border modes, independent of cnnf_conv_border_index: it
 * walks the mirrors and periods step by step instead of using modular
 * arithmetic. The input index padded index i reads, or -1 for a zero sample.
 */
static long ref_index(long i, long n, cnnf_border b)
{
	switch (b) {
	case CNNF_BORDER_ZERO:
		return i < 0 || i >= n ? -1 : i;
	case CNNF_BORDER_REPLICATE:
		return i < 0 ? 0 : i >= n ? n - 1 : i;
	case CNNF_BORDER_REFLECT:
		if (n == 1)
			return 0;
		while (i < 0 || i >= n) {
			if (i < 0)
				i = -i; /* mirror about sample 0 */
			if (i >= n)
				i = 2 * (n - 1) - i; /* mirror about sample n-1 */
		}
		return i;
	case CNNF_BORDER_SYMMETRIC:
		while (i < 0 || i >= n) {
			if (i < 0)
				i = -1 - i; /* mirror about the edge left of sample 0 */
			if (i >= n)
				i = 2 * n - 1 - i; /* mirror about the edge right of sample n-1 */
		}
		return i;
	case CNNF_BORDER_WRAP:
		while (i < 0)
			i += n;
		while (i >= n)
			i -= n;
		return i;
	}
	return -2;
}

/* ---- core: the lecture's examples, worked by hand ------------------------------------- */

/*
 * The 10x10 box-filter example (valid: 8x8 out). Each output is 90 * (count of
 * 90s in its 3x3 window) / 9 = 10 * count. Counting per window row: a full
 * row (90 at columns 3..7) gives 0 1 2 3 3 3 2 1 over output columns 0..7,
 * row 5 (hole at column 4) gives 0 1 1 2 2 3 2 1, row 8 (90 at column 2)
 * gives 1 1 1 0 0 0 0 0. Output row m sums rows m..m+2. The slide's final
 * table agrees with this; its partial table one slide earlier shows the "50"
 * two lines below the first row, but the empty rows are lost there, so it is
 * not counted as an error.
 */
START_TEST(test_box_10x10_valid)
{
	static const double f[100] = {
	    0, 0, 0,  0,  0,  0,  0,  0,  0, 0, /* */
	    0, 0, 0,  0,  0,  0,  0,  0,  0, 0, /* */
	    0, 0, 0,  90, 90, 90, 90, 90, 0, 0, /* */
	    0, 0, 0,  90, 90, 90, 90, 90, 0, 0, /* */
	    0, 0, 0,  90, 90, 90, 90, 90, 0, 0, /* */
	    0, 0, 0,  90, 0,  90, 90, 90, 0, 0, /* */
	    0, 0, 0,  90, 90, 90, 90, 90, 0, 0, /* */
	    0, 0, 0,  0,  0,  0,  0,  0,  0, 0, /* */
	    0, 0, 90, 0,  0,  0,  0,  0,  0, 0, /* */
	    0, 0, 0,  0,  0,  0,  0,  0,  0, 0,
	};
	static const double h[64] = {
	    0,  10, 20, 30, 30, 30, 20, 10, /* rows 0-2: F */
	    0,  20, 40, 60, 60, 60, 40, 20, /* rows 1-3: 2F */
	    0,  30, 60, 90, 90, 90, 60, 30, /* rows 2-4: 3F */
	    0,  30, 50, 80, 80, 90, 60, 30, /* rows 3-5: 2F + hole row */
	    0,  30, 50, 80, 80, 90, 60, 30, /* rows 4-6: 2F + hole row */
	    0,  20, 30, 50, 50, 60, 40, 20, /* rows 5-7: F + hole row */
	    10, 20, 30, 30, 30, 30, 20, 10, /* rows 6-8: F + row 8 */
	    10, 10, 10, 0,  0,  0,  0,  0,  /* rows 7-9: row 8 */
	};
	static const double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	cnnf_tensor *in = tensor_of(1, 10, 10, f);
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, ones, 1, 9);
	for (int b = 0; b < NBORDERS; b++) {
		/* Valid padding never reads outside, so the border mode must not matter. */
		cnnf_conv_geom g = geom_pad(0, 0, 0, 0, all_borders[b]);
		cnnf_tensor *out = apply(in, k, &g, NULL, 1);
		assert_shape(out, 1, 8, 8);
		/* 90c/9 = 10c is exact in double and float: compare exactly. */
		for (int i = 0; i < 64; i++)
			ck_assert_msg(out->data[i] == (float)h[i], "h[%d][%d] = %g, expected %g",
			              i / 8, i % 8, out->data[i], h[i]);
		cnnf_tensor_free(out);
	}
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * The 1-D example: f = 10 50 60 10 20 40 30, g = 1/3 [1 1 1], zero 'same'
 * padding. By hand: h = 60/3 120/3 120/3 90/3 70/3 90/3 70/3
 *                     = 20 40 40 30 23.333 30 23.333.
 * The slide gives h(4) (0-based; the fifth value) as 20, but its window
 * 10 + 20 + 40 = 70 gives 23.333; 20 would need a sum of 60.
 */
START_TEST(test_1d_example)
{
	static const double f[7] = {10, 50, 60, 10, 20, 40, 30};
	static const double g3[3] = {1, 1, 1};
	static const double zero_sums[7] = {60, 120, 120, 90, 70, 90, 70};
	/* Replicate repeats 10 before and 30 after: 10+10+50 = 70, 40+30+30 = 100. */
	static const double repl_sums[7] = {70, 120, 120, 90, 70, 90, 100};
	static const double zero_rounded[7] = {20, 40, 40, 30, 23, 30, 23};
	cnnf_tensor *in = tensor_of(1, 1, 7, f);
	cnnf_kernel *k = kernel_of(1, 1, 1, 3, g3, 1, 3);

	int top, bottom, left, right;
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 1, 1, 1, 1, &top, &bottom);
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 7, 3, 1, 1, &left, &right);
	ck_assert_int_eq(top, 0);
	ck_assert_int_eq(bottom, 0);
	ck_assert_int_eq(left, 1);
	ck_assert_int_eq(right, 1);

	cnnf_conv_geom g = geom_pad(top, bottom, left, right, CNNF_BORDER_ZERO);
	cnnf_tensor *out = apply(in, k, &g, NULL, 1);
	assert_shape(out, 1, 1, 7);
	for (int x = 0; x < 7; x++) {
		double want = zero_sums[x] / 3;
		/* Stored as float: allow float's relative precision, not more. */
		ck_assert_msg(fabs(out->data[x] - want) <= 1e-6 * want,
		              "h(%d) = %.9g, expected %.9g", x, out->data[x], want);
	}
	cnnf_tensor_free(out);

	cnnf_conv_out post = {.round = 255};
	out = apply(in, k, &g, &post, 1);
	for (int x = 0; x < 7; x++)
		ck_assert_msg(out->data[x] == zero_rounded[x], "rounded h(%d) = %g, expected %g", x,
		              out->data[x], zero_rounded[x]);
	cnnf_tensor_free(out);

	g.border = CNNF_BORDER_REPLICATE;
	out = apply(in, k, &g, NULL, 1);
	for (int x = 0; x < 7; x++) {
		double want = repl_sums[x] / 3;
		ck_assert_msg(fabs(out->data[x] - want) <= 1e-6 * want,
		              "replicate h(%d) = %.9g, expected %.9g", x, out->data[x], want);
	}
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * The practice filter with a 1 right of centre: correlation reads in[y][x+1],
 * so the content moves left by one, as the slide says. (Under the flipped
 * definition the lecture gives for 2-D convolution it would move right; the
 * slides' box example formula h[m,n] = sum g[k,l] f[m+k,n+l] is correlation.)
 * The last column reads column w, which each border mode makes differently.
 */
START_TEST(test_shift_left)
{
	static const double img[12] = {
	    1, 2,  3,  4, /* */
	    5, 6,  7,  8, /* */
	    9, 10, 11, 12,
	};
	static const double shift[9] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
	/* Column 4 under each border: zero 0, replicate 3, reflect 2, symmetric 3, wrap 0. */
	static const int last_src[NBORDERS] = {-1, 3, 2, 3, 0};
	cnnf_tensor *in = tensor_of(1, 3, 4, img);
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, shift, 1, 1);
	for (int b = 0; b < NBORDERS; b++) {
		cnnf_conv_geom g = geom_pad(1, 1, 1, 1, all_borders[b]);
		cnnf_tensor *out = apply(in, k, &g, NULL, 1);
		assert_shape(out, 1, 3, 4);
		for (int y = 0; y < 3; y++)
			for (int x = 0; x < 4; x++) {
				double want = x < 3             ? img[y * 4 + x + 1]
				              : last_src[b] < 0 ? 0
				                                : img[y * 4 + last_src[b]];
				ck_assert_msg(at(out, 0, y, x) == want,
				              "%s: out[%d][%d] = %g, expected %g",
				              cnnf_conv_border_name(all_borders[b]), y, x,
				              at(out, 0, y, x), want);
			}
		cnnf_tensor_free(out);
	}
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/* Identity leaves any image unchanged whatever the border, on one channel and on three. */
START_TEST(test_identity)
{
	static const double id[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, id, 1, 1);
	for (int nc = 1; nc <= 3; nc += 2) {
		cnnf_tensor *in = tensor_of(nc, 4, 5, NULL);
		for (size_t i = 0; i < cnnf_tensor_size(in); i++)
			in->data[i] = (float)(i * 7 % 23) + 0.25f;
		for (int b = 0; b < NBORDERS; b++) {
			cnnf_conv_geom g = geom_pad(1, 1, 1, 1, all_borders[b]);
			cnnf_tensor *out = apply(in, k, &g, NULL, 1);
			assert_shape(out, nc, 4, 5);
			ck_assert_msg(
			    memcmp(out->data, in->data, sizeof(float) * cnnf_tensor_size(in)) == 0,
			    "%d channels, %s: identity changed the image", nc,
			    cnnf_conv_border_name(all_borders[b]));
			cnnf_tensor_free(out);
		}
		cnnf_tensor_free(in);
	}
	cnnf_kernel_free(k);
}
END_TEST

/*
 * Sharpen = 2*identity - box: weights 17 at the centre and -1 elsewhere, over 9
 * (it sums to 1, as the slide notes). Worked as (18*centre - window sum) / 9.
 */
START_TEST(test_sharpen)
{
	static const double sharp[9] = {-1, -1, -1, -1, 17, -1, -1, -1, -1};
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, sharp, 1, 9);

	/*
	 * A bright centre with zero border: corner (18*10 - 70)/9 = 110/9, edge
	 * (180 - 90)/9 = 10, centre (720 - 120)/9 = 600/9.
	 */
	static const double spot[9] = {10, 10, 10, 10, 40, 10, 10, 10, 10};
	static const double spot_num[9] = {110, 90, 110, 90, 600, 90, 110, 90, 110};
	cnnf_tensor *in = tensor_of(1, 3, 3, spot);
	cnnf_conv_geom g = geom_pad(1, 1, 1, 1, CNNF_BORDER_ZERO);
	cnnf_tensor *out = apply(in, k, &g, NULL, 1);
	for (int i = 0; i < 9; i++) {
		double want = spot_num[i] / 9;
		ck_assert_msg(fabs(out->data[i] - want) <= 1e-6 * want,
		              "spot %d: %.9g, expected %.9g", i, out->data[i], want);
	}
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);

	/*
	 * A 0|90 edge with replicate border: every row is the same. Column 1 sees
	 * 0 0 90 three times: (0 - 270)/9 = -30; column 2 sees 0 90 90: (1620 -
	 * 540)/9 = 120. The undershoot and overshoot are what "accentuates
	 * differences" means; round 255 clamps -30 to 0.
	 */
	static const double edge[12] = {0, 0, 90, 90, 0, 0, 90, 90, 0, 0, 90, 90};
	static const double edge_out[4] = {0, -30, 120, 90};
	static const double edge_round[4] = {0, 0, 120, 90};
	in = tensor_of(1, 3, 4, edge);
	g = geom_pad(1, 1, 1, 1, CNNF_BORDER_REPLICATE);
	out = apply(in, k, &g, NULL, 1);
	cnnf_conv_out post = {.round = 255};
	cnnf_tensor *rounded = apply(in, k, &g, &post, 1);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 4; x++) {
			ck_assert_msg(at(out, 0, y, x) == edge_out[x],
			              "edge[%d][%d] = %g, expected %g", y, x, at(out, 0, y, x),
			              edge_out[x]);
			ck_assert_msg(at(rounded, 0, y, x) == edge_round[x],
			              "rounded edge[%d][%d] = %g, expected %g", y, x,
			              at(rounded, 0, y, x), edge_round[x]);
		}
	cnnf_tensor_free(out);
	cnnf_tensor_free(rounded);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * Six 5x5x3 filters on a 32x32x3 image, valid: 6 x 28 x 28. With in[c][y][x] =
 * x + 100c and filter f all f+1, one output sums, over 3 channels and 5 rows,
 * sum_j (x + j) = 5x + 10 plus 5 * 100c: 3*5*(5x + 10) + 25*100*(0+1+2) =
 * 75x + 7650, so out[f][y][x] = (f+1)(75x + 7650) + bias[f]. With an all-ones
 * input the same filters give (f+1)*75 + bias[f].
 */
START_TEST(test_volume_28x28x6)
{
	cnnf_tensor *in = tensor_of(3, 32, 32, NULL);
	cnnf_kernel *k = kernel_of(6, 3, 5, 5, NULL, 1, 1);
	for (int f = 0; f < 6; f++) {
		for (int i = 0; i < 75; i++)
			k->weights[f * 75 + i] = f + 1;
		k->bias[f] = 0.5 * f - 1;
	}
	cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);

	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = 1;
	cnnf_tensor *out = apply(in, k, &g, NULL, 0);
	assert_shape(out, 6, 28, 28);
	for (int f = 0; f < 6; f++)
		for (int y = 0; y < 28; y += 9)
			for (int x = 0; x < 28; x += 3)
				ck_assert_msg(at(out, f, y, x) == (f + 1) * 75 + k->bias[f],
				              "ones: out[%d][%d][%d] = %g", f, y, x,
				              at(out, f, y, x));
	cnnf_tensor_free(out);

	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 32; y++)
			for (int x = 0; x < 32; x++)
				in->data[(c * 32 + y) * 32 + x] = (float)(x + 100 * c);
	out = apply(in, k, &g, NULL, 3);
	assert_shape(out, 6, 28, 28);
	for (int f = 0; f < 6; f++)
		for (int y = 0; y < 28; y += 5)
			for (int x = 0; x < 28; x++) {
				double want = (f + 1) * (75.0 * x + 7650) + k->bias[f];
				ck_assert_msg(at(out, f, y, x) == want,
				              "ramp: out[%d][%d][%d] = %g, expected %g", f, y, x,
				              at(out, f, y, x), want);
			}
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/* floor((n + before + after - d(k-1) - 1)/s) + 1, each case worked by hand. */
START_TEST(test_out_size)
{
	/* The padding slide: 7 wide, pad 1, stride 2, k 3: floor(6/2) + 1 = 4. */
	ck_assert_int_eq(cnnf_conv_out_size(7, 1, 1, 3, 2, 1), 4);
	/* The stride slide: 7, k 3, stride 2, no pad: floor(4/2) + 1 = 3 ("half" is 3.5). */
	ck_assert_int_eq(cnnf_conv_out_size(7, 0, 0, 3, 2, 1), 3);
	/* The slide's w_in + 2p - k with k 3, s 1, p 1 keeps w_in. */
	for (long n = 1; n <= 40; n++)
		ck_assert_int_eq(cnnf_conv_out_size(n, 1, 1, 3, 1, 1), n);
	/* The CNN layer: 32, 5x5, valid: 28. */
	ck_assert_int_eq(cnnf_conv_out_size(32, 0, 0, 5, 1, 1), 28);
	/* Stride 3, k 2 on 10: floor(8/3) + 1 = 3; the last column is never read. */
	ck_assert_int_eq(cnnf_conv_out_size(10, 0, 0, 2, 3, 1), 3);
	/* Dilation 2 spreads k 3 over 5: 10 - 5 + 1 = 6. */
	ck_assert_int_eq(cnnf_conv_out_size(10, 0, 0, 3, 1, 2), 6);
	/* k 3, d 3 spans 7; pad 2+2, stride 2: floor((14 - 7)/2) + 1 = 4. */
	ck_assert_int_eq(cnnf_conv_out_size(10, 2, 2, 3, 2, 3), 4);
	/* Asymmetric padding counts both sides: 5 + 0 + 3 - 4 = 4, /1 + 1 = 5. */
	ck_assert_int_eq(cnnf_conv_out_size(5, 0, 3, 4, 1, 1), 5);
	/* Exactly one position, and none. */
	ck_assert_int_eq(cnnf_conv_out_size(3, 0, 1, 4, 1, 1), 1);
	ck_assert_int_eq(cnnf_conv_out_size(3, 0, 0, 5, 1, 1), 0);
	ck_assert_int_eq(cnnf_conv_out_size(6, 0, 0, 3, 1, 3), 0);
	ck_assert_int_eq(cnnf_conv_out_size(1, 0, 0, 1, 5, 1), 1);
	/* Int-sized arguments must not overflow. */
	ck_assert_int_eq(cnnf_conv_out_size(INT_MAX, INT_MAX, INT_MAX, 1, 1, 1), 3L * INT_MAX);
	ck_assert_int_eq(cnnf_conv_out_size(INT_MAX, 0, 0, INT_MAX, 1, INT_MAX), 0);
	ck_assert_int_eq(cnnf_conv_out_size(INT_MAX, 0, 0, 2, INT_MAX, 1), 1);
}
END_TEST

/* TensorFlow SAME: total = (ceil(n/s) - 1)s + d(k-1) + 1 - n, at least 0, smaller half before. */
START_TEST(test_pad)
{
	static const struct {
		long n, k, s, d;
		int before, after;
	} same[] = {
	    {7, 3, 1, 1, 1, 1}, /* total 6 + 3 - 7 = 2 */
	    {7, 4, 1, 1, 1, 2}, /* even kernel: total 3, the extra one after */
	    {7, 4, 2, 1, 1, 2}, /* 4 outputs: 6 + 4 - 7 = 3 */
	    {8, 4, 2, 1, 1, 1}, /* 4 outputs: 6 + 4 - 8 = 2 */
	    {8, 2, 2, 1, 0, 0}, /* 6 + 2 - 8 = 0 */
	    {8, 1, 3, 1, 0, 0}, /* 6 + 1 - 8 = -1: no padding, not negative */
	    {6, 6, 2, 1, 2, 2}, /* 3 outputs: 4 + 6 - 6 = 4 */
	    {7, 6, 2, 1, 2, 3}, /* 4 outputs: 6 + 6 - 7 = 5 */
	    {5, 3, 1, 2, 2, 2}, /* dilated span 5: 4 + 5 - 5 = 4 */
	    {1, 5, 1, 1, 2, 2}, /* kernel larger than the input */
	    {9, 3, 3, 1, 0, 0}, /* 3 outputs: 6 + 3 - 9 = 0 */
	};
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		int before = -1, after = -1;
		cnnf_conv_pad(CNNF_PAD_SAME, 0, same[i].n, same[i].k, same[i].s, same[i].d, &before,
		              &after);
		ck_assert_msg(before == same[i].before && after == same[i].after,
		              "same n=%ld k=%ld s=%ld d=%ld: %d/%d, expected %d/%d", same[i].n,
		              same[i].k, same[i].s, same[i].d, before, after, same[i].before,
		              same[i].after);
	}
	/* Whatever the case, SAME must give ceil(n/s) outputs. */
	for (long n = 1; n <= 12; n++)
		for (long k = 1; k <= 6; k++)
			for (long s = 1; s <= 4; s++)
				for (long d = 1; d <= 3; d++) {
					int b, a;
					cnnf_conv_pad(CNNF_PAD_SAME, 0, n, k, s, d, &b, &a);
					ck_assert_msg(b <= a && a - b <= 1,
					              "n=%ld k=%ld s=%ld d=%ld: split %d/%d", n, k,
					              s, d, b, a);
					ck_assert_msg(cnnf_conv_out_size(n, b, a, k, s, d) ==
					                  (n + s - 1) / s,
					              "n=%ld k=%ld s=%ld d=%ld: pads %d/%d", n, k,
					              s, d, b, a);
				}
	int before, after;
	cnnf_conv_pad(CNNF_PAD_VALID, 5, 7, 3, 1, 1, &before, &after);
	ck_assert_int_eq(before, 0);
	ck_assert_int_eq(after, 0);
	cnnf_conv_pad(CNNF_PAD_EXPLICIT, 3, 7, 3, 2, 1, &before, &after);
	ck_assert_int_eq(before, 3);
	ck_assert_int_eq(after, 3);
}
END_TEST

/* Padded indices -7..10 (columns 0..17) on n = 1 and n = 3, worked out by hand. */
START_TEST(test_border_index)
{
	/* n = 3, input abc. */
	static const long n3[NBORDERS][18] = {
	    /* -7  -6  -5  -4  -3  -2  -1   0  1  2   3   4   5   6   7   8   9  10 */
	    {-1, -1, -1, -1, -1, -1, -1, 0, 1, 2, -1, -1, -1, -1, -1, -1, -1, -1}, /* zero */
	    {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2},                /* replicate */
	    /* ...cbabcba|abc|bab cbab...: period 4 */
	    {1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2}, /* reflect */
	    /* ...ccbaabc|abc|cba abcc...: period 6 */
	    {0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1}, /* symmetric */
	    {2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1}, /* wrap */
	};
	for (int b = 0; b < NBORDERS; b++) {
		for (long i = -7; i <= 10; i++) {
			long got = cnnf_conv_border_index(i, 3, all_borders[b]);
			ck_assert_msg(got == n3[b][i + 7],
			              "%s: index %ld of 3 gave %ld, expected %ld",
			              cnnf_conv_border_name(all_borders[b]), i, got, n3[b][i + 7]);
			/* A single sample: every mode but zero reads it. */
			long want1 = i == 0 || all_borders[b] != CNNF_BORDER_ZERO ? 0 : -1;
			got = cnnf_conv_border_index(i, 1, all_borders[b]);
			ck_assert_msg(got == want1, "%s: index %ld of 1 gave %ld, expected %ld",
			              cnnf_conv_border_name(all_borders[b]), i, got, want1);
		}
	}
	/* n = 2 reflect has period 2 (ab|ab|ab); symmetric is bb a|ab|ba. */
	ck_assert_int_eq(cnnf_conv_border_index(-1, 2, CNNF_BORDER_REFLECT), 1);
	ck_assert_int_eq(cnnf_conv_border_index(2, 2, CNNF_BORDER_REFLECT), 0);
	ck_assert_int_eq(cnnf_conv_border_index(-3, 2, CNNF_BORDER_REFLECT), 1);
	ck_assert_int_eq(cnnf_conv_border_index(-1, 2, CNNF_BORDER_SYMMETRIC), 0);
	ck_assert_int_eq(cnnf_conv_border_index(-3, 2, CNNF_BORDER_SYMMETRIC), 1);
	ck_assert_int_eq(cnnf_conv_border_index(4, 2, CNNF_BORDER_SYMMETRIC), 0);
	/* Far outside a large input. */
	ck_assert_int_eq(cnnf_conv_border_index(-1000003, 1000, CNNF_BORDER_WRAP), 997);
	ck_assert_int_eq(cnnf_conv_border_index(-1000003, 1000, CNNF_BORDER_REPLICATE), 0);
}
END_TEST

START_TEST(test_border_names)
{
	for (int b = 0; b < NBORDERS; b++) {
		cnnf_border got = CNNF_BORDER_ZERO;
		ck_assert_int_eq(
		    cnnf_conv_border_parse(cnnf_conv_border_name(all_borders[b]), &got), 0);
		ck_assert_int_eq(got, all_borders[b]);
	}
	ck_assert_str_eq(cnnf_conv_border_name(CNNF_BORDER_REFLECT), "reflect");
	cnnf_border b = CNNF_BORDER_WRAP;
	ck_assert_int_eq(cnnf_conv_border_parse("mirror", &b), -1);
	ck_assert_int_eq(cnnf_conv_border_parse("", &b), -1);
	ck_assert_int_eq(b, CNNF_BORDER_WRAP);
}
END_TEST

/*
 * A 3x3 box with scale 1/9 accumulates an exact integer sum, divided once:
 * rounding must be round-half-up of the rational sum/9, i.e. floor((2 sum + 9)
 * / 18) in integers. sum/9 is never exactly .5, but 9k+4 and 9k+5 sit 1/18
 * either side of it; the input below makes both happen.
 */
START_TEST(test_box_rounds_exactly)
{
	static const double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, ones, 1, 9);
	cnnf_tensor *in = tensor_of(1, 23, 31, NULL);
	uint32_t s = 12345;
	for (size_t i = 0; i < cnnf_tensor_size(in); i++) {
		s = s * 1103515245u + 12345u;
		in->data[i] = (float)((s >> 16) % 256);
	}
	/* A 3x3 block summing to 9*100 + 4 and one summing to 9*100 + 5. */
	for (int i = 0; i < 9; i++) {
		in->data[(1 + i / 3) * 31 + 1 + i % 3] = i == 0 ? 104 : 100;
		in->data[(10 + i / 3) * 31 + 10 + i % 3] = i == 0 ? 105 : 100;
	}
	cnnf_conv_out post = {.round = 255};
	int hits = 0;
	for (int b = 0; b < NBORDERS; b++) {
		cnnf_conv_geom g = geom_pad(1, 1, 1, 1, all_borders[b]);
		cnnf_tensor *out = apply(in, k, &g, &post, 2);
		for (int y = 0; y < 23; y++)
			for (int x = 0; x < 31; x++) {
				long sum = 0;
				for (int i = -1; i <= 1; i++)
					for (int j = -1; j <= 1; j++) {
						long r = ref_index(y + i, 23, all_borders[b]);
						long c = ref_index(x + j, 31, all_borders[b]);
						if (r >= 0 && c >= 0)
							sum += (long)in->data[r * 31 + c];
					}
				long want = (2 * sum + 9) / 18;
				hits += sum % 9 == 4 || sum % 9 == 5;
				ck_assert_msg(at(out, 0, y, x) == want,
				              "%s: [%d][%d] sum %ld: %g, expected %ld",
				              cnnf_conv_border_name(all_borders[b]), y, x, sum,
				              at(out, 0, y, x), want);
			}
		/* The crafted blocks at (2,2) and (11,11): 904/9 = 100.44, 905/9 = 100.56. */
		ck_assert_msg(at(out, 0, 2, 2) == 100 && at(out, 0, 11, 11) == 101,
		              "%s: 904/9 -> %g, 905/9 -> %g", cnnf_conv_border_name(all_borders[b]),
		              at(out, 0, 2, 2), at(out, 0, 11, 11));
		cnnf_tensor_free(out);
	}
	ck_assert_int_gt(hits, 0);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * A [1 1] kernel with scale 1/2 on neighbours x, x+1 gives exactly x + 0.5,
 * which must round up to x + 1 (half up, not to even), on 8- and 16-bit scales.
 */
START_TEST(test_half_rounds_up)
{
	static const double pair[2] = {1, 1};
	cnnf_kernel *k = kernel_of(1, 1, 1, 2, pair, 1, 2);
	cnnf_tensor *in = tensor_of(1, 2, 256, NULL);
	for (int x = 0; x < 256; x++) {
		in->data[x] = (float)x;
		in->data[256 + x] = (float)(65280 + x); /* 65280..65535 */
	}
	cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);
	cnnf_tensor *raw = apply(in, k, &g, NULL, 1);
	cnnf_conv_out p8 = {.round = 255}, p16 = {.round = 65535};
	cnnf_tensor *r8 = apply(in, k, &g, &p8, 1);
	cnnf_tensor *r16 = apply(in, k, &g, &p16, 1);
	assert_shape(raw, 1, 2, 255);
	for (int x = 0; x < 255; x++) {
		ck_assert_msg(at(raw, 0, 0, x) == x + 0.5, "raw[%d] = %.9g", x, at(raw, 0, 0, x));
		ck_assert_msg(at(raw, 0, 1, x) == 65280 + x + 0.5, "raw16[%d] = %.9g", x,
		              at(raw, 0, 1, x));
		ck_assert_msg(at(r8, 0, 0, x) == x + 1, "(%d + %d)/2 rounded to %g, expected %d", x,
		              x + 1, at(r8, 0, 0, x), x + 1);
		/* Row 1 is far above 255: clamped. */
		ck_assert_msg(at(r8, 0, 1, x) == 255, "8-bit clamp: %g", at(r8, 0, 1, x));
		ck_assert_msg(at(r16, 0, 1, x) == 65280 + x + 1, "16-bit (%d + %d)/2 rounded to %g",
		              65280 + x, 65281 + x, at(r16, 0, 1, x));
	}
	cnnf_tensor_free(raw);
	cnnf_tensor_free(r8);
	cnnf_tensor_free(r16);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * The post-processing on a 1x1 kernel, worked by hand: bias + scale*sum, then
 * relu, abs, offset, round (half up, clamp 0..round), in that order.
 */
START_TEST(test_post)
{
	static const double v[7] = {-3.25, -0.5, 0, 0.25, 2.5, 254.5, 300};
	/* clang-format off */
	static const struct {
		const char *what;
		double w, num, den, bias;
		cnnf_conv_out post;
		double want[7];
	} cases[] = {
		/* Formatted by hand as a table: clang-format would give each field a line. */
		{"plain", 1, 1, 1, 0, {.round = 0}, {-3.25, -0.5, 0, 0.25, 2.5, 254.5, 300}},
		{"relu", 1, 1, 1, 0, {.relu = 1}, {0, 0, 0, 0.25, 2.5, 254.5, 300}},
		{"abs", 1, 1, 1, 0, {.abs = 1}, {3.25, 0.5, 0, 0.25, 2.5, 254.5, 300}},
		{"offset", 1, 1, 1, 0, {.offset = 10}, {6.75, 9.5, 10, 10.25, 12.5, 264.5, 310}},
		/* abs before the offset: |v| - 1, not |v - 1|. */
		{"abs offset", 1, 1, 1, 0, {.abs = 1, .offset = -1},
		 {2.25, -0.5, -1, -0.75, 1.5, 253.5, 299}},
		{"round", 1, 1, 1, 0, {.round = 255}, {0, 0, 0, 0, 3, 255, 255}},
		/* The offset comes before rounding: 0.25 + 0.25 = 0.5 rounds up to 1. */
		{"offset round", 1, 1, 1, 0, {.offset = 0.25, .round = 255}, {0, 0, 0, 1, 3, 255, 255}},
		/* relu, then -0.5: -0.5 -0.5 -0.5 -0.25 2 254 299.5, rounded and clamped. */
		{"relu offset round", 1, 1, 1, 0, {.relu = 1, .offset = -0.5, .round = 255},
		 {0, 0, 0, 0, 2, 254, 255}},
		{"abs offset round", 1, 1, 1, 0, {.abs = 1, .offset = -1, .round = 255},
		 {2, 0, 0, 0, 2, 254, 255}},
		/* Bias is added after scaling: 10 + 2*3/4*v = 10 + 1.5v. */
		{"scale bias", 2, 3, 4, 10, {.round = 0},
		 {5.125, 9.25, 10, 10.375, 13.75, 391.75, 460}},
		/* relu sees bias + scaled sum: -10 + 1.5v. */
		{"scale bias relu", 2, 3, 4, -10, {.relu = 1}, {0, 0, 0, 0, 0, 371.75, 440}},
		{"round 65535", 2, 3, 4, -10, {.round = 65535}, {0, 0, 0, 0, 0, 372, 440}},
	};
	/* clang-format on */
	cnnf_tensor *in = tensor_of(1, 1, 7, v);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cnnf_kernel *k = kernel_of(1, 1, 1, 1, &cases[i].w, cases[i].num, cases[i].den);
		k->bias[0] = cases[i].bias;
		cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);
		cnnf_tensor *out = apply(in, k, &g, &cases[i].post, 1);
		for (int x = 0; x < 7; x++)
			ck_assert_msg(out->data[x] == cases[i].want[x], "%s: %g -> %g, expected %g",
			              cases[i].what, v[x], out->data[x], cases[i].want[x]);
		cnnf_tensor_free(out);
		cnnf_kernel_free(k);
	}
	cnnf_tensor_free(in);
}
END_TEST

/*
 * A single 2-D filter on 3 channels filters each channel with that filter's
 * own scale and bias. The kernel has count 1, so only scale and bias entry 0
 * exist; entries 1 and 2 of the arrays the engine is given here hold poison,
 * so reading them (a per-channel index where the filter index belongs) shows
 * as a wrong value rather than as an out-of-bounds read.
 */
START_TEST(test_depthwise_scale_bias)
{
	static const double v[12] = {0, 2, 4, 6, 10, 20, 30, 40, -8, -4, 4, 8};
	static const double two = 2;
	cnnf_tensor *in = tensor_of(3, 2, 2, v);
	cnnf_kernel *k = kernel_of(1, 1, 1, 1, &two, 1, 4);
	double num[3] = {1, 1000, 1000}, den[3] = {4, 1, 1}, bias[3] = {5, -1e6, -1e6};
	double *own_num = k->scale_num, *own_den = k->scale_den, *own_bias = k->bias;
	k->scale_num = num;
	k->scale_den = den;
	k->bias = bias;
	cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);
	cnnf_tensor *out = NULL;
	int rc = cnnf_conv_apply(in, k, &g, NULL, 1, "depthwise", &out);
	k->scale_num = own_num;
	k->scale_den = own_den;
	k->bias = own_bias;
	ck_assert_int_eq(rc, 0);
	assert_shape(out, 3, 2, 2);
	/* 5 + 2/4 * v */
	for (int i = 0; i < 12; i++)
		ck_assert_msg(out->data[i] == 5 + 0.5 * v[i],
		              "channel %d sample %d: %g, expected %g", i / 4, i % 4, out->data[i],
		              5 + 0.5 * v[i]);
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/* ---- reference: the engine against a plain loop ------------------------------------------ */

/* xorshift64: a fixed sequence on every platform. */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Uniform in lo..hi inclusive (the modulo bias does not matter here). */
static int rng_int(int lo, int hi)
{
	return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* Uniform in [lo, hi). */
static double rng_real(double lo, double hi)
{
	return lo + (hi - lo) * ((double)(rng_next() >> 11) * 0x1.0p-53);
}

/* Sample values: integers 0..max (an 8- or 16-bit image), or reals in [-2, 2) when max is 0. */
static void fill_input(cnnf_tensor *t, int max)
{
	for (size_t i = 0; i < cnnf_tensor_size(t); i++)
		t->data[i] = max ? (float)rng_int(0, max) : (float)rng_real(-2, 2);
}

enum weights { W_REAL, W_SMALL_INT, W_AVERAGE };

/*
 * W_REAL: reals in [-1, 1); W_SMALL_INT: integers -4..4; W_AVERAGE: integers
 * 0..9 with each filter's scale 1/sum, so the output stays on the input's scale.
 */
static void fill_weights(cnnf_kernel *k, enum weights kind)
{
	size_t per = (size_t)k->depth * k->height * k->width;
	for (int f = 0; f < k->count; f++) {
		double sum = 0;
		for (size_t i = 0; i < per; i++) {
			double w = kind == W_REAL        ? rng_real(-1, 1)
			           : kind == W_SMALL_INT ? rng_int(-4, 4)
			                                 : rng_int(0, 9);
			k->weights[f * per + i] = w;
			sum += w;
		}
		if (kind == W_AVERAGE) {
			if (sum == 0)
				k->weights[f * per] = sum = 1;
			k->scale_num[f] = 1;
			k->scale_den[f] = sum;
		}
	}
}

/* Output length by counting the window positions that fit, not by the formula. */
static long ref_out_len(long n, long before, long after, long k, long s, long d)
{
	long len = 0;
	while (len * s + d * (k - 1) < n + before + after)
		len++;
	return len;
}

/* The value one output sample has before rounding, and the magnitude of its terms. */
static double ref_value(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
                        const cnnf_conv_out *post, int f, long y, long x, double *mag)
{
	int depthwise = k->depth != in->c;
	int filter = depthwise ? 0 : f;
	double acc = 0, abs_acc = 0;
	for (int c = 0; c < k->depth; c++) {
		int ch = depthwise ? f : c;
		for (int i = 0; i < k->height; i++)
			for (int j = 0; j < k->width; j++) {
				long r =
				    ref_index(y * g->stride_y - g->pad_top + (long)i * g->dil_y,
				              in->h, g->border);
				long q =
				    ref_index(x * g->stride_x - g->pad_left + (long)j * g->dil_x,
				              in->w, g->border);
				double s = r < 0 || q < 0
				               ? 0
				               : in->data[((size_t)ch * in->h + r) * in->w + q];
				double w =
				    k->weights[(((size_t)filter * k->depth + c) * k->height + i) *
				                   k->width +
				               j];
				acc += w * s;
				abs_acc += fabs(w * s);
			}
	}
	double scale = k->scale_num[filter] / k->scale_den[filter];
	double v = k->bias[filter] + acc * k->scale_num[filter] / k->scale_den[filter];
	*mag = fabs(k->bias[filter]) + fabs(scale) * abs_acc + fabs(post ? post->offset : 0);
	if (post) {
		if (post->relu && v < 0)
			v = 0;
		if (post->abs)
			v = fabs(v);
		v += post->offset;
	}
	return v;
}

/* Describe a case for failure messages. */
static const char *describe(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
                            const cnnf_conv_out *post)
{
	static char buf[256];
	snprintf(buf, sizeof buf,
	         "in %dx%dx%d, bank %dx%dx%dx%d, pad t%d b%d l%d r%d, stride %dx%d, dil %dx%d, %s, "
	         "post relu %d abs %d offset %g round %u",
	         in->c, in->h, in->w, k->count, k->depth, k->height, k->width, g->pad_top,
	         g->pad_bottom, g->pad_left, g->pad_right, g->stride_y, g->stride_x, g->dil_y,
	         g->dil_x, cnnf_conv_border_name(g->border), post ? post->relu : 0,
	         post ? post->abs : 0, post ? post->offset : 0, post ? post->round : 0);
	return buf;
}

/*
 * Compare the engine with the reference sample by sample: within 1e-6
 * relative (the engine stores float) or, when rounding, exactly, skipping only
 * values within 1e-9 of a .5 boundary where summation order may decide. Then
 * the same with 2, 3 and 7 threads must give the same bytes.
 */
static void check_reference(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
                            const cnnf_conv_out *post)
{
	int nout = k->depth == in->c ? k->count : in->c;
	long oh = ref_out_len(in->h, g->pad_top, g->pad_bottom, k->height, g->stride_y, g->dil_y);
	long ow = ref_out_len(in->w, g->pad_left, g->pad_right, k->width, g->stride_x, g->dil_x);
	cnnf_tensor *out = apply(in, k, g, post, 1);
	ck_assert_msg(out->c == nout && out->h == oh && out->w == ow,
	              "%s: shape %dx%dx%d, expected %dx%ldx%ld", describe(in, k, g, post), out->c,
	              out->h, out->w, nout, oh, ow);
	unsigned round = post ? post->round : 0;
	for (int f = 0; f < nout; f++)
		for (long y = 0; y < oh; y++)
			for (long x = 0; x < ow; x++) {
				double mag;
				double v = ref_value(in, k, g, post, f, y, x, &mag);
				double got = at(out, f, (int)y, (int)x);
				if (round) {
					if (fabs(v - floor(v) - 0.5) < 1e-9)
						continue;
					double want = v <= 0       ? 0
					              : v >= round ? round
					                           : floor(v + 0.5);
					ck_assert_msg(
					    got == want,
					    "%s: out[%d][%ld][%ld] = %.17g, expected %.17g "
					    "(unrounded %.17g)",
					    describe(in, k, g, post), f, y, x, got, want, v);
				} else {
					ck_assert_msg(
					    fabs(got - v) <= 1e-6 * fabs(v) + 1e-12 * mag,
					    "%s: out[%d][%ld][%ld] = %.17g, expected %.17g",
					    describe(in, k, g, post), f, y, x, got, v);
				}
			}
	static const int threads[] = {2, 3, 7};
	for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
		cnnf_tensor *other = apply(in, k, g, post, threads[t]);
		ck_assert_msg(
		    memcmp(other->data, out->data, sizeof(float) * cnnf_tensor_size(out)) == 0,
		    "%s: %d threads differ from 1", describe(in, k, g, post), threads[t]);
		cnnf_tensor_free(other);
	}
	cnnf_tensor_free(out);
}

START_TEST(test_ref_border_index)
{
	for (long n = 1; n <= 7; n++)
		for (int b = 0; b < NBORDERS; b++)
			for (long i = -30; i <= 30; i++)
				ck_assert_msg(cnnf_conv_border_index(i, n, all_borders[b]) ==
				                  ref_index(i, n, all_borders[b]),
				              "%s: index %ld of %ld: %ld, expected %ld",
				              cnnf_conv_border_name(all_borders[b]), i, n,
				              cnnf_conv_border_index(i, n, all_borders[b]),
				              ref_index(i, n, all_borders[b]));
}
END_TEST

/* Every border with strides 1..3 (y and x apart) and dilations 1..3, asymmetric padding. */
START_TEST(test_ref_geometry)
{
	static const int dil[][2] = {{1, 1}, {2, 3}, {3, 2}, {1, 3}, {3, 1}};
	cnnf_tensor *in = tensor_of(1, 13, 11, NULL);
	fill_input(in, 255);
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, NULL, 1, 1);
	fill_weights(k, W_REAL);
	for (int b = 0; b < NBORDERS; b++)
		for (int sy = 1; sy <= 3; sy++)
			for (int sx = 1; sx <= 3; sx++)
				for (size_t d = 0; d < sizeof dil / sizeof *dil; d++) {
					cnnf_conv_geom g = {2,         1,         3,
					                    0,         sy,        sx,
					                    dil[d][0], dil[d][1], all_borders[b]};
					check_reference(in, k, &g, NULL);
				}
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/* Even-sized and non-square kernels, with SAME padding (stride 1 and 2) and explicit asymmetric
 * padding. */
START_TEST(test_ref_kernel_shapes)
{
	static const int shapes[][2] = {{2, 4}, {4, 2}, {1, 5}, {5, 1}, {2, 2},
	                                {4, 4}, {1, 1}, {3, 5}, {6, 3}};
	cnnf_tensor *in = tensor_of(1, 10, 9, NULL);
	fill_input(in, 0);
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int kh = shapes[s][0], kw = shapes[s][1];
		cnnf_kernel *k = kernel_of(1, 1, kh, kw, NULL, 1, 1);
		fill_weights(k, W_REAL);
		for (int b = 0; b < NBORDERS; b++) {
			for (int st = 1; st <= 2; st++) {
				cnnf_conv_geom g = {0, 0, 0, 0, st, st, 1, 1, all_borders[b]};
				cnnf_conv_pad(CNNF_PAD_SAME, 0, in->h, kh, st, 1, &g.pad_top,
				              &g.pad_bottom);
				cnnf_conv_pad(CNNF_PAD_SAME, 0, in->w, kw, st, 1, &g.pad_left,
				              &g.pad_right);
				check_reference(in, k, &g, NULL);
			}
			cnnf_conv_geom g = {0, 3, 2, 1, 1, 2, 1, 1, all_borders[b]};
			check_reference(in, k, &g, NULL);
		}
		cnnf_kernel_free(k);
	}
	cnnf_tensor_free(in);
}
END_TEST

/* A 15x15 kernel on 16-bit values: exact rounding to 0..65535, and raw values. */
START_TEST(test_ref_16bit_15x15)
{
	cnnf_tensor *in = tensor_of(1, 40, 37, NULL);
	fill_input(in, 65535);
	cnnf_kernel *avg = kernel_of(1, 1, 15, 15, NULL, 1, 1);
	fill_weights(avg, W_AVERAGE);
	cnnf_kernel *real = kernel_of(1, 1, 15, 15, NULL, 1, 1);
	fill_weights(real, W_REAL);
	cnnf_conv_out p16 = {.round = 65535};
	for (int b = 0; b < NBORDERS; b++) {
		cnnf_conv_geom g = {7, 7, 7, 7, 1, 1, 1, 1, all_borders[b]};
		check_reference(in, avg, &g, &p16);
		check_reference(in, avg, &g, NULL);
		check_reference(in, real, &g, NULL);
	}
	/* Large sums with a bias that pushes some values past 65535 and others below 0. */
	real->bias[0] = 30000;
	cnnf_conv_geom g = {0, 0, 0, 0, 2, 3, 1, 1, CNNF_BORDER_ZERO};
	check_reference(in, real, &g, &p16);
	cnnf_kernel_free(avg);
	cnnf_kernel_free(real);
	cnnf_tensor_free(in);
}
END_TEST

/* A bank of 4 filters of depth 3 with per-filter fractions and biases. */
START_TEST(test_ref_bank)
{
	static const double num[4] = {1, 2, -5, 1}, den[4] = {3, 7, 11, 1};
	static const double bias[4] = {0, 1.5, -2.25, 100};
	static const int shapes[][2] = {{3, 3}, {2, 4}, {1, 1}, {5, 2}};
	cnnf_tensor *in = tensor_of(3, 17, 19, NULL);
	fill_input(in, 255);
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		cnnf_kernel *k = kernel_of(4, 3, shapes[s][0], shapes[s][1], NULL, 1, 1);
		fill_weights(k, s % 2 ? W_SMALL_INT : W_REAL);
		for (int f = 0; f < 4; f++) {
			k->scale_num[f] = num[f];
			k->scale_den[f] = den[f];
			k->bias[f] = bias[f];
		}
		for (int b = 0; b < NBORDERS; b++) {
			cnnf_conv_geom g = {
			    1, 2, 2, 1, 1 + b % 3, 1 + (b + 1) % 3, 1 + b % 2, 1, all_borders[b]};
			check_reference(in, k, &g, NULL);
			cnnf_conv_out post = {.relu = 1};
			check_reference(in, k, &g, &post);
		}
		cnnf_kernel_free(k);
	}
	cnnf_tensor_free(in);
}
END_TEST

/* A 2-D kernel on a 3-channel input filters each channel alone, with its scale and bias. */
START_TEST(test_ref_depthwise)
{
	cnnf_tensor *in = tensor_of(3, 12, 14, NULL);
	fill_input(in, 255);
	cnnf_kernel *k = kernel_of(1, 1, 3, 4, NULL, 3, 7);
	fill_weights(k, W_SMALL_INT);
	k->bias[0] = 1.5;
	cnnf_conv_out p8 = {.round = 255, .offset = 128};
	for (int b = 0; b < NBORDERS; b++) {
		cnnf_conv_geom g = {1, 1, 2, 1, 1, 2, 2, 1, all_borders[b]};
		check_reference(in, k, &g, NULL);
		check_reference(in, k, &g, &p8);
	}
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
}
END_TEST

/* The post options on real data: round at 255 and 65535, abs, offset, relu. */
START_TEST(test_ref_post)
{
	static const cnnf_conv_out posts[] = {
	    {.round = 255},
	    {.round = 65535},
	    {.abs = 1},
	    {.offset = 0.5},
	    {.relu = 1},
	    {.abs = 1, .offset = -3.5},
	    {.relu = 1, .offset = 128, .round = 255},
	    {.abs = 1, .round = 255},
	    {.abs = 1, .offset = 32768, .round = 65535},
	};
	/* One channel: the post options alone, apart from depthwise filtering. */
	cnnf_tensor *in8 = tensor_of(1, 11, 13, NULL);
	fill_input(in8, 255);
	cnnf_tensor *in16 = tensor_of(1, 11, 13, NULL);
	fill_input(in16, 65535);
	cnnf_kernel *k = kernel_of(1, 1, 3, 3, NULL, 1, 4);
	/* Signed integer weights over 4: quarter values, and exact .5s that must round up. */
	fill_weights(k, W_SMALL_INT);
	for (size_t p = 0; p < sizeof posts / sizeof *posts; p++)
		for (int b = 0; b < NBORDERS; b++) {
			cnnf_conv_geom g = {1, 1, 1, 1, 1, 1, 1, 1, all_borders[b]};
			check_reference(in8, k, &g, &posts[p]);
			check_reference(in16, k, &g, &posts[p]);
		}
	cnnf_kernel_free(k);
	cnnf_tensor_free(in8);
	cnnf_tensor_free(in16);
}
END_TEST

/* A larger bank so that 7 threads each get several rows: byte-identical outputs. */
START_TEST(test_ref_threads)
{
	cnnf_tensor *in = tensor_of(3, 64, 50, NULL);
	fill_input(in, 0);
	cnnf_kernel *k = kernel_of(4, 3, 5, 5, NULL, 1, 1);
	fill_weights(k, W_REAL);
	cnnf_conv_geom g = {2, 2, 2, 2, 1, 1, 1, 1, CNNF_BORDER_REFLECT};
	cnnf_tensor *one = apply(in, k, &g, NULL, 1);
	static const int threads[] = {2, 3, 7, 8, 0};
	for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
		cnnf_tensor *other = apply(in, k, &g, NULL, threads[t]);
		ck_assert_msg(
		    memcmp(other->data, one->data, sizeof(float) * cnnf_tensor_size(one)) == 0,
		    "%d threads differ from 1", threads[t]);
		cnnf_tensor_free(other);
	}
	cnnf_tensor_free(one);
	check_reference(in, k, &g, NULL);
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
}
END_TEST

/* Rows of a tensor for cnnf_conv_run(), and a record of which output rows were written. */
typedef struct range_io {
	const cnnf_tensor *in;
	cnnf_tensor *out;
	int *written; /* per output row, how many channel rows came */
} range_io;

static void range_read(void *ctx, int c, int r, float *dst)
{
	const cnnf_tensor *t = ((range_io *)ctx)->in;
	memcpy(dst, t->data + ((size_t)c * t->h + r) * t->w, sizeof(float) * (size_t)t->w);
}

static void range_write(void *ctx, int f, int y, const float *row, int ow)
{
	range_io *r = ctx;
	memcpy(r->out->data + ((size_t)f * r->out->h + y) * r->out->w, row,
	       sizeof(float) * (size_t)ow);
	__atomic_fetch_add(&r->written[y], 1, __ATOMIC_RELAXED);
}

/*
 * A range of output rows (y0, y1) gives exactly those rows, equal to the same
 * rows of the whole output, for a stride, a dilation and every thread count.
 */
START_TEST(test_row_range)
{
	cnnf_tensor *in = tensor_of(3, 41, 30, NULL);
	fill_input(in, 0);
	cnnf_kernel *k = kernel_of(5, 3, 3, 5, NULL, 1, 1);
	fill_weights(k, W_REAL);
	cnnf_conv_geom g = {2, 1, 3, 1, 2, 1, 1, 2, CNNF_BORDER_SYMMETRIC};
	cnnf_tensor *whole = apply(in, k, &g, NULL, 1);
	static const int ranges[][2] = {{0, 1}, {0, 21}, {5, 6}, {3, 17}, {20, 21}};
	static const int threads[] = {1, 2, 3};
	for (size_t ri = 0; ri < sizeof ranges / sizeof *ranges; ri++)
		for (size_t ti = 0; ti < sizeof threads / sizeof *threads; ti++) {
			int y0 = ranges[ri][0], y1 = ranges[ri][1];
			cnnf_tensor *out = cnnf_tensor_new(whole->c, whole->h, whole->w);
			int written[64] = {0};
			ck_assert_int_eq(whole->h, 21);
			range_io r = {in, out, written};
			cnnf_conv_rows io = {in->c, in->h, in->w, range_read, range_write,
			                     NULL,  &r,    y0,    y1};
			ck_assert_msg(cnnf_conv_run(&io, k, &g, NULL, threads[ti], "range") == 0,
			              "%s", cnnf_error_get());
			for (int y = 0; y < whole->h; y++) {
				int inside = y >= y0 && y < y1;
				ck_assert_msg(written[y] == (inside ? whole->c : 0),
				              "rows %d..%d, %d threads: row %d written %d times",
				              y0, y1 - 1, threads[ti], y, written[y]);
				for (int c = 0; inside && c < whole->c; c++)
					ck_assert_msg(
					    memcmp(
					        out->data + ((size_t)c * whole->h + y) * whole->w,
					        whole->data + ((size_t)c * whole->h + y) * whole->w,
					        sizeof(float) * (size_t)whole->w) == 0,
					    "rows %d..%d, %d threads: row %d channel %d differs",
					    y0, y1 - 1, threads[ti], y, c);
			}
			cnnf_tensor_free(out);
		}
	/* A range outside the output is refused. */
	static const int bad[][2] = {{-1, 3}, {4, 4}, {5, 2}, {0, 22}};
	for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
		range_io r = {in, NULL, NULL};
		cnnf_conv_rows io = {in->c, in->h, in->w,     range_read, range_write,
		                     NULL,  &r,    bad[b][0], bad[b][1]};
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_conv_run(&io, k, &g, NULL, 1, "range"), -1);
		ck_assert_error_has("range");
	}
	cnnf_tensor_free(whole);
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Random cases mixing everything: channels, banks or depthwise, shapes,
 * padding up to beyond the input, strides, dilations, scales, biases, posts.
 * A case with no output samples must be refused instead.
 */
START_TEST(test_ref_random)
{
	static const cnnf_conv_out posts[] = {
	    {.round = 0},
	    {.relu = 1},
	    {.abs = 1},
	    {.offset = 7.25},
	    {.round = 255},
	    {.round = 65535},
	    {.relu = 1, .offset = 0.5, .round = 255},
	};
	static const int maxes[] = {0, 255, 65535};
	int refused = 0;
	for (int n = 0; n < 400; n++) {
		/*
		 * One draw per statement: the order in which function arguments
		 * or initializers are evaluated is unspecified, and the cases
		 * must be the same with every compiler.
		 */
		int c = rng_int(1, 3);
		int depthwise = c > 1 && rng_int(0, 2) == 0;
		int count = depthwise ? 1 : rng_int(1, 4);
		int depth = depthwise ? 1 : c;
		int h = rng_int(1, 12);
		int w = rng_int(1, 12);
		cnnf_tensor *in = tensor_of(c, h, w, NULL);
		fill_input(in, maxes[rng_int(0, 2)]);
		int kh = rng_int(1, 5);
		int kw = rng_int(1, 5);
		cnnf_kernel *k = kernel_of(count, depth, kh, kw, NULL, 1, 1);
		enum weights wk = (enum weights)rng_int(0, 2);
		fill_weights(k, wk);
		if (wk != W_AVERAGE)
			for (int f = 0; f < count; f++) {
				k->scale_num[f] = rng_int(-3, 5);
				k->scale_den[f] = rng_int(1, 9);
				k->bias[f] = rng_int(0, 1) ? rng_real(-5, 5) : 0;
			}
		cnnf_conv_geom g;
		g.pad_top = rng_int(0, 4);
		g.pad_bottom = rng_int(0, 4);
		g.pad_left = rng_int(0, 4);
		g.pad_right = rng_int(0, 4);
		g.stride_y = rng_int(1, 3);
		g.stride_x = rng_int(1, 3);
		g.dil_y = rng_int(1, 3);
		g.dil_x = rng_int(1, 3);
		g.border = all_borders[rng_int(0, NBORDERS - 1)];
		const cnnf_conv_out *post = &posts[rng_int(0, sizeof posts / sizeof *posts - 1)];
		long oh =
		    ref_out_len(in->h, g.pad_top, g.pad_bottom, k->height, g.stride_y, g.dil_y);
		long ow =
		    ref_out_len(in->w, g.pad_left, g.pad_right, k->width, g.stride_x, g.dil_x);
		if (oh > 0 && ow > 0) {
			check_reference(in, k, &g, post);
		} else {
			cnnf_tensor *out = NULL;
			cnnf_error_clear();
			ck_assert_msg(cnnf_conv_apply(in, k, &g, post, 1, "rand", &out) == -1,
			              "%s: accepted with no output samples",
			              describe(in, k, &g, post));
			ck_assert_ptr_null(out);
			ck_assert_error_has("rand");
			refused++;
		}
		cnnf_kernel_free(k);
		cnnf_tensor_free(in);
	}
	/* The mix must have produced some refusals, or that branch tested nothing. */
	ck_assert_int_gt(refused, 0);
}
END_TEST

/* ---- boxes: running sums against an exact integer loop ----------------------------------- */

/*
 * The input indices the taps of every output read along one axis, by
 * ref_index(): map[o * k + i] for output o's tap i (its walk through the
 * mirrors is slow for huge dilations, so it is done once per tap).
 */
static long *ref_map(long outs, long k, long s, long before, long d, long n, cnnf_border b)
{
	long *map = malloc(sizeof(long) * (size_t)(outs * k));
	ck_assert_ptr_nonnull(map);
	for (long o = 0; o < outs; o++)
		for (long i = 0; i < k; i++)
			map[o * k + i] = ref_index(o * s - before + i * d, n, b);
	return map;
}

/* The exact sum of the kh x kw window of output (y, x) of channel c over integer samples. */
static long long box_ref_sum(const cnnf_tensor *in, int c, int kh, int kw, const long *rows,
                             const long *cols, long y, long x)
{
	long long sum = 0;
	for (int i = 0; i < kh; i++) {
		long r = rows[y * kh + i];
		for (int j = 0; j < kw; j++) {
			long q = cols[x * kw + j];
			if (r >= 0 && q >= 0)
				sum += (long long)in->data[((size_t)c * in->h + r) * in->w + q];
		}
	}
	return sum;
}

/*
 * The output the engine must give for a box of weight w and scale 1/den:
 * w * sum / den rounded half up in exact integers and clamped to 0..round,
 * or, unrounded, the double quotient the engine's finish takes, as a float.
 */
static double box_want(long long sum, double w, double den, unsigned round)
{
	long long num = (long long)w * sum, d = (long long)den;
	if (!round)
		return (float)((double)num * 1 / den);
	if (num <= 0)
		return 0;
	long long q = (2 * num + d) / (2 * d);
	return q > round ? round : q;
}

/* A box of kh x kw taps of weight w and scale 1/den. */
static cnnf_kernel *box_of(int kh, int kw, double w, double den)
{
	cnnf_kernel *k = kernel_of(1, 1, kh, kw, NULL, 1, den);
	for (int i = 0; i < kh * kw; i++)
		k->weights[i] = w;
	return k;
}

/* The engine's box, whole and in pieces of rows, against box_want() sample by sample. */
static void check_box(const cnnf_tensor *in, const cnnf_kernel *k, const cnnf_conv_geom *g,
                      const cnnf_conv_out *post)
{
	cnnf_tensor *out = apply(in, k, g, post, 1);
	long oh = ref_out_len(in->h, g->pad_top, g->pad_bottom, k->height, g->stride_y, g->dil_y);
	long ow = ref_out_len(in->w, g->pad_left, g->pad_right, k->width, g->stride_x, g->dil_x);
	assert_shape(out, in->c, (int)oh, (int)ow);
	long *rows = ref_map(oh, k->height, g->stride_y, g->pad_top, g->dil_y, in->h, g->border);
	long *cols = ref_map(ow, k->width, g->stride_x, g->pad_left, g->dil_x, in->w, g->border);
	for (int c = 0; c < in->c; c++)
		for (long y = 0; y < oh; y++)
			for (long x = 0; x < ow; x++) {
				long long s = box_ref_sum(in, c, k->height, k->width, rows, cols, y, x);
				double want = box_want(s, k->weights[0], k->scale_den[0], post->round);
				ck_assert_msg(at(out, c, (int)y, (int)x) == want,
				              "%s: out[%d][%ld][%ld] = %.17g, expected %.17g (sum %lld)",
				              describe(in, k, g, post), c, y, x,
				              at(out, c, (int)y, (int)x), want, s);
			}
	free(rows);
	free(cols);
	/* Rows asked for in pieces, in order and then out of it, from one open job. */
	cnnf_tensor *part = cnnf_tensor_new(out->c, out->h, out->w);
	int written[512] = {0};
	range_io r = {in, part, written};
	cnnf_conv_rows io = {in->c, in->h, in->w, range_read, range_write, NULL, &r, 0, 0};
	cnnf_conv_job *j;
	ck_assert_msg(cnnf_conv_open(&io, k, g, post, 3, "box", &j) == 0, "%s", cnnf_error_get());
	for (int y = 0; y < out->h;) {
		int n = rng_int(1, 4), y1 = y + n < out->h ? y + n : out->h;
		ck_assert_int_eq(cnnf_conv_make(j, y, y1), 0);
		y = y1;
	}
	ck_assert_msg(memcmp(part->data, out->data, sizeof(float) * cnnf_tensor_size(out)) == 0,
	              "%s: rows in pieces differ from the whole", describe(in, k, g, post));
	memset(part->data, 0, sizeof(float) * cnnf_tensor_size(part));
	for (int y = out->h - 1; y >= 0; y--)
		ck_assert_int_eq(cnnf_conv_make(j, y, y + 1), 0);
	ck_assert_msg(memcmp(part->data, out->data, sizeof(float) * cnnf_tensor_size(out)) == 0,
	              "%s: rows bottom up differ from the whole", describe(in, k, g, post));
	cnnf_conv_close(j);
	cnnf_tensor_free(part);
	cnnf_tensor_free(out);
}

/*
 * Random boxes, square and not, of 8- and 16-bit samples, with every border,
 * padding beyond the input, strides and dilations: the running sums give the
 * exact mean rounded half up, or the exact sum's quotient unrounded.
 */
START_TEST(test_box_random)
{
	static const int maxes[] = {255, 65535};
	int cases = 0;
	while (cases < 300) {
		int c = rng_int(1, 3);
		int h = rng_int(1, 19);
		int w = rng_int(1, 19);
		int max = maxes[rng_int(0, 1)];
		cnnf_tensor *in = tensor_of(c, h, w, NULL);
		fill_input(in, max);
		int kh = rng_int(1, 11);
		int kw = rng_int(1, 11);
		if (kh * kw < 2) {
			cnnf_tensor_free(in);
			continue;
		}
		double wt = rng_int(0, 3) ? 1 : 3;
		double den = rng_int(0, 4) ? wt * kh * kw : rng_int(1, 7);
		cnnf_kernel *k = box_of(kh, kw, wt, den);
		cnnf_conv_geom g;
		g.pad_top = rng_int(0, 13);
		g.pad_bottom = rng_int(0, 13);
		g.pad_left = rng_int(0, 13);
		g.pad_right = rng_int(0, 13);
		g.stride_y = rng_int(1, 3);
		g.stride_x = rng_int(1, 3);
		g.dil_y = rng_int(1, 4);
		g.dil_x = rng_int(1, 4);
		g.border = all_borders[rng_int(0, NBORDERS - 1)];
		cnnf_conv_out post = {.int_max = max};
		if (rng_int(0, 2))
			post.round = (unsigned)max;
		long oh = ref_out_len(h, g.pad_top, g.pad_bottom, kh, g.stride_y, g.dil_y);
		long ow = ref_out_len(w, g.pad_left, g.pad_right, kw, g.stride_x, g.dil_x);
		if (oh > 0 && ow > 0) {
			check_box(in, k, &g, &post);
			cases++;
		}
		cnnf_kernel_free(k);
		cnnf_tensor_free(in);
	}
}
END_TEST

/* Boxes far larger than the input, and dilations far beyond it: still exact. */
START_TEST(test_box_large)
{
	static const struct {
		int h, w, kh, kw, dil;
	} cases[] = {{17, 13, 301, 255, 1}, {9, 23, 4095, 3, 1}, {21, 19, 5, 5, 10000},
	             {6, 7, 33, 41, 65536}, {1, 30, 1, 4095, 7}, {12, 1, 777, 1, 3}};
	for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
		for (int b = 0; b < NBORDERS; b++) {
			cnnf_tensor *in = tensor_of(2, cases[ci].h, cases[ci].w, NULL);
			fill_input(in, 65535);
			int kh = cases[ci].kh, kw = cases[ci].kw, d = cases[ci].dil;
			cnnf_kernel *k = box_of(kh, kw, 1, (double)kh * kw);
			cnnf_conv_geom g = {.stride_y = 1, .stride_x = 1, .dil_y = d, .dil_x = d,
			                    .border = all_borders[b]};
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->h, kh, 1, d, &g.pad_top, &g.pad_bottom);
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->w, kw, 1, d, &g.pad_left, &g.pad_right);
			cnnf_conv_out post = {.int_max = 65535, .round = 65535};
			check_box(in, k, &g, &post);
			cnnf_kernel_free(k);
			cnnf_tensor_free(in);
		}
}
END_TEST

/*
 * Colour premultiplied by alpha is no integer, but a whole number of
 * 2^-exact_bits: such samples are summed exactly too, and give what the band
 * loops give when their double sums are exact (8-bit samples, small boxes).
 */
START_TEST(test_box_fixed_point)
{
	cnnf_tensor *in = tensor_of(2, 23, 29, NULL);
	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = (float)((double)rng_int(0, 255) * rng_int(0, 255) / 255);
	for (int size = 2; size <= 15; size++)
		for (int b = 0; b < NBORDERS; b++) {
			cnnf_kernel *k = box_of(size, size, 1, (double)size * size);
			cnnf_conv_geom g = {.stride_y = 1 + size % 2, .stride_x = 1, .dil_y = 1,
			                    .dil_x = 1 + size % 3, .border = all_borders[b]};
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->h, size, g.stride_y, 1, &g.pad_top,
			              &g.pad_bottom);
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->w, size, 1, g.dil_x, &g.pad_left,
			              &g.pad_right);
			cnnf_conv_out loops = {.round = 0}, sums = {.exact_max = 255, .exact_bits = 31};
			cnnf_tensor *want = apply(in, k, &g, &loops, 1);
			cnnf_tensor *got = apply(in, k, &g, &sums, 2);
			ck_assert_msg(memcmp(want->data, got->data,
			                     sizeof(float) * cnnf_tensor_size(want)) == 0,
			              "%s: the sums differ from the loops", describe(in, k, &g, &sums));
			cnnf_tensor_free(want);
			cnnf_tensor_free(got);
			cnnf_kernel_free(k);
		}
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Finite float samples are summed in double-double: a window in a dark
 * region next to a bright one keeps its own few digits (prefix sums in plain
 * double would leave only the bright region's rounding noise).
 */
START_TEST(test_box_float)
{
	int h = 31, w = 45;
	cnnf_tensor *in = tensor_of(1, h, w, NULL);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			in->data[y * w + x] = (float)(x < 20 ? rng_real(1e7, 2e7) : rng_real(-1e-3, 1e-3));
	static const int sizes[][2] = {{7, 7}, {3, 11}, {31, 45}};
	for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
		for (int b = 0; b < NBORDERS; b++) {
			int kh = sizes[si][0], kw = sizes[si][1];
			cnnf_kernel *k = box_of(kh, kw, 1, (double)kh * kw);
			cnnf_conv_geom g = {.stride_y = 1, .stride_x = 1, .dil_y = 1, .dil_x = 1,
			                    .border = all_borders[b]};
			cnnf_conv_pad(CNNF_PAD_SAME, 0, h, kh, 1, 1, &g.pad_top, &g.pad_bottom);
			cnnf_conv_pad(CNNF_PAD_SAME, 0, w, kw, 1, 1, &g.pad_left, &g.pad_right);
			cnnf_conv_out post = {.finite = 1};
			cnnf_tensor *out = apply(in, k, &g, &post, 1);
			for (int y = 0; y < out->h; y++)
				for (int x = 0; x < out->w; x++) {
					/* The reference in long double, the terms in order. */
					long double sum = 0;
					for (int i = 0; i < kh; i++)
						for (int j = 0; j < kw; j++) {
							long r = ref_index(y - g.pad_top + i, h, g.border);
							long q = ref_index(x - g.pad_left + j, w, g.border);
							if (r >= 0 && q >= 0)
								sum += in->data[r * w + q];
						}
					double want = (double)(sum / (kh * kw));
					double got = at(out, 0, y, x);
					ck_assert_msg(fabs(got - want) <= 0x1p-23 * fabs(want) + 1e-30,
					              "%dx%d %s: out[%d][%d] = %.9g, expected %.9g", kh, kw,
					              cnnf_conv_border_name(g.border), y, x, got, want);
				}
			cnnf_tensor_free(out);
			cnnf_kernel_free(k);
		}
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Dilations far beyond the input with kernels that are not boxes: the band
 * holds only the rows and columns the taps read, and the result is the plain
 * loop's, exactly (integer weights on integer samples).
 */
START_TEST(test_huge_dilation)
{
	static const int dils[] = {10000, 65536, 1 << 20};
	for (size_t di = 0; di < sizeof dils / sizeof *dils; di++)
		for (int b = 0; b < NBORDERS; b++) {
			/* The reference walks the mirrors step by step: 2^20 only where it need not. */
			if (dils[di] > 65536 && all_borders[b] != CNNF_BORDER_ZERO &&
			    all_borders[b] != CNNF_BORDER_REPLICATE)
				continue;
			cnnf_tensor *in = tensor_of(2, 19, 23, NULL);
			fill_input(in, 255);
			cnnf_kernel *k = kernel_of(1, 1, 3, 4, NULL, 1, 1);
			fill_weights(k, W_SMALL_INT);
			cnnf_conv_geom g = {.stride_y = 1 + b % 2, .stride_x = 1 + b % 3,
			                    .dil_y = dils[di], .dil_x = dils[di], .border = all_borders[b]};
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->h, 3, g.stride_y, g.dil_y, &g.pad_top,
			              &g.pad_bottom);
			cnnf_conv_pad(CNNF_PAD_SAME, 0, in->w, 4, g.stride_x, g.dil_x, &g.pad_left,
			              &g.pad_right);
			cnnf_conv_out post = {.int_max = 255};
			check_reference(in, k, &g, &post);
			cnnf_kernel_free(k);
			cnnf_tensor_free(in);
		}
	/* What used to need a band of 30 x 65536 rows is checked and accepted. */
	cnnf_kernel *k = kernel_of(1, 1, 31, 31, NULL, 1, 1);
	fill_weights(k, W_REAL);
	cnnf_conv_geom g = {.stride_y = 1, .stride_x = 1, .dil_y = 65536, .dil_x = 65536};
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 16, 31, 1, 65536, &g.pad_top, &g.pad_bottom);
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 16, 31, 1, 65536, &g.pad_left, &g.pad_right);
	cnnf_conv_rows io = {1, 16, 16, NULL, NULL, NULL, NULL, 0, 0};
	unsigned long long work = 0;
	ck_assert_msg(cnnf_conv_check(&io, k, &g, NULL, 4, "dilated", &work) == 0, "%s",
	              cnnf_error_get());
	ck_assert_uint_eq(work, 16ull * 16 * 31 * 31);
	cnnf_kernel_free(k);
}
END_TEST

/* What cnnf_conv_check() says the work is, worked out by hand. */
START_TEST(test_work)
{
	cnnf_conv_rows io = {3, 10, 12, NULL, NULL, NULL, NULL, 0, 0};
	cnnf_conv_geom g = geom_pad(1, 1, 1, 1, CNNF_BORDER_REFLECT);
	unsigned long long work = 0;
	/* A bank of 2 random 3x3x3 filters: 2 x 10 x 12 outputs of 27 taps. */
	cnnf_kernel *k = kernel_of(2, 3, 3, 3, NULL, 1, 1);
	fill_weights(k, W_REAL);
	ck_assert_int_eq(cnnf_conv_check(&io, k, &g, NULL, 1, "bank", &work), 0);
	ck_assert_uint_eq(work, 2ull * 10 * 12 * 27);
	cnnf_kernel_free(k);
	/*
	 * A 7x7 box on 1 x 20 x 30 8-bit samples: the first row sums 7 rows of
	 * 30, each later one adds one row and takes one; each row's prefix sums
	 * go round the reflected period of 58 columns (59 sums) and its 30
	 * outputs take differences: 2 per prefix sum and 2 per output.
	 */
	cnnf_conv_rows gray = {1, 20, 30, NULL, NULL, NULL, NULL, 0, 0};
	cnnf_conv_geom same = geom_pad(3, 3, 3, 3, CNNF_BORDER_REFLECT);
	cnnf_conv_out post = {.int_max = 255, .round = 255};
	k = box_of(7, 7, 1, 49);
	ck_assert_int_eq(cnnf_conv_check(&gray, k, &same, &post, 1, "box", &work), 0);
	ck_assert_uint_eq(work, (7ull + 19 * 2) * 30 + 20 * (2 * 59 + 2 * 30));
	cnnf_kernel_free(k);
	/* Boxes taller and wider than the input cost the same whatever their size. */
	unsigned long long w1, w2;
	cnnf_conv_geom valid = geom_pad(0, 0, 0, 0, CNNF_BORDER_REFLECT);
	cnnf_conv_rows big = {1, 2000, 3000, NULL, NULL, NULL, NULL, 0, 0};
	k = box_of(1001, 1001, 1, 1001.0 * 1001);
	ck_assert_int_eq(cnnf_conv_check(&big, k, &valid, &post, 1, "box", &w1), 0);
	cnnf_kernel_free(k);
	k = box_of(1001, 2001, 1, 1001.0 * 2001);
	ck_assert_int_eq(cnnf_conv_check(&big, k, &valid, &post, 1, "box", &w2), 0);
	cnnf_kernel_free(k);
	/* 1000 x 2000 and 1000 x 1000 outputs: the sums' work, not taps times outputs. */
	ck_assert_uint_lt(w1, 20ull * 2000 * 3000);
	ck_assert_uint_lt(w2, w1);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* A kernel whose depth is neither 1 nor the channel count is refused, naming it and the depths. */
START_TEST(test_depth_mismatch)
{
	cnnf_tensor *in = tensor_of(3, 6, 6, NULL);
	cnnf_kernel *k = kernel_of(1, 2, 3, 3, NULL, 1, 1);
	cnnf_conv_geom g = geom_pad(1, 1, 1, 1, CNNF_BORDER_ZERO);
	cnnf_tensor sentinel, *out = &sentinel;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "edges.k", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("edges.k");
	ck_assert_msg(error_has_word("2") && error_has_word("3"),
	              "error \"%s\" lacks the depths 2 and 3", cnnf_error_get());
	cnnf_kernel_free(k);

	/* A bank of 2-D filters is not depthwise: 4 filters of depth 1 on 3 channels. */
	k = kernel_of(4, 1, 3, 3, NULL, 1, 1);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "bank4", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("bank4");
	ck_assert_msg(error_has_word("1") && error_has_word("3"),
	              "error \"%s\" lacks the depths 1 and 3", cnnf_error_get());
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);

	/* A 3-D kernel on a gray image. */
	in = tensor_of(1, 6, 6, NULL);
	k = kernel_of(1, 3, 3, 3, NULL, 1, 1);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "rgb.k", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("rgb.k");
	ck_assert_msg(error_has_word("3") && error_has_word("1"),
	              "error \"%s\" lacks the depths 3 and 1", cnnf_error_get());
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
}
END_TEST

/* A kernel that does not fit the (padded) input leaves no output samples: refused. */
START_TEST(test_no_output)
{
	cnnf_tensor *in = tensor_of(1, 3, 3, NULL);
	cnnf_kernel *k = kernel_of(1, 1, 5, 5, NULL, 1, 1);
	cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);
	cnnf_tensor sentinel, *out = &sentinel;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "blur5", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("blur5");
	ck_assert_error_has("no output");
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);

	/* Dilation 3 spreads a 3x3 kernel over 7x7, more than a 6x6 input. */
	in = tensor_of(1, 6, 6, NULL);
	k = kernel_of(1, 1, 3, 3, NULL, 1, 1);
	g.dil_y = g.dil_x = 3;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "dilated", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("dilated");
	ck_assert_error_has("no output");
	/* Only one axis short: 1 row of padding is not enough for the 7-row span. */
	g = geom_pad(0, 0, 1, 0, CNNF_BORDER_ZERO);
	g.dil_y = 3;
	g.pad_bottom = 0;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "tall", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("tall");
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
}
END_TEST

/*
 * Buffer sizes that overflow size_t are refused before anything is
 * allocated: a 3642x5 filter dilated 294903 times on 32768 channels asks for
 * a band of 1073741824 rows of 1179648 samples per channel, 2^66 bytes.
 */
START_TEST(test_band_overflow)
{
	cnnf_kernel *k = kernel_of(1, 1, 3642, 5, NULL, 1, 1);
	cnnf_conv_geom g = geom_pad(0, 0, 0, 0, CNNF_BORDER_ZERO);
	g.dil_y = g.dil_x = 294903;
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 1, 3642, 1, 294903, &g.pad_top, &g.pad_bottom);
	cnnf_conv_pad(CNNF_PAD_SAME, 0, 36, 5, 1, 294903, &g.pad_left, &g.pad_right);
	cnnf_conv_rows io = {32768, 1, 36, NULL, NULL, NULL, NULL, 0, 0};
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_check(&io, k, &g, NULL, 1, "tall", NULL), -1);
	ck_assert_error_has("tall");
	ck_assert_error_has("too large");
	/* cnnf_conv_run() refuses it the same way, without calling the callbacks. */
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_conv_run(&io, k, &g, NULL, 1, "tall"), -1);
	ck_assert_error_has("too large");
	/* A sane geometry passes the check. */
	g = geom_pad(1, 1, 2, 2, CNNF_BORDER_ZERO);
	cnnf_kernel_free(k);
	k = kernel_of(1, 1, 3, 5, NULL, 1, 1);
	ck_assert_int_eq(cnnf_conv_check(&io, k, &g, NULL, 1, "small", NULL), 0);
	cnnf_kernel_free(k);
}
END_TEST

static Suite *conv_suite(void)
{
	Suite *s = suite_create("conv");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_box_10x10_valid);
	tcase_add_test(core, test_1d_example);
	tcase_add_test(core, test_shift_left);
	tcase_add_test(core, test_identity);
	tcase_add_test(core, test_sharpen);
	tcase_add_test(core, test_volume_28x28x6);
	tcase_add_test(core, test_out_size);
	tcase_add_test(core, test_pad);
	tcase_add_test(core, test_border_index);
	tcase_add_test(core, test_border_names);
	tcase_add_test(core, test_box_rounds_exactly);
	tcase_add_test(core, test_half_rounds_up);
	tcase_add_test(core, test_post);
	tcase_add_test(core, test_depthwise_scale_bias);
	suite_add_tcase(s, core);

	TCase *ref = tcase_create("reference");
	/* The reference loop is slow on purpose, and slower under sanitizers. */
	tcase_set_timeout(ref, 120);
	tcase_add_test(ref, test_ref_border_index);
	tcase_add_test(ref, test_ref_geometry);
	tcase_add_test(ref, test_ref_kernel_shapes);
	tcase_add_test(ref, test_ref_16bit_15x15);
	tcase_add_test(ref, test_ref_bank);
	tcase_add_test(ref, test_ref_depthwise);
	tcase_add_test(ref, test_ref_post);
	tcase_add_test(ref, test_ref_threads);
	tcase_add_test(ref, test_row_range);
	tcase_add_test(ref, test_ref_random);
	tcase_add_test(ref, test_box_random);
	tcase_add_test(ref, test_box_large);
	tcase_add_test(ref, test_box_fixed_point);
	tcase_add_test(ref, test_box_float);
	tcase_add_test(ref, test_huge_dilation);
	tcase_add_test(ref, test_work);
	suite_add_tcase(s, ref);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_depth_mismatch);
	tcase_add_test(errors, test_no_output);
	tcase_add_test(errors, test_band_overflow);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(conv_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
