/* musc §A.6.1 step 1 without the L x L products: the dot products of a tile of image pairs stay in
 * registers and only their row and column maxima leave (AVX-512). No BLAS fuses a reduction into
 * its GEMM; with the sgemm tiles of msm.c, writing and re-reading the products and the beta pass
 * over them held MTD's ViT-Ti scoring (K = 192) to about 0.7 of SGEMM. msm.c keeps the sgemm path
 * as the reference and for CPUs without AVX-512.
 *
 * Every dot product is one FMA chain over k = 0 .. C - 1 from zero in one SIMD lane, and a maximum
 * is exact, so a pair's values do not depend on where it sits in a tile, on the blocks, the rank
 * count or the thread count. */
#include <math.h>
#include <stddef.h>

#include "blas_select.h"
#include "msm_fused.h"

/* Micro-tile: MSM_MR rows of A against 32 columns of B (two 16-lane vectors), 28 accumulators. */
enum { NR = 32, LANES = 16 };

int msm_fused_usable(int L, int C) {
#if defined(__x86_64__) && defined(__GNUC__)
  return L >= LANES && C <= MSM_FUSED_MAX_C && blas_cpu_avx512();
#else
  (void)L, (void)C;
  return 0;
#endif
}

static size_t pairs_of(int cols) { return ((size_t)cols + NR - 1) / NR; }

size_t msm_fused_scratch_floats(int t, int L, int C) {
  const size_t cols = (size_t)t * L, np = pairs_of((int)cols);
  return np * NR * C           /* packed B */
         + t * np * NR         /* column maxima */
         + cols * t            /* row maxima */
         + MSM_MR * t * LANES  /* running row maxima of a row block */
         + MSM_MR * (size_t)C; /* a short last row block, padded */
}

void msm_fused_pack(float *Bp, const float *Bz, int nb, int L, int C) {
  const int cols = nb * L, padded = (int)pairs_of(cols) * NR;
  for (int c = 0; c < padded; c++) {
    /* Padding lanes repeat the last column: the row maxima of its image are unchanged, and the
     * column maxima of padding lanes are never read. */
    const float *src = Bz + (size_t)(c < cols ? c : cols - 1) * C;
    float *dst = Bp + (size_t)(c / NR) * NR * C + c % NR;
    for (int k = 0; k < C; k++)
      dst[(size_t)k * NR] = src[k];
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

/* acc[r][h] = sum_k A[r, k] B[k, 16 h + lane], A rows of stride C, B one packed pair [C][32]. C is
 * a compile-time constant where the caller can make it one (the address offsets r C then fold
 * into the instructions). */
AVX512 static inline __attribute__((always_inline)) void
micro_tile(__m512 acc[MSM_MR][2], const float *A, const float *B, int C) {
#pragma GCC unroll 14
  for (int r = 0; r < MSM_MR; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int k = 0; k < C; k++) {
    const __m512 b0 = _mm512_loadu_ps(B + (size_t)k * NR),
                 b1 = _mm512_loadu_ps(B + (size_t)k * NR + 16);
#pragma GCC unroll 14
    for (int r = 0; r < MSM_MR; r++) {
      const __m512 a = _mm512_set1_ps(A[(size_t)r * C + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
}

/* One row block of image a (MSM_MR rows at A) against the pairs [p0, np) of packed B: column
 * maxima into colmax (the image's [np * 32]), running row maxima per B image into rowvec
 * [MSM_MR][nb][16]. */
AVX512 static inline __attribute__((always_inline)) void row_block(float *colmax, float *rowvec,
                                                                   const float *A, const float *Bp,
                                                                   int p0, int np, int nb, int L,
                                                                   int C) {
  const int cols = nb * L;
  for (int p = p0; p < np; p++) {
    __m512 acc[MSM_MR][2];
    micro_tile(acc, A, Bp + (size_t)p * NR * C, C);
    for (int h = 0; h < 2; h++) {
      const int q0 = p * NR + h * LANES;
      __m512 m = acc[0][h];
      for (int r = 1; r < MSM_MR; r++)
        m = _mm512_max_ps(m, acc[r][h]);
      float *cm = colmax + q0;
      _mm512_storeu_ps(cm, _mm512_max_ps(_mm512_loadu_ps(cm), m));
      const int j0 = (q0 < cols ? q0 : cols - 1) / L;
      const int j1 = (q0 + LANES - 1 < cols ? q0 + LANES - 1 : cols - 1) / L;
      if (j0 == j1) {
        for (int r = 0; r < MSM_MR; r++) {
          float *rv = rowvec + ((size_t)r * nb + j0) * LANES;
          _mm512_storeu_ps(rv, _mm512_max_ps(_mm512_loadu_ps(rv), acc[r][h]));
        }
      } else { /* the vector straddles images j0 and j1 = j0 + 1 (L >= 16): lanes below s */
        const __mmask16 lo = (__mmask16)((1u << ((j0 + 1) * L - q0)) - 1u), hi = (__mmask16)~lo;
        for (int r = 0; r < MSM_MR; r++) {
          float *rv0 = rowvec + ((size_t)r * nb + j0) * LANES, *rv1 = rv0 + LANES;
          const __m512 v0 = _mm512_loadu_ps(rv0), v1 = _mm512_loadu_ps(rv1);
          _mm512_storeu_ps(rv0, _mm512_mask_max_ps(v0, lo, v0, acc[r][h]));
          _mm512_storeu_ps(rv1, _mm512_mask_max_ps(v1, hi, v1, acc[r][h]));
        }
      }
    }
  }
}

/* The common feature sizes get their own copy with C constant. */
AVX512 static void row_block_any(float *colmax, float *rowvec, const float *A, const float *Bp,
                                 int p0, int np, int nb, int L, int C) {
  switch (C) {
  case 192: /* ViT-Ti */
    row_block(colmax, rowvec, A, Bp, p0, np, nb, L, 192);
    break;
  case 384: /* ViT-S */
    row_block(colmax, rowvec, A, Bp, p0, np, nb, L, 384);
    break;
  default:
    row_block(colmax, rowvec, A, Bp, p0, np, nb, L, C);
  }
}

AVX512 void msm_fused_tile(float *rowmax, float *colmax, float *work, const float *Az, int na,
                           const float *Bp, int nb, int L, int C, int diag) {
  const int cols = nb * L, np = (int)pairs_of(cols);
  float *rowvec = work, *Apad = rowvec + (size_t)MSM_MR * nb * LANES;
  for (int a = 0; a < na; a++) {
    if (diag && a + 1 >= nb)
      break; /* no image after a in this tile */
    const int p0 = diag ? (a + 1) * L / NR : 0;
    float *cm = colmax + (size_t)a * np * NR;
    for (int q = p0 * NR; q < np * NR; q++)
      cm[q] = -INFINITY;
    const float *img = Az + (size_t)a * L * C;
    for (int r0 = 0; r0 < L; r0 += MSM_MR) {
      const int R = L - r0 < MSM_MR ? L - r0 : MSM_MR;
      const float *A = img + (size_t)r0 * C;
      if (R < MSM_MR) { /* the last rows, then copies of the last one (harmless to the maxima) */
        for (int r = 0; r < MSM_MR; r++)
          for (int k = 0; k < C; k++)
            Apad[(size_t)r * C + k] = A[(size_t)(r < R ? r : R - 1) * C + k];
        A = Apad;
      }
      for (size_t i = 0; i < (size_t)MSM_MR * nb * LANES; i++)
        rowvec[i] = -INFINITY;
      row_block_any(cm, rowvec, A, Bp, p0, np, nb, L, C);
      for (int r = 0; r < R; r++)
        for (int j = diag ? a + 1 : 0; j < nb; j++)
          rowmax[((size_t)a * L + r0 + r) * nb + j] =
              _mm512_reduce_max_ps(_mm512_loadu_ps(rowvec + ((size_t)r * nb + j) * LANES));
    }
  }
}

#else
void msm_fused_tile(float *rowmax, float *colmax, float *work, const float *Az, int na,
                    const float *Bp, int nb, int L, int C, int diag) {
  (void)rowmax, (void)colmax, (void)work, (void)Az, (void)na, (void)Bp, (void)nb, (void)L, (void)C,
      (void)diag;
}
#endif
