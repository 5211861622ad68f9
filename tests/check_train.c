/* check_train.c: cnnf train end to end: initialisation, learning, determinism, the list file and
 * its errors. */
#include <math.h>
#include <stdint.h>

#include "io/io.h"
#include "nn/model.h"
#include "nn/model_save.h"
#include "nn/net.h"
#include "task/augment.h"
#include "task/segment.h"
#include "testutil.h"
#include "task/train.h"
#include "task/train_set.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *fixture(const char *name)
{
	static char path[4][4096];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof path[0], "%s/train/%s", TEST_DATA_DIR, name);
	return p;
}

static const char *tmp_path(const char *name)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/%s", cnnf_test_tmpdir(), name);
	return path;
}

static cnnf_model *model_from(const char *text)
{
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "test.cnnf", NULL);
	ck_assert_msg(m != NULL, "model did not load: %s", cnnf_error_get());
	return m;
}

static cnnf_model *squares_model(void)
{
	cnnf_model *m = cnnf_model_load(fixture("squares-arch.cnnf"), NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	return m;
}

/* The right-hand columns held back (train_set.h), as cnnf train did before blocks. */
static const cnnf_train_split *columns(double f)
{
	static cnnf_train_split sp;
	sp = (cnnf_train_split){f, CNNF_HOLDOUT_COLUMNS, 1, 0, NULL, NULL};
	return &sp;
}

/* Options that learn the squares quickly. */
static void squares_opts(cnnf_train_opts *o)
{
	cnnf_train_opts_init(o);
	o->epochs = 8;
	o->batch = 16;
	o->optim.lr = 0.05;
	o->val_split = 0;
	o->threads = 2;
}

/* What the epoch callback saw. */
typedef struct seen {
	int n;
	cnnf_train_epoch e[64];
	size_t last_done, last_total, calls;
	int backwards; /* progress went backwards within an epoch */
} seen;

static void on_epoch(void *ctx, const cnnf_train_epoch *e)
{
	seen *s = ctx;
	if (s->n < 64)
		s->e[s->n] = *e;
	s->n++;
	s->last_done = 0;
}

static void on_progress(void *ctx, size_t done, size_t total)
{
	seen *s = ctx;
	if (done <= s->last_done)
		s->backwards = 1;
	s->last_done = done;
	s->last_total = total;
	s->calls++;
}

/* Train the squares model with o and save it to name; returns the file's bytes. */
static char *train_to_file(cnnf_train_opts *o, const char *name, size_t *len)
{
	cnnf_model *m = squares_model();
	ck_assert_msg(cnnf_train_run(m, fixture("squares.list"), o) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(cnnf_model_save(m, tmp_path(name)), 0);
	cnnf_model_free(m);
	FILE *fp = fopen(tmp_path(name), "rb");
	ck_assert_ptr_nonnull(fp);
	char *buf = malloc(1 << 16);
	*len = fread(buf, 1, 1 << 16, fp);
	fclose(fp);
	return buf;
}

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_defaults)
{
	cnnf_train_opts o;
	cnnf_train_opts_init(&o);
	ck_assert_int_eq(o.epochs, 10);
	ck_assert_int_eq(o.batch, 64);
	ck_assert(isnan(o.optim.lr) && o.optim.momentum == 0.9 && isnan(o.optim.weight_decay));
	ck_assert(o.optim.kind == CNNF_OPTIM_SGD && o.optim.schedule == CNNF_SCHED_CONSTANT);
	ck_assert(cnnf_optim_base_lr(&o.optim) == 0.01 && cnnf_optim_decay(&o.optim) == 5e-4);
	ck_assert(o.val_split == 0.1);
	ck_assert_uint_eq(o.seed, 1);
	ck_assert_int_eq(o.balance, 0);
	ck_assert_int_eq(o.ignore, -1);
	ck_assert_int_eq(o.border, CNNF_BORDER_REFLECT);
	ck_assert_int_eq(o.threads, 0);
	ck_assert_ptr_null(o.checkpoint);
}
END_TEST

/* Sample standard deviation of n floats. */
static double sample_std(const float *v, size_t n)
{
	double s = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		s += v[i];
		s2 += (double)v[i] * v[i];
	}
	return sqrt(s2 / n - (s / n) * (s / n));
}

/* He before a relu (batchnorm and dropout in between do not count), Xavier elsewhere. */
START_TEST(test_init)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=8 height=12 width=12\n"
	                           "conv out=64 kernel=3\nbatchnorm\ndropout\nrelu\n" /* He: 72 */
	                           "conv out=32 kernel=3\n"                           /* Xavier */
	                           "maxpool kernel=8\n"
	                           "fc out=300\nrelu\n" /* He: 32 */
	                           "fc out=4\n"         /* Xavier: 300 + 4 */
	                           "weights init\n");
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = 7;
	cnnf_train_init_weights(m, 42);
	const cnnf_layer *l = m->layers;
	double want[4] = {sqrt(2.0 / 72), sqrt(2.0 / (64 * 9 + 32 * 9)), sqrt(2.0 / 32),
	                  sqrt(2.0 / 304)};
	const cnnf_layer *w[4] = {&l[0], &l[4], &l[6], &l[8]};
	for (int i = 0; i < 4; i++) {
		size_t n = (size_t)(w[i]->bias - w[i]->weight);
		double s = sample_std(w[i]->weight, n);
		ck_assert_msg(fabs(s / want[i] - 1) < 0.1, "layer %d: std %g, want %g", i, s,
		              want[i]);
		for (int f = 0; f < w[i]->out; f++)
			ck_assert_float_eq(w[i]->bias[f], 0);
	}
	for (int c = 0; c < 64; c++) {
		ck_assert_float_eq(l[1].weight[c], 1);
		ck_assert_float_eq(l[1].bias[c], 0);
		ck_assert_float_eq(l[1].mean[c], 0);
		ck_assert_float_eq(l[1].var[c], 1);
	}
	/* The same seed, the same parameters; another seed, others. */
	float *first = malloc(m->nparams * sizeof *first);
	memcpy(first, m->params, m->nparams * sizeof *first);
	cnnf_train_init_weights(m, 42);
	ck_assert_mem_eq(first, m->params, m->nparams * sizeof *first);
	cnnf_train_init_weights(m, 43);
	ck_assert(memcmp(first, m->params, 64 * sizeof *first) != 0);
	free(first);
	cnnf_model_free(m);
}
END_TEST

/*
 * The small problem: bright squares on a dark background, learned to 100%:
 * the trained model, run by cnnf segment, labels every pixel as the label map does.
 */
START_TEST(test_learns_squares)
{
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	seen s = {0};
	o.epoch_cb = on_epoch;
	o.progress_cb = on_progress;
	o.cb_ctx = &s;
	ck_assert_msg(cnnf_train_run(m, fixture("squares.list"), &o) == 0, "%s", cnnf_error_get());
	ck_assert_int_eq(m->weights_init, 0);
	ck_assert_int_eq(s.n, 8);
	ck_assert_int_eq(s.e[7].epoch, 8);
	ck_assert_int_eq(s.e[7].epochs, 8);
	ck_assert_uint_eq(s.e[7].patches, 24 * 24);
	ck_assert_double_eq(s.e[7].train_acc, 1);
	ck_assert(s.e[7].loss < s.e[0].loss);
	ck_assert_uint_eq(s.e[7].val_pixels, 0);
	ck_assert(isnan(s.e[7].val_acc));
	ck_assert(s.e[0].best);
	ck_assert(s.e[7].seconds >= s.e[7].val_seconds && s.e[7].val_seconds >= 0);
	ck_assert(!s.backwards);
	ck_assert_uint_eq(s.last_total, 24 * 24);
	ck_assert_uint_eq(s.calls, 8 * 36);
	/* Inference as cnnf segment runs it. */
	cnnf_image *img = cnnf_io_read(fixture("squares.png"), 0);
	cnnf_image *truth = cnnf_io_read(fixture("squares-labels.png"), 0);
	ck_assert_ptr_nonnull(img);
	cnnf_net *net = cnnf_net_new(m, "test", 0, 1);
	cnnf_segment_opts so;
	cnnf_segment_opts_init(&so);
	so.threads = 1;
	cnnf_image *labels = NULL;
	ck_assert_int_eq(cnnf_segment_run(net, img, "squares.png", &so, &labels, NULL), 0);
	ck_assert_mem_eq(labels->data, truth->data, 24 * 24);
	cnnf_image_free(labels);
	cnnf_image_free(img);
	cnnf_image_free(truth);
	cnnf_net_free(net);
	cnnf_model_free(m);
}
END_TEST

/* The same seed gives the same bytes, whatever the thread count; another seed does not. */
START_TEST(test_same_seed_same_bytes)
{
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 2;
	o.batch = 7; /* a short last step */
	o.val_split = 0.25;
	size_t n1, n2, n3, n4;
	o.threads = 1;
	char *a = train_to_file(&o, "seed1.cnnf", &n1);
	char *b = train_to_file(&o, "seed1b.cnnf", &n2);
	o.threads = 3;
	char *c = train_to_file(&o, "seed1c.cnnf", &n3);
	o.seed = 2;
	char *d = train_to_file(&o, "seed2.cnnf", &n4);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(a, b, n1);
	ck_assert_uint_eq(n1, n3);
	ck_assert_mem_eq(a, c, n1);
	ck_assert_uint_eq(n1, n4);
	ck_assert(memcmp(a, d, n1) != 0);
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

/* The same with batchnorm and dropout, balanced sampling and the validation pass. */
START_TEST(test_same_bytes_bn_dropout)
{
	const char *arch = "cnnf-model 1\ninput channels=1 height=5 width=5 mean=0.3 std=0.3\n"
	                   "conv out=4 kernel=3 pad=1\nbatchnorm\nrelu\ndropout p=0.2\n"
	                   "maxpool kernel=2\nfc out=2\nweights init\n";
	char *bytes[3];
	size_t len[3];
	for (int t = 0; t < 3; t++) {
		cnnf_model *m = model_from(arch);
		cnnf_train_opts o;
		squares_opts(&o);
		o.epochs = 2;
		o.balance = 1;
		o.val_split = 0.3;
		o.threads = t + 1;
		ck_assert_msg(cnnf_train_run(m, fixture("squares.list"), &o) == 0, "%s",
		              cnnf_error_get());
		/* The running statistics have moved off their start. */
		ck_assert(m->layers[1].mean[0] != 0 && m->layers[1].var[0] != 1);
		ck_assert_int_eq(cnnf_model_save(m, tmp_path("bn.cnnf")), 0);
		FILE *fp = fopen(tmp_path("bn.cnnf"), "rb");
		bytes[t] = malloc(1 << 16);
		len[t] = fread(bytes[t], 1, 1 << 16, fp);
		fclose(fp);
		cnnf_model_free(m);
	}
	for (int t = 1; t < 3; t++) {
		ck_assert_uint_eq(len[t], len[0]);
		ck_assert_mem_eq(bytes[t], bytes[0], len[0]);
	}
	for (int t = 0; t < 3; t++)
		free(bytes[t]);
}
END_TEST

/* --val-split holds back the right columns of every image; validation counts them all. */
START_TEST(test_val_split)
{
	cnnf_model *m = squares_model();
	cnnf_train_set *s = cnnf_train_set_load(fixture("squares.list"), m, -1, columns(0.25), 0);
	ck_assert_msg(s != NULL, "%s", cnnf_error_get());
	/* ceil(0.75 * 24) = 18: columns 18..23 are held back. */
	ck_assert_uint_eq(s->nval, 24 * 6);
	ck_assert_uint_eq(s->nval_all, 24 * 6);
	ck_assert_uint_eq(s->ntrain, 24 * 18);
	for (size_t i = 0; i < s->nval; i++)
		ck_assert_uint_ge(s->val[i].x, 18);
	for (size_t i = 0; i < s->ntrain; i++)
		ck_assert_uint_lt(s->train[i].x, 18);
	/* Grouped by class. */
	ck_assert_uint_eq(s->class_start[0], 0);
	ck_assert_uint_eq(s->class_start[2], s->ntrain);
	for (size_t i = 0; i < s->ntrain; i++)
		ck_assert_uint_eq(s->train[i].label, i >= s->class_start[1]);
	cnnf_train_set_free(s);

	cnnf_train_opts o;
	squares_opts(&o);
	o.val_split = 0.25;
	o.holdout = CNNF_HOLDOUT_COLUMNS;
	seen e = {0};
	o.epoch_cb = on_epoch;
	o.cb_ctx = &e;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	ck_assert_uint_eq(e.e[0].val_pixels, 144);
	ck_assert_uint_eq(e.e[0].patches, 24 * 18);
	ck_assert(e.e[7].val_acc > 0.9 && e.e[7].val_acc <= 1);
	ck_assert(e.e[7].val_miou > 0.8 && e.e[7].val_miou <= 1);
	cnnf_model_free(m);
}
END_TEST

/* Random blocks: whole blocks held back, round(F * blocks) of them, drawn from the seed. */
START_TEST(test_holdout_blocks)
{
	cnnf_model *m = squares_model();
	/* 24 x 24: blocks of floor(sqrt(576 / 16)) = 6, 16 of them; a quarter is 4. */
	ck_assert_int_eq(cnnf_train_block_side(24, 24), 6);
	ck_assert_int_eq(cnnf_train_block_side(4000, 3000), CNNF_HOLDOUT_BLOCK);
	ck_assert_int_eq(cnnf_train_block_side(1, 1), 1);
	unsigned char held[3][16];
	for (int k = 0; k < 3; k++) {
		cnnf_train_split sp = {0.25, CNNF_HOLDOUT_BLOCKS, k == 2 ? 99 : 7, 0, NULL, NULL};
		cnnf_train_set *s = cnnf_train_set_load(fixture("squares.list"), m, -1, &sp, 0);
		ck_assert_msg(s != NULL, "%s", cnnf_error_get());
		ck_assert_uint_eq(s->nval_all, 4 * 36);
		ck_assert_uint_eq(s->ntrain, 576 - 4 * 36);
		ck_assert_uint_eq(s->val_class[0] + s->val_class[1], s->nval_all);
		memset(held[k], 0, sizeof held[k]);
		for (size_t i = 0; i < s->nval; i++)
			held[k][s->val[i].y / 6 * 4 + s->val[i].x / 6] = 1;
		/* A training pixel is never in a held block: blocks are whole. */
		for (size_t i = 0; i < s->ntrain; i++)
			ck_assert(!held[k][s->train[i].y / 6 * 4 + s->train[i].x / 6]);
		int n = 0;
		for (int b = 0; b < 16; b++)
			n += held[k][b];
		ck_assert_int_eq(n, 4);
		cnnf_train_set_free(s);
	}
	ck_assert_mem_eq(held[0], held[1], 16);   /* the same seed, the same blocks */
	ck_assert(memcmp(held[0], held[2], 16) != 0); /* another seed, others */
	cnnf_model_free(m);
}
END_TEST

/* The images' statistics on the 0..1 scale (numpy: 0.2797045206971677, 0.2395992256585175). */
START_TEST(test_stats)
{
	cnnf_model *m = squares_model();
	double mean, std;
	ck_assert_int_eq(cnnf_train_set_stats(fixture("squares.list"), m, NULL, 0, &mean, &std), 0);
	ck_assert_double_eq_tol(mean, 0.2797045206971677, 1e-12);
	ck_assert_double_eq_tol(std, 0.2395992256585175, 1e-12);
	/* --normalize auto writes them into the model, which then trains on them. */
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 1;
	o.normalize_auto = 1;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	ck_assert_float_eq(m->mean[0], (float)0.2797045206971677);
	ck_assert_float_eq(m->std[0], (float)0.2395992256585175);
	cnnf_model_free(m);
}
END_TEST

static void on_warn(void *ctx, const char *msg)
{
	char *buf = ctx;
	size_t n = strlen(buf);
	snprintf(buf + n, 2048 - n, "%s\n", msg);
}

/* A class the training part (or the validation part) lacks is warned about. */
START_TEST(test_class_warnings)
{
	cnnf_model *m = squares_model();
	/* 24 x 24 gray image; labels: class 1 only in the 4 right-hand columns. */
	const char *img = tmp_path("warn.pgm");
	FILE *fp = fopen(img, "wb");
	fprintf(fp, "P5\n24 24\n255\n");
	for (int i = 0; i < 576; i++)
		fputc((i % 24) * 10, fp);
	fclose(fp);
	char lab[4200], list[4200];
	snprintf(lab, sizeof lab, "%s", tmp_path("warn-labels.pgm"));
	fp = fopen(lab, "wb");
	fprintf(fp, "P5\n24 24\n255\n");
	for (int i = 0; i < 576; i++)
		fputc(i % 24 >= 20, fp);
	fclose(fp);
	snprintf(list, sizeof list, "%s", tmp_path("warn.list"));
	fp = fopen(list, "w");
	fprintf(fp, "warn.pgm warn-labels.pgm\n");
	fclose(fp);
	char msgs[2048] = "";
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 1;
	o.val_split = 0.2;
	o.holdout = CNNF_HOLDOUT_COLUMNS; /* columns 20..23: every class-1 pixel */
	o.warn_cb = on_warn;
	o.cb_ctx = msgs;
	ck_assert_int_eq(cnnf_train_run(m, list, &o), 0);
	ck_assert_msg(strstr(msgs, "warn.list: warning: class 1 (bright) has no training pixels (all 96 are "
	                           "held back for validation)") != NULL, "%s", msgs);
	ck_assert_msg(strstr(msgs, "class 0 (dark) has no validation pixels") != NULL, "%s", msgs);
	cnnf_model_free(m);
}
END_TEST

/* --ignore: those pixels are neither trained on nor validated. */
START_TEST(test_ignore)
{
	cnnf_model *m = squares_model();
	char list[4200];
	snprintf(list, sizeof list, "%s", tmp_path("ignore.list"));
	FILE *fp = fopen(list, "w");
	fprintf(fp, "%s %s\n", fixture("squares.png"), fixture("squares-ignore.png"));
	fclose(fp);
	cnnf_train_set *s = cnnf_train_set_load(list, m, 255, columns(0.5), 0);
	ck_assert_msg(s != NULL, "%s", cnnf_error_get());
	ck_assert_uint_eq(s->ntrain + s->nval, 23 * 23);
	ck_assert_uint_eq(s->nval, 23 * 12);
	cnnf_train_set_free(s);
	/* Without --ignore, 255 is a label the model does not have. */
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_train_set_load(list, m, -1, columns(0.5), 0));
	ck_assert_error_has("ignore.list:1: ");
	ck_assert_error_has("squares-ignore.png: pixel (0, 0) has label 255, but the model has 2 "
	                    "classes (0 to 1)");
	/* Nothing left to train on. */
	cnnf_error_clear();
	ck_assert_ptr_null(cnnf_train_set_load(list, m, 255, columns(0.99), 0));
	ck_assert_error_has("no labelled pixels to train on (all are held back for validation)");
	cnnf_model_free(m);
}
END_TEST

/* Patches are those of cnnf segment: top-left at (y - H/2, x - W/2), the border from the raw image.
 */
START_TEST(test_patches)
{
	cnnf_model *m = squares_model(); /* 5x5, mean 0.3, std 0.3 */
	cnnf_train_set *s = cnnf_train_set_load(fixture("squares.list"), m, -1, columns(0), 0);
	ck_assert_ptr_nonnull(s);
	cnnf_image *img = cnnf_io_read(fixture("squares.png"), 0);
	const uint8_t *raw = img->data;
	cnnf_train_pixel px = {0, 0, 1, 0}; /* (x 0, y 1) */
	float patch[25];
	cnnf_border borders[2] = {CNNF_BORDER_REFLECT, CNNF_BORDER_ZERO};
	for (int b = 0; b < 2; b++) {
		cnnf_train_set_patch(s, m, borders[b], &px, patch);
		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 5; j++) {
				int y = 1 - 2 + i, x = 0 - 2 + j;
				double v;
				if (b == 0) {
					y = y < 0 ? -y : y;
					x = x < 0 ? -x : x;
					v = raw[y * 24 + x];
				} else {
					v = y < 0 || x < 0 ? 0 : raw[y * 24 + x];
				}
				float want = (float)((v / 255 - (double)0.3f) / (double)0.3f);
				ck_assert_msg(patch[i * 5 + j] == want,
				              "border %d (%d, %d): %g, want %g", b, i, j,
				              patch[i * 5 + j], want);
			}
	}
	cnnf_image_free(img);
	cnnf_train_set_free(s);
	cnnf_model_free(m);
}
END_TEST

/* A model with weights is fine-tuned from them, not initialised again. */
START_TEST(test_fine_tune)
{
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 2;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	ck_assert_int_eq(cnnf_model_save(m, tmp_path("ft.cnnf")), 0);
	cnnf_model *t = cnnf_model_load(tmp_path("ft.cnnf"), NULL);
	ck_assert_int_eq(t->weights_init, 0);
	o.optim.lr = 1e-6;
	o.epochs = 1;
	o.optim.weight_decay = 0;
	seen e = {0};
	o.epoch_cb = on_epoch;
	o.cb_ctx = &e;
	ck_assert_int_eq(cnnf_train_run(t, fixture("squares.list"), &o), 0);
	for (size_t i = 0; i < m->nparams; i++)
		ck_assert_float_eq_tol(t->params[i], m->params[i], 1e-3f);
	ck_assert_double_eq(e.e[0].train_acc, 1);
	cnnf_model_free(t);
	cnnf_model_free(m);
}
END_TEST

/* --checkpoint: the best epoch is written as it happens. */
START_TEST(test_checkpoint)
{
	const char *path = tmp_path("best.cnnf");
	remove(path);
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 3;
	o.val_split = 0.25;
	o.checkpoint = path;
	seen e = {0};
	o.epoch_cb = on_epoch;
	o.cb_ctx = &e;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	ck_assert(e.e[0].best);
	double best = e.e[0].val_acc;
	for (int i = 1; i < 3; i++) {
		ck_assert_int_eq(e.e[i].best, e.e[i].val_acc > best);
		if (e.e[i].val_acc > best)
			best = e.e[i].val_acc;
	}
	cnnf_model *c = cnnf_model_load(path, NULL);
	ck_assert_msg(c != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(c->weights_init, 0);
	ck_assert_uint_eq(c->nparams, m->nparams);
	if (e.e[2].best)
		ck_assert_mem_eq(c->params, m->params, m->nparams * sizeof(float));
	cnnf_model_free(c);
	cnnf_model_free(m);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

static void list_fails(const char *list, const char *needle)
{
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_train_run(m, fixture(list), &o), -1);
	ck_assert_error_has(needle);
	cnnf_model_free(m);
}

START_TEST(test_list_missing)
{
	list_fails("nothere.list", "train/nothere.list: No such file or directory");
}
END_TEST

START_TEST(test_image_missing)
{
	list_fails("bad-missing.list", "bad-missing.list:2: ");
	list_fails("bad-missing.list", "train/nothere.png: No such file or directory");
	list_fails("bad-nolabels.list", "bad-nolabels.list:1: ");
	list_fails("bad-nolabels.list", "nothere-labels.png: No such file or directory");
}
END_TEST

START_TEST(test_bad_line)
{
	list_fails(
	    "bad-words.list",
	    "bad-words.list:3: expected IMAGE LABELS (two paths), found more than two words");
	list_fails("bad-one.list", "bad-one.list:1: expected IMAGE LABELS (two paths), found one "
	                           "word");
	list_fails("bad-empty.list", "bad-empty.list: no IMAGE LABELS lines");
}
END_TEST

START_TEST(test_size_mismatch)
{
	list_fails("bad-size.list", "bad-size.list:1: ");
	list_fails("bad-size.list", "bad-small.png is 23x24 but ");
	list_fails("bad-size.list", "squares.png is 24x24: a label map must be the size of its "
	                            "image");
}
END_TEST

START_TEST(test_label_too_big)
{
	list_fails("bad-label.list", "bad-label.list:2: ");
	list_fails("bad-label.list", "bad-label2.png: pixel (11, 7) has label 2, but the model has "
	                             "2 classes (0 to 1)");
}
END_TEST

START_TEST(test_bad_label_map)
{
	list_fails("bad-rgb.list", "bad-rgb.list:1: ");
	list_fails("bad-rgb.list", "bad-rgb.png: a label map must be a palette or gray PNG; this "
	                           "one is RGB");
	list_fails("bad-channels.list", "bad-channels.list:1: ");
	list_fails("bad-channels.list", "bad-rgb.png: the image has 3 channels; the model takes 1");
}
END_TEST

START_TEST(test_bad_options)
{
	cnnf_model *m = squares_model();
	struct {
		int field;
		double v;
		const char *msg;
	} cases[] = {
	    {0, 0, "epochs must be at least 1, not 0"},
	    {1, 0, "batch size must be from 1 to 65536, not 0"},
	    {2, 0, "learning rate must be a positive number, not 0"},
	    {2, 0, "learning rate must be a positive number, not 0"},
	    {3, 1, "momentum must be from 0 to below 1, not 1"},
	    {4, -1, "weight decay must be 0 or more, not -1"},
	    {5, 1, "validation split must be from 0 to below 1, not 1"},
	    {6, -2, "ignored label must be from 0 to 65535, not -2"},
	    {7, -1, "thread count must be 0 (all cores) or more, not -1"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cnnf_train_opts o;
		cnnf_train_opts_init(&o);
		switch (cases[i].field) {
		case 0:
			o.epochs = (int)cases[i].v;
			break;
		case 1:
			o.batch = (int)cases[i].v;
			break;
		case 2:
			o.optim.lr = cases[i].v;
			break;
		case 3:
			o.optim.momentum = cases[i].v;
			break;
		case 4:
			o.optim.weight_decay = cases[i].v;
			break;
		case 5:
			o.val_split = cases[i].v;
			break;
		case 6:
			o.ignore = (int)cases[i].v;
			break;
		default:
			o.threads = (int)cases[i].v;
			break;
		}
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), -1);
		ck_assert_error_has(cases[i].msg);
	}
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_nothing_to_train)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=2 height=2 width=2\n"
	                           "maxpool kernel=2\nsoftmax\nweights init\n");
	cnnf_train_opts o;
	cnnf_train_opts_init(&o);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), -1);
	ck_assert_error_has("the model has no conv, fc or batchnorm layer: nothing to train");
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_diverges)
{
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	o.optim.lr = 1e30;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), -1);
	ck_assert_error_has("the loss is no longer finite in epoch ");
	cnnf_model_free(m);
}
END_TEST

/* --augment: the same bytes for 1 and 3 threads; a different model from the plain run. */
START_TEST(test_augment_same_bytes)
{
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 2;
	o.batch = 7;
	o.val_split = 0.25;
	size_t n0, n1, n2;
	char *plain = train_to_file(&o, "aug0.cnnf", &n0);
	o.augment = CNNF_AUG_FLIP | CNNF_AUG_ROT90 | CNNF_AUG_JITTER;
	o.threads = 1;
	char *a = train_to_file(&o, "aug1.cnnf", &n1);
	o.threads = 3;
	char *b = train_to_file(&o, "aug3.cnnf", &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(a, b, n1);
	ck_assert(n0 != n1 || memcmp(plain, a, n1) != 0);
	free(plain);
	free(a);
	free(b);
}
END_TEST

/* --class-weights auto on a known histogram: 1 / n[c] scaled to mean 1 over present classes. */
START_TEST(test_class_weights_auto)
{
	size_t n[4] = {10, 30, 0, 60};
	double w[4];
	ck_assert_int_eq(cnnf_train_class_weights(n, 4, w), 0);
	/* 1/10, 1/30, 1/60 have mean 1/20: weights 2, 2/3, 0 (absent), 1/3. */
	ck_assert_double_eq_tol(w[0], 2, 1e-15);
	ck_assert_double_eq_tol(w[1], 2.0 / 3, 1e-15);
	ck_assert(w[2] == 0);
	ck_assert_double_eq_tol(w[3], 1.0 / 3, 1e-15);
	size_t even[3] = {7, 7, 7};
	ck_assert_int_eq(cnnf_train_class_weights(even, 3, w), 0);
	for (int c = 0; c < 3; c++)
		ck_assert(w[c] == 1);
	size_t none[2] = {0, 0};
	ck_assert_int_eq(cnnf_train_class_weights(none, 2, w), -1);
	/* Weighted training runs and differs from the plain run; explicit weights equal to
	   auto's give auto's bytes. */
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 2;
	size_t n0, n1, n2;
	char *plain = train_to_file(&o, "cw0.cnnf", &n0);
	o.weights_auto = 1;
	char *a = train_to_file(&o, "cw1.cnnf", &n1);
	ck_assert(n0 != n1 || memcmp(plain, a, n1) != 0);
	cnnf_model *m = squares_model();
	cnnf_train_split sp = {0, CNNF_HOLDOUT_BLOCKS, 1, 0, NULL, NULL};
	cnnf_train_set *set =
	    cnnf_train_set_load(fixture("squares.list"), m, -1, &sp, CNNF_DEFAULT_MAX_PIXELS);
	ck_assert_ptr_nonnull(set);
	size_t cnt[2] = {set->class_start[1] - set->class_start[0],
	                 set->class_start[2] - set->class_start[1]};
	double cw[2];
	ck_assert_int_eq(cnnf_train_class_weights(cnt, 2, cw), 0);
	ck_assert(cnt[0] != cnt[1]);
	cnnf_train_set_free(set);
	cnnf_model_free(m);
	o.weights_auto = 0;
	o.weights = cw;
	o.nweights = 2;
	char *b = train_to_file(&o, "cw2.cnnf", &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(a, b, n1);
	free(plain);
	free(a);
	free(b);
}
END_TEST

/* --patience: the run ends that many epochs after the best, the last epoch saying so. */
START_TEST(test_patience)
{
	cnnf_train_opts o;
	squares_opts(&o);
	o.epochs = 40;
	o.val_split = 0.25;
	o.patience = 2;
	seen sn = {0};
	o.epoch_cb = on_epoch;
	o.cb_ctx = &sn;
	cnnf_model *m = squares_model();
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	/* The squares reach 100% on validation quickly and stay there: a plateau. */
	ck_assert_int_lt(sn.n, 40);
	int best = 0;
	for (int i = 0; i < sn.n; i++) {
		if (sn.e[i].best)
			best = sn.e[i].epoch;
		ck_assert_int_eq(sn.e[i].stopped, i == sn.n - 1);
	}
	ck_assert_int_eq(sn.e[sn.n - 1].epoch - best, 2);
	ck_assert(sn.e[sn.n - 1].val_acc <= sn.e[best - 1].val_acc);
	cnnf_model_free(m);
	/* Without patience every epoch runs. */
	sn = (seen){0};
	o.patience = 0;
	o.epochs = 6;
	m = squares_model();
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), 0);
	ck_assert_int_eq(sn.n, 6);
	ck_assert_int_eq(sn.e[5].stopped, 0);
	cnnf_model_free(m);
}
END_TEST

/* Class weights that do not fit the model. */
START_TEST(test_bad_weights)
{
	cnnf_model *m = squares_model();
	cnnf_train_opts o;
	squares_opts(&o);
	double w3[3] = {1, 1, 1}, w0[2] = {1, 0};
	o.weights = w3;
	o.nweights = 3;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), -1);
	ck_assert_error_has("--class-weights: 3 weights for a model of 2 classes");
	o.weights = w0;
	o.nweights = 2;
	ck_assert_int_eq(cnnf_train_run(m, fixture("squares.list"), &o), -1);
	ck_assert_error_has("--class-weights: weight 2 is 0, not a positive number");
	cnnf_model_free(m);
}
END_TEST

static Suite *train_suite(void)
{
	Suite *s = suite_create("train");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_learns_squares);
	tcase_add_test(tc, test_same_seed_same_bytes);
	tcase_add_test(tc, test_same_bytes_bn_dropout);
	tcase_add_test(tc, test_val_split);
	tcase_add_test(tc, test_holdout_blocks);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_class_warnings);
	tcase_add_test(tc, test_ignore);
	tcase_add_test(tc, test_patches);
	tcase_add_test(tc, test_fine_tune);
	tcase_add_test(tc, test_checkpoint);
	tcase_add_test(tc, test_augment_same_bytes);
	tcase_add_test(tc, test_class_weights_auto);
	tcase_add_test(tc, test_patience);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_list_missing);
	tcase_add_test(tc, test_image_missing);
	tcase_add_test(tc, test_bad_line);
	tcase_add_test(tc, test_size_mismatch);
	tcase_add_test(tc, test_label_too_big);
	tcase_add_test(tc, test_bad_label_map);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_nothing_to_train);
	tcase_add_test(tc, test_diverges);
	tcase_add_test(tc, test_bad_weights);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(train_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
