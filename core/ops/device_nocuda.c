/* The CPU-only build: no CUDA backend. */
#include "device.h"
#include "ops.h"

#include <stdio.h>

int device_cuda_built(void) { return 0; }

int device_cuda_count(char *name, size_t n) {
  snprintf(name, n, "not built with CUDA");
  return 0;
}

const ops *ops_cuda(void) { return NULL; }
