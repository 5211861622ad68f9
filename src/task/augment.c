/* augment.c: the symmetries of the square and brightness/contrast jitter, applied to a patch. */
#include "task/augment.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* The names of the bits, in the order they are listed. */
static const struct {
	const char *name;
	unsigned bit;
} names[] = {{"flip", CNNF_AUG_FLIP}, {"rot90", CNNF_AUG_ROT90}, {"jitter", CNNF_AUG_JITTER}};

#define NNAMES (sizeof names / sizeof *names)

int cnnf_augment_parse(const char *list, unsigned *bits)
{
	unsigned b = 0;
	const char *p = list;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i = 0;
		while (i < NNAMES && !(strlen(names[i].name) == n && !strncmp(names[i].name, p, n)))
			i++;
		if (i == NNAMES) {
			cnnf_error("--augment: '%s' is not a comma list of flip, rot90 and jitter",
			           list);
			return -1;
		}
		b |= names[i].bit;
		if (!p[n])
			break;
		p += n + 1;
	}
	*bits = b;
	return 0;
}

void cnnf_augment_name(unsigned bits, char *buf, size_t cap)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < NNAMES; i++)
		if (bits & names[i].bit) {
			int w = snprintf(buf + at, cap - at, "%s%s", at ? "," : "", names[i].name);
			if (w < 0 || (size_t)w >= cap - at)
				return;
			at += (size_t)w;
		}
}

/* The 4 turns counter-clockwise as (transpose, flip_y, flip_x): numpy.rot90 of k. */
static const int turns[4][3] = {{0, 0, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 0}};

void cnnf_augment_draw(unsigned bits, cnnf_rng *r, cnnf_augment *a)
{
	*a = (cnnf_augment){.gain = 1, .shift = 0};
	unsigned geo = bits & (CNNF_AUG_FLIP | CNNF_AUG_ROT90);
	if (geo == (CNNF_AUG_FLIP | CNNF_AUG_ROT90)) {
		unsigned k = (unsigned)cnnf_rng_below(r, 8);
		a->transpose = (k >> 2) & 1;
		a->flip_y = (k >> 1) & 1;
		a->flip_x = k & 1;
	} else if (geo == CNNF_AUG_FLIP) {
		unsigned k = (unsigned)cnnf_rng_below(r, 4);
		a->flip_y = (k >> 1) & 1;
		a->flip_x = k & 1;
	} else if (geo == CNNF_AUG_ROT90) {
		unsigned k = (unsigned)cnnf_rng_below(r, 4);
		a->transpose = turns[k][0];
		a->flip_y = turns[k][1];
		a->flip_x = turns[k][2];
	}
	if (bits & CNNF_AUG_JITTER) {
		a->gain = 1 - CNNF_AUG_CONTRAST + 2 * CNNF_AUG_CONTRAST * cnnf_rng_uniform(r);
		a->shift = -CNNF_AUG_BRIGHTNESS + 2 * CNNF_AUG_BRIGHTNESS * cnnf_rng_uniform(r);
	}
}

void cnnf_augment_patch(const cnnf_tensor *norm, const float *zero, cnnf_border border, int ph,
                        int pw, int y, int x, const cnnf_augment *a, const float *mean,
                        const float *std, float *dst)
{
	size_t plane = (size_t)norm->h * norm->w, at = 0;
	int jitter = a->gain != 1 || a->shift != 0;
	for (int c = 0; c < norm->c; c++) {
		const float *src = norm->data + c * plane;
		/* On the normalised scale the jitter is n' = gain n + off: v = n std + mean. */
		double off = ((a->gain - 1) * (mean[c] - 0.5) + a->shift) / std[c];
		for (int i = 0; i < ph; i++)
			for (int k = 0; k < pw; k++, at++) {
				int dy = i - ph / 2, dx = k - pw / 2;
				int sy = a->transpose ? dx : dy, sx = a->transpose ? dy : dx;
				if (a->flip_y)
					sy = -sy;
				if (a->flip_x)
					sx = -sx;
				long r = cnnf_conv_border_index(y + sy, norm->h, border);
				long q = r < 0 ? -1 : cnnf_conv_border_index(x + sx, norm->w, border);
				float v = q < 0 ? zero[c] : src[(size_t)r * norm->w + q];
				dst[at] = jitter ? (float)(a->gain * v + off) : v;
			}
	}
}
