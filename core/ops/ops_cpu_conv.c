/* The CPU backend's convolution ops on channels-last images (musc_hetmm_spec §B.4, the
 * WideResNet backbone): im2col, max pooling, ReLU, and the NCHW <-> NHWC transpose. Plain loops,
 * parallel with OpenMP; channels are contiguous, so every inner loop is a memcpy or a vector
 * loop over C. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ops_cpu_conv.h"

/* Output size of a k x k window (nn.Conv2d / nn.MaxPool2d, floor mode). */
static int out_size(int n, int k, int stride, int pad, int dilation) {
  return (n + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

void cpu_im2col(float *cols, const float *x, int B, int H, int W, int C, int k, int stride, int pad,
                int dilation) {
  const int Ho = out_size(H, k, stride, pad, dilation), Wo = out_size(W, k, stride, pad, dilation);
  const long K = (long)k * k * C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float *dst = cols + (((long)b * Ho + oy) * Wo + ox) * K;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * stride - pad + ky * dilation;
          for (int kx = 0; kx < k; kx++, dst += C) {
            int ix = ox * stride - pad + kx * dilation;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
              memset(dst, 0, (size_t)C * sizeof(float));
            else
              memcpy(dst, x + (((long)b * H + iy) * W + ix) * C, (size_t)C * sizeof(float));
          }
        }
      }
}

void cpu_maxpool2d(float *out, const float *x, int B, int H, int W, int C, int k, int stride,
                   int pad) {
  const int Ho = out_size(H, k, stride, pad, 1), Wo = out_size(W, k, stride, pad, 1);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++) {
        float *dst = out + (((long)b * Ho + oy) * Wo + ox) * C;
        for (int c = 0; c < C; c++)
          dst[c] = -INFINITY;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= H)
            continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= W)
              continue;
            const float *src = x + (((long)b * H + iy) * W + ix) * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
              dst[c] = src[c] > dst[c] ? src[c] : dst[c];
          }
        }
      }
}

/* In dynamic chunks, as the other elementwise ops of ops_cpu.c (simd: out may be inp). */
void cpu_relu(float *out, const float *inp, long n) {
#pragma omp parallel for simd schedule(dynamic, 16384)
  for (long i = 0; i < n; i++)
    out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

/* 32 x 32 tiles, so both the reads and the writes stay within a few cache lines per row. */
void cpu_transpose(float *out, const float *inp, int B, int R, int C) {
  enum { T = 32 };
  const int tr = (R + T - 1) / T, tc = (C + T - 1) / T;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < tr * tc; t++) {
      const int r0 = t / tc * T, c0 = t % tc * T;
      const int r1 = r0 + T < R ? r0 + T : R, c1 = c0 + T < C ? c0 + T : C;
      const float *src = inp + (long)b * R * C;
      float *dst = out + (long)b * R * C;
      for (int c = c0; c < c1; c++)
        for (int r = r0; r < r1; r++)
          dst[(long)c * R + r] = src[(long)r * C + c];
    }
}
