/* check_parallel.c: cnnf_parallel_for hands out every item exactly once and reports failures. */
#include <stdatomic.h>

#include "base/parallel.h"
#include "testutil.h"

#define MAX_CALLS 512

/* What the workers saw; atomics because they run at once. */
typedef struct record {
	size_t n;                /* items the loop was given */
	atomic_int *hits;        /* n: how often each item was handed out */
	atomic_int calls;        /* worker calls */
	atomic_int bad_range;    /* a call had begin > end or end > n */
	size_t begin[MAX_CALLS]; /* each call's range, in slot calls-1 */
	size_t end[MAX_CALLS];
	size_t fail_item; /* a call whose range holds this item returns -1 */
} record;

static void record_init(record *r, size_t n)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	r->hits = calloc(n ? n : 1, sizeof *r->hits);
	ck_assert_ptr_nonnull(r->hits);
	for (size_t i = 0; i < n; i++)
		atomic_init(&r->hits[i], 0);
	atomic_init(&r->calls, 0);
	atomic_init(&r->bad_range, 0);
	r->fail_item = (size_t)-1;
}

static int worker(void *ctx, size_t begin, size_t end)
{
	record *r = ctx;
	int slot = atomic_fetch_add(&r->calls, 1);
	if (slot < MAX_CALLS) {
		r->begin[slot] = begin;
		r->end[slot] = end;
	}
	if (begin > end || end > r->n) {
		atomic_store(&r->bad_range, 1);
		return 0;
	}
	for (size_t i = begin; i < end; i++)
		atomic_fetch_add(&r->hits[i], 1);
	return r->fail_item >= begin && r->fail_item < end ? -1 : 0;
}

/* The ranges sorted by begin, so two runs can be compared whatever order the threads ran in. */
static void sorted_ranges(record *r, size_t *begin, size_t *end)
{
	int calls = atomic_load(&r->calls);
	for (int i = 0; i < calls; i++) {
		int j = i;
		while (j > 0 && begin[j - 1] > r->begin[i]) {
			begin[j] = begin[j - 1];
			end[j] = end[j - 1];
			j--;
		}
		begin[j] = r->begin[i];
		end[j] = r->end[i];
	}
}

/* Every item exactly once, for several sizes and thread counts (0: all cores). */
START_TEST(test_covers_each_item_once)
{
	static const size_t sizes[] = {1, 2, 5, 1000};
	static const int threads[] = {1, 2, 3, 8, 0};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
		for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
			size_t n = sizes[s];
			record *r = malloc(sizeof *r);
			ck_assert_ptr_nonnull(r);
			record_init(r, n);
			ck_assert_int_eq(cnnf_parallel_for(n, threads[t], worker, r), 0);
			ck_assert_msg(!atomic_load(&r->bad_range), "n=%zu threads=%d: bad range", n,
			              threads[t]);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(atomic_load(&r->hits[i]) == 1,
				              "n=%zu threads=%d: item %zu done %d times", n,
				              threads[t], i, atomic_load(&r->hits[i]));
			/* One call with everything on one thread, else at most the chunks. */
			int calls = atomic_load(&r->calls), nt = cnnf_parallel_threads(threads[t]);
			int most = nt == 1 ? 1 : nt * CNNF_PARALLEL_CHUNKS;
			ck_assert_msg(calls >= 1 && calls <= most && (size_t)calls <= n,
			              "n=%zu threads=%d: %d calls", n, threads[t], calls);
			free(r->hits);
			free(r);
		}
}
END_TEST

/* The split depends only on n and the thread count: two runs give the same ranges. */
START_TEST(test_split_repeatable)
{
	static const int threads[] = {2, 3, 8};
	for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
		record *a = malloc(sizeof *a), *b = malloc(sizeof *b);
		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		record_init(a, 1000);
		record_init(b, 1000);
		ck_assert_int_eq(cnnf_parallel_for(1000, threads[t], worker, a), 0);
		ck_assert_int_eq(cnnf_parallel_for(1000, threads[t], worker, b), 0);
		ck_assert_int_eq(atomic_load(&a->calls), atomic_load(&b->calls));
		size_t ab[MAX_CALLS], ae[MAX_CALLS], bb[MAX_CALLS], be[MAX_CALLS];
		sorted_ranges(a, ab, ae);
		sorted_ranges(b, bb, be);
		for (int i = 0; i < atomic_load(&a->calls); i++)
			ck_assert_msg(ab[i] == bb[i] && ae[i] == be[i],
			              "threads=%d: range %d is [%zu,%zu) then [%zu,%zu)",
			              threads[t], i, ab[i], ae[i], bb[i], be[i]);
		free(a->hits);
		free(b->hits);
		free(a);
		free(b);
	}
}
END_TEST

START_TEST(test_threads)
{
	ck_assert_int_ge(cnnf_parallel_threads(0), 1);
	ck_assert_int_eq(cnnf_parallel_threads(1), 1);
	ck_assert_int_eq(cnnf_parallel_threads(3), 3);
}
END_TEST

/* No items: nothing to do, and no failure. */
START_TEST(test_empty)
{
	record *r = malloc(sizeof *r);
	ck_assert_ptr_nonnull(r);
	record_init(r, 0);
	ck_assert_int_eq(cnnf_parallel_for(0, 4, worker, r), 0);
	ck_assert(!atomic_load(&r->bad_range));
	free(r->hits);
	free(r);
}
END_TEST

/*
 * A worker that fails (returns -1) makes the loop return -1 with "out of
 * memory", whether the failing range is the first (which may run in the
 * calling thread) or the last (in another thread), and with one thread.
 */
START_TEST(test_worker_fails)
{
	static const int threads[] = {1, 2, 3, 8, 0};
	static const size_t fail_at[] = {0, 999, 500};
	for (size_t t = 0; t < sizeof threads / sizeof *threads; t++)
		for (size_t f = 0; f < sizeof fail_at / sizeof *fail_at; f++) {
			record *r = malloc(sizeof *r);
			ck_assert_ptr_nonnull(r);
			record_init(r, 1000);
			r->fail_item = fail_at[f];
			cnnf_error_clear();
			ck_assert_msg(cnnf_parallel_for(1000, threads[t], worker, r) == -1,
			              "threads=%d, failing item %zu: not reported", threads[t],
			              fail_at[f]);
			ck_assert_error_has("out of memory");

			/* The failure leaves nothing behind: the next loop succeeds. */
			r->fail_item = (size_t)-1;
			ck_assert_int_eq(cnnf_parallel_for(1000, threads[t], worker, r), 0);
			free(r->hits);
			free(r);
		}
}
END_TEST

static Suite *parallel_suite(void)
{
	Suite *s = suite_create("parallel");
	TCase *core = tcase_create("core");
	tcase_add_test(core, test_covers_each_item_once);
	tcase_add_test(core, test_split_repeatable);
	tcase_add_test(core, test_threads);
	tcase_add_test(core, test_empty);
	suite_add_tcase(s, core);
	TCase *errors = tcase_create("errors");
	tcase_add_test(errors, test_worker_fails);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	return cnnf_test_run(parallel_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
