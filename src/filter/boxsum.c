/* boxsum.c: a box filter on 8-bit interleaved samples in exact integer sums, finished by table. */
#include "filter/boxsum.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/parallel.h"
#include "base/simd.h"

struct cnnf_boxsum {
	const cnnf_image *img;
	int kh, kw, oh, ow;
	cnnf_conv_geom g;
	uint8_t *table; /* kh * kw * 255 + 1 bytes */
	int *cols;      /* ow + kw - 1: the input column of each padded column, -1 for zero */
};

cnnf_boxsum *cnnf_boxsum_new(const cnnf_image *img, int kh, int kw, const cnnf_conv_geom *g,
                             int oh, int ow, const uint8_t *table)
{
	cnnf_boxsum *b = calloc(1, sizeof *b);
	size_t entries = (size_t)kh * (size_t)kw * 255 + 1, wp = (size_t)ow + (size_t)kw - 1;
	if (!b || !(b->table = malloc(entries)) || !(b->cols = malloc(sizeof(int) * wp))) {
		cnnf_boxsum_free(b);
		return NULL;
	}
	*b = (cnnf_boxsum){img, kh, kw, oh, ow, *g, b->table, b->cols};
	memcpy(b->table, table, entries);
	for (size_t x = 0; x < wp; x++)
		b->cols[x] = (int)cnnf_conv_border_index((long)x - g->pad_left, img->width, g->border);
	return b;
}

void cnnf_boxsum_free(cnnf_boxsum *b)
{
	if (!b)
		return;
	free(b->table);
	free(b->cols);
	free(b);
}

/* v[i] += row[i] (sign 1) or -= (sign -1) for n samples: the vertical sums moved. */
CNNF_CLONES static void add_row(uint32_t *v, const uint8_t *row, size_t n, int sign)
{
	if (sign > 0)
		for (size_t i = 0; i < n; i++)
			v[i] += row[i];
	else
		for (size_t i = 0; i < n; i++)
			v[i] -= row[i];
}

/*
 * One output row from the vertical sums: the padded row (the border's
 * columns as the engine makes them), then kw sums across and the table.
 */
CNNF_CLONES static void finish(const cnnf_boxsum *b, const uint32_t *v, uint32_t *pad,
                               uint8_t *dst)
{
	size_t c = (size_t)b->img->channels, wp = (size_t)b->ow + (size_t)b->kw - 1;
	for (size_t x = 0; x < wp; x++) {
		int col = b->cols[x];
		if (col < 0)
			memset(pad + x * c, 0, sizeof(uint32_t) * c);
		else
			memcpy(pad + x * c, v + (size_t)col * c, sizeof(uint32_t) * c);
	}
	size_t n = (size_t)b->ow * c;
	const uint8_t *table = b->table;
	if (b->kw == 3) {
		/* The common 3x3 with the taps written out, so that the loop vectorises. */
		for (size_t i = 0; i < n; i++)
			dst[i] = table[pad[i] + pad[i + c] + pad[i + 2 * c]];
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t sum = 0;
		for (int j = 0; j < b->kw; j++)
			sum += pad[i + (size_t)j * c];
		dst[i] = table[sum];
	}
}

typedef struct task {
	const cnnf_boxsum *b;
	int y0;
	cnnf_image *strip;
} task;

/* The input row r's samples, or NULL for a zero row (border zero outside the image). */
static const uint8_t *in_row(const cnnf_boxsum *b, long r)
{
	long src = cnnf_conv_border_index(r, b->img->height, b->g.border);
	if (src < 0)
		return NULL;
	return (const uint8_t *)b->img->data + (size_t)src * b->img->width * b->img->channels;
}

/* Output rows y0 + begin .. y0 + end - 1: the vertical sums made once, then moved a row at a time. */
static int rows_work(void *ctx, size_t begin, size_t end)
{
	const task *t = ctx;
	const cnnf_boxsum *b = t->b;
	size_t c = (size_t)b->img->channels, n = (size_t)b->img->width * c;
	size_t wp = (size_t)b->ow + (size_t)b->kw - 1;
	uint32_t *v = calloc(n, sizeof *v), *pad = malloc(sizeof *pad * wp * c);
	if (!v || !pad) {
		free(v);
		free(pad);
		return -1;
	}
	for (size_t i = begin; i < end; i++) {
		long y = t->y0 + (long)i, top = y - b->g.pad_top;
		if (i == begin) {
			for (int k = 0; k < b->kh; k++) {
				const uint8_t *r = in_row(b, top + k);
				if (r)
					add_row(v, r, n, 1);
			}
		} else {
			const uint8_t *gone = in_row(b, top - 1), *come = in_row(b, top + b->kh - 1);
			if (gone)
				add_row(v, gone, n, -1);
			if (come)
				add_row(v, come, n, 1);
		}
		finish(b, v, pad, cnnf_image_row(t->strip, (int)i));
	}
	free(v);
	free(pad);
	return 0;
}

int cnnf_boxsum_rows(const cnnf_boxsum *b, int y0, int y1, cnnf_image *strip, int threads)
{
	task t = {b, y0, strip};
	if (cnnf_parallel_for((size_t)(y1 - y0), threads, rows_work, &t) < 0) {
		cnnf_error("out of memory");
		return -1;
	}
	return 0;
}
