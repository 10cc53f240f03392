/* Scaling of MSM over ranks (not a test; issue "Speed and memory"): one (layer, r) pair of full
 * MSM on random unit features, images block-partitioned over the ranks of MPI_COMM_WORLD.
 *   mpirun -np 1 -x OMP_NUM_THREADS=1 ./bench_msm_dist 64 576 768
 *   mpirun -np 2 -x OMP_NUM_THREADS=1 ./bench_msm_dist 64 576 768
 * Prints seconds (the slowest rank), GFLOP/s at 2 L^2 C per image pair (each pair scored once),
 * the peak resident memory of the largest rank and a checksum of the scores, which must be the
 * same for every rank count. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "error.h"
#include "msm_dist.h"
#include "musc.h"
#include "rng.h"
#include "world.h"

int main(int argc, char **argv) {
  CHECK_MPI(MPI_Init(&argc, &argv));
  int rank, size;
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
  if (argc < 4) {
    if (rank == 0)
      fprintf(stderr, "usage: bench_msm_dist N L C [repeats]\n");
    MPI_Finalize();
    return 2;
  }
  int N = atoi(argv[1]), L = atoi(argv[2]), C = atoi(argv[3]);
  int repeats = argc > 4 ? atoi(argv[4]) : 1;
  long begin, end;
  partition_range(N, size, rank, &begin, &end);
  int n_own = (int)(end - begin);

  /* Unit rows drawn by global index: the same set for every rank count. */
  float *Z = xmalloc(((size_t)n_own * L * C + 1) * sizeof *Z);
  for (size_t row = 0; row < (size_t)n_own * L; row++) {
    size_t global = (size_t)begin * L + row;
    double norm = 0;
    for (int c = 0; c < C; c++) {
      float v = (float)(rng_uniform_at(42, global * C + c) - 0.5);
      Z[row * C + c] = v;
      norm += (double)v * v;
    }
    for (int c = 0; c < C; c++)
      Z[row * C + c] = (float)(Z[row * C + c] / sqrt(norm));
  }
  double *acc = xcalloc((size_t)n_own * L + 1, sizeof *acc);
  int k = msm_k(N, 0.3);

  /* Wall time of the slowest rank, and its CPU time (on a shared machine the CPU time shows the
   * work apart from what other processes take; a waiting rank's polling counts as CPU). */
  double best = INFINITY, best_cpu = INFINITY;
  for (int rep = 0; rep < repeats; rep++) {
    for (size_t i = 0; i < (size_t)n_own * L; i++)
      acc[i] = 0;
    CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    double t0 = MPI_Wtime();
    if (msm_distributed(acc, 1.0, Z, n_own, (int)begin, N, L, C, k, NULL, MPI_COMM_WORLD) < 0)
      ANCD_FATAL("%s", ancd_error());
    double t = MPI_Wtime() - t0, slowest = 0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    double most_cpu = 0;
    CHECK_MPI(MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    CHECK_MPI(MPI_Allreduce(&cpu, &most_cpu, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    best = slowest < best ? slowest : best;
    best_cpu = most_cpu < best_cpu ? most_cpu : best_cpu;
  }

  double sum = 0, total = 0;
  for (size_t i = 0; i < (size_t)n_own * L; i++)
    sum += acc[i];
  CHECK_MPI(MPI_Reduce(&sum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD));
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long rss = ru.ru_maxrss, max_rss = 0; /* KiB on Linux */
  CHECK_MPI(MPI_Reduce(&rss, &max_rss, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD));
  if (rank == 0) {
    double flop = (double)N * (N - 1) / 2 * 2.0 * L * L * C;
    printf("ranks %d threads %d N %d L %d C %d k %d: %.3f s (best of %d; CPU %.3f s on the "
           "busiest rank), %.1f GFLOP/s, peak RSS %.1f MiB per rank, checksum %.10e\n",
           size, omp_get_max_threads(), N, L, C, k, best, repeats, best_cpu, flop / best * 1e-9,
           max_rss / 1024.0, total);
  }
  free(acc);
  free(Z);
  MPI_Finalize();
  return 0;
}
