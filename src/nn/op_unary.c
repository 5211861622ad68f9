/* op_unary.c: one-tensor elementwise operators: activations, Identity, Dropout, Neg, Exp... */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "base/simd.h"
#include "nn/opmath.h"
#include "nn/ops.h"

enum {
	U_RELU,
	U_LEAKYRELU,
	U_SIGMOID,
	U_TANH,
	U_CLIP,
	U_HARDSIGMOID,
	U_HARDSWISH,
	U_ELU,
	U_SELU,
	U_CELU,
	U_IDENTITY,
	U_DROPOUT,
	U_NEG,
	U_ABS,
	U_EXP,
	U_LOG,
	U_SQRT,
	U_RECIPROCAL,
	U_FLOOR,
	U_CEIL,
	U_ROUND,
	U_ERF,
	U_SOFTPLUS,
	U_SOFTSIGN,
	U_SIGN,
	U_SIN,
	U_COS,
	U_NOT_FOUND
};

/* op_type -> kind, and whether int64 is accepted (1) or float only (0). */
static const struct {
	const char *name;
	int kind, int64_ok;
} kinds[] = {
    {"Relu", U_RELU, 1},
    {"LeakyRelu", U_LEAKYRELU, 0},
    {"Sigmoid", U_SIGMOID, 0},
    {"Tanh", U_TANH, 0},
    {"Clip", U_CLIP, 1},
    {"HardSigmoid", U_HARDSIGMOID, 0},
    {"HardSwish", U_HARDSWISH, 0},
    {"Elu", U_ELU, 0},
    {"Selu", U_SELU, 0},
    {"Celu", U_CELU, 0},
    {"Identity", U_IDENTITY, 1},
    {"Dropout", U_DROPOUT, 1},
    {"Neg", U_NEG, 1},
    {"Abs", U_ABS, 1},
    {"Exp", U_EXP, 0},
    {"Log", U_LOG, 0},
    {"Sqrt", U_SQRT, 0},
    {"Reciprocal", U_RECIPROCAL, 0},
    {"Floor", U_FLOOR, 0},
    {"Ceil", U_CEIL, 0},
    {"Round", U_ROUND, 0},
    {"Erf", U_ERF, 0},
    {"Softplus", U_SOFTPLUS, 0},
    {"Softsign", U_SOFTSIGN, 0},
    {"Sign", U_SIGN, 1},
    {"Sin", U_SIN, 0},
    {"Cos", U_COS, 0},
};

typedef struct unary_param {
	int kind, int64_ok;
	float alpha, beta, gamma;
	float lo, hi;    /* Clip before opset 11 (attributes) */
	int clip_inputs; /* Clip from opset 11: bounds are inputs 1 and 2 */
} unary_param;

static int unary_parse(cnnf_graph *g, cnnf_node *n)
{
	unary_param *p = n->param;
	p->kind = U_NOT_FOUND;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].name, n->op_type) == 0) {
			p->kind = kinds[i].kind;
			p->int64_ok = kinds[i].int64_ok;
		}
	if (p->kind == U_NOT_FOUND)
		return cnnf_graph_node_error(g, n, "operator not supported");
	int rc = 0;
	switch (p->kind) {
	case U_LEAKYRELU:
		rc = cnnf_node_attr_float(g, n, "alpha", 0.01f, &p->alpha);
		break;
	case U_HARDSIGMOID:
		rc = cnnf_node_attr_float(g, n, "alpha", 0.2f, &p->alpha) ||
		     cnnf_node_attr_float(g, n, "beta", 0.5f, &p->beta);
		break;
	case U_ELU:
	case U_CELU:
		rc = cnnf_node_attr_float(g, n, "alpha", 1.0f, &p->alpha);
		break;
	case U_SELU:
		rc = cnnf_node_attr_float(g, n, "alpha", 1.67326319217681884765625f, &p->alpha) ||
		     cnnf_node_attr_float(g, n, "gamma", 1.05070102214813232421875f, &p->gamma);
		break;
	case U_CLIP:
		p->clip_inputs = g->opset >= 11;
		if (p->clip_inputs) {
			if (cnnf_node_attr(n, "min") || cnnf_node_attr(n, "max"))
				return cnnf_graph_node_error(
				    g, n,
				    "attributes 'min' and 'max' are "
				    "inputs from opset 11 (the model's is %d)",
				    g->opset);
		} else {
			rc = cnnf_node_attr_float(g, n, "min", -FLT_MAX, &p->lo) ||
			     cnnf_node_attr_float(g, n, "max", FLT_MAX, &p->hi);
		}
		if (!p->clip_inputs && n->nin > 1)
			return cnnf_graph_node_error(g, n,
			                             "takes 1 input before opset 11 (the model's "
			                             "is %d), not %d",
			                             g->opset, n->nin);
		break;
	case U_DROPOUT:
		if (g->opset < 12 && n->nin > 1)
			return cnnf_graph_node_error(g, n,
			                             "takes 1 input before opset 12 (the model's "
			                             "is %d), not %d",
			                             g->opset, n->nin);
		break;
	}
	if (!rc && p->kind != U_CLIP && p->kind != U_DROPOUT && n->nin > 1)
		return cnnf_graph_node_error(g, n, "has %d inputs, the operator takes 1", n->nin);
	if (!rc && p->kind != U_DROPOUT && n->nout > 1)
		return cnnf_graph_node_error(g, n, "has %d outputs, the operator makes 1", n->nout);
	return rc;
}

static int unary_infer(cnnf_graph *g, cnnf_node *n)
{
	const unary_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	if (x->type == CNNF_DT_I64 && !p->int64_ok)
		return cnnf_graph_node_error(
		    g, n, "input '%s' is int64; the operator takes float only", x->name);
	if (p->kind == U_CLIP)
		for (int i = 1; i < 3; i++) {
			const cnnf_value *b = cnnf_node_in(g, n, i);
			if (!b)
				continue;
			if (b->type != x->type)
				return cnnf_graph_node_error(
				    g, n, "input '%s' is %s but '%s' is %s", b->name,
				    b->type == CNNF_DT_I64 ? "int64" : "float", x->name,
				    x->type == CNNF_DT_I64 ? "int64" : "float");
			if (cnnf_value_count(b) != 1) {
				char s[160];
				return cnnf_graph_node_error(
				    g, n, "input %d ('%s', %s) must be a scalar", i, b->name,
				    cnnf_graph_shape_str(s, sizeof s, b->ndim, b->dim));
			}
		}
	if (p->kind == U_DROPOUT && n->nin > 2) {
		const cnnf_value *t = cnnf_node_in(g, n, 2);
		if (t) {
			int64_t *v;
			size_t c;
			if (cnnf_value_ints(g, n, t, &v, &c))
				return -1;
			int on = c > 0 && v[0] != 0;
			free(v);
			if (on)
				return cnnf_graph_node_error(g, n,
				                             "training_mode true is not supported "
				                             "(inference only)");
		}
	}
	if (cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, x->dim))
		return -1;
	if (p->kind == U_DROPOUT && n->nout > 1)
		return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 1), CNNF_DT_I64, x->ndim,
		                            x->dim);
	return 0;
}

typedef struct unary_job {
	const unary_param *p;
	const void *x;
	void *y;
	float lo, hi; /* Clip's bounds */
	int64_t ilo, ihi;
	int type;
} unary_job;

/*
 * e^r for r <= 0 in float operations alone, so that a loop of it vectorises
 * and gives the same bits at every vector width (no fused multiply-adds:
 * ISO C mode keeps a*b+c two roundings). Cephes's expf: r = n ln2 + f with
 * n whole and |f| <= ln2/2 (ln2 in two parts, so f is exact), e^f by its
 * degree-7 polynomial (within 2 ulp of e^f), times 2^n as two normal
 * powers of two (n/2 and the rest) so that results down to the subnormals
 * round once. r below -110 (and NaN) is taken as -110, whose e^r is 0 in
 * float.
 */
static inline float exp_nonpos(float r)
{
	r = r > -110.0f ? r : -110.0f;
	/* n = round(r / ln2): adding and taking 1.5 * 2^23 rounds to the nearest whole. */
	float n = (r * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float f = (r - n * 0.693359375f) - n * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * f + 1.3981999507e-3f;
	p = p * f + 8.3334519073e-3f;
	p = p * f + 4.1665795894e-2f;
	p = p * f + 1.6666665459e-1f;
	p = p * f + 5.0000001201e-1f;
	p = p * (f * f) + f + 1.0f;
	int ni = (int)n, h = ni / 2; /* -159 <= ni <= 0: both halves within float's normal range */
	union { uint32_t u; float f; } s1 = {(uint32_t)(h + 127) << 23}, s2 = {(uint32_t)(ni - h + 127) << 23};
	return p * s1.f * s2.f;
}

/*
 * 1 / (1 + e^-x) from e^-|x| only, so that neither branch overflows; NaN
 * stays NaN. Within a few ulp of the exact value (check_ops_math).
 */
static inline float sigmoidf(float x)
{
	float e = exp_nonpos(-fabsf(x));
	float y = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
	return x != x ? x : y;
}

/* Element by element, no reductions: CNNF_CLONES gives every vector width the same bits. */
CNNF_CLONES static void unary_f32(const unary_job *j, const float *x, float *y, size_t len)
{
	const unary_param *p = j->p;
	float a = p->alpha, b = p->beta;
	switch (p->kind) {
	case U_RELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? x[i] : 0.0f;
		break;
	case U_LEAKYRELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] >= 0 ? x[i] : a * x[i];
		break;
	case U_SIGMOID:
		for (size_t i = 0; i < len; i++)
			y[i] = sigmoidf(x[i]);
		break;
	case U_TANH:
		for (size_t i = 0; i < len; i++)
			y[i] = tanhf(x[i]);
		break;
	case U_CLIP:
		/* NaN passes through, as in the references */
		for (size_t i = 0; i < len; i++) {
			float v = x[i];
			v = v < j->lo ? j->lo : v;
			y[i] = v > j->hi ? j->hi : v;
		}
		break;
	case U_HARDSIGMOID:
		for (size_t i = 0; i < len; i++) {
			float v = a * x[i] + b;
			y[i] = v < 0 ? 0.0f : v > 1 ? 1.0f : v;
		}
		break;
	case U_HARDSWISH:
		for (size_t i = 0; i < len; i++) {
			float v = x[i] / 6.0f + 0.5f;
			y[i] = x[i] * (v < 0 ? 0.0f : v > 1 ? 1.0f : v);
		}
		break;
	case U_ELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] >= 0 ? x[i] : a * expm1f(x[i]);
		break;
	case U_SELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? p->gamma * x[i] : p->gamma * a * expm1f(x[i]);
		break;
	case U_CELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? x[i] : a * expm1f(x[i] / a);
		break;
	case U_IDENTITY:
	case U_DROPOUT:
		memcpy(y, x, len * sizeof *y);
		break;
	case U_NEG:
		for (size_t i = 0; i < len; i++)
			y[i] = -x[i];
		break;
	case U_ABS:
		for (size_t i = 0; i < len; i++)
			y[i] = fabsf(x[i]);
		break;
	case U_EXP:
		for (size_t i = 0; i < len; i++)
			y[i] = expf(x[i]);
		break;
	case U_LOG:
		for (size_t i = 0; i < len; i++)
			y[i] = logf(x[i]);
		break;
	case U_SQRT:
		for (size_t i = 0; i < len; i++)
			y[i] = sqrtf(x[i]);
		break;
	case U_RECIPROCAL:
		for (size_t i = 0; i < len; i++)
			y[i] = 1.0f / x[i];
		break;
	case U_FLOOR:
		for (size_t i = 0; i < len; i++)
			y[i] = floorf(x[i]);
		break;
	case U_CEIL:
		for (size_t i = 0; i < len; i++)
			y[i] = ceilf(x[i]);
		break;
	case U_ROUND:
		/* halves to even, as ONNX says (the default rounding mode) */
		for (size_t i = 0; i < len; i++)
			y[i] = nearbyintf(x[i]);
		break;
	case U_ERF:
		for (size_t i = 0; i < len; i++)
			y[i] = erff(x[i]);
		break;
	case U_SOFTPLUS:
		/* log(1 + e^x) without overflow for large x */
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
		break;
	case U_SOFTSIGN:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] / (1.0f + fabsf(x[i]));
		break;
	case U_SIGN:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? 1.0f : x[i] < 0 ? -1.0f : x[i];
		break;
	case U_SIN:
		for (size_t i = 0; i < len; i++)
			y[i] = sinf(x[i]);
		break;
	case U_COS:
		for (size_t i = 0; i < len; i++)
			y[i] = cosf(x[i]);
		break;
	}
}

static void unary_i64(const unary_job *j, const int64_t *x, int64_t *y, size_t len)
{
	switch (j->p->kind) {
	case U_RELU:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] > 0 ? x[i] : 0;
		break;
	case U_CLIP:
		for (size_t i = 0; i < len; i++) {
			int64_t v = x[i] < j->ilo ? j->ilo : x[i];
			y[i] = v > j->ihi ? j->ihi : v;
		}
		break;
	case U_IDENTITY:
	case U_DROPOUT:
		memcpy(y, x, len * sizeof *y);
		break;
	case U_NEG:
		/* wrapping, as two's complement hardware does (no undefined behaviour) */
		for (size_t i = 0; i < len; i++)
			y[i] = (int64_t)(0u - (uint64_t)x[i]);
		break;
	case U_ABS:
		for (size_t i = 0; i < len; i++)
			y[i] = x[i] < 0 ? (int64_t)(0u - (uint64_t)x[i]) : x[i];
		break;
	case U_SIGN:
		for (size_t i = 0; i < len; i++)
			y[i] = (x[i] > 0) - (x[i] < 0);
		break;
	}
}

static int unary_worker(void *ctx, size_t begin, size_t end)
{
	const unary_job *j = ctx;
	if (j->type == CNNF_DT_I64)
		unary_i64(j, (const int64_t *)j->x + begin, (int64_t *)j->y + begin, end - begin);
	else
		unary_f32(j, (const float *)j->x + begin, (float *)j->y + begin, end - begin);
	return 0;
}

/* Elements per parallel item: small pieces would cost more in scheduling than they save. */
#define UNARY_BLOCK 4096

typedef struct block_job {
	unary_job *j;
	size_t count;
} block_job;

static int block_worker(void *ctx, size_t begin, size_t end)
{
	const block_job *b = ctx;
	size_t lo = begin * UNARY_BLOCK, hi = end * UNARY_BLOCK;
	if (hi > b->count)
		hi = b->count;
	return unary_worker(b->j, lo, hi);
}

static int unary_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
                         int threads)
{
	const unary_param *p = n->param;
	unary_job j = {.p = p, .x = in[0]->data, .type = in[0]->type};
	size_t count = (size_t)cnnf_value_count(in[0]);
	if (p->kind == U_CLIP) {
		j.lo = p->clip_inputs ? -INFINITY : p->lo;
		j.hi = p->clip_inputs ? INFINITY : p->hi;
		j.ilo = INT64_MIN;
		j.ihi = INT64_MAX;
		if (p->clip_inputs && n->nin > 1 && in[1]) {
			if (j.type == CNNF_DT_I64)
				j.ilo = *(const int64_t *)in[1]->data;
			else
				j.lo = *(const float *)in[1]->data;
		}
		if (p->clip_inputs && n->nin > 2 && in[2]) {
			if (j.type == CNNF_DT_I64)
				j.ihi = *(const int64_t *)in[2]->data;
			else
				j.hi = *(const float *)in[2]->data;
		}
	}
	if (p->kind == U_DROPOUT && n->nout > 1 && out[1]) {
		int64_t *m = out[1]->data;
		for (size_t i = 0; i < count; i++)
			m[i] = 1; /* inference: nothing is dropped */
	}
	if (!out[0])
		return 0;
	j.y = out[0]->data;
	block_job b = {&j, count};
	if (cnnf_parallel_for((count + UNARY_BLOCK - 1) / UNARY_BLOCK, threads, block_worker, &b))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

/* ---- Backward (graph training; the driver is not built yet) ---- */

typedef struct unary_back_job {
	const unary_param *p;
	const float *x, *y, *dy;
	float *dx;
	float lo, hi;
	size_t count;
} unary_back_job;

/*
 * dx += dy * f'(x), element by element (so any thread count gives the same
 * bits). At the kinks the one-sided derivative torch uses: Relu 0 at 0,
 * LeakyRelu and Elu 1 at 0, Clip passes where lo <= x <= hi, HardSwish
 * x / 3 + 0.5 on [-3, 3], HardSigmoid alpha where 0 < alpha x + beta < 1.
 */
CNNF_CLONES static void unary_back_f32(const unary_back_job *j, size_t b, size_t e)
{
	const float *x = j->x, *y = j->y, *d = j->dy;
	float *dx = j->dx, a = j->p->alpha, bb = j->p->beta;
	switch (j->p->kind) {
	case U_RELU:
		for (size_t i = b; i < e; i++)
			dx[i] += x[i] > 0 ? d[i] : 0.0f;
		break;
	case U_LEAKYRELU:
		for (size_t i = b; i < e; i++)
			dx[i] += x[i] >= 0 ? d[i] : a * d[i];
		break;
	case U_SIGMOID:
		for (size_t i = b; i < e; i++)
			dx[i] += d[i] * (y[i] * (1.0f - y[i]));
		break;
	case U_TANH:
		for (size_t i = b; i < e; i++)
			dx[i] += d[i] * (1.0f - y[i] * y[i]);
		break;
	case U_CLIP:
		for (size_t i = b; i < e; i++)
			dx[i] += x[i] >= j->lo && x[i] <= j->hi ? d[i] : 0.0f;
		break;
	case U_HARDSIGMOID:
		for (size_t i = b; i < e; i++) {
			float v = a * x[i] + bb;
			dx[i] += v > 0 && v < 1 ? a * d[i] : 0.0f;
		}
		break;
	case U_HARDSWISH:
		for (size_t i = b; i < e; i++)
			dx[i] += x[i] < -3.0f ? 0.0f : x[i] <= 3.0f ? d[i] * (x[i] / 3.0f + 0.5f) : d[i];
		break;
	case U_ELU:
		for (size_t i = b; i < e; i++)
			dx[i] += x[i] >= 0 ? d[i] : d[i] * (y[i] + a);
		break;
	case U_IDENTITY:
	case U_DROPOUT:
		for (size_t i = b; i < e; i++)
			dx[i] += d[i];
		break;
	}
}

static int unary_back_worker(void *ctx, size_t begin, size_t end)
{
	const unary_back_job *j = ctx;
	size_t lo = begin * UNARY_BLOCK, hi = end * UNARY_BLOCK;
	unary_back_f32(j, lo, hi < j->count ? hi : j->count);
	return 0;
}

static int unary_backward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
			  const float *const *dout, float *const *din, int threads)
{
	const unary_param *p = n->param;
	if (!dout[0] || !din[0])
		return 0;
	if (p->kind == U_DROPOUT && g->training)
		return cnnf_graph_node_error(g, n, "training through Dropout is not implemented yet");
	unary_back_job j = {.p = p, .x = in[0]->data, .y = out[0]->data, .dy = dout[0], .dx = din[0],
			    .lo = -INFINITY, .hi = INFINITY, .count = (size_t)cnnf_value_count(in[0])};
	if (p->kind == U_CLIP) {
		if (!p->clip_inputs) {
			j.lo = p->lo;
			j.hi = p->hi;
		}
		if (p->clip_inputs && n->nin > 1 && in[1])
			j.lo = *(const float *)in[1]->data;
		if (p->clip_inputs && n->nin > 2 && in[2])
			j.hi = *(const float *)in[2]->data;
	}
	if (cnnf_parallel_for((j.count + UNARY_BLOCK - 1) / UNARY_BLOCK, threads, unary_back_worker, &j))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

#define UNARY_OP(NAME, SYM, MAXIN, MAXOUT, BACKWARD)                                               \
	const cnnf_op cnnf_op_##SYM = {                                                            \
	    .name = NAME,                                                                          \
	    .min_in = 1,                                                                           \
	    .max_in = MAXIN,                                                                       \
	    .min_out = 1,                                                                          \
	    .max_out = MAXOUT,                                                                     \
	    .param_size = sizeof(unary_param),                                                     \
	    .parse = unary_parse,                                                                  \
	    .infer = unary_infer,                                                                  \
	    .forward = unary_forward,                                                              \
	    .work = cnnf_opmath_work_out,                                                          \
	    .grad_in = (BACKWARD) ? 1u : 0u,                                                       \
	    .backward = (BACKWARD) ? unary_backward : NULL,                                        \
	};

UNARY_OP("Relu", relu, 1, 1, 1)
UNARY_OP("LeakyRelu", leakyrelu, 1, 1, 1)
UNARY_OP("Sigmoid", sigmoid, 1, 1, 1)
UNARY_OP("Tanh", tanh, 1, 1, 1)
UNARY_OP("Clip", clip, 3, 1, 1)
UNARY_OP("HardSigmoid", hardsigmoid, 1, 1, 1)
UNARY_OP("HardSwish", hardswish, 1, 1, 1)
UNARY_OP("Elu", elu, 1, 1, 1)
UNARY_OP("Selu", selu, 1, 1, 0)
UNARY_OP("Celu", celu, 1, 1, 0)
UNARY_OP("Identity", identity, 1, 1, 1)
UNARY_OP("Dropout", dropout, 3, 2, 1)
UNARY_OP("Neg", neg, 1, 1, 0)
UNARY_OP("Abs", abs, 1, 1, 0)
UNARY_OP("Exp", exp, 1, 1, 0)
UNARY_OP("Log", log, 1, 1, 0)
UNARY_OP("Sqrt", sqrt, 1, 1, 0)
UNARY_OP("Reciprocal", reciprocal, 1, 1, 0)
UNARY_OP("Floor", floor, 1, 1, 0)
UNARY_OP("Ceil", ceil, 1, 1, 0)
UNARY_OP("Round", round, 1, 1, 0)
UNARY_OP("Erf", erf, 1, 1, 0)
UNARY_OP("Softplus", softplus, 1, 1, 0)
UNARY_OP("Softsign", softsign, 1, 1, 0)
UNARY_OP("Sign", sign, 1, 1, 0)
UNARY_OP("Sin", sin, 1, 1, 0)
UNARY_OP("Cos", cos, 1, 1, 0)
