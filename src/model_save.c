/* model_save.c: writes a model in the model file format, atomically. */
#include "model_save.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24, "float must be IEEE binary32");

/* Make a number written by printf use '.' whatever the locale says. */
static void c_decimal_point(char *s)
{
	const char *dp = localeconv()->decimal_point;
	if (!dp[0] || (dp[0] == '.' && !dp[1]))
		return;
	size_t n = strlen(dp);
	char *p = strstr(s, dp);
	if (p) {
		*p = '.';
		memmove(p + 1, p + n, strlen(p + n) + 1);
	}
}

/*
 * v in the shortest %g form that the loader reads back as v: a double within
 * float range that rounds to v (so FLT_MAX needs 17 digits, since
 * 3.4028235e38 is above it). buf holds 32 bytes.
 */
static const char *float_text(char *buf, float v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, (double)v);
		/* Read back in the same locale it was written in. */
		double d = strtod(buf, NULL);
		if (fabs(d) <= FLT_MAX && (float)d == v)
			break;
	}
	c_decimal_point(buf);
	return buf;
}

/* The same for a double (batchnorm eps, dropout p). */
static const char *double_text(char *buf, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	c_decimal_point(buf);
	return buf;
}

/* "mean=a,b,c": one value when every channel has the same. */
static void write_list(FILE *fp, const char *key, const float *v, int n)
{
	char buf[32];
	int same = 1;
	for (int i = 1; i < n; i++)
		if (memcmp(&v[i], &v[0], sizeof *v) != 0)
			same = 0;
	fprintf(fp, " %s=", key);
	for (int i = 0; i < (same ? 1 : n); i++)
		fprintf(fp, "%s%s", i ? "," : "", float_text(buf, v[i]));
}

static void write_layer(FILE *fp, const cnnf_layer *l)
{
	char buf[32];
	fputs(cnnf_model_layer_name(l->type), fp);
	switch (l->type) {
	case CNNF_LAYER_CONV:
		fprintf(fp, " out=%d kernel=", l->out);
		if (l->kh == l->kw)
			fprintf(fp, "%d", l->kh);
		else
			fprintf(fp, "%dx%d", l->kh, l->kw);
		if (l->stride != 1)
			fprintf(fp, " stride=%d", l->stride);
		if (l->pad)
			fprintf(fp, " pad=%d", l->pad);
		if (l->dilation != 1)
			fprintf(fp, " dilation=%d", l->dilation);
		break;
	case CNNF_LAYER_MAXPOOL:
	case CNNF_LAYER_AVGPOOL:
		fprintf(fp, " kernel=%d", l->kh);
		if (l->stride != l->kh)
			fprintf(fp, " stride=%d", l->stride);
		break;
	case CNNF_LAYER_BATCHNORM:
		if (l->eps != 1e-5)
			fprintf(fp, " eps=%s", double_text(buf, l->eps));
		break;
	case CNNF_LAYER_DROPOUT:
		if (l->p != 0.5)
			fprintf(fp, " p=%s", double_text(buf, l->p));
		break;
	case CNNF_LAYER_FC:
		fprintf(fp, " out=%d", l->out);
		break;
	case CNNF_LAYER_RELU:
	case CNNF_LAYER_SOFTMAX:
		break;
	}
	fputc('\n', fp);
}

int cnnf_model_write(const cnnf_model *m, FILE *fp, const char *name)
{
	fprintf(fp, "cnnf-model 1\ninput channels=%d height=%d width=%d", m->channels, m->height,
	        m->width);
	write_list(fp, "mean", m->mean, m->channels);
	write_list(fp, "std", m->std, m->channels);
	fputc('\n', fp);
	if (m->nlabels) {
		fputs("labels", fp);
		for (int i = 0; i < m->nlabels; i++)
			fprintf(fp, " %s", m->labels[i]);
		fputc('\n', fp);
	}
	for (int i = 0; i < m->nlayers; i++)
		write_layer(fp, &m->layers[i]);
	fprintf(fp, "weights float32 %zu\n", m->nparams);
	/* Little-endian whatever the host: byte by byte from the bits. */
	unsigned char chunk[4096];
	size_t n = 0;
	for (size_t i = 0; i < m->nparams; i++) {
		uint32_t u;
		memcpy(&u, &m->params[i], sizeof u);
		for (int b = 0; b < 4; b++)
			chunk[n++] = (unsigned char)(u >> (8 * b));
		if (n == sizeof chunk || i + 1 == m->nparams) {
			if (fwrite(chunk, 1, n, fp) != n)
				break;
			n = 0;
		}
	}
	if (ferror(fp)) {
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
static int write_special(const cnnf_model *m, const char *path)
{
	FILE *fp = fopen(path, "wb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	errno = 0;
	int rc = cnnf_model_write(m, fp, path);
	if (rc == 0 && fflush(fp) != 0) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		rc = -1;
	}
	if (fclose(fp) != 0 && rc == 0) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

int cnnf_model_save(const cnnf_model *m, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			cnnf_error("%s: is a directory", path);
			return -1;
		}
		/* Renaming over /dev/null would replace the device with a file. */
		if (!S_ISREG(st.st_mode))
			return write_special(m, path);
	}
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	size_t size = strlen(path) + sizeof "..XXXXXX";
	char *tmp = malloc(size);
	if (!tmp) {
		cnnf_error("%s: out of memory", path);
		return -1;
	}
	/* A hidden name next to path: the rename stays within one file system. */
	snprintf(tmp, size, "%.*s.%s.XXXXXX", (int)dirlen, path, path + dirlen);
	int rc = -1;
	FILE *fp = NULL;
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
	if (!(fp = fdopen(fd, "wb"))) {
		cnnf_error("%s: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	errno = 0;
	if (cnnf_model_write(m, fp, path) < 0)
		goto out;
	if (fflush(fp) != 0) {
		cnnf_error("%s: write error: %s", path, strerror(errno));
		goto out;
	}
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
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}
