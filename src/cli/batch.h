/*
 * batch.h: the outputs of a batch run (--outdir DIR with several inputs):
 * their names, the checks made before the first write, the output folder,
 * and --files-from lists. Nothing here prints; failures set the error buffer.
 */
#ifndef CNNF_BATCH_H
#define CNNF_BATCH_H

/* The most inputs one run takes (a list longer than this is refused). */
#define CNNF_BATCH_MAX_INPUTS (1 << 22)

/*
 * DIR/NAME for input path in: with pattern, the pattern with its %s replaced
 * by the input's stem (its file name without the last extension; "stdin" for
 * "-"); without, stem, suffix and ext (NULL ext: the input's own extension).
 * malloc'd; NULL with the error set.
 */
char *cnnf_batch_name(const char *dir, const char *in, const char *pattern, const char *suffix,
		      const char *ext);

/*
 * A --name pattern (what names it in messages) is one file name with exactly
 * one %s (%% for a percent sign) and no '/': 0, or -1 with the error set.
 */
int cnnf_batch_check_pattern(const char *pattern, const char *what);

/*
 * Refuse, before anything is written, the outputs out[i * k + j] (NULL: none)
 * of inputs in[0..n-1] that would collide (two outputs of one name) or that
 * are an input of the run (the same file under any name, hard links too).
 * 0, or -1 with the error naming the output and both inputs.
 */
int cnnf_batch_check(char *const *in, int n, char *const *out, int k);

/*
 * Whether a and b are one file: the same device and inode when both exist
 * (links too), else the same name once folders are resolved ("x/../x/a" is
 * "x/a" even before x exists).
 */
int cnnf_batch_same_file(const char *a, const char *b);

/* mkdir -p dir (mode 0777 less the umask): 0, or -1 with the error set. */
int cnnf_batch_mkdir(const char *dir);

/*
 * Append a copy of path to *list (n entries; *list NULL and *n 0 at first,
 * grown only by this function). 0, or -1 (out of memory, or too many inputs).
 */
int cnnf_batch_add(char ***list, int *n, const char *path);

/*
 * The paths of a list file, one a line ("-": standard input); blank lines
 * skipped, a CR before the newline dropped. Appended to *list as by
 * cnnf_batch_add(). 0, or -1 with the error naming the list.
 */
int cnnf_batch_read_list(const char *path, char ***list, int *n);

/* Free a list of n strings from cnnf_batch_read_list(). */
void cnnf_batch_free_list(char **list, int n);

#endif
