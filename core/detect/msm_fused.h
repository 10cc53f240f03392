/* The fused MSM kernel of msm.c (msm_fused.c): the max dot products of a tile of image pairs
 * without the L x L products, on CPUs with AVX-512. Internal to core/detect. */
#ifndef ANCD_MSM_FUSED_H
#define ANCD_MSM_FUSED_H

#include <stddef.h>

enum { MSM_MR = 14 }; /* rows of A per micro-tile */

/* The widest features it takes: a row block's MSM_MR x C rows stay in L1 beside the streamed B
 * columns up to about C = 384. Wider ones run faster as sgemm tiles (2 threads, AVX-512 Xeon,
 * `ancd bench msm --kernel`: C = 192 and 384 1.3-1.4x faster fused; C = 768 1.2x faster at
 * L = 196 but 0.87-0.93x at L = 576 and 784; C = 1024 0.80-0.92x). */
enum { MSM_FUSED_MAX_C = 512 };

/* 1 when this CPU runs the kernel (AVX-512F with ZMM state), L >= 16 (a 16-lane vector then
 * spans at most two images) and C <= MSM_FUSED_MAX_C. */
int msm_fused_usable(int L, int C);

/* Floats of msm_fused_tile's buffers for tiles of t images of L x C: packed B, column maxima, row
 * maxima and work, each to be started on a 64-byte boundary by the caller (add 16 per piece). */
size_t msm_fused_scratch_floats(int t, int L, int C);

/* Packs nb images Bz [nb, L, C] as column pairs [ceil(nb L / 32)][C][32] (padding lanes repeat
 * the last column). */
void msm_fused_pack(float *Bp, const float *Bz, int nb, int L, int C);

/* For images a of Az [na, L, C] against the packed nb images:
 *   rowmax[a, p, b] = max_q <A[a,p], B[b,q]>     [na, L, nb]
 *   colmax[a, b L + q] = max_p <A[a,p], B[b,q]>  [na, ceil(nb L / 32) * 32]
 * diag = 1 when A and B are the same images: only the pairs b > a are computed (the others are
 * left as they are). work: MSM_MR * (nb * 16 + C) floats. */
void msm_fused_tile(float *rowmax, float *colmax, float *work, const float *Az, int na,
                    const float *Bp, int nb, int L, int C, int diag);

#endif
