/* fuzz_jpeg.c: fuzz harness for the JPEG reader, cnnf_jpeg_read(). */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_jpeg_read, data, size);
	return 0;
}
