/* NMI, ARI and Hungarian F1 (anomalyncd_spec §7.1) against scikit-learn / scipy values written by
 * tests/golden/gen_ncd_metrics_golden.py (tests/golden/ncd_metrics/cases.txt): random and noisy
 * labelings from 1 to 500 items, perfect and permuted predictions, novel indices from 4, all
 * singletons, one group on either or both sides (sklearn's limit cases), assignment ties. Plus:
 * the matching is a bijection that reaches the F1, n = 0 gives NaN, and the Hungarian method
 * against brute force on small random matrices. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncd_metrics.h"
#include "test_util.h"

/* sklearn sums in another order: the values agree to a few ulps. */
#define GOLDEN_TOL 1e-12

static double scan_double(FILE *f) {
  char tok[64];
  if (fscanf(f, "%63s", tok) != 1)
    return -99;
  return strcmp(tok, "nan") ? strtod(tok, NULL) : NAN;
}

static int read_case(FILE *f) {
  char name[64];
  int n;
  if (fscanf(f, " case %63s %d", name, &n) != 2)
    return 0;
  const double nmi = scan_double(f), ari = scan_double(f), f1 = scan_double(f);
  int *y = malloc(((size_t)n + 1) * sizeof *y), *p = malloc(((size_t)n + 1) * sizeof *p);
  int ok = 1;
  for (int i = 0; i < n && ok; i++)
    ok = fscanf(f, "%d", &y[i]) == 1;
  for (int i = 0; i < n && ok; i++)
    ok = fscanf(f, "%d", &p[i]) == 1;
  CHECK(ok, "case %s: malformed golden file", name);
  if (ok) {
    ncd_eval e;
    ncd_evaluate(&e, y, p, n);
    CHECK(fabs(e.nmi - nmi) <= GOLDEN_TOL, "%s: NMI %.17g, sklearn %.17g", name, e.nmi, nmi);
    CHECK(fabs(e.ari - ari) <= GOLDEN_TOL, "%s: ARI %.17g, sklearn %.17g", name, e.ari, ari);
    CHECK(fabs(e.f1 - f1) <= GOLDEN_TOL, "%s: F1 %.17g, reference %.17g", name, e.f1, f1);
    /* the matching: a bijection of 0..D-1 whose hits give the F1 */
    int *seen = calloc((size_t)e.D, sizeof *seen), bijective = 1, hits = 0;
    for (int k = 0; k < e.D; k++)
      bijective &= e.match[k] >= 0 && e.match[k] < e.D && !seen[e.match[k]]++;
    for (int i = 0; i < n; i++)
      hits += e.match[p[i]] == y[i];
    CHECK(bijective, "%s: the matching is not a bijection", name);
    CHECK(fabs((double)hits / n - e.f1) < 1e-15, "%s: matched hits %d of %d, F1 %g", name, hits, n,
          e.f1);
    free(seen);
    ncd_eval_free(&e);
  }
  free(y);
  free(p);
  return ok;
}

/* The least total cost over all permutations of n <= 6 (Heap's algorithm would do; a recursive
 * search is clearer). */
static double brute(const double *cost, int n, int row, int *used) {
  if (row == n)
    return 0;
  double best = INFINITY;
  for (int c = 0; c < n; c++)
    if (!used[c]) {
      used[c] = 1;
      double v = cost[row * n + c] + brute(cost, n, row + 1, used);
      best = v < best ? v : best;
      used[c] = 0;
    }
  return best;
}

static void test_hungarian_brute(void) {
  srand(5);
  for (int trial = 0; trial < 200; trial++) {
    const int n = 1 + trial % 6;
    double cost[36];
    int col[6], used[6] = {0};
    for (int k = 0; k < n * n; k++)
      cost[k] = rand() % (trial % 3 == 0 ? 3 : 50); /* few values: many ties */
    ncd_hungarian(col, cost, n);
    double total = 0;
    for (int r = 0; r < n; r++)
      total += cost[r * n + col[r]];
    CHECK(total == brute(cost, n, 0, used), "trial %d (n %d): cost %g, optimum %g", trial, n, total,
          brute(cost, n, 0, used));
  }
}

int main(void) {
  test_golden_cases("tests/golden/ncd_metrics/cases.txt", read_case, 38);
  test_hungarian_brute();
  ncd_eval e;
  ncd_evaluate(&e, NULL, NULL, 0);
  CHECK(isnan(e.nmi) && isnan(e.ari) && isnan(e.f1) && e.match == NULL, "n = 0 not NaN");
  return test_done("ncd_metrics_golden");
}
