/* io_pnm.c: Netpbm images: reads P2, P3, P5, P6 (maxval 1..65535), writes P5 and P6. */
#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Numbers in a header or a plain raster stop growing here; anything this big is refused anyway. */
#define NUMBER_CAP 1000000000000ULL

static int is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* The message for a stream that ended early or failed. */
static void fail_eof(FILE *fp, const char *name)
{
	if (ferror(fp))
		cnnf_error("%s: read error: %s", name, strerror(errno));
	else
		cnnf_error("%s: truncated file", name);
}

/* The next character that is neither whitespace nor part of a '#' comment, or EOF. */
static int skip_space(FILE *fp)
{
	for (;;) {
		int ch = getc(fp);
		if (ch == '#') {
			while ((ch = getc(fp)) != EOF && ch != '\n' && ch != '\r')
				;
		}
		if (ch == EOF || !is_space(ch))
			return ch;
	}
}

/*
 * The next unsigned decimal number (what names it in messages). The one
 * character after it is consumed when it is whitespace, as the raster of a
 * binary file starts right after the single whitespace that ends maxval.
 * Returns 0 or -1.
 */
static int read_number(FILE *fp, const char *name, const char *what, unsigned long long *out)
{
	int ch = skip_space(fp);
	if (ch == EOF) {
		fail_eof(fp, name);
		return -1;
	}
	if (!is_digit(ch)) {
		if (ch >= 0x20 && ch < 0x7f)
			cnnf_error("%s: bad PNM %s: '%c' is not a digit", name, what, ch);
		else
			cnnf_error("%s: bad PNM %s: byte 0x%02x is not a digit", name, what, ch);
		return -1;
	}
	unsigned long long v = 0;
	for (; is_digit(ch); ch = getc(fp))
		if (v < NUMBER_CAP)
			v = v * 10 + (unsigned)(ch - '0');
	if (ch == '#')
		ungetc(ch, fp);
	else if (ch != EOF && !is_space(ch)) {
		cnnf_error("%s: bad PNM %s: unexpected character after %llu", name, what, v);
		return -1;
	}
	*out = v;
	return 0;
}

static int above_maxval(const char *name, unsigned long long v, unsigned maxval)
{
	if (v <= maxval)
		return 0;
	cnnf_error("%s: sample %llu is above maxval %u", name, v, maxval);
	return -1;
}

/* The raster of a plain (ASCII) file: one decimal number per sample. */
static int read_plain(FILE *fp, const char *name, cnnf_image *img, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned long long v;
		if (read_number(fp, name, "sample", &v) < 0 ||
		    above_maxval(name, v, img->maxval) < 0)
			return -1;
		if (img->type == CNNF_U8)
			((uint8_t *)img->data)[i] = (uint8_t)v;
		else
			((uint16_t *)img->data)[i] = (uint16_t)v;
	}
	return 0;
}

/* The raster of a binary file: bytes, or big-endian pairs when maxval is over 255. */
static int read_raw(FILE *fp, const char *name, cnnf_image *img, size_t n)
{
	if (fread(img->data, img->type, n, fp) != n) {
		fail_eof(fp, name);
		return -1;
	}
	if (img->type == CNNF_U8) {
		const uint8_t *d = img->data;
		if (img->maxval < 255)
			for (size_t i = 0; i < n; i++)
				if (above_maxval(name, d[i], img->maxval) < 0)
					return -1;
		return 0;
	}
	/* In place: sample i is read from, and stored to, bytes 2i and 2i+1. */
	const unsigned char *b = img->data;
	uint16_t *d = img->data;
	for (size_t i = 0; i < n; i++) {
		uint16_t v = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
		d[i] = v;
		if (above_maxval(name, v, img->maxval) < 0)
			return -1;
	}
	return 0;
}

cnnf_image *cnnf_pnm_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	unsigned char magic[2];
	if (fread(magic, 1, 2, fp) != 2) {
		fail_eof(fp, name);
		return NULL;
	}
	int plain, channels;
	switch (magic[1]) {
	case '2':
	case '3':
	case '5':
	case '6':
		plain = magic[1] <= '3';
		channels = magic[1] == '3' || magic[1] == '6' ? 3 : 1;
		break;
	case '1':
	case '4':
		cnnf_error("%s: PBM (P%c) images are not supported; convert to PGM", name,
		           magic[1]);
		return NULL;
	default:
		/* The sniffer lets only P1..P7 through; called directly, the byte can be anything. */
		if (magic[0] == 'P' && magic[1] >= 0x20 && magic[1] < 0x7f)
			cnnf_error("%s: P%c images are not supported (only P2, P3, P5 and P6)", name,
			           magic[1]);
		else
			cnnf_error("%s: not a PNM image (it does not start with P2, P3, P5 or P6)",
			           name);
		return NULL;
	}
	unsigned long long w, h, maxval;
	if (read_number(fp, name, "width", &w) < 0 || read_number(fp, name, "height", &h) < 0 ||
	    read_number(fp, name, "maxval", &maxval) < 0)
		return NULL;
	if (maxval < 1 || maxval > 65535) {
		cnnf_error("%s: PNM maxval %llu is not in 1..65535", name, maxval);
		return NULL;
	}
	cnnf_type type = maxval > 255 ? CNNF_U16 : CNNF_U8;
	if (cnnf_image_check(name, (long long)w, (long long)h, channels, type, max_pixels) < 0)
		return NULL;
	/*
	 * A binary raster has its exact size; a plain one at least a digit and a
	 * separator per sample. Both fit in 64 bits after cnnf_image_check().
	 */
	unsigned long long samples = w * h * (unsigned)channels;
	unsigned long long need = !plain ? samples * type
	                          : samples > ULLONG_MAX / 2 ? ULLONG_MAX : 2 * samples - 1;
	long long have = cnnf_io_remaining(fp);
	if (have >= 0 && (unsigned long long)have < need) {
		cnnf_error("%s: truncated file: a %llux%llu image needs %s%llu bytes of samples, "
		           "the file has %lld",
		           name, w, h, plain ? "at least " : "", need, have);
		return NULL;
	}
	cnnf_image *img = cnnf_image_new((int)w, (int)h, channels, type);
	if (!img) {
		cnnf_error("%s: out of memory for a %llux%llu image", name, w, h);
		return NULL;
	}
	img->maxval = (unsigned)maxval;
	size_t n = (size_t)w * h * channels;
	if ((plain ? read_plain : read_raw)(fp, name, img, n) < 0) {
		cnnf_image_free(img);
		return NULL;
	}
	return img;
}

int cnnf_pnm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	const cnnf_image *img = &src->info;
	if (img->channels != 1 && img->channels != 3) {
		cnnf_error("%s: PNM holds 1 (PGM) or 3 (PPM) channels, not %d; write .png or .npy "
		           "instead",
		           name, img->channels);
		return -1;
	}
	/* Integer samples keep their scale; float samples with no scale are 8-bit samples. */
	unsigned maxval = img->maxval;
	if (maxval == 0)
		maxval = img->type == CNNF_U16 ? 65535 : 255;
	if (maxval > 65535)
		maxval = 65535;
	if (fprintf(fp, "P%c\n%d %d\n%u\n", img->channels == 1 ? '5' : '6', img->width, img->height,
	            maxval) < 0)
		goto write_error;

	size_t row_samples = (size_t)img->width * img->channels;
	size_t bytes = maxval > 255 ? 2 : 1;
	int direct = img->type == CNNF_U8 && maxval == 255;
	unsigned char *buf = direct ? NULL : malloc(row_samples * bytes);
	if (!direct && !buf) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	for (int y = 0; y < img->height; y++) {
		const void *row = src->row(src->ctx, y);
		if (!row) { /* the message is set */
			free(buf);
			return -1;
		}
		if (!direct) {
			/* Exact for integer samples; rounds and clamps float ones. */
			cnnf_image_convert_samples(img, row, bytes == 2 ? CNNF_U16 : CNNF_U8,
			                           maxval, buf, row_samples);
			/* 16-bit samples are big-endian in the file. */
			for (size_t i = 0; bytes == 2 && i < row_samples; i++) {
				uint16_t s;
				memcpy(&s, buf + 2 * i, 2);
				buf[2 * i] = (unsigned char)(s >> 8);
				buf[2 * i + 1] = (unsigned char)s;
			}
		}
		if (fwrite(direct ? row : buf, bytes, row_samples, fp) != row_samples) {
			free(buf);
			goto write_error;
		}
	}
	free(buf);
	return 0;
write_error:
	cnnf_error("%s: write error: %s", name, strerror(errno));
	return -1;
}
