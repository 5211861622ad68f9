/* check_augment.c: --augment's flips, quarter turns and jitter against reference loops. */
#include <math.h>
#include <stdint.h>

#include "task/augment.h"
#include "task/segment.h"
#include "testutil.h"

enum { C = 2, H = 11, W = 13 };

/* A C x H x W image whose every sample differs: raw values v in 0..1, normalised by mean, std. */
static const float mean[C] = {0.25f, 0.5f}, stdev[C] = {0.5f, 0.25f};

static double raw(int c, int y, int x)
{
	return (c * H * W + y * W + x) / (double)(C * H * W);
}

static cnnf_tensor *image(int mirror_x, int mirror_y, int ay, int ax)
{
	cnnf_tensor *t = cnnf_tensor_new(C, H, W);
	ck_assert_ptr_nonnull(t);
	for (int c = 0; c < C; c++)
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++) {
				/* Mirrored about (ay, ax): the sample at 2a - p. */
				int sy = mirror_y ? 2 * ay - y : y, sx = mirror_x ? 2 * ax - x : x;
				double v = sy >= 0 && sy < H && sx >= 0 && sx < W ? raw(c, sy, sx) : -9;
				t->data[(c * H + y) * W + x] = (float)((v - mean[c]) / stdev[c]);
			}
	return t;
}

static const float zero[C] = {-0.5f, -2};

static void patch(const cnnf_tensor *t, int ph, int pw, int y, int x, const cnnf_augment *a,
                  float *dst)
{
	cnnf_augment_patch(t, zero, CNNF_BORDER_REFLECT, ph, pw, y, x, a, mean, stdev, dst);
}

static const cnnf_augment identity = {0, 0, 0, 1, 0};

START_TEST(test_parse)
{
	unsigned b = 99;
	ck_assert_int_eq(cnnf_augment_parse("flip,rot90,jitter", &b), 0);
	ck_assert_uint_eq(b, CNNF_AUG_FLIP | CNNF_AUG_ROT90 | CNNF_AUG_JITTER);
	ck_assert_int_eq(cnnf_augment_parse("rot90", &b), 0);
	ck_assert_uint_eq(b, CNNF_AUG_ROT90);
	ck_assert_int_eq(cnnf_augment_parse("jitter,flip", &b), 0);
	ck_assert_uint_eq(b, CNNF_AUG_FLIP | CNNF_AUG_JITTER);
	char name[32];
	cnnf_augment_name(b, name, sizeof name);
	ck_assert_str_eq(name, "flip,jitter");
	static const char *bad[] = {"", "flip,", ",flip", "blur", "flip,,rot90", "rot", "FLIP",
	                            "flip rot90"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		b = 42;
		ck_assert_int_eq(cnnf_augment_parse(bad[i], &b), -1);
		ck_assert_error_has("--augment: '");
		ck_assert_uint_eq(b, 42);
	}
}
END_TEST

/* No transform is segment's patch, bit for bit, at the border too, for odd, even, oblong sizes. */
START_TEST(test_identity)
{
	cnnf_tensor *t = image(0, 0, 0, 0);
	static const int sizes[][2] = {{5, 5}, {4, 4}, {3, 6}, {7, 2}};
	static const int at[][2] = {{5, 6}, {0, 0}, {10, 12}, {1, 11}};
	float a[C * 7 * 6], r[C * 7 * 6];
	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 4; j++) {
			int ph = sizes[i][0], pw = sizes[i][1];
			patch(t, ph, pw, at[j][0], at[j][1], &identity, a);
			cnnf_segment_patch(t, zero, CNNF_BORDER_REFLECT, ph, pw, at[j][0], at[j][1], r,
			                   1);
			ck_assert_mem_eq(a, r, sizeof(float) * C * ph * pw);
		}
	cnnf_tensor_free(t);
}
END_TEST

/* Odd side: a flip is the usual patch reversed; a quarter turn is numpy.rot90 of it. */
START_TEST(test_odd_flip_turn)
{
	enum { N = 5 };
	cnnf_tensor *t = image(0, 0, 0, 0);
	float ref[C][N][N], got[C][N][N];
	cnnf_segment_patch(t, zero, CNNF_BORDER_REFLECT, N, N, 5, 6, &ref[0][0][0], 1);
	cnnf_augment hx = {0, 0, 1, 1, 0}, vy = {0, 1, 0, 1, 0};
	patch(t, N, N, 5, 6, &hx, &got[0][0][0]);
	for (int c = 0; c < C; c++)
		for (int i = 0; i < N; i++)
			for (int k = 0; k < N; k++)
				ck_assert_float_eq(got[c][i][k], ref[c][i][N - 1 - k]);
	patch(t, N, N, 5, 6, &vy, &got[0][0][0]);
	for (int c = 0; c < C; c++)
		for (int i = 0; i < N; i++)
			for (int k = 0; k < N; k++)
				ck_assert_float_eq(got[c][i][k], ref[c][N - 1 - i][k]);
	/* rot90 alone: draws 0..3 are that many numpy.rot90 turns; find each turn's draw. */
	int seen[4] = {0};
	for (uint64_t key = 0; key < 64; key++) {
		cnnf_rng r, r2;
		cnnf_rng_derive(&r, 7, key, 0, 0);
		r2 = r;
		unsigned k = (unsigned)cnnf_rng_below(&r2, 4);
		cnnf_augment a;
		cnnf_augment_draw(CNNF_AUG_ROT90, &r, &a);
		ck_assert_mem_eq(&r, &r2, sizeof r); /* one draw, nothing else */
		seen[k] = 1;
		patch(t, N, N, 5, 6, &a, &got[0][0][0]);
		float turned[C][N][N];
		memcpy(turned, ref, sizeof ref);
		for (unsigned q = 0; q < k; q++) {
			/* numpy.rot90: out[i][j] = in[j][N - 1 - i]. */
			float in[C][N][N];
			memcpy(in, turned, sizeof in);
			for (int c = 0; c < C; c++)
				for (int i = 0; i < N; i++)
					for (int j = 0; j < N; j++)
						turned[c][i][j] = in[c][j][N - 1 - i];
		}
		ck_assert_mem_eq(got, turned, sizeof got);
	}
	ck_assert(seen[0] && seen[1] && seen[2] && seen[3]);
	cnnf_tensor_free(t);
}
END_TEST

/* Even sides: a flip is the patch of the image mirrored about the labelled pixel, which stays. */
START_TEST(test_even_flip)
{
	enum { PH = 4, PW = 6, Y = 5, X = 6 };
	cnnf_tensor *t = image(0, 0, 0, 0), *mx = image(1, 0, Y, X), *my = image(0, 1, Y, X);
	float got[C * PH * PW], ref[C * PH * PW];
	cnnf_augment hx = {0, 0, 1, 1, 0}, vy = {0, 1, 0, 1, 0};
	patch(t, PH, PW, Y, X, &hx, got);
	cnnf_segment_patch(mx, zero, CNNF_BORDER_REFLECT, PH, PW, Y, X, ref, 1);
	ck_assert_mem_eq(got, ref, sizeof got);
	patch(t, PH, PW, Y, X, &vy, got);
	cnnf_segment_patch(my, zero, CNNF_BORDER_REFLECT, PH, PW, Y, X, ref, 1);
	ck_assert_mem_eq(got, ref, sizeof got);
	/* Every one of the 8 symmetries keeps the labelled pixel at (PH/2, PW/2). */
	for (int s = 0; s < 8; s++) {
		cnnf_augment a = {s >> 2 & 1, s >> 1 & 1, s & 1, 1, 0};
		patch(t, PH, PW, Y, X, &a, got);
		for (int c = 0; c < C; c++)
			ck_assert_float_eq(got[(c * PH + PH / 2) * PW + PW / 2],
			                   t->data[(c * H + Y) * W + X]);
	}
	cnnf_tensor_free(t);
	cnnf_tensor_free(mx);
	cnnf_tensor_free(my);
}
END_TEST

/* flip and rot90 together: the 8 symmetries, drawn about equally often, all different. */
START_TEST(test_draw)
{
	cnnf_tensor *t = image(0, 0, 0, 0);
	enum { N = 5, DRAWS = 8000 };
	int count[8] = {0};
	float p[8][C * N * N];
	cnnf_rng r;
	cnnf_rng_derive(&r, 3, 1, 2, 3);
	for (int i = 0; i < DRAWS; i++) {
		cnnf_augment a;
		cnnf_augment_draw(CNNF_AUG_FLIP | CNNF_AUG_ROT90, &r, &a);
		int s = a.transpose << 2 | a.flip_y << 1 | a.flip_x;
		count[s]++;
		ck_assert(a.gain == 1 && a.shift == 0);
		patch(t, N, N, 5, 6, &a, p[s]);
	}
	for (int s = 0; s < 8; s++) {
		/* 1000 expected; 5 standard deviations (about 30 each) either side. */
		ck_assert_msg(count[s] > 850 && count[s] < 1150, "symmetry %d drawn %d times", s,
		              count[s]);
		for (int q = 0; q < s; q++)
			ck_assert(memcmp(p[s], p[q], sizeof p[s]) != 0);
	}
	/* No bits: nothing drawn. */
	cnnf_rng before = r;
	cnnf_augment a;
	cnnf_augment_draw(0, &r, &a);
	ck_assert_mem_eq(&r, &before, sizeof r);
	ck_assert(!a.transpose && !a.flip_x && !a.flip_y && a.gain == 1 && a.shift == 0);
	/* Jitter: within its ranges, and spread over them. */
	double gmin = 9, gmax = -9, smin = 9, smax = -9;
	for (int i = 0; i < 2000; i++) {
		cnnf_augment_draw(CNNF_AUG_JITTER, &r, &a);
		ck_assert(!a.transpose && !a.flip_x && !a.flip_y);
		gmin = fmin(gmin, a.gain), gmax = fmax(gmax, a.gain);
		smin = fmin(smin, a.shift), smax = fmax(smax, a.shift);
	}
	ck_assert(gmin >= 0.8 && gmin < 0.81 && gmax < 1.2 && gmax > 1.19);
	ck_assert(smin >= -0.1 && smin < -0.09 && smax < 0.1 && smax > 0.09);
	cnnf_tensor_free(t);
}
END_TEST

/* Jitter: 0.5 + gain (v - 0.5) + shift on the raw 0..1 values, then normalised as before. */
START_TEST(test_jitter)
{
	enum { N = 3, Y = 4, X = 7 };
	cnnf_tensor *t = image(0, 0, 0, 0);
	cnnf_augment a = {0, 0, 1, 1.15, -0.0625};
	float got[C][N][N];
	patch(t, N, N, Y, X, &a, &got[0][0][0]);
	for (int c = 0; c < C; c++)
		for (int i = 0; i < N; i++)
			for (int k = 0; k < N; k++) {
				double v = raw(c, Y + i - 1, X - (k - 1));
				double want = (0.5 + 1.15 * (v - 0.5) - 0.0625 - mean[c]) / stdev[c];
				ck_assert_double_eq_tol(got[c][i][k], want, 1e-5);
			}
	cnnf_tensor_free(t);
}
END_TEST

static Suite *augment_suite(void)
{
	Suite *s = suite_create("augment");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_identity);
	tcase_add_test(tc, test_odd_flip_turn);
	tcase_add_test(tc, test_even_flip);
	tcase_add_test(tc, test_draw);
	tcase_add_test(tc, test_jitter);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_parse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(augment_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
