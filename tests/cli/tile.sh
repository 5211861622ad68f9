#!/bin/sh
# tests/cli/tile.sh: images too large for --max-activations run in tiles, with the whole image's
# labels, probabilities and outputs byte for byte; models that cannot be tiled are refused.
# Run from the top of the tree (make check does); ends with "tile: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
D="$(pwd)/tests/data/onnx"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/tile.XXXXXX")
. "$(dirname "$0")/lib.sh"

# expect_tiles NAME LIMIT: the last run succeeded and said once, on stderr, that it ran in tiles.
expect_tiles() {
	expect_status "$1" 0
	case "$err" in
	"cnnf: "*": image too large for --max-activations $2: running in "*" tiles of "*x*)
		[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && ok || bad "$1: more than one line: $err" ;;
	*) bad "$1: no note of tiles: $err" ;;
	esac
}

# segment_both NAME MODEL IMAGE LIMIT...: labels and probs, whole and in tiles, the same bytes.
segment_both() {
	name=$1 model=$2 img=$3
	shift 3
	run segment -m "$model" --probs "$T/wp.npy" "$img" "$T/wl.png"
	expect_status "$name: whole" 0
	[ -z "$err" ] && ok || bad "$name: the whole image says something: $err"
	for lim in "$@"; do
		run segment -m "$model" --max-activations "$lim" --probs "$T/tp.npy" "$img" "$T/tl.png"
		expect_tiles "$name: tiles under $lim" "$lim"
		expect_same "$name: labels under $lim" "$T/wl.png" "$T/tl.png"
		expect_same "$name: probabilities under $lim" "$T/wp.npy" "$T/tp.npy"
		rm -f "$T/tl.png" "$T/tp.npy"
	done
}

# apply_both NAME MODEL IMAGE EXT LIMIT...: the output, whole and in tiles, the same bytes.
apply_both() {
	name=$1 model=$2 img=$3 ext=$4
	shift 4
	run apply -m "$model" "$img" "$T/wa.$ext"
	expect_status "$name: whole" 0
	for lim in "$@"; do
		run apply -m "$model" --max-activations "$lim" "$img" "$T/ta.$ext"
		expect_tiles "$name: tiles under $lim" "$lim"
		expect_same "$name: output under $lim" "$T/wa.$ext" "$T/ta.$ext"
		rm -f "$T/ta.$ext"
	done
}

# ---- segment ----
# U-Net (two pools, total stride 4, receptive field 44): a few large tiles and many small ones.
segment_both "unet" "$D/unet-op13.onnx" "$S/astronaut.png" 2000000 150000
segment_both "unet opset 11 (BatchNorm nodes)" "$D/unet-op11.onnx" "$S/astronaut.png" 500000
# The sample U-Net: ceil_mode pools and Slice crops from Shape chains, on a 384x303 image.
segment_both "coins-unet" "$S/models/coins-unet.onnx" "$S/coins.png" 1000000 150000
# Stride 1, a MaxPool 3 branch, on an image of odd sizes.
segment_both "inception" "$D/inception-op17.onnx" "$S/chelsea.png" 400000 60000
# Strided convs, residual Add, bilinear Resize x4 (sizes from the image's Shape).
segment_both "resfcn" "$D/resfcn-op13.onnx" "$S/astronaut.png" 300000
# Stride 3 and a bilinear Resize x3, not a power of two: each phase's weights exactly the same
# in every tile (op_resize.c's whole-factor coordinates); tools/make_resize3_fixture.py.
segment_both "up3" "$D/up3-op13.onnx" "$S/coins.png" 200000 60000
apply_both "up3 apply" "$D/up3-op13.onnx" "$S/coins.png" npy 100000
# Tiles do not depend on the thread count either.
run segment -m "$D/unet-op17.onnx" --max-activations 300000 --threads 1 --probs "$T/p1.npy" "$S/astronaut.png" "$T/l1.png"
run segment -m "$D/unet-op17.onnx" --max-activations 300000 --threads 2 --probs "$T/p2.npy" "$S/astronaut.png" "$T/l2.png"
expect_same "tiles, 1 and 2 threads: labels" "$T/l1.png" "$T/l2.png"
expect_same "tiles, 1 and 2 threads: probabilities" "$T/p1.npy" "$T/p2.npy"

# ---- apply ----
# DepthToSpace 2: the output twice the input's size.
apply_both "superres" "$D/superres-op17.onnx" "$S/astronaut.png" npy 1000000 100000
apply_both "superres png" "$D/superres-op11.onnx" "$S/chelsea.png" png 200000
# Stride 4 and a quarter-size output (4 channels): depthwise convs, HardSwish, Clip.
apply_both "mobilenet" "$D/mobilenet-op17.onnx" "$S/chelsea.png" npy 1000000 100000
# Dilations, asymmetric Pad, ceil_mode MaxPool, AveragePool without the padding, Softmax on axis 1.
apply_both "misc" "$D/misc-op17.onnx" "$S/astronaut.png" npy 300000 80000

# ---- refusals ----
echo "keep me" >"$T/keep.png"
# Before opset 13, torch writes Softmax over channels as Transpose, Softmax, Transpose.
run apply -m "$D/misc-op11.onnx" --max-activations 300000 "$S/astronaut.png" "$T/keep.png"
expect_error "misc-op11 not tileable" 1 "astronaut.png: too large for --max-activations 300000, and .*misc-op11.onnx cannot run in tiles: node '[^']*' (Transpose) does not keep the image's rows and columns in place"
# 451 columns down to 113 and resized back to 451: not by a whole factor.
run segment -m "$D/resfcn-op13.onnx" --max-activations 300000 "$S/chelsea.png" "$T/keep.png"
expect_error "resfcn on odd sizes not tileable" 1 "cannot run in tiles: node '[^']*' (Resize) resizes 113 to 451, not by a whole factor"
# A limit that not even the smallest tile fits.
run segment -m "$D/unet-op13.onnx" --max-activations 50000 "$S/astronaut.png" "$T/keep.png"
expect_error "too small even for tiles" 1 "astronaut.png: too large for --max-activations 50000 even in tiles of"
expect_eq "refusals leave the output" "$(cat "$T/keep.png")" "keep me"

# ---- info: the receptive field ----
# By hand for the U-Net: output row t = 4q (or 4q+1) reads, through up2 and mid, mid rows
# q-4..q+3, e2 2q-10..2q+9, e1 4q-20..4q+19, the image 4q-22..4q+21: 44 rows.
run info --size 36x44 "$D/unet-op13.onnx"
case "$out" in *"receptive field: 44 x 44"*) ok ;; *) bad "info unet receptive field: $out" ;; esac
# Inception: the stem's 3x3 and the 5x5 branch: 3 + 4 = 7.
run info --size 37x45 "$D/inception-op11.onnx"
case "$out" in *"receptive field: 7 x 7"*) ok ;; *) bad "info inception receptive field: $out" ;; esac
# Super-resolution: 5x5, 3x3, 3x3 (9), the shuffle reads one pixel of them.
run info --size 37x45 "$D/superres-op17.onnx"
case "$out" in *"receptive field: 9 x 9"*) ok ;; *) bad "info superres receptive field: $out" ;; esac
run info --size 37x45 "$D/senet-op13.onnx"
case "$out" in *"receptive field: the whole input (node '/se1/se1.0/GlobalAveragePool' (GlobalAveragePool)"*) ok ;;
*) bad "info senet receptive field: $out" ;; esac

# A size over the limit is described, with what segment and apply would do about it.
run info --size 3000x4000 "$S/models/coins-unet.onnx"
expect_status "info over the limit" 0
case "$out" in *"receptive field: 44 x 44"*"over --max-activations 67108864: segment and apply run it in tiles"*"peak activation memory: "*) ok ;;
*) bad "info over the limit: $out" ;; esac
run info --size 3000x4000 "$D/senet-op13.onnx"
case "$out" in *"over --max-activations 67108864, and it cannot run in tiles"*) ok ;; *) bad "info senet over the limit: $out" ;; esac

if [ "$fail" -eq 0 ]; then rm -rf "$T"; fi
echo "tile: $pass passed, $fail failed"
