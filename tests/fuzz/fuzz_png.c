/* fuzz_png.c: fuzz harness for the PNG reader, cnnf_png_read(). */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_png_read, data, size);
	return 0;
}
