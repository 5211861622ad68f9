#!/bin/sh
# tests/cli/export.sh: cnnf train --output m.onnx (and --checkpoint b.onnx) writes an ONNX
# model that cnnf runs as it runs the cnnf-model of the same training, and, where node and
# onnxruntime-node are installed (NODE_PATH, or /tmp/ort/node_modules), that ONNX Runtime
# runs with the same outputs within 1e-5 (tools/check_export_ort.js), for the trained model
# and for every model check_onnx_save exported into tests/tmp/export. Run from the top of the
# tree; ends with "export: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
ROOT=$(pwd)
mkdir -p "$ROOT/tests/tmp"
T=$(mktemp -d "$ROOT/tests/tmp/export.XXXXXX")
. "$(dirname "$0")/lib.sh"
skipped=""

ARCH="$ROOT/tests/data/train/coins-arch.cnnf"
LIST="$ROOT/samples/models/coins.list"
IMG="$ROOT/samples/coins.png"
train() { "$CNNF" train -m "$ARCH" --epochs 1 --seed 3 --threads 2 "$@" "$LIST" >"$T/log" 2>&1; }

train -o "$T/m.cnnf" --checkpoint "$T/best.cnnf"
expect_eq "train to .cnnf" "$?" 0
train -o "$T/m.onnx" --checkpoint "$T/best.onnx"
expect_eq "train to .onnx" "$?" 0
case "$(cat "$T/log")" in *"wrote $T/m.onnx (the last epoch) and $T/best.onnx (the best)"*) ok ;;
*) bad "train's summary: $(tail -n 1 "$T/log")" ;; esac
run info "$T/m.onnx"
expect_status "info of the export" 0
case "$out" in *"ONNX model, opset 13"*"nodes: 10 (Sub 1, Div 1, Conv 3, Relu 2, MaxPool 2, Softmax 1)"*) ok ;;
*) bad "info: $out" ;; esac
# The same training gives the same labels through either file, patch and dense.
for mode in patch dense; do
	for f in m best; do
		run segment -m "$T/$f.cnnf" --mode $mode "$IMG" "$T/$f-$mode-cnnf.png"
		run segment -m "$T/$f.onnx" --mode $mode "$IMG" "$T/$f-$mode-onnx.png"
		expect_status "segment $mode with $f.onnx" 0
		expect_same "$mode labels of $f: .cnnf and .onnx" "$T/$f-$mode-cnnf.png" "$T/$f-$mode-onnx.png"
	done
done
# An output that cannot be written is refused before the first epoch.
run train -m "$ARCH" --epochs 1 -o "$T/no/such/m.onnx" "$LIST"
expect_status "unwritable .onnx output" 1
expect_absent "nothing made" "$T/no"

# ONNX Runtime, where it is installed.
[ -n "${NODE_PATH:-}" ] || NODE_PATH=/tmp/ort/node_modules
export NODE_PATH
if command -v node >/dev/null 2>&1 && [ -d "$NODE_PATH/onnxruntime-node" ]; then
	for f in "$T/m.onnx" "$ROOT"/tests/tmp/export/*.onnx; do
		[ -f "$f" ] || continue
		if r=$(node "$ROOT/tools/check_export_ort.js" "$CNNF" "$f" 6 2>&1); then ok; else bad "ONNX Runtime: $r"; fi
	done
else
	skipped="$skipped onnxruntime-node"
fi

rm -rf "$T"
[ -z "$skipped" ] || echo "export: skipped (not installed):$skipped"
echo "export: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
