/* io_exif.c: the Orientation tag of a JPEG's EXIF block, turning an image upright by it, and its metadata after. */
#include "io/io.h"

#include <stdint.h>
#include <string.h>

#include "base/error.h"

/*
 * cnnf needs one tag of EXIF, so IFD0 is walked here rather than through
 * libexif: a few dozen bounds-checked lines instead of another dependency.
 * The block is the APP1 payload: "Exif\0\0", then a TIFF header (byte order
 * "II" or "MM", 42, the offset of IFD0), then IFD0: a 16-bit entry count and
 * 12-byte entries (tag, type, count, value or offset). Offsets count from the
 * TIFF header. Every read below is checked against the block's end.
 */
#define EXIF_ID         "Exif\0\0"
#define EXIF_ID_LEN     6
#define TAG_ORIENTATION 0x0112
#define TYPE_SHORT      3

static unsigned get16(const unsigned char *p, int be)
{
	return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t get32(const unsigned char *p, int be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
	          : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int cnnf_exif_is_exif(const unsigned char *p, size_t len)
{
	return len >= EXIF_ID_LEN && memcmp(p, EXIF_ID, EXIF_ID_LEN) == 0;
}

static void put16(unsigned char *p, unsigned v, int be)
{
	p[be ? 0 : 1] = (unsigned char)(v >> 8);
	p[be ? 1 : 0] = (unsigned char)v;
}

/*
 * The offset of IFD0's Orientation entry in the TIFF block t (n bytes), its
 * byte order in *be; -1 when there is none, -2 when the block is malformed
 * (*why says how).
 */
static long find_orientation(const unsigned char *t, size_t n, int *be, const char **why)
{
	if (n < 8) {
		*why = "the TIFF header is truncated";
		return -2;
	}
	if (t[0] == 'I' && t[1] == 'I')
		*be = 0;
	else if (t[0] == 'M' && t[1] == 'M')
		*be = 1;
	else {
		*why = "the byte order is neither II nor MM";
		return -2;
	}
	if (get16(t + 2, *be) != 42) {
		*why = "the TIFF header lacks its 42";
		return -2;
	}
	uint32_t ifd = get32(t + 4, *be);
	if (ifd < 8 || ifd > n || n - ifd < 2) {
		*why = "IFD0 lies outside the block";
		return -2;
	}
	/* The count is 16 bits, so at most 65535 entries; all of them must be in the block. */
	size_t count = get16(t + ifd, *be);
	if (count > (n - ifd - 2) / 12) {
		*why = "IFD0 has more entries than the block holds";
		return -2;
	}
	for (size_t i = 0; i < count; i++) {
		size_t at = ifd + 2 + 12 * i;
		if (get16(t + at, *be) == TAG_ORIENTATION)
			return (long)at;
	}
	return -1;
}

int cnnf_exif_orientation(const unsigned char *p, size_t len, const char **why)
{
	*why = NULL;
	if (!cnnf_exif_is_exif(p, len)) {
		*why = "no Exif header";
		return 1;
	}
	const unsigned char *t = p + EXIF_ID_LEN;
	int be;
	long at = find_orientation(t, len - EXIF_ID_LEN, &be, why);
	if (at == -1)
		return 0;
	if (at < 0)
		return 1;
	const unsigned char *e = t + at;
	/* A SHORT sits in the first two bytes of the 4-byte value field. */
	unsigned v = get16(e + 8, be);
	if (get16(e + 2, be) != TYPE_SHORT || get32(e + 4, be) != 1) {
		*why = "Orientation is not one SHORT";
		return 1;
	}
	if (v < 1 || v > 8) {
		*why = "Orientation is not in 1..8";
		return 1;
	}
	return (int)v;
}

/*
 * XMP may say the orientation too (tiff:Orientation, as exiftool and Adobe
 * write it): the digit after `tiff:Orientation="`, `='` or `>` made 1.
 */
static void xmp_upright(char *x, size_t n)
{
	static const char tag[] = "tiff:Orientation";
	size_t tl = sizeof tag - 1;
	for (size_t i = 0; i + tl < n; i++) {
		if (memcmp(x + i, tag, tl) != 0)
			continue;
		size_t j = i + tl;
		if (j < n && x[j] == '=')
			j++;
		if (j < n && (x[j] == '"' || x[j] == '\'' || x[j] == '>'))
			j++;
		else
			continue;
		if (j + 1 < n && x[j] >= '1' && x[j] <= '8' &&
		    (x[j + 1] == '"' || x[j + 1] == '\'' || x[j + 1] == '<'))
			x[j] = '1';
	}
}

void cnnf_exif_meta_upright(cnnf_meta *meta, int orientation)
{
	if (!meta || orientation <= 1 || orientation > 8)
		return;
	int be;
	const char *why;
	long at = meta->exif ? find_orientation(meta->exif, meta->exif_len, &be, &why) : -1;
	if (at >= 0 && get16(meta->exif + at + 2, be) == TYPE_SHORT)
		put16(meta->exif + at + 8, 1, be);
	if (meta->xmp)
		xmp_upright(meta->xmp, meta->xmp_len);
	if (cnnf_exif_swaps(orientation))
		cnnf_meta_swap_axes(meta);
	if (meta->orientation > 1)
		meta->orientation = 1;
}

/*
 * Where each orientation's upright pixel (x, y) comes from in the stored
 * image (W x H): with swap, sx = y and sy = x (the upright image is H x W),
 * else sx = x, sy = y; then flip_x makes sx W-1-sx and flip_y sy H-1-sy.
 * The EXIF 2.3 spec's row 0 / column 0 of each value; exiftool's names.
 */
static const struct orient {
	unsigned char swap, flip_x, flip_y;
} orients[9] = {
    [1] = {0, 0, 0}, /* top-left: as stored */
    [2] = {0, 1, 0}, /* top-right: mirror horizontal */
    [3] = {0, 1, 1}, /* bottom-right: rotate 180 */
    [4] = {0, 0, 1}, /* bottom-left: mirror vertical */
    [5] = {1, 0, 0}, /* left-top: mirror horizontal and rotate 270 CW (transpose) */
    [6] = {1, 0, 1}, /* right-top: rotate 90 CW */
    [7] = {1, 1, 1}, /* right-bottom: mirror horizontal and rotate 90 CW (transverse) */
    [8] = {1, 1, 0}, /* left-bottom: rotate 270 CW */
};

int cnnf_exif_swaps(int orientation)
{
	return orientation >= 1 && orientation <= 8 && orients[orientation].swap;
}

cnnf_image *cnnf_exif_upright(const cnnf_image *src, int orientation, const char *name)
{
	const struct orient *o = &orients[orientation >= 1 && orientation <= 8 ? orientation : 1];
	int w = o->swap ? src->height : src->width, h = o->swap ? src->width : src->height;
	cnnf_image *dst = cnnf_image_new(w, h, src->channels, src->type);
	if (!dst) {
		cnnf_error("%s: out of memory for a %dx%d image", name, w, h);
		return NULL;
	}
	dst->maxval = src->maxval;
	dst->alpha = src->alpha;
	size_t px = (size_t)src->channels * (size_t)src->type;
	const unsigned char *in = src->data;
	unsigned char *out = dst->data;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int sx = o->swap ? y : x, sy = o->swap ? x : y;
			if (o->flip_x)
				sx = src->width - 1 - sx;
			if (o->flip_y)
				sy = src->height - 1 - sy;
			memcpy(out + ((size_t)y * w + x) * px,
			       in + ((size_t)sy * src->width + sx) * px, px);
		}
	return dst;
}
