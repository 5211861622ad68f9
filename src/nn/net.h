/* net.h: a loaded model made ready for inference, and its forward pass on the conv engine. */
#ifndef CNNF_NET_H
#define CNNF_NET_H

#include "engine/kernel.h"
#include "nn/model.h"
#include "engine/tensor.h"

/*
 * A network: the model plus, for every conv and fc layer, the engine kernel
 * holding its weights (an fc layer is a convolution whose kernel covers its
 * whole input). The model is borrowed and must outlive the net.
 */
typedef struct cnnf_net {
	const cnnf_model *model;
	cnnf_kernel **kernels; /* [nlayers]: the layer's kernel, NULL for layers without one */
} cnnf_net;

/* Build the engine kernels of m. Returns an owned net or NULL. */
cnnf_net *cnnf_net_new(const cnnf_model *m);
void cnnf_net_free(cnnf_net *n);

/*
 * Run the network on one normalised input (the model's C x H x W) in the
 * calling thread. Returns 0 and *out, the last layer's K x 1 x 1 output
 * (owned), or -1.
 */
int cnnf_net_forward(const cnnf_net *n, const cnnf_tensor *in, cnnf_tensor **out);

/*
 * The same for `group` inputs at once, side by side with their columns
 * interleaved (column x of input n at x * group + n): the output is
 * K x 1 x group, each input's result identical to cnnf_net_forward's. Only
 * for models cnnf_net_groupable() accepts.
 */
int cnnf_net_forward_group(const cnnf_net *n, const cnnf_tensor *in, int group,
			   cnnf_tensor **out);

/* Whether every conv layer has stride 1, which cnnf_net_forward_group() needs. */
int cnnf_net_groupable(const cnnf_model *m);

/*
 * Softmax over the K values of v in place (max subtracted first, computed
 * in double).
 */
void cnnf_net_softmax(float *v, int k);

/* A batchnorm layer in eval mode on t, in place: (v - mean) / sqrt(var + eps) * gamma + beta. */
void cnnf_net_batchnorm(cnnf_tensor *t, const cnnf_layer *l);

#endif
