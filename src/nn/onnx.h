/* onnx.h: ONNX model files (ModelProto) read into a graph, and ONNX tensor files (TensorProto). */
#ifndef CNNF_ONNX_H
#define CNNF_ONNX_H

#include <stddef.h>

#include "nn/graph.h"

/*
 * The contract.
 *
 * A model is read whole (at most 64 MiB plus 8 bytes per parameter the
 * limits allow) and parsed with nn/pb.h; no protobuf library is involved.
 * Accepted: ir_version 3 to 9, an ai.onnx (or "") opset from 7 to 18 (it
 * becomes g->opset), nodes of that domain only, tensors of every numeric
 * type: float32 stays, double, float16 and bfloat16 become float32, every
 * integer type and bool become int64 (a uint64 above INT64_MAX is
 * refused); strings, complex and 8/4-bit float and int types are refused.
 * Tensor data may be typed (float_data, int32_data, int64_data,
 * double_data, uint64_data, packed or not), raw_data, or external: a file
 * inside the model's folder (no absolute path, no "..", no symbolic link
 * leading out), at an offset, of exactly the bytes the dims need.
 * Initializers that are also listed as graph inputs are initializers only;
 * Constant nodes become initializers. Graph-valued attributes (If, Loop,
 * Scan) and sparse tensors are refused.
 *
 * Every name, op_type, domain and string attribute must be free of control
 * bytes, so that messages naming them stay one line.
 *
 * Errors: -1 and one message "FILE: ...", naming the node ("node 'N'
 * (Op): ...") or the initializer ("initializer 'w': ...") where there is
 * one. Nothing is returned on failure.
 */

/*
 * Read the model file at path into a finished graph (cnnf_graph_finish
 * done) under lim (NULL: the defaults). On success *out is the caller's to
 * cnnf_graph_free. External data is looked for in path's folder.
 */
int cnnf_onnx_load(const char *path, const cnnf_graph_limits *lim, cnnf_graph **out);

/*
 * As cnnf_onnx_load, from len bytes in memory; messages name `name`.
 * External data is looked for in folder dir, or refused when dir is NULL.
 */
int cnnf_onnx_parse(const unsigned char *buf, size_t len, const char *name, const char *dir,
		    const cnnf_graph_limits *lim, cnnf_graph **out);

/*
 * 1 when buf (a file's first len bytes, or all of it) looks like a
 * ModelProto: it starts with ir_version, or with other ModelProto fields
 * of the right wire types up to the graph or an opset import; else 0.
 * PNG, JPEG, PNM, NPY, cnnf-model and text files are not taken.
 */
int cnnf_onnx_is(const unsigned char *buf, size_t len);

/*
 * Read a TensorProto file (ONNX's test data input_0.pb ...) into *out:
 * name (malloc'd, "" when the file has none), type, ndim, dim and data
 * (malloc'd) set, the graph fields cleared. Free with
 * cnnf_onnx_tensor_clear. lim NULL: the defaults (max_elements bounds it).
 */
int cnnf_onnx_tensor_read(const char *path, const cnnf_graph_limits *lim, cnnf_value *out);

/* As cnnf_onnx_tensor_read, from memory; external data as cnnf_onnx_parse. */
int cnnf_onnx_tensor_parse(const unsigned char *buf, size_t len, const char *name,
			   const char *dir, const cnnf_graph_limits *lim, cnnf_value *out);

/* Free what cnnf_onnx_tensor_read put in v (name, data) and clear it. */
void cnnf_onnx_tensor_clear(cnnf_value *v);

#endif
