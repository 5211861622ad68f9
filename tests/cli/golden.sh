#!/bin/sh
# tests/cli/golden.sh: the bits of `cnnf segment` and `cnnf train` on cnnf-model(5) files, fixed.
# tests/data/golden/SHA256SUMS holds the SHA-256 of the label maps (their samples, as PPM) and --probs files that
# cnnf wrote before its models moved onto the graph engine (nn/graph.h): every model of
# tests/data/net and samples/models/coins.cnnf, in patch and dense mode, with the borders
# reflect and zero (all five for seg_small), on 1 and 2 threads, and of `cnnf train`'s model
# and checkpoint for a fixed seed. A change of a single bit
# fails here: the one forward pass must compute what the three before it computed.
# Regenerate only for a deliberate change of the arithmetic: GOLDEN_WRITE=1 sh tests/cli/golden.sh
# Run from the top of the tree; ends with "golden: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
G="$(pwd)/tests/data/golden"
N="$(pwd)/tests/data/net"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/golden.XXXXXX")
. "$(dirname "$0")/lib.sh"

if ! command -v sha256sum >/dev/null 2>&1; then
	echo "golden: skipped (no sha256sum)"
	echo "golden: 0 passed, 0 failed"
	rm -rf "$T"
	exit 0
fi

# case NAME MODEL INPUT BORDER: segment in both modes and on 1 and 2 threads.
sums="$T/sums"
: >"$sums"
case_() {
	for mode in patch dense; do
		for t in 1 2; do
			out="$1-$mode-$4-t$t"
			# The label map's samples, not its PNG bytes: how PNG is compressed is no part
			# of the arithmetic (the palette PNG decodes to the colours of its classes).
			if "$CNNF" segment -m "$2" --mode "$mode" --border "$4" -t "$t" --probs "$T/$out.npy" \
				"$3" "$T/$out.png" 2>"$T/err" &&
				"$CNNF" identity "$T/$out.png" "$T/$out.ppm" 2>>"$T/err"; then
				(cd "$T" && sha256sum "$out.ppm" "$out.npy") >>"$sums"
			else
				bad "$out: $(cat "$T/err")"
			fi
		done
	done
}
for b in reflect zero; do
	case_ bn_dropout_fc "$N/bn_dropout_fc.cnnf" "$G/gray.pgm" $b
	case_ conv_rect_dilation "$N/conv_rect_dilation.cnnf" "$G/rgb.ppm" $b
	case_ conv_stride_pad "$N/conv_stride_pad.cnnf" "$G/two.npy" $b
	case_ fc_only "$N/fc_only.cnnf" "$G/rgb.ppm" $b
	case_ pool_stride "$N/pool_stride.cnnf" "$G/two.npy" $b
	case_ small_cnn "$N/small_cnn.cnnf" "$G/gray.pgm" $b
	case_ coins "$(pwd)/samples/models/coins.cnnf" "$(pwd)/samples/coins.png" $b
done
for b in reflect zero replicate symmetric wrap; do
	case_ seg_small "$N/seg_small.cnnf" "$N/seg_small.input.pgm" $b
done
# Training: the model and the best epoch's checkpoint for a fixed seed (validation picks it).
D="$(pwd)/tests/data/train"
for t in 1 2; do
	if "$CNNF" train -m "$D/squares-arch.cnnf" -o "$T/train-t$t.cnnf" --checkpoint "$T/ckpt-t$t.cnnf" \
		--epochs 6 --lr 0.05 --seed 3 --val-split 0.3 --holdout columns --threads $t --quiet "$D/squares.list" \
		>/dev/null 2>"$T/err"; then
		(cd "$T" && sha256sum "train-t$t.cnnf" "ckpt-t$t.cnnf") >>"$sums"
	else
		bad "train, $t threads: $(cat "$T/err")"
	fi
done

if [ -n "${GOLDEN_WRITE:-}" ]; then
	cp "$sums" "$G/SHA256SUMS"
	echo "golden: wrote $G/SHA256SUMS ($(wc -l <"$sums") files)"
fi
# Every file listed, with the same digest.
while read -r sum file; do
	want=$(awk -v f="$file" '$2 == f { print $1 }' "$G/SHA256SUMS")
	if [ -z "$want" ]; then
		bad "$file: not in $G/SHA256SUMS"
	elif [ "$want" = "$sum" ]; then
		ok
	else
		bad "$file: its bits changed (sha256 $sum, golden $want)"
	fi
done <"$sums"
expect_eq "every golden file made" "$(wc -l <"$sums")" "$(wc -l <"$G/SHA256SUMS")"

echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && rm -rf "$T"
[ "$fail" -eq 0 ]
