/* ViT weights from a safetensors file: the key convention (timm/DINO `blocks.N.attn.qkv`,
 * DINOv2 `ls1/ls2`, Hugging Face `vit.encoder.layer.N` / `dinov2` / CLIP `vision_model`, OpenAI
 * CLIP / open_clip `visual.transformer.resblocks.N`) is recognised from the names and the
 * architecture (dim, depth, heads, patch, grid, MLP, head) inferred from the shapes; separate
 * q/k/v are fused, Hugging Face CLIP's visual_projection transposed to proj [D, E].
 *
 * What a checkpoint does not store is a documented default per convention:
 *   heads:  a "heads" entry in the safetensors __metadata__ when present, else dim / 64 (head
 *           dim 64 is the convention of every family listed: ViT-Ti 3 heads, ViT-L 16); a dim
 *           that is not a multiple of 64 without that entry is an error. The caller may still
 *           overwrite desc.heads (e.g. from a config) before vit_create.
 *   LN eps: 1e-6 timm / DINO / DINOv2 (both namings), 1e-12 Hugging Face ViT (layer_norm_eps),
 *           1e-5 CLIP (both namings).
 *   family: timm when a classifier head exists, else dino (dinov2 for LayerScale checkpoints
 *           without a head); CLIP conventions are clip. A family_hint may choose among the
 *           families a convention allows (timm/dino for plain ViTs) and is an error otherwise. */
#ifndef ANCD_VIT_LOAD_H
#define ANCD_VIT_LOAD_H

#include <stddef.h>

#include "config.h"
#include "vit.h"

typedef struct {
  vit_desc desc;
  vit_weights w;
  float *storage; /* one block holding every converted tensor */
  vit_block_weights *blocks;
  char convention[32]; /* "timm", "dinov2", "hf-vit", "hf-dinov2", "hf-clip", "openai-clip" */
  size_t n_params;     /* floats in storage (every parameter that was loaded) */
} vit_checkpoint;

/* family_hint: "auto" or a family name (config backbone.family: clip | dino | dinov2 | timm);
 * activation: "auto" | "gelu" | "quick_gelu" (auto: QuickGELU for the CLIP conventions, whose
 * OpenAI weights were trained with it, GELU otherwise). NULL means "auto". On failure ck is left
 * empty and the error names the file and the key. */
int vit_load(vit_checkpoint *ck, const char *path, const char *family_hint, const char *activation);
void vit_checkpoint_free(vit_checkpoint *ck);

/* musc §A.4.2 "Activation": the MuSc reference runs OpenAI CLIP weights with QuickGELU only at
 * the native size (pos_grid x patch) and with exact GELU at any other size. With activation
 * "auto" and a CLIP desc, sets d->act that way for image_size; "gelu" / "quick_gelu" win; other
 * families keep GELU under "auto". */
void vit_resolve_clip_activation(vit_desc *d, const char *activation, int image_size);

/* The input normalisation for a backbone: backbone.mean/std when given (1 value is used for all
 * 3 channels), else the family's default. -1 with the key named when a list has 2 values. */
int vit_norm_from_config(float mean[3], float std[3], const cfg_backbone *b, vit_family f);

/* One paragraph describing the architecture, for `ancd info --weights`, e.g.
 * "timm ViT: dim 192, depth 12, heads 3, patch 16, grid 14x14 (224 px), mlp 768, LN eps 1e-06,
 * GELU, CLS, head 1000 classes, 5.7 M parameters". */
void vit_describe(char *out, size_t n, const vit_checkpoint *ck);

#endif
