/* check_segment.c: patch segmentation against PyTorch's label maps, palettes and overlays. */
#include <math.h>
#include <stdint.h>

#include "io/io.h"
#include "nn/model.h"
#include "nn/net.h"
#include "task/segment.h"
#include "testutil.h"

static const char *const borders[] = {"zero", "replicate", "reflect", "symmetric", "wrap"};

typedef struct fixture {
	cnnf_model *model;
	cnnf_net *net;
	cnnf_image *img;
} fixture;

static fixture load_small(void)
{
	fixture f;
	char path[4096];
	snprintf(path, sizeof path, "%s/net/seg_small.cnnf", TEST_DATA_DIR);
	f.model = cnnf_model_load(path, NULL);
	ck_assert_msg(f.model != NULL, "%s", cnnf_error_get());
	f.net = cnnf_net_new(f.model, "test", 0, 1);
	ck_assert_ptr_nonnull(f.net);
	snprintf(path, sizeof path, "%s/net/seg_small.input.pgm", TEST_DATA_DIR);
	f.img = cnnf_io_read(path, 0);
	ck_assert_msg(f.img != NULL, "%s", cnnf_error_get());
	return f;
}

static void free_fixture(fixture *f)
{
	cnnf_net_free(f->net);
	cnnf_model_free(f->model);
	cnnf_image_free(f->img);
}

/* Every border mode gives PyTorch's label map (numpy.pad of the raw image). */
START_TEST(test_labels_per_border)
{
	fixture f = load_small();
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	o.mode = CNNF_SEGMENT_PATCH;
	ck_assert_int_eq(cnnf_conv_border_parse(borders[_i], &o.border), 0);
	cnnf_image *labels = NULL;
	ck_assert_int_eq(cnnf_segment_run(f.net, f.img, "seg_small", &o, &labels, NULL), 0);
	ck_assert_int_eq(labels->width, 9);
	ck_assert_int_eq(labels->height, 7);
	ck_assert_int_eq(labels->channels, 1);
	char path[4096];
	snprintf(path, sizeof path, "%s/net/seg_small.labels.%s.txt", TEST_DATA_DIR, borders[_i]);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	const uint8_t *got = labels->data;
	for (int i = 0; i < 63; i++) {
		int want;
		ck_assert_int_eq(fscanf(fp, "%d", &want), 1);
		ck_assert_msg(got[i] == want, "%s: pixel (%d, %d): label %d, PyTorch %d",
			      borders[_i], i / 9, i % 9, got[i], want);
	}
	fclose(fp);
	cnnf_image_free(labels);
	free_fixture(&f);
}
END_TEST

/* Dense evaluation gives the same labels, and probabilities within float rounding, in tiles too. */
START_TEST(test_dense_equals_patch)
{
	fixture f = load_small();
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	ck_assert_int_eq(cnnf_conv_border_parse(borders[_i], &o.border), 0);
	o.mode = CNNF_SEGMENT_PATCH;
	cnnf_image *lp, *pp;
	ck_assert_int_eq(cnnf_segment_run(f.net, f.img, "s", &o, &lp, &pp), 0);
	o.mode = CNNF_SEGMENT_DENSE;
	for (int tile = 0; tile <= 11; tile++) {
		/* 0: the whole image in one tile; columns 2 and 3 overlap the last strip */
		o.tile_rows = tile % 4, o.tile_cols = tile / 4 ? tile / 4 + 1 : 0;
		cnnf_image *ld, *pd;
		ck_assert_int_eq(cnnf_segment_run(f.net, f.img, "s", &o, &ld, &pd), 0);
		ck_assert_mem_eq(ld->data, lp->data, 63);
		const float *a = pp->data, *b = pd->data;
		for (int i = 0; i < 63 * 3; i++)
			ck_assert_float_eq_tol(a[i], b[i], 1e-6);
		cnnf_image_free(ld);
		cnnf_image_free(pd);
	}
	cnnf_image_free(lp);
	cnnf_image_free(pp);
	free_fixture(&f);
}
END_TEST

/* A model whose conv pads cannot be run densely; dense mode then gives the patch result. */
START_TEST(test_dense_padded_model)
{
	/* conv 3x3 pad 1 on a 3x3 patch, then fc 2: the pad sees zeros at the patch edge. */
	char text[4096];
	int n = snprintf(text, sizeof text,
			 "cnnf-model 1\ninput channels=1 height=3 width=3\n"
			 "conv out=1 kernel=3 pad=1\nfc out=2\nweights text 30\n");
	for (int i = 0; i < 9; i++)
		n += snprintf(text + n, sizeof text - n, "%d ", i % 3 - 1);
	n += snprintf(text + n, sizeof text - n, "0.5 ");
	for (int i = 0; i < 18; i++)
		n += snprintf(text + n, sizeof text - n, "%d ", (i * 5) % 7 - 3);
	snprintf(text + n, sizeof text - n, "0 0.25\n");
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "pad.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_net *net = cnnf_net_new(m, "test", 0, 1);
	fixture f = load_small();
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	o.mode = CNNF_SEGMENT_PATCH;
	cnnf_image *lp, *ld, *pp, *pd;
	ck_assert_int_eq(cnnf_segment_run(net, f.img, "s", &o, &lp, &pp), 0);
	o.mode = CNNF_SEGMENT_DENSE;
	ck_assert_int_eq(cnnf_segment_run(net, f.img, "s", &o, &ld, &pd), 0);
	ck_assert_mem_eq(ld->data, lp->data, 63);
	ck_assert_mem_eq(pd->data, pp->data, 63 * 2 * sizeof(float));
	cnnf_image_free(lp);
	cnnf_image_free(ld);
	cnnf_image_free(pp);
	cnnf_image_free(pd);
	cnnf_net_free(net);
	cnnf_model_free(m);
	free_fixture(&f);
}
END_TEST

START_TEST(test_probs_and_threads)
{
	fixture f = load_small();
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	o.threads = 1;
	cnnf_image *l1, *p1, *l3, *p3;
	ck_assert_int_eq(cnnf_segment_run(f.net, f.img, "s", &o, &l1, &p1), 0);
	o.threads = 3;
	ck_assert_int_eq(cnnf_segment_run(f.net, f.img, "s", &o, &l3, &p3), 0);
	ck_assert_int_eq(p1->channels, 3);
	ck_assert_int_eq(p1->type, CNNF_F32);
	ck_assert_mem_eq(p1->data, p3->data, sizeof(float) * 63 * 3);
	ck_assert_mem_eq(l1->data, l3->data, 63);
	char path[4096];
	snprintf(path, sizeof path, "%s/net/seg_small.probs.reflect.txt", TEST_DATA_DIR);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	const float *p = p1->data;
	for (int i = 0; i < 63 * 3; i++) {
		double want;
		ck_assert_int_eq(fscanf(fp, "%lf", &want), 1);
		ck_assert_msg(fabs(p[i] - want) < 1e-6, "prob %d: %.9g, PyTorch %.9g", i, p[i],
			      want);
	}
	fclose(fp);
	cnnf_image_free(l1);
	cnnf_image_free(p1);
	cnnf_image_free(l3);
	cnnf_image_free(p3);
	free_fixture(&f);
}
END_TEST

/* A model without softmax: probabilities are the softmax of its outputs, labels its argmax. */
START_TEST(test_no_softmax_and_ties)
{
	/* 1x1x1 input; fc out=3 with weights 1, 1, 0 and biases 0: a tie between 0 and 1. */
	const char *text = "cnnf-model 1\ninput channels=1 height=1 width=1\nfc out=3\n"
			   "weights text 6\n1 1 0 0 0 0\n";
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "tie.cnnf", NULL);
	ck_assert_ptr_nonnull(m);
	cnnf_net *n = cnnf_net_new(m, "test", 0, 1);
	cnnf_image *img = cnnf_image_new(2, 1, 1, CNNF_U8);
	((uint8_t *)img->data)[0] = 255; /* v = 1: scores 1, 1, 0 */
	((uint8_t *)img->data)[1] = 0;   /* all scores 0 */
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	cnnf_image *labels, *probs;
	ck_assert_int_eq(cnnf_segment_run(n, img, "t", &o, &labels, &probs), 0);
	ck_assert_int_eq(((uint8_t *)labels->data)[0], 0); /* lowest index on a tie */
	ck_assert_int_eq(((uint8_t *)labels->data)[1], 0);
	const float *p = probs->data;
	double e = exp(1.0), sum = 2 * e + 1;
	ck_assert_float_eq_tol(p[0], e / sum, 1e-6);
	ck_assert_float_eq_tol(p[2], 1 / sum, 1e-6);
	ck_assert_float_eq_tol(p[3], 1.0 / 3, 1e-6);
	cnnf_image_free(labels);
	cnnf_image_free(probs);
	cnnf_image_free(img);
	cnnf_net_free(n);
	cnnf_model_free(m);
}
END_TEST

/* 16-bit input is divided by 65535: a raw 65535 is 1.0, and mean/std apply. */
START_TEST(test_sixteen_bit_scale)
{
	/* fc weights [1; -1], bias [0; 0.5]: class 0 wins when (v - 0.25) / 0.5 > 0.25. */
	const char *text = "cnnf-model 1\ninput channels=1 height=1 width=1 mean=0.25 std=0.5\n"
			   "fc out=2\nweights text 4\n1 -1 0 0.5\n";
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "s.cnnf", NULL);
	ck_assert_ptr_nonnull(m);
	cnnf_net *n = cnnf_net_new(m, "test", 0, 1);
	cnnf_image *img = cnnf_image_new(2, 1, 1, CNNF_U16);
	/* 65535 -> 1 -> 1.5 vs -1.0: class 0.  16384 -> 0.25 -> 0 vs 0.5: class 1. */
	((uint16_t *)img->data)[0] = 65535;
	((uint16_t *)img->data)[1] = 16384;
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	cnnf_image *labels;
	ck_assert_int_eq(cnnf_segment_run(n, img, "s", &o, &labels, NULL), 0);
	ck_assert_int_eq(((uint8_t *)labels->data)[0], 0);
	ck_assert_int_eq(((uint8_t *)labels->data)[1], 1);
	cnnf_image_free(labels);
	cnnf_image_free(img);
	cnnf_net_free(n);
	cnnf_model_free(m);
}
END_TEST

/* Normalising (a table for 8-bit samples) against the plain formula, bit for bit, 3 channels. */
START_TEST(test_normalise_bits)
{
	static const cnnf_type types[] = {CNNF_U8, CNNF_U16, CNNF_F32};
	const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
	for (int t = 0; t < 3; t++) {
		cnnf_image *img = cnnf_image_new(13, 5, 3, types[t]);
		ck_assert_ptr_nonnull(img);
		size_t n = (size_t)13 * 5 * 3;
		for (size_t i = 0; i < n; i++) {
			unsigned v = (unsigned)(i * 37 % 256);
			if (types[t] == CNNF_U8)
				((uint8_t *)img->data)[i] = (uint8_t)v;
			else if (types[t] == CNNF_U16)
				((uint16_t *)img->data)[i] = (uint16_t)(v * 257 + i);
			else
				((float *)img->data)[i] = (float)v / 255.0f - 0.25f;
		}
		float zero[3];
		cnnf_tensor *x = cnnf_segment_normalise_by(img, mean, std, zero);
		ck_assert_ptr_nonnull(x);
		double scale = img->maxval ? img->maxval : 1.0;
		for (int c = 0; c < 3; c++) {
			float z = (float)((0.0 - mean[c]) / std[c]);
			ck_assert(!memcmp(&zero[c], &z, sizeof z));
			for (size_t p = 0; p < (size_t)13 * 5; p++) {
				float want = (float)(((double)cnnf_image_getf(img, p * 3 + c) / scale - mean[c]) /
						     std[c]);
				ck_assert_msg(!memcmp(&x->data[c * 65 + p], &want, sizeof want),
					      "type %d channel %d sample %zu", t, c, p);
			}
		}
		cnnf_tensor_free(x);
		cnnf_image_free(img);
	}
}
END_TEST

START_TEST(test_palette_distinct)
{
	unsigned char pal[3 * CNNF_SEGMENT_MAX_CLASSES];
	cnnf_segment_palette(CNNF_SEGMENT_MAX_CLASSES, pal);
	/* The first 16 colours are far apart; all 256 are at least distinct. */
	for (int i = 0; i < CNNF_SEGMENT_MAX_CLASSES; i++)
		for (int j = 0; j < i; j++) {
			int d = abs(pal[3 * i] - pal[3 * j]) + abs(pal[3 * i + 1] - pal[3 * j + 1]) +
				abs(pal[3 * i + 2] - pal[3 * j + 2]);
			if (i < 16)
				ck_assert_msg(d >= 60, "colours %d and %d too close", i, j);
		}
}
END_TEST

START_TEST(test_overlay)
{
	cnnf_image *img = cnnf_image_new(1, 1, 1, CNNF_U8);
	((uint8_t *)img->data)[0] = 200;
	cnnf_image *labels = cnnf_image_new(1, 1, 1, CNNF_U8);
	((uint8_t *)labels->data)[0] = 1;
	unsigned char pal[6];
	cnnf_segment_palette(2, pal);
	cnnf_image *o = cnnf_segment_overlay(img, labels, 2, 0.5);
	ck_assert_int_eq(o->channels, 3);
	const uint8_t *d = o->data;
	for (int c = 0; c < 3; c++)
		ck_assert_int_eq(d[c], (int)floor(0.5 * 200 + 0.5 * pal[3 + c] + 0.5));
	cnnf_image_free(o);
	cnnf_image_free(labels);
	cnnf_image_free(img);
}
END_TEST

START_TEST(test_error_channels)
{
	fixture f = load_small();
	cnnf_image *rgb = cnnf_image_new(4, 4, 3, CNNF_U8);
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	cnnf_image *labels = NULL;
	ck_assert_int_eq(cnnf_segment_run(f.net, rgb, "rgb.png", &o, &labels, NULL), -1);
	ck_assert_error_has("rgb.png: the image has 3 channels; the model takes 1");
	ck_assert_ptr_null(labels);
	cnnf_image_free(rgb);
	free_fixture(&f);
}
END_TEST

START_TEST(test_error_too_many_classes)
{
	char text[8192];
	int n = snprintf(text, sizeof text,
			 "cnnf-model 1\ninput channels=1 height=1 width=1\nfc out=257\n"
			 "weights text 514\n");
	for (int i = 0; i < 514; i++)
		n += snprintf(text + n, sizeof text - n, "0 ");
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "big.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_net *net = cnnf_net_new(m, "test", 0, 1);
	cnnf_image *img = cnnf_image_new(1, 1, 1, CNNF_U8);
	cnnf_segment_opts o;
	cnnf_segment_opts_init(&o);
	cnnf_image *labels = NULL;
	ck_assert_int_eq(cnnf_segment_run(net, img, "in.png", &o, &labels, NULL), -1);
	ck_assert_error_has("in.png: the model has 257 classes; a label map holds at most 256");
	cnnf_image_free(img);
	cnnf_net_free(net);
	cnnf_model_free(m);
}
END_TEST

static Suite *segment_suite(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_labels_per_border, 0, 5);
	tcase_add_loop_test(tc, test_dense_equals_patch, 0, 5);
	tcase_add_test(tc, test_dense_padded_model);
	tcase_add_test(tc, test_probs_and_threads);
	tcase_add_test(tc, test_no_softmax_and_ties);
	tcase_add_test(tc, test_sixteen_bit_scale);
	tcase_add_test(tc, test_normalise_bits);
	tcase_add_test(tc, test_palette_distinct);
	tcase_add_test(tc, test_overlay);
	suite_add_tcase(s, tc);
	TCase *te = tcase_create("errors");
	tcase_add_test(te, test_error_channels);
	tcase_add_test(te, test_error_too_many_classes);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	return cnnf_test_run(segment_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
