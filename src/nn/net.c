/* net.c: the forward pass of a model, layer by layer, on the convolution engine. */
#include "nn/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/conv.h"
#include "base/error.h"
#include "engine/pool.h"

void cnnf_net_free(cnnf_net *n)
{
	if (!n)
		return;
	if (n->kernels)
		for (int i = 0; i < n->model->nlayers; i++)
			cnnf_kernel_free(n->kernels[i]);
	free(n->kernels);
	free(n);
}

/* The engine kernel of a conv or fc layer: PyTorch's [out][in][kh][kw] is the bank layout. */
static cnnf_kernel *layer_kernel(const cnnf_layer *l)
{
	int kh = l->type == CNNF_LAYER_FC ? l->in_h : l->kh;
	int kw = l->type == CNNF_LAYER_FC ? l->in_w : l->kw;
	cnnf_kernel *k = cnnf_kernel_new(l->out, l->in_c, kh, kw);
	if (!k)
		return NULL;
	size_t n = (size_t)l->out * l->in_c * kh * kw;
	for (size_t i = 0; i < n; i++)
		k->weights[i] = l->weight[i];
	for (int f = 0; f < l->out; f++)
		k->bias[f] = l->bias[f];
	return k;
}

cnnf_net *cnnf_net_new(const cnnf_model *m)
{
	cnnf_net *n = calloc(1, sizeof *n);
	if (!n || !(n->kernels = calloc((size_t)m->nlayers, sizeof *n->kernels))) {
		free(n);
		cnnf_error("out of memory");
		return NULL;
	}
	n->model = m;
	for (int i = 0; i < m->nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		if (l->type != CNNF_LAYER_CONV && l->type != CNNF_LAYER_FC)
			continue;
		if (!(n->kernels[i] = layer_kernel(l))) {
			cnnf_net_free(n);
			return NULL;
		}
	}
	return n;
}

void cnnf_net_softmax(float *v, int k)
{
	double max = v[0], sum = 0;
	for (int i = 1; i < k; i++)
		if (v[i] > max)
			max = v[i];
	for (int i = 0; i < k; i++)
		sum += exp((double)v[i] - max);
	for (int i = 0; i < k; i++)
		v[i] = (float)(exp((double)v[i] - max) / sum);
}

void cnnf_net_batchnorm(cnnf_tensor *t, const cnnf_layer *l)
{
	size_t plane = (size_t)t->h * t->w;
	for (int c = 0; c < t->c; c++) {
		double inv = 1.0 / sqrt((double)l->var[c] + l->eps);
		double scale = l->weight[c] * inv, shift = l->bias[c] - l->mean[c] * scale;
		float *v = t->data + c * plane;
		for (size_t i = 0; i < plane; i++)
			v[i] = (float)(v[i] * scale + shift);
	}
}

int cnnf_net_forward(const cnnf_net *n, const cnnf_tensor *in, cnnf_tensor **out)
{
	return cnnf_net_forward_group(n, in, 1, out);
}

int cnnf_net_groupable(const cnnf_model *m)
{
	for (int i = 0; i < m->nlayers; i++)
		if (m->layers[i].type == CNNF_LAYER_CONV && m->layers[i].stride != 1)
			return 0;
	return 1;
}

/* Softmax over the channels at every position of t. */
static void softmax_positions(cnnf_tensor *t, float *v)
{
	size_t plane = (size_t)t->h * t->w;
	for (size_t p = 0; p < plane; p++) {
		for (int c = 0; c < t->c; c++)
			v[c] = t->data[c * plane + p];
		cnnf_net_softmax(v, t->c);
		for (int c = 0; c < t->c; c++)
			t->data[c * plane + p] = v[c];
	}
}

int cnnf_net_forward_group(const cnnf_net *n, const cnnf_tensor *in, int group,
			   cnnf_tensor **out)
{
	const cnnf_model *m = n->model;
	const int G = group;
	cnnf_tensor *cur = NULL; /* owned activations; NULL while the input is still current */
	const cnnf_tensor *x = in;
	for (int i = 0; i < m->nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		cnnf_tensor *next = NULL;
		switch (l->type) {
		case CNNF_LAYER_CONV:
		case CNNF_LAYER_FC: {
			int fc = l->type == CNNF_LAYER_FC, li = i;
			/*
			 * With a group, columns are G inputs interleaved: a tap j
			 * columns away is j * G away, and each input's zero padding
			 * lies outside the whole row (stride 1 only).
			 */
			cnnf_conv_geom g = {.pad_top = fc ? 0 : l->pad,
					    .pad_bottom = fc ? 0 : l->pad,
					    .pad_left = fc ? 0 : l->pad * G,
					    .pad_right = fc ? 0 : l->pad * G,
					    .stride_y = fc ? 1 : l->stride,
					    .stride_x = fc ? 1 : l->stride,
					    .dil_y = fc ? 1 : l->dilation,
					    .dil_x = fc ? G : l->dilation * G,
					    .border = CNNF_BORDER_ZERO};
			/* A ReLU right after is applied as the values are stored. */
			cnnf_conv_out post = {.fast = 1};
			if (i + 1 < m->nlayers && m->layers[i + 1].type == CNNF_LAYER_RELU) {
				post.relu = 1;
				i++;
			}
			if (cnnf_conv_apply(x, n->kernels[li], &g, &post, 1,
					    cnnf_model_layer_name(l->type), &next) < 0)
				goto fail;
			break;
		}
		case CNNF_LAYER_MAXPOOL:
		case CNNF_LAYER_AVGPOOL:
			if (cnnf_pool_run(x, l->type == CNNF_LAYER_MAXPOOL ? CNNF_POOL_MAX : CNNF_POOL_AVG,
					  l->kh, l->kw, l->stride, l->stride, 1, 1, G, 1,
					  cnnf_model_layer_name(l->type), &next) < 0)
				goto fail;
			break;
		case CNNF_LAYER_RELU:
		case CNNF_LAYER_BATCHNORM:
		case CNNF_LAYER_SOFTMAX:
			/* In place, on a copy the first time the input itself would change. */
			if (!cur) {
				if (!(next = cnnf_tensor_new(x->c, x->h, x->w)))
					goto fail;
				memcpy(next->data, x->data, sizeof(float) * cnnf_tensor_size(x));
			}
			{
				cnnf_tensor *t = next ? next : cur;
				size_t size = cnnf_tensor_size(t);
				if (l->type == CNNF_LAYER_RELU) {
					for (size_t j = 0; j < size; j++)
						if (!(t->data[j] > 0))
							t->data[j] = 0;
				} else if (l->type == CNNF_LAYER_BATCHNORM) {
					cnnf_net_batchnorm(t, l);
				} else {
					float *v = malloc(sizeof(float) * (size_t)t->c);
					if (!v) {
						cnnf_tensor_free(next);
						cnnf_error("out of memory");
						goto fail;
					}
					softmax_positions(t, v);
					free(v);
				}
			}
			break;
		case CNNF_LAYER_DROPOUT:
			break;
		}
		if (next) {
			cnnf_tensor_free(cur);
			cur = next;
			x = cur;
		}
	}
	if (!cur) {
		/* Only identity layers: the output is a copy of the input. */
		if (!(cur = cnnf_tensor_new(in->c, in->h, in->w)))
			return -1;
		memcpy(cur->data, in->data, sizeof(float) * cnnf_tensor_size(in));
	}
	*out = cur;
	return 0;
fail:
	cnnf_tensor_free(cur);
	return -1;
}
