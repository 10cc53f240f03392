/* Positional-embedding resize (musc_hetmm_spec §A.4.2) against PyTorch's F.interpolate bicubic,
 * by size (CLIP) and by DINO's scale factor with the 0.1 offset. Golden:
 * tests/golden/posembed/cases.txt, written by tests/golden/gen_posembed_golden.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "vit.h"

static int read_floats(FILE *f, float *x, long n) {
  for (long i = 0; i < n; i++)
    if (fscanf(f, "%f", &x[i]) != 1)
      return -1;
  return 0;
}

static void test_goldens(void) {
  char path[4096], version[64];
  snprintf(path, sizeof path, "%s/tests/golden/posembed/cases.txt", test_source_dir());
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f)
    return;
  int n_cases = 0, done = 0;
  CHECK(fscanf(f, "%63s %d", version, &n_cases) == 2, "%s: bad header", path);
  for (int c = 0; c < n_cases; c++) {
    int g, h, w, D;
    float offset;
    if (fscanf(f, "%d %d %d %d %f", &g, &h, &w, &D, &offset) != 5)
      break;
    long n_in = (long)g * g * D, n_out = (long)h * w * D;
    float *grid = malloc(n_in * sizeof(float)), *ref = malloc(n_out * sizeof(float));
    float *out = malloc(n_out * sizeof(float));
    int ok = read_floats(f, grid, n_in) == 0 && read_floats(f, ref, n_out) == 0;
    CHECK(ok, "%s: case %d truncated", path, c);
    if (ok) {
      vit_resize_pos_grid(out, grid, g, h, w, D, offset);
      double worst = 0.0;
      for (long i = 0; i < n_out; i++)
        worst = fmax(worst, fabs((double)out[i] - ref[i]));
      /* 1e-5 is the budget; fused multiply-adds as in ATen's AVX2 build give ~1 ulp. */
      CHECK(worst <= 2e-6, "g=%d -> %dx%d offset %g: max abs diff %.3g", g, h, w, offset, worst);
      fprintf(stderr, "posembed g=%d -> %dx%d offset %g: max abs diff %.3g\n", g, h, w, offset,
              worst);
      if (offset > 0) { /* the size form samples elsewhere: the golden must tell them apart */
        vit_resize_pos_grid(out, grid, g, h, w, D, 0.0f);
        double apart = 0.0;
        for (long i = 0; i < n_out; i++)
          apart = fmax(apart, fabs((double)out[i] - ref[i]));
        CHECK(apart > 1e-2, "g=%d -> %d: size form within %.3g of the scale form", g, h, apart);
      }
      done++;
    }
    free(grid);
    free(ref);
    free(out);
  }
  fclose(f);
  CHECK(done == 7 && n_cases == 7, "%d of %d cases run, expected 7 (torch %s)", done, n_cases,
        version);
}

/* Same grid size: copied unchanged in both forms (the models skip the resize). Also the size
 * form upsampling a constant grid stays constant (the cubic weights sum to 1). */
static void test_identity_and_constant(void) {
  int g = 5, D = 3;
  float grid[75], out[8 * 8 * 3];
  for (int i = 0; i < g * g * D; i++)
    grid[i] = (float)(i % 7) - 2.5f;
  vit_resize_pos_grid(out, grid, g, g, g, D, 0.1f);
  CHECK(memcmp(out, grid, sizeof grid) == 0, "same-size DINO form must copy the grid");
  vit_resize_pos_grid(out, grid, g, g, g, D, 0.0f);
  CHECK(memcmp(out, grid, sizeof grid) == 0, "same-size size form must copy the grid");
  for (int i = 0; i < g * g * D; i++)
    grid[i] = 0.75f;
  vit_resize_pos_grid(out, grid, g, 8, 8, D, 0.0f);
  for (int i = 0; i < 8 * 8 * D; i++)
    CHECK(fabsf(out[i] - 0.75f) <= 1e-6f, "constant grid: out[%d] = %.9g", i, out[i]);
}

int main(void) {
  test_goldens();
  test_identity_and_constant();
  return test_done("test_posembed");
}
