/* op_conv.c: ONNX Conv (1-D, 2-D, 3-D, groups, dilations, pads, auto_pad) on the convolution engine. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "engine/conv.h"
#include "engine/pool.h"
#include "nn/opwin.h"
#include "nn/ops.h"

typedef struct param {
	cnnf_opwin w;
	int64_t group;
} param;

/* Geometry for the current shapes, with the three spatial axes D, H, W (missing ones 1). */
typedef struct state {
	int64_t nb, c, m, group;             /* batch, input and output channels, groups */
	int64_t in[3], k[3], out[3], s[3], d[3], pb[3], pe[3];
	cnnf_kernel **kern;                  /* group kernels from constant weights, or NULL */
} state;

static int parse(cnnf_graph *g, cnnf_node *n)
{
	param *p = n->param;
	if (cnnf_opwin_parse(g, n, &p->w, 1) || cnnf_node_attr_int(g, n, "group", 1, &p->group))
		return -1;
	if (p->group < 1 || p->group > INT_MAX)
		return cnnf_graph_node_error(g, n, "attribute 'group' value %lld not supported",
					     (long long)p->group);
	return 0;
}

static void release(cnnf_node *n)
{
	state *st = n->state;
	if (st) {
		if (st->kern)
			for (int64_t i = 0; i < st->group; i++)
				cnnf_kernel_free(st->kern[i]);
		free(st->kern);
		free(st);
	}
	n->state = NULL;
}

/* The geometry of n for its inputs' shapes in *st; -1 with a message. */
static int geometry(const cnnf_graph *g, const cnnf_node *n, state *st)
{
	const param *p = n->param;
	const cnnf_value *x = cnnf_node_in(g, n, 0), *wv = cnnf_node_in(g, n, 1),
			 *b = cnnf_node_in(g, n, 2);
	cnnf_opwin w = p->w;
	if (x->type != CNNF_DT_F32 || wv->type != CNNF_DT_F32 || (b && b->type != CNNF_DT_F32))
		return cnnf_graph_node_error(g, n, "inputs must be float");
	int ns = x->ndim - 2;
	if (ns < 1 || ns > 3)
		return cnnf_graph_node_error(g, n, "input 0 has %d dimensions: 3 to 5 (N x C x spatial) are supported",
					     x->ndim);
	if (wv->ndim != x->ndim)
		return cnnf_graph_node_error(g, n, "input 1 (W) has %d dimensions, input 0 has %d",
					     wv->ndim, x->ndim);
	if (w.nk && w.nk != ns)
		return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' has %d values for %d spatial axes",
					     w.nk, ns);
	for (int i = 0; i < ns; i++) {
		if (w.nk && w.k[i] != wv->dim[2 + i])
			return cnnf_graph_node_error(g, n, "attribute 'kernel_shape' does not match input 1 (W) on axis %d (%lld, %lld)",
						     i, (long long)w.k[i], (long long)wv->dim[2 + i]);
		w.k[i] = wv->dim[2 + i];
		if (w.k[i] < 1 || w.k[i] > CNNF_OPWIN_LIMIT)
			return cnnf_graph_node_error(g, n, "input 1 (W) has a kernel size of %lld",
						     (long long)w.k[i]);
	}
	if (cnnf_opwin_fit(g, n, &w, ns))
		return -1;
	memset(st, 0, sizeof *st);
	st->nb = x->dim[0], st->c = x->dim[1], st->m = wv->dim[0], st->group = p->group;
	if (st->c % p->group || st->m % p->group || st->m == 0)
		return cnnf_graph_node_error(g, n, "attribute 'group' (%lld) does not divide the %lld input and %lld output channels",
					     (long long)p->group, (long long)st->c, (long long)st->m);
	if (wv->dim[1] != st->c / p->group)
		return cnnf_graph_node_error(g, n, "input 1 (W) has %lld channels per filter; %lld input channels in %lld groups need %lld",
					     (long long)wv->dim[1], (long long)st->c, (long long)p->group,
					     (long long)(st->c / p->group));
	if (b && (b->ndim != 1 || b->dim[0] != st->m))
		return cnnf_graph_node_error(g, n, "input 2 (B) must have %lld elements", (long long)st->m);
	int off = 3 - ns; /* 1-D runs as H = W = 1 rows..., axes right-aligned */
	for (int i = 0; i < 3; i++) {
		st->in[i] = st->k[i] = st->out[i] = st->s[i] = st->d[i] = 1;
		st->pb[i] = st->pe[i] = 0;
	}
	for (int i = 0; i < ns; i++) {
		int a = off + i;
		st->in[a] = x->dim[2 + i], st->k[a] = w.k[i], st->s[a] = w.s[i], st->d[a] = w.d[i];
		st->out[a] = cnnf_opwin_out(&w, i, st->in[a], 0, &st->pb[a], &st->pe[a]);
		if (st->out[a] <= 0)
			return cnnf_graph_node_error(g, n, "a kernel of %lld (dilation %lld) leaves no output from %lld samples on axis %d with these pads",
						     (long long)w.k[i], (long long)w.d[i],
						     (long long)st->in[a], i);
		if (st->in[a] > INT_MAX / 4 || st->pb[a] > INT_MAX / 4 || st->pe[a] > INT_MAX / 4)
			return cnnf_graph_node_error(g, n, "input 0 is too large on axis %d", i);
	}
	int64_t cg = st->c / p->group, mg = st->m / p->group;
	if (cg * st->k[0] > CNNF_KERNEL_MAX_DIM || mg > CNNF_KERNEL_MAX_DIM ||
	    st->k[1] > CNNF_KERNEL_MAX_DIM || st->k[2] > CNNF_KERNEL_MAX_DIM)
		return cnnf_graph_node_error(g, n, "a group of %lld filters of %lld channels is beyond the engine's limit of %d",
					     (long long)mg, (long long)(cg * st->k[0]), CNNF_KERNEL_MAX_DIM);
	return 0;
}

static int infer(cnnf_graph *g, cnnf_node *n)
{
	state st;
	if (geometry(g, n, &st))
		return -1;
	const cnnf_value *x = cnnf_node_in(g, n, 0);
	int64_t dim[5] = {st.nb, st.m};
	int ns = x->ndim - 2;
	for (int i = 0; i < ns; i++)
		dim[2 + i] = st.out[3 - ns + i];
	if (n->pool_k[0]) {
		/* The fused pool's output: stride 1, no pads. */
		if (ns != 2 || st.group != 1)
			return cnnf_graph_node_error(g, n, "a pool is fused only into a 2-D conv of one group");
		for (int a = 0; a < 2; a++) {
			dim[2 + a] -= (int64_t)(n->pool_k[a] - 1) * n->pool_d[a];
			if (dim[2 + a] <= 0)
				return cnnf_graph_node_error(g, n, "the fused pool's window is larger than the conv's output");
		}
	}
	return cnnf_graph_set_shape(g, n, cnnf_node_out(g, n, 0), CNNF_DT_F32, x->ndim, dim);
}

/* The engine's kernels, one per group, from W and B's elements; NULL with a message. */
static cnnf_kernel **make_kernels(const cnnf_graph *g, const cnnf_node *n, const state *st,
				  const float *w, const float *b)
{
	int64_t cg = st->c / st->group, mg = st->m / st->group;
	size_t per = (size_t)cg * st->k[0] * st->k[1] * st->k[2];
	cnnf_kernel **k = calloc((size_t)st->group, sizeof *k);
	if (!k)
		goto nomem;
	for (int64_t gi = 0; gi < st->group; gi++) {
		/* W's layout M x C/G x KD x KH x KW is the bank's, with the depth taps as channels. */
		if (!(k[gi] = cnnf_kernel_new((int)mg, (int)(cg * st->k[0]), (int)st->k[1], (int)st->k[2]))) {
			for (int64_t j = 0; j < gi; j++)
				cnnf_kernel_free(k[j]);
			free(k);
			cnnf_graph_node_error(g, n, "the weights of group %lld do not fit the engine: %s",
					      (long long)gi, cnnf_error_get());
			return NULL;
		}
		const float *src = w + (size_t)gi * mg * per;
		for (size_t t = 0; t < (size_t)mg * per; t++)
			k[gi]->weights[t] = src[t];
		for (int64_t f = 0; f < mg; f++)
			k[gi]->bias[f] = b ? b[gi * mg + f] : 0.0;
	}
	return k;
nomem:
	cnnf_graph_node_error(g, n, "out of memory");
	return NULL;
}

static int prepare(cnnf_graph *g, cnnf_node *n)
{
	const cnnf_value *wv = cnnf_node_in(g, n, 1), *b = cnnf_node_in(g, n, 2);
	state *st = calloc(1, sizeof *st);
	if (!st)
		return cnnf_graph_node_error(g, n, "out of memory");
	if (geometry(g, n, st)) {
		free(st);
		return -1;
	}
	n->state = st;
	/* Weights known now are converted once; others at each run. */
	if (wv->is_const && wv->data && (!b || (b->is_const && b->data)) &&
	    !(st->kern = make_kernels(g, n, st, wv->data, b ? b->data : NULL))) {
		release(n);
		return -1;
	}
	return 0;
}

/* What the engine reads and writes for one batch item, group and output depth. */
typedef struct rows_ctx {
	const state *st;
	const float *x; /* the group's first input channel of this item */
	float *y;       /* the group's first output channel of this item */
	int64_t z;      /* output depth index */
} rows_ctx;

/* Channel c of the engine is input channel c / KD at the depth its tap c % KD reads. */
static void read_row(void *ctx, int c, int r, float *dst)
{
	const rows_ctx *q = ctx;
	const state *st = q->st;
	int64_t ci = c / st->k[0], kd = c % st->k[0];
	int64_t zi = q->z * st->s[0] - st->pb[0] + kd * st->d[0];
	if (zi < 0 || zi >= st->in[0]) {
		memset(dst, 0, sizeof(float) * (size_t)st->in[2]);
		return;
	}
	memcpy(dst, q->x + ((ci * st->in[0] + zi) * st->in[1] + r) * st->in[2],
	       sizeof(float) * (size_t)st->in[2]);
}

static float *dest_row(void *ctx, int f, int y)
{
	const rows_ctx *q = ctx;
	const state *st = q->st;
	return q->y + (((int64_t)f * st->out[0] + q->z) * st->out[1] + y) * st->out[2];
}

/* One run of the engine per (batch item, group, output depth): what each needs. */
typedef struct tasks_ctx {
	const state *st;
	cnnf_kernel **k;
	const cnnf_conv_geom *geo;
	const cnnf_conv_out *post;
	const float *x;
	float *y;
	const char *name;
	int threads; /* per engine run */
} tasks_ctx;

/* Task t = (b * group + gi) * out depth + z: one engine run writing its rows only. */
static int run_one(const tasks_ctx *c, size_t t)
{
	const state *st = c->st;
	int64_t cg = st->c / st->group, mg = st->m / st->group;
	size_t inplane = (size_t)st->in[0] * st->in[1] * st->in[2];
	size_t outplane = (size_t)st->out[0] * st->out[1] * st->out[2];
	int64_t z = (int64_t)(t % (size_t)st->out[0]), bg = (int64_t)(t / (size_t)st->out[0]);
	int64_t b = bg / st->group, gi = bg % st->group;
	rows_ctx q = {st, c->x + ((size_t)b * st->c + gi * cg) * inplane,
		      c->y + ((size_t)b * st->m + gi * mg) * outplane, z};
	cnnf_conv_rows io = {(int)(cg * st->k[0]), (int)st->in[1], (int)st->in[2],
			     read_row, NULL, dest_row, &q, 0, 0};
	return cnnf_conv_run(&io, c->k[gi], c->geo, c->post, c->threads, c->name);
}

/*
 * Small maps in a batch run as one: the items side by side, column x of
 * item b at x * nb + b, so that a tap j columns away is j * nb away and each
 * item's padding lies outside the whole row (as the engine needs stride 1
 * across columns). Every output sample is made of the same products in the
 * same order as when its item runs alone: the same bits, with one engine
 * run instead of nb.
 */
typedef struct wide_ctx {
	const state *st;
	const float *x; /* the group's first input channel of item 0 */
	float *y;       /* the group's first output channel of item 0 */
	int64_t z;
	size_t xitem, yitem; /* floats from one item to the next */
} wide_ctx;

static void read_wide(void *ctx, int c, int r, float *dst)
{
	const wide_ctx *q = ctx;
	const state *st = q->st;
	int64_t ci = c / st->k[0], kd = c % st->k[0], nb = st->nb, w = st->in[2];
	int64_t zi = q->z * st->s[0] - st->pb[0] + kd * st->d[0];
	if (zi < 0 || zi >= st->in[0]) {
		memset(dst, 0, sizeof(float) * (size_t)(w * nb));
		return;
	}
	const float *src = q->x + ((ci * st->in[0] + zi) * st->in[1] + r) * w;
	for (int64_t b = 0; b < nb; b++, src += q->xitem)
		for (int64_t x = 0; x < w; x++)
			dst[x * nb + b] = src[x];
}

static void write_wide(void *ctx, int f, int y, const float *row, int ow)
{
	const wide_ctx *q = ctx;
	const state *st = q->st;
	int64_t nb = st->nb, w = ow / nb;
	float *dst = q->y + (((int64_t)f * st->out[0] + q->z) * st->out[1] + y) * st->out[2];
	for (int64_t b = 0; b < nb; b++, dst += q->yitem)
		for (int64_t x = 0; x < w; x++)
			dst[x] = row[x * nb + b];
}

/* Whether the batch runs side by side: items of small maps, stride 1 across columns, sizes that fit. */
static int wide(const state *st)
{
	int64_t nb = st->nb;
	return nb > 1 && st->s[2] == 1 && st->out[1] * st->out[2] <= 4096 &&
	       st->in[2] <= INT_MAX / 4 / nb && st->pb[2] <= INT_MAX / 4 / nb &&
	       st->pe[2] <= INT_MAX / 4 / nb && st->d[2] <= INT_MAX / 4 / nb;
}

/* Task t = gi * out depth + z of a side-by-side batch. */
static int run_wide(const tasks_ctx *c, size_t t)
{
	const state *st = c->st;
	int64_t cg = st->c / st->group, mg = st->m / st->group, nb = st->nb;
	size_t inplane = (size_t)st->in[0] * st->in[1] * st->in[2];
	size_t outplane = (size_t)st->out[0] * st->out[1] * st->out[2];
	int64_t z = (int64_t)(t % (size_t)st->out[0]), gi = (int64_t)(t / (size_t)st->out[0]);
	wide_ctx q = {st, c->x + (size_t)(gi * cg) * inplane, c->y + (size_t)(gi * mg) * outplane, z,
		      (size_t)st->c * inplane, (size_t)st->m * outplane};
	cnnf_conv_geom geo = *c->geo;
	geo.pad_left *= (int)nb, geo.pad_right *= (int)nb, geo.dil_x *= (int)nb;
	cnnf_conv_rows io = {(int)(cg * st->k[0]), (int)st->in[1], (int)(st->in[2] * nb),
			     read_wide, write_wide, NULL, &q, 0, 0};
	return cnnf_conv_run(&io, c->k[gi], &geo, c->post, c->threads, c->name);
}

static int run_tasks(void *ctx, size_t begin, size_t end)
{
	for (size_t t = begin; t < end; t++)
		if (run_one(ctx, t) < 0)
			return -1;
	return 0;
}

/* ---- A MaxPool of stride 1 fused after the conv ----
 *
 * Each call makes a contiguous range of pooled rows: the conv rows they
 * read are made a few at a time (cnnf_conv_make on a job of its own, one
 * thread) into a ring of rows, every channel, and pooled from there while
 * they are still in the cache; the conv's output is never written whole.
 * The conv rows are those the conv alone makes (the engine's rows do not
 * depend on how they are split), pooled by the row kernel MaxPool runs
 * (cnnf_pool_max_taps), so the bits are those of Conv then MaxPool, for
 * any thread count.
 */
typedef struct ring_ctx {
	rows_ctx q;      /* first: read_row takes the context as its own */
	float *ring;     /* rr rows of m channels of ow conv outputs */
	int64_t rr, m, ow;
} ring_ctx;

static float *ring_row(void *ctx, int f, int y)
{
	const ring_ctx *r = ctx;
	return r->ring + ((size_t)(y % r->rr) * r->m + f) * r->ow;
}

/* One worker's ring, tap pointers and conv job, made once a forward. */
typedef struct pooled_worker {
	ring_ctx r;
	const float **tap;
	cnnf_conv_job *job;
} pooled_worker;

typedef struct pooled_ctx {
	const cnnf_node *n;
	pooled_worker *w; /* one per worker */
	float *y;         /* this item's pooled output */
	int64_t ph, pw;   /* pooled rows and columns */
	int64_t span;     /* conv rows one pooled row reads */
	int64_t step;     /* conv rows made at a time */
} pooled_ctx;

static int pooled_rows(void *ctx, int worker, size_t begin, size_t end)
{
	const pooled_ctx *c = ctx;
	const cnnf_node *n = c->n;
	pooled_worker *pw = &c->w[worker];
	ring_ctx *r = &pw->r;
	int nt = n->pool_k[0] * n->pool_k[1];
	/* Conv rows made: [begin, made); pooled: [begin, next). */
	int64_t made = (int64_t)begin, next = (int64_t)begin, last = (int64_t)end + c->span - 1;
	while (next < (int64_t)end) {
		int64_t to = made + c->step < last ? made + c->step : last;
		if (cnnf_conv_make(pw->job, (int)made, (int)to) < 0)
			return -1;
		made = to;
		for (; next < (int64_t)end && next + c->span <= made; next++)
			for (int64_t f = 0; f < r->m; f++) {
				int t = 0;
				for (int i = 0; i < n->pool_k[0]; i++) {
					const float *row = ring_row(r, (int)f, (int)(next + (int64_t)i * n->pool_d[0]));
					for (int j = 0; j < n->pool_k[1]; j++)
						pw->tap[t++] = row + (int64_t)j * n->pool_d[1];
				}
				cnnf_pool_max_taps(c->y + ((size_t)f * c->ph + next) * c->pw, pw->tap, nt, c->pw);
			}
	}
	return 0;
}

/* Conv rows a fused run makes at a time: a ring of about 512 KB, 1 to 16 rows. */
#define POOLED_RING_BYTES ((size_t)512 << 10)

static int forward_pooled(cnnf_graph *g, cnnf_node *n, const state *st, cnnf_kernel *k,
			  const cnnf_conv_geom *geo, const cnnf_conv_out *post, const float *x,
			  float *y, int threads)
{
	int64_t span = (int64_t)(n->pool_k[0] - 1) * n->pool_d[0] + 1;
	int64_t ph = st->out[1] - span + 1, pw = st->out[2] - (int64_t)(n->pool_k[1] - 1) * n->pool_d[1];
	size_t row = sizeof(float) * (size_t)(st->m * st->out[2]);
	int64_t step = (int64_t)(POOLED_RING_BYTES / row) - span + 1;
	step = step < 1 ? 1 : step > 16 ? 16 : step;
	int64_t rr = step + span - 1;
	int nw = cnnf_parallel_threads(threads), rc = 0;
	pooled_worker *w = calloc((size_t)nw, sizeof *w);
	if (!w)
		return cnnf_graph_node_error(g, n, "out of memory");
	size_t inplane = (size_t)st->in[1] * st->in[2], outplane = (size_t)ph * pw;
	for (int64_t b = 0; b < st->nb && !rc; b++) {
		const float *xb = x + (size_t)b * st->c * inplane;
		for (int i = 0; i < nw && !rc; i++) {
			pooled_worker *q = &w[i];
			cnnf_conv_close(q->job);
			q->job = NULL;
			q->r = (ring_ctx){{st, xb, NULL, 0}, q->r.ring, rr, st->m, st->out[2]};
			if (!q->r.ring && !(q->r.ring = malloc(row * (size_t)rr))) {
				rc = cnnf_graph_node_error(g, n, "out of memory");
				break;
			}
			if (!q->tap && !(q->tap = malloc(sizeof(*q->tap) * (size_t)(n->pool_k[0] * n->pool_k[1])))) {
				rc = cnnf_graph_node_error(g, n, "out of memory");
				break;
			}
			cnnf_conv_rows io = {(int)st->c, (int)st->in[1], (int)st->in[2], read_row, NULL,
					     ring_row, &q->r, 0, 0};
			if (cnnf_conv_open(&io, k, geo, post, 1, n->op_type, &q->job) < 0)
				rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
		}
		pooled_ctx c = {n, w, y + (size_t)b * st->m * outplane, ph, pw, span, step};
		if (!rc && cnnf_parallel_for_workers((size_t)ph, nw, pooled_rows, &c))
			rc = cnnf_graph_node_error(g, n, "out of memory");
	}
	for (int i = 0; i < nw; i++) {
		cnnf_conv_close(w[i].job);
		free(w[i].r.ring);
		free(w[i].tap);
	}
	free(w);
	return rc;
}

static int forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in, cnnf_value *const *out,
		   int threads)
{
	state *st = n->state;
	cnnf_kernel **k = st->kern;
	if (!k && !(k = make_kernels(g, n, st, in[1]->data, n->nin > 2 && in[2] ? in[2]->data : NULL)))
		return -1;
	cnnf_conv_geom geo = {.pad_top = (int)st->pb[1], .pad_bottom = (int)st->pe[1],
			      .pad_left = (int)st->pb[2], .pad_right = (int)st->pe[2],
			      .stride_y = (int)st->s[1], .stride_x = (int)st->s[2],
			      .dil_y = (int)st->d[1], .dil_x = (int)st->d[2],
			      .border = CNNF_BORDER_ZERO};
	cnnf_conv_out post = {.fast = 1, .relu = n->relu};
	tasks_ctx c = {st, k, &geo, &post, in[0]->data, out[0]->data, n->op_type, threads};
	size_t ntasks = (size_t)(st->nb * st->group * st->out[0]);
	int rc = 0;
	if (n->pool_k[0]) {
		rc = forward_pooled(g, n, st, k[0], &geo, &post, in[0]->data, out[0]->data, threads);
		goto done;
	}
	if (wide(st)) {
		for (size_t t = 0; t < (size_t)(st->group * st->out[0]) && !rc; t++)
			if (run_wide(&c, t) < 0)
				rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
		goto done;
	}
	size_t nt = (size_t)cnnf_parallel_threads(threads);
	/* Whole runs per thread when they share out evenly, else the engine splits rows. */
	if (nt >= 2 && ntasks >= 2 && (ntasks % nt == 0 || ntasks >= 4 * nt)) {
		/*
		 * Many runs (a batch, groups, depths): one thread per run, each
		 * run single-threaded. The engine's rows do not depend on the
		 * thread that makes them, so the bits are those of the loop
		 * below. Its checks, made once here, leave a worker no failure
		 * but memory.
		 */
		int64_t cg = st->c / st->group;
		cnnf_conv_rows io = {(int)(cg * st->k[0]), (int)st->in[1], (int)st->in[2],
				     read_row, NULL, dest_row, NULL, 0, 0};
		c.threads = 1;
		if (cnnf_conv_check(&io, k[0], &geo, &post, 1, n->op_type, NULL) < 0)
			rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
		else if (cnnf_parallel_for(ntasks, threads, run_tasks, &c))
			rc = cnnf_graph_node_error(g, n, "out of memory");
	} else {
		for (size_t t = 0; t < ntasks && !rc; t++)
			if (run_one(&c, t) < 0)
				rc = cnnf_graph_node_error(g, n, "%s", cnnf_error_get());
	}
done:
	if (k != st->kern) {
		for (int64_t i = 0; i < st->group; i++)
			cnnf_kernel_free(k[i]);
		free(k);
	}
	return rc;
}

static double work(const cnnf_graph *g, const cnnf_node *n)
{
	const cnnf_value *y = cnnf_node_out(g, n, 0), *w = cnnf_node_in(g, n, 1);
	if (!y || y->ndim < 0 || w->ndim < 0)
		return 0;
	double taps = 1;
	for (int i = 1; i < w->ndim; i++)
		taps *= (double)w->dim[i];
	if (n->pool_k[0] && y->ndim == 4) {
		/* The conv's own outputs, and the pool's taps on the pooled ones. */
		double h = (double)y->dim[2] + (double)(n->pool_k[0] - 1) * n->pool_d[0],
		       wd = (double)y->dim[3] + (double)(n->pool_k[1] - 1) * n->pool_d[1];
		return (double)y->dim[0] * y->dim[1] * h * wd * taps +
		       (double)cnnf_value_count(y) * n->pool_k[0] * n->pool_k[1];
	}
	return (double)cnnf_value_count(y) * taps;
}

const cnnf_op cnnf_op_conv = {
	.name = "Conv",
	.min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
	.param_size = sizeof(param),
	.parse = parse, .infer = infer, .prepare = prepare, .release = release,
	.forward = forward, .work = work, .fuses_relu = 1, .fuses_pool = 1,
};
