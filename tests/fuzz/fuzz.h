/* fuzz.h: what the fuzz harnesses share: the limits they run under and the checks they make. */
#ifndef CNNF_FUZZ_H
#define CNNF_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/image.h"
#include "io/io.h"

/*
 * Readers run with this pixel limit, so that an image the harness may keep
 * (at most 4 Mi pixels, 32 MiB of 16-bit RGBA) stays far below the fuzzer's
 * memory limit: anything bigger that reaches malloc is a reader bug.
 */
#define FUZZ_MAX_PIXELS (1ULL << 22)

/* What the harnesses call the input in messages. */
#define FUZZ_NAME "fuzz-input"

/*
 * A failed read must say why, once: a message that names the input and is
 * one line with no control bytes (a file must not put a newline or a
 * terminal escape into what cnnf prints). Anything else is a bug.
 */
static inline void fuzz_check_error(void)
{
	const char *msg = cnnf_error_get();
	int bad = strncmp(msg, FUZZ_NAME, strlen(FUZZ_NAME)) != 0;
	for (const char *p = msg; *p && !bad; p++)
		bad = (unsigned char)*p < 0x20 || *p == 0x7f;
	if (bad) {
		fprintf(stderr, "failure without a proper message: '%s'\n", msg);
		abort();
	}
}

/* An image a reader returned keeps the contract of image.h; every sample is read. */
static inline void fuzz_check_image(const cnnf_image *img)
{
	if (img->width < 1 || img->height < 1 || img->channels < 1 ||
	    img->channels > CNNF_MAX_CHANNELS ||
	    (unsigned long long)img->width * (unsigned long long)img->height > FUZZ_MAX_PIXELS ||
	    (img->type != CNNF_U8 && img->type != CNNF_U16 && img->type != CNNF_F32) ||
	    (img->alpha && img->channels != 2 && img->channels != 4) ||
	    (img->type == CNNF_U8 && img->maxval > 255) ||
	    (img->type == CNNF_U16 && img->maxval > 65535)) {
		fprintf(stderr, "image breaks its contract: %dx%dx%d type %d maxval %u alpha %d\n",
		        img->width, img->height, img->channels, (int)img->type, img->maxval,
		        img->alpha);
		abort();
	}
	size_t n = (size_t)img->width * img->height * img->channels;
	/* Samples above maxval would be a reader bug too; a float has no such bound. */
	for (size_t i = 0; i < n; i++)
		if (img->type != CNNF_F32 && cnnf_image_getf(img, i) > (float)img->maxval) {
			fprintf(stderr, "sample %zu is above maxval %u\n", i, img->maxval);
			abort();
		}
}

/* Run an image reader on data: fmemopen gives it the FILE* it takes. */
static inline void fuzz_read_image(cnnf_image *(*reader)(FILE *, const char *, unsigned long long),
                                   const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return;
	cnnf_error_clear();
	cnnf_image *img = reader(fp, FUZZ_NAME, FUZZ_MAX_PIXELS);
	fclose(fp);
	if (img)
		fuzz_check_image(img);
	else
		fuzz_check_error();
	cnnf_image_free(img);
}

/*
 * Whatever metadata a reader took from a file, the writers must put out
 * without failing the image, and what they write must read back: a small
 * gray and RGB image carrying m is written as PNG, JPEG and TIFF in memory
 * and read again.
 */
static inline void fuzz_meta_roundtrip(const cnnf_meta *m)
{
	static const struct {
		int (*write)(const cnnf_rows *, FILE *, const char *, const cnnf_write_opts *);
		cnnf_format format;
	} writers[] = {{cnnf_png_write, CNNF_FORMAT_PNG},
	               {cnnf_jpeg_write, CNNF_FORMAT_JPEG},
	               {cnnf_tiff_write, CNNF_FORMAT_TIFF}};
	for (int ch = 1; ch <= 3; ch += 2)
		for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++) {
			cnnf_image *img = cnnf_image_new(5, 3, ch, CNNF_U8);
			if (!img)
				abort();
			cnnf_rows rows;
			cnnf_image_to_rows(img, &rows);
			cnnf_write_opts o;
			cnnf_io_write_opts_init(&o);
			cnnf_warn w = {.count = 0};
			o.meta = m;
			o.warn = &w;
			char *buf = NULL;
			size_t len = 0;
			FILE *fp = open_memstream(&buf, &len);
			if (!fp)
				abort();
			cnnf_error_clear();
			int r = writers[i].write(&rows, fp, FUZZ_NAME, &o);
			if (fclose(fp) != 0 || r < 0) {
				fprintf(stderr, "writing metadata failed: %s\n", cnnf_error_get());
				abort();
			}
			cnnf_image_free(img);
			cnnf_meta back = {0};
			fp = fmemopen(buf, len, "rb");
			if (!fp)
				abort();
			cnnf_warn rw = {.count = 0};
			if (writers[i].format == CNNF_FORMAT_PNG)
				img = cnnf_png_read_warn(fp, FUZZ_NAME, FUZZ_MAX_PIXELS, &rw, &back);
			else if (writers[i].format == CNNF_FORMAT_JPEG)
				img = cnnf_jpeg_read_exif(fp, FUZZ_NAME, FUZZ_MAX_PIXELS, 0, NULL, &rw, &back);
			else
				img = cnnf_tiff_read(fp, FUZZ_NAME, FUZZ_MAX_PIXELS);
			fclose(fp);
			if (!img || img->width != 5 || img->height != 3) {
				fprintf(stderr, "an image written with metadata does not read back: %s\n",
				        cnnf_error_get());
				abort();
			}
			cnnf_image_free(img);
			cnnf_meta_clear(&back);
			free(buf);
		}
}

/* A reader that also takes the file's metadata, which then goes through the writers. */
static inline void fuzz_read_meta(cnnf_image *(*reader)(FILE *, const char *, unsigned long long,
                                                       cnnf_meta *),
                                  const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return;
	cnnf_error_clear();
	cnnf_meta m = {0};
	cnnf_image *img = reader(fp, FUZZ_NAME, FUZZ_MAX_PIXELS, &m);
	fclose(fp);
	if (img) {
		fuzz_check_image(img);
		fuzz_meta_roundtrip(&m);
	} else {
		fuzz_check_error();
		if (!cnnf_meta_empty(&m)) {
			fprintf(stderr, "a failed read left metadata behind\n");
			abort();
		}
	}
	cnnf_meta_clear(&m);
	cnnf_image_free(img);
}

#endif
