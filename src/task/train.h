/* train.h: cnnf train: mini-batch SGD, Adam or AdamW on the patches around labelled pixels. */
#ifndef CNNF_TRAIN_H
#define CNNF_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conv.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "task/train_set.h"

/* What one epoch did; handed to the epoch callback. */
typedef struct cnnf_train_epoch {
	int epoch, epochs;  /* this one (from 1) and how many there are */
	size_t patches;     /* training patches seen in the epoch */
	double loss;        /* mean cross-entropy of those patches (without the decay term) */
	double train_acc;   /* fraction of them classified right by their own forward pass
	                       (training mode: dropout on, batch statistics), 0..1 */
	size_t val_pixels;  /* validation pixels evaluated (0: no validation) */
	double val_acc;     /* fraction of them classified right in inference mode (as
	                       cnnf segment does), 0..1; NaN without validation pixels */
	double val_miou;    /* mean over classes of TP / (TP + FP + FN) on them, classes with
	                       no pixel in either the truth or the prediction left out; NaN
	                       without validation pixels */
	double seconds;     /* wall time of the epoch, validation included */
	double val_seconds; /* of which validation */
	double lr;          /* the learning rate of the epoch's last step */
	int best;           /* 1: the best epoch so far (highest val_acc, or lowest loss
	                       without validation; the first of equals); it was written to
	                       the checkpoint when there is one */
	int stopped;        /* 1: the last epoch, --patience epochs after the best one
	                       without a better one (early stopping) */
} cnnf_train_epoch;

/* Class weights given: at most this many (one a class). */
#define CNNF_TRAIN_MAX_WEIGHTS 1024

typedef struct cnnf_train_opts {
	int epochs;                    /* default 10 */
	int batch;                     /* patches per step, default 64 */
	cnnf_optim_opts optim;         /* optimiser and schedule (nn/optim.h; its defaults:
	                                  sgd, lr 0.01, momentum 0.9, constant). Its weight
	                                  decay acts on conv and fc weights only (not biases,
	                                  not batchnorm); NaN (default): the optimiser's,
	                                  sgd 5e-4, adam 0, adamw 0.01 */
	double val_split;              /* fraction of every image held back for validation,
	                                  0 <= F < 1; default 0.1 */
	cnnf_holdout holdout;          /* how (train_set.h): random blocks (default) or the
	                                  right-hand columns */
	unsigned float_scale;          /* float images without a scale are divided by it (0: used
	                                  as they are, with a warning when far outside 0..1) */
	int normalize_auto;            /* 1: measure the images' mean and std per channel
	                                  (cnnf_train_set_stats) and write them into the model
	                                  before training; default 0 */
	uint64_t seed;                 /* default 1 */
	int balance;                   /* 1: draw every class equally often; default 0 */
	unsigned augment;              /* task/augment.h's CNNF_AUG_ bits; default 0: none */
	/* Weighted cross-entropy: nweights weights, one a class (nweights must be the
	   model's classes), or with weights_auto cnnf_train_class_weights(); default
	   neither (nweights 0): the plain mean. */
	const double *weights;
	int nweights;
	int weights_auto;
	int patience;                  /* > 0: stop after this many epochs without a better
	                                  one than the best (see best above); default 0 */
	int ignore;                    /* label value of unlabelled pixels, -1 for none (default) */
	cnnf_border border;            /* as cnnf segment's; default reflect */
	int threads;                   /* 0 (default): all cores */
	unsigned long long max_pixels; /* per image; default CNNF_DEFAULT_MAX_PIXELS, 0: none */
	const char *checkpoint;        /* NULL, or where the best epoch's model is written */
	double max_work;               /* refuse a run that would take more multiply-adds
	                                  (cnnf_train_work()); default CNNF_DEFAULT_MAX_WORK,
	                                  0: no limit */
	/*
	 * Called from the calling thread with a warning (a class with no
	 * training or no validation pixels), a line without "cnnf: "; may be
	 * NULL.
	 */
	void (*warn_cb)(void *ctx, const char *msg);
	/* Called from the calling thread after every epoch; may be NULL. */
	void (*epoch_cb)(void *ctx, const cnnf_train_epoch *e);
	/* Called from the calling thread after every step with the epoch's patches done so
	   far and its total; may be NULL. */
	void (*progress_cb)(void *ctx, size_t done, size_t total);
	void *cb_ctx;
} cnnf_train_opts;

/* The defaults above. */
void cnnf_train_opts_init(cnnf_train_opts *o);

/*
 * --class-weights auto: the inverse of each class's share of the training
 * pixels, scaled so that the classes with training pixels have weights of
 * mean 1: w[c] = (1 / n[c]) / ((1 / K') * sum over present c' of 1 / n[c'])
 * for the K' classes with n[c] > 0; a class without training pixels (never
 * in a batch) gets 0. n: [k] pixel counts. 0, or -1 (no class present).
 */
int cnnf_train_class_weights(const size_t *n, int k, double *w);

/*
 * The multiply-adds a run costs, estimated before its first epoch: every
 * epoch, each training pixel's patch forward and backward (3 times the
 * forward's multiply-adds, cnnf_model_macs()) and each validation pixel's
 * forward.
 */
double cnnf_train_work(const cnnf_model *m, int epochs, size_t ntrain, size_t nval);

/*
 * Initialise every parameter of m from seed: conv and fc weights are drawn
 * from a normal distribution with standard deviation sqrt(2 / fan_in) (He,
 * "kaiming normal") when the next layer other than batchnorm and dropout is
 * relu, else sqrt(2 / (fan_in + fan_out)) (Xavier/Glorot normal), where
 * fan_in = in_channels * KH * KW (fc: its C*H*W inputs) and fan_out =
 * out * KH * KW (fc: out); biases are 0; batchnorm has weight 1, bias 0,
 * running mean 0 and running variance 1. Draws are made in parameter order
 * from one stream, so the same seed gives the same parameters.
 */
void cnnf_train_init_weights(cnnf_model *m, uint64_t seed);

/*
 * Train m in place on the images and label maps of the list file
 * (train_set.h describes the list, the label maps and the validation
 * pixels; with normalize_auto the images' mean and std become the model's
 * first). A model whose header ended in `weights init` is first
 * initialised with cnnf_train_init_weights(); one with weights is
 * fine-tuned from them. On success m->weights_init is 0.
 *
 * Each epoch visits every training pixel once in an order drawn from the
 * seed, or with balance as many patches drawn by picking a class uniformly
 * among those with training pixels, then one of its pixels. Patches are
 * made as cnnf segment makes them; with augment each patch is then flipped,
 * turned and jittered as task/augment.h says, drawn from a stream keyed by
 * (seed, epoch, the patch's index in the epoch), whatever the threads do. Each step of `batch` patches (the last
 * one may be smaller) runs the network in training mode, takes the mean
 * softmax cross-entropy over the patches (with class weights the weighted
 * mean, as torch's cross_entropy(weight=w): sum of w[y] * nll over sum of
 * w[y]), and updates every parameter p
 * with gradient g as torch.optim's SGD, Adam or AdamW does (nn/optim.h),
 * at the learning rate of the schedule for that step; with the defaults
 * (sgd, constant):
 *   g += weight_decay * p   (conv and fc weights only)
 *   v = momentum * v + g;  p -= lr * v
 * The schedule counts ceil(training patches / batch) steps an epoch.
 * Batchnorm running statistics follow the batches with momentum 0.1.
 * After each epoch the validation pixels are classified in inference mode
 * (never augmented); with patience the run ends after `patience` epochs
 * in a row that were not the best.
 * The result depends only on the model, the data and the options, not on
 * the thread count: the same seed gives the same bytes.
 * Returns 0, or -1 with a message (a loss that is no longer finite is an
 * error).
 */
int cnnf_train_run(cnnf_model *m, const char *list_path, const cnnf_train_opts *o);

/*
 * A model of the architecture called name (small, medium or large; see
 * cnnf(1)), untrained, its channels those of the list's images and its
 * classes one more than their largest label (train_set.h:
 * cnnf_train_set_scan). NULL with a message.
 */
cnnf_model *cnnf_train_arch(const char *name, const char *list_path, int ignore,
                            unsigned long long max_pixels);

#endif
