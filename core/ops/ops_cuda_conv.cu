/* The CUDA backend's convolution ops on channels-last images (musc_hetmm_spec §B.4, the
 * WideResNet backbone), mirrors of ops_cpu_conv.c checked against it by tests/test_ops_cuda.c:
 * im2col and max pooling one thread per output value, ReLU grid-stride, the NCHW <-> NHWC
 * transpose through 32 x 32 shared-memory tiles. cuda_conv_ops() puts them in the table that
 * ops_cuda.cu builds. */
#include <cuda_runtime.h>
#include <math.h>

extern "C" {
#include "error.h"
#include "ops.h"
}

/* As in ops_cuda.cu: a bad launch is reported where it happened. */
#define CHECK_LAUNCH()                                                                             \
  do {                                                                                             \
    cudaError_t err_ = cudaGetLastError();                                                         \
    if (err_ != cudaSuccess)                                                                       \
      ancd_fatal_at(__FILE__, __LINE__, "CUDA: launch: %s", cudaGetErrorString(err_));             \
  } while (0)

static const int BLOCK = 256;
static const long MAX_GRID = 1 << 16;

static int grid_for(long n) {
  long blocks = (n + BLOCK - 1) / BLOCK;
  return (int)(blocks < MAX_GRID ? blocks : MAX_GRID);
}

#define GRID_STRIDE(i, n)                                                                          \
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n);                              \
       i += (long)gridDim.x * blockDim.x)

static int out_size(int n, int k, int stride, int pad, int dilation) {
  return (n + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/* Element i of cols [B, Ho, Wo, k, k, C]: consecutive threads write consecutive channels. */
static __global__ void im2col_kernel(float *cols, const float *x, int B, int H, int W, int C, int k,
                                     int stride, int pad, int dilation, int Ho, int Wo) {
  long n = (long)B * Ho * Wo * k * k * C;
  GRID_STRIDE(i, n) {
    long t = i;
    int c = (int)(t % C);
    t /= C;
    int kx = (int)(t % k);
    t /= k;
    int ky = (int)(t % k);
    t /= k;
    int ox = (int)(t % Wo);
    t /= Wo;
    int oy = (int)(t % Ho);
    int b = (int)(t / Ho);
    int iy = oy * stride - pad + ky * dilation, ix = ox * stride - pad + kx * dilation;
    cols[i] =
        (iy < 0 || iy >= H || ix < 0 || ix >= W) ? 0.0f : x[(((long)b * H + iy) * W + ix) * C + c];
  }
}

static __global__ void maxpool2d_kernel(float *out, const float *x, int B, int H, int W, int C,
                                        int k, int stride, int pad, int Ho, int Wo) {
  long n = (long)B * Ho * Wo * C;
  GRID_STRIDE(i, n) {
    long t = i;
    int c = (int)(t % C);
    t /= C;
    int ox = (int)(t % Wo);
    t /= Wo;
    int oy = (int)(t % Ho);
    int b = (int)(t / Ho);
    float m = -INFINITY;
    for (int ky = 0; ky < k; ky++) {
      int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H)
        continue;
      for (int kx = 0; kx < k; kx++) {
        int ix = ox * stride - pad + kx;
        if (ix < 0 || ix >= W)
          continue;
        float v = x[(((long)b * H + iy) * W + ix) * C + c];
        m = v > m ? v : m;
      }
    }
    out[i] = m;
  }
}

static __global__ void relu_kernel(float *out, const float *inp, long n) {
  GRID_STRIDE(i, n) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

enum { TILE = 32, TILE_ROWS = 8 };

/* One 32 x 32 tile of batch item blockIdx.z: read along C, written along R. */
static __global__ void transpose_kernel(float *out, const float *inp, int R, int C) {
  __shared__ float tile[TILE][TILE + 1]; /* +1: no bank conflicts on the transposed read */
  const float *src = inp + (long)blockIdx.z * R * C;
  float *dst = out + (long)blockIdx.z * R * C;
  int c = blockIdx.x * TILE + threadIdx.x;
  for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
    int r = blockIdx.y * TILE + j;
    if (r < R && c < C)
      tile[j][threadIdx.x] = src[(long)r * C + c];
  }
  __syncthreads();
  int r = blockIdx.y * TILE + threadIdx.x;
  for (int j = threadIdx.y; j < TILE; j += TILE_ROWS) {
    int cc = blockIdx.x * TILE + j;
    if (r < R && cc < C)
      dst[(long)cc * R + r] = tile[threadIdx.x][j];
  }
}

static void cuda_im2col(float *cols, const float *x, int B, int H, int W, int C, int k, int stride,
                        int pad, int dilation) {
  int Ho = out_size(H, k, stride, pad, dilation), Wo = out_size(W, k, stride, pad, dilation);
  long n = (long)B * Ho * Wo * k * k * C;
  if (n <= 0)
    return;
  im2col_kernel<<<grid_for(n), BLOCK>>>(cols, x, B, H, W, C, k, stride, pad, dilation, Ho, Wo);
  CHECK_LAUNCH();
}

static void cuda_maxpool2d(float *out, const float *x, int B, int H, int W, int C, int k,
                           int stride, int pad) {
  int Ho = out_size(H, k, stride, pad, 1), Wo = out_size(W, k, stride, pad, 1);
  long n = (long)B * Ho * Wo * C;
  if (n <= 0)
    return;
  maxpool2d_kernel<<<grid_for(n), BLOCK>>>(out, x, B, H, W, C, k, stride, pad, Ho, Wo);
  CHECK_LAUNCH();
}

static void cuda_relu(float *out, const float *inp, long n) {
  if (n <= 0)
    return;
  relu_kernel<<<grid_for(n), BLOCK>>>(out, inp, n);
  CHECK_LAUNCH();
}

static void cuda_transpose(float *out, const float *inp, int B, int R, int C) {
  if ((long)B * R * C <= 0)
    return;
  if (B > 65535 || (R + TILE - 1) / TILE > 65535)
    ancd_fatal_at(__FILE__, __LINE__, "transpose: %d items of %d rows exceed the grid", B, R);
  dim3 grid((unsigned)((C + TILE - 1) / TILE), (unsigned)((R + TILE - 1) / TILE), (unsigned)B);
  transpose_kernel<<<grid, dim3(TILE, TILE_ROWS)>>>(out, inp, R, C);
  CHECK_LAUNCH();
}

void cuda_conv_ops(ops *t) {
  t->im2col = cuda_im2col;
  t->maxpool2d = cuda_maxpool2d;
  t->relu = cuda_relu;
  t->transpose = cuda_transpose;
}
