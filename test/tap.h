/*
** test/tap.h: TAP output for the C unit tests.
**
** Each test is one program; the runner (test/run.sh) gives it its own
** process and a timeout. ok() prints one TAP line per check and counts
** failures; tap_done() prints the plan and returns the exit code. Exit code
** 77 (TAP_SKIP) means the kernel lacks a feature the test needs.
*/
#ifndef TEST_TAP_H
#define TEST_TAP_H

#include <stdio.h>
#include <stdlib.h>

#define TAP_SKIP 77

static int tap_n, tap_fail;

#define ok(cond, ...) do {                                              \
	int ok_c_ = !!(cond);                                           \
	tap_n++;                                                        \
	if (!ok_c_) tap_fail++;                                         \
	printf("%s %d - ", ok_c_ ? "ok" : "not ok", tap_n);             \
	printf(__VA_ARGS__);                                            \
	if (!ok_c_) printf("  (%s:%d: %s)", __FILE__, __LINE__, #cond); \
	printf("\n");                                                   \
	fflush(stdout);                                                 \
} while (0)

#define tap_skip(...) do { printf("1..0 # SKIP "); printf(__VA_ARGS__); \
	printf("\n"); exit(TAP_SKIP); } while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_fail)
		printf("# %d of %d checks failed\n", tap_fail, tap_n);
	return tap_fail ? 1 : 0;
}

#endif
