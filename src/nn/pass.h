/* pass.h: rewrites of a finished graph before it runs: Conv+Relu fusion, the dense form of a patch classifier. */
#ifndef CNNF_PASS_H
#define CNNF_PASS_H

#include <stddef.h>

#include "nn/graph.h"

/*
 * The contract.
 *
 * A pass rewrites a finished graph (cnnf_graph_finish) that has not been
 * prepared, in place; the graph computes the same values after it as
 * before, bit for bit, at the same cost or less. Passes touch no weight.
 */

/*
 * Fuse every Relu whose input is output 0 of a node that can store
 * max(y, 0) itself (op->fuses_relu: Conv) and that nothing else reads (nor
 * is a graph output): the node takes the Relu's output, the Relu goes.
 * The same bits: the engine applies y > 0 ? y : 0 to the float it stores,
 * as Relu does. Returns the number of Relus fused, or -1.
 */
int cnnf_pass_fuse(cnnf_graph *g);

/*
 * Fuse every 2-D MaxPool of stride 1 without pads (the dense form's pools)
 * whose input is output 0 of a node that can pool it itself
 * (op->fuses_pool: a 2-D Conv of one group, its Relu fused or not) and
 * that nothing else reads (nor is a graph output): the node takes the
 * pool's window (n->pool_k, n->pool_d) and output, the MaxPool goes. The
 * same bits: the conv's rows, pooled by MaxPool's row kernel. Returns the
 * number of pools fused, or -1.
 */
int cnnf_pass_fuse_pool(cnnf_graph *g);

/*
 * The dense form of a patch classifier: a graph whose input is N x C x h x w
 * and whose output is N x K x 1 x 1, rewritten so that on an input of
 * N x C x H x W (H >= h, W >= w) its output (k, y, x) is what the original
 * gives for the h x w patch whose top-left corner is at (y, x), for every
 * y <= H - h and x <= W - w (the output may be larger; the rest is not
 * meaningful). Every window of stride s runs with stride 1 and every later
 * window is dilated by the product of the strides before it (the lecture's
 * rewrite, as in dense segmentation): the same products and sums as the
 * patch graph makes, in the same order, so the same bits. The declared
 * input's H and W become free.
 *
 * It applies only where that is exact: windows (Conv, MaxPool,
 * AveragePool) on 2-D maps without padding (inside a patch, padding would
 * put zeros where the whole image has neighbours) and, for MaxPool, no
 * ceil_mode and no Indices; elementwise operators (Relu, Sigmoid,
 * BatchNormalization, Add with per-channel constants, ...); Concat over
 * channels; Softmax and LogSoftmax over channels from opset 13. A graph with
 * anything else (Flatten, Gemm, Reshape, Pad, padded windows...) is left as
 * it is and 1 returned, with the reason ("node 'fc' (Gemm): ...") in why.
 * Returns 0 when rewritten, 1 when not possible, -1 on error.
 */
int cnnf_pass_dense(cnnf_graph *g, char *why, size_t len);

#endif
