/* Every op of the CUDA backend against the CPU reference on the same random inputs, at awkward
 * sizes and at ViT-B/16 sizes (B=2, T=197, C=768, NH=12). Skipped where ops_cuda() is NULL (no
 * GPU, or a CPU-only build).
 * Error measure: the norm-wise relative error ||cuda - cpu||_2 / ||cpu||_2 (in double), checked
 * against 1e-5 in fp32 and 3e-3 for GEMM-based ops in tf32/bf16. Each line also prints
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
  long n_scratch = (long)ops_attention_scratch(B, T, NH);
  float *res[2];
  set_precision(p);
  for (int k = 0; k < 2; k++) {
    const ops *o = backends[k];
    float *dqkv = upload(o, qkv, n_qkv), *dbias = upload(o, bias, (long)B * T);
    float *scratch = device_zeros(o, n_scratch), *dout = device_zeros(o, n_out);
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

  check_assemble_tokens(2, 196, 768, 1);
  check_assemble_tokens(2, 196, 768, 0);
  check_assemble_tokens(3, 5, 3, 1);
  check_assemble_tokens(1, 1, 1, 0);

  return test_done("test_ops_cuda");
}
