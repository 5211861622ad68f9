/*
 * check_png_zpar.c: PNG image data deflated on several threads (io/png_zpar.c):
 * the pieces joined make one zlib stream that zlib inflates with its Adler-32
 * checked, whose rows, unfiltered by the PNG specification's rules (written
 * here again), are the rows given; the same bytes for 1, 2 and 3 threads.
 */
#include <stdint.h>
#include <zlib.h>

#include "io/png_zpar.h"
#include "testutil.h"

typedef struct sink {
	unsigned char *data;
	size_t len, cap;
	int calls;
} sink;

static int collect(void *ctx, const unsigned char *data, size_t len)
{
	sink *s = ctx;
	ck_assert_uint_gt(len, 0);
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->data = realloc(s->data, s->cap);
		ck_assert_ptr_nonnull(s->data);
	}
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->calls++;
	return 0;
}

/* Rows of a smooth gradient with noise, so that every filter wins somewhere. */
static unsigned char *make_rows(size_t rowbytes, long height, unsigned seed)
{
	unsigned char *raw = malloc(rowbytes * (size_t)height);
	ck_assert_ptr_nonnull(raw);
	for (long y = 0; y < height; y++)
		for (size_t i = 0; i < rowbytes; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned noise = (seed >> 16) & (y % 7 == 0 ? 0xff : 7);
			raw[(size_t)y * rowbytes + i] = (unsigned char)(i / 3 + y + noise);
		}
	return raw;
}

static sink deflate_rows(const unsigned char *raw, size_t rowbytes, int bpp, int adaptive,
			 long height, int threads)
{
	sink s = {0};
	cnnf_zpar *z = cnnf_zpar_new(rowbytes, bpp, adaptive, height, threads, "test");
	ck_assert_ptr_nonnull(z);
	for (long y = 0; y < height; y++) {
		memcpy(cnnf_zpar_row(z), raw + (size_t)y * rowbytes, rowbytes);
		ck_assert_int_eq(cnnf_zpar_push(z, collect, &s), 0);
	}
	cnnf_zpar_free(z);
	return s;
}

/* The PNG specification's reconstruction, byte by byte. */
static int unfilter(const unsigned char *in, size_t rowbytes, int bpp, long height,
		    unsigned char *out)
{
	for (long y = 0; y < height; y++) {
		const unsigned char *f = in + (size_t)y * (rowbytes + 1);
		unsigned char *r = out + (size_t)y * rowbytes;
		const unsigned char *up = y ? r - rowbytes : NULL;
		for (size_t i = 0; i < rowbytes; i++) {
			int a = i >= (size_t)bpp ? r[i - bpp] : 0;
			int b = up ? up[i] : 0;
			int c = up && i >= (size_t)bpp ? up[i - bpp] : 0;
			int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
			int pred;
			switch (f[0]) {
			case 0: pred = 0; break;
			case 1: pred = a; break;
			case 2: pred = b; break;
			case 3: pred = (a + b) / 2; break;
			case 4: pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; break;
			default: return -1;
			}
			r[i] = (unsigned char)(f[1 + i] + pred);
		}
	}
	return 0;
}

static void round_trip(size_t rowbytes, int bpp, int adaptive, long height)
{
	unsigned char *raw = make_rows(rowbytes, height, (unsigned)(rowbytes * 31 + height));
	sink s = deflate_rows(raw, rowbytes, bpp, adaptive, height, 2);
	size_t flen = (rowbytes + 1) * (size_t)height;
	unsigned char *filt = malloc(flen + 1), *back = malloc(rowbytes * (size_t)height);
	ck_assert_ptr_nonnull(filt);
	ck_assert_ptr_nonnull(back);
	uLongf got = (uLongf)flen + 1;
	/* uncompress() checks the zlib header and the Adler-32 of the whole. */
	ck_assert_int_eq(uncompress(filt, &got, s.data, s.len), Z_OK);
	ck_assert_uint_eq(got, flen);
	int used[5] = {0};
	for (long y = 0; y < height; y++) {
		ck_assert_uint_lt(filt[(size_t)y * (rowbytes + 1)], 5);
		used[filt[(size_t)y * (rowbytes + 1)]]++;
	}
	if (!adaptive)
		ck_assert_int_eq(used[0], height);
	ck_assert_int_eq(unfilter(filt, rowbytes, bpp, height, back), 0);
	ck_assert_mem_eq(back, raw, rowbytes * (size_t)height);
	/* The bytes do not depend on the thread count. */
	for (int t = 1; t <= 3; t += 2) {
		sink o = deflate_rows(raw, rowbytes, bpp, adaptive, height, t);
		ck_assert_uint_eq(o.len, s.len);
		ck_assert_mem_eq(o.data, s.data, s.len);
		ck_assert_int_eq(o.calls, s.calls);
		free(o.data);
	}
	free(raw);
	free(filt);
	free(back);
	free(s.data);
}

START_TEST(test_tiny)
{
	round_trip(1, 1, 1, 1);
	round_trip(3, 3, 1, 2);
	round_trip(8, 8, 0, 3); /* palette-like: no filters */
}
END_TEST

/* Many pieces, several bands, rows wider than a pixel's bytes in every way. */
START_TEST(test_bands)
{
	round_trip(1000, 4, 1, 9000);
	round_trip(2 * 3 * 501, 6, 1, 3000); /* 16-bit RGB */
	round_trip(777, 1, 0, 5000);
}
END_TEST

/* One row larger than a piece: a piece of one row each. */
START_TEST(test_wide)
{
	round_trip(700 * 1024 + 3, 3, 1, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("png_zpar");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tiny);
	tcase_add_test(tc, test_bands);
	tcase_add_test(tc, test_wide);
	suite_add_tcase(s, tc);
	return cnnf_test_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
