/* MSM on one rank (MPI_COMM_SELF): msm_distributed is exactly the direct computation (one
 * msm_score_blocks call over the set + msm_interval_average), accumulates with its weight, and
 * refuses what cannot be scored. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msm_dist.h"
#include "musc.h"
#include "rng.h"
#include "test_util.h"

#define N 6
#define L 7
#define C 12

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  float *Z = malloc((size_t)N * L * C * sizeof *Z);
  for (size_t row = 0; row < (size_t)N * L; row++) {
    double norm = 0;
    for (int c = 0; c < C; c++) {
      Z[row * C + c] = (float)(rng_uniform_at(5, row * C + c) - 0.5);
      norm += (double)Z[row * C + c] * Z[row * C + c];
    }
    for (int c = 0; c < C; c++)
      Z[row * C + c] = (float)(Z[row * C + c] / sqrt(norm));
  }
  const int k = 2;

  float *D = malloc((size_t)N * L * N * sizeof *D);
  float *scratch =
      malloc(msm_scratch_floats(L, C) * (size_t)omp_get_max_threads() * sizeof *scratch);
  msm_score_blocks(D, D, scratch, (msm_block){Z, N, 0, 0}, (msm_block){Z, N, 0, 0}, L, C, N, 1);
  int self[N];
  for (int i = 0; i < N; i++)
    self[i] = i;
  double direct[N * L] = {0};
  msm_interval_average(direct, D, self, N, L, N, k, 0.5);

  /* acc starts at 1: the call adds weight x average. */
  double acc[N * L];
  for (int i = 0; i < N * L; i++)
    acc[i] = 1.0;
  CHECK(msm_distributed(acc, 0.5, Z, N, 0, N, L, C, k, NULL, MPI_COMM_SELF) == 0, "%s",
        ancd_error());
  int differ = 0;
  for (int i = 0; i < N * L; i++)
    differ += acc[i] != 1.0 + direct[i];
  CHECK(differ == 0, "%d of %d values differ from the direct computation", differ, N * L);
  CHECK(direct[0] > 0.1 && direct[0] < 2.0, "direct[0] = %g", direct[0]);

  /* Errors on one rank, acc untouched. */
  double before = acc[0];
  CHECK(msm_distributed(acc, 1.0, Z, 1, 0, 1, L, C, 1, NULL, MPI_COMM_SELF) < 0 &&
            strstr(ancd_error(), "fewer than 2 images"),
        "N = 1: %s", ancd_error());
  CHECK(msm_distributed(acc, 1.0, Z, N, 0, N, L, C, N, NULL, MPI_COMM_SELF) < 0 &&
            strstr(ancd_error(), "k = 6 is outside [1, 5]"),
        "k = N: %s", ancd_error());
  CHECK(msm_distributed(acc, 1.0, Z, N - 1, 0, N, L, C, 1, NULL, MPI_COMM_SELF) < 0 &&
            strstr(ancd_error(), "hold 5 images in all but N = 6"),
        "shard: %s", ancd_error());
  CHECK(msm_distributed(acc, 1.0, Z, N, 1, N, L, C, 1, NULL, MPI_COMM_SELF) < 0 &&
            strstr(ancd_error(), "rank 0 holds 6 images from image 1"),
        "first: %s", ancd_error());
  CHECK(acc[0] == before, "a failed call changed acc");

  free(scratch);
  free(D);
  free(Z);
  MPI_Finalize();
  return test_done("test_msm_dist");
}
