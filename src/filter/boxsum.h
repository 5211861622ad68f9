/* boxsum.h: a box filter on 8-bit interleaved samples in integer sums (filter.c's fast path). */
#ifndef CNNF_BOXSUM_H
#define CNNF_BOXSUM_H

#include <stdint.h>

#include "engine/conv.h"
#include "image/image.h"

/*
 * The engine runs a box (all taps equal) over one channel at a time, in
 * float rows and 64-bit sums, which costs about 20 ns a sample. For 8-bit
 * samples at stride 1 and dilation 1 the same exact window sums are made
 * here on the interleaved rows in 32-bit integers (a vertical sum moved
 * down a row at a time, then kw adds a sample across), and each output is
 * looked up in a table the engine itself filled (cnnf_conv_box_table()), so
 * the bits are the engine's, for every border and padding.
 */
typedef struct cnnf_boxsum cnnf_boxsum;

/* Window sums of 8-bit samples reach at most this kh * kw * 255 (the table's size). */
#define CNNF_BOXSUM_MAX_TAPS 4096

/*
 * A box of kh x kw over img (CNNF_U8, any channels) with g's padding and
 * border (stride and dilation 1), giving oh x ow outputs; table holds the
 * output byte of every window sum 0..kh*kw*255 (copied). NULL when out of
 * memory.
 */
cnnf_boxsum *cnnf_boxsum_new(const cnnf_image *img, int kh, int kw, const cnnf_conv_geom *g,
                             int oh, int ow, const uint8_t *table);

/*
 * Output rows y0..y1-1 into rows 0..y1-y0-1 of strip (ow x channels, 8-bit),
 * on `threads` threads; the same bytes for any thread count. 0, or -1 with
 * "out of memory".
 */
int cnnf_boxsum_rows(const cnnf_boxsum *b, int y0, int y1, cnnf_image *strip, int threads);

void cnnf_boxsum_free(cnnf_boxsum *b);

#endif
