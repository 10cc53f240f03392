/* WideResNet checkpoints in safetensors (torchvision key names). Two passes, as vit_load.c: the
 * first infers the architecture from conv1 and each stage's first block, then checks every tensor
 * layer1..3 need and records where it goes; the second allocates one block and converts. Nothing
 * is allocated for a file that fails the first pass. */
#include "wrn_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

typedef struct {
  const float **dst;
  const st_tensor *src;
} piece;

typedef struct {
  st_file f;
  const char *prefix;
  piece *pieces;
  int n, cap;
  int64_t total; /* floats over every piece */
} loader;

/* The tensor <prefix><key> or NULL (no error). */
static const st_tensor *lookup(const loader *L, const char *key) {
  char name[512];
  snprintf(name, sizeof name, "%s%s", L->prefix, key);
  return st_find(&L->f, name);
}

/* A required float tensor of exactly shape want[rank] (want NULL: any shape of that rank). */
static int find(const st_tensor **t, const loader *L, const char *key, const int64_t *want,
                int rank) {
  *t = lookup(L, key);
  if (!*t)
    return ancd_errorf("%s: missing tensor '%s%s' (torchvision ResNet keys)", L->f.path, L->prefix,
                       key);
  if (st_check_float(&L->f, *t))
    return -1;
  int ok = (*t)->rank == rank;
  for (int k = 0; ok && want && k < rank; k++)
    ok = (*t)->shape[k] == want[k];
  if (!ok) {
    char have_s[160], want_s[160] = "rank";
    st_format_shape(have_s, sizeof have_s, (*t)->shape, (*t)->rank);
    if (want)
      st_format_shape(want_s, sizeof want_s, want, rank);
    else
      snprintf(want_s, sizeof want_s, "rank %d", rank);
    return ancd_errorf("%s: tensor '%s' has shape %s, expected %s", L->f.path, (*t)->name, have_s,
                       want_s);
  }
  return 0;
}

static int need(loader *L, const float **dst, const char *key, const int64_t *want, int rank) {
  const st_tensor *t;
  if (find(&t, L, key, want, rank))
    return -1;
  if (L->n == L->cap) {
    L->cap = L->cap ? 2 * L->cap : 256;
    L->pieces = xrealloc(L->pieces, (size_t)L->cap * sizeof *L->pieces);
  }
  L->pieces[L->n++] = (piece){dst, t};
  L->total += t->numel;
  return 0;
}

/* A conv weight [cout, cin, k, k] and its BatchNorm [cout]: <conv>.weight and <bn>.*. */
static int need_conv_bn(loader *L, wrn_conv *c, const char *conv, const char *bn, int64_t cout,
                        int64_t cin, int64_t k) {
  static const char *const leaf[4] = {"weight", "bias", "running_mean", "running_var"};
  const float **dst[4] = {&c->bn_w, &c->bn_b, &c->bn_mean, &c->bn_var};
  char key[256];
  snprintf(key, sizeof key, "%s.weight", conv);
  if (need(L, &c->w, key, (const int64_t[]){cout, cin, k, k}, 4))
    return -1;
  for (int i = 0; i < 4; i++) {
    snprintf(key, sizeof key, "%s.%s", bn, leaf[i]);
    if (need(L, dst[i], key, (const int64_t[]){cout}, 1))
      return -1;
  }
  return 0;
}

/* The prefix under which conv1.weight and layer1.0.conv1.weight both exist. */
static int detect(loader *L) {
  static const char *const prefixes[] = {"", "module."};
  for (int p = 0; p < 2; p++) {
    L->prefix = prefixes[p];
    if (lookup(L, "conv1.weight") && lookup(L, "layer1.0.conv1.weight"))
      return 0;
  }
  L->prefix = "";
  return ancd_errorf("%s: no torchvision ResNet keys among its %d tensors (looked for "
                     "[module.]conv1.weight and [module.]layer1.0.conv1.weight)",
                     L->f.path, L->f.n);
}

/* Pass 1: the architecture from the shapes, then every piece. */
static int plan(wrn_checkpoint *ck, loader *L) {
  wrn_desc *d = &ck->desc;
  const st_tensor *t;
  char key[256], bn[256];
  if (detect(L) || find(&t, L, "conv1.weight", NULL, 4))
    return -1;
  d->stem = (int)t->shape[0];
  d->bn_eps = 1e-5f;
  for (int s = 0; s < WRN_STAGES; s++) {
    int b = 0;
    do
      snprintf(key, sizeof key, "layer%d.%d.conv1.weight", s + 1, b);
    while (lookup(L, key) && ++b < 1000);
    snprintf(key, sizeof key, "layer%d.0.conv3.weight", s + 1);
    if (b > 0 && !lookup(L, key))
      return ancd_errorf("%s: no tensor '%s%s': BasicBlock ResNets (resnet18/34) are not "
                         "supported, only Bottleneck ones (wide_resnet50_2/101_2, resnet50/101)",
                         L->f.path, L->prefix, key);
    snprintf(key, sizeof key, "layer%d.0.conv1.weight", s + 1);
    if (find(&t, L, key, NULL, 4))
      return -1;
    d->blocks[s] = b;
    d->width[s] = (int)t->shape[0];
    snprintf(key, sizeof key, "layer%d.0.conv3.weight", s + 1);
    if (find(&t, L, key, NULL, 4))
      return -1;
    d->out[s] = (int)t->shape[0];
  }

  ck->w.blocks = xcalloc((size_t)wrn_total_blocks(d), sizeof *ck->w.blocks);
  if (need_conv_bn(L, &ck->w.stem, "conv1", "bn1", d->stem, 3, 7))
    return -1;
  int cin = d->stem, k = 0;
  for (int s = 0; s < WRN_STAGES; s++)
    for (int b = 0; b < d->blocks[s]; b++, k++) {
      wrn_block_weights *blk = &ck->w.blocks[k];
      const int64_t width = d->width[s], out = d->out[s];
      const int64_t c_in[3] = {cin, width, width}, c_out[3] = {width, width, out};
      wrn_conv *conv[3] = {&blk->conv1, &blk->conv2, &blk->conv3};
      for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "layer%d.%d.conv%d", s + 1, b, i + 1);
        snprintf(bn, sizeof bn, "layer%d.%d.bn%d", s + 1, b, i + 1);
        if (need_conv_bn(L, conv[i], key, bn, c_out[i], c_in[i], i == 1 ? 3 : 1))
          return -1;
      }
      snprintf(key, sizeof key, "layer%d.%d.downsample.0", s + 1, b);
      snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, b);
      if (b == 0 && need_conv_bn(L, &blk->down, key, bn, out, cin, 1))
        return -1;
      snprintf(key, sizeof key, "layer%d.%d.downsample.0.weight", s + 1, b);
      if (b > 0 && lookup(L, key))
        return ancd_errorf("%s: tensor '%s%s': only the first block of a stage has a "
                           "downsample",
                           L->f.path, L->prefix, key);
      cin = d->out[s];
    }
  return 0;
}

int wrn_load(wrn_checkpoint *ck, const char *path) {
  memset(ck, 0, sizeof *ck);
  loader L = {0};
  if (st_open(&L.f, path) != 0)
    return -1;
  if (plan(ck, &L) != 0) {
    free(ck->w.blocks);
    free(L.pieces);
    st_close(&L.f);
    memset(ck, 0, sizeof *ck);
    return -1;
  }
  ck->storage = xmalloc((size_t)(L.total ? L.total : 1) * sizeof(float));
  float *at = ck->storage;
  for (int i = 0; i < L.n; i++) {
    st_to_f32(at, L.pieces[i].src);
    *L.pieces[i].dst = at;
    at += L.pieces[i].src->numel;
  }
  ck->n_params = (size_t)L.total;
  snprintf(ck->prefix, sizeof ck->prefix, "%s", L.prefix);
  free(L.pieces);
  st_close(&L.f);
  return 0;
}

void wrn_checkpoint_free(wrn_checkpoint *ck) {
  free(ck->storage);
  free(ck->w.blocks);
  memset(ck, 0, sizeof *ck);
}

void wrn_describe(char *out, size_t n, const wrn_checkpoint *ck) {
  const wrn_desc *d = &ck->desc;
  snprintf(out, n,
           "torchvision ResNet (Bottleneck): stem %d, blocks %d/%d/%d, widths %d/%d/%d, outputs "
           "%d/%d/%d, %.1f M parameters to layer3",
           d->stem, d->blocks[0], d->blocks[1], d->blocks[2], d->width[0], d->width[1], d->width[2],
           d->out[0], d->out[1], d->out[2], (double)ck->n_params / 1e6);
}

int wrn_probe(const char *path) {
  st_file f;
  if (st_open(&f, path) != 0)
    return -1;
  int is = st_find(&f, "layer1.0.conv1.weight") || st_find(&f, "module.layer1.0.conv1.weight");
  st_close(&f);
  return is;
}
