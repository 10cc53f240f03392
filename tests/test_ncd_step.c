/* One MGRL step (core/model/ncd_step.c): a batch lacking base or novel samples is skipped, a
 * normal step lowers nothing it should not touch and moves the parameters, and a NaN in the
 * input stops the step naming the step and the loss term without an update. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "ncd_step.h"
#include "rng.h"
#include "test_util.h"

enum { S = 16, B = 3, N = 2 * B, Z = 6, C = 6 };

int main(void) {
  vit_desc d = {.family = VIT_DINO,
                .dim = 16,
                .depth = 2,
                .heads = 2,
                .patch = 4,
                .mlp_dim = 32,
                .pos_grid = 4,
                .patch_bias = 1,
                .qkv_bias = 1,
                .ln_eps = 1e-6f};
  vit_weights w;
  float *storage;
  vit_random_weights(&w, &storage, &d, 3, 0.2f);
  mgvit_config cfg = {.grad_from_block = 2,
                      .mask_layers = 1,
                      .proj_hidden = 8,
                      .proj_out = Z,
                      .n_classes = C,
                      .max_batch = N,
                      .image_size = S};
  mgvit *m;
  CHECK(mgvit_create(&m, &d, &w, ops_cpu(), &cfg, 1) == 0, "%s", ancd_error());
  float images[N * 3 * S * S], masks[N * S * S];
  for (int i = 0; i < N * 3 * S * S; i++)
    images[i] = (float)(2 * rng_uniform_at(5, i) - 1);
  for (int i = 0; i < N * S * S; i++)
    masks[i] = (float)(i % S < S / 2);
  uint8_t is_base[B] = {1, 0, 1};
  int label[B] = {2, 0, 3};
  float score[B] = {0, 0.3f, 0};
  ncd_loss_cfg lc;
  ncd_loss_cfg_default(&lc);
  ncd_step_work work;
  ncd_step_work_init(&work, m, B, Z, C);
  ncd_loss_terms t;
  ncd_step_cfg sc = {.teacher_temp = 0.07,
                     .lr = 0.01f,
                     .momentum = 0.9f,
                     .weight_decay = 5e-5f,
                     .first_step = 1,
                     .step = 7};

  const size_t n = mgvit_n_params(m);
  float *before = malloc(n * sizeof *before), *after = malloc(n * sizeof *after);
  ops_cpu()->to_host(before, mgvit_params(m), n * sizeof *before);
  uint8_t all_base[B] = {1, 1, 1};
  CHECK(ncd_step(m, &t, &work, images, masks, all_base, label, score, B, NULL, &lc, &sc) ==
            NCD_STEP_SKIPPED,
        "a batch without novel samples was not skipped");
  ops_cpu()->to_host(after, mgvit_params(m), n * sizeof *after);
  CHECK(!memcmp(before, after, n * sizeof *after), "a skipped batch changed the parameters");

  CHECK(ncd_step(m, &t, &work, images, masks, is_base, label, score, B, NULL, &lc, &sc) == 0, "%s",
        ancd_error());
  CHECK(isfinite(t.total) && t.total > 0 && t.n_base == 2 && t.n_novel == 1, "loss %g, %d/%d",
        t.total, t.n_base, t.n_novel);
  CHECK(fabs(t.total - (0.7 * t.clu + 0.3 * t.cls + 0.7 * t.con + 0.3 * t.supcon)) < 1e-9,
        "the total is not the weighted sum");
  ops_cpu()->to_host(after, mgvit_params(m), n * sizeof *after);
  CHECK(memcmp(before, after, n * sizeof *after), "a step left the parameters unchanged");

  images[5] = NAN;
  sc.first_step = 0;
  memcpy(before, after, n * sizeof *after);
  CHECK(ncd_step(m, &t, &work, images, masks, is_base, label, score, B, NULL, &lc, &sc) == -1,
        "a NaN image gave a step");
  CHECK(strstr(ancd_error(), "step 7") && strstr(ancd_error(), "not finite"), "%s", ancd_error());
  ops_cpu()->to_host(after, mgvit_params(m), n * sizeof *after);
  CHECK(!memcmp(before, after, n * sizeof *after), "a failed step changed the parameters");

  /* Without a labelled set (train.base: none): SupCon and CE drop out, novel samples suffice. */
  images[5] = 0.0f;
  uint8_t none_base[B] = {0, 0, 0};
  ncd_loss_cfg nb = lc;
  nb.n_base = 0;
  CHECK(ncd_step(m, &t, &work, images, masks, none_base, label, score, B, NULL, &nb, &sc) == 0,
        "%s", ancd_error());
  CHECK(t.supcon == 0 && t.cls == 0 && isfinite(t.total) &&
            fabs(t.total - 0.7 * (t.clu + t.con)) < 1e-9,
        "no-base losses: total %g supcon %g cls %g", t.total, t.supcon, t.cls);
  free(before);
  free(after);
  ncd_step_work_free(&work);
  mgvit_free(m);
  free(storage);
  return test_done("test_ncd_step");
}
