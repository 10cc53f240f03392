/* The ViT as HETMM's backbone, and the feature layout of the matching (hetmm_backbone.h). */
#include "hetmm_backbone.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vit.h"

typedef struct {
  detect_backbone *vit;
  int layers[HETMM_MAX_LAYERS];
  float *taps[HETMM_MAX_LAYERS]; /* [max_batch, T, C] */
  float *embed;
} vit_hook;

/* Taps [B, T, C] (CLS first when present) -> [B, C, h, w]. */
static int vit_hook_forward(hetmm_backbone *bb, float **maps, const float *images, int B) {
  vit_hook *v = bb->ctx;
  const detect_backbone *d = v->vit;
  if (vit_forward(d->model, images, B, v->layers, bb->n_layers, v->taps, v->embed, NULL) != 0)
    return ANCD_EXIT_INPUT;
  const int has_cls = d->T - d->L;
  for (int l = 0; l < bb->n_layers; l++)
    for (int b = 0; b < B; b++)
      for (int p = 0; p < d->L; p++) {
        const float *src = v->taps[l] + ((size_t)b * d->T + has_cls + p) * d->C;
        for (int c = 0; c < d->C; c++)
          maps[l][((size_t)b * d->C + c) * d->L + p] = src[c];
      }
  return 0;
}

static void vit_hook_free(hetmm_backbone *bb) {
  vit_hook *v = bb->ctx;
  if (!v)
    return;
  for (int l = 0; l < bb->n_layers; l++)
    free(v->taps[l]);
  free(v->embed);
  free(v);
  bb->ctx = NULL;
}

void hetmm_backbone_vit(hetmm_backbone *bb, detect_backbone *vit, const int *layers, int n_layers,
                        int max_batch) {
  vit_hook *v = xcalloc(1, sizeof *v);
  v->vit = vit;
  *bb = (hetmm_backbone){.n_layers = n_layers,
                         .max_batch = max_batch,
                         .text = vit->text,
                         .ctx = v,
                         .forward = vit_hook_forward,
                         .free = vit_hook_free};
  for (int l = 0; l < n_layers; l++) {
    v->layers[l] = layers[l];
    v->taps[l] = xmalloc((size_t)max_batch * vit->T * vit->C * sizeof(float));
    bb->C[l] = vit->C;
    bb->h[l] = bb->w[l] = vit->h;
  }
  v->embed = xmalloc((size_t)max_batch * vit->E * sizeof(float));
}

void hetmm_features(float **feats, float *const *maps, const hetmm_backbone *bb, int B) {
  for (int l = 0; l < bb->n_layers; l++) {
    const int C = bb->C[l];
    const size_t P = (size_t)bb->h[l] * bb->w[l];
#pragma omp parallel for schedule(static)
    for (long bp = 0; bp < (long)(B * P); bp++) {
      const size_t b = (size_t)bp / P, p = (size_t)bp % P;
      const float *src = maps[l] + b * C * P + p;
      float *dst = feats[l] + ((size_t)b * P + p) * C;
      double ss = 0;
      for (int c = 0; c < C; c++)
        ss += (double)src[(size_t)c * P] * src[(size_t)c * P];
      const float n = (float)sqrt(ss), inv = n > 1e-12f ? n : 1e-12f;
      for (int c = 0; c < C; c++)
        dst[c] = src[(size_t)c * P] / inv;
    }
  }
}
