/* labels.c: reads label maps: palette indices and gray values as they are in the file. */
#include "task/labels.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/error.h"
#include "io/io_png_hooks.h"
#include "image/image.h"
#include "io/io.h"

void cnnf_labels_free(cnnf_labels *l)
{
	if (!l)
		return;
	free(l->data);
	free(l);
}

static cnnf_labels *labels_new(const char *name, long long w, long long h,
                               unsigned long long max_pixels)
{
	if (cnnf_image_check(name, w, h, 1, CNNF_U16, max_pixels) < 0)
		return NULL;
	cnnf_labels *l = malloc(sizeof *l);
	uint16_t *data = malloc((size_t)w * (size_t)h * sizeof *data);
	if (!l || !data) {
		free(l);
		free(data);
		cnnf_error("%s: out of memory for a %lldx%lld label map", name, w, h);
		return NULL;
	}
	l->width = (int)w;
	l->height = (int)h;
	l->data = data;
	return l;
}

static const char *color_name(int color_type)
{
	switch (color_type) {
	case PNG_COLOR_TYPE_RGB:
		return "RGB";
	case PNG_COLOR_TYPE_RGB_ALPHA:
		return "RGBA";
	case PNG_COLOR_TYPE_GRAY_ALPHA:
		return "gray with alpha";
	default:
		return "of an unknown colour type";
	}
}

/*
 * Deflate expands at most 1032 to 1, so the rest of the file must hold at
 * least 1/1032 of the rows as stored: a 100-byte file does not get a
 * gigabyte allocated for what its header claims (as io_png.c checks).
 * Streams that cannot seek are not checked. Returns 0 or -1.
 */
static int check_data_size(png_structp png, png_infop info, FILE *fp, const char *name)
{
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	unsigned long long bits =
	    (unsigned long long)png_get_bit_depth(png, info) * png_get_channels(png, info);
	unsigned long long row = ((unsigned long long)w * bits + 7) / 8;
	unsigned long long raw = h > ULLONG_MAX / row ? ULLONG_MAX : row * h;
	off_t here = ftello(fp), end;
	if (here < 0 || fseeko(fp, 0, SEEK_END) < 0)
		return 0;
	end = ftello(fp);
	if (fseeko(fp, here, SEEK_SET) < 0) {
		cnnf_error("%s: cannot seek: %s", name, strerror(errno));
		return -1;
	}
	if (end < here || raw / 1032 <= (unsigned long long)(end - here))
		return 0;
	cnnf_error("%s: truncated file: a %ux%u PNG needs at least %llu bytes of image data, "
	           "the file has %lld",
	           name, (unsigned)w, (unsigned)h, raw / 1032, (long long)(end - here));
	return -1;
}

/* A palette or gray PNG: indices and gray values unpacked to one sample each, never scaled. */
static cnnf_labels *read_png(FILE *fp, const char *name, unsigned long long max_pixels)
{
	if (cnnf_png_check_chunks(fp, name, NULL) < 0)
		return NULL;
	cnnf_png_io io = {fp, name, 0, NULL};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, cnnf_png_on_error,
	                                         cnnf_png_on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	cnnf_labels *volatile l = NULL;
	png_bytep *volatile rows = NULL;
	unsigned char *volatile buf = NULL;
	if (setjmp(png_jmpbuf(png))) {
		free(rows);
		free(buf);
		cnnf_labels_free(l);
		png_destroy_read_struct(&png, &info, NULL);
		return NULL;
	}
	png_set_read_fn(png, &io, cnnf_png_read_data);
	cnnf_png_read_limits(png);
	png_read_info(png, info);
	png_uint_32 w, h;
	int depth, color_type;
	png_get_IHDR(png, info, &w, &h, &depth, &color_type, NULL, NULL, NULL);
	if (color_type != PNG_COLOR_TYPE_PALETTE && color_type != PNG_COLOR_TYPE_GRAY) {
		cnnf_error("%s: a label map must be a palette or gray PNG; this one is %s", name,
		           color_name(color_type));
		cnnf_png_fail(png);
	}
	/* The limits, then whether the file can hold that much, then the memory. */
	if (cnnf_image_check(name, w, h, 1, CNNF_U16, max_pixels) < 0 ||
	    check_data_size(png, info, fp, name) < 0 || !(l = labels_new(name, w, h, max_pixels)))
		cnnf_png_fail(png);
	/* Indices and gray values below 8 bits become one byte each, unscaled; no tRNS expansion.
	 */
	if (depth < 8)
		png_set_packing(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	size_t bytes = depth == 16 ? 2 : 1, stride = (size_t)w * bytes;
	if (png_get_channels(png, info) != 1 || png_get_rowbytes(png, info) != stride) {
		cnnf_error("%s: unexpected PNG layout after unpacking", name);
		cnnf_png_fail(png);
	}
	buf = malloc(stride * h);
	rows = calloc(h, sizeof *rows);
	if (!buf || !rows) {
		cnnf_error("%s: out of memory for a %ux%u label map", name, (unsigned)w,
		           (unsigned)h);
		cnnf_png_fail(png);
	}
	for (png_uint_32 y = 0; y < h; y++)
		rows[y] = buf + y * stride;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	size_t n = (size_t)w * h;
	for (size_t i = 0; i < n; i++)
		/* 16-bit samples are big-endian in the file. */
		l->data[i] = bytes == 2 ? (uint16_t)(buf[2 * i] << 8 | buf[2 * i + 1]) : buf[i];
	cnnf_labels *out = l;
	free(rows);
	free(buf);
	png_destroy_read_struct(&png, &info, NULL);
	return out;
}

/* A gray PNM through the image reader: its samples are the ids. */
static cnnf_labels *read_pnm(const char *path, unsigned long long max_pixels)
{
	cnnf_image *img = cnnf_io_read(path, max_pixels);
	if (!img)
		return NULL;
	cnnf_labels *l = NULL;
	if (img->channels != 1) {
		cnnf_error("%s: a label map must have one channel; this one has %d", path,
		           img->channels);
		goto out;
	}
	if (!(l = labels_new(path, img->width, img->height, max_pixels)))
		goto out;
	size_t n = (size_t)img->width * img->height;
	for (size_t i = 0; i < n; i++)
		l->data[i] = img->type == CNNF_U8 ? ((const uint8_t *)img->data)[i]
		                                  : ((const uint16_t *)img->data)[i];
out:
	cnnf_image_free(img);
	return l;
}

cnnf_labels *cnnf_labels_read(const char *path, unsigned long long max_pixels)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	unsigned char head[16];
	size_t got = fread(head, 1, sizeof head, fp);
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", path, strerror(errno));
		fclose(fp);
		return NULL;
	}
	cnnf_format f = cnnf_io_format_sniff(head, got);
	cnnf_labels *l = NULL;
	if (f == CNNF_FORMAT_PNG) {
		rewind(fp);
		l = read_png(fp, path, max_pixels);
	} else if (f == CNNF_FORMAT_PNM) {
		l = read_pnm(path, max_pixels);
	} else {
		cnnf_error("%s: a label map must be a palette or gray PNG, or a gray PNM%s", path,
		           f == CNNF_FORMAT_JPEG  ? " (JPEG is lossy)"
		           : f == CNNF_FORMAT_NPY ? " (not NPY)"
		                                  : "");
	}
	fclose(fp);
	return l;
}
