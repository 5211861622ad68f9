/* io_version.c: the versions of the codec libraries cnnf reads and writes images with. */
#include <stdio.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "io/io.h"

#define STR_(x) #x
#define STR(x) STR_(x)

const char *cnnf_io_versions(char *buf, size_t len)
{
	/* libpng and libtiff say what is loaded; zlib and libjpeg-turbo what cnnf was built with. */
	snprintf(buf, len, "libpng %s, zlib %s, libjpeg-turbo %s, libtiff %s",
		 png_get_libpng_ver(NULL), ZLIB_VERSION,
#ifdef LIBJPEG_TURBO_VERSION
		 STR(LIBJPEG_TURBO_VERSION)
#else
		 "(libjpeg " STR(JPEG_LIB_VERSION) ")"
#endif
		 , cnnf_tiff_version());
	return buf;
}
