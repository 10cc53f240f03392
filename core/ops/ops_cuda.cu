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

/* mean and rstd [rows] are written when not NULL (the training forward keeps them). */
static __global__ void layernorm_kernel(float *out, float *mean_out, float *rstd_out,
                                        const float *inp, const float *weight, const float *bias,
                                        long rows, int C, float eps) {
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
    if (mean_out && threadIdx.x == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
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
  layernorm_kernel<<<grid_rows(rows), BLOCK>>>(out, NULL, NULL, inp, weight, bias, rows, C, eps);
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

/* ---- training (anomalyncd_spec §5): the mirrors of ops_cpu.c's training ops. Every gradient is
 * added (+=) into its buffer; NULL ones are skipped. ---- */

/* dinp of one row per block: rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dout * weight. */
static __global__ void layernorm_backward_kernel(float *dinp, const float *dout, const float *inp,
                                                 const float *weight, const float *mean,
                                                 const float *rstd, long rows, int C) {
  for (long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *x = inp + row * C, *dy = dout + row * C;
    float m = mean[row], rs = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
      float g = dy[i] * (weight ? weight[i] : 1.0f);
      sg += g;
      sgx += g * (x[i] - m) * rs;
    }
    float g_mean = block_sum(sg) / C, gx_mean = block_sum(sgx) / C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
      float g = dy[i] * (weight ? weight[i] : 1.0f);
      dinp[row * C + i] += rs * (g - g_mean - (x[i] - m) * rs * gx_mean);
    }
  }
}

/* Column sums over rows: dsum[c] += sum_r dout[r,c] and dprod[c] += sum_r dout[r,c] * x[r,c],
 * where x is (inp - mean[r]) * rstd[r] when mean is given (LayerNorm's xhat), else inp. Blocks
 * of COLS_X columns by COLS_Y threads down the rows; a block sums its chunk of rows and adds it
 * with atomicAdd, so the order of the final sum (not the result to rounding) varies per run. */
static const int COLS_X = 32, COLS_Y = 8;

static __global__ void column_sums_kernel(float *dprod, float *dsum, const float *dout,
                                          const float *inp, const float *mean, const float *rstd,
                                          long rows, int C) {
  __shared__ float part_prod[COLS_Y][COLS_X], part_sum[COLS_Y][COLS_X];
  int c = blockIdx.x * COLS_X + threadIdx.x;
  long chunk = (rows + gridDim.y - 1) / gridDim.y;
  long r0 = blockIdx.y * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
  float sp = 0.0f, ss = 0.0f;
  if (c < C)
    for (long r = r0 + threadIdx.y; r < r1; r += COLS_Y) {
      float dy = dout[r * C + c];
      ss += dy;
      if (dprod) {
        float x = inp[r * C + c];
        sp += dy * (mean ? (x - mean[r]) * rstd[r] : x);
      }
    }
  part_prod[threadIdx.y][threadIdx.x] = sp;
  part_sum[threadIdx.y][threadIdx.x] = ss;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < COLS_Y; y++) {
      sp += part_prod[y][threadIdx.x];
      ss += part_sum[y][threadIdx.x];
    }
    if (dprod)
      atomicAdd(dprod + c, sp);
    if (dsum)
      atomicAdd(dsum + c, ss);
  }
}

static void column_sums(float *dprod, float *dsum, const float *dout, const float *inp,
                        const float *mean, const float *rstd, long rows, int C) {
  if ((!dprod && !dsum) || rows <= 0 || C <= 0)
    return;
  long chunks = (rows + 255) / 256; /* about 32 rows per thread */
  dim3 grid((unsigned)((C + COLS_X - 1) / COLS_X), (unsigned)(chunks < 65535 ? chunks : 65535));
  column_sums_kernel<<<grid, dim3(COLS_X, COLS_Y)>>>(dprod, dsum, dout, inp, mean, rstd, rows, C);
  CHECK_LAUNCH();
}

static void cuda_layernorm_train(float *out, float *mean, float *rstd, const float *inp,
                                 const float *weight, const float *bias, long rows, int C,
                                 float eps) {
  if (rows <= 0)
    return;
  layernorm_kernel<<<grid_rows(rows), BLOCK>>>(out, mean, rstd, inp, weight, bias, rows, C, eps);
  CHECK_LAUNCH();
}

static void cuda_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                    const float *inp, const float *weight, const float *mean,
                                    const float *rstd, long rows, int C) {
  if (rows <= 0)
    return;
  if (dinp) {
    layernorm_backward_kernel<<<grid_rows(rows), BLOCK>>>(dinp, dout, inp, weight, mean, rstd, rows,
                                                          C);
    CHECK_LAUNCH();
  }
  column_sums(dweight, dbias, dout, inp, mean, rstd, rows, C);
}

/* dinp[M,K] += dout[M,N] . weight[N,K]; dweight[N,K] += dout^T . inp[M,K]; dbias: column sums. */
static void cuda_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *inp, const float *weight, int M, int K, int N) {
  if (dinp)
    gemm_rowmajor(dinp, dout, weight, 1, M, K, N, 0, 0, N, K, K, 0, 0, 0, 1.0f, 1.0f);
  if (dweight)
    gemm_rowmajor(dweight, dout, inp, 1, N, K, M, 1, 0, N, K, K, 0, 0, 0, 1.0f, 1.0f);
  column_sums(NULL, dbias, dout, NULL, NULL, NULL, M, N);
}

/* d/dx x Phi(x) = Phi(x) + x phi(x). */
static __global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout,
                                            long n) {
  GRID_STRIDE(i, n) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
    float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
    dinp[i] += (cdf + x * pdf) * dout[i];
  }
}

/* d/dx x s(a x) = s + a x s (1 - s), a = 1.702. */
static __global__ void quick_gelu_backward_kernel(float *dinp, const float *inp, const float *dout,
                                                  long n) {
  GRID_STRIDE(i, n) {
    float x = inp[i];
    float s = 1.0f / (1.0f + expf(-1.702f * x));
    dinp[i] += (s + 1.702f * x * s * (1.0f - s)) * dout[i];
  }
}

static void cuda_gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
  if (n <= 0)
    return;
  gelu_backward_kernel<<<grid_for(n), BLOCK>>>(dinp, inp, dout, n);
  CHECK_LAUNCH();
}

static void cuda_quick_gelu_backward(float *dinp, const float *inp, const float *dout, long n) {
  if (n <= 0)
    return;
  quick_gelu_backward_kernel<<<grid_for(n), BLOCK>>>(dinp, inp, dout, n);
  CHECK_LAUNCH();
}

static __global__ void add_scaled_backward_kernel(float *da, float *db, const float *dout,
                                                  const float *gamma, long n, int C) {
  GRID_STRIDE(i, n) {
    if (da)
      da[i] += dout[i];
    if (db)
      db[i] += (gamma ? gamma[i % C] : 1.0f) * dout[i];
  }
}

static void cuda_add_scaled_backward(float *da, float *db, float *dgamma, const float *dout,
                                     const float *b, const float *gamma, long rows, int C) {
  long n = rows * C;
  if (n <= 0)
    return;
  if (da || db) {
    add_scaled_backward_kernel<<<grid_for(n), BLOCK>>>(da, db, dout, gamma, n, C);
    CHECK_LAUNCH();
  }
  column_sums(dgamma, NULL, dout, b, NULL, NULL, rows, C);
}

/* The softmax backward of one row per block, in place: ds = p o (dp - sum(p o dp)). */
static __global__ void softmax_backward_kernel(float *dp, const float *p, long rows, int cols) {
  for (long row = blockIdx.x; row < rows; row += gridDim.x) {
    float *d = dp + row * cols;
    const float *pr = p + row * cols;
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
      s += pr[i] * d[i];
    float dot = block_sum(s);
    for (int i = threadIdx.x; i < cols; i += blockDim.x)
      d[i] = pr[i] * (d[i] - dot);
  }
}

/* One image at a time, its NH heads a strided batch (as cuda_attention), on scratch P and dS of
 * NH*T*T floats each:
 *   P = softmax(scale q k^T (+ cls_bias on query row 0))   recomputed as the forward does
 *   dv += P^T do,  dS = do v^T then P o (dS - rowsum(dS o P)),
 *   dq += scale dS k,  dk += scale dS^T q. */
static size_t cuda_attention_backward_scratch(int B, int T, int C, int NH) {
  (void)B, (void)C;
  return (size_t)2 * NH * T * T;
}

static void cuda_attention_backward(float *dqkv, float *scratch, const float *dout,
                                    const float *qkv, const float *cls_bias, int B, int T, int C,
                                    int NH) {
  int hd = C / NH;
  float scale = 1.0f / sqrtf((float)hd);
  long TT = (long)T * T, rows = (long)NH * T;
  if (B <= 0 || rows <= 0)
    return;
  float *P = scratch, *dS = scratch + NH * TT;
  for (int b = 0; b < B; b++) {
    const float *q = qkv + (long)b * T * 3 * C, *k = q + C, *v = q + 2 * C;
    const float *dO = dout + (long)b * T * C;
    float *dq = dqkv + (long)b * T * 3 * C, *dk = dq + C, *dv = dq + 2 * C;
    gemm_rowmajor(P, q, k, NH, T, T, hd, 0, 1, 3 * C, 3 * C, T, hd, hd, TT, scale, 0.0f);
    softmax_kernel<<<grid_rows(rows), BLOCK>>>(P, P, cls_bias ? cls_bias + (long)b * T : NULL, rows,
                                               T, T, NH);
    CHECK_LAUNCH();
    gemm_rowmajor(dv, P, dO, NH, T, hd, T, 1, 0, T, C, 3 * C, TT, hd, hd, 1.0f, 1.0f);
    gemm_rowmajor(dS, dO, v, NH, T, T, hd, 0, 1, C, 3 * C, T, hd, hd, TT, 1.0f, 0.0f);
    softmax_backward_kernel<<<grid_rows(rows), BLOCK>>>(dS, P, rows, T);
    CHECK_LAUNCH();
    gemm_rowmajor(dq, dS, k, NH, T, hd, T, 0, 0, T, 3 * C, 3 * C, TT, hd, hd, scale, 1.0f);
    gemm_rowmajor(dk, dS, q, NH, T, hd, T, 1, 0, T, 3 * C, 3 * C, TT, hd, hd, scale, 1.0f);
  }
}

/* torch.optim.SGD with momentum, dampening 0 (anomalyncd_spec §5.6). */
static __global__ void sgd_kernel(float *param, float *momentum_buf, const float *grad, long n,
                                  float lr, float momentum, float weight_decay, int first_step) {
  GRID_STRIDE(i, n) {
    float g = grad[i] + weight_decay * param[i];
    float buf = first_step ? g : momentum * momentum_buf[i] + g;
    momentum_buf[i] = buf;
    param[i] -= lr * buf;
  }
}

static void cuda_sgd_update(float *param, float *momentum_buf, const float *grad, long n, float lr,
                            float momentum, float weight_decay, int first_step) {
  if (n <= 0)
    return;
  sgd_kernel<<<grid_for(n), BLOCK>>>(param, momentum_buf, grad, n, lr, momentum, weight_decay,
                                     first_step);
  CHECK_LAUNCH();
}

/* ---- the table ---- */

/* One batched softmax over every (image, head): the B*NH*T*T scores. */
static size_t cuda_attention_scratch(int B, int T, int NH) { return (size_t)B * NH * T * T; }

void cuda_conv_ops(ops *t); /* ops_cuda_conv.cu: im2col, maxpool2d, relu, transpose */

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
  t.attention_scratch = cuda_attention_scratch;
  t.im2col_patches = cuda_im2col_patches;
  t.assemble_tokens = cuda_assemble_tokens;
  t.layernorm_train = cuda_layernorm_train;
  t.layernorm_backward = cuda_layernorm_backward;
  t.matmul_backward = cuda_matmul_backward;
  t.gelu_backward = cuda_gelu_backward;
  t.quick_gelu_backward = cuda_quick_gelu_backward;
  t.add_scaled_backward = cuda_add_scaled_backward;
  t.attention_backward = cuda_attention_backward;
  t.attention_backward_scratch = cuda_attention_backward_scratch;
  t.sgd_update = cuda_sgd_update;
  cuda_conv_ops(&t);
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
