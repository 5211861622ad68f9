#!/usr/bin/env python3
"""tools/make_resize3_fixture.py: tests/data/onnx/up3-op13.onnx, a small fully convolutional
net whose Resize scales by 3 (not a power of two): Conv 3x3 stride 3, Relu, Resize linear
(half_pixel) x3, Conv 1x1 to 3 classes. tests/cli/tile.sh runs it on samples/coins.png
(384 x 303, both multiples of 3) whole and in tiles. Weights from a fixed seed.
Needs python3-onnx and numpy; make check does not run this."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "data", "onnx", "up3-op13.onnx")
    rng = np.random.default_rng(3)
    w1 = rng.uniform(-1, 1, (6, 1, 3, 3)).astype(np.float32)
    b1 = rng.uniform(-0.2, 0.2, 6).astype(np.float32)
    w2 = rng.uniform(-1, 1, (3, 6, 1, 1)).astype(np.float32)
    b2 = rng.uniform(-0.2, 0.2, 3).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"),
              (np.array([1, 1, 3, 3], np.float32), "scales"),
              (np.array([], np.float32), "roi")]]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="down3",
                         kernel_shape=[3, 3], strides=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Resize", ["r1", "roi", "scales"], ["u"], name="up3", mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Conv", ["u", "w2", "b2"], ["y"], name="classes", kernel_shape=[1, 1]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph(nodes, "up3", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="make_resize3_fixture.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
