/*
 * layer.c: times one ConvNet layer on cnnf's engine: a 3x3 convolution of
 * 32 -> 32 channels on a 32 x 256 x 256 map, zero padding 1 (the output is
 * 32 x 256 x 256), through cnnf_conv_apply.
 *
 *     cc -O2 -Isrc bench/layer.c src/libcnnf.a -lpng -ljpeg -lm -pthread -o layer
 *     ./layer [THREADS [RUNS]]        (defaults 2 and 5)
 *
 * Prints "KEY VALUE" lines: the best time of RUNS calls in seconds and the
 * GFLOP/s it gives, counting 2 * 32 * 32 * 9 * 256 * 256 flops (a
 * multiply and an add per tap; the bias is not counted).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/conv.h"
#include "base/error.h"
#include "engine/kernel.h"
#include "engine/tensor.h"

#define CH 32
#define SIDE 256
#define K 3

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* A fixed pseudo-random sequence (xorshift), uniform in [-1, 1). */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static double rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / (double)(1ULL << 52) - 1.0;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	if (threads < 0 || runs < 1) {
		fprintf(stderr, "usage: layer [THREADS [RUNS]]\n");
		return 2;
	}
	cnnf_tensor *in = cnnf_tensor_new(CH, SIDE, SIDE);
	cnnf_kernel *k = cnnf_kernel_new(CH, CH, K, K);
	if (!in || !k) {
		fprintf(stderr, "layer: %s\n", cnnf_error_get());
		return 1;
	}
	size_t n = cnnf_tensor_size(in);
	for (size_t i = 0; i < n; i++)
		in->data[i] = (float)rnd();
	/* Weights as a trained float32 layer has them: float32 values, 1/sqrt(fan-in) in size. */
	for (size_t i = 0; i < (size_t)CH * CH * K * K; i++)
		k->weights[i] = (float)(rnd() / 17.0);
	for (int f = 0; f < CH; f++)
		k->bias[f] = (float)(rnd() / 17.0);

	cnnf_conv_geom g = {
		.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
		.stride_y = 1, .stride_x = 1, .dil_y = 1, .dil_x = 1,
		.border = CNNF_BORDER_ZERO,
	};
	/* A network layer: float accumulation, as cnnf's forward pass runs it (net.c). */
	cnnf_conv_out post = {.fast = 1};
	double best = 1e30, checksum = 0;
	for (int r = 0; r < runs; r++) {
		cnnf_tensor *out = NULL;
		double t0 = now();
		if (cnnf_conv_apply(in, k, &g, &post, threads, "layer", &out) != 0) {
			fprintf(stderr, "layer: %s\n", cnnf_error_get());
			return 1;
		}
		double t = now() - t0;
		if (t < best)
			best = t;
		if (out->c != CH || out->h != SIDE || out->w != SIDE) {
			fprintf(stderr, "layer: output is %dx%dx%d, not %dx%dx%d\n", out->c, out->h,
				out->w, CH, SIDE, SIDE);
			return 1;
		}
		checksum = 0;
		for (size_t i = 0; i < cnnf_tensor_size(out); i += 997)
			checksum += out->data[i];
		cnnf_tensor_free(out);
	}
	double flops = 2.0 * CH * CH * K * K * SIDE * SIDE;
	printf("layer_seconds %.6f\n", best);
	printf("layer_gflops %.2f\n", flops / best / 1e9);
	printf("layer_threads %d\n", threads);
	printf("layer_checksum %.6g\n", checksum);
	cnnf_kernel_free(k);
	cnnf_tensor_free(in);
	return 0;
}
