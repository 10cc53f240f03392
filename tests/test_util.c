#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int test_failures = 0, test_checks = 0;

int test_done(const char *name) {
  if (test_checks == 0) { /* a test that checked nothing proved nothing: skip with 77 instead */
    fprintf(stderr, "%s: FAILED: no check ran (a test that has nothing to do must skip)\n", name);
    return 1;
  }
  if (test_failures)
    fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
  else
    fprintf(stderr, "%s: all %d checks passed\n", name, test_checks);
  return test_failures ? 1 : 0;
}

void test_skip(const char *why) {
  fprintf(stderr, "skipped: %s\n", why);
  exit(77);
}

const char *test_shared_dir(void) {
  const char *d = getenv("ANCD_SHARED");
  struct stat st;
  if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
    return NULL;
  return d;
}

const char *test_source_dir(void) {
  const char *d = getenv("ANCD_SOURCE_DIR");
  return d ? d : ".";
}

int test_golden_cases(const char *rel_path, int (*read_case)(FILE *f), int want) {
  char path[4096];
  PATHF(path, "%s/%s", test_source_dir(), rel_path);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  int cases = 0;
  if (f) {
    char line[256];
    CHECK(fgets(line, sizeof line, f) && line[0] == '#', "%s: header line", path);
    while (read_case(f))
      cases++;
    fclose(f);
  }
  CHECK(cases == want, "%s: %d golden cases read, %d expected", path, cases, want);
  return cases;
}

int test_mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
      *p = '/';
    }
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

const char *test_tmpdir(const char *name) {
  static char dir[4096];
  const char *base = getenv("ANCD_TEST_TMP");
  snprintf(dir, sizeof dir, "%s/%s", base ? base : "/tmp/ancd_test", name);
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0 || test_mkdirs(dir) != 0) {
    fprintf(stderr, "cannot create test directory %s\n", dir);
    exit(1);
  }
  return dir;
}

void test_write_safetensors(const char *path, char *h, size_t hn, size_t hcap,
                            const unsigned char *data, size_t dn) {
  hn += (size_t)snprintf(h + hn, hcap - hn, "}");
  while (hn % 8 && hn < hcap)
    h[hn++] = ' ';
  unsigned char *file = malloc(8 + hn + dn);
  if (!file || hn >= hcap) {
    fprintf(stderr, "cannot build %s\n", path);
    exit(1);
  }
  for (int k = 0; k < 8; k++)
    file[k] = (unsigned char)((uint64_t)hn >> (8 * k));
  memcpy(file + 8, h, hn);
  memcpy(file + 8 + hn, data, dn);
  if (test_write_file(path, file, 8 + hn + dn) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  free(file);
}

int test_write_file(const char *path, const void *data, size_t n) {
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash) {
    *slash = 0;
    if (test_mkdirs(parent) != 0)
      return -1;
  }
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

int test_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}
