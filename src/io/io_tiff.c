/* io_tiff.c: TIFF through libtiff: 1 to 16-bit and float32 samples, strips, tiles, pages. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

#include "base/error.h"

/*
 * What libtiff's callbacks share with the code that called libtiff: the
 * stream, the name for messages, libtiff's first error and first warning
 * (the first is the cause; later ones follow from it), and for an output that
 * cannot seek, the file built in memory.
 */
typedef struct tiff_io {
	FILE *fp;
	const char *name;
	char err[CNNF_ERROR_MAX];
	int nerr;
	char warn[CNNF_ERROR_MAX];
	int nwarn;
	int write_errno; /* errno of the first failed write, 0 if none */
	int in_memory;   /* the file is built in mem, then written to fp whole */
	unsigned char *mem;
	size_t mem_len, mem_cap, mem_pos;
} tiff_io;

/*
 * One of libtiff's messages, as cnnf's messages are: the file named once
 * (libtiff often starts with the name it was given), one line, no control
 * bytes (a tag's bytes can end up in a message).
 */
static void keep_message(char *dst, const char *name, const char *fmt, va_list ap)
{
	char text[CNNF_ERROR_MAX];
	vsnprintf(text, sizeof text, fmt, ap);
	const char *t = text;
	size_t nl = strlen(name);
	if (strncmp(t, name, nl) == 0 && t[nl] == ':' && t[nl + 1] == ' ')
		t += nl + 2;
	snprintf(dst, CNNF_ERROR_MAX, "%s", t);
	/* libtiff reading a whole strip has no scanline to name, and prints (uint32_t)-1. */
	char *row = strstr(dst, " at scanline 4294967295");
	if (row)
		memmove(row, row + 23, strlen(row + 23) + 1);
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	size_t n = strlen(dst);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '.'))
		dst[--n] = '\0';
}

/* libtiff's handlers for this file: nothing is printed; return 1: handled, no global handler. */
static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
	(void)tif;
	(void)module;
	tiff_io *io = user;
	if (io->nerr++ == 0)
		keep_message(io->err, io->name, fmt, ap);
	return 1;
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
	(void)tif;
	(void)module;
	tiff_io *io = user;
	if (io->nwarn++ == 0)
		keep_message(io->warn, io->name, fmt, ap);
	return 1;
}

/* The failure of a libtiff call: libtiff's own message if it gave one, else what. */
static void fail(tiff_io *io, const char *what)
{
	if (io->write_errno)
		cnnf_error("%s: write error: %s", io->name, strerror(io->write_errno));
	else
		cnnf_error("%s: %s", io->name, io->nerr ? io->err : what);
}

/* ---- the stream under libtiff ---- */

static tmsize_t proc_read(thandle_t h, void *buf, tmsize_t size)
{
	tiff_io *io = h;
	if (io->in_memory) {
		size_t n = io->mem_pos < io->mem_len ? io->mem_len - io->mem_pos : 0;
		if ((size_t)size < n)
			n = (size_t)size;
		memcpy(buf, io->mem + io->mem_pos, n);
		io->mem_pos += n;
		return (tmsize_t)n;
	}
	return (tmsize_t)fread(buf, 1, (size_t)size, io->fp);
}

static tmsize_t proc_write(thandle_t h, void *buf, tmsize_t size)
{
	tiff_io *io = h;
	if (io->in_memory) {
		size_t end = io->mem_pos + (size_t)size;
		if (end > io->mem_cap) {
			size_t cap = io->mem_cap ? io->mem_cap : 1 << 16;
			while (cap < end)
				cap *= 2;
			unsigned char *p = realloc(io->mem, cap);
			if (!p) {
				if (!io->write_errno)
					io->write_errno = ENOMEM;
				return -1;
			}
			io->mem = p;
			io->mem_cap = cap;
		}
		if (io->mem_pos > io->mem_len)
			memset(io->mem + io->mem_len, 0, io->mem_pos - io->mem_len);
		memcpy(io->mem + io->mem_pos, buf, (size_t)size);
		io->mem_pos = end;
		if (end > io->mem_len)
			io->mem_len = end;
		return size;
	}
	if (fwrite(buf, 1, (size_t)size, io->fp) != (size_t)size) {
		if (!io->write_errno)
			io->write_errno = errno ? errno : EIO;
		return -1;
	}
	return size;
}

static toff_t proc_seek(thandle_t h, toff_t off, int whence)
{
	tiff_io *io = h;
	if (io->in_memory) {
		long long base = whence == SEEK_SET   ? 0
		                 : whence == SEEK_CUR ? (long long)io->mem_pos
		                                      : (long long)io->mem_len;
		long long to = base + (long long)off;
		if (to < 0)
			return (toff_t)-1;
		io->mem_pos = (size_t)to;
		return (toff_t)to;
	}
	if (off > (toff_t)LLONG_MAX || fseeko(io->fp, (off_t)off, whence) < 0)
		return (toff_t)-1;
	off_t at = ftello(io->fp);
	return at < 0 ? (toff_t)-1 : (toff_t)at;
}

static int proc_close(thandle_t h)
{
	(void)h; /* the stream is the caller's */
	return 0;
}

static toff_t proc_size(thandle_t h)
{
	tiff_io *io = h;
	if (io->in_memory)
		return io->mem_len;
	off_t here = ftello(io->fp);
	if (here < 0 || fseeko(io->fp, 0, SEEK_END) < 0)
		return 0;
	off_t end = ftello(io->fp);
	if (fseeko(io->fp, here, SEEK_SET) < 0 || end < 0)
		return 0;
	return (toff_t)end;
}

static int proc_map(thandle_t h, void **base, toff_t *size)
{
	(void)h;
	(void)base;
	(void)size;
	return 0; /* not mapped: libtiff reads */
}

static void proc_unmap(thandle_t h, void *base, toff_t size)
{
	(void)h;
	(void)base;
	(void)size;
}

/*
 * libtiff opened on io's stream with cnnf's handlers and a bound on any one
 * of its allocations (0: none). Returns NULL with a message.
 */
static TIFF *open_tiff(tiff_io *io, const char *mode, tmsize_t max_alloc)
{
	/*
	 * The global handlers print to stderr. They are only reached for
	 * messages about no file in particular, and library code prints nothing.
	 */
	TIFFSetErrorHandler(NULL);
	TIFFSetWarningHandler(NULL);
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	if (!opts) {
		cnnf_error("%s: out of memory", io->name);
		return NULL;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, io);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, io);
	if (max_alloc > 0)
		TIFFOpenOptionsSetMaxSingleMemAlloc(opts, max_alloc);
	TIFF *tif = TIFFClientOpenExt(io->name, mode, io, proc_read, proc_write, proc_seek,
	                              proc_close, proc_size, proc_map, proc_unmap, opts);
	TIFFOpenOptionsFree(opts);
	if (!tif)
		fail(io, "not a TIFF file libtiff can read");
	return tif;
}

/* ---- reading ---- */

struct cnnf_tiff {
	tiff_io io;
	TIFF *tif;
	int pages;
	unsigned long long max_pixels;
	char warning[2 * CNNF_ERROR_MAX];
};

void cnnf_tiff_close(cnnf_tiff *t)
{
	if (!t)
		return;
	if (t->tif)
		TIFFClose(t->tif);
	free(t);
}

cnnf_tiff *cnnf_tiff_open(FILE *fp, const char *name, unsigned long long max_pixels)
{
	cnnf_tiff *t = calloc(1, sizeof *t);
	if (!t) {
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	t->io.fp = fp;
	t->io.name = name;
	t->max_pixels = max_pixels;
	/*
	 * libtiff's own buffers (a strip's compressed bytes, the strip offset
	 * arrays) are never bigger than the largest image the pixel limit lets
	 * through, at 16 bytes a pixel (RGBA float32): a header that asks for
	 * more is refused by libtiff before it allocates.
	 */
	tmsize_t max_alloc = 0;
	if (max_pixels > 0)
		max_alloc = max_pixels > (unsigned long long)(INT64_MAX / 16) ? INT64_MAX
		            : max_pixels * 16 < (64ULL << 20) ? (tmsize_t)(64ULL << 20)
		                                              : (tmsize_t)(max_pixels * 16);
	/* 'm': not mapped, read (the stream may be memory already). */
	if (!(t->tif = open_tiff(&t->io, "rm", max_alloc))) {
		free(t);
		return NULL;
	}
	/*
	 * Counting walks the chain of directories; an error on the way (a link
	 * past the end of a cut file) would leave pages out without a word.
	 */
	t->io.nerr = 0;
	tdir_t n = TIFFNumberOfDirectories(t->tif);
	if (n == 0 || t->io.nerr) {
		fail(&t->io, "no image in the file");
		cnnf_tiff_close(t);
		return NULL;
	}
	t->pages = n > INT_MAX ? INT_MAX : (int)n;
	return t;
}

int cnnf_tiff_pages(const cnnf_tiff *t)
{
	return t->pages;
}

const char *cnnf_tiff_warning(const cnnf_tiff *t)
{
	if (t->io.nwarn == 0)
		return NULL;
	cnnf_tiff *m = (cnnf_tiff *)t;
	if (t->io.nwarn > 1)
		snprintf(m->warning, sizeof m->warning, "%s: warning: %s (and %d more)", t->io.name,
		         t->io.warn, t->io.nwarn - 1);
	else
		snprintf(m->warning, sizeof m->warning, "%s: warning: %s", t->io.name, t->io.warn);
	return m->warning;
}

/* How a page's samples are stored, from its tags. */
typedef struct layout {
	uint32_t width, height;
	uint16_t spp, bps, format, photometric, planar;
	int channels; /* of the image: spp, or 3 for a palette */
	cnnf_type type;
	int palette; /* samples are indices into red, green, blue */
	int invert;  /* min-is-white: gray is maxval - v */
	int alpha;
	uint16_t *red, *green, *blue;
} layout;

static const char *photometric_name(unsigned p)
{
	static const char *const names[] = {
	    [PHOTOMETRIC_MINISWHITE] = "min-is-white",
	    [PHOTOMETRIC_MINISBLACK] = "min-is-black",
	    [PHOTOMETRIC_RGB] = "RGB",
	    [PHOTOMETRIC_PALETTE] = "palette",
	    [PHOTOMETRIC_MASK] = "transparency mask",
	    [PHOTOMETRIC_SEPARATED] = "CMYK (separated)",
	    [PHOTOMETRIC_YCBCR] = "YCbCr",
	    [PHOTOMETRIC_CIELAB] = "CIE L*a*b*",
	    [PHOTOMETRIC_ICCLAB] = "ICC L*a*b*",
	    [PHOTOMETRIC_ITULAB] = "ITU L*a*b*",
	};
	if (p < sizeof names / sizeof names[0] && names[p])
		return names[p];
	return "unknown";
}

/* The tags of the current directory that say how to read it. Returns 0 or -1. */
static int read_layout(cnnf_tiff *t, layout *l)
{
	TIFF *tif = t->tif;
	const char *name = t->io.name;
	memset(l, 0, sizeof *l);
	if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l->width) ||
	    !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l->height)) {
		cnnf_error("%s: TIFF page without its width or height", name);
		return -1;
	}
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l->spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l->bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &l->format);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l->planar);
	if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &l->photometric))
		l->photometric = l->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
	uint16_t compression = COMPRESSION_NONE;
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
	if (!TIFFIsCODECConfigured(compression)) {
		const TIFFCodec *c = TIFFFindCODEC(compression);
		cnnf_error("%s: TIFF compression %s (%u) is not built into this libtiff", name,
		           c ? c->name : "unknown", compression);
		return -1;
	}
	if (l->spp < 1) {
		cnnf_error("%s: TIFF page with no samples per pixel", name);
		return -1;
	}
	if (l->format == SAMPLEFORMAT_INT) {
		cnnf_error("%s: signed %u-bit TIFF samples are not supported", name, l->bps);
		return -1;
	}
	if (l->format == SAMPLEFORMAT_IEEEFP) {
		if (l->bps != 32) {
			cnnf_error("%s: %u-bit floating-point TIFF samples are not supported "
			           "(float32 is)",
			           name, l->bps);
			return -1;
		}
		l->type = CNNF_F32;
	} else if (l->format == SAMPLEFORMAT_UINT || l->format == SAMPLEFORMAT_VOID) {
		if (l->bps != 1 && l->bps != 2 && l->bps != 4 && l->bps != 8 && l->bps != 16) {
			cnnf_error("%s: %u-bit TIFF samples are not supported (1, 2, 4, 8, 16-bit "
			           "integers and float32 are)",
			           name, l->bps);
			return -1;
		}
		l->type = l->bps == 16 ? CNNF_U16 : CNNF_U8;
	} else {
		cnnf_error("%s: TIFF sample format %u is not supported", name, l->format);
		return -1;
	}
	int base;
	switch (l->photometric) {
	case PHOTOMETRIC_MINISWHITE:
	case PHOTOMETRIC_MINISBLACK:
		base = 1;
		l->invert = l->photometric == PHOTOMETRIC_MINISWHITE;
		if (l->invert && l->type == CNNF_F32) {
			cnnf_error("%s: min-is-white float TIFF samples are not supported", name);
			return -1;
		}
		break;
	case PHOTOMETRIC_RGB:
		base = 3;
		break;
	case PHOTOMETRIC_YCBCR:
		/* libjpeg turns JPEG-compressed YCbCr into RGB; other YCbCr is rare. */
		if (compression != COMPRESSION_JPEG) {
			cnnf_error("%s: YCbCr TIFF is supported with JPEG compression only", name);
			return -1;
		}
		TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
		base = 3;
		break;
	case PHOTOMETRIC_PALETTE:
		base = 1;
		l->palette = 1;
		if (l->bps > 8 || l->spp != 1 ||
		    !TIFFGetField(tif, TIFFTAG_COLORMAP, &l->red, &l->green, &l->blue)) {
			cnnf_error("%s: bad TIFF palette image (%u samples of %u bits%s)", name,
			           l->spp, l->bps, l->red ? "" : ", no colour map");
			return -1;
		}
		break;
	default:
		cnnf_error("%s: TIFF photometric interpretation %u (%s) is not supported", name,
		           l->photometric, photometric_name(l->photometric));
		return -1;
	}
	if (l->spp < base) {
		cnnf_error("%s: TIFF %s page with %u samples per pixel", name,
		           photometric_name(l->photometric), l->spp);
		return -1;
	}
	l->channels = l->palette ? 3 : l->spp;
	uint16_t nextra = 0, *extra = NULL;
	TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
	l->alpha = (l->channels == 2 || l->channels == 4) && l->spp == base + 1 && nextra >= 1 &&
	           extra &&
	           (extra[nextra - 1] == EXTRASAMPLE_ASSOCALPHA ||
	            extra[nextra - 1] == EXTRASAMPLE_UNASSALPHA);
	return 0;
}

/* Sample i of a row of bps-bit samples (1 to 16 bits; 16-bit ones in native order). */
static unsigned get_bits(const unsigned char *row, size_t i, int bps)
{
	if (bps == 8)
		return row[i];
	if (bps == 16) {
		uint16_t v;
		memcpy(&v, row + 2 * i, 2);
		return v;
	}
	size_t bit = i * (size_t)bps;
	return (unsigned)(row[bit / 8] >> (8 - bps - (int)(bit % 8))) & ((1u << bps) - 1);
}

/*
 * Row r of a decoded strip or tile (src, of n pixels and spp_unit samples
 * a pixel, plane `plane` when the planes are apart) into the image at
 * (x0, y).
 */
static void put_row(const layout *l, cnnf_image *img, const unsigned char *src, uint32_t x0,
                    uint32_t y, uint32_t n, int plane, int spp_unit)
{
	int ch = img->channels;
	size_t at = ((size_t)y * img->width + x0) * ch;
	if (!l->palette && !l->invert && l->bps >= 8 && spp_unit == ch) {
		/* The layout of the image already: the usual case, one copy. */
		memcpy((unsigned char *)img->data + at * img->type, src,
		       (size_t)n * ch * img->type);
		return;
	}
	for (uint32_t x = 0; x < n; x++) {
		for (int s = 0; s < spp_unit; s++) {
			int c = spp_unit == 1 ? plane : s;
			size_t i = (size_t)x * spp_unit + s, to = at + (size_t)x * ch + c;
			if (l->type == CNNF_F32) {
				memcpy((float *)img->data + to, src + 4 * i, 4);
				continue;
			}
			unsigned v = get_bits(src, i, l->bps);
			if (l->palette) {
				/*
				 * 16-bit colour map entries to 8 bits by their high byte, as
				 * libtiff's RGBA interface does: writers store v * 257 or
				 * v * 256, and both give v back.
				 */
				uint8_t *d = (uint8_t *)img->data + at + (size_t)x * 3;
				d[0] = (uint8_t)(l->red[v] >> 8);
				d[1] = (uint8_t)(l->green[v] >> 8);
				d[2] = (uint8_t)(l->blue[v] >> 8);
				continue;
			}
			/* Below 8 bits onto 0..255, as libpng expands low-bit gray. */
			if (l->bps < 8)
				v = v * 255u / ((1u << l->bps) - 1);
			if (l->invert && c == 0)
				v = img->maxval - v;
			if (img->type == CNNF_U8)
				((uint8_t *)img->data)[to] = (uint8_t)v;
			else
				((uint16_t *)img->data)[to] = (uint16_t)v;
		}
	}
}

/* The samples of the current page into img, strip by strip or tile by tile. Returns 0 or -1. */
static int read_samples(cnnf_tiff *t, const layout *l, cnnf_image *img)
{
	TIFF *tif = t->tif;
	const char *name = t->io.name;
	int tiled = TIFFIsTiled(tif);
	int separate = l->planar == PLANARCONFIG_SEPARATE && l->spp > 1;
	int spp_unit = separate ? 1 : l->spp, planes = separate ? l->spp : 1;
	uint32_t uw = l->width, uh = l->height;
	if (tiled) {
		if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &uw) ||
		    !TIFFGetField(tif, TIFFTAG_TILELENGTH, &uh) || uw == 0 || uh == 0) {
			cnnf_error("%s: TIFF tiles without a size", name);
			return -1;
		}
	} else {
		uint32_t rps = l->height;
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
		uh = rps == 0 || rps > l->height ? l->height : rps;
	}
	unsigned long long row_bytes = ((unsigned long long)uw * spp_unit * l->bps + 7) / 8;
	unsigned long long unit_bytes = row_bytes * uh;
	unsigned long long image_bytes =
	    (unsigned long long)l->width * l->height * img->channels * img->type;
	/*
	 * A strip is never larger than the image; a tile may be (a 256x256 tile
	 * holds a 10x10 image) but a tile larger than both the image and 64 MiB
	 * is a header that lies.
	 */
	if (uw > (1u << 24) || uh > (1u << 24) ||
	    (unit_bytes > image_bytes && unit_bytes > (64ULL << 20))) {
		cnnf_error("%s: TIFF %s of %ux%u pixels is too big for a %ux%u image", name,
		           tiled ? "tile" : "strip", (unsigned)uw, (unsigned)uh, (unsigned)l->width,
		           (unsigned)l->height);
		return -1;
	}
	tmsize_t lib_bytes = tiled ? TIFFTileSize(tif) : TIFFStripSize(tif);
	if (lib_bytes <= 0 || (unsigned long long)lib_bytes != unit_bytes) {
		fail(&t->io, "unexpected TIFF strip or tile layout");
		if (lib_bytes > 0)
			cnnf_error("%s: unexpected TIFF %s size %lld (expected %llu)", name,
			           tiled ? "tile" : "strip", (long long)lib_bytes, unit_bytes);
		return -1;
	}
	unsigned char *buf = malloc((size_t)unit_bytes);
	if (!buf) {
		cnnf_error("%s: out of memory for a TIFF %s of %llu bytes", name,
		           tiled ? "tile" : "strip", unit_bytes);
		return -1;
	}
	int r = -1;
	for (int p = 0; p < planes; p++) {
		for (uint32_t y0 = 0; y0 < l->height; y0 += uh) {
			for (uint32_t x0 = 0; x0 < l->width; x0 += uw) {
				uint32_t rows = l->height - y0 < uh ? l->height - y0 : uh;
				uint32_t cols = l->width - x0 < uw ? l->width - x0 : uw;
				/* A strip's last rows are not there; a tile is always whole. */
				tmsize_t want =
				    tiled ? (tmsize_t)unit_bytes : (tmsize_t)(row_bytes * rows);
				tmsize_t got;
				if (tiled)
					got = TIFFReadEncodedTile(
					    tif, TIFFComputeTile(tif, x0, y0, 0, (uint16_t)p), buf,
					    want);
				else
					got = TIFFReadEncodedStrip(
					    tif, TIFFComputeStrip(tif, y0, (uint16_t)p), buf, want);
				if (got < want) {
					fail(&t->io, "truncated or corrupt image data");
					goto out;
				}
				for (uint32_t yy = 0; yy < rows; yy++)
					put_row(l, img, buf + yy * row_bytes, x0, y0 + yy, cols, p,
					        spp_unit);
			}
		}
	}
	r = 0;
out:
	free(buf);
	return r;
}

/*
 * A page's stored image data against what it declares. With no compression,
 * PackBits, LZW or Deflate, decoded bytes are at most a bounded multiple of
 * the stored ones (1, 128, under 4096, 1032), so a small file that declares
 * a large image is refused before the image is allocated (a fuzzer's 468-byte
 * file asked for 64 MB a page). Other codecs have no such bound: 0.
 */
static int check_data_size(cnnf_tiff *t, const layout *l)
{
	uint16_t comp = COMPRESSION_NONE;
	TIFFGetFieldDefaulted(t->tif, TIFFTAG_COMPRESSION, &comp);
	double ratio = comp == COMPRESSION_NONE       ? 1
		       : comp == COMPRESSION_PACKBITS ? 128
		       : comp == COMPRESSION_LZW      ? 4096
		       : comp == COMPRESSION_ADOBE_DEFLATE || comp == COMPRESSION_DEFLATE ? 1040
											   : 0;
	uint64_t *counts = NULL;
	int tiled = TIFFIsTiled(t->tif);
	if (ratio == 0 ||
	    !TIFFGetField(t->tif, tiled ? TIFFTAG_TILEBYTECOUNTS : TIFFTAG_STRIPBYTECOUNTS, &counts) ||
	    !counts)
		return 0; /* libtiff says what is missing when it reads */
	uint32_t n = tiled ? TIFFNumberOfTiles(t->tif) : TIFFNumberOfStrips(t->tif);
	uint64_t size = proc_size(&t->io), stored = 0;
	for (uint32_t i = 0; i < n && stored < size; i++)
		stored += counts[i] < size ? counts[i] : size;
	if (stored > size)
		stored = size;
	double need = (double)l->width * l->height * l->spp * l->bps / 8.0;
	if (need > (double)stored * ratio + 65536) {
		cnnf_error("%s: TIFF page of %u x %u holds only %llu bytes of image data", t->io.name,
			   (unsigned)l->width, (unsigned)l->height, (unsigned long long)stored);
		return -1;
	}
	return 0;
}

#define METRES_PER_INCH 0.0254

/* The directory's ICC profile, XMP, resolution and orientation into m (cleared first). */
static void read_meta(cnnf_tiff *t, cnnf_meta *m)
{
	TIFF *tif = t->tif;
	uint32_t n;
	void *p;
	cnnf_meta_clear(m);
	/* A block too large to keep is left out; libtiff has read it already, within its limit. */
	if (TIFFGetField(tif, TIFFTAG_ICCPROFILE, &n, &p) && n)
		(void)cnnf_meta_set_icc(m, NULL, p, n);
	if (TIFFGetField(tif, TIFFTAG_XMLPACKET, &n, &p) && n)
		(void)cnnf_meta_set_xmp(m, p, n);
	float xr, yr;
	uint16_t unit;
	if (TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xr) && TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yr) &&
	    xr > 0 && yr > 0 && xr < 1e12f && yr < 1e12f) {
		TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
		double per_metre = unit == RESUNIT_INCH ? 1 / METRES_PER_INCH
		                   : unit == RESUNIT_CENTIMETER ? 100 : 1;
		m->res_unit = unit == RESUNIT_INCH || unit == RESUNIT_CENTIMETER ? CNNF_RES_METRE
		                                                                 : CNNF_RES_ASPECT;
		m->res_x = xr * per_metre;
		m->res_y = yr * per_metre;
	}
	uint16_t orient;
	if (TIFFGetField(tif, TIFFTAG_ORIENTATION, &orient) && orient >= 1 && orient <= 8)
		m->orientation = orient;
}

/* m as the tags of the page being written (colours: 1 gray, 3 RGB, 0 neither). */
static void write_meta(TIFF *tif, const cnnf_meta *m, int colours)
{
	if (m->icc && colours && cnnf_meta_icc_channels(m->icc, m->icc_len) == colours)
		TIFFSetField(tif, TIFFTAG_ICCPROFILE, (uint32_t)m->icc_len, m->icc);
	if (m->xmp)
		TIFFSetField(tif, TIFFTAG_XMLPACKET, (uint32_t)m->xmp_len, m->xmp);
	double x, y;
	cnnf_res_unit unit = cnnf_meta_resolution(m, &x, &y);
	if (unit != CNNF_RES_NONE) {
		if (unit == CNNF_RES_METRE)
			x *= METRES_PER_INCH, y *= METRES_PER_INCH;
		TIFFSetField(tif, TIFFTAG_XRESOLUTION, (float)x);
		TIFFSetField(tif, TIFFTAG_YRESOLUTION, (float)y);
		TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT,
		             unit == CNNF_RES_METRE ? RESUNIT_INCH : RESUNIT_NONE);
	}
	if (m->orientation > 1 && m->orientation <= 8)
		TIFFSetField(tif, TIFFTAG_ORIENTATION, (uint16_t)m->orientation);
}

cnnf_image *cnnf_tiff_read_page(cnnf_tiff *t, int page, cnnf_meta *meta)
{
	const char *name = t->io.name;
	t->io.nerr = 0;
	/* The directory in hand is not read again: its warnings would count twice. */
	if (page < 0 || page >= t->pages ||
	    (TIFFCurrentDirectory(t->tif) != (tdir_t)page &&
	     !TIFFSetDirectory(t->tif, (tdir_t)page))) {
		fail(&t->io, "cannot read the page's directory");
		return NULL;
	}
	layout l;
	if (read_layout(t, &l) < 0 ||
	    cnnf_image_check(name, l.width, l.height, l.channels, l.type, t->max_pixels) < 0 ||
	    check_data_size(t, &l) < 0)
		return NULL;
	cnnf_image *img = cnnf_image_new((int)l.width, (int)l.height, l.channels, l.type);
	if (!img) {
		cnnf_error("%s: out of memory for a %ux%u image", name, (unsigned)l.width,
		           (unsigned)l.height);
		return NULL;
	}
	/* Float samples have no scale: they are what the file holds, as .npy data. */
	img->maxval = l.type == CNNF_F32 ? 0 : l.type == CNNF_U16 ? 65535 : 255;
	img->alpha = l.alpha;
	if (read_samples(t, &l, img) < 0) {
		cnnf_image_free(img);
		return NULL;
	}
	if (meta)
		read_meta(t, meta);
	return img;
}

cnnf_image *cnnf_tiff_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	cnnf_tiff *t = cnnf_tiff_open(fp, name, max_pixels);
	cnnf_image *img = t ? cnnf_tiff_read_page(t, 0, NULL) : NULL;
	cnnf_tiff_close(t);
	return img;
}

/* ---- writing ---- */

struct cnnf_tiff_writer {
	tiff_io io;
	TIFF *tif;
	cnnf_write_opts o;
	int failed;
};

/*
 * Whether libtiff can write fp in place: it seeks back to fill in offsets
 * and reads back the last directory to link the next page to it, so fp must
 * be a regular file open for reading and writing, at offset 0, not
 * appending (output.c's temporary files are). Standard output, a pipe or a
 * device gets the file built in memory instead.
 */
static int writable_in_place(FILE *fp)
{
	int fl = fcntl(fileno(fp), F_GETFL);
	struct stat st;
	return fl >= 0 && (fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND) &&
	       fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && ftello(fp) == 0;
}

cnnf_tiff_writer *cnnf_tiff_writer_open(FILE *fp, const char *name, const cnnf_write_opts *o)
{
	cnnf_tiff_writer *w = calloc(1, sizeof *w);
	if (!w) {
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	w->io.fp = fp;
	w->io.name = name;
	w->io.in_memory = !writable_in_place(fp);
	w->o = *o;
	if (!(w->tif = open_tiff(&w->io, "w", 0))) {
		free(w);
		return NULL;
	}
	return w;
}

int cnnf_tiff_writer_add(cnnf_tiff_writer *w, const cnnf_rows *src, const cnnf_meta *meta)
{
	const cnnf_image *info = &src->info;
	TIFF *tif = w->tif;
	const char *name = w->io.name;
	int ch = info->channels;
	if (ch < 1 || ch > 65535) {
		cnnf_error("%s: TIFF holds 1 to 65535 channels, not %d", name, ch);
		return -1;
	}
	int depth = w->o.depth;
	if (depth != 0 && depth != 8 && depth != 16) {
		cnnf_error("%s: TIFF bit depth %d is not 8 or 16", name, depth);
		return -1;
	}
	/* Integer samples keep their type; --depth converts; float samples stay float. */
	cnnf_type type = depth == 16 ? CNNF_U16 : depth == 8 ? CNNF_U8 : info->type;
	unsigned maxval = type == CNNF_U16 ? 65535 : type == CNNF_U8 ? 255 : info->maxval;
	int alpha = info->alpha && (ch == 2 || ch == 4);
	int rgb = ch == 3 || (ch == 4 && alpha);
	int base = rgb ? 3 : 1;
	w->io.nerr = 0;
	TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)info->width);
	TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)info->height);
	TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)ch);
	TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * type));
	TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT,
	             type == CNNF_F32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
	TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
	TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	if (ch > base) {
		uint16_t *extra = calloc((size_t)(ch - base), sizeof *extra);
		if (!extra) {
			cnnf_error("%s: out of memory", name);
			return -1;
		}
		/* Channels past gray or RGB are data (a filter bank's) unless the last is alpha. */
		if (alpha)
			extra[ch - base - 1] = EXTRASAMPLE_UNASSALPHA;
		TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)(ch - base), extra);
		free(extra);
	}
	/* Lossless: Deflate after the predictor that suits the samples. */
	TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
	TIFFSetField(tif, TIFFTAG_PREDICTOR,
	             type == CNNF_F32 ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL);
	size_t row_bytes = (size_t)info->width * ch * type;
	/* Strips of about 256 KiB: big enough to compress well, small enough to stream. */
	size_t rps = row_bytes >= (256u << 10) ? 1 : (256u << 10) / row_bytes;
	if (rps > (size_t)info->height)
		rps = (size_t)info->height;
	TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)rps);
	TIFFSetField(tif, TIFFTAG_SOFTWARE, "cnnf " CNNF_VERSION);
	if (meta)
		write_meta(tif, meta, rgb ? 3 : ch == base ? 1 : alpha && ch == 2 ? 1 : 0);
	int convert = !(info->type == type && (type == CNNF_F32 || info->maxval == maxval));
	void *buf = malloc(row_bytes);
	if (!buf) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	int r = -1;
	for (int y = 0; y < info->height; y++) {
		const void *row = src->row(src->ctx, y);
		if (!row) /* the message is set */
			goto out;
		if (convert)
			cnnf_image_convert_samples(info, row, type, maxval, buf,
			                           (size_t)info->width * ch);
		else
			memcpy(buf, row, row_bytes);
		if (TIFFWriteScanline(tif, buf, (uint32_t)y, 0) < 0) {
			fail(&w->io, "cannot write the image data");
			goto out;
		}
	}
	if (!TIFFWriteDirectory(tif)) {
		fail(&w->io, "cannot write the TIFF directory");
		goto out;
	}
	r = 0;
out:
	free(buf);
	if (r < 0)
		w->failed = 1;
	return r;
}

int cnnf_tiff_writer_close(cnnf_tiff_writer *w)
{
	if (!w)
		return 0;
	int r = w->failed ? -1 : 0;
	w->io.nerr = 0;
	TIFFClose(w->tif);
	if (r == 0 && (w->io.write_errno || w->io.nerr)) {
		fail(&w->io, "cannot finish the file");
		r = -1;
	}
	if (r == 0 && w->io.in_memory &&
	    fwrite(w->io.mem, 1, w->io.mem_len, w->io.fp) != w->io.mem_len) {
		cnnf_error("%s: write error: %s", w->io.name, strerror(errno));
		r = -1;
	}
	free(w->io.mem);
	free(w);
	return r;
}

void cnnf_tiff_writer_discard(cnnf_tiff_writer *w)
{
	if (!w)
		return;
	/* The message of what went wrong stays: closing a failed writer sets none. */
	w->failed = 1;
	cnnf_tiff_writer_close(w);
}

int cnnf_tiff_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	cnnf_tiff_writer *w = cnnf_tiff_writer_open(fp, name, o);
	if (!w)
		return -1;
	int r = cnnf_tiff_writer_add(w, src, o->meta);
	if (cnnf_tiff_writer_close(w) < 0)
		r = -1;
	return r;
}

const char *cnnf_tiff_version(void)
{
	/* "LIBTIFF, Version 4.5.0\nCopyright ...": the number of the loaded library. */
	static char v[32];
	const char *t = strstr(TIFFGetVersion(), "Version ");
	if (!t)
		return "unknown";
	t += 8;
	size_t n = strcspn(t, " \n");
	snprintf(v, sizeof v, "%.*s", (int)(n < sizeof v ? n : sizeof v - 1), t);
	return v;
}
