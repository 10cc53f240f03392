/* The CUDA backend of the op table (ops.h): cuBLAS for every GEMM, simple kernels for the rest.
 * Checked against the CPU reference op by op (tests/test_ops_cuda.c). Every CUDA and cuBLAS call
 * goes through CHECK_CUDA / CHECK_CUBLAS, which print file:line and exit: a failure here is a
 * broken device or a sizing bug, never an input error. All work runs on the default stream. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

extern "C" {
#include "error.h"
#include "ops.h"
}

#define CHECK_CUDA(call)                                                                           \
  do {                                                                                             \
    cudaError_t err_ = (call);                                                                     \
    if (err_ != cudaSuccess)                                                                       \
      ancd_fatal_at(__FILE__, __LINE__, "CUDA: %s: %s", #call, cudaGetErrorString(err_));          \
  } while (0)

#define CHECK_CUBLAS(call)                                                                         \
  do {                                                                                             \
    cublasStatus_t st_ = (call);                                                                   \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      ancd_fatal_at(__FILE__, __LINE__, "cuBLAS: %s: %s", #call, cublasGetStatusString(st_));      \
  } while (0)

/* After every kernel launch: a bad launch configuration is reported where it happened. */
#define CHECK_LAUNCH() CHECK_CUDA(cudaGetLastError())

static const int BLOCK = 256;
static const long MAX_GRID = 1 << 16;

static int grid_for(long n) {
  long blocks = (n + BLOCK - 1) / BLOCK;
  return (int)(blocks < MAX_GRID ? blocks : MAX_GRID);
}

static int grid_rows(long rows) { return (int)(rows < MAX_GRID ? rows : MAX_GRID); }

/* Grid-stride loop over n elements: any n fits any grid. */
#define GRID_STRIDE(i, n)                                                                          \
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n);                              \
       i += (long)gridDim.x * blockDim.x)

/* ---- memory ---- */

static void *cuda_alloc(size_t bytes) {
  void *p = NULL;
  CHECK_CUDA(cudaMalloc(&p, bytes));
  return p;
}

static void cuda_free(void *p) { CHECK_CUDA(cudaFree(p)); }

static void cuda_to_device(void *dst, const void *host_src, size_t bytes) {
  CHECK_CUDA(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

static void cuda_to_host(void *host_dst, const void *src, size_t bytes) {
  CHECK_CUDA(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

static void cuda_memset0(void *p, size_t bytes) { CHECK_CUDA(cudaMemset(p, 0, bytes)); }

static void cuda_copy(void *dst, const void *src, size_t bytes) {
  CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

static void cuda_synchronize(void) { CHECK_CUDA(cudaDeviceSynchronize()); }

/* ---- GEMM ---- */

static ops_precision gemm_precision = PRECISION_FP32;

static void cuda_set_precision(ops_precision p) { gemm_precision = p; }

/* Inputs and outputs stay fp32; the compute type lets cuBLAS round the inputs to TF32 / BF16. */
static cublasComputeType_t compute_type(void) {
  switch (gemm_precision) {
  case PRECISION_TF32:
    return CUBLAS_COMPUTE_32F_FAST_TF32;
  case PRECISION_BF16:
    return CUBLAS_COMPUTE_32F_FAST_16BF;
  default:
    return CUBLAS_COMPUTE_32F;
  }
}

static cublasHandle_t cublas(void) {
  static cublasHandle_t handle;
  static int created = 0;
  if (!created) {
    CHECK_CUBLAS(cublasCreate(&handle));
    created = 1;
  }
  return handle;
}

/* Row-major C = alpha op(A) op(B) + beta C per batch. cuBLAS is column-major and a row-major
 * matrix with row stride ld is its transpose in column-major, so we ask cuBLAS for
 * C^T = op(B)^T op(A)^T: operands swapped, M and N swapped, transposition flags unchanged. */
static void gemm_rowmajor(float *C, const float *A, const float *B, int batch, int M, int N, int K,
                          int trans_a, int trans_b, int lda, int ldb, int ldc, long stride_a,
                          long stride_b, long stride_c, float alpha, float beta) {
  if (batch <= 0 || M <= 0 || N <= 0)
    return;
  cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1) {
    CHECK_CUBLAS(cublasGemmEx(cublas(), op_b, op_a, N, M, K, &alpha, B, CUDA_R_32F, ldb, A,
                              CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc, compute_type(),
                              CUBLAS_GEMM_DEFAULT));
    return;
  }
  CHECK_CUBLAS(cublasGemmStridedBatchedEx(
      cublas(), op_b, op_a, N, M, K, &alpha, B, CUDA_R_32F, ldb, stride_b, A, CUDA_R_32F, lda,
      stride_a, &beta, C, CUDA_R_32F, ldc, stride_c, batch, compute_type(), CUBLAS_GEMM_DEFAULT));
}

static __global__ void add_bias_kernel(float *out, const float *bias, long n, int N) {
  GRID_STRIDE(i, n) { out[i] += bias[i % N]; }
}

static void cuda_matmul(float *out, const float *inp, const float *weight, const float *bias, int M,
                        int K, int N) {
  gemm_rowmajor(out, inp, weight, 1, M, N, K, 0, 1, K, K, N, 0, 0, 0, 1.0f, 0.0f);
  long n = (long)M * N;
  if (bias && n > 0) {
    add_bias_kernel<<<grid_for(n), BLOCK>>>(out, bias, n, N);
    CHECK_LAUNCH();
  }
}

static void cuda_gemm_batched(float *C, const float *A, const float *B, int batch, int M, int N,
                              int K, int trans_a, int trans_b, int lda, int ldb, int ldc,
                              long stride_a, long stride_b, long stride_c, float alpha,
                              float beta) {
  gemm_rowmajor(C, A, B, batch, M, N, K, trans_a, trans_b, lda, ldb, ldc, stride_a, stride_b,
                stride_c, alpha, beta);
}

/* ---- block reductions: every thread of the block gets the result ---- */

static __device__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

static __device__ float warp_max(float v) {
  for (int off = 16; off > 0; off >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

/* blockDim.x is a multiple of 32. The first barrier keeps a previous call's readers of `partial`
 * ahead of this call's writers. */
static __device__ float block_sum(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  return warp_sum(lane < warps ? partial[lane] : 0.0f);
}

static __device__ float block_max(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  return warp_max(lane < warps ? partial[lane] : -INFINITY);
}

/* ---- row kernels: one block per row; each thread reads and writes only its own columns after
 * the reductions, so out may alias inp. As on the cpu, LayerNorm without weight is the plain
 * normalisation and add_scaled without gamma a plain add. ---- */

static __global__ void layernorm_kernel(float *out, const float *inp, const float *weight,
                                        const float *bias, long rows, int C, float eps) {
  for (long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *x = inp + row * C;
    float *y = out + row * C;
    float s = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
      s += x[i];
    float mean = block_sum(s) / C;
    float ss = 0.0f; /* second pass on the centred values: no cancellation */
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
      float d = x[i] - mean;
      ss += d * d;
    }
    float rstd = 1.0f / sqrtf(block_sum(ss) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
      float xhat = (x[i] - mean) * rstd;
      y[i] = weight ? xhat * weight[i] + (bias ? bias[i] : 0.0f) : xhat;
    }
  }
}

/* Row-wise stable softmax. For attention scores (bias != NULL) the rows are [B, NH, T] x T and
 * query row 0 of batch b gets bias[b*T + j] added first (ops.h: cls_bias). */
static __global__ void softmax_kernel(float *out, const float *inp, const float *bias, long rows,
                                      int cols, int T, int NH) {
  for (long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *x = inp + row * cols;
    float *y = out + row * cols;
    const float *add = NULL;
    if (bias && row % T == 0)
      add = bias + (row / ((long)NH * T)) * T;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
      m = fmaxf(m, x[i] + (add ? add[i] : 0.0f));
    m = block_max(m);
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
      float e = expf(x[i] + (add ? add[i] : 0.0f) - m);
      y[i] = e;
      s += e;
    }
    float inv = 1.0f / block_sum(s);
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
      y[i] *= inv;
  }
}

static __global__ void l2_normalize_kernel(float *out, const float *inp, long rows, int C,
                                           float eps) {
  for (long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *x = inp + row * C;
    float *y = out + row * C;
    float s = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
      s += x[i] * x[i];
    float inv = 1.0f / fmaxf(sqrtf(block_sum(s)), eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x)
      y[i] = x[i] * inv;
  }
}

static void cuda_layernorm(float *out, const float *inp, const float *weight, const float *bias,
                           long rows, int C, float eps) {
  if (rows <= 0)
    return;
  layernorm_kernel<<<grid_rows(rows), BLOCK>>>(out, inp, weight, bias, rows, C, eps);
  CHECK_LAUNCH();
}

static void cuda_softmax(float *out, const float *inp, long rows, int cols) {
  if (rows <= 0)
    return;
  softmax_kernel<<<grid_rows(rows), BLOCK>>>(out, inp, NULL, rows, cols, 1, 1);
  CHECK_LAUNCH();
}

static void cuda_l2_normalize(float *out, const float *inp, long rows, int C, float eps) {
  if (rows <= 0)
    return;
  l2_normalize_kernel<<<grid_rows(rows), BLOCK>>>(out, inp, rows, C, eps);
  CHECK_LAUNCH();
}

/* ---- elementwise kernels (grid-stride) ---- */

static __global__ void gelu_kernel(float *out, const float *inp, long n) {
  GRID_STRIDE(i, n) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
  }
}

static __global__ void quick_gelu_kernel(float *out, const float *inp, long n) {
  GRID_STRIDE(i, n) {
    float x = inp[i];
    out[i] = x / (1.0f + expf(-1.702f * x));
  }
}

static __global__ void add_kernel(float *out, const float *a, const float *b, long n) {
  GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

static __global__ void add_scaled_kernel(float *out, const float *a, const float *b,
                                         const float *gamma, long n, int C) {
  GRID_STRIDE(i, n) { out[i] = a[i] + (gamma ? gamma[i % C] : 1.0f) * b[i]; }
}

static void cuda_gelu(float *out, const float *inp, long n) {
  if (n <= 0)
    return;
  gelu_kernel<<<grid_for(n), BLOCK>>>(out, inp, n);
  CHECK_LAUNCH();
}

static void cuda_quick_gelu(float *out, const float *inp, long n) {
  if (n <= 0)
    return;
  quick_gelu_kernel<<<grid_for(n), BLOCK>>>(out, inp, n);
  CHECK_LAUNCH();
}

static void cuda_add(float *out, const float *a, const float *b, long n) {
  if (n <= 0)
    return;
  add_kernel<<<grid_for(n), BLOCK>>>(out, a, b, n);
  CHECK_LAUNCH();
}

static void cuda_add_scaled(float *out, const float *a, const float *b, const float *gamma,
                            long rows, int C) {
  long n = rows * C;
  if (n <= 0)
    return;
  add_scaled_kernel<<<grid_for(n), BLOCK>>>(out, a, b, gamma, n, C);
  CHECK_LAUNCH();
}

/* ---- attention ---- */

/* Per batch b, with hd = C/NH and head h at columns h*hd of each third of a qkv row (row stride
 * 3C), the heads are a strided batch of NH GEMMs with stride hd:
 *   scores[b,h] = scale * q_h k_h^T          [T,T] into scratch
 *   softmax rows (cls_bias on query row 0)
 *   out[b,:,h*hd..] = scores[b,h] v_h        [T,hd], row stride C.
 * scratch: B*NH*T*T floats. */
static void cuda_attention(float *out, float *scratch, const float *qkv, const float *cls_bias,
                           int B, int T, int C, int NH) {
  int hd = C / NH;
  float scale = 1.0f / sqrtf((float)hd);
  long TT = (long)T * T;
  for (int b = 0; b < B; b++) {
    const float *q = qkv + (long)b * T * 3 * C;
    gemm_rowmajor(scratch + b * NH * TT, q, q + C, NH, T, T, hd, 0, 1, 3 * C, 3 * C, T, hd, hd, TT,
                  scale, 0.0f);
  }
  long rows = (long)B * NH * T;
  if (rows > 0) {
    softmax_kernel<<<grid_rows(rows), BLOCK>>>(scratch, scratch, cls_bias, rows, T, T, NH);
    CHECK_LAUNCH();
  }
  for (int b = 0; b < B; b++) {
    const float *v = qkv + (long)b * T * 3 * C + 2 * C;
    gemm_rowmajor(out + (long)b * T * C, scratch + b * NH * TT, v, NH, T, hd, T, 0, 0, T, 3 * C, C,
                  TT, hd, hd, 1.0f, 0.0f);
  }
}

/* ---- patch embedding, tokens, pooling ---- */

/* cols[b, py*Wp + px, (c*P + i)*P + j] = img[b, c, py*P + i, px*P + j]: j is fastest on both
 * sides, so reads and writes are coalesced. */
static __global__ void im2col_patches_kernel(float *cols, const float *img, int B, int H, int W,
                                             int P) {
  int Wp = W / P, L = (H / P) * Wp, K = 3 * P * P;
  long n = (long)B * L * K;
  GRID_STRIDE(idx, n) {
    int k = (int)(idx % K);
    long bl = idx / K;
    int l = (int)(bl % L), b = (int)(bl / L);
    int c = k / (P * P), i = (k / P) % P, j = k % P;
    int y = (l / Wp) * P + i, x = (l % Wp) * P + j;
    cols[idx] = img[(((long)b * 3 + c) * H + y) * W + x];
  }
}

static __global__ void assemble_tokens_kernel(float *out, const float *patches, const float *cls,
                                              const float *pos, int B, int L, int D, int has_cls) {
  int T = has_cls + L;
  long n = (long)B * T * D;
  GRID_STRIDE(idx, n) {
    int d = (int)(idx % D);
    long bt = idx / D;
    int t = (int)(bt % T), b = (int)(bt / T);
    float x = (has_cls && t == 0) ? cls[d] : patches[((long)b * L + t - has_cls) * D + d];
    out[idx] = x + pos[(long)t * D + d];
  }
}

static void cuda_im2col_patches(float *cols, const float *img, int B, int H, int W, int P) {
  long n = (long)B * (H / P) * (W / P) * 3 * P * P;
  if (n <= 0)
    return;
  im2col_patches_kernel<<<grid_for(n), BLOCK>>>(cols, img, B, H, W, P);
  CHECK_LAUNCH();
}

static void cuda_assemble_tokens(float *out, const float *patches, const float *cls,
                                 const float *pos, int B, int L, int D, int has_cls) {
  long n = (long)B * (has_cls + L) * D;
  if (n <= 0)
    return;
  assemble_tokens_kernel<<<grid_for(n), BLOCK>>>(out, patches, cls, pos, B, L, D, has_cls);
  CHECK_LAUNCH();
}

/* ---- the table ---- */

static ops cuda_table(void) {
  ops t = {}; /* an entry a backend lacks is NULL, never garbage */
  t.name = "cuda";
  t.alloc = cuda_alloc;
  t.free = cuda_free;
  t.to_device = cuda_to_device;
  t.to_host = cuda_to_host;
  t.memset0 = cuda_memset0;
  t.copy = cuda_copy;
  t.synchronize = cuda_synchronize;
  t.set_precision = cuda_set_precision;
  t.matmul = cuda_matmul;
  t.gemm_batched = cuda_gemm_batched;
  t.layernorm = cuda_layernorm;
  t.gelu = cuda_gelu;
  t.quick_gelu = cuda_quick_gelu;
  t.softmax = cuda_softmax;
  t.add = cuda_add;
  t.add_scaled = cuda_add_scaled;
  t.l2_normalize = cuda_l2_normalize;
  t.attention = cuda_attention;
  t.im2col_patches = cuda_im2col_patches;
  t.assemble_tokens = cuda_assemble_tokens;
  return t;
}

/* Probed once: a binary built with CUDA still runs on machines without a driver or GPU. */
extern "C" const ops *ops_cuda(void) {
  static ops table;
  static int probed = 0, present = 0;
  if (!probed) {
    int count = 0;
    if (cudaGetDeviceCount(&count) == cudaSuccess && count > 0) {
      table = cuda_table();
      present = 1;
    } else {
      (void)cudaGetLastError(); /* a missing device is the CPU path, not a sticky error */
    }
    probed = 1;
  }
  return present ? &table : NULL;
}
