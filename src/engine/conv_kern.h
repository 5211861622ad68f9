/* conv_kern.h: the engine's inner loops (private to conv.c): one output row at a time. */
#ifndef CNNF_CONV_KERN_H
#define CNNF_CONV_KERN_H

#include <stddef.h>

/* Output channels one call of the blocked kernel computes: weights are packed in blocks of 8. */
#define CNNF_KERN_OCB 8

/*
 * One output row of a correlation with unit horizontal stride, in float with
 * fused multiply-adds, taps in the order c, i, j for every output: the result
 * is the same on every machine and with every number of threads.
 * Tap (c, i, j) of output x reads in[c * plane + i * rstep + j * dx + x].
 */
typedef struct cnnf_kern_args {
	const float *in; /* the first tap of output 0 */
	size_t plane;    /* floats between input channels */
	long rstep;      /* floats between kernel rows (row stride times vertical dilation) */
	long dx;         /* floats between kernel columns (horizontal dilation) */
	int cin, kh, kw; /* taps */
	int ow;          /* outputs in the row */
	const float *w;  /* block8: [cin][kh][kw][8]; single: [cin][kh][kw] */
	float *acc;      /* block8: [8][ow]; single: [ow]; overwritten */
} cnnf_kern_args;

/* 8 output channels at once (the weights of missing channels are zero). */
typedef void (*cnnf_kern_fn)(const cnnf_kern_args *a);

/* The best implementations this CPU runs, chosen once. */
cnnf_kern_fn cnnf_kern_block8(void);
cnnf_kern_fn cnnf_kern_single(void);

/* Portable versions (fmaf), which the vector ones equal bit for bit. */
void cnnf_kern_block8_c(const cnnf_kern_args *a);
void cnnf_kern_single_c(const cnnf_kern_args *a);

/*
 * One output row of a correlation in double, for the generic path: for every
 * output, acc = 0, then acc = acc + w * sample over the taps in the order c,
 * i, j, the product rounded and then the sum rounded (never a fused
 * multiply-add), so every version gives the bits of the plain loop.
 * Tap (c, i, j) of output x reads in[c * plane + i * rstep + j * dx + x * sx].
 */
typedef struct cnnf_kern_dargs {
	const float *in;  /* the first tap of output 0 */
	size_t plane;     /* floats between input channels */
	long rstep;       /* floats between kernel rows */
	long dx;          /* floats between kernel columns */
	long sx;          /* floats between outputs (the horizontal stride) */
	int cin, kh, kw;  /* taps */
	int ow;           /* outputs in the row */
	const double *w;  /* [cin][kh][kw] */
	double *acc;      /* [ow]; overwritten */
} cnnf_kern_dargs;

typedef void (*cnnf_kern_dfn)(const cnnf_kern_dargs *a);

/* The best version this CPU runs (conv_dbl_x86.c), and the portable one. */
cnnf_kern_dfn cnnf_kern_double(void);
void cnnf_kern_double_c(const cnnf_kern_dargs *a);

#if defined(__x86_64__) || defined(__i386__)
void cnnf_kern_double_avx512(const cnnf_kern_dargs *a);
void cnnf_kern_double_avx2(const cnnf_kern_dargs *a);
#endif

#if defined(__x86_64__) || defined(__i386__)
void cnnf_kern_block8_avx512(const cnnf_kern_args *a);
void cnnf_kern_single_avx512(const cnnf_kern_args *a);
void cnnf_kern_block8_avx2(const cnnf_kern_args *a);
void cnnf_kern_single_avx2(const cnnf_kern_args *a);
#endif

#endif
