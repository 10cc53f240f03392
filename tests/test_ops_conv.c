/* The CPU backend's convolution ops (ops_cpu_conv.c, musc_hetmm_spec §B.4) against naive loops
 * written here on random inputs of awkward sizes, batch > 1:
 *   conv = transpose (NCHW -> NHWC), im2col, matmul with the permuted weight and a bias,
 *          transpose back, against a direct 7-deep loop in double (1x1 and 3x3, stride 1 and 2,
 *          padding, dilation 2, the 7x7 stem): |out - ref| <= 1e-5 (|ref| + 1);
 *   maxpool2d (3x3/2 pad 1, 2x2/2, 3x3/1 pad 1), relu (also in place) and transpose: exact. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "test_util.h"

#define RTOL 1e-5

static const ops *o;
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float urand(void) { /* [-1, 1), xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
  return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_floats(long n) {
  float *x = xmalloc((size_t)n * sizeof(float));
  for (long i = 0; i < n; i++)
    x[i] = urand();
  return x;
}

static int out_size(int n, int k, int s, int p, int d) {
  return (n + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* x [B,C,H,W], w [Co,C,k,k] -> [B,Co,Ho,Wo] through the ops, as wideresnet.c runs a conv. */
static void conv_ops(float *out, const float *x, const float *w, const float *bias, int B, int C,
                     int H, int W, int Co, int k, int s, int p, int d) {
  const int Ho = out_size(H, k, s, p, d), Wo = out_size(W, k, s, p, d), K = k * k * C;
  float *nhwc = xmalloc((size_t)B * C * H * W * sizeof(float));
  float *cols = xmalloc((size_t)B * Ho * Wo * K * sizeof(float));
  float *wp = xmalloc((size_t)Co * K * sizeof(float));
  float *y = xmalloc((size_t)B * Ho * Wo * Co * sizeof(float));
  for (int co = 0; co < Co; co++) /* [Co,C,k,k] -> [Co,k,k,C] */
    for (int c = 0; c < C; c++)
      for (int r = 0; r < k * k; r++)
        wp[((long)co * k * k + r) * C + c] = w[((long)co * C + c) * k * k + r];
  o->transpose(nhwc, x, B, C, H * W);
  o->im2col(cols, nhwc, B, H, W, C, k, s, p, d);
  o->matmul(y, cols, wp, bias, B * Ho * Wo, K, Co);
  o->transpose(out, y, B, Ho * Wo, Co);
  free(nhwc), free(cols), free(wp), free(y);
}

static void check_conv(int B, int C, int H, int W, int Co, int k, int s, int p, int d) {
  const int Ho = out_size(H, k, s, p, d), Wo = out_size(W, k, s, p, d);
  const long n = (long)B * Co * Ho * Wo;
  float *x = rand_floats((long)B * C * H * W), *w = rand_floats((long)Co * C * k * k);
  float *bias = rand_floats(Co), *out = xmalloc((size_t)n * sizeof(float));
  double *ref = xcalloc((size_t)n, sizeof(double));
  for (int b = 0; b < B; b++)
    for (int co = 0; co < Co; co++)
      for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
          double acc = bias[co];
          for (int c = 0; c < C; c++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                int iy = oy * s - p + ky * d, ix = ox * s - p + kx * d;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                  acc += (double)w[(((long)co * C + c) * k + ky) * k + kx] *
                         x[(((long)b * C + c) * H + iy) * W + ix];
              }
          ref[(((long)b * Co + co) * Ho + oy) * Wo + ox] = acc;
        }
  conv_ops(out, x, w, bias, B, C, H, W, Co, k, s, p, d);
  long bad = -1;
  for (long i = 0; i < n && bad < 0; i++)
    if (!(fabs(out[i] - ref[i]) <= RTOL * (fabs(ref[i]) + 1.0)))
      bad = i;
  CHECK(bad < 0, "conv B%d C%d %dx%d -> %d k%d s%d p%d d%d: element %ld = %.9g, ref %.9g", B, C, H,
        W, Co, k, s, p, d, bad, bad < 0 ? 0.0 : out[bad], bad < 0 ? 0.0 : ref[bad]);
  free(x), free(w), free(bias), free(out), free(ref);
}

/* NHWC max pool against the window max in NCHW-free indexing: exact. */
static void check_maxpool(int B, int H, int W, int C, int k, int s, int p) {
  const int Ho = out_size(H, k, s, p, 1), Wo = out_size(W, k, s, p, 1);
  const long n = (long)B * Ho * Wo * C;
  float *x = rand_floats((long)B * H * W * C), *out = xmalloc((size_t)n * sizeof(float));
  o->maxpool2d(out, x, B, H, W, C, k, s, p);
  long bad = -1;
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < Ho; oy++)
      for (int ox = 0; ox < Wo; ox++)
        for (int c = 0; c < C; c++) {
          float m = -INFINITY;
          for (int iy = oy * s - p; iy < oy * s - p + k; iy++)
            for (int ix = ox * s - p; ix < ox * s - p + k; ix++)
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                m = fmaxf(m, x[(((long)b * H + iy) * W + ix) * C + c]);
          long i = (((long)b * Ho + oy) * Wo + ox) * C + c;
          if (out[i] != m && bad < 0)
            bad = i;
        }
  CHECK(bad < 0, "maxpool B%d %dx%dx%d k%d s%d p%d: element %ld differs", B, H, W, C, k, s, p, bad);
  free(x), free(out);
}

static void check_relu(long n) {
  float *x = rand_floats(n), *out = xmalloc((size_t)n * sizeof(float));
  o->relu(out, x, n);
  long bad = -1, zeros = 0;
  for (long i = 0; i < n; i++) {
    if (out[i] != (x[i] > 0.0f ? x[i] : 0.0f) && bad < 0)
      bad = i;
    zeros += out[i] == 0.0f;
  }
  CHECK(bad < 0, "relu n=%ld: element %ld", n, bad);
  CHECK(n < 100 || (zeros > n / 3 && zeros < 2 * n / 3), "relu n=%ld: %ld zeros", n, zeros);
  o->relu(x, x, n); /* in place */
  CHECK(memcmp(x, out, (size_t)n * sizeof(float)) == 0, "relu n=%ld in place differs", n);
  free(x), free(out);
}

static void check_transpose(int B, int R, int C) {
  const long n = (long)B * R * C;
  float *x = rand_floats(n), *t = xmalloc((size_t)n * sizeof(float));
  float *back = xmalloc((size_t)n * sizeof(float));
  o->transpose(t, x, B, R, C);
  long bad = -1;
  for (int b = 0; b < B; b++)
    for (int r = 0; r < R; r++)
      for (int c = 0; c < C; c++)
        if (t[((long)b * C + c) * R + r] != x[((long)b * R + r) * C + c] && bad < 0)
          bad = ((long)b * R + r) * C + c;
  CHECK(bad < 0, "transpose B%d R%d C%d: element %ld", B, R, C, bad);
  o->transpose(back, t, B, C, R);
  CHECK(memcmp(back, x, (size_t)n * sizeof(float)) == 0, "transpose B%d R%d C%d: no round trip", B,
        R, C);
  free(x), free(t), free(back);
}

int main(void) {
  o = ops_cpu();
  /* B C H W Co k s p d */
  check_conv(2, 5, 9, 7, 6, 3, 1, 1, 1);   /* 3x3, same size */
  check_conv(3, 4, 11, 8, 7, 3, 2, 1, 1);  /* 3x3 stride 2 (the first block of layer2/3) */
  check_conv(2, 6, 8, 9, 5, 1, 1, 0, 1);   /* 1x1 */
  check_conv(2, 6, 9, 7, 10, 1, 2, 0, 1);  /* 1x1 stride 2: downsample */
  check_conv(2, 3, 21, 18, 8, 7, 2, 3, 1); /* the stem */
  check_conv(2, 3, 10, 9, 4, 3, 1, 2, 2);  /* dilation 2 */
  check_conv(1, 2, 3, 2, 3, 3, 1, 1, 1);   /* smaller than the kernel's reach */
  check_conv(1, 33, 16, 16, 40, 3, 1, 1, 1);

  check_maxpool(2, 21, 18, 8, 3, 2, 1); /* the stem's pool */
  check_maxpool(3, 10, 9, 5, 3, 2, 1);
  check_maxpool(2, 8, 6, 3, 2, 2, 0);
  check_maxpool(1, 5, 7, 4, 3, 1, 1);
  check_maxpool(1, 1, 1, 3, 3, 2, 1);

  check_relu(100003);
  check_relu(1);
  check_transpose(2, 3, 50 * 41);
  check_transpose(3, 37, 65);
  check_transpose(1, 1, 1);
  check_transpose(2, 64, 32);
  return test_done("test_ops_conv");
}
