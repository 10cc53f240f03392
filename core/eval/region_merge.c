/* Sub-image prediction and region merging (region_merge.h, anomalyncd_spec §6). */
#include "region_merge.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

/* p = softmax(l / temperature) over the novel columns only: the base columns get 0. Masking
 * after a full softmax and renormalising (the reference) is this same distribution. */
static void novel_softmax(double *p, const float *l, int C, int n_base, double temperature) {
  double max = -INFINITY, sum = 0;
  for (int c = n_base; c < C; c++)
    if (l[c] / temperature > max)
      max = l[c] / temperature;
  for (int c = 0; c < C; c++) {
    p[c] = c < n_base ? 0 : exp(l[c] / temperature - max);
    sum += p[c];
  }
  for (int c = 0; c < C; c++)
    p[c] /= sum;
}

static int argmax(const double *p, int C) {
  int best = 0;
  for (int c = 1; c < C; c++)
    if (p[c] > p[best])
      best = c;
  return best;
}

void ncd_subimage_predict(float *probs, int *pred, const float *logits, int R, int C, int n_base) {
  double *p = xmalloc((size_t)C * sizeof *p);
  for (int r = 0; r < R; r++) {
    novel_softmax(p, logits + (size_t)r * C, C, n_base, 1.0);
    for (int c = 0; c < C; c++)
      probs[(size_t)r * C + c] = (float)p[c];
    pred[r] = argmax(p, C);
  }
  free(p);
}

int ncd_merge_predict(float *probs, int *pred, const float *logits, const int64_t *mask_area,
                      const long *first_crop, int N, int C, int n_base, double temperature) {
  double *p = xmalloc((size_t)C * sizeof *p), *P = xmalloc((size_t)C * sizeof *P);
  int rc = 0;
  for (int i = 0; i < N && rc == 0; i++) {
    const long j0 = first_crop[i], n = first_crop[i + 1] - j0;
    if (n < 1) {
      rc = ancd_errorf("image %d has no crop (regions.h5 gives every image at least one)", i);
      break;
    }
    /* w = softmax_j(sqrt(a_j) / T), shifted by its maximum */
    double wmax = -INFINITY, wsum = 0;
    for (long j = 0; j < n; j++)
      wmax = fmax(wmax, sqrt((double)mask_area[j0 + j]) / temperature);
    for (long j = 0; j < n; j++)
      wsum += exp(sqrt((double)mask_area[j0 + j]) / temperature - wmax);
    for (int c = 0; c < C; c++)
      P[c] = 0;
    for (long j = 0; j < n; j++) {
      const double w =
          n == 1 ? 1.0 : exp(sqrt((double)mask_area[j0 + j]) / temperature - wmax) / wsum;
      novel_softmax(p, logits + (size_t)(j0 + j) * C, C, n_base, MERGE_SHARPEN);
      for (int c = 0; c < C; c++)
        P[c] += w * p[c];
    }
    for (int c = 0; c < C; c++)
      probs[(size_t)i * C + c] = (float)P[c];
    pred[i] = argmax(P, C);
  }
  free(p);
  free(P);
  return rc;
}
