/* pool.h: max and average pooling over C x H x W tensors (PyTorch semantics). */
#ifndef CNNF_POOL_H
#define CNNF_POOL_H

#include <stdint.h>

#include "engine/tensor.h"

typedef enum cnnf_pool_kind { CNNF_POOL_MAX, CNNF_POOL_AVG } cnnf_pool_kind;

/*
 * Pool each channel of `in` with a kh x kw window moved by sy, sx, without
 * padding: floor((n - k)/s) + 1 outputs per axis, as PyTorch's MaxPool2d and
 * AvgPool2d. The average divides by kh*kw. `name` is used in messages.
 * Returns 0 and *out (owned), or -1 when the window is larger than the input.
 */
int cnnf_pool_apply(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		    const char *name, cnnf_tensor **out);

/*
 * The same with the window's taps dy, dx apart (dilation: dense segmentation
 * runs a pooling layer of stride s as stride 1 with the later windows spread
 * out), `group` inputs side by side with their columns interleaved (column x
 * of input n at x * group + n, in the output too: patch segmentation pools a
 * batch of patches at once; 1 for one input), and the rows split among
 * `threads` threads (0: all cores).
 */
int cnnf_pool_run(const cnnf_tensor *in, cnnf_pool_kind kind, int kh, int kw, int sy, int sx,
		  int dy, int dx, int group, int threads, const char *name, cnnf_tensor **out);

/*
 * One row of outputs from its taps, n floats each: out[i] = the first
 * maximum of tap[0][i], tap[1][i], ... from -inf, a NaN kept once met
 * (best = (isnan(best) || v <= best) ? best : v: ONNX MaxPool's taps in
 * order, as PyTorch keeps them). nt may be 0 (out is -inf).
 */
void cnnf_pool_max_taps(float *out, const float *const *tap, int nt, int64_t n);

/*
 * The same for averages: out[i] = the double sum from 0 of the taps in
 * order, divided by div_x[i] * div_y, rounded to float once; NaN when that
 * count is 0.
 */
void cnnf_pool_avg_taps(float *out, const float *const *tap, int nt, const int64_t *div_x,
			int64_t div_y, int64_t n);

#endif
