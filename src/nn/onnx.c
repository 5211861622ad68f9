/* onnx.c: ONNX ModelProto files read into a graph (nn/graph.h), and TensorProto files; see onnx.h. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "nn/onnx.h"
#include "nn/pb.h"

#define IR_MIN 3
#define IR_MAX 9
#define OPSET_MIN 7
#define OPSET_MAX 18

/* The file-size allowance beyond the parameters' bytes: the graph's structure. */
#define STRUCTURE_BYTES ((uint64_t)64 << 20)

/* Fields of the messages read (onnx.proto's numbers). */
enum { MODEL_IR = 1, MODEL_GRAPH = 7, MODEL_OPSET = 8 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum {
	GRAPH_NODE = 1,
	GRAPH_INIT = 5,
	GRAPH_INPUT = 11,
	GRAPH_OUTPUT = 12,
	GRAPH_SPARSE_INIT = 15
};
enum {
	NODE_INPUT = 1,
	NODE_OUTPUT = 2,
	NODE_NAME = 3,
	NODE_OP = 4,
	NODE_ATTR = 5,
	NODE_DOMAIN = 7
};
enum {
	ATTR_NAME = 1,
	ATTR_F = 2,
	ATTR_I = 3,
	ATTR_S = 4,
	ATTR_T = 5,
	ATTR_G = 6,
	ATTR_FLOATS = 7,
	ATTR_INTS = 8,
	ATTR_STRINGS = 9,
	ATTR_TENSORS = 10,
	ATTR_GRAPHS = 11,
	ATTR_TYPE = 20,
	ATTR_REF = 21,
	ATTR_SPARSE = 22
};
enum {
	T_DIMS = 1,
	T_TYPE = 2,
	T_SEGMENT = 3,
	T_FLOAT = 4,
	T_INT32 = 5,
	T_STRING = 6,
	T_INT64 = 7,
	T_NAME = 8,
	T_RAW = 9,
	T_DOUBLE = 10,
	T_UINT64 = 11,
	T_EXTERNAL = 13,
	T_LOCATION = 14
};

/* ONNX's element types. */
enum {
	DT_FLOAT = 1,
	DT_UINT8 = 2,
	DT_INT8 = 3,
	DT_UINT16 = 4,
	DT_INT16 = 5,
	DT_INT32 = 6,
	DT_INT64 = 7,
	DT_STRING = 8,
	DT_BOOL = 9,
	DT_FLOAT16 = 10,
	DT_DOUBLE = 11,
	DT_UINT32 = 12,
	DT_UINT64 = 13,
	DT_COMPLEX64 = 14,
	DT_COMPLEX128 = 15,
	DT_BFLOAT16 = 16
};

/* How each element type is stored and what it becomes. */
typedef struct dtype {
	const char *name;
	int size;  /* bytes in raw_data; 0: not supported */
	int field; /* the typed field that holds it */
	int kind;  /* that field's scalars: CNNF_PB_* */
	int to;    /* CNNF_DT_F32 or CNNF_DT_I64 */
} dtype;

static const dtype dtypes[] = {
	[0] = {"undefined", 0, 0, 0, 0},
	[DT_FLOAT] = {"float", 4, T_FLOAT, CNNF_PB_FIXED32, CNNF_DT_F32},
	[DT_UINT8] = {"uint8", 1, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_INT8] = {"int8", 1, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_UINT16] = {"uint16", 2, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_INT16] = {"int16", 2, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_INT32] = {"int32", 4, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_INT64] = {"int64", 8, T_INT64, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_STRING] = {"string", 0, 0, 0, 0},
	[DT_BOOL] = {"bool", 1, T_INT32, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_FLOAT16] = {"float16", 2, T_INT32, CNNF_PB_VARINT, CNNF_DT_F32},
	[DT_DOUBLE] = {"double", 8, T_DOUBLE, CNNF_PB_FIXED64, CNNF_DT_F32},
	[DT_UINT32] = {"uint32", 4, T_UINT64, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_UINT64] = {"uint64", 8, T_UINT64, CNNF_PB_VARINT, CNNF_DT_I64},
	[DT_COMPLEX64] = {"complex64", 0, 0, 0, 0},
	[DT_COMPLEX128] = {"complex128", 0, 0, 0, 0},
	[DT_BFLOAT16] = {"bfloat16", 2, T_INT32, CNNF_PB_VARINT, CNNF_DT_F32},
	[17] = {"float8e4m3fn", 0, 0, 0, 0},
	[18] = {"float8e4m3fnuz", 0, 0, 0, 0},
	[19] = {"float8e5m2", 0, 0, 0, 0},
	[20] = {"float8e5m2fnuz", 0, 0, 0, 0},
	[21] = {"uint4", 0, 0, 0, 0},
	[22] = {"int4", 0, 0, 0, 0},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

static const char *typed_field_name(int field)
{
	switch (field) {
	case T_FLOAT:
		return "float_data";
	case T_INT32:
		return "int32_data";
	case T_INT64:
		return "int64_data";
	case T_DOUBLE:
		return "double_data";
	case T_UINT64:
		return "uint64_data";
	default:
		return "string_data";
	}
}

/* What a load knows: the names for messages, where external data lives, the limits. */
typedef struct ctx {
	const char *file;
	const char *dir; /* NULL: no external data */
	cnnf_graph_limits lim;
	cnnf_graph *g;
} ctx;

/* "FILE: WHERE: message" (or "FILE: message" when where is empty); returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(const ctx *c, const char *where,
						      const char *fmt, ...)
{
	char msg[CNNF_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cnnf_error("%s: %s%s%s", c->file, where, where[0] ? ": " : "", msg);
	return -1;
}

static int oom(const ctx *c)
{
	return fail(c, "", "out of memory");
}

/*
 * A string field as a malloc'd NUL-terminated copy. Control bytes (NUL
 * among them) are refused: every name may end up in a message.
 */
static int string(const ctx *c, const char *where, const char *what, const cnnf_pb_field *f,
		  char **out)
{
	if (f->wire != CNNF_PB_LEN)
		return fail(c, where, "%s has wire type %d, not a string", what, f->wire);
	for (size_t i = 0; i < f->len; i++)
		if (f->data[i] < 0x20 || f->data[i] == 0x7f)
			return fail(c, where, "%s holds a control byte (0x%02x)", what, f->data[i]);
	char *s = malloc(f->len + 1);
	if (!s)
		return oom(c);
	memcpy(s, f->data, f->len);
	s[f->len] = '\0';
	free(*out);
	*out = s;
	return 0;
}

/* Field f must have wire type `wire`. */
static int want(const ctx *c, const char *where, const char *what, const cnnf_pb_field *f,
		int wire)
{
	if (f->wire == wire)
		return 0;
	return fail(c, where, "%s has wire type %d, expected %d", what, f->wire, wire);
}

/* A walk over m's fields ended: r < 0 is a malformed message. */
static int walked(const ctx *c, const char *where, const cnnf_pb *m, int r)
{
	if (r >= 0)
		return 0;
	return fail(c, where, "%s", m->err);
}

static int iter_err(const ctx *c, const char *where, const char *what, const char *why)
{
	return fail(c, where, "%s: %s", what, why);
}

/* ---- Tensors ---------------------------------------------------------------------------- */

static float half_to_float(uint32_t h)
{
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
	float v;
	if (e == 0)
		v = ldexpf((float)m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexpf((float)(m | 0x400), (int)e - 25);
	return (h & 0x8000) ? -v : v;
}

static float bits_to_float(uint32_t b)
{
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

static float double_to_float(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	/* Out of float's range is inf (a conversion beyond it would be undefined). */
	if (d > FLT_MAX)
		return INFINITY;
	if (d < -FLT_MAX)
		return -INFINITY;
	return (float)d;
}

/*
 * Element i of a tensor of type dt into dst (float or int64 as dtypes[dt].to
 * says), from its stored value v: raw's little-endian bytes (raw = 1) or the
 * typed field's scalar. *why set on a value out of its type's range.
 */
static int put(int dt, int raw, uint64_t v, void *dst, size_t i, const char **why)
{
	float *f = dst;
	int64_t *q = dst;
	int64_t s = (int64_t)v;
	int size = dtypes[dt].size;
	/* Signed raw values are sign-extended from their width. */
	if (raw && size < 8 && (dt == DT_INT8 || dt == DT_INT16 || dt == DT_INT32) &&
	    (v >> (size * 8 - 1)) & 1)
		s = (int64_t)(v | ~(uint64_t)0 << (size * 8));
	switch (dt) {
	case DT_FLOAT:
		f[i] = bits_to_float((uint32_t)v);
		return 0;
	case DT_DOUBLE:
		f[i] = double_to_float(v);
		return 0;
	case DT_FLOAT16:
	case DT_BFLOAT16:
		if (v > 0xffff) {
			*why = "int32_data value out of range for a 16-bit float";
			return -1;
		}
		f[i] = dt == DT_FLOAT16 ? half_to_float((uint32_t)v) : bits_to_float((uint32_t)v << 16);
		return 0;
	case DT_BOOL:
		q[i] = v != 0;
		return 0;
	case DT_INT8:
	case DT_INT16:
	case DT_INT32: {
		int64_t lim = (int64_t)1 << (size * 8 - 1);
		if (s < -lim || s >= lim) {
			*why = "int32_data value out of its type's range";
			return -1;
		}
		q[i] = s;
		return 0;
	}
	case DT_UINT8:
	case DT_UINT16:
	case DT_UINT32:
		if (v >> (size * 8)) {
			*why = "value out of its type's range";
			return -1;
		}
		q[i] = (int64_t)v;
		return 0;
	case DT_UINT64:
		if (v > (uint64_t)INT64_MAX) {
			*why = "uint64 value above INT64_MAX does not fit int64";
			return -1;
		}
		q[i] = (int64_t)v;
		return 0;
	default: /* DT_INT64 */
		q[i] = s;
		return 0;
	}
}

/* Raw little-endian elements (n of dt's size at src) into dst. */
static int put_raw(const ctx *c, const char *where, int dt, const unsigned char *src, size_t n,
		   void *dst)
{
	int size = dtypes[dt].size;
	for (size_t i = 0; i < n; i++, src += size) {
		uint64_t v = 0;
		for (int b = 0; b < size; b++)
			v |= (uint64_t)src[b] << (8 * b);
		const char *why;
		if (put(dt, 1, v, dst, i, &why) < 0)
			return fail(c, where, "element %zu: %s", i, why);
	}
	return 0;
}

/* A decimal string of an external_data entry (offset, length) as a number. */
static int decimal(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* What an external_data list says. */
typedef struct external {
	char *location, *offset, *length;
} external;

static void external_free(external *e)
{
	free(e->location);
	free(e->offset);
	free(e->length);
}

static int external_entry(const ctx *c, const char *where, const cnnf_pb_field *f, external *e)
{
	if (want(c, where, "external_data", f, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(f);
	cnnf_pb_field kf;
	char *key = NULL, *value = NULL;
	int r, rc = -1;
	while ((r = cnnf_pb_next(&m, &kf)) > 0) {
		if (kf.num == 1 && string(c, where, "external_data key", &kf, &key) < 0)
			goto out;
		if (kf.num == 2 && string(c, where, "external_data value", &kf, &value) < 0)
			goto out;
	}
	if (walked(c, where, &m, r) < 0)
		goto out;
	if (!key || !value) {
		fail(c, where, "external_data entry without a key or a value");
		goto out;
	}
	char **slot = strcmp(key, "location") == 0 ? &e->location
		      : strcmp(key, "offset") == 0 ? &e->offset
		      : strcmp(key, "length") == 0 ? &e->length
						   : NULL;
	if (slot) {
		free(*slot);
		*slot = value;
		value = NULL;
	}
	rc = 0;
out:
	free(key);
	free(value);
	return rc;
}

/*
 * The bytes of external data: `bytes` of them from the file e names inside
 * c->dir, into a malloc'd *out.
 */
static int external_read(const ctx *c, const char *where, const external *e, uint64_t bytes,
			 unsigned char **out)
{
	const char *loc = e->location;
	if (!c->dir)
		return fail(c, where, "external data not supported here");
	if (!loc || !*loc)
		return fail(c, where, "external data without a location");
	if (loc[0] == '/')
		return fail(c, where, "external data location '%s' is an absolute path", loc);
	for (const char *p = loc; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(c, where, "external data location '%s' leads out of the model's folder",
				    loc);
		p += n;
		p += *p == '/';
	}
	uint64_t offset = 0, length = bytes;
	if (e->offset && decimal(e->offset, &offset) < 0)
		return fail(c, where, "external data offset '%s' is not a number", e->offset);
	if (e->length && decimal(e->length, &length) < 0)
		return fail(c, where, "external data length '%s' is not a number", e->length);
	if (length != bytes)
		return fail(c, where, "external data of %llu bytes, dims need %llu",
			    (unsigned long long)length, (unsigned long long)bytes);
	size_t plen = strlen(c->dir) + strlen(loc) + 2;
	char *path = malloc(plen);
	char *real = NULL, *realdir = NULL;
	unsigned char *buf = NULL;
	FILE *fp = NULL;
	int rc = -1;
	if (!path) {
		oom(c);
		goto out;
	}
	snprintf(path, plen, "%s/%s", c->dir, loc);
	real = realpath(path, NULL);
	int rerr = errno;
	realdir = real ? realpath(c->dir, NULL) : NULL;
	if (!real || !realdir) {
		fail(c, where, "external data '%s': %s", loc, strerror(real ? errno : rerr));
		goto out;
	}
	/* A symbolic link may still lead out: the resolved file must be below the resolved folder. */
	size_t dl = strlen(realdir);
	if (strncmp(real, realdir, dl) != 0 || (real[dl] != '/' && dl > 1)) {
		fail(c, where, "external data '%s' leads out of the model's folder", loc);
		goto out;
	}
	fp = fopen(real, "rb");
	struct stat st;
	if (!fp || fstat(fileno(fp), &st) < 0) {
		fail(c, where, "external data '%s': %s", loc, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(c, where, "external data '%s' is not a regular file", loc);
		goto out;
	}
	uint64_t size = (uint64_t)st.st_size;
	if (offset > size || length > size - offset) {
		fail(c, where, "external data '%s' has %llu bytes, offset %llu and length %llu need more",
		     loc, (unsigned long long)size, (unsigned long long)offset,
		     (unsigned long long)length);
		goto out;
	}
	if (offset > (uint64_t)LLONG_MAX || fseeko(fp, (off_t)offset, SEEK_SET) != 0) {
		fail(c, where, "external data '%s': cannot seek to %llu", loc,
		     (unsigned long long)offset);
		goto out;
	}
	buf = malloc(length ? (size_t)length : 1);
	if (!buf) {
		oom(c);
		goto out;
	}
	if (fread(buf, 1, (size_t)length, fp) != (size_t)length) {
		fail(c, where, "external data '%s': truncated", loc);
		goto out;
	}
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (fp)
		fclose(fp);
	free(buf);
	free(real);
	free(realdir);
	free(path);
	return rc;
}

/*
 * A TensorProto (bytes at buf) into *out (type, ndim, dim, data malloc'd)
 * and, when name is not NULL, its name (malloc'd, "" if none). Messages
 * name it as `prefix` when given, else as "KIND 'NAME'".
 */
static int tensor(const ctx *c, const unsigned char *buf, size_t len, const char *kind,
		  const char *prefix, cnnf_value *out, char **name)
{
	cnnf_pb m = cnnf_pb_init(buf, len), w;
	cnnf_pb_field f;
	char *tname = NULL;
	char where[CNNF_ERROR_MAX];
	external ext = {NULL, NULL, NULL};
	unsigned char *extbuf = NULL;
	void *data = NULL;
	int r, rc = -1;

	/* The name first, so that every later message can say which tensor it is. */
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0)
		if (f.num == T_NAME && f.wire == CNNF_PB_LEN &&
		    string(c, prefix ? prefix : kind, "name", &f, &tname) < 0) {
			free(tname);
			return -1;
		}
	if (!tname && !(tname = calloc(1, 1)))
		return oom(c);
	if (prefix)
		snprintf(where, sizeof where, "%s", prefix);
	else
		snprintf(where, sizeof where, "%s '%s'", kind, tname);
	if (walked(c, where, &w, r) < 0)
		goto out;

	int64_t dt = 0, location = 0;
	const unsigned char *raw = NULL;
	size_t rawlen = 0;
	unsigned typed = 0; /* bit i: typed field i present */
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0) {
		switch (f.num) {
		case T_TYPE:
			if (want(c, where, "data_type", &f, CNNF_PB_VARINT) < 0)
				goto out;
			dt = (int64_t)f.v;
			break;
		case T_SEGMENT:
			fail(c, where, "segmented tensors not supported");
			goto out;
		case T_RAW:
			if (want(c, where, "raw_data", &f, CNNF_PB_LEN) < 0)
				goto out;
			raw = f.data;
			rawlen = f.len;
			break;
		case T_LOCATION:
			if (want(c, where, "data_location", &f, CNNF_PB_VARINT) < 0)
				goto out;
			location = (int64_t)f.v;
			break;
		case T_EXTERNAL:
			if (external_entry(c, where, &f, &ext) < 0)
				goto out;
			break;
		case T_FLOAT:
		case T_INT32:
		case T_STRING:
		case T_INT64:
		case T_DOUBLE:
		case T_UINT64:
			typed |= 1u << f.num;
			break;
		}
	}
	if (walked(c, where, &w, r) < 0)
		goto out;
	if (dt < 0 || dt >= NDTYPES || !dtypes[dt].size) {
		fail(c, where, "data type %lld (%s) not supported", (long long)dt,
		     dt >= 0 && dt < NDTYPES ? dtypes[dt].name : "unknown");
		goto out;
	}
	const dtype *d = &dtypes[dt];
	if (location != 0 && location != 1) {
		fail(c, where, "data_location %lld not supported", (long long)location);
		goto out;
	}

	size_t ndim;
	const char *why;
	if (cnnf_pb_count(m, T_DIMS, CNNF_PB_VARINT, &ndim, &why) < 0) {
		iter_err(c, where, "dims", why);
		goto out;
	}
	if (ndim > CNNF_GRAPH_MAX_DIMS) {
		fail(c, where, "%zu dimensions, at most %d supported", ndim, CNNF_GRAPH_MAX_DIMS);
		goto out;
	}
	uint64_t udim[CNNF_GRAPH_MAX_DIMS];
	if (cnnf_pb_scalars(m, T_DIMS, CNNF_PB_VARINT, udim, ndim, &why) < 0) {
		iter_err(c, where, "dims", why);
		goto out;
	}
	/* The element count, checked against the limit before anything is allocated. */
	uint64_t count = 1;
	int over = 0;
	for (size_t i = 0; i < ndim; i++) {
		if (udim[i] > (uint64_t)INT64_MAX) {
			fail(c, where, "dimension %zu is %lld", i, (long long)udim[i]);
			goto out;
		}
		out->dim[i] = (int64_t)udim[i];
		if (udim[i] && count > UINT64_MAX / udim[i])
			over = 1;
		else
			count *= udim[i];
	}
	for (size_t i = 0; i < ndim && over; i++)
		if (!udim[i])
			over = 0, count = 0;
	if (over || count > c->lim.max_elements) {
		char shape[200] = "";
		for (size_t i = 0, k = 0; i < ndim && k < sizeof shape - 24; i++)
			k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", i ? "x" : "",
					      (unsigned long long)udim[i]);
		fail(c, where, "shape %s has more elements than the limit of %llu", shape,
		     (unsigned long long)c->lim.max_elements);
		goto out;
	}

	unsigned others = typed & ~(1u << d->field);
	int sources = (raw != NULL) + (location == 1) + ((typed >> d->field) & 1);
	if (others) {
		int i = 0;
		while (!((others >> i) & 1))
			i++;
		fail(c, where, "%s given for a %s tensor", typed_field_name(i), d->name);
		goto out;
	}
	if (sources > 1) {
		fail(c, where, "more than one of raw_data, %s and external data", typed_field_name(d->field));
		goto out;
	}
	size_t esize = cnnf_graph_type_size(d->to);
	data = malloc(count ? (size_t)count * esize : 1);
	if (!data) {
		oom(c);
		goto out;
	}
	/* Bytes the dims need in raw form: count is within max_elements, but that may be large. */
	if (count > UINT64_MAX / 8) {
		fail(c, where, "too many elements");
		goto out;
	}
	uint64_t need = count * (uint64_t)d->size;
	if (location == 1) {
		if (external_read(c, where, &ext, need, &extbuf) < 0)
			goto out;
		if (put_raw(c, where, (int)dt, extbuf, (size_t)count, data) < 0)
			goto out;
	} else if (raw) {
		if (rawlen != need) {
			fail(c, where, "raw_data has %zu bytes, dims need %llu", rawlen,
			     (unsigned long long)need);
			goto out;
		}
		if (put_raw(c, where, (int)dt, raw, (size_t)count, data) < 0)
			goto out;
	} else {
		size_t n = 0;
		const char *fname = typed_field_name(d->field);
		if (cnnf_pb_count(m, (uint32_t)d->field, d->kind, &n, &why) < 0) {
			iter_err(c, where, fname, why);
			goto out;
		}
		if (n != count) {
			if (n == 0)
				fail(c, where, "no data for %llu elements", (unsigned long long)count);
			else
				fail(c, where, "%s has %zu elements, dims need %llu", fname, n,
				     (unsigned long long)count);
			goto out;
		}
		cnnf_pb_iter it = cnnf_pb_iter_init(m, (uint32_t)d->field, d->kind);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;
			if (cnnf_pb_iter_next(&it, &v) <= 0) {
				iter_err(c, where, fname, it.err ? it.err : "shorter than counted");
				goto out;
			}
			if (put((int)dt, 0, v, data, i, &why) < 0) {
				fail(c, where, "%s element %zu: %s", fname, i, why);
				goto out;
			}
		}
	}
	out->type = d->to;
	out->ndim = (int)ndim;
	out->data = data;
	data = NULL;
	if (name) {
		*name = tname;
		tname = NULL;
	}
	rc = 0;
out:
	free(data);
	free(extbuf);
	free(tname);
	external_free(&ext);
	return rc;
}

/* ---- Attributes and nodes --------------------------------------------------------------- */

static void attr_clear(cnnf_attr *a)
{
	free(a->name);
	free(a->s);
	free(a->ints);
	free(a->floats);
	if (a->t) {
		free(a->t->data);
		free(a->t);
	}
	memset(a, 0, sizeof *a);
}

static void attrs_free(cnnf_attr *a, int n)
{
	for (int i = 0; i < n && a; i++)
		attr_clear(&a[i]);
	free(a);
}

/* "node 'N' (Op)" for messages. */
static void node_where(char *buf, size_t size, const char *name, const char *op)
{
	snprintf(buf, size, "node '%s' (%s)", name, op);
}

static const char *attr_type_name(int64_t t)
{
	static const char *const names[] = {"undefined", "float", "int", "string", "tensor",
					    "graph", "floats", "ints", "strings", "tensors",
					    "graphs", "sparse tensor", "sparse tensors",
					    "type proto", "type protos"};
	return t >= 0 && t < (int64_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

/*
 * One AttributeProto into *a. where names the node. Graph, sparse and type
 * attributes are refused by name.
 */
static int attribute(const ctx *c, const char *nwhere, const cnnf_pb_field *af, cnnf_attr *a)
{
	char where[CNNF_ERROR_MAX];
	if (want(c, nwhere, "attribute", af, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(af), w = m;
	cnnf_pb_field f;
	int r;
	while ((r = cnnf_pb_next(&w, &f)) > 0)
		if (f.num == ATTR_NAME && string(c, nwhere, "attribute name", &f, &a->name) < 0)
			return -1;
	if (walked(c, nwhere, &w, r) < 0)
		return -1;
	if (!a->name || !a->name[0])
		return fail(c, nwhere, "attribute without a name");
	snprintf(where, sizeof where, "%.700s: attribute '%.200s'", nwhere, a->name);

	int64_t type = 0;
	unsigned seen = 0; /* bit i: field i present */
	const unsigned char *s = NULL, *t = NULL;
	size_t slen = 0, tlen = 0;
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0) {
		if (f.num < 32)
			seen |= 1u << f.num;
		switch (f.num) {
		case ATTR_TYPE:
			if (want(c, where, "type", &f, CNNF_PB_VARINT) < 0)
				return -1;
			type = (int64_t)f.v;
			break;
		case ATTR_F:
			if (want(c, where, "f", &f, CNNF_PB_FIXED32) < 0)
				return -1;
			a->f = bits_to_float((uint32_t)f.v);
			break;
		case ATTR_I:
			if (want(c, where, "i", &f, CNNF_PB_VARINT) < 0)
				return -1;
			a->i = (int64_t)f.v;
			break;
		case ATTR_S:
			if (want(c, where, "s", &f, CNNF_PB_LEN) < 0)
				return -1;
			s = f.data;
			slen = f.len;
			break;
		case ATTR_T:
			if (want(c, where, "t", &f, CNNF_PB_LEN) < 0)
				return -1;
			t = f.data;
			tlen = f.len;
			break;
		case ATTR_REF:
			return fail(c, where, "ref_attr_name outside a function not supported");
		}
	}
	if (walked(c, where, &w, r) < 0)
		return -1;
	if (type == 0) {
		/* Files before IR version 2 may leave the type out: it is the field given. */
		static const int field_type[][2] = {
			{ATTR_F, CNNF_ATTR_FLOAT},       {ATTR_I, CNNF_ATTR_INT},
			{ATTR_S, CNNF_ATTR_STRING},      {ATTR_T, CNNF_ATTR_TENSOR},
			{ATTR_G, CNNF_ATTR_GRAPH},       {ATTR_FLOATS, CNNF_ATTR_FLOATS},
			{ATTR_INTS, CNNF_ATTR_INTS},     {ATTR_STRINGS, CNNF_ATTR_STRINGS},
			{ATTR_TENSORS, 9},               {ATTR_GRAPHS, 10},
			{ATTR_SPARSE, 11}};
		for (size_t i = 0; i < sizeof field_type / sizeof field_type[0] && !type; i++)
			if ((seen >> field_type[i][0]) & 1)
				type = field_type[i][1];
		if (!type)
			return fail(c, where, "no type and no value");
	}
	a->type = (int)type;
	const char *why;
	switch (type) {
	case CNNF_ATTR_FLOAT:
	case CNNF_ATTR_INT:
		return 0;
	case CNNF_ATTR_STRING: {
		cnnf_pb_field sf = {ATTR_S, CNNF_PB_LEN, 0, s, slen};
		if (!s)
			sf.data = (const unsigned char *)"";
		if (string(c, where, "value", &sf, &a->s) < 0)
			return -1;
		a->slen = slen;
		return 0;
	}
	case CNNF_ATTR_TENSOR:
		if (!t)
			return fail(c, where, "tensor attribute without a tensor");
		a->t = calloc(1, sizeof *a->t);
		if (!a->t)
			return oom(c);
		a->t->producer = a->t->last_use = -1;
		return tensor(c, t, tlen, "tensor", where, a->t, NULL);
	case CNNF_ATTR_FLOATS: {
		size_t n;
		if (cnnf_pb_count(m, ATTR_FLOATS, CNNF_PB_FIXED32, &n, &why) < 0)
			return iter_err(c, where, "floats", why);
		if (n && !(a->floats = malloc(n * sizeof *a->floats)))
			return oom(c);
		/* float and uint32_t have the same size: the bits are read in place. */
		if (cnnf_pb_scalars(m, ATTR_FLOATS, CNNF_PB_FIXED32, a->floats, n, &why) < 0)
			return iter_err(c, where, "floats", why);
		for (size_t i = 0; i < n; i++) {
			uint32_t b;
			memcpy(&b, &a->floats[i], sizeof b);
			a->floats[i] = bits_to_float(b);
		}
		a->n = n;
		return 0;
	}
	case CNNF_ATTR_INTS: {
		size_t n;
		if (cnnf_pb_count(m, ATTR_INTS, CNNF_PB_VARINT, &n, &why) < 0)
			return iter_err(c, where, "ints", why);
		if (n && !(a->ints = malloc(n * sizeof *a->ints)))
			return oom(c);
		if (cnnf_pb_scalars(m, ATTR_INTS, CNNF_PB_VARINT, a->ints, n, &why) < 0)
			return iter_err(c, where, "ints", why);
		a->n = n;
		return 0;
	}
	case CNNF_ATTR_STRINGS: {
		/* No array of strings in cnnf_attr: s holds the n strings, each NUL-terminated. */
		size_t n = 0, total = 0;
		w = m;
		while ((r = cnnf_pb_next(&w, &f)) > 0)
			if (f.num == ATTR_STRINGS) {
				if (want(c, where, "strings", &f, CNNF_PB_LEN) < 0)
					return -1;
				n++;
				total += f.len + 1;
			}
		a->s = malloc(total + 1);
		if (!a->s)
			return oom(c);
		size_t k = 0;
		w = m;
		while ((r = cnnf_pb_next(&w, &f)) > 0)
			if (f.num == ATTR_STRINGS) {
				for (size_t i = 0; i < f.len; i++)
					if (f.data[i] < 0x20 || f.data[i] == 0x7f)
						return fail(c, where, "strings hold a control byte (0x%02x)",
							    f.data[i]);
				memcpy(a->s + k, f.data, f.len);
				k += f.len;
				a->s[k++] = '\0';
			}
		a->s[k] = '\0';
		a->slen = total;
		a->n = n;
		return 0;
	}
	default:
		return fail(c, where, "%s attributes not supported", attr_type_name(type));
	}
}

/* Make value v an initializer of t's type, shape and data (taken). */
static int make_init(const ctx *c, const char *where, int v, cnnf_value *t)
{
	cnnf_value *val = &c->g->val[v];
	if (val->is_init || val->data) {
		free(t->data);
		t->data = NULL;
		return fail(c, where, "value '%s' defined twice", val->name);
	}
	void *data = t->data;
	t->data = NULL;
	return cnnf_graph_set_init(c->g, v, t->type, t->ndim, t->dim, data);
}

/* A Constant node: its one output becomes an initializer from its one attribute. */
static int constant(const ctx *c, const char *where, int nout, const int *out, int nattr,
		    cnnf_attr *attr)
{
	if (nout != 1 || out[0] < 0)
		return fail(c, where, "%d outputs, expected 1", nout);
	if (nattr != 1)
		return fail(c, where, "%d attributes, expected 1 (value, value_float, value_floats, "
				      "value_int or value_ints)",
			    nattr);
	cnnf_attr *a = &attr[0];
	cnnf_value t = {0};
	size_t esize = 0;
	const void *src = NULL;
	if (strcmp(a->name, "value") == 0 && a->type == CNNF_ATTR_TENSOR) {
		t = *a->t;
		a->t->data = NULL;
		return make_init(c, where, out[0], &t);
	} else if (strcmp(a->name, "value_float") == 0 && a->type == CNNF_ATTR_FLOAT) {
		t.type = CNNF_DT_F32, t.ndim = 0, esize = sizeof(float), src = &a->f;
	} else if (strcmp(a->name, "value_int") == 0 && a->type == CNNF_ATTR_INT) {
		t.type = CNNF_DT_I64, t.ndim = 0, esize = sizeof(int64_t), src = &a->i;
	} else if (strcmp(a->name, "value_floats") == 0 && a->type == CNNF_ATTR_FLOATS) {
		t.type = CNNF_DT_F32, t.ndim = 1, t.dim[0] = (int64_t)a->n;
		esize = sizeof(float), src = a->floats;
	} else if (strcmp(a->name, "value_ints") == 0 && a->type == CNNF_ATTR_INTS) {
		t.type = CNNF_DT_I64, t.ndim = 1, t.dim[0] = (int64_t)a->n;
		esize = sizeof(int64_t), src = a->ints;
	} else {
		return fail(c, where, "attribute '%s' (%s) not supported", a->name,
			    attr_type_name(a->type));
	}
	size_t n = t.ndim ? a->n : 1;
	t.data = malloc(n ? n * esize : 1);
	if (!t.data)
		return oom(c);
	if (n)
		memcpy(t.data, src, n * esize);
	return make_init(c, where, out[0], &t);
}

/* The string fields num of m, each as a value index (-1 for ""), into a malloc'd *idx. */
static int value_list(const ctx *c, const char *where, const char *what, cnnf_pb m,
		      uint32_t num, int **idx, int *count)
{
	cnnf_pb w = m;
	cnnf_pb_field f;
	int r, n = 0;
	while ((r = cnnf_pb_next(&w, &f)) > 0)
		if (f.num == num) {
			if (n == INT_MAX / (int)sizeof(int))
				return fail(c, where, "too many %ss", what);
			n++;
		}
	*idx = malloc((n ? (size_t)n : 1) * sizeof **idx);
	if (!*idx)
		return oom(c);
	int k = 0;
	char *s = NULL;
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0 && k < n) {
		if (f.num != num)
			continue;
		if (string(c, where, what, &f, &s) < 0) {
			free(s);
			return -1;
		}
		int v = -1;
		if (s[0] && (v = cnnf_graph_value(c->g, s)) < 0) {
			free(s);
			return -1;
		}
		(*idx)[k++] = v;
	}
	free(s);
	*count = n;
	return 0;
}

static int node(const ctx *c, const cnnf_pb_field *nf)
{
	char where[CNNF_ERROR_MAX];
	char *name = NULL, *op = NULL, *domain = NULL;
	int *in = NULL, *out = NULL, nin = 0, nout = 0;
	cnnf_attr *attr = NULL;
	int nattr = 0, rc = -1, r;
	if (want(c, "", "node", nf, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(nf), w = m;
	cnnf_pb_field f;
	while ((r = cnnf_pb_next(&w, &f)) > 0) {
		if (f.num == NODE_NAME && string(c, "node", "name", &f, &name) < 0)
			goto out;
		if (f.num == NODE_OP && string(c, "node", "op_type", &f, &op) < 0)
			goto out;
		if (f.num == NODE_DOMAIN && string(c, "node", "domain", &f, &domain) < 0)
			goto out;
		if (f.num == NODE_ATTR)
			nattr++;
	}
	if (walked(c, "node", &w, r) < 0)
		goto out;
	if (!name && !(name = calloc(1, 1))) {
		oom(c);
		goto out;
	}
	if (!op || !op[0]) {
		fail(c, "", "node '%s' has no op_type", name);
		goto out;
	}
	node_where(where, sizeof where, name, op);
	if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) {
		fail(c, where, "domain '%s' not supported", domain);
		goto out;
	}
	if (value_list(c, where, "input", m, NODE_INPUT, &in, &nin) < 0 ||
	    value_list(c, where, "output", m, NODE_OUTPUT, &out, &nout) < 0)
		goto out;
	attr = calloc(nattr ? (size_t)nattr : 1, sizeof *attr);
	if (!attr) {
		oom(c);
		goto out;
	}
	int k = 0;
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0 && k < nattr) {
		if (f.num != NODE_ATTR)
			continue;
		if (attribute(c, where, &f, &attr[k]) < 0)
			goto out;
		for (int j = 0; j < k; j++)
			if (strcmp(attr[j].name, attr[k].name) == 0) {
				fail(c, where, "attribute '%s' given twice", attr[k].name);
				goto out;
			}
		k++;
	}
	if (strcmp(op, "Constant") == 0) {
		rc = constant(c, where, nout, out, nattr, attr);
		goto out;
	}
	rc = cnnf_graph_add_node(c->g, name, op, nin, in, nout, out, nattr, attr);
	attr = NULL;
out:
	attrs_free(attr, nattr);
	free(in);
	free(out);
	free(name);
	free(op);
	free(domain);
	return rc;
}

/* ---- Graph inputs and outputs ----------------------------------------------------------- */

/* An elem_type of a graph input as CNNF_DT_* (0 when not given). */
static int value_type(const ctx *c, const char *where, int64_t et, int *out)
{
	if (et == 0) {
		*out = 0;
		return 0;
	}
	if (et < 0 || et >= NDTYPES || !dtypes[et].size)
		return fail(c, where, "data type %lld (%s) not supported", (long long)et,
			    et >= 0 && et < NDTYPES ? dtypes[et].name : "unknown");
	*out = dtypes[et].to;
	return 0;
}

/* A TensorShapeProto's dims (-1 for a symbolic or unknown one). */
static int shape(const ctx *c, const char *where, const cnnf_pb_field *sf, int *ndim,
		 int64_t *dim)
{
	if (want(c, where, "shape", sf, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(sf);
	cnnf_pb_field f;
	int r, n = 0;
	while ((r = cnnf_pb_next(&m, &f)) > 0) {
		if (f.num != 1)
			continue;
		if (want(c, where, "dim", &f, CNNF_PB_LEN) < 0)
			return -1;
		if (n == CNNF_GRAPH_MAX_DIMS)
			return fail(c, where, "more than %d dimensions not supported",
				    CNNF_GRAPH_MAX_DIMS);
		cnnf_pb dm = cnnf_pb_sub(&f);
		cnnf_pb_field df;
		int64_t d = -1;
		while ((r = cnnf_pb_next(&dm, &df)) > 0)
			if (df.num == 1) {
				if (want(c, where, "dim_value", &df, CNNF_PB_VARINT) < 0)
					return -1;
				d = (int64_t)df.v;
				if (d < 0)
					return fail(c, where, "dimension %d is %lld", n, (long long)d);
			}
		if (walked(c, where, &dm, r) < 0)
			return -1;
		dim[n++] = d;
	}
	if (walked(c, where, &m, r) < 0)
		return -1;
	*ndim = n;
	return 0;
}

/* A graph input's ValueInfoProto: declared unless it names an initializer. */
static int input(const ctx *c, const cnnf_pb_field *vf)
{
	char where[CNNF_ERROR_MAX];
	char *name = NULL;
	int rc = -1, r;
	if (want(c, "", "input", vf, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(vf), w = m;
	cnnf_pb_field f;
	while ((r = cnnf_pb_next(&w, &f)) > 0)
		if (f.num == 1 && string(c, "input", "name", &f, &name) < 0)
			goto out;
	if (walked(c, "input", &w, r) < 0)
		goto out;
	if (!name || !name[0]) {
		fail(c, "", "graph input without a name");
		goto out;
	}
	snprintf(where, sizeof where, "input '%s'", name);
	int v = cnnf_graph_find(c->g, name);
	if (v >= 0 && c->g->val[v].is_init) {
		rc = 0;
		goto out;
	}
	int type = 0, ndim = -1;
	int64_t dim[CNNF_GRAPH_MAX_DIMS] = {0};
	w = m;
	while ((r = cnnf_pb_next(&w, &f)) > 0) {
		if (f.num != 2)
			continue;
		if (want(c, where, "type", &f, CNNF_PB_LEN) < 0)
			goto out;
		cnnf_pb tm = cnnf_pb_sub(&f);
		cnnf_pb_field tf;
		while ((r = cnnf_pb_next(&tm, &tf)) > 0) {
			if (tf.num == 4 || tf.num == 5 || tf.num == 8 || tf.num == 9) {
				fail(c, where, "sequence, map and optional types not supported");
				goto out;
			}
			if (tf.num != 1)
				continue;
			if (want(c, where, "tensor_type", &tf, CNNF_PB_LEN) < 0)
				goto out;
			cnnf_pb em = cnnf_pb_sub(&tf);
			cnnf_pb_field ef;
			while ((r = cnnf_pb_next(&em, &ef)) > 0) {
				if (ef.num == 1) {
					if (want(c, where, "elem_type", &ef, CNNF_PB_VARINT) < 0 ||
					    value_type(c, where, (int64_t)ef.v, &type) < 0)
						goto out;
				} else if (ef.num == 2 && shape(c, where, &ef, &ndim, dim) < 0) {
					goto out;
				}
			}
			if (walked(c, where, &em, r) < 0)
				goto out;
		}
		if (walked(c, where, &tm, r) < 0)
			goto out;
	}
	if (walked(c, where, &w, r) < 0)
		goto out;
	if ((v = cnnf_graph_value(c->g, name)) < 0)
		goto out;
	/* An input whose file gives no element type is taken as float, what images are. */
	if (!type)
		type = CNNF_DT_F32;
	rc = cnnf_graph_add_input(c->g, v, type, ndim, dim);
out:
	free(name);
	return rc;
}

static int output(const ctx *c, const cnnf_pb_field *vf)
{
	char *name = NULL;
	int r, rc = -1;
	if (want(c, "", "output", vf, CNNF_PB_LEN) < 0)
		return -1;
	cnnf_pb m = cnnf_pb_sub(vf);
	cnnf_pb_field f;
	while ((r = cnnf_pb_next(&m, &f)) > 0)
		if (f.num == 1 && string(c, "output", "name", &f, &name) < 0)
			goto out;
	if (walked(c, "output", &m, r) < 0)
		goto out;
	if (!name || !name[0]) {
		fail(c, "", "graph output without a name");
		goto out;
	}
	int v = cnnf_graph_value(c->g, name);
	rc = v < 0 ? -1 : cnnf_graph_add_output(c->g, v);
out:
	free(name);
	return rc;
}

static int initializer(const ctx *c, const cnnf_pb_field *tf)
{
	cnnf_value t = {0};
	char *name = NULL;
	char where[CNNF_ERROR_MAX];
	if (want(c, "", "initializer", tf, CNNF_PB_LEN) < 0 ||
	    tensor(c, tf->data, tf->len, "initializer", NULL, &t, &name) < 0)
		return -1;
	snprintf(where, sizeof where, "initializer '%s'", name);
	int rc = -1;
	if (!name[0]) {
		fail(c, "", "initializer without a name");
		goto out;
	}
	int v = cnnf_graph_value(c->g, name);
	if (v < 0)
		goto out;
	rc = make_init(c, where, v, &t);
out:
	free(t.data);
	free(name);
	return rc;
}

/* A GraphProto: initializers first (inputs that name one are skipped), nodes, outputs. */
static int graph(const ctx *c, const cnnf_pb_field *gf)
{
	static const uint32_t order[] = {GRAPH_INIT, GRAPH_INPUT, GRAPH_NODE, GRAPH_OUTPUT};
	cnnf_pb m = cnnf_pb_sub(gf);
	cnnf_pb_field f;
	int r;
	for (size_t pass = 0; pass < sizeof order / sizeof order[0]; pass++) {
		cnnf_pb w = m;
		while ((r = cnnf_pb_next(&w, &f)) > 0) {
			if (pass == 0 && f.num == GRAPH_SPARSE_INIT)
				return fail(c, "", "sparse initializers not supported");
			if (f.num != order[pass])
				continue;
			int rc = f.num == GRAPH_INIT    ? initializer(c, &f)
				 : f.num == GRAPH_INPUT ? input(c, &f)
				 : f.num == GRAPH_NODE  ? node(c, &f)
							: output(c, &f);
			if (rc < 0)
				return -1;
		}
		if (walked(c, "graph", &w, r) < 0)
			return -1;
	}
	return 0;
}

/* ---- Files ------------------------------------------------------------------------------ */

/* The file's bytes (malloc'd) if it has at most max of them. */
static int read_all(const char *path, uint64_t max, unsigned char **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (max > (uint64_t)SIZE_MAX - 1)
		max = (uint64_t)SIZE_MAX - 1;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = NULL;
	int rc = -1;
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > max) {
			cnnf_error("%s: %llu bytes, more than the limit of %llu", path,
				   (unsigned long long)st.st_size, (unsigned long long)max);
			goto out;
		}
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (!buf) {
		cnnf_error("%s: out of memory", path);
		goto out;
	}
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (n > max) {
			cnnf_error("%s: more than the limit of %llu bytes", path,
				   (unsigned long long)max);
			goto out;
		}
		if (got == 0 || n < cap) {
			if (ferror(fp)) {
				cnnf_error("%s: read error: %s", path, strerror(errno));
				goto out;
			}
			if (feof(fp))
				break;
			continue;
		}
		/* Full: a stream (or a file that grew) needs more room. */
		size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if ((uint64_t)ncap > max + 1)
			ncap = (size_t)max + 1;
		unsigned char *nb = realloc(buf, ncap);
		if (!nb) {
			cnnf_error("%s: out of memory", path);
			goto out;
		}
		buf = nb;
		cap = ncap;
	}
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(fp);
	return rc;
}

/* The folder of path (malloc'd): "." for a bare name. */
static char *folder(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;
	if (slash == path)
		n = 1;
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, slash ? path : ".", n);
	d[n] = '\0';
	return d;
}

static void ctx_init(ctx *c, const char *name, const char *dir, const cnnf_graph_limits *lim)
{
	c->file = name;
	c->dir = dir;
	if (lim)
		c->lim = *lim;
	else
		cnnf_graph_limits_init(&c->lim);
	c->g = NULL;
}

static uint64_t file_limit(const cnnf_graph_limits *lim)
{
	uint64_t p = lim->max_params;
	if (p > (UINT64_MAX - STRUCTURE_BYTES) / 8)
		return UINT64_MAX;
	return p * 8 + STRUCTURE_BYTES;
}

int cnnf_onnx_parse(const unsigned char *buf, size_t len, const char *name, const char *dir,
		    const cnnf_graph_limits *lim, cnnf_graph **out)
{
	ctx c;
	ctx_init(&c, name, dir, lim);
	cnnf_pb m = cnnf_pb_init(buf, len);
	cnnf_pb_field f, gf = {0};
	int r, ngraph = 0, have_ir = 0, opset = -1;
	int64_t ir = 0;
	while ((r = cnnf_pb_next(&m, &f)) > 0) {
		if (f.num == MODEL_IR) {
			if (want(&c, "", "ir_version", &f, CNNF_PB_VARINT) < 0)
				return -1;
			ir = (int64_t)f.v;
			have_ir = 1;
		} else if (f.num == MODEL_GRAPH) {
			if (want(&c, "", "graph", &f, CNNF_PB_LEN) < 0)
				return -1;
			gf = f;
			ngraph++;
		} else if (f.num == MODEL_OPSET) {
			if (want(&c, "", "opset_import", &f, CNNF_PB_LEN) < 0)
				return -1;
			cnnf_pb om = cnnf_pb_sub(&f);
			cnnf_pb_field of;
			char *domain = NULL;
			int64_t version = 0;
			while ((r = cnnf_pb_next(&om, &of)) > 0) {
				if ((of.num == OPSET_DOMAIN &&
				     string(&c, "opset_import", "domain", &of, &domain) < 0) ||
				    (of.num == OPSET_VERSION &&
				     want(&c, "opset_import", "version", &of, CNNF_PB_VARINT) < 0)) {
					free(domain);
					return -1;
				}
				if (of.num == OPSET_VERSION)
					version = (int64_t)of.v;
			}
			int ours = !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
			free(domain);
			if (walked(&c, "opset_import", &om, r) < 0)
				return -1;
			if (!ours)
				continue;
			if (version < OPSET_MIN || version > OPSET_MAX)
				return fail(&c, "", "opset %lld not supported (%d to %d)",
					    (long long)version, OPSET_MIN, OPSET_MAX);
			opset = (int)version;
		}
	}
	if (r < 0)
		return fail(&c, "", "not a valid ONNX model (%s)", m.err);
	if (!have_ir)
		return fail(&c, "", "no ir_version: not an ONNX model");
	if (ir < IR_MIN || ir > IR_MAX)
		return fail(&c, "", "ir_version %lld not supported (%d to %d)", (long long)ir,
			    IR_MIN, IR_MAX);
	if (ngraph != 1)
		return fail(&c, "", ngraph ? "more than one graph" : "no graph");
	if (opset < 0)
		return fail(&c, "", "no opset_import for the ai.onnx domain (other domains not supported)");
	c.g = cnnf_graph_new(name);
	if (!c.g)
		return -1;
	c.g->opset = opset;
	c.g->limits = c.lim;
	if (graph(&c, &gf) < 0 || cnnf_graph_finish(c.g) < 0) {
		cnnf_graph_free(c.g);
		return -1;
	}
	*out = c.g;
	return 0;
}

int cnnf_onnx_load(const char *path, const cnnf_graph_limits *lim, cnnf_graph **out)
{
	cnnf_graph_limits l;
	if (lim)
		l = *lim;
	else
		cnnf_graph_limits_init(&l);
	unsigned char *buf;
	size_t len;
	if (read_all(path, file_limit(&l), &buf, &len) < 0)
		return -1;
	char *dir = folder(path);
	int rc;
	if (!dir) {
		cnnf_error("%s: out of memory", path);
		rc = -1;
	} else {
		rc = cnnf_onnx_parse(buf, len, path, dir, &l, out);
	}
	free(dir);
	free(buf);
	return rc;
}

int cnnf_onnx_tensor_parse(const unsigned char *buf, size_t len, const char *name,
			   const char *dir, const cnnf_graph_limits *lim, cnnf_value *out)
{
	ctx c;
	ctx_init(&c, name, dir, lim);
	cnnf_value t = {0};
	char *tname = NULL;
	if (tensor(&c, buf, len, "tensor", NULL, &t, &tname) < 0)
		return -1;
	memset(out, 0, sizeof *out);
	out->name = tname;
	out->type = t.type;
	out->ndim = t.ndim;
	memcpy(out->dim, t.dim, sizeof out->dim);
	out->data = t.data;
	out->producer = out->last_use = -1;
	return 0;
}

int cnnf_onnx_tensor_read(const char *path, const cnnf_graph_limits *lim, cnnf_value *out)
{
	cnnf_graph_limits l;
	if (lim)
		l = *lim;
	else
		cnnf_graph_limits_init(&l);
	unsigned char *buf;
	size_t len;
	uint64_t max = l.max_elements > (UINT64_MAX - STRUCTURE_BYTES) / 16
			       ? UINT64_MAX
			       : l.max_elements * 16 + STRUCTURE_BYTES;
	if (read_all(path, max, &buf, &len) < 0)
		return -1;
	char *dir = folder(path);
	int rc;
	if (!dir) {
		cnnf_error("%s: out of memory", path);
		rc = -1;
	} else {
		rc = cnnf_onnx_tensor_parse(buf, len, path, dir, &l, out);
	}
	free(dir);
	free(buf);
	return rc;
}

void cnnf_onnx_tensor_clear(cnnf_value *v)
{
	free(v->name);
	free(v->data);
	memset(v, 0, sizeof *v);
	v->producer = v->last_use = -1;
}

/* ---- Sniffing --------------------------------------------------------------------------- */

/* An OperatorSetIdProto: a printable domain and a version, nothing else. */
static int opset_like(const unsigned char *p, size_t len)
{
	cnnf_pb m = cnnf_pb_init(p, len);
	cnnf_pb_field f;
	int r, n = 0;
	while ((r = cnnf_pb_next(&m, &f)) > 0) {
		if (f.num == 2 && f.wire == CNNF_PB_VARINT && f.v < 1000) {
			n++;
			continue;
		}
		if (f.num != 1 || f.wire != CNNF_PB_LEN)
			return 0;
		for (size_t i = 0; i < f.len; i++)
			if (f.data[i] < 0x20 || f.data[i] == 0x7f)
				return 0;
	}
	return r == 0 && n == 1;
}

/* The start of a GraphProto of len bytes at p (the prefix may end before it does). */
static int graph_start(const unsigned char *p, const unsigned char *end, uint64_t len)
{
	uint64_t key;
	if (len < 2 || p >= end)
		return 0;
	if (cnnf_pb_varint(&p, end, &key) < 0)
		return 0;
	uint64_t num = key >> 3;
	/* node, name, initializer, doc_string, input, output, value_info, ...: all messages or strings. */
	return (key & 7) == CNNF_PB_LEN && (num == 1 || num == 2 || num == 5 || (num >= 10 && num <= 16));
}

int cnnf_onnx_is(const unsigned char *buf, size_t len)
{
	/* ModelProto's fields and their wire types plus one (0: no such field). */
	enum { V = CNNF_PB_VARINT + 1, L = CNNF_PB_LEN + 1 };
	static const signed char wire[] = {[1] = V, [2] = L,  [3] = L,  [4] = L,  [5] = V, [6] = L,
					   [7] = L, [8] = L,  [14] = L, [20] = L, [25] = L};
	const unsigned char *p = buf, *end = buf + len;
	int fields = 0;
	while (p < end) {
		uint64_t key, v;
		if (cnnf_pb_varint(&p, end, &key) < 0)
			return 0;
		uint64_t num = key >> 3;
		int w = (int)(key & 7);
		if (num == 0 || num >= sizeof wire || wire[num] != w + 1)
			return 0;
		if (w == CNNF_PB_VARINT) {
			if (cnnf_pb_varint(&p, end, &v) < 0)
				return 0;
			/* An IR version is small: a text or image byte pattern rarely is. */
			if (num == 1)
				return fields == 0 && v >= 1 && v <= 100;
			fields++;
			continue;
		}
		if (cnnf_pb_varint(&p, end, &v) < 0)
			return 0;
		if (num == 7)
			return graph_start(p, end, v);
		if (v > (uint64_t)(end - p))
			return 0;
		if (num == 8)
			return opset_like(p, (size_t)v);
		/* producer_name, producer_version and domain are short printable strings. */
		if (num <= 4)
			for (uint64_t i = 0; i < v; i++)
				if (p[i] < 0x20 || p[i] == 0x7f)
					return 0;
		p += v;
		fields++;
	}
	return 0;
}
