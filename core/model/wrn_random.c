/* WideResNet architectures by name and deterministic random weights: the tests and benchmarks
 * need no download, and tests/golden/gen_wrn_golden.py draws the same numbers in NumPy (the rule
 * is in wideresnet.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "wideresnet.h"

/* torchvision's Bottleneck ResNets: width_per_group 128 for the wide ones (inner width = 2x). */
static const struct {
  const char *name;
  int blocks3, width_mult;
} archs[] = {
    {"wide_resnet50_2", 6, 2},
    {"wide_resnet101_2", 23, 2},
    {"resnet50", 6, 1},
    {"resnet101", 23, 1},
};

int wrn_arch(wrn_desc *d, const char *arch) {
  for (int i = 0; i < (int)(sizeof archs / sizeof archs[0]); i++)
    if (strcmp(arch, archs[i].name) == 0) {
      *d = (wrn_desc){.stem = 64, .blocks = {3, 4, archs[i].blocks3}, .bn_eps = 1e-5f};
      for (int s = 0; s < WRN_STAGES; s++) {
        d->width[s] = (64 << s) * archs[i].width_mult;
        d->out[s] = (64 << s) * 4; /* Bottleneck expansion 4 */
      }
      return 0;
    }
  return ancd_errorf(
      "WideResNet arch '%s': expected wide_resnet50_2, wide_resnet101_2, resnet50 or "
      "resnet101",
      arch);
}

typedef enum { DRAW_CONV, DRAW_BN_W, DRAW_SMALL, DRAW_VAR } draw_kind;

/* Hands out consecutive pieces of one block; counts only when base is NULL. */
typedef struct {
  float *base;
  size_t used;
  uint64_t seed;
  uint64_t tensor; /* index of the next tensor: each has its own stream */
} filler;

static const float *draw(filler *f, size_t n, draw_kind kind, int fan_in) {
  float *p = f->base ? f->base + f->used : NULL;
  uint64_t s = rng_u64_at(f->seed, f->tensor++);
  f->used += n;
  if (!p)
    return NULL;
  const double a = kind == DRAW_CONV ? sqrt(6.0 / fan_in) : 0.1;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < (long)n; i++) {
    double u = rng_uniform_at(s, (uint64_t)i);
    double v = kind == DRAW_BN_W ? 0.5 + 0.5 * u : kind == DRAW_VAR ? 0.5 + u : (2.0 * u - 1.0) * a;
    p[i] = (float)v;
  }
  return p;
}

/* conv weight, then the BatchNorm's weight, bias, running_mean, running_var (state_dict order). */
static void conv_bn(wrn_conv *c, filler *f, int cin, int cout, int k) {
  c->w = draw(f, (size_t)cout * cin * k * k, DRAW_CONV, cin * k * k);
  c->bn_w = draw(f, (size_t)cout, DRAW_BN_W, 0);
  c->bn_b = draw(f, (size_t)cout, DRAW_SMALL, 0);
  c->bn_mean = draw(f, (size_t)cout, DRAW_SMALL, 0);
  c->bn_var = draw(f, (size_t)cout, DRAW_VAR, 0);
}

static void walk(wrn_weights *w, const wrn_desc *d, filler *f) {
  conv_bn(&w->stem, f, 3, d->stem, 7);
  int cin = d->stem, k = 0;
  for (int s = 0; s < WRN_STAGES; s++)
    for (int b = 0; b < d->blocks[s]; b++, k++) {
      wrn_block_weights *blk = &w->blocks[k];
      conv_bn(&blk->conv1, f, cin, d->width[s], 1);
      conv_bn(&blk->conv2, f, d->width[s], d->width[s], 3);
      conv_bn(&blk->conv3, f, d->width[s], d->out[s], 1);
      if (b == 0)
        conv_bn(&blk->down, f, cin, d->out[s], 1);
      else
        blk->down = (wrn_conv){0};
      cin = d->out[s];
    }
}

void wrn_random_weights(wrn_weights *w, float **storage, const wrn_desc *d, uint64_t seed) {
  const size_t nb = (size_t)wrn_total_blocks(d);
  memset(w, 0, sizeof *w);
  filler f = {.seed = seed}; /* counting pass: base NULL */
  w->blocks = xcalloc(nb, sizeof *w->blocks);
  walk(w, d, &f);
  free(w->blocks);
  /* The block array sits at the front of the same allocation, padded to 64 bytes. */
  size_t head = (nb * sizeof(wrn_block_weights) + 63) / 64 * 64;
  char *block = xmalloc(head + f.used * sizeof(float));
  w->blocks = (wrn_block_weights *)block;
  f = (filler){.base = (float *)(block + head), .seed = seed};
  walk(w, d, &f);
  *storage = (float *)block;
}

int wrn_random(wrn_desc *d, wrn_weights *w, float **storage, const char *arch, uint64_t seed) {
  if (wrn_arch(d, arch) != 0)
    return -1;
  wrn_random_weights(w, storage, d, seed);
  return 0;
}
