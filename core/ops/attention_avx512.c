/* One (image, head) pair of the CPU attention with head size 64, both products register-blocked
 * in AVX-512 (see attention_avx512.h). The scores' 14 x 32 micro-tile and P.v's 6 x 64 keep their
 * sums in 28 and 24 ZMM registers; K is packed once per pair as column pairs [64][32] and each
 * block of 14 queries is copied to a [14][64] buffer, so every broadcast has a constant offset. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "attention_avx512.h"
#include "blas_select.h"

enum { HS = 64, SR = 14, NR = 32, PR = 6, LANES = 16 };

static size_t padded_keys(int T) { return ((size_t)T + NR - 1) / NR * NR; }

size_t attention_avx512_floats(int T) {
  const size_t Tp = padded_keys(T);
  return (size_t)T * Tp + Tp * HS + SR * HS + 3 * LANES; /* scores, packed K, queries, alignment */
}

int attention_avx512_usable(int hs) {
#if defined(__x86_64__) && defined(__GNUC__)
  static int known = -1; /* a benign race: every thread computes the same value */
  if (known < 0) {
    blas_cpu cpu;
    blas_cpu_detect(&cpu);
    known = cpu.avx512;
  }
  return hs == HS && known;
#else
  (void)hs;
  return 0;
#endif
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

static float *align64(float *p) { return (float *)(((size_t)p + 63) & ~(size_t)63); }

AVX512 void attention_avx512_pair(float *out, int ldo, const float *q, int ld, const float *bias,
                                  int T, float scale, float *buf,
                                  void (*softmax_row)(float *, const float *, int)) {
  const float *k = q + ld / 3, *v = q + 2 * (ld / 3);
  const int Tp = (int)padded_keys(T);
  float *s = align64(buf), *kp = align64(s + (size_t)T * Tp), *qb = align64(kp + (size_t)Tp * HS);
  /* K^T as column pairs: kp[j / 32][d][j % 32]; padding keys repeat the last one (their scores
   * are never read: the softmax covers T columns). */
  for (int j = 0; j < Tp; j++) {
    const float *src = k + (size_t)(j < T ? j : T - 1) * ld;
    float *dst = kp + (size_t)(j / NR) * HS * NR + j % NR;
    for (int d = 0; d < HS; d++)
      dst[(size_t)d * NR] = src[d];
  }
  /* Scores s = scale q k^T, 14 queries at a time (rows past T repeat the last one, dropped). */
  for (int r0 = 0; r0 < T; r0 += SR) {
    const int R = T - r0 < SR ? T - r0 : SR;
    for (int r = 0; r < SR; r++)
      memcpy(qb + r * HS, q + (size_t)(r0 + (r < R ? r : R - 1)) * ld, HS * sizeof(float));
    for (int p = 0; p < Tp / NR; p++) {
      const float *kc = kp + (size_t)p * HS * NR;
      __m512 acc[SR][2];
#pragma GCC unroll 14
      for (int r = 0; r < SR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
      for (int d = 0; d < HS; d++) {
        const __m512 k0 = _mm512_load_ps(kc + d * NR), k1 = _mm512_load_ps(kc + d * NR + LANES);
#pragma GCC unroll 14
        for (int r = 0; r < SR; r++) {
          const __m512 a = _mm512_set1_ps(qb[r * HS + d]);
          acc[r][0] = _mm512_fmadd_ps(a, k0, acc[r][0]);
          acc[r][1] = _mm512_fmadd_ps(a, k1, acc[r][1]);
        }
      }
      const __m512 sc = _mm512_set1_ps(scale);
      for (int r = 0; r < R; r++) {
        float *row = s + (size_t)(r0 + r) * Tp + p * NR;
        _mm512_store_ps(row, _mm512_mul_ps(acc[r][0], sc));
        _mm512_store_ps(row + LANES, _mm512_mul_ps(acc[r][1], sc));
      }
    }
  }
  if (bias) /* MGViT's additive CLS-row bias (anomalyncd §5.3) */
    for (int j = 0; j < T; j++)
      s[j] += bias[j];
  for (int r = 0; r < T; r++)
    softmax_row(s + (size_t)r * Tp, s + (size_t)r * Tp, T);
  /* out = P v, 6 rows of P at a time against v's 64 columns (rows past T repeat the last one). */
  for (int r0 = 0; r0 < T; r0 += PR) {
    const int R = T - r0 < PR ? T - r0 : PR;
    const float *pr[PR];
    for (int r = 0; r < PR; r++)
      pr[r] = s + (size_t)(r0 + (r < R ? r : R - 1)) * Tp;
    __m512 acc[PR][4];
#pragma GCC unroll 6
    for (int r = 0; r < PR; r++)
      acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm512_setzero_ps();
    for (int j = 0; j < T; j++) {
      const float *vj = v + (size_t)j * ld;
      const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16),
                   v2 = _mm512_loadu_ps(vj + 32), v3 = _mm512_loadu_ps(vj + 48);
#pragma GCC unroll 6
      for (int r = 0; r < PR; r++) {
        const __m512 a = _mm512_set1_ps(pr[r][j]);
        acc[r][0] = _mm512_fmadd_ps(a, v0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, v1, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(a, v2, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(a, v3, acc[r][3]);
      }
    }
    for (int r = 0; r < R; r++) {
      float *o = out + (size_t)(r0 + r) * ldo;
      _mm512_storeu_ps(o, acc[r][0]);
      _mm512_storeu_ps(o + 16, acc[r][1]);
      _mm512_storeu_ps(o + 32, acc[r][2]);
      _mm512_storeu_ps(o + 48, acc[r][3]);
    }
  }
}

#else
void attention_avx512_pair(float *out, int ldo, const float *q, int ld, const float *bias, int T,
                           float scale, float *buf,
                           void (*softmax_row)(float *, const float *, int)) {
  (void)out, (void)ldo, (void)q, (void)ld, (void)bias, (void)T, (void)scale, (void)buf,
      (void)softmax_row;
}
#endif
