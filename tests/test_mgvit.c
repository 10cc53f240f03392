/* The MGViT training mode (core/model/mgvit.c): the §5.3 patch-keep bias, the forward equal to
 * the inference forward where no mask applies, every trainable gradient against central finite
 * differences of a random linear functional of f and z, the SGD step, and bad configs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "mgvit.h"
#include "rng.h"
#include "test_util.h"
#include "vit.h"

enum { S = 16, PATCH = 4, N = 4, HID = 12, OUT = 6, C = 5 };

static vit_desc tiny_desc(int layerscale) {
  return (vit_desc){.family = layerscale ? VIT_DINOV2 : VIT_DINO,
                    .dim = 16,
                    .depth = 3,
                    .heads = 2,
                    .patch = PATCH,
                    .mlp_dim = 32,
                    .pos_grid = S / PATCH,
                    .patch_bias = 1,
                    .qkv_bias = 1,
                    .layerscale = layerscale,
                    .ln_eps = 1e-6f,
                    .act = VIT_ACT_GELU};
}

static mgvit_config tiny_config(void) {
  return (mgvit_config){.grad_from_block = 2,
                        .mask_layers = 2,
                        .proj_hidden = HID,
                        .proj_out = OUT,
                        .n_classes = C,
                        .max_batch = N,
                        .image_size = S};
}

static void test_mask_bias(void) {
  /* 2 images of 8 x 8 with patch 4 (4 patches): image 0 covers patch 0 fully, patch 1 by half
   * (exactly 0.5: kept), patch 2 by 7/16, patch 3 not; image 1 has no mask coverage. */
  float masks[2 * 64] = {0}, bias[2 * 5];
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++)
      masks[y * 8 + x] = 1.0f;
  for (int y = 0; y < 2; y++)
    for (int x = 4; x < 8; x++)
      masks[y * 8 + x] = 1.0f;
  for (int i = 0; i < 7; i++)
    masks[(4 + i / 4) * 8 + i % 4] = 1.0f;
  mgvit_mask_bias(bias, masks, 2, 8, 4);
  const float want[10] = {0, 0, 0, -1e9f, -1e9f, 0, -1e9f, -1e9f, -1e9f, -1e9f};
  for (int i = 0; i < 10; i++)
    CHECK(bias[i] == want[i], "bias[%d] = %g, want %g", i, bias[i], want[i]);
  mgvit_mask_bias(bias, NULL, 2, 8, 4);
  for (int i = 0; i < 10; i++)
    CHECK(bias[i] == 0.0f, "no masks: bias[%d] = %g", i, bias[i]);
}

/* L = sum Rf . f + sum Rz . z in double. */
static double functional(mgvit *m, const float *images, const float *masks, const float *rf,
                         const float *rz) {
  const int D = mgvit_dim(m);
  float f[N * 16], z[N * OUT];
  CHECK(mgvit_forward(m, images, masks, N, f, z) == 0, "%s", ancd_error());
  double L = 0;
  for (int i = 0; i < N * D; i++)
    L += (double)rf[i] * f[i];
  for (int i = 0; i < N * OUT; i++)
    L += (double)rz[i] * z[i];
  return L;
}

static void test_gradients(int layerscale) {
  const ops *o = ops_cpu();
  vit_desc d = tiny_desc(layerscale);
  vit_weights w;
  float *storage;
  vit_random_weights(&w, &storage, &d, 11, 0.3f);
  mgvit_config cfg = tiny_config();
  mgvit *m;
  CHECK(mgvit_create(&m, &d, &w, o, &cfg, 5) == 0, "%s", ancd_error());
  const int D = d.dim;
  float images[N * 3 * S * S], masks[N * S * S], rf[N * 16], rz[N * OUT];
  for (int i = 0; i < N * 3 * S * S; i++)
    images[i] = (float)(2 * rng_uniform_at(1, i) - 1);
  for (int i = 0; i < N * S * S; i++) /* image 0 unmasked, the others partly */
    masks[i] = i < S * S ? 1.0f : (float)(rng_uniform_at(2, i) < 0.5);
  for (int i = 0; i < N * D; i++)
    rf[i] = (float)(2 * rng_uniform_at(3, i) - 1);
  for (int i = 0; i < N * OUT; i++)
    rz[i] = (float)(2 * rng_uniform_at(4, i) - 1);

  float f[N * 16], z[N * OUT];
  CHECK(mgvit_forward(m, images, masks, N, f, z) == 0, "%s", ancd_error());
  float dv[MGVIT_HEADS * C * 16];
  for (int i = 0; i < MGVIT_HEADS * C * D; i++)
    dv[i] = (float)(i % 7) - 3.0f;
  CHECK(mgvit_backward(m, rf, rz, dv, N) == 0, "%s", ancd_error());

  /* Every tensor: a few elements by central differences; the prototypes pass dv through. */
  for (int t = 0; t < mgvit_n_tensors(m); t++) {
    const mgvit_tensor *tt = mgvit_tensor_at(m, t);
    float *p = xmalloc(tt->n * sizeof *p), *g = xmalloc(tt->n * sizeof *g);
    mgvit_tensor_get(m, mgvit_params(m), tt, p);
    mgvit_tensor_get(m, mgvit_grads(m), tt, g);
    if (!strncmp(tt->name, "head.last_layer.", 16)) {
      int h = tt->name[16] - '0';
      CHECK(!memcmp(g, dv + (size_t)h * C * D, tt->n * sizeof *g), "%s: dv not passed", tt->name);
      free(p);
      free(g);
      continue;
    }
    double err2 = 0, ref2 = 0;
    const int samples = tt->n < 6 ? (int)tt->n : 6;
    for (int s = 0; s < samples; s++) {
      size_t i = (size_t)(rng_u64_at(77 + t, s) % tt->n);
      const float h = 1e-2f * fmaxf(1.0f, fabsf(p[i]));
      const float keep = p[i];
      p[i] = keep + h;
      mgvit_tensor_set(m, mgvit_params(m), tt, p);
      double lp = functional(m, images, masks, rf, rz);
      p[i] = keep - h;
      mgvit_tensor_set(m, mgvit_params(m), tt, p);
      double lm = functional(m, images, masks, rf, rz);
      p[i] = keep;
      mgvit_tensor_set(m, mgvit_params(m), tt, p);
      double fd = (lp - lm) / (2.0 * h);
      err2 += (fd - g[i]) * (fd - g[i]);
      ref2 += fd * fd + (double)g[i] * g[i];
    }
    double rel = sqrt(err2 / (ref2 > 1e-30 ? ref2 : 1e-30));
    if (getenv("ANCD_TEST_VERBOSE"))
      printf("layerscale %d %-28s rel %.3g\n", layerscale, tt->name, rel);
    CHECK(rel < 1e-2, "layerscale %d: %s: relative error %.3g against finite differences",
          layerscale, tt->name, rel);
    free(p);
    free(g);
  }
  mgvit_free(m);
  free(storage);
}

/* The unmasked forward equals the inference forward's final-LN CLS (vit_forward's embed). */
static void test_forward_matches_inference(void) {
  const ops *o = ops_cpu();
  vit_desc d = tiny_desc(0);
  vit_weights w;
  float *storage;
  vit_random_weights(&w, &storage, &d, 12, 0.3f);
  mgvit_config cfg = tiny_config();
  mgvit *m;
  vit_model *vm;
  CHECK(mgvit_create(&m, &d, &w, o, &cfg, 5) == 0, "%s", ancd_error());
  CHECK(vit_create(&vm, &d, &w, o, N, S, S) == 0, "%s", ancd_error());
  float images[N * 3 * S * S], f[N * 16], embed[N * 16];
  for (int i = 0; i < N * 3 * S * S; i++)
    images[i] = (float)(2 * rng_uniform_at(9, i) - 1);
  CHECK(mgvit_forward(m, images, NULL, N, f, NULL) == 0, "%s", ancd_error());
  CHECK(vit_forward(vm, images, N, NULL, 0, NULL, embed, NULL) == 0, "%s", ancd_error());
  double worst = 0;
  for (int i = 0; i < N * d.dim; i++)
    worst = fmax(worst, fabs((double)f[i] - embed[i]));
  CHECK(worst < 1e-5, "training forward differs from inference by %g", worst);
  vit_free(vm);
  mgvit_free(m);
  free(storage);
}

static void test_sgd_and_config(void) {
  const ops *o = ops_cpu();
  vit_desc d = tiny_desc(0);
  vit_weights w;
  float *storage;
  vit_random_weights(&w, &storage, &d, 13, 0.3f);
  mgvit_config cfg = tiny_config();
  mgvit *m;
  CHECK(mgvit_create(&m, &d, &w, o, &cfg, 5) == 0, "%s", ancd_error());
  /* Names, shapes, and the weight-decay rule's input (ndim). */
  const mgvit_tensor *qkv = mgvit_find(m, "blocks.1.attn.qkv.weight");
  CHECK(qkv && qkv->ndim == 2 && qkv->shape[0] == 48 && qkv->shape[1] == 16, "qkv tensor");
  CHECK(mgvit_find(m, "blocks.0.attn.qkv.weight") == NULL, "a frozen block is trainable");
  CHECK(mgvit_find(m, "blocks.2.norm2.bias") && mgvit_find(m, "blocks.2.norm2.bias")->ndim == 1,
        "1-D bias");
  CHECK(mgvit_find(m, "head.mlp.4.weight")->shape[0] == OUT, "projector out");
  CHECK(mgvit_find(m, "head.last_layer.3.weight_v")->shape[0] == C, "prototypes");
  /* Block weights start as the backbone's. */
  float *p = xmalloc(qkv->n * sizeof *p);
  mgvit_tensor_get(m, mgvit_params(m), qkv, p);
  CHECK(!memcmp(p, w.blocks[1].qkv_w, qkv->n * sizeof *p), "block 2 qkv not copied");
  free(p);
  /* One step by hand: p1 = p0 - lr (g + wd p0) for >= 2-D, p0 - lr g for 1-D. */
  const size_t n = mgvit_n_params(m);
  float *p0 = xmalloc(n * sizeof *p0), *g = xmalloc(n * sizeof *g), *p1 = xmalloc(n * sizeof *p1);
  for (size_t i = 0; i < n; i++)
    g[i] = (float)((double)(i % 13) - 6.0) * 0.01f;
  o->to_device(mgvit_grads(m), g, n * sizeof *g);
  o->to_host(p0, mgvit_params(m), n * sizeof *p0);
  mgvit_sgd_step(m, 0.1f, 0.9f, 0.5f, 1);
  o->to_host(p1, mgvit_params(m), n * sizeof *p1);
  for (int t = 0; t < mgvit_n_tensors(m); t++) {
    const mgvit_tensor *tt = mgvit_tensor_at(m, t);
    const float wd = tt->ndim >= 2 ? 0.5f : 0.0f;
    double worst = 0;
    for (size_t i = tt->offset; i < tt->offset + tt->n; i++)
      worst = fmax(worst, fabs(p1[i] - (p0[i] - 0.1f * (g[i] + wd * p0[i]))));
    CHECK(worst < 1e-6, "%s: SGD step off by %g", tt->name, worst);
  }
  size_t at = 0;
  CHECK(mgvit_first_nonfinite(m, mgvit_params(m), &at) == NULL, "finite parameters flagged");
  const mgvit_tensor *fc2 = mgvit_find(m, "blocks.2.mlp.fc2.weight");
  g[fc2->offset + 7] = NAN;
  o->to_device(mgvit_grads(m), g, n * sizeof *g);
  CHECK(mgvit_first_nonfinite(m, mgvit_grads(m), &at) == fc2 && at == 7, "NaN not found");
  const mgvit_tensor *v = mgvit_find(m, "head.last_layer.2.weight_v");
  CHECK(!memcmp(mgvit_prototypes(m, 2), p1 + v->offset, v->n * sizeof(float)),
        "host prototypes not in step with the parameters");
  free(p0);
  free(g);
  free(p1);
  mgvit_free(m);
  /* Bad configs name the depth. */
  cfg.grad_from_block = 4;
  CHECK(mgvit_create(&m, &d, &w, o, &cfg, 5) != 0 && strstr(ancd_error(), "blocks 1..3"), "%s",
        ancd_error());
  cfg.grad_from_block = 2;
  cfg.mask_layers = 5;
  CHECK(mgvit_create(&m, &d, &w, o, &cfg, 5) != 0 && strstr(ancd_error(), "3 blocks"), "%s",
        ancd_error());
  free(storage);
}

int main(void) {
  test_mask_bias();
  test_forward_matches_inference();
  test_gradients(0);
  test_gradients(1);
  test_sgd_and_config();
  return test_done("test_mgvit");
}
