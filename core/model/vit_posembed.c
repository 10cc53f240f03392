/* musc_hetmm_spec §A.4.2 "Positional-embedding resizing": PyTorch's
 * F.interpolate(mode='bicubic', align_corners=False, antialias=False) of the g x g patch grid,
 * reproduced operation for operation in float (ATen's HelperInterpCubic and
 * area_pixel_compute_source_index). ATen's CPU kernels are built for AVX2 with FMA and GCC fuses
 * their a*b+c; fmaf does the same here, which brings the output from ~4e-6 to ~4e-7 of PyTorch's
 * (plain float multiply-adds move the sample coordinates by an ulp). */
#include <math.h>
#include <string.h>

#include "vit.h"

#define CUBIC_A -0.75f

/* Cubic convolution kernel for |x| <= 1 and 1 < |x| < 2 (ATen's cubic_convolution1/2):
 * ((A + 2) x - (A + 3)) x x + 1 and ((A x - 5A) x + 8A) x - 4A. */
static float cubic1(float x) { return fmaf(fmaf(CUBIC_A + 2, x, -(CUBIC_A + 3)) * x, x, 1.0f); }
static float cubic2(float x) {
  return fmaf(fmaf(fmaf(CUBIC_A, x, -5 * CUBIC_A), x, 8 * CUBIC_A), x, -4 * CUBIC_A);
}

/* The four taps (clamped to the edge) and weights of output index i along an axis of n inputs,
 * where scale is input units per output unit. */
static void cubic_taps(int idx[4], float wt[4], float scale, int i, int n) {
  float src = fmaf(scale, (float)i + 0.5f, -0.5f); /* no clamp at 0 for cubic */
  int i0 = (int)floorf(src);
  if (i0 > n - 1)
    i0 = n - 1;
  float t = src - (float)i0;
  t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  float t2 = 1.0f - t;
  wt[0] = cubic2(t + 1.0f);
  wt[1] = cubic1(t);
  wt[2] = cubic1(t2);
  wt[3] = cubic2(t2 + 1.0f);
  for (int j = 0; j < 4; j++) {
    int k = i0 - 1 + j;
    idx[j] = k < 0 ? 0 : (k > n - 1 ? n - 1 : k);
  }
}

/* Input units per output unit along an axis of g -> out. By size (offset 0): ATen's
 * float(g) / out. DINO / DINOv2 pass scale_factor = (out + offset) / g (a Python double), which
 * ATen turns into float(1 / scale_factor); the output size floor(g * scale_factor) is out. */
static float axis_scale(int g, int out, float offset) {
  if (offset <= 0.0f)
    return (float)g / (float)out;
  /* The offset is a short decimal (0.1) that PyTorch holds as a double: recover that double. */
  double off = nearbyint((double)offset * 1e6) / 1e6;
  double scale_factor = ((double)out + off) / g;
  return (float)(1.0 / scale_factor);
}

void vit_resize_pos_grid(float *out, const float *grid, int g, int h, int w, int D,
                         float scale_offset) {
  /* Every family returns the learned table unchanged when the grid already fits (DINO's
   * `npatch == N and w == h`); the scale-factor form would otherwise shift it slightly. */
  if (h == g && w == g) {
    memcpy(out, grid, (size_t)g * g * D * sizeof(float));
    return;
  }
  /* DINO hands its (w, h) factors to the (row, col) axes; the same for the square grids used. */
  float sy = axis_scale(g, h, scale_offset), sx = axis_scale(g, w, scale_offset);
  for (int y = 0; y < h; y++) {
    int iy[4], ix[4];
    float wy[4], wx[4];
    cubic_taps(iy, wy, sy, y, g);
    for (int x = 0; x < w; x++) {
      cubic_taps(ix, wx, sx, x, g);
      float *dst = out + ((long)y * w + x) * D;
      for (int d = 0; d < D; d++) {
        /* ATen's order: rows outside, each row's four columns summed first. */
        float acc = 0.0f;
        for (int j = 0; j < 4; j++) {
          const float *row = grid + (long)iy[j] * g * D + d;
          float t = 0.0f;
          for (int k = 0; k < 4; k++)
            t = fmaf(wx[k], row[(long)ix[k] * D], t);
          acc = fmaf(wy[j], t, acc);
        }
        dst[d] = acc;
      }
    }
  }
}
