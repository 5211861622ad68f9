#!/bin/sh
# bench/unet.sh: the graph engine on a real network: a 3-class U-Net (16-32-64 channels,
# ConvTranspose up-sampling, Concat skips; tools/bench_unet.py makes it, random fixed-seed
# weights) on a 512x512 RGB image. cnnf segment is timed as a whole process (reading the
# PNG, the model, writing the label map), best of BENCH_RUNS (default 5); PyTorch
# (channels_last, 2 threads) and ONNX Runtime (onnxruntime-node, session.run alone, 2
# threads) in-process, median and best of 5 after a warm-up. Needs /usr/bin/python3 with
# torch and onnx; ONNX Runtime where ORT_NODE_MODULES (default /tmp/ort/node_modules) has
# onnxruntime-node (npm install onnxruntime-node --ignore-scripts). Prints a markdown table.
#
#     make && sh bench/unet.sh           (make bench runs it after bench/run.sh)
set -u
RUNS=${BENCH_RUNS:-5}
PY=${PYTHON:-/usr/bin/python3}
ORT=${ORT_NODE_MODULES:-/tmp/ort/node_modules}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnnf-unet.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
if ! "$PY" -c 'import torch, onnx' 2>/dev/null; then
	echo "bench/unet.sh: skipped: $PY has no torch and onnx (Debian: python3-torch python3-onnx)"
	exit 0
fi
"$PY" tools/bench_unet.py "$TMP" >"$TMP/torch.txt" 2>/dev/null || { echo "bench/unet.sh: tools/bench_unet.py failed" >&2; exit 1; }
M=$TMP/unet3-512.onnx
best=""
bestkb=""
i=0
while [ $i -lt "$RUNS" ]; do
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$TMP/kb" ./cnnf segment -t 2 -m "$M" samples/astronaut.png "$TMP/l.png" || exit 1
	t1=$(date +%s.%N)
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	kb=$(cat "$TMP/kb")
	if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; bestkb=$kb; fi
	i=$((i + 1))
done
torch=$(sed -n 's/.*median \([0-9.]*\) s (min \([0-9.]*\)).*/\1 \2/p' "$TMP/torch.txt")
ort="n/a n/a n/a"
if [ -d "$ORT/onnxruntime-node" ] && command -v node >/dev/null 2>&1; then
	o=$(NODE_PATH=$ORT node tools/bench_ort.js "$M" 2>/dev/null)
	ort=$(printf '%s\n' "$o" | sed -n 's/.*median \([0-9.]*\) s (min \([0-9.]*\)), peak RSS \([0-9.]*\) MB.*/\1 \2 \3/p')
fi
set -- $torch $ort
macs=$(./cnnf info --size 512x512 "$M" | sed -n 's/.*multiply-adds: //p')
cc -O2 bench/peak.c -o "$TMP/peak" -pthread 2>/dev/null && peak=$("$TMP/peak" 2 | sed -n 's/^peak_gflops //p')
printf '| U-Net 16-32-64, 512x512 RGB, 2 threads | best s | median s | peak MB |\n|---|---|---|---|\n'
printf '| cnnf segment (whole process) | %.3f | | %d |\n' "$best" $((bestkb / 1024))
printf '| PyTorch channels_last (forward only) | %s | %s | |\n' "${2:-n/a}" "${1:-n/a}"
printf '| ONNX Runtime session.run | %s | %s | %s |\n' "${4:-n/a}" "${3:-n/a}" "${5:-n/a}"
echo
awk -v m="$macs" -v c="$best" -v o="${4:-}" -v p="${peak:-0}" 'BEGIN {
	printf "multiply-adds per run: %.4g. cnnf: %.1f GFLOP/s for the whole process", m, 2 * m / c / 1e9
	if (p > 0) printf " (%.0f%% of the measured peak, %.0f GFLOP/s on 2 threads, bench/peak.c)", 100 * 2 * m / c / 1e9 / p, p
	if (o + 0 > 0) printf "; ONNX Runtime: %.1f GFLOP/s (%.0f%%); cnnf/ORT time %.2f", 2 * m / o / 1e9, (p > 0 ? 100 * 2 * m / o / 1e9 / p : 0), c / o
	printf ".\n"
}'

