/* The WideResNet backbone of HETMM (musc_hetmm_spec §B.4): torchvision's ResNet with Bottleneck
 * blocks (v1.5: the stride is on the 3x3 conv), run with the op table up to layer3.
 *   wide_resnet50_2:  blocks [3, 4, 6],  inner widths 128/256/512, outputs 256/512/1024
 *   wide_resnet101_2: blocks [3, 4, 23], same widths (HETMM's default backbone)
 *   resnet50/101 and narrower test models are the same description with other numbers.
 * Stem: 7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max pool. BatchNorm is eval mode (running
 * statistics, eps 1e-5) and is folded into the conv weights and a bias at wrn_create.
 *
 * Outputs (§B.4, D.3 item 3): layer l's output is the LAST block's output BEFORE its final ReLU
 * (HETMM's resnet.py; it can be negative). The trunk still applies that ReLU before the next
 * stage, so it computes torchvision's function: relu(layer_l) is torchvision's layer_l output.
 * With WRN_NORMALIZE each pixel's channel vector is divided by max(||v||_2, 1e-12), as HETMM's
 * BASE.forward does (F.normalize(v, p=2, dim=1)).
 *
 * For an H x W input: stem conv Ho = (H - 1) / 2 + 1, pool Ho' = (Ho - 1) / 2 + 1;
 * layer1 at Ho', layer2 at (Ho' - 1) / 2 + 1, layer3 at half of that again (integer division);
 * 256 x 256 gives layer1 [C 256, 64 x 64], layer2 [512, 32 x 32], layer3 [1024, 16 x 16].
 *
 * Typical use (HETMM): wrn_load (io/wrn_load.h) or wrn_random, then
 *   wrn_create(&m, &desc, &weights, ops, max_batch, 256, 256);
 *   wrn_layer_shapes(C, Hl, Wl, &desc, 256, 256);      // to size the outputs
 *   wrn_forward(out, m, images, B, WRN_NORMALIZE);      // images: [B,3,256,256] normalised
 * with images normalised by wrn_hetmm_norm's mean/std (vit_normalize_image does the arithmetic). */
#ifndef ANCD_WIDERESNET_H
#define ANCD_WIDERESNET_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

#define WRN_STAGES 3 /* layer1..layer3; layer4 is never needed (§B.4 "Only layers 1, 2, 3") */

typedef struct {
  int stem;               /* conv1 output channels (64) */
  int blocks[WRN_STAGES]; /* Bottleneck blocks per stage */
  int width[WRN_STAGES];  /* inner width: conv1 and conv2 outputs of each block */
  int out[WRN_STAGES];    /* stage output channels: conv3 and downsample outputs */
  float bn_eps;           /* BatchNorm eps (torchvision: 1e-5) */
} wrn_desc;

/* One conv and the BatchNorm after it, host fp32, as torchvision stores them. */
typedef struct {
  const float *w;                              /* [Cout, Cin, k, k] */
  const float *bn_w, *bn_b, *bn_mean, *bn_var; /* [Cout] weight, bias, running stats */
} wrn_conv;

typedef struct {
  wrn_conv conv1; /* 1x1 Cin -> width, bn1 */
  wrn_conv conv2; /* 3x3 width -> width, stride 2 in the first block of layer2/3, bn2 */
  wrn_conv conv3; /* 1x1 width -> out, bn3 */
  wrn_conv down;  /* downsample.0 (1x1, the block's stride) + downsample.1; w NULL: none */
} wrn_block_weights;

/* Host weights: the stem, then every block of layer1, layer2, layer3 in order. Block 0 of each
 * stage must have `down` (its input has other channels or resolution), the others must not. */
typedef struct {
  wrn_conv stem; /* conv1 [stem, 3, 7, 7] + bn1 */
  wrn_block_weights *blocks;
} wrn_weights;

/* Architecture by torchvision name: wide_resnet50_2, wide_resnet101_2, resnet50, resnet101. */
int wrn_arch(wrn_desc *d, const char *arch);
/* Blocks over the three stages. */
int wrn_total_blocks(const wrn_desc *d);

/* Deterministic random weights for d from seed, reproducible outside C (tests/golden/
 * gen_wrn_golden.py draws the same numbers): tensors in torchvision's state_dict order, tensor t
 * from stream s_t = rng_u64_at(seed, t), element i from u = rng_uniform_at(s_t, i):
 *   conv weight (2u - 1) * sqrt(6 / fan_in)  (He uniform),  BN weight 0.5 + 0.5u,
 *   BN bias and running_mean (2u - 1) * 0.1,  running_var 0.5 + u;
 * each value computed in double and rounded to float. *storage is one malloc'ed block to free
 * (it also holds the block array). */
void wrn_random_weights(wrn_weights *w, float **storage, const wrn_desc *d, uint64_t seed);
/* wrn_arch + wrn_random_weights. */
int wrn_random(wrn_desc *d, wrn_weights *w, float **storage, const char *arch, uint64_t seed);

/* Channels and spatial size of layer1..3 for an H x W input. */
void wrn_layer_shapes(int C[WRN_STAGES], int Hl[WRN_STAGES], int Wl[WRN_STAGES], const wrn_desc *d,
                      int H, int W);

typedef struct wrn_model wrn_model;

/* Folds the BatchNorms, uploads the weights to the backend and sizes one arena for batches of up
 * to max_batch images of image_h x image_w (each at least 1). -1 with ancd_error on a bad
 * description, missing weights or sizes. */
int wrn_create(wrn_model **m, const wrn_desc *d, const wrn_weights *w, const ops *o, int max_batch,
               int image_h, int image_w);
void wrn_free(wrn_model *m);
/* The most im2col floats a model created afterwards holds (0: the default, 32 Mi = 128 MiB):
 * batches whose columns do not fit run each conv on chunks of whole images. For tests. */
void wrn_set_cols_budget(size_t floats);
/* Peak bytes of backend memory (folded weights + arena). */
size_t wrn_peak_bytes(const wrn_model *m);

enum {
  WRN_NORMALIZE = 1,     /* unit channel vector per pixel (HETMM BASE.forward, eps 1e-12) */
  WRN_CHANNELS_LAST = 2, /* outputs [B, H_l, W_l, C_l] instead of [B, C_l, H_l, W_l] */
};

/* Forward of B (1..max_batch) images, host [B, 3, H, W] already normalised, to the host outputs
 * layer_out[l] (l = 0, 1, 2 for layer1..3): [B, C_l, H_l, W_l] (row-major; channels last with
 * WRN_CHANNELS_LAST), pre-ReLU as described above. A NULL layer_out[l] is not written; the
 * trunk stops after the deepest requested stage. flags: WRN_NORMALIZE | WRN_CHANNELS_LAST. */
int wrn_forward(float *layer_out[WRN_STAGES], wrn_model *m, const float *images, int B,
                unsigned flags);

/* HETMM's input normalisation (§B.2, D.3 item 1): ImageNet's mean with the typo'd green std
 * 0.256: mean (0.485, 0.456, 0.406), std (0.229, 0.256, 0.225). */
void wrn_hetmm_norm(float mean[3], float std[3]);

/* FLOPs of one image up to layer3 (multiply-add = 2, the convs only: BN is folded, ReLU, pool
 * and residual adds are not counted), for benchmarks. */
double wrn_flops(const wrn_desc *d, int image_h, int image_w);

#endif
