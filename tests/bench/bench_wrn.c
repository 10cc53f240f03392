/* WideResNet forward to layer3 on the CPU backend (not a test; issue 14 "Speed"): random weights
 * (wrn_random), B images of S x S, the outputs the HETMM glue asks for (WRN_NORMALIZE, NCHW).
 *   OMP_NUM_THREADS=2 ./bench_wrn [arch] [S] [B] [repeats] [--profile]
 * (defaults wide_resnet50_2 256 1 5). Prints the best and median ms per image and GFLOP/s at
 * wrn_flops (convs only); --profile adds each op kind's share (ops_profile.h). The PyTorch
 * counterpart is tests/bench/torch_wrn.py; alternate the two on a shared machine. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "ops.h"
#include "ops_profile.h"
#include "wideresnet.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *arch = argc > 1 ? argv[1] : "wide_resnet50_2";
  const int S = argc > 2 ? atoi(argv[2]) : 256, B = argc > 3 ? atoi(argv[3]) : 1;
  const int R = argc > 4 ? atoi(argv[4]) : 5;
  if (S < 32 || B < 1 || R < 1 || R > 1000) {
    fprintf(stderr, "usage: bench_wrn [arch] [S >= 32] [B >= 1] [repeats 1..1000]\n");
    return 2;
  }
  wrn_desc d;
  wrn_weights w;
  float *storage = NULL;
  wrn_model *m = NULL;
  const int profile = argc > 5 && strcmp(argv[5], "--profile") == 0;
  const ops *o = profile ? ops_profile(ops_cpu()) : ops_cpu();
  if (wrn_random(&d, &w, &storage, arch, 1) != 0 || wrn_create(&m, &d, &w, o, B, S, S) != 0) {
    fprintf(stderr, "bench_wrn: %s\n", ancd_error());
    return 1;
  }
  int C[3], Hl[3], Wl[3];
  wrn_layer_shapes(C, Hl, Wl, &d, S, S);
  float *images = xmalloc((size_t)B * 3 * S * S * sizeof(float)), *out[3];
  for (size_t i = 0; i < (size_t)B * 3 * S * S; i++)
    images[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
  for (int l = 0; l < 3; l++)
    out[l] = xmalloc((size_t)B * C[l] * Hl[l] * Wl[l] * sizeof(float));
  double *t = xmalloc((size_t)R * sizeof *t);
  if (wrn_forward(out, m, images, B, WRN_NORMALIZE) != 0) { /* warm-up */
    fprintf(stderr, "bench_wrn: %s\n", ancd_error());
    return 1;
  }
  if (profile)
    ops_profile_reset();
  for (int r = 0; r < R; r++) {
    double t0 = now();
    if (wrn_forward(out, m, images, B, WRN_NORMALIZE) != 0) {
      fprintf(stderr, "bench_wrn: %s\n", ancd_error());
      return 1;
    }
    t[r] = now() - t0;
  }
  qsort(t, (size_t)R, sizeof *t, cmp_double);
  const double gf = wrn_flops(&d, S, S) * B / 1e9;
  printf("ancd %s %dx%d batch %d threads %d: best %.1f ms/image (%.1f GFLOP/s), median %.1f "
         "ms/image, %.2f GFLOP/image, peak %.0f MiB\n",
         arch, S, S, B, omp_get_max_threads(), 1e3 * t[0] / B, gf / t[0], 1e3 * t[R / 2] / B,
         gf / B, wrn_peak_bytes(m) / 1048576.0);
  const ops_profile_entry *e;
  for (int i = 0, n = profile ? ops_profile_entries(&e) : 0; i < n; i++)
    printf("  %-34s %4ld calls %8.2f ms/forward %7.1f GFLOP/s\n", e[i].name, e[i].calls / R,
           1e3 * e[i].seconds / R, e[i].seconds > 0 ? e[i].flops / e[i].seconds / 1e9 : 0.0);
  for (int l = 0; l < 3; l++)
    free(out[l]);
  free(images), free(t), free(storage);
  wrn_free(m);
  return 0;
}
