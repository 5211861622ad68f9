/* fuzz_png.c: fuzz harness for the PNG reader, cnnf_png_read(), and for writing what metadata it finds. */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader with its metadata, which fuzz_read_meta() writes out and reads back. */
static cnnf_image *read_png(FILE *fp, const char *name, unsigned long long max, cnnf_meta *m)
{
	cnnf_warn w = {.count = 0};
	return cnnf_png_read_warn(fp, name, max, &w, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_png_read, data, size);
	fuzz_read_meta(read_png, data, size);
	return 0;
}
