#include "world.h"

#include <stdlib.h>

#include "error.h"
#include "log.h"

int world_init(world *w, int *argc, char ***argv) {
  int initialized = 0;
  CHECK_MPI(MPI_Initialized(&initialized));
  if (!initialized)
    CHECK_MPI(MPI_Init(argc, argv));
  /* check_mpi.h: failures come back to CHECK_MPI, which names the call, file and line. */
  CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN));
  CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &w->rank));
  CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &w->size));
  log_set_rank(w->rank);
  w->group = 0;
  w->n_groups = 1;
  w->group_rank = w->rank;
  w->group_size = w->size;
  w->group_comm = MPI_COMM_WORLD;
  const char *ntasks = getenv("SLURM_NTASKS");
  if (ntasks && atoi(ntasks) > 0 && atoi(ntasks) != w->size)
    return ancd_errorf("the MPI world has %d ranks but SLURM_NTASKS=%s: launch with srun or "
                       "mpirun -np $SLURM_NTASKS",
                       w->size, ntasks);
  return 0;
}

void world_split(world *w, int group_size) {
  if (w->group_comm != MPI_COMM_WORLD) /* an earlier split's groups (run chains stages) */
    CHECK_MPI(MPI_Comm_free(&w->group_comm));
  if (group_size <= 0 || group_size >= w->size) {
    w->group = 0;
    w->n_groups = 1;
    w->group_comm = MPI_COMM_WORLD;
  } else {
    w->n_groups = (w->size + group_size - 1) / group_size;
    w->group = w->rank / group_size;
    CHECK_MPI(MPI_Comm_split(MPI_COMM_WORLD, w->group, w->rank, &w->group_comm));
    /* Inherited from the world already; said again so the policy never depends on it. */
    CHECK_MPI(MPI_Comm_set_errhandler(w->group_comm, MPI_ERRORS_RETURN));
  }
  CHECK_MPI(MPI_Comm_rank(w->group_comm, &w->group_rank));
  CHECK_MPI(MPI_Comm_size(w->group_comm, &w->group_size));
}

void world_finalize(world *w) {
  int finalized = 0;
  CHECK_MPI(MPI_Finalized(&finalized));
  if (finalized)
    return;
  if (w->group_comm != MPI_COMM_WORLD)
    CHECK_MPI(MPI_Comm_free(&w->group_comm));
  CHECK_MPI(MPI_Finalize());
}

void partition_range(long n, int p, int k, long *begin, long *end) {
  long base = n / p, extra = n % p;
  *begin = k * base + (k < extra ? k : extra);
  *end = *begin + base + (k < extra ? 1 : 0);
}
