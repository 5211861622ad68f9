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

#if defined(__x86_64__) || defined(__i386__)
cnnf_kern_fn cnnf_kern_block8(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return cnnf_kern_block8_avx512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return cnnf_kern_block8_avx2;
	return cnnf_kern_block8_c;
}

cnnf_kern_fn cnnf_kern_single(void)
{
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return cnnf_kern_single_avx512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return cnnf_kern_single_avx2;
	return cnnf_kern_single_c;
}
#else
cnnf_kern_fn cnnf_kern_block8(void)
{
	return cnnf_kern_block8_c;
}

cnnf_kern_fn cnnf_kern_single(void)
{
	return cnnf_kern_single_c;
}
#endif
