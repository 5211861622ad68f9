/* fuzz_jpeg.c: fuzz harness for the JPEG reader, cnnf_jpeg_read(), and for writing what metadata it finds. */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader with its metadata, which fuzz_read_meta() writes out and reads back. */
static cnnf_image *read_jpeg(FILE *fp, const char *name, unsigned long long max, cnnf_meta *m)
{
	cnnf_warn w = {.count = 0};
	return cnnf_jpeg_read_exif(fp, name, max, 1, NULL, &w, m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_jpeg_read, data, size);
	fuzz_read_meta(read_jpeg, data, size);
	return 0;
}
