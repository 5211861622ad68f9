/* op_shape.c: the shape arithmetic of dynamic-size exports: Shape, Size, Cast, CastLike, ConstantOfShape, Range, comparisons, Not, Where. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/opdata.h"
#include "nn/opmath.h"
#include "nn/ops.h"

static double out_count(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	return v ? (double)cnnf_value_count(v) : 0;
}

/* ---- Shape and Size (computed from the shapes alone, at prepare time) ---- */

typedef struct shape_param {
	int64_t start, end;
	int has_end;
} shape_param;

static int shape_parse(cnnf_graph *g, cnnf_node *n)
{
	shape_param *p = n->param;
	if (g->opset < 15 && (cnnf_node_attr(n, "start") || cnnf_node_attr(n, "end")))
		return cnnf_graph_node_error(g, n,
					     "attributes 'start' and 'end' are from opset 15 (the "
					     "model's is %d)",
					     g->opset);
	p->has_end = cnnf_node_attr(n, "end") != NULL;
	return cnnf_node_attr_int(g, n, "start", 0, &p->start) ||
	       cnnf_node_attr_int(g, n, "end", 0, &p->end);
}

/* The dims start..end-1 Shape outputs, clamped as opset 15 says. */
static void shape_range(const shape_param *p, int rank, int64_t *start, int64_t *end)
{
	int64_t s = p->start, e = p->has_end ? p->end : rank;
	if (s < 0)
		s += rank;
	if (e < 0)
		e += rank;
	s = s < 0 ? 0 : s > rank ? rank : s;
	e = e < 0 ? 0 : e > rank ? rank : e;
	*start = s;
	*end = e > s ? e : s;
}

static int shape_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t s, e;
	shape_range(n->param, x->ndim, &s, &e);
	int64_t d = e - s;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_I64, 1, &d);
}

static int shape_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	(void)g;
	(void)threads;
	int64_t s, e;
	shape_range(n->param, in[0]->ndim, &s, &e);
	int64_t *o = out[0]->data;
	for (int64_t k = s; k < e; k++)
		o[k - s] = in[0]->dim[k];
	return 0;
}

const cnnf_op cnnf_op_shape = {
	.name = "Shape",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(shape_param),
	.parse = shape_parse,
	.infer = shape_infer,
	.forward = shape_forward,
	.shape_only = 1,
};

static int size_infer(cnnf_graph *g, cnnf_node *n)
{
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_I64, 0, NULL);
}

static int size_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			cnnf_value *const *out, int threads)
{
	(void)g;
	(void)n;
	(void)threads;
	*(int64_t *)out[0]->data = (int64_t)cnnf_value_count(in[0]);
	return 0;
}

const cnnf_op cnnf_op_size = {
	.name = "Size",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.infer = size_infer,
	.forward = size_forward,
	.shape_only = 1,
};

/* ---- Cast and CastLike ---- */

/* ONNX's TensorProto element types that Cast may target. */
enum {
	T_FLOAT = 1,
	T_UINT8 = 2,
	T_INT8 = 3,
	T_UINT16 = 4,
	T_INT16 = 5,
	T_INT32 = 6,
	T_INT64 = 7,
	T_STRING = 8,
	T_BOOL = 9,
	T_FLOAT16 = 10,
	T_DOUBLE = 11,
	T_UINT32 = 12,
	T_UINT64 = 13,
	T_BFLOAT16 = 16
};

typedef struct cast_param {
	int64_t to; /* an ONNX element type; for CastLike 0 (input 1's type) */
} cast_param;

static int cast_parse(cnnf_graph *g, cnnf_node *n)
{
	cast_param *p = n->param;
	if (strcmp(n->op_type, "CastLike") == 0)
		return 0;
	if (!cnnf_node_attr(n, "to"))
		return cnnf_graph_node_error(g, n, "attribute 'to' is missing");
	if (cnnf_node_attr_int(g, n, "to", 0, &p->to))
		return -1;
	switch (p->to) {
	case T_FLOAT: case T_UINT8: case T_INT8: case T_UINT16: case T_INT16: case T_INT32:
	case T_INT64: case T_BOOL: case T_FLOAT16: case T_DOUBLE: case T_UINT32: case T_UINT64:
	case T_BFLOAT16:
		return 0;
	default:
		return cnnf_graph_node_error(g, n, "attribute 'to' value %" PRId64 "%s not supported",
					     p->to, p->to == T_STRING ? " (string)" : "");
	}
}

static int cast_target(const cnnf_graph *g, const cnnf_node *n)
{
	const cast_param *p = n->param;
	if (p->to)
		return (int)p->to;
	const cnnf_value *t = cnnf_node_in(g, n, 1);
	return t->type == CNNF_DT_F32 ? T_FLOAT : T_INT64;
}

static int cast_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int to = cast_target(g, n);
	int type = to == T_FLOAT || to == T_FLOAT16 || to == T_DOUBLE || to == T_BFLOAT16
			   ? CNNF_DT_F32
			   : CNNF_DT_I64;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), type, x->ndim, x->dim);
}

/* f rounded to the nearest float16 (ties to even), overflowing to infinity. */
static float round_float16(float f)
{
	if (!isfinite(f) || f == 0.0f)
		return f;
	float a = fabsf(f);
	if (a >= 65520.0f)
		return copysignf(INFINITY, f);
	float q; /* the spacing of float16 values near a */
	if (a < 6.103515625e-05f) {
		q = 5.9604644775390625e-08f; /* 2^-24, the subnormals' */
	} else {
		int e;
		frexpf(a, &e);
		q = ldexpf(1.0f, e - 11);
	}
	return copysignf(nearbyintf(a / q) * q, f);
}

/* f rounded to the nearest bfloat16 (ties to even). */
static float round_bfloat16(float f)
{
	if (isnan(f))
		return f;
	uint32_t u;
	memcpy(&u, &f, 4);
	u += 0x7fffu + ((u >> 16) & 1u);
	u &= 0xffff0000u;
	memcpy(&f, &u, 4);
	return f;
}

/* An integer wrapped to the width of ONNX type `to`, as C's conversions (and numpy) do. */
static int64_t wrap_int(int64_t v, int to)
{
	switch (to) {
	case T_UINT8: return (uint8_t)v;
	case T_INT8: return (int8_t)v;
	case T_UINT16: return (uint16_t)v;
	case T_INT16: return (int16_t)v;
	case T_INT32: return (int32_t)v;
	case T_UINT32: return (uint32_t)v;
	case T_BOOL: return v != 0;
	default: return v;
	}
}

static int cast_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			cnnf_value *const *out, int threads)
{
	(void)threads;
	const cnnf_value *x = in[0], *y = out[0];
	int to = cast_target(g, n);
	uint64_t count = cnnf_value_count(x);
	if (y->type == CNNF_DT_F32) {
		float *o = y->data;
		for (uint64_t i = 0; i < count; i++) {
			float f = x->type == CNNF_DT_F32 ? ((const float *)x->data)[i]
							 : (float)((const int64_t *)x->data)[i];
			o[i] = to == T_FLOAT16 ? round_float16(f) : to == T_BFLOAT16 ? round_bfloat16(f) : f;
		}
		return 0;
	}
	int64_t *o = y->data;
	if (x->type == CNNF_DT_I64) {
		const int64_t *s = x->data;
		for (uint64_t i = 0; i < count; i++)
			o[i] = wrap_int(s[i], to);
		return 0;
	}
	const float *s = x->data;
	for (uint64_t i = 0; i < count; i++) {
		float f = s[i];
		if (to == T_BOOL) {
			o[i] = f != 0.0f; /* NaN is true, as in numpy */
			continue;
		}
		if (isnan(f) || !(fabsf(f) < 9.2233720368547758e18f))
			return cnnf_graph_node_error(g, n, "element %" PRIu64 " (%g) has no integer value",
						     i, (double)f);
		/* Towards zero, as C's conversion: ONNX leaves values out of the target's range undefined. */
		o[i] = wrap_int((int64_t)f, to);
	}
	return 0;
}

const cnnf_op cnnf_op_cast = {
	.name = "Cast",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(cast_param),
	.parse = cast_parse,
	.infer = cast_infer,
	.forward = cast_forward,
	.work = out_count,
};

const cnnf_op cnnf_op_cast_like = {
	.name = "CastLike",
	.min_in = 2,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(cast_param),
	.parse = cast_parse,
	.infer = cast_infer,
	.forward = cast_forward,
	.work = out_count,
};

/* ---- ConstantOfShape ---- */

typedef struct cos_param {
	int type;
	float f;
	int64_t i;
} cos_param;

static int cos_parse(cnnf_graph *g, cnnf_node *n)
{
	cos_param *p = n->param;
	const cnnf_attr *a = cnnf_node_attr(n, "value");
	p->type = CNNF_DT_F32;
	if (!a)
		return 0;
	if (a->type != CNNF_ATTR_TENSOR || !a->t)
		return cnnf_graph_node_error(g, n, "attribute 'value' must be a tensor");
	if (cnnf_value_count(a->t) != 1)
		return cnnf_graph_node_error(g, n, "attribute 'value' must have one element");
	p->type = a->t->type;
	if (p->type == CNNF_DT_F32)
		p->f = *(const float *)a->t->data;
	else
		p->i = *(const int64_t *)a->t->data;
	return 0;
}

static int cos_infer(cnnf_graph *g, cnnf_node *n)
{
	const cos_param *p = n->param;
	int64_t *shape;
	size_t ns;
	if (cnnf_opdata_const_ints(g, n, 0, "shape", &shape, &ns))
		return -1;
	int rc = -1;
	if (ns > CNNF_GRAPH_MAX_DIMS) {
		cnnf_graph_node_error(g, n, "shape has %zu dimensions, more than %d", ns,
				      CNNF_GRAPH_MAX_DIMS);
		goto out;
	}
	rc = cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), p->type, (int)ns, shape);
out:
	free(shape);
	return rc;
}

static int cos_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		       int threads)
{
	(void)g;
	(void)in;
	(void)threads;
	const cos_param *p = n->param;
	uint64_t count = cnnf_value_count(out[0]);
	if (p->type == CNNF_DT_F32)
		for (uint64_t i = 0; i < count; i++)
			((float *)out[0]->data)[i] = p->f;
	else
		for (uint64_t i = 0; i < count; i++)
			((int64_t *)out[0]->data)[i] = p->i;
	return 0;
}

const cnnf_op cnnf_op_constant_of_shape = {
	.name = "ConstantOfShape",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(cos_param),
	.parse = cos_parse,
	.infer = cos_infer,
	.forward = cos_forward,
	.work = out_count,
};

/* ---- Range ---- */

/* Input i of Range: one element, constant; its value as a double or int64. */
static int range_arg(const cnnf_graph *g, const cnnf_node *n, int i, const char *what, int type,
		     double *f, int64_t *v)
{
	const cnnf_value *x = cnnf_node_in(g, n, i);
	if (!x->is_const || !x->data)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a constant", i, what);
	if (cnnf_value_count(x) != 1 || x->ndim > 1)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a scalar", i, what);
	if (x->type != type)
		return cnnf_graph_node_error(g, n, "inputs 0 and %d have different types", i);
	if (type == CNNF_DT_F32)
		*f = *(const float *)x->data;
	else
		*v = *(const int64_t *)x->data;
	return 0;
}

/* The number of elements of a Range: max(ceil((limit - start) / delta), 0). */
static int range_count(const cnnf_graph *g, const cnnf_node *n, int64_t *count)
{
	int type = cnnf_node_in(g, n, 0)->type;
	double f[3] = {0};
	int64_t v[3] = {0};
	static const char *const what[3] = {"start", "limit", "delta"};
	for (int i = 0; i < 3; i++)
		if (range_arg(g, n, i, what[i], type, &f[i], &v[i]))
			return -1;
	if (type == CNNF_DT_F32) {
		/* In float32, as the spec's function body computes it. */
		float q = ceilf(((float)f[1] - (float)f[0]) / (float)f[2]);
		if (f[2] == 0 || isnan(q) || q > 9.2e18f)
			return cnnf_graph_node_error(g, n, "range of %g to %g by %g has no size", f[0],
						     f[1], f[2]);
		*count = q > 0 ? (int64_t)q : 0;
		return 0;
	}
	if (v[2] == 0)
		return cnnf_graph_node_error(g, n, "delta is 0");
	/* Exactly, in 128 bits: the difference of two int64 can overflow 64. */
	__int128 d = (__int128)v[1] - v[0], s = v[2];
	__int128 q = d / s;
	if (q * s != d && ((d > 0) == (s > 0)))
		q++;
	if (q > INT64_MAX)
		return cnnf_graph_node_error(g, n, "range too long");
	*count = q > 0 ? (int64_t)q : 0;
	return 0;
}

static int range_infer(cnnf_graph *g, cnnf_node *n)
{
	int64_t count;
	if (range_count(g, n, &count))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), cnnf_node_in(g, n, 0)->type, 1,
				    &count);
}

static int range_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	(void)g;
	(void)n;
	(void)threads;
	int64_t count = out[0]->dim[0];
	if (out[0]->type == CNNF_DT_F32) {
		float s = *(const float *)in[0]->data, d = *(const float *)in[2]->data;
		for (int64_t i = 0; i < count; i++)
			((float *)out[0]->data)[i] = s + (float)i * d;
	} else {
		int64_t s = *(const int64_t *)in[0]->data, d = *(const int64_t *)in[2]->data;
		for (int64_t i = 0; i < count; i++)
			((int64_t *)out[0]->data)[i] = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d);
	}
	return 0;
}

const cnnf_op cnnf_op_range = {
	.name = "Range",
	.min_in = 3,
	.max_in = 3,
	.min_out = 1,
	.max_out = 1,
	.infer = range_infer,
	.forward = range_forward,
	.work = out_count,
};

/* ---- Comparisons, Not and Where (booleans are int64 0 and 1) ---- */

/* The output shape of broadcasting inputs first..nin-1 together; all of type `type` if not 0. */
static int bcast_infer(cnnf_graph *g, cnnf_node *n, int first, int same_type, int out_type)
{
	const cnnf_value *a = cnnf_node_in(g, n, first);
	int nd = a->ndim;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	memcpy(d, a->dim, sizeof(int64_t) * (size_t)nd);
	for (int i = first + 1; i < n->nin; i++) {
		const cnnf_value *b = cnnf_node_in(g, n, i);
		if (same_type && b->type != a->type)
			return cnnf_graph_node_error(g, n, "inputs %d and %d have different types",
						     first, i);
		if (cnnf_opmath_broadcast(g, n, nd, d, b->ndim, b->dim, &nd, d))
			return -1;
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), out_type ? out_type : a->type,
				    nd, d);
}

/*
 * Walks the output y in order with the offsets of up to 3 broadcast
 * inputs: calls fn for runs along the last axis (offsets off[], strides
 * step[] 0 or 1, count elements from output element at).
 */
typedef void (*bcast_fn)(void *ctx, uint64_t at, const int64_t *off, const int64_t *step,
			 int64_t count);

static void bcast_walk(const cnnf_value *y, cnnf_value *const *x, int nx, bcast_fn fn, void *ctx)
{
	int64_t st[3][CNNF_GRAPH_MAX_DIMS], idx[CNNF_GRAPH_MAX_DIMS] = {0}, off[3] = {0}, step[3];
	uint64_t count = cnnf_value_count(y);
	if (count == 0)
		return;
	if (y->ndim == 0) {
		step[0] = step[1] = step[2] = 0;
		fn(ctx, 0, off, step, 1);
		return;
	}
	for (int i = 0; i < nx; i++) {
		cnnf_opmath_bstrides(x[i]->ndim, x[i]->dim, y->ndim, y->dim, st[i]);
		step[i] = st[i][y->ndim - 1];
	}
	int last = y->ndim - 1;
	int64_t w = y->dim[last];
	for (uint64_t at = 0; at < count; at += (uint64_t)w) {
		fn(ctx, at, off, step, w);
		for (int k = last - 1; k >= 0; k--) {
			for (int i = 0; i < nx; i++)
				off[i] += st[i][k];
			if (++idx[k] < y->dim[k])
				break;
			for (int i = 0; i < nx; i++)
				off[i] -= idx[k] * st[i][k];
			idx[k] = 0;
		}
	}
}

enum { CMP_EQ, CMP_LT, CMP_GT, CMP_LE, CMP_GE, LOG_AND, LOG_OR, LOG_XOR };

typedef struct cmp_param {
	int op;
} cmp_param;

static int cmp_parse(cnnf_graph *g, cnnf_node *n)
{
	(void)g;
	cmp_param *p = n->param;
	static const char *const names[] = {"Equal", "Less", "Greater", "LessOrEqual",
					    "GreaterOrEqual", "And", "Or", "Xor"};
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(n->op_type, names[i]) == 0)
			p->op = i;
	return 0;
}

static int cmp_infer(cnnf_graph *g, cnnf_node *n)
{
	return bcast_infer(g, n, 0, 1, CNNF_DT_I64);
}

typedef struct cmp_ctx {
	int op;
	const cnnf_value *a, *b;
	int64_t *y;
} cmp_ctx;

#define CMP_LOOP(T, EXPR)                                                                          \
	do {                                                                                       \
		const T *pa = (const T *)c->a->data + off[0], *pb = (const T *)c->b->data + off[1]; \
		for (int64_t i = 0; i < count; i++) {                                              \
			T u = pa[i * step[0]], v = pb[i * step[1]];                                \
			y[i] = (EXPR);                                                             \
		}                                                                                  \
	} while (0)

static void cmp_run(void *ctx, uint64_t at, const int64_t *off, const int64_t *step, int64_t count)
{
	const cmp_ctx *c = ctx;
	int64_t *y = c->y + at;
	if (c->a->type == CNNF_DT_F32) {
		switch (c->op) {
		case CMP_EQ: CMP_LOOP(float, u == v); break;
		case CMP_LT: CMP_LOOP(float, u < v); break;
		case CMP_GT: CMP_LOOP(float, u > v); break;
		case CMP_LE: CMP_LOOP(float, u <= v); break;
		case CMP_GE: CMP_LOOP(float, u >= v); break;
		case LOG_AND: CMP_LOOP(float, u != 0 && v != 0); break;
		case LOG_OR: CMP_LOOP(float, u != 0 || v != 0); break;
		default: CMP_LOOP(float, (u != 0) != (v != 0)); break;
		}
	} else {
		switch (c->op) {
		case CMP_EQ: CMP_LOOP(int64_t, u == v); break;
		case CMP_LT: CMP_LOOP(int64_t, u < v); break;
		case CMP_GT: CMP_LOOP(int64_t, u > v); break;
		case CMP_LE: CMP_LOOP(int64_t, u <= v); break;
		case CMP_GE: CMP_LOOP(int64_t, u >= v); break;
		case LOG_AND: CMP_LOOP(int64_t, u != 0 && v != 0); break;
		case LOG_OR: CMP_LOOP(int64_t, u != 0 || v != 0); break;
		default: CMP_LOOP(int64_t, (u != 0) != (v != 0)); break;
		}
	}
}

static int cmp_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		       int threads)
{
	(void)g;
	(void)threads;
	const cmp_param *p = n->param;
	cmp_ctx c = {.op = p->op, .a = in[0], .b = in[1], .y = out[0]->data};
	bcast_walk(out[0], in, 2, cmp_run, &c);
	return 0;
}

#define CMP_OP(sym, onnx)                                                                          \
	const cnnf_op cnnf_op_##sym = {                                                            \
		.name = onnx,                                                                      \
		.min_in = 2,                                                                       \
		.max_in = 2,                                                                       \
		.min_out = 1,                                                                      \
		.max_out = 1,                                                                      \
		.param_size = sizeof(cmp_param),                                                   \
		.parse = cmp_parse,                                                                \
		.infer = cmp_infer,                                                                \
		.forward = cmp_forward,                                                            \
		.work = out_count,                                                                 \
	};
CMP_OP(equal, "Equal")
CMP_OP(less, "Less")
CMP_OP(greater, "Greater")
CMP_OP(less_or_equal, "LessOrEqual")
CMP_OP(greater_or_equal, "GreaterOrEqual")
CMP_OP(and, "And")
CMP_OP(or, "Or")
CMP_OP(xor, "Xor")
#undef CMP_OP

static int not_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_I64, x->ndim, x->dim);
}

static int not_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		       int threads)
{
	(void)g;
	(void)n;
	(void)threads;
	uint64_t count = cnnf_value_count(in[0]);
	int64_t *y = out[0]->data;
	for (uint64_t i = 0; i < count; i++)
		y[i] = in[0]->type == CNNF_DT_F32 ? ((const float *)in[0]->data)[i] == 0.0f
						  : ((const int64_t *)in[0]->data)[i] == 0;
	return 0;
}

const cnnf_op cnnf_op_not = {
	.name = "Not",
	.min_in = 1,
	.max_in = 1,
	.min_out = 1,
	.max_out = 1,
	.infer = not_infer,
	.forward = not_forward,
	.work = out_count,
};

static int where_infer(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *c = cnnf_node_in(g, n, 0), *x = cnnf_node_in(g, n, 1),
			 *y = cnnf_node_in(g, n, 2);
	if (c->type != CNNF_DT_I64)
		return cnnf_graph_node_error(g, n, "input 0 (condition) must be boolean");
	if (x->type != y->type)
		return cnnf_graph_node_error(g, n, "inputs 1 and 2 have different types");
	int nd = c->ndim;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	memcpy(d, c->dim, sizeof(int64_t) * (size_t)nd);
	if (cnnf_opmath_broadcast(g, n, nd, d, x->ndim, x->dim, &nd, d) ||
	    cnnf_opmath_broadcast(g, n, nd, d, y->ndim, y->dim, &nd, d))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, nd, d);
}

typedef struct where_ctx {
	cnnf_value *const *in;
	char *y;
	size_t es;
} where_ctx;

static void where_run(void *ctx, uint64_t at, const int64_t *off, const int64_t *step,
		      int64_t count)
{
	const where_ctx *w = ctx;
	const int64_t *c = (const int64_t *)w->in[0]->data + off[0];
	const char *x = (const char *)w->in[1]->data, *y = (const char *)w->in[2]->data;
	for (int64_t i = 0; i < count; i++) {
		const char *src = c[i * step[0]] ? x + (size_t)(off[1] + i * step[1]) * w->es
						 : y + (size_t)(off[2] + i * step[2]) * w->es;
		memcpy(w->y + (at + (uint64_t)i) * w->es, src, w->es);
	}
}

static int where_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	(void)g;
	(void)n;
	(void)threads;
	where_ctx w = {.in = in, .y = out[0]->data, .es = cnnf_graph_type_size(out[0]->type)};
	bcast_walk(out[0], in, 3, where_run, &w);
	return 0;
}

const cnnf_op cnnf_op_where = {
	.name = "Where",
	.min_in = 3,
	.max_in = 3,
	.min_out = 1,
	.max_out = 1,
	.infer = where_infer,
	.forward = where_forward,
	.work = out_count,
};
