/* backprop.c: forward and backward passes over a batch, threaded, with gradients summed in a fixed
 * order. */
#include "backprop.h"

#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "error.h"
#include "grad.h"
#include "kernel.h"
#include "parallel.h"
#include "pool.h"
#include "rng.h"
#include "tensor.h"

/* At most this many gradient buffers, and at most this many floats in them all. */
#define MAX_GROUPS       32
#define MAX_GROUP_FLOATS ((size_t)1 << 25)

struct cnnf_backprop {
	cnnf_model *m;
	int batch, threads;
	int nl;        /* layers run: all but a final softmax */
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

/* Number of gradient buffers for a batch of n: depends on n and the model only. */
static int groups_for(const cnnf_backprop *b, int n)
{
	return n < b->max_groups ? n : b->max_groups;
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
	b->max_groups = batch < MAX_GROUPS ? batch : MAX_GROUPS;
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

static cnnf_tensor view(const cnnf_layer *l, float *data)
{
	return (cnnf_tensor){l->in_c, l->in_h, l->in_w, data};
}

/* Layer i on sample s. Returns 0 or -1. */
static int forward_layer(cnnf_backprop *b, int i, int s)
{
	cnnf_layer *l = &b->m->layers[i];
	float *x = b->act[b->in[i]] + s * b->size[b->in[i]];
	float *y = b->act[b->out[i]] + s * b->size[b->out[i]];
	size_t n = b->size[b->out[i]];
	cnnf_tensor in = view(l, x), *t = NULL;
	switch (l->type) {
	case CNNF_LAYER_CONV:
	case CNNF_LAYER_FC: {
		int fc = l->type == CNNF_LAYER_FC;
		int pad = fc ? 0 : l->pad, st = fc ? 1 : l->stride, d = fc ? 1 : l->dilation;
		cnnf_conv_geom g = {pad, pad, pad, pad, st, st, d, d, CNNF_BORDER_ZERO};
		/* As cnnf_net_forward() runs it: float accumulation, the same bits. */
		cnnf_conv_out post = {.relu = b->fused[i], .fast = 1};
		if (cnnf_conv_apply(&in, b->kernels[i], &g, &post, 1,
		                    cnnf_model_layer_name(l->type), &t) < 0)
			return -1;
		break;
	}
	case CNNF_LAYER_MAXPOOL:
	case CNNF_LAYER_AVGPOOL:
		if (cnnf_pool_apply(
		        &in, l->type == CNNF_LAYER_MAXPOOL ? CNNF_POOL_MAX : CNNF_POOL_AVG, l->kh,
		        l->kw, l->stride, l->stride, cnnf_model_layer_name(l->type), &t) < 0)
			return -1;
		break;
	case CNNF_LAYER_RELU:
		/* Right after a conv or fc the engine has applied it already. */
		if (!(i > 0 && b->fused[i - 1]))
			for (size_t j = 0; j < n; j++)
				if (!(y[j] > 0))
					y[j] = 0;
		return 0;
	case CNNF_LAYER_DROPOUT:
		if (l->p > 0) {
			cnnf_rng r;
			float *mask = b->mask[i] + s * n;
			cnnf_rng_derive(&r, b->pass->seed, b->pass->key, (uint64_t)i, (uint64_t)s);
			cnnf_grad_dropout_mask(l->p, &r, mask, n);
			cnnf_grad_scale(mask, y, n);
		}
		return 0;
	case CNNF_LAYER_BATCHNORM: /* over the whole batch, in forward_bn() */
	case CNNF_LAYER_SOFTMAX:   /* left out of training */
		return 0;
	}
	memcpy(y, t->data, n * sizeof(float));
	cnnf_tensor_free(t);
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
	b->loss[s] =
	    cnnf_grad_softmax_xent(z, k, label, 1.0 / b->n, b->grad[slot] + s * b->size[slot]);
}

static int forward_groups(void *ctx, size_t g0, size_t g1)
{
	cnnf_backprop *b = ctx;
	for (size_t g = g0; g < g1; g++) {
		int s0, s1;
		group_range(b, (int)g, &s0, &s1);
		for (int s = s0; s < s1; s++) {
			for (int i = b->first; i < b->last; i++)
				if (forward_layer(b, i, s) < 0)
					return -1;
			if (b->last == b->nl)
				loss_of(b, s);
		}
	}
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

static int backward_groups(void *ctx, size_t g0, size_t g1)
{
	cnnf_backprop *b = ctx;
	size_t np = b->m->nparams;
	for (size_t g = g0; g < g1; g++) {
		int s0, s1;
		group_range(b, (int)g, &s0, &s1);
		float *gw = b->gbuf + g * np, *work = b->work + g * b->work_size;
		for (int s = s0; s < s1; s++)
			for (int i = b->last - 1; i >= b->first; i--)
				backward_layer(b, i, s, gw, work);
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

int cnnf_backprop_run(cnnf_backprop *b, cnnf_backprop_pass *p)
{
	const cnnf_model *m = b->m;
	b->pass = p;
	b->n = p->n;
	b->groups = groups_for(b, p->n);
	/* Forward: stretches of per-sample layers, split by batchnorm layers. */
	for (int i = 0;;) {
		b->first = i;
		b->last = stretch_end(b, i);
		if ((b->last > i || b->last == b->nl) &&
		    cnnf_parallel_for((size_t)b->groups, b->threads, forward_groups, b) < 0)
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
	p->loss = 0;
	p->correct = 0;
	for (int s = 0; s < p->n; s++) {
		p->loss += b->loss[s];
		p->correct += b->correct[s];
	}
	if (!p->grad)
		return 0;
	/* Backward: the same stretches from the end. */
	memset(b->gbuf, 0, (size_t)b->groups * m->nparams * sizeof(float));
	for (int end = b->nl; end > 0;) {
		int i = end;
		while (i > 0 && m->layers[i - 1].type != CNNF_LAYER_BATCHNORM)
			i--;
		b->first = i;
		b->last = end;
		if (end > i &&
		    cnnf_parallel_for((size_t)b->groups, b->threads, backward_groups, b) < 0)
			return -1;
		if (i == 0)
			break;
		b->first = i - 1;
		if (cnnf_parallel_for((size_t)m->layers[i - 1].in_c, b->threads, backward_bn, b) <
		    0)
			return -1;
		end = i - 1;
	}
	if (m->nparams && cnnf_parallel_for(m->nparams, b->threads, reduce, b) < 0)
		return -1;
	return 0;
}
