/* io_npy.c: numpy .npy files: reads f4, f8, u1, u2 arrays (H, W) or (H, W, C); writes '<f4'. */
#include "io/io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* numpy itself refuses headers over 10000 bytes unless told otherwise; this is generous. */
#define HEADER_MAX (1 << 20)
/* Shape entries stop growing here; anything this big is refused by cnnf_image_check(). */
#define DIM_CAP 1000000000000LL
/* numpy aligns the data of a file to 64 bytes, so that it can be memory-mapped. */
#define ALIGN 64

/* What the header dictionary says. */
struct npy_header {
	char descr[16];     /* dtype, e.g. "<f4" */
	int fortran_order;  /* 1 for column-major data */
	int ndim;           /* entries in shape */
	long long shape[3]; /* the first three of them */
	int seen;           /* bit per key: 1 descr, 2 fortran_order, 4 shape */
};

static void skip_space(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

/*
 * A quoted Python string without escapes into out; returns 0 or -1. numpy
 * writes the header with repr(), which gives printable ASCII only: anything
 * else is damage, and must not reach a message.
 */
static int parse_string(const char **p, char *out, size_t cap)
{
	char quote = **p;
	if (quote != '\'' && quote != '"')
		return -1;
	const char *end = strchr(*p + 1, quote);
	if (!end || (size_t)(end - *p - 1) >= cap)
		return -1;
	for (const char *c = *p + 1; c < end; c++)
		if (*c < 0x20 || *c > 0x7e)
			return -1;
	memcpy(out, *p + 1, (size_t)(end - *p - 1));
	out[end - *p - 1] = '\0';
	*p = end + 1;
	return 0;
}

/* A tuple of non-negative integers, "(3, 4)" or "(5,)" or "()". */
static int parse_shape(const char **p, struct npy_header *h)
{
	if (**p != '(')
		return -1;
	(*p)++;
	h->ndim = 0;
	for (;;) {
		skip_space(p);
		if (**p == ')')
			break;
		if (**p < '0' || **p > '9')
			return -1;
		long long v = 0;
		for (; **p >= '0' && **p <= '9'; (*p)++)
			if (v < DIM_CAP)
				v = v * 10 + (**p - '0');
		if (**p == 'L') /* Python 2's numpy wrote long integers so */
			(*p)++;
		if (h->ndim < 3)
			h->shape[h->ndim] = v;
		h->ndim++;
		skip_space(p);
		if (**p == ',')
			(*p)++;
		else if (**p != ')')
			return -1;
	}
	(*p)++;
	return 0;
}

/* The header dictionary, e.g. "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }". */
static int parse_header(const char *s, struct npy_header *h)
{
	const char *p = s;
	skip_space(&p);
	if (*p++ != '{')
		return -1;
	for (;;) {
		skip_space(&p);
		if (*p == '}')
			break;
		char key[32];
		if (parse_string(&p, key, sizeof key) < 0)
			return -1;
		skip_space(&p);
		if (*p++ != ':')
			return -1;
		skip_space(&p);
		if (strcmp(key, "descr") == 0) {
			if (parse_string(&p, h->descr, sizeof h->descr) < 0)
				return -1;
			h->seen |= 1;
		} else if (strcmp(key, "fortran_order") == 0) {
			if (strncmp(p, "True", 4) == 0)
				h->fortran_order = 1;
			else if (strncmp(p, "False", 5) == 0)
				h->fortran_order = 0;
			else
				return -1;
			p += h->fortran_order ? 4 : 5;
			h->seen |= 2;
		} else if (strcmp(key, "shape") == 0) {
			if (parse_shape(&p, h) < 0)
				return -1;
			h->seen |= 4;
		} else {
			return -1;
		}
		skip_space(&p);
		if (*p == ',')
			p++;
		else if (*p != '}')
			return -1;
	}
	return h->seen == 7 ? 0 : -1;
}

/* An unsigned integer of size bytes stored in the given byte order. */
static uint64_t load(const unsigned char *b, size_t size, int big)
{
	uint64_t v = 0;
	for (size_t i = 0; i < size; i++)
		v = v << 8 | b[big ? i : size - 1 - i];
	return v;
}

/* float64 to float32; values beyond float's range become infinities, as numpy's astype does. */
static float narrow(double d)
{
	if (d > FLT_MAX)
		return INFINITY;
	if (d < -FLT_MAX)
		return -INFINITY;
	return (float)d;
}

static void fail_eof(FILE *fp, const char *name)
{
	if (ferror(fp))
		cnnf_error("%s: read error: %s", name, strerror(errno));
	else
		cnnf_error("%s: truncated file", name);
}

cnnf_image *cnnf_npy_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	unsigned char pre[12];
	if (fread(pre, 1, 10, fp) != 10) {
		fail_eof(fp, name);
		return NULL;
	}
	int major = pre[6], minor = pre[7];
	if (major < 1 || major > 3) {
		cnnf_error("%s: NPY version %d.%d is not supported (only 1.0, 2.0 and 3.0)", name,
		           major, minor);
		return NULL;
	}
	size_t hlen = (size_t)load(pre + 8, 2, 0);
	if (major >= 2) {
		if (fread(pre + 10, 1, 2, fp) != 2) {
			fail_eof(fp, name);
			return NULL;
		}
		hlen = (size_t)load(pre + 8, 4, 0);
	}
	if (hlen > HEADER_MAX) {
		cnnf_error("%s: NPY header of %zu bytes is too large", name, hlen);
		return NULL;
	}
	char *text = malloc(hlen + 1);
	if (!text) {
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	if (fread(text, 1, hlen, fp) != hlen) {
		fail_eof(fp, name);
		free(text);
		return NULL;
	}
	text[hlen] = '\0';
	struct npy_header h = {0};
	int bad = parse_header(text, &h) < 0;
	free(text);
	if (bad) {
		cnnf_error("%s: bad NPY header", name);
		return NULL;
	}

	/* dtype: a byte order ('<', '>', '|' for one byte, '=' native) and a kind with a size. */
	const char *d = h.descr;
	char order = d[0];
	size_t size = 0;
	cnnf_type type = CNNF_F32;
	if (strcmp(d + 1, "f4") == 0)
		size = 4;
	else if (strcmp(d + 1, "f8") == 0)
		size = 8;
	else if (strcmp(d + 1, "u1") == 0)
		size = 1, type = CNNF_U8;
	else if (strcmp(d + 1, "u2") == 0)
		size = 2, type = CNNF_U16;
	if (!size || order == '\0' || !strchr("<>|=", order) || (order == '|' && size > 1)) {
		cnnf_error("%s: NPY dtype '%s' is not supported (only float32, float64, uint8 and "
		           "uint16)",
		           name, d);
		return NULL;
	}
	int big = order == '>' || (order == '=' && !cnnf_io_little_endian());
	if (h.fortran_order) {
		cnnf_error("%s: NPY array in Fortran order is not supported; save it in C order",
		           name);
		return NULL;
	}
	if (h.ndim != 2 && h.ndim != 3) {
		cnnf_error("%s: NPY array has %d dimensions; cnnf reads (H, W) or (H, W, C)", name,
		           h.ndim);
		return NULL;
	}
	long long height = h.shape[0], width = h.shape[1], channels = h.ndim == 3 ? h.shape[2] : 1;
	size_t row_bytes, data_bytes;
	if (cnnf_image_check(name, width, height, channels, type, max_pixels) < 0 ||
	    cnnf_image_bytes(name, width, 1, channels, size, &row_bytes) < 0 ||
	    cnnf_image_bytes(name, width, height, channels, size, &data_bytes) < 0)
		return NULL;
	/* Before allocating: a small file must not get memory for the array its header claims. */
	long long have = cnnf_io_remaining(fp);
	if (have >= 0 && (unsigned long long)have < data_bytes) {
		cnnf_error("%s: truncated file: a %lldx%lldx%lld array of '%s' needs %zu bytes, the "
		           "file has %lld",
		           name, height, width, channels, h.descr, data_bytes, have);
		return NULL;
	}

	cnnf_image *img = cnnf_image_new((int)width, (int)height, (int)channels, type);
	unsigned char *row = malloc(row_bytes);
	if (!img || !row) {
		cnnf_error("%s: out of memory for a %lldx%lld image", name, width, height);
		goto fail;
	}
	size_t row_samples = row_bytes / size;
	for (long long y = 0; y < height; y++) {
		if (fread(row, 1, row_bytes, fp) != row_bytes) {
			fail_eof(fp, name);
			goto fail;
		}
		size_t base = (size_t)y * row_samples;
		for (size_t i = 0; i < row_samples; i++) {
			uint64_t v = load(row + i * size, size, big);
			if (type == CNNF_U8) {
				((uint8_t *)img->data)[base + i] = (uint8_t)v;
			} else if (type == CNNF_U16) {
				((uint16_t *)img->data)[base + i] = (uint16_t)v;
			} else if (size == 4) {
				uint32_t bits = (uint32_t)v;
				memcpy((float *)img->data + base + i, &bits, 4);
			} else {
				double x;
				memcpy(&x, &v, 8);
				((float *)img->data)[base + i] = narrow(x);
			}
		}
	}
	free(row);
	return img;
fail:
	free(row);
	cnnf_image_free(img);
	return NULL;
}

int cnnf_npy_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	const cnnf_image *img = &src->info;
	char dict[128];
	int len = snprintf(dict, sizeof dict,
	                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }",
	                   img->height, img->width, img->channels);
	/* magic (6), version (2), header length (2), dictionary, padding, newline */
	size_t pad = (ALIGN - (10 + (size_t)len + 1) % ALIGN) % ALIGN;
	size_t hlen = (size_t)len + pad + 1;
	unsigned char pre[10];
	memcpy(pre, "\x93NUMPY\x01\x00", 8);
	pre[8] = (unsigned char)(hlen & 0xff);
	pre[9] = (unsigned char)(hlen >> 8);
	if (fwrite(pre, 1, sizeof pre, fp) != sizeof pre || fputs(dict, fp) == EOF ||
	    fprintf(fp, "%*s\n", (int)pad, "") < 0)
		goto write_error;

	size_t row_samples = (size_t)img->width * img->channels;
	unsigned char *buf = malloc(row_samples * 4);
	if (!buf) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	/* Float samples on a little-endian host are already in the file's byte order. */
	int direct = img->type == CNNF_F32 && cnnf_io_little_endian();
	for (int y = 0; y < img->height; y++) {
		const void *row = src->row(src->ctx, y);
		if (!row) { /* the message is set */
			free(buf);
			return -1;
		}
		if (!direct) {
			cnnf_image_convert_samples(img, row, CNNF_F32, 0, buf, row_samples);
			/* Little-endian whatever the host: byte by byte from the bits, in place. */
			for (size_t i = 0; i < row_samples; i++) {
				uint32_t bits;
				memcpy(&bits, buf + 4 * i, 4);
				for (int k = 0; k < 4; k++)
					buf[4 * i + k] = (unsigned char)(bits >> (8 * k));
			}
		}
		if (fwrite(direct ? row : buf, 4, row_samples, fp) != row_samples) {
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
