/* CHECK_MPI: the one policy for MPI errors (DESIGN "Style": checked calls name file and line).
 *
 * world_init sets MPI_ERRORS_RETURN on MPI_COMM_WORLD and MPI_COMM_SELF, and world_split on the
 * group communicators (those split or duplicated from them, HDF5's included, inherit it), so a
 * failing MPI call returns its code instead of MPI's anonymous abort. CHECK_MPI then prints the
 * call, MPI's reason and file:line, and aborts every rank with MPI_Abort: a rank that went on
 * alone would leave the others waiting in the next collective.
 *
 * Header-only and needing only mpi.h: io/ and mpi/ both use it (CMake target ancd_mpi_check)
 * without either seeing the other's headers. */
#ifndef ANCD_CHECK_MPI_H
#define ANCD_CHECK_MPI_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_MPI(call)                                                                            \
  do {                                                                                             \
    int mpi_status_ = (call);                                                                      \
    if (mpi_status_ != MPI_SUCCESS)                                                                \
      check_mpi_fail(mpi_status_, #call, __FILE__, __LINE__);                                      \
  } while (0)

/* Prints "ancd: fatal: MPI call <call> failed: <reason> (file:line)", as ANCD_FATAL does, then
 * aborts the world (just exits when MPI is not running). */
__attribute__((noreturn)) static inline void check_mpi_fail(int status, const char *call,
                                                            const char *file, int line) {
  char msg[MPI_MAX_ERROR_STRING] = "unknown MPI error";
  int len = 0, up = 0, down = 0;
  if (MPI_Error_string(status, msg, &len) != MPI_SUCCESS)
    snprintf(msg, sizeof msg, "MPI error code %d", status);
  fprintf(stderr, "ancd: fatal: MPI call %s failed: %s (%s:%d)\n", call, msg, file, line);
  fflush(stderr);
  if (MPI_Initialized(&up) == MPI_SUCCESS && up && MPI_Finalized(&down) == MPI_SUCCESS && !down)
    MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

#endif
