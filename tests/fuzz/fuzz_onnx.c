/* fuzz_onnx.c: fuzz harness for the ONNX reader: cnnf_onnx_parse(), cnnf_onnx_tensor_parse() and cnnf_onnx_is(). */
#include "fuzz.h"
#include "nn/geometry.h"
#include "nn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Prepare the graph for its declared input shapes (free dims taken as 3, at
 * most 4096 elements an input) and run it on zeros, so that the operators'
 * inference and forward meet hostile attributes too. A failure must leave a
 * message; work over 1e8 is not run.
 */
static void prepare_and_run(cnnf_graph *g)
{
	enum { MAXIN = 8 };
	if (g->nin > MAXIN)
		return;
	int ndim[MAXIN];
	int64_t shape[MAXIN][CNNF_GRAPH_MAX_DIMS];
	void *data[MAXIN] = {0};
	void *out[64] = {0};
	if (g->nout > 64)
		return;
	for (int i = 0; i < g->nin; i++) {
		ndim[i] = g->in_ndim[i] < 0 ? 1 : g->in_ndim[i];
		uint64_t n = 1;
		for (int k = 0; k < ndim[i]; k++) {
			int64_t d = g->in_ndim[i] < 0 || g->in_dim[i][k] < 0 ? 3 : g->in_dim[i][k];
			shape[i][k] = d;
			n *= (uint64_t)(d < 4096 ? d : 4096);
		}
		if (n > 4096)
			goto out;
		data[i] = calloc(n ? n : 1, 8);
		if (!data[i])
			goto out;
	}
	cnnf_error_clear();
	g->threads = 1;
	if (cnnf_graph_prepare(g, ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, NULL) < 0) {
		fuzz_check_error();
		goto out;
	}
	/* The geometry reads the same attributes and shapes: the receptive field and a need. */
	cnnf_geometry *geo = cnnf_geometry_new(g);
	if (geo && cnnf_geometry_tileable(geo, NULL)) {
		int64_t lo, hi;
		if (cnnf_geometry_need(geo, 0, 0, 2, &lo, &hi) < 0 ||
		    cnnf_geometry_covers(geo, g, 0, 0) < 0)
			fuzz_check_error();
	}
	cnnf_geometry_free(geo);
	if (g->work > 1e8)
		goto out;
	if (cnnf_graph_run(g, (const void *const *)data, out) < 0)
		fuzz_check_error();
	else
		for (int i = 0; i < g->nout; i++)
			free(out[i]);
out:
	for (int i = 0; i < g->nin; i++)
		free(data[i]);
}

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
		prepare_and_run(g);
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
