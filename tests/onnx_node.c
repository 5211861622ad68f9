/* onnx_node.c: runs ONNX's own backend node tests (libonnx-testdata) through the loader and the graph. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "nn/graph.h"
#include "nn/onnx.h"

/*
 * Usage: tests/onnx_node [--all] [--data DIR] [--list FILE] [--skip FILE]
 *                        [--atol X] [--rtol X] [NAME...]
 * Without --all, runs every test named in the list (tests/onnx/node_pass.txt)
 * or on the command line, prints one line per failure and ends with
 * "onnx_node: N passed, N failed"; exits 0 only when all pass. With --all,
 * runs every test directory and prints "NAME: pass", "NAME: fail: WHY",
 * "NAME: unsupported: WHY" or "NAME: skip: WHY" (tests/onnx/node_skip.txt),
 * so that the list can be regenerated:
 *   tests/onnx_node --all | sed -n 's/: pass$//p' > tests/onnx/node_pass.txt
 * int64 inputs are given to cnnf_graph_prepare as constants (operators read
 * axes, indices and shapes at prepare time); float inputs are run-time data.
 * A float output matches when |got - want| <= atol + rtol * |want| (1e-6, 1e-5; NaN
 * matches NaN); int64 outputs must be equal.
 */

#define DEFAULT_DATA "/usr/share/libonnx-testdata/data/node"
#define MAX_IO 16

/* 100 times tighter than ONNX's own rtol 1e-3; every listed test also passes at 1e-7, 1e-6. */
static double atol_ = 1e-6, rtol_ = 1e-5;

enum { PASS, FAIL, UNSUPPORTED };

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Read tensors PREFIX_0.pb, PREFIX_1.pb ... into v; their count, or -1 with why. */
static int read_set(const char *dir, const char *prefix, cnnf_value *v, char *why, size_t wn)
{
	int n = 0;
	for (; n < MAX_IO; n++) {
		char p[4400];
		snprintf(p, sizeof p, "%s/test_data_set_0/%s_%d.pb", dir, prefix, n);
		if (!exists(p))
			break;
		if (cnnf_onnx_tensor_read(p, NULL, &v[n]) < 0) {
			snprintf(why, wn, "%s", cnnf_error_get());
			for (int i = 0; i < n; i++)
				cnnf_onnx_tensor_clear(&v[i]);
			return -1;
		}
	}
	return n;
}

/* Compare output k: 0, or -1 with why. */
static int compare(const cnnf_value *gv, const void *got, const cnnf_value *want, int k,
		   char *why, size_t wn)
{
	if (gv->type != want->type) {
		snprintf(why, wn, "output %d: type %d, want %d", k, gv->type, want->type);
		return -1;
	}
	if (gv->ndim != want->ndim) {
		snprintf(why, wn, "output %d: %d dimensions, want %d", k, gv->ndim, want->ndim);
		return -1;
	}
	for (int i = 0; i < gv->ndim; i++)
		if (gv->dim[i] != want->dim[i]) {
			snprintf(why, wn, "output %d: dimension %d is %lld, want %lld", k, i,
				 (long long)gv->dim[i], (long long)want->dim[i]);
			return -1;
		}
	uint64_t n = cnnf_value_count(want);
	for (uint64_t i = 0; i < n; i++) {
		if (want->type == CNNF_DT_I64) {
			int64_t a = ((const int64_t *)got)[i], b = ((const int64_t *)want->data)[i];
			if (a != b) {
				snprintf(why, wn, "output %d element %llu: %lld, want %lld", k,
					 (unsigned long long)i, (long long)a, (long long)b);
				return -1;
			}
			continue;
		}
		double a = ((const float *)got)[i], b = ((const float *)want->data)[i];
		if (isnan(a) && isnan(b))
			continue;
		if (a == b)
			continue;
		if (!(fabs(a - b) <= atol_ + rtol_ * fabs(b))) {
			snprintf(why, wn, "output %d element %llu: %.9g, want %.9g", k,
				 (unsigned long long)i, a, b);
			return -1;
		}
	}
	return 0;
}

/* Run one test directory: PASS, FAIL or UNSUPPORTED, with why. */
static int run_test(const char *dir, char *why, size_t wn)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/model.onnx", dir);
	cnnf_value in[MAX_IO], want[MAX_IO];
	void *out[MAX_IO] = {0};
	int nin = -1, nwant = -1, result = FAIL;
	cnnf_graph *g = NULL;
	cnnf_error_clear();
	if (cnnf_onnx_load(path, NULL, &g) < 0) {
		snprintf(why, wn, "%s", cnnf_error_get());
		/* The loader and the graph refuse what they do not support by saying so. */
		return strstr(why, "not supported") ? UNSUPPORTED : FAIL;
	}
	if ((nin = read_set(dir, "input", in, why, wn)) < 0 ||
	    (nwant = read_set(dir, "output", want, why, wn)) < 0) {
		result = strstr(why, "not supported") ? UNSUPPORTED : FAIL;
		goto out;
	}
	if (nin != g->nin || nwant != g->nout) {
		snprintf(why, wn, "%d inputs and %d outputs in the data, the graph has %d and %d", nin,
			 nwant, g->nin, g->nout);
		goto out;
	}
	int ndim[MAX_IO];
	int64_t shape[MAX_IO][CNNF_GRAPH_MAX_DIMS];
	const void *data[MAX_IO], *konst[MAX_IO];
	for (int i = 0; i < nin; i++) {
		if (in[i].type != cnnf_graph_input_type(g, i)) {
			snprintf(why, wn, "input %d: type %d, the graph declares %d", i, in[i].type,
				 cnnf_graph_input_type(g, i));
			goto out;
		}
		ndim[i] = in[i].ndim;
		memcpy(shape[i], in[i].dim, sizeof shape[i]);
		data[i] = in[i].data;
		/*
		 * The first input is run-time data; the others (axes, indices, shapes, scales,
		 * pads, training flags: what a model file has as initializers) are given as
		 * constants, as operators read such inputs at prepare time. int64 inputs are
		 * always constants.
		 */
		konst[i] = (i > 0 || in[i].type == CNNF_DT_I64) ? in[i].data : NULL;
	}
	if (cnnf_graph_prepare(g, ndim, (const int64_t(*)[CNNF_GRAPH_MAX_DIMS])shape, konst) < 0 ||
	    cnnf_graph_run(g, data, out) < 0) {
		snprintf(why, wn, "%s", cnnf_error_get());
		result = strstr(why, "not supported") ? UNSUPPORTED : FAIL;
		goto out;
	}
	result = PASS;
	for (int k = 0; k < nwant && result == PASS; k++)
		if (compare(&g->val[g->out[k]], out[k], &want[k], k, why, wn) < 0)
			result = FAIL;
out:
	for (int i = 0; i < nin; i++)
		cnnf_onnx_tensor_clear(&in[i]);
	for (int i = 0; i < nwant; i++)
		cnnf_onnx_tensor_clear(&want[i]);
	for (int i = 0; i < MAX_IO; i++)
		free(out[i]);
	cnnf_graph_free(g);
	return result;
}

/* A list file: one name per line (first word), '#' comments; NULL-terminated, or NULL if absent. */
static char **read_list(const char *path, char ***reasons)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	size_t n = 0, cap = 16;
	char **names = malloc(cap * sizeof *names), **why = malloc(cap * sizeof *why);
	char line[4096];
	while (names && why && fgets(line, sizeof line, fp)) {
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || !*p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		size_t w = strcspn(p, " \t");
		char *rest = p + w + strspn(p + w, " \t");
		p[w] = '\0';
		if (n + 1 >= cap) {
			cap *= 2;
			names = realloc(names, cap * sizeof *names);
			why = realloc(why, cap * sizeof *why);
			if (!names || !why)
				break;
		}
		names[n] = strdup(p);
		why[n++] = strdup(rest);
	}
	fclose(fp);
	if (!names || !why) {
		fprintf(stderr, "onnx_node: out of memory\n");
		exit(2);
	}
	names[n] = NULL;
	why[n] = NULL;
	if (reasons)
		*reasons = why;
	else {
		for (size_t i = 0; i < n; i++)
			free(why[i]);
		free(why);
	}
	return names;
}

static void free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every test directory under data, sorted. */
static char **all_tests(const char *data)
{
	DIR *d = opendir(data);
	if (!d)
		return NULL;
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof *names);
	struct dirent *e;
	while (names && (e = readdir(d))) {
		if (strncmp(e->d_name, "test_", 5) != 0)
			continue;
		if (n + 1 >= cap && !(names = realloc(names, (cap *= 2) * sizeof *names)))
			break;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (!names)
		exit(2);
	qsort(names, n, sizeof *names, cmp_str);
	names[n] = NULL;
	return names;
}

int main(int argc, char **argv)
{
	const char *data = DEFAULT_DATA, *list = "tests/onnx/node_pass.txt",
		   *skip = "tests/onnx/node_skip.txt";
	int all = 0, a = 1;
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (strcmp(argv[a], "--all") == 0)
			all = 1;
		else if (strcmp(argv[a], "--data") == 0 && a + 1 < argc)
			data = argv[++a];
		else if (strcmp(argv[a], "--list") == 0 && a + 1 < argc)
			list = argv[++a];
		else if (strcmp(argv[a], "--skip") == 0 && a + 1 < argc)
			skip = argv[++a];
		else if (strcmp(argv[a], "--atol") == 0 && a + 1 < argc)
			atol_ = atof(argv[++a]);
		else if (strcmp(argv[a], "--rtol") == 0 && a + 1 < argc)
			rtol_ = atof(argv[++a]);
		else {
			fprintf(stderr, "usage: onnx_node [--all] [--data DIR] [--list FILE] "
					"[--skip FILE] [--atol X] [--rtol X] [NAME...]\n");
			return 2;
		}
	}
	if (!exists(data)) {
		printf("onnx_node: 0 passed, 0 failed (skipped: libonnx-testdata not installed)\n");
		return 0;
	}
	char **skip_why = NULL;
	char **skips = read_list(skip, &skip_why);
	char **names;
	if (a < argc)
		names = argv + a;
	else if (all)
		names = all_tests(data);
	else if (!(names = read_list(list, NULL))) {
		fprintf(stderr, "onnx_node: cannot read %s\n", list);
		return 2;
	}
	int counts[3] = {0, 0, 0}, skipped = 0;
	for (int i = 0; names && names[i]; i++) {
		const char *reason = NULL;
		for (int k = 0; skips && skips[k]; k++)
			if (strcmp(skips[k], names[i]) == 0)
				reason = skip_why[k];
		if (reason) {
			skipped++;
			if (all)
				printf("%s: skip: %s\n", names[i], reason);
			continue;
		}
		char dir[4200], why[2048] = "";
		snprintf(dir, sizeof dir, "%s/%s", data, names[i]);
		int r = exists(dir) ? run_test(dir, why, sizeof why) : FAIL;
		if (!exists(dir))
			snprintf(why, sizeof why, "no such test in %s", data);
		/* Messages name the model's full path: the test's name says it shorter. */
		const char *w = why;
		if (strncmp(w, dir, strlen(dir)) == 0)
			w += strlen(dir) + 1;
		counts[r]++;
		if (all)
			printf("%s: %s%s%s\n", names[i],
			       r == PASS ? "pass" : r == FAIL ? "fail" : "unsupported",
			       r == PASS ? "" : ": ", r == PASS ? "" : w);
		else if (r != PASS)
			printf("onnx_node: %s: %s\n", names[i], w);
	}
	if (names != argv + a)
		free_list(names);
	free_list(skips);
	free_list(skip_why);
	if (all) {
		printf("onnx_node --all: %d pass, %d fail, %d unsupported, %d skipped\n", counts[PASS],
		       counts[FAIL], counts[UNSUPPORTED], skipped);
		return 0;
	}
	/* Without --all every listed test must pass: an unsupported one is a failure too. */
	printf("onnx_node: %d passed, %d failed\n", counts[PASS], counts[FAIL] + counts[UNSUPPORTED]);
	return counts[FAIL] + counts[UNSUPPORTED] ? 1 : 0;
}
