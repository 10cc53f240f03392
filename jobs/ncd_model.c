/* The MGViT of a category from the config (ncd_model.h). */
#include "ncd_model.h"

#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "error.h"
#include "log.h"
#include "ncd_classifier.h"
#include "ops.h"

int ncd_model_create(mgvit **m, detect_backbone *bb, const config *c, const config_set *cs,
                     const char *category, int n_classes, int max_batch) {
  int rc = detect_backbone_load(bb, c, 1);
  if (rc)
    return rc;
  const int depth = bb->desc.depth;
  mgvit_config mc = {.grad_from_block = c->train.grad_from_block ? c->train.grad_from_block : depth,
                     .mask_layers = c->train.mask_layers,
                     .proj_hidden = NCD_PROJ_HIDDEN,
                     .proj_out = NCD_PROJ_OUT,
                     .n_classes = n_classes,
                     .max_batch = max_batch,
                     .image_size = NCD_IMAGE_SIZE};
  if (mc.grad_from_block > depth || mc.mask_layers > depth) {
    const char *key = mc.grad_from_block > depth ? "train.grad_from_block" : "train.mask_layers";
    ancd_errorf("%s: %s %d: the backbone has %d blocks", config_origin(cs, category, key), key,
                mc.grad_from_block > depth ? mc.grad_from_block : mc.mask_layers, depth);
    return ANCD_EXIT_USAGE;
  }
  const ops *o = ops_select(c->device);
  if (!o)
    return ANCD_EXIT_USAGE;
  if (mgvit_create(m, &bb->desc, &bb->w, o, &mc, (uint64_t)c->seed))
    return ANCD_EXIT_INPUT;
  return 0;
}

int ncd_model_restore(mgvit *m, const model_state *s, const char *dir, int with_momentum) {
  size_t at = 0;
  for (int i = 0; i < s->n_tensors; i++) {
    const mgvit_tensor *t = mgvit_find(m, s->names[i]);
    if (!t || (int64_t)t->n != s->sizes[i])
      return ancd_errorf("%s/%s: tensor %s does not fit this model", dir, MODEL_FILE, s->names[i]);
    mgvit_tensor_set(m, mgvit_params(m), t, s->params + at);
    if (with_momentum)
      mgvit_tensor_set(m, mgvit_momentum(m), t, s->momentum + at);
    at += (size_t)s->sizes[i];
  }
  if (s->n_tensors != mgvit_n_tensors(m))
    return ancd_errorf("%s/%s: %d tensors, this model trains %d", dir, MODEL_FILE, s->n_tensors,
                       mgvit_n_tensors(m));
  return 0;
}

int ncd_model_infer(float *f, float *logits, mgvit *m, const regions_crop *crops, int n,
                    const float mean[3], const float std[3]) {
  const mgvit_config *mc = mgvit_get_config(m);
  const int B = mc->max_batch, D = mgvit_dim(m), C = mc->n_classes, H = MGVIT_HEADS;
  const size_t px = (size_t)NCD_IMAGE_SIZE * NCD_IMAGE_SIZE;
  float *images = xmalloc((size_t)B * 3 * px * sizeof *images);
  float *masks = xmalloc((size_t)B * px * sizeof *masks);
  float *fb = xmalloc((size_t)B * D * sizeof *fb),
        *zb = xmalloc((size_t)B * mc->proj_out * sizeof *zb);
  float *lb = xmalloc((size_t)H * B * C * sizeof *lb);
  int rc = 0;
  for (int b0 = 0; b0 < n && rc == 0; b0 += B) {
    const int nb = n - b0 < B ? n - b0 : B;
    for (int i = 0; i < nb; i++) {
      const regions_crop *c = &crops[b0 + i];
      augment_test(images + (size_t)i * 3 * px, masks + (size_t)i * px, c->pixels.data,
                   c->mask.data, c->pixels.w, c->pixels.h, mean, std);
    }
    rc = mgvit_forward(m, images, masks, nb, fb, zb);
    if (rc == 0 && f)
      memcpy(f + (size_t)b0 * D, fb, (size_t)nb * D * sizeof *fb);
    if (rc == 0 && logits) {
      ncd_classifier_forward(lb, fb, mgvit_prototypes(m, 0), nb, D, C, H);
      for (int h = 0; h < H; h++) /* [H, nb, C] -> crop-major [n, H, C] */
        for (int i = 0; i < nb; i++)
          memcpy(logits + ((size_t)(b0 + i) * H + h) * C, lb + ((size_t)h * nb + i) * C,
                 (size_t)C * sizeof *lb);
    }
  }
  free(images), free(masks), free(fb), free(zb), free(lb);
  return rc;
}
