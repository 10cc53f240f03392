/* The real ImageNet ViT-Ti/16 in ../shared/data/weights loads as a timm checkpoint with the right
 * architecture, and its canonical weights hold the file's values (references read with NumPy). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "test_util.h"
#include "vit_load.h"

int main(void) {
  const char *shared = test_shared_dir();
  if (!shared)
    test_skip("../shared is absent");
  char path[4096];
  snprintf(path, sizeof path, "%s/data/weights/vit_tiny_patch16_224.safetensors", shared);
  FILE *probe = fopen(path, "rb");
  if (!probe)
    test_skip("vit_tiny_patch16_224.safetensors is absent");
  fclose(probe);

  vit_checkpoint ck;
  if (vit_load(&ck, path, "auto", "auto") != 0) {
    CHECK(0, "vit_load: %s", ancd_error());
    return test_done("real_vit_load");
  }
  const vit_desc *d = &ck.desc;
  CHECK(strcmp(ck.convention, "timm") == 0 && d->family == VIT_TIMM, "convention %s family %d",
        ck.convention, d->family);
  CHECK(d->dim == 192 && d->depth == 12 && d->heads == 3 && d->patch == 16 && d->pos_grid == 14 &&
            d->mlp_dim == 768 && d->n_classes == 1000 && d->embed_dim == 0,
        "dim %d depth %d heads %d patch %d grid %d mlp %d classes %d", d->dim, d->depth, d->heads,
        d->patch, d->pos_grid, d->mlp_dim, d->n_classes);
  CHECK(d->patch_bias && d->qkv_bias && !d->layerscale && !d->ln_pre && d->act == VIT_ACT_GELU &&
            d->ln_eps == 1e-6f,
        "flags");
  CHECK(ck.n_params == 5717416, "n_params %zu", ck.n_params);

  /* Values at scattered places (NumPy on the raw file). */
  const vit_weights *w = &ck.w;
  CHECK_NEAR(w->cls[0], -0.3557218, 1e-7);
  CHECK_NEAR(w->cls[2], -0.07171443, 1e-7);
  CHECK_NEAR(w->pos[196 * 192 + 191], -0.008590566, 1e-9);
  CHECK_NEAR(w->blocks[11].fc2_b[191], 0.3476819, 1e-7);
  CHECK_NEAR(w->head_b[999], -0.0025373306, 1e-9);
  CHECK_NEAR(w->head_w[3 * 192 + 100], 0.034486488, 1e-8);
  CHECK_NEAR(w->blocks[5].qkv_w[200 * 192 + 7], -0.08356181, 1e-8);
  CHECK_NEAR(w->patch_w[((10 * 3 + 2) * 16 + 15) * 16 + 3], 0.044253226, 1e-8);
  CHECK_NEAR(w->norm_w[0], 6.0425706, 1e-6);

  char text[512];
  vit_describe(text, sizeof text, &ck);
  fprintf(stderr, "%s\n", text);
  CHECK(strcmp(text, "timm ViT: dim 192, depth 12, heads 3, patch 16, grid 14x14 (224 px), mlp "
                     "768, LN eps 1e-06, GELU, CLS, head 1000 classes, 5.7 M parameters") == 0,
        "describe: %s", text);
  vit_checkpoint_free(&ck);
  return test_done("real_vit_load");
}
