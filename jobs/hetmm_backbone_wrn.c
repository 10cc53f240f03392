/* The WideResNet as HETMM's backbone (hetmm_backbone.h; musc_hetmm_spec §B.3-§B.4, issue 14):
 * the input description (side, normalisation, resize) and the hook over wrn_forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hetmm_backbone.h"
#include "wideresnet.h"
#include "wrn_load.h"

typedef struct {
  wrn_model *m;
  wrn_checkpoint *ck;          /* NULL for random weights */
  float *storage;              /* random weights */
  int stage[HETMM_MAX_LAYERS]; /* 0-based stage of each detect.layers entry */
} wrn_hook;

/* layer_out of wrn_forward points at the first map of each stage; a stage listed twice in
 * detect.layers is copied. */
static int wrn_hook_forward(hetmm_backbone *bb, float **maps, const float *images, int B) {
  wrn_hook *v = bb->ctx;
  float *out[WRN_STAGES] = {NULL};
  for (int l = 0; l < bb->n_layers; l++)
    if (!out[v->stage[l]])
      out[v->stage[l]] = maps[l];
  if (wrn_forward(out, v->m, images, B, 0) != 0) /* hetmm_features normalises per pixel */
    return ANCD_EXIT_INPUT;
  for (int l = 0; l < bb->n_layers; l++)
    if (out[v->stage[l]] != maps[l])
      memcpy(maps[l], out[v->stage[l]], (size_t)B * bb->C[l] * bb->h[l] * bb->w[l] * sizeof(float));
  return 0;
}

static void wrn_hook_free(hetmm_backbone *bb) {
  wrn_hook *v = bb->ctx;
  if (!v)
    return;
  wrn_free(v->m);
  if (v->ck) {
    wrn_checkpoint_free(v->ck);
    free(v->ck);
  }
  free(v->storage);
  free(v);
  bb->ctx = NULL;
}

/* The torchvision name of d, or NULL. */
static const char *arch_name(const wrn_desc *d) {
  static const char *names[] = {"wide_resnet50_2", "wide_resnet101_2", "resnet50", "resnet101"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    wrn_desc k;
    if (wrn_arch(&k, names[i]) == 0 && k.stem == d->stem &&
        !memcmp(k.blocks, d->blocks, sizeof k.blocks) &&
        !memcmp(k.width, d->width, sizeof k.width) && !memcmp(k.out, d->out, sizeof k.out))
      return names[i];
  }
  return NULL;
}

/* The weights (random from seed, or the file), their description and the text. */
static int wrn_weights_load(wrn_hook *v, wrn_desc *d, wrn_weights *w, detect_backbone *in,
                            const config *c) {
  const char *arch = c->backbone.arch;
  if (!strcmp(c->backbone.weights, "random")) {
    if (wrn_random(d, w, &v->storage, arch, (uint64_t)c->seed) != 0) {
      ancd_error_prefix("backbone.arch: ");
      return ANCD_EXIT_USAGE;
    }
    snprintf(in->text, sizeof in->text,
             "random %s (seed %d): blocks %d/%d/%d, widths %d/%d/%d, outputs %d/%d/%d", arch,
             c->seed, d->blocks[0], d->blocks[1], d->blocks[2], d->width[0], d->width[1],
             d->width[2], d->out[0], d->out[1], d->out[2]);
    return 0;
  }
  v->ck = xcalloc(1, sizeof *v->ck);
  if (wrn_load(v->ck, c->backbone.weights) != 0)
    return ANCD_EXIT_INPUT;
  *d = v->ck->desc;
  *w = v->ck->w;
  const char *name = arch_name(d);
  wrn_desc want;
  /* backbone.arch is a random backbone's; when it names a ResNet it must be this file's */
  if (wrn_arch(&want, arch) == 0 && (!name || strcmp(name, arch))) {
    ancd_errorf("backbone.arch %s, but backbone.weights %s holds a %s (blocks %d/%d/%d, widths "
                "%d/%d/%d): set backbone.arch to match",
                arch, c->backbone.weights, name ? name : "different ResNet", d->blocks[0],
                d->blocks[1], d->blocks[2], d->width[0], d->width[1], d->width[2]);
    return ANCD_EXIT_USAGE;
  }
  char desc[512];
  wrn_describe(desc, sizeof desc, v->ck);
  snprintf(in->text, sizeof in->text, "%s from %.400s: %s", name ? name : "ResNet",
           c->backbone.weights, desc);
  return 0;
}

int hetmm_backbone_wrn(hetmm_backbone *bb, detect_backbone *in, const config *c, int max_batch) {
  memset(bb, 0, sizeof *bb);
  memset(in, 0, sizeof *in);
  const int S = c->detect.image_size;
  const cfg_ints *layers = &c->detect.layers;
  /* layer3 is S / 16 exactly only then (stem conv, pool, layer2, layer3 each halve) */
  if (S % 16) {
    ancd_errorf("detect.image_size %d: a WideResNet backbone needs a multiple of 16 (e.g. %d or "
                "%d; HETMM uses 256)",
                S, S / 16 * 16 > 0 ? S / 16 * 16 : 16, (S / 16 + 1) * 16);
    return ANCD_EXIT_USAGE;
  }
  if (layers->n > HETMM_MAX_LAYERS) {
    ancd_errorf("detect.layers: at most %d entries, got %d", HETMM_MAX_LAYERS, layers->n);
    return ANCD_EXIT_USAGE;
  }
  for (int l = 0; l < layers->n; l++)
    if (layers->v[l] < 1 || layers->v[l] > WRN_STAGES) {
      ancd_errorf("detect.layers: %d, but a WideResNet backbone has stages 1..%d (layer1..layer%d; "
                  "HETMM uses [1, 2, 3])",
                  layers->v[l], WRN_STAGES, WRN_STAGES);
      return ANCD_EXIT_USAGE;
    }
  /* §B.3: Normalize(mean, std) with the reference's typo'd std unless backbone.mean/std say */
  float m0[3], s0[3];
  wrn_hetmm_norm(m0, s0);
  if (vit_norm_from_config(in->mean, in->std, &c->backbone, VIT_TIMM) != 0)
    return ANCD_EXIT_USAGE;
  if (c->backbone.mean.n == 0)
    memcpy(in->mean, m0, sizeof m0);
  if (c->backbone.std.n == 0)
    memcpy(in->std, s0, sizeof s0);
  /* §B.3: torchvision Resize on a PIL image = Image.resize BILINEAR (antialiased); the
   * reference's Python 3.9 caps Pillow at 11, so Pillow <= 12's pass order */
  in->resize = RESIZE_BILINEAR_PIL12;

  wrn_hook *v = xcalloc(1, sizeof *v);
  *bb = (hetmm_backbone){.n_layers = layers->n,
                         .max_batch = max_batch,
                         .text = in->text,
                         .ctx = v,
                         .forward = wrn_hook_forward,
                         .free = wrn_hook_free};
  wrn_desc d;
  wrn_weights w;
  int rc = wrn_weights_load(v, &d, &w, in, c);
  if (rc)
    return rc;
  const ops *o = ops_select(c->device);
  ops_precision prec;
  if (!o || ops_precision_parse(&prec, c->precision) != 0)
    return ANCD_EXIT_USAGE;
  o->set_precision(prec);
  if (wrn_create(&v->m, &d, &w, o, max_batch, S, S) != 0)
    return ANCD_EXIT_INPUT;
  int C[WRN_STAGES], H[WRN_STAGES], W[WRN_STAGES];
  wrn_layer_shapes(C, H, W, &d, S, S);
  for (int l = 0; l < layers->n; l++) {
    const int s = layers->v[l] - 1;
    v->stage[l] = s;
    bb->C[l] = C[s];
    bb->h[l] = H[s];
    bb->w[l] = W[s];
  }
  in->S = S;
  in->h = H[WRN_STAGES - 1];
  in->L = in->h * in->h;
  return 0;
}
