/* image.h: the image type that readers produce and writers consume. */
#ifndef CNNF_IMAGE_H
#define CNNF_IMAGE_H

#include <stddef.h>

/*
 * Contract
 * - Samples are interleaved, rows top to bottom, no padding between rows:
 *   sample (x, y, c) is at index (y * width + x) * channels + c.
 * - Channel order as the file had it after expansion: 1 gray, 2 gray+alpha,
 *   3 RGB, 4 RGBA. Palette and low-bit images are expanded when read.
 * - type says how a sample is stored: uint8_t, uint16_t (native byte order)
 *   or float. maxval is the largest sample value of the scale the samples are
 *   on (255, 65535, or a PNM maxval); for float images it is the scale the
 *   values came from (0 when they came from a float .npy file: no scale).
 * - alpha is 1 when the last channel is alpha (only with 2 or 4 channels).
 * - An image owns its data (allocated, or mapped: map). cnnf_image_free(NULL)
 *   is a no-op.
 */
typedef enum cnnf_type {
	CNNF_U8 = 1,  /* uint8_t samples */
	CNNF_U16 = 2, /* uint16_t samples */
	CNNF_F32 = 4  /* float samples */
} cnnf_type;

typedef struct cnnf_image {
	int width;       /* columns, >= 1 */
	int height;      /* rows, >= 1 */
	int channels;    /* samples per pixel, 1..CNNF_MAX_CHANNELS */
	cnnf_type type;  /* storage of one sample; its value is its size in bytes */
	unsigned maxval; /* top of the sample scale; 0 for float data with no scale */
	int alpha;       /* 1 when the last channel is alpha */
	void *data;      /* width * height * channels samples of type */
	/*
	 * NULL, or the private mapping of a file that data lies in (a binary
	 * 8-bit PNM read without a copy): cnnf_image_free() unmaps it. Writing
	 * to data is still allowed; it changes only this process's copy.
	 */
	void *map;
	size_t map_len;
} cnnf_image;

#define CNNF_MAX_CHANNELS 65535
/* Default for the pixel limit (--max-pixels): 2^28, e.g. 16384 x 16384. */
#define CNNF_DEFAULT_MAX_PIXELS (1ULL << 28)
/*
 * Default for the cost limit (--max-work), in multiply-adds a run: 10^13,
 * minutes on one machine of today (a model layer runs at about 10^11 a
 * second on two cores, the slowest filter path at about 10^10), not days.
 */
#define CNNF_DEFAULT_MAX_WORK 1e13

/*
 * Byte size of a w x h x c image of samples of elem bytes, in *out.
 * Returns 0, or -1 when a size is not positive or the product overflows
 * size_t (message names what, prefixed by name when name is not NULL).
 */
int cnnf_image_bytes(const char *name, long long w, long long h, long long c, size_t elem,
		     size_t *out);

/*
 * Check image dimensions from a file header before anything is allocated:
 * positive sizes, 1..CNNF_MAX_CHANNELS channels, at most max_pixels pixels
 * (0 means no limit) and a byte size that fits size_t. name is the file for
 * the message. Returns 0 or -1.
 */
int cnnf_image_check(const char *name, long long w, long long h, long long c, cnnf_type type,
		     unsigned long long max_pixels);

/*
 * A new zero-filled image. maxval is set to 255 for CNNF_U8, 65535 for
 * CNNF_U16 and 0 for CNNF_F32; alpha to 0. Returns NULL on a bad size or when
 * memory runs out.
 */
cnnf_image *cnnf_image_new(int width, int height, int channels, cnnf_type type);

void cnnf_image_free(cnnf_image *img);

/* Sample i of the image as a float, whatever its type. */
float cnnf_image_getf(const cnnf_image *img, size_t i);

/* The first sample of row y (0 <= y < height). */
void *cnnf_image_row(const cnnf_image *img, int y);

/*
 * An image handed over a row at a time, top to bottom, so that it can be
 * written while it is still being made. info describes the image (its data
 * is not used).
 */
typedef struct cnnf_rows {
	cnnf_image info;
	/*
	 * The info.width * info.channels samples of row y, of info.type. Asked
	 * for y = 0, 1, 2, ... in order; the pointer stays good until the next
	 * call. NULL, with a message, when the row could not be made.
	 */
	const void *(*row)(void *ctx, int y);
	void *ctx;
} cnnf_rows;

/* The rows of img: row() points into img, which must outlive *out. */
void cnnf_image_to_rows(const cnnf_image *img, cnnf_rows *out);

/*
 * Round a value half up and clamp it to 0..maxval (NaN becomes 0): how every
 * float becomes an integer sample in cnnf.
 */
unsigned cnnf_image_round(double v, unsigned maxval);

/*
 * A copy of src with samples of the given type on the scale 0..maxval
 * (maxval is ignored for CNNF_F32, whose copy keeps src's maxval).
 * Samples are rescaled v * maxval / src->maxval when src has a scale
 * (maxval not 0), whatever its type, so a float image made from a PNM file
 * with maxval 1000 keeps its brightness; float samples with no scale are
 * taken as samples already on the new scale. Then they are rounded half up
 * and clamped. Returns NULL on failure.
 */
cnnf_image *cnnf_image_convert(const cnnf_image *src, cnnf_type type, unsigned maxval);

/*
 * The same conversion for n samples: src holds samples of from->type on
 * from->maxval's scale (from's data is not used); dst gets them as type on
 * 0..maxval. Writers convert a row at a time with it.
 */
void cnnf_image_convert_samples(const cnnf_image *from, const void *src, cnnf_type type,
                                unsigned maxval, void *dst, size_t n);

/*
 * Composite `pixels` pixels of an image with alpha (from->channels 2 or 4,
 * alpha last, of from->type on from->maxval's scale; 1 for float data
 * without a scale) over the colour bg (8-bit R, G, B) and drop the alpha:
 *   out = (colour * a + b * (max - a)) / max
 * with a clamped to 0..max and b the background on the image's scale
 * (bg * max / 255; for gray, the Rec. 601 luma of bg). Integer samples are
 * rounded half up once from that exact quotient, and float ones stay float.
 * dst gets pixels * (channels - 1) samples of from->type.
 */
void cnnf_image_flatten_samples(const cnnf_image *from, const void *src, const unsigned char bg[3],
                                void *dst, size_t pixels);

#endif
