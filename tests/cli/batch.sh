#!/bin/sh
# tests/cli/batch.sh: --outdir batches (names, --suffix, --name, --format, --files-from,
# --skip-existing), the checks made before the first write (collisions, outputs onto
# inputs), failing inputs that do not stop a batch, and the scale-out recipes of
# docs/scale-out.sh (GNU parallel where installed, xargs). Run from the top of the tree
# (make check does); ends with "batch: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
M="$S/models/coins.cnnf"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/batch.XXXXXX")
. "$(dirname "$0")/lib.sh"
skipped=0

# An input folder: three images of two formats, each single-run result as the reference.
mkdir -p "$T/in"
"$CNNF" identity "$S/coins.png" "$T/in/a.png" || bad "make a.png"
"$CNNF" box --size 5 "$S/camera.png" "$T/in/b.png" || bad "make b.png"
"$CNNF" identity --quality 95 "$S/chelsea.png" "$T/in/c.jpg" || bad "make c.jpg"
for f in a.png b.png c.jpg; do "$CNNF" box "$T/in/$f" "$T/ref-$f" || bad "box $f"; done

# ---- names ----
run box --outdir "$T/o1" "$T/in/a.png" "$T/in/b.png" "$T/in/c.jpg"
expect_status "box --outdir" 0
expect_eq "box --outdir: quiet" "$err" ""
for f in a.png b.png c.jpg; do expect_same "box --outdir $f" "$T/o1/$f" "$T/ref-$f"; done
run box --outdir "$T/o2/deeper/still" --suffix -blur "$T/in/a.png" "$T/in/c.jpg"
expect_status "--suffix, DIR made with its parents" 0
expect_same "--suffix png" "$T/o2/deeper/still/a-blur.png" "$T/ref-a.png"
expect_same "--suffix jpg" "$T/o2/deeper/still/c-blur.jpg" "$T/ref-c.jpg"
run box --outdir "$T/o3" --name 'x-%s-%%.png' "$T/in/a.png"
expect_status "--name" 0
expect_same "--name x-%s-%%.png" "$T/o3/x-a-%.png" "$T/ref-a.png"
run identity --outdir "$T/o4" --format png "$T/in/c.jpg"
expect_status "--format names the extension" 0
"$CNNF" identity "$T/in/c.jpg" "$T/ref-c.png"
expect_same "--format png of c.jpg is c.png" "$T/o4/c.png" "$T/ref-c.png"
for c in invert gray maxpool; do
	"$CNNF" "$c" "$T/in/b.png" "$T/ref-$c.png"
	run "$c" --outdir "$T/o5-$c" "$T/in/b.png"
	expect_status "$c --outdir" 0
	expect_same "$c --outdir" "$T/o5-$c/b.png" "$T/ref-$c.png"
done

# ---- usage ----
run box --suffix -x "$T/in/a.png" "$T/o6.png"
expect_error "--suffix without --outdir" 2 "go with --outdir DIR"
expect_absent "--suffix without --outdir: no output" "$T/o6.png"
run box --outdir "$T/o6"
expect_error "--outdir and no inputs" 2 "needs INPUTs"
run box --outdir '' "$T/in/a.png"
expect_error "--outdir ''" 2 "an empty name"
run box --outdir "$T/o6" --name 'plain.png' "$T/in/a.png"
expect_error "--name without %s" 2 "needs one %s"
run box --outdir "$T/o6" --name 'sub/%s.png' "$T/in/a.png"
expect_error "--name with a /" 2 "no '/'"
run box --outdir "$T/o6" --name '%s-%d.png' "$T/in/a.png"
expect_error "--name with %d" 2 "only %s"
expect_absent "usage errors: no folder made" "$T/o6"
run box --outdir "$T/o6" --suffix /x "$T/in/a.png"
expect_error "--suffix with a /" 2 "no '/'"
run box --outdir "$T/o6" --suffix x --name '%s.png' "$T/in/a.png"
expect_error "--suffix and --name" 2 "give one"
run box --outdir "$T/o6" --files-from - - </dev/null
expect_error "--files-from - and - as an input" 2 "cannot be an input too"
run box --outdir "$T/o6" --files-from a --files-from b
expect_error "--files-from twice" 2 "one list a run"
run box "$T/in/a.png" "$T/in/b.png" "$T/o6.png"
expect_error "three operands without --outdir" 2 "too many operands: 3 given"

# ---- refused before the first write ----
mkdir -p "$T/other"
cp "$T/in/c.jpg" "$T/other/a.jpg"
run box --outdir "$T/o7" --format png "$T/in/b.png" "$T/in/a.png" "$T/other/a.jpg"
expect_error "two inputs, one output" 1 "o7/a.png: .*in/a.png and .*other/a.jpg would both be written there"
expect_absent "collision: nothing written, no folder" "$T/o7"
sum=$(cksum <"$T/in/a.png")
run box --outdir "$T/in" "$T/in/b.png" "$T/in/a.png"
expect_error "an output onto an input" 1 "in/a.png: the output of .*a.png would replace the input"
expect_eq "output onto input: the input is untouched" "$(cksum <"$T/in/a.png")" "$sum"
mkdir -p "$T/o8"
ln "$T/in/a.png" "$T/o8/z.png"
cp "$T/in/b.png" "$T/z.png"
run box --outdir "$T/o8" "$T/z.png" "$T/in/a.png"
expect_error "an output that is a hard link to another input" 1 "o8/z.png: the output of .*z.png would replace the input .*in/a.png"
expect_eq "hard link: the input is untouched" "$(cksum <"$T/in/a.png")" "$sum"

# ---- a failing input does not stop the batch ----
printf 'not an image\n' >"$T/in/bad.png"
run box --outdir "$T/o9" "$T/in/a.png" "$T/in/bad.png" "$T/in/missing.png" "$T/in/b.png"
expect_status "failing inputs: exit 1" 1
expect_eq "failing inputs: one line each and a summary" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 3
expect_eq "failing inputs: the summary" "$(printf '%s\n' "$err" | tail -n 1)" "cnnf: 2 of 4 inputs failed"
case "$err" in *bad.png*missing.png*) ok ;; *) bad "failing inputs: not named: $err" ;; esac
expect_same "failing inputs: a.png written" "$T/o9/a.png" "$T/ref-a.png"
expect_same "failing inputs: b.png written after them" "$T/o9/b.png" "$T/ref-b.png"
expect_absent "failing inputs: no output for bad.png" "$T/o9/bad.png"
rm -f "$T/in/bad.png"

# An input with no extension: its output has no format; it fails, the others go on.
cp "$T/in/a.png" "$T/noext"
run box --outdir "$T/o9b" "$T/in/a.png" "$T/noext" "$T/in/b.png"
expect_status "an input without an extension" 1
case "$err" in *"no output format for"*"noext"*"1 of 3 inputs failed") ok ;; *) bad "no extension: $err" ;; esac
expect_same "no extension: b.png still made" "$T/o9b/b.png" "$T/ref-b.png"
rm -f "$T/noext"
# An output that is a later input of the run, not yet made: refused by name.
run box --outdir "$T/o9c" --suffix -s "$T/in/a.png" "$T/o9c/a-s.png"
expect_error "an output that is a later input" 1 "o9c/a-s.png: the output of .*a.png would replace the input"
expect_absent "a later input: nothing written" "$T/o9c"

# A bad kernel is one error before any input, not one an input.
run conv --kernel "$T/no-kernel.txt" --outdir "$T/o9d" "$T/in/a.png" "$T/in/b.png"
expect_error "conv --outdir with a missing kernel" 1 "no-kernel.txt"
run conv --kernel-string '1 2 x' --outdir "$T/o9d" "$T/in/a.png" "$T/in/b.png"
expect_status "conv --outdir with a bad kernel string" 2
expect_eq "a bad kernel string: one line" "$(printf '%s\n' "$err" | wc -l | tr -d ' ')" 1
expect_absent "bad kernels: no folder" "$T/o9d"

# ---- --skip-existing ----
mkdir -p "$T/o10"
printf keep >"$T/o10/a.png"
run box --outdir "$T/o10" --skip-existing "$T/in/a.png" "$T/in/b.png"
expect_status "--skip-existing" 0
expect_eq "--skip-existing: said" "$err" "cnnf: 1 of 2 inputs skipped: its outputs exist"
expect_eq "--skip-existing: the existing output is kept" "$(cat "$T/o10/a.png")" keep
expect_same "--skip-existing: the missing one made" "$T/o10/b.png" "$T/ref-b.png"
run box --outdir "$T/o10" --skip-existing --quiet "$T/in/a.png" 2>/dev/null
run box --outdir "$T/o10" "$T/in/a.png"
expect_status "without --skip-existing: replaced" 0
expect_same "without --skip-existing: replaced" "$T/o10/a.png" "$T/ref-a.png"

# ---- --files-from ----
printf '%s\n\n%s\r\n' "$T/in/a.png" "$T/in/c.jpg" >"$T/list"
run box --outdir "$T/o11" --files-from "$T/list" "$T/in/b.png"
expect_status "--files-from" 0
for f in a.png b.png c.jpg; do expect_same "--files-from $f" "$T/o11/$f" "$T/ref-$f"; done
printf '%s\n' "$T/in/b.png" | "$CNNF" box --outdir "$T/o12" --files-from - >/dev/null 2>&1
expect_same "--files-from -" "$T/o12/b.png" "$T/ref-b.png"
printf 'a\000b\n' >"$T/nul.list"
run box --outdir "$T/o13" --files-from "$T/nul.list"
expect_error "--files-from with a NUL" 1 "nul.list: line 1: a NUL byte"
run box --outdir "$T/o13" --files-from "$T/no.list"
expect_error "--files-from missing" 1 "no.list"
expect_absent "--files-from errors: no folder" "$T/o13"

# ---- segment: the model once, --probs and --overlay as names with %s ----
"$CNNF" segment -m "$M" --probs "$T/ref-probs.npy" --overlay "$T/ref-ov.png" "$T/in/a.png" "$T/ref-seg.png"
run segment -m "$M" --outdir "$T/s1" --probs '%s-probs.npy' --overlay '%s-overlay.png' "$T/in/a.png" "$T/in/b.png"
expect_status "segment --outdir --probs --overlay" 0
expect_same "segment --outdir labels" "$T/s1/a.png" "$T/ref-seg.png"
expect_same "segment --outdir probs" "$T/s1/a-probs.npy" "$T/ref-probs.npy"
expect_same "segment --outdir overlay" "$T/s1/a-overlay.png" "$T/ref-ov.png"
[ -s "$T/s1/b-probs.npy" ] && ok || bad "segment --outdir: b-probs.npy"
run segment -m "$M" --outdir "$T/s2" --probs 'p.npy' "$T/in/a.png"
expect_error "segment --outdir --probs without %s" 2 "needs one %s"
run segment -m "$M" --outdir "$T/s2" --name '%s.jpg' "$T/in/a.png"
expect_error "segment --name not .png" 2 "label map is a PNG"
run segment -m "$M" --outdir "$T/s2" --overlay '%s.png' "$T/in/a.png"
expect_error "segment --overlay onto the labels" 1 "would both be written there"
expect_absent "segment errors: no folder" "$T/s2"

# ---- apply: the model once, each output as a single run makes it ----
SR="$(pwd)/tests/data/onnx/superres-op17.onnx"
A="$(pwd)/tests/data/onnx/misc-op13.onnx"
"$CNNF" apply -m "$SR" "$T/in/c.jpg" "$T/ref-apply-c.png" || bad "apply superres"
"$CNNF" apply -m "$A" "$T/in/c.jpg" "$T/ref-apply-c.npy" || bad "apply misc"
"$CNNF" apply -m "$A" --channels rgb "$T/in/b.png" "$T/ref-apply-b.npy" || bad "apply misc gray"
run apply -m "$SR" --outdir "$T/ap" --format png "$T/in/missing.png" "$T/in/c.jpg"
expect_status "apply --outdir with a missing input" 1
expect_same "apply --outdir c" "$T/ap/c.png" "$T/ref-apply-c.png"
run apply -m "$A" --outdir "$T/ap" --format npy "$T/in/c.jpg"
expect_status "apply --outdir --format npy" 0
expect_same "apply --outdir --format npy: c.npy" "$T/ap/c.npy" "$T/ref-apply-c.npy"
run apply -m "$A" --outdir "$T/ap2" --format npy "$T/in/b.png"
expect_status "apply --outdir: a gray input" 1
case "$err" in *"takes 3 (--channels rgb"*"1 of 1 input failed"*) ok ;; *) bad "apply --outdir gray: $err" ;; esac
run apply -m "$A" --outdir "$T/ap2" --format npy --channels rgb "$T/in/b.png"
expect_same "apply --outdir --channels rgb" "$T/ap2/b.npy" "$T/ref-apply-b.npy"

# ---- the scale-out recipes (docs/scale-out.sh) ----
mkdir -p "$T/many"
i=0
for src in "$S"/*.png; do
	i=$((i + 1))
	"$CNNF" identity "$src" "$T/many/p$i.png"
	"$CNNF" gaussian --sigma 1.5 "$T/many/p$i.png" "$T/many-ref-p$i.png"
done
for how in parallel xargs; do
	if [ "$how" = parallel ] && ! command -v parallel >/dev/null 2>&1; then
		skipped=$((skipped + 1))
		continue
	fi
	# GNU parallel asks once for a citation unless told it was seen; its home may be read-only.
	if CNNF="$CNNF" JOBS=2 HOME="$T" PARALLEL_HOME="$T/.parallel" sh docs/scale-out.sh "$how" gaussian \
		"$T/many" "$T/out-$how" --sigma 1.5 </dev/null >"$T/stdout" 2>"$T/stderr"; then ok; else
		bad "scale-out $how: $(cat "$T/stderr")"
	fi
	n=0
	for f in "$T"/many/p*.png; do
		b=${f##*/}
		n=$((n + 1))
		expect_same "scale-out $how $b" "$T/out-$how/$b" "$T/many-ref-$b"
	done
	expect_eq "scale-out $how: every output" "$(ls "$T/out-$how" | wc -l | tr -d ' ')" "$n"
	# A rerun resumes: nothing made again, the outputs untouched.
	touch -d '2001-01-01' "$T/out-$how"/*
	CNNF="$CNNF" JOBS=2 HOME="$T" PARALLEL_HOME="$T/.parallel" sh docs/scale-out.sh "$how" gaussian \
		"$T/many" "$T/out-$how" --sigma 1.5 </dev/null >/dev/null 2>&1
	expect_eq "scale-out $how: a rerun skips" "$(find "$T/out-$how" -type f -newer "$T/list" | wc -l | tr -d ' ')" 0
done

# ---- the model, the kernel file and the list are inputs too ----
mkdir -p "$T/side"
cp "$M" "$T/side/m.cnnf"
cp "$M" "$T/side/model.png" # models are known by content: an odd name is no protection
cp "$S/models/coins.onnx" "$T/side/c.onnx"
printf '0 1 0\n1 1 1\n0 1 0\n' >"$T/side/k.txt"
ls "$S/coins.png" >"$T/side/coins"
mkdir -p "$T/side/y"
cp "$M" "$T/side/y/coins.png"
sum_side() { cat "$T/side/m.cnnf" "$T/side/model.png" "$T/side/y/coins.png" "$T/side/c.onnx" "$T/side/k.txt" "$T/side/coins" | cksum; }
before=$(sum_side)
run segment -m "$T/side/model.png" --overlay "$T/side/model.png" "$S/coins.png" "$T/side/l.png"
expect_error "--overlay onto the model" 1 "is the model"
ln -s m.cnnf "$T/side/link.png"
run segment -m "$T/side/m.cnnf" "$S/coins.png" "$T/side/link.png"
expect_error "label map through a link to the model" 1 "link.png: is the model"
run apply -m "$T/side/c.onnx" --format png "$S/coins.png" "$T/side/c.onnx"
expect_error "apply onto its model" 1 "is the model"
run conv -k "$T/side/k.txt" --format png "$S/coins.png" "$T/side/k.txt"
expect_error "conv onto its kernel file" 1 "is the kernel file"
run box --outdir "$T/side" --name '%s' --format png --files-from "$T/side/coins"
expect_error "a batch onto its list" 1 "coins: is the list"
run segment -m "$T/side/y/coins.png" --outdir "$T/side/x/../y" "$S/coins.png"
expect_error "a batch onto its model (x/../)" 1 "is the model"
expect_absent "refused before its folder is made" "$T/side/x"
expect_eq "model, kernel file and list untouched" "$(sum_side)" "$before"

[ "$fail" -eq 0 ] && rm -rf "$T"
note=""
[ "$skipped" -eq 0 ] || note=" (GNU parallel not installed: its recipe skipped)"
echo "batch: $pass passed, $fail failed$note"
[ "$fail" -eq 0 ]
