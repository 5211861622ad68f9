#!/bin/sh
# tests/onnx/run.sh: ONNX's node tests listed in tests/onnx/node_pass.txt, run by tests/onnx_node;
# ends with "onnx_node: N passed, N failed" (0 and 0, "skipped", without libonnx-testdata).
exec ./tests/onnx_node "$@"
