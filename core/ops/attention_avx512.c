/* Register-blocked products of one attention pair at head size 64 (attention_avx512.h).
 *
 * Scores: 12 query rows x 32 keys per micro-tile (24 accumulators; with 14, gcc spills), the keys
 * packed once per pair as [T/32][64][32]. P.v: 6 rows x the 64 outputs (24 accumulators), v packed
 * once per pair as contiguous [T][64] rows: read in place, the 3C-float stride between v rows made
 * P.v slower than OpenBLAS (a TLB entry per row). Every output is one FMA chain over k = 0, 1, ...
 * from zero in one SIMD lane, so a row's values do not depend on the rows beside it. The last,
 * short row block runs on a zero-padded copy. */
#include <string.h>

#include "attention_avx512.h"
#include "blas_select.h"

enum { QR = 12, KC = 32, PR = 6 };

/* Row stride of the score rows: T rounded up to whole 32-key panels. */
static int attn_kernel_stride(int T) { return (T + KC - 1) / KC * KC; }

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* The pieces of work, in order: a row block's scores, the packed keys and values, the padded
 * queries of the short last block. */
static size_t block_floats(int T) { return round16((size_t)QR * attn_kernel_stride(T)); }
static size_t packed_keys_floats(int T) { return round16((size_t)attn_kernel_stride(T) * ATTN_HS); }
static size_t packed_values_floats(int T) { return round16((size_t)T * ATTN_HS); }
static size_t padded_queries_floats(void) { return round16((size_t)QR * ATTN_HS); }

size_t attn_kernel_scratch_floats(int T) {
  return block_floats(T) + packed_keys_floats(T) + packed_values_floats(T) +
         padded_queries_floats();
}

int attn_kernel_usable(int hs) {
#if defined(__x86_64__) && defined(__GNUC__)
  return hs == ATTN_HS && blas_cpu_avx512();
#else
  (void)hs;
  return 0;
#endif
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* s [12, 32] = scale . A[12, 64] B^T, B packed [64][32]. Always the whole tile: a store loop of
 * run-time length would index the accumulators at run time and move them out of registers
 * (1.6x slower). */
AVX512 static inline __attribute__((always_inline)) void
scores_tile(float *s, int lds, const float *A, int lda, const float *B, float scale) {
  __m512 acc[QR][2];
#pragma GCC unroll 12
  for (int r = 0; r < QR; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int d = 0; d < ATTN_HS; d++) {
    const __m512 b0 = _mm512_loadu_ps(B + d * KC), b1 = _mm512_loadu_ps(B + d * KC + 16);
#pragma GCC unroll 12
    for (int r = 0; r < QR; r++) {
      const __m512 a = _mm512_set1_ps(A[(size_t)r * lda + d]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 12
  for (int r = 0; r < QR; r++) {
    _mm512_storeu_ps(s + (size_t)r * lds, _mm512_mul_ps(acc[r][0], sc));
    _mm512_storeu_ps(s + (size_t)r * lds + 16, _mm512_mul_ps(acc[r][1], sc));
  }
}

/* out [6, 64] = P[6, T] V[T, 64], V packed [T][64]; the whole tile, as scores_tile. */
AVX512 static inline __attribute__((always_inline)) void
pv_tile(float *out, int ldo, const float *P, int ldp, const float *V, int T) {
  __m512 acc[PR][4];
#pragma GCC unroll 6
  for (int r = 0; r < PR; r++)
    acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
  for (int j = 0; j < T; j++) {
    const float *v = V + (size_t)j * ATTN_HS;
    const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16),
                 v2 = _mm512_loadu_ps(v + 32), v3 = _mm512_loadu_ps(v + 48);
#pragma GCC unroll 6
    for (int r = 0; r < PR; r++) {
      const __m512 a = _mm512_set1_ps(P[(size_t)r * ldp + j]);
      acc[r][0] = _mm512_fmadd_ps(a, v0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, v1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, v2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a, v3, acc[r][3]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < PR; r++)
    for (int c = 0; c < 4; c++)
      _mm512_storeu_ps(out + (size_t)r * ldo + 16 * c, acc[r][c]);
}

AVX512 void attn_kernel_pair(float *out, int ldo, float *work, const float *q, const float *k,
                             const float *v, int ld, int T, float scale, const float *bias,
                             void (*softmax_row)(float *y, const float *x, int cols)) {
  const int lds = attn_kernel_stride(T), np = lds / KC;
  float *blk = work, *kp = blk + block_floats(T), *vp = kp + packed_keys_floats(T),
        *qpad = vp + packed_values_floats(T);
  for (int p = 0; p < np; p++) /* keys as [np][64][32], zero beyond T */
    for (int c = 0; c < KC; c++) {
      const int j = p * KC + c;
      float *dst = kp + (size_t)p * ATTN_HS * KC + c;
      for (int d = 0; d < ATTN_HS; d++)
        dst[d * KC] = j < T ? k[(size_t)j * ld + d] : 0.0f;
    }
  for (int j = 0; j < T; j++)
    memcpy(vp + (size_t)j * ATTN_HS, v + (size_t)j * ld, sizeof(float) * ATTN_HS);
  for (int r0 = 0; r0 < T; r0 += QR) {
    /* The block's QR rows of scores, then their softmax and their P.v while they are in L1. The
     * short last block runs on zero-padded queries: its padding rows score 0 everywhere, skip
     * the softmax and are never stored. */
    const int R = T - r0 < QR ? T - r0 : QR;
    const float *A = q + (size_t)r0 * ld;
    int lda = ld;
    if (R < QR) {
      memset(qpad, 0, sizeof(float) * QR * ATTN_HS);
      for (int r = 0; r < R; r++)
        memcpy(qpad + r * ATTN_HS, A + (size_t)r * ld, sizeof(float) * ATTN_HS);
      A = qpad, lda = ATTN_HS;
    }
    for (int p = 0; p < np; p++)
      scores_tile(blk + p * KC, lds, A, lda, kp + (size_t)p * ATTN_HS * KC, scale);
    if (bias && r0 == 0)
      for (int j = 0; j < T; j++)
        blk[j] += bias[j];
    for (int r = 0; r < R; r++)
      softmax_row(blk + (size_t)r * lds, blk + (size_t)r * lds, T);
    for (int h = 0; h < QR && r0 + h < T; h += PR) {
      const int rows = T - r0 - h < PR ? T - r0 - h : PR;
      if (rows == PR) {
        pv_tile(out + (size_t)(r0 + h) * ldo, ldo, blk + (size_t)h * lds, lds, vp, T);
      } else {
        float tail[PR * ATTN_HS];
        pv_tile(tail, ATTN_HS, blk + (size_t)h * lds, lds, vp, T);
        for (int r = 0; r < rows; r++)
          memcpy(out + (size_t)(r0 + h + r) * ldo, tail + r * ATTN_HS, sizeof(float) * ATTN_HS);
      }
    }
  }
}

#else
void attn_kernel_pair(float *out, int ldo, float *work, const float *q, const float *k,
                      const float *v, int ld, int T, float scale, const float *bias,
                      void (*softmax_row)(float *y, const float *x, int cols)) {
  (void)out, (void)ldo, (void)work, (void)q, (void)k, (void)v, (void)ld, (void)T, (void)scale,
      (void)bias, (void)softmax_row;
}
#endif
