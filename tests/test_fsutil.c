/* io/fsutil: the stem rule (anomalyncd_spec §1.3, §11.29: up to the first dot). */
#include <string.h>

#include "error.h"
#include "fsutil.h"
#include "test_util.h"

static void check_stem(const char *path, const char *want) {
  char out[64] = "?";
  CHECK(fs_stem(out, sizeof out, path) == 0, "%s: %s", path, ancd_error());
  CHECK(!strcmp(out, want), "stem of '%s' is '%s', want '%s'", path, out, want);
}

static void test_stem(void) {
  check_stem("000.png", "000");
  check_stem("/d/cat/test/crack/000.png", "000");
  check_stem("a.b.png", "a"); /* several dots: up to the first, as the reference */
  check_stem("dir/x.tar.gz", "x");
  check_stem("noext", "noext");
  check_stem("a.b/c.png", "c"); /* dots in folders do not count */
  check_stem("a.b/noext", "noext");
  check_stem(".hidden.png", ""); /* a leading dot: Python's name.split('.')[0] is '' */
  check_stem("dir/.x", "");
  check_stem("..png", "");
  check_stem("trailing.", "trailing");
  check_stem("dir/", "");
  check_stem("", "");
  /* The buffer holds the stem and its NUL, nothing more is needed. */
  char small[4];
  CHECK(fs_stem(small, sizeof small, "abc.png") == 0 && !strcmp(small, "abc"), "exact fit");
  CHECK(fs_stem(small, sizeof small, "abcd.png") == -1 && strstr(ancd_error(), "abcd.png"),
        "too small: %s", ancd_error());
}

static void test_replace_ext(void) {
  char out[32];
  CHECK(fs_replace_ext(out, sizeof out, "a.b.jpg", ".png") == 0 && !strcmp(out, "a.b.png"), "%s",
        out);
  CHECK(fs_replace_ext(out, sizeof out, ".hidden", ".png") == 0 && !strcmp(out, ".hidden.png"),
        "%s", out);
}

int main(void) {
  test_stem();
  test_replace_ext();
  return test_done("test_fsutil");
}
