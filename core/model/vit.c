/* The ViT forward, written once against the op table (musc_hetmm_spec §A.4.2 "Forward pass").
 * vit_create uploads the weights and carves every activation buffer for max_batch images out of
 * one arena, so vit_forward allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vit.h"
#include "vit_internal.h"

/* ---- weights: one pass counts, a second uploads ---- */

typedef struct {
  const ops *o;
  float *base; /* NULL in the counting pass */
  size_t used; /* floats */
} uploader;

static const float *upload(uploader *u, const float *host, size_t n) {
  if (!host)
    return NULL;
  float *dst = u->base ? u->base + u->used : NULL;
  u->used += (n + 63) / 64 * 64; /* 256-byte aligned tensors */
  if (dst)
    u->o->to_device(dst, host, n * sizeof(float));
  return dst;
}

/* Uploads every tensor of w (pos already resized, proj already transposed) to m->w. */
static void upload_weights(vit_model *m, uploader *u, const vit_weights *w, const float *pos,
                           const float *proj_t) {
  const vit_desc *d = &m->d;
  const size_t D = (size_t)d->dim, M = (size_t)d->mlp_dim, P = (size_t)d->patch;
  m->w.patch_w = upload(u, w->patch_w, D * 3 * P * P);
  m->w.patch_b = upload(u, w->patch_b, D);
  m->w.cls = upload(u, w->cls, D);
  m->pos = (float *)upload(u, pos, (size_t)m->T * D);
  m->w.ln_pre_w = upload(u, w->ln_pre_w, D);
  m->w.ln_pre_b = upload(u, w->ln_pre_b, D);
  for (int b = 0; b < d->depth; b++) {
    const vit_block_weights *s = &w->blocks[b];
    vit_block_weights *k = &m->w.blocks[b];
    k->ln1_w = upload(u, s->ln1_w, D);
    k->ln1_b = upload(u, s->ln1_b, D);
    k->qkv_w = upload(u, s->qkv_w, 3 * D * D);
    k->qkv_b = upload(u, s->qkv_b, 3 * D);
    k->proj_w = upload(u, s->proj_w, D * D);
    k->proj_b = upload(u, s->proj_b, D);
    k->ls1 = upload(u, s->ls1, D);
    k->ln2_w = upload(u, s->ln2_w, D);
    k->ln2_b = upload(u, s->ln2_b, D);
    k->fc1_w = upload(u, s->fc1_w, M * D);
    k->fc1_b = upload(u, s->fc1_b, M);
    k->fc2_w = upload(u, s->fc2_w, D * M);
    k->fc2_b = upload(u, s->fc2_b, D);
    k->ls2 = upload(u, s->ls2, D);
  }
  m->w.norm_w = upload(u, w->norm_w, D);
  m->w.norm_b = upload(u, w->norm_b, D);
  m->proj_t = (float *)upload(u, proj_t, D * (size_t)d->embed_dim);
  m->w.head_w = upload(u, w->head_w, (size_t)d->n_classes * D);
  m->w.head_b = upload(u, w->head_b, (size_t)d->n_classes);
}

/* The positional embedding for a gh x gw grid: the CLS row unchanged, the patch rows resized
 * with the family's interpolation (§A.4.2 "Positional-embedding resizing"). pos [T, D]. */
static void resize_pos(float *out, const vit_desc *d, const float *pos, int gh, int gw) {
  const int g = d->pos_grid, D = d->dim;
  memcpy(out, pos, (size_t)D * sizeof(float));
  if (gh == g && gw == g)
    memcpy(out + D, pos + D, (size_t)g * g * D * sizeof(float));
  else if (d->family == VIT_TIMM)
    vit_resize_pos_grid_aa(out + D, pos + D, g, gh, gw, D);
  else if (d->family == VIT_CLIP)
    vit_resize_pos_grid(out + D, pos + D, g, gh, gw, D, 0.0f);
  else /* DINO v1, DINOv2: scale_factor (h + 0.1) / g */
    vit_resize_pos_grid(out + D, pos + D, g, gh, gw, D, 0.1f);
}

static int check_desc(const vit_desc *d, const vit_weights *w) {
  if (d->dim <= 0 || d->depth <= 0 || d->heads <= 0 || d->dim % d->heads || d->patch <= 0 ||
      d->mlp_dim <= 0 || d->pos_grid <= 0)
    return ancd_errorf("vit: bad architecture (dim %d, depth %d, heads %d, patch %d, mlp %d, "
                       "grid %d)",
                       d->dim, d->depth, d->heads, d->patch, d->mlp_dim, d->pos_grid);
  if (!w->patch_w || !w->cls || !w->pos || !w->blocks || !w->norm_w || !w->norm_b)
    return ancd_errorf("vit: weights lack the patch embedding, CLS, pos or final norm");
  if (d->ln_pre && (!w->ln_pre_w || !w->ln_pre_b))
    return ancd_errorf("vit: ln_pre is declared but its weights are missing");
  if (d->embed_dim > 0 && !w->proj)
    return ancd_errorf("vit: embed_dim %d but no proj weight", d->embed_dim);
  if (d->n_classes > 0 && (!w->head_w || !w->head_b))
    return ancd_errorf("vit: %d classes but no head weights", d->n_classes);
  for (int b = 0; b < d->depth; b++) {
    const vit_block_weights *k = &w->blocks[b];
    if (!k->ln1_w || !k->ln1_b || !k->qkv_w || !k->proj_w || !k->ln2_w || !k->ln2_b || !k->fc1_w ||
        !k->fc2_w)
      return ancd_errorf("vit: block %d lacks a weight", b + 1);
    if (d->layerscale && (!k->ls1 || !k->ls2))
      return ancd_errorf("vit: block %d lacks its LayerScale gammas", b + 1);
  }
  return 0;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Images per MLP group: the hidden layer [rows, M] is made and used a group at a time, so the
 * work buffer holds a group's rows, not the batch's (ViT-B/8 at 64 images: 58 MB, not 617), and
 * each GEMM still has thousands of rows. */
#define MLP_GROUP_ROWS 4096
static int mlp_group(const vit_model *m) {
  int g = (MLP_GROUP_ROWS + m->T - 1) / m->T;
  return g < m->max_batch ? g : m->max_batch;
}

/* The activation buffers, in one place so sizing and carving cannot disagree. When ar is NULL
 * only the bytes are summed. */
static size_t carve(vit_model *m, arena *ar) {
  const size_t B = (size_t)m->max_batch, T = (size_t)m->T, L = (size_t)m->L;
  const size_t D = (size_t)m->d.dim, M = (size_t)m->d.mlp_dim, P = (size_t)m->d.patch;
  const size_t E = max_size(max_size((size_t)m->d.embed_dim, (size_t)m->d.n_classes), 1);
  const size_t NH = (size_t)m->d.heads;
  const size_t n[11] = {
      B * T * D,                                        /* x: the residual stream */
      B * T * D,                                        /* ln: LayerNorm and branch outputs */
      B * max_size(T * 3 * D, 3 * (size_t)m->H * m->W), /* stage: images, then qkv */
      B * T * D,                                        /* att: attention out, patch tokens */
      m->o->attention_scratch(m->max_batch, m->T, m->d.heads),
      max_size(max_size((size_t)mlp_group(m) * T, B) * M,
               B * L * 3 * P * P),  /* work: im2col columns, a group's MLP hidden */
      B * D,                        /* cls_ln: final-normed CLS rows */
      2 * B * E,                    /* head_out: proj/head, normalised */
      B * NH * T,                   /* cls_p */
      B * D,                        /* cls_x */
      max_size(max_size(T, NH), B), /* ones */
  };
  float **slot[11] = {&m->x,      &m->ln,       &m->stage, &m->att,   &m->scratch, &m->work,
                      &m->cls_ln, &m->head_out, &m->cls_p, &m->cls_x, &m->ones};
  size_t bytes = 0;
  for (int i = 0; i < 11; i++) {
    bytes += arena_float_bytes(n[i]);
    if (ar)
      *slot[i] = arena_floats(ar, n[i]);
  }
  return bytes;
}

int vit_create(vit_model **out, const vit_desc *desc, const vit_weights *w, const ops *o,
               int max_batch, int image_h, int image_w) {
  *out = NULL;
  if (check_desc(desc, w) != 0)
    return -1;
  if (max_batch <= 0 || image_h <= 0 || image_w <= 0 || image_h % desc->patch ||
      image_w % desc->patch)
    return ancd_errorf("vit: image %dx%d is not a positive multiple of the patch %d (batch %d)",
                       image_w, image_h, desc->patch, max_batch);
  vit_model *m = xcalloc(1, sizeof *m);
  m->d = *desc;
  m->o = o;
  m->max_batch = max_batch;
  m->H = image_h;
  m->W = image_w;
  const int gh = image_h / desc->patch, gw = image_w / desc->patch, D = desc->dim;
  m->L = gh * gw;
  m->T = m->L + 1;

  /* Host-side preparation: the resized positional embedding, the transposed CLIP proj. */
  float *pos = xmalloc((size_t)m->T * D * sizeof *pos);
  resize_pos(pos, desc, w->pos, gh, gw);
  float *proj_t = NULL;
  if (desc->embed_dim > 0) {
    const int E = desc->embed_dim;
    proj_t = xmalloc((size_t)E * D * sizeof *proj_t);
    for (int i = 0; i < D; i++)
      for (int e = 0; e < E; e++)
        proj_t[(size_t)e * D + i] = w->proj[(size_t)i * E + e];
  }
  m->w.blocks = xcalloc((size_t)desc->depth, sizeof *m->w.blocks);
  uploader u = {.o = o};
  upload_weights(m, &u, w, pos, proj_t);
  m->weight_bytes = u.used * sizeof(float);
  m->weight_block = o->alloc(m->weight_bytes);
  u = (uploader){.o = o, .base = m->weight_block};
  upload_weights(m, &u, w, pos, proj_t);
  free(pos);
  free(proj_t);

  arena_init(&m->ar, o, carve(m, NULL));
  carve(m, &m->ar);
  const int n_ones = max_size(max_size(m->T, desc->heads), max_batch);
  float *ones = xmalloc((size_t)n_ones * sizeof *ones);
  for (int i = 0; i < n_ones; i++)
    ones[i] = 1.0f;
  o->to_device(m->ones, ones, (size_t)n_ones * sizeof *ones);
  free(ones);
  *out = m;
  return 0;
}

void vit_free(vit_model *m) {
  if (!m)
    return;
  arena_free(&m->ar);
  m->o->free(m->weight_block);
  free(m->w.blocks);
  free(m);
}

int vit_tap_tokens(const vit_model *m) { return m->d.family == VIT_DINOV2 ? m->L : m->T; }

size_t vit_peak_bytes(const vit_model *m) { return m->weight_bytes + m->ar.peak; }

/* ---- forward ---- */

void vit_block_forward(vit_model *m, const vit_block_weights *k, int B, const float *cls_bias,
                       const vit_block_saved *save) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  const int D = d->dim, M = d->mlp_dim, BT = B * m->T;
  /* Inference works in the shared buffers; training writes what the backward needs to save. */
  float *qkv = save ? save->qkv : m->stage, *att = save ? save->att : m->att;
  float *ln1 = m->ln, *ln2 = m->ln;
  if (save) {
    o->copy(save->x_in, m->x, (size_t)BT * D * sizeof(float));
    o->layernorm_train(ln1, save->ln1_mean, save->ln1_rstd, m->x, k->ln1_w, k->ln1_b, BT, D,
                       d->ln_eps);
  } else {
    o->layernorm(ln1, m->x, k->ln1_w, k->ln1_b, BT, D, d->ln_eps);
  }
  o->matmul(qkv, ln1, k->qkv_w, k->qkv_b, BT, D, 3 * D);
  o->attention(att, m->scratch, qkv, cls_bias, B, m->T, D, d->heads);
  o->matmul(m->ln, att, k->proj_w, k->proj_b, BT, D, D);
  if (k->ls1)
    o->add_scaled(m->x, m->x, m->ln, k->ls1, BT, D);
  else
    o->add(m->x, m->x, m->ln, (long)BT * D);
  if (save) {
    o->copy(save->x_mid, m->x, (size_t)BT * D * sizeof(float));
    o->layernorm_train(ln2, save->ln2_mean, save->ln2_rstd, m->x, k->ln2_w, k->ln2_b, BT, D,
                       d->ln_eps);
  } else {
    o->layernorm(ln2, m->x, k->ln2_w, k->ln2_b, BT, D, d->ln_eps);
  }
  const int G = mlp_group(m);
  for (int b0 = 0; b0 < B; b0 += G) { /* fc2 overwrites the group's ln2 rows, which fc1 read */
    const long r0 = (long)b0 * m->T, rows = (long)(B - b0 < G ? B - b0 : G) * m->T;
    float *pre = save ? save->pre + r0 * M : m->work, *hidden = m->work;
    o->matmul(pre, ln2 + r0 * D, k->fc1_w, k->fc1_b, (int)rows, D, M);
    if (d->act == VIT_ACT_QUICK_GELU) /* elementwise: in place is safe on every backend */
      o->quick_gelu(hidden, pre, rows * M);
    else
      o->gelu(hidden, pre, rows * M);
    o->matmul(m->ln + r0 * D, hidden, k->fc2_w, k->fc2_b, (int)rows, M, D);
  }
  if (k->ls2)
    o->add_scaled(m->x, m->x, m->ln, k->ls2, BT, D);
  else
    o->add(m->x, m->x, m->ln, (long)BT * D);
}

void vit_block_forward_cls(vit_model *m, const vit_block_weights *k, int B, const float *cls_bias,
                           const vit_block_saved *save) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  const int D = d->dim, M = d->mlp_dim, T = m->T, BT = B * T, NH = d->heads, hs = D / NH;
  const long row = 3L * T * D; /* one image's qkv */
  const float scale = 1.0f / sqrtf((float)hs);
  float *qkv = save ? save->qkv : m->stage, *p = save ? save->cls_p : m->cls_p;
  float *att = save ? save->att : m->att, *pre = save ? save->pre : m->work, *hidden = m->work;
  float *xc = m->cls_x;
  if (save) {
    if (save->x_in != m->x) /* m->x keeps the block's input: the caller may point x_in at it */
      o->copy(save->x_in, m->x, (size_t)BT * D * sizeof(float));
    o->layernorm_train(m->ln, save->ln1_mean, save->ln1_rstd, m->x, k->ln1_w, k->ln1_b, BT, D,
                       d->ln_eps);
  } else {
    o->layernorm(m->ln, m->x, k->ln1_w, k->ln1_b, BT, D, d->ln_eps);
  }
  o->matmul(qkv, m->ln, k->qkv_w, k->qkv_b, BT, D, 3 * D);
  /* p[b,h,:] = softmax(scale q0 k^T + cls_bias[b,:]) with the heads a strided batch, as the
   * attention op's; the bias goes in first, one outer product ones[heads] x bias[b] per image. */
  if (cls_bias)
    o->gemm_batched(p, m->ones, cls_bias, B, NH, T, 1, 0, 0, 1, T, T, 0, T, (long)NH * T, 1.0f,
                    0.0f);
  for (int b = 0; b < B; b++)
    o->gemm_batched(p + (long)b * NH * T, qkv + b * row, qkv + b * row + D, NH, 1, T, hs, 0, 1,
                    3 * D, 3 * D, T, hs, hs, T, scale, cls_bias ? 1.0f : 0.0f);
  o->softmax(p, p, (long)B * NH, T);
  for (int b = 0; b < B; b++) /* att[b, h*hs..] = p[b,h] v_h */
    o->gemm_batched(att + (long)b * D, p + (long)b * NH * T, qkv + b * row + 2 * D, NH, 1, hs, T, 0,
                    0, T, 3 * D, hs, T, hs, hs, 1.0f, 0.0f);
  for (int b = 0; b < B; b++)
    o->copy(xc + (size_t)b * D, m->x + (size_t)b * T * D, (size_t)D * sizeof(float));
  o->matmul(m->ln, att, k->proj_w, k->proj_b, B, D, D);
  if (k->ls1)
    o->add_scaled(xc, xc, m->ln, k->ls1, B, D);
  else
    o->add(xc, xc, m->ln, (long)B * D);
  if (save) {
    o->copy(save->x_mid, xc, (size_t)B * D * sizeof(float));
    o->layernorm_train(m->ln, save->ln2_mean, save->ln2_rstd, xc, k->ln2_w, k->ln2_b, B, D,
                       d->ln_eps);
  } else {
    o->layernorm(m->ln, xc, k->ln2_w, k->ln2_b, B, D, d->ln_eps);
  }
  o->matmul(pre, m->ln, k->fc1_w, k->fc1_b, B, D, M);
  if (d->act == VIT_ACT_QUICK_GELU)
    o->quick_gelu(hidden, pre, (long)B * M);
  else
    o->gelu(hidden, pre, (long)B * M);
  o->matmul(m->ln, hidden, k->fc2_w, k->fc2_b, B, M, D);
  if (k->ls2)
    o->add_scaled(xc, xc, m->ln, k->ls2, B, D);
  else
    o->add(xc, xc, m->ln, (long)B * D);
}

/* Copies the taps of block b (1-based) to the host, per family (§A.4.2 "Which tokens"). */
static void copy_taps(vit_model *m, int b, int B, const int *taps, int n_taps, float **tap_out) {
  const ops *o = m->o;
  const int D = m->d.dim, T = m->T, L = m->L;
  int normed = 0;
  for (int i = 0; i < n_taps; i++) {
    if (taps[i] != b)
      continue;
    if (m->d.family == VIT_CLIP) { /* raw residual stream, CLS included */
      o->to_host(tap_out[i], m->x, (size_t)B * T * D * sizeof(float));
      continue;
    }
    if (!normed) { /* DINO, timm, DINOv2: through the final LayerNorm `norm` */
      o->layernorm(m->ln, m->x, m->w.norm_w, m->w.norm_b, (long)B * T, D, m->d.ln_eps);
      normed = 1;
    }
    if (m->d.family == VIT_DINOV2) /* patch tokens only: drop row 0 of each image */
      for (int n = 0; n < B; n++)
        o->to_host(tap_out[i] + (size_t)n * L * D, m->ln + ((size_t)n * T + 1) * D,
                   (size_t)L * D * sizeof(float));
    else
      o->to_host(tap_out[i], m->ln, (size_t)B * T * D * sizeof(float));
  }
}

/* Image-level outputs from the final CLS rows (§A.4.2 "Image-level embedding for RsCIN"), in
 * m->cls_x after a CLS-only last block, else in row 0 of each image of m->x. */
static void head_forward(vit_model *m, int B, int cls_only, float *embed, float *logits) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  const int D = d->dim, T = m->T;
  if (cls_only) /* norm (CLIP: ln_post) of each image's CLS row */
    o->layernorm(m->cls_ln, m->cls_x, m->w.norm_w, m->w.norm_b, B, D, d->ln_eps);
  else
    for (int n = 0; n < B; n++)
      o->layernorm(m->cls_ln + (size_t)n * D, m->x + (size_t)n * T * D, m->w.norm_w, m->w.norm_b, 1,
                   D, d->ln_eps);
  if (embed && d->family == VIT_CLIP) { /* ln_post(CLS) @ proj, L2-normalised */
    const int E = d->embed_dim;
    float *normed = m->head_out + (size_t)B * E;
    o->matmul(m->head_out, m->cls_ln, m->proj_t, NULL, B, D, E);
    o->l2_normalize(normed, m->head_out, B, E, 1e-12f); /* F.normalize's eps */
    o->to_host(embed, normed, (size_t)B * E * sizeof(float));
  } else if (embed) { /* final-LN CLS, not normalised */
    o->to_host(embed, m->cls_ln, (size_t)B * D * sizeof(float));
  }
  if (logits) {
    o->matmul(m->head_out, m->cls_ln, m->w.head_w, m->w.head_b, B, D, d->n_classes);
    o->to_host(logits, m->head_out, (size_t)B * d->n_classes * sizeof(float));
  }
}

void vit_embed(vit_model *m, const float *images, int B) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  const int D = d->dim, P = d->patch, L = m->L;
  /* Patch embedding as GEMM: conv weight [D, 3, P, P] is a [D, 3 P P] matrix. */
  o->to_device(m->stage, images, (size_t)B * 3 * m->H * m->W * sizeof(float));
  o->im2col_patches(m->work, m->stage, B, m->H, m->W, P);
  o->matmul(m->att, m->work, m->w.patch_w, m->w.patch_b, B * L, 3 * P * P, D);
  if (d->ln_pre) { /* CLIP: tokens, then ln_pre into the residual stream */
    o->assemble_tokens(m->ln, m->att, m->w.cls, m->pos, B, L, D, 1);
    o->layernorm(m->x, m->ln, m->w.ln_pre_w, m->w.ln_pre_b, (long)B * m->T, D, d->ln_eps);
  } else {
    o->assemble_tokens(m->x, m->att, m->w.cls, m->pos, B, L, D, 1);
  }
}

int vit_forward(vit_model *m, const float *images, int B, const int *taps, int n_taps,
                float **tap_out, float *embed, float *logits) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  if (B < 1 || B > m->max_batch)
    return ancd_errorf("vit: batch of %d images, the model was sized for 1..%d", B, m->max_batch);
  int last = 0; /* the deepest block any output needs */
  for (int i = 0; i < n_taps; i++) {
    if (taps[i] < 1 || taps[i] > d->depth)
      return ancd_errorf("vit: tap at block %d, the model has blocks 1..%d", taps[i], d->depth);
    if (!tap_out || !tap_out[i])
      return ancd_errorf("vit: no output buffer for the tap at block %d", taps[i]);
    last = taps[i] > last ? taps[i] : last;
  }
  if (logits && d->n_classes <= 0)
    return ancd_errorf("vit: logits requested but the model has no classifier head");
  if (embed && d->family == VIT_CLIP && d->embed_dim <= 0)
    return ancd_errorf("vit: CLIP embedding requested but the model has no proj");
  if (embed || logits)
    last = d->depth;
  int tap_last = 0; /* a tap of the last block needs all its tokens */
  for (int i = 0; i < n_taps; i++)
    tap_last |= taps[i] == d->depth;
  vit_embed(m, images, B);
  for (int b = 1; b <= last; b++) {
    if (b == d->depth && !tap_last) /* only the head's CLS rows are left to compute */
      vit_block_forward_cls(m, &m->w.blocks[b - 1], B, NULL, NULL);
    else
      vit_block_forward(m, &m->w.blocks[b - 1], B, NULL, NULL);
    copy_taps(m, b, B, taps, n_taps, tap_out);
  }
  if (embed || logits)
    head_forward(m, B, !tap_last, embed, logits);
  o->synchronize();
  return 0;
}

/* GEMM FLOPs (2 M N K) of one image: patch embedding, per block qkv, QK^T, AV, proj, fc1, fc2,
 * and the head (CLIP: proj) when present. Elementwise ops (LayerNorm, softmax, GELU, residual
 * adds) are not counted: about 0.6% of the GEMM FLOPs for ViT-B, 2% for ViT-Ti. */
double vit_flops(const vit_desc *d, int image_h, int image_w) {
  const double L = (double)(image_h / d->patch) * (image_w / d->patch), T = L + 1;
  const double D = d->dim, M = d->mlp_dim, K = 3.0 * d->patch * d->patch;
  double per_block = 2 * T * D * 3 * D /* qkv */ + 2 * T * T * D /* Q K^T, all heads */ +
                     2 * T * T * D /* A V */ + 2 * T * D * D /* proj */ + 2 * T * D * M /* fc1 */ +
                     2 * T * M * D /* fc2 */;
  double head = 2 * D * (d->n_classes > 0 ? d->n_classes : 0) + 2 * D * d->embed_dim;
  return 2 * L * K * D + d->depth * per_block + head;
}
