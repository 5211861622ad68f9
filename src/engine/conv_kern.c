/* conv_kern.c: the portable inner loops of the engine and the choice of vector versions. */
#include "engine/conv_kern.h"

#include <math.h>
#include <string.h>

void cnnf_kern_block8_c(const cnnf_kern_args *a)
{
	const int ow = a->ow;
	for (int o = 0; o < CNNF_KERN_OCB; o++)
		memset(a->acc + (size_t)o * ow, 0, sizeof(float) * (size_t)ow);
	const float *w = a->w;
	for (int c = 0; c < a->cin; c++)
		for (int i = 0; i < a->kh; i++)
			for (int j = 0; j < a->kw; j++, w += CNNF_KERN_OCB) {
				const float *p = a->in + c * a->plane + i * a->rstep + j * a->dx;
				for (int o = 0; o < CNNF_KERN_OCB; o++) {
					float *acc = a->acc + (size_t)o * ow;
					for (int x = 0; x < ow; x++)
						acc[x] = fmaf(w[o], p[x], acc[x]);
				}
			}
}

void cnnf_kern_single_c(const cnnf_kern_args *a)
{
	memset(a->acc, 0, sizeof(float) * (size_t)a->ow);
	const float *w = a->w;
	for (int c = 0; c < a->cin; c++)
		for (int i = 0; i < a->kh; i++)
			for (int j = 0; j < a->kw; j++, w++) {
				const float *p = a->in + c * a->plane + i * a->rstep + j * a->dx;
				for (int x = 0; x < a->ow; x++)
					a->acc[x] = fmaf(*w, p[x], a->acc[x]);
			}
}

/*
 * The double row, four outputs at a time kept in variables across all the
 * taps (the row of accumulators is written once, not once per tap). Each
 * output's sum is still made tap by tap in the order c, i, j. No fused
 * multiply-add: GCC does not contract under -std=c11, and Clang contracts only
 * within one expression, so the product and the sum are two statements.
 */
void cnnf_kern_double_c(const cnnf_kern_dargs *a)
{
	const long sx = a->sx;
	int x = 0;
	for (; x + 4 <= a->ow; x += 4) {
		double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
		const double *w = a->w;
		for (int c = 0; c < a->cin; c++)
			for (int i = 0; i < a->kh; i++) {
				const float *row = a->in + c * a->plane + i * a->rstep + x * sx;
				for (int j = 0; j < a->kw; j++, w++) {
					const float *q = row + j * a->dx;
					double p0 = *w * q[0], p1 = *w * q[sx], p2 = *w * q[2 * sx],
					       p3 = *w * q[3 * sx];
					s0 = s0 + p0;
					s1 = s1 + p1;
					s2 = s2 + p2;
					s3 = s3 + p3;
				}
			}
		a->acc[x] = s0;
		a->acc[x + 1] = s1;
		a->acc[x + 2] = s2;
		a->acc[x + 3] = s3;
	}
	for (; x < a->ow; x++) {
		double s = 0;
		const double *w = a->w;
		for (int c = 0; c < a->cin; c++)
			for (int i = 0; i < a->kh; i++) {
				const float *row = a->in + c * a->plane + i * a->rstep + x * sx;
				for (int j = 0; j < a->kw; j++, w++) {
					double p = *w * row[j * a->dx];
					s = s + p;
				}
			}
		a->acc[x] = s;
	}
}

/*
 * The versions this CPU runs, one table per kernel indexed by level(): the
 * rule cnnf_simd_name() reports. Every version gives the same bits.
 */
#if defined(__x86_64__) || defined(__i386__)
static int level(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return 2;
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#define VERSIONS(name) {cnnf_kern_##name##_c, cnnf_kern_##name##_avx2, cnnf_kern_##name##_avx512}
#else
static int level(void)
{
	return 0;
}
#define VERSIONS(name) {cnnf_kern_##name##_c}
#endif

cnnf_kern_fn cnnf_kern_block8(void)
{
	static const cnnf_kern_fn v[] = VERSIONS(block8);
	return v[level()];
}

cnnf_kern_fn cnnf_kern_single(void)
{
	static const cnnf_kern_fn v[] = VERSIONS(single);
	return v[level()];
}

cnnf_kern_dfn cnnf_kern_double(void)
{
	static const cnnf_kern_dfn v[] = VERSIONS(double);
	return v[level()];
}
