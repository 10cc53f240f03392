/* The MGViT of a category as `train` and `classify` build it from the config (anomalyncd_spec
 * §5.1-§5.4): the backbone, grad_from_block, mask_layers, the projector widths and the heads of
 * C = base + novel classes, and the parameters of a model.h5 put back into it. */
#ifndef ANCD_NCD_MODEL_H
#define ANCD_NCD_MODEL_H

#include "config.h"
#include "detect_inputs.h"
#include "mgvit.h"
#include "model_h5.h"
#include "regions_h5.h"

#define NCD_IMAGE_SIZE 224   /* §5.7: the network input side (AUGMENT_SIZE) */
#define NCD_PROJ_HIDDEN 2048 /* §5.4: the projector MLP D -> 2048 -> 2048 -> 256 */
#define NCD_PROJ_OUT 256

/* Loads the backbone into bb and builds *m for n_classes classes and max_batch rows per forward.
 * A grad_from_block or mask_layers beyond the depth is a usage error naming the key's origin
 * (cs, category). Returns 0, ANCD_EXIT_USAGE or ANCD_EXIT_INPUT (the reason in ancd_error()). */
int ncd_model_create(mgvit **m, detect_backbone *bb, const config *c, const config_set *cs,
                     const char *category, int n_classes, int max_batch);

/* Puts the parameters of s (read from dir/model.h5), and its momentum when with_momentum, into m
 * by tensor name; a tensor that does not fit, or a different tensor count, is an error. */
int ncd_model_restore(mgvit *m, const model_state *s, const char *dir, int with_momentum);

/* The §5.7 test transform of crops [n] with their masks, through m in batches of its max_batch:
 * f [n, D] the CLS features (NULL: not kept) and logits [n, MGVIT_HEADS, C] the heads' cosines
 * (crop-major; NULL: not computed). With the parameters of model.h5 this is §6's inference; with
 * the freshly built model, f is the pretrained backbone's feature of each crop. */
int ncd_model_infer(float *f, float *logits, mgvit *m, const regions_crop *crops, int n,
                    const float mean[3], const float std[3]);

#endif
