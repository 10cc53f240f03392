/* HETMM PTS template selection at one pixel position (hetmm.h; musc_hetmm_spec §B.5.3, the CUDA
 * kernel's order and tie rules). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hetmm.h"

int hetmm_pts_position(float *out, int *picked, float *gram, const float *sheets, const int *labels,
                       int N, int C, int K) {
  memset(out, 0, (size_t)K * C * sizeof *out);
  for (int k = 0; k < K; k++)
    picked[k] = -1;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, C, 1.0f, sheets, C, sheets, C, 0.0f,
              gram, N);
  char *used = xcalloc((size_t)N + 1, 1);
  int *uniq = xmalloc(((size_t)N + 1) * sizeof *uniq);
  float *dp = xmalloc(((size_t)N + 1) * sizeof *dp);
  int n_uniq = 0, n = 0;
  for (int i = 0; i < N; i++) { /* 1. distinct non-noise labels, first appearance order */
    int seen = labels[i] < 0;
    for (int u = 0; u < n_uniq && !seen; u++)
      seen = uniq[u] == labels[i];
    if (!seen)
      uniq[n_uniq++] = labels[i];
  }
  for (int u = 0; u < n_uniq && n < K; u++) { /* 2. easy normals: the medoid-like member */
    int best = -1;
    float best_s = -1e5f;
    for (int j = 0; j < N; j++) {
      if (labels[j] != uniq[u])
        continue;
      float s = 0;
      for (int k = 0; k < N; k++)
        if (labels[k] == uniq[u])
          s += gram[(size_t)j * N + k];
      if (s > best_s) { /* strict: the lowest index wins ties */
        best_s = s;
        best = j;
      }
    }
    picked[n++] = best;
    used[best] = 1;
  }
  if (n == 0 && K > 0 && N > 0) { /* 3. all noise: the global centre */
    int best = 0;
    float best_s = -1e5f;
    for (int i = 0; i < N; i++) {
      float s = 0;
      for (int j = 0; j < N; j++)
        s += gram[(size_t)i * N + j];
      if (s > best_s) {
        best_s = s;
        best = i;
      }
    }
    picked[n++] = best;
    used[best] = 1;
  }
  for (int i = 0; i < N; i++) { /* 4. hard normals: running sums over the chosen */
    dp[i] = 0;
    for (int s = 0; s < n; s++)
      dp[i] += gram[(size_t)i * N + picked[s]];
  }
  while (n < K) {
    int best = -1;
    float best_s = 1e5f;
    for (int i = 0; i < N; i++)
      if (!used[i] && dp[i] < best_s) {
        best_s = dp[i];
        best = i;
      }
    if (best < 0) /* K > N: the remaining sheets stay zero */
      break;
    picked[n++] = best;
    used[best] = 1;
    for (int i = 0; i < N; i++)
      dp[i] += gram[(size_t)i * N + best];
  }
  for (int k = 0; k < n; k++)
    memcpy(out + (size_t)k * C, sheets + (size_t)picked[k] * C, (size_t)C * sizeof *out);
  free(used);
  free(uniq);
  free(dp);
  return n;
}

void hetmm_templates_free(hetmm_templates *t) {
  for (int l = 0; l < t->n_layers && l < HETMM_MAX_LAYERS; l++) {
    free(t->t[l]);
    t->t[l] = NULL;
  }
}
