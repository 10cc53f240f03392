/* HETMM's backbone hook (musc_hetmm_spec §B.4): whatever network gives per-layer feature maps
 * [B, C_l, h_l, w_l] of a preprocessed image batch. The ViT of the core is one (detect.layers
 * taps, CLS dropped, patch tokens reshaped to the h x w grid); the WideResNet (layer1..3) is the
 * other (hetmm_backbone_wrn.c). HETMM L2-normalises each pixel's channel vector
 * itself (hetmm_features). */
#ifndef ANCD_HETMM_BACKBONE_H
#define ANCD_HETMM_BACKBONE_H

#include "detect_inputs.h"
#include "hetmm.h"

typedef struct hetmm_backbone hetmm_backbone;
struct hetmm_backbone {
  int n_layers;
  int C[HETMM_MAX_LAYERS], h[HETMM_MAX_LAYERS], w[HETMM_MAX_LAYERS];
  int max_batch;    /* forward takes at most this many images */
  const char *text; /* one line naming the network and its weights (logs, templates.h5) */
  void *ctx;
  /* maps[l] (host) [B, C_l, h_l, w_l] of images [B, 3, S, S] (normalised as detect_backbone
   * says). 0, or an ANCD_EXIT_* code with ancd_error() set. */
  int (*forward)(hetmm_backbone *bb, float **maps, const float *images, int B);
  void (*free)(hetmm_backbone *bb);
};

/* The ViT of vit (detect_backbone_load) as a hetmm_backbone with the taps of detect.layers. */
void hetmm_backbone_vit(hetmm_backbone *bb, detect_backbone *vit, const int *layers, int n_layers,
                        int max_batch);

/* HETMM's WideResNet (issue 14, §B.3-§B.4; detect_backbone_is_wrn says when backbone.* names
 * one): backbone.weights random (backbone.arch drawn from seed) or a torchvision safetensors file,
 * detect.layers = stages 1..3 (layer1..layer3, pre-ReLU), input side detect.image_size (a multiple
 * of 16), normalisation backbone.mean/std or else wrn_hetmm_norm, Pillow bilinear resize. Fills
 * in (S, mean, std, resize, text; no ViT) and the hook bb for batches of up to max_batch. 0, or
 * ANCD_EXIT_USAGE / ANCD_EXIT_INPUT with ancd_error() set; bb->free (when set) frees it either
 * way. */
int hetmm_backbone_wrn(hetmm_backbone *bb, detect_backbone *in, const config *c, int max_batch);

/* feats[l] [B, h_l, w_l, C_l] = per-pixel L2-normalised maps[l] (F.normalize, eps 1e-12), the
 * layout the matching reads. */
void hetmm_features(float **feats, float *const *maps, const hetmm_backbone *bb, int B);

#endif
