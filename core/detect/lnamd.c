/* musc §A.5 LNAMD on buffers. Tokens are already channels-last ([h*w, C] per image), so every
 * step works on that layout: the whole-map LayerNorm, a separable r x r box sum, the per-patch
 * L2 normalisation. Reductions accumulate in double, per patch and then over patches in a fixed
 * order, so the result does not depend on the number of OpenMP threads. */
#include <math.h>
#include <stdint.h>

#include "error.h"
#include "musc.h"

/* Room for h*w doubles (per-patch partial sums) after the two float planes, plus one double of
 * slack so that they can be aligned up whatever the caller's scratch address. */
size_t lnamd_scratch_floats(int h, int w, int C) {
  size_t plane = (size_t)h * w * C;
  return 2 * plane + 2 * ((size_t)h * w + 1);
}

/* §A.5 step 2: LayerNorm over all C*h*w values of one image (biased variance, eps 1e-5, no
 * affine). x, y [P, C]; y may alias x. part: P doubles. */
static void layernorm_whole(float *y, double *part, const float *x, int P, int C) {
#pragma omp parallel for
  for (int p = 0; p < P; p++) {
    double s = 0.0;
    for (int c = 0; c < C; c++)
      s += x[(size_t)p * C + c];
    part[p] = s;
  }
  double sum = 0.0;
  for (int p = 0; p < P; p++)
    sum += part[p];
  const double count = (double)P * C, mean = sum / count;
#pragma omp parallel for
  for (int p = 0; p < P; p++) {
    double s = 0.0;
    for (int c = 0; c < C; c++) {
      double d = x[(size_t)p * C + c] - mean;
      s += d * d;
    }
    part[p] = s;
  }
  double ss = 0.0;
  for (int p = 0; p < P; p++)
    ss += part[p];
  const double rstd = 1.0 / sqrt(ss / count + 1e-5);
#pragma omp parallel for
  for (int p = 0; p < P; p++)
    for (int c = 0; c < C; c++)
      y[(size_t)p * C + c] = (float)((x[(size_t)p * C + c] - mean) * rstd);
}

/* §A.5 step 3: out[y, x, :] = (1/r^2) sum over the r x r window of in, zero outside the grid
 * (avg_pool2d with count_include_pad=True). Rows first into rows[], then columns. */
static void box_average(float *out, float *rows, const float *in, int h, int w, int C, int r) {
  const int pad = (r - 1) / 2;
#pragma omp parallel for
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int x0 = x - pad < 0 ? 0 : x - pad, x1 = x + pad >= w ? w - 1 : x + pad;
      float *dst = rows + ((size_t)y * w + x) * C;
      for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int xx = x0; xx <= x1; xx++)
          s += in[((size_t)y * w + xx) * C + c];
        dst[c] = (float)s;
      }
    }
  const double area = (double)r * r;
#pragma omp parallel for
  for (int y = 0; y < h; y++) {
    int y0 = y - pad < 0 ? 0 : y - pad, y1 = y + pad >= h ? h - 1 : y + pad;
    for (int x = 0; x < w; x++) {
      float *dst = out + ((size_t)y * w + x) * C;
      for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int yy = y0; yy <= y1; yy++)
          s += rows[((size_t)yy * w + x) * C + c];
        dst[c] = (float)(s / area);
      }
    }
  }
}

/* §A.5 step 5: each patch divided by its L2 norm, no epsilon; a zero patch stays zero (the
 * reference would give NaN there; it never happens on real maps). */
static void l2_normalize_patches(float *z, int P, int C) {
#pragma omp parallel for
  for (int p = 0; p < P; p++) {
    float *v = z + (size_t)p * C;
    double ss = 0.0;
    for (int c = 0; c < C; c++)
      ss += (double)v[c] * v[c];
    if (ss == 0.0)
      continue;
    double inv = 1.0 / sqrt(ss);
    for (int c = 0; c < C; c++)
      v[c] = (float)(v[c] * inv);
  }
}

/* musc §A.5: LNAMD for one tap and one degree r. */
void lnamd(float *out, float *scratch, const float *tokens, int n, int T, int has_cls, int h, int w,
           int C, int r) {
  if (r < 1 || r % 2 == 0)
    ANCD_FATAL("LNAMD degree r = %d: an odd r >= 1 is needed (the config checks it)", r);
  if (T != has_cls + h * w)
    ANCD_FATAL("LNAMD: %d tokens for a %d x %d grid (has_cls %d)", T, h, w, has_cls);
  const int P = h * w;
  const size_t plane = (size_t)P * C;
  float *normed = scratch, *rows = scratch + plane;
  double *part = (double *)(((uintptr_t)(scratch + 2 * plane) + 7) & ~(uintptr_t)7);
  for (int i = 0; i < n; i++) {
    const float *x = tokens + (size_t)i * T * C + (size_t)has_cls * C;
    float *z = out + (size_t)i * plane;
    if (r == 1) { /* the box filter is the identity */
      layernorm_whole(z, part, x, P, C);
    } else {
      layernorm_whole(normed, part, x, P, C);
      box_average(z, rows, normed, h, w, C, r);
    }
    l2_normalize_patches(z, P, C);
  }
}
