/* Random ViTs and the ViT forward: vit_random is deterministic and has timm's shapes; the forward
 * of every family (taps, embedding, logits) at the native size and at a non-square size that
 * interpolates the positional embedding equals a naive double-precision reference written here
 * from musc_hetmm_spec §A.4.2; vit_flops of ViT-B/16 equals the hand count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "rng.h"
#include "test_util.h"
#include "vit.h"

/* ---- vit_random ---- */

static double tensor_max_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

static void test_random_arch(void) {
  static const struct {
    const char *arch;
    int dim, depth, heads, patch, grid;
  } cases[] = {
      {"vit_tiny_patch16", 192, 12, 3, 16, 14},
      {"vit_small_patch16", 384, 12, 6, 16, 14},
      {"vit_small_patch8_112", 384, 12, 6, 8, 14},
      {"vit_tiny_patch14_518", 192, 12, 3, 14, 37},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    vit_desc d;
    vit_weights w;
    float *s = NULL;
    CHECK(vit_random(&d, &w, &s, cases[i].arch, 1) == 0, "%s: %s", cases[i].arch, ancd_error());
    CHECK(d.dim == cases[i].dim && d.depth == cases[i].depth && d.heads == cases[i].heads &&
              d.patch == cases[i].patch && d.pos_grid == cases[i].grid,
          "%s: dim %d depth %d heads %d patch %d grid %d", cases[i].arch, d.dim, d.depth, d.heads,
          d.patch, d.pos_grid);
    CHECK(d.family == VIT_TIMM && d.mlp_dim == 4 * d.dim && d.n_classes == 1000 && d.patch_bias &&
              d.qkv_bias && !d.layerscale && !d.ln_pre && d.embed_dim == 0,
          "%s: timm layout", cases[i].arch);
    free(s);
  }
  const char *bad[] = {"vit_huge_patch16", "vit_tiny_patch", "vit_tiny_patch16_100", "resnet50",
                       "vit_tiny_patch16_224x"};
  for (int i = 0; i < 5; i++) {
    vit_desc d;
    vit_weights w;
    float *s = NULL;
    CHECK(vit_random(&d, &w, &s, bad[i], 1) != 0, "%s accepted", bad[i]);
    CHECK(strstr(ancd_error(), bad[i]) != NULL, "error names the arch: %s", ancd_error());
  }
}

static void test_random_values(void) {
  vit_desc d;
  vit_weights a, b, c;
  float *sa, *sb, *sc;
  CHECK(vit_random(&d, &a, &sa, "vit_tiny_patch16", 42) == 0, "%s", ancd_error());
  CHECK(vit_random(&d, &b, &sb, "vit_tiny_patch16", 42) == 0, "%s", ancd_error());
  CHECK(vit_random(&d, &c, &sc, "vit_tiny_patch16", 43) == 0, "%s", ancd_error());
  const size_t D = 192, M = 768;
  CHECK(tensor_max_diff(a.patch_w, b.patch_w, D * 768) == 0, "same seed, same patch_w");
  CHECK(tensor_max_diff(a.blocks[7].fc1_w, b.blocks[7].fc1_w, M * D) == 0, "same fc1_w");
  CHECK(tensor_max_diff(a.head_w, b.head_w, 1000 * D) == 0, "same head");
  CHECK(tensor_max_diff(a.blocks[7].fc1_w, c.blocks[7].fc1_w, M * D) > 0.01, "seed changes fc1");
  CHECK(tensor_max_diff(a.blocks[3].qkv_w, a.blocks[4].qkv_w, 3 * D * D) > 0.01, "blocks differ");
  /* trunc_normal_(std 0.02): mean 0, std 0.02 * 0.880 (truncated at 2 std), |x| <= 0.04. */
  const float *x = a.blocks[0].fc1_w;
  double s1 = 0, s2 = 0, mx = 0;
  for (size_t i = 0; i < M * D; i++) {
    s1 += x[i];
    s2 += (double)x[i] * x[i];
    mx = fmax(mx, fabs(x[i]));
  }
  double mean = s1 / (M * D), sd = sqrt(s2 / (M * D) - mean * mean);
  CHECK_NEAR(mean, 0.0, 2e-4);
  CHECK_NEAR(sd, 0.02 * 0.8796, 2e-4);
  CHECK(mx <= 0.04 && mx > 0.039, "max |w| = %g", mx);
  CHECK(a.blocks[5].ln1_w[17] == 1.0f && a.blocks[5].ln2_b[3] == 0.0f && a.norm_w[0] == 1.0f &&
            a.blocks[2].qkv_b[100] == 0.0f && a.head_b[999] == 0.0f,
        "timm init: LayerNorm weights 1, biases 0");
  free(sa);
  free(sb);
  free(sc);

  /* The stateless draws do not depend on the order they are taken in. */
  CHECK(rng_trunc_normal_at(5, 1000, 1.0) == rng_trunc_normal_at(5, 1000, 1.0), "stateless");
  rng r;
  rng_init(&r, 9);
  uint64_t first = rng_u64(&r);
  CHECK(first == rng_u64_at(9, 0) && rng_u64(&r) == rng_u64_at(9, 1), "stream = stateless");
}

/* ---- the forward against a naive reference ---- */

static void ref_layernorm(double *y, const double *x, const float *w, const float *b, int C,
                          float eps) {
  double mean = 0, var = 0;
  for (int c = 0; c < C; c++)
    mean += x[c];
  mean /= C;
  for (int c = 0; c < C; c++)
    var += (x[c] - mean) * (x[c] - mean);
  var /= C;
  for (int c = 0; c < C; c++)
    y[c] = (x[c] - mean) / sqrt(var + eps) * w[c] + b[c];
}

/* y[n] = sum_k x[k] W[n,k] + b[n] (nn.Linear). */
static void ref_linear(double *y, const double *x, const float *W, const float *b, int K, int N) {
  for (int n = 0; n < N; n++) {
    double s = b ? b[n] : 0.0;
    for (int k = 0; k < K; k++)
      s += x[k] * W[(size_t)n * K + k];
    y[n] = s;
  }
}

/* One image's forward, every block's tokens in taps_ref[b] [T, D] (raw stream), the final
 * stream in the last one; pos [T, D] already at this size. */
static void ref_forward(double *stream, const vit_desc *d, const vit_weights *w, const float *pos,
                        const float *img, int H, int W) {
  const int D = d->dim, P = d->patch, gw = W / P, L = (H / P) * gw, T = L + 1;
  const int NH = d->heads, hs = D / NH, M = d->mlp_dim;
  double *x = stream; /* [depth + 1][T, D]: stream after embedding, then after each block */
  for (int c = 0; c < D; c++)
    x[c] = (double)w->cls[c] + pos[c];
  for (int l = 0; l < L; l++)
    for (int o = 0; o < D; o++) { /* the conv as written: weight [D, 3, P, P] */
      double s = w->patch_b ? w->patch_b[o] : 0.0;
      for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < P; i++)
          for (int j = 0; j < P; j++)
            s += (double)w->patch_w[((o * 3 + ch) * P + i) * P + j] *
                 img[((size_t)ch * H + (l / gw) * P + i) * W + (l % gw) * P + j];
      x[(size_t)(1 + l) * D + o] = s + pos[(size_t)(1 + l) * D + o];
    }
  if (d->ln_pre)
    for (int t = 0; t < T; t++)
      ref_layernorm(x + (size_t)t * D, x + (size_t)t * D, w->ln_pre_w, w->ln_pre_b, D, d->ln_eps);
  double *h = malloc(sizeof(double) * T * D), *qkv = malloc(sizeof(double) * T * 3 * D);
  double *att = malloc(sizeof(double) * T * D), *mlp = malloc(sizeof(double) * M);
  double *p = malloc(sizeof(double) * T), *tmp = malloc(sizeof(double) * D);
  for (int b = 0; b < d->depth; b++) {
    const vit_block_weights *k = &w->blocks[b];
    double *y = x + (size_t)(b + 1) * T * D;
    memcpy(y, x + (size_t)b * T * D, sizeof(double) * T * D);
    for (int t = 0; t < T; t++) {
      ref_layernorm(h + (size_t)t * D, y + (size_t)t * D, k->ln1_w, k->ln1_b, D, d->ln_eps);
      ref_linear(qkv + (size_t)t * 3 * D, h + (size_t)t * D, k->qkv_w, k->qkv_b, D, 3 * D);
    }
    for (int n = 0; n < NH; n++)
      for (int i = 0; i < T; i++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < T; j++) {
          double s = 0;
          for (int e = 0; e < hs; e++)
            s += qkv[(size_t)i * 3 * D + n * hs + e] * qkv[(size_t)j * 3 * D + D + n * hs + e];
          p[j] = s / sqrt((double)hs);
          mx = fmax(mx, p[j]);
        }
        for (int j = 0; j < T; j++)
          sum += (p[j] = exp(p[j] - mx));
        for (int e = 0; e < hs; e++) {
          double s = 0;
          for (int j = 0; j < T; j++)
            s += p[j] / sum * qkv[(size_t)j * 3 * D + 2 * D + n * hs + e];
          att[(size_t)i * D + n * hs + e] = s;
        }
      }
    for (int t = 0; t < T; t++) {
      ref_linear(tmp, att + (size_t)t * D, k->proj_w, k->proj_b, D, D);
      for (int c = 0; c < D; c++)
        y[(size_t)t * D + c] += (k->ls1 ? k->ls1[c] : 1.0) * tmp[c];
      ref_layernorm(h, y + (size_t)t * D, k->ln2_w, k->ln2_b, D, d->ln_eps);
      ref_linear(mlp, h, k->fc1_w, k->fc1_b, D, M);
      for (int m = 0; m < M; m++)
        mlp[m] = d->act == VIT_ACT_QUICK_GELU ? mlp[m] / (1 + exp(-1.702 * mlp[m]))
                                              : 0.5 * mlp[m] * (1 + erf(mlp[m] / sqrt(2.0)));
      ref_linear(tmp, mlp, k->fc2_w, k->fc2_b, M, D);
      for (int c = 0; c < D; c++)
        y[(size_t)t * D + c] += (k->ls2 ? k->ls2[c] : 1.0) * tmp[c];
    }
  }
  free(h);
  free(qkv);
  free(att);
  free(mlp);
  free(p);
  free(tmp);
}

/* max |a - ref| / max |ref| */
static double rel_err(const float *a, const double *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i]))
      return INFINITY;
    num = fmax(num, fabs(a[i] - ref[i]));
    den = fmax(den, fabs(ref[i]));
  }
  return num / den;
}

static vit_desc tiny_desc(vit_family f) {
  vit_desc d = {.family = f,
                .dim = 32,
                .depth = 3,
                .heads = 2,
                .patch = 4,
                .mlp_dim = 64,
                .pos_grid = 4,
                .patch_bias = 1,
                .qkv_bias = 1,
                .ln_eps = 1e-6f};
  if (f == VIT_DINOV2)
    d.layerscale = 1;
  if (f == VIT_TIMM)
    d.n_classes = 10;
  if (f == VIT_CLIP) {
    d.patch_bias = 0;
    d.ln_pre = 1;
    d.embed_dim = 24;
    d.ln_eps = 1e-5f;
    d.act = VIT_ACT_QUICK_GELU;
  }
  return d;
}

static const char *family_name(vit_family f) {
  return f == VIT_TIMM ? "timm" : f == VIT_DINO ? "dino" : f == VIT_DINOV2 ? "dinov2" : "clip";
}

static void test_forward(vit_family f, int H, int W) {
  const ops *o = ops_cpu();
  const vit_desc d = tiny_desc(f);
  vit_weights w;
  float *storage;
  vit_random_weights(&w, &storage, &d, 100 + f, 0.3f); /* spread: every parameter matters */
  const int B = 2, D = d.dim, P = d.patch, gh = H / P, gw = W / P, L = gh * gw, T = L + 1;
  vit_model *m = NULL;
  CHECK(vit_create(&m, &d, &w, o, B, H, W) == 0, "%s", ancd_error());
  if (!m)
    return;
  const int toks = vit_tap_tokens(m);
  CHECK(toks == (f == VIT_DINOV2 ? L : T), "%s: %d tap tokens", family_name(f), toks);

  float *img = malloc(sizeof(float) * B * 3 * H * W);
  for (int i = 0; i < B * 3 * H * W; i++)
    img[i] = (float)(2 * rng_uniform_at(7, i) - 1);
  const int taps[3] = {1, 3, 1}; /* a repeated block, and the last */
  float *tap_out[3];
  for (int i = 0; i < 3; i++)
    tap_out[i] = malloc(sizeof(float) * B * toks * D);
  const int E = f == VIT_CLIP ? d.embed_dim : D;
  float *embed = malloc(sizeof(float) * B * E), *logits = malloc(sizeof(float) * B * 10);
  CHECK(vit_forward(m, img, B, taps, 3, tap_out, embed, f == VIT_TIMM ? logits : NULL) == 0, "%s",
        ancd_error());

  /* The reference with the positional embedding resized as the family does (§A.4.2). */
  float *pos = malloc(sizeof(float) * T * D);
  memcpy(pos, w.pos, sizeof(float) * D);
  if (gh == d.pos_grid && gw == d.pos_grid)
    memcpy(pos + D, w.pos + D, sizeof(float) * L * D);
  else if (f == VIT_TIMM)
    vit_resize_pos_grid_aa(pos + D, w.pos + D, d.pos_grid, gh, gw, D);
  else
    vit_resize_pos_grid(pos + D, w.pos + D, d.pos_grid, gh, gw, D, f == VIT_CLIP ? 0.0f : 0.1f);
  double *stream = malloc(sizeof(double) * (d.depth + 1) * T * D);
  double *want = malloc(sizeof(double) * T * D), *v = malloc(sizeof(double) * D * 2);
  double worst_tap = 0, worst_head = 0;
  for (int n = 0; n < B; n++) {
    ref_forward(stream, &d, &w, pos, img + (size_t)n * 3 * H * W, H, W);
    for (int i = 0; i < 3; i++) {
      const double *s = stream + (size_t)taps[i] * T * D;
      for (int t = 0; t < T; t++) {
        if (f == VIT_CLIP)
          memcpy(want + (size_t)t * D, s + (size_t)t * D, sizeof(double) * D);
        else
          ref_layernorm(want + (size_t)t * D, s + (size_t)t * D, w.norm_w, w.norm_b, D, d.ln_eps);
      }
      const double *rows = f == VIT_DINOV2 ? want + D : want; /* DINOv2: no CLS */
      worst_tap =
          fmax(worst_tap, rel_err(tap_out[i] + (size_t)n * toks * D, rows, (size_t)toks * D));
    }
    /* Embedding and logits from the final CLS. */
    const double *last = stream + (size_t)d.depth * T * D;
    ref_layernorm(v, last, w.norm_w, w.norm_b, D, d.ln_eps);
    if (f == VIT_CLIP) {
      double *e = v + D, norm = 0;
      for (int j = 0; j < E; j++) {
        e[j] = 0;
        for (int c = 0; c < D; c++)
          e[j] += v[c] * w.proj[(size_t)c * E + j]; /* x @ proj, proj [D, E] */
        norm += e[j] * e[j];
      }
      for (int j = 0; j < E; j++)
        e[j] /= sqrt(norm);
      worst_head = fmax(worst_head, rel_err(embed + (size_t)n * E, e, E));
    } else {
      worst_head = fmax(worst_head, rel_err(embed + (size_t)n * E, v, E));
    }
    if (f == VIT_TIMM) {
      double lg[10];
      ref_linear(lg, v, w.head_w, w.head_b, D, 10);
      worst_head = fmax(worst_head, rel_err(logits + (size_t)n * 10, lg, 10));
    }
  }
  printf("%-6s %dx%d: taps rel err %.2e, embed/logits rel err %.2e\n", family_name(f), W, H,
         worst_tap, worst_head);
  CHECK(worst_tap <= 1e-5, "%s %dx%d taps: rel err %g", family_name(f), W, H, worst_tap);
  CHECK(worst_head <= 1e-5, "%s %dx%d embed/logits: rel err %g", family_name(f), W, H, worst_head);

  /* Taps only (the forward stops after block 1) give the same block-1 tokens as before. */
  float *again = malloc(sizeof(float) * B * toks * D);
  CHECK(vit_forward(m, img, 1, taps, 1, &again, NULL, NULL) == 0, "%s", ancd_error());
  double early = 0;
  for (int i = 0; i < toks * D; i++)
    early = fmax(early, fabs(again[i] - tap_out[0][i]) / (1 + fabs(tap_out[0][i])));
  CHECK(early <= 1e-6, "%s: early stop differs by %g", family_name(f), early);
  CHECK(memcmp(tap_out[0], tap_out[2], sizeof(float) * B * toks * D) == 0,
        "%s: a repeated tap differs", family_name(f));

  /* Bad calls are errors that say what is wrong. */
  int bad_tap = 4;
  CHECK(vit_forward(m, img, 3, NULL, 0, NULL, embed, NULL) != 0 &&
            strstr(ancd_error(), "batch of 3"),
        "batch above max: %s", ancd_error());
  CHECK(vit_forward(m, img, 1, &bad_tap, 1, tap_out, NULL, NULL) != 0 &&
            strstr(ancd_error(), "block 4"),
        "tap beyond depth: %s", ancd_error());
  if (f != VIT_TIMM)
    CHECK(vit_forward(m, img, 1, NULL, 0, NULL, NULL, logits) != 0 && strstr(ancd_error(), "head"),
          "logits without a head: %s", ancd_error());
  vit_model *bad = NULL;
  CHECK(vit_create(&bad, &d, &w, o, 1, H + 2, W) != 0 && strstr(ancd_error(), "patch") && !bad,
        "size not a multiple of the patch: %s", ancd_error());
  CHECK(vit_peak_bytes(m) > sizeof(float) * (size_t)B * T * D * 6, "peak bytes %zu",
        vit_peak_bytes(m));

  vit_free(m);
  free(again);
  free(stream);
  free(want);
  free(v);
  free(pos);
  free(embed);
  free(logits);
  for (int i = 0; i < 3; i++)
    free(tap_out[i]);
  free(img);
  free(storage);
}

/* ViT-B/16 at 224: L = 196, T = 197, D = 768, MLP 3072, 1000 classes.
 * patch 2*196*768*768 = 231211008; per block qkv 2*197*768*2304 = 697171968, QK^T and AV
 * 2*197*197*768 = 59610624 each, proj 232390656, fc1 and fc2 929562624 each: 2907909120;
 * x 12 = 34894909440; head 2*768*1000 = 1536000. Total 35127656448 FLOPs = 17.56 G
 * multiply-adds (the "17.6 GFLOPs" usually quoted for ViT-B/16 counts multiply-adds). */
static void test_flops(void) {
  vit_desc d = {.family = VIT_TIMM,
                .dim = 768,
                .depth = 12,
                .heads = 12,
                .patch = 16,
                .mlp_dim = 3072,
                .pos_grid = 14,
                .n_classes = 1000};
  CHECK(vit_flops(&d, 224, 224) == 35127656448.0, "ViT-B/16 flops %.0f", vit_flops(&d, 224, 224));
  d.n_classes = 0;
  CHECK(vit_flops(&d, 224, 224) == 35127656448.0 - 1536000.0, "without head");
}

/* timm's resample_abs_pos_embed of a 2x2 grid (D = 1) to 4 rows x 3 columns, values printed by
 * timm 1.0.31 / PyTorch 2.15 (bicubic, antialias=True); and a shrink, whose support widens. */
static void test_pos_resize_aa(void) {
  const float grid[4] = {1, 2, -1, 0.5f};
  const double want[12] = {1.1135836839675903,  1.6544116735458374,   2.1952402591705322,
                           0.5131111145019531,  1.1375000476837158,   1.7618893384933472,
                           -0.6775843501091003, 0.11250001192092896,  0.9025847911834717,
                           -1.2780569791793823, -0.40441176295280457, 0.4692338705062866};
  float out[12];
  vit_resize_pos_grid_aa(out, grid, 2, 4, 3, 1);
  for (int i = 0; i < 12; i++)
    CHECK_NEAR(out[i], want[i], 1e-6);
  /* 4 x 4 grid of row indices -> 2 x 2 (timm: 0.586776852607727 and 2.4132230281829834). */
  float g4[16], o2[4];
  for (int i = 0; i < 16; i++)
    g4[i] = (float)(i / 4);
  vit_resize_pos_grid_aa(o2, g4, 4, 2, 2, 1);
  CHECK_NEAR(o2[0], 0.586776852607727, 1e-6);
  CHECK_NEAR(o2[1], 0.586776852607727, 1e-6);
  CHECK_NEAR(o2[2], 2.4132230281829834, 1e-6);
  CHECK_NEAR(o2[3], 2.4132230281829834, 1e-6);
}

int main(void) {
  test_pos_resize_aa();
  test_random_arch();
  test_random_values();
  test_flops();
  for (int f = VIT_TIMM; f <= VIT_CLIP; f++) {
    test_forward((vit_family)f, 16, 16); /* native: pos used as is */
    test_forward((vit_family)f, 24, 32); /* 6 x 8 grid: pos resized */
  }
  return test_done("test_vit_random");
}
