/* HETMM ATMM matching and fusion (hetmm.h; musc_hetmm_spec §B.6, §B.10). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hetmm.h"
#include "ops.h"

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* The template columns of query row y: for each template position u = (yy, xx) with
 * |yy - y| <= D, the query positions x0..x1 of row y within +-D of xx, all B images at once:
 * G [rows, K] = panel[x0..x1] . t(u)^T with panel [w, B, C] (x-major, so the rows are one block).
 */
static void match_row(float *fwd, float *bwd_own, float *G, float *panel, const float *q,
                      const float *t, int y, int B, int h, int w, int C, int K, int df, int db) {
  const int D = imax(df, db), P = h * w;
  for (int x = 0; x < w; x++)
    for (int b = 0; b < B; b++)
      memcpy(panel + ((size_t)x * B + b) * C, q + ((size_t)b * P + (size_t)y * w + x) * C,
             (size_t)C * sizeof *panel);
  for (int yy = imax(0, y - D); yy <= imin(h - 1, y + D); yy++) {
    const int dy = abs(yy - y);
    for (int xx = 0; xx < w; xx++) {
      const int x0 = imax(0, xx - D), x1 = imin(w - 1, xx + D), rows = (x1 - x0 + 1) * B;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, K, C, 1.0f,
                  panel + (size_t)x0 * B * C, C, t + ((size_t)yy * w + xx) * K * C, C, 0.0f, G, K);
      for (int x = x0; x <= x1; x++) {
        const int dx = abs(x - xx);
        const int to_f = dy <= df && dx <= df, to_b = dy <= db && dx <= db;
        if (!to_f && !to_b)
          continue;
        for (int b = 0; b < B; b++) {
          const float *g = G + ((size_t)(x - x0) * B + b) * K;
          float m = -1.0f; /* §B.6: the running max starts at -1 */
          for (int k = 0; k < K; k++)
            m = g[k] > m ? g[k] : m;
          float *f = fwd + (size_t)b * P + (size_t)y * w + x;
          float *bk = bwd_own + (size_t)b * P + (size_t)yy * w + xx;
          if (to_f && m > *f)
            *f = m;
          if (to_b && m > *bk)
            *bk = m;
        }
      }
    }
  }
}

void hetmm_match_layer(float *fwd, float *bwd, const float *q, const float *t, int B, int h, int w,
                       int C, int K, int df, int db) {
  (void)ops_cpu(); /* OpenBLAS single-threaded: the OpenMP team owns the cores */
  const int D = imax(df, db);
  const size_t n = (size_t)B * h * w;
  const int nt = omp_get_max_threads();
  float *bwd_t = xmalloc((size_t)nt * n * sizeof *bwd_t); /* per thread: rows y write any yy */
  for (size_t i = 0; i < n; i++)
    fwd[i] = -1.0f;
  for (size_t i = 0; i < (size_t)nt * n; i++)
    bwd_t[i] = -1.0f;
#pragma omp parallel num_threads(nt)
  {
    float *panel = xmalloc((size_t)w * B * C * sizeof *panel);
    float *G = xmalloc(((size_t)(2 * D + 1) * B * K + 1) * sizeof *G);
    float *own = bwd_t + (size_t)omp_get_thread_num() * n;
#pragma omp for schedule(dynamic, 1)
    for (int y = 0; y < h; y++)
      match_row(fwd, own, G, panel, q, t, y, B, h, w, C, K, df, db);
    free(G);
    free(panel);
  }
  for (size_t i = 0; i < n; i++) { /* max is exact: the same for any thread count */
    float m = -1.0f;
    for (int k = 0; k < nt; k++)
      m = bwd_t[(size_t)k * n + i] > m ? bwd_t[(size_t)k * n + i] : m;
    bwd[i] = m;
  }
  free(bwd_t);
}

double hetmm_match_macs(int B, int h, int w, int C, int K, int df, int db) {
  const int D = imax(df, db);
  double rows = 0;
  for (int y = 0; y < h; y++)
    for (int yy = imax(0, y - D); yy <= imin(h - 1, y + D); yy++)
      for (int xx = 0; xx < w; xx++)
        rows += imin(w - 1, xx + D) - imax(0, xx - D) + 1;
  return rows * B * K * C;
}

/* torch's upsample_bilinear2d, align_corners=True, float CPU kernel: scale (in-1)/(out-1) in
 * float, source index scale * dst, weights 1 - l and l. */
void hetmm_upsample_ac(float *out, const float *in, int h, int w, int S) {
  const float sh = S > 1 ? (float)(h - 1) / (float)(S - 1) : 0.0f;
  const float sw = S > 1 ? (float)(w - 1) / (float)(S - 1) : 0.0f;
  for (int i = 0; i < S; i++) {
    const float ry = sh * (float)i;
    const int y0 = (int)ry, y1 = y0 + (y0 < h - 1);
    const float ly1 = ry - (float)y0, ly0 = 1.0f - ly1;
    for (int j = 0; j < S; j++) {
      const float rx = sw * (float)j;
      const int x0 = (int)rx, x1 = x0 + (x0 < w - 1);
      const float lx1 = rx - (float)x0, lx0 = 1.0f - lx1;
      out[(size_t)i * S + j] =
          ly0 * (lx0 * in[(size_t)y0 * w + x0] + lx1 * in[(size_t)y0 * w + x1]) +
          ly1 * (lx0 * in[(size_t)y1 * w + x0] + lx1 * in[(size_t)y1 * w + x1]);
    }
  }
}

void hetmm_fuse_layer(float *out, const float *fwd, const float *bwd, int B, int h, int w, int S,
                      double alpha, double lambda) {
  const size_t P = (size_t)h * w, SS = (size_t)S * S;
  const float a = (float)alpha, l = (float)lambda;
#pragma omp parallel
  {
    float *gf = xmalloc(P * sizeof *gf), *gb = xmalloc(P * sizeof *gb);
    float *uf = xmalloc(SS * sizeof *uf), *ub = xmalloc(SS * sizeof *ub);
#pragma omp for schedule(static)
    for (int b = 0; b < B; b++) {
      for (size_t p = 0; p < P; p++) { /* §B.6: 1 - max cosine per direction */
        gf[p] = 1.0f - fwd[(size_t)b * P + p];
        gb[p] = 1.0f - bwd[(size_t)b * P + p];
      }
      hetmm_upsample_ac(uf, gf, h, w, S);
      hetmm_upsample_ac(ub, gb, h, w, S);
      float *o = out + (size_t)b * SS;
      for (size_t i = 0; i < SS; i++)
        o[i] += l * (a * uf[i] + (1.0f - a) * ub[i]);
    }
    free(gf);
    free(gb);
    free(uf);
    free(ub);
  }
}
