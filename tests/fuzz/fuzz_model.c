/* fuzz_model.c: fuzz harness for the model file parser, cnnf_model_parse(). */
#include "task/describe.h"
#include "fuzz.h"
#include "nn/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	/* Smaller than the defaults, so that a model the parser accepts stays cheap to allocate. */
	cnnf_model_limits limits = {.max_params = (size_t)1 << 22, .max_activations = (size_t)1 << 22};
	cnnf_error_clear();
	cnnf_model *m = cnnf_model_parse((const char *)data, size, FUZZ_NAME, &limits);
	if (!m) {
		fuzz_check_error();
		return 0;
	}
	if (m->nlayers < 1 || m->classes < 2 || m->nparams > limits.max_params) {
		fprintf(stderr, "model of %d layers, %d classes, %zu parameters\n", m->nlayers,
		        m->classes, m->nparams);
		abort();
	}
	int rf_h, rf_w;
	cnnf_model_receptive_field(m, &rf_h, &rf_w);
	(void)cnnf_model_macs(m);
	if (sink)
		cnnf_describe_model(sink, FUZZ_NAME, m);
	cnnf_model_free(m);
	return 0;
}
