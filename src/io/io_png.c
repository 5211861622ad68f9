/* io_png.c: PNG reading (every bit depth and colour type, expanded to 8 or 16 bits) and writing. */
#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "io/io_png_hooks.h"
#include "io/png_zpar.h"

static void write_data(png_structp png, png_bytep data, size_t len)
{
	cnnf_png_io *io = png_get_io_ptr(png);
	if (fwrite(data, 1, len, io->fp) == len)
		return;
	cnnf_error("%s: write error: %s", io->name, strerror(errno));
	cnnf_png_fail(png);
}

/* cnnf_io_write() flushes the stream once the whole file is written. */
static void flush_data(png_structp png)
{
	(void)png;
}

/* Samples per pixel once png_set_expand() has run: palettes become RGB, tRNS an alpha channel. */
static int expanded_channels(png_structp png, png_infop info, int color_type)
{
	int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
	switch (color_type) {
	case PNG_COLOR_TYPE_GRAY:
		return 1 + trns;
	case PNG_COLOR_TYPE_GRAY_ALPHA:
		return 2;
	case PNG_COLOR_TYPE_RGB:
	case PNG_COLOR_TYPE_PALETTE:
		return 3 + trns;
	default:
		return 4;
	}
}

/*
 * Deflate expands at most 1032 to 1, so the rest of the file must hold at least
 * 1/1032 of the image's rows as stored (depth and channels as in the file, before
 * expansion). A file that cannot is refused before memory is allocated for what
 * its header claims: a 100-byte PNG does not get a gigabyte. Returns 0 or -1.
 */
static int check_data_size(png_structp png, png_infop info, FILE *fp, const char *name)
{
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	unsigned long long bits = (unsigned long long)png_get_bit_depth(png, info) *
	                          png_get_channels(png, info);
	unsigned long long row = ((unsigned long long)w * bits + 7) / 8;
	unsigned long long raw = h > ULLONG_MAX / row ? ULLONG_MAX : row * h;
	long long have = cnnf_io_remaining(fp);
	if (have < 0 || raw / 1032 <= (unsigned long long)have)
		return 0;
	cnnf_error("%s: truncated file: a %ux%u PNG needs at least %llu bytes of image data, "
	           "the file has %lld",
	           name, (unsigned)w, (unsigned)h, raw / 1032, have);
	return -1;
}

cnnf_image *cnnf_png_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	return cnnf_png_read_warn(fp, name, max_pixels, NULL, NULL);
}

/* XMP's place in PNG: an iTXt chunk of this keyword (XMP specification, part 3). */
static const char xmp_key[] = "XML:com.adobe.xmp";

/* A block that could not be kept (too big, out of memory) is noted as a warning. */
static void note_dropped(cnnf_warn *w, const char *what)
{
	if (w && !w->count++)
		snprintf(w->first, sizeof w->first, "%s: too large to keep; left out of the outputs",
		         what);
}

/* The metadata chunks libpng read (before and after the image data) into m. */
static void read_meta(png_structp png, png_infop info, cnnf_meta *m, cnnf_warn *w)
{
	png_charp pname;
	int comp;
	png_bytep prof;
	png_uint_32 plen;
	if (png_get_iCCP(png, info, &pname, &comp, &prof, &plen) &&
	    cnnf_meta_set_icc(m, pname, prof, plen) < 0)
		note_dropped(w, "iCCP");
	/* eXIf comes as an unknown chunk (cnnf_png_read_limits() says why); the first counts. */
	png_unknown_chunkp unk;
	int nu = png_get_unknown_chunks(png, info, &unk);
	for (int i = 0; i < nu && !m->exif; i++)
		if (memcmp(unk[i].name, "eXIf", 4) == 0 && unk[i].size &&
		    cnnf_meta_set_exif(m, unk[i].data, unk[i].size) < 0)
			note_dropped(w, "eXIf");
	png_textp text;
	int n = png_get_text(png, info, &text, NULL);
	for (int i = 0; i < n; i++) {
		const png_text *t = &text[i];
		size_t len = t->text ? strlen(t->text) : 0;
		int utf8 = t->compression >= PNG_ITXT_COMPRESSION_NONE;
		int zip = t->compression == PNG_TEXT_COMPRESSION_zTXt ||
		          t->compression == PNG_ITXT_COMPRESSION_zTXt;
		if (utf8 && strcmp(t->key, xmp_key) == 0) {
			if (len && cnnf_meta_set_xmp(m, t->text, len) < 0)
				note_dropped(w, "XMP");
		} else if (cnnf_meta_add_text(m, t->key, t->text ? t->text : "", len, utf8, zip) < 0) {
			note_dropped(w, "text");
		}
	}
	png_uint_32 rx, ry;
	int unit;
	if (png_get_pHYs(png, info, &rx, &ry, &unit) && rx > 0 && ry > 0) {
		m->res_unit = unit == PNG_RESOLUTION_METER ? CNNF_RES_METRE : CNNF_RES_ASPECT;
		m->res_x = rx;
		m->res_y = ry;
	}
}

cnnf_image *cnnf_png_read_warn(FILE *fp, const char *name, unsigned long long max_pixels,
                               cnnf_warn *warn, cnnf_meta *meta)
{
	return cnnf_png_read_progress(fp, name, max_pixels, warn, meta, NULL);
}

/* Rows handed over in groups of this many (a lock and a wake-up each). */
#define PUBLISH_ROWS 32

cnnf_image *cnnf_png_read_progress(FILE *fp, const char *name, unsigned long long max_pixels,
                                   cnnf_warn *warn, cnnf_meta *meta, cnnf_progress *prog)
{
	int after_idat;
	if (cnnf_png_check_chunks(fp, name, &after_idat) < 0)
		return NULL;
	cnnf_png_io io = {fp, name, 0, warn};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, cnnf_png_on_error,
	                                         cnnf_png_on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	cnnf_image *volatile img = NULL;
	png_bytep *volatile rows = NULL;
	if (setjmp(png_jmpbuf(png))) {
		free(rows);
		/* A published image is the caller's; the failure is what it learns. */
		if (!prog || !prog->published)
			cnnf_image_free(img);
		png_destroy_read_struct(&png, &info, NULL);
		return NULL;
	}
	png_set_read_fn(png, &io, cnnf_png_read_data);
	/* The pixel limit is checked below with a clearer message than libpng's. */
	cnnf_png_read_limits(png);
	png_read_info(png, info);

	png_uint_32 w, h;
	int depth, color_type;
	png_get_IHDR(png, info, &w, &h, &depth, &color_type, NULL, NULL, NULL);
	int channels = expanded_channels(png, info, color_type);
	cnnf_type type = depth == 16 ? CNNF_U16 : CNNF_U8;
	/* Before png_read_update_info(), which allocates row buffers. */
	if (cnnf_image_check(name, w, h, channels, type, max_pixels) < 0 ||
	    check_data_size(png, info, io.fp, name) < 0)
		cnnf_png_fail(png);

	/* Palette to RGB, gray below 8 bits scaled to 0..255, tRNS to alpha. */
	png_set_expand(png);
	if (depth == 16 && cnnf_io_little_endian())
		png_set_swap(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	size_t stride = (size_t)w * channels * type;
	if (png_get_channels(png, info) != channels || png_get_rowbytes(png, info) != stride) {
		cnnf_error("%s: unexpected PNG layout after expansion", name);
		cnnf_png_fail(png);
	}

	img = cnnf_image_new((int)w, (int)h, channels, type);
	rows = calloc(h, sizeof *rows);
	if (!img || !rows) {
		cnnf_error("%s: out of memory for a %ux%u image", name, (unsigned)w, (unsigned)h);
		cnnf_png_fail(png);
	}
	for (png_uint_32 y = 0; y < h; y++)
		rows[y] = cnnf_image_row(img, (int)y);
	img->alpha = channels == 2 || channels == 4;
	/*
	 * Handed over before the rows when nothing can change after them: one
	 * pass (not interlaced), no alpha (filters look at all of it first) and
	 * no chunk after the image data (its metadata is all read).
	 */
	int early = prog && !after_idat && !img->alpha &&
	            png_get_interlace_type(png, info) == PNG_INTERLACE_NONE;
	if (early) {
		if (meta) {
			cnnf_meta_clear(meta);
			read_meta(png, info, meta, warn);
		}
		prog->publish(prog->ctx, img, 0);
		for (png_uint_32 y = 0; y < h; y++) {
			png_read_row(png, rows[y], NULL);
			if ((y + 1) % PUBLISH_ROWS == 0)
				prog->publish(prog->ctx, img, (int)y + 1);
		}
	} else {
		png_read_image(png, rows);
	}
	/*
	 * Reading to IEND checks the last CRCs and refuses a file cut after its
	 * image data; the chunks after the image (text often) go into info too.
	 */
	png_read_end(png, info);
	if (meta && !early) {
		cnnf_meta_clear(meta);
		read_meta(png, info, meta, warn);
	}
	if (prog)
		prog->publish(prog->ctx, img, img->height);
	cnnf_image *out = img;
	free(rows);
	png_destroy_read_struct(&png, &info, NULL);
	return out;
}

/* One piece of the image data as an IDAT chunk; libpng's errors longjmp from here. */
static int write_idat(void *ctx, const unsigned char *data, size_t len)
{
	static const png_byte idat[5] = "IDAT";
	png_write_chunk(ctx, idat, data, len);
	return 0;
}

/*
 * Whether libpng takes key as a text chunk's keyword (1..79 printable Latin-1
 * bytes, no leading, trailing or double space): it fails the whole image on
 * one it cannot mend, so others are left out here.
 */
static int good_keyword(const char *key)
{
	size_t n = strlen(key);
	if (n < 1 || n > 79 || key[0] == ' ' || key[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 32 || (c > 126 && c < 161) || (c == ' ' && key[i + 1] == ' '))
			return 0;
	}
	return 1;
}

/*
 * m's chunks for an image of the colour colours (1 gray, 3 RGB).
 * libpng checks them as it takes them (an ICC profile's header, a text's
 * keyword): with benign errors allowed, one it finds wrong is left out with a
 * warning instead of failing the image.
 */
static void write_meta(png_structp png, png_infop pinfo, const cnnf_meta *m, int colours)
{
	png_set_benign_errors(png, 1);
	if (m->icc && cnnf_meta_icc_channels(m->icc, m->icc_len) == colours &&
	    m->icc_len <= PNG_UINT_31_MAX)
		png_set_iCCP(png, pinfo, good_keyword(m->icc_name) ? m->icc_name : "ICC profile",
		             PNG_COMPRESSION_TYPE_BASE, m->icc, (png_uint_32)m->icc_len);
	/* libpng reads back only an eXIf that starts with a TIFF byte order. */
	if (m->exif && m->exif_len >= 8 && m->exif_len <= PNG_UINT_31_MAX &&
	    (memcmp(m->exif, "II*", 4) == 0 || memcmp(m->exif, "MM\0*", 4) == 0))
		png_set_eXIf_1(png, pinfo, (png_uint_32)m->exif_len, m->exif);
	int n = m->text_count + (m->xmp != NULL);
	png_text *t = n ? calloc((size_t)n, sizeof *t) : NULL;
	char *xmp = m->xmp ? malloc(m->xmp_len + 1) : NULL;
	if (t && (!m->xmp || xmp)) {
		int k = 0;
		for (int i = 0; i < m->text_count; i++) {
			const cnnf_meta_text *e = &m->text[i];
			if (!good_keyword(e->key))
				continue;
			png_text *ti = &t[k++];
			ti->key = e->key;
			ti->text = e->value;
			ti->compression = e->utf8 ? (e->compressed ? PNG_ITXT_COMPRESSION_zTXt
			                                            : PNG_ITXT_COMPRESSION_NONE)
			                           : (e->compressed ? PNG_TEXT_COMPRESSION_zTXt
			                                            : PNG_TEXT_COMPRESSION_NONE);
		}
		if (xmp) {
			memcpy(xmp, m->xmp, m->xmp_len);
			xmp[m->xmp_len] = 0;
			t[k++] = (png_text){.compression = PNG_ITXT_COMPRESSION_NONE,
			                      .key = (char *)xmp_key, .text = xmp};
		}
		/* libpng copies the texts, so they can go at once. */
		if (k)
			png_set_text(png, pinfo, t, k);
	}
	free(xmp);
	free(t);
	double rx, ry;
	cnnf_res_unit unit = cnnf_meta_resolution(m, &rx, &ry);
	if (unit == CNNF_RES_ASPECT) {
		/* Only the ratio counts: the smaller made 1000, so that it keeps three digits. */
		double s = 1000 / (rx < ry ? rx : ry);
		rx *= s, ry *= s;
	}
	if (unit != CNNF_RES_NONE && rx >= 0.5 && ry >= 0.5 && rx < 2e9 && ry < 2e9)
		png_set_pHYs(png, pinfo, (png_uint_32)(rx + 0.5), (png_uint_32)(ry + 0.5),
		             unit == CNNF_RES_METRE ? PNG_RESOLUTION_METER : PNG_RESOLUTION_UNKNOWN);
}

/*
 * Encode the rows of src as depth-bit PNG samples (8 or 16), converting a row
 * at a time when src's samples are not already on that scale.
 */
static int encode(const cnnf_rows *src, int depth, FILE *fp, const char *name,
                  const cnnf_write_opts *o)
{
	static const int color_types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
	                                  PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
	const cnnf_image *info = &src->info;
	cnnf_png_io io = {fp, name, 0, o->warn};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, cnnf_png_on_error,
	                                          cnnf_png_on_warning);
	png_infop pinfo = png ? png_create_info_struct(png) : NULL;
	if (!pinfo) {
		png_destroy_write_struct(&png, NULL);
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	void *volatile buf = NULL;
	cnnf_zpar *volatile zp = NULL;
	if (setjmp(png_jmpbuf(png))) {
		cnnf_zpar_free(zp);
		free(buf);
		png_destroy_write_struct(&png, &pinfo);
		return -1;
	}
	png_set_write_fn(png, &io, write_data, flush_data);
	cnnf_type type = depth == 16 ? CNNF_U16 : CNNF_U8;
	unsigned maxval = depth == 16 ? 65535 : 255;
	int indexed = o->palette_size > 0 && info->channels == 1 && depth == 8;
	png_set_IHDR(png, pinfo, (png_uint_32)info->width, (png_uint_32)info->height, depth,
	             indexed ? PNG_COLOR_TYPE_PALETTE : color_types[info->channels - 1],
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (indexed) {
		png_color pal[256];
		int n = o->palette_size > 256 ? 256 : o->palette_size;
		for (int i = 0; i < n; i++)
			pal[i] = (png_color){o->palette[3 * i], o->palette[3 * i + 1],
			                     o->palette[3 * i + 2]};
		png_set_PLTE(png, pinfo, pal, n);
	}
	if (o->meta)
		write_meta(png, pinfo, o->meta, indexed || info->channels >= 3 ? 3 : 1);
	png_write_info(png, pinfo);
	/*
	 * The image data deflated on every core (png_zpar.c), each piece an IDAT
	 * chunk of its own: libpng writes the chunks before and after it.
	 */
	size_t n = (size_t)info->width * info->channels;
	size_t rowbytes = n * (depth / 8);
	int convert = !(info->type == type && info->maxval == maxval);
	if (convert && !(buf = malloc(n * type))) {
		cnnf_error("%s: out of memory", name);
		cnnf_png_fail(png);
	}
	if (!(zp = cnnf_zpar_new(rowbytes, info->channels * (depth / 8), !indexed, info->height, 0,
				 name)))
		cnnf_png_fail(png);
	for (int y = 0; y < info->height; y++) {
		const void *row = src->row(src->ctx, y);
		if (!row)
			cnnf_png_fail(png);
		if (convert)
			cnnf_image_convert_samples(info, row, type, maxval, buf, n);
		const void *v = convert ? buf : row;
		unsigned char *dst = cnnf_zpar_row(zp);
		if (depth == 8)
			memcpy(dst, v, n);
		else
			for (size_t i = 0; i < n; i++) {
				uint16_t x = ((const uint16_t *)v)[i];
				dst[2 * i] = (unsigned char)(x >> 8);
				dst[2 * i + 1] = (unsigned char)x;
			}
		if (cnnf_zpar_push(zp, write_idat, png) < 0)
			cnnf_png_fail(png);
	}
	static const png_byte iend[5] = "IEND";
	png_write_chunk(png, iend, NULL, 0);
	cnnf_zpar_free(zp);
	free(buf);
	png_destroy_write_struct(&png, &pinfo);
	return 0;
}

int cnnf_png_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	const cnnf_image *info = &src->info;
	if (info->channels < 1 || info->channels > 4) {
		cnnf_error("%s: PNG holds 1 to 4 channels, not %d; write .npy instead", name,
		           info->channels);
		return -1;
	}
	int depth = o->depth;
	if (depth == 0) {
		if (info->type == CNNF_F32)
			depth = info->maxval <= 255 ? 8 : 16;
		else
			depth = info->type == CNNF_U16 ? 16 : 8;
	}
	if (depth != 8 && depth != 16) {
		cnnf_error("%s: PNG bit depth %d is not 8 or 16", name, depth);
		return -1;
	}
	return encode(src, depth, fp, name, o);
}
