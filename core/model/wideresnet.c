/* The WideResNet forward up to layer3 (musc_hetmm_spec §B.4), written once against the op table.
 * Activations are channels-last (NHWC, a [B*H*W, C] matrix), so a 1x1 conv is one matmul and a
 * k x k conv is im2col then matmul; BatchNorm is folded into the weights and the matmul bias at
 * wrn_create, which also carves every buffer out of one arena: wrn_forward allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "error.h"
#include "wideresnet.h"

/* Floats of im2col columns the arena holds at most (default 128 MiB); larger batches are cut
 * into chunks of whole images per conv. */
static size_t cols_budget = (size_t)32 << 20;

void wrn_set_cols_budget(size_t floats) { cols_budget = floats ? floats : (size_t)32 << 20; }

/* A conv with its BatchNorm folded in, on the backend: weight [cout, k, k, cin], bias [cout]. */
typedef struct {
  const float *w, *b;
  int cin, cout, k, stride, pad;
} conv_folded;

typedef struct {
  conv_folded c1, c2, c3, down; /* down.w NULL: identity shortcut */
} block_folded;

struct wrn_model {
  wrn_desc d;
  const ops *o;
  int max_batch, H, W;
  float *weight_block; /* one backend allocation holding every folded weight */
  size_t weight_bytes;
  conv_folded stem;
  block_folded *blocks;
  arena ar;
  /* [max_batch, ...] activations (act floats per image each), and the im2col columns. */
  float *x, *y, *t1, *t2, *sc, *cols;
  size_t act, cols_floats;
};

static int conv_out(int n, int k, int stride, int pad) { return (n + 2 * pad - k) / stride + 1; }

int wrn_total_blocks(const wrn_desc *d) { return d->blocks[0] + d->blocks[1] + d->blocks[2]; }

void wrn_layer_shapes(int C[WRN_STAGES], int Hl[WRN_STAGES], int Wl[WRN_STAGES], const wrn_desc *d,
                      int H, int W) {
  int h = conv_out(conv_out(H, 7, 2, 3), 3, 2, 1), w = conv_out(conv_out(W, 7, 2, 3), 3, 2, 1);
  for (int s = 0; s < WRN_STAGES; s++) {
    if (s > 0) { /* the first block's 3x3 (and 1x1 downsample) have stride 2 */
      h = conv_out(h, 3, 2, 1);
      w = conv_out(w, 3, 2, 1);
    }
    C[s] = d->out[s];
    Hl[s] = h;
    Wl[s] = w;
  }
}

void wrn_hetmm_norm(float mean[3], float std[3]) {
  const float m[3] = {0.485f, 0.456f, 0.406f}, s[3] = {0.229f, 0.256f, 0.225f};
  memcpy(mean, m, sizeof m);
  memcpy(std, s, sizeof s);
}

/* ---- weights: check, fold, upload ---- */

static int check_conv(const wrn_conv *c, const char *what, int s, int b) {
  if (c->w && c->bn_w && c->bn_b && c->bn_mean && c->bn_var)
    return 0;
  if (s < 0)
    return ancd_errorf("wideresnet: the stem %s lacks a weight", what);
  return ancd_errorf("wideresnet: layer%d.%d.%s lacks a weight", s + 1, b, what);
}

static int check(const wrn_desc *d, const wrn_weights *w) {
  if (d->stem <= 0 || d->bn_eps <= 0.0f)
    return ancd_errorf("wideresnet: bad stem width %d or BatchNorm eps %g", d->stem,
                       (double)d->bn_eps);
  for (int s = 0; s < WRN_STAGES; s++)
    if (d->blocks[s] <= 0 || d->width[s] <= 0 || d->out[s] <= 0)
      return ancd_errorf("wideresnet: layer%d has %d blocks, width %d, %d outputs", s + 1,
                         d->blocks[s], d->width[s], d->out[s]);
  if (!w->blocks || check_conv(&w->stem, "conv1", -1, 0))
    return -1;
  const wrn_block_weights *k = w->blocks;
  for (int s = 0; s < WRN_STAGES; s++)
    for (int b = 0; b < d->blocks[s]; b++, k++) {
      if (check_conv(&k->conv1, "conv1", s, b) || check_conv(&k->conv2, "conv2", s, b) ||
          check_conv(&k->conv3, "conv3", s, b))
        return -1;
      if (b == 0 && check_conv(&k->down, "downsample", s, b))
        return -1;
      if (b > 0 && k->down.w)
        return ancd_errorf("wideresnet: layer%d.%d has a downsample; only block 0 may", s + 1, b);
    }
  return 0;
}

/* Places folded convs in the backend's weight block: the counting pass (dev NULL) only sums the
 * floats; the second folds each conv into a host scratch the size of the largest one and uploads
 * it, so the host never holds a second copy of the whole network. */
typedef struct {
  const ops *o;
  float *dev;     /* the weight block; NULL in the counting pass */
  float *scratch; /* host, max_conv floats */
  size_t used;    /* floats */
  size_t max_conv;
} packer;

/* BN(conv(x)) = conv'(x) + b' with w' = w * g / sqrt(var + eps), b' = beta - mean * g /
 * sqrt(var + eps) (in double); the weight is permuted [cout, cin, k, k] -> [cout, k, k, cin] to
 * match im2col's column order. Weight and bias are contiguous, each 256-byte aligned. */
static void fold(conv_folded *f, packer *p, const wrn_conv *c, int cin, int cout, int k, int stride,
                 float eps) {
  *f = (conv_folded){.cin = cin, .cout = cout, .k = k, .stride = stride, .pad = k / 2};
  const size_t nw = ((size_t)cout * k * k * cin + 63) / 64 * 64, n = nw + cout;
  p->max_conv = p->max_conv > n ? p->max_conv : n;
  if (p->dev) {
    float *w = p->scratch, *b = p->scratch + nw;
    memset(w, 0, nw * sizeof *w); /* the alignment gap too: defined bytes */
    for (int o = 0; o < cout; o++) {
      double scale = c->bn_w[o] / sqrt((double)c->bn_var[o] + eps);
      b[o] = (float)(c->bn_b[o] - c->bn_mean[o] * scale);
      for (int i = 0; i < cin; i++)
        for (int r = 0; r < k * k; r++)
          w[((size_t)o * k * k + r) * cin + i] =
              (float)(c->w[((size_t)o * cin + i) * k * k + r] * scale);
    }
    p->o->to_device(p->dev + p->used, p->scratch, n * sizeof(float));
    f->w = p->dev + p->used;
    f->b = p->dev + p->used + nw;
  }
  p->used += (n + 63) / 64 * 64;
}

/* Every conv of the network in forward order. */
static void fold_all(wrn_model *m, packer *p, const wrn_weights *w) {
  const wrn_desc *d = &m->d;
  fold(&m->stem, p, &w->stem, 3, d->stem, 7, 2, d->bn_eps);
  int cin = d->stem, k = 0;
  for (int s = 0; s < WRN_STAGES; s++)
    for (int b = 0; b < d->blocks[s]; b++, k++) {
      const wrn_block_weights *src = &w->blocks[k];
      block_folded *f = &m->blocks[k];
      int stride = s > 0 && b == 0 ? 2 : 1;
      fold(&f->c1, p, &src->conv1, cin, d->width[s], 1, 1, d->bn_eps);
      fold(&f->c2, p, &src->conv2, d->width[s], d->width[s], 3, stride, d->bn_eps);
      fold(&f->c3, p, &src->conv3, d->width[s], d->out[s], 1, 1, d->bn_eps);
      if (b == 0)
        fold(&f->down, p, &src->down, cin, d->out[s], 1, stride, d->bn_eps);
      else
        f->down = (conv_folded){0};
      cin = d->out[s];
    }
}

/* ---- buffers ---- */

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Per image: the largest activation (act) and the largest im2col of one conv (cols). */
static void activation_sizes(size_t *act, size_t *cols, const wrn_model *m) {
  const wrn_desc *d = &m->d;
  int h = conv_out(m->H, 7, 2, 3), w = conv_out(m->W, 7, 2, 3);
  *act = max_size((size_t)3 * m->H * m->W, (size_t)h * w * d->stem);
  *cols = (size_t)h * w * 7 * 7 * 3;
  h = conv_out(h, 3, 2, 1);
  w = conv_out(w, 3, 2, 1);
  for (int s = 0; s < WRN_STAGES; s++) {
    /* conv1 of the first block runs at the input resolution, before the stride */
    int ho = s > 0 ? conv_out(h, 3, 2, 1) : h, wo = s > 0 ? conv_out(w, 3, 2, 1) : w;
    *act = max_size(*act, (size_t)h * w * d->width[s]);
    *act = max_size(*act, (size_t)ho * wo * max_size((size_t)d->width[s], (size_t)d->out[s]));
    *cols = max_size(*cols, (size_t)ho * wo * 9 * d->width[s]);
    if (s > 0) /* the strided 1x1 downsample */
      *cols = max_size(*cols, (size_t)ho * wo * (s == 1 ? d->out[0] : d->out[1]));
    h = ho;
    w = wo;
  }
}

/* Carves the buffers (counting bytes only when ar is NULL), as vit.c does. */
static size_t carve(wrn_model *m, arena *ar) {
  size_t per_cols;
  activation_sizes(&m->act, &per_cols, m);
  size_t images = cols_budget / per_cols;
  images = images < 1 ? 1 : images > (size_t)m->max_batch ? (size_t)m->max_batch : images;
  m->cols_floats = images * per_cols;
  const size_t a = (size_t)m->max_batch * m->act;
  const size_t n[6] = {a, a, a, a, a, m->cols_floats};
  float **slot[6] = {&m->x, &m->y, &m->t1, &m->t2, &m->sc, &m->cols};
  size_t bytes = 0;
  for (int i = 0; i < 6; i++) {
    bytes += arena_float_bytes(n[i]);
    if (ar)
      *slot[i] = arena_floats(ar, n[i]);
  }
  return bytes;
}

int wrn_create(wrn_model **out, const wrn_desc *d, const wrn_weights *w, const ops *o,
               int max_batch, int image_h, int image_w) {
  *out = NULL;
  if (check(d, w) != 0)
    return -1;
  if (max_batch < 1 || image_h < 1 || image_w < 1)
    return ancd_errorf("wideresnet: batch %d of %dx%d images: each must be at least 1", max_batch,
                       image_w, image_h);
  wrn_model *m = xcalloc(1, sizeof *m);
  m->d = *d;
  m->o = o;
  m->max_batch = max_batch;
  m->H = image_h;
  m->W = image_w;
  m->blocks = xcalloc((size_t)wrn_total_blocks(d), sizeof *m->blocks);

  packer p = {.o = o};
  fold_all(m, &p, w);
  m->weight_bytes = p.used * sizeof(float);
  m->weight_block = o->alloc(m->weight_bytes);
  p = (packer){.o = o, .dev = m->weight_block, .scratch = xmalloc(p.max_conv * sizeof(float))};
  fold_all(m, &p, w);
  free(p.scratch);

  arena_init(&m->ar, o, carve(m, NULL));
  carve(m, &m->ar);
  *out = m;
  return 0;
}

void wrn_free(wrn_model *m) {
  if (!m)
    return;
  arena_free(&m->ar);
  m->o->free(m->weight_block);
  free(m->blocks);
  free(m);
}

size_t wrn_peak_bytes(const wrn_model *m) { return m->weight_bytes + m->ar.peak; }

/* ---- forward ---- */

/* out [B*Ho*Wo, cout] = conv(x [B,H,W,cin]) + bias: one matmul for a 1x1 stride-1 conv, else
 * im2col then matmul on as many whole images at a time as the columns hold. */
static void conv_forward(wrn_model *m, float *out, const float *x, const conv_folded *f, int B,
                         int H, int W) {
  const ops *o = m->o;
  if (f->k == 1 && f->stride == 1) {
    o->matmul(out, x, f->w, f->b, B * H * W, f->cin, f->cout);
    return;
  }
  const int Ho = conv_out(H, f->k, f->stride, f->pad), Wo = conv_out(W, f->k, f->stride, f->pad);
  const int K = f->k * f->k * f->cin;
  int chunk = (int)(m->cols_floats / ((size_t)Ho * Wo * K));
  chunk = chunk < B ? chunk : B;
  for (int n0 = 0; n0 < B; n0 += chunk) {
    int nb = B - n0 < chunk ? B - n0 : chunk;
    o->im2col(m->cols, x + (size_t)n0 * H * W * f->cin, nb, H, W, f->cin, f->k, f->stride, f->pad,
              1);
    o->matmul(out + (size_t)n0 * Ho * Wo * f->cout, m->cols, f->w, f->b, nb * Ho * Wo, K, f->cout);
  }
}

/* One Bottleneck (torchvision): y = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x))))))) + shortcut,
 * left before its final ReLU (the caller applies it). x [B,H,W,cin] -> y [B,Ho,Wo,cout]. */
static void block_forward(wrn_model *m, float *y, const float *x, const block_folded *k, int B,
                          int H, int W) {
  const ops *o = m->o;
  const int Ho = conv_out(H, 3, k->c2.stride, 1), Wo = conv_out(W, 3, k->c2.stride, 1);
  conv_forward(m, m->t1, x, &k->c1, B, H, W);
  o->relu(m->t1, m->t1, (long)B * H * W * k->c1.cout);
  conv_forward(m, m->t2, m->t1, &k->c2, B, H, W);
  o->relu(m->t2, m->t2, (long)B * Ho * Wo * k->c2.cout);
  conv_forward(m, y, m->t2, &k->c3, B, Ho, Wo);
  const long n = (long)B * Ho * Wo * k->c3.cout;
  if (k->down.w) {
    conv_forward(m, m->sc, x, &k->down, B, H, W);
    o->add(y, y, m->sc, n);
  } else {
    o->add(y, y, x, n);
  }
}

/* A stage output y [B, h*w, C] (pre-ReLU) to the host in the requested layout. */
static void emit(wrn_model *m, float *host, const float *y, int B, int hw, int C, unsigned flags) {
  const ops *o = m->o;
  const float *src = y;
  if (flags & WRN_NORMALIZE) {
    o->l2_normalize(m->t1, src, (long)B * hw, C, 1e-12f); /* F.normalize's eps */
    src = m->t1;
  }
  if (!(flags & WRN_CHANNELS_LAST)) {
    o->transpose(m->t2, src, B, hw, C);
    src = m->t2;
  }
  o->to_host(host, src, (size_t)B * hw * C * sizeof(float));
}

int wrn_forward(float *layer_out[WRN_STAGES], wrn_model *m, const float *images, int B,
                unsigned flags) {
  const ops *o = m->o;
  const wrn_desc *d = &m->d;
  if (B < 1 || B > m->max_batch)
    return ancd_errorf("wideresnet: batch of %d images, the model was sized for 1..%d", B,
                       m->max_batch);
  if (flags & ~(unsigned)(WRN_NORMALIZE | WRN_CHANNELS_LAST))
    return ancd_errorf("wideresnet: unknown forward flags 0x%x", flags);
  int last = -1; /* the deepest stage any output needs */
  for (int s = 0; s < WRN_STAGES; s++)
    if (layer_out[s])
      last = s;
  if (last < 0)
    return ancd_errorf("wideresnet: no output requested");

  /* Stem: NCHW images -> NHWC, 7x7/2 conv + bn1, ReLU, 3x3/2 max pool. */
  int H = m->H, W = m->W;
  o->to_device(m->t1, images, (size_t)B * 3 * H * W * sizeof(float));
  o->transpose(m->t2, m->t1, B, 3, H * W);
  conv_forward(m, m->y, m->t2, &m->stem, B, H, W);
  H = conv_out(H, 7, 2, 3);
  W = conv_out(W, 7, 2, 3);
  o->relu(m->y, m->y, (long)B * H * W * d->stem);
  o->maxpool2d(m->x, m->y, B, H, W, d->stem, 3, 2, 1);
  H = conv_out(H, 3, 2, 1);
  W = conv_out(W, 3, 2, 1);

  float *x = m->x, *y = m->y;
  const block_folded *k = m->blocks;
  for (int s = 0; s <= last; s++)
    for (int b = 0; b < d->blocks[s]; b++, k++) {
      block_forward(m, y, x, k, B, H, W);
      H = conv_out(H, 3, k->c2.stride, 1);
      W = conv_out(W, 3, k->c2.stride, 1);
      const long n = (long)B * H * W * d->out[s];
      if (b == d->blocks[s] - 1 && layer_out[s]) /* §B.4: the stage output before its ReLU */
        emit(m, layer_out[s], y, B, H * W, d->out[s], flags);
      o->relu(y, y, n); /* the next block's (or stage's) input */
      float *t = x;
      x = y;
      y = t;
    }
  o->synchronize();
  return 0;
}

/* 2 * Ho * Wo * cout * cin * k * k per conv. */
static double conv_flops(int Ho, int Wo, int cin, int cout, int k) {
  return 2.0 * Ho * Wo * cout * (double)cin * k * k;
}

double wrn_flops(const wrn_desc *d, int image_h, int image_w) {
  int h = conv_out(image_h, 7, 2, 3), w = conv_out(image_w, 7, 2, 3);
  double f = conv_flops(h, w, 3, d->stem, 7);
  h = conv_out(h, 3, 2, 1);
  w = conv_out(w, 3, 2, 1);
  int cin = d->stem;
  for (int s = 0; s < WRN_STAGES; s++)
    for (int b = 0; b < d->blocks[s]; b++) {
      int stride = s > 0 && b == 0 ? 2 : 1;
      int ho = conv_out(h, 3, stride, 1), wo = conv_out(w, 3, stride, 1);
      f += conv_flops(h, w, cin, d->width[s], 1) + conv_flops(ho, wo, d->width[s], d->width[s], 3) +
           conv_flops(ho, wo, d->width[s], d->out[s], 1);
      if (b == 0)
        f += conv_flops(ho, wo, cin, d->out[s], 1);
      h = ho;
      w = wo;
      cin = d->out[s];
    }
  return f;
}
