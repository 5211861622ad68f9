/* error.h: the one error buffer that library code fills and main.c prints. */
#ifndef CNNF_ERROR_H
#define CNNF_ERROR_H

/*
 * Library functions that fail return -1 (or NULL) and describe the failure
 * once, where it is found, with cnnf_error(). The message names the file
 * involved ("in.png: truncated IDAT") and has no "cnnf:" prefix and no
 * newline; main.c adds the prefix and prints it. A later call replaces the
 * message. The buffer is per thread.
 */
void cnnf_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The longest message kept, with its terminating NUL; longer ones are cut. */
#define CNNF_ERROR_MAX 1024

/* The current message, or "" when none has been set. Never NULL. */
const char *cnnf_error_get(void);

/* Forget the current message. */
void cnnf_error_clear(void);

#endif
