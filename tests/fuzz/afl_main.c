/*
 * afl_main.c: a main() for the fuzz harnesses without libFuzzer. Built with
 * AFL++'s afl-clang-fast it runs in persistent mode on AFL's shared-memory
 * input; built with any compiler it runs the harness once on each file named
 * on the command line, or on standard input when none is.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h> /* read(), which AFL's macros use */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are cut, as libFuzzer's -max_len would. */
#define MAX_INPUT ((size_t)64 << 20)

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

/* The whole of fp in a malloc'ed buffer; 0, or -1 when memory or reading fails. */
static int slurp(FILE *fp, uint8_t **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, fp);
		if (n < cap || cap >= MAX_INPUT)
			break;
		uint8_t *grown = realloc(buf, cap * 2);
		if (!grown) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = grown;
		cap *= 2;
	}
	if (!buf || ferror(fp)) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

static int run(FILE *fp, const char *name)
{
	uint8_t *buf;
	size_t len;
	if (slurp(fp, &buf, &len) < 0) {
		fprintf(stderr, "%s: cannot read\n", name);
		return 1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
#ifdef __AFL_FUZZ_TESTCASE_LEN
	if (argc < 2) {
		__AFL_INIT();
		const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
		while (__AFL_LOOP(10000))
			LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
		return 0;
	}
#endif
	if (argc < 2)
		return run(stdin, "stdin");
	int status = 0;
	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		if (!fp) {
			perror(argv[i]);
			status = 1;
			continue;
		}
		status |= run(fp, argv[i]);
		fclose(fp);
	}
	return status;
}
