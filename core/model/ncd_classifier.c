/* anomalyncd §5.4: the weight-normalised cosine classifier, forward and backward. The backward
 * recomputes the unit rows (a few N*D + H*C*D values) instead of keeping them. */
#include "ncd_classifier.h"

#include <math.h>

#include "error.h"

/* xhat = x / max(||x||, eps) per row (torch F.normalize); norm[r] = ||x_r|| unclamped. */
void ncd_unit_rows(double *xhat, double *norm, const float *x, const int *rows, int n, int d,
                   double eps) {
  for (int k = 0; k < n; k++) {
    const float *xr = x + (long)(rows ? rows[k] : k) * d;
    double ss = 0.0;
    for (int j = 0; j < d; j++)
      ss += (double)xr[j] * xr[j];
    double nr = sqrt(ss), den = nr > eps ? nr : eps;
    norm[k] = nr;
    for (int j = 0; j < d; j++)
      xhat[(long)k * d + j] = xr[j] / den;
  }
}

void ncd_classifier_forward(float *logits, const float *f, const float *v, int N, int D, int C,
                            int H) {
  double *fh = xmalloc(sizeof(double) * N * D), *wh = xmalloc(sizeof(double) * C * D);
  double *nf = xmalloc(sizeof(double) * N), *nv = xmalloc(sizeof(double) * C);
  ncd_unit_rows(fh, nf, f, NULL, N, D, NCD_NORM_EPS);
  for (int h = 0; h < H; h++) {
    ncd_unit_rows(wh, nv, v + (long)h * C * D, NULL, C, D, 0.0); /* weight norm: no eps */
    float *out = logits + (long)h * N * C;
    for (int r = 0; r < N; r++)
      for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int k = 0; k < D; k++)
          acc += fh[(long)r * D + k] * wh[(long)c * D + k];
        out[(long)r * C + c] = (float)acc;
      }
  }
  free(fh), free(wh), free(nf), free(nv);
}

void ncd_classifier_backward(float *df, float *dv, const float *dlogits, const float *f,
                             const float *v, int N, int D, int C, int H) {
  double *fh = xmalloc(sizeof(double) * N * D), *wh = xmalloc(sizeof(double) * C * D);
  double *nf = xmalloc(sizeof(double) * N), *nv = xmalloc(sizeof(double) * C);
  double *dfh = xcalloc((size_t)N * D, sizeof(double)), *dw = xmalloc(sizeof(double) * D);
  ncd_unit_rows(fh, nf, f, NULL, N, D, NCD_NORM_EPS);
  for (int h = 0; h < H; h++) {
    const float *g = dlogits + (long)h * N * C;
    ncd_unit_rows(wh, nv, v + (long)h * C * D, NULL, C, D, 0.0);
    if (df)
      for (int r = 0; r < N; r++)
        for (int c = 0; c < C; c++) {
          double gc = g[(long)r * C + c];
          for (int k = 0; k < D; k++)
            dfh[(long)r * D + k] += gc * wh[(long)c * D + k];
        }
    if (!dv)
      continue;
    for (int c = 0; c < C; c++) {
      const double *w = wh + (long)c * D;
      double dot = 0.0;
      for (int k = 0; k < D; k++) {
        double acc = 0.0;
        for (int r = 0; r < N; r++)
          acc += g[(long)r * C + c] * fh[(long)r * D + k];
        dw[k] = acc;
        dot += acc * w[k];
      }
      float *out = dv + ((long)h * C + c) * D;
      for (int k = 0; k < D; k++)
        out[k] += (float)((dw[k] - w[k] * dot) / nv[c]);
    }
  }
  if (df)
    for (int r = 0; r < N; r++) {
      const double *x = fh + (long)r * D, *dx = dfh + (long)r * D;
      float *out = df + (long)r * D;
      if (nf[r] > NCD_NORM_EPS) {
        double dot = 0.0;
        for (int k = 0; k < D; k++)
          dot += x[k] * dx[k];
        for (int k = 0; k < D; k++)
          out[k] += (float)((dx[k] - x[k] * dot) / nf[r]);
      } else { /* the norm is clamped at eps: torch passes no gradient through it */
        for (int k = 0; k < D; k++)
          out[k] += (float)(dx[k] / NCD_NORM_EPS);
      }
    }
  free(fh), free(wh), free(nf), free(nv), free(dfh), free(dw);
}
