/* The inputs of `ancd detect`: the backbone, one image's network input, its pixel ground truth
 * at the map size, and the subset grouping of musc §A.6.5. Files in, buffers out; no MPI. */
#ifndef ANCD_DETECT_INPUTS_H
#define ANCD_DETECT_INPUTS_H

#include <stdint.h>

#include "config.h"
#include "dataset.h"
#include "image.h"
#include "musc.h"
#include "vit.h"
#include "vit_load.h"

/* The backbone of a category and what it implies (musc §A.4). */
typedef struct {
  vit_checkpoint *ck; /* NULL for random weights */
  float *storage;     /* random weights */
  vit_desc desc;
  vit_weights w;
  vit_model *model;
  float mean[3], std[3]; /* input normalisation */
  resize_mode resize;    /* CLIP: Pillow bicubic, others bilinear (Pillow <= 12 pass order) */
  int S, h, L, T, C, E;  /* input side, patch grid side, patches, tokens per tap, width,
                            image-embedding width */
  char text[1024];       /* one line for logs and the maps.h5 attribute */
} detect_backbone;

/* backbone.weights (a safetensors file, or random: backbone.arch drawn from seed), the CLIP
 * activation for detect.image_size, the normalisation, and the model on device for batches of up
 * to max_batch. Returns 0, ANCD_EXIT_INPUT (unreadable weights) or ANCD_EXIT_USAGE (unknown
 * arch, image size not a multiple of the patch, a tap beyond the depth, no such device), with
 * ancd_error() set. */
int detect_backbone_load(detect_backbone *b, const config *c, int max_batch);
void detect_backbone_free(detect_backbone *b);

/* 1 when backbone.* names a WideResNet / ResNet (issue 14, HETMM's backbone, §B.4):
 * backbone.weights random with a backbone.arch wrn_arch knows (wide_resnet50_2,
 * wide_resnet101_2, resnet50, resnet101), or a safetensors file with torchvision ResNet keys
 * (layer1.0.conv1.weight, optionally under module.). 0 for a ViT; -1 with ancd_error() when the
 * file cannot be read. what (may be NULL) gets "backbone.arch X" or "backbone.weights FILE" for
 * messages. detect_backbone_load refuses a WideResNet (only HETMM takes one). */
int detect_backbone_is_wrn(const config *c, char *what, size_t n);
/* The config-time check of a stage that takes a ViT: backbone.weights random with a WideResNet
 * backbone.arch is logged as an error (the stage's reason after it) and gives ANCD_EXIT_USAGE;
 * else 0. A file's keys are looked at when the backbone loads (detect_backbone_load). */
int detect_check_vit_arch(const config *c, const char *category, const char *reason);

/* musc §A.4.1: the image as RGB, squash-resized to S x S with mode (Pillow bicubic for CLIP,
 * bilinear otherwise; the *_PIL12 modes, since MuSc ran Pillow <= 12), normalised to
 * chw [3, S, S]. rgb_out [S, S, 3] (may be NULL) receives the resized pixels. */
int detect_load_image(float *chw, uint8_t *rgb_out, const char *path, int S, resize_mode mode,
                      const float mean[3], const float std[3]);

/* musc §A.3: out [S, S] 0/1, the ground truth of it at the map size. No mask: zeros.
 * MVTec rule (every layout but visa): the gray mask is binarized at 128 first (MTD's masks are
 * anti-aliased; MVTec's are 0/255 already, so this changes nothing there), resized with Pillow
 * bilinear (Pillow <= 12 pass order) and a pixel is positive iff it is exactly 255, as the
 * reference's int cast keeps only 1.0. visa rule: the raw mask resized, positive iff > 0.
 * A mask of another size than its image is first resized to the image size with nearest
 * (OpenCV INTER_NEAREST) and logged. */
int detect_load_mask(uint8_t *out, const ds_item *it, int S, int visa_rule);

/* The RsCIN windows detect applies: detect.rscin_windows, or none when detect.rscin is off, or
 * auto with references (issue 13: RsCIN is a zero-shot device; with normal references it lowers
 * MTD's image AUROC from 0.96 to 0.89). */
const cfg_ints *detect_rscin_windows(const config *c);

/* detect.reference_score as the MSM rule (issue 13). */
msm_ref_rule detect_reference_rule(const config *c);

/* musc §A.6.5: group[i] = the group of item i by the parent folder of its path (the defect type
 * in MVTec/BTAD, Anomaly/Normal in VisA), numbered in first-appearance order. */
void detect_parent_groups(int *group, const ds_item *items, int n);

#endif
