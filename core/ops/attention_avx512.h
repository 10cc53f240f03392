/* One (image, head) pair of the CPU attention at head size 64 (every ViT family of the core: Ti,
 * S, B, L, DINOv2, CLIP) with register-blocked products, on CPUs with AVX-512. OpenBLAS runs the
 * 197 x 197 x 64 products at about half its large-GEMM rate, the more so for P.v, whose v rows lie
 * 3C floats apart (a page each at ViT-B). Internal to the CPU backend (ops_cpu.c). */
#ifndef ANCD_ATTENTION_AVX512_H
#define ANCD_ATTENTION_AVX512_H

#include <stddef.h>

enum { ATTN_HS = 64 }; /* the head size the kernel takes */

/* 1 when this CPU runs the kernel and hs == ATTN_HS. */
int attn_kernel_usable(int hs);

/* Floats of a pair's buffers at T tokens: one row block of scores, the packed keys and values,
 * the padded queries of the last block. */
size_t attn_kernel_scratch_floats(int T);

/* One pair: out [T, 64] (row stride ldo) = P v with P = softmax(scale q k^T), bias [T] (or NULL)
 * added to the scores of query row 0, q, k and v rows ld floats apart. The rows go by blocks of 12:
 * scores, softmax_row (the CPU backend's, so that both paths share it) and P.v while the block is
 * in L1. work: attn_kernel_scratch_floats(T). */
void attn_kernel_pair(float *out, int ldo, float *work, const float *q, const float *k,
                      const float *v, int ld, int T, float scale, const float *bias,
                      void (*softmax_row)(float *y, const float *x, int cols));

#endif
