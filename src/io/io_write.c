/* io_write.c: writing images: the format dispatch onto an output (output.c places the file). */
#include "io/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* The writer of each format. */
static const struct {
	cnnf_format format;
	int (*write)(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o);
} writers[] = {
    {CNNF_FORMAT_PNG, cnnf_png_write}, {CNNF_FORMAT_JPEG, cnnf_jpeg_write},
    {CNNF_FORMAT_PNM, cnnf_pnm_write}, {CNNF_FORMAT_PGM, cnnf_pgm_write},
    {CNNF_FORMAT_PPM, cnnf_ppm_write}, {CNNF_FORMAT_PBM, cnnf_pbm_write},
    {CNNF_FORMAT_PAM, cnnf_pam_write}, {CNNF_FORMAT_NPY, cnnf_npy_write},
    {CNNF_FORMAT_TIFF, cnnf_tiff_write},
};

static int write_stream(const cnnf_rows *src, FILE *fp, const char *name, cnnf_format format,
                        const cnnf_write_opts *o)
{
	for (size_t i = 0; i < sizeof writers / sizeof writers[0]; i++)
		if (writers[i].format == format)
			return writers[i].write(src, fp, name, o);
	cnnf_error("%s: unknown output format (use --format)", name);
	return -1;
}

cnnf_format cnnf_io_format_for(const char *path, const cnnf_write_opts *o)
{
	if (o && o->format != CNNF_FORMAT_NONE)
		return o->format;
	cnnf_format f = cnnf_io_format_from_name(path);
	/* A stream has no extension; PNG, as for standard output. */
	if (f == CNNF_FORMAT_NONE && cnnf_output_in_place(path))
		f = CNNF_FORMAT_PNG;
	return f;
}

/* A row source whose failures are reported as the output's: "OUTPUT: what went wrong". */
typedef struct named_rows {
	const cnnf_rows *src;
	const char *name;
} named_rows;

static const void *named_row(void *ctx, int y)
{
	const named_rows *n = ctx;
	const void *row = n->src->row(n->src->ctx, y);
	if (!row) {
		char why[CNNF_ERROR_MAX];
		snprintf(why, sizeof why, "%s", cnnf_error_get());
		cnnf_error("%s: %s", n->name, why[0] ? why : "a row could not be made");
	}
	return row;
}

/* A row source that composites its source's rows over a background, a row at a time. */
typedef struct flat_rows {
	const cnnf_rows *src;
	const unsigned char *bg;
	void *row; /* one output row */
} flat_rows;

static const void *flat_row(void *ctx, int y)
{
	const flat_rows *f = ctx;
	const void *row = f->src->row(f->src->ctx, y);
	if (!row)
		return NULL;
	cnnf_image_flatten_samples(&f->src->info, row, f->bg, f->row, (size_t)f->src->info.width);
	return f->row;
}

/*
 * *rows composited over o's background when o asks to flatten and they have
 * alpha: then *rows points to flattened, reading through flat, whose row the
 * caller frees. Returns 0 or -1.
 */
static int flatten_rows(const cnnf_rows **rows, const char *name, const cnnf_write_opts *o,
                        flat_rows *flat, cnnf_rows *flattened)
{
	*flat = (flat_rows){*rows, o->background, NULL};
	if (!o->flatten || !(*rows)->info.alpha)
		return 0;
	*flattened = **rows;
	flattened->info.channels--;
	flattened->info.alpha = 0;
	flattened->row = flat_row;
	flattened->ctx = flat;
	size_t bytes = (size_t)(*rows)->info.width * (size_t)flattened->info.channels *
	               (size_t)(*rows)->info.type;
	if (!(flat->row = malloc(bytes))) {
		cnnf_error("%s: out of memory for a row", name);
		return -1;
	}
	*rows = flattened;
	return 0;
}

int cnnf_io_write_to(cnnf_output *out, const cnnf_rows *rows, cnnf_format format,
                     const cnnf_write_opts *o)
{
	const char *name = cnnf_output_name(out);
	cnnf_write_opts defaults;
	if (!o) {
		cnnf_io_write_opts_init(&defaults);
		o = &defaults;
	}
	flat_rows flat;
	cnnf_rows flattened;
	if (flatten_rows(&rows, name, o, &flat, &flattened) < 0)
		return -1;
	named_rows named = {rows, name};
	cnnf_rows wrapped = *rows;
	wrapped.row = named_row;
	wrapped.ctx = &named;
	errno = 0;
	int status = write_stream(&wrapped, cnnf_output_stream(out), name, format, o);
	free(flat.row);
	return status;
}

int cnnf_io_write_rows(const cnnf_rows *rows, const char *path, const cnnf_write_opts *o)
{
	cnnf_write_opts defaults;
	if (!o) {
		cnnf_io_write_opts_init(&defaults);
		o = &defaults;
	}
	cnnf_format format = cnnf_io_format_for(path, o);
	if (format == CNNF_FORMAT_NONE) {
		cnnf_error("%s: unknown output format (use --format)", path);
		return -1;
	}
	cnnf_output *out;
	if (cnnf_output_open(path, &out) < 0)
		return -1;
	if (cnnf_io_write_to(out, rows, format, o) < 0) {
		cnnf_output_discard(out);
		return -1;
	}
	return cnnf_output_publish(&out, 1);
}

int cnnf_io_write(const cnnf_image *img, const char *path, const cnnf_write_opts *o)
{
	cnnf_rows src;
	cnnf_image_to_rows(img, &src);
	return cnnf_io_write_rows(&src, path, o);
}

int cnnf_io_write_file(const char *path, cnnf_io_writer fn, void *ctx)
{
	cnnf_output *out;
	if (cnnf_output_open(path, &out) < 0)
		return -1;
	errno = 0;
	if (fn(ctx, cnnf_output_stream(out), cnnf_output_name(out)) < 0) {
		cnnf_output_discard(out);
		return -1;
	}
	return cnnf_output_publish(&out, 1);
}

struct cnnf_io_pages {
	cnnf_tiff_writer *tiff;
	const char *name;
	cnnf_write_opts o;
};

int cnnf_io_pages_open(cnnf_output *out, cnnf_format format, const cnnf_write_opts *o,
                       cnnf_io_pages **pages)
{
	const char *name = cnnf_output_name(out);
	if (format != CNNF_FORMAT_TIFF) {
		cnnf_error("%s: %s holds one image, not several pages; write .tif", name,
		           cnnf_io_format_label(format));
		return -1;
	}
	cnnf_io_pages *p = calloc(1, sizeof *p);
	if (!p) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	cnnf_write_opts defaults;
	if (!o) {
		cnnf_io_write_opts_init(&defaults);
		o = &defaults;
	}
	p->name = name;
	p->o = *o;
	errno = 0;
	if (!(p->tiff = cnnf_tiff_writer_open(cnnf_output_stream(out), name, o))) {
		free(p);
		return -1;
	}
	*pages = p;
	return 0;
}

int cnnf_io_pages_add(cnnf_io_pages *p, const cnnf_rows *rows, const cnnf_meta *meta)
{
	flat_rows flat;
	cnnf_rows flattened;
	if (flatten_rows(&rows, p->name, &p->o, &flat, &flattened) < 0)
		return -1;
	named_rows named = {rows, p->name};
	cnnf_rows wrapped = *rows;
	wrapped.row = named_row;
	wrapped.ctx = &named;
	int status = cnnf_tiff_writer_add(p->tiff, &wrapped, meta);
	free(flat.row);
	return status;
}

int cnnf_io_pages_close(cnnf_io_pages *p)
{
	if (!p)
		return 0;
	int r = cnnf_tiff_writer_close(p->tiff);
	free(p);
	return r;
}

void cnnf_io_pages_discard(cnnf_io_pages *p)
{
	if (!p)
		return;
	cnnf_tiff_writer_discard(p->tiff);
	free(p);
}
