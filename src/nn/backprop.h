/* backprop.h: a model in training mode over a batch: forward on the engine, backward via grad. */
#ifndef CNNF_BACKPROP_H
#define CNNF_BACKPROP_H

#include <stdint.h>

#include "nn/model.h"

/*
 * Buffers and engine kernels for batches of up to `batch` samples of a
 * model. Training mode: dropout draws masks, batchnorm normalises with the
 * batch's statistics; a final softmax layer is left out and the loss is
 * the softmax cross-entropy of the last scores.
 *
 * Determinism: samples are split into groups that depend only on the batch
 * size and the parameter count, never on the thread count; each group sums
 * its samples' parameter gradients into its own buffer in sample order, and
 * the buffers are added in group order. Batch statistics and losses are
 * summed in sample order, dropout masks come from a stream keyed by
 * (seed, key, layer, sample). So a batch gives bit-identical gradients for
 * any number of threads.
 */
typedef struct cnnf_backprop cnnf_backprop;

/*
 * For model m (borrowed: it must outlive the result, and its parameters are
 * read at each cnnf_backprop_sync()). threads: 0 for all cores. Returns an
 * owned object, or NULL.
 */
cnnf_backprop *cnnf_backprop_new(cnnf_model *m, int batch, int threads);
void cnnf_backprop_free(cnnf_backprop *b);

/* Where the caller puts a batch's normalised inputs: batch blocks of C x H x W floats. */
float *cnnf_backprop_input(cnnf_backprop *b);

/* Copy the conv and fc parameters of the model into the engine's kernels; after every change. */
void cnnf_backprop_sync(cnnf_backprop *b);

/* One pass over a batch: what to do, and what came out. */
typedef struct cnnf_backprop_pass {
	int n;              /* samples in the input buffer, 1..batch */
	const int *labels;  /* [n]: their classes */
	/* [classes] positive weights, or NULL: the loss is then torch's
	   cross_entropy(weight=w), sum of w[y] * nll over sum of w[y] of the
	   batch's samples, and grad its gradient (NULL: the plain mean). */
	const double *class_weights;
	uint64_t seed, key; /* the dropout stream, e.g. (--seed, step number) */
	double bn_momentum; /* > 0: update the batchnorm running statistics */
	/* [m->nparams] or NULL (forward only): receives the gradient of the mean
	   loss over the batch; 0 for batchnorm running statistics. */
	float *grad;
	/* NULL when the caller has filled the input buffer; else called from the
	   worker threads to put sample s's input in dst, its block of the input
	   buffer, before the sample is used (each s once). */
	void (*fill)(void *ctx, int s, float *dst);
	void *fill_ctx;
	double loss; /* out: sum of the n samples' cross-entropy (unweighted) */
	double wloss; /* out: the loss grad is of: the weighted mean above, or loss / n */
	int correct; /* out: samples whose highest score (lowest index on ties) is their label */
} cnnf_backprop_pass;

/* Run p on the batch in the input buffer. Returns 0, or -1 (out of memory). */
int cnnf_backprop_run(cnnf_backprop *b, cnnf_backprop_pass *p);

#endif
