/* The precision names of the config's `precision` key (core/ops/ops_select.c). */
#include <string.h>

#include "error.h"
#include "ops.h"
#include "test_util.h"

int main(void) {
  const char *names[] = {"fp32", "tf32", "bf16"};
  const ops_precision want[] = {PRECISION_FP32, PRECISION_TF32, PRECISION_BF16};
  for (int i = 0; i < 3; i++) {
    ops_precision p = (ops_precision)-1;
    CHECK(ops_precision_parse(&p, names[i]) == 0 && p == want[i], "%s: %d", names[i], (int)p);
  }
  ops_precision p = PRECISION_TF32;
  CHECK(ops_precision_parse(&p, "fp16") == -1 && strstr(ancd_error(), "unknown precision 'fp16'") &&
            p == PRECISION_TF32,
        "fp16: %s", ancd_error());
  CHECK(ops_precision_parse(&p, "FP32") == -1, "names are lower case, as the config's enum");
  return test_done("test_ops_select");
}
