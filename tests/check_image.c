/* check_image.c: the image type: size checks, allocation, rounding and sample conversion. */
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "image/image.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A w x h x c image of the given type holding v (interleaved), maxval as given. */
static cnnf_image *image_of(int w, int h, int c, cnnf_type type, unsigned maxval, const double *v)
{
	cnnf_image *img = cnnf_image_new(w, h, c, type);
	ck_assert_msg(img != NULL, "cnnf_image_new: %s", cnnf_error_get());
	img->maxval = maxval;
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

/* Convert, which must succeed, and check the type and maxval of the copy. */
static cnnf_image *convert_ok(const cnnf_image *src, cnnf_type type, unsigned maxval,
                              unsigned want_maxval)
{
	cnnf_image *dst = cnnf_image_convert(src, type, maxval);
	ck_assert_msg(dst != NULL, "cnnf_image_convert: %s", cnnf_error_get());
	ck_assert_int_eq(dst->type, type);
	ck_assert_uint_eq(dst->maxval, want_maxval);
	ck_assert_int_eq(dst->width, src->width);
	ck_assert_int_eq(dst->height, src->height);
	ck_assert_int_eq(dst->channels, src->channels);
	return dst;
}

static void assert_samples(const cnnf_image *img, const double *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(cnnf_image_getf(img, i) == (float)want[i],
		              "sample %zu is %.9g, expected %.9g", i, cnnf_image_getf(img, i),
		              want[i]);
}

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_bytes)
{
	size_t n = 0;
	/* 3 x 2 pixels x 4 channels x 2 bytes = 48. */
	ck_assert_int_eq(cnnf_image_bytes("a.png", 3, 2, 4, 2, &n), 0);
	ck_assert_uint_eq(n, 48);
	ck_assert_int_eq(cnnf_image_bytes(NULL, 1, 1, 1, 4, &n), 0);
	ck_assert_uint_eq(n, 4);
	/* 16384^2 RGB floats: 2^28 * 12 bytes = 3 GiB, which fits a 64-bit size_t. */
	if (sizeof(size_t) >= 8) {
		ck_assert_int_eq(cnnf_image_bytes("big", 16384, 16384, 3, 4, &n), 0);
		ck_assert_uint_eq(n, (size_t)3 << 30);
	}
}
END_TEST

START_TEST(test_new_defaults)
{
	static const struct {
		cnnf_type type;
		unsigned maxval;
	} cases[] = {{CNNF_U8, 255}, {CNNF_U16, 65535}, {CNNF_F32, 0}};
	for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
		cnnf_image *img = cnnf_image_new(5, 3, 4, cases[t].type);
		ck_assert_ptr_nonnull(img);
		ck_assert_int_eq(img->width, 5);
		ck_assert_int_eq(img->height, 3);
		ck_assert_int_eq(img->channels, 4);
		ck_assert_int_eq(img->type, cases[t].type);
		ck_assert_uint_eq(img->maxval, cases[t].maxval);
		ck_assert_int_eq(img->alpha, 0);
		/* Zero-filled: every sample reads back as 0 whatever the type. */
		for (size_t i = 0; i < 5 * 3 * 4; i++)
			ck_assert_msg(cnnf_image_getf(img, i) == 0, "sample %zu not zero", i);
		cnnf_image_free(img);
	}
	cnnf_image_free(NULL);
}
END_TEST

START_TEST(test_check_ok)
{
	/* 100 x 100 = 10000 pixels: exactly at the limit is allowed, 0 means no limit. */
	ck_assert_int_eq(cnnf_image_check("a.png", 100, 100, 3, CNNF_U8, 10000), 0);
	ck_assert_int_eq(cnnf_image_check("a.png", 100, 100, 3, CNNF_U8, 0), 0);
	ck_assert_int_eq(cnnf_image_check("a.png", 1, 1, CNNF_MAX_CHANNELS, CNNF_F32, 0), 0);
	/* The largest width an int holds; nothing is allocated by a check. */
	ck_assert_int_eq(cnnf_image_check("a.png", INT32_MAX, 1, 1, CNNF_U8, 0), 0);
}
END_TEST

/* Half up: floor(v + 0.5), then clamped to 0..maxval, NaN to 0. */
START_TEST(test_round)
{
	ck_assert_uint_eq(cnnf_image_round(2.5, 255), 3);
	ck_assert_uint_eq(cnnf_image_round(3.5, 255), 4);
	/* Banker's rounding (round half to even) would give 4 here. */
	ck_assert_uint_eq(cnnf_image_round(4.5, 255), 5);
	ck_assert_uint_eq(cnnf_image_round(0.5, 255), 1);
	ck_assert_uint_eq(cnnf_image_round(0.49999, 255), 0);
	ck_assert_uint_eq(cnnf_image_round(2.4999, 255), 2);
	ck_assert_uint_eq(cnnf_image_round(0, 255), 0);
	ck_assert_uint_eq(cnnf_image_round(-0.4, 255), 0);
	ck_assert_uint_eq(cnnf_image_round(-3, 255), 0);
	ck_assert_uint_eq(cnnf_image_round(300, 255), 255);
	ck_assert_uint_eq(cnnf_image_round(254.5, 255), 255);
	ck_assert_uint_eq(cnnf_image_round(254.49, 255), 254);
	ck_assert_uint_eq(cnnf_image_round(255, 255), 255);
	ck_assert_uint_eq(cnnf_image_round(70000, 65535), 65535);
	ck_assert_uint_eq(cnnf_image_round(65534.5, 65535), 65535);
	ck_assert_uint_eq(cnnf_image_round(32767.5, 65535), 32768);
	/* A PNM maxval is a scale like any other. */
	ck_assert_uint_eq(cnnf_image_round(999.5, 1000), 1000);
	ck_assert_uint_eq(cnnf_image_round(1001, 1000), 1000);
	ck_assert_uint_eq(cnnf_image_round(NAN, 255), 0);
	ck_assert_uint_eq(cnnf_image_round(-NAN, 65535), 0);
	ck_assert_uint_eq(cnnf_image_round(INFINITY, 255), 255);
	ck_assert_uint_eq(cnnf_image_round(INFINITY, 65535), 65535);
	ck_assert_uint_eq(cnnf_image_round(-INFINITY, 255), 0);
}
END_TEST

/*
 * 16 to 8 bits: v * 255 / 65535 = v / 257 (65535 = 255 * 257), so 65535 -> 255,
 * 257 -> 1 exactly, 128 -> 0.498 -> 0, 129 -> 0.502 -> 1, 32896 = 128 * 257 -> 128.
 */
START_TEST(test_convert_16_to_8)
{
	static const double v[] = {0, 65535, 257, 128, 129, 32896};
	static const double want[] = {0, 255, 1, 0, 1, 128};
	cnnf_image *src = image_of(6, 1, 1, CNNF_U16, 65535, v);
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	assert_samples(dst, want, 6);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* 8 to 16 bits: v * 65535 / 255 = 257 v: 1 -> 257, 255 -> 65535, 128 -> 32896. */
START_TEST(test_convert_8_to_16)
{
	static const double v[] = {0, 1, 128, 255};
	static const double want[] = {0, 257, 32896, 65535};
	cnnf_image *src = image_of(2, 2, 1, CNNF_U8, 255, v);
	cnnf_image *dst = convert_ok(src, CNNF_U16, 65535, 65535);
	assert_samples(dst, want, 4);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/*
 * A PNM-like 16-bit image on 0..1000: to 8 bits 500 * 255 / 1000 = 127.5 -> 128,
 * 1000 -> 255, 2 -> 0.51 -> 1, 1 -> 0.255 -> 0. To 0..65535: 500 -> 32767.5 -> 32768.
 */
START_TEST(test_convert_pnm_maxval)
{
	static const double v[] = {500, 1000, 2, 1};
	static const double want8[] = {128, 255, 1, 0};
	/* 2 * 65.535 = 131.07 -> 131, 1 * 65.535 -> 66 (65.535 rounds up). */
	static const double want16[] = {32768, 65535, 131, 66};
	cnnf_image *src = image_of(4, 1, 1, CNNF_U16, 1000, v);
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	assert_samples(dst, want8, 4);
	cnnf_image_free(dst);
	dst = convert_ok(src, CNNF_U16, 65535, 65535);
	assert_samples(dst, want16, 4);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* Float samples with no scale (maxval 0) are taken as samples on the new scale: rounded, clamped.
 */
START_TEST(test_convert_float_no_scale)
{
	static const double v[] = {12.5, -1, 300, 0.49, 254.5, NAN};
	static const double want8[] = {13, 0, 255, 0, 255, 0};
	static const double want16[] = {13, 0, 300, 0, 255, 0};
	cnnf_image *src = image_of(3, 2, 1, CNNF_F32, 0, v);
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	assert_samples(dst, want8, 6);
	cnnf_image_free(dst);
	dst = convert_ok(src, CNNF_U16, 65535, 65535);
	assert_samples(dst, want16, 6);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* A float image that remembers a 16-bit scale is rescaled like the 16-bit image: v / 257. */
START_TEST(test_convert_float_scaled)
{
	static const double v[] = {65535, 257, 32896, 0, 70000, -5};
	static const double want[] = {255, 1, 128, 0, 255, 0};
	cnnf_image *src = image_of(6, 1, 1, CNNF_F32, 65535, v);
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	assert_samples(dst, want, 6);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* To float: raw values, no rescaling, the source's scale kept (the maxval argument ignored). */
START_TEST(test_convert_to_float)
{
	static const double v[] = {0, 200, 255, 7};
	cnnf_image *src = image_of(1, 1, 4, CNNF_U8, 255, v);
	src->alpha = 1;
	cnnf_image *dst = convert_ok(src, CNNF_F32, 65535, 255);
	assert_samples(dst, v, 4);
	ck_assert_int_eq(dst->alpha, 1);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* The alpha flag survives every conversion; alpha samples are rescaled like colour. */
START_TEST(test_convert_keeps_alpha)
{
	/* Gray+alpha, 2 pixels: 16-bit 65535/257 -> 255/1. */
	static const double v[] = {65535, 257, 0, 65535};
	static const double want[] = {255, 1, 0, 255};
	cnnf_image *src = image_of(2, 1, 2, CNNF_U16, 65535, v);
	src->alpha = 1;
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	ck_assert_int_eq(dst->alpha, 1);
	assert_samples(dst, want, 4);
	cnnf_image_free(dst);
	src->alpha = 0;
	dst = convert_ok(src, CNNF_U8, 255, 255);
	ck_assert_int_eq(dst->alpha, 0);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* The same scale: no rescaling, the samples are copied. */
START_TEST(test_convert_same_scale)
{
	static const double v[] = {0, 1, 128, 254, 255, 17};
	cnnf_image *src = image_of(3, 1, 2, CNNF_U8, 255, v);
	cnnf_image *dst = convert_ok(src, CNNF_U8, 255, 255);
	assert_samples(dst, v, 6);
	cnnf_image_free(dst);
	cnnf_image_free(src);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* 2^40 x 2^40 x 3 is 3 * 2^80 samples: more than any size_t. */
START_TEST(test_bytes_overflow)
{
	size_t n = 12345;
	long long big = 1LL << 40;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_bytes("huge.ppm", big, big, 3, 1, &n), -1);
	ck_assert_uint_eq(n, 12345); /* untouched on failure */
	ck_assert_error_has("huge.ppm");
	ck_assert_error_has("too large");
	ck_assert_error_has("1099511627776"); /* 2^40: the message shows the size */

	/* Samples alone fit, but not once multiplied by the element size: 2^62 * 4 bytes. */
	if (sizeof(size_t) == 8) {
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_image_bytes("wide.npy", 1LL << 62, 1, 1, 4, &n), -1);
		ck_assert_uint_eq(n, 12345);
		ck_assert_error_has("wide.npy");
		ck_assert_error_has("too large");
	}

	/* The product of w and h alone overflows; c is 1. */
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_bytes(NULL, LLONG_MAX, LLONG_MAX, 1, 1, &n), -1);
	/* With no name, the message says "image". */
	ck_assert_error_has("image");
	ck_assert_error_has("too large");
}
END_TEST

START_TEST(test_bytes_not_positive)
{
	static const long long sizes[][3] = {{0, 1, 1},  {1, 0, 1},  {1, 1, 0},        {-1, 5, 3},
	                                     {5, -2, 3}, {5, 5, -3}, {LLONG_MIN, 1, 1}};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = 777;
		cnnf_error_clear();
		ck_assert_int_eq(
		    cnnf_image_bytes("zero.pgm", sizes[i][0], sizes[i][1], sizes[i][2], 1, &n), -1);
		ck_assert_uint_eq(n, 777);
		ck_assert_error_has("zero.pgm");
		ck_assert_error_has("not positive");
	}
	cnnf_error_clear();
	size_t n;
	ck_assert_int_eq(cnnf_image_bytes(NULL, 0, 0, 0, 1, &n), -1);
	ck_assert_error_has("image");
	ck_assert_error_has("not positive");
}
END_TEST

START_TEST(test_check_pixel_limit)
{
	/* 100 x 100 = 10000 pixels, one over a 9999 limit. */
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("big.png", 100, 100, 3, CNNF_U8, 9999), -1);
	ck_assert_error_has("big.png");
	ck_assert_error_has("--max-pixels");
	ck_assert_error_has("9999");
	ck_assert_error_has("100x100");

	/* The default limit 2^28 = 16384^2: one more row is refused. */
	ck_assert_int_eq(
	    cnnf_image_check("a.png", 16384, 16384, 1, CNNF_U8, CNNF_DEFAULT_MAX_PIXELS), 0);
	cnnf_error_clear();
	ck_assert_int_eq(
	    cnnf_image_check("a.png", 16384, 16385, 1, CNNF_U8, CNNF_DEFAULT_MAX_PIXELS), -1);
	ck_assert_error_has("--max-pixels");
	ck_assert_error_has("268435456");
}
END_TEST

START_TEST(test_check_channels)
{
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("deep.npy", 2, 2, CNNF_MAX_CHANNELS + 1, CNNF_F32, 0),
	                 -1);
	ck_assert_error_has("deep.npy");
	ck_assert_error_has("65536");
	ck_assert_error_has("65535");
	ck_assert_error_has("channels");

	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("none.npy", 2, 2, 0, CNNF_F32, 0), -1);
	ck_assert_error_has("none.npy");
	ck_assert_error_has("not positive");
}
END_TEST

/* Sizes must fit the int fields of cnnf_image: INT32_MAX + 1 is refused even with no limit. */
START_TEST(test_check_int32_bounds)
{
	long long over = (long long)INT32_MAX + 1;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("wide.pgm", over, 1, 1, CNNF_U8, 0), -1);
	ck_assert_error_has("wide.pgm");
	ck_assert_error_has("2147483648");
	ck_assert_error_has("too large");

	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("tall.pgm", 1, over, 1, CNNF_U8, 0), -1);
	ck_assert_error_has("tall.pgm");
	ck_assert_error_has("2147483648");

	cnnf_error_clear();
	ck_assert_int_eq(cnnf_image_check("neg.pgm", -4, 3, 1, CNNF_U8, 0), -1);
	ck_assert_error_has("neg.pgm");
	ck_assert_error_has("not positive");
}
END_TEST

START_TEST(test_new_bad_size)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_image_new(0, 5, 1, CNNF_U8));
	ck_assert_error_has("not positive");
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_image_new(5, 5, -1, CNNF_U16));
	ck_assert_error_has("not positive");
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_image_new(1, 1, CNNF_MAX_CHANNELS + 1, CNNF_F32));
	ck_assert_error_has("65535");
}
END_TEST

/* Flatten n pixels of img (all of it) over bg; dst samples as doubles. */
static void flatten_eq(const cnnf_image *img, const unsigned char bg[3], const double *want,
                       double tol)
{
	size_t n = (size_t)img->width * img->height, c = (size_t)img->channels - 1;
	unsigned char dst[64 * 4];
	ck_assert_uint_le(n * c * img->type, sizeof dst);
	cnnf_image_flatten_samples(img, img->data, bg, dst, n);
	cnnf_image out = *img;
	out.channels = (int)c;
	out.data = dst;
	for (size_t i = 0; i < n * c; i++) {
		double got = cnnf_image_getf(&out, i);
		ck_assert_msg(tol == 0 ? got == want[i] : fabs(got - want[i]) <= tol,
		              "flatten: sample %zu is %.9g, expected %.9g", i, got, want[i]);
	}
}

/*
 * RGBA over white and black by hand: (200 * 128 + 255 * 127) / 255 = 227.39;
 * alpha 0 gives the background, 255 the colour.
 */
START_TEST(test_flatten_u8)
{
	static const double v[] = {200, 100, 0, 128, 200, 100, 0, 0, 200, 100, 0, 255};
	cnnf_image *img = image_of(3, 1, 4, CNNF_U8, 255, v);
	img->alpha = 1;
	static const unsigned char white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
	static const double on_white[] = {227, 177, 127, 255, 255, 255, 200, 100, 0};
	static const double on_black[] = {100, 50, 0, 0, 0, 0, 200, 100, 0};
	flatten_eq(img, white, on_white, 0);
	flatten_eq(img, black, on_black, 0);
	cnnf_image_free(img);
}
END_TEST

/*
 * Gray+alpha of 16 bits over red: the background is red's luma 76.245 on
 * the 16-bit scale, 19594.965; float without a scale takes alpha on 0..1,
 * clamped.
 */
START_TEST(test_flatten_u16_float)
{
	static const double v[] = {1000, 0, 1000, 65535, 1000, 32768};
	cnnf_image *img = image_of(3, 1, 2, CNNF_U16, 65535, v);
	img->alpha = 1;
	static const unsigned char red[3] = {255, 0, 0};
	/* (1000 * 32768 + 19594.965 * 32767) / 65535 = 10297.33 */
	static const double want[] = {19595, 1000, 10297};
	flatten_eq(img, red, want, 0);
	cnnf_image_free(img);
	static const double f[] = {0.5, 0.25, 0.5, 2, 0.5, -1};
	img = image_of(3, 1, 2, CNNF_F32, 0, f);
	img->alpha = 1;
	static const unsigned char white[3] = {255, 255, 255};
	static const double wantf[] = {0.875, 0.5, 1};
	flatten_eq(img, white, wantf, 1e-7);
	cnnf_image_free(img);
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_bytes);
	tcase_add_test(core, test_new_defaults);
	tcase_add_test(core, test_check_ok);
	tcase_add_test(core, test_round);
	tcase_add_test(core, test_convert_16_to_8);
	tcase_add_test(core, test_convert_8_to_16);
	tcase_add_test(core, test_convert_pnm_maxval);
	tcase_add_test(core, test_convert_float_no_scale);
	tcase_add_test(core, test_convert_float_scaled);
	tcase_add_test(core, test_convert_to_float);
	tcase_add_test(core, test_convert_keeps_alpha);
	tcase_add_test(core, test_convert_same_scale);
	tcase_add_test(core, test_flatten_u8);
	tcase_add_test(core, test_flatten_u16_float);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_bytes_overflow);
	tcase_add_test(errors, test_bytes_not_positive);
	tcase_add_test(errors, test_check_pixel_limit);
	tcase_add_test(errors, test_check_channels);
	tcase_add_test(errors, test_check_int32_bounds);
	tcase_add_test(errors, test_new_bad_size);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(image_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
