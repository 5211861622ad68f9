/* describe.h: human-readable descriptions of kernel and model files (`cnnf info`). */
#ifndef CNNF_DESCRIBE_H
#define CNNF_DESCRIBE_H

#include <stdio.h>

#include "io/io.h"

#include "engine/kernel.h"
#include "nn/graph.h"
#include "nn/model.h"

/*
 * Write to `out` (a stream the caller owns and checks) the shape, parameter
 * count, sum and separability of kernel k, named `name`. Returns 0, or -1
 * when memory runs out.
 */
int cnnf_describe_kernel(FILE *out, const char *name, const cnnf_kernel *k);

/*
 * Write to `out` a table of m's layers with each output shape and parameter
 * count, the total, the receptive field and the multiply-adds per patch.
 * Returns 0.
 */
int cnnf_describe_model(FILE *out, const char *name, const cnnf_model *m);

/*
 * Whether the file at path starts, after blank and comment lines, with the
 * model magic "cnnf-model" (anything else is taken for a kernel file). An
 * unreadable file is not a model: the kernel loader then says why.
 */
int cnnf_describe_is_model(const char *path);

/* Whether the file at path starts as an ONNX model does (nn/onnx.h); 0 when unreadable. */
int cnnf_describe_is_onnx(const char *path);

/*
 * Write to `out` graph g's inputs and outputs with their declared shapes,
 * its nodes counted by operator and its parameters; then, for an input of
 * h x w (0: the size the model declares, if it does), every output's shape,
 * the multiply-adds and the peak activation memory of a run. Returns 0, or
 * -1 when the graph cannot be prepared for that size.
 */
int cnnf_describe_graph(FILE *out, const char *name, cnnf_graph *g, int h, int w);

/* Whether the file's first bytes are those of an image format cnnf reads. */
int cnnf_describe_is_image(const char *path);

/*
 * One line on an image: "coins.png: PNG image, 384 x 303 (W x H), 1 channel
 * (gray), 8-bit samples (0..255)", and the page count of a stack. img is
 * the input's page 0. 0, or -1 when out fails.
 */
int cnnf_describe_image(FILE *out, const char *name, const cnnf_input *in,
			const cnnf_image *img);

#endif
