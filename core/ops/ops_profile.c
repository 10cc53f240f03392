/* ops_profile.h: each wrapper synchronises the backend, reads the clock, calls the inner op,
 * synchronises again and adds the time to its entry. */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "ops_profile.h"

#define MAX_ENTRIES OPS_PROFILE_MAX_ENTRIES

static const ops *inner;
static ops profiled;
static ops_profile_entry entries[MAX_ENTRIES];
static int n_entries;

static double start(void) {
  inner->synchronize();
  return now_seconds();
}

static void stop(const char *name, double t0, double flops) {
  inner->synchronize();
  double dt = now_seconds() - t0;
  ops_profile_entry *e = NULL;
  for (int i = 0; i < n_entries && !e; i++)
    if (!strcmp(entries[i].name, name))
      e = &entries[i];
  if (!e && n_entries == MAX_ENTRIES)
    e = &entries[MAX_ENTRIES - 1]; /* more kinds than slots: the last one collects the rest */
  if (!e) {
    e = &entries[n_entries++];
    snprintf(e->name, sizeof e->name, "%s", name);
  }
  e->calls++;
  e->seconds += dt;
  e->flops += flops;
}

/* A wrapper that times `call` under `name`. */
#define TIMED(name, flops, call)                                                                   \
  do {                                                                                             \
    double t0_ = start();                                                                          \
    call;                                                                                          \
    stop(name, t0_, flops);                                                                        \
  } while (0)

static void p_to_device(void *dst, const void *src, size_t bytes) {
  TIMED("to_device", 0, inner->to_device(dst, src, bytes));
}
static void p_to_host(void *dst, const void *src, size_t bytes) {
  TIMED("to_host", 0, inner->to_host(dst, src, bytes));
}
static void p_matmul(float *out, const float *inp, const float *weight, const float *bias, int M,
                     int K, int N) {
  char name[48];
  snprintf(name, sizeof name, "matmul M=%d K=%d N=%d", M, K, N);
  TIMED(name, 2.0 * M * K * N, inner->matmul(out, inp, weight, bias, M, K, N));
}
static void p_gemm_batched(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                           int trans_a, int trans_b, int lda, int ldb, int ldc, long stride_a,
                           long stride_b, long stride_c, float alpha, float beta) {
  TIMED("gemm_batched", 2.0 * batch * M * N * K,
        inner->gemm_batched(C, A, B, batch, M, N, K, trans_a, trans_b, lda, ldb, ldc, stride_a,
                            stride_b, stride_c, alpha, beta));
}
static void p_layernorm(float *out, const float *inp, const float *weight, const float *bias,
                        long rows, int C, float eps) {
  TIMED("layernorm", 0, inner->layernorm(out, inp, weight, bias, rows, C, eps));
}
static void p_gelu(float *out, const float *inp, long n) {
  TIMED("gelu", 0, inner->gelu(out, inp, n));
}
static void p_quick_gelu(float *out, const float *inp, long n) {
  TIMED("quick_gelu", 0, inner->quick_gelu(out, inp, n));
}
static void p_softmax(float *out, const float *inp, long rows, int cols) {
  TIMED("softmax", 0, inner->softmax(out, inp, rows, cols));
}
static void p_add(float *out, const float *a, const float *b, long n) {
  TIMED("add", 0, inner->add(out, a, b, n));
}
static void p_add_scaled(float *out, const float *a, const float *b, const float *gamma, long rows,
                         int C) {
  TIMED("add_scaled", 0, inner->add_scaled(out, a, b, gamma, rows, C));
}
static void p_l2_normalize(float *out, const float *inp, long rows, int C, float eps) {
  TIMED("l2_normalize", 0, inner->l2_normalize(out, inp, rows, C, eps));
}
static void p_attention(float *out, float *scratch, const float *qkv, const float *cls_bias, int B,
                        int T, int C, int NH) {
  TIMED("attention", 4.0 * B * T * T * C,
        inner->attention(out, scratch, qkv, cls_bias, B, T, C, NH));
}
static void p_im2col_patches(float *cols, const float *img, int B, int H, int W, int P) {
  TIMED("im2col_patches", 0, inner->im2col_patches(cols, img, B, H, W, P));
}
static void p_assemble_tokens(float *out, const float *patches, const float *cls, const float *pos,
                              int B, int L, int D, int has_cls) {
  TIMED("assemble_tokens", 0, inner->assemble_tokens(out, patches, cls, pos, B, L, D, has_cls));
}
static void p_im2col(float *cols, const float *x, int B, int H, int W, int C, int k, int stride,
                     int pad, int dilation) {
  char name[48];
  snprintf(name, sizeof name, "im2col k=%d s=%d C=%d", k, stride, C);
  TIMED(name, 0, inner->im2col(cols, x, B, H, W, C, k, stride, pad, dilation));
}
static void p_maxpool2d(float *out, const float *x, int B, int H, int W, int C, int k, int stride,
                        int pad) {
  TIMED("maxpool2d", 0, inner->maxpool2d(out, x, B, H, W, C, k, stride, pad));
}
static void p_relu(float *out, const float *inp, long n) {
  TIMED("relu", 0, inner->relu(out, inp, n));
}
static void p_transpose(float *out, const float *inp, int B, int R, int C) {
  TIMED("transpose", 0, inner->transpose(out, inp, B, R, C));
}
static void p_copy(void *dst, const void *src, size_t bytes) {
  TIMED("copy", 0, inner->copy(dst, src, bytes));
}

static void p_memset0(void *p, size_t bytes) { TIMED("memset0", 0, inner->memset0(p, bytes)); }
static void p_layernorm_train(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, long rows, int C, float eps) {
  TIMED("layernorm_train", 0,
        inner->layernorm_train(out, mean, rstd, inp, weight, bias, rows, C, eps));
}
static void p_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, const float *mean,
                                 const float *rstd, long rows, int C) {
  TIMED("layernorm_backward", 0,
        inner->layernorm_backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows, C));
}
static void p_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, int M, int K, int N) {
  char name[48];
  snprintf(name, sizeof name, "matmul_bwd M=%d K=%d N=%d", M, K, N);
  TIMED(name, 2.0 * M * K * N * ((dinp != NULL) + (dweight != NULL)),
        inner->matmul_backward(dinp, dweight, dbias, dout, inp, weight, M, K, N));
}
static void p_gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
  TIMED("gelu_backward", 0, inner->gelu_backward(dinp, inp, dout, n));
}
static void p_add_scaled_backward(float *da, float *db, float *dgamma, const float *dout,
                                  const float *b, const float *gamma, long rows, int C) {
  TIMED("add_scaled_backward", 0,
        inner->add_scaled_backward(da, db, dgamma, dout, b, gamma, rows, C));
}
static void p_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                 const float *cls_bias, int B, int T, int C, int NH) {
  TIMED("attention_backward", 8.0 * B * T * T * C,
        inner->attention_backward(dqkv, scratch, dout, qkv, cls_bias, B, T, C, NH));
}
static void p_sgd_update(float *param, float *momentum_buf, const float *grad, long n, float lr,
                         float momentum, float weight_decay, int first_step) {
  TIMED("sgd_update", 0,
        inner->sgd_update(param, momentum_buf, grad, n, lr, momentum, weight_decay, first_step));
}

const ops *ops_profile(const ops *o) {
  inner = o;
  profiled = *o; /* memory, synchronize and the rarer ops pass through */
  profiled.to_device = p_to_device;
  profiled.to_host = p_to_host;
  profiled.memset0 = p_memset0;
  profiled.layernorm_train = p_layernorm_train;
  profiled.layernorm_backward = p_layernorm_backward;
  profiled.matmul_backward = p_matmul_backward;
  profiled.gelu_backward = p_gelu_backward;
  profiled.add_scaled_backward = p_add_scaled_backward;
  profiled.attention_backward = p_attention_backward;
  profiled.sgd_update = p_sgd_update;
  profiled.matmul = p_matmul;
  profiled.gemm_batched = p_gemm_batched;
  profiled.layernorm = p_layernorm;
  profiled.gelu = p_gelu;
  profiled.quick_gelu = p_quick_gelu;
  profiled.softmax = p_softmax;
  profiled.add = p_add;
  profiled.add_scaled = p_add_scaled;
  profiled.l2_normalize = p_l2_normalize;
  profiled.attention = p_attention;
  profiled.im2col_patches = p_im2col_patches;
  profiled.assemble_tokens = p_assemble_tokens;
  profiled.copy = p_copy;
  profiled.im2col = p_im2col;
  profiled.maxpool2d = p_maxpool2d;
  profiled.relu = p_relu;
  profiled.transpose = p_transpose;
  ops_profile_reset();
  return &profiled;
}

void ops_profile_reset(void) {
  memset(entries, 0, sizeof entries);
  n_entries = 0;
}

int ops_profile_entries(const ops_profile_entry **e) {
  *e = entries;
  return n_entries;
}
