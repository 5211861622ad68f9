/* check_filter.c: the filter pipeline: borders, output scale, alpha handling and options. */
#include <math.h>
#include <stdint.h>

#include "filter/filter.h"
#include "engine/tensor.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A w x h x c image of the given type holding v (interleaved); maxval as cnnf_image_new sets it. */
static cnnf_image *image_of(int w, int h, int c, cnnf_type type, int alpha, const double *v)
{
	cnnf_image *img = cnnf_image_new(w, h, c, type);
	ck_assert_msg(img != NULL, "cnnf_image_new: %s", cnnf_error_get());
	img->alpha = alpha;
	for (size_t i = 0; i < (size_t)w * h * c; i++) {
		if (type == CNNF_U8)
			((uint8_t *)img->data)[i] = (uint8_t)v[i];
		else if (type == CNNF_U16)
			((uint16_t *)img->data)[i] = (uint16_t)v[i];
		else
			((float *)img->data)[i] = (float)v[i];
	}
	return img;
}

/* A bank with the given weights and one scale num/den for every filter. */
static cnnf_kernel *kernel_of(int count, int depth, int h, int w, const double *weights, double num,
                              double den)
{
	cnnf_kernel *k = cnnf_kernel_new(count, depth, h, w);
	ck_assert_msg(k != NULL, "cnnf_kernel_new: %s", cnnf_error_get());
	memcpy(k->weights, weights, sizeof(double) * (size_t)count * depth * h * w);
	for (int f = 0; f < count; f++) {
		k->scale_num[f] = num;
		k->scale_den[f] = den;
	}
	return k;
}

/* Filter, which must succeed, and check the result's shape, type, maxval and alpha flag. */
static cnnf_image *filter_ok(const cnnf_image *img, const cnnf_kernel *k, const cnnf_filter_opts *o,
                             int w, int h, int c, cnnf_type type, unsigned maxval, int alpha)
{
	cnnf_image *out = NULL;
	int rc = cnnf_filter_apply(img, k, o, "test.k", &out);
	ck_assert_msg(rc == 0, "cnnf_filter_apply failed: %s", cnnf_error_get());
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(out->width == w && out->height == h && out->channels == c,
	              "shape %dx%dx%d, expected %dx%dx%d", out->width, out->height, out->channels,
	              w, h, c);
	ck_assert_int_eq(out->type, type);
	ck_assert_uint_eq(out->maxval, maxval);
	ck_assert_int_eq(out->alpha, alpha);
	return out;
}

/* Every sample equal to want (tol 0), or within tol of it. */
static void assert_samples(const cnnf_image *img, const double *want, double tol)
{
	size_t n = (size_t)img->width * img->height * img->channels;
	for (size_t i = 0; i < n; i++) {
		double got = cnnf_image_getf(img, i);
		ck_assert_msg(tol == 0 ? got == want[i] : fabs(got - want[i]) <= tol,
		              "sample %zu (pixel %zu, channel %zu) is %.9g, expected %.9g", i,
		              i / (size_t)img->channels, i % (size_t)img->channels, got, want[i]);
	}
}

static cnnf_filter_opts defaults(void)
{
	cnnf_filter_opts o;
	cnnf_filter_opts_init(&o);
	return o;
}

/*
 * The 3x3 gray image for the box tests:
 *   10 20  30
 *   40 50  60
 *   70 80 100
 * Reflect (dcb|abcd|cba) makes index -1 read 1 and index 3 read 1, so the
 * padded 5x5 is (rows -1..3, columns -1..3):
 *   50 40 50  60 50
 *   20 10 20  30 20
 *   50 40 50  60 50
 *   80 70 80 100 80
 *   50 40 50  60 50
 * Sums of 3 along each padded row, for output columns 0, 1, 2:
 *   row -1, 1, 3: 140 150 160;  row 0: 50 60 70;  row 2: 230 250 260.
 * Output row 0 = rows -1+0+1: 330 360 390
 * Output row 1 = rows  0+1+2: 420 460 490
 * Output row 2 = rows  1+2+3: 510 550 580
 * Divided by 9: 36.667 40 43.333 / 46.667 51.111 54.444 / 56.667 61.111 64.444.
 */
static const double box_in[9] = {10, 20, 30, 40, 50, 60, 70, 80, 100};
static const double box_sums[9] = {330, 360, 390, 420, 460, 490, 510, 550, 580};
static const double box_u8[9] = {37, 40, 43, 47, 51, 54, 57, 61, 64};

/*
 * Float RGBA without a scale (maxval 0): alpha is on 0..1. Opaque red (1,0,0,1)
 * and transparent green (0,1,0,0) under [1 1]/2 give red at alpha 0.5.
 */
START_TEST(test_alpha_float_unscaled)
{
	static const double px[8] = {1, 0, 0, 1, 0, 1, 0, 0};
	static const double want[4] = {1, 0, 0, 0.5};
	static const double pair[2] = {1, 1};
	cnnf_image *img = image_of(2, 1, 4, CNNF_F32, 1, px);
	cnnf_kernel *k = kernel_of(1, 1, 1, 2, pair, 1, 2);
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	o.border = CNNF_BORDER_ZERO;
	cnnf_image *out = filter_ok(img, k, &o, 1, 1, 4, CNNF_F32, 0, 1);
	assert_samples(out, want, 1e-6);
	cnnf_image_free(out);
	cnnf_image_free(img);
	cnnf_kernel_free(k);
}
END_TEST

/*
 * --offset and --abs are for colour: uniform RGBA (100,100,100,100) under
 * [1 1]/2 keeps colour 100 and alpha 100; offset 50 makes colour 150 and
 * leaves alpha at 100. A [1 -1] difference gives colour 0, |0| + 50 = 50.
 */
START_TEST(test_offset_spares_alpha)
{
	static const double px[8] = {100, 100, 100, 100, 100, 100, 100, 100};
	static const double want[4] = {150, 150, 150, 100};
	static const double pair[2] = {1, 1};
	cnnf_image *img = image_of(2, 1, 4, CNNF_U8, 1, px);
	cnnf_kernel *k = kernel_of(1, 1, 1, 2, pair, 1, 2);
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	o.offset = 50;
	cnnf_image *out = filter_ok(img, k, &o, 1, 1, 4, CNNF_U8, 255, 1);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);
	cnnf_kernel_free(k);
}
END_TEST

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_opts_defaults)
{
	cnnf_filter_opts o;
	memset(&o, 0x5a, sizeof o);
	cnnf_filter_opts_init(&o);
	ck_assert_int_eq(o.pad_mode, CNNF_PAD_SAME);
	ck_assert_int_eq(o.pad, 0);
	ck_assert_int_eq(o.stride, 1);
	ck_assert_int_eq(o.dilation, 1);
	ck_assert_int_eq(o.border, CNNF_BORDER_REFLECT);
	ck_assert_int_eq(o.abs, 0);
	ck_assert(o.offset == 0);
	ck_assert_int_eq(o.float_out, 0);
	ck_assert_int_eq(o.threads, 0);
}
END_TEST

START_TEST(test_box_reflect_u8)
{
	cnnf_image *img = image_of(3, 3, 1, CNNF_U8, 0, box_in);
	cnnf_kernel *k = cnnf_kernel_box(3);
	ck_assert_ptr_nonnull(k);
	cnnf_filter_opts o = defaults();
	cnnf_image *out = filter_ok(img, k, &o, 3, 3, 1, CNNF_U8, 255, 0);
	assert_samples(out, box_u8, 0);
	cnnf_image_free(out);
	/* One thread or several: the same bytes. */
	o.threads = 1;
	out = filter_ok(img, k, &o, 3, 3, 1, CNNF_U8, 255, 0);
	assert_samples(out, box_u8, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* The same image on 0..65535, ten times larger sample values: 33000/9 = 3666.67 -> 3667, ... */
START_TEST(test_box_reflect_u16)
{
	double v[9];
	for (int i = 0; i < 9; i++)
		v[i] = box_in[i] * 100;
	static const double want[9] = {3667, 4000, 4333, 4667, 5111, 5444, 5667, 6111, 6444};
	cnnf_image *img = image_of(3, 3, 1, CNNF_U16, 0, v);
	cnnf_kernel *k = cnnf_kernel_box(3);
	cnnf_filter_opts o = defaults();
	cnnf_image *out = filter_ok(img, k, &o, 3, 3, 1, CNNF_U16, 65535, 0);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);

	/* Clamped at 65535, not at 255 and not wrapped: 2 * 40000 = 80000 -> 65535; 2 * 100 = 200.
	 */
	static const double one[1] = {1};
	static const double v2[2] = {40000, 100};
	static const double want2[2] = {65535, 200};
	img = image_of(2, 1, 1, CNNF_U16, 0, v2);
	k = kernel_of(1, 1, 1, 1, one, 2, 1);
	out = filter_ok(img, k, &o, 2, 1, 1, CNNF_U16, 65535, 0);
	assert_samples(out, want2, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* float_out: the sums / 9 unrounded, as floats, on the input's scale (maxval 255). */
START_TEST(test_float_out)
{
	cnnf_image *img = image_of(3, 3, 1, CNNF_U8, 0, box_in);
	cnnf_kernel *k = cnnf_kernel_box(3);
	cnnf_filter_opts o = defaults();
	o.float_out = 1;
	cnnf_image *out = filter_ok(img, k, &o, 3, 3, 1, CNNF_F32, 255, 0);
	double want[9];
	for (int i = 0; i < 9; i++)
		want[i] = box_sums[i] / 9;
	assert_samples(out, want, 1e-5);
	cnnf_image_free(out);
	cnnf_image_free(img);

	/*
	 * Three equal rows 10 50 60 10 20 40 30: with reflect the vertical sum
	 * is 3 times the row, so the 3x3 box is the 1-D mean of 3. Column -1
	 * reads 50 and column 7 reads 40: 110/3 120/3 120/3 90/3 70/3 90/3 110/3.
	 */
	static const double row[7] = {10, 50, 60, 10, 20, 40, 30};
	static const double row_sums[7] = {110, 120, 120, 90, 70, 90, 110};
	static const double row_u8[7] = {37, 40, 40, 30, 23, 30, 37};
	double v[21], fwant[21], iwant[21];
	for (int i = 0; i < 21; i++) {
		v[i] = row[i % 7];
		fwant[i] = row_sums[i % 7] / 3;
		iwant[i] = row_u8[i % 7];
	}
	img = image_of(7, 3, 1, CNNF_U8, 0, v);
	out = filter_ok(img, k, &o, 7, 3, 1, CNNF_F32, 255, 0);
	assert_samples(out, fwant, 1e-5);
	/* Column 4 is the one from the lecture: 70/3 = 23.333333. */
	ck_assert(fabs(cnnf_image_getf(out, 4) - 23.333333) <= 1e-5);
	cnnf_image_free(out);
	o.float_out = 0;
	out = filter_ok(img, k, &o, 7, 3, 1, CNNF_U8, 255, 0);
	assert_samples(out, iwant, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);
	cnnf_kernel_free(k);
}
END_TEST

/* A float image stays float with its scale (here none: maxval 0), unrounded, unclamped. */
START_TEST(test_float_input)
{
	double v[9];
	for (int i = 0; i < 9; i++)
		v[i] = box_in[i] / 1000 - 0.05; /* -0.04 .. 0.05: negatives must survive */
	cnnf_image *img = image_of(3, 3, 1, CNNF_F32, 0, v);
	cnnf_kernel *k = cnnf_kernel_box(3);
	cnnf_filter_opts o = defaults();
	cnnf_image *out = filter_ok(img, k, &o, 3, 3, 1, CNNF_F32, 0, 0);
	/* The box is linear: sum/9 scaled the same way, (s/9)/1000 - 0.05. */
	double want[9];
	for (int i = 0; i < 9; i++)
		want[i] = box_sums[i] / 9 / 1000 - 0.05;
	assert_samples(out, want, 1e-6);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/*
 * Geometry through the options, on a 7 wide, 5 high ramp x + 10y. A 3x3 box
 * of a linear ramp is the value at the window's centre (the sum is 9 times
 * it, exactly), wherever no border is read.
 *   same, stride 1:  7x5         valid, stride 1: 5x3, centre (x+1, y+1)
 *   same, stride 2:  ceil(7/2) x ceil(5/2) = 4x3, centre (2x, 2y), one before
 *   valid, stride 2: floor(4/2)+1 x floor(2/2)+1 = 3x2, centre (2x+1, 2y+1)
 */
START_TEST(test_stride_and_valid)
{
	double v[35];
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 7; x++)
			v[y * 7 + x] = x + 10 * y;
	cnnf_image *img = image_of(7, 5, 1, CNNF_U8, 0, v);
	cnnf_kernel *k = cnnf_kernel_box(3);
	cnnf_filter_opts o = defaults();

	cnnf_image *out = filter_ok(img, k, &o, 7, 5, 1, CNNF_U8, 255, 0);
	cnnf_image_free(out);

	o.pad_mode = CNNF_PAD_VALID;
	out = filter_ok(img, k, &o, 5, 3, 1, CNNF_U8, 255, 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 5; x++)
			ck_assert_int_eq(cnnf_image_getf(out, (size_t)y * 5 + x),
			                 (x + 1) + 10 * (y + 1));
	cnnf_image_free(out);

	o.stride = 2;
	out = filter_ok(img, k, &o, 3, 2, 1, CNNF_U8, 255, 0);
	static const double valid2[6] = {11, 13, 15, 31, 33, 35};
	assert_samples(out, valid2, 0);
	cnnf_image_free(out);

	o.pad_mode = CNNF_PAD_SAME;
	out = filter_ok(img, k, &o, 4, 3, 1, CNNF_U8, 255, 0);
	/* Output (1, 1) is centred on (2, 2) = 22, and (2, 1) on (4, 2) = 24: no border read. */
	ck_assert_int_eq(cnnf_image_getf(out, 1 * 4 + 1), 22);
	ck_assert_int_eq(cnnf_image_getf(out, 1 * 4 + 2), 24);
	cnnf_image_free(out);

	/* Explicit padding 2 on every side, stride 1: 7 + 4 - 3 + 1 = 9 by 5 + 4 - 3 + 1 = 7. */
	o.pad_mode = CNNF_PAD_EXPLICIT;
	o.pad = 2;
	o.stride = 1;
	out = filter_ok(img, k, &o, 9, 7, 1, CNNF_U8, 255, 0);
	cnnf_image_free(out);

	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/*
 * No bleeding under transparent pixels. Two RGBA pixels: opaque red
 * (255,0,0,255) and fully transparent green (0,255,0,0); [1 1] / 2, zero
 * border, valid: one output pixel. Premultiplied, green becomes (0,0,0,0);
 * the mean is (127.5, 0, 0, 127.5); divided by alpha 127.5/255 the colour is
 * (255, 0, 0) and alpha 127.5 rounds half up to 128. A naive filter would
 * give (128, 128, 0).
 */
START_TEST(test_alpha_no_bleeding)
{
	static const double px[8] = {255, 0, 0, 255, 0, 255, 0, 0};
	static const double want[4] = {255, 0, 0, 128};
	static const double pair[2] = {1, 1};
	cnnf_image *img = image_of(2, 1, 4, CNNF_U8, 1, px);
	cnnf_kernel *k = kernel_of(1, 1, 1, 2, pair, 1, 2);
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	o.border = CNNF_BORDER_ZERO;
	cnnf_image *out = filter_ok(img, k, &o, 1, 1, 4, CNNF_U8, 255, 1);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);

	/* 16 bits: the same, with alpha 65535/2 = 32767.5 -> 32768. */
	static const double px16[8] = {65535, 0, 0, 65535, 0, 65535, 0, 0};
	static const double want16[4] = {65535, 0, 0, 32768};
	img = image_of(2, 1, 4, CNNF_U16, 1, px16);
	out = filter_ok(img, k, &o, 1, 1, 4, CNNF_U16, 65535, 1);
	assert_samples(out, want16, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);

	/* Gray + alpha: (200, 255) and (0, 0) give (200, 128). */
	static const double ga[4] = {200, 255, 0, 0};
	static const double ga_want[2] = {200, 128};
	img = image_of(2, 1, 2, CNNF_U8, 1, ga);
	out = filter_ok(img, k, &o, 1, 1, 2, CNNF_U8, 255, 1);
	assert_samples(out, ga_want, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);

	cnnf_kernel_free(k);
}
END_TEST

/*
 * Partial alpha: colour is the alpha-weighted mean. Opaque red and blue at
 * alpha 85: premultiplied blue is 255 * 85/255 = 85; means R 127.5, B 42.5,
 * A (255 + 85)/2 = 170; colour R = 127.5 * 255/170 = 191.25 -> 191,
 * B = 42.5 * 255/170 = 63.75 -> 64 (i.e. 255*255/340 and 255*85/340).
 */
START_TEST(test_alpha_weighted)
{
	static const double px[8] = {255, 0, 0, 255, 0, 0, 255, 85};
	static const double want[4] = {191, 0, 64, 170};
	static const double pair[2] = {1, 1};
	cnnf_image *img = image_of(2, 1, 4, CNNF_U8, 1, px);
	cnnf_kernel *k = kernel_of(1, 1, 1, 2, pair, 1, 2);
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	cnnf_image *out = filter_ok(img, k, &o, 1, 1, 4, CNNF_U8, 255, 1);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	/* float_out: the same, unrounded, alpha flag kept. */
	static const double fwant[4] = {191.25, 0, 63.75, 170};
	o.float_out = 1;
	out = filter_ok(img, k, &o, 1, 1, 4, CNNF_F32, 255, 1);
	assert_samples(out, fwant, 1e-4);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* A fully opaque RGBA image is filtered exactly like the RGB image of its colours. */
START_TEST(test_opaque_rgba_like_rgb)
{
	enum { W = 4, H = 3 };
	double rgb[W * H * 3], rgba[W * H * 4];
	for (int p = 0; p < W * H; p++) {
		for (int c = 0; c < 3; c++) {
			/* Uneven values so that rounding happens everywhere. */
			double v = (p * 37 + c * 91 + p * p * 5) % 256;
			rgb[p * 3 + c] = v;
			rgba[p * 4 + c] = v;
		}
		rgba[p * 4 + 3] = 255;
	}
	cnnf_image *a = image_of(W, H, 3, CNNF_U8, 0, rgb);
	cnnf_image *b = image_of(W, H, 4, CNNF_U8, 1, rgba);
	cnnf_kernel *kernels[2] = {cnnf_kernel_box(3), cnnf_kernel_sharpen(3, 1.5)};
	for (int ki = 0; ki < 2; ki++) {
		ck_assert_ptr_nonnull(kernels[ki]);
		cnnf_filter_opts o = defaults();
		cnnf_image *ra = filter_ok(a, kernels[ki], &o, W, H, 3, CNNF_U8, 255, 0);
		cnnf_image *rb = filter_ok(b, kernels[ki], &o, W, H, 4, CNNF_U8, 255, 1);
		for (int p = 0; p < W * H; p++) {
			for (int c = 0; c < 3; c++)
				ck_assert_msg(((uint8_t *)rb->data)[p * 4 + c] ==
				                  ((uint8_t *)ra->data)[p * 3 + c],
				              "kernel %d: pixel %d channel %d: RGBA %d, RGB %d", ki,
				              p, c, ((uint8_t *)rb->data)[p * 4 + c],
				              ((uint8_t *)ra->data)[p * 3 + c]);
			/* An opaque image stays opaque under a kernel whose sum is 1. */
			ck_assert_int_eq(((uint8_t *)rb->data)[p * 4 + 3], 255);
		}
		cnnf_image_free(ra);
		cnnf_image_free(rb);
		cnnf_kernel_free(kernels[ki]);
	}
	cnnf_image_free(a);
	cnnf_image_free(b);
}
END_TEST

/*
 * A single-tap kernel does not mix pixels, so nothing is premultiplied and
 * colour under alpha 0 survives. Shift right by 1 on 3x1 with reflect:
 * out[x] = in[x-1], in[-1] reads in[1]: out = p1 p0 p1. p0 is transparent
 * with colour (10,20,30), which must reappear as it was.
 */
START_TEST(test_shift_keeps_hidden_colour)
{
	static const double px[12] = {10, 20, 30, 0, 40, 50, 60, 255, 70, 80, 90, 0};
	static const double want[12] = {40, 50, 60, 255, 10, 20, 30, 0, 40, 50, 60, 255};
	cnnf_image *img = image_of(3, 1, 4, CNNF_U8, 1, px);
	cnnf_kernel *k = cnnf_kernel_shift(1, 0);
	ck_assert_ptr_nonnull(k);
	cnnf_filter_opts o = defaults();
	cnnf_image *out = filter_ok(img, k, &o, 3, 1, 4, CNNF_U8, 255, 1);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);

	/* The identity, too: the image comes back byte for byte. */
	k = cnnf_kernel_identity();
	ck_assert_ptr_nonnull(k);
	out = filter_ok(img, k, &o, 3, 1, 4, CNNF_U8, 255, 1);
	assert_samples(out, px, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* A 3-D kernel of depth 3, 1x1, weights 1 1 1: one channel, R + G + B, clamped at 255. */
START_TEST(test_3d_kernel_sum)
{
	static const double px[9] = {10, 20, 30, 100, 100, 100, 0, 1, 2};
	static const double ones[3] = {1, 1, 1};
	static const double want[3] = {60, 255, 3};
	static const double fwant[3] = {60, 300, 3};
	cnnf_image *img = image_of(3, 1, 3, CNNF_U8, 0, px);
	cnnf_kernel *k = kernel_of(1, 3, 1, 1, ones, 1, 1);
	cnnf_filter_opts o = defaults();
	cnnf_image *out = filter_ok(img, k, &o, 3, 1, 1, CNNF_U8, 255, 0);
	assert_samples(out, want, 0);
	cnnf_image_free(out);
	o.float_out = 1;
	out = filter_ok(img, k, &o, 3, 1, 1, CNNF_F32, 255, 0);
	assert_samples(out, fwant, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);

	/*
	 * On RGBA a depth-4 kernel reads alpha as a channel like the others and
	 * gives one channel, which is not alpha: (1,0,0,1) sums R and A.
	 */
	static const double rgba[8] = {10, 20, 30, 40, 5, 6, 7, 0};
	static const double ra[4] = {1, 0, 0, 1};
	static const double want4[2] = {50, 5};
	img = image_of(2, 1, 4, CNNF_U8, 1, rgba);
	k = kernel_of(1, 4, 1, 1, ra, 1, 1);
	o.float_out = 0;
	out = filter_ok(img, k, &o, 2, 1, 1, CNNF_U8, 255, 0);
	assert_samples(out, want4, 0);
	cnnf_image_free(out);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/*
 * abs and offset through the options. [-1 0 1] valid on 10 50 20 20 gives
 * 20 - 10 = 10 and 20 - 50 = -30. Plain: 10, 0 (clamped). abs: 10, 30.
 * offset 128: 138, 98. abs then offset: 138, 158. offset 250: 260 -> 255, 220.
 */
START_TEST(test_abs_offset)
{
	static const double row[4] = {10, 50, 20, 20};
	static const double diff[3] = {-1, 0, 1};
	static const struct {
		int abs;
		double offset;
		double want[2];
	} cases[] = {
	    {0, 0, {10, 0}},      {1, 0, {10, 30}},     {0, 128, {138, 98}},
	    {1, 128, {138, 158}}, {0, 250, {255, 220}}, {0, 0.5, {11, 0}},
	};
	cnnf_image *img = image_of(4, 1, 1, CNNF_U8, 0, row);
	cnnf_kernel *k = kernel_of(1, 1, 1, 3, diff, 1, 1);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cnnf_filter_opts o = defaults();
		o.pad_mode = CNNF_PAD_VALID;
		o.abs = cases[i].abs;
		o.offset = cases[i].offset;
		cnnf_image *out = filter_ok(img, k, &o, 2, 1, 1, CNNF_U8, 255, 0);
		ck_assert_msg(cnnf_image_getf(out, 0) == cases[i].want[0] &&
		                  cnnf_image_getf(out, 1) == cases[i].want[1],
		              "abs %d offset %g: %g %g, expected %g %g", cases[i].abs,
		              cases[i].offset, cnnf_image_getf(out, 0), cnnf_image_getf(out, 1),
		              cases[i].want[0], cases[i].want[1]);
		cnnf_image_free(out);
	}

	/* float_out keeps the negative response and the offset without clamping. */
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	o.float_out = 1;
	o.offset = -0.25;
	static const double fwant[2] = {9.75, -30.25};
	cnnf_image *out = filter_ok(img, k, &o, 2, 1, 1, CNNF_F32, 255, 0);
	assert_samples(out, fwant, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);

	/* 16 bits with the mid-grey offset 32768: 32778, 32738. */
	img = image_of(4, 1, 1, CNNF_U16, 0, row);
	o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	o.offset = 32768;
	static const double want16[2] = {32778, 32738};
	out = filter_ok(img, k, &o, 2, 1, 1, CNNF_U16, 65535, 0);
	assert_samples(out, want16, 0);
	cnnf_image_free(out);
	cnnf_image_free(img);
	cnnf_kernel_free(k);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* ---- streaming: strips of rows ------------------------------------------------------------- */

/* A fixed pseudo-random sequence (xorshift) for test images and weights. */
static unsigned long long strip_rng = 88172645463325252ULL;
static double strip_rand(void)
{
	strip_rng ^= strip_rng << 13;
	strip_rng ^= strip_rng >> 7;
	strip_rng ^= strip_rng << 17;
	return (double)(strip_rng >> 11) / (double)(1ULL << 53);
}

/*
 * The rows of cnnf_filter_open() with strips of strip_rows rows are the rows
 * of cnnf_filter_apply(), byte for byte.
 */
static void assert_strips_equal(const cnnf_image *img, const cnnf_kernel *k,
                                const cnnf_filter_opts *o, int strip_rows, const char *what)
{
	cnnf_image *whole = NULL;
	ck_assert_msg(cnnf_filter_apply(img, k, o, "k", &whole) == 0, "%s: %s", what,
	              cnnf_error_get());
	cnnf_filter_stream *fs = NULL;
	ck_assert_msg(cnnf_filter_open(img, k, o, "k", strip_rows, &fs) == 0, "%s: %s", what,
	              cnnf_error_get());
	const cnnf_rows *r = cnnf_filter_get_rows(fs);
	ck_assert_int_eq(r->info.width, whole->width);
	ck_assert_int_eq(r->info.height, whole->height);
	ck_assert_int_eq(r->info.channels, whole->channels);
	ck_assert_int_eq(r->info.type, whole->type);
	ck_assert_uint_eq(r->info.maxval, whole->maxval);
	ck_assert_int_eq(r->info.alpha, whole->alpha);
	size_t bytes = (size_t)whole->width * whole->channels * whole->type;
	for (int y = 0; y < whole->height; y++) {
		const void *row = r->row(r->ctx, y);
		ck_assert_msg(row != NULL, "%s: row %d: %s", what, y, cnnf_error_get());
		const unsigned char *want = (const unsigned char *)whole->data + y * bytes;
		ck_assert_msg(memcmp(row, want, bytes) == 0, "%s, strips of %d rows: row %d differs",
		              what, strip_rows, y);
	}
	cnnf_filter_close(fs);
	cnnf_image_free(whole);
}

START_TEST(test_strips_equal_whole)
{
	static const int strips[] = {1, 2, 5, 0};
	static const int threads[] = {1, 3};
	/* gray 8-bit, RGB 16-bit, RGBA 8-bit with varying alpha (premultiplied: made whole) */
	static const struct {
		int c, alpha;
		cnnf_type type;
	} images[] = {{1, 0, CNNF_U8}, {3, 0, CNNF_U16}, {4, 1, CNNF_U8}};
	for (size_t im = 0; im < sizeof images / sizeof *images; im++) {
		int w = 37, h = 29, c = images[im].c;
		double top = images[im].type == CNNF_U16 ? 65535 : 255;
		double *v = malloc(sizeof(double) * (size_t)w * h * c);
		ck_assert_ptr_nonnull(v);
		for (size_t i = 0; i < (size_t)w * h * c; i++)
			v[i] = floor(strip_rand() * (top + 1));
		cnnf_image *img = image_of(w, h, c, images[im].type, images[im].alpha, v);
		free(v);

		/* box 3x3 / 9; a separable 5x5 tent / 81; a float 3x3 with stride 2, valid */
		double box[9], tent[25], rnd[9];
		for (int i = 0; i < 9; i++)
			box[i] = 1, rnd[i] = strip_rand() - 0.3;
		for (int i = 0; i < 25; i++)
			tent[i] = (double)((3 - abs(i / 5 - 2)) * (3 - abs(i % 5 - 2)));
		cnnf_kernel *ks[3] = {kernel_of(1, 1, 3, 3, box, 1, 9),
		                      kernel_of(1, 1, 5, 5, tent, 1, 81),
		                      kernel_of(1, 1, 3, 3, rnd, 1, 1)};
		for (int ki = 0; ki < 3; ki++)
			for (size_t si = 0; si < sizeof strips / sizeof *strips; si++)
				for (size_t ti = 0; ti < sizeof threads / sizeof *threads; ti++)
					for (int fo = 0; fo < 2; fo++) {
						cnnf_filter_opts o = defaults();
						o.threads = threads[ti];
						o.float_out = fo;
						if (ki == 2) {
							o.stride = 2;
							o.pad_mode = CNNF_PAD_VALID;
							o.border = CNNF_BORDER_WRAP;
						}
						if (ki == 1)
							o.dilation = 2;
						char what[96];
						snprintf(what, sizeof what,
						         "image %zu kernel %d threads %d float %d",
						         im, ki, threads[ti], fo);
						assert_strips_equal(img, ks[ki], &o, strips[si],
						                    what);
					}
		for (int ki = 0; ki < 3; ki++)
			cnnf_kernel_free(ks[ki]);
		cnnf_image_free(img);
	}
}
END_TEST

/* A bank of 2 filters of depth 3 on RGB: 2 output channels, strips equal the whole. */
START_TEST(test_strips_bank)
{
	int w = 23, h = 17;
	double *v = malloc(sizeof(double) * (size_t)w * h * 3);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < (size_t)w * h * 3; i++)
		v[i] = floor(strip_rand() * 256);
	cnnf_image *img = image_of(w, h, 3, CNNF_U8, 0, v);
	free(v);
	double wt[2 * 3 * 3 * 3];
	for (int i = 0; i < 54; i++)
		wt[i] = floor(strip_rand() * 7) - 3;
	cnnf_kernel *k = kernel_of(2, 3, 3, 3, wt, 1, 8);
	cnnf_filter_opts o = defaults();
	o.float_out = 1;
	o.abs = 1;
	o.offset = 0.5;
	for (int strip = 1; strip <= 4; strip++)
		assert_strips_equal(img, k, &o, strip, "bank");
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* ---- alpha and boxes against the whole-image path they replace ---------------------------- */

/*
 * How the filter used to make a result with alpha, whole: a float tensor of
 * the image, colour premultiplied by alpha / maxval, the engine's band loops
 * in double (no int_max, no exact_max: the plain path), colour divided by the
 * filtered alpha, --abs and --offset on colour, then the output's scale.
 */
static cnnf_image *whole_alpha(const cnnf_image *img, const cnnf_kernel *k,
                               const cnnf_filter_opts *o)
{
	cnnf_tensor *in = cnnf_tensor_from_image(img);
	ck_assert_ptr_nonnull(in);
	double maxval = img->maxval ? img->maxval : 1.0;
	size_t plane = (size_t)in->h * in->w;
	const float *a = in->data + (size_t)(in->c - 1) * plane;
	for (int c = 0; c < in->c - 1; c++)
		for (size_t i = 0; i < plane; i++)
			in->data[c * plane + i] =
			    (float)((double)in->data[c * plane + i] * a[i] / maxval);
	cnnf_conv_geom g = {.stride_y = o->stride, .stride_x = o->stride, .dil_y = o->dilation,
	                    .dil_x = o->dilation, .border = o->border};
	cnnf_conv_pad(o->pad_mode, o->pad, img->height, k->height, o->stride, o->dilation,
	              &g.pad_top, &g.pad_bottom);
	cnnf_conv_pad(o->pad_mode, o->pad, img->width, k->width, o->stride, o->dilation,
	              &g.pad_left, &g.pad_right);
	cnnf_conv_out post = {0};
	cnnf_tensor *res = NULL;
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, &post, 1, "whole", &res), 0);
	plane = (size_t)res->h * res->w;
	a = res->data + (size_t)(res->c - 1) * plane;
	for (int c = 0; c < res->c - 1; c++)
		for (size_t i = 0; i < plane; i++) {
			float *v = res->data + c * plane + i;
			double alpha = a[i];
			*v = alpha > 0 ? (float)((double)*v * maxval / alpha) : 0.0f;
			*v = (float)((o->abs ? fabs(*v) : *v) + o->offset);
		}
	cnnf_type type = img->type != CNNF_F32 && !o->float_out ? img->type : CNNF_F32;
	cnnf_image *out = cnnf_tensor_to_image(res, type, img->maxval, 1);
	ck_assert_ptr_nonnull(out);
	cnnf_tensor_free(in);
	cnnf_tensor_free(res);
	return out;
}

/*
 * Gray+alpha and RGBA of 8 and 16 bits and float, with alpha 0, full and in
 * between: the filter, whole and a strip at a time, gives the whole-image
 * path's bytes, for boxes (running sums over premultiplied colour) of every
 * size up to 15 and for kernels that are not boxes, under every border,
 * stride, dilation and padding.
 */
START_TEST(test_alpha_strips_like_whole)
{
	static const struct {
		int c;
		cnnf_type type;
	} images[] = {{4, CNNF_U8}, {2, CNNF_U16}, {4, CNNF_U16}, {4, CNNF_F32}};
	static const cnnf_border borders[] = {CNNF_BORDER_ZERO, CNNF_BORDER_REPLICATE,
	                                      CNNF_BORDER_REFLECT, CNNF_BORDER_SYMMETRIC,
	                                      CNNF_BORDER_WRAP};
	for (size_t im = 0; im < sizeof images / sizeof *images; im++) {
		int w = 19, h = 14, c = images[im].c;
		double top = images[im].type == CNNF_U16 ? 65535 : images[im].type == CNNF_U8 ? 255 : 1;
		double *v = malloc(sizeof(double) * (size_t)w * h * c);
		ck_assert_ptr_nonnull(v);
		for (size_t i = 0; i < (size_t)w * h * c; i++) {
			double r = strip_rand();
			if ((int)(i % (size_t)c) == c - 1 && r < 0.4)
				v[i] = r < 0.2 ? 0 : top;
			else
				v[i] = images[im].type == CNNF_F32 ? strip_rand()
				                                   : floor(strip_rand() * (top + 1));
		}
		cnnf_image *img = image_of(w, h, c, images[im].type, 1, v);
		if (images[im].type == CNNF_F32)
			img->maxval = 0;
		free(v);
		for (int size = 2; size <= 16; size++) {
			int kh = size <= 15 ? size : 3, kw = size <= 15 ? size - size / 3 : 5;
			double wt[25];
			cnnf_kernel *k = cnnf_kernel_new(1, 1, kh, kw);
			ck_assert_ptr_nonnull(k);
			for (int i = 0; i < kh * kw; i++)
				k->weights[i] = size <= 15 ? 1 : (wt[i % 25] = floor(strip_rand() * 9) - 2);
			k->scale_den[0] = size <= 15 ? (double)kh * kw : 7;
			cnnf_filter_opts o = defaults();
			o.border = borders[size % 5];
			o.stride = 1 + size % 3;
			o.dilation = 1 + size % 4 / 2;
			if (size % 4 == 1)
				o.pad_mode = CNNF_PAD_EXPLICIT, o.pad = size % 7;
			o.float_out = size % 5 == 2;
			if (size % 6 == 5)
				o.abs = 1, o.offset = 0.5;
			o.threads = 1 + size % 3;
			cnnf_image *want = whole_alpha(img, k, &o);
			cnnf_image *got = NULL;
			ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "k", &got), 0);
			ck_assert_int_eq(got->width, want->width);
			ck_assert_int_eq(got->height, want->height);
			size_t bytes = (size_t)want->width * want->height * want->channels * want->type;
			ck_assert_msg(memcmp(got->data, want->data, bytes) == 0,
			              "image %zu, %dx%d kernel: differs from the whole-image path", im, kh,
			              kw);
			char what[64];
			snprintf(what, sizeof what, "alpha image %zu, %dx%d", im, kh, kw);
			assert_strips_equal(img, k, &o, 1 + size % 4, what);
			cnnf_image_free(got);
			cnnf_image_free(want);
			cnnf_kernel_free(k);
		}
		cnnf_image_free(img);
	}
}
END_TEST

/* cnnf_filter_work(): taps times outputs, and for boxes the sums' work, whatever the size. */
START_TEST(test_work)
{
	double *v = calloc(20 * 16 * 3, sizeof(double));
	ck_assert_ptr_nonnull(v);
	cnnf_image *img = image_of(20, 16, 3, CNNF_U8, 0, v);
	free(v);
	/* A 5x5 that is neither a box nor separable: 20 x 16 outputs x 3 channels x 25 taps. */
	double wt[25];
	for (int i = 0; i < 25; i++)
		wt[i] = i % 7 == 0 ? 3 : i % 2;
	cnnf_kernel *k = kernel_of(1, 1, 5, 5, wt, 1, 1);
	cnnf_filter_opts o = defaults();
	cnnf_filter_stream *fs = NULL;
	ck_assert_int_eq(cnnf_filter_open(img, k, &o, "k", 0, &fs), 0);
	ck_assert_uint_eq(cnnf_filter_work(fs), 20ull * 16 * 3 * 25);
	cnnf_filter_close(fs);
	cnnf_kernel_free(k);
	/* Boxes taller and wider than the image: the same work at any size. */
	unsigned long long work[3];
	static const int sizes[3] = {101, 1001, 4095};
	for (int i = 0; i < 3; i++) {
		k = cnnf_kernel_box(sizes[i]);
		ck_assert_ptr_nonnull(k);
		ck_assert_int_eq(cnnf_filter_open(img, k, &o, "box", 0, &fs), 0);
		work[i] = cnnf_filter_work(fs);
		cnnf_filter_close(fs);
		cnnf_kernel_free(k);
	}
	ck_assert_uint_eq(work[0], work[1]);
	ck_assert_uint_eq(work[1], work[2]);
	/* 16 rows summed for the first output row, 2 per later row, then 2 per column and output. */
	ck_assert_uint_eq(work[0], 3ull * ((16 + 15 * 2) * 20 + 16 * (2 * (38 + 1) + 2 * 20)));
	/*
	 * A Gaussian of sigma 1 (7 x 7) runs as two 1-D passes, not 49 taps an
	 * output: one band of all 16 rows here, 7 taps for each of its 22 rows,
	 * then 7 for each output.
	 */
	k = cnnf_kernel_gaussian(1);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(cnnf_filter_open(img, k, &o, "gaussian", 0, &fs), 0);
	unsigned long long gw = cnnf_filter_work(fs), outs = 20ull * 16 * 3;
	ck_assert_uint_eq(gw, 3ull * (22 * 20 * 7 + 16 * 20 * 7));
	ck_assert_uint_lt(gw, outs * 49);
	cnnf_filter_close(fs);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* ---- Gaussian and unsharp mask against a plain loop in long double ------------------------- */

/*
 * The reference: the Gaussian of sigma worked out here in long double, its
 * 2-D taps summed over the border-mapped samples of channel ch at output
 * (y, x), stride 1, SAME padding (radius r * dilation on every side). Plain:
 * the blur B, or for unsharp x + amount * (x - B). With premult (colour of an
 * image with alpha), what the filter does with alpha: the same on colour
 * premultiplied by alpha / max and on alpha, the one divided by the other.
 * No rounding.
 */
static long double gauss_ref(const cnnf_image *img, double sigma, int dil, cnnf_border b, int ch,
                             int y, int x, int unsharp, double amount, int premult)
{
	int r = (int)ceil(3 * sigma), n = 2 * r + 1;
	long double g[64], sum = 0;
	ck_assert_int_le(n, 64);
	for (int i = 0; i < n; i++)
		sum += g[i] = expl(-(long double)(i - r) * (i - r) / (2.0L * sigma * sigma));
	int c = img->channels;
	long double max = img->maxval ? img->maxval : 1, bv = 0, ba = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			long sy = cnnf_conv_border_index(y + (long)(i - r) * dil, img->height, b);
			long sx = cnnf_conv_border_index(x + (long)(j - r) * dil, img->width, b);
			if (sy < 0 || sx < 0)
				continue;
			size_t at = ((size_t)sy * img->width + (size_t)sx) * c;
			long double w = g[i] / sum * (g[j] / sum);
			long double v = cnnf_image_getf(img, at + ch);
			if (premult) {
				long double a = cnnf_image_getf(img, at + c - 1);
				v = v * a / max;
				ba += w * a;
			}
			bv += w * v;
		}
	size_t at = ((size_t)y * img->width + x) * c;
	long double v = cnnf_image_getf(img, at + ch), a = cnnf_image_getf(img, at + c - 1);
	if (premult)
		v = v * a / max;
	long double num = unsharp ? v + amount * (v - bv) : bv;
	if (!premult)
		return num;
	long double den = unsharp ? a + amount * (a - ba) : ba;
	return den > 0 ? num * max / den : 0;
}

/* A w x h x c test image of random samples of type (float: 0..1, no scale); alpha random too. */
static cnnf_image *random_image(int w, int h, int c, cnnf_type type, int alpha)
{
	double top = type == CNNF_U16 ? 65535 : type == CNNF_U8 ? 255 : 1;
	double *v = malloc(sizeof(double) * (size_t)w * h * c);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < (size_t)w * h * c; i++) {
		v[i] = type == CNNF_F32 ? strip_rand() : floor(strip_rand() * (top + 1));
		/* Alpha from half to full: unsharp alpha, which divides colour, far from 0. */
		if (alpha && (int)(i % (size_t)c) == c - 1)
			v[i] = floor(top / 2 + v[i] / 2);
	}
	cnnf_image *img = image_of(w, h, c, type, alpha, v);
	if (type == CNNF_F32)
		img->maxval = 0;
	free(v);
	return img;
}

/* What test_gaussian_reference() runs: the image, the filter and the options. */
typedef struct gauss_case {
	const cnnf_image *img;
	double sigma, amount;
	int unsharp, run;
	cnnf_filter_opts o;
} gauss_case;

/*
 * Sample (x, y, ch) of the filtered image `got` against the reference: 1 when
 * it is an integer sample within 1e-9 of a tie (not compared), else 0.
 */
static int gauss_check(const gauss_case *gc, const cnnf_image *got, int x, int y, int ch)
{
	const cnnf_image *img = gc->img;
	int integer = got->type != CNNF_F32, colour_alpha = img->alpha && ch < img->channels - 1;
	long double ref = gauss_ref(img, gc->sigma, gc->o.dilation, gc->o.border, ch, y, x,
	                            gc->unsharp, gc->amount, colour_alpha);
	long double top = img->maxval, t = integer ? fminl(fmaxl(ref, 0), top) : ref;
	double g = cnnf_image_getf(got, ((size_t)y * img->width + x) * img->channels + ch);
	long double tol;
	if (colour_alpha) {
		/* The engine reads premultiplied colour as floats: their rounding, times 1 + A. */
		tol = integer ? 0.5001L : 1e-6L * (fabsl(t) + top) * (1 + gc->amount);
	} else if (integer) {
		if (fabsl(t - floorl(t) - 0.5L) < 1e-9L)
			return 1;
		t = floorl(t + 0.5L);
		tol = 0;
	} else {
		tol = 1.2e-7L * fabsl(ref) + 1e-30L;
	}
	ck_assert_msg(fabsl(g - t) <= tol,
	              "run %d, sigma %g%s, (%d,%d,%d): %.9g, reference %.12Lg", gc->run, gc->sigma,
	              gc->unsharp ? " unsharp" : "", x, y, ch, g, ref);
	return 0;
}

/*
 * gaussian and unsharp on gray, RGB and RGBA of 8 and 16 bits and float,
 * every border, dilation 1 and 2, several sigmas and amounts, 1 and 2
 * threads, whole and in strips: every integer sample is the reference
 * rounded half up and clamped (samples within 1e-9 of a tie, where double
 * and long double may part, are counted and must be rare), every float
 * within float rounding; with alpha, within the float rounding of the
 * premultiplied colour the engine reads.
 */
START_TEST(test_gaussian_reference)
{
	static const struct {
		int c, alpha;
		cnnf_type type;
	} images[] = {{1, 0, CNNF_U8}, {3, 0, CNNF_U16}, {1, 0, CNNF_F32}, {4, 1, CNNF_U8},
	              {3, 0, CNNF_F32}};
	static const double sigmas[] = {0.4, 1, 1.7, 3};
	static const cnnf_border borders[] = {CNNF_BORDER_ZERO, CNNF_BORDER_REPLICATE,
	                                      CNNF_BORDER_REFLECT, CNNF_BORDER_SYMMETRIC,
	                                      CNNF_BORDER_WRAP};
	long compared = 0, ties = 0;
	int run = 0;
	for (size_t im = 0; im < sizeof images / sizeof *images; im++) {
		cnnf_image *img =
		    random_image(23, 17, images[im].c, images[im].type, images[im].alpha);
		for (size_t si = 0; si < sizeof sigmas / sizeof *sigmas; si++)
			for (int unsharp = 0; unsharp < 2; unsharp++, run++) {
				gauss_case gc = {.img = img,
				                 .sigma = sigmas[si],
				                 .amount = unsharp ? 0.5 + si : 0,
				                 .unsharp = unsharp,
				                 .run = run,
				                 .o = defaults()};
				cnnf_kernel *k = unsharp ? cnnf_kernel_unsharp(gc.sigma, gc.amount)
				                         : cnnf_kernel_gaussian(gc.sigma);
				ck_assert_ptr_nonnull(k);
				gc.o.border = borders[run % 5];
				gc.o.dilation = 1 + (run / 5) % 2;
				gc.o.threads = 1 + run % 2;
				gc.o.float_out = run % 3 == 2;
				cnnf_image *got = NULL;
				ck_assert_int_eq(cnnf_filter_apply(img, k, &gc.o, "k", &got), 0);
				ck_assert_int_eq(got->width, 23);
				ck_assert_int_eq(got->height, 17);
				for (int y = 0; y < 17; y++)
					for (int x = 0; x < 23; x++)
						for (int ch = 0; ch < img->channels; ch++, compared++)
							ties += gauss_check(&gc, got, x, y, ch);
				char what[64];
				snprintf(what, sizeof what, "gaussian run %d", run);
				assert_strips_equal(img, k, &gc.o, 1 + run % 4, what);
				cnnf_image_free(got);
				cnnf_kernel_free(k);
			}
		cnnf_image_free(img);
	}
	ck_assert_msg(ties * 10000 < compared, "%ld of %ld samples at a tie", ties, compared);
}
END_TEST

/*
 * With --stride 2 the engine sums the 2-D taps (the 1-D passes need stride 1
 * across): every output is the stride-1 output at twice its position (odd
 * sizes: SAME padding is then r on every side), within the double rounding.
 */
START_TEST(test_gaussian_stride)
{
	cnnf_image *img = random_image(21, 15, 3, CNNF_F32, 0);
	cnnf_kernel *k = cnnf_kernel_gaussian(1.3);
	ck_assert_ptr_nonnull(k);
	cnnf_filter_opts o = defaults();
	cnnf_image *full = NULL, *half = NULL;
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "k", &full), 0);
	o.stride = 2;
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "k", &half), 0);
	ck_assert_int_eq(half->width, 11);
	ck_assert_int_eq(half->height, 8);
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 11; x++)
			for (int c = 0; c < 3; c++) {
				double a = cnnf_image_getf(half, ((size_t)y * 11 + x) * 3 + c);
				double b =
				    cnnf_image_getf(full, ((size_t)(2 * y) * 21 + 2 * x) * 3 + c);
				ck_assert_msg(fabs(a - b) <= 1.2e-7 * fabs(b), "(%d,%d,%d): %.9g vs %.9g",
				              x, y, c, a, b);
			}
	cnnf_image_free(full);
	cnnf_image_free(half);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* A constant image stays constant, bit for bit, under every border but zero: 8, 16 bits, float. */
START_TEST(test_gaussian_constant)
{
	static const struct {
		cnnf_type type;
		double v;
	} kinds[] = {{CNNF_U8, 200},
	             {CNNF_U8, 255},
	             {CNNF_U16, 54321},
	             {CNNF_F32, 0.7},
	             {CNNF_F32, 1e-3}};
	static const double sigmas[] = {0.3, 1, 2.2, 5};
	static const cnnf_border borders[] = {CNNF_BORDER_REPLICATE, CNNF_BORDER_REFLECT,
	                                      CNNF_BORDER_SYMMETRIC, CNNF_BORDER_WRAP};
	for (size_t t = 0; t < sizeof kinds / sizeof *kinds; t++) {
		double *v = malloc(sizeof(double) * 13 * 11 * 3);
		ck_assert_ptr_nonnull(v);
		for (int i = 0; i < 13 * 11 * 3; i++)
			v[i] = kinds[t].v;
		cnnf_image *img = image_of(13, 11, 3, kinds[t].type, 0, v);
		free(v);
		for (size_t si = 0; si < sizeof sigmas / sizeof *sigmas; si++)
			for (int unsharp = 0; unsharp < 2; unsharp++) {
				cnnf_kernel *k = unsharp ? cnnf_kernel_unsharp(sigmas[si], 1.5)
				                         : cnnf_kernel_gaussian(sigmas[si]);
				ck_assert_ptr_nonnull(k);
				cnnf_filter_opts o = defaults();
				o.border = borders[si];
				cnnf_image *got = NULL;
				ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "k", &got), 0);
				size_t bytes = (size_t)13 * 11 * 3 * kinds[t].type;
				ck_assert_msg(memcmp(got->data, img->data, bytes) == 0,
				              "constant %g, sigma %g%s: changed", kinds[t].v,
				              sigmas[si], unsharp ? ", unsharp" : "");
				cnnf_image_free(got);
				cnnf_kernel_free(k);
			}
		cnnf_image_free(img);
	}
}
END_TEST

/* An impulse gives the kernel itself (zero border), and the kernel is the Gaussian's taps. */
START_TEST(test_gaussian_impulse)
{
	double *v = calloc(31 * 31, sizeof(double));
	ck_assert_ptr_nonnull(v);
	v[15 * 31 + 15] = 1;
	cnnf_image *img = image_of(31, 31, 1, CNNF_F32, 0, v);
	free(v);
	img->maxval = 0;
	cnnf_kernel *k = cnnf_kernel_gaussian(2);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(k->height, 13);
	cnnf_filter_opts o = defaults();
	o.border = CNNF_BORDER_ZERO;
	cnnf_image *got = NULL;
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "k", &got), 0);
	for (int y = 0; y < 31; y++)
		for (int x = 0; x < 31; x++) {
			int i = y - 15 + 6, j = x - 15 + 6;
			/* Correlation: offset d from the impulse is tap -d (symmetric). */
			double want = i >= 0 && i < 13 && j >= 0 && j < 13
			                  ? (float)k->weights[(12 - i) * 13 + (12 - j)]
			                  : 0;
			ck_assert_msg(cnnf_image_getf(got, (size_t)y * 31 + x) == want,
			              "(%d,%d): %.9g, expected %.9g", x, y,
			              cnnf_image_getf(got, (size_t)y * 31 + x), want);
		}
	cnnf_image_free(got);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* A depth-2 kernel on RGB: refused, naming the kernel as the caller called it. */
START_TEST(test_depth_mismatch)
{
	static const double w2[2] = {1, 1};
	static const double px[3] = {1, 2, 3};
	cnnf_image *img = image_of(1, 1, 3, CNNF_U8, 0, px);
	cnnf_kernel *k = kernel_of(1, 2, 1, 1, w2, 1, 1);
	cnnf_filter_opts o = defaults();
	cnnf_image sentinel, *out = &sentinel;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "edges2.k", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("edges2.k");
	cnnf_kernel_free(k);

	/* Two 2-D filters are a bank, not a depthwise kernel: depth 1 is not 3 either. */
	k = kernel_of(2, 1, 1, 1, w2, 1, 1);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "pair.k", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("pair.k");
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST

/* A 5x5 kernel on a 3x3 image with no padding has no output: refused, naming the kernel. */
START_TEST(test_no_output)
{
	static const double ones[25] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	                                1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	cnnf_image *img = image_of(3, 3, 1, CNNF_U8, 0, box_in);
	cnnf_kernel *k = kernel_of(1, 1, 5, 5, ones, 1, 25);
	cnnf_filter_opts o = defaults();
	o.pad_mode = CNNF_PAD_VALID;
	cnnf_image sentinel, *out = &sentinel;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_filter_apply(img, k, &o, "blur5.k", &out), -1);
	ck_assert_ptr_eq(out, &sentinel);
	ck_assert_error_has("blur5.k");
	/* The stream refuses it the same way, in cnnf_filter_open(), before any row. */
	cnnf_filter_stream *fs = NULL;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_filter_open(img, k, &o, "blur5.k", 0, &fs), -1);
	ck_assert_ptr_null(fs);
	ck_assert_error_has("blur5.k");
	cnnf_filter_close(NULL);
	cnnf_kernel_free(k);
	cnnf_image_free(img);
}
END_TEST


/*
 * The integer box path (boxsum.c) gives the engine's bytes: random 8-bit
 * images of odd sizes and 1 to 4 channels, boxes 1x1 to 9x7 (unnormalised
 * and scaled), every border, padding same, valid and explicit, strips of
 * a few rows and 1 or 3 threads, each against engine_only.
 */
START_TEST(test_box_integer_path)
{
	static const int sizes[][2] = {{1, 1}, {3, 3}, {2, 5}, {5, 2}, {9, 7}, {4, 4}};
	static const cnnf_border borders[] = {CNNF_BORDER_ZERO, CNNF_BORDER_REPLICATE,
	                                      CNNF_BORDER_REFLECT, CNNF_BORDER_SYMMETRIC,
	                                      CNNF_BORDER_WRAP};
	int cases = 0;
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
		for (int c = 1; c <= 4; c++)
			for (size_t bi = 0; bi < sizeof borders / sizeof borders[0]; bi++)
				for (int pad = 0; pad < 3; pad++) {
					int kh = sizes[si][0], kw = sizes[si][1];
					/* At least the window (valid needs it), odd and even sizes beyond. */
					int w = kw + (int)(strip_rand() * 23), h = kh + (int)(strip_rand() * 19);
					cnnf_image *img = random_image(w, h, c, CNNF_U8, 0);
					double *wts = malloc(sizeof(double) * (size_t)kh * kw);
					for (int i = 0; i < kh * kw; i++)
						wts[i] = 1;
					/* Normalised (1 / taps), and a plain sum scaled by 3/7 with clamping. */
					cnnf_kernel *k = kernel_of(1, 1, kh, kw, wts, (si % 2) ? 3 : 1,
					                           (si % 2) ? 7 : (double)kh * kw);
					free(wts);
					cnnf_filter_opts o = defaults();
					o.border = borders[bi];
					o.pad_mode = pad == 0 ? CNNF_PAD_SAME : pad == 1 ? CNNF_PAD_VALID
					                                                 : CNNF_PAD_EXPLICIT;
					o.pad = pad == 2 ? 2 : 0;
					o.threads = 1 + 2 * (int)(cases % 2);
					cnnf_image *want = NULL, *got = NULL;
					cnnf_filter_stream *fs0 = NULL;
					o.engine_only = 1;
					if (cnnf_filter_apply(img, k, &o, "k", &want) < 0) {
						/* A border the engine refuses for this size (reflect wider than the image). */
						ck_assert_msg(strstr(cnnf_error_get(), "border") != NULL, "%s", cnnf_error_get());
						ck_assert_int_eq(cnnf_filter_open(img, k, &o, "k", 3, &fs0), -1);
						cnnf_image_free(img);
						cnnf_kernel_free(k);
						cases++;
						continue;
					}
					o.engine_only = 0;
					cnnf_filter_stream *fs = NULL;
					ck_assert_int_eq(cnnf_filter_open(img, k, &o, "k", 3, &fs), 0);
					const cnnf_rows *r = cnnf_filter_get_rows(fs);
					size_t bytes = (size_t)want->width * want->channels;
					for (int y = 0; y < want->height; y++) {
						const void *row = r->row(r->ctx, y);
						ck_assert_ptr_nonnull(row);
						ck_assert_msg(memcmp(row, (uint8_t *)want->data + y * bytes, bytes) == 0,
						              "box %dx%d, %d channels, border %d, pad %d, %dx%d: row %d",
						              kh, kw, c, (int)borders[bi], pad, w, h, y);
					}
					cnnf_filter_close(fs);
					(void)got;
					cnnf_image_free(want);
					cnnf_image_free(img);
					cnnf_kernel_free(k);
					cases++;
				}
	ck_assert_int_eq(cases, 6 * 4 * 5 * 3);
}
END_TEST

static Suite *filter_suite(void)
{
	Suite *s = suite_create("filter");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_opts_defaults);
	tcase_add_test(core, test_box_reflect_u8);
	tcase_add_test(core, test_box_reflect_u16);
	tcase_add_test(core, test_float_out);
	tcase_add_test(core, test_float_input);
	tcase_add_test(core, test_stride_and_valid);
	tcase_add_test(core, test_alpha_no_bleeding);
	tcase_add_test(core, test_alpha_weighted);
	tcase_add_test(core, test_opaque_rgba_like_rgb);
	tcase_add_test(core, test_shift_keeps_hidden_colour);
	tcase_add_test(core, test_3d_kernel_sum);
	tcase_add_test(core, test_abs_offset);
	tcase_add_test(core, test_alpha_float_unscaled);
	tcase_add_test(core, test_offset_spares_alpha);
	tcase_add_test(core, test_strips_equal_whole);
	tcase_add_test(core, test_box_integer_path);
	tcase_add_test(core, test_strips_bank);
	tcase_add_test(core, test_alpha_strips_like_whole);
	tcase_add_test(core, test_work);
	tcase_add_test(core, test_gaussian_reference);
	tcase_add_test(core, test_gaussian_stride);
	tcase_add_test(core, test_gaussian_constant);
	tcase_add_test(core, test_gaussian_impulse);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_depth_mismatch);
	tcase_add_test(errors, test_no_output);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(filter_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
