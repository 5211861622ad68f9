/* optim.h: the optimisers of training (torch.optim's SGD, Adam, AdamW) and their learning-rate schedules. */
#ifndef CNNF_OPTIM_H
#define CNNF_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The update rules, each as torch.optim defines it (PyTorch 1.13 to 2.x,
 * the single-tensor code, no amsgrad, no nesterov, dampening 0, maximize
 * off), for a parameter p with gradient g at step t (from 1) and the
 * scheduled learning rate lr:
 *
 *   sgd:   g += wd * p;  v = momentum * v + g;  p -= lr * v
 *   adam:  g += wd * p   (L2 in the gradient, torch.optim.Adam's weight_decay)
 *          m = beta1 * m + (1 - beta1) * g;  s = beta2 * s + (1 - beta2) * g * g
 *          p -= (lr / (1 - beta1^t)) * m / (sqrt(s) / sqrt(1 - beta2^t) + eps)
 *   adamw: p *= 1 - lr * wd   (decoupled, before the step), then adam without the L2 term
 *
 * Each line is computed in double from the stored floats; v, m, s and p are
 * stored as float, as PyTorch's float32 tensors are (so the same
 * hyperparameters give the same trajectory within float rounding). The
 * decay applies only to the parameters the caller marks (train.c: conv and
 * fc weights, not biases or batchnorm), as a parameter group of PyTorch's.
 */
typedef enum cnnf_optim_kind { CNNF_OPTIM_SGD, CNNF_OPTIM_ADAM, CNNF_OPTIM_ADAMW } cnnf_optim_kind;

/*
 * Schedules of the learning rate, as a factor of the base rate at step i
 * (from 0) of T = epochs * steps_per_epoch steps. The first W = warmup *
 * steps_per_epoch steps ramp up linearly, factor (i + 1) / W (PyTorch's
 * LinearLR(start_factor = 1 / W, total_iters = W - 1) stepped every
 * step); after them, with j = i - W:
 *
 *   constant: 1
 *   step:     gamma ^ floor(j / (step_size * steps_per_epoch)): StepLR(step_size,
 *             gamma) stepped every epoch, counting from the end of the warmup
 *   cosine:   (1 + cos(pi * j / (T - W))) / 2: CosineAnnealingLR(T_max = T - W,
 *             eta_min = 0) stepped every step
 *
 * The schedule is stepped per iteration (the factor changes every step, not
 * every epoch) so that a short run still decays smoothly; step's factor
 * changes only at epoch boundaries.
 */
typedef enum cnnf_sched_kind {
	CNNF_SCHED_CONSTANT,
	CNNF_SCHED_STEP,
	CNNF_SCHED_COSINE
} cnnf_sched_kind;

typedef struct cnnf_optim_opts {
	cnnf_optim_kind kind;     /* default sgd */
	double lr;                /* base learning rate, > 0, or NaN (default) for the
	                             optimiser's own: sgd 0.01, adam and adamw 0.001 */
	double momentum;          /* sgd: 0 <= M < 1; default 0.9 */
	double beta1, beta2, eps; /* adam, adamw: 0 <= beta < 1, eps > 0; default 0.9, 0.999, 1e-8 */
	double weight_decay;      /* >= 0, or NaN (default) for the optimiser's own
	                             (cnnf_optim_default_decay()) */
	cnnf_sched_kind schedule; /* default constant */
	int warmup;               /* epochs of linear warmup, 0 <= N < epochs; default 0 */
	int step_size;            /* step: epochs between decays; 0 (default): a third of
	                             the epochs after the warmup, at least 1 */
	double gamma;             /* step: the factor of each decay, > 0; default 0.1 */
} cnnf_optim_opts;

/* The defaults above. */
void cnnf_optim_opts_init(cnnf_optim_opts *o);

/* "sgd", "adam", "adamw"; "constant", "step", "cosine". */
const char *cnnf_optim_name(cnnf_optim_kind k);
const char *cnnf_sched_name(cnnf_sched_kind k);

/* The kind called name. Returns 0, or -1 with a message naming the choices. */
int cnnf_optim_parse(const char *name, cnnf_optim_kind *out);
int cnnf_sched_parse(const char *name, cnnf_sched_kind *out);

/* The weight decay an optimiser has by default: sgd 5e-4 (cnnf's), adam 0 and adamw 0.01 (PyTorch's). */
double cnnf_optim_default_decay(cnnf_optim_kind k);

/* o's base learning rate and weight decay, its optimiser's defaults where they are NaN. */
double cnnf_optim_base_lr(const cnnf_optim_opts *o);
double cnnf_optim_decay(const cnnf_optim_opts *o);

/* The step size of the step schedule for a run of epochs (o->step_size or its default). */
int cnnf_optim_step_size(const cnnf_optim_opts *o, int epochs);

/* Whether o is valid for a run of epochs. Returns 0, or -1 with a message ("train: ..."). */
int cnnf_optim_check(const cnnf_optim_opts *o, int epochs);

/*
 * The learning rate of step i (from 0) of a run of epochs epochs of
 * steps_per_epoch (>= 1) steps each: the base rate times the schedule's
 * factor.
 */
double cnnf_optim_lr(const cnnf_optim_opts *o, int epochs, size_t steps_per_epoch, uint64_t i);

/*
 * One line saying what o does in a run of epochs ("optimizer sgd  lr 0.01
 * momentum 0.9  weight decay 0.0005  schedule constant  warmup 0"), into buf
 * of size bytes (cut short if it does not fit).
 */
void cnnf_optim_describe(const cnnf_optim_opts *o, int epochs, char *buf, size_t size);

/* An optimiser's state for n parameters (its velocity, or its two moments, and the step count). */
typedef struct cnnf_optim cnnf_optim;

/* The state of a fresh run of o (copied). Returns an owned object, or NULL with a message. */
cnnf_optim *cnnf_optim_new(const cnnf_optim_opts *o, size_t n);
void cnnf_optim_free(cnnf_optim *s);

/*
 * One step on the n parameters p with gradients g at learning rate lr
 * (cnnf_optim_lr()'s). mask[i]: 0 leaves p[i] alone, 1 updates it, 2
 * updates it with weight decay.
 */
void cnnf_optim_step(cnnf_optim *s, float *p, const float *g, const unsigned char *mask,
                     double lr);

#endif
