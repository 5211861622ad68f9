/* check_output.c: outputs replace files whole, through links, keeping modes; all or nothing. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/output.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A fresh, empty scratch directory for one test. */
static const char *scratch(void)
{
	static char dir[4200];
	snprintf(dir, sizeof dir, "%s/output-unit", cnnf_test_tmpdir());
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	return dir;
}

static const char *in(const char *dir, const char *name)
{
	static char paths[4][4400];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof paths[0], "%s/%s", dir, name);
	return p;
}

static void put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

/* The file's first line, or "" when it does not exist. */
static const char *get(const char *path)
{
	static char buf[256];
	buf[0] = '\0';
	FILE *fp = fopen(path, "r");
	if (fp) {
		if (!fgets(buf, sizeof buf, fp))
			buf[0] = '\0';
		fclose(fp);
	}
	return buf;
}

/* Entries of dir other than . and .., names joined with spaces. */
static const char *entries(const char *dir)
{
	static char buf[1024];
	buf[0] = '\0';
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		strncat(buf, e->d_name, sizeof buf - strlen(buf) - 2);
		strcat(buf, " ");
	}
	closedir(d);
	return buf;
}

static cnnf_output *open_ok(const char *path)
{
	cnnf_output *o = NULL;
	ck_assert_msg(cnnf_output_open(path, &o) == 0, "%s", cnnf_error_get());
	ck_assert_ptr_nonnull(o);
	return o;
}

static void write_publish(const char *path, const char *text)
{
	cnnf_output *o = open_ok(path);
	fputs(text, cnnf_output_stream(o));
	ck_assert_msg(cnnf_output_publish(&o, 1) == 0, "%s", cnnf_error_get());
}

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_new_and_replace)
{
	const char *d = scratch();
	write_publish(in(d, "a.txt"), "one\n");
	ck_assert_str_eq(get(in(d, "a.txt")), "one\n");
	chmod(in(d, "a.txt"), 0604);
	write_publish(in(d, "a.txt"), "two\n");
	ck_assert_str_eq(get(in(d, "a.txt")), "two\n");
	struct stat st;
	ck_assert_int_eq(stat(in(d, "a.txt"), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0604);
	ck_assert_str_eq(entries(d), "a.txt ");
}
END_TEST

START_TEST(test_not_there_until_published)
{
	const char *d = scratch();
	put(in(d, "old.txt"), "old\n");
	cnnf_output *o = open_ok(in(d, "new.txt"));
	cnnf_output *p = open_ok(in(d, "old.txt"));
	fputs("data\n", cnnf_output_stream(o));
	fputs("data\n", cnnf_output_stream(p));
	fflush(cnnf_output_stream(o));
	/* Written, flushed, not published: the directory is as it was. */
	ck_assert_str_eq(get(in(d, "new.txt")), "");
	ck_assert_str_eq(get(in(d, "old.txt")), "old\n");
	cnnf_output *both[] = {o, p};
	ck_assert_int_eq(cnnf_output_publish(both, 2), 0);
	ck_assert_str_eq(get(in(d, "new.txt")), "data\n");
	ck_assert_str_eq(get(in(d, "old.txt")), "data\n");
}
END_TEST

START_TEST(test_discard)
{
	const char *d = scratch();
	put(in(d, "keep.txt"), "keep\n");
	cnnf_output *o = open_ok(in(d, "keep.txt"));
	fputs("lost\n", cnnf_output_stream(o));
	cnnf_output_discard(o);
	cnnf_output_discard(NULL);
	ck_assert_str_eq(get(in(d, "keep.txt")), "keep\n");
	ck_assert_str_eq(entries(d), "keep.txt ");
}
END_TEST

START_TEST(test_links)
{
	const char *d = scratch();
	ck_assert_int_eq(mkdir(in(d, "sub"), 0755), 0);
	put(in(d, "target.txt"), "old\n");
	ck_assert_int_eq(symlink("../target.txt", in(d, "sub/link.txt")), 0);
	write_publish(in(d, "sub/link.txt"), "new\n");
	struct stat st;
	ck_assert_int_eq(lstat(in(d, "sub/link.txt"), &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_str_eq(get(in(d, "target.txt")), "new\n");
	ck_assert_str_eq(entries(in(d, "sub")), "link.txt ");
}
END_TEST

START_TEST(test_in_place)
{
	ck_assert_int_eq(cnnf_output_in_place("-"), 1);
	ck_assert_int_eq(cnnf_output_in_place("/dev/null"), 1);
	ck_assert_int_eq(cnnf_output_in_place("/proc/self/fd/2"), 1);
	const char *d = scratch();
	ck_assert_int_eq(cnnf_output_in_place(in(d, "file.png")), 0);
	write_publish("/dev/null", "nothing\n");
	struct stat st;
	ck_assert_int_eq(stat("/dev/null", &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_int_eq(cnnf_output_check(in(d, "file.png")), 0);
	ck_assert_str_eq(entries(d), "");
}
END_TEST

START_TEST(test_long_name)
{
	const char *d = scratch();
	char name[256];
	memset(name, 'n', 251);
	strcpy(name + 251, ".txt");
	write_publish(in(d, name), "long\n");
	ck_assert_str_eq(get(in(d, name)), "long\n");
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(test_directory_and_missing)
{
	const char *d = scratch();
	cnnf_output *o = (cnnf_output *)1;
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_output_open(d, &o), -1);
	ck_assert_ptr_null(o);
	ck_assert_error_has("is a directory");
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_output_open(in(d, "no/such.png"), &o), -1);
	ck_assert_error_has("no/such.png: cannot create: No such file or directory");
	cnnf_error_clear();
	ck_assert_int_eq(symlink("loop", in(d, "loop")), 0);
	ck_assert_int_eq(cnnf_output_open(in(d, "loop"), &o), -1);
	ck_assert_error_has("loop: Too many levels of symbolic links");
}
END_TEST

START_TEST(test_all_or_nothing)
{
	if (access("/dev/full", W_OK) != 0)
		return;
	const char *d = scratch();
	put(in(d, "a.txt"), "old\n");
	cnnf_output *outs[2] = {open_ok(in(d, "a.txt")), open_ok("/dev/full")};
	fputs("new\n", cnnf_output_stream(outs[0]));
	fputs("full\n", cnnf_output_stream(outs[1]));
	cnnf_error_clear();
	ck_assert_int_eq(cnnf_output_publish(outs, 2), -1);
	ck_assert_error_has("/dev/full: write error: No space left on device");
	/* The one that could be written is not published either. */
	ck_assert_str_eq(get(in(d, "a.txt")), "old\n");
	ck_assert_str_eq(entries(d), "a.txt ");
}
END_TEST

START_TEST(test_cleanup)
{
	/* With nothing open the handler's work is nothing, and it keeps errno. */
	errno = ERANGE;
	cnnf_output_cleanup();
	ck_assert_int_eq(errno, ERANGE);
}
END_TEST

static Suite *output_suite(void)
{
	Suite *s = suite_create("output");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_new_and_replace);
	tcase_add_test(tc, test_not_there_until_published);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_links);
	tcase_add_test(tc, test_in_place);
	tcase_add_test(tc, test_long_name);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_directory_and_missing);
	tcase_add_test(tc, test_all_or_nothing);
	tcase_add_test(tc, test_cleanup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cnnf_test_run(output_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
