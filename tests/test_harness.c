/* The harness itself (test_util.h): a test that ran no check fails, one with a failing check
 * fails, one whose checks all pass passes. */
#include "test_util.h"

int main(void) {
  int none = test_done("(a test with no check)"); /* expected to say FAILED */
  int ok = 0, bad = 0;
  test_checks = 1; /* as after one passing CHECK */
  ok = test_done("(a test whose check passed)");
  test_failures = 1; /* as after one failing CHECK */
  bad = test_done("(a test whose check failed)");
  test_checks = test_failures = 0;
  CHECK(none == 1, "no check ran: status %d, expected 1", none);
  CHECK(ok == 0, "one passing check: status %d, expected 0", ok);
  CHECK(bad == 1, "one failing check: status %d, expected 1", bad);
  return test_done("test_harness");
}
