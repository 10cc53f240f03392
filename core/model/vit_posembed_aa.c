/* timm's positional-embedding resample: F.interpolate(mode="bicubic", antialias=True,
 * align_corners=False) by target size, as timm's resample_abs_pos_embed calls it. PyTorch's
 * antialiased path is Pillow's filter on floats: cubic with a = -0.5, support 2 widened by the
 * scale when shrinking, taps outside the grid dropped and the weights renormalised (no edge
 * clamping). It is separable, width first. */
#include <stdlib.h>

#include "error.h"
#include "resample.h"
#include "vit.h"

void vit_resize_pos_grid_aa(float *out, const float *grid, int g, int h, int w, int D) {
  float *rows = xmalloc((size_t)g * w * D * sizeof *rows); /* [g, w, D] after the width pass */
  int max_w = resample_max_taps(g, w, 2.0), max_h = resample_max_taps(g, h, 2.0);
  double *wt = xmalloc((size_t)(max_w > max_h ? max_w : max_h) * sizeof *wt);
  int first;
  for (int x = 0; x < w; x++) {
    int count = resample_taps(wt, &first, x, g, w, resample_cubic, 2.0);
    for (int y = 0; y < g; y++)
      for (int c = 0; c < D; c++) {
        double s = 0.0;
        for (int j = 0; j < count; j++)
          s += wt[j] * grid[((size_t)y * g + first + j) * D + c];
        rows[((size_t)y * w + x) * D + c] = (float)s;
      }
  }
  for (int y = 0; y < h; y++) {
    int count = resample_taps(wt, &first, y, g, h, resample_cubic, 2.0);
    for (int x = 0; x < w; x++)
      for (int c = 0; c < D; c++) {
        double s = 0.0;
        for (int j = 0; j < count; j++)
          s += wt[j] * rows[((size_t)(first + j) * w + x) * D + c];
        out[((size_t)y * w + x) * D + c] = (float)s;
      }
  }
  free(wt);
  free(rows);
}
