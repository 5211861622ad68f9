/* model.c: the cnnf-model(5) file: the header, layer shapes and limits; loading and freeing. */
#include "nn/model.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "engine/kernel.h"
#include "nn/model_weights.h"

/*
 * Caps checked as the header is read, before anything is allocated for what
 * they bound: channels, outputs, input sides, kernels, strides, pads and
 * dilations at most MAX_SIZE; at most MAX_LAYERS layers. Sizes derived from
 * them are computed in 64 bits with saturating arithmetic, so a product that
 * does not fit fails every limit instead of wrapping around.
 */
#define MAX_SIZE        65536
#define MAX_LAYERS      4096
#define MAX_LABEL_BYTES 255
/*
 * A model file is at most MAX_FILE_BYTES, and at most the header allowance
 * plus TEXT_BYTES_PER_VALUE for each parameter the limits allow: room for
 * "%.9g" text weights with comments, and 8 times what float32 needs.
 */
#define MAX_FILE_BYTES       ((size_t)1 << 31)
#define HEADER_BYTES         ((size_t)16 << 20)
#define TEXT_BYTES_PER_VALUE 32

/* What each layer keyword is called and the keys it takes, in the order the parser reads them. */
static const struct {
	const char *name;
	const char *keys[6]; /* NULL-terminated */
} kinds[] = {
    [CNNF_LAYER_CONV] = {"conv", {"out", "kernel", "stride", "pad", "dilation", NULL}},
    [CNNF_LAYER_RELU] = {"relu", {NULL}},
    [CNNF_LAYER_MAXPOOL] = {"maxpool", {"kernel", "stride", NULL}},
    [CNNF_LAYER_AVGPOOL] = {"avgpool", {"kernel", "stride", NULL}},
    [CNNF_LAYER_BATCHNORM] = {"batchnorm", {"eps", NULL}},
    [CNNF_LAYER_DROPOUT] = {"dropout", {"p", NULL}},
    [CNNF_LAYER_FC] = {"fc", {"out", NULL}},
    [CNNF_LAYER_SOFTMAX] = {"softmax", {NULL}},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

/* A piece of the buffer; not NUL-terminated, since the buffer need not be. */
typedef struct span {
	const char *s;
	size_t n;
} span;

/* Where the parser is and what it has read. */
typedef struct reader {
	const char *name;    /* the file, for messages */
	const char *p, *end; /* the rest of the buffer */
	long line;           /* number of the line last read, 1-based */
	size_t max_params;   /* from the limits */
	size_t max_act;      /* from the limits */
	cnnf_model *m;       /* the model being built; its layers grow as lines are read */
	int cap;             /* room in m->layers */
	long input_line;     /* line of 'input', 0 until seen */
	long labels_line;    /* line of 'labels', 0 until seen */
	span labels;         /* the names after 'labels' */
	int nlabels;         /* how many there are */
	uint64_t nparams;    /* parameters of the layers read so far */
} reader;

/* a * b, or UINT64_MAX when it does not fit: a size that large fails every limit anyway. */
static uint64_t mul(uint64_t a, uint64_t b)
{
	return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static uint64_t add(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* Whether a saturated count n is over limit (a saturated one always is). */
static int over(uint64_t n, size_t limit)
{
	return n == UINT64_MAX || n > limit;
}

static int is(span t, const char *word)
{
	size_t n = strlen(word);
	return t.n == n && memcmp(t.s, word, n) == 0;
}

/* Blanks separate words; '\r' among them so that CRLF files read the same. */
static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const char *shown(char buf[48], span t)
{
	return cnnf_model_shown(buf, t.s, t.n);
}

/* The next blank-separated word of *rest in *tok; 0 when there is none. */
static int next_token(span *rest, span *tok)
{
	const char *p = rest->s, *end = rest->s + rest->n;
	while (p < end && blank(*p))
		p++;
	tok->s = p;
	while (p < end && !blank(*p))
		p++;
	tok->n = (size_t)(p - tok->s);
	rest->s = p;
	rest->n = (size_t)(end - p);
	return tok->n > 0;
}

/* The next header line, without its comment, in *out; 0 at the end of the buffer. */
static int next_line(reader *r, span *out)
{
	if (r->p == r->end)
		return 0;
	const char *s = r->p;
	const char *nl = memchr(s, '\n', (size_t)(r->end - s));
	const char *e = nl ? nl : r->end;
	r->p = nl ? nl + 1 : r->end;
	r->line++;
	const char *hash = memchr(s, '#', (size_t)(e - s));
	out->s = s;
	out->n = (size_t)((hash ? hash : e) - s);
	return 1;
}

/* All of t as a whole number from lo to hi in *out; -1 without a message when it is not one. */
static int parse_int(span t, int lo, int hi, int *out)
{
	char buf[24];
	if (t.n == 0 || t.n >= sizeof buf || !isdigit((unsigned char)t.s[0]))
		return -1;
	memcpy(buf, t.s, t.n);
	buf[t.n] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno || end != buf + t.n || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Split the rest of a line into key=value words. keys is NULL-terminated;
 * vals[i] becomes the value of keys[i], or has s == NULL when it is absent.
 */
static int read_keys(const reader *r, const char *word, span rest, const char *const *keys,
                     span *vals)
{
	char a[48];
	int nkeys = 0;
	while (keys[nkeys])
		vals[nkeys++] = (span){NULL, 0};
	span tok;
	while (next_token(&rest, &tok)) {
		const char *eq = memchr(tok.s, '=', tok.n);
		if (!nkeys)
			return cnnf_model_fail(r->name, r->line, "%s: unexpected '%s' (%s takes no keys)", word,
			            shown(a, tok), word);
		if (!eq || eq == tok.s || eq == tok.s + tok.n - 1)
			return cnnf_model_fail(r->name, r->line,
			            "%s: '%s' is not key=value (no blanks around the '=')", word,
			            shown(a, tok));
		span key = {tok.s, (size_t)(eq - tok.s)};
		int i = 0;
		while (i < nkeys && !is(key, keys[i]))
			i++;
		if (i == nkeys) {
			char list[96] = "";
			for (int k = 0; k < nkeys; k++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				         k ? ", " : "", keys[k]);
			return cnnf_model_fail(r->name, r->line, "%s: unknown key '%s' (it takes %s)", word,
			            shown(a, key), list);
		}
		if (vals[i].s)
			return cnnf_model_fail(r->name, r->line, "%s: '%s' is given twice", word, keys[i]);
		vals[i] = (span){eq + 1, (size_t)(tok.s + tok.n - eq - 1)};
	}
	return 0;
}

/* A whole-number key from lo to MAX_SIZE; def when absent, or required when def < 0. */
static int int_key(const reader *r, const char *word, const char *key, span v, int lo, int def,
                   int *out)
{
	char a[48];
	if (!v.s) {
		if (def < 0)
			return cnnf_model_fail(r->name, r->line, "%s: needs %s=N", word, key);
		*out = def;
		return 0;
	}
	if (parse_int(v, lo, MAX_SIZE, out) < 0)
		return cnnf_model_fail(r->name, r->line, "%s: %s=%s is not a whole number from %d to %d", word, key,
		            shown(a, v), lo, MAX_SIZE);
	return 0;
}

/* A real-number key; def when absent. */
static int real_key(const reader *r, const char *word, const char *key, span v, double def,
                    double *out)
{
	char a[48];
	if (!v.s) {
		*out = def;
		return 0;
	}
	if (cnnf_model_number(v.s, v.n, out) < 0 || !isfinite(*out))
		return cnnf_model_fail(r->name, r->line, "%s: %s=%s is not a finite number", word, key, shown(a, v));
	return 0;
}

/* The c x h x w activations of a layer's input or output, checked against the limits. */
static int check_size(const reader *r, const char *word, const char *what, uint64_t c, uint64_t h,
                      uint64_t w)
{
	if (h > INT_MAX || w > INT_MAX || over(mul(mul(c, h), w), r->max_act))
		return cnnf_model_fail(r->name, r->line,
		            "%s: the %s %llux%llux%llu is more than the %zu values a "
		            "layer may hold (see --max-activations)",
		            word, what, (unsigned long long)c, (unsigned long long)h,
		            (unsigned long long)w, r->max_act);
	return 0;
}

/* A mean= or std= list: one value for all channels or one per channel, into vals[channels]. */
static int read_list(const reader *r, const char *key, span v, float def, float *vals)
{
	char a[48];
	int c = r->m->channels, is_std = key[0] == 's';
	if (!v.s) {
		for (int i = 0; i < c; i++)
			vals[i] = def;
		return 0;
	}
	size_t n = 1;
	for (size_t i = 0; i < v.n; i++)
		n += v.s[i] == ',';
	if (n != 1 && n != (size_t)c && c == 1)
		return cnnf_model_fail(r->name, r->line, "input: %s has %zu values for 1 channel", key, n);
	if (n != 1 && n != (size_t)c)
		return cnnf_model_fail(r->name, r->line, "input: %s has %zu values for %d channels (give 1 or %d)",
		            key, n, c, c);
	const char *p = v.s, *end = v.s + v.n;
	for (size_t i = 0; i < n; i++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		span item = {p, (size_t)((comma ? comma : end) - p)};
		int rc = cnnf_model_float(item.s, item.n, &vals[i]);
		if (rc == -1)
			return cnnf_model_fail(r->name, r->line, "input: %s value '%s' is not a number", key,
			            shown(a, item));
		/* A std that is zero as a float32 would divide by zero. */
		if (rc < 0 || (is_std && vals[i] == 0))
			return cnnf_model_fail(r->name, r->line, "input: %s value %s is not a finite%s float32", key,
			            shown(a, item), is_std ? " nonzero" : "");
		p += item.n + 1;
	}
	for (int i = (int)n; i < c; i++)
		vals[i] = vals[0];
	return 0;
}

/* "input": the patch's shape and normalisation. */
static int read_input(reader *r, span rest)
{
	static const char *const keys[] = {"channels", "height", "width", "mean", "std", NULL};
	cnnf_model *m = r->m;
	span v[5];
	if (r->input_line)
		return cnnf_model_fail(r->name, r->line, "input: a second 'input' line (the first is line %ld)",
		            r->input_line);
	if (read_keys(r, "input", rest, keys, v) < 0 ||
	    int_key(r, "input", "channels", v[0], 1, -1, &m->channels) < 0 ||
	    int_key(r, "input", "height", v[1], 1, -1, &m->height) < 0 ||
	    int_key(r, "input", "width", v[2], 1, -1, &m->width) < 0 ||
	    check_size(r, "input", "input", (uint64_t)m->channels, (uint64_t)m->height,
	               (uint64_t)m->width) < 0)
		return -1;
	m->mean = malloc((size_t)m->channels * sizeof *m->mean);
	m->std = malloc((size_t)m->channels * sizeof *m->std);
	if (!m->mean || !m->std)
		return cnnf_model_fail(r->name, 0, "out of memory");
	if (read_list(r, "mean", v[3], 0, m->mean) < 0 || read_list(r, "std", v[4], 1, m->std) < 0)
		return -1;
	r->input_line = r->line;
	return 0;
}

/* "labels": checked now, copied once the whole header has been checked. */
static int read_labels(reader *r, span rest)
{
	char a[48];
	if (r->labels_line)
		return cnnf_model_fail(r->name, r->line, "labels: a second 'labels' line (the first is line %ld)",
		            r->labels_line);
	if (r->m->nlayers)
		return cnnf_model_fail(r->name, r->line, "labels: must come before the layers");
	r->labels = rest;
	r->nlabels = 0;
	span tok;
	while (next_token(&rest, &tok)) {
		if (r->nlabels == MAX_SIZE)
			return cnnf_model_fail(r->name, r->line, "labels: more than %d names", MAX_SIZE);
		if (tok.n > MAX_LABEL_BYTES)
			return cnnf_model_fail(r->name, r->line, "labels: '%s' is longer than %d bytes",
			            shown(a, tok), MAX_LABEL_BYTES);
		/* Names are printed and written into files; no control characters. */
		for (size_t i = 0; i < tok.n; i++)
			if ((unsigned char)tok.s[i] < 0x20 || tok.s[i] == 0x7F)
				return cnnf_model_fail(r->name, r->line, "labels: '%s' has a control character",
				            shown(a, tok));
		r->nlabels++;
	}
	if (!r->nlabels)
		return cnnf_model_fail(r->name, r->line, "labels: no names");
	r->labels_line = r->line;
	return 0;
}

/* conv's keys and output shape. */
static int conv_shape(const reader *r, cnnf_layer *L, const span *v)
{
	char a[48];
	if (int_key(r, "conv", "out", v[0], 1, -1, &L->out) < 0)
		return -1;
	if (!v[1].s)
		return cnnf_model_fail(r->name, r->line, "conv: needs kernel=K or kernel=KHxKW");
	const char *x = memchr(v[1].s, 'x', v[1].n);
	span kh = v[1], kw = v[1];
	if (x) {
		kh.n = (size_t)(x - v[1].s);
		kw.s = x + 1;
		kw.n = v[1].n - kh.n - 1;
	}
	if (parse_int(kh, 1, MAX_SIZE, &L->kh) < 0 || parse_int(kw, 1, MAX_SIZE, &L->kw) < 0)
		return cnnf_model_fail(r->name, r->line, "conv: kernel=%s is not K or KHxKW with sides from 1 to %d",
		            shown(a, v[1]), MAX_SIZE);
	if (int_key(r, "conv", "stride", v[2], 1, 1, &L->stride) < 0 ||
	    int_key(r, "conv", "pad", v[3], 0, 0, &L->pad) < 0 ||
	    int_key(r, "conv", "dilation", v[4], 1, 1, &L->dilation) < 0)
		return -1;
	/* The window a dilated kernel spans, and the padded input it slides over. */
	uint64_t sh = (uint64_t)L->dilation * (uint64_t)(L->kh - 1) + 1;
	uint64_t sw = (uint64_t)L->dilation * (uint64_t)(L->kw - 1) + 1;
	uint64_t nh = (uint64_t)L->in_h + 2 * (uint64_t)L->pad;
	uint64_t nw = (uint64_t)L->in_w + 2 * (uint64_t)L->pad;
	if (sh > nh || sw > nw) {
		char k[96];
		int n = L->kh == L->kw ? snprintf(k, sizeof k, "%d", L->kh)
		                       : snprintf(k, sizeof k, "%dx%d", L->kh, L->kw);
		if (L->dilation > 1)
			snprintf(k + n, sizeof k - (size_t)n,
			         " at dilation %d (spanning %llux%llu)", L->dilation,
			         (unsigned long long)sh, (unsigned long long)sw);
		return cnnf_model_fail(r->name, r->line, "conv: kernel %s does not fit the %dx%d input (pad %d)", k,
		            L->in_h, L->in_w, L->pad);
	}
	uint64_t oh = (nh - sh) / (uint64_t)L->stride + 1, ow = (nw - sw) / (uint64_t)L->stride + 1;
	if (check_size(r, "conv", "output", (uint64_t)L->out, oh, ow) < 0)
		return -1;
	L->out_c = L->out;
	L->out_h = (int)oh;
	L->out_w = (int)ow;
	return 0;
}

/* maxpool's and avgpool's keys and output shape. */
static int pool_shape(const reader *r, const char *word, cnnf_layer *L, const span *v)
{
	int k;
	if (int_key(r, word, "kernel", v[0], 1, -1, &k) < 0 ||
	    int_key(r, word, "stride", v[1], 1, k, &L->stride) < 0)
		return -1;
	if (k > L->in_h || k > L->in_w)
		return cnnf_model_fail(r->name, r->line, "%s: kernel %d does not fit the %dx%d input", word, k,
		            L->in_h, L->in_w);
	L->kh = L->kw = k;
	L->dilation = 1;
	L->out_h = (L->in_h - k) / L->stride + 1;
	L->out_w = (L->in_w - k) / L->stride + 1;
	return 0;
}

/*
 * The forward pass runs a conv or fc layer as a kernel bank (net.c): a layer
 * beyond what cnnf_kernel_new() takes is refused here, where the file and line
 * can be named, rather than when the model is run.
 */
static int check_bank(const reader *r, const char *word, const cnnf_layer *L)
{
	int fc = L->type == CNNF_LAYER_FC;
	uint64_t kh = (uint64_t)(fc ? L->in_h : L->kh), kw = (uint64_t)(fc ? L->in_w : L->kw);
	uint64_t n = mul(mul((uint64_t)L->out, (uint64_t)L->in_c), mul(kh, kw));
	if (L->out <= CNNF_KERNEL_MAX_DIM && L->in_c <= CNNF_KERNEL_MAX_DIM &&
	    kh <= CNNF_KERNEL_MAX_DIM && kw <= CNNF_KERNEL_MAX_DIM && !over(n, CNNF_KERNEL_MAX_WEIGHTS))
		return 0;
	return cnnf_model_fail(r->name, r->line,
	            "%s: %d filters of %dx%llux%llu (in x height x width) are more than a layer "
	            "may have: each at most %d, at most %llu weights",
	            word, L->out, L->in_c, (unsigned long long)kh, (unsigned long long)kw,
	            CNNF_KERNEL_MAX_DIM, CNNF_KERNEL_MAX_WEIGHTS);
}

/* A layer line: its keys, its shapes from the layer before, its parameter count. */
static int read_layer(reader *r, cnnf_layer_type t, span rest)
{
	cnnf_model *m = r->m;
	const char *word = kinds[t].name;
	span v[5];
	if (!r->input_line)
		return cnnf_model_fail(r->name, r->line, "%s: the 'input' line must come before the first layer",
		            word);
	if (m->nlayers && m->layers[m->nlayers - 1].type == CNNF_LAYER_SOFTMAX)
		return cnnf_model_fail(r->name, m->layers[m->nlayers - 1].line,
		            "softmax: must be the last layer, but line %ld has %s", r->line, word);
	if (read_keys(r, word, rest, kinds[t].keys, v) < 0)
		return -1;
	cnnf_layer L = {.type = t, .line = r->line > INT_MAX ? INT_MAX : (int)r->line};
	const cnnf_layer *prev = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
	L.in_c = L.out_c = prev ? prev->out_c : m->channels;
	L.in_h = L.out_h = prev ? prev->out_h : m->height;
	L.in_w = L.out_w = prev ? prev->out_w : m->width;
	uint64_t in = mul(mul((uint64_t)L.in_c, (uint64_t)L.in_h), (uint64_t)L.in_w);
	uint64_t n = 0;
	switch (t) {
	case CNNF_LAYER_CONV:
		if (conv_shape(r, &L, v) < 0)
			return -1;
		n = add(mul(mul((uint64_t)L.out, (uint64_t)L.in_c),
		            mul((uint64_t)L.kh, (uint64_t)L.kw)),
		        (uint64_t)L.out);
		break;
	case CNNF_LAYER_MAXPOOL:
	case CNNF_LAYER_AVGPOOL:
		if (pool_shape(r, word, &L, v) < 0)
			return -1;
		break;
	case CNNF_LAYER_BATCHNORM:
		if (real_key(r, word, "eps", v[0], 1e-5, &L.eps) < 0)
			return -1;
		if (!(L.eps > 0))
			return cnnf_model_fail(r->name, r->line, "batchnorm: eps=%g must be greater than 0", L.eps);
		n = 4 * (uint64_t)L.in_c;
		break;
	case CNNF_LAYER_DROPOUT:
		if (real_key(r, word, "p", v[0], 0.5, &L.p) < 0)
			return -1;
		if (!(L.p >= 0 && L.p < 1))
			return cnnf_model_fail(r->name, r->line, "dropout: p=%g is not from 0 to below 1", L.p);
		break;
	case CNNF_LAYER_FC:
		if (int_key(r, word, "out", v[0], 1, -1, &L.out) < 0 ||
		    check_size(r, word, "output", (uint64_t)L.out, 1, 1) < 0)
			return -1;
		L.out_c = L.out;
		L.out_h = L.out_w = 1;
		n = add(mul((uint64_t)L.out, in), (uint64_t)L.out);
		break;
	case CNNF_LAYER_RELU:
	case CNNF_LAYER_SOFTMAX:
		break;
	}
	uint64_t total = add(r->nparams, n);
	if (over(total, r->max_params)) {
		char count[32] = "more than 2^64";
		if (total != UINT64_MAX)
			snprintf(count, sizeof count, "%llu", (unsigned long long)total);
		return cnnf_model_fail(r->name, r->line,
		            "%s: the layers up to here need %s parameters; at most %zu are allowed",
		            word, count, r->max_params);
	}
	if ((t == CNNF_LAYER_CONV || t == CNNF_LAYER_FC) && check_bank(r, word, &L) < 0)
		return -1;
	if (m->nlayers == MAX_LAYERS)
		return cnnf_model_fail(r->name, r->line, "%s: more than %d layers", word, MAX_LAYERS);
	if (m->nlayers == r->cap) {
		int cap = r->cap ? 2 * r->cap : 16;
		cnnf_layer *grown = realloc(m->layers, (size_t)cap * sizeof *grown);
		if (!grown)
			return cnnf_model_fail(r->name, 0, "out of memory");
		m->layers = grown;
		r->cap = cap;
	}
	L.nparams = (size_t)n;
	r->nparams = total;
	m->layers[m->nlayers++] = L;
	return 0;
}

/* "cnnf-model 1", the first line that is not blank or a comment. */
static int read_magic(const reader *r, int found, span line)
{
	char a[48];
	span word, version, extra;
	if (!found || !next_token(&line, &word))
		return cnnf_model_fail(r->name, 0, "empty: a model file starts with 'cnnf-model 1'");
	if (!is(word, "cnnf-model"))
		return cnnf_model_fail(r->name, r->line,
		            "not a cnnf model file: it must start with 'cnnf-model 1', not '%s'",
		            shown(a, word));
	if (!next_token(&line, &version))
		return cnnf_model_fail(r->name, r->line,
		            "cnnf-model: no version (the first line is 'cnnf-model 1')");
	if (!is(version, "1"))
		return cnnf_model_fail(r->name, r->line, "unsupported model version %s", shown(a, version));
	if (next_token(&line, &extra))
		return cnnf_model_fail(r->name, r->line, "cnnf-model: unexpected '%s' after the version",
		            shown(a, extra));
	return 0;
}

/* One header line other than the magic and weights lines; word is its first word. */
static int read_line(reader *r, span word, span rest)
{
	char a[48];
	if (is(word, "input"))
		return read_input(r, rest);
	if (is(word, "labels"))
		return read_labels(r, rest);
	for (int t = 0; t < NKINDS; t++)
		if (is(word, kinds[t].name))
			return read_layer(r, (cnnf_layer_type)t, rest);
	if (is(word, "cnnf-model"))
		return cnnf_model_fail(r->name, r->line, "cnnf-model: only the first line may say it");
	return cnnf_model_fail(r->name, r->line, "unknown keyword '%s'", shown(a, word));
}

/* What the whole header must satisfy, checked once the weights line is reached. */
static int check_network(reader *r, long weights_line)
{
	cnnf_model *m = r->m;
	if (!r->input_line)
		return cnnf_model_fail(r->name, weights_line, "weights: no 'input' line before it");
	if (!m->nlayers)
		return cnnf_model_fail(r->name, weights_line, "weights: no layers before it; a model needs one");
	const cnnf_layer *L = &m->layers[m->nlayers - 1];
	const char *word = kinds[L->type].name;
	if (L->out_h != 1 || L->out_w != 1)
		return cnnf_model_fail(r->name, L->line,
		            "%s: the network's output is %dx%dx%d; it must be K x 1 x 1 "
		            "(one score for each of K classes)",
		            word, L->out_c, L->out_h, L->out_w);
	if (L->out_c < 2)
		return cnnf_model_fail(r->name, L->line, "%s: the network's output has 1 class; it needs at least 2",
		            word);
	m->classes = L->out_c;
	if (r->labels_line && r->nlabels != m->classes)
		return cnnf_model_fail(r->name, r->labels_line, "labels: %d name%s for the %d classes of the output",
		            r->nlabels, r->nlabels == 1 ? "" : "s", m->classes);
	return 0;
}

/* The names of the labels line, copied into the model. */
static int make_labels(reader *r)
{
	cnnf_model *m = r->m;
	if (!r->labels_line)
		return 0;
	m->labels = calloc((size_t)r->nlabels, sizeof *m->labels);
	if (!m->labels)
		return cnnf_model_fail(r->name, 0, "out of memory");
	span rest = r->labels, tok;
	while (next_token(&rest, &tok)) {
		char *s = malloc(tok.n + 1);
		if (!s)
			return cnnf_model_fail(r->name, 0, "out of memory");
		memcpy(s, tok.s, tok.n);
		s[tok.n] = '\0';
		m->labels[m->nlabels++] = s;
	}
	return 0;
}

/* The weights line (the words after "weights" in rest) and everything after it. */
static int read_weights(reader *r, span rest)
{
	cnnf_model *m = r->m;
	char a[48], b[48];
	span format, count, extra;
	cnnf_weights_format f;
	if (!next_token(&rest, &format))
		return cnnf_model_fail(r->name, r->line, "weights: needs float32 COUNT, text COUNT or init");
	if (is(format, "float32"))
		f = CNNF_WEIGHTS_FLOAT32;
	else if (is(format, "text"))
		f = CNNF_WEIGHTS_TEXT;
	else if (is(format, "init"))
		f = CNNF_WEIGHTS_INIT;
	else
		return cnnf_model_fail(r->name, r->line, "weights: unknown format '%s' (float32, text or init)",
		            shown(a, format));
	if (f != CNNF_WEIGHTS_INIT && !next_token(&rest, &count))
		return cnnf_model_fail(r->name, r->line, "weights: %s needs the number of values", shown(a, format));
	if (next_token(&rest, &extra))
		return cnnf_model_fail(r->name, r->line, "weights: unexpected '%s' after '%s'", shown(a, extra),
		            shown(b, f == CNNF_WEIGHTS_INIT ? format : count));
	m->nparams = (size_t)r->nparams;
	m->weights_init = f == CNNF_WEIGHTS_INIT;
	if (f != CNNF_WEIGHTS_INIT) {
		char buf[24];
		int digits = count.n < sizeof buf;
		for (size_t i = 0; digits && i < count.n; i++)
			digits = isdigit((unsigned char)count.s[i]);
		if (!digits)
			return cnnf_model_fail(r->name, r->line, "weights: count '%s' is not a whole number",
			            shown(a, count));
		memcpy(buf, count.s, count.n);
		buf[count.n] = '\0';
		errno = 0;
		unsigned long long said = strtoull(buf, NULL, 10);
		if (errno || said != r->nparams)
			return cnnf_model_fail(r->name, r->line,
			            "weights: the layers need %zu values, the file says %s",
			            m->nparams, shown(a, count));
	}
	return cnnf_model_weights_read(m, f, r->name, r->p, r->end, r->line + 1);
}

/* ---- Public ---- */

void cnnf_model_limits_init(cnnf_model_limits *l)
{
	l->max_params = (size_t)1 << 28;
	l->max_activations = (size_t)1 << 26;
}

cnnf_model *cnnf_model_parse(const char *buf, size_t len, const char *name,
                             const cnnf_model_limits *limits)
{
	cnnf_model_limits def;
	if (!limits) {
		cnnf_model_limits_init(&def);
		limits = &def;
	}
	reader r = {.name = name ? name : "model",
	            .p = buf ? buf : "",
	            .max_params = limits->max_params,
	            .max_act = limits->max_activations};
	r.end = r.p + (buf ? len : 0);
	/* Editors on Windows may put a byte order mark first; it is no part of the text. */
	if (r.end - r.p >= 3 && memcmp(r.p, "\xEF\xBB\xBF", 3) == 0)
		r.p += 3;
	cnnf_model *m = calloc(1, sizeof *m);
	if (!m) {
		cnnf_error("%s: out of memory", r.name);
		return NULL;
	}
	r.m = m;
	span line = {NULL, 0}, probe, word;
	int found;
	do {
		found = next_line(&r, &line);
		probe = line;
	} while (found && !next_token(&probe, &word));
	if (read_magic(&r, found, line) < 0)
		goto fail;
	for (;;) {
		if (!next_line(&r, &line)) {
			cnnf_model_fail(r.name, 0,
			     "no 'weights' line: the header ends with 'weights float32 "
			     "COUNT', 'weights text COUNT' or 'weights init'");
			goto fail;
		}
		if (!next_token(&line, &word))
			continue;
		if (is(word, "weights"))
			break;
		if (read_line(&r, word, line) < 0)
			goto fail;
	}
	if (check_network(&r, r.line) < 0 || read_weights(&r, line) < 0 || make_labels(&r) < 0)
		goto fail;
	return m;
fail:
	cnnf_model_free(m);
	return NULL;
}

/* The largest file the limits allow: the header and up to 32 bytes of text per value. */
static size_t file_limit(const cnnf_model_limits *l)
{
	uint64_t n = add(HEADER_BYTES, mul(l->max_params, TEXT_BYTES_PER_VALUE));
	return n > MAX_FILE_BYTES ? MAX_FILE_BYTES : (size_t)n;
}

/*
 * Whether the first len bytes of a file can begin a model: blank and comment
 * lines, then "cnnf-model". 0 only when they cannot: a NUL byte, or another
 * line, before the magic; a short start that could still be one is 1.
 */
static int could_be_model(const char *buf, size_t len)
{
	size_t i = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	while (i < len) {
		while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
			i++;
		if (i == len)
			return 1;
		if (buf[i] != '#') {
			size_t n = len - i < 10 ? len - i : 10;
			return memcmp(buf + i, "cnnf-model", n) == 0;
		}
		while (i < len && buf[i] != '\n')
			if (buf[i++] == '\0')
				return 0;
	}
	return 1;
}

/* The whole file at path in *out (owned, *len bytes), refusing one larger than max. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = NULL;
	size_t len = 0, cap = (size_t)64 << 10;
	int rc = -1, stream = 1;
	struct stat st;
	if (fstat(fileno(fp), &st) == 0) {
		/* A directory reads as an error on some systems, as nothing on others. */
		if (S_ISDIR(st.st_mode)) {
			cnnf_error("%s: %s", path, strerror(EISDIR));
			goto out;
		}
		if (S_ISREG(st.st_mode)) {
			stream = 0;
			if ((unsigned long long)st.st_size > max)
				goto too_large;
			/* One byte more than the file, to see it end without growing the buffer. */
			cap = (size_t)st.st_size + 1;
		}
	}
	if (cap > max + 1)
		cap = max + 1;
	for (;;) {
		char *grown = realloc(buf, cap);
		if (!grown) {
			cnnf_error("%s: out of memory", path);
			goto out;
		}
		buf = grown;
		errno = 0;
		size_t before = len;
		len += fread(buf + len, 1, cap - len, fp);
		/*
		 * A stream's size is not known: one that does not begin as a model
		 * (/dev/zero, a photo) is refused from its first bytes, not after
		 * gigabytes of it.
		 */
		if (before == 0 && stream && !could_be_model(buf, len)) {
			cnnf_error("%s: not a cnnf model file (it does not begin with 'cnnf-model')",
			           path);
			goto out;
		}
		if (len > max)
			goto too_large;
		if (len < cap) {
			if (ferror(fp)) {
				cnnf_error("%s: %s", path, errno ? strerror(errno) : "read error");
				goto out;
			}
			break;
		}
		cap = cap > max / 2 ? max + 1 : 2 * cap;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
	goto out;
too_large:
	cnnf_error("%s: larger than %zu bytes, the most a model file may have within the limits",
	           path, max);
out:
	fclose(fp);
	free(buf);
	return rc;
}

cnnf_model *cnnf_model_load(const char *path, const cnnf_model_limits *limits)
{
	cnnf_model_limits def;
	if (!limits) {
		cnnf_model_limits_init(&def);
		limits = &def;
	}
	char *buf;
	size_t len;
	if (read_file(path, file_limit(limits), &buf, &len) < 0)
		return NULL;
	cnnf_model *m = cnnf_model_parse(buf, len, path, limits);
	free(buf);
	return m;
}

void cnnf_model_free(cnnf_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	free(m->labels);
	free(m->mean);
	free(m->std);
	free(m->layers);
	free(m->params);
	free(m);
}

const char *cnnf_model_layer_name(cnnf_layer_type t)
{
	return (int)t >= 0 && (int)t < NKINDS ? kinds[t].name : "?";
}

/* One window on one axis: the field grows by its dilated span at the current jump. */
static void widen(uint64_t *rf, uint64_t *jump, int dilation, int k, int stride)
{
	*rf = add(*rf, mul(mul((uint64_t)dilation, (uint64_t)(k - 1)), *jump));
	*jump = mul(*jump, (uint64_t)stride);
}

void cnnf_model_receptive_field(const cnnf_model *m, int *rf_h, int *rf_w)
{
	uint64_t rh = 1, rw = 1, jh = 1, jw = 1;
	for (int l = 0; l < m->nlayers; l++) {
		const cnnf_layer *L = &m->layers[l];
		switch (L->type) {
		case CNNF_LAYER_CONV:
		case CNNF_LAYER_MAXPOOL:
		case CNNF_LAYER_AVGPOOL:
			widen(&rh, &jh, L->dilation, L->kh, L->stride);
			widen(&rw, &jw, L->dilation, L->kw, L->stride);
			break;
		case CNNF_LAYER_FC:
			/* Every output sees the whole input: a kernel the size of it. */
			widen(&rh, &jh, 1, L->in_h, 1);
			widen(&rw, &jw, 1, L->in_w, 1);
			break;
		default:
			break;
		}
	}
	*rf_h = rh > INT_MAX ? INT_MAX : (int)rh;
	*rf_w = rw > INT_MAX ? INT_MAX : (int)rw;
}

unsigned long long cnnf_model_macs(const cnnf_model *m)
{
	uint64_t macs = 0;
	for (int l = 0; l < m->nlayers; l++) {
		const cnnf_layer *L = &m->layers[l];
		uint64_t outs =
		    mul(mul((uint64_t)L->out_c, (uint64_t)L->out_h), (uint64_t)L->out_w);
		uint64_t ins = mul(mul((uint64_t)L->in_c, (uint64_t)L->in_h), (uint64_t)L->in_w);
		if (L->type == CNNF_LAYER_CONV)
			macs = add(macs, mul(outs, mul(mul((uint64_t)L->in_c, (uint64_t)L->kh),
			                               (uint64_t)L->kw)));
		else if (L->type == CNNF_LAYER_FC)
			macs = add(macs, mul(outs, ins));
	}
	return macs;
}
