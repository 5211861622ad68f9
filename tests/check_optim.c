/* check_optim.c: the optimisers and schedules of nn/optim.c against PyTorch float64 and plain formulas. */
#include <check.h>
#include <math.h>

#include "nn/optim.h"
#include "testutil.h"

/*
 * The trajectories below start from P0 with the gradients G[t], the decay
 * on the first two parameters only (mask 2, 2, 1, 1), at the learning rate
 * of a cosine schedule of base 1 with a one-epoch warmup (5 epochs of 3
 * steps); want_lr_* are the rates of base 0.1 of every step of that run and
 * of a step schedule (every 2 epochs by 0.5) with the same warmup.
 */
static const float P0[4] = {0.5f, -1.25f, 2.0f, 0.1f};
static const float G[5][4] = {{0.3f, -0.2f, 0.05f, 1.5f},
                              {-0.1f, 0.4f, 0.0f, -2.0f},
                              {0.25f, 0.25f, -0.5f, 0.75f},
                              {1.0f, -1.0f, 0.125f, 0.0f},
                              {-0.6f, 0.1f, 0.2f, 0.3f}};
static const unsigned char MASK[4] = {2, 2, 1, 1};

/* Made by tools/make_optim_fixtures.py with PyTorch 1.13.0a0, float64. */
static const double want_sgd[][4] = {
	{0.39166666666666666, -1.1625000000000001, 1.9833333333333334, -0.39999999999999997},
	{0.25027777777777777, -1.2329166666666667, 1.9533333333333334, 0.033333333333333284},
	{-0.20311111111111113, -1.5163333333333333, 2.4128333333333334, -0.13166666666666677},
	{-1.6010055555555556, -0.69559166666666661, 2.7013833333333332, -0.28016666666666679},
	{-2.1692119092680655, -0.033618159784643428, 2.7600613044334961, -0.70642853395179406},
};
static const double want_adam[][4] = {
	{0.16768916155419222, -0.91793168880455411, 1.673202614379085, -0.23311125916055966},
	{-0.09529603903331163, -1.08798909397678, 1.2605235854745358, -0.066193306950444591},
	{-0.74311051368739933, -1.5455764935248433, 1.9033443855720611, -0.096286556672037046},
	{-1.5361341283142642, -1.0843026696821059, 2.2241992915611379, -0.11956684008060002},
	{-1.7075763491978069, -0.74866819864631451, 2.2236398376498649, -0.21465337123820266},
};
static const double want_adamw[][4] = {
	{0.15944075304540417, -0.89749170812603629, 1.673202614379085, -0.23311125916055966},
	{-0.079124048051186363, -1.1456563754172064, 1.2605235854745358, -0.066193306950444591},
	{-0.71254566706497291, -1.6974782833719599, 1.9033443855720611, -0.096286556672037046},
	{-1.4616620791044492, -1.2342132789047222, 2.2241992915611379, -0.11956684008060002},
	{-1.6125335229425941, -0.93580891373472141, 2.2236398376498649, -0.21465337123820266},
};
static const double want_lr_cosine[] = {0.033333333333333333, 0.066666666666666666, 0.10000000000000001, 0.10000000000000001, 0.098296291314453416, 0.093301270189221949, 0.085355339059327379, 0.075000000000000011, 0.062940952255126054, 0.05000000000000001, 0.037059047744873973, 0.025000000000000015, 0.01464466094067263, 0.0066987298107780658, 0.0017037086855465904};
static const double want_lr_step[] = {0.033333333333333333, 0.066666666666666666, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.050000000000000003, 0.050000000000000003, 0.050000000000000003, 0.050000000000000003, 0.050000000000000003, 0.050000000000000003};

/* The run of the fixtures: 5 epochs of 3 steps, one of warmup. */
static void fixture_opts(cnnf_optim_opts *o, cnnf_optim_kind k, cnnf_sched_kind s, double lr)
{
	cnnf_optim_opts_init(o);
	o->kind = k;
	o->schedule = s;
	o->lr = lr;
	o->warmup = 1;
	o->step_size = 2;
	o->gamma = 0.5;
}

/* |got - want| within tol, relative to max(1, |want|). */
static void near(double got, double want, double tol, const char *what, int step, int i)
{
	double err = fabs(got - want) / fmax(1, fabs(want));
	ck_assert_msg(err <= tol, "%s step %d [%d]: %.17g, want %.17g", what, step, i, got,
	              want);
}

static const struct trajectory {
	cnnf_optim_kind kind;
	double beta1, beta2, eps;
	const double (*want)[4];
} trajectories[] = {
	{CNNF_OPTIM_SGD, 0.9, 0.999, 1e-8, want_sgd},
	{CNNF_OPTIM_ADAM, 0.8, 0.95, 1e-3, want_adam},
	{CNNF_OPTIM_ADAMW, 0.8, 0.95, 1e-3, want_adamw},
};

START_TEST(test_trajectory)
{
	const struct trajectory *c = &trajectories[_i];
	cnnf_optim_opts o;
	fixture_opts(&o, c->kind, CNNF_SCHED_COSINE, 1.0);
	o.beta1 = c->beta1;
	o.beta2 = c->beta2;
	o.eps = c->eps;
	o.weight_decay = 0.05;
	ck_assert_int_eq(cnnf_optim_check(&o, 5), 0);
	cnnf_optim *s = cnnf_optim_new(&o, 4);
	ck_assert_ptr_nonnull(s);
	float p[4];
	memcpy(p, P0, sizeof p);
	for (int t = 0; t < 5; t++) {
		double lr = cnnf_optim_lr(&o, 5, 3, (uint64_t)t);
		near(lr, 10 * want_lr_cosine[t], 1e-12, "lr", t, 0);
		cnnf_optim_step(s, p, G[t], MASK, lr);
		/* float32 state against PyTorch's float64: a few float roundings a step */
		for (int i = 0; i < 4; i++)
			near(p[i], c->want[t][i], 3e-6, cnnf_optim_name(c->kind), t, i);
	}
	cnnf_optim_free(s);
}
END_TEST

START_TEST(test_schedules)
{
	cnnf_optim_opts o;
	fixture_opts(&o, CNNF_OPTIM_SGD, CNNF_SCHED_COSINE, 0.1);
	for (int i = 0; i < 15; i++)
		near(cnnf_optim_lr(&o, 5, 3, (uint64_t)i), want_lr_cosine[i], 1e-12, "cosine", i, 0);
	fixture_opts(&o, CNNF_OPTIM_SGD, CNNF_SCHED_STEP, 0.1);
	for (int i = 0; i < 15; i++)
		near(cnnf_optim_lr(&o, 5, 3, (uint64_t)i), want_lr_step[i], 1e-12, "step", i, 0);
	/* Without warmup a cosine run starts at the base rate and a constant one stays there exactly. */
	fixture_opts(&o, CNNF_OPTIM_SGD, CNNF_SCHED_COSINE, 0.1);
	o.warmup = 0;
	ck_assert(cnnf_optim_lr(&o, 4, 10, 0) == 0.1);
	near(cnnf_optim_lr(&o, 4, 10, 20), 0.05, 1e-15, "cosine half way", 20, 0);
	o.schedule = CNNF_SCHED_CONSTANT;
	for (uint64_t i = 0; i < 40; i++)
		ck_assert(cnnf_optim_lr(&o, 4, 10, i) == 0.1);
	/* The default step size: a third of the epochs after the warmup, at least 1. */
	o.step_size = 0;
	o.warmup = 1;
	ck_assert_int_eq(cnnf_optim_step_size(&o, 10), 3);
	ck_assert_int_eq(cnnf_optim_step_size(&o, 3), 1);
	o.step_size = 4;
	ck_assert_int_eq(cnnf_optim_step_size(&o, 10), 4);
}
END_TEST

/*
 * The default recipe (sgd, constant) must keep the arithmetic the golden
 * training digests were made with: the velocity stored as float, the step
 * taken with its double value. And Adam against its formula written out
 * plainly in double, with the moments rounded to float where they are
 * stored.
 */
START_TEST(test_plain_formulas)
{
	cnnf_optim_opts o;
	cnnf_optim_opts_init(&o);
	cnnf_optim *s = cnnf_optim_new(&o, 4);
	float p[4], vel[4] = {0};
	float q[4];
	memcpy(p, P0, sizeof p);
	memcpy(q, P0, sizeof q);
	for (int t = 0; t < 5; t++) {
		double lr = cnnf_optim_lr(&o, 10, 7, (uint64_t)t);
		ck_assert(lr == 0.01);
		cnnf_optim_step(s, p, G[t], MASK, lr);
		for (int i = 0; i < 4; i++) {
			double g = G[t][i];
			if (MASK[i] == 2)
				g += 5e-4 * q[i];
			double v = 0.9 * vel[i] + g;
			vel[i] = (float)v;
			q[i] = (float)(q[i] - 0.01 * v);
			ck_assert_msg(p[i] == q[i], "sgd step %d [%d]: %.9g, not %.9g", t, i, p[i], q[i]);
		}
	}
	cnnf_optim_free(s);

	o.kind = CNNF_OPTIM_ADAM;
	o.weight_decay = 0.1;
	s = cnnf_optim_new(&o, 4);
	float m[4] = {0}, v2[4] = {0};
	memcpy(p, P0, sizeof p);
	memcpy(q, P0, sizeof q);
	for (int t = 1; t <= 5; t++) {
		double lr = cnnf_optim_lr(&o, 10, 7, (uint64_t)t - 1);
		ck_assert(lr == 0.001);
		cnnf_optim_step(s, p, G[t - 1], MASK, lr);
		for (int i = 0; i < 4; i++) {
			double g = G[t - 1][i] + (MASK[i] == 2 ? 0.1 * q[i] : 0);
			m[i] = (float)(0.9 * m[i] + 0.1 * g);
			v2[i] = (float)(0.999 * v2[i] + 0.001 * g * g);
			double mhat = m[i] / (1 - pow(0.9, t));
			/* PyTorch's order: eps is added to sqrt(s) / sqrt(1 - beta2^t) */
			double denom = sqrt(v2[i]) / sqrt(1 - pow(0.999, t)) + 1e-8;
			q[i] = (float)(q[i] - lr * mhat / denom);
			near(p[i], q[i], 1e-7, "adam", t, i);
		}
	}
	cnnf_optim_free(s);
}
END_TEST

/* Mask 0 leaves a parameter alone; a parameter without decay is the same under adam and adamw. */
START_TEST(test_mask)
{
	static const unsigned char mask[4] = {0, 1, 2, 0};
	float pa[4], pw[4];
	memcpy(pa, P0, sizeof pa);
	memcpy(pw, P0, sizeof pw);
	cnnf_optim_opts o;
	cnnf_optim_opts_init(&o);
	o.weight_decay = 0.1;
	o.kind = CNNF_OPTIM_ADAM;
	cnnf_optim *a = cnnf_optim_new(&o, 4);
	o.kind = CNNF_OPTIM_ADAMW;
	cnnf_optim *w = cnnf_optim_new(&o, 4);
	for (int t = 0; t < 5; t++) {
		cnnf_optim_step(a, pa, G[t], mask, 0.01);
		cnnf_optim_step(w, pw, G[t], mask, 0.01);
	}
	ck_assert(pa[0] == P0[0] && pa[3] == P0[3] && pw[0] == P0[0] && pw[3] == P0[3]);
	ck_assert(pa[1] == pw[1]);
	ck_assert(pa[2] != pw[2]);
	cnnf_optim_free(a);
	cnnf_optim_free(w);
}
END_TEST

START_TEST(test_names_defaults)
{
	static const char *const names[] = {"sgd", "adam", "adamw"};
	static const double lr[] = {0.01, 0.001, 0.001}, decay[] = {5e-4, 0, 0.01};
	for (int k = 0; k < 3; k++) {
		cnnf_optim_kind got;
		ck_assert_int_eq(cnnf_optim_parse(names[k], &got), 0);
		ck_assert_int_eq(got, k);
		ck_assert_str_eq(cnnf_optim_name(got), names[k]);
		cnnf_optim_opts o;
		cnnf_optim_opts_init(&o);
		o.kind = got;
		ck_assert(cnnf_optim_base_lr(&o) == lr[k]);
		ck_assert(cnnf_optim_decay(&o) == decay[k]);
		ck_assert(cnnf_optim_default_decay(got) == decay[k]);
		o.lr = 0.5;
		o.weight_decay = 0;
		ck_assert(cnnf_optim_base_lr(&o) == 0.5 && cnnf_optim_decay(&o) == 0);
	}
	static const char *const scheds[] = {"constant", "step", "cosine"};
	for (int k = 0; k < 3; k++) {
		cnnf_sched_kind got;
		ck_assert_int_eq(cnnf_sched_parse(scheds[k], &got), 0);
		ck_assert_int_eq(got, k);
		ck_assert_str_eq(cnnf_sched_name(got), scheds[k]);
	}
	cnnf_optim_opts o;
	cnnf_optim_opts_init(&o);
	ck_assert(o.kind == CNNF_OPTIM_SGD && o.schedule == CNNF_SCHED_CONSTANT && o.warmup == 0);
	ck_assert(o.momentum == 0.9 && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
	char line[256];
	cnnf_optim_describe(&o, 10, line, sizeof line);
	ck_assert_str_eq(line, "optimizer sgd  lr 0.01  momentum 0.9  weight decay 0.0005  "
	                       "schedule constant  warmup 0");
	o.kind = CNNF_OPTIM_ADAMW;
	o.schedule = CNNF_SCHED_STEP;
	o.warmup = 1;
	cnnf_optim_describe(&o, 10, line, sizeof line);
	ck_assert_str_eq(line, "optimizer adamw  lr 0.001  betas 0.9 0.999  eps 1e-08  weight decay "
	                       "0.01  schedule step (x0.1 every 3 epochs)  warmup 1");
}
END_TEST

START_TEST(test_bad_names)
{
	cnnf_optim_kind k = CNNF_OPTIM_ADAM;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_optim_parse("Adam", &k), -1);
	ck_assert_error_has("--optimizer: 'Adam' is not sgd, adam or adamw");
	ck_assert_int_eq(k, CNNF_OPTIM_ADAM);
	cnnf_sched_kind s = CNNF_SCHED_STEP;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_sched_parse("linear", &s), -1);
	ck_assert_error_has("--schedule: 'linear' is not constant, step or cosine");
	ck_assert_int_eq(s, CNNF_SCHED_STEP);
}
END_TEST

static const struct bad {
	int field;
	double v;
	const char *msg;
} bads[] = {
	{0, 0, "learning rate must be a positive number, not 0"},
	{1, 1, "momentum must be from 0 to below 1, not 1"},
	{2, 1, "betas must be from 0 to below 1, not 1 and 0.999"},
	{3, -0.5, "betas must be from 0 to below 1, not 0.9 and -0.5"},
	{4, 0, "eps must be a positive number, not 0"},
	{5, -1, "weight decay must be 0 or more, not -1"},
	{5, INFINITY, "weight decay must be 0 or more, not inf"},
	{6, 10, "warmup must be from 0 to below the 10 epochs, not 10"},
	{7, 0, "positive gamma, not 0 and 0"},
};

START_TEST(test_bad_opts)
{
	const struct bad *b = &bads[_i];
	cnnf_optim_opts o;
	cnnf_optim_opts_init(&o);
	double *field[] = {&o.lr, &o.momentum, &o.beta1, &o.beta2, &o.eps, &o.weight_decay, NULL,
	                   &o.gamma};
	if (b->field == 6)
		o.warmup = (int)b->v;
	else
		*field[b->field] = b->v;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_optim_check(&o, 10), -1);
	ck_assert_error_has(b->msg);
}
END_TEST

static Suite *optim_suite(void)
{
	Suite *s = suite_create("optim");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_trajectory, 0, sizeof trajectories / sizeof *trajectories);
	tcase_add_test(tc, test_schedules);
	tcase_add_test(tc, test_plain_formulas);
	tcase_add_test(tc, test_mask);
	tcase_add_test(tc, test_names_defaults);
	suite_add_tcase(s, tc);
	TCase *te = tcase_create("errors");
	tcase_add_test(te, test_bad_names);
	tcase_add_loop_test(te, test_bad_opts, 0, sizeof bads / sizeof *bads);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	return cnnf_test_run(optim_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
