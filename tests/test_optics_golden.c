/* OPTICS against scikit-learn (tests/golden/gen_optics_golden.py; musc_hetmm_spec §B.5.2): the
 * same distance matrices give the same labels and ordering exactly, and reachability and core
 * distances equal to 1e-12 (both are rounded to 15 decimals as sklearn does); the min_samples
 * = N // K edge cases map as ancd documents (sklearn 0.24: N // K == 1 -> N; K > N an error). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optics.h"
#include "test_util.h"

static int read_doubles(FILE *f, double *v, int n) {
  for (int i = 0; i < n; i++) {
    char tok[64];
    if (fscanf(f, "%63s", tok) != 1)
      return 0;
    v[i] = !strcmp(tok, "inf") ? INFINITY : strtod(tok, NULL);
  }
  return 1;
}

static int read_ints(FILE *f, int *v, int n) {
  for (int i = 0; i < n; i++)
    if (fscanf(f, "%d", &v[i]) != 1)
      return 0;
  return 1;
}

static int n_edges;

static int read_case(FILE *f) {
  char kind[16], name[64];
  int N, ms;
  if (fscanf(f, "%15s", kind) != 1)
    return 0;
  if (!strcmp(kind, "edge")) {
    int K, want;
    char now[64];
    if (fscanf(f, "%d %d %d %63s", &N, &K, &want, now) != 4)
      return 0;
    CHECK(optics_min_samples(N, K) == want, "N %d K %d: min_samples %d, want %d (sklearn 1.9: %s)",
          N, K, optics_min_samples(N, K), want, now);
    n_edges++;
    return read_case(f); /* edges are not counted as cases */
  }
  if (strcmp(kind, "case") || fscanf(f, "%63s %d %d", name, &N, &ms) != 3)
    return 0;
  double *d = malloc((size_t)N * N * sizeof *d), *want_reach = malloc((size_t)N * sizeof(double));
  double *want_core = malloc((size_t)N * sizeof(double)),
         *reach = malloc((size_t)N * sizeof(double));
  double *core = malloc((size_t)N * sizeof(double));
  int *want_lab = malloc((size_t)N * sizeof(int)), *want_ord = malloc((size_t)N * sizeof(int));
  int *lab = malloc((size_t)N * sizeof(int)), *ord = malloc((size_t)N * sizeof(int));
  int ok = read_doubles(f, d, N * N) && read_ints(f, want_lab, N) && read_ints(f, want_ord, N) &&
           read_doubles(f, want_reach, N) && read_doubles(f, want_core, N);
  CHECK(ok, "case %s: malformed golden file", name);
  if (ok) {
    optics_xi(lab, ord, reach, core, NULL, d, N, ms, 0.05);
    int bad_lab = 0, bad_ord = 0;
    double worst = 0;
    for (int i = 0; i < N; i++) {
      bad_lab += lab[i] != want_lab[i];
      bad_ord += ord[i] != want_ord[i];
      if (isinf(want_reach[i]) || isinf(reach[i]))
        bad_ord += isinf(want_reach[i]) != isinf(reach[i]);
      else
        worst = fmax(worst, fabs(reach[i] - want_reach[i]));
      worst = fmax(worst, fabs(core[i] - want_core[i]));
    }
    CHECK(bad_lab == 0, "case %s (N %d, min_samples %d): %d labels differ from sklearn", name, N,
          ms, bad_lab);
    CHECK(bad_ord == 0, "case %s: %d ordering positions differ", name, bad_ord);
    CHECK(worst <= 1e-12, "case %s: max |reach or core - sklearn| %.3g", name, worst);
    printf("case %s: N %d min_samples %d: labels, ordering equal; max dist diff %.3g\n", name, N,
           ms, worst);
  }
  free(d), free(want_reach), free(want_core), free(reach), free(core), free(want_lab);
  free(want_ord), free(lab), free(ord);
  return ok;
}

int main(void) {
  test_golden_cases("tests/golden/optics/cases.txt", read_case, 8);
  CHECK(n_edges == 7, "%d edge cases read, 7 expected", n_edges);
  return test_done("test_optics_golden");
}
