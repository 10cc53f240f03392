/* A tiny test harness: CHECK records a failure with file:line and goes on, so one run lists
 * everything that is wrong; test_done() prints the summary and gives the exit status. */
#ifndef ANCD_TEST_UTIL_H
#define ANCD_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

extern int test_failures, test_checks;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    test_checks++;                                                                                 \
    if (!(cond)) {                                                                                 \
      test_failures++;                                                                             \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                                      \
  CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, %s = %.9g, tol %.3g", #a,            \
        (double)(a), #b, (double)(b), (double)(tol))

/* Exit status: 0 when every check passed, 1 otherwise, and 1 when no check ran at all (a test
 * with nothing to do calls test_skip instead). */
int test_done(const char *name);
/* Exit 77 (ctest "skipped") with a reason. */
void test_skip(const char *why) __attribute__((noreturn));

/* ../shared (ANCD_SHARED) or NULL when absent; path under it (static buffer per call site). */
const char *test_shared_dir(void);
/* A fresh empty directory for this test: $ANCD_TEST_TMP/<name> (removed first). */
const char *test_tmpdir(const char *name);
/* mkdir -p. */
int test_mkdirs(const char *path);
/* Writes bytes to a file (creating parent folders). */
int test_write_file(const char *path, const void *data, size_t n);
/* Writes a safetensors file from its JSON header (hn bytes, without the closing brace, in a
 * buffer of hcap with room for it and 8 bytes of padding) and its data; exits on failure. */
void test_write_safetensors(const char *path, char *h, size_t hn, size_t hcap,
                            const unsigned char *data, size_t dn);
/* snprintf into a char array that exits (test bug) instead of truncating a path. */
#define PATHF(buf, ...)                                                                            \
  do {                                                                                             \
    int len_ = snprintf(buf, sizeof buf, __VA_ARGS__);                                             \
    if (len_ < 0 || (size_t)len_ >= sizeof buf) {                                                  \
      fprintf(stderr, "%s:%d: path too long\n", __FILE__, __LINE__);                               \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* 1 when path exists (file or folder). */
int test_file_exists(const char *path);
/* The source tree (ANCD_SOURCE_DIR). */
const char *test_source_dir(void);

/* A golden file of the source tree (path relative to it): a '#' header line, then cases that
 * read_case reads one at a time (0 at the end). Checks the file opens, its header and that
 * `want` cases were read; returns how many were. */
int test_golden_cases(const char *rel_path, int (*read_case)(FILE *f), int want);

#endif
