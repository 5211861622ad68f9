/* graph_mem.h: the memory of a graph's runs (graph.c's own: operators do not use it). */
#ifndef CNNF_GRAPH_MEM_H
#define CNNF_GRAPH_MEM_H

#include <stddef.h>

#include "nn/graph.h"

/*
 * The contract. Values a run makes live in one arena whose layout is
 * planned when the graph is prepared (cnnf_graph_mem_plan) and allocated at
 * the first run; the others (graph outputs, handed to the caller) come from
 * a pool of buffers reused by size. Both are the graph's own, so graphs run
 * by different threads share nothing; cnnf_graph_mem_free gives them back.
 */

/* Place every value a run makes that is not an output (v->in_arena, v->arena_off). 0 or -1. */
int cnnf_graph_mem_plan(cnnf_graph *g);
/* Allocate the planned arena if not yet done. 0, or -1 with "out of memory". */
int cnnf_graph_mem_arena(cnnf_graph *g);
/* Where value v (in_arena) lives in the arena. */
void *cnnf_graph_mem_at(const cnnf_graph *g, const cnnf_value *v);

/* A buffer of size bytes from the pool (NULL when out of memory). */
void *cnnf_graph_mem_get(cnnf_graph *g, size_t size);
/* A buffer a value is done with: back to the pool, or freed when not pooled. */
void cnnf_graph_mem_put(cnnf_graph *g, void *p);
/* A buffer handed to the caller, who frees it: the pool lets it go. */
void cnnf_graph_mem_take(cnnf_graph *g, void *p);
/* A value the run is done with: its data released (left in the arena, or put back). */
void cnnf_graph_mem_release(cnnf_graph *g, cnnf_value *v);
/* Free the arena and the pool. */
void cnnf_graph_mem_free(cnnf_graph *g);

#endif
