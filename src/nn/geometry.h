/* geometry.h: where the values of a graph lie on its image input's grid: scales, receptive field, tiles. */
#ifndef CNNF_GEOMETRY_H
#define CNNF_GEOMETRY_H

#include <stdint.h>

#include "nn/graph.h"

/*
 * The contract. A graph prepared for one image input (1 x C x H x W) is
 * looked at along its two spatial axes (0: rows, 1: columns), through the
 * nodes that lead to output 0 (the others are not looked at). A value "on
 * the grid" is 4-d, made from the image, with pixel t of it at t * num /
 * den input pixels: its scale num/den (in lowest terms) is 1/4 after two
 * pools of stride 2, 2 after an upsampling by 2.
 *
 * Each operator on the way maps the rows of its output to the rows of its
 * inputs it reads (one row of a table per op type, from its attributes
 * and the prepared shapes). From that: the input interval an interval of
 * output rows depends on (cnnf_geometry_need), the receptive field, and
 * whether the graph can run in tiles at all. A tile whose origin is a
 * multiple of cnnf_geometry_align and whose input covers what the output
 * rows kept need gives those rows exactly as the whole image does, when
 * every operator's arithmetic depends only on relative positions; an
 * operator whose mapping changes with the size (SAME padding with a
 * stride, sizes computed from the image) is caught by comparing the
 * geometry of the tile's preparation with the whole image's
 * (cnnf_geometry_same), and cnnf_geometry_covers checks every value in
 * between, not only the input.
 * The geometry keeps what it needs of the whole image's preparation (the
 * sizes of its values), so that the graph can be prepared for tiles next.
 */

typedef struct cnnf_geometry cnnf_geometry;

/*
 * The geometry of prepared graph g (its input 0 the image). NULL with a
 * message only when out of memory; a graph that cannot be tiled gives a
 * geometry that says why (cnnf_geometry_tileable). g must stay prepared
 * for these shapes while the geometry is used with it.
 */
cnnf_geometry *cnnf_geometry_new(const cnnf_graph *g);
void cnnf_geometry_free(cnnf_geometry *geo);

/*
 * 1 when the graph can run in tiles; else 0, and *why (may be NULL)
 * receives "node 'NAME' (OpType) ..." saying what prevents it.
 */
int cnnf_geometry_tileable(const cnnf_geometry *geo, const char **why);

/* Value v's scale along axis (output pixels per input pixel num/den); 0/0 off the grid. */
void cnnf_geometry_scale(const cnnf_geometry *geo, int v, int axis, int64_t *num, int64_t *den);

/* The input pixels tile origins along axis must be multiples of (the total stride). */
int64_t cnnf_geometry_align(const cnnf_geometry *geo, int axis);

/*
 * Output 0's receptive field along axis: the most input pixels one output
 * pixel depends on (positions beyond the image counted), or -1 when the
 * graph is not tileable (then an output pixel may depend on all of them).
 */
int64_t cnnf_geometry_field(const cnnf_geometry *geo, int axis);

/*
 * The input rows [*lo, *hi] (of the whole image's numbering; they may
 * reach beyond it) that output 0's rows a..b along axis depend on. It also
 * records what every value in between must hold, for cnnf_geometry_covers.
 * 0, or -1 when the graph is not tileable (with a message).
 */
int cnnf_geometry_need(cnnf_geometry *geo, int axis, int64_t a, int64_t b, int64_t *lo,
		       int64_t *hi);

/*
 * Whether tile, the same graph prepared for a tile whose input starts at
 * input row x0 along axis, holds every row the last cnnf_geometry_need
 * along that axis asked of each value, with the image's edges where the
 * whole image has them. 0, or -1 with a message naming the value.
 */
int cnnf_geometry_covers(const cnnf_geometry *geo, const cnnf_graph *tile, int axis, int64_t x0);

/*
 * 0 when b (the geometry of a tile's preparation) maps every node as a
 * does; -1 with a message naming the first node that differs.
 */
int cnnf_geometry_same(const cnnf_geometry *a, const cnnf_geometry *b);

#endif
