/* io_png_hooks.c: the libpng error, warning and read callbacks of cnnf's PNG readers. */
#include "io/io_png_hooks.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "image/meta.h"
#include "io/io.h"

void cnnf_png_on_error(png_structp png, png_const_charp msg)
{
	cnnf_png_io *io = png_get_error_ptr(png);
	if (!io->told)
		cnnf_error("%s: %s", io->name, msg);
	png_longjmp(png, 1);
}

void cnnf_png_on_warning(png_structp png, png_const_charp msg)
{
	cnnf_png_io *io = png_get_error_ptr(png);
	cnnf_warn *w = io->warn;
	if (!w)
		return;
	if (!w->count++)
		snprintf(w->first, sizeof w->first, "%s", msg);
}

void cnnf_png_read_limits(png_structp png)
{
	png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
	png_set_chunk_malloc_max(png, CNNF_META_MAX_BLOCK);
	/*
	 * libpng 1.6.39's own eXIf handler allocates the length a chunk declares
	 * after only warning that it is over the limit (a 2 KB file asked for
	 * 1.8 GB): read as an unknown chunk, eXIf is held to the limit.
	 */
	static const png_byte exif[5] = "eXIf";
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_ALWAYS, exif, 1);
}

_Noreturn void cnnf_png_fail(png_structp png)
{
	cnnf_png_io *io = png_get_error_ptr(png);
	io->told = 1;
	png_error(png, "failed");
}

void cnnf_png_read_data(png_structp png, png_bytep data, size_t len)
{
	cnnf_png_io *io = png_get_io_ptr(png);
	if (fread(data, 1, len, io->fp) == len)
		return;
	if (ferror(io->fp))
		cnnf_error("%s: read error: %s", io->name, strerror(errno));
	else
		cnnf_error("%s: truncated file", io->name);
	cnnf_png_fail(png);
}
