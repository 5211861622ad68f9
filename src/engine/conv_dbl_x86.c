/* conv_dbl_x86.c: AVX-512 and AVX2 versions of the double row (conv_kern.h), chosen at run time. */
#include "engine/conv_kern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/*
 * Vectors run across outputs: lane k of a register is output x + k, and it
 * gets the multiply and then the add of the portable loop, tap by tap in the
 * order c, i, j, so the bits are the same. A block of outputs stays in
 * registers over all the taps and is stored once. The product and the sum
 * are separate intrinsics: no fused multiply-add. Horizontal strides other
 * than 1, and the last outputs of the AVX2 row, go to the portable loop.
 */

/* The portable loop on outputs x0..ow-1. */
static void tail(const cnnf_kern_dargs *a, int x0)
{
	cnnf_kern_dargs t = *a;
	t.in += (long)x0 * a->sx;
	t.acc += x0;
	t.ow = a->ow - x0;
	cnnf_kern_double_c(&t);
}

#define TAPS_FROM(x)                                                                         \
	const double *w = a->w;                                                              \
	for (int c = 0; c < a->cin; c++)                                                     \
		for (int i = 0; i < a->kh; i++) {                                            \
			const float *row = a->in + c * a->plane + i * a->rstep + (x);        \
			for (int j = 0; j < a->kw; j++, w++) {                               \
				const float *p = row + j * a->dx;
#define TAPS_END                                                                             \
	}                                                                                    \
	}

/* ---- AVX-512: 64 outputs in 8 registers (enough sums in flight to hide the add's latency) ---- */

#define STEP512(r)                                                                            \
	s##r = _mm512_add_pd(s##r, _mm512_mul_pd(b, _mm512_cvtps_pd(_mm256_loadu_ps(p + 8 * (r)))))

__attribute__((target("avx512f"))) void cnnf_kern_double_avx512(const cnnf_kern_dargs *a)
{
	if (a->sx != 1) {
		cnnf_kern_double_c(a);
		return;
	}
	const int ow = a->ow;
	int x = 0;
	for (; x + 64 <= ow; x += 64) {
		__m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0,
			s6 = s0, s7 = s0;
		TAPS_FROM(x)
		__m512d b = _mm512_set1_pd(*w);
		STEP512(0);
		STEP512(1);
		STEP512(2);
		STEP512(3);
		STEP512(4);
		STEP512(5);
		STEP512(6);
		STEP512(7);
		TAPS_END
		_mm512_storeu_pd(a->acc + x, s0);
		_mm512_storeu_pd(a->acc + x + 8, s1);
		_mm512_storeu_pd(a->acc + x + 16, s2);
		_mm512_storeu_pd(a->acc + x + 24, s3);
		_mm512_storeu_pd(a->acc + x + 32, s4);
		_mm512_storeu_pd(a->acc + x + 40, s5);
		_mm512_storeu_pd(a->acc + x + 48, s6);
		_mm512_storeu_pd(a->acc + x + 56, s7);
	}
	for (; x + 16 <= ow; x += 16) {
		__m512d s0 = _mm512_setzero_pd(), s1 = s0;
		TAPS_FROM(x)
		__m512d b = _mm512_set1_pd(*w);
		STEP512(0);
		STEP512(1);
		TAPS_END
		_mm512_storeu_pd(a->acc + x, s0);
		_mm512_storeu_pd(a->acc + x + 8, s1);
	}
	for (; x < ow; x += 8) {
		/* The last 1..15 outputs, 8 at a time: masked loads read nothing past the row. */
		int n = ow - x;
		__mmask16 m = n >= 8 ? 0xFF : (__mmask16)((1u << n) - 1);
		__m512d s = _mm512_setzero_pd();
		TAPS_FROM(x)
		__m512 v = _mm512_maskz_loadu_ps(m, p);
		s = _mm512_add_pd(s, _mm512_mul_pd(_mm512_set1_pd(*w),
						   _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
		TAPS_END
		_mm512_mask_storeu_pd(a->acc + x, (__mmask8)m, s);
	}
}

/* ---- AVX2: 16 outputs in 4 registers ---- */

#define STEP256(r)                                                                            \
	s##r = _mm256_add_pd(s##r, _mm256_mul_pd(b, _mm256_cvtps_pd(_mm_loadu_ps(p + 4 * (r)))))

__attribute__((target("avx2"))) void cnnf_kern_double_avx2(const cnnf_kern_dargs *a)
{
	if (a->sx != 1) {
		cnnf_kern_double_c(a);
		return;
	}
	const int ow = a->ow;
	int x = 0;
	for (; x + 16 <= ow; x += 16) {
		__m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
		TAPS_FROM(x)
		__m256d b = _mm256_broadcast_sd(w);
		STEP256(0);
		STEP256(1);
		STEP256(2);
		STEP256(3);
		TAPS_END
		_mm256_storeu_pd(a->acc + x, s0);
		_mm256_storeu_pd(a->acc + x + 4, s1);
		_mm256_storeu_pd(a->acc + x + 8, s2);
		_mm256_storeu_pd(a->acc + x + 12, s3);
	}
	for (; x + 4 <= ow; x += 4) {
		__m256d s0 = _mm256_setzero_pd();
		TAPS_FROM(x)
		__m256d b = _mm256_broadcast_sd(w);
		STEP256(0);
		TAPS_END
		_mm256_storeu_pd(a->acc + x, s0);
	}
	if (x < ow)
		tail(a, x);
}
#endif
