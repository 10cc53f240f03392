/* musc §A.6 MSM on buffers: one L x L dot-product block per image pair (the fused kernel of
 * msm_fused.c, or one sgemm per tile of pairs) gives both directions of the patch-to-image distance
 * (row max and column max); the interval average then takes the k smallest of each patch's N - 1
 * distances. Also §A.6.3 (map upsampling) and §A.7 (RsCIN). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msm_fused.h"
#include "musc.h"
#include "ops.h"

/* §A.6.1 step 2: the double product truncated, as int((N - 1) * topmin_max) in Python. */
int msm_k(int N, double topmin_max) {
  int k = (int)((double)(N - 1) * topmin_max);
  return k < 1 ? 1 : k;
}

/* Images per side of a tile: one sgemm scores a tile of t x t image pairs, about
 * MSM_TILE_ROWS x MSM_TILE_ROWS dot products, because one pair's L x L x C product is too small
 * for the GEMM kernel at small feature sizes (L = 196, C = 192: 0.6 of SGEMM per pair). Large
 * images (L >= MSM_TILE_ROWS) keep one pair per sgemm. */
enum { MSM_TILE_ROWS = 1024 };
static int tile_images(int L) {
  int t = (MSM_TILE_ROWS + L / 2) / L;
  return t < 1 ? 1 : t;
}

/* Per thread: one tile's dot products, the two zero-padded tile inputs and a running column
 * maximum, each rounded up to a 64-byte multiple so that every piece starts on its own cache
 * line. */
static size_t round16(size_t n) { return (n + 15) / 16 * 16; }
size_t msm_scratch_floats(int L, int C) {
  size_t rows = (size_t)tile_images(L) * L;
  size_t sgemm = round16(rows * rows) + 2 * round16(rows * C) + round16((size_t)L);
  size_t fused = msm_fused_scratch_floats(tile_images(L), L, C) + 4 * 16;
  return sgemm > fused ? sgemm : fused;
}

static msm_kernel kernel_choice = MSM_KERNEL_AUTO;
void msm_use_kernel(msm_kernel k) { kernel_choice = k; }
int msm_kernel_fused(int L, int C) {
  return kernel_choice == MSM_KERNEL_AUTO && msm_fused_usable(L, C);
}

/* p rounded up to a 64-byte boundary. */
static float *align64(float *p) { return (float *)(((size_t)p + 63) & ~(size_t)63); }

/* Euclidean distance of two unit vectors from their dot product, in float as torch.cdist's GEMM
 * path (|a|^2 + |b|^2 - 2 a.b with unit norms), clamped at 0 before the root. */
static inline float unit_distance(float dot) {
  float d2 = 2.0f - 2.0f * dot;
  return sqrtf(d2 > 0.0f ? d2 : 0.0f);
}

/* One pair's L x L block G (row stride ldg) of a tile: per row p its max (-> dA row p) and per
 * column q its max (-> dB row q), in one pass over the rows with a running column maximum
 * (colmax: L floats). */
static void pair_max(float *dA_col, float *dB_col, const float *G, long ldg, float *colmax, int L,
                     int ncols) {
  for (int q = 0; q < L; q++)
    colmax[q] = -INFINITY;
  for (int p = 0; p < L; p++) {
    const float *g = G + (size_t)p * ldg;
    float rm = -INFINITY;
#pragma omp simd reduction(max : rm)
    for (int q = 0; q < L; q++) {
      float v = g[q];
      rm = v > rm ? v : rm;
      colmax[q] = v > colmax[q] ? v : colmax[q];
    }
    dA_col[(size_t)p * ncols] = unit_distance(rm);
  }
  if (dB_col)
    for (int q = 0; q < L; q++)
      dB_col[(size_t)q * ncols] = unit_distance(colmax[q]);
}

/* The images of global tile `tile` that block X holds, [*lo, *hi) in X's own numbering, and the
 * sgemm input of the tile: X's images themselves when it holds the whole tile, else a copy into
 * buf at their slots (global index mod t), zeros elsewhere. */
static const float *tile_input(float *buf, int *lo, int *hi, msm_block X, int tile, int t, int L,
                               int C) {
  const size_t img = (size_t)L * C;
  if (X.first < 0) { /* packed: X's own images t at a time, the last tile short, no copy */
    *lo = tile * t;
    *hi = *lo + t < X.n ? *lo + t : X.n;
    return X.Z + (size_t)*lo * img;
  }
  int g0 = tile * t, g1 = g0 + t;
  *lo = g0 - X.first > 0 ? g0 - X.first : 0;
  *hi = g1 - X.first < X.n ? g1 - X.first : X.n;
  if (*lo == g0 - X.first && *hi == g1 - X.first)
    return X.Z + (size_t)*lo * img;
  memset(buf, 0, (size_t)t * img * sizeof *buf);
  for (int i = *lo; i < *hi; i++)
    memcpy(buf + (size_t)(X.first + i - g0) * img, X.Z + (size_t)i * img, img * sizeof *buf);
  return buf;
}

/* The images of global tile `tile` that block X holds, [*lo, *hi) in X's numbering (packed:
 * its own images t at a time). */
static void tile_range(int *lo, int *hi, msm_block X, int tile, int t) {
  const int g0 = X.first < 0 ? tile * t : tile * t - X.first;
  *lo = g0 > 0 ? g0 : 0;
  *hi = g0 + t < X.n ? g0 + t : X.n;
}

/* msm_score_blocks with msm_fused.c: tiles as work units (the values do not depend on them), B's
 * tile packed once per thread and reused while the thread stays on it. */
static void score_blocks_fused(float *dA, float *dB, float *scratch, msm_block A, msm_block B,
                               int L, int C, int ncols, int same, int nta, int ntb, int ta0,
                               int tb0) {
  const size_t per_thread = msm_scratch_floats(L, C), row = (size_t)L * ncols;
  const int t = tile_images(L), np = (t * L + 31) / 32;
#pragma omp parallel
  {
    float *Bp = align64(scratch + (size_t)omp_get_thread_num() * per_thread);
    float *colmax = align64(Bp + (size_t)np * 32 * C);
    float *rowmax = align64(colmax + (size_t)t * np * 32);
    float *work = align64(rowmax + (size_t)t * L * t);
    int packed_ib = -1;
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int ib = 0; ib < ntb; ib++)
      for (int ia = 0; ia < nta; ia++) {
        if (same && ia > ib)
          continue;
        int a_lo, a_hi, b_lo, b_hi;
        tile_range(&a_lo, &a_hi, A, ta0 + ia, t);
        tile_range(&b_lo, &b_hi, B, tb0 + ib, t);
        const int na = a_hi - a_lo, nb = b_hi - b_lo, diag = same && ia == ib;
        if (packed_ib != ib)
          msm_fused_pack(Bp, B.Z + (size_t)b_lo * L * C, nb, L, C);
        packed_ib = ib;
        msm_fused_tile(rowmax, colmax, work, A.Z + (size_t)a_lo * L * C, na, Bp, nb, L, C, diag);
        const size_t cm_stride = (size_t)(nb * L + 31) / 32 * 32; /* colmax row of one image */
        for (int a = 0; a < na; a++)
          for (int b = diag ? a + 1 : 0; b < nb; b++) {
            float *dA_col = dA + (a_lo + a) * row + (size_t)(B.col + b_lo + b);
            for (int p = 0; p < L; p++)
              dA_col[(size_t)p * ncols] = unit_distance(rowmax[((size_t)a * L + p) * nb + b]);
            if (dB) {
              float *dB_col = dB + (b_lo + b) * row + (size_t)(A.col + a_lo + a);
              const float *cm = colmax + a * cm_stride + (size_t)b * L;
              for (int q = 0; q < L; q++)
                dB_col[(size_t)q * ncols] = unit_distance(cm[q]);
            }
          }
      }
  }
}

/* musc §A.6.1 step 1 (see musc.h); below, the sgemm path (the reference). Tiles of image pairs
 * are spread over the OpenMP team one at a time (dynamic: the triangle of a same-block call is
 * uneven); each sgemm is single-threaded and always t L x t L x C, with each image at the row
 * (column) slot of its global index, so that a pair's dot products come from the same place of the
 * same product whatever the blocks are: any sharding over ranks gives identical values. A
 * same-block call skips the tiles below the diagonal and, inside a diagonal tile, the pairs b <= a.
 */
void msm_score_blocks(float *dA, float *dB, float *scratch, msm_block A, msm_block B, int L, int C,
                      int ncols, int same) {
  (void)ops_cpu(); /* OpenBLAS single-threaded: the OpenMP team owns the cores */
  if (same && (A.n != B.n || A.first != B.first || A.col != B.col || A.Z != B.Z))
    ANCD_FATAL("msm_score_blocks: same = 1 needs the same block twice");
  if (B.first < 0 || (same && A.first < 0))
    ANCD_FATAL("msm_score_blocks: only a cross call's A may be packed (first = -1)");
  if (A.n < 1 || B.n < 1)
    return;
  if (same && !dB)
    dB = dA; /* one block: both directions land in the same matrix */
  const size_t per_thread = msm_scratch_floats(L, C);
  const size_t row = (size_t)L * ncols;
  const int t = tile_images(L), tL = t * L;
  const int packed = A.first < 0;
  const int ta0 = packed ? 0 : A.first / t;
  const int nta = packed ? (A.n + t - 1) / t : (A.first + A.n - 1) / t - ta0 + 1;
  const int tb0 = B.first / t, ntb = (B.first + B.n - 1) / t - tb0 + 1;
  if (msm_kernel_fused(L, C)) {
    score_blocks_fused(dA, dB, scratch, A, B, L, C, ncols, same, nta, ntb, ta0, tb0);
    return;
  }
#pragma omp parallel
  {
    float *G = scratch + (size_t)omp_get_thread_num() * per_thread;
    float *bufA = G + round16((size_t)tL * tL), *bufB = bufA + round16((size_t)tL * C);
    float *colmax = bufB + round16((size_t)tL * C);
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int ia = 0; ia < nta; ia++)
      for (int ib = 0; ib < ntb; ib++) {
        if (same && ib < ia)
          continue;
        int a_lo, a_hi, b_lo, b_hi;
        const float *At = tile_input(bufA, &a_lo, &a_hi, A, ta0 + ia, t, L, C), *Bt = At;
        if (same && ia == ib)
          b_lo = a_lo, b_hi = a_hi;
        else
          Bt = tile_input(bufB, &b_lo, &b_hi, B, tb0 + ib, t, L, C);
        const int M = packed ? (a_hi - a_lo) * L : tL; /* packed: only the images there are */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, tL, C, 1.0f, At, C, Bt, C, 0.0f, G,
                    tL);
        for (int a = a_lo; a < a_hi; a++)
          for (int b = b_lo; b < b_hi; b++) {
            if (same && b <= a)
              continue;
            const int sa = packed ? a - a_lo : (A.first + a) % t, sb = (B.first + b) % t;
            float *dA_col = dA + a * row + (size_t)(B.col + b);
            float *dB_col = dB ? dB + b * row + (size_t)(A.col + a) : NULL;
            pair_max(dA_col, dB_col, G + (size_t)sa * L * tL + (size_t)sb * L, tL, colmax, L,
                     ncols);
          }
      }
  }
}

/* Reorders a[0, m) so that a[0, k) holds the k smallest values (Hoare quickselect, median of
 * three). Every scan stops at the pivot's value or at an element swapped past it, so it stays in
 * range even with NaN (which the callers reject beforehand). */
static void select_smallest(float *a, int m, int k) {
  int lo = 0, hi = m - 1;
  const int target = k - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    float x = a[lo], y = a[mid], z = a[hi];
    float pv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pv)
        i++;
      while (a[j] > pv)
        j--;
      if (i <= j) {
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j)
      hi = j;
    else if (target >= i)
      lo = i;
    else
      break; /* a[j+1 .. i-1] all equal the pivot, target among them */
  }
}

/* musc §A.6.1 step 2. The sum of the k smallest is taken in double and the mean rounded to
 * float: the exactly rounded value of the reference's fp32 mean, whatever its summation order. */
void msm_interval_average(double *out, const float *D, const int *self_col, int n, int L, int ncols,
                          int k, double weight) {
  const int m = self_col ? ncols - 1 : ncols;
  if (k < 1 || k > m)
    ANCD_FATAL("interval average: k = %d outside [1, %d]", k, m);
  for (int i = 0; self_col && i < n; i++)
    if (self_col[i] < 0 || self_col[i] >= ncols)
      ANCD_FATAL("interval average: image %d's own column %d outside [0, %d)", i, self_col[i],
                 ncols);
#pragma omp parallel
  {
    float *buf = xmalloc((size_t)m * sizeof *buf);
#pragma omp for schedule(static)
    for (long row = 0; row < (long)n * L; row++) {
      const int i = (int)(row / L), self = self_col ? self_col[i] : -1;
      const float *d = D + (size_t)row * ncols;
      int t = 0;
      for (int j = 0; j < ncols; j++)
        if (j != self)
          buf[t++] = d[j];
      if (k < m)
        select_smallest(buf, m, k);
      double s = 0.0;
      for (int j = 0; j < k; j++)
        s += buf[j];
      float mean = (float)(s / k);
      out[row] += weight * (double)mean;
    }
    free(buf);
  }
}

/* The nearest of the columns [c0, c1): musc.h. */
void msm_nearest(double *out, const float *D, int n, int L, int ncols, int c0, int c1,
                 double weight) {
  if (c0 < 0 || c1 > ncols || c0 >= c1)
    ANCD_FATAL("msm_nearest: columns [%d, %d) outside [0, %d)", c0, c1, ncols);
#pragma omp parallel for schedule(static)
  for (long row = 0; row < (long)n * L; row++) {
    const float *d = D + (size_t)row * ncols;
    float m = d[c0];
    for (int j = c0 + 1; j < c1; j++)
      m = d[j] < m ? d[j] : m;
    out[row] += weight * (double)m;
  }
}

/* musc §A.6.3: PyTorch's upsample_bilinear2d with align_corners=True in double: source index
 * dst * (in - 1) / (out - 1) (0 when out or in is 1), lower tap floor, upper tap clamped. */
double upsample_bilinear_ac(float *out, const double *grid, int h, int w, int S) {
  const double sy = (S > 1 && h > 1) ? (double)(h - 1) / (S - 1) : 0.0;
  const double sx = (S > 1 && w > 1) ? (double)(w - 1) / (S - 1) : 0.0;
  double best = -INFINITY;
  for (int v = 0; v < S; v++) {
    double fy = sy * v;
    int y0 = (int)fy;
    int y1 = y0 + (y0 < h - 1);
    double ly1 = fy - y0, ly0 = 1.0 - ly1;
    for (int u = 0; u < S; u++) {
      double fx = sx * u;
      int x0 = (int)fx;
      int x1 = x0 + (x0 < w - 1);
      double lx1 = fx - x0, lx0 = 1.0 - lx1;
      double val = ly0 * (lx0 * grid[(size_t)y0 * w + x0] + lx1 * grid[(size_t)y0 * w + x1]) +
                   ly1 * (lx0 * grid[(size_t)y1 * w + x0] + lx1 * grid[(size_t)y1 * w + x1]);
      out[(size_t)v * S + u] = (float)val;
      best = val > best ? val : best;
    }
  }
  return best;
}

/* Order of one RsCIN row: larger similarity first, the lower column index first among equals
 * (torch.topk leaves tie order unspecified; ancd fixes it). */
static _Thread_local const float *rscin_row; /* qsort has no context argument */
static int by_similarity(const void *pa, const void *pb) {
  int a = *(const int *)pa, b = *(const int *)pb;
  float wa = rscin_row[a], wb = rscin_row[b];
  if (wa != wb)
    return wa > wb ? -1 : 1;
  return (a > b) - (a < b);
}

/* musc §A.7.1 RsCIN. W = F F^T in float (sgemm); per window k the k most similar images of each
 * row (itself included when it is the row maximum) give a similarity-weighted mean of the
 * min-max normalised scores; windows are averaged. k >= N keeps the whole row (the reference's
 * topk would fail). A zero row sum gives Inf/NaN as in the reference; callers check. */
void rscin(double *out, const double *scores, const float *feats, int N, int D, const int *windows,
           int n_windows) {
  int use = feats != NULL && n_windows > 0;
  for (int w = 0; w < n_windows; w++) {
    if (windows[w] < 0)
      ANCD_FATAL("RsCIN window %d < 0", windows[w]);
    if (windows[w] == 0)
      use = 0;
  }
  if (!use) {
    memcpy(out, scores, (size_t)N * sizeof *out);
    return;
  }
  double lo = scores[0], hi = scores[0];
  for (int i = 1; i < N; i++) {
    lo = scores[i] < lo ? scores[i] : lo;
    hi = scores[i] > hi ? scores[i] : hi;
  }
  if (!(hi > lo)) { /* 0/0 in the reference: zeros here, the caller logs it */
    memset(out, 0, (size_t)N * sizeof *out);
    return;
  }
  double *s = xmalloc((size_t)N * sizeof *s);
  for (int i = 0; i < N; i++)
    s[i] = (scores[i] - lo) / (hi - lo);
  (void)ops_cpu();
  float *W = xmalloc((size_t)N * N * sizeof *W);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, D, 1.0f, feats, D, feats, D, 0.0f, W,
              N);
  int *order = xmalloc((size_t)N * sizeof *order);
  for (int i = 0; i < N; i++) {
    rscin_row = W + (size_t)i * N;
    for (int j = 0; j < N; j++)
      order[j] = j;
    qsort(order, (size_t)N, sizeof *order, by_similarity);
    double total = 0.0;
    for (int w = 0; w < n_windows; w++) {
      int k = windows[w] < N ? windows[w] : N;
      double num = 0.0, den = 0.0;
      for (int m = 0; m < k; m++) {
        double wij = rscin_row[order[m]];
        num += wij * s[order[m]];
        den += wij;
      }
      total += num / den;
    }
    out[i] = total / n_windows;
  }
  free(order);
  free(W);
  free(s);
}
