/* One AnomalyNCD training step of the real ViT-Ti/16 (../shared/data/weights, grad_from_block 12,
 * mask_layers 9) on 4 MTD crops x 2 views with their real masks, against the PyTorch golden of
 * tests/golden/gen_train_golden.py --real: losses and gradients within 1e-4 (train_golden.h).
 * Skipped when the shared weights are absent. */
#include "config.h"
#include "image.h"
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
  /* Inputs as the golden's README says, rebuilt from ../shared/data (no pixels of it are in the
   * project): each view-1 crop is the MTD image cut at input.boxes and resized to 224 with
   * Pillow bilinear, checked against the golden's FNV-1a of the uint8 crops; float =
   * (u8/255 - 0.5)/0.5; view 2 is view 1 rotated 90 degrees counter-clockwise,
   * v2[c,y,x] = v1[c,x,S-1-y]. The masks act only through the pooled patch values
   * (input.mask_patch, all 8 rows), so each row's mask is that value over its patch. */
  const char *crops = st_metadata(&g, "crops"), *want_fnv = st_metadata(&g, "images_fnv1a");
  float *boxes = golden_floats(&g, "input.boxes", (int64_t)B * 4);
  float *patch = golden_floats(&g, "input.mask_patch", (int64_t)N * 197);
  CHECK(crops && want_fnv && boxes && patch, "golden inputs missing");
  float *images = malloc((size_t)N * 3 * S * S * sizeof *images);
  float *masks = malloc((size_t)N * S * S * sizeof *masks);
  const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
  uint64_t fnv = FNV1A64_INIT;
  char list[1024];
  snprintf(list, sizeof list, "%s", crops ? crops : "");
  char *save = NULL, *file = strtok_r(list, ";", &save);
  for (int i = 0; boxes && patch && i < B; i++, file = strtok_r(NULL, ";", &save)) {
    char path[4096];
    image_u8 im = {0}, cut = {0}, small = {0};
    PATHF(path, "%s/data/mtd/%s", shared, file ? file : "?");
    const float *b = boxes + 4 * i;
    int rc =
        image_load(&im, path, 3) != 0 ||
        image_crop(&cut, &im, (int)b[0], (int)b[1], (int)(b[2] - b[0]), (int)(b[3] - b[1])) != 0 ||
        image_resize(&small, &cut, S, S, RESIZE_BILINEAR_PIL) != 0;
    CHECK(rc == 0, "crop %d (%s): %s", i, path, ancd_error());
    if (rc == 0) {
      for (size_t k = 0; k < (size_t)S * S * 3; k++)
        fnv = (fnv ^ small.data[k]) * 0x100000001b3ULL;
      float *v1 = images + (size_t)i * 3 * S * S, *v2 = images + (size_t)(B + i) * 3 * S * S;
      vit_normalize_image(v1, small.data, S, S, mean, std);
      for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
          for (int c = 0; c < 3; c++)
            v2[((size_t)c * S + y) * S + x] = v1[((size_t)c * S + x) * S + (S - 1 - y)];
    }
    image_free(&im);
    image_free(&cut);
    image_free(&small);
  }
  char got[17];
  snprintf(got, sizeof got, "%016llx", (unsigned long long)fnv);
  CHECK(want_fnv && !strcmp(got, want_fnv),
        "rebuilt crops differ from the golden's (FNV %s, want %s)", got, want_fnv ? want_fnv : "?");
  for (int r = 0; patch && r < N; r++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        masks[((size_t)r * S + y) * S + x] = patch[r * 197 + 1 + (y / 16) * 14 + x / 16];
  mgvit_config cfg = {.grad_from_block = 12,
                      .mask_layers = 9,
                      .proj_hidden = 96,
                      .proj_out = 256,
                      .n_classes = C,
                      .max_batch = N,
                      .image_size = S};
  mgvit *m = NULL;
  CHECK(mgvit_create(&m, &ck.desc, &ck.w, ops_cpu(), &cfg, 1) == 0, "%s", ancd_error());
  if (m && boxes && patch)
    golden_train_check(&g, m, images, masks, B, C, 0);
  mgvit_free(m);
  free(images);
  free(masks);
  free(boxes);
  free(patch);
  st_close(&g);
  vit_checkpoint_free(&ck);
  return test_done("real_train_golden");
}
