/* simd.h: CNNF_CLONES, which compiles a loop-heavy function once per vector extension. */
#ifndef CNNF_SIMD_H
#define CNNF_SIMD_H

/*
 * On x86-64 with GCC or Clang, a function marked CNNF_CLONES is compiled for
 * AVX-512, AVX2 and the baseline, and the loader picks the best one this CPU
 * runs (an ifunc), so the default build runs anywhere and still uses wide
 * vectors. Elsewhere it is an ordinary function. Use it only on functions
 * whose results do not depend on the vector width (no float reductions).
 */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) &&                          \
	(!defined(__clang__) || __clang_major__ >= 14) && !defined(__SANITIZE_ADDRESS__)
#define CNNF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CNNF_CLONES
#endif

/*
 * The vector extension the engine's kernels use on this CPU: "AVX-512",
 * "AVX2" or "portable" (the plain C loops, which give the same bits).
 */
const char *cnnf_simd_name(void);

#endif
