/* fuzz_pnm.c: fuzz harness for the PNM reader, cnnf_pnm_read(). */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_read_image(cnnf_pnm_read, data, size);
	return 0;
}
