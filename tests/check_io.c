/* check_io.c: tests of image reading and writing: every format, round trips, the failures. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "image/image.h"
#include "io/io.h"
#include "testutil.h"

/* ---- helpers ---- */

/* A fixture under tests/data/io; a few calls can be live at once. */
static const char *fixture(const char *name)
{
	static char bufs[4][4400];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof bufs[0], "%s/io/%s", TEST_DATA_DIR, name);
	return b;
}

/* A scratch path under the test tmpdir. */
static const char *tmp(const char *name)
{
	static char bufs[4][4400];
	static int next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof bufs[0], "%s/io_%s", cnnf_test_tmpdir(), name);
	return b;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	fclose(fp);
	*len = n;
	return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_msg(fp != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

static void spit_str(const char *path, const char *s)
{
	spit(path, s, strlen(s));
}

/* The first len bytes of fixture src, as file dst. */
static void cut(const char *src, const char *dst, size_t len)
{
	size_t n;
	unsigned char *buf = slurp(src, &n);
	ck_assert_uint_le(len, n);
	spit(dst, buf, len);
	free(buf);
}

static size_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static cnnf_image *read_ok(const char *path)
{
	cnnf_error_clear();
	cnnf_image *img = cnnf_io_read(path, CNNF_DEFAULT_MAX_PIXELS);
	ck_assert_msg(img != NULL, "reading %s failed: %s", path, cnnf_error_get());
	return img;
}

/* Reading path fails with a message that starts with display and contains needle. */
static void read_fails(const char *path, const char *display, const char *needle)
{
	cnnf_error_clear();
	cnnf_image *img = cnnf_io_read(path, CNNF_DEFAULT_MAX_PIXELS);
	ck_assert_msg(img == NULL, "reading %s should fail", path);
	ck_assert_error_has(needle);
	ck_assert_msg(strncmp(cnnf_error_get(), display, strlen(display)) == 0 &&
	                  cnnf_error_get()[strlen(display)] == ':',
	              "error \"%s\" does not start with \"%s:\"", cnnf_error_get(), display);
}

static void write_fails(const cnnf_image *img, const char *path, const cnnf_write_opts *o,
                        const char *needle)
{
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_io_write(img, path, o), -1);
	ck_assert_error_has(needle);
	const char *display = strcmp(path, "-") == 0 ? "stdout" : path;
	ck_assert_msg(strncmp(cnnf_error_get(), display, strlen(display)) == 0,
	              "error \"%s\" does not start with \"%s\"", cnnf_error_get(), display);
}

static void check_shape(const cnnf_image *img, int w, int h, int c, cnnf_type type, unsigned maxval,
                        int alpha)
{
	ck_assert_int_eq(img->width, w);
	ck_assert_int_eq(img->height, h);
	ck_assert_int_eq(img->channels, c);
	ck_assert_int_eq(img->type, type);
	ck_assert_uint_eq(img->maxval, maxval);
	ck_assert_int_eq(img->alpha, alpha);
}

static size_t count(const cnnf_image *img)
{
	return (size_t)img->width * img->height * img->channels;
}

/* Sample (x, y, c) as an unsigned integer or a float. */
static unsigned at(const cnnf_image *img, int x, int y, int c)
{
	size_t i = ((size_t)y * img->width + x) * img->channels + c;
	return img->type == CNNF_U8 ? ((uint8_t *)img->data)[i] : ((uint16_t *)img->data)[i];
}

static float atf(const cnnf_image *img, int x, int y, int c)
{
	return ((float *)img->data)[((size_t)y * img->width + x) * img->channels + c];
}

/* Same size, type, scale and bit-identical samples (NaN included). */
static void check_same(const cnnf_image *a, const cnnf_image *b)
{
	check_shape(b, a->width, a->height, a->channels, a->type, a->maxval, a->alpha);
	ck_assert_int_eq(memcmp(a->data, b->data, count(a) * a->type), 0);
}

/* An image whose samples run through the whole scale 0..maxval. */
static cnnf_image *pattern(int w, int h, int c, cnnf_type type, unsigned maxval)
{
	cnnf_image *img = cnnf_image_new(w, h, c, type);
	ck_assert_ptr_nonnull(img);
	img->maxval = maxval;
	img->alpha = c == 2 || c == 4;
	size_t n = count(img);
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)((i * 7919 + i * i * 31) % ((size_t)maxval + 1));
		if (i == 0)
			v = 0;
		if (i == 1)
			v = maxval;
		if (type == CNNF_U8)
			((uint8_t *)img->data)[i] = (uint8_t)v;
		else if (type == CNNF_U16)
			((uint16_t *)img->data)[i] = (uint16_t)v;
		else
			((float *)img->data)[i] = (float)i * 0.37f - 5.25f;
	}
	return img;
}

/* Write img to tmp(name) with the format from the name, and read it back. */
static cnnf_image *round_trip(const cnnf_image *img, const char *name, const cnnf_write_opts *o)
{
	cnnf_write_opts defaults;
	if (!o) {
		cnnf_io_write_opts_init(&defaults);
		o = &defaults;
	}
	const char *path = tmp(name);
	cnnf_error_clear();
	ck_assert_msg(cnnf_io_write(img, path, o) == 0, "writing %s failed: %s", path,
	              cnnf_error_get());
	cnnf_image *back = read_ok(path);
	unlink(path);
	return back;
}

/* Run fn with fd (0 or 1) pointing at path, opened with flags. */
static void redirect(int fd, const char *path, int flags, void (*fn)(void *), void *arg)
{
	FILE *stream = fd == 0 ? stdin : stdout;
	fflush(stream);
	int saved = dup(fd);
	ck_assert_int_ge(saved, 0);
	int f = open(path, flags, 0666);
	ck_assert_int_ge(f, 0);
	ck_assert_int_eq(dup2(f, fd), fd);
	close(f);
	fn(arg);
	fflush(stream);
	clearerr(stream);
	ck_assert_int_eq(dup2(saved, fd), fd);
	close(saved);
}

/* Temporary files a failed write could have left next to name in the tmpdir. */
static int leftovers(const char *name)
{
	char prefix[256];
	snprintf(prefix, sizeof prefix, ".io_%s.", name);
	DIR *d = opendir(cnnf_test_tmpdir());
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* ---- core ---- */

START_TEST(test_format_names)
{
	ck_assert_int_eq(cnnf_io_format_from_name("a/b.PNG"), CNNF_FORMAT_PNG);
	ck_assert_int_eq(cnnf_io_format_from_name("x.jpg"), CNNF_FORMAT_JPEG);
	ck_assert_int_eq(cnnf_io_format_from_name("x.JPEG"), CNNF_FORMAT_JPEG);
	ck_assert_int_eq(cnnf_io_format_from_name("x.pgm"), CNNF_FORMAT_PGM);
	ck_assert_int_eq(cnnf_io_format_from_name("x.ppm"), CNNF_FORMAT_PPM);
	ck_assert_int_eq(cnnf_io_format_from_name("x.pbm"), CNNF_FORMAT_PBM);
	ck_assert_int_eq(cnnf_io_format_from_name("x.pam"), CNNF_FORMAT_PAM);
	ck_assert_int_eq(cnnf_io_format_from_name("x.tif"), CNNF_FORMAT_TIFF);
	ck_assert_int_eq(cnnf_io_format_from_name("x.TIFF"), CNNF_FORMAT_TIFF);
	ck_assert_int_eq(cnnf_io_format_from_name("x.pnm"), CNNF_FORMAT_PNM);
	ck_assert_int_eq(cnnf_io_format_from_name("x.npy"), CNNF_FORMAT_NPY);
	ck_assert_int_eq(cnnf_io_format_from_name("x.xyz"), CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_from_name("dir.png/x"), CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_from_name("-"), CNNF_FORMAT_NONE);

	cnnf_format f = CNNF_FORMAT_NONE;
	ck_assert_int_eq(cnnf_io_format_parse("jpg", &f), 0);
	ck_assert_int_eq(f, CNNF_FORMAT_JPEG);
	ck_assert_int_eq(cnnf_io_format_parse("npy", &f), 0);
	ck_assert_int_eq(f, CNNF_FORMAT_NPY);
	ck_assert_int_eq(cnnf_io_format_parse("gif", &f), -1);
	ck_assert_int_eq(f, CNNF_FORMAT_NPY);

	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	ck_assert_int_eq(o.format, CNNF_FORMAT_NONE);
	ck_assert_int_eq(o.quality, 90);
	ck_assert_int_eq(o.depth, 0);
}
END_TEST

START_TEST(test_sniff)
{
	const unsigned char png[] = "\x89PNG\r\n\x1a\n", jpg[] = "\xff\xd8\xff\xe0",
	                    npy[] = "\x93NUMPY\x01\x00";
	ck_assert_int_eq(cnnf_io_format_sniff(png, 8), CNNF_FORMAT_PNG);
	ck_assert_int_eq(cnnf_io_format_sniff(png, 7), CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_sniff(jpg, 3), CNNF_FORMAT_JPEG);
	ck_assert_int_eq(cnnf_io_format_sniff(npy, 8), CNNF_FORMAT_NPY);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"P6\n", 3), CNNF_FORMAT_PNM);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"P2#c", 4), CNNF_FORMAT_PNM);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"P5", 2), CNNF_FORMAT_PNM);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"Px\n", 3), CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"P66", 3), CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"GIF89a", 6),
	                 CNNF_FORMAT_NONE);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"", 0), CNNF_FORMAT_NONE);
}
END_TEST

/* The format comes from the bytes: a PNG named .jpg and an NPY named .png read fine. */
START_TEST(test_sniff_ignores_extension)
{
	size_t n;
	unsigned char *buf = slurp(fixture("g16.png"), &n);
	spit(tmp("sniff.jpg"), buf, n);
	free(buf);
	cnnf_image *img = read_ok(tmp("sniff.jpg"));
	check_shape(img, 4, 3, 1, CNNF_U16, 65535, 0);
	cnnf_image_free(img);

	buf = slurp(fixture("f64_hw.npy"), &n);
	spit(tmp("sniff.png"), buf, n);
	free(buf);
	img = read_ok(tmp("sniff.png"));
	check_shape(img, 5, 3, 1, CNNF_F32, 0, 0);
	cnnf_image_free(img);
	unlink(tmp("sniff.jpg"));
	unlink(tmp("sniff.png"));
}
END_TEST

START_TEST(test_png_low_bit_gray)
{
	/* libpng's expansion scales 1, 2 and 4-bit gray to 0..255. */
	static const struct {
		const char *name;
		int w, h, scale, mul_x, mul_y, mod;
	} cases[] = {
	    {"g1.png", 11, 3, 255, 3, 1, 2},
	    {"g2.png", 7, 3, 85, 1, 2, 4},
	    {"g4.png", 5, 3, 17, 5, 3, 16},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		cnnf_image *img = read_ok(fixture(cases[k].name));
		check_shape(img, cases[k].w, cases[k].h, 1, CNNF_U8, 255, 0);
		for (int y = 0; y < img->height; y++)
			for (int x = 0; x < img->width; x++)
				ck_assert_uint_eq(
				    at(img, x, y, 0),
				    (unsigned)((x * cases[k].mul_x + y * cases[k].mul_y) %
				               cases[k].mod * cases[k].scale));
		cnnf_image_free(img);
	}
}
END_TEST

START_TEST(test_png_16_bit)
{
	cnnf_image *img = read_ok(fixture("g16.png"));
	check_shape(img, 4, 3, 1, CNNF_U16, 65535, 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 4; x++)
			ck_assert_uint_eq(at(img, x, y, 0), (unsigned)(x * 20000 + y * 1000 + 7));
	cnnf_image_free(img);

	img = read_ok(fixture("rgb16.png"));
	check_shape(img, 4, 3, 3, CNNF_U16, 65535, 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 4; x++)
			for (int c = 0; c < 3; c++)
				ck_assert_uint_eq(at(img, x, y, c),
				                  (unsigned)(x * 16000 + y * 3000 + c * 500 + 1));
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_png_alpha)
{
	cnnf_image *img = read_ok(fixture("ga8.png"));
	check_shape(img, 5, 2, 2, CNNF_U8, 255, 1);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 5; x++)
			for (int c = 0; c < 2; c++)
				ck_assert_uint_eq(at(img, x, y, c),
				                  (unsigned)((x * 40 + y * 7 + c * 100) % 256));
	cnnf_image_free(img);

	/* A gray tRNS colour key becomes an alpha channel: value 16 is transparent. */
	img = read_ok(fixture("g8_trns.png"));
	check_shape(img, 4, 2, 2, CNNF_U8, 255, 1);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 4; x++) {
			unsigned v = (unsigned)(x * 16 + y * 64);
			ck_assert_uint_eq(at(img, x, y, 0), v);
			ck_assert_uint_eq(at(img, x, y, 1), v == 16 ? 0 : 255);
		}
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_png_palette)
{
	cnnf_image *img = read_ok(fixture("pal4.png"));
	check_shape(img, 6, 4, 3, CNNF_U8, 255, 0);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 6; x++) {
			unsigned i = (unsigned)(x + y * 6) % 16;
			ck_assert_uint_eq(at(img, x, y, 0), i * 16);
			ck_assert_uint_eq(at(img, x, y, 1), 255 - i * 8);
			ck_assert_uint_eq(at(img, x, y, 2), i * 3);
		}
	cnnf_image_free(img);

	img = read_ok(fixture("pal8_trns.png"));
	check_shape(img, 5, 3, 4, CNNF_U8, 255, 1);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 5; x++) {
			unsigned i = (unsigned)(x * 4 + y * 5) % 20;
			ck_assert_uint_eq(at(img, x, y, 0), i * 10);
			ck_assert_uint_eq(at(img, x, y, 1), i * 5 + 1);
			ck_assert_uint_eq(at(img, x, y, 2), 200 - i * 9);
			ck_assert_uint_eq(at(img, x, y, 3), i < 7 ? i * 30 : 255);
		}
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_png_interlaced)
{
	cnnf_image *img = read_ok(fixture("rgba8_i.png"));
	check_shape(img, 9, 7, 4, CNNF_U8, 255, 1);
	for (int y = 0; y < 7; y++)
		for (int x = 0; x < 9; x++)
			for (int c = 0; c < 4; c++)
				ck_assert_uint_eq(at(img, x, y, c),
				                  (unsigned)((x * 29 + y * 13 + c * 61) % 256));
	cnnf_image_free(img);

	img = read_ok(fixture("g2_i.png"));
	check_shape(img, 10, 9, 1, CNNF_U8, 255, 0);
	for (int y = 0; y < 9; y++)
		for (int x = 0; x < 10; x++)
			ck_assert_uint_eq(at(img, x, y, 0), (unsigned)((x + y * 3) % 4 * 85));
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_png_round_trip)
{
	for (int c = 1; c <= 4; c++) {
		cnnf_image *img = pattern(13, 5, c, CNNF_U8, 255);
		cnnf_image *back = round_trip(img, "rt.png", NULL);
		check_same(img, back);
		cnnf_image_free(img);
		cnnf_image_free(back);

		img = pattern(6, 7, c, CNNF_U16, 65535);
		back = round_trip(img, "rt16.png", NULL);
		check_same(img, back);
		cnnf_image_free(img);
		cnnf_image_free(back);
	}
}
END_TEST

START_TEST(test_png_depth)
{
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.depth = 16;
	cnnf_image *img = pattern(5, 4, 3, CNNF_U8, 255);
	cnnf_image *back = round_trip(img, "d16.png", &o);
	check_shape(back, 5, 4, 3, CNNF_U16, 65535, 0);
	for (size_t i = 0; i < count(img); i++)
		ck_assert_uint_eq(((uint16_t *)back->data)[i], ((uint8_t *)img->data)[i] * 257u);
	cnnf_image_free(img);
	cnnf_image_free(back);

	o.depth = 8;
	img = pattern(5, 4, 1, CNNF_U16, 65535);
	back = round_trip(img, "d8.png", &o);
	check_shape(back, 5, 4, 1, CNNF_U8, 255, 0);
	for (size_t i = 0; i < count(img); i++) {
		unsigned v = ((uint16_t *)img->data)[i];
		ck_assert_uint_eq(((uint8_t *)back->data)[i], (v * 255 + 65535 / 2) / 65535);
	}
	cnnf_image_free(img);
	cnnf_image_free(back);
}
END_TEST

/* A PNM maxval of 1000 is rescaled to 16 bits; 1 to 8 bits. */
START_TEST(test_png_rescales_odd_maxval)
{
	cnnf_image *img = pattern(7, 3, 1, CNNF_U16, 1000);
	cnnf_image *back = round_trip(img, "m1000.png", NULL);
	check_shape(back, 7, 3, 1, CNNF_U16, 65535, 0);
	for (size_t i = 0; i < count(img); i++) {
		unsigned v = ((uint16_t *)img->data)[i];
		ck_assert_uint_eq(((uint16_t *)back->data)[i],
		                  cnnf_image_round(v * 65535.0 / 1000, 65535));
	}
	cnnf_image_free(img);
	cnnf_image_free(back);

	img = pattern(4, 2, 1, CNNF_U8, 1);
	back = round_trip(img, "m1.png", NULL);
	check_shape(back, 4, 2, 1, CNNF_U8, 255, 0);
	for (size_t i = 0; i < count(img); i++)
		ck_assert_uint_eq(((uint8_t *)back->data)[i], ((uint8_t *)img->data)[i] * 255u);
	cnnf_image_free(img);
	cnnf_image_free(back);
}
END_TEST

/* Float samples with no scale are 8-bit samples, rounded half up and clamped. */
START_TEST(test_png_float)
{
	static const float v[] = {-3.0f,  0.0f,   0.49f,  0.5f, 12.5f,
	                          254.5f, 255.0f, 300.0f, NAN,  INFINITY};
	cnnf_image *img = cnnf_image_new(10, 1, 1, CNNF_F32);
	memcpy(img->data, v, sizeof v);
	static const unsigned want[] = {0, 0, 0, 1, 13, 255, 255, 255, 0, 255};
	cnnf_image *back = round_trip(img, "f.png", NULL);
	check_shape(back, 10, 1, 1, CNNF_U8, 255, 0);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(at(back, i, 0, 0), want[i]);
	cnnf_image_free(back);

	/* A float image on the 16-bit scale is written with 16 bits. */
	img->maxval = 65535;
	((float *)img->data)[4] = 40000.5f;
	back = round_trip(img, "f16.png", NULL);
	check_shape(back, 10, 1, 1, CNNF_U16, 65535, 0);
	ck_assert_uint_eq(at(back, 4, 0, 0), 40001);
	ck_assert_uint_eq(at(back, 7, 0, 0), 300);
	cnnf_image_free(back);
	cnnf_image_free(img);
}
END_TEST

static void ref_decode(const char *path, cnnf_image **out)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr err;
	cinfo.err = jpeg_std_error(&err);
	jpeg_create_decompress(&cinfo);
	jpeg_stdio_src(&cinfo, fp);
	jpeg_read_header(&cinfo, TRUE);
	jpeg_start_decompress(&cinfo);
	cnnf_image *img = cnnf_image_new((int)cinfo.output_width, (int)cinfo.output_height,
	                                 cinfo.output_components, CNNF_U8);
	ck_assert_ptr_nonnull(img);
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = (JSAMPROW)img->data +
		               (size_t)cinfo.output_scanline * cinfo.output_width * img->channels;
		jpeg_read_scanlines(&cinfo, &row, 1);
	}
	ck_assert_int_eq(err.num_warnings, 0);
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	fclose(fp);
	*out = img;
}

/* Decoded exactly as libjpeg-turbo's default decoder does, and close to the source pattern. */
START_TEST(test_jpeg_decode)
{
	static const char *names[] = {"rgb.jpg", "gray.jpg", "progressive.jpg"};
	for (int k = 0; k < 3; k++) {
		cnnf_image *img = read_ok(fixture(names[k]));
		cnnf_image *ref;
		ref_decode(fixture(names[k]), &ref);
		int c = k == 1 ? 1 : 3;
		check_shape(img, 16, 12, c, CNNF_U8, 255, 0);
		check_same(ref, img);
		double err = 0;
		for (int y = 0; y < 12; y++)
			for (int x = 0; x < 16; x++) {
				int r = x * 15 + 10, g = y * 20 + 5, b = (x + y) * 8;
				/* ImageMagick's -colorspace Gray made gray.jpg with Rec. 709 luma.
				 */
				if (c == 1)
					err += fabs(at(img, x, y, 0) -
					            (0.2126 * r + 0.7152 * g + 0.0722 * b));
				else
					err += abs((int)at(img, x, y, 0) - r) +
					       abs((int)at(img, x, y, 1) - g) +
					       abs((int)at(img, x, y, 2) - b);
			}
		err /= 16 * 12 * c;
		ck_assert_msg(err < 4, "%s: mean error %g", names[k], err);
		cnnf_image_free(img);
		cnnf_image_free(ref);
	}
}
END_TEST

START_TEST(test_jpeg_round_trip)
{
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.quality = 100;
	for (int c = 1; c <= 3; c += 2) {
		cnnf_image *img = cnnf_image_new(24, 16, c, CNNF_U8);
		for (size_t i = 0; i < count(img); i++)
			((uint8_t *)img->data)[i] = (uint8_t)(i / c % 24 * 8 + i % c * 20);
		cnnf_image *back = round_trip(img, "rt.jpg", &o);
		check_shape(back, 24, 16, c, CNNF_U8, 255, 0);
		double err = 0;
		for (size_t i = 0; i < count(img); i++)
			err +=
			    abs((int)((uint8_t *)img->data)[i] - (int)((uint8_t *)back->data)[i]);
		ck_assert_msg(err / count(img) < 2, "mean error %g", err / count(img));
		cnnf_image_free(back);

		/* 16-bit samples are scaled to 8 bits first. */
		cnnf_image *wide = cnnf_image_convert(img, CNNF_U16, 65535);
		back = round_trip(wide, "rt16.jpg", &o);
		check_shape(back, 24, 16, c, CNNF_U8, 255, 0);
		err = 0;
		for (size_t i = 0; i < count(img); i++)
			err +=
			    abs((int)((uint8_t *)img->data)[i] - (int)((uint8_t *)back->data)[i]);
		ck_assert_msg(err / count(img) < 2, "mean error %g", err / count(img));
		cnnf_image_free(back);
		cnnf_image_free(wide);
		cnnf_image_free(img);
	}
}
END_TEST

/* The luma sampling factors a JPEG file declares (chroma is 1x1 in all cnnf writes). */
static void jpeg_sampling(const char *path, int *h, int *v, int *ncomp)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr err;
	cinfo.err = jpeg_std_error(&err);
	jpeg_create_decompress(&cinfo);
	jpeg_stdio_src(&cinfo, fp);
	jpeg_read_header(&cinfo, TRUE);
	*h = cinfo.comp_info[0].h_samp_factor;
	*v = cinfo.comp_info[0].v_samp_factor;
	*ncomp = cinfo.num_components;
	for (int i = 1; i < cinfo.num_components; i++) {
		ck_assert_int_eq(cinfo.comp_info[i].h_samp_factor, 1);
		ck_assert_int_eq(cinfo.comp_info[i].v_samp_factor, 1);
	}
	jpeg_destroy_decompress(&cinfo);
	fclose(fp);
}

/* --subsampling: 4:4:4 by default at quality >= 90, 4:2:0 below; gray has one component. */
START_TEST(test_jpeg_subsampling)
{
	static const struct {
		int quality, subsampling, h, v;
	} cases[] = {
	    {90, 0, 1, 1},   {100, 0, 1, 1},  {89, 0, 2, 2},   {75, 0, 2, 2},  {90, 420, 2, 2},
	    {90, 422, 2, 1}, {50, 444, 1, 1}, {50, 422, 2, 1}, {95, 444, 1, 1},
	};
	cnnf_image *rgb = pattern(20, 10, 3, CNNF_U8, 255);
	cnnf_image *gray = pattern(20, 10, 1, CNNF_U8, 255);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cnnf_write_opts o;
		cnnf_io_write_opts_init(&o);
		o.quality = cases[i].quality;
		o.subsampling = cases[i].subsampling;
		int h, v, n;
		ck_assert_int_eq(cnnf_io_write(rgb, tmp("sub.jpg"), &o), 0);
		jpeg_sampling(tmp("sub.jpg"), &h, &v, &n);
		ck_assert_int_eq(n, 3);
		ck_assert_msg(h == cases[i].h && v == cases[i].v, "q %d sub %d: %dx%d", o.quality,
		              o.subsampling, h, v);
		ck_assert_int_eq(cnnf_io_write(gray, tmp("sub.jpg"), &o), 0);
		jpeg_sampling(tmp("sub.jpg"), &h, &v, &n);
		ck_assert_int_eq(n, 1);
		ck_assert_int_eq(h, 1);
		ck_assert_int_eq(v, 1);
	}
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.subsampling = 411;
	write_fails(rgb, tmp("sub411.jpg"), &o, "JPEG subsampling 411 is not 444, 422 or 420");
	unlink(tmp("sub.jpg"));
	cnnf_image_free(rgb);
	cnnf_image_free(gray);
}
END_TEST

START_TEST(test_pnm_plain)
{
	spit_str(tmp("p2.pgm"),
	         "P2\n# a comment\n3 2 # width height\n1000\n0 1 999\n1000 #x\n 500\n7\n");
	cnnf_image *img = read_ok(tmp("p2.pgm"));
	check_shape(img, 3, 2, 1, CNNF_U16, 1000, 0);
	static const unsigned p2[] = {0, 1, 999, 1000, 500, 7};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(((uint16_t *)img->data)[i], p2[i]);
	cnnf_image_free(img);

	spit_str(tmp("p3.ppm"), "P3 2 1 255 1 2 3 253 254 255 trailing garbage");
	img = read_ok(tmp("p3.ppm"));
	check_shape(img, 2, 1, 3, CNNF_U8, 255, 0);
	static const unsigned p3[] = {1, 2, 3, 253, 254, 255};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(((uint8_t *)img->data)[i], p3[i]);
	cnnf_image_free(img);
	unlink(tmp("p2.pgm"));
	unlink(tmp("p3.ppm"));
}
END_TEST

START_TEST(test_pnm_binary)
{
	/* P5 with maxval 1000: big-endian pairs; the bytes after the raster are ignored. */
	const unsigned char p5[] = "P5\n#c\n2 2\n1000\n\x00\x00\x03\xe8\x01\x02\x00\x07garbage";
	spit(tmp("p5.pgm"), p5, sizeof p5 - 1);
	cnnf_image *img = read_ok(tmp("p5.pgm"));
	check_shape(img, 2, 2, 1, CNNF_U16, 1000, 0);
	static const unsigned want5[] = {0, 1000, 258, 7};
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(((uint16_t *)img->data)[i], want5[i]);
	cnnf_image_free(img);

	const unsigned char p6[] = "P6 1 2 1000\n\x00\x01\x00\x02\x03\xe8\x02\x00\x01\x00\x00\x00";
	spit(tmp("p6.ppm"), p6, sizeof p6 - 1);
	img = read_ok(tmp("p6.ppm"));
	check_shape(img, 1, 2, 3, CNNF_U16, 1000, 0);
	static const unsigned want6[] = {1, 2, 1000, 512, 256, 0};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(((uint16_t *)img->data)[i], want6[i]);
	cnnf_image_free(img);

	const unsigned char p5b[] = "P5 3 1 7\n\x00\x07\x03";
	spit(tmp("p5b.pgm"), p5b, sizeof p5b - 1);
	img = read_ok(tmp("p5b.pgm"));
	check_shape(img, 3, 1, 1, CNNF_U8, 7, 0);
	ck_assert_uint_eq(at(img, 1, 0, 0), 7);
	ck_assert_uint_eq(at(img, 2, 0, 0), 3);
	cnnf_image_free(img);
	unlink(tmp("p5.pgm"));
	unlink(tmp("p6.ppm"));
	unlink(tmp("p5b.pgm"));
}
END_TEST

START_TEST(test_pnm_round_trip)
{
	static const struct {
		int c;
		cnnf_type type;
		unsigned maxval;
	} cases[] = {
	    {1, CNNF_U8, 255},   {3, CNNF_U8, 255},   {1, CNNF_U8, 1},      {3, CNNF_U8, 100},
	    {1, CNNF_U16, 1000}, {3, CNNF_U16, 1000}, {1, CNNF_U16, 65535}, {3, CNNF_U16, 256},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		cnnf_image *img = pattern(9, 4, cases[k].c, cases[k].type, cases[k].maxval);
		cnnf_image *back = round_trip(img, "rt.pnm", NULL);
		check_same(img, back);
		cnnf_image_free(img);
		cnnf_image_free(back);
	}
	/* What each sample size looks like on disk: P5, maxval 1000, big-endian pairs. */
	cnnf_image *img = pattern(2, 1, 1, CNNF_U16, 1000);
	ck_assert_int_eq(cnnf_io_write(img, tmp("layout.pgm"), NULL), 0);
	size_t n;
	unsigned char *buf = slurp(tmp("layout.pgm"), &n);
	ck_assert_uint_eq(n, 16);
	ck_assert_int_eq(memcmp(buf, "P5\n2 1\n1000\n\x00\x00\x03\xe8", 16), 0);
	free(buf);
	cnnf_image_free(img);
	unlink(tmp("layout.pgm"));
}
END_TEST

START_TEST(test_pnm_float)
{
	cnnf_image *img = cnnf_image_new(4, 1, 1, CNNF_F32);
	static const float v[] = {-1.0f, 2.5f, 254.49f, 999.0f};
	memcpy(img->data, v, sizeof v);
	cnnf_image *back = round_trip(img, "f.pgm", NULL);
	check_shape(back, 4, 1, 1, CNNF_U8, 255, 0);
	ck_assert_uint_eq(at(back, 0, 0, 0), 0);
	ck_assert_uint_eq(at(back, 1, 0, 0), 3);
	ck_assert_uint_eq(at(back, 2, 0, 0), 254);
	ck_assert_uint_eq(at(back, 3, 0, 0), 255);
	cnnf_image_free(back);

	/* A float image that remembers a maxval keeps it. */
	img->maxval = 1000;
	back = round_trip(img, "f1000.pgm", NULL);
	check_shape(back, 4, 1, 1, CNNF_U16, 1000, 0);
	ck_assert_uint_eq(at(back, 3, 0, 0), 999);
	cnnf_image_free(back);
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_npy_read)
{
	cnnf_image *img = read_ok(fixture("f32_hwc.npy"));
	check_shape(img, 4, 3, 3, CNNF_F32, 0, 0);
	ck_assert(isnan(atf(img, 0, 0, 0)));
	ck_assert(isinf(atf(img, 0, 0, 1)) && atf(img, 0, 0, 1) > 0);
	ck_assert(isinf(atf(img, 0, 0, 2)) && atf(img, 0, 0, 2) < 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 4; x++)
			for (int c = 0; c < 3; c++)
				if (x || y)
					ck_assert_float_eq(atf(img, x, y, c),
					                   ((y * 4 + x) * 3 + c) * 0.5f - 3);
	cnnf_image_free(img);

	img = read_ok(fixture("f64_hw.npy"));
	check_shape(img, 5, 3, 1, CNNF_F32, 0, 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 5; x++)
			ck_assert_float_eq(atf(img, x, y, 0), (float)((y * 5 + x) / 3.0 - 1));
	cnnf_image_free(img);

	img = read_ok(fixture("u8_hwc.npy"));
	check_shape(img, 3, 2, 2, CNNF_U8, 255, 0);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++)
			for (int c = 0; c < 2; c++)
				ck_assert_uint_eq(at(img, x, y, c),
				                  (unsigned)((y * 3 + x) * 40 + c));
	cnnf_image_free(img);

	img = read_ok(fixture("u16_hw.npy"));
	check_shape(img, 2, 3, 1, CNNF_U16, 65535, 0);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 2; x++)
			ck_assert_uint_eq(at(img, x, y, 0), (unsigned)(y * 20000 + x * 7 + 1));
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_npy_big_endian_and_versions)
{
	cnnf_image *img = read_ok(fixture("be_f4.npy"));
	check_shape(img, 3, 2, 1, CNNF_F32, 0, 0);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++)
			ck_assert_float_eq(atf(img, x, y, 0), y * 3 + x - 2.25f);
	cnnf_image_free(img);

	img = read_ok(fixture("be_u2.npy"));
	check_shape(img, 3, 2, 2, CNNF_U16, 65535, 0);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++)
			for (int c = 0; c < 2; c++)
				ck_assert_uint_eq(at(img, x, y, c),
				                  (unsigned)(y * 30000 + x * 300 + c));
	cnnf_image_free(img);

	img = read_ok(fixture("v2_f8.npy"));
	check_shape(img, 2, 2, 1, CNNF_F32, 0, 0);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 2; x++)
			ck_assert_float_eq(atf(img, x, y, 0), y - x * 0.25f);
	cnnf_image_free(img);

	img = read_ok(fixture("v3_u1.npy"));
	check_shape(img, 3, 2, 1, CNNF_U8, 255, 0);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(((uint8_t *)img->data)[i], (unsigned)i);
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_npy_round_trip)
{
	for (int c = 1; c <= 5; c += 2) {
		cnnf_image *img = pattern(6, 5, c, CNNF_F32, 0);
		((float *)img->data)[0] = NAN;
		((float *)img->data)[1] = -INFINITY;
		((float *)img->data)[2] = 1e-40f; /* subnormal */
		cnnf_image *back = round_trip(img, "rt.npy", NULL);
		check_same(img, back);
		cnnf_image_free(img);
		cnnf_image_free(back);
	}
	/* Integer samples are stored as their raw values. */
	cnnf_image *img = pattern(3, 2, 3, CNNF_U16, 1000);
	cnnf_image *back = round_trip(img, "u16.npy", NULL);
	check_shape(back, 3, 2, 3, CNNF_F32, 0, 0);
	for (size_t i = 0; i < count(img); i++)
		ck_assert_float_eq(((float *)back->data)[i], ((uint16_t *)img->data)[i]);
	cnnf_image_free(back);
	cnnf_image_free(img);
}
END_TEST

/* Version 1.0, '<f4', shape (H, W, C) even for one channel, data at a multiple of 64 bytes. */
START_TEST(test_npy_layout)
{
	cnnf_image *img = cnnf_image_new(3, 2, 1, CNNF_F32);
	((float *)img->data)[5] = 1.0f;
	ck_assert_int_eq(cnnf_io_write(img, tmp("layout.npy"), NULL), 0);
	size_t n;
	unsigned char *buf = slurp(tmp("layout.npy"), &n);
	ck_assert_uint_eq(n, 128 + 6 * 4);
	ck_assert_int_eq(memcmp(buf, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
	const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1), }";
	ck_assert_int_eq(memcmp(buf + 10, dict, strlen(dict)), 0);
	ck_assert_int_eq(buf[127], '\n');
	ck_assert_int_eq(buf[126], ' ');
	ck_assert_int_eq(memcmp(buf + 128 + 20, "\x00\x00\x80\x3f", 4), 0);
	free(buf);
	cnnf_image_free(img);
	unlink(tmp("layout.npy"));
}
END_TEST

/* PNG, PNM and NPY hand each other identical samples. */
START_TEST(test_cross_format)
{
	cnnf_image *img = pattern(8, 3, 3, CNNF_U8, 255);
	cnnf_image *a = round_trip(img, "x.pnm", NULL);
	cnnf_image *b = round_trip(a, "x.png", NULL);
	check_same(img, b);
	cnnf_image *c = round_trip(b, "x.npy", NULL);
	for (size_t i = 0; i < count(img); i++)
		ck_assert_float_eq(((float *)c->data)[i], ((uint8_t *)img->data)[i]);
	cnnf_image *d = round_trip(c, "y.png", NULL);
	check_same(img, d);
	cnnf_image_free(a);
	cnnf_image_free(b);
	cnnf_image_free(c);
	cnnf_image_free(d);
	cnnf_image_free(img);

	img = pattern(5, 5, 1, CNNF_U16, 65535);
	a = round_trip(img, "x.pgm", NULL);
	check_same(img, a);
	b = round_trip(a, "x16.png", NULL);
	check_same(img, b);
	cnnf_image_free(a);
	cnnf_image_free(b);
	cnnf_image_free(img);
}
END_TEST

static void read_stdin(void *arg)
{
	*(cnnf_image **)arg = cnnf_io_read("-", CNNF_DEFAULT_MAX_PIXELS);
}

START_TEST(test_stdin)
{
	static const char *names[] = {"pal8_trns.png", "rgb.jpg", "u16_hw.npy"};
	for (int k = 0; k < 3; k++) {
		cnnf_image *img = NULL;
		redirect(0, fixture(names[k]), O_RDONLY, read_stdin, &img);
		ck_assert_msg(img != NULL, "%s from stdin: %s", names[k], cnnf_error_get());
		cnnf_image *want = read_ok(fixture(names[k]));
		check_same(want, img);
		cnnf_image_free(want);
		cnnf_image_free(img);
	}
}
END_TEST

static void write_stdout(void *arg)
{
	ck_assert_int_eq(cnnf_io_write(arg, "-", NULL), 0);
}

/* "-" writes PNG to standard output. */
START_TEST(test_stdout)
{
	cnnf_image *img = pattern(4, 3, 2, CNNF_U8, 255);
	redirect(1, tmp("stdout.png"), O_WRONLY | O_CREAT | O_TRUNC, write_stdout, img);
	cnnf_image *back = read_ok(tmp("stdout.png"));
	check_same(img, back);
	cnnf_image_free(back);
	cnnf_image_free(img);
	unlink(tmp("stdout.png"));
}
END_TEST

/* A new file gets 0666 minus the umask; an existing one is replaced whole. */
START_TEST(test_write_replaces)
{
	mode_t old = umask(027);
	spit_str(tmp("mode.pgm"), "old contents that are longer than the new file will be ......");
	cnnf_image *img = pattern(2, 2, 1, CNNF_U8, 255);
	ck_assert_int_eq(cnnf_io_write(img, tmp("mode.pgm"), NULL), 0);
	umask(old);
	struct stat st;
	ck_assert_int_eq(stat(tmp("mode.pgm"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_uint_eq(file_size(tmp("mode.pgm")), strlen("P5\n2 2\n255\n") + 4);
	ck_assert_int_eq(leftovers("mode.pgm"), 0);
	cnnf_image_free(img);
	unlink(tmp("mode.pgm"));
}
END_TEST

/* --format wins over the name. */
START_TEST(test_write_format_option)
{
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.format = CNNF_FORMAT_NPY;
	cnnf_image *img = pattern(2, 2, 1, CNNF_U8, 255);
	ck_assert_int_eq(cnnf_io_write(img, tmp("really_npy.png"), &o), 0);
	size_t n;
	unsigned char *buf = slurp(tmp("really_npy.png"), &n);
	ck_assert_int_eq(cnnf_io_format_sniff(buf, n), CNNF_FORMAT_NPY);
	free(buf);
	cnnf_image_free(img);
	unlink(tmp("really_npy.png"));
}
END_TEST

/* ---- errors ---- */

START_TEST(test_empty_and_unknown)
{
	spit(tmp("empty.png"), "", 0);
	read_fails(tmp("empty.png"), tmp("empty.png"), "empty file");
	spit_str(tmp("gif.png"), "GIF89a\x01\x00\x01\x00");
	read_fails(tmp("gif.png"), tmp("gif.png"), "not a PNG, JPEG, PNM, TIFF or NPY image");
	spit_str(tmp("short"), "P");
	read_fails(tmp("short"), tmp("short"), "not a PNG, JPEG, PNM, TIFF or NPY image");
	read_fails(tmp("does-not-exist.png"), tmp("does-not-exist.png"),
	           "No such file or directory");
	read_fails(cnnf_test_tmpdir(), cnnf_test_tmpdir(), "is a directory");
	unlink(tmp("empty.png"));
	unlink(tmp("gif.png"));
	unlink(tmp("short"));
}
END_TEST

static void read_stdin_fails(void *arg)
{
	read_fails("-", "stdin", arg);
}

START_TEST(test_stdin_errors)
{
	spit(tmp("empty"), "", 0);
	redirect(0, tmp("empty"), O_RDONLY, read_stdin_fails, "stdin: empty file");
	spit_str(tmp("junk"), "junk");
	redirect(0, tmp("junk"), O_RDONLY, read_stdin_fails, "stdin: not a PNG");
	/* A truncated PNG through stdin: the reader works on the slurped copy. */
	cut(fixture("rgba8_i.png"), tmp("cut.png"), 100);
	redirect(0, tmp("cut.png"), O_RDONLY, read_stdin_fails, "stdin: truncated file");
	unlink(tmp("empty"));
	unlink(tmp("junk"));
	unlink(tmp("cut.png"));
}
END_TEST

START_TEST(test_truncated)
{
	static const char *names[] = {"rgba8_i.png", "g16.png",     "rgb.jpg",  "progressive.jpg",
	                              "gray.jpg",    "f32_hwc.npy", "v2_f8.npy"};
	for (int k = 0; k < 7; k++) {
		size_t n = file_size(fixture(names[k]));
		/* Cut in the header, the middle of the data, and just before the end. */
		size_t cuts[] = {9, n / 2, n - 1};
		for (int j = 0; j < 3; j++) {
			cut(fixture(names[k]), tmp("cut"), cuts[j]);
			read_fails(tmp("cut"), tmp("cut"), "truncated file");
		}
	}
	spit_str(tmp("cut"), "P2 2 2 255 1 2 3");
	read_fails(tmp("cut"), tmp("cut"), "truncated file");
	spit_str(tmp("cut"), "P6 2 2 255\nabcdefghijk");
	read_fails(tmp("cut"), tmp("cut"), "truncated file");
	spit(tmp("cut"), "P5 2 1 1000\n\x00\x01\x02", 15);
	read_fails(tmp("cut"), tmp("cut"), "truncated file");
	spit_str(tmp("cut"), "P5 2 2");
	read_fails(tmp("cut"), tmp("cut"), "truncated file");
	unlink(tmp("cut"));
}
END_TEST

/* Offset of the first IDAT chunk's length field in a PNG file. */
static size_t find_idat(const unsigned char *buf, size_t n)
{
	for (size_t i = 8; i + 8 <= n; i++)
		if (memcmp(buf + i + 4, "IDAT", 4) == 0)
			return i;
	ck_abort_msg("no IDAT");
	return 0;
}

START_TEST(test_png_corrupt)
{
	size_t n;
	unsigned char *buf = slurp(fixture("rgb16.png"), &n);
	size_t idat = find_idat(buf, n);
	size_t len =
	    (size_t)buf[idat] << 24 | buf[idat + 1] << 16 | buf[idat + 2] << 8 | buf[idat + 3];
	/* Damage the CRC only: the data still inflates, but the chunk is not what was written. */
	buf[idat + 8 + len] ^= 0x01;
	spit(tmp("crc.png"), buf, n);
	read_fails(tmp("crc.png"), tmp("crc.png"), "CRC error");
	buf[idat + 8 + len] ^= 0x01;
	/*
	 * A text chunk that declares 2 GB in a small file is refused before
	 * libpng allocates it (1.6.39 would, after a warning), as is an eXIf.
	 */
	static const char *const kinds[] = {"tEXt", "eXIf", "iCCP"};
	for (int i = 0; i < 3; i++) {
		unsigned char *big = malloc(n + 12);
		ck_assert_ptr_nonnull(big);
		memcpy(big, buf, idat);
		static const unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xf0};
		memcpy(big + idat, huge, 4);
		memcpy(big + idat + 4, kinds[i], 4);
		memcpy(big + idat + 8, buf + idat, n - idat);
		spit(tmp("huge.png"), big, n + 8);
		free(big);
		read_fails(tmp("huge.png"), tmp("huge.png"), "chunk declares 2147483632 bytes");
	}
	unlink(tmp("huge.png"));

	/* Damage the compressed data and fix the CRC up: zlib itself must notice. */
	buf[idat + 8] = 0xff;
	buf[idat + 9] = 0xff;
	spit(tmp("zlib.png"), buf, n);
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_io_read(tmp("zlib.png"), 0));
	ck_assert_error_has(tmp("zlib.png"));
	free(buf);
	unlink(tmp("crc.png"));
	unlink(tmp("zlib.png"));
}
END_TEST

START_TEST(test_jpeg_errors)
{
	read_fails(fixture("cmyk.jpg"), fixture("cmyk.jpg"), "CMYK JPEG images are not supported");

	/* A restart marker in the middle of the entropy-coded data of a file without restarts. */
	size_t n;
	unsigned char *buf = slurp(fixture("rgb.jpg"), &n);
	size_t sos = 0;
	for (size_t i = 2; i + 1 < n; i++)
		if (buf[i] == 0xff && buf[i + 1] == 0xda)
			sos = i;
	ck_assert_uint_gt(sos, 0);
	size_t mid = sos + (n - sos) / 2;
	buf[mid] = 0xff;
	buf[mid + 1] = 0xd3;
	spit(tmp("bad.jpg"), buf, n);
	read_fails(tmp("bad.jpg"), tmp("bad.jpg"), "Corrupt JPEG data");
	free(buf);
	unlink(tmp("bad.jpg"));
}
END_TEST

/* Headers that claim 10^12 pixels are refused before anything is allocated. */
START_TEST(test_pixel_limit)
{
	const char *limit = "over the pixel limit";
	read_fails(fixture("big.png"), fixture("big.png"), limit);
	read_fails(fixture("big.jpg"), fixture("big.jpg"), limit);
	read_fails(fixture("big.npy"), fixture("big.npy"), limit);
	ck_assert_error_has("1000000x1000000");
	spit_str(tmp("big.pgm"), "P5\n1000000 1000000\n255\n");
	read_fails(tmp("big.pgm"), tmp("big.pgm"), limit);
	spit_str(tmp("huge.pgm"), "P2 99999999999999999999 99999999999999999999 255 ");
	read_fails(tmp("huge.pgm"), tmp("huge.pgm"), "too large");

	/* A small limit refuses a small image too. */
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_io_read(fixture("rgba8_i.png"), 62));
	ck_assert_error_has("of 9x7 pixels is over the pixel limit of 62");
	cnnf_image *img = cnnf_io_read(fixture("rgba8_i.png"), 63);
	ck_assert_ptr_nonnull(img);
	cnnf_image_free(img);
	unlink(tmp("big.pgm"));
	unlink(tmp("huge.pgm"));
}
END_TEST

/* ---- TIFF, PBM, PAM and the Netpbm kinds as outputs ---- */

/* One IFD entry of a hand-made TIFF: SHORT (3), LONG (4) or FLOAT; arr: values stored after the data. */
typedef struct tiff_entry {
	uint16_t tag, type;
	uint32_t count, value;
	const uint16_t *arr; /* count SHORTs stored out of line (count > 2) */
} tiff_entry;

static void put16(unsigned char *p, unsigned v, int be)
{
	p[be ? 0 : 1] = (unsigned char)(v >> 8);
	p[be ? 1 : 0] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v, int be)
{
	for (int i = 0; i < 4; i++)
		p[be ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

/*
 * A classic TIFF with one IFD of entries e (tags in ascending order) and one
 * strip of data, written by hand from the TIFF 6.0 specification, so that
 * the reader is checked against bytes libtiff did not write. StripOffsets
 * (273) and StripByteCounts (279) are filled in. Returns the file's size.
 */
static size_t make_tiff(unsigned char *buf, int be, const tiff_entry *e, int n, const void *data,
                        size_t len)
{
	memcpy(buf, be ? "MM" : "II", 2);
	put16(buf + 2, 42, be);
	put32(buf + 4, 8, be);
	put16(buf + 8, (unsigned)n, be);
	size_t data_at = 8 + 2 + 12 * (size_t)n + 4;
	size_t extra_at = data_at + len;
	for (int i = 0; i < n; i++) {
		unsigned char *p = buf + 10 + 12 * i;
		put16(p, e[i].tag, be);
		put16(p + 2, e[i].type, be);
		put32(p + 4, e[i].count, be);
		uint32_t v = e[i].tag == 273 ? (uint32_t)data_at : e[i].tag == 279 ? (uint32_t)len : e[i].value;
		if (e[i].arr) {
			put32(p + 8, (uint32_t)extra_at, be);
			for (uint32_t k = 0; k < e[i].count; k++)
				put16(buf + extra_at + 2 * k, e[i].arr[k], be);
			extra_at += 2 * e[i].count;
		} else if (e[i].type == 3) {
			memset(p + 8, 0, 4);
			put16(p + 8, v, be);
		} else {
			put32(p + 8, v, be);
		}
	}
	put32(buf + 10 + 12 * n, 0, be);
	memcpy(buf + data_at, data, len);
	return extra_at;
}

/* The entries of a w x h one-sample page: bps bits, photometric, sample format. */
static int gray_entries(tiff_entry *e, uint32_t w, uint32_t h, unsigned bps, unsigned photometric,
                        unsigned format)
{
	int n = 0;
	e[n++] = (tiff_entry){256, 4, 1, w, NULL};
	e[n++] = (tiff_entry){257, 4, 1, h, NULL};
	e[n++] = (tiff_entry){258, 3, 1, bps, NULL};
	e[n++] = (tiff_entry){259, 3, 1, 1, NULL}; /* no compression */
	e[n++] = (tiff_entry){262, 3, 1, photometric, NULL};
	e[n++] = (tiff_entry){273, 4, 1, 0, NULL};
	e[n++] = (tiff_entry){277, 3, 1, 1, NULL};
	e[n++] = (tiff_entry){278, 4, 1, h, NULL};
	e[n++] = (tiff_entry){279, 4, 1, 0, NULL};
	e[n++] = (tiff_entry){339, 3, 1, format, NULL};
	return n;
}

static cnnf_image *read_hand_made(const char *name, int be, const tiff_entry *e, int n,
                                  const void *data, size_t len)
{
	unsigned char buf[1024];
	size_t size = make_tiff(buf, be, e, n, data, len);
	spit(tmp(name), buf, size);
	cnnf_image *img = read_ok(tmp(name));
	unlink(tmp(name));
	return img;
}

/* ---- EXIF Orientation ---- */

/*
 * An APP1 EXIF payload written by hand from the EXIF 2.3 layout: "Exif\0\0",
 * the TIFF header (be: "MM"), IFD0 at offset 8 with a made-up tag 0x010f
 * (Make, ASCII, out of line) first and then Orientation (SHORT, 1, v).
 * Returns its size.
 */
static size_t make_exif(unsigned char *buf, int be, unsigned v)
{
	memcpy(buf, "Exif\0\0", 6);
	unsigned char *t = buf + 6;
	t[0] = t[1] = be ? 'M' : 'I';
	put16(t + 2, 42, be);
	put32(t + 4, 8, be);
	put16(t + 8, 2, be);
	unsigned char *e = t + 10;
	put16(e, 0x010f, be), put16(e + 2, 2, be), put32(e + 4, 6, be), put32(e + 8, 38, be);
	e += 12;
	put16(e, 0x0112, be), put16(e + 2, 3, be), put32(e + 4, 1, be);
	put32(e + 8, 0, be);
	put16(e + 8, v, be);
	put32(e + 12, 0, be); /* no next IFD */
	memcpy(t + 38, "cnnf\0\0", 6);
	return 6 + 44;
}

/* src (a JPEG from cnnf) with an APP1 segment of payload (len bytes) after its SOI, at dst. */
static void splice_app1(const char *src, const char *dst, const unsigned char *payload, size_t len)
{
	size_t n;
	unsigned char *jpg = slurp(src, &n);
	unsigned char *out = malloc(n + len + 4);
	ck_assert_ptr_nonnull(out);
	memcpy(out, jpg, 2);
	out[2] = 0xff, out[3] = 0xe1, out[4] = (unsigned char)((len + 2) >> 8);
	out[5] = (unsigned char)(len + 2);
	memcpy(out + 6, payload, len);
	memcpy(out + 6 + len, jpg + 2, n - 2);
	spit(dst, out, n + len + 4);
	free(out);
	free(jpg);
}

/* img mirrored left to right, and turned 90 degrees clockwise: the expected upright images. */
static cnnf_image *mirrored(const cnnf_image *a)
{
	cnnf_image *b = cnnf_image_new(a->width, a->height, a->channels, CNNF_U8);
	for (int y = 0; y < a->height; y++)
		for (int x = 0; x < a->width; x++)
			for (int c = 0; c < a->channels; c++)
				((uint8_t *)b->data)[(y * b->width + x) * b->channels + c] =
				    (uint8_t)at(a, a->width - 1 - x, y, c);
	return b;
}

static cnnf_image *turned_cw(const cnnf_image *a)
{
	/* Column x of the result is row H-1-x of a, read left to right, top to bottom. */
	cnnf_image *b = cnnf_image_new(a->height, a->width, a->channels, CNNF_U8);
	for (int y = 0; y < b->height; y++)
		for (int x = 0; x < b->width; x++)
			for (int c = 0; c < a->channels; c++)
				((uint8_t *)b->data)[(y * b->width + x) * b->channels + c] =
				    (uint8_t)at(a, y, a->height - 1 - x, c);
	return b;
}

/*
 * Each orientation as exiftool names it, as steps on the stored image:
 * 'm' mirror horizontal, 'r' rotate 90 CW (2: mirror; 3: rotate 180;
 * 4: mirror vertical = mirror, rotate 180; 5: mirror, rotate 270 CW; 6: rotate
 * 90 CW; 7: mirror, rotate 90 CW; 8: rotate 270 CW).
 */
static const char *const orient_steps[9] = {"", "", "m", "rr", "mrr", "mrrr", "r", "mr", "rrr"};

static cnnf_image *expected_upright(const cnnf_image *stored, int v)
{
	cnnf_image *img = cnnf_image_convert(stored, CNNF_U8, 255);
	for (const char *s = orient_steps[v]; *s; s++) {
		cnnf_image *next = *s == 'm' ? mirrored(img) : turned_cw(img);
		cnnf_image_free(img);
		img = next;
	}
	return img;
}

/* Every orientation in both byte orders, against the plain file's pixels turned by hand. */
START_TEST(test_exif_orientation)
{
	cnnf_image *src = pattern(5, 3, 3, CNNF_U8, 255);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.quality = 100;
	ck_assert_int_eq(cnnf_io_write(src, tmp("plain.jpg"), &o), 0);
	cnnf_image *stored = read_ok(tmp("plain.jpg"));
	for (int be = 0; be <= 1; be++)
		for (unsigned v = 1; v <= 8; v++) {
			unsigned char app1[64];
			size_t len = make_exif(app1, be, v);
			ck_assert_int_eq(cnnf_exif_orientation(app1, len, &(const char *){NULL}),
			                 (int)v);
			splice_app1(tmp("plain.jpg"), tmp("orient.jpg"), app1, len);
			cnnf_image *want = expected_upright(stored, (int)v);
			cnnf_input *in = cnnf_io_open(tmp("orient.jpg"), 0);
			ck_assert_ptr_nonnull(in);
			cnnf_image *got = cnnf_input_read(in, 0);
			ck_assert_ptr_nonnull(got);
			ck_assert_int_eq(cnnf_input_orientation(in), (int)v);
			ck_assert_ptr_null(cnnf_input_warning(in));
			check_same(want, got);
			cnnf_image_free(got);
			/* --no-autorotate: the stored pixels. */
			cnnf_input_set_autorotate(in, 0);
			got = cnnf_input_read(in, 0);
			ck_assert_int_eq(cnnf_input_orientation(in), (int)v);
			check_same(stored, got);
			cnnf_image_free(got);
			cnnf_input_close(in);
			/* cnnf_io_read() turns upright too. */
			got = read_ok(tmp("orient.jpg"));
			check_same(want, got);
			cnnf_image_free(got);
			cnnf_image_free(want);
		}
	/* Without EXIF: orientation 0, and an XMP block (APP1 too) is not taken for EXIF. */
	cnnf_input *in = cnnf_io_open(tmp("plain.jpg"), 0);
	cnnf_image_free(cnnf_input_read(in, 0));
	ck_assert_int_eq(cnnf_input_orientation(in), 0);
	cnnf_input_close(in);
	static const unsigned char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
	splice_app1(tmp("plain.jpg"), tmp("orient.jpg"), xmp, sizeof xmp);
	in = cnnf_io_open(tmp("orient.jpg"), 0);
	cnnf_image *got = cnnf_input_read(in, 0);
	check_same(stored, got);
	ck_assert_int_eq(cnnf_input_orientation(in), 0);
	ck_assert_ptr_null(cnnf_input_warning(in));
	cnnf_image_free(got);
	cnnf_input_close(in);
	/* Other formats are never turned. */
	in = cnnf_io_open(fixture("rgba8_i.png"), 0);
	cnnf_image_free(cnnf_input_read(in, 0));
	ck_assert_int_eq(cnnf_input_orientation(in), 0);
	cnnf_input_close(in);
	unlink(tmp("plain.jpg"));
	unlink(tmp("orient.jpg"));
	cnnf_image_free(stored);
	cnnf_image_free(src);
}
END_TEST

/* Malformed EXIF reads as orientation 1: the pixels as stored, one warning, no crash. */
START_TEST(test_exif_malformed)
{
	/* Big-endian: the id 0..5, the TIFF header 6..13 (IFD0's offset 10..13), the count
	   14..15, Make 16..27, Orientation 28..39 (type 30, count 32, value 36), next 40. */
	unsigned char good[64];
	size_t glen = make_exif(good, 1, 6);
	struct {
		const char *what;
		size_t len;             /* of good, cut here */
		size_t at;              /* then the byte at this offset ... */
		unsigned char byte, b2; /* ... and the next made these (at 0: none) */
		const char *why;
	} cases[] = {
	    {"only the id", 6, 0, 0, 0, "truncated"},
	    {"TIFF header cut", 12, 0, 0, 0, "truncated"},
	    {"byte order", 0, 6, 'X', 'X', "byte order"},
	    {"not 42", 0, 8, 0, 43, "42"},
	    {"IFD0 past the end", 0, 12, 0xff, 0xff, "outside"},
	    {"IFD0 inside the header", 0, 12, 0, 0, "outside"},
	    {"IFD0 at the last byte", 0, 12, 0, 43, "outside"},
	    {"huge count", 0, 14, 0xff, 0xff, "more entries"},
	    {"IFD cut in an entry", 38, 0, 0, 0, "more entries"},
	    {"Orientation a LONG", 0, 30, 0, 4, "one SHORT"},
	    {"Orientation count 2", 0, 34, 0, 2, "one SHORT"},
	    {"Orientation 0", 0, 36, 0, 0, "1..8"},
	    {"Orientation 9", 0, 36, 0, 9, "1..8"},
	    {"Orientation 0xffff", 0, 36, 0xff, 0xff, "1..8"},
	};
	cnnf_image *src = pattern(4, 7, 3, CNNF_U8, 255);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	ck_assert_int_eq(cnnf_io_write(src, tmp("plain.jpg"), &o), 0);
	cnnf_image *stored = read_ok(tmp("plain.jpg"));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char app1[64];
		size_t len = cases[i].len ? cases[i].len : glen;
		memcpy(app1, good, glen);
		if (cases[i].at) {
			app1[cases[i].at] = cases[i].byte;
			app1[cases[i].at + 1] = cases[i].b2;
		}
		const char *why = NULL;
		ck_assert_msg(cnnf_exif_orientation(app1, len, &why) == 1, "%s", cases[i].what);
		ck_assert_msg(why && strstr(why, cases[i].why), "%s: %s", cases[i].what,
		              why ? why : "(none)");
		splice_app1(tmp("plain.jpg"), tmp("bad_exif.jpg"), app1, len);
		cnnf_input *in = cnnf_io_open(tmp("bad_exif.jpg"), 0);
		cnnf_image *got = cnnf_input_read(in, 0);
		ck_assert_msg(got != NULL, "%s: %s", cases[i].what, cnnf_error_get());
		check_same(stored, got);
		ck_assert_int_eq(cnnf_input_orientation(in), 1);
		const char *w = cnnf_input_warning(in);
		ck_assert_msg(w && strncmp(w, tmp("bad_exif.jpg"), strlen(tmp("bad_exif.jpg"))) == 0 &&
		                  strstr(w, ": warning: EXIF: ") && strstr(w, cases[i].why),
		              "%s: warning %s", cases[i].what, w ? w : "(none)");
		cnnf_image_free(got);
		cnnf_input_close(in);
	}
	/* A block with no Orientation: 0, and nothing is wrong with it. */
	const char *why = "unset";
	good[6 + 10 + 12] = good[6 + 10 + 13] = 0x77; /* the tag becomes 0x7777 */
	ck_assert_int_eq(cnnf_exif_orientation(good, glen, &why), 0);
	ck_assert_ptr_null(why);
	/* Every length of a good block, and every byte flipped: never past the end (ASan, valgrind). */
	glen = make_exif(good, 0, 8);
	for (size_t n = 0; n <= glen; n++) {
		int v = cnnf_exif_orientation(good, n, &why);
		/* IFD0's two entries end at byte 40; the next-IFD offset and Make's text are not read. */
		ck_assert_int_eq(v, n >= 40 ? 8 : 1);
	}
	for (size_t k = 0; k < glen; k++) {
		unsigned char b[64];
		memcpy(b, good, glen);
		b[k] ^= 0xff;
		int v = cnnf_exif_orientation(b, glen, &why);
		ck_assert(v >= 0 && v <= 8);
	}
	unlink(tmp("plain.jpg"));
	unlink(tmp("bad_exif.jpg"));
	cnnf_image_free(stored);
	cnnf_image_free(src);
}
END_TEST

START_TEST(test_tiff_hand_made)
{
	tiff_entry e[16];
	/* 8-bit gray, both byte orders. */
	static const uint8_t g8[6] = {0, 1, 127, 128, 254, 255};
	for (int be = 0; be < 2; be++) {
		int n = gray_entries(e, 3, 2, 8, 1, 1);
		cnnf_image *img = read_hand_made("g8.tif", be, e, n, g8, sizeof g8);
		check_shape(img, 3, 2, 1, CNNF_U8, 255, 0);
		ck_assert_mem_eq(img->data, g8, 6);
		cnnf_image_free(img);
	}
	/* 16-bit gray: the file's byte order, whatever the host's. */
	static const uint8_t le16[4] = {0x34, 0x12, 0xff, 0xee}, be16[4] = {0x12, 0x34, 0xee, 0xff};
	for (int be = 0; be < 2; be++) {
		int n = gray_entries(e, 2, 1, 16, 1, 1);
		cnnf_image *img = read_hand_made("g16.tif", be, e, n, be ? be16 : le16, 4);
		check_shape(img, 2, 1, 1, CNNF_U16, 65535, 0);
		ck_assert_uint_eq(at(img, 0, 0, 0), 0x1234);
		ck_assert_uint_eq(at(img, 1, 0, 0), 0xeeff);
		cnnf_image_free(img);
	}
	/* Min-is-white: 0 is white. */
	int n = gray_entries(e, 3, 2, 8, 0, 1);
	cnnf_image *img = read_hand_made("white.tif", 0, e, n, g8, sizeof g8);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(((uint8_t *)img->data)[i], 255 - g8[i]);
	cnnf_image_free(img);
	/* 1-bit min-is-black: bits onto 0 and 255, rows padded to a byte. */
	static const uint8_t bits[2] = {0xa0, 0x40}; /* 101, 010 */
	n = gray_entries(e, 3, 2, 1, 1, 1);
	img = read_hand_made("bits.tif", 1, e, n, bits, 2);
	check_shape(img, 3, 2, 1, CNNF_U8, 255, 0);
	static const uint8_t want_bits[6] = {255, 0, 255, 0, 255, 0};
	ck_assert_mem_eq(img->data, want_bits, 6);
	cnnf_image_free(img);
	/* 4-bit gray: 0..15 onto 0..255 (v * 17). */
	static const uint8_t nib[1] = {0x3f};
	n = gray_entries(e, 2, 1, 4, 1, 1);
	img = read_hand_made("nib.tif", 0, e, n, nib, 1);
	ck_assert_uint_eq(at(img, 0, 0, 0), 51);
	ck_assert_uint_eq(at(img, 1, 0, 0), 255);
	cnnf_image_free(img);
	/* float32 gray, big-endian: the samples as they are, no scale. */
	static const uint8_t fbe[8] = {0x3f, 0xc0, 0, 0, 0xc2, 0xc8, 0, 0}; /* 1.5, -100 */
	n = gray_entries(e, 2, 1, 32, 1, 3);
	img = read_hand_made("f.tif", 1, e, n, fbe, 8);
	check_shape(img, 2, 1, 1, CNNF_F32, 0, 0);
	ck_assert_float_eq(atf(img, 0, 0, 0), 1.5f);
	ck_assert_float_eq(atf(img, 1, 0, 0), -100.0f);
	cnnf_image_free(img);
	/* A tag libtiff does not know is a warning, kept for the caller, not printed. */
	n = gray_entries(e, 3, 2, 8, 1, 1);
	e[n++] = (tiff_entry){65000, 3, 1, 7, NULL};
	unsigned char wbuf[1024];
	spit(tmp("warn.tif"), wbuf, make_tiff(wbuf, 0, e, n, g8, sizeof g8));
	cnnf_input *in = cnnf_io_open(tmp("warn.tif"), 0);
	ck_assert_ptr_nonnull(in);
	img = cnnf_input_read(in, 0);
	ck_assert_ptr_nonnull(img);
	ck_assert_mem_eq(img->data, g8, 6);
	const char *w = cnnf_input_warning(in);
	ck_assert_ptr_nonnull(w);
	ck_assert_msg(strncmp(w, tmp("warn.tif"), strlen(tmp("warn.tif"))) == 0 &&
	                  strstr(w, ": warning: Unknown field with tag 65000") != NULL,
	              "warning '%s'", w);
	cnnf_input_close(in);
	cnnf_image_free(img);
	unlink(tmp("warn.tif"));
	/* A 1-bit palette: colour map entries (16 bits) onto 8 bits by their high byte. */
	static const uint16_t cmap[6] = {0, 65535, 257 * 10, 0, 65535, 257 * 20};
	n = gray_entries(e, 3, 2, 1, 3, 1);
	e[n++] = (tiff_entry){320, 3, 6, 0, cmap};
	img = read_hand_made("pal.tif", 0, e, n, bits, 2);
	check_shape(img, 3, 2, 3, CNNF_U8, 255, 0);
	/* The map is all reds, then all greens, then all blues: 1 is (255, 0, 20), 0 (0, 10, 255). */
	static const uint8_t c0[3] = {0, 10, 255}, c1[3] = {255, 0, 20};
	ck_assert_mem_eq((uint8_t *)img->data + 0, c1, 3);
	ck_assert_mem_eq((uint8_t *)img->data + 3, c0, 3);
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_tiff_round_trip)
{
	/* Every type and channel count comes back sample for sample: integers and float32. */
	static const struct {
		int c;
		cnnf_type type;
		unsigned maxval;
	} cases[] = {{1, CNNF_U8, 255},   {2, CNNF_U8, 255},   {3, CNNF_U8, 255},  {4, CNNF_U8, 255},
	             {5, CNNF_U8, 255},   {1, CNNF_U16, 65535}, {3, CNNF_U16, 65535},
	             {4, CNNF_U16, 65535}, {1, CNNF_F32, 0},   {3, CNNF_F32, 0},   {7, CNNF_F32, 0}};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		/* Odd sizes: rows that are no multiple of a strip, widths of no power of two. */
		cnnf_image *img = pattern(301, 97, cases[k].c, cases[k].type, cases[k].maxval);
		img->alpha = cases[k].c == 2 || cases[k].c == 4;
		cnnf_image *back = round_trip(img, "rt.tif", NULL);
		check_shape(back, 301, 97, cases[k].c, cases[k].type, cases[k].maxval, img->alpha);
		check_same(img, back);
		cnnf_image_free(back);
		cnnf_image_free(img);
	}
	/* --depth converts as for PNG: 16 to 8 bits divides by 257, rounded. */
	cnnf_image *img = pattern(4, 3, 1, CNNF_U16, 65535);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.depth = 8;
	cnnf_image *back = round_trip(img, "d8.tif", &o);
	check_shape(back, 4, 3, 1, CNNF_U8, 255, 0);
	for (int x = 0; x < 4; x++)
		ck_assert_uint_eq(at(back, x, 0, 0), cnnf_image_round(at(img, x, 0, 0) / 257.0, 255));
	cnnf_image_free(back);
	cnnf_image_free(img);
	/* A PNM maxval is rescaled onto the full 16 bits, as a PNG gets it. */
	img = pattern(4, 3, 1, CNNF_U16, 1000);
	back = round_trip(img, "m.tif", NULL);
	ck_assert_uint_eq(at(back, 1, 0, 0), 65535);
	cnnf_image_free(back);
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_tiff_pages)
{
	cnnf_image *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = pattern(20 + i, 10 + 2 * i, i == 2 ? 3 : 1, i == 1 ? CNNF_U16 : CNNF_U8,
		               i == 1 ? 65535 : 255);
	cnnf_output *out;
	ck_assert_int_eq(cnnf_output_open(tmp("pages.tif"), &out), 0);
	cnnf_io_pages *w;
	ck_assert_int_eq(cnnf_io_pages_open(out, CNNF_FORMAT_TIFF, NULL, &w), 0);
	for (int i = 0; i < 3; i++) {
		cnnf_rows rows;
		cnnf_image_to_rows(p[i], &rows);
		ck_assert_int_eq(cnnf_io_pages_add(w, &rows, NULL), 0);
	}
	ck_assert_int_eq(cnnf_io_pages_close(w), 0);
	ck_assert_int_eq(cnnf_output_publish(&out, 1), 0);

	cnnf_input *in = cnnf_io_open(tmp("pages.tif"), 0);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(cnnf_input_pages(in), 3);
	ck_assert_int_eq(cnnf_input_format(in), CNNF_FORMAT_TIFF);
	ck_assert_ptr_null(cnnf_input_warning(in));
	/* In any order, and again. */
	for (int k = 0; k < 4; k++) {
		int i = (2 * k + 1) % 3;
		cnnf_image *img = cnnf_input_read(in, i);
		ck_assert_ptr_nonnull(img);
		check_same(p[i], img);
		cnnf_image_free(img);
	}
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_input_read(in, 3));
	ck_assert_error_has("there is no page 3: the file has 3 (counted from 0)");
	cnnf_input_close(in);
	/* cnnf_io_read() takes the first page. */
	cnnf_image *first = read_ok(tmp("pages.tif"));
	check_same(p[0], first);
	cnnf_image_free(first);
	/* Other formats hold one image. */
	ck_assert_int_eq(cnnf_output_open(tmp("pages.png"), &out), 0);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_io_pages_open(out, CNNF_FORMAT_PNG, NULL, &w), -1);
	ck_assert_error_has("PNG holds one image, not several pages");
	cnnf_output_discard(out);
	for (int i = 0; i < 3; i++)
		cnnf_image_free(p[i]);
	unlink(tmp("pages.tif"));
}
END_TEST

START_TEST(test_tiff_errors)
{
	/* A file cut anywhere fails with a message, never an image of garbage. */
	cnnf_image *img = pattern(64, 48, 3, CNNF_U16, 65535);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	ck_assert_int_eq(cnnf_io_write(img, tmp("whole.tif"), &o), 0);
	size_t size = file_size(tmp("whole.tif"));
	for (size_t cut_at = 1; cut_at < size; cut_at += size / 17 + 1) {
		cut(tmp("whole.tif"), tmp("cut.tif"), cut_at);
		cnnf_error_clear();
		cnnf_image *r = cnnf_io_read(tmp("cut.tif"), 0);
		ck_assert_msg(r == NULL, "a TIFF cut at %zu of %zu bytes was read", cut_at, size);
		ck_assert_msg(strncmp(cnnf_error_get(), tmp("cut.tif"), strlen(tmp("cut.tif"))) == 0,
		              "message '%s' does not name the file", cnnf_error_get());
		ck_assert_msg(strchr(cnnf_error_get(), '\n') == NULL, "two lines: %s", cnnf_error_get());
	}
	unlink(tmp("cut.tif"));
	unlink(tmp("whole.tif"));
	cnnf_image_free(img);

	tiff_entry e[16];
	unsigned char buf[1024];
	static const uint8_t data[8] = {0};
	struct {
		unsigned bps, photometric, format;
		const char *needle;
	} cases[] = {
	    {16, 1, 2, "signed 16-bit TIFF samples are not supported"},
	    {64, 1, 3, "64-bit floating-point TIFF samples are not supported"},
	    {32, 1, 1, "32-bit TIFF samples are not supported"},
	    {8, 5, 1, "photometric interpretation 5 (CMYK (separated)) is not supported"},
	    {8, 2, 1, "TIFF RGB page with 1 samples per pixel"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		int n = gray_entries(e, 1, 1, cases[k].bps, cases[k].photometric, cases[k].format);
		size_t len = make_tiff(buf, 0, e, n, data, 8);
		spit(tmp("bad.tif"), buf, len);
		read_fails(tmp("bad.tif"), tmp("bad.tif"), cases[k].needle);
	}
	/* The pixel limit holds before anything is allocated. */
	int n = gray_entries(e, 100000, 100000, 8, 1, 1);
	spit(tmp("big.tif"), buf, make_tiff(buf, 0, e, n, data, 8));
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_io_read(tmp("big.tif"), 1 << 20));
	ck_assert_error_has("pixels");
	unlink(tmp("big.tif"));
	unlink(tmp("bad.tif"));
}
END_TEST

START_TEST(test_pbm_pam_read)
{
	/* PBM: 1 is black; plain digits need no space between them. */
	spit_str(tmp("p1.pbm"), "P1\n# c\n3 2\n101\n0 1 0\n");
	cnnf_image *img = read_ok(tmp("p1.pbm"));
	check_shape(img, 3, 2, 1, CNNF_U8, 255, 0);
	static const uint8_t want[6] = {0, 255, 0, 255, 0, 255};
	ck_assert_mem_eq(img->data, want, 6);
	cnnf_image_free(img);
	/* P4: rows padded to whole bytes, the first pixel in the high bit. */
	spit(tmp("p4.pbm"), "P4\n3 2\n\xa0\x40", 10);
	img = read_ok(tmp("p4.pbm"));
	ck_assert_mem_eq(img->data, want, 6);
	cnnf_image_free(img);
	/* PAM with alpha, 16-bit big-endian samples. */
	static const char pam[] =
	    "P7\nWIDTH 1\nHEIGHT 1\nDEPTH 2\nMAXVAL 1000\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n"
	    "\x03\xe8\x00\x07";
	spit(tmp("a.pam"), pam, sizeof pam - 1);
	img = read_ok(tmp("a.pam"));
	check_shape(img, 1, 1, 2, CNNF_U16, 1000, 1);
	ck_assert_uint_eq(at(img, 0, 0, 0), 1000);
	ck_assert_uint_eq(at(img, 0, 0, 1), 7);
	cnnf_image_free(img);
	/* Any depth; a comment in the header. */
	static const char d5[] =
	    "P7\nWIDTH 1\n# x\nHEIGHT 1\nDEPTH 5\nMAXVAL 255\nENDHDR\n\x01\x02\x03\x04\x05";
	spit(tmp("d5.pam"), d5, sizeof d5 - 1);
	img = read_ok(tmp("d5.pam"));
	check_shape(img, 1, 1, 5, CNNF_U8, 255, 0);
	ck_assert_uint_eq(at(img, 0, 0, 4), 5);
	cnnf_image_free(img);
	unlink(tmp("p1.pbm"));
	unlink(tmp("p4.pbm"));
	unlink(tmp("a.pam"));
	unlink(tmp("d5.pam"));
}
END_TEST

START_TEST(test_netpbm_kinds_write)
{
	/* 2x1 RGB: red and mid gray. */
	cnnf_image *rgb = cnnf_image_new(2, 1, 3, CNNF_U8);
	uint8_t px[6] = {255, 0, 0, 100, 100, 100};
	memcpy(rgb->data, px, 6);
	/* .pgm: ppmtopgm's luma, 0.2989 R + 0.5866 G + 0.1145 B rounded: 76.2 -> 76, 100. */
	cnnf_image *g = round_trip(rgb, "luma.pgm", NULL);
	check_shape(g, 2, 1, 1, CNNF_U8, 255, 0);
	ck_assert_uint_eq(at(g, 0, 0, 0), 76);
	ck_assert_uint_eq(at(g, 1, 0, 0), 100);
	/* .ppm of gray: the gray three times. */
	cnnf_image *c = round_trip(g, "gray.ppm", NULL);
	check_shape(c, 2, 1, 3, CNNF_U8, 255, 0);
	for (int k = 0; k < 3; k++)
		ck_assert_uint_eq(at(c, 0, 0, k), 76);
	/* .pbm: black below the middle, so 76 and 100 are black, 200 is white; read back 0/255. */
	cnnf_image *b = cnnf_image_new(3, 1, 1, CNNF_U8);
	memcpy(b->data, (uint8_t[]){76, 128, 127}, 3);
	cnnf_image *bb = round_trip(b, "t.pbm", NULL);
	ck_assert_mem_eq(bb->data, ((uint8_t[]){0, 255, 0}), 3);
	/* .pam keeps everything: alpha and its tuple type, 16 bits. */
	cnnf_image *a = pattern(5, 3, 4, CNNF_U16, 65535);
	cnnf_image *aa = round_trip(a, "rgba.pam", NULL);
	check_shape(aa, 5, 3, 4, CNNF_U16, 65535, 1);
	check_same(a, aa);
	/* PGM has no alpha: flattening composites it away first. */
	write_fails(a, tmp("rgba.pgm"), NULL, "PGM takes gray or colour, not 4 channels (no alpha");
	cnnf_image *opaque = cnnf_image_convert(a, CNNF_U16, 65535);
	for (size_t i = 3; i < count(opaque); i += 4)
		((uint16_t *)opaque->data)[i] = 65535;
	cnnf_write_opts fo;
	cnnf_io_write_opts_init(&fo);
	fo.flatten = 1;
	cnnf_image *ga = round_trip(opaque, "rgba.pgm", &fo);
	check_shape(ga, 5, 3, 1, CNNF_U16, 65535, 0);
	ck_assert_uint_eq(at(ga, 1, 1, 0), (unsigned)(0.2989 * at(a, 1, 1, 0) + 0.5866 * at(a, 1, 1, 1) +
	                                              0.1145 * at(a, 1, 1, 2) + 0.5));
	cnnf_image_free(opaque);
	cnnf_image *imgs[] = {rgb, g, c, b, bb, a, aa, ga};
	for (size_t i = 0; i < sizeof imgs / sizeof *imgs; i++)
		cnnf_image_free(imgs[i]);
}
END_TEST

START_TEST(test_format_table)
{
	/* Every extension is a --format name and back. */
	static const char *const names[] = {"png", "jpg", "jpeg", "pnm", "pgm", "ppm",
	                                    "pbm", "pam", "tif", "tiff", "npy"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		cnnf_format f;
		char path[32];
		snprintf(path, sizeof path, "x.%s", names[i]);
		ck_assert_int_eq(cnnf_io_format_parse(names[i], &f), 0);
		ck_assert_int_eq(f, cnnf_io_format_from_name(path));
		ck_assert_ptr_nonnull(strstr(cnnf_io_format_names(), names[i]));
	}
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_TIFF, 9, 0), 1);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PAM, 2, 0), 1);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PGM, 3, 0), 1);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PGM, 2, 0), 0);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PPM, 4, 1), 0);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PNM, 4, 1), 0);
	ck_assert_int_eq(cnnf_io_format_holds(CNNF_FORMAT_PNG, 4, 1), 1);
	/* The sniffer knows both TIFF byte orders and BigTIFF. */
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"II*\0", 4), CNNF_FORMAT_TIFF);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"MM\0*", 4), CNNF_FORMAT_TIFF);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"II+\0", 4), CNNF_FORMAT_TIFF);
	ck_assert_int_eq(cnnf_io_format_sniff((const unsigned char *)"II*\1", 4), CNNF_FORMAT_NONE);
}
END_TEST

START_TEST(test_pnm_errors)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
	    {"P2 2 1 255 0 300", "sample 300 is above maxval 255"},
	    {"P5 2 1 100\n\x05\xc8", "sample 200 is above maxval 100"},
	    {"P5 1 1 1000\n\x03\xe9", "sample 1001 is above maxval 1000"},
	    {"P2 2 1 0 0 0", "PNM maxval 0 is not in 1..65535"},
	    {"P2 2 1 70000 0 0", "PNM maxval 70000 is not in 1..65535"},
	    {"P2 2 x 255 0 0", "bad PNM height: 'x' is not a digit"},
	    {"P2 2 1 255 0 -1", "bad PNM sample: '-' is not a digit"},
	    {"P2 2 1 255 0 1x", "unexpected character after 1"},
	    {"P2 0 1 255", "is not positive"},
	    {"P1 2 1 0 2", "bad PBM sample '2' (only 0 and 1)"},
	    {"P1 2 1 0", "truncated file"},
	    {"P4 9 1 \x55", "truncated file"},
	    {"P7\nWIDTH 1", "truncated file"},
	    {"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nENDHDR\n\x01", "bad PAM header: no MAXVAL"},
	    {"P7\nWIDTH 1\nWIDTH 1\n", "bad PAM header: WIDTH given twice"},
	    {"P7\nSIZE 1\n", "bad PAM header: unknown field 'SIZE'"},
	    {"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 0\nMAXVAL 255\nENDHDR\n", "PAM depth 0 is not in"},
	    {"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\x01", "truncated file"},
	    {"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 1\nMAXVAL 9\nENDHDR\n\x0a",
	     "sample 10 is above maxval 9"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		spit_str(tmp("bad.pnm"), cases[k].text);
		read_fails(tmp("bad.pnm"), tmp("bad.pnm"), cases[k].needle);
	}
	unlink(tmp("bad.pnm"));
}
END_TEST

START_TEST(test_npy_errors)
{
	read_fails(fixture("fortran.npy"), fixture("fortran.npy"), "Fortran order");
	read_fails(fixture("i4.npy"), fixture("i4.npy"), "NPY dtype '<i4' is not supported");
	read_fails(fixture("shape1.npy"), fixture("shape1.npy"), "NPY array has 1 dimensions");

	static const struct {
		const char *dict, *needle;
	} cases[] = {
	    {"{'descr': '|f4', 'fortran_order': False, 'shape': (1, 1), }", "dtype '|f4'"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }", "4 dimensions"},
	    {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", "not positive"},
	    {"{'descr': '<f4', 'fortran_order': False, }", "bad NPY header"},
	    {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 1), }", "bad NPY header"},
	    {"{'descr': '<f4' 'fortran_order': False, 'shape': (1, 1), }", "bad NPY header"},
	    {"not a dict", "bad NPY header"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char buf[256];
		int len = (int)strlen(cases[k].dict);
		memcpy(buf, "\x93NUMPY\x01\x00", 8);
		buf[8] = (char)(len + 1);
		buf[9] = 0;
		memcpy(buf + 10, cases[k].dict, (size_t)len);
		buf[10 + len] = '\n';
		spit(tmp("bad.npy"), buf, (size_t)len + 11);
		read_fails(tmp("bad.npy"), tmp("bad.npy"), cases[k].needle);
	}
	spit(tmp("bad.npy"), "\x93NUMPY\x04\x00\x00\x00", 10);
	read_fails(tmp("bad.npy"), tmp("bad.npy"), "NPY version 4.0 is not supported");
	unlink(tmp("bad.npy"));
}
END_TEST

START_TEST(test_write_bad_channels)
{
	cnnf_image *six = pattern(2, 2, 6, CNNF_F32, 0);
	cnnf_image *four = pattern(2, 2, 4, CNNF_U8, 255);
	write_fails(six, tmp("six.png"), NULL,
	            "PNG holds 1 to 4 channels, not 6; write .npy instead");
	write_fails(four, tmp("four.jpg"), NULL, "JPEG has no alpha channel");
	write_fails(six, tmp("six.jpg"), NULL, "JPEG holds 1 or 3 channels, not 6");
	write_fails(four, tmp("four.ppm"), &(cnnf_write_opts){.format = CNNF_FORMAT_PNM},
	            "PNM holds 1 (PGM) or 3 (PPM) channels, not 4");
	write_fails(six, tmp("six.pgm"), NULL, "PGM takes gray or colour, not 6 channels");
	ck_assert_int_eq(access(tmp("six.png"), F_OK), -1);
	ck_assert_int_eq(access(tmp("four.jpg"), F_OK), -1);
	ck_assert_int_eq(leftovers("six.png") + leftovers("four.jpg") + leftovers("six.jpg") +
	                     leftovers("four.ppm") + leftovers("six.pgm"),
	                 0);

	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.quality = 0;
	cnnf_image *three = pattern(2, 2, 3, CNNF_U8, 255);
	write_fails(three, tmp("q.jpg"), &o, "JPEG quality 0 is not in 1..100");
	o.quality = 101;
	write_fails(three, tmp("q.jpg"), &o, "JPEG quality 101 is not in 1..100");
	cnnf_image_free(three);
	cnnf_io_write_opts_init(&o);
	o.depth = 12;
	write_fails(four, tmp("d.png"), &o, "PNG bit depth 12 is not 8 or 16");
	write_fails(four, tmp("out.xyz"), NULL, "out.xyz: unknown output format (use --format)");
	ck_assert_int_eq(access(tmp("out.xyz"), F_OK), -1);
	cnnf_image_free(six);
	cnnf_image_free(four);
}
END_TEST

/* A failed write leaves an existing file as it was, and no temporary file. */
START_TEST(test_write_keeps_existing)
{
	spit_str(tmp("keep.png"), "precious");
	cnnf_image *six = pattern(3, 3, 6, CNNF_U8, 255);
	write_fails(six, tmp("keep.png"), NULL, "not 6");
	size_t n;
	unsigned char *buf = slurp(tmp("keep.png"), &n);
	ck_assert_uint_eq(n, 8);
	ck_assert_int_eq(memcmp(buf, "precious", 8), 0);
	ck_assert_int_eq(leftovers("keep.png"), 0);
	free(buf);
	cnnf_image_free(six);
	unlink(tmp("keep.png"));
}
END_TEST

/* A row source that fails at row fail_at, as a filter that runs out of memory would. */
typedef struct failing_rows {
	const cnnf_image *img;
	int fail_at;
	int asked; /* rows asked for, in order */
} failing_rows;

static const void *failing_row(void *ctx, int y)
{
	failing_rows *f = ctx;
	ck_assert_int_eq(y, f->asked);
	f->asked++;
	if (y == f->fail_at) {
		cnnf_error("made-up failure at row %d", y);
		return NULL;
	}
	return cnnf_image_row(f->img, y);
}

/*
 * Every writer takes rows in order and stops at a row that cannot be made:
 * the write fails with that row's message, an existing file is untouched and
 * nothing is left behind. The same source without the failure writes the
 * bytes cnnf_io_write() writes.
 */
START_TEST(test_write_rows)
{
	static const char *names[] = {"rows.png", "rows.jpg", "rows.ppm", "rows.npy"};
	cnnf_image *img = pattern(5, 7, 3, CNNF_U8, 255);
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const char *path = tmp(names[i]);
		spit_str(path, "precious");
		failing_rows f = {img, 4, 0};
		cnnf_rows src;
		cnnf_image_to_rows(img, &src);
		src.row = failing_row;
		src.ctx = &f;
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_io_write_rows(&src, path, NULL), -1);
		/* The row's message, as the output's: "OUTPUT: made-up failure ..." */
		char want[4400];
		snprintf(want, sizeof want, "%s: made-up failure at row 4", path);
		ck_assert_msg(strcmp(cnnf_error_get(), want) == 0, "%s: %s", names[i],
		              cnnf_error_get());
		ck_assert_int_eq(f.asked, 5);
		size_t n;
		unsigned char *buf = slurp(path, &n);
		ck_assert_msg(n == 8 && memcmp(buf, "precious", 8) == 0, "%s was changed",
		              names[i]);
		free(buf);
		ck_assert_int_eq(leftovers(names[i]), 0);

		/* Without the failure: the same file as from the whole image. */
		f = (failing_rows){img, -1, 0};
		ck_assert_int_eq(cnnf_io_write_rows(&src, path, NULL), 0);
		ck_assert_int_eq(f.asked, 7);
		const char *ref = tmp("rows_ref");
		cnnf_write_opts o;
		cnnf_io_write_opts_init(&o);
		o.format = cnnf_io_format_from_name(path);
		ck_assert_int_eq(cnnf_io_write(img, ref, &o), 0);
		size_t m;
		unsigned char *a = slurp(path, &n), *b = slurp(ref, &m);
		ck_assert_msg(n == m && memcmp(a, b, n) == 0, "%s: rows and image differ",
		              names[i]);
		free(a);
		free(b);
		unlink(path);
		unlink(ref);
	}
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_write_missing_dir)
{
	cnnf_image *img = pattern(2, 2, 1, CNNF_U8, 255);
	char path[4200];
	snprintf(path, sizeof path, "%s/io_no_such_dir/out.png", cnnf_test_tmpdir());
	write_fails(img, path, NULL, "No such file or directory");
	ck_assert_int_eq(access(tmp("no_such_dir"), F_OK), -1);
	write_fails(img, cnnf_test_tmpdir(), &(cnnf_write_opts){.format = CNNF_FORMAT_PNG, .quality = 90},
	            "is a directory");
	cnnf_image_free(img);
}
END_TEST

static void write_stdout_fails(void *arg)
{
	write_fails(arg, "-", NULL, "stdout: write error: No space left on device");
}

/* A full disk is noticed, on standard output and on a named file. */
START_TEST(test_write_full)
{
	if (access("/dev/full", W_OK) != 0)
		return;
	cnnf_image *img = pattern(3, 2, 3, CNNF_U8, 255);
	redirect(1, "/dev/full", O_WRONLY, write_stdout_fails, img);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.format = CNNF_FORMAT_PNG;
	write_fails(img, "/dev/full", &o, "/dev/full: write error: No space left on device");
	static const cnnf_format formats[] = {CNNF_FORMAT_PNG, CNNF_FORMAT_JPEG, CNNF_FORMAT_PNM,
	                                      CNNF_FORMAT_NPY};
	for (int k = 0; k < 4; k++) {
		o.format = formats[k];
		write_fails(img, "/dev/full", &o, "No space left on device");
	}
	/* Large enough that the writers' own fwrite calls fail, before the final flush. */
	cnnf_image *big = pattern(300, 300, 3, CNNF_U8, 255);
	for (int k = 0; k < 4; k++) {
		o.format = formats[k];
		write_fails(big, "/dev/full", &o, "No space left on device");
	}
	struct stat st;
	ck_assert_int_eq(stat("/dev/full", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	cnnf_image_free(big);
	cnnf_image_free(img);
}
END_TEST


/* ---- metadata ---- */

/*
 * A minimal ICC profile of colour space cs ("RGB " or "GRAY"): the 128-byte
 * header (size, version 2.1, display class, XYZ connection space, 'acsp',
 * the D50 illuminant) and a tag table with one 'cprt' text tag, so that
 * libpng's checks of a profile pass.
 */
static size_t make_icc(unsigned char *p, const char *cs)
{
	/*
	 * The text is long and varied: libpng 1.6.39 takes an iCCP chunk under
	 * 92 bytes for too short, and a tiny profile deflates to less.
	 */
	enum { TEXT = 8 + 88 };
	size_t len = 128 + 4 + 12 + TEXT;
	memset(p, 0, len);
	put32(p, (uint32_t)len, 1);
	p[8] = 2, p[9] = 0x10;
	memcpy(p + 12, "mntr", 4);
	memcpy(p + 16, cs, 4);
	memcpy(p + 20, "XYZ ", 4);
	memcpy(p + 36, "acsp", 4);
	put32(p + 68, 0xf6d6, 1), put32(p + 72, 0x10000, 1), put32(p + 76, 0xd32d, 1);
	put32(p + 128, 1, 1);
	memcpy(p + 132, "cprt", 4);
	put32(p + 136, 144, 1), put32(p + 140, TEXT, 1);
	memcpy(p + 144, "text", 4);
	uint32_t r = 12345;
	for (int i = 0; i < TEXT - 9; i++) {
		r = r * 1103515245u + 12345u;
		p[152 + i] = (unsigned char)('a' + (r >> 16) % 26);
	}
	return len;
}

static const char xmp_six[] = "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:Description "
                              "tiff:Orientation=\"6\" dc:format='image'/>"
                              "<tiff:Orientation>6</tiff:Orientation></x:xmpmeta>";

/* Metadata of every kind, with EXIF and XMP saying orientation 6. */
static void full_meta(cnnf_meta *m, unsigned char *icc_rgb)
{
	unsigned char app1[64];
	size_t elen = make_exif(app1, 1, 6);
	size_t ilen = make_icc(icc_rgb, "RGB ");
	memset(m, 0, sizeof *m);
	ck_assert_int_eq(cnnf_meta_set_icc(m, "test profile", icc_rgb, ilen), 0);
	ck_assert_int_eq(cnnf_meta_set_exif(m, app1 + 6, elen - 6), 0);
	ck_assert_int_eq(cnnf_meta_set_xmp(m, xmp_six, strlen(xmp_six)), 0);
	ck_assert_int_eq(cnnf_meta_add_text(m, "Comment", "hello", 5, 0, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(m, "Author", "Zo\xc3\xab", 4, 1, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(m, "Description", "long text", 9, 0, 1), 0);
	m->res_unit = CNNF_RES_METRE;
	m->res_x = 11811; /* 300 dpi */
	m->res_y = 5906;  /* 150 dpi */
}

/* The input at path read with autorotate as asked; its image freed, the input returned. */
static cnnf_input *read_input(const char *path, int autorotate, int *w, int *h)
{
	cnnf_input *in = cnnf_io_open(path, 0);
	ck_assert_ptr_nonnull(in);
	cnnf_input_set_autorotate(in, autorotate);
	cnnf_image *img = cnnf_input_read(in, 0);
	ck_assert_msg(img != NULL, "%s: %s", path, cnnf_error_get());
	*w = img->width, *h = img->height;
	cnnf_image_free(img);
	return in;
}

static void check_block(const void *got, size_t got_len, const void *want, size_t want_len)
{
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got_len, want_len);
	ck_assert_int_eq(memcmp(got, want, want_len), 0);
}

/* The orientation byte of IFD0's only Orientation entry in make_exif()'s block (big-endian). */
static unsigned exif_orientation_of(const cnnf_meta *m)
{
	ck_assert_uint_ge(m->exif_len, 8 + 2 + 24);
	return (unsigned)m->exif[8 + 2 + 12 + 8] << 8 | m->exif[8 + 2 + 12 + 9];
}

/* PNG keeps every block bit for bit, texts with their kinds, the resolution exactly. */
START_TEST(test_meta_png)
{
	unsigned char icc[256];
	cnnf_meta m;
	full_meta(&m, icc);
	cnnf_image *img = pattern(5, 3, 3, CNNF_U8, 255);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.meta = &m;
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta.png"), &o), 0);
	int w, h;
	cnnf_input *in = read_input(tmp("meta.png"), 1, &w, &h);
	/* PNG pixels are never turned: the EXIF inside says 6 and stays 6. */
	ck_assert_int_eq(w, 5);
	ck_assert_msg(cnnf_input_warning(in) == NULL, "%s", cnnf_input_warning(in));
	const cnnf_meta *b = cnnf_input_meta(in);
	check_block(b->icc, b->icc_len, m.icc, m.icc_len);
	ck_assert_str_eq(b->icc_name, "test profile");
	check_block(b->exif, b->exif_len, m.exif, m.exif_len);
	check_block(b->xmp, b->xmp_len, m.xmp, m.xmp_len);
	ck_assert_int_eq(b->text_count, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(b->text[i].key, m.text[i].key);
		ck_assert_str_eq(b->text[i].value, m.text[i].value);
		ck_assert_int_eq(b->text[i].utf8, m.text[i].utf8);
		ck_assert_int_eq(b->text[i].compressed, m.text[i].compressed);
	}
	ck_assert_int_eq(b->res_unit, CNNF_RES_METRE);
	ck_assert(b->res_x == 11811 && b->res_y == 5906);
	/* Written again from what was read: the same bytes (nothing lost or reordered). */
	cnnf_io_write_opts_init(&o);
	o.meta = b;
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta2.png"), &o), 0);
	size_t n1, n2;
	unsigned char *f1 = slurp(tmp("meta.png"), &n1), *f2 = slurp(tmp("meta2.png"), &n2);
	check_block(f2, n2, f1, n1);
	free(f1), free(f2);
	cnnf_input_close(in);
	/* No metadata: none of those chunks. */
	cnnf_io_write_opts_init(&o);
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta.png"), &o), 0);
	in = read_input(tmp("meta.png"), 1, &w, &h);
	ck_assert(cnnf_meta_empty(cnnf_input_meta(in)));
	cnnf_input_close(in);
	cnnf_meta_clear(&m);
	cnnf_image_free(img);
	unlink(tmp("meta.png"));
	unlink(tmp("meta2.png"));
}
END_TEST

/* JPEG keeps ICC, EXIF, XMP, comments and the density; turning the pixels makes them orientation 1. */
START_TEST(test_meta_jpeg)
{
	unsigned char icc[256];
	cnnf_meta m;
	full_meta(&m, icc);
	cnnf_image *img = pattern(5, 3, 3, CNNF_U8, 255);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.meta = &m;
	cnnf_warn warn = {.count = 0};
	o.warn = &warn;
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta.jpg"), &o), 0);
	ck_assert_int_eq(warn.count, 0);
	int w, h;
	/* As stored: every block as written. */
	cnnf_input *in = read_input(tmp("meta.jpg"), 0, &w, &h);
	ck_assert_int_eq(w, 5);
	const cnnf_meta *b = cnnf_input_meta(in);
	check_block(b->icc, b->icc_len, m.icc, m.icc_len);
	check_block(b->exif, b->exif_len, m.exif, m.exif_len);
	check_block(b->xmp, b->xmp_len, m.xmp, m.xmp_len);
	/* Only the comment has a place in JPEG. */
	ck_assert_int_eq(b->text_count, 1);
	ck_assert_str_eq(b->text[0].key, "Comment");
	ck_assert_str_eq(b->text[0].value, "hello");
	ck_assert_int_eq(b->res_unit, CNNF_RES_METRE);
	ck_assert_double_eq_tol(b->res_x * 0.0254, 300, 1e-9);
	ck_assert_double_eq_tol(b->res_y * 0.0254, 150, 1e-9);
	cnnf_input_close(in);
	/* Upright (the default): 3 x 5, EXIF and both XMP forms say 1, the axes swapped. */
	in = read_input(tmp("meta.jpg"), 1, &w, &h);
	ck_assert_int_eq(w, 3);
	ck_assert_int_eq(h, 5);
	b = cnnf_input_meta(in);
	ck_assert_uint_eq(exif_orientation_of(b), 1);
	ck_assert_uint_eq(b->exif_len, m.exif_len);
	char *x = strndup(b->xmp, b->xmp_len);
	ck_assert_ptr_nonnull(strstr(x, "tiff:Orientation=\"1\""));
	ck_assert_ptr_nonnull(strstr(x, "<tiff:Orientation>1</tiff:Orientation>"));
	ck_assert_ptr_null(strstr(x, "6"));
	free(x);
	ck_assert_double_eq_tol(b->res_x * 0.0254, 150, 1e-9);
	ck_assert_double_eq_tol(b->res_y * 0.0254, 300, 1e-9);
	const char *why;
	unsigned char app1[600];
	memcpy(app1, "Exif\0\0", 6);
	memcpy(app1 + 6, b->exif, b->exif_len);
	ck_assert_int_eq(cnnf_exif_orientation(app1, b->exif_len + 6, &why), 1);
	cnnf_input_close(in);
	/* A bogus ICC piece number costs the profile, with a warning, not the image. */
	size_t n;
	unsigned char *jpg = slurp(tmp("meta.jpg"), &n);
	unsigned char *icc_at = NULL;
	for (size_t i = 0; !icc_at && i + 13 < n; i++)
		if (memcmp(jpg + i, "ICC_PROFILE", 12) == 0)
			icc_at = jpg + i;
	ck_assert_ptr_nonnull(icc_at);
	icc_at[12] = 0; /* sequence number 0 */
	spit(tmp("badicc.jpg"), jpg, n);
	free(jpg);
	in = read_input(tmp("badicc.jpg"), 1, &w, &h);
	ck_assert_ptr_null(cnnf_input_meta(in)->icc);
	ck_assert_ptr_nonnull(cnnf_input_meta(in)->exif);
	ck_assert_ptr_nonnull(cnnf_input_warning(in));
	ck_assert_ptr_nonnull(strstr(cnnf_input_warning(in), "ICC"));
	cnnf_input_close(in);
	unlink(tmp("badicc.jpg"));
	/* An EXIF block too big for a segment is left out, with a warning; the image is written. */
	unsigned char *big = calloc(70000, 1);
	memcpy(big, m.exif, m.exif_len);
	ck_assert_int_eq(cnnf_meta_set_exif(&m, big, 70000), 0);
	free(big);
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta.jpg"), &o), 0);
	ck_assert_int_eq(warn.count, 1);
	ck_assert_ptr_nonnull(strstr(warn.first, "EXIF of 70000 bytes does not fit"));
	in = read_input(tmp("meta.jpg"), 1, &w, &h);
	ck_assert_ptr_null(cnnf_input_meta(in)->exif);
	ck_assert_ptr_nonnull(cnnf_input_meta(in)->icc);
	cnnf_input_close(in);
	cnnf_meta_clear(&m);
	cnnf_image_free(img);
	unlink(tmp("meta.jpg"));
}
END_TEST

/* TIFF keeps ICC, XMP, resolution and its own Orientation tag, which is honoured on reading. */
START_TEST(test_meta_tiff)
{
	unsigned char icc[256];
	cnnf_meta m;
	full_meta(&m, icc);
	m.orientation = 6;
	cnnf_image *img = pattern(5, 3, 3, CNNF_U16, 65535);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.meta = &m;
	ck_assert_int_eq(cnnf_io_write(img, tmp("meta.tif"), &o), 0);
	int w, h;
	cnnf_input *in = read_input(tmp("meta.tif"), 0, &w, &h);
	ck_assert_int_eq(w, 5);
	const cnnf_meta *b = cnnf_input_meta(in);
	check_block(b->icc, b->icc_len, m.icc, m.icc_len);
	check_block(b->xmp, b->xmp_len, m.xmp, m.xmp_len);
	ck_assert_ptr_null(b->exif);
	ck_assert_int_eq(b->text_count, 0);
	ck_assert_int_eq(b->orientation, 6);
	ck_assert_int_eq(cnnf_input_orientation(in), 6);
	ck_assert_double_eq_tol(b->res_x, 11811, 1e-3);
	ck_assert_double_eq_tol(b->res_y, 5906, 1e-3);
	cnnf_input_close(in);
	/* Upright: the pixels as an orientation-6 JPEG's, the tag 1, the axes swapped. */
	in = read_input(tmp("meta.tif"), 1, &w, &h);
	ck_assert_int_eq(w, 3);
	ck_assert_int_eq(h, 5);
	b = cnnf_input_meta(in);
	ck_assert_int_eq(b->orientation, 1);
	ck_assert_double_eq_tol(b->res_x, 5906, 1e-3);
	cnnf_image *up = cnnf_input_read(in, 0);
	cnnf_image *want = cnnf_exif_upright(img, 6, "x");
	check_same(want, up);
	cnnf_image_free(up);
	cnnf_image_free(want);
	cnnf_input_close(in);
	cnnf_meta_clear(&m);
	cnnf_image_free(img);
	unlink(tmp("meta.tif"));
}
END_TEST

/* A profile goes only into an image of its colour space; a text of a bad keyword is left out. */
START_TEST(test_meta_mismatch)
{
	unsigned char icc[256], gray_icc[256];
	cnnf_meta m;
	full_meta(&m, icc);
	cnnf_image *gray = pattern(4, 4, 1, CNNF_U8, 255), *rgb = pattern(4, 4, 3, CNNF_U8, 255);
	static const char *const names[] = {"mm.png", "mm.jpg", "mm.tif"};
	for (int i = 0; i < 3; i++) {
		cnnf_write_opts o;
		cnnf_io_write_opts_init(&o);
		o.meta = &m;
		ck_assert_int_eq(cnnf_io_write(gray, tmp(names[i]), &o), 0);
		int w, h;
		cnnf_input *in = read_input(tmp(names[i]), 0, &w, &h);
		ck_assert_msg(cnnf_input_meta(in)->icc == NULL, "%s: RGB profile on gray", names[i]);
		ck_assert_ptr_nonnull(cnnf_input_meta(in)->xmp);
		cnnf_input_close(in);
		/* A gray profile goes with gray, not with RGB. */
		size_t glen = make_icc(gray_icc, "GRAY");
		cnnf_meta g = {0};
		ck_assert_int_eq(cnnf_meta_set_icc(&g, NULL, gray_icc, glen), 0);
		o.meta = &g;
		ck_assert_int_eq(cnnf_io_write(gray, tmp(names[i]), &o), 0);
		in = read_input(tmp(names[i]), 0, &w, &h);
		check_block(cnnf_input_meta(in)->icc, cnnf_input_meta(in)->icc_len, gray_icc, glen);
		cnnf_input_close(in);
		ck_assert_int_eq(cnnf_io_write(rgb, tmp(names[i]), &o), 0);
		in = read_input(tmp(names[i]), 0, &w, &h);
		ck_assert_ptr_null(cnnf_input_meta(in)->icc);
		cnnf_input_close(in);
		cnnf_meta_clear(&g);
		unlink(tmp(names[i]));
	}
	/* Keywords libpng would refuse (and fail the image for): left out, the rest kept. */
	cnnf_meta t = {0};
	ck_assert_int_eq(cnnf_meta_add_text(&t, " lead", "a", 1, 0, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(&t, "two  spaces", "b", 1, 0, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(&t, "tab\there", "c", 1, 0, 0), 0);
	ck_assert_int_eq(cnnf_meta_add_text(&t, "Good", "d", 1, 0, 0), 0);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.meta = &t;
	ck_assert_int_eq(cnnf_io_write(rgb, tmp("mm.png"), &o), 0);
	int w, h;
	cnnf_input *in = read_input(tmp("mm.png"), 0, &w, &h);
	ck_assert_int_eq(cnnf_input_meta(in)->text_count, 1);
	ck_assert_str_eq(cnnf_input_meta(in)->text[0].key, "Good");
	cnnf_input_close(in);
	unlink(tmp("mm.png"));
	cnnf_meta_clear(&t);
	cnnf_meta_clear(&m);
	cnnf_image_free(gray);
	cnnf_image_free(rgb);
}
END_TEST


/*
 * cnnf_input_read_async(): the same pixels and metadata as a plain read, for
 * PNG and JPEG; rows waited for are there; a file cut in its image data
 * hands the image over and then fails the wait and the finish.
 */
START_TEST(test_read_async)
{
	cnnf_image *src = pattern(37, 301, 3, CNNF_U8, 255);
	cnnf_write_opts o;
	cnnf_io_write_opts_init(&o);
	o.quality = 95;
	static const char *const names[] = {"async.png", "async.jpg"};
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(cnnf_io_write(src, tmp(names[i]), &o), 0);
		cnnf_image *want = read_ok(tmp(names[i]));
		cnnf_input *in = cnnf_io_open(tmp(names[i]), 0);
		ck_assert_ptr_nonnull(in);
		cnnf_image *got = cnnf_input_read_async(in);
		ck_assert_ptr_nonnull(got);
		ck_assert_int_eq(cnnf_input_wait(in, 100), 0);
		ck_assert_int_eq(memcmp(got->data, want->data, (size_t)37 * 100 * 3), 0);
		ck_assert_int_eq(cnnf_input_wait(in, 302), 0); /* past the end: the whole decode */
		ck_assert_int_eq(cnnf_input_finish(in), 0);
		check_same(want, got);
		ck_assert_int_eq(cnnf_input_finish(in), 0); /* twice is fine */
		cnnf_image_free(got);
		cnnf_input_close(in);
		/* Damaged two thirds in: the image is handed over, then the decode fails. */
		size_t n;
		unsigned char *bytes = slurp(tmp(names[i]), &n);
		for (size_t b = n * 2 / 3; b < n * 2 / 3 + 16; b++)
			bytes[b] ^= 0x5a;
		spit(tmp("cut"), bytes, n);
		free(bytes);
		in = cnnf_io_open(tmp("cut"), 0);
		got = cnnf_input_read_async(in);
		ck_assert_msg(got != NULL, "%s: %s", names[i], cnnf_error_get());
		ck_assert_int_eq(cnnf_input_wait(in, 302), -1);
		ck_assert_error_has("cut: ");
		ck_assert_int_eq(cnnf_input_finish(in), -1);
		cnnf_image_free(got);
		cnnf_input_close(in);
		/* Or closed without waiting: the thread ends first, nothing leaks. */
		in = cnnf_io_open(tmp("cut"), 0);
		got = cnnf_input_read_async(in);
		cnnf_input_close(in);
		cnnf_image_free(got);
		cnnf_image_free(want);
		unlink(tmp(names[i]));
		unlink(tmp("cut"));
	}
	/* A header that cannot be read: NULL with the message. */
	spit(tmp("bad.png"), "\x89PNG\r\n\x1a\n\0\0", 10);
	cnnf_input *in = cnnf_io_open(tmp("bad.png"), 0);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_null(cnnf_input_read_async(in));
	ck_assert_error_has("bad.png");
	cnnf_input_close(in);
	unlink(tmp("bad.png"));
	cnnf_image_free(src);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *core = tcase_create("core");
	tcase_add_test(core, test_format_names);
	tcase_add_test(core, test_sniff);
	tcase_add_test(core, test_sniff_ignores_extension);
	tcase_add_test(core, test_png_low_bit_gray);
	tcase_add_test(core, test_png_16_bit);
	tcase_add_test(core, test_png_alpha);
	tcase_add_test(core, test_png_palette);
	tcase_add_test(core, test_png_interlaced);
	tcase_add_test(core, test_png_round_trip);
	tcase_add_test(core, test_png_depth);
	tcase_add_test(core, test_png_rescales_odd_maxval);
	tcase_add_test(core, test_png_float);
	tcase_add_test(core, test_jpeg_decode);
	tcase_add_test(core, test_jpeg_round_trip);
	tcase_add_test(core, test_jpeg_subsampling);
	tcase_add_test(core, test_exif_orientation);
	tcase_add_test(core, test_pnm_plain);
	tcase_add_test(core, test_pnm_binary);
	tcase_add_test(core, test_pnm_round_trip);
	tcase_add_test(core, test_pnm_float);
	tcase_add_test(core, test_npy_read);
	tcase_add_test(core, test_npy_big_endian_and_versions);
	tcase_add_test(core, test_npy_round_trip);
	tcase_add_test(core, test_npy_layout);
	tcase_add_test(core, test_cross_format);
	tcase_add_test(core, test_stdin);
	tcase_add_test(core, test_stdout);
	tcase_add_test(core, test_write_replaces);
	tcase_add_test(core, test_write_format_option);
	tcase_add_test(core, test_tiff_hand_made);
	tcase_add_test(core, test_tiff_round_trip);
	tcase_add_test(core, test_tiff_pages);
	tcase_add_test(core, test_pbm_pam_read);
	tcase_add_test(core, test_netpbm_kinds_write);
	tcase_add_test(core, test_format_table);
	tcase_add_test(core, test_meta_png);
	tcase_add_test(core, test_meta_jpeg);
	tcase_add_test(core, test_meta_tiff);
	tcase_add_test(core, test_meta_mismatch);
	tcase_add_test(core, test_read_async);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_empty_and_unknown);
	tcase_add_test(errors, test_stdin_errors);
	tcase_add_test(errors, test_truncated);
	tcase_add_test(errors, test_png_corrupt);
	tcase_add_test(errors, test_jpeg_errors);
	tcase_add_test(errors, test_exif_malformed);
	tcase_add_test(errors, test_pixel_limit);
	tcase_add_test(errors, test_pnm_errors);
	tcase_add_test(errors, test_tiff_errors);
	tcase_add_test(errors, test_npy_errors);
	tcase_add_test(errors, test_write_bad_channels);
	tcase_add_test(errors, test_write_keeps_existing);
	tcase_add_test(errors, test_write_rows);
	tcase_add_test(errors, test_write_missing_dir);
	tcase_add_test(errors, test_write_full);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(io_suite()) != 0;
}
