/* The MGViT (mgvit.h): the training mode of the ViT (anomalyncd_spec §5.1-§5.3), the projector
 * and the prototypes (§5.4), their backward passes and SGD (§5.6), written once against the op
 * table. Frozen blocks run as in inference and keep nothing; trained blocks keep what their
 * backward needs (vit_block_saved); the final LayerNorm is frozen but on the gradient path. */
#include "mgvit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"
#include "vit_internal.h"

#define MASK_NEG (-1e9f) /* §5.3: the reference writes -1e9; exp underflows to 0 in fp32 */

/* A trained block's gradients: vit_block_weights' fields, writable. */
typedef struct {
  float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ls1, *ls2, *ln2_w, *ln2_b, *fc1_w,
      *fc1_b, *fc2_w, *fc2_b;
} block_grads;

struct mgvit {
  mgvit_config c;
  vit_desc d;
  const ops *o;
  vit_model *vm; /* frozen weights, inference buffers (the residual stream m->x) */
  int T, D, M, first, n_trained, mask_from; /* first, mask_from: 0-based block indices */

  mgvit_tensor *tab;
  int n_tab;
  size_t n_params;
  float *params, *grads, *momentum; /* backend, n_params each */
  float *v_host;                    /* [MGVIT_HEADS, C, D] host mirror of the prototypes */
  vit_block_weights *tw;            /* [n_trained] pointers into params */
  block_grads *tg;                  /* [n_trained] pointers into grads */
  const float *pw[3], *pb[3];       /* projector layers in params */
  float *pgw[3], *pgb[3];           /* and their gradients */

  arena ar;
  vit_block_saved *saved; /* [n_trained] */
  float *bias;            /* [N, T] cls bias of the last forward */
  float *f, *f_mean, *f_rstd;
  float *pre1, *g1, *pre2, *g2, *z;
  float *dx, *dln, *dy, *datt, *dqkv, *dhid, *dpre, *att_scratch;
  float *dxc, *dp, *ds, *dot, *dq0, *ra, *rb, *rs; /* the CLS-only last block's backward */
  float *hidden; /* [N*T, M] the full blocks' recomputed activation */
  float *df, *dz, *dg, *dph;
  float *host_bias;
  int last_n; /* rows of the last forward; 0 before any */
};

/* ---- the tensor table ---- */

static void add_tensor(mgvit *m, const char *name, int rows, int cols) {
  m->tab = xrealloc(m->tab, (size_t)(m->n_tab + 1) * sizeof *m->tab);
  mgvit_tensor *t = &m->tab[m->n_tab++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->offset = m->n_params;
  t->ndim = cols > 0 ? 2 : 1;
  t->shape[0] = rows;
  t->shape[1] = cols > 0 ? cols : 0;
  t->n = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
  m->n_params += (t->n + 63) / 64 * 64; /* 256-byte aligned tensors */
}

/* The trained block's tensors in timm's order and names; absent ones (a ViT without qkv bias or
 * LayerScale) are not in the table. `host` gives which exist. */
static void add_block_tensors(mgvit *m, int index, const vit_block_weights *host) {
  const int D = m->D, M = m->M;
  char name[64];
#define ADD(field, suffix, rows, cols)                                                             \
  do {                                                                                             \
    if (host->field) {                                                                             \
      snprintf(name, sizeof name, "blocks.%d.%s", index, suffix);                                  \
      add_tensor(m, name, rows, cols);                                                             \
    }                                                                                              \
  } while (0)
  ADD(ln1_w, "norm1.weight", D, 0);
  ADD(ln1_b, "norm1.bias", D, 0);
  ADD(qkv_w, "attn.qkv.weight", 3 * D, D);
  ADD(qkv_b, "attn.qkv.bias", 3 * D, 0);
  ADD(proj_w, "attn.proj.weight", D, D);
  ADD(proj_b, "attn.proj.bias", D, 0);
  ADD(ls1, "ls1.gamma", D, 0);
  ADD(ln2_w, "norm2.weight", D, 0);
  ADD(ln2_b, "norm2.bias", D, 0);
  ADD(fc1_w, "mlp.fc1.weight", M, D);
  ADD(fc1_b, "mlp.fc1.bias", M, 0);
  ADD(fc2_w, "mlp.fc2.weight", D, M);
  ADD(fc2_b, "mlp.fc2.bias", D, 0);
  ADD(ls2, "ls2.gamma", D, 0);
#undef ADD
}

const mgvit_tensor *mgvit_find(const mgvit *m, const char *name) {
  for (int i = 0; i < m->n_tab; i++)
    if (!strcmp(m->tab[i].name, name))
      return &m->tab[i];
  return NULL;
}

/* Points the fields of a block at buffer (params or grads) by the table's names. */
static void bind_block(vit_block_weights *k, const mgvit *m, float *buffer, int index) {
  char name[64];
#define BIND(field, suffix)                                                                        \
  do {                                                                                             \
    snprintf(name, sizeof name, "blocks.%d.%s", index, suffix);                                    \
    const mgvit_tensor *t = mgvit_find(m, name);                                                   \
    k->field = t ? buffer + t->offset : NULL;                                                      \
  } while (0)
  BIND(ln1_w, "norm1.weight");
  BIND(ln1_b, "norm1.bias");
  BIND(qkv_w, "attn.qkv.weight");
  BIND(qkv_b, "attn.qkv.bias");
  BIND(proj_w, "attn.proj.weight");
  BIND(proj_b, "attn.proj.bias");
  BIND(ls1, "ls1.gamma");
  BIND(ln2_w, "norm2.weight");
  BIND(ln2_b, "norm2.bias");
  BIND(fc1_w, "mlp.fc1.weight");
  BIND(fc1_b, "mlp.fc1.bias");
  BIND(fc2_w, "mlp.fc2.weight");
  BIND(fc2_b, "mlp.fc2.bias");
  BIND(ls2, "ls2.gamma");
#undef BIND
}

static const char *const PROJ_NAMES[3][2] = {{"head.mlp.0.weight", "head.mlp.0.bias"},
                                             {"head.mlp.2.weight", "head.mlp.2.bias"},
                                             {"head.mlp.4.weight", "head.mlp.4.bias"}};

static void bind_heads(mgvit *m) {
  for (int l = 0; l < 3; l++) {
    const mgvit_tensor *w = mgvit_find(m, PROJ_NAMES[l][0]), *b = mgvit_find(m, PROJ_NAMES[l][1]);
    m->pw[l] = m->params + w->offset;
    m->pb[l] = m->params + b->offset;
    m->pgw[l] = m->grads + w->offset;
    m->pgb[l] = m->grads + b->offset;
  }
}

/* ---- initial values (host staging, then one upload) ---- */

/* timm's trunc_normal_(std, a=-2, b=2): the cut is at +-2 absolute, i.e. +-100 std for 0.02, so a
 * plain Box-Muller normal is the same distribution. */
static float normal_at(uint64_t seed, uint64_t i, double std) {
  double u1 = rng_uniform_at(seed, 2 * i), u2 = rng_uniform_at(seed, 2 * i + 1);
  double r = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 in (0, 1] */
  return (float)(std * r * cos(6.283185307179586 * u2));
}

static void stage_initial(const mgvit *m, float *host, const vit_weights *w, uint64_t seed) {
  const int D = m->D, M = m->M;
  const size_t DD = (size_t)D;
  for (int b = 0; b < m->n_trained; b++) {
    const vit_block_weights *s = &w->blocks[m->first + b];
    char name[64];
#define STAGE(field, suffix, count)                                                                \
  do {                                                                                             \
    snprintf(name, sizeof name, "blocks.%d.%s", m->first + b, suffix);                             \
    const mgvit_tensor *t = mgvit_find(m, name);                                                   \
    if (t)                                                                                         \
      memcpy(host + t->offset, s->field, (count) * sizeof(float));                                 \
  } while (0)
    STAGE(ln1_w, "norm1.weight", DD);
    STAGE(ln1_b, "norm1.bias", DD);
    STAGE(qkv_w, "attn.qkv.weight", 3 * DD * D);
    STAGE(qkv_b, "attn.qkv.bias", 3 * DD);
    STAGE(proj_w, "attn.proj.weight", DD * D);
    STAGE(proj_b, "attn.proj.bias", DD);
    STAGE(ls1, "ls1.gamma", DD);
    STAGE(ln2_w, "norm2.weight", DD);
    STAGE(ln2_b, "norm2.bias", DD);
    STAGE(fc1_w, "mlp.fc1.weight", (size_t)M * D);
    STAGE(fc1_b, "mlp.fc1.bias", (size_t)M);
    STAGE(fc2_w, "mlp.fc2.weight", DD * M);
    STAGE(fc2_b, "mlp.fc2.bias", DD);
    STAGE(ls2, "ls2.gamma", DD);
#undef STAGE
  }
  /* §5.4: MLP weights trunc_normal(0.02), biases 0 (the buffer is zeroed); v ~ U(-1/sqrt(D),
   * 1/sqrt(D)), PyTorch's default Linear init. Each tensor draws its own stream. */
  for (int l = 0; l < 3; l++) {
    const mgvit_tensor *t = mgvit_find(m, PROJ_NAMES[l][0]);
    for (size_t i = 0; i < t->n; i++)
      host[t->offset + i] = normal_at(seed + 101 + (uint64_t)l, i, 0.02);
  }
  const double bound = 1.0 / sqrt((double)D);
  for (int h = 0; h < MGVIT_HEADS; h++) {
    char name[64];
    snprintf(name, sizeof name, "head.last_layer.%d.weight_v", h);
    const mgvit_tensor *t = mgvit_find(m, name);
    for (size_t i = 0; i < t->n; i++)
      host[t->offset + i] =
          (float)((2.0 * rng_uniform_at(seed + 201 + (uint64_t)h, i) - 1.0) * bound);
  }
}

/* ---- activations ---- */

/* The training buffers, in one place so sizing and carving cannot disagree (ar NULL: size). */
static size_t carve(mgvit *m, arena *ar) {
  const size_t N = (size_t)m->c.max_batch, T = (size_t)m->T, D = (size_t)m->D, M = (size_t)m->M;
  const size_t NT = N * T, H = (size_t)m->c.proj_hidden, P = (size_t)m->c.proj_out;
  const size_t NH = (size_t)m->d.heads;
  /* Rows of the branch gradients: every token's when a full block trains, else the CLS rows. */
  const size_t NR = m->n_trained > 1 ? NT : N;
  size_t bytes = 0;
#define CARVE(ptr, count)                                                                          \
  do {                                                                                             \
    bytes += arena_float_bytes(count);                                                             \
    if (ar)                                                                                        \
      ptr = arena_floats(ar, count);                                                               \
  } while (0)
  for (int b = 0; b < m->n_trained; b++) {
    vit_block_saved *s = &m->saved[b];
    const int last = b == m->n_trained - 1;
    const size_t R = last ? N : NT; /* the last block: CLS rows after qkv */
    if (last) { /* its input stays in the stream, its qkv in the stage: nothing runs after it */
      s->x_in = m->vm->x;
      s->qkv = m->vm->stage;
    } else {
      CARVE(s->x_in, NT * D);
      CARVE(s->qkv, NT * 3 * D);
    }
    CARVE(s->ln1_mean, NT);
    CARVE(s->ln1_rstd, NT);
    CARVE(s->att, R * D);
    CARVE(s->x_mid, R * D);
    CARVE(s->ln2_mean, R);
    CARVE(s->ln2_rstd, R);
    CARVE(s->pre, R * M);
    if (last)
      CARVE(s->cls_p, N * NH * T);
  }
  CARVE(m->bias, NT);
  CARVE(m->f, N * D);
  CARVE(m->f_mean, N);
  CARVE(m->f_rstd, N);
  CARVE(m->pre1, N * H);
  CARVE(m->g1, N * H);
  CARVE(m->pre2, N * H);
  CARVE(m->g2, N * H);
  CARVE(m->z, N * P);
  if (m->n_trained > 1) { /* only full blocks pass a gradient to every token */
    CARVE(m->dx, NT * D);
    CARVE(m->hidden, NT * M);
  }
  CARVE(m->dln, NT * D);
  CARVE(m->dy, m->d.layerscale ? NR * D : 1);
  CARVE(m->datt, NR * D);
  if (m->n_trained > 1)
    CARVE(m->dqkv, NT * 3 * D);
  CARVE(m->dhid, NR * M);
  CARVE(m->dpre, NR * M);
  CARVE(m->dxc, N * D);
  CARVE(m->dp, N * NH * T);
  CARVE(m->ds, N * NH * T);
  CARVE(m->dot, N * NH);
  CARVE(m->dq0, N * D);
  CARVE(m->ra, N * NH * D);
  CARVE(m->rb, N * NH * D);
  CARVE(m->rs, 2 * N * NH);
  if (m->n_trained > 1)
    CARVE(m->att_scratch, m->o->attention_backward_scratch(m->c.max_batch, m->T, m->D, m->d.heads));
  CARVE(m->df, N * D);
  CARVE(m->dz, N * P);
  CARVE(m->dg, N * H);
  CARVE(m->dph, N * H);
#undef CARVE
  return bytes;
}

/* ---- create / free ---- */

static int check_config(const vit_desc *d, const mgvit_config *c) {
  if (c->grad_from_block < 1 || c->grad_from_block > d->depth)
    return ancd_errorf("train.grad_from_block %d: the backbone has blocks 1..%d",
                       c->grad_from_block, d->depth);
  if (c->mask_layers < 0 || c->mask_layers > d->depth)
    return ancd_errorf("train.mask_layers %d: the backbone has %d blocks", c->mask_layers,
                       d->depth);
  if (c->n_classes < 1 || c->proj_hidden < 1 || c->proj_out < 1 || c->max_batch < 1)
    return ancd_errorf("mgvit: %d classes, projector %d/%d, batch %d: all must be positive",
                       c->n_classes, c->proj_hidden, c->proj_out, c->max_batch);
  return 0;
}

int mgvit_create(mgvit **out, const vit_desc *desc, const vit_weights *w, const ops *o,
                 const mgvit_config *cfg, uint64_t seed) {
  *out = NULL;
  if (check_config(desc, cfg) != 0)
    return -1;
  if (!o->layernorm_train || !o->layernorm_backward || !o->matmul_backward || !o->gelu_backward ||
      !o->quick_gelu_backward || !o->add_scaled_backward || !o->attention_backward ||
      !o->attention_backward_scratch || !o->sgd_update || !o->copy)
    return ancd_errorf("mgvit: the %s backend has no training ops", o->name);
  mgvit *m = xcalloc(1, sizeof *m);
  m->c = *cfg;
  m->d = *desc;
  m->o = o;
  if (vit_create(&m->vm, desc, w, o, cfg->max_batch, cfg->image_size, cfg->image_size) != 0) {
    free(m);
    return -1;
  }
  m->T = m->vm->T;
  m->D = desc->dim;
  m->M = desc->mlp_dim;
  m->first = cfg->grad_from_block - 1;
  m->n_trained = desc->depth - m->first;
  m->mask_from = desc->depth - cfg->mask_layers;

  for (int b = m->first; b < desc->depth; b++)
    add_block_tensors(m, b, &w->blocks[b]);
  const int D = m->D, H = cfg->proj_hidden, P = cfg->proj_out;
  const int in[3] = {D, H, H}, outw[3] = {H, H, P};
  for (int l = 0; l < 3; l++) {
    add_tensor(m, PROJ_NAMES[l][0], outw[l], in[l]);
    add_tensor(m, PROJ_NAMES[l][1], outw[l], 0);
  }
  for (int h = 0; h < MGVIT_HEADS; h++) {
    char name[64];
    snprintf(name, sizeof name, "head.last_layer.%d.weight_v", h);
    add_tensor(m, name, cfg->n_classes, D);
  }

  const size_t bytes = m->n_params * sizeof(float);
  m->params = o->alloc(bytes);
  m->grads = o->alloc(bytes);
  m->momentum = o->alloc(bytes);
  o->memset0(m->grads, bytes);
  o->memset0(m->momentum, bytes);
  float *host = xcalloc(m->n_params, sizeof *host);
  stage_initial(m, host, w, seed);
  o->to_device(m->params, host, bytes);
  free(host);
  m->tw = xcalloc((size_t)m->n_trained, sizeof *m->tw);
  m->tg = xcalloc((size_t)m->n_trained, sizeof *m->tg);
  for (int b = 0; b < m->n_trained; b++) {
    bind_block(&m->tw[b], m, m->params, m->first + b);
    vit_block_weights g;
    bind_block(&g, m, m->grads, m->first + b);
    /* the same offsets in the gradient buffer, which is ours to write */
    m->tg[b] = (block_grads){
        (float *)g.ln1_w,  (float *)g.ln1_b, (float *)g.qkv_w, (float *)g.qkv_b, (float *)g.proj_w,
        (float *)g.proj_b, (float *)g.ls1,   (float *)g.ls2,   (float *)g.ln2_w, (float *)g.ln2_b,
        (float *)g.fc1_w,  (float *)g.fc1_b, (float *)g.fc2_w, (float *)g.fc2_b};
  }
  bind_heads(m);
  m->v_host = xmalloc((size_t)MGVIT_HEADS * cfg->n_classes * D * sizeof *m->v_host);
  for (int h = 0; h < MGVIT_HEADS; h++)
    o->to_host(m->v_host + (size_t)h * cfg->n_classes * D,
               m->params + m->tab[m->n_tab - MGVIT_HEADS + h].offset,
               (size_t)cfg->n_classes * D * sizeof(float));

  m->saved = xcalloc((size_t)m->n_trained, sizeof *m->saved);
  arena_init(&m->ar, o, carve(m, NULL));
  carve(m, &m->ar);
  m->host_bias = xmalloc((size_t)cfg->max_batch * m->T * sizeof *m->host_bias);
  *out = m;
  return 0;
}

void mgvit_free(mgvit *m) {
  if (!m)
    return;
  arena_free(&m->ar);
  m->o->free(m->params);
  m->o->free(m->grads);
  m->o->free(m->momentum);
  vit_free(m->vm);
  free(m->tab);
  free(m->tw);
  free(m->tg);
  free(m->saved);
  free(m->v_host);
  free(m->host_bias);
  free(m);
}

int mgvit_n_tensors(const mgvit *m) { return m->n_tab; }
const mgvit_tensor *mgvit_tensor_at(const mgvit *m, int i) {
  return i >= 0 && i < m->n_tab ? &m->tab[i] : NULL;
}
size_t mgvit_n_params(const mgvit *m) { return m->n_params; }
float *mgvit_params(mgvit *m) { return m->params; }
float *mgvit_grads(mgvit *m) { return m->grads; }
float *mgvit_momentum(mgvit *m) { return m->momentum; }
const mgvit_config *mgvit_get_config(const mgvit *m) { return &m->c; }

int mgvit_dim(const mgvit *m) { return m->D; }
size_t mgvit_peak_bytes(const mgvit *m) {
  return vit_peak_bytes(m->vm) + 3 * m->n_params * sizeof(float) + m->ar.peak;
}

void mgvit_tensor_get(const mgvit *m, const float *buffer, const mgvit_tensor *t, float *host) {
  m->o->to_host(host, buffer + t->offset, t->n * sizeof(float));
}

void mgvit_tensor_set(mgvit *m, float *buffer, const mgvit_tensor *t, const float *host) {
  m->o->to_device(buffer + t->offset, host, t->n * sizeof(float));
  for (int h = 0; h < MGVIT_HEADS; h++) /* keep the host prototypes in step */
    if (buffer == m->params && t == &m->tab[m->n_tab - MGVIT_HEADS + h])
      memcpy(m->v_host + (size_t)h * t->n, host, t->n * sizeof(float));
}

const mgvit_tensor *mgvit_first_nonfinite(const mgvit *m, const float *buffer, size_t *index) {
  /* Every step checks the gradients: on the CPU the buffer is read where it is. */
  const int on_host = !strcmp(m->o->name, "cpu");
  float *copy = on_host ? NULL : xmalloc(m->n_params * sizeof *copy);
  if (copy)
    m->o->to_host(copy, buffer, m->n_params * sizeof *copy);
  const float *host = on_host ? buffer : copy;
  const mgvit_tensor *bad = NULL;
  for (int t = 0; t < m->n_tab && !bad; t++)
    for (size_t i = 0; i < m->tab[t].n; i++)
      if (!isfinite(host[m->tab[t].offset + i])) {
        bad = &m->tab[t];
        *index = i;
        break;
      }
  free(copy);
  return bad;
}

const float *mgvit_prototypes(const mgvit *m, int h) {
  return m->v_host + (size_t)h * m->c.n_classes * m->D;
}

/* ---- forward ---- */

void mgvit_mask_bias(float *bias, const float *masks, int N, int S, int P) {
  const int g = S / P, T = 1 + g * g;
  for (int n = 0; n < N; n++) {
    float *row = bias + (size_t)n * T;
    row[0] = 0.0f; /* CLS keeps itself */
    for (int j = 0; j < g * g; j++) {
      if (!masks) {
        row[1 + j] = 0.0f;
        continue;
      }
      const int py = j / g, px = j % g;
      double sum = 0.0; /* avg_pool2d(P, stride P) in float: the mean of P*P values */
      for (int y = 0; y < P; y++)
        for (int x = 0; x < P; x++)
          sum += masks[((size_t)n * S + (size_t)py * P + y) * S + (size_t)px * P + x];
      const float mean = (float)(sum / (P * P));
      row[1 + j] = mean >= 0.5f ? 0.0f : MASK_NEG;
    }
  }
}

int mgvit_forward(mgvit *m, const float *images, const float *masks, int N, float *f, float *z) {
  const ops *o = m->o;
  vit_model *vm = m->vm;
  const int D = m->D, T = m->T, H = m->c.proj_hidden, P = m->c.proj_out;
  if (N < 1 || N > m->c.max_batch)
    return ancd_errorf("mgvit: batch of %d images, the model was sized for 1..%d", N,
                       m->c.max_batch);
  mgvit_mask_bias(m->host_bias, masks, N, m->c.image_size, m->d.patch);
  o->to_device(m->bias, m->host_bias, (size_t)N * T * sizeof(float));
  vit_embed(vm, images, N);
  for (int b = 0; b < m->d.depth; b++) {
    const float *bias = b >= m->mask_from ? m->bias : NULL;
    const vit_block_weights *k = b < m->first ? &vm->w.blocks[b] : &m->tw[b - m->first];
    const vit_block_saved *save = b < m->first ? NULL : &m->saved[b - m->first];
    if (b == m->d.depth - 1) /* only the CLS rows reach f */
      vit_block_forward_cls(vm, k, N, bias, save);
    else
      vit_block_forward(vm, k, N, bias, save);
  }
  /* f = the frozen final LayerNorm of the CLS rows (vm->cls_x: row 0 of each image). */
  o->layernorm_train(m->f, m->f_mean, m->f_rstd, vm->cls_x, vm->w.norm_w, vm->w.norm_b, N, D,
                     m->d.ln_eps);
  /* Projector §5.4: Linear, GELU, Linear, GELU, Linear. */
  o->matmul(m->pre1, m->f, m->pw[0], m->pb[0], N, D, H);
  o->gelu(m->g1, m->pre1, (long)N * H);
  o->matmul(m->pre2, m->g1, m->pw[1], m->pb[1], N, H, H);
  o->gelu(m->g2, m->pre2, (long)N * H);
  o->matmul(m->z, m->g2, m->pw[2], m->pb[2], N, H, P);
  if (f)
    o->to_host(f, m->f, (size_t)N * D * sizeof(float));
  if (z)
    o->to_host(z, m->z, (size_t)N * P * sizeof(float));
  o->synchronize();
  m->last_n = N;
  return 0;
}

/* ---- backward ---- */

/* The MLP and proj steps of a block's backward on `rows` rows (every token, or the CLS rows of
 * a CLS-only last block): on entry dx = dL/d(block output) [rows, D]; on exit dx = dL/d(x_mid)
 * (the residual's share before the attention branch) and m->datt = dL/d(attention output).
 * hidden [rows, M] is scratch for the recomputed activation. */
static void mlp_proj_backward(mgvit *m, int b, float *dx, float *hidden, int rows) {
  const ops *o = m->o;
  const vit_desc *d = &m->d;
  const vit_block_weights *k = &m->tw[b];
  const block_grads *g = &m->tg[b];
  const vit_block_saved *s = &m->saved[b];
  const int D = m->D, M = m->M;
  const size_t nd = (size_t)rows * D * sizeof(float), nm = (size_t)rows * M * sizeof(float);
  float *ln = m->vm->ln;

  /* x_out = x_mid + ls2 * fc2(act(fc1(LN2 x_mid))) */
  o->layernorm(ln, s->x_mid, k->ln2_w, k->ln2_b, rows, D, d->ln_eps); /* recomputed */
  if (d->act == VIT_ACT_QUICK_GELU)
    o->quick_gelu(hidden, s->pre, (long)rows * M);
  else
    o->gelu(hidden, s->pre, (long)rows * M);
  const float *dbranch = dx;
  if (k->ls2) { /* the branch before LayerScale is recomputed for dgamma */
    o->matmul(m->datt, hidden, k->fc2_w, k->fc2_b, rows, M, D);
    o->memset0(m->dy, nd);
    o->add_scaled_backward(NULL, m->dy, g->ls2, dx, m->datt, k->ls2, rows, D);
    dbranch = m->dy;
  }
  o->memset0(m->dhid, nm);
  o->matmul_backward(m->dhid, g->fc2_w, g->fc2_b, dbranch, hidden, k->fc2_w, rows, M, D);
  o->memset0(m->dpre, nm);
  if (d->act == VIT_ACT_QUICK_GELU)
    o->quick_gelu_backward(m->dpre, s->pre, m->dhid, (long)rows * M);
  else
    o->gelu_backward(m->dpre, s->pre, m->dhid, (long)rows * M);
  o->memset0(m->dln, nd);
  o->matmul_backward(m->dln, g->fc1_w, g->fc1_b, m->dpre, ln, k->fc1_w, rows, D, M);
  o->layernorm_backward(dx, g->ln2_w, g->ln2_b, m->dln, s->x_mid, k->ln2_w, s->ln2_mean,
                        s->ln2_rstd, rows, D);

  /* x_mid = x_in + ls1 * proj(attn(...)) */
  dbranch = dx;
  if (k->ls1) {
    o->matmul(m->datt, s->att, k->proj_w, k->proj_b, rows, D, D);
    o->memset0(m->dy, nd);
    o->add_scaled_backward(NULL, m->dy, g->ls1, dx, m->datt, k->ls1, rows, D);
    dbranch = m->dy;
  }
  o->memset0(m->datt, nd);
  o->matmul_backward(m->datt, g->proj_w, g->proj_b, dbranch, s->att, k->proj_w, rows, D, D);
}

/* One trained block: on entry dx = dL/d(block output), on exit dL/d(block input) (not computed
 * for the first trained block: nothing below it trains). */
static void block_backward(mgvit *m, int b, int N, int need_dinp) {
  const ops *o = m->o;
  vit_model *vm = m->vm;
  const vit_desc *d = &m->d;
  const vit_block_weights *k = &m->tw[b];
  const block_grads *g = &m->tg[b];
  const vit_block_saved *s = &m->saved[b];
  const int D = m->D, T = m->T, BT = N * T;
  const size_t nd = (size_t)BT * D * sizeof(float);
  const float *bias = m->first + b >= m->mask_from ? m->bias : NULL;
  float *ln = vm->ln;

  mlp_proj_backward(m, b, m->dx, m->hidden, BT);
  o->memset0(m->dqkv, 3 * nd);
  o->attention_backward(m->dqkv, m->att_scratch, m->datt, s->qkv, bias, N, T, D, d->heads);
  o->layernorm(ln, s->x_in, k->ln1_w, k->ln1_b, BT, D, d->ln_eps); /* recomputed */
  o->memset0(m->dln, nd);
  o->matmul_backward(m->dln, g->qkv_w, g->qkv_b, m->dqkv, ln, k->qkv_w, BT, D, 3 * D);
  /* dx holds the residual's share; the LayerNorm adds the branch's (or only dgamma/dbeta). */
  o->layernorm_backward(need_dinp ? m->dx : NULL, g->ln1_w, g->ln1_b, m->dln, s->x_in, k->ln1_w,
                        s->ln1_mean, s->ln1_rstd, BT, D);
}

/* The last block, trained, when only its CLS rows were computed (vit_block_forward_cls): on
 * entry dxc = dL/d(CLS rows of the output) [N, D]; on exit, when need_dinp, dx = dL/d(block
 * input) [N, T, D]. The MLP and proj on N rows, then the attention backward of the CLS query
 * alone from the kept probabilities, and the gradients through qkv from its rank-one pieces. */
static void block_backward_cls(mgvit *m, int b, int N, int need_dinp) {
  const ops *o = m->o;
  vit_model *vm = m->vm;
  const vit_desc *d = &m->d;
  const vit_block_weights *k = &m->tw[b];
  const block_grads *g = &m->tg[b];
  const vit_block_saved *s = &m->saved[b];
  const int D = m->D, T = m->T, BT = N * T, NH = d->heads, hs = D / NH;
  const long row = 3L * T * D;
  const float scale = 1.0f / sqrtf((float)hs);
  const size_t nd = (size_t)BT * D * sizeof(float), np = (size_t)N * NH * T;
  float *ln = vm->ln;

  /* The MLP and proj of the CLS rows: block_backward's steps on N rows. */
  mlp_proj_backward(m, b, m->dxc, vm->work, N);

  /* The CLS query's attention: dp = do v^T, ds = p o (dp - dot) with dot the row sums of
   * p o dp (a batch of dot products, an outer product with ones subtracted, then an elementwise
   * product: add_scaled on one long row), dq0 = scale ds k. */
  const long TD = (long)T * D, hD = (long)hs * D, PT = (long)NH * T, PD = (long)NH * D;
  for (int n = 0; n < N; n++)
    o->gemm_batched(m->dp + n * PT, m->datt + (long)n * D, s->qkv + n * row + 2 * D, NH, 1, T, hs,
                    0, 1, hs, 3 * D, T, hs, hs, T, 1.0f, 0.0f);
  o->gemm_batched(m->dot, s->cls_p, m->dp, N * NH, 1, 1, T, 0, 1, T, T, 1, T, T, 1, 1.0f, 0.0f);
  o->gemm_batched(m->dp, m->dot, vm->ones, 1, N * NH, T, 1, 0, 0, 1, T, T, 0, 0, 0, -1.0f, 1.0f);
  o->memset0(m->ds, np * sizeof(float));
  o->add_scaled(m->ds, m->ds, m->dp, s->cls_p, 1, (int)np);
  for (int n = 0; n < N; n++)
    o->gemm_batched(m->dq0 + (long)n * D, m->ds + n * PT, s->qkv + n * row + D, NH, 1, hs, T, 0, 0,
                    T, 3 * D, hs, T, hs, hs, scale, 0.0f);

  /* Through qkv without the [N*T, 3D] dqkv: the key and value gradients dk_j = scale ds_j q0
   * and dv_j = p_j do are rank one per (image, head), so with a = scale q0 Wk_h, b = do Wv_h
   * (per image and head, [1, D]) and ln the recomputed LN1 of every token:
   *   dln_n = ds_n^T a_n + p_n^T b_n (+ dq0_n Wq on row 0)
   *   dWq += dq0^T ln_0,  dWk_h += scale q0_h^T (ds_h ln),  dWv_h += do_h^T (p_h ln)
   *   dbq += sum dq0,  dbk_h += scale sum (sum_j ds) q0_h,  dbv_h += sum (sum_j p) do_h
   * (a, b and the products with ln are [N, heads, D]; q0_h, do_h are [N, hs] column blocks). */
  const float *Wq = k->qkv_w, *Wk = Wq + (long)D * D, *Wv = Wk + (long)D * D, *q0 = s->qkv;
  float *gWq = g->qkv_w, *gWk = gWq + (long)D * D, *gWv = gWk + (long)D * D;
  o->layernorm(ln, s->x_in, k->ln1_w, k->ln1_b, BT, D, d->ln_eps); /* recomputed */
  o->gemm_batched(m->ra, q0, Wk, NH, N, D, hs, 0, 0, (int)row, D, (int)PD, hs, hD, D, scale, 0.0f);
  o->gemm_batched(m->rb, m->datt, Wv, NH, N, D, hs, 0, 0, D, D, (int)PD, hs, hD, D, 1.0f, 0.0f);
  o->gemm_batched(m->dln, m->ds, m->ra, N, T, D, NH, 1, 0, T, D, D, PT, PD, TD, 1.0f, 0.0f);
  o->gemm_batched(m->dln, s->cls_p, m->rb, N, T, D, NH, 1, 0, T, D, D, PT, PD, TD, 1.0f, 1.0f);
  o->gemm_batched(m->dln, m->dq0, Wq, 1, N, D, D, 0, 0, D, D, (int)TD, 0, 0, 0, 1.0f, 1.0f);
  o->gemm_batched(gWq, m->dq0, ln, 1, D, D, N, 1, 0, D, (int)TD, D, 0, 0, 0, 1.0f, 1.0f);
  float *u = m->ra, *v = m->rb; /* ds_n ln_n and p_n ln_n, [N, heads, D] */
  o->gemm_batched(u, m->ds, ln, N, NH, D, T, 0, 0, T, D, D, PT, TD, PD, 1.0f, 0.0f);
  o->gemm_batched(v, s->cls_p, ln, N, NH, D, T, 0, 0, T, D, D, PT, TD, PD, 1.0f, 0.0f);
  o->gemm_batched(gWk, q0, u, NH, hs, D, N, 1, 0, (int)row, (int)PD, D, hs, D, hD, scale, 1.0f);
  o->gemm_batched(gWv, m->datt, v, NH, hs, D, N, 1, 0, D, (int)PD, D, hs, D, hD, 1.0f, 1.0f);
  if (g->qkv_b) {
    float *rs_ds = m->rs, *rs_p = m->rs + (long)N * NH; /* row sums, [N, heads] */
    o->gemm_batched(rs_ds, m->ds, vm->ones, 1, N * NH, 1, T, 0, 0, T, 1, 1, 0, 0, 0, 1.0f, 0.0f);
    o->gemm_batched(rs_p, s->cls_p, vm->ones, 1, N * NH, 1, T, 0, 0, T, 1, 1, 0, 0, 0, 1.0f, 0.0f);
    o->gemm_batched(g->qkv_b, vm->ones, m->dq0, 1, 1, D, N, 0, 0, N, D, D, 0, 0, 0, 1.0f, 1.0f);
    o->gemm_batched(g->qkv_b + D, rs_ds, q0, NH, 1, hs, N, 1, 0, NH, (int)row, hs, 1, hs, hs, scale,
                    1.0f);
    o->gemm_batched(g->qkv_b + 2 * D, rs_p, m->datt, NH, 1, hs, N, 1, 0, NH, D, hs, 1, hs, hs, 1.0f,
                    1.0f);
  }
  if (need_dinp) { /* the residual's share is on the CLS rows only */
    o->memset0(m->dx, nd);
    for (int n = 0; n < N; n++)
      o->copy(m->dx + (size_t)n * T * D, m->dxc + (size_t)n * D, (size_t)D * sizeof(float));
  }
  o->layernorm_backward(need_dinp ? m->dx : NULL, g->ln1_w, g->ln1_b, m->dln, s->x_in, k->ln1_w,
                        s->ln1_mean, s->ln1_rstd, BT, D);
}

int mgvit_backward(mgvit *m, const float *df, const float *dz, const float *dv, int N) {
  const ops *o = m->o;
  vit_model *vm = m->vm;
  const int D = m->D, H = m->c.proj_hidden, P = m->c.proj_out, C = m->c.n_classes;
  if (N != m->last_n)
    return ancd_errorf("mgvit: backward of %d rows after a forward of %d", N, m->last_n);
  o->memset0(m->grads, m->n_params * sizeof(float));
  for (int h = 0; h < MGVIT_HEADS; h++) /* the classifier's gradient, computed on the host */
    o->to_device(m->grads + m->tab[m->n_tab - MGVIT_HEADS + h].offset, dv + (size_t)h * C * D,
                 (size_t)C * D * sizeof(float));
  o->to_device(m->df, df, (size_t)N * D * sizeof(float));
  o->to_device(m->dz, dz, (size_t)N * P * sizeof(float));

  /* Projector: df += its input gradient. */
  o->memset0(m->dg, (size_t)N * H * sizeof(float));
  o->matmul_backward(m->dg, m->pgw[2], m->pgb[2], m->dz, m->g2, m->pw[2], N, H, P);
  o->memset0(m->dph, (size_t)N * H * sizeof(float));
  o->gelu_backward(m->dph, m->pre2, m->dg, (long)N * H);
  o->memset0(m->dg, (size_t)N * H * sizeof(float));
  o->matmul_backward(m->dg, m->pgw[1], m->pgb[1], m->dph, m->g1, m->pw[1], N, H, H);
  o->memset0(m->dph, (size_t)N * H * sizeof(float));
  o->gelu_backward(m->dph, m->pre1, m->dg, (long)N * H);
  o->matmul_backward(m->df, m->pgw[0], m->pgb[0], m->dph, m->f, m->pw[0], N, D, H);

  /* The frozen final LayerNorm of the CLS rows: only they reach the loss. */
  o->memset0(m->dxc, (size_t)N * D * sizeof(float));
  o->layernorm_backward(m->dxc, NULL, NULL, m->df, vm->cls_x, vm->w.norm_w, m->f_mean, m->f_rstd, N,
                        D);
  block_backward_cls(m, m->n_trained - 1, N, m->n_trained > 1);
  for (int b = m->n_trained - 2; b >= 0; b--)
    block_backward(m, b, N, b > 0);
  o->synchronize();
  return 0;
}

double mgvit_step_flops(const vit_desc *d, const mgvit_config *c, int N) {
  const int S = c->image_size;
  const double L = (double)(S / d->patch) * (S / d->patch), T = L + 1, D = d->dim, M = d->mlp_dim,
               K = 3.0 * d->patch * d->patch;
  const double block = 2 * T * D * 3 * D + 4 * T * T * D + 2 * T * D * D + 4 * T * D * M;
  const double H = c->proj_hidden, P = c->proj_out;
  const double proj = 2 * (D * H + H * H + H * P) + 2 * D * c->n_classes * MGVIT_HEADS;
  const int trained = d->depth - c->grad_from_block + 1;
  return N * (2 * L * K * D + d->depth * block + proj + 2 * (trained * block + proj));
}

void mgvit_zero_grads(mgvit *m) { m->o->memset0(m->grads, m->n_params * sizeof(float)); }

void mgvit_sgd_step(mgvit *m, float lr, float momentum, float weight_decay, int first_step) {
  for (int i = 0; i < m->n_tab; i++) {
    const mgvit_tensor *t = &m->tab[i];
    m->o->sgd_update(m->params + t->offset, m->momentum + t->offset, m->grads + t->offset,
                     (long)t->n, lr, momentum, t->ndim >= 2 ? weight_decay : 0.0f, first_step);
  }
  const size_t head_n = (size_t)m->c.n_classes * m->D;
  for (int h = 0; h < MGVIT_HEADS; h++)
    m->o->to_host(m->v_host + (size_t)h * head_n,
                  m->params + m->tab[m->n_tab - MGVIT_HEADS + h].offset, head_n * sizeof(float));
}
