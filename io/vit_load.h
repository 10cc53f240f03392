/* ViT weights from a safetensors file: the key convention (timm/DINO `blocks.N.attn.qkv`,
 * DINOv2 `ls1/ls2`, Hugging Face `vit.encoder.layer.N` / `dinov2` / CLIP `vision_model`, OpenAI
 * CLIP / open_clip `visual.transformer.resblocks.N`) is recognised from the names and the
 * architecture (dim, depth, heads, patch, grid, MLP, head) inferred from the shapes; separate
 * q/k/v are fused. Heads are not stored in checkpoints: the loader takes head_dim 64, the
 * convention of every family listed (ViT-Ti: 3 heads of 64), unless the config says otherwise. */
#ifndef ANCD_VIT_LOAD_H
#define ANCD_VIT_LOAD_H

#include "vit.h"

typedef struct {
  vit_desc desc;
  vit_weights w;
  float *storage; /* one block holding every converted tensor */
  vit_block_weights *blocks;
  char convention[32]; /* "timm", "dinov2", "hf-vit", "hf-dinov2", "hf-clip", "openai-clip" */
} vit_checkpoint;

/* family_hint: "auto" or a family name (config backbone.family); activation: "auto" | "gelu" |
 * "quick_gelu" (auto: QuickGELU for OpenAI CLIP weights, GELU otherwise). */
int vit_load(vit_checkpoint *ck, const char *path, const char *family_hint,
             const char *activation);
void vit_checkpoint_free(vit_checkpoint *ck);
/* One paragraph describing the architecture, for `ancd info --weights`. */
void vit_describe(char *out, size_t n, const vit_checkpoint *ck);

#endif
