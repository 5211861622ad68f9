/* check_meta.c: the metadata an image carries (image/meta.c): blocks, texts, copies, resolution. */
#include <math.h>

#include "image/meta.h"
#include "testutil.h"

START_TEST(test_blocks)
{
	cnnf_meta m = {0};
	ck_assert(cnnf_meta_empty(&m));
	ck_assert(cnnf_meta_empty(NULL));
	ck_assert_int_eq(cnnf_meta_set_exif(&m, "MM\0*abcd", 8), 0);
	ck_assert(!cnnf_meta_empty(&m));
	ck_assert_uint_eq(m.exif_len, 8);
	ck_assert_int_eq(memcmp(m.exif, "MM\0*abcd", 8), 0);
	/* Replacing keeps one block; an empty or oversized one is refused and the old one stays. */
	ck_assert_int_eq(cnnf_meta_set_exif(&m, "II*\0", 4), 0);
	ck_assert_uint_eq(m.exif_len, 4);
	ck_assert_int_eq(cnnf_meta_set_exif(&m, "x", 0), -1);
	ck_assert_int_eq(cnnf_meta_set_xmp(&m, "x", CNNF_META_MAX_BLOCK + 1), -1);
	ck_assert_uint_eq(m.exif_len, 4);
	ck_assert_ptr_null(m.xmp);
	char name[100];
	memset(name, 'n', sizeof name - 1);
	name[99] = 0;
	ck_assert_int_eq(cnnf_meta_set_icc(&m, name, "icc", 3), 0);
	ck_assert_uint_eq(strlen(m.icc_name), 79);
	ck_assert_int_eq(cnnf_meta_set_icc(&m, NULL, "icc", 3), 0);
	ck_assert_str_eq(m.icc_name, "");
	cnnf_meta_clear(&m);
	ck_assert(cnnf_meta_empty(&m));
	cnnf_meta_clear(&m); /* twice is fine */
	cnnf_meta_clear(NULL);
}
END_TEST

START_TEST(test_text)
{
	cnnf_meta m = {0};
	/* A value is cut at a NUL; keys must be 1..79 bytes. */
	ck_assert_int_eq(cnnf_meta_add_text(&m, "Comment", "ab\0cd", 5, 0, 0), 0);
	ck_assert_str_eq(m.text[0].value, "ab");
	ck_assert_int_eq(cnnf_meta_add_text(&m, "", "x", 1, 0, 0), -1);
	char key[81];
	memset(key, 'k', 80);
	key[80] = 0;
	ck_assert_int_eq(cnnf_meta_add_text(&m, key, "x", 1, 0, 0), -1);
	key[79] = 0;
	ck_assert_int_eq(cnnf_meta_add_text(&m, key, "x", 1, 1, 1), 0);
	ck_assert_int_eq(m.text_count, 2);
	ck_assert_int_eq(m.text[1].utf8, 1);
	ck_assert_int_eq(m.text[1].compressed, 1);
	/* At most CNNF_META_MAX_TEXT entries. */
	while (m.text_count < CNNF_META_MAX_TEXT)
		ck_assert_int_eq(cnnf_meta_add_text(&m, "k", "v", 1, 0, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(&m, "k", "v", 1, 0, 0), -1);
	cnnf_meta_clear(&m);
}
END_TEST

START_TEST(test_copy)
{
	cnnf_meta a = {0}, b = {0};
	ck_assert_int_eq(cnnf_meta_set_icc(&a, "p", "ICCDATA", 7), 0);
	ck_assert_int_eq(cnnf_meta_set_exif(&a, "II*\0", 4), 0);
	ck_assert_int_eq(cnnf_meta_set_xmp(&a, "<x/>", 4), 0);
	ck_assert_int_eq(cnnf_meta_add_text(&a, "Title", "t", 1, 1, 0), 0);
	a.res_unit = CNNF_RES_METRE, a.res_x = 100, a.res_y = 200, a.orientation = 3;
	ck_assert_int_eq(cnnf_meta_set_xmp(&b, "old", 3), 0); /* replaced by the copy */
	ck_assert_int_eq(cnnf_meta_copy(&b, &a), 0);
	ck_assert_ptr_ne(b.icc, a.icc);
	ck_assert_int_eq(memcmp(b.icc, "ICCDATA", 7), 0);
	ck_assert_str_eq(b.icc_name, "p");
	ck_assert_int_eq(memcmp(b.xmp, "<x/>", 4), 0);
	ck_assert_ptr_ne(b.text, a.text);
	ck_assert_str_eq(b.text[0].key, "Title");
	ck_assert_int_eq(b.text[0].utf8, 1);
	ck_assert(b.res_x == 100 && b.res_y == 200 && b.orientation == 3);
	cnnf_meta_clear(&a);
	ck_assert_int_eq(memcmp(b.exif, "II*\0", 4), 0); /* owns its own */
	ck_assert_int_eq(cnnf_meta_copy(&b, NULL), 0);
	ck_assert(cnnf_meta_empty(&b));
}
END_TEST

/* An ICC header: colour space at 16, 'acsp' at 36. */
START_TEST(test_icc_channels)
{
	unsigned char h[132] = {0};
	memcpy(h + 36, "acsp", 4);
	memcpy(h + 16, "RGB ", 4);
	ck_assert_int_eq(cnnf_meta_icc_channels(h, sizeof h), 3);
	memcpy(h + 16, "GRAY", 4);
	ck_assert_int_eq(cnnf_meta_icc_channels(h, sizeof h), 1);
	memcpy(h + 16, "CMYK", 4);
	ck_assert_int_eq(cnnf_meta_icc_channels(h, sizeof h), 0);
	memcpy(h + 16, "GRAY", 4);
	ck_assert_int_eq(cnnf_meta_icc_channels(h, 131), 0);
	h[36] = 'x';
	ck_assert_int_eq(cnnf_meta_icc_channels(h, sizeof h), 0);
	ck_assert_int_eq(cnnf_meta_icc_channels(NULL, 500), 0);
}
END_TEST

START_TEST(test_resolution)
{
	cnnf_meta m = {0};
	double x, y;
	ck_assert_int_eq(cnnf_meta_resolution(&m, &x, &y), CNNF_RES_NONE);
	ck_assert_int_eq(cnnf_meta_resolution(NULL, &x, &y), CNNF_RES_NONE);
	m.res_unit = CNNF_RES_METRE, m.res_x = 11811, m.res_y = 5906;
	ck_assert_int_eq(cnnf_meta_resolution(&m, &x, &y), CNNF_RES_METRE);
	ck_assert(x == 11811 && y == 5906);
	/* A stride-2 output: half the pixels per metre both ways. */
	cnnf_meta_scale_resolution(&m, 0.5, 0.5);
	ck_assert(m.res_x == 5905.5 && m.res_y == 2953);
	cnnf_meta_swap_axes(&m);
	ck_assert(m.res_x == 2953 && m.res_y == 5905.5);
	/* An aspect is a ratio: scaling both ways alike keeps it. */
	m.res_unit = CNNF_RES_ASPECT, m.res_x = 2, m.res_y = 1;
	cnnf_meta_scale_resolution(&m, 0.5, 0.5);
	ck_assert(m.res_x == 2 && m.res_y == 1);
	cnnf_meta_scale_resolution(&m, 1, 0.5);
	ck_assert(m.res_x == 4 && m.res_y == 1);
	/* Nonsense counts read as none. */
	m.res_unit = CNNF_RES_METRE, m.res_x = NAN;
	ck_assert_int_eq(cnnf_meta_resolution(&m, &x, &y), CNNF_RES_NONE);
	m.res_x = -3;
	ck_assert_int_eq(cnnf_meta_resolution(&m, &x, &y), CNNF_RES_NONE);
	ck_assert(x == 0 && y == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_blocks);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_icc_channels);
	tcase_add_test(tc, test_resolution);
	suite_add_tcase(s, tc);
	return cnnf_test_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
