/* A timing wrapper around a backend's op table, for `ancd bench vit|train --profile`: each op
 * call is synchronised and clocked and its seconds summed per op kind (matmul per shape).
 * Nothing else uses it, so the plain tables carry no timing code. One profiler per process. */
#ifndef ANCD_OPS_PROFILE_H
#define ANCD_OPS_PROFILE_H

#include "ops.h"

#define OPS_PROFILE_MAX_ENTRIES 64

typedef struct {
  char name[48]; /* "layernorm", "matmul M=1576 K=768 N=2304", ... */
  long calls;
  double seconds;
  double flops; /* 2 per multiply-add of the GEMMs and attention; 0 for the other ops */
} ops_profile_entry;

/* inner with every compute op timed (alloc, free, synchronize and a few rare ones pass through). */
const ops *ops_profile(const ops *inner);
/* Zeroes every entry; ops_profile_entries lists them in order of first call. */
void ops_profile_reset(void);
int ops_profile_entries(const ops_profile_entry **entries);

#endif
