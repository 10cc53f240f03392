/* The backend-independent parts of ops.h: choosing a backend and its precision, sizing attention
 * scratch. */
#include <string.h>

#include "device.h"
#include "error.h"
#include "ops.h"

/* Scores/probabilities [B,NH,T,T]: cpu and cuda both take q, k, v as strided views into qkv and
 * write each head's output into its columns of out, so they need no head-major copies. */

const ops *ops_select(const char *device) {
  if (strcmp(device, "cpu") == 0)
    return ops_cpu();
  if (strcmp(device, "auto") == 0) {
    const ops *o = ops_cuda();
    return o ? o : ops_cpu();
  }
  if (strcmp(device, "cuda") == 0) {
    const ops *o = ops_cuda();
    if (o)
      return o;
    if (!device_cuda_built()) {
      ancd_errorf("device cuda requested but this binary was built without CUDA (use device: "
                  "auto or cpu)");
      return NULL;
    }
    char why[256];
    device_cuda_count(why, sizeof why);
    ancd_errorf("device cuda requested but no GPU is usable (%s)", why);
    return NULL;
  }
  ancd_errorf("unknown device '%s' (expected auto, cpu or cuda)", device);
  return NULL;
}

int ops_precision_parse(ops_precision *out, const char *name) {
  static const char *const names[] = {
      [PRECISION_FP32] = "fp32", [PRECISION_TF32] = "tf32", [PRECISION_BF16] = "bf16"};
  for (int p = 0; p < (int)(sizeof names / sizeof names[0]); p++)
    if (strcmp(name, names[p]) == 0) {
      *out = (ops_precision)p;
      return 0;
    }
  return ancd_errorf("unknown precision '%s' (expected fp32, tf32 or bf16)", name);
}
