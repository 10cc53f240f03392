/* Deterministic random ViTs: the demo, the tests and the benchmarks need no download. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "vit.h"

/* Hands out consecutive pieces of one block; counts only when base is NULL. */
typedef struct {
  float *base;
  size_t used;
  uint64_t seed;
  int tensor; /* index of the next tensor: each has its own stream */
  float spread;
} filler;

/* Matrices and embeddings: timm's trunc_normal_(std=0.02). */
static const float *normal(filler *f, size_t n) {
  float *p = f->base ? f->base + f->used : NULL;
  uint64_t s = rng_u64_at(f->seed, (uint64_t)f->tensor++);
  f->used += n;
  if (p) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++)
      p[i] = (float)rng_trunc_normal_at(s, (uint64_t)i, 0.02);
  }
  return p;
}

/* LayerNorm weights, biases, LayerScale: center (1 or 0), plus spread * N(0, 1) when spread > 0. */
static const float *constant(filler *f, size_t n, float center) {
  float *p = f->base ? f->base + f->used : NULL;
  uint64_t s = rng_u64_at(f->seed, (uint64_t)f->tensor++);
  f->used += n;
  if (p)
    for (size_t i = 0; i < n; i++)
      p[i] = center + (f->spread > 0 ? (float)rng_trunc_normal_at(s, i, f->spread) : 0.0f);
  return p;
}

/* One walk over every tensor of d in a fixed order; w is filled when f->base is set. */
static void walk(vit_weights *w, const vit_desc *d, filler *f) {
  const size_t D = (size_t)d->dim, M = (size_t)d->mlp_dim, P = (size_t)d->patch;
  const size_t g = (size_t)d->pos_grid;
  w->patch_w = normal(f, D * 3 * P * P);
  w->patch_b = d->patch_bias ? constant(f, D, 0) : NULL;
  w->cls = normal(f, D);
  w->pos = normal(f, (1 + g * g) * D);
  w->ln_pre_w = d->ln_pre ? constant(f, D, 1) : NULL;
  w->ln_pre_b = d->ln_pre ? constant(f, D, 0) : NULL;
  for (int b = 0; b < d->depth; b++) {
    vit_block_weights *k = &w->blocks[b];
    k->ln1_w = constant(f, D, 1);
    k->ln1_b = constant(f, D, 0);
    k->qkv_w = normal(f, 3 * D * D);
    k->qkv_b = d->qkv_bias ? constant(f, 3 * D, 0) : NULL;
    k->proj_w = normal(f, D * D);
    k->proj_b = constant(f, D, 0);
    k->ls1 = d->layerscale ? constant(f, D, 1) : NULL;
    k->ln2_w = constant(f, D, 1);
    k->ln2_b = constant(f, D, 0);
    k->fc1_w = normal(f, M * D);
    k->fc1_b = constant(f, M, 0);
    k->fc2_w = normal(f, D * M);
    k->fc2_b = constant(f, D, 0);
    k->ls2 = d->layerscale ? constant(f, D, 1) : NULL;
  }
  w->norm_w = constant(f, D, 1);
  w->norm_b = constant(f, D, 0);
  w->proj = d->embed_dim > 0 ? normal(f, D * (size_t)d->embed_dim) : NULL;
  w->head_w = d->n_classes > 0 ? normal(f, (size_t)d->n_classes * D) : NULL;
  w->head_b = d->n_classes > 0 ? constant(f, (size_t)d->n_classes, 0) : NULL;
}

void vit_random_weights(vit_weights *w, float **storage, const vit_desc *d, uint64_t seed,
                        float spread) {
  memset(w, 0, sizeof *w);
  /* Counting pass: f.base is NULL, so pointers stay NULL and only the floats are counted. */
  filler f = {.seed = seed, .spread = spread};
  w->blocks = xcalloc((size_t)d->depth, sizeof *w->blocks);
  walk(w, d, &f);
  free(w->blocks);
  size_t n_floats = f.used;
  /* The block array sits at the front of the same allocation, padded to a float boundary. */
  size_t head = ((size_t)d->depth * sizeof(vit_block_weights) + 63) / 64 * 64;
  char *block = xmalloc(head + n_floats * sizeof(float));
  w->blocks = (vit_block_weights *)block;
  f = (filler){.base = (float *)(block + head), .seed = seed, .spread = spread};
  walk(w, d, &f);
  *storage = (float *)block;
}

/* timm's ViT sizes: name, width, depth, heads. */
static const struct {
  const char *name;
  int dim, depth, heads;
} vit_sizes[] = {
    {"tiny", 192, 12, 3},
    {"small", 384, 12, 6},
    {"base", 768, 12, 12},
    {"large", 1024, 24, 16},
};

/* "vit_<size>_patch<P>" with an optional "_<image size>" (default 224). */
int vit_random(vit_desc *desc, vit_weights *w, float **storage, const char *arch, uint64_t seed) {
  char size[16];
  int patch = 0, image = 224, consumed = 0;
  int n = sscanf(arch, "vit_%15[a-z]_patch%d%n_%d%n", size, &patch, &consumed, &image, &consumed);
  if (n < 2 || arch[consumed] != 0 || patch < 1 || image < patch || image % patch)
    return ancd_errorf("backbone.arch '%s': expected vit_<tiny|small|base|large>_patch<P>[_<image "
                       "size multiple of P>], e.g. vit_small_patch16",
                       arch);
  int k = -1;
  for (int i = 0; i < (int)(sizeof vit_sizes / sizeof vit_sizes[0]); i++)
    if (!strcmp(size, vit_sizes[i].name))
      k = i;
  if (k < 0)
    return ancd_errorf("backbone.arch '%s': unknown size '%s' (tiny, small, base, large)", arch,
                       size);
  memset(desc, 0, sizeof *desc);
  desc->family = VIT_TIMM;
  desc->dim = vit_sizes[k].dim;
  desc->depth = vit_sizes[k].depth;
  desc->heads = vit_sizes[k].heads;
  desc->patch = patch;
  desc->mlp_dim = 4 * desc->dim;
  desc->pos_grid = image / patch;
  desc->n_classes = 1000;
  desc->patch_bias = 1;
  desc->qkv_bias = 1;
  desc->ln_eps = 1e-6f;
  desc->act = VIT_ACT_GELU;
  vit_random_weights(w, storage, desc, seed, 0.0f);
  return 0;
}
