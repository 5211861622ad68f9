/* testutil.h: small helpers shared by the Check suites. */
#ifndef CNNF_TESTUTIL_H
#define CNNF_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Assert that the error buffer contains `needle`. */
#define ck_assert_error_has(needle)                                                            \
	ck_assert_msg(strstr(cnnf_error_get(), (needle)) != NULL,                                  \
		      "error \"%s\" lacks \"%s\"", cnnf_error_get(), (needle))

/* Run one suite; returns the number of failed checks. */
static inline int cnnf_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}

/* A scratch directory for files a test writes: tests/tmp/<name>, made if missing. */
static inline const char *cnnf_test_tmpdir(void)
{
	static char dir[4096];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "%s/../tmp", TEST_DATA_DIR);
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
		if (system(cmd) != 0)
			abort();
	}
	return dir;
}

#endif
