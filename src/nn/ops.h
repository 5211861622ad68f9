/* ops.h: the operator table, one row per operator (ONNX op_type, the cnnf_op it is defined as). */
#ifndef CNNF_OPS_H
#define CNNF_OPS_H

#include "nn/graph.h"

/*
 * Each row names an operator and the file-level `const cnnf_op cnnf_op_<sym>`
 * that one file (nn/op_<file>.c) defines. Adding an operator is a copy of
 * nn/op_TEMPLATE.c and a row here.
 */
#define CNNF_OP_LIST(X) \
	CNNF_OPS_CONV(X) \
	CNNF_OPS_MATH(X) \
	CNNF_OPS_SHAPE(X)

/*
 * Convolutions, pools, normalisation (nn/op_conv.c, op_convtranspose.c,
 * op_pool.c, op_batchnorm.c).
 */
#define CNNF_OPS_CONV(X) \
	X("Conv", conv) \
	X("MaxPool", maxpool) \
	X("AveragePool", averagepool) \
	X("GlobalMaxPool", globalmaxpool) \
	X("GlobalAveragePool", globalaveragepool) \
	X("BatchNormalization", batchnormalization) \
	X("ConvTranspose", convtranspose)

/*
 * Activations, elementwise arithmetic with broadcasting, softmax,
 * reductions, matrix products (nn/op_unary.c, op_binary.c, op_softmax.c,
 * op_reduce.c, op_gemm.c).
 */
#define CNNF_OPS_MATH(X) \
	X("Relu", relu) \
	X("LeakyRelu", leakyrelu) \
	X("PRelu", prelu) \
	X("Sigmoid", sigmoid) \
	X("Tanh", tanh) \
	X("Clip", clip) \
	X("HardSigmoid", hardsigmoid) \
	X("HardSwish", hardswish) \
	X("Elu", elu) \
	X("Selu", selu) \
	X("Celu", celu) \
	X("Identity", identity) \
	X("Dropout", dropout) \
	X("Neg", neg) \
	X("Abs", abs) \
	X("Exp", exp) \
	X("Log", log) \
	X("Sqrt", sqrt) \
	X("Reciprocal", reciprocal) \
	X("Floor", floor) \
	X("Ceil", ceil) \
	X("Round", round) \
	X("Erf", erf) \
	X("Softplus", softplus) \
	X("Softsign", softsign) \
	X("Sign", sign) \
	X("Sin", sin) \
	X("Cos", cos) \
	X("Add", add) \
	X("Sub", sub) \
	X("Mul", mul) \
	X("Div", div) \
	X("Pow", pow) \
	X("Sum", sum) \
	X("Max", max) \
	X("Min", min) \
	X("Mean", mean) \
	X("Softmax", softmax) \
	X("LogSoftmax", logsoftmax) \
	X("ReduceMean", reducemean) \
	X("ReduceSum", reducesum) \
	X("ReduceMax", reducemax) \
	X("ReduceMin", reducemin) \
	X("ReduceProd", reduceprod) \
	X("ArgMax", argmax) \
	X("ArgMin", argmin) \
	X("Gemm", gemm) \
	X("MatMul", matmul)

/*
 * Moving data: concat, split, slice, pad, resize, reshapes, transposes,
 * and the shape arithmetic of dynamic-size exports (nn/op_concat.c,
 * op_slice.c, op_pad.c, op_resize.c, op_reshape.c, op_shape.c, ...).
 */
#define CNNF_OPS_SHAPE(X) \
	X("Concat", concat) \
	X("Split", split) \
	X("Slice", slice) \
	X("Gather", gather) \
	X("Pad", pad) \
	X("Resize", resize) \
	X("Upsample", upsample) \
	X("Reshape", reshape) \
	X("Flatten", flatten) \
	X("Squeeze", squeeze) \
	X("Unsqueeze", unsqueeze) \
	X("Transpose", transpose) \
	X("DepthToSpace", depth_to_space) \
	X("SpaceToDepth", space_to_depth) \
	X("Expand", expand) \
	X("Shape", shape) \
	X("Size", size) \
	X("Cast", cast) \
	X("CastLike", cast_like) \
	X("ConstantOfShape", constant_of_shape) \
	X("Range", range) \
	X("Equal", equal) \
	X("Less", less) \
	X("Greater", greater) \
	X("LessOrEqual", less_or_equal) \
	X("GreaterOrEqual", greater_or_equal) \
	X("And", and) \
	X("Or", or) \
	X("Xor", xor) \
	X("Not", not) \
	X("Where", where)

#define CNNF_OP_DECLARE(name, sym) extern const cnnf_op cnnf_op_##sym;
CNNF_OP_LIST(CNNF_OP_DECLARE)
#undef CNNF_OP_DECLARE

/* The operator called op_type (ONNX's spelling), or NULL. */
const cnnf_op *cnnf_ops_find(const char *op_type);

/* The i-th row of the table (0 <= i < cnnf_ops_count()), for listings. */
const cnnf_op *cnnf_ops_at(int i);
int cnnf_ops_count(void);

#endif
