/* AnomalyNCD's losses, classifier and schedules (anomalyncd_spec §5.4-5.6): every gradient
 * against central finite differences (the losses run in double from float inputs, so the
 * differences are taken on the returned double values; the classifier against a double shadow
 * written here), small cases computed by hand for every term, the schedules' values and the
 * error cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ncd_classifier.h"
#include "ncd_loss.h"
#include "ncd_schedule.h"
#include "rng.h"
#include "test_util.h"

/* Gradient tolerance: |fd - analytic| <= FD_TOL * max|analytic| of the buffer. The differences
 * use a 3-point rule on the float-rounded steps of the double-valued losses, so what remains is
 * the float rounding of the analytic gradient (~6e-8 relative; measured up to ~1.1e-7) and the
 * O(h²) truncation (~1e-8 at h = 1e-4 with softmaxes at temperature 0.1). */
#define FD_TOL 1e-6
#define FD_STEP 1e-4

static double worst_fd; /* the largest normalised FD error over the whole test */

static double uniform01(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

static void fill_uniform(float *x, long n, rng *r, double lo, double hi) {
  for (long i = 0; i < n; i++)
    x[i] = (float)(lo + (hi - lo) * uniform01(r));
}

static void fill_normal(float *x, long n, rng *r, double sd) { /* Box-Muller */
  for (long i = 0; i < n; i++) {
    double u1 = uniform01(r), u2 = uniform01(r);
    x[i] = (float)(sd * sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
  }
}

/* A scalar function of the buffers that x points into. */
typedef double (*scalar_fn)(void *ctx);

/* Compares grad [n] with finite differences of fn over x [n] (every index, or `samples`
 * random ones when samples > 0). Prints and returns the normalised error. */
static double check_fd(const char *what, scalar_fn fn, void *ctx, float *x, const float *grad,
                       long n, long samples) {
  double gmax = 0.0, err = 0.0;
  for (long i = 0; i < n; i++)
    gmax = fmax(gmax, fabs(grad[i]));
  rng r;
  rng_init(&r, 99);
  double f0 = fn(ctx);
  long count = samples > 0 ? samples : n;
  for (long s = 0; s < count; s++) {
    long i = samples > 0 ? (long)(uniform01(&r) * n) : s;
    float x0 = x[i];
    float xp = (float)(x0 + FD_STEP), xm = (float)(x0 - FD_STEP);
    double hp = (double)xp - x0, hm = x0 - (double)xm; /* the steps float can represent */
    x[i] = xp;
    double fp = fn(ctx);
    x[i] = xm;
    double fm = fn(ctx);
    x[i] = x0;
    /* Second-order difference on unequal steps. */
    double fd = (hm * hm * fp - hp * hp * fm - (hm * hm - hp * hp) * f0) / (hp * hm * (hp + hm));
    err = fmax(err, fabs(fd - grad[i]));
  }
  double rel = gmax > 0.0 ? err / gmax : err;
  printf("  FD %-34s max|g| %.3e  max err %.2e  normalised %.2e\n", what, gmax, err, rel);
  CHECK(rel <= FD_TOL && gmax > 0.0, "%s: finite differences differ by %.3g of max|g| %.3g", what,
        rel, gmax);
  worst_fd = fmax(worst_fd, rel);
  return rel;
}

/* ---- classifier ---- */

typedef struct {
  const float *f, *v, *g; /* g: the weights of sum g * logits */
  int N, D, C, H;
} cls_ctx;

/* Double shadow of the forward: sum over h, r, c of g * f̂_r · v_hc/||v_hc||. */
static double cls_shadow(void *p) {
  const cls_ctx *c = p;
  double sum = 0.0;
  for (int h = 0; h < c->H; h++)
    for (int r = 0; r < c->N; r++) {
      const float *fr = c->f + (long)r * c->D;
      double nf = 0.0;
      for (int k = 0; k < c->D; k++)
        nf += (double)fr[k] * fr[k];
      nf = fmax(sqrt(nf), NCD_NORM_EPS);
      for (int j = 0; j < c->C; j++) {
        const float *vr = c->v + ((long)h * c->C + j) * c->D;
        double nv = 0.0, dot = 0.0;
        for (int k = 0; k < c->D; k++)
          nv += (double)vr[k] * vr[k], dot += (double)fr[k] * vr[k];
        sum += c->g[((long)h * c->N + r) * c->C + j] * dot / (nf * sqrt(nv));
      }
    }
  return sum;
}

static void test_classifier_fd(int N, int D, int C, int H, long samples) {
  rng r;
  rng_init(&r, 7);
  float *f = malloc(sizeof(float) * N * D), *v = malloc(sizeof(float) * H * C * D);
  float *g = malloc(sizeof(float) * H * N * C), *lg = malloc(sizeof(float) * H * N * C);
  float *df = calloc((size_t)N * D, sizeof(float)), *dv = calloc((size_t)H * C * D, sizeof(float));
  fill_normal(f, (long)N * D, &r, 1.0);
  fill_uniform(v, (long)H * C * D, &r, -1.0 / sqrt(D), 1.0 / sqrt(D)); /* torch Linear init */
  fill_normal(g, (long)H * N * C, &r, 1.0);
  cls_ctx ctx = {f, v, g, N, D, C, H};
  ncd_classifier_forward(lg, f, v, N, D, C, H);
  /* The forward against the shadow, one logit at a time. */
  double ferr = 0.0;
  float *one = calloc((size_t)H * N * C, sizeof(float));
  long stride = samples > 0 ? 97 : 1; /* every logit of the small case */
  for (long i = 0; i < (long)H * N * C; i += stride) {
    one[i] = 1.0f;
    cls_ctx c1 = {f, v, one, N, D, C, H};
    ferr = fmax(ferr, fabs(lg[i] - cls_shadow(&c1)));
    one[i] = 0.0f;
  }
  printf("  classifier N=%d D=%d C=%d H=%d: forward vs double shadow %.2e\n", N, D, C, H, ferr);
  CHECK(ferr < 1e-6, "classifier forward differs from the shadow by %.3g", ferr);
  ncd_classifier_backward(df, dv, g, f, v, N, D, C, H);
  char what[64];
  snprintf(what, sizeof what, "classifier df (D=%d)", D);
  check_fd(what, cls_shadow, &ctx, f, df, (long)N * D, samples);
  snprintf(what, sizeof what, "classifier dv (D=%d)", D);
  check_fd(what, cls_shadow, &ctx, v, dv, (long)H * C * D, samples);
  /* Weight norm: the logits do not change with the scale of a row, so dv_c ⟂ v_c. */
  double worst = 0.0;
  for (long c = 0; c < (long)H * C; c++) {
    double dot = 0.0, nv = 0.0, nd = 0.0;
    for (int k = 0; k < D; k++)
      dot += (double)v[c * D + k] * dv[c * D + k], nv += (double)v[c * D + k] * v[c * D + k],
          nd += (double)dv[c * D + k] * dv[c * D + k];
    worst = fmax(worst, fabs(dot) / (sqrt(nv * nd) + 1e-30));
  }
  CHECK(worst < 1e-5, "dv is not orthogonal to v: cos %.3g", worst);
  /* Accumulation: a second backward doubles the gradient; NULL outputs are skipped. */
  float df0 = df[3], dv0 = dv[5];
  ncd_classifier_backward(df, NULL, g, f, v, N, D, C, H);
  ncd_classifier_backward(NULL, dv, g, f, v, N, D, C, H);
  CHECK_NEAR(df[3], 2.0 * df0, 1e-6 * fabs(df0) + 1e-12);
  CHECK_NEAR(dv[5], 2.0 * dv0, 1e-6 * fabs(dv0) + 1e-12);
  free(f), free(v), free(g), free(lg), free(df), free(dv), free(one);
}

static void test_classifier_hand(void) {
  /* f rows (3,4) -> (0.6,0.8) and 0 (clamped at eps: logits 0); head 0 rows (2,0), (0,-5),
   * (1,1); head 1 rows (-1,0), (0,2), (3,-4). */
  const float f[4] = {3, 4, 0, 0};
  const float v[12] = {2, 0, 0, -5, 1, 1, -1, 0, 0, 2, 3, -4};
  float lg[12];
  ncd_classifier_forward(lg, f, v, 2, 2, 3, 2);
  const double want[12] = {0.6,  -0.8, 1.4 / sqrt(2.0),       0, 0, 0,
                           -0.6, 0.8,  0.6 * 0.6 - 0.8 * 0.8, 0, 0, 0};
  for (int i = 0; i < 12; i++)
    CHECK_NEAR(lg[i], want[i], 1e-7);
  /* The zero row's gradient is the torch one for a clamped norm: dŷ / eps. */
  float g[12] = {0}, df[4] = {0};
  g[3] = 1.0f; /* head 0, row 1, column 0: ŵ = (1,0) */
  ncd_classifier_backward(df, NULL, g, f, v, 2, 2, 3, 2);
  CHECK_NEAR(df[2], 1e12, 1e5);
  CHECK_NEAR(df[3], 0.0, 1e-6);
  CHECK(df[0] == 0.0f && df[1] == 0.0f, "row 0 got a gradient");
  /* Row 0 with g on head 0 column 0: d(f̂·e1)/df = (e1 - f̂ f̂_x)/5 = ((1-0.36), -0.48)/5. */
  memset(g, 0, sizeof g), memset(df, 0, sizeof df);
  g[0] = 1.0f;
  ncd_classifier_backward(df, NULL, g, f, v, 2, 2, 3, 2);
  CHECK_NEAR(df[0], 0.64 / 5, 1e-7);
  CHECK_NEAR(df[1], -0.48 / 5, 1e-7);
}

/* ---- losses: a random batch ---- */

enum { TB = 5, TZ = 6, TC = 7, TH = 4, TN = 2 * TB };

typedef struct {
  int B, Z, C, H;
  float *z, *logits, *teacher, *score, *weight;
  uint8_t *is_base;
  int *label;
  ncd_loss_cfg cfg;
  double teacher_temp;
  int term, head; /* what loss_fn evaluates */
} batch;

enum { T_TOTAL, T_INFONCE, T_SUPCON, T_CE, T_DIST, T_ME, T_CLU_HEAD };

static void batch_init(batch *b, int B, int Z, int C, int H, uint64_t seed) {
  rng r;
  rng_init(&r, seed);
  int N = 2 * B;
  b->B = B, b->Z = Z, b->C = C, b->H = H;
  b->z = malloc(sizeof(float) * N * Z);
  b->logits = malloc(sizeof(float) * H * N * C);
  b->teacher = malloc(sizeof(float) * H * N * C);
  b->score = malloc(sizeof(float) * B);
  b->weight = malloc(sizeof(float) * B);
  b->is_base = malloc(B);
  b->label = malloc(sizeof(int) * B);
  fill_normal(b->z, (long)N * Z, &r, 1.0);
  fill_uniform(b->logits, (long)H * N * C, &r, -1.0, 1.0); /* cosines */
  memcpy(b->teacher, b->logits, sizeof(float) * H * N * C);
  ncd_loss_cfg_default(&b->cfg);
  for (int i = 0; i < B; i++) {
    b->is_base[i] = i % 5 == 0 || i % 5 == 2 || i % 5 == 3;      /* 3 of 5 base */
    b->label[i] = b->is_base[i] ? (int)(uniform01(&r) * 2) : -7; /* repeats: several positives */
    b->score[i] = (float)uniform01(&r);                          /* about half below 0.5 */
    b->weight[i] = b->is_base[i] ? 0.0f : ncd_correction_weight(b->score[i], b->cfg.anomaly_thred);
  }
  b->teacher_temp = 0.05;
  b->term = T_TOTAL, b->head = 0;
}

static void batch_free(batch *b) {
  free(b->z), free(b->logits), free(b->teacher), free(b->score), free(b->weight);
  free(b->is_base), free(b->label);
}

/* Evaluates one term (or the total) and, when dz / dl are given, accumulates its gradient
 * (scale 1). Per-head terms read head b->head. */
static double eval_term(batch *b, float *dz, float *dl) {
  const ncd_loss_cfg *c = &b->cfg;
  long off = (long)b->head * 2 * b->B * b->C;
  float *dlh = dl ? dl + off : NULL;
  double v = NAN, me = NAN;
  int rc = -1;
  ncd_loss_terms t;
  switch (b->term) {
  case T_TOTAL:
    rc = ncd_loss(&t, dz, dl, b->z, b->logits, b->teacher, b->is_base, b->label, b->score, b->B,
                  b->Z, b->C, b->H, b->teacher_temp, c);
    v = t.total;
    break;
  case T_INFONCE:
    rc = ncd_infonce_loss(&v, dz, b->z, b->B, b->Z, c->infonce_temp, 1.0);
    break;
  case T_SUPCON:
    rc = ncd_supcon_loss(&v, dz, b->z, b->is_base, b->label, b->B, b->Z, c->supcon_temp,
                         c->supcon_base_temp, 1.0);
    break;
  case T_CE:
    rc = ncd_ce_loss(&v, dlh, b->logits + off, b->is_base, b->label, b->B, b->C, c->n_base,
                     c->student_temp, 1.0);
    break;
  case T_DIST:
    rc = ncd_distill_loss(&v, dlh, b->logits + off, b->teacher + off, b->is_base, b->weight, b->B,
                          b->C, c->n_base, b->teacher_temp, c->student_temp, 1.0);
    break;
  case T_ME:
    rc = ncd_memax_loss(&v, dlh, b->logits + off, b->is_base, b->B, b->C, c->student_temp, 1.0);
    break;
  case T_CLU_HEAD: /* L_clu,h = L_dist,h + memax ME_h, the head-selection criterion */
    rc = ncd_distill_loss(&v, dlh, b->logits + off, b->teacher + off, b->is_base, b->weight, b->B,
                          b->C, c->n_base, b->teacher_temp, c->student_temp, 1.0);
    rc |= ncd_memax_loss(&me, dlh, b->logits + off, b->is_base, b->B, b->C, c->student_temp,
                         c->memax_weight);
    v += c->memax_weight * me;
    break;
  }
  CHECK(rc == 0, "term %d failed: %s", b->term, ancd_error());
  return v;
}

static double batch_fn(void *p) { return eval_term(p, NULL, NULL); }

static void test_loss_fd(int B, int Z, int C, long samples) {
  static const char *names[] = {"total", "InfoNCE", "SupCon", "CE", "distill", "ME", "L_clu,h"};
  batch b;
  batch_init(&b, B, Z, C, TH, 11);
  int N = 2 * B;
  float *dz = malloc(sizeof(float) * N * Z), *dl = malloc(sizeof(float) * TH * N * C);
  char what[96];
  printf("  losses B=%d Z=%d C=%d H=%d:\n", B, Z, C, TH);
  for (int term = T_TOTAL; term <= T_CLU_HEAD; term++)
    for (int h = 0; h < (term >= T_CE ? TH : 1); h++) {
      b.term = term, b.head = h;
      memset(dz, 0, sizeof(float) * N * Z), memset(dl, 0, sizeof(float) * TH * N * C);
      eval_term(&b, dz, dl);
      if (term <= T_SUPCON) {
        snprintf(what, sizeof what, "%s dz", names[term]);
        check_fd(what, batch_fn, &b, b.z, dz, (long)N * Z, samples);
      }
      if (term == T_TOTAL) { /* every head; the teacher buffer stays fixed (stop-gradient) */
        check_fd("total dlogits", batch_fn, &b, b.logits, dl, (long)TH * N * C, samples);
      } else if (term >= T_CE) {
        snprintf(what, sizeof what, "%s head %d dlogits", names[term], h);
        long off = (long)h * N * C;
        check_fd(what, batch_fn, &b, b.logits + off, dl + off, (long)N * C, samples);
      }
    }
  /* The total with teacher == logits (as the trainer calls it) is the same. */
  float *dz2 = calloc((size_t)N * Z, sizeof(float)),
        *dl2 = calloc((size_t)TH * N * C, sizeof(float));
  memset(dz, 0, sizeof(float) * N * Z), memset(dl, 0, sizeof(float) * TH * N * C);
  ncd_loss_terms t1, t2;
  CHECK(ncd_loss(&t1, dz, dl, b.z, b.logits, b.teacher, b.is_base, b.label, b.score, B, Z, C, TH,
                 b.teacher_temp, &b.cfg) == 0,
        "%s", ancd_error());
  CHECK(ncd_loss(&t2, dz2, dl2, b.z, b.logits, b.logits, b.is_base, b.label, b.score, B, Z, C, TH,
                 b.teacher_temp, &b.cfg) == 0,
        "%s", ancd_error());
  CHECK(t1.total == t2.total && !memcmp(dz, dz2, sizeof(float) * N * Z) &&
            !memcmp(dl, dl2, sizeof(float) * TH * N * C),
        "teacher = logits differs from a copy");
  free(dz), free(dl), free(dz2), free(dl2);
  batch_free(&b);
}

/* The total is the spec's weighting of the terms, each as its own function computes it. */
static void test_total_composition(void) {
  batch b;
  batch_init(&b, TB, TZ, TC, TH, 5);
  ncd_loss_terms t;
  CHECK(ncd_loss(&t, NULL, NULL, b.z, b.logits, b.logits, b.is_base, b.label, b.score, TB, TZ, TC,
                 TH, b.teacher_temp, &b.cfg) == 0,
        "%s", ancd_error());
  CHECK(t.heads == TH && t.n_base == 3 && t.n_novel == 2, "counts %d %d %d", t.heads, t.n_base,
        t.n_novel);
  b.term = T_INFONCE;
  CHECK_NEAR(t.con, eval_term(&b, NULL, NULL), 1e-15);
  b.term = T_SUPCON;
  CHECK_NEAR(t.supcon, eval_term(&b, NULL, NULL), 1e-15);
  double cls = 0, clu = 0;
  for (int h = 0; h < TH; h++) {
    b.head = h;
    b.term = T_CE;
    CHECK_NEAR(t.cls_head[h], eval_term(&b, NULL, NULL), 1e-15);
    b.term = T_DIST;
    CHECK_NEAR(t.dist_head[h], eval_term(&b, NULL, NULL), 1e-15);
    b.term = T_ME;
    CHECK_NEAR(t.me_head[h], eval_term(&b, NULL, NULL), 1e-15);
    CHECK_NEAR(t.clu_head[h], t.dist_head[h] + 4.0 * t.me_head[h], 1e-14);
    cls += t.cls_head[h] / TH, clu += t.clu_head[h] / TH;
  }
  CHECK_NEAR(t.cls, cls, 1e-14);
  CHECK_NEAR(t.clu, clu, 1e-14);
  CHECK_NEAR(t.total, 0.7 * t.clu + 0.3 * t.cls + 0.7 * t.con + 0.3 * t.supcon, 1e-14);
  const char *bad;
  int head;
  CHECK((bad = ncd_loss_nonfinite(&t, &head)) == NULL, "finite terms reported as %s", bad);
  batch_free(&b);
}

/* ---- losses: small cases by hand ---- */

static void test_infonce_hand(void) {
  /* Rows 0,1 view 1 and 2,3 view 2: ẑ = e1, e2, (1,1)/√2, -e2 (z not unit). */
  const float z[8] = {2, 0, 0, 3, 1, 1, 0, -1};
  double a = 1.0 / sqrt(2.0), e = exp(1.0), ea = exp(a), l;
  double want = (-a + log(ea + 2)) + (1 + log(1 + ea + 1 / e)) + (-a + log(2 * ea + 1 / ea)) +
                (1 + log(1 + 1 / e + 1 / ea));
  CHECK(ncd_infonce_loss(&l, NULL, z, 2, 2, 1.0, 1.0) == 0, "%s", ancd_error());
  CHECK_NEAR(l, want / 4, 1e-7);
  /* Identical directions everywhere: -1 + log(3e) = log 3. */
  const float same[8] = {1, 1, 2, 2, 3, 3, 0.5f, 0.5f};
  CHECK(ncd_infonce_loss(&l, NULL, same, 2, 2, 1.0, 1.0) == 0, "%s", ancd_error());
  CHECK_NEAR(l, log(3.0), 1e-7);
}

static void test_supcon_hand(void) {
  double l, a = 1.0 / 0.07;
  /* Two base samples of one label, all along one direction: every anchor has 3 positives,
   * log 3. */
  const float same[8] = {1, 2, 2, 4, 3, 6, 0.5f, 1};
  const uint8_t base2[2] = {1, 1};
  const int lab00[2] = {0, 0};
  CHECK(ncd_supcon_loss(&l, NULL, same, base2, lab00, 2, 2, 0.07, 0.07, 1.0) == 0, "%s",
        ancd_error());
  CHECK_NEAR(l, log(3.0), 1e-6);
  /* Labels 0 and 1 on orthogonal directions: only the other view is positive,
   * log(1 + 2 e^-a). A novel sample in between (rows 2 and 5) is ignored. */
  const float orth[12] = {1, 0, 0, 2, 5, -3, 3, 0, 0, 1, -1, 7};
  const uint8_t base3[3] = {1, 1, 0};
  const int lab3[3] = {0, 1, 3};
  CHECK(ncd_supcon_loss(&l, NULL, orth, base3, lab3, 3, 2, 0.07, 0.07, 1.0) == 0, "%s",
        ancd_error());
  CHECK_NEAR(l, log(1 + 2 * exp(-a)), 1e-9);
  /* Labels 0, 0, 1 with samples 0 and 1 along e1 and sample 2 along e2: anchors of label 0
   * have 3 positives (mean, not sum), log(3 + 2e^-a); those of label 1 have one,
   * log(1 + 4e^-a). */
  const float three[12] = {1, 0, 2, 0, 0, 1, 3, 0, 1, 0, 0, 4};
  const uint8_t all3[3] = {1, 1, 1};
  const int lab001[3] = {0, 0, 1};
  CHECK(ncd_supcon_loss(&l, NULL, three, all3, lab001, 3, 2, 0.07, 0.07, 1.0) == 0, "%s",
        ancd_error());
  CHECK_NEAR(l, (4 * log(3 + 2 * exp(-a)) + 2 * log(1 + 4 * exp(-a))) / 6, 1e-9);
  /* temp / base_temp scales the loss. */
  double l2;
  CHECK(ncd_supcon_loss(&l2, NULL, three, all3, lab001, 3, 2, 0.07, 0.14, 1.0) == 0, "%s",
        ancd_error());
  CHECK_NEAR(l2, 0.5 * l, 1e-12);
}

static void test_ce_hand(void) {
  /* B=2: sample 0 base of class 2, sample 1 novel; C=5. Row 0: x_2 = ln 3, others 0: ln(7/3).
   * Row 2: all 0: ln 5. Novel rows 1, 3 anything. */
  const float lg[20] = {
      0,  0,   (float)(0.1 * log(3.0)), 0, 0, 0.9f, -0.4f, 1, 0.3f, 0.2f, 0, 0, 0, 0, 0, 1, 1, 1,
      -1, 0.5f};
  const uint8_t base[2] = {1, 0};
  const int lab[2] = {2, 0};
  double l;
  CHECK(ncd_ce_loss(&l, NULL, lg, base, lab, 2, 5, 4, 0.1, 1.0) == 0, "%s", ancd_error());
  CHECK_NEAR(l, (log(7.0 / 3.0) + log(5.0)) / 2, 1e-7);
}

static void test_distill_hand(void) {
  /* B=2: sample 0 base, sample 1 novel; C=6, n_base 4, K=2 (columns 4, 5). Teacher row 1 (view
   * 1): novel logits equal, base ones large (masked out): P = (½, ½). Teacher row 3 (view 2):
   * novel (1, -1) at τ_t = 0.04: P_4 = 1/(1 + e^-50). Student row 3 (paired with teacher row 1)
   * all 0: H = ln 6. Student row 1 (paired with teacher row 3): x_4 = ln 2, others 0: p_4 =
   * 2/7, H = ln 7 - Q_4 ln 2. Base rows 0, 2 are ignored. */
  float t[24] = {0}, s[24] = {0};
  for (int c = 0; c < 6; c++) {
    t[0 * 6 + c] = t[2 * 6 + c] = s[0 * 6 + c] = s[2 * 6 + c] = (float)(c % 2) - 0.3f;
    t[1 * 6 + c] = c < 4 ? 1.0f : 0.3f;
  }
  t[3 * 6 + 4] = 1, t[3 * 6 + 5] = -1;
  s[1 * 6 + 4] = (float)(0.1 * log(2.0));
  const uint8_t base[2] = {1, 0};
  double P4 = 1 / (1 + exp(-50.0)), l;
  const float scores[3] = {0.2f, 0.7f, 0.2f};
  const double thred[3] = {0.5, 0.5, -1};
  for (int k = 0; k < 3; k++) { /* w > 0, w = 0 (score above), w = 0 (threshold -1) */
    float w[2] = {0.0f, ncd_correction_weight(scores[k], thred[k])};
    double wd = k == 0 ? (double)(float)(0.5 - (double)0.2f) : 0.0;
    CHECK_NEAR(w[1], wd, 0);
    CHECK(ncd_distill_loss(&l, NULL, s, t, base, w, 2, 6, 4, 0.04, 0.1, 1.0) == 0, "%s",
          ancd_error());
    double q4 = wd + (1 - wd) * P4; /* view-2 teacher's normal column */
    CHECK_NEAR(l, 0.5 * (log(6.0) + log(7.0) - q4 * log(2.0)), 1e-7);
  }
}

static void test_memax_hand(void) {
  /* All logits equal: p̄ uniform, ME = 0. */
  float lg[20];
  for (int i = 0; i < 20; i++)
    lg[i] = 0.37f;
  const uint8_t base[2] = {1, 0};
  double l;
  CHECK(ncd_memax_loss(&l, NULL, lg, base, 2, 5, 0.1, 1.0) == 0, "%s", ancd_error());
  CHECK_NEAR(l, 0.0, 1e-15);
  /* Novel rows 1: x = (ln 3, 0, 0, 0, 0) and 3: zeros; base rows extreme (ignored):
   * p̄ = (11/35, 6/35 x 4). */
  for (int c = 0; c < 5; c++) {
    lg[0 * 5 + c] = lg[2 * 5 + c] = c == 1 ? 1.0f : -1.0f;
    lg[1 * 5 + c] = c == 0 ? (float)(0.1 * log(3.0)) : 0.0f;
    lg[3 * 5 + c] = 0.0f;
  }
  double a = 11.0 / 35, b = 6.0 / 35;
  CHECK(ncd_memax_loss(&l, NULL, lg, base, 2, 5, 0.1, 1.0) == 0, "%s", ancd_error());
  CHECK_NEAR(l, a * log(a) + 4 * b * log(b) + log(5.0), 1e-7);
}

/* ---- errors and the NaN check ---- */

static void test_errors(void) {
  batch b;
  batch_init(&b, TB, TZ, TC, TH, 3);
  float *dz = calloc((size_t)TN * TZ, sizeof(float)),
        *dl = calloc((size_t)TH * TN * TC, sizeof(float));
  ncd_loss_terms t, sentinel;
  memset(&sentinel, 0x5a, sizeof sentinel);
  uint8_t all_base[TB], no_base[TB];
  int base_labels[TB] = {0}; /* valid labels, so the missing kind is what fails */
  memset(all_base, 1, TB), memset(no_base, 0, TB);
#define CALL(base, label, C, H, tt)                                                                \
  ncd_loss(&t, dz, dl, b.z, b.logits, b.logits, base, label, b.score, TB, TZ, C, H, tt, &b.cfg)
  t = sentinel;
  CHECK(CALL(all_base, base_labels, TC, TH, 0.05) == -1 && strstr(ancd_error(), "novel"),
        "a batch without novel samples: %s", ancd_error());
  CHECK(CALL(no_base, b.label, TC, TH, 0.05) == -1 && strstr(ancd_error(), "base"),
        "a batch without base samples: %s", ancd_error());
  int badlab[TB];
  memcpy(badlab, b.label, sizeof badlab);
  badlab[2] = 4; /* sample 2 is base; 4 is the first novel column */
  CHECK(CALL(b.is_base, badlab, TC, TH, 0.05) == -1, "a base label of 4 was accepted");
  CHECK(CALL(b.is_base, b.label, 4, TH, 0.05) == -1, "C = n_base was accepted");
  CHECK(CALL(b.is_base, b.label, TC, NCD_MAX_HEADS + 1, 0.05) == -1, "too many heads");
  CHECK(CALL(b.is_base, b.label, TC, TH, 0.0) == -1, "teacher temperature 0");
#undef CALL
  CHECK(!memcmp(&t, &sentinel, sizeof t), "an error wrote the terms");
  int dirty = 0;
  for (int i = 0; i < TN * TZ; i++)
    dirty |= dz[i] != 0.0f;
  for (int i = 0; i < TH * TN * TC; i++)
    dirty |= dl[i] != 0.0f;
  CHECK(!dirty, "an error wrote gradients");
  double l;
  CHECK(ncd_supcon_loss(&l, NULL, b.z, no_base, b.label, TB, TZ, 0.07, 0.07, 1) == -1, "supcon");
  CHECK(ncd_ce_loss(&l, NULL, b.logits, no_base, b.label, TB, TC, 4, 0.1, 1) == -1, "ce");
  CHECK(ncd_ce_loss(&l, NULL, b.logits, b.is_base, badlab, TB, TC, 4, 0.1, 1) == -1, "ce label");
  CHECK(ncd_distill_loss(&l, NULL, b.logits, b.logits, all_base, b.weight, TB, TC, 4, 0.04, 0.1,
                         1) == -1,
        "distill");
  CHECK(ncd_memax_loss(&l, NULL, b.logits, all_base, TB, TC, 0.1, 1) == -1, "memax");

  /* NaN check: a NaN in a novel row of head 2 first shows in that head's distillation (its CE
   * reads base rows only); one in z in L_con. */
  const char *bad;
  int head = 0;
  b.logits[(2L * TN + 1) * TC + 3] = NAN; /* sample 1 is novel */
  CHECK(ncd_loss(&t, NULL, NULL, b.z, b.logits, b.logits, b.is_base, b.label, b.score, TB, TZ, TC,
                 TH, 0.05, &b.cfg) == 0,
        "%s", ancd_error());
  bad = ncd_loss_nonfinite(&t, &head);
  CHECK(bad && !strcmp(bad, "L_dist,h") && head == 2, "named %s head %d", bad ? bad : "none", head);
  b.z[7] = INFINITY;
  CHECK(ncd_loss(&t, NULL, NULL, b.z, b.logits, b.logits, b.is_base, b.label, b.score, TB, TZ, TC,
                 TH, 0.05, &b.cfg) == 0,
        "%s", ancd_error());
  bad = ncd_loss_nonfinite(&t, &head);
  CHECK(bad && !strcmp(bad, "L_con") && head == -1, "named %s head %d", bad ? bad : "none", head);
  free(dz), free(dl);
  batch_free(&b);
}

/* ---- schedules ---- */

static void test_schedules(void) {
  double t;
  for (int e = 0; e < 60; e++) {
    CHECK(ncd_teacher_temp(&t, e, 40, 4, 0.07, 0.04) == 0, "%s", ancd_error());
    double want = e >= 36 ? 0.04 : 0.07 - (e / 4) * (0.03 / 9);
    CHECK_NEAR(t, want, 1e-15);
  }
  /* numpy.linspace(0.07, 0.04, 10)[1:3], bit for bit (repr round-trips). */
  ncd_teacher_temp(&t, 4, 40, 4, 0.07, 0.04);
  CHECK(t == 0.06666666666666668, "epoch 4: %.17g", t);
  ncd_teacher_temp(&t, 11, 40, 4, 0.07, 0.04);
  CHECK(t == 0.06333333333333334, "epoch 11: %.17g", t);
  ncd_teacher_temp(&t, 39, 40, 4, 0.07, 0.04);
  CHECK(t == 0.04, "epoch 39: %.17g (linspace ends exactly at the stop)", t);
  ncd_teacher_temp(&t, 3, 4, 4, 0.07, 0.04); /* one step: linspace(a, b, 1) = [a] */
  CHECK(t == 0.07, "one-value table: %g", t);
  ncd_teacher_temp(&t, 0, 0, 4, 0.07, 0.04);
  CHECK(t == 0.04, "no warmup: %g", t);
  CHECK(ncd_teacher_temp(&t, 0, 42, 4, 0.07, 0.04) == -1 && strstr(ancd_error(), "multiple"),
        "warmup 42, repeat 4: %s", ancd_error());
  CHECK(ncd_teacher_temp(&t, 0, 40, 0, 0.07, 0.04) == -1, "repeat 0");
  CHECK(ncd_teacher_temp(&t, -1, 40, 4, 0.07, 0.04) == -1, "epoch -1");

  CHECK_NEAR(ncd_cosine_lr(0.003, 0, 50), 0.003, 1e-18);
  CHECK_NEAR(ncd_cosine_lr(0.003, 25, 50), 3e-6 + 0.002997 / 2, 1e-18);
  double s = sin(M_PI / 100); /* (1 + cos(49π/50))/2 = sin²(π/100) */
  CHECK_NEAR(ncd_cosine_lr(0.003, 49, 50), 3e-6 + 0.002997 * s * s, 1e-18);
  CHECK_NEAR(ncd_cosine_lr(0.003, 49, 50), 5.957e-6, 1e-9);
  for (int e = 1; e < 50; e++)
    CHECK(ncd_cosine_lr(0.003, e, 50) < ncd_cosine_lr(0.003, e - 1, 50), "not decreasing at %d", e);
}

int main(void) {
  printf("classifier:\n");
  test_classifier_hand();
  test_classifier_fd(6, 5, 7, 4, 0);
  test_classifier_fd(64, 768, 10, 4, 100); /* the reference's sizes, sampled entries */
  printf("losses:\n");
  test_loss_fd(TB, TZ, TC, 0);
  test_loss_fd(32, 256, 10, 100); /* B = 32, Z = 256, 6 novel clusters: sampled entries */
  test_total_composition();
  test_infonce_hand();
  test_supcon_hand();
  test_ce_hand();
  test_distill_hand();
  test_memax_hand();
  test_errors();
  test_schedules();
  printf("worst normalised FD error %.2e (tolerance %.0e)\n", worst_fd, FD_TOL);
  return test_done("ncd_loss");
}
