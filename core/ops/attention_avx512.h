/* The two products of one (image, head) pair of the CPU attention at head size 64 (every ViT
 * family of the core: Ti, S, B, L, DINOv2, CLIP), on CPUs with AVX-512. OpenBLAS runs these
 * 197 x 197 x 64 products at about half its large-GEMM rate, the more so for P.v, whose v rows lie
 * 3C floats apart (a page each at ViT-B). Internal to the CPU backend (ops_cpu.c). */
#ifndef ANCD_ATTENTION_AVX512_H
#define ANCD_ATTENTION_AVX512_H

#include <stddef.h>

enum { ATTN_HS = 64 }; /* the head size the kernel takes */

/* 1 when this CPU runs the kernel and hs == ATTN_HS. */
int attn_kernel_usable(int hs);

/* Row stride of the score tile: T rounded up to 32 columns. */
int attn_kernel_stride(int T);

/* Floats of a pair's buffers at T tokens: the score tile [T, stride], packed keys, packed
 * values and the padded rows of the last micro-tiles. */
size_t attn_kernel_scratch_floats(int T);

/* s [T, stride] = scale q k^T, q and k rows of stride ld (columns T.. of s are 0). work: the
 * scratch after the score tile. */
void attn_kernel_scores(float *s, float *work, const float *q, const float *k, int ld, int T,
                        float scale);

/* out [T, 64] (row stride ldo) = P v, P the [T, stride] tile, v rows of stride ld. work as
 * above. */
void attn_kernel_pv(float *out, int ldo, float *work, const float *P, const float *v, int ld,
                    int T);

#endif
