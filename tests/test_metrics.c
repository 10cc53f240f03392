/* AD metrics (musc_hetmm_spec §A.8) against scikit-learn / scikit-image values written by
 * tests/golden/gen_metrics_golden.py into tests/golden/metrics/, plus hand-checked cases: perfect,
 * reversed and all-tied rankings, one class -> NaN, 8- vs 4-connected regions, and a 2 M-pixel
 * run for speed sanity. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "test_util.h"

/* Golden tolerance: the references sum in a different order (numpy pairwise sums), so the
 * values agree to ~1e-15; 1e-9 leaves room without hiding a wrong threshold or tie. */
#define GOLDEN_TOL 1e-9

static int read_binary(const char *dir, const char *name, const char *ext, void *out, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f)
    return -1;
  size_t got = fread(out, 1, n, f);
  int extra = fgetc(f) != EOF;
  fclose(f);
  CHECK(got == n && !extra, "%s: expected exactly %zu bytes", path, n);
  return got == n && !extra ? 0 : -1;
}

static double diff_or_nan_match(double got, double want) {
  if (isnan(want))
    return isnan(got) ? 0.0 : INFINITY;
  return fabs(got - want);
}

static void test_goldens(void) {
  char dir[2048], path[4096], line[1024];
  snprintf(dir, sizeof dir, "%s/tests/golden/metrics", test_source_dir());
  snprintf(path, sizeof path, "%s/expected.txt", dir);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f)
    return;
  CHECK(fgets(line, sizeof line, f) != NULL, "%s: no header", path);
  int n_cases = 0, n_maps = 0;
  double worst_rank = 0.0, worst_pro = 0.0;
  while (fgets(line, sizeof line, f)) {
    char name[64];
    int n, h, w;
    double want[5]; /* auroc ap f1max aupro aupro_4conn */
    char v[5][64];
    if (sscanf(line, "%63s %d %d %d %63s %63s %63s %63s %63s", name, &n, &h, &w, v[0], v[1], v[2],
               v[3], v[4]) != 9) {
      CHECK(0, "%s: bad line '%s'", path, line);
      continue;
    }
    for (int k = 0; k < 5; k++)
      want[k] = strtod(v[k], NULL);
    long total = (long)n * (h ? h : 1) * (w ? w : 1);
    float *scores = malloc(total * sizeof(float));
    uint8_t *labels = malloc(total);
    if (read_binary(dir, name, ".f32", scores, total * sizeof(float)) == 0 &&
        read_binary(dir, name, ".u8", labels, total) == 0) {
      double got[3] = {metric_auroc(scores, labels, total), metric_ap(scores, labels, total),
                       metric_f1max(scores, labels, total)};
      const char *what[3] = {"auroc", "ap", "f1max"};
      for (int k = 0; k < 3; k++) {
        double d = diff_or_nan_match(got[k], want[k]);
        CHECK(d <= GOLDEN_TOL, "%s %s: ancd %.17g, sklearn %.17g", name, what[k], got[k], want[k]);
        worst_rank = fmax(worst_rank, d);
      }
      if (h) {
        double pro = metric_aupro(scores, labels, n, h, w);
        double d = diff_or_nan_match(pro, want[3]);
        CHECK(d <= GOLDEN_TOL, "%s aupro: ancd %.17g, reference %.17g", name, pro, want[3]);
        worst_pro = fmax(worst_pro, d);
        if (fabs(want[3] - want[4]) > 1e-3) /* the regions must be 8-connected */
          CHECK(fabs(pro - want[4]) > 1e-3, "%s aupro %.17g equals the 4-connected value", name,
                pro);
        /* ad_metrics_compute gives the same numbers; image level: one score per image */
        float image_scores[16];
        uint8_t image_labels[16];
        for (int i = 0; i < n && i < 16; i++) {
          image_scores[i] = -INFINITY;
          image_labels[i] = 0;
          for (long j = 0; j < (long)h * w; j++) {
            image_scores[i] = fmaxf(image_scores[i], scores[(long)i * h * w + j]);
            image_labels[i] |= labels[(long)i * h * w + j];
          }
        }
        ad_metrics m;
        ad_metrics_compute(&m, image_scores, image_labels, scores, labels, n, h, w);
        CHECK(m.auroc_px == got[0] && m.ap_px == got[1] && m.f1max_px == got[2] && m.aupro == pro,
              "%s: ad_metrics_compute pixel metrics differ from the single ones", name);
        CHECK(m.auroc_cls == metric_auroc(image_scores, image_labels, n) ||
                  (isnan(m.auroc_cls) && isnan(metric_auroc(image_scores, image_labels, n))),
              "%s: ad_metrics_compute auroc_cls", name);
        n_maps++;
      }
      n_cases++;
    }
    free(scores);
    free(labels);
  }
  fclose(f);
  fprintf(stderr,
          "metrics goldens: %d cases (%d with maps), max |diff| auroc/ap/f1 %.3g, aupro %.3g\n",
          n_cases, n_maps, worst_rank, worst_pro);
  CHECK(n_cases == 11 && n_maps == 6, "%d cases (%d with maps) run, expected 11 (6)", n_cases,
        n_maps);
}

/* Hand-checked rankings. */
static void test_hand(void) {
  float s[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  uint8_t up[6] = {0, 0, 0, 1, 1, 1}, down[6] = {1, 1, 1, 0, 0, 0};
  CHECK_NEAR(metric_auroc(s, up, 6), 1.0, 1e-15);
  CHECK_NEAR(metric_ap(s, up, 6), 1.0, 1e-15);
  CHECK_NEAR(metric_f1max(s, up, 6), 1.0, 1e-15);
  CHECK_NEAR(metric_auroc(s, down, 6), 0.0, 1e-15);
  /* reversed: precision at recall k/3 is k/(k+3): AP = (1/4 + 2/5 + 3/6) / 3 */
  CHECK_NEAR(metric_ap(s, down, 6), (0.25 + 0.4 + 0.5) / 3.0, 1e-15);
  /* reversed F1 max: at the end, P = 1/2, R = 1 -> 2/3 */
  CHECK_NEAR(metric_f1max(s, down, 6), 2.0 / 3.0, 1e-15);

  float tied[6] = {0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f};
  uint8_t mixed[6] = {1, 0, 0, 1, 0, 0};
  CHECK_NEAR(metric_auroc(tied, mixed, 6), 0.5, 1e-15);
  CHECK_NEAR(metric_ap(tied, mixed, 6), 1.0 / 3.0, 1e-15);
  CHECK_NEAR(metric_f1max(tied, mixed, 6), 0.5, 1e-15); /* P = 1/3, R = 1 */

  /* One tie across classes: scores 1 (pos), 0.5 (pos, neg), 0 (neg): pairs 1 + 1/2 + 1 + 1 of 4 */
  float s4[4] = {1.0f, 0.5f, 0.5f, 0.0f};
  uint8_t l4[4] = {1, 1, 0, 0};
  CHECK_NEAR(metric_auroc(s4, l4, 4), 3.5 / 4.0, 1e-15);
  /* -0 and +0 are one score (a tie), as numpy compares them */
  float z[2] = {-0.0f, 0.0f};
  uint8_t zl[2] = {1, 0};
  CHECK_NEAR(metric_auroc(z, zl, 2), 0.5, 1e-15);

  /* One class, NaN scores, empty input: NaN, never 0. */
  uint8_t zeros[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1};
  CHECK(isnan(metric_auroc(s, zeros, 6)), "all-negative auroc must be NaN");
  CHECK(isnan(metric_ap(s, zeros, 6)), "all-negative ap must be NaN");
  CHECK(isnan(metric_f1max(s, zeros, 6)), "all-negative f1max must be NaN");
  CHECK(isnan(metric_auroc(s, ones, 6)), "all-positive auroc must be NaN");
  CHECK(isnan(metric_auroc(s, up, 0)), "empty input must be NaN");
  float with_nan[6] = {0.1f, NAN, 0.3f, 0.4f, 0.5f, 0.6f};
  CHECK(isnan(metric_auroc(with_nan, up, 6)), "NaN score must give NaN");

  ad_metrics m;
  ad_metrics_compute(&m, s, ones, NULL, NULL, 6, 4, 4);
  CHECK(isnan(m.auroc_cls) && isnan(m.f1max_cls) && isnan(m.ap_cls), "one class: image NaN");
  CHECK(isnan(m.auroc_px) && isnan(m.f1max_px) && isnan(m.ap_px) && isnan(m.aupro),
        "no masks: pixel metrics NaN");
  ad_metrics_compute(&m, s, up, NULL, NULL, 6, 4, 4);
  CHECK(m.auroc_cls == 1.0 && m.ap_cls == 1.0 && m.f1max_cls == 1.0, "separable images: 1");
}

/* AUPRO: 8-connectivity, no positive pixel, perfect map, a hand value. */
static void test_aupro_hand(void) {
  /* 1 image 3x4: a 1-pixel region at (0,0) touching a 3-pixel run at (1,1..3) only diagonally.
   * Scores: the single pixel and nothing else high. 8-connected: one region of 4, PRO 1/4 while
   * th < 1; 4-connected would give two regions and PRO 1/2. */
  uint8_t mask[12] = {1, 0, 0, 0, /**/ 0, 1, 1, 1, /**/ 0, 0, 0, 0};
  float map[12] = {1.0f, 0.2f, 0.0f,      0.0f, /**/ 0.0f, 0.0f,
                   0.0f, 0.0f, /**/ 0.3f, 0.0f, 0.0f,      0.0f};
  /* Thresholds 0, 0.005, ..., 0.995 (200). Negatives: 8 pixels, two above 0 (0.2 and 0.3).
   * th < 0.2: FPR 2/8 = 0.25, kept; 0.2 <= th < 0.3: 1/8; th >= 0.3: 0. PRO = 1/4 throughout.
   * FPR rescaled by its own range [0, 0.25]: x goes 1 -> 0.5 -> 0, PRO constant 1/4: area 1/4. */
  double pro = metric_aupro(map, mask, 1, 3, 4);
  CHECK_NEAR(pro, 0.25, 1e-12);
  /* The same with the diagonal contact broken: the 1-pixel and 3-pixel regions are apart. */
  uint8_t mask2[12] = {1, 0, 0, 0, /**/ 0, 0, 1, 1, /**/ 0, 0, 0, 0};
  float map2[12] = {1.0f, 0.2f, 0.0f,      0.0f, /**/ 0.0f, 0.0f,
                    0.0f, 0.0f, /**/ 0.3f, 0.0f, 0.0f,      0.0f};
  CHECK_NEAR(metric_aupro(map2, mask2, 1, 3, 4), 0.5, 1e-12); /* two regions: (1 + 0) / 2 */

  uint8_t none[12] = {0};
  CHECK(isnan(metric_aupro(map, none, 1, 3, 4)), "AUPRO without positive pixels must be NaN");
  CHECK(isnan(metric_aupro(map, NULL, 1, 3, 4)), "AUPRO without masks must be NaN");
  /* A perfect map has FPR 0 at every threshold: the rescale is 0/0 and the reference gives NaN. */
  float perfect[12];
  for (int i = 0; i < 12; i++)
    perfect[i] = mask[i];
  CHECK(isnan(metric_aupro(perfect, mask, 1, 3, 4)), "perfect map: reference AUPRO is NaN");
  float flat[12] = {0};
  CHECK(isnan(metric_aupro(flat, mask, 1, 3, 4)), "constant map: no thresholds, NaN");

  ad_metrics m;
  float image_scores[1] = {1.0f};
  uint8_t image_labels[1] = {1};
  ad_metrics_compute(&m, image_scores, image_labels, map, none, 1, 3, 4);
  CHECK(isnan(m.auroc_px) && isnan(m.ap_px) && isnan(m.f1max_px) && isnan(m.aupro),
        "no positive pixel: pixel metrics NaN");
}

/* 2 M pixels (40 maps of 224 x 224) with blobs: runs, values in [0, 1], time printed. */
static void test_large(void) {
  int n = 40, h = 224, w = 224;
  long total = (long)n * h * w;
  float *maps = malloc(total * sizeof(float));
  uint8_t *masks = calloc(total, 1);
  float scores[40];
  uint8_t labels[40];
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (long i = 0; i < total; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    maps[i] = (float)((state >> 40) & 0xffffff) / 16777216.0f;
  }
  for (int i = 0; i < n; i++) {
    labels[i] = i % 3 == 0;
    scores[i] = (float)i / n + (labels[i] ? 0.3f : 0.0f);
    if (!labels[i])
      continue;
    for (int y = 40 + i; y < 90 + i; y++)
      for (int x = 60; x < 100 + i; x++) {
        long j = ((long)i * h + y) * w + x;
        masks[j] = 1;
        maps[j] += 0.5f;
      }
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ad_metrics m;
  ad_metrics_compute(&m, scores, labels, maps, masks, n, h, w);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  fprintf(stderr,
          "metrics on %ld pixels: %.3f s (auroc_px %.4f ap_px %.4f f1_px %.4f aupro %.4f, "
          "auroc_cls %.4f)\n",
          total, s, m.auroc_px, m.ap_px, m.f1max_px, m.aupro, m.auroc_cls);
  double v[7] = {m.auroc_cls, m.f1max_cls, m.ap_cls, m.auroc_px, m.f1max_px, m.ap_px, m.aupro};
  for (int k = 0; k < 7; k++)
    CHECK(v[k] >= 0.0 && v[k] <= 1.0, "metric %d = %g outside [0, 1]", k, v[k]);
  /* Positives shifted up by 0.5 on U(0,1): AUROC = 1 - P(neg > pos) = 1 - 1/8. */
  CHECK_NEAR(m.auroc_px, 0.875, 2e-3);
  free(maps);
  free(masks);
}

int main(void) {
  test_goldens();
  test_hand();
  test_aupro_hand();
  test_large();
  return test_done("test_metrics");
}
