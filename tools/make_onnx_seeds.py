#!/usr/bin/python3
"""make_onnx_seeds.py: writes the fuzz seed corpus tests/fuzz/corpus/onnx/ with onnx.helper
(run with /usr/bin/python3, which has onnx): small models of each feature the reader has
(raw and typed data, packed and unpacked, Constant nodes, attributes of each kind, declared
input shapes) and a few TensorProto files."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/onnx"
os.makedirs(out, exist_ok=True)


def save(name, graph, opset=13, ir=8):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    with open(os.path.join(out, name), "wb") as f:
        f.write(m.SerializeToString())


x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3, 1, 1), "w")
b = helper.make_tensor("b", TensorProto.FLOAT, [4], [0.5, -1, 2, 0])  # typed, packed
conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", kernel_shape=[1, 1],
                        pads=[0, 0, 0, 0], strides=[1, 1], auto_pad="NOTSET")
save("conv_raw_typed.onnx", helper.make_graph([conv], "g", [x], [y], [w, b]))

c1 = helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(
    np.array([[1, 2], [3, 4]], dtype=np.int64)))
c2 = helper.make_node("Constant", [], ["f"], value_float=1.5)
c3 = helper.make_node("Constant", [], ["fs"], value_floats=[1.0, 2.5, 3.0])
c4 = helper.make_node("Constant", [], ["i"], value_int=-3)
c5 = helper.make_node("Constant", [], ["is"], value_ints=[4, 5])
outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ["s", "f", "fs", "i", "is"]]
save("constants.onnx", helper.make_graph([c1, c2, c3, c4, c5], "g", [], outs), opset=18, ir=9)

types = [(TensorProto.INT8, np.int8), (TensorProto.UINT16, np.uint16), (TensorProto.FLOAT16, np.float16),
         (TensorProto.DOUBLE, np.float64), (TensorProto.BOOL, np.bool_), (TensorProto.UINT64, np.uint64)]
inits = []
for k, (t, dt) in enumerate(types):
    a = np.arange(6).reshape(2, 3).astype(dt)
    inits.append(numpy_helper.from_array(a, "r%d" % k))  # raw
    inits.append(helper.make_tensor("t%d" % k, t, [2, 3], a.flatten().tolist()))  # typed
outs = [helper.make_tensor_value_info(i.name, TensorProto.FLOAT, None) for i in inits]
save("types.onnx", helper.make_graph([], "g", [], outs, inits), opset=7, ir=3)

n = helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 2, 3, 1])
save("transpose.onnx", helper.make_graph([n], "g", [x], [y]))

for k, a in enumerate([np.ones((1, 2, 2), np.float32), np.array([3, -1], np.int64)]):
    with open(os.path.join(out, "tensor_%d.pb" % k), "wb") as f:
        f.write(numpy_helper.from_array(a, "in").SerializeToString())
