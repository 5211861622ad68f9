/* io.h: reading and writing images; the format dispatch and the per-format readers/writers. */
#ifndef CNNF_IO_H
#define CNNF_IO_H

#include <stdio.h>

#include "image/image.h"
#include "image/meta.h"
#include "io/output.h"

/*
 * The formats. The Netpbm family is one format to the readers (the magic
 * says which kind a file is); as outputs they differ: PNM writes PGM or PPM
 * as the image has 1 or 3 channels, PGM writes gray (colour becomes luma, as
 * ppmtopgm makes it), PPM colour (gray is repeated), PBM one bit a pixel
 * (black below the middle of the scale), PAM any channel count. Only PAM
 * holds alpha (the write option flatten composites it away for the others).
 */
typedef enum cnnf_format {
	CNNF_FORMAT_NONE = 0,
	CNNF_FORMAT_PNG,
	CNNF_FORMAT_JPEG,
	CNNF_FORMAT_PNM,
	CNNF_FORMAT_NPY,
	CNNF_FORMAT_PGM,
	CNNF_FORMAT_PPM,
	CNNF_FORMAT_PBM,
	CNNF_FORMAT_PAM,
	CNNF_FORMAT_TIFF
} cnnf_format;

/* What a decoder warned of while it read a file, or a writer of what it left
   out: the first message and how many. */
typedef struct cnnf_warn {
	char first[200];
	int count;
} cnnf_warn;

typedef struct cnnf_write_opts {
	cnnf_format format; /* NONE: from the output's extension (PNG for "-") */
	int quality;        /* JPEG quality 1..100 */
	/* JPEG chroma subsampling: 444, 422 or 420; 0: by quality, none (4:4:4) at 90 and
	   above, 4:2:0 below, as ImageMagick chooses. Gray JPEGs have no chroma. */
	int subsampling;
	int depth;          /* PNG and TIFF bit depth 8 or 16; 0: the image's own (PNG: 8 for
	                       float; TIFF keeps float32) */
	/* With palette_size > 0, a 1-channel 8-bit image is written to PNG as palette
	   indices into palette (palette_size RGB triples, at most 256); other formats
	   ignore it. */
	const unsigned char *palette;
	int palette_size;
	/* 1: an image with alpha is composited over background (8-bit R, G, B) and written
	   without alpha (cnnf_image_flatten_samples()), in every format. */
	int flatten;
	unsigned char background[3];
	/*
	 * Metadata written with the image (image/meta.h), as much as the format
	 * holds: PNG all of it; JPEG the ICC profile, EXIF, XMP, "Comment" texts
	 * and the resolution; TIFF the ICC profile, XMP, resolution and
	 * orientation; the Netpbm formats and NPY none. NULL: none (--strip).
	 */
	const cnnf_meta *meta;
	/* Where a writer notes metadata it could not write (an EXIF block too big
	   for JPEG), or NULL. */
	cnnf_warn *warn;
} cnnf_write_opts;

/* Defaults: format from the name, quality 90, depth from the image, no metadata. */
void cnnf_io_write_opts_init(cnnf_write_opts *o);

/*
 * Read an image from path ("-" is standard input). The format comes from the
 * first bytes. Images with more than max_pixels pixels (0: no limit) are
 * refused before their samples are allocated. Returns an owned image or NULL
 * with a message naming the file.
 */
cnnf_image *cnnf_io_read(const char *path, unsigned long long max_pixels);

/*
 * An input opened for reading one page at a time: a TIFF file may hold many
 * (a microscopy stack), every other format one. Standard input is read whole
 * into memory first, so it works for every format.
 */
typedef struct cnnf_input cnnf_input;

/*
 * Open path ("-" is standard input) and read what says how many pages it has.
 * Returns an owned input or NULL with a message naming the file.
 */
cnnf_input *cnnf_io_open(const char *path, unsigned long long max_pixels);

/* The number of pages, >= 1. */
int cnnf_input_pages(const cnnf_input *in);

/*
 * The format the input is stored in: for Netpbm files the kind (PBM, PGM,
 * PPM or PAM), so that "-" as an output can write what came in.
 */
cnnf_format cnnf_input_format(const cnnf_input *in);

/* The name for messages: the path, or "stdin". */
const char *cnnf_input_name(const cnnf_input *in);

/*
 * Page page (0-based, as tiffcp, vips and ImageMagick count) as an owned
 * image, or NULL with a message naming the file.
 */
cnnf_image *cnnf_input_read(cnnf_input *in, int page);

/*
 * cnnf_input_read() of page 0 while the caller works: for PNG and JPEG the
 * image comes back once its header is read, its rows decoded by a thread of
 * its own, so that decoding overlaps filtering and encoding on another core.
 * Rows are final only up to what cnnf_input_wait() has waited for; the
 * image must not be freed before cnnf_input_finish() or the close. Other
 * formats, pages and images the reader must finish first (turned upright,
 * with alpha, interlaced) are read whole before it returns. NULL with the
 * message when the header cannot be read.
 */
cnnf_image *cnnf_input_read_async(cnnf_input *in);

/*
 * Block until rows rows of the image cnnf_input_read_async() returned are
 * decoded (at once when it was read whole). 0, or -1 with the decoder's
 * message when decoding failed.
 */
int cnnf_input_wait(cnnf_input *in, int rows);

/* Wait for the decoder to end: 0, or -1 with its message. Nothing to wait for is 0. */
int cnnf_input_finish(cnnf_input *in);

/*
 * What the library said about the file that was not a failure, once for the
 * whole file: "NAME: warning: the first one (and N more)". NULL when nothing
 * was said. Good until the input is closed.
 */
const char *cnnf_input_warning(const cnnf_input *in);

/*
 * Whether JPEG pages are turned upright by their EXIF Orientation when read
 * (on: the default, as vips autorot and convert -auto-orient do), or kept as
 * stored (off: --no-autorotate). Other formats are read as stored.
 */
void cnnf_input_set_autorotate(cnnf_input *in, int on);

/*
 * The EXIF Orientation of the last page read, 1..8 (the EXIF values), or 0
 * when the file has no such tag (every format but JPEG). A malformed EXIF
 * block reads as 1, with a warning (cnnf_input_warning()).
 */
int cnnf_input_orientation(const cnnf_input *in);

/*
 * The metadata of the last page read (image/meta.h), owned by the input and
 * good until the next read or the close: as it describes the pixels handed
 * over (the orientation 1 once they were turned upright). Empty before a
 * read and for formats without any (Netpbm, NPY).
 */
const cnnf_meta *cnnf_input_meta(const cnnf_input *in);

/* Close the input; NULL is a no-op. */
void cnnf_input_close(cnnf_input *in);

/*
 * Write img to path ("-" is standard output) in the format o asks for (o
 * may be NULL for the defaults): cnnf_output_open(), then the image, then
 * cnnf_output_publish(); output.h says how files are replaced (atomically,
 * through links, keeping their mode). On failure path is untouched and
 * nothing is left behind. Returns 0 or -1.
 */
int cnnf_io_write(const cnnf_image *img, const char *path, const cnnf_write_opts *o);

/*
 * cnnf_io_write() for an image handed over a row at a time: the file is
 * written as the rows come, so the whole image never needs to be in memory.
 * When a row cannot be made (row() returns NULL) the write fails like any
 * other, with row()'s message given as the output's ("OUT: message"). A
 * file is then left untouched, but standard output or a pipe may already
 * have part of the image.
 */
int cnnf_io_write_rows(const cnnf_rows *rows, const char *path, const cnnf_write_opts *o);

/*
 * The rows written to an output already open (cnnf_output_open()) in
 * format, which must not be NONE; the caller publishes or discards it, so
 * that commands with several outputs publish them together. Returns 0 or -1.
 */
int cnnf_io_write_to(cnnf_output *out, const cnnf_rows *rows, cnnf_format format,
                     const cnnf_write_opts *o);

/*
 * Something that writes a whole file's contents to fp (name for messages);
 * 0, or -1 with a message. Publishing checks the stream after it.
 */
typedef int (*cnnf_io_writer)(void *ctx, FILE *fp, const char *name);

/*
 * Write the file at path with fn through an output (output.h): used for
 * images and for models. Returns 0 or -1.
 */
int cnnf_io_write_file(const char *path, cnnf_io_writer fn, void *ctx);

/* 1 when the host stores the low byte of a number first (files fix their byte order). */
int cnnf_io_little_endian(void);

/* The format a file name's extension asks for (one of cnnf_io_format_names()), or NONE. */
cnnf_format cnnf_io_format_from_name(const char *path);

/*
 * The format names, as --format takes them and as extensions: "png, jpg,
 * jpeg, ..., tiff", for messages. One table holds them.
 */
const char *cnnf_io_format_names(void);

/* What a format is called in messages: "PNG", "PGM", "TIFF". */
const char *cnnf_io_format_label(cnnf_format f);

/*
 * Whether an output in format f can hold channels channels (alpha: the last
 * one is alpha): PNG 1 to 4 (2 and 4 with alpha), JPEG, PNM, PGM, PPM and
 * PBM 1 or 3 (the last three convert between gray and colour), PAM, TIFF
 * and NPY any.
 */
int cnnf_io_format_holds(cnnf_format f, int channels, int alpha);

/*
 * Several pages written into one output: TIFF only (other formats hold one
 * image). cnnf_io_pages_open() starts on an open output, each
 * cnnf_io_pages_add() writes one page from its rows (with its own metadata), and
 * cnnf_io_pages_close() finishes the file (the caller then publishes the
 * output or, on failure, discards it) and frees the writer. Return 0 or -1
 * with a message naming the output; after a failure only close is called.
 */
typedef struct cnnf_io_pages cnnf_io_pages;
int cnnf_io_pages_open(cnnf_output *out, cnnf_format format, const cnnf_write_opts *o,
                       cnnf_io_pages **pages);
int cnnf_io_pages_add(cnnf_io_pages *pages, const cnnf_rows *rows, const cnnf_meta *meta);
int cnnf_io_pages_close(cnnf_io_pages *pages);
/* Drop the pages unwritten (the caller discards the output); NULL is a no-op. */
void cnnf_io_pages_discard(cnnf_io_pages *pages);

/*
 * The format an output at path is written in: o->format if set (o may be
 * NULL), else the extension's; PNG for "-" and other streams (devices,
 * FIFOs, /dev/stdout) without one. NONE when nothing says.
 */
cnnf_format cnnf_io_format_for(const char *path, const cnnf_write_opts *o);

/* The usual extension of f, without the dot ("png", "jpg", "tif"), or NULL. */
const char *cnnf_io_format_ext(cnnf_format f);

/* A name of cnnf_io_format_names() to its format; -1 with a message for anything else. */
int cnnf_io_format_parse(const char *s, cnnf_format *out);

/* The format the first bytes of a file announce, or NONE. */
cnnf_format cnnf_io_format_sniff(const unsigned char *buf, size_t len);

/*
 * Bytes from fp's position to its end, or -1 when the stream cannot tell (it
 * does not seek; cnnf_io_read() gives readers streams that do). Readers
 * compare it with the data a header promises, so that a short file is
 * refused before memory is allocated for the promise.
 */
long long cnnf_io_remaining(FILE *fp);

/*
 * How a reader hands over an image while it is still decoding it (PNG and
 * JPEG; cnnf_input_read_async()): publish(ctx, img, rows) once rows rows of
 * img are final, img the same pointer every time; published is then 1 and
 * the image is the caller's, even if decoding fails later. A reader that
 * must change the image after its last row (turn it upright, look at the
 * whole alpha channel) publishes it only when it is done.
 */
typedef struct cnnf_progress {
	void (*publish)(void *ctx, cnnf_image *img, int rows);
	void *ctx;
	int published;
} cnnf_progress;

/*
 * Per-format readers and writers (io_png.c, io_jpeg.c, io_pnm.c, io_npy.c).
 * Readers get a stream positioned at the start of the file and the name for
 * messages; they check the header against max_pixels with cnnf_image_check()
 * before allocating, and treat truncated or corrupt data as an error.
 * Writers take the image a row at a time, in order, converting each row to
 * the samples the format stores; they write to fp and check nothing beyond
 * their own calls: cnnf_io_write_rows() flushes and checks the stream. A writer refuses a
 * channel count its format cannot hold, with a message that says so.
 */
cnnf_image *cnnf_png_read(FILE *fp, const char *name, unsigned long long max_pixels);
/*
 * cnnf_png_read, libpng's warnings (a CRC error in an ancillary chunk, say)
 * kept in w, and the file's iCCP, eXIf, text (XMP's iTXt apart) and pHYs in
 * meta (each may be NULL).
 */
cnnf_image *cnnf_png_read_warn(FILE *fp, const char *name, unsigned long long max_pixels,
                               cnnf_warn *w, cnnf_meta *meta);
/* The same, handing rows over as they are made through prog (NULL: at the end). */
cnnf_image *cnnf_png_read_progress(FILE *fp, const char *name, unsigned long long max_pixels,
                                   cnnf_warn *w, cnnf_meta *meta, cnnf_progress *prog);
int cnnf_png_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
/* cnnf_jpeg_read: a JPEG, turned upright by its EXIF Orientation. */
cnnf_image *cnnf_jpeg_read(FILE *fp, const char *name, unsigned long long max_pixels);
/*
 * A JPEG, turned upright by its EXIF Orientation when autorotate is 1, else
 * as stored; the tag's value (0: none) in *orientation, and what was wrong
 * with a malformed EXIF block (then read as orientation 1) in w. meta gets
 * the ICC profile (APP2), EXIF and XMP (APP1), comments (COM, as "Comment"
 * texts) and the JFIF resolution, with the orientation made 1 when the
 * pixels were turned. orientation, w and meta may be NULL.
 */
cnnf_image *cnnf_jpeg_read_exif(FILE *fp, const char *name, unsigned long long max_pixels,
                                int autorotate, int *orientation, cnnf_warn *w,
                                cnnf_meta *meta);
/* The same, handing rows over as they are made through prog (NULL: at the end). */
cnnf_image *cnnf_jpeg_read_progress(FILE *fp, const char *name, unsigned long long max_pixels,
                                    int autorotate, int *orientation, cnnf_warn *w,
                                    cnnf_meta *meta, cnnf_progress *prog);
int cnnf_jpeg_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
cnnf_image *cnnf_pnm_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_pnm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
cnnf_image *cnnf_npy_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_npy_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
/* The Netpbm kinds as outputs (cnnf_format's comment says what each writes). */
int cnnf_pgm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
int cnnf_ppm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
int cnnf_pbm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
int cnnf_pam_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);

/*
 * TIFF (io_tiff.c, the only file that includes <tiffio.h>). cnnf_tiff_read()
 * reads the first page. A cnnf_tiff reads a file page by page: fp must stay
 * open and seekable while it does; libtiff's errors and warnings go to it,
 * not to stderr.
 */
cnnf_image *cnnf_tiff_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_tiff_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
typedef struct cnnf_tiff cnnf_tiff;
cnnf_tiff *cnnf_tiff_open(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_tiff_pages(const cnnf_tiff *t);
/* Page page, its ICC profile, XMP, resolution and Orientation tag in meta (may be NULL). */
cnnf_image *cnnf_tiff_read_page(cnnf_tiff *t, int page, cnnf_meta *meta);
/* The warning line of cnnf_input_warning(), or NULL. */
const char *cnnf_tiff_warning(const cnnf_tiff *t);
void cnnf_tiff_close(cnnf_tiff *t);
/* The writer of several pages behind cnnf_io_pages (fp as the writers get it). */
typedef struct cnnf_tiff_writer cnnf_tiff_writer;
cnnf_tiff_writer *cnnf_tiff_writer_open(FILE *fp, const char *name, const cnnf_write_opts *o);
/* One page, with meta (may be NULL) as its tags. */
int cnnf_tiff_writer_add(cnnf_tiff_writer *w, const cnnf_rows *src, const cnnf_meta *meta);
int cnnf_tiff_writer_close(cnnf_tiff_writer *w);
void cnnf_tiff_writer_discard(cnnf_tiff_writer *w);
/* The loaded libtiff's version number ("4.5.0"). */
const char *cnnf_tiff_version(void);

/*
 * EXIF (io_exif.c). cnnf_exif_is_exif(): whether an APP1 payload (len bytes)
 * is an EXIF block ("Exif\0\0"). cnnf_exif_orientation(): its IFD0
 * Orientation tag, 1..8, or 0 when there is none; a malformed block gives 1
 * with *why saying what is wrong (else *why is NULL). cnnf_exif_swaps():
 * whether an orientation swaps width and height. cnnf_exif_upright(): a new
 * image, src turned upright from the given orientation (anything outside 1..8
 * taken as 1), or NULL with a message naming name.
 */
int cnnf_exif_is_exif(const unsigned char *p, size_t len);
int cnnf_exif_orientation(const unsigned char *p, size_t len, const char **why);
int cnnf_exif_swaps(int orientation);
cnnf_image *cnnf_exif_upright(const cnnf_image *src, int orientation, const char *name);
/*
 * The pixels were turned upright: the Orientation in meta's EXIF (IFD0's tag,
 * written in place) and XMP (tiff:Orientation, as an attribute or an element)
 * made 1, and the resolution's axes swapped when the turn swapped them.
 * Blocks too malformed to find the tag in are left as they are.
 */
void cnnf_exif_meta_upright(cnnf_meta *meta, int orientation);

/* "libpng 1.6.39, zlib 1.2.13, libjpeg-turbo 2.1.5, libtiff 4.5.0" in buf (len bytes); returns buf. */
const char *cnnf_io_versions(char *buf, size_t len);

#endif
