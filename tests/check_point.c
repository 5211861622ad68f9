/* check_point.c: the point operations on 8-bit, 16-bit and float samples, worked by hand. */
#include <math.h>
#include <stdint.h>

#include "filter/point.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_image *image_of(int w, int h, int c, cnnf_type type, unsigned maxval, int alpha,
                            const double *v)
{
	cnnf_image *img = cnnf_image_new(w, h, c, type);
	ck_assert_msg(img != NULL, "cnnf_image_new: %s", cnnf_error_get());
	img->maxval = maxval;
	img->alpha = alpha;
	for (size_t i = 0; i < (size_t)w * h * c; i++) {
		if (type == CNNF_U8)
			((uint8_t *)img->data)[i] = (uint8_t)v[i];
		else if (type == CNNF_U16)
			((uint16_t *)img->data)[i] = (uint16_t)v[i];
		else
			((float *)img->data)[i] = (float)v[i];
	}
	return img;
}

static const char *op_name(cnnf_point_op op)
{
	static const char *names[] = {"invert", "darken", "lighten", "contrast", "gamma", "relu"};
	return names[op];
}

/*
 * Apply op, which must succeed; the result has img's shape, maxval and alpha
 * flag, and the given type. Every sample must be within tol of want (tol 0:
 * exactly equal, as every rounded sample must be).
 */
static void point_eq(const cnnf_image *img, cnnf_point_op op, double param, int float_out,
                     cnnf_type type, const double *want, double tol)
{
	cnnf_image *out = NULL;
	int rc = cnnf_point_apply(img, op, param, float_out, &out);
	ck_assert_msg(rc == 0, "%s %g failed: %s", op_name(op), param, cnnf_error_get());
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(out->type, type);
	ck_assert_uint_eq(out->maxval, img->maxval);
	ck_assert_int_eq(out->alpha, img->alpha);
	ck_assert_int_eq(out->width, img->width);
	ck_assert_int_eq(out->height, img->height);
	ck_assert_int_eq(out->channels, img->channels);
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++) {
		double got = cnnf_image_getf(out, i);
		ck_assert_msg(tol == 0 ? got == want[i] : fabs(got - want[i]) <= tol,
		              "%s %g: sample %zu (of %g) is %.9g, expected %.9g", op_name(op),
		              param, i, cnnf_image_getf(img, i), got, want[i]);
	}
	cnnf_image_free(out);
}

/* The 8-bit gray samples most tests use. */
static const double g8[9] = {0, 1, 3, 10, 64, 100, 128, 200, 255};

/* ---- core ------------------------------------------------------------------------------- */

/* 255 - x. */
START_TEST(test_invert_u8)
{
	static const double want[9] = {255, 254, 252, 245, 191, 155, 127, 55, 0};
	cnnf_image *img = image_of(9, 1, 1, CNNF_U8, 255, 0, g8);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_U8, want, 0);
	cnnf_image_free(img);
}
END_TEST

/* x - 20 clamped at 0; x + 20 clamped at 255 (200 + 60 = 260 too). */
START_TEST(test_darken_lighten_u8)
{
	static const double dark20[9] = {0, 0, 0, 0, 44, 80, 108, 180, 235};
	static const double light20[9] = {20, 21, 23, 30, 84, 120, 148, 220, 255};
	static const double light60[9] = {60, 61, 63, 70, 124, 160, 188, 255, 255};
	cnnf_image *img = image_of(3, 3, 1, CNNF_U8, 255, 0, g8);
	point_eq(img, CNNF_POINT_DARKEN, 20, 0, CNNF_U8, dark20, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 20, 0, CNNF_U8, light20, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 60, 0, CNNF_U8, light60, 0);
	cnnf_image_free(img);
}
END_TEST

/*
 * x * 0.5 rounded half up: 1 -> 0.5 -> 1, 3 -> 1.5 -> 2, 255 -> 127.5 -> 128.
 * x * 2 clamped: 128 -> 256 -> 255.
 */
START_TEST(test_contrast_u8)
{
	static const double half[9] = {0, 1, 2, 5, 32, 50, 64, 100, 128};
	static const double twice[9] = {0, 2, 6, 20, 128, 200, 255, 255, 255};
	cnnf_image *img = image_of(9, 1, 1, CNNF_U8, 255, 0, g8);
	point_eq(img, CNNF_POINT_CONTRAST, 0.5, 0, CNNF_U8, half, 0);
	point_eq(img, CNNF_POINT_CONTRAST, 2, 0, CNNF_U8, twice, 0);
	cnnf_image_free(img);
}
END_TEST

/*
 * 255 (x/255)^g. Gamma 2 is x^2/255: 10 -> 0.39 -> 0, 64 -> 4096/255 = 16.06
 * -> 16, 100 -> 39.22 -> 39, 128 -> 64.25 -> 64, 200 -> 156.86 -> 157.
 * Gamma 0.5 is sqrt(255 x): 1 -> 15.97 -> 16, 3 -> sqrt(765) = 27.66 -> 28,
 * 10 -> sqrt(2550) = 50.498 -> 50 (50.5^2 = 2550.25), 64 -> sqrt(16320) = 127.75
 * -> 128, 100 -> sqrt(25500) = 159.69 -> 160, 128 -> sqrt(32640) = 180.67 -> 181,
 * 200 -> sqrt(51000) = 225.83 -> 226. 0 and 255 are fixed points.
 */
START_TEST(test_gamma_u8)
{
	static const double g2[9] = {0, 0, 0, 0, 16, 39, 64, 157, 255};
	static const double g05[9] = {0, 16, 28, 50, 128, 160, 181, 226, 255};
	cnnf_image *img = image_of(9, 1, 1, CNNF_U8, 255, 0, g8);
	point_eq(img, CNNF_POINT_GAMMA, 2, 0, CNNF_U8, g2, 0);
	point_eq(img, CNNF_POINT_GAMMA, 0.5, 0, CNNF_U8, g05, 0);
	cnnf_image_free(img);
}
END_TEST

/* ReLU on 8-bit samples changes nothing: they are never negative. */
START_TEST(test_relu_u8)
{
	cnnf_image *img = image_of(9, 1, 1, CNNF_U8, 255, 0, g8);
	point_eq(img, CNNF_POINT_RELU, 0, 0, CNNF_U8, g8, 0);
	cnnf_image_free(img);
}
END_TEST

/* ReLU on floats: negatives (however small) to 0, positives kept exactly, no clamp at 1 or 255. */
START_TEST(test_relu_float)
{
	static const double v[6] = {-1.5, 0, 2.25, -0.0001, 300, 0.125};
	static const double want[6] = {0, 0, 2.25, 0, 300, 0.125};
	cnnf_image *img = image_of(3, 2, 1, CNNF_F32, 0, 0, v);
	point_eq(img, CNNF_POINT_RELU, 0, 0, CNNF_F32, want, 0);
	cnnf_image_free(img);
}
END_TEST

/* RGBA: colour changes, alpha (the 4th sample of each pixel) is copied as it was. */
START_TEST(test_alpha_left_alone)
{
	static const double v[8] = {10, 20, 30, 40, 250, 0, 128, 255};
	static const double inv[8] = {245, 235, 225, 40, 5, 255, 127, 255};
	static const double light[8] = {110, 120, 130, 40, 255, 100, 228, 255};
	/* Contrast 0: colour to 0, alpha untouched. */
	static const double zero[8] = {0, 0, 0, 40, 0, 0, 0, 255};
	cnnf_image *img = image_of(2, 1, 4, CNNF_U8, 255, 1, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_U8, inv, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 100, 0, CNNF_U8, light, 0);
	point_eq(img, CNNF_POINT_CONTRAST, 0, 0, CNNF_U8, zero, 0);
	cnnf_image_free(img);

	/* Gray + alpha: gamma 2 on 64 -> 16, alpha 0 and 200 kept. */
	static const double ga[4] = {64, 0, 128, 200};
	static const double ga_g2[4] = {16, 0, 64, 200};
	img = image_of(2, 1, 2, CNNF_U8, 255, 1, ga);
	point_eq(img, CNNF_POINT_GAMMA, 2, 0, CNNF_U8, ga_g2, 0);
	cnnf_image_free(img);

	/* The same 4 samples without the alpha flag: the 4th is a colour sample like the others. */
	static const double inv_all[8] = {245, 235, 225, 215, 5, 255, 127, 0};
	img = image_of(2, 1, 4, CNNF_U8, 255, 0, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_U8, inv_all, 0);
	cnnf_image_free(img);
}
END_TEST

/*
 * Float with no scale (maxval 0): max is 1. Invert 1 - x, unclamped
 * (1.5 -> -0.5, -0.5 -> 1.5); gamma 2 is x^2, negatives to 0.
 */
START_TEST(test_float_no_scale)
{
	static const double v[6] = {0, 0.25, 0.5, 1, 1.5, -0.5};
	static const double inv[6] = {1, 0.75, 0.5, 0, -0.5, 1.5};
	static const double g2[6] = {0, 0.0625, 0.25, 1, 2.25, 0};
	static const double dark[6] = {-0.25, 0, 0.25, 0.75, 1.25, -0.75};
	cnnf_image *img = image_of(6, 1, 1, CNNF_F32, 0, 0, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_F32, inv, 0);
	point_eq(img, CNNF_POINT_GAMMA, 2, 0, CNNF_F32, g2, 0);
	point_eq(img, CNNF_POINT_DARKEN, 0.25, 0, CNNF_F32, dark, 0);
	/* float_out on a float image changes nothing. */
	point_eq(img, CNNF_POINT_INVERT, 0, 1, CNNF_F32, inv, 0);
	cnnf_image_free(img);
}
END_TEST

/* Float that remembers a 0..255 scale: max is 255, results stay unrounded floats. */
START_TEST(test_float_scaled)
{
	static const double v[3] = {55, 64, 300};
	static const double inv[3] = {200, 191, -45};
	/* 55^2/255 = 3025/255 = 11.862745, 4096/255 = 16.062745, 90000/255 = 352.941176. */
	static const double g2[3] = {3025.0 / 255, 4096.0 / 255, 90000.0 / 255};
	cnnf_image *img = image_of(3, 1, 1, CNNF_F32, 255, 0, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_F32, inv, 0);
	point_eq(img, CNNF_POINT_GAMMA, 2, 0, CNNF_F32, g2, 1e-4);
	cnnf_image_free(img);
}
END_TEST

/* 16 bits: invert is 65535 - x; clamps are at 65535, not 255. */
START_TEST(test_u16)
{
	static const double v[4] = {0, 1000, 65000, 65535};
	static const double inv[4] = {65535, 64535, 535, 0};
	static const double light[4] = {1000, 2000, 65535, 65535};
	/* 65535 * 0.5 = 32767.5 -> 32768; 1000 * 0.5 = 500; 65000 * 0.5 = 32500. */
	static const double half[4] = {0, 500, 32500, 32768};
	cnnf_image *img = image_of(2, 2, 1, CNNF_U16, 65535, 0, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_U16, inv, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 1000, 0, CNNF_U16, light, 0);
	point_eq(img, CNNF_POINT_CONTRAST, 0.5, 0, CNNF_U16, half, 0);
	cnnf_image_free(img);
}
END_TEST

/* A PNM maxval of 1000 is the top of the scale: invert 1000 - x, clamp at 1000. */
START_TEST(test_u16_pnm_maxval)
{
	static const double v[3] = {0, 300, 1000};
	static const double inv[3] = {1000, 700, 0};
	static const double light[3] = {800, 1000, 1000};
	/* Gamma 2: x^2/1000: 300 -> 90. */
	static const double g2[3] = {0, 90, 1000};
	cnnf_image *img = image_of(3, 1, 1, CNNF_U16, 1000, 0, v);
	point_eq(img, CNNF_POINT_INVERT, 0, 0, CNNF_U16, inv, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 800, 0, CNNF_U16, light, 0);
	point_eq(img, CNNF_POINT_GAMMA, 2, 0, CNNF_U16, g2, 0);
	cnnf_image_free(img);
}
END_TEST

/*
 * float_out on 8-bit samples: float results, neither rounded nor clamped,
 * maxval 255 kept as the scale: 255 * 0.5 = 127.5, 10 - 20 = -10,
 * 64^2/255 = 16.062745, 200 + 60 = 260.
 */
START_TEST(test_float_out)
{
	cnnf_image *img = image_of(9, 1, 1, CNNF_U8, 255, 0, g8);
	static const double half[9] = {0, 0.5, 1.5, 5, 32, 50, 64, 100, 127.5};
	static const double dark20[9] = {-20, -19, -17, -10, 44, 80, 108, 180, 235};
	static const double light60[9] = {60, 61, 63, 70, 124, 160, 188, 260, 315};
	static const double g2[9] = {0,
	                             1.0 / 255,
	                             9.0 / 255,
	                             100.0 / 255,
	                             4096.0 / 255,
	                             10000.0 / 255,
	                             16384.0 / 255,
	                             40000.0 / 255,
	                             255};
	point_eq(img, CNNF_POINT_CONTRAST, 0.5, 1, CNNF_F32, half, 0);
	point_eq(img, CNNF_POINT_DARKEN, 20, 1, CNNF_F32, dark20, 0);
	point_eq(img, CNNF_POINT_LIGHTEN, 60, 1, CNNF_F32, light60, 0);
	point_eq(img, CNNF_POINT_GAMMA, 2, 1, CNNF_F32, g2, 1e-4);
	cnnf_image_free(img);

	/* With alpha: the alpha sample is carried over as a float of the same value. */
	static const double v[4] = {255, 0, 3, 77};
	static const double want[4] = {127.5, 0, 1.5, 77};
	img = image_of(1, 1, 4, CNNF_U8, 255, 1, v);
	point_eq(img, CNNF_POINT_CONTRAST, 0.5, 1, CNNF_F32, want, 0);
	cnnf_image_free(img);
}
END_TEST

/* gray, which must succeed: shape, type, alpha; samples exactly want (tol 0) or within tol. */
static void gray_eq(const cnnf_image *img, int float_out, int channels, cnnf_type type,
                    const double *want, double tol)
{
	cnnf_image *out = NULL;
	ck_assert_msg(cnnf_point_gray(img, float_out, "in.png", &out) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(out->channels, channels);
	ck_assert_int_eq(out->type, type);
	ck_assert_int_eq(out->alpha, img->alpha);
	ck_assert_uint_eq(out->maxval, img->maxval);
	ck_assert_int_eq(out->width, img->width);
	ck_assert_int_eq(out->height, img->height);
	for (size_t i = 0; i < (size_t)img->width * img->height * channels; i++) {
		double got = cnnf_image_getf(out, i);
		ck_assert_msg(tol == 0 ? got == want[i] : fabs(got - want[i]) <= tol,
		              "gray: sample %zu is %.9g, expected %.9g", i, got, want[i]);
	}
	cnnf_image_free(out);
}

/*
 * Rec. 601 by hand: red 76.245, green 149.685, blue 29.07, (10, 20, 30)
 * 18.15, white 255; blue 250 is 28.5 exactly, rounded up (0.114 * 250 in
 * double is not); RGBA keeps its alpha.
 */
START_TEST(test_gray_u8)
{
	static const double rgb[] = {255, 0,  0,  0,   255, 0,   0, 0, 255,
	                             10,  20, 30, 255, 255, 255, 0, 0, 250};
	static const double want[] = {76, 150, 29, 18, 255, 29};
	cnnf_image *img = image_of(6, 1, 3, CNNF_U8, 255, 0, rgb);
	gray_eq(img, 0, 1, CNNF_U8, want, 0);
	static const double exact[] = {76.245, 149.685, 29.07, 18.15, 255, 28.5};
	gray_eq(img, 1, 1, CNNF_F32, exact, 1e-5);
	cnnf_image_free(img);
	static const double rgba[] = {255, 0, 0, 7, 0, 0, 250, 255};
	static const double want_a[] = {76, 7, 29, 255};
	img = image_of(2, 1, 4, CNNF_U8, 255, 1, rgba);
	gray_eq(img, 0, 2, CNNF_U8, want_a, 0);
	cnnf_image_free(img);
}
END_TEST

/* --channels: colour to luma, gray repeated, alpha dropped; type and scale kept. */
START_TEST(test_channels)
{
	static const double rgba[] = {255, 0, 0, 7, 10, 20, 30, 255};
	cnnf_image *img = image_of(2, 1, 4, CNNF_U8, 255, 1, rgba), *out = NULL;
	ck_assert_int_eq(cnnf_point_channels(img, 1, "in.png", &out), 0);
	ck_assert_int_eq(out->channels, 1);
	ck_assert_int_eq(out->alpha, 0);
	ck_assert_int_eq(out->type, CNNF_U8);
	ck_assert_double_eq(cnnf_image_getf(out, 0), 76); /* 76.245 */
	ck_assert_double_eq(cnnf_image_getf(out, 1), 18); /* 18.15 */
	cnnf_image_free(out);
	ck_assert_int_eq(cnnf_point_channels(img, 3, "in.png", &out), 0); /* RGBA -> RGB */
	ck_assert_int_eq(out->channels, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_double_eq(cnnf_image_getf(out, (size_t)i), rgba[i]);
		ck_assert_double_eq(cnnf_image_getf(out, 3 + (size_t)i), rgba[4 + i]);
	}
	cnnf_image_free(out);
	cnnf_image_free(img);
	static const double ga[] = {3, 200, 1000, 0};
	img = image_of(2, 1, 2, CNNF_U16, 65535, 1, ga);
	ck_assert_int_eq(cnnf_point_channels(img, 3, "in.png", &out), 0); /* gray+alpha -> RGB */
	ck_assert_int_eq(out->type, CNNF_U16);
	ck_assert_uint_eq(out->maxval, 65535);
	static const double want[] = {3, 3, 3, 1000, 1000, 1000};
	for (int i = 0; i < 6; i++)
		ck_assert_double_eq(cnnf_image_getf(out, (size_t)i), want[i]);
	cnnf_image_free(out);
	cnnf_image_free(img);
	static const double five[5] = {0};
	img = image_of(1, 1, 5, CNNF_U8, 255, 0, five);
	ck_assert_int_eq(cnnf_point_channels(img, 1, "x.npy", &out), -1);
	ck_assert_error_has("x.npy: --channels converts gray, RGB and their alpha forms, not 5 channels");
	cnnf_image_free(img);
}
END_TEST

/* 16 bits stay 16 bits (65535 red: 19594.965); float stays float; gray is copied as it is. */
START_TEST(test_gray_u16_float_gray)
{
	static const double rgb16[] = {65535, 0, 0, 1000, 1000, 1000};
	static const double want16[] = {19595, 1000};
	cnnf_image *img = image_of(2, 1, 3, CNNF_U16, 65535, 0, rgb16);
	gray_eq(img, 0, 1, CNNF_U16, want16, 0);
	cnnf_image_free(img);
	static const double rgbf[] = {1, 0.5, 0.25, -1, 2, 0};
	static const double wantf[] = {0.621, 0.875};
	img = image_of(2, 1, 3, CNNF_F32, 0, 0, rgbf);
	gray_eq(img, 0, 1, CNNF_F32, wantf, 1e-7);
	cnnf_image_free(img);
	static const double ga[] = {3, 200, 250, 0};
	img = image_of(2, 1, 2, CNNF_U8, 255, 1, ga);
	gray_eq(img, 0, 2, CNNF_U8, ga, 0);
	cnnf_image_free(img);
	img = image_of(4, 1, 1, CNNF_U16, 65535, 0, ga);
	gray_eq(img, 0, 1, CNNF_U16, ga, 0);
	cnnf_image_free(img);
}
END_TEST

/* Channels that are not gray, gray+alpha, RGB or RGBA: refused, naming the file. */
START_TEST(test_gray_errors)
{
	static const double v[5] = {0};
	static const struct {
		int c, alpha;
	} bad[] = {{2, 0}, {4, 0}, {5, 0}, {5, 1}};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cnnf_image *img = image_of(1, 1, bad[i].c, CNNF_F32, 0, bad[i].alpha, v);
		cnnf_image sentinel, *out = &sentinel;
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_point_gray(img, 0, "acts.npy", &out), -1);
		ck_assert_ptr_eq(out, &sentinel);
		ck_assert_error_has("acts.npy: gray takes gray, gray with alpha, RGB or RGBA");
		cnnf_image_free(img);
	}
}
END_TEST

static Suite *point_suite(void)
{
	Suite *s = suite_create("point");
	/* Every image is valid for cnnf_point_apply; the errors are gray's channel counts. */
	TCase *core = tcase_create("core");
	tcase_add_test(core, test_invert_u8);
	tcase_add_test(core, test_darken_lighten_u8);
	tcase_add_test(core, test_contrast_u8);
	tcase_add_test(core, test_gamma_u8);
	tcase_add_test(core, test_relu_u8);
	tcase_add_test(core, test_relu_float);
	tcase_add_test(core, test_alpha_left_alone);
	tcase_add_test(core, test_float_no_scale);
	tcase_add_test(core, test_float_scaled);
	tcase_add_test(core, test_u16);
	tcase_add_test(core, test_u16_pnm_maxval);
	tcase_add_test(core, test_float_out);
	tcase_add_test(core, test_gray_u8);
	tcase_add_test(core, test_gray_u16_float_gray);
	tcase_add_test(core, test_channels);
	suite_add_tcase(s, core);
	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_gray_errors);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(point_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
