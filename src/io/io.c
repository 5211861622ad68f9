/* io.c: format sniffing and names, reading files or stdin; io_write.c writes. */
#include "io/io.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

/*
 * Largest input slurped from stdin or a pipe: the whole stream is held in
 * memory, so a runaway producer must not take all of it. 4 GiB holds any
 * image under the default pixel limit in every format cnnf reads.
 */
#define SLURP_MAX ((size_t)(SIZE_MAX / 2 < (1ULL << 32) ? SIZE_MAX / 2 : (1ULL << 32)))

/* Bytes read to sniff the format: the PNG signature is the longest magic. */
#define MAGIC_LEN 8

void cnnf_io_write_opts_init(cnnf_write_opts *o)
{
	*o = (cnnf_write_opts){.format = CNNF_FORMAT_NONE, .quality = 90};
}

/*
 * Every format name, as --format takes it and as an extension takes it
 * (".name"): one table, so that the two cannot disagree.
 */
static const struct format_name {
	const char *name;
	cnnf_format format;
} format_names[] = {
    {"png", CNNF_FORMAT_PNG},  {"jpg", CNNF_FORMAT_JPEG}, {"jpeg", CNNF_FORMAT_JPEG},
    {"pnm", CNNF_FORMAT_PNM},  {"pgm", CNNF_FORMAT_PGM},  {"ppm", CNNF_FORMAT_PPM},
    {"pbm", CNNF_FORMAT_PBM},  {"pam", CNNF_FORMAT_PAM},  {"tif", CNNF_FORMAT_TIFF},
    {"tiff", CNNF_FORMAT_TIFF}, {"npy", CNNF_FORMAT_NPY},
};
#define NFORMAT_NAMES (sizeof format_names / sizeof format_names[0])

/* What each format is called in messages, by cnnf_format. */
static const char *const format_labels[] = {
    [CNNF_FORMAT_NONE] = "no format", [CNNF_FORMAT_PNG] = "PNG",   [CNNF_FORMAT_JPEG] = "JPEG",
    [CNNF_FORMAT_PNM] = "PNM",        [CNNF_FORMAT_NPY] = "NPY",   [CNNF_FORMAT_PGM] = "PGM",
    [CNNF_FORMAT_PPM] = "PPM",        [CNNF_FORMAT_PBM] = "PBM",   [CNNF_FORMAT_PAM] = "PAM",
    [CNNF_FORMAT_TIFF] = "TIFF",
};

const char *cnnf_io_format_label(cnnf_format f)
{
	if ((size_t)f >= sizeof format_labels / sizeof format_labels[0] || !format_labels[f])
		return "an unknown format";
	return format_labels[f];
}

const char *cnnf_io_format_names(void)
{
	static char names[128];
	if (!names[0]) {
		size_t n = 0;
		for (size_t i = 0; i < NFORMAT_NAMES; i++)
			n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
			                      format_names[i].name);
	}
	return names;
}

const char *cnnf_io_format_ext(cnnf_format f)
{
	/* The table's first name of a format is its usual extension (jpg before jpeg). */
	for (size_t i = 0; i < NFORMAT_NAMES; i++)
		if (format_names[i].format == f)
			return format_names[i].name;
	return NULL;
}

cnnf_format cnnf_io_format_from_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	if (!dot)
		return CNNF_FORMAT_NONE;
	for (size_t i = 0; i < NFORMAT_NAMES; i++)
		if (strcasecmp(dot + 1, format_names[i].name) == 0)
			return format_names[i].format;
	return CNNF_FORMAT_NONE;
}

int cnnf_io_format_parse(const char *s, cnnf_format *out)
{
	for (size_t i = 0; i < NFORMAT_NAMES; i++) {
		if (strcasecmp(s, format_names[i].name) == 0) {
			*out = format_names[i].format;
			return 0;
		}
	}
	cnnf_error("unknown format '%s' (use %s)", s, cnnf_io_format_names());
	return -1;
}

int cnnf_io_format_holds(cnnf_format f, int channels, int alpha)
{
	int with_alpha = alpha && (channels == 2 || channels == 4);
	switch (f) {
	case CNNF_FORMAT_NPY:
	case CNNF_FORMAT_PAM:
	case CNNF_FORMAT_TIFF:
		return channels >= 1;
	case CNNF_FORMAT_PNG:
		return channels == 1 || channels == 3 || with_alpha;
	default:
		return channels == 1 || channels == 3;
	}
}

cnnf_format cnnf_io_format_sniff(const unsigned char *buf, size_t len)
{
	if (len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0)
		return CNNF_FORMAT_PNG;
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		return CNNF_FORMAT_JPEG;
	if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
		return CNNF_FORMAT_NPY;
	/* Classic TIFF (42) and BigTIFF (43), either byte order. */
	if (len >= 4 && ((buf[0] == 'I' && buf[1] == 'I' && (buf[2] == 42 || buf[2] == 43) &&
	                  buf[3] == 0) ||
	                 (buf[0] == 'M' && buf[1] == 'M' && buf[2] == 0 &&
	                  (buf[3] == 42 || buf[3] == 43))))
		return CNNF_FORMAT_TIFF;
	/*
	 * Every Netpbm type (P1..P7) counts as PNM, so that the reader can say
	 * which ones it does not take; the magic is followed by whitespace or a
	 * comment, unless the file ends there (then the reader calls it truncated).
	 */
	if (len >= 2 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '7' &&
	    (len == 2 || (buf[2] != '\0' && strchr(" \t\n\v\f\r#", buf[2]) != NULL)))
		return CNNF_FORMAT_PNM;
	return CNNF_FORMAT_NONE;
}

long long cnnf_io_remaining(FILE *fp)
{
	off_t here = ftello(fp);
	if (here < 0 || fseeko(fp, 0, SEEK_END) < 0)
		return -1;
	off_t end = ftello(fp);
	if (fseeko(fp, here, SEEK_SET) < 0 || end < here)
		return -1;
	return (long long)(end - here);
}

/*
 * The whole of fp in a malloc'ed buffer (*out, *len), for streams that cannot
 * be rewound after sniffing. Returns 0 or -1.
 */
static int slurp(FILE *fp, const char *name, unsigned char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	if (!buf)
		goto nomem;
	for (;;) {
		size_t before = n;
		n += fread(buf + n, 1, cap - n, fp);
		/*
		 * The format is known from the first bytes: a stream that is no
		 * image (/dev/zero) is refused from them, not after gigabytes.
		 */
		if (before == 0 && n > 0 && cnnf_io_format_sniff(buf, n) == CNNF_FORMAT_NONE)
			break;
		if (n < cap)
			break;
		if (cap >= SLURP_MAX && getc(fp) != EOF) {
			cnnf_error("%s: input is larger than %zu MiB", name,
			           (size_t)SLURP_MAX >> 20);
			free(buf);
			return -1;
		}
		if (cap >= SLURP_MAX)
			break;
		size_t grown = cap > SLURP_MAX / 2 ? SLURP_MAX : cap * 2;
		unsigned char *p = realloc(buf, grown);
		if (!p)
			goto nomem;
		buf = p;
		cap = grown;
	}
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", name, strerror(errno));
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
nomem:
	free(buf);
	cnnf_error("%s: out of memory reading the input", name);
	return -1;
}

/* The reader of each format that reads from a stream (TIFF reads through cnnf_tiff). */
static const struct {
	cnnf_format format;
	cnnf_image *(*read)(FILE *fp, const char *name, unsigned long long max_pixels);
} readers[] = {
    {CNNF_FORMAT_PNG, cnnf_png_read}, {CNNF_FORMAT_JPEG, cnnf_jpeg_read},
    {CNNF_FORMAT_PNM, cnnf_pnm_read}, {CNNF_FORMAT_NPY, cnnf_npy_read},
    {CNNF_FORMAT_TIFF, cnnf_tiff_read},
};

struct cnnf_input {
	char *name;                     /* for messages: the path, or "stdin" */
	FILE *fp;                       /* the file, or a memory stream over buf; seekable */
	unsigned char *buf;             /* a stream that cannot seek, read whole */
	cnnf_format format;             /* as sniffed: PNM for every Netpbm kind */
	cnnf_format stored;             /* the Netpbm kind told apart */
	cnnf_tiff *tiff;                /* TIFF: the open file, read page by page */
	int pages;                      /* >= 1 */
	unsigned long long max_pixels;  /* the pixel limit the pages are read under */
	char warning[512];              /* cnnf_input_warning()'s line for PNG, JPEG; "" for none */
	int autorotate;                 /* JPEG: turn pages upright by their EXIF Orientation */
	int orientation;                /* the last page's EXIF (or TIFF) Orientation, 0: none */
	cnnf_meta meta;                 /* the last page's metadata, as its pixels are */
	/* cnnf_input_read_async(): the decoder thread and what it has handed over */
	int running;                    /* a thread was started and not joined */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cnnf_progress prog;             /* the reader's; publish() below */
	cnnf_image *async_img;          /* the image handed over, NULL before */
	int async_rows;                 /* rows of it final */
	int async_done, async_failed;   /* the reader returned; with NULL */
	char async_err[CNNF_ERROR_MAX]; /* its message then */
	cnnf_warn async_warn;
};

void cnnf_input_close(cnnf_input *in)
{
	if (!in)
		return;
	/* The thread writes into an image the caller still has: it ends first. */
	(void)cnnf_input_finish(in);
	cnnf_tiff_close(in->tiff);
	cnnf_meta_clear(&in->meta);
	if (in->fp)
		fclose(in->fp);
	free(in->buf);
	free(in->name);
	free(in);
}

/* The Netpbm kind the magic names (the sniffer said PNM). */
static cnnf_format netpbm_kind(const unsigned char *magic)
{
	switch (magic[1]) {
	case '1':
	case '4':
		return CNNF_FORMAT_PBM;
	case '2':
	case '5':
		return CNNF_FORMAT_PGM;
	case '3':
	case '6':
		return CNNF_FORMAT_PPM;
	default:
		return CNNF_FORMAT_PAM;
	}
}

/*
 * in->fp open on the input: sniff it from magic (n bytes, the start of the
 * file), then open what tells the pages. Returns 0 or -1.
 */
static int open_stream(cnnf_input *in, const unsigned char *magic, size_t n)
{
	if (n == 0) {
		cnnf_error("%s: empty file", in->name);
		return -1;
	}
	in->format = in->stored = cnnf_io_format_sniff(magic, n);
	if (in->format == CNNF_FORMAT_NONE) {
		cnnf_error("%s: not a PNG, JPEG, PNM, TIFF or NPY image", in->name);
		return -1;
	}
	if (in->format == CNNF_FORMAT_PNM)
		in->stored = netpbm_kind(magic);
	if (fseeko(in->fp, 0, SEEK_SET) < 0) {
		cnnf_error("%s: cannot rewind: %s", in->name, strerror(errno));
		return -1;
	}
	in->pages = 1;
	if (in->format == CNNF_FORMAT_TIFF) {
		if (!(in->tiff = cnnf_tiff_open(in->fp, in->name, in->max_pixels)))
			return -1;
		in->pages = cnnf_tiff_pages(in->tiff);
	}
	return 0;
}

/* A stream that cannot seek (stdin, a pipe) read into memory: in->fp reads it from there. */
static int open_slurped(cnnf_input *in, FILE *src)
{
	size_t len;
	if (slurp(src, in->name, &in->buf, &len) < 0)
		return -1;
	if (len == 0) {
		cnnf_error("%s: empty file", in->name);
		return -1;
	}
	if (!(in->fp = fmemopen(in->buf, len, "rb"))) {
		cnnf_error("%s: %s", in->name, strerror(errno));
		return -1;
	}
	return open_stream(in, in->buf, len < MAGIC_LEN ? len : MAGIC_LEN);
}

static int open_file(cnnf_input *in, const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) < 0) {
		cnnf_error("%s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		cnnf_error("%s: is a directory", path);
		fclose(fp);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		int r = open_slurped(in, fp);
		fclose(fp);
		return r;
	}
	in->fp = fp;
	unsigned char magic[MAGIC_LEN];
	size_t n = fread(magic, 1, sizeof magic, fp);
	if (ferror(fp)) {
		cnnf_error("%s: read error: %s", path, strerror(errno));
		return -1;
	}
	return open_stream(in, magic, n);
}

cnnf_input *cnnf_io_open(const char *path, unsigned long long max_pixels)
{
	int is_stdin = strcmp(path, "-") == 0;
	cnnf_input *in = calloc(1, sizeof *in);
	if (!in || !(in->name = strdup(is_stdin ? "stdin" : path))) {
		free(in);
		cnnf_error("%s: out of memory", is_stdin ? "stdin" : path);
		return NULL;
	}
	in->max_pixels = max_pixels;
	in->autorotate = 1;
	if ((is_stdin ? open_slurped(in, stdin) : open_file(in, path)) < 0) {
		cnnf_input_close(in);
		return NULL;
	}
	return in;
}

int cnnf_input_pages(const cnnf_input *in)
{
	return in->pages;
}

cnnf_format cnnf_input_format(const cnnf_input *in)
{
	return in->stored;
}

const char *cnnf_input_name(const cnnf_input *in)
{
	return in->name;
}

void cnnf_input_set_autorotate(cnnf_input *in, int on)
{
	in->autorotate = on;
}

int cnnf_input_orientation(const cnnf_input *in)
{
	return in->orientation;
}

const cnnf_meta *cnnf_input_meta(const cnnf_input *in)
{
	return &in->meta;
}

/*
 * A TIFF page with an Orientation tag other than 1 turned upright, as vips
 * autorot does (JPEG's reader turns its own pages). NULL when that fails.
 */
static cnnf_image *tiff_upright(cnnf_input *in, cnnf_image *img)
{
	in->orientation = in->meta.orientation;
	if (!img || !in->autorotate || in->meta.orientation <= 1)
		return img;
	cnnf_image *up = cnnf_exif_upright(img, in->meta.orientation, in->name);
	cnnf_image_free(img);
	if (up)
		cnnf_exif_meta_upright(&in->meta, in->orientation);
	return up;
}

/* in->warning from what the decoder said of a page it read (img not NULL). */
static void keep_warning(cnnf_input *in, const cnnf_image *img, const cnnf_warn *w)
{
	in->warning[0] = 0;
	if (img && w->count > 1)
		snprintf(in->warning, sizeof in->warning, "%s: warning: %s (and %d more)", in->name,
		         w->first, w->count - 1);
	else if (img && w->count)
		snprintf(in->warning, sizeof in->warning, "%s: warning: %s", in->name, w->first);
}

const char *cnnf_input_warning(const cnnf_input *in)
{
	if (in->tiff)
		return cnnf_tiff_warning(in->tiff);
	return in->warning[0] ? in->warning : NULL;
}

/* A PNG or JPEG page with its warnings and metadata, rows handed over through prog (may be NULL). */
static cnnf_image *read_decoded(cnnf_input *in, cnnf_warn *w, cnnf_progress *prog)
{
	if (in->format == CNNF_FORMAT_PNG)
		return cnnf_png_read_progress(in->fp, in->name, in->max_pixels, w, &in->meta, prog);
	return cnnf_jpeg_read_progress(in->fp, in->name, in->max_pixels, in->autorotate,
	                               &in->orientation, w, &in->meta, prog);
}

cnnf_image *cnnf_input_read(cnnf_input *in, int page)
{
	/* A decoder still at work shares the stream: it ends first. */
	(void)cnnf_input_finish(in);
	if (page < 0 || page >= in->pages) {
		cnnf_error("%s: there is no page %d: the file has %d (counted from 0)", in->name,
		           page, in->pages);
		return NULL;
	}
	cnnf_meta_clear(&in->meta);
	in->orientation = 0;
	if (in->tiff)
		return tiff_upright(in, cnnf_tiff_read_page(in->tiff, page, &in->meta));
	/* A page may be read again: each read starts from the top. */
	if (fseeko(in->fp, 0, SEEK_SET) < 0) {
		cnnf_error("%s: cannot rewind: %s", in->name, strerror(errno));
		return NULL;
	}
	if (in->format == CNNF_FORMAT_PNG || in->format == CNNF_FORMAT_JPEG) {
		cnnf_warn w = {.count = 0};
		cnnf_image *img = read_decoded(in, &w, NULL);
		keep_warning(in, img, &w);
		return img;
	}
	for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++)
		if (readers[i].format == in->format)
			return readers[i].read(in->fp, in->name, in->max_pixels);
	cnnf_error("%s: not a PNG, JPEG, PNM, TIFF or NPY image", in->name);
	return NULL;
}

/* cnnf_progress.publish: rows rows of img are final. */
static void publish(void *ctx, cnnf_image *img, int rows)
{
	cnnf_input *in = ctx;
	pthread_mutex_lock(&in->mu);
	in->async_img = img;
	in->async_rows = rows;
	in->prog.published = 1;
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

/* The decoder thread: the whole read, handing rows over as they come. */
static void *decode(void *arg)
{
	cnnf_input *in = arg;
	cnnf_image *img = read_decoded(in, &in->async_warn, &in->prog);
	pthread_mutex_lock(&in->mu);
	in->async_done = 1;
	if (!img) {
		in->async_failed = 1;
		snprintf(in->async_err, sizeof in->async_err, "%s", cnnf_error_get());
	}
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

cnnf_image *cnnf_input_read_async(cnnf_input *in)
{
	if ((in->format != CNNF_FORMAT_PNG && in->format != CNNF_FORMAT_JPEG) || in->running)
		return cnnf_input_read(in, 0);
	cnnf_meta_clear(&in->meta);
	in->orientation = 0;
	in->warning[0] = 0;
	if (fseeko(in->fp, 0, SEEK_SET) < 0) {
		cnnf_error("%s: cannot rewind: %s", in->name, strerror(errno));
		return NULL;
	}
	in->prog = (cnnf_progress){publish, in, 0};
	in->async_img = NULL;
	in->async_rows = in->async_done = in->async_failed = 0;
	in->async_warn = (cnnf_warn){.count = 0};
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
	if (pthread_create(&in->thread, NULL, decode, in) != 0) {
		pthread_mutex_destroy(&in->mu);
		pthread_cond_destroy(&in->cv);
		return cnnf_input_read(in, 0);
	}
	in->running = 1;
	pthread_mutex_lock(&in->mu);
	while (!in->async_img && !in->async_done)
		pthread_cond_wait(&in->cv, &in->mu);
	cnnf_image *img = in->async_img;
	pthread_mutex_unlock(&in->mu);
	if (!img) {
		cnnf_input_finish(in);
		return NULL;
	}
	return img;
}

int cnnf_input_wait(cnnf_input *in, int rows)
{
	if (!in->running)
		return 0;
	pthread_mutex_lock(&in->mu);
	while (in->async_rows < rows && !in->async_done)
		pthread_cond_wait(&in->cv, &in->mu);
	int failed = in->async_failed;
	pthread_mutex_unlock(&in->mu);
	if (failed) {
		cnnf_error("%s", in->async_err);
		return -1;
	}
	return 0;
}

int cnnf_input_finish(cnnf_input *in)
{
	if (!in->running)
		return 0;
	pthread_join(in->thread, NULL);
	in->running = 0;
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
	keep_warning(in, in->async_failed ? NULL : in->async_img, &in->async_warn);
	if (in->async_failed) {
		cnnf_error("%s", in->async_err);
		return -1;
	}
	return 0;
}

cnnf_image *cnnf_io_read(const char *path, unsigned long long max_pixels)
{
	cnnf_input *in = cnnf_io_open(path, max_pixels);
	cnnf_image *img = in ? cnnf_input_read(in, 0) : NULL;
	cnnf_input_close(in);
	return img;
}

int cnnf_io_little_endian(void)
{
	const uint16_t one = 1;
	unsigned char first;
	memcpy(&first, &one, 1);
	return first == 1;
}
