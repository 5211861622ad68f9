/* check_ops_math.c: the math operators (nn/op_unary.c, op_binary.c...) against double loops. */
#include <math.h>
#include <stdint.h>

#include "nn/graph.h"
#include "optest.h"
#include "testutil.h"

/* Deterministic values in [lo, hi). */
static void fill(float *x, size_t n, float lo, float hi, unsigned seed)
{
	uint32_t s = seed * 2654435761u + 12345u;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		x[i] = lo + (hi - lo) * (float)((s >> 8) & 0xffffff) / 16777216.0f;
	}
}

static optest_in fin(int kind, int ndim, const int64_t *dim, const float *data)
{
	optest_in r = {.kind = kind, .type = CNNF_DT_F32, .ndim = ndim, .data = data};
	for (int i = 0; i < ndim; i++)
		r.dim[i] = dim[i];
	return r;
}

static optest_in iin(int kind, int ndim, const int64_t *dim, const int64_t *data)
{
	optest_in r = fin(kind, ndim, dim, NULL);
	r.type = CNNF_DT_I64;
	r.data = data;
	return r;
}

static cnnf_attr aint(const char *name, int64_t v)
{
	return (cnnf_attr){.name = (char *)name, .type = CNNF_ATTR_INT, .i = v};
}

static cnnf_attr afloat(const char *name, float v)
{
	return (cnnf_attr){.name = (char *)name, .type = CNNF_ATTR_FLOAT, .f = v};
}

static cnnf_attr aints(const char *name, size_t n, int64_t *v)
{
	return (cnnf_attr){.name = (char *)name, .type = CNNF_ATTR_INTS, .n = n, .ints = v};
}

/* got within 1e-6 relative (and a hair absolute) of the double reference. */
static void check_close(const float *got, const double *ref, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		double tol = 1e-6 * fabs(ref[i]) + 1e-7;
		if (isnan(ref[i]))
			ck_assert_msg(isnan(got[i]), "%s[%zu]: %g, want NaN", what, i, got[i]);
		else
			ck_assert_msg(fabs(got[i] - ref[i]) <= tol, "%s[%zu]: %.9g, want %.9g",
			              what, i, got[i], ref[i]);
	}
}

static void check_shape(const optest_out *o, int type, int ndim, const int64_t *dim)
{
	ck_assert_int_eq(o->type, type);
	ck_assert_int_eq(o->ndim, ndim);
	for (int i = 0; i < ndim; i++)
		ck_assert_int_eq(o->dim[i], dim[i]);
}

/* The offset in a dense (nd, d) tensor broadcast to (no, od) of output element `lin`. */
static size_t boff(size_t lin, int no, const int64_t *od, int nd, const int64_t *d)
{
	size_t off = 0, st = 1;
	for (int i = no - 1; i >= 0; i--) {
		size_t ix = lin % (size_t)od[i];
		lin /= (size_t)od[i];
		int k = i - (no - nd);
		if (k >= 0) {
			if (d[k] != 1)
				off += ix * st;
			st *= (size_t)d[k];
		}
	}
	return off;
}

/* ---- unary ---- */

static double r_relu(double x)
{
	return x > 0 ? x : 0;
}
static double r_leaky(double x)
{
	return x >= 0 ? x : 0.01 * x;
}
static double r_sigmoid(double x)
{
	return 1 / (1 + exp(-x));
}
static double r_hsig(double x)
{
	double v = 0.2 * x + 0.5;
	return v < 0 ? 0 : v > 1 ? 1 : v;
}
static double r_hswish(double x)
{
	double v = x / 6 + 0.5;
	return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}
static double r_elu(double x)
{
	return x >= 0 ? x : exp(x) - 1;
}
static double r_selu(double x)
{
	return 1.05070102214813232421875 * (x > 0 ? x : 1.67326319217681884765625 * (exp(x) - 1));
}
static double r_neg(double x)
{
	return -x;
}
static double r_recip(double x)
{
	return 1 / x;
}
static double r_softplus(double x)
{
	return log(1 + exp(x));
}
static double r_softsign(double x)
{
	return x / (1 + fabs(x));
}
static double r_identity(double x)
{
	return x;
}

static const struct {
	const char *op;
	double (*ref)(double);
	int positive;
} unary_cases[] = {
    {"Relu", r_relu, 0},
    {"LeakyRelu", r_leaky, 0},
    {"Sigmoid", r_sigmoid, 0},
    {"Tanh", tanh, 0},
    {"HardSigmoid", r_hsig, 0},
    {"HardSwish", r_hswish, 0},
    {"Elu", r_elu, 0},
    {"Selu", r_selu, 0},
    {"Celu", r_elu, 0},
    {"Identity", r_identity, 0},
    {"Neg", r_neg, 0},
    {"Abs", fabs, 0},
    {"Exp", exp, 0},
    {"Log", log, 1},
    {"Sqrt", sqrt, 1},
    {"Reciprocal", r_recip, 1},
    {"Floor", floor, 0},
    {"Ceil", ceil, 0},
    {"Erf", erf, 0},
    {"Softplus", r_softplus, 0},
    {"Softsign", r_softsign, 0},
    {"Sin", sin, 0},
    {"Cos", cos, 0},
    {"Round", nearbyint, 0},
};

START_TEST(test_unary)
{
	enum { N = 10007 }; /* more than one parallel block, not a multiple of it */
	float *x = malloc(N * sizeof *x);
	double *ref = malloc(N * sizeof *ref);
	for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
		fill(x, N, unary_cases[c].positive ? 0.01f : -6.0f, 6.0f, (unsigned)c);
		x[0] = 2.5f; /* Round: half to even */
		x[1] = -0.5f;
		if (unary_cases[c].positive)
			x[1] = 0.5f;
		for (size_t i = 0; i < N; i++)
			ref[i] = unary_cases[c].ref(x[i]);
		int64_t d[2] = {7, N / 7 + 0};
		int64_t d1 = N;
		optest_in in = fin(OPTEST_INPUT, 1, &d1, x);
		(void)d;
		for (int t = 1; t <= 2; t++) {
			optest_out o = {0};
			ck_assert_msg(optest_run_threads(unary_cases[c].op, 17, 1, &in, 0, NULL, 1,
			                                 &o, t) == 0,
			              "%s: %s", unary_cases[c].op, cnnf_error_get());
			check_shape(&o, CNNF_DT_F32, 1, &d1);
			check_close(o.data, ref, N, unary_cases[c].op);
			free(o.data);
		}
	}
	free(x);
	free(ref);
}
END_TEST

/*
 * Resize, linear and cubic x2 (and 1.5x) on planes whose rows the threads
 * split mid-row: against a double loop of ONNX's half_pixel definition
 * (clamped to the edges), and bit for bit on 1 and 2 threads.
 */
static double cubic_w(double t, double a)
{
	t = fabs(t);
	if (t <= 1)
		return ((a + 2) * t - (a + 3)) * t * t + 1;
	if (t < 2)
		return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
	return 0;
}

/* The interpolated value along one axis of n samples s[i*step] at output o, scale sc. */
static double interp1(const double *s, int64_t n, int64_t step, int64_t o, double sc, int cubic)
{
	double src = (o + 0.5) / sc - 0.5;
	if (!cubic) {
		if (src < 0)
			src = 0;
		int64_t i0 = (int64_t)floor(src), i1 = i0 + 1 < n ? i0 + 1 : n - 1;
		if (i0 > n - 1)
			i0 = n - 1;
		double f = src - floor(src);
		return (1 - f) * s[i0 * step] + f * s[i1 * step];
	}
	int64_t i0 = (int64_t)floor(src);
	double f = src - floor(src), v = 0;
	for (int k = -1; k <= 2; k++) {
		int64_t i = i0 + k;
		i = i < 0 ? 0 : i > n - 1 ? n - 1 : i;
		v += cubic_w(f - k, -0.75) * s[i * step];
	}
	return v;
}

START_TEST(test_resize_threads)
{
	for (int c = 0; c < 4; c++) {
		int cubic = c % 2;
		float sc = c < 2 ? 2.0f : 1.5f;
		int64_t d[4] = {1, 3, 37, 45};
		int64_t oh = (int64_t)floor(37 * sc), ow = (int64_t)floor(45 * sc);
		size_t n = 3 * 37 * 45, on = (size_t)(3 * oh * ow);
		float *x = malloc(n * sizeof *x);
		fill(x, n, -2.0f, 2.0f, 77u + (unsigned)c);
		float scales[4] = {1, 1, sc, sc};
		int64_t sd = 4;
		optest_in in[3] = {fin(OPTEST_INPUT, 4, d, x), fin(OPTEST_OMIT, 0, NULL, NULL),
				   fin(OPTEST_INIT, 1, &sd, scales)};
		cnnf_attr at[1] = {{.name = "mode", .type = CNNF_ATTR_STRING,
				    .s = cubic ? "cubic" : "linear"}};
		optest_out o1 = {0}, o2 = {0};
		ck_assert_msg(optest_run_threads("Resize", 13, 3, in, 1, at, 1, &o1, 1) == 0, "%s",
			      cnnf_error_get());
		ck_assert_msg(optest_run_threads("Resize", 13, 3, in, 1, at, 1, &o2, 2) == 0, "%s",
			      cnnf_error_get());
		ck_assert_int_eq(o1.dim[2], oh);
		ck_assert_int_eq(o1.dim[3], ow);
		ck_assert(!memcmp(o1.data, o2.data, on * sizeof(float)));
		/* Reference: along W, then along H, in double. */
		double *xd = malloc(n * sizeof *xd), *t = malloc((size_t)(3 * 37 * ow) * sizeof *t),
		       *ref = malloc(on * sizeof *ref);
		for (size_t i = 0; i < n; i++)
			xd[i] = x[i];
		for (int64_t p = 0; p < 3 * 37; p++)
			for (int64_t q = 0; q < ow; q++)
				t[p * ow + q] = interp1(xd + p * 45, 45, 1, q, sc, cubic);
		for (int64_t ch = 0; ch < 3; ch++)
			for (int64_t y = 0; y < oh; y++)
				for (int64_t q = 0; q < ow; q++)
					ref[(ch * oh + y) * ow + q] =
						interp1(t + ch * 37 * ow + q, 37, ow, y, sc, cubic);
		for (size_t i = 0; i < on; i++)
			ck_assert_msg(fabs(((float *)o1.data)[i] - ref[i]) <= 1e-5 * (1 + fabs(ref[i])),
				      "case %d [%zu]: %.9g, want %.9g", c, i, ((float *)o1.data)[i], ref[i]);
		free(o1.data), free(o2.data), free(x), free(xd), free(t), free(ref);
	}
}
END_TEST

START_TEST(test_sigmoid_extremes)
{
	float x[4] = {-100.0f, 100.0f, -88.0f, 0.0f};
	int64_t d = 4;
	optest_in in = fin(OPTEST_INPUT, 1, &d, x);
	optest_out o;
	ck_assert_int_eq(optest_run("Sigmoid", 13, 1, &in, 0, NULL, 1, &o), 0);
	const float *y = o.data;
	ck_assert(y[0] >= 0 && y[0] < 1e-40f);
	ck_assert(y[1] == 1.0f);
	ck_assert(!isnan(y[2]) && y[2] > 0);
	ck_assert(y[3] == 0.5f);
	free(o.data);
	/* The tails, down to subnormal results: within 3 float ulps (relative 2^-22) of the exact value. */
	enum { N = 14001 };
	float *xs = malloc(N * sizeof *xs);
	for (int i = 0; i < N; i++)
		xs[i] = -110.0f + 0.01f * (float)i;
	int64_t dn = N;
	optest_in sw = fin(OPTEST_INPUT, 1, &dn, xs);
	ck_assert_int_eq(optest_run("Sigmoid", 13, 1, &sw, 0, NULL, 1, &o), 0);
	y = o.data;
	for (int i = 0; i < N; i++) {
		double want = 1.0 / (1.0 + exp(-(double)xs[i]));
		double tol = want < 1.1754943508222875e-38 ? 3 * 1.401298464324817e-45 : 0x1p-22 * want;
		ck_assert_msg(fabs(y[i] - want) <= tol, "Sigmoid(%.9g) = %.9g, want %.9g", xs[i], y[i], want);
	}
	free(o.data), free(xs);
}
END_TEST

START_TEST(test_clip_opsets)
{
	float x[6] = {-3, -1, 0, 0.5f, 2, 7};
	int64_t d = 6, sd = 0;
	float lo = -1.5f, hi = 1.0f;
	/* before 11: attributes */
	cnnf_attr at[2] = {afloat("min", lo), afloat("max", hi)};
	optest_in in = fin(OPTEST_INPUT, 1, &d, x);
	optest_out o;
	ck_assert_int_eq(optest_run("Clip", 6, 1, &in, 2, at, 1, &o), 0);
	const float want[6] = {-1.5f, -1, 0, 0.5f, 1, 1};
	ck_assert_mem_eq(o.data, want, sizeof want);
	free(o.data);
	/* from 11: inputs, the max left out */
	optest_in in2[3] = {fin(OPTEST_INPUT, 1, &d, x), fin(OPTEST_INIT, 0, &sd, &lo),
	                    fin(OPTEST_OMIT, 0, &sd, NULL)};
	ck_assert_int_eq(optest_run("Clip", 13, 3, in2, 0, NULL, 1, &o), 0);
	const float want2[6] = {-1.5f, -1, 0, 0.5f, 2, 7};
	ck_assert_mem_eq(o.data, want2, sizeof want2);
	free(o.data);
	/* bounds as run-time inputs, and no bounds at all */
	optest_in in3[3] = {fin(OPTEST_INPUT, 1, &d, x), fin(OPTEST_INPUT, 0, &sd, &lo),
	                    fin(OPTEST_INPUT, 0, &sd, &hi)};
	ck_assert_int_eq(optest_run("Clip", 13, 3, in3, 0, NULL, 1, &o), 0);
	ck_assert_mem_eq(o.data, want, sizeof want);
	free(o.data);
	ck_assert_int_eq(optest_run("Clip", 13, 1, in3, 0, NULL, 1, &o), 0);
	ck_assert_mem_eq(o.data, x, sizeof x);
	free(o.data);
	/* int64 */
	int64_t xi[4] = {-5, 0, 3, 9}, li = 0, hi64 = 4;
	optest_in in4[3] = {iin(OPTEST_CONST, 1, (int64_t[]){4}, xi), iin(OPTEST_INIT, 0, &sd, &li),
	                    iin(OPTEST_INIT, 0, &sd, &hi64)};
	ck_assert_int_eq(optest_run("Clip", 13, 3, in4, 0, NULL, 1, &o), 0);
	ck_assert_int_eq(o.type, CNNF_DT_I64);
	const int64_t wi[4] = {0, 0, 3, 4};
	ck_assert_mem_eq(o.data, wi, sizeof wi);
	free(o.data);
}
END_TEST

START_TEST(test_dropout)
{
	float x[5] = {1, -2, 3, -4, 5};
	int64_t d = 5, sd = 0, off = 0;
	float ratio = 0.5f;
	optest_in in[3] = {fin(OPTEST_INPUT, 1, &d, x), fin(OPTEST_INIT, 0, &sd, &ratio),
	                   iin(OPTEST_INIT, 0, &sd, &off)};
	optest_out o[2];
	ck_assert_int_eq(optest_run("Dropout", 13, 3, in, 0, NULL, 2, o), 0);
	ck_assert_mem_eq(o[0].data, x, sizeof x);
	ck_assert_int_eq(o[1].type, CNNF_DT_I64);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(((int64_t *)o[1].data)[i], 1);
	free(o[0].data);
	free(o[1].data);
	cnnf_attr at = afloat("ratio", 0.3f);
	ck_assert_int_eq(optest_run("Dropout", 10, 1, in, 1, &at, 1, o), 0);
	ck_assert_mem_eq(o[0].data, x, sizeof x);
	free(o[0].data);
}
END_TEST

START_TEST(test_unary_int64)
{
	int64_t x[5] = {-7, 0, 3, INT64_MIN, 9};
	int64_t d = 5;
	optest_in in = iin(OPTEST_CONST, 1, &d, x);
	optest_out o;
	ck_assert_int_eq(optest_run("Neg", 13, 1, &in, 0, NULL, 1, &o), 0);
	const int64_t neg[5] = {7, 0, -3, INT64_MIN, -9};
	ck_assert_int_eq(o.type, CNNF_DT_I64);
	ck_assert_mem_eq(o.data, neg, sizeof neg);
	free(o.data);
	ck_assert_int_eq(optest_run("Abs", 13, 1, &in, 0, NULL, 1, &o), 0);
	const int64_t ab[5] = {7, 0, 3, INT64_MIN, 9};
	ck_assert_mem_eq(o.data, ab, sizeof ab);
	free(o.data);
	ck_assert_int_eq(optest_run("Identity", 13, 1, &in, 0, NULL, 1, &o), 0);
	ck_assert_mem_eq(o.data, x, sizeof x);
	free(o.data);
	ck_assert_int_eq(optest_run("Relu", 14, 1, &in, 0, NULL, 1, &o), 0);
	const int64_t re[5] = {0, 0, 3, 0, 9};
	ck_assert_mem_eq(o.data, re, sizeof re);
	free(o.data);
}
END_TEST

/* ---- binary ---- */

static double bref(const char *op, double a, double b)
{
	if (!strcmp(op, "Add") || !strcmp(op, "Sum"))
		return a + b;
	if (!strcmp(op, "Sub"))
		return a - b;
	if (!strcmp(op, "Mul"))
		return a * b;
	if (!strcmp(op, "Div"))
		return a / b;
	if (!strcmp(op, "Pow"))
		return pow(a, b);
	if (!strcmp(op, "Max"))
		return a > b ? a : b;
	if (!strcmp(op, "Min"))
		return a < b ? a : b;
	return a < 0 ? a * b : a; /* PRelu */
}

static void binary_case(const char *op, int na, const int64_t *da, int nb, const int64_t *db,
                        int no, const int64_t *od)
{
	size_t ca = optest_count(na, da), cb = optest_count(nb, db), co = optest_count(no, od);
	float *a = malloc(ca * sizeof *a), *b = malloc(cb * sizeof *b);
	double *ref = malloc(co * sizeof *ref);
	int pos = !strcmp(op, "Pow");
	fill(a, ca, pos ? 0.1f : -3.0f, 3.0f, 1);
	fill(b, cb, pos ? -2.0f : 0.5f, 2.0f, 2);
	for (size_t i = 0; i < co; i++)
		ref[i] = bref(op, a[boff(i, no, od, na, da)], b[boff(i, no, od, nb, db)]);
	optest_in in[2] = {fin(OPTEST_INPUT, na, da, a), fin(OPTEST_INIT, nb, db, b)};
	for (int t = 1; t <= 2; t++) {
		optest_out o;
		ck_assert_msg(optest_run_threads(op, 14, 2, in, 0, NULL, 1, &o, t) == 0, "%s: %s",
		              op, cnnf_error_get());
		check_shape(&o, CNNF_DT_F32, no, od);
		check_close(o.data, ref, co, op);
		free(o.data);
	}
	free(a);
	free(b);
	free(ref);
}

START_TEST(test_binary_broadcast)
{
	static const char *ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum"};
	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		const char *op = ops[k];
		/* same shape, large enough for several blocks */
		binary_case(op, 4, (int64_t[]){2, 3, 40, 50}, 4, (int64_t[]){2, 3, 40, 50}, 4,
		            (int64_t[]){2, 3, 40, 50});
		/* [C,1,1] on [N,C,H,W] */
		binary_case(op, 4, (int64_t[]){2, 3, 40, 50}, 3, (int64_t[]){3, 1, 1}, 4,
		            (int64_t[]){2, 3, 40, 50});
		/* a scalar, both ways round */
		binary_case(op, 3, (int64_t[]){3, 5, 7}, 0, NULL, 3, (int64_t[]){3, 5, 7});
		binary_case(op, 0, NULL, 2, (int64_t[]){5, 7}, 2, (int64_t[]){5, 7});
		/* rank mismatch, and broadcast both ways */
		binary_case(op, 1, (int64_t[]){7}, 3, (int64_t[]){2, 5, 7}, 3,
		            (int64_t[]){2, 5, 7});
		binary_case(op, 2, (int64_t[]){3, 1}, 3, (int64_t[]){2, 1, 4}, 3,
		            (int64_t[]){2, 3, 4});
		binary_case(op, 4, (int64_t[]){1, 3, 1, 5}, 4, (int64_t[]){2, 1, 4, 1}, 4,
		            (int64_t[]){2, 3, 4, 5});
		/* a zero-size dim */
		binary_case(op, 2, (int64_t[]){0, 3}, 1, (int64_t[]){3}, 2, (int64_t[]){0, 3});
	}
}
END_TEST

START_TEST(test_prelu)
{
	binary_case("PRelu", 4, (int64_t[]){2, 3, 4, 5}, 3, (int64_t[]){3, 1, 1}, 4,
	            (int64_t[]){2, 3, 4, 5});
	binary_case("PRelu", 4, (int64_t[]){2, 3, 4, 5}, 1, (int64_t[]){1}, 4,
	            (int64_t[]){2, 3, 4, 5});
	binary_case("PRelu", 2, (int64_t[]){4, 5}, 1, (int64_t[]){5}, 2, (int64_t[]){4, 5});
}
END_TEST

START_TEST(test_binary_int64)
{
	int64_t a[6] = {7, -7, 7, -7, INT64_MIN, 100};
	int64_t b[6] = {2, 2, -2, -2, -1, 7};
	int64_t d = 6;
	optest_in in[2] = {iin(OPTEST_CONST, 1, &d, a), iin(OPTEST_INIT, 1, &d, b)};
	optest_out o;
	ck_assert_int_eq(optest_run("Div", 13, 2, in, 0, NULL, 1, &o), 0);
	ck_assert_int_eq(o.type, CNNF_DT_I64);
	/* truncation toward zero */
	const int64_t q[6] = {3, -3, -3, 3, INT64_MIN, 14};
	ck_assert_mem_eq(o.data, q, sizeof q);
	free(o.data);
	ck_assert_int_eq(optest_run("Mul", 13, 2, in, 0, NULL, 1, &o), 0);
	const int64_t m[6] = {14, -14, -14, 14, INT64_MIN, 700};
	ck_assert_mem_eq(o.data, m, sizeof m);
	free(o.data);
	ck_assert_int_eq(optest_run("Sub", 13, 2, in, 0, NULL, 1, &o), 0);
	const int64_t s[6] = {5, -9, 9, -5, INT64_MIN + 1, 93};
	ck_assert_mem_eq(o.data, s, sizeof s);
	free(o.data);
	/* shape arithmetic: a shape times a scalar, plus [1] */
	int64_t shp[4] = {1, 3, 224, 224}, two = 2, one[1] = {1};
	int64_t d4 = 4, d1 = 1;
	optest_in in2[2] = {iin(OPTEST_CONST, 1, &d4, shp), iin(OPTEST_INIT, 0, &d, &two)};
	ck_assert_int_eq(optest_run("Mul", 13, 2, in2, 0, NULL, 1, &o), 0);
	const int64_t m2[4] = {2, 6, 448, 448};
	ck_assert_int_eq(o.ndim, 1);
	ck_assert_mem_eq(o.data, m2, sizeof m2);
	free(o.data);
	optest_in in3[2] = {iin(OPTEST_CONST, 1, &d4, shp), iin(OPTEST_INIT, 1, &d1, one)};
	ck_assert_int_eq(optest_run("Add", 13, 2, in3, 0, NULL, 1, &o), 0);
	const int64_t a2[4] = {2, 4, 225, 225};
	ck_assert_mem_eq(o.data, a2, sizeof a2);
	free(o.data);
	int64_t e[2] = {3, -1}, bb[2] = {4, 3};
	optest_in in4[2] = {iin(OPTEST_CONST, 1, (int64_t[]){2}, bb),
	                    iin(OPTEST_INIT, 1, (int64_t[]){2}, e)};
	ck_assert_int_eq(optest_run("Pow", 15, 2, in4, 0, NULL, 1, &o), 0);
	const int64_t p2[2] = {64, 0};
	ck_assert_mem_eq(o.data, p2, sizeof p2);
	free(o.data);
}
END_TEST

START_TEST(test_variadic)
{
	float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, -20, 30}, c = 0.5f;
	int64_t da[2] = {2, 3}, db = 3;
	optest_in in[3] = {fin(OPTEST_INPUT, 2, da, a), fin(OPTEST_INPUT, 1, &db, b),
	                   fin(OPTEST_INIT, 0, NULL, &c)};
	optest_out o;
	ck_assert_int_eq(optest_run("Sum", 13, 3, in, 0, NULL, 1, &o), 0);
	const float s[6] = {11.5f, -17.5f, 33.5f, 14.5f, -14.5f, 36.5f};
	check_shape(&o, CNNF_DT_F32, 2, da);
	ck_assert_mem_eq(o.data, s, sizeof s);
	free(o.data);
	ck_assert_int_eq(optest_run("Mean", 13, 3, in, 0, NULL, 1, &o), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq_tol(((float *)o.data)[i], s[i] / 3, 1e-6);
	free(o.data);
	ck_assert_int_eq(optest_run("Max", 13, 3, in, 0, NULL, 1, &o), 0);
	const float mx[6] = {10, 2, 30, 10, 5, 30};
	ck_assert_mem_eq(o.data, mx, sizeof mx);
	free(o.data);
	ck_assert_int_eq(optest_run("Min", 13, 3, in, 0, NULL, 1, &o), 0);
	const float mn[6] = {0.5f, -20, 0.5f, 0.5f, -20, 0.5f};
	ck_assert_mem_eq(o.data, mn, sizeof mn);
	free(o.data);
	ck_assert_int_eq(optest_run("Sum", 13, 1, in, 0, NULL, 1, &o), 0);
	ck_assert_mem_eq(o.data, a, sizeof a);
	free(o.data);
}
END_TEST

/* ---- softmax ---- */

/* Softmax over `len` elements `inner` apart in double. */
static void softmax_ref(const float *x, double *y, int64_t outer, int64_t len, int64_t inner,
                        int lg)
{
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++) {
			const float *p = x + o * len * inner + i;
			double m = -INFINITY, s = 0;
			for (int64_t k = 0; k < len; k++)
				m = p[k * inner] > m ? p[k * inner] : m;
			for (int64_t k = 0; k < len; k++)
				s += exp(p[k * inner] - m);
			for (int64_t k = 0; k < len; k++) {
				double v = p[k * inner] - m;
				y[o * len * inner + i + k * inner] = lg ? v - log(s) : exp(v) / s;
			}
		}
}

START_TEST(test_softmax_opsets)
{
	int64_t d[3] = {2, 3, 4};
	float x[24];
	double ref[24];
	fill(x, 24, -5, 5, 3);
	x[5] = 1000.0f; /* stable: the largest is subtracted */
	optest_in in = fin(OPTEST_INPUT, 3, d, x);
	optest_out o;
	for (int lg = 0; lg < 2; lg++) {
		const char *op = lg ? "LogSoftmax" : "Softmax";
		/* opset 11, axis 1: [2, 12] rows */
		cnnf_attr ax = aint("axis", 1);
		softmax_ref(x, ref, 2, 12, 1, lg);
		ck_assert_int_eq(optest_run(op, 11, 1, &in, 1, &ax, 1, &o), 0);
		check_shape(&o, CNNF_DT_F32, 3, d);
		check_close(o.data, ref, 24, op);
		free(o.data);
		/* opset 11 default axis 1 too */
		ck_assert_int_eq(optest_run(op, 11, 1, &in, 0, NULL, 1, &o), 0);
		check_close(o.data, ref, 24, op);
		free(o.data);
		/* opset 13, axis 1: along the 3 */
		softmax_ref(x, ref, 2, 3, 4, lg);
		ck_assert_int_eq(optest_run(op, 13, 1, &in, 1, &ax, 1, &o), 0);
		check_close(o.data, ref, 24, op);
		free(o.data);
		/* opset 13 default: the last axis */
		softmax_ref(x, ref, 6, 4, 1, lg);
		ck_assert_int_eq(optest_run(op, 13, 1, &in, 0, NULL, 1, &o), 0);
		check_close(o.data, ref, 24, op);
		free(o.data);
		cnnf_attr axm = aint("axis", -3);
		softmax_ref(x, ref, 1, 2, 12, lg);
		ck_assert_int_eq(optest_run(op, 13, 1, &in, 1, &axm, 1, &o), 0);
		check_close(o.data, ref, 24, op);
		free(o.data);
		/* opset 1: axis 0 is the whole tensor as one row */
		cnnf_attr ax0 = aint("axis", 0);
		softmax_ref(x, ref, 1, 24, 1, lg);
		ck_assert_int_eq(optest_run(op, 1, 1, &in, 1, &ax0, 1, &o), 0);
		check_close(o.data, ref, 24, op);
		free(o.data);
	}
}
END_TEST

/* ---- reductions ---- */

START_TEST(test_reduce)
{
	int64_t d[3] = {2, 3, 4};
	float x[24];
	fill(x, 24, -5, 5, 4);
	optest_in in = fin(OPTEST_INPUT, 3, d, x);
	optest_out o;
	int64_t axes[2] = {0, -1};
	/* opset 13 ReduceMean with the attribute, keepdims 1 */
	cnnf_attr at[2] = {aints("axes", 2, axes), aint("keepdims", 1)};
	ck_assert_int_eq(optest_run("ReduceMean", 13, 1, &in, 2, at, 1, &o), 0);
	check_shape(&o, CNNF_DT_F32, 3, (int64_t[]){1, 3, 1});
	double ref[3];
	for (int j = 0; j < 3; j++) {
		double s = 0;
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 4; k++)
				s += x[i * 12 + j * 4 + k];
		ref[j] = s / 8;
	}
	check_close(o.data, ref, 3, "ReduceMean");
	free(o.data);
	/* opset 18: axes as an input; keepdims 0 */
	cnnf_attr k0 = aint("keepdims", 0);
	optest_in in2[2] = {fin(OPTEST_INPUT, 3, d, x), iin(OPTEST_INIT, 1, (int64_t[]){2}, axes)};
	ck_assert_int_eq(optest_run("ReduceMean", 18, 2, in2, 1, &k0, 1, &o), 0);
	check_shape(&o, CNNF_DT_F32, 1, (int64_t[]){3});
	check_close(o.data, ref, 3, "ReduceMean 18");
	free(o.data);
	/* ReduceSum 13: axes input; none given: everything */
	ck_assert_int_eq(optest_run("ReduceSum", 13, 1, in2, 1, &k0, 1, &o), 0);
	check_shape(&o, CNNF_DT_F32, 0, NULL);
	double all = 0, mx = -INFINITY;
	for (int i = 0; i < 24; i++) {
		all += x[i];
		mx = x[i] > mx ? x[i] : mx;
	}
	check_close(o.data, &all, 1, "ReduceSum");
	free(o.data);
	/* noop_with_empty_axes */
	cnnf_attr noop = aint("noop_with_empty_axes", 1);
	ck_assert_int_eq(optest_run("ReduceSum", 13, 1, in2, 1, &noop, 1, &o), 0);
	check_shape(&o, CNNF_DT_F32, 3, d);
	ck_assert_mem_eq(o.data, x, sizeof x);
	free(o.data);
	/* ReduceMax over everything (opset 13 attribute absent) keeps 1x1x1 */
	ck_assert_int_eq(optest_run("ReduceMax", 13, 1, &in, 0, NULL, 1, &o), 0);
	check_shape(&o, CNNF_DT_F32, 3, (int64_t[]){1, 1, 1});
	check_close(o.data, &mx, 1, "ReduceMax");
	free(o.data);
	/* int64 ReduceProd of a shape (element count) */
	int64_t shp[4] = {1, 3, 224, 224};
	optest_in in3 = iin(OPTEST_CONST, 1, (int64_t[]){4}, shp);
	ck_assert_int_eq(optest_run("ReduceProd", 13, 1, &in3, 1, &k0, 1, &o), 0);
	ck_assert_int_eq(o.type, CNNF_DT_I64);
	ck_assert_int_eq(*(int64_t *)o.data, 3 * 224 * 224);
	free(o.data);
}
END_TEST

START_TEST(test_argmax)
{
	float x[12] = {1, 5, 5, 2, /**/ 9, 0, 9, 3, /**/ -1, -2, -3, -1};
	int64_t d[2] = {3, 4};
	optest_in in = fin(OPTEST_INPUT, 2, d, x);
	optest_out o;
	cnnf_attr at[3] = {aint("axis", 1), aint("keepdims", 0), aint("select_last_index", 0)};
	ck_assert_int_eq(optest_run("ArgMax", 13, 1, &in, 3, at, 1, &o), 0);
	check_shape(&o, CNNF_DT_I64, 1, (int64_t[]){3});
	const int64_t w0[3] = {1, 0, 0};
	ck_assert_mem_eq(o.data, w0, sizeof w0);
	free(o.data);
	at[2].i = 1;
	ck_assert_int_eq(optest_run("ArgMax", 13, 1, &in, 3, at, 1, &o), 0);
	const int64_t w1[3] = {2, 2, 3};
	ck_assert_mem_eq(o.data, w1, sizeof w1);
	free(o.data);
	/* axis 0, keepdims default */
	ck_assert_int_eq(optest_run("ArgMax", 13, 1, &in, 0, NULL, 1, &o), 0);
	check_shape(&o, CNNF_DT_I64, 2, (int64_t[]){1, 4});
	const int64_t w2[4] = {1, 0, 1, 1};
	ck_assert_mem_eq(o.data, w2, sizeof w2);
	free(o.data);
	ck_assert_int_eq(optest_run("ArgMin", 13, 1, &in, 1, at, 1, &o), 0);
	const int64_t w3[3] = {0, 1, 2};
	ck_assert_mem_eq(o.data, w3, sizeof w3);
	free(o.data);
}
END_TEST

/* ---- matrix products ---- */

START_TEST(test_gemm)
{
	enum { M = 5, K = 7, N = 6 };
	float a[M * K], b[K * N], c[N];
	fill(a, M * K, -1, 1, 5);
	fill(b, K * N, -1, 1, 6);
	fill(c, N, -1, 1, 7);
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (int cc = 0; cc < 3; cc++) {
				double ref[M * N];
				for (int i = 0; i < M; i++)
					for (int j = 0; j < N; j++) {
						double s = 0;
						/* the operands are stored transposed when ta/tb say
						 * so */
						for (int k = 0; k < K; k++)
							s += (double)(ta ? a[k * M + i]
							                 : a[i * K + k]) *
							     (tb ? b[j * K + k] : b[k * N + j]);
						double cv = cc == 0 ? 0 : cc == 1 ? c[j] : c[0];
						ref[i * N + j] = 0.5 * s + 2.0 * cv;
					}
				int64_t da[2] = {ta ? K : M, ta ? M : K},
				        db[2] = {tb ? N : K, tb ? K : N};
				int64_t dc = N;
				optest_in in[3] = {fin(OPTEST_INPUT, 2, da, a),
				                   fin(OPTEST_INIT, 2, db, b),
				                   fin(OPTEST_INIT, cc == 1 ? 1 : 0, &dc, c)};
				cnnf_attr at[4] = {afloat("alpha", 0.5f), afloat("beta", 2.0f),
				                   aint("transA", ta), aint("transB", tb)};
				optest_out o;
				ck_assert_msg(
				    optest_run("Gemm", 13, cc ? 3 : 2, in, 4, at, 1, &o) == 0, "%s",
				    cnnf_error_get());
				check_shape(&o, CNNF_DT_F32, 2, (int64_t[]){M, N});
				check_close(o.data, ref, M * N, "Gemm");
				free(o.data);
			}
}
END_TEST

static void matmul_case(int na, const int64_t *da, int nb, const int64_t *db, int no,
                        const int64_t *od)
{
	size_t ca = optest_count(na, da), cb = optest_count(nb, db), co = optest_count(no, od);
	float *a = malloc(ca * sizeof *a), *b = malloc(cb * sizeof *b);
	double *ref = malloc(co * sizeof *ref);
	fill(a, ca, -1, 1, 8);
	fill(b, cb, -1, 1, 9);
	/* promoted shapes */
	int64_t pa[8], pb[8];
	int pna = na == 1 ? 2 : na, pnb = nb == 1 ? 2 : nb;
	if (na == 1) {
		pa[0] = 1;
		pa[1] = da[0];
	} else
		memcpy(pa, da, (size_t)na * sizeof *da);
	if (nb == 1) {
		pb[0] = db[0];
		pb[1] = 1;
	} else
		memcpy(pb, db, (size_t)nb * sizeof *db);
	int64_t m = pa[pna - 2], k = pa[pna - 1], n = pb[pnb - 1];
	int nbat = (pna > pnb ? pna : pnb) - 2;
	int64_t bat[8];
	for (int i = 0; i < nbat; i++) {
		int ia = i - (nbat - (pna - 2)), ib = i - (nbat - (pnb - 2));
		int64_t x = ia >= 0 ? pa[ia] : 1, y = ib >= 0 ? pb[ib] : 1;
		bat[i] = x > y ? x : y;
	}
	size_t nbatch = optest_count(nbat, bat);
	for (size_t bi = 0; bi < nbatch; bi++) {
		size_t oa = boff(bi, nbat, bat, pna - 2, pa) * (size_t)(m * k);
		size_t ob = boff(bi, nbat, bat, pnb - 2, pb) * (size_t)(k * n);
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				double s = 0;
				for (int64_t q = 0; q < k; q++)
					s += (double)a[oa + i * k + q] * b[ob + q * n + j];
				ref[bi * m * n + i * n + j] = s;
			}
	}
	optest_in in[2] = {fin(OPTEST_INPUT, na, da, a), fin(OPTEST_INIT, nb, db, b)};
	for (int t = 1; t <= 2; t++) {
		optest_out o;
		ck_assert_msg(optest_run_threads("MatMul", 13, 2, in, 0, NULL, 1, &o, t) == 0, "%s",
		              cnnf_error_get());
		check_shape(&o, CNNF_DT_F32, no, od);
		check_close(o.data, ref, co, "MatMul");
		free(o.data);
	}
	free(a);
	free(b);
	free(ref);
}

START_TEST(test_matmul)
{
	matmul_case(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, 2, (int64_t[]){3, 5});
	matmul_case(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){3, 4, 5}, 4,
	            (int64_t[]){2, 3, 3, 5});
	matmul_case(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 5}, 3, (int64_t[]){2, 3, 5});
	matmul_case(1, (int64_t[]){4}, 3, (int64_t[]){2, 4, 5}, 2, (int64_t[]){2, 5});
	matmul_case(3, (int64_t[]){2, 3, 4}, 1, (int64_t[]){4}, 2, (int64_t[]){2, 3});
	matmul_case(1, (int64_t[]){4}, 1, (int64_t[]){4}, 0, NULL);
	matmul_case(2, (int64_t[]){1, 300}, 2, (int64_t[]){300, 1000}, 2, (int64_t[]){1, 1000});
}
END_TEST

/* ---- errors ---- */

START_TEST(test_err_broadcast)
{
	float a[6] = {0}, b[4] = {0};
	optest_in in[2] = {fin(OPTEST_INPUT, 2, (int64_t[]){2, 3}, a),
	                   fin(OPTEST_INPUT, 1, (int64_t[]){4}, b)};
	optest_out o;
	ck_assert_int_eq(optest_run("Add", 13, 2, in, 0, NULL, 1, &o), -1);
	ck_assert_error_has("node 'n' (Add): shapes 2x3 and 4 do not broadcast");
	/* PRelu's slope may not grow X */
	optest_in in2[2] = {fin(OPTEST_INPUT, 1, (int64_t[]){3}, a),
	                    fin(OPTEST_INPUT, 2, (int64_t[]){2, 3}, a)};
	ck_assert_int_eq(optest_run("PRelu", 13, 2, in2, 0, NULL, 1, &o), -1);
	ck_assert_error_has("slope 2x3 does not broadcast to input 3");
	ck_assert_int_eq(optest_run("MatMul", 13, 2, in, 0, NULL, 1, &o), -1);
	ck_assert_error_has("shapes 2x3 and 4 do not multiply");
	ck_assert_int_eq(optest_run("Gemm", 13, 2, in2, 0, NULL, 1, &o), -1);
	ck_assert_error_has("inputs must be matrices, not 3 and 2x3");
}
END_TEST

START_TEST(test_err_types)
{
	float a[2] = {1, 2};
	int64_t b[2] = {1, 2}, z[2] = {1, 0};
	optest_in in[2] = {fin(OPTEST_INPUT, 1, (int64_t[]){2}, a),
	                   iin(OPTEST_INIT, 1, (int64_t[]){2}, b)};
	optest_out o;
	ck_assert_int_eq(optest_run("Mul", 13, 2, in, 0, NULL, 1, &o), -1);
	ck_assert_error_has("input 'in1' is int64 but 'in0' is float (types may not be mixed)");
	ck_assert_int_eq(optest_run("Sigmoid", 13, 1, in + 1, 0, NULL, 1, &o), -1);
	ck_assert_error_has("input 'in0' is int64; the operator takes float only");
	optest_in in2[2] = {iin(OPTEST_CONST, 1, (int64_t[]){2}, b),
	                    iin(OPTEST_INIT, 1, (int64_t[]){2}, z)};
	ck_assert_int_eq(optest_run("Div", 13, 2, in2, 0, NULL, 1, &o), -1);
	ck_assert_error_has("integer division by zero (input 'in1')");
}
END_TEST

START_TEST(test_err_attributes)
{
	float x[2] = {1, 2}, lo = 0;
	int64_t on = 1;
	optest_in in[3] = {fin(OPTEST_INPUT, 1, (int64_t[]){2}, x), fin(OPTEST_INIT, 0, NULL, &lo),
	                   iin(OPTEST_INIT, 0, NULL, &on)};
	optest_out o[2];
	ck_assert_int_eq(optest_run("Dropout", 13, 3, in, 0, NULL, 1, o), -1);
	ck_assert_error_has("training_mode true is not supported");
	cnnf_attr mn = afloat("min", 0);
	ck_assert_int_eq(optest_run("Clip", 11, 1, in, 1, &mn, 1, o), -1);
	ck_assert_error_has(
	    "attributes 'min' and 'max' are inputs from opset 11 (the model's is 11)");
	ck_assert_int_eq(optest_run("Clip", 13, 2,
	                            (optest_in[]){in[0], fin(OPTEST_INIT, 1, (int64_t[]){2}, x)}, 0,
	                            NULL, 1, o),
	                 -1);
	ck_assert_error_has("input 1 ('in1', 2) must be a scalar");
	int64_t ax = 0;
	cnnf_attr axes = aints("axes", 1, &ax);
	ck_assert_int_eq(optest_run("ReduceMean", 18, 1, in, 1, &axes, 1, o), -1);
	ck_assert_error_has("attribute 'axes' is input 1 from opset 18 (the model's is 18)");
	optest_in in2[2] = {in[0], iin(OPTEST_INPUT, 1, (int64_t[]){1}, &ax)};
	ck_assert_int_eq(optest_run("ReduceSum", 13, 2, in2, 0, NULL, 1, o), -1);
	ck_assert_error_has("input 'in1' must be a constant");
	cnnf_attr bad = aint("axis", 2);
	ck_assert_int_eq(optest_run("Softmax", 13, 1, in, 1, &bad, 1, o), -1);
	ck_assert_error_has("attribute 'axis' value 2 out of range for rank 1");
	ck_assert_int_eq(optest_run("ArgMax", 13, 1, in, 1, &bad, 1, o), -1);
	ck_assert_error_has("attribute 'axis' value 2 out of range for rank 1");
	cnnf_attr bc = aint("broadcast", 1);
	ck_assert_int_eq(optest_run("Add", 13, 2, (optest_in[]){in[0], in[0]}, 1, &bc, 1, o), -1);
	ck_assert_error_has("attribute 'broadcast' (before opset 7) not supported");
}
END_TEST

static Suite *ops_math_suite(void)
{
	Suite *s = suite_create("ops_math");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 60);
	tcase_add_test(core, test_unary);
	tcase_add_test(core, test_sigmoid_extremes);
	tcase_add_test(core, test_resize_threads);
	tcase_add_test(core, test_clip_opsets);
	tcase_add_test(core, test_dropout);
	tcase_add_test(core, test_unary_int64);
	tcase_add_test(core, test_binary_broadcast);
	tcase_add_test(core, test_prelu);
	tcase_add_test(core, test_binary_int64);
	tcase_add_test(core, test_variadic);
	tcase_add_test(core, test_softmax_opsets);
	tcase_add_test(core, test_reduce);
	tcase_add_test(core, test_argmax);
	tcase_add_test(core, test_gemm);
	tcase_add_test(core, test_matmul);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_err_broadcast);
	tcase_add_test(errors, test_err_types);
	tcase_add_test(errors, test_err_attributes);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(ops_math_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
