/* The ViT's insides, shared by the inference forward (vit.c) and its training mode
 * (vit_train.c); nothing outside core/model/ includes this. */
#ifndef ANCD_VIT_INTERNAL_H
#define ANCD_VIT_INTERNAL_H

#include "vit.h"

struct vit_model {
  vit_desc d;
  const ops *o;
  int max_batch, H, W, L, T; /* L patches, T = L + 1 tokens */
  float *weight_block;       /* one backend allocation holding every weight */
  size_t weight_bytes;
  vit_weights w; /* backend pointers into weight_block */
  float *pos;    /* [T, D], resized to this image size */
  float *proj_t; /* CLIP: proj transposed to [E, D], the layout matmul takes */
  arena ar;
  /* Activations, [max_batch, ...]. stage holds the images, then qkv; work holds the im2col
   * columns, then the MLP hidden layer. */
  float *x, *ln, *stage, *att, *scratch, *work, *cls_ln, *head_out;
  /* The CLS-only last block: cls_p [max_batch, heads, T] the CLS query's scores, cls_x
   * [max_batch, D] the CLS rows of the stream, ones [max(T, heads, max_batch)] for outer
   * products and sums. */
  float *cls_p, *cls_x, *ones;
};

/* What a trained block keeps for its backward (vit_train.c); NULL in inference, where the block
 * works in the model's shared buffers. The LayerNorm outputs and the activation are recomputed
 * in the backward from what is kept (cheap, elementwise), which keeps a block at 6 B*T*D +
 * B*T*M floats. */
typedef struct {
  float *x_in;                /* [B,T,D] the block's input (the residual stream before it) */
  float *ln1_mean, *ln1_rstd; /* [B*T] */
  float *qkv;                 /* [B,T,3D] */
  float *att;                 /* [B,T,D] attention output (input of proj) */
  float *x_mid;               /* [B,T,D] the stream after the attention branch (input of LN2) */
  float *ln2_mean, *ln2_rstd; /* [B*T] */
  float *pre;                 /* [B,T,M] fc1 output before the activation */
  /* A CLS-only block (vit_block_forward_cls) keeps x_in, LN1 and qkv of every token, the rest
   * (att, x_mid, ln2, pre) of the B CLS rows only, and the CLS query's probabilities here. */
  float *cls_p; /* [B,heads,T]; NULL for a full block */
} vit_block_saved;

/* The tokens of B images (host [B,3,H,W], normalised) into m->x [B,T,D]: patch embedding,
 * CLS, positional embedding (CLIP: then ln_pre). */
void vit_embed(vit_model *m, const float *images, int B);

/* One pre-norm block on m->x [B,T,D] in place: x += ls1 * proj(attn(qkv(LN1 x))); x += ls2 *
 * fc2(act(fc1(LN2 x))). cls_bias [B,T] (NULL: none) is added to the CLS query row's scores
 * (anomalyncd_spec §5.3). With save, every intermediate goes to its buffers. */
void vit_block_forward(vit_model *m, const vit_block_weights *k, int B, const float *cls_bias,
                       const vit_block_saved *save);

/* The same block when only the CLS rows of its output are used (the last block under the
 * logits, the embedding or MGViT's features): LN1 and qkv of every token (the keys and values),
 * then the CLS query's attention, proj and MLP on B rows only, the result in m->cls_x [B, D];
 * m->x keeps the block's input. About a quarter of a block's FLOPs at ViT-B/16. */
void vit_block_forward_cls(vit_model *m, const vit_block_weights *k, int B, const float *cls_bias,
                           const vit_block_saved *save);

#endif
