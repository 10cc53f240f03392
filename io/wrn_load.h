/* WideResNet / ResNet weights from a safetensors file with torchvision's key names
 * (musc_hetmm_spec §B.4): `conv1.weight`, `bn1.*`, `layer{s}.{b}.conv{1,2,3}.weight`,
 * `layer{s}.{b}.bn{1,2,3}.{weight,bias,running_mean,running_var}`,
 * `layer{s}.0.downsample.{0,1}.*`, optionally under a `module.` prefix (DataParallel saves).
 * The architecture (stem width, blocks per stage, inner widths, outputs) is inferred from the
 * shapes, so wide_resnet50_2, wide_resnet101_2, resnet50/101 and narrower models all load; every
 * other tensor is then checked against it. Only what layer1..3 need is read: layer4, fc and the
 * int64 num_batches_tracked buffers are ignored. BatchNorm eps is torchvision's 1e-5 (not stored).
 * Convert a torchvision checkpoint with
 *   m = torchvision.models.wide_resnet101_2(weights="IMAGENET1K_V1")
 *   safetensors.torch.save_file({k: v.contiguous() for k, v in m.state_dict().items()}, path) */
#ifndef ANCD_WRN_LOAD_H
#define ANCD_WRN_LOAD_H

#include <stddef.h>

#include "wideresnet.h"

typedef struct {
  wrn_desc desc;
  wrn_weights w;   /* host fp32 pointers into storage */
  float *storage;  /* one block holding every converted tensor */
  char prefix[16]; /* "" or "module." */
  size_t n_params; /* floats in storage */
} wrn_checkpoint;

/* On failure ck is left empty and the error names the file and the tensor (missing, wrong shape,
 * not a float). */
int wrn_load(wrn_checkpoint *ck, const char *path);
void wrn_checkpoint_free(wrn_checkpoint *ck);
/* 1 when the safetensors file has torchvision ResNet keys (layer1.0.conv1.weight, optionally
 * under module.), 0 when not (a ViT), -1 with ancd_error when it cannot be read. Header only. */
int wrn_probe(const char *path);

/* One line, e.g. "torchvision ResNet (Bottleneck): stem 64, blocks 3/4/23, widths
 * 128/256/512, outputs 256/512/1024, 68.9 M parameters to layer3". */
void wrn_describe(char *out, size_t n, const wrn_checkpoint *ck);

#endif
