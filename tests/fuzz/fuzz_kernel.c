/* fuzz_kernel.c: fuzz harness for the kernel parsers: the cnnf text format and libvips .mat. */
#include "task/describe.h"
#include "fuzz.h"
#include "engine/kernel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a parsed kernel is used for: info, --normalize, --flip. None of it may crash. */
static void use(cnnf_kernel *k, FILE *sink)
{
	if (k->count < 1 || k->depth < 1 || k->height < 1 || k->width < 1) {
		fprintf(stderr, "kernel of %dx%dx%dx%d\n", k->count, k->depth, k->height, k->width);
		abort();
	}
	if (sink)
		cnnf_describe_kernel(sink, FUZZ_NAME, k);
	cnnf_kernel_normalize(k, FUZZ_NAME);
	cnnf_kernel_flip(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	/* The parsers take NUL-terminated text, as cnnf_kernel_load() gives them. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cnnf_kernel *(*const parsers[])(const char *, const char *) = {cnnf_kernel_parse,
	                                                               cnnf_kernel_parse_mat};
	for (size_t i = 0; i < sizeof parsers / sizeof parsers[0]; i++) {
		cnnf_error_clear();
		cnnf_kernel *k = parsers[i](text, FUZZ_NAME);
		if (k)
			use(k, sink);
		else
			fuzz_check_error();
		cnnf_kernel_free(k);
	}
	free(text);
	return 0;
}
