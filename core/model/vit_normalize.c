/* Input normalisation of the ViT families (musc_hetmm_spec §A.4.1). */
#include <stdint.h>

#include "vit.h"

void vit_family_norm(vit_family f, float mean[3], float std[3]) {
  static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
  static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; c++) {
    mean[c] = f == VIT_CLIP ? clip_mean[c] : imagenet_mean[c];
    std[c] = f == VIT_CLIP ? clip_std[c] : imagenet_std[c];
  }
}

void vit_normalize_image(float *out, const uint8_t *rgb, int w, int h, const float mean[3],
                         const float std[3]) {
  long n = (long)w * h;
  for (int c = 0; c < 3; c++)
    for (long i = 0; i < n; i++) /* ToTensor (/255) then Normalize, as torchvision computes it */
      out[c * n + i] = ((float)rgb[i * 3 + c] / 255.0f - mean[c]) / std[c];
}
