/* simd.c: which vector extension this CPU gives the engine's inner loops. */
#include "base/simd.h"

const char *cnnf_simd_name(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* The rule the engine's kernels (engine/conv_kern.c) and CNNF_CLONES choose by. */
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		return "AVX-512";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "AVX2";
#endif
	return "portable";
}
