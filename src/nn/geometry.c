/* geometry.c: each value's place on the image's grid, the rows each operator reads, receptive fields and tiles. */
#include "nn/geometry.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/*
 * How an operator's output rows map to its input's along one axis: output
 * row t reads input rows
 *   SAME: t;
 *   WIN:  s*t - p + j*d for 0 <= j < k (convolutions, pools, slices, SpaceToDepth);
 *   UP:   floor((k*t + p) / (k*s)) .. floor((k*t + d) / (k*s)) (ConvTranspose,
 *         Resize, DepthToSpace; k 2 for Resize's half-pixel coordinates);
 *   PAD:  t - p, and for t < p or past the end what the mode reads (d: 0
 *         constant, 1 edge, 2 reflect; n the input's rows, not compared).
 */
enum { MAP_SAME, MAP_WIN, MAP_UP, MAP_PAD };

typedef struct geo_map {
	int kind;
	int64_t k, s, p, d;
	int64_t n;
} geo_map;

typedef struct geo_val {
	int grid;           /* on the image's grid (4-d, made from the image) */
	int64_t num[2], den[2];
	int64_t dim[2];     /* its rows and columns for the whole image */
	int needed[2];      /* the last cnnf_geometry_need asked rows of it */
	int64_t need[2][2]; /* those rows, [axis][lo, hi] */
} geo_val;

struct cnnf_geometry {
	const cnnf_graph *g;
	int nval, nnode;
	geo_val *val;
	geo_map (*map)[2]; /* [nnode][axis] */
	char *path;        /* [nnode] the node leads to output 0 (and is not folded) */
	int tileable;
	char why[CNNF_ERROR_MAX];
	int64_t align[2];
	int64_t field[2];
};

/* ---- small arithmetic ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t gcd(int64_t a, int64_t b)
{
	while (b) {
		int64_t t = a % b;
		a = b;
		b = t;
	}
	return a < 0 ? -a : a;
}

/* Scales and alignments stay far below this, or the graph is not tiled. */
#define GEO_LIMIT ((int64_t)1 << 30)

/* ---- the operators ---- */

/* What a row of the table gets: the graph, the node, and where to say why not. */
typedef struct geo_ctx {
	const cnnf_graph *g;
	const cnnf_node *n;
	char *why;
	size_t len;
} geo_ctx;

static int refuse(const geo_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(const geo_ctx *c, const char *fmt, ...)
{
	char msg[CNNF_ERROR_MAX / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->n->name[0])
		snprintf(c->why, c->len, "node '%s' (%s) %s", c->n->name, c->n->op_type, msg);
	else
		snprintf(c->why, c->len, "node %d (%s) %s", (int)(c->n - c->g->node) + 1,
			 c->n->op_type, msg);
	return -1;
}

/* An ints attribute of two values (one per spatial axis), or def; pads: four. */
static int attr_pair(const geo_ctx *c, const char *name, int64_t def, int64_t *out, size_t want)
{
	const int64_t *v;
	size_t count;
	if (cnnf_node_attr_ints(c->g, c->n, name, &v, &count))
		return refuse(c, "has a bad attribute '%s'", name);
	if (!v) {
		for (size_t i = 0; i < want; i++)
			out[i] = def;
		return 0;
	}
	if (count != want)
		return refuse(c, "has %zu values in '%s' for 2 spatial axes", count, name);
	memcpy(out, v, want * sizeof *v);
	return 0;
}

static int attr_string(const geo_ctx *c, const char *name, const char *def, const char **out)
{
	if (cnnf_node_attr_string(c->g, c->n, name, def, out))
		return refuse(c, "has a bad attribute '%s'", name);
	return 0;
}

static int attr_int(const geo_ctx *c, const char *name, int64_t def, int64_t *out)
{
	if (cnnf_node_attr_int(c->g, c->n, name, def, out))
		return refuse(c, "has a bad attribute '%s'", name);
	return 0;
}

/* An axis of rank 4 as 0..3 (negative counts from the end), or -1. */
static int axis4(int64_t a)
{
	if (a < 0)
		a += 4;
	return a >= 0 && a < 4 ? (int)a : -1;
}

/* The elements of constant input i as int64 (malloc'd), or -1 (why set). */
static int const_ints(const geo_ctx *c, int i, int64_t **out, size_t *count)
{
	const cnnf_value *v = cnnf_node_in(c->g, c->n, i);
	if (!v) {
		*out = NULL;
		*count = 0;
		return 0;
	}
	if (!v->is_const || !v->data)
		return refuse(c, "reads input %d from the image", i);
	/* cnnf_value_ints sets the error buffer on failure; what was there is kept. */
	char saved[CNNF_ERROR_MAX];
	snprintf(saved, sizeof saved, "%s", cnnf_error_get());
	int rc = cnnf_value_ints(c->g, c->n, v, out, count);
	cnnf_error("%s", saved);
	return rc ? refuse(c, "has input %d that is not whole numbers", i) : 0;
}

/* Elementwise over the spatial axes: the map is SAME; the inputs are checked by the caller. */
static int map_same(const geo_ctx *c, geo_map *m)
{
	(void)c;
	m[0].kind = m[1].kind = MAP_SAME;
	return 0;
}

/* Kernel, strides, dilations and pads of a window op (Conv, pools), kernel from kdim when not given. */
static int window(const geo_ctx *c, geo_map *m, const int64_t *kdim, int has_dil)
{
	const cnnf_value *x = cnnf_node_in(c->g, c->n, 0);
	int64_t k[2], s[2], d[2] = {1, 1}, p[4];
	const char *ap;
	if (cnnf_node_attr(c->n, "kernel_shape")) {
		if (attr_pair(c, "kernel_shape", 1, k, 2))
			return -1;
	} else if (kdim) {
		k[0] = kdim[0];
		k[1] = kdim[1];
	} else {
		return refuse(c, "has no kernel_shape");
	}
	if (attr_pair(c, "strides", 1, s, 2) || attr_pair(c, "pads", 0, p, 4) ||
	    (has_dil && attr_pair(c, "dilations", 1, d, 2)) ||
	    attr_string(c, "auto_pad", "NOTSET", &ap))
		return -1;
	for (int a = 0; a < 2; a++) {
		int64_t pb = p[a];
		if (!strcmp(ap, "VALID")) {
			pb = 0;
		} else if (!strncmp(ap, "SAME_", 5)) {
			/* The padding follows the size: tiles check that it does not change. */
			int64_t in = x->dim[2 + a], ek = d[a] * (k[a] - 1) + 1;
			int64_t out = (in + s[a] - 1) / s[a], total = (out - 1) * s[a] + ek - in;
			if (total < 0)
				total = 0;
			pb = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
		}
		if (k[a] < 1 || s[a] < 1 || d[a] < 1)
			return refuse(c, "has a kernel, stride or dilation below 1");
		m[a] = (geo_map){.kind = MAP_WIN, .k = k[a], .s = s[a], .p = pb, .d = d[a]};
	}
	return 0;
}

static int map_conv(const geo_ctx *c, geo_map *m)
{
	const cnnf_value *w = cnnf_node_in(c->g, c->n, 1);
	if (!w || w->ndim != 4)
		return refuse(c, "is not a 2-D convolution");
	return window(c, m, w->dim + 2, 1);
}

static int map_maxpool(const geo_ctx *c, geo_map *m)
{
	/* Indices count from the image's corner: a tile's would not. */
	if (cnnf_node_out(c->g, c->n, 1))
		return refuse(c, "gives indices, which count from the corner of the image");
	return window(c, m, NULL, c->g->opset >= 10);
}

static int map_avgpool(const geo_ctx *c, geo_map *m)
{
	return window(c, m, NULL, c->g->opset >= 19);
}

static int map_convtranspose(const geo_ctx *c, geo_map *m)
{
	const cnnf_value *w = cnnf_node_in(c->g, c->n, 1);
	const char *ap;
	if (!w || w->ndim != 4)
		return refuse(c, "is not a 2-D transposed convolution");
	int64_t k[2] = {w->dim[2], w->dim[3]}, s[2], d[2], p[4];
	if (cnnf_node_attr(c->n, "kernel_shape") && attr_pair(c, "kernel_shape", 1, k, 2))
		return -1;
	if (attr_pair(c, "strides", 1, s, 2) || attr_pair(c, "dilations", 1, d, 2) ||
	    attr_pair(c, "pads", 0, p, 4) || attr_string(c, "auto_pad", "NOTSET", &ap))
		return -1;
	if (cnnf_node_attr(c->n, "output_shape") || !strncmp(ap, "SAME_", 5))
		return refuse(c, "takes its padding from the output size");
	for (int a = 0; a < 2; a++) {
		int64_t pb = strcmp(ap, "VALID") ? p[a] : 0;
		if (k[a] < 1 || s[a] < 1 || d[a] < 1)
			return refuse(c, "has a kernel, stride or dilation below 1");
		/* out[t] = sum of in[u] w[j] over s*u - p + j*d = t. */
		m[a] = (geo_map){.kind = MAP_UP, .k = 1, .s = s[a],
				 .p = pb - (k[a] - 1) * d[a] + s[a] - 1, .d = pb};
	}
	return 0;
}

static int map_depth_to_space(const geo_ctx *c, geo_map *m)
{
	int64_t b;
	if (attr_int(c, "blocksize", 0, &b))
		return -1;
	if (b < 1)
		return refuse(c, "has blocksize %" PRId64, b);
	for (int a = 0; a < 2; a++)
		m[a] = (geo_map){.kind = MAP_UP, .k = 1, .s = b, .p = 0, .d = 0};
	return 0;
}

static int map_space_to_depth(const geo_ctx *c, geo_map *m)
{
	int64_t b;
	if (attr_int(c, "blocksize", 0, &b))
		return -1;
	if (b < 1)
		return refuse(c, "has blocksize %" PRId64, b);
	for (int a = 0; a < 2; a++)
		m[a] = (geo_map){.kind = MAP_WIN, .k = b, .s = b, .p = 0, .d = 1};
	return 0;
}

/* Resize and Upsample by whole factors (what the scales say is what the shapes say). */
static int map_resize(const geo_ctx *c, geo_map *m)
{
	const cnnf_graph *g = c->g;
	const cnnf_node *n = c->n;
	const cnnf_value *x = cnnf_node_in(g, n, 0), *y = cnnf_node_out(g, n, 0);
	int upsample = !strcmp(n->op_type, "Upsample");
	const char *mode, *coord = "asymmetric", *nearest = "floor", *policy;
	if (attr_string(c, "mode", "nearest", &mode) ||
	    attr_string(c, "keep_aspect_ratio_policy", "stretch", &policy))
		return -1;
	if (!upsample && g->opset >= 11 &&
	    (attr_string(c, "coordinate_transformation_mode", "half_pixel", &coord) ||
	     attr_string(c, "nearest_mode", "round_prefer_floor", &nearest)))
		return -1;
	if (strcmp(policy, "stretch"))
		return refuse(c, "keeps the aspect ratio of the whole image");
	for (int k = 0; k < 2; k++)
		if (x->dim[k] != y->dim[k])
			return refuse(c, "resizes axis %d, not the image's rows and columns", k);
	/* The scales the operator computes with, when it is given scales. */
	const float *sc = NULL;
	size_t nsc = 0;
	const cnnf_value *sv = cnnf_node_in(g, n, upsample || g->opset < 11 ? 1 : 2);
	if (upsample && g->opset < 9) {
		if (cnnf_node_attr_floats(g, n, "scales", &sc, &nsc))
			return refuse(c, "has a bad attribute 'scales'");
	} else if (sv && cnnf_value_count(sv) > 0) {
		if (!sv->is_const || sv->type != CNNF_DT_F32)
			return refuse(c, "takes its scales from the image");
		sc = sv->data;
		nsc = (size_t)cnnf_value_count(sv);
	}
	if (cnnf_node_attr(n, "axes") && nsc)
		return refuse(c, "scales some axes only");
	for (int a = 0; a < 2; a++) {
		int64_t in = x->dim[2 + a], out = y->dim[2 + a];
		if (in < 1 || out < in || out % in)
			return refuse(c, "resizes %" PRId64 " to %" PRId64 ", not by a whole factor",
				      in, out);
		int64_t s = out / in;
		if (nsc == 4 && sc[2 + a] != (float)s)
			return refuse(c, "has scale %g, not a whole number", (double)sc[2 + a]);
		int64_t c2, lo, hi;
		if (!strcmp(coord, "half_pixel") || !strcmp(coord, "pytorch_half_pixel"))
			c2 = 1 - s; /* (t + 0.5) / s - 0.5 = (2t + 1 - s) / 2s */
		else if (!strcmp(coord, "asymmetric"))
			c2 = 0;
		else if (!strcmp(coord, "tf_half_pixel_for_nearest"))
			c2 = 1;
		else
			return refuse(c, "uses coordinates '%s', which depend on the whole size", coord);
		if (!strcmp(mode, "nearest")) {
			lo = 0;
			hi = strcmp(nearest, "floor") ? 1 : 0;
		} else {
			/*
			 * The weights come from the fraction of the input coordinate,
			 * which op_resize.c takes exactly from (2t + 1 - s) mod 2s for a
			 * whole factor: the same at every t of one phase, for any s.
			 */
			lo = strcmp(mode, "cubic") ? 0 : -1;
			hi = strcmp(mode, "cubic") ? 1 : 2;
		}
		m[a] = (geo_map){.kind = MAP_UP, .k = 2, .s = s, .p = c2 + 2 * s * lo,
				 .d = c2 + 2 * s * hi};
	}
	return 0;
}

static int map_pad(const geo_ctx *c, geo_map *m)
{
	const cnnf_graph *g = c->g;
	const cnnf_value *x = cnnf_node_in(g, c->n, 0);
	const char *mode;
	int64_t *pads = NULL, *axes = NULL;
	size_t np = 0, na = 0;
	int rc = -1;
	if (attr_string(c, "mode", "constant", &mode))
		return -1;
	int md = !strcmp(mode, "constant")  ? 0
		 : !strcmp(mode, "edge")    ? 1
		 : !strcmp(mode, "reflect") ? 2
					    : -1;
	if (md < 0)
		return refuse(c, "pads in mode '%s', which reads the far side of the image", mode);
	if (g->opset < 11) {
		const int64_t *v;
		if (cnnf_node_attr_ints(g, c->n, g->opset < 2 ? "paddings" : "pads", &v, &np) || !v)
			return refuse(c, "has no pads");
		if (!(pads = malloc(np * sizeof *pads)))
			return refuse(c, "ran out of memory");
		memcpy(pads, v, np * sizeof *v);
	} else if (const_ints(c, 1, &pads, &np) || const_ints(c, 3, &axes, &na)) {
		goto out;
	}
	int64_t pb[4] = {0}, pe[4] = {0};
	size_t nax = axes ? na : 4;
	if (np != 2 * nax) {
		refuse(c, "has %zu pads for %zu axes", np, nax);
		goto out;
	}
	for (size_t i = 0; i < nax; i++) {
		int a = axes ? axis4(axes[i]) : (int)i;
		if (a < 0) {
			refuse(c, "pads axis %" PRId64, axes[i]);
			goto out;
		}
		pb[a] = pads[i];
		pe[a] = pads[nax + i];
	}
	for (int a = 0; a < 2; a++) {
		if (md && (pb[2 + a] < 0 || pe[2 + a] < 0)) {
			refuse(c, "crops in mode '%s'", mode);
			goto out;
		}
		m[a] = (geo_map){.kind = MAP_PAD, .p = pb[2 + a], .d = md, .n = x->dim[2 + a]};
	}
	rc = 0;
out:
	free(pads);
	free(axes);
	return rc;
}

static int map_slice(const geo_ctx *c, geo_map *m)
{
	const cnnf_graph *g = c->g;
	int64_t *st = NULL, *ax = NULL, *sp = NULL;
	size_t ns = 0, na = 0, nsp = 0;
	int rc = -1;
	m[0].kind = m[1].kind = MAP_SAME;
	if (g->opset < 10) {
		const int64_t *v, *w;
		if (cnnf_node_attr_ints(g, c->n, "starts", &v, &ns) ||
		    cnnf_node_attr_ints(g, c->n, "axes", &w, &na) || !v)
			return refuse(c, "has no starts");
		st = malloc((ns ? ns : 1) * sizeof *st);
		ax = malloc((na ? na : 1) * sizeof *ax);
		if (!st || !ax) {
			refuse(c, "ran out of memory");
			goto out;
		}
		memcpy(st, v, ns * sizeof *v);
		if (w)
			memcpy(ax, w, na * sizeof *w);
		else
			na = 0;
	} else if (const_ints(c, 1, &st, &ns) || const_ints(c, 3, &ax, &na) ||
		   const_ints(c, 4, &sp, &nsp)) {
		goto out;
	}
	for (size_t i = 0; i < ns; i++) {
		int a = na ? axis4(ax[i]) : (int)i;
		int64_t step = nsp ? sp[i] : 1;
		if (a < 2)
			continue;
		if (step < 1 || st[i] < 0) {
			refuse(c, "slices the image %s", step < 1 ? "backwards" : "from its far end");
			goto out;
		}
		m[a - 2] = (geo_map){.kind = MAP_WIN, .k = 1, .s = step, .p = -st[i], .d = 1};
	}
	rc = 0;
out:
	free(st);
	free(ax);
	free(sp);
	return rc;
}

/* Concat and Split along an axis that is not a spatial one. */
static int map_concat(const geo_ctx *c, geo_map *m)
{
	int64_t axis;
	if (attr_int(c, "axis", strcmp(c->n->op_type, "Split") ? 1 : 0, &axis))
		return -1;
	int a = axis4(axis);
	if (a >= 2)
		return refuse(c, "joins or splits along axis %d, a spatial one", a);
	return map_same(c, m);
}

static int map_softmax(const geo_ctx *c, geo_map *m)
{
	int64_t axis;
	if (c->g->opset < 13)
		return refuse(c, "normalises over the rows and columns too (before opset 13 it "
			      "flattens from its axis)");
	if (attr_int(c, "axis", -1, &axis))
		return -1;
	if (axis4(axis) >= 2)
		return refuse(c, "normalises along a spatial axis");
	return map_same(c, m);
}

/* Reductions and ArgMax/ArgMin over axes that are not spatial, keeping the rank. */
static int map_reduce(const geo_ctx *c, geo_map *m)
{
	int arg = !strncmp(c->n->op_type, "Arg", 3);
	int64_t keep, a1;
	const int64_t *axes = NULL;
	size_t na = 0;
	int64_t *in_axes = NULL;
	if (attr_int(c, "keepdims", 1, &keep))
		return -1;
	if (arg) {
		if (attr_int(c, "axis", 0, &a1))
			return -1;
		axes = &a1;
		na = 1;
	} else if (cnnf_node_in(c->g, c->n, 1)) {
		if (const_ints(c, 1, &in_axes, &na))
			return -1;
		axes = in_axes;
	} else if (cnnf_node_attr_ints(c->g, c->n, "axes", &axes, &na)) {
		return refuse(c, "has a bad attribute 'axes'");
	}
	int ok = keep && na > 0;
	for (size_t i = 0; ok && i < na; i++)
		ok = axis4(axes[i]) >= 0 && axis4(axes[i]) < 2;
	free(in_axes);
	if (!ok)
		return refuse(c, "reduces over the rows or columns");
	return map_same(c, m);
}

/*
 * The table: one row per operator that keeps the image's grid. every: all
 * inputs may come from the image (elementwise, broadcasting constants
 * that do not vary over the rows and columns); else only input 0 does,
 * the others must be constants (weights, scales, pads).
 */
typedef struct geo_row {
	const char *op;
	int (*map)(const geo_ctx *c, geo_map *m);
	int every;
} geo_row;

static const geo_row rows[] = {
	{"Conv", map_conv, 0},
	{"ConvTranspose", map_convtranspose, 0},
	{"MaxPool", map_maxpool, 0},
	{"AveragePool", map_avgpool, 0},
	{"BatchNormalization", map_same, 0},
	{"Resize", map_resize, 0},
	{"Upsample", map_resize, 0},
	{"DepthToSpace", map_depth_to_space, 0},
	{"SpaceToDepth", map_space_to_depth, 0},
	{"Pad", map_pad, 0},
	{"Slice", map_slice, 0},
	{"Concat", map_concat, 1},
	{"Split", map_concat, 0},
	{"Softmax", map_softmax, 0},
	{"LogSoftmax", map_softmax, 0},
	{"ReduceMean", map_reduce, 0},
	{"ReduceSum", map_reduce, 0},
	{"ReduceMax", map_reduce, 0},
	{"ReduceMin", map_reduce, 0},
	{"ReduceProd", map_reduce, 0},
	{"ArgMax", map_reduce, 0},
	{"ArgMin", map_reduce, 0},
	{"Identity", map_same, 1},
	{"Dropout", map_same, 0},
	{"Cast", map_same, 0},
	{"CastLike", map_same, 1},
	{"Clip", map_same, 1},
	{"PRelu", map_same, 1},
#define UNARY(name) {name, map_same, 1},
	UNARY("Relu") UNARY("LeakyRelu") UNARY("Sigmoid") UNARY("Tanh") UNARY("HardSigmoid")
	UNARY("HardSwish") UNARY("Elu") UNARY("Selu") UNARY("Celu") UNARY("Neg") UNARY("Abs")
	UNARY("Exp") UNARY("Log") UNARY("Sqrt") UNARY("Reciprocal") UNARY("Floor") UNARY("Ceil")
	UNARY("Round") UNARY("Erf") UNARY("Softplus") UNARY("Softsign") UNARY("Sign") UNARY("Sin")
	UNARY("Cos") UNARY("Not")
	UNARY("Add") UNARY("Sub") UNARY("Mul") UNARY("Div") UNARY("Pow") UNARY("Sum") UNARY("Max")
	UNARY("Min") UNARY("Mean") UNARY("Equal") UNARY("Less") UNARY("Greater")
	UNARY("LessOrEqual") UNARY("GreaterOrEqual") UNARY("And") UNARY("Or") UNARY("Xor")
	UNARY("Where")
#undef UNARY
};

static const geo_row *find_row(const char *op)
{
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
		if (!strcmp(rows[i].op, op))
			return &rows[i];
	return NULL;
}

/* ---- the analysis ---- */

/* Output rows [a, b] of map m as the input rows they read. */
static void map_back(const geo_map *m, int64_t a, int64_t b, int64_t *lo, int64_t *hi)
{
	switch (m->kind) {
	case MAP_WIN:
		*lo = m->s * a - m->p;
		*hi = m->s * b - m->p + (m->k - 1) * m->d;
		break;
	case MAP_UP:
		*lo = floor_div(m->k * a + m->p, m->k * m->s);
		*hi = floor_div(m->k * b + m->d, m->k * m->s);
		break;
	case MAP_PAD:
		*lo = a - m->p;
		*hi = b - m->p;
		if (m->d && a < m->p) /* edge reads row 0, reflect row p - t */
			*hi = m->d == 1 ? (*hi > 0 ? *hi : 0) : (*hi > m->p - a ? *hi : m->p - a);
		if (m->d && b >= m->p + m->n) {
			int64_t r = m->d == 1 ? m->n - 1 : 2 * (m->n - 1) - (b - m->p);
			if (r < *lo)
				*lo = r;
		}
		break;
	default:
		*lo = a;
		*hi = b;
	}
}

static void reduce(int64_t *num, int64_t *den)
{
	int64_t d = gcd(*num, *den);
	if (d > 1) {
		*num /= d;
		*den /= d;
	}
}

/* The spatial dims a constant broadcast to rank 4 has (1 where it has none). */
static int varies_spatially(const cnnf_value *v)
{
	int r = v->ndim;
	return (r >= 1 && v->dim[r - 1] != 1) || (r >= 2 && v->dim[r - 2] != 1);
}

/* Check node i's inputs and outputs and set its outputs' scales; -1 (why set) if it cannot tile. */
static int analyse_node(cnnf_geometry *geo, int i)
{
	const cnnf_graph *g = geo->g;
	const cnnf_node *n = &g->node[i];
	geo_ctx c = {g, n, geo->why, sizeof geo->why};
	const geo_row *row = find_row(n->op_type);
	if (!row)
		return refuse(&c, "does not keep the image's rows and columns in place");
	if (row->map(&c, geo->map[i]))
		return -1;
	const cnnf_value *y = NULL;
	for (int k = 0; k < n->nout; k++) {
		const cnnf_value *o = cnnf_node_out(g, n, k);
		if (o && o->ndim != 4)
			return refuse(&c, "makes a value of %d dimensions from the image", o->ndim);
		if (o && !y)
			y = o;
	}
	if (!y)
		return 0;
	const geo_val *src = NULL;
	for (int k = 0; k < n->nin; k++) {
		const cnnf_value *v = cnnf_node_in(g, n, k);
		if (!v)
			continue;
		const geo_val *gv = &geo->val[v - g->val];
		if (v->is_const) {
			if (k == 0 && !row->every)
				return refuse(&c, "reads a constant where the image should be");
			if (row->every && varies_spatially(v))
				return refuse(&c, "combines the image with a constant that varies over "
					      "the rows and columns (input %d)", k);
			continue;
		}
		if (!gv->grid)
			return refuse(&c, "reads input %d, which is not on the image's grid", k);
		if (k > 0 && !row->every)
			return refuse(&c, "reads input %d from the image", k);
		if (src && (memcmp(src->num, gv->num, sizeof gv->num) ||
			    memcmp(src->den, gv->den, sizeof gv->den) || v->dim[2] != y->dim[2] ||
			    v->dim[3] != y->dim[3]))
			return refuse(&c, "combines values of different sizes");
		if (!src && row->every && (v->dim[2] != y->dim[2] || v->dim[3] != y->dim[3]))
			return refuse(&c, "broadcasts a value over the rows and columns");
		if (!src)
			src = gv;
	}
	if (!src)
		return refuse(&c, "does not read the image");
	for (int k = 0; k < n->nout; k++) {
		const cnnf_value *o = cnnf_node_out(g, n, k);
		if (!o)
			continue;
		geo_val *gv = &geo->val[o - g->val];
		gv->grid = 1;
		gv->dim[0] = o->dim[2];
		gv->dim[1] = o->dim[3];
		for (int a = 0; a < 2; a++) {
			const geo_map *m = &geo->map[i][a];
			int64_t num = src->num[a], den = src->den[a];
			if (m->kind == MAP_WIN)
				den *= m->s;
			else if (m->kind == MAP_UP)
				num *= m->s;
			reduce(&num, &den);
			if (num > GEO_LIMIT || den > GEO_LIMIT)
				return refuse(&c, "scales the image too far");
			gv->num[a] = num;
			gv->den[a] = den;
		}
	}
	return 0;
}

static int64_t lcm(int64_t a, int64_t b)
{
	return a / gcd(a, b) * b;
}

/* The nodes output 0 depends on, not folded. */
static void mark_path(cnnf_geometry *geo)
{
	const cnnf_graph *g = geo->g;
	char *want = calloc((size_t)(g->nval ? g->nval : 1), 1);
	if (!want)
		return;
	want[g->out[0]] = 1;
	for (int i = g->nnode - 1; i >= 0; i--) {
		const cnnf_node *n = &g->node[i];
		if (n->folded)
			continue;
		int used = 0;
		for (int k = 0; k < n->nout; k++)
			used |= n->out[k] >= 0 && want[n->out[k]];
		if (!used)
			continue;
		geo->path[i] = 1;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0 && !g->val[n->in[k]].is_const)
				want[n->in[k]] = 1;
	}
	free(want);
}

cnnf_geometry *cnnf_geometry_new(const cnnf_graph *g)
{
	cnnf_geometry *geo = calloc(1, sizeof *geo);
	if (!geo || !(geo->val = calloc((size_t)(g->nval ? g->nval : 1), sizeof *geo->val)) ||
	    !(geo->map = calloc((size_t)(g->nnode ? g->nnode : 1), sizeof *geo->map)) ||
	    !(geo->path = calloc((size_t)(g->nnode ? g->nnode : 1), 1))) {
		cnnf_geometry_free(geo);
		cnnf_error("%s: out of memory", g->file);
		return NULL;
	}
	geo->g = g;
	geo->nval = g->nval;
	geo->nnode = g->nnode;
	geo->field[0] = geo->field[1] = -1;
	if (g->nin != 1 || g->nout < 1 || g->val[g->in[0]].ndim != 4) {
		snprintf(geo->why, sizeof geo->why, "the model does not take one image to an image");
		return geo;
	}
	geo_val *in = &geo->val[g->in[0]];
	in->grid = 1;
	in->num[0] = in->num[1] = in->den[0] = in->den[1] = 1;
	in->dim[0] = g->val[g->in[0]].dim[2];
	in->dim[1] = g->val[g->in[0]].dim[3];
	mark_path(geo);
	for (int i = 0; i < g->nnode; i++)
		if (geo->path[i] && analyse_node(geo, i))
			return geo;
	if (!geo->val[g->out[0]].grid || g->val[g->out[0]].ndim != 4) {
		snprintf(geo->why, sizeof geo->why, "output '%s' is not made from the image",
			 g->val[g->out[0]].name);
		return geo;
	}
	geo->align[0] = geo->align[1] = 1;
	for (int v = 0; v < g->nval; v++)
		for (int a = 0; a < 2; a++)
			if (geo->val[v].grid) {
				geo->align[a] = lcm(geo->align[a], geo->val[v].den[a]);
				if (geo->align[a] > GEO_LIMIT) {
					snprintf(geo->why, sizeof geo->why, "its strides are too large");
					return geo;
				}
			}
	geo->tileable = 1;
	/* The receptive field: the widest need of one output row, over a period of the grid. */
	const geo_val *out = &geo->val[g->out[0]];
	for (int a = 0; a < 2; a++) {
		int64_t period = geo->align[a] * out->num[a] / out->den[a];
		int64_t t0 = out->dim[a] / 2 / period * period, best = 0, lo, hi;
		if (period > 1024)
			period = 1024;
		for (int64_t t = t0; t < t0 + period; t++) {
			cnnf_geometry_need(geo, a, t, t, &lo, &hi);
			if (hi - lo + 1 > best)
				best = hi - lo + 1;
		}
		geo->field[a] = best;
	}
	return geo;
}

void cnnf_geometry_free(cnnf_geometry *geo)
{
	if (!geo)
		return;
	free(geo->val);
	free(geo->map);
	free(geo->path);
	free(geo);
}

int cnnf_geometry_tileable(const cnnf_geometry *geo, const char **why)
{
	if (why)
		*why = geo->tileable ? "" : geo->why;
	return geo->tileable;
}

void cnnf_geometry_scale(const cnnf_geometry *geo, int v, int axis, int64_t *num, int64_t *den)
{
	const geo_val *gv = &geo->val[v];
	*num = gv->grid ? gv->num[axis] : 0;
	*den = gv->grid ? gv->den[axis] : 0;
}

int64_t cnnf_geometry_align(const cnnf_geometry *geo, int axis)
{
	return geo->tileable ? geo->align[axis] : 0;
}

int64_t cnnf_geometry_field(const cnnf_geometry *geo, int axis)
{
	return geo->field[axis];
}

static void hull(geo_val *v, int axis, int64_t lo, int64_t hi)
{
	if (!v->needed[axis]) {
		v->needed[axis] = 1;
		v->need[axis][0] = lo;
		v->need[axis][1] = hi;
		return;
	}
	if (lo < v->need[axis][0])
		v->need[axis][0] = lo;
	if (hi > v->need[axis][1])
		v->need[axis][1] = hi;
}

int cnnf_geometry_need(cnnf_geometry *geo, int axis, int64_t a, int64_t b, int64_t *lo,
		       int64_t *hi)
{
	const cnnf_graph *g = geo->g;
	if (!geo->tileable) {
		cnnf_error("%s: %s", g->file, geo->why);
		return -1;
	}
	for (int v = 0; v < geo->nval; v++)
		geo->val[v].needed[axis] = 0;
	hull(&geo->val[g->out[0]], axis, a, b);
	for (int i = g->nnode - 1; i >= 0; i--) {
		if (!geo->path[i])
			continue;
		const cnnf_node *n = &g->node[i];
		int any = 0;
		int64_t oa = 0, ob = 0, l, h;
		for (int k = 0; k < n->nout; k++) {
			const geo_val *o = n->out[k] >= 0 ? &geo->val[n->out[k]] : NULL;
			if (!o || !o->needed[axis])
				continue;
			if (!any || o->need[axis][0] < oa)
				oa = o->need[axis][0];
			if (!any || o->need[axis][1] > ob)
				ob = o->need[axis][1];
			any = 1;
		}
		if (!any)
			continue;
		map_back(&geo->map[i][axis], oa, ob, &l, &h);
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0 && geo->val[n->in[k]].grid)
				hull(&geo->val[n->in[k]], axis, l, h);
	}
	const geo_val *in = &geo->val[g->in[0]];
	*lo = in->needed[axis] ? in->need[axis][0] : 0;
	*hi = in->needed[axis] ? in->need[axis][1] : -1;
	return 0;
}

int cnnf_geometry_covers(const cnnf_geometry *geo, const cnnf_graph *tile, int axis, int64_t x0)
{
	const cnnf_graph *g = geo->g;
	for (int v = 0; v < geo->nval; v++) {
		const geo_val *gv = &geo->val[v];
		if (!gv->grid || !gv->needed[axis])
			continue;
		int64_t whole = gv->dim[axis], n = tile->val[v].dim[2 + axis];
		int64_t lo = gv->need[axis][0], hi = gv->need[axis][1];
		int64_t o = x0 * gv->num[axis];
		int ok = tile->val[v].ndim == 4 && o % gv->den[axis] == 0;
		o /= gv->den[axis];
		int64_t l = lo > 0 ? lo : 0, h = hi < whole - 1 ? hi : whole - 1;
		if (ok && l <= h)
			ok = o <= l && h < o + n;
		/* Rows beyond the image are padding in both only where the tile ends with it. */
		if (ok && lo < 0)
			ok = o == 0;
		if (ok && hi >= whole)
			ok = o + n == whole;
		if (!ok) {
			cnnf_error("%s: a tile at %" PRId64 " would not hold %s %" PRId64 " to %" PRId64
				   " of '%s' as the whole image has them",
				   g->file, x0, axis ? "columns" : "rows", lo, hi, g->val[v].name);
			return -1;
		}
	}
	return 0;
}

int cnnf_geometry_same(const cnnf_geometry *a, const cnnf_geometry *b)
{
	const cnnf_graph *g = a->g;
	if (!b->tileable) {
		cnnf_error("%s: %s in a tile", g->file, b->why);
		return -1;
	}
	for (int i = 0; i < a->nnode && i < b->nnode; i++) {
		int same = a->path[i] == b->path[i];
		for (int x = 0; same && a->path[i] && x < 2; x++) {
			const geo_map *p = &a->map[i][x], *q = &b->map[i][x];
			same = p->kind == q->kind && p->k == q->k && p->s == q->s && p->p == q->p &&
			       p->d == q->d;
		}
		if (!same)
			return cnnf_graph_node_error(g, &g->node[i],
						     "works differently on a tile than on the whole "
						     "image (it depends on the size)");
	}
	return 0;
}
