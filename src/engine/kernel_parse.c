/* kernel_parse.c: kernel files: the cnnf text format (cnnf-kernel(5)) and libvips .mat. */
#include "engine/kernel.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"

/* A kernel file at most this large. */
#define MAX_FILE_BYTES ((size_t)64 << 20)
/* Longest number accepted: far more digits than a double can use. */
#define MAX_NUMBER_CHARS 255

/* ---- Shared by both text formats ---- */

/* Where a parser is, for messages that point at a line and column. */
typedef struct parser {
	const char *name;       /* file name, or what the text is called, for messages */
	const char *body;       /* the text after a UTF-8 byte order mark, if it had one */
	const char *p;          /* next character to read */
	const char *line_start; /* first character of the current line */
	long line;              /* 1-based number of the current line */
} parser;

static void parser_init(parser *ps, const char *text, const char *name)
{
	ps->name = name ? name : "kernel";
	/* Editors on Windows put a byte order mark first; it is no part of the text. */
	if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
	    (unsigned char)text[2] == 0xBF)
		text += 3;
	ps->body = text;
	ps->p = text;
	ps->line_start = text;
	ps->line = 1;
}

static const char *plural(long n)
{
	return n == 1 ? "" : "s";
}

static void newline(parser *ps)
{
	ps->p++;
	ps->line++;
	ps->line_start = ps->p;
}

static void vfail(const parser *ps, long line, long col, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	cnnf_error("%s:%ld:%ld: %s", ps->name, line, col, msg);
}

/* Report a problem at `at`, a character of the current line. */
static void fail(const parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(const parser *ps, const char *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(ps, ps->line, (long)(at - ps->line_start) + 1, fmt, ap);
	va_end(ap);
}

/*
 * Report a problem found at the end of the text. When the text ends with a
 * newline, point just after the last line's content rather than at an empty
 * line that an editor would not show.
 */
static void fail_at_end(const parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_at_end(const parser *ps, const char *fmt, ...)
{
	long line = ps->line, col = (long)(ps->p - ps->line_start) + 1;
	if (ps->p > ps->body && ps->p[-1] == '\n') {
		const char *end = ps->p - 1, *start = end;
		while (start > ps->body && start[-1] != '\n')
			start--;
		if (end > start && end[-1] == '\r')
			end--;
		line--;
		col = (long)(end - start) + 1;
	}
	va_list ap;
	va_start(ap, fmt);
	vfail(ps, line, col, fmt, ap);
	va_end(ap);
}

/*
 * A token as it may be shown in a message: at most 40 bytes (not cutting a
 * UTF-8 sequence), with control characters as '?' so that a message cannot
 * carry terminal escapes.
 */
static const char *shown(char buf[64], const char *tok, size_t len)
{
	size_t n = len;
	int cut = 0;
	if (n > 40) {
		n = 40;
		while (n > 0 && ((unsigned char)tok[n] & 0xC0) == 0x80)
			n--;
		cut = 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tok[i];
		buf[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
	}
	strcpy(buf + n, cut ? "..." : "");
	return buf;
}

/*
 * The number spelled by tok[0..len) in *out, or -1 with a message at tok.
 * strtod's syntax, but finite and decimal only: a kernel weight of inf or NaN
 * would poison every output sample, and hex floats are not what anyone types
 * by accident.
 */
static int number(const parser *ps, const char *tok, size_t len, double *out)
{
	char buf[MAX_NUMBER_CHARS + 1], show[64];
	if (len > MAX_NUMBER_CHARS) {
		fail(ps, tok, "'%s' is too long for a number", shown(show, tok, len));
		return -1;
	}
	memcpy(buf, tok, len);
	buf[len] = '\0';
	const char *s = buf + (buf[0] == '+' || buf[0] == '-');
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		fail(ps, tok, "'%s' is not a decimal number", shown(show, tok, len));
		return -1;
	}
	/*
	 * strtod reads the decimal point of the current locale; the file's is
	 * always '.'. Translate it, and refuse the locale's own character, which
	 * the C locale would not take either.
	 */
	const char *dp = localeconv()->decimal_point;
	int bad = len == 0 || isspace((unsigned char)buf[0]);
	if (!bad && dp[0] && dp[0] != '.' && !dp[1]) {
		bad = memchr(buf, dp[0], len) != NULL;
		for (char *q = buf; *q; q++)
			if (*q == '.')
				*q = dp[0];
	}
	char *end = buf;
	double v = bad ? 0 : strtod(buf, &end);
	if (bad || end == buf || *end) {
		fail(ps, tok, "'%s' is not a number", shown(show, tok, len));
		return -1;
	}
	if (!isfinite(v)) {
		fail(ps, tok, "'%s' is not a finite number", shown(show, tok, len));
		return -1;
	}
	*out = v;
	return 0;
}

/* Take ownership of parsed buffers as a kernel; frees them on failure. */
static cnnf_kernel *adopt(int count, int depth, int height, int width, double *weights, double *num,
                          double *den, double *bias, const char *name)
{
	cnnf_kernel *k = calloc(1, sizeof *k);
	if (!k) {
		free(weights);
		free(num);
		free(den);
		free(bias);
		cnnf_error("%s: out of memory", name);
		return NULL;
	}
	k->count = count;
	k->depth = depth;
	k->height = height;
	k->width = width;
	k->weights = weights;
	k->scale_num = num;
	k->scale_den = den;
	k->bias = bias;
	return k;
}

/* ---- The cnnf text format ---- */

/* What the cnnf parser has read so far. */
typedef struct reader {
	parser ps;
	double *w;                /* weights in file order, which is the kernel's index order */
	size_t nw, capw;          /* weights read, room for */
	double *num, *den, *bias; /* per filter; the last is the filter being read */
	int nf, capf;             /* filters begun, room for */
	int width;                /* numbers in a row; 0 until the first row is read */
	int height;               /* rows in a slice; 0 until the first slice ends */
	int depth;                /* slices in a filter; 0 until the first filter ends */
	int rows;                 /* rows of the slice being read */
	int slices;               /* slices of the filter being read that have ended */
	int filter_rows;          /* rows of the filter being read, all slices */
	long scale_line;          /* line of this filter's scale, 0 when it has none */
	long bias_line;           /* line of this filter's bias, 0 when it has none */
	char sep;                 /* the last separator seen: '-', '=' or 0 for none */
	long sep_line, sep_col;
} reader;

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Characters that end a logical line of the cnnf format. */
static int ends_line(char c)
{
	return c == '\0' || c == '\n' || c == ';' || c == '#';
}

static const char *skip_blank(const char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/* End of a token that starts at p. */
static const char *token_end(const char *p)
{
	while (!is_blank(*p) && *p != ',' && !ends_line(*p))
		p++;
	return p;
}

/* Whether p starts with the word w, followed by a blank or the end of the line. */
static int is_word(const char *p, const char *w)
{
	size_t n = strlen(w);
	return strncmp(p, w, n) == 0 && (is_blank(p[n]) || ends_line(p[n]));
}

static int begin_filter(reader *r)
{
	if (r->nf == r->capf) {
		int cap = r->capf ? 2 * r->capf : 4;
		double *num = realloc(r->num, (size_t)cap * sizeof *num);
		if (num)
			r->num = num;
		double *den = realloc(r->den, (size_t)cap * sizeof *den);
		if (den)
			r->den = den;
		double *bias = realloc(r->bias, (size_t)cap * sizeof *bias);
		if (bias)
			r->bias = bias;
		if (!num || !den || !bias) {
			cnnf_error("%s: out of memory", r->ps.name);
			return -1;
		}
		r->capf = cap;
	}
	r->num[r->nf] = 1;
	r->den[r->nf] = 1;
	r->bias[r->nf] = 0;
	r->nf++;
	r->slices = 0;
	r->rows = 0;
	r->filter_rows = 0;
	r->scale_line = 0;
	r->bias_line = 0;
	return 0;
}

static int push_weight(reader *r, const char *at, double v)
{
	if (r->nw == CNNF_KERNEL_MAX_WEIGHTS) {
		fail(&r->ps, at, "kernel has more than %llu weights", CNNF_KERNEL_MAX_WEIGHTS);
		return -1;
	}
	if (r->nw == r->capw) {
		size_t cap = r->capw ? 2 * r->capw : 64;
		if (cap > CNNF_KERNEL_MAX_WEIGHTS)
			cap = CNNF_KERNEL_MAX_WEIGHTS;
		double *w = realloc(r->w, cap * sizeof *w);
		if (!w) {
			cnnf_error("%s: out of memory", r->ps.name);
			return -1;
		}
		r->w = w;
		r->capw = cap;
	}
	r->w[r->nw++] = v;
	return 0;
}

/* A row of numbers at r->ps.p, up to the end of its logical line. */
static int read_row(reader *r)
{
	parser *ps = &r->ps;
	const char *p = ps->p, *last_end = p;
	int n = 0;
	if (r->height && r->rows == r->height) {
		fail(ps, p, "slice has more rows than the %d of the slices before", r->height);
		return -1;
	}
	if (r->rows == CNNF_KERNEL_MAX_DIM) {
		fail(ps, p, "slice has more than %d rows", CNNF_KERNEL_MAX_DIM);
		return -1;
	}
	for (;;) {
		if (*p == ',') {
			fail(ps, p, "',' where a number should be");
			return -1;
		}
		const char *tok = p;
		p = token_end(p);
		if (r->width && n == r->width) {
			int total = n;
			for (const char *q = tok; !ends_line(*q);) {
				total++;
				q = token_end(q);
				while (is_blank(*q) || *q == ',')
					q++;
			}
			fail(ps, tok, "row has %d numbers, the rows before have %d", total,
			     r->width);
			return -1;
		}
		if (n == CNNF_KERNEL_MAX_DIM) {
			fail(ps, tok, "row has more than %d numbers", CNNF_KERNEL_MAX_DIM);
			return -1;
		}
		double v;
		if (number(ps, tok, (size_t)(p - tok), &v) < 0 || push_weight(r, tok, v) < 0)
			return -1;
		n++;
		last_end = p;
		p = skip_blank(p);
		if (*p == ',') {
			const char *comma = p;
			p = skip_blank(p + 1);
			if (ends_line(*p)) {
				fail(ps, comma, "',' is not followed by a number");
				return -1;
			}
		} else if (ends_line(*p)) {
			break;
		}
	}
	if (r->width && n < r->width) {
		fail(ps, last_end, "row has %d number%s, the rows before have %d", n, plural(n),
		     r->width);
		return -1;
	}
	r->width = n;
	r->rows++;
	r->filter_rows++;
	ps->p = p;
	return 0;
}

/* A 'scale' or 'bias' line at r->ps.p. */
static int read_setting(reader *r, const char *word)
{
	parser *ps = &r->ps;
	const char *at = ps->p;
	int is_scale = word[0] == 's';
	long *seen = is_scale ? &r->scale_line : &r->bias_line;
	char show[64];
	if (r->filter_rows) {
		fail(ps, at, "'%s' must come before the first row of its filter", word);
		return -1;
	}
	if (*seen) {
		fail(ps, at, "second '%s' for this filter (the first is on line %ld)", word, *seen);
		return -1;
	}
	const char *tok = skip_blank(at + strlen(word));
	const char *end = token_end(tok);
	if (tok == end) {
		fail(ps, tok, "'%s' needs a number", word);
		return -1;
	}
	size_t len = (size_t)(end - tok);
	const char *slash = is_scale ? memchr(tok, '/', len) : NULL;
	int f = r->nf - 1;
	if (slash) {
		double num, den;
		if (slash == tok || slash + 1 == end) {
			fail(ps, tok, "'%s' is not a number or a fraction P/Q",
			     shown(show, tok, len));
			return -1;
		}
		if (number(ps, tok, (size_t)(slash - tok), &num) < 0 ||
		    number(ps, slash + 1, (size_t)(end - slash - 1), &den) < 0)
			return -1;
		if (den == 0) {
			fail(ps, slash + 1, "scale %s divides by zero", shown(show, tok, len));
			return -1;
		}
		if (!isfinite(num / den)) {
			fail(ps, tok, "scale %s is too large", shown(show, tok, len));
			return -1;
		}
		r->num[f] = num;
		r->den[f] = den;
	} else {
		double v;
		if (number(ps, tok, len, &v) < 0)
			return -1;
		if (is_scale)
			r->num[f] = v;
		else
			r->bias[f] = v;
	}
	const char *rest = skip_blank(end);
	if (!ends_line(*rest)) {
		const char *junk = token_end(rest);
		fail(ps, rest, "unexpected '%s' after the %s",
		     shown(show, rest, junk > rest ? (size_t)(junk - rest) : 1), word);
		return -1;
	}
	*seen = ps->line;
	ps->p = rest;
	return 0;
}

/*
 * The slice being read ends at a separator (sep '-' or '=', at ps->p) or at
 * the end of the text (sep 0).
 */
static int end_slice(reader *r, char sep)
{
	parser *ps = &r->ps;
	if (r->rows == 0) {
		if (sep)
			fail(ps, ps->p, "'%s' with no rows before it", sep == '-' ? "---" : "===");
		else if (!r->sep)
			cnnf_error("%s: no kernel rows", ps->name);
		else
			cnnf_error("%s:%ld:%ld: '%s' is not followed by any rows", ps->name,
			           r->sep_line, r->sep_col, r->sep == '-' ? "---" : "===");
		return -1;
	}
	if (!r->height) {
		r->height = r->rows;
	} else if (r->rows < r->height) {
		if (sep)
			fail(ps, ps->p, "slice has %d row%s, the slices before have %d", r->rows,
			     plural(r->rows), r->height);
		else
			fail_at_end(ps, "slice has %d row%s, the slices before have %d", r->rows,
			            plural(r->rows), r->height);
		return -1;
	}
	r->slices++;
	r->rows = 0;
	return 0;
}

/* The filter being read ends at a '===' (sep '=') or at the end of the text (sep 0). */
static int end_filter(reader *r, char sep)
{
	parser *ps = &r->ps;
	if (!r->depth) {
		r->depth = r->slices;
	} else if (r->slices < r->depth) {
		if (sep)
			fail(ps, ps->p, "filter has %d slice%s, the filters before have %d",
			     r->slices, plural(r->slices), r->depth);
		else
			fail_at_end(ps, "filter has %d slice%s, the filters before have %d",
			            r->slices, plural(r->slices), r->depth);
		return -1;
	}
	return 0;
}

/* A '---' or '===' line at r->ps.p. */
static int read_separator(reader *r, char sep)
{
	parser *ps = &r->ps;
	if (end_slice(r, sep) < 0)
		return -1;
	if (sep == '-') {
		if (r->depth && r->slices == r->depth) {
			fail(ps, ps->p, "filter has more slices than the %d of the filters before",
			     r->depth);
			return -1;
		}
		if (r->slices == CNNF_KERNEL_MAX_DIM) {
			fail(ps, ps->p, "filter has more than %d slices", CNNF_KERNEL_MAX_DIM);
			return -1;
		}
	} else {
		if (end_filter(r, sep) < 0)
			return -1;
		if (r->nf == CNNF_KERNEL_MAX_DIM) {
			fail(ps, ps->p, "bank has more than %d filters", CNNF_KERNEL_MAX_DIM);
			return -1;
		}
		if (begin_filter(r) < 0)
			return -1;
	}
	r->sep = sep;
	r->sep_line = ps->line;
	r->sep_col = (long)(ps->p - ps->line_start) + 1;
	const char *rest = skip_blank(ps->p + 3);
	if (!ends_line(*rest)) {
		char show[64];
		const char *end = token_end(rest);
		fail(ps, rest, "unexpected '%s' after '%s'",
		     shown(show, rest, end > rest ? (size_t)(end - rest) : 1),
		     sep == '-' ? "---" : "===");
		return -1;
	}
	ps->p = rest;
	return 0;
}

cnnf_kernel *cnnf_kernel_parse(const char *text, const char *name)
{
	assert(text);
	reader r = {0};
	parser *ps = &r.ps;
	parser_init(ps, text, name);
	if (begin_filter(&r) < 0)
		goto fail;
	for (;;) {
		ps->p = skip_blank(ps->p);
		char c = *ps->p;
		int err = 0;
		if (c == '\0') {
			break;
		} else if (c == '\n') {
			newline(ps);
		} else if (c == ';') {
			ps->p++;
		} else if (c == '#') {
			/* A comment runs to the end of the line, past any ';'. */
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		} else if (is_word(ps->p, "---")) {
			err = read_separator(&r, '-');
		} else if (is_word(ps->p, "===")) {
			err = read_separator(&r, '=');
		} else if (is_word(ps->p, "scale")) {
			err = read_setting(&r, "scale");
		} else if (is_word(ps->p, "bias")) {
			err = read_setting(&r, "bias");
		} else {
			err = read_row(&r);
		}
		if (err < 0)
			goto fail;
	}
	if (end_slice(&r, 0) < 0 || end_filter(&r, 0) < 0)
		goto fail;
	/* Give back what the doubling over-allocated; keep the larger block if that fails. */
	double *w = realloc(r.w, r.nw * sizeof *w);
	if (w)
		r.w = w;
	return adopt(r.nf, r.depth, r.height, r.width, r.w, r.num, r.den, r.bias, ps->name);
fail:
	free(r.w);
	free(r.num);
	free(r.den);
	free(r.bias);
	return NULL;
}

/* ---- libvips .mat ---- */

/* libvips separates the numbers of a .mat file with any mix of these. */
static int mat_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '"';
}

static const char *mat_skip(const char *p)
{
	while (mat_sep(*p))
		p++;
	return p;
}

static const char *mat_token_end(const char *p)
{
	while (*p && *p != '\n' && !mat_sep(*p))
		p++;
	return p;
}

/* Skip lines that hold only separators; ps->p ends at a line with content or at the end. */
static void mat_skip_blank_lines(parser *ps)
{
	for (;;) {
		const char *q = mat_skip(ps->p);
		if (*q != '\n') {
			ps->p = q;
			return;
		}
		ps->p = q;
		newline(ps);
	}
}

/* A header width or height: a whole number from 1 to CNNF_KERNEL_MAX_DIM. */
static int mat_size(const parser *ps, const char *tok, const char *end, const char *what, int *out)
{
	char show[64];
	double v;
	if (number(ps, tok, (size_t)(end - tok), &v) < 0)
		return -1;
	if (v != floor(v) || v < 1 || v > CNNF_KERNEL_MAX_DIM) {
		fail(ps, tok, "%s '%s' is not a whole number from 1 to %d", what,
		     shown(show, tok, (size_t)(end - tok)), CNNF_KERNEL_MAX_DIM);
		return -1;
	}
	*out = (int)v;
	return 0;
}

cnnf_kernel *cnnf_kernel_parse_mat(const char *text, const char *name)
{
	assert(text);
	parser ps;
	parser_init(&ps, text, name);
	char show[64];
	mat_skip_blank_lines(&ps);
	if (!*ps.p) {
		cnnf_error("%s: no matrix header (a .mat file starts with 'width height [scale "
		           "[offset]]')",
		           ps.name);
		return NULL;
	}

	/* Header: width height [scale [offset]]. */
	double head[4] = {0, 0, 1, 0};
	const char *at[4] = {NULL};
	int n = 0;
	const char *p = ps.p;
	while (*p && *p != '\n') {
		const char *end = mat_token_end(p);
		if (n == 4) {
			fail(&ps, p,
			     "unexpected '%s' after the header's width, height, scale "
			     "and offset",
			     shown(show, p, (size_t)(end - p)));
			return NULL;
		}
		at[n] = p;
		if (n >= 2 && number(&ps, p, (size_t)(end - p), &head[n]) < 0)
			return NULL;
		n++;
		p = mat_skip(end);
	}
	if (n < 2) {
		fail(&ps, p, "the header needs a width and a height");
		return NULL;
	}
	int width, height;
	if (mat_size(&ps, at[0], mat_token_end(at[0]), "width", &width) < 0 ||
	    mat_size(&ps, at[1], mat_token_end(at[1]), "height", &height) < 0)
		return NULL;
	if (n >= 3 && head[2] == 0) {
		fail(&ps, at[2], "scale is 0; the sum is divided by it");
		return NULL;
	}
	ps.p = p;

	/*
	 * The weights grow with the rows read, not with what the header claims:
	 * "4096 4096" alone does not get 128 MiB.
	 */
	double *w = NULL;
	size_t cap = 0, total = (size_t)height * width;
	int rows = 0;
	for (;;) {
		if (*ps.p == '\n')
			newline(&ps);
		mat_skip_blank_lines(&ps);
		if (!*ps.p)
			break;
		if (rows == height) {
			fail(&ps, ps.p, "more rows than the %d of the header", height);
			goto fail;
		}
		if ((size_t)(rows + 1) * width > cap) {
			size_t grown = cap ? 2 * cap : (size_t)width * 16;
			grown = grown > total ? total : grown;
			double *more = realloc(w, grown * sizeof *w);
			if (!more) {
				cnnf_error("%s: out of memory", ps.name);
				goto fail;
			}
			w = more;
			cap = grown;
		}
		double *row = w + (size_t)rows * width;
		const char *last_end = ps.p;
		int got = 0;
		for (p = ps.p; *p && *p != '\n'; p = mat_skip(p)) {
			const char *end = mat_token_end(p);
			if (got == width) {
				int total = got;
				for (const char *q = p; *q && *q != '\n';
				     q = mat_skip(mat_token_end(q)))
					total++;
				fail(&ps, p, "row has %d numbers, the header says %d", total,
				     width);
				goto fail;
			}
			if (number(&ps, p, (size_t)(end - p), &row[got]) < 0)
				goto fail;
			got++;
			p = last_end = end;
		}
		if (got < width) {
			fail(&ps, last_end, "row has %d number%s, the header says %d", got,
			     plural(got), width);
			goto fail;
		}
		rows++;
		ps.p = p;
	}
	if (rows < height) {
		fail_at_end(&ps, "the file has %d row%s, the header says %d", rows, plural(rows),
		            height);
		goto fail;
	}
	double *num = malloc(sizeof *num), *den = malloc(sizeof *den), *bias = malloc(sizeof *bias);
	if (!num || !den || !bias) {
		free(num);
		free(den);
		free(bias);
		cnnf_error("%s: out of memory", ps.name);
		goto fail;
	}
	*num = 1;
	*den = head[2];
	*bias = head[3];
	return adopt(1, 1, height, width, w, num, den, bias, ps.name);
fail:
	free(w);
	return NULL;
}

/* ---- Files ---- */

/* Whether path ends in ".mat", in any case. */
static int is_mat(const char *path)
{
	size_t n = strlen(path);
	if (n < 4)
		return 0;
	const char *ext = path + n - 4;
	return ext[0] == '.' && tolower((unsigned char)ext[1]) == 'm' &&
	       tolower((unsigned char)ext[2]) == 'a' && tolower((unsigned char)ext[3]) == 't';
}

/* The whole file in a NUL-terminated buffer; NULL with a message. */
static char *read_text(const char *path)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) == 0) {
		/* Refuse before reading: a directory reads as an error on some systems, as nothing
		 * on others. */
		if (S_ISDIR(st.st_mode)) {
			cnnf_error("%s: %s", path, strerror(EISDIR));
			goto fail;
		}
		if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > MAX_FILE_BYTES)
			goto too_large;
	}
	for (;;) {
		if (len == cap) {
			/* One byte beyond the limit tells a file at the limit from one over it. */
			size_t want = cap ? 2 * cap : 4096;
			if (want > MAX_FILE_BYTES + 1)
				want = MAX_FILE_BYTES + 1;
			char *grown = realloc(buf, want + 1);
			if (!grown) {
				cnnf_error("%s: out of memory", path);
				goto fail;
			}
			buf = grown;
			cap = want;
		}
		errno = 0;
		size_t got = fread(buf + len, 1, cap - len, fp);
		len += got;
		/* A NUL byte ends the reading: the file is refused for it below, not read to the limit. */
		if (memchr(buf + len - got, '\0', got))
			break;
		if (len > MAX_FILE_BYTES)
			goto too_large;
		if (got == 0) {
			if (ferror(fp)) {
				cnnf_error("%s: %s", path, errno ? strerror(errno) : "read error");
				goto fail;
			}
			break;
		}
	}
	fclose(fp);
	buf[len] = '\0';
	const char *nul = memchr(buf, '\0', len);
	if (nul) {
		/* Count as the parser would, so the position matches an editor's. */
		long line = 1;
		const char *start = buf;
		if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 && nul >= buf + 3)
			start = buf + 3;
		for (const char *q = start; q < nul; q++)
			if (*q == '\n') {
				line++;
				start = q + 1;
			}
		cnnf_error("%s:%ld:%ld: NUL byte; a kernel file is text", path, line,
		           (long)(nul - start) + 1);
		free(buf);
		return NULL;
	}
	return buf;
too_large:
	cnnf_error("%s: larger than %zu MiB; not a kernel file", path, MAX_FILE_BYTES >> 20);
fail:
	fclose(fp);
	free(buf);
	return NULL;
}

cnnf_kernel *cnnf_kernel_load(const char *path)
{
	char *text = read_text(path);
	if (!text)
		return NULL;
	cnnf_kernel *k =
	    is_mat(path) ? cnnf_kernel_parse_mat(text, path) : cnnf_kernel_parse(text, path);
	free(text);
	return k;
}

