/* MSM across the ranks of a communicator (DESIGN "Distribution"): each rank holds the features
 * of its own images; the blocks travel round a ring so that no rank holds all features; every
 * image pair is scored once (msm_score_blocks gives both directions); the distances a rank
 * computes for another rank's images are sent to their owner, which does the interval average.
 * Any rank count gives the same result. */
#ifndef ANCD_MSM_DIST_H
#define ANCD_MSM_DIST_H

#include <mpi.h>

/* One (layer, r) pair. Z_own [n_own, L, C] unit rows of this rank's images, which are the
 * images [first, first + n_own) of the N in the set, ranks in order (first = exclusive prefix
 * sum of n_own; the caller passes it). acc [n_own, L] += weight * interval average with k.
 * Collective over comm. Returns 0, or -1 with ancd_error() set on every rank. */
int msm_distributed(double *acc, double weight, const float *Z_own, int n_own, int first, int N,
                    int L, int C, int k, MPI_Comm comm);

#endif
