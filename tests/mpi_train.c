/* Data-parallel training steps (mpi/ncd_exchange.c + core/model/ncd_step.c), on 2 and 3 ranks:
 * R ranks x B/R samples give the parameters of 1 process x B samples within 1e-5 (relative L2)
 * after 3 steps, and every rank holds bit-identical parameters after every step (a hash of the
 * parameter buffer compared over the ranks). B = 7 is not a multiple of 2 or 3, so shards differ
 * in size; with 3 ranks a batch of 2 leaves one rank without rows. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "ncd_exchange.h"
#include "ncd_step.h"
#include "rng.h"
#include "test_util.h"

enum { S = 16, BMAX = 7, Z = 6, C = 6 };

static mgvit *tiny_model(void) {
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
  mgvit_config cfg = {.grad_from_block = 1,
                      .mask_layers = 2,
                      .proj_hidden = 8,
                      .proj_out = Z,
                      .n_classes = C,
                      .max_batch = 2 * BMAX,
                      .image_size = S};
  mgvit *m = NULL;
  CHECK(mgvit_create(&m, &d, &w, ops_cpu(), &cfg, 1) == 0, "%s", ancd_error());
  free(storage);
  return m;
}

static uint64_t params_hash(mgvit *m) {
  const size_t n = mgvit_n_params(m);
  const unsigned char *p = (const unsigned char *)mgvit_params(m);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n * sizeof(float); i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Rows of samples [first, first + count) of a batch [2B, per]: view-1 block, then view-2. */
static void take_rows(float *dst, const float *src, int B, int first, int count, size_t per) {
  memcpy(dst, src + first * per, count * per * sizeof(float));
  memcpy(dst + count * per, src + (B + first) * per, count * per * sizeof(float));
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mgvit *single = tiny_model(), *dist = tiny_model();
  const size_t img = 3 * S * S, px = S * S;
  float *images = malloc(2 * BMAX * img * sizeof *images), *masks = malloc(2 * BMAX * px * 4);
  float *own_i = malloc(2 * BMAX * img * sizeof *own_i), *own_m = malloc(2 * BMAX * px * 4);
  uint8_t is_base[BMAX] = {1, 0, 1, 0, 0, 1, 0};
  int label[BMAX] = {0, 0, 3, 0, 0, 1, 0};
  float score[BMAX] = {0, 0.2f, 0, 0.7f, 0.45f, 0, 0.1f};
  ncd_loss_cfg lc;
  ncd_loss_cfg_default(&lc);
  ncd_step_work w1, w2;
  ncd_step_work_init(&w1, single, BMAX, Z, C);
  ncd_step_work_init(&w2, dist, BMAX, Z, C);
  ncd_exchange x;
  ncd_exchange_init(&x, MPI_COMM_WORLD, ops_cpu());
  const int batches[4] = {7, 5, 2, 7}; /* 2 samples over 3 ranks: one rank without rows */
  for (int s = 0; s < 4; s++) {
    const int B = batches[s];
    for (size_t i = 0; i < 2 * (size_t)B * img; i++)
      images[i] = (float)(2 * rng_uniform_at(100 + s, i) - 1);
    for (size_t i = 0; i < 2 * (size_t)B * px; i++)
      masks[i] = (float)(rng_uniform_at(200 + s, i) < 0.6);
    ncd_loss_terms t1, t2;
    ncd_step_cfg sc = {.teacher_temp = 0.07,
                       .lr = 0.05f,
                       .momentum = 0.9f,
                       .weight_decay = 5e-5f,
                       .first_step = s == 0,
                       .step = s};
    int rc1 = ncd_step(single, &t1, &w1, images, masks, is_base, label, score, B, NULL, &lc, &sc);
    ncd_shard shard;
    ncd_exchange_shard(&shard, &x, B);
    take_rows(own_i, images, B, shard.first, shard.count, img);
    take_rows(own_m, masks, B, shard.first, shard.count, px);
    int rc2 = ncd_step(dist, &t2, &w2, own_i, own_m, is_base, label, score, B, &shard, &lc, &sc);
    CHECK(rc1 == 0 && rc2 == 0, "rank %d step %d: %d %d %s", rank, s, rc1, rc2, ancd_error());
    CHECK(fabs(t1.total - t2.total) <= 1e-6 * fabs(t1.total), "rank %d step %d: loss %.9g vs %.9g",
          rank, s, t1.total, t2.total);
    uint64_t h = params_hash(dist), *all = malloc(sizeof *all * size);
    MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++)
      CHECK(all[r] == all[0], "step %d: rank %d's parameters differ from rank 0's", s, r);
    free(all);
  }
  const size_t n = mgvit_n_params(single);
  double e = 0, r2 = 0;
  const float *a = mgvit_params(single), *b = mgvit_params(dist);
  for (size_t i = 0; i < n; i++) {
    e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    r2 += (double)a[i] * a[i];
  }
  double rel = sqrt(e / r2);
  if (rank == 0)
    printf("%d ranks: parameters after 4 steps differ from 1 process by %.3g (relative L2)\n", size,
           rel);
  CHECK(rel <= 1e-5, "rank %d: %d ranks vs 1 process: %.3g", rank, size, rel);
  ncd_exchange_free(&x);
  ncd_step_work_free(&w1);
  ncd_step_work_free(&w2);
  mgvit_free(single);
  mgvit_free(dist);
  free(images);
  free(masks);
  free(own_i);
  free(own_m);
  int status = test_done("mpi_train");
  MPI_Finalize();
  return status;
}
