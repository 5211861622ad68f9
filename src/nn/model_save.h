/* model_save.h: writing a model to a file in the model format (cnnf-model(5), version 1). */
#ifndef CNNF_MODEL_SAVE_H
#define CNNF_MODEL_SAVE_H

#include <stdio.h>

#include "nn/model.h"

/*
 * Write m to path as format version 1 with float32 weights: the header
 * ("cnnf-model 1", the input line with every channel's mean and std, the
 * labels when m has them, one line per layer with the keys that differ from
 * their defaults, "weights float32 COUNT") and the parameters as
 * little-endian binary32. Numbers are written in the shortest form that
 * reads back to the same value, with '.' as the decimal point whatever the
 * locale, so cnnf_model_load() gives back exactly m's parameters.
 * The file is written to a temporary file in the same directory (mode
 * 0666 & ~umask), flushed to disk and renamed over path, so on failure path
 * is untouched and no temporary file is left. A model with `weights init`
 * is written with its current parameters. Returns 0, or -1 with a message
 * naming path.
 */
int cnnf_model_save(const cnnf_model *m, const char *path);
/* (A path ending in .onnx gets the ONNX form instead: onnx_save.h.) */

/* The same to a stream (not flushed or closed); name is used in messages. */
int cnnf_model_write(const cnnf_model *m, FILE *fp, const char *name);

/* cnnf_model_write(), or cnnf_onnx_write_model() when name ends in .onnx. */
int cnnf_model_write_as(const cnnf_model *m, FILE *fp, const char *name);

#endif
