/* describe.c: the descriptions of kernel and model files that `cnnf info` shows. */
#include "task/describe.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/io.h"
#include "nn/geometry.h"
#include "nn/onnx.h"
#include "task/infer.h"

static void print_numbers(FILE *out, const double *v, int n)
{
	/* + 0.0 turns -0 into 0. */
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%.10g", i ? " " : "", v[i] + 0.0);
}

/*
 * Show a factorisation the way people write it: the row's smallest nonzero
 * magnitude 1 (so [1 2 1] rather than [0.5 1 0.5]) and the column's first
 * nonzero entry positive.
 */
static void orient(double *col, int h, double *row, int w)
{
	double min = 0;
	for (int j = 0; j < w; j++)
		if (row[j] != 0 && (min == 0 || fabs(row[j]) < min))
			min = fabs(row[j]);
	if (min > 0) {
		for (int j = 0; j < w; j++)
			row[j] /= min;
		for (int i = 0; i < h; i++)
			col[i] *= min;
	}
	for (int i = 0; i < h; i++) {
		if (col[i] == 0)
			continue;
		if (col[i] < 0) {
			for (int j = 0; j < h; j++)
				col[j] = -col[j];
			for (int j = 0; j < w; j++)
				row[j] = -row[j];
		}
		return;
	}
}

int cnnf_describe_kernel(FILE *out, const char *name, const cnnf_kernel *k)
{
	const char *kind = k->count > 1 ? (k->depth > 1 ? "bank of 3-D kernels" : "bank of 2-D kernels")
					 : (k->depth > 1 ? "3-D kernel" : "2-D kernel");
	double *col = malloc(sizeof(double) * (size_t)k->height);
	double *row = malloc(sizeof(double) * (size_t)k->width);
	if (!col || !row) {
		free(col);
		free(row);
		cnnf_error("out of memory");
		return -1;
	}
	fprintf(out, "%s: %s\n", name, kind);
	fprintf(out, "shape: %d x %d x %d x %d (filters x depth x height x width)\n", k->count,
		k->depth, k->height, k->width);
	long long weights = (long long)k->count * k->depth * k->height * k->width;
	fprintf(out, "parameters: %lld (%lld weights, %d bias%s)\n", weights + k->count, weights,
		k->count, k->count == 1 ? "" : "es");
	for (int f = 0; f < k->count; f++) {
		if (k->count > 1)
			fprintf(out, "filter %d:\n", f + 1);
		fprintf(out, "  sum: %.10g (scale %.10g/%.10g, bias %.10g)\n", cnnf_kernel_sum(k, f),
			k->scale_num[f], k->scale_den[f], k->bias[f]);
		for (int c = 0; c < k->depth; c++) {
			if (k->depth > 1)
				fprintf(out, "  slice %d: ", c + 1);
			else
				fprintf(out, "  ");
			if (cnnf_kernel_separable(k, f, c, col, row)) {
				orient(col, k->height, row, k->width);
				fprintf(out, "separable: column ");
				print_numbers(out, col, k->height);
				fprintf(out, ", row ");
				print_numbers(out, row, k->width);
				fprintf(out, "\n");
			} else {
				fprintf(out, "not separable\n");
			}
		}
	}
	free(col);
	free(row);
	return 0;
}

/* Whether the file starts (after blank and comment lines) with the model magic. */
int cnnf_describe_is_model(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	char line[256];
	int model = 0;
	/*
	 * At most 64 KiB of blank and comment lines are looked through, so that a
	 * stream of NUL bytes (/dev/zero), which reads as empty lines, ends.
	 */
	for (int lines = 0; lines < 256 && fgets(line, sizeof line, fp); lines++) {
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		model = strncmp(s, "cnnf-model", 10) == 0;
		break;
	}
	fclose(fp);
	return model;
}

/* The first bytes of the file at path (0 when it cannot be read). */
static size_t head(const char *path, unsigned char *buf, size_t len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	size_t n = fread(buf, 1, len, fp);
	fclose(fp);
	return n;
}

int cnnf_describe_is_image(const char *path)
{
	unsigned char magic[16];
	size_t n = head(path, magic, sizeof magic);
	return n && cnnf_io_format_sniff(magic, n) != CNNF_FORMAT_NONE;
}

/*
 * A second line for what the file holds beside the pixels, as vipsheader -a
 * and identify -verbose list it (nothing when it holds none): the blocks
 * commands carry to their outputs, so a user can see what --strip drops.
 */
static void describe_meta(FILE *out, const char *name, const cnnf_meta *m)
{
	/* The orientation is on the first line already. */
	if (!m->icc && !m->exif && !m->xmp && !m->text_count && m->res_unit == CNNF_RES_NONE)
		return;
	const char *sep = "";
	fprintf(out, "%s: metadata: ", name);
	if (m->icc) {
		int c = cnnf_meta_icc_channels(m->icc, m->icc_len);
		fprintf(out, "ICC profile%s%s%s (%s%zu bytes)", m->icc_name[0] ? " '" : "",
			m->icc_name, m->icc_name[0] ? "'" : "",
			c == 3 ? "RGB, " : c == 1 ? "gray, " : "", m->icc_len);
		sep = ", ";
	}
	if (m->exif)
		fprintf(out, "%sEXIF (%zu bytes)", sep, m->exif_len), sep = ", ";
	if (m->xmp)
		fprintf(out, "%sXMP (%zu bytes)", sep, m->xmp_len), sep = ", ";
	if (m->text_count) {
		fprintf(out, "%s%d text entr%s (", sep, m->text_count, m->text_count == 1 ? "y" : "ies");
		for (int i = 0; i < m->text_count && i < 8; i++)
			fprintf(out, "%s%s", i ? ", " : "", m->text[i].key);
		fprintf(out, "%s)", m->text_count > 8 ? ", ..." : "");
		sep = ", ";
	}
	if (m->res_unit == CNNF_RES_METRE)
		fprintf(out, "%s%.5g x %.5g pixels per inch", sep, m->res_x * 0.0254, m->res_y * 0.0254);
	else if (m->res_unit == CNNF_RES_ASPECT)
		fprintf(out, "%spixel aspect %.5g:%.5g", sep, m->res_x, m->res_y);
	fprintf(out, "\n");
}

int cnnf_describe_image(FILE *out, const char *name, const cnnf_input *in,
			const cnnf_image *img)
{
	static const char *const kinds[] = {"gray", "gray, alpha", "RGB", "RGB, alpha"};
	int c = img->channels;
	const char *kind = img->alpha ? (c == 2 ? kinds[1] : c == 4 ? kinds[3] : NULL)
				      : (c == 1 ? kinds[0] : c == 3 ? kinds[2] : NULL);
	fprintf(out, "%s: %s image, %d x %d (W x H), %d channel%s", name,
		cnnf_io_format_label(cnnf_input_format(in)), img->width, img->height, c,
		c == 1 ? "" : "s");
	if (kind)
		fprintf(out, " (%s)", kind);
	else if (img->alpha)
		fprintf(out, " (the last is alpha)");
	if (img->type == CNNF_F32)
		fprintf(out, img->maxval ? ", float samples on the scale 0..%u" : ", float samples (no scale)",
			img->maxval);
	else
		fprintf(out, ", %d-bit samples (0..%u)", img->type == CNNF_U8 ? 8 : 16, img->maxval);
	int pages = cnnf_input_pages(in);
	if (pages > 1)
		fprintf(out, ", %d pages (this is page 0)", pages);
	/* The size above is the upright one, as every command reads the image. */
	int orient = cnnf_input_orientation(in);
	const char *tag = cnnf_input_format(in) == CNNF_FORMAT_TIFF ? "TIFF" : "EXIF";
	if (orient > 1 && cnnf_exif_swaps(orient))
		fprintf(out, ", %s orientation %d (stored %d x %d, turned upright)", tag, orient,
			img->height, img->width);
	else if (orient > 1)
		fprintf(out, ", %s orientation %d (turned upright)", tag, orient);
	else if (orient == 1)
		fprintf(out, ", %s orientation 1", tag);
	fprintf(out, "\n");
	describe_meta(out, name, cnnf_input_meta(in));
	return ferror(out) ? -1 : 0;
}

static void shape_string(char *buf, size_t len, int c, int h, int w)
{
	snprintf(buf, len, "%d x %d x %d", c, h, w);
}

int cnnf_describe_model(FILE *out, const char *name, const cnnf_model *m)
{
	fprintf(out, "%s: cnnf model, input %d x %d x %d (C x H x W), %d classes", name,
		m->channels, m->height, m->width, m->classes);
	for (int i = 0; i < m->nlabels; i++)
		fprintf(out, "%s%s", i ? " " : ": ", m->labels[i]);
	fprintf(out, "\n\n  %-22s %-18s %s\n", "layer", "output (C x H x W)", "parameters");
	char shape[64], desc[64];
	shape_string(shape, sizeof shape, m->channels, m->height, m->width);
	fprintf(out, "  %-22s %-18s %d\n", "input", shape, 0);
	for (int i = 0; i < m->nlayers; i++) {
		const cnnf_layer *l = &m->layers[i];
		const char *lname = cnnf_model_layer_name(l->type);
		switch (l->type) {
		case CNNF_LAYER_CONV:
			snprintf(desc, sizeof desc, "%s %dx%d/%d pad %d dil %d", lname, l->kh, l->kw,
				 l->stride, l->pad, l->dilation);
			break;
		case CNNF_LAYER_MAXPOOL:
		case CNNF_LAYER_AVGPOOL:
			snprintf(desc, sizeof desc, "%s %dx%d/%d", lname, l->kh, l->kw, l->stride);
			break;
		default:
			snprintf(desc, sizeof desc, "%s", lname);
		}
		shape_string(shape, sizeof shape, l->out_c, l->out_h, l->out_w);
		fprintf(out, "  %-22s %-18s %zu\n", desc, shape, l->nparams);
	}
	int rh, rw;
	cnnf_model_receptive_field(m, &rh, &rw);
	fprintf(out, "\n  total parameters: %zu\n  receptive field: %d x %d\n"
		     "  multiply-adds per patch: %llu\n",
		m->nparams, rh, rw, cnnf_model_macs(m));
	if (m->weights_init)
		fprintf(out, "  weights: none yet (weights init)\n");
	return 0;
}

int cnnf_describe_is_onnx(const char *path)
{
	unsigned char buf[256];
	size_t n = head(path, buf, sizeof buf);
	return n && cnnf_onnx_is(buf, n);
}

static const char *type_name(int t)
{
	return t == CNNF_DT_I64 ? "int64" : "float";
}

/* Operators by name, with their counts, in order of first appearance. */
static void print_op_counts(FILE *out, const cnnf_graph *g)
{
	fprintf(out, "  nodes: %d", g->nnode);
	for (int i = 0; i < g->nnode; i++) {
		int seen = 0, count = 0;
		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(g->node[j].op_type, g->node[i].op_type) == 0;
		if (seen)
			continue;
		for (int j = i; j < g->nnode; j++)
			count += strcmp(g->node[j].op_type, g->node[i].op_type) == 0;
		fprintf(out, "%s%s %d", i ? ", " : " (", g->node[i].op_type, count);
	}
	fprintf(out, "%s\n", g->nnode ? ")" : "");
}

int cnnf_describe_graph(FILE *out, const char *name, cnnf_graph *g, int h, int w)
{
	char b[160];
	fprintf(out, "%s: ONNX model, opset %d, %" PRIu64 " parameters\n\n", name, g->opset,
		g->params);
	for (int i = 0; i < g->nin; i++)
		fprintf(out, "  input  '%s': %s (%s)\n", g->val[g->in[i]].name,
			g->in_ndim[i] < 0 ? "any shape"
					  : cnnf_graph_shape_str(b, sizeof b, g->in_ndim[i], g->in_dim[i]),
			type_name(g->in_type[i]));
	for (int i = 0; i < g->nout; i++)
		fprintf(out, "  output '%s'\n", g->val[g->out[i]].name);
	if (cnnf_graph_finish(g) < 0)
		return -1;
	print_op_counts(out, g);

	/* The size to describe a run at: --size, else what the model declares. */
	int ndim[64];
	int64_t(*shape)[CNNF_GRAPH_MAX_DIMS] = calloc((size_t)(g->nin ? g->nin : 1), sizeof *shape);
	if (!shape || g->nin > 64) {
		free(shape);
		if (g->nin > 64)
			fprintf(out, "\n  (%d inputs: no run is described)\n", g->nin);
		return shape ? 0 : -1;
	}
	int free_dims = 0;
	for (int i = 0; i < g->nin; i++) {
		ndim[i] = g->in_ndim[i];
		for (int k = 0; k < ndim[i]; k++) {
			int64_t d = g->in_dim[i][k];
			if (ndim[i] == 4 && k == 0 && d < 0)
				d = 1;
			if (ndim[i] == 4 && k >= 2 && (h > 0))
				d = k == 2 ? h : w;
			if (d < 0)
				free_dims = 1;
			shape[i][k] = d;
		}
		if (ndim[i] < 0)
			free_dims = 1;
	}
	if (free_dims) {
		fprintf(out, "\n  the input size is free: give --size HxW for output shapes, "
			     "multiply-adds and memory\n");
		free(shape);
		return 0;
	}
	int over;
	int rc = cnnf_infer_prepare_over(g, ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape,
					 &over);
	const char *why;
	int tiles = 0;
	if (rc == 0) {
		fprintf(out, "\n  for input %s:\n", cnnf_graph_shape_str(b, sizeof b, ndim[0], shape[0]));
		for (int i = 0; i < g->nout; i++) {
			const cnnf_value *v = &g->val[g->out[i]];
			fprintf(out, "  output '%s': %s (%s)\n", v->name,
				cnnf_graph_shape_str(b, sizeof b, v->ndim, v->dim), type_name(v->type));
		}
		if (g->nin == 1 && ndim[0] == 4) {
			cnnf_geometry *geo = cnnf_geometry_new(g);
			if (!geo) {
				free(shape);
				return -1;
			}
			if ((tiles = cnnf_geometry_tileable(geo, &why)))
				fprintf(out, "  receptive field: %" PRId64 " x %" PRId64 "\n",
					cnnf_geometry_field(geo, 0), cnnf_geometry_field(geo, 1));
			else
				fprintf(out, "  receptive field: the whole input (%s)\n", why);
			if (over && tiles)
				fprintf(out, "  over --max-activations %" PRIu64 ": segment and apply run it "
					     "in tiles\n",
					g->limits.max_elements);
			else if (over) /* the receptive field's line says why */
				fprintf(out, "  over --max-activations %" PRIu64 ", and it cannot run in "
					     "tiles\n",
					g->limits.max_elements);
			cnnf_geometry_free(geo);
		} else if (over) {
			fprintf(out, "  over --max-activations %" PRIu64 "\n", g->limits.max_elements);
		}
		fprintf(out, "  multiply-adds: %.6g\n", g->work);
		fprintf(out, "  peak activation memory: %.1f MiB\n", g->peak_bytes / 1048576.0);
	}
	free(shape);
	return rc;
}
