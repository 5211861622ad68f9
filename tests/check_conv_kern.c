/* check_conv_kern.c: the vector inner loops equal the portable ones bit for bit; engine paths agree. */
#include <math.h>
#include <stdint.h>

#include "engine/conv.h"
#include "engine/conv_kern.h"
#include "testutil.h"

static uint64_t state = 88172645463325252ULL;

/* xorshift64: reproducible values in [-1, 1). */
static float rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (float)((double)(state >> 11) / 9007199254740992.0 * 2 - 1);
}

/* Run the dispatched and the portable kernel on the same random problem; compare bits. */
static void compare(int single, int cin, int kh, int kw, int dy, int dx, int ow)
{
	long rowlen = ow + (long)(kw - 1) * dx + 7;
	long rows = (long)(kh - 1) * dy + 1;
	size_t plane = (size_t)rows * rowlen;
	float *in = malloc(sizeof(float) * plane * cin);
	int ocb = single ? 1 : CNNF_KERN_OCB;
	float *w = malloc(sizeof(float) * (size_t)cin * kh * kw * ocb);
	float *a = malloc(sizeof(float) * (size_t)ocb * ow);
	float *b = malloc(sizeof(float) * (size_t)ocb * ow);
	for (size_t i = 0; i < plane * cin; i++)
		in[i] = rnd();
	for (int i = 0; i < cin * kh * kw * ocb; i++)
		w[i] = rnd();
	cnnf_kern_args args = {.in = in, .plane = plane, .rstep = (long)dy * rowlen, .dx = dx,
			       .cin = cin, .kh = kh, .kw = kw, .ow = ow, .w = w, .acc = a};
	args.acc = b;
	if (single)
		cnnf_kern_single_c(&args);
	else
		cnnf_kern_block8_c(&args);
	/* The dispatched version, and every vector version this CPU can run. */
	cnnf_kern_fn versions[3] = {single ? cnnf_kern_single() : cnnf_kern_block8(), NULL, NULL};
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		versions[1] = single ? cnnf_kern_single_avx2 : cnnf_kern_block8_avx2;
	if (__builtin_cpu_supports("avx512f"))
		versions[2] = single ? cnnf_kern_single_avx512 : cnnf_kern_block8_avx512;
#endif
	for (int v = 0; v < 3; v++) {
		if (!versions[v])
			continue;
		args.acc = a;
		versions[v](&args);
		ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)ocb * ow) == 0,
			      "%s version %d, cin %d %dx%d dil %d,%d ow %d: differs from portable",
			      single ? "single" : "block8", v, cin, kh, kw, dy, dx, ow);
	}
	free(in);
	free(w);
	free(a);
	free(b);
}

START_TEST(test_block8_bits)
{
	/* Widths around the 8/16/32-wide tiles and their tails. */
	static const int widths[] = {1, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100};
	for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
		compare(0, 1, 3, 3, 1, 1, widths[i]);
		compare(0, 5, 2, 4, 2, 3, widths[i]);
		compare(0, 16, 3, 3, 1, 128, widths[i]);
	}
}
END_TEST

START_TEST(test_single_bits)
{
	static const int widths[] = {1, 7, 8, 16, 31, 32, 33, 64, 65, 130};
	for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
		compare(1, 1, 1, 15, 1, 1, widths[i]);
		compare(1, 3, 5, 1, 2, 1, widths[i]);
		compare(1, 2, 3, 3, 1, 4, widths[i]);
	}
}
END_TEST

/*
 * The double row (PATH_DOUBLE): every version against a plain loop in the
 * order c, i, j, a product and then a sum, bit for bit. sx is the stride.
 */
static void compare_double(int cin, int kh, int kw, int dy, int dx, int sx, int ow)
{
	long rowlen = (long)(ow - 1) * sx + (long)(kw - 1) * dx + 1;
	long rows = (long)(kh - 1) * dy + 1;
	size_t plane = (size_t)rows * rowlen;
	float *in = malloc(sizeof(float) * plane * cin);
	double *w = malloc(sizeof(double) * (size_t)cin * kh * kw);
	double *want = malloc(sizeof(double) * (size_t)ow);
	double *got = malloc(sizeof(double) * (size_t)ow);
	for (size_t i = 0; i < plane * cin; i++)
		in[i] = rnd();
	/* Weights that are not floats, as a kernel file's decimals are. */
	for (int i = 0; i < cin * kh * kw; i++)
		w[i] = (double)rnd() + (double)rnd() * 0x1p-30;
	for (int x = 0; x < ow; x++) {
		double acc = 0;
		for (int c = 0; c < cin; c++)
			for (int i = 0; i < kh; i++)
				for (int j = 0; j < kw; j++) {
					double t = w[(c * kh + i) * kw + j] *
						   in[c * plane + (size_t)i * dy * rowlen +
						      (size_t)j * dx + (size_t)x * sx];
					acc = acc + t;
				}
		want[x] = acc;
	}
	cnnf_kern_dargs args = {.in = in, .plane = plane, .rstep = (long)dy * rowlen, .dx = dx,
				.sx = sx, .cin = cin, .kh = kh, .kw = kw, .ow = ow, .w = w,
				.acc = got};
	cnnf_kern_dfn versions[4] = {cnnf_kern_double(), cnnf_kern_double_c, NULL, NULL};
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		versions[2] = cnnf_kern_double_avx2;
	if (__builtin_cpu_supports("avx512f"))
		versions[3] = cnnf_kern_double_avx512;
#endif
	for (int v = 0; v < 4; v++) {
		if (!versions[v])
			continue;
		for (int x = 0; x < ow; x++)
			got[x] = NAN;
		versions[v](&args);
		ck_assert_msg(memcmp(got, want, sizeof(double) * (size_t)ow) == 0,
			      "double version %d, cin %d %dx%d dil %d,%d stride %d ow %d: differs "
			      "from the plain loop",
			      v, cin, kh, kw, dy, dx, sx, ow);
	}
	free(in);
	free(w);
	free(want);
	free(got);
}

START_TEST(test_double_bits)
{
	/* Every width to 37 (each tail of the 4-, 8- and 16-wide blocks), and around 64 and 128. */
	static const int big[] = {63, 64, 65, 79, 80, 81, 127, 128, 129, 143, 200};
	for (int ow = 1; ow <= 37 + (int)(sizeof big / sizeof *big); ow++) {
		int n = ow <= 37 ? ow : big[ow - 38];
		compare_double(1, 1, 1, 1, 1, 1, n);
		compare_double(2, 3, 5, 1, 1, 1, n);
		compare_double(1, 15, 15, 1, 1, 1, n);
		compare_double(3, 7, 7, 2, 3, 1, n);
		compare_double(2, 3, 3, 1, 1, 2, n);
		compare_double(1, 5, 4, 2, 2, 3, n);
	}
}
END_TEST

/*
 * The whole engine on the double path (weights that are not integers, no
 * rounding): a depthwise filter and a bank, with stride and dilation, equal
 * the plain loop stored as float, byte for byte, for output widths 1..37.
 */
static void engine_double(int depthwise, int kh, int kw, int sy, int sx, int dy, int dx,
			  int ow)
{
	int c = 3, oh = 3;
	int count = depthwise ? 1 : 2, depth = depthwise ? 1 : c;
	int h = (oh - 1) * sy + (kh - 1) * dy + 1, w = (ow - 1) * sx + (kw - 1) * dx + 1;
	cnnf_tensor *in = cnnf_tensor_new(c, h, w);
	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = rnd();
	cnnf_kernel *k = cnnf_kernel_new(count, depth, kh, kw);
	for (int i = 0; i < count * depth * kh * kw; i++)
		k->weights[i] = (double)rnd() + (double)rnd() * 0x1p-30;
	cnnf_conv_geom g = {0, 0, 0, 0, sy, sx, dy, dx, CNNF_BORDER_ZERO};
	cnnf_conv_out post = {0};
	cnnf_tensor *out;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &post, 2, "k", &out), 0);
	int nout = depthwise ? c : count;
	ck_assert(out->c == nout && out->h == oh && out->w == ow);
	for (int f = 0; f < nout; f++)
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				double acc = 0;
				for (int d = 0; d < depth; d++)
					for (int i = 0; i < kh; i++)
						for (int j = 0; j < kw; j++) {
							int ch = depthwise ? f : d;
							size_t t = (((size_t)(depthwise ? 0 : f) * depth +
								     d) * kh + i) * kw + j;
							double p = k->weights[t] *
								   in->data[((size_t)ch * h + y * sy +
									     i * dy) * w +
									    x * sx + j * dx];
							acc = acc + p;
						}
				float want = (float)(acc + 0.0);
				float got = out->data[((size_t)f * oh + y) * ow + x];
				ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
					      "depthwise %d %dx%d stride %d,%d dil %d,%d ow %d: "
					      "out[%d][%d][%d] = %.9g, plain loop %.9g",
					      depthwise, kh, kw, sy, sx, dy, dx, ow, f, y, x, got,
					      want);
			}
	cnnf_tensor_free(out);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}

START_TEST(test_engine_double_bits)
{
	for (int ow = 1; ow <= 37; ow++)
		for (int depthwise = 0; depthwise <= 1; depthwise++) {
			engine_double(depthwise, 1, 1, 1, 1, 1, 1, ow);
			engine_double(depthwise, 3, 5, 1, 1, 1, 1, ow);
			engine_double(depthwise, 7, 7, 1, 1, 2, 3, ow);
			engine_double(depthwise, 3, 3, 2, 2, 1, 1, ow);
		}
	engine_double(1, 15, 15, 1, 1, 1, 1, 150);
	engine_double(0, 15, 15, 1, 1, 1, 1, 70);
}
END_TEST

/* Float (fast) and double engine paths agree within float rounding on a bank. */
START_TEST(test_fast_close_to_double)
{
	cnnf_tensor *in = cnnf_tensor_new(4, 20, 37);
	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = rnd();
	cnnf_kernel *k = cnnf_kernel_new(11, 4, 3, 5);
	for (int i = 0; i < 11 * 4 * 15; i++)
		k->weights[i] = rnd();
	for (int f = 0; f < 11; f++)
		k->bias[f] = rnd();
	cnnf_conv_geom g = {1, 2, 2, 1, 1, 1, 1, 2, CNNF_BORDER_REFLECT};
	cnnf_conv_out fast = {.fast = 1}, precise = {0};
	cnnf_tensor *a, *b;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &fast, 2, "k", &a), 0);
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &precise, 2, "k", &b), 0);
	for (size_t i = 0; i < cnnf_tensor_size(a); i++)
		ck_assert_float_eq_tol(a->data[i], b->data[i], 1e-5f);
	cnnf_tensor_free(a);
	cnnf_tensor_free(b);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * An integer separable kernel on integer samples: the two-pass float path is
 * used and must equal the double result exactly, rounded or not.
 */
START_TEST(test_separable_exact)
{
	cnnf_tensor *in = cnnf_tensor_new(1, 40, 53);
	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = (float)(int)((rnd() + 1) * 32767.5);
	/* Binomial 5x5 (outer product of 1 4 6 4 1), scale 1/256: sums stay below 2^24. */
	static const double b[5] = {1, 4, 6, 4, 1};
	cnnf_kernel *k = cnnf_kernel_new(1, 1, 5, 5);
	for (int i = 0; i < 25; i++)
		k->weights[i] = b[i / 5] * b[i % 5];
	k->scale_den[0] = 256;
	cnnf_conv_geom g = {2, 2, 2, 2, 1, 1, 1, 1, CNNF_BORDER_SYMMETRIC};
	cnnf_conv_out exact = {.int_max = 65535}, dbl = {0};
	cnnf_tensor *a, *c;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &exact, 2, "k", &a), 0);
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &dbl, 2, "k", &c), 0);
	ck_assert_mem_eq(a->data, c->data, sizeof(float) * cnnf_tensor_size(a));
	cnnf_tensor_free(a);
	cnnf_tensor_free(c);
	exact.round = 65535;
	dbl.round = 65535;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &exact, 1, "k", &a), 0);
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &dbl, 3, "k", &c), 0);
	ck_assert_mem_eq(a->data, c->data, sizeof(float) * cnnf_tensor_size(a));
	cnnf_tensor_free(a);
	cnnf_tensor_free(c);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

/* Streaming through callbacks gives what the tensor call gives. */
typedef struct rows_ctx {
	const cnnf_tensor *in;
	cnnf_tensor *out;
	int writes;
} rows_ctx;

static void rd(void *ctx, int c, int r, float *dst)
{
	const cnnf_tensor *t = ((rows_ctx *)ctx)->in;
	memcpy(dst, t->data + ((size_t)c * t->h + r) * t->w, sizeof(float) * (size_t)t->w);
}

static void wr(void *ctx, int f, int y, const float *row, int ow)
{
	rows_ctx *x = ctx;
	memcpy(x->out->data + ((size_t)f * x->out->h + y) * x->out->w, row, sizeof(float) * ow);
	__atomic_add_fetch(&x->writes, 1, __ATOMIC_RELAXED);
}

START_TEST(test_rows_interface)
{
	cnnf_tensor *in = cnnf_tensor_new(3, 31, 29);
	for (size_t i = 0; i < cnnf_tensor_size(in); i++)
		in->data[i] = (float)(int)((rnd() + 1) * 127.5);
	cnnf_kernel *k = cnnf_kernel_new(1, 1, 3, 3);
	for (int i = 0; i < 9; i++)
		k->weights[i] = 1;
	k->scale_den[0] = 9;
	cnnf_conv_geom g = {1, 1, 1, 1, 2, 2, 1, 1, CNNF_BORDER_WRAP};
	cnnf_conv_out post = {.round = 255, .int_max = 255};
	cnnf_tensor *want;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &post, 2, "k", &want), 0);
	rows_ctx x = {in, cnnf_tensor_new(want->c, want->h, want->w), 0};
	cnnf_conv_rows io = {3, 31, 29, rd, wr, NULL, &x, 0, 0};
	ck_assert_int_eq(cnnf_conv_run(&io, k, &g, &post, 3, "k"), 0);
	ck_assert_int_eq(x.writes, want->c * want->h);
	ck_assert_mem_eq(x.out->data, want->data, sizeof(float) * cnnf_tensor_size(want));
	cnnf_tensor_free(x.out);
	cnnf_tensor_free(want);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
}
END_TEST

static Suite *kern_suite(void)
{
	Suite *s = suite_create("conv_kern");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_block8_bits);
	tcase_add_test(tc, test_single_bits);
	tcase_add_test(tc, test_double_bits);
	tcase_add_test(tc, test_engine_double_bits);
	tcase_add_test(tc, test_fast_close_to_double);
	tcase_add_test(tc, test_separable_exact);
	tcase_add_test(tc, test_rows_interface);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(kern_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
