#!/bin/sh
# tests/cli/photo.sh: JPEG output's --subsampling and the EXIF Orientation of JPEG input
# (turned upright by default, --no-autorotate). The sampling factors are read back with
# ImageMagick's identify and EXIF fixtures are also made with exiftool where installed; the
# other checks build their EXIF bytes here. Run from the top of the tree; ends with
# "photo: N passed, N failed".
CNNF=${CNNF:-./cnnf}
case "$CNNF" in /*) ;; *) CNNF="$(pwd)/$CNNF" ;; esac
S="$(pwd)/samples"
mkdir -p "$(pwd)/tests/tmp"
T=$(mktemp -d "$(pwd)/tests/tmp/photo.XXXXXX")
. "$(dirname "$0")/lib.sh"
skipped=""
skip() { skipped="$skipped $1"; }

# ---- --subsampling ----
run identity --subsampling 411 "$S/astronaut.png" "$T/x.jpg"
expect_error "--subsampling 411" 2 "subsampling: '411' is not 444, 422 or 420"
expect_absent "--subsampling 411: no output" "$T/x.jpg"
run identity --subsampling "$S/astronaut.png" "$T/x.jpg"
expect_status "--subsampling without a value" 2
for q in 90 89; do
	for sub in "" 444 422 420; do
		run identity --quality $q ${sub:+--subsampling $sub} "$S/astronaut.png" "$T/s$q$sub.jpg"
		expect_status "quality $q subsampling '$sub'" 0
	done
done
# 4:2:0 keeps less chroma than 4:4:4: a smaller file at the same quality.
[ "$(wc -c <"$T/s90420.jpg")" -lt "$(wc -c <"$T/s90444.jpg")" ] && ok || bad "420 is not smaller than 444"
expect_same "quality 90 defaults to 444" "$T/s90.jpg" "$T/s90444.jpg"
expect_same "quality 89 defaults to 420" "$T/s89.jpg" "$T/s89420.jpg"
if command -v identify >/dev/null 2>&1; then
	sf() { identify -format '%[jpeg:sampling-factor]' "$1"; }
	expect_eq "444 factors" "$(sf "$T/s90444.jpg")" "1x1,1x1,1x1"
	expect_eq "422 factors" "$(sf "$T/s90422.jpg")" "2x1,1x1,1x1"
	expect_eq "420 factors" "$(sf "$T/s89420.jpg")" "2x2,1x1,1x1"
	run identity --subsampling 420 "$S/coins.png" "$T/gray.jpg"
	expect_eq "gray: one component" "$(sf "$T/gray.jpg")" "1x1"
else
	skip "identify"
fi
run segment --help
case "$out" in *--subsampling*) ok ;; *) bad "segment --help lacks --subsampling" ;; esac
run info --help
case "$out" in *--subsampling*) bad "info --help lists --subsampling" ;; *) ok ;; esac

# ---- EXIF Orientation ----
# with_orientation IN OUT N: IN (a JPEG) with an APP1 EXIF block after its SOI whose IFD0
# holds Orientation N (1..9): written here byte by byte, big-endian, from the EXIF layout.
with_orientation() {
	{
		head -c 2 "$1"
		printf '\377\341\000\042Exif\000\000MM\000*\000\000\000\010\000\001'
		printf '\001\022\000\003\000\000\000\001\000'
		printf "\\$(printf '%03o' "$3")"
		printf '\000\000\000\000\000\000'
		tail -c +3 "$1"
	} >"$2"
}
# size FILE: "W x H" as cnnf info says it.
size() { "$CNNF" info "$1" | sed -n 's/^[^,]*, \([0-9]* x [0-9]*\) (W x H).*/\1/p'; }
run identity --quality 100 "$S/chelsea.png" "$T/plain.jpg"
expect_status "plain JPEG" 0
with_orientation "$T/plain.jpg" "$T/o6.jpg" 6
expect_eq "plain size" "$(size "$T/plain.jpg")" "451 x 300"
run info "$T/o6.jpg"
expect_eq "info: orientation 6" "$out" \
	"$T/o6.jpg: JPEG image, 300 x 451 (W x H), 3 channels (RGB), 8-bit samples (0..255), EXIF orientation 6 (stored 451 x 300, turned upright)
$T/o6.jpg: metadata: EXIF (26 bytes)"
run identity "$T/o6.jpg" "$T/up.png"
expect_status "orientation 6 read" 0
expect_eq "orientation 6: W and H swapped" "$(size "$T/up.png")" "300 x 451"
run identity --no-autorotate "$T/o6.jpg" "$T/stored.png"
expect_eq "--no-autorotate keeps the stored size" "$(size "$T/stored.png")" "451 x 300"
"$CNNF" identity "$T/plain.jpg" "$T/plain.npy"
"$CNNF" identity "$T/stored.png" "$T/stored.npy"
expect_same "--no-autorotate keeps the stored pixels" "$T/plain.npy" "$T/stored.npy"
# Turning four times by 6 in a row gives back the stored image (6 then 6 is 3, and so on).
cp "$T/up.png" "$T/turn0.png"
for i in 1 2 3; do
	"$CNNF" identity --quality 100 --subsampling 444 "$T/turn$((i - 1)).png" "$T/t.jpg"
	with_orientation "$T/t.jpg" "$T/t6.jpg" 6
	"$CNNF" identity "$T/t6.jpg" "$T/turn$i.png"
done
expect_eq "orientation 6 four times: the stored size" "$(size "$T/turn3.png")" "451 x 300"
with_orientation "$T/plain.jpg" "$T/o3.jpg" 3
expect_eq "orientation 3 keeps the size" "$(size "$T/o3.jpg")" "451 x 300"
run info "$T/plain.jpg"
case "$out" in *EXIF*) bad "info: no EXIF, yet '$out'" ;; *) ok ;; esac
# A bad value: read as stored, with one warning naming the file.
with_orientation "$T/plain.jpg" "$T/o9.jpg" 9
run identity "$T/o9.jpg" "$T/o9.png"
expect_status "orientation 9: read" 0
expect_eq "orientation 9: one warning" "$err" "cnnf: $T/o9.jpg: warning: EXIF: Orientation is not in 1..8; orientation 1 is taken"
expect_eq "orientation 9: as stored" "$(size "$T/o9.png")" "451 x 300"
# segment's label map follows the upright image.
"$CNNF" identity --quality 100 "$S/coins.png" "$T/coins.jpg"
with_orientation "$T/coins.jpg" "$T/coins6.jpg" 6
run segment --quiet --model "$S/models/coins.cnnf" "$T/coins6.jpg" "$T/labels6.png"
expect_status "segment orientation 6" 0
expect_eq "segment: the label map is upright" "$(size "$T/labels6.png")" "303 x 384"
run segment --quiet --no-autorotate --model "$S/models/coins.cnnf" "$T/coins6.jpg" "$T/labels.png"
expect_eq "segment --no-autorotate: as stored" "$(size "$T/labels.png")" "384 x 303"
# exiftool's orientations read as the ones written here, where it is installed.
if command -v exiftool >/dev/null 2>&1; then
	for v in 2 5 6 7 8; do
		with_orientation "$T/plain.jpg" "$T/h$v.jpg" $v
		exiftool -q -Orientation#=$v -o "$T/e$v.jpg" "$T/plain.jpg"
		"$CNNF" identity "$T/h$v.jpg" "$T/h$v.npy"
		"$CNNF" identity "$T/e$v.jpg" "$T/e$v.npy"
		expect_same "exiftool orientation $v" "$T/h$v.npy" "$T/e$v.npy"
	done
else
	skip "exiftool"
fi
for c in identity box segment; do
	run $c --help
	case "$out" in *--no-autorotate*) ok ;; *) bad "$c --help lacks --no-autorotate" ;; esac
done
for c in train info; do
	run $c --help
	case "$out" in *--no-autorotate*) bad "$c --help lists --no-autorotate" ;; *) ok ;; esac
done
run train --no-autorotate x.list
expect_status "train takes no --no-autorotate" 2

rm -rf "$T"
[ -z "$skipped" ] || echo "photo: skipped (not installed):$skipped"
echo "photo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
