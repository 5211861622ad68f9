/* io_write.c: writing images: the format dispatch, and the file-system side through a temporary file. */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

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
