/* check_model_save.c: models written in the model format load back with the same parameters,
 * atomically. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/model.h"
#include "nn/model_save.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_model *model_from(const char *text)
{
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "test.cnnf", NULL);
	ck_assert_msg(m != NULL, "model did not load: %s", cnnf_error_get());
	return m;
}

static const char *tmp_path(const char *name)
{
	static char path[4200];
	snprintf(path, sizeof path, "%s/%s", cnnf_test_tmpdir(), name);
	return path;
}

/* Two models are the same: header fields, layers, and every parameter bit for bit. */
static void same_model(const cnnf_model *a, const cnnf_model *b)
{
	ck_assert_int_eq(a->channels, b->channels);
	ck_assert_int_eq(a->height, b->height);
	ck_assert_int_eq(a->width, b->width);
	ck_assert_mem_eq(a->mean, b->mean, sizeof(float) * (size_t)a->channels);
	ck_assert_mem_eq(a->std, b->std, sizeof(float) * (size_t)a->channels);
	ck_assert_int_eq(a->nlabels, b->nlabels);
	for (int i = 0; i < a->nlabels; i++)
		ck_assert_str_eq(a->labels[i], b->labels[i]);
	ck_assert_int_eq(a->nlayers, b->nlayers);
	for (int i = 0; i < a->nlayers; i++) {
		const cnnf_layer *x = &a->layers[i], *y = &b->layers[i];
		ck_assert_int_eq(x->type, y->type);
		ck_assert_int_eq(x->out, y->out);
		ck_assert_int_eq(x->kh, y->kh);
		ck_assert_int_eq(x->kw, y->kw);
		ck_assert_int_eq(x->stride, y->stride);
		ck_assert_int_eq(x->pad, y->pad);
		ck_assert_int_eq(x->dilation, y->dilation);
		ck_assert(x->eps == y->eps);
		ck_assert(x->p == y->p);
		ck_assert_int_eq(x->out_c, y->out_c);
		ck_assert_int_eq(x->out_h, y->out_h);
		ck_assert_int_eq(x->out_w, y->out_w);
		ck_assert_uint_eq(x->nparams, y->nparams);
	}
	ck_assert_int_eq(a->classes, b->classes);
	ck_assert_uint_eq(a->nparams, b->nparams);
	ck_assert_mem_eq(a->params, b->params, sizeof(float) * (a->nparams ? a->nparams : 1));
}

static cnnf_model *round_trip(const cnnf_model *m, const char *name)
{
	const char *path = tmp_path(name);
	ck_assert_msg(cnnf_model_save(m, path) == 0, "%s", cnnf_error_get());
	cnnf_model *back = cnnf_model_load(path, NULL);
	ck_assert_msg(back != NULL, "saved model does not load: %s", cnnf_error_get());
	ck_assert_int_eq(back->weights_init, 0);
	same_model(m, back);
	return back;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	ck_assert_ptr_nonnull(fp);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, (1 << 20) - 1, fp);
	buf[*len] = '\0';
	fclose(fp);
	return buf;
}

/* Whether the scratch directory holds a leftover temporary file of `name`. */
static int leftover(const char *name)
{
	char prefix[256];
	snprintf(prefix, sizeof prefix, ".%s.", name);
	DIR *d = opendir(cnnf_test_tmpdir());
	ck_assert_ptr_nonnull(d);
	int found = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 ||
		    strncmp(e->d_name, ".cnnf-", 6) == 0)
			found = 1;
	closedir(d);
	return found;
}

/* ---- core ------------------------------------------------------------------------------- */

/* Every model of the forward-pass fixtures (all layer types and keys) and the sample model. */
static const char *const fixtures[] = {
    TEST_DATA_DIR "/net/conv_stride_pad.cnnf", TEST_DATA_DIR "/net/conv_rect_dilation.cnnf",
    TEST_DATA_DIR "/net/bn_dropout_fc.cnnf",   TEST_DATA_DIR "/net/pool_stride.cnnf",
    TEST_DATA_DIR "/net/fc_only.cnnf",         TEST_DATA_DIR "/net/small_cnn.cnnf",
    SAMPLES_DIR "/models/coins.cnnf",
};

START_TEST(test_fixture_round_trip)
{
	cnnf_model *m = cnnf_model_load(fixtures[_i], NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_model *back = round_trip(m, "rt.cnnf");
	/* Saving what was loaded gives the same bytes again. */
	size_t n1, n2;
	char *a = slurp(tmp_path("rt.cnnf"), &n1);
	ck_assert_int_eq(cnnf_model_save(back, tmp_path("rt2.cnnf")), 0);
	char *b = slurp(tmp_path("rt2.cnnf"), &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(a, b, n1);
	free(a);
	free(b);
	cnnf_model_free(back);
	cnnf_model_free(m);
}
END_TEST

/* The header, exactly: defaults left out, shortest numbers, kernels KHxKW when not square. */
START_TEST(test_header_text)
{
	cnnf_model *m = model_from("cnnf-model 1\n"
	                           "# a comment that is not kept\n"
	                           "labels sky bird\n"
	                           "input channels=3 height=9 width=8 mean=0.1,0.25,0.1 std=0.3\n"
	                           "conv out=2 kernel=3x2 pad=1 dilation=2\n"
	                           "relu\n"
	                           "batchnorm eps=0.001\n"
	                           "maxpool kernel=2 stride=1\n"
	                           "dropout p=0.25\n"
	                           "avgpool kernel=3\n"
	                           "conv out=3 kernel=1 stride=2\n"
	                           "dropout\n"
	                           "batchnorm\n"
	                           "fc out=2\n"
	                           "softmax\n"
	                           "weights init\n");
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = (float)i / 7;
	for (int c = 0; c < 2; c++)
		m->layers[2].var[c] = 1;
	ck_assert_int_eq(cnnf_model_save(m, tmp_path("h.cnnf")), 0);
	size_t len;
	char *text = slurp(tmp_path("h.cnnf"), &len);
	const char *want = "cnnf-model 1\n"
	                   "input channels=3 height=9 width=8 mean=0.1,0.25,0.1 std=0.3\n"
	                   "labels sky bird\n"
	                   "conv out=2 kernel=3x2 pad=1 dilation=2\n"
	                   "relu\n"
	                   "batchnorm eps=0.001\n"
	                   "maxpool kernel=2 stride=1\n"
	                   "dropout p=0.25\n"
	                   "avgpool kernel=3\n"
	                   "conv out=3 kernel=1 stride=2\n"
	                   "dropout\n"
	                   "batchnorm\n"
	                   "fc out=2\n"
	                   "softmax\n";
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "header:\n%.*s", (int)len, text);
	char tail[64];
	snprintf(tail, sizeof tail, "weights float32 %zu\n", m->nparams);
	ck_assert_msg(strncmp(text + strlen(want), tail, strlen(tail)) == 0, "weights line");
	ck_assert_uint_eq(len, strlen(want) + strlen(tail) + 4 * m->nparams);
	/* Little-endian binary32: the bytes of params[1] = 1/7f. */
	float v = 1.0f / 7;
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	const unsigned char *p = (const unsigned char *)text + strlen(want) + strlen(tail) + 4;
	ck_assert_uint_eq(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24, u);
	free(text);
	cnnf_model *back = round_trip(m, "h2.cnnf");
	cnnf_model_free(back);
	cnnf_model_free(m);
}
END_TEST

/* Means and deviations that need all nine digits come back bit for bit, as do tiny and huge ones.
 */
START_TEST(test_numbers_round_trip)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=4 height=1 width=1\n"
	                           "fc out=2\nweights init\n");
	float means[4] = {0.37982556f, -1e-30f, 3.4028235e38f, 1.17549435e-38f};
	float stds[4] = {0.20737183f, 1e-45f, 123456789.0f, 3.14159265f};
	memcpy(m->mean, means, sizeof means);
	memcpy(m->std, stds, sizeof stds);
	for (size_t i = 0; i < m->nparams; i++)
		m->params[i] = (float)((i % 2 ? -1 : 1) * pow(10.0, (double)i - 4));
	cnnf_model *back = round_trip(m, "n.cnnf");
	cnnf_model_free(back);
	cnnf_model_free(m);
}
END_TEST

/* An untrained model is written with its current parameters and loads as a trained one. */
START_TEST(test_init_model)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=2 width=2\n"
	                           "fc out=2\nweights init\n");
	ck_assert_int_eq(m->weights_init, 1);
	cnnf_model *back = round_trip(m, "i.cnnf");
	cnnf_model_free(back);
	cnnf_model_free(m);
}
END_TEST

/* Writing over a file replaces it; the mode follows the umask. */
START_TEST(test_replace_and_mode)
{
	/* A new file gets 0666 less the umask; a file replaced keeps its mode. */
	const char *path = tmp_path("r.cnnf");
	unlink(path);
	mode_t old = umask(027);
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=2 width=2\n"
	                           "fc out=2\nweights init\n");
	ck_assert_int_eq(cnnf_model_save(m, path), 0);
	umask(old);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_int_eq(chmod(path, 0604), 0);
	ck_assert_int_eq(cnnf_model_save(m, path), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0604);
	cnnf_model *back = cnnf_model_load(path, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(!leftover("r.cnnf"));
	cnnf_model_free(back);
	cnnf_model_free(m);
}
END_TEST

/* Not a regular file: written in place, never replaced. */
START_TEST(test_dev_null)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=2 width=2\n"
	                           "fc out=2\nweights init\n");
	ck_assert_int_eq(cnnf_model_save(m, "/dev/null"), 0);
	struct stat st;
	ck_assert_int_eq(stat("/dev/null", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	cnnf_model_free(m);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

/* A failed write leaves the old file as it was and no temporary file. */
START_TEST(test_failure_keeps_old)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=2 width=2\n"
	                           "fc out=2\nweights init\n");
	/* A directory cannot be replaced by a file. */
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/adir.cnnf", cnnf_test_tmpdir());
	mkdir(dir, 0777);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_model_save(m, dir), -1);
	ck_assert_error_has("adir.cnnf: is a directory");
	ck_assert(!leftover("adir.cnnf"));
	/* A directory that does not exist: no temporary file can be made. */
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_model_save(m, tmp_path("nodir/m.cnnf")), -1);
	ck_assert_error_has("nodir/m.cnnf: cannot create");
	/* The disk is full: /dev/full as the directory's stand-in is not possible, so a
	   file whose rename fails: the target's directory made read-only (not for root). */
	if (geteuid() != 0) {
		char ro[4200], path[4300];
		snprintf(ro, sizeof ro, "%s/ro", cnnf_test_tmpdir());
		mkdir(ro, 0777);
		snprintf(path, sizeof path, "%s/m.cnnf", ro);
		FILE *fp = fopen(path, "w");
		fputs("old", fp);
		fclose(fp);
		chmod(ro, 0555);
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_model_save(m, path), -1);
		ck_assert_error_has("m.cnnf");
		chmod(ro, 0777);
		size_t len;
		char *text = slurp(path, &len);
		ck_assert_str_eq(text, "old");
		free(text);
	}
	cnnf_model_free(m);
}
END_TEST

/* A stream that fails: the error names the file. */
START_TEST(test_write_error)
{
	cnnf_model *m = model_from("cnnf-model 1\ninput channels=1 height=2 width=2\n"
	                           "fc out=2\nweights init\n");
	FILE *fp = fopen("/dev/full", "wb");
	if (!fp) {
		cnnf_model_free(m);
		return;
	}
	setvbuf(fp, NULL, _IONBF, 0);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_model_write(m, fp, "full.cnnf"), -1);
	ck_assert_error_has("full.cnnf: write error");
	fclose(fp);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_model_save(m, "/dev/full"), -1);
	ck_assert_error_has("/dev/full: write error");
	cnnf_model_free(m);
}
END_TEST

static Suite *model_save_suite(void)
{
	Suite *s = suite_create("model_save");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_fixture_round_trip, 0, sizeof fixtures / sizeof *fixtures);
	tcase_add_test(tc, test_header_text);
	tcase_add_test(tc, test_numbers_round_trip);
	tcase_add_test(tc, test_init_model);
	tcase_add_test(tc, test_replace_and_mode);
	tcase_add_test(tc, test_dev_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_failure_keeps_old);
	tcase_add_test(tc, test_write_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(model_save_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
