/* check_onnx_save.c: cnnf models written as ONNX (nn/onnx_save.c) compute what the models do. */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/rng.h"
#include "nn/graph.h"
#include "nn/model.h"
#include "nn/model_graph.h"
#include "nn/model_save.h"
#include "nn/onnx.h"
#include "nn/onnx_save.h"
#include "testutil.h"

/* Where the exported files are left, for tools/check_export_ort.js to run in ONNX Runtime. */
static const char *export_dir(void)
{
	static char dir[4300];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "%s/export", cnnf_test_tmpdir());
		mkdir(dir, 0777);
	}
	return dir;
}

static const char *const models[] = {"bn_dropout_fc", "conv_rect_dilation", "conv_stride_pad",
                                     "fc_only",       "pool_stride",        "seg_small",
                                     "small_cnn"};

/* g prepared for nb patches of m's input size. */
static void prepare(cnnf_graph *g, const cnnf_model *m, int nb, const char *what)
{
	int nd = 4;
	int64_t shape[1][CNNF_GRAPH_MAX_DIMS] = {{nb, m->channels, m->height, m->width}};
	ck_assert_msg(
	    cnnf_graph_prepare(g, &nd, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) == 0,
	    "%s: %s", what, cnnf_error_get());
}

/*
 * Each fixture of tests/data/net exported and loaded back by cnnf's ONNX
 * reader gives, on random patches, the outputs of the model's own graph fed
 * the patches normalised by its header (the export puts that normalisation
 * into the graph): within 1e-5 of the largest output.
 */
START_TEST(test_export_computes_the_model)
{
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		char src[4300], dst[4400];
		snprintf(src, sizeof src, "%s/net/%s.cnnf", TEST_DATA_DIR, models[i]);
		snprintf(dst, sizeof dst, "%s/%s.onnx", export_dir(), models[i]);
		cnnf_model *m = cnnf_model_load(src, NULL);
		ck_assert_msg(m != NULL, "%s", cnnf_error_get());
		ck_assert_msg(cnnf_model_save(m, dst) == 0, "%s", cnnf_error_get());
		cnnf_graph *onnx = NULL, *own = NULL;
		ck_assert_msg(cnnf_onnx_load(dst, NULL, &onnx) == 0, "%s: %s", dst, cnnf_error_get());
		ck_assert_msg(cnnf_model_graph(m, src, &own) == 0, "%s", cnnf_error_get());
		int nb = 5;
		prepare(onnx, m, nb, dst);
		prepare(own, m, nb, src);
		size_t ps = (size_t)m->channels * m->height * m->width, plane = ps / m->channels;
		float *x = malloc(sizeof(float) * ps * nb), *xn = malloc(sizeof(float) * ps * nb);
		ck_assert(x && xn);
		cnnf_rng r;
		cnnf_rng_seed(&r, 7 + i);
		for (size_t k = 0; k < ps * nb; k++) {
			x[k] = (float)cnnf_rng_uniform(&r);
			size_t c = k / plane % (size_t)m->channels;
			xn[k] = (x[k] - m->mean[c]) / m->std[c];
		}
		const void *in1[1] = {x}, *in2[1] = {xn};
		void *o1[1] = {NULL}, *o2[1] = {NULL};
		ck_assert_msg(cnnf_graph_run(onnx, in1, o1) == 0, "%s", cnnf_error_get());
		ck_assert_msg(cnnf_graph_run(own, in2, o2) == 0, "%s", cnnf_error_get());
		const cnnf_value *v1 = &onnx->val[onnx->out[0]], *v2 = &own->val[own->out[0]];
		ck_assert_int_eq(v1->ndim, v2->ndim);
		size_t n = 1;
		for (int d = 0; d < v1->ndim; d++) {
			ck_assert_int_eq(v1->dim[d], v2->dim[d]);
			n *= (size_t)v1->dim[d];
		}
		double top = 0, worst = 0;
		for (size_t k = 0; k < n; k++) {
			top = fmax(top, fabs(((float *)o2[0])[k]));
			worst = fmax(worst, fabs(((float *)o1[0])[k] - ((float *)o2[0])[k]));
		}
		ck_assert_msg(worst <= 1e-5 * top, "%s: exported graph off by %g (largest %g)",
		              models[i], worst, top);
		free(o1[0]), free(o2[0]), free(x), free(xn);
		cnnf_graph_free(onnx);
		cnnf_graph_free(own);
		cnnf_model_free(m);
	}
}
END_TEST

/* The file: ONNX's magic bytes (field 1 = IR version 7), the opset, the labels, known by name. */
START_TEST(test_export_file)
{
	char src[4300], dst[4400];
	snprintf(src, sizeof src, "%s/net/seg_small.cnnf", TEST_DATA_DIR);
	snprintf(dst, sizeof dst, "%s/labels.ONNX", export_dir());
	cnnf_model *m = cnnf_model_load(src, NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert(cnnf_onnx_is_name(dst));
	ck_assert(cnnf_onnx_is_name("a.onnx"));
	ck_assert(!cnnf_onnx_is_name("onnx"));
	ck_assert(!cnnf_onnx_is_name("a.onnx.cnnf"));
	ck_assert_int_eq(cnnf_model_save(m, dst), 0);
	FILE *f = fopen(dst, "rb");
	ck_assert_ptr_nonnull(f);
	unsigned char head[2];
	ck_assert_int_eq(fread(head, 1, 2, f), 2);
	fclose(f);
	ck_assert_int_eq(head[0], 0x08); /* field 1, varint */
	ck_assert_int_eq(head[1], 7);
	cnnf_graph *g = NULL;
	ck_assert_int_eq(cnnf_onnx_load(dst, NULL, &g), 0);
	ck_assert_int_eq(g->opset, 13);
	cnnf_graph_free(g);
	/* A stream that cannot be written: the writer says so. */
	FILE *full = fopen("/dev/full", "wb");
	if (full) {
		setvbuf(full, NULL, _IONBF, 0);
		ck_assert_int_eq(cnnf_onnx_write_model(m, full, "/dev/full"), -1);
		ck_assert_error_has("/dev/full: write error");
		fclose(full);
	}
	cnnf_model_free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("onnx_save");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_export_computes_the_model);
	tcase_add_test(tc, test_export_file);
	suite_add_tcase(s, tc);
	return cnnf_test_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
