/* MSM across the ranks of a communicator (DESIGN "Distribution"): each rank holds the features
 * of its own images; the blocks travel round a ring so that no rank holds all features; every
 * image pair is scored once (msm_score_blocks gives both directions); the distances a rank
 * computes for another rank's images are sent to their owner, which does the interval average.
 * Any rank count gives the same result. */
#ifndef ANCD_MSM_DIST_H
#define ANCD_MSM_DIST_H

#include <mpi.h>

#include "musc.h"

/* Reference images (detect.reference: train; issue 13): the rule is musc.h's msm_ref_rule. */
typedef struct {
  const float *R_own; /* [nr_own, L, C] unit rows: references [r_first, r_first + nr_own) */
  int nr_own, r_first, N_r;
  msm_ref_rule rule;
} msm_refs;

/* One (layer, r) pair. Z_own [n_own, L, C] unit rows of this rank's images, which are the
 * images [first, first + n_own) of the N in the set, ranks in order (first = exclusive prefix
 * sum of n_own; the caller passes it). acc [n_own, L] += weight * the patch score: the interval
 * average of the k smallest distances to the other images (zero-shot, refs NULL), or the rule of
 * refs, whose blocks travel the ring like the test images' (k then counts over the N - 1 + N_r
 * columns of POOL and MEAN; NEAREST ignores it). Collective over comm; any rank count gives the
 * same values. Returns 0, or -1 with ancd_error() set on every rank. */
int msm_distributed(double *acc, double weight, const float *Z_own, int n_own, int first, int N,
                    int L, int C, int k, const msm_refs *refs, MPI_Comm comm);

#endif
