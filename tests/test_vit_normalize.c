/* Input normalisation: family defaults (musc_hetmm_spec §A.4.1), config overrides, and the
 * ToTensor + Normalize arithmetic. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "test_util.h"
#include "vit.h"
#include "vit_load.h"

int main(void) {
  float mean[3], std[3];
  vit_family_norm(VIT_CLIP, mean, std);
  CHECK(mean[0] == 0.48145466f && std[2] == 0.27577711f, "CLIP mean/std");
  vit_family_norm(VIT_DINOV2, mean, std);
  CHECK(mean[1] == 0.456f && std[0] == 0.229f, "ImageNet mean/std for DINOv2");

  config_set *cs = malloc(sizeof *cs);
  config_defaults(cs);
  CHECK(vit_norm_from_config(mean, std, &cs->base.backbone, VIT_DINO) == 0 && mean[2] == 0.406f,
        "empty lists give the family default");
  CHECK(config_set_kv(cs, "backbone.mean=[0.5]") == 0 &&
            config_set_kv(cs, "backbone.std=[0.1, 0.2, 0.3]") == 0,
        "%s", ancd_error());
  CHECK(vit_norm_from_config(mean, std, &cs->base.backbone, VIT_CLIP) == 0 && mean[0] == 0.5f &&
            mean[2] == 0.5f && std[1] == 0.2f,
        "one value broadcast, three taken as RGB");
  CHECK(config_set_kv(cs, "backbone.std=[0.1, 0.2]") == 0, "%s", ancd_error());
  CHECK(vit_norm_from_config(mean, std, &cs->base.backbone, VIT_CLIP) != 0 &&
            strstr(ancd_error(), "backbone.std") != NULL,
        "two values are an error naming the key: %s", ancd_error());
  free(cs);

  /* 2 x 1 image: pixel (255, 0, 51), pixel (0, 255, 102); planes out. */
  const uint8_t rgb[6] = {255, 0, 51, 0, 255, 102};
  const float m[3] = {0.5f, 0.5f, 0.2f}, s[3] = {0.5f, 0.25f, 0.2f};
  float out[6];
  vit_normalize_image(out, rgb, 2, 1, m, s);
  const float want[6] = {1.0f, -1.0f, -2.0f, 2.0f, 0.0f, 1.0f};
  for (int i = 0; i < 6; i++)
    CHECK_NEAR(out[i], want[i], 1e-6);
  return test_done("test_vit_normalize");
}
