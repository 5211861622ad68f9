/* fuzz_onnx.c: fuzz harness for the ONNX reader: cnnf_onnx_parse(), cnnf_onnx_tensor_parse() and cnnf_onnx_is(). */
#include "fuzz.h"
#include "nn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small limits, so that whatever the reader accepts stays cheap to allocate. */
	cnnf_graph_limits lim = {.max_elements = (uint64_t)1 << 20,
				 .max_activation = (uint64_t)1 << 26,
				 .max_params = (uint64_t)1 << 22};
	(void)cnnf_onnx_is(data, size);
	cnnf_error_clear();
	cnnf_graph *g = NULL;
	/* No folder: external data is refused, the fuzzer never opens files. */
	if (cnnf_onnx_parse(data, size, FUZZ_NAME, NULL, &lim, &g) == 0) {
		if (!g || !g->finished || g->opset < 7 || g->opset > 18) {
			fprintf(stderr, "accepted graph breaks its contract\n");
			abort();
		}
		cnnf_graph_free(g);
	} else {
		fuzz_check_error();
	}
	cnnf_value v;
	cnnf_error_clear();
	if (cnnf_onnx_tensor_parse(data, size, FUZZ_NAME, NULL, &lim, &v) == 0) {
		uint64_t n = cnnf_value_count(&v);
		if (v.ndim < 0 || v.ndim > CNNF_GRAPH_MAX_DIMS || n > lim.max_elements ||
		    (v.type != CNNF_DT_F32 && v.type != CNNF_DT_I64)) {
			fprintf(stderr, "tensor breaks its contract\n");
			abort();
		}
		/* Every element is read: a short buffer shows up under ASan. */
		volatile unsigned char sum = 0;
		const unsigned char *p = v.data;
		for (uint64_t i = 0; i < n * cnnf_graph_type_size(v.type); i++)
			sum ^= p[i];
		(void)sum;
		cnnf_onnx_tensor_clear(&v);
	} else {
		fuzz_check_error();
	}
	return 0;
}
