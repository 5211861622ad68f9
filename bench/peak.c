/*
 * peak.c: this CPU's peak single-precision FLOP/s on THREADS threads, measured.
 *
 *     cc -O2 bench/peak.c -o peak -pthread && ./peak [THREADS]
 *
 * Every thread runs a loop of fused multiply-adds (a = a * b + c) on many
 * independent vector accumulators, enough to cover the FMA latency on every
 * FMA port, so that the loop is bound by FMA throughput alone. Each ISA the
 * CPU has is measured (AVX-512F, AVX2+FMA, SSE with separate multiply and
 * add), best of RUNS runs of about 0.1 s (short runs, many of them, so that
 * the best is one that nothing else on the machine disturbed); the peak is
 * the fastest ISA.
 * An FMA counts as 2 flops. Output, one "KEY VALUE" pair a line:
 *
 *     gflops_avx512 131.2
 *     gflops_avx2 70.1
 *     gflops_sse 35.0
 *     peak_gflops 131.2
 *     peak_isa avx512
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* 16 accumulators: 4 cycles of latency times 2 ports leaves twice the margin. */
#define NACC 16
#define REP16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
		 X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* The result is summed and returned so that the loop cannot be dropped. */
__attribute__((target("avx512f"))) static float kern_avx512(long iters)
{
	const __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 a##i = _mm512_set1_ps((float)(i));
	REP16(DECL)
#undef DECL
	for (long n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, b, c);
		REP16(STEP)
#undef STEP
		__asm__ volatile("" ::: "memory");
	}
	__m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, a##i);
	REP16(SUM)
#undef SUM
	float out[16];
	_mm512_storeu_ps(out, s);
	return out[0] + out[15];
}

__attribute__((target("avx2,fma"))) static float kern_avx2(long iters)
{
	const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 a##i = _mm256_set1_ps((float)(i));
	REP16(DECL)
#undef DECL
	for (long n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, b, c);
		REP16(STEP)
#undef STEP
		__asm__ volatile("" ::: "memory");
	}
	__m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, a##i);
	REP16(SUM)
#undef SUM
	float out[8];
	_mm256_storeu_ps(out, s);
	return out[0] + out[7];
}

/* SSE has no FMA: a multiply and an add, 2 flops, on separate ports. */
static float kern_sse(long iters)
{
	const __m128 b = _mm_set1_ps(0.9999999f), c = _mm_set1_ps(1e-7f);
#define DECL(i) __m128 a##i = _mm_set1_ps((float)(i));
	REP16(DECL)
#undef DECL
	for (long n = 0; n < iters; n++) {
#define STEP(i) a##i = _mm_add_ps(_mm_mul_ps(a##i, b), c);
		REP16(STEP)
#undef STEP
		__asm__ volatile("" ::: "memory");
	}
	__m128 s = _mm_setzero_ps();
#define SUM(i) s = _mm_add_ps(s, a##i);
	REP16(SUM)
#undef SUM
	float out[4];
	_mm_storeu_ps(out, s);
	return out[0] + out[3];
}

#define RUNS 12

typedef float (*kern_fn)(long);

struct job {
	kern_fn fn;
	long iters;
	float result;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	j->result = j->fn(j->iters);
	return NULL;
}

/* Wall time of `threads` threads each running fn(iters) at once. */
static double run(kern_fn fn, long iters, int threads)
{
	pthread_t tid[64];
	struct job jobs[64];
	double t0 = now();
	for (int i = 0; i < threads; i++) {
		jobs[i].fn = fn;
		jobs[i].iters = iters;
		if (pthread_create(&tid[i], NULL, worker, &jobs[i]) != 0) {
			perror("peak: pthread_create");
			exit(1);
		}
	}
	float sink = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		sink += jobs[i].result;
	}
	double t = now() - t0;
	if (sink == 12345.678f) /* never: keeps the results alive */
		printf("#\n");
	return t;
}

/* GFLOP/s of fn, whose iteration does `flops` flops per thread. */
static double measure(kern_fn fn, double flops, int threads)
{
	long iters = 1000;
	while (run(fn, iters, 1) < 0.02 && iters < (1L << 40)) /* calibrate: 0.02 s, then x5 */
		iters *= 2;
	iters *= 5;
	double best = 1e30;
	for (int r = 0; r < RUNS; r++) {
		double t = run(fn, iters, threads);
		if (t < best)
			best = t;
	}
	return flops * (double)iters * threads / best / 1e9;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "usage: peak [THREADS 1..64]\n");
		return 2;
	}
	__builtin_cpu_init();
	double peak = 0;
	const char *isa = "none";
	if (__builtin_cpu_supports("avx512f")) {
		double g = measure(kern_avx512, NACC * 16 * 2.0, threads);
		printf("gflops_avx512 %.1f\n", g);
		if (g > peak)
			peak = g, isa = "avx512";
	}
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		double g = measure(kern_avx2, NACC * 8 * 2.0, threads);
		printf("gflops_avx2 %.1f\n", g);
		if (g > peak)
			peak = g, isa = "avx2";
	}
	double g = measure(kern_sse, NACC * 4 * 2.0, threads);
	printf("gflops_sse %.1f\n", g);
	if (g > peak)
		peak = g, isa = "sse";
	printf("threads %d\npeak_gflops %.1f\npeak_isa %s\n", threads, peak, isa);
	return 0;
}
