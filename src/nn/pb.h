/* pb.h: a bounded reader of protobuf's wire format, the subset ONNX files need. */
#ifndef CNNF_PB_H
#define CNNF_PB_H

#include <stddef.h>
#include <stdint.h>

/*
 * The contract.
 *
 * A message is a byte range [p, end). cnnf_pb_next() walks its fields one
 * at a time; a length-delimited field's bytes are checked to lie inside the
 * enclosing range before they are handed out, so a nested message read
 * with cnnf_pb_sub() can never reach outside its parent. Nothing here
 * allocates (the scalar readers fill arrays the caller sized with
 * cnnf_pb_count()), nothing is copied, and no schema is known: the caller
 * picks the fields it wants by number and skips the rest.
 *
 * Refused: a varint of more than 10 bytes or beyond 64 bits, field number
 * 0 or above 2^29-1, wire types 3 and 4 (groups) and 6, 7, a length or a
 * fixed-size field running past the end of its message. On failure the
 * reader's `err` says what was wrong (a static string, no file name:
 * callers add where it was) and every later call fails the same way.
 */

/* Wire types. */
enum {
	CNNF_PB_VARINT = 0,
	CNNF_PB_FIXED64 = 1,
	CNNF_PB_LEN = 2,
	CNNF_PB_FIXED32 = 5
};

/* A message being read. */
typedef struct cnnf_pb {
	const unsigned char *p;   /* the next field */
	const unsigned char *end; /* one past the message's last byte */
	const char *err;          /* NULL, or why reading stopped */
} cnnf_pb;

/* One field as read. */
typedef struct cnnf_pb_field {
	uint32_t num;              /* field number, >= 1 */
	int wire;                  /* CNNF_PB_* */
	uint64_t v;                /* VARINT, FIXED64 and FIXED32 (low 32 bits) values */
	const unsigned char *data; /* LEN: the bytes, inside the message */
	size_t len;                /* LEN: how many */
} cnnf_pb_field;

/* A reader over len bytes at buf. */
cnnf_pb cnnf_pb_init(const unsigned char *buf, size_t len);

/* A reader over a LEN field's bytes (a nested message, or a packed array). */
cnnf_pb cnnf_pb_sub(const cnnf_pb_field *f);

/*
 * The next field of m into *f: 1, 0 at the end of the message, or -1 with
 * m->err set. Fields of unknown wire type are refused, never skipped
 * blindly, so every field a caller ignores has been bounds-checked.
 */
int cnnf_pb_next(cnnf_pb *m, cnnf_pb_field *f);

/*
 * One varint at *p (before end) into *v, advancing *p: 0, or -1 when it is
 * truncated, longer than 10 bytes or beyond 64 bits.
 */
int cnnf_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/*
 * Repeated scalars: every occurrence of field num in message m, as `kind`
 * (CNNF_PB_VARINT, CNNF_PB_FIXED32 or CNNF_PB_FIXED64), each either a
 * field of its own (unpacked) or a LEN field holding a run of them
 * (packed); both may be mixed, in file order.
 */

/* An iterator over the elements of one repeated scalar field. */
typedef struct cnnf_pb_iter {
	cnnf_pb m;                     /* the rest of the message */
	uint32_t num;                  /* the field */
	int kind;                      /* CNNF_PB_VARINT, CNNF_PB_FIXED32 or CNNF_PB_FIXED64 */
	const unsigned char *p, *end;  /* the rest of the packed run being read, if any */
	const char *err;               /* NULL, or why iterating stopped */
} cnnf_pb_iter;

/* An iterator over field num of message m, elements as `kind`. */
cnnf_pb_iter cnnf_pb_iter_init(cnnf_pb m, uint32_t num, int kind);

/*
 * The next element into *v (FIXED32 in the low 32 bits): 1, 0 at the end,
 * or -1 with it->err set (a malformed field, or one of another wire type).
 */
int cnnf_pb_iter_next(cnnf_pb_iter *it, uint64_t *v);

/* How many elements field num holds: 0 and *n, or -1 and *err on a malformed field or wire type. */
int cnnf_pb_count(cnnf_pb m, uint32_t num, int kind, size_t *n, const char **err);

/*
 * The first n elements, in order, into out[0..n) (n from cnnf_pb_count):
 * uint64_t for VARINT and FIXED64, uint32_t for FIXED32. 0, or -1 with
 * *err (also when there are fewer than n).
 */
int cnnf_pb_scalars(cnnf_pb m, uint32_t num, int kind, void *out, size_t n, const char **err);

/* Little-endian loads, whatever the host. */
uint32_t cnnf_pb_le32(const unsigned char *p);
uint64_t cnnf_pb_le64(const unsigned char *p);

#endif
