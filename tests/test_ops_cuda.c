/* Every op of the CUDA backend against the CPU reference on the same random inputs, at awkward
 * sizes and at ViT-B/16 sizes (B=2, T=197, C=768, NH=12). Skipped where ops_cuda() is NULL (no
 * GPU, or a CPU-only build).
 * Error measure: the norm-wise relative error ||cuda - cpu||_2 / ||cpu||_2 (in double), checked
 * against 1e-5 in fp32 and 3e-3 for GEMM-based ops in tf32/bf16 (5e-3 for the attention
 * backward, four chained GEMMs). Each line also prints
 * max_rel = max |cuda - cpu| / (rms(cpu) + |cpu|), an elementwise view for diagnosis only: in
 * bf16 single elements legitimately exceed the norm-wise bound. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "test_util.h"

static const double TOL_FP32 = 1e-5, TOL_REDUCED = 3e-3;

static const char *precision_name[] = {"fp32", "tf32", "bf16"};

/* ---- inputs ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float uniform(float lo, float hi) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static float *random_floats(long n, float lo, float hi) {
  float *x = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (long i = 0; i < n; i++)
    x[i] = uniform(lo, hi);
  return x;
}

/* ---- moving buffers between host and a backend ---- */

static float *upload(const ops *o, const float *host, long n) {
  float *d = o->alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (n > 0)
    o->to_device(d, host, (size_t)n * sizeof(float));
  return d;
}

static float *device_zeros(const ops *o, long n) {
  float *d = o->alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  o->memset0(d, (size_t)(n > 0 ? n : 1) * sizeof(float));
  return d;
}

/* Copies n floats back to a new host array and frees the device buffer. */
static float *download(const ops *o, float *d, long n) {
  o->synchronize();
  float *h = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (n > 0)
    o->to_host(h, d, (size_t)n * sizeof(float));
  o->free(d);
  return h;
}

/* ---- comparison ---- */

static void compare(const char *op, const char *size, ops_precision p, const float *ref,
                    const float *got, long n, double tol) {
  double diff2 = 0, ref2 = 0;
  for (long i = 0; i < n; i++) {
    double d = (double)got[i] - ref[i];
    diff2 += d * d;
    ref2 += (double)ref[i] * ref[i];
  }
  double rms = sqrt(ref2 / (double)(n > 0 ? n : 1)), max_rel = 0;
  for (long i = 0; i < n; i++) {
    double e = fabs((double)got[i] - ref[i]) / (rms + fabs(ref[i]));
    if (!(e <= max_rel)) /* NaN wins */
      max_rel = e;
  }
  double rel = sqrt(diff2) / (ref2 > 0 ? sqrt(ref2) : 1.0);
  int ok = rel <= tol;
  printf("%-15s %-4s %-36s rel_l2 %.2e  max_rel %.2e  tol %.0e  %s\n", op, precision_name[p], size,
         rel, max_rel, tol, ok ? "ok" : "FAIL");
  CHECK(ok, "%s %s [%s]: rel_l2 %.3e > tol %.1e", op, precision_name[p], size, rel, tol);
  /* An all-zero reference would make any agreement meaningless. */
  CHECK(ref2 > 0, "%s [%s]: reference output is all zero", op, size);
}

static const ops *backends[2]; /* cpu, cuda */

static void set_precision(ops_precision p) {
  for (int k = 0; k < 2; k++)
    backends[k]->set_precision(p);
}

/* ---- GEMMs ---- */

static void check_matmul(int M, int K, int N, int with_bias, ops_precision p) {
  float *x = random_floats((long)M * K, -1, 1), *w = random_floats((long)N * K, -1, 1);
  float *bias = random_floats(N, -1, 1);
  float *res[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, (long)M * K), *dw = upload(o, w, (long)N * K);
    float *db = upload(o, bias, N), *dout = device_zeros(o, (long)M * N);
    o->matmul(dout, dx, dw, with_bias ? db : NULL, M, K, N);
    res[k] = download(o, dout, (long)M * N);
    o->free(dx), o->free(dw), o->free(db);
  }
  set_precision(PRECISION_FP32);
  char size[96];
  snprintf(size, sizeof size, "M=%d K=%d N=%d bias=%d", M, K, N, with_bias);
  compare("matmul", size, p, res[0], res[1], (long)M * N,
          p == PRECISION_FP32 ? TOL_FP32 : TOL_REDUCED);
  free(x), free(w), free(bias), free(res[0]), free(res[1]);
}

/* Padded leading dimensions and gaps between batch items, alpha and beta not 0/1, so that every
 * stride and flag is exercised. */
static void check_gemm_batched(int batch, int M, int N, int K, int ta, int tb, ops_precision p) {
  int rows_a = ta ? K : M, cols_a = ta ? M : K, rows_b = tb ? N : K, cols_b = tb ? K : N;
  int lda = cols_a + 3, ldb = cols_b + 1, ldc = N + 2;
  long sa = (long)rows_a * lda + 5, sb = (long)rows_b * ldb + 7, sc = (long)M * ldc + 3;
  float *a = random_floats(sa * batch, -1, 1), *b = random_floats(sb * batch, -1, 1);
  float *c = random_floats(sc * batch, -1, 1);
  float *res[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *da = upload(o, a, sa * batch), *db = upload(o, b, sb * batch);
    float *dc = upload(o, c, sc * batch);
    o->gemm_batched(dc, da, db, batch, M, N, K, ta, tb, lda, ldb, ldc, sa, sb, sc, 0.7f, 0.3f);
    res[k] = download(o, dc, sc * batch);
    o->free(da), o->free(db);
  }
  set_precision(PRECISION_FP32);
  char size[96];
  snprintf(size, sizeof size, "batch=%d M=%d N=%d K=%d ta=%d tb=%d", batch, M, N, K, ta, tb);
  compare("gemm_batched", size, p, res[0], res[1], sc * batch,
          p == PRECISION_FP32 ? TOL_FP32 : TOL_REDUCED);
  free(a), free(b), free(c), free(res[0]), free(res[1]);
}

/* ---- row ops ---- */

/* affine = 0: weight and bias NULL, the plain normalisation. */
static void check_layernorm(long rows, int C, float eps, int affine) {
  long n = rows * C;
  float *x = random_floats(n, 1, 3), *w = random_floats(C, 0.5f, 1.5f);
  float *bias = random_floats(C, -1, 1);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dw = upload(o, w, C), *db = upload(o, bias, C);
    float *dout = device_zeros(o, n);
    o->layernorm(dout, dx, affine ? dw : NULL, affine ? db : NULL, rows, C, eps);
    res[k] = download(o, dout, n);
    o->free(dx), o->free(dw), o->free(db);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d eps=%g affine=%d", rows, C, eps, affine);
  compare("layernorm", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(w), free(bias), free(res[0]), free(res[1]);
}

static void check_softmax(long rows, int cols) {
  long n = rows * cols;
  float *x = random_floats(n, -10, 10);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dout = device_zeros(o, n);
    o->softmax(dout, dx, rows, cols);
    res[k] = download(o, dout, n);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld cols=%d", rows, cols);
  compare("softmax", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

/* Row 1 (when present) is all zero: the eps branch. */
static void check_l2_normalize(long rows, int C, float eps) {
  long n = rows * C;
  float *x = random_floats(n, -1, 1);
  if (rows > 1)
    memset(x + C, 0, (size_t)C * sizeof(float));
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dout = device_zeros(o, n);
    o->l2_normalize(dout, dx, rows, C, eps);
    res[k] = download(o, dout, n);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d eps=%g", rows, C, eps);
  compare("l2_normalize", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

/* ---- elementwise ---- */

static void check_activation(int quick, long n) {
  float *x = random_floats(n, -6, 6);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dout = device_zeros(o, n);
    (quick ? o->quick_gelu : o->gelu)(dout, dx, n);
    res[k] = download(o, dout, n);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "n=%ld", n);
  compare(quick ? "quick_gelu" : "gelu", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

typedef enum { ADD_PLAIN, ADD_SCALED, ADD_SCALED_NO_GAMMA } add_kind;

/* in_place: out aliases a, as in a residual update. ADD_SCALED_NO_GAMMA passes gamma NULL. */
static void check_add(long rows, int C, add_kind kind, int in_place) {
  long n = rows * C;
  float *a = random_floats(n, -1, 1), *b = random_floats(n, -1, 1), *g = random_floats(C, -2, 2);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *da = upload(o, a, n), *db = upload(o, b, n), *dg = upload(o, g, C);
    float *dout = in_place ? da : device_zeros(o, n);
    if (kind != ADD_PLAIN)
      o->add_scaled(dout, da, db, kind == ADD_SCALED ? dg : NULL, rows, C);
    else
      o->add(dout, da, db, n);
    res[k] = download(o, dout, n);
    if (!in_place)
      o->free(da);
    o->free(db), o->free(dg);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d%s", rows, C, in_place ? " in-place" : "");
  static const char *names[] = {"add", "add_scaled", "add_scaled(1)"};
  compare(names[kind], size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(a), free(b), free(g), free(res[0]), free(res[1]);
}

/* ---- attention ---- */

/* cls_bias: values in [-2, 2] with about a quarter of the keys masked by -1e4 (MGViT's use). */
static void check_attention(int B, int T, int C, int NH, int with_bias, ops_precision p) {
  long n_qkv = (long)B * T * 3 * C, n_out = (long)B * T * C;
  float *qkv = random_floats(n_qkv, -1, 1), *bias = random_floats((long)B * T, -2, 2);
  for (long i = 1; i < (long)B * T; i++)
    if (uniform(0, 1) < 0.25f)
      bias[i] = -1e4f;
  float *res[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dqkv = upload(o, qkv, n_qkv), *dbias = upload(o, bias, (long)B * T);
    float *scratch = device_zeros(o, (long)o->attention_scratch(B, T, NH));
    float *dout = device_zeros(o, n_out);
    o->attention(dout, scratch, dqkv, with_bias ? dbias : NULL, B, T, C, NH);
    res[k] = download(o, dout, n_out);
    o->free(dqkv), o->free(dbias), o->free(scratch);
  }
  set_precision(PRECISION_FP32);
  char size[96];
  snprintf(size, sizeof size, "B=%d T=%d C=%d NH=%d cls_bias=%d", B, T, C, NH, with_bias);
  compare("attention", size, p, res[0], res[1], n_out,
          p == PRECISION_FP32 ? TOL_FP32 : TOL_REDUCED);
  free(qkv), free(bias), free(res[0]), free(res[1]);
}

/* ---- patches, tokens ---- */

static void check_im2col(int B, int H, int W, int P) {
  long n_img = (long)B * 3 * H * W, n_cols = (long)B * (H / P) * (W / P) * 3 * P * P;
  float *img = random_floats(n_img, -1, 1);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dimg = upload(o, img, n_img), *dcols = device_zeros(o, n_cols);
    o->im2col_patches(dcols, dimg, B, H, W, P);
    res[k] = download(o, dcols, n_cols);
    o->free(dimg);
  }
  char size[96];
  snprintf(size, sizeof size, "B=%d H=%d W=%d P=%d", B, H, W, P);
  compare("im2col_patches", size, PRECISION_FP32, res[0], res[1], n_cols, TOL_FP32);
  free(img), free(res[0]), free(res[1]);
}

static void check_assemble_tokens(int B, int L, int D, int has_cls) {
  long n_patches = (long)B * L * D, n_pos = (long)(has_cls + L) * D;
  long n_out = (long)B * (has_cls + L) * D;
  float *patches = random_floats(n_patches, -1, 1), *cls = random_floats(D, -1, 1);
  float *pos = random_floats(n_pos, -1, 1);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dp = upload(o, patches, n_patches), *dc = upload(o, cls, D);
    float *dpos = upload(o, pos, n_pos), *dout = device_zeros(o, n_out);
    o->assemble_tokens(dout, dp, has_cls ? dc : NULL, dpos, B, L, D, has_cls);
    res[k] = download(o, dout, n_out);
    o->free(dp), o->free(dc), o->free(dpos);
  }
  char size[96];
  snprintf(size, sizeof size, "B=%d L=%d D=%d has_cls=%d", B, L, D, has_cls);
  compare("assemble_tokens", size, PRECISION_FP32, res[0], res[1], n_out, TOL_FP32);
  free(patches), free(cls), free(pos), free(res[0]), free(res[1]);
}

/* ---- convolution ops (WideResNet, musc_hetmm_spec §B.4): channels-last images ---- */

static int conv_out_size(int n, int k, int s, int p, int d) {
  return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

static void check_conv_im2col(int B, int H, int W, int C, int k, int s, int p, int d) {
  long n_x = (long)B * H * W * C;
  long n_cols = (long)B * conv_out_size(H, k, s, p, d) * conv_out_size(W, k, s, p, d) * k * k * C;
  float *x = random_floats(n_x, -1, 1);
  float *res[2];
  for (int i = 0; i < 2; i++) {
    const ops *o = backends[i];
    float *dx = upload(o, x, n_x), *dcols = device_zeros(o, n_cols);
    o->im2col(dcols, dx, B, H, W, C, k, s, p, d);
    res[i] = download(o, dcols, n_cols);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "B=%d %dx%dx%d k=%d s=%d p=%d d=%d", B, H, W, C, k, s, p, d);
  compare("im2col", size, PRECISION_FP32, res[0], res[1], n_cols, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

static void check_maxpool2d(int B, int H, int W, int C, int k, int s, int p) {
  long n_x = (long)B * H * W * C;
  long n_out = (long)B * conv_out_size(H, k, s, p, 1) * conv_out_size(W, k, s, p, 1) * C;
  float *x = random_floats(n_x, -1, 1);
  float *res[2];
  for (int i = 0; i < 2; i++) {
    const ops *o = backends[i];
    float *dx = upload(o, x, n_x), *dout = device_zeros(o, n_out);
    o->maxpool2d(dout, dx, B, H, W, C, k, s, p);
    res[i] = download(o, dout, n_out);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "B=%d %dx%dx%d k=%d s=%d p=%d", B, H, W, C, k, s, p);
  compare("maxpool2d", size, PRECISION_FP32, res[0], res[1], n_out, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

static void check_relu(long n, int in_place) {
  float *x = random_floats(n, -1, 1);
  float *res[2];
  for (int i = 0; i < 2; i++) {
    const ops *o = backends[i];
    float *dx = upload(o, x, n), *dout = in_place ? dx : device_zeros(o, n);
    o->relu(dout, dx, n);
    res[i] = download(o, dout, n);
    if (!in_place)
      o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "n=%ld in_place=%d", n, in_place);
  compare("relu", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

static void check_transpose(int B, int R, int C) {
  long n = (long)B * R * C;
  float *x = random_floats(n, -1, 1);
  float *res[2];
  for (int i = 0; i < 2; i++) {
    const ops *o = backends[i];
    float *dx = upload(o, x, n), *dout = device_zeros(o, n);
    o->transpose(dout, dx, B, R, C);
    res[i] = download(o, dout, n);
    o->free(dx);
  }
  char size[96];
  snprintf(size, sizeof size, "B=%d R=%d C=%d", B, R, C);
  compare("transpose", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(res[0]), free(res[1]);
}

/* ---- training ops. The backward passes add into random initial gradients (the same on both
 * backends), so accumulation is compared too. Reduced precision touches only their GEMMs: the
 * column sums (dbias) are fp32 in every mode. ---- */

/* Attention backward chains four GEMMs: rounding the GEMM inputs to bf16 on the CPU (an
 * emulation of cuBLAS's FAST_16BF) gives rel_l2 2.5e-3 at ViT-B size, the forward 2.3e-3. */
static const double TOL_REDUCED_ATTN_BWD = 5e-3;

static void check_layernorm_train(long rows, int C, float eps, int affine) {
  long n = rows * C;
  float *x = random_floats(n, 1, 3), *w = random_floats(C, 0.5f, 1.5f);
  float *bias = random_floats(C, -1, 1);
  float *res[2], *mean[2], *rstd[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dw = upload(o, w, C), *db = upload(o, bias, C);
    float *dout = device_zeros(o, n), *dmean = device_zeros(o, rows);
    float *drstd = device_zeros(o, rows);
    o->layernorm_train(dout, dmean, drstd, dx, affine ? dw : NULL, affine ? db : NULL, rows, C,
                       eps);
    res[k] = download(o, dout, n);
    mean[k] = download(o, dmean, rows);
    rstd[k] = download(o, drstd, rows);
    o->free(dx), o->free(dw), o->free(db);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d eps=%g affine=%d", rows, C, eps, affine);
  compare("layernorm_train", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  compare("ln_train.mean", size, PRECISION_FP32, mean[0], mean[1], rows, TOL_FP32);
  compare("ln_train.rstd", size, PRECISION_FP32, rstd[0], rstd[1], rows, TOL_FP32);
  free(x), free(w), free(bias);
  for (int k = 0; k < 2; k++)
    free(res[k]), free(mean[k]), free(rstd[k]);
}

/* mean and rstd come from the CPU's layernorm_train, the same for both backends. */
static void check_layernorm_backward(long rows, int C, int affine) {
  long n = rows * C;
  float *x = random_floats(n, 1, 3), *w = random_floats(C, 0.5f, 1.5f);
  float *dy = random_floats(n, -1, 1), *g_inp = random_floats(n, -1, 1);
  float *g_w = random_floats(C, -1, 1), *g_b = random_floats(C, -1, 1);
  float *tmp = xmalloc((size_t)n * sizeof(float)), *mean = xmalloc((size_t)rows * sizeof(float));
  float *rstd = xmalloc((size_t)rows * sizeof(float));
  backends[0]->layernorm_train(tmp, mean, rstd, x, affine ? w : NULL, NULL, rows, C, 1e-6f);
  float *res_inp[2], *res_w[2], *res_b[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *dw = upload(o, w, C), *ddy = upload(o, dy, n);
    float *dmean = upload(o, mean, rows), *drstd = upload(o, rstd, rows);
    float *dinp = upload(o, g_inp, n), *dweight = upload(o, g_w, C), *dbias = upload(o, g_b, C);
    o->layernorm_backward(dinp, affine ? dweight : NULL, affine ? dbias : NULL, ddy, dx,
                          affine ? dw : NULL, dmean, drstd, rows, C);
    res_inp[k] = download(o, dinp, n);
    res_w[k] = download(o, dweight, C);
    res_b[k] = download(o, dbias, C);
    o->free(dx), o->free(dw), o->free(ddy), o->free(dmean), o->free(drstd);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d affine=%d", rows, C, affine);
  compare("ln_bwd.dinp", size, PRECISION_FP32, res_inp[0], res_inp[1], n, TOL_FP32);
  compare("ln_bwd.dweight", size, PRECISION_FP32, res_w[0], res_w[1], C, TOL_FP32);
  compare("ln_bwd.dbias", size, PRECISION_FP32, res_b[0], res_b[1], C, TOL_FP32);
  free(x), free(w), free(dy), free(g_inp), free(g_w), free(g_b), free(tmp), free(mean), free(rstd);
  for (int k = 0; k < 2; k++)
    free(res_inp[k]), free(res_w[k]), free(res_b[k]);
}

static void check_matmul_backward(int M, int K, int N, int with_bias, ops_precision p) {
  long nx = (long)M * K, nw = (long)N * K, ny = (long)M * N;
  float *x = random_floats(nx, -1, 1), *w = random_floats(nw, -1, 1);
  float *dy = random_floats(ny, -1, 1), *g_inp = random_floats(nx, -1, 1);
  float *g_w = random_floats(nw, -1, 1), *g_b = random_floats(N, -1, 1);
  float *res_inp[2], *res_w[2], *res_b[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, nx), *dw = upload(o, w, nw), *ddy = upload(o, dy, ny);
    float *dinp = upload(o, g_inp, nx), *dweight = upload(o, g_w, nw), *dbias = upload(o, g_b, N);
    o->matmul_backward(dinp, dweight, with_bias ? dbias : NULL, ddy, dx, dw, M, K, N);
    res_inp[k] = download(o, dinp, nx);
    res_w[k] = download(o, dweight, nw);
    res_b[k] = download(o, dbias, N);
    o->free(dx), o->free(dw), o->free(ddy);
  }
  set_precision(PRECISION_FP32);
  char size[96];
  snprintf(size, sizeof size, "M=%d K=%d N=%d bias=%d", M, K, N, with_bias);
  double tol = p == PRECISION_FP32 ? TOL_FP32 : TOL_REDUCED;
  compare("matmul_bwd.dinp", size, p, res_inp[0], res_inp[1], nx, tol);
  compare("matmul_bwd.dw", size, p, res_w[0], res_w[1], nw, tol);
  compare("matmul_bwd.db", size, p, res_b[0], res_b[1], N, TOL_FP32);
  free(x), free(w), free(dy), free(g_inp), free(g_w), free(g_b);
  for (int k = 0; k < 2; k++)
    free(res_inp[k]), free(res_w[k]), free(res_b[k]);
}

static void check_activation_backward(int quick, long n) {
  float *x = random_floats(n, -6, 6), *dy = random_floats(n, -1, 1);
  float *g = random_floats(n, -1, 1);
  float *res[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dx = upload(o, x, n), *ddy = upload(o, dy, n), *dinp = upload(o, g, n);
    (quick ? o->quick_gelu_backward : o->gelu_backward)(dinp, dx, ddy, n);
    res[k] = download(o, dinp, n);
    o->free(dx), o->free(ddy);
  }
  char size[96];
  snprintf(size, sizeof size, "n=%ld", n);
  compare(quick ? "quick_gelu_bwd" : "gelu_bwd", size, PRECISION_FP32, res[0], res[1], n, TOL_FP32);
  free(x), free(dy), free(g), free(res[0]), free(res[1]);
}

static void check_add_scaled_backward(long rows, int C, int with_gamma) {
  long n = rows * C;
  float *b = random_floats(n, -1, 1), *gamma = random_floats(C, -2, 2);
  float *dy = random_floats(n, -1, 1), *g_a = random_floats(n, -1, 1);
  float *g_b = random_floats(n, -1, 1), *g_gamma = random_floats(C, -1, 1);
  float *res_a[2], *res_b[2], *res_g[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *db = upload(o, b, n), *dgamma = upload(o, gamma, C), *ddy = upload(o, dy, n);
    float *da_ = upload(o, g_a, n), *db_ = upload(o, g_b, n), *dg_ = upload(o, g_gamma, C);
    o->add_scaled_backward(da_, db_, with_gamma ? dg_ : NULL, ddy, db, with_gamma ? dgamma : NULL,
                           rows, C);
    res_a[k] = download(o, da_, n);
    res_b[k] = download(o, db_, n);
    res_g[k] = download(o, dg_, C);
    o->free(db), o->free(dgamma), o->free(ddy);
  }
  char size[96];
  snprintf(size, sizeof size, "rows=%ld C=%d gamma=%d", rows, C, with_gamma);
  compare("add_sc_bwd.da", size, PRECISION_FP32, res_a[0], res_a[1], n, TOL_FP32);
  compare("add_sc_bwd.db", size, PRECISION_FP32, res_b[0], res_b[1], n, TOL_FP32);
  compare("add_sc_bwd.dgamma", size, PRECISION_FP32, res_g[0], res_g[1], C, TOL_FP32);
  free(b), free(gamma), free(dy), free(g_a), free(g_b), free(g_gamma);
  for (int k = 0; k < 2; k++)
    free(res_a[k]), free(res_b[k]), free(res_g[k]);
}

/* cls_bias: MGViT's mask (anomalyncd_spec §5.3), -1e9 on about a quarter of the keys. */
static void check_attention_backward(int B, int T, int C, int NH, int with_bias, ops_precision p) {
  long n_qkv = (long)B * T * 3 * C, n_out = (long)B * T * C;
  float *qkv = random_floats(n_qkv, -1, 1), *bias = random_floats((long)B * T, -2, 2);
  for (long i = 1; i < (long)B * T; i++)
    if (uniform(0, 1) < 0.25f)
      bias[i] = -1e9f;
  float *dy = random_floats(n_out, -1, 1), *g = random_floats(n_qkv, -1, 1);
  float *res[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dqkv_in = upload(o, qkv, n_qkv), *dbias = upload(o, bias, (long)B * T);
    float *ddy = upload(o, dy, n_out), *dqkv = upload(o, g, n_qkv);
    float *scratch = device_zeros(o, (long)o->attention_backward_scratch(B, T, C, NH));
    o->attention_backward(dqkv, scratch, ddy, dqkv_in, with_bias ? dbias : NULL, B, T, C, NH);
    res[k] = download(o, dqkv, n_qkv);
    o->free(dqkv_in), o->free(dbias), o->free(ddy), o->free(scratch);
  }
  set_precision(PRECISION_FP32);
  char size[96];
  snprintf(size, sizeof size, "B=%d T=%d C=%d NH=%d cls_bias=%d", B, T, C, NH, with_bias);
  compare("attention_bwd", size, p, res[0], res[1], n_qkv,
          p == PRECISION_FP32 ? TOL_FP32 : TOL_REDUCED_ATTN_BWD);
  free(qkv), free(bias), free(dy), free(g), free(res[0]), free(res[1]);
}

/* Three steps, the first with first_step (the momentum buffer starts as garbage). */
static void check_sgd(long n, float weight_decay) {
  float *param = random_floats(n, -1, 1), *buf = random_floats(n, -1, 1);
  float *grad[3];
  for (int s = 0; s < 3; s++)
    grad[s] = random_floats(n, -1, 1);
  float *res_p[2], *res_buf[2];
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dp = upload(o, param, n), *dbuf = upload(o, buf, n);
    for (int s = 0; s < 3; s++) {
      float *dg = upload(o, grad[s], n);
      o->sgd_update(dp, dbuf, dg, n, 0.05f, 0.9f, weight_decay, s == 0);
      o->synchronize();
      o->free(dg);
    }
    res_p[k] = download(o, dp, n);
    res_buf[k] = download(o, dbuf, n);
  }
  char size[96];
  snprintf(size, sizeof size, "n=%ld wd=%g, 3 steps", n, weight_decay);
  compare("sgd.param", size, PRECISION_FP32, res_p[0], res_p[1], n, TOL_FP32);
  compare("sgd.buf", size, PRECISION_FP32, res_buf[0], res_buf[1], n, TOL_FP32);
  free(param), free(buf);
  for (int s = 0; s < 3; s++)
    free(grad[s]);
  for (int k = 0; k < 2; k++)
    free(res_p[k]), free(res_buf[k]);
}

static void check_training_ops(void) {
  const ops *gpu = backends[1];
  CHECK(gpu->layernorm_train && gpu->layernorm_backward && gpu->matmul_backward &&
            gpu->gelu_backward && gpu->quick_gelu_backward && gpu->add_scaled_backward &&
            gpu->attention_backward && gpu->attention_backward_scratch && gpu->sgd_update,
        "cuda: a training op is missing");

  check_layernorm_train(37, 97, 1e-6f, 1);
  check_layernorm_train(394, 768, 1e-6f, 1);
  check_layernorm_train(37, 97, 1e-5f, 0);

  check_layernorm_backward(37, 97, 1);
  check_layernorm_backward(394, 768, 1);
  check_layernorm_backward(5, 1500, 1);
  check_layernorm_backward(37, 97, 0);
  check_layernorm_backward(12000, 64, 1); /* many row chunks in the column sums */

  for (int p = PRECISION_FP32; p <= PRECISION_BF16; p++) {
    check_matmul_backward(394, 768, 2304, 1, p); /* ViT-B qkv */
    check_matmul_backward(394, 3072, 768, 1, p); /* ViT-B fc2 */
  }
  check_matmul_backward(97, 300, 129, 0, PRECISION_FP32);
  check_matmul_backward(5, 13, 7, 1, PRECISION_FP32);
  check_matmul_backward(1, 1, 1, 1, PRECISION_FP32);
  check_matmul_backward(64, 768, 10, 0, PRECISION_FP32); /* prototypes: few outputs */

  for (int quick = 0; quick < 2; quick++) {
    check_activation_backward(quick, 394L * 3072);
    check_activation_backward(quick, 1000003);
    check_activation_backward(quick, 1);
  }

  for (int with_gamma = 0; with_gamma < 2; with_gamma++) {
    check_add_scaled_backward(394, 768, with_gamma);
    check_add_scaled_backward(3, 5, with_gamma);
    check_add_scaled_backward(1001, 3, with_gamma);
  }

  for (int with_bias = 0; with_bias < 2; with_bias++) {
    check_attention_backward(2, 197, 768, 12, with_bias, PRECISION_FP32);
    check_attention_backward(2, 17, 24, 3, with_bias, PRECISION_FP32);
    check_attention_backward(3, 5, 12, 3, with_bias, PRECISION_FP32);
    check_attention_backward(1, 1, 8, 2, with_bias, PRECISION_FP32);
    check_attention_backward(2, 197, 768, 12, with_bias, PRECISION_TF32);
    check_attention_backward(2, 197, 768, 12, with_bias, PRECISION_BF16);
  }

  check_sgd(1000003, 0.0f);
  check_sgd(1000003, 5e-5f);
  check_sgd(7, 0.1f);
}

int main(void) {
  const ops *gpu = ops_cuda();
  if (!gpu)
    test_skip("no CUDA device");
  setvbuf(stdout, NULL, _IOLBF, 0); /* the table and FAIL lines (stderr) in order */
  backends[0] = ops_cpu();
  backends[1] = gpu;
  printf("cuda vs cpu: rel_l2 = ||cuda-cpu||/||cpu||, max_rel = max|cuda-cpu|/(rms(cpu)+|cpu|)\n");

  for (int p = PRECISION_FP32; p <= PRECISION_BF16; p++) {
    check_matmul(394, 768, 2304, 1, p); /* ViT-B qkv: B*T = 2*197 */
    check_matmul(394, 3072, 768, 1, p); /* ViT-B fc2 */
    check_matmul(97, 300, 129, 0, p);
  }
  check_matmul(5, 13, 7, 1, PRECISION_FP32);
  check_matmul(1, 1, 1, 1, PRECISION_FP32);
  check_matmul(33, 65, 17, 0, PRECISION_FP32);

  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      check_gemm_batched(3, 33, 65, 17, ta, tb, PRECISION_FP32);
      check_gemm_batched(1, 7, 5, 1, ta, tb, PRECISION_FP32);
      check_gemm_batched(12, 197, 64, 197, ta, tb, PRECISION_FP32);
    }
  check_gemm_batched(12, 197, 197, 64, 0, 1, PRECISION_TF32);
  check_gemm_batched(12, 197, 197, 64, 0, 1, PRECISION_BF16);
  check_gemm_batched(4, 100, 300, 768, 1, 0, PRECISION_TF32);
  check_gemm_batched(4, 100, 300, 768, 1, 0, PRECISION_BF16);

  check_layernorm(37, 97, 1e-6f, 1);
  check_layernorm(394, 768, 1e-6f, 1);
  check_layernorm(5, 1500, 1e-5f, 1);
  check_layernorm(3, 1, 1e-5f, 1);
  check_layernorm(37, 97, 1e-5f, 0);

  check_softmax(37, 97);
  check_softmax(2 * 12 * 197, 197);
  check_softmax(3, 5000);
  check_softmax(4, 1);

  check_l2_normalize(37, 97, 1e-6f);
  check_l2_normalize(394, 768, 1e-12f);
  check_l2_normalize(2, 3000, 1e-6f);

  for (int quick = 0; quick < 2; quick++) {
    check_activation(quick, 394L * 3072);
    check_activation(quick, 1000003);
    check_activation(quick, 1);
  }

  for (int kind = ADD_PLAIN; kind <= ADD_SCALED; kind++)
    for (int in_place = 0; in_place < 2; in_place++) {
      check_add(394, 768, kind, in_place);
      check_add(3, 5, kind, in_place);
      check_add(1001, 3, kind, in_place);
    }
  check_add(37, 97, ADD_SCALED_NO_GAMMA, 0);

  for (int with_bias = 0; with_bias < 2; with_bias++) {
    check_attention(2, 197, 768, 12, with_bias, PRECISION_FP32);
    check_attention(3, 5, 12, 3, with_bias, PRECISION_FP32);
    check_attention(2, 50, 96, 4, with_bias, PRECISION_FP32);
    check_attention(1, 1, 8, 2, with_bias, PRECISION_FP32);
    check_attention(2, 197, 768, 12, with_bias, PRECISION_TF32);
    check_attention(2, 197, 768, 12, with_bias, PRECISION_BF16);
  }
  check_attention(2, 50, 96, 4, 1, PRECISION_TF32);

  check_im2col(2, 224, 224, 16);
  check_im2col(3, 28, 42, 14);
  check_im2col(1, 21, 35, 7);
  check_im2col(1, 1, 1, 1);

  check_conv_im2col(2, 64, 64, 128, 3, 1, 1, 1); /* WRN-50-2 layer1 3x3 */
  check_conv_im2col(2, 64, 64, 256, 3, 2, 1, 1); /* layer2's first 3x3, stride 2 */
  check_conv_im2col(2, 61, 47, 3, 7, 2, 3, 1);   /* the stem, odd sizes */
  check_conv_im2col(3, 9, 7, 5, 1, 2, 0, 1);     /* strided 1x1 downsample */
  check_conv_im2col(1, 10, 9, 4, 3, 1, 2, 2);    /* dilation 2 */
  check_maxpool2d(2, 128, 128, 64, 3, 2, 1);     /* the stem's pool at 256 px */
  check_maxpool2d(3, 21, 18, 5, 3, 2, 1);
  check_maxpool2d(1, 8, 6, 3, 2, 2, 0);
  check_relu(1000003, 0);
  check_relu(4096L * 256, 1);
  check_relu(1, 0);
  check_transpose(2, 3, 256 * 256); /* NCHW images -> NHWC */
  check_transpose(2, 64 * 64, 256); /* layer1 NHWC -> NCHW */
  check_transpose(3, 37, 65);
  check_transpose(1, 1, 1);

  check_assemble_tokens(2, 196, 768, 1);
  check_assemble_tokens(2, 196, 768, 0);
  check_assemble_tokens(3, 5, 3, 1);
  check_assemble_tokens(1, 1, 1, 0);

  check_training_ops();

  return test_done("test_ops_cuda");
}
