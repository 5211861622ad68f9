/* check_describe.c: the text `cnnf info` shows for kernels and models. */
#include "task/describe.h"
#include "testutil.h"

/* Describe into a memory buffer; returns it (caller frees). */
static char *describe_kernel_text(const char *text)
{
	cnnf_kernel *k = cnnf_kernel_parse(text, "k");
	ck_assert_ptr_nonnull(k);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ck_assert_int_eq(cnnf_describe_kernel(out, "k.txt", k), 0);
	fclose(out);
	cnnf_kernel_free(k);
	return buf;
}

START_TEST(test_sobel)
{
	/* Sobel x = [1 2 1]^T [-1 0 1]: 9 weights + 1 bias, sum 0. */
	char *s = describe_kernel_text("-1 0 1; -2 0 2; -1 0 1");
	ck_assert_str_eq(s, "k.txt: 2-D kernel\n"
			    "shape: 1 x 1 x 3 x 3 (filters x depth x height x width)\n"
			    "parameters: 10 (9 weights, 1 bias)\n"
			    "  sum: 0 (scale 1/1, bias 0)\n"
			    "  separable: column 1 2 1, row -1 0 1\n");
	free(s);
}
END_TEST

START_TEST(test_gaussian_scaled_and_laplacian)
{
	/* [1 2 1]^T [1 2 1] / 16 sums to 1; the row is shown with its smallest entry 1. */
	char *s = describe_kernel_text("scale 1/16\n1 2 1\n2 4 2\n1 2 1\n");
	ck_assert_ptr_nonnull(strstr(s, "  sum: 1 (scale 1/16, bias 0)\n"));
	ck_assert_ptr_nonnull(strstr(s, "separable: column 1 2 1, row 1 2 1\n"));
	free(s);
	s = describe_kernel_text("0 1 0; 1 -4 1; 0 1 0");
	ck_assert_ptr_nonnull(strstr(s, "  not separable\n"));
	free(s);
}
END_TEST

START_TEST(test_bank_and_slices)
{
	char *s = describe_kernel_text("1\n---\n2\n===\nbias 3\n4\n---\n5\n");
	ck_assert_ptr_nonnull(strstr(s, "k.txt: bank of 3-D kernels\n"));
	ck_assert_ptr_nonnull(strstr(s, "shape: 2 x 2 x 1 x 1"));
	ck_assert_ptr_nonnull(strstr(s, "parameters: 6 (4 weights, 2 biases)"));
	ck_assert_ptr_nonnull(strstr(s, "filter 2:\n  sum: 9 (scale 1/1, bias 3)\n"));
	ck_assert_ptr_nonnull(strstr(s, "  slice 2: separable"));
	free(s);
}
END_TEST

START_TEST(test_model)
{
	/* 18x18 input, conv3x3 1->16, relu, maxpool 2, conv3x3 16->32, relu, maxpool 2, fc 2. */
	char path[4096];
	snprintf(path, sizeof path, "%s/model/rf18.cnnf", TEST_DATA_DIR);
	ck_assert(cnnf_describe_is_model(path));
	cnnf_model *m = cnnf_model_load(path, NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ck_assert_int_eq(cnnf_describe_model(out, "rf18.cnnf", m), 0);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(buf, "input 1 x 18 x 18 (C x H x W), 2 classes"));
	ck_assert_ptr_nonnull(strstr(buf, "16 x 16 x 16       160\n"));
	ck_assert_ptr_nonnull(strstr(buf, "32 x 6 x 6         4640\n"));
	ck_assert_ptr_nonnull(strstr(buf, "total parameters: 5378\n"));
	ck_assert_ptr_nonnull(strstr(buf, "receptive field: 18 x 18\n"));
	/* 16*16*16*9 + 32*6*6*16*9 + 2*288 = 36864 + 165888 + 576 */
	ck_assert_ptr_nonnull(strstr(buf, "multiply-adds per patch: 203328\n"));
	free(buf);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_is_model)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/../../samples/kernels/box3.txt", TEST_DATA_DIR);
	ck_assert(!cnnf_describe_is_model(path));
	ck_assert(!cnnf_describe_is_model("/nonexistent/file"));
	snprintf(path, sizeof path, "%s/describe-model.txt", cnnf_test_tmpdir());
	FILE *fp = fopen(path, "w");
	fputs("# a comment first\n\n  cnnf-model 1\n", fp);
	fclose(fp);
	ck_assert(cnnf_describe_is_model(path));
	remove(path);
}
END_TEST

static Suite *describe_suite(void)
{
	Suite *s = suite_create("describe");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_sobel);
	tcase_add_test(tc, test_gaussian_scaled_and_laplacian);
	tcase_add_test(tc, test_bank_and_slices);
	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_is_model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(describe_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
