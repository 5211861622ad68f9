/* output.h: where results go: files replaced whole and atomically, devices and pipes written in place. */
#ifndef CNNF_OUTPUT_H
#define CNNF_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

/*
 * An output being written. The contract, as cp and shell redirection keep it:
 *
 * - "-" is standard output, written in place.
 * - A symbolic link is followed (each link in turn, at most 40); the file it
 *   ends at is the one replaced, in its own directory. A link to nothing
 *   creates the file it names.
 * - Something that is not a regular file (a device, a FIFO), and a path that
 *   leads to one of the process's own descriptors (/dev/stdout, /dev/fd/N,
 *   /proc/self/fd/N), is written in place, never renamed over. Our own
 *   descriptors keep their offset; anything else is opened truncated, as
 *   a shell's '>' opens it (another process's /proc/PID/fd/N can be a file).
 * - A regular file is made anew next to the file it replaces: as an unnamed
 *   file (Linux O_TMPFILE) where the file system allows, otherwise under a
 *   hidden name ".cnnf-XXXXXX" that cnnf_output_cleanup() removes. It gets its
 *   name only when complete, flushed and synced, so until then the old file
 *   is as it was, and no signal, not even SIGKILL with an unnamed file,
 *   leaves a partial one behind.
 * - A file that is replaced keeps its permission bits and, where the process
 *   may set them, its owner and group. A file the process may not write is
 *   refused, as cp refuses it; a writable file whose directory is not
 *   writable (or is sticky and someone else's) is refused with a message
 *   saying why it cannot be replaced safely.
 */
typedef struct cnnf_output cnnf_output;

/*
 * Open path for writing. Everything that can be known before the data is
 * (the directory, the permissions, the temporary file) is checked here, so
 * that commands open their outputs before they work. Returns 0 and sets
 * *out, or -1 with a message naming path.
 */
int cnnf_output_open(const char *path, cnnf_output **out);

/*
 * Whether path is "-" or would be written in place (a device, a FIFO, one of
 * our descriptors): such outputs have no extension to take a format from.
 */
int cnnf_output_in_place(const char *path);

/* The stream to write the contents to (buffered; errors are found at publish). */
FILE *cnnf_output_stream(cnnf_output *o);

/* The name for messages: the path, or "stdout" for "-". */
const char *cnnf_output_name(const cnnf_output *o);

/*
 * Finish outputs[0..n-1] together: every stream is flushed and checked (and
 * synced) first, and only when all of them are complete are they given their
 * names, one after another. On any write error nothing is published. Frees
 * every output (NULL entries are skipped). Returns 0, or -1 with a message.
 */
int cnnf_output_publish(cnnf_output **outputs, size_t n);

/* Drop an output unpublished: its temporary file goes, the old file stays. NULL is a no-op. */
void cnnf_output_discard(cnnf_output *o);

/*
 * Whether a and b would give the same name to their files (after links, in
 * the same directory): publishing both would lose the first. Outputs written
 * in place are never the same.
 */
int cnnf_output_same(const cnnf_output *a, const cnnf_output *b);

/* cnnf_output_open() then cnnf_output_discard(): whether path could be written now. */
int cnnf_output_check(const char *path);

/*
 * Whether o would replace the existing file that path names (symbolic links
 * followed, hard links seen as the same file): 1 or 0. For refusing an
 * output that is an input under another name.
 */
int cnnf_output_is_file(const cnnf_output *o, const char *path);

/*
 * Remove every named temporary file still open. Only async-signal-safe
 * calls: the command line calls it from its signal handler before dying of
 * the signal.
 */
void cnnf_output_cleanup(void);

#endif
