/* optim.c: SGD with momentum, Adam and AdamW as torch.optim computes them, and the learning-rate schedules. */
#include "nn/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct cnnf_optim {
	cnnf_optim_opts o;
	double decay; /* o's weight decay, the default resolved */
	size_t n;
	float *a, *b; /* sgd: the velocity (b unused); adam, adamw: the first and second moments */
	uint64_t t;   /* steps taken */
};

typedef void (*step_fn)(cnnf_optim *s, float *p, const float *g, const unsigned char *mask,
                        double lr);

static void step_sgd(cnnf_optim *s, float *p, const float *g, const unsigned char *mask, double lr)
{
	double mom = s->o.momentum, wd = s->decay;
	float *vel = s->a;
	for (size_t i = 0; i < s->n; i++) {
		if (!mask[i])
			continue;
		double gi = g[i];
		if (mask[i] == 2)
			gi += wd * p[i];
		/* The velocity is kept as float, but the step uses its double value: the
		   golden training digests were made this way. */
		double v = mom * vel[i] + gi;
		vel[i] = (float)v;
		p[i] = (float)(p[i] - lr * v);
	}
}

/* adam (decoupled 0) and adamw (decoupled 1): torch.optim's _single_tensor_adam(w). */
static void step_adam_any(cnnf_optim *s, float *p, const float *g, const unsigned char *mask,
                          double lr, int decoupled)
{
	double b1 = s->o.beta1, b2 = s->o.beta2, eps = s->o.eps, wd = s->decay;
	s->t++;
	double t = (double)s->t;
	double step_size = lr / (1 - pow(b1, t));
	double bc2_sqrt = sqrt(1 - pow(b2, t));
	float *m = s->a, *v = s->b;
	for (size_t i = 0; i < s->n; i++) {
		if (!mask[i])
			continue;
		double gi = g[i];
		if (mask[i] == 2 && wd != 0) {
			if (decoupled)
				p[i] = (float)(p[i] * (1 - lr * wd));
			else
				gi += wd * p[i];
		}
		m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
		v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
		double denom = sqrt((double)v[i]) / bc2_sqrt + eps;
		p[i] = (float)(p[i] - step_size * (double)m[i] / denom);
	}
}

static void step_adam(cnnf_optim *s, float *p, const float *g, const unsigned char *mask, double lr)
{
	step_adam_any(s, p, g, mask, lr, 0);
}

static void step_adamw(cnnf_optim *s, float *p, const float *g, const unsigned char *mask,
                       double lr)
{
	step_adam_any(s, p, g, mask, lr, 1);
}

/* One row per optimiser, in cnnf_optim_kind's order. */
static const struct optimiser {
	const char *name;
	double lr;    /* the default learning rate */
	double decay; /* the default weight decay */
	int moments;  /* float arrays of state per parameter */
	step_fn step;
} optimisers[] = {
	[CNNF_OPTIM_SGD] = {"sgd", 0.01, 5e-4, 1, step_sgd},
	[CNNF_OPTIM_ADAM] = {"adam", 0.001, 0, 2, step_adam},
	[CNNF_OPTIM_ADAMW] = {"adamw", 0.001, 0.01, 2, step_adamw},
};
#define NOPTIMISERS (sizeof optimisers / sizeof *optimisers)

/*
 * A schedule's factor at step j after the warmup, of `left` steps after it,
 * in a run of epochs epochs of spe steps.
 */
typedef double (*factor_fn)(const cnnf_optim_opts *o, uint64_t j, uint64_t left, int epochs,
                            uint64_t spe);

static double factor_constant(const cnnf_optim_opts *o, uint64_t j, uint64_t left, int epochs,
                              uint64_t spe)
{
	(void)o, (void)j, (void)left, (void)epochs, (void)spe;
	return 1;
}

static double factor_step(const cnnf_optim_opts *o, uint64_t j, uint64_t left, int epochs,
                          uint64_t spe)
{
	(void)left;
	uint64_t every = (uint64_t)cnnf_optim_step_size(o, epochs) * spe;
	return pow(o->gamma, (double)(j / every));
}

static double factor_cosine(const cnnf_optim_opts *o, uint64_t j, uint64_t left, int epochs,
                            uint64_t spe)
{
	(void)o, (void)epochs, (void)spe;
	const double pi = 3.14159265358979323846;
	return (1 + cos(pi * (double)j / (double)left)) / 2;
}

/* One row per schedule, in cnnf_sched_kind's order. */
static const struct schedule {
	const char *name;
	factor_fn factor;
} schedules[] = {
	[CNNF_SCHED_CONSTANT] = {"constant", factor_constant},
	[CNNF_SCHED_STEP] = {"step", factor_step},
	[CNNF_SCHED_COSINE] = {"cosine", factor_cosine},
};
#define NSCHEDULES (sizeof schedules / sizeof *schedules)

void cnnf_optim_opts_init(cnnf_optim_opts *o)
{
	*o = (cnnf_optim_opts){.kind = CNNF_OPTIM_SGD,
	                       .lr = NAN,
	                       .momentum = 0.9,
	                       .beta1 = 0.9,
	                       .beta2 = 0.999,
	                       .eps = 1e-8,
	                       .weight_decay = NAN,
	                       .schedule = CNNF_SCHED_CONSTANT,
	                       .gamma = 0.1};
}

const char *cnnf_optim_name(cnnf_optim_kind k)
{
	return (size_t)k < NOPTIMISERS ? optimisers[k].name : "?";
}

const char *cnnf_sched_name(cnnf_sched_kind k)
{
	return (size_t)k < NSCHEDULES ? schedules[k].name : "?";
}

int cnnf_optim_parse(const char *name, cnnf_optim_kind *out)
{
	for (size_t i = 0; i < NOPTIMISERS; i++)
		if (!strcmp(name, optimisers[i].name)) {
			*out = (cnnf_optim_kind)i;
			return 0;
		}
	cnnf_error("--optimizer: '%s' is not sgd, adam or adamw", name);
	return -1;
}

int cnnf_sched_parse(const char *name, cnnf_sched_kind *out)
{
	for (size_t i = 0; i < NSCHEDULES; i++)
		if (!strcmp(name, schedules[i].name)) {
			*out = (cnnf_sched_kind)i;
			return 0;
		}
	cnnf_error("--schedule: '%s' is not constant, step or cosine", name);
	return -1;
}

double cnnf_optim_default_decay(cnnf_optim_kind k)
{
	return (size_t)k < NOPTIMISERS ? optimisers[k].decay : 0;
}

double cnnf_optim_decay(const cnnf_optim_opts *o)
{
	return isnan(o->weight_decay) ? cnnf_optim_default_decay(o->kind) : o->weight_decay;
}

double cnnf_optim_base_lr(const cnnf_optim_opts *o)
{
	if (!isnan(o->lr))
		return o->lr;
	return (size_t)o->kind < NOPTIMISERS ? optimisers[o->kind].lr : 0;
}

int cnnf_optim_step_size(const cnnf_optim_opts *o, int epochs)
{
	if (o->step_size > 0)
		return o->step_size;
	int left = epochs - o->warmup;
	return left >= 3 ? left / 3 : 1;
}

int cnnf_optim_check(const cnnf_optim_opts *o, int epochs)
{
	if ((size_t)o->kind >= NOPTIMISERS || (size_t)o->schedule >= NSCHEDULES) {
		cnnf_error("train: no such optimiser or schedule");
		return -1;
	}
	double lr = cnnf_optim_base_lr(o);
	if (!(lr > 0) || !isfinite(lr)) {
		cnnf_error("train: the learning rate must be a positive number, not %g", lr);
		return -1;
	}
	if (!(o->momentum >= 0 && o->momentum < 1)) {
		cnnf_error("train: the momentum must be from 0 to below 1, not %g", o->momentum);
		return -1;
	}
	if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1)) {
		cnnf_error("train: the betas must be from 0 to below 1, not %g and %g", o->beta1,
		           o->beta2);
		return -1;
	}
	if (!(o->eps > 0) || !isfinite(o->eps)) {
		cnnf_error("train: eps must be a positive number, not %g", o->eps);
		return -1;
	}
	if (!isnan(o->weight_decay) && !(o->weight_decay >= 0 && isfinite(o->weight_decay))) {
		cnnf_error("train: the weight decay must be 0 or more, not %g", o->weight_decay);
		return -1;
	}
	if (o->warmup < 0 || o->warmup >= epochs) {
		cnnf_error("train: the warmup must be from 0 to below the %d epochs, not %d", epochs,
		           o->warmup);
		return -1;
	}
	if (o->step_size < 0 || !(o->gamma > 0) || !isfinite(o->gamma)) {
		cnnf_error("train: the step schedule needs a step size of 1 or more and a positive "
		           "gamma, not %d and %g",
		           o->step_size, o->gamma);
		return -1;
	}
	return 0;
}

double cnnf_optim_lr(const cnnf_optim_opts *o, int epochs, size_t steps_per_epoch, uint64_t i)
{
	uint64_t spe = steps_per_epoch ? steps_per_epoch : 1;
	uint64_t total = (uint64_t)epochs * spe, warm = (uint64_t)o->warmup * spe;
	double lr = cnnf_optim_base_lr(o);
	if (i < warm)
		return lr * (double)(i + 1) / (double)warm;
	/* The constant schedule's factor is exactly 1: its steps are those of before schedules. */
	return lr * schedules[o->schedule].factor(o, i - warm, total - warm, epochs, spe);
}

void cnnf_optim_describe(const cnnf_optim_opts *o, int epochs, char *buf, size_t size)
{
	char hyper[96], sched[96] = "";
	if (o->kind == CNNF_OPTIM_SGD)
		snprintf(hyper, sizeof hyper, "momentum %g", o->momentum);
	else
		snprintf(hyper, sizeof hyper, "betas %g %g  eps %g", o->beta1, o->beta2, o->eps);
	if (o->schedule == CNNF_SCHED_STEP)
		snprintf(sched, sizeof sched, " (x%g every %d epochs)", o->gamma,
		         cnnf_optim_step_size(o, epochs));
	snprintf(buf, size, "optimizer %s  lr %g  %s  weight decay %g  schedule %s%s  warmup %d",
	         cnnf_optim_name(o->kind), cnnf_optim_base_lr(o), hyper, cnnf_optim_decay(o),
	         cnnf_sched_name(o->schedule), sched, o->warmup);
}

cnnf_optim *cnnf_optim_new(const cnnf_optim_opts *o, size_t n)
{
	cnnf_optim *s = calloc(1, sizeof *s);
	int k = optimisers[o->kind].moments;
	size_t nn = n ? n : 1;
	if (s) {
		s->a = calloc(nn, sizeof *s->a);
		s->b = k > 1 ? calloc(nn, sizeof *s->b) : NULL;
	}
	if (!s || !s->a || (k > 1 && !s->b)) {
		cnnf_error("out of memory");
		cnnf_optim_free(s);
		return NULL;
	}
	s->o = *o;
	s->decay = cnnf_optim_decay(o);
	s->n = n;
	return s;
}

void cnnf_optim_free(cnnf_optim *s)
{
	if (!s)
		return;
	free(s->a);
	free(s->b);
	free(s);
}

void cnnf_optim_step(cnnf_optim *s, float *p, const float *g, const unsigned char *mask,
                     double lr)
{
	optimisers[s->o.kind].step(s, p, g, mask, lr);
}
