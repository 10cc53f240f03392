/* One AnomalyNCD training step of a tiny ViT (dim 64, depth 4, heads 2, patch 8, 32 px,
 * grad_from_block 3, mask_layers 3, B = 6 samples x 2 views, 4 base + 3 novel classes, masks
 * empty, partial, exactly 0.5 and full, scores on both sides of 0.5) against the PyTorch golden
 * of tests/golden/gen_train_golden.py (train_golden.h has the tolerances). */
#include "train_golden.h"
#include "vit_load.h"

int main(void) {
  char weights[4096], golden[4096];
  PATHF(weights, "%s/tests/golden/train/tiny_train_vit.safetensors", test_source_dir());
  PATHF(golden, "%s/tests/golden/train/train_golden.safetensors", test_source_dir());
  vit_checkpoint ck;
  st_file g;
  if (vit_load(&ck, weights, "auto", "auto") != 0 || st_open(&g, golden) != 0) {
    CHECK(0, "%s", ancd_error());
    return test_done("test_train_golden");
  }
  enum { B = 6, N = 12, S = 32, C = 7 };
  float *images = golden_floats(&g, "input.images", (int64_t)N * 3 * S * S);
  float *masks = golden_floats(&g, "input.masks", (int64_t)N * S * S); /* [N,1,S,S] */
  mgvit_config cfg = {.grad_from_block = 3,
                      .mask_layers = 3,
                      .proj_hidden = 96,
                      .proj_out = 256,
                      .n_classes = C,
                      .max_batch = N,
                      .image_size = S};
  mgvit *m = NULL;
  CHECK(mgvit_create(&m, &ck.desc, &ck.w, ops_cpu(), &cfg, 1) == 0, "%s", ancd_error());
  if (m && images && masks) {
    /* The golden's pooled patch masks against ancd's §5.3 bias: kept exactly where m >= 0.5. */
    float *pooled = golden_floats(&g, "input.mask_patch", (int64_t)N * 17);
    float bias[N * 17];
    mgvit_mask_bias(bias, masks, N, S, 8);
    for (int i = 0; pooled && i < N * 17; i++)
      CHECK((bias[i] == 0.0f) == (pooled[i] >= 0.5f), "row %d patch %d: pooled %g, bias %g", i / 17,
            i % 17, pooled[i], bias[i]);
    free(pooled);
    golden_train_check(&g, m, images, masks, B, C, 1);
  }
  mgvit_free(m);
  free(images);
  free(masks);
  st_close(&g);
  vit_checkpoint_free(&ck);
  return test_done("test_train_golden");
}
