/* HETMM's backbone hook (musc_hetmm_spec §B.4): whatever network gives per-layer feature maps
 * [B, C_l, h_l, w_l] of a preprocessed image batch. The ViT of the core is one (detect.layers
 * taps, CLS dropped, patch tokens reshaped to the h x w grid); a WideResNet plugs in by filling the
 * same struct (layer shapes, forward, free). HETMM L2-normalises each pixel's channel vector
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

/* feats[l] [B, h_l, w_l, C_l] = per-pixel L2-normalised maps[l] (F.normalize, eps 1e-12), the
 * layout the matching reads. */
void hetmm_features(float **feats, float *const *maps, const hetmm_backbone *bb, int B);

#endif
