#!/bin/sh
# bench/run.sh: times cnnf against libvips (vips conv), ImageMagick (-morphology Convolve)
# and PyTorch where they are installed, in one run, and prints a markdown table with the
# ratios and peak memory, then exactness checks, details and the issue's targets.
#
#     make && sh bench/run.sh          (from the top of the tree; `make bench` does this)
#
# Everything runs on 2 threads. Each command is timed with GNU time (wall seconds and peak
# RSS), best of BENCH_RUNS runs (default 5); a run that takes longer than BENCH_LONG seconds
# (default 10) is not repeated, so that a slow build cannot make the run take forever.
# The 32->32 layer takes about 5 ms a call, so it is timed in-process, best of
# BENCH_LAYER_RUNS calls (default 50) for cnnf and PyTorch alike: on a shared virtual
# machine a burst of a few calls can all land in a slow moment.
# BENCH_FULL=1 adds patch-mode segmentation of 512x512. PYTHON picks the Python with
# torch (default /usr/bin/python3, Debian's python3-torch). bench/README.md explains the rows.
set -u

RUNS=${BENCH_RUNS:-5}
LONG=${BENCH_LONG:-10}
LAYER_RUNS=${BENCH_LAYER_RUNS:-50}
FULL=${BENCH_FULL:-0}
PY=${PYTHON:-/usr/bin/python3}
THREADS=2
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS VIPS_CONCURRENCY=$THREADS \
	MAGICK_THREAD_LIMIT=$THREADS

if [ ! -x ./cnnf ] || [ ! -f src/libcnnf.a ] || [ ! -f bench/run.sh ]; then
	echo "bench: run this from the top of the tree after make (./cnnf and src/libcnnf.a)" >&2
	exit 1
fi
TOP=$(pwd)
CNNF=$TOP/cnnf
TB=$TOP/bench/torch_bench.py
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnnf-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
mkdir "$TMP/r"
START=$(date +%s)

say() { printf 'bench: %s\n' "$*" >&2; }
put() { printf '%s\n' "$2" >"$TMP/r/$1"; }
get() { if [ -s "$TMP/r/$1" ]; then cat "$TMP/r/$1"; else echo n/a; fi; }
isnum() { case $1 in '' | *[!0-9.e+-]*) return 1 ;; *) return 0 ;; esac; }
# Lines "KEY VALUE" of file $2 stored under prefix $1: KEY -> $1.KEY
putkv() {
	while read -r k v; do
		[ -n "$k" ] && put "$1.$k" "$v"
	done <"$2"
}

# ------------------------------------------------------------------ the tools

if /usr/bin/time -f '%e %M' -o /dev/null true 2>/dev/null; then
	GNUTIME=/usr/bin/time
else
	GNUTIME=
	say "GNU time (/usr/bin/time) not found: wall times from date, no peak memory"
fi
# timed CMD...: runs CMD, its "seconds peak-KB" into $TMP/time. The wall time comes from
# date(1) to the nanosecond (GNU time's %e has 10 ms steps, too coarse for 0.1 s jobs); it
# includes starting GNU time and date, about a millisecond, alike for every tool.
timed() {
	t0=$(date +%s.%N)
	if [ -n "$GNUTIME" ]; then
		"$GNUTIME" -f '%M' -o "$TMP/rss" "$@"
	else
		"$@"
	fi
	rc=$?
	t1=$(date +%s.%N)
	kb=0
	[ -n "$GNUTIME" ] && kb=$(tail -n 1 "$TMP/rss")
	awk -v a="$t0" -v b="$t1" -v kb="$kb" 'BEGIN { printf "%.4f %s\n", b - a, kb }' >"$TMP/time"
	return $rc
}

# once NAME CMD...: one timed run of CMD; keeps the best wall time in NAME.s and the largest
# peak RSS in KB in NAME.kb. After a run longer than $LONG s, NAME is not run again (NAME.long).
# A failure is reported and recorded as NAME.s = fail, and NAME is not run again.
once() {
	o_name=$1
	shift
	[ -e "$TMP/r/$o_name.long" ] && return 0
	if ! timed "$@" >"$TMP/out" 2>"$TMP/err"; then
		say "$o_name failed: $*"
		tail -n 5 "$TMP/err" | sed 's/^/    /' >&2
		put "$o_name.s" fail
		: >"$TMP/r/$o_name.long"
		return 1
	fi
	read -r o_t o_kb <"$TMP/time"
	o_best=$(get "$o_name.s")
	isnum "$o_best" || o_best=
	put "$o_name.s" "$(awk -v a="$o_best" -v b="$o_t" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')"
	if [ -n "$GNUTIME" ]; then
		o_peak=$(get "$o_name.kb")
		isnum "$o_peak" && [ "$o_peak" -gt "$o_kb" ] && o_kb=$o_peak
		put "$o_name.kb" "$o_kb"
	fi
	awk -v t="$o_t" -v l="$LONG" 'BEGIN { exit !(t > l) }' && : >"$TMP/r/$o_name.long"
	return 0
}

# bench NAME CMD...: $RUNS runs of CMD in a row (best time, largest peak RSS)
bench() {
	b_i=0
	while [ "$b_i" -lt "$RUNS" ]; do
		b_i=$((b_i + 1))
		once "$@" || return 1
	done
}

HAVE_VIPS=0
if command -v vips >/dev/null 2>&1; then
	HAVE_VIPS=1
	VIPS_VERSION=$(vips --version 2>/dev/null)
else
	VIPS_VERSION="not installed"
fi
IM=
if command -v magick >/dev/null 2>&1; then
	IM=magick
elif convert -version 2>/dev/null | grep -q ImageMagick; then
	IM=convert
fi
if [ -n "$IM" ]; then
	IM_VERSION="ImageMagick $($IM -version 2>/dev/null | awk 'NR == 1 { print $3, $4 }')"
else
	IM_VERSION="not installed"
fi
HAVE_NUMPY=0
HAVE_TORCH=0
PY_VERSION="PyTorch not installed"
if [ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1; then
	"$PY" -c 'import numpy' 2>/dev/null && HAVE_NUMPY=1
	if "$PY" -c 'import torch' 2>/dev/null; then
		HAVE_TORCH=1
		PY_VERSION="torch $("$PY" -c 'import torch; print(torch.__version__)'), $("$PY" --version 2>&1)"
	fi
fi
[ "$HAVE_TORCH" = 1 ] || say "no PyTorch in $PY: its columns will read n/a"

# ------------------------------------------------------------------ the inputs

say "making the inputs in $TMP"
BIG=$TMP/in.ppm
ASTRO=$TOP/samples/astronaut.png
if [ -n "$IM" ] && $IM "$ASTRO" -resize '4000x3000!' "$TMP/big.ppm" 2>/dev/null; then
	:
elif [ "$HAVE_VIPS" = 1 ] && vips resize "$ASTRO" "$TMP/big.ppm" 7.8125 --vscale 5.859375 2>/dev/null; then
	:
elif [ "$HAVE_NUMPY" = 1 ]; then # nearest neighbour, from cnnf's own PPM of the photo
	"$CNNF" identity "$ASTRO" "$TMP/astro.ppm" &&
		"$PY" - "$TMP/astro.ppm" "$TMP/big.ppm" <<'EOF'
import sys, numpy as np
d = open(sys.argv[1], "rb").read()
h = d.split(b"\n", 3)
w, ht = (int(v) for v in h[1].split())
a = np.frombuffer(h[3], np.uint8).reshape(ht, w, 3)
a = a[np.arange(3000) * ht // 3000][:, np.arange(4000) * w // 4000]
open(sys.argv[2], "wb").write(b"P6\n4000 3000\n255\n" + a.tobytes())
EOF
else
	echo "bench: need ImageMagick, vips or numpy to make the 4000x3000 input" >&2
	exit 1
fi
# cnnf rewrites it: a plain P6 header that every tool reads the same way
"$CNNF" identity "$TMP/big.ppm" "$BIG" || exit 1
rm -f "$TMP/big.ppm" "$TMP/astro.ppm"
"$CNNF" identity "$TOP/samples/camera.png" "$TMP/g512.png" &&
	"$CNNF" avgpool --size 2 "$TOP/samples/camera.png" "$TMP/g256.png" &&
	"$CNNF" identity "$TMP/g512.png" "$TMP/g512.pgm" &&
	"$CNNF" identity "$TMP/g256.png" "$TMP/g256.pgm" || exit 1

# box 3x3 and a 15x15 tent (outer product of 1 2 .. 8 .. 2 1: integer weights, sum 4096),
# as cnnf text, libvips .mat and ImageMagick kernel strings
printf '3 3 9 0\n1 1 1\n1 1 1\n1 1 1\n' >"$TMP/box3.mat"
printf 'scale 1/9\n1 1 1\n1 1 1\n1 1 1\n' >"$TMP/box3.txt"
awk 'BEGIN { for (i = 0; i < 15; i++) { r = ""; for (j = 0; j < 15; j++) {
	a = 8 - (i > 7 ? i - 7 : 7 - i); b = 8 - (j > 7 ? j - 7 : 7 - j); r = r (j ? " " : "") a * b }
	print r } }' >"$TMP/tent15.rows"
{ echo "scale 1/4096"; cat "$TMP/tent15.rows"; } >"$TMP/tent15.txt"
{ echo "15 15 4096 0"; cat "$TMP/tent15.rows"; } >"$TMP/tent15.mat"
# and a 15x15 of random non-integer weights in -1..1 (fixed seed), which takes cnnf's
# generic double path (not separable, not exact in float): cnnf and vips --precision float
IMK_box3="3x3:1,1,1,1,1,1,1,1,1"
awk 'BEGIN { srand(14); for (i = 0; i < 15; i++) { r = ""; for (j = 0; j < 15; j++)
	r = r (j ? " " : "") sprintf("%.6f", 2 * rand() - 1); print r } }' >"$TMP/rand15.rows"
cp "$TMP/rand15.rows" "$TMP/rand15.txt"
{ echo "15 15 1 0"; cat "$TMP/rand15.rows"; } >"$TMP/rand15.mat"
IMK_tent15="15x15:$(tr -s ' \n' ',,' <"$TMP/tent15.rows" | sed 's/,$//')"

# ------------------------------------------------------------------ the 32->32 layer and the peak

say "layer 32->32: building bench/layer.c and bench/peak.c"
# the flags the library was built with (sanitizers, -pthread, the image libraries)
# shellcheck disable=SC2016
printf 'bench-print-flags:\n\t@echo "$(CC)"\n\t@echo "$(CFLAGS) $(SAN_FLAGS)"\n\t@echo "$(ALL_LDFLAGS) $(LIBS)"\n' |
	make -s --no-print-directory -f Makefile -f - bench-print-flags >"$TMP/flags" 2>/dev/null
if [ "$(wc -l <"$TMP/flags")" -eq 3 ]; then
	BCC=$(sed -n 1p "$TMP/flags")
	BCFLAGS=$(sed -n 2p "$TMP/flags")
	BLIBS=$(sed -n 3p "$TMP/flags")
else
	BCC=${CC:-cc}
	BCFLAGS=-O2
	BLIBS="$(pkg-config --libs libpng libjpeg 2>/dev/null || echo -lpng -ljpeg) -lm"
fi
LAYER=
# shellcheck disable=SC2086
if $BCC $BCFLAGS -std=c11 -Isrc bench/layer.c src/libcnnf.a $BLIBS -lm -pthread -o "$TMP/layer" \
	2>"$TMP/err"; then
	LAYER=$TMP/layer
else
	say "bench/layer.c does not build:"
	sed 's/^/    /' "$TMP/err" >&2
fi

# putkv_best PREFIX FILE: putkv, when FILE's layer_seconds beats the one stored
putkv_best() {
	pb_new=$(awk '$1 == "layer_seconds" { print $2 }' "$2")
	pb_old=$(get "$1.layer_seconds")
	isnum "$pb_new" || return 0
	if ! isnum "$pb_old" || awk -v a="$pb_new" -v b="$pb_old" 'BEGIN { exit !(a + 0 < b + 0) }'; then
		putkv "$1" "$2"
	fi
}

# layer_round: $LAYER_RUNS calls of the layer in cnnf, then in PyTorch; the best is kept.
# There are three rounds, at the start, the middle and the end of the run, so that the
# layer is not timed in one slow moment of a shared machine only.
layer_round() {
	if [ -n "$LAYER" ]; then
		say "layer 32->32: cnnf, round $1"
		"$LAYER" $THREADS "$LAYER_RUNS" >"$TMP/kv" && putkv_best layer.cnnf "$TMP/kv"
	fi
	if [ "$HAVE_TORCH" = 1 ]; then
		say "layer 32->32: PyTorch, round $1"
		"$PY" "$TB" layer --runs "$LAYER_RUNS" >"$TMP/kv" && putkv_best layer.torch "$TMP/kv"
	fi
}
layer_round 1

# ------------------------------------------------------------------ filters

# filter KERNEL: every tool on the 4000x3000 image, then the exactness check
filter() {
	f_k=$1
	if [ "$f_k" = box3 ]; then
		f_cmd="box"
	else
		f_cmd="conv -k $TMP/$f_k.txt"
	fi
	if [ "$f_k" = box3 ]; then f_imk=$IMK_box3; else f_imk=$IMK_tent15; fi
	# rand15: no integer mask for vips, no sum to divide by for ImageMagick, no PyTorch
	f_rand=0
	[ "$f_k" = rand15 ] && f_rand=1
	# The tools take turns, one run each a round, so that a slow moment of the machine
	# does not fall on one tool's runs only.
	say "$f_k: cnnf, vips and ImageMagick in turn, $RUNS rounds"
	f_r=0
	while [ "$f_r" -lt "$RUNS" ]; do
		f_r=$((f_r + 1))
		# shellcheck disable=SC2086
		once "$f_k.cnnf8" "$CNNF" $f_cmd -t $THREADS "$BIG" "$TMP/o_cnnf.ppm"
		# shellcheck disable=SC2086
		once "$f_k.cnnff" "$CNNF" $f_cmd -t $THREADS "$BIG" "$TMP/o_cnnf.npy"
		if [ "$HAVE_VIPS" = 1 ] && [ "$f_rand" = 0 ]; then
			once "$f_k.vipsi" vips --vips-concurrency=$THREADS conv "$BIG" "$TMP/o_vi.ppm" \
				"$TMP/$f_k.mat" --precision integer
		fi
		if [ "$HAVE_VIPS" = 1 ]; then
			# --precision float gives float samples whatever the output format: .ppm is
			# written as PFM (4 bytes a sample, like cnnf's .npy), not cast to 8 bits.
			# Writing the vips format (.v) instead costs about the same.
			once "$f_k.vipsf" vips --vips-concurrency=$THREADS conv "$BIG" "$TMP/o_vf.ppm" \
				"$TMP/$f_k.mat" --precision float
		fi
		if [ -n "$IM" ] && [ "$f_rand" = 0 ]; then
			# convolve:scale=! divides by the kernel's sum (a fraction such as 1/9 is
			# not understood and would mean 1)
			once "$f_k.im" $IM -limit thread $THREADS "$BIG" -define 'convolve:scale=!' \
				-morphology Convolve "$f_imk" "$TMP/o_im.ppm"
		fi
	done
	if [ "$HAVE_TORCH" = 1 ] && [ "$f_rand" = 0 ]; then
		say "$f_k: PyTorch"
		"$PY" "$TB" filter "$BIG" "$f_k" --runs "$RUNS" --tmpdir "$TMP" >"$TMP/kv" &&
			putkv "$f_k.torch" "$TMP/kv"
	fi
	if [ "$HAVE_NUMPY" = 1 ] && [ "$f_rand" = 0 ]; then
		say "$f_k: exactness"
		set --
		[ -s "$TMP/o_cnnf.ppm" ] && set -- "$@" --cnnf "$TMP/o_cnnf.ppm"
		[ -s "$TMP/o_cnnf.npy" ] && set -- "$@" --cnnf-npy "$TMP/o_cnnf.npy"
		[ -s "$TMP/o_vi.ppm" ] && set -- "$@" --vips-int "$TMP/o_vi.ppm"
		[ -s "$TMP/o_vf.ppm" ] && set -- "$@" --vips-float "$TMP/o_vf.ppm"
		[ -s "$TMP/o_im.ppm" ] && set -- "$@" --im "$TMP/o_im.ppm"
		"$PY" "$TB" exact "$BIG" "$f_k" "$@" >"$TMP/kv" && putkv "$f_k.exact" "$TMP/kv"
	fi
	rm -f "$TMP"/o_*
}
filter box3
filter tent15
filter rand15

layer_round 2

# ------------------------------------------------------------------ segmentation

MODEL=$TMP/m.cnnf
if [ "$HAVE_TORCH" = 1 ]; then
	say "segment: the model (PyTorch, tools/torch2cnnf.py)"
	"$PY" "$TB" model "$MODEL" "$TMP/m.pt" "$TMP/g256.pgm" >"$TMP/kv" && putkv model "$TMP/kv"
fi
if [ ! -s "$MODEL" ]; then # no PyTorch: the same network with pseudo-random weights
	awk 'BEGIN { srand(1); print "cnnf-model 1"; print "input channels=1 height=18 width=18 mean=0.45 std=0.25"
		print "conv out=16 kernel=3"; print "relu"; print "maxpool kernel=2"
		print "conv out=32 kernel=3"; print "relu"; print "maxpool kernel=2"; print "fc out=2"
		print "weights text 5378"; for (i = 0; i < 5378; i++) printf "%.6f\n", (rand() - 0.5) / 4 }' >"$MODEL"
fi
SEG_PATCH_SIZES=256
[ "$FULL" = 1 ] && SEG_PATCH_SIZES="256 512"
for s in 256 512; do
	say "segment ${s}x$s: cnnf dense"
	bench "seg$s.dense" "$CNNF" segment --model "$MODEL" --mode dense --quiet -t $THREADS \
		"$TMP/g$s.png" "$TMP/ld$s.png"
	patch=
	for p in $SEG_PATCH_SIZES; do [ "$p" = "$s" ] && patch=1; done
	if [ -n "$patch" ]; then
		say "segment ${s}x$s: cnnf patch"
		bench "seg$s.patch" "$CNNF" segment --model "$MODEL" --mode patch --quiet -t $THREADS \
			"$TMP/g$s.png" "$TMP/lp$s.png"
	fi
	if [ "$HAVE_TORCH" = 1 ] && [ -s "$TMP/m.pt" ]; then
		say "segment ${s}x$s: PyTorch"
		set -- --runs "$RUNS"
		[ -s "$TMP/ld$s.png" ] && set -- "$@" --cnnf-dense "$TMP/ld$s.png"
		[ -n "$patch" ] && set -- "$@" --patch
		[ -n "$patch" ] && [ -s "$TMP/lp$s.png" ] && set -- "$@" --cnnf-patch "$TMP/lp$s.png"
		"$PY" "$TB" segment "$TMP/m.pt" "$TMP/g$s.pgm" "$@" >"$TMP/kv" && putkv "seg$s.torch" "$TMP/kv"
	fi
done

layer_round 3
if ${CC:-cc} -O2 bench/peak.c -o "$TMP/peak" -pthread 2>"$TMP/err"; then
	say "peak FLOP/s on $THREADS threads"
	"$TMP/peak" $THREADS >"$TMP/kv" && putkv peak "$TMP/kv"
else
	say "bench/peak.c does not build:"
	sed 's/^/    /' "$TMP/err" >&2
fi

# ------------------------------------------------------------------ the report

# fmt X: seconds as given (n/a stays); mb KB: megabytes; ratio A B: A/B
mb() { if isnum "$1" && [ "$1" != 0 ]; then awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; else echo n/a; fi; }
ratio() {
	if isnum "$1" && isnum "$2"; then
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
	else
		echo n/a
	fi
}
sec() { if isnum "$1"; then awk -v t="$1" 'BEGIN { printf (t < 1 ? "%.3f" : "%.2f"), t }'; else echo "$1"; fi; }
# row TASK CNNF_S CNNF_KB VIPSI_S VIPSF_S VIPS_KB IM_S TORCH_S
row() {
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" \
		"$(sec "$2")" "$(mb "$3")" "$(sec "$4")" "$(sec "$5")" "$6" "$(sec "$7")" "$(sec "$8")" \
		"$(ratio "$2" "$4")" "$(ratio "$2" "$5")" "$(ratio "$2" "$7")" "$(ratio "$2" "$8")"
}
vmb() { # vips MB: integer/float runs
	a=$(mb "$(get "$1.vipsi.kb")")
	b=$(mb "$(get "$1.vipsf.kb")")
	if [ "$2" = f ]; then echo "$b"; else echo "$a"; fi
}

echo "| task | cnnf s | cnnf MB | vips int s | vips float s | vips MB | ImageMagick s | PyTorch s | cnnf/vips-int | cnnf/vips-float | cnnf/IM | cnnf/torch |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for k in box3 tent15; do
	[ $k = box3 ] && name="box 3x3" || name="15x15 tent"
	row "$name, 4000x3000 RGB, PPM to PPM" "$(get $k.cnnf8.s)" "$(get $k.cnnf8.kb)" \
		"$(get $k.vipsi.s)" "$(get $k.vipsf.s)" "$(vmb $k i)" "$(get $k.im.s)" \
		"$(get $k.torch.compute_u8)"
	row "$name, 4000x3000 RGB, PPM to float" "$(get $k.cnnff.s)" "$(get $k.cnnff.kb)" \
		n/a "$(get $k.vipsf.s)" "$(vmb $k f)" n/a "$(get $k.torch.compute_f32)"
done
row "15x15 random (double path), 4000x3000 RGB, PPM to PPM" "$(get rand15.cnnf8.s)" \
	"$(get rand15.cnnf8.kb)" n/a "$(get rand15.vipsf.s)" "$(vmb rand15 f)" n/a n/a
row "15x15 random (double path), 4000x3000 RGB, PPM to float" "$(get rand15.cnnff.s)" \
	"$(get rand15.cnnff.kb)" n/a "$(get rand15.vipsf.s)" "$(vmb rand15 f)" n/a n/a
for s in 256 512; do
	row "segment dense ${s}x$s" "$(get seg$s.dense.s)" "$(get seg$s.dense.kb)" n/a n/a n/a n/a \
		"$(get seg$s.torch.dense_s)"
	if [ -s "$TMP/r/seg$s.patch.s" ]; then
		row "segment patch ${s}x$s" "$(get seg$s.patch.s)" "$(get seg$s.patch.kb)" n/a n/a n/a n/a \
			"$(get seg$s.torch.patch_s)"
	fi
done
row "conv layer 32->32 3x3 on 256x256 (one call)" "$(get layer.cnnf.layer_seconds)" n/a n/a n/a n/a n/a \
	"$(get layer.torch.layer_seconds)"

pct() { if isnum "$1" && isnum "$2"; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'; else echo n/a; fi; }
PEAK=$(get peak.peak_gflops)
echo
echo "Seconds are wall time, best of $RUNS (runs over $LONG s not repeated); MB is peak RSS."
echo "cnnf, vips and ImageMagick are whole processes; PyTorch is the computation alone, in-process"
echo "(filters: from the float CHW tensor; segmentation: normalising, padding, the network, argmax)."
echo "vips float writes float samples (PFM) in both rows; vips MB is of that row's precision."
echo
echo "Exactness against round-half-up of the exact integer sum / scale, reflect border"
echo "(vips and ImageMagick use other borders: their interior only):"
for k in box3 tent15; do
	[ $k = box3 ] && name="box 3x3" || name="15x15 tent"
	echo "- $name, 8-bit: cnnf $(get $k.exact.cnnf_diff) of $(get $k.exact.samples) samples differ;" \
		"vips integer $(get $k.exact.vips_int_diff) of $(get $k.exact.interior_samples)" \
		"(by at most $(get $k.exact.vips_int_diff_max)); ImageMagick $(get $k.exact.im_diff)" \
		"(by at most $(get $k.exact.im_diff_max))"
	echo "- $name, float: cnnf .npy largest error $(get $k.exact.cnnf_npy_maxerr)" \
		"($(get $k.exact.cnnf_npy_diff_f32) samples differ from float32(exact));" \
		"vips float $(get $k.exact.vips_float_maxerr) (PFM rows $(get $k.exact.vips_float_pfm_rows))"
done
echo
echo "PyTorch details:"
for k in box3 tent15; do
	echo "- $k conv2d (groups=3): computation $(sec "$(get $k.torch.compute_u8)") s to uint8," \
		"$(sec "$(get $k.torch.compute_f32)") s to float; with reading the PPM and writing PPM" \
		"$(sec "$(get $k.torch.io_u8)") s, .npy $(sec "$(get $k.torch.io_f32)") s"
done
echo "- the model: fraction of pixels labelled 1 on the 256x256 image: $(get model.label1_fraction)"
for s in 256 512; do
	line="- segment ${s}x$s: dense vs the net on single patches: largest logit difference"
	line="$line $(get seg$s.torch.dense_vs_patch_maxdiff); pixels where cnnf's labels differ from"
	line="$line PyTorch's: dense $(get seg$s.torch.cnnf_dense_diff) of $((s * s))"
	if [ -s "$TMP/r/seg$s.torch.patch_s" ]; then
		line="$line, patch $(get seg$s.torch.cnnf_patch_diff) (PyTorch's patch vs dense:"
		line="$line $(get seg$s.torch.patch_vs_dense_diff))"
	fi
	echo "$line; near ties (|logit difference| < 1e-4): $(get seg$s.torch.near_ties)"
done
echo "- layer 32->32: cnnf $(get layer.cnnf.layer_gflops) GFLOP/s = $(pct "$(get layer.cnnf.layer_gflops)" "$PEAK")" \
	"of peak; PyTorch $(get layer.torch.layer_gflops) GFLOP/s = $(pct "$(get layer.torch.layer_gflops)" "$PEAK")"
echo "- peak: $PEAK GFLOP/s single precision on $THREADS threads ($(get peak.peak_isa); AVX-512" \
	"$(get peak.gflops_avx512), AVX2 $(get peak.gflops_avx2), SSE $(get peak.gflops_sse))"

# target DESCRIPTION VALUE LIMIT: met when VALUE <= LIMIT (or >= for "min")
target() {
	if isnum "$2"; then
		st=$(awk -v v="$2" -v l="$3" -v m="${4:-max}" 'BEGIN {
			ok = (m == "min") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print ok ? "met" : "NOT met" }')
	else
		st="n/a"
	fi
	[ "${4:-max}" = min ] && op=">=" || op="<="
	echo "- $1: $2 (target $op $3): $st"
}
B8=$(get box3.cnnf8.s)
echo
echo "Targets:"
target "box 3x3 8-bit, cnnf/vips-int time" "$(ratio "$B8" "$(get box3.vipsi.s)")" 0.999
target "box 3x3 8-bit, cnnf samples off the exact result" "$(get box3.exact.cnnf_diff)" 0
target "15x15 8-bit, cnnf/vips-int time" "$(ratio "$(get tent15.cnnf8.s)" "$(get tent15.vipsi.s)")" 0.5
target "15x15 8-bit, cnnf/vips-float time" "$(ratio "$(get tent15.cnnf8.s)" "$(get tent15.vipsf.s)")" 0.25
target "15x15 float out, cnnf/vips-float time" "$(ratio "$(get tent15.cnnff.s)" "$(get tent15.vipsf.s)")" 0.25
target "box 3x3 8-bit, cnnf/vips-int peak memory" \
	"$(ratio "$(get box3.cnnf8.kb)" "$(get box3.vipsi.kb)")" 2
target "segment dense 512x512, cnnf process/PyTorch dense computation" \
	"$(ratio "$(get seg512.dense.s)" "$(get seg512.torch.dense_s)")" 1
target "segment patch 256x256, cnnf process/PyTorch batched patches" \
	"$(ratio "$(get seg256.patch.s)" "$(get seg256.torch.patch_s)")" 1
target "layer 32->32, fraction of peak FLOP/s" \
	"$(ratio "$(get layer.cnnf.layer_gflops)" "$PEAK")" 0.6 min

CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
[ -n "$CPU" ] || CPU=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
TPC=$(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p' | head -n 1)
echo
echo "Machine: $CPU, $(nproc) CPUs (${TPC:-?} threads per core), $(uname -sr)," \
	"$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)."
echo "Tools: cnnf $("$CNNF" --version 2>/dev/null | head -n 1 | sed 's/^cnnf //'); $VIPS_VERSION;" \
	"$IM_VERSION; $PY_VERSION."
echo "Bench time: $(($(date +%s) - START)) s."
