/* check_tensor.c: planar tensors and their conversion from and to interleaved images. */
#include <math.h>
#include <stdint.h>

#include "engine/tensor.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A c x h x w tensor holding v (planar), which must be allocated. */
static cnnf_tensor *tensor_of(int c, int h, int w, const double *v)
{
	cnnf_tensor *t = cnnf_tensor_new(c, h, w);
	ck_assert_msg(t != NULL, "cnnf_tensor_new: %s", cnnf_error_get());
	for (size_t i = 0; i < cnnf_tensor_size(t); i++)
		t->data[i] = (float)v[i];
	return t;
}

static cnnf_image *to_image_ok(const cnnf_tensor *t, cnnf_type type, unsigned maxval, int alpha)
{
	cnnf_image *img = cnnf_tensor_to_image(t, type, maxval, alpha);
	ck_assert_msg(img != NULL, "cnnf_tensor_to_image: %s", cnnf_error_get());
	ck_assert_int_eq(img->type, type);
	ck_assert_uint_eq(img->maxval, maxval);
	ck_assert_int_eq(img->width, t->w);
	ck_assert_int_eq(img->height, t->h);
	ck_assert_int_eq(img->channels, t->c);
	return img;
}

/*
 * A 3 wide, 2 high RGB image; sample (x, y, c) = 100c + 10y + x, so every
 * value says where it belongs. Interleaved, pixel by pixel:
 *   row 0: (0,100,200) (1,101,201) (2,102,202)
 *   row 1: (10,110,210) (11,111,211) (12,112,212)
 */
static const double rgb_hwc[18] = {0,  100, 200, 1,  101, 201, 2,  102, 202,
                                   10, 110, 210, 11, 111, 211, 12, 112, 212};
/* The same image as planes R, G, B, each row-major. */
static const double rgb_chw[18] = {0,   1,   2,   10,  11,  12,  100, 101, 102,
                                   110, 111, 112, 200, 201, 202, 210, 211, 212};

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_new)
{
	cnnf_tensor *t = cnnf_tensor_new(3, 4, 5);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->c, 3);
	ck_assert_int_eq(t->h, 4);
	ck_assert_int_eq(t->w, 5);
	ck_assert_uint_eq(cnnf_tensor_size(t), 60);
	for (size_t i = 0; i < 60; i++)
		ck_assert_msg(t->data[i] == 0.0f, "element %zu not zero", i);
	cnnf_tensor_free(t);
	cnnf_tensor_free(NULL);
}
END_TEST

START_TEST(test_from_image_layout)
{
	static const cnnf_type types[] = {CNNF_U8, CNNF_U16, CNNF_F32};
	for (size_t ti = 0; ti < 3; ti++) {
		cnnf_image *img = cnnf_image_new(3, 2, 3, types[ti]);
		ck_assert_ptr_nonnull(img);
		for (size_t i = 0; i < 18; i++) {
			if (types[ti] == CNNF_U8)
				((uint8_t *)img->data)[i] = (uint8_t)rgb_hwc[i];
			else if (types[ti] == CNNF_U16)
				((uint16_t *)img->data)[i] = (uint16_t)rgb_hwc[i];
			else
				((float *)img->data)[i] = (float)rgb_hwc[i];
		}
		cnnf_tensor *t = cnnf_tensor_from_image(img);
		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(t->c, 3);
		ck_assert_int_eq(t->h, 2);
		ck_assert_int_eq(t->w, 3);
		for (size_t i = 0; i < 18; i++)
			ck_assert_msg(t->data[i] == (float)rgb_chw[i],
			              "type %d: element %zu is %g, expected %g", types[ti], i,
			              t->data[i], rgb_chw[i]);
		cnnf_tensor_free(t);
		cnnf_image_free(img);
	}
}
END_TEST

/* Raw sample values, never rescaled: 16-bit 60000 stays 60000, floats keep sign and fraction. */
START_TEST(test_from_image_raw_values)
{
	cnnf_image *img = cnnf_image_new(2, 1, 1, CNNF_U16);
	ck_assert_ptr_nonnull(img);
	img->maxval = 1000; /* a PNM scale: must not change the raw values either */
	((uint16_t *)img->data)[0] = 60000;
	((uint16_t *)img->data)[1] = 65535;
	cnnf_tensor *t = cnnf_tensor_from_image(img);
	ck_assert_ptr_nonnull(t);
	ck_assert(t->data[0] == 60000.0f);
	ck_assert(t->data[1] == 65535.0f);
	cnnf_tensor_free(t);
	cnnf_image_free(img);

	img = cnnf_image_new(1, 2, 2, CNNF_F32);
	ck_assert_ptr_nonnull(img);
	static const float v[4] = {-0.25f, 1.5f, 1e6f, 0.125f};
	memcpy(img->data, v, sizeof v);
	t = cnnf_tensor_from_image(img);
	ck_assert_ptr_nonnull(t);
	/* Planes: channel 0 = pixels' first samples (-0.25, 1e6), channel 1 = (1.5, 0.125). */
	ck_assert(t->data[0] == -0.25f);
	ck_assert(t->data[1] == 1e6f);
	ck_assert(t->data[2] == 1.5f);
	ck_assert(t->data[3] == 0.125f);
	cnnf_tensor_free(t);
	cnnf_image_free(img);
}
END_TEST

/* Planar back to interleaved: the 2x3 RGB image round-trips exactly. */
START_TEST(test_to_image_layout)
{
	cnnf_tensor *t = tensor_of(3, 2, 3, rgb_chw);
	cnnf_image *img = to_image_ok(t, CNNF_U8, 255, 0);
	for (size_t i = 0; i < 18; i++)
		ck_assert_msg(((uint8_t *)img->data)[i] == rgb_hwc[i],
		              "sample %zu is %d, expected %g", i, ((uint8_t *)img->data)[i],
		              rgb_hwc[i]);
	cnnf_image_free(img);
	cnnf_tensor_free(t);
}
END_TEST

/* Half up and clamp to 0..255: 2.5 -> 3, 3.5 -> 4, 0.49999 -> 0, -3 -> 0, 300 -> 255, NaN -> 0. */
START_TEST(test_to_image_u8_round)
{
	static const double v[8] = {2.5, 3.5, 0.49999, -3, 300, 254.5, 127.4, NAN};
	static const uint8_t want[8] = {3, 4, 0, 0, 255, 255, 127, 0};
	cnnf_tensor *t = tensor_of(1, 2, 4, v);
	cnnf_image *img = to_image_ok(t, CNNF_U8, 255, 0);
	for (size_t i = 0; i < 8; i++)
		ck_assert_msg(((uint8_t *)img->data)[i] == want[i], "sample %zu is %d, expected %d",
		              i, ((uint8_t *)img->data)[i], want[i]);
	cnnf_image_free(img);
	cnnf_tensor_free(t);
}
END_TEST

/* 16 bits: 300 is not clamped to 255; 65534.5 -> 65535, 70000 -> 65535; maxval 1000 clamps at 1000.
 */
START_TEST(test_to_image_u16_round)
{
	static const double v[6] = {300, 65534.5, 70000, -1, 1.5, 32767.5};
	static const uint16_t want[6] = {300, 65535, 65535, 0, 2, 32768};
	static const uint16_t want1000[6] = {300, 1000, 1000, 0, 2, 1000};
	cnnf_tensor *t = tensor_of(2, 1, 3, v);
	cnnf_image *img = to_image_ok(t, CNNF_U16, 65535, 0);
	/* Interleaving two planes of 3: channel 0 = 300 65534.5 70000, channel 1 = -1 1.5 32767.5.
	 */
	static const int order[6] = {0, 3, 1, 4, 2, 5};
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(((uint16_t *)img->data)[i] == want[order[i]],
		              "sample %zu is %d, expected %d", i, ((uint16_t *)img->data)[i],
		              want[order[i]]);
	cnnf_image_free(img);
	img = to_image_ok(t, CNNF_U16, 1000, 0);
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(((uint16_t *)img->data)[i] == want1000[order[i]],
		              "maxval 1000: sample %zu is %d, expected %d", i,
		              ((uint16_t *)img->data)[i], want1000[order[i]]);
	cnnf_image_free(img);
	cnnf_tensor_free(t);
}
END_TEST

/* Float keeps the values as they are (no rounding, no clamping) and records the scale it is given.
 */
START_TEST(test_to_image_f32)
{
	static const double v[4] = {-3.25, 300.5, 0.1, 1e-3};
	cnnf_tensor *t = tensor_of(1, 1, 4, v);
	static const unsigned maxvals[] = {0, 255, 65535};
	for (size_t m = 0; m < 3; m++) {
		cnnf_image *img = to_image_ok(t, CNNF_F32, maxvals[m], 0);
		for (size_t i = 0; i < 4; i++)
			ck_assert_msg(((float *)img->data)[i] == (float)v[i],
			              "sample %zu is %.9g, expected %.9g", i,
			              ((float *)img->data)[i], (float)v[i]);
		cnnf_image_free(img);
	}
	cnnf_tensor_free(t);
}
END_TEST

/* The alpha flag only where the last channel can be alpha: gray+alpha and RGBA. */
START_TEST(test_to_image_alpha_flag)
{
	for (int c = 1; c <= 5; c++) {
		cnnf_tensor *t = cnnf_tensor_new(c, 1, 1);
		ck_assert_ptr_nonnull(t);
		cnnf_image *img = to_image_ok(t, CNNF_U8, 255, 1);
		ck_assert_msg(img->alpha == (c == 2 || c == 4), "%d channels: alpha %d", c,
		              img->alpha);
		cnnf_image_free(img);
		img = to_image_ok(t, CNNF_U8, 255, 0);
		ck_assert_msg(img->alpha == 0, "%d channels without alpha: alpha %d", c,
		              img->alpha);
		cnnf_image_free(img);
		cnnf_tensor_free(t);
	}
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(test_new_bad_size)
{
	static const int sizes[][3] = {{0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {-3, 2, 2}};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		cnnf_error_clear();
		ck_assert_ptr_null(cnnf_tensor_new(sizes[i][0], sizes[i][1], sizes[i][2]));
		ck_assert_error_has("tensor");
		ck_assert_error_has("not positive");
	}
}
END_TEST

/* INT_MAX^3 floats overflow size_t: refused before any allocation. */
START_TEST(test_new_overflow)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_tensor_new(2147483647, 2147483647, 2147483647));
	ck_assert_error_has("tensor");
	ck_assert_error_has("too large");
}
END_TEST

static Suite *tensor_suite(void)
{
	Suite *s = suite_create("tensor");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_new);
	tcase_add_test(core, test_from_image_layout);
	tcase_add_test(core, test_from_image_raw_values);
	tcase_add_test(core, test_to_image_layout);
	tcase_add_test(core, test_to_image_u8_round);
	tcase_add_test(core, test_to_image_u16_round);
	tcase_add_test(core, test_to_image_f32);
	tcase_add_test(core, test_to_image_alpha_flag);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_new_bad_size);
	tcase_add_test(errors, test_new_overflow);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(tensor_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
