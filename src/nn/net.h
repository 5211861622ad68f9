/* net.h: a cnnf-model(5) run on the graph engine: patch batches on worker graphs, and its dense form. */
#ifndef CNNF_NET_H
#define CNNF_NET_H

#include "engine/tensor.h"
#include "nn/graph.h"
#include "nn/model.h"

/*
 * The contract.
 *
 * A model is run as the graph nn/model_graph.h makes of it, with its Relus
 * fused into the convolutions before them (nn/pass.h), and a final softmax
 * layer left out of the graph: its scores are what callers get, and
 * cnnf_net_softmax (in double) makes probabilities of them, so a label is
 * the argmax of the scores. There is one forward pass, the graph's: patch
 * mode runs it on batches of patches, dense mode on whole tiles in the
 * dense form of the same graph (cnnf_pass_dense); both give each patch the
 * same bits, which do not depend on the thread count.
 */

/* Patches one graph run takes at most; fewer when so many would need more than CNNF_NET_BUDGET. */
#define CNNF_NET_BATCH 128
/* Bytes of activations a worker's patch graph may hold at its peak (unless one patch needs more). */
#define CNNF_NET_BUDGET ((uint64_t)32 << 20)

typedef struct cnnf_net {
	const cnnf_model *model; /* borrowed: it must outlive the net */
	int workers;             /* patch graphs, one per worker thread */
	int batch;               /* patches per run: 1 .. CNNF_NET_BATCH */
	cnnf_graph **patch;      /* [workers] prepared for `batch` patches, 1 thread each */
	cnnf_graph *dense;       /* the dense form (task/segment.h runs it), or NULL when the model has none */
	size_t psize;            /* floats of one patch, C x H x W */
	char why[200];           /* why there is no dense form */
} cnnf_net;

/*
 * The graphs of m for `workers` worker threads (0: all cores) and, when
 * dense is set, its dense form (n->dense stays NULL, with the reason in
 * n->why, when the model pads inside its patch). name is the model's name
 * for messages. Returns an owned net, or NULL with a message.
 */
cnnf_net *cnnf_net_new(const cnnf_model *m, const char *name, int workers, int dense);
void cnnf_net_free(cnnf_net *n);

/*
 * The scores of count patches (1 <= count <= n->batch) on worker w's graph
 * (0 <= w < n->workers; a worker's graph is used by one thread at a time).
 * patches holds n->batch patches of n->psize floats, the first count given
 * (each C x H x W, normalised); the rest is overwritten. On
 * success *scores points to count x K floats owned by the caller.
 */
int cnnf_net_scores(cnnf_net *n, int w, float *patches, int count, float **scores);

/*
 * The model's output for one patch (C x H x W, normalised) on worker 0's
 * graph, as the model file defines it (a final softmax applied, in double):
 * *out (owned) is its last layer's C x H x W (K x 1 x 1 for a whole model). For tests and one-off uses; segmentation runs
 * batches.
 */
int cnnf_net_forward(cnnf_net *n, const cnnf_tensor *in, cnnf_tensor **out);

/* Whether the model ends in a softmax layer (which the scores leave to cnnf_net_softmax). */
int cnnf_net_softmaxed(const cnnf_model *m);

/* Softmax over the K values of v in place (max subtracted first, computed in double). */
void cnnf_net_softmax(float *v, int k);

#endif
