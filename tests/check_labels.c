/* check_labels.c: label maps read as class ids: palette indices and gray values, never expanded. */
#include <stdint.h>

#include "io/io.h"
#include "task/labels.h"
#include "task/segment.h"
#include "testutil.h"

static const char *fixture(const char *name)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/train/%s", TEST_DATA_DIR, name);
	return path;
}

static cnnf_labels *read_ok(const char *name)
{
	cnnf_labels *l = cnnf_labels_read(fixture(name), 0);
	ck_assert_msg(l != NULL, "%s: %s", name, cnnf_error_get());
	return l;
}

/* ---- core ------------------------------------------------------------------------------- */

/* Palette and gray maps of 1 to 8 bits hold (x + 3y) mod 2^depth: indices and values as they are.
 */
static const char *const by_depth[] = {"labels-pal1.png",  "labels-pal2.png",  "labels-pal4.png",
                                       "labels-pal8.png",  "labels-gray1.png", "labels-gray2.png",
                                       "labels-gray4.png", "labels-gray8.png", "labels-gray8.pgm"};
static const int depths[] = {1, 2, 4, 8, 1, 2, 4, 8, 8};

START_TEST(test_depths)
{
	cnnf_labels *l = read_ok(by_depth[_i]);
	ck_assert_int_eq(l->width, 7);
	ck_assert_int_eq(l->height, 5);
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 7; x++)
			ck_assert_msg(l->data[y * 7 + x] == (x + 3 * y) % (1 << depths[_i]),
			              "%s (%d, %d): %u", by_depth[_i], x, y, l->data[y * 7 + x]);
	cnnf_labels_free(l);
}
END_TEST

/* 16-bit gray: 1000 + x + 3y, big-endian in the file, native here. */
START_TEST(test_gray16)
{
	cnnf_labels *l = read_ok("labels-gray16.png");
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 7; x++)
			ck_assert_uint_eq(l->data[y * 7 + x], 1000 + x + 3 * y);
	cnnf_labels_free(l);
}
END_TEST

/* What cnnf segment writes (a palette PNG through cnnf_io_write) reads back as the same ids. */
START_TEST(test_segment_output)
{
	cnnf_image *img = cnnf_image_new(19, 11, 1, CNNF_U8);
	uint8_t *d = img->data;
	for (int i = 0; i < 19 * 11; i++)
		d[i] = (uint8_t)((i * 37) % 200);
	unsigned char pal[3 * 256];
	cnnf_segment_palette(200, pal);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.palette = pal;
	o.palette_size = 200;
	char path[4200];
	snprintf(path, sizeof path, "%s/labels-seg.png", cnnf_test_tmpdir());
	ck_assert_int_eq(cnnf_io_write(img, path, &o), 0);
	cnnf_labels *l = cnnf_labels_read(path, 0);
	ck_assert_msg(l != NULL, "%s", cnnf_error_get());
	for (int i = 0; i < 19 * 11; i++)
		ck_assert_uint_eq(l->data[i], d[i]);
	cnnf_labels_free(l);
	cnnf_image_free(img);
}
END_TEST

/* The sample ground truth: gray 0/1, 34.3% coin. */
START_TEST(test_coins_truth)
{
	cnnf_labels *l = cnnf_labels_read(SAMPLES_DIR "/models/coins-truth.png", 0);
	ck_assert_msg(l != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(l->width, 384);
	ck_assert_int_eq(l->height, 303);
	size_t ones = 0, n = (size_t)l->width * l->height;
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_le(l->data[i], 1);
		ones += l->data[i];
	}
	ck_assert_msg(ones * 1000 / n == 343, "coin pixels %zu of %zu", ones, n);
	cnnf_labels_free(l);
}
END_TEST

START_TEST(test_free_null)
{
	cnnf_labels_free(NULL);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

static void refused(const char *path, const char *needle)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_labels_read(path, 0));
	ck_assert_error_has(needle);
}

START_TEST(test_rgb)
{
	refused(fixture("bad-rgb.png"), "bad-rgb.png: a label map must be a palette or gray PNG; "
	                                "this one is RGB");
}
END_TEST

START_TEST(test_gray_alpha)
{
	refused(fixture("bad-graya.png"), "this one is gray with alpha");
}
END_TEST

START_TEST(test_truncated)
{
	refused(fixture("bad-truncated.png"), "bad-truncated.png: ");
}
END_TEST

/* A header that promises far more than the file holds is refused before the memory is taken. */
START_TEST(test_huge_header)
{
	refused(fixture("bad-huge.png"), "bad-huge.png: truncated file: a 30000x30000 PNG needs "
	                                 "at least ");
}
END_TEST

START_TEST(test_missing)
{
	refused(fixture("nothere.png"), "nothere.png: No such file or directory");
}
END_TEST

START_TEST(test_other_formats)
{
	refused(TEST_DATA_DIR "/io/gray.jpg", "gray.jpg: a label map must be a palette or gray "
	                                      "PNG, or a gray PNM (JPEG is lossy)");
	refused(TEST_DATA_DIR "/io/u16_hw.npy", "(not NPY)");
	refused(TEST_DATA_DIR "/train/squares.list", "squares.list: a label map must be");
}
END_TEST

START_TEST(test_max_pixels)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_labels_read(fixture("labels-pal8.png"), 34));
	ck_assert_error_has("labels-pal8.png");
	ck_assert_ptr_null(cnnf_labels_read(fixture("labels-gray8.pgm"), 34));
	ck_assert_error_has("labels-gray8.pgm");
	cnnf_labels *l = cnnf_labels_read(fixture("labels-pal8.png"), 35);
	ck_assert_ptr_nonnull(l);
	cnnf_labels_free(l);
}
END_TEST

static Suite *labels_suite(void)
{
	Suite *s = suite_create("labels");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_depths, 0, sizeof depths / sizeof *depths);
	tcase_add_test(tc, test_gray16);
	tcase_add_test(tc, test_segment_output);
	tcase_add_test(tc, test_coins_truth);
	tcase_add_test(tc, test_free_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_rgb);
	tcase_add_test(tc, test_gray_alpha);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_huge_header);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_other_formats);
	tcase_add_test(tc, test_max_pixels);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(labels_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
