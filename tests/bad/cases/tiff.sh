# tests/bad/cases/tiff.sh: TIFF files that are cut, that lie about their size or that loop,
# made with printf (sourced by tests/bad/run.sh): one line naming the file, exit 1, no output.

# tiff_gray W H BPS DATA_AT DATA_LEN [NEXT]: a little-endian TIFF header and one IFD of a
# one-strip gray page (uncompressed), whose strip is DATA_LEN bytes at DATA_AT and whose
# next-IFD link is NEXT (default 0, none).
tiff_gray() {
	printf 'II*\000'
	le32 8
	le16 8
	le16 256; le16 4; le32 1; le32 "$1"
	le16 257; le16 4; le32 1; le32 "$2"
	le16 258; le16 3; le32 1; le16 "$3"; le16 0
	le16 259; le16 3; le32 1; le16 1; le16 0
	le16 262; le16 3; le32 1; le16 1; le16 0
	le16 273; le16 4; le32 1; le32 "$4"
	le16 278; le16 4; le32 1; le32 "$2"
	le16 279; le16 4; le32 1; le32 "$5"
	le32 "${6:-0}"
}

printf 'II*\000' >"$I/hdr.tif"
image "tiff: header only" "$I/hdr.tif"
{ printf 'II*\000'; le32 1000000; } >"$I/far.tif"
image "tiff: first directory past the end" "$I/far.tif"
{ printf 'MM\000*'; be32 8; bytes 0; } >"$I/short-ifd.tif"
image "tiff: directory cut in its count" "$I/short-ifd.tif"
# A 4x2 page whose strip of 8 bytes is 2 bytes short.
{ tiff_gray 4 2 8 110 8; printf '\001\002\003\004\005\006'; } >"$I/short-strip.tif"
image "tiff: strip cut short" "$I/short-strip.tif"
# A 16384 x 16384 page on 110 bytes: refused when its strip is read, never as zeros.
tiff_gray 16384 16384 8 110 268435456 >"$I/bomb.tif"
image "tiff: 16384x16384 header on 110 bytes" "$I/bomb.tif"
tiff_gray 100000 100000 8 110 8 >"$I/huge.tif"
image "tiff: 10^10 pixels, past --max-pixels" "$I/huge.tif"
# The second of two pages links past the end: counting pages fails, not page 2 quietly lost.
{ tiff_gray 4 2 8 110 8 9999; printf '\001\002\003\004\005\006\007\010'; } >"$I/lost.tif"
image "tiff: a page link past the end" "$I/lost.tif"
expect "tiff: a page link past the end, filtered to .tif" 1 "$I/lost.tif" tif box "$I/lost.tif" OUT
# 12-bit samples and signed samples are refused by name.
{ tiff_gray 4 2 12 110 12; printf '\001\002\003\004\005\006\007\010\011\012\013\014'; } >"$I/b12.tif"
image "tiff: 12-bit samples" "$I/b12.tif"
# A real file (Pillow's three pages) cut at every third of its size.
size=$(wc -c <"$(pwd)/tests/fuzz/corpus/tiff/pages3.tif")
for part in 1 2; do
	head -c $((size * part / 3)) "$(pwd)/tests/fuzz/corpus/tiff/pages3.tif" >"$I/pages-$part.tif"
	image "tiff: three pages cut at $part/3" "$I/pages-$part.tif"
	expect "tiff: three pages cut at $part/3, filtered to .tif" 1 "$I/pages-$part.tif" tif \
		box "$I/pages-$part.tif" OUT
done
