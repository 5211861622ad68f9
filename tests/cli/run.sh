#!/bin/sh
# tests/cli/run.sh: tests of the cnnf command line: exit statuses, messages, outputs.
# Run from the top of the tree (make check does); ends with "cli: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
# A directory of this run's own, so that runs at the same time (make check and
# make valgrind) do not disturb each other; kept when something failed.
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/cli.XXXXXX")
. "$(dirname "$0")/lib.sh"

# ---- help, version, usage errors ----
run --help
expect_status "help" 0
help=$out
expect_eq "help lists box" "$(printf '%s\n' "$help" | grep -c '^  box  *box blur')" 1
for c in identity box blur gaussian unsharp sharpen shift conv invert darken lighten contrast gamma relu gray maxpool avgpool segment apply train info; do
	printf '%s\n' "$help" | grep -q "^  $c  *[a-z(]" && ok || bad "help does not list $c"
	run "$c" --help
	expect_status "$c --help" 0
	case "$out" in "Usage: cnnf $c "*) ok ;; *) bad "$c --help: $out" ;; esac
done
run --version
expect_status "version" 0
case "$out" in "cnnf "[0-9]*) ok ;; *) bad "version: $out" ;; esac
case "$(printf '%s\n' "$out" | sed -n 2p)" in "vector path: AVX-512" | "vector path: AVX2" | "vector path: portable") ok ;; *) bad "version: no vector path: $out" ;; esac
case "$(printf '%s\n' "$out" | sed -n 3p)" in "libraries: libpng "*", zlib "*", libjpeg-turbo "*", libtiff "[0-9]*) ok ;; *) bad "version: no libraries: $out" ;; esac
run
expect_error "no command" 2 "command is needed"
run frobnicate a b
expect_error "unknown command" 2 "unknown command 'frobnicate'"
run box --frob "$S/coins.png" "$T/x.png"
expect_error "unknown option" 2 "unknown option '--frob'"
run box "$S/coins.png"
expect_error "missing operand" 2 "needs INPUT and OUTPUT"
run box "$S/coins.png" "$T/a.png" "$T/b.png"
expect_error "extra operand" 2 "box: too many operands: 3 given, '.*b.png' the first extra one; see 'cnnf box --help'"
run box --stride 0 "$S/coins.png" "$T/x.png"
expect_error "zero stride" 2 "stride"
run box --pad -1 "$S/coins.png" "$T/x.png"
expect_error "negative pad" 2 "pad"
run box --border mirror "$S/coins.png" "$T/x.png"
expect_error "unknown border" 2 "'mirror' is not zero, replicate, reflect, symmetric or wrap"
run box --dilation x "$S/coins.png" "$T/x.png"
expect_error "bad dilation" 2 "dilation"
run box --quality 101 "$S/coins.png" "$T/x.jpg"
expect_error "bad quality" 2 "quality"
run box --size "$S/coins.png"
expect_error "missing value" 2 ""
run invert --size 3 "$S/coins.png" "$T/x.png"
expect_error "option for another command" 2 "does not apply"
run contrast "$S/coins.png" "$T/x.png"
expect_error "contrast without factor" 2 "factor"
run box "$S/coins.png" "$T/x.gif"
expect_error "unknown output extension" 2 "unknown output format"
expect_absent "unknown extension leaves nothing" "$T/x.gif"
run box --format gif "$S/coins.png" "$T/x.png"
expect_error "bad --format" 2 "format"
ls "$T" | grep -q 'x\.' && bad "usage errors left output files: $(ls "$T")" || ok

# ---- options: the argument at fault is named; values in range; blanks refused ----
run box -x.png "$T/o.png"
expect_eq "-x.png is named" "$err" "cnnf: box: unknown option '-x' in '-x.png'; see 'cnnf box --help'"
run box "$S/coins.png" --quiet=1 "$T/o.png"
expect_eq "--quiet=1" "$err" "cnnf: box: option '--quiet' takes no value; see 'cnnf box --help'"
expect_status "--quiet=1 status" 2
run box --help=1
expect_eq "--help=1" "$err" "cnnf: box: option '--help' takes no value; see 'cnnf box --help'"
run lighten --amount 1e308 "$S/coins.png" "$T/o.png"
expect_eq "--amount 1e308" "$err" "cnnf: lighten: --amount: '1e308' is not a number from -1000000 to 1000000; see 'cnnf lighten --help'"
pgm "$T/lv.pgm" 3 1 0 100 255
run lighten --amount 1e6 "$T/lv.pgm" "$T/lv-light.pgm"
expect_eq "--amount 1e6 is in range" "$(values "$T/lv-light.pgm")" "255 255 255"
run darken --amount -1000000 "$T/lv.pgm" "$T/lv-dark.pgm"
expect_eq "--amount -1000000 is in range" "$(values "$T/lv-dark.pgm")" "255 255 255"
run contrast --factor +1e-6 "$T/lv.pgm" "$T/lv-small.pgm"
expect_eq "--factor +1e-6" "$(values "$T/lv-small.pgm")" "0 0 0"
# A subnormal (strtod says ERANGE) is finite, and in range for --gamma: x^G is 1 for x > 0.
run gamma --gamma 1e-308 "$T/lv.pgm" "$T/lv-gamma.pgm"
expect_status "--gamma 1e-308 (subnormal) is accepted" 0
expect_eq "--gamma 1e-308" "$(values "$T/lv-gamma.pgm")" "0 255 255"
run gamma --gamma 4.9e-324 "$T/lv.pgm" "$T/lv-gamma2.pgm"
expect_status "--gamma 4.9e-324 (the least subnormal) is accepted" 0
run box --size ' 3' "$S/coins.png" "$T/o.png"
expect_eq "leading blank refused" "$err" "cnnf: box: --size: ' 3' is not an integer from 1 to 4095; see 'cnnf box --help'"
run contrast --factor '2 ' "$S/coins.png" "$T/o.png"
expect_eq "trailing blank refused" "$err" "cnnf: contrast: --factor: '2 ' is not a finite number; see 'cnnf contrast --help'"
expect_absent "option errors leave nothing" "$T/o.png"

# ---- messages: names and bytes escaped, one line, nothing raw reaches the terminal ----
NL='
'
ESC=$(printf '\033')
run box "$T/a${NL}b.png" "$T/o.png"
expect_eq "newline in a name" "$err" "cnnf: $T/a\\nb.png: No such file or directory"
expect_printable "newline in a name"
run box "$T/${ESC}[2Jx.png" "$T/o.png"
expect_eq "escape in a name" "$err" "cnnf: $T/\\033[2Jx.png: No such file or directory"
expect_printable "escape in a name"
run box "$T/caf$(printf '\303\251')-$(printf '\377').png" "$T/o.png"
expect_eq "UTF-8 kept, other bytes escaped" "$err" "cnnf: $T/caf$(printf '\303\251')-\\377.png: No such file or directory"
run box "$T/c1-$(printf '\302\233')31m.png" "$T/o.png"
expect_eq "C1 control (CSI) escaped" "$err" "cnnf: $T/c1-\\302\\23331m.png: No such file or directory"
expect_printable "C1 control"
printf 'x' >"$T/j${NL}k.png"
run box "$T/j${NL}k.png" "$T/o${NL}p.png"
expect_eq "bad input named with a newline" "$err" "cnnf: $T/j\\nk.png: not a PNG, JPEG, PNM, TIFF or NPY image"
expect_absent "bad input with a newline leaves nothing" "$T/o${NL}p.png"
run box "$S/coins.png" "$T/o${ESC}p.gif"
expect_eq "unknown output format, escape in the name" "$err" \
	"cnnf: $T/o\\033p.gif: unknown output format; name it .png, .jpg, .tif, .pnm or .npy (or png, jpg, jpeg, pnm, pgm, ppm, pbm, pam, tif, tiff, npy), or use --format"
printf '1 2 \377\376\033[2J\001 3\n' >"$T/raw.txt"
run conv -k "$T/raw.txt" "$S/coins.png" "$T/o.png"
expect_eq "raw bytes of a kernel file" "$err" "cnnf: $T/raw.txt:1:5: '\\377\\376?[2J?' is not a number"
expect_printable "raw bytes of a kernel file"
run conv --kernel-string "1 2${NL}3 x" "$S/coins.png" "$T/o.png"
expect_error "kernel string over two lines" 2 "kernel-string:2:3"
expect_printable "kernel string over two lines"
run box --border "$(printf 'a\tb\rc\033')" "$S/coins.png" "$T/o.png"
expect_eq "tab, CR and ESC in a value" "$err" \
	"cnnf: box: --border: 'a\\tb\\rc\\033' is not zero, replicate, reflect, symmetric or wrap; see 'cnnf box --help'"

# ---- bad input: exit 1, message names the file, nothing written ----
run box "$T/missing.png" "$T/out.png"
expect_error "missing input" 1 "missing.png"
expect_absent "missing input leaves no output" "$T/out.png"
printf 'not an image at all' >"$T/junk.png"
run box "$T/junk.png" "$T/out.png"
expect_error "junk input" 1 "junk.png"
expect_absent "junk input leaves no output" "$T/out.png"
head -c 3000 "$S/coins.png" >"$T/trunc.png"
echo "keep me" >"$T/existing.png"
run box "$T/trunc.png" "$T/existing.png"
expect_error "truncated input" 1 "trunc.png"
expect_eq "existing output untouched" "$(cat "$T/existing.png")" "keep me"
no_temp_files "failed write leaves no temporary" "$T"
run box --max-pixels 1000 "$S/coins.png" "$T/out.png"
expect_error "pixel limit" 1 "pixel limit"
expect_absent "pixel limit leaves no output" "$T/out.png"
run box "$S/coins.png" "$T/no/such/dir/out.png"
expect_error "unwritable output" 1 "out.png"
if [ -w /dev/full ]; then
	"$CNNF" box "$S/coins.png" - >/dev/full 2>"$T/stderr"
	status=$?
	err=$(cat "$T/stderr")
	expect_error "write to /dev/full" 1 "stdout"
fi

# ---- identity and formats ----
run identity "$S/coins.png" "$T/coins.pnm"
expect_status "identity png->pnm" 0
run identity "$T/coins.pnm" "$T/coins2.png"
expect_status "identity pnm->png" 0
run identity "$T/coins2.png" "$T/coins3.pnm"
expect_same "png/pnm round trip is exact" "$T/coins.pnm" "$T/coins3.pnm"
run identity "$S/coins.png" "$T/coins.npy"
run identity "$T/coins.npy" "$T/coins4.pnm"
expect_same "npy round trip is exact" "$T/coins.pnm" "$T/coins4.pnm"
run identity "$S/astronaut.png" "$T/astro.ppm"
run identity "$T/astro.ppm" "$T/astro.png"
run identity "$T/astro.png" "$T/astro2.ppm"
expect_same "RGB round trip is exact" "$T/astro.ppm" "$T/astro2.ppm"
run identity --format pnm "$S/coins.png" "$T/coins-as-pnm.img"
expect_same "--format overrides the extension" "$T/coins.pnm" "$T/coins-as-pnm.img"
cp "$T/coins.pnm" "$T/looks-like.png"
run identity "$T/looks-like.png" "$T/sniffed.pnm"
expect_same "input format comes from the bytes" "$T/coins.pnm" "$T/sniffed.pnm"
"$CNNF" identity - - <"$S/coins.png" >"$T/stdout.png" 2>"$T/stderr"
expect_eq "stdin to stdout" "$?" 0
run identity "$T/stdout.png" "$T/coins5.pnm"
expect_same "stdout gets PNG" "$T/coins.pnm" "$T/coins5.pnm"
run identity "$S/coins.png" "$T/coins.jpg"
expect_status "JPEG output" 0
run identity --quality 20 "$S/coins.png" "$T/coins20.jpg"
[ "$(wc -c <"$T/coins20.jpg")" -lt "$(wc -c <"$T/coins.jpg")" ] && ok || bad "--quality 20 is not smaller"
run identity "$S/horse.png" "$T/horse.jpg"
expect_error "alpha to JPEG" 1 "horse.jpg: JPEG has no alpha channel; composite the image over a background with --flatten\\[=COLOUR\\]"
expect_absent "alpha to JPEG leaves nothing" "$T/horse.jpg"
run identity "$S/horse.png" "$T/horse.ppm"
expect_error "alpha to PNM names --flatten" 1 "horse.ppm: PPM has no alpha channel.*--flatten"
run identity --flatten "$S/horse.png" "$T/horse.jpg"
expect_status "--flatten to JPEG" 0
run identity "$S/horse.png" "$T/horse.png"
run identity "$T/horse.png" "$T/horse.npy"
run identity "$S/horse.png" "$T/horse0.npy"
expect_same "RGBA round trip is exact" "$T/horse.npy" "$T/horse0.npy"

# ---- the lecture's box example (10x10, valid padding), exact ----
pgm "$T/lecture.pgm" 10 10 \
	0 0 0 0 0 0 0 0 0 0 \
	0 0 0 0 0 0 0 0 0 0 \
	0 0 0 90 90 90 90 90 0 0 \
	0 0 0 90 90 90 90 90 0 0 \
	0 0 0 90 90 90 90 90 0 0 \
	0 0 0 90 0 90 90 90 0 0 \
	0 0 0 90 90 90 90 90 0 0 \
	0 0 0 0 0 0 0 0 0 0 \
	0 0 90 0 0 0 0 0 0 0 \
	0 0 0 0 0 0 0 0 0 0
run box --pad valid "$T/lecture.pgm" "$T/lecture-box.pgm"
expect_status "lecture box" 0
expect_eq "lecture box header" "$(head -n 2 "$T/lecture-box.pgm" | tr '\n' ' ')" "P5 8 8 "
expect_eq "lecture box values" "$(values "$T/lecture-box.pgm")" \
	"0 10 20 30 30 30 20 10 0 20 40 60 60 60 40 20 0 30 60 90 90 90 60 30 0 30 50 80 80 90 60 30 0 30 50 80 80 90 60 30 0 20 30 50 50 60 40 20 10 20 30 30 30 30 20 10 10 10 10 0 0 0 0 0"
# The same through --kernel-string with a fraction scale, options after the operands.
run conv "$T/lecture.pgm" "$T/lecture-conv.pgm" --kernel-string '1 1 1; 1 1 1; 1 1 1' --normalize --pad valid
expect_same "kernel-string box equals box" "$T/lecture-box.pgm" "$T/lecture-conv.pgm"

# ---- the lecture's 1-D example: f = 10 50 60 10 20 40 30, box 1/3, zero padding ----
# True values 20 40 40 30 23.33 30 23.33 (the slide's 20 for h(5) is wrong); rounded: 23.
pgm "$T/oned.pgm" 7 1 10 50 60 10 20 40 30
run conv --border zero --kernel-string '1 1 1' --normalize "$T/oned.pgm" "$T/oned-out.pgm"
expect_eq "1-D example" "$(values "$T/oned-out.pgm")" "20 40 40 30 23 30 23"

# ---- shift: the slide's kernel (1 right of centre) moves the content left ----
pgm "$T/row.pgm" 5 1 1 2 3 4 5
run shift --dx -1 --border zero "$T/row.pgm" "$T/row-left.pgm"
expect_eq "shift left" "$(values "$T/row-left.pgm")" "2 3 4 5 0"
run conv --kernel-string '0 0 1' --border zero "$T/row.pgm" "$T/row-left2.pgm"
expect_same "slide's shift kernel equals shift --dx -1" "$T/row-left.pgm" "$T/row-left2.pgm"
run shift --dx 2 --border replicate "$T/row.pgm" "$T/row-right.pgm"
expect_eq "shift right with replicate" "$(values "$T/row-right.pgm")" "1 1 1 2 3"

# ---- sharpen = 2*identity - box3; 5 with neighbours 2: 2*5 - (5+8*2)/9 = 7.67 -> 8 ----
pgm "$T/spot.pgm" 3 3 2 2 2 2 5 2 2 2 2
run sharpen --pad valid "$T/spot.pgm" "$T/spot-sharp.pgm"
expect_eq "sharpen centre" "$(values "$T/spot-sharp.pgm")" "8"

# ---- borders on a row 1 2 3 with a 1x5 kernel picking the leftmost tap ----
pgm "$T/abc.pgm" 3 1 10 20 30
for b in "zero:0 0 10" "replicate:10 10 10" "reflect:30 20 10" "symmetric:20 10 10" "wrap:20 30 10"; do
	mode=${b%%:*}
	want=${b#*:}
	run conv --border "$mode" --kernel-string '1 0 0 0 0' "$T/abc.pgm" "$T/abc-$mode.pgm"
	expect_eq "border $mode" "$(values "$T/abc-$mode.pgm")" "$want"
done

# ---- stride, dilation, in place ----
pgm "$T/ramp.pgm" 6 1 0 10 20 30 40 50
run conv --kernel-string '1' --stride 2 "$T/ramp.pgm" "$T/ramp-s2.pgm"
expect_eq "stride 2" "$(values "$T/ramp-s2.pgm")" "0 20 40"
run conv --kernel-string '1 0 1' --dilation 2 --pad valid "$T/ramp.pgm" "$T/ramp-d2.pgm"
expect_eq "dilation 2" "$(values "$T/ramp-d2.pgm")" "40 60"
cp "$S/coins.png" "$T/inplace.png"
run box "$T/inplace.png" "$T/inplace.png"
expect_status "in place" 0
run box "$S/coins.png" "$T/notinplace.png"
expect_same "in place equals out of place" "$T/inplace.png" "$T/notinplace.png"
no_temp_files "in place leaves no temporary" "$T"

# ---- threads give identical bytes ----
run box --size 7 --threads 1 "$S/astronaut.png" "$T/t1.ppm"
run box --size 7 --threads 2 "$S/astronaut.png" "$T/t2.ppm"
run box --size 7 --threads 5 "$S/astronaut.png" "$T/t5.ppm"
expect_same "threads 1 = 2" "$T/t1.ppm" "$T/t2.ppm"
expect_same "threads 1 = 5" "$T/t1.ppm" "$T/t5.ppm"

# ---- --abs and --offset ----
pgm "$T/step.pgm" 3 1 100 100 40
run conv --kernel-string '-1 0 1' --pad valid "$T/step.pgm" "$T/step-raw.pgm"
expect_eq "negative response clamps to 0" "$(values "$T/step-raw.pgm")" "0"
run conv --kernel-string '-1 0 1' --pad valid --abs "$T/step.pgm" "$T/step-abs.pgm"
expect_eq "--abs" "$(values "$T/step-abs.pgm")" "60"
run conv --kernel-string '-1 0 1' --pad valid --offset 128 "$T/step.pgm" "$T/step-off.pgm"
expect_eq "--offset" "$(values "$T/step-off.pgm")" "68"

# ---- 3-D kernels and banks ----
run conv -k "$S/kernels/rgb-to-gray.txt" "$S/astronaut.png" "$T/gray.pgm"
expect_status "3-D kernel on RGB" 0
expect_eq "3-D kernel gives one channel" "$(head -n 1 "$T/gray.pgm")" "P5"
run conv -k "$S/kernels/rgb-to-gray.txt" "$S/coins.png" "$T/gray2.pgm"
expect_error "3-D kernel depth mismatch" 1 "depth 3"
expect_absent "depth mismatch leaves nothing" "$T/gray2.pgm"
run conv -k "$S/kernels/sobel-xy.txt" "$S/coins.png" "$T/sobel-xy.png"
expect_error "2-channel bank to PNG" 1 "write .npy"
run conv -k "$S/kernels/sobel-xy.txt" "$S/coins.png" "$T/sobel-xy.npy"
expect_status "2-channel bank to npy" 0

# ---- kernel errors ----
printf '1 2 1\n2 x 2\n' >"$T/bad.txt"
run conv -k "$T/bad.txt" "$S/coins.png" "$T/out.png"
expect_error "bad kernel file" 1 "bad.txt:2:3"
expect_absent "bad kernel leaves nothing" "$T/out.png"
run conv --kernel-string '1 2; 3' "$S/coins.png" "$T/out.png"
expect_error "ragged kernel string" 2 "kernel-string"
run conv "$S/coins.png" "$T/out.png"
expect_error "conv without kernel" 2 "kernel"
run conv --kernel-string '1 -1' --normalize "$S/coins.png" "$T/out.png"
expect_error "normalize zero sum" 1 "zero"

# ---- point operations ----
pgm "$T/pts.pgm" 4 1 0 64 128 255
run invert "$T/pts.pgm" "$T/inv.pgm"
expect_eq "invert" "$(values "$T/inv.pgm")" "255 191 127 0"
run darken "$T/pts.pgm" "$T/dark.pgm"
expect_eq "darken" "$(values "$T/dark.pgm")" "0 0 0 127"
run lighten --amount 100 "$T/pts.pgm" "$T/light.pgm"
expect_eq "lighten" "$(values "$T/light.pgm")" "100 164 228 255"
run contrast --factor 0.5 "$T/pts.pgm" "$T/half.pgm"
expect_eq "contrast 1/2 (round half up)" "$(values "$T/half.pgm")" "0 32 64 128"
run gamma --gamma 2 "$T/pts.pgm" "$T/gamma.pgm"
# (64/255)^2*255 = 16.06, (128/255)^2*255 = 64.25
expect_eq "gamma 2" "$(values "$T/gamma.pgm")" "0 16 64 255"

# ---- pooling ----
pgm "$T/pool.pgm" 4 2 1 5 2 0 3 4 9 8
run maxpool "$T/pool.pgm" "$T/max.pgm"
expect_eq "maxpool 2" "$(values "$T/max.pgm")" "5 9"
run avgpool "$T/pool.pgm" "$T/avg.pgm"
# (1+5+3+4)/4 = 3.25 -> 3; (2+0+9+8)/4 = 4.75 -> 5
expect_eq "avgpool 2" "$(values "$T/avg.pgm")" "3 5"
run maxpool --size 2 --stride 1 "$T/pool.pgm" "$T/max1.pgm"
expect_eq "maxpool stride 1" "$(values "$T/max1.pgm")" "5 9 9"
run maxpool --size 3 "$T/pool.pgm" "$T/max3.pgm"
expect_error "pool window too big" 1 "does not fit"

# ---- info ----
run info "$S/kernels/sobel-x.txt"
expect_status "info sobel" 0
printf '%s\n' "$out" | grep -q "separable: column 1 2 1, row -1 0 1" && ok || bad "info sobel: $out"
run info "$S/kernels/laplacian.txt"
printf '%s\n' "$out" | grep -q "not separable" && ok || bad "info laplacian: $out"
run info "$T/missing.txt"
expect_error "info missing" 1 "missing.txt"

# ---- segment and model info ----
M="$(pwd)/tests/data/net"
run segment --model "$M/seg_small.cnnf" "$M/seg_small.input.pgm" "$T/seg.png"
expect_status "segment" 0
case "$(od -An -tu1 -j 25 -N 1 "$T/seg.png" | tr -d ' ')" in 3) ok ;; *) bad "label map is not a palette PNG" ;; esac
run segment --model "$M/seg_small.cnnf" --probs "$T/seg.npy" --overlay "$T/seg-over.png" "$M/seg_small.input.pgm" "$T/seg2.png"
expect_status "segment with probs and overlay" 0
expect_same "probs do not change the labels" "$T/seg.png" "$T/seg2.png"
[ -s "$T/seg.npy" ] && [ -s "$T/seg-over.png" ] && ok || bad "probs or overlay missing"
run segment "$M/seg_small.input.pgm" "$T/seg3.png"
expect_error "segment without model" 2 "model"
run segment --model "$M/seg_small.cnnf" "$M/seg_small.input.pgm" "$T/seg3.jpg"
expect_error "label map must be PNG" 2 "PNG"
run segment --model "$M/seg_small.cnnf" --probs "$T/p.png" "$M/seg_small.input.pgm" "$T/seg3.png"
expect_error "probs must be npy" 2 "npy"
run segment --model "$M/seg_small.cnnf" --mode fast "$M/seg_small.input.pgm" "$T/seg3.png"
expect_error "bad mode" 2 "mode"
run segment --model "$M/seg_small.cnnf" "$S/astronaut.png" "$T/seg3.png"
expect_error "channel mismatch" 1 "astronaut.png: the image has 3 channels; the model takes 1 (--channels gray converts it)"
run segment -m "$S/models/coins.cnnf" --channels gray "$S/astronaut.png" "$T/astro-gray-labels.png"
expect_status "segment --channels gray" 0
run gray "$S/astronaut.png" "$T/astro-gray.png"
run segment -m "$S/models/coins.cnnf" "$T/astro-gray.png" "$T/astro-gray-labels2.png"
expect_same "--channels gray labels as gray's luma does" "$T/astro-gray-labels.png" "$T/astro-gray-labels2.png"
run segment -m "$S/models/coins.cnnf" --channels cmyk "$S/astronaut.png" "$T/x.png"
expect_error "--channels cmyk" 2 "is not gray or rgb"
expect_absent "channel mismatch leaves nothing" "$T/seg3.png"
printf 'cnnf-model 1\ninput channels=1 height=3 width=3\nconv out=2 kernel=3\nweights text 3\n1 2 3\n' >"$T/bad.cnnf"
run segment --model "$T/bad.cnnf" "$M/seg_small.input.pgm" "$T/seg3.png"
expect_error "bad model" 1 "bad.cnnf:4"
expect_absent "bad model leaves nothing" "$T/seg3.png"
mkdir -p "$T/outdir"
cp "$M/seg_small.input.pgm" "$T/a.pgm"
cp "$M/seg_small.input.pgm" "$T/b.pgm"
run segment --model "$M/seg_small.cnnf" --outdir "$T/outdir" "$T/a.pgm" "$T/b.pgm"
expect_status "segment --outdir" 0
expect_same "--outdir a" "$T/outdir/a.png" "$T/seg.png"
expect_same "--outdir b" "$T/outdir/b.png" "$T/seg.png"
run segment --model "$M/seg_small.cnnf" --outdir "$T/nodir/sub" "$T/a.pgm"
expect_status "--outdir missing: made" 0
expect_same "--outdir missing: made, with the labels" "$T/nodir/sub/a.png" "$T/seg.png"
run info "$M/seg_small.cnnf"
expect_status "info model" 0
printf '%s\n' "$out" | grep -q "total parameters: 55" && ok || bad "info model parameters: $out"
printf '%s\n' "$out" | grep -q "receptive field: 5 x 5" && ok || bad "info receptive field: $out"
# conv 3x3 1->4 on 5x5: 4*3*3*9 = 324; fc 3 on 4x1x1: 12 -> 336.
printf '%s\n' "$out" | grep -q "multiply-adds per patch: 336" && ok || bad "info MACs: $out"

# The coins sample model reproduces PyTorch's label map exactly: the label map's red
# channel (palette: 0 black, 1 (255,200,0)) scaled by 1/255 gives the class ids.
printf 'scale 1/255\n1\n---\n0\n---\n0\n' >"$T/red.txt"
run segment --model "$S/models/coins.cnnf" --quiet "$S/coins.png" "$T/coins-labels.png"
expect_status "coins segment" 0
run conv -k "$T/red.txt" "$T/coins-labels.png" "$T/coins-ids.pgm"
expect_same "coins labels equal PyTorch's" "$T/coins-ids.pgm" "$S/models/coins-torch-labels.pgm"

# ---- info on an image ----
run info "$S/coins.png"
expect_eq "info on a gray PNG" "$out" "$S/coins.png: PNG image, 384 x 303 (W x H), 1 channel (gray), 8-bit samples (0..255)"
run info "$(pwd)/tests/data/io/rgba8_i.png"
case "$out" in *"PNG image, 9 x 7 (W x H), 4 channels (RGB, alpha), 8-bit samples (0..255)") ok ;; *) bad "info on RGBA: $out" ;; esac
run info "$(pwd)/tests/data/io/f32_hwc.npy"
case "$out" in *"NPY image, 4 x 3 (W x H), 3 channels (RGB), float samples (no scale)") ok ;; *) bad "info on a float .npy: $out" ;; esac
run info "$S/kernels/sobel-x.txt"
case "$out" in *"2-D kernel"*) ok ;; *) bad "info on a kernel after the image check: $out" ;; esac

# ---- decoder warnings: once a file, the image still read ----
run identity "$(pwd)/tests/data/io/crc-text.png" "$T/crc.png"
expect_status "a PNG with bad ancillary CRCs is read" 0
expect_eq "its warnings, once for the file" "$err" \
	"cnnf: $(pwd)/tests/data/io/crc-text.png: warning: tEXt: CRC error (and 1 more)"
run identity "$(pwd)/tests/data/io/g8_trns.png" "$T/crc0.png"
expect_same "and the image is the one without the chunks" "$T/crc.png" "$T/crc0.png"

# ---- float samples: as they are, or divided by --scale ----
run identity "$S/coins.png" "$T/coins-f.npy"
expect_status "identity to .npy (0..255 floats)" 0
run segment -m "$S/models/coins.cnnf" "$T/coins-f.npy" "$T/f1.png"
expect_status "segment a 0..255 float .npy" 0
expect_eq "a float .npy far outside 0..1 is warned about" "$err" \
	"cnnf: $T/coins-f.npy: warning: samples up to 252 used as they are; --scale 255 divides them"
run segment -m "$S/models/coins.cnnf" --scale 255 "$T/coins-f.npy" "$T/f2.png"
expect_eq "--scale 255: no warning" "$err" ""
run segment -m "$S/models/coins.cnnf" "$S/coins.png" "$T/f3.png"
expect_same "--scale 255 on the float copy labels as the PNG does" "$T/f2.png" "$T/f3.png"
run identity "$(pwd)/tests/data/train/squares.png" "$T/sq-f.npy"
printf 'sq-f.npy %s\n' "$(pwd)/tests/data/train/squares-labels.png" >"$T/f.list"
run train -m "$(pwd)/tests/data/train/squares-arch.cnnf" -o "$T/f.cnnf" --epochs 1 --quiet "$T/f.list"
case "$err" in *"sq-f.npy: warning: samples up to "*" used as they are; --scale 255 divides them"*) ok ;; *) bad "train does not warn of 0..255 floats: $err" ;; esac
run train -m "$(pwd)/tests/data/train/squares-arch.cnnf" -o "$T/f.cnnf" --epochs 1 --quiet --scale 255 "$T/f.list"
expect_eq "train --scale 255: no warning" "$err" ""
# ---- gaussian, unsharp, gray, --flatten ----
run blur --help
case "$out" in *"box filter"*"gaussian --sigma"*) ok ;; *) bad "blur --help does not say it is the box filter: $out" ;; esac
run gaussian "$S/camera.png" "$T/g.png"
expect_error "gaussian without --sigma" 2 "gaussian: --sigma S is required"
run gaussian --sigma 0 "$S/camera.png" "$T/g.png"
expect_error "--sigma 0" 2 "--sigma: '0' is not a number above 0 and up to 500"
run gaussian --sigma 501 "$S/camera.png" "$T/g.png"
expect_error "--sigma 501" 2 "--sigma: '501'"
run unsharp --amount 1e7 "$S/camera.png" "$T/g.png"
expect_error "unsharp --amount 1e7" 2 "--amount"
expect_absent "refused gaussian writes nothing" "$T/g.png"
# A flat image stays flat, an impulse spreads symmetrically.
pgm "$T/flat.pgm" 4 3 77 77 77 77 77 77 77 77 77 77 77 77
run gaussian --sigma 2.5 "$T/flat.pgm" "$T/flat-g.pgm"
expect_eq "gaussian of a flat image" "$(values "$T/flat-g.pgm")" "77 77 77 77 77 77 77 77 77 77 77 77"
run unsharp --sigma 2.5 --amount 3 "$T/flat.pgm" "$T/flat-u.pgm"
expect_eq "unsharp of a flat image" "$(values "$T/flat-u.pgm")" "77 77 77 77 77 77 77 77 77 77 77 77"
pgm "$T/dot.pgm" 5 5 0 0 0 0 0 0 0 0 0 0 0 0 255 0 0 0 0 0 0 0 0 0 0 0 0
# sigma 0.5: weights 0.10650698, 0.78698604, 0.10650698; 255 times their products.
run gaussian --sigma 0.5 --border zero "$T/dot.pgm" "$T/dot-g.pgm"
expect_eq "gaussian of an impulse" "$(values "$T/dot-g.pgm")" \
	"0 0 0 0 0 0 3 21 3 0 0 21 158 21 0 0 3 21 3 0 0 0 0 0 0"
# 255 + 1 * (255 - 158) = 352 is clamped; the neighbours 0 + (0 - 21) too.
run unsharp --sigma 0.5 --border zero "$T/dot.pgm" "$T/dot-u.pgm"
expect_eq "unsharp of an impulse" "$(values "$T/dot-u.pgm")" \
	"0 0 0 0 0 0 0 0 0 0 0 0 255 0 0 0 0 0 0 0 0 0 0 0 0"
# Rec. 601: red 76.245, green 149.685, blue 250 28.5 (half up), (10, 20, 30) 18.15.
printf 'P3\n4 1\n255\n255 0 0  0 255 0  0 0 250  10 20 30\n' >"$T/rgb.ppm"
run gray "$T/rgb.ppm" "$T/rgb-gray.pgm"
expect_status "gray" 0
expect_eq "gray is Rec. 601 luma" "$(values "$T/rgb-gray.pgm")" "76 150 29 18"
run gray "$T/rgb-gray.pgm" "$T/gray-gray.pgm"
expect_same "gray of gray is itself" "$T/rgb-gray.pgm" "$T/gray-gray.pgm"
run gray "$S/horse.png" "$T/horse-gray.png"
expect_status "gray of RGBA" 0
run identity "$T/horse-gray.png" "$T/horse-gray.npy"
expect_eq "gray of RGBA keeps alpha (gray+alpha)" "$(head -c 128 "$T/horse-gray.npy" | grep -c "(328, 400, 2)")" 1
run gray --flatten "$S/horse.png" "$T/horse-gray.jpg"
expect_status "gray --flatten to JPEG" 0
# ga8.png: gray x*40+y*7, alpha 100 more (mod 256); (g a + bg (255 - a)) / 255, half up.
run identity --flatten "$(pwd)/tests/data/io/ga8.png" "$T/ga-white.pgm"
expect_eq "--flatten: over white" "$(values "$T/ga-white.pgm")" "155 137 131 139 254 151 135 132 141 251"
run identity --flatten=black "$(pwd)/tests/data/io/ga8.png" "$T/ga-black.pgm"
expect_eq "--flatten=black" "$(values "$T/ga-black.pgm")" "0 22 56 104 3 3 27 64 113 7"
run identity --flatten='#000000' "$(pwd)/tests/data/io/ga8.png" "$T/ga-black2.pgm"
expect_same "--flatten=#000000 is black" "$T/ga-black.pgm" "$T/ga-black2.pgm"
run identity --flatten=white "$S/coins.png" "$T/coins-flat.pgm"
run identity "$S/coins.png" "$T/coins-plain.pgm"
expect_same "--flatten leaves an image without alpha alone" "$T/coins-flat.pgm" "$T/coins-plain.pgm"
run identity --flatten=mauve "$S/horse.png" "$T/h.jpg"
expect_error "--flatten=mauve" 2 "--flatten: 'mauve' is not a colour"
run identity --flatten='#12345' "$S/horse.png" "$T/h.jpg"
expect_error "--flatten=#12345" 2 "is not a colour"
run box --flatten=black "$S/horse.png" "$T/horse-box.ppm"
expect_status "box --flatten to PNM" 0
run identity --help
case "$out" in *"--flatten[=COLOUR]"*) ok ;; *) bad "identity --help lacks --flatten[=COLOUR]" ;; esac

# gaussian and unsharp against PyTorch's conv2d in float64 (reflect padding), where
# python3-torch is installed: the .npy floats within float32 rounding, the 8-bit output the
# reference rounded half up. Skipped elsewhere.
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
	run identity "$S/chelsea.png" "$T/ch.npy"
	for spec in "gaussian --sigma 1.5" "gaussian --sigma 4 --border reflect" "unsharp --sigma 2 --amount 0.7" "unsharp"; do
		# shellcheck disable=SC2086
		run $spec "$S/chelsea.png" "$T/ch-f.npy"
		# shellcheck disable=SC2086
		run $spec "$S/chelsea.png" "$T/ch-i.ppm"
		# shellcheck disable=SC2086
		res=$(/usr/bin/python3 - "$T/ch.npy" "$T/ch-f.npy" "$T/ch-i.ppm" $spec <<'EOF'
import math, sys
import numpy as np, torch
import torch.nn.functional as F
x = torch.from_numpy(np.load(sys.argv[1]).astype(np.float64)).permute(2, 0, 1)[:, None]
args = sys.argv[4:]
sigma = float(args[args.index("--sigma") + 1]) if "--sigma" in args else 1.0
amount = float(args[args.index("--amount") + 1]) if "--amount" in args else 1.0
r = math.ceil(3 * sigma)
d = torch.arange(-r, r + 1, dtype=torch.float64)
g = torch.exp(-d * d / (2 * sigma * sigma))
g = g / g.sum()
blur = F.conv2d(F.pad(x, (r, r, r, r), mode="reflect"), torch.outer(g, g)[None, None])
ref = blur if args[0] == "gaussian" else x + amount * (x - blur)
ref = ref[:, 0].permute(1, 2, 0).numpy()
got = np.load(sys.argv[2]).astype(np.float64)
with open(sys.argv[3], "rb") as f:
    f.readline(); w, h = map(int, f.readline().split()); f.readline()
    q = np.frombuffer(f.read(), np.uint8).reshape(h, w, 3).astype(np.float64)
c = np.clip(ref, 0, 255)
tie = np.abs(c % 1 - 0.5) < 1e-9
bad = (q != np.floor(c + 0.5)) & ~tie
print("maxdiff %.3g mismatches %d ties %d" % (np.abs(got - ref).max(), int(bad.sum()), int(tie.sum())))
EOF
)
		case "$res" in
		"maxdiff "*" mismatches 0 "*)
			md=${res#maxdiff }
			md=${md%% *}
			awk -v m="$md" 'BEGIN { exit !(m < 1e-4) }' && ok || bad "$spec: floats differ from PyTorch by $md"
			;;
		*) bad "$spec against PyTorch: $res" ;;
		esac
	done
fi

# ---- train ----
D="$(pwd)/tests/data/train"
run train -m "$D/squares-arch.cnnf" -o "$T/sq.cnnf" --epochs 20 --lr 0.05 --quiet "$D/squares.list"
expect_status "train" 0
expect_eq "train prints one line per epoch" "$(printf '%s\n' "$out" | grep -c '^epoch [0-9]*/20  loss ')" 20
case "$(printf '%s\n' "$out" | grep '^epoch 20/20')" in *"train 100.00%"*) ok ;; *) bad "squares not learned to 100%: $(printf '%s\n' "$out" | grep '^epoch 20/20')" ;; esac
case "$(printf '%s\n' "$out" | tail -n 1)" in
"best epoch "[0-9]*" of 20 (val "*"%  mIoU "*"): wrote $T/sq.cnnf (the last epoch)") ok ;;
*) bad "train's last line: $(printf '%s\n' "$out" | tail -n 1)" ;;
esac
run train -m "$D/squares-arch.cnnf" -o "$T/auto.cnnf" --epochs 1 --normalize auto --quiet "$D/squares.list"
expect_status "train --normalize auto" 0
expect_eq "--normalize auto writes the images' mean and std" \
	"$(LC_ALL=C grep -a '^input ' "$T/auto.cnnf")" "input channels=1 height=5 width=5 mean=0.2797045 std=0.23959923"
run train --arch small -o "$T/arch.cnnf" --epochs 1 --quiet "$D/squares.list"
expect_status "train --arch small" 0
expect_eq "--arch small: its input line" "$(LC_ALL=C grep -a '^input ' "$T/arch.cnnf")" \
	"input channels=1 height=15 width=15 mean=0.2797045 std=0.23959923"
expect_eq "--arch small: 2 classes from the labels" "$(LC_ALL=C grep -a -c '^fc out=2$' "$T/arch.cnnf")" 1
run segment -m "$T/arch.cnnf" "$D/squares.png" "$T/arch.png"
expect_status "an --arch model segments" 0
run train --arch huge -o "$T/x.cnnf" "$D/squares.list"
expect_error "--arch huge" 2 "is not small, medium or large"
run train --arch small -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" "$D/squares.list"
expect_error "--arch and --model" 2 "use one"
run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" --normalize yes "$D/squares.list"
expect_error "--normalize yes" 2 "is not auto"
run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" --holdout rows "$D/squares.list"
expect_error "--holdout rows" 2 "is not blocks or columns"
run conv --normalize -k "$S/kernels/box3.txt" "$S/coins.png" "$T/norm.png"
expect_status "conv --normalize still takes no value" 0
# A class held back entirely is warned about: class 1 only in the right-hand 4 columns.
{ printf 'P2\n24 24\n255\n'; i=0; while [ $i -lt 576 ]; do echo $(((i % 24) * 10)); i=$((i + 1)); done; } >"$T/w.pgm"
{ printf 'P2\n24 24\n1\n'; i=0; while [ $i -lt 576 ]; do [ $((i % 24)) -ge 20 ] && echo 1 || echo 0; i=$((i + 1)); done; } >"$T/wl.pgm"
echo "w.pgm wl.pgm" >"$T/w.list"
run train -m "$D/squares-arch.cnnf" -o "$T/w.cnnf" --epochs 1 --holdout columns --val-split 0.2 --quiet "$T/w.list"
expect_status "train with a class held back" 0
case "$err" in *"cnnf: $T/w.list: warning: class 1 (bright) has no training pixels (all 96 are held back for validation)"*) ok ;; *) bad "no warning of a class without training pixels: $err" ;; esac
run info "$T/sq.cnnf"
expect_status "trained model loads" 0
run train -m "$D/squares-arch.cnnf" -o "$T/sq2.cnnf" --epochs 20 --lr 0.05 --threads 1 --quiet "$D/squares.list"
expect_same "same seed, other thread count: same bytes" "$T/sq.cnnf" "$T/sq2.cnnf"
run train -m "$D/squares-arch.cnnf" -o "$T/sq3.cnnf" --epochs 20 --lr 0.05 --seed 7 --quiet "$D/squares.list"
cmp -s "$T/sq.cnnf" "$T/sq3.cnnf" && bad "another seed gave the same model" || ok
run segment -m "$T/sq.cnnf" "$D/squares.png" "$T/sq-labels.png"
expect_status "a trained model segments" 0
run train -o "$T/x.cnnf" "$D/squares.list"
expect_error "train without model" 2 "model"
run train -m "$D/squares-arch.cnnf" "$D/squares.list"
expect_error "train without output" 2 "output"
run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" --lr 0 "$D/squares.list"
expect_error "zero learning rate" 2 "lr"
run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" --val-split 1 "$D/squares.list"
expect_error "val-split 1" 2 "val-split"
run train -m "$D/squares-arch.cnnf" -o "$T/x.cnnf" "$D/bad-size.list"
expect_error "label map of another size" 1 "bad-size.list"
expect_absent "failed training writes nothing" "$T/x.cnnf"
echo "keep me" >"$T/keep.cnnf"
run train -m "$D/squares-arch.cnnf" -o "$T/keep.cnnf" "$D/bad-label.list"
expect_error "label out of range" 1 "bad-label.list"
expect_eq "failed training leaves the old output" "$(cat "$T/keep.cnnf")" "keep me"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && rm -rf "$T"
[ "$fail" -eq 0 ]
