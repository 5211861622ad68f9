/* labels.h: label maps for training: one class id per pixel, read without any colour expansion. */
#ifndef CNNF_LABELS_H
#define CNNF_LABELS_H

#include <stdint.h>

/*
 * A label map: the class id of every pixel, rows top to bottom, pixel (x, y)
 * at data[y * width + x]. Ids are the file's raw sample values: the palette
 * index of a palette PNG (what `cnnf segment` writes), the gray value of a
 * gray PNG of 1 to 16 bits (not rescaled: a 1-bit map holds 0 and 1), or
 * the sample of a gray PNM (P2/P5). Anything else (RGB, gray with alpha,
 * JPEG, NPY) is refused: colours and lossy samples are not class ids.
 */
typedef struct cnnf_labels {
	int width, height; /* >= 1 */
	uint16_t *data;    /* width * height class ids */
} cnnf_labels;

/*
 * Read the label map at path. Its size is checked against max_pixels (0: no
 * limit) before anything is allocated; truncated or corrupt data is an
 * error. Returns an owned map, or NULL with a message naming the file.
 */
cnnf_labels *cnnf_labels_read(const char *path, unsigned long long max_pixels);

void cnnf_labels_free(cnnf_labels *l);

#endif
