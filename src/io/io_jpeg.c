/* io_jpeg.c: JPEG reading and writing with libjpeg(-turbo); corrupt data is an error. */
#include "io/io.h"

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "base/error.h"

/* libjpeg's error manager, extended with where to jump and the file to name. */
struct jpeg_fail {
	struct jpeg_error_mgr pub; /* first: cinfo->err points here */
	jmp_buf jump;
	const char *name;
	cnnf_warn *soft; /* non-NULL while warnings are only noted (reading the ICC profile) */
};

/* Called by libjpeg for fatal errors, and by on_message() for warnings: never returns. */
static void on_error(j_common_ptr cinfo)
{
	struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
	int code = fail->pub.msg_code;
	if (code == JWRN_JPEG_EOF || code == JERR_INPUT_EOF || code == JERR_INPUT_EMPTY) {
		cnnf_error("%s: truncated file", fail->name);
	} else {
		char msg[JMSG_LENGTH_MAX];
		fail->pub.format_message(cinfo, msg);
		cnnf_error("%s: %s", fail->name, msg);
	}
	longjmp(fail->jump, 1);
}

/*
 * Level -1 is a warning: premature end of data, corrupt entropy data. libjpeg
 * would carry on and hand back an image with gray or garbled blocks, so a
 * warning fails the read. Levels 0 and up are trace messages.
 */
static void on_message(j_common_ptr cinfo, int level)
{
	struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
	if (level < 0 && fail->soft) {
		/* A bogus ICC profile is the metadata's loss, not the image's. */
		if (!fail->soft->count++) {
			char msg[JMSG_LENGTH_MAX];
			fail->pub.format_message(cinfo, msg);
			snprintf(fail->soft->first, sizeof fail->soft->first, "%.180s; left out", msg);
		}
		return;
	}
	if (level < 0)
		on_error(cinfo);
}

/* Library code never prints; nothing reaches here, but libjpeg's default would print to stderr. */
static void no_output(j_common_ptr cinfo)
{
	(void)cinfo;
}

/*
 * A progressive JPEG may have any number of scans, and each one revisits the
 * whole image: a few kilobytes of tiny scans keep the decoder busy for minutes.
 * Real encoders write about ten; libjpeg-turbo's own tools stop at 500.
 */
#define MAX_SCANS 500

/* Called by the decoder as it reads the input: stops a file with too many scans. */
static void on_progress(j_common_ptr cinfo)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	if (d->input_scan_number > MAX_SCANS) {
		struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
		cnnf_error("%s: JPEG has more than %d scans", fail->name, MAX_SCANS);
		longjmp(fail->jump, 1);
	}
}

static void fail_init(struct jpeg_fail *fail, const char *name)
{
	jpeg_std_error(&fail->pub);
	fail->pub.error_exit = on_error;
	fail->pub.emit_message = on_message;
	fail->pub.output_message = no_output;
	fail->name = name;
	fail->soft = NULL;
}

/*
 * The orientation of the first EXIF block among the markers libjpeg saved:
 * 0 without one; a malformed block counts as 1 and is noted in w.
 */
static int marker_orientation(j_decompress_ptr cinfo, cnnf_warn *w)
{
	for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
		if (m->marker != JPEG_APP0 + 1 || !cnnf_exif_is_exif(m->data, m->data_length))
			continue; /* XMP is an APP1 block too */
		const char *why;
		int v = cnnf_exif_orientation(m->data, m->data_length, &why);
		if (why && w) {
			if (!w->count++)
				snprintf(w->first, sizeof w->first,
				         "EXIF: %s; orientation 1 is taken", why);
		}
		return v;
	}
	return 0;
}

cnnf_image *cnnf_jpeg_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	return cnnf_jpeg_read_exif(fp, name, max_pixels, 1, NULL, NULL, NULL);
}

/* XMP's APP1 signature (XMP specification, part 3); EXIF's is "Exif\0\0". */
static const char xmp_id[] = "http://ns.adobe.com/xap/1.0/";
#define XMP_ID_LEN (sizeof xmp_id) /* with its NUL */
#define EXIF_ID_LEN 6
/* A marker segment holds at most 65533 bytes after its length. */
#define MAX_SEGMENT 65533
#define METRES_PER_INCH 0.0254

static void note(cnnf_warn *w, const char *what)
{
	if (w && !w->count++)
		snprintf(w->first, sizeof w->first, "%s", what);
}

/* The saved markers, the ICC profile and the JFIF density into m. */
static void read_meta(j_decompress_ptr cinfo, cnnf_meta *m, cnnf_warn *w)
{
	for (jpeg_saved_marker_ptr s = cinfo->marker_list; s; s = s->next) {
		if (s->marker == JPEG_APP0 + 1 && cnnf_exif_is_exif(s->data, s->data_length)) {
			if (!m->exif && s->data_length > EXIF_ID_LEN &&
			    cnnf_meta_set_exif(m, s->data + EXIF_ID_LEN, s->data_length - EXIF_ID_LEN) < 0)
				note(w, "EXIF: out of memory; left out of the outputs");
		} else if (s->marker == JPEG_APP0 + 1 && s->data_length > XMP_ID_LEN &&
		           memcmp(s->data, xmp_id, XMP_ID_LEN) == 0) {
			if (!m->xmp && cnnf_meta_set_xmp(m, s->data + XMP_ID_LEN,
			                                 s->data_length - XMP_ID_LEN) < 0)
				note(w, "XMP: out of memory; left out of the outputs");
		} else if (s->marker == JPEG_COM && s->data_length > 0) {
			if (cnnf_meta_add_text(m, "Comment", (const char *)s->data, s->data_length, 0,
			                       0) < 0)
				note(w, "COM: too many comments; the rest are left out of the outputs");
		}
	}
	JOCTET *icc = NULL;
	unsigned int len = 0;
	/* libjpeg-turbo joins the APP2 pieces in their order, warning of bad numbers. */
	struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
	cnnf_warn quiet = {.count = 0};
	fail->soft = w ? w : &quiet;
	if (jpeg_read_icc_profile(cinfo, &icc, &len) && cnnf_meta_set_icc(m, NULL, icc, len) < 0)
		note(w, "ICC profile: too large to keep; left out of the outputs");
	fail->soft = NULL;
	free(icc);
	/* Density 1:1 of unit 0 is JFIF's way of saying nothing. */
	if (cinfo->saw_JFIF_marker && cinfo->X_density > 0 && cinfo->Y_density > 0 &&
	    (cinfo->density_unit != 0 || cinfo->X_density != cinfo->Y_density)) {
		double per_metre = cinfo->density_unit == 1   ? 1 / METRES_PER_INCH
		                   : cinfo->density_unit == 2 ? 100
		                                              : 1;
		m->res_unit = cinfo->density_unit == 1 || cinfo->density_unit == 2 ? CNNF_RES_METRE
		                                                                    : CNNF_RES_ASPECT;
		m->res_x = cinfo->X_density * per_metre;
		m->res_y = cinfo->Y_density * per_metre;
	}
}

cnnf_image *cnnf_jpeg_read_exif(FILE *fp, const char *name, unsigned long long max_pixels,
                                int autorotate, int *orientation, cnnf_warn *w,
                                cnnf_meta *meta)
{
	return cnnf_jpeg_read_progress(fp, name, max_pixels, autorotate, orientation, w, meta, NULL);
}

/* Rows handed over in groups of this many (a lock and a wake-up each). */
#define PUBLISH_ROWS 32

cnnf_image *cnnf_jpeg_read_progress(FILE *fp, const char *name, unsigned long long max_pixels,
                                    int autorotate, int *orientation, cnnf_warn *w,
                                    cnnf_meta *meta, cnnf_progress *prog)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_fail fail;
	struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
	cnnf_image *volatile img = NULL;
	fail_init(&fail, name);
	cinfo.err = &fail.pub;
	if (setjmp(fail.jump)) {
		jpeg_destroy_decompress(&cinfo);
		/* A published image is the caller's; the failure is what it learns. */
		if (!prog || !prog->published) {
			cnnf_image_free(img);
			cnnf_meta_clear(meta);
		}
		return NULL;
	}
	jpeg_create_decompress(&cinfo);
	cinfo.progress = &progress;
	jpeg_stdio_src(&cinfo, fp);
	/* Segments are at most 65533 bytes; libjpeg keeps each one whole. */
	jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
	if (meta) {
		jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xffff); /* ICC profile */
		jpeg_save_markers(&cinfo, JPEG_COM, 0xffff);
	}
	jpeg_read_header(&cinfo, TRUE);
	int orient = marker_orientation(&cinfo, w);
	if (meta) {
		cnnf_meta_clear(meta);
		read_meta(&cinfo, meta, w);
	}

	/* libjpeg's defaults already turn YCbCr into RGB; only the colour spaces are checked. */
	int channels;
	switch (cinfo.jpeg_color_space) {
	case JCS_GRAYSCALE:
		channels = 1;
		break;
	case JCS_YCbCr:
	case JCS_RGB:
		channels = 3;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		cnnf_error("%s: CMYK JPEG images are not supported", name);
		longjmp(fail.jump, 1);
	default:
		cnnf_error("%s: JPEG colour space with %d components is not supported", name,
		           cinfo.num_components);
		longjmp(fail.jump, 1);
	}
	/* Before jpeg_start_decompress(), which allocates the decoder's buffers. */
	if (cnnf_image_check(name, cinfo.image_width, cinfo.image_height, channels, CNNF_U8,
	                     max_pixels) < 0)
		longjmp(fail.jump, 1);

	jpeg_start_decompress(&cinfo);
	if (cinfo.output_components != channels || cinfo.output_width != cinfo.image_width ||
	    cinfo.output_height != cinfo.image_height) {
		cnnf_error("%s: unexpected JPEG output layout", name);
		longjmp(fail.jump, 1);
	}
	img = cnnf_image_new((int)cinfo.output_width, (int)cinfo.output_height, channels, CNNF_U8);
	if (!img) {
		cnnf_error("%s: out of memory for a %ux%u image", name, cinfo.output_width,
		           cinfo.output_height);
		longjmp(fail.jump, 1);
	}
	/* Turned upright after the last row: then the image is handed over only at the end. */
	int early = prog && !(autorotate && orient > 1);
	if (early) {
		if (orientation)
			*orientation = orient;
		prog->publish(prog->ctx, img, 0);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = cnnf_image_row(img, (int)cinfo.output_scanline);
		jpeg_read_scanlines(&cinfo, &row, 1);
		if (early && cinfo.output_scanline % PUBLISH_ROWS == 0)
			prog->publish(prog->ctx, img, (int)cinfo.output_scanline);
	}
	/* Reads up to EOI, so that damage after the last row is noticed too. */
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	if (autorotate && orient > 1) {
		/* The same pixels in another order: the pixel limit checked above still holds. */
		cnnf_image *up = cnnf_exif_upright(img, orient, name);
		cnnf_image_free(img);
		img = up;
		cnnf_exif_meta_upright(meta, orient);
	}
	if (img && orientation)
		*orientation = orient;
	if (!img)
		cnnf_meta_clear(meta);
	else if (prog)
		prog->publish(prog->ctx, img, img->height);
	return img;
}

/*
 * A destination that writes to a stream and says why a write failed;
 * libjpeg's stdio destination only says "out of disk space?".
 */
struct jpeg_sink {
	struct jpeg_destination_mgr pub; /* first: cinfo->dest points here */
	FILE *fp;
	JOCTET buf[16384];
};

static void sink_put(j_compress_ptr cinfo, size_t len)
{
	struct jpeg_sink *sink = (struct jpeg_sink *)cinfo->dest;
	if (fwrite(sink->buf, 1, len, sink->fp) != len) {
		struct jpeg_fail *fail = (struct jpeg_fail *)cinfo->err;
		cnnf_error("%s: write error: %s", fail->name, strerror(errno));
		longjmp(fail->jump, 1);
	}
	sink->pub.next_output_byte = sink->buf;
	sink->pub.free_in_buffer = sizeof sink->buf;
}

static void sink_init(j_compress_ptr cinfo)
{
	struct jpeg_sink *sink = (struct jpeg_sink *)cinfo->dest;
	sink->pub.next_output_byte = sink->buf;
	sink->pub.free_in_buffer = sizeof sink->buf;
}

static boolean sink_empty(j_compress_ptr cinfo)
{
	/* libjpeg asks only when the buffer is full, whatever free_in_buffer says. */
	sink_put(cinfo, sizeof((struct jpeg_sink *)cinfo->dest)->buf);
	return TRUE;
}

static void sink_term(j_compress_ptr cinfo)
{
	struct jpeg_sink *sink = (struct jpeg_sink *)cinfo->dest;
	sink_put(cinfo, sizeof sink->buf - sink->pub.free_in_buffer);
}

/*
 * Encode the rows of src (1 or 3 channels) as 8-bit samples, converting a row
 * at a time when they are not already 8-bit.
 */
/* The JFIF density for m's resolution at the image's size: dots per inch, or an aspect. */
static void set_density(j_compress_ptr cinfo, const cnnf_meta *m)
{
	double x, y;
	cnnf_res_unit unit = cnnf_meta_resolution(m, &x, &y);
	if (unit == CNNF_RES_METRE) {
		x *= METRES_PER_INCH, y *= METRES_PER_INCH;
	} else if (unit == CNNF_RES_ASPECT) {
		double s = 1000 / (x < y ? x : y);
		x *= s, y *= s;
	}
	if (unit == CNNF_RES_NONE || x < 0.5 || y < 0.5 || x >= 65535.5 || y >= 65535.5)
		return;
	cinfo->density_unit = unit == CNNF_RES_METRE ? 1 : 0;
	cinfo->X_density = (UINT16)(x + 0.5);
	cinfo->Y_density = (UINT16)(y + 0.5);
}

/* One marker of an identifier and a block, when they fit in a segment; else noted in w. */
static void write_block(j_compress_ptr cinfo, int marker, const char *id, size_t id_len,
                        const void *p, size_t len, cnnf_warn *w, const char *what)
{
	if (len > MAX_SEGMENT - id_len) {
		char msg[120];
		snprintf(msg, sizeof msg, "%s of %zu bytes does not fit in a JPEG segment; left out",
		         what, len);
		note(w, msg);
		return;
	}
	jpeg_write_m_header(cinfo, marker, (unsigned)(id_len + len));
	for (size_t i = 0; i < id_len; i++)
		jpeg_write_m_byte(cinfo, (unsigned char)id[i]);
	for (size_t i = 0; i < len; i++)
		jpeg_write_m_byte(cinfo, ((const unsigned char *)p)[i]);
}

/* m's blocks as markers after the JFIF header: EXIF, the ICC profile, XMP, comments. */
static void write_meta(j_compress_ptr cinfo, const cnnf_meta *m, int channels, cnnf_warn *w)
{
	if (m->exif)
		write_block(cinfo, JPEG_APP0 + 1, "Exif\0", EXIF_ID_LEN, m->exif, m->exif_len, w,
		            "EXIF");
	if (m->icc && cnnf_meta_icc_channels(m->icc, m->icc_len) == channels &&
	    m->icc_len <= 255u * 65519u)
		jpeg_write_icc_profile(cinfo, m->icc, (unsigned)m->icc_len);
	if (m->xmp)
		write_block(cinfo, JPEG_APP0 + 1, xmp_id, XMP_ID_LEN, m->xmp, m->xmp_len, w, "XMP");
	/* Only comments have a place in JPEG among PNG's texts. */
	for (int i = 0; i < m->text_count; i++)
		if (strcmp(m->text[i].key, "Comment") == 0)
			write_block(cinfo, JPEG_COM, "", 0, m->text[i].value, strlen(m->text[i].value), w,
			            "a comment");
}

static int encode(const cnnf_rows *src, FILE *fp, const char *name, int quality, int subsampling,
                  const cnnf_write_opts *o)
{
	const cnnf_image *info = &src->info;
	struct jpeg_compress_struct cinfo;
	struct jpeg_fail fail;
	struct jpeg_sink sink;
	size_t n = (size_t)info->width * info->channels;
	int convert = !(info->type == CNNF_U8 && info->maxval == 255);
	JSAMPLE *volatile buf = NULL;
	if (convert && !(buf = malloc(n))) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	fail_init(&fail, name);
	cinfo.err = &fail.pub;
	if (setjmp(fail.jump)) {
		jpeg_destroy_compress(&cinfo);
		free(buf);
		return -1;
	}
	jpeg_create_compress(&cinfo);
	sink.pub.init_destination = sink_init;
	sink.pub.empty_output_buffer = sink_empty;
	sink.pub.term_destination = sink_term;
	sink.fp = fp;
	cinfo.dest = &sink.pub;
	cinfo.image_width = (JDIMENSION)info->width;
	cinfo.image_height = (JDIMENSION)info->height;
	cinfo.input_components = info->channels;
	cinfo.in_color_space = info->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&cinfo);
	jpeg_set_quality(&cinfo, quality, TRUE);
	if (info->channels == 3) {
		/* Luma's sampling factors against chroma's 1x1 (jpeg_set_defaults() says 2x2). */
		cinfo.comp_info[0].h_samp_factor = subsampling == 444 ? 1 : 2;
		cinfo.comp_info[0].v_samp_factor = subsampling == 420 ? 2 : 1;
	}
	if (o->meta)
		set_density(&cinfo, o->meta);
	jpeg_start_compress(&cinfo, TRUE);
	if (o->meta)
		write_meta(&cinfo, o->meta, info->channels, o->warn);
	while (cinfo.next_scanline < cinfo.image_height) {
		const void *row = src->row(src->ctx, (int)cinfo.next_scanline);
		if (!row) /* the message is set */
			longjmp(fail.jump, 1);
		if (convert)
			cnnf_image_convert_samples(info, row, CNNF_U8, 255, buf, n);
		JSAMPROW r = convert ? buf : (JSAMPROW)row;
		jpeg_write_scanlines(&cinfo, &r, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	free(buf);
	return 0;
}

int cnnf_jpeg_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	const cnnf_image *img = &src->info;
	if (img->channels == 2 || img->channels == 4) {
		cnnf_error("%s: JPEG has no alpha channel (the image has %d channels); write .png "
		           "instead",
		           name, img->channels);
		return -1;
	}
	if (img->channels != 1 && img->channels != 3) {
		cnnf_error("%s: JPEG holds 1 or 3 channels, not %d; write .npy instead", name,
		           img->channels);
		return -1;
	}
	if (o->quality < 1 || o->quality > 100) {
		cnnf_error("%s: JPEG quality %d is not in 1..100", name, o->quality);
		return -1;
	}
	int sub = o->subsampling ? o->subsampling : o->quality >= 90 ? 444 : 420;
	if (sub != 444 && sub != 422 && sub != 420) {
		cnnf_error("%s: JPEG subsampling %d is not 444, 422 or 420", name, sub);
		return -1;
	}
	return encode(src, fp, name, o->quality, sub, o);
}
