/* model_weights.h: a model file's weight section and number parsing, private to model*.c. */
#ifndef CNNF_MODEL_WEIGHTS_H
#define CNNF_MODEL_WEIGHTS_H

#include <stddef.h>

#include "nn/model.h"

typedef enum cnnf_weights_format {
	CNNF_WEIGHTS_FLOAT32, /* "weights float32 COUNT": little-endian binary32 values */
	CNNF_WEIGHTS_TEXT,    /* "weights text COUNT": numbers as text */
	CNNF_WEIGHTS_INIT     /* "weights init": no values; the parameters are zeros */
} cnnf_weights_format;

/*
 * Read the weight section, the bytes [p, end) after the weights line, into a
 * new m->params and point the layers' weight, bias, mean and var into it.
 * The header is read and checked: m's layers, shapes and nparams are set and
 * the count on the weights line matched. line is the number of the line
 * after the weights line, name the file, both for messages. The amount of
 * data is checked before the parameters are allocated; then every value must
 * be a finite float32 and no batchnorm running_var negative. Returns 0 or -1.
 */
int cnnf_model_weights_read(cnnf_model *m, cnnf_weights_format format, const char *name,
                            const char *p, const char *end, long line);

/*
 * Set the message "NAME:LINE: ..." (or "NAME: ..." when line is 0) and
 * return -1: every error of a model file is reported through this.
 */
__attribute__((format(printf, 3, 4))) int cnnf_model_fail(const char *name, long line,
							  const char *fmt, ...);

/*
 * All of s[0..n) as a number in *out: strtod's syntax with '.' as the decimal
 * point whatever the locale. Returns 0, or -1 without a message when it is
 * not a number (the caller says what the number was for).
 */
int cnnf_model_number(const char *s, size_t n, double *out);

/*
 * The same as a float32: 0, -1 when it is not a number, -2 when it is not
 * finite as a float32 (NaN, infinite, or beyond FLT_MAX).
 */
int cnnf_model_float(const char *s, size_t n, float *out);

/*
 * s[0..n) as it may appear in a message: at most 40 bytes (not cutting a
 * UTF-8 sequence) and control bytes as '?', so that a file cannot put
 * terminal escapes into a message. Returns buf.
 */
const char *cnnf_model_shown(char buf[48], const char *s, size_t n);

#endif
