/* check_model.c: the model loader: every field, shapes worked out by hand, every refusal. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "nn/model.h"
#include "testutil.h"

/* AddressSanitizer reserves terabytes of address space, so RLIMIT_AS cannot be used under it. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---- helpers ---------------------------------------------------------------------------- */

static cnnf_model *parse_len(const char *buf, size_t len)
{
	cnnf_error_clear();
	return cnnf_model_parse(buf, len, "m.cnnf", NULL);
}

static cnnf_model *parse(const char *text)
{
	return parse_len(text, strlen(text));
}

/* Parse text, which must succeed. */
static cnnf_model *parse_ok(const char *text)
{
	cnnf_model *m = parse(text);
	ck_assert_msg(m != NULL, "parse failed: %s", cnnf_error_get());
	return m;
}

/*
 * header followed by the n floats v as float32 values, in an owned buffer of
 * *len bytes. Each float's bits are written least significant byte first,
 * so the buffer is little-endian whatever the host's byte order.
 */
static char *with_floats(const char *header, const float *v, size_t n, size_t *len)
{
	size_t h = strlen(header);
	char *buf = malloc(h + 4 * n + 1);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, header, h);
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], sizeof u);
		for (int b = 0; b < 4; b++)
			buf[h + 4 * i + (size_t)b] = (char)(u >> (8 * b) & 0xFF);
	}
	*len = h + 4 * n;
	return buf;
}

/* The n floats 0, 1, 2, ... */
static float *counting(size_t n)
{
	float *v = malloc(n * sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)i;
	return v;
}

/* What a layer must hold; offsets into params, -1 for a NULL pointer. */
typedef struct expect {
	int type; /* a cnnf_layer_type */
	int line, out, kh, kw, stride, pad, dilation;
	double eps, p;
	int in_c, in_h, in_w, out_c, out_h, out_w;
	size_t nparams;
	long weight, bias, mean, var;
} expect;

static void check_ptr(const float *p, const float *params, long off, int layer, const char *what)
{
	if (off < 0)
		ck_assert_msg(p == NULL, "layer %d: %s is not NULL", layer, what);
	else
		ck_assert_msg(p == params + off, "layer %d: %s is at %td, expected %ld", layer,
		              what, p ? p - params : -1, off);
}

static void check_layers(const cnnf_model *m, const expect *e, int n)
{
	ck_assert_int_eq(m->nlayers, n);
	for (int i = 0; i < n; i++) {
		const cnnf_layer *L = &m->layers[i];
		ck_assert_msg((int)L->type == e[i].type, "layer %d: type %d, expected %d", i,
		              (int)L->type, e[i].type);
		ck_assert_msg(L->line == e[i].line && L->out == e[i].out && L->kh == e[i].kh &&
		                  L->kw == e[i].kw && L->stride == e[i].stride &&
		                  L->pad == e[i].pad && L->dilation == e[i].dilation,
		              "layer %d: line %d out %d kernel %dx%d stride %d pad %d dilation %d",
		              i, L->line, L->out, L->kh, L->kw, L->stride, L->pad, L->dilation);
		ck_assert_msg(L->eps == e[i].eps && L->p == e[i].p, "layer %d: eps %g p %g", i,
		              L->eps, L->p);
		ck_assert_msg(L->in_c == e[i].in_c && L->in_h == e[i].in_h &&
		                  L->in_w == e[i].in_w && L->out_c == e[i].out_c &&
		                  L->out_h == e[i].out_h && L->out_w == e[i].out_w,
		              "layer %d: %dx%dx%d -> %dx%dx%d", i, L->in_c, L->in_h, L->in_w,
		              L->out_c, L->out_h, L->out_w);
		ck_assert_msg(L->nparams == e[i].nparams, "layer %d: %zu parameters, expected %zu",
		              i, L->nparams, e[i].nparams);
		check_ptr(L->weight, m->params, e[i].weight, i, "weight");
		check_ptr(L->bias, m->params, e[i].bias, i, "bias");
		check_ptr(L->mean, m->params, e[i].mean, i, "mean");
		check_ptr(L->var, m->params, e[i].var, i, "var");
	}
}

/* ---- core ------------------------------------------------------------------------------- */

/* Every layer type, with every field checked; the weights are 0, 0.25, 0.5, ... as text. */
START_TEST(test_text_model)
{
	char text[4096];
	int n = snprintf(text, sizeof text,
	                 "cnnf-model 1\n"
	                 "input channels=2 height=4 width=4\n"
	                 "conv out=3 kernel=3 stride=1 pad=1 dilation=1\n" /* 3x4x4, 3*2*9+3 = 57 */
	                 "relu\n"
	                 "batchnorm eps=0.5\n" /* 4*3 = 12 */
	                 "maxpool kernel=2\n"  /* 3x2x2 */
	                 "dropout p=0.25\n"
	                 "fc out=2\n" /* 2*12+2 = 26 */
	                 "softmax\n"
	                 "weights text 95\n");
	for (int i = 0; i < 95; i++)
		n += snprintf(text + n, sizeof text - (size_t)n, "%g%s", i * 0.25,
		              i % 10 == 9 ? "\n" : " ");
	cnnf_model *m = parse_ok(text);
	ck_assert_int_eq(m->channels, 2);
	ck_assert_int_eq(m->height, 4);
	ck_assert_int_eq(m->width, 4);
	for (int c = 0; c < 2; c++) {
		ck_assert(m->mean[c] == 0);
		ck_assert(m->std[c] == 1);
	}
	ck_assert_int_eq(m->nlabels, 0);
	ck_assert_ptr_null(m->labels);
	ck_assert_int_eq(m->classes, 2);
	ck_assert_int_eq(m->weights_init, 0);
	ck_assert_uint_eq(m->nparams, 95);
	for (int i = 0; i < 95; i++)
		ck_assert_msg(m->params[i] == i * 0.25f, "params[%d] = %g", i, m->params[i]);
	enum {
		CONV = CNNF_LAYER_CONV,
		RELU = CNNF_LAYER_RELU,
		BN = CNNF_LAYER_BATCHNORM,
		MAX = CNNF_LAYER_MAXPOOL,
		DROP = CNNF_LAYER_DROPOUT,
		FC = CNNF_LAYER_FC,
		SOFTMAX = CNNF_LAYER_SOFTMAX
	};
	/* type, line, out, kh, kw, stride, pad, dilation, eps, p, in, out, nparams, offsets */
	static const expect e[] = {
	    {CONV, 3, 3, 3, 3, 1, 1, 1, 0, 0, 2, 4, 4, 3, 4, 4, 57, 0, 54, -1, -1},
	    {RELU, 4, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 4, 3, 4, 4, 0, -1, -1, -1, -1},
	    {BN, 5, 0, 0, 0, 0, 0, 0, .5, 0, 3, 4, 4, 3, 4, 4, 12, 57, 60, 63, 66},
	    {MAX, 6, 0, 2, 2, 2, 0, 1, 0, 0, 3, 4, 4, 3, 2, 2, 0, -1, -1, -1, -1},
	    {DROP, 7, 0, 0, 0, 0, 0, 0, 0, .25, 3, 2, 2, 3, 2, 2, 0, -1, -1, -1, -1},
	    {FC, 8, 2, 0, 0, 0, 0, 0, 0, 0, 3, 2, 2, 2, 1, 1, 26, 69, 93, -1, -1},
	    {SOFTMAX, 9, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 2, 1, 1, 0, -1, -1, -1, -1},
	};
	check_layers(m, e, 7);
	cnnf_model_free(m);
}
END_TEST

/* Text numbers in every form strtod takes, comments between them, no final newline. */
START_TEST(test_text_number_forms)
{
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\n"
	                         "weights text 10 # the count\n"
	                         "  -1.5\t+2 0x1p-2 # hex floats are exact\n"
	                         "\n# a comment line\n"
	                         "1e-3 1E3 .5 5. -0 3.0e+1 7");
	static const float want[] = {-1.5f, 2, 0.25f, 1e-3f, 1e3f, 0.5f, 5, -0.0f, 30, 7};
	for (int i = 0; i < 10; i++)
		ck_assert_msg(m->params[i] == want[i], "params[%d] = %g", i, m->params[i]);
	ck_assert(signbit(m->params[7]));
	cnnf_model_free(m);
}
END_TEST

/* float32 weights reproduce every bit, CRLF line ends included. */
START_TEST(test_float32)
{
	const float v[10] = {1.5f,     -2.25f,  0.0f,   -0.0f,       FLT_MAX,
	                     -FLT_MAX, FLT_MIN, 1e-45f, 3.14159265f, 1.0f / 3};
	size_t len;
	char *buf = with_floats("cnnf-model 1\r\ninput channels=1 height=2 width=2\r\n"
	                        "fc out=2\r\nweights float32 10\r\n",
	                        v, 10, &len);
	cnnf_model *m = parse_len(buf, len);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	ck_assert_uint_eq(m->nparams, 10);
	ck_assert_int_eq(memcmp(m->params, v, sizeof v), 0);
	ck_assert_ptr_eq(m->layers[0].weight, m->params);
	ck_assert_ptr_eq(m->layers[0].bias, m->params + 8);
	ck_assert_int_eq(m->layers[0].line, 3);
	cnnf_model_free(m);
	free(buf);
}
END_TEST

/* The same through a file. */
START_TEST(test_float32_file)
{
	float *v = counting(40);
	size_t len;
	char *buf = with_floats("cnnf-model 1\ninput channels=1 height=1 width=19\nfc out=2\n"
	                        "weights float32 40\n",
	                        v, 40, &len);
	char path[4200];
	snprintf(path, sizeof path, "%s/model-f32-%ld.cnnf", cnnf_test_tmpdir(), (long)getpid());
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(buf, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	cnnf_model *m = cnnf_model_load(path, NULL);
	unlink(path);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(memcmp(m->params, v, 40 * sizeof *v), 0);
	cnnf_model_free(m);
	free(buf);
	free(v);
}
END_TEST

START_TEST(test_mean_std)
{
	const char *one = "cnnf-model 1\ninput channels=3 height=1 width=1 mean=0.5 std=0.25\n"
	                  "fc out=2\nweights init\n";
	cnnf_model *m = parse_ok(one);
	for (int c = 0; c < 3; c++) {
		ck_assert(m->mean[c] == 0.5f);
		ck_assert(m->std[c] == 0.25f);
	}
	cnnf_model_free(m);
	const char *each = "cnnf-model 1\n"
	                   "input channels=3 height=1 width=1 std=0.229,0.224,0.225 "
	                   "mean=0.485,0.456,-0.406\n"
	                   "fc out=2\nweights init\n";
	m = parse_ok(each);
	const float mean[] = {0.485f, 0.456f, -0.406f}, std[] = {0.229f, 0.224f, 0.225f};
	for (int c = 0; c < 3; c++) {
		ck_assert(m->mean[c] == mean[c]);
		ck_assert(m->std[c] == std[c]);
	}
	cnnf_model_free(m);
	/* A negative std is finite and nonzero: it flips the channel, as in torchvision. */
	m = parse_ok("cnnf-model 1\ninput channels=2 height=1 width=1 std=-1\nsoftmax\n"
	             "weights init\n");
	ck_assert(m->std[0] == -1 && m->std[1] == -1);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_labels)
{
	/* Before the input line, and after it. */
	cnnf_model *m = parse_ok("cnnf-model 1\nlabels sky grass café\n"
	                         "input channels=1 height=1 width=1\nfc out=3\nweights init\n");
	ck_assert_int_eq(m->nlabels, 3);
	ck_assert_str_eq(m->labels[0], "sky");
	ck_assert_str_eq(m->labels[1], "grass");
	ck_assert_str_eq(m->labels[2], "café");
	cnnf_model_free(m);
	m = parse_ok("cnnf-model 1\ninput channels=1 height=1 width=1\n"
	             "labels\tbackground  road # and a comment\nfc out=2\nweights init\n");
	ck_assert_int_eq(m->nlabels, 2);
	ck_assert_int_eq(m->classes, 2);
	ck_assert_str_eq(m->labels[0], "background");
	ck_assert_str_eq(m->labels[1], "road");
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_defaults)
{
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=1 height=12 width=12\n"
	                         "conv out=2 kernel=3\n"       /* 2x10x10 */
	                         "maxpool kernel=3\n"          /* stride 3: 2x3x3 */
	                         "avgpool kernel=2 stride=1\n" /* 2x2x2 */
	                         "batchnorm\ndropout\nfc out=2\nweights init\n");
	const cnnf_layer *L = m->layers;
	ck_assert_int_eq(L[0].stride, 1);
	ck_assert_int_eq(L[0].pad, 0);
	ck_assert_int_eq(L[0].dilation, 1);
	ck_assert_int_eq(L[1].kh, 3);
	ck_assert_int_eq(L[1].stride, 3);
	ck_assert_int_eq(L[1].out_h, 3);
	ck_assert_int_eq(L[2].stride, 1);
	ck_assert_int_eq(L[2].out_w, 2);
	ck_assert(L[3].eps == 1e-5);
	ck_assert(L[4].p == 0.5);
	ck_assert(m->mean[0] == 0 && m->std[0] == 1);
	cnnf_model_free(m);
}
END_TEST

/* Stride, pad, dilation and a rectangular kernel, worked out by hand. */
START_TEST(test_conv_geometry)
{
	/*
	 * 1x10x15; kernel 3x5 at dilation 2 spans 5x9; pad 1 makes 12x17;
	 * stride 2: (12-5)/2+1 = 4 rows, (17-9)/2+1 = 5 columns. Then a 7x7
	 * kernel fits a 5x5 input only with pad 1.
	 */
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=1 height=10 width=15\n"
	                         "conv out=4 kernel=3x5 stride=2 pad=1 dilation=2\n"
	                         "conv out=2 kernel=4x5\n" /* 4x5 -> 1x1 */
	                         "weights init\n");
	const cnnf_layer *L = m->layers;
	ck_assert_int_eq(L[0].kh, 3);
	ck_assert_int_eq(L[0].kw, 5);
	ck_assert_int_eq(L[0].out_c, 4);
	ck_assert_int_eq(L[0].out_h, 4);
	ck_assert_int_eq(L[0].out_w, 5);
	ck_assert_uint_eq(L[0].nparams, 4 * 15 + 4);
	ck_assert_uint_eq(L[1].nparams, 2 * 4 * 20 + 2);
	ck_assert_int_eq(m->classes, 2);
	cnnf_model_free(m);
	m = parse_ok("cnnf-model 1\ninput channels=1 height=5 width=5\nconv out=2 kernel=7 pad=1\n"
	             "weights init\n");
	ck_assert_int_eq(m->layers[0].out_h, 1);
	ck_assert_int_eq(m->layers[0].out_w, 1);
	cnnf_model_free(m);
}
END_TEST

/*
 * The worked example of cnnf-model(5), from the fixture:
 *   18x18x1 -conv3-> 16x16x16 -pool2-> 16x8x8 -conv3-> 32x6x6 -pool2-> 32x3x3 -fc-> 2x1x1
 *   parameters 16*9+16 = 160, 32*16*9+32 = 4640, 2*288+2 = 578: 5378 in all
 *   receptive field: 1 +2*1 (conv) +1*1 (pool) +2*2 (conv) +1*2 (pool) +2*4 (fc over 3x3) = 18
 *   MACs: 16*16*16*1*9 = 36864, 32*6*6*16*9 = 165888, 2*288 = 576: 203328
 */
START_TEST(test_worked_example)
{
	cnnf_model *m = cnnf_model_load(TEST_DATA_DIR "/model/rf18.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	static const int shape[7][3] = {{16, 16, 16}, {16, 16, 16}, {16, 8, 8}, {32, 6, 6},
	                                {32, 6, 6},   {32, 3, 3},   {2, 1, 1}};
	static const size_t np[7] = {160, 0, 0, 4640, 0, 0, 578};
	ck_assert_int_eq(m->nlayers, 7);
	for (int i = 0; i < 7; i++) {
		const cnnf_layer *L = &m->layers[i];
		ck_assert_msg(L->out_c == shape[i][0] && L->out_h == shape[i][1] &&
		                  L->out_w == shape[i][2],
		              "layer %d: %dx%dx%d", i, L->out_c, L->out_h, L->out_w);
		ck_assert_uint_eq(L->nparams, np[i]);
	}
	ck_assert_uint_eq(m->nparams, 5378);
	ck_assert_int_eq(m->classes, 2);
	int rh, rw;
	cnnf_model_receptive_field(m, &rh, &rw);
	ck_assert_int_eq(rh, 18);
	ck_assert_int_eq(rw, 18);
	ck_assert_uint_eq(cnnf_model_macs(m), 203328);
	cnnf_model_free(m);
}
END_TEST

/*
 * Padding and stride, and the standard formula counts the padding:
 * 1x5x5 -conv3 pad1 stride2-> 4x3x3 (rf 3, jump 2) -conv3-> 2x1x1 (rf 3 + 2*2 = 7).
 * Rectangular: 1x9x15 -conv 3x5 dilation 2-> 5x7 (rf 5x9) -fc-> rf 5+4 = 9 by 9+6 = 15.
 */
START_TEST(test_receptive_field)
{
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=1 height=5 width=5\n"
	                         "conv out=4 kernel=3 pad=1 stride=2\nconv out=2 kernel=3\n"
	                         "weights init\n");
	int rh, rw;
	cnnf_model_receptive_field(m, &rh, &rw);
	ck_assert_int_eq(rh, 7);
	ck_assert_int_eq(rw, 7);
	/* 4*3*3*1*9 = 324 and 2*1*1*4*9 = 72 */
	ck_assert_uint_eq(cnnf_model_macs(m), 396);
	cnnf_model_free(m);
	m = parse_ok("cnnf-model 1\ninput channels=1 height=9 width=15\n"
	             "conv out=3 kernel=3x5 dilation=2\nrelu\ndropout\nfc out=2\nweights init\n");
	cnnf_model_receptive_field(m, &rh, &rw);
	ck_assert_int_eq(rh, 9);
	ck_assert_int_eq(rw, 15);
	/* 3*5*7*1*15 = 1575 and 2*105 = 210 */
	ck_assert_uint_eq(cnnf_model_macs(m), 1785);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_weights_init)
{
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=2 height=1 width=1\nbatchnorm\n"
	                         "fc out=2\nweights init   # trailing comment\n\n# and more\n");
	ck_assert_int_eq(m->weights_init, 1);
	ck_assert_uint_eq(m->nparams, 8 + 6);
	for (size_t i = 0; i < m->nparams; i++)
		ck_assert(m->params[i] == 0);
	ck_assert_ptr_eq(m->layers[0].var, m->params + 6);
	ck_assert_ptr_eq(m->layers[1].weight, m->params + 8);
	ck_assert_ptr_eq(m->layers[1].bias, m->params + 12);
	cnnf_model_free(m);
}
END_TEST

/* Layers with no parameters at all: nothing after the weights line, not even its newline. */
START_TEST(test_no_params)
{
	cnnf_model *m = parse_ok("cnnf-model 1\ninput channels=3 height=1 width=1\nrelu\nsoftmax\n"
	                         "weights float32 0");
	ck_assert_uint_eq(m->nparams, 0);
	ck_assert_int_eq(m->classes, 3);
	cnnf_model_free(m);
	m = parse_ok("cnnf-model 1\ninput channels=2 height=1 width=1\nsoftmax\nweights text 0\n");
	ck_assert_uint_eq(m->nparams, 0);
	cnnf_model_free(m);
}
END_TEST

/* Comments, blank lines, tabs, a byte order mark and CRLF around the header. */
START_TEST(test_layout)
{
	cnnf_model *m = parse_ok("\xEF\xBB\xBF# exported by hand\r\n\r\n   \t\r\n"
	                         "  cnnf-model\t1   # version\r\n"
	                         "input\tchannels=1 height=2 width=2\r\n"
	                         "# a comment between layers\r\n"
	                         "\tfc   out=2\r\n"
	                         "weights text 10\r\n0 1 2 3 4 5 6 7 8 9\r\n");
	ck_assert_int_eq(m->layers[0].line, 7);
	ck_assert(m->params[9] == 9);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_load_fixture)
{
	cnnf_model *m = cnnf_model_load(TEST_DATA_DIR "/model/tiny.cnnf", NULL);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	ck_assert_int_eq(m->nlayers, 4);
	ck_assert_uint_eq(m->nparams, 38);
	ck_assert_str_eq(m->labels[1], "edge");
	ck_assert(m->mean[0] == 0.5f && m->std[0] == 0.25f);
	const cnnf_layer *conv = &m->layers[0], *fc = &m->layers[2];
	ck_assert(conv->weight[3] == 2 && conv->weight[9 + 7] == -2);
	ck_assert(conv->bias[1] == 0.5f);
	ck_assert(fc->weight[8] == -0.125f && fc->bias[0] == 1e-3f);
	cnnf_model_free(m);
}
END_TEST

/* A locale whose decimal point is ',' changes nothing: the file's is always '.'. */
START_TEST(test_locale)
{
	static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
	                                    "fr_FR.utf8", "nl_NL.UTF-8"};
	const char *got = NULL;
	for (size_t i = 0; i < sizeof names / sizeof *names && !got; i++)
		got = setlocale(LC_NUMERIC, names[i]);
	if (!got)
		return; /* none installed: nothing to check here */
	cnnf_model *m = parse("cnnf-model 1\ninput channels=2 height=1 width=1 mean=0.5\n"
	                      "batchnorm eps=0.5\nweights text 8\n0.25 0 0 0 0 0 1 1\n");
	cnnf_model *bad = parse("cnnf-model 1\ninput channels=2 height=1 width=1\n"
	                        "batchnorm eps=0,5\nweights init\n");
	setlocale(LC_NUMERIC, "C");
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	ck_assert(m->mean[0] == 0.5f && m->layers[0].eps == 0.5 && m->params[0] == 0.25f);
	ck_assert_ptr_null(bad);
	cnnf_model_free(m);
}
END_TEST

START_TEST(test_names_and_limits)
{
	static const char *const names[] = {"conv",      "relu",    "maxpool", "avgpool",
	                                    "batchnorm", "dropout", "fc",      "softmax"};
	for (int t = CNNF_LAYER_CONV; t <= CNNF_LAYER_SOFTMAX; t++)
		ck_assert_str_eq(cnnf_model_layer_name((cnnf_layer_type)t), names[t]);
	cnnf_model_limits l;
	cnnf_model_limits_init(&l);
	ck_assert_uint_eq(l.max_params, (size_t)1 << 28);
	ck_assert_uint_eq(l.max_activations, (size_t)1 << 26);
	cnnf_model_free(NULL);
}
END_TEST

/* At exactly the limits a model loads; one over, it does not. */
START_TEST(test_limits_exact)
{
	cnnf_model_limits l = {.max_params = 202, .max_activations = 100};
	const char *text = "cnnf-model 1\ninput channels=1 height=10 width=10\nfc out=2\n"
	                   "weights init\n";
	cnnf_model *m = cnnf_model_parse(text, strlen(text), "m.cnnf", &l);
	ck_assert_msg(m != NULL, "%s", cnnf_error_get());
	cnnf_model_free(m);
	l.max_params = 201;
	ck_assert_ptr_null(cnnf_model_parse(text, strlen(text), "m.cnnf", &l));
	ck_assert_error_has("m.cnnf:3: fc: the layers up to here need 202 parameters; at most "
	                    "201 are allowed");
	l.max_params = 202;
	l.max_activations = 99;
	ck_assert_ptr_null(cnnf_model_parse(text, strlen(text), "m.cnnf", &l));
	ck_assert_error_has("m.cnnf:2: input: the input 1x10x10 is more than the 99 values");
}
END_TEST

/* ---- errors: one case for each check of the header, in one table ----------------------- */

#define HEAD "cnnf-model 1\ninput channels=1 height=5 width=5\n"
#define FC2  "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\n" /* 10 values */

static const struct refusal {
	const char *what, *text, *message;
} refusals[] = {
    /* the magic line */
    {"empty file", "", "m.cnnf: empty: a model file starts with 'cnnf-model 1'"},
    {"only comments", "\n# nothing\n  \n", "m.cnnf: empty"},
    {"bad magic", "cnnf-modle 1\n",
     "m.cnnf:1: not a cnnf model file: it must start with 'cnnf-model 1', not 'cnnf-modle'"},
    {"an image", "\x89PNG\r\n\x1a\n\x01\x02", "m.cnnf:1: not a cnnf model file"},
    {"control bytes shown as ?", "\x1b[31mred\n", "not '?[31mred'"},
    {"version 2", "cnnf-model 2\n", "m.cnnf:1: unsupported model version 2"},
    {"version 1.0", "# a comment first\ncnnf-model 1.0\n",
     "m.cnnf:2: unsupported model version 1.0"},
    {"no version", "cnnf-model\n", "m.cnnf:1: cnnf-model: no version"},
    {"after the version", "cnnf-model 1 extra\n",
     "m.cnnf:1: cnnf-model: unexpected 'extra' after the version"},
    {"magic again", HEAD "cnnf-model 1\n", "m.cnnf:3: cnnf-model: only the first line"},
    /* keywords and keys */
    {"unknown keyword", HEAD "pool kernel=2\n", "m.cnnf:3: unknown keyword 'pool'"},
    {"keywords are lower case", HEAD "Conv out=2 kernel=3\n", "m.cnnf:3: unknown keyword 'Conv'"},
    {"unknown key", HEAD "conv out=2 kernel=3 strde=2\n",
     "m.cnnf:3: conv: unknown key 'strde' (it takes out, kernel, stride, pad, dilation)"},
    {"unknown input key", "cnnf-model 1\ninput channels=1 height=5 width=5 depth=3\n",
     "m.cnnf:2: input: unknown key 'depth' (it takes channels, height, width, mean, std)"},
    {"key on relu", HEAD "relu inplace=1\n",
     "m.cnnf:3: relu: unexpected 'inplace=1' (relu takes no keys)"},
    {"word on softmax", HEAD "fc out=2\nsoftmax dim\n", "m.cnnf:4: softmax: unexpected 'dim'"},
    {"duplicate key", HEAD "conv out=2 kernel=3 stride=1 stride=2\n",
     "m.cnnf:3: conv: 'stride' is given twice"},
    {"duplicate input key", "cnnf-model 1\ninput channels=1 width=5 height=5 width=5\n",
     "m.cnnf:2: input: 'width' is given twice"},
    {"blanks around =", HEAD "conv out = 2 kernel=3\n",
     "m.cnnf:3: conv: 'out' is not key=value (no blanks around the '=')"},
    {"blank after =", HEAD "conv out= 2 kernel=3\n", "m.cnnf:3: conv: 'out=' is not key=value"},
    {"blank before =", HEAD "conv out =2 kernel=3\n", "m.cnnf:3: conv: 'out' is not key=value"},
    {"no key", HEAD "fc =2\n", "m.cnnf:3: fc: '=2' is not key=value"},
    /* whole numbers */
    {"trailing junk", HEAD "conv out=2x kernel=3\n",
     "m.cnnf:3: conv: out=2x is not a whole number from 1 to 65536"},
    {"hex", HEAD "fc out=0x2\n", "m.cnnf:3: fc: out=0x2 is not a whole number"},
    {"fraction", HEAD "conv out=2 kernel=3 stride=1.5\n",
     "m.cnnf:3: conv: stride=1.5 is not a whole number from 1 to 65536"},
    {"plus sign", HEAD "fc out=+2\n", "m.cnnf:3: fc: out=+2 is not a whole number"},
    {"too long", HEAD "fc out=99999999999999999999\n",
     "m.cnnf:3: fc: out=99999999999999999999 is not a whole number"},
    {"zero out", HEAD "conv out=0 kernel=3\n",
     "m.cnnf:3: conv: out=0 is not a whole number from 1 to 65536"},
    {"out over the cap", HEAD "fc out=65537\n", "m.cnnf:3: fc: out=65537 is not a whole number"},
    {"zero stride", HEAD "conv out=2 kernel=3 stride=0\n",
     "m.cnnf:3: conv: stride=0 is not a whole number from 1 to 65536"},
    {"negative pad", HEAD "conv out=2 kernel=3 pad=-1\n",
     "m.cnnf:3: conv: pad=-1 is not a whole number from 0 to 65536"},
    {"pad over the cap", HEAD "conv out=2 kernel=3 pad=65537\n",
     "m.cnnf:3: conv: pad=65537 is not a whole number from 0 to 65536"},
    {"zero dilation", HEAD "conv out=2 kernel=3 dilation=0\n",
     "m.cnnf:3: conv: dilation=0 is not a whole number from 1 to 65536"},
    {"empty kernel side", HEAD "conv out=2 kernel=3x\n",
     "m.cnnf:3: conv: kernel=3x is not K or KHxKW with sides from 1 to 65536"},
    {"kernel x3", HEAD "conv out=2 kernel=x3\n", "m.cnnf:3: conv: kernel=x3 is not K or KHxKW"},
    {"kernel 0", HEAD "conv out=2 kernel=0\n", "m.cnnf:3: conv: kernel=0 is not K or KHxKW"},
    {"kernel 3x3x3", HEAD "conv out=2 kernel=3x3x3\n", "m.cnnf:3: conv: kernel=3x3x3 is not"},
    {"kernel over the cap", HEAD "conv out=2 kernel=65537\n",
     "m.cnnf:3: conv: kernel=65537 is not K or KHxKW"},
    {"pool kernel KxK", HEAD "avgpool kernel=3x3\n",
     "m.cnnf:3: avgpool: kernel=3x3 is not a whole number from 1 to 65536"},
    /* required keys */
    {"conv without out", HEAD "conv kernel=3\n", "m.cnnf:3: conv: needs out=N"},
    {"conv without kernel", HEAD "conv out=2\n", "m.cnnf:3: conv: needs kernel=K or kernel=KHxKW"},
    {"fc without out", HEAD "fc\n", "m.cnnf:3: fc: needs out=N"},
    {"maxpool without kernel", HEAD "maxpool stride=2\n", "m.cnnf:3: maxpool: needs kernel=N"},
    {"input without channels", "cnnf-model 1\ninput height=5 width=5\n",
     "m.cnnf:2: input: needs channels=N"},
    {"input without height", "cnnf-model 1\ninput channels=1 width=5\n",
     "m.cnnf:2: input: needs height=N"},
    {"input without width", "cnnf-model 1\ninput channels=1 height=5\n",
     "m.cnnf:2: input: needs width=N"},
    {"input zero channels", "cnnf-model 1\ninput channels=0 height=5 width=5\n",
     "m.cnnf:2: input: channels=0 is not a whole number from 1 to 65536"},
    {"input side over the cap", "cnnf-model 1\ninput channels=1 height=65537 width=1\n",
     "m.cnnf:2: input: height=65537 is not a whole number from 1 to 65536"},
    /* kernels that do not fit */
    {"kernel too big", HEAD "conv out=2 kernel=7\n",
     "m.cnnf:3: conv: kernel 7 does not fit the 5x5 input (pad 0)"},
    {"kernel too wide", HEAD "conv out=2 kernel=3x7\n",
     "m.cnnf:3: conv: kernel 3x7 does not fit the 5x5 input (pad 0)"},
    {"kernel too big with pad", HEAD "conv out=2 kernel=9 pad=1\n",
     "m.cnnf:3: conv: kernel 9 does not fit the 5x5 input (pad 1)"},
    {"dilated kernel too big", HEAD "conv out=2 kernel=3 dilation=3\n",
     "m.cnnf:3: conv: kernel 3 at dilation 3 (spanning 7x7) does not fit the 5x5 input (pad 0)"},
    {"later kernel too big", HEAD "conv out=2 kernel=3\nconv out=2 kernel=4\n",
     "m.cnnf:4: conv: kernel 4 does not fit the 3x3 input (pad 0)"},
    {"pool too big", HEAD "maxpool kernel=6\n",
     "m.cnnf:3: maxpool: kernel 6 does not fit the 5x5 input"},
    {"pool zero stride", HEAD "avgpool kernel=2 stride=0\n",
     "m.cnnf:3: avgpool: stride=0 is not a whole number from 1 to 65536"},
    /* real numbers */
    {"eps zero", HEAD "batchnorm eps=0\n", "m.cnnf:3: batchnorm: eps=0 must be greater than 0"},
    {"eps negative", HEAD "batchnorm eps=-1e-5\n",
     "m.cnnf:3: batchnorm: eps=-1e-05 must be greater than 0"},
    {"eps not a number", HEAD "batchnorm eps=small\n",
     "m.cnnf:3: batchnorm: eps=small is not a finite number"},
    {"eps trailing junk", HEAD "batchnorm eps=1e-5f\n",
     "m.cnnf:3: batchnorm: eps=1e-5f is not a finite number"},
    {"eps infinite", HEAD "batchnorm eps=inf\n", "m.cnnf:3: batchnorm: eps=inf is not a finite"},
    {"dropout p=1", HEAD "dropout p=1\n", "m.cnnf:3: dropout: p=1 is not from 0 to below 1"},
    {"dropout p<0", HEAD "dropout p=-0.1\n", "m.cnnf:3: dropout: p=-0.1 is not from 0 to below"},
    {"dropout p nan", HEAD "dropout p=nan\n", "m.cnnf:3: dropout: p=nan is not a finite number"},
    {"mean count", "cnnf-model 1\ninput channels=3 height=1 width=1 mean=0.5,0.5\n",
     "m.cnnf:2: input: mean has 2 values for 3 channels (give 1 or 3)"},
    {"std count", "cnnf-model 1\ninput channels=1 height=1 width=1 std=1,1\n",
     "m.cnnf:2: input: std has 2 values for 1 channel"},
    {"empty list item", "cnnf-model 1\ninput channels=3 height=1 width=1 mean=1,,2\n",
     "m.cnnf:2: input: mean value '' is not a number"},
    {"list item not a number", "cnnf-model 1\ninput channels=1 height=1 width=1 std=one\n",
     "m.cnnf:2: input: std value 'one' is not a number"},
    {"std zero", "cnnf-model 1\ninput channels=2 height=1 width=1 std=1,0\n",
     "m.cnnf:2: input: std value 0 is not a finite nonzero float32"},
    {"std zero as a float32", "cnnf-model 1\ninput channels=1 height=1 width=1 std=1e-50\n",
     "m.cnnf:2: input: std value 1e-50 is not a finite nonzero float32"},
    {"std infinite", "cnnf-model 1\ninput channels=1 height=1 width=1 std=inf\n",
     "m.cnnf:2: input: std value inf is not a finite nonzero float32"},
    {"mean beyond float32", "cnnf-model 1\ninput channels=1 height=1 width=1 mean=1e39\n",
     "m.cnnf:2: input: mean value 1e39 is not a finite float32"},
    {"mean nan", "cnnf-model 1\ninput channels=1 height=1 width=1 mean=nan\n",
     "m.cnnf:2: input: mean value nan is not a finite float32"},
    /* the order of lines */
    {"input twice", HEAD "input channels=1 height=5 width=5\n",
     "m.cnnf:3: input: a second 'input' line (the first is line 2)"},
    {"input after a layer", HEAD "relu\ninput channels=1 height=5 width=5\n",
     "m.cnnf:4: input: a second 'input' line"},
    {"layer before input", "cnnf-model 1\nconv out=2 kernel=3\n",
     "m.cnnf:2: conv: the 'input' line must come before the first layer"},
    {"labels twice", HEAD "labels a b\nlabels a b\n",
     "m.cnnf:4: labels: a second 'labels' line (the first is line 3)"},
    {"labels after a layer", HEAD "fc out=2\nlabels a b\nweights init\n",
     "m.cnnf:4: labels: must come before the layers"},
    {"labels without names", HEAD "labels # none\n", "m.cnnf:3: labels: no names"},
    {"label with a control byte", HEAD "labels a b\x7f\n",
     "m.cnnf:3: labels: 'b?' has a control character"},
    {"label too long",
     HEAD "labels a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
          "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
     "m.cnnf:3: labels: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...' is longer than 255 bytes"},
    {"too many labels", HEAD "labels a b c\nfc out=2\nweights init\n",
     "m.cnnf:3: labels: 3 names for the 2 classes of the output"},
    {"too few labels", HEAD "labels a\nfc out=2\nweights init\n",
     "m.cnnf:3: labels: 1 name for the 2 classes of the output"},
    {"softmax not last", HEAD "fc out=2\nsoftmax\nrelu\nweights init\n",
     "m.cnnf:4: softmax: must be the last layer, but line 5 has relu"},
    /* the network as a whole */
    {"no layers", HEAD "weights init\n",
     "m.cnnf:3: weights: no layers before it; a model needs one"},
    {"no input", "cnnf-model 1\nweights init\n", "m.cnnf:2: weights: no 'input' line before it"},
    {"no weights line", HEAD "fc out=2\n",
     "m.cnnf: no 'weights' line: the header ends with "
     "'weights float32 COUNT', 'weights text COUNT' or "
     "'weights init'"},
    {"output not 1x1", HEAD "conv out=2 kernel=3\nweights init\n",
     "m.cnnf:3: conv: the network's output is 2x3x3; it must be K x 1 x 1"},
    {"output of the input",
     "cnnf-model 1\ninput channels=4 height=2 width=1\nrelu\n"
     "weights init\n",
     "m.cnnf:3: relu: the network's output is 4x2x1"},
    {"one class", HEAD "fc out=1\nweights init\n",
     "m.cnnf:3: fc: the network's output has 1 class; it needs at least 2"},
    {"one class by softmax", HEAD "fc out=1\nsoftmax\nweights init\n",
     "m.cnnf:4: softmax: the network's output has 1 class"},
    /* the weights line */
    {"weights without a format", FC2 "weights\n",
     "m.cnnf:4: weights: needs float32 COUNT, text COUNT or init"},
    {"unknown format", FC2 "weights float64 10\n",
     "m.cnnf:4: weights: unknown format 'float64' (float32, text or init)"},
    {"no count", FC2 "weights float32\n", "m.cnnf:4: weights: float32 needs the number of values"},
    {"count mismatch", FC2 "weights text 1000\n",
     "m.cnnf:4: weights: the layers need 10 values, the file says 1000"},
    {"count overflows", FC2 "weights float32 99999999999999999999999\n",
     "m.cnnf:4: weights: the layers need 10 values, the file says 99999999999999999999999"},
    {"negative count", FC2 "weights float32 -10\n",
     "m.cnnf:4: weights: count '-10' is not a whole number"},
    {"count with junk", FC2 "weights text 10k\n",
     "m.cnnf:4: weights: count '10k' is not a whole number"},
    {"after the count", FC2 "weights text 10 le\n",
     "m.cnnf:4: weights: unexpected 'le' after '10'"},
    {"count after init", FC2 "weights init 10\n",
     "m.cnnf:4: weights: unexpected '10' after "
     "'init'"},
    {"values after init", FC2 "weights init\n\n0 1 2\n",
     "m.cnnf:6: weights: unexpected '0' after 'weights init'"},
    /* text weights */
    {"text ends early", FC2 "weights text 10\n1 2 3\n# more to come\n",
     "m.cnnf:5: weights: the text ends after 3 of 10 values"},
    {"text is empty", FC2 "weights text 10\n",
     "m.cnnf:4: weights: the text ends after 0 of 10 values"},
    {"text too long", FC2 "weights text 10\n0 1 2 3 4 5 6 7 8 9\n\n10\n",
     "m.cnnf:7: weights: more values than the 10 the header gives"},
    {"text not a number", FC2 "weights text 10\n0 1 1.2.3 3 4 5 6 7 8 9\n",
     "m.cnnf:5: weights: '1.2.3' (values[2]) is not a number"},
    {"text comma", FC2 "weights text 10\n0 1 2,5 3 4 5 6 7 8 9\n",
     "m.cnnf:5: weights: '2,5' (values[2]) is not a number"},
    {"text nan", FC2 "weights text 10\n0 1\n2 nan 4 5 6 7 8 9\n",
     "m.cnnf:6: weights: values[3] is nan, not a finite float32 (weight[3] of the fc on line 3)"},
    {"text inf in a bias", FC2 "weights text 10\n0 1 2 3 4 5 6 7 8 -inf\n",
     "m.cnnf:5: weights: values[9] is -inf, not a finite float32 (bias[1] of the fc on line 3)"},
    {"text beyond float32", FC2 "weights text 10\n1e39 1 2 3 4 5 6 7 8 9\n",
     "m.cnnf:5: weights: values[0] is 1e39, not a finite float32 (weight[0] of the fc"},
    {"negative running_var",
     "cnnf-model 1\ninput channels=2 height=1 width=1\nbatchnorm\n"
     "weights text 8\n1 1  0 0  0 0  1 -0.5\n",
     "m.cnnf:3: batchnorm: running_var[1] is -0.5; a variance cannot be negative"},
    {"nan names a batchnorm part",
     "cnnf-model 1\ninput channels=2 height=1 width=1\n"
     "batchnorm\nweights text 8\n1 1  0 0  0 nan  1 1\n",
     "m.cnnf:5: weights: values[5] is nan, not a finite float32 (running_mean[1] of the "
     "batchnorm on line 3)"},
    /* limits, with the defaults: nothing is allocated for any of these */
    {"input over max_activations",
     "cnnf-model 1\ninput channels=65536 height=65536 "
     "width=65536\n",
     "m.cnnf:2: input: the input 65536x65536x65536 is more than the 67108864 values a layer "
     "may hold"},
    {"output over max_activations",
     "cnnf-model 1\ninput channels=1 height=4096 width=4096\n"
     "conv out=8 kernel=1\n",
     "m.cnnf:3: conv: the output 8x4096x4096 is more than the 67108864 values"},
    {"padding over max_activations",
     "cnnf-model 1\ninput channels=1 height=4096 width=4096\n"
     "conv out=1 kernel=1 pad=65536\n",
     "m.cnnf:3: conv: the output 1x135168x135168 is more than the 67108864 values"},
    {"conv over max_params",
     "cnnf-model 1\ninput channels=3 height=4096 width=4096\n"
     "conv out=65536 kernel=4096\nfc out=2\n"
     "weights float32 3298535080000\n",
     "m.cnnf:3: conv: the layers up to here need 3298534948864 parameters; at most 268435456 "
     "are allowed"},
    {"fc over max_params",
     "cnnf-model 1\ninput channels=1 height=4096 width=4096\n"
     "fc out=65536\nweights init\n",
     "m.cnnf:3: fc: the layers up to here need 1099511693312 parameters"},
    /* Each layer at the most the engine takes (2^26 weights), four of them over 2^28. */
    {"sum over max_params",
     "cnnf-model 1\ninput channels=4096 height=128 width=128\n"
     "conv out=4096 kernel=2\nconv out=4096 kernel=2\nconv out=4096 kernel=2\n"
     "conv out=4096 kernel=2\nfc out=2\nweights init\n",
     "m.cnnf:6: conv: the layers up to here need 268451840 parameters; at most 268435456"},
    /* Within the parameter limit, but more than the engine's kernel banks hold. */
    {"conv over the engine's bank",
     "cnnf-model 1\ninput channels=1024 height=8 width=8\n"
     "conv out=2048 kernel=8\nfc out=2\nweights init\n",
     "m.cnnf:3: conv: 2048 filters of 1024x8x8 (in x height x width) are more than a layer "
     "may have: each at most 4096, at most 67108864 weights"},
    {"fc over the engine's bank",
     "cnnf-model 1\ninput channels=1 height=4096 width=4096\nfc out=15\nweights init\n",
     "m.cnnf:3: fc: 15 filters of 1x4096x4096"},
    {"conv side over the engine's bank",
     "cnnf-model 1\ninput channels=1 height=8192 width=2\nconv out=2 kernel=8192x1\n"
     "fc out=2\nweights init\n",
     "m.cnnf:3: conv: 2 filters of 1x8192x1"},
};
#define NREFUSALS ((int)(sizeof refusals / sizeof refusals[0]))

START_TEST(test_refused)
{
	const struct refusal *r = &refusals[_i];
	cnnf_model *m = parse(r->text);
	ck_assert_msg(m == NULL, "%s: accepted", r->what);
	ck_assert_msg(strstr(cnnf_error_get(), r->message) != NULL, "%s: error \"%s\" lacks \"%s\"",
	              r->what, cnnf_error_get(), r->message);
}
END_TEST

/* ---- errors: float32 weights ------------------------------------------------------------- */

/* A model of 40 values: 19 inputs, 2 classes (2*19 + 2); the fc is on line 3. */
#define F40 "cnnf-model 1\ninput channels=1 height=1 width=19\nfc out=2\nweights float32 40\n"

/* parse F40 followed by the n floats v and extra bytes of junk; must fail with message. */
static void refuse_floats(const float *v, size_t n, size_t extra, const char *message)
{
	size_t len;
	char *buf = with_floats(F40, v, n, &len);
	char *grown = realloc(buf, len + extra + 1);
	ck_assert_ptr_nonnull(grown);
	memset(grown + len, 0x3F, extra);
	cnnf_model *m = parse_len(grown, len + extra);
	ck_assert_ptr_null(m);
	ck_assert_error_has(message);
	free(grown);
}

START_TEST(test_float32_truncated)
{
	float *v = counting(40);
	refuse_floats(v, 17, 0, "m.cnnf: weights: file ends after 17 of 40 values");
	refuse_floats(v, 17, 3,
	              "m.cnnf: weights: file ends after 17 of 40 values and part of "
	              "the next");
	refuse_floats(v, 0, 0, "m.cnnf: weights: file ends after 0 of 40 values");
	refuse_floats(v, 39, 0, "m.cnnf: weights: file ends after 39 of 40 values");
	/* No newline after the weights line: nothing follows it at all. */
	const char *text = "cnnf-model 1\ninput channels=1 height=1 width=19\nfc out=2\n"
	                   "weights float32 40";
	ck_assert_ptr_null(parse(text));
	ck_assert_error_has("m.cnnf: weights: file ends after 0 of 40 values");
	free(v);
}
END_TEST

START_TEST(test_float32_trailing)
{
	float *v = counting(41);
	refuse_floats(v, 40, 1, "m.cnnf: weights: 1 byte after the 40 values");
	refuse_floats(v, 41, 0, "m.cnnf: weights: 4 bytes after the 40 values");
	/* A final newline, as an editor adds, is a byte too many as well. */
	size_t len;
	char *buf = with_floats(F40, v, 40, &len);
	buf[len] = '\n';
	ck_assert_ptr_null(parse_len(buf, len + 1));
	ck_assert_error_has("m.cnnf: weights: 1 byte after the 40 values");
	free(buf);
	free(v);
}
END_TEST

START_TEST(test_float32_not_finite)
{
	float *v = counting(40);
	v[5] = NAN;
	refuse_floats(v, 40, 0,
	              "m.cnnf: weights: values[5] is nan, not a finite float32 "
	              "(weight[5] of the fc on line 3)");
	v[5] = 5;
	v[39] = INFINITY;
	refuse_floats(v, 40, 0,
	              "m.cnnf: weights: values[39] is inf, not a finite float32 "
	              "(bias[1] of the fc on line 3)");
	v[39] = 39;
	v[0] = -INFINITY;
	refuse_floats(v, 40, 0, "m.cnnf: weights: values[0] is -inf");
	free(v);
}
END_TEST

START_TEST(test_float32_negative_variance)
{
	const float v[] = {1, 1, 0, 0, 0, 0, 0, -1e-30f};
	size_t len;
	char *buf = with_floats("cnnf-model 1\ninput channels=2 height=1 width=1\n"
	                        "batchnorm eps=1e-3\nweights float32 8\n",
	                        v, 8, &len);
	ck_assert_ptr_null(parse_len(buf, len));
	ck_assert_error_has("m.cnnf:3: batchnorm: running_var[1] is -1e-30; a variance cannot "
	                    "be negative");
	free(buf);
}
END_TEST

/* ---- errors: what the table cannot hold ------------------------------------------------- */

/* A NUL byte in the header is no part of any word. */
START_TEST(test_nul_in_header)
{
	static const char a[] = "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\0\n"
	                        "weights init\n";
	ck_assert_ptr_null(parse_len(a, sizeof a - 1));
	ck_assert_error_has("m.cnnf:3: fc: out=2? is not a whole number from 1 to 65536");
	static const char b[] = "cnnf-model 1\ninput channels=1 height=2 width=2\nre\0lu\n";
	ck_assert_ptr_null(parse_len(b, sizeof b - 1));
	ck_assert_error_has("m.cnnf:3: unknown keyword 're?lu'");
	static const char c[] = "cnnf-model 1\ninput channels=1 height=2 width=2\nfc out=2\n"
	                        "weights text 10\n0 1 2\0 3 4 5 6 7 8 9\n";
	ck_assert_ptr_null(parse_len(c, sizeof c - 1));
	ck_assert_error_has("m.cnnf:5: weights: '2?' (values[2]) is not a number");
}
END_TEST

START_TEST(test_too_many_layers)
{
	size_t n = 4097;
	char *text = malloc(64 + 5 * n);
	ck_assert_ptr_nonnull(text);
	char *p = text + sprintf(text, "cnnf-model 1\ninput channels=2 height=1 width=1\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "relu\n");
	ck_assert_ptr_null(parse(text));
	/* 4096 layers on lines 3 to 4098; the one on line 4099 is too many. */
	ck_assert_error_has("m.cnnf:4099: relu: more than 4096 layers");
	free(text);
}
END_TEST

/* Sizes whose products do not fit 64 bits are refused, not wrapped around. */
START_TEST(test_overflow)
{
	cnnf_model_limits l = {.max_params = SIZE_MAX, .max_activations = SIZE_MAX};
	const char *conv = "cnnf-model 1\ninput channels=65536 height=65536 width=65536\n"
	                   "conv out=65536 kernel=65536\nweights init\n";
	ck_assert_ptr_null(cnnf_model_parse(conv, strlen(conv), "m.cnnf", &l));
	ck_assert_error_has("m.cnnf:3: conv: the layers up to here need more than 2^64 "
	                    "parameters");
	const char *fc = "cnnf-model 1\ninput channels=65536 height=65536 width=65536\n"
	                 "fc out=65536\nweights init\n";
	ck_assert_ptr_null(cnnf_model_parse(fc, strlen(fc), "m.cnnf", &l));
	ck_assert_error_has("m.cnnf:3: fc: the layers up to here need more than 2^64 parameters");
}
END_TEST

/*
 * Cap the address space at what the process maps now plus 64 MiB, so that
 * allocating what a hostile header asks for would fail ("out of memory")
 * instead of succeeding quietly. Returns 1 when capped (undo with uncap), 0
 * when that cannot be done: under AddressSanitizer, which reserves terabytes
 * of address space, or without /proc.
 */
static int cap_memory(struct rlimit *old)
{
#ifdef UNDER_ASAN
	(void)old;
	return 0;
#else
	long pages = 0, page = sysconf(_SC_PAGESIZE);
	FILE *fp = fopen("/proc/self/statm", "r");
	int ok = fp && fscanf(fp, "%ld", &pages) == 1 && page > 0 && getrlimit(RLIMIT_AS, old) == 0;
	if (fp)
		fclose(fp);
	if (!ok)
		return 0;
	struct rlimit low = *old;
	low.rlim_cur = (rlim_t)pages * (rlim_t)page + ((rlim_t)64 << 20);
	if (old->rlim_cur != RLIM_INFINITY && old->rlim_cur < low.rlim_cur)
		return 0;
	return setrlimit(RLIMIT_AS, &low) == 0;
#endif
}

/* Undo cap_memory, for when Check runs the tests in one process (CK_FORK=no). */
static void uncap_memory(int capped, const struct rlimit *old)
{
	if (capped)
		setrlimit(RLIMIT_AS, old);
}

/* Parse text with the address space capped; the parse must fail fast with message. */
static void refuse_capped(const char *text, const char *message)
{
	struct rlimit old;
	int capped = cap_memory(&old);
	clock_t t0 = clock();
	cnnf_model *m = parse(text);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	uncap_memory(capped, &old);
	ck_assert_ptr_null(m);
	ck_assert_error_has(message);
	ck_assert_msg(secs < 1, "took %.2f s", secs);
}

/* 65536 filters of 3x4096x4096: 3.3e12 parameters, 13 TB, refused from the header alone. */
START_TEST(test_bomb)
{
	refuse_capped("cnnf-model 1\ninput channels=3 height=4096 width=4096\n"
	              "conv out=65536 kernel=4096\nfc out=2\nweights init\n",
	              "m.cnnf:3: conv: the layers up to here need 3298534948864 parameters");
}
END_TEST

/*
 * A header within the limits that counts 67108878 values (256 MiB; 4*4096*4096
 * + 4 and 2*4 + 2) followed by three: refused before the parameters are
 * allocated, for text and float32 weights alike.
 */
START_TEST(test_short_weights_bomb)
{
#define BIG                                                                                        \
	"cnnf-model 1\ninput channels=1 height=4096 width=4096\n"                                  \
	"conv out=4 kernel=4096\nfc out=2\n"
	refuse_capped(BIG "weights text 67108878\n1 2 3\n",
	              "m.cnnf:6: weights: the text ends after 3 of 67108878 values");
	refuse_capped(BIG "weights float32 67108878\n123456789012",
	              "m.cnnf: weights: file ends after 3 of 67108878 values");
#undef BIG
}
END_TEST

START_TEST(test_load_errors)
{
	ck_assert_ptr_null(cnnf_model_load(TEST_DATA_DIR "/model/nope.cnnf", NULL));
	ck_assert_error_has(TEST_DATA_DIR "/model/nope.cnnf: No such file or directory");
	ck_assert_ptr_null(cnnf_model_load(TEST_DATA_DIR "/model", NULL));
	ck_assert_error_has(TEST_DATA_DIR "/model: Is a directory");
	/* The file name is in the messages of the parser too. */
	ck_assert_ptr_null(cnnf_model_load(TEST_DATA_DIR "/kernel/bank.txt", NULL));
	ck_assert_error_has(TEST_DATA_DIR "/kernel/bank.txt:");
	ck_assert_error_has("not a cnnf model file");
}
END_TEST

/* A file larger than the limits allow is refused from its size, before it is read. */
START_TEST(test_load_too_large)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/model-big-%ld.cnnf", cnnf_test_tmpdir(), (long)getpid());
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	fputs("cnnf-model 1\n", fp);
	ck_assert_int_eq(fflush(fp), 0);
	/* Sparse: 17 MiB that take no room on the disk. */
	ck_assert_int_eq(ftruncate(fileno(fp), (off_t)17 << 20), 0);
	ck_assert_int_eq(fclose(fp), 0);
	cnnf_model_limits l = {.max_params = 1000, .max_activations = 1000};
	cnnf_model *m = cnnf_model_load(path, &l);
	unlink(path);
	ck_assert_ptr_null(m);
	ck_assert_error_has("model-big-");
	ck_assert_error_has(": larger than 16809216 bytes, the most a model file may have");
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");

	TCase *core = tcase_create("core");
	tcase_add_test(core, test_text_model);
	tcase_add_test(core, test_text_number_forms);
	tcase_add_test(core, test_float32);
	tcase_add_test(core, test_float32_file);
	tcase_add_test(core, test_mean_std);
	tcase_add_test(core, test_labels);
	tcase_add_test(core, test_defaults);
	tcase_add_test(core, test_conv_geometry);
	tcase_add_test(core, test_worked_example);
	tcase_add_test(core, test_receptive_field);
	tcase_add_test(core, test_weights_init);
	tcase_add_test(core, test_no_params);
	tcase_add_test(core, test_layout);
	tcase_add_test(core, test_load_fixture);
	tcase_add_test(core, test_locale);
	tcase_add_test(core, test_names_and_limits);
	tcase_add_test(core, test_limits_exact);
	suite_add_tcase(s, core);

	TCase *errors = tcase_create("errors");
	tcase_add_loop_test(errors, test_refused, 0, NREFUSALS);
	tcase_add_test(errors, test_float32_truncated);
	tcase_add_test(errors, test_float32_trailing);
	tcase_add_test(errors, test_float32_not_finite);
	tcase_add_test(errors, test_float32_negative_variance);
	tcase_add_test(errors, test_nul_in_header);
	tcase_add_test(errors, test_too_many_layers);
	tcase_add_test(errors, test_overflow);
	tcase_add_test(errors, test_bomb);
	tcase_add_test(errors, test_short_weights_bomb);
	tcase_add_test(errors, test_load_errors);
	tcase_add_test(errors, test_load_too_large);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(model_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
