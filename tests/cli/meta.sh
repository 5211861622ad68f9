#!/bin/sh
# tests/cli/meta.sh: metadata (ICC profile, EXIF, XMP, text, resolution) kept through every
# command that writes an image, --strip, the orientation made 1 when the pixels are turned,
# none in label maps and .npy. The inputs in tests/data/meta/ were written by exiftool
# (tools/make_meta_fixtures.sh); cnnf info reads the outputs back, and exiftool too where it
# is installed. Run from the top of the tree; ends with "meta: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
D="$(pwd)/tests/data/meta"
M="$(pwd)/samples/models"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/meta.XXXXXX")
. "$(dirname "$0")/lib.sh"
skipped=""

# meta FILE: the "metadata:" line cnnf info prints for FILE, without the name ("" for none).
meta() {
	"$CNNF" info "$1" 2>/dev/null | sed -n 's/^.*: metadata: //p'
}
# first FILE: cnnf info's first line without the name.
first() {
	"$CNNF" info "$1" 2>/dev/null | head -n 1 | sed 's/^[^:]*: //'
}
# has WHAT TEXT PATTERN: TEXT contains PATTERN.
has() {
	case "$2" in *"$3"*) ok ;; *) bad "$1: '$2' lacks '$3'" ;; esac
}
lacks() {
	case "$2" in *"$3"*) bad "$1: '$2' has '$3'" ;; *) ok ;; esac
}

J="$D/portrait.jpg"
P="$D/text.png"
want_j="ICC profile (RGB, 304 bytes), EXIF (114 bytes), XMP (3004 bytes), 1 text entry (Comment), 300 x 300 pixels per inch"
expect_eq "the fixture as cnnf reads it" "$(meta "$J")" "$want_j"

# ---- identity keeps everything its output format holds ----
for ext in png jpg tif; do
	run identity "$J" "$T/id.$ext"
	expect_status "identity to $ext" 0
done
expect_eq "JPEG to PNG" "$(meta "$T/id.png")" \
	"ICC profile 'ICC profile' (RGB, 304 bytes), EXIF (114 bytes), XMP (3004 bytes), 1 text entry (Comment), 300 x 300 pixels per inch"
expect_eq "JPEG to JPEG" "$(meta "$T/id.jpg")" "$want_j"
expect_eq "JPEG to TIFF (no EXIF or text in TIFF)" "$(meta "$T/id.tif")" \
	"ICC profile (RGB, 304 bytes), XMP (3004 bytes), 300 x 300 pixels per inch"
# The pixels were turned upright: the output says orientation 1, and is not turned again.
expect_eq "upright JPEG output" "$(first "$T/id.jpg")" \
	"JPEG image, 32 x 48 (W x H), 3 channels (RGB), 8-bit samples (0..255), EXIF orientation 1"
run identity --no-autorotate "$J" "$T/nr.jpg"
has "--no-autorotate keeps orientation 6" "$(first "$T/nr.jpg")" "EXIF orientation 6 (stored 48 x 32"
# Metadata does not touch the pixels.
run identity "$J" "$T/a.ppm"
run identity --strip "$J" "$T/b.ppm"
expect_same "pixels with and without --strip" "$T/a.ppm" "$T/b.ppm"
run identity "$T/id.png" "$T/c.ppm"
expect_same "pixels through the PNG with metadata" "$T/a.ppm" "$T/c.ppm"
# A PNG's texts all go to PNG; to JPEG only its comment has a place.
run identity "$P" "$T/t.png"
expect_eq "PNG to PNG" "$(meta "$T/t.png")" "$(meta "$P")"
run identity "$P" "$T/t.jpg"
expect_eq "PNG to JPEG" "$(meta "$T/t.jpg")" \
	"ICC profile (gray, 308 bytes), EXIF (102 bytes), XMP (456 bytes), 1 text entry (Comment), 72 x 72 pixels per inch"
# (JFIF counts whole dots per inch: PNG's 2835 per metre is 72.009.)
# Netpbm and .npy hold none; nothing is said about it.
run identity "$J" "$T/x.npy"
expect_eq "identity to .npy: no message" "$err" ""

# ---- --strip ----
for ext in png jpg tif; do
	run identity --strip "$J" "$T/s.$ext"
	expect_status "--strip to $ext" 0
	expect_eq "--strip to $ext: no metadata" "$(meta "$T/s.$ext")" ""
done
expect_eq "--strip: no EXIF orientation either" "$(first "$T/s.jpg")" \
	"JPEG image, 32 x 48 (W x H), 3 channels (RGB), 8-bit samples (0..255)"
run invert --help
has "invert --help lists --strip" "$out" "--strip"
run info --help
lacks "info --help does not" "$out" "--strip"

# ---- every image-writing command ----
for cmd in "box" "gaussian --sigma 1" "unsharp" "sharpen" "shift --dx 1" "invert" \
	"contrast --factor 1.5" "gamma --gamma 0.5" "relu" "conv --kernel-string 0,1,0;1,1,1;0,1,0"; do
	# shellcheck disable=SC2086
	run $cmd "$J" "$T/cmd.jpg"
	expect_status "$cmd" 0
	expect_eq "$cmd keeps the metadata" "$(meta "$T/cmd.jpg")" "$want_j"
done
# A stride-2 result has half the pixels per inch: the scene keeps its size.
run maxpool "$J" "$T/pool.jpg"
expect_eq "maxpool: half the resolution" "$(meta "$T/pool.jpg")" \
	"ICC profile (RGB, 304 bytes), EXIF (114 bytes), XMP (3004 bytes), 1 text entry (Comment), 150 x 150 pixels per inch"
run box --stride 3 "$J" "$T/s3.tif"
has "box --stride 3: a third" "$(meta "$T/s3.tif")" "100 x 100 pixels per inch"
run box --pad valid --size 5 "$J" "$T/valid.jpg"
has "--pad valid: the same resolution" "$(meta "$T/valid.jpg")" "300 x 300 pixels per inch"
# gray of a colour photo: its RGB profile does not describe gray samples.
run gray "$J" "$T/gray.jpg"
expect_eq "gray drops an RGB profile" "$(meta "$T/gray.jpg")" \
	"EXIF (114 bytes), XMP (3004 bytes), 1 text entry (Comment), 300 x 300 pixels per inch"
# In place: the file keeps its own metadata.
cp "$J" "$T/inplace.jpg"
run box "$T/inplace.jpg" "$T/inplace.jpg"
expect_status "box in place" 0
expect_eq "in place keeps it" "$(meta "$T/inplace.jpg")" "$want_j"

# ---- pages: each its own ----
run identity "$D/pages.tif" "$T/pages.tif"
expect_status "two pages" 0
expect_eq "page 0" "$(meta "$T/pages.tif")" "ICC profile (RGB, 304 bytes), XMP (2861 bytes), 600 x 600 pixels per inch"
run identity --page 1 "$T/pages.tif" "$T/p1.png"
expect_eq "page 1 of the output" "$(meta "$T/p1.png")" "100 x 100 pixels per inch"

# ---- segment and apply ----
if [ -f "$M/coins.cnnf" ]; then
	run segment -m "$M/coins.cnnf" --channels gray --probs "$T/probs.npy" --overlay "$T/ov.jpg" \
		"$J" "$T/labels.png"
	expect_status "segment" 0
	expect_eq "label map: no metadata" "$(meta "$T/labels.png")" ""
	expect_eq "overlay keeps it" "$(meta "$T/ov.jpg")" "$want_j"
	run segment -m "$M/coins.cnnf" --channels gray --strip --overlay "$T/ov2.jpg" "$J" "$T/l2.png"
	expect_eq "overlay --strip" "$(meta "$T/ov2.jpg")" ""
else
	bad "no $M/coins.cnnf"
fi
# A super-resolution model makes twice the pixels of the same scene.
run apply -m "$(pwd)/tests/data/onnx/superres-op13.onnx" "$J" "$T/up.tif"
expect_status "apply" 0
expect_eq "apply x2: twice the resolution" "$(meta "$T/up.tif")" \
	"ICC profile (RGB, 304 bytes), XMP (3004 bytes), 600 x 600 pixels per inch"

# ---- batches: each output its own input's ----
mkdir -p "$T/in"
cp "$J" "$T/in/a.jpg"
run identity --strip "$J" "$T/in/b.jpg"
run box --outdir "$T/out" --format png "$T/in/a.jpg" "$T/in/b.jpg"
expect_status "batch" 0
has "batch: a keeps its own" "$(meta "$T/out/a.png")" "EXIF (114 bytes)"
expect_eq "batch: b had none" "$(meta "$T/out/b.png")" ""

# ---- what other readers see (exiftool: the independent reader) ----
if command -v exiftool >/dev/null 2>&1; then
	tag() { exiftool -s3 "-$2" "$1"; }
	for f in "$T/id.png" "$T/id.jpg"; do
		expect_eq "$f: EXIF Orientation" "$(tag "$f" EXIF:Orientation)" "Horizontal (normal)"
		expect_eq "$f: XMP Orientation" "$(tag "$f" XMP-tiff:Orientation)" "Horizontal (normal)"
		expect_eq "$f: Artist" "$(tag "$f" Artist)" "Ann Example"
		expect_eq "$f: XMP title" "$(tag "$f" XMP-dc:Title)" "Test portrait"
		expect_eq "$f: ICC description" "$(tag "$f" ProfileDescription)" "cnnf test RGB"
		expect_eq "$f: comment" "$(tag "$f" Comment)" "cnnf test comment"
	done
	expect_eq "PNG pHYs" "$(tag "$T/id.png" PixelsPerUnitX)" "11811"
	expect_eq "JPEG density" "$(tag "$T/id.jpg" JFIF:XResolution)" "300"
	expect_eq "TIFF resolution" "$(tag "$T/id.tif" XResolution)" "300"
	expect_eq "TIFF ICC" "$(tag "$T/id.tif" ProfileDescription)" "cnnf test RGB"
	expect_eq "--no-autorotate: EXIF 6 kept" "$(tag "$T/nr.jpg" EXIF:Orientation)" "Rotate 90 CW"
	expect_eq "PNG texts: UTF-8 author" "$(tag "$T/t.png" PNG:Author)" "Zoë"
	expect_eq "PNG texts: title" "$(tag "$T/t.png" PNG:Title)" "Coins"
	expect_eq "PNG to JPEG: gray profile" "$(tag "$T/t.jpg" ProfileDescription)" "cnnf test gray"
	expect_eq "PNG eXIf to JPEG" "$(tag "$T/t.jpg" Artist)" "Bo Example"
	expect_eq "label map: no EXIF" "$(tag "$T/labels.png" Artist)" ""
	expect_eq "pool: pHYs" "$(tag "$T/pool.jpg" JFIF:XResolution)" "150"
	# exiftool finds nothing wrong in what cnnf wrote.
	for f in "$T/id.png" "$T/id.jpg" "$T/id.tif" "$T/t.png" "$T/pages.tif"; do
		expect_eq "$f: exiftool warnings" "$(exiftool -s3 -Warning "$f")" ""
	done
else
	skipped="$skipped exiftool"
fi
if command -v vipsheader >/dev/null 2>&1; then
	expect_eq "vips reads the ICC profile" "$(vipsheader -f icc-profile-data "$T/id.png" 2>/dev/null | head -c 20 | wc -c)" "20"
	expect_eq "vips: orientation" "$(vipsheader -f orientation "$T/id.jpg" 2>/dev/null)" "1"
else
	skipped="$skipped vips"
fi

rm -rf "$T"
[ -z "$skipped" ] || echo "meta: skipped:$skipped"
echo "meta: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
