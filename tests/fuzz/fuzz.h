/* fuzz.h: what the fuzz harnesses share: the limits they run under and the checks they make. */
#ifndef CNNF_FUZZ_H
#define CNNF_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "image/image.h"

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

#endif
