/* Image, mask and subset-group inputs of `ancd detect` (detect_inputs.h). */
#include "detect_inputs.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "wideresnet.h"
#include "wrn_load.h"

int detect_load_image(float *chw, uint8_t *rgb_out, const char *path, int S, resize_mode mode,
                      const float mean[3], const float std[3]) {
  image_u8 img = {0}, sized = {0};
  if (image_load(&img, path, 3) != 0)
    return -1;
  int rc = image_resize(&sized, &img, S, S, mode);
  image_free(&img);
  if (rc != 0)
    return ancd_error_prefix("%s: ", path);
  vit_normalize_image(chw, sized.data, S, S, mean, std);
  if (rgb_out)
    memcpy(rgb_out, sized.data, (size_t)S * S * 3);
  image_free(&sized);
  return 0;
}

/* The mask at its image's size: nearest resize when they differ (logged). */
static int mask_at_image_size(image_u8 *mask, const ds_item *it) {
  int w, h, c;
  if (image_probe(it->path, &w, &h, &c) != 0)
    return -1;
  if (mask->w == w && mask->h == h)
    return 0;
  log_warn("%s: mask is %dx%d but its image is %dx%d: resized (nearest) to the image size",
           it->mask, mask->w, mask->h, w, h);
  image_u8 sized = {0};
  if (image_resize(&sized, mask, w, h, RESIZE_NEAREST_CV) != 0)
    return ancd_error_prefix("%s: ", it->mask);
  image_free(mask);
  *mask = sized;
  return 0;
}

int detect_load_mask(uint8_t *out, const ds_item *it, int S, int visa_rule) {
  const size_t np = (size_t)S * S;
  memset(out, 0, np);
  if (!it->mask[0])
    return 0;
  image_u8 mask = {0}, sized = {0};
  if (image_load(&mask, it->mask, 1) != 0)
    return -1;
  if (mask_at_image_size(&mask, it) != 0) {
    image_free(&mask);
    return -1;
  }
  if (!visa_rule)
    for (size_t i = 0; i < (size_t)mask.w * mask.h; i++)
      mask.data[i] = mask.data[i] >= 128 ? 255 : 0;
  int rc = image_resize(&sized, &mask, S, S, RESIZE_BILINEAR_PIL12);
  image_free(&mask);
  if (rc != 0)
    return ancd_error_prefix("%s: ", it->mask);
  for (size_t i = 0; i < np; i++)
    out[i] = visa_rule ? sized.data[i] > 0 : sized.data[i] == 255;
  image_free(&sized);
  return 0;
}

/* The parent folder name of path into out ("" when there is none). */
static void parent_name(char *out, size_t n, const char *path) {
  const char *end = strrchr(path, '/');
  const char *start = path;
  if (end)
    for (const char *p = end - 1; p >= path && *p != '/'; p--)
      start = p;
  size_t len = end ? (size_t)(end - start) : 0;
  if (len >= n)
    len = n - 1;
  memcpy(out, start, len);
  out[len] = 0;
}

void detect_parent_groups(int *group, const ds_item *items, int n) {
  char(*names)[CFG_NAME_LEN] = xcalloc((size_t)n + 1, sizeof *names);
  int n_groups = 0;
  for (int i = 0; i < n; i++) {
    char name[CFG_NAME_LEN];
    parent_name(name, sizeof name, items[i].path);
    int g = 0;
    while (g < n_groups && strcmp(names[g], name))
      g++;
    if (g == n_groups)
      memcpy(names[n_groups++], name, sizeof name);
    group[i] = g;
  }
  free(names);
}

void detect_backbone_free(detect_backbone *b) {
  vit_free(b->model);
  if (b->ck) {
    vit_checkpoint_free(b->ck);
    free(b->ck);
  }
  free(b->storage);
  memset(b, 0, sizeof *b);
}

/* The weights and their description. */
static int load_weights(detect_backbone *b, const config *c) {
  if (!strcmp(c->backbone.weights, "random")) {
    if (vit_random(&b->desc, &b->w, &b->storage, c->backbone.arch, (uint64_t)c->seed) != 0) {
      ancd_error_prefix("backbone.arch: ");
      return ANCD_EXIT_USAGE;
    }
    snprintf(b->text, sizeof b->text, "random %s (seed %d): dim %d, depth %d, heads %d, patch %d",
             c->backbone.arch, c->seed, b->desc.dim, b->desc.depth, b->desc.heads, b->desc.patch);
    return 0;
  }
  b->ck = xcalloc(1, sizeof *b->ck);
  if (vit_load(b->ck, c->backbone.weights, c->backbone.family, c->backbone.activation) != 0)
    return ANCD_EXIT_INPUT;
  b->desc = b->ck->desc;
  b->w = b->ck->w;
  vit_describe(b->text, sizeof b->text, b->ck);
  return 0;
}

int detect_backbone_is_wrn(const config *c, char *what, size_t n) {
  const char *weights = c->backbone.weights;
  char tmp[8];
  if (!what) {
    what = tmp;
    n = sizeof tmp;
  }
  if (!strcmp(weights, "random")) {
    wrn_desc d;
    snprintf(what, n, "backbone.arch %s", c->backbone.arch);
    return wrn_arch(&d, c->backbone.arch) == 0;
  }
  snprintf(what, n, "backbone.weights %s (torchvision ResNet keys)", weights);
  return wrn_probe(weights);
}

int detect_check_vit_arch(const config *c, const char *category, const char *reason) {
  wrn_desc d;
  if (strcmp(c->backbone.weights, "random") || wrn_arch(&d, c->backbone.arch) != 0)
    return 0;
  log_error("backbone.arch %s (category %s): WideResNet backbones are for detect.method: hetmm "
            "(%s)",
            c->backbone.arch, category, reason);
  return ANCD_EXIT_USAGE;
}

int detect_backbone_load(detect_backbone *b, const config *c, int max_batch) {
  memset(b, 0, sizeof *b);
  char what[1200];
  int wrn = detect_backbone_is_wrn(c, what, sizeof what);
  if (wrn < 0)
    return ANCD_EXIT_INPUT;
  if (wrn) {
    ancd_errorf("%s: WideResNet backbones are for detect.method: hetmm (MuSc, `ancd train` and "
                "`ancd predict` take a ViT)",
                what);
    return ANCD_EXIT_USAGE;
  }
  int rc = load_weights(b, c);
  if (rc)
    return rc;
  const int S = c->detect.image_size, P = b->desc.patch;
  vit_resolve_clip_activation(&b->desc, c->backbone.activation, S);
  if (vit_norm_from_config(b->mean, b->std, &c->backbone, b->desc.family) != 0)
    return ANCD_EXIT_USAGE;
  /* Pillow <= 12's pass order: MuSc's environment (Python 3.8) cannot run a newer Pillow. */
  b->resize = b->desc.family == VIT_CLIP ? RESIZE_BICUBIC_PIL12 : RESIZE_BILINEAR_PIL12;
  if (S % P) {
    ancd_errorf("detect.image_size %d is not a multiple of the backbone's patch %d (e.g. %d or %d)",
                S, P, S / P * P > 0 ? S / P * P : P, (S / P + 1) * P);
    return ANCD_EXIT_USAGE;
  }
  for (int i = 0; i < c->detect.layers.n; i++)
    if (c->detect.layers.v[i] > b->desc.depth) {
      ancd_errorf("detect.layers: block %d, but the backbone has %d blocks (1-based numbers)",
                  c->detect.layers.v[i], b->desc.depth);
      return ANCD_EXIT_USAGE;
    }
  const ops *o = ops_select(c->device);
  ops_precision prec;
  if (!o || ops_precision_parse(&prec, c->precision) != 0)
    return ANCD_EXIT_USAGE;
  o->set_precision(prec);
  if (vit_create(&b->model, &b->desc, &b->w, o, max_batch, S, S) != 0)
    return ANCD_EXIT_INPUT;
  b->S = S;
  b->h = S / P;
  b->L = b->h * b->h;
  b->T = vit_tap_tokens(b->model);
  b->C = b->desc.dim;
  b->E = b->desc.family == VIT_CLIP ? b->desc.embed_dim : b->desc.dim;
  return 0;
}

msm_ref_rule detect_reference_rule(const config *c) {
  const char *v = c->detect.reference_score;
  return !strcmp(v, "pool") ? MSM_REF_POOL : !strcmp(v, "mean") ? MSM_REF_MEAN : MSM_REF_NEAREST;
}

const cfg_ints *detect_rscin_windows(const config *c) {
  static const cfg_ints none = {0};
  const char *v = c->detect.rscin;
  int on = !strcmp(v, "on") || (!strcmp(v, "auto") && strcmp(c->detect.reference, "train"));
  return on ? &c->detect.rscin_windows : &none;
}
