#!/bin/sh
# tests/cli/same.sh: the same model as a cnnf model file and as ONNX gives the same labels.
# samples/models/coins.onnx is tools/cnnf2onnx.py's export of samples/models/coins.cnnf (its
# header's mean and std become --mean/--std); `cnnf segment` must label coins.png identically
# with both, for the borders reflect (the default), zero and replicate, and their --probs must
# agree within 1e-5. No Python: the .npy files are read with od and compared with awk.
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

# same BORDER ONNX-OPTIONS...: both models with --border BORDER, labels and probabilities compared.
same() {
	b=$1
	shift
	run segment --mode patch --border "$b" -m "$MC" --probs "$T/cnnf-$b.npy" "$IN" "$T/cnnf-$b.png"
	expect_status "segment $b with coins.cnnf" 0
	run segment --border "$b" -m "$MO" --mean "$mean" --std "$std" "$@" --probs "$T/onnx-$b.npy" \
		"$IN" "$T/onnx-$b.png"
	expect_status "segment $b with coins.onnx" 0
	expect_same "labels, border $b" "$T/cnnf-$b.png" "$T/onnx-$b.png"
	# the .npy headers (shape 303 x 384 x 2, '<f4') are the same
	if cmp -s -n 128 "$T/cnnf-$b.npy" "$T/onnx-$b.npy" &&
		[ "$(wc -c <"$T/cnnf-$b.npy")" -eq $((128 + 303 * 384 * 2 * 4)) ] &&
		[ "$(wc -c <"$T/onnx-$b.npy")" -eq $((128 + 303 * 384 * 2 * 4)) ]; then
		ok
	else
		bad "probs, border $b: the .npy files differ in header or size"
	fi
	if [ "$little" = 1 ]; then
		floats "$T/cnnf-$b.npy" >"$T/cnnf-$b.txt"
		floats "$T/onnx-$b.npy" >"$T/onnx-$b.txt"
		n=$(wc -l <"$T/cnnf-$b.txt")
		expect_eq "probs, border $b: values" "$n" $((303 * 384 * 2))
		d=$(maxdiff "$T/cnnf-$b.txt" "$T/onnx-$b.txt")
		if [ "$d" != lengths ] && awk "BEGIN { exit !($d <= 1e-5) }"; then
			ok
		else
			bad "probs, border $b: the largest difference is $d (at most 1e-5)"
		fi
	fi
}

# The default border (reflect) as a user runs it; the others on one thread, which is faster
# for this small model (the results do not depend on the thread count).
same reflect
same zero --threads 1
same replicate --threads 1
# and the borders do matter at the edges: zero and reflect label some pixels differently
if cmp -s "$T/cnnf-reflect.png" "$T/cnnf-zero.png"; then bad "border zero changed nothing"; else ok; fi

# Without --mean/--std the ONNX model sees unnormalised samples: a different map, no error.
run segment --threads 1 -m "$MO" "$IN" "$T/raw.png"
expect_status "segment coins.onnx without --mean/--std" 0
if cmp -s "$T/raw.png" "$T/onnx-reflect.png"; then bad "--mean/--std changed nothing"; else ok; fi

rm -rf "$T"
echo "same: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
