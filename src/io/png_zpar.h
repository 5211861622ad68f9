/*
 * png_zpar.h: a PNG's image data (its rows filtered, then one zlib stream) made
 * on several threads, as pigz makes gzip files: the filtered rows are cut into
 * pieces of a fixed number of rows, each piece deflated on its own into a
 * raw deflate stream that ends in a sync flush (the last in a final block),
 * and the pieces joined behind one zlib header, with the Adler-32 of the whole
 * from adler32_combine(). The file is one valid zlib stream that any PNG
 * reader decodes; its bytes depend on the rows only, not on the thread count.
 * Needs zlib only: io_png.c writes each piece as an IDAT chunk.
 */
#ifndef CNNF_PNG_ZPAR_H
#define CNNF_PNG_ZPAR_H

#include <stddef.h>

typedef struct cnnf_zpar cnnf_zpar;

/* Takes the data of one IDAT chunk (len > 0); 0, or -1 with the error set. */
typedef int (*cnnf_zpar_emit)(void *ctx, const unsigned char *data, size_t len);

/*
 * For height rows of rowbytes bytes each (the samples as PNG stores them,
 * 16-bit ones big-endian), bpp bytes a pixel (at least 1): adaptive 1 picks
 * each row's filter as libpng does (the least sum of absolute values, bytes
 * taken as signed), 0 writes every row unfiltered (palettes). threads 0: all
 * cores. NULL with the error naming name when out of memory.
 */
cnnf_zpar *cnnf_zpar_new(size_t rowbytes, int bpp, int adaptive, long height, int threads,
			 const char *name);

/* Where the next row's rowbytes raw bytes go. */
unsigned char *cnnf_zpar_row(cnnf_zpar *z);

/*
 * The row written at cnnf_zpar_row() is complete. When a band of pieces is
 * full, or this was the last row, they are compressed (in parallel) and
 * emitted in order. 0, or -1 with the error set.
 */
int cnnf_zpar_push(cnnf_zpar *z, cnnf_zpar_emit emit, void *ctx);

void cnnf_zpar_free(cnnf_zpar *z);

#endif
