/* MSM across ranks (run with 2 and 3 ranks): each rank scores its shard with msm_distributed;
 * the shards gathered on rank 0 equal the one-process result (one msm_score_blocks call over the
 * whole set + msm_interval_average) and a brute-force double-precision MSM. Also uneven shards,
 * a rank with no images, reference images (each rule), and errors that every rank reports with
 * the same message. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msm_dist.h"
#include "musc.h"
#include "rng.h"
#include "test_util.h"
#include "world.h"

#define L 5
#define C 8
#define N_PASSES 2

static int rank, size;

/* Unit rows, deterministic per (seed, image, patch) whatever the shard. */
static float *unit_features(int N, uint64_t seed) {
  float *Z = malloc((size_t)N * L * C * sizeof *Z);
  for (size_t row = 0; row < (size_t)N * L; row++) {
    double norm = 0;
    for (int c = 0; c < C; c++) {
      float v = (float)(rng_uniform_at(seed, row * C + c) - 0.5);
      Z[row * C + c] = v;
      norm += (double)v * v;
    }
    for (int c = 0; c < C; c++)
      Z[row * C + c] = (float)(Z[row * C + c] / sqrt(norm));
  }
  return Z;
}

/* min over q of |X[p] - Y[q]| in double: a patch's distance to an image. */
static double patch_to_image(const float *X, int p, const float *Y) {
  double best = INFINITY;
  for (int q = 0; q < L; q++) {
    double s = 0;
    for (int c = 0; c < C; c++) {
      double diff = (double)X[(size_t)p * C + c] - Y[(size_t)q * C + c];
      s += diff * diff;
    }
    best = sqrt(s) < best ? sqrt(s) : best;
  }
  return best;
}

/* The spec written out (§A.6.1): min over q of the distance, mean of the k smallest, in double.
 * With references R [N_r, L, C] (issue 13): the pool adds their columns, nearest is the least of
 * them, mean the mean of both. */
static void brute_force_refs(double *out, const float *Z, int N, const float *R, int N_r,
                             msm_ref_rule rule, int k, double weight) {
  double *d = malloc((size_t)(N + N_r) * sizeof *d);
  const size_t img = (size_t)L * C;
  for (int i = 0; i < N; i++)
    for (int p = 0; p < L; p++) {
      int m = 0;
      double nearest = INFINITY;
      for (int j = 0; j < N; j++)
        if (j != i)
          d[m++] = patch_to_image(Z + i * img, p, Z + j * img);
      for (int j = 0; j < N_r; j++) {
        d[m++] = patch_to_image(Z + i * img, p, R + j * img);
        nearest = d[m - 1] < nearest ? d[m - 1] : nearest;
      }
      for (int a = 0; a < m; a++) /* selection sort: m < 20 */
        for (int b = a + 1; b < m; b++)
          if (d[b] < d[a]) {
            double t = d[a];
            d[a] = d[b];
            d[b] = t;
          }
      double s = 0;
      for (int a = 0; a < k; a++)
        s += d[a];
      double pool = s / k, v = pool;
      if (R && rule == MSM_REF_NEAREST)
        v = nearest;
      if (R && rule == MSM_REF_MEAN)
        v = 0.5 * (pool + nearest);
      out[(size_t)i * L + p] += weight * v;
    }
  free(d);
}

static void brute_force(double *out, const float *Z, int N, int k, double weight) {
  brute_force_refs(out, Z, N, NULL, 0, MSM_REF_POOL, k, weight);
}

/* One process, one block: the single-rank computation msm_distributed must reproduce. */
static void one_block(double *out, const float *Z, int N, int k, double weight) {
  float *D = malloc((size_t)N * L * N * sizeof *D);
  float *scratch =
      malloc(msm_scratch_floats(L, C) * (size_t)omp_get_max_threads() * sizeof *scratch);
  msm_score_blocks(D, D, scratch, (msm_block){Z, N, 0, 0}, (msm_block){Z, N, 0, 0}, L, C, N, 1);
  int *self = malloc((size_t)N * sizeof *self);
  for (int i = 0; i < N; i++)
    self[i] = i;
  msm_interval_average(out, D, self, N, L, N, k, weight);
  free(self);
  free(scratch);
  free(D);
}

/* The ranks' rows acc [n_own, L] (images [first, first + n_own)) gathered on rank 0 into [N, L]. */
static double *gather_rows(const double *acc, int n_own, int first, int N) {
  int *counts = malloc((size_t)size * sizeof *counts),
      *displs = malloc((size_t)size * sizeof *displs);
  int mine = n_own * L, at = first * L;
  MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Gather(&at, 1, MPI_INT, displs, 1, MPI_INT, 0, MPI_COMM_WORLD);
  double *all = calloc((size_t)N * L, sizeof *all);
  MPI_Gatherv(acc, mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  free(displs);
  free(counts);
  return all;
}

/* Shards: block partition, or (empty_first) rank 0 holds nothing and the others share N. */
static void shard(int N, int empty_first, int *n_own, int *first) {
  long b, e;
  if (!empty_first)
    partition_range(N, size, rank, &b, &e);
  else if (rank == 0)
    b = e = 0;
  else
    partition_range(N, size - 1, rank - 1, &b, &e);
  *n_own = (int)(e - b);
  *first = (int)b;
}

static void run_case(int N, int empty_first) {
  int n_own, first;
  shard(N, empty_first, &n_own, &first);
  const double weights[N_PASSES] = {0.25, 0.75};
  const int ks[N_PASSES] = {msm_k(N, 0.3), msm_k(N, 0.5)};
  double *acc = calloc((size_t)(n_own + 1) * L, sizeof *acc);
  for (int pass = 0; pass < N_PASSES; pass++) {
    float *Z = unit_features(N, 11 + pass);
    int rc = msm_distributed(acc, weights[pass], Z + (size_t)first * L * C, n_own, first, N, L, C,
                             ks[pass], NULL, MPI_COMM_WORLD);
    CHECK(rc == 0, "N %d rank %d pass %d: %s", N, rank, pass, ancd_error());
    free(Z);
  }

  double *all = gather_rows(acc, n_own, first, N);
  if (rank == 0) {
    double *ref = calloc((size_t)N * L, sizeof *ref), *brute = calloc((size_t)N * L, sizeof *brute);
    for (int pass = 0; pass < N_PASSES; pass++) {
      float *Z = unit_features(N, 11 + pass);
      one_block(ref, Z, N, ks[pass], weights[pass]);
      brute_force(brute, Z, N, ks[pass], weights[pass]);
      free(Z);
    }
    double max_ref = 0, max_brute = 0;
    for (int i = 0; i < N * L; i++) {
      double dr = fabs(all[i] - ref[i]), db = fabs(all[i] - brute[i]);
      max_ref = dr > max_ref || isnan(dr) ? dr : max_ref;
      max_brute = db > max_brute || isnan(db) ? db : max_brute;
    }
    CHECK(max_ref <= 1e-6, "N %d on %d ranks: max |distributed - one block| = %.3g", N, size,
          max_ref);
    CHECK(max_brute <= 1e-5, "N %d on %d ranks: max |distributed - brute force| = %.3g", N, size,
          max_brute);
    CHECK(all[0] > 0.1 && all[N * L - 1] > 0.1, "values %g %g", all[0], all[N * L - 1]);
    fprintf(stderr, "N %d, %d ranks%s: max |distributed - one block| = %.3g, vs brute force %.3g\n",
            N, size, empty_first ? " (rank 0 empty)" : "", max_ref, max_brute);
    free(brute);
    free(ref);
  }
  free(all);
  free(acc);
}

/* With N_r references (issue 13), each rule: the shards gathered on rank 0 equal one process
 * holding everything (the same values: any rank count gives the same maps) and the brute force.
 * refs_first_empty: rank 0 holds no reference. */
static void run_refs_case(int N, int N_r, int refs_first_empty) {
  const msm_ref_rule rules[3] = {MSM_REF_NEAREST, MSM_REF_POOL, MSM_REF_MEAN};
  const char *names[3] = {"nearest", "pool", "mean"};
  int n_own, first, nr_own, r_first;
  shard(N, 0, &n_own, &first);
  shard(N_r, refs_first_empty, &nr_own, &r_first);
  float *Z = unit_features(N, 21), *R = unit_features(N_r, 22);
  const int k = msm_k(N + N_r, 0.3);
  for (int u = 0; u < 3; u++) {
    double *acc = calloc((size_t)(n_own + 1) * L, sizeof *acc);
    msm_refs refs = {R + (size_t)r_first * L * C, nr_own, r_first, N_r, rules[u]};
    int rc = msm_distributed(acc, 0.5, Z + (size_t)first * L * C, n_own, first, N, L, C, k, &refs,
                             MPI_COMM_WORLD);
    CHECK(rc == 0, "refs %s N %d N_r %d rank %d: %s", names[u], N, N_r, rank, ancd_error());
    double *all = gather_rows(acc, n_own, first, N);
    if (rank == 0) {
      double *one = calloc((size_t)N * L, sizeof *one),
             *brute = calloc((size_t)N * L, sizeof *brute);
      msm_refs whole = {R, N_r, 0, N_r, rules[u]};
      CHECK(msm_distributed(one, 0.5, Z, N, 0, N, L, C, k, &whole, MPI_COMM_SELF) == 0, "%s",
            ancd_error());
      brute_force_refs(brute, Z, N, R, N_r, rules[u], k, 0.5);
      double max_one = 0, max_brute = 0;
      for (int i = 0; i < N * L; i++) {
        double d1 = fabs(all[i] - one[i]), db = fabs(all[i] - brute[i]);
        max_one = d1 > max_one || isnan(d1) ? d1 : max_one;
        max_brute = db > max_brute || isnan(db) ? db : max_brute;
      }
      CHECK(max_one == 0,
            "refs %s: N %d N_r %d on %d ranks: max |distributed - one process| = %.3g", names[u], N,
            N_r, size, max_one);
      CHECK(max_brute <= 1e-5, "refs %s: N %d N_r %d on %d ranks: max |distributed - brute| = %.3g",
            names[u], N, N_r, size, max_brute);
      fprintf(stderr, "refs %s: N %d, N_r %d, %d ranks: vs one process %.3g, vs brute force %.3g\n",
              names[u], N, N_r, size, max_one, max_brute);
      free(brute);
      free(one);
    }
    free(all);
    free(acc);
  }
  free(R);
  free(Z);
}

/* The same message on every rank: compare the texts' hashes by min and max over the ranks. */
static void check_error_everywhere(int rc, const char *part, const char *what) {
  const char *msg = ancd_error();
  CHECK(rc < 0 && strstr(msg, part), "%s: rank %d: rc %d, '%s'", what, rank, rc, msg);
  unsigned long h = 5381;
  for (const char *c = msg; *c; c++)
    h = h * 33 + (unsigned char)*c;
  unsigned long lo = 0, hi = 0;
  MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG, MPI_MAX, MPI_COMM_WORLD);
  CHECK(lo == hi, "%s: rank %d has another message: '%s'", what, rank, msg);
}

static void run_errors(void) {
  double acc[L] = {0};
  float *Z = unit_features(4, 3);
  int n_own, first;

  ancd_errorf("none");
  shard(1, 0, &n_own, &first); /* one image: rank 0 holds it */
  check_error_everywhere(
      msm_distributed(acc, 1.0, Z, n_own, first, 1, L, C, 1, NULL, MPI_COMM_WORLD),
      "fewer than 2 images", "N = 1");

  shard(4, 0, &n_own, &first);
  check_error_everywhere(msm_distributed(acc, 1.0, Z + (size_t)first * L * C, n_own, first, 4, L, C,
                                         4, NULL, MPI_COMM_WORLD),
                         "k = 4 is outside [1, 3]", "k >= N");

  /* The last rank claims one image too many: only it is wrong, every rank fails. */
  int bad_n = rank == size - 1 ? n_own + 1 : n_own;
  check_error_everywhere(msm_distributed(acc, 1.0, Z + (size_t)first * L * C, bad_n, first, 4, L, C,
                                         1, NULL, MPI_COMM_WORLD),
                         "hold 5 images in all but N = 4", "shards do not add up");

  /* Rank 1 passes another k. */
  if (size > 1)
    check_error_everywhere(msm_distributed(acc, 1.0, Z + (size_t)first * L * C, n_own, first, 4, L,
                                           C, rank == 1 ? 2 : 1, NULL, MPI_COMM_WORLD),
                           "ranks disagree", "k differs");
  /* References asked for, none given. */
  msm_refs none = {NULL, 0, 0, 0, MSM_REF_NEAREST};
  check_error_everywhere(msm_distributed(acc, 1.0, Z + (size_t)first * L * C, n_own, first, 4, L, C,
                                         1, &none, MPI_COMM_WORLD),
                         "no reference images", "N_r = 0");
  for (int i = 0; i < L; i++)
    CHECK(acc[i] == 0, "a failed call changed acc[%d] = %g", i, acc[i]);
  free(Z);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  run_case(7, 0); /* divisible by neither 2 nor 3: uneven shards */
  if (size > 1)
    run_case(7, 1); /* rank 0 holds nothing */
  run_case(2, 0);   /* with 3 ranks the last holds nothing */
  run_case(10, 0);  /* more than one image per rank in the split pair of an even ring */
  run_refs_case(7, 9, 0);
  if (size > 1)
    run_refs_case(5, 4, 1); /* rank 0 holds no reference */
  run_refs_case(1, 3, 0);   /* one test image: only references to score against */
  run_errors();

  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total;
  int status = rank == 0 ? test_done("mpi_msm_dist") : (total ? 1 : 0);
  MPI_Finalize();
  return status;
}
