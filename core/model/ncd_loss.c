/* anomalyncd §5.5: the MGRL losses and their gradients, in double on host buffers. Each term is
 * one fused function (the gradient needs the forward's softmax); ncd_loss() weighs them. */
#include "ncd_loss.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "ncd_classifier.h"

void ncd_loss_cfg_default(ncd_loss_cfg *cfg) {
  cfg->n_base = 4;
  cfg->infonce_temp = 1.0;
  cfg->supcon_temp = 0.07;
  cfg->supcon_base_temp = 0.07;
  cfg->student_temp = 0.1;
  cfg->memax_weight = 4.0;
  cfg->sup_weight = 0.3;
  cfg->anomaly_thred = 0.5;
}

float ncd_correction_weight(float score, double thred) {
  if (thred == -1.0) /* the reference does not even look the score up */
    return 0.0f;
  double w = thred - (double)score;
  return w > 0.0 ? (float)w : 0.0f; /* Python's max(0.0, w): NaN gives 0 */
}

/* The rows of one kind (base or novel) in batch order, view 1 block then view 2 block. */
static int pick_rows(int *rows, const uint8_t *is_base, int want_base, int B) {
  int n = 0;
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < B; i++)
      if ((is_base[i] != 0) == want_base)
        rows[n++] = v * B + i;
  return n;
}

/* Given dg [n, n] = dL/dg with g = xhat xhatᵀ * inv_temp: dx[rows[k]] += the gradient through
 * g and the normalisation (the clamped norm passes nothing, as torch's clamp_min). */
static void gram_backward(float *dx, const double *dg, const double *xhat, const double *norm,
                          const int *rows, int n, int d, double inv_temp) {
  double *dxh = xmalloc(sizeof(double) * d);
  for (int k = 0; k < n; k++) {
    const double *xk = xhat + (long)k * d;
    for (int j = 0; j < d; j++)
      dxh[j] = 0.0;
    for (int l = 0; l < n; l++) {
      double a = (dg[(long)k * n + l] + dg[(long)l * n + k]) * inv_temp;
      if (a != 0.0)
        for (int j = 0; j < d; j++)
          dxh[j] += a * xhat[(long)l * d + j];
    }
    float *out = dx + (long)(rows ? rows[k] : k) * d;
    if (norm[k] > NCD_NORM_EPS) {
      double dot = 0.0;
      for (int j = 0; j < d; j++)
        dot += xk[j] * dxh[j];
      for (int j = 0; j < d; j++)
        out[j] += (float)((dxh[j] - xk[j] * dot) / norm[k]);
    } else {
      for (int j = 0; j < d; j++)
        out[j] += (float)(dxh[j] / NCD_NORM_EPS);
    }
  }
  free(dxh);
}

/* g [n, n] = xhat xhatᵀ * inv_temp. */
static void gram(double *g, const double *xhat, int n, int d, double inv_temp) {
  for (int k = 0; k < n; k++)
    for (int l = 0; l < n; l++) {
      double acc = 0.0;
      for (int j = 0; j < d; j++)
        acc += xhat[(long)k * d + j] * xhat[(long)l * d + j];
      g[(long)k * n + l] = acc * inv_temp;
    }
}

/* log sum_{j != skip} exp(x_j) over n values (skip < 0: none), from the maximum. */
static double logsumexp(const double *x, int n, int skip) {
  double m = -INFINITY;
  for (int j = 0; j < n; j++)
    if (j != skip && x[j] > m)
      m = x[j];
  double s = 0.0;
  for (int j = 0; j < n; j++)
    if (j != skip)
      s += exp(x[j] - m);
  return m + log(s);
}

int ncd_infonce_loss(double *loss, float *dz, const float *z, int B, int Z, double temp,
                     double scale) {
  if (B < 1 || Z < 1 || !(temp > 0.0))
    return ancd_errorf("infonce: bad sizes B=%d Z=%d or temperature %g", B, Z, temp);
  int N = 2 * B;
  double *zh = xmalloc(sizeof(double) * N * Z), *nz = xmalloc(sizeof(double) * N);
  double *s = xmalloc(sizeof(double) * N * N), *ds = xcalloc((size_t)N * N, sizeof(double));
  ncd_unit_rows(zh, nz, z, NULL, N, Z, NCD_NORM_EPS);
  gram(s, zh, N, Z, 1.0 / temp);
  double sum = 0.0;
  for (int r = 0; r < N; r++) {
    const double *sr = s + (long)r * N;
    int p = r < B ? r + B : r - B;
    double lse = logsumexp(sr, N, r);
    sum += lse - sr[p];
    for (int j = 0; j < N; j++) /* d/ds of the cross-entropy of row r (1/N of the mean) */
      if (j != r)
        ds[(long)r * N + j] = scale / N * (exp(sr[j] - lse) - (j == p));
  }
  *loss = sum / N;
  if (dz)
    gram_backward(dz, ds, zh, nz, NULL, N, Z, 1.0 / temp);
  free(zh), free(nz), free(s), free(ds);
  return 0;
}

int ncd_supcon_loss(double *loss, float *dz, const float *z, const uint8_t *is_base,
                    const int *label, int B, int Z, double temp, double base_temp, double scale) {
  if (B < 1 || Z < 1 || !(temp > 0.0) || !(base_temp > 0.0))
    return ancd_errorf("supcon: bad sizes B=%d Z=%d or temperatures %g, %g", B, Z, temp, base_temp);
  int *rows = xmalloc(sizeof(int) * 2 * B);
  int n = pick_rows(rows, is_base, 1, B);
  if (n == 0) {
    free(rows);
    return ancd_errorf("supcon: the batch has no base sample");
  }
  double *zh = xmalloc(sizeof(double) * n * Z), *nz = xmalloc(sizeof(double) * n);
  double *g = xmalloc(sizeof(double) * n * n), *dg = xcalloc((size_t)n * n, sizeof(double));
  ncd_unit_rows(zh, nz, z, rows, n, Z, NCD_NORM_EPS);
  gram(g, zh, n, Z, 1.0 / temp);
  double sum = 0.0, f = temp / base_temp;
  for (int k = 0; k < n; k++) {
    double *gk = g + (long)k * n;
    double m = gk[0]; /* the reference's row max (diagonal included): the value is unchanged */
    for (int l = 1; l < n; l++)
      m = gk[l] > m ? gk[l] : m;
    for (int l = 0; l < n; l++)
      gk[l] -= m;
    int yk = label[rows[k] % B], np = 0;
    double pos = 0.0, lse = logsumexp(gk, n, k);
    for (int l = 0; l < n; l++)
      if (l != k && label[rows[l] % B] == yk)
        np++, pos += gk[l] - lse;
    sum += -f * pos / np; /* np >= 1: the other view is always a positive */
    for (int l = 0; l < n; l++)
      if (l != k)
        dg[(long)k * n + l] =
            scale * f / n * (exp(gk[l] - lse) - (label[rows[l] % B] == yk ? 1.0 / np : 0.0));
  }
  *loss = sum / n;
  if (dz)
    gram_backward(dz, dg, zh, nz, rows, n, Z, 1.0 / temp);
  free(rows), free(zh), free(nz), free(g), free(dg);
  return 0;
}

/* x = logits_row / temp in double. */
static void scaled_row(double *x, const float *row, int C, double temp) {
  for (int c = 0; c < C; c++)
    x[c] = row[c] / temp;
}

int ncd_ce_loss(double *loss, float *dlogits, const float *logits, const uint8_t *is_base,
                const int *label, int B, int C, int n_base, double student_temp, double scale) {
  if (B < 1 || C < 1 || !(student_temp > 0.0))
    return ancd_errorf("ce: bad sizes B=%d C=%d or temperature %g", B, C, student_temp);
  int *rows = xmalloc(sizeof(int) * 2 * B);
  int n = pick_rows(rows, is_base, 1, B);
  for (int k = 0; k < n; k++) {
    int i = rows[k] % B, y = label[i];
    if (y < 0 || y >= n_base || y >= C) {
      free(rows);
      return ancd_errorf("ce: sample %d has base label %d, not in 0..%d", i, y,
                         (n_base < C ? n_base : C) - 1);
    }
  }
  if (n == 0) {
    free(rows);
    return ancd_errorf("ce: the batch has no base sample");
  }
  double *x = xmalloc(sizeof(double) * C), sum = 0.0;
  for (int k = 0; k < n; k++) {
    int y = label[rows[k] % B];
    scaled_row(x, logits + (long)rows[k] * C, C, student_temp);
    double lse = logsumexp(x, C, -1);
    sum += lse - x[y];
    if (dlogits) {
      float *d = dlogits + (long)rows[k] * C;
      for (int c = 0; c < C; c++)
        d[c] += (float)(scale / (n * student_temp) * (exp(x[c] - lse) - (c == y)));
    }
  }
  *loss = sum / n;
  free(rows), free(x);
  return 0;
}

int ncd_distill_loss(double *loss, float *dlogits, const float *logits, const float *teacher,
                     const uint8_t *is_base, const float *weight, int B, int C, int n_base,
                     double teacher_temp, double student_temp, double scale) {
  if (B < 1 || n_base < 0 || C <= n_base || !(teacher_temp > 0.0) || !(student_temp > 0.0))
    return ancd_errorf("distill: bad sizes B=%d C=%d n_base=%d or temperatures %g, %g", B, C,
                       n_base, teacher_temp, student_temp);
  int *rows = xmalloc(sizeof(int) * 2 * B);
  int n = pick_rows(rows, is_base, 0, B), nu = n / 2;
  if (n == 0) {
    free(rows);
    return ancd_errorf("distill: the batch has no novel sample");
  }
  int K = C - n_base;
  double *q = xmalloc(sizeof(double) * C), *x = xmalloc(sizeof(double) * C), sum = 0.0;
  for (int k = 0; k < n; k++) {
    /* Teacher row k (view v) supervises the student row of the other view, same sample. */
    int t = rows[k], s = rows[k < nu ? k + nu : k - nu];
    double w = weight[t % B];
    scaled_row(x, teacher + (long)t * C + n_base, K, teacher_temp);
    double lse = logsumexp(x, K, -1), qsum = 0.0;
    for (int c = 0; c < C; c++) /* base columns zeroed: a softmax over the novel ones (§5.5.5) */
      q[c] = c < n_base ? 0.0 : (1.0 - w) * exp(x[c - n_base] - lse);
    q[n_base] += w;
    for (int c = 0; c < C; c++)
      qsum += q[c];
    scaled_row(x, logits + (long)s * C, C, student_temp);
    lse = logsumexp(x, C, -1);
    for (int c = 0; c < C; c++)
      sum -= q[c] * (x[c] - lse);
    if (dlogits) {
      float *d = dlogits + (long)s * C;
      for (int c = 0; c < C; c++)
        d[c] += (float)(scale / (n * student_temp) * (exp(x[c] - lse) * qsum - q[c]));
    }
  }
  *loss = sum / n; /* ½ (sum_view1 / n_u + sum_view2 / n_u) */
  free(rows), free(q), free(x);
  return 0;
}

int ncd_memax_loss(double *loss, float *dlogits, const float *logits, const uint8_t *is_base, int B,
                   int C, double student_temp, double scale) {
  if (B < 1 || C < 1 || !(student_temp > 0.0))
    return ancd_errorf("memax: bad sizes B=%d C=%d or temperature %g", B, C, student_temp);
  int *rows = xmalloc(sizeof(int) * 2 * B);
  int n = pick_rows(rows, is_base, 0, B);
  if (n == 0) {
    free(rows);
    return ancd_errorf("memax: the batch has no novel sample");
  }
  double *p = xmalloc(sizeof(double) * n * C), *pbar = xcalloc((size_t)C, sizeof(double));
  for (int k = 0; k < n; k++) {
    double *pk = p + (long)k * C;
    scaled_row(pk, logits + (long)rows[k] * C, C, student_temp);
    double lse = logsumexp(pk, C, -1);
    for (int c = 0; c < C; c++) {
      pk[c] = exp(pk[c] - lse);
      pbar[c] += pk[c] / n;
    }
  }
  double me = log((double)C);
  for (int c = 0; c < C; c++)
    if (pbar[c] > 0.0)
      me += pbar[c] * log(pbar[c]);
  *loss = me;
  if (dlogits)
    for (int k = 0; k < n; k++) {
      /* dME/dp̄_c = log p̄_c + 1, through p̄ = mean softmax: p_j (g_j - sum_c p_c g_c). */
      const double *pk = p + (long)k * C;
      double mean_g = 0.0;
      for (int c = 0; c < C; c++)
        if (pk[c] > 0.0)
          mean_g += pk[c] * (log(pbar[c]) + 1.0);
      float *d = dlogits + (long)rows[k] * C;
      for (int c = 0; c < C; c++)
        if (pk[c] > 0.0)
          d[c] += (float)(scale / (n * student_temp) * pk[c] * (log(pbar[c]) + 1.0 - mean_g));
    }
  free(rows), free(p), free(pbar);
  return 0;
}

int ncd_loss(ncd_loss_terms *t, float *dz, float *dlogits, const float *z, const float *logits,
             const float *teacher, const uint8_t *is_base, const int *label, const float *score,
             int B, int Z, int C, int H, double teacher_temp, const ncd_loss_cfg *cfg) {
  if (B < 1 || Z < 1 || H < 1 || H > NCD_MAX_HEADS || cfg->n_base < 0 || C <= cfg->n_base)
    return ancd_errorf("ncd loss: bad sizes B=%d Z=%d C=%d H=%d (at most %d) n_base=%d", B, Z, C, H,
                       NCD_MAX_HEADS, cfg->n_base);
  if (!(teacher_temp > 0.0) || !(cfg->infonce_temp > 0.0) || !(cfg->supcon_temp > 0.0) ||
      !(cfg->supcon_base_temp > 0.0) || !(cfg->student_temp > 0.0))
    return ancd_errorf("ncd loss: temperatures must be > 0");
  int nb = 0;
  for (int i = 0; i < B; i++) {
    nb += is_base[i] != 0;
    if (is_base[i] && (label[i] < 0 || label[i] >= cfg->n_base))
      return ancd_errorf("ncd loss: base sample %d has label %d, not in 0..%d", i, label[i],
                         cfg->n_base - 1);
  }
  /* Without a labelled set (n_base 0, train.base: none) a batch needs novel samples only. */
  if ((cfg->n_base > 0 && nb == 0) || nb == B)
    return ancd_errorf("ncd loss: a batch of %d samples without %s samples is skipped "
                       "(anomalyncd §5.5)",
                       B, nb == 0 ? "base" : "novel");
  memset(t, 0, sizeof *t);
  t->heads = H, t->n_base = nb, t->n_novel = B - nb;
  float *w = xmalloc(sizeof(float) * B);
  for (int i = 0; i < B; i++)
    w[i] = is_base[i] ? 0.0f : ncd_correction_weight(score[i], cfg->anomaly_thred);
  double lam = cfg->sup_weight, mw = cfg->memax_weight, T = cfg->student_temp;
  /* Checked above, so none of these fails. */
  ncd_infonce_loss(&t->con, dz, z, B, Z, cfg->infonce_temp, 1.0 - lam);
  if (cfg->n_base > 0) /* SupCon and CE need labelled samples; without them they drop out */
    ncd_supcon_loss(&t->supcon, dz, z, is_base, label, B, Z, cfg->supcon_temp,
                    cfg->supcon_base_temp, lam);
  for (int h = 0; h < H; h++) {
    long off = (long)h * 2 * B * C;
    float *d = dlogits ? dlogits + off : NULL;
    const float *l = logits + off;
    if (cfg->n_base > 0)
      ncd_ce_loss(&t->cls_head[h], d, l, is_base, label, B, C, cfg->n_base, T, lam / H);
    ncd_distill_loss(&t->dist_head[h], d, l, teacher + off, is_base, w, B, C, cfg->n_base,
                     teacher_temp, T, (1.0 - lam) / H);
    ncd_memax_loss(&t->me_head[h], d, l, is_base, B, C, T, (1.0 - lam) * mw / H);
    t->clu_head[h] = t->dist_head[h] + mw * t->me_head[h];
    t->cls += t->cls_head[h] / H;
    t->clu += t->clu_head[h] / H;
  }
  t->total = (1.0 - lam) * t->clu + lam * t->cls + (1.0 - lam) * t->con + lam * t->supcon;
  free(w);
  return 0;
}

const char *ncd_loss_nonfinite(const ncd_loss_terms *t, int *head) {
  *head = -1;
  if (!isfinite(t->con))
    return "L_con";
  if (!isfinite(t->supcon))
    return "L_supcon";
  for (int h = 0; h < t->heads && h < NCD_MAX_HEADS; h++) {
    *head = h;
    if (!isfinite(t->cls_head[h]))
      return "L_cls,h";
    if (!isfinite(t->dist_head[h]))
      return "L_dist,h";
    if (!isfinite(t->me_head[h]))
      return "ME_h";
    if (!isfinite(t->clu_head[h]))
      return "L_clu,h";
  }
  *head = -1;
  if (!isfinite(t->cls))
    return "L_cls";
  if (!isfinite(t->clu))
    return "L_clu";
  if (!isfinite(t->total))
    return "L";
  return NULL;
}
