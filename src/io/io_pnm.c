/* io_pnm.c: Netpbm images: reads P1..P7 (PBM, PGM, PPM, PAM; maxval 1..65535), writes P4, P5, P6, P7. */
#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string.h>

#include "base/error.h"

/* Numbers in a header or a plain raster stop growing here; anything this big is refused anyway. */
#define NUMBER_CAP 1000000000000ULL

static int is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* The message for a stream that ended early or failed. */
static void fail_eof(FILE *fp, const char *name)
{
	if (ferror(fp))
		cnnf_error("%s: read error: %s", name, strerror(errno));
	else
		cnnf_error("%s: truncated file", name);
}

/* The next character that is neither whitespace nor part of a '#' comment, or EOF. */
static int skip_space(FILE *fp)
{
	for (;;) {
		int ch = getc(fp);
		if (ch == '#') {
			while ((ch = getc(fp)) != EOF && ch != '\n' && ch != '\r')
				;
		}
		if (ch == EOF || !is_space(ch))
			return ch;
	}
}

/*
 * The next unsigned decimal number (what names it in messages). The one
 * character after it is consumed when it is whitespace, as the raster of a
 * binary file starts right after the single whitespace that ends maxval.
 * Returns 0 or -1.
 */
static int read_number(FILE *fp, const char *name, const char *what, unsigned long long *out)
{
	int ch = skip_space(fp);
	if (ch == EOF) {
		fail_eof(fp, name);
		return -1;
	}
	if (!is_digit(ch)) {
		if (ch >= 0x20 && ch < 0x7f)
			cnnf_error("%s: bad PNM %s: '%c' is not a digit", name, what, ch);
		else
			cnnf_error("%s: bad PNM %s: byte 0x%02x is not a digit", name, what, ch);
		return -1;
	}
	unsigned long long v = 0;
	for (; is_digit(ch); ch = getc(fp))
		if (v < NUMBER_CAP)
			v = v * 10 + (unsigned)(ch - '0');
	if (ch == '#')
		ungetc(ch, fp);
	else if (ch != EOF && !is_space(ch)) {
		cnnf_error("%s: bad PNM %s: unexpected character after %llu", name, what, v);
		return -1;
	}
	*out = v;
	return 0;
}

static int above_maxval(const char *name, unsigned long long v, unsigned maxval)
{
	if (v <= maxval)
		return 0;
	cnnf_error("%s: sample %llu is above maxval %u", name, v, maxval);
	return -1;
}

/* The raster of a plain (ASCII) file: one decimal number per sample. */
static int read_plain(FILE *fp, const char *name, cnnf_image *img, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned long long v;
		if (read_number(fp, name, "sample", &v) < 0 ||
		    above_maxval(name, v, img->maxval) < 0)
			return -1;
		if (img->type == CNNF_U8)
			((uint8_t *)img->data)[i] = (uint8_t)v;
		else
			((uint16_t *)img->data)[i] = (uint16_t)v;
	}
	return 0;
}

/* The raster of a binary file: bytes, or big-endian pairs when maxval is over 255. */
static int read_raw(FILE *fp, const char *name, cnnf_image *img, size_t n)
{
	if (fread(img->data, img->type, n, fp) != n) {
		fail_eof(fp, name);
		return -1;
	}
	if (img->type == CNNF_U8) {
		const uint8_t *d = img->data;
		if (img->maxval < 255)
			for (size_t i = 0; i < n; i++)
				if (above_maxval(name, d[i], img->maxval) < 0)
					return -1;
		return 0;
	}
	/* In place: sample i is read from, and stored to, bytes 2i and 2i+1. */
	const unsigned char *b = img->data;
	uint16_t *d = img->data;
	for (size_t i = 0; i < n; i++) {
		uint16_t v = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
		d[i] = v;
		if (above_maxval(name, v, img->maxval) < 0)
			return -1;
	}
	return 0;
}

/*
 * The raster of a PBM file (plain: P1, raw: P4) into img, which is on the
 * 0..255 scale as libpng expands a 1-bit PNG: a 1 bit is black (0), a 0 bit
 * white (255). Raw rows are padded to whole bytes, the first pixel in the
 * high bit. Plain samples are single digits, with or without space between.
 */
static int read_pbm(FILE *fp, const char *name, cnnf_image *img, int plain)
{
	uint8_t *d = img->data;
	size_t w = (size_t)img->width, rowbytes = (w + 7) / 8;
	unsigned char *row = plain ? NULL : malloc(rowbytes);
	if (!plain && !row) {
		cnnf_error("%s: out of memory", name);
		return -1;
	}
	for (int y = 0; y < img->height; y++, d += w) {
		if (!plain) {
			if (fread(row, 1, rowbytes, fp) != rowbytes) {
				fail_eof(fp, name);
				free(row);
				return -1;
			}
			for (size_t x = 0; x < w; x++)
				d[x] = (row[x / 8] >> (7 - x % 8) & 1) ? 0 : 255;
			continue;
		}
		for (size_t x = 0; x < w; x++) {
			int ch = skip_space(fp);
			if (ch == EOF) {
				fail_eof(fp, name);
				return -1;
			}
			if (ch != '0' && ch != '1') {
				if (ch >= 0x20 && ch < 0x7f)
					cnnf_error("%s: bad PBM sample '%c' (only 0 and 1)", name, ch);
				else
					cnnf_error("%s: bad PBM sample: byte 0x%02x (only 0 and 1)", name,
					           ch);
				return -1;
			}
			d[x] = ch == '1' ? 0 : 255;
		}
	}
	free(row);
	return 0;
}

/* A PAM header word (letters and '_'), at most len - 1 of them; 0 or -1 at the end of the file. */
static int read_word(FILE *fp, const char *name, char *word, size_t len)
{
	int ch = skip_space(fp);
	if (ch == EOF) {
		fail_eof(fp, name);
		return -1;
	}
	size_t n = 0;
	while (ch != EOF && !is_space(ch) && ch != '#') {
		if (n + 1 < len)
			word[n++] = (char)ch;
		ch = getc(fp);
	}
	word[n] = '\0';
	if (ch == '#')
		ungetc(ch, fp);
	else if (ch == '\n' || ch == '\r' || ch == EOF)
		return 1; /* the line ended with the word */
	return 0;
}

/* The PAM header fields: all but tupltype are required. */
typedef struct pam_header {
	unsigned long long width, height, depth, maxval;
	char tupltype[32];
} pam_header;

/*
 * The header of a PAM (P7) file after its magic, up to ENDHDR and its
 * newline: WIDTH, HEIGHT, DEPTH and MAXVAL once each, TUPLTYPE at most
 * once (the names are what the netpbm manual gives). Returns 0 or -1.
 */
static int read_pam_header(FILE *fp, const char *name, pam_header *h)
{
	static const char *const keys[] = {"WIDTH", "HEIGHT", "DEPTH", "MAXVAL"};
	unsigned long long *vals[] = {&h->width, &h->height, &h->depth, &h->maxval};
	int seen[4] = {0, 0, 0, 0};
	h->tupltype[0] = '\0';
	for (int fields = 0; fields < 64; fields++) {
		char word[32];
		int eol = read_word(fp, name, word, sizeof word);
		if (eol < 0)
			return -1;
		if (strcmp(word, "ENDHDR") == 0) {
			if (!eol) {
				/* The raster starts after the newline that ends the ENDHDR line. */
				int ch;
				while ((ch = getc(fp)) != EOF && ch != '\n')
					if (!is_space(ch)) {
						cnnf_error("%s: bad PAM header: text after ENDHDR", name);
						return -1;
					}
			}
			for (int i = 0; i < 4; i++)
				if (!seen[i]) {
					cnnf_error("%s: bad PAM header: no %s", name, keys[i]);
					return -1;
				}
			return 0;
		}
		if (strcmp(word, "TUPLTYPE") == 0) {
			/* The rest of the line; only the standard names mean anything here. */
			int ch;
			size_t n = 0;
			while ((ch = getc(fp)) == ' ' || ch == '\t')
				;
			while (!eol && ch != EOF && ch != '\n' && ch != '\r') {
				if (n + 1 < sizeof h->tupltype)
					h->tupltype[n++] = (char)ch;
				ch = getc(fp);
			}
			while (n > 0 && is_space(h->tupltype[n - 1]))
				n--;
			h->tupltype[n] = '\0';
			continue;
		}
		int k = -1;
		for (int i = 0; i < 4; i++)
			if (strcmp(word, keys[i]) == 0)
				k = i;
		if (k < 0) {
			int printable = 1;
			for (const char *p = word; *p; p++)
				printable &= *p >= 0x20 && *p < 0x7f;
			if (printable)
				cnnf_error("%s: bad PAM header: unknown field '%s'", name, word);
			else
				cnnf_error("%s: bad PAM header: unknown field", name);
			return -1;
		}
		if (seen[k]) {
			cnnf_error("%s: bad PAM header: %s given twice", name, keys[k]);
			return -1;
		}
		if (eol) {
			cnnf_error("%s: bad PAM header: %s without a value", name, keys[k]);
			return -1;
		}
		seen[k] = 1;
		char what[16];
		snprintf(what, sizeof what, "%s", keys[k]);
		for (char *p = what; *p; p++)
			*p = (char)(*p - 'A' + 'a');
		if (read_number(fp, name, what, vals[k]) < 0)
			return -1;
	}
	cnnf_error("%s: bad PAM header: no ENDHDR", name);
	return -1;
}

/*
 * The need bytes of samples at fp's position as an image whose data is a
 * private mapping of the file (the header's sizes already checked against
 * the file): reading a 36 MB PPM then costs the page cache's pages instead
 * of a copy into fresh memory, as libvips reads its own files. NULL when
 * fp is not a regular file or the mapping fails: the caller reads a copy.
 */
static cnnf_image *map_samples(FILE *fp, int w, int h, int channels, size_t need)
{
	int fd = fileno(fp);
	struct stat st;
	off_t at = ftello(fp);
	if (fd < 0 || at < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size < (unsigned long long)at + need)
		return NULL;
	size_t len = (size_t)at + need;
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (base == MAP_FAILED)
		return NULL;
	cnnf_image *img = calloc(1, sizeof *img);
	if (!img || fseeko(fp, at + (off_t)need, SEEK_SET) < 0) {
		free(img);
		munmap(base, len);
		return NULL;
	}
	/* Filters read it from top to bottom, once. */
	posix_madvise(base, len, POSIX_MADV_SEQUENTIAL);
	*img = (cnnf_image){.width = w, .height = h, .channels = channels, .type = CNNF_U8,
	                    .maxval = 255, .data = (unsigned char *)base + at, .map = base,
	                    .map_len = len};
	return img;
}

cnnf_image *cnnf_pnm_read(FILE *fp, const char *name, unsigned long long max_pixels)
{
	unsigned char magic[2];
	if (fread(magic, 1, 2, fp) != 2) {
		fail_eof(fp, name);
		return NULL;
	}
	int plain = 0, bits = 0, alpha = 0;
	unsigned long long w, h, maxval, channels;
	if (magic[0] != 'P' || magic[1] < '1' || magic[1] > '7') {
		/* The sniffer lets only P1..P7 through; called directly, the bytes can be anything. */
		cnnf_error("%s: not a PNM image (it does not start with P1 to P7)", name);
		return NULL;
	}
	if (magic[1] == '7') {
		pam_header ph;
		if (read_pam_header(fp, name, &ph) < 0)
			return NULL;
		w = ph.width;
		h = ph.height;
		channels = ph.depth;
		maxval = ph.maxval;
		alpha = (channels == 2 && strcmp(ph.tupltype, "GRAYSCALE_ALPHA") == 0) ||
		        (channels == 4 && strcmp(ph.tupltype, "RGB_ALPHA") == 0);
		if (channels < 1 || channels > CNNF_MAX_CHANNELS) {
			cnnf_error("%s: PAM depth %llu is not in 1..%d", name, channels,
			           CNNF_MAX_CHANNELS);
			return NULL;
		}
	} else {
		plain = magic[1] <= '3';
		bits = magic[1] == '1' || magic[1] == '4';
		channels = magic[1] == '3' || magic[1] == '6' ? 3 : 1;
		if (read_number(fp, name, "width", &w) < 0 ||
		    read_number(fp, name, "height", &h) < 0 ||
		    (!bits && read_number(fp, name, "maxval", &maxval) < 0))
			return NULL;
		if (bits)
			maxval = 255;
	}
	if (maxval < 1 || maxval > 65535) {
		cnnf_error("%s: PNM maxval %llu is not in 1..65535", name, maxval);
		return NULL;
	}
	cnnf_type type = maxval > 255 ? CNNF_U16 : CNNF_U8;
	if (cnnf_image_check(name, (long long)w, (long long)h, (long long)channels, type,
	                     max_pixels) < 0)
		return NULL;
	/*
	 * A binary raster has its exact size; a plain one at least a digit and a
	 * separator per sample (PBM: a digit). All fit in 64 bits after
	 * cnnf_image_check().
	 */
	unsigned long long samples = w * h * channels;
	unsigned long long need;
	if (bits)
		need = plain ? samples : (w + 7) / 8 * h;
	else
		need = !plain ? samples * type
		       : samples > ULLONG_MAX / 2 ? ULLONG_MAX : 2 * samples - 1;
	long long have = cnnf_io_remaining(fp);
	if (have >= 0 && (unsigned long long)have < need) {
		cnnf_error("%s: truncated file: a %llux%llu image needs %s%llu bytes of samples, "
		           "the file has %lld",
		           name, w, h, plain ? "at least " : "", need, have);
		return NULL;
	}
	/* 8-bit binary samples are the image as it is kept: the file's pages, not a copy. */
	cnnf_image *img = !plain && !bits && type == CNNF_U8 && have >= 0
	                      ? map_samples(fp, (int)w, (int)h, (int)channels, (size_t)need)
	                      : NULL;
	if (img) {
		img->maxval = (unsigned)maxval;
		img->alpha = alpha;
		/* As read_raw() checks a copy: no sample above the maxval. */
		const uint8_t *d = img->data;
		for (size_t i = 0; maxval < 255 && i < (size_t)need; i++)
			if (above_maxval(name, d[i], img->maxval) < 0) {
				cnnf_image_free(img);
				return NULL;
			}
		return img;
	}
	img = cnnf_image_new((int)w, (int)h, (int)channels, type);
	if (!img) {
		cnnf_error("%s: out of memory for a %llux%llu image", name, w, h);
		return NULL;
	}
	img->maxval = (unsigned)maxval;
	img->alpha = alpha;
	size_t n = (size_t)samples;
	int r = bits ? read_pbm(fp, name, img, plain)
	               : (plain ? read_plain : read_raw)(fp, name, img, n);
	if (r < 0) {
		cnnf_image_free(img);
		return NULL;
	}
	return img;
}

/* The Netpbm kinds cnnf writes (io.h's cnnf_format says what each one does). */
typedef enum { KIND_PNM, KIND_PGM, KIND_PPM, KIND_PBM, KIND_PAM } netpbm_kind;

/* ppmtopgm's luma, rounded as it rounds: what a .pgm of a colour image holds. */
static unsigned luma(unsigned r, unsigned g, unsigned b)
{
	return (unsigned)(0.2989 * r + 0.5866 * g + 0.1145 * b + 0.5);
}

/* The PAM tuple type of an image, or NULL for a channel count with no standard one. */
static const char *pam_tupltype(const cnnf_image *img)
{
	int alpha = img->alpha && (img->channels == 2 || img->channels == 4);
	switch (img->channels) {
	case 1:
		return "GRAYSCALE";
	case 2:
		return alpha ? "GRAYSCALE_ALPHA" : NULL;
	case 3:
		return "RGB";
	case 4:
		return alpha ? "RGB_ALPHA" : NULL;
	default:
		return NULL;
	}
}

static int write_header(FILE *fp, const cnnf_image *img, netpbm_kind kind, int cout,
                        unsigned maxval)
{
	if (kind == KIND_PBM)
		return fprintf(fp, "P4\n%d %d\n", img->width, img->height);
	if (kind == KIND_PAM) {
		const char *tt = pam_tupltype(img);
		return fprintf(fp, "P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL %u\n%s%s%sENDHDR\n",
		               img->width, img->height, cout, maxval, tt ? "TUPLTYPE " : "",
		               tt ? tt : "", tt ? "\n" : "");
	}
	return fprintf(fp, "P%c\n%d %d\n%u\n", cout == 1 ? '5' : '6', img->width, img->height,
	               maxval);
}

/*
 * One row of integer samples (in, cin a pixel, on the output's scale) as
 * the cout samples a pixel of kind: gray repeated for PPM, luma for PGM
 * and PBM, alpha dropped but for PAM.
 */
static void map_row(const uint16_t *in, int cin, int alpha, uint16_t *out, int cout, size_t w)
{
	int colour = cin - alpha >= 3;
	for (size_t x = 0; x < w; x++, in += cin, out += cout) {
		if (cout == cin) {
			memcpy(out, in, (size_t)cin * sizeof *in);
		} else if (cout == 1) {
			out[0] = colour ? (uint16_t)luma(in[0], in[1], in[2]) : in[0];
		} else {
			for (int c = 0; c < 3; c++)
				out[c] = colour ? in[c] : in[0];
		}
	}
}

static int write_netpbm(const cnnf_rows *src, FILE *fp, const char *name, netpbm_kind kind)
{
	static const char *const labels[] = {"PNM", "PGM", "PPM", "PBM", "PAM"};
	const cnnf_image *img = &src->info;
	int cin = img->channels;
	int alpha = img->alpha && (cin == 2 || cin == 4);
	if (kind == KIND_PNM && cin != 1 && cin != 3) {
		cnnf_error("%s: PNM holds 1 (PGM) or 3 (PPM) channels, not %d; write .png, .pam or "
		           ".npy instead",
		           name, cin);
		return -1;
	}
	if (kind != KIND_PAM && cin != 1 && cin != 3) {
		cnnf_error("%s: %s takes gray or colour, not %d channels%s; write .pam, .tif or .npy "
		           "instead",
		           name, labels[kind], cin, alpha ? " (no alpha: --flatten composites it)" : "");
		return -1;
	}
	int cout = kind == KIND_PAM ? cin
	           : kind == KIND_PNM ? cin
	           : kind == KIND_PPM ? 3
	                              : 1;
	/* Integer samples keep their scale; float samples with no scale are 8-bit samples. */
	unsigned maxval = img->maxval;
	if (maxval == 0)
		maxval = img->type == CNNF_U16 ? 65535 : 255;
	if (maxval > 65535)
		maxval = 65535;
	size_t w = (size_t)img->width, nin = w * cin, nout = w * cout;
	size_t bytes = maxval > 255 ? 2 : 1;
	/* 8-bit samples written as they are: the common case, without a copy. */
	int direct = img->type == CNNF_U8 && maxval == 255 && cout == cin && kind != KIND_PBM;
	uint16_t *conv = direct ? NULL : malloc(nin * sizeof *conv);
	uint16_t *mapped = direct ? NULL : malloc(nout * sizeof *mapped);
	unsigned char *buf = direct ? NULL : malloc(nout * bytes);
	if (!direct && (!conv || !mapped || !buf)) {
		cnnf_error("%s: out of memory", name);
		goto fail;
	}
	if (write_header(fp, img, kind, cout, maxval) < 0)
		goto write_error;
	for (int y = 0; y < img->height; y++) {
		const void *row = src->row(src->ctx, y);
		if (!row) /* the message is set */
			goto fail;
		size_t len = nout * bytes;
		if (!direct) {
			/* Exact for integer samples; rounds and clamps float ones. */
			cnnf_image_convert_samples(img, row, CNNF_U16, maxval, conv, nin);
			map_row(conv, cin, alpha, mapped, cout, w);
			if (kind == KIND_PBM) {
				/* Black (a 1 bit) below the middle of the scale, as pgmtopbm -threshold. */
				len = (w + 7) / 8;
				memset(buf, 0, len);
				for (size_t x = 0; x < w; x++)
					if (2.0 * mapped[x] < maxval)
						buf[x / 8] |= (unsigned char)(0x80 >> (x % 8));
			} else {
				/* 16-bit samples are big-endian in the file. */
				for (size_t i = 0; i < nout; i++) {
					if (bytes == 2) {
						buf[2 * i] = (unsigned char)(mapped[i] >> 8);
						buf[2 * i + 1] = (unsigned char)mapped[i];
					} else {
						buf[i] = (unsigned char)mapped[i];
					}
				}
			}
		}
		if (fwrite(direct ? row : buf, 1, len, fp) != len)
			goto write_error;
	}
	free(conv);
	free(mapped);
	free(buf);
	return 0;
write_error:
	cnnf_error("%s: write error: %s", name, strerror(errno));
fail:
	free(conv);
	free(mapped);
	free(buf);
	return -1;
}

int cnnf_pnm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	return write_netpbm(src, fp, name, KIND_PNM);
}

int cnnf_pgm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	return write_netpbm(src, fp, name, KIND_PGM);
}

int cnnf_ppm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	return write_netpbm(src, fp, name, KIND_PPM);
}

int cnnf_pbm_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	return write_netpbm(src, fp, name, KIND_PBM);
}

int cnnf_pam_write(const cnnf_rows *src, FILE *fp, const char *name, const cnnf_write_opts *o)
{
	(void)o;
	return write_netpbm(src, fp, name, KIND_PAM);
}
