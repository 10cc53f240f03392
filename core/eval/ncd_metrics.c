/* NMI, ARI and Hungarian F1 (ncd_metrics.h), as scikit-learn 1.x and scipy compute them. */
#include "ncd_metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"

void ncd_hungarian(int *col_of_row, const double *cost, int n) {
  /* Kuhn-Munkres with row and column potentials u, v and shortest augmenting paths, 1-based
   * with column 0 as the root of each path. */
  double *u = xcalloc((size_t)n + 1, sizeof *u), *v = xcalloc((size_t)n + 1, sizeof *v);
  double *minv = xmalloc(((size_t)n + 1) * sizeof *minv);
  int *row_of_col = xcalloc((size_t)n + 1, sizeof *row_of_col);
  int *way = xcalloc((size_t)n + 1, sizeof *way);
  char *used = xmalloc((size_t)n + 1);
  for (int i = 1; i <= n; i++) {
    row_of_col[0] = i;
    int j0 = 0;
    for (int j = 0; j <= n; j++)
      minv[j] = INFINITY, used[j] = 0;
    do {
      used[j0] = 1;
      const int i0 = row_of_col[j0];
      double delta = INFINITY;
      int j1 = 0;
      for (int j = 1; j <= n; j++)
        if (!used[j]) {
          const double cur = cost[(size_t)(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
          if (cur < minv[j])
            minv[j] = cur, way[j] = j0;
          if (minv[j] < delta)
            delta = minv[j], j1 = j;
        }
      for (int j = 0; j <= n; j++)
        if (used[j])
          u[row_of_col[j]] += delta, v[j] -= delta;
        else
          minv[j] -= delta;
      j0 = j1;
    } while (row_of_col[j0] != 0);
    do {
      const int j1 = way[j0];
      row_of_col[j0] = row_of_col[j1];
      j0 = j1;
    } while (j0);
  }
  for (int j = 1; j <= n; j++)
    col_of_row[row_of_col[j] - 1] = j - 1;
  free(u), free(v), free(minv), free(row_of_col), free(way), free(used);
}

/* sklearn's entropy(labels) from the counts: -sum (c/n) (log c - log n) over non-empty groups. */
static double entropy(const int64_t *count, int k, double n) {
  double h = 0;
  for (int i = 0; i < k; i++)
    if (count[i] > 0)
      h -= (double)count[i] / n * (log((double)count[i]) - log(n));
  return h;
}

void ncd_evaluate(ncd_eval *e, const int *y, const int *p, int n) {
  *e = (ncd_eval){.nmi = NAN, .ari = NAN, .f1 = NAN, .n = n};
  if (n <= 0)
    return;
  int D = 0;
  for (int i = 0; i < n; i++) {
    D = y[i] + 1 > D ? y[i] + 1 : D;
    D = p[i] + 1 > D ? p[i] + 1 : D;
  }
  e->D = D;
  /* W[pred, true], the count matrix of §7.1 */
  int64_t *W = xcalloc((size_t)D * D, sizeof *W);
  int64_t *a = xcalloc((size_t)D, sizeof *a), *b = xcalloc((size_t)D, sizeof *b);
  for (int i = 0; i < n; i++) {
    W[(size_t)p[i] * D + y[i]]++;
    a[y[i]]++;
    b[p[i]]++;
  }
  int n_true = 0, n_pred = 0;
  for (int k = 0; k < D; k++)
    n_true += a[k] > 0, n_pred += b[k] > 0;

  /* F1 micro = Hungarian accuracy: linear_sum_assignment(W.max() - W) */
  int64_t wmax = 0;
  for (size_t k = 0; k < (size_t)D * D; k++)
    wmax = W[k] > wmax ? W[k] : wmax;
  double *cost = xmalloc((size_t)D * D * sizeof *cost);
  for (size_t k = 0; k < (size_t)D * D; k++)
    cost[k] = (double)(wmax - W[k]);
  e->match = xmalloc((size_t)D * sizeof *e->match);
  ncd_hungarian(e->match, cost, D);
  int64_t hits = 0;
  for (int k = 0; k < D; k++)
    hits += W[(size_t)k * D + e->match[k]];
  e->f1 = (double)hits / n;

  /* NMI: 1 when both sides are one group (sklearn's limit case), 0 when the MI is 0, else
   * MI / ((H(y) + H(p)) / 2). MI as mutual_info_score: sum n_ij/n log(n n_ij / (a_i b_j)),
   * clipped at 0. */
  const double N = n;
  if (n_true == 1 && n_pred == 1) {
    e->nmi = 1.0;
  } else {
    double mi = 0;
    for (int pp = 0; pp < D; pp++)
      for (int t = 0; t < D; t++) {
        const int64_t c = W[(size_t)pp * D + t];
        if (c > 0)
          mi += (double)c / N *
                (log((double)c) - log(N) - log((double)a[t]) - log((double)b[pp]) + 2 * log(N));
      }
    mi = mi < 0 ? 0 : mi;
    if (mi == 0)
      e->nmi = 0;
    else
      e->nmi = mi / ((entropy(a, D, N) + entropy(b, D, N)) / 2);
  }

  /* ARI from the pair confusion matrix (sklearn's pair_confusion_matrix); 1 when no pair
   * disagrees (fn = fp = 0), as sklearn. Sums in exact integers. */
  int64_t sum_sq = 0, sum_a = 0, sum_b = 0;
  for (size_t k = 0; k < (size_t)D * D; k++)
    sum_sq += W[k] * W[k];
  for (int k = 0; k < D; k++)
    sum_a += a[k] * a[k], sum_b += b[k] * b[k];
  const int64_t tp = sum_sq - n, fp = sum_b - sum_sq, fn = sum_a - sum_sq,
                tn = (int64_t)n * n - fp - fn - sum_sq;
  if (fn == 0 && fp == 0)
    e->ari = 1.0;
  else
    e->ari = 2.0 * ((double)tp * (double)tn - (double)fn * (double)fp) /
             ((double)(tp + fn) * (double)(fn + tn) + (double)(tp + fp) * (double)(fp + tn));
  free(W), free(a), free(b), free(cost);
}

void ncd_eval_free(ncd_eval *e) {
  free(e->match);
  e->match = NULL;
}
