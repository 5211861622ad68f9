#!/bin/sh
# tools/make_meta_fixtures.sh: makes tests/data/meta/, the photos with metadata that
# tests/cli/meta.sh reads. The metadata is written by exiftool (an independent writer),
# the pixels by ImageMagick; the ICC profiles are small ones made here (header, 'desc'
# and 'cprt' tags: enough for exiftool, libpng and vips to take them). Needs python3,
# convert and exiftool; run from the top of the tree. The files are committed, so the
# tests need none of these tools.
set -eu
D=tests/data/meta
mkdir -p "$D"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 - "$T" <<'PY'
import struct, sys
def icc(space, desc):
    d = desc.encode() + b"\0"
    desc_tag = b"desc" + b"\0" * 4 + struct.pack(">I", len(d)) + d + b"\0" * 8 + b"\0" * 70
    desc_tag += b"\0" * (-len(desc_tag) % 4)
    cprt = b"text" + b"\0" * 4 + b"No copyright, test data for cnnf\0"
    cprt += b"\0" * (-len(cprt) % 4)
    tags = [(b"desc", desc_tag), (b"cprt", cprt)]
    off = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", off + len(data), len(body))
        data += body
    size = off + len(data)
    head = struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntr" + space + b"XYZ "
    head += b"\0" * 12 + b"acsp" + b"\0" * 28 + struct.pack(">iii", 0xF6D6, 0x10000, 0xD32D)
    head += b"\0" * (128 - len(head))
    return head + struct.pack(">I", len(tags)) + table + data
open(sys.argv[1] + "/rgb.icc", "wb").write(icc(b"RGB ", "cnnf test RGB"))
open(sys.argv[1] + "/gray.icc", "wb").write(icc(b"GRAY", "cnnf test gray"))
PY
# A photo stored sideways: 48 x 32 stored, 32 x 48 upright (EXIF and XMP say 6).
convert samples/astronaut.png -resize '48x32!' -quality 95 "$D/portrait.jpg"
exiftool -q -overwrite_original "-ICC_Profile<=$T/rgb.icc" -EXIF:Orientation#=6 \
	-EXIF:Artist='Ann Example' -EXIF:XResolution=300 -EXIF:YResolution=300 \
	-EXIF:ResolutionUnit=inches -JFIF:XResolution=300 -JFIF:YResolution=300 \
	-JFIF:ResolutionUnit=inches -XMP-dc:Title='Test portrait' -XMP-tiff:Orientation#=6 \
	-Comment='cnnf test comment' "$D/portrait.jpg"
# A PNG with every chunk cnnf keeps: iCCP, eXIf, tEXt, iTXt (XMP), pHYs (72 dpi).
convert samples/coins.png -resize '40x30!' -define png:exclude-chunks=date,time "$D/text.png"
exiftool -q -overwrite_original "-ICC_Profile<=$T/gray.icc" -PNG:Title='Coins' \
	-PNG:Comment='a PNG comment' -PNG:Author='Zoë' -EXIF:Artist='Bo Example' \
	-PNG:PixelsPerUnitX=2835 -PNG:PixelsPerUnitY=2835 -PNG:PixelUnits=meters \
	-XMP-dc:Description='coins on a table' "$D/text.png"
# Two pages: page 0 at 600 dpi with an RGB profile, page 1 at 100 dpi with none.
convert samples/astronaut.png -resize '20x16!' "$T/p0.tif"
convert samples/chelsea.png -resize '20x16!' "$T/p1.tif"
exiftool -q -overwrite_original "-ICC_Profile<=$T/rgb.icc" -XResolution=600 -YResolution=600 \
	-ResolutionUnit=inches -XMP-dc:Title='page zero' "$T/p0.tif"
exiftool -q -overwrite_original -XResolution=100 -YResolution=100 -ResolutionUnit=inches \
	"$T/p1.tif"
convert "$T/p0.tif" "$T/p1.tif" -compress none "$D/pages.tif"
ls -l "$D"
