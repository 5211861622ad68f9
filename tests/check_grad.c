/* check_grad.c: every layer's backward pass against central finite differences of its forward pass.
 */
#include <math.h>

#include "nn/backprop.h"
#include "engine/conv.h"
#include "nn/grad.h"
#include "engine/kernel.h"
#include "nn/model.h"
#include "nn/net.h"
#include "engine/pool.h"
#include "base/rng.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_model *model_from(const char *text)
{
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "test.cnnf", NULL);
	ck_assert_msg(m != NULL, "model did not load: %s", cnnf_error_get());
	return m;
}

/* n values uniform in [lo, hi) from a fixed stream. */
static void fill(float *v, size_t n, double lo, double hi, uint64_t key)
{
	cnnf_rng r;
	cnnf_rng_derive(&r, 12345, key, 0, 0);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(lo + (hi - lo) * cnnf_rng_uniform(&r));
}

/* Values whose magnitude is at least 0.1: no relu kink within a finite-difference step. */
static void fill_away_from_zero(float *v, size_t n, uint64_t key)
{
	fill(v, n, 0.1, 1.5, key);
	cnnf_rng r;
	cnnf_rng_derive(&r, 999, key, 0, 0);
	for (size_t i = 0; i < n; i++)
		if (cnnf_rng_uniform(&r) < 0.5)
			v[i] = -v[i];
}

/*
 * Analytic a against numeric n: relative error below 1e-3 of the larger of
 * the two, or absolute 1e-3 for gradients below 1.
 */
static double worst;
static void close_enough(double a, double n, const char *what, size_t i)
{
	double scale = fmax(1.0, fmax(fabs(a), fabs(n)));
	double err = fabs(a - n) / scale;
	if (err > worst)
		worst = err;
	ck_assert_msg(err < 1e-3, "%s[%zu]: analytic %.9g, finite differences %.9g", what, i, a, n);
}

/* A layer's output as a function: fills y from the current x and parameters. */
typedef void (*forward_fn)(void *ctx, float *y);

/* L = sum r[i] * y[i] in double. */
static double linear_loss(forward_fn f, void *ctx, const float *r, float *y, size_t ny)
{
	f(ctx, y);
	double l = 0;
	for (size_t i = 0; i < ny; i++)
		l += (double)r[i] * y[i];
	return l;
}

/* dL/dv[i] by central differences with step h, for every i < n; v is restored. */
static void numeric(forward_fn f, void *ctx, const float *r, float *y, size_t ny, float *v,
                    size_t n, double h, double *out)
{
	for (size_t i = 0; i < n; i++) {
		float keep = v[i];
		float hi = (float)(keep + h), lo = (float)(keep - h);
		v[i] = hi;
		double lp = linear_loss(f, ctx, r, y, ny);
		v[i] = lo;
		double lm = linear_loss(f, ctx, r, y, ny);
		v[i] = keep;
		out[i] = (lp - lm) / ((double)hi - (double)lo);
	}
}

/* Compare analytic gradients g[n] of v with finite differences. */
static void check(forward_fn f, void *ctx, const float *r, float *y, size_t ny, float *v,
                  const float *g, size_t n, double h, const char *what)
{
	double *num = malloc(n * sizeof *num);
	numeric(f, ctx, r, y, ny, v, n, h, num);
	for (size_t i = 0; i < n; i++)
		close_enough(g[i], num[i], what, i);
	free(num);
}

/* ---- conv and fc ------------------------------------------------------------------------ */

typedef struct conv_case {
	const char *model; /* a model whose first layer is the one checked */
} conv_case;

static const conv_case conv_cases[] = {
    {"input channels=2 height=7 width=6\nconv out=3 kernel=3 stride=2 pad=1\n"},
    {"input channels=3 height=9 width=8\nconv out=2 kernel=3x2 pad=1 dilation=2\n"},
    {"input channels=2 height=10 width=11\nconv out=4 kernel=2x3 stride=3 pad=2 dilation=2\n"},
    {"input channels=1 height=8 width=8\nconv out=16 kernel=3\n"},
    {"input channels=20 height=5 width=5\nconv out=17 kernel=3 pad=1\n"},
    {"input channels=3 height=4 width=4\nconv out=5 kernel=1\n"},
    {"input channels=3 height=4 width=5\nfc out=4\n"},
};

typedef struct conv_ctx {
	const cnnf_layer *l;
	float *x;
} conv_ctx;

/* The layer's forward pass: the engine, with a kernel made from the layer as net.c makes it. */
static void conv_forward(void *ctx, float *y)
{
	const conv_ctx *c = ctx;
	const cnnf_layer *l = c->l;
	int fc = l->type == CNNF_LAYER_FC;
	cnnf_kernel *k =
	    cnnf_kernel_new(l->out, l->in_c, fc ? l->in_h : l->kh, fc ? l->in_w : l->kw);
	size_t nw = (size_t)(l->bias - l->weight);
	for (size_t i = 0; i < nw; i++)
		k->weights[i] = l->weight[i];
	for (int f = 0; f < l->out; f++)
		k->bias[f] = l->bias[f];
	int pad = fc ? 0 : l->pad, s = fc ? 1 : l->stride, d = fc ? 1 : l->dilation;
	cnnf_conv_geom g = {pad, pad, pad, pad, s, s, d, d, CNNF_BORDER_ZERO};
	cnnf_tensor in = {l->in_c, l->in_h, l->in_w, c->x}, *out = NULL;
	ck_assert_int_eq(cnnf_conv_apply(&in, k, &g, NULL, 1, "conv", &out), 0);
	memcpy(y, out->data, cnnf_tensor_size(out) * sizeof *y);
	cnnf_tensor_free(out);
	cnnf_kernel_free(k);
}

START_TEST(test_conv)
{
	char text[512];
	snprintf(text, sizeof text, "cnnf-model 1\n%sweights init\n", conv_cases[_i].model);
	/* The loader wants a K x 1 x 1 output: add an fc when the layer does not end in one. */
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "t", NULL);
	if (!m) {
		snprintf(text, sizeof text, "cnnf-model 1\n%sfc out=2\nweights init\n",
		         conv_cases[_i].model);
		m = model_from(text);
	}
	cnnf_layer *l = &m->layers[0];
	size_t nx = (size_t)l->in_c * l->in_h * l->in_w,
	       ny = (size_t)l->out_c * l->out_h * l->out_w;
	size_t nw = (size_t)(l->bias - l->weight);
	float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *r = malloc(ny * sizeof *r);
	float *dx = malloc(nx * sizeof *dx), *dw = calloc(nw, sizeof *dw);
	float *db = calloc((size_t)l->out, sizeof *db);
	fill(x, nx, -1, 1, 1);
	fill(l->weight, nw, -1, 1, 2);
	fill(l->bias, (size_t)l->out, -1, 1, 3);
	fill(r, ny, -1, 1, 4);
	cnnf_grad_conv_plan *p = cnnf_grad_conv_plan_new(l);
	ck_assert_ptr_nonnull(p);
	float *work = malloc((cnnf_grad_conv_work(p) + 1) * sizeof *work);
	cnnf_grad_conv(p, x, r, dx, dw, db, work);
	conv_ctx c = {l, x};
	worst = 0;
	/* Linear in each of x, w and b: any step is exact but for rounding; a large one keeps that
	 * small. */
	check(conv_forward, &c, r, y, ny, x, dx, nx, 0.25, "dx");
	check(conv_forward, &c, r, y, ny, l->weight, dw, nw, 0.25, "dw");
	check(conv_forward, &c, r, y, ny, l->bias, db, (size_t)l->out, 0.25, "db");
	/* Gradients add up: a second call doubles dw and db. */
	float *dw2 = malloc(nw * sizeof *dw2);
	memcpy(dw2, dw, nw * sizeof *dw2);
	cnnf_grad_conv(p, x, r, NULL, dw, db, work);
	for (size_t i = 0; i < nw; i++)
		ck_assert_float_eq_tol(dw[i], 2 * dw2[i], 1e-5f * (1 + fabsf(dw2[i])));
	free(dw2);
	cnnf_grad_conv_plan_free(p);
	free(work);
	free(x);
	free(y);
	free(r);
	free(dx);
	free(dw);
	free(db);
	cnnf_model_free(m);
}
END_TEST

/* Worked by hand: 1x3x3 input, one 2x2 filter, dy = 1 everywhere. */
START_TEST(test_conv_hand)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=3 width=3\n"
	                           "conv out=1 kernel=2\nfc out=2\nweights init\n");
	cnnf_layer *l = &m->layers[0];
	float w[4] = {1, 2, 3, 4};
	memcpy(l->weight, w, sizeof w);
	float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, dy[4] = {1, 1, 1, 1}, dx[9], dw[4] = {0}, db = 0;
	cnnf_grad_conv_plan *p = cnnf_grad_conv_plan_new(l);
	float work[64];
	ck_assert_uint_le(cnnf_grad_conv_work(p), 64);
	cnnf_grad_conv(p, x, dy, dx, dw, &db, work);
	/* dw[i][j] = sum of the 2x2 window of x at (i, j): 12 16 24 28; db = 4. */
	ck_assert_float_eq(dw[0], 12);
	ck_assert_float_eq(dw[1], 16);
	ck_assert_float_eq(dw[2], 24);
	ck_assert_float_eq(dw[3], 28);
	ck_assert_float_eq(db, 4);
	/* dx: the weights summed over the windows each input is in: 1 3 2 / 4 10 6 / 3 7 4. */
	static const float want[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
	for (int i = 0; i < 9; i++)
		ck_assert_float_eq(dx[i], want[i]);
	cnnf_grad_conv_plan_free(p);
	cnnf_model_free(m);
}
END_TEST

/* ---- relu, pooling, dropout ------------------------------------------------------------- */

typedef struct elem_ctx {
	const cnnf_layer *l;
	float *x;
	const float *mask;
	int kind; /* 0 relu, 1 maxpool, 2 avgpool, 3 dropout */
	size_t n;
} elem_ctx;

static void elem_forward(void *ctx, float *y)
{
	const elem_ctx *c = ctx;
	if (c->kind == 0 || c->kind == 3) {
		for (size_t i = 0; i < c->n; i++)
			y[i] = c->kind == 0 ? (c->x[i] > 0 ? c->x[i] : 0) : c->x[i] * c->mask[i];
		return;
	}
	const cnnf_layer *l = c->l;
	cnnf_tensor in = {l->in_c, l->in_h, l->in_w, c->x}, *out = NULL;
	ck_assert_int_eq(cnnf_pool_apply(&in, c->kind == 1 ? CNNF_POOL_MAX : CNNF_POOL_AVG, l->kh,
	                                 l->kw, l->stride, l->stride, "pool", &out),
	                 0);
	memcpy(y, out->data, cnnf_tensor_size(out) * sizeof *y);
	cnnf_tensor_free(out);
}

START_TEST(test_relu)
{
	enum { N = 200 };
	float x[N], y[N], r[N], dx[N];
	fill_away_from_zero(x, N, 5);
	fill(r, N, -1, 1, 6);
	elem_ctx c = {.x = x, .kind = 0, .n = N};
	elem_forward(&c, y);
	cnnf_grad_relu(y, r, dx, N);
	check(elem_forward, &c, r, y, N, x, dx, N, 1e-2, "relu dx");
	/* In place, as training runs it. */
	memcpy(dx, r, sizeof dx);
	cnnf_grad_relu(y, dx, dx, N);
	for (int i = 0; i < N; i++)
		ck_assert_float_eq(dx[i], x[i] > 0 ? r[i] : 0);
}
END_TEST

static const char *const pools[] = {
    "maxpool kernel=2", "maxpool kernel=3 stride=2", "maxpool kernel=2 stride=3",
    "avgpool kernel=2", "avgpool kernel=3 stride=1", "avgpool kernel=2 stride=3",
};

START_TEST(test_pool)
{
	char text[256];
	snprintf(text, sizeof text,
	         "cnnf-model 1\ninput channels=2 height=9 width=8\n%s\nfc out=2\nweights init\n",
	         pools[_i]);
	cnnf_model *m = model_from(text);
	const cnnf_layer *l = &m->layers[0];
	int max = l->type == CNNF_LAYER_MAXPOOL;
	size_t nx = (size_t)l->in_c * l->in_h * l->in_w,
	       ny = (size_t)l->out_c * l->out_h * l->out_w;
	float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *r = malloc(ny * sizeof *r);
	float *dx = malloc(nx * sizeof *dx);
	/* Distinct values 0.05 apart: no window's maximum changes within a step of 0.01. */
	cnnf_rng g;
	cnnf_rng_seed(&g, 7);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)(0.05 * (double)i - 1);
	for (size_t i = nx - 1; i > 0; i--) {
		size_t j = cnnf_rng_below(&g, i + 1);
		float t = x[i];
		x[i] = x[j];
		x[j] = t;
	}
	fill(r, ny, -1, 1, 8);
	if (max)
		cnnf_grad_maxpool(l, x, r, dx);
	else
		cnnf_grad_avgpool(l, r, dx);
	elem_ctx c = {.l = l, .x = x, .kind = max ? 1 : 2};
	check(elem_forward, &c, r, y, ny, x, dx, nx, 1e-2, pools[_i]);
	free(x);
	free(y);
	free(r);
	free(dx);
	cnnf_model_free(m);
}
END_TEST

/*
 * The max-pool rule: in the forward pass the position of the maximum is
 * kept, in the backward pass the gradient goes there and only there. Input
 * 1x4x4, windows 2x2 stride 2:
 *    1 5 | 2 2        maxima: 5 (row 0, col 1, the first of two 5s),
 *    5 3 | 2 2                2 (row 0, col 2: all equal, the first),
 *   ----+----                 9 (row 3, col 0), 8 (row 2, col 3)
 *    0 0 | 7 8
 *    9 1 | 6 4
 * dy = 10 20 30 40 lands on exactly those four positions.
 */
START_TEST(test_maxpool_routing)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=4 width=4\n"
	                           "maxpool kernel=2\nfc out=2\nweights init\n");
	float x[16] = {1, 5, 2, 2, 5, 3, 2, 2, 0, 0, 7, 8, 9, 1, 6, 4};
	float dy[4] = {10, 20, 30, 40}, dx[16];
	cnnf_grad_maxpool(&m->layers[0], x, dy, dx);
	static const float want[16] = {0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 40, 30, 0, 0, 0};
	for (int i = 0; i < 16; i++)
		ck_assert_msg(dx[i] == want[i], "dx[%d] = %g, expected %g", i, dx[i], want[i]);
	/* Overlapping windows (kernel 3, stride 1 on 1x3x4): a maximum shared by both adds up. */
	cnnf_model *m2 = model_from("cnnf-model 1\ninput channels=1 height=3 width=4\n"
	                            "maxpool kernel=3 stride=1\nfc out=2\nweights init\n");
	float x2[12] = {0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0}, dy2[2] = {1.5f, 2.25f}, dx2[12];
	cnnf_grad_maxpool(&m2->layers[0], x2, dy2, dx2);
	for (int i = 0; i < 12; i++)
		ck_assert_float_eq(dx2[i], i == 5 ? 3.75f : 0);
	cnnf_model_free(m);
	cnnf_model_free(m2);
}
END_TEST

START_TEST(test_dropout)
{
	enum { N = 20000 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *r = malloc(N * sizeof *r);
	float *mask = malloc(N * sizeof *mask), *dx = malloc(N * sizeof *dx);
	cnnf_rng g;
	cnnf_rng_seed(&g, 3);
	cnnf_grad_dropout_mask(0.3, &g, mask, N);
	/* Inverted dropout: 0 with probability 0.3, else 1/0.7. */
	size_t zeros = 0;
	for (int i = 0; i < N; i++) {
		ck_assert(mask[i] == 0 || mask[i] == (float)(1 / 0.7));
		zeros += mask[i] == 0;
	}
	ck_assert_msg(zeros > 0.28 * N && zeros < 0.32 * N, "%zu of %d dropped", zeros, N);
	/* The same stream gives the same mask. */
	cnnf_rng_seed(&g, 3);
	cnnf_grad_dropout_mask(0.3, &g, dx, N);
	ck_assert_mem_eq(dx, mask, N * sizeof *dx);
	/* With this fixed mask, y = x * mask and dx = dy * mask. */
	enum { M = 300 };
	fill(x, M, -1, 1, 9);
	fill(r, M, -1, 1, 10);
	memcpy(dx, r, M * sizeof *dx);
	cnnf_grad_scale(mask, dx, M);
	elem_ctx c = {.x = x, .mask = mask, .kind = 3, .n = M};
	check(elem_forward, &c, r, y, M, x, dx, M, 0.25, "dropout dx");
	free(x);
	free(y);
	free(r);
	free(mask);
	free(dx);
}
END_TEST

/* ---- batchnorm -------------------------------------------------------------------------- */

typedef struct bn_ctx {
	cnnf_layer *l;
	int n;
	float *x, *xhat;
	double *istd;
} bn_ctx;

static void bn_forward(void *ctx, float *y)
{
	bn_ctx *c = ctx;
	cnnf_grad_batchnorm_forward(c->l, c->n, 0, c->l->in_c, c->x, y, c->xhat, c->istd, 0);
}

START_TEST(test_batchnorm)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=3 height=3 width=2\n"
	                           "batchnorm eps=0.001\nfc out=2\nweights init\n");
	cnnf_layer *l = &m->layers[0];
	enum { B = 4, S = 18, N = B * S };
	float x[N], y[N], r[N], xhat[N], dx[N], dg[3] = {0}, db[3] = {0};
	double istd[3];
	fill(x, N, -2, 3, 11);
	fill(r, N, -1, 1, 12);
	fill(l->weight, 3, 0.5, 2, 13);
	fill(l->bias, 3, -1, 1, 14);
	for (int c = 0; c < 3; c++) {
		l->mean[c] = 0;
		l->var[c] = 1;
	}
	bn_ctx c = {l, B, x, xhat, istd};
	bn_forward(&c, y);
	cnnf_grad_batchnorm_backward(l, B, 0, 3, r, dx, xhat, istd, dg, db);
	worst = 0;
	check(bn_forward, &c, r, y, N, x, dx, N, 1e-2, "batchnorm dx");
	check(bn_forward, &c, r, y, N, l->weight, dg, 3, 1e-2, "batchnorm dgamma");
	check(bn_forward, &c, r, y, N, l->bias, db, 3, 1e-2, "batchnorm dbeta");
	/* Normalised: each channel's xhat has mean 0 and variance var/(var + eps) ~ 1. */
	for (int ch = 0; ch < 3; ch++) {
		double s = 0, s2 = 0;
		for (int b = 0; b < B; b++)
			for (int i = 0; i < 6; i++) {
				double v = xhat[b * S + ch * 6 + i];
				s += v;
				s2 += v * v;
			}
		ck_assert_double_eq_tol(s / 24, 0, 1e-6);
		ck_assert_double_eq_tol(s2 / 24, 1, 1e-3);
	}
	/* Channels split among calls give the same bits. */
	bn_forward(&c, y);
	float y2[N], xhat2[N];
	double istd2[3];
	cnnf_grad_batchnorm_forward(l, B, 0, 1, x, y2, xhat2, istd2, 0);
	cnnf_grad_batchnorm_forward(l, B, 1, 3, x, y2, xhat2, istd2, 0);
	ck_assert_mem_eq(y, y2, sizeof y);
	cnnf_model_free(m);
}
END_TEST

/* The running statistics follow the batch as PyTorch's do (momentum, unbiased variance). */
START_TEST(test_batchnorm_running)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=1 width=2\n"
	                           "batchnorm\nfc out=2\nweights init\n");
	cnnf_layer *l = &m->layers[0];
	l->weight[0] = 1;
	l->bias[0] = 0;
	l->mean[0] = 1;
	l->var[0] = 2;
	/* Two samples of two values: 1 2 3 6; mean 3, biased var 3.5, unbiased 14/3. */
	float x[4] = {1, 2, 3, 6}, y[4], xhat[4];
	double istd[1];
	cnnf_grad_batchnorm_forward(l, 2, 0, 1, x, y, xhat, istd, 0.1);
	ck_assert_float_eq_tol(l->mean[0], 0.9f * 1 + 0.1f * 3, 1e-6f);
	ck_assert_float_eq_tol(l->var[0], 0.9f * 2 + 0.1f * 14.0f / 3, 1e-6f);
	ck_assert_double_eq_tol(istd[0], 1 / sqrt(3.5 + 1e-5), 1e-12);
	ck_assert_float_eq_tol(y[3], (float)(3 / sqrt(3.5 + 1e-5)), 1e-6f);
	cnnf_model_free(m);
}
END_TEST

/* ---- softmax cross-entropy -------------------------------------------------------------- */

START_TEST(test_softmax_xent)
{
	float z[5] = {0.5f, -1.25f, 2, 0.125f, -0.75f}, dz[5];
	double scale = 0.25;
	double loss = cnnf_grad_softmax_xent(z, 5, 2, scale, dz);
	double sum = 0;
	for (int i = 0; i < 5; i++)
		sum += exp((double)z[i]);
	ck_assert_double_eq_tol(loss, log(sum) - 2, 1e-12);
	for (int i = 0; i < 5; i++) {
		float keep = z[i];
		float tmp[5];
		z[i] = keep + 1e-3f;
		double lp = cnnf_grad_softmax_xent(z, 5, 2, 1, tmp);
		z[i] = keep - 1e-3f;
		double lm = cnnf_grad_softmax_xent(z, 5, 2, 1, tmp);
		double hi = (double)(keep + 1e-3f), lo = (double)(keep - 1e-3f);
		z[i] = keep;
		close_enough(dz[i], scale * (lp - lm) / (hi - lo), "softmax dz", (size_t)i);
	}
	/* Huge scores neither overflow nor lose the answer. */
	float big[2] = {1000, 0};
	ck_assert_double_eq_tol(cnnf_grad_softmax_xent(big, 2, 1, 1, dz), 1000, 1e-9);
	ck_assert_float_eq_tol(dz[0], 1, 1e-7f);
	ck_assert_float_eq_tol(dz[1], -1, 1e-7f);
}
END_TEST

/*
 * Weighted cross-entropy through cnnf_backprop_run: an fc layer of 3 scores
 * on 2 inputs, 4 samples, class weights 0.5, 2, 1.25. The loss and the
 * gradient against the formula (sum w[y] nll / sum w[y]) worked out here
 * in double, and against PyTorch float64's cross_entropy(weight=w)
 * (tools/weighted_xent_torch.py prints the numbers recorded below).
 */
START_TEST(test_weighted_loss)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=2 height=1 width=1\n"
	                           "fc out=3\nweights init\n");
	enum { B = 4, K = 3, N = 2 };
	static const float W[K][N] = {{0.5f, -0.25f}, {1, 0.75f}, {-0.5f, 0.125f}};
	static const float bias[K] = {0.125f, -0.25f, 0.375f};
	static const float x[B][N] = {{1, 2}, {-1, 0.5f}, {0.25f, -1.5f}, {2, -0.5f}};
	int labels[B] = {0, 2, 1, 2};
	double cw[K] = {0.5, 2, 1.25};
	cnnf_layer *l = &m->layers[0];
	memcpy(l->weight, W, sizeof W);
	memcpy(l->bias, bias, sizeof bias);
	cnnf_backprop *b = cnnf_backprop_new(m, B, 2);
	ck_assert_ptr_nonnull(b);
	cnnf_backprop_sync(b);
	memcpy(cnnf_backprop_input(b), x, sizeof x);
	float *grad = calloc(m->nparams, sizeof *grad);
	cnnf_backprop_pass p = {.n = B, .labels = labels, .class_weights = cw, .grad = grad};
	ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
	/* The formula, in double. */
	double wsum = 0, wl = 0, plain = 0, dW[K][N] = {{0}}, db[K] = {0};
	for (int s = 0; s < B; s++)
		wsum += cw[labels[s]];
	for (int s = 0; s < B; s++) {
		double z[K], mx = -1e300, e = 0;
		for (int k = 0; k < K; k++) {
			z[k] = bias[k];
			for (int j = 0; j < N; j++)
				z[k] += (double)W[k][j] * x[s][j];
			mx = z[k] > mx ? z[k] : mx;
		}
		for (int k = 0; k < K; k++)
			e += exp(z[k] - mx);
		double nll = log(e) + mx - z[labels[s]];
		plain += nll;
		wl += cw[labels[s]] * nll;
		for (int k = 0; k < K; k++) {
			double d = cw[labels[s]] / wsum * (exp(z[k] - mx) / e - (k == labels[s]));
			db[k] += d;
			for (int j = 0; j < N; j++)
				dW[k][j] += d * x[s][j];
		}
	}
	ck_assert_double_eq_tol(p.wloss, wl / wsum, 1e-6);
	ck_assert_double_eq_tol(p.loss, plain, 1e-5);
	/* PyTorch float64: the weighted mean, and the plain mean it differs from. */
	ck_assert_double_eq_tol(wl / wsum, 1.930658348860975, 1e-12);
	ck_assert_double_eq_tol(plain / B, 1.9356487359608203, 1e-12);
	static const double torch_dW[K * N] = {0.14417002841604437,  -0.55853920618871533,
	                                       0.21035227503676523,  0.65400525219504058,
	                                       -0.35452230345280966, -0.095466046006325259};
	static const double torch_db[K] = {0.29123120054523305, -0.1258785923315679,
	                                   -0.16535260821366526};
	for (int k = 0; k < K; k++) {
		ck_assert_double_eq_tol(grad[l->bias - m->params + k],
		                        db[k], 1e-6);
		ck_assert_double_eq_tol(db[k], torch_db[k], 1e-12);
		for (int j = 0; j < N; j++) {
			ck_assert_double_eq_tol(grad[l->weight - m->params + k * N + j], dW[k][j], 1e-6);
			ck_assert_double_eq_tol(dW[k][j], torch_dW[k * N + j], 1e-12);
		}
	}
	/* Without weights the same batch gives the plain mean: wloss = loss / n. */
	p = (cnnf_backprop_pass){.n = B, .labels = labels, .grad = grad};
	ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
	ck_assert_double_eq_tol(p.wloss, plain / B, 1e-6);
	ck_assert(p.wloss == p.loss / B);
	/* Equal weights are the plain mean's gradient. */
	float *g1 = calloc(m->nparams, sizeof *g1);
	double ones[K] = {3, 3, 3};
	p = (cnnf_backprop_pass){.n = B, .labels = labels, .class_weights = ones, .grad = g1};
	ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
	for (size_t i = 0; i < m->nparams; i++)
		ck_assert_float_eq_tol(g1[i], grad[i], 1e-7f);
	free(g1);
	free(grad);
	cnnf_backprop_free(b);
	cnnf_model_free(m);
}
END_TEST

/* ---- the whole network in training mode -------------------------------------------------- */

/*
 * Every layer type in one network, through cnnf_backprop_run: the gradient
 * of the batch-mean loss with respect to every parameter against central
 * differences of the loss (batch statistics and the dropout masks are part
 * of the function; masks are the same for the same key).
 */
static const char *const whole_net = "cnnf-model 1\n"
                                     "input channels=2 height=9 width=9\n"
                                     "conv out=3 kernel=3 stride=2 pad=1\n" /* 3x5x5 */
                                     "relu\n"
                                     "batchnorm\n"
                                     "maxpool kernel=2 stride=1\n"              /* 3x4x4 */
                                     "conv out=4 kernel=3x2 pad=1 dilation=2\n" /* 4x2x4 */
                                     "dropout p=0.25\n"
                                     "avgpool kernel=2\n" /* 4x1x2 */
                                     "fc out=3\n"
                                     "softmax\n"
                                     "weights init\n";

START_TEST(test_whole_network)
{
	cnnf_model *m = model_from(whole_net);
	enum { B = 5 };
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = 0;
	fill(m->layers[0].weight, 3 * 2 * 9, -0.7, 0.7, 20);
	fill(m->layers[0].bias, 3, -0.2, 0.2, 21);
	fill(m->layers[2].weight, 3, 0.5, 1.5, 22);
	fill(m->layers[2].bias, 3, -0.5, 0.5, 23);
	for (int c = 0; c < 3; c++)
		m->layers[2].var[c] = 1;
	fill(m->layers[4].weight, 4 * 3 * 6, -0.5, 0.5, 24);
	fill(m->layers[4].bias, 4, -0.2, 0.2, 25);
	fill(m->layers[7].weight, 3 * 8, -0.8, 0.8, 26);
	fill(m->layers[7].bias, 3, -0.2, 0.2, 27);
	cnnf_backprop *b = cnnf_backprop_new(m, B, 2);
	ck_assert_ptr_nonnull(b);
	size_t nin = 2 * 9 * 9;
	fill(cnnf_backprop_input(b), B * nin, -1.5, 1.5, 28);
	int labels[B] = {0, 2, 1, 2, 0};
	float *grad = malloc(m->nparams * sizeof *grad);
	cnnf_backprop_pass p = {.n = B, .labels = labels, .seed = 5, .key = 9, .grad = grad};
	ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
	double loss0 = p.loss;
	worst = 0;
	int compared = 0;
	for (size_t i = 0; i < m->nparams; i++) {
		/* Not batchnorm's running statistics: they are not trained (and unused here). */
		const cnnf_layer *bn = &m->layers[2];
		if (m->params + i >= bn->mean && m->params + i < bn->var + 3)
			continue;
		float keep = m->params[i];
		/*
		 * Small enough that no relu or max-pool switch lies within the step for
		 * these values (1e-2 crosses a few), large enough that the float
		 * activations' rounding stays below 2e-4.
		 */
		double h = 1e-3, l[2];
		float v[2] = {(float)(keep + h), (float)(keep - h)};
		for (int s = 0; s < 2; s++) {
			m->params[i] = v[s];
			cnnf_backprop_sync(b);
			cnnf_backprop_pass q = {.n = B, .labels = labels, .seed = 5, .key = 9};
			ck_assert_int_eq(cnnf_backprop_run(b, &q), 0);
			l[s] = q.loss / B;
		}
		m->params[i] = keep;
		cnnf_backprop_sync(b);
		close_enough(grad[i], (l[0] - l[1]) / ((double)v[0] - v[1]), "param", i);
		compared++;
	}
	ck_assert_int_eq(compared, (int)m->nparams - 6);
	/* Restored parameters give the same loss: nothing else changed (no running statistics). */
	cnnf_backprop_pass q = {.n = B, .labels = labels, .seed = 5, .key = 9};
	ck_assert_int_eq(cnnf_backprop_run(b, &q), 0);
	ck_assert_double_eq(q.loss, loss0);
	free(grad);
	cnnf_backprop_free(b);
	cnnf_model_free(m);
}
END_TEST

/* The same batch gives the same bits whatever the thread count. */
START_TEST(test_threads_same_bits)
{
	cnnf_model *m = model_from(whole_net);
	cnnf_rng r;
	cnnf_rng_seed(&r, 4);
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = (float)(cnnf_rng_uniform(&r) - 0.5);
	for (int c = 0; c < 3; c++)
		m->layers[2].var[c] = 1;
	enum { B = 37 };
	int labels[B];
	for (int i = 0; i < B; i++)
		labels[i] = i % 3;
	float *ref = NULL;
	for (int threads = 1; threads <= 4; threads++) {
		cnnf_backprop *b = cnnf_backprop_new(m, B, threads);
		fill(cnnf_backprop_input(b), B * 2 * 81, -1, 1, 30);
		float *grad = malloc(m->nparams * sizeof *grad);
		cnnf_backprop_pass p = {
		    .n = B, .labels = labels, .seed = 1, .key = 2, .grad = grad};
		ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
		if (!ref)
			ref = grad;
		else {
			ck_assert_mem_eq(grad, ref, m->nparams * sizeof *grad);
			free(grad);
		}
		cnnf_backprop_free(b);
	}
	free(ref);
	cnnf_model_free(m);
}
END_TEST

/*
 * Training runs patches side by side through the engine; each one's scores
 * are exactly those of cnnf_net_forward() on that patch alone, so the loss
 * is the same to the bit.
 */
START_TEST(test_forward_matches_inference)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=3 height=11 width=10\n"
	                           "conv out=5 kernel=3 pad=2 dilation=2\nrelu\n"
	                           "maxpool kernel=2\n"
	                           "conv out=4 kernel=2x3 stride=2 pad=1\nrelu\n"
	                           "avgpool kernel=2 stride=1\n"
	                           "fc out=3\nweights init\n");
	fill(m->params, m->nparams, -0.5, 0.5, 40);
	enum { B = 21 };
	size_t nin = 3 * 11 * 10;
	cnnf_backprop *b = cnnf_backprop_new(m, B, 2);
	float *in = cnnf_backprop_input(b);
	fill(in, B * nin, -1, 1, 41);
	int labels[B];
	for (int i = 0; i < B; i++)
		labels[i] = i % 3;
	cnnf_backprop_pass p = {.n = B, .labels = labels, .seed = 1, .key = 1};
	ck_assert_int_eq(cnnf_backprop_run(b, &p), 0);
	m->weights_init = 0;
	cnnf_net *net = cnnf_net_new(m, "test", 1, 0);
	double loss = 0;
	int correct = 0;
	for (int s = 0; s < B; s++) {
		cnnf_tensor t = {3, 11, 10, in + s * nin}, *out;
		ck_assert_int_eq(cnnf_net_forward(net, &t, &out), 0);
		float dz[3];
		loss += cnnf_grad_softmax_xent(out->data, 3, labels[s], 1, dz);
		int best = 0;
		for (int c = 1; c < 3; c++)
			if (out->data[c] > out->data[best])
				best = c;
		correct += best == labels[s];
		cnnf_tensor_free(out);
	}
	ck_assert_double_eq(p.loss, loss);
	ck_assert_int_eq(p.correct, correct);
	cnnf_net_free(net);
	cnnf_backprop_free(b);
	cnnf_model_free(m);
}
END_TEST

static Suite *grad_suite(void)
{
	Suite *s = suite_create("grad");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_conv, 0, sizeof conv_cases / sizeof *conv_cases);
	tcase_add_test(tc, test_conv_hand);
	tcase_add_test(tc, test_relu);
	tcase_add_loop_test(tc, test_pool, 0, sizeof pools / sizeof *pools);
	tcase_add_test(tc, test_maxpool_routing);
	tcase_add_test(tc, test_dropout);
	tcase_add_test(tc, test_batchnorm);
	tcase_add_test(tc, test_batchnorm_running);
	tcase_add_test(tc, test_softmax_xent);
	tcase_add_test(tc, test_whole_network);
	tcase_add_test(tc, test_weighted_loss);
	tcase_add_test(tc, test_threads_same_bits);
	tcase_add_test(tc, test_forward_matches_inference);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(grad_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
