/* meta.c: the metadata blocks an image carries from its file to the outputs made from it. */
#include "image/meta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cnnf_meta_clear(cnnf_meta *m)
{
	if (!m)
		return;
	free(m->icc);
	free(m->exif);
	free(m->xmp);
	for (int i = 0; i < m->text_count; i++) {
		free(m->text[i].key);
		free(m->text[i].value);
	}
	free(m->text);
	memset(m, 0, sizeof *m);
}

int cnnf_meta_empty(const cnnf_meta *m)
{
	return !m || (!m->icc && !m->exif && !m->xmp && !m->text_count &&
	              m->res_unit == CNNF_RES_NONE && m->orientation <= 1);
}

/* *dst a fresh copy of len bytes at p; the old block freed. */
static int set_block(void **dst, size_t *dst_len, const void *p, size_t len)
{
	if (len == 0 || len > CNNF_META_MAX_BLOCK)
		return -1;
	void *copy = malloc(len);
	if (!copy)
		return -1;
	memcpy(copy, p, len);
	free(*dst);
	*dst = copy;
	*dst_len = len;
	return 0;
}

int cnnf_meta_set_icc(cnnf_meta *m, const char *name, const void *p, size_t len)
{
	if (set_block((void **)&m->icc, &m->icc_len, p, len) < 0)
		return -1;
	m->icc_name[0] = 0;
	if (name)
		snprintf(m->icc_name, sizeof m->icc_name, "%s", name);
	return 0;
}

int cnnf_meta_set_exif(cnnf_meta *m, const void *p, size_t len)
{
	return set_block((void **)&m->exif, &m->exif_len, p, len);
}

int cnnf_meta_set_xmp(cnnf_meta *m, const void *p, size_t len)
{
	return set_block((void **)&m->xmp, &m->xmp_len, p, len);
}

/* A NUL-terminated copy of the first len bytes of s, cut at a NUL; NULL when out of memory. */
static char *copy_string(const char *s, size_t len)
{
	const char *nul = memchr(s, 0, len);
	if (nul)
		len = (size_t)(nul - s);
	char *c = malloc(len + 1);
	if (c) {
		memcpy(c, s, len);
		c[len] = 0;
	}
	return c;
}

int cnnf_meta_add_text(cnnf_meta *m, const char *key, const char *value, size_t len, int utf8,
                       int compressed)
{
	size_t klen = strlen(key);
	if (klen < 1 || klen > 79 || m->text_count >= CNNF_META_MAX_TEXT || len > CNNF_META_MAX_BLOCK)
		return -1;
	cnnf_meta_text *t = realloc(m->text, (size_t)(m->text_count + 1) * sizeof *t);
	if (!t)
		return -1;
	m->text = t;
	cnnf_meta_text e = {copy_string(key, klen), copy_string(value, len), utf8 != 0,
	                    compressed != 0};
	if (!e.key || !e.value) {
		free(e.key);
		free(e.value);
		return -1;
	}
	m->text[m->text_count++] = e;
	return 0;
}

int cnnf_meta_copy(cnnf_meta *dst, const cnnf_meta *src)
{
	cnnf_meta_clear(dst);
	if (!src)
		return 0;
	cnnf_meta c = *src;
	c.icc = NULL, c.exif = NULL, c.xmp = NULL, c.text = NULL, c.text_count = 0;
	int bad = (src->icc && cnnf_meta_set_icc(&c, src->icc_name, src->icc, src->icc_len) < 0) ||
	          (src->exif && cnnf_meta_set_exif(&c, src->exif, src->exif_len) < 0) ||
	          (src->xmp && cnnf_meta_set_xmp(&c, src->xmp, src->xmp_len) < 0);
	for (int i = 0; !bad && i < src->text_count; i++) {
		const cnnf_meta_text *t = &src->text[i];
		bad = cnnf_meta_add_text(&c, t->key, t->value, strlen(t->value), t->utf8,
		                         t->compressed) < 0;
	}
	if (bad) {
		cnnf_meta_clear(&c);
		return -1;
	}
	*dst = c;
	return 0;
}

int cnnf_meta_icc_channels(const unsigned char *icc, size_t len)
{
	/* ICC.1 header: the data colour space at bytes 16..19, the signature 'acsp' at 36..39. */
	if (!icc || len < 132 || memcmp(icc + 36, "acsp", 4) != 0)
		return 0;
	if (memcmp(icc + 16, "GRAY", 4) == 0)
		return 1;
	if (memcmp(icc + 16, "RGB ", 4) == 0)
		return 3;
	return 0;
}

cnnf_res_unit cnnf_meta_resolution(const cnnf_meta *m, double *x, double *y)
{
	*x = *y = 0;
	if (!m || m->res_unit == CNNF_RES_NONE || !(m->res_x > 0) || !(m->res_y > 0) ||
	    !isfinite(m->res_x) || !isfinite(m->res_y))
		return CNNF_RES_NONE;
	*x = m->res_x;
	*y = m->res_y;
	return m->res_unit;
}

void cnnf_meta_scale_resolution(cnnf_meta *m, double fx, double fy)
{
	if (m->res_unit == CNNF_RES_METRE) {
		m->res_x *= fx;
		m->res_y *= fy;
	} else if (m->res_unit == CNNF_RES_ASPECT) {
		/* Pixels twice as wide as tall stay so after a step of 2 both ways. */
		m->res_x *= fx / fy;
	}
}

void cnnf_meta_swap_axes(cnnf_meta *m)
{
	double t = m->res_x;
	m->res_x = m->res_y;
	m->res_y = t;
}
