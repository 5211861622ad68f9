/* model_weights.c: the values after a model file's header: float32, text or none. */
#include "nn/model_weights.h"

#include <ctype.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24, "float must be IEEE binary32");

/* Longest number accepted: far more digits than a double can use. */
#define MAX_NUMBER_CHARS 255

/* Where the weight section is being read. */
typedef struct source {
	const char *name;    /* the file, for messages */
	const char *p, *end; /* the rest of the section */
	long line;           /* the line p is on */
	cnnf_model *m;
} source;

int cnnf_model_fail(const char *name, long line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		cnnf_error("%s:%ld: %s", name, line, msg);
	else
		cnnf_error("%s: %s", name, msg);
	return -1;
}

const char *cnnf_model_shown(char buf[48], const char *s, size_t n)
{
	size_t k = n;
	if (k > 40) {
		k = 40;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
	}
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
	}
	strcpy(buf + k, k < n ? "..." : "");
	return buf;
}

int cnnf_model_number(const char *s, size_t n, double *out)
{
	char buf[MAX_NUMBER_CHARS + 1];
	if (n == 0 || n > MAX_NUMBER_CHARS || isspace((unsigned char)s[0]))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/*
	 * strtod reads the locale's decimal point; the file's is always '.'.
	 * The locale's own character is no more valid here than in the C locale.
	 */
	const char *dp = localeconv()->decimal_point;
	if (dp[0] && dp[0] != '.' && !dp[1]) {
		if (memchr(buf, dp[0], n))
			return -1;
		for (char *q = buf; *q; q++)
			if (*q == '.')
				*q = dp[0];
	}
	char *end;
	*out = strtod(buf, &end);
	return end == buf + n ? 0 : -1;
}

int cnnf_model_float(const char *s, size_t n, float *out)
{
	double d;
	if (cnnf_model_number(s, n, &d) < 0)
		return -1;
	/* Converting a double beyond FLT_MAX to float is undefined behaviour, not infinity. */
	if (!isfinite(d) || fabs(d) > FLT_MAX)
		return -2;
	*out = (float)d;
	return 0;
}

/* Which parameter values[i] is, for a message: "bias[3] of the conv on line 4". */
static const char *which(const cnnf_model *m, size_t i, char *buf, size_t size)
{
	static const char *const bn[] = {"weight", "bias", "running_mean", "running_var"};
	for (int l = 0; l < m->nlayers; l++) {
		const cnnf_layer *L = &m->layers[l];
		if (i >= L->nparams) {
			i -= L->nparams;
			continue;
		}
		const char *part = "weight";
		if (L->type == CNNF_LAYER_BATCHNORM) {
			part = bn[i / (size_t)L->in_c];
			i %= (size_t)L->in_c;
		} else if (i >= L->nparams - (size_t)L->out) {
			part = "bias";
			i -= L->nparams - (size_t)L->out;
		}
		snprintf(buf, size, "%s[%zu] of the %s on line %d", part, i,
		         cnnf_model_layer_name(L->type), L->line);
		return buf;
	}
	return "past the last layer";
}

static int bad_value(const source *s, long line, size_t i, const char *value)
{
	char at[128];
	return cnnf_model_fail(s->name, line, "weights: values[%zu] is %s, not a finite float32 (%s)", i, value,
	            which(s->m, i, at, sizeof at));
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

/* The next word of the text, skipping blanks, newlines and comments, in *w; 0 at the end. */
static int next_word(source *s, const char **w, size_t *n)
{
	const char *p = s->p;
	for (;;) {
		while (p < s->end && blank(*p))
			if (*p++ == '\n')
				s->line++;
		if (p == s->end || *p != '#')
			break;
		while (p < s->end && *p != '\n')
			p++;
	}
	*w = p;
	while (p < s->end && !blank(*p) && *p != '#')
		p++;
	*n = (size_t)(p - *w);
	s->p = p;
	return *n > 0;
}

/*
 * Check that the text holds exactly m->nparams words, without converting
 * them, so that a short file is refused before the parameters are allocated.
 */
static int count_text(source *s)
{
	source start = *s;
	size_t n = s->m->nparams, got = 0, len;
	long last = s->line - 1; /* the weights line, when there are no values */
	const char *w;
	while (next_word(s, &w, &len)) {
		if (got == n)
			return cnnf_model_fail(s->name, s->line,
			            "weights: more values than the %zu the header gives", n);
		got++;
		last = s->line;
	}
	if (got < n)
		return cnnf_model_fail(s->name, last, "weights: the text ends after %zu of %zu values", got, n);
	*s = start;
	return 0;
}

static int read_text(source *s)
{
	char a[48];
	const char *w;
	size_t n;
	for (size_t i = 0; i < s->m->nparams; i++) {
		next_word(s, &w, &n);
		int rc = cnnf_model_float(w, n, &s->m->params[i]);
		if (rc == -1)
			return cnnf_model_fail(s->name, s->line, "weights: '%s' (values[%zu]) is not a number",
			            cnnf_model_shown(a, w, n), i);
		if (rc < 0)
			return bad_value(s, s->line, i, cnnf_model_shown(a, w, n));
	}
	return 0;
}

static int read_binary(source *s)
{
	cnnf_model *m = s->m;
	const unsigned char *b = (const unsigned char *)s->p;
	for (size_t i = 0; i < m->nparams; i++, b += 4) {
		/* Little-endian whatever the host; a float has the byte order of a uint32_t. */
		uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		             (uint32_t)b[3] << 24;
		memcpy(&m->params[i], &u, sizeof u);
		if (!isfinite(m->params[i])) {
			char v[32];
			snprintf(v, sizeof v, "%g", (double)m->params[i]);
			return bad_value(s, 0, i, v);
		}
	}
	return 0;
}

/* Point every layer's weight, bias, mean and var into m->params. */
static void assign(cnnf_model *m)
{
	float *p = m->params;
	/* With no parameters params is NULL, and even NULL + 0 is undefined. */
	if (!p)
		return;
	for (int l = 0; l < m->nlayers; l++) {
		cnnf_layer *L = &m->layers[l];
		size_t c = (size_t)L->in_c;
		if (L->type == CNNF_LAYER_CONV || L->type == CNNF_LAYER_FC) {
			L->weight = p;
			L->bias = p + L->nparams - (size_t)L->out;
		} else if (L->type == CNNF_LAYER_BATCHNORM) {
			L->weight = p;
			L->bias = p + c;
			L->mean = p + 2 * c;
			L->var = p + 3 * c;
		}
		p += L->nparams;
	}
}

int cnnf_model_weights_read(cnnf_model *m, cnnf_weights_format format, const char *name,
                            const char *p, const char *end, long line)
{
	source s = {.name = name, .p = p, .end = end, .line = line, .m = m};
	size_t have = (size_t)(end - p), n = m->nparams;
	char a[48];
	const char *w;
	size_t len;
	/* The amount of data is checked before the parameters are allocated. */
	switch (format) {
	case CNNF_WEIGHTS_FLOAT32:
		if (have / 4 < n)
			return cnnf_model_fail(s.name, 0, "weights: file ends after %zu of %zu values%s", have / 4,
			            n, have % 4 ? " and part of the next" : "");
		if (have > n * 4)
			return cnnf_model_fail(s.name, 0, "weights: %zu byte%s after the %zu values", have - n * 4,
			            have - n * 4 == 1 ? "" : "s", n);
		break;
	case CNNF_WEIGHTS_TEXT:
		if (count_text(&s) < 0)
			return -1;
		break;
	case CNNF_WEIGHTS_INIT:
		if (next_word(&s, &w, &len))
			return cnnf_model_fail(s.name, s.line, "weights: unexpected '%s' after 'weights init'",
			            cnnf_model_shown(a, w, len));
		break;
	}
	if (n) {
		m->params = calloc(n, sizeof *m->params);
		if (!m->params)
			return cnnf_model_fail(s.name, 0, "out of memory for %zu parameters", n);
	}
	assign(m);
	if ((format == CNNF_WEIGHTS_FLOAT32 && read_binary(&s) < 0) ||
	    (format == CNNF_WEIGHTS_TEXT && read_text(&s) < 0))
		return -1;
	for (int l = 0; l < m->nlayers; l++) {
		const cnnf_layer *L = &m->layers[l];
		for (int c = 0; L->type == CNNF_LAYER_BATCHNORM && c < L->in_c; c++)
			if (L->var[c] < 0)
				return cnnf_model_fail(s.name, L->line,
				            "batchnorm: running_var[%d] is %g; a "
				            "variance cannot be negative",
				            c, (double)L->var[c]);
	}
	return 0;
}
