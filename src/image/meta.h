/* meta.h: what a file says about its image beyond the pixels (ICC profile, EXIF, XMP, text, resolution). */
#ifndef CNNF_META_H
#define CNNF_META_H

#include <stddef.h>

/*
 * Contract
 * - Readers fill a cnnf_meta from the file and writers put back what their
 *   format can hold, so that a photo filtered by cnnf keeps its colour
 *   profile, camera data and resolution, as vips and ImageMagick keep them.
 *   This module only holds the data; io/ knows the formats.
 * - The blocks are kept as the file had them (bytes, not parsed), except
 *   that a reader which turns the pixels upright also makes the EXIF and XMP
 *   orientation 1 and swaps the resolution's axes when it swaps the image's,
 *   so that the metadata always describes the pixels as handed over.
 * - exif starts at the TIFF header ("II*\0" or "MM\0*"), as PNG's eXIf chunk
 *   holds it; JPEG's APP1 "Exif\0\0" prefix is not part of it.
 * - Resolution is in pixels per metre (PNG's unit). A command whose output
 *   samples the scene at another step (a pool or filter of stride 2, a model
 *   that upsamples) scales it (cnnf_meta_scale_resolution()), so that the
 *   output keeps the physical size of the scene.
 * - A cnnf_meta owns its blocks. A zeroed struct is empty; cnnf_meta_clear()
 *   frees the blocks and leaves it empty.
 */

/* How res_x and res_y are meant. */
typedef enum cnnf_res_unit {
	CNNF_RES_NONE = 0,   /* no resolution */
	CNNF_RES_METRE = 1,  /* pixels per metre */
	CNNF_RES_ASPECT = 2  /* only the ratio of the two counts (PNG unit 0, JFIF unit 0) */
} cnnf_res_unit;

typedef struct cnnf_meta_text {
	char *key;       /* 1..79 bytes, as PNG's text chunks allow */
	char *value;     /* NUL-terminated; Latin-1, or UTF-8 when utf8 */
	int utf8;        /* 1: from (and written as) PNG's iTXt */
	int compressed;  /* 1: from zTXt or a compressed iTXt, and written compressed */
} cnnf_meta_text;

typedef struct cnnf_meta {
	unsigned char *icc;         /* ICC profile, icc_len bytes; NULL for none */
	size_t icc_len;
	char icc_name[80];          /* PNG's profile name ("" when the format has none) */
	unsigned char *exif;        /* EXIF from its TIFF header on, exif_len bytes */
	size_t exif_len;
	char *xmp;                  /* XMP packet, xmp_len bytes (not NUL-terminated) */
	size_t xmp_len;
	cnnf_meta_text *text;       /* text entries, in file order */
	int text_count;
	cnnf_res_unit res_unit;
	double res_x, res_y;        /* pixels per metre, or the aspect (res_unit) */
	int orientation;            /* a TIFF's own Orientation tag as the pixels are, 0: none */
} cnnf_meta;

/*
 * The largest block cnnf keeps: an ICC profile, EXIF or XMP bigger than this
 * is dropped on reading (the reader warns); no real one comes near it.
 */
#define CNNF_META_MAX_BLOCK (16u << 20)
/* At most this many text entries are kept; libpng keeps at most 1000 chunks too. */
#define CNNF_META_MAX_TEXT 1000

void cnnf_meta_clear(cnnf_meta *m);

/* Whether m holds nothing (NULL counts as empty). */
int cnnf_meta_empty(const cnnf_meta *m);

/*
 * Set a block to a copy of len bytes at p (replacing what was there). name is
 * the ICC profile's name (NULL or "" for none; cut at 79 bytes). Return 0, or
 * -1 when len is 0 or over CNNF_META_MAX_BLOCK or memory runs out (no message:
 * the caller says which file).
 */
int cnnf_meta_set_icc(cnnf_meta *m, const char *name, const void *p, size_t len);
int cnnf_meta_set_exif(cnnf_meta *m, const void *p, size_t len);
int cnnf_meta_set_xmp(cnnf_meta *m, const void *p, size_t len);

/*
 * Add a text entry (key 1..79 bytes; value len bytes, cut at a NUL). Returns
 * 0, or -1 when the key is not 1..79 bytes, there are CNNF_META_MAX_TEXT
 * entries already or memory runs out.
 */
int cnnf_meta_add_text(cnnf_meta *m, const char *key, const char *value, size_t len, int utf8,
                       int compressed);

/* *dst (cleared first) a deep copy of src. Returns 0 or -1 (out of memory; dst is then empty). */
int cnnf_meta_copy(cnnf_meta *dst, const cnnf_meta *src);

/*
 * The colour space an ICC profile is for, from its header: 1 for gray
 * ('GRAY'), 3 for RGB ('RGB '), 0 for anything else or a profile too short or
 * not marked 'acsp'. Writers put a profile only into an image of its colour
 * space: `cnnf gray` of a photo drops its RGB profile.
 */
int cnnf_meta_icc_channels(const unsigned char *icc, size_t len);

/*
 * m's resolution in *x and *y; returns its unit (NONE when m is NULL or has
 * none or a count is not a positive finite number; then *x and *y are 0).
 */
cnnf_res_unit cnnf_meta_resolution(const cnnf_meta *m, double *x, double *y);

/* The resolution multiplied by fx across and fy down (a stride-2 output: 0.5, 0.5). */
void cnnf_meta_scale_resolution(cnnf_meta *m, double fx, double fy);

/* Swap the resolution's axes: the image was turned by 90 degrees. */
void cnnf_meta_swap_axes(cnnf_meta *m);

#endif
