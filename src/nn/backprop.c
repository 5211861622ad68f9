/* backprop.c: a batch forward and back, threaded, its gradients summed in a fixed order. */
#include "nn/backprop.h"

#include <stdlib.h>
#include <string.h>

#include "engine/conv.h"
#include "base/error.h"
#include "nn/grad.h"
#include "engine/kernel.h"
#include "base/parallel.h"
#include "engine/pool.h"
#include "base/rng.h"
#include "engine/tensor.h"

/*
 * Samples per group. A group is the unit of work: its samples go through the
 * engine side by side, their columns interleaved as cnnf_net_forward_group()
 * does (wide rows keep the engine's vector loops busy where one patch's rows
 * are short), and their parameter gradients are summed into the group's own
 * buffer. Groups depend on the batch size (and, for huge models, the
 * parameter count) only.
 */
#define GROUP 8

/* At most this many floats in all the gradient buffers together (wider groups beyond). */
#define MAX_GROUP_FLOATS ((size_t)1 << 25)

struct cnnf_backprop {
	cnnf_model *m;
	int batch, threads;
	int nl;        /* layers run: all but a final softmax */
	int has_bn;    /* a batchnorm layer needs the whole batch between layers */
	int *in, *out; /* [nl]: slot of each layer's input and output */
	int nslots;
	size_t *size;                /* [nslots]: floats of one sample in the slot */
	float **act;                 /* [nslots]: batch * size activations */
	float **grad;                /* [nslots]: their gradients */
	cnnf_kernel **kernels;       /* [nl]: conv and fc weights for the engine */
	cnnf_grad_conv_plan **plans; /* [nl]: their backward passes */
	int *fused;    /* [nl]: a conv or fc whose following relu the engine applies */
	float **xhat;  /* [nl]: batchnorm's normalised input, batch * size */
	double **istd; /* [nl]: batchnorm's 1/sqrt(var + eps) per channel */
	float **mask;  /* [nl]: dropout masks, batch * size */
	int max_groups;
	size_t work_size; /* floats of conv scratch per group */
	float *work;      /* [max_groups][work_size] */
	float *gbuf;      /* [max_groups][nparams] */
	float *input;     /* = act[0] */
	double *loss;     /* [batch] */
	int *correct;     /* [batch] */
	/* The pass being run: what the workers read. */
	cnnf_backprop_pass *pass;
	int n, groups;
	double wsum; /* sum of the class weights of the pass's samples (n without weights) */
	int first, last; /* the layers [first, last) of the current stretch */
};

static int is_inplace(cnnf_layer_type t)
{
	return t == CNNF_LAYER_RELU || t == CNNF_LAYER_DROPOUT;
}

void cnnf_backprop_free(cnnf_backprop *b)
{
	if (!b)
		return;
	for (int s = 0; s < b->nslots; s++) {
		free(b->act[s]);
		free(b->grad[s]);
	}
	for (int i = 0; i < b->nl; i++) {
		cnnf_kernel_free(b->kernels[i]);
		cnnf_grad_conv_plan_free(b->plans[i]);
		free(b->xhat[i]);
		free(b->istd[i]);
		free(b->mask[i]);
	}
	free(b->in);
	free(b->out);
	free(b->size);
	free(b->act);
	free(b->grad);
	free(b->kernels);
	free(b->plans);
	free(b->fused);
	free(b->xhat);
	free(b->istd);
	free(b->mask);
	free(b->work);
	free(b->gbuf);
	free(b->loss);
	free(b->correct);
	free(b);
}

float *cnnf_backprop_input(cnnf_backprop *b)
{
	return b->input;
}

void cnnf_backprop_sync(cnnf_backprop *b)
{
	for (int i = 0; i < b->nl; i++) {
		cnnf_kernel *k = b->kernels[i];
		if (!k)
			continue;
		const cnnf_layer *l = &b->m->layers[i];
		size_t n = (size_t)k->count * k->depth * k->height * k->width;
		for (size_t j = 0; j < n; j++)
			k->weights[j] = l->weight[j];
		for (int f = 0; f < k->count; f++)
			k->bias[f] = l->bias[f];
	}
}

/* calloc of n * size bytes with the product checked. */
static void *alloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		return NULL;
	return calloc(n ? n : 1, size);
}

/* The samples of group g of the current pass. */
static void group_range(const cnnf_backprop *b, int g, int *s0, int *s1)
{
	*s0 = (int)((long long)g * b->n / b->groups);
	*s1 = (int)((long long)(g + 1) * b->n / b->groups);
}

/* Number of groups for a batch of n: depends on n and the model only. */
static int groups_for(const cnnf_backprop *b, int n)
{
	int g = (n + GROUP - 1) / GROUP;
	return g < b->max_groups ? g : b->max_groups;
}

cnnf_backprop *cnnf_backprop_new(cnnf_model *m, int batch, int threads)
{
	cnnf_backprop *b = calloc(1, sizeof *b);
	if (!b)
		goto oom;
	b->m = m;
	b->batch = batch;
	b->threads = threads;
	b->nl = m->nlayers;
	if (b->nl && m->layers[b->nl - 1].type == CNNF_LAYER_SOFTMAX)
		b->nl--;
	int nl = b->nl;
	b->in = alloc((size_t)nl, sizeof *b->in);
	b->out = alloc((size_t)nl, sizeof *b->out);
	b->size = alloc((size_t)nl + 1, sizeof *b->size);
	b->act = alloc((size_t)nl + 1, sizeof *b->act);
	b->grad = alloc((size_t)nl + 1, sizeof *b->grad);
	b->kernels = alloc((size_t)nl, sizeof *b->kernels);
	b->plans = alloc((size_t)nl, sizeof *b->plans);
	b->fused = alloc((size_t)nl, sizeof *b->fused);
	b->xhat = alloc((size_t)nl, sizeof *b->xhat);
	b->istd = alloc((size_t)nl, sizeof *b->istd);
	b->mask = alloc((size_t)nl, sizeof *b->mask);
	b->loss = alloc((size_t)batch, sizeof *b->loss);
	b->correct = alloc((size_t)batch, sizeof *b->correct);
	if (!b->in || !b->out || !b->size || !b->act || !b->grad || !b->kernels || !b->plans ||
	    !b->fused || !b->xhat || !b->istd || !b->mask || !b->loss || !b->correct)
		goto oom;
	/* Slot 0 is the input; relu and dropout work in place, every other layer gets a slot. */
	b->size[0] = (size_t)m->channels * m->height * m->width;
	b->nslots = 1;
	for (int i = 0; i < nl; i++) {
		cnnf_layer *l = &m->layers[i];
		b->in[i] = i ? b->out[i - 1] : 0;
		if (is_inplace(l->type)) {
			b->out[i] = b->in[i];
		} else {
			b->out[i] = b->nslots;
			b->size[b->nslots++] = (size_t)l->out_c * l->out_h * l->out_w;
		}
		size_t in_size = (size_t)l->in_c * l->in_h * l->in_w;
		if (l->type == CNNF_LAYER_CONV || l->type == CNNF_LAYER_FC) {
			int fc = l->type == CNNF_LAYER_FC;
			b->kernels[i] = cnnf_kernel_new(l->out, l->in_c, fc ? l->in_h : l->kh,
			                                fc ? l->in_w : l->kw);
			if (!b->kernels[i])
				goto fail;
			if (!(b->plans[i] = cnnf_grad_conv_plan_new(l)))
				goto oom;
			b->fused[i] = i + 1 < nl && m->layers[i + 1].type == CNNF_LAYER_RELU;
			size_t w = cnnf_grad_conv_work(b->plans[i]);
			if (w > b->work_size)
				b->work_size = w;
		} else if (l->type == CNNF_LAYER_BATCHNORM) {
			b->has_bn = 1;
			if (!(b->xhat[i] = alloc((size_t)batch, in_size * sizeof(float))) ||
			    !(b->istd[i] = alloc((size_t)l->in_c, sizeof(double))))
				goto oom;
		} else if (l->type == CNNF_LAYER_DROPOUT) {
			if (!(b->mask[i] = alloc((size_t)batch, in_size * sizeof(float))))
				goto oom;
		}
	}
	for (int s = 0; s < b->nslots; s++)
		if (!(b->act[s] = alloc((size_t)batch, b->size[s] * sizeof(float))) ||
		    !(b->grad[s] = alloc((size_t)batch, b->size[s] * sizeof(float))))
			goto oom;
	b->input = b->act[0];
	size_t np = m->nparams ? m->nparams : 1;
	b->max_groups = (batch + GROUP - 1) / GROUP;
	while (b->max_groups > 1 && (size_t)b->max_groups * np > MAX_GROUP_FLOATS)
		b->max_groups--;
	if (!(b->gbuf = alloc((size_t)b->max_groups, np * sizeof(float))) ||
	    !(b->work =
	          alloc((size_t)b->max_groups, (b->work_size ? b->work_size : 1) * sizeof(float))))
		goto oom;
	cnnf_backprop_sync(b);
	return b;
oom:
	cnnf_error("out of memory for training buffers (batch %d)", batch);
fail:
	cnnf_backprop_free(b);
	return NULL;
}

/* ---- forward ---------------------------------------------------------------------------- */

/* Sample s's activations of layer i's input and output. */
static float *input_of(const cnnf_backprop *b, int i, int s)
{
	return b->act[b->in[i]] + s * b->size[b->in[i]];
}

static float *output_of(const cnnf_backprop *b, int i, int s)
{
	return b->act[b->out[i]] + s * b->size[b->out[i]];
}

/*
 * The interleaved activations of a group that the last engine layer made:
 * the next engine layer takes them as they are instead of interleaving its
 * input again. slot is -1 when there are none (or they are out of date).
 */
typedef struct side {
	cnnf_tensor *t;
	int slot;
} side;

static void side_drop(side *c)
{
	cnnf_tensor_free(c->t);
	c->t = NULL;
	c->slot = -1;
}

/*
 * A conv, fc or pooling layer on samples s0..s0+g-1 at once, on the engine:
 * their columns interleaved (column x of sample n at x * g + n), so that a
 * tap j columns away is j * g away and each sample's zero padding lies
 * outside the whole row. Every sample's output is what it would be alone.
 * The outputs go to the samples' own buffers, for the backward pass.
 */
static int engine_layer(cnnf_backprop *b, int i, int s0, int g, side *c)
{
	const cnnf_layer *l = &b->m->layers[i];
	size_t isize = b->size[b->in[i]], osize = b->size[b->out[i]];
	cnnf_tensor *in = NULL, *t = NULL;
	cnnf_tensor view = {l->in_c, l->in_h, l->in_w, input_of(b, i, s0)};
	const cnnf_tensor *x = &view;
	if (g > 1 && c->slot == b->in[i]) {
		x = c->t;
	} else if (g > 1) {
		if (!(in = cnnf_tensor_new_uninit(l->in_c, l->in_h, l->in_w * g)))
			return -1;
		for (int n = 0; n < g; n++) {
			const float *src = input_of(b, i, s0 + n);
			for (size_t q = 0; q < isize; q++)
				in->data[q * g + n] = src[q];
		}
		x = in;
	}
	int rc;
	const char *name = cnnf_model_layer_name(l->type);
	if (l->type == CNNF_LAYER_CONV || l->type == CNNF_LAYER_FC) {
		int fc = l->type == CNNF_LAYER_FC;
		int pad = fc ? 0 : l->pad, st = fc ? 1 : l->stride, d = fc ? 1 : l->dilation;
		cnnf_conv_geom geo = {pad, pad, pad * g, pad * g,         st,
		                      st,  d,   d * g,   CNNF_BORDER_ZERO};
		/* As cnnf_net_forward() runs it: float accumulation, the same bits. */
		cnnf_conv_out post = {.relu = b->fused[i], .fast = 1};
		rc = cnnf_conv_apply(x, b->kernels[i], &geo, &post, 1, name, &t);
	} else {
		rc = cnnf_pool_run(x, l->type == CNNF_LAYER_MAXPOOL ? CNNF_POOL_MAX : CNNF_POOL_AVG,
		                   l->kh, l->kw, l->stride, l->stride, 1, 1, g, 1, name, &t);
	}
	cnnf_tensor_free(in);
	side_drop(c);
	if (rc < 0)
		return -1;
	for (int n = 0; n < g; n++) {
		float *dst = output_of(b, i, s0 + n);
		for (size_t q = 0; q < osize; q++)
			dst[q] = t->data[q * g + n];
	}
	if (g > 1) {
		c->t = t;
		c->slot = b->out[i];
	} else {
		cnnf_tensor_free(t);
	}
	return 0;
}

/* Layer i on samples s0..s1-1. Returns 0 or -1. */
static int forward_layer(cnnf_backprop *b, int i, int s0, int s1, side *c)
{
	cnnf_layer *l = &b->m->layers[i];
	size_t n = b->size[b->out[i]];
	switch (l->type) {
	case CNNF_LAYER_CONV:
		/* Side by side needs stride 1: a strided layer takes its samples one at a time. */
		if (l->stride != 1) {
			for (int s = s0; s < s1; s++)
				if (engine_layer(b, i, s, 1, c) < 0)
					return -1;
			return 0;
		}
		return engine_layer(b, i, s0, s1 - s0, c);
	case CNNF_LAYER_FC:
	case CNNF_LAYER_MAXPOOL:
	case CNNF_LAYER_AVGPOOL:
		return engine_layer(b, i, s0, s1 - s0, c);
	case CNNF_LAYER_RELU:
		/* Right after a conv or fc the engine has applied it already. */
		if (i > 0 && b->fused[i - 1])
			return 0;
		side_drop(c);
		for (int s = s0; s < s1; s++) {
			float *y = output_of(b, i, s);
			for (size_t j = 0; j < n; j++)
				if (!(y[j] > 0))
					y[j] = 0;
		}
		return 0;
	case CNNF_LAYER_DROPOUT:
		if (!(l->p > 0))
			return 0;
		side_drop(c);
		for (int s = s0; s < s1; s++) {
			cnnf_rng r;
			float *mask = b->mask[i] + s * n;
			cnnf_rng_derive(&r, b->pass->seed, b->pass->key, (uint64_t)i, (uint64_t)s);
			cnnf_grad_dropout_mask(l->p, &r, mask, n);
			cnnf_grad_scale(mask, output_of(b, i, s), n);
		}
		return 0;
	case CNNF_LAYER_BATCHNORM: /* over the whole batch, in forward_bn() */
	case CNNF_LAYER_SOFTMAX:   /* left out of training */
		return 0;
	}
	return 0;
}

/* The loss of sample s and the gradient of the batch-mean loss with respect to its scores. */
static void loss_of(cnnf_backprop *b, int s)
{
	int k = b->m->classes, slot = b->nl ? b->out[b->nl - 1] : 0;
	const float *z = b->act[slot] + s * b->size[slot];
	int label = b->pass->labels[s], best = 0;
	for (int c = 1; c < k; c++)
		if (z[c] > z[best])
			best = c;
	b->correct[s] = best == label;
	const double *w = b->pass->class_weights;
	double scale = (w ? w[label] : 1.0) / b->wsum;
	b->loss[s] = cnnf_grad_softmax_xent(z, k, label, scale, b->grad[slot] + s * b->size[slot]);
}

/* The inputs of group g's samples, when the caller left that to the workers. */
static void fill_group(cnnf_backprop *b, int g)
{
	int s0, s1;
	group_range(b, g, &s0, &s1);
	for (int s = s0; s < s1; s++)
		b->pass->fill(b->pass->fill_ctx, s, b->input + s * b->size[0]);
}

static int fill_groups(void *ctx, size_t g0, size_t g1)
{
	for (size_t g = g0; g < g1; g++)
		fill_group(ctx, (int)g);
	return 0;
}

/* Group g's samples through the layers [first, last), then, after the last layer, the loss. */
static int forward_group(cnnf_backprop *b, int g)
{
	int s0, s1;
	group_range(b, g, &s0, &s1);
	side c = {NULL, -1};
	for (int i = b->first; i < b->last; i++)
		if (forward_layer(b, i, s0, s1, &c) < 0) {
			side_drop(&c);
			return -1;
		}
	side_drop(&c);
	if (b->last == b->nl)
		for (int s = s0; s < s1; s++)
			loss_of(b, s);
	return 0;
}

static int forward_groups(void *ctx, size_t g0, size_t g1)
{
	for (size_t g = g0; g < g1; g++)
		if (forward_group(ctx, (int)g) < 0)
			return -1;
	return 0;
}

static int forward_bn(void *ctx, size_t c0, size_t c1)
{
	cnnf_backprop *b = ctx;
	int i = b->first;
	cnnf_grad_batchnorm_forward(&b->m->layers[i], b->n, (int)c0, (int)c1, b->act[b->in[i]],
	                            b->act[b->out[i]], b->xhat[i], b->istd[i],
	                            b->pass->bn_momentum);
	return 0;
}

/* ---- backward --------------------------------------------------------------------------- */

/* Layer i on sample s, its parameter gradients added to gw. */
static void backward_layer(cnnf_backprop *b, int i, int s, float *gw, float *work)
{
	const cnnf_layer *l = &b->m->layers[i];
	int a = b->in[i], o = b->out[i];
	const float *x = b->act[a] + s * b->size[a], *y = b->act[o] + s * b->size[o];
	float *dy = b->grad[o] + s * b->size[o];
	/* The input's gradient is of no use to anyone. */
	float *dx = a ? b->grad[a] + s * b->size[a] : NULL;
	switch (l->type) {
	case CNNF_LAYER_CONV:
	case CNNF_LAYER_FC:
		cnnf_grad_conv(b->plans[i], x, dy, dx, gw + (l->weight - b->m->params),
		               gw + (l->bias - b->m->params), work);
		break;
	case CNNF_LAYER_RELU:
		if (dx)
			cnnf_grad_relu(y, dy, dx, b->size[o]);
		break;
	case CNNF_LAYER_MAXPOOL:
		if (dx)
			cnnf_grad_maxpool(l, x, dy, dx);
		break;
	case CNNF_LAYER_AVGPOOL:
		if (dx)
			cnnf_grad_avgpool(l, dy, dx);
		break;
	case CNNF_LAYER_DROPOUT:
		if (dx && l->p > 0)
			cnnf_grad_scale(b->mask[i] + s * b->size[o], dx, b->size[o]);
		break;
	case CNNF_LAYER_BATCHNORM:
	case CNNF_LAYER_SOFTMAX:
		break;
	}
}

/* Group g's samples back through the layers [first, last), into the group's buffer. */
static void backward_group(cnnf_backprop *b, int g)
{
	int s0, s1;
	group_range(b, g, &s0, &s1);
	float *gw = b->gbuf + (size_t)g * b->m->nparams, *work = b->work + (size_t)g * b->work_size;
	for (int s = s0; s < s1; s++)
		for (int i = b->last - 1; i >= b->first; i--)
			backward_layer(b, i, s, gw, work);
}

static int backward_groups(void *ctx, size_t g0, size_t g1)
{
	for (size_t g = g0; g < g1; g++)
		backward_group(ctx, (int)g);
	return 0;
}

/* Without batchnorm, a group goes forward and straight back while its activations are warm. */
static int whole_groups(void *ctx, size_t g0, size_t g1)
{
	cnnf_backprop *b = ctx;
	for (size_t g = g0; g < g1; g++) {
		if (b->pass->fill)
			fill_group(b, (int)g);
		if (forward_group(b, (int)g) < 0)
			return -1;
		if (b->pass->grad) {
			memset(b->gbuf + g * b->m->nparams, 0, b->m->nparams * sizeof(float));
			backward_group(b, (int)g);
		}
	}
	return 0;
}

static int backward_bn(void *ctx, size_t c0, size_t c1)
{
	cnnf_backprop *b = ctx;
	int i = b->first, a = b->in[i];
	const cnnf_layer *l = &b->m->layers[i];
	/* The parameter gradients of a whole channel at once: into group 0's buffer. */
	cnnf_grad_batchnorm_backward(
	    l, b->n, (int)c0, (int)c1, b->grad[b->out[i]], a ? b->grad[a] : NULL, b->xhat[i],
	    b->istd[i], b->gbuf + (l->weight - b->m->params), b->gbuf + (l->bias - b->m->params));
	return 0;
}

/* grad[p] = the group buffers' sum, in group order. */
static int reduce(void *ctx, size_t p0, size_t p1)
{
	cnnf_backprop *b = ctx;
	size_t np = b->m->nparams;
	float *grad = b->pass->grad;
	memcpy(grad + p0, b->gbuf + p0, (p1 - p0) * sizeof(float));
	for (int g = 1; g < b->groups; g++) {
		const float *src = b->gbuf + (size_t)g * np;
		for (size_t p = p0; p < p1; p++)
			grad[p] += src[p];
	}
	return 0;
}

/* The end of the stretch of layers starting at i that needs no whole-batch step. */
static int stretch_end(const cnnf_backprop *b, int i)
{
	while (i < b->nl && b->m->layers[i].type != CNNF_LAYER_BATCHNORM)
		i++;
	return i;
}

/* With batchnorm: stretches of per-group layers, split by the batchnorm layers, there and back. */
static int run_stretches(cnnf_backprop *b)
{
	const cnnf_model *m = b->m;
	size_t groups = (size_t)b->groups;
	if (b->pass->fill && cnnf_parallel_for(groups, b->threads, fill_groups, b) < 0)
		return -1;
	for (int i = 0;;) {
		b->first = i;
		b->last = stretch_end(b, i);
		if ((b->last > i || b->last == b->nl) &&
		    cnnf_parallel_for(groups, b->threads, forward_groups, b) < 0)
			return -1;
		if (b->last == b->nl)
			break;
		b->first = b->last;
		if (cnnf_parallel_for((size_t)m->layers[b->last].in_c, b->threads, forward_bn, b) <
		    0)
			return -1;
		/* After a final batchnorm the next round runs no layers, only the loss. */
		i = b->last + 1;
	}
	if (!b->pass->grad)
		return 0;
	memset(b->gbuf, 0, groups * m->nparams * sizeof(float));
	for (int end = b->nl; end > 0;) {
		int i = end;
		while (i > 0 && m->layers[i - 1].type != CNNF_LAYER_BATCHNORM)
			i--;
		b->first = i;
		b->last = end;
		if (end > i && cnnf_parallel_for(groups, b->threads, backward_groups, b) < 0)
			return -1;
		if (i == 0)
			break;
		b->first = i - 1;
		if (cnnf_parallel_for((size_t)m->layers[i - 1].in_c, b->threads, backward_bn, b) <
		    0)
			return -1;
		end = i - 1;
	}
	return 0;
}

int cnnf_backprop_run(cnnf_backprop *b, cnnf_backprop_pass *p)
{
	const cnnf_model *m = b->m;
	b->pass = p;
	b->n = p->n;
	b->groups = groups_for(b, p->n);
	/* The weighted mean's denominator, summed in sample order before any worker needs it. */
	b->wsum = p->class_weights ? 0 : (double)p->n;
	if (p->class_weights)
		for (int s = 0; s < p->n; s++)
			b->wsum += p->class_weights[p->labels[s]];
	if (b->has_bn) {
		if (run_stretches(b) < 0)
			return -1;
	} else {
		b->first = 0;
		b->last = b->nl;
		if (cnnf_parallel_for((size_t)b->groups, b->threads, whole_groups, b) < 0)
			return -1;
	}
	p->loss = 0;
	p->correct = 0;
	double wl = 0;
	for (int s = 0; s < p->n; s++) {
		p->loss += b->loss[s];
		p->correct += b->correct[s];
		if (p->class_weights)
			wl += p->class_weights[p->labels[s]] * b->loss[s];
	}
	p->wloss = p->class_weights ? wl / b->wsum : p->loss / p->n;
	/* Threads only where the sums are worth starting them for. */
	int threads = (size_t)b->groups * m->nparams < ((size_t)1 << 20) ? 1 : b->threads;
	if (p->grad && m->nparams && cnnf_parallel_for(m->nparams, threads, reduce, b) < 0)
		return -1;
	return 0;
}
