/* A Vision Transformer of one of four families, described once and run with the op table.
 *   timm / DINO v1: conv patch embed with bias, CLS, learned pos, pre-norm blocks with fused qkv,
 *                   final LayerNorm `norm`, optional classifier head (timm).
 *   DINOv2:         as DINO plus LayerScale (ls1, ls2) in every block.
 *   CLIP:           conv without bias, class embedding, pos, ln_pre, blocks, ln_post, proj.
 * Taps follow musc_hetmm_spec §A.4 "Which tokens MuSc takes": CLIP the raw residual stream after
 * block b (CLS included); DINO/timm block b's output through the final LayerNorm (CLS included);
 * DINOv2 the final-LayerNorm-ed patch tokens without CLS. Blocks are numbered from 1. */
#ifndef ANCD_VIT_H
#define ANCD_VIT_H

#include <stdint.h>

#include "arena.h"
#include "ops.h"

typedef enum { VIT_TIMM = 0, VIT_DINO, VIT_DINOV2, VIT_CLIP } vit_family;
typedef enum { VIT_ACT_GELU = 0, VIT_ACT_QUICK_GELU } vit_activation;

typedef struct {
  vit_family family;
  int dim, depth, heads, patch, mlp_dim;
  int pos_grid;  /* side of the learned positional grid (native image size / patch) */
  int embed_dim; /* CLIP: width of proj; 0 otherwise */
  int n_classes; /* classifier head outputs; 0 when there is no head */
  int patch_bias, qkv_bias, layerscale, ln_pre;
  float ln_eps;
  vit_activation act;
} vit_desc;

typedef struct {
  const float *ln1_w, *ln1_b;
  const float *qkv_w, *qkv_b; /* [3D, D], [3D] (q | k | v); qkv_b may be NULL */
  const float *proj_w, *proj_b;
  const float *ls1, *ls2; /* LayerScale gammas [D] or NULL */
  const float *ln2_w, *ln2_b;
  const float *fc1_w, *fc1_b; /* [M, D], [M] */
  const float *fc2_w, *fc2_b; /* [D, M], [D] */
} vit_block_weights;

/* Host fp32 weights in one canonical layout (loaders convert every key convention to it). */
typedef struct {
  const float *patch_w;             /* [D, 3, P, P] */
  const float *patch_b;             /* [D] or NULL */
  const float *cls;                 /* [D] */
  const float *pos;                 /* [1 + g*g, D], CLS row first */
  const float *ln_pre_w, *ln_pre_b; /* CLIP only */
  vit_block_weights *blocks;        /* [depth] */
  const float *norm_w, *norm_b;     /* final LayerNorm (CLIP: ln_post) */
  const float *proj;                /* CLIP: [D, embed_dim] (x @ proj) */
  const float *head_w, *head_b;     /* [n_classes, D], [n_classes] */
} vit_weights;

/* Deterministic random weights for an architecture name such as "vit_tiny_patch16",
 * "vit_small_patch16", "vit_base_patch16" (timm layout, 224 px, with a 1000-class head), drawn
 * from seed. Fills desc and weights; *storage is one malloc'ed block to free. */
int vit_random(vit_desc *desc, vit_weights *w, float **storage, const char *arch, uint64_t seed);
/* Random weights for any description (every tensor the family has: LayerScale, ln_pre, proj,
 * head), drawn from seed: matrices and embeddings trunc-normal with std 0.02. spread = 0 gives
 * timm's init (LayerNorm weight 1, biases 0, LayerScale 1); spread > 0 draws those around it with
 * that std, so tests see every parameter. *storage is one malloc'ed block to free. */
void vit_random_weights(vit_weights *w, float **storage, const vit_desc *d, uint64_t seed,
                        float spread);

/* Positional-embedding resize (musc_hetmm_spec §A.4.2): the patch grid g x g -> h x w with
 * PyTorch bicubic (a = -0.75, align_corners=False, edge-clamped taps).
 * scale_offset = 0: by target size (CLIP); > 0: DINO/DINOv2's scale_factor form
 * ((h + offset) / g), which samples at slightly different coordinates. grid [g*g, D] (the patch
 * rows of pos, without CLS), out [h*w, D]. When h == w == g the grid is copied unchanged, as every
 * family does. */
void vit_resize_pos_grid(float *out, const float *grid, int g, int h, int w, int D,
                         float scale_offset);
/* timm's resample_abs_pos_embed (bicubic, antialias=True): PyTorch's antialiased bicubic, which
 * uses a = -0.5, widens the support by the scale when shrinking, drops taps outside the grid and
 * renormalises the weights. g x g -> h x w, out [h*w, D]. */
void vit_resize_pos_grid_aa(float *out, const float *grid, int g, int h, int w, int D);

typedef struct vit_model vit_model;

/* Uploads the weights to the backend and sizes an arena for batches of up to max_batch images of
 * image_h x image_w (multiples of the patch). The positional embedding is resized once here. */
int vit_create(vit_model **m, const vit_desc *desc, const vit_weights *w, const ops *o,
               int max_batch, int image_h, int image_w);
void vit_free(vit_model *m);

/* Tokens per tap for the family (CLS included or not) and their count. */
int vit_tap_tokens(const vit_model *m);
/* Peak bytes of backend memory (weights + arena high-water mark). */
size_t vit_peak_bytes(const vit_model *m);

/* Forward of B images (host, [B,3,H,W], already normalised). Any output may be NULL.
 * taps: n_taps block numbers (1-based); tap_out[i] host [B, vit_tap_tokens, dim].
 * embed: host [B, E] image-level embedding for RsCIN (CLIP: ln_post(CLS) @ proj, L2-normalised;
 * DINO/DINOv2/timm: final-LN CLS). logits: host [B, n_classes] (timm head). */
int vit_forward(vit_model *m, const float *images, int B, const int *taps, int n_taps,
                float **tap_out, float *embed, float *logits);

/* Each family's usual input mean/std (RGB): CLIP's for CLIP, ImageNet's for DINO, DINOv2 and
 * timm (timm's augreg checkpoints want 0.5/0.5: set backbone.mean/std). */
void vit_family_norm(vit_family f, float mean[3], float std[3]);
/* out [3, h, w] = (rgb / 255 - mean[c]) / std[c] from interleaved RGB h x w x 3. */
void vit_normalize_image(float *out, const uint8_t *rgb, int w, int h, const float mean[3],
                         const float std[3]);

/* FLOPs of one image's forward (multiply-add = 2), for benchmarks. */
double vit_flops(const vit_desc *d, int image_h, int image_w);

#endif
