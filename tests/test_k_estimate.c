/* k_estimate (k_estimate.h) on bad input, edge cases and determinism; the numbers themselves are
 * checked against scikit-learn / NumPy in test_k_estimate_golden.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "k_estimate.h"
#include "rng.h"
#include "test_util.h"

/* n points around k random unit directions in d dimensions, noise std `noise`. */
static float *clusters(int n, int d, int k, double noise, uint64_t seed) {
  float *x = malloc((size_t)n * d * sizeof *x);
  double *c = malloc((size_t)k * d * sizeof *c);
  for (int i = 0; i < k * d; i++)
    c[i] = rng_uniform_at(seed, (uint64_t)i) * 2 - 1;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      x[(size_t)i * d + j] =
          (float)(c[(i % k) * d + j] +
                  noise * rng_trunc_normal_at(seed + 1, (uint64_t)i * d + j, 1.0));
  free(c);
  return x;
}

static void test_bad_input(void) {
  float *x = clusters(20, 4, 2, 0.05, 1);
  int k = -1;
  CHECK(k_estimate(&k, x, 2, 4, 2, 5, K_EST_EIGENGAP, 0) != 0, "n = 2 accepted");
  CHECK(strstr(ancd_error(), "n >= 3") != NULL, "message: %s", ancd_error());
  CHECK(k_estimate(&k, x, 20, 0, 2, 5, K_EST_EIGENGAP, 0) != 0, "d = 0 accepted");
  CHECK(k_estimate(&k, x, 20, 4, 1, 5, K_EST_SILHOUETTE, 0) != 0, "k_min = 1 accepted");
  CHECK(k_estimate(&k, x, 20, 4, 5, 4, K_EST_SILHOUETTE, 0) != 0, "k_max < k_min accepted");
  CHECK(strstr(ancd_error(), "k_min <= k_max") != NULL, "message: %s", ancd_error());
  CHECK(k_estimate(&k, x, 20, 4, 2, 5, (k_est_method)7, 0) != 0, "method 7 accepted");
  CHECK(k_estimate(NULL, x, 20, 4, 2, 5, K_EST_EIGENGAP, 0) != 0, "NULL k_out accepted");
  CHECK(k_estimate(&k, NULL, 20, 4, 2, 5, K_EST_EIGENGAP, 0) != 0, "NULL features accepted");
  x[4 * 7 + 2] = NAN;
  for (int m = 0; m < 2; m++) {
    CHECK(k_estimate(&k, x, 20, 4, 2, 5, (k_est_method)m, 0) != 0, "NaN accepted (method %d)", m);
    CHECK(strstr(ancd_error(), "item 7") != NULL, "message: %s", ancd_error());
  }
  x[4 * 7 + 2] = INFINITY;
  CHECK(k_estimate(&k, x, 20, 4, 2, 5, K_EST_EIGENGAP, 0) != 0, "inf accepted");
  CHECK(k == -1, "k_out written on error: %d", k);
  free(x);

  double y[6] = {0, 0, 1, 1, 2, 2};
  int lab[3] = {0, 0, 0};
  double s;
  CHECK(silhouette_score(&s, y, lab, 3, 2) != 0, "silhouette of one cluster accepted");
  lab[1] = 1, lab[2] = 2;
  CHECK(silhouette_score(&s, y, lab, 3, 2) != 0, "silhouette of n clusters accepted");
  lab[2] = -1;
  CHECK(silhouette_score(&s, y, lab, 3, 2) != 0, "negative label accepted");
  CHECK(kmeans_fit(lab, NULL, NULL, y, 3, 2, 4, 1, 0) != 0, "k > n accepted");
  CHECK(kmeans_fit(lab, NULL, NULL, y, 3, 2, 2, 0, 0) != 0, "n_init = 0 accepted");
  double w[1];
  CHECK(sym_eigenvalues(w, y, 0) != 0, "n = 0 accepted");
}

static void test_small_cases(void) {
  /* [[2, 1], [1, 2]]: 1 and 3; the upper triangle is ignored */
  double a[4] = {2, 99, 1, 2}, w[2];
  CHECK(sym_eigenvalues(w, a, 2) == 0 && fabs(w[0] - 1) < 1e-15 && fabs(w[1] - 3) < 1e-15,
        "eigenvalues %g %g", w[0], w[1]);
  /* two points per side of a line: silhouette by hand, a = 1, b = (10 + 11) / 2 for the ends */
  double y[4] = {0, 1, 10, 11};
  int lab[4] = {0, 0, 1, 1}, km[4];
  double s, inertia;
  CHECK(silhouette_score(&s, y, lab, 4, 1) == 0, "silhouette failed");
  const double ref = ((1 - 1 / 10.5) + (1 - 1 / 9.5) * 2 + (1 - 1 / 10.5)) / 4;
  CHECK_NEAR(s, ref, 1e-15);
  CHECK(kmeans_fit(km, NULL, &inertia, y, 4, 1, 2, 3, 9) == 0, "kmeans failed");
  CHECK(km[0] == km[1] && km[2] == km[3] && km[0] != km[2], "k-means labels %d %d %d %d", km[0],
        km[1], km[2], km[3]);
  CHECK_NEAR(inertia, 1.0, 1e-15);
}

static void test_clamp_and_degenerate(void) {
  /* n = 3: only k = 2 is possible, whatever the range */
  float *x = clusters(3, 5, 3, 0.01, 4);
  for (int m = 0; m < 2; m++) {
    int k = -1;
    CHECK(k_estimate(&k, x, 3, 5, 2, 10, (k_est_method)m, 1) == 0 && k == 2,
          "n = 3, method %d: K %d (%s)", m, k, ancd_error());
    CHECK(k_estimate(&k, x, 3, 5, 6, 9, (k_est_method)m, 1) == 0 && k == 2,
          "n = 3, k in [6, 9], method %d: K %d", m, k);
  }
  free(x);
  /* all points equal (and a zero row): no structure, the range's lower end, no failure */
  float same[40];
  for (int i = 0; i < 40; i++)
    same[i] = i < 36 ? (float)(1 + i % 4) : 0;
  for (int m = 0; m < 2; m++) {
    int k = -1;
    CHECK(k_estimate(&k, same, 10, 4, 3, 6, (k_est_method)m, 1) == 0 && k >= 3 && k <= 6,
          "identical points, method %d: K %d (%s)", m, k, ancd_error());
  }
}

static void test_determinism(void) {
  /* overlapping clusters, so the k-means restarts matter */
  const int n = 150, d = 12;
  float *x = clusters(n, d, 4, 0.6, 21);
  for (int m = 0; m < 2; m++) {
    int k1 = -1, k2 = -2;
    CHECK(k_estimate(&k1, x, n, d, 2, 8, (k_est_method)m, 123) == 0 &&
              k_estimate(&k2, x, n, d, 2, 8, (k_est_method)m, 123) == 0 && k1 == k2,
          "method %d: the same seed gave K %d and %d", m, k1, k2);
    CHECK(k1 >= 2 && k1 <= 8, "method %d: K %d out of range", m, k1);
  }
  double *y = malloc((size_t)n * d * sizeof *y), in1, in2;
  for (int i = 0; i < n * d; i++)
    y[i] = x[i];
  int *l1 = malloc(n * sizeof *l1), *l2 = malloc(n * sizeof *l2);
  CHECK(kmeans_fit(l1, NULL, &in1, y, n, d, 5, 4, 77) == 0 &&
            kmeans_fit(l2, NULL, &in2, y, n, d, 5, 4, 77) == 0,
        "kmeans failed");
  CHECK(in1 == in2 && !memcmp(l1, l2, n * sizeof *l1), "k-means: the same seed differs");
  /* well separated clusters: both methods find 4 */
  float *z = clusters(120, d, 4, 0.02, 5);
  for (int m = 0; m < 2; m++) {
    int k = -1;
    CHECK(k_estimate(&k, z, 120, d, 2, 10, (k_est_method)m, 3) == 0 && k == 4,
          "separated clusters, method %d: K %d", m, k);
  }
  free(x), free(y), free(l1), free(l2), free(z);
}

int main(void) {
  test_bad_input();
  test_small_cases();
  test_clamp_and_degenerate();
  test_determinism();
  return test_done("test_k_estimate");
}
