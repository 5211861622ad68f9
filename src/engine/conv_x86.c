/* conv_x86.c: AVX-512 and AVX2 versions of the engine's inner loops, chosen at run time. */
#include "engine/conv_kern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

/*
 * Every output is fma(w, x, acc) over the taps in the order c, i, j, as in
 * the portable loops of conv_kern.c, so all versions give the same bits.
 */

#define TAPS_BEGIN                                                                           \
	const float *w = a->w;                                                               \
	for (int c = 0; c < a->cin; c++)                                                     \
		for (int i = 0; i < a->kh; i++) {                                            \
			const float *row = a->in + c * a->plane + i * a->rstep;              \
			for (int j = 0; j < a->kw; j++) {                                    \
				const float *p = row + j * a->dx;
#define TAPS_END                                                                             \
	}                                                                                    \
	}

/*
 * The same walk with the output offset x folded into the row pointers (p
 * points at the tap of output x), which keeps the address arithmetic out of
 * the innermost loop.
 */
#define TAPS_FROM(x)                                                                         \
	const float *w = a->w;                                                               \
	for (int c = 0; c < a->cin; c++)                                                     \
		for (int i = 0; i < a->kh; i++) {                                            \
			const float *row = a->in + c * a->plane + i * a->rstep + (x);        \
			for (int j = 0; j < a->kw; j++) {                                    \
				const float *p = row + j * a->dx;

/* Scalar tails of the AVX2 versions: outputs x0..ow-1 (fmaf is one instruction here). */
__attribute__((target("avx2,fma"))) static void block8_tail(const cnnf_kern_args *a, int x0)
{
	const int ow = a->ow;
	for (int o = 0; o < CNNF_KERN_OCB; o++)
		for (int x = x0; x < ow; x++)
			a->acc[(size_t)o * ow + x] = 0;
	TAPS_BEGIN
	for (int o = 0; o < CNNF_KERN_OCB; o++) {
		float *acc = a->acc + (size_t)o * ow;
		for (int x = x0; x < ow; x++)
			acc[x] = fmaf(w[o], p[x], acc[x]);
	}
	w += CNNF_KERN_OCB;
	TAPS_END
}

__attribute__((target("avx2,fma"))) static void single_tail(const cnnf_kern_args *a, int x0)
{
	for (int x = x0; x < a->ow; x++)
		a->acc[x] = 0;
	TAPS_BEGIN
	for (int x = x0; x < a->ow; x++)
		a->acc[x] = fmaf(*w, p[x], a->acc[x]);
	w++;
	TAPS_END
}

/* ---- AVX-512: 8 channels x 32 outputs in 16 registers ---- */

#define FMA512(k, v0, v1)                                                                     \
	do {                                                                                 \
		__m512 b = _mm512_set1_ps(w[k]);                                             \
		a##k##0 = _mm512_fmadd_ps(b, v0, a##k##0);                                   \
		a##k##1 = _mm512_fmadd_ps(b, v1, a##k##1);                                   \
	} while (0)
#define STORE512(k)                                                                           \
	do {                                                                                 \
		_mm512_storeu_ps(a->acc + (size_t)(k) * ow + x, a##k##0);                     \
		_mm512_storeu_ps(a->acc + (size_t)(k) * ow + x + 16, a##k##1);                \
	} while (0)

__attribute__((target("avx512f"))) void cnnf_kern_block8_avx512(const cnnf_kern_args *a)
{
	const int ow = a->ow;
	int x = 0;
	for (; x + 32 <= ow; x += 32) {
		__m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00,
		       a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00,
		       a60 = a00, a61 = a00, a70 = a00, a71 = a00;
		TAPS_FROM(x)
		__m512 v0 = _mm512_loadu_ps(p), v1 = _mm512_loadu_ps(p + 16);
		FMA512(0, v0, v1);
		FMA512(1, v0, v1);
		FMA512(2, v0, v1);
		FMA512(3, v0, v1);
		FMA512(4, v0, v1);
		FMA512(5, v0, v1);
		FMA512(6, v0, v1);
		FMA512(7, v0, v1);
		w += CNNF_KERN_OCB;
		TAPS_END
		STORE512(0);
		STORE512(1);
		STORE512(2);
		STORE512(3);
		STORE512(4);
		STORE512(5);
		STORE512(6);
		STORE512(7);
	}
	if (x < ow) {
		/* The last 1..31 outputs: masked loads and stores, same arithmetic. */
		int n = ow - x;
		__mmask16 m0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
		__mmask16 m1 = n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
		__m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00,
		       a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00,
		       a60 = a00, a61 = a00, a70 = a00, a71 = a00;
		TAPS_FROM(x)
		__m512 v0 = _mm512_maskz_loadu_ps(m0, p), v1 = _mm512_maskz_loadu_ps(m1, p + 16);
		FMA512(0, v0, v1);
		FMA512(1, v0, v1);
		FMA512(2, v0, v1);
		FMA512(3, v0, v1);
		FMA512(4, v0, v1);
		FMA512(5, v0, v1);
		FMA512(6, v0, v1);
		FMA512(7, v0, v1);
		w += CNNF_KERN_OCB;
		TAPS_END
#define MSTORE512(k)                                                                          \
	do {                                                                                 \
		_mm512_mask_storeu_ps(a->acc + (size_t)(k) * ow + x, m0, a##k##0);            \
		_mm512_mask_storeu_ps(a->acc + (size_t)(k) * ow + x + 16, m1, a##k##1);       \
	} while (0)
		MSTORE512(0);
		MSTORE512(1);
		MSTORE512(2);
		MSTORE512(3);
		MSTORE512(4);
		MSTORE512(5);
		MSTORE512(6);
		MSTORE512(7);
	}
}

/* One channel, 64 outputs in 4 registers. */
__attribute__((target("avx512f"))) void cnnf_kern_single_avx512(const cnnf_kern_args *a)
{
	const int ow = a->ow;
	int x = 0;
	for (; x + 64 <= ow; x += 64) {
		__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		TAPS_FROM(x)
		__m512 b = _mm512_set1_ps(*w);
		s0 = _mm512_fmadd_ps(b, _mm512_loadu_ps(p), s0);
		s1 = _mm512_fmadd_ps(b, _mm512_loadu_ps(p + 16), s1);
		s2 = _mm512_fmadd_ps(b, _mm512_loadu_ps(p + 32), s2);
		s3 = _mm512_fmadd_ps(b, _mm512_loadu_ps(p + 48), s3);
		w++;
		TAPS_END
		_mm512_storeu_ps(a->acc + x, s0);
		_mm512_storeu_ps(a->acc + x + 16, s1);
		_mm512_storeu_ps(a->acc + x + 32, s2);
		_mm512_storeu_ps(a->acc + x + 48, s3);
	}
	for (; x < ow; x += 16) {
		int n = ow - x;
		__mmask16 m = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
		__m512 s = _mm512_setzero_ps();
		TAPS_FROM(x)
		s = _mm512_fmadd_ps(_mm512_set1_ps(*w), _mm512_maskz_loadu_ps(m, p), s);
		w++;
		TAPS_END
		_mm512_mask_storeu_ps(a->acc + x, m, s);
	}
}

/* ---- AVX2 + FMA: 8 channels x 8 outputs in 8 registers ---- */

#define FMA256(k)                                                                             \
	a##k = _mm256_fmadd_ps(_mm256_broadcast_ss(w + (k)), v, a##k)

__attribute__((target("avx2,fma"))) void cnnf_kern_block8_avx2(const cnnf_kern_args *a)
{
	const int ow = a->ow;
	int x = 0;
	for (; x + 8 <= ow; x += 8) {
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0,
		       a6 = a0, a7 = a0;
		TAPS_FROM(x)
		__m256 v = _mm256_loadu_ps(p);
		FMA256(0);
		FMA256(1);
		FMA256(2);
		FMA256(3);
		FMA256(4);
		FMA256(5);
		FMA256(6);
		FMA256(7);
		w += CNNF_KERN_OCB;
		TAPS_END
		_mm256_storeu_ps(a->acc + 0 * (size_t)ow + x, a0);
		_mm256_storeu_ps(a->acc + 1 * (size_t)ow + x, a1);
		_mm256_storeu_ps(a->acc + 2 * (size_t)ow + x, a2);
		_mm256_storeu_ps(a->acc + 3 * (size_t)ow + x, a3);
		_mm256_storeu_ps(a->acc + 4 * (size_t)ow + x, a4);
		_mm256_storeu_ps(a->acc + 5 * (size_t)ow + x, a5);
		_mm256_storeu_ps(a->acc + 6 * (size_t)ow + x, a6);
		_mm256_storeu_ps(a->acc + 7 * (size_t)ow + x, a7);
	}
	if (x < ow)
		block8_tail(a, x);
}

__attribute__((target("avx2,fma"))) void cnnf_kern_single_avx2(const cnnf_kern_args *a)
{
	const int ow = a->ow;
	int x = 0;
	for (; x + 32 <= ow; x += 32) {
		__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
		TAPS_FROM(x)
		__m256 b = _mm256_broadcast_ss(w);
		s0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p), s0);
		s1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 8), s1);
		s2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 16), s2);
		s3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 24), s3);
		w++;
		TAPS_END
		_mm256_storeu_ps(a->acc + x, s0);
		_mm256_storeu_ps(a->acc + x + 8, s1);
		_mm256_storeu_ps(a->acc + x + 16, s2);
		_mm256_storeu_ps(a->acc + x + 24, s3);
	}
	if (x < ow)
		single_tail(a, x);
}
#endif
