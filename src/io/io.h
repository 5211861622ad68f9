/* io.h: reading and writing images; the format dispatch and the per-format readers/writers. */
#ifndef CNNF_IO_H
#define CNNF_IO_H

#include <stdio.h>

#include "image/image.h"
#include "io/output.h"

typedef enum cnnf_format {
	CNNF_FORMAT_NONE = 0,
	CNNF_FORMAT_PNG,
	CNNF_FORMAT_JPEG,
	CNNF_FORMAT_PNM,
	CNNF_FORMAT_NPY
} cnnf_format;

typedef struct cnnf_write_opts {
	cnnf_format format; /* NONE: from the output's extension (PNG for "-") */
	int quality;        /* JPEG quality 1..100 */
	int depth;          /* PNG bit depth 8 or 16; 0: the image's own (8 for float) */
	/* With palette_size > 0, a 1-channel 8-bit image is written to PNG as palette
	   indices into palette (palette_size RGB triples, at most 256); other formats
	   ignore it. */
	const unsigned char *palette;
	int palette_size;
	/* 1: an image with alpha is composited over background (8-bit R, G, B) and written
	   without alpha (cnnf_image_flatten_samples()), in every format. */
	int flatten;
	unsigned char background[3];
} cnnf_write_opts;

/* Defaults: format from the name, quality 90, depth from the image. */
void cnnf_io_write_opts_init(cnnf_write_opts *o);

/*
 * Read an image from path ("-" is standard input). The format comes from the
 * first bytes. Images with more than max_pixels pixels (0: no limit) are
 * refused before their samples are allocated. Returns an owned image or NULL
 * with a message naming the file.
 */
cnnf_image *cnnf_io_read(const char *path, unsigned long long max_pixels);

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

/* The format a file name's extension asks for (.png .jpg .jpeg .pnm .pgm .ppm .npy), or NONE. */
cnnf_format cnnf_io_format_from_name(const char *path);

/*
 * The format an output at path is written in: o->format if set (o may be
 * NULL), else the extension's; PNG for "-" and other streams (devices,
 * FIFOs, /dev/stdout) without one. NONE when nothing says.
 */
cnnf_format cnnf_io_format_for(const char *path, const cnnf_write_opts *o);

/* "png", "jpeg" (or "jpg"), "pnm", "npy" to a format; -1 for anything else. */
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
int cnnf_png_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
cnnf_image *cnnf_jpeg_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_jpeg_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
cnnf_image *cnnf_pnm_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_pnm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
cnnf_image *cnnf_npy_read(FILE *fp, const char *name, unsigned long long max_pixels);
int cnnf_npy_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);

/* "libpng 1.6.39, zlib 1.2.13, libjpeg-turbo 2.1.5" in buf (len bytes); returns buf. */
const char *cnnf_io_versions(char *buf, size_t len);

#endif
