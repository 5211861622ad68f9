#!/bin/sh
# tests/tools/cnnf2onnx.sh: runs tests/tools/test_cnnf2onnx.py (tools/cnnf2onnx.py) with Debian's
# /usr/bin/python3 where it has torch and onnx; elsewhere says it skipped. Run from the top of
# the tree; ends with "cnnf2onnx: N passed, N failed" (with "(skipped: ...)" when skipped).
py=/usr/bin/python3
if [ ! -x "$py" ]; then
	echo "cnnf2onnx: 0 passed, 0 failed (skipped: no $py)"
	exit 0
fi
exec "$py" "$(dirname "$0")/test_cnnf2onnx.py"
