/* Every CPU op against a naive reference written here (double accumulation, obvious loops) on
 * random inputs of awkward sizes, plus the arena and backend selection.
 * Tolerance: |out - ref| <= RTOL * (|ref| + 1) with RTOL = 1e-5 for every op: relative for values
 * of order 1 and more, absolute 1e-5 near 0 where random signs cancel (inputs are O(1)). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "attention_avx512.h"
#include "error.h"
#include "ops.h"
#include "test_util.h"

#define RTOL 1e-5

static const ops *o;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1) (xorshift64*). */
static float urand(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
  return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_floats(long n, float scale) {
  float *x = malloc((size_t)n * sizeof(float));
  for (long i = 0; i < n; i++)
    x[i] = scale * urand();
  return x;
}

static float *nan_floats(long n) {
  float *x = malloc((size_t)n * sizeof(float));
  for (long i = 0; i < n; i++)
    x[i] = NAN;
  return x;
}

/* One CHECK per array: the worst element, with its index. */
static void check_close(const char *what, const float *out, const double *ref, long n) {
  long worst = -1;
  double worst_excess = 0.0;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)out[i] - ref[i]), tol = RTOL * (fabs(ref[i]) + 1.0);
    if (!(d <= tol) && (worst < 0 || d - tol > worst_excess || isnan(d))) {
      worst = i;
      worst_excess = isnan(d) ? INFINITY : d - tol;
    }
  }
  CHECK(worst < 0, "%s: element %ld = %.9g, reference %.9g", what, worst,
        worst < 0 ? 0.0 : out[worst], worst < 0 ? 0.0 : ref[worst]);
}

static double *dalloc(long n) { return calloc((size_t)n, sizeof(double)); }

/* ---- GEMM ---- */

static void test_matmul(int M, int K, int N) {
  float *x = rand_floats((long)M * K, 1.0f), *w = rand_floats((long)N * K, 1.0f);
  float *bias = rand_floats(N, 1.0f), *out = nan_floats((long)M * N);
  double *ref = dalloc((long)M * N), *ref_bias = dalloc((long)M * N);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0.0;
      for (int k = 0; k < K; k++)
        s += (double)x[i * K + k] * w[j * K + k];
      ref[i * N + j] = s;
      ref_bias[i * N + j] = s + bias[j];
    }
  char what[64];
  o->matmul(out, x, w, NULL, M, K, N); /* out starts as NaN: beta = 0 must overwrite it */
  snprintf(what, sizeof what, "matmul %dx%dx%d", M, K, N);
  check_close(what, out, ref, (long)M * N);
  o->matmul(out, x, w, bias, M, K, N);
  snprintf(what, sizeof what, "matmul+bias %dx%dx%d", M, K, N);
  check_close(what, out, ref_bias, (long)M * N);
  free(x), free(w), free(bias), free(out), free(ref), free(ref_bias);
}

/* All four transpose combinations with padded leading dimensions and gaps between batch entries;
 * C's padding must stay untouched. */
static void test_gemm_batched(void) {
  int batch = 3, M = 7, N = 5, K = 13;
  float alpha = 0.7f, beta = 0.3f;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
      int lda = a_cols + 2, ldb = b_cols + 3, ldc = N + 1;
      long sa = (long)a_rows * lda + 5, sb = (long)b_rows * ldb + 1, sc = (long)M * ldc + 4;
      float *A = rand_floats(batch * sa, 1.0f), *B = rand_floats(batch * sb, 1.0f);
      float *C = rand_floats(batch * sc, 1.0f);
      double *ref = dalloc(batch * sc);
      for (long i = 0; i < batch * sc; i++)
        ref[i] = C[i]; /* padding keeps its value */
      for (int b = 0; b < batch; b++)
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
              double a = ta ? A[b * sa + (long)k * lda + i] : A[b * sa + (long)i * lda + k];
              double bb = tb ? B[b * sb + (long)j * ldb + k] : B[b * sb + (long)k * ldb + j];
              s += a * bb;
            }
            long c = b * sc + (long)i * ldc + j;
            ref[c] = alpha * s + beta * (double)C[c];
          }
      o->gemm_batched(C, A, B, batch, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, alpha, beta);
      char what[64];
      snprintf(what, sizeof what, "gemm_batched trans_a=%d trans_b=%d", ta, tb);
      check_close(what, C, ref, batch * sc);
      free(A), free(B), free(C), free(ref);
    }
}

/* ---- row-wise ops ---- */

static void ref_layernorm(double *ref, const float *x, const float *w, const float *b, int rows,
                          int C, double eps) {
  for (int r = 0; r < rows; r++) {
    double mean = 0.0, var = 0.0;
    for (int c = 0; c < C; c++)
      mean += x[r * C + c];
    mean /= C;
    for (int c = 0; c < C; c++)
      var += (x[r * C + c] - mean) * (x[r * C + c] - mean);
    var /= C;
    for (int c = 0; c < C; c++) {
      double v = (x[r * C + c] - mean) / sqrt(var + eps);
      ref[r * C + c] = w ? v * w[c] + b[c] : v;
    }
  }
}

static void test_layernorm(void) {
  int rows = 6, C = 37;
  float eps = 1e-6f;
  float *x = rand_floats(rows * C, 2.0f), *w = rand_floats(C, 1.0f), *b = rand_floats(C, 1.0f);
  float *out = nan_floats(rows * C);
  for (int c = 0; c < C; c++) {
    x[2 * C + c] = 3.25f;                   /* constant row: variance 0, output = bias */
    x[4 * C + c] = 100.0f + 0.1f * urand(); /* large mean, small spread */
  }
  double *ref = dalloc(rows * C);
  ref_layernorm(ref, x, w, b, rows, C, eps);
  o->layernorm(out, x, w, b, rows, C, eps);
  check_close("layernorm", out, ref, rows * C);
  for (int c = 0; c < C; c++)
    CHECK(out[2 * C + c] == b[c], "layernorm constant row: out[%d] = %.9g, bias %.9g", c,
          out[2 * C + c], b[c]);
  ref_layernorm(ref, x, NULL, NULL, rows, C, 1e-5);
  o->layernorm(x, x, NULL, NULL, rows, C, 1e-5f); /* no affine, in place */
  check_close("layernorm no affine, in place", x, ref, rows * C);
  free(x), free(w), free(b), free(out), free(ref);
}

static void test_activations(void) {
  long n = 1001;
  float *x = malloc(n * sizeof(float)), *out = nan_floats(n);
  double *ref = dalloc(n);
  for (long i = 0; i < n; i++)
    x[i] = -8.0f + 16.0f * (float)i / (float)(n - 1) + 0.001f * urand();
  for (long i = 0; i < n; i++)
    ref[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
  o->gelu(out, x, n);
  check_close("gelu", out, ref, n);
  for (long i = 0; i < n; i++)
    ref[i] = x[i] / (1.0 + exp(-1.702 * x[i]));
  o->quick_gelu(out, x, n);
  check_close("quick_gelu", out, ref, n);
  /* Spot values: gelu(1) = Phi(1), gelu(0) = 0, quick_gelu(0) = 0. */
  float v[3] = {1.0f, 0.0f, -100.0f}, r[3];
  o->gelu(r, v, 3);
  CHECK_NEAR(r[0], 0.841344746, 1e-6);
  CHECK(r[1] == 0.0f && fabsf(r[2]) <= 1e-30f, "gelu(0) = %g, gelu(-100) = %g", r[1], r[2]);
  o->quick_gelu(r, v, 3);
  CHECK(r[1] == 0.0f && fabsf(r[2]) <= 1e-30f, "quick_gelu(0) = %g, (-100) = %g", r[1], r[2]);
  free(x), free(out), free(ref);
}

static void ref_softmax_row(double *ref, const float *x, int cols) {
  double mx = -INFINITY, sum = 0.0;
  for (int c = 0; c < cols; c++)
    mx = fmax(mx, x[c]);
  for (int c = 0; c < cols; c++)
    sum += exp(x[c] - mx);
  for (int c = 0; c < cols; c++)
    ref[c] = exp(x[c] - mx) / sum;
}

static void test_softmax(void) {
  int rows = 5, cols = 29;
  float *x = rand_floats(rows * cols, 20.0f), *out = nan_floats(rows * cols);
  x[1 * cols + 3] = 1000.0f;   /* overflows exp without the max shift */
  x[2 * cols + 0] = -INFINITY; /* a masked entry gets weight 0 */
  double *ref = dalloc(rows * cols);
  for (int r = 0; r < rows; r++)
    ref_softmax_row(ref + r * cols, x + r * cols, cols);
  o->softmax(out, x, rows, cols);
  check_close("softmax", out, ref, rows * cols);
  CHECK(out[2 * cols] == 0.0f, "softmax of -inf = %g", out[2 * cols]);
  CHECK_NEAR(out[1 * cols + 3], 1.0, 1e-6);
  for (int r = 0; r < rows; r++) {
    double s = 0.0;
    for (int c = 0; c < cols; c++)
      s += out[r * cols + c];
    CHECK_NEAR(s, 1.0, 1e-5);
  }
  free(x), free(out), free(ref);
}

static void test_add(void) {
  int rows = 7, C = 11;
  long n = rows * C;
  float *a = rand_floats(n, 1.0f), *b = rand_floats(n, 1.0f), *g = rand_floats(C, 1.0f);
  float *out = nan_floats(n);
  double *ref = dalloc(n);
  for (long i = 0; i < n; i++)
    ref[i] = (double)a[i] + b[i];
  o->add(out, a, b, n);
  check_close("add", out, ref, n);
  for (long i = 0; i < n; i++)
    ref[i] = (double)a[i] + (double)g[i % C] * b[i];
  o->add_scaled(out, a, b, g, rows, C);
  check_close("add_scaled", out, ref, n);
  for (long i = 0; i < n; i++)
    ref[i] = (double)a[i] + b[i];
  o->add_scaled(a, a, b, NULL, rows, C); /* in place, no LayerScale */
  check_close("add_scaled gamma NULL in place", a, ref, n);
  free(a), free(b), free(g), free(out), free(ref);
}

static void test_l2_normalize(void) {
  int rows = 4, C = 9;
  float eps = 1e-12f;
  float *x = rand_floats(rows * C, 3.0f), *out = nan_floats(rows * C);
  for (int c = 0; c < C; c++) {
    x[1 * C + c] = 0.0f;                   /* zero row stays zero (0 / eps) */
    x[3 * C + c] = c == 4 ? 1e-14f : 0.0f; /* norm below eps: divided by eps */
  }
  double *ref = dalloc(rows * C);
  for (int r = 0; r < rows; r++) {
    double ss = 0.0;
    for (int c = 0; c < C; c++)
      ss += (double)x[r * C + c] * x[r * C + c];
    double d = fmax(sqrt(ss), eps);
    for (int c = 0; c < C; c++)
      ref[r * C + c] = x[r * C + c] / d;
  }
  o->l2_normalize(out, x, rows, C, eps);
  check_close("l2_normalize", out, ref, rows * C);
  for (int c = 0; c < C; c++)
    CHECK(out[C + c] == 0.0f, "zero row: out[%d] = %g", c, out[C + c]);
  CHECK_NEAR(out[3 * C + 4], 0.01, 1e-7);
  double n0 = 0.0;
  for (int c = 0; c < C; c++)
    n0 += (double)out[c] * out[c];
  CHECK_NEAR(n0, 1.0, 1e-6);
  free(x), free(out), free(ref);
}

/* ---- attention ---- */

/* Naive multi-head attention of one query row t of batch b; skip: a key column left out of the
 * softmax (-1 for none); bias: added to the scores of row 0 (NULL for none). */
static void ref_attention_row(double *ref, const float *qkv, const float *bias, int b, int t, int T,
                              int C, int NH, int skip) {
  int hs = C / NH;
  double *s = malloc(T * sizeof(double));
  for (int h = 0; h < NH; h++) {
    const float *q = qkv + ((long)b * T + t) * 3 * C + h * hs;
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < T; j++) {
      const float *k = qkv + ((long)b * T + j) * 3 * C + C + h * hs;
      double d = 0.0;
      for (int i = 0; i < hs; i++)
        d += (double)q[i] * k[i];
      s[j] = d / sqrt((double)hs) + (bias && t == 0 ? bias[b * T + j] : 0.0);
      if (j != skip)
        mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < T; j++) {
      s[j] = j == skip ? 0.0 : exp(s[j] - mx);
      sum += s[j];
    }
    for (int i = 0; i < hs; i++) {
      double acc = 0.0;
      for (int j = 0; j < T; j++)
        acc += s[j] / sum * qkv[((long)b * T + j) * 3 * C + 2 * C + h * hs + i];
      ref[h * hs + i] = acc;
    }
  }
  free(s);
}

/* Head size 4, and 64 (every ViT here) with T = 197 (ViT/16 at 224 px) and T = 33. */
static void test_attention(int B, int T, int C, int NH) {
  long n = (long)B * T * C;
  float *qkv = rand_floats(3 * n, 1.5f), *out = nan_floats(n), *out2 = nan_floats(n);
  float *scratch = nan_floats((long)ops_cpu()->attention_scratch(B, T, NH));
  float *bias = rand_floats((long)B * T, 2.0f);
  double *ref = dalloc(n);
  CHECK(ops_cpu()->attention_scratch(B, T, NH) >= (size_t)T * T, "scratch too small");

  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      ref_attention_row(ref + ((long)b * T + t) * C, qkv, NULL, b, t, T, C, NH, -1);
  o->attention(out, scratch, qkv, NULL, B, T, C, NH);
  check_close("attention", out, ref, n);

  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      ref_attention_row(ref + ((long)b * T + t) * C, qkv, bias, b, t, T, C, NH, -1);
  o->attention(out2, scratch, qkv, bias, B, T, C, NH);
  check_close("attention cls_bias", out2, ref, n);

  /* -1e9 on column 2 of batch 0, 0 elsewhere: row 0 of batch 0 equals attention without token 2;
   * every other row is exactly the unbiased result. */
  for (int i = 0; i < B * T; i++)
    bias[i] = i == 2 ? -1e9f : 0.0f;
  o->attention(out2, scratch, qkv, bias, B, T, C, NH);
  ref_attention_row(ref, qkv, NULL, 0, 0, T, C, NH, 2);
  check_close("attention masked column, row 0", out2, ref, C);
  CHECK(memcmp(out2 + C, out + C, (size_t)(n - C) * sizeof(float)) == 0,
        "a bias on row 0 changed other rows");
  free(qkv), free(out), free(out2), free(scratch), free(bias), free(ref);
}

/* Both paths: OpenBLAS's sgemm (the reference) and, at head size 64 on an AVX-512 CPU, the pair
 * kernel of attention_avx512.c, whose short last row blocks T = 1, 5, 24, 33, 50 and 197 cover
 * (rows mod 12 and mod 6). The two agree within the reassociation of fp32 dot products. */
static void test_attentions(void) {
  const int cases[][4] = {{2, 5, 12, 3}, {2, 197, 128, 2}, {1, 33, 192, 3}, {1, 1, 64, 1},
                          {3, 5, 64, 1}, {1, 50, 128, 2},  {1, 24, 64, 1}};
  const int n_cases = (int)(sizeof cases / sizeof cases[0]);
  for (int use = 0; use <= 1; use++) {
    ops_cpu_attention_kernel(use);
    for (int i = 0; i < n_cases; i++)
      test_attention(cases[i][0], cases[i][1], cases[i][2], cases[i][3]);
  }
  if (attn_kernel_usable(64)) { /* kernel against sgemm at ViT-B/16's T and head size */
    const int B = 2, T = 197, C = 128, NH = 2;
    const long n = (long)B * T * C;
    float *qkv = rand_floats(3 * n, 1.5f), *a = nan_floats(n), *b = nan_floats(n);
    float *scratch = nan_floats((long)ops_cpu()->attention_scratch(B, T, NH));
    ops_cpu_attention_kernel(0);
    o->attention(a, scratch, qkv, NULL, B, T, C, NH);
    ops_cpu_attention_kernel(1);
    o->attention(b, scratch, qkv, NULL, B, T, C, NH);
    double worst = 0.0;
    for (long i = 0; i < n; i++)
      worst = fmax(worst, fabs((double)a[i] - b[i]) / (fabs((double)a[i]) + 1e-3));
    CHECK(worst <= 1e-5, "attention kernel against sgemm: relative difference %.3g > 1e-5", worst);
    free(qkv), free(a), free(b), free(scratch);
  } else {
    printf("attention kernel: not on this CPU (no AVX-512), sgemm path only\n");
  }
  ops_cpu_attention_kernel(1);
}

/* ---- patch embedding and tokens ---- */

/* im2col then matmul equals a direct stride-P convolution. */
static void test_patch_embed(void) {
  int B = 2, H = 6, W = 9, P = 3, D = 4, gh = H / P, gw = W / P, L = gh * gw, K = 3 * P * P;
  float *img = rand_floats((long)B * 3 * H * W, 1.0f), *wt = rand_floats((long)D * K, 1.0f);
  float *bias = rand_floats(D, 1.0f), *cols = nan_floats((long)B * L * K);
  float *emb = nan_floats((long)B * L * D);
  double *ref = dalloc((long)B * L * D);
  for (int b = 0; b < B; b++)
    for (int py = 0; py < gh; py++)
      for (int px = 0; px < gw; px++)
        for (int d = 0; d < D; d++) {
          double s = bias[d];
          for (int c = 0; c < 3; c++)
            for (int i = 0; i < P; i++)
              for (int j = 0; j < P; j++)
                s += (double)wt[((d * 3 + c) * P + i) * P + j] *
                     img[((b * 3 + c) * H + py * P + i) * W + px * P + j];
          ref[((b * L) + py * gw + px) * D + d] = s;
        }
  o->im2col_patches(cols, img, B, H, W, P);
  CHECK(cols[(1 * L + 4) * K + (2 * P + 1) * P + 2] == img[((1 * 3 + 2) * H + 4) * W + 5],
        "im2col: batch 1, patch (1,1), channel 2, row 1, col 2");
  o->matmul(emb, cols, wt, bias, B * L, K, D);
  check_close("patch embedding (im2col + matmul) vs convolution", emb, ref, (long)B * L * D);
  free(img), free(wt), free(bias), free(cols), free(emb), free(ref);
}

static void test_assemble_tokens(void) {
  int B = 2, L = 4, D = 3;
  float *patches = rand_floats((long)B * L * D, 1.0f), *cls = rand_floats(D, 1.0f);
  float *pos = rand_floats((long)(L + 1) * D, 1.0f), *out = nan_floats((long)B * (L + 1) * D);
  o->assemble_tokens(out, patches, cls, pos, B, L, D, 1);
  for (int b = 0; b < B; b++)
    for (int d = 0; d < D; d++) {
      CHECK(out[(b * (L + 1)) * D + d] == cls[d] + pos[d], "cls token b=%d d=%d", b, d);
      for (int i = 0; i < L; i++)
        CHECK(out[(b * (L + 1) + 1 + i) * D + d] ==
                  patches[(b * L + i) * D + d] + pos[(1 + i) * D + d],
              "patch token b=%d i=%d d=%d", b, i, d);
    }
  o->assemble_tokens(out, patches, NULL, pos, B, L, D, 0); /* no CLS: pos has L rows */
  for (int b = 0; b < B; b++)
    for (int i = 0; i < L; i++)
      for (int d = 0; d < D; d++)
        CHECK(out[(b * L + i) * D + d] == patches[(b * L + i) * D + d] + pos[i * D + d],
              "no-cls token b=%d i=%d d=%d", b, i, d);
  free(patches), free(cls), free(pos), free(out);
}

/* ---- memory, arena, selection ---- */

static void test_memory(void) {
  float host[37], back[37];
  for (int i = 0; i < 37; i++)
    host[i] = urand();
  float *dev = o->alloc(sizeof host);
  CHECK((uintptr_t)dev % 256 == 0, "alloc alignment %p", (void *)dev);
  o->to_device(dev, host, sizeof host);
  o->synchronize();
  o->to_host(back, dev, sizeof back);
  CHECK(memcmp(host, back, sizeof host) == 0, "to_device/to_host round trip");
  o->memset0(dev, sizeof host);
  o->to_host(back, dev, sizeof back);
  for (int i = 0; i < 37; i++)
    CHECK(back[i] == 0.0f, "memset0: [%d] = %g", i, back[i]);
  o->set_precision(PRECISION_TF32); /* cpu: ignored */
  o->free(dev);
}

static void test_arena(void) {
  CHECK(arena_float_bytes(0) == 0 && arena_float_bytes(1) == 256 && arena_float_bytes(64) == 256 &&
            arena_float_bytes(65) == 512,
        "arena_float_bytes rounds to 256");
  arena a;
  arena_init(&a, o, 4096);
  float *p1 = arena_floats(&a, 3);
  float *p2 = arena_floats(&a, 100);
  CHECK((uintptr_t)p1 % 256 == 0 && (uintptr_t)p2 % 256 == 0, "arena blocks 256-aligned");
  CHECK((char *)p2 - (char *)p1 == 256, "second block at +256, got %td", (char *)p2 - (char *)p1);
  for (int i = 0; i < 100; i++)
    p2[i] = (float)i; /* the memory is usable (ASan checks the bounds) */
  size_t mark = arena_mark(&a);
  CHECK(mark == 768, "mark after 256 + 512 bytes: %zu", mark);
  float *p3 = arena_floats(&a, 512); /* 2048 bytes */
  CHECK(a.peak == 2816 && a.used == 2816, "peak %zu, used %zu", a.peak, a.used);
  arena_reset(&a, mark);
  CHECK(a.used == 768 && a.peak == 2816, "after reset: used %zu, peak %zu", a.used, a.peak);
  float *p4 = arena_floats(&a, 10);
  CHECK(p4 == p3, "reset frees the blocks after the mark for reuse");
  float *p5 = arena_floats(&a, (4096 - 1024) / 4); /* exactly fills the arena */
  CHECK((char *)p5 + (4096 - 1024) == a.base + a.size && a.used == a.size, "exact fill");
  arena_free(&a);
  CHECK(a.base == NULL && a.size == 0, "arena_free clears");

  /* Overflow is fatal and names the sizes: run it in a child and read its stderr. */
  int fd[2];
  CHECK(pipe(fd) == 0, "pipe");
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 2);
    arena c;
    arena_init(&c, o, 1024);
    arena_floats(&c, 200); /* 800 bytes, rounded to 1024: full */
    arena_floats(&c, 1);   /* overflow */
    _exit(0);
  }
  close(fd[1]);
  char msg[512] = {0};
  size_t got = 0;
  ssize_t k;
  while (got < sizeof msg - 1 && (k = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0)
    got += (size_t)k;
  close(fd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "overflow must exit 1, status %d", status);
  CHECK(strstr(msg, "arena") && strstr(msg, "1 floats (256 bytes)") &&
            strstr(msg, "1024 of 1024 bytes used"),
        "overflow message: %s", msg);
}

static void test_select(void) {
  CHECK(ops_select("cpu") == ops_cpu(), "cpu");
  const ops *a = ops_select("auto");
  CHECK(a == (ops_cuda() ? ops_cuda() : ops_cpu()), "auto picks cuda when present, else cpu");
  const ops *c = ops_select("cuda");
  if (ops_cuda())
    CHECK(c == ops_cuda(), "cuda");
  else
    CHECK(c == NULL && strstr(ancd_error(), "device cuda requested but"), "cuda absent: %s",
          ancd_error());
  CHECK(ops_select("tpu") == NULL && strstr(ancd_error(), "unknown device 'tpu'"), "bad name: %s",
        ancd_error());
  CHECK(strcmp(ops_cpu()->name, "cpu") == 0, "name");
}

int main(void) {
  o = ops_cpu();
  test_matmul(7, 13, 5);
  test_matmul(1, 1, 1);
  test_matmul(67, 129, 33); /* large enough for OpenBLAS's blocked, threaded path */
  test_gemm_batched();
  test_layernorm();
  test_activations();
  test_softmax();
  test_add();
  test_l2_normalize();
  test_attentions();
  test_patch_embed();
  test_assemble_tokens();
  test_memory();
  test_arena();
  test_select();
  return test_done("test_ops_cpu");
}
