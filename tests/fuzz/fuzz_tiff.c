/* fuzz_tiff.c: fuzz harness for the TIFF reader: cnnf_tiff_open(), then every page (up to 16). */
#include "fuzz.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	cnnf_error_clear();
	cnnf_tiff *t = cnnf_tiff_open(fp, FUZZ_NAME, FUZZ_MAX_PIXELS);
	if (!t) {
		fuzz_check_error();
		fclose(fp);
		return 0;
	}
	int pages = cnnf_tiff_pages(t);
	if (pages < 1)
		abort();
	/* Pages are read out of order too: the second pass goes back to the first page. */
	for (int i = 0; i < pages && i < 16; i++) {
		cnnf_error_clear();
		cnnf_meta m = {0};
		cnnf_image *img = cnnf_tiff_read_page(t, i, &m);
		if (img) {
			fuzz_check_image(img);
			if (i == 0)
				fuzz_meta_roundtrip(&m);
		} else {
			fuzz_check_error();
		}
		cnnf_meta_clear(&m);
		cnnf_image_free(img);
	}
	if (pages > 1) {
		cnnf_image *img = cnnf_tiff_read_page(t, 0, NULL);
		if (img)
			fuzz_check_image(img);
		cnnf_image_free(img);
	}
	const char *w = cnnf_tiff_warning(t);
	if (w && strncmp(w, FUZZ_NAME, strlen(FUZZ_NAME)) != 0)
		abort();
	for (const char *p = w; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	cnnf_tiff_close(t);
	fclose(fp);
	return 0;
}
