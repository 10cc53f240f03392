/* The MGViT of AnomalyNCD's mask-guided representation learning (anomalyncd_spec §5.1-§5.4):
 * a ViT whose blocks from grad_from_block on are trained, with mask-guided attention on the CLS
 * query of the last mask_layers blocks, the CLS token after the frozen final LayerNorm as the
 * feature f, the projector MLP f -> z, and 4 weight-normalised cosine classifiers whose
 * prototypes v are trained (the classifier itself runs on the host: ncd_loss.h).
 *
 * Every trainable tensor lives in one contiguous backend buffer, and so do their gradients and
 * the SGD momentum, in the same layout (a table of named tensors), so an all-reduce or a
 * checkpoint is one call. A step: mgvit_forward (keeps what the backward needs), the losses on
 * the host, mgvit_backward (gradients, overwritten), mgvit_sgd_step. */
#ifndef ANCD_MGVIT_H
#define ANCD_MGVIT_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "vit.h"

#define MGVIT_HEADS 4 /* classifier heads (§5.4) */

typedef struct {
  int grad_from_block; /* 1-based first trained block (the reference: 12 of 12) */
  int mask_layers;     /* the last mask_layers blocks use mask-guided attention (9 of 12) */
  int proj_hidden;     /* projector hidden width (2048) */
  int proj_out;        /* projector output width (256) */
  int n_classes;       /* C = base classes + novel classes */
  int max_batch;       /* rows per forward (2 views x samples) */
  int image_size;      /* square input side, a multiple of the patch */
} mgvit_config;

/* One trainable tensor: a name as PyTorch's state dict would have it (timm block names,
 * "head.mlp.{0,2,4}.{weight,bias}", "head.last_layer.{h}.weight_v"), its offset (floats) in the
 * buffers, its element count and shape. */
typedef struct {
  char name[64];
  size_t offset, n;
  int ndim, shape[2];
} mgvit_tensor;

typedef struct mgvit mgvit;

/* Builds the model on backend o from a ViT description and its host weights (the trained blocks
 * are copied into the trainable buffer), with the heads initialised from seed as §5.4 (MLP
 * weights truncated normal std 0.02 cut at +-2, biases 0, v ~ U(-1/sqrt(D), 1/sqrt(D))). The
 * config is checked: a bad grad_from_block or mask_layers is an error naming the depth. */
int mgvit_create(mgvit **m, const vit_desc *desc, const vit_weights *w, const ops *o,
                 const mgvit_config *cfg, uint64_t seed);
void mgvit_free(mgvit *m);

/* The tensor table and the three buffers (backend memory, n floats each). */
int mgvit_n_tensors(const mgvit *m);
const mgvit_tensor *mgvit_tensor_at(const mgvit *m, int i);
const mgvit_tensor *mgvit_find(const mgvit *m, const char *name);
size_t mgvit_n_params(const mgvit *m);
float *mgvit_params(mgvit *m);
float *mgvit_grads(mgvit *m);
float *mgvit_momentum(mgvit *m);
/* Host copies of a tensor (by table entry) in and out of one of the buffers. */
void mgvit_tensor_get(const mgvit *m, const float *buffer, const mgvit_tensor *t, float *host);
void mgvit_tensor_set(mgvit *m, float *buffer, const mgvit_tensor *t, const float *host);
/* The first tensor of buffer (params, grads or momentum) holding a NaN or Inf, or NULL; *index
 * gets the element. So a training step can stop naming the parameter (issue 9 "Bad input"). */
const mgvit_tensor *mgvit_first_nonfinite(const mgvit *m, const float *buffer, size_t *index);
/* The prototypes v of head h, host [C, D] (kept in step with the parameters). */
const float *mgvit_prototypes(const mgvit *m, int h);
int mgvit_dim(const mgvit *m);
/* The configuration the model was built with. */
const mgvit_config *mgvit_get_config(const mgvit *m);
/* Model FLOPs of one step on N rows (multiply-add = 2): the forward of every block and the
 * projector, and twice the forward of what is trained (its input and weight gradients);
 * recomputation in the backward is not counted (as MFU counts). */
double mgvit_step_flops(const vit_desc *d, const mgvit_config *c, int N);
/* Peak backend bytes (weights, trainable buffers, activations). */
size_t mgvit_peak_bytes(const mgvit *m);

/* The patch-keep bias of §5.3 for N masks [N, S, S] in [0, 1] (host): bias [N, T] with 0 for
 * the CLS column and for every patch whose mean mask over its P x P window is >= 0.5, -1e9
 * otherwise. NULL masks: no masking (all 0). */
void mgvit_mask_bias(float *bias, const float *masks, int N, int S, int P);

/* Forward of N <= max_batch images (host [N,3,S,S], normalised) with their masks (host
 * [N,S,S] or NULL). f host [N, D]: the CLS after the final LayerNorm; z host [N, proj_out]. */
int mgvit_forward(mgvit *m, const float *images, const float *masks, int N, float *f, float *z);
/* Backward of the last forward: from dL/df host [N, D] (the classifier's), dL/dz host
 * [N, proj_out] and dL/dv host [MGVIT_HEADS, C, D], writes every trainable gradient into
 * mgvit_grads (overwriting the previous step's). */
int mgvit_backward(mgvit *m, const float *df, const float *dz, const float *dv, int N);
/* Zeroes every gradient (a process without rows in a batch still joins the gradient sum). */
void mgvit_zero_grads(mgvit *m);
/* PyTorch SGD over every trainable tensor (§5.6): momentum 0.9, dampening 0, weight decay wd on
 * tensors of 2 or more dimensions only; first_step starts the momentum buffers. */
void mgvit_sgd_step(mgvit *m, float lr, float momentum, float weight_decay, int first_step);

#endif
