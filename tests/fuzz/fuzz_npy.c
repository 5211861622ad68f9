/* fuzz_npy.c: fuzz harness for the NPY reader, cnnf_npy_read(). */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_npy_read, data, size);
	return 0;
}
