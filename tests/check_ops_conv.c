/* check_ops_conv.c: Conv, ConvTranspose, the pools and BatchNormalization against plain double loops. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "optest.h"
#include "testutil.h"

static uint64_t seed = 12345;

static double rnd(void) /* in [-1, 1) */
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(seed >> 11) / 9007199254740992.0 * 2 - 1;
}

static int irnd(int lo, int hi) /* lo..hi */
{
	return lo + (int)((rnd() + 1) / 2 * (hi - lo + 1)) % (hi - lo + 1);
}

static float *rand_floats(size_t n)
{
	float *v = malloc(sizeof(float) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
		v[i] = (float)rnd();
	return v;
}

static cnnf_attr ints_attr(const char *name, int n, const int64_t *v)
{
	cnnf_attr a = {0};
	a.name = (char *)name;
	a.type = CNNF_ATTR_INTS;
	a.ints = (int64_t *)v;
	a.n = (size_t)n;
	return a;
}

static cnnf_attr int_attr(const char *name, int64_t v)
{
	cnnf_attr a = {0};
	a.name = (char *)name;
	a.type = CNNF_ATTR_INT;
	a.i = v;
	return a;
}

static cnnf_attr str_attr(const char *name, const char *s)
{
	cnnf_attr a = {0};
	a.name = (char *)name;
	a.type = CNNF_ATTR_STRING;
	a.s = (char *)s;
	return a;
}

static optest_in tin(int kind, int ndim, const int64_t *dim, const float *data)
{
	optest_in t = {.kind = kind, .type = CNNF_DT_F32, .ndim = ndim, .data = data};
	memcpy(t.dim, dim, sizeof(int64_t) * (size_t)ndim);
	return t;
}

static void assert_close(const float *got, const double *want, size_t n, double tol)
{
	/* Check's assertions cost a system call each: make them only for a sample that fails. */
	for (size_t i = 0; i < n; i++)
		if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
			ck_assert_msg(0, "element %zu: %.9g, want %.9g", i, got[i], want[i]);
}

/* Three spatial axes, missing ones 1; geometry of one case. */
typedef struct gcase {
	int ns, nb, c, m, group;
	int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} gcase;

static size_t prod3(const int64_t *v)
{
	return (size_t)v[0] * v[1] * v[2];
}

/* ---- Conv ------------------------------------------------------------------------------- */

static double *conv_ref(const gcase *q, const float *x, const float *w, const float *b)
{
	int cg = q->c / q->group, mg = q->m / q->group;
	size_t op = prod3(q->out), ip = prod3(q->in), kt = prod3(q->k);
	double *y = calloc((size_t)q->nb * q->m * op, sizeof(double));
	for (int n = 0; n < q->nb; n++)
		for (int m = 0; m < q->m; m++)
			for (int64_t oz = 0; oz < q->out[0]; oz++)
				for (int64_t oy = 0; oy < q->out[1]; oy++)
					for (int64_t ox = 0; ox < q->out[2]; ox++) {
						double s = b ? b[m] : 0;
						int gi = m / mg;
						for (int ci = 0; ci < cg; ci++)
							for (int64_t kz = 0; kz < q->k[0]; kz++)
								for (int64_t ky = 0; ky < q->k[1]; ky++)
									for (int64_t kx = 0; kx < q->k[2]; kx++) {
										int64_t iz = oz * q->s[0] - q->pb[0] + kz * q->d[0];
										int64_t iy = oy * q->s[1] - q->pb[1] + ky * q->d[1];
										int64_t ix = ox * q->s[2] - q->pb[2] + kx * q->d[2];
										if (iz < 0 || iy < 0 || ix < 0 || iz >= q->in[0] ||
										    iy >= q->in[1] || ix >= q->in[2])
											continue;
										s += (double)x[((size_t)n * q->c + gi * cg + ci) * ip +
											  (iz * q->in[1] + iy) * q->in[2] + ix] *
										     w[((size_t)m * cg + ci) * kt +
										       (kz * q->k[1] + ky) * q->k[2] + kx];
									}
						y[(((size_t)n * q->m + m) * q->out[0] + oz) * q->out[1] * q->out[2] +
						  oy * q->out[2] + ox] = s;
					}
	return y;
}

/* Random geometry for ns axes; for pools c == m and group 1. */
static void random_case(gcase *q, int ns, int small)
{
	memset(q, 0, sizeof *q);
	q->ns = ns;
	q->nb = irnd(1, 2);
	for (int a = 0; a < 3; a++)
		q->in[a] = q->k[a] = q->s[a] = q->d[a] = q->out[a] = 1;
	for (int a = 3 - ns; a < 3; a++) {
		q->k[a] = irnd(1, small ? 3 : 4);
		q->s[a] = irnd(1, 3);
		q->d[a] = irnd(1, 2);
		q->pb[a] = irnd(0, 2);
		q->pe[a] = irnd(0, 2);
		int64_t ek = q->d[a] * (q->k[a] - 1) + 1;
		q->in[a] = ek + irnd(0, small ? 4 : 9) - (q->pb[a] + q->pe[a] < ek - 1 ? q->pb[a] + q->pe[a] : 0);
		if (q->in[a] < 1)
			q->in[a] = 1;
		int64_t span = q->in[a] + q->pb[a] + q->pe[a] - ek;
		if (span < 0) {
			q->pe[a] += -span;
			span = 0;
		}
		q->out[a] = span / q->s[a] + 1;
	}
}

static void add_axes(const gcase *q, int64_t *k, int64_t *s, int64_t *d, int64_t *pads)
{
	for (int i = 0; i < q->ns; i++) {
		int a = 3 - q->ns + i;
		k[i] = q->k[a], s[i] = q->s[a], d[i] = q->d[a];
		pads[i] = q->pb[a], pads[q->ns + i] = q->pe[a];
	}
}

static void shape_of(const gcase *q, int64_t c, const int64_t *sp, int64_t *dim)
{
	dim[0] = q->nb, dim[1] = c;
	for (int i = 0; i < q->ns; i++)
		dim[2 + i] = sp[3 - q->ns + i];
}

/* Run Conv on case q (weights an initializer) and compare; threads 1 and 2 give the same bits. */
static void run_conv(const gcase *q, int with_bias, int wkind)
{
	int cg = q->c / q->group;
	int64_t xd[5], wd[5], bd[1] = {q->m}, k[3], s[3], d[3], pads[6];
	shape_of(q, q->c, q->in, xd);
	wd[0] = q->m, wd[1] = cg;
	for (int i = 0; i < q->ns; i++)
		wd[2 + i] = q->k[3 - q->ns + i];
	add_axes(q, k, s, d, pads);
	size_t xn = (size_t)q->nb * q->c * prod3(q->in), wn = (size_t)q->m * cg * prod3(q->k);
	float *x = rand_floats(xn), *w = rand_floats(wn), *b = rand_floats((size_t)q->m);
	optest_in in[3] = {tin(OPTEST_INPUT, q->ns + 2, xd, x), tin(wkind, q->ns + 2, wd, w),
			   tin(with_bias ? OPTEST_INIT : OPTEST_OMIT, 1, bd, b)};
	cnnf_attr at[5] = {ints_attr("kernel_shape", q->ns, k), ints_attr("strides", q->ns, s),
			   ints_attr("dilations", q->ns, d), ints_attr("pads", 2 * q->ns, pads),
			   int_attr("group", q->group)};
	optest_out o1 = {0}, o2 = {0};
	ck_assert_msg(optest_run_threads("Conv", 17, with_bias ? 3 : 2, in, 5, at, 1, &o1, 1) == 0, "%s",
		      cnnf_error_get());
	ck_assert_int_eq(optest_run_threads("Conv", 17, with_bias ? 3 : 2, in, 5, at, 1, &o2, 2), 0);
	int64_t yd[5];
	shape_of(q, q->m, q->out, yd);
	ck_assert_int_eq(o1.ndim, q->ns + 2);
	for (int i = 0; i < q->ns + 2; i++)
		ck_assert_int_eq(o1.dim[i], yd[i]);
	double *want = conv_ref(q, x, w, with_bias ? b : NULL);
	size_t yn = (size_t)q->nb * q->m * prod3(q->out);
	assert_close(o1.data, want, yn, 1e-5);
	ck_assert(memcmp(o1.data, o2.data, sizeof(float) * yn) == 0);
	free(want), free(o1.data), free(o2.data), free(x), free(w), free(b);
}

START_TEST(conv_random)
{
	for (int t = 0; t < 60; t++) {
		gcase q;
		int ns = t % 5 == 0 ? 1 : t % 5 == 1 ? 3 : 2;
		random_case(&q, ns, ns == 3);
		int kind = t % 4;
		if (kind == 3) { /* depthwise */
			q.group = q.c = q.m = irnd(2, 5);
		} else {
			q.group = kind == 0 ? 1 : irnd(2, 3);
			q.c = q.group * irnd(1, 3);
			q.m = q.group * irnd(1, 3);
		}
		run_conv(&q, t % 3 != 0, t % 7 == 0 ? OPTEST_INPUT : OPTEST_INIT);
	}
}
END_TEST

/* Batches: with 2 threads each item (and group) is one single-threaded run; the bits of 1 thread. */
START_TEST(conv_batch)
{
	for (int t = 0; t < 12; t++) {
		gcase q;
		random_case(&q, 2, 0);
		q.nb = irnd(2, 9);
		if (t % 3 == 2) {
			q.group = q.c = q.m = irnd(2, 6);
		} else {
			q.group = t % 3 + 1;
			q.c = q.group * irnd(1, 3);
			q.m = q.group * irnd(1, 3);
		}
		run_conv(&q, t % 2, OPTEST_INIT);
	}
}
END_TEST

START_TEST(conv_auto_pad)
{
	/* 1 x 1 x 5 x 6, 3 x 3 kernel, stride 2: SAME gives 3 x 3; total pads 2 (rows) and 1 (columns). */
	const char *modes[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
	for (int md = 0; md < 3; md++) {
		gcase q = {.ns = 2, .nb = 1, .c = 2, .m = 3, .group = 1,
			   .in = {1, 5, 6}, .k = {1, 3, 3}, .s = {1, 2, 2}, .d = {1, 1, 1}};
		if (md == 2) {
			q.out[0] = 1, q.out[1] = 2, q.out[2] = 2;
		} else {
			q.out[0] = 1, q.out[1] = 3, q.out[2] = 3;
			q.pb[1] = 1, q.pe[1] = 1;
			q.pb[2] = md == 0 ? 0 : 1, q.pe[2] = md == 0 ? 1 : 0;
		}
		int64_t xd[4] = {1, 2, 5, 6}, wd[4] = {3, 2, 3, 3}, s[2] = {2, 2};
		float *x = rand_floats(60), *w = rand_floats(54);
		optest_in in[2] = {tin(OPTEST_INPUT, 4, xd, x), tin(OPTEST_INIT, 4, wd, w)};
		cnnf_attr at[2] = {str_attr("auto_pad", modes[md]), ints_attr("strides", 2, s)};
		optest_out o = {0};
		ck_assert_msg(optest_run("Conv", 17, 2, in, 2, at, 1, &o) == 0, "%s", cnnf_error_get());
		ck_assert_int_eq(o.dim[2], q.out[1]);
		ck_assert_int_eq(o.dim[3], q.out[2]);
		double *want = conv_ref(&q, x, w, NULL);
		assert_close(o.data, want, 3 * prod3(q.out), 1e-5);
		free(want), free(o.data), free(x), free(w);
	}
}
END_TEST

/* ---- ConvTranspose ------------------------------------------------------------------------ */

/* The gather form of the definition: y[o] = sum x[i] w[k] over o = i*s - pb + k*d. */
static double *convt_ref(const gcase *q, const float *x, const float *w, const float *b)
{
	int cg = q->c / q->group, mg = q->m / q->group;
	size_t op = prod3(q->out), ip = prod3(q->in), kt = prod3(q->k);
	double *y = calloc((size_t)q->nb * q->m * op, sizeof(double));
	for (int n = 0; n < q->nb; n++)
		for (int m = 0; m < q->m; m++)
			for (size_t o = 0; o < op; o++) {
				int64_t oc[3] = {(int64_t)(o / (q->out[1] * q->out[2])),
						 (int64_t)(o / q->out[2] % q->out[1]), (int64_t)(o % q->out[2])};
				double s = b ? b[m] : 0;
				int gi = m / mg;
				for (int ci = 0; ci < cg; ci++)
					for (size_t t = 0; t < kt; t++) {
						int64_t kc[3] = {(int64_t)(t / (q->k[1] * q->k[2])),
								 (int64_t)(t / q->k[2] % q->k[1]), (int64_t)(t % q->k[2])};
						int64_t ic[3];
						int ok = 1;
						for (int a = 0; a < 3; a++) {
							int64_t v = oc[a] + q->pb[a] - kc[a] * q->d[a];
							if (v < 0 || v % q->s[a] || v / q->s[a] >= q->in[a])
								ok = 0;
							ic[a] = v / q->s[a];
						}
						if (!ok)
							continue;
						int c = gi * cg + ci;
						s += (double)x[((size_t)n * q->c + c) * ip + (ic[0] * q->in[1] + ic[1]) * q->in[2] + ic[2]] *
						     w[((size_t)c * mg + (m % mg)) * kt + t];
					}
				y[((size_t)n * q->m + m) * op + o] = s;
			}
	return y;
}

/* Whether no two taps of case q ever reach one output sample: dilation * (kernel - 1) < stride. */
static int convt_disjoint(const gcase *q)
{
	for (int a = 0; a < 3; a++)
		if (q->d[a] * (q->k[a] - 1) >= q->s[a])
			return 0;
	return 1;
}

/*
 * The arithmetic promised for disjoint taps, as a plain loop: per output
 * sample, a float sum from 0 with a fused multiply-add for each input
 * channel in order (its one tap, if any), then the bias added in float.
 */
static float *convt_ref_disjoint(const gcase *q, const float *x, const float *w, const float *b)
{
	int cg = q->c / q->group, mg = q->m / q->group;
	size_t op = prod3(q->out), ip = prod3(q->in), kt = prod3(q->k);
	float *y = malloc(sizeof(float) * (size_t)q->nb * q->m * op);
	for (int n = 0; n < q->nb; n++)
		for (int m = 0; m < q->m; m++)
			for (size_t o = 0; o < op; o++) {
				int64_t oc[3] = {(int64_t)(o / (q->out[1] * q->out[2])),
						 (int64_t)(o / q->out[2] % q->out[1]), (int64_t)(o % q->out[2])};
				float s = 0.0f;
				int gi = m / mg;
				for (int ci = 0; ci < cg; ci++)
					for (size_t t = 0; t < kt; t++) {
						int64_t kc[3] = {(int64_t)(t / (q->k[1] * q->k[2])),
								 (int64_t)(t / q->k[2] % q->k[1]), (int64_t)(t % q->k[2])};
						int64_t ic[3];
						int ok = 1;
						for (int a = 0; a < 3; a++) {
							int64_t v = oc[a] + q->pb[a] - kc[a] * q->d[a];
							if (v < 0 || v % q->s[a] || v / q->s[a] >= q->in[a])
								ok = 0;
							ic[a] = v / q->s[a];
						}
						if (!ok)
							continue;
						int c = gi * cg + ci;
						s = fmaf(x[((size_t)n * q->c + c) * ip + (ic[0] * q->in[1] + ic[1]) * q->in[2] + ic[2]],
							 w[((size_t)c * mg + (m % mg)) * kt + t], s);
					}
				y[((size_t)n * q->m + m) * op + o] = s + (b ? b[m] : 0.0f);
			}
	return y;
}

/* The exact result ConvTranspose promises for case q: see op_convtranspose.c. */
static void convt_check_bits(const gcase *q, const float *x, const float *w, const float *b,
			     const float *got, int t)
{
	size_t yn = (size_t)q->nb * q->m * prod3(q->out);
	if (convt_disjoint(q)) {
		float *e = convt_ref_disjoint(q, x, w, b);
		for (size_t i = 0; i < yn; i++)
			if (memcmp(e + i, got + i, sizeof *e))
				ck_assert_msg(0, "case %d sample %zu: %.9g, want %.9g", t, i, got[i], e[i]);
		free(e);
		return;
	}
	/*
	 * Overlapping taps: per output sample, each tap that reaches it a float
	 * sum from 0 with a fused multiply-add per input channel in order; those
	 * added in double in tap order, the bias last, rounded once.
	 */
	int cg = q->c / q->group, mg = q->m / q->group;
	size_t op = prod3(q->out), ip = prod3(q->in), kt = prod3(q->k);
	for (size_t i = 0; i < yn; i++) {
		size_t o = i % op;
		int m = (int)(i / op % (size_t)q->m), n = (int)(i / op / (size_t)q->m), gi = m / mg;
		int64_t oc[3] = {(int64_t)(o / (q->out[1] * q->out[2])), (int64_t)(o / q->out[2] % q->out[1]),
				 (int64_t)(o % q->out[2])};
		double acc = 0;
		for (size_t tp = 0; tp < kt; tp++) {
			int64_t kc[3] = {(int64_t)(tp / (q->k[1] * q->k[2])), (int64_t)(tp / q->k[2] % q->k[1]),
					 (int64_t)(tp % q->k[2])};
			int64_t ic[3];
			int ok = 1;
			for (int a = 0; a < 3; a++) {
				int64_t v = oc[a] + q->pb[a] - kc[a] * q->d[a];
				if (v < 0 || v % q->s[a] || v / q->s[a] >= q->in[a])
					ok = 0;
				ic[a] = v / q->s[a];
			}
			if (!ok)
				continue;
			float s = 0.0f;
			for (int ci = 0; ci < cg; ci++) {
				int c = gi * cg + ci;
				s = fmaf(x[((size_t)n * q->c + c) * ip + (ic[0] * q->in[1] + ic[1]) * q->in[2] + ic[2]],
					 w[((size_t)c * mg + (m % mg)) * kt + tp], s);
			}
			acc += s;
		}
		float e = (float)(acc + (b ? b[m] : 0));
		if (memcmp(&e, got + i, sizeof e))
			ck_assert_msg(0, "case %d sample %zu: %.9g, want %.9g", t, i, got[i], e);
	}
}

START_TEST(convtranspose_random)
{
	for (int t = 0; t < 40; t++) {
		gcase q;
		int ns = t % 5 == 0 ? 1 : t % 5 == 1 ? 3 : 2;
		random_case(&q, ns, 1);
		q.group = t % 3 == 0 ? 1 : irnd(1, 3);
		q.c = q.group * irnd(1, 3);
		q.m = q.group * irnd(1, 2);
		int64_t opad[3] = {0};
		for (int a = 0; a < 3; a++) {
			if (a < 3 - ns)
				continue;
			q.in[a] = irnd(1, 5);
			q.pb[a] = irnd(0, 1), q.pe[a] = irnd(0, 1);
			opad[a - (3 - ns)] = q.s[a] > 1 ? irnd(0, (int)q.s[a] - 1) : 0;
			q.out[a] = q.s[a] * (q.in[a] - 1) + opad[a - (3 - ns)] + q.d[a] * (q.k[a] - 1) + 1 -
				   q.pb[a] - q.pe[a];
			if (q.out[a] < 1) {
				q.pb[a] = q.pe[a] = 0;
				q.out[a] += 0;
				q.out[a] = q.s[a] * (q.in[a] - 1) + opad[a - (3 - ns)] + q.d[a] * (q.k[a] - 1) + 1;
			}
		}
		int mg = q.m / q.group;
		int64_t xd[5], wd[5], bd[1] = {q.m}, k[3], s[3], d[3], pads[6];
		shape_of(&q, q.c, q.in, xd);
		wd[0] = q.c, wd[1] = mg;
		for (int i = 0; i < ns; i++)
			wd[2 + i] = q.k[3 - ns + i];
		add_axes(&q, k, s, d, pads);
		size_t xn = (size_t)q.nb * q.c * prod3(q.in), wn = (size_t)q.c * mg * prod3(q.k);
		float *x = rand_floats(xn), *w = rand_floats(wn), *b = rand_floats((size_t)q.m);
		optest_in in[3] = {tin(OPTEST_INPUT, ns + 2, xd, x), tin(OPTEST_INIT, ns + 2, wd, w),
				   tin(OPTEST_INIT, 1, bd, b)};
		cnnf_attr at[6] = {ints_attr("strides", ns, s), ints_attr("dilations", ns, d),
				   ints_attr("pads", 2 * ns, pads), int_attr("group", q.group),
				   ints_attr("output_padding", ns, opad), ints_attr("kernel_shape", ns, k)};
		optest_out o = {0};
		ck_assert_msg(optest_run("ConvTranspose", 17, 3, in, 6, at, 1, &o) == 0, "%s", cnnf_error_get());
		for (int i = 0; i < ns; i++)
			ck_assert_int_eq(o.dim[2 + i], q.out[3 - ns + i]);
		size_t yn = (size_t)q.nb * q.m * prod3(q.out);
		double *want = convt_ref(&q, x, w, b);
		assert_close(o.data, want, yn, 1e-5);
		convt_check_bits(&q, x, w, b, o.data, t);
		free(want), free(o.data), free(x), free(w), free(b);
	}
}
END_TEST

/*
 * ConvTranspose on the engine, on rows long enough for its vector loops:
 * the up-sampling of U-Nets (kernel == stride 2 or 3, or a kernel below
 * the stride), and overlapping taps (kernel 3 or 4 with stride 2, dilation
 * 2), cropped by pads; groups, a batch, a bias or none, weights as
 * initializers or inputs. Bit for bit against the plain loops of the
 * arithmetic promised, and the same on 1 and 2 threads. The last case has
 * more output channels than one engine run takes (two blocks of tap planes).
 */
START_TEST(convtranspose_engine)
{
	for (int t = 0; t < 25; t++) {
		int overlap = t >= 16, big = t == 24;
		gcase q = {.ns = 2, .nb = 1 + t % 2, .group = t % 4 == 3 ? 2 : 1};
		q.c = q.group * (1 + irnd(1, 9)), q.m = q.group * irnd(1, 5);
		for (int a = 0; a < 3; a++)
			q.in[a] = q.k[a] = q.s[a] = q.d[a] = q.out[a] = 1;
		for (int a = 1; a < 3; a++) {
			if (overlap) {
				q.s[a] = 2, q.k[a] = t % 3 == 0 ? 4 : 3, q.d[a] = t % 5 == 2 ? 2 : 1;
			} else {
				q.k[a] = t % 3 == 2 ? irnd(1, 2) : 2 + (t % 5 == 4);
				q.s[a] = t % 3 == 2 ? 3 : q.k[a];
			}
			q.in[a] = irnd(1, 3) * (a == 2 ? 21 : 3);
			q.pb[a] = t % 4 == 1 ? irnd(0, 2) : 0, q.pe[a] = t % 4 == 1 ? irnd(0, 2) : 0;
		}
		if (big) {
			q.nb = 1, q.group = 1, q.c = 2, q.m = 40;
			q.k[1] = q.k[2] = 4, q.s[1] = q.s[2] = 2, q.d[1] = q.d[2] = 1;
			q.in[1] = q.in[2] = 128, q.pb[1] = q.pb[2] = q.pe[1] = q.pe[2] = 1;
		}
		for (int a = 1; a < 3; a++)
			q.out[a] = q.s[a] * (q.in[a] - 1) + q.d[a] * (q.k[a] - 1) + 1 - q.pb[a] - q.pe[a];
		int mg = q.m / q.group;
		int64_t xd[4] = {q.nb, q.c, q.in[1], q.in[2]}, wd[4] = {q.c, mg, q.k[1], q.k[2]},
			bd[1] = {q.m}, s[2] = {q.s[1], q.s[2]}, d[2] = {q.d[1], q.d[2]},
			pads[4] = {q.pb[1], q.pb[2], q.pe[1], q.pe[2]};
		size_t xn = (size_t)q.nb * q.c * prod3(q.in), wn = (size_t)q.c * mg * prod3(q.k);
		float *x = rand_floats(xn), *w = rand_floats(wn), *b = rand_floats((size_t)q.m);
		int bias = t % 3 != 1;
		optest_in in[3] = {tin(OPTEST_INPUT, 4, xd, x), tin(t % 2 ? OPTEST_INPUT : OPTEST_INIT, 4, wd, w),
				   tin(bias ? OPTEST_INIT : OPTEST_OMIT, 1, bd, b)};
		cnnf_attr at[4] = {ints_attr("strides", 2, s), ints_attr("pads", 4, pads),
				   int_attr("group", q.group), ints_attr("dilations", 2, d)};
		optest_out o1 = {0}, o2 = {0};
		ck_assert_msg(optest_run_threads("ConvTranspose", 17, 3, in, 4, at, 1, &o1, 1) == 0, "%s",
			      cnnf_error_get());
		ck_assert_msg(optest_run_threads("ConvTranspose", 17, 3, in, 4, at, 1, &o2, 2) == 0, "%s",
			      cnnf_error_get());
		ck_assert_int_eq(o1.dim[2], q.out[1]);
		ck_assert_int_eq(o1.dim[3], q.out[2]);
		size_t yn = (size_t)q.nb * q.m * prod3(q.out);
		ck_assert(convt_disjoint(&q) == !overlap);
		convt_check_bits(&q, x, w, bias ? b : NULL, o1.data, t);
		ck_assert(!memcmp(o1.data, o2.data, sizeof(float) * yn));
		double *want = convt_ref(&q, x, w, bias ? b : NULL);
		assert_close(o1.data, want, yn, 1e-5);
		free(want), free(o1.data), free(o2.data), free(x), free(w), free(b);
	}
}
END_TEST

START_TEST(convtranspose_output_shape)
{
	/* 1 x 1 x 3 x 3, 3 x 3 kernel, stride 3 make 9 x 9; output_shape 9 x 8: the column cut before. */
	int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 2, 3, 3}, s[2] = {3, 3}, os[2] = {9, 8};
	float *x = rand_floats(9), *w = rand_floats(18);
	optest_in in[2] = {tin(OPTEST_INPUT, 4, xd, x), tin(OPTEST_INIT, 4, wd, w)};
	cnnf_attr at[2] = {ints_attr("strides", 2, s), ints_attr("output_shape", 2, os)};
	optest_out o = {0};
	ck_assert_msg(optest_run("ConvTranspose", 17, 2, in, 2, at, 1, &o) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(o.dim[1], 2);
	ck_assert_int_eq(o.dim[2], 9);
	ck_assert_int_eq(o.dim[3], 8);
	gcase q = {.ns = 2, .nb = 1, .c = 1, .m = 2, .group = 1, .in = {1, 3, 3}, .k = {1, 3, 3},
		   .s = {1, 3, 3}, .d = {1, 1, 1}, .pb = {0, 0, 1}, .out = {1, 9, 8}};
	double *want = convt_ref(&q, x, w, NULL);
	assert_close(o.data, want, 144, 1e-6);
	free(o.data);
	free(want);
	/* Larger than what the input makes (totals -1): a zero row and column after, as in ONNX's test_convtranspose_output_shape. */
	int64_t big[2] = {10, 10};
	at[1] = ints_attr("output_shape", 2, big);
	ck_assert_msg(optest_run("ConvTranspose", 17, 2, in, 2, at, 1, &o) == 0, "%s", cnnf_error_get());
	q.pb[1] = 0, q.pb[2] = 0, q.out[1] = 10, q.out[2] = 10;
	want = convt_ref(&q, x, w, NULL);
	assert_close(o.data, want, 200, 1e-6);
	free(o.data);
	free(want), free(x), free(w);
}
END_TEST

/* ---- Pools -------------------------------------------------------------------------------- */

static double *pool_ref(const gcase *q, const float *x, int max, int incl, int64_t *ind)
{
	size_t op = prod3(q->out), ip = prod3(q->in), kt = prod3(q->k);
	double *y = calloc((size_t)q->nb * q->c * op, sizeof(double));
	for (size_t pl = 0; pl < (size_t)q->nb * q->c; pl++)
		for (size_t o = 0; o < op; o++) {
			int64_t oc[3] = {(int64_t)(o / (q->out[1] * q->out[2])), (int64_t)(o / q->out[2] % q->out[1]),
					 (int64_t)(o % q->out[2])};
			double s = 0, best = -INFINITY;
			int64_t cnt = 0, pad_cnt = 0, bi = -1;
			for (size_t t = 0; t < kt; t++) {
				int64_t kc[3] = {(int64_t)(t / (q->k[1] * q->k[2])), (int64_t)(t / q->k[2] % q->k[1]),
						 (int64_t)(t % q->k[2])};
				int inside = 1, padded = 1;
				int64_t ic[3];
				for (int a = 0; a < 3; a++) {
					ic[a] = oc[a] * q->s[a] - q->pb[a] + kc[a] * q->d[a];
					if (ic[a] < 0 || ic[a] >= q->in[a])
						inside = 0;
					if (ic[a] >= q->in[a] + q->pe[a])
						padded = 0;
				}
				pad_cnt += padded;
				if (!inside)
					continue;
				size_t idx = (ic[0] * q->in[1] + ic[1]) * q->in[2] + ic[2];
				double v = x[pl * ip + idx];
				s += v, cnt++;
				if (v > best)
					best = v, bi = (int64_t)(pl * ip + idx);
			}
			y[pl * op + o] = max ? best : s / (double)(incl ? pad_cnt : cnt);
			if (ind)
				ind[pl * op + o] = bi;
		}
	return y;
}

static void run_pool(const gcase *q, const char *op, int ceil_mode, int incl, int want_ind)
{
	int max = op[0] == 'M';
	int64_t xd[5], k[3], s[3], d[3], pads[6];
	shape_of(q, q->c, q->in, xd);
	add_axes(q, k, s, d, pads);
	size_t xn = (size_t)q->nb * q->c * prod3(q->in);
	float *x = rand_floats(xn);
	optest_in in[1] = {tin(OPTEST_INPUT, q->ns + 2, xd, x)};
	cnnf_attr at[6] = {ints_attr("kernel_shape", q->ns, k), ints_attr("strides", q->ns, s),
			   ints_attr("pads", 2 * q->ns, pads), int_attr("ceil_mode", ceil_mode),
			   max ? ints_attr("dilations", q->ns, d) : int_attr("count_include_pad", incl)};
	optest_out o[2] = {{0}};
	ck_assert_msg(optest_run(op, 17, 1, in, 5, at, want_ind ? 2 : 1, o) == 0, "%s", cnnf_error_get());
	for (int i = 0; i < q->ns; i++)
		ck_assert_int_eq(o[0].dim[2 + i], q->out[3 - q->ns + i]);
	size_t yn = (size_t)q->nb * q->c * prod3(q->out);
	int64_t *ind = malloc(sizeof(int64_t) * yn);
	double *want = pool_ref(q, x, max, incl, ind);
	assert_close(o[0].data, want, yn, 1e-6);
	if (want_ind) {
		ck_assert_int_eq(o[1].type, CNNF_DT_I64);
		for (size_t i = 0; i < yn; i++)
			ck_assert_int_eq(((int64_t *)o[1].data)[i], ind[i]);
		free(o[1].data);
	}
	free(want), free(ind), free(o[0].data), free(x);
}

START_TEST(pool_random)
{
	for (int t = 0; t < 80; t++) {
		gcase q;
		int ns = t % 5 == 0 ? 1 : t % 5 == 1 ? 3 : 2;
		random_case(&q, ns, ns == 3);
		q.c = q.m = irnd(1, 3);
		q.group = 1;
		int max = t % 2, ceil_mode = (t / 2) % 2;
		for (int a = 3 - ns; a < 3; a++) {
			/* Pads below the window, as ONNX runtimes require. */
			if (q.pb[a] >= q.k[a])
				q.pb[a] = q.k[a] - 1;
			if (q.pe[a] >= q.k[a])
				q.pe[a] = q.k[a] - 1;
			if (!max)
				q.d[a] = 1;
			int64_t ek = q.d[a] * (q.k[a] - 1) + 1;
			if (q.in[a] + q.pb[a] + q.pe[a] < ek)
				q.in[a] = ek;
			int64_t span = q.in[a] + q.pb[a] + q.pe[a] - ek;
			q.out[a] = (ceil_mode ? (span + q.s[a] - 1) / q.s[a] : span / q.s[a]) + 1;
			if (ceil_mode && (q.out[a] - 1) * q.s[a] >= q.in[a] + q.pb[a])
				q.out[a]--;
		}
		run_pool(&q, max ? "MaxPool" : "AveragePool", ceil_mode, (t / 4) % 2, max && t % 3 == 0);
	}
}
END_TEST

/*
 * The 2-D pools' fast path against the general N-D loop, bit for bit: the
 * same input as a 3-D pool of depth 2 (both depths equal) with a window of
 * depth 1 takes the general loop, and its first depth must equal the 2-D
 * result exactly, indices included.
 */
START_TEST(pool_fast_exact)
{
	for (int t = 0; t < 120; t++) {
		int max = t % 2, ceil_mode = (t / 2) % 2, incl = (t / 4) % 2;
		int64_t nb = irnd(1, 3), c = irnd(1, 3), h = irnd(1, 12), w = irnd(1, 12);
		int64_t k[2] = {irnd(1, 4), irnd(1, 4)}, s[2] = {irnd(1, 3), irnd(1, 3)};
		int64_t pads[4];
		for (int a = 0; a < 2; a++) {
			pads[a] = irnd(0, (int)k[a] - 1), pads[a + 2] = irnd(0, (int)k[a] - 1);
			int64_t in = a ? w : h;
			if (in + pads[a] + pads[a + 2] < k[a])
				pads[a] = k[a] - 1, pads[a + 2] = k[a] - 1;
		}
		if (h + pads[0] + pads[2] < k[0] || w + pads[1] + pads[3] < k[1])
			continue;
		size_t plane = (size_t)h * w, xn = (size_t)nb * c * plane;
		float *x = rand_floats(xn), *x3 = malloc(sizeof(float) * 2 * xn);
		if (t % 7 == 0)
			x[irnd(0, (int)xn - 1)] = NAN;
		for (size_t p = 0; p < (size_t)nb * c; p++) {
			memcpy(x3 + 2 * p * plane, x + p * plane, sizeof(float) * plane);
			memcpy(x3 + (2 * p + 1) * plane, x + p * plane, sizeof(float) * plane);
		}
		int64_t xd[4] = {nb, c, h, w}, xd3[5] = {nb, c, 2, h, w};
		int64_t k3[3] = {1, k[0], k[1]}, s3[3] = {1, s[0], s[1]},
			p3[6] = {0, pads[0], pads[1], 0, pads[2], pads[3]};
		const char *op = max ? "MaxPool" : "AveragePool";
		optest_in in2[1] = {tin(OPTEST_INPUT, 4, xd, x)}, in3[1] = {tin(OPTEST_INPUT, 5, xd3, x3)};
		cnnf_attr a2[4] = {ints_attr("kernel_shape", 2, k), ints_attr("strides", 2, s),
				   ints_attr("pads", 4, pads),
				   max ? int_attr("ceil_mode", ceil_mode) : int_attr("count_include_pad", incl)};
		cnnf_attr a3[4] = {ints_attr("kernel_shape", 3, k3), ints_attr("strides", 3, s3),
				   ints_attr("pads", 6, p3), a2[3]};
		int nout = max ? 2 : 1;
		optest_out o2[2] = {{0}}, o3[2] = {{0}};
		ck_assert_msg(optest_run(op, 17, 1, in2, 4, a2, nout, o2) == 0, "%s", cnnf_error_get());
		ck_assert_msg(optest_run(op, 17, 1, in3, 4, a3, nout, o3) == 0, "%s", cnnf_error_get());
		ck_assert_int_eq(o3[0].dim[2], 2);
		size_t oplane = (size_t)o2[0].dim[2] * o2[0].dim[3];
		for (size_t p = 0; p < (size_t)nb * c; p++) {
			ck_assert_msg(!memcmp((float *)o2[0].data + p * oplane,
					      (float *)o3[0].data + 2 * p * oplane, sizeof(float) * oplane),
				      "case %d plane %zu differs", t, p);
			for (size_t i = 0; max && i < oplane; i++)
				ck_assert_int_eq(((int64_t *)o2[1].data)[p * oplane + i] - (int64_t)(p * plane),
						 ((int64_t *)o3[1].data)[2 * p * oplane + i] - (int64_t)(2 * p * plane));
		}
		for (int i = 0; i < nout; i++)
			free(o2[i].data), free(o3[i].data);
		free(x), free(x3);
	}
}
END_TEST

/*
 * The row-at-a-time path of 2-D and 1-D pools without Indices (rows of at
 * least 8 outputs: any stride, dilation, pads, ceil_mode, count_include_pad)
 * against the general N-D loop, bit for bit, as above; on 1 and 2 threads.
 * Inputs hold NaNs and signed zeros, whose first-maximum rule the vector
 * loops must keep. AveragePool takes dilations from opset 19.
 */
START_TEST(pool_rows_exact)
{
	for (int t = 0; t < 200; t++) {
		int max = t % 2, ceil_mode = (t / 2) % 2, incl = (t / 4) % 2, one_d = t % 5 == 0;
		int64_t nb = irnd(1, 2), c = irnd(1, 3), h = one_d ? 1 : irnd(1, 14), w = irnd(8, 48);
		int64_t k[2] = {one_d ? 1 : irnd(1, 3), irnd(1, 3)}, s[2] = {irnd(1, 3), irnd(1, 3)};
		int64_t d[2] = {1 << irnd(0, 3), 1 << irnd(0, 3)};
		if (t % 3 == 0)
			s[0] = s[1] = 1; /* the dense segmentation's pools: stride 1, taps d apart */
		if (one_d)
			s[0] = d[0] = 1;
		/* Every sixth: no pads either, as in the dense form (rows read in place). */
		int nopad = t % 6 == 0;
		if (nopad && h < d[0] * (k[0] - 1) + 1)
			h = d[0] * (k[0] - 1) + 1;
		if (nopad && (t % 12 == 0 || w < d[1] * (k[1] - 1) + 8))
			w = d[1] * (k[1] - 1) + 8 + irnd(0, 300); /* past a block of 256 outputs at times */
		int64_t pads[4];
		for (int a = 0; a < 2; a++) {
			int64_t ek = d[a] * (k[a] - 1) + 1, in = a ? w : h;
			pads[a] = irnd(0, (int)k[a] - 1), pads[a + 2] = irnd(0, (int)k[a] - 1);
			if (nopad)
				pads[a] = pads[a + 2] = 0;
			if (in + pads[a] + pads[a + 2] < ek)
				pads[a + 2] = ek - in - pads[a];
			if (pads[a + 2] < 0)
				pads[a + 2] = 0;
		}
		size_t plane = (size_t)h * w, xn = (size_t)nb * c * plane;
		float *x = rand_floats(xn), *x3 = malloc(sizeof(float) * 2 * xn);
		for (size_t i = 0; i < xn; i++) {
			if ((t % 4 == 1 || t % 12 == 6) && irnd(0, 9) == 0)
				x[i] = irnd(0, 1) ? 0.0f : -0.0f;
			if ((t % 7 == 0 || t % 18 == 0) && irnd(0, 30) == 0)
				x[i] = NAN;
		}
		for (size_t p = 0; p < (size_t)nb * c; p++) {
			memcpy(x3 + 2 * p * plane, x + p * plane, sizeof(float) * plane);
			memcpy(x3 + (2 * p + 1) * plane, x + p * plane, sizeof(float) * plane);
		}
		int64_t xd[4] = {nb, c, h, w}, xd3[5] = {nb, c, 2, h, w};
		int64_t k3[3] = {1, k[0], k[1]}, s3[3] = {1, s[0], s[1]}, d3[3] = {1, d[0], d[1]},
			p3[6] = {0, pads[0], pads[1], 0, pads[2], pads[3]};
		const char *op = max ? "MaxPool" : "AveragePool";
		int opset = max ? 17 : 19;
		optest_in in2[1] = {tin(OPTEST_INPUT, 4, xd, x)}, in3[1] = {tin(OPTEST_INPUT, 5, xd3, x3)};
		cnnf_attr a2[6] = {ints_attr("kernel_shape", 2, k), ints_attr("strides", 2, s),
				   ints_attr("pads", 4, pads), ints_attr("dilations", 2, d),
				   int_attr("ceil_mode", ceil_mode), int_attr("count_include_pad", incl)};
		cnnf_attr a3[6] = {ints_attr("kernel_shape", 3, k3), ints_attr("strides", 3, s3),
				   ints_attr("pads", 6, p3), ints_attr("dilations", 3, d3), a2[4], a2[5]};
		int nattr = max ? 5 : 6;
		optest_out o1 = {0}, o2 = {0}, o3 = {0};
		ck_assert_msg(optest_run_threads(op, opset, 1, in2, nattr, a2, 1, &o1, 1) == 0, "%s",
			      cnnf_error_get());
		ck_assert_msg(optest_run_threads(op, opset, 1, in2, nattr, a2, 1, &o2, 2) == 0, "%s",
			      cnnf_error_get());
		ck_assert_msg(optest_run(op, opset, 1, in3, nattr, a3, 1, &o3) == 0, "%s", cnnf_error_get());
		size_t oplane = (size_t)o1.dim[2] * o1.dim[3];
		ck_assert(!memcmp(o1.data, o2.data, sizeof(float) * oplane * nb * c));
		for (size_t p = 0; p < (size_t)nb * c; p++)
			ck_assert_msg(!memcmp((float *)o1.data + p * oplane,
					      (float *)o3.data + 2 * p * oplane, sizeof(float) * oplane),
				      "case %d plane %zu differs", t, p);
		free(o1.data), free(o2.data), free(o3.data);
		free(x), free(x3);
	}
}
END_TEST

START_TEST(pool_ceil_edge)
{
	/* 1-D, 4 samples, window 2, stride 3, pad 1 before: floor 1 output; ceil 2, the last starting at 5? no: 3 < 4 + 1. */
	gcase q = {.ns = 1, .nb = 1, .c = 1, .m = 1, .group = 1, .in = {1, 1, 4}, .k = {1, 1, 2},
		   .s = {1, 1, 3}, .d = {1, 1, 1}, .pb = {0, 0, 1}, .out = {1, 1, 2}};
	run_pool(&q, "MaxPool", 1, 0, 1);
	run_pool(&q, "AveragePool", 1, 1, 0);
	/* 5 samples, window 2, stride 2, pad 1 each side: ceil gives (6/2)+1 = 4, but the 4th starts at 6 >= 5 + 1: 3. */
	gcase r = {.ns = 1, .nb = 1, .c = 1, .m = 1, .group = 1, .in = {1, 1, 5}, .k = {1, 1, 2},
		   .s = {1, 1, 2}, .d = {1, 1, 1}, .pb = {0, 0, 1}, .pe = {0, 0, 1}, .out = {1, 1, 3}};
	run_pool(&r, "AveragePool", 1, 0, 0);
	run_pool(&r, "AveragePool", 1, 1, 0);
	run_pool(&r, "MaxPool", 1, 0, 1);
}
END_TEST

START_TEST(pool_global)
{
	int64_t xd[4] = {2, 3, 5, 7};
	float *x = rand_floats(210);
	optest_in in[1] = {tin(OPTEST_INPUT, 4, xd, x)};
	optest_out o = {0}, p = {0};
	ck_assert_int_eq(optest_run("GlobalAveragePool", 17, 1, in, 0, NULL, 1, &o), 0);
	ck_assert_int_eq(optest_run("GlobalMaxPool", 17, 1, in, 0, NULL, 1, &p), 0);
	ck_assert_int_eq(o.ndim, 4);
	ck_assert_int_eq(o.dim[2], 1);
	ck_assert_int_eq(o.dim[3], 1);
	for (int c = 0; c < 6; c++) {
		double s = 0, m = -INFINITY;
		for (int i = 0; i < 35; i++)
			s += x[c * 35 + i], m = x[c * 35 + i] > m ? x[c * 35 + i] : m;
		ck_assert(fabs(((float *)o.data)[c] - s / 35) < 1e-6);
		ck_assert(((float *)p.data)[c] == (float)m);
	}
	free(o.data), free(p.data), free(x);
}
END_TEST

/* ---- BatchNormalization ------------------------------------------------------------------- */

START_TEST(batchnorm)
{
	int64_t xd[4] = {2, 3, 4, 5}, cd[1] = {3};
	float *x = rand_floats(120), sc[3] = {0.5f, -2, 1.25f}, b[3] = {0.1f, 0, -3},
	      mu[3] = {0.2f, -0.1f, 0}, var[3] = {1, 0.25f, 4};
	for (int i = 0; i < 120; i++)
		x[i] *= 100;
	optest_in in[5] = {tin(OPTEST_INPUT, 4, xd, x), tin(OPTEST_INIT, 1, cd, sc),
			   tin(OPTEST_INIT, 1, cd, b), tin(OPTEST_INIT, 1, cd, mu), tin(OPTEST_INIT, 1, cd, var)};
	cnnf_attr at[1] = {{.name = "epsilon", .type = CNNF_ATTR_FLOAT, .f = 1e-3f}};
	optest_out o = {0};
	ck_assert_msg(optest_run("BatchNormalization", 15, 5, in, 1, at, 1, &o) == 0, "%s", cnnf_error_get());
	double want[120];
	for (int i = 0; i < 120; i++) {
		int c = i / 20 % 3;
		want[i] = (x[i] - (double)mu[c]) / sqrt((double)var[c] + (double)1e-3f) * sc[c] + b[c];
	}
	assert_close(o.data, want, 120, 1e-6);
	free(o.data), free(x);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------- */

static void expect_error(const char *op, int opset, int nin, const optest_in *in, int nattr,
			 const cnnf_attr *at, int nout, const char *msg)
{
	optest_out o[2] = {{0}};
	ck_assert_int_eq(optest_run(op, opset, nin, in, nattr, at, nout, o), -1);
	ck_assert_error_has(msg);
}

START_TEST(errors)
{
	int64_t xd[4] = {1, 4, 5, 5}, wd[4] = {6, 2, 3, 3}, bd[1] = {5}, k2[2] = {2, 2},
		k3[2] = {3, 2}, one[1] = {1};
	float *x = rand_floats(100), *w = rand_floats(108), cst[5] = {1, 1, 1, 1, 1};
	optest_in cin[3] = {tin(OPTEST_INPUT, 4, xd, x), tin(OPTEST_INIT, 4, wd, w),
			    tin(OPTEST_INIT, 1, bd, cst)};
	cnnf_attr a;
	a = str_attr("auto_pad", "FOO");
	expect_error("Conv", 17, 2, cin, 1, &a, 1, "attribute 'auto_pad' value 'FOO' not supported");
	a = int_attr("group", 3);
	expect_error("Conv", 17, 2, cin, 1, &a, 1, "attribute 'group' (3) does not divide");
	a = int_attr("group", 1);
	expect_error("Conv", 17, 2, cin, 1, &a, 1, "input 1 (W) has 2 channels per filter");
	a = ints_attr("kernel_shape", 2, k3);
	expect_error("Conv", 17, 2, cin, 1, &a, 1, "attribute 'kernel_shape' does not match input 1 (W)");
	a = ints_attr("strides", 1, one);
	cnnf_attr g2[2] = {int_attr("group", 2), a};
	expect_error("Conv", 17, 2, cin, 2, g2, 1, "attribute 'strides' has 1 values for 2 spatial axes");
	g2[1] = int_attr("group", 2);
	expect_error("Conv", 17, 3, cin, 1, g2, 1, "input 2 (B) must have 6 elements");
	int64_t pads[4] = {-1, 0, 0, 0};
	a = ints_attr("pads", 4, pads);
	expect_error("Conv", 17, 2, cin, 1, &a, 1, "attribute 'pads' value -1 not supported");
	/* Pools. */
	a = int_attr("storage_order", 1);
	cnnf_attr mp[2] = {ints_attr("kernel_shape", 2, k2), a};
	expect_error("MaxPool", 12, 1, cin, 2, mp, 1, "attribute 'storage_order' value 1 not supported");
	expect_error("MaxPool", 12, 1, cin, 0, NULL, 1, "attribute 'kernel_shape' is required");
	mp[1] = ints_attr("dilations", 2, k2);
	expect_error("AveragePool", 18, 1, cin, 2, mp, 1, "attribute 'dilations' not supported");
	mp[1] = int_attr("ceil_mode", 2);
	expect_error("AveragePool", 18, 1, cin, 2, mp, 1, "attribute 'ceil_mode' value 2 not supported");
	int64_t k9[2] = {9, 9};
	mp[0] = ints_attr("kernel_shape", 2, k9);
	expect_error("MaxPool", 12, 1, cin, 1, mp, 1, "leaves no output");
	/* BatchNormalization. */
	int64_t cd[1] = {4};
	optest_in bn[5] = {cin[0], tin(OPTEST_INIT, 1, cd, cst), tin(OPTEST_INIT, 1, cd, cst),
			   tin(OPTEST_INIT, 1, cd, cst), tin(OPTEST_INIT, 1, cd, cst)};
	a = int_attr("training_mode", 1);
	expect_error("BatchNormalization", 15, 5, bn, 1, &a, 1, "attribute 'training_mode' value 1 not supported");
	a = int_attr("spatial", 0);
	expect_error("BatchNormalization", 7, 5, bn, 1, &a, 1, "attribute 'spatial' value 0 not supported");
	expect_error("BatchNormalization", 15, 5, bn, 0, NULL, 2, "output 1 (training statistics) not supported");
	bn[2] = tin(OPTEST_INIT, 1, bd, cst);
	expect_error("BatchNormalization", 15, 5, bn, 0, NULL, 1, "input 2 must be 4 floats");
	/* ConvTranspose: W's first axis is the input channels. */
	int64_t td[4] = {4, 2, 3, 3};
	optest_in tt[2] = {cin[0], tin(OPTEST_INIT, 4, td, w)};
	int64_t opad[2] = {2, 2}, s2[2] = {2, 2};
	cnnf_attr ta[2] = {ints_attr("output_padding", 2, opad), ints_attr("strides", 2, s2)};
	expect_error("ConvTranspose", 17, 2, tt, 2, ta, 1, "attribute 'output_padding' value 2 is not below");
	tt[1] = tin(OPTEST_INIT, 4, wd, w);
	expect_error("ConvTranspose", 17, 2, tt, 0, NULL, 1, "input 1 (W) has 6 input channels, input 0 has 4");
	free(x), free(w);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ops_conv");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 120);
	tcase_add_test(core, conv_random);
	tcase_add_test(core, conv_batch);
	tcase_add_test(core, conv_auto_pad);
	tcase_add_test(core, convtranspose_random);
	tcase_add_test(core, convtranspose_engine);
	tcase_add_test(core, convtranspose_output_shape);
	tcase_add_test(core, pool_random);
	tcase_add_test(core, pool_fast_exact);
	tcase_add_test(core, pool_rows_exact);
	tcase_add_test(core, pool_ceil_edge);
	tcase_add_test(core, pool_global);
	tcase_add_test(core, batchnorm);
	suite_add_tcase(s, core);
	TCase *err = tcase_create("errors");
	tcase_add_test(err, errors);
	suite_add_tcase(s, err);
	return s;
}

int main(void)
{
	return cnnf_test_run(suite()) ? 1 : 0;
}
