/* io_png_hooks.h: the libpng callbacks cnnf's PNG readers share (io_png.c, labels.c). */
#ifndef CNNF_IO_PNG_HOOKS_H
#define CNNF_IO_PNG_HOOKS_H

#include <png.h>
#include <stdio.h>

/* What libpng's callbacks get back through their io and error pointers. */
typedef struct cnnf_png_io {
	FILE *fp;
	const char *name; /* the file, for messages */
	int told;         /* the message is already in cnnf_error(): keep it */
	struct cnnf_warn *warn; /* where warnings are kept, or NULL */
} cnnf_png_io;

/* Error handler: set "NAME: libpng's message" unless one is set, and unwind. */
void cnnf_png_on_error(png_structp png, png_const_charp msg);

/*
 * Warning handler: kept in io->warn when there is one, for the caller to
 * show once a file. Warnings are not failures (libpng already turns damage to
 * the image data into errors), and library code does not print.
 */
void cnnf_png_on_warning(png_structp png, png_const_charp msg);

/* Fail with a message already set: the error handler keeps it and unwinds. */
_Noreturn void cnnf_png_fail(png_structp png);

/*
 * The limits every PNG is read under: no pixel limit from libpng (callers
 * check theirs with a clearer message), and no ancillary chunk (eXIf, iCCP,
 * text, inflated or not) above CNNF_META_MAX_BLOCK: libpng otherwise
 * allocates whatever length a chunk declares, 2 GB for a 2 KB file. eXIf
 * is kept as an unknown chunk (png_get_unknown_chunks()).
 */
void cnnf_png_read_limits(png_structp png);

/*
 * Walk the chunk headers of the PNG at fp's position (left there again): a
 * chunk that declares more bytes than the file has left is refused before
 * libpng sees it ("truncated file"), since libpng 1.6.39 allocates and
 * clears what a text chunk declares after only a warning (1.2 GB for a 2 KB
 * file). A stream that cannot tell its size is not walked. *after_idat (may
 * be NULL) is 1 when a chunk other than IEND follows the image data, or the
 * file was not walked. 0, or -1 with the message naming name.
 */
int cnnf_png_check_chunks(FILE *fp, const char *name, int *after_idat);

/* Read callback that tells a short file ("truncated file") from a read error. */
void cnnf_png_read_data(png_structp png, png_bytep data, size_t len);

#endif
