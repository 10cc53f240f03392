/* ViT checkpoint loading: a tiny checkpoint (dim 16, depth 2, patch 4, grid 2x2, MLP 32) in each
 * of the six key conventions is written here, loaded, and every canonical pointer compared with
 * the tensor it must come from (fused q|k|v rows, Hugging Face CLIP's projection transposed);
 * then missing, mis-shaped and otherwise wrong checkpoints, each error naming the file and key. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "test_util.h"
#include "vit_load.h"

enum { D = 16, DEPTH = 2, P = 4, G = 2, M = 32, C = 5, E = 12 };

static const char *dir;

/* An in-memory checkpoint; values are k/16 with |k| <= 64, exact in F16 and BF16. */
typedef struct {
  char name[128];
  int rank;
  int64_t shape[4];
  int64_t n;
  float *v;
  const char *dtype; /* NULL: the file's dtype */
} tensor;

typedef struct {
  tensor t[400];
  int n;
  uint32_t seed;
  const char *heads; /* __metadata__ heads, or NULL */
} ckpt;

static void ck_init(ckpt *c, uint32_t seed) {
  memset(c, 0, sizeof *c);
  c->seed = seed;
  c->heads = "2";
}

static void ck_free(ckpt *c) {
  for (int k = 0; k < c->n; k++)
    free(c->t[k].v);
  c->n = 0;
}

static const float *add_shape(ckpt *c, const char *name, const int64_t *shape, int rank) {
  tensor *t = &c->t[c->n++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rank = rank;
  t->n = 1;
  for (int k = 0; k < rank; k++)
    t->n *= t->shape[k] = shape[k];
  t->v = malloc((size_t)(t->n ? t->n : 1) * sizeof *t->v);
  for (int64_t i = 0; i < t->n; i++) {
    c->seed = c->seed * 1664525u + 1013904223u;
    t->v[i] = (float)((int)(c->seed >> 16) % 129 - 64) / 16.0f;
  }
  t->dtype = NULL;
  return t->v;
}
#define ADD(c, name, ...)                                                                          \
  add_shape(c, name, (const int64_t[]){__VA_ARGS__},                                               \
            (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static tensor *get(ckpt *c, const char *name) {
  for (int k = 0; k < c->n; k++)
    if (strcmp(c->t[k].name, name) == 0)
      return &c->t[k];
  fprintf(stderr, "test bug: no tensor %s\n", name);
  exit(1);
}
static const float *val(ckpt *c, const char *name) { return get(c, name)->v; }

static void drop(ckpt *c, const char *name) {
  tensor *t = get(c, name);
  free(t->v);
  *t = c->t[--c->n];
}

static uint16_t to_half(float v) { /* exact for the normal values the builder draws */
  uint32_t b;
  memcpy(&b, &v, 4);
  uint16_t sign = (uint16_t)(b >> 16 & 0x8000);
  if ((b & 0x7fffffff) == 0)
    return sign;
  int exp = (int)(b >> 23 & 0xff) - 127 + 15;
  return (uint16_t)(sign | exp << 10 | (b >> 13 & 0x3ff));
}

/* Writes the checkpoint with every float tensor in dtype ("F32", "F16", "BF16"). */
static const char *write_ckpt(const ckpt *c, const char *name, const char *dtype) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t hcap = 1 << 16, hn = 0, dn = 0;
  char *h = malloc(hcap);
  size_t dcap = 0;
  for (int k = 0; k < c->n; k++)
    dcap += (size_t)c->t[k].n * 8;
  unsigned char *data = malloc(dcap + 1);
  hn += (size_t)snprintf(h + hn, hcap - hn, "{");
  if (c->heads)
    hn += (size_t)snprintf(h + hn, hcap - hn, "\"__metadata__\":{\"heads\":\"%s\"},", c->heads);
  for (int k = 0; k < c->n; k++) {
    const tensor *t = &c->t[k];
    const char *dt = t->dtype ? t->dtype : dtype;
    size_t begin = dn;
    for (int64_t i = 0; i < t->n; i++) {
      float v = t->v[i];
      if (strcmp(dt, "F32") == 0) {
        memcpy(data + dn, &v, 4);
        dn += 4;
      } else if (strcmp(dt, "I64") == 0) {
        int64_t x = (int64_t)i;
        memcpy(data + dn, &x, 8);
        dn += 8;
      } else if (strcmp(dt, "I8") == 0) {
        data[dn++] = (unsigned char)(int8_t)v;
      } else {
        uint32_t b;
        memcpy(&b, &v, 4);
        uint16_t x = strcmp(dt, "F16") == 0 ? to_half(v) : (uint16_t)(b >> 16);
        data[dn++] = (unsigned char)(x & 0xff);
        data[dn++] = (unsigned char)(x >> 8);
      }
    }
    hn += (size_t)snprintf(h + hn, hcap - hn, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                           k ? "," : "", t->name, dt);
    for (int d = 0; d < t->rank; d++)
      hn += (size_t)snprintf(h + hn, hcap - hn, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    hn += (size_t)snprintf(h + hn, hcap - hn, "],\"data_offsets\":[%zu,%zu]}", begin, dn);
  }
  test_write_safetensors(path, h, hn, hcap, data, dn);
  free(h);
  free(data);
  return path;
}

static int64_t n_floats(const ckpt *c) {
  int64_t n = 0;
  for (int k = 0; k < c->n; k++)
    n += c->t[k].n;
  return n;
}

static int same(const float *got, const float *want, int64_t n) {
  if (!got || !want)
    return 0;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i])
      return 0;
  return 1;
}

static int is_zero(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (v[i] != 0)
      return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* The six conventions. Names are built with a prefix where the convention has one. */

static char key_buf[256];
static const char *key(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *key(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(key_buf, sizeof key_buf, fmt, ap);
  va_end(ap);
  return key_buf;
}

/* <base>.weight [out, in] and <base>.bias [out]: an nn.Linear. */
static void add_linear(ckpt *c, const char *base, int64_t out, int64_t in) {
  char name[256];
  snprintf(name, sizeof name, "%s", base); /* base may be key()'s buffer */
  ADD(c, key("%s.weight", name), out, in);
  ADD(c, key("%s.bias", name), out);
}

/* <base>.weight [n] and <base>.bias [n]: a LayerNorm (or a conv bias pair of that shape). */
static void add_norm(ckpt *c, const char *base, int64_t n) {
  char name[256];
  snprintf(name, sizeof name, "%s", base);
  ADD(c, key("%s.weight", name), n);
  ADD(c, key("%s.bias", name), n);
}

static void make_timm(ckpt *c, int layerscale, int head) {
  ADD(c, "cls_token", 1, 1, D);
  ADD(c, "pos_embed", 1, 1 + G * G, D);
  ADD(c, "patch_embed.proj.weight", D, 3, P, P);
  ADD(c, "patch_embed.proj.bias", D);
  for (int b = 0; b < DEPTH; b++) {
    add_norm(c, key("blocks.%d.norm1", b), D);
    add_linear(c, key("blocks.%d.attn.qkv", b), 3 * D, D);
    add_linear(c, key("blocks.%d.attn.proj", b), D, D);
    if (layerscale) {
      ADD(c, key("blocks.%d.ls1.gamma", b), D);
      ADD(c, key("blocks.%d.ls2.gamma", b), D);
    }
    add_norm(c, key("blocks.%d.norm2", b), D);
    add_linear(c, key("blocks.%d.mlp.fc1", b), M, D);
    add_linear(c, key("blocks.%d.mlp.fc2", b), D, M);
  }
  ADD(c, "norm.weight", D);
  ADD(c, "norm.bias", D);
  if (head) {
    ADD(c, "head.weight", C, D);
    ADD(c, "head.bias", C);
  }
}

static void make_hf_vit(ckpt *c, const char *p, int classifier) {
  ADD(c, key("%sembeddings.cls_token", p), 1, 1, D);
  ADD(c, key("%sembeddings.position_embeddings", p), 1, 1 + G * G, D);
  ADD(c, key("%sembeddings.patch_embeddings.projection.weight", p), D, 3, P, P);
  ADD(c, key("%sembeddings.patch_embeddings.projection.bias", p), D);
  for (int b = 0; b < DEPTH; b++) {
    const char *l = "encoder.layer";
    add_norm(c, key("%s%s.%d.layernorm_before", p, l, b), D);
    add_linear(c, key("%s%s.%d.attention.attention.query", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.attention.key", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.attention.value", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.output.dense", p, l, b), D, D);
    add_norm(c, key("%s%s.%d.layernorm_after", p, l, b), D);
    add_linear(c, key("%s%s.%d.intermediate.dense", p, l, b), M, D);
    add_linear(c, key("%s%s.%d.output.dense", p, l, b), D, M);
  }
  add_norm(c, key("%slayernorm", p), D);
  if (classifier) {
    ADD(c, "classifier.weight", C, D);
    ADD(c, "classifier.bias", C);
  }
}

static void make_hf_dinov2(ckpt *c, const char *p) {
  ADD(c, key("%sembeddings.cls_token", p), 1, 1, D);
  ADD(c, key("%sembeddings.mask_token", p), 1, D);
  ADD(c, key("%sembeddings.position_embeddings", p), 1, 1 + G * G, D);
  ADD(c, key("%sembeddings.patch_embeddings.projection.weight", p), D, 3, P, P);
  ADD(c, key("%sembeddings.patch_embeddings.projection.bias", p), D);
  for (int b = 0; b < DEPTH; b++) {
    const char *l = "encoder.layer";
    add_norm(c, key("%s%s.%d.norm1", p, l, b), D);
    add_linear(c, key("%s%s.%d.attention.attention.query", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.attention.key", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.attention.value", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.attention.output.dense", p, l, b), D, D);
    ADD(c, key("%s%s.%d.layer_scale1.lambda1", p, l, b), D);
    add_norm(c, key("%s%s.%d.norm2", p, l, b), D);
    add_linear(c, key("%s%s.%d.mlp.fc1", p, l, b), M, D);
    add_linear(c, key("%s%s.%d.mlp.fc2", p, l, b), D, M);
    ADD(c, key("%s%s.%d.layer_scale2.lambda1", p, l, b), D);
  }
  add_norm(c, key("%slayernorm", p), D);
}

static void make_hf_clip(ckpt *c) {
  const char *p = "vision_model.";
  ADD(c, key("%sembeddings.class_embedding", p), D);
  ADD(c, key("%sembeddings.patch_embedding.weight", p), D, 3, P, P);
  ADD(c, key("%sembeddings.position_embedding.weight", p), 1 + G * G, D);
  ADD(c, key("%sembeddings.position_ids", p), 1, 1 + G * G);
  get(c, key("%sembeddings.position_ids", p))->dtype = "I64"; /* an integer buffer is fine */
  add_norm(c, key("%spre_layrnorm", p), D);
  for (int b = 0; b < DEPTH; b++) {
    const char *l = "encoder.layers";
    add_norm(c, key("%s%s.%d.layer_norm1", p, l, b), D);
    add_linear(c, key("%s%s.%d.self_attn.q_proj", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.self_attn.k_proj", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.self_attn.v_proj", p, l, b), D, D);
    add_linear(c, key("%s%s.%d.self_attn.out_proj", p, l, b), D, D);
    add_norm(c, key("%s%s.%d.layer_norm2", p, l, b), D);
    add_linear(c, key("%s%s.%d.mlp.fc1", p, l, b), M, D);
    add_linear(c, key("%s%s.%d.mlp.fc2", p, l, b), D, M);
  }
  add_norm(c, key("%spost_layernorm", p), D);
  ADD(c, "visual_projection.weight", E, D);
  /* Text tower keys of a full CLIPModel, ignored. */
  ADD(c, "text_model.encoder.layers.0.layer_norm1.weight", 8);
  ADD(c, "text_projection.weight", E, 8);
  ADD(c, "logit_scale", 1);
}

/* OpenAI CLIP with width dim (64 here shows the default heads = dim / 64). */
static void make_openai(ckpt *c, const char *p, int dim, int text_tower) {
  ADD(c, key("%sconv1.weight", p), dim, 3, P, P);
  ADD(c, key("%sclass_embedding", p), dim);
  ADD(c, key("%spositional_embedding", p), 1 + G * G, dim);
  add_norm(c, key("%sln_pre", p), dim);
  for (int b = 0; b < DEPTH; b++) {
    const char *l = "transformer.resblocks";
    add_norm(c, key("%s%s.%d.ln_1", p, l, b), dim);
    ADD(c, key("%s%s.%d.attn.in_proj_weight", p, l, b), 3 * dim, dim);
    ADD(c, key("%s%s.%d.attn.in_proj_bias", p, l, b), 3 * dim);
    add_linear(c, key("%s%s.%d.attn.out_proj", p, l, b), dim, dim);
    add_norm(c, key("%s%s.%d.ln_2", p, l, b), dim);
    add_linear(c, key("%s%s.%d.mlp.c_fc", p, l, b), 4 * dim, dim);
    add_linear(c, key("%s%s.%d.mlp.c_proj", p, l, b), dim, 4 * dim);
  }
  add_norm(c, key("%sln_post", p), dim);
  ADD(c, key("%sproj", p), dim, E);
  if (text_tower) { /* three text blocks of width 8 at the top level: not the vision blocks */
    for (int b = 0; b < 3; b++)
      ADD(c, key("transformer.resblocks.%d.ln_1.weight", b), 8);
    ADD(c, "positional_embedding", 7, 8);
    ADD(c, "token_embedding.weight", 10, 8);
    ADD(c, "text_projection", 8, E);
  }
}

/* ---------------------------------------------------------------------------------------- */

static void check_desc(const vit_checkpoint *ck, const char *convention, vit_family family, int dim,
                       int heads, int mlp, int n_classes, int embed_dim, int layerscale, int ln_pre,
                       int patch_bias, float eps, vit_activation act) {
  const vit_desc *d = &ck->desc;
  CHECK(strcmp(ck->convention, convention) == 0, "convention %s, want %s", ck->convention,
        convention);
  CHECK(d->family == family, "%s: family %d, want %d", convention, d->family, family);
  CHECK(d->dim == dim && d->depth == DEPTH && d->heads == heads && d->patch == P &&
            d->pos_grid == G && d->mlp_dim == mlp,
        "%s: dim %d depth %d heads %d patch %d grid %d mlp %d", convention, d->dim, d->depth,
        d->heads, d->patch, d->pos_grid, d->mlp_dim);
  CHECK(d->n_classes == n_classes && d->embed_dim == embed_dim,
        "%s: n_classes %d (want %d), embed_dim %d (want %d)", convention, d->n_classes, n_classes,
        d->embed_dim, embed_dim);
  CHECK(d->layerscale == layerscale && d->ln_pre == ln_pre && d->patch_bias == patch_bias &&
            d->qkv_bias == 1,
        "%s: flags ls %d ln_pre %d patch_bias %d qkv_bias %d", convention, d->layerscale, d->ln_pre,
        d->patch_bias, d->qkv_bias);
  CHECK(d->ln_eps == eps, "%s: eps %g, want %g", convention, (double)d->ln_eps, (double)eps);
  CHECK(d->act == act, "%s: activation %d, want %d", convention, d->act, act);
}

static int load(vit_checkpoint *ck, const char *path, const char *hint, const char *act) {
  int rc = vit_load(ck, path, hint, act);
  CHECK(rc == 0, "vit_load %s: %s", path, ancd_error());
  return rc;
}

static void test_timm(const char *dtype) {
  ckpt c;
  ck_init(&c, 1);
  make_timm(&c, 0, 1);
  const char *path =
      write_ckpt(&c, dtype[1] == '3' ? "timm.safetensors" : "timm16.safetensors", dtype);
  vit_checkpoint ck;
  if (load(&ck, path, "auto", "auto") == 0) {
    check_desc(&ck, "timm", VIT_TIMM, D, 2, M, C, 0, 0, 0, 1, 1e-6f, VIT_ACT_GELU);
    const vit_weights *w = &ck.w;
    CHECK(same(w->patch_w, val(&c, "patch_embed.proj.weight"), D * 3 * P * P), "patch_w");
    CHECK(same(w->patch_b, val(&c, "patch_embed.proj.bias"), D), "patch_b");
    CHECK(same(w->cls, val(&c, "cls_token"), D), "cls");
    CHECK(same(w->pos, val(&c, "pos_embed"), (1 + G * G) * D), "pos");
    CHECK(w->ln_pre_w == NULL && w->proj == NULL, "no ln_pre / proj");
    CHECK(same(w->norm_w, val(&c, "norm.weight"), D) && same(w->norm_b, val(&c, "norm.bias"), D),
          "norm");
    CHECK(same(w->head_w, val(&c, "head.weight"), C * D) &&
              same(w->head_b, val(&c, "head.bias"), C),
          "head");
    for (int b = 0; b < DEPTH; b++) {
      const vit_block_weights *bw = &w->blocks[b];
      CHECK(same(bw->ln1_w, val(&c, key("blocks.%d.norm1.weight", b)), D), "ln1_w %d", b);
      CHECK(same(bw->ln1_b, val(&c, key("blocks.%d.norm1.bias", b)), D), "ln1_b %d", b);
      CHECK(same(bw->qkv_w, val(&c, key("blocks.%d.attn.qkv.weight", b)), 3 * D * D), "qkv %d", b);
      CHECK(same(bw->qkv_b, val(&c, key("blocks.%d.attn.qkv.bias", b)), 3 * D), "qkv_b %d", b);
      CHECK(same(bw->proj_w, val(&c, key("blocks.%d.attn.proj.weight", b)), D * D), "proj %d", b);
      CHECK(same(bw->proj_b, val(&c, key("blocks.%d.attn.proj.bias", b)), D), "proj_b %d", b);
      CHECK(bw->ls1 == NULL && bw->ls2 == NULL, "no LayerScale");
      CHECK(same(bw->ln2_w, val(&c, key("blocks.%d.norm2.weight", b)), D), "ln2_w %d", b);
      CHECK(same(bw->ln2_b, val(&c, key("blocks.%d.norm2.bias", b)), D), "ln2_b %d", b);
      CHECK(same(bw->fc1_w, val(&c, key("blocks.%d.mlp.fc1.weight", b)), M * D), "fc1 %d", b);
      CHECK(same(bw->fc1_b, val(&c, key("blocks.%d.mlp.fc1.bias", b)), M), "fc1_b %d", b);
      CHECK(same(bw->fc2_w, val(&c, key("blocks.%d.mlp.fc2.weight", b)), D * M), "fc2 %d", b);
      CHECK(same(bw->fc2_b, val(&c, key("blocks.%d.mlp.fc2.bias", b)), D), "fc2_b %d", b);
    }
    CHECK((int64_t)ck.n_params == n_floats(&c), "n_params %zu, want %lld", ck.n_params,
          (long long)n_floats(&c));
    char text[512], want[512];
    vit_describe(text, sizeof text, &ck);
    snprintf(want, sizeof want,
             "timm ViT: dim 16, depth 2, heads 2, patch 4, grid 2x2 (8 px), mlp 32, LN eps 1e-06, "
             "GELU, CLS, head 5 classes, %lld parameters",
             (long long)n_floats(&c));
    CHECK(strcmp(text, want) == 0, "describe: %s", text);
    vit_checkpoint_free(&ck);
  }
  /* The hint picks dino for the same keys; an explicit activation wins. */
  if (load(&ck, path, "dino", "quick_gelu") == 0) {
    CHECK(ck.desc.family == VIT_DINO && ck.desc.act == VIT_ACT_QUICK_GELU, "hint dino");
    vit_checkpoint_free(&ck);
  }
  CHECK(vit_load(&ck, path, "clip", "auto") == -1 &&
            strstr(ancd_error(), "backbone.family is clip, but the keys follow the timm "
                                 "convention") &&
            strstr(ancd_error(), path),
        "hint clip on timm keys: %s", ancd_error());
  CHECK(vit_load(&ck, path, "auto", "relu") == -1 && strstr(ancd_error(), "relu") &&
            strstr(ancd_error(), path),
        "bad activation: %s", ancd_error());
  CHECK(ck.storage == NULL && ck.blocks == NULL, "failed load leaves ck empty");
  ck_free(&c);
}

static void test_dino_and_dinov2(void) {
  ckpt c;
  ck_init(&c, 2);
  make_timm(&c, 0, 0); /* DINO v1: no head */
  const char *path = write_ckpt(&c, "dino.safetensors", "F32");
  vit_checkpoint ck;
  if (load(&ck, path, NULL, NULL) == 0) {
    check_desc(&ck, "timm", VIT_DINO, D, 2, M, 0, 0, 0, 0, 1, 1e-6f, VIT_ACT_GELU);
    CHECK(ck.w.head_w == NULL && ck.w.head_b == NULL, "no head");
    char text[512];
    vit_describe(text, sizeof text, &ck);
    CHECK(strncmp(text, "timm ViT (family dino): dim 16", 30) == 0 && strstr(text, "no head"),
          "describe: %s", text);
    vit_checkpoint_free(&ck);
  }
  ck_free(&c);

  ck_init(&c, 3);
  make_timm(&c, 1, 0); /* DINOv2 original naming */
  ADD(&c, "mask_token", 1, D);
  path = write_ckpt(&c, "dinov2.safetensors", "BF16");
  if (load(&ck, path, "dinov2", "auto") == 0) {
    check_desc(&ck, "dinov2", VIT_DINOV2, D, 2, M, 0, 0, 1, 0, 1, 1e-6f, VIT_ACT_GELU);
    for (int b = 0; b < DEPTH; b++) {
      CHECK(same(ck.w.blocks[b].ls1, val(&c, key("blocks.%d.ls1.gamma", b)), D), "ls1 %d", b);
      CHECK(same(ck.w.blocks[b].ls2, val(&c, key("blocks.%d.ls2.gamma", b)), D), "ls2 %d", b);
      CHECK(same(ck.w.blocks[b].qkv_w, val(&c, key("blocks.%d.attn.qkv.weight", b)), 3 * D * D),
            "qkv %d", b);
    }
    CHECK((int64_t)ck.n_params == n_floats(&c) - D, "n_params %zu (mask_token not loaded)",
          ck.n_params);
    vit_checkpoint_free(&ck);
  }
  ADD(&c, "register_tokens", 1, 4, D);
  path = write_ckpt(&c, "dinov2_reg.safetensors", "F32");
  CHECK(vit_load(&ck, path, "auto", "auto") == -1 && strstr(ancd_error(), "registers") &&
            strstr(ancd_error(), path),
        "registers: %s", ancd_error());
  ck_free(&c);
}

static void check_separate_qkv(const vit_checkpoint *ck, ckpt *c, const char *p, const char *l,
                               const char *const qkv[3], const char *bias_fmt) {
  for (int b = 0; b < DEPTH; b++) {
    const vit_block_weights *bw = &ck->w.blocks[b];
    for (int k = 0; k < 3; k++) {
      char name[256];
      snprintf(name, sizeof name, "%s%s.%d.%s.weight", p, l, b, qkv[k]);
      CHECK(same(bw->qkv_w + k * D * D, val(c, name), D * D), "%s -> qkv rows %d..%d", name, k * D,
            (k + 1) * D);
      snprintf(name, sizeof name, bias_fmt, p, l, b, qkv[k]);
      CHECK(same(bw->qkv_b + k * D, val(c, name), D), "%s -> qkv_b", name);
    }
  }
}

static void test_hf_vit(void) {
  const char *const qkv[3] = {"attention.attention.query", "attention.attention.key",
                              "attention.attention.value"};
  for (int variant = 0; variant < 2; variant++) {
    const char *p = variant ? "" : "vit.";
    ckpt c;
    ck_init(&c, 10 + (uint32_t)variant);
    make_hf_vit(&c, p, !variant);
    const char *path =
        write_ckpt(&c, variant ? "hfvit_noprefix.safetensors" : "hfvit.safetensors", "F16");
    vit_checkpoint ck;
    if (load(&ck, path, "auto", "auto") == 0) {
      check_desc(&ck, "hf-vit", variant ? VIT_DINO : VIT_TIMM, D, 2, M, variant ? 0 : C, 0, 0, 0, 1,
                 1e-12f, VIT_ACT_GELU);
      check_separate_qkv(&ck, &c, p, "encoder.layer", qkv, "%s%s.%d.%s.bias");
      const vit_weights *w = &ck.w;
      CHECK(same(w->pos, val(&c, key("%sembeddings.position_embeddings", p)), (1 + G * G) * D),
            "pos");
      CHECK(
          same(w->blocks[1].ln2_w, val(&c, key("%sencoder.layer.1.layernorm_after.weight", p)), D),
          "layernorm_after");
      CHECK(
          same(w->blocks[1].fc2_w, val(&c, key("%sencoder.layer.1.output.dense.weight", p)), D * M),
          "output.dense");
      CHECK(same(w->blocks[0].proj_w,
                 val(&c, key("%sencoder.layer.0.attention.output.dense.weight", p)), D * D),
            "attention.output.dense");
      CHECK(same(w->norm_b, val(&c, key("%slayernorm.bias", p)), D), "layernorm");
      if (!variant)
        CHECK(same(w->head_w, val(&c, "classifier.weight"), C * D), "classifier");
      vit_checkpoint_free(&ck);
    }
    ck_free(&c);
  }
  /* Without qkv biases: NULL and the flag off. */
  ckpt c;
  ck_init(&c, 12);
  make_hf_vit(&c, "vit.", 1);
  for (int b = 0; b < DEPTH; b++)
    for (int k = 0; k < 3; k++)
      drop(&c, key("vit.encoder.layer.%d.%s.bias", b, qkv[k]));
  const char *path = write_ckpt(&c, "hfvit_nobias.safetensors", "F32");
  vit_checkpoint ck;
  if (load(&ck, path, "auto", "auto") == 0) {
    CHECK(ck.desc.qkv_bias == 0 && ck.w.blocks[0].qkv_b == NULL, "no qkv bias");
    char text[512];
    vit_describe(text, sizeof text, &ck);
    CHECK(strstr(text, ", no qkv bias") != NULL, "describe: %s", text);
    vit_checkpoint_free(&ck);
  }
  /* Only the key bias missing in block 1 (as in some checkpoints): zeros in its place. */
  ck_free(&c);
  ck_init(&c, 13);
  make_hf_vit(&c, "vit.", 1);
  drop(&c, "vit.encoder.layer.1.attention.attention.key.bias");
  path = write_ckpt(&c, "hfvit_nokbias.safetensors", "F32");
  if (load(&ck, path, "auto", "auto") == 0) {
    const float *qb = ck.w.blocks[1].qkv_b;
    CHECK(ck.desc.qkv_bias == 1 && qb, "qkv bias flag");
    if (qb) {
      CHECK(same(qb, val(&c, "vit.encoder.layer.1.attention.attention.query.bias"), D), "q bias");
      CHECK(is_zero(qb + D, D), "missing k bias is zeros");
      CHECK(same(qb + 2 * D, val(&c, "vit.encoder.layer.1.attention.attention.value.bias"), D),
            "v bias");
    }
    vit_checkpoint_free(&ck);
  }
  ck_free(&c);
}

static void test_hf_dinov2(void) {
  const char *const qkv[3] = {"attention.attention.query", "attention.attention.key",
                              "attention.attention.value"};
  for (int variant = 0; variant < 2; variant++) {
    const char *p = variant ? "" : "dinov2.";
    ckpt c;
    ck_init(&c, 20 + (uint32_t)variant);
    make_hf_dinov2(&c, p);
    const char *path =
        write_ckpt(&c, variant ? "hfdinov2_noprefix.safetensors" : "hfdinov2.safetensors", "F32");
    vit_checkpoint ck;
    if (load(&ck, path, "auto", "auto") == 0) {
      check_desc(&ck, "hf-dinov2", VIT_DINOV2, D, 2, M, 0, 0, 1, 0, 1, 1e-6f, VIT_ACT_GELU);
      check_separate_qkv(&ck, &c, p, "encoder.layer", qkv, "%s%s.%d.%s.bias");
      for (int b = 0; b < DEPTH; b++) {
        CHECK(same(ck.w.blocks[b].ls1,
                   val(&c, key("%sencoder.layer.%d.layer_scale1.lambda1", p, b)), D),
              "ls1");
        CHECK(same(ck.w.blocks[b].ls2,
                   val(&c, key("%sencoder.layer.%d.layer_scale2.lambda1", p, b)), D),
              "ls2");
      }
      CHECK(same(ck.w.cls, val(&c, key("%sembeddings.cls_token", p)), D), "cls");
      vit_checkpoint_free(&ck);
    }
    CHECK(vit_load(&ck, path, "timm", "auto") == -1 && strstr(ancd_error(), "hf-dinov2"),
          "hint timm on DINOv2: %s", ancd_error());
    if (!variant) {
      ADD(&c, "dinov2.embeddings.register_tokens", 1, 4, D);
      path = write_ckpt(&c, "hfdinov2_reg.safetensors", "F32");
      CHECK(vit_load(&ck, path, "auto", "auto") == -1 &&
                strstr(ancd_error(), "'dinov2.embeddings.register_tokens'") &&
                strstr(ancd_error(), "registers"),
            "registers: %s", ancd_error());
    }
    ck_free(&c);
  }
}

static void test_hf_clip(void) {
  const char *const qkv[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
  ckpt c;
  ck_init(&c, 30);
  make_hf_clip(&c);
  const char *path = write_ckpt(&c, "hfclip.safetensors", "F16");
  vit_checkpoint ck;
  if (load(&ck, path, "clip", "auto") == 0) {
    check_desc(&ck, "hf-clip", VIT_CLIP, D, 2, M, 0, E, 0, 1, 0, 1e-5f, VIT_ACT_QUICK_GELU);
    check_separate_qkv(&ck, &c, "vision_model.", "encoder.layers", qkv, "%s%s.%d.%s.bias");
    const vit_weights *w = &ck.w;
    CHECK(w->patch_b == NULL, "no conv bias");
    CHECK(same(w->cls, val(&c, "vision_model.embeddings.class_embedding"), D), "class_embedding");
    CHECK(
        same(w->pos, val(&c, "vision_model.embeddings.position_embedding.weight"), (1 + G * G) * D),
        "pos");
    CHECK(same(w->ln_pre_w, val(&c, "vision_model.pre_layrnorm.weight"), D) &&
              same(w->ln_pre_b, val(&c, "vision_model.pre_layrnorm.bias"), D),
          "pre_layrnorm");
    CHECK(same(w->norm_w, val(&c, "vision_model.post_layernorm.weight"), D), "post_layernorm");
    const float *vp = val(&c, "visual_projection.weight"); /* [E, D] */
    int transposed = w->proj != NULL;
    for (int r = 0; transposed && r < D; r++)
      for (int e = 0; e < E; e++)
        transposed &= w->proj[r * E + e] == vp[e * D + r];
    CHECK(transposed, "proj [D, E] is visual_projection.weight transposed");
    CHECK((int64_t)ck.n_params == n_floats(&c) - (1 + G * G) - 8 - E * 8 - 1,
          "n_params %zu (text tower and position_ids not loaded)", ck.n_params);
    char text[512];
    vit_describe(text, sizeof text, &ck);
    CHECK(strstr(text, "hf-clip ViT (family clip): dim 16") &&
              strstr(text, "QuickGELU, CLS, ln_pre, "
                           "no patch bias, no head, "
                           "proj 12"),
          "describe: %s", text);
    vit_checkpoint_free(&ck);
  }
  ck_free(&c);
}

static void test_openai_clip(void) {
  ckpt c;
  ck_init(&c, 40);
  make_openai(&c, "visual.", D, 1);
  const char *path = write_ckpt(&c, "openai.safetensors", "F16");
  vit_checkpoint ck;
  if (load(&ck, path, "auto", "auto") == 0) {
    check_desc(&ck, "openai-clip", VIT_CLIP, D, 2, 4 * D, 0, E, 0, 1, 0, 1e-5f, VIT_ACT_QUICK_GELU);
    const vit_weights *w = &ck.w;
    CHECK(same(w->patch_w, val(&c, "visual.conv1.weight"), D * 3 * P * P), "conv1");
    CHECK(same(w->proj, val(&c, "visual.proj"), D * E), "proj");
    CHECK(same(w->pos, val(&c, "visual.positional_embedding"), (1 + G * G) * D), "vision pos");
    for (int b = 0; b < DEPTH; b++) {
      const vit_block_weights *bw = &w->blocks[b];
      const char *l = "visual.transformer.resblocks";
      CHECK(same(bw->qkv_w, val(&c, key("%s.%d.attn.in_proj_weight", l, b)), 3 * D * D), "in_proj");
      CHECK(same(bw->qkv_b, val(&c, key("%s.%d.attn.in_proj_bias", l, b)), 3 * D), "in_proj_b");
      CHECK(same(bw->proj_w, val(&c, key("%s.%d.attn.out_proj.weight", l, b)), D * D), "out_proj");
      CHECK(same(bw->fc1_w, val(&c, key("%s.%d.mlp.c_fc.weight", l, b)), 4 * D * D), "c_fc");
      CHECK(same(bw->fc2_b, val(&c, key("%s.%d.mlp.c_proj.bias", l, b)), D), "c_proj_b");
      CHECK(same(bw->ln2_w, val(&c, key("%s.%d.ln_2.weight", l, b)), D), "ln_2");
    }
    /* musc §A.4.2: QuickGELU at the native size (grid 2 x patch 4 = 8), GELU elsewhere. */
    vit_desc d = ck.desc;
    vit_resolve_clip_activation(&d, "auto", 8);
    CHECK(d.act == VIT_ACT_QUICK_GELU, "auto at native size");
    vit_resolve_clip_activation(&d, "auto", 12);
    CHECK(d.act == VIT_ACT_GELU, "auto at 12 px");
    vit_resolve_clip_activation(&d, "quick_gelu", 12);
    CHECK(d.act == VIT_ACT_QUICK_GELU, "explicit quick_gelu");
    vit_resolve_clip_activation(&d, "gelu", 8);
    CHECK(d.act == VIT_ACT_GELU, "explicit gelu");
    d.family = VIT_DINO;
    vit_resolve_clip_activation(&d, "auto", 8);
    CHECK(d.act == VIT_ACT_GELU, "auto for DINO");
    vit_checkpoint_free(&ck);
  }
  ck_free(&c);

  /* Vision tower alone, no prefix, width 64 without __metadata__: heads = 64 / 64. */
  ck_init(&c, 41);
  c.heads = NULL;
  make_openai(&c, "", 64, 0);
  path = write_ckpt(&c, "openai_visual_only.safetensors", "BF16");
  if (load(&ck, path, "auto", "gelu") == 0) {
    check_desc(&ck, "openai-clip", VIT_CLIP, 64, 1, 4 * 64, 0, E, 0, 1, 0, 1e-5f, VIT_ACT_GELU);
    CHECK(same(ck.w.blocks[1].ln1_b, val(&c, "transformer.resblocks.1.ln_1.bias"), 64), "ln_1");
    CHECK((int64_t)ck.n_params == n_floats(&c), "n_params");
    vit_checkpoint_free(&ck);
  }
  ck_free(&c);
}

/* Loading must fail with the file and `what` in the message. */
static void expect_fail(ckpt *c, const char *name, const char *what) {
  const char *path = write_ckpt(c, name, "F32");
  vit_checkpoint ck;
  int rc = vit_load(&ck, path, "auto", "auto");
  CHECK(rc == -1, "%s loaded", name);
  CHECK(strstr(ancd_error(), path) && strstr(ancd_error(), what), "%s: error '%s' lacks '%s'", name,
        ancd_error(), what);
  CHECK(ck.storage == NULL && ck.blocks == NULL, "%s: ck not left empty", name);
  if (rc == 0)
    vit_checkpoint_free(&ck);
}

static void test_errors(void) {
  ckpt c;
  ck_init(&c, 50);
  make_timm(&c, 0, 1);
  drop(&c, "blocks.1.mlp.fc2.bias");
  expect_fail(&c, "missing.safetensors",
              "missing tensor 'blocks.1.mlp.fc2.bias' (timm convention)");
  ck_free(&c);

  ck_init(&c, 51);
  make_timm(&c, 0, 1);
  drop(&c, "blocks.1.attn.proj.weight");
  ADD(&c, "blocks.1.attn.proj.weight", D, D - 1);
  expect_fail(&c, "misshaped.safetensors",
              "tensor 'blocks.1.attn.proj.weight' has shape [16, 15], expected [16, 16]");
  ck_free(&c);

  ck_init(&c, 52);
  make_timm(&c, 0, 1);
  drop(&c, "blocks.0.mlp.fc1.bias");
  ADD(&c, "blocks.0.mlp.fc1.bias", 1, M + 1);
  expect_fail(&c, "misshaped_bias.safetensors",
              "'blocks.0.mlp.fc1.bias' has shape [1, 33], expected [32]");
  ck_free(&c);

  ck_init(&c, 53);
  make_timm(&c, 0, 1);
  drop(&c, "patch_embed.proj.weight");
  ADD(&c, "patch_embed.proj.weight", D, 3, P, P + 1);
  expect_fail(&c, "patch.safetensors",
              "'patch_embed.proj.weight' has shape [16, 3, 4, 5], expected [16, 3, 4, 4]");
  ck_free(&c);

  ck_init(&c, 54);
  make_timm(&c, 0, 1);
  drop(&c, "pos_embed");
  ADD(&c, "pos_embed", 1, 6, D);
  expect_fail(&c, "pos.safetensors", "'pos_embed' has 6 positions; expected 1 (CLS) + a square");
  ck_free(&c);

  ck_init(&c, 55);
  make_timm(&c, 0, 1);
  drop(&c, "pos_embed");
  ADD(&c, "pos_embed", 1, 1 + G * G, D + 1);
  expect_fail(&c, "pos_dim.safetensors", "'pos_embed' has shape [1, 5, 17], expected [*, 16]");
  ck_free(&c);

  ck_init(&c, 56);
  make_timm(&c, 0, 1);
  ADD(&c, "blocks.3.norm1.weight", D);
  expect_fail(&c, "gap.safetensors", "blocks are not numbered 0..3: no tensor 'blocks.2.*'");
  ck_free(&c);

  ck_init(&c, 57);
  make_timm(&c, 0, 1);
  c.heads = NULL;
  expect_fail(&c, "heads.safetensors", "dim 16 is not a multiple of the usual head dim 64");
  c.heads = "3";
  expect_fail(&c, "heads3.safetensors", "__metadata__ heads '3' does not divide dim 16");
  ck_free(&c);

  ck_init(&c, 58);
  make_timm(&c, 0, 1);
  get(&c, "blocks.0.norm1.weight")->dtype = "I8";
  expect_fail(&c, "int8.safetensors", "tensor 'blocks.0.norm1.weight' has dtype I8");
  ck_free(&c);

  ck_init(&c, 59);
  ADD(&c, "encoder.weight", 4, 4);
  expect_fail(&c, "unknown.safetensors", "no ViT key convention recognised among its 1 tensors");
  ck_free(&c);

  ck_init(&c, 60);
  make_hf_clip(&c);
  drop(&c, "vision_model.encoder.layers.1.self_attn.v_proj.weight");
  expect_fail(&c, "hfclip_missing.safetensors",
              "missing tensor 'vision_model.encoder.layers.1.self_attn.v_proj.weight' (hf-clip");
  ck_free(&c);

  ck_init(&c, 61);
  make_timm(&c, 0, 1);
  drop(&c, "head.bias");
  expect_fail(&c, "head_bias.safetensors", "missing tensor 'head.bias'");
  ck_free(&c);

  vit_checkpoint ck;
  char path[4096];
  snprintf(path, sizeof path, "%s/absent.safetensors", dir);
  CHECK(vit_load(&ck, path, "auto", "auto") == -1 && strstr(ancd_error(), "cannot open"),
        "absent file: %s", ancd_error());
}

int main(void) {
  dir = test_tmpdir("vit_load");
  test_timm("F32");
  test_timm("F16");
  test_dino_and_dinov2();
  test_hf_vit();
  test_hf_dinov2();
  test_hf_clip();
  test_openai_clip();
  test_errors();
  return test_done("test_vit_load");
}
