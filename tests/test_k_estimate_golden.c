/* k_estimate's building blocks and choices against NumPy / scikit-learn values written by
 * tests/golden/gen_k_estimate_golden.py (tests/golden/k_estimate/): silhouette_score of fixed
 * labellings of Gaussian blobs (a singleton cluster and label gaps among them) to 1e-9,
 * sym_eigenvalues against numpy.linalg.eigvalsh to 1e-9 of the largest |eigenvalue| (random,
 * rank-deficient, repeated, a normalised Laplacian), and the true K of well-separated blobs found
 * by both methods over k = 2..10; kmeans_fit recovers those blobs (ARI 1) with a consistent
 * inertia. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "k_estimate.h"
#include "ncd_metrics.h"
#include "test_util.h"

/* measured: both agree to about 1e-15 (relative to the largest eigenvalue for sym_eigenvalues) */
#define SIL_TOL 1e-9
#define EIG_TOL 1e-9

static FILE *open_golden(const char *name) {
  char path[4096];
  PATHF(path, "%s/tests/golden/k_estimate/%s", test_source_dir(), name);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL, "cannot open %s (run tests/golden/gen_k_estimate_golden.py)", path);
  return f;
}

static int read_doubles(FILE *f, double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fscanf(f, "%lf", &v[i]) != 1)
      return 0;
  return 1;
}

/* float32 values printed with 9 digits: read as floats, so they are the generator's exactly */
static int read_floats(FILE *f, double *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float t;
    if (fscanf(f, "%f", &t) != 1)
      return 0;
    v[i] = t;
  }
  return 1;
}

static void test_silhouette(void) {
  FILE *f = open_golden("silhouette.txt");
  if (!f)
    return;
  char name[64];
  int n, d, cases = 0;
  while (fscanf(f, " case %63s %d %d", name, &n, &d) == 3) {
    double *x = malloc((size_t)n * d * sizeof *x), ref = NAN, s = NAN;
    int *lab = malloc((size_t)n * sizeof *lab), ok = 1;
    for (int i = 0; i < n && ok; i++)
      ok = fscanf(f, "%d", &lab[i]) == 1 && read_floats(f, x + (size_t)i * d, (size_t)d);
    ok = ok && read_doubles(f, &ref, 1);
    CHECK(ok, "%s: malformed golden file", name);
    if (ok) {
      const int rc = silhouette_score(&s, x, lab, n, d);
      CHECK(rc == 0 && fabs(s - ref) <= SIL_TOL, "%s: silhouette %.17g, sklearn %.17g (rc %d)",
            name, s, ref, rc);
      cases++;
    }
    free(x);
    free(lab);
    if (!ok)
      break;
  }
  CHECK(cases == 7, "silhouette: %d cases read, expected 7", cases);
  fclose(f);
}

static void test_eigvals(void) {
  FILE *f = open_golden("eigvals.txt");
  if (!f)
    return;
  char name[64];
  int n, cases = 0;
  while (fscanf(f, " case %63s %d", name, &n) == 2) {
    double *a = malloc((size_t)n * n * sizeof *a), *ref = malloc((size_t)n * sizeof *ref);
    double *w = malloc((size_t)n * sizeof *w);
    const int ok = read_doubles(f, a, (size_t)n * n) && read_doubles(f, ref, (size_t)n);
    CHECK(ok, "%s: malformed golden file", name);
    if (ok) {
      const int rc = sym_eigenvalues(w, a, n);
      CHECK(rc == 0, "%s: sym_eigenvalues failed", name);
      double scale = 0, err = 0;
      for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
      for (int i = 0; i < n && rc == 0; i++)
        err = fmax(err, fabs(w[i] - ref[i]));
      CHECK(err <= EIG_TOL * fmax(scale, 1e-300), "%s: max |w - eigvalsh| %.3g, max |w| %.3g", name,
            err, scale);
      cases++;
    }
    free(a), free(ref), free(w);
    if (!ok)
      break;
  }
  CHECK(cases == 8, "eigvals: %d cases read, expected 8", cases);
  fclose(f);
}

static void test_blobs(void) {
  FILE *f = open_golden("blobs.txt");
  if (!f)
    return;
  char name[64];
  int n, d, k_true, cases = 0;
  while (fscanf(f, " case %63s %d %d %d", name, &n, &d, &k_true) == 4) {
    float *x = malloc((size_t)n * d * sizeof *x);
    double *y = malloc((size_t)n * d * sizeof *y);
    int *truth = malloc((size_t)n * sizeof *truth), *lab = malloc((size_t)n * sizeof *lab);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
      ok = fscanf(f, "%d", &truth[i]) == 1;
      for (int j = 0; j < d && ok; j++)
        ok = fscanf(f, "%f", &x[(size_t)i * d + j]) == 1;
    }
    CHECK(ok, "%s: malformed golden file", name);
    if (ok) {
      int ke = -1, ks = -1;
      CHECK(k_estimate(&ke, x, n, d, 2, 10, K_EST_EIGENGAP, 1) == 0 && ke == k_true,
            "%s: eigengap K = %d, true %d", name, ke, k_true);
      CHECK(k_estimate(&ks, x, n, d, 2, 10, K_EST_SILHOUETTE, 1) == 0 && ks == k_true,
            "%s: silhouette K = %d, true %d", name, ks, k_true);
      for (size_t i = 0; i < (size_t)n * d; i++)
        y[i] = x[i];
      double inertia = NAN, *centers = malloc((size_t)k_true * d * sizeof *centers);
      CHECK(kmeans_fit(lab, centers, &inertia, y, n, d, k_true, 10, 3) == 0,
            "%s: kmeans_fit failed", name);
      ncd_eval e;
      ncd_evaluate(&e, truth, lab, n);
      CHECK(e.ari == 1.0, "%s: k-means at the true K, ARI %g", name, e.ari);
      ncd_eval_free(&e);
      /* the inertia is the sum of squared distances to the returned centres */
      double sse = 0;
      for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
          const double t = y[(size_t)i * d + j] - centers[(size_t)lab[i] * d + j];
          sse += t * t;
        }
      CHECK(fabs(sse - inertia) <= 1e-9 * sse, "%s: inertia %.17g, recomputed %.17g", name, inertia,
            sse);
      free(centers);
      cases++;
    }
    free(x), free(y), free(truth), free(lab);
    if (!ok)
      break;
  }
  CHECK(cases == 5, "blobs: %d cases read, expected 5", cases);
  fclose(f);
}

int main(void) {
  test_silhouette();
  test_eigvals();
  test_blobs();
  return test_done("test_k_estimate_golden");
}
