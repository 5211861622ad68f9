/* png_zpar.c: PNG image data deflated on several threads; see png_zpar.h. */
#include "io/png_zpar.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/error.h"
#include "base/parallel.h"

/*
 * About this many filtered bytes a piece: large enough that the deflate
 * window restarting at each piece costs a fraction of a percent, small
 * enough that two threads have pieces to share on a small image.
 */
#define PIECE_BYTES (512 * 1024)
/* Pieces compressed at a time: a few a thread, so that they balance. */
#define BAND_PIECES 8

typedef struct piece {
	unsigned char *out; /* 2 bytes of room for the zlib header, deflated bytes, 4 for the tail */
	size_t cap, len;
	uLong adler;        /* of the filtered bytes */
	size_t raw;         /* filtered bytes */
} piece;

struct cnnf_zpar {
	size_t rowbytes;
	int bpp, adaptive, threads;
	long height, rows_done; /* rows pushed so far */
	long piece_rows;        /* rows a piece */
	long band_rows;         /* rows the band holds: piece_rows * BAND_PIECES */
	long band_first;        /* the image row of the band's first row */
	unsigned char *band;    /* band_rows raw rows, after one row of the row above them */
	unsigned char *filt;    /* a piece's filtered rows, one a worker */
	unsigned char *scratch; /* 4 rows a worker: the candidate filters */
	piece pieces[BAND_PIECES];
	uLong adler;            /* of everything emitted so far */
	const char *name;
	int started;            /* the zlib header has gone out */
};

cnnf_zpar *cnnf_zpar_new(size_t rowbytes, int bpp, int adaptive, long height, int threads,
			 const char *name)
{
	cnnf_zpar *z = calloc(1, sizeof *z);
	if (!z)
		goto oom;
	z->rowbytes = rowbytes;
	z->bpp = bpp < 1 ? 1 : bpp;
	z->adaptive = adaptive;
	z->height = height;
	z->threads = cnnf_parallel_threads(threads);
	if (z->threads > BAND_PIECES)
		z->threads = BAND_PIECES;
	z->name = name;
	z->adler = adler32(0L, Z_NULL, 0);
	/* The filter byte too: a piece holds piece_rows * (rowbytes + 1) filtered bytes. */
	size_t fr = rowbytes + 1;
	z->piece_rows = (long)(PIECE_BYTES / fr);
	if (z->piece_rows < 1)
		z->piece_rows = 1;
	if (z->piece_rows > height)
		z->piece_rows = height;
	z->band_rows = z->piece_rows * BAND_PIECES;
	if (z->band_rows > height)
		z->band_rows = height;
	/* rowbytes is a PNG row (below 2^31 * 8 bytes); the products are checked anyway. */
	if (fr > SIZE_MAX / (size_t)(z->band_rows + 1) ||
	    fr * (size_t)z->piece_rows > SIZE_MAX / (size_t)z->threads)
		goto oom;
	z->band = calloc((size_t)(z->band_rows + 1), rowbytes ? rowbytes : 1);
	z->filt = malloc(fr * (size_t)z->piece_rows * (size_t)z->threads);
	if ((size_t)z->threads > SIZE_MAX / 4 / (rowbytes ? rowbytes : 1))
		goto oom;
	z->scratch = malloc(4 * (rowbytes ? rowbytes : 1) * (size_t)z->threads);
	if (!z->band || !z->filt || !z->scratch)
		goto oom;
	for (int i = 0; i < BAND_PIECES; i++) {
		z->pieces[i].cap = deflateBound(NULL, (uLong)(fr * (size_t)z->piece_rows)) + 16;
		if (!(z->pieces[i].out = malloc(z->pieces[i].cap + 6)))
			goto oom;
	}
	return z;
oom:
	cnnf_error("%s: out of memory", name);
	cnnf_zpar_free(z);
	return NULL;
}

void cnnf_zpar_free(cnnf_zpar *z)
{
	if (!z)
		return;
	for (int i = 0; i < BAND_PIECES; i++)
		free(z->pieces[i].out);
	free(z->band);
	free(z->filt);
	free(z->scratch);
	free(z);
}

unsigned char *cnnf_zpar_row(cnnf_zpar *z)
{
	return z->band + (size_t)(z->rows_done - z->band_first + 1) * z->rowbytes;
}

/*
 * Row cur (prev above it, zeros above the first) through filter f into dst.
 * One loop a filter, each reading only the raw rows, so that each vectorises.
 */
static void filter_into(int f, const unsigned char *cur, const unsigned char *prev, size_t n,
			size_t bpp, unsigned char *dst)
{
	size_t i;
	switch (f) {
	case 1: /* sub */
		for (i = 0; i < bpp && i < n; i++)
			dst[i] = cur[i];
		for (; i < n; i++)
			dst[i] = (unsigned char)(cur[i] - cur[i - bpp]);
		break;
	case 2: /* up */
		for (i = 0; i < n; i++)
			dst[i] = (unsigned char)(cur[i] - prev[i]);
		break;
	case 3: /* average */
		for (i = 0; i < bpp && i < n; i++)
			dst[i] = (unsigned char)(cur[i] - (prev[i] >> 1));
		for (; i < n; i++)
			dst[i] = (unsigned char)(cur[i] - ((cur[i - bpp] + prev[i]) >> 1));
		break;
	case 4: /* Paeth: p = a + b - c, so |p - a| = |b - c| and so on */
		for (i = 0; i < bpp && i < n; i++)
			dst[i] = (unsigned char)(cur[i] - prev[i]); /* a = c = 0: b */
		for (; i < n; i++) {
			int a = cur[i - bpp], b = prev[i], c = prev[i - bpp];
			int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
			int pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
			dst[i] = (unsigned char)(cur[i] - pred);
		}
		break;
	default:
		memcpy(dst, cur, n);
		break;
	}
}

/* The sum of the bytes of row taken as signed values, in absolute value. */
static unsigned long signed_sum(const unsigned char *row, size_t n)
{
	unsigned long sum = 0;
	for (size_t i = 0; i < n; i++) {
		int v = (signed char)row[i];
		sum += (unsigned long)(v < 0 ? -v : v);
	}
	return sum;
}

/*
 * Filter row cur into out: the filter byte, then the row. Adaptive: the
 * filter whose bytes, taken as signed, sum least in absolute value
 * (libpng's heuristic; the first on ties); scratch holds 4 rows.
 */
static void filter_row(const cnnf_zpar *z, const unsigned char *cur, const unsigned char *prev,
		       unsigned char *scratch, unsigned char *out)
{
	size_t n = z->rowbytes, bpp = (size_t)z->bpp;
	if (!z->adaptive) {
		out[0] = 0;
		memcpy(out + 1, cur, n);
		return;
	}
	int best = 0;
	unsigned long best_sum = signed_sum(cur, n);
	for (int f = 1; f < 5; f++) {
		unsigned char *dst = scratch + (size_t)(f - 1) * n;
		filter_into(f, cur, prev, n, bpp, dst);
		unsigned long sum = signed_sum(dst, n);
		if (sum < best_sum) {
			best_sum = sum;
			best = f;
		}
	}
	out[0] = (unsigned char)best;
	memcpy(out + 1, best ? scratch + (size_t)(best - 1) * n : cur, n);
}

typedef struct band_job {
	cnnf_zpar *z;
	long rows; /* rows in the band */
	int last;  /* the band ends the image */
} band_job;

/* Pieces [begin, end) of the band: filtered, deflated, summed. */
static int compress_pieces(void *ctx, int worker, size_t begin, size_t end)
{
	band_job *j = ctx;
	cnnf_zpar *z = j->z;
	size_t fr = z->rowbytes + 1;
	unsigned char *filt = z->filt + (size_t)worker * fr * (size_t)z->piece_rows;
	unsigned char *scratch = z->scratch + (size_t)worker * 4 * z->rowbytes;
	for (size_t p = begin; p < end; p++) {
		long r0 = (long)p * z->piece_rows, r1 = r0 + z->piece_rows;
		if (r1 > j->rows)
			r1 = j->rows;
		piece *pc = &z->pieces[p];
		pc->len = 0;
		pc->raw = 0;
		if (r0 >= r1)
			continue;
		for (long r = r0; r < r1; r++) {
			const unsigned char *cur = z->band + (size_t)(r + 1) * z->rowbytes;
			filter_row(z, cur, cur - z->rowbytes, scratch, filt + (size_t)(r - r0) * fr);
		}
		pc->raw = (size_t)(r1 - r0) * fr;
		pc->adler = adler32(adler32(0L, Z_NULL, 0), filt, (uInt)pc->raw);
		z_stream s;
		memset(&s, 0, sizeof s);
		/*
		 * zlib's run-length strategy after the filters: on photos within a
		 * few percent of the default strategy's size (often smaller), 4 to 6
		 * times as fast; and, since it only looks one byte back, cutting the
		 * stream into pieces costs it next to nothing.
		 */
		if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK)
			return -1;
		s.next_in = filt;
		s.avail_in = (uInt)pc->raw;
		s.next_out = pc->out + 2;
		s.avail_out = (uInt)pc->cap;
		int final = j->last && r1 == j->rows;
		int rc = deflate(&s, final ? Z_FINISH : Z_SYNC_FLUSH);
		pc->len = pc->cap - s.avail_out;
		deflateEnd(&s);
		/* deflateBound() leaves room for it all: anything else is zlib failing. */
		if (rc != (final ? Z_STREAM_END : Z_OK) || s.avail_in)
			return -1;
	}
	return 0;
}

int cnnf_zpar_push(cnnf_zpar *z, cnnf_zpar_emit emit, void *ctx)
{
	z->rows_done++;
	long rows = z->rows_done - z->band_first;
	int last = z->rows_done == z->height;
	if (rows < z->band_rows && !last)
		return 0;
	band_job j = {z, rows, last};
	size_t npieces = (size_t)((rows + z->piece_rows - 1) / z->piece_rows);
	if (cnnf_parallel_for_workers(npieces, z->threads, compress_pieces, &j) < 0) {
		cnnf_error("%s: out of memory compressing the image data", z->name);
		return -1;
	}
	/*
	 * One IDAT a piece, the zlib header before the first, the Adler-32 of the
	 * whole after the last: the file's bytes do not depend on the band or
	 * thread count.
	 */
	for (size_t p = 0; p < npieces; p++) {
		piece *pc = &z->pieces[p];
		unsigned char *data = pc->out + 2;
		size_t len = pc->len;
		if (!z->started) {
			/* CMF 0x78 (deflate, 32K window), FLG 0x9c: the default level, no dictionary. */
			data -= 2;
			data[0] = 0x78;
			data[1] = 0x9c;
			len += 2;
			z->started = 1;
		}
		z->adler = adler32_combine(z->adler, pc->adler, (z_off_t)pc->raw);
		if (last && p == npieces - 1) {
			unsigned char *t = data + len;
			t[0] = (unsigned char)(z->adler >> 24);
			t[1] = (unsigned char)(z->adler >> 16);
			t[2] = (unsigned char)(z->adler >> 8);
			t[3] = (unsigned char)z->adler;
			len += 4;
		}
		if (emit(ctx, data, len) < 0)
			return -1;
	}
	if (last)
		return 0;
	/* The band's last row stays above the next band's first, for the filters. */
	memcpy(z->band, z->band + (size_t)rows * z->rowbytes, z->rowbytes);
	z->band_first = z->rows_done;
	return 0;
}
