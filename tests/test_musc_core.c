/* MuSc numerics (core/lnamd.c, core/msm.c) against naive references written here in double:
 * LNAMD from the §A.5 formula, MSM from explicit Euclidean distance matrices, the interval
 * average from a full sort, upsampling from the continuous bilinear formula, RsCIN from a small
 * example worked by hand. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "musc.h"
#include "rng.h"
#include "test_util.h"

/* n rows of C uniform values in [-1, 1), each scaled to unit length. */
static float *random_unit_rows(int n, int C, uint64_t seed) {
  float *z = xmalloc((size_t)n * C * sizeof *z);
  for (int i = 0; i < n; i++) {
    double ss = 0.0;
    for (int c = 0; c < C; c++) {
      z[(size_t)i * C + c] = (float)(2.0 * rng_uniform_at(seed, (uint64_t)i * C + c) - 1.0);
      ss += (double)z[(size_t)i * C + c] * z[(size_t)i * C + c];
    }
    for (int c = 0; c < C; c++)
      z[(size_t)i * C + c] = (float)(z[(size_t)i * C + c] / sqrt(ss));
  }
  return z;
}

static void test_msm_k(void) {
  CHECK(msm_k(83, 0.3) == 24, "bottle: %d", msm_k(83, 0.3));
  CHECK(msm_k(42, 0.3) == 12, "toothbrush: %d", msm_k(42, 0.3));
  CHECK(msm_k(201, 0.3) == 60, "VisA 201: %d", msm_k(201, 0.3));
  CHECK(msm_k(200, 0.3) == 59, "VisA 200: %d", msm_k(200, 0.3));
  CHECK(msm_k(160, 0.3) == 47, "VisA 160: %d", msm_k(160, 0.3));
  CHECK(msm_k(150, 0.3) == 44, "VisA 150: %d", msm_k(150, 0.3));
  CHECK(msm_k(31, 0.3) == 9, "N = 31: %d", msm_k(31, 0.3));
  CHECK(msm_k(5, 0.3) == 1, "N = 5: %d", msm_k(5, 0.3));
  CHECK(msm_k(3, 0.3) == 1, "N = 3 (the reference's K = 0): %d", msm_k(3, 0.3));
  CHECK(msm_k(2, 0.3) == 1, "N = 2: %d", msm_k(2, 0.3));
  CHECK(msm_k(11, 0.34) == 3, "N = 11, 0.34: %d", msm_k(11, 0.34));
}

/* min over q of |Z[i,p] - Z[j,q]|, explicitly. */
static double naive_min_dist(const float *Z, int i, int p, int j, int L, int C) {
  double best = INFINITY;
  for (int q = 0; q < L; q++) {
    double ss = 0.0;
    for (int c = 0; c < C; c++) {
      double d = (double)Z[((size_t)i * L + p) * C + c] - Z[((size_t)j * L + q) * C + c];
      ss += d * d;
    }
    best = sqrt(ss) < best ? sqrt(ss) : best;
  }
  return best;
}

#define SENTINEL (-7.0f)

static float *filled(size_t n, float v) {
  float *x = xmalloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++)
    x[i] = v;
  return x;
}

static float *msm_scratch(int L, int C) {
  return xmalloc((size_t)omp_get_max_threads() * msm_scratch_floats(L, C) * sizeof(float));
}

/* dA[a, p, col0 + j] for images a of [lo, hi) against every image j != a of [0, N), where
 * col0 = 0; entries not expected to be written must keep the sentinel. */
static int check_rows(const float *D, const float *Z, int lo, int hi, int jlo, int jhi, int L,
                      int C, int ncols, const char *what) {
  int bad = 0;
  for (int i = lo; i < hi; i++)
    for (int p = 0; p < L; p++)
      for (int j = 0; j < ncols; j++) {
        float got = D[((size_t)(i - lo) * L + p) * ncols + j];
        if (j >= jlo && j < jhi && j != i) {
          double ref = naive_min_dist(Z, i, p, j, L, C);
          if (fabs(got - ref) > 2e-5) {
            if (bad++ < 5)
              fprintf(stderr, "%s: image %d patch %d vs %d: %.8g, naive %.8g\n", what, i, p, j, got,
                      ref);
          }
        } else if (got != SENTINEL) {
          if (bad++ < 5)
            fprintf(stderr, "%s: image %d patch %d column %d written (%g)\n", what, i, p, j, got);
        }
      }
  return bad;
}

static void test_msm_blocks(void) {
  const int N = 5, L = 6, C = 4;
  float *Z = random_unit_rows(N * L, C, 11);
  float *scratch = msm_scratch(L, C);
  const size_t img = (size_t)L * C;

  /* One block holding every image: dB NULL means both directions in dA. */
  float *D = filled((size_t)N * L * N, SENTINEL);
  msm_score_blocks(D, NULL, scratch, (msm_block){Z, N, 0, 0}, (msm_block){Z, N, 0, 0}, L, C, N, 1);
  CHECK(check_rows(D, Z, 0, N, 0, N, L, C, N, "same block") == 0, "same block");

  /* Cross blocks: images 0..1 against 2..4, both directions. */
  float *dA = filled((size_t)2 * L * N, SENTINEL), *dB = filled((size_t)3 * L * N, SENTINEL);
  msm_score_blocks(dA, dB, scratch, (msm_block){Z, 2, 0, 0}, (msm_block){Z + 2 * img, 3, 2, 2}, L,
                   C, N, 0);
  CHECK(check_rows(dA, Z, 0, 2, 2, 5, L, C, N, "cross dA") == 0, "cross block, A side");
  CHECK(check_rows(dB, Z, 2, 5, 0, 2, L, C, N, "cross dB") == 0, "cross block, B side");

  /* Cross with dB NULL: only the A side; then the B side's own block with an offset (a rank
   * owning images 2..4 of 5): together with the cross call this completes rows 2..4. */
  float *dA2 = filled((size_t)2 * L * N, SENTINEL);
  msm_score_blocks(dA2, NULL, scratch, (msm_block){Z, 2, 0, 0}, (msm_block){Z + 2 * img, 3, 2, 2},
                   L, C, N, 0);
  CHECK(memcmp(dA2, dA, (size_t)2 * L * N * sizeof *dA) == 0, "dB NULL changes dA");
  /* A packed A (first = -1, as `ancd predict` scores new images): the same distances. */
  float *dA3 = filled((size_t)2 * L * N, SENTINEL);
  msm_score_blocks(dA3, NULL, scratch, (msm_block){Z, 2, -1, 0}, (msm_block){Z + 2 * img, 3, 2, 2},
                   L, C, N, 0);
  CHECK(check_rows(dA3, Z, 0, 2, 2, 5, L, C, N, "packed A") == 0, "packed A");
  free(dA3);
  msm_score_blocks(dB, NULL, scratch, (msm_block){Z + 2 * img, 3, 2, 2},
                   (msm_block){Z + 2 * img, 3, 2, 2}, L, C, N, 1);
  CHECK(check_rows(dB, Z, 2, 5, 0, 5, L, C, N, "rows 2..4") == 0, "cross + own block");
  for (int i = 2; i < 5; i++) /* the same values as the single-block call */
    CHECK(memcmp(dB + (size_t)(i - 2) * L * N, D + (size_t)i * L * N, (size_t)L * N * 4) == 0,
          "image %d differs from the one-block call", i);

  /* Interval average over the finished matrix against a sort of the naive distances. */
  const int k = 2;
  int self[5];
  double acc[5 * 6];
  for (int i = 0; i < N; i++)
    self[i] = i;
  for (int i = 0; i < N * L; i++)
    acc[i] = 1.0;
  msm_interval_average(acc, D, self, N, L, N, k, 0.5);
  double worst = 0.0;
  for (int i = 0; i < N; i++)
    for (int p = 0; p < L; p++) {
      double d[4];
      int t = 0;
      for (int j = 0; j < N; j++)
        if (j != i)
          d[t++] = naive_min_dist(Z, i, p, j, L, C);
      for (int a = 0; a < 4; a++) /* insertion sort */
        for (int b = a; b > 0 && d[b] < d[b - 1]; b--) {
          double x = d[b];
          d[b] = d[b - 1];
          d[b - 1] = x;
        }
      double ref = 1.0 + 0.5 * (d[0] + d[1]) / 2;
      worst = fmax(worst, fabs(acc[i * L + p] - ref));
    }
  CHECK(worst < 2e-5, "MSM scores vs naive: max diff %g", worst);

  /* More threads than pairs and more pairs than threads: bit-identical results. */
  const int N2 = 9, L2 = 17, C2 = 24;
  float *Z2 = random_unit_rows(N2 * L2, C2, 12);
  float *scratch2 = msm_scratch(L2, C2);
  float *D1 = filled((size_t)N2 * L2 * N2, SENTINEL), *D3 = filled((size_t)N2 * L2 * N2, SENTINEL);
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  msm_score_blocks(D1, NULL, scratch2, (msm_block){Z2, N2, 0, 0}, (msm_block){Z2, N2, 0, 0}, L2, C2,
                   N2, 1);
  omp_set_num_threads(saved);
  msm_score_blocks(D3, NULL, scratch2, (msm_block){Z2, N2, 0, 0}, (msm_block){Z2, N2, 0, 0}, L2, C2,
                   N2, 1);
  CHECK(memcmp(D1, D3, (size_t)N2 * L2 * N2 * sizeof *D1) == 0, "thread count changes MSM");
  CHECK(check_rows(D3, Z2, 0, N2, 0, N2, L2, C2, N2, "9 images") == 0, "9 images");
  /* An image against itself has distance 0 everywhere: identical images give 0, not NaN. */
  float *Zdup = xmalloc(2 * (size_t)L2 * C2 * sizeof *Zdup);
  memcpy(Zdup, Z2, (size_t)L2 * C2 * sizeof *Zdup);
  memcpy(Zdup + (size_t)L2 * C2, Z2, (size_t)L2 * C2 * sizeof *Zdup);
  float *Dd = filled((size_t)2 * L2 * 2, SENTINEL);
  msm_score_blocks(Dd, NULL, scratch2, (msm_block){Zdup, 2, 0, 0}, (msm_block){Zdup, 2, 0, 0}, L2,
                   C2, 2, 1);
  double dmax = 0.0;
  for (int p = 0; p < L2; p++) {
    dmax = fmax(dmax, Dd[(size_t)p * 2 + 1]);
    dmax = fmax(dmax, Dd[((size_t)L2 + p) * 2 + 0]);
  }
  CHECK(dmax < 1e-3 && !isnan(dmax), "duplicate images: distance %g", dmax);

  free(Zdup);
  free(Dd);
  free(Z2);
  free(scratch2);
  free(D1);
  free(D3);
  free(dA2);
  free(dA);
  free(dB);
  free(D);
  free(scratch);
  free(Z);
}

/* Mean of the k smallest of row without column self, by a full sort in double. */
static double naive_interval(const float *row, int ncols, int self, int k) {
  double *v = xmalloc((size_t)ncols * sizeof *v);
  int t = 0;
  for (int j = 0; j < ncols; j++)
    if (j != self)
      v[t++] = row[j];
  for (int a = 1; a < t; a++)
    for (int b = a; b > 0 && v[b] < v[b - 1]; b--) {
      double x = v[b];
      v[b] = v[b - 1];
      v[b - 1] = x;
    }
  double s = 0.0;
  for (int j = 0; j < k; j++)
    s += v[j];
  free(v);
  return s / k;
}

static void test_interval_average(void) {
  /* Ties (three values only), sorted and reversed rows, all equal, every k up to ncols - 1. */
  enum { n = 3, L = 4, ncols = 13 };
  float D[n * L * ncols];
  for (int i = 0; i < n * L * ncols; i++)
    D[i] = 0.1f * (float)(1 + rng_u64_at(21, (uint64_t)i) % 3);
  for (int j = 0; j < ncols; j++) {
    D[1 * ncols + j] = (float)j;           /* image 0 patch 1: ascending */
    D[2 * ncols + j] = (float)(ncols - j); /* patch 2: descending */
    D[3 * ncols + j] = 0.5f;               /* patch 3: all equal */
  }
  int self[n] = {0, 7, 12};
  int bad = 0;
  for (int k = 1; k <= ncols - 1; k++) {
    double out[n * L];
    for (int r = 0; r < n * L; r++)
      out[r] = -2.0;
    msm_interval_average(out, D, self, n, L, ncols, k, 0.25);
    for (int r = 0; r < n * L; r++) {
      double ref = -2.0 + 0.25 * naive_interval(D + (size_t)r * ncols, ncols, self[r / L], k);
      if (fabs(out[r] - ref) > 1e-7 && bad++ < 5)
        fprintf(stderr, "k %d row %d: %.9g, naive %.9g\n", k, r, out[r], ref);
    }
  }
  CHECK(bad == 0, "%d interval averages differ from the sorted reference", bad);

  /* A longer random row set with k = 11 of 36 (the selection's recursion). */
  enum { n2 = 4, L2 = 50, nc2 = 37 };
  float *D2 = xmalloc((size_t)n2 * L2 * nc2 * sizeof *D2);
  for (int i = 0; i < n2 * L2 * nc2; i++)
    D2[i] = (float)rng_uniform_at(22, (uint64_t)i);
  int self2[n2] = {3, 0, 36, 20};
  double *out2 = xcalloc((size_t)n2 * L2, sizeof *out2);
  msm_interval_average(out2, D2, self2, n2, L2, nc2, 11, 1.0);
  double worst = 0.0;
  for (int r = 0; r < n2 * L2; r++)
    worst =
        fmax(worst, fabs(out2[r] - naive_interval(D2 + (size_t)r * nc2, nc2, self2[r / L2], 11)));
  CHECK(worst < 1e-7, "random rows: max diff %g", worst);
  free(out2);
  free(D2);
}

/* §A.5 written out: X̂ = (x - mean) / sqrt(var + 1e-5) over the image, F(c,y,x) = (1/r^2) sum
 * of X̂ over the window inside the grid, Z = F / |F|. Returns the max abs difference. */
static double lnamd_vs_naive(const float *tokens, int n, int has_cls, int h, int w, int C, int r) {
  const int T = has_cls + h * w;
  float *out = xmalloc((size_t)n * h * w * C * sizeof *out);
  float *scratch = xmalloc(lnamd_scratch_floats(h, w, C) * sizeof *scratch);
  lnamd(out, scratch, tokens, n, T, has_cls, h, w, C, r);
  double worst = 0.0, *f = xmalloc((size_t)C * sizeof *f);
  for (int i = 0; i < n; i++) {
    const float *x = tokens + ((size_t)i * T + has_cls) * C;
    double sum = 0.0, ss = 0.0;
    for (int t = 0; t < h * w * C; t++)
      sum += x[t];
    double mean = sum / (h * w * C);
    for (int t = 0; t < h * w * C; t++)
      ss += (x[t] - mean) * (x[t] - mean);
    double rstd = 1.0 / sqrt(ss / (h * w * C) + 1e-5);
    for (int y = 0; y < h; y++)
      for (int xx = 0; xx < w; xx++) {
        double norm = 0.0;
        for (int c = 0; c < C; c++) {
          double s = 0.0;
          for (int dy = -(r / 2); dy <= r / 2; dy++)
            for (int dx = -(r / 2); dx <= r / 2; dx++) {
              int yy = y + dy, xs = xx + dx;
              if (yy >= 0 && yy < h && xs >= 0 && xs < w)
                s += (x[((size_t)yy * w + xs) * C + c] - mean) * rstd;
            }
          f[c] = s / (r * r);
          norm += f[c] * f[c];
        }
        for (int c = 0; c < C; c++) {
          double ref = norm > 0 ? f[c] / sqrt(norm) : 0.0;
          double got = out[(((size_t)i * h + y) * w + xx) * C + c];
          worst = fmax(worst, isnan(got) ? INFINITY : fabs(got - ref));
        }
      }
  }
  free(f);
  free(scratch);
  free(out);
  return worst;
}

static void test_lnamd(void) {
  const int n = 2, h = 5, w = 4, C = 3;
  for (int has_cls = 0; has_cls <= 1; has_cls++) {
    const int T = has_cls + h * w;
    float *tok = xmalloc((size_t)n * T * C * sizeof *tok);
    for (int t = 0; t < n * T * C; t++) /* an offset and a scale that LayerNorm must remove */
      tok[t] = (float)(3.0 + 5.0 * rng_uniform_at(31 + has_cls, (uint64_t)t));
    for (int r = 1; r <= 5; r += 2) {
      double d = lnamd_vs_naive(tok, n, has_cls, h, w, C, r);
      CHECK(d < 1e-5, "LNAMD r = %d, has_cls %d: max diff %g", r, has_cls, d);
    }
    free(tok);
  }

  /* Border patches on a 3 x 3 grid, C = 2, written cell by cell: the box sum covers only the
   * in-grid cells (zero padding after LayerNorm; the 1/r^2 and 1/std cancel in the L2
   * normalisation), so a patch is the normalised sum of its cells' centred values. r = 5 covers
   * the whole grid from every patch: all nine patches are the same vector. */
  {
    float tok[18], out3[18], out5[18], scratch[96];
    double mean = 0.0;
    for (int k = 0; k < 9; k++) {
      tok[2 * k] = (float)(k + 1);
      tok[2 * k + 1] = (float)((k * k) % 7);
      mean += tok[2 * k] + tok[2 * k + 1];
    }
    mean /= 18;
    CHECK(lnamd_scratch_floats(3, 3, 2) <= 96, "scratch size %zu", lnamd_scratch_floats(3, 3, 2));
    lnamd(out3, scratch, tok, 1, 9, 0, 3, 3, 2, 3);
    lnamd(out5, scratch, tok, 1, 9, 0, 3, 3, 2, 5);
    static const int corner[] = {0, 1, 3, 4}, edge[] = {0, 1, 2, 3, 4, 5};
    static const int whole[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    const struct {
      const float *out;
      int patch, n;
      const int *cells;
    } cases[] = {{out3, 0, 4, corner}, {out3, 1, 6, edge},  {out3, 4, 9, whole},
                 {out5, 0, 9, whole},  {out5, 5, 9, whole}, {out5, 8, 9, whole}};
    for (int t = 0; t < 6; t++) {
      double v[2] = {0, 0};
      for (int m = 0; m < cases[t].n; m++)
        for (int c = 0; c < 2; c++)
          v[c] += tok[2 * cases[t].cells[m] + c] - mean;
      double norm = sqrt(v[0] * v[0] + v[1] * v[1]);
      for (int c = 0; c < 2; c++)
        CHECK_NEAR(cases[t].out[2 * cases[t].patch + c], v[c] / norm, 1e-6);
    }
  }

  /* A constant image: LayerNorm gives zeros and the patches stay zero (no NaN). */
  {
    const int T = 1 + h * w;
    float *tok = filled((size_t)T * C, 2.5f);
    float *out = filled((size_t)h * w * C, 9.0f);
    float *scratch = xmalloc(lnamd_scratch_floats(h, w, C) * sizeof *scratch);
    for (int r = 1; r <= 3; r += 2) {
      lnamd(out, scratch, tok, 1, T, 1, h, w, C, r);
      int nonzero = 0;
      for (int t = 0; t < h * w * C; t++)
        nonzero += out[t] != 0.0f;
      CHECK(nonzero == 0, "constant image, r = %d: %d values not 0", r, nonzero);
    }
    free(scratch);
    free(out);
    free(tok);
  }
}

/* Bilinear interpolation of the continuous point (fy, fx), written from the corners. */
static double naive_bilinear(const double *g, int h, int w, double fy, double fx) {
  int y0 = (int)floor(fy), x0 = (int)floor(fx);
  if (y0 > h - 2)
    y0 = h > 1 ? h - 2 : 0;
  if (x0 > w - 2)
    x0 = w > 1 ? w - 2 : 0;
  int y1 = h > 1 ? y0 + 1 : 0, x1 = w > 1 ? x0 + 1 : 0;
  double ty = fy - y0, tx = fx - x0;
  double top = g[y0 * w + x0] * (1 - tx) + g[y0 * w + x1] * tx;
  double bot = g[y1 * w + x0] * (1 - tx) + g[y1 * w + x1] * tx;
  return top * (1 - ty) + bot * ty;
}

static void test_upsample(void) {
  /* 3 x 3 to 5 x 5: every other output is a grid point, the rest are midpoints. */
  double g[9] = {0.1, 0.7, 0.3, 0.9, 0.2, 0.4, 0.5, 0.8, 0.6};
  float out[25];
  double mx = upsample_bilinear_ac(out, g, 3, 3, 5);
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 3; x++)
      CHECK(out[2 * y * 5 + 2 * x] == (float)g[y * 3 + x], "grid point (%d,%d)", y, x);
  CHECK_NEAR(out[0 * 5 + 1], (0.1 + 0.7) / 2, 1e-7);
  CHECK_NEAR(out[1 * 5 + 0], (0.1 + 0.9) / 2, 1e-7);
  CHECK_NEAR(out[1 * 5 + 1], (0.1 + 0.7 + 0.9 + 0.2) / 4, 1e-7);
  CHECK_NEAR(out[3 * 5 + 4], (0.4 + 0.6) / 2, 1e-7);
  CHECK(mx == 0.9, "max %.17g", mx);

  /* 37 x 37 to 518 x 518 (ViT-L/14 at 518): the corners are the grid's, every value matches the
   * continuous formula, and the returned max is that of the double map. */
  const int h = 37, S = 518;
  double *grid = xmalloc((size_t)h * h * sizeof *grid);
  for (int t = 0; t < h * h; t++)
    grid[t] = rng_uniform_at(41, (uint64_t)t);
  float *big = xmalloc((size_t)S * S * sizeof *big);
  double got_max = upsample_bilinear_ac(big, grid, h, h, S);
  CHECK(big[0] == (float)grid[0] && big[S - 1] == (float)grid[h - 1] &&
            big[(size_t)(S - 1) * S] == (float)grid[(h - 1) * h] &&
            big[(size_t)S * S - 1] == (float)grid[h * h - 1],
        "corners differ from the grid's");
  double worst = 0.0, ref_max = -INFINITY;
  for (int v = 0; v < S; v++)
    for (int u = 0; u < S; u++) {
      double ref = naive_bilinear(grid, h, h, v * (h - 1.0) / (S - 1), u * (h - 1.0) / (S - 1));
      ref_max = fmax(ref_max, ref);
      worst = fmax(worst, fabs(big[(size_t)v * S + u] - ref));
    }
  CHECK(worst < 1e-7, "518 map vs formula: max diff %g", worst);
  CHECK_NEAR(got_max, ref_max, 1e-12);
  /* A non-square grid and S = 1 (the source coordinate is 0). */
  double g23[6] = {1, 2, 3, 4, 5, 6};
  float o4[16], o1[1];
  upsample_bilinear_ac(o4, g23, 2, 3, 4);
  CHECK_NEAR(o4[1], 1 + 2.0 / 3, 1e-6);
  CHECK_NEAR(o4[15], 6, 0);
  CHECK_NEAR(o4[12], 4, 0);
  CHECK_NEAR(upsample_bilinear_ac(o1, g23, 2, 3, 1), 1.0, 0);
  free(big);
  free(grid);
}

static void test_rscin(void) {
  /* Worked by hand: s = (1, 2, 3, 5) -> (0, .25, .5, 1); unit features on a quarter circle give
   * W rows (1 .8 .6 0), (.8 1 .96 .6), (.6 .96 1 .8), (0 .6 .8 1). */
  const double s[4] = {1, 2, 3, 5};
  const float F[8] = {1, 0, 0.8f, 0.6f, 0.6f, 0.8f, 0, 1};
  const int win[3] = {1, 2, 3};
  double out[4];
  rscin(out, s, F, 4, 2, win, 3);
  const double ref[4] = {
      (0 + 0.2 / 1.8 + 0.5 / 2.4) / 3,
      (0.25 + 0.73 / 1.96 + 0.73 / 2.76) / 3,
      (0.5 + 0.74 / 1.96 + 1.54 / 2.76) / 3,
      (1 + 1.4 / 1.8 + 1.55 / 2.4) / 3,
  };
  for (int i = 0; i < 4; i++)
    CHECK_NEAR(out[i], ref[i], 1e-6);
  /* k >= N keeps whole rows. */
  const int all[1] = {9};
  rscin(out, s, F, 4, 2, all, 1);
  CHECK_NEAR(out[0], (0.2 + 0.3) / 2.4, 1e-6);
  CHECK_NEAR(out[3], (0.15 + 0.4 + 1) / 2.4, 1e-6);

  /* k = 1 with unit features keeps only the diagonal: the normalised scores themselves. */
  const int N = 7, D = 16;
  float *U = random_unit_rows(N, D, 51);
  double sc[7], o[7];
  for (int i = 0; i < N; i++)
    sc[i] = 3.0 + rng_uniform_at(52, (uint64_t)i);
  double lo = sc[0], hi = sc[0];
  for (int i = 1; i < N; i++) {
    lo = fmin(lo, sc[i]);
    hi = fmax(hi, sc[i]);
  }
  const int one[1] = {1};
  rscin(o, sc, U, N, D, one, 1);
  for (int i = 0; i < N; i++)
    CHECK_NEAR(o[i], (sc[i] - lo) / (hi - lo), 1e-12);

  /* Ties: images 0 and 1 identical; k = 1 keeps the lower index for both. */
  memcpy(U + D, U, (size_t)D * sizeof *U);
  rscin(o, sc, U, N, D, one, 1);
  CHECK_NEAR(o[1], (sc[0] - lo) / (hi - lo), 1e-12);
  CHECK_NEAR(o[0], (sc[0] - lo) / (hi - lo), 1e-12);

  /* A 0 window or no features: the raw scores; all scores equal: zeros. */
  const int with0[3] = {1, 0, 3};
  rscin(o, sc, U, N, D, with0, 3);
  CHECK(memcmp(o, sc, sizeof o) == 0, "window 0 changed the scores");
  rscin(o, sc, NULL, N, D, win, 3);
  CHECK(memcmp(o, sc, sizeof o) == 0, "no features changed the scores");
  double flat[7] = {2, 2, 2, 2, 2, 2, 2};
  rscin(o, flat, U, N, D, win, 3);
  for (int i = 0; i < N; i++)
    CHECK(o[i] == 0.0, "all-equal scores: out[%d] = %g", i, o[i]);
  free(U);
}

/* The fused kernel (msm_fused.c) against the sgemm reference and the naive distances, at sizes
 * where it runs (L >= 16, C <= 512) and where tiles hold several images (L = 196: 5 per tile),
 * with C = 192 and 384 (compile-time copies) and an odd C; then blocks cut as two ranks would, and
 * a packed A: the same bits as one block. Where the CPU lacks AVX-512 both runs take the reference.
 */
static void test_msm_kernels(void) {
  const int sizes[][3] = {{12, 196, 192}, {7, 33, 40}, {5, 20, 384}};
  for (int s = 0; s < 3; s++) {
    const int N = sizes[s][0], L = sizes[s][1], C = sizes[s][2];
    const size_t img = (size_t)L * C, n = (size_t)N * L * N;
    float *Z = random_unit_rows(N * L, C, 21 + s), *scratch = msm_scratch(L, C);
    float *Dref = filled(n, SENTINEL), *D = filled(n, SENTINEL);
    msm_use_kernel(MSM_KERNEL_SGEMM);
    CHECK(!msm_kernel_fused(L, C), "SGEMM forced, yet the fused kernel is chosen");
    msm_score_blocks(Dref, NULL, scratch, (msm_block){Z, N, 0, 0}, (msm_block){Z, N, 0, 0}, L, C, N,
                     1);
    msm_use_kernel(MSM_KERNEL_AUTO);
    msm_score_blocks(D, NULL, scratch, (msm_block){Z, N, 0, 0}, (msm_block){Z, N, 0, 0}, L, C, N,
                     1);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
      worst = fmax(worst, fabs((double)D[i] - Dref[i]));
    CHECK(worst < 1e-5, "L %d C %d: fused vs sgemm max diff %g", L, C, worst);
    CHECK(check_rows(D, Z, 0, N, 0, N, L, C, N, "fused") == 0, "L %d C %d: fused vs naive", L, C);

    /* Two "ranks": images [0, 7) and [7, N) as own blocks plus the cross call. */
    const int cut = N * 7 / 12;
    float *Dcut = filled(n, SENTINEL);
    msm_block lo = {Z, cut, 0, 0}, hi = {Z + cut * img, N - cut, cut, cut};
    msm_score_blocks(Dcut, NULL, scratch, lo, lo, L, C, N, 1);
    msm_score_blocks(Dcut + (size_t)cut * L * N, NULL, scratch, hi, hi, L, C, N, 1);
    msm_score_blocks(Dcut, Dcut + (size_t)cut * L * N, scratch, lo, hi, L, C, N, 0);
    CHECK(memcmp(Dcut, D, n * sizeof *D) == 0, "L %d C %d: blocks change the fused values", L, C);
    /* Packed A (first = -1): images 1..3 against the last block. */
    float *Dp = filled((size_t)3 * L * N, SENTINEL);
    msm_score_blocks(Dp, NULL, scratch, (msm_block){Z + img, 3, -1, 0}, hi, L, C, N, 0);
    int same = 1;
    for (int a = 0; a < 3; a++)
      for (int p = 0; p < L; p++)
        for (int j = cut; j < N; j++) /* (not its own column: D leaves that unwritten) */
          same &=
              j == 1 + a || Dp[((size_t)a * L + p) * N + j] == D[((size_t)(1 + a) * L + p) * N + j];
    CHECK(same, "L %d C %d: a packed A changes the fused values", L, C);
    free(Dp);
    free(Dcut);
    free(D);
    free(Dref);
    free(scratch);
    free(Z);
  }
}

int main(void) {
  test_msm_k();
  test_msm_blocks();
  test_msm_kernels();
  test_interval_average();
  test_lnamd();
  test_upsample();
  test_rscin();
  return test_done("test_musc_core");
}
