/* Shard sizes for the v-collectives (partition.h). */
#include "partition.h"

#include "error.h"
#include "world.h"

void partition_counts(int *counts, int *displs, long n, int p, long unit) {
  if (unit < 1)
    ANCD_FATAL("partition_counts: unit %ld < 1", unit);
  const long units = (n + unit - 1) / unit;
  for (int k = 0; k < p; k++) {
    long b, e;
    partition_range(units, p, k, &b, &e);
    b = b * unit < n ? b * unit : n;
    e = e * unit < n ? e * unit : n;
    counts[k] = (int)(e - b);
    displs[k] = (int)b;
  }
}
