/* kernel.h: convolution kernels: the kernel file formats and the built-in filters. */
#ifndef CNNF_KERNEL_H
#define CNNF_KERNEL_H

/*
 * A bank of `count` filters, each `depth` x `height` x `width`.
 * Filter f's output is  bias[f] + scale(f) * sum w[f][c][i][j] * x[...]
 * where scale(f) = scale_num[f] / scale_den[f]. The scale is kept apart from
 * the weights, and as a fraction, so that integer kernels such as 1/9 of a
 * box accumulate exactly and are divided once at the end.
 * A 2-D kernel has depth 1; a 3-D kernel's depth is its channel count.
 */
typedef struct cnnf_kernel {
	int count;         /* filters in the bank, >= 1 */
	int depth;         /* channel slices per filter, >= 1 */
	int height, width; /* rows and columns of each slice, >= 1 */
	double *weights;   /* count*depth*height*width, index ((f*depth + c)*height + i)*width + j */
	double *scale_num; /* count: numerator of each filter's scale (default 1) */
	double *scale_den; /* count: denominator of each filter's scale (default 1, never 0) */
	double *bias;      /* count: added after scaling (default 0) */
	/*
	 * NULL, or (the built-in gaussian and unsharp filters) how a single 2-D
	 * filter of odd size is made: height column values, then width row
	 * values, and the taps are  sep_mul * col[i] * row[j]  plus sep_centre
	 * at the middle tap, each rounded once into weights. The engine may then
	 * filter in double by two 1-D passes, col (x) row, times sep_mul, plus
	 * sep_centre times the middle sample: the same sum, grouped otherwise.
	 */
	double *sep;
	double sep_mul, sep_centre;
} cnnf_kernel;

/*
 * Limits checked before anything grows, so that a hostile or mistaken file
 * cannot ask for a huge allocation: every dimension (rows, columns, slices,
 * filters) at most CNNF_KERNEL_MAX_DIM, all weights together at most
 * CNNF_KERNEL_MAX_WEIGHTS (512 MiB of doubles).
 */
#define CNNF_KERNEL_MAX_DIM     4096
#define CNNF_KERNEL_MAX_WEIGHTS (1ULL << 26)

/* Weights, scale 1/1 and bias 0 allocated for the given shape; NULL on a bad size. */
cnnf_kernel *cnnf_kernel_new(int count, int depth, int height, int width);

void cnnf_kernel_free(cnnf_kernel *k);

/*
 * Load a kernel file. Files named *.mat are libvips matrices
 * ("width height [scale [offset]]" then the rows; the sum is divided by scale
 * and offset added); anything else is the cnnf text format of cnnf-kernel(5).
 * Errors give "file:line:column: message". Returns an owned kernel or NULL.
 */
cnnf_kernel *cnnf_kernel_load(const char *path);

/*
 * Parse kernel text in the cnnf format; name is used in messages. In text
 * given on the command line (and in files) a ';' ends a row as a newline does.
 */
cnnf_kernel *cnnf_kernel_parse(const char *text, const char *name);

/* Parse a libvips .mat matrix held in text. */
cnnf_kernel *cnnf_kernel_parse_mat(const char *text, const char *name);

/* Divide each filter by its sum (scale included). -1 when a sum is zero. name for the message. */
int cnnf_kernel_normalize(cnnf_kernel *k, const char *name);

/* Rotate every slice 180 degrees: correlation becomes true convolution. */
void cnnf_kernel_flip(cnnf_kernel *k);

/* Built-in filters, all 2-D, depth 1. */
/* The 1x1 kernel [1]: the same result as the lecture's 3x3 identity, cheaper. */
cnnf_kernel *cnnf_kernel_identity(void);
/* size x size box, scale 1/(size*size). */
cnnf_kernel *cnnf_kernel_box(int size);
/* identity + amount * (identity - box(size)); size odd. */
cnnf_kernel *cnnf_kernel_sharpen(int size, double amount);
/* Moves the content dx right and dy down: a (2|dy|+1) x (2|dx|+1) kernel. */
cnnf_kernel *cnnf_kernel_shift(int dx, int dy);

/* The largest sigma of the built-in Gaussian filters: a radius of 3 sigma within the limit. */
#define CNNF_KERNEL_MAX_SIGMA 500.0

/*
 * The Gaussian of standard deviation sigma (0 < sigma <= CNNF_KERNEL_MAX_SIGMA),
 * as a separable kernel (sep set) of radius r = ceil(3 sigma), size 2r + 1:
 * g[i] = exp(-(i - r)^2 / (2 sigma^2)) divided by their sum, then the middle
 * value set to 1 minus the exact sum of the others, so that the 1-D weights
 * sum to 1 within half an ulp of the middle one. The taps are g[i] * g[j].
 */
cnnf_kernel *cnnf_kernel_gaussian(double sigma);

/*
 * The unsharp mask  identity + amount * (identity - gaussian(sigma)):
 * sep_centre 1 + amount, sep_mul -amount, col and row the Gaussian's.
 */
cnnf_kernel *cnnf_kernel_unsharp(double sigma, double amount);

/* Sum of filter f's weights times its scale. */
double cnnf_kernel_sum(const cnnf_kernel *k, int f);

/*
 * Whether slice c of filter f is separable (rank 1: an outer product of a
 * column and a row) within a relative tolerance of 1e-9. When it is and col
 * and row are not NULL, they receive height and width values whose outer
 * product equals the slice (scale not included).
 */
int cnnf_kernel_separable(const cnnf_kernel *k, int f, int c, double *col, double *row);

#endif
