/* train.c: the training loop: initialisation, epochs of optimiser steps, validation, checkpoints. */
#include "task/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/backprop.h"
#include "base/error.h"
#include "image/image.h"
#include "nn/model_save.h"
#include "nn/net.h"
#include "nn/optim.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "task/augment.h"
#include "task/train_set.h"

/* Stream keys under the seed: one stream per use, so that changing one use moves no other. */
enum { STREAM_INIT = 0, STREAM_ORDER = 1, STREAM_AUGMENT = 0x61756720 /* "aug " */ };

/* The momentum of batchnorm's running statistics, as nn.BatchNorm2d's default. */
#define BN_MOMENTUM 0.1

double cnnf_train_work(const cnnf_model *m, int epochs, size_t ntrain, size_t nval)
{
	double macs = (double)cnnf_model_macs(m);
	return (double)epochs * macs * (3.0 * (double)ntrain + (double)nval);
}

void cnnf_train_opts_init(cnnf_train_opts *o)
{
	*o = (cnnf_train_opts){.epochs = 10,
	                       .batch = 64,
	                       .val_split = 0.1,
	                       .seed = 1,
	                       .max_work = CNNF_DEFAULT_MAX_WORK,
	                       .ignore = -1,
	                       .border = CNNF_BORDER_REFLECT,
	                       .max_pixels = CNNF_DEFAULT_MAX_PIXELS};
	cnnf_optim_opts_init(&o->optim);
}

/* The layer after i that decides the gain its weights need: batchnorm and dropout do not. */
static const cnnf_layer *next_shaping(const cnnf_model *m, int i)
{
	for (int j = i + 1; j < m->nlayers; j++)
		if (m->layers[j].type != CNNF_LAYER_BATCHNORM &&
		    m->layers[j].type != CNNF_LAYER_DROPOUT)
			return &m->layers[j];
	return NULL;
}

void cnnf_train_init_weights(cnnf_model *m, uint64_t seed)
{
	cnnf_rng r;
	cnnf_rng_derive(&r, seed, STREAM_INIT, 0, 0);
	for (int i = 0; i < m->nlayers; i++) {
		cnnf_layer *l = &m->layers[i];
		if (l->type == CNNF_LAYER_BATCHNORM) {
			for (int c = 0; c < l->in_c; c++) {
				l->weight[c] = 1;
				l->bias[c] = 0;
				l->mean[c] = 0;
				l->var[c] = 1;
			}
			continue;
		}
		if (l->type != CNNF_LAYER_CONV && l->type != CNNF_LAYER_FC)
			continue;
		int fc = l->type == CNNF_LAYER_FC;
		double taps = fc ? 1.0 : (double)l->kh * l->kw;
		double fan_in = fc ? (double)l->in_c * l->in_h * l->in_w : l->in_c * taps;
		double fan_out = l->out * taps;
		const cnnf_layer *next = next_shaping(m, i);
		double std = next && next->type == CNNF_LAYER_RELU ? sqrt(2.0 / fan_in)
		                                                   : sqrt(2.0 / (fan_in + fan_out));
		size_t n = (size_t)(l->bias - l->weight);
		for (size_t j = 0; j < n; j++)
			l->weight[j] = (float)(std * cnnf_rng_normal(&r));
		for (int f = 0; f < l->out; f++)
			l->bias[f] = 0;
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int cnnf_train_class_weights(const size_t *n, int k, double *w)
{
	double sum = 0;
	int present = 0;
	for (int c = 0; c < k; c++)
		if (n[c]) {
			sum += 1.0 / (double)n[c];
			present++;
		}
	if (!present) {
		cnnf_error("train: no class has training pixels to weight");
		return -1;
	}
	for (int c = 0; c < k; c++)
		w[c] = n[c] ? (1.0 / (double)n[c]) / (sum / present) : 0;
	return 0;
}

static int check_opts(const cnnf_model *m, const cnnf_train_opts *o)
{
	if (o->epochs < 1) {
		cnnf_error("train: epochs must be at least 1, not %d", o->epochs);
		return -1;
	}
	if (o->batch < 1 || o->batch > 65536) {
		cnnf_error("train: the batch size must be from 1 to 65536, not %d", o->batch);
		return -1;
	}
	if (cnnf_optim_check(&o->optim, o->epochs) < 0)
		return -1;
	if (!(o->val_split >= 0 && o->val_split < 1)) {
		cnnf_error("train: the validation split must be from 0 to below 1, not %g",
		           o->val_split);
		return -1;
	}
	if (o->ignore < -1 || o->ignore > 65535) {
		cnnf_error("train: the ignored label must be from 0 to 65535, not %d", o->ignore);
		return -1;
	}
	if (o->nweights && o->nweights != m->classes) {
		cnnf_error("--class-weights: %d weight%s for a model of %d classes: give one a class",
		           o->nweights, o->nweights == 1 ? "" : "s", m->classes);
		return -1;
	}
	for (int c = 0; c < o->nweights; c++)
		if (!(o->weights[c] > 0 && o->weights[c] < 1e30)) {
			cnnf_error("--class-weights: weight %d is %g, not a positive number", c + 1,
			           o->weights[c]);
			return -1;
		}
	if (o->patience < 0) {
		cnnf_error("train: patience must be 0 (none) or more, not %d", o->patience);
		return -1;
	}
	if (o->threads < 0) {
		cnnf_error("train: the thread count must be 0 (all cores) or more, not %d",
		           o->threads);
		return -1;
	}
	for (int i = 0; i < m->nlayers; i++) {
		cnnf_layer_type t = m->layers[i].type;
		if (t == CNNF_LAYER_CONV || t == CNNF_LAYER_FC || t == CNNF_LAYER_BATCHNORM)
			return 0;
	}
	cnnf_error("train: the model has no conv, fc or batchnorm layer: nothing to train");
	return -1;
}

/*
 * What each parameter is: 0 not trained (batchnorm running statistics),
 * 1 trained, 2 trained with weight decay (conv and fc weights).
 */
static unsigned char *param_kinds(const cnnf_model *m)
{
	unsigned char *k = calloc(m->nparams ? m->nparams : 1, 1);
	if (!k) {
		cnnf_error("out of memory");
		return NULL;
	}
	for (int i = 0; i < m->nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		size_t w = (size_t)(l->weight - m->params), b = (size_t)(l->bias - m->params);
		if (l->type == CNNF_LAYER_CONV || l->type == CNNF_LAYER_FC) {
			memset(k + w, 2, b - w);
			memset(k + b, 1, (size_t)l->out);
		} else if (l->type == CNNF_LAYER_BATCHNORM) {
			memset(k + w, 1, (size_t)l->in_c);
			memset(k + b, 1, (size_t)l->in_c);
		}
	}
	return k;
}

/* ---- validation ------------------------------------------------------------------------- */

typedef struct val_job {
	cnnf_net *net;
	const cnnf_train_set *set;
	cnnf_border border;
	uint16_t *pred; /* [set->nval] */
} val_job;

/* Batches begin..end-1 of the net's batch size of validation pixels, on worker w's graph. */
static int classify(void *ctx, int w, size_t begin, size_t end)
{
	const val_job *j = ctx;
	const cnnf_model *m = j->net->model;
	size_t psize = j->net->psize, nval = j->set->nval;
	float *batch = malloc(psize * (size_t)j->net->batch * sizeof *batch);
	if (!batch)
		return -1;
	for (size_t g = begin; g < end; g++) {
		size_t first = g * (size_t)j->net->batch;
		int n = nval - first < (size_t)j->net->batch ? (int)(nval - first) : j->net->batch;
		for (int b = 0; b < n; b++)
			cnnf_train_set_patch(j->set, m, j->border, &j->set->val[first + b],
					     batch + (size_t)b * psize);
		float *sc;
		if (cnnf_net_scores(j->net, w, batch, n, &sc) < 0) {
			free(batch);
			return -1;
		}
		for (int b = 0; b < n; b++) {
			/* As segment labels: by the probabilities when the model ends in softmax. */
			float *v = sc + (size_t)b * m->classes;
			if (cnnf_net_softmaxed(m))
				cnnf_net_softmax(v, m->classes);
			int best = 0;
			for (int c = 1; c < m->classes; c++)
				if (v[c] > v[best])
					best = c;
			j->pred[first + b] = (uint16_t)best;
		}
		free(sc);
	}
	free(batch);
	return 0;
}

/* Accuracy and mean IoU of the model on the validation pixels, in inference mode. */
static int validate(const cnnf_model *m, const cnnf_train_set *set, const cnnf_train_opts *o,
                    cnnf_train_epoch *e)
{
	e->val_pixels = set->nval;
	e->val_acc = e->val_miou = NAN;
	if (!set->nval)
		return 0;
	int rc = -1, k = m->classes;
	cnnf_net *net = cnnf_net_new(m, "the model", o->threads, 0);
	uint16_t *pred = malloc(set->nval * sizeof *pred);
	size_t *count = calloc(3 * (size_t)k, sizeof *count); /* tp, fp, fn per class */
	if (!net || !pred || !count) {
		cnnf_error("out of memory");
		goto out;
	}
	val_job j = {net, set, o->border, pred};
	size_t groups = (set->nval + (size_t)net->batch - 1) / (size_t)net->batch;
	if (cnnf_parallel_for_workers(groups, net->workers, classify, &j) < 0)
		goto out;
	size_t right = 0;
	for (size_t i = 0; i < set->nval; i++) {
		unsigned t = set->val[i].label, p = pred[i];
		if (t == p) {
			right++;
			count[3 * t]++;
		} else {
			count[3 * p + 1]++;
			count[3 * t + 2]++;
		}
	}
	double iou = 0;
	int present = 0;
	for (int c = 0; c < k; c++) {
		size_t u = count[3 * c] + count[3 * c + 1] + count[3 * c + 2];
		if (u) {
			iou += (double)count[3 * c] / (double)u;
			present++;
		}
	}
	e->val_acc = (double)right / (double)set->nval;
	e->val_miou = iou / present;
	rc = 0;
out:
	cnnf_net_free(net);
	free(pred);
	free(count);
	return rc;
}

/* ---- training --------------------------------------------------------------------------- */

/* Everything one run owns. */
typedef struct run {
	cnnf_model *m;
	const cnnf_train_opts *o;
	cnnf_train_set *set;
	cnnf_backprop *bp;
	float *grad;                     /* [nparams] */
	cnnf_optim *opt;                 /* the optimiser's state */
	size_t steps;                    /* steps an epoch */
	double lr;                       /* the last step's learning rate */
	unsigned char *kind;             /* [nparams], see param_kinds() */
	size_t *order;                   /* [ntrain]: the epoch's visiting order */
	int *labels;                     /* [batch] */
	const cnnf_train_pixel **pixels; /* [batch]: the step\'s pixels */
	double *weights;                 /* [classes] or NULL: the loss's class weights */
	int epoch;                       /* the epoch being run (the augmentation's key) */
	size_t done;                     /* its patches before the step */
	uint64_t step;
} run;

static void update(run *r)
{
	r->lr = cnnf_optim_lr(&r->o->optim, r->o->epochs, r->steps, r->step);
	cnnf_optim_step(r->opt, r->m->params, r->grad, r->kind, r->lr);
	cnnf_backprop_sync(r->bp);
}

/* The pixel of the epoch's j-th patch. */
static const cnnf_train_pixel *pick(const run *r, cnnf_rng *rng, size_t j, const int *present,
                                    int npresent)
{
	const cnnf_train_set *s = r->set;
	if (!r->o->balance)
		return &s->train[r->order[j]];
	int c = present[cnnf_rng_below(rng, (uint64_t)npresent)];
	size_t n = s->class_start[c + 1] - s->class_start[c];
	return &s->train[s->class_start[c] + cnnf_rng_below(rng, n)];
}

/* The patch of the step's sample s, made in the worker threads. */
static void fill(void *ctx, int s, float *dst)
{
	const run *r = ctx;
	if (!r->o->augment) {
		cnnf_train_set_patch(r->set, r->m, r->o->border, r->pixels[s], dst);
		return;
	}
	/* Keyed by the patch's place in the epoch, not by the worker that makes it. */
	cnnf_rng rng;
	cnnf_augment a;
	cnnf_rng_derive(&rng, r->o->seed, STREAM_AUGMENT, (uint64_t)r->epoch,
	                (uint64_t)(r->done + (size_t)s));
	cnnf_augment_draw(r->o->augment, &rng, &a);
	const cnnf_train_pixel *px = r->pixels[s];
	const cnnf_train_image *im = &r->set->images[px->image];
	cnnf_augment_patch(im->norm, im->zero, r->o->border, r->m->height, r->m->width, (int)px->y,
	                   (int)px->x, &a, r->m->mean, r->m->std, dst);
}

static int epoch(run *r, int e, const int *present, int npresent, cnnf_train_epoch *out)
{
	const cnnf_train_opts *o = r->o;
	const cnnf_model *m = r->m;
	const cnnf_train_set *s = r->set;
	size_t total = s->ntrain;
	double t0 = now(), loss = 0;
	size_t correct = 0;
	cnnf_rng rng;
	cnnf_rng_derive(&rng, o->seed, STREAM_ORDER, (uint64_t)e, 0);
	if (!o->balance) {
		/* Fisher-Yates over every training pixel. */
		for (size_t i = 0; i < total; i++)
			r->order[i] = i;
		for (size_t i = total - 1; i > 0; i--) {
			size_t j = (size_t)cnnf_rng_below(&rng, (uint64_t)i + 1), t = r->order[i];
			r->order[i] = r->order[j];
			r->order[j] = t;
		}
	}
	for (size_t done = 0; done < total;) {
		int n = total - done < (size_t)o->batch ? (int)(total - done) : o->batch;
		for (int i = 0; i < n; i++) {
			r->pixels[i] = pick(r, &rng, done + i, present, npresent);
			r->labels[i] = (int)r->pixels[i]->label;
		}
		r->epoch = e;
		r->done = done;
		cnnf_backprop_pass p = {.n = n,
		                        .labels = r->labels,
		                        .class_weights = r->weights,
		                        .seed = o->seed,
		                        .key = r->step,
		                        .bn_momentum = BN_MOMENTUM,
		                        .grad = r->grad,
		                        .fill = fill,
		                        .fill_ctx = r};
		if (cnnf_backprop_run(r->bp, &p) < 0)
			return -1;
		if (!isfinite(p.loss)) {
			cnnf_error("train: the loss is no longer finite in epoch %d (after %zu "
			           "patches): try a smaller learning rate",
			           e, done);
			return -1;
		}
		update(r);
		r->step++;
		loss += p.loss;
		correct += (size_t)p.correct;
		done += (size_t)n;
		if (o->progress_cb)
			o->progress_cb(o->cb_ctx, done, total);
	}
	*out = (cnnf_train_epoch){.epoch = e,
	                          .epochs = o->epochs,
	                          .patches = total,
	                          .loss = loss / (double)total,
	                          .train_acc = (double)correct / (double)total,
	                          .lr = r->lr};
	double t1 = now();
	if (validate(m, s, o, out) < 0)
		return -1;
	double t2 = now();
	out->val_seconds = t2 - t1;
	out->seconds = t2 - t0;
	return 0;
}

/*
 * The architectures --arch names: a patch size and the layers between the
 * input line and the final fc layer (out = the classes) and softmax. Every
 * conv is unpadded, so dense segmentation applies.
 */
static const struct arch {
	const char *name;
	int patch;
	const char *layers;
} arches[] = {
	/* 15 -> 13 -> 6 -> 4 -> 2 */
	{"small", 15,
	 "conv out=16 kernel=3\nrelu\nmaxpool kernel=2\n"
	 "conv out=32 kernel=3\nrelu\nmaxpool kernel=2\n"},
	/* 25 -> 23 -> 21 -> 10 -> 8 -> 4 -> 2 */
	{"medium", 25,
	 "conv out=32 kernel=3\nrelu\nconv out=32 kernel=3\nrelu\nmaxpool kernel=2\n"
	 "conv out=64 kernel=3\nrelu\nmaxpool kernel=2\n"
	 "conv out=64 kernel=3\nrelu\n"},
	/* 37 -> 35 -> 33 -> 16 -> 14 -> 12 -> 6 -> 4, then an fc of 128 */
	{"large", 37,
	 "conv out=32 kernel=3\nrelu\nconv out=32 kernel=3\nrelu\nmaxpool kernel=2\n"
	 "conv out=64 kernel=3\nrelu\nconv out=64 kernel=3\nrelu\nmaxpool kernel=2\n"
	 "conv out=128 kernel=3\nrelu\nfc out=128\nrelu\ndropout p=0.5\n"},
};

cnnf_model *cnnf_train_arch(const char *name, const char *list_path, int ignore,
                            unsigned long long max_pixels)
{
	const struct arch *a = NULL;
	for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
		if (!strcmp(arches[i].name, name))
			a = &arches[i];
	if (!a) {
		cnnf_error("--arch: '%s' is not small, medium or large", name);
		return NULL;
	}
	int channels, classes;
	if (cnnf_train_set_scan(list_path, ignore, max_pixels, &channels, &classes) < 0)
		return NULL;
	char text[2048];
	snprintf(text, sizeof text,
	         "cnnf-model 1\ninput channels=%d height=%d width=%d\n%sfc out=%d\nsoftmax\n"
	         "weights init\n",
	         channels, a->patch, a->patch, a->layers, classes);
	char what[64];
	snprintf(what, sizeof what, "--arch %s", name);
	return cnnf_model_parse(text, strlen(text), what, NULL);
}

/* A class the training part or the validation part has no pixel of: say so, once each. */
static void warn_classes(const cnnf_model *m, const cnnf_train_set *set, const char *list,
                         const cnnf_train_opts *o)
{
	if (!o->warn_cb)
		return;
	for (int c = 0; c < m->classes; c++) {
		size_t ntrain = set->class_start[c + 1] - set->class_start[c], nval = set->val_class[c];
		if (ntrain && (nval || !set->nval_all))
			continue;
		char name[96] = "";
		if (m->nlabels)
			snprintf(name, sizeof name, " (%.80s)", m->labels[c]);
		char msg[512];
		if (!ntrain && !nval)
			snprintf(msg, sizeof msg, "%s: warning: class %d%s has no labelled pixels", list,
			         c, name);
		else if (!ntrain)
			snprintf(msg, sizeof msg, "%s: warning: class %d%s has no training pixels "
			         "(all %zu are held back for validation)", list, c, name, nval);
		else
			snprintf(msg, sizeof msg, "%s: warning: class %d%s has no validation pixels: "
			         "its accuracy is not measured (a larger --val-split holds more back)",
			         list, c, name);
		o->warn_cb(o->cb_ctx, msg);
	}
}

int cnnf_train_run(cnnf_model *m, const char *list_path, const cnnf_train_opts *o)
{
	cnnf_train_opts defaults;
	if (!o) {
		cnnf_train_opts_init(&defaults);
		o = &defaults;
	}
	if (check_opts(m, o) < 0)
		return -1;
	int rc = -1, npresent = 0;
	int *present = NULL;
	run r = {.m = m, .o = o};
	cnnf_train_split split = {o->val_split, o->holdout, o->seed, o->float_scale, o->warn_cb,
	                          o->cb_ctx};
	if (o->normalize_auto) {
		double *mean = malloc(2 * (size_t)m->channels * sizeof *mean);
		if (!mean) {
			cnnf_error("out of memory");
			return -1;
		}
		double *std = mean + m->channels;
		if (cnnf_train_set_stats(list_path, m, &split, o->max_pixels, mean, std) < 0) {
			free(mean);
			return -1;
		}
		for (int c = 0; c < m->channels; c++) {
			m->mean[c] = (float)mean[c];
			m->std[c] = (float)std[c];
		}
		free(mean);
	}
	if (!(r.set = cnnf_train_set_load(list_path, m, o->ignore, &split, o->max_pixels)))
		return -1;
	warn_classes(m, r.set, list_path, o);
	double work = cnnf_train_work(m, o->epochs, r.set->ntrain, r.set->nval);
	if (o->max_work > 0 && work > o->max_work) {
		cnnf_error("%s: training would take about %.3g multiply-adds (%d epochs of %zu "
		           "patches at %llu each, 3 times over for the gradients), more than "
		           "--max-work %.6g allows",
		           list_path, work, o->epochs, r.set->ntrain, cnnf_model_macs(m), o->max_work);
		goto out;
	}
	if (m->weights_init)
		cnnf_train_init_weights(m, o->seed);
	m->weights_init = 0; /* it has weights now: validation runs it */
	size_t np = m->nparams ? m->nparams : 1;
	r.grad = calloc(np, sizeof *r.grad);
	r.opt = cnnf_optim_new(&o->optim, m->nparams);
	r.steps = (r.set->ntrain + (size_t)o->batch - 1) / (size_t)o->batch;
	r.order = malloc(r.set->ntrain * sizeof *r.order);
	r.labels = malloc((size_t)o->batch * sizeof *r.labels);
	r.pixels = malloc((size_t)o->batch * sizeof *r.pixels);
	present = malloc((size_t)m->classes * sizeof *present);
	if (!r.opt)
		goto out;
	if (!r.grad || !r.order || !r.labels || !r.pixels || !present) {
		cnnf_error("out of memory");
		goto out;
	}
	if (o->nweights || o->weights_auto) {
		if (!(r.weights = malloc((size_t)m->classes * sizeof *r.weights))) {
			cnnf_error("out of memory");
			goto out;
		}
		if (o->nweights)
			memcpy(r.weights, o->weights, (size_t)m->classes * sizeof *r.weights);
		else {
			size_t *n = malloc((size_t)m->classes * sizeof *n);
			if (!n) {
				cnnf_error("out of memory");
				goto out;
			}
			for (int c = 0; c < m->classes; c++)
				n[c] = r.set->class_start[c + 1] - r.set->class_start[c];
			int got = cnnf_train_class_weights(n, m->classes, r.weights);
			free(n);
			if (got < 0)
				goto out;
		}
	}
	if (!(r.kind = param_kinds(m)) || !(r.bp = cnnf_backprop_new(m, o->batch, o->threads)))
		goto out;
	for (int c = 0; c < m->classes; c++)
		if (r.set->class_start[c + 1] > r.set->class_start[c])
			present[npresent++] = c;
	double best = 0;
	int best_epoch = 1;
	for (int e = 1; e <= o->epochs; e++) {
		cnnf_train_epoch ep;
		if (epoch(&r, e, present, npresent, &ep) < 0)
			goto out;
		/* Higher validation accuracy, or lower loss without validation; ties keep the
		 * first. */
		double score = ep.val_pixels ? ep.val_acc : -ep.loss;
		ep.best = e == 1 || score > best;
		if (ep.best) {
			best = score;
			best_epoch = e;
			if (o->checkpoint && cnnf_model_save(m, o->checkpoint) < 0)
				goto out;
		}
		ep.stopped = o->patience > 0 && e < o->epochs && e - best_epoch >= o->patience;
		if (o->epoch_cb)
			o->epoch_cb(o->cb_ctx, &ep);
		if (ep.stopped)
			break;
	}
	rc = 0;
out:
	cnnf_train_set_free(r.set);
	cnnf_backprop_free(r.bp);
	free(r.grad);
	cnnf_optim_free(r.opt);
	free(r.kind);
	free(r.order);
	free(r.labels);
	free(r.pixels);
	free(r.weights);
	free(present);
	return rc;
}
