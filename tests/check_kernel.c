/* check_kernel.c: the kernel module: both file formats, the built-ins and the kernel operations. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#include "engine/kernel.h"
#include "testutil.h"

#define KDATA TEST_DATA_DIR "/kernel/"

/* Weights of k equal want exactly: every value here is exact in binary. */
static void assert_weights(const cnnf_kernel *k, const double *want, size_t n)
{
	ck_assert_uint_eq((size_t)k->count * k->depth * k->height * k->width, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(k->weights[i] == want[i], "weight %zu is %.17g, want %.17g", i,
		              k->weights[i], want[i]);
}

static void assert_shape(const cnnf_kernel *k, int count, int depth, int height, int width)
{
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->count, count);
	ck_assert_int_eq(k->depth, depth);
	ck_assert_int_eq(k->height, height);
	ck_assert_int_eq(k->width, width);
}

static cnnf_kernel *parse_ok(const char *text)
{
	cnnf_error_clear();
	cnnf_kernel *k = cnnf_kernel_parse(text, "k.txt");
	ck_assert_msg(k != NULL, "parse failed: %s", cnnf_error_get());
	return k;
}

static cnnf_kernel *load_ok(const char *path)
{
	cnnf_error_clear();
	cnnf_kernel *k = cnnf_kernel_load(path);
	ck_assert_msg(k != NULL, "load failed: %s", cnnf_error_get());
	return k;
}

/* The text must fail to parse with exactly this message. */
static void parse_fails(const char *text, const char *message)
{
	cnnf_error_clear();
	cnnf_kernel *k = cnnf_kernel_parse(text, "k.txt");
	ck_assert_ptr_null(k);
	ck_assert_error_has(message);
	ck_assert_str_eq(cnnf_error_get(), message);
}

static void parse_mat_fails(const char *text, const char *message)
{
	cnnf_error_clear();
	cnnf_kernel *k = cnnf_kernel_parse_mat(text, "k.mat");
	ck_assert_ptr_null(k);
	ck_assert_error_has(message);
	ck_assert_str_eq(cnnf_error_get(), message);
}

/* The path must fail to load with a message that contains `message`. */
static void load_fails(const char *path, const char *message)
{
	cnnf_error_clear();
	cnnf_kernel *k = cnnf_kernel_load(path);
	ck_assert_ptr_null(k);
	ck_assert_error_has(message);
}

/*
 * Plain reference correlation of a 2-D kernel over an h x w plane with zeros
 * outside, kernel centred (row height/2, column width/2), scale applied.
 */
static void correlate(const cnnf_kernel *k, const double *in, int h, int w, double *out)
{
	int cy = k->height / 2, cx = k->width / 2;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double s = 0;
			for (int i = 0; i < k->height; i++)
				for (int j = 0; j < k->width; j++) {
					int yy = y + i - cy, xx = x + j - cx;
					if (yy >= 0 && yy < h && xx >= 0 && xx < w)
						s += k->weights[i * k->width + j] * in[yy * w + xx];
				}
			out[y * w + x] = k->bias[0] + k->scale_num[0] * s / k->scale_den[0];
		}
}

/* ---- core ---- */

START_TEST(test_new_defaults)
{
	cnnf_kernel *k = cnnf_kernel_new(2, 3, 4, 5);
	assert_shape(k, 2, 3, 4, 5);
	for (int i = 0; i < 2 * 3 * 4 * 5; i++)
		ck_assert(k->weights[i] == 0);
	for (int f = 0; f < 2; f++) {
		ck_assert(k->scale_num[f] == 1);
		ck_assert(k->scale_den[f] == 1);
		ck_assert(k->bias[f] == 0);
	}
	cnnf_kernel_free(k);
	cnnf_kernel_free(NULL);
}
END_TEST

START_TEST(test_parse_rows)
{
	cnnf_kernel *k = parse_ok("1 2 1\n2 4 2\n1 2 1\n");
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
	assert_weights(k, want, 9);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 1 && k->bias[0] == 0);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_comments_blank_lines)
{
	cnnf_kernel *k = parse_ok("# a comment; with a semicolon\n\n   \n  1 2 # trailing\n"
	                          "\t\n3\t4\n# the end, no newline");
	assert_shape(k, 1, 1, 2, 2);
	const double want[] = {1, 2, 3, 4};
	assert_weights(k, want, 4);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_commas)
{
	cnnf_kernel *k = parse_ok("1, 2, 1\n1,2,1\n 1 ,2 ,\t1 \n");
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {1, 2, 1, 1, 2, 1, 1, 2, 1};
	assert_weights(k, want, 9);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_numbers)
{
	cnnf_kernel *k = parse_ok("+1 -0.5 .25 1e2 2E-1 1. -0");
	assert_shape(k, 1, 1, 1, 7);
	const double want[] = {1, -0.5, 0.25, 100, 0.2, 1, 0};
	assert_weights(k, want, 7);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_crlf_file)
{
	cnnf_kernel *k = load_ok(KDATA "crlf.txt");
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {1, 2, 1, 0, 0, 0, -1, -2, -1};
	assert_weights(k, want, 9);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 4);
	ck_assert(k->bias[0] == 0.5);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_scale_fraction)
{
	cnnf_kernel *k = parse_ok("scale 1/9\n1 1 1\n1 1 1\n1 1 1\n");
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 9);
	/* Kept as a fraction, nine ones sum to exactly 1. */
	ck_assert(cnnf_kernel_sum(k, 0) == 1.0);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_scale_number_and_bias)
{
	cnnf_kernel *k = parse_ok("bias -3\nscale 0.5\n2 4\n");
	ck_assert(k->scale_num[0] == 0.5 && k->scale_den[0] == 1);
	ck_assert(k->bias[0] == -3);
	ck_assert(cnnf_kernel_sum(k, 0) == 3);
	cnnf_kernel_free(k);
	k = parse_ok("scale 2.5/-0.5\n1");
	ck_assert(k->scale_num[0] == 2.5 && k->scale_den[0] == -0.5);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_3d)
{
	cnnf_kernel *k = parse_ok("1 2\n---\n3 4\n  ---  \n5 6\n");
	assert_shape(k, 1, 3, 1, 2);
	const double want[] = {1, 2, 3, 4, 5, 6};
	assert_weights(k, want, 6);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_bank_file)
{
	cnnf_kernel *k = load_ok(KDATA "bank.txt");
	assert_shape(k, 2, 2, 2, 2);
	const double want[] = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, 0.5, 1.5, 2.5, 3.5};
	assert_weights(k, want, 16);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 2 && k->bias[0] == 1);
	ck_assert(k->scale_num[1] == 3 && k->scale_den[1] == 4 && k->bias[1] == -0.25);
	ck_assert(cnnf_kernel_sum(k, 0) == 18);
	ck_assert(cnnf_kernel_sum(k, 1) == -1.5);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_string)
{
	cnnf_kernel *k = parse_ok("1 2 1; 2 4 2; 1 2 1");
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
	assert_weights(k, want, 9);
	cnnf_kernel_free(k);

	k = parse_ok("scale 1/16; bias 2;1,2,1;2,4,2;1,2,1;");
	assert_shape(k, 1, 1, 3, 3);
	assert_weights(k, want, 9);
	ck_assert(k->scale_den[0] == 16 && k->bias[0] == 2);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_string_bank)
{
	cnnf_kernel *k = parse_ok("1 0;===;scale 2;bias 1;0 1");
	assert_shape(k, 2, 1, 1, 2);
	const double want[] = {1, 0, 0, 1};
	assert_weights(k, want, 4);
	ck_assert(k->scale_num[0] == 1 && k->bias[0] == 0);
	ck_assert(k->scale_num[1] == 2 && k->bias[1] == 1);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_parse_byte_order_mark)
{
	cnnf_kernel *k = parse_ok("\xEF\xBB\xBF"
	                          "1 2\n3 4\n");
	assert_shape(k, 1, 1, 2, 2);
	cnnf_kernel_free(k);
	/* Columns count from after the mark, as an editor shows them. */
	parse_fails("\xEF\xBB\xBF"
	            "1 z",
	            "k.txt:1:3: 'z' is not a number");
}
END_TEST

START_TEST(test_parse_mat)
{
	cnnf_kernel *k = cnnf_kernel_parse_mat("3 3 9 1\n1 1 1\n1 1 1\n1 1 1\n", "k.mat");
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	assert_weights(k, want, 9);
	/* libvips: sum / scale + offset. */
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 9 && k->bias[0] == 1);
	cnnf_kernel_free(k);

	k = cnnf_kernel_parse_mat("2 1\r\n1 -1\r\n", "k.mat");
	assert_shape(k, 1, 1, 1, 2);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 1 && k->bias[0] == 0);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_load_mat)
{
	/* Quotes, commas, tabs and a blank line as separators, scale 4 and offset -1. */
	cnnf_kernel *k = load_ok(KDATA "offset.mat");
	assert_shape(k, 1, 1, 3, 2);
	const double want[] = {1, 2, 3, 4, 5, 6};
	assert_weights(k, want, 6);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 4 && k->bias[0] == -1);
	cnnf_kernel_free(k);

	/* The extension is matched in any case: as the cnnf format "3 1" would be a row. */
	k = load_ok(KDATA "UPPER.MAT");
	assert_shape(k, 1, 1, 1, 3);
	const double want2[] = {1, -2, 1};
	assert_weights(k, want2, 3);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_samples_load)
{
	DIR *d = opendir(SAMPLES_DIR "/kernels");
	ck_assert_ptr_nonnull(d);
	int loaded = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/kernels/%s", SAMPLES_DIR, e->d_name);
		cnnf_error_clear();
		cnnf_kernel *k = cnnf_kernel_load(path);
		ck_assert_msg(k != NULL, "%s: %s", e->d_name, cnnf_error_get());
		cnnf_kernel_free(k);
		loaded++;
	}
	closedir(d);
	ck_assert_int_ge(loaded, 12);
}
END_TEST

static int same_kernel(const cnnf_kernel *a, const cnnf_kernel *b)
{
	if (a->count != b->count || a->depth != b->depth || a->height != b->height ||
	    a->width != b->width)
		return 0;
	size_t n = (size_t)a->count * a->depth * a->height * a->width;
	for (size_t i = 0; i < n; i++)
		if (a->weights[i] != b->weights[i])
			return 0;
	for (int f = 0; f < a->count; f++)
		if (a->scale_num[f] != b->scale_num[f] || a->scale_den[f] != b->scale_den[f] ||
		    a->bias[f] != b->bias[f])
			return 0;
	return 1;
}

START_TEST(test_samples_values)
{
	cnnf_kernel *a = load_ok(SAMPLES_DIR "/kernels/box3.txt");
	cnnf_kernel *b = load_ok(SAMPLES_DIR "/kernels/box3.mat");
	cnnf_kernel *c = cnnf_kernel_box(3);
	ck_assert(same_kernel(a, b));
	ck_assert(same_kernel(a, c));
	cnnf_kernel_free(a);
	cnnf_kernel_free(b);
	cnnf_kernel_free(c);

	a = load_ok(SAMPLES_DIR "/kernels/sharpen.txt");
	b = cnnf_kernel_sharpen(3, 1);
	ck_assert(same_kernel(a, b));
	ck_assert(cnnf_kernel_sum(a, 0) == 1);
	cnnf_kernel_free(a);
	cnnf_kernel_free(b);

	/* The slide's 3 x 3: its middle row is the built-in's 1 x 3 for dx -1. */
	a = load_ok(SAMPLES_DIR "/kernels/shift-left.txt");
	b = cnnf_kernel_shift(-1, 0);
	assert_shape(a, 1, 1, 3, 3);
	const double slide[] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
	assert_weights(a, slide, 9);
	ck_assert(memcmp(a->weights + 3, b->weights, 3 * sizeof(double)) == 0);
	cnnf_kernel_free(a);
	cnnf_kernel_free(b);

	a = load_ok(SAMPLES_DIR "/kernels/rgb-to-gray.txt");
	assert_shape(a, 1, 3, 1, 1);
	const double luma[] = {0.299, 0.587, 0.114};
	assert_weights(a, luma, 3);
	ck_assert_double_eq_tol(cnnf_kernel_sum(a, 0), 1.0, 1e-15);
	cnnf_kernel_free(a);

	a = load_ok(SAMPLES_DIR "/kernels/sobel-xy.txt");
	assert_shape(a, 2, 1, 3, 3);
	for (int f = 0; f < 2; f++)
		ck_assert(a->scale_den[f] == 8 && a->bias[f] == 128);
	b = load_ok(SAMPLES_DIR "/kernels/sobel-x.txt");
	c = load_ok(SAMPLES_DIR "/kernels/sobel-y.txt");
	ck_assert(memcmp(a->weights, b->weights, 9 * sizeof(double)) == 0);
	ck_assert(memcmp(a->weights + 9, c->weights, 9 * sizeof(double)) == 0);
	cnnf_kernel_free(a);
	cnnf_kernel_free(b);
	cnnf_kernel_free(c);

	a = load_ok(SAMPLES_DIR "/kernels/gaussian5.txt");
	ck_assert(cnnf_kernel_sum(a, 0) == 1);
	cnnf_kernel_free(a);
	a = load_ok(SAMPLES_DIR "/kernels/emboss.txt");
	ck_assert(cnnf_kernel_sum(a, 0) == 1);
	cnnf_kernel_free(a);
}
END_TEST

START_TEST(test_identity)
{
	cnnf_kernel *k = cnnf_kernel_identity();
	assert_shape(k, 1, 1, 1, 1);
	ck_assert(k->weights[0] == 1 && k->scale_num[0] == 1 && k->scale_den[0] == 1);
	ck_assert(k->bias[0] == 0);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_box)
{
	cnnf_kernel *k = cnnf_kernel_box(3);
	assert_shape(k, 1, 1, 3, 3);
	const double ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	assert_weights(k, ones, 9);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 9);
	cnnf_kernel_free(k);

	k = cnnf_kernel_box(4);
	assert_shape(k, 1, 1, 4, 4);
	assert_weights(k, ones, 16);
	ck_assert(k->scale_den[0] == 16 && cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);

	k = cnnf_kernel_box(1);
	assert_shape(k, 1, 1, 1, 1);
	ck_assert(k->scale_den[0] == 1);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_sharpen_default)
{
	/* 2 * identity - box: the centre 2 - 1/9 = 17/9, every other -1/9. */
	cnnf_kernel *k = cnnf_kernel_sharpen(3, 1);
	assert_shape(k, 1, 1, 3, 3);
	const double want[] = {-1, -1, -1, -1, 17, -1, -1, -1, -1};
	assert_weights(k, want, 9);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 9 && k->bias[0] == 0);
	for (int i = 0; i < 9; i++) {
		double effective = k->weights[i] * k->scale_num[0] / k->scale_den[0];
		ck_assert(effective == (i == 4 ? 17.0 / 9 : -1.0 / 9));
	}
	ck_assert(cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_sharpen_other)
{
	/* Size 5, amount 0.5: centre 25 * 1.5 - 0.5 = 37, others -0.5, over 25. */
	cnnf_kernel *k = cnnf_kernel_sharpen(5, 0.5);
	assert_shape(k, 1, 1, 5, 5);
	for (int i = 0; i < 25; i++)
		ck_assert(k->weights[i] == (i == 12 ? 37 : -0.5));
	ck_assert(k->scale_den[0] == 25 && cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);

	/* Size 1: identity + A * (identity - identity) is the identity. */
	k = cnnf_kernel_sharpen(1, 2);
	assert_shape(k, 1, 1, 1, 1);
	ck_assert(k->weights[0] == 1 && k->scale_den[0] == 1);
	cnnf_kernel_free(k);

	/* Amount 0: the identity spread over 9. */
	k = cnnf_kernel_sharpen(3, 0);
	for (int i = 0; i < 9; i++)
		ck_assert(k->weights[i] == (i == 4 ? 9 : 0));
	cnnf_kernel_free(k);
}
END_TEST

/*
 * gaussian: radius ceil(3 sigma); the 1-D weights exp(-d^2 / (2 sigma^2)) over
 * their sum, as worked out here in long double, to a few ulps (more where
 * exp's argument is large); symmetric;
 * summing to 1 within an ulp; the taps their products, the factors in sep.
 */
START_TEST(test_gaussian)
{
	static const struct {
		double sigma;
		int size;
	} cases[] = {{1, 7}, {0.5, 5}, {0.34, 5}, {0.33, 3}, {1.5, 11}, {3, 19}, {10.1, 63}};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		double sigma = cases[c].sigma;
		cnnf_kernel *k = cnnf_kernel_gaussian(sigma);
		ck_assert_msg(k != NULL, "%s", cnnf_error_get());
		int n = cases[c].size, r = n / 2;
		assert_shape(k, 1, 1, n, n);
		ck_assert_ptr_nonnull(k->sep);
		ck_assert(k->sep_mul == 1 && k->sep_centre == 0);
		long double e[64], sum = 0, gsum = 0;
		for (int i = 0; i < n; i++) {
			long double d = i - r;
			sum += e[i] = expl(-d * d / (2.0L * sigma * sigma));
		}
		for (int i = 0; i < n; i++) {
			double g = k->sep[i];
			gsum += g;
			/* exp's argument is rounded: its error grows with the argument's size. */
			long double arg = (long double)(i - r) * (i - r) / (2.0L * sigma * sigma);
			/* The middle one takes up what the others' roundings lost. */
			long double tol = i == r ? 2e-16L * n : 4e-16L * (1 + arg) * (e[i] / sum);
			ck_assert_msg(fabsl(g - e[i] / sum) <= tol,
			              "sigma %g, weight %d: %.17g, expected %.17Lg", sigma, i, g,
			              e[i] / sum);
			ck_assert(k->sep[n + i] == g);
			ck_assert(g == k->sep[n - 1 - i]);
			for (int j = 0; j < n; j++)
				ck_assert(k->weights[i * n + j] == g * k->sep[j]);
		}
		ck_assert_msg(fabsl(gsum - 1) <= 1.2e-16L, "sigma %g: weights sum to 1 %+.3Lg",
		              sigma, gsum - 1);
		ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 1 && k->bias[0] == 0);
		ck_assert(fabs(cnnf_kernel_sum(k, 0) - 1) < 1e-15);
		cnnf_kernel_free(k);
	}
}
END_TEST

/* unsharp: identity + A (identity - gaussian), A in the centre and the factors as a Gaussian's. */
START_TEST(test_unsharp)
{
	cnnf_kernel *g = cnnf_kernel_gaussian(1.2);
	cnnf_kernel *k = cnnf_kernel_unsharp(1.2, 0.75);
	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_nonnull(k);
	assert_shape(k, 1, 1, 9, 9);
	ck_assert(k->sep_mul == -0.75 && k->sep_centre == 1.75);
	ck_assert(memcmp(k->sep, g->sep, sizeof(double) * 18) == 0);
	for (int i = 0; i < 81; i++)
		ck_assert(k->weights[i] == -0.75 * g->weights[i] + (i == 40 ? 1.75 : 0));
	ck_assert(fabs(cnnf_kernel_sum(k, 0) - 1) < 1e-15);
	/* Flipping a symmetric kernel changes nothing, its factors included. */
	cnnf_kernel_flip(k);
	ck_assert(memcmp(k->sep, g->sep, sizeof(double) * 18) == 0);
	ck_assert(k->weights[40] == -0.75 * g->weights[40] + 1.75);
	cnnf_kernel_free(k);
	cnnf_kernel_free(g);
}
END_TEST

/* A sigma that is not positive, too large or NaN, and an amount beyond the levels: refused. */
START_TEST(test_err_gaussian)
{
	static const double bad[] = {0, -1, 500.5, 1e300};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cnnf_error_clear();
		ck_assert_ptr_null(cnnf_kernel_gaussian(bad[i]));
		ck_assert_error_has("gaussian: sigma");
		cnnf_error_clear();
		ck_assert_ptr_null(cnnf_kernel_unsharp(bad[i], 1));
		ck_assert_error_has("unsharp: sigma");
	}
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_gaussian(NAN));
	ck_assert_error_has("not a number above 0");
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_unsharp(1, 2e6));
	ck_assert_error_has("unsharp: amount");
	cnnf_kernel *k = cnnf_kernel_gaussian(500);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->height, 3001);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_shift_slide)
{
	/* The slide's kernel, a 1 right of the centre, shifts left: dx = -1. */
	cnnf_kernel *k = cnnf_kernel_shift(-1, 0);
	assert_shape(k, 1, 1, 1, 3);
	const double want[] = {0, 0, 1};
	assert_weights(k, want, 3);
	cnnf_kernel_free(k);

	/* Written out as on the slide (3 x 3), it moves the content the same way. */
	k = parse_ok("0 0 0\n0 0 1\n0 0 0");
	const double in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	const double left[] = {2, 3, 0, 5, 6, 0, 8, 9, 0};
	double out[9];
	correlate(k, in, 3, 3, out);
	for (int i = 0; i < 9; i++)
		ck_assert(out[i] == left[i]);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_shift_moves_content)
{
	cnnf_kernel *k = cnnf_kernel_shift(0, 0);
	assert_shape(k, 1, 1, 1, 1);
	ck_assert(k->weights[0] == 1);
	cnnf_kernel_free(k);

	/* dx 2, dy -1: a 3 x 5 kernel with its 1 at row 1 + 1 = 2, column 2 - 2 = 0. */
	k = cnnf_kernel_shift(2, -1);
	assert_shape(k, 1, 1, 3, 5);
	for (int i = 0; i < 15; i++)
		ck_assert(k->weights[i] == (i == 2 * 5 + 0 ? 1 : 0));
	enum { H = 4, W = 5 };
	double in[H * W], out[H * W];
	for (int i = 0; i < H * W; i++)
		in[i] = i + 1;
	correlate(k, in, H, W, out);
	/* out[y][x] = in[y + 1][x - 2]: the content moved 2 right and 1 up. */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			int sy = y + 1, sx = x - 2;
			double want = (sy < H && sx >= 0) ? in[sy * W + sx] : 0;
			ck_assert(out[y * W + x] == want);
		}
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_flip)
{
	cnnf_kernel *k = parse_ok("1 2 3\n4 5 6");
	cnnf_kernel_flip(k);
	const double want[] = {6, 5, 4, 3, 2, 1};
	assert_weights(k, want, 6);
	cnnf_kernel_flip(k);
	const double back[] = {1, 2, 3, 4, 5, 6};
	assert_weights(k, back, 6);
	cnnf_kernel_free(k);

	/* Each slice of each filter is rotated on its own. */
	k = parse_ok("1 2;3 4;---;5 6;7 8;===;9 10;11 12;---;13 14;15 16");
	cnnf_kernel_flip(k);
	const double want3[] = {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13};
	assert_weights(k, want3, 16);
	cnnf_kernel_free(k);

	/* Flipped, the shift left becomes a shift right. */
	cnnf_kernel *a = cnnf_kernel_shift(-1, 0), *b = cnnf_kernel_shift(1, 0);
	cnnf_kernel_flip(a);
	ck_assert(same_kernel(a, b));
	cnnf_kernel_free(a);
	cnnf_kernel_free(b);
}
END_TEST

START_TEST(test_normalize)
{
	cnnf_kernel *k = parse_ok("1 2 1\n2 4 2\n1 2 1");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), 0);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 16);
	ck_assert(cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);

	/* Whatever the scale was, the normalized scale is 1 / (sum of weights). */
	k = parse_ok("scale 1/2\nbias 7\n1 2 1\n2 4 2\n1 2 1");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), 0);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 16);
	ck_assert(k->bias[0] == 7);
	cnnf_kernel_free(k);

	/* A negative sum: the sign goes to the numerator. */
	k = parse_ok("-1 -2 0");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), 0);
	ck_assert(k->scale_num[0] == -1 && k->scale_den[0] == 3);
	ck_assert(cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);

	/* Each filter of a bank by its own sum. */
	k = parse_ok("1 1;===;scale 5;0.5 0.25");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), 0);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 2);
	ck_assert(k->scale_num[1] == 1 && k->scale_den[1] == 0.75);
	ck_assert(cnnf_kernel_sum(k, 0) == 1 && cnnf_kernel_sum(k, 1) == 1);
	cnnf_kernel_free(k);

	/* The default sharpen already sums to 1 and stays 1/9. */
	k = cnnf_kernel_sharpen(3, 1);
	ck_assert_int_eq(cnnf_kernel_normalize(k, "sharpen"), 0);
	ck_assert(k->scale_num[0] == 1 && k->scale_den[0] == 9);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_sum)
{
	cnnf_kernel *k = cnnf_kernel_box(3);
	ck_assert(cnnf_kernel_sum(k, 0) == 1);
	cnnf_kernel_free(k);
	k = load_ok(SAMPLES_DIR "/kernels/sobel-x.txt");
	ck_assert(cnnf_kernel_sum(k, 0) == 0);
	cnnf_kernel_free(k);
	/* All slices count; the bias does not. */
	k = parse_ok("scale 1/4;bias 9;1 2;---;3 4;===;scale 3;5 6;---;7 8");
	ck_assert(cnnf_kernel_sum(k, 0) == 2.5);
	ck_assert(cnnf_kernel_sum(k, 1) == 78);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_separable_sobel)
{
	cnnf_kernel *k = load_ok(SAMPLES_DIR "/kernels/sobel-x.txt");
	double col[3], row[3];
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, col, row), 1);
	/* Pivot on the -2 at row 1, column 0: column [-1 -2 -1], row [1 0 -1]. */
	const double wc[] = {-1, -2, -1}, wr[] = {1, 0, -1};
	for (int i = 0; i < 3; i++) {
		ck_assert(col[i] == wc[i]);
		ck_assert(row[i] == wr[i]);
	}
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			ck_assert(col[i] * row[j] == k->weights[i * 3 + j]);
	/* NULL outputs only ask the question. */
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, NULL, NULL), 1);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_separable_not)
{
	cnnf_kernel *k = load_ok(SAMPLES_DIR "/kernels/laplacian.txt");
	double col[3] = {42, 42, 42}, row[3] = {42, 42, 42};
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, col, row), 0);
	/* Not touched when the answer is no. */
	ck_assert(col[0] == 42 && row[2] == 42);
	cnnf_kernel_free(k);
	k = cnnf_kernel_sharpen(3, 1);
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, NULL, NULL), 0);
	cnnf_kernel_free(k);
	/* Just outside the tolerance. */
	k = parse_ok("1 1; 1 1.000001");
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, NULL, NULL), 0);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_separable_gaussian)
{
	cnnf_kernel *k = load_ok(SAMPLES_DIR "/kernels/gaussian5.txt");
	double col[5], row[5];
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, col, row), 1);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 5; j++)
			ck_assert_double_eq_tol(col[i] * row[j], k->weights[i * 5 + j], 1e-12);
	/* The pivot is the 36 in the centre: the column is the centre column. */
	const double wc[] = {6, 24, 36, 24, 6};
	for (int i = 0; i < 5; i++)
		ck_assert(col[i] == wc[i]);
	cnnf_kernel_free(k);
}
END_TEST

START_TEST(test_separable_slices)
{
	/* Slice 0 is zero (separable, zeros out), slice 1 rank 1, slice 2 rank 2. */
	cnnf_kernel *k = parse_ok("0 0;0 0;---;2 4;1 2;---;1 0;0 1");
	double col[2] = {9, 9}, row[2] = {9, 9};
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, col, row), 1);
	ck_assert(col[0] == 0 && col[1] == 0 && row[0] == 0 && row[1] == 0);
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 1, col, row), 1);
	ck_assert(col[0] == 4 && col[1] == 2 && row[0] == 0.5 && row[1] == 1);
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 2, col, row), 0);
	cnnf_kernel_free(k);
	/* A single row or column is always separable. */
	k = parse_ok("3 -1 4 1 -5");
	ck_assert_int_eq(cnnf_kernel_separable(k, 0, 0, NULL, NULL), 1);
	cnnf_kernel_free(k);
}
END_TEST

/* ---- errors: one per message ---- */

START_TEST(test_err_row_short)
{
	load_fails(KDATA "bad-row.txt",
	           "bad-row.txt:3:5: row has 2 numbers, the rows before have 3");
	parse_fails("1 2\n3", "k.txt:2:2: row has 1 number, the rows before have 2");
}
END_TEST

START_TEST(test_err_row_long)
{
	parse_fails("1 2\n1 2 3 4", "k.txt:2:5: row has 4 numbers, the rows before have 2");
}
END_TEST

START_TEST(test_err_row_width_across_filters)
{
	parse_fails("1 2\n===\n1 2 3", "k.txt:3:5: row has 3 numbers, the rows before have 2");
}
END_TEST

START_TEST(test_err_not_a_number)
{
	parse_fails("1, 2, 3\n1, 2, x", "k.txt:2:7: 'x' is not a number");
}
END_TEST

START_TEST(test_err_nan)
{
	parse_fails("1 nan", "k.txt:1:3: 'nan' is not a finite number");
}
END_TEST

START_TEST(test_err_inf)
{
	parse_fails("-inf 1", "k.txt:1:1: '-inf' is not a finite number");
}
END_TEST

START_TEST(test_err_overflow)
{
	parse_fails("1\n1e999", "k.txt:2:1: '1e999' is not a finite number");
}
END_TEST

START_TEST(test_err_hex)
{
	parse_fails("1 0x10", "k.txt:1:3: '0x10' is not a decimal number");
}
END_TEST

START_TEST(test_err_number_too_long)
{
	char text[400];
	memset(text, '1', 300);
	text[300] = '\0';
	parse_fails(text, "k.txt:1:1: '1111111111111111111111111111111111111111...' is too long "
	                  "for a number");
}
END_TEST

START_TEST(test_err_control_characters_shown)
{
	parse_fails("1 \x1b[2J", "k.txt:1:3: '?[2J' is not a number");
}
END_TEST

START_TEST(test_err_empty)
{
	parse_fails("", "k.txt: no kernel rows");
	parse_fails("scale 1/9\n# nothing else\n", "k.txt: no kernel rows");
	load_fails(KDATA "comments-only.txt", "comments-only.txt: no kernel rows");
}
END_TEST

START_TEST(test_err_scale_zero_denominator)
{
	parse_fails("scale 1/0\n1", "k.txt:1:9: scale 1/0 divides by zero");
}
END_TEST

START_TEST(test_err_scale_bad_fraction)
{
	parse_fails("scale /9\n1", "k.txt:1:7: '/9' is not a number or a fraction P/Q");
}
END_TEST

START_TEST(test_err_scale_bad_denominator)
{
	parse_fails("scale 1/x\n1", "k.txt:1:9: 'x' is not a number");
}
END_TEST

START_TEST(test_err_scale_too_large)
{
	parse_fails("scale 1e300/1e-300\n1", "k.txt:1:7: scale 1e300/1e-300 is too large");
}
END_TEST

START_TEST(test_err_scale_missing)
{
	parse_fails("scale\n1", "k.txt:1:6: 'scale' needs a number");
}
END_TEST

START_TEST(test_err_scale_trailing)
{
	parse_fails("scale 1/9 x\n1", "k.txt:1:11: unexpected 'x' after the scale");
}
END_TEST

START_TEST(test_err_scale_twice)
{
	parse_fails("scale 2\nscale 3\n1", "k.txt:2:1: second 'scale' for this filter (the first "
	                                   "is on line 1)");
}
END_TEST

START_TEST(test_err_scale_after_rows)
{
	parse_fails("1 2\nscale 2\n3 4", "k.txt:2:1: 'scale' must come before the first row of "
	                                 "its filter");
}
END_TEST

START_TEST(test_err_scale_after_slice)
{
	parse_fails("1\n---\nscale 2\n2", "k.txt:3:1: 'scale' must come before the first row of "
	                                  "its filter");
}
END_TEST

START_TEST(test_err_bias_not_a_number)
{
	parse_fails("bias one\n1", "k.txt:1:6: 'one' is not a number");
}
END_TEST

START_TEST(test_err_bias_twice)
{
	/* One bias per filter: the second filter may have its own, but only one. */
	parse_fails("bias 1\n1\n===\nbias 2\nbias 3\n1", "k.txt:5:1: second 'bias' for this "
	                                                 "filter (the first is on line 4)");
}
END_TEST

START_TEST(test_err_slice_short)
{
	parse_fails("1 2\n3 4\n---\n5 6\n---\n7 8\n9 10",
	            "k.txt:5:1: slice has 1 row, the slices before have 2");
}
END_TEST

START_TEST(test_err_slice_short_at_end)
{
	parse_fails("1 2\n3 4\n---\n5 6\n", "k.txt:4:4: slice has 1 row, the slices before have 2");
}
END_TEST

START_TEST(test_err_slice_long)
{
	parse_fails("1\n---\n2\n3",
	            "k.txt:4:1: slice has more rows than the 1 of the slices before");
}
END_TEST

START_TEST(test_err_depth_short)
{
	parse_fails("1\n---\n2\n===\n3",
	            "k.txt:5:2: filter has 1 slice, the filters before have 2");
	parse_fails("1\n---\n2\n===\n3\n===\n4\n---\n5",
	            "k.txt:6:1: filter has 1 slice, the filters before have 2");
}
END_TEST

START_TEST(test_err_depth_long)
{
	parse_fails("1\n===\n2\n---\n3", "k.txt:4:1: filter has more slices than the 1 of the "
	                                 "filters before");
}
END_TEST

START_TEST(test_err_empty_slice)
{
	parse_fails("---\n1", "k.txt:1:1: '---' with no rows before it");
	parse_fails("1\n===\n---\n2", "k.txt:3:1: '---' with no rows before it");
}
END_TEST

START_TEST(test_err_empty_filter)
{
	parse_fails("1\n===\nscale 2\n===\n2", "k.txt:4:1: '===' with no rows before it");
}
END_TEST

START_TEST(test_err_trailing_separator)
{
	parse_fails("1\n===\n# nothing\n", "k.txt:2:1: '===' is not followed by any rows");
	parse_fails("1;  ---", "k.txt:1:5: '---' is not followed by any rows");
}
END_TEST

START_TEST(test_err_separator_junk)
{
	parse_fails("1\n--- x\n2", "k.txt:2:5: unexpected 'x' after '---'");
}
END_TEST

START_TEST(test_err_comma_empty)
{
	parse_fails("1,,2", "k.txt:1:3: ',' where a number should be");
	parse_fails(", 1", "k.txt:1:1: ',' where a number should be");
}
END_TEST

START_TEST(test_err_comma_trailing)
{
	parse_fails("1, 2,  # comment", "k.txt:1:5: ',' is not followed by a number");
}
END_TEST

START_TEST(test_err_string_columns)
{
	/* ';' ends a row but the columns keep counting along the string. */
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_parse("1 2 1; 2 4; 1 2 1", "--kernel-string"));
	ck_assert_error_has("--kernel-string:1:11: row has 2 numbers, the rows before have 3");
}
END_TEST

START_TEST(test_err_too_wide)
{
	size_t n = 4097;
	char *text = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		text[2 * i] = '0';
		text[2 * i + 1] = ' ';
	}
	text[2 * n] = '\0';
	parse_fails(text, "k.txt:1:8193: row has more than 4096 numbers");
	free(text);
}
END_TEST

START_TEST(test_err_too_tall)
{
	size_t n = 4097;
	char *text = malloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		text[2 * i] = '0';
		text[2 * i + 1] = '\n';
	}
	text[2 * n] = '\0';
	parse_fails(text, "k.txt:4097:1: slice has more than 4096 rows");
	free(text);
}
END_TEST

START_TEST(test_err_mat_scale_zero)
{
	load_fails(KDATA "zero-scale.mat",
	           "zero-scale.mat:1:5: scale is 0; the sum is divided by it");
}
END_TEST

START_TEST(test_err_mat_few_rows)
{
	parse_mat_fails("2 2\n1 2\n", "k.mat:2:4: the file has 1 row, the header says 2");
}
END_TEST

START_TEST(test_err_mat_many_rows)
{
	parse_mat_fails("1 1\n1\n\n2\n", "k.mat:4:1: more rows than the 1 of the header");
}
END_TEST

START_TEST(test_err_mat_few_numbers)
{
	parse_mat_fails("3 1\n1 2\n", "k.mat:2:4: row has 2 numbers, the header says 3");
}
END_TEST

START_TEST(test_err_mat_many_numbers)
{
	parse_mat_fails("2 1\n1 2 3\n", "k.mat:2:5: row has 3 numbers, the header says 2");
}
END_TEST

START_TEST(test_err_mat_bad_number)
{
	parse_mat_fails("2 1\n1 y", "k.mat:2:3: 'y' is not a number");
}
END_TEST

START_TEST(test_err_mat_short_header)
{
	parse_mat_fails("3\n1 2 3", "k.mat:1:2: the header needs a width and a height");
}
END_TEST

START_TEST(test_err_mat_bad_size)
{
	parse_mat_fails("2.5 1\n1 2",
	                "k.mat:1:1: width '2.5' is not a whole number from 1 to 4096");
	parse_mat_fails("2 0\n", "k.mat:1:3: height '0' is not a whole number from 1 to 4096");
	parse_mat_fails("5000 1\n", "k.mat:1:1: width '5000' is not a whole number from 1 to 4096");
}
END_TEST

START_TEST(test_err_mat_long_header)
{
	parse_mat_fails("1 1 1 0 7\n1", "k.mat:1:9: unexpected '7' after the header's width, "
	                                "height, scale and offset");
}
END_TEST

START_TEST(test_err_mat_empty)
{
	parse_mat_fails("\n  \n", "k.mat: no matrix header (a .mat file starts with 'width height "
	                          "[scale [offset]]')");
}
END_TEST

START_TEST(test_err_load_missing)
{
	load_fails(KDATA "no-such-file.txt", "no-such-file.txt: No such file or directory");
}
END_TEST

START_TEST(test_err_load_directory)
{
	load_fails(KDATA, "kernel/: Is a directory");
}
END_TEST

START_TEST(test_err_load_nul)
{
	load_fails(KDATA "nul.txt", "nul.txt:2:3: NUL byte; a kernel file is text");
}
END_TEST

START_TEST(test_err_load_too_large)
{
	/* A sparse file: refused from its size, before a byte is read. */
	char path[4200];
	snprintf(path, sizeof path, "%s/kernel-huge.txt", cnnf_test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)65 << 20), 0);
	close(fd);
	load_fails(path, "kernel-huge.txt: larger than 64 MiB; not a kernel file");
	unlink(path);
}
END_TEST

START_TEST(test_err_new_bad_size)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_new(0, 1, 3, 3));
	ck_assert_error_has("kernel: 0 x 1 x 3 x 3 (filters x depth x height x width) is not a "
	                    "valid size");
	/* Each dimension is allowed, the product is not. */
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_new(4096, 4096, 4096, 4096));
	ck_assert_error_has("at most 67108864 weights");
}
END_TEST

START_TEST(test_err_box_size)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_box(0));
	ck_assert_error_has("box: size 0 is not from 1 to 4096");
}
END_TEST

START_TEST(test_err_sharpen_even)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_sharpen(4, 1));
	ck_assert_error_has("sharpen: size 4 is not an odd number from 1 to 4095");
}
END_TEST

START_TEST(test_err_sharpen_amount)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_sharpen(3, INFINITY));
	ck_assert_error_has("sharpen: amount inf is too large");
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_sharpen(3, 1e308));
	ck_assert_error_has("sharpen: amount 1e+308 is too large");
}
END_TEST

START_TEST(test_err_shift_range)
{
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_kernel_shift(-2147483647 - 1, 0));
	ck_assert_error_has("shift: dx -2147483648, dy 0: each must be from -2047 to 2047");
}
END_TEST

START_TEST(test_err_normalize_zero)
{
	cnnf_kernel *k = load_ok(SAMPLES_DIR "/kernels/laplacian.txt");
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_kernel_normalize(k, "laplacian.txt"), -1);
	ck_assert_error_has("laplacian.txt: kernel sums to zero; --normalize cannot divide by it");
	cnnf_kernel_free(k);

	/* In a bank the message names the filter, and nothing is changed. */
	k = parse_ok("1 1;===;1 -1");
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), -1);
	ck_assert_error_has("k.txt: filter 2 of 2 sums to zero; --normalize cannot divide by it");
	ck_assert(k->scale_den[0] == 1);
	cnnf_kernel_free(k);

	/* Rounding noise around zero counts as zero. */
	k = parse_ok("0.1 0.2 -0.3");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), -1);
	cnnf_kernel_free(k);

	k = parse_ok("scale 0; 1 2");
	ck_assert_int_eq(cnnf_kernel_normalize(k, "k.txt"), -1);
	cnnf_kernel_free(k);
}
END_TEST

static Suite *kernel_suite(void)
{
	Suite *s = suite_create("kernel");
	TCase *core = tcase_create("core");
	tcase_add_test(core, test_new_defaults);
	tcase_add_test(core, test_parse_rows);
	tcase_add_test(core, test_parse_comments_blank_lines);
	tcase_add_test(core, test_parse_commas);
	tcase_add_test(core, test_parse_numbers);
	tcase_add_test(core, test_parse_crlf_file);
	tcase_add_test(core, test_parse_scale_fraction);
	tcase_add_test(core, test_parse_scale_number_and_bias);
	tcase_add_test(core, test_parse_3d);
	tcase_add_test(core, test_parse_bank_file);
	tcase_add_test(core, test_parse_string);
	tcase_add_test(core, test_parse_string_bank);
	tcase_add_test(core, test_parse_byte_order_mark);
	tcase_add_test(core, test_parse_mat);
	tcase_add_test(core, test_load_mat);
	tcase_add_test(core, test_samples_load);
	tcase_add_test(core, test_samples_values);
	tcase_add_test(core, test_identity);
	tcase_add_test(core, test_box);
	tcase_add_test(core, test_sharpen_default);
	tcase_add_test(core, test_sharpen_other);
	tcase_add_test(core, test_shift_slide);
	tcase_add_test(core, test_shift_moves_content);
	tcase_add_test(core, test_flip);
	tcase_add_test(core, test_normalize);
	tcase_add_test(core, test_sum);
	tcase_add_test(core, test_separable_sobel);
	tcase_add_test(core, test_separable_not);
	tcase_add_test(core, test_separable_gaussian);
	tcase_add_test(core, test_separable_slices);
	tcase_add_test(core, test_gaussian);
	tcase_add_test(core, test_unsharp);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_err_row_short);
	tcase_add_test(errors, test_err_gaussian);
	tcase_add_test(errors, test_err_row_long);
	tcase_add_test(errors, test_err_row_width_across_filters);
	tcase_add_test(errors, test_err_not_a_number);
	tcase_add_test(errors, test_err_nan);
	tcase_add_test(errors, test_err_inf);
	tcase_add_test(errors, test_err_overflow);
	tcase_add_test(errors, test_err_hex);
	tcase_add_test(errors, test_err_number_too_long);
	tcase_add_test(errors, test_err_control_characters_shown);
	tcase_add_test(errors, test_err_empty);
	tcase_add_test(errors, test_err_scale_zero_denominator);
	tcase_add_test(errors, test_err_scale_bad_fraction);
	tcase_add_test(errors, test_err_scale_bad_denominator);
	tcase_add_test(errors, test_err_scale_too_large);
	tcase_add_test(errors, test_err_scale_missing);
	tcase_add_test(errors, test_err_scale_trailing);
	tcase_add_test(errors, test_err_scale_twice);
	tcase_add_test(errors, test_err_scale_after_rows);
	tcase_add_test(errors, test_err_scale_after_slice);
	tcase_add_test(errors, test_err_bias_not_a_number);
	tcase_add_test(errors, test_err_bias_twice);
	tcase_add_test(errors, test_err_slice_short);
	tcase_add_test(errors, test_err_slice_short_at_end);
	tcase_add_test(errors, test_err_slice_long);
	tcase_add_test(errors, test_err_depth_short);
	tcase_add_test(errors, test_err_depth_long);
	tcase_add_test(errors, test_err_empty_slice);
	tcase_add_test(errors, test_err_empty_filter);
	tcase_add_test(errors, test_err_trailing_separator);
	tcase_add_test(errors, test_err_separator_junk);
	tcase_add_test(errors, test_err_comma_empty);
	tcase_add_test(errors, test_err_comma_trailing);
	tcase_add_test(errors, test_err_string_columns);
	tcase_add_test(errors, test_err_too_wide);
	tcase_add_test(errors, test_err_too_tall);
	tcase_add_test(errors, test_err_mat_scale_zero);
	tcase_add_test(errors, test_err_mat_few_rows);
	tcase_add_test(errors, test_err_mat_many_rows);
	tcase_add_test(errors, test_err_mat_few_numbers);
	tcase_add_test(errors, test_err_mat_many_numbers);
	tcase_add_test(errors, test_err_mat_bad_number);
	tcase_add_test(errors, test_err_mat_short_header);
	tcase_add_test(errors, test_err_mat_bad_size);
	tcase_add_test(errors, test_err_mat_long_header);
	tcase_add_test(errors, test_err_mat_empty);
	tcase_add_test(errors, test_err_load_missing);
	tcase_add_test(errors, test_err_load_directory);
	tcase_add_test(errors, test_err_load_nul);
	tcase_add_test(errors, test_err_load_too_large);
	tcase_add_test(errors, test_err_new_bad_size);
	tcase_add_test(errors, test_err_box_size);
	tcase_add_test(errors, test_err_sharpen_even);
	tcase_add_test(errors, test_err_sharpen_amount);
	tcase_add_test(errors, test_err_shift_range);
	tcase_add_test(errors, test_err_normalize_zero);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(kernel_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
