/* One AnomalyNCD training step of the real ViT-Ti/16 (../shared/data/weights, grad_from_block 12,
 * mask_layers 9) on 4 MTD crops x 2 views with their real masks, against the PyTorch golden of
 * tests/golden/gen_train_golden.py --real: losses and gradients within 1e-4 (train_golden.h).
 * Skipped when the shared weights are absent. */
#include "train_golden.h"
#include "vit.h"
#include "vit_load.h"

enum { B = 4, N = 8, S = 224, C = 10 };

int main(void) {
  const char *shared = test_shared_dir();
  char weights[4096], golden[4096];
  if (!shared)
    test_skip("../shared absent");
  PATHF(weights, "%s/data/weights/vit_tiny_patch16_224.safetensors", shared);
  if (!test_file_exists(weights))
    test_skip("the ViT-Ti/16 weights are absent");
  PATHF(golden, "%s/tests/golden/train/real_vit_ti_golden.safetensors", test_source_dir());
  vit_checkpoint ck;
  st_file g;
  if (vit_load(&ck, weights, "auto", "auto") != 0 || st_open(&g, golden) != 0) {
    CHECK(0, "%s", ancd_error());
    return test_done("real_train_golden");
  }
  /* Inputs as the golden's README says: view 1 = (u8/255 - 0.5)/0.5 in float, masks u8/255;
   * view 2 is view 1 rotated 90 degrees counter-clockwise: v2[c,y,x] = v1[c,x,S-1-y]. */
  const st_tensor *img = st_find(&g, "input.images_u8"), *msk = st_find(&g, "input.masks_u8");
  CHECK(img && msk && img->numel == (int64_t)B * S * S * 3 && msk->numel == (int64_t)B * S * S,
        "golden inputs missing or of another size");
  float *images = malloc((size_t)N * 3 * S * S * sizeof *images);
  float *masks = malloc((size_t)N * S * S * sizeof *masks);
  const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
  for (int i = 0; img && msk && i < B; i++) {
    float *v1 = images + (size_t)i * 3 * S * S, *v2 = images + (size_t)(B + i) * 3 * S * S;
    vit_normalize_image(v1, (const uint8_t *)img->data + (size_t)i * S * S * 3, S, S, mean, std);
    const uint8_t *m8 = (const uint8_t *)msk->data + (size_t)i * S * S;
    float *m1 = masks + (size_t)i * S * S, *m2 = masks + (size_t)(B + i) * S * S;
    for (int p = 0; p < S * S; p++)
      m1[p] = m8[p] / 255.0f;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        for (int c = 0; c < 3; c++)
          v2[((size_t)c * S + y) * S + x] = v1[((size_t)c * S + x) * S + (S - 1 - y)];
        m2[(size_t)y * S + x] = m1[(size_t)x * S + (S - 1 - y)];
      }
  }
  mgvit_config cfg = {.grad_from_block = 12,
                      .mask_layers = 9,
                      .proj_hidden = 96,
                      .proj_out = 256,
                      .n_classes = C,
                      .max_batch = N,
                      .image_size = S};
  mgvit *m = NULL;
  CHECK(mgvit_create(&m, &ck.desc, &ck.w, ops_cpu(), &cfg, 1) == 0, "%s", ancd_error());
  if (m && img && msk)
    golden_train_check(&g, m, images, masks, B, C, 0);
  mgvit_free(m);
  free(images);
  free(masks);
  st_close(&g);
  vit_checkpoint_free(&ck);
  return test_done("real_train_golden");
}
