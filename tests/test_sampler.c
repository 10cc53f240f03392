/* The training sampler (anomalyncd_spec §11 item 35): n_base + n_novel draws with replacement,
 * base weight 1 and novel weight n_base / n_novel; every draw a pure function of (seed, epoch,
 * i). The distribution is checked with chi-square bounds on fixed seeds. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sampler.h"
#include "test_util.h"

static void test_determinism(void) {
  enum { L = 30, U = 90 };
  int a[L + U], b[L + U];
  CHECK(sampler_epoch(a, L, U, 3407, 5) == 0, "%s", ancd_error());
  CHECK(sampler_epoch(b, L, U, 3407, 5) == 0, "%s", ancd_error());
  CHECK(!memcmp(a, b, sizeof a), "the same (seed, epoch) gives different draws");
  int pure = 1;
  for (int i = L + U - 1; i >= 0; i--) /* any order, any subset: the same values */
    pure &= sampler_draw(L, U, 3407, 5, (uint64_t)i) == a[i];
  CHECK(pure, "sampler_draw(i) differs from the epoch's draw i");
  CHECK(sampler_epoch(b, L, U, 3407, 6) == 0 && memcmp(a, b, sizeof a), "epochs 5 and 6 equal");
  CHECK(sampler_epoch(b, L, U, 3408, 5) == 0 && memcmp(a, b, sizeof a), "seeds 3407/3408 equal");
}

/* Over many epochs: P(base) = 1/2, and each index's count matches its weight (chi-square with
 * L + U - 1 degrees of freedom under mean + 6 sd). */
static void check_distribution(int L, int U, int epochs) {
  int n = L + U;
  int *draws = xmalloc(sizeof(int) * n);
  long *count = xcalloc((size_t)n, sizeof(long));
  long total = 0, base = 0;
  int range_ok = 1;
  for (int e = 0; e < epochs; e++) {
    CHECK(sampler_epoch(draws, L, U, 42, (uint64_t)e) == 0, "%s", ancd_error());
    for (int i = 0; i < n; i++) {
      range_ok &= draws[i] >= 0 && draws[i] < n;
      if (draws[i] < 0 || draws[i] >= n)
        continue;
      count[draws[i]]++;
      base += draws[i] < L;
      total++;
    }
  }
  CHECK(range_ok, "L %d U %d: an index out of range", L, U);
  double p_base = U ? 0.5 : 1.0;
  double sd = sqrt(total * p_base * (1 - p_base));
  CHECK(fabs(base - total * p_base) <= 6 * sd + 1e-9, "L %d U %d: %ld base draws of %ld", L, U,
        base, total);
  double chi2 = 0.0;
  for (int i = 0; i < n; i++) {
    double p = i < L ? p_base / L : 0.5 / U;
    double want = total * p;
    chi2 += (count[i] - want) * (count[i] - want) / want;
  }
  double dof = n - 1;
  CHECK(chi2 <= dof + 6 * sqrt(2 * dof) + 1e-9, "L %d U %d: chi-square %.1f with %.0f dof", L, U,
        chi2, dof);
  printf("L %3d U %3d: %ld draws, base share %.4f, chi-square %.1f (%g dof)\n", L, U, total,
         (double)base / total, chi2, dof);
  free(draws);
  free(count);
}

static void test_edges(void) {
  int out[8];
  CHECK(sampler_epoch(out, 0, 5, 1, 0) < 0, "no base item must be refused");
  CHECK(sampler_epoch(out, 3, -1, 1, 0) < 0, "a negative count must be refused");
  CHECK(sampler_epoch(out, 1, 1, 1, 0) == 0 && out[0] >= 0 && out[0] < 2 && out[1] >= 0 &&
            out[1] < 2,
        "one base and one novel item");
}

int main(void) {
  test_determinism();
  check_distribution(30, 90, 2000);
  check_distribution(50, 7, 2000);
  check_distribution(5, 0, 4000);
  check_distribution(1, 1, 20000);
  test_edges();
  return test_done("sampler");
}
