/* io_png_hooks.c: the libpng error, warning and read callbacks of cnnf's PNG readers. */
#include "io/io_png_hooks.h"

#include <errno.h>
#include <sys/types.h>
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

int cnnf_png_check_chunks(FILE *fp, const char *name, int *after_idat)
{
	long long left = cnnf_io_remaining(fp);
	off_t start = ftello(fp);
	unsigned char h[8];
	int dummy, seen_idat = 0;
	after_idat = after_idat ? after_idat : &dummy;
	*after_idat = 1;
	if (left < 8 || start < 0 || fread(h, 1, 8, fp) != 8)
		return fseeko(fp, start, SEEK_SET), 0; /* libpng says what is wrong */
	left -= 8;
	*after_idat = 0;
	int status = 0;
	while (left >= 8 && fread(h, 1, 8, fp) == 8) {
		int idat = memcmp(h + 4, "IDAT", 4) == 0;
		if (seen_idat && !idat && memcmp(h + 4, "IEND", 4) != 0)
			*after_idat = 1;
		seen_idat |= idat;
		left -= 8;
		unsigned long long len = (unsigned long long)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
		if (len + 4 > (unsigned long long)left) {
			int letters = 1;
			for (int i = 4; i < 8; i++)
				letters &= (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= 'a' && h[i] <= 'z');
			cnnf_error("%s: truncated file: %s%.*s chunk declares %llu bytes, %lld are left",
			           name, letters ? "its " : "a", letters ? 4 : 0, (const char *)h + 4, len,
			           left);
			status = -1;
			break;
		}
		if (memcmp(h + 4, "IEND", 4) == 0 || fseeko(fp, (off_t)len + 4, SEEK_CUR) < 0)
			break;
		left -= (long long)len + 4;
	}
	if (fseeko(fp, start, SEEK_SET) < 0 && status == 0) {
		cnnf_error("%s: cannot rewind: %s", name, strerror(errno));
		status = -1;
	}
	return status;
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
