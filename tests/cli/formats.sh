#!/bin/sh
# tests/cli/formats.sh: TIFF (pages, types, layouts), PBM and PAM input, the Netpbm kinds as
# outputs, --format names, '-' as output. Files made by libtiff's tiffcp and read by Pillow
# are used where they are installed (libtiff-tools, python3-pil); those checks say
# "skipped" elsewhere. Run from the top of the tree; ends with "formats: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
C="$(pwd)/tests/fuzz/corpus/tiff"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/formats.XXXXXX")
. "$(dirname "$0")/lib.sh"
skipped=""
skip() { skipped="$skipped $1"; }
PY=${PYTHON:-/usr/bin/python3}
have_pil() { [ -x "$PY" ] && "$PY" -c 'import PIL, numpy' 2>/dev/null; }

# ---- TIFF round trips: 8 and 16-bit, float32, gray to RGBA ----
# cnnf's own .npy of the input and of the TIFF it wrote must be the same bytes.
for src in "$S/coins.png" "$S/astronaut.png"; do
	b=$(basename "$src" .png)
	run identity "$src" "$T/$b.tif"
	expect_status "$b to TIFF" 0
	run identity "$src" "$T/$b.a.npy"
	run identity "$T/$b.tif" "$T/$b.b.npy"
	expect_same "$b: TIFF keeps every sample" "$T/$b.a.npy" "$T/$b.b.npy"
done
# 16-bit: a 16-bit PGM made here, through TIFF and back to PGM, byte for byte.
{
	printf 'P5\n3 2\n65535\n'
	printf '\000\000\000\001\177\377\200\000\377\376\377\377'
} >"$T/g16.pgm"
run identity "$T/g16.pgm" "$T/g16.tif"
expect_status "16-bit to TIFF" 0
run identity "$T/g16.tif" "$T/g16.back.pgm"
expect_same "16-bit TIFF round trip" "$T/g16.pgm" "$T/g16.back.pgm"
# float32: a .npy of activations (negative, fractional, huge) through TIFF and back.
run conv --kernel-string '1 -2.5; 0.125 3' "$S/coins.png" "$T/f.npy"
run identity "$T/f.npy" "$T/f.tif"
expect_status "float to TIFF" 0
run identity "$T/f.tif" "$T/f.back.npy"
expect_same "float32 TIFF round trip" "$T/f.npy" "$T/f.back.npy"
# Five channels (a filter bank) fit a TIFF and a PAM (rounded to 8 bits as in any image format).
run conv --kernel-string '1;;2;;3;;4;;5' "$S/coins.png" "$T/bank.tif"
expect_status "5-channel filter bank to TIFF" 0
run conv --kernel-string '1;;2;;3;;4;;5' "$S/coins.png" "$T/bank.pam"
run identity "$T/bank.pam" "$T/bank.npy"
run identity "$T/bank.tif" "$T/bank.back.npy"
expect_same "5-channel TIFF and PAM agree" "$T/bank.npy" "$T/bank.back.npy"

# ---- TIFF layouts libtiff writes: strips, tiles, planes, LZW, Deflate, none ----
if command -v tiffcp >/dev/null 2>&1; then
	run identity "$S/astronaut.png" "$T/ref.npy"
	for v in "-c none" "-c lzw" "-c lzw:2" "-c zip" "-c zip:2" "-c packbits" "-t -w 64 -l 32" \
		"-p separate" "-t -p separate -c lzw" "-r 7" "-8"; do
		# shellcheck disable=SC2086
		tiffcp $v "$T/astronaut.tif" "$T/v.tif" 2>/dev/null
		run identity "$T/v.tif" "$T/v.npy"
		expect_status "tiffcp $v: read" 0
		expect_same "tiffcp $v: every sample" "$T/ref.npy" "$T/v.npy"
	done
	run identity "$T/f.tif" "$T/f.ref.npy"
	for v in "-c zip:3" "-c lzw:3" "-t -w 16 -l 16" "-c none"; do
		# shellcheck disable=SC2086
		tiffcp $v "$T/f.tif" "$T/fv.tif" 2>/dev/null
		run identity "$T/fv.tif" "$T/fv.npy"
		expect_same "float tiffcp $v: every sample" "$T/f.ref.npy" "$T/fv.npy"
	done
	run identity "$T/g16.tif" "$T/g16.ref.npy"
	for v in "-c lzw:2" "-c zip:2" "-c none" "-t -w 16 -l 16" "-B" "-8"; do
		# shellcheck disable=SC2086
		tiffcp $v "$T/g16.tif" "$T/gv.tif" 2>/dev/null
		run identity "$T/gv.tif" "$T/gv.npy"
		expect_same "16-bit tiffcp $v: every sample" "$T/g16.ref.npy" "$T/gv.npy"
		run identity "$T/gv.tif" "$T/gv.pgm"
		expect_same "16-bit tiffcp $v: back to the PGM" "$T/g16.pgm" "$T/gv.pgm"
	done
	# Pages: tiffcp joins files; filter commands keep them all, --page picks one.
	run identity "$S/camera.png" "$T/p1.tif"
	run identity "$S/horse.png" "$T/p2.tif"
	tiffcp "$T/coins.tif" "$T/p1.tif" "$T/p2.tif" "$T/stack.tif"
	run box "$T/stack.tif" "$T/stack.box.tif"
	expect_status "box of a 3-page TIFF" 0
	expect_eq "3 pages out" "$(tiffinfo "$T/stack.box.tif" 2>/dev/null | grep -c '^TIFF Directory')" 3
	i=0
	for src in coins.png camera.png horse.png; do
		run box "$S/$src" "$T/want.$i.png"
		run identity "$T/want.$i.png" "$T/want.$i.npy"
		run identity --page "$i" "$T/stack.box.tif" "$T/got.$i.npy"
		expect_same "page $i of the stack is box of $src" "$T/want.$i.npy" "$T/got.$i.npy"
		run box --page "$i" "$T/stack.tif" "$T/one.$i.png"
		expect_same "--page $i picks $src" "$T/want.$i.png" "$T/one.$i.png"
		i=$((i + 1))
	done
	# Through pipes: a multi-page TIFF on stdin, a multi-page TIFF on stdout.
	"$CNNF" identity - - <"$T/stack.tif" >"$T/piped.tif"
	expect_eq "3 pages through a pipe" "$(tiffinfo "$T/piped.tif" 2>/dev/null | grep -c '^TIFF Directory')" 3
	run identity --page 2 "$T/piped.tif" "$T/piped.2.npy"
	run identity "$S/horse.png" "$T/horse.npy"
	expect_same "page 2 through a pipe" "$T/horse.npy" "$T/piped.2.npy"
	# One image asked for from several: page 0, and a warning that says so.
	run identity "$T/stack.tif" "$T/first.png"
	expect_status "a 3-page TIFF to PNG" 0
	expect_eq "warning for the pages left" "$err" \
		"cnnf: $T/stack.tif: warning: 3 pages, only page 0 is read (--page N picks one; a filter command writes them all to a .tif)"
	run identity --page 3 "$T/stack.tif" "$T/x.png"
	expect_error "--page past the last" 1 "stack.tif: there is no page 3: the file has 3 (counted from 0)"
	expect_absent "--page past the last writes nothing" "$T/x.png"
	run invert --page 1 "$T/stack.tif" "$T/inv1.png"
	run invert "$S/camera.png" "$T/inv1.want.png"
	expect_same "--page with a point command" "$T/inv1.want.png" "$T/inv1.png"
	# A page that cannot be read fails the whole output: nothing is written.
	head -c $(($(wc -c <"$T/stack.tif") * 2 / 3)) "$T/stack.tif" >"$T/cut.tif"
	run box "$T/cut.tif" "$T/cut.box.tif"
	expect_error "cut stack" 1 "cut.tif: "
	expect_absent "cut stack writes nothing" "$T/cut.box.tif"
else
	skip "tiffcp"
fi
run --page 1 identity "$S/coins.png" "$T/x.png"
expect_error "--page before the command" 2 "a command must come first"
run identity --page -1 "$S/coins.png" "$T/x.png"
expect_error "negative --page" 2 "--page: '-1' is not an integer"
run identity --page 1 "$S/coins.png" "$T/x.png"
expect_error "--page 1 of a PNG" 1 "there is no page 1: the file has 1"

# ---- An independent reader: Pillow reads what cnnf writes, and cnnf what Pillow writes ----
if have_pil; then
	run identity "$T/g16.pgm" "$T/g16.npy"
	run identity "$T/f.tif" "$T/f32.npy"
	res=$("$PY" - "$T" <<'EOF' 2>&1
import sys, numpy as np
from PIL import Image
t = sys.argv[1]
g = np.array(Image.open(t + "/g16.tif"))
want = np.load(t + "/g16.npy")[:, :, 0]
f = np.array(Image.open(t + "/f.tif"))
fw = np.load(t + "/f32.npy")[:, :, 0]
c = np.array(Image.open(t + "/astronaut.tif"))
print(g.dtype, np.array_equal(g, want), f.dtype, np.array_equal(f, fw), c.shape)
# Pillow's own files for cnnf to read: 16-bit, float, RGBA, LZW.
rng = np.random.default_rng(3)
a16 = rng.integers(0, 65536, (13, 17), dtype=np.uint16)
Image.fromarray(a16).save(t + "/pil16.tif", compression="tiff_lzw")
np.save(t + "/pil16.npy", a16.astype(np.float32)[:, :, None])
af = rng.standard_normal((13, 17)).astype(np.float32)
Image.fromarray(af).save(t + "/pilf.tif", compression="tiff_adobe_deflate")
np.save(t + "/pilf.npy", af[:, :, None])
a4 = rng.integers(0, 256, (13, 17, 4), dtype=np.uint8)
Image.fromarray(a4, "RGBA").save(t + "/pil4.tif")
np.save(t + "/pil4.npy", a4.astype(np.float32))
EOF
)
	expect_eq "Pillow reads cnnf's TIFFs" "$res" "uint16 True float32 True (512, 512, 3)"
	for n in pil16 pilf pil4; do
		run identity "$T/$n.tif" "$T/$n.cnnf.npy"
		expect_status "$n.tif read" 0
		# Pillow and cnnf write the same .npy header for a float32 (H, W, C) array.
		expect_same "cnnf reads Pillow's $n.tif" "$T/$n.npy" "$T/$n.cnnf.npy"
	done
else
	skip "Pillow"
fi

# ---- libtiff's warnings: once per file, after the work; none when the read fails ----
le16() { printf "$(printf '\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $(($1 >> 16)); }
# warn_tiff STRIP_BYTES: a 4x2 gray page with two private tags libtiff does not know.
warn_tiff() {
	strip=$1
	printf 'II*\000'
	le32 8
	le16 10
	for e in "256 4 4" "257 4 2" "258 3 8" "259 3 1" "262 3 1" "273 4 134" "278 4 2" \
		"279 4 8" "65000 3 7" "65001 3 7"; do
		set -- $e
		le16 "$1"
		le16 "$2"
		le32 1
		le32 "$3"
	done
	le32 0
	printf '\001\002\003\004\005\006\007\010' | head -c "$strip"
}
warn_tiff 8 >"$T/warn.tif"
run identity "$T/warn.tif" "$T/warn.pgm"
expect_status "unknown tags: read" 0
expect_eq "unknown tags: one warning line" "$err" \
	"cnnf: $T/warn.tif: warning: Unknown field with tag 65000 (0xfde8) encountered (and 1 more)"
expect_eq "unknown tags: the samples" "$(values "$T/warn.pgm")" "1 2 3 4 5 6 7 8"
warn_tiff 5 >"$T/warn-cut.tif"
run identity "$T/warn-cut.tif" "$T/warn-cut.pgm"
expect_error "unknown tags and a cut strip: the error alone" 1 "warn-cut.tif: Read error"
expect_absent "unknown tags and a cut strip: no output" "$T/warn-cut.pgm"

# ---- PBM and PAM input ----
printf 'P1\n3 2\n1 0 1\n010\n' >"$T/b.pbm"
run identity "$T/b.pbm" "$T/b.pgm"
expect_status "P1 read" 0
expect_eq "P1: 1 is black" "$(values "$T/b.pgm")" "0 255 0 255 0 255"
printf 'P4\n3 2\n\240\100' >"$T/b4.pbm"
run identity "$T/b4.pbm" "$T/b4.pgm"
expect_same "P4 reads as P1" "$T/b.pgm" "$T/b4.pgm"
# What pngtopnm writes for a 1-bit PNG is a PBM; box filters it on 0..255.
run box --size 3 --border replicate "$T/b4.pbm" "$T/b4box.pgm"
expect_status "filtering a PBM" 0
printf 'P7\nWIDTH 2\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n\001\002\003\004\005\006\007\010' >"$T/a.pam"
run identity "$T/a.pam" "$T/a.png"
expect_status "PAM with alpha to PNG" 0
run identity "$T/a.png" "$T/a.back.pam"
expect_same "PAM round trip through PNG" "$T/a.pam" "$T/a.back.pam"

# ---- Netpbm kinds as outputs ----
printf 'P6\n2 1\n255\n\377\000\000\144\144\144' >"$T/c.ppm"
run identity "$T/c.ppm" "$T/c.pgm"
expect_status "colour to .pgm" 0
# ppmtopgm: 0.2989 * 255 + 0.5 = 76.7 -> 76; gray stays.
expect_eq ".pgm of colour is luma" "$(head -c 2 "$T/c.pgm")$(values "$T/c.pgm")" "P576 100"
run identity "$T/c.pgm" "$T/c3.ppm"
expect_eq ".ppm of gray" "$(head -c 2 "$T/c3.ppm")$(values "$T/c3.ppm")" "P676 76 76 100 100 100"
run identity "$T/c.pgm" "$T/c.pbm"
expect_eq ".pbm" "$(od -An -tu1 "$T/c.pbm" | tr -s ' \n' ' ')" " 80 52 10 50 32 49 10 192 "
run identity "$S/astronaut.png" "$T/astro.pam"
run identity "$T/astro.pam" "$T/astro.back.npy"
run identity "$S/astronaut.png" "$T/astro.npy"
expect_same "PAM keeps every sample" "$T/astro.npy" "$T/astro.back.npy"
run identity "$T/a.pam" "$T/a.ppm"
expect_error "RGBA to .ppm" 1 "PPM has no alpha channel; composite the image over a background with --flatten"
run identity --flatten=black "$T/a.pam" "$T/a.ppm"
expect_status "RGBA to .ppm with --flatten" 0
expect_eq "RGBA to .ppm is RGB" "$(head -c 2 "$T/a.ppm")" "P6"

# ---- --format takes every name an extension takes ----
for f in png jpg jpeg pnm pgm ppm pbm pam tif tiff npy; do
	run identity --format "$f" "$S/coins.png" "$T/byformat"
	expect_status "--format $f" 0
	run identity "$S/coins.png" "$T/byext.$f"
	expect_same "--format $f is the .$f extension" "$T/byformat" "$T/byext.$f"
done
run identity --format gif "$S/coins.png" "$T/x.png"
expect_error "--format gif" 2 "--format: 'gif' is not one of png, jpg, jpeg, pnm, pgm, ppm, pbm, pam, tif, tiff, npy"

# ---- '-' as output: the input's format, unless --format or a name says ----
"$CNNF" identity "$T/g16.pgm" - >"$T/dash.out"
expect_same "PGM in, PGM out" "$T/g16.pgm" "$T/dash.out"
"$CNNF" identity "$T/g16.tif" - >"$T/dash.tif"
expect_eq "TIFF in, TIFF out" "$(head -c 2 "$T/dash.tif")" "II"
"$CNNF" identity "$T/f.npy" - >"$T/dash.npy"
expect_same "NPY in, NPY out" "$T/f.npy" "$T/dash.npy"
"$CNNF" identity "$T/b.pbm" - >"$T/dash.pbm"
expect_same "PBM in, PBM out" "$T/b4.pbm" "$T/dash.pbm"
"$CNNF" identity - - <"$T/c.ppm" >"$T/dash.ppm"
expect_same "stdin PPM to stdout PPM" "$T/c.ppm" "$T/dash.ppm"
"$CNNF" identity --format png "$T/g16.pgm" - >"$T/dash.png"
expect_eq "--format png wins" "$(head -c 4 "$T/dash.png" | tail -c 3)" "PNG"
# Not to a terminal: script(1) gives cnnf one.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
	script -qec "$CNNF identity $S/coins.png -; echo status=\$?" /dev/null >"$T/tty.txt" 2>&1
	expect_eq "terminal: exit 2" "$(grep -c 'status=2' "$T/tty.txt")" 1
	expect_eq "terminal: the message" \
		"$(grep -c 'cnnf: stdout is a terminal: image data is not written to it' "$T/tty.txt")" 1
	expect_eq "terminal: no image data" "$(grep -c PNG "$T/tty.txt")" 0
else
	skip "script"
fi

rm -rf "$T"
[ -z "$skipped" ] || echo "formats: skipped (not installed):$skipped"
echo "formats: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
