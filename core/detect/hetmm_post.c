/* HETMM post-processing and image score (hetmm.h; musc_hetmm_spec §B.7). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hetmm.h"

int hetmm_post_parse(hetmm_post *out, const char *text) {
  *out = (hetmm_post){HETMM_PP_CLEAN, 0, 0};
  double s = 0, k = 0;
  int used = 0;
  if (!strcmp(text, "clean"))
    return 0;
  if (sscanf(text, "blur_s=%lf_k=%lf%n", &s, &k, &used) == 2 && text[used] == '\0') {
    if (!(s > 0) || k < 1 || (int)k % 2 == 0)
      return ancd_errorf("post-processing '%s': blur needs sigma > 0 and an odd k >= 1", text);
    *out = (hetmm_post){HETMM_PP_BLUR, s, (int)k}; /* §B.6: numbers parse as float, k cast to int */
    return 0;
  }
  if (sscanf(text, "mp_k=%lf%n", &k, &used) == 1 && text[used] == '\0') {
    if (k < 1)
      return ancd_errorf("post-processing '%s': mp needs k >= 1", text);
    *out = (hetmm_post){HETMM_PP_MP, 0, (int)k};
    return 0;
  }
  return ancd_errorf("post-processing '%s': expected clean, blur_s=<sigma>_k=<odd k> or mp_k=<k> "
                     "(musc_hetmm_spec §B.6)",
                     text);
}

/* §B.7 blur: k x k Gaussian g(x) ~ exp(-((x - (k-1)/2) / sigma)^2 / 2), normalised, cut at
 * +-k/2, zero padding; separable (the 2-D kernel is the outer product), in double. */
static void blur(float *out, const float *in, int S, double sigma, int k) {
  const int r = k / 2;
  double *g = xmalloc((size_t)k * sizeof *g), *tmp = xmalloc((size_t)S * S * sizeof *tmp), sum = 0;
  for (int i = 0; i < k; i++) {
    double x = (i - (k - 1) / 2.0) / sigma;
    sum += g[i] = exp(-x * x / 2);
  }
  for (int i = 0; i < k; i++)
    g[i] /= sum;
  for (int y = 0; y < S; y++) /* rows */
    for (int x = 0; x < S; x++) {
      double acc = 0;
      for (int i = 0; i < k; i++) {
        int xx = x + i - r;
        if (xx >= 0 && xx < S)
          acc += g[i] * in[(size_t)y * S + xx];
      }
      tmp[(size_t)y * S + x] = acc;
    }
  for (int y = 0; y < S; y++) /* columns */
    for (int x = 0; x < S; x++) {
      double acc = 0;
      for (int i = 0; i < k; i++) {
        int yy = y + i - r;
        if (yy >= 0 && yy < S)
          acc += g[i] * tmp[(size_t)yy * S + x];
      }
      out[(size_t)y * S + x] = (float)acc;
    }
  free(g);
  free(tmp);
}

void hetmm_post_map(float *out, const float *in, int S, const hetmm_post *p) {
  if (p->kind == HETMM_PP_BLUR)
    blur(out, in, S, p->sigma, p->k);
  else
    memcpy(out, in, (size_t)S * S * sizeof *out);
}

double hetmm_image_score(const float *map, int S, const hetmm_post *p) {
  if (p->kind == HETMM_PP_MP) { /* max_pool2d(k, stride k), incomplete border dropped, mean */
    const int k = p->k, n = S / k;
    if (n == 0)
      return NAN;
    double sum = 0;
    for (int by = 0; by < n; by++)
      for (int bx = 0; bx < n; bx++) {
        float m = -INFINITY;
        for (int y = by * k; y < (by + 1) * k; y++)
          for (int x = bx * k; x < (bx + 1) * k; x++)
            m = map[(size_t)y * S + x] > m ? map[(size_t)y * S + x] : m;
        sum += m;
      }
    return (float)(sum / ((double)n * n));
  }
  float *tmp = xmalloc((size_t)S * S * sizeof *tmp);
  hetmm_post_map(tmp, map, S, p);
  float m = -INFINITY;
  for (size_t i = 0; i < (size_t)S * S; i++)
    m = tmp[i] > m ? tmp[i] : m;
  free(tmp);
  return m;
}
