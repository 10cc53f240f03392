/* The CPU backend: the reference every other backend is checked against. GEMMs go to OpenBLAS
 * (row-major cblas_sgemm); every other op is a plain loop over rows, parallel with OpenMP.
 * Reductions (LayerNorm moments, norms) accumulate in double so the reference is more exact
 * than the fp32 PyTorch it is compared with. The hot loops of the forward (LayerNorm, GELU,
 * softmax) are written for the compiler to vectorise (tests/lab/lab_rowwise.c measures them). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "attention_avx512.h"
#include "blas_select.h"
#include "error.h"
#include "ops.h"
#include "ops_cpu_conv.h"
#include "vecmath.h"

/* ---- memory: host memory ---- */

static void *cpu_alloc(size_t bytes) {
  void *p = NULL;
  /* 256 bytes: the arena's alignment and cudaMalloc's, so an arena hands out the same offsets on
   * every backend. */
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0)
    ANCD_FATAL("out of host memory allocating %zu bytes", bytes);
  return p;
}

static void cpu_free(void *p) { free(p); }

static void cpu_copy(void *dst, const void *src, size_t bytes) {
  if (bytes)
    memcpy(dst, src, bytes);
}

static void cpu_memset0(void *p, size_t bytes) {
  if (bytes)
    memset(p, 0, bytes);
}

static void cpu_synchronize(void) {}

static void cpu_set_precision(ops_precision p) { (void)p; /* fp32 always */ }

/* ---- GEMM ----
 * One OpenMP team does all the work: each GEMM is split over the team and every thread runs a
 * single-threaded OpenBLAS sgemm on its share (ops_cpu() sets OpenBLAS to one thread). With
 * OpenBLAS's own thread pool as well, the two pools busy-wait for the same cores between ops
 * (OpenMP after each parallel loop, OpenBLAS's workers after each sgemm), which made the ViT
 * forward 2 to 5 times slower than its GEMMs. At ViT-B/16 shapes on 2 threads the row split runs
 * at 300-330 GFLOP/s, as fast as a column split or one OpenBLAS-threaded call (which shares the
 * packed weights) within the noise, and 10-15% ahead of dynamic row chunks (tests/lab/lab_gemm.c).
 */

/* out[M, N] (row stride ldo) = inp[M, K] . weight[N, K]^T (+ bias[N]) on the calling thread. */
static void sgemm_nt(float *out, const float *inp, const float *weight, const float *bias, int M,
                     int K, int N, int ldo) {
  if (M <= 0 || N <= 0)
    return;
  float beta = 0.0f;
  if (bias) { /* out = bias, then out += inp . weight^T in the same sgemm */
    for (int i = 0; i < M; i++)
      memcpy(out + (size_t)i * ldo, bias, (size_t)N * sizeof(float));
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, weight, K, beta, out,
              ldo);
}

/* [lo, hi) of n items for thread t of nt. */
static int share(int n, int t, int nt) { return (int)((long)n * t / nt); }

static void cpu_matmul(float *out, const float *inp, const float *weight, const float *bias, int M,
                       int K, int N) {
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    if (M >= 16 * nt) { /* rows: every ViT GEMM */
      int r0 = share(M, t, nt), r1 = share(M, t + 1, nt);
      sgemm_nt(out + (size_t)r0 * N, inp + (size_t)r0 * K, weight, bias, r1 - r0, K, N, N);
    } else { /* columns: few rows, e.g. a classifier head on a small batch */
      int c0 = share(N, t, nt), c1 = share(N, t + 1, nt);
      sgemm_nt(out + c0, inp, weight + (size_t)c0 * K, bias ? bias + c0 : NULL, M, K, c1 - c0, N);
    }
  }
}

static void gemm_one(float *C, const float *A, const float *B, int M, int N, int K, int trans_a,
                     int trans_b, int lda, int ldb, int ldc, float alpha, float beta) {
  if (M > 0 && N > 0)
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void cpu_gemm_batched(float *C, const float *A, const float *B, int batch, int M, int N,
                             int K, int trans_a, int trans_b, int lda, int ldb, int ldc,
                             long stride_a, long stride_b, long stride_c, float alpha, float beta) {
  /* Small products (MGViT's CLS-query attention: one row per head) run on the calling thread:
   * a parallel region costs more than they do, the more so on a busy machine. */
  const int serial = 2.0 * batch * M * N * K < 4e6;
  if (batch >= omp_get_max_threads() || serial) { /* whole products per thread */
#pragma omp parallel for schedule(static) if (!serial)
    for (int b = 0; b < batch; b++)
      gemm_one(C + b * stride_c, A + b * stride_a, B + b * stride_b, M, N, K, trans_a, trans_b, lda,
               ldb, ldc, alpha, beta);
    return;
  }
  for (int b = 0; b < batch; b++) { /* few products: split the rows of each */
    const float *Ab = A + b * stride_a;
#pragma omp parallel
    {
      int nt = omp_get_num_threads(), t = omp_get_thread_num();
      int r0 = share(M, t, nt), r1 = share(M, t + 1, nt);
      /* Rows r0.. of op(A): rows of A, or columns when A is transposed. */
      const float *Ar = trans_a ? Ab + r0 : Ab + (size_t)r0 * lda;
      gemm_one(C + b * stride_c + (size_t)r0 * ldc, Ar, B + b * stride_b, r1 - r0, N, K, trans_a,
               trans_b, lda, ldb, ldc, alpha, beta);
    }
  }
}

/* ---- row-wise ops ----
 * The builds target plain x86-64 (SSE2); the hot loops are cloned for AVX2 and AVX-512 and the
 * loader picks one per CPU. Sums run over LANES fixed lanes rather than one accumulator, which
 * the compiler may vectorise without reordering, so every clone gives the same bits.
 * The forward's ops split their rows (or elements) in contiguous static shares, as cpu_matmul
 * splits a GEMM's rows: each thread then reads what it wrote in the op before from its own cache,
 * not from the other core's. Against dynamic chunks (robust to a preempted thread, but the rows
 * change cores), the ViT-B/16 forward at 2 threads was 3-6% faster, the proj GEMM after the
 * attention 266-286 GFLOP/s against 269, and the attention 69-71 ms against 79. */

#define CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define LANES 16

/* One row: two passes in double (exact mean for a constant row, no cancellation), the moments
 * returned for the training forward. */
CPU_CLONES static void layernorm_row(float *y, const float *x, const float *weight,
                                     const float *bias, int C, float eps, double *mean_out,
                                     double *rstd_out) {
  double s[LANES] = {0}, sum = 0.0, ss = 0.0;
  int c0 = C / LANES * LANES;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++)
      s[l] += x[c + l];
  for (int c = c0; c < C; c++)
    sum += x[c];
  for (int l = 0; l < LANES; l++)
    sum += s[l], s[l] = 0.0;
  double mean = sum / C;
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++) {
      double d = x[c + l] - mean;
      s[l] += d * d;
    }
  for (int c = c0; c < C; c++) {
    double d = x[c] - mean;
    ss += d * d;
  }
  for (int l = 0; l < LANES; l++)
    ss += s[l];
  double rstd = 1.0 / sqrt(ss / C + eps);
  if (weight) { /* omp simd: y may be x, which gcc's overlap check would send to scalar code */
#pragma omp simd
    for (int c = 0; c < C; c++)
      y[c] = (float)((x[c] - mean) * rstd) * weight[c] + (bias ? bias[c] : 0.0f);
  } else {
#pragma omp simd
    for (int c = 0; c < C; c++)
      y[c] = (float)((x[c] - mean) * rstd);
  }
  *mean_out = mean;
  *rstd_out = rstd;
}

static void cpu_layernorm(float *out, const float *inp, const float *weight, const float *bias,
                          long rows, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (long r = 0; r < rows; r++) {
    double mean, rstd;
    layernorm_row(out + r * C, inp + r * C, weight, bias, C, eps, &mean, &rstd);
  }
}

/* PyTorch's CPU GELU: 0.5 x (1 + erf(x / sqrt 2)) in float, erf vectorised as PyTorch's is. */
CPU_CLONES static void gelu_span(float *out, const float *inp, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++)
    out[i] = 0.5f * inp[i] * (1.0f + vm_erff(inp[i] * 0.70710678118654752440f));
}

/* OpenAI CLIP's QuickGELU: x * sigmoid(1.702 x). (omp simd in these loops: out may be inp.) */
CPU_CLONES static void quick_gelu_span(float *out, const float *inp, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++)
    out[i] = inp[i] / (1.0f + vm_expf(-1.702f * inp[i]));
}

/* fn over the n elements in chunks of 64 KiB, contiguous shares per thread (see row-wise ops). */
static void elementwise(void (*fn)(float *, const float *, long), float *out, const float *inp,
                        long n) {
  const long chunk = 16384;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i += chunk)
    fn(out + i, inp + i, n - i < chunk ? n - i : chunk);
}

static void cpu_gelu(float *out, const float *inp, long n) { elementwise(gelu_span, out, inp, n); }

static void cpu_quick_gelu(float *out, const float *inp, long n) {
  elementwise(quick_gelu_span, out, inp, n);
}

/* Stable softmax of one row: subtract the max. out may alias x. One pass each for the max
 * (exact in any order), e^, the sum (fixed lanes) and the scaling: separate passes over a row in
 * L1 vectorise better than one fused loop. */
CPU_CLONES static void softmax_row(float *y, const float *x, int cols) {
  float mx = -INFINITY, s[LANES] = {0}, sum = 0.0f;
  int c0 = cols / LANES * LANES;
#pragma omp simd reduction(max : mx)
  for (int c = 0; c < cols; c++)
    mx = x[c] > mx ? x[c] : mx;
#pragma omp simd
  for (int c = 0; c < cols; c++)
    y[c] = vm_expf(x[c] - mx);
  for (int c = 0; c < c0; c += LANES)
    for (int l = 0; l < LANES; l++)
      s[l] += y[c + l];
  for (int c = c0; c < cols; c++)
    sum += y[c];
  for (int l = 0; l < LANES; l++)
    sum += s[l];
  float inv = 1.0f / sum;
#pragma omp simd
  for (int c = 0; c < cols; c++)
    y[c] *= inv;
}

static void cpu_softmax(float *out, const float *inp, long rows, int cols) {
#pragma omp parallel for
  for (long r = 0; r < rows; r++)
    softmax_row(out + r * cols, inp + r * cols, cols);
}

/* The residual adds, in contiguous shares as elementwise() (simd: out may be a). */
static void cpu_add(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < n; i++)
    out[i] = a[i] + b[i];
}

static void cpu_add_scaled(float *out, const float *a, const float *b, const float *gamma,
                           long rows, int C) {
#pragma omp parallel for schedule(static)
  for (long r = 0; r < rows; r++) {
#pragma omp simd
    for (int c = 0; c < C; c++)
      out[r * C + c] = a[r * C + c] + (gamma ? gamma[c] : 1.0f) * b[r * C + c];
  }
}

/* torch.nn.functional.normalize: x / max(||x||_2, eps). */
static void cpu_l2_normalize(float *out, const float *inp, long rows, int C, float eps) {
#pragma omp parallel for
  for (long r = 0; r < rows; r++) {
    const float *x = inp + r * C;
    double ss = 0.0;
    for (int c = 0; c < C; c++)
      ss += (double)x[c] * x[c];
    float norm = (float)sqrt(ss);
    float denom = norm > eps ? norm : eps;
    for (int c = 0; c < C; c++)
      out[r * C + c] = x[c] / denom;
  }
}

/* ---- attention ---- */

/* One (image, head) pair per thread at a time, on the thread's own [T, T] tile of scratch, which
 * stays in cache from one pair to the next: scores q.k^T, softmax in place (with MGViT's additive
 * bias on query row 0), then P.v into the head's C/NH columns of out. q, k, v are strided views
 * into qkv (row stride 3C). Each thread takes a contiguous share of the pairs, hence of the
 * images, as the GEMMs around it take rows (see row-wise ops; tests/lab/lab_attention.c compares
 * the variants). At head size 64 on AVX-512 a pair runs in attention_avx512.c's kernel instead,
 * by blocks of 12 query rows. */
static int attention_kernel_on = 1;

int ops_cpu_attention_kernel(int use) {
  int was = attention_kernel_on;
  attention_kernel_on = use;
  return was;
}

/* The forward's team: no more threads than pairs; the scratch query and the op agree on it. */
static int attention_team(int B, int NH) {
  int nt = omp_get_max_threads();
  return B * NH < nt ? B * NH : nt;
}

/* Floats of one thread's scratch: enough for either path, whatever the head size. */
static size_t attention_thread_floats(int T) {
  const size_t sgemm = (size_t)T * T, kernel = attn_kernel_scratch_floats(T);
  return ((sgemm > kernel ? sgemm : kernel) + 15) / 16 * 16;
}

static size_t cpu_attention_scratch(int B, int T, int NH) {
  return (size_t)attention_team(B, NH) * attention_thread_floats(T);
}

static void cpu_attention(float *out, float *scratch, const float *qkv, const float *cls_bias,
                          int B, int T, int C, int NH) {
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  const int kernel = attention_kernel_on && attn_kernel_usable(hs);
#pragma omp parallel num_threads(attention_team(B, NH))
  {
    float *s = scratch + attention_thread_floats(T) * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      int b = bh / NH, h = bh % NH;
      const float *q = qkv + (long)b * T * 3 * C + h * hs;
      const float *bias = cls_bias ? cls_bias + (long)b * T : NULL;
      float *o = out + (long)b * T * C + h * hs;
      if (kernel) {
        attn_kernel_pair(o, C, s, q, q + C, q + 2 * C, 3 * C, T, scale, bias, softmax_row);
        continue;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, 3 * C, q + C, 3 * C,
                  0.0f, s, T);
      if (bias)
        for (int j = 0; j < T; j++)
          s[j] += bias[j];
      for (int r = 0; r < T; r++)
        softmax_row(s + (long)r * T, s + (long)r * T, T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, s, T, q + 2 * C, 3 * C,
                  0.0f, o, C);
    }
  }
}

/* ---- patch embedding and tokens ---- */

static void cpu_im2col_patches(float *cols, const float *img, int B, int H, int W, int P) {
  int gh = H / P, gw = W / P, L = gh * gw, K = 3 * P * P;
#pragma omp parallel for collapse(2)
  for (int b = 0; b < B; b++)
    for (int l = 0; l < L; l++) {
      int py = l / gw, px = l % gw;
      float *dst = cols + ((long)b * L + l) * K;
      for (int c = 0; c < 3; c++)
        for (int i = 0; i < P; i++)
          memcpy(dst + (c * P + i) * P,
                 img + (((long)b * 3 + c) * H + (long)py * P + i) * W + (long)px * P,
                 (size_t)P * sizeof(float));
    }
}

static void cpu_assemble_tokens(float *out, const float *patches, const float *cls,
                                const float *pos, int B, int L, int D, int has_cls) {
  int T = L + (has_cls ? 1 : 0);
#pragma omp parallel for collapse(2)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const float *src = (has_cls && t == 0) ? cls : patches + ((long)b * L + t - has_cls) * D;
      const float *p = pos + (long)t * D;
      float *dst = out + ((long)b * T + t) * D;
      for (int d = 0; d < D; d++)
        dst[d] = src[d] + p[d];
    }
}

/* ---- training (anomalyncd_spec §5): forward variants that keep what the backward needs, the
 * backward passes, SGD. Every gradient is added (+=) into its buffer; NULL ones are skipped.
 * Column sums over rows (dweight, dbias, dgamma) give each thread a block of columns that it
 * sums over all rows in order, in double: the result does not depend on the team size. ---- */

/* The same arithmetic as cpu_layernorm, so out is bit for bit the inference output. */
static void cpu_layernorm_train(float *out, float *mean, float *rstd, const float *inp,
                                const float *weight, const float *bias, long rows, int C,
                                float eps) {
#pragma omp parallel for
  for (long r = 0; r < rows; r++) {
    double m, rs;
    layernorm_row(out + r * C, inp + r * C, weight, bias, C, eps, &m, &rs);
    mean[r] = (float)m;
    rstd[r] = (float)rs;
  }
}

/* dst[c] += sum over the rows of x[r, c] (times y[r, c] when y is not NULL) for thread t's block
 * of columns, rows in order, in double. */
static void column_sums_share(float *dst, const float *x, const float *y, long rows, int C, int t,
                              int nt) {
  int c0 = share(C, t, nt), n = share(C, t + 1, nt) - c0;
  double *acc = calloc((size_t)n + 1, sizeof(double));
  if (!acc)
    ANCD_FATAL("out of host memory");
  for (long r = 0; r < rows; r++)
    for (int c = 0; c < n; c++) {
      long i = r * C + c0 + c;
      acc[c] += y ? (double)x[i] * y[i] : (double)x[i];
    }
  for (int c = 0; c < n; c++)
    dst[c0 + c] += (float)acc[c];
  free(acc);
}

/* With g = dout * weight and xhat = (x - mean) * rstd, the gradient of one row is
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) (biased variance; exact for any eps). */
static void cpu_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                   const float *inp, const float *weight, const float *mean,
                                   const float *rstd, long rows, int C) {
  if (dinp) {
#pragma omp parallel for
    for (long r = 0; r < rows; r++) {
      const float *x = inp + r * C, *dy = dout + r * C;
      double g_mean = 0.0, gx_mean = 0.0;
      for (int c = 0; c < C; c++) {
        double g = (double)dy[c] * (weight ? weight[c] : 1.0f);
        g_mean += g;
        gx_mean += g * ((x[c] - (double)mean[r]) * rstd[r]);
      }
      g_mean /= C;
      gx_mean /= C;
      for (int c = 0; c < C; c++) {
        double g = (double)dy[c] * (weight ? weight[c] : 1.0f);
        double xhat = (x[c] - (double)mean[r]) * rstd[r];
        dinp[r * C + c] += (float)(rstd[r] * (g - g_mean - xhat * gx_mean));
      }
    }
  }
  if (!dweight && !dbias)
    return;
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    if (dbias)
      column_sums_share(dbias, dout, NULL, rows, C, t, nt);
    if (dweight) { /* column sums of dout * xhat, as column_sums_share */
      int c0 = share(C, t, nt), n = share(C, t + 1, nt) - c0;
      double *acc = calloc((size_t)n + 1, sizeof(double));
      if (!acc)
        ANCD_FATAL("out of host memory");
      for (long r = 0; r < rows; r++)
        for (int c = 0; c < n; c++) {
          long i = r * C + c0 + c;
          acc[c] += (double)dout[i] * ((inp[i] - (double)mean[r]) * rstd[r]);
        }
      for (int c = 0; c < n; c++)
        dweight[c0 + c] += (float)acc[c];
      free(acc);
    }
  }
}

/* C[M, N] += op(A) . op(B) on thread t's share of C: its rows, or its columns when C has few
 * rows (as cpu_matmul splits). */
static void gemm_acc_share(float *C, const float *A, const float *B, int M, int N, int K,
                           int trans_a, int trans_b, int lda, int ldb, int ldc, int t, int nt) {
  if (M >= 16 * nt) {
    int r0 = share(M, t, nt), r1 = share(M, t + 1, nt);
    gemm_one(C + (size_t)r0 * ldc, trans_a ? A + r0 : A + (size_t)r0 * lda, B, r1 - r0, N, K,
             trans_a, trans_b, lda, ldb, ldc, 1.0f, 1.0f);
  } else {
    int c0 = share(N, t, nt), c1 = share(N, t + 1, nt);
    gemm_one(C + c0, A, trans_b ? B + (size_t)c0 * ldb : B + c0, M, c1 - c0, K, trans_a, trans_b,
             lda, ldb, ldc, 1.0f, 1.0f);
  }
}

/* out = inp . weight^T + bias: dinp += dout . weight, dweight += dout^T . inp, dbias += column
 * sums of dout; one team does all three. */
static void cpu_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int M, int K, int N) {
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    if (dinp)
      gemm_acc_share(dinp, dout, weight, M, K, N, 0, 0, N, K, K, t, nt);
    if (dweight)
      gemm_acc_share(dweight, dout, inp, N, K, M, 1, 0, N, K, K, t, nt);
    if (dbias)
      column_sums_share(dbias, dout, NULL, M, N, t, nt);
  }
}

/* d/dx x Phi(x) = Phi(x) + x phi(x), with the forward's vectorised erf and exp (within 1.3e-6
 * of libm's, as gelu_span), in the same chunks as elementwise(). */
CPU_CLONES static void gelu_backward_span(float *dinp, const float *inp, const float *dout,
                                          long n) {
#pragma omp simd
  for (long i = 0; i < n; i++) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + vm_erff(x * 0.70710678118654752440f));
    float pdf = 0.39894228040143267794f * vm_expf(-0.5f * x * x);
    dinp[i] += (cdf + x * pdf) * dout[i];
  }
}

/* d/dx x s(a x) = s + a x s (1 - s), s the sigmoid, a = 1.702. */
CPU_CLONES static void quick_gelu_backward_span(float *dinp, const float *inp, const float *dout,
                                                long n) {
#pragma omp simd
  for (long i = 0; i < n; i++) {
    float x = inp[i];
    float s = 1.0f / (1.0f + vm_expf(-1.702f * x));
    dinp[i] += (s + 1.702f * x * s * (1.0f - s)) * dout[i];
  }
}

static void backward_chunks(void (*fn)(float *, const float *, const float *, long), float *dinp,
                            const float *inp, const float *dout, long n) {
  const long chunk = 16384;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i += chunk)
    fn(dinp + i, inp + i, dout + i, n - i < chunk ? n - i : chunk);
}

static void cpu_gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
  backward_chunks(gelu_backward_span, dinp, inp, dout, n);
}

static void cpu_quick_gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
  backward_chunks(quick_gelu_backward_span, dinp, inp, dout, n);
}

static void cpu_add_scaled_backward(float *da, float *db, float *dgamma, const float *dout,
                                    const float *b, const float *gamma, long rows, int C) {
#pragma omp parallel
  {
    if (da || db) {
#pragma omp for
      for (long r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
          float dy = dout[r * C + c];
          if (da)
            da[r * C + c] += dy;
          if (db)
            db[r * C + c] += (gamma ? gamma[c] : 1.0f) * dy;
        }
    }
    if (dgamma)
      column_sums_share(dgamma, b, dout, rows, C, omp_get_thread_num(), omp_get_num_threads());
  }
}

/* Threads of the attention backward: one (image, head) pair each at a time, no more threads
 * than pairs. The scratch query and the op must agree, so both use this. */
static int attention_backward_team(int B, int NH) {
  int nt = omp_get_max_threads();
  return B * NH < nt ? B * NH : nt;
}

static size_t cpu_attention_backward_scratch(int B, int T, int C, int NH) {
  (void)C;
  return (size_t)attention_backward_team(B, NH) * 2 * T * T;
}

/* Per (image, head), on the thread's [T, T] slices P and dS of scratch:
 *   S = scale q k^T (+ cls_bias on query row 0), P = softmax(S): as cpu_attention
 *   dv += P^T do,  dP = do v^T,  dS = P o (dP - rowsum(dP o P))  (the softmax backward)
 *   dq += scale dS k,  dk += scale dS^T q. */
static void cpu_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                   const float *cls_bias, int B, int T, int C, int NH) {
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  long TT = (long)T * T;
  if (B * NH <= 0 || T <= 0)
    return;
#pragma omp parallel num_threads(attention_backward_team(B, NH))
  {
    float *p = scratch + 2 * TT * omp_get_thread_num(), *ds = p + TT;
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
      int b = bh / NH, h = bh % NH;
      const float *q = qkv + (long)b * T * 3 * C + h * hs, *k = q + C, *v = q + 2 * C;
      const float *dO = dout + (long)b * T * C + h * hs;
      float *dq = dqkv + (long)b * T * 3 * C + h * hs, *dk = dq + C, *dv = dq + 2 * C;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, 3 * C, k, 3 * C,
                  0.0f, p, T);
      if (cls_bias)
        for (int j = 0; j < T; j++)
          p[j] += cls_bias[(long)b * T + j];
      for (int r = 0; r < T; r++)
        softmax_row(p + (long)r * T, p + (long)r * T, T);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, p, T, dO, C, 1.0f, dv,
                  3 * C);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dO, C, v, 3 * C, 0.0f,
                  ds, T);
      for (int r = 0; r < T; r++) {
        float *pr = p + (long)r * T, *dr = ds + (long)r * T;
        double dot = 0.0;
        for (int j = 0; j < T; j++)
          dot += (double)pr[j] * dr[j];
        for (int j = 0; j < T; j++)
          dr[j] = pr[j] * (dr[j] - (float)dot);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, ds, T, k, 3 * C, 1.0f,
                  dq, 3 * C);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, ds, T, q, 3 * C, 1.0f,
                  dk, 3 * C);
    }
  }
}

/* torch.optim.SGD, momentum, dampening 0, no Nesterov (anomalyncd_spec §5.6). */
static void cpu_sgd_update(float *param, float *momentum_buf, const float *grad, long n, float lr,
                           float momentum, float weight_decay, int first_step) {
#pragma omp parallel for
  for (long i = 0; i < n; i++) {
    float g = grad[i] + weight_decay * param[i];
    float buf = first_step ? g : momentum * momentum_buf[i] + g;
    momentum_buf[i] = buf;
    param[i] -= lr * buf;
  }
}

static const ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .memset0 = cpu_memset0,
    .copy = cpu_copy,
    .synchronize = cpu_synchronize,
    .set_precision = cpu_set_precision,
    .matmul = cpu_matmul,
    .gemm_batched = cpu_gemm_batched,
    .layernorm = cpu_layernorm,
    .gelu = cpu_gelu,
    .quick_gelu = cpu_quick_gelu,
    .softmax = cpu_softmax,
    .add = cpu_add,
    .add_scaled = cpu_add_scaled,
    .l2_normalize = cpu_l2_normalize,
    .attention = cpu_attention,
    .attention_scratch = cpu_attention_scratch,
    .im2col_patches = cpu_im2col_patches,
    .assemble_tokens = cpu_assemble_tokens,
    .im2col = cpu_im2col,
    .maxpool2d = cpu_maxpool2d,
    .relu = cpu_relu,
    .transpose = cpu_transpose,
    .layernorm_train = cpu_layernorm_train,
    .layernorm_backward = cpu_layernorm_backward,
    .matmul_backward = cpu_matmul_backward,
    .gelu_backward = cpu_gelu_backward,
    .quick_gelu_backward = cpu_quick_gelu_backward,
    .add_scaled_backward = cpu_add_scaled_backward,
    .attention_backward = cpu_attention_backward,
    .attention_backward_scratch = cpu_attention_backward_scratch,
    .sgd_update = cpu_sgd_update,
};

/* The kernel set first (it must precede every BLAS call), then one OpenBLAS thread. */
static void init_blas(void) {
  (void)blas_select();
  openblas_set_num_threads(1);
}

const ops *ops_cpu(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  if (pthread_once(&once, init_blas) != 0) /* the OpenMP team owns the threads (see GEMM) */
    ANCD_FATAL("pthread_once failed initialising the CPU backend");
  return &cpu_ops;
}
