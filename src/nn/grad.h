/* grad.h: what training adds to each layer: backward passes, batchnorm and dropout training. */
#ifndef CNNF_GRAD_H
#define CNNF_GRAD_H

#include <stddef.h>

#include "nn/model.h"
#include "base/rng.h"

/*
 * Conventions
 * - One sample's activations are planar C x H x W floats as in tensor.h; a
 *   batch of n samples is n such blocks one after another.
 * - x is a layer's input, y its output, and dx, dy the gradients of the
 *   loss with respect to them. A backward function writes dx (overwriting
 *   it) and adds to the parameter gradients dw, db (same layout as the
 *   layer's weight and bias in cnnf_model), so that a caller can sum
 *   samples into one buffer in an order it chooses.
 * - Shapes come from the layer (in_c, in_h, ... out_w); every function
 *   trusts them: they were checked when the model was loaded.
 * - Nothing here allocates, prints or fails.
 */

/*
 * Softmax cross-entropy of one sample: the K scores z against class y.
 * Returns -log softmax(z)[y] (computed in double, max subtracted), and
 * writes dz = scale * (softmax(z) - onehot(y)); scale is 1/batch for the
 * mean over a batch.
 */
double cnnf_grad_softmax_xent(const float *z, int k, int y, double scale, float *dz);

/*
 * What the backward pass of one conv or fc layer prepares once: where each
 * tap of each output position reads the input (a table shared by every
 * sample), and how the products are laid out for the vector loops.
 */
typedef struct cnnf_grad_conv_plan cnnf_grad_conv_plan;

/* The plan of layer l (conv or fc; borrowed: its weights are read at each call). NULL: no memory.
 */
cnnf_grad_conv_plan *cnnf_grad_conv_plan_new(const cnnf_layer *l);
void cnnf_grad_conv_plan_free(cnnf_grad_conv_plan *p);

/* Floats of scratch one cnnf_grad_conv() call needs. */
size_t cnnf_grad_conv_work(const cnnf_grad_conv_plan *p);

/*
 * Backward of a conv layer (stride, pad, dilation, rectangular kernels; zero
 * padding) or an fc layer (a conv whose kernel covers its input):
 *   dw[f][c][i][j] += sum_{y,x} dy[f][y][x] * xpad[c][y*s + i*d][x*s + j*d]
 *   db[f] += sum_{y,x} dy[f][y][x]
 *   dx = dy correlated back through the same taps: the transposed
 *        convolution with the layer's weights
 * dx may be NULL when it is not needed (the first layer). work holds
 * cnnf_grad_conv_work() floats. Every sum runs in a fixed order, the same
 * whatever vector instructions the CPU has.
 */
void cnnf_grad_conv(const cnnf_grad_conv_plan *p, const float *x, const float *dy, float *dx,
                    float *dw, float *db, float *work);

/* relu: dx = dy where y > 0, else 0 (dx may be dy). n values. */
void cnnf_grad_relu(const float *y, const float *dy, float *dx, size_t n);

/*
 * maxpool: each dy goes to the input position that held its window's
 * maximum, found again from x with the rule of pool.c (the first maximum in
 * row-major order; a NaN wins). Windows that overlap add up.
 */
void cnnf_grad_maxpool(const cnnf_layer *l, const float *x, const float *dy, float *dx);

/* avgpool: each dy spread evenly, dy / (k*k), over its window. */
void cnnf_grad_avgpool(const cnnf_layer *l, const float *dy, float *dx);

/*
 * Dropout in training mode (inverted dropout, as nn.Dropout): draw n mask
 * values from r, each 0 with probability p and 1/(1-p) otherwise. The
 * forward pass is y = x * mask and the backward pass dx = dy * mask: both
 * are cnnf_grad_scale().
 */
void cnnf_grad_dropout_mask(double p, cnnf_rng *r, float *mask, size_t n);
void cnnf_grad_scale(const float *mask, float *v, size_t n);

/*
 * Batchnorm in training mode over a batch of n samples, channels c0..c1-1
 * (so that channels can be shared among threads). For each channel, over
 * the n * H * W values of x: mean, biased variance var,
 * istd = 1/sqrt(var + eps), and
 *   xhat = (x - mean) * istd,  y = gamma * xhat + beta
 * (y may be x). xhat and istd[C] are kept for the backward pass. When
 * momentum > 0 the layer's running statistics are updated as PyTorch does:
 * mean' = (1 - momentum) mean + momentum batch_mean, and likewise var with
 * the unbiased batch variance var * M / (M - 1), M = n * H * W. Sums are in
 * double, in sample order: the result does not depend on how channels are
 * split.
 */
void cnnf_grad_batchnorm_forward(cnnf_layer *l, int n, int c0, int c1, const float *x, float *y,
                                 float *xhat, double *istd, double momentum);

/*
 * Its backward pass for channels c0..c1-1:
 *   dbeta = sum dy,  dgamma = sum dy * xhat,
 *   dx = gamma * istd / M * (M * dy - dbeta - xhat * dgamma)
 * dx may be dy, or NULL when only the parameter gradients are wanted.
 * dgamma and dbeta (the layer's weight and bias layout) are added to.
 */
void cnnf_grad_batchnorm_backward(const cnnf_layer *l, int n, int c0, int c1, const float *dy,
                                  float *dx, const float *xhat, const double *istd, float *dgamma,
                                  float *dbeta);

#endif
