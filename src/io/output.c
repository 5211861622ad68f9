/* output.c: outputs replaced whole and atomically (output.h has the contract). */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH */
#include "io/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

/* Links followed before giving up, as the kernel's own limit. */
#define MAX_LINKS 40

/* The stdio buffer of an output: with the default few KiB a 36 MB image takes thousands of writes. */
#define WRITE_BUFFER (1 << 20)

/* Hidden temporary names: ".cnnf-" and 6 random letters; short, so any legal output name fits. */
#define TMP_PREFIX ".cnnf-"
#define TMP_LEN (sizeof TMP_PREFIX - 1 + 6)

typedef enum kind {
	TO_STDOUT,   /* "-" */
	IN_PLACE,    /* a device, a FIFO, or one of our own descriptors */
	NEW_UNNAMED, /* an O_TMPFILE file, named at publish */
	NEW_NAMED,   /* a hidden temporary name, renamed at publish */
} kind;

struct cnnf_output {
	kind kind;
	char *name;     /* the path as given, for messages */
	char *base;     /* the final file's name within dirfd */
	int dirfd;      /* the final file's directory, or -1 */
	int fd;         /* the data's descriptor (a dup for TO_STDOUT and own descriptors) */
	int existed;    /* the final file existed when opened */
	int slot;       /* the cleanup slot of the temporary name, or -1 */
	char tmp[TMP_LEN + 1]; /* NEW_NAMED: the temporary name */
	FILE *fp;
	char *buf;
};

/*
 * Temporary names the signal handler removes. Filled before the file is
 * made and emptied after it is renamed or removed, so a signal at any point
 * finds either nothing or a name that is safe to unlink.
 */
#define SLOTS 64
static struct {
	volatile sig_atomic_t used;
	int dirfd;
	char name[TMP_LEN + 1];
} slots[SLOTS];

static int slot_take(int dirfd, const char *name)
{
	for (int i = 0; i < SLOTS; i++) {
		if (!slots[i].used) {
			slots[i].dirfd = dirfd;
			memcpy(slots[i].name, name, TMP_LEN + 1);
			slots[i].used = 1;
			return i;
		}
	}
	return -1;
}

static void slot_drop(int *slot)
{
	if (*slot >= 0)
		slots[*slot].used = 0;
	*slot = -1;
}

void cnnf_output_cleanup(void)
{
	int saved = errno;
	for (int i = 0; i < SLOTS; i++)
		if (slots[i].used)
			unlinkat(slots[i].dirfd, slots[i].name, 0);
	errno = saved;
}

/* A fresh hidden name in tmp (TMP_LEN + 1 bytes). */
static void random_name(char *tmp)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static uint64_t state;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	state += (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u + (uint64_t)getpid() + 1;
	uint64_t x = state;
	memcpy(tmp, TMP_PREFIX, sizeof TMP_PREFIX - 1);
	for (size_t i = sizeof TMP_PREFIX - 1; i < TMP_LEN; i++) {
		x ^= x >> 33;
		x *= 0xFF51AFD7ED558CCDu;
		x ^= x >> 29;
		tmp[i] = letters[x % (sizeof letters - 1)];
	}
	tmp[TMP_LEN] = '\0';
}

/* The process umask, read without changing it where /proc tells it. */
static mode_t current_umask(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	if (fp) {
		char line[256];
		unsigned mask;
		while (fgets(line, sizeof line, fp)) {
			if (sscanf(line, "Umask: %o", &mask) == 1) {
				fclose(fp);
				return (mode_t)mask & 0777;
			}
		}
		fclose(fp);
	}
	mode_t mask = umask(022);
	umask(mask);
	return mask;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The directory part of path ("." when it has none) and the last component. */
static int split_path(const char *path, char **dir, char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*dir = dup_n(".", 1);
		*base = dup_n(path, strlen(path));
	} else {
		size_t n = (size_t)(slash - path);
		*dir = n ? dup_n(path, n) : dup_n("/", 1);
		*base = dup_n(slash + 1, strlen(slash + 1));
	}
	if (!*dir || !*base) {
		free(*dir);
		free(*base);
		return -1;
	}
	return 0;
}

/*
 * When the link at path is an entry of /proc/PID/fd (or a task's), the
 * descriptor it stands for and whether it is this process's. Such links do
 * not name files (a pipe's reads "pipe:[123]"), and reopening a file
 * through them loses the offset and the append flag, so they are written
 * through the descriptor itself.
 */
static int proc_fd_link(const char *path, int *fd, int *own)
{
	char *dir, *base;
	if (split_path(path, &dir, &base) < 0)
		return 0;
	char *real = realpath(dir, NULL);
	int found = 0;
	if (real) {
		long pid = 0, n = 0;
		int len = 0;
		char *end;
		if (sscanf(real, "/proc/%ld/fd%n", &pid, &len) == 1 && real[len] == '\0')
			found = 1;
		else if (sscanf(real, "/proc/%ld/task/%*d/fd%n", &pid, &len) == 1 && real[len] == '\0')
			found = 1;
		errno = 0;
		n = strtol(base, &end, 10);
		if (found && (errno || end == base || *end || n < 0 || n > INT_MAX))
			found = 0;
		if (found) {
			*fd = (int)n;
			*own = pid == (long)getpid();
		}
		free(real);
	}
	free(dir);
	free(base);
	return found;
}

/* path with the symbolic link at its end read once: the link's target, relative to its directory. */
static char *follow(const char *path)
{
	size_t cap = 256;
	for (;;) {
		char *t = malloc(cap);
		if (!t)
			return NULL;
		ssize_t n = readlink(path, t, cap);
		if (n < 0) {
			free(t);
			return NULL;
		}
		if ((size_t)n < cap) {
			t[n] = '\0';
			if (t[0] == '/' || !strchr(path, '/'))
				return t;
			const char *slash = strrchr(path, '/');
			size_t dl = (size_t)(slash - path) + 1, tl = (size_t)n;
			char *joined = malloc(dl + tl + 1);
			if (joined) {
				memcpy(joined, path, dl);
				memcpy(joined + dl, t, tl + 1);
			}
			free(t);
			return joined;
		}
		free(t);
		if (cap > (1 << 20)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		cap *= 2;
	}
}

static cnnf_output *new_output(const char *name)
{
	cnnf_output *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	o->dirfd = -1;
	o->fd = -1;
	o->slot = -1;
	o->name = dup_n(name, strlen(name));
	if (!o->name) {
		free(o);
		return NULL;
	}
	return o;
}

static void free_output(cnnf_output *o)
{
	if (!o)
		return;
	if (o->fp)
		fclose(o->fp);
	else if (o->fd >= 0)
		close(o->fd);
	if (o->kind == NEW_NAMED && o->slot >= 0) {
		unlinkat(o->dirfd, o->tmp, 0);
		slot_drop(&o->slot);
	}
	if (o->dirfd >= 0)
		close(o->dirfd);
	free(o->buf);
	free(o->base);
	free(o->name);
	free(o);
}

/*
 * Attach a buffered stream to o->fd. A temporary file is opened for reading
 * too: a TIFF writer reads back the directory it links the next page to.
 */
static int attach_stream(cnnf_output *o)
{
	int rw = (fcntl(o->fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	o->fp = fdopen(o->fd, rw ? "w+b" : "wb");
	if (!o->fp) {
		cnnf_error("%s: %s", o->name, strerror(errno));
		return -1;
	}
	if ((o->buf = malloc(WRITE_BUFFER)) != NULL)
		setvbuf(o->fp, o->buf, _IOFBF, WRITE_BUFFER);
	return 0;
}

/* Whether a link made through /proc/self/fd can name an unnamed file (needs /proc, or privilege). */
static int can_name_unnamed(void)
{
	return access("/proc/self/fd", X_OK) == 0;
}

/* Make the file that will replace base in o->dirfd; st is the old file's (existed) status. */
static int make_temp(cnnf_output *o, const struct stat *st)
{
	mode_t mode = o->existed ? st->st_mode & 07777 : 0666 & ~current_umask();
#ifdef O_TMPFILE
	if (can_name_unnamed()) {
		o->fd = openat(o->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (o->fd >= 0)
			o->kind = NEW_UNNAMED;
		else if (errno == EACCES || errno == EPERM || errno == EROFS || errno == ENOSPC ||
		         errno == EDQUOT)
			return -1;
	}
#endif
	for (int tries = 0; o->fd < 0 && tries < 100; tries++) {
		random_name(o->tmp);
		o->slot = slot_take(o->dirfd, o->tmp);
		o->fd = openat(o->dirfd, o->tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (o->fd >= 0) {
			o->kind = NEW_NAMED;
			break;
		}
		int e = errno;
		slot_drop(&o->slot);
		errno = e;
		if (e != EEXIST)
			return -1;
	}
	if (o->fd < 0)
		return -1;
	/* The old file's owner and group where we may set them; then its mode (chown clears set-id bits). */
	if (o->existed) {
		if (fchown(o->fd, st->st_uid, st->st_gid) < 0)
			(void)!fchown(o->fd, (uid_t)-1, st->st_gid);
	}
	if (fchmod(o->fd, mode) < 0)
		return -1;
	return 0;
}

/* Why a writable file in dir_st's directory cannot be replaced, or NULL when it can be. */
static const char *unsafe_reason(const struct stat *st, const struct stat *dir_st)
{
	uid_t me = geteuid();
	if ((dir_st->st_mode & S_ISVTX) && me != 0 && st->st_uid != me && dir_st->st_uid != me)
		return "its directory is sticky and the file belongs to someone else";
	return NULL;
}

static int open_regular(cnnf_output *o, const char *target, int existed, const struct stat *st)
{
	char *dir = NULL;
	if (split_path(target, &dir, &o->base) < 0) {
		cnnf_error("%s: out of memory", o->name);
		return -1;
	}
	o->existed = existed;
	if (o->base[0] == '\0') {
		cnnf_error("%s: is a directory", o->name);
		free(dir);
		return -1;
	}
	o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0 && errno == EACCES)
		o->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			cnnf_error("%s: cannot create: %s", o->name, strerror(errno));
		else
			cnnf_error("%s: cannot write in %s: %s", o->name, dir, strerror(errno));
		free(dir);
		return -1;
	}
	struct stat dir_st;
	if (existed) {
		/* Refused as cp refuses it: the file itself is not ours to write. */
		if (faccessat(AT_FDCWD, target, W_OK, AT_EACCESS) < 0) {
			cnnf_error("%s: cannot open for writing: %s", o->name, strerror(errno));
			free(dir);
			return -1;
		}
		const char *why = fstat(o->dirfd, &dir_st) == 0 ? unsafe_reason(st, &dir_st) : NULL;
		if (why) {
			cnnf_error("%s: cannot be replaced safely: %s", o->name, why);
			free(dir);
			return -1;
		}
	}
	if (make_temp(o, st) < 0) {
		int e = errno;
		if (existed && (e == EACCES || e == EPERM))
			cnnf_error("%s: cannot be replaced safely: its directory %s is not writable (%s); "
			           "cnnf writes a new file and renames it over the old one",
			           o->name, dir, strerror(e));
		else
			cnnf_error("%s: cannot create: %s", o->name, strerror(e));
		free(dir);
		return -1;
	}
	free(dir);
	return attach_stream(o);
}

static int open_in_place(cnnf_output *o, const char *target)
{
	o->kind = IN_PLACE;
	/* Truncated as a shell's '>' truncates: another process's descriptor can lead to a regular file. */
	o->fd = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (o->fd < 0) {
		cnnf_error("%s: %s", o->name, strerror(errno));
		return -1;
	}
	return attach_stream(o);
}

/* One of our own descriptors: written through a duplicate, so its offset and flags hold. */
static int open_own_fd(cnnf_output *o, int fd, kind k)
{
	o->kind = k;
	o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (o->fd < 0) {
		cnnf_error("%s: %s", o->name, errno == EBADF ? "not an open descriptor" : strerror(errno));
		return -1;
	}
	return attach_stream(o);
}

/* Where path leads, after its links: what to do with it, and the file or descriptor. */
typedef enum dest {
	DEST_ERROR,   /* the message is set */
	DEST_NEW,     /* *target does not exist: create it */
	DEST_REPLACE, /* *target is a regular file: replace it */
	DEST_DEVICE,  /* *target is not a regular file: write in place */
	DEST_OWN_FD,  /* *fd is one of ours: write through it */
} dest;

static dest resolve(const char *path, const char *name, char **target, struct stat *st, int *fd)
{
	*target = NULL;
	char *cur = dup_n(path, strlen(path));
	for (int links = 0; cur; links++) {
		int own;
		if (lstat(cur, st) < 0) {
			if (errno != ENOENT) {
				cnnf_error("%s: %s", name, strerror(errno));
				break;
			}
			*target = cur;
			return DEST_NEW;
		}
		if (S_ISLNK(st->st_mode)) {
			if (proc_fd_link(cur, fd, &own)) {
				*target = cur;
				return own ? DEST_OWN_FD : DEST_DEVICE;
			}
			if (links == MAX_LINKS) {
				cnnf_error("%s: %s", name, strerror(ELOOP));
				break;
			}
			char *next = follow(cur);
			if (!next) {
				cnnf_error("%s: %s", name, errno ? strerror(errno) : "out of memory");
				break;
			}
			free(cur);
			cur = next;
			continue;
		}
		*target = cur;
		if (S_ISDIR(st->st_mode)) {
			cnnf_error("%s: is a directory", name);
			break;
		}
		return S_ISREG(st->st_mode) ? DEST_REPLACE : DEST_DEVICE;
	}
	if (!cur)
		cnnf_error("%s: out of memory", name);
	free(cur);
	*target = NULL;
	return DEST_ERROR;
}

int cnnf_output_in_place(const char *path)
{
	if (strcmp(path, "-") == 0)
		return 1;
	char *target;
	struct stat st;
	int fd;
	dest d = resolve(path, path, &target, &st, &fd);
	free(target);
	cnnf_error_clear();
	return d == DEST_DEVICE || d == DEST_OWN_FD;
}

int cnnf_output_open(const char *path, cnnf_output **out)
{
	*out = NULL;
	int to_stdout = strcmp(path, "-") == 0;
	cnnf_output *o = new_output(to_stdout ? "stdout" : path);
	if (!o) {
		cnnf_error("%s: out of memory", path);
		return -1;
	}
	int rc = -1;
	if (to_stdout) {
		rc = open_own_fd(o, STDOUT_FILENO, TO_STDOUT);
	} else if (path[0] == '\0') {
		cnnf_error("'': %s", strerror(ENOENT));
	} else {
		char *target;
		struct stat st;
		int fd = -1;
		switch (resolve(path, o->name, &target, &st, &fd)) {
		case DEST_NEW:
			rc = open_regular(o, target, 0, &st);
			break;
		case DEST_REPLACE:
			rc = open_regular(o, target, 1, &st);
			break;
		case DEST_DEVICE:
			rc = open_in_place(o, target);
			break;
		case DEST_OWN_FD:
			rc = open_own_fd(o, fd, IN_PLACE);
			break;
		case DEST_ERROR:
			break;
		}
		free(target);
	}
	if (rc < 0) {
		free_output(o);
		return -1;
	}
	*out = o;
	return 0;
}

FILE *cnnf_output_stream(cnnf_output *o)
{
	return o->fp;
}

const char *cnnf_output_name(const cnnf_output *o)
{
	return o->name;
}

void cnnf_output_discard(cnnf_output *o)
{
	free_output(o);
}

int cnnf_output_same(const cnnf_output *a, const cnnf_output *b)
{
	struct stat sa, sb;
	if (a->dirfd < 0 || b->dirfd < 0 || !a->base || !b->base || strcmp(a->base, b->base) != 0)
		return 0;
	return fstat(a->dirfd, &sa) == 0 && fstat(b->dirfd, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int cnnf_output_is_file(const cnnf_output *o, const char *path)
{
	struct stat so, sp;
	if (o->dirfd < 0 || !o->base || stat(path, &sp) < 0)
		return 0;
	return fstatat(o->dirfd, o->base, &so, 0) == 0 && so.st_dev == sp.st_dev &&
	       so.st_ino == sp.st_ino;
}

int cnnf_output_check(const char *path)
{
	cnnf_output *o;
	if (cnnf_output_open(path, &o) < 0)
		return -1;
	cnnf_output_discard(o);
	return 0;
}

/* Flush, check and (for a new file) sync o: everything but the naming. */
static int complete(cnnf_output *o)
{
	errno = 0;
	if (fflush(o->fp) != 0 || ferror(o->fp)) {
		cnnf_error("%s: write error: %s", o->name, strerror(errno ? errno : EIO));
		return -1;
	}
	/* Without this a crash soon after the rename can leave an empty file. */
	if ((o->kind == NEW_NAMED || o->kind == NEW_UNNAMED) && fsync(o->fd) < 0 && errno != EINVAL) {
		cnnf_error("%s: write error: %s", o->name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Give an unnamed file the name `name` in its directory. */
static int link_unnamed(const cnnf_output *o, const char *name)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
	if (linkat(AT_FDCWD, proc, o->dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	int e = errno;
	if (e == ENOENT && linkat(o->fd, "", o->dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	errno = e;
	return -1;
}

/* Put a completed o in place of its file. */
static int name_it(cnnf_output *o)
{
	if (o->kind == NEW_UNNAMED) {
		/* A new file gets its name in one step; an old one is replaced through a hidden name. */
		if (!o->existed && link_unnamed(o, o->base) == 0)
			return 0;
		if (!o->existed && errno != EEXIST)
			goto fail;
		for (int tries = 0;; tries++) {
			random_name(o->tmp);
			o->slot = slot_take(o->dirfd, o->tmp);
			if (link_unnamed(o, o->tmp) == 0)
				break;
			int e = errno;
			slot_drop(&o->slot);
			errno = e;
			if (e != EEXIST || tries == 100)
				goto fail;
		}
		o->kind = NEW_NAMED;
	}
	if (renameat(o->dirfd, o->tmp, o->dirfd, o->base) < 0)
		goto fail;
	slot_drop(&o->slot);
	return 0;
fail:
	cnnf_error("%s: cannot replace: %s", o->name, strerror(errno));
	return -1;
}

int cnnf_output_publish(cnnf_output **outputs, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (outputs[i] && complete(outputs[i]) < 0)
			rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		cnnf_output *o = outputs[i];
		if (!o || (o->kind != NEW_NAMED && o->kind != NEW_UNNAMED))
			continue;
		if (name_it(o) < 0)
			rc = -1;
		else if (o->dirfd >= 0)
			fsync(o->dirfd); /* the new name itself survives a crash; best effort */
	}
	for (size_t i = 0; i < n; i++) {
		cnnf_output *o = outputs[i];
		if (!o)
			continue;
		if (o->fp) {
			int closed = fclose(o->fp);
			o->fp = NULL;
			o->fd = -1;
			if (closed != 0 && rc == 0) {
				cnnf_error("%s: write error: %s", o->name, strerror(errno));
				rc = -1;
			}
		}
		free_output(o);
		outputs[i] = NULL;
	}
	return rc;
}
