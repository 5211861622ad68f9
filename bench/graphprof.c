/*
 * graphprof.c: where an ONNX model's run spends its time, operator by
 * operator, on cnnf's graph executor.
 *
 *     cc -O2 -Isrc bench/graphprof.c src/libcnnf.a -lpng -ljpeg -lm -pthread -o graphprof
 *     ./graphprof MODEL.onnx [SIZE [THREADS [RUNS]]]     (defaults 512, 2, 5)
 *
 * The model's first input is prepared as 1 x C x SIZE x SIZE (C from its
 * declared shape, else 3) and filled with a fixed pseudo-random sequence;
 * the graph runs RUNS times. Each node's forward is timed by swapping its
 * operator row for a copy whose forward calls the real one between two
 * clock readings. Prints, per operator type, the time of the first run
 * (which pays for the first touch of every page its outputs get) and of the
 * best run, and the totals; then the ten slowest nodes of the best run.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "nn/graph.h"
#include "nn/onnx.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The node being timed and its real operator: forward gets n, so a table finds the row. */
static int nnode;
static cnnf_node *nodes;
static const cnnf_op **real;
static cnnf_op *timed;
static double *cur;

static int timed_forward(cnnf_graph *g, cnnf_node *n, cnnf_value *const *in,
			 cnnf_value *const *out, int threads)
{
	int i = (int)(n - nodes);
	double t0 = now();
	int rc = real[i]->forward(g, n, in, out, threads);
	cur[i] += now() - t0;
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: graphprof MODEL.onnx [SIZE [THREADS [RUNS]]]\n");
		return 2;
	}
	int size = argc > 2 ? atoi(argv[2]) : 512;
	int threads = argc > 3 ? atoi(argv[3]) : 2;
	int runs = argc > 4 ? atoi(argv[4]) : 5;
	cnnf_graph *g;
	if (cnnf_onnx_load(argv[1], NULL, &g)) {
		fprintf(stderr, "graphprof: %s\n", cnnf_error_get());
		return 1;
	}
	g->threads = threads;
	int ch = g->in_ndim[0] == 4 && g->in_dim[0][1] > 0 ? (int)g->in_dim[0][1] : 3;
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{1, ch, size, size}};
	if (cnnf_graph_prepare(g, &nd, shape, NULL)) {
		fprintf(stderr, "graphprof: %s\n", cnnf_error_get());
		return 1;
	}
	size_t count = (size_t)ch * size * size;
	float *x = malloc(sizeof(float) * count);
	unsigned long long s = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < count; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		x[i] = (float)((double)(s >> 11) / (double)(1ULL << 53));
	}
	nnode = g->nnode;
	nodes = g->node;
	real = calloc((size_t)nnode, sizeof *real);
	timed = calloc((size_t)nnode, sizeof *timed);
	cur = calloc((size_t)nnode, sizeof *cur);
	double *first = calloc((size_t)nnode, sizeof *first), *best = calloc((size_t)nnode, sizeof *best);
	for (int i = 0; i < nnode; i++) {
		real[i] = nodes[i].op;
		timed[i] = *real[i];
		timed[i].forward = timed_forward;
		nodes[i].op = &timed[i];
	}
	double tfirst = 0, tbest = 0;
	for (int r = 0; r < runs; r++) {
		memset(cur, 0, sizeof(double) * (size_t)nnode);
		void *out[16] = {0};
		const void *in[1] = {x};
		double t0 = now();
		if (cnnf_graph_run(g, in, out)) {
			fprintf(stderr, "graphprof: %s\n", cnnf_error_get());
			return 1;
		}
		double t = now() - t0;
		for (int i = 0; i < g->nout && i < 16; i++)
			free(out[i]);
		if (r == 0) {
			tfirst = t;
			memcpy(first, cur, sizeof(double) * (size_t)nnode);
		}
		if (r == 0 || t < tbest) {
			tbest = t;
			memcpy(best, cur, sizeof(double) * (size_t)nnode);
		}
	}
	printf("%-16s %5s %10s %10s\n", "op", "nodes", "first ms", "best ms");
	double sf = 0, sb = 0;
	for (int i = 0; i < nnode; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= strcmp(nodes[j].op_type, nodes[i].op_type) == 0;
		if (seen)
			continue;
		double f = 0, b = 0;
		int c = 0;
		for (int j = i; j < nnode; j++)
			if (strcmp(nodes[j].op_type, nodes[i].op_type) == 0)
				f += first[j], b += best[j], c++;
		sf += f, sb += b;
		printf("%-16s %5d %10.2f %10.2f\n", nodes[i].op_type, c, 1e3 * f, 1e3 * b);
	}
	printf("%-16s %5s %10.2f %10.2f\n", "ops together", "", 1e3 * sf, 1e3 * sb);
	printf("%-16s %5s %10.2f %10.2f\n", "whole run", "", 1e3 * tfirst, 1e3 * tbest);
	printf("\nslowest nodes (best run):\n");
	for (int k = 0; k < 10 && k < nnode; k++) {
		int m = -1;
		for (int i = 0; i < nnode; i++)
			if (best[i] >= 0 && (m < 0 || best[i] > best[m]))
				m = i;
		if (m < 0)
			break;
		const cnnf_value *y = cnnf_node_out(g, &nodes[m], 0);
		char buf[96];
		printf("%8.2f ms  %-14s %-24s -> %s\n", 1e3 * best[m], nodes[m].op_type,
		       nodes[m].name, y ? cnnf_graph_shape_str(buf, sizeof buf, y->ndim, y->dim) : "");
		best[m] = -1;
	}
	for (int i = 0; i < nnode; i++)
		nodes[i].op = real[i];
	cnnf_graph_free(g);
	free(x), free(real), free(timed), free(cur), free(first), free(best);
	return 0;
}
