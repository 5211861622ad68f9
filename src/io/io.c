/* io.c: format sniffing and names, reading files or stdin; io_write.c writes. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

/*
 * Largest input slurped from stdin or a pipe: the whole stream is held in
 * memory, so a runaway producer must not take all of it. 4 GiB holds any
 * image under the default pixel limit in every format cnnf reads.
 */
#define SLURP_MAX ((size_t)(SIZE_MAX / 2 < (1ULL << 32) ? SIZE_MAX / 2 : (1ULL << 32)))

/* Bytes read to sniff the format: the PNG signature is the longest magic. */
#define MAGIC_LEN 8

void cnnf_io_write_opts_init(cnnf_write_opts *o)
{
	*o = (cnnf_write_opts){.format = CNNF_FORMAT_NONE, .quality = 90};
}

cnnf_format cnnf_io_format_from_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	if (!dot)
		return CNNF_FORMAT_NONE;
	static const struct {
		const char *ext;
		cnnf_format format;
	} exts[] = {
	    {".png", CNNF_FORMAT_PNG}, {".jpg", CNNF_FORMAT_JPEG}, {".jpeg", CNNF_FORMAT_JPEG},
	    {".pnm", CNNF_FORMAT_PNM}, {".pgm", CNNF_FORMAT_PNM},  {".ppm", CNNF_FORMAT_PNM},
	    {".npy", CNNF_FORMAT_NPY},
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
		if (strcasecmp(dot, exts[i].ext) == 0)
			return exts[i].format;
	return CNNF_FORMAT_NONE;
}

int cnnf_io_format_parse(const char *s, cnnf_format *out)
{
	static const struct {
		const char *name;
		cnnf_format format;
	} names[] = {
	    {"png", CNNF_FORMAT_PNG}, {"jpeg", CNNF_FORMAT_JPEG}, {"jpg", CNNF_FORMAT_JPEG},
	    {"pnm", CNNF_FORMAT_PNM}, {"npy", CNNF_FORMAT_NPY},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].format;
			return 0;
		}
	}
	cnnf_error("unknown format '%s' (use png, jpeg, pnm or npy)", s);
	return -1;
}

cnnf_format cnnf_io_format_sniff(const unsigned char *buf, size_t len)
{
	if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0)
		return CNNF_FORMAT_PNG;
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		return CNNF_FORMAT_JPEG;
	if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
		return CNNF_FORMAT_NPY;
	/*
	 * Every Netpbm type (P1..P7) counts as PNM, so that the reader can say
	 * which ones it does not take; the magic is followed by whitespace or a
	 * comment, unless the file ends there (then the reader calls it truncated).
	 */
	if (len >= 2 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '7' &&
	    (len == 2 || (buf[2] != '\0' && strchr(" \t\n\v\f\r#", buf[2]) != NULL)))
		return CNNF_FORMAT_PNM;
	return CNNF_FORMAT_NONE;
}

long long cnnf_io_remaining(FILE *fp)
{
	off_t here = ftello(fp);
	if (here < 0 || fseeko(fp, 0, SEEK_END) < 0)
		return -1;
	off_t end = ftello(fp);
	if (fseeko(fp, here, SEEK_SET) < 0 || end < here)
		return -1;
	return (long long)(end - here);
}

/*
 * The whole of fp in a malloc'ed buffer (*out, *len), for streams that cannot
 * be rewound after sniffing. Returns 0 or -1.
 */
static int slurp(FILE *fp, const char *name, unsigned char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	if (!buf)
		goto nomem;
	for (;;) {
		size_t before = n;
		n += fread(buf + n, 1, cap - n, fp);
		/*
		 * The format is known from the first bytes: a stream that is no
		 * image (/dev/zero) is refused from them, not after gigabytes.
		 */
		if (before == 0 && n > 0 && cnnf_io_format_sniff(buf, n) == CNNF_FORMAT_NONE)
			break;
		if (n < cap)
			break;
		if (cap >= SLURP_MAX && getc(fp) != EOF) {
			cnnf_error("%s: input is larger than %zu MiB", name,
			           (size_t)SLURP_MAX >> 20);
			free(buf);
			return -1;
		}
		if (cap >= SLURP_MAX)
			break;
		size_t grown = cap > SLURP_MAX / 2 ? SLURP_MAX : cap * 2;
		unsigned char *p = realloc(buf, grown);
		if (!p)
			goto nomem;
		buf = p;
		cap = grown;
	}
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", name, strerror(errno));
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
nomem:
	free(buf);
	cnnf_error("%s: out of memory reading the input", name);
	return -1;
}

static cnnf_image *read_stream(FILE *fp, const char *name, cnnf_format format,
                               unsigned long long max_pixels)
{
	switch (format) {
	case CNNF_FORMAT_PNG:
		return cnnf_png_read(fp, name, max_pixels);
	case CNNF_FORMAT_JPEG:
		return cnnf_jpeg_read(fp, name, max_pixels);
	case CNNF_FORMAT_PNM:
		return cnnf_pnm_read(fp, name, max_pixels);
	case CNNF_FORMAT_NPY:
		return cnnf_npy_read(fp, name, max_pixels);
	default:
		cnnf_error("%s: not a PNG, JPEG, PNM or NPY image", name);
		return NULL;
	}
}

/* Read a stream that cannot seek (stdin, a pipe) from memory. */
static cnnf_image *read_slurped(FILE *fp, const char *name, unsigned long long max_pixels)
{
	unsigned char *buf;
	size_t len;
	if (slurp(fp, name, &buf, &len) < 0)
		return NULL;
	cnnf_image *img = NULL;
	if (len == 0) {
		cnnf_error("%s: empty file", name);
		goto out;
	}
	cnnf_format format = cnnf_io_format_sniff(buf, len);
	if (format == CNNF_FORMAT_NONE) {
		cnnf_error("%s: not a PNG, JPEG, PNM or NPY image", name);
		goto out;
	}
	FILE *mem = fmemopen(buf, len, "rb");
	if (!mem) {
		cnnf_error("%s: %s", name, strerror(errno));
		goto out;
	}
	img = read_stream(mem, name, format, max_pixels);
	fclose(mem);
out:
	free(buf);
	return img;
}

static cnnf_image *read_file(const char *path, unsigned long long max_pixels)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	cnnf_image *img = NULL;
	struct stat st;
	if (fstat(fileno(fp), &st) < 0) {
		cnnf_error("%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		cnnf_error("%s: is a directory", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		img = read_slurped(fp, path, max_pixels);
		goto out;
	}
	unsigned char magic[MAGIC_LEN];
	size_t n = fread(magic, 1, sizeof magic, fp);
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", path, strerror(errno));
		goto out;
	}
	if (n == 0) {
		cnnf_error("%s: empty file", path);
		goto out;
	}
	cnnf_format format = cnnf_io_format_sniff(magic, n);
	if (format == CNNF_FORMAT_NONE) {
		cnnf_error("%s: not a PNG, JPEG, PNM or NPY image", path);
		goto out;
	}
	if (fseek(fp, 0, SEEK_SET) < 0) {
		cnnf_error("%s: cannot rewind: %s", path, strerror(errno));
		goto out;
	}
	img = read_stream(fp, path, format, max_pixels);
out:
	fclose(fp);
	return img;
}

cnnf_image *cnnf_io_read(const char *path, unsigned long long max_pixels)
{
	if (strcmp(path, "-") == 0)
		return read_slurped(stdin, "stdin", max_pixels);
	return read_file(path, max_pixels);
}

int cnnf_io_little_endian(void)
{
	const uint16_t one = 1;
	unsigned char first;
	memcpy(&first, &one, 1);
	return first == 1;
}
