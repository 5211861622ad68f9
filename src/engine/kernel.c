/* kernel.c: the kernel type, the built-in filters and operations on kernels. */
#include "engine/kernel.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* A sum this small relative to the sum of magnitudes is rounding noise around zero. */
#define ZERO_SUM_TOLERANCE  1e-12
#define SEPARABLE_TOLERANCE 1e-9

cnnf_kernel *cnnf_kernel_new(int count, int depth, int height, int width)
{
	if (count < 1 || depth < 1 || height < 1 || width < 1 || count > CNNF_KERNEL_MAX_DIM ||
	    depth > CNNF_KERNEL_MAX_DIM || height > CNNF_KERNEL_MAX_DIM || width > CNNF_KERNEL_MAX_DIM ||
	    (unsigned long long)count * depth * height * width > CNNF_KERNEL_MAX_WEIGHTS) {
		cnnf_error("kernel: %d x %d x %d x %d (filters x depth x height x width) is not a "
		           "valid size: each must be from 1 to %d, with at most %llu weights",
		           count, depth, height, width, CNNF_KERNEL_MAX_DIM, CNNF_KERNEL_MAX_WEIGHTS);
		return NULL;
	}
	size_t n = (size_t)count * depth * height * width;
	cnnf_kernel *k = calloc(1, sizeof *k);
	if (!k) {
		cnnf_error("kernel: out of memory");
		return NULL;
	}
	k->count = count;
	k->depth = depth;
	k->height = height;
	k->width = width;
	k->weights = calloc(n, sizeof *k->weights);
	k->scale_num = malloc((size_t)count * sizeof *k->scale_num);
	k->scale_den = malloc((size_t)count * sizeof *k->scale_den);
	k->bias = malloc((size_t)count * sizeof *k->bias);
	if (!k->weights || !k->scale_num || !k->scale_den || !k->bias) {
		cnnf_kernel_free(k);
		cnnf_error("kernel: out of memory for %zu weights", n);
		return NULL;
	}
	for (int f = 0; f < count; f++) {
		k->scale_num[f] = 1;
		k->scale_den[f] = 1;
		k->bias[f] = 0;
	}
	return k;
}

void cnnf_kernel_free(cnnf_kernel *k)
{
	if (!k)
		return;
	free(k->weights);
	free(k->scale_num);
	free(k->scale_den);
	free(k->bias);
	free(k->sep);
	free(k);
}

/* ---- Operations ---- */

static size_t slice_size(const cnnf_kernel *k)
{
	return (size_t)k->height * k->width;
}

/*
 * The sum of w[0..n-1] rounded once, as if it were computed exactly
 * (Shewchuk's partials, as Python's math.fsum): 1e308, -1e308 and 1 sum to 1.
 * The partials do not overlap, so at most about 40 are ever needed for
 * doubles. An overflow in the partials gives an infinity.
 */
static double exact_sum(const double *w, size_t n)
{
	double p[64];
	int np = 0;
	for (size_t i = 0; i < n; i++) {
		double x = w[i];
		int k = 0;
		for (int j = 0; j < np; j++) {
			double y = p[j];
			if (fabs(x) < fabs(y)) {
				double t = x;
				x = y;
				y = t;
			}
			double hi = x + y, lo = y - (hi - x);
			if (!isfinite(hi))
				return hi;
			if (lo != 0)
				p[k++] = lo;
			x = hi;
		}
		if (k == 64)
			return HUGE_VAL; /* cannot happen for finite doubles */
		p[k++] = x;
		np = k;
	}
	/* Round the partials to one double, as fsum does: from the top, halfway cases fixed. */
	if (np == 0)
		return 0;
	double hi = p[--np], lo = 0;
	while (np > 0) {
		double x = hi, y = p[--np];
		hi = x + y;
		lo = y - (hi - x);
		if (lo != 0)
			break;
	}
	if (np > 0 && ((lo < 0 && p[np - 1] < 0) || (lo > 0 && p[np - 1] > 0))) {
		double y = lo * 2, x = hi + y;
		if (y == x - hi)
			hi = x;
	}
	return hi;
}

static int cmp_abs(const void *a, const void *b)
{
	double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
	return (x > y) - (x < y);
}

/*
 * The magnitude a sum is compared with to call it zero: the sum of |w| over
 * the weights that are not cancelled exactly by an opposite one, scaled by
 * 2^-64 so that it does not overflow. Without exact pairs set apart, 1e308,
 * -1e308 and 1 would sum to a round-off of 2e308 instead of to 1.
 */
static double scaled_magnitude(const double *w, size_t n)
{
	double *c = malloc((n ? n : 1) * sizeof *c);
	double mag = 0;
	if (!c) {
		for (size_t i = 0; i < n; i++)
			mag += ldexp(fabs(w[i]), -64);
		return mag;
	}
	memcpy(c, w, n * sizeof *c);
	qsort(c, n, sizeof *c, cmp_abs);
	for (size_t i = 0; i < n;) {
		/* A run of equal magnitudes: as many + as - cancel. */
		size_t j = i, plus = 0;
		while (j < n && fabs(c[j]) == fabs(c[i]))
			plus += c[j++] > 0;
		size_t minus = (j - i) - plus, left = plus > minus ? plus - minus : minus - plus;
		mag += (double)left * ldexp(fabs(c[i]), -64);
		i = j;
	}
	free(c);
	return mag;
}

int cnnf_kernel_normalize(cnnf_kernel *k, const char *name)
{
	size_t n = (size_t)k->depth * slice_size(k);
	/* Check every filter before changing any, so a failure leaves k as it was. */
	for (int f = 0; f < k->count; f++) {
		const double *w = k->weights + (size_t)f * n;
		double sum = exact_sum(w, n);
		char which[64] = "kernel";
		if (k->count > 1)
			snprintf(which, sizeof which, "filter %d of %d", f + 1, k->count);
		if (!isfinite(sum)) {
			cnnf_error("%s: %s sums to more than a double holds; --normalize cannot "
			           "divide by it",
			           name, which);
			return -1;
		}
		/* Weights written in decimal are off by their rounding: 0.1 0.2 -0.3 sums to zero. */
		if (k->scale_num[f] == 0 || sum == 0 ||
		    ldexp(fabs(sum), -64) <= ZERO_SUM_TOLERANCE * scaled_magnitude(w, n)) {
			cnnf_error("%s: %s sums to zero; --normalize cannot divide by it", name,
			           which);
			return -1;
		}
	}
	for (int f = 0; f < k->count; f++) {
		double sum = exact_sum(k->weights + (size_t)f * n, n);
		/*
		 * scale / (scale * sum) is 1/sum whatever the old scale was. Kept as
		 * the fraction 1/sum, an integer kernel stays exact (1 2 1 ... gives
		 * 1/16); the sign goes to the numerator so the denominator reads as
		 * a count.
		 */
		k->scale_num[f] = sum < 0 ? -1 : 1;
		k->scale_den[f] = fabs(sum);
	}
	return 0;
}

void cnnf_kernel_flip(cnnf_kernel *k)
{
	size_t n = slice_size(k);
	size_t slices = (size_t)k->count * k->depth;
	/* Rotating a row-major slice 180 degrees is reversing it. */
	for (size_t s = 0; s < slices; s++) {
		double *w = k->weights + s * n;
		for (size_t i = 0, j = n - 1; i < j; i++, j--) {
			double t = w[i];
			w[i] = w[j];
			w[j] = t;
		}
	}
	/* The factors of a separable kernel turn with it (odd sizes: the middle stays put). */
	if (k->sep)
		for (int part = 0; part < 2; part++) {
			double *v = k->sep + (part ? k->height : 0);
			for (int i = 0, j = (part ? k->width : k->height) - 1; i < j; i++, j--) {
				double t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
		}
}

cnnf_kernel *cnnf_kernel_identity(void)
{
	/* The slide's 3 x 3 with a 1 in the centre does the same as a 1 x 1, for a ninth of the
	 * work. */
	cnnf_kernel *k = cnnf_kernel_new(1, 1, 1, 1);
	if (k)
		k->weights[0] = 1;
	return k;
}

cnnf_kernel *cnnf_kernel_box(int size)
{
	if (size < 1 || size > CNNF_KERNEL_MAX_DIM) {
		cnnf_error("box: size %d is not from 1 to %d", size, CNNF_KERNEL_MAX_DIM);
		return NULL;
	}
	cnnf_kernel *k = cnnf_kernel_new(1, 1, size, size);
	if (!k)
		return NULL;
	size_t n = slice_size(k);
	for (size_t i = 0; i < n; i++)
		k->weights[i] = 1;
	/* Integer weights and a 1/n scale: the sum is exact and divided once. */
	k->scale_den[0] = (double)n;
	return k;
}

cnnf_kernel *cnnf_kernel_sharpen(int size, double amount)
{
	if (size < 1 || size > CNNF_KERNEL_MAX_DIM || size % 2 == 0) {
		cnnf_error("sharpen: size %d is not an odd number from 1 to %d", size, CNNF_KERNEL_MAX_DIM - 1);
		return NULL;
	}
	double n = (double)size * size;
	/*
	 * identity + A * (identity - box) = (n * (1 + A) * identity - A * ones) / n:
	 * with scale 1/n the weights are integers whenever A is, so the default
	 * (2 * identity - box 3) is 17 and -1 over 9, exactly.
	 */
	double centre = n * (1 + amount) - amount;
	if (!isfinite(amount) || !isfinite(centre)) {
		cnnf_error("sharpen: amount %g is too large", amount);
		return NULL;
	}
	cnnf_kernel *k = cnnf_kernel_new(1, 1, size, size);
	if (!k)
		return NULL;
	size_t cells = slice_size(k);
	for (size_t i = 0; i < cells; i++)
		k->weights[i] = -amount;
	k->weights[cells / 2] = centre;
	k->scale_den[0] = n;
	return k;
}

cnnf_kernel *cnnf_kernel_shift(int dx, int dy)
{
	/* Checked before taking absolute values: -INT_MIN overflows. */
	const int max = (CNNF_KERNEL_MAX_DIM - 1) / 2;
	if (dx < -max || dx > max || dy < -max || dy > max) {
		cnnf_error("shift: dx %d, dy %d: each must be from %d to %d", dx, dy, -max, max);
		return NULL;
	}
	int px = abs(dx), py = abs(dy);
	cnnf_kernel *k = cnnf_kernel_new(1, 1, 2 * py + 1, 2 * px + 1);
	if (!k)
		return NULL;
	/*
	 * Under correlation out[y][x] = sum w[i][j] in[y + i - py][x + j - px];
	 * a single 1 at (py - dy, px - dx) reads in[y - dy][x - dx], which moves
	 * the content dx right and dy down.
	 */
	k->weights[(size_t)(py - dy) * k->width + (size_t)(px - dx)] = 1;
	return k;
}

/*
 * A separable kernel: sep_mul * g (x) g plus centre at the middle tap, g the
 * normalised Gaussian of sigma. name for the messages.
 */
static cnnf_kernel *gaussian_kernel(const char *name, double sigma, double mul, double centre)
{
	if (!(sigma > 0) || !(sigma <= CNNF_KERNEL_MAX_SIGMA)) {
		cnnf_error("%s: sigma %g is not a number above 0 and up to %g", name, sigma,
		           CNNF_KERNEL_MAX_SIGMA);
		return NULL;
	}
	int r = (int)ceil(3 * sigma), n = 2 * r + 1;
	cnnf_kernel *k = cnnf_kernel_new(1, 1, n, n);
	if (!k)
		return NULL;
	double *g = k->sep = malloc(sizeof(double) * 2 * (size_t)n);
	if (!g) {
		cnnf_kernel_free(k);
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		g[i] = exp(-(double)(i - r) * (i - r) / (2 * sigma * sigma));
	double sum = exact_sum(g, (size_t)n);
	for (int i = 0; i < n; i++)
		g[i] /= sum;
	/*
	 * The divisions round each weight; the middle one takes up what they
	 * lost, so that a constant image keeps its value as closely as doubles
	 * can: the exact sum of the others taken from 1, rounded once.
	 */
	g[r] = 0;
	g[r] = 1 - exact_sum(g, (size_t)n);
	memcpy(g + n, g, sizeof(double) * (size_t)n);
	k->sep_mul = mul;
	k->sep_centre = centre;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			k->weights[(size_t)i * n + j] = mul * (g[i] * g[j]);
	k->weights[(size_t)r * n + r] += centre;
	return k;
}

cnnf_kernel *cnnf_kernel_gaussian(double sigma)
{
	return gaussian_kernel("gaussian", sigma, 1, 0);
}

cnnf_kernel *cnnf_kernel_unsharp(double sigma, double amount)
{
	if (!isfinite(amount) || fabs(amount) > 1e6) {
		cnnf_error("unsharp: amount %g is not from -1000000 to 1000000", amount);
		return NULL;
	}
	return gaussian_kernel("unsharp", sigma, -amount, 1 + amount);
}

double cnnf_kernel_sum(const cnnf_kernel *k, int f)
{
	assert(f >= 0 && f < k->count);
	size_t n = (size_t)k->depth * slice_size(k);
	double sum = exact_sum(k->weights + (size_t)f * n, n);
	/* Multiply before dividing: 9 * 1 / 9 is exactly 1, 9 * (1 / 9) need not be. */
	return k->scale_num[f] * sum / k->scale_den[f];
}

int cnnf_kernel_separable(const cnnf_kernel *k, int f, int c, double *col, double *row)
{
	assert(f >= 0 && f < k->count && c >= 0 && c < k->depth);
	int h = k->height, wd = k->width;
	const double *w = k->weights + ((size_t)f * k->depth + c) * slice_size(k);
	/* Pivot on the largest weight: dividing by it is the best conditioned choice. */
	int r0 = 0, c0 = 0;
	double max = 0;
	for (int i = 0; i < h; i++)
		for (int j = 0; j < wd; j++)
			if (fabs(w[(size_t)i * wd + j]) > max) {
				max = fabs(w[(size_t)i * wd + j]);
				r0 = i;
				c0 = j;
			}
	if (max == 0) {
		if (col && row) {
			memset(col, 0, (size_t)h * sizeof *col);
			memset(row, 0, (size_t)wd * sizeof *row);
		}
		return 1;
	}
	double pivot = w[(size_t)r0 * wd + c0];
	for (int i = 0; i < h; i++)
		for (int j = 0; j < wd; j++) {
			double ci = w[(size_t)i * wd + c0];
			double rj = w[(size_t)r0 * wd + j] / pivot;
			if (fabs(w[(size_t)i * wd + j] - ci * rj) > SEPARABLE_TOLERANCE * max)
				return 0;
		}
	if (col && row) {
		for (int i = 0; i < h; i++)
			col[i] = w[(size_t)i * wd + c0];
		for (int j = 0; j < wd; j++)
			row[j] = w[(size_t)r0 * wd + j] / pivot;
	}
	return 1;
}
