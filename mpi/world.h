/* The MPI world: init/finalize, rank and size, and the split of the world into groups that take
 * categories round-robin (parallel.group_size ranks each). */
#ifndef ANCD_WORLD_H
#define ANCD_WORLD_H

#include <mpi.h>

#include "check_mpi.h" /* CHECK_MPI and the MPI error policy */

typedef struct {
  int rank, size;      /* in MPI_COMM_WORLD */
  int group, n_groups; /* this rank's group and the number of groups */
  int group_rank, group_size;
  MPI_Comm group_comm;
} world;

/* MPI_Init (when not yet initialised) and the world; also sets the log rank and MPI_ERRORS_RETURN
 * on MPI_COMM_WORLD and MPI_COMM_SELF (check_mpi.h). Under Slurm the world size must equal
 * SLURM_NTASKS (-1 with the reason otherwise). */
int world_init(world *w, int *argc, char ***argv);
/* Splits the world into groups of group_size ranks (0 or >= size: one group), freeing the groups
 * of an earlier split. Collective. */
void world_split(world *w, int group_size);
void world_finalize(world *w);

/* Contiguous block partition of n items over p parts: part k gets [*begin, *end). */
void partition_range(long n, int p, int k, long *begin, long *end);

#endif
