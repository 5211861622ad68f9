/* model_graph.h: a cnnf-model(5) chain as a graph for the graph engine (nn/graph.h). */
#ifndef CNNF_MODEL_GRAPH_H
#define CNNF_MODEL_GRAPH_H

#include "nn/graph.h"
#include "nn/model.h"

/*
 * The contract.
 *
 * The graph has one input, "input", N x C x H x W (N free, C x H x W the
 * model's patch), already normalised (the header's mean and std are not
 * applied), and one output, "output". Layers become ai.onnx opset-17 nodes,
 * named after the layer and its 1-based position ("conv1", "relu2", ...):
 *   conv       Conv (pads, strides, dilations from the layer), weight
 *              "convI.weight" [out][in][kh][kw], bias "convI.bias"
 *   relu       Relu
 *   maxpool    MaxPool, avgpool AveragePool: kernel, stride, no padding,
 *              floor rounding (ceil_mode 0), as model.c sizes them
 *   batchnorm  BatchNormalization (inference) with its epsilon
 *   dropout    nothing: the identity at inference
 *   fc         Conv whose kernel covers its whole input (the way net.c runs
 *              it, so that the same engine gives the same bits), output
 *              N x out x 1 x 1
 *   softmax    Softmax, axis 1
 * The output is N x K x 1 x 1. The weights are copied: the model need not
 * outlive the graph.
 *
 * Numerics against net.c (cnnf_net_forward): conv, fc, relu and maxpool
 * give the same bits; avgpool too except in theory (net.c multiplies the
 * double sum by 1/(kh*kw), AveragePool divides by the count: the doubles
 * can differ by one ulp, the floats only if that straddles a rounding
 * boundary); batchnorm and softmax differ by rounding (net.c works in
 * double, the operators in float; a few ulps).
 */

/*
 * The graph of m's first `nlayers` layers (1..m->nlayers), finished
 * (cnnf_graph_finish), its messages naming `name`. A weights-init model
 * (no weights yet) is refused. Returns 0 and *out (the caller's to
 * cnnf_graph_free), or -1 with a message.
 */
int cnnf_model_graph_layers(const cnnf_model *m, const char *name, int nlayers, cnnf_graph **out);

/* The graph of the whole model: cnnf_model_graph_layers(m, name, m->nlayers, out). */
int cnnf_model_graph(const cnnf_model *m, const char *name, cnnf_graph **out);

#endif
