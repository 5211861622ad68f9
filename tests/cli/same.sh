#!/bin/sh
# tests/cli/same.sh: the same model as a cnnf model file and as ONNX gives the same labels.
# samples/models/coins.onnx is tools/cnnf2onnx.py's export of samples/models/coins.cnnf (its
# header's mean and std become --mean/--std); `cnnf segment` must label coins.png identically
# with both, for the borders reflect (the default), zero and replicate, and their --probs must
# agree within 1e-5; likewise tests/data/same/mixed.cnnf and .onnx (every layer kind) on a
# generated RGB image, where labels may differ only on ties. No Python: the .npy files are
# read with od and compared with awk.
# Run from the top of the tree; ends with "same: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
MC="$S/models/coins.cnnf"
MO="$S/models/coins.onnx"
IN="$S/coins.png"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/same.XXXXXX")
. "$(dirname "$0")/lib.sh"

# The normalisation of the model file's input line, as the ONNX run must be told it.
inputline=$(head -n 20 "$MC" | LC_ALL=C grep -a '^input ')
mean=$(printf '%s\n' "$inputline" | sed -n 's/.* mean=\([^ ]*\).*/\1/p')
std=$(printf '%s\n' "$inputline" | sed -n 's/.* std=\([^ ]*\).*/\1/p')
expect_eq "mean and std of $MC" "$mean $std" "0.37982556 0.20737183"

# floats FILE: the float32 samples of a .npy (format 1.0, '<f4'), one a line.
floats() {
	[ -s "$1" ] || return 0
	# magic (6), version (2), header length (2, little-endian), header
	set -- "$1" $(od -An -v -tu1 -j8 -N2 "$1")
	od -An -v -tf4 -j$((10 + $2 + 256 * $3)) "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

# maxdiff A B: the largest |a - b| of two equally long columns of numbers, or "lengths"
# when they differ in length.
maxdiff() {
	if [ "$(wc -l <"$1")" -ne "$(wc -l <"$2")" ]; then
		echo lengths
		return
	fi
	paste "$1" "$2" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
		END { printf "%.3g\n", m + 0 }'
}

# od reads floats in the machine's byte order; .npy '<f4' is little-endian.
little=$(printf '\001\000' | od -An -tu2 | tr -d ' ')

# labels_agree NAME A.png B.png A.npy B.npy K W: the two label maps are equal, or differ only
# where the scores are a tie (the two best of A.npy, K a pixel, within 1e-5). A label map is
# a palette PNG, so the pixels that differ are found from the argmax of the probabilities
# (the label, lowest class on ties) and printed with their margins.
labels_agree() {
	if cmp -s "$2" "$3"; then
		ok
		return
	fi
	floats "$4" >"$T/pa"
	floats "$5" >"$T/pb"
	res=$(paste "$T/pa" "$T/pb" | awk -v k="$6" -v w="$7" '
		function done() {
			if (la == lb) return
			dn++
			if (b1 - b2 > 1e-5) dr++
			if (dn <= 5) printf " (%d,%d) %d/%d margin %.3g", i % w, int(i / w), la, lb, b1 - b2
		}
		{
			j = (NR - 1) % k
			if (j == 0) { if (NR > 1) done(); i = (NR - 1) / k; la = lb = 0; ma = mb = $1 - 1; b1 = b2 = -1e30 }
			if ($1 > ma) { ma = $1; la = j }
			if ($2 > mb) { mb = $2; lb = j }
			if ($1 > b1) { b2 = b1; b1 = $1 } else if ($1 > b2) b2 = $1
		}
		END { done(); printf " | %d %d\n", dn, dr }')
	dn=$(printf '%s\n' "$res" | sed 's/.*| \([0-9]*\) .*/\1/')
	dr=$(printf '%s\n' "$res" | sed 's/.* //')
	if [ "$dn" -gt 0 ] && [ "$dr" -eq 0 ]; then
		ok
		echo "same: $1: $dn pixel(s) differ, all ties (x,y) a/b:${res%|*}"
	else
		bad "$1: $dn pixel(s) differ by the probabilities, $dr of them not ties (x,y) a/b:${res%|*}"
	fi
}

# same NAME CNNF-MODEL ONNX-MODEL IMAGE K W H BORDER ONNX-OPTIONS...: both models on the W x H
# IMAGE with --border BORDER; labels and probabilities (K a pixel) compared.
same() {
	nm=$1 mc=$2 mo=$3 img=$4 k=$5 w=$6 h=$7 b=$8
	shift 8
	a="$T/$nm-cnnf-$b" o="$T/$nm-onnx-$b"
	run segment --mode patch --border "$b" -m "$mc" --probs "$a.npy" "$img" "$a.png"
	expect_status "$nm: segment $b with $mc" 0
	run segment --border "$b" -m "$mo" "$@" --probs "$o.npy" "$img" "$o.png"
	expect_status "$nm: segment $b with $mo" 0
	labels_agree "$nm: labels, border $b" "$a.png" "$o.png" "$a.npy" "$o.npy" "$k" "$w"
	# the .npy headers (shape H x W x K, '<f4') and sizes are the same
	if cmp -s -n 128 "$a.npy" "$o.npy" && [ "$(wc -c <"$a.npy")" -eq "$(wc -c <"$o.npy")" ]; then
		ok
	else
		bad "$nm: probs, border $b: the .npy files differ in header or size"
	fi
	if [ "$little" = 1 ]; then
		floats "$a.npy" >"$a.txt"
		floats "$o.npy" >"$o.txt"
		expect_eq "$nm: probs, border $b: values" "$(wc -l <"$a.txt")" $((w * h * k))
		d=$(maxdiff "$a.txt" "$o.txt")
		if [ "$d" != lengths ] && awk "BEGIN { exit !($d <= 1e-5) }"; then
			ok
		else
			bad "$nm: probs, border $b: the largest difference is $d (at most 1e-5)"
		fi
	fi
}

# coins: the default border (reflect) as a user runs it, and the others.
same coins "$MC" "$MO" "$IN" 2 384 303 reflect --mean "$mean" --std "$std"
same coins "$MC" "$MO" "$IN" 2 384 303 zero --mean "$mean" --std "$std"
same coins "$MC" "$MO" "$IN" 2 384 303 replicate --mean "$mean" --std "$std"
# and the borders do matter at the edges: zero and reflect label some pixels differently
if cmp -s "$T/coins-cnnf-reflect.png" "$T/coins-cnnf-zero.png"; then bad "border zero changed nothing"; else ok; fi
expect_eq "coins: the shape in the .npy header" \
	"$(head -c 128 "$T/coins-cnnf-reflect.npy" | LC_ALL=C grep -ao "'shape': ([0-9, ]*)")" \
	"'shape': (303, 384, 2)"

# The ONNX model in patch mode and in its dense form (the default): the same bits.
run segment --mode patch -m "$MO" --mean "$mean" --std "$std" --probs "$T/onnx-patch.npy" "$IN" \
	"$T/onnx-patch.png"
expect_status "segment coins.onnx --mode patch" 0
expect_same "coins.onnx: labels, patch and dense" "$T/onnx-patch.png" "$T/coins-onnx-reflect.png"
expect_same "coins.onnx: probs, patch and dense" "$T/onnx-patch.npy" "$T/coins-onnx-reflect.npy"

# Without --mean/--std the ONNX model sees unnormalised samples: a different map, no error.
run segment -m "$MO" "$IN" "$T/raw.png"
expect_status "segment coins.onnx without --mean/--std" 0
if cmp -s "$T/raw.png" "$T/coins-onnx-reflect.png"; then bad "--mean/--std changed nothing"; else ok; fi

# mixed (tools/make_same_fixtures.py): 3 channels and classes, padded and dilated conv,
# batchnorm (folded into the conv in the ONNX file), avgpool, dropout, two fc layers,
# per-channel mean and std; random weights, so near-ties occur: labels may differ only there.
D="$(pwd)/tests/data/same"
awk 'BEGIN { w = 48; h = 40; s = 12345; printf "P3\n%d %d\n255\n", w, h
	for (y = 0; y < h; y++) for (x = 0; x < w; x++) for (c = 0; c < 3; c++) {
		s = (s * 1103515245 + 12345) % 2147483648
		v = int(128 + 90 * sin((x + 2 * c) / 5) * cos((y - c) / 7) + (s % 64) - 32)
		if (v < 0) v = 0
		if (v > 255) v = 255
		print v
	} }' >"$T/mixed.ppm"
for b in reflect zero replicate; do
	same mixed "$D/mixed.cnnf" "$D/mixed.onnx" "$T/mixed.ppm" 3 48 40 "$b" --mean 0.4,0.5,0.6 \
		--std 0.2,0.25,0.3
done

rm -rf "$T"
echo "same: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
