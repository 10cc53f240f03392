/* The MPI side of a data-parallel training step (core/model/ncd_step.h, anomalyncd_spec §10):
 * the samples of a batch split into contiguous blocks over the ranks of a group, the batch's f
 * and z all-gathered into the global row order before the batch-level losses, and the gradients
 * summed by one MPI_Allreduce over the contiguous buffer (host-staged for a GPU backend: the
 * local Open MPI is not CUDA-aware). */
#ifndef ANCD_NCD_EXCHANGE_H
#define ANCD_NCD_EXCHANGE_H

#include <mpi.h>
#include <stddef.h>

#include "ncd_step.h"
#include "ops.h"

typedef struct {
  MPI_Comm comm;
  int rank, size;
  const ops *o;
  int *first, *count;     /* [size] this batch's sample blocks */
  int *rcounts, *rdispls; /* [size] Allgatherv counts (floats) */
  float *rows;            /* gathered rows in rank order */
  size_t rows_n;
  float *host; /* staging for sum_grads on a device backend */
  size_t host_n;
} ncd_exchange;

void ncd_exchange_init(ncd_exchange *x, MPI_Comm comm, const ops *o);
void ncd_exchange_free(ncd_exchange *x);
/* The shard of this rank for a batch of B samples: partition_range's block of the samples; the
 * callbacks use x (valid until the next call). */
void ncd_exchange_shard(ncd_shard *s, ncd_exchange *x, int B);

#endif
