/* io.c: format sniffing and names, reading files or stdin, writing through a temporary file. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

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
		n += fread(buf + n, 1, cap - n, fp);
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

static int write_stream(const cnnf_rows *src, FILE *fp, const char *name, cnnf_format format,
                        const cnnf_write_opts *o)
{
	switch (format) {
	case CNNF_FORMAT_PNG:
		return cnnf_png_write(src, fp, name, o);
	case CNNF_FORMAT_JPEG:
		return cnnf_jpeg_write(src, fp, name, o);
	case CNNF_FORMAT_PNM:
		return cnnf_pnm_write(src, fp, name, o);
	case CNNF_FORMAT_NPY:
		return cnnf_npy_write(src, fp, name, o);
	default:
		cnnf_error("%s: unknown output format (use --format)", name);
		return -1;
	}
}

/* Flush fp and check that every write to it succeeded. */
static int check_stream(FILE *fp, const char *name)
{
	if (fflush(fp) != 0 || ferror(fp)) {
		cnnf_error("%s: write error: %s", name, strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

/*
 * The process umask. /proc tells it without changing it; umask() can only
 * read it by setting it, which briefly changes it for every thread.
 */
static mode_t current_umask(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	if (fp) {
		char line[256];
		unsigned mask;
		while (fgets(line, sizeof line, fp)) {
			if (sscanf(line, "Umask: %o", &mask) == 1) {
				fclose(fp);
				return (mode_t)mask & 0777;
			}
		}
		fclose(fp);
	}
	mode_t mask = umask(022);
	umask(mask);
	return mask;
}

/* Write to something that is not a regular file (/dev/null, a FIFO) in place. */
static int write_special(const char *path, cnnf_io_writer fn, void *ctx)
{
	FILE *fp = fopen(path, "wb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	errno = 0;
	int rc = fn(ctx, fp, path);
	if (rc == 0)
		rc = check_stream(fp, path);
	if (fclose(fp) != 0 && rc == 0) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* The stdio buffer of a file being written. */
#define WRITE_BUFFER (1 << 20)

/* Write to a temporary file next to path, then rename it over path. */
static int write_file(const char *path, cnnf_io_writer fn, void *ctx)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t len = strlen(path);
	char *tmp = malloc(len + sizeof "/..XXXXXX");
	if (!tmp) {
		cnnf_error("%s: out of memory", path);
		return -1;
	}
	/* A hidden name next to path: the rename stays within one file system. */
	snprintf(tmp, len + sizeof "/..XXXXXX", "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
	int rc = -1;
	FILE *fp = NULL;
	char *buf = NULL;
	int fd = mkstemp(tmp);
	if (fd < 0) {
		cnnf_error("%s: cannot create a temporary file: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0666 & ~current_umask()) < 0) {
		cnnf_error("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	fp = fdopen(fd, "wb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	/*
	 * Large writes: with stdio's default of a few KiB, a 36 MB image takes
	 * thousands of write calls, which cost more than making it. Without the
	 * memory the default buffer does.
	 */
	if ((buf = malloc(WRITE_BUFFER)) != NULL)
		setvbuf(fp, buf, _IOFBF, WRITE_BUFFER);
	errno = 0;
	if (fn(ctx, fp, path) < 0 || check_stream(fp, path) < 0)
		goto out;
	/* Without this a crash soon after the rename can leave an empty file. */
	if (fsync(fd) < 0 && errno != EINVAL) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		goto out;
	}
	int closed = fclose(fp);
	fp = NULL;
	if (closed != 0) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		cnnf_error("%s: cannot replace: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fp)
		fclose(fp);
	free(buf);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int cnnf_io_write_file(const char *path, cnnf_io_writer fn, void *ctx)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			cnnf_error("%s: is a directory", path);
			return -1;
		}
		/* Renaming over /dev/null would replace the device with a file. */
		if (!S_ISREG(st.st_mode))
			return write_special(path, fn, ctx);
	}
	return write_file(path, fn, ctx);
}

/* An image and how to write it, for cnnf_io_write_file(). */
typedef struct image_job {
	const cnnf_rows *src;
	cnnf_format format;
	const cnnf_write_opts *o;
} image_job;

static int write_image(void *ctx, FILE *fp, const char *name)
{
	const image_job *j = ctx;
	return write_stream(j->src, fp, name, j->format, j->o);
}

int cnnf_io_little_endian(void)
{
	const uint16_t one = 1;
	unsigned char first;
	memcpy(&first, &one, 1);
	return first == 1;
}

int cnnf_io_write(const cnnf_image *img, const char *path, const cnnf_write_opts *o)
{
	cnnf_rows src;
	cnnf_image_to_rows(img, &src);
	return cnnf_io_write_rows(&src, path, o);
}

/* A row source whose failures are reported as the output's: "OUTPUT: what went wrong". */
typedef struct named_rows {
	const cnnf_rows *src;
	const char *name;
} named_rows;

static const void *named_row(void *ctx, int y)
{
	const named_rows *n = ctx;
	const void *row = n->src->row(n->src->ctx, y);
	if (!row) {
		char why[CNNF_ERROR_MAX];
		snprintf(why, sizeof why, "%s", cnnf_error_get());
		cnnf_error("%s: %s", n->name, why[0] ? why : "a row could not be made");
	}
	return row;
}

int cnnf_io_write_rows(const cnnf_rows *rows, const char *path, const cnnf_write_opts *o)
{
	int to_stdout = strcmp(path, "-") == 0;
	const char *name = to_stdout ? "stdout" : path;
	named_rows named = {rows, name};
	cnnf_rows wrapped = *rows;
	wrapped.row = named_row;
	wrapped.ctx = &named;
	const cnnf_rows *src = &wrapped;
	cnnf_write_opts defaults;
	if (!o) {
		cnnf_io_write_opts_init(&defaults);
		o = &defaults;
	}
	cnnf_format format = o->format;
	if (format == CNNF_FORMAT_NONE)
		format = to_stdout ? CNNF_FORMAT_PNG : cnnf_io_format_from_name(path);
	if (format == CNNF_FORMAT_NONE) {
		cnnf_error("%s: unknown output format (use --format)", name);
		return -1;
	}
	if (to_stdout) {
		errno = 0;
		if (write_stream(src, stdout, name, format, o) < 0)
			return -1;
		return check_stream(stdout, name);
	}
	image_job j = {src, format, o};
	return cnnf_io_write_file(path, write_image, &j);
}
