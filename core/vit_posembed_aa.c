/* timm's positional-embedding resample: F.interpolate(mode="bicubic", antialias=True,
 * align_corners=False) by target size, as timm's resample_abs_pos_embed calls it. PyTorch's
 * antialiased path is Pillow's filter on floats: cubic with a = -0.5, support 2 widened by the
 * scale when shrinking, taps outside the grid dropped and the weights renormalised (no edge
 * clamping). It is separable, width first. */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "vit.h"

static double cubic_aa(double x) {
  const double a = -0.5;
  x = fabs(x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

/* Taps of output i along an axis of n_in -> n_out: first input index, count and weights. */
typedef struct {
  int first, count;
  double w[64];
} taps;

static void axis_taps(taps *t, int i, int n_in, int n_out) {
  double scale = (double)n_in / n_out;
  double support = scale >= 1.0 ? 2.0 * scale : 2.0;
  double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  double center = scale * (i + 0.5);
  long lo = (long)(center - support + 0.5); /* truncation toward zero, as the C++ cast */
  long hi = (long)(center + support + 0.5);
  if (lo < 0)
    lo = 0;
  if (hi > n_in)
    hi = n_in;
  if (hi - lo > 64)
    ANCD_FATAL("positional grid shrinks too much (%d -> %d)", n_in, n_out);
  t->first = (int)lo;
  t->count = (int)(hi - lo);
  double total = 0.0;
  for (int j = 0; j < t->count; j++) {
    t->w[j] = cubic_aa((j + lo - center + 0.5) * invscale);
    total += t->w[j];
  }
  for (int j = 0; j < t->count; j++)
    t->w[j] = total != 0.0 ? t->w[j] / total : 0.0;
}

void vit_resize_pos_grid_aa(float *out, const float *grid, int g, int h, int w, int D) {
  float *rows = xmalloc((size_t)g * w * D * sizeof *rows); /* [g, w, D] after the width pass */
  taps t;
  for (int x = 0; x < w; x++) {
    axis_taps(&t, x, g, w);
    for (int y = 0; y < g; y++)
      for (int c = 0; c < D; c++) {
        double s = 0.0;
        for (int j = 0; j < t.count; j++)
          s += t.w[j] * grid[((size_t)y * g + t.first + j) * D + c];
        rows[((size_t)y * w + x) * D + c] = (float)s;
      }
  }
  for (int y = 0; y < h; y++) {
    axis_taps(&t, y, g, h);
    for (int x = 0; x < w; x++)
      for (int c = 0; c < D; c++) {
        double s = 0.0;
        for (int j = 0; j < t.count; j++)
          s += t.w[j] * rows[((size_t)(t.first + j) * w + x) * D + c];
        out[((size_t)y * w + x) * D + c] = (float)s;
      }
  }
  free(rows);
}
