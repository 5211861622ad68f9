/* describe.h: human-readable descriptions of kernel and model files (`cnnf info`). */
#ifndef CNNF_DESCRIBE_H
#define CNNF_DESCRIBE_H

#include <stdio.h>

#include "engine/kernel.h"
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

#endif
