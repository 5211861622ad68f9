/* op_resize.c: Resize (opsets 10 to 19) and Upsample (7 to 9): nearest, linear and cubic, separable along each axis. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "nn/opdata.h"
#include "nn/ops.h"

enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC };
enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ASYMMETRIC, CT_ALIGN_CORNERS, CT_TF_HALF_PIXEL };
enum { NR_PREFER_FLOOR, NR_PREFER_CEIL, NR_FLOOR, NR_CEIL };

typedef struct resize_param {
	int mode, coord, nearest;
	float cubic_a;
	int64_t exclude_outside;
	int upsample;            /* the Upsample operator */
	const float *scales;     /* Upsample-7: the attribute */
	size_t nscales;
	const int64_t *axes;     /* Resize-18 */
	size_t naxes;
} resize_param;

/* Attribute `name`, a string, must be one of names[] (its index in *out) or is refused. */
static int attr_choice(const cnnf_graph *g, const cnnf_node *n, const char *name, const char *def,
		       const char *const *names, int count, int *out)
{
	const char *s;
	if (cnnf_node_attr_string(g, n, name, def, &s))
		return -1;
	for (int i = 0; i < count; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return cnnf_graph_node_error(g, n, "attribute '%s' value '%s' not supported", name, s);
}

static int resize_parse(cnnf_graph *g, cnnf_node *n)
{
	resize_param *p = n->param;
	static const char *const modes[] = {"nearest", "linear", "cubic"};
	static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "asymmetric",
					     "align_corners", "tf_half_pixel_for_nearest"};
	static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
					      "ceil"};
	p->upsample = strcmp(n->op_type, "Upsample") == 0;
	if (attr_choice(g, n, "mode", "nearest", modes, p->upsample ? 2 : 3, &p->mode))
		return -1;
	if (p->upsample || g->opset < 11) {
		/* Upsample and Resize-10: out[i] = in[floor(i / scale)] for nearest. */
		p->coord = CT_ASYMMETRIC;
		p->nearest = NR_FLOOR;
		if (p->upsample && g->opset < 9) {
			if (!cnnf_node_attr(n, "scales"))
				return cnnf_graph_node_error(g, n, "attribute 'scales' is missing");
			if (cnnf_node_attr_floats(g, n, "scales", &p->scales, &p->nscales))
				return -1;
		}
		return 0;
	}
	if (attr_choice(g, n, "coordinate_transformation_mode", "half_pixel", coords, 5, &p->coord) ||
	    attr_choice(g, n, "nearest_mode", "round_prefer_floor", nearest, 4, &p->nearest) ||
	    cnnf_node_attr_float(g, n, "cubic_coeff_a", -0.75f, &p->cubic_a) ||
	    cnnf_node_attr_int(g, n, "exclude_outside", 0, &p->exclude_outside))
		return -1;
	int64_t antialias;
	const char *policy;
	if (cnnf_node_attr_int(g, n, "antialias", 0, &antialias) ||
	    cnnf_node_attr_string(g, n, "keep_aspect_ratio_policy", "stretch", &policy) ||
	    cnnf_node_attr_ints(g, n, "axes", &p->axes, &p->naxes))
		return -1;
	if (antialias)
		return cnnf_graph_node_error(g, n, "attribute 'antialias' value %" PRId64
						   " not supported",
					     antialias);
	if (strcmp(policy, "stretch") != 0)
		return cnnf_graph_node_error(g, n,
					     "attribute 'keep_aspect_ratio_policy' value '%s' not "
					     "supported",
					     policy);
	if (p->naxes && g->opset < 18)
		return cnnf_graph_node_error(g, n, "attribute 'axes' is from opset 18 (the model's is %d)",
					     g->opset);
	return 0;
}

/* A constant float input's elements (borrowed: they are in the value). */
static int const_floats(const cnnf_graph *g, const cnnf_node *n, int i, const char *what,
			const float **out, size_t *count)
{
	const cnnf_value *v = cnnf_node_in(g, n, i);
	if (!v->is_const || !v->data)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a constant", i, what);
	if (v->type != CNNF_DT_F32 || v->ndim != 1)
		return cnnf_graph_node_error(g, n, "input %d (%s) must be a 1-D float tensor", i,
					     what);
	*out = v->data;
	*count = (size_t)v->dim[0];
	return 0;
}

/* Each axis's output size and scale (output over input when sizes are given). */
static int resize_plan(const cnnf_graph *g, const cnnf_node *n, const cnnf_value *x,
		       int64_t *od, double *scale)
{
	const resize_param *p = n->param;
	const float *sc = NULL;
	size_t nsc = 0, nsz = 0;
	int64_t *sz = NULL;
	int rc = -1;
	int si = p->upsample ? 1 : g->opset < 11 ? 1 : 2; /* where the scales are */
	if (p->upsample && g->opset < 9) {
		sc = p->scales;
		nsc = p->nscales;
	} else if (cnnf_node_in(g, n, si)) {
		if (const_floats(g, n, si, "scales", &sc, &nsc))
			return -1;
	}
	if (!p->upsample && g->opset >= 11 && cnnf_node_in(g, n, 3)) {
		if (cnnf_opdata_const_ints(g, n, 3, "sizes", &sz, &nsz))
			return -1;
		if (nsc) {
			cnnf_graph_node_error(g, n, "both scales and sizes are given");
			goto out;
		}
	} else if (!nsc) {
		cnnf_graph_node_error(g, n, "neither scales nor sizes are given");
		goto out;
	}
	int axis[CNNF_GRAPH_MAX_DIMS], na = x->ndim;
	for (int k = 0; k < x->ndim; k++) {
		axis[k] = k;
		od[k] = x->dim[k];
		scale[k] = 1.0;
	}
	if (p->naxes) {
		int seen[CNNF_GRAPH_MAX_DIMS] = {0};
		if (p->naxes > (size_t)x->ndim) {
			cnnf_graph_node_error(g, n, "%zu axes for rank %d", p->naxes, x->ndim);
			goto out;
		}
		na = (int)p->naxes;
		for (int i = 0; i < na; i++) {
			if (cnnf_opdata_axis(g, n, "axis", p->axes[i], x->ndim, &axis[i]))
				goto out;
			if (seen[axis[i]]++) {
				cnnf_graph_node_error(g, n, "axis %d is given twice", axis[i]);
				goto out;
			}
		}
	}
	size_t given = nsc ? nsc : nsz;
	if (given != (size_t)na) {
		cnnf_graph_node_error(g, n, "%zu %s for %d axes", given, nsc ? "scales" : "sizes", na);
		goto out;
	}
	for (int i = 0; i < na; i++) {
		int k = axis[i];
		int64_t in = x->dim[k];
		if (nsc) {
			double s = sc[i];
			if (!(s > 0) || !(s < 1e9)) {
				cnnf_graph_node_error(g, n, "scale %g not supported", s);
				goto out;
			}
			double o = floor((double)in * s);
			if (o > 1e15) {
				cnnf_graph_node_error(g, n, "output too large");
				goto out;
			}
			od[k] = (int64_t)o;
			scale[k] = s;
		} else {
			if (sz[i] < 0 || (in == 0 && sz[i] != 0)) {
				cnnf_graph_node_error(g, n, "size %" PRId64 " for an axis of %" PRId64,
						      sz[i], in);
				goto out;
			}
			od[k] = sz[i];
			scale[k] = in ? (double)sz[i] / (double)in : 1.0;
		}
	}
	rc = 0;
out:
	free(sz);
	return rc;
}

static int resize_infer(cnnf_graph *g, cnnf_node *n)
{
	const resize_param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t od[CNNF_GRAPH_MAX_DIMS];
	double scale[CNNF_GRAPH_MAX_DIMS];
	if (p->mode != MODE_NEAREST && x->type != CNNF_DT_F32)
		return cnnf_graph_node_error(g, n, "mode '%s' on integers not supported",
					     p->mode == MODE_LINEAR ? "linear" : "cubic");
	if (resize_plan(g, n, x, od, scale))
		return -1;
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), x->type, x->ndim, od);
}

/* The input coordinate of output coordinate x on an axis, as the spec's modes say. */
static double resize_coord(int coord, int64_t x, double scale, int64_t in)
{
	/* As ONNX's reference, the resized length is in * scale even when it is not whole. */
	double len = (double)in * scale;
	switch (coord) {
	case CT_HALF_PIXEL:
		return ((double)x + 0.5) / scale - 0.5;
	case CT_PYTORCH_HALF_PIXEL:
		return len > 1 ? ((double)x + 0.5) / scale - 0.5 : 0.0;
	case CT_ALIGN_CORNERS:
		return len == 1 ? 0.0 : (double)x * (double)(in - 1) / (len - 1);
	case CT_TF_HALF_PIXEL:
		return ((double)x + 0.5) / scale;
	default:
		return (double)x / scale;
	}
}

#define MAX_TAPS 4

/* One axis's taps: each output coordinate reads ntaps inputs idx[] with weights w[]. */
typedef struct axis_taps {
	int ntaps;
	int64_t *idx;
	double *w;
	int identity; /* every output reads its own coordinate alone */
} axis_taps;

static int64_t clamp_idx(int64_t i, int64_t in)
{
	return i < 0 ? 0 : i >= in ? in - 1 : i;
}

static void cubic_coeffs(double r, double a, double *c)
{
	double s = r + 1, t = 1 - r, u = 2 - r;
	c[0] = ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
	c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
	c[2] = ((a + 2) * t - (a + 3)) * t * t + 1;
	c[3] = ((a * u - 5 * a) * u + 8 * a) * u - 4 * a;
}

/*
 * For a whole factor s (out = s * in), the input coordinate of output x is
 * num / den with small integers: half_pixel (2x + 1 - s) / 2s, asymmetric
 * x / s, tf_half_pixel_for_nearest (2x + 1) / 2s. Its whole part and
 * fraction are then taken exactly, the fraction rounded once, so that the
 * fraction depends on x mod s only: a tile whose origin is a multiple of s
 * gets the whole image's weights bit for bit, for any s (the double formula
 * rounds differently at different x unless s is a power of two). 1 when it
 * applies, with *i0 and *r set.
 */
static int whole_factor_coord(int coord, int64_t x, double scale, int64_t in, int64_t out,
			      int64_t *i0, double *r)
{
	int64_t s = (int64_t)scale;
	if ((double)s != scale || s < 1 || out != in * s)
		return 0;
	int64_t num, den;
	if (coord == CT_HALF_PIXEL || (coord == CT_PYTORCH_HALF_PIXEL && out > 1)) {
		num = 2 * x + 1 - s;
		den = 2 * s;
	} else if (coord == CT_ASYMMETRIC) {
		num = x;
		den = s;
	} else if (coord == CT_TF_HALF_PIXEL) {
		num = 2 * x + 1;
		den = 2 * s;
	} else
		return 0;
	int64_t q = num / den, m = num % den;
	if (m < 0) {
		q--;
		m += den;
	}
	*i0 = q;
	*r = (double)m / (double)den;
	return 1;
}

static void make_taps(const resize_param *p, int64_t in, int64_t out, double scale, axis_taps *t)
{
	t->ntaps = p->mode == MODE_NEAREST ? 1 : p->mode == MODE_LINEAR ? 2 : 4;
	t->identity = in == out;
	for (int64_t x = 0; x < out; x++) {
		int64_t *idx = t->idx + x * t->ntaps;
		double *w = t->w + x * t->ntaps;
		int64_t i0;
		double r;
		if (!whole_factor_coord(p->coord, x, scale, in, out, &i0, &r)) {
			double xo = resize_coord(p->coord, x, scale, in);
			double f = floor(xo);
			r = xo - f;
			i0 = (int64_t)f;
		}
		if (p->mode == MODE_NEAREST) {
			int64_t i = i0;
			if (r > 0) {
				int up = p->nearest == NR_PREFER_FLOOR ? r > 0.5
					 : p->nearest == NR_PREFER_CEIL ? r >= 0.5
					 : p->nearest == NR_CEIL;
				i += up;
			}
			idx[0] = clamp_idx(i, in);
			w[0] = 1;
		} else {
			double c[MAX_TAPS];
			int64_t first = i0;
			if (p->mode == MODE_LINEAR) {
				c[0] = 1 - r;
				c[1] = r;
			} else {
				cubic_coeffs(r, p->cubic_a, c);
				first = i0 - 1;
			}
			double sum = 0;
			for (int k = 0; k < t->ntaps; k++) {
				int64_t i = first + k;
				if (p->exclude_outside && (i < 0 || i >= in))
					c[k] = 0;
				sum += c[k];
				idx[k] = clamp_idx(i, in);
			}
			for (int k = 0; k < t->ntaps; k++)
				w[k] = p->exclude_outside && sum != 0 ? c[k] / sum : c[k];
		}
		for (int k = 0; k < t->ntaps && t->identity; k++)
			if (w[k] != 0 && (idx[k] != x || w[k] != 1))
				t->identity = 0;
	}
}

/* ---- nearest: one pass reading each output row from its input row ---- */

typedef struct nearest_job {
	const char *src;
	char *dst;
	size_t es;
	int nd;
	const int64_t *od;
	int64_t st[CNNF_GRAPH_MAX_DIMS];
	int64_t *map[CNNF_GRAPH_MAX_DIMS];
} nearest_job;

static int nearest_work(void *ctx, size_t begin, size_t end)
{
	const nearest_job *j = ctx;
	int last = j->nd - 1;
	int64_t w = j->od[last], prev = -1;
	const int64_t *m = j->map[last];
	for (size_t row = begin; row < end; row++) {
		int64_t r = (int64_t)row, off = 0;
		for (int k = last - 1; k >= 0; k--) {
			off += j->map[k][r % j->od[k]] * j->st[k];
			r /= j->od[k];
		}
		char *d = j->dst + row * (size_t)w * j->es;
		if (off == prev) { /* upsampled rows repeat the one before */
			memcpy(d, d - (size_t)w * j->es, (size_t)w * j->es);
			continue;
		}
		prev = off;
		if (j->es == 4) {
			const uint32_t *s = (const uint32_t *)j->src + off;
			for (int64_t x = 0; x < w; x++)
				((uint32_t *)d)[x] = s[m[x]];
		} else {
			const uint64_t *s = (const uint64_t *)j->src + off;
			for (int64_t x = 0; x < w; x++)
				((uint64_t *)d)[x] = s[m[x]];
		}
	}
	return 0;
}

/* ---- linear and cubic: one pass per axis that changes ---- */

typedef struct pass_job {
	const float *src;
	float *dst;
	int64_t len_in, len_out, inner;
	const axis_taps *t;
} pass_job;

/*
 * Items begin..end-1 are (o, x) pairs, o-major. Each output is a double sum
 * from 0 of its taps in order, rounded to float once. The last axis (inner
 * 1) runs a row at a time, its taps gathered; other axes a run of inner
 * consecutive outputs at a time, which vectorises. The position is kept
 * as (o, x) and stepped, not divided out per item.
 */
static int pass_work(void *ctx, size_t begin, size_t end)
{
	const pass_job *j = ctx;
	int nt = j->t->ntaps;
	int64_t o = (int64_t)begin / j->len_out, x = (int64_t)begin % j->len_out;
	for (size_t it = begin; it < end;) {
		const float *s = j->src + o * j->len_in * j->inner;
		if (j->inner == 1) {
			/* The rest of row o, or up to end. */
			int64_t x1 = j->len_out;
			if ((size_t)(x1 - x) > end - it)
				x1 = x + (int64_t)(end - it);
			float *d = j->dst + o * j->len_out;
			const int64_t *idx = j->t->idx;
			const double *w = j->t->w;
			if (nt == 2)
				for (int64_t q = x; q < x1; q++) {
					double acc = 0;
					acc += w[2 * q] * (double)s[idx[2 * q]];
					acc += w[2 * q + 1] * (double)s[idx[2 * q + 1]];
					d[q] = (float)acc;
				}
			else
				for (int64_t q = x; q < x1; q++) {
					double acc = 0;
					for (int k = 0; k < nt; k++)
						acc += w[q * nt + k] * (double)s[idx[q * nt + k]];
					d[q] = (float)acc;
				}
			it += (size_t)(x1 - x);
			x = x1;
		} else {
			const int64_t *idx = j->t->idx + x * nt;
			const double *w = j->t->w + x * nt;
			float *d = j->dst + (o * j->len_out + x) * j->inner;
			for (int64_t i = 0; i < j->inner; i++) {
				double acc = 0;
				for (int k = 0; k < nt; k++)
					acc += w[k] * (double)s[idx[k] * j->inner + i];
				d[i] = (float)acc;
			}
			it++;
			x++;
		}
		if (x == j->len_out)
			x = 0, o++;
	}
	return 0;
}

static int resize_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			  cnnf_value *const *out, int threads)
{
	const resize_param *p = n->param;
	const cnnf_value *x = in[0], *y = out[0];
	int64_t od[CNNF_GRAPH_MAX_DIMS];
	double scale[CNNF_GRAPH_MAX_DIMS];
	axis_taps taps[CNNF_GRAPH_MAX_DIMS];
	size_t es = cnnf_graph_type_size(x->type);
	int nd = x->ndim, rc = -1;
	if (resize_plan(g, n, x, od, scale))
		return -1;
	if (cnnf_value_count(y) == 0)
		return 0;
	if (nd == 0) {
		memcpy(y->data, x->data, es);
		return 0;
	}
	/* All the tap tables in one block. */
	int nt = p->mode == MODE_NEAREST ? 1 : p->mode == MODE_LINEAR ? 2 : 4;
	uint64_t total = 0;
	for (int k = 0; k < nd; k++)
		total += (uint64_t)od[k] * (uint64_t)nt;
	char *block = malloc(total * (sizeof(int64_t) + sizeof(double)));
	float *tmp[2] = {NULL, NULL};
	if (!block)
		return cnnf_graph_node_error(g, n, "out of memory");
	int64_t *ib = (int64_t *)block;
	double *wb = (double *)(block + total * sizeof(int64_t));
	for (int k = 0; k < nd; k++) {
		taps[k].idx = ib;
		taps[k].w = wb;
		make_taps(p, x->dim[k], od[k], scale[k], &taps[k]);
		ib += od[k] * nt;
		wb += od[k] * nt;
	}
	if (p->mode == MODE_NEAREST) {
		nearest_job j = {.src = x->data, .dst = y->data, .es = es, .nd = nd, .od = od};
		cnnf_opdata_strides(nd, x->dim, j.st);
		for (int k = 0; k < nd; k++)
			j.map[k] = taps[k].idx;
		uint64_t rows = cnnf_value_count(y) / (uint64_t)od[nd - 1];
		if (cnnf_parallel_for(rows, cnnf_value_count(y) < 65536 ? 1 : threads, nearest_work,
				      &j))
			goto oom;
		rc = 0;
		goto out;
	}
	/* Separable passes from the last axis to the first, through two scratch buffers. */
	int64_t cur[CNNF_GRAPH_MAX_DIMS];
	for (int k = 0; k < nd; k++)
		cur[k] = x->dim[k];
	const float *src = x->data;
	int last_pass = -1;
	/* The passes run from the last axis to the first: the first axis that changes is the last pass. */
	for (int k = 0; k < nd && last_pass < 0; k++)
		if (!taps[k].identity)
			last_pass = k;
	if (last_pass < 0) {
		memcpy(y->data, x->data, cnnf_value_count(x) * es);
		rc = 0;
		goto out;
	}
	for (int k = nd - 1, which = 0; k >= 0; k--) {
		if (taps[k].identity)
			continue;
		int64_t outer = 1, inner = 1;
		for (int a = 0; a < k; a++)
			outer *= cur[a];
		for (int a = k + 1; a < nd; a++)
			inner *= cur[a];
		float *dst;
		if (k == last_pass) {
			dst = y->data;
		} else {
			uint64_t count = (uint64_t)(outer * od[k] * inner);
			free(tmp[which]);
			if (!(tmp[which] = malloc(count * sizeof(float))))
				goto oom;
			dst = tmp[which];
		}
		pass_job j = {.src = src, .dst = dst, .len_in = cur[k], .len_out = od[k],
			      .inner = inner, .t = &taps[k]};
		uint64_t items = (uint64_t)(outer * od[k]);
		if (cnnf_parallel_for(items, items * (uint64_t)inner < 65536 ? 1 : threads, pass_work,
				      &j))
			goto oom;
		cur[k] = od[k];
		src = dst;
		which ^= 1;
	}
	rc = 0;
	goto out;
oom:
	cnnf_graph_node_error(g, n, "out of memory");
out:
	free(tmp[0]);
	free(tmp[1]);
	free(block);
	return rc;
}

static double resize_work(const cnnf_graph *g, const cnnf_node *n)
{
	const resize_param *p = n->param;
	const cnnf_value *v = cnnf_node_out(g, n, 0);
	if (!v)
		return 0;
	double taps = p->mode == MODE_NEAREST ? 1 : p->mode == MODE_LINEAR ? 2 : 4;
	return (double)cnnf_value_count(v) * taps * 2;
}

const cnnf_op cnnf_op_resize = {
	.name = "Resize",
	.min_in = 1,
	.max_in = 4,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(resize_param),
	.parse = resize_parse,
	.infer = resize_infer,
	.forward = resize_forward,
	.work = resize_work,
};

const cnnf_op cnnf_op_upsample = {
	.name = "Upsample",
	.min_in = 1,
	.max_in = 2,
	.min_out = 1,
	.max_out = 1,
	.param_size = sizeof(resize_param),
	.parse = resize_parse,
	.infer = resize_infer,
	.forward = resize_forward,
	.work = resize_work,
};
