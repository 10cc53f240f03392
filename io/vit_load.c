/* ViT checkpoints in safetensors: one table row per key convention, one loader for all of them.
 * Loading is two passes: the first finds every tensor the canonical layout (core/vit.h) needs,
 * checks its shape against the architecture inferred from the patch embedding, positional
 * embedding and block 0, and records a "piece" (destination pointer, sources, transform); the
 * second allocates one block and converts every piece into it. Nothing is allocated for a
 * checkpoint that fails the first pass. */
#include "vit_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

#define FAMILY_BIT(f) (1u << (f))

/* Key names relative to the prefix (head / proj relative to the file when head_at_top). A NULL
 * key is a tensor the convention does not have. */
typedef struct {
  const char *name;
  const char *prefixes[3]; /* tried in order; "" is no prefix */
  const char *anchor;      /* present in every checkpoint of the convention */
  const char *marker;      /* present too, to tell apart conventions that share the anchor */
  int head_at_top;         /* Hugging Face: classifier / visual_projection outside the model */
  const char *patch_w, *patch_b, *cls, *pos, *ln_pre_w, *ln_pre_b, *norm_w, *norm_b;
  const char *head_w, *head_b, *proj;
  int proj_linear;       /* proj stored as nn.Linear [E, D]: transposed to [D, E] */
  const char *registers; /* DINOv2 register tokens, which the forward does not implement */
  const char *blocks;    /* block keys are <prefix><blocks><N>.<key> */
  const char *ln1_w, *ln1_b, *qkv_w, *qkv_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  const char *out_w, *out_b, *ls1, *ls2, *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
  float eps;               /* no config travels with the weights: the convention's default */
  vit_activation act;      /* for activation "auto" */
  unsigned families;       /* families a hint may choose */
  vit_family with_head;    /* default family with a classifier head ... */
  vit_family without_head; /* ... and without */
} convention;

/* The timm / DINO / DINOv2 key names (original and timm checkpoints share them). */
#define TIMM_KEYS                                                                                  \
  .patch_w = "patch_embed.proj.weight", .patch_b = "patch_embed.proj.bias", .cls = "cls_token",    \
  .pos = "pos_embed", .norm_w = "norm.weight", .norm_b = "norm.bias", .head_w = "head.weight",     \
  .head_b = "head.bias", .registers = "register_tokens", .blocks = "blocks.",                      \
  .ln1_w = "norm1.weight", .ln1_b = "norm1.bias", .qkv_w = "attn.qkv.weight",                      \
  .qkv_b = "attn.qkv.bias", .out_w = "attn.proj.weight", .out_b = "attn.proj.bias",                \
  .ln2_w = "norm2.weight", .ln2_b = "norm2.bias", .fc1_w = "mlp.fc1.weight",                       \
  .fc1_b = "mlp.fc1.bias", .fc2_w = "mlp.fc2.weight", .fc2_b = "mlp.fc2.bias", .eps = 1e-6f,       \
  .act = VIT_ACT_GELU

/* Order matters: a convention with a marker comes before the one sharing its anchor. */
static const convention conventions[] = {
    {.name = "dinov2",
     .prefixes = {""},
     .anchor = "patch_embed.proj.weight",
     .marker = "blocks.0.ls1.gamma",
     TIMM_KEYS,
     .ls1 = "ls1.gamma",
     .ls2 = "ls2.gamma",
     .families = FAMILY_BIT(VIT_TIMM) | FAMILY_BIT(VIT_DINO) | FAMILY_BIT(VIT_DINOV2),
     .with_head = VIT_TIMM, /* LayerScale with a classifier: DeiT III */
     .without_head = VIT_DINOV2},
    {.name = "timm",
     .prefixes = {""},
     .anchor = "patch_embed.proj.weight",
     TIMM_KEYS,
     .families = FAMILY_BIT(VIT_TIMM) | FAMILY_BIT(VIT_DINO),
     .with_head = VIT_TIMM,
     .without_head = VIT_DINO},
    {.name = "hf-dinov2",
     .prefixes = {"dinov2.", ""},
     .anchor = "embeddings.patch_embeddings.projection.weight",
     .marker = "encoder.layer.0.norm1.weight",
     .patch_w = "embeddings.patch_embeddings.projection.weight",
     .patch_b = "embeddings.patch_embeddings.projection.bias",
     .cls = "embeddings.cls_token",
     .pos = "embeddings.position_embeddings",
     .norm_w = "layernorm.weight",
     .norm_b = "layernorm.bias",
     /* Dinov2ForImageClassification's classifier reads [CLS, mean patch] (2D inputs), which
      * the canonical head [C, D] cannot hold: it is not loaded. */
     .registers = "embeddings.register_tokens",
     .blocks = "encoder.layer.",
     .ln1_w = "norm1.weight",
     .ln1_b = "norm1.bias",
     .q_w = "attention.attention.query.weight",
     .q_b = "attention.attention.query.bias",
     .k_w = "attention.attention.key.weight",
     .k_b = "attention.attention.key.bias",
     .v_w = "attention.attention.value.weight",
     .v_b = "attention.attention.value.bias",
     .out_w = "attention.output.dense.weight",
     .out_b = "attention.output.dense.bias",
     .ls1 = "layer_scale1.lambda1",
     .ls2 = "layer_scale2.lambda1",
     .ln2_w = "norm2.weight",
     .ln2_b = "norm2.bias",
     .fc1_w = "mlp.fc1.weight",
     .fc1_b = "mlp.fc1.bias",
     .fc2_w = "mlp.fc2.weight",
     .fc2_b = "mlp.fc2.bias",
     .eps = 1e-6f,
     .act = VIT_ACT_GELU,
     .families = FAMILY_BIT(VIT_DINOV2),
     .with_head = VIT_DINOV2,
     .without_head = VIT_DINOV2},
    {.name = "hf-vit",
     .prefixes = {"vit.", ""},
     .anchor = "embeddings.patch_embeddings.projection.weight",
     .head_at_top = 1,
     .patch_w = "embeddings.patch_embeddings.projection.weight",
     .patch_b = "embeddings.patch_embeddings.projection.bias",
     .cls = "embeddings.cls_token",
     .pos = "embeddings.position_embeddings",
     .norm_w = "layernorm.weight",
     .norm_b = "layernorm.bias",
     .head_w = "classifier.weight",
     .head_b = "classifier.bias",
     .blocks = "encoder.layer.",
     .ln1_w = "layernorm_before.weight",
     .ln1_b = "layernorm_before.bias",
     .q_w = "attention.attention.query.weight",
     .q_b = "attention.attention.query.bias",
     .k_w = "attention.attention.key.weight",
     .k_b = "attention.attention.key.bias",
     .v_w = "attention.attention.value.weight",
     .v_b = "attention.attention.value.bias",
     .out_w = "attention.output.dense.weight",
     .out_b = "attention.output.dense.bias",
     .ln2_w = "layernorm_after.weight",
     .ln2_b = "layernorm_after.bias",
     .fc1_w = "intermediate.dense.weight",
     .fc1_b = "intermediate.dense.bias",
     .fc2_w = "output.dense.weight",
     .fc2_b = "output.dense.bias",
     .eps = 1e-12f, /* transformers ViTConfig.layer_norm_eps */
     .act = VIT_ACT_GELU,
     .families = FAMILY_BIT(VIT_TIMM) | FAMILY_BIT(VIT_DINO),
     .with_head = VIT_TIMM,
     .without_head = VIT_DINO},
    {.name = "hf-clip",
     .prefixes = {"vision_model.", ""},
     .anchor = "embeddings.patch_embedding.weight",
     .head_at_top = 1,
     .patch_w = "embeddings.patch_embedding.weight",
     .cls = "embeddings.class_embedding",
     .pos = "embeddings.position_embedding.weight",
     .ln_pre_w = "pre_layrnorm.weight", /* sic, as transformers spells it */
     .ln_pre_b = "pre_layrnorm.bias",
     .norm_w = "post_layernorm.weight",
     .norm_b = "post_layernorm.bias",
     .proj = "visual_projection.weight",
     .proj_linear = 1,
     .blocks = "encoder.layers.",
     .ln1_w = "layer_norm1.weight",
     .ln1_b = "layer_norm1.bias",
     .q_w = "self_attn.q_proj.weight",
     .q_b = "self_attn.q_proj.bias",
     .k_w = "self_attn.k_proj.weight",
     .k_b = "self_attn.k_proj.bias",
     .v_w = "self_attn.v_proj.weight",
     .v_b = "self_attn.v_proj.bias",
     .out_w = "self_attn.out_proj.weight",
     .out_b = "self_attn.out_proj.bias",
     .ln2_w = "layer_norm2.weight",
     .ln2_b = "layer_norm2.bias",
     .fc1_w = "mlp.fc1.weight",
     .fc1_b = "mlp.fc1.bias",
     .fc2_w = "mlp.fc2.weight",
     .fc2_b = "mlp.fc2.bias",
     .eps = 1e-5f,
     .act = VIT_ACT_QUICK_GELU, /* CLIPVisionConfig.hidden_act of the OpenAI models */
     .families = FAMILY_BIT(VIT_CLIP),
     .with_head = VIT_CLIP,
     .without_head = VIT_CLIP},
    {.name = "openai-clip",
     .prefixes = {"visual.", ""},
     .anchor = "conv1.weight",
     .patch_w = "conv1.weight",
     .cls = "class_embedding",
     .pos = "positional_embedding",
     .ln_pre_w = "ln_pre.weight",
     .ln_pre_b = "ln_pre.bias",
     .norm_w = "ln_post.weight",
     .norm_b = "ln_post.bias",
     .proj = "proj",
     .blocks = "transformer.resblocks.",
     .ln1_w = "ln_1.weight",
     .ln1_b = "ln_1.bias",
     .qkv_w = "attn.in_proj_weight",
     .qkv_b = "attn.in_proj_bias",
     .out_w = "attn.out_proj.weight",
     .out_b = "attn.out_proj.bias",
     .ln2_w = "ln_2.weight",
     .ln2_b = "ln_2.bias",
     .fc1_w = "mlp.c_fc.weight",
     .fc1_b = "mlp.c_fc.bias",
     .fc2_w = "mlp.c_proj.weight",
     .fc2_b = "mlp.c_proj.bias",
     .eps = 1e-5f,
     .act = VIT_ACT_QUICK_GELU, /* musc §A.4.2: the OpenAI weights were trained with it */
     .families = FAMILY_BIT(VIT_CLIP),
     .with_head = VIT_CLIP,
     .without_head = VIT_CLIP},
};
#define N_CONVENTIONS ((int)(sizeof conventions / sizeof conventions[0]))

static const char *const family_names[] = {"timm", "dino", "dinov2", "clip"};

/* One destination of the canonical layout: n_parts sources of `part` floats each, concatenated
 * (a NULL source is zero-filled), or one source transposed from [cols, rows] to [rows, cols]. */
typedef struct {
  const float **dst;
  const st_tensor *src[3];
  int n_parts;
  int64_t part;
  int64_t rows, cols; /* transpose when rows > 0 */
} piece;

typedef struct {
  st_file f;
  const convention *cv;
  const char *prefix;
  piece *pieces;
  int n, cap;
  int64_t total; /* floats over every piece */
} loader;

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / 8)
#define ANY (-1) /* in an expected shape: any size */

/* The full tensor name: prefix (unless an outer key of a Hugging Face model), block, key. */
static void key_name(char *out, size_t n, const loader *L, int outer, int block, const char *key) {
  const char *prefix = outer && L->cv->head_at_top ? "" : L->prefix;
  if (block >= 0)
    snprintf(out, n, "%s%s%d.%s", prefix, L->cv->blocks, block, key);
  else
    snprintf(out, n, "%s%s", prefix, key);
}

/* t's shape with leading 1s dropped down to rank want_rank ([1, 1, D] -> [D]); its rank. */
static int squeezed(int64_t *out, const st_tensor *t, int want_rank) {
  int skip = 0;
  while (t->rank - skip > want_rank && t->shape[skip] == 1)
    skip++;
  memcpy(out, t->shape + skip, (size_t)(t->rank - skip) * sizeof *out);
  return t->rank - skip;
}

/* Looks a tensor up and checks it against the expected shape (ANY matches every size); the
 * squeezed shape goes to got (may be NULL). Missing: *t = NULL and an error unless optional. */
static int find(const st_tensor **t, int64_t *got, loader *L, int optional, int outer, int block,
                const char *key, const int64_t *want, int want_rank) {
  char name[512];
  key_name(name, sizeof name, L, outer, block, key);
  *t = st_find(&L->f, name);
  if (!*t) {
    if (optional)
      return 0;
    return ancd_errorf("%s: missing tensor '%s' (%s convention)", L->f.path, name, L->cv->name);
  }
  if (st_check_float(&L->f, *t))
    return -1;
  int64_t shape[8];
  int rank = squeezed(shape, *t, want_rank);
  int ok = rank == want_rank;
  for (int k = 0; ok && k < rank; k++)
    ok = want[k] == ANY || want[k] == shape[k];
  if (!ok) {
    char have_s[160], want_s[160];
    st_format_shape(have_s, sizeof have_s, (*t)->shape, (*t)->rank);
    st_format_shape(want_s, sizeof want_s, want, want_rank);
    return ancd_errorf("%s: tensor '%s' has shape %s, expected %s (%s convention)", L->f.path, name,
                       have_s, want_s, L->cv->name);
  }
  if (got)
    memcpy(got, shape, (size_t)rank * sizeof *got);
  return 0;
}

static void add_piece(loader *L, const float **dst, const st_tensor *a, const st_tensor *b,
                      const st_tensor *c, int n_parts, int64_t part) {
  if (L->n == L->cap) {
    L->cap = L->cap ? 2 * L->cap : 64;
    L->pieces = xrealloc(L->pieces, (size_t)L->cap * sizeof *L->pieces);
  }
  L->pieces[L->n++] = (piece){dst, {a, b, c}, n_parts, part, 0, 0};
  L->total += n_parts * part;
}

/* A required tensor of exactly that shape, copied to *dst. */
static int need(loader *L, const float **dst, int outer, int block, const char *key,
                const int64_t *want, int want_rank) {
  const st_tensor *t;
  if (find(&t, NULL, L, 0, outer, block, key, want, want_rank))
    return -1;
  add_piece(L, dst, t, NULL, NULL, 1, t->numel);
  return 0;
}

/* Distinct block indices under <prefix><blocks>; they must be 0..depth-1. */
static int count_blocks(int *depth, const loader *L) {
  char stem[256];
  snprintf(stem, sizeof stem, "%s%s", L->prefix, L->cv->blocks);
  size_t len = strlen(stem);
  enum { MAX_BLOCKS = 4096 };
  unsigned char *seen = xcalloc(MAX_BLOCKS, 1);
  int top = -1;
  for (int k = 0; k < L->f.n; k++) {
    const char *s = L->f.tensors[k].name;
    if (strncmp(s, stem, len) != 0)
      continue;
    s += len;
    int idx = 0, digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++)
      idx = idx < MAX_BLOCKS ? 10 * idx + (*s - '0') : MAX_BLOCKS;
    if (!digits || *s != '.')
      continue; /* not a block key */
    if (idx >= MAX_BLOCKS) {
      free(seen);
      return ancd_errorf("%s: tensor '%s': block index beyond %d", L->f.path, L->f.tensors[k].name,
                         MAX_BLOCKS - 1);
    }
    seen[idx] = 1;
    if (idx > top)
      top = idx;
  }
  for (int b = 0; b <= top; b++)
    if (!seen[b]) {
      free(seen);
      return ancd_errorf("%s: blocks are not numbered 0..%d: no tensor '%s%d.*' (%s convention)",
                         L->f.path, top, stem, b, L->cv->name);
    }
  free(seen);
  if (top < 0)
    return ancd_errorf("%s: no transformer blocks ('%s0.*', %s convention)", L->f.path, stem,
                       L->cv->name);
  *depth = top + 1;
  return 0;
}

static int detect(loader *L) {
  char name[512];
  for (int c = 0; c < N_CONVENTIONS; c++) {
    const convention *cv = &conventions[c];
    for (int p = 0; p < 3 && cv->prefixes[p]; p++) {
      snprintf(name, sizeof name, "%s%s", cv->prefixes[p], cv->anchor);
      if (!st_find(&L->f, name))
        continue;
      snprintf(name, sizeof name, "%s%s", cv->prefixes[p], cv->marker ? cv->marker : "");
      if (cv->marker && !st_find(&L->f, name))
        continue;
      L->cv = cv;
      L->prefix = cv->prefixes[p];
      return 0;
    }
  }
  return ancd_errorf("%s: no ViT key convention recognised among its %d tensors (looked for "
                     "patch_embed.proj.weight (timm/DINO/DINOv2), "
                     "[vit.|dinov2.]embeddings.patch_embeddings.projection.weight (Hugging Face "
                     "ViT/DINOv2), vision_model.embeddings.patch_embedding.weight (Hugging Face "
                     "CLIP), [visual.]conv1.weight (OpenAI CLIP / open_clip))",
                     L->f.path, L->f.n);
}

/* Heads: __metadata__ "heads", else dim / 64 (see vit_load.h). */
static int infer_heads(int *heads, const loader *L, int dim) {
  const char *s = st_metadata(&L->f, "heads");
  if (s) {
    char *end;
    long h = strtol(s, &end, 10);
    if (end == s || *end || h <= 0 || dim % h != 0)
      return ancd_errorf("%s: __metadata__ heads '%s' does not divide dim %d", L->f.path, s, dim);
    *heads = (int)h;
    return 0;
  }
  if (dim % 64 != 0)
    return ancd_errorf("%s: cannot infer the number of heads: dim %d is not a multiple of the "
                       "usual head dim 64 (add \"heads\" to the safetensors __metadata__)",
                       L->f.path, dim);
  *heads = dim / 64;
  return 0;
}

static int choose_family(vit_family *family, const loader *L, const char *hint, int has_head) {
  *family = has_head ? L->cv->with_head : L->cv->without_head;
  if (!hint || !hint[0] || strcmp(hint, "auto") == 0)
    return 0;
  for (int f = 0; f < 4; f++)
    if (strcmp(hint, family_names[f]) == 0) {
      if (!(L->cv->families & FAMILY_BIT(f)))
        return ancd_errorf("%s: backbone.family is %s, but the keys follow the %s convention "
                           "(family %s)",
                           L->f.path, hint, L->cv->name, family_names[*family]);
      *family = (vit_family)f;
      return 0;
    }
  return ancd_errorf("%s: unknown backbone family '%s' (auto, clip, dino, dinov2, timm)", L->f.path,
                     hint);
}

static int parse_activation(vit_activation *act, const char *s, vit_activation auto_act) {
  if (!s || !s[0] || strcmp(s, "auto") == 0)
    *act = auto_act;
  else if (strcmp(s, "gelu") == 0)
    *act = VIT_ACT_GELU;
  else if (strcmp(s, "quick_gelu") == 0)
    *act = VIT_ACT_QUICK_GELU;
  else
    return ancd_errorf("unknown activation '%s' (auto, gelu, quick_gelu)", s);
  return 0;
}

/* Pass 1: the architecture and every piece of the canonical layout. */
static int plan(vit_checkpoint *ck, loader *L, const char *family_hint, const char *activation) {
  const convention *cv = L->cv;
  vit_desc *d = &ck->desc;
  vit_weights *w = &ck->w;
  const st_tensor *t;
  int64_t s[8];

  if (cv->registers) {
    char name[512];
    key_name(name, sizeof name, L, 0, -1, cv->registers);
    if (st_find(&L->f, name))
      return ancd_errorf("%s: tensor '%s': DINOv2 with registers is not supported", L->f.path,
                         name);
  }

  /* The architecture: dim and patch from the patch embedding, grid from the positions. */
  if (find(&t, s, L, 0, 0, -1, cv->patch_w, SHAPE(ANY, 3, ANY, ANY)))
    return -1;
  int64_t D = s[0], P = s[2];
  if (D <= 0 || P <= 0)
    return ancd_errorf("%s: tensor '%s': empty patch embedding", L->f.path, t->name);
  if (find(&t, s, L, 0, 0, -1, cv->pos, SHAPE(ANY, D)))
    return -1;
  int64_t g = 0;
  while ((g + 1) * (g + 1) <= s[0] - 1)
    g++;
  if (g == 0 || g * g != s[0] - 1)
    return ancd_errorf("%s: tensor '%s' has %lld positions; expected 1 (CLS) + a square grid",
                       L->f.path, t->name, (long long)s[0]);
  int depth = 0;
  if (count_blocks(&depth, L))
    return -1;
  if (find(&t, s, L, 0, 0, 0, cv->fc1_w, SHAPE(ANY, D)))
    return -1;
  int64_t M = s[0];
  int64_t C = 0, E = 0;
  const st_tensor *head = NULL, *proj = NULL;
  if (cv->head_w && find(&head, s, L, 1, 1, -1, cv->head_w, SHAPE(ANY, D)))
    return -1;
  if (head)
    C = s[0];
  if (cv->proj && cv->proj_linear && find(&proj, s, L, 1, 1, -1, cv->proj, SHAPE(ANY, D)))
    return -1;
  if (cv->proj && !cv->proj_linear && find(&proj, s, L, 1, 1, -1, cv->proj, SHAPE(D, ANY)))
    return -1;
  if (proj)
    E = cv->proj_linear ? s[0] : s[1];

  d->dim = (int)D;
  d->depth = depth;
  d->patch = (int)P;
  d->pos_grid = (int)g;
  d->mlp_dim = (int)M;
  d->n_classes = (int)C;
  d->embed_dim = (int)E;
  d->patch_bias = cv->patch_b != NULL;
  d->layerscale = cv->ls1 != NULL;
  d->ln_pre = cv->ln_pre_w != NULL;
  d->ln_eps = cv->eps;
  if (infer_heads(&d->heads, L, d->dim) || choose_family(&d->family, L, family_hint, C > 0))
    return -1;
  if (parse_activation(&d->act, activation, cv->act))
    return ancd_error_prefix("%s: ", L->f.path);

  /* Global tensors. */
  if (need(L, &w->patch_w, 0, -1, cv->patch_w, SHAPE(D, 3, P, P)) ||
      (cv->patch_b && need(L, &w->patch_b, 0, -1, cv->patch_b, SHAPE(D))) ||
      need(L, &w->cls, 0, -1, cv->cls, SHAPE(D)) ||
      need(L, &w->pos, 0, -1, cv->pos, SHAPE(1 + g * g, D)) ||
      (cv->ln_pre_w && (need(L, &w->ln_pre_w, 0, -1, cv->ln_pre_w, SHAPE(D)) ||
                        need(L, &w->ln_pre_b, 0, -1, cv->ln_pre_b, SHAPE(D)))) ||
      need(L, &w->norm_w, 0, -1, cv->norm_w, SHAPE(D)) ||
      need(L, &w->norm_b, 0, -1, cv->norm_b, SHAPE(D)))
    return -1;
  if (head && (need(L, &w->head_w, 1, -1, cv->head_w, SHAPE(C, D)) ||
               need(L, &w->head_b, 1, -1, cv->head_b, SHAPE(C))))
    return -1;
  if (proj) {
    add_piece(L, &w->proj, proj, NULL, NULL, 1, D * E);
    if (cv->proj_linear) { /* [E, D] -> [D, E] */
      L->pieces[L->n - 1].rows = D;
      L->pieces[L->n - 1].cols = E;
    }
  }

  /* qkv bias: present in some block of the checkpoint (missing parts are zeros). */
  const char *bias_keys[3] = {cv->qkv_b, NULL, NULL};
  if (!cv->qkv_w) {
    bias_keys[0] = cv->q_b;
    bias_keys[1] = cv->k_b;
    bias_keys[2] = cv->v_b;
  }
  d->qkv_bias = 0;
  for (int b = 0; b < depth && !d->qkv_bias; b++)
    for (int k = 0; k < 3; k++) {
      char name[512];
      if (!bias_keys[k])
        continue;
      key_name(name, sizeof name, L, 0, b, bias_keys[k]);
      d->qkv_bias |= st_find(&L->f, name) != NULL;
    }

  ck->blocks = xcalloc((size_t)depth, sizeof *ck->blocks);
  w->blocks = ck->blocks;
  for (int b = 0; b < depth; b++) {
    vit_block_weights *bw = &ck->blocks[b];
    if (need(L, &bw->ln1_w, 0, b, cv->ln1_w, SHAPE(D)) ||
        need(L, &bw->ln1_b, 0, b, cv->ln1_b, SHAPE(D)))
      return -1;
    if (cv->qkv_w) {
      const st_tensor *qkv_b;
      if (need(L, &bw->qkv_w, 0, b, cv->qkv_w, SHAPE(3 * D, D)) ||
          find(&qkv_b, NULL, L, 1, 0, b, cv->qkv_b, SHAPE(3 * D)))
        return -1;
      if (d->qkv_bias)
        add_piece(L, &bw->qkv_b, qkv_b, NULL, NULL, 1, 3 * D);
    } else {
      const st_tensor *q, *k, *v, *qb, *kb, *vb;
      if (find(&q, NULL, L, 0, 0, b, cv->q_w, SHAPE(D, D)) ||
          find(&k, NULL, L, 0, 0, b, cv->k_w, SHAPE(D, D)) ||
          find(&v, NULL, L, 0, 0, b, cv->v_w, SHAPE(D, D)) ||
          find(&qb, NULL, L, 1, 0, b, cv->q_b, SHAPE(D)) ||
          find(&kb, NULL, L, 1, 0, b, cv->k_b, SHAPE(D)) ||
          find(&vb, NULL, L, 1, 0, b, cv->v_b, SHAPE(D)))
        return -1;
      add_piece(L, &bw->qkv_w, q, k, v, 3, D * D); /* rows q | k | v, as a fused qkv */
      if (d->qkv_bias)
        add_piece(L, &bw->qkv_b, qb, kb, vb, 3, D);
    }
    if (need(L, &bw->proj_w, 0, b, cv->out_w, SHAPE(D, D)) ||
        need(L, &bw->proj_b, 0, b, cv->out_b, SHAPE(D)) ||
        (cv->ls1 && (need(L, &bw->ls1, 0, b, cv->ls1, SHAPE(D)) ||
                     need(L, &bw->ls2, 0, b, cv->ls2, SHAPE(D)))) ||
        need(L, &bw->ln2_w, 0, b, cv->ln2_w, SHAPE(D)) ||
        need(L, &bw->ln2_b, 0, b, cv->ln2_b, SHAPE(D)) ||
        need(L, &bw->fc1_w, 0, b, cv->fc1_w, SHAPE(M, D)) ||
        need(L, &bw->fc1_b, 0, b, cv->fc1_b, SHAPE(M)) ||
        need(L, &bw->fc2_w, 0, b, cv->fc2_w, SHAPE(D, M)) ||
        need(L, &bw->fc2_b, 0, b, cv->fc2_b, SHAPE(D)))
      return -1;
  }
  return 0;
}

/* Pass 2: one block for every piece, converted to f32. */
static void convert(vit_checkpoint *ck, const loader *L) {
  ck->storage = xmalloc((size_t)(L->total > 0 ? L->total : 1) * sizeof(float));
  ck->n_params = (size_t)L->total;
  float *out = ck->storage;
  for (int k = 0; k < L->n; k++) {
    const piece *p = &L->pieces[k];
    if (p->rows > 0) {
      float *tmp = xmalloc((size_t)p->part * sizeof *tmp);
      st_to_f32(tmp, p->src[0]);
      for (int64_t r = 0; r < p->rows; r++)
        for (int64_t c = 0; c < p->cols; c++)
          out[r * p->cols + c] = tmp[c * p->rows + r];
      free(tmp);
    } else {
      for (int i = 0; i < p->n_parts; i++) {
        if (p->src[i])
          st_to_f32(out + i * p->part, p->src[i]);
        else
          memset(out + i * p->part, 0, (size_t)p->part * sizeof *out);
      }
    }
    *p->dst = out;
    out += p->n_parts * p->part;
  }
}

int vit_load(vit_checkpoint *ck, const char *path, const char *family_hint,
             const char *activation) {
  memset(ck, 0, sizeof *ck);
  loader L = {0};
  if (st_open(&L.f, path))
    return -1;
  int rc = detect(&L);
  if (!rc)
    rc = plan(ck, &L, family_hint, activation);
  if (!rc) {
    snprintf(ck->convention, sizeof ck->convention, "%s", L.cv->name);
    convert(ck, &L);
  }
  free(L.pieces);
  st_close(&L.f);
  if (rc)
    vit_checkpoint_free(ck);
  return rc;
}

void vit_checkpoint_free(vit_checkpoint *ck) {
  free(ck->storage);
  free(ck->blocks);
  memset(ck, 0, sizeof *ck);
}

void vit_resolve_clip_activation(vit_desc *d, const char *activation, int image_size) {
  vit_activation auto_act = VIT_ACT_GELU;
  if (d->family == VIT_CLIP)
    auto_act = image_size == d->pos_grid * d->patch ? VIT_ACT_QUICK_GELU : VIT_ACT_GELU;
  if (parse_activation(&d->act, activation, auto_act))
    ANCD_FATAL("%s", ancd_error()); /* the config schema admits only the three values */
}

void vit_describe(char *out, size_t n, const vit_checkpoint *ck) {
  const vit_desc *d = &ck->desc;
  const char *family = family_names[d->family];
  char family_note[32] = "", head[48], proj[32] = "", params[32];
  if (strcmp(ck->convention, family) != 0)
    snprintf(family_note, sizeof family_note, " (family %s)", family);
  if (d->n_classes)
    snprintf(head, sizeof head, "head %d classes", d->n_classes);
  else
    snprintf(head, sizeof head, "no head");
  if (d->embed_dim)
    snprintf(proj, sizeof proj, ", proj %d", d->embed_dim);
  if (ck->n_params >= 100000)
    snprintf(params, sizeof params, "%.1f M", (double)ck->n_params / 1e6);
  else
    snprintf(params, sizeof params, "%zu", ck->n_params);
  snprintf(out, n,
           "%s ViT%s: dim %d, depth %d, heads %d, patch %d, grid %dx%d (%d px), mlp %d, LN eps "
           "%g, %s, CLS%s%s%s%s, %s%s, %s parameters",
           ck->convention, family_note, d->dim, d->depth, d->heads, d->patch, d->pos_grid,
           d->pos_grid, d->pos_grid * d->patch, d->mlp_dim, (double)d->ln_eps,
           d->act == VIT_ACT_QUICK_GELU ? "QuickGELU" : "GELU", d->layerscale ? ", LayerScale" : "",
           d->ln_pre ? ", ln_pre" : "", d->patch_bias ? "" : ", no patch bias",
           d->qkv_bias ? "" : ", no qkv bias", head, proj, params);
}

int vit_norm_from_config(float mean[3], float std[3], const cfg_backbone *b, vit_family f) {
  vit_family_norm(f, mean, std);
  const cfg_floats *lists[2] = {&b->mean, &b->std};
  float *out[2] = {mean, std};
  const char *keys[2] = {"backbone.mean", "backbone.std"};
  for (int k = 0; k < 2; k++) {
    const cfg_floats *l = lists[k];
    if (l->n == 0)
      continue;
    if (l->n != 1 && l->n != 3)
      return ancd_errorf("%s: give 1 or 3 values (RGB), got %d", keys[k], l->n);
    for (int c = 0; c < 3; c++)
      out[k][c] = (float)l->v[l->n == 1 ? 0 : c];
  }
  return 0;
}
