/* batch.c: the outputs of a batch run; see batch.h. */
#define _DEFAULT_SOURCE /* realpath, strndup */
#include "batch.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"

/* The longest line of a list file: a path longer than the system takes is an error. */
#define LIST_LINE_MAX 4096

/* The input's stem (start, length) and its extension, from the last '/' on. */
static void split_name(const char *in, const char **stem, size_t *len, const char **ext)
{
	if (strcmp(in, "-") == 0) {
		*stem = "stdin";
		*len = 5;
		*ext = "";
		return;
	}
	const char *base = strrchr(in, '/');
	base = base ? base + 1 : in;
	const char *dot = strrchr(base, '.');
	/* A leading dot (.hidden) starts a name, not an extension. */
	if (!dot || dot == base)
		dot = base + strlen(base);
	*stem = base;
	*len = (size_t)(dot - base);
	*ext = dot;
}

int cnnf_batch_check_pattern(const char *pattern, const char *what)
{
	int stems = 0;
	if (!*pattern) {
		cnnf_error("%s: an empty name", what);
		return -1;
	}
	for (const char *p = pattern; *p; p++) {
		if (*p == '/') {
			cnnf_error("%s '%s': a file name in the output folder has no '/'", what,
				   pattern);
			return -1;
		}
		if (*p != '%')
			continue;
		if (p[1] == 's')
			stems++;
		else if (p[1] != '%') {
			cnnf_error("%s '%s': only %%s (the input's name) and %%%% may follow %%", what,
				   pattern);
			return -1;
		}
		p++;
	}
	if (stems != 1) {
		cnnf_error("%s '%s': needs one %%s, where the input's name goes", what, pattern);
		return -1;
	}
	return 0;
}

char *cnnf_batch_name(const char *dir, const char *in, const char *pattern, const char *suffix,
		      const char *ext)
{
	const char *stem, *own;
	size_t len;
	split_name(in, &stem, &len, &own);
	if (!suffix)
		suffix = "";
	if (!ext)
		ext = own;
	/* Every piece counted once: the pattern's %s is the stem's only copy. */
	size_t need = strlen(dir) + 2 + len + strlen(suffix) + strlen(ext) +
		      (pattern ? strlen(pattern) : 0);
	if (strlen(dir) + len > (size_t)PATH_MAX * 4) {
		cnnf_error("%s: the output name would be too long", in);
		return NULL;
	}
	char *out = malloc(need);
	if (!out) {
		cnnf_error("%s: out of memory", in);
		return NULL;
	}
	size_t at = (size_t)sprintf(out, "%s%s", dir,
				    *dir && dir[strlen(dir) - 1] != '/' ? "/" : "");
	if (!pattern) {
		sprintf(out + at, "%.*s%s%s", (int)len, stem, suffix, ext);
		return out;
	}
	for (const char *p = pattern; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(out + at, stem, len);
			at += len;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			out[at++] = '%';
			p++;
		} else
			out[at++] = *p;
	}
	out[at] = '\0';
	return out;
}

typedef struct named {
	const char *path;
	int input; /* whose output it is */
} named;

static int by_path(const void *a, const void *b)
{
	const named *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : (x->input > y->input) - (x->input < y->input);
}

typedef struct file_id {
	dev_t dev;
	ino_t ino;
	int input;
} file_id;

static int by_id(const void *a, const void *b)
{
	const file_id *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/* The error for an output that would replace an input of the run: -1. */
static int replaces_input(const char *out, const char *whose, const char *input)
{
	cnnf_error("%s: the output of %s would replace the input %s; choose another --outdir, "
		   "--suffix or --name",
		   out, whose, input);
	return -1;
}

/* Path order alone, for bsearch(): any input of that name is a hit. */
static int path_only(const void *a, const void *b)
{
	return strcmp(((const named *)a)->path, ((const named *)b)->path);
}

/*
 * path with "." and "name/.." steps and repeated slashes taken out, by
 * name alone: for a folder that does not exist yet, where realpath cannot
 * help (x/../x/a.png is x/a.png). malloc'd, or NULL.
 */
static char *lexical(const char *path)
{
	size_t len = strlen(path);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	int absolute = path[0] == '/';
	size_t o = 0, kept = 0; /* bytes written; steps kept that a ".." may take back */
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		int dot = n == 1 && p[0] == '.', dotdot = n == 2 && p[0] == '.' && p[1] == '.';
		if (n == 0 || dot) {
			/* nothing */
		} else if (dotdot && kept) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash before the step */
			kept--;
		} else if (!(dotdot && absolute)) { /* "/.." is "/" */
			if (o > 0 || absolute)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
			kept += !dotdot; /* a leading ".." stays */
		}
		p += n;
	}
	if (o == 0)
		out[o++] = absolute ? '/' : '.';
	out[o] = 0;
	return out;
}

/*
 * path with its folder resolved (realpath), so that ./x.png, x.png and
 * d/../x.png are one name even before x.png exists; by name alone
 * (lexical()) when its folder does not exist. malloc'd, or NULL.
 */
static char *canonical(const char *path)
{
	char *clean = lexical(path);
	if (!clean)
		return NULL;
	const char *slash = strrchr(clean, '/');
	char *dir = slash ? strndup(clean, (size_t)(slash - clean + (slash == clean))) : strdup(".");
	char *real = dir ? realpath(dir, NULL) : NULL;
	const char *base = slash ? slash + 1 : clean;
	char *out = NULL;
	if (real) {
		size_t len = strlen(real) + strlen(base) + 2;
		if ((out = malloc(len)))
			snprintf(out, len, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
		free(clean);
	} else {
		out = clean;
	}
	free(dir);
	free(real);
	return out;
}

int cnnf_batch_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	char *ca = canonical(a), *cb = canonical(b);
	int same = ca && cb && strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return same;
}

/*
 * An output that names an input of the run which does not exist yet: the
 * input would be read after an earlier input wrote it (or fail, and be
 * written over). By name, folders resolved. 0, or -1 with the error set.
 */
static int check_names(char *const *in, int n, const named *outs, size_t m)
{
	named *ins = malloc(sizeof *ins * (n ? (size_t)n : 1));
	int status = -1;
	size_t ni = 0;
	if (!ins) {
		cnnf_error("%s: out of memory", n ? in[0] : "batch");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(in[i], "-"))
			continue;
		char *c = canonical(in[i]);
		if (!c) {
			cnnf_error("%s: out of memory", in[i]);
			goto out;
		}
		ins[ni++] = (named){c, i};
	}
	qsort(ins, ni, sizeof *ins, by_path);
	for (size_t i = 0; i < m; i++) {
		char *c = canonical(outs[i].path);
		if (!c) {
			cnnf_error("%s: out of memory", outs[i].path);
			goto out;
		}
		named key = {c, -1};
		const named *hit = bsearch(&key, ins, ni, sizeof *ins, path_only);
		free(c);
		if (hit) {
			replaces_input(outs[i].path, in[outs[i].input], in[hit->input]);
			goto out;
		}
	}
	status = 0;
out:
	for (size_t i = 0; i < ni; i++)
		free((char *)ins[i].path);
	free(ins);
	return status;
}

int cnnf_batch_check(char *const *in, int n, char *const *out, int k)
{
	/* Sorted, so that a batch of many thousands is checked in n log n. */
	size_t total = (size_t)n * (size_t)k;
	named *names = malloc(sizeof *names * (total ? total : 1));
	file_id *ids = malloc(sizeof *ids * (n ? (size_t)n : 1));
	int status = -1;
	if (!names || !ids) {
		cnnf_error("%s: out of memory", n ? in[0] : "batch");
		goto out;
	}
	size_t m = 0;
	for (size_t i = 0; i < total; i++)
		if (out[i])
			names[m++] = (named){out[i], (int)(i / (size_t)k)};
	qsort(names, m, sizeof *names, by_path);
	for (size_t i = 1; i < m; i++)
		if (strcmp(names[i - 1].path, names[i].path) == 0) {
			cnnf_error("%s: %s and %s would both be written there", names[i].path,
				   in[names[i - 1].input], in[names[i].input]);
			goto out;
		}
	if (check_names(in, n, names, m) < 0)
		goto out;
	size_t ni = 0;
	struct stat st;
	for (int i = 0; i < n; i++)
		if (strcmp(in[i], "-") && stat(in[i], &st) == 0)
			ids[ni++] = (file_id){st.st_dev, st.st_ino, i};
	qsort(ids, ni, sizeof *ids, by_id);
	for (size_t i = 0; i < m; i++) {
		if (stat(names[i].path, &st) < 0)
			continue;
		file_id key = {st.st_dev, st.st_ino, 0};
		const file_id *hit = bsearch(&key, ids, ni, sizeof *ids, by_id);
		if (hit) {
			replaces_input(names[i].path, in[names[i].input], in[hit->input]);
			goto out;
		}
	}
	status = 0;
out:
	free(names);
	free(ids);
	return status;
}

int cnnf_batch_mkdir(const char *dir)
{
	size_t len = strlen(dir);
	char *p = malloc(len + 1);
	if (!p) {
		cnnf_error("%s: out of memory", dir);
		return -1;
	}
	memcpy(p, dir, len + 1);
	/* Each parent in turn, then the folder itself: as mkdir -p. */
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		struct stat st;
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			cnnf_error("%s: cannot create it: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		if (c == '\0' && (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
			cnnf_error("%s: not a directory", dir);
			free(p);
			return -1;
		}
		p[i] = c;
	}
	free(p);
	return 0;
}

void cnnf_batch_free_list(char **list, int n)
{
	for (int i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

int cnnf_batch_add(char ***list, int *n, const char *path)
{
	if (*n >= CNNF_BATCH_MAX_INPUTS) {
		cnnf_error("more than %d inputs", CNNF_BATCH_MAX_INPUTS);
		return -1;
	}
	/* Grown at each power of two, so that the capacity need not be kept. */
	if ((*n & (*n - 1)) == 0) {
		size_t cap = *n ? (size_t)*n * 2 : 1;
		char **grown = realloc(*list, sizeof **list * cap);
		if (!grown)
			return -1;
		*list = grown;
	}
	size_t len = strlen(path);
	char *copy = malloc(len + 1);
	if (!copy)
		return -1;
	memcpy(copy, path, len + 1);
	(*list)[(*n)++] = copy;
	return 0;
}

int cnnf_batch_read_list(const char *path, char ***list, int *n)
{
	int std = strcmp(path, "-") == 0;
	const char *name = std ? "stdin" : path;
	FILE *f = std ? stdin : fopen(path, "rb");
	if (!f) {
		cnnf_error("%s: %s", path, strerror(errno));
		return -1;
	}
	char line[LIST_LINE_MAX + 2];
	int status = -1, lineno = 0;
	for (;;) {
		size_t len = 0;
		int c = 0;
		/* A byte at a time, so that a NUL in a line is seen and a long line bounded. */
		while ((c = getc(f)) != EOF && c != '\n') {
			if (c == '\0') {
				cnnf_error("%s: line %d: a NUL byte (a list has one path a line)", name,
					   lineno + 1);
				goto out;
			}
			if (len >= LIST_LINE_MAX) {
				cnnf_error("%s: line %d: longer than %d bytes", name, lineno + 1,
					   LIST_LINE_MAX);
				goto out;
			}
			line[len++] = (char)c;
		}
		if (c == EOF && ferror(f)) {
			cnnf_error("%s: %s", name, strerror(errno));
			goto out;
		}
		if (c == EOF && len == 0)
			break;
		lineno++;
		if (len && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (len == 0)
			continue;
		if (*n >= CNNF_BATCH_MAX_INPUTS) {
			cnnf_error("%s: more than %d inputs", name, CNNF_BATCH_MAX_INPUTS);
			goto out;
		}
		if (cnnf_batch_add(list, n, line) < 0) {
			cnnf_error("%s: out of memory", name);
			goto out;
		}
		if (c == EOF)
			break;
	}
	status = 0;
out:
	if (!std)
		fclose(f);
	return status;
}
