/* check_onnx.c: the protobuf reader (nn/pb.c) and the ONNX loader (nn/onnx.c) on models written byte by byte here. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "nn/onnx.h"
#include "nn/pb.h"
#include "testutil.h"

/* ---- A protobuf writer, enough to build the models the tests need ------------------------ */

typedef struct buf {
	unsigned char *p;
	size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n)
		memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void varint(buf *b, uint64_t v)
{
	do {
		unsigned char c = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			c |= 0x80;
		put(b, &c, 1);
	} while (v);
}

static void key(buf *b, int num, int wire)
{
	varint(b, (uint64_t)num << 3 | (uint64_t)wire);
}

static void f_varint(buf *b, int num, uint64_t v)
{
	key(b, num, 0);
	varint(b, v);
}

static void f_bytes(buf *b, int num, const void *data, size_t n)
{
	key(b, num, 2);
	varint(b, n);
	put(b, data, n);
}

static void f_str(buf *b, int num, const char *s)
{
	f_bytes(b, num, s, strlen(s));
}

/* Field num holding message sub, which is freed. */
static void f_msg(buf *b, int num, buf *sub)
{
	f_bytes(b, num, sub->p, sub->n);
	free(sub->p);
	memset(sub, 0, sizeof *sub);
}

static void f_fixed32(buf *b, int num, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	key(b, num, 5);
	put(b, c, 4);
}

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static void le(unsigned char *p, uint64_t v, int size)
{
	for (int i = 0; i < size; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* How repeated scalars are written. */
enum { PACKED, UNPACKED, RAW };

/* TensorProto fields. */
static void t_dims(buf *t, int ndim, const int64_t *dim)
{
	for (int i = 0; i < ndim; i++)
		f_varint(t, 1, (uint64_t)dim[i]);
}

/* A float tensor, its data as `how` says. */
static buf tensor_f32(const char *name, int ndim, const int64_t *dim, const float *v, size_t n,
		      int how)
{
	buf t = {0};
	t_dims(&t, ndim, dim);
	f_varint(&t, 2, 1);
	if (how == RAW) {
		unsigned char *raw = malloc(n * 4 + 1);
		for (size_t i = 0; i < n; i++)
			le(raw + 4 * i, fbits(v[i]), 4);
		f_bytes(&t, 9, raw, n * 4);
		free(raw);
	} else if (how == PACKED) {
		key(&t, 4, 2);
		varint(&t, n * 4);
		for (size_t i = 0; i < n; i++) {
			unsigned char c[4];
			le(c, fbits(v[i]), 4);
			put(&t, c, 4);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			f_fixed32(&t, 4, fbits(v[i]));
	}
	if (name)
		f_str(&t, 8, name);
	return t;
}

/* A tensor of element type dt whose typed field `field` holds varints v. */
static buf tensor_ints(const char *name, int dt, int field, int ndim, const int64_t *dim,
		       const int64_t *v, size_t n, int how)
{
	buf t = {0};
	if (name)
		f_str(&t, 8, name);
	f_varint(&t, 2, (uint64_t)dt);
	t_dims(&t, ndim, dim);
	if (how == PACKED) {
		buf p = {0};
		for (size_t i = 0; i < n; i++)
			varint(&p, (uint64_t)v[i]);
		f_msg(&t, field, &p);
	} else {
		for (size_t i = 0; i < n; i++)
			f_varint(&t, field, (uint64_t)v[i]);
	}
	return t;
}

/* A tensor of type dt with raw bytes. */
static buf tensor_raw(const char *name, int dt, int ndim, const int64_t *dim, const void *raw,
		      size_t n)
{
	buf t = {0};
	f_str(&t, 8, name);
	f_varint(&t, 2, (uint64_t)dt);
	t_dims(&t, ndim, dim);
	f_bytes(&t, 9, raw, n);
	return t;
}

/* A ValueInfoProto of a float tensor; dims of -1 are written as dim_param "N". */
static buf value_info(const char *name, int elem, int ndim, const int64_t *dim)
{
	buf shape = {0}, tt = {0}, tp = {0}, vi = {0};
	for (int i = 0; i < ndim; i++) {
		buf d = {0};
		if (dim[i] < 0)
			f_str(&d, 2, "N");
		else
			f_varint(&d, 1, (uint64_t)dim[i]);
		f_msg(&shape, 1, &d);
	}
	f_varint(&tt, 1, (uint64_t)elem);
	if (ndim >= 0)
		f_msg(&tt, 2, &shape);
	free(shape.p);
	f_msg(&tp, 1, &tt);
	f_str(&vi, 1, name);
	f_msg(&vi, 2, &tp);
	return vi;
}

/* A NodeProto with up to 4 inputs and outputs (NULL-terminated lists) and attributes (taken). */
static buf node(const char *name, const char *op, const char *const *in, const char *const *out,
		buf *attrs, int nattr)
{
	buf n = {0};
	for (int i = 0; in && in[i]; i++)
		f_str(&n, 1, in[i]);
	for (int i = 0; out && out[i]; i++)
		f_str(&n, 2, out[i]);
	if (name)
		f_str(&n, 3, name);
	f_str(&n, 4, op);
	for (int i = 0; i < nattr; i++)
		f_msg(&n, 5, &attrs[i]);
	return n;
}

static buf attr_int(const char *name, int64_t v)
{
	buf a = {0};
	f_str(&a, 1, name);
	f_varint(&a, 20, 2);
	f_varint(&a, 3, (uint64_t)v);
	return a;
}

static buf attr_float(const char *name, float v)
{
	buf a = {0};
	f_str(&a, 1, name);
	f_fixed32(&a, 2, fbits(v));
	f_varint(&a, 20, 1);
	return a;
}

static buf attr_ints(const char *name, const int64_t *v, size_t n, int how)
{
	buf a = {0};
	f_str(&a, 1, name);
	f_varint(&a, 20, 7);
	if (how == PACKED) {
		buf p = {0};
		for (size_t i = 0; i < n; i++)
			varint(&p, (uint64_t)v[i]);
		f_msg(&a, 8, &p);
	} else {
		for (size_t i = 0; i < n; i++)
			f_varint(&a, 8, (uint64_t)v[i]);
	}
	return a;
}

static buf attr_floats(const char *name, const float *v, size_t n, int how)
{
	buf a = {0};
	f_str(&a, 1, name);
	f_varint(&a, 20, 6);
	if (how == PACKED) {
		key(&a, 7, 2);
		varint(&a, n * 4);
		for (size_t i = 0; i < n; i++) {
			unsigned char c[4];
			le(c, fbits(v[i]), 4);
			put(&a, c, 4);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			f_fixed32(&a, 7, fbits(v[i]));
	}
	return a;
}

static buf attr_tensor(const char *name, buf *t)
{
	buf a = {0};
	f_str(&a, 1, name);
	f_varint(&a, 20, 4);
	f_msg(&a, 5, t);
	return a;
}

/* A ModelProto around graph g (taken) with this IR version and ai.onnx opset. */
static buf model(int64_t ir, int64_t opset, buf *g)
{
	buf m = {0}, op = {0};
	f_varint(&m, 1, (uint64_t)ir);
	f_str(&m, 2, "check_onnx");
	f_msg(&m, 7, g);
	f_str(&op, 1, "");
	f_varint(&op, 2, (uint64_t)opset);
	f_msg(&m, 8, &op);
	return m;
}

/* A graph whose outputs are the given initializers (taken) and inputs (value infos, taken). */
static buf graph_of(buf *inits, int ninit, const char *const *outs)
{
	buf g = {0};
	f_str(&g, 2, "g");
	for (int i = 0; i < ninit; i++)
		f_msg(&g, 5, &inits[i]);
	for (int i = 0; outs && outs[i]; i++) {
		buf vi = value_info(outs[i], 1, -1, NULL);
		f_msg(&g, 12, &vi);
	}
	return g;
}

/* Parse m (freed), which must succeed. */
static cnnf_graph *parse_ok(buf *m)
{
	cnnf_graph *g = NULL;
	int rc = cnnf_onnx_parse(m->p, m->n, "m.onnx", NULL, NULL, &g);
	ck_assert_msg(rc == 0, "parse failed: %s", cnnf_error_get());
	ck_assert_ptr_nonnull(g);
	free(m->p);
	memset(m, 0, sizeof *m);
	return g;
}

/* Parse m (freed), which must fail with a message holding `msg`. */
static void parse_fails(buf *m, const char *msg)
{
	cnnf_graph *g = NULL;
	cnnf_error_clear();
	int rc = cnnf_onnx_parse(m->p, m->n, "m.onnx", NULL, NULL, &g);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_null(g);
	ck_assert_error_has(msg);
	ck_assert_msg(strncmp(cnnf_error_get(), "m.onnx: ", 8) == 0, "'%s'", cnnf_error_get());
	free(m->p);
	memset(m, 0, sizeof *m);
}

/* A model whose one initializer (taken) is also its output. */
static buf model_init(buf *t, const char *name)
{
	const char *outs[] = {name, NULL};
	buf g = graph_of(t, 1, outs);
	return model(8, 13, &g);
}

static const cnnf_value *value(const cnnf_graph *g, const char *name)
{
	int v = cnnf_graph_find(g, name);
	ck_assert_msg(v >= 0, "no value '%s'", name);
	return &g->val[v];
}

static void assert_f32(const cnnf_value *v, int ndim, const int64_t *dim, const float *want,
		       size_t n)
{
	ck_assert_int_eq(v->type, CNNF_DT_F32);
	ck_assert_int_eq(v->ndim, ndim);
	for (int i = 0; i < ndim; i++)
		ck_assert_int_eq(v->dim[i], dim[i]);
	ck_assert_ptr_nonnull(v->data);
	const float *f = v->data;
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(f[i] == want[i] || (isnan(f[i]) && isnan(want[i])),
			      "element %zu: %g, want %g", i, f[i], want[i]);
}

static void assert_i64(const cnnf_value *v, int ndim, const int64_t *dim, const int64_t *want,
		       size_t n)
{
	ck_assert_int_eq(v->type, CNNF_DT_I64);
	ck_assert_int_eq(v->ndim, ndim);
	for (int i = 0; i < ndim; i++)
		ck_assert_int_eq(v->dim[i], dim[i]);
	const int64_t *q = v->data;
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(q[i] == want[i], "element %zu: %lld, want %lld", i, (long long)q[i],
			      (long long)want[i]);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
	ck_assert_int_eq(fclose(fp), 0);
}

/* ---- pb ------------------------------------------------------------------------------------ */

START_TEST(pb_varints)
{
	/* 10 bytes is the longest; the tenth may hold only bit 63. */
	const unsigned char max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	const unsigned char over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	const unsigned char eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					0x80, 0x80, 0x80, 0x80, 0x00};
	const unsigned char *p = max;
	uint64_t v;
	ck_assert_int_eq(cnnf_pb_varint(&p, max + sizeof max, &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_ptr_eq(p, max + sizeof max);
	p = over;
	ck_assert_int_eq(cnnf_pb_varint(&p, over + sizeof over, &v), -1);
	p = eleven;
	ck_assert_int_eq(cnnf_pb_varint(&p, eleven + sizeof eleven, &v), -1);
	p = max;
	ck_assert_int_eq(cnnf_pb_varint(&p, max + 5, &v), -1);
	const unsigned char one[] = {0x96, 0x01};
	p = one;
	ck_assert_int_eq(cnnf_pb_varint(&p, one + 2, &v), 0);
	ck_assert_uint_eq(v, 150);
}
END_TEST

START_TEST(pb_fields_skipped)
{
	/* One field of each wire type, then the one we want. */
	buf b = {0};
	f_varint(&b, 3, 7);
	key(&b, 4, 1);
	put(&b, "\1\2\3\4\5\6\7\x8", 8);
	f_fixed32(&b, 5, 0xdeadbeef);
	f_str(&b, 6, "skipped");
	f_varint(&b, 9, 42);
	cnnf_pb m = cnnf_pb_init(b.p, b.n);
	cnnf_pb_field f;
	int seen = 0;
	uint64_t got = 0;
	while (cnnf_pb_next(&m, &f) > 0) {
		seen++;
		if (f.num == 4)
			ck_assert(f.wire == CNNF_PB_FIXED64 && f.v == 0x0807060504030201ull);
		if (f.num == 5)
			ck_assert(f.wire == CNNF_PB_FIXED32 && f.v == 0xdeadbeef);
		if (f.num == 6)
			ck_assert(f.len == 7 && memcmp(f.data, "skipped", 7) == 0);
		if (f.num == 9)
			got = f.v;
	}
	ck_assert_ptr_null(m.err);
	ck_assert_int_eq(seen, 5);
	ck_assert_uint_eq(got, 42);
	free(b.p);
}
END_TEST

START_TEST(pb_packed_and_unpacked)
{
	/* Field 1 as: one unpacked, a packed run of 3, an empty packed run, one more unpacked. */
	buf b = {0}, p = {0};
	f_varint(&b, 1, 5);
	varint(&p, 1);
	varint(&p, 300);
	varint(&p, UINT64_MAX);
	f_msg(&b, 1, &p);
	f_bytes(&b, 1, "", 0);
	f_str(&b, 2, "other");
	f_varint(&b, 1, 9);
	size_t n;
	const char *err = NULL;
	cnnf_pb m = cnnf_pb_init(b.p, b.n);
	ck_assert_int_eq(cnnf_pb_count(m, 1, CNNF_PB_VARINT, &n, &err), 0);
	ck_assert_uint_eq(n, 5);
	uint64_t v[5];
	ck_assert_int_eq(cnnf_pb_scalars(m, 1, CNNF_PB_VARINT, v, n, &err), 0);
	ck_assert(v[0] == 5 && v[1] == 1 && v[2] == 300 && v[3] == UINT64_MAX && v[4] == 9);
	/* Fixed32, packed and not. */
	buf c = {0};
	f_fixed32(&c, 7, 11);
	key(&c, 7, 2);
	varint(&c, 8);
	put(&c, "\1\0\0\0\2\0\0\0", 8);
	m = cnnf_pb_init(c.p, c.n);
	ck_assert_int_eq(cnnf_pb_count(m, 7, CNNF_PB_FIXED32, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	uint32_t w[3];
	ck_assert_int_eq(cnnf_pb_scalars(m, 7, CNNF_PB_FIXED32, w, n, &err), 0);
	ck_assert(w[0] == 11 && w[1] == 1 && w[2] == 2);
	free(b.p);
	free(c.p);
}
END_TEST

START_TEST(pb_malformed)
{
	cnnf_pb_field f;
	const char *err = NULL;
	size_t n;
	/* A group (wire type 3) is refused, never skipped. */
	const unsigned char group[] = {0x0b, 0x08, 0x01, 0x0c};
	cnnf_pb m = cnnf_pb_init(group, sizeof group);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	ck_assert_ptr_nonnull(strstr(m.err, "groups"));
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	const unsigned char end_group[] = {0x0c};
	m = cnnf_pb_init(end_group, 1);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	const unsigned char wire7[] = {0x0f};
	m = cnnf_pb_init(wire7, 1);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	/* A length past the end of the message. */
	const unsigned char longer[] = {0x0a, 0x05, 'a', 'b'};
	m = cnnf_pb_init(longer, sizeof longer);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	ck_assert_ptr_nonnull(strstr(m.err, "past the end"));
	/* A length of 2^63 does not wrap around. */
	const unsigned char huge[] = {0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	m = cnnf_pb_init(huge, sizeof huge);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	/* Field number 0, a truncated fixed64. */
	const unsigned char zero[] = {0x00, 0x01};
	m = cnnf_pb_init(zero, sizeof zero);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	const unsigned char f64[] = {0x09, 1, 2, 3};
	m = cnnf_pb_init(f64, sizeof f64);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), -1);
	/* A nested message cannot reach beyond its parent. */
	const unsigned char nest[] = {0x0a, 0x02, 0x12, 0x05, 'x', 'y', 'z', 'w', 'v'};
	m = cnnf_pb_init(nest, sizeof nest);
	ck_assert_int_eq(cnnf_pb_next(&m, &f), 1);
	cnnf_pb sub = cnnf_pb_sub(&f);
	ck_assert_int_eq(cnnf_pb_next(&sub, &f), -1);
	/* Packed fixed32 of 5 bytes; a repeated varint given as fixed32. */
	const unsigned char odd[] = {0x0a, 0x05, 1, 2, 3, 4, 5};
	ck_assert_int_eq(cnnf_pb_count(cnnf_pb_init(odd, sizeof odd), 1, CNNF_PB_FIXED32, &n, &err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "multiple"));
	const unsigned char wrong[] = {0x0d, 1, 2, 3, 4};
	ck_assert_int_eq(
		cnnf_pb_count(cnnf_pb_init(wrong, sizeof wrong), 1, CNNF_PB_VARINT, &n, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "wire type"));
	/* A packed varint run that ends inside a varint. */
	const unsigned char cut[] = {0x0a, 0x02, 0x01, 0x80};
	ck_assert_int_eq(cnnf_pb_count(cnnf_pb_init(cut, sizeof cut), 1, CNNF_PB_VARINT, &n, &err),
			 -1);
}
END_TEST

/* ---- Tensors ------------------------------------------------------------------------------ */

START_TEST(f32_raw_packed_unpacked)
{
	const int64_t dim[] = {2, 3};
	const float v[] = {1.5f, -2, 0, 1e-30f, 3.25f, -0.0f};
	for (int how = PACKED; how <= RAW; how++) {
		buf t = tensor_f32("w", 2, dim, v, 6, how);
		buf m = model_init(&t, "w");
		cnnf_graph *g = parse_ok(&m);
		assert_f32(value(g, "w"), 2, dim, v, 6);
		ck_assert(value(g, "w")->is_init);
		ck_assert_int_eq(g->opset, 13);
		ck_assert_int_eq(g->nin, 0);
		ck_assert_int_eq(g->nout, 1);
		cnnf_graph_free(g);
	}
}
END_TEST

START_TEST(scalar_and_empty)
{
	const float v[] = {7};
	buf t = tensor_f32("s", 0, NULL, v, 1, RAW);
	buf m = model_init(&t, "s");
	cnnf_graph *g = parse_ok(&m);
	assert_f32(value(g, "s"), 0, NULL, v, 1);
	cnnf_graph_free(g);
	const int64_t dim[] = {3, 0};
	t = tensor_f32("e", 2, dim, NULL, 0, PACKED);
	m = model_init(&t, "e");
	g = parse_ok(&m);
	assert_f32(value(g, "e"), 2, dim, NULL, 0);
	cnnf_graph_free(g);
}
END_TEST

START_TEST(int_types)
{
	const int64_t d3[] = {3};
	/* int64, packed and not. */
	const int64_t i64[] = {-1, INT64_MAX, INT64_MIN};
	for (int how = PACKED; how <= UNPACKED; how++) {
		buf t = tensor_ints("i", 7, 7, 1, d3, i64, 3, how);
		buf m = model_init(&t, "i");
		cnnf_graph *g = parse_ok(&m);
		assert_i64(value(g, "i"), 1, d3, i64, 3);
		cnnf_graph_free(g);
	}
	/* int32_data for int32, int16, int8, uint8, uint16, bool; uint64_data for uint32, uint64. */
	static const struct {
		int dt, field;
		int64_t in[3], want[3];
	} cases[] = {{6, 5, {-5, INT32_MAX, INT32_MIN}, {-5, INT32_MAX, INT32_MIN}},
		     {5, 5, {-32768, 32767, 0}, {-32768, 32767, 0}},
		     {3, 5, {-128, 127, -1}, {-128, 127, -1}},
		     {2, 5, {0, 255, 7}, {0, 255, 7}},
		     {4, 5, {65535, 1, 2}, {65535, 1, 2}},
		     {9, 5, {1, 0, 1}, {1, 0, 1}},
		     {12, 11, {4294967295, 0, 1}, {4294967295, 0, 1}},
		     {13, 11, {INT64_MAX, 3, 0}, {INT64_MAX, 3, 0}}};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		buf t = tensor_ints("i", cases[k].dt, cases[k].field, 1, d3, cases[k].in, 3,
				    k % 2 ? PACKED : UNPACKED);
		buf m = model_init(&t, "i");
		cnnf_graph *g = parse_ok(&m);
		assert_i64(value(g, "i"), 1, d3, cases[k].want, 3);
		cnnf_graph_free(g);
	}
	/* Raw: int8 and int16 sign-extended, uint16 not, uint32, bool, int32. */
	const unsigned char r8[] = {0xff, 0x80, 0x7f};
	const int64_t w8[] = {-1, -128, 127};
	const unsigned char r16[] = {0xff, 0xff, 0x00, 0x80, 0x34, 0x12};
	const int64_t w16[] = {-1, -32768, 0x1234};
	const int64_t wu16[] = {65535, 32768, 0x1234};
	const unsigned char r32[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80, 1, 0, 0, 0};
	const int64_t w32[] = {-1, INT32_MIN, 1};
	const int64_t wu32[] = {4294967295, 2147483648, 1};
	const unsigned char rb[] = {1, 0, 1};
	const int64_t wb[] = {1, 0, 1};
	struct {
		int dt;
		const void *raw;
		size_t n;
		const int64_t *want;
	} raws[] = {{3, r8, 3, w8},   {2, r8, 3, (const int64_t[]){255, 128, 127}},
		    {5, r16, 6, w16}, {4, r16, 6, wu16},
		    {6, r32, 12, w32}, {12, r32, 12, wu32},
		    {9, rb, 3, wb}};
	for (size_t k = 0; k < sizeof raws / sizeof raws[0]; k++) {
		buf t = tensor_raw("r", raws[k].dt, 1, d3, raws[k].raw, raws[k].n);
		buf m = model_init(&t, "r");
		cnnf_graph *g = parse_ok(&m);
		assert_i64(value(g, "r"), 1, d3, raws[k].want, 3);
		cnnf_graph_free(g);
	}
}
END_TEST

START_TEST(float_types)
{
	const int64_t d5[] = {5};
	/* float16: 1, -2, the smallest subnormal, inf, 65504 (the largest). */
	const int64_t h[] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x7bff};
	const float hw[] = {1, -2, 0x1p-24f, INFINITY, 65504};
	buf t = tensor_ints("h", 10, 5, 1, d5, h, 5, PACKED);
	buf m = model_init(&t, "h");
	cnnf_graph *g = parse_ok(&m);
	assert_f32(value(g, "h"), 1, d5, hw, 5);
	cnnf_graph_free(g);
	unsigned char raw[10];
	for (int i = 0; i < 5; i++)
		le(raw + 2 * i, (uint64_t)h[i], 2);
	t = tensor_raw("h", 10, 1, d5, raw, 10);
	m = model_init(&t, "h");
	g = parse_ok(&m);
	assert_f32(value(g, "h"), 1, d5, hw, 5);
	cnnf_graph_free(g);
	/* bfloat16: the top half of a float's bits. */
	const int64_t b[] = {0x3f80, 0xc040, 0x0000, 0xff80, 0x3fc0};
	const float bw[] = {1, -3, 0, -INFINITY, 1.5f};
	t = tensor_ints("b", 16, 5, 1, d5, b, 5, UNPACKED);
	m = model_init(&t, "b");
	g = parse_ok(&m);
	assert_f32(value(g, "b"), 1, d5, bw, 5);
	cnnf_graph_free(g);
	/* double, typed (fixed64) and raw; beyond float's range it is inf. */
	const double dv[] = {0.1, -1e300, 3, 1e-50, 2.5};
	const float dw[] = {0.1f, -INFINITY, 3, 0, 2.5f};
	buf td = {0};
	f_str(&td, 8, "d");
	f_varint(&td, 2, 11);
	f_varint(&td, 1, 5);
	key(&td, 10, 2);
	varint(&td, 40);
	unsigned char draw[40];
	for (int i = 0; i < 5; i++) {
		uint64_t u;
		memcpy(&u, &dv[i], 8);
		le(draw + 8 * i, u, 8);
	}
	put(&td, draw, 40);
	m = model_init(&td, "d");
	g = parse_ok(&m);
	assert_f32(value(g, "d"), 1, d5, dw, 5);
	cnnf_graph_free(g);
	t = tensor_raw("d", 11, 1, d5, draw, 40);
	m = model_init(&t, "d");
	g = parse_ok(&m);
	assert_f32(value(g, "d"), 1, d5, dw, 5);
	cnnf_graph_free(g);
}
END_TEST

/* ---- Graphs ------------------------------------------------------------------------------- */

START_TEST(constants)
{
	const int64_t ints[] = {3, -4};
	const float floats[] = {0.5f, 2};
	const float tv[] = {1, 2, 3, 4};
	const int64_t tdim[] = {2, 2};
	buf a[5];
	a[0] = attr_float("value_float", 2.5f);
	a[1] = attr_int("value_int", -7);
	a[2] = attr_ints("value_ints", ints, 2, PACKED);
	a[3] = attr_floats("value_floats", floats, 2, UNPACKED);
	buf t = tensor_f32(NULL, 2, tdim, tv, 4, RAW);
	a[4] = attr_tensor("value", &t);
	const char *names[] = {"cf", "ci", "cis", "cfs", "ct"};
	buf g = {0};
	for (int i = 0; i < 5; i++) {
		const char *out[] = {names[i], NULL};
		buf n = node(names[i], "Constant", NULL, out, &a[i], 1);
		f_msg(&g, 1, &n);
	}
	for (int i = 0; i < 5; i++) {
		buf vi = value_info(names[i], 1, -1, NULL);
		f_msg(&g, 12, &vi);
	}
	buf m = model(8, 13, &g);
	cnnf_graph *gr = parse_ok(&m);
	ck_assert_int_eq(gr->nnode, 0);
	const float cf = 2.5f;
	const int64_t ci = -7;
	const int64_t d2[] = {2};
	assert_f32(value(gr, "cf"), 0, NULL, &cf, 1);
	assert_i64(value(gr, "ci"), 0, NULL, &ci, 1);
	assert_i64(value(gr, "cis"), 1, d2, ints, 2);
	assert_f32(value(gr, "cfs"), 1, d2, floats, 2);
	assert_f32(value(gr, "ct"), 2, tdim, tv, 4);
	for (int i = 0; i < 5; i++)
		ck_assert(value(gr, names[i])->is_init);
	cnnf_graph_free(gr);
}
END_TEST

START_TEST(inputs_declared)
{
	/* x: 1 x 3 x N x N; w is an initializer also listed as an input (IR 3 style). */
	const float wv[] = {1, 2};
	const int64_t wd[] = {2};
	buf t = tensor_f32("w", 1, wd, wv, 2, PACKED);
	buf g = {0};
	f_msg(&g, 5, &t);
	const int64_t xd[] = {1, 3, -1, -1};
	buf vi = value_info("x", 1, 4, xd);
	f_msg(&g, 11, &vi);
	vi = value_info("w", 1, 1, wd);
	f_msg(&g, 11, &vi);
	vi = value_info("idx", 7, 0, NULL);
	f_msg(&g, 11, &vi);
	vi = value_info("w", 1, -1, NULL);
	f_msg(&g, 12, &vi);
	buf m = model(3, 7, &g);
	cnnf_graph *gr = parse_ok(&m);
	ck_assert_int_eq(gr->opset, 7);
	ck_assert_int_eq(gr->nin, 2);
	ck_assert_int_eq(gr->in[0], cnnf_graph_find(gr, "x"));
	ck_assert_int_eq(gr->in_ndim[0], 4);
	ck_assert(gr->in_dim[0][0] == 1 && gr->in_dim[0][1] == 3 && gr->in_dim[0][2] == -1 &&
		  gr->in_dim[0][3] == -1);
	ck_assert_int_eq(gr->in[1], cnnf_graph_find(gr, "idx"));
	ck_assert_int_eq(gr->in_ndim[1], 0);
	cnnf_graph_free(gr);
}
END_TEST

START_TEST(versions_and_unknown_fields)
{
	/* IR 3 and 9, opsets 7 and 18, every kind of unknown field in each message. */
	for (int k = 0; k < 2; k++) {
		const float v[] = {1};
		buf t = tensor_f32("w", 0, NULL, v, 1, RAW);
		f_varint(&t, 99, 1);
		f_fixed32(&t, 98, 1);
		key(&t, 97, 1);
		put(&t, "12345678", 8);
		f_str(&t, 12, "doc");
		const char *outs[] = {"w", NULL};
		buf g = graph_of(&t, 1, outs);
		f_str(&g, 10, "a doc string");
		f_varint(&g, 77, 5);
		buf m = model(k ? 9 : 3, k ? 18 : 7, &g);
		f_str(&m, 3, "1.0");
		f_varint(&m, 5, 2);
		f_str(&m, 6, "doc");
		buf op = {0};
		f_str(&op, 1, "com.example");
		f_varint(&op, 2, 1);
		f_msg(&m, 8, &op);
		key(&m, 55, 5);
		put(&m, "abcd", 4);
		cnnf_graph *gr = parse_ok(&m);
		ck_assert_int_eq(gr->opset, k ? 18 : 7);
		cnnf_graph_free(gr);
	}
}
END_TEST

START_TEST(external_data)
{
	const char *dir = cnnf_test_tmpdir();
	char path[4200], wpath[4200];
	snprintf(wpath, sizeof wpath, "%s/onnx_weights.bin", dir);
	/* 8 bytes of padding, then 3 floats. */
	unsigned char bytes[20] = {0};
	const float v[] = {1, -2, 0.25f};
	for (int i = 0; i < 3; i++)
		le(bytes + 8 + 4 * i, fbits(v[i]), 4);
	write_file(wpath, bytes, sizeof bytes);
	buf t = {0}, e = {0};
	f_str(&t, 8, "w");
	f_varint(&t, 2, 1);
	f_varint(&t, 1, 3);
	f_str(&e, 1, "location");
	f_str(&e, 2, "onnx_weights.bin");
	f_msg(&t, 13, &e);
	f_str(&e, 1, "offset");
	f_str(&e, 2, "8");
	f_msg(&t, 13, &e);
	f_str(&e, 1, "length");
	f_str(&e, 2, "12");
	f_msg(&t, 13, &e);
	f_varint(&t, 14, 1);
	buf m = model_init(&t, "w");
	snprintf(path, sizeof path, "%s/onnx_external.onnx", dir);
	write_file(path, m.p, m.n);
	free(m.p);
	cnnf_graph *g = NULL;
	ck_assert_msg(cnnf_onnx_load(path, NULL, &g) == 0, "%s", cnnf_error_get());
	const int64_t d3[] = {3};
	assert_f32(value(g, "w"), 1, d3, v, 3);
	ck_assert_str_eq(g->file, path);
	cnnf_graph_free(g);
}
END_TEST

START_TEST(tensor_file)
{
	const int64_t dim[] = {1, 2};
	const float v[] = {3, 4};
	buf t = tensor_f32("x", 2, dim, v, 2, PACKED);
	char path[4200];
	snprintf(path, sizeof path, "%s/onnx_input_0.pb", cnnf_test_tmpdir());
	write_file(path, t.p, t.n);
	free(t.p);
	cnnf_value val;
	ck_assert_msg(cnnf_onnx_tensor_read(path, NULL, &val) == 0, "%s", cnnf_error_get());
	ck_assert_str_eq(val.name, "x");
	assert_f32(&val, 2, dim, v, 2);
	cnnf_onnx_tensor_clear(&val);
	ck_assert_ptr_null(val.data);
	/* ONNX's own test data, where installed. */
	const char *abs = "/usr/share/libonnx-testdata/data/node/test_abs/test_data_set_0/input_0.pb";
	if (access(abs, R_OK) == 0) {
		ck_assert_msg(cnnf_onnx_tensor_read(abs, NULL, &val) == 0, "%s", cnnf_error_get());
		ck_assert_int_eq(val.type, CNNF_DT_F32);
		ck_assert_int_eq(val.ndim, 3);
		ck_assert(val.dim[0] == 3 && val.dim[1] == 4 && val.dim[2] == 5);
		cnnf_onnx_tensor_clear(&val);
	}
}
END_TEST

START_TEST(sniff)
{
	const float v[] = {1};
	buf t = tensor_f32("w", 0, NULL, v, 1, RAW);
	buf m = model_init(&t, "w");
	ck_assert_int_eq(cnnf_onnx_is(m.p, m.n), 1);
	ck_assert_int_eq(cnnf_onnx_is(m.p, 2), 1);
	/* Without ir_version first: the producer, then the graph. */
	buf g = {0};
	f_str(&g, 2, "g");
	buf m2 = {0};
	f_str(&m2, 2, "pytorch");
	f_msg(&m2, 7, &g);
	ck_assert_int_eq(cnnf_onnx_is(m2.p, m2.n), 1);
	free(m2.p);
	static const struct {
		const char *bytes;
		size_t n;
	} no[] = {
		{"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16},
		{"\xff\xd8\xff\xe0\0\x10JFIF\0", 11},
		{"P6\n3 2\n255\n", 11},
		{"\x93NUMPY\x01\0v\0{'descr'", 18},
		{"hello world\n", 12},
		{"Bonjour, this is text", 21},
		{": a line of text here", 21},
		{"cnnf-model 1\n", 13},
		{"\x08\xc8\x01", 3},
		{"", 0},
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		ck_assert_msg(cnnf_onnx_is((const unsigned char *)no[i].bytes, no[i].n) == 0,
			      "case %zu taken as ONNX", i);
	free(m.p);
	const char *real = "/usr/share/libonnx-testdata/data/node/test_abs/model.onnx";
	FILE *fp = fopen(real, "rb");
	if (fp) {
		unsigned char head[64];
		size_t n = fread(head, 1, sizeof head, fp);
		fclose(fp);
		ck_assert_int_eq(cnnf_onnx_is(head, n), 1);
	}
}
END_TEST

/* ---- Errors ------------------------------------------------------------------------------- */

START_TEST(err_versions)
{
	const float v[] = {1};
	buf t = tensor_f32("w", 0, NULL, v, 1, RAW);
	const char *outs[] = {"w", NULL};
	buf g = graph_of(&t, 1, outs);
	buf m = model(99, 13, &g);
	parse_fails(&m, "ir_version 99 not supported");
	t = tensor_f32("w", 0, NULL, v, 1, RAW);
	g = graph_of(&t, 1, outs);
	m = model(2, 13, &g);
	parse_fails(&m, "ir_version 2 not supported");
	t = tensor_f32("w", 0, NULL, v, 1, RAW);
	g = graph_of(&t, 1, outs);
	m = model(8, 5, &g);
	parse_fails(&m, "opset 5 not supported (7 to 18)");
	t = tensor_f32("w", 0, NULL, v, 1, RAW);
	g = graph_of(&t, 1, outs);
	m = model(8, 19, &g);
	parse_fails(&m, "opset 19 not supported");
	/* No opset for ai.onnx; no graph; no ir_version. */
	buf mm = {0}, op = {0};
	f_varint(&mm, 1, 8);
	t = tensor_f32("w", 0, NULL, v, 1, RAW);
	g = graph_of(&t, 1, outs);
	f_msg(&mm, 7, &g);
	f_str(&op, 1, "com.microsoft");
	f_varint(&op, 2, 1);
	f_msg(&mm, 8, &op);
	parse_fails(&mm, "no opset_import for the ai.onnx domain");
	f_varint(&mm, 1, 8);
	parse_fails(&mm, "no graph");
	f_str(&mm, 2, "x");
	parse_fails(&mm, "no ir_version");
}
END_TEST

START_TEST(err_truncated_and_random)
{
	const int64_t dim[] = {2, 2};
	const float v[] = {1, 2, 3, 4};
	buf t = tensor_f32("w", 2, dim, v, 4, RAW);
	buf m = model_init(&t, "w");
	/* Every proper prefix fails, with one message naming the file. */
	for (size_t n = 0; n < m.n; n++) {
		cnnf_graph *g = NULL;
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_onnx_parse(m.p, n, "m.onnx", NULL, NULL, &g), -1);
		ck_assert_msg(strncmp(cnnf_error_get(), "m.onnx: ", 8) == 0, "prefix %zu: '%s'", n,
			      cnnf_error_get());
		ck_assert_ptr_null(g);
	}
	free(m.p);
	/* Random bytes. */
	uint64_t s = 12345;
	unsigned char r[300];
	for (int k = 0; k < 2000; k++) {
		size_t n = (size_t)(k % 300);
		for (size_t i = 0; i < n; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			r[i] = (unsigned char)(s >> 56);
		}
		cnnf_graph *g = NULL;
		cnnf_error_clear();
		if (cnnf_onnx_parse(r, n, "m.onnx", NULL, NULL, &g) == 0) {
			cnnf_graph_free(g);
			continue;
		}
		ck_assert_msg(strncmp(cnnf_error_get(), "m.onnx: ", 8) == 0, "'%s'",
			      cnnf_error_get());
	}
	const unsigned char group[] = {0x08, 0x08, 0x0b, 0x0c};
	buf gm = {0};
	put(&gm, group, sizeof group);
	parse_fails(&gm, "groups (wire types 3 and 4) not supported");
}
END_TEST

START_TEST(err_tensor_data)
{
	const int64_t d4[] = {4};
	const float v[] = {1, 2, 3};
	/* raw_data short. */
	buf t = tensor_f32("w", 1, d4, v, 3, RAW);
	buf m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': raw_data has 12 bytes, dims need 16");
	t = tensor_f32("w", 1, d4, v, 3, PACKED);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': float_data has 3 elements, dims need 4");
	t = tensor_f32("w", 1, d4, NULL, 0, PACKED);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': no data for 4 elements");
	/* Both raw and typed. */
	t = tensor_f32("w", 1, d4, v, 3, UNPACKED);
	f_bytes(&t, 9, "0123456789abcdef", 16);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': more than one of raw_data, float_data");
	/* int64_data for a float tensor. */
	t = tensor_f32("w", 1, d4, NULL, 0, PACKED);
	f_varint(&t, 7, 1);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': int64_data given for a float tensor");
	/* Types refused by name. */
	static const struct {
		int dt;
		const char *msg;
	} types[] = {{8, "data type 8 (string) not supported"},
		     {14, "data type 14 (complex64) not supported"},
		     {15, "data type 15 (complex128) not supported"},
		     {17, "data type 17 (float8e4m3fn) not supported"},
		     {0, "data type 0 (undefined) not supported"},
		     {1000, "data type 1000 (unknown) not supported"}};
	for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
		t = tensor_raw("w", types[k].dt, 1, d4, "0123456789abcdef", 16);
		m = model_init(&t, "w");
		parse_fails(&m, types[k].msg);
	}
	/* uint64 above INT64_MAX, typed and raw; int8 out of its range; float16 bits above 16. */
	const int64_t d1[] = {1};
	const int64_t big[] = {-1};
	t = tensor_ints("u", 13, 11, 1, d1, big, 1, PACKED);
	m = model_init(&t, "u");
	parse_fails(&m, "initializer 'u': uint64_data element 0: uint64 value above INT64_MAX");
	t = tensor_raw("u", 13, 1, d1, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	m = model_init(&t, "u");
	parse_fails(&m, "initializer 'u': element 0: uint64 value above INT64_MAX");
	const int64_t i300[] = {300};
	t = tensor_ints("b", 3, 5, 1, d1, i300, 1, UNPACKED);
	m = model_init(&t, "b");
	parse_fails(&m, "initializer 'b': int32_data element 0: int32_data value out of its type's range");
	const int64_t h[] = {0x10000};
	t = tensor_ints("h", 10, 5, 1, d1, h, 1, UNPACKED);
	m = model_init(&t, "h");
	parse_fails(&m, "initializer 'h': int32_data element 0");
	/* Segments, data_location 2. */
	t = tensor_f32("w", 1, d4, NULL, 0, PACKED);
	f_bytes(&t, 3, "\x08\x00", 2);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': segmented tensors not supported");
	t = tensor_f32("w", 1, d4, NULL, 0, PACKED);
	f_varint(&t, 14, 2);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': data_location 2 not supported");
}
END_TEST

START_TEST(err_dims)
{
	/* 2^40 elements: refused before any allocation, as are dims whose product overflows. */
	const int64_t huge[] = {1 << 20, 1 << 20};
	buf t = tensor_f32("w", 2, huge, NULL, 0, RAW);
	buf m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': shape 1048576x1048576 has more elements than the limit of "
			"268435456");
	const int64_t over[] = {1ll << 40, 1ll << 40, 1ll << 40};
	t = tensor_f32("w", 3, over, NULL, 0, RAW);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': shape 1099511627776x1099511627776x1099511627776 has more");
	const int64_t neg[] = {2, -1};
	t = tensor_f32("w", 2, neg, NULL, 0, RAW);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': dimension 1 is -1");
	const int64_t nine[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	const float one[] = {1};
	t = tensor_f32("w", 9, nine, one, 1, RAW);
	m = model_init(&t, "w");
	parse_fails(&m, "initializer 'w': 9 dimensions, at most 8 supported");
	/* A graph input with a negative dim_value, and with 9 dims. */
	buf gg = {0};
	const int64_t d1[] = {1};
	t = tensor_f32("w", 1, d1, one, 1, RAW);
	f_msg(&gg, 5, &t);
	buf vi = {0}, tt = {0}, tp = {0}, sh = {0}, dd = {0};
	f_varint(&dd, 1, (uint64_t)-3);
	f_msg(&sh, 1, &dd);
	f_varint(&tt, 1, 1);
	f_msg(&tt, 2, &sh);
	f_msg(&tp, 1, &tt);
	f_str(&vi, 1, "x");
	f_msg(&vi, 2, &tp);
	f_msg(&gg, 11, &vi);
	m = model(8, 13, &gg);
	parse_fails(&m, "input 'x': dimension 0 is -3");
	gg = (buf){0};
	vi = value_info("x", 1, 9, nine);
	f_msg(&gg, 11, &vi);
	m = model(8, 13, &gg);
	parse_fails(&m, "input 'x': more than 8 dimensions not supported");
	gg = (buf){0};
	vi = value_info("x", 8, 1, d1);
	f_msg(&gg, 11, &vi);
	m = model(8, 13, &gg);
	parse_fails(&m, "input 'x': data type 8 (string) not supported");
}
END_TEST

START_TEST(err_external)
{
	const char *dir = cnnf_test_tmpdir();
	char path[4200];
	unsigned char bytes[16] = {0};
	snprintf(path, sizeof path, "%s/onnx_ext16.bin", dir);
	write_file(path, bytes, sizeof bytes);
	snprintf(path, sizeof path, "%s/onnx_link_out", dir);
	unlink(path);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	static const struct {
		const char *loc, *offset, *length;
		const char *msg;
	} cases[] = {
		{"onnx_missing.bin", NULL, NULL, "initializer 'w': external data 'onnx_missing.bin': No such file"},
		{"/etc/passwd", NULL, NULL, "initializer 'w': external data location '/etc/passwd' is an absolute path"},
		{"../tmp/onnx_ext16.bin", NULL, NULL, "leads out of the model's folder"},
		{"sub/../../x", NULL, NULL, "leads out of the model's folder"},
		{"onnx_link_out", NULL, NULL, "initializer 'w': external data 'onnx_link_out' leads out of the model's folder"},
		{"onnx_ext16.bin", "8", NULL, "external data 'onnx_ext16.bin' has 16 bytes, offset 8 and length 16 need more"},
		{"onnx_ext16.bin", NULL, "12", "initializer 'w': external data of 12 bytes, dims need 16"},
		{"onnx_ext16.bin", "x1", NULL, "external data offset 'x1' is not a number"},
		{"onnx_ext16.bin", "99999999999999999999999", NULL, "is not a number"},
		{"", NULL, NULL, "external data without a location"},
		{".", NULL, NULL, "external data '.' leads out of the model's folder"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		buf t = {0}, e = {0};
		f_str(&t, 8, "w");
		f_varint(&t, 2, 1);
		f_varint(&t, 1, 4);
		f_str(&e, 1, "location");
		f_str(&e, 2, cases[k].loc);
		f_msg(&t, 13, &e);
		if (cases[k].offset) {
			f_str(&e, 1, "offset");
			f_str(&e, 2, cases[k].offset);
			f_msg(&t, 13, &e);
		}
		if (cases[k].length) {
			f_str(&e, 1, "length");
			f_str(&e, 2, cases[k].length);
			f_msg(&t, 13, &e);
		}
		f_varint(&t, 14, 1);
		buf m = model_init(&t, "w");
		snprintf(path, sizeof path, "%s/onnx_bad_ext.onnx", dir);
		write_file(path, m.p, m.n);
		cnnf_graph *g = NULL;
		cnnf_error_clear();
		ck_assert_int_eq(cnnf_onnx_load(path, NULL, &g), -1);
		ck_assert_msg(strstr(cnnf_error_get(), cases[k].msg) != NULL, "case %zu: '%s'", k,
			      cnnf_error_get());
		ck_assert(strncmp(cnnf_error_get(), path, strlen(path)) == 0);
		/* In memory without a folder, external data is refused. */
		if (k == 0) {
			cnnf_error_clear();
			ck_assert_int_eq(cnnf_onnx_parse(m.p, m.n, "m.onnx", NULL, NULL, &g), -1);
			ck_assert_error_has("m.onnx: initializer 'w': external data not supported here");
		}
		free(m.p);
	}
}
END_TEST

START_TEST(err_nodes)
{
	/* A domain other than ai.onnx. */
	const char *in[] = {"x", NULL}, *out[] = {"y", NULL};
	buf n = node("n1", "Foo", in, out, NULL, 0);
	f_str(&n, 7, "com.microsoft");
	buf g = {0};
	f_msg(&g, 1, &n);
	buf m = model(8, 13, &g);
	parse_fails(&m, "m.onnx: node 'n1' (Foo): domain 'com.microsoft' not supported");
	/* A graph attribute. */
	buf a = {0}, sub = {0};
	f_str(&a, 1, "then_branch");
	f_varint(&a, 20, 5);
	f_str(&sub, 2, "then");
	f_msg(&a, 6, &sub);
	n = node("if1", "If", in, out, &a, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "m.onnx: node 'if1' (If): attribute 'then_branch': graph attributes not "
			"supported");
	/* Without a type, the graph field says what it is. */
	a = (buf){0};
	f_str(&a, 1, "body");
	f_str(&sub, 2, "b");
	f_msg(&a, 6, &sub);
	n = node("loop", "Loop", in, out, &a, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'loop' (Loop): attribute 'body': graph attributes not supported");
	/* Constant: sparse_value, value_string, two attributes, no output. */
	a = (buf){0};
	f_str(&a, 1, "sparse_value");
	f_varint(&a, 20, 11);
	f_bytes(&a, 22, "", 0);
	n = node("c", "Constant", NULL, out, &a, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): attribute 'sparse_value': sparse tensor attributes not "
			"supported");
	a = (buf){0};
	f_str(&a, 1, "value_string");
	f_varint(&a, 20, 3);
	f_str(&a, 4, "text");
	n = node("c", "Constant", NULL, out, &a, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): attribute 'value_string' (string) not supported");
	buf two[2] = {attr_int("value_int", 1), attr_float("value_float", 1)};
	n = node("c", "Constant", NULL, out, two, 2);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): 2 attributes, expected 1");
	two[0] = attr_int("value_int", 1);
	n = node("c", "Constant", NULL, NULL, two, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): 0 outputs, expected 1");
	/* A Constant tensor with bad data names the node and the attribute. */
	const int64_t d4[] = {4};
	const float v[] = {1};
	buf t = tensor_f32(NULL, 1, d4, v, 1, RAW);
	a = attr_tensor("value", &t);
	n = node("c", "Constant", NULL, out, &a, 1);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): attribute 'value': raw_data has 4 bytes, dims need 16");
	/* A Constant whose output is also an initializer; an initializer given twice. */
	t = tensor_f32("y", 0, NULL, v, 1, RAW);
	g = (buf){0};
	f_msg(&g, 5, &t);
	two[0] = attr_int("value_int", 1);
	n = node("c", "Constant", NULL, out, two, 1);
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): value 'y' defined twice");
	buf ts[2] = {tensor_f32("w", 0, NULL, v, 1, RAW), tensor_f32("w", 0, NULL, v, 1, RAW)};
	g = graph_of(ts, 2, NULL);
	m = model(8, 13, &g);
	parse_fails(&m, "initializer 'w': value 'w' defined twice");
	/* Attribute given twice, no op_type, a control byte in a name. */
	two[0] = attr_int("value_int", 1);
	two[1] = attr_int("value_int", 2);
	n = node("c", "Constant", NULL, out, two, 2);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'c' (Constant): attribute 'value_int' given twice");
	n = (buf){0};
	f_str(&n, 3, "nameless");
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node 'nameless' has no op_type");
	n = node("bad\nname", "Relu", in, out, NULL, 0);
	g = (buf){0};
	f_msg(&g, 1, &n);
	m = model(8, 13, &g);
	parse_fails(&m, "node: name holds a control byte (0x0a)");
	/* Sparse initializers, sequence inputs. */
	g = (buf){0};
	f_bytes(&g, 15, "", 0);
	m = model(8, 13, &g);
	parse_fails(&m, "sparse initializers not supported");
	buf vi = {0}, tp = {0}, seq = {0};
	f_msg(&tp, 4, &seq);
	f_str(&vi, 1, "s");
	f_msg(&vi, 2, &tp);
	g = (buf){0};
	f_msg(&g, 11, &vi);
	m = model(8, 13, &g);
	parse_fails(&m, "input 's': sequence, map and optional types not supported");
	/* A field of the wrong wire type. */
	buf mm = {0};
	f_str(&mm, 1, "8");
	parse_fails(&mm, "ir_version has wire type 2, expected 0");
}
END_TEST

START_TEST(err_tensor_file)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/onnx_short.pb", cnnf_test_tmpdir());
	const int64_t d2[] = {2};
	const float v[] = {1};
	buf t = tensor_f32("x", 1, d2, v, 1, RAW);
	write_file(path, t.p, t.n);
	free(t.p);
	cnnf_value val;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_onnx_tensor_read(path, NULL, &val), -1);
	ck_assert_error_has("onnx_short.pb: tensor 'x': raw_data has 4 bytes, dims need 8");
	ck_assert_int_eq(cnnf_onnx_tensor_read("/nonexistent/input_0.pb", NULL, &val), -1);
	ck_assert_error_has("/nonexistent/input_0.pb: No such file");
	/* The limits bound a tensor file before it is read. */
	cnnf_graph_limits lim = {.max_elements = 1, .max_activation = 1, .max_params = 1};
	t = tensor_f32("x", 1, d2, NULL, 0, RAW);
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_onnx_tensor_parse(t.p, t.n, "t.pb", NULL, &lim, &val), -1);
	ck_assert_error_has("t.pb: tensor 'x': shape 2 has more elements than the limit of 1");
	free(t.p);
}
END_TEST

static Suite *onnx_suite(void)
{
	Suite *s = suite_create("onnx");
	TCase *core = tcase_create("core");
	tcase_add_test(core, pb_varints);
	tcase_add_test(core, pb_fields_skipped);
	tcase_add_test(core, pb_packed_and_unpacked);
	tcase_add_test(core, f32_raw_packed_unpacked);
	tcase_add_test(core, scalar_and_empty);
	tcase_add_test(core, int_types);
	tcase_add_test(core, float_types);
	tcase_add_test(core, constants);
	tcase_add_test(core, inputs_declared);
	tcase_add_test(core, versions_and_unknown_fields);
	tcase_add_test(core, external_data);
	tcase_add_test(core, tensor_file);
	tcase_add_test(core, sniff);
	suite_add_tcase(s, core);
	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, pb_malformed);
	tcase_add_test(errors, err_versions);
	tcase_add_test(errors, err_truncated_and_random);
	tcase_add_test(errors, err_tensor_data);
	tcase_add_test(errors, err_dims);
	tcase_add_test(errors, err_external);
	tcase_add_test(errors, err_nodes);
	tcase_add_test(errors, err_tensor_file);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(onnx_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
