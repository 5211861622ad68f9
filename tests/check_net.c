/* check_net.c: the forward pass against PyTorch's outputs and against hand-worked networks. */
#include <math.h>

#include "engine/conv.h"
#include "filter/filter.h"
#include "io/io.h"
#include "engine/kernel.h"
#include "nn/model.h"
#include "nn/net.h"
#include "testutil.h"

/* Load a model from text; fails the test if it does not load. */
static cnnf_model *model_from(const char *text)
{
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "test.cnnf", NULL);
	ck_assert_msg(m != NULL, "model did not load: %s", cnnf_error_get());
	return m;
}

static cnnf_tensor *forward(const cnnf_model *m, const cnnf_tensor *in)
{
	cnnf_net *n = cnnf_net_new(m, "test", 1, 1);
	ck_assert_ptr_nonnull(n);
	cnnf_tensor *out = NULL;
	ck_assert_int_eq(cnnf_net_forward(n, in, &out), 0);
	cnnf_net_free(n);
	return out;
}

/* Each fixture of tests/data/net against PyTorch's float64 outputs. */
static const char *const fixtures[] = {"conv_stride_pad", "conv_rect_dilation", "bn_dropout_fc",
				       "pool_stride",     "fc_only",            "small_cnn"};

START_TEST(test_pytorch_fixture)
{
	const char *name = fixtures[_i];
	char path[4096];
	snprintf(path, sizeof path, "%s/net/%s.cnnf", TEST_DATA_DIR, name);
	cnnf_model *m = cnnf_model_load(path, NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	snprintf(path, sizeof path, "%s/net/%s.input.npy", TEST_DATA_DIR, name);
	cnnf_image *img = cnnf_io_read(path, 0);
	ck_assert_msg(img != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(img->channels, m->channels);
	ck_assert_int_eq(img->height, m->height);
	ck_assert_int_eq(img->width, m->width);
	cnnf_tensor *in = cnnf_tensor_from_image(img);
	cnnf_tensor *out = forward(m, in);
	ck_assert_int_eq(out->c, m->classes);
	ck_assert_int_eq(out->h, 1);
	ck_assert_int_eq(out->w, 1);
	snprintf(path, sizeof path, "%s/net/%s.expected.txt", TEST_DATA_DIR, name);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	for (int k = 0; k < m->classes; k++) {
		double want;
		ck_assert_int_eq(fscanf(fp, "%lf", &want), 1);
		/* float32 activations against PyTorch in float64: a few ulps of float. */
		ck_assert_msg(fabs(out->data[k] - want) <= 1e-5 * (1 + fabs(want)),
			      "%s output %d: got %.9g, PyTorch %.9g", name, k, out->data[k], want);
	}
	fclose(fp);
	cnnf_tensor_free(in);
	cnnf_tensor_free(out);
	cnnf_image_free(img);
	cnnf_model_free(m);
}
END_TEST

/*
 * A network worked out by hand: input 1x3x3 = 1..9, conv 2x2 with weights
 * [1 0; 0 -1] bias 1 -> 1 + a - d over the four windows: 1+1-5 = -3,
 * 1+2-6 = -3, 1+4-8 = -3, 1+5-9 = -3; relu -> 0; then fc 2 with weights
 * [1 1 1 1; 0 0 0 0] and biases 0.5, 0.25 -> 0.5, 0.25.
 */
START_TEST(test_hand_relu_kills)
{
	cnnf_model *m = model_from("cnnf-model 1\n"
				   "input channels=1 height=3 width=3\n"
				   "conv out=1 kernel=2\nrelu\nfc out=2\n"
				   "weights text 15\n"
				   "1 0 0 -1  1\n"
				   "1 1 1 1 0 0 0 0  0.5 0.25\n");
	cnnf_tensor *in = cnnf_tensor_new(1, 3, 3);
	for (int i = 0; i < 9; i++)
		in->data[i] = (float)(i + 1);
	cnnf_tensor *out = forward(m, in);
	ck_assert_float_eq(out->data[0], 0.5f);
	ck_assert_float_eq(out->data[1], 0.25f);
	cnnf_tensor_free(in);
	cnnf_tensor_free(out);
	cnnf_model_free(m);
}
END_TEST

/*
 * Input 1x4x4 = 0..15; maxpool 2 -> [5 7; 13 15]; avgpool 2 -> 10;
 * fc 2 weights [2; -1] bias [0; 30] -> 20, 20; softmax -> 0.5, 0.5.
 */
START_TEST(test_hand_pools_softmax)
{
	cnnf_model *m = model_from("cnnf-model 1\n"
				   "input channels=1 height=4 width=4\n"
				   "maxpool kernel=2\navgpool kernel=2\nfc out=2\nsoftmax\n"
				   "weights text 4\n2 -1 0 30\n");
	cnnf_tensor *in = cnnf_tensor_new(1, 4, 4);
	for (int i = 0; i < 16; i++)
		in->data[i] = (float)i;
	cnnf_tensor *out = forward(m, in);
	ck_assert_float_eq_tol(out->data[0], 0.5f, 1e-7f);
	ck_assert_float_eq_tol(out->data[1], 0.5f, 1e-7f);
	cnnf_tensor_free(in);
	cnnf_tensor_free(out);
	cnnf_model_free(m);
}
END_TEST

/*
 * Batchnorm in eval mode: y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * Channel values 3 with gamma 2, beta 1, mean 1, var 3, eps 1 -> (3-1)/2*2+1 = 3;
 * dropout passes it through; fc [1] bias 0 and [-1] bias 0 -> 3, -3.
 */
START_TEST(test_hand_batchnorm)
{
	cnnf_model *m = model_from("cnnf-model 1\n"
				   "input channels=1 height=1 width=1\n"
				   "batchnorm eps=1\ndropout p=0.5\nfc out=2\n"
				   "weights text 8\n2 1 1 3\n1 -1 0 0\n");
	cnnf_tensor *in = cnnf_tensor_new(1, 1, 1);
	in->data[0] = 3;
	cnnf_tensor *out = forward(m, in);
	ck_assert_float_eq_tol(out->data[0], 3.0f, 1e-6f);
	ck_assert_float_eq_tol(out->data[1], -3.0f, 1e-6f);
	cnnf_tensor_free(in);
	cnnf_tensor_free(out);
	cnnf_model_free(m);
}
END_TEST

/* A one-conv-layer network computes what the conv engine computes for the filter command. */
START_TEST(test_one_layer_equals_conv)
{
	/* 2 filters of depth 2, 3x3, stride 2, pad 1, dilation 1, on a 2x7x6 input. */
	char text[8192];
	int n = snprintf(text, sizeof text,
			 "cnnf-model 1\ninput channels=2 height=7 width=6\n"
			 "conv out=2 kernel=3 stride=2 pad=1\nfc out=2\nweights text %d\n",
			 2 * 2 * 9 + 2 + 2 * (2 * 4 * 3) + 2);
	cnnf_kernel *k = cnnf_kernel_new(2, 2, 3, 3);
	for (int i = 0; i < 36; i++) {
		k->weights[i] = ((i * 7) % 11) - 5;
		n += snprintf(text + n, sizeof text - n, "%g ", k->weights[i]);
	}
	k->bias[0] = 0.5;
	k->bias[1] = -1.25;
	n += snprintf(text + n, sizeof text - n, "0.5 -1.25\n");
	/* fc after the conv: 2x4x3 inputs; the fc part is not compared. */
	for (int i = 0; i < 2 * 24 + 2; i++)
		n += snprintf(text + n, sizeof text - n, "0 ");
	cnnf_model *m = model_from(text);
	cnnf_tensor *in = cnnf_tensor_new(2, 7, 6);
	for (int i = 0; i < 84; i++)
		in->data[i] = (float)((i * 13) % 17);
	cnnf_tensor *direct = NULL;
	cnnf_conv_geom g = {1, 1, 1, 1, 2, 2, 1, 1, CNNF_BORDER_ZERO};
	ck_assert_int_eq(cnnf_conv_apply(in, k, &g, NULL, 1, "k", &direct), 0);
	/* The layer's own output: run a net made of the conv layer alone. */
	cnnf_model one = *m;
	one.nlayers = 1;
	cnnf_net *net = cnnf_net_new(&one, "test", 1, 0);
	cnnf_tensor *out = NULL;
	ck_assert_int_eq(cnnf_net_forward(net, in, &out), 0);
	ck_assert_int_eq(out->c, 2);
	ck_assert_int_eq(out->h, 4);
	ck_assert_int_eq(out->w, 3);
	ck_assert_mem_eq(out->data, direct->data, sizeof(float) * 24);
	cnnf_net_free(net);
	cnnf_tensor_free(out);
	cnnf_tensor_free(direct);
	cnnf_tensor_free(in);
	cnnf_kernel_free(k);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_softmax)
{
	/* exp(0)/(exp(0)+exp(ln 3)) = 1/4, no overflow for huge inputs. */
	float v[2] = {0, (float)log(3.0)};
	cnnf_net_softmax(v, 2);
	ck_assert_float_eq_tol(v[0], 0.25f, 1e-7f);
	ck_assert_float_eq_tol(v[1], 0.75f, 1e-7f);
	float big[3] = {1000, 1000, 1000};
	cnnf_net_softmax(big, 3);
	ck_assert_float_eq_tol(big[2], 1.0f / 3, 1e-7f);
}
END_TEST

/* The softmax as first written: every exp computed twice, exp(0) included. */
static void softmax_ref(float *v, int k)
{
	double max = v[0], sum = 0;
	for (int i = 1; i < k; i++)
		if (v[i] > max)
			max = v[i];
	for (int i = 0; i < k; i++)
		sum += exp((double)v[i] - max);
	for (int i = 0; i < k; i++)
		v[i] = (float)(exp((double)v[i] - max) / sum);
}

START_TEST(test_softmax_bits)
{
	/* Bit for bit the reference, with ties, small and large k (70: past the kept exps). */
	static const int ks[] = {1, 2, 3, 7, 64, 65, 70};
	unsigned s = 12345;
	float a[70], b[70];
	for (size_t t = 0; t < sizeof ks / sizeof *ks; t++)
		for (int rep = 0; rep < 200; rep++) {
			int k = ks[t];
			for (int i = 0; i < k; i++) {
				s = s * 1103515245u + 12345u;
				a[i] = (float)((int)(s >> 16) % 2001 - 1000) / (rep % 3 ? 37.0f : 1.0f);
			}
			if (k > 1 && rep % 4 == 0)
				a[k - 1] = a[0]; /* a tie for the maximum, now and then */
			memcpy(b, a, sizeof(float) * (size_t)k);
			cnnf_net_softmax(a, k);
			softmax_ref(b, k);
			ck_assert_mem_eq(a, b, sizeof(float) * (size_t)k);
		}
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_pytorch_fixture, 0, sizeof fixtures / sizeof *fixtures);
	tcase_add_test(tc, test_hand_relu_kills);
	tcase_add_test(tc, test_hand_pools_softmax);
	tcase_add_test(tc, test_hand_batchnorm);
	tcase_add_test(tc, test_one_layer_equals_conv);
	tcase_add_test(tc, test_softmax);
	tcase_add_test(tc, test_softmax_bits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(net_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
