/* model_save.c: writes a model in the model file format, atomically. */
#include "nn/model_save.h"

#include "nn/onnx_save.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "io/io.h"

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

static int write_model(void *ctx, FILE *fp, const char *name)
{
	return cnnf_model_write(ctx, fp, name);
}

static int write_onnx(void *ctx, FILE *fp, const char *name)
{
	return cnnf_onnx_write_model(ctx, fp, name);
}

int cnnf_model_save(const cnnf_model *m, const char *path)
{
	return cnnf_io_write_file(path, cnnf_onnx_is_name(path) ? write_onnx : write_model,
	                          (void *)m);
}

int cnnf_model_write_as(const cnnf_model *m, FILE *fp, const char *name)
{
	return (cnnf_onnx_is_name(name) ? cnnf_onnx_write_model : cnnf_model_write)(m, fp, name);
}
