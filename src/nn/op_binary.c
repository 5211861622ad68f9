/* op_binary.c: broadcasting arithmetic: Add, Sub, Mul, Div, Pow, Sum, Max, Min, Mean, PRelu. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opmath.h"
#include "nn/ops.h"

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_PRELU };

typedef struct binary_param {
	int kind;
	int variadic; /* Sum, Max, Min, Mean: any number of inputs, folded left to right */
	int mean;     /* Mean: the sum divided by the input count at the end */
} binary_param;

static const struct {
	const char *name;
	int kind, variadic, mean;
} kinds[] = {
    {"Add", B_ADD, 0, 0},  {"Sub", B_SUB, 0, 0},     {"Mul", B_MUL, 0, 0}, {"Div", B_DIV, 0, 0},
    {"Pow", B_POW, 0, 0},  {"Sum", B_ADD, 1, 0},     {"Max", B_MAX, 1, 0}, {"Min", B_MIN, 1, 0},
    {"Mean", B_ADD, 1, 1}, {"PRelu", B_PRELU, 0, 0},
};

static int binary_parse(cnnf_graph *g, cnnf_node *n)
{
	binary_param *p = n->param;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i].name, n->op_type) == 0) {
			p->kind = kinds[i].kind;
			p->variadic = kinds[i].variadic;
			p->mean = kinds[i].mean;
			break;
		}
	/* opsets before 7 had 'broadcast' and 'axis'; we support 7 and later only */
	if (cnnf_node_attr(n, "broadcast") || cnnf_node_attr(n, "axis"))
		return cnnf_graph_node_error(g, n, "attribute '%s' (before opset 7) not supported",
		                             cnnf_node_attr(n, "broadcast") ? "broadcast" : "axis");
	for (int i = 0; i < n->nin; i++)
		if (n->in[i] < 0)
			return cnnf_graph_node_error(g, n, "input %d may not be omitted", i);
	return 0;
}

static const char *type_name(int t)
{
	return t == CNNF_DT_I64 ? "int64" : "float";
}

static int binary_infer(cnnf_graph *g, cnnf_node *n)
{
	const binary_param *p = n->param;
	const cnnf_value *a = cnnf_node_in(g, n, 0);
	int nd = a->ndim;
	int64_t d[CNNF_GRAPH_MAX_DIMS];
	memcpy(d, a->dim, sizeof d);
	for (int i = 1; i < n->nin; i++) {
		const cnnf_value *b = cnnf_node_in(g, n, i);
		/* Pow's exponent may have another type: it is converted to the base's */
		if (b->type != a->type && p->kind != B_POW)
			return cnnf_graph_node_error(g, n,
			                             "input '%s' is %s but '%s' is %s (types may "
			                             "not be mixed)",
			                             b->name, type_name(b->type), a->name,
			                             type_name(a->type));
		if (p->kind == B_PRELU) {
			/* the slope broadcasts to X, never X to the slope */
			int no;
			int64_t od[CNNF_GRAPH_MAX_DIMS];
			if (cnnf_opmath_broadcast(g, n, a->ndim, a->dim, b->ndim, b->dim, &no, od))
				return -1;
			if (no != a->ndim || memcmp(od, a->dim, (size_t)no * sizeof *od)) {
				char sa[160], sb[160];
				return cnnf_graph_node_error(
				    g, n, "slope %s does not broadcast to input %s",
				    cnnf_graph_shape_str(sb, sizeof sb, b->ndim, b->dim),
				    cnnf_graph_shape_str(sa, sizeof sa, a->ndim, a->dim));
			}
			continue;
		}
		if (cnnf_opmath_broadcast(g, n, nd, d, b->ndim, b->dim, &nd, d))
			return -1;
	}
	if (a->type == CNNF_DT_I64 && (p->kind == B_PRELU || p->mean))
		return cnnf_graph_node_error(
		    g, n, "input '%s' is int64; the operator takes float only", a->name);
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), a->type, nd, d);
}

typedef struct binary_job {
	int kind, type, nd;
	int64_t od[CNNF_GRAPH_MAX_DIMS];
	int64_t st[2][CNNF_GRAPH_MAX_DIMS]; /* a's and b's strides */
	const void *a, *b;
	void *o;
} binary_job;

static void run_f32(int kind, float *o, const float *a, int64_t sa, const float *b, int64_t sb,
                    int64_t len)
{
	switch (kind) {
	case B_ADD:
		for (int64_t i = 0; i < len; i++)
			o[i] = a[i * sa] + b[i * sb];
		break;
	case B_SUB:
		for (int64_t i = 0; i < len; i++)
			o[i] = a[i * sa] - b[i * sb];
		break;
	case B_MUL:
		for (int64_t i = 0; i < len; i++)
			o[i] = a[i * sa] * b[i * sb];
		break;
	case B_DIV:
		for (int64_t i = 0; i < len; i++)
			o[i] = a[i * sa] / b[i * sb];
		break;
	case B_POW:
		for (int64_t i = 0; i < len; i++)
			o[i] = powf(a[i * sa], b[i * sb]);
		break;
	case B_MAX:
		/* NaN propagates, as in the references */
		for (int64_t i = 0; i < len; i++) {
			float x = a[i * sa], y = b[i * sb];
			o[i] = isnan(x) || x >= y ? x : y;
		}
		break;
	case B_MIN:
		for (int64_t i = 0; i < len; i++) {
			float x = a[i * sa], y = b[i * sb];
			o[i] = isnan(x) || x <= y ? x : y;
		}
		break;
	case B_PRELU:
		for (int64_t i = 0; i < len; i++) {
			float x = a[i * sa];
			o[i] = x < 0 ? x * b[i * sb] : x;
		}
		break;
	}
}

/* x to the power e in integers: 1/x^k for negative k truncated toward zero, as C would. */
static int64_t ipow(int64_t x, int64_t e)
{
	if (e < 0)
		return x == 1 ? 1 : x == -1 ? (e % 2 ? -1 : 1) : 0;
	uint64_t r = 1, b = (uint64_t)x;
	while (e) {
		if (e & 1)
			r *= b;
		b *= b;
		e >>= 1;
	}
	return (int64_t)r;
}

/* Wrapping arithmetic (unsigned) so that overflow is defined, as the references' hardware gives. */
static void run_i64(int kind, int64_t *o, const int64_t *a, int64_t sa, const int64_t *b,
                    int64_t sb, int64_t len)
{
	for (int64_t i = 0; i < len; i++) {
		int64_t x = a[i * sa], y = b[i * sb];
		switch (kind) {
		case B_ADD:
			o[i] = (int64_t)((uint64_t)x + (uint64_t)y);
			break;
		case B_SUB:
			o[i] = (int64_t)((uint64_t)x - (uint64_t)y);
			break;
		case B_MUL:
			o[i] = (int64_t)((uint64_t)x * (uint64_t)y);
			break;
		case B_DIV:
			/* truncated toward zero (C's and ONNX Runtime's integer division); apply()
			 * refused 0 */
			if (y == 0) {
				o[i] = 0;
			} else if (y == -1) {
				o[i] = (int64_t)(0u - (uint64_t)x);
			} else {
				o[i] = x / y;
			}
			break;
		case B_POW:
			o[i] = ipow(x, y);
			break;
		case B_MAX:
			o[i] = x >= y ? x : y;
			break;
		case B_MIN:
			o[i] = x <= y ? x : y;
			break;
		}
	}
}

static int binary_worker(void *ctx, size_t begin, size_t end)
{
	binary_job *j = ctx;
	int nd = j->nd;
	int64_t idx[CNNF_GRAPH_MAX_DIMS];
	int64_t r = (int64_t)begin;
	for (int k = nd - 1; k >= 0; k--) {
		idx[k] = r % j->od[k];
		r /= j->od[k];
	}
	size_t es = cnnf_graph_type_size(j->type);
	int64_t pos = (int64_t)begin;
	while (pos < (int64_t)end) {
		int64_t oa = 0, ob = 0;
		for (int k = 0; k < nd; k++) {
			oa += idx[k] * j->st[0][k];
			ob += idx[k] * j->st[1][k];
		}
		int64_t len = j->od[nd - 1] - idx[nd - 1];
		if (len > (int64_t)end - pos)
			len = (int64_t)end - pos;
		const char *a = (const char *)j->a + (size_t)oa * es;
		const char *b = (const char *)j->b + (size_t)ob * es;
		char *o = (char *)j->o + (size_t)pos * es;
		if (j->type == CNNF_DT_I64) {
			run_i64(j->kind, (int64_t *)o, (const int64_t *)a, j->st[0][nd - 1],
			        (const int64_t *)b, j->st[1][nd - 1], len);
		} else {
			run_f32(j->kind, (float *)o, (const float *)a, j->st[0][nd - 1],
			        (const float *)b, j->st[1][nd - 1], len);
		}
		pos += len;
		idx[nd - 1] += len;
		for (int k = nd - 1; k > 0 && idx[k] >= j->od[k]; k--) {
			idx[k] = 0;
			idx[k - 1]++;
		}
	}
	return 0;
}

/* Elements per parallel item. */
#define BINARY_BLOCK 4096

typedef struct block_job {
	binary_job *j;
	size_t count;
} block_job;

static int block_worker(void *ctx, size_t begin, size_t end)
{
	const block_job *b = ctx;
	size_t hi = end * BINARY_BLOCK;
	return binary_worker(b->j, begin * BINARY_BLOCK, hi > b->count ? b->count : hi);
}

/* o (shape of out) = a op b, a and b broadcast to out; a may be o itself. */
static int apply(const cnnf_graph *g, const cnnf_node *n, int kind, const cnnf_value *out,
                 const void *a, int na, const int64_t *da, const cnnf_value *b, int threads)
{
	binary_job j = {.kind = kind, .type = out->type, .a = a, .b = b->data, .o = out->data};
	memcpy(j.od, out->dim, sizeof j.od);
	cnnf_opmath_bstrides(na, da, out->ndim, out->dim, j.st[0]);
	cnnf_opmath_bstrides(b->ndim, b->dim, out->ndim, out->dim, j.st[1]);
	j.nd = cnnf_opmath_collapse(out->ndim, j.od, 2, j.st);
	size_t count = (size_t)cnnf_value_count(out);
	if (count == 0)
		return 0;
	if (kind == B_DIV && out->type == CNNF_DT_I64) {
		const int64_t *d = b->data;
		for (uint64_t i = 0; i < cnnf_value_count(b); i++)
			if (d[i] == 0)
				return cnnf_graph_node_error(
				    g, n, "integer division by zero (input '%s')", b->name);
	}
	block_job bj = {&j, count};
	if (cnnf_parallel_for((count + BINARY_BLOCK - 1) / BINARY_BLOCK, threads, block_worker,
	                      &bj))
		return cnnf_graph_node_error(g, n, "out of memory");
	return 0;
}

static int binary_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
                          cnnf_value *const *out, int threads)
{
	const binary_param *p = n->param;
	cnnf_value *o = out[0];
	if (p->kind == B_POW && in[1]->type != in[0]->type) {
		/* the exponent converted (int64 from float truncated, as a cast does) */
		cnnf_value e = *in[1];
		uint64_t c = cnnf_value_count(&e);
		if (!(e.data = malloc((size_t)(c ? c : 1) * 8)))
			return cnnf_graph_node_error(g, n, "out of memory");
		for (uint64_t i = 0; i < c; i++) {
			if (in[0]->type == CNNF_DT_F32)
				((float *)e.data)[i] = (float)((const int64_t *)in[1]->data)[i];
			else
				((int64_t *)e.data)[i] = (int64_t)((const float *)in[1]->data)[i];
		}
		e.type = in[0]->type;
		int rc = apply(g, n, p->kind, o, in[0]->data, in[0]->ndim, in[0]->dim, &e, threads);
		free(e.data);
		return rc;
	}
	if (n->nin == 1) {
		/* a variadic operator of one input: that input broadcast (it is the shape already)
		 */
		memcpy(o->data, in[0]->data,
		       (size_t)cnnf_value_count(o) * cnnf_graph_type_size(o->type));
	} else {
		if (apply(g, n, p->kind, o, in[0]->data, in[0]->ndim, in[0]->dim, in[1], threads))
			return -1;
		/* the rest folded into the output in place, left to right like the references */
		for (int i = 2; i < n->nin; i++)
			if (apply(g, n, p->kind, o, o->data, o->ndim, o->dim, in[i], threads))
				return -1;
	}
	if (p->mean) {
		float *y = o->data;
		size_t c = (size_t)cnnf_value_count(o);
		for (size_t i = 0; i < c; i++)
			y[i] /= (float)n->nin;
	}
	return 0;
}

#define BINARY_OP(NAME, SYM, MININ, MAXIN)                                                         \
	const cnnf_op cnnf_op_##SYM = {                                                            \
	    .name = NAME,                                                                          \
	    .min_in = MININ,                                                                       \
	    .max_in = MAXIN,                                                                       \
	    .min_out = 1,                                                                          \
	    .max_out = 1,                                                                          \
	    .param_size = sizeof(binary_param),                                                    \
	    .parse = binary_parse,                                                                 \
	    .infer = binary_infer,                                                                 \
	    .forward = binary_forward,                                                             \
	    .work = cnnf_opmath_work_out,                                                          \
	};

BINARY_OP("Add", add, 2, 2)
BINARY_OP("Sub", sub, 2, 2)
BINARY_OP("Mul", mul, 2, 2)
BINARY_OP("Div", div, 2, 2)
BINARY_OP("Pow", pow, 2, 2)
BINARY_OP("PRelu", prelu, 2, 2)
BINARY_OP("Sum", sum, 1, 64)
BINARY_OP("Max", max, 1, 64)
BINARY_OP("Min", min, 1, 64)
BINARY_OP("Mean", mean, 1, 64)
