/* Sub-image prediction and region merging (anomalyncd_spec §6) against torch float32 values of
 * tests/golden/gen_region_merge_golden.py (tests/golden/region_merge/cases.txt): mixed crop
 * counts, MVTec's T = 100 and MTD's T = 50, no base classes, one novel class, large masks, ties.
 * Predictions must be equal; probabilities within 2e-6 (torch sums float32, region_merge.c
 * double). Plus an image without a crop is an error naming it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "region_merge.h"
#include "test_util.h"

#define PROB_TOL 2e-6

static int read_case(FILE *f) {
  char name[64];
  int N, R, C, n_base;
  double T;
  if (fscanf(f, " case %63s %d %d %d %d %lf", name, &N, &R, &C, &n_base, &T) != 6)
    return 0;
  float *logits = malloc((size_t)R * C * sizeof *logits);
  float *want_sub = malloc((size_t)R * C * sizeof *want_sub);
  float *want_img = malloc((size_t)N * C * sizeof *want_img);
  float *sub = malloc((size_t)R * C * sizeof *sub), *img = malloc((size_t)N * C * sizeof *img);
  int *want_sub_pred = malloc((size_t)R * sizeof(int)), *sub_pred = malloc((size_t)R * sizeof(int));
  int *want_img_pred = malloc((size_t)N * sizeof(int)), *img_pred = malloc((size_t)N * sizeof(int));
  int64_t *area = malloc((size_t)R * sizeof *area);
  long *first = calloc((size_t)N + 1, sizeof *first);
  int ok = 1;
  for (int r = 0; r < R && ok; r++) {
    int image;
    long long a;
    ok = fscanf(f, "%d %lld", &image, &a) == 2 && image >= 0 && image < N;
    area[r] = a;
    first[image + 1]++;
    for (int c = 0; c < C && ok; c++)
      ok = fscanf(f, "%f", &logits[(size_t)r * C + c]) == 1;
  }
  for (int i = 0; i < N; i++)
    first[i + 1] += first[i];
  for (int r = 0; r < R && ok; r++) {
    ok = fscanf(f, " sub %d", &want_sub_pred[r]) == 1;
    for (int c = 0; c < C && ok; c++)
      ok = fscanf(f, "%f", &want_sub[(size_t)r * C + c]) == 1;
  }
  for (int i = 0; i < N && ok; i++) {
    ok = fscanf(f, " img %d", &want_img_pred[i]) == 1;
    for (int c = 0; c < C && ok; c++)
      ok = fscanf(f, "%f", &want_img[(size_t)i * C + c]) == 1;
  }
  CHECK(ok, "case %s: malformed golden file", name);
  if (ok) {
    ncd_subimage_predict(sub, sub_pred, logits, R, C, n_base);
    CHECK(ncd_merge_predict(img, img_pred, logits, area, first, N, C, n_base, T) == 0, "%s: %s",
          name, ancd_error());
    double worst = 0;
    int wrong = 0;
    for (int r = 0; r < R; r++) {
      wrong += sub_pred[r] != want_sub_pred[r];
      for (int c = 0; c < C; c++)
        worst = fmax(worst, fabs(sub[(size_t)r * C + c] - want_sub[(size_t)r * C + c]));
    }
    for (int i = 0; i < N; i++) {
      wrong += img_pred[i] != want_img_pred[i];
      for (int c = 0; c < C; c++)
        worst = fmax(worst, fabs(img[(size_t)i * C + c] - want_img[(size_t)i * C + c]));
      for (int c = 0; c < n_base; c++)
        CHECK(img[(size_t)i * C + c] == 0, "%s: image %d base column %d not 0", name, i, c);
    }
    CHECK(wrong == 0, "case %s: %d predictions differ from torch", name, wrong);
    CHECK(worst <= PROB_TOL, "case %s: max |p - torch| %.3g", name, worst);
  }
  free(logits), free(want_sub), free(want_img), free(sub), free(img), free(want_sub_pred);
  free(sub_pred), free(want_img_pred), free(img_pred), free(area), free(first);
  return ok;
}

int main(void) {
  test_golden_cases("tests/golden/region_merge/cases.txt", read_case, 6);

  /* an image without a crop */
  const float logits[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  const int64_t area[2] = {10, 20};
  const long first[3] = {0, 2, 2};
  float probs[4];
  int pred[2];
  CHECK(ncd_merge_predict(probs, pred, logits, area, first, 2, 2, 0, 100) != 0, "no error");
  CHECK(strstr(ancd_error(), "image 1 has no crop") != NULL, "message: %s", ancd_error());
  return test_done("region_merge_golden");
}
