/* check_batch.c: batch outputs (cli/batch.c): names, patterns, collisions, folders, lists. */
#include <sys/stat.h>
#include <unistd.h>

#include "cli/batch.h"
#include "testutil.h"

/* name(dir, in, pattern, suffix, ext) compared with want; the result freed. */
static void expect_name(const char *dir, const char *in, const char *pattern, const char *suffix,
			const char *ext, const char *want)
{
	char *got = cnnf_batch_name(dir, in, pattern, suffix, ext);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_names)
{
	expect_name("out", "photos/img41.jpg", NULL, NULL, NULL, "out/img41.jpg");
	expect_name("out/", "img41.jpg", NULL, "-blur", NULL, "out/img41-blur.jpg");
	expect_name("out", "a/b.c/img.tar.gz", NULL, "", ".png", "out/img.tar.png");
	/* A leading dot starts a name; no extension at all keeps none. */
	expect_name("o", ".hidden", NULL, "-x", NULL, "o/.hidden-x");
	expect_name("o", "dir.d/plain", NULL, NULL, NULL, "o/plain");
	expect_name("o", "-", NULL, NULL, ".png", "o/stdin.png");
	expect_name("o", "x/scan.tif", "%s-probs.npy", "-ignored", NULL, "o/scan-probs.npy");
	expect_name("o", "scan.tif", "100%%-%s.png", NULL, NULL, "o/100%-scan.png");
	expect_name("", "scan.tif", "%s.png", NULL, NULL, "scan.png");
}
END_TEST

START_TEST(test_patterns)
{
	ck_assert_int_eq(cnnf_batch_check_pattern("%s.png", "--name"), 0);
	ck_assert_int_eq(cnnf_batch_check_pattern("a%%b%s", "--name"), 0);
	ck_assert_int_eq(cnnf_batch_check_pattern("plain.png", "--name"), -1);
	ck_assert_error_has("--name 'plain.png': needs one %s");
	ck_assert_int_eq(cnnf_batch_check_pattern("%s-%s.png", "--probs"), -1);
	ck_assert_error_has("--probs");
	ck_assert_int_eq(cnnf_batch_check_pattern("%s-%d.png", "--name"), -1);
	ck_assert_int_eq(cnnf_batch_check_pattern("../%s.png", "--name"), -1);
	ck_assert_error_has("no '/'");
	ck_assert_int_eq(cnnf_batch_check_pattern("%s%", "--name"), -1);
	ck_assert_int_eq(cnnf_batch_check_pattern("", "--name"), -1);
}
END_TEST

START_TEST(test_collisions)
{
	char *in[] = {"a/x.jpg", "b/y.png", "b/x.png"};
	char *ok[] = {"o/x.jpg", NULL, "o/y.png", "o/y-p.npy", "o/x.png", NULL};
	ck_assert_int_eq(cnnf_batch_check(in, 3, ok, 2), 0);
	/* The second output of one input colliding with the first of another. */
	char *clash[] = {"o/x.png", "o/y.png", "o/y.png", NULL, "o/z.png", NULL};
	ck_assert_int_eq(cnnf_batch_check(in, 3, clash, 2), -1);
	ck_assert_error_has("o/y.png: a/x.jpg and b/y.png would both be written there");
}
END_TEST

START_TEST(test_onto_input)
{
	char dir[4200], a[4300], other[4300], out[4300];
	snprintf(dir, sizeof dir, "%s/batch-%d", cnnf_test_tmpdir(), (int)getpid());
	ck_assert_int_eq(cnnf_batch_mkdir(dir), 0);
	snprintf(a, sizeof a, "%s/a.png", dir);
	snprintf(other, sizeof other, "%s/other.png", dir);
	FILE *f = fopen(a, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	unlink(other);
	ck_assert_int_eq(link(a, other), 0);
	char *in[] = {"nowhere.png", a};
	/* The output of nowhere.png is a hard link to the input a.png. */
	snprintf(out, sizeof out, "%s", other);
	char *outs[] = {out, NULL};
	ck_assert_int_eq(cnnf_batch_check(in, 2, outs, 1), -1);
	ck_assert_error_has("the output of nowhere.png would replace the input");
	unlink(other);
	ck_assert_int_eq(cnnf_batch_check(in, 2, outs, 1), 0);
	unlink(a);
	rmdir(dir);
}
END_TEST

START_TEST(test_mkdir)
{
	char dir[4200], file[4300];
	snprintf(dir, sizeof dir, "%s/batchdir-%d/x/y", cnnf_test_tmpdir(), (int)getpid());
	ck_assert_int_eq(cnnf_batch_mkdir(dir), 0);
	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(cnnf_batch_mkdir(dir), 0); /* there already: fine */
	snprintf(file, sizeof file, "%s/f", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(cnnf_batch_mkdir(file), -1);
	ck_assert_error_has("not a directory");
	unlink(file);
	rmdir(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}
END_TEST

START_TEST(test_list)
{
	char path[4300];
	snprintf(path, sizeof path, "%s/batch-%d.list", cnnf_test_tmpdir(), (int)getpid());
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs("one.png\n\n  two.png\r\nthree.png", f); /* blank line, CRLF, no final newline */
	fclose(f);
	char **list = NULL;
	int n = 0;
	ck_assert_int_eq(cnnf_batch_add(&list, &n, "first.png"), 0);
	ck_assert_int_eq(cnnf_batch_read_list(path, &list, &n), 0);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(list[0], "first.png");
	ck_assert_str_eq(list[1], "one.png");
	ck_assert_str_eq(list[2], "  two.png"); /* a name may begin with blanks */
	ck_assert_str_eq(list[3], "three.png");
	/* Growth past several powers of two keeps every entry. */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(cnnf_batch_add(&list, &n, "x"), 0);
	ck_assert_int_eq(n, 1004);
	ck_assert_str_eq(list[3], "three.png");
	cnnf_batch_free_list(list, n);

	f = fopen(path, "wb");
	fputs("a.png\nb\0c\n", f);
	fwrite("b\0c\n", 1, 4, f);
	fclose(f);
	list = NULL;
	n = 0;
	ck_assert_int_eq(cnnf_batch_read_list(path, &list, &n), -1);
	ck_assert_error_has("line 2: a NUL byte");
	cnnf_batch_free_list(list, n);

	/* 4096 bytes a line at most. */
	f = fopen(path, "wb");
	for (int i = 0; i < 4096; i++)
		fputc('a', f);
	fclose(f);
	list = NULL;
	n = 0;
	ck_assert_int_eq(cnnf_batch_read_list(path, &list, &n), 0);
	ck_assert_int_eq(n, 1);
	cnnf_batch_free_list(list, n);
	f = fopen(path, "wb");
	for (int i = 0; i < 4097; i++)
		fputc('a', f);
	fclose(f);
	list = NULL;
	n = 0;
	ck_assert_int_eq(cnnf_batch_read_list(path, &list, &n), -1);
	ck_assert_error_has("longer than");
	cnnf_batch_free_list(list, n);
	unlink(path);
	ck_assert_int_eq(cnnf_batch_read_list(path, &list, &n), -1);
	ck_assert_error_has("batch-");
}
END_TEST

/* One file under two names: links by inode, folders that do not exist yet by name. */
START_TEST(test_same_file)
{
	ck_assert(cnnf_batch_same_file("no/such/../such/a.png", "no/such/a.png"));
	ck_assert(cnnf_batch_same_file("no/./such//a.png", "no/such/a.png"));
	ck_assert(cnnf_batch_same_file("x/../../q", "../q"));
	ck_assert(!cnnf_batch_same_file("../q", "q"));
	ck_assert(!cnnf_batch_same_file("no/a.png", "no/b.png"));
	ck_assert(cnnf_batch_same_file("/no/../..//no/a", "/no/a"));
	char a[4200], b[4200];
	snprintf(a, sizeof a, "%s/same-a", cnnf_test_tmpdir());
	snprintf(b, sizeof b, "%s/same-b", cnnf_test_tmpdir());
	unlink(a), unlink(b);
	FILE *f = fopen(a, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(link(a, b), 0);
	ck_assert(cnnf_batch_same_file(a, b));
	unlink(b);
	ck_assert(!cnnf_batch_same_file(a, b));
	ck_assert_int_eq(symlink(a, b), 0);
	ck_assert(cnnf_batch_same_file(b, a));
	unlink(a), unlink(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_patterns);
	tcase_add_test(tc, test_collisions);
	tcase_add_test(tc, test_onto_input);
	tcase_add_test(tc, test_mkdir);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_same_file);
	suite_add_tcase(s, tc);
	return cnnf_test_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
