/* train_set.c: reads the list of images and label maps, splits the pixels, makes patches. */
#include "task/train_set.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/rng.h"
#include "io/io.h"
#include "task/labels.h"
#include "task/segment.h"

/* Longest list file line accepted: two paths. */
#define MAX_LINE 65536


void cnnf_train_set_patch(const cnnf_train_set *s, const cnnf_model *m, cnnf_border border,
                          const cnnf_train_pixel *px, float *dst)
{
	const cnnf_train_image *im = &s->images[px->image];
	cnnf_segment_patch(im->norm, im->zero, border, m->height, m->width, (int)px->y, (int)px->x,
			   dst, 1);
}

void cnnf_train_set_free(cnnf_train_set *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nimages; i++) {
		free(s->images[i].path);
		cnnf_tensor_free(s->images[i].norm);
		free(s->images[i].zero);
	}
	free(s->images);
	free(s->train);
	free(s->class_start);
	free(s->val);
	free(s->val_class);
	free(s);
}

/* A growing array of pixels. */
typedef struct pixels {
	cnnf_train_pixel *v;
	size_t n, cap;
} pixels;

static int push(pixels *p, cnnf_train_pixel px)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 4096;
		cnnf_train_pixel *grown = realloc(p->v, cap * sizeof *grown);
		if (!grown) {
			cnnf_error("out of memory for the training pixels");
			return -1;
		}
		p->v = grown;
		p->cap = cap;
	}
	p->v[p->n++] = px;
	return 0;
}

/* What reading the list makes: the set's pixels, or (stats) the samples' sums. */
typedef struct reading {
	const cnnf_model *m;
	int ignore;
	const cnnf_train_split *split;
	unsigned long long max_pixels;
	pixels *train, *val;
	double *sum, *sumsq;      /* stats: [C] sums of v / maxval and of their squares */
	unsigned long long count; /* stats: samples summed per channel */
	unsigned long long pixels; /* of the image read last */
	int scan;                 /* scan: only the channels and the largest label */
	int channels;             /* scan: of the first image */
	int top;                  /* scan: the largest label, -1 for none */
} reading;

/* Where the list file is being read, for messages. */
typedef struct where {
	const char *list;
	long line;
} where;

/* Put "list:line: " before the message a called function left. */
static int prefixed(const where *w)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", cnnf_error_get());
	cnnf_error("%s:%ld: %s", w->list, w->line, msg);
	return -1;
}

/* word resolved against the list file's directory: an owned string or NULL. */
static char *resolve(const char *list, const char *word, size_t n)
{
	const char *slash = strrchr(list, '/');
	size_t dir = word[0] == '/' || !slash ? 0 : (size_t)(slash - list) + 1;
	/* "-" is a file here, not standard input. */
	const char *prefix = dir ? list : n == 1 && word[0] == '-' ? "./" : "";
	if (!dir && prefix[0])
		dir = 2;
	char *p = malloc(dir + n + 1);
	if (!p) {
		cnnf_error("out of memory");
		return NULL;
	}
	memcpy(p, prefix, dir);
	memcpy(p + dir, word, n);
	p[dir + n] = '\0';
	return p;
}

/* Add image img's samples to the sums (the stats pass). */
static void add_stats(reading *rd, const cnnf_image *img)
{
	double scale = img->maxval ? img->maxval : 1.0;
	size_t n = (size_t)img->width * img->height;
	for (size_t p = 0; p < n; p++)
		for (int c = 0; c < img->channels; c++) {
			double v = cnnf_image_getf(img, p * img->channels + c) / scale;
			rd->sum[c] += v;
			rd->sumsq[c] += v * v;
		}
	rd->count += n;
}

int cnnf_train_block_side(int w, int h)
{
	/* At least 16 blocks to draw from in a small image. */
	int side = (int)floor(sqrt((double)w * h / 16));
	return side < 1 ? 1 : side > CNNF_HOLDOUT_BLOCK ? CNNF_HOLDOUT_BLOCK : side;
}

/*
 * held[b] for the blocks of a w x h image: round(fraction * blocks) of them,
 * drawn from the seed and the image's index. An owned array, or NULL.
 */
static unsigned char *held_blocks(const cnnf_train_split *sp, int image, int w, int h,
				  size_t *nbx)
{
	int side = cnnf_train_block_side(w, h);
	size_t bx = ((size_t)w + side - 1) / side, by = ((size_t)h + side - 1) / side, nb = bx * by;
	unsigned char *held = calloc(nb, 1);
	size_t *idx = malloc(nb * sizeof *idx);
	if (!held || !idx) {
		free(held);
		free(idx);
		cnnf_error("out of memory");
		return NULL;
	}
	size_t nhold = (size_t)floor(sp->fraction * (double)nb + 0.5);
	for (size_t i = 0; i < nb; i++)
		idx[i] = i;
	cnnf_rng r;
	cnnf_rng_derive(&r, sp->seed, 0x686f6c64 /* "hold" */, (uint64_t)image, 0);
	/* The first nhold of a Fisher-Yates shuffle. */
	for (size_t i = 0; i < nhold; i++) {
		size_t j = i + (size_t)cnnf_rng_below(&r, nb - i), t = idx[i];
		idx[i] = idx[j], idx[j] = t;
		held[idx[i]] = 1;
	}
	free(idx);
	*nbx = bx;
	return held;
}

/* One pair of the list: the image normalised, its labelled pixels sorted into train and val. */
static int add_pair(cnnf_train_set *s, const where *w, reading *rd, char *img_path,
                    const char *lab_path)
{
	const cnnf_model *m = rd->m;
	int rc = -1, ignore = rd->ignore;
	cnnf_image *img = NULL;
	cnnf_labels *lab = NULL;
	unsigned char *held = NULL;
	cnnf_train_image *im = &s->images[s->nimages];
	*im = (cnnf_train_image){.path = img_path};
	s->nimages++; /* freed with the set from here on, whatever happens */
	if (!(img = cnnf_io_read(img_path, rd->max_pixels)))
		return prefixed(w);
	rd->pixels = (unsigned long long)img->width * (unsigned long long)img->height;
	char warn[256];
	if (cnnf_segment_float_scale(img, rd->split ? rd->split->scale : 0, warn, sizeof warn) &&
	    rd->split && rd->split->warn) {
		char msg[4400];
		snprintf(msg, sizeof msg, "%s: %s", img_path, warn);
		rd->split->warn(rd->split->ctx, msg);
	}
	if (rd->scan && !rd->channels)
		rd->channels = img->channels;
	int want = rd->scan ? rd->channels : m->channels;
	if (img->channels != want) {
		cnnf_error("%s:%ld: %s: the image has %d channel%s; %s %d", w->list, w->line,
		           img_path, img->channels, img->channels == 1 ? "" : "s",
		           rd->scan ? "the first image of the list has" : "the model takes", want);
		goto out;
	}
	if (rd->sum) {
		add_stats(rd, img);
		rc = 0;
		goto out;
	}
	if (!(lab = cnnf_labels_read(lab_path, rd->max_pixels))) {
		prefixed(w);
		goto out;
	}
	if (lab->width != img->width || lab->height != img->height) {
		cnnf_error("%s:%ld: %s is %dx%d but %s is %dx%d: a label map must be the size of "
		           "its image",
		           w->list, w->line, lab_path, lab->width, lab->height, img_path,
		           img->width, img->height);
		goto out;
	}
	if (rd->scan) {
		size_t n = (size_t)lab->width * lab->height;
		for (size_t i = 0; i < n; i++)
			if ((int)lab->data[i] != ignore && (int)lab->data[i] > rd->top)
				rd->top = lab->data[i];
		rc = 0;
		goto out;
	}
	if (!(im->zero = malloc(sizeof(float) * (size_t)m->channels))) {
		cnnf_error("out of memory");
		goto out;
	}
	if (!(im->norm = cnnf_segment_normalise(img, m, im->zero))) {
		prefixed(w);
		goto out;
	}
	const cnnf_train_split *sp = rd->split;
	int blocks = sp->mode == CNNF_HOLDOUT_BLOCKS;
	size_t nbx = 0;
	int side = cnnf_train_block_side(img->width, img->height);
	if (blocks && !(held = held_blocks(sp, s->nimages - 1, img->width, img->height, &nbx)))
		goto out;
	/* The validation columns: x >= ceil((1 - fraction) * W). */
	double split = ceil((1.0 - sp->fraction) * img->width);
	for (int y = 0; y < lab->height; y++)
		for (int x = 0; x < lab->width; x++) {
			unsigned v = lab->data[(size_t)y * lab->width + x];
			if ((int)v == ignore)
				continue;
			if (v >= (unsigned)m->classes) {
				cnnf_error("%s:%ld: %s: pixel (%d, %d) has label %u, but the model "
				           "has %d classes (0 to %d)%s",
				           w->list, w->line, lab_path, x, y, v, m->classes,
				           m->classes - 1,
				           ignore < 0 ? "; --ignore marks unlabelled pixels" : "");
				goto out;
			}
			cnnf_train_pixel px = {(uint32_t)(s->nimages - 1), v, (uint32_t)y,
			                       (uint32_t)x};
			int back = blocks ? held[(size_t)(y / side) * nbx + (size_t)(x / side)]
			                  : x >= split;
			if (push(back ? rd->val : rd->train, px) < 0)
				goto out;
		}
	rc = 0;
out:
	free(held);
	cnnf_image_free(img);
	cnnf_labels_free(lab);
	return rc;
}

/* Split a line into at most 3 blank-separated words; returns the count. */
static int split_words(char *line, char **word, size_t *len)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || n == 3)
			return n + (*p != '\0');
		word[n] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		len[n] = (size_t)(p - word[n]);
		n++;
	}
}

/*
 * One line of fp into buf (cap bytes, NUL-terminated, newline kept): its
 * length, -1 at the end of the file, or cap when the line is longer, so that
 * a stream without newlines (/dev/zero) is not read on without bound.
 */
static long read_line(FILE *fp, char *buf, size_t cap)
{
	size_t n = 0;
	int c = EOF;
	while (n + 1 < cap && (c = getc(fp)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	if (n == 0 && c == EOF)
		return -1;
	if (n + 1 == cap && c != '\n')
		return (long)cap;
	return (long)n;
}

static int read_list(cnnf_train_set *s, const char *list_path, reading *rd)
{
	unsigned long long max_pixels = rd->max_pixels;
	FILE *fp = fopen(list_path, "r");
	if (!fp) {
		cnnf_error("%s: %s", list_path, strerror(errno));
		return -1;
	}
	int rc = -1, cap = 0;
	char *line = malloc(MAX_LINE + 2);
	where w = {list_path, 0};
	long got;
	unsigned long long total = 0; /* pixels of the images so far */
	if (!line) {
		cnnf_error("%s: out of memory", list_path);
		fclose(fp);
		return -1;
	}
	while (errno = 0, (got = read_line(fp, line, MAX_LINE + 2)) >= 0) {
		w.line++;
		if (got > MAX_LINE) {
			cnnf_error("%s:%ld: a line longer than %d bytes", list_path, w.line,
			           MAX_LINE);
			goto out;
		}
		if ((size_t)got != strlen(line)) {
			cnnf_error("%s:%ld: a NUL byte: not a text file", list_path, w.line);
			goto out;
		}
		char *word[3];
		size_t len[3];
		int n = split_words(line, word, len);
		if (n == 0 || word[0][0] == '#')
			continue;
		if (n != 2) {
			cnnf_error("%s:%ld: expected IMAGE LABELS (two paths), found %s", list_path,
			           w.line, n == 1 ? "one word" : "more than two words");
			goto out;
		}
		if (s->nimages == cap) {
			cap = cap ? 2 * cap : 16;
			cnnf_train_image *grown = realloc(s->images, (size_t)cap * sizeof *grown);
			if (!grown) {
				cnnf_error("%s: out of memory", list_path);
				goto out;
			}
			s->images = grown;
		}
		if (s->nimages == INT32_MAX) {
			cnnf_error("%s:%ld: too many images", list_path, w.line);
			goto out;
		}
		char *img = resolve(list_path, word[0], len[0]);
		char *lab = img ? resolve(list_path, word[1], len[1]) : NULL;
		if (!lab) {
			free(img);
			goto out;
		}
		int added = add_pair(s, &w, rd, img, lab);
		free(lab);
		if (added < 0)
			goto out;
		/* The pixel limit holds for the list's images together, as they are all held. */
		total += rd->pixels;
		if (max_pixels && total > max_pixels) {
			cnnf_error("%s:%ld: the images listed up to here have %llu pixels together, more "
			           "than --max-pixels %llu allows",
			           list_path, w.line, total, max_pixels);
			goto out;
		}
	}
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", list_path, strerror(errno ? errno : EIO));
		goto out;
	}
	if (!s->nimages) {
		cnnf_error("%s: no IMAGE LABELS lines", list_path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(fp);
	return rc;
}

/* Training pixels grouped by class (a stable counting sort), val subsampled. */
static int arrange(cnnf_train_set *s, pixels *train, pixels *val)
{
	int k = s->classes;
	s->class_start = calloc((size_t)k + 1, sizeof *s->class_start);
	s->train = malloc((train->n ? train->n : 1) * sizeof *s->train);
	if (!s->class_start || !s->train) {
		cnnf_error("out of memory for the training pixels");
		return -1;
	}
	for (size_t i = 0; i < train->n; i++)
		s->class_start[train->v[i].label + 1]++;
	for (int c = 0; c < k; c++)
		s->class_start[c + 1] += s->class_start[c];
	size_t *at = malloc((size_t)k * sizeof *at);
	if (!at) {
		cnnf_error("out of memory");
		return -1;
	}
	memcpy(at, s->class_start, (size_t)k * sizeof *at);
	for (size_t i = 0; i < train->n; i++)
		s->train[at[train->v[i].label]++] = train->v[i];
	free(at);
	s->ntrain = train->n;
	s->nval_all = val->n;
	if (val->n <= CNNF_TRAIN_MAX_VAL) {
		s->val = val->v;
		s->nval = val->n;
		val->v = NULL;
		return 0;
	}
	if (!(s->val = malloc(CNNF_TRAIN_MAX_VAL * sizeof *s->val))) {
		cnnf_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < CNNF_TRAIN_MAX_VAL; i++)
		s->val[i] = val->v[i * val->n / CNNF_TRAIN_MAX_VAL];
	s->nval = CNNF_TRAIN_MAX_VAL;
	return 0;
}

cnnf_train_set *cnnf_train_set_load(const char *list_path, const cnnf_model *m, int ignore,
                                    const cnnf_train_split *split,
                                    unsigned long long max_pixels)
{
	cnnf_train_set *s = calloc(1, sizeof *s);
	pixels train = {0}, val = {0};
	if (!s) {
		cnnf_error("out of memory");
		return NULL;
	}
	s->classes = m->classes;
	reading rd = {m, ignore, split, max_pixels, &train, &val, NULL, NULL, 0, 0, 0, 0, 0};
	if (!(s->val_class = calloc((size_t)m->classes, sizeof *s->val_class))) {
		cnnf_error("out of memory");
		goto fail;
	}
	if (read_list(s, list_path, &rd) < 0)
		goto fail;
	for (size_t i = 0; i < val.n; i++)
		s->val_class[val.v[i].label]++;
	if (arrange(s, &train, &val) < 0)
		goto fail;
	if (!s->ntrain) {
		cnnf_error("%s: no labelled pixels to train on%s", list_path,
		           val.n ? " (all are held back for validation)" : "");
		goto fail;
	}
	free(train.v);
	free(val.v);
	return s;
fail:
	free(train.v);
	free(val.v);
	cnnf_train_set_free(s);
	return NULL;
}

int cnnf_train_set_stats(const char *list_path, const cnnf_model *m,
                         const cnnf_train_split *split, unsigned long long max_pixels,
                         double *mean, double *std)
{
	cnnf_train_set *s = calloc(1, sizeof *s);
	double *sum = calloc(2 * (size_t)m->channels, sizeof *sum);
	int rc = -1;
	if (!s || !sum) {
		cnnf_error("out of memory");
		goto out;
	}
	s->classes = m->classes;
	/* Its warnings are the load's to give. */
	cnnf_train_split quiet = split ? *split : (cnnf_train_split){0};
	quiet.warn = NULL;
	reading rd = {m, -1, &quiet, max_pixels, NULL, NULL, sum, sum + m->channels, 0, 0, 0, 0, 0};
	if (read_list(s, list_path, &rd) < 0)
		goto out;
	for (int c = 0; c < m->channels; c++) {
		double n = (double)rd.count, mu = rd.sum[c] / n,
		       var = rd.sumsq[c] / n - mu * mu;
		mean[c] = mu;
		/* A flat channel: dividing by its zero spread would not normalise it. */
		std[c] = var > 1e-12 ? sqrt(var) : 1.0;
	}
	rc = 0;
out:
	free(sum);
	cnnf_train_set_free(s);
	return rc;
}

int cnnf_train_set_scan(const char *list_path, int ignore, unsigned long long max_pixels,
                        int *channels, int *classes)
{
	cnnf_train_set *s = calloc(1, sizeof *s);
	if (!s) {
		cnnf_error("out of memory");
		return -1;
	}
	reading rd = {NULL, ignore, NULL, max_pixels, NULL, NULL, NULL, NULL, 0, 0, 1, 0, -1};
	int rc = read_list(s, list_path, &rd);
	cnnf_train_set_free(s);
	if (rc < 0)
		return -1;
	if (rd.top < 0) {
		cnnf_error("%s: no labelled pixels", list_path);
		return -1;
	}
	*channels = rd.channels;
	*classes = rd.top + 1 < 2 ? 2 : rd.top + 1;
	return 0;
}
