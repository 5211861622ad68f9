/* check_error.c: the per-thread error buffer: set, get, clear, overwrite, truncation, threads. */
#include <pthread.h>

#include "testutil.h"

/* ---- core ------------------------------------------------------------------------------- */

START_TEST(test_set_get)
{
	cnnf_error("%s:%d:%d: unexpected '%c'", "edges.k", 3, 14, ';');
	ck_assert_str_eq(cnnf_error_get(), "edges.k:3:14: unexpected ';'");
	/* Reading does not consume the message. */
	ck_assert_str_eq(cnnf_error_get(), "edges.k:3:14: unexpected ';'");
}
END_TEST

START_TEST(test_clear)
{
	cnnf_error("in.png: truncated IDAT");
	cnnf_error_clear();
	/* Never NULL: "" when nothing is set. */
	ck_assert_ptr_nonnull(cnnf_error_get());
	ck_assert_str_eq(cnnf_error_get(), "");
	/* Clearing twice is harmless. */
	cnnf_error_clear();
	ck_assert_str_eq(cnnf_error_get(), "");
}
END_TEST

/* A later call replaces the message; a shorter one must not leave the old tail behind. */
START_TEST(test_overwrite)
{
	cnnf_error("a rather long first message about %s", "something");
	cnnf_error("short");
	ck_assert_str_eq(cnnf_error_get(), "short");
	cnnf_error("%s", "");
	ck_assert_str_eq(cnnf_error_get(), "");
}
END_TEST

/*
 * A message far longer than any sensible buffer is cut, not written past
 * the end (ASan would catch that): it stays NUL-terminated, is a prefix of
 * what was asked, and a message set afterwards is whole again.
 */
START_TEST(test_long_message_truncated)
{
	enum { LONG = 100000 };
	char *big = malloc(LONG + 1);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < LONG; i++)
		big[i] = (char)('a' + i % 26);
	big[LONG] = '\0';

	cnnf_error("file.k: %s", big);
	const char *msg = cnnf_error_get();
	size_t n = strlen(msg);
	ck_assert_uint_gt(n, 8);
	ck_assert_uint_lt(n, (size_t)LONG);
	ck_assert_msg(strncmp(msg, "file.k: ", 8) == 0, "prefix lost: \"%.20s\"", msg);
	ck_assert_msg(memcmp(msg + 8, big, n - 8) == 0, "truncated text is not a prefix");

	cnnf_error("next");
	ck_assert_str_eq(cnnf_error_get(), "next");
	free(big);
}
END_TEST

/* What a second thread saw of its own buffer, checked by the main thread after the join. */
struct seen {
	char at_start[64]; /* its buffer before it set anything */
	char own[64];      /* its buffer after setting its own message */
	char cleared[64];  /* its buffer after clearing */
};

static void *thread_body(void *arg)
{
	struct seen *s = arg;
	/* Check's assertions are not used here: a failure must be reported from the main thread. */
	snprintf(s->at_start, sizeof s->at_start, "%s", cnnf_error_get());
	cnnf_error("thread: %d", 42);
	snprintf(s->own, sizeof s->own, "%s", cnnf_error_get());
	cnnf_error_clear();
	snprintf(s->cleared, sizeof s->cleared, "%s", cnnf_error_get());
	/* Leave a message behind, to show that it does not reach the main thread either. */
	cnnf_error("thread: leftover");
	return NULL;
}

/* Workers may fail at the same time: each has its own buffer. */
START_TEST(test_per_thread)
{
	cnnf_error("main: %s", "mine");
	struct seen s;
	memset(&s, 'x', sizeof s);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, thread_body, &s), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);

	ck_assert_str_eq(s.at_start, "");
	ck_assert_str_eq(s.own, "thread: 42");
	ck_assert_str_eq(s.cleared, "");
	/* Neither the thread's message nor its clear touched the main thread's buffer. */
	ck_assert_str_eq(cnnf_error_get(), "main: mine");
}
END_TEST

static Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *core = tcase_create("core");
	tcase_add_test(core, test_set_get);
	tcase_add_test(core, test_clear);
	tcase_add_test(core, test_overwrite);
	tcase_add_test(core, test_long_message_truncated);
	tcase_add_test(core, test_per_thread);
	suite_add_tcase(s, core);
	return s;
}

int main(void)
{
	return cnnf_test_run(error_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
