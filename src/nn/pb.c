/* pb.c: a bounded reader of protobuf's wire format (see pb.h): fields, nested messages, repeated scalars. */
#include <string.h>

#include "nn/pb.h"

cnnf_pb cnnf_pb_init(const unsigned char *buf, size_t len)
{
	cnnf_pb m = {buf, buf + len, NULL};
	return m;
}

cnnf_pb cnnf_pb_sub(const cnnf_pb_field *f)
{
	return cnnf_pb_init(f->data, f->len);
}

uint32_t cnnf_pb_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t cnnf_pb_le64(const unsigned char *p)
{
	return (uint64_t)cnnf_pb_le32(p) | (uint64_t)cnnf_pb_le32(p + 4) << 32;
}

int cnnf_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	const unsigned char *q = *p;
	uint64_t x = 0;
	for (int i = 0; i < 10; i++) {
		if (q >= end)
			return -1;
		unsigned b = *q++;
		/* The tenth byte may carry only the 64th bit. */
		if (i == 9 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			*p = q;
			return 0;
		}
	}
	return -1;
}

static int fail(cnnf_pb *m, const char *why)
{
	m->err = why;
	m->p = m->end;
	return -1;
}

int cnnf_pb_next(cnnf_pb *m, cnnf_pb_field *f)
{
	if (m->err)
		return -1;
	if (m->p >= m->end)
		return 0;
	uint64_t key;
	if (cnnf_pb_varint(&m->p, m->end, &key) < 0)
		return fail(m, "truncated or overlong field key");
	uint64_t num = key >> 3;
	if (num == 0 || num > 0x1fffffff)
		return fail(m, "field number out of range");
	f->num = (uint32_t)num;
	f->wire = (int)(key & 7);
	f->v = 0;
	f->data = NULL;
	f->len = 0;
	size_t left = (size_t)(m->end - m->p);
	switch (f->wire) {
	case CNNF_PB_VARINT:
		if (cnnf_pb_varint(&m->p, m->end, &f->v) < 0)
			return fail(m, "truncated or overlong varint");
		break;
	case CNNF_PB_FIXED64:
		if (left < 8)
			return fail(m, "truncated 64-bit field");
		f->v = cnnf_pb_le64(m->p);
		m->p += 8;
		break;
	case CNNF_PB_FIXED32:
		if (left < 4)
			return fail(m, "truncated 32-bit field");
		f->v = cnnf_pb_le32(m->p);
		m->p += 4;
		break;
	case CNNF_PB_LEN: {
		uint64_t len;
		if (cnnf_pb_varint(&m->p, m->end, &len) < 0)
			return fail(m, "truncated or overlong length");
		if (len > (uint64_t)(m->end - m->p))
			return fail(m, "length runs past the end of its message");
		f->data = m->p;
		f->len = (size_t)len;
		m->p += len;
		break;
	}
	case 3:
	case 4:
		return fail(m, "groups (wire types 3 and 4) not supported");
	default:
		return fail(m, "invalid wire type");
	}
	return 1;
}

/* Size of one packed element of a fixed kind, 0 for varints. */
static size_t fixed_size(int kind)
{
	return kind == CNNF_PB_FIXED32 ? 4 : kind == CNNF_PB_FIXED64 ? 8 : 0;
}

cnnf_pb_iter cnnf_pb_iter_init(cnnf_pb m, uint32_t num, int kind)
{
	cnnf_pb_iter it = {m, num, kind, NULL, NULL, NULL};
	return it;
}

static int iter_fail(cnnf_pb_iter *it, const char *why)
{
	it->err = why;
	it->p = it->end = NULL;
	it->m.p = it->m.end;
	return -1;
}

int cnnf_pb_iter_next(cnnf_pb_iter *it, uint64_t *v)
{
	if (it->err)
		return -1;
	for (;;) {
		if (it->p && it->p < it->end) {
			size_t sz = fixed_size(it->kind);
			if (!sz) {
				if (cnnf_pb_varint(&it->p, it->end, v) < 0)
					return iter_fail(it, "truncated or overlong varint in a packed array");
			} else {
				*v = sz == 4 ? cnnf_pb_le32(it->p) : cnnf_pb_le64(it->p);
				it->p += sz;
			}
			return 1;
		}
		cnnf_pb_field f;
		int r = cnnf_pb_next(&it->m, &f);
		if (r < 0)
			return iter_fail(it, it->m.err);
		if (r == 0)
			return 0;
		if (f.num != it->num)
			continue;
		if (f.wire == it->kind) {
			*v = f.v;
			return 1;
		}
		if (f.wire != CNNF_PB_LEN)
			return iter_fail(it, "repeated field of the wrong wire type");
		size_t sz = fixed_size(it->kind);
		if (sz && f.len % sz)
			return iter_fail(it, "packed array of a size no multiple of its elements");
		it->p = f.data;
		it->end = f.data + f.len;
	}
}

int cnnf_pb_count(cnnf_pb m, uint32_t num, int kind, size_t *n, const char **err)
{
	cnnf_pb_iter it = cnnf_pb_iter_init(m, num, kind);
	uint64_t v;
	size_t k = 0;
	int r;
	while ((r = cnnf_pb_iter_next(&it, &v)) > 0)
		k++;
	if (r < 0) {
		*err = it.err;
		return -1;
	}
	*n = k;
	return 0;
}

int cnnf_pb_scalars(cnnf_pb m, uint32_t num, int kind, void *out, size_t n, const char **err)
{
	cnnf_pb_iter it = cnnf_pb_iter_init(m, num, kind);
	for (size_t k = 0; k < n; k++) {
		uint64_t v;
		int r = cnnf_pb_iter_next(&it, &v);
		if (r <= 0) {
			*err = r < 0 ? it.err : "repeated field shorter than counted";
			return -1;
		}
		if (kind == CNNF_PB_FIXED32)
			((uint32_t *)out)[k] = (uint32_t)v;
		else
			((uint64_t *)out)[k] = v;
	}
	return 0;
}
