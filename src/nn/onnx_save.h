/* onnx_save.h: a cnnf model (cnnf-model(5) version 1) written as an ONNX model. */
#ifndef CNNF_ONNX_SAVE_H
#define CNNF_ONNX_SAVE_H

#include <stdio.h>

#include "nn/model.h"

/*
 * Write m to fp as an ONNX model, IR version 7, opset 13, one graph:
 *
 *   input "input"   N x C x H x W float (N free), samples on the 0..1 scale
 *   Sub, Div        the header's mean and std, when they are not 0 and 1
 *   conv            Conv (kernel_shape, strides, pads, dilations), bias
 *   relu            Relu
 *   maxpool, avgpool MaxPool, AveragePool (no padding, floor)
 *   batchnorm       BatchNormalization (the running statistics, epsilon)
 *   dropout         nothing: inference
 *   fc              Conv whose kernel is its whole input (C x H x W), the
 *                   same products and sums as Flatten + Gemm
 *   softmax         Softmax over the classes (axis 1)
 *   output "output" N x K x 1 x 1
 *
 * as tools/cnnf2onnx.py exports with --fc conv, but with the normalisation
 * inside the graph, so that another runtime given the image's samples / 255
 * needs nothing else. The labels go into metadata_props ("labels", space
 * separated). name is used in messages. Returns 0, or -1 with a message.
 */
int cnnf_onnx_write_model(const cnnf_model *m, FILE *fp, const char *name);

/* Whether a file name asks for ONNX: it ends in ".onnx" (any case). */
int cnnf_onnx_is_name(const char *path);

#endif
