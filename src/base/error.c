/* error.c: the per-thread error buffer behind cnnf_error(). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char buffer[CNNF_ERROR_MAX];

void cnnf_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buffer, sizeof buffer, fmt, ap);
	va_end(ap);
}

const char *cnnf_error_get(void)
{
	return buffer;
}

void cnnf_error_clear(void)
{
	buffer[0] = '\0';
}
