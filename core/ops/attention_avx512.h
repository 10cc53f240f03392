/* The CPU attention's pair kernel for head size 64 on AVX-512 (attention_avx512.c): one (image,
 * head) pair, softmax(scale q k^T (+ bias on query row 0)) v, with the scores in registers per
 * micro-tile instead of two small sgemms (which ran at about 115-140 GFLOP/s on 2 threads at
 * ViT-B/16 batch 8 against SGEMM's 300+). Internal to the CPU backend. */
#ifndef ANCD_ATTENTION_AVX512_H
#define ANCD_ATTENTION_AVX512_H

#include <stddef.h>

/* 1 when this CPU runs the kernel (AVX-512F with ZMM state) and hs == 64. */
int attention_avx512_usable(int hs);
/* Floats of buf for T tokens: the T x ceil(T / 32) * 32 scores, packed keys and queries. */
size_t attention_avx512_floats(int T);
/* out [T, 64] (row stride ldo) for q [T, 64] with k and v at q + ld / 3 and q + 2 ld / 3 (rows
 * of stride ld = 3C, as in qkv); bias NULL or T values added to query row 0's scores; softmax_row
 * the backend's (the same rounding as its other path). */
void attention_avx512_pair(float *out, int ldo, const float *q, int ld, const float *bias, int T,
                           float scale, float *buf,
                           void (*softmax_row)(float *, const float *, int));

#endif
